//! Main-text extraction from raw HTML bytes (pure, no I/O).
//!
//! Owns the path from the bytes a crawler fetched to the article's title and text:
//! charset decoding (`charset`), a bounded copy of the page body cut into text lines
//! (`dom`), and the choice of the article's container and lines (`score`).
//!
//! It must never fail, panic or touch the network, disk or clock: a broken or hostile page
//! yields whatever text could be found plus warnings. Recursion over the document tree is
//! forbidden because real pages nest arbitrarily deep.

pub mod charset;
pub mod dom;
pub mod fallback;
pub mod nesting;
pub mod score;
pub mod template;

pub use charset::decode;
pub use template::SiteTemplate;

use std::collections::HashSet;

use scraper::{Html, Node, Selector};

/// Pages larger than this are cut before parsing. Real article pages are well under a few
/// megabytes; anything larger is a feed dump or an attack and its head holds the article.
pub const MAX_HTML_BYTES: usize = 8 * 1024 * 1024;

/// How the main text of a page was found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Our scorer's container (the usual case).
    #[default]
    Container,
    /// Readability's text, because our container held much less than the page's
    /// readable text (see `fallback`).
    Readability,
    /// The parts of the page that vary across its site's pages (a learned site template).
    Template,
    /// The outlet's own CSS selector for its article body (`[[originals.hosts]]`).
    Selector,
    /// The full text the outlet's feed carries for the article.
    Feed,
    /// A plain-text file taken as is.
    PlainText,
}

impl Method {
    /// The name stored and shown (`container`, `readability`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Container => "container",
            Method::Readability => "readability",
            Method::Template => "template",
            Method::Selector => "selector",
            Method::Feed => "feed",
            Method::PlainText => "plain-text",
        }
    }

    /// The method named by [`Method::as_str`].
    pub fn parse(name: &str) -> Option<Method> {
        [
            Method::Container,
            Method::Readability,
            Method::Template,
            Method::Selector,
            Method::Feed,
            Method::PlainText,
        ]
        .into_iter()
        .find(|m| m.as_str() == name)
    }
}

/// The article found in a page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extracted {
    pub title: String,
    /// Main text, one paragraph per line (`\n` between paragraphs).
    pub text: String,
    /// How `text` was found.
    pub method: Method,
    /// Non-whitespace characters of the page's readable text (prose lines outside page
    /// furniture), for judging whether `text` looks truncated. 0 for plain text.
    pub page_chars: usize,
    /// Name of the character encoding the page was decoded with (WHATWG label).
    pub encoding: &'static str,
    /// Problems met on the way (bad charset label, no article found, ...): never fatal.
    pub warnings: Vec<String>,
}

/// The outlet's own correction of its extraction for one host (`[[originals.hosts]]`).
#[derive(Debug, Clone)]
pub struct HostRules {
    /// The article body: the text of every element it matches, in document order.
    pub body: Option<Selector>,
    /// Elements removed before anything else looks at the page.
    pub drop: Vec<Selector>,
}

/// What extraction may know about a page's site beyond the page itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options<'a> {
    /// The host's learned template.
    pub template: Option<&'a SiteTemplate>,
    /// The outlet's selectors for the host.
    pub rules: Option<&'a HostRules>,
}

/// A page's extraction with what the archive keeps of it.
#[derive(Debug, Clone)]
pub struct Page {
    pub extracted: Extracted,
    /// The decoded page (for metadata).
    pub source: String,
    /// The page's distinct line hashes, for learning its site's template.
    pub line_hashes: Vec<u64>,
}

/// Extracts title and main text; `content_type` is the HTTP `Content-Type` header when known.
pub fn extract(html: &[u8], content_type: Option<&str>) -> Extracted {
    extract_with(html, content_type, Options::default()).extracted
}

/// [`extract`], also returning the decoded page for callers that read more of it (the
/// archive reads the page's metadata), so the bytes are decoded once.
pub fn extract_page(html: &[u8], content_type: Option<&str>) -> (Extracted, String) {
    let page = extract_with(html, content_type, Options::default());
    (page.extracted, page.source)
}

