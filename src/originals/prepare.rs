//! Turning one of the outlet's pages into an article: extraction with what is known of
//! its site (the outlet's selectors, the learned template, the feed's own full text) and
//! the check that its text does not look truncated.
//!
//! Originals always use their site's template: every page ingested counts towards its
//! host's template (in the store), and the first pages of a host wait here, bounded in
//! number and bytes, until the host has enough pages for a template, so even the first
//! articles of a new archive are extracted with it.

use std::collections::HashMap;

use url::Url;

use super::meta;
use super::sources::ArticleLink;
use crate::config::OriginalsSettings;
use crate::extract::{self, Method, Options, SiteTemplate};
use crate::store::{NewArticle, Store, StoreError};

/// A host stops learning its template after this many pages: by then it is known, and
/// the counts stay bounded.
pub const MAX_TEMPLATE_PAGES: u32 = 200;

/// Bytes of raw pages held while their hosts' templates are not learned yet; beyond
/// this the oldest waiting page is extracted without a template.
const MAX_WAITING_BYTES: usize = 64 * 1024 * 1024;

/// A feed's own text replaces the page's when it is at least this much longer.
const FEED_GAIN: f64 = 1.1;

/// A text under this share of its page's readable text looks truncated.
const SUSPECT_PAGE_SHARE: f64 = 0.2;

/// A text under this share of its site's median article length looks truncated...
const SUSPECT_SITE_SHARE: f64 = 0.25;

/// ... once the site has at least this many other articles.
const SUSPECT_SITE_MIN_ARTICLES: usize = 5;

/// One page of the outlet's, as fetched or read.
pub struct PageInput {
    /// The page's address as listed (or its `file://` URL).
    pub url: Url,
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
    /// Where the page came from (feed, sitemap or path), for the archive.
    pub source: String,
    /// The feed or sitemap entry that listed it.
    pub link: Option<ArticleLink>,
}

/// A page read once: its metadata and the host its template is learned under.
struct Read {
    input: PageInput,
    meta: meta::PageMeta,
    host: String,
    /// The first look's extraction (no template, no selectors): the page's text as is
    /// when neither applies, so that it is not extracted twice.
    plain: extract::Extracted,
}

/// The host a page's template is learned under: its canonical URL's host, else its own
/// URL's, or for a local file without a canonical link its folder (the pages of one
/// export share a template).
fn template_host(url: &Url, canonical: Option<&Url>) -> String {
    match canonical.and_then(Url::host_str).or(url.host_str()) {
        Some(h) => h.to_ascii_lowercase(),
        None => {
            let path = url.path();
            let folder = path.rsplit_once('/').map_or(path, |(d, _)| d);
            format!("file:{folder}")
        }
    }
}

/// What became of a page.
pub enum Prepared {
    Article(Box<NewArticle>),
    /// `(what, why)` for the pass's summary.
    Failed(String, String),
}

/// The per-pass state: templates loaded, pages waiting for their host's template, and
/// the article lengths of each site.
pub struct Preparer<'a> {
    settings: &'a OriginalsSettings,
    templates: HashMap<String, Option<SiteTemplate>>,
    waiting: Vec<Read>,
    waiting_bytes: usize,
    /// Text lengths (characters) of each host's originals, for the truncation check.
    lengths: HashMap<String, Vec<usize>>,
}

impl<'a> Preparer<'a> {
    /// A preparer for one pass; the sites' article lengths are read from `store`.
    ///
    /// # Errors
    /// [`StoreError`] when the archive cannot be read.
    pub fn new(settings: &'a OriginalsSettings, store: &Store) -> Result<Self, StoreError> {
        let mut lengths: HashMap<String, Vec<usize>> = HashMap::new();
        for o in store.list_originals()? {
            if let Some(host) = Url::parse(&o.url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
            {
                lengths
                    .entry(host)
                    .or_default()
                    .push(usize::try_from(o.chars).unwrap_or(0));
            }
        }
        Ok(Preparer {
            settings,
            templates: HashMap::new(),
            waiting: Vec::new(),
            waiting_bytes: 0,
            lengths,
        })
    }

    /// Takes one page; returns the pages now ready (none while the page waits for its
    /// host's template, several when its arrival completed the template).
    ///
    /// # Errors
    /// [`StoreError`] when the template counts cannot be written.
    pub fn page(
        &mut self,
        store: &mut Store,
        input: PageInput,
    ) -> Result<Vec<Prepared>, StoreError> {
        // A first look without a template: the page's metadata (its canonical URL names
        // its site) and its lines, which count towards the site's template.
        let first = extract::extract_with(
            &input.bytes,
            input.content_type.as_deref(),
            Options::default(),
        );
        let base = input.url.host_str().map(|_| &input.url);
        let page_meta = meta::page_meta(&first.source, base);
        let host = template_host(&input.url, page_meta.canonical.as_ref());
        let counted = store.count_template_page(
            &host,
            input.url.as_str(),
            &first.line_hashes,
            MAX_TEMPLATE_PAGES,
        )?;
        if counted || !self.templates.contains_key(&host) {
            let learned = store.site_template(&host)?;
            self.templates.insert(host.clone(), learned);
        }
        let read = Read {
            input,
            meta: page_meta,
            host,
            plain: first.extracted,
        };
        let mut ready = Vec::new();
        if self.template_of(&read.host).is_none() {
            // Not enough pages of this site yet: the page waits for its template.
            self.waiting_bytes += read.input.bytes.len();
            self.waiting.push(read);
            while self.waiting_bytes > MAX_WAITING_BYTES && !self.waiting.is_empty() {
                let oldest = self.waiting.remove(0);
                self.waiting_bytes -= oldest.input.bytes.len();
                ready.push(self.build(oldest, None));
            }
            return Ok(ready);
        }
        // The template is known: the pages that waited for it go first, in order.
        let host = read.host.clone();
        let template = self.template_of(&host).cloned();
        let (now, still): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|r| r.host == host);
        self.waiting = still;
        for page in now {
            self.waiting_bytes -= page.input.bytes.len();
            ready.push(self.build(page, template.as_ref()));
        }
        ready.push(self.build(read, template.as_ref()));
        Ok(ready)
    }

