//! A pre-parse guard against pathological tag nesting.
//!
//! Owns one job: before the HTML parser sees a page, drop start tags (and as many later end
//! tags) that would nest containers deeper than `MAX_NESTING`. The HTML tree builder checks
//! its stack of open elements on many tags, so a page nesting 100 000 `<div>`s costs
//! quadratic time; no real article page nests anywhere near the bound.
//!
//! It must never drop text: only tag markup is removed, so the words of a hostile page still
//! reach the extractor. It is an approximation of the tree builder (it does not know the
//! implicit-closing rules), which is why tags that real pages routinely leave unclosed are
//! not counted.

use std::borrow::Cow;

/// Nesting of counted container tags beyond which start tags are dropped.
pub const MAX_NESTING: usize = 1024;

/// Elements that never have an end tag.
const VOID: [&str; 16] = [
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr", "keygen", "image",
];

/// Elements pages often leave unclosed; counting them would make the estimate drift.
const IMPLIED_END: [&str; 11] = [
    "p", "li", "td", "th", "tr", "dt", "dd", "option", "optgroup", "rb", "rt",
];

/// Returns the page with over-deep start tags (and matching numbers of end tags) removed,
/// and whether anything was removed.
pub fn flatten(html: &str) -> (Cow<'_, str>, bool) {
    let bytes = html.as_bytes();
    let mut depth = 0usize;
    let mut excess = 0usize;
    let mut out: Option<String> = None;
    // Start of the text not yet copied to `out`.
    let mut copied = 0usize;
    let mut i = 0usize;
    while let Some(off) = memchr_lt(&bytes[i..]) {
        let start = i + off;
        let Some(end_off) = memchr::memchr(b'>', &bytes[start..]) else {
            break;
        };
        let end = start + end_off + 1;
        i = end;
        let tag = &bytes[start + 1..end - 1];
        let closing = tag.first() == Some(&b'/');
        let name_bytes = if closing { &tag[1..] } else { tag };
        let name_len = name_bytes
            .iter()
            .position(|b| !b.is_ascii_alphanumeric())
            .unwrap_or(name_bytes.len());
        if name_len == 0 {
            continue;
        }
        // Tag names that matter are short ASCII words; compare them lower-cased in a small
        // buffer instead of allocating a string per tag.
        let mut lower = [0u8; 16];
        let name_bytes = &name_bytes[..name_len];
        let name = if name_len <= lower.len() {
            for (d, s) in lower.iter_mut().zip(name_bytes) {
                *d = s.to_ascii_lowercase();
            }
            std::str::from_utf8(&lower[..name_len]).unwrap_or("")
        } else {
            // Longer than any tag of interest: an ordinary element.
            ""
        };
        if VOID.contains(&name) || IMPLIED_END.contains(&name) || tag.ends_with(b"/") {
            continue;
        }
        let raw_text = matches!(name, "script" | "style" | "textarea" | "title");
        if raw_text && closing {
            // Its start tag was not counted either.
            continue;
        }
        if raw_text {
            // Raw-text elements: their content is not markup; skip to the end tag.
            let close = format!("</{name}");
            let rest = &html[end..];
            let lower_pos = find_ci(rest, &close);
            i = lower_pos.map_or(bytes.len(), |p| end + p);
            continue;
        }
        let drop = if closing {
            if excess > 0 {
                excess -= 1;
                true
            } else {
                depth = depth.saturating_sub(1);
                false
            }
        } else if depth >= MAX_NESTING {
            excess += 1;
            true
        } else {
            depth += 1;
            false
        };
        if drop {
            let buf = out.get_or_insert_with(|| String::with_capacity(html.len()));
            buf.push_str(&html[copied..start]);
            copied = end;
        }
    }
    match out {
        Some(mut buf) => {
            buf.push_str(&html[copied..]);
            (Cow::Owned(buf), true)
        }
        None => (Cow::Borrowed(html), false),
    }
}

fn memchr_lt(bytes: &[u8]) -> Option<usize> {
    memchr::memchr(b'<', bytes)
}

/// Case-insensitive ASCII search for `needle`, which starts with `<`.
fn find_ci(haystack: &str, needle: &str) -> Option<usize> {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    let mut from = 0usize;
    while let Some(off) = memchr::memchr(n[0], &h[from..]) {
        let at = from + off;
        if h.get(at..at + n.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(n))
        {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_pages_are_untouched() {
        let html = "<div><p>a<p>b<ul><li>c</ul><br><img src=x></div><script>if (a<b) {}</script>";
        let (out, changed) = flatten(html);
        assert!(!changed);
        assert_eq!(out, html);
    }

    #[test]
    fn raw_text_elements_do_not_shift_the_count() {
        let n = MAX_NESTING + 1;
        let scripts = "<script>x</script><style>y</style>".repeat(50);
        let html = format!("{scripts}{}t{}", "<div>".repeat(n), "</div>".repeat(n));
        let (out, _) = flatten(&html);
        assert_eq!(out.matches("<div>").count(), MAX_NESTING);
    }

    #[test]
    fn deep_nesting_is_cut_but_text_kept() {
        let n = MAX_NESTING + 10;
        let html = format!("{}text{}", "<div>".repeat(n), "</div>".repeat(n));
        let (out, changed) = flatten(&html);
        assert!(changed);
        assert_eq!(out.matches("<div>").count(), MAX_NESTING);
        assert_eq!(out.matches("</div>").count(), MAX_NESTING);
        assert!(out.contains("text"));
    }
}
