//! Search discovery: finding copies outside the crawl's seeds by asking a SearXNG
//! instance for distinctive sentences of our articles.
//!
//! For each original not yet searched, the query is its longest sentences that are not
//! boilerplate (a rights notice or byline is on every article and finds nothing
//! specific), each in quotes. The result URLs enter the frontier at the maximum depth,
//! so they are fetched and checked but their links are not followed.
//!
//! The instance is the operator's own service (`[discovery] searxng_url`), so it is
//! reached with the plain fetcher like the outlet's feeds, not through the crawler's
//! private-network guard. This module builds queries and reads answers; the pipeline
//! decides when to ask and records progress in the store.

use serde::Deserialize;
use url::Url;

use crate::boilerplate::{self, Boilerplate};

/// Sentences quoted per query: two or three distinctive sentences identify an article;
/// more make the search engine find nothing at all.
pub const QUOTED_SENTENCES: usize = 3;

/// A quoted sentence is cut to this many characters: search engines match long phrases
/// poorly, and the start of a long sentence is as distinctive as the whole.
pub const MAX_QUOTE_CHARS: usize = 64;

/// Sentences shorter than this (in characters) are not distinctive enough to quote.
pub const MIN_QUOTE_CHARS: usize = 12;

/// Result URLs taken from one answer at most.
pub const MAX_RESULTS: usize = 20;

/// An answer larger than this is refused (a SearXNG JSON page is a few dozen KB).
pub const MAX_ANSWER_BYTES: usize = 2 * 1024 * 1024;

/// The search query for an article: its longest non-boilerplate sentences, in quotes,
/// in text order. Empty when the text has no sentence worth quoting.
pub fn search_query(text: &str, boilerplate: &Boilerplate) -> String {
    let chars: Vec<char> = text.chars().collect();
    let excluded = boilerplate.ranges(text);
    let mut candidates: Vec<(usize, String)> = boilerplate::sentences(text)
        .into_iter()
        .filter(|s| !excluded.iter().any(|r| r.start < s.end && s.start < r.end))
        .map(|s| {
            let sentence: String = chars[s.start..s.end.min(chars.len())]
                .iter()
                .filter(|c| !matches!(c, '"' | '“' | '”' | '\n' | '\r'))
                .collect();
            (s.start, sentence.trim().to_string())
        })
        .filter(|(_, s)| s.chars().count() >= MIN_QUOTE_CHARS)
        .collect();
    // Longest first; the earlier sentence wins a tie, so the query is deterministic.
    candidates.sort_by(|a, b| {
        b.1.chars()
            .count()
            .cmp(&a.1.chars().count())
            .then(a.0.cmp(&b.0))
    });
    candidates.truncate(QUOTED_SENTENCES);
    candidates.sort_by_key(|c| c.0);
    candidates
        .iter()
        .map(|(_, s)| {
            let cut: String = s.chars().take(MAX_QUOTE_CHARS).collect();
            format!("\"{}\"", cut.trim())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `GET {base}/search?q=...&format=json`: the search URL of a query on a SearXNG
/// instance at `base` (which may live under a path, as `https://host/searx/`).
pub fn search_url(base: &Url, query: &str) -> Url {
    let mut url = base.clone();
    let path = format!("{}/search", base.path().trim_end_matches('/'));
    url.set_path(&path);
    url.set_fragment(None);
    url.query_pairs_mut()
        .clear()
        .append_pair("q", query)
        .append_pair("format", "json");
    url
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    results: Vec<ResultEntry>,
}

#[derive(Deserialize)]
struct ResultEntry {
    #[serde(default)]
    url: Option<String>,
}

/// Why an answer could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{url}: not a SearXNG JSON answer: {message}")]
pub struct AnswerError {
    pub url: String,
    pub message: String,
}

/// The http(s) result URLs of a SearXNG JSON answer, at most [`MAX_RESULTS`], without
/// duplicates.
///
/// # Errors
/// [`AnswerError`] when the body is not the JSON SearXNG sends.
pub fn parse_results(body: &[u8], from: &Url) -> Result<Vec<Url>, AnswerError> {
    let answer: Answer = serde_json::from_slice(body).map_err(|e| AnswerError {
        url: from.to_string(),
        message: e.to_string(),
    })?;
    let mut out: Vec<Url> = Vec::new();
    for entry in answer.results {
        let Some(url) = entry.url.and_then(|u| Url::parse(u.trim()).ok()) else {
            continue;
        };
        if matches!(url.scheme(), "http" | "https") && !out.contains(&url) {
            out.push(url);
        }
        if out.len() == MAX_RESULTS {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_quotes_the_longest_sentences_that_are_not_boilerplate() {
        let text = "短句不要。这是一个比较长的句子，讲述湿地公园的修复过程。\
                    这是全文最长的一个句子，它详细描述了市图书馆延长开放时间的原因和安排。\
                    中等长度的句子也会被选上吗？\n\
                    【版权声明】本文为江城日报原创稿件，未经书面授权，任何单位和个人不得转载这篇非常非常长的文章。";
        let q = search_query(text, &Boilerplate::default());
        assert_eq!(
            q,
            "\"这是一个比较长的句子，讲述湿地公园的修复过程。\" \"这是全文最长的一个句子，它详细描述了市图书馆延长开放时间的原因和安排。\" \"中等长度的句子也会被选上吗？\""
        );
        assert!(!q.contains("版权"));
        assert_eq!(search_query("短。", &Boilerplate::default()), "");
    }

    #[test]
    fn search_url_and_results() {
        let base = Url::parse("http://127.0.0.1:8888/searx/").unwrap();
        let u = search_url(&base, "\"a b\"");
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:8888/searx/search?q=%22a+b%22&format=json"
        );
        let body = br#"{"query":"x","results":[{"url":"https://a.example/1"},{"url":"ftp://x/"},{"title":"no url"},{"url":"https://a.example/1"},{"url":"http://b.example/2"}]}"#;
        let got = parse_results(body, &u).unwrap();
        assert_eq!(
            got.iter().map(Url::as_str).collect::<Vec<_>>(),
            vec!["https://a.example/1", "http://b.example/2"]
        );
        assert!(parse_results(b"<html>", &u).is_err());
    }
}
