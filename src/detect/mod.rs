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
//!
//! The verdict looks at the copied text from both sides: how much of the original it is
//! (containment), how much of the candidate it is (coverage), and how long it is on its own
//! (copied characters and words). A long original excerpted at 10% is still a copy when the
//! excerpt is long; a short original is not copied by a page that quotes one of its
//! sentences.

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
    /// Copied CJK characters (Han, kana, hangul; punctuation not counted) that make a
    /// candidate `partial` whatever share of the original they are (250: a passage of
    /// about 280 characters with its punctuation). Counted over one stretch of the
    /// original: kept passages at most a sentence apart in it (see `longest_stretch`).
    pub partial_min_cjk_chars: usize,
    /// Copied words of other scripts that do the same (50, about 300 characters of
    /// English). Mixed text counts when the two shares add up to one.
    pub partial_min_words: usize,
    /// Copied text that lies within one sentence and is shorter than twice the absolute
    /// length above is a quotation, and a quotation makes no match, whatever its
    /// containment, unless it is at least this share (0.5) of the candidate's text: a
    /// page that is mostly the original's one sentence reposts it, it does not quote it.
    pub quote_max_coverage: f64,
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
            partial_min_cjk_chars: 250,
            partial_min_words: 50,
            quote_max_coverage: 0.5,
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
    /// One flag per token: true for boilerplate (the outlet's notice, bylines), which
    /// carries no weight when this document is the original. Empty means none.
    pub boilerplate: Vec<bool>,
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
            boilerplate: Vec::new(),
        }
    }

    /// Marks the tokens inside the archive's boilerplate (learned frequent sentences and
    /// notice paragraphs) so that copying only them never makes a copy.
    pub fn with_boilerplate(mut self, boilerplate: &crate::boilerplate::Boilerplate) -> Document {
        let ranges = boilerplate.ranges(&self.text);
        self.boilerplate = self
            .normalized
            .tokens
            .iter()
            .map(|t| {
                ranges
                    .iter()
                    .any(|r| r.start <= t.start as usize && (t.end as usize) <= r.end)
            })
            .collect();
        self
    }

    /// True when token `i` is boilerplate.
    fn is_boilerplate(&self, i: usize) -> bool {
        self.boilerplate.get(i).copied().unwrap_or(false)
    }
}

/// The result of comparing a candidate with an original.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The decision.
    pub verdict: Verdict,
    /// Share of the original's tokens found in the candidate, 0..=1.
    pub containment: f64,
    /// Share of the candidate's tokens that lie in copied passages, 0..=1: near 1 for a
    /// repost, small for a page that quotes or excerpts the original among its own text.
    /// Candidate tokens aligned with the original's boilerplate count on neither side.
    pub coverage: f64,
    /// Length of the copied text, in characters of the original: every character from
    /// the first to the last token of each exact run of the kept passages (punctuation and
    /// spaces between copied tokens included; the edited words between two runs, the
    /// original's boilerplate tokens and the separators next to them not).
    pub copied_chars: usize,
    /// Hamming distance of the whole-text SimHashes.
    pub hamming: u32,
    /// Aligned passages in original order.
    pub passages: Vec<Passage>,
}

