//! Article metadata from a page's markup: canonical URL, publication time and byline
//! (pure: HTML text in, values out).
//!
//! News sites publish these in several overlapping ways (Open Graph, `article:*` meta,
//! `<time>`, JSON-LD, plain `<meta name>`); we take the first that parses, in order of how
//! reliably sites fill them in.

use chrono::{DateTime, Utc};
use scraper::{Html, Selector};
use url::Url;

use super::sources::parse_date;

/// Metadata found in a page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageMeta {
    /// `<link rel="canonical">`, else `og:url` (absolute http/https only).
    pub canonical: Option<Url>,
    pub published: Option<DateTime<Utc>>,
    pub author: Option<String>,
}

/// Longest author string kept: a byline, not a paragraph.
const MAX_AUTHOR_CHARS: usize = 200;

/// Reads the metadata of `html`; `base` resolves relative canonical links.
pub fn page_meta(html: &str, base: Option<&Url>) -> PageMeta {
    let doc = Html::parse_document(html);
    let first_attr = |selectors: &[&str], attr: &str| -> Option<String> {
        selectors.iter().find_map(|s| {
            let selector = Selector::parse(s).ok()?;
            doc.select(&selector)
                .filter_map(|e| e.value().attr(attr))
                .map(str::trim)
                .find(|v| !v.is_empty())
                .map(str::to_string)
        })
    };
    let canonical = first_attr(&["link[rel=canonical]"], "href")
        .or_else(|| first_attr(&["meta[property='og:url']"], "content"))
        .and_then(|href| match base {
            Some(b) => b.join(&href).ok(),
            None => Url::parse(&href).ok(),
        })
        .filter(|u| matches!(u.scheme(), "http" | "https"));
    let published = first_attr(
        &[
            "meta[property='article:published_time']",
            "meta[property='og:published_time']",
            "meta[name=pubdate]",
            "meta[name=publishdate]",
            "meta[name=PubDate]",
            "meta[itemprop=datePublished]",
            "meta[name='date']",
        ],
        "content",
    )
    .and_then(|d| parse_date(&d))
    .or_else(|| json_ld(&doc, "datePublished").and_then(|d| parse_date(&d)))
    .or_else(|| first_attr(&["time[datetime]"], "datetime").and_then(|d| parse_date(&d)));
    let author = first_attr(
        &["meta[name=author]", "meta[property='article:author']"],
        "content",
    )
    .or_else(|| json_ld(&doc, "author"))
    .map(|a| a.chars().take(MAX_AUTHOR_CHARS).collect::<String>());
    PageMeta {
        canonical,
        published,
        author,
    }
}

/// A string field of the page's JSON-LD (`author` may be an object with a `name`).
fn json_ld(doc: &Html, field: &str) -> Option<String> {
    let selector = Selector::parse("script[type='application/ld+json']").ok()?;
    doc.select(&selector).find_map(|script| {
        let text: String = script.text().collect();
        let value: serde_json::Value = serde_json::from_str(text.trim()).ok()?;
        let items = match value {
            serde_json::Value::Array(items) => items,
            other => vec![other],
        };
        items.iter().find_map(|item| {
            let v = item.get(field)?;
            let v = match v {
                serde_json::Value::Array(list) => list.first()?,
                other => other,
            };
            match v {
                serde_json::Value::String(s) => Some(s.trim().to_string()),
                serde_json::Value::Object(o) => o
                    .get("name")
                    .and_then(|n| n.as_str())
                    .map(|s| s.trim().to_string()),
                _ => None,
            }
            .filter(|s| !s.is_empty())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_published_author() {
        let html = r#"<html><head>
<link rel="canonical" href="/news/1.html">
<meta property="og:url" content="https://other.example.com/x">
<meta property="article:published_time" content="2026-11-20T08:30:00+08:00">
<meta name="author" content="记者 陈晓">
</head><body></body></html>"#;
        let base = Url::parse("https://news.example.com/a/b").unwrap();
        let meta = page_meta(html, Some(&base));
        assert_eq!(
            meta.canonical.unwrap().as_str(),
            "https://news.example.com/news/1.html"
        );
        assert_eq!(meta.published, parse_date("2026-11-20T00:30:00Z"));
        assert_eq!(meta.author.as_deref(), Some("记者 陈晓"));
    }

    #[test]
    fn og_url_json_ld_and_time() {
        let html = r#"<html><head><meta property="og:url" content="https://news.example.com/og">
<script type="application/ld+json">{"@type":"NewsArticle","datePublished":"2026-11-19","author":{"@type":"Person","name":"Hannah Moreau"}}</script>
</head><body><time datetime="2020-01-01">x</time></body></html>"#;
        let meta = page_meta(html, None);
        assert_eq!(
            meta.canonical.unwrap().as_str(),
            "https://news.example.com/og"
        );
        assert_eq!(meta.published, parse_date("2026-11-19"));
        assert_eq!(meta.author.as_deref(), Some("Hannah Moreau"));
    }

    #[test]
    fn nothing_found_is_fine() {
        let meta = page_meta("<p>just text", None);
        assert_eq!(meta, PageMeta::default());
        let meta = page_meta(r#"<link rel="canonical" href="relative.html">"#, None);
        assert_eq!(meta.canonical, None, "a relative canonical needs a base");
    }
}
