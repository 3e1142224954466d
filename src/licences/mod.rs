//! Licences: which partners may copy the outlet's articles, on which terms, and whether
//! a copy on a partner's site keeps them.
//!
//! A [`Licence`] comes from the config (`[[licences]]`) or from the review desk (the
//! store's `licences` table); [`LicenceBook`] holds both and answers "which licence
//! covers this URL on this date". [`check`] judges one copy against its licence: the
//! attribution near the copied text, a link back to the original, the title kept, the
//! excerpt share, and the capture date within the licence's validity.
//!
//! `mod.rs` is pure: it takes strings, dates and URLs and returns values. It never
//! fetches, reads the clock or speaks SQL; the examination stage gathers the page
//! (`CopyPage`) and the store records the verdict. [`recheck`] is the edge that judges
//! recorded matches again (`copyhound licences check`).

pub mod recheck;

use chrono::NaiveDate;
use serde::Serialize;
use url::Url;

use crate::crawl::urls::{parse_domain, DomainSet};

/// How far from the copied text an attribution may stand, in folded characters of the
/// page's whole text: the source line under a headline or after the last paragraph is
/// near; one in a sidebar of "partners" far below is not.
pub const NEAR_CHARS: usize = 200;

/// The folded characters of the copied text's start and end that locate it in the
/// page's whole text.
const LOCATE_CHARS: usize = 16;

/// Attribution forms a licence may list, and their length: config and desk input is
/// bounded so a check stays cheap.
pub const MAX_FORMS: usize = 20;
pub const MAX_FORM_CHARS: usize = 100;
/// Domains one licence may cover.
pub const MAX_DOMAINS: usize = 50;

/// Where a licence is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum LicenceSource {
    /// A `[[licences]]` entry of the config file.
    Config,
    /// Added on the review desk: the store's row `id`.
    Desk { id: i64 },
}

/// How much of an article the partner may publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The full text.
    Full,
    /// An excerpt only: a copy holding more than `excerpt_max_share` of the original
    /// breaks the licence.
    Excerpt,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Full => "full",
            Scope::Excerpt => "excerpt",
        }
    }

    pub fn parse(text: &str) -> Option<Scope> {
        match text {
            "full" => Some(Scope::Full),
            "excerpt" => Some(Scope::Excerpt),
            _ => None,
        }
    }
}

/// The terms a copy is checked against.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Terms {
    /// The copy must name the outlet near the copied text.
    pub attribution: bool,
    /// The accepted attributions (`来源：江城日报`); empty means [`default_forms`] of
    /// the outlet's name.
    pub attribution_forms: Vec<String>,
    /// The copy must link to the original's URL.
    pub link_back: bool,
    /// The copy's title must be the original's.
    pub title_unchanged: bool,
    pub scope: Scope,
    /// With [`Scope::Excerpt`]: the largest share of the original a copy may hold.
    pub excerpt_max_share: f64,
}

impl Default for Terms {
    fn default() -> Terms {
        Terms {
            attribution: true,
            attribution_forms: Vec::new(),
            link_back: true,
            title_unchanged: true,
            scope: Scope::Full,
            excerpt_max_share: DEFAULT_EXCERPT_SHARE,
        }
    }
}

/// `excerpt_max_share` when the licence does not say.
pub const DEFAULT_EXCERPT_SHARE: f64 = 0.3;

/// One licence: a partner, its sites, when it holds and on which terms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Licence {
    pub source: LicenceSource,
    pub partner: String,
    /// Domains (each covering its subdomains) or `host:port` sites, as written.
    pub domains: Vec<String>,
    pub valid_from: NaiveDate,
    /// The last day it holds; `None` for a licence without an end.
    pub valid_to: Option<NaiveDate>,
    pub terms: Terms,
}

impl Licence {
    /// The stable name a match's compliance row refers to: `config:PARTNER` or
    /// `desk:ID`.
    pub fn key(&self) -> String {
        match self.source {
            LicenceSource::Config => format!("config:{}", self.partner),
            LicenceSource::Desk { id } => format!("desk:{id}"),
        }
    }

    /// Whether `day` falls within the licence's validity.
    pub fn holds_on(&self, day: NaiveDate) -> bool {
        day >= self.valid_from && self.valid_to.is_none_or(|to| day <= to)
    }

    fn sites(&self) -> DomainSet {
        let mut set = DomainSet::default();
        for d in &self.domains {
            if let Ok(site) = parse_site(d) {
                set.insert_host_key(&site);
            }
        }
        set
    }
}

/// Turns a licence's domain as written into its canonical form: a domain name (see
/// [`parse_domain`]) or `host:port`, a site served on its own port.
///
/// # Errors
/// A message saying what is wrong with the text.
pub fn parse_site(text: &str) -> Result<String, String> {
    let t = text.trim();
    if let Some((host, port)) = t.rsplit_once(':') {
        if !host.contains(':') && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) {
            let host = parse_domain(host)?;
            let port: u16 = port
                .parse()
                .map_err(|_| format!("invalid port in {text:?}"))?;
            return Ok(format!("{host}:{port}"));
        }
    }
    parse_domain(t)
}