/// Compares a candidate page's text with an original article.
///
/// Expected cost is linear in the two texts' token counts. The verdict:
/// - `copy` when containment reaches `copy_threshold`;
/// - `partial` when containment reaches `partial_threshold`, when the copied text reaches
///   the absolute length (`partial_min_cjk_chars` CJK characters or `partial_min_words`
///   words, shares adding up), or when `partial_min_paragraphs` consecutive original
///   paragraphs are mostly copied;
/// - `unrelated` otherwise, which includes quoting a sentence or two.
///
/// A quotation is `unrelated` whatever its containment and length: the copied text lies
/// within one sentence (of the original or of the candidate), is shorter than twice the
/// absolute length, and is less than `quote_max_coverage` of the candidate. One sentence
/// of a short original is a large share of it, and one long sentence may reach the
/// absolute length, but a page that quotes it among its own text has not copied the
/// article.
pub fn compare(original: &Document, candidate: &Document, params: &DetectParams) -> Comparison {
    let o = &original.normalized.tokens;
    let c = &candidate.normalized.tokens;
    let runs = align::runs(o, c, params.max_gap_tokens);
    let kept: Vec<Vec<align::Run>> = align::passages(&runs, params.max_gap_tokens)
        .into_iter()
        .filter(|p| long_enough(original, p, params))
        .collect();

    let mut copied = vec![false; o.len()];
    for run in kept.iter().flatten() {
        copied[run.original..run.original + run.len].fill(true);
    }
    // Boilerplate counts on neither side of the ratio: an article is as much copied with
    // or without its notice, and a page with only the notice copied nothing of it.
    let weighed = (0..o.len()).filter(|&i| !original.is_boilerplate(i));
    let (mut total, mut matched) = (0usize, 0usize);
    let (mut copied_cjk, mut copied_words) = (0usize, 0usize);
    for i in weighed {
        total += 1;
        if copied[i] {
            matched += 1;
            if o[i].cjk {
                copied_cjk += 1;
            } else {
                copied_words += 1;
            }
        }
    }
    let containment = if total == 0 {
        0.0
    } else {
        matched as f64 / total as f64
    };
    let (coverage, covered) = coverage(original, c.len(), &runs, &kept);
    let copied_chars = copied_chars(original, &kept);

    // The absolute length: the longest stretch of the original copied, in shares of
    // `partial_min_cjk_chars` and `partial_min_words`. A stretch joins kept passages that
    // are close in the original (an excerpt cut by inserted ads, reordered, or with a
    // sentence left out) but not passages scattered over it, which is what unrelated
    // articles of one genre share: election reports repeat "选举…为省人大常委会主任" a
    // dozen times, and a sum over all passages would add those up to a copy.
    let length = |cjk: usize, words: usize| {
        share(cjk, params.partial_min_cjk_chars) + share(words, params.partial_min_words)
    };
    let stretch = longest_stretch(original, &kept, &length);
    let long = matched > 0 && stretch >= 1.0;
    // A quotation: one sentence (on either side: the original may repeat a phrase of it
    // elsewhere, the page may break it across lines) among the page's own text. Up to
    // twice the absolute length, a "sentence" is one; beyond, the text has no
    // punctuation to speak of and its length decides.
    let quotation = matched > 0
        && length(copied_cjk, copied_words) < 2.0
        && coverage < params.quote_max_coverage
        && (one_sentence(&original.text, o, |i| {
            copied[i] && !original.is_boilerplate(i)
        }) || one_sentence(&candidate.text, c, |j| covered[j]));
    let by_share = matched > 0 && !quotation;
    let verdict = if by_share && containment >= params.copy_threshold {
        Verdict::Copy
    } else if (long && !quotation)
        || (by_share && containment >= params.partial_threshold)
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
        coverage,
        copied_chars,
        hamming: crate::fingerprint::hamming(
            original.fingerprint.whole,
            candidate.fingerprint.whole,
        ),
        passages,
    }
}

/// `n` as a share of `min`; a minimum of 0 is met by anything.
fn share(n: usize, min: usize) -> f64 {
    if min == 0 {
        f64::INFINITY
    } else {
        n as f64 / min as f64
    }
}

/// Share of the candidate's tokens inside the kept passages, and which tokens those are.
/// Candidate tokens aligned with the original's boilerplate (in any run, kept or not) are
/// left out of both sides.
fn coverage(
    original: &Document,
    candidate_tokens: usize,
    runs: &[align::Run],
    kept: &[Vec<align::Run>],
) -> (f64, Vec<bool>) {
    let mut covered = vec![false; candidate_tokens];
    let mut excluded = vec![false; candidate_tokens];
    for run in runs {
        for k in 0..run.len {
            if original.is_boilerplate(run.original + k) {
                if let Some(e) = excluded.get_mut(run.candidate + k) {
                    *e = true;
                }
            }
        }
    }
    for run in kept.iter().flatten() {
        for k in 0..run.len {
            if !original.is_boilerplate(run.original + k) {
                if let Some(c) = covered.get_mut(run.candidate + k) {
                    *c = true;
                }
            }
        }
    }
    let (mut total, mut hit) = (0usize, 0usize);
    for (c, e) in covered.iter().zip(&excluded) {
        if !e || *c {
            total += 1;
            hit += usize::from(*c);
        }
    }
    let share = if total == 0 {
        0.0
    } else {
        hit as f64 / total as f64
    };
    (share, covered)
}

/// Characters of the original spanned by the exact runs of the kept passages, without
/// boilerplate (see [`Comparison::copied_chars`]).
fn copied_chars(original: &Document, kept: &[Vec<align::Run>]) -> usize {
    let tokens = &original.normalized.tokens;
    let mut chars = 0usize;
    for run in kept.iter().flatten() {
        for i in run.original..run.original + run.len {
            let Some(t) = tokens.get(i) else { continue };
            if original.is_boilerplate(i) {
                continue;
            }
            chars += t.end.saturating_sub(t.start) as usize;
            // The separator before this token, when the previous one is copied too.
            if i > run.original && !original.is_boilerplate(i - 1) {
                if let Some(prev) = tokens.get(i - 1) {
                    chars += t.start.saturating_sub(prev.end) as usize;
                }
            }
        }
    }
    chars
}

