//! Site templates: what a site's pages have in common is its template, what varies is
//! the article.
//!
//! Every page of a site is poured into one template (masthead, menus, promos, the
//! "chat with us" box, the footer), and no generic extractor knows which block that is.
//! A site's pages seen together do: a line of text that recurs on a good share of them
//! is template, whatever its punctuation or length. We count, per host, on how many
//! pages each line occurs ([`page_line_hashes`], counts kept in the store), and a learned
//! [`SiteTemplate`] tells extraction which lines may not vote for the article's
//! container, so a recurring promo can never be chosen as the main text.
//!
//! Pure: the counts come from the store and go back to it.

use std::collections::HashSet;
use std::hash::Hasher;

use super::dom::Doc;

/// Pages of a host needed before its template is used: with fewer, a line shared by two
/// pages may be a story and its follow-up.
pub const MIN_PAGES: u32 = 5;

/// A line on at least this share of the host's pages (and on at least
/// [`MIN_RECURRING_PAGES`]) is template.
pub const RECURRING_SHARE: f64 = 0.3;

/// Fewest pages a template line occurs on.
pub const MIN_RECURRING_PAGES: u32 = 3;

/// Distinct lines counted per page at most: a hostile page cannot flood the counts.
pub const MAX_LINES_PER_PAGE: usize = 4000;

/// Lines shorter than this are not counted: single words ("Share", "首页") recur on
/// every site and carry no information about the template.
const MIN_LINE_CHARS: usize = 4;

/// A host's learned template: the hashes of its recurring lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteTemplate {
    /// Pages the template was learned from.
    pub pages: u32,
    recurring: HashSet<u64>,
}

impl SiteTemplate {
    /// The template of a host whose `pages` pages gave these `(line hash, pages with the
    /// line)` counts; `None` while fewer than [`MIN_PAGES`] pages were seen.
    pub fn from_counts(
        pages: u32,
        counts: impl IntoIterator<Item = (u64, u32)>,
    ) -> Option<SiteTemplate> {
        if pages < MIN_PAGES {
            return None;
        }
        let floor = (RECURRING_SHARE * pages as f64)
            .ceil()
            .max(MIN_RECURRING_PAGES as f64) as u32;
        let recurring = counts
            .into_iter()
            .filter(|&(_, n)| n >= floor)
            .map(|(h, _)| h)
            .collect();
        Some(SiteTemplate { pages, recurring })
    }

    /// Whether a line of this text is part of the template.
    pub fn contains(&self, line: &str) -> bool {
        self.recurring.contains(&line_hash(line))
    }

    /// Number of template lines.
    pub fn len(&self) -> usize {
        self.recurring.len()
    }

    /// Whether the template has no lines.
    pub fn is_empty(&self) -> bool {
        self.recurring.is_empty()
    }
}

/// Hash of a line's text as the template counts it (whitespace already collapsed by
/// `dom`). Stable across releases: the counts are stored.
pub fn line_hash(line: &str) -> u64 {
    // Fixed keys: the hashes are persisted, so they must not change between runs.
    let mut h = siphasher::sip::SipHasher13::new_with_keys(0x636f_7079, 0x0068_6f75_6e64);
    h.write(line.as_bytes());
    h.finish()
}

/// The distinct line hashes of a page, for counting; bounded by [`MAX_LINES_PER_PAGE`].
pub fn page_line_hashes(doc: &Doc) -> Vec<u64> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for line in &doc.lines {
        if line.chars < MIN_LINE_CHARS {
            continue;
        }
        let h = line_hash(&line.text);
        if seen.insert(h) {
            out.push(h);
            if out.len() >= MAX_LINES_PER_PAGE {
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_needs_enough_pages_and_recurrence() {
        let promo = line_hash("Chat with us on WhatsApp");
        let story = line_hash("The mayor opened the new bridge on Monday.");
        assert_eq!(SiteTemplate::from_counts(4, [(promo, 4)]), None);
        let t = SiteTemplate::from_counts(10, [(promo, 9), (story, 1)]).unwrap();
        assert!(t.contains("Chat with us on WhatsApp"));
        assert!(!t.contains("The mayor opened the new bridge on Monday."));
        // 2 of 10 pages is under both the share and the floor.
        let t = SiteTemplate::from_counts(10, [(promo, 2)]).unwrap();
        assert!(t.is_empty());
    }
}