/// One thing a copy lacks under its licence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Missing {
    /// No attribution near the copied text.
    Attribution,
    /// No link to the original's URL.
    Link,
    /// The title differs from the original's.
    Title,
    /// An excerpt-only licence, and the copy holds more than its share.
    Excerpt,
}

impl Missing {
    pub const ALL: [Missing; 4] = [
        Missing::Attribution,
        Missing::Link,
        Missing::Title,
        Missing::Excerpt,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Missing::Attribution => "attribution",
            Missing::Link => "link",
            Missing::Title => "title",
            Missing::Excerpt => "excerpt",
        }
    }

    pub fn parse(text: &str) -> Option<Missing> {
        Missing::ALL.into_iter().find(|m| m.as_str() == text)
    }
}

/// What a copy on a licensed site is, judged against its licence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every term kept: recorded `licensed`.
    Compliant,
    /// Recorded `licensed-noncompliant`, with what is missing (never empty).
    Noncompliant(Vec<Missing>),
    /// Captured after the licence ended: an ordinary match.
    Expired,
    /// Captured before the licence began: an ordinary match.
    NotYetValid,
}

impl Verdict {
    /// The stored and printed name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Compliant => "compliant",
            Verdict::Noncompliant(_) => "noncompliant",
            Verdict::Expired => "expired",
            Verdict::NotYetValid => "not-yet-valid",
        }
    }

    /// Whether the licence held on the capture's date (the copy is the partner's).
    pub fn within_validity(&self) -> bool {
        matches!(self, Verdict::Compliant | Verdict::Noncompliant(_))
    }

    pub fn missing(&self) -> &[Missing] {
        match self {
            Verdict::Noncompliant(m) => m,
            _ => &[],
        }
    }
}

/// What a check needs of the copy's page, gathered by the caller from the capture.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyPage {
    /// The extracted main text (the copied text is in it).
    pub main_text: String,
    /// Every text of the page in document order (tags stripped), for the lines just
    /// around the main text: a source line often sits under the headline.
    pub page_text: String,
    /// The extracted title.
    pub title: String,
    /// The page's anchors, resolved and normalised by the caller the same way as
    /// [`Original::url_key`].
    pub link_keys: Vec<String>,
}

/// What a check needs of the original copied.
#[derive(Debug, Clone, Copy)]
pub struct Original<'a> {
    pub title: &'a str,
    /// The original's URL, normalised as the page's links are.
    pub url_key: &'a str,
}

/// The default attribution forms for an outlet named `name`: "source: NAME" in the
/// ways Chinese and English sites write it (`来源：`, `稿源：`, `转自`, `转载自`,
/// `Source:`, `via`), also with a trailing `社` left out (`江城日报社` is cited as
/// `江城日报`). The bare name is not enough: the copied byline often holds it.
pub fn default_forms(name: &str) -> Vec<String> {
    let name = name.trim();
    if name.is_empty() {
        return Vec::new();
    }
    let mut names = vec![name.to_string()];
    if let Some(short) = name.strip_suffix('社').filter(|s| s.chars().count() >= 2) {
        names.push(short.to_string());
    }
    let mut forms = Vec::new();
    for n in &names {
        for prefix in [
            "来源：",
            "稿源：",
            "转自",
            "转载自",
            "本文来源：",
            "Source: ",
            "via ",
        ] {
            forms.push(format!("{prefix}{n}"));
        }
    }
    forms
}

/// Judges `page`, a copy of `original` holding `share` of it, captured on
/// `captured_on`, against `licence`. `default_forms` are the attributions accepted when
/// the licence lists none (see [`default_forms`]).
pub fn check(
    licence: &Licence,
    page: &CopyPage,
    original: Original<'_>,
    share: f64,
    captured_on: NaiveDate,
    default_forms: &[String],
) -> Verdict {
    if captured_on < licence.valid_from {
        return Verdict::NotYetValid;
    }
    if licence.valid_to.is_some_and(|to| captured_on > to) {
        return Verdict::Expired;
    }
    let terms = &licence.terms;
    let mut missing = Vec::new();
    if terms.attribution {
        let forms = if terms.attribution_forms.is_empty() {
            default_forms
        } else {
            &terms.attribution_forms
        };
        if !attribution_near(forms, page) {
            missing.push(Missing::Attribution);
        }
    }
    if terms.link_back && !page.link_keys.iter().any(|k| k == original.url_key) {
        missing.push(Missing::Link);
    }
    if terms.title_unchanged && !title_kept(&page.title, original.title) {
        missing.push(Missing::Title);
    }
    if terms.scope == Scope::Excerpt && share > terms.excerpt_max_share {
        missing.push(Missing::Excerpt);
    }
    if missing.is_empty() {
        Verdict::Compliant
    } else {
        Verdict::Noncompliant(missing)
    }
}

