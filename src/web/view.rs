//! Pure helpers that shape stored data for the templates: the side-by-side texts with
//! their copied passages marked, and small formatting. No I/O.

/// A run of text, either plain or part of copied passage `passage` (0-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub text: String,
    pub passage: Option<usize>,
}

/// Splits `text` into segments, marking the character ranges `spans` (`(start, end,
/// passage)`, end exclusive). Ranges are clamped to the text; a range overlapping an
/// earlier one is cut to what is left of it, so every character appears exactly once.
pub fn mark_passages(text: &str, spans: &[(usize, usize, usize)]) -> Vec<Segment> {
    let chars: Vec<char> = text.chars().collect();
    let mut spans: Vec<(usize, usize, usize)> = spans
        .iter()
        .map(|&(s, e, p)| (s.min(chars.len()), e.min(chars.len()), p))
        .filter(|(s, e, _)| s < e)
        .collect();
    spans.sort_by_key(|&(s, e, p)| (s, std::cmp::Reverse(e), p));
    let mut out = Vec::new();
    let mut at = 0;
    for (start, end, passage) in spans {
        let start = start.max(at);
        if start >= end {
            continue;
        }
        if start > at {
            out.push(Segment {
                text: chars[at..start].iter().collect(),
                passage: None,
            });
        }
        out.push(Segment {
            text: chars[start..end].iter().collect(),
            passage: Some(passage),
        });
        at = end;
    }
    if at < chars.len() {
        out.push(Segment {
            text: chars[at..].iter().collect(),
            passage: None,
        });
    }
    out
}

/// `0.873` → `87.3%`.
pub fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// `2026-11-26T08:00:00Z` → `2026-11-26 08:00` (UTC stays UTC; reviewers compare
/// capture times with the evidence file, which is in UTC too).
pub fn short_time(rfc3339: &str) -> String {
    match rfc3339.get(..16) {
        Some(head) if rfc3339.len() >= 16 => format!("{} UTC", head.replacen('T', " ", 1)),
        _ => rfc3339.to_string(),
    }
}

/// A link target for a crawled URL: only `http`/`https` URLs become links, so a stored
/// `javascript:` or `data:` URL can never run.
pub fn safe_href(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    matches!(parsed.scheme(), "http" | "https").then(|| parsed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(segments: &[Segment]) -> String {
        segments
            .iter()
            .map(|s| match s.passage {
                Some(p) => format!("[{p}:{}]", s.text),
                None => s.text.clone(),
            })
            .collect()
    }

    #[test]
    fn passages_are_marked_once_and_clamped() {
        let text = "江城日报讯，今天天气很好。";
        assert_eq!(
            render(&mark_passages(text, &[(0, 4, 0), (6, 8, 1)])),
            "[0:江城日报]讯，[1:今天]天气很好。"
        );
        // Overlap: the later span keeps only its new part; out-of-range spans clamp.
        assert_eq!(
            render(&mark_passages(text, &[(2, 6, 1), (0, 4, 0), (11, 99, 2)])),
            "[0:江城日报][1:讯，]今天天气很[2:好。]"
        );
        assert_eq!(render(&mark_passages(text, &[])), text);
        assert_eq!(render(&mark_passages("", &[(0, 3, 0)])), "");
    }

    #[test]
    fn formatting() {
        assert_eq!(percent(0.873), "87.3%");
        assert_eq!(short_time("2026-11-26T08:00:00Z"), "2026-11-26 08:00 UTC");
        assert_eq!(short_time("bad"), "bad");
        assert_eq!(
            safe_href("https://a.example/x?y=1").as_deref(),
            Some("https://a.example/x?y=1")
        );
        assert_eq!(safe_href("javascript:alert(1)"), None);
        assert_eq!(safe_href("data:text/html,hi"), None);
    }
}
