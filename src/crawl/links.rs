//! Links of an HTML page, for the frontier.
//!
//! `<a href>` and `<area href>` resolved against the page URL (or its `<base href>`),
//! http/https only, `rel="nofollow"` respected, a page-wide `<meta name="robots"
//! content="nofollow">` respected, at most [`MAX_LINKS`] per page, duplicates removed in
//! document order.
//!
//! This module is pure: it parses a string and returns URLs. It never fetches, never
//! normalises (that is [`crate::crawl::urls::normalize`]) and never judges scope.

use scraper::{Html, Selector};
use url::Url;

/// Links kept per page: a real article links to a few hundred pages at most; a page with
/// tens of thousands of links is a trap or a directory, and the first ones suffice.
pub const MAX_LINKS: usize = 1000;

/// Followable links of `html`, resolved against `base` (the page's final URL).
pub fn extract_links(html: &str, base: &Url) -> Vec<Url> {
    let doc = Html::parse_document(html);
    if meta_nofollow(&doc) {
        return Vec::new();
    }
    collect(&doc, base, true)
}

/// Every anchor of `html`, `nofollow` or not, resolved against `base` (the page's final
/// URL), at most [`MAX_LINKS`]: what a reader sees as the page's links (a licence's
/// link back to the original counts whether or not search engines may follow it).
pub fn anchor_urls(html: &str, base: &Url) -> Vec<Url> {
    collect(&Html::parse_document(html), base, false)
}

fn collect(doc: &Html, base: &Url, respect_nofollow: bool) -> Vec<Url> {
    let base = effective_base(doc, base);
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for element in doc.select(&selector("a[href], area[href]")) {
        let e = element.value();
        let nofollow = e.attr("rel").is_some_and(|rel| {
            rel.split_ascii_whitespace()
                .any(|t| t.eq_ignore_ascii_case("nofollow"))
        });
        if nofollow && respect_nofollow {
            continue;
        }
        let Some(href) = e.attr("href") else { continue };
        let Ok(mut url) = base.join(href.trim()) else {
            continue;
        };
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            continue;
        }
        url.set_fragment(None);
        if seen.insert(url.as_str().to_string()) {
            out.push(url);
            if out.len() == MAX_LINKS {
                break;
            }
        }
    }
    out
}

fn selector(s: &str) -> Selector {
    // The selectors are string literals in this file; a test parses every one of them,
    // so a failure here is a programming error caught before release.
    Selector::parse(s).expect("static selector parses")
}

/// The first `<base href>` if it is an absolute http(s) URL (or resolves against the
/// page URL to one), else the page URL.
fn effective_base(doc: &Html, page: &Url) -> Url {
    doc.select(&selector("base[href]"))
        .next()
        .and_then(|b| b.value().attr("href"))
        .and_then(|href| page.join(href.trim()).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .unwrap_or_else(|| page.clone())
}

/// `<meta name="robots" content="nofollow">` (or `none`): no link on the page is to be
/// followed.
fn meta_nofollow(doc: &Html) -> bool {
    doc.select(&selector("meta[name][content]")).any(|m| {
        let e = m.value();
        let name = e.attr("name").unwrap_or("");
        (name.eq_ignore_ascii_case("robots") || name.eq_ignore_ascii_case("copyhound"))
            && e.attr("content").is_some_and(|c| {
                c.split(',')
                    .map(str::trim)
                    .any(|t| t.eq_ignore_ascii_case("nofollow") || t.eq_ignore_ascii_case("none"))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(html: &str) -> Vec<String> {
        extract_links(
            html,
            &Url::parse("https://example.com/news/a.html").unwrap(),
        )
        .into_iter()
        .map(String::from)
        .collect()
    }

    #[test]
    fn resolves_filters_and_dedupes() {
        let got = links(
            r##"<a href="b.html">b</a><a href="/c?x=1#top">c</a><a href="b.html#again">b</a>
            <a href="mailto:x@example.com">m</a><a href="javascript:void(0)">j</a>
            <a href="https://other.example/p" rel="external nofollow">n</a>
            <a href="//cdn.example/d">d</a><area href="e.html"><a>no href</a>
            <a href="ftp://example.com/f">f</a>"##,
        );
        assert_eq!(
            got,
            vec![
                "https://example.com/news/b.html",
                "https://example.com/c?x=1",
                "https://cdn.example/d",
                "https://example.com/news/e.html",
            ]
        );
    }

    #[test]
    fn base_href_and_meta_nofollow() {
        assert_eq!(
            links(r#"<head><base href="https://mirror.example/x/"></head><a href="y">y</a>"#),
            vec!["https://mirror.example/x/y"]
        );
        assert!(
            links(r#"<meta name="robots" content="noindex, nofollow"><a href="y">y</a>"#)
                .is_empty()
        );
        assert_eq!(
            links(r#"<meta name="robots" content="noindex"><a href="y">y</a>"#).len(),
            1
        );
    }

    #[test]
    fn link_count_is_bounded() {
        let html: String = (0..5000)
            .map(|i| format!("<a href=\"/p{i}\">x</a>"))
            .collect();
        assert_eq!(links(&html).len(), MAX_LINKS);
    }
}
