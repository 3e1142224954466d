//! Parsing the outlet's feeds and sitemaps into article links (pure: bytes in, values out).
//!
//! Feeds are RSS 2.0, Atom or JSON Feed (parsed by `feed-rs`). Sitemaps are the
//! sitemaps.org XML formats: a `<urlset>` of pages, possibly with Google News
//! extensions, or a `<sitemapindex>` pointing at more sitemaps.

use chrono::{DateTime, NaiveDate, Utc};
use url::Url;

/// Entries taken from one feed or sitemap at most: a hostile or broken source must not
/// turn into an unbounded crawl.
pub const MAX_ENTRIES_PER_SOURCE: usize = 50_000;

/// An article link found in a feed or sitemap, with what the source says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleLink {
    pub url: Url,
    pub title: Option<String>,
    pub published: Option<DateTime<Utc>>,
    pub author: Option<String>,
    /// The article's full HTML as the feed carries it (RSS `content:encoded`, Atom
    /// `content`, JSON Feed `content_html`), bounded by [`MAX_FEED_CONTENT_BYTES`].
    pub content_html: Option<String>,
}

/// A feed entry's content longer than this is not kept: an article is far shorter.
pub const MAX_FEED_CONTENT_BYTES: usize = 2 * 1024 * 1024;

/// Why a feed or sitemap could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{url}: not a feed (RSS, Atom or JSON Feed): {message}")]
    Feed { url: String, message: String },
    #[error("{url}: not a sitemap: {message}")]
    Sitemap { url: String, message: String },
}

/// The article links of a feed; relative links are resolved against `base`.
///
/// # Errors
/// [`SourceError::Feed`] naming the feed's URL.
pub fn parse_feed(bytes: &[u8], base: &Url) -> Result<Vec<ArticleLink>, SourceError> {
    let feed = feed_rs::parser::parse(bytes).map_err(|e| SourceError::Feed {
        url: base.to_string(),
        message: e.to_string(),
    })?;
    let mut links = Vec::new();
    for entry in feed.entries.into_iter().take(MAX_ENTRIES_PER_SOURCE) {
        // An entry's first link is its page; Atom may list `alternate` and others, and
        // `alternate` (or no rel) is the article itself.
        let href = entry
            .links
            .iter()
            .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
            .or(entry.links.first())
            .map(|l| l.href.clone())
            .or_else(|| Url::parse(&entry.id).ok().map(|u| u.to_string()));
        let Some(url) = href.and_then(|h| base.join(h.trim()).ok()) else {
            continue;
        };
        if !matches!(url.scheme(), "http" | "https") {
            continue;
        }
        links.push(ArticleLink {
            url,
            title: entry.title.map(|t| t.content.trim().to_string()),
            published: entry.published.or(entry.updated),
            author: entry
                .authors
                .first()
                .and_then(|p| p.name.as_deref())
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty()),
            content_html: entry
                .content
                .and_then(|c| c.body)
                .filter(|b| !b.trim().is_empty() && b.len() <= MAX_FEED_CONTENT_BYTES),
        });
    }
    Ok(links)
}

/// What a sitemap holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sitemap {
    /// A sitemap index: more sitemaps to read.
    Index(Vec<Url>),
    /// Pages.
    Pages(Vec<ArticleLink>),
}

/// Parses a sitemap or sitemap index.
///
/// # Errors
/// [`SourceError::Sitemap`] naming the sitemap's URL.
pub fn parse_sitemap(bytes: &[u8], base: &Url) -> Result<Sitemap, SourceError> {
    let err = |message: String| SourceError::Sitemap {
        url: base.to_string(),
        message,
    };
    let text = std::str::from_utf8(bytes).map_err(|e| err(format!("not UTF-8: {e}")))?;
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        ..roxmltree::ParsingOptions::default()
    };
    let doc =
        roxmltree::Document::parse_with_options(text, options).map_err(|e| err(e.to_string()))?;
    let root = doc.root_element();
    let child_text = |node: roxmltree::Node<'_, '_>, name: &str| {
        node.descendants()
            .find(|n| n.is_element() && n.tag_name().name() == name)
            .and_then(|n| n.text())
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
    };
    let resolve = |loc: &str| {
        base.join(loc)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
    };
    match root.tag_name().name() {
        "sitemapindex" => Ok(Sitemap::Index(
            root.children()
                .filter(|n| n.is_element() && n.tag_name().name() == "sitemap")
                .filter_map(|n| child_text(n, "loc"))
                .filter_map(|loc| resolve(&loc))
                .take(MAX_ENTRIES_PER_SOURCE)
                .collect(),
        )),
        "urlset" => Ok(Sitemap::Pages(
            root.children()
                .filter(|n| n.is_element() && n.tag_name().name() == "url")
                .filter_map(|n| {
                    let url = resolve(&child_text(n, "loc")?)?;
                    // Google News sitemaps carry the publication date and title; plain
                    // sitemaps only `lastmod`, which is a weaker hint of publication.
                    let published = child_text(n, "publication_date")
                        .or_else(|| child_text(n, "lastmod"))
                        .and_then(|d| parse_date(&d));
                    Some(ArticleLink {
                        url,
                        title: child_text(n, "title"),
                        published,
                        author: None,
                        content_html: None,
                    })
                })
                .take(MAX_ENTRIES_PER_SOURCE)
                .collect(),
        )),
        other => Err(err(format!(
            "root element is <{other}>, expected <urlset> or <sitemapindex>"
        ))),
    }
}