/// [`extract`] with what is known of the page's site, also returning the decoded page
/// and its line hashes, so the bytes are decoded and parsed once.
pub fn extract_with(html: &[u8], content_type: Option<&str>, options: Options<'_>) -> Page {
    let mut warnings = Vec::new();
    let bytes = if html.len() > MAX_HTML_BYTES {
        warnings.push(format!(
            "page of {} bytes cut to {MAX_HTML_BYTES} bytes",
            html.len()
        ));
        &html[..MAX_HTML_BYTES]
    } else {
        html
    };
    let (source, encoding, charset_warnings) = decode(bytes, content_type);
    warnings.extend(charset_warnings);
    let (mut extracted, line_hashes) = extract_parsed(&source, options);
    warnings.append(&mut extracted.warnings);
    extracted.warnings = warnings;
    extracted.encoding = encoding.name();
    Page {
        extracted,
        source,
        line_hashes,
    }
}

/// A plain-text file taken as is: decoded (BOM, statistical detection), with its first
/// non-empty line as the title.
pub fn from_text(bytes: &[u8]) -> Extracted {
    let (text, encoding, warnings) = decode(bytes, None);
    let title = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect();
    Extracted {
        title,
        text,
        method: Method::PlainText,
        page_chars: 0,
        encoding: encoding.name(),
        warnings,
    }
}

/// Extracts title and main text from an already decoded page. `encoding` is left empty.
pub fn extract_str(source: &str) -> Extracted {
    extract_parsed(source, Options::default()).0
}

/// The extraction proper, with the page's line hashes.
fn extract_parsed(source: &str, options: Options<'_>) -> (Extracted, Vec<u64>) {
    let (source, flattened) = nesting::flatten(source);
    let parsed = Html::parse_document(&source);
    let (extracted, line_hashes) = extract_tree(&source, &parsed, flattened, options);
    // Some pages (Blogger's among them) ship the article only inside `<noscript>`, for
    // readers without scripts, and render it from a script template otherwise. The
    // parser keeps `<noscript>` as raw text, so such an article is invisible; when the
    // page's `<noscript>` blocks hold far more text than was found, the page is read
    // again as a reader without scripts sees it.
    let noscript = noscript_text_chars(&parsed);
    let found = extracted
        .text
        .chars()
        .filter(|c| !c.is_whitespace())
        .count();
    if noscript >= MIN_NOSCRIPT_CHARS && noscript > 2 * found {
        let unwrapped = unwrap_noscript(&source);
        let reparsed = Html::parse_document(&unwrapped);
        let (again, hashes) = extract_tree(&unwrapped, &reparsed, flattened, options);
        let found_again = again.text.chars().filter(|c| !c.is_whitespace()).count();
        if found_again as f64 >= 1.3 * found as f64 {
            return (again, hashes);
        }
    }
    (extracted, line_hashes)
}

/// `<noscript>` text (tags aside) from which a page is worth reading again without them.
const MIN_NOSCRIPT_CHARS: usize = 200;

/// Non-whitespace characters outside tags in the page's `<noscript>` blocks.
fn noscript_text_chars(parsed: &Html) -> usize {
    let mut total = 0;
    for node in parsed.tree.nodes() {
        let Node::Element(el) = node.value() else {
            continue;
        };
        if el.name() != "noscript" {
            continue;
        }
        for child in node.children() {
            if let Node::Text(t) = child.value() {
                let mut in_tag = false;
                for c in t.chars() {
                    match c {
                        '<' => in_tag = true,
                        '>' => in_tag = false,
                        c if !in_tag && !c.is_whitespace() => total += 1,
                        _ => {}
                    }
                }
            }
        }
    }
    total
}

