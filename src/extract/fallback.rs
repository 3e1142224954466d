//! The second opinion: a readability extraction (the `dom_smoothie` crate, a port of
//! Mozilla's Readability) consulted when our own container choice looks collapsed.
//!
//! Our scorer picks one container and is precise, but on some templates it settles for
//! one short block (a standfirst, a caption, the first comment) while the page holds a
//! long main text. Readability climbs and joins siblings more eagerly: better recall,
//! worse precision. So it is asked only when our selection holds much less than the
//! page's readable text, its lines that our own analysis knows to be furniture
//! (link lists, boilerplate-named blocks) are dropped, and its text replaces ours only
//! when it is clearly fuller and still holds what we found.
//!
//! Pure: no I/O. Bounded: readability parses at most [`MAX_ELEMENTS`] elements, and it
//! only ever sees the page after `nesting::flatten` has capped its depth.

use std::collections::HashSet;

use super::dom::{collapse_ws, Doc, Line};
use super::score::{is_prose_line, title_owner, under_boilerplate, under_strong_boilerplate};

/// Elements readability parses at most; beyond that it refuses and we keep our own text.
const MAX_ELEMENTS: usize = 100_000;

/// Our selection is suspect when it holds less than this share of the page's readable
/// text. Pages with a long article and short furniture sit well above it; a selection
/// that took a standfirst or a caption sits well below.
pub const SUSPECT_SHARE: f64 = 0.5;

/// The fallback must be at least this much longer than our selection to replace it.
const MIN_GAIN: f64 = 1.3;

/// Share of our selection's text that the fallback must also hold to replace it, unless
/// our selection is tiny next to it (then it was a caption, and it does not matter).
const MIN_KEPT_SHARE: f64 = 0.7;

/// Below this share of the fallback's length our selection is a collapse whatever it is.
const COLLAPSE_SHARE: f64 = 0.2;

/// Below this share of all the page's text lines (whatever their elements are named)
/// a selection is suspect too: when a page's naming fools our boilerplate hints, its
/// readable text looks small and the share above cannot see the collapse.
pub const SUSPECT_TEXT_SHARE: f64 = 0.25;

/// Whether a selection of `selected_chars` looks collapsed on a page of `prose_chars`
/// readable characters and `text_chars` characters in text lines of any element.
pub fn is_suspect(selected_chars: usize, prose_chars: usize, text_chars: usize) -> bool {
    let selected = selected_chars as f64;
    selected < SUSPECT_SHARE * prose_chars as f64
        || selected < SUSPECT_TEXT_SHARE * text_chars as f64
}

/// Characters of the page's text lines, boilerplate names ignored: lines of at least ten
/// characters that are not mostly links, nor (`template[i]`) the site's template.
pub fn text_chars(doc: &Doc, template: &[bool]) -> usize {
    let none = vec![false; doc.elems.len()];
    doc.lines
        .iter()
        .enumerate()
        .filter(|&(i, l)| !is_template(template, i) && is_prose_line(l, &none))
        .map(|(_, l)| l.chars)
        .sum()
}

fn is_template(template: &[bool], i: usize) -> bool {
    template.get(i).copied().unwrap_or(false)
}

