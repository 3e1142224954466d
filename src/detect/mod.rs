//! Verification: containment, aligned passages and a verdict (pure, no I/O).
//!
//! This module owns the decision whether a candidate page copies an original article, and
//! the evidence for it: passages with character offsets into both texts and the copied text
//! quoted from the candidate. It must never do I/O or panic on any input (documents are
//! public structs, so offsets are checked, not trusted), and its cost must stay linear in
//! the two texts' lengths.
//!
//! The alignment (see `align`) seeds with 4-token k-grams of the candidate in a hash map,
//! extends each seed to a maximal exact run, and merges runs separated by small gaps on both
//! sides into passages. Passages shorter than a clause are coincidences or stock phrases
//! and are ignored. Containment is the share of the original's tokens inside the remaining
//! passages, which is insensitive to padding (ads, templates) and to paragraph order.

pub mod align;
#[cfg(test)]
pub(crate) mod testdata;

use serde::Serialize;

use crate::text::Token;

/// The outcome of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Most of the original is in the candidate.
    Copy,
    /// A substantial part of the original is in the candidate (an excerpt).
    Partial,
    /// No more than coincidences or a short quotation.
    Unrelated,
}

/// Thresholds of the verdict, from `[detect]` in the config.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectParams {
    /// Containment at or above which a candidate is a `copy`.
    pub copy_threshold: f64,
    /// Containment at or above which a candidate is at least `partial`.
    pub partial_threshold: f64,
    /// Number of consecutive original paragraphs copied that makes a candidate `partial`.
    pub partial_min_paragraphs: usize,
    /// Matched CJK characters that make a passage count on their own (12, about one clause).
    /// Shorter matches are stock phrases (`中共中央总书记`) shared by unrelated articles.
    pub min_passage_cjk: usize,
    /// Matched words of other scripts that make a passage count on their own (8). Mixed
    /// passages count when the two shares add up to one.
    pub min_passage_words: usize,
    /// Largest gap, in tokens on either side, that still joins two runs into one passage
    /// (8): enough for a substituted word, an inserted ad link or unrepaired debris, small
    /// enough not to bridge unrelated sentences.
    pub max_gap_tokens: usize,
    /// Share of a paragraph's tokens that must be in passages for the paragraph to count as
    /// copied in the `partial_min_paragraphs` rule (0.5).
    pub paragraph_copied_share: f64,
    /// Paragraphs with fewer tokens than this (20) neither count nor break a run of copied
    /// paragraphs in that rule: titles, captions and datelines are often dropped or kept
    /// by copiers independently of the body, and three of them are no evidence of copying.
    pub min_paragraph_tokens: usize,
}

impl Default for DetectParams {
    fn default() -> Self {
        DetectParams {
            copy_threshold: 0.6,
            partial_threshold: 0.25,
            partial_min_paragraphs: 3,
            min_passage_cjk: 12,
            min_passage_words: 8,
            max_gap_tokens: 8,
            paragraph_copied_share: 0.5,
            min_paragraph_tokens: 20,
        }
    }
}

/// One aligned passage: character offsets into the original's and the candidate's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Passage {
    /// Start of the passage in the original's text, in characters.
    pub original_start: usize,
    /// End (exclusive) of the passage in the original's text, in characters.
    pub original_end: usize,
    /// Start of the passage in the candidate's text, in characters.
    pub candidate_start: usize,
    /// End (exclusive) of the passage in the candidate's text, in characters.
    pub candidate_end: usize,
    /// The copied text as it appears in the candidate.
    pub text: String,
}

/// A text prepared for comparison: normalised once, fingerprinted once.
#[derive(Debug, Clone)]
pub struct Document {
    /// Title, for reports; not compared.
    pub title: String,
    /// The text the offsets refer to.
    pub text: String,
    /// Tokens of `text`.
    pub normalized: crate::text::Normalized,
    /// Fingerprints of `normalized`.
    pub fingerprint: crate::fingerprint::Fingerprint,
}

impl Document {
    /// Normalises and fingerprints `text`.
    pub fn new(title: String, text: String) -> Document {
        let normalized = crate::text::normalize(&text);
        let fingerprint = crate::fingerprint::fingerprint(&normalized);
        Document {
            title,
            text,
            normalized,
            fingerprint,
        }
    }
}

/// The result of comparing a candidate with an original.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The decision.
    pub verdict: Verdict,
    /// Share of the original's tokens found in the candidate, 0..=1.
    pub containment: f64,
    /// Hamming distance of the whole-text SimHashes.
    pub hamming: u32,
    /// Aligned passages in original order.
    pub passages: Vec<Passage>,
}