/// The page with its `<noscript>` and `</noscript>` tags removed, so that their content
/// parses as ordinary markup.
fn unwrap_noscript(source: &str) -> String {
    // ASCII lower-casing keeps every byte offset, so positions found in `lower` cut
    // `source` at the same (ASCII, hence char-boundary) bytes.
    let lower = source.to_ascii_lowercase();
    let mut out = String::with_capacity(source.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(off) = lower[from..].find("noscript") {
        let name = from + off;
        from = name + "noscript".len();
        let open = if lower[..name].ends_with("</") {
            name - 2
        } else if lower[..name].ends_with('<') {
            name - 1
        } else {
            continue;
        };
        let after = lower.as_bytes().get(from).copied();
        if !matches!(after, Some(b'>' | b'/' | b' ' | b'\t' | b'\n' | b'\r')) {
            continue;
        }
        let Some(close) = lower[from..].find('>') else {
            break;
        };
        out.push_str(&source[copied..open]);
        copied = from + close + 1;
        from = copied;
    }
    out.push_str(&source[copied..]);
    out
}

/// Extraction from a parsed page.
fn extract_tree(
    source: &str,
    parsed: &Html,
    flattened: bool,
    options: Options<'_>,
) -> (Extracted, Vec<u64>) {
    let dropped: HashSet<ego_tree::NodeId> = options
        .rules
        .map(|r| {
            r.drop
                .iter()
                .flat_map(|sel| parsed.select(sel).map(|el| el.id()))
                .collect()
        })
        .unwrap_or_default();
    let mut doc = dom::Doc::build_without(parsed, &dropped);
    let line_hashes = template::page_line_hashes(&doc);
    let mut warnings = std::mem::take(&mut doc.warnings);
    if flattened {
        warnings.push(format!(
            "tags nested deeper than {} dropped",
            nesting::MAX_NESTING
        ));
    }
    let title = title(parsed);
    if let Some(body) = options.rules.and_then(|r| r.body.as_ref()) {
        let wanted: HashSet<ego_tree::NodeId> = parsed.select(body).map(|el| el.id()).collect();
        let text = join_lines(doc.lines_under_nodes(&wanted).map(|l| l.text.as_str()));
        if !text.is_empty() {
            let page_chars = score::prose_chars(&doc, &title, &[]);
            let extracted = Extracted {
                title,
                text,
                method: Method::Selector,
                page_chars,
                encoding: "",
                warnings,
            };
            return (extracted, line_hashes);
        }
        warnings.push("the host's body selector matched no text; extracted as usual".into());
    }
    let template_lines: Vec<bool> = match options.template {
        Some(t) => doc.lines.iter().map(|l| t.contains(&l.text)).collect(),
        None => Vec::new(),
    };
    let mut selection = score::select_with(&doc, &title, &template_lines);
    if !selection.found {
        warnings.push("no article container found".to_string());
    }
    let mut selected_chars: usize = selection.lines.iter().map(|l| l.chars).sum();
    let text_chars = fallback::text_chars(&doc, &template_lines);
    // The recall safeguard, first step: a selection holding much less than the page's
    // readable text may be one section of an article cut into sections, and the
    // winner's ancestors that add only more prose hold the rest.
    if fallback::is_suspect(selected_chars, selection.prose_chars, text_chars) {
        if let Some(lines) = score::widen(&doc, &title, &template_lines, &selection) {
            selection.lines = lines;
            selected_chars = selection.lines.iter().map(|l| l.chars).sum();
        }
    }
    // "template" only when the template had a say on this page.
    let mut method = if template_lines.iter().any(|&t| t) {
        Method::Template
    } else {
        Method::Container
    };
    let mut text = join_lines(selection.lines.iter().map(|l| l.text.as_str()));
    // The recall safeguard, second step: a selection still holding much less than the
    // page's readable text has probably settled on one short block, so readability gets
    // a say.
    if fallback::is_suspect(selected_chars, selection.prose_chars, text_chars) {
        if let Some(alternative) =
            fallback::readability_lines(source, &doc, &title, &template_lines)
        {
            let alternative = fallback::article_lines(&selection.lines, alternative);
            if fallback::prefer_alternative(&selection.lines, &alternative) {
                text = join_lines(alternative.iter().map(String::as_str));
                method = Method::Readability;
            }
        }
    }
    if selection.found && text.is_empty() {
        warnings.push("article container holds no text".to_string());
    }
    let extracted = Extracted {
        title,
        text,
        method,
        page_chars: selection.prose_chars,
        encoding: "",
        warnings,
    };
    (extracted, line_hashes)
}

/// The text of an HTML fragment that is known to be the article (a feed's
/// `content:encoded` or JSON Feed `content_html`): every line of it, in order, without
/// container selection; scripts, styles and hidden parts are dropped as on a page.
pub fn fragment_text(html: &str) -> String {
    let html = if html.len() > MAX_HTML_BYTES {
        let mut end = MAX_HTML_BYTES;
        while !html.is_char_boundary(end) {
            end -= 1;
        }
        &html[..end]
    } else {
        html
    };
    let (source, _) = nesting::flatten(html);
    // A fragment has no <body>; wrapping it gives the line builder its usual root.
    let parsed = Html::parse_document(&format!("<body><div>{source}</div></body>"));
    let doc = dom::Doc::build(&parsed);
    join_lines(doc.lines.iter().map(|l| l.text.as_str()))
}

/// Lines joined with `\n`.
fn join_lines<'a>(lines: impl Iterator<Item = &'a str>) -> String {
    let mut text = String::new();
    for line in lines {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(line);
    }
    text
}