/// `text` as the engine compares it (NFKC, so full-width forms become half-width;
/// traditional → simplified; pinyin annotations, punctuation and case folded), with
/// every space and line break removed: `來源：江城日報` and `来源: 江城日报` are both
/// `来源江城日报`.
pub fn compact(text: &str) -> String {
    crate::text::fold(text)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// Whether one of `forms` stands in the main text or in the page's text just around it
/// ([`NEAR_CHARS`] either side).
fn attribution_near(forms: &[String], page: &CopyPage) -> bool {
    let forms: Vec<String> = forms
        .iter()
        .map(|f| compact(f))
        .filter(|f| !f.is_empty())
        .collect();
    if forms.is_empty() {
        return false;
    }
    let main = compact(&page.main_text);
    if forms.iter().any(|f| main.contains(f.as_str())) {
        return true;
    }
    let whole: Vec<char> = compact(&page.page_text).chars().collect();
    let main: Vec<char> = main.chars().collect();
    if main.is_empty() || whole.is_empty() {
        return false;
    }
    let head: String = main[..main.len().min(LOCATE_CHARS)].iter().collect();
    let tail: String = main[main.len().saturating_sub(LOCATE_CHARS)..]
        .iter()
        .collect();
    let whole_text: String = whole.iter().collect();
    let (Some(start), Some(end)) = (whole_text.find(&head), whole_text.rfind(&tail)) else {
        return false;
    };
    // Byte positions to character positions.
    let start = whole_text[..start].chars().count();
    let end = whole_text[..end].chars().count() + tail.chars().count();
    let from = start.saturating_sub(NEAR_CHARS);
    let to = end.max(start).saturating_add(NEAR_CHARS).min(whole.len());
    let window: String = whole[from..to].iter().collect();
    forms.iter().any(|f| window.contains(f.as_str()))
}

/// Separators between a headline and the site's name in a page title.
const TITLE_SEPARATORS: [&str; 9] = [" - ", " – ", " — ", " | ", "_", "｜", "－", "——", " · "];

/// Whether `copy_title` is `original_title` (compacted), alone or with the copying
/// site's name before or after a separator (`标题 - 天天资讯网`, `标题_合作网`).
pub fn title_kept(copy_title: &str, original_title: &str) -> bool {
    let original = compact(original_title);
    if original.is_empty() {
        return true;
    }
    if compact(copy_title) == original {
        return true;
    }
    TITLE_SEPARATORS
        .iter()
        .any(|sep| copy_title.split(sep).any(|part| compact(part) == original))
}

/// The licences in force for the pipeline: the config's and the desk's.
#[derive(Debug, Clone, Default)]
pub struct LicenceBook {
    entries: Vec<(DomainSet, Licence)>,
    /// The attributions accepted when a licence lists none.
    default_forms: Vec<String>,
}

impl LicenceBook {
    /// A book of `licences`, with the default attributions of the outlet `outlet_name`.
    pub fn new(licences: Vec<Licence>, outlet_name: &str) -> LicenceBook {
        LicenceBook {
            entries: licences.into_iter().map(|l| (l.sites(), l)).collect(),
            default_forms: default_forms(outlet_name),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn licences(&self) -> impl Iterator<Item = &Licence> {
        self.entries.iter().map(|(_, l)| l)
    }

    pub fn default_forms(&self) -> &[String] {
        &self.default_forms
    }

    /// Whether some licence (valid or not) covers `url`'s site.
    pub fn covers(&self, url: &Url) -> bool {
        self.entries
            .iter()
            .any(|(sites, _)| sites.contains_url(url))
    }

    /// The licence that judges a copy at `url` captured on `day`: one that holds that
    /// day (the config's before the desk's, then in order), else the one that ended
    /// last (the copy is then judged expired or not yet valid).
    pub fn for_url(&self, url: &Url, day: NaiveDate) -> Option<&Licence> {
        let covering: Vec<&Licence> = self
            .entries
            .iter()
            .filter(|(sites, _)| sites.contains_url(url))
            .map(|(_, l)| l)
            .collect();
        covering
            .iter()
            .find(|l| l.holds_on(day))
            .or_else(|| {
                covering
                    .iter()
                    .max_by_key(|l| l.valid_to.unwrap_or(NaiveDate::MAX))
            })
            .copied()
    }

    /// [`check`] with this book's default attributions.
    pub fn check(
        &self,
        licence: &Licence,
        page: &CopyPage,
        original: Original<'_>,
        share: f64,
        captured_on: NaiveDate,
    ) -> Verdict {
        check(
            licence,
            page,
            original,
            share,
            captured_on,
            &self.default_forms,
        )
    }
}

#[cfg(test)]
mod tests;