    /// The pages still waiting at the end of the pass, extracted without a template.
    pub fn finish(&mut self) -> Vec<Prepared> {
        self.waiting_bytes = 0;
        std::mem::take(&mut self.waiting)
            .into_iter()
            .map(|page| self.build(page, None))
            .collect()
    }

    fn template_of(&self, host: &str) -> Option<&SiteTemplate> {
        self.templates.get(host).and_then(Option::as_ref)
    }

    /// Extracts a page and turns it into an article.
    fn build(&mut self, read: Read, template: Option<&SiteTemplate>) -> Prepared {
        let Read {
            input,
            meta,
            host,
            plain,
        } = read;
        let rules = self.settings.rules_for(&host);
        let mut extracted = if template.is_none() && rules.is_none() {
            plain
        } else {
            let options = Options { template, rules };
            extract::extract_with(&input.bytes, input.content_type.as_deref(), options).extracted
        };
        if let Some(feed_html) = input.link.as_ref().and_then(|l| l.content_html.as_deref()) {
            let feed_text = extract::fragment_text(feed_html);
            if chars(&feed_text) as f64 >= FEED_GAIN * chars(&extracted.text) as f64 {
                extracted.text = feed_text;
                extracted.method = Method::Feed;
            }
        }
        // The link as listed by the outlet is the article's identity; a canonical link
        // on the page wins when present, so that tracking parameters do not split it.
        let url = meta.canonical.clone().unwrap_or_else(|| input.url.clone());
        let text_chars = chars(&extracted.text);
        let suspect = suspect_reason(text_chars, &extracted, self.lengths.get(&host));
        let label = input.url.to_string();
        match super::build_article(url, input.source, extracted, meta, input.link.as_ref()) {
            Some(mut article) => {
                article.suspect = suspect;
                self.lengths.entry(host).or_default().push(text_chars);
                Prepared::Article(Box::new(article))
            }
            None => Prepared::Failed(label, "no article text found".into()),
        }
    }
}

fn chars(text: &str) -> usize {
    text.chars().filter(|c| !c.is_whitespace()).count()
}

/// Why a text of `text_chars` characters looks truncated, if it does: much shorter than
/// the readable text of its page, or than its site's other articles. The outlet's own
/// selector and its feed's text are taken as the outlet meant them.
pub fn suspect_reason(
    text_chars: usize,
    extracted: &extract::Extracted,
    site_lengths: Option<&Vec<usize>>,
) -> Option<String> {
    if matches!(
        extracted.method,
        Method::Selector | Method::Feed | Method::PlainText
    ) {
        return None;
    }
    let mut reasons = Vec::new();
    if (text_chars as f64) < SUSPECT_PAGE_SHARE * extracted.page_chars as f64 {
        reasons.push(format!(
            "{text_chars} of the page's {} readable characters",
            extracted.page_chars
        ));
    }
    if let Some(lengths) = site_lengths.filter(|l| l.len() >= SUSPECT_SITE_MIN_ARTICLES) {
        let mut sorted = lengths.clone();
        sorted.sort_unstable();
        let median = sorted[sorted.len() / 2];
        if (text_chars as f64) < SUSPECT_SITE_SHARE * median as f64 {
            reasons.push(format!(
                "{text_chars} characters where the site's articles have a median of {median}"
            ));
        }
    }
    (!reasons.is_empty()).then(|| reasons.join("; "))
}