/// Headings looked at as title candidates; the article's own heading comes early.
const MAX_HEADING_CANDIDATES: usize = 16;

/// Separators sites put between an article title and their own name.
const TITLE_SEPARATORS: [&str; 9] = [" | ", " - ", " – ", " — ", "_", "｜", "|", "--", " · "];

/// Picks the page title: `og:title` or the first `<h1>` when one agrees with `<title>`,
/// otherwise `<title>` with its site-name suffix stripped.
fn title(html: &Html) -> String {
    let mut head_title = String::new();
    let mut og_title = String::new();
    let mut h1s = Vec::new();
    for node in html.tree.root().descendants() {
        let Node::Element(el) = node.value() else {
            continue;
        };
        match el.name() {
            "title" if head_title.is_empty() => head_title = node_text(node),
            "meta" if og_title.is_empty() => {
                let prop = el.attr("property").or_else(|| el.attr("name"));
                if prop.is_some_and(|p| p.eq_ignore_ascii_case("og:title")) {
                    og_title = dom::collapse_ws(el.attr("content").unwrap_or_default());
                }
            }
            "h1" | "h2" if h1s.len() < MAX_HEADING_CANDIDATES => h1s.push(node_text(node)),
            _ => {}
        }
    }
    let stripped = strip_site_name(&head_title);
    let stripped_len = stripped.chars().count();
    // A heading or og:title that carries most of the stripped <title> is the article's
    // own title; a heading that is only the site name (a logo `<h1>`) is not.
    let agrees = |c: &str| {
        let n = c.chars().count();
        n >= 4 && (stripped.is_empty() || (head_title.contains(c) && n * 2 >= stripped_len))
    };
    let og = strip_site_name(&og_title);
    if agrees(&og) {
        return og;
    }
    if let Some(h) = h1s.iter().find(|h| agrees(h)) {
        return h.clone();
    }
    if !stripped.is_empty() {
        return stripped;
    }
    if !og.is_empty() {
        return og;
    }
    h1s.into_iter().find(|h| !h.is_empty()).unwrap_or_default()
}

/// Removes a trailing (or, failing that, leading) site name: keeps the longest part when
/// the title splits at a site separator.
fn strip_site_name(title: &str) -> String {
    let title = title.trim();
    for sep in TITLE_SEPARATORS {
        if title.contains(sep) {
            let parts: Vec<&str> = title.split(sep).map(str::trim).collect();
            if let Some(longest) = parts.iter().max_by_key(|p| p.chars().count()) {
                if longest.chars().count() * 2 >= title.chars().count() / 2 {
                    return longest.to_string();
                }
            }
        }
    }
    title.to_string()
}

/// Text of a node's subtree, whitespace collapsed, bounded in length.
fn node_text(node: ego_tree::NodeRef<'_, Node>) -> String {
    let mut s = String::new();
    for d in node.descendants() {
        if let Node::Text(t) = d.value() {
            s.push_str(t);
            if s.len() > 2048 {
                break;
            }
        }
    }
    dom::collapse_ws(&s)
}

#[cfg(test)]
mod tests;