/// Readability's main text of `source`, one paragraph per line, each marked when `doc`
/// knows it to be page furniture (`template[i]`: line `i` is the site's template).
/// `None` when readability finds nothing.
pub fn readability_lines(
    source: &str,
    doc: &Doc,
    title: &str,
    template: &[bool],
) -> Option<Vec<AltLine>> {
    let config = dom_smoothie::Config {
        text_mode: dom_smoothie::TextMode::Formatted,
        max_elements_to_parse: MAX_ELEMENTS,
        ..Default::default()
    };
    let mut reader = dom_smoothie::Readability::new(source, None, Some(config)).ok()?;
    let article = reader.parse().ok()?;
    let mut under = under_boilerplate(doc, title_owner(doc, title));
    // Boilerplate names are trusted only on a page where they leave most of the text
    // readable: on a page whose every block is called `sidebar-layout` or `promo-grid`
    // they say little, and only link lists and the names that cannot be a layout habit
    // (related stories, comments) mark furniture.
    let named_prose: usize = doc
        .lines
        .iter()
        .filter(|l| is_prose_line(l, &under))
        .map(|l| l.chars)
        .sum();
    if (named_prose as f64) < SUSPECT_SHARE * text_chars(doc, template) as f64 {
        under = under_strong_boilerplate(doc, title_owner(doc, title));
    }
    // Furniture is what our own analysis rejects; a text that also occurs as a prose
    // line elsewhere on the page is not furniture.
    let prose_line = |i: usize, l: &Line| !is_template(template, i) && is_prose_line(l, &under);
    let prose: HashSet<&str> = doc
        .lines
        .iter()
        .enumerate()
        .filter(|&(i, l)| prose_line(i, l))
        .map(|(_, l)| l.text.as_str())
        .collect();
    let furniture: HashSet<&str> = doc
        .lines
        .iter()
        .enumerate()
        .filter(|&(i, l)| !prose_line(i, l) && !prose.contains(l.text.as_str()))
        .map(|(_, l)| l.text.as_str())
        .collect();
    let lines: Vec<AltLine> = article
        .text_content
        .lines()
        .map(collapse_ws)
        .filter(|l| !l.is_empty())
        .map(|text| AltLine {
            furniture: furniture.contains(text.as_str()),
            text,
        })
        .collect();
    (!lines.is_empty()).then_some(lines)
}

/// A line of readability's text, with whether our analysis calls it furniture.
pub struct AltLine {
    pub text: String,
    pub furniture: bool,
}

/// The article's lines out of readability's: furniture dropped, and when our own
/// selection was a real part of the article (not a collapse), everything after the first
/// furniture line that follows the last line we had found: readability's eager sibling
/// joining runs past a pager or a "more news" bar into lists of teasers.
pub fn article_lines(selected: &[&Line], alternative: Vec<AltLine>) -> Vec<String> {
    let selected_chars: usize = selected.iter().map(|l| l.chars).sum();
    let alternative_chars: usize = alternative
        .iter()
        .filter(|l| !l.furniture)
        .map(|l| non_ws(&l.text))
        .sum();
    let ours: HashSet<&str> = selected.iter().map(|l| l.text.as_str()).collect();
    let cut = if (selected_chars as f64) < COLLAPSE_SHARE * alternative_chars as f64 {
        None
    } else {
        alternative
            .iter()
            .rposition(|l| ours.contains(l.text.as_str()))
            .and_then(|last| {
                alternative[last..]
                    .iter()
                    .position(|l| l.furniture)
                    .map(|p| last + p)
            })
    };
    alternative
        .into_iter()
        .take(cut.unwrap_or(usize::MAX))
        .filter(|l| !l.furniture)
        .map(|l| l.text)
        .collect()
}

/// Whether the fallback's `alternative` lines should replace our `selected` lines.
pub fn prefer_alternative(selected: &[&Line], alternative: &[String]) -> bool {
    let selected_chars: usize = selected.iter().map(|l| l.chars).sum();
    let alternative_chars: usize = alternative.iter().map(|l| non_ws(l)).sum();
    if alternative_chars == 0 || (alternative_chars as f64) < MIN_GAIN * selected_chars as f64 {
        return false;
    }
    if (selected_chars as f64) < COLLAPSE_SHARE * alternative_chars as f64 {
        return true;
    }
    let haystack: String = alternative.join(" ");
    let kept: usize = selected
        .iter()
        .filter(|l| haystack.contains(l.text.as_str()))
        .map(|l| l.chars)
        .sum();
    kept as f64 >= MIN_KEPT_SHARE * selected_chars as f64
}

fn non_ws(s: &str) -> usize {
    s.chars().filter(|c| !c.is_whitespace()).count()
}