/// Compares a candidate page's text with an original article.
///
/// Expected cost is linear in the two texts' token counts. The verdict is `copy` when
/// containment reaches `copy_threshold`, `partial` when it reaches `partial_threshold` or
/// when `partial_min_paragraphs` consecutive original paragraphs are mostly copied, and
/// `unrelated` otherwise (which includes quoting a sentence or two).
pub fn compare(original: &Document, candidate: &Document, params: &DetectParams) -> Comparison {
    let o = &original.normalized.tokens;
    let c = &candidate.normalized.tokens;
    let runs = align::runs(o, c, params.max_gap_tokens);
    let kept: Vec<Vec<align::Run>> = align::passages(&runs, params.max_gap_tokens)
        .into_iter()
        .filter(|p| long_enough(o, p, params))
        .collect();

    let mut copied = vec![false; o.len()];
    for run in kept.iter().flatten() {
        copied[run.original..run.original + run.len].fill(true);
    }
    let matched = copied.iter().filter(|&&m| m).count();
    let containment = if o.is_empty() {
        0.0
    } else {
        matched as f64 / o.len() as f64
    };

    let verdict = if containment >= params.copy_threshold && matched > 0 {
        Verdict::Copy
    } else if (containment >= params.partial_threshold && matched > 0)
        || copied_paragraph_run(original, &copied, params) >= params.partial_min_paragraphs.max(1)
    {
        Verdict::Partial
    } else {
        Verdict::Unrelated
    };

    let quoter = Quoter::new(&candidate.text);
    let passages = kept
        .iter()
        .filter_map(|p| passage(o, c, p, &quoter))
        .collect();
    Comparison {
        verdict,
        containment,
        hamming: crate::fingerprint::hamming(
            original.fingerprint.whole,
            candidate.fingerprint.whole,
        ),
        passages,
    }
}

/// True when a passage has enough matched tokens not to be a coincidence.
fn long_enough(original: &[Token], passage: &[align::Run], params: &DetectParams) -> bool {
    let (mut cjk, mut words) = (0usize, 0usize);
    for run in passage {
        for t in &original[run.original..run.original + run.len] {
            if t.cjk {
                cjk += 1;
            } else {
                words += 1;
            }
        }
    }
    let share = |n: usize, min: usize| {
        if min == 0 {
            f64::INFINITY
        } else {
            n as f64 / min as f64
        }
    };
    share(cjk, params.min_passage_cjk) + share(words, params.min_passage_words) >= 1.0
}

/// Longest run of consecutive original paragraphs that are mostly copied.
fn copied_paragraph_run(original: &Document, copied: &[bool], params: &DetectParams) -> usize {
    let (mut best, mut current) = (0, 0);
    for p in &original.normalized.paragraphs {
        let Some(flags) = copied.get(p.clone()) else {
            continue;
        };
        if flags.len() < params.min_paragraph_tokens.max(1) {
            continue;
        }
        let share = flags.iter().filter(|&&m| m).count() as f64 / flags.len() as f64;
        if share >= params.paragraph_copied_share {
            current += 1;
            best = best.max(current);
        } else {
            current = 0;
        }
    }
    best
}

/// Character-offset slicing of a text, built once per comparison.
struct Quoter<'a> {
    text: &'a str,
    /// Byte offset of every character, plus the text length at the end.
    char_starts: Vec<usize>,
}

impl<'a> Quoter<'a> {
    fn new(text: &'a str) -> Quoter<'a> {
        let char_starts = text
            .char_indices()
            .map(|(b, _)| b)
            .chain([text.len()])
            .collect();
        Quoter { text, char_starts }
    }

    fn quote(&self, start: usize, end: usize) -> Option<&'a str> {
        let (from, to) = (*self.char_starts.get(start)?, *self.char_starts.get(end)?);
        self.text.get(from..to)
    }
}

/// Turns a group of runs into a reported passage.
fn passage(o: &[Token], c: &[Token], runs: &[align::Run], quoter: &Quoter) -> Option<Passage> {
    let (first, last) = (runs.first()?, runs.last()?);
    let original_start = o.get(first.original)?.start as usize;
    let original_end = o.get(first.original.max(last.original + last.len - 1))?.end as usize;
    let candidate_start = c.get(first.candidate)?.start as usize;
    let candidate_end = c.get(last.candidate + last.len - 1)?.end as usize;
    let text = quoter.quote(candidate_start, candidate_end)?.to_string();
    Some(Passage {
        original_start,
        original_end,
        candidate_start,
        candidate_end,
        text,
    })
}

#[cfg(test)]
mod tests;