/// True when no sentence of `text` ends between the first and the last of its tokens
/// that are `flagged`: the flagged text is one sentence or a part of one.
fn one_sentence(text: &str, tokens: &[Token], flagged: impl Fn(usize) -> bool) -> bool {
    let mut flagged = (0..tokens.len()).filter(|&i| flagged(i));
    let Some(first) = flagged.next() else {
        return true;
    };
    let last = flagged.last().unwrap_or(first);
    let (Some(from), Some(to)) = (tokens.get(first), tokens.get(last)) else {
        return true;
    };
    // The characters from the first flagged token to the last; a sentence end between
    // two consecutive tokens splits them.
    let chars: Vec<char> = text
        .chars()
        .skip(from.start as usize)
        .take(to.end.saturating_sub(from.start) as usize)
        .collect();
    let at = |offset: u32| {
        chars
            .get(offset.saturating_sub(from.start) as usize)
            .copied()
    };
    for k in first + 1..=last {
        let (prev, next) = (&tokens[k - 1], &tokens[k]);
        for offset in prev.end..next.start {
            let Some(ch) = at(offset) else { continue };
            let previous_word = || (prev.start..prev.end).filter_map(at).collect::<String>();
            if ends_sentence(ch, at(offset + 1), previous_word) {
                return false;
            }
        }
    }
    true
}

/// True when `c` (followed by `after`, right after the word `previous`) ends a sentence:
/// a full stop, question or exclamation mark of any script, or a line break. A Latin
/// full stop ends one only before a space or the end and not after an abbreviation
/// (`Mr.`, `Dr.`, `U.S.`: a capitalised word of at most three letters, or one letter):
/// splitting a quoted sentence in two would hide that it is a quotation.
fn ends_sentence(c: char, after: Option<char>, previous: impl FnOnce() -> String) -> bool {
    match c {
        '。' | '！' | '？' | '!' | '?' | '\n' | '۔' | '؟' | '।' => true,
        '.' if after.is_none_or(char::is_whitespace) => {
            let previous = previous();
            let letters = previous.chars().count();
            let abbreviation = previous.chars().all(char::is_alphabetic)
                && (letters == 1
                    || (letters <= 3 && previous.chars().next().is_some_and(char::is_uppercase)));
            !abbreviation
        }
        _ => false,
    }
}

/// Matched CJK characters and words of a passage in the original, boilerplate left out.
fn passage_tokens(original: &Document, passage: &[align::Run]) -> (usize, usize) {
    let tokens = &original.normalized.tokens;
    let (mut cjk, mut words) = (0usize, 0usize);
    for run in passage {
        for i in run.original..run.original + run.len {
            if original.is_boilerplate(i) {
                continue;
            }
            let Some(t) = tokens.get(i) else { continue };
            if t.cjk {
                cjk += 1;
            } else {
                words += 1;
            }
        }
    }
    (cjk, words)
}

/// True when a passage has enough matched tokens, outside boilerplate, not to be a
/// coincidence.
fn long_enough(original: &Document, passage: &[align::Run], params: &DetectParams) -> bool {
    let (cjk, words) = passage_tokens(original, passage);
    share(cjk, params.min_passage_cjk) + share(words, params.min_passage_words) >= 1.0
}

/// Original tokens that may lie between two kept passages of one stretch: about a
/// sentence, which a copier may leave out of an excerpt (more than `max_gap_tokens`,
/// which bounds an edit inside a passage).
const STRETCH_GAP_TOKENS: usize = 40;

/// The largest `length` of a stretch: kept passages (in original order) each at most
/// [`STRETCH_GAP_TOKENS`] after the previous one in the original, wherever they are in
/// the candidate.
fn longest_stretch(
    original: &Document,
    kept: &[Vec<align::Run>],
    length: &dyn Fn(usize, usize) -> f64,
) -> f64 {
    let (mut best, mut cjk, mut words) = (0.0f64, 0usize, 0usize);
    let mut end: Option<usize> = None;
    for passage in kept {
        let (Some(first), Some(last)) = (passage.first(), passage.last()) else {
            continue;
        };
        let joins = end.is_some_and(|e| first.original.saturating_sub(e) <= STRETCH_GAP_TOKENS);
        if !joins {
            (cjk, words) = (0, 0);
        }
        let (c, w) = passage_tokens(original, passage);
        cjk += c;
        words += w;
        best = best.max(length(cjk, words));
        let passage_end = last.original + last.len;
        end = Some(match end {
            Some(e) if joins => e.max(passage_end),
            _ => passage_end,
        });
    }
    best
}

/// Longest run of consecutive original paragraphs that are mostly copied.
fn copied_paragraph_run(original: &Document, copied: &[bool], params: &DetectParams) -> usize {
    let (mut best, mut current) = (0, 0);
    for p in &original.normalized.paragraphs {
        let Some(flags) = copied.get(p.clone()) else {
            continue;
        };
        // Short and boilerplate paragraphs (a byline, the notice) neither count nor break
        // a run of copied paragraphs.
        if flags.len() < params.min_paragraph_tokens.max(1)
            || p.clone().all(|i| original.is_boilerplate(i))
        {
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