/// Dates as news sites write them: RFC 3339, RFC 2822, `YYYY-MM-DD HH:MM[:SS]` (taken as
/// UTC+8 when no zone is given would be a guess, so it is taken as UTC), or a bare date.
pub fn parse_date(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Some(d.with_timezone(&Utc));
    }
    if let Ok(d) = DateTime::parse_from_rfc2822(t) {
        return Some(d.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(d) = chrono::NaiveDateTime::parse_from_str(t, format) {
            return Some(d.and_utc());
        }
    }
    NaiveDate::parse_from_str(t.get(..10)?, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://news.example.com/feeds/main.xml").unwrap()
    }

    #[test]
    fn rss_items_become_links() {
        let rss = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>江城日报</title><link>https://news.example.com/</link>
<item><title>滨江湿地公园修复工程完工</title><link>/news/1.html</link>
<pubDate>Fri, 20 Nov 2026 08:30:00 +0800</pubDate><author>chen@example.com (陈晓)</author></item>
<item><title>No link</title></item>
<item><title>FTP</title><link>ftp://news.example.com/x</link></item>
</channel></rss>"#;
        let links = parse_feed(rss.as_bytes(), &base()).unwrap();
        assert_eq!(links.len(), 1);
        assert_eq!(
            links[0].url.as_str(),
            "https://news.example.com/news/1.html"
        );
        assert_eq!(links[0].title.as_deref(), Some("滨江湿地公园修复工程完工"));
        assert_eq!(links[0].published, parse_date("2026-11-20T00:30:00Z"));
    }

    #[test]
    fn atom_and_json_feed() {
        let atom = r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title><id>urn:x</id><updated>2026-11-20T00:00:00Z</updated>
<entry><title>A</title><id>urn:a</id><link rel="alternate" href="https://news.example.com/a"/>
<published>2026-11-19T10:00:00Z</published><updated>2026-11-20T00:00:00Z</updated><author><name>Hannah</name></author></entry>
</feed>"#;
        let links = parse_feed(atom.as_bytes(), &base()).unwrap();
        assert_eq!(links[0].url.as_str(), "https://news.example.com/a");
        assert_eq!(links[0].author.as_deref(), Some("Hannah"));
        assert_eq!(links[0].published, parse_date("2026-11-19T10:00:00Z"));

        let json = r#"{"version":"https://jsonfeed.org/version/1.1","title":"T","items":[{"id":"1","url":"https://news.example.com/j","title":"J","date_published":"2026-11-18T00:00:00Z"}]}"#;
        let links = parse_feed(json.as_bytes(), &base()).unwrap();
        assert_eq!(links[0].url.as_str(), "https://news.example.com/j");
    }

    #[test]
    fn broken_feed_names_the_url() {
        let err = parse_feed(b"<html>not a feed", &base()).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("https://news.example.com/feeds/main.xml: not a feed"));
    }

    #[test]
    fn sitemaps_index_and_news() {
        let index = r#"<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<sitemap><loc>https://news.example.com/sitemap-1.xml</loc></sitemap>
<sitemap><loc> /sitemap-2.xml </loc></sitemap></sitemapindex>"#;
        assert_eq!(
            parse_sitemap(index.as_bytes(), &base()).unwrap(),
            Sitemap::Index(vec![
                Url::parse("https://news.example.com/sitemap-1.xml").unwrap(),
                Url::parse("https://news.example.com/sitemap-2.xml").unwrap()
            ])
        );
        let news = r#"<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
<url><loc>https://news.example.com/a.html</loc><news:news><news:publication><news:name>X</news:name><news:language>zh</news:language></news:publication>
<news:publication_date>2026-11-20T08:30:00+08:00</news:publication_date><news:title>标题 &amp; 副题</news:title></news:news></url>
<url><loc>https://news.example.com/b.html</loc><lastmod>2026-11-01</lastmod></url>
</urlset>"#;
        let Sitemap::Pages(pages) = parse_sitemap(news.as_bytes(), &base()).unwrap() else {
            panic!("pages expected");
        };
        assert_eq!(pages.len(), 2);
        assert_eq!(pages[0].title.as_deref(), Some("标题 & 副题"));
        assert_eq!(pages[0].published, parse_date("2026-11-20T00:30:00Z"));
        assert_eq!(pages[1].published, parse_date("2026-11-01T00:00:00Z"));
    }

    #[test]
    fn bad_xml_and_dtd_entities_are_refused() {
        assert!(parse_sitemap(b"<urlset><url>", &base()).is_err());
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><urlset><url><loc>&lol2;</loc></url></urlset>"#;
        assert!(parse_sitemap(bomb.as_bytes(), &base()).is_err());
        let err = parse_sitemap(b"<html></html>", &base()).unwrap_err();
        assert!(err
            .to_string()
            .contains("expected <urlset> or <sitemapindex>"));
    }
}
