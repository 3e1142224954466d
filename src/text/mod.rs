//! Normalisation and tokenisation of article text (pure, no I/O).
//!
//! This module owns the folding that makes a copy look like its original again: repair of
//! Latin-1 mojibake, NFKC (full-width forms to ASCII), removal of markup debris and inline
//! pinyin annotations, case folding, traditional to simplified Chinese, and the split into
//! tokens (one per Han/kana/hangul character, one per word of other scripts). Every token
//! keeps character offsets into the ORIGINAL text so evidence can quote it exactly.
//!
//! It must never do I/O, read a clock or panic on any input, and it must never drop or
//! reorder a character in a way that breaks the offsets: every folding step maps each
//! output character back to the source characters it came from.

mod markup;
mod mojibake;
mod pinyin;
mod t2s;

use std::ops::Range;

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// One unit of comparison: a single Han/kana/hangul character, or one word of another script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// Hash of the token's folded form (NFKC, simplified, lower-cased). For CJK tokens it is
    /// the folded code point itself (a perfect hash below 2^21, which lets shingles pack three
    /// characters losslessly); for words it is [`word_hash`] of the folded word.
    pub hash: u64,
    /// Start of the token in the source text, in characters (Unicode scalar values).
    pub start: u32,
    /// End (exclusive) of the token in the source text, in characters.
    pub end: u32,
    /// True for Han/kana/hangul characters, false for words of other scripts.
    pub cjk: bool,
}

/// The normalised form of a text: its tokens and paragraph structure, with offsets back
/// into the source text.
#[derive(Debug, Clone, Default)]
pub struct Normalized {
    /// Tokens in source order.
    pub tokens: Vec<Token>,
    /// Token index ranges of the source paragraphs (non-empty ones only).
    pub paragraphs: Vec<Range<usize>>,
}

/// A folded character and the span of source characters it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unit {
    pub(crate) c: char,
    pub(crate) start: u32,
    pub(crate) end: u32,
}

impl Unit {
    fn spanning(c: char, start: usize, end: usize) -> Unit {
        Unit {
            c,
            start: offset(start),
            end: offset(end),
        }
    }
}

/// Converts a character index to the `u32` offsets tokens carry. Texts beyond 4 G
/// characters saturate instead of wrapping, so offsets stay monotonic.
fn offset(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// Normalises `text` into tokens with character offsets into `text`.
///
/// Paragraphs are the lines of `text` (separated by `\n`) that produce at least one token.
/// Punctuation, whitespace, markup debris and pinyin annotations produce no tokens.
pub fn normalize(text: &str) -> Normalized {
    let analysis = analyse(text);
    Normalized {
        tokens: analysis.tokens,
        paragraphs: analysis.paragraphs,
    }
}

/// The folded token stream of `text` as a readable string: CJK characters concatenated,
/// other tokens separated by single spaces, paragraphs separated by `\n`. Meant for tests
/// and debugging; detection works on [`normalize`].
pub fn fold(text: &str) -> String {
    let analysis = analyse(text);
    let mut out = String::new();
    let mut para = 0;
    for (k, range) in analysis.token_units.iter().enumerate() {
        if k > 0 {
            let new_para = analysis.paragraphs.get(para).is_some_and(|p| p.end <= k);
            if new_para {
                para += 1;
                out.push('\n');
            } else if !(analysis.tokens[k - 1].cjk && analysis.tokens[k].cjk) {
                out.push(' ');
            }
        }
        out.extend(analysis.units[range.clone()].iter().map(|u| u.c));
    }
    out
}

/// Hash of a folded non-CJK word: FNV-1a over its code points, finished with [`mix64`].
/// The constants are fixed because fingerprints are stored; changing them invalidates
/// every index.
pub fn word_hash(chars: impl IntoIterator<Item = char>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for c in chars {
        h = (h ^ u64::from(u32::from(c))).wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix64(h)
}

/// A strong 64-bit finaliser (the one of SplitMix64 / MurmurHash3): every input bit
/// affects every output bit, which SimHash needs because it uses all 64 bits.
#[inline]
pub fn mix64(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// True for Han ideographs (including compatibility ideographs, radicals and 〇).
pub fn is_han(c: char) -> bool {
    matches!(u32::from(c),
        0x3007
        | 0x2E80..=0x2FDF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xF900..=0xFAFF
        | 0x20000..=0x2EBEF
        | 0x30000..=0x3134F)
}

/// True for characters that are one token each: Han, kana, bopomofo and hangul.
pub fn is_cjk(c: char) -> bool {
    is_han(c)
        || matches!(u32::from(c),
            0x1100..=0x11FF
            | 0x3041..=0x309F
            | 0x30A1..=0x30FA
            | 0x30FC..=0x30FF
            | 0x3100..=0x312F
            | 0x3130..=0x318F
            | 0x31A0..=0x31BF
            | 0x31F0..=0x31FF
            | 0xA960..=0xA97F
            | 0xAC00..=0xD7AF
            | 0xD7B0..=0xD7FF)
}

/// Everything the pipeline produces; [`normalize`] keeps the tokens, [`fold`] also needs
/// the folded units behind each token.
struct Analysis {
    units: Vec<Unit>,
    tokens: Vec<Token>,
    token_units: Vec<Range<usize>>,
    paragraphs: Vec<Range<usize>>,
}

fn analyse(text: &str) -> Analysis {
    let chars: Vec<char> = text.chars().collect();
    // Mojibake is repaired first, on the raw characters, because NFKC would rewrite the
    // Latin-1 characters (`´` becomes a space and a combining accent) and hide the bytes.
    let units = mojibake::repair(&chars);
    let units = nfkc(units);
    let units = markup::strip(units);
    // Pinyin annotations are recognised before case folding: capitals tell names and
    // acronyms (`(WHO)`) from toneless annotations.
    let units = pinyin::strip(units);
    let units = lowercase_and_simplify(units);
    tokenize(units)
}

/// Applies NFKC to each base character together with its combining marks, so composed and
/// decomposed accents fold to the same form and each output character keeps the span of
/// the cluster it came from.
fn nfkc(units: Vec<Unit>) -> Vec<Unit> {
    let mut out = Vec::with_capacity(units.len());
    let mut cluster = String::new();
    let mut i = 0;
    while i < units.len() {
        let mut j = i + 1;
        while j < units.len() && !nfkc_inert(units[j].c) && is_combining_mark(units[j].c) {
            j += 1;
        }
        let c = units[i].c;
        // Most characters (ASCII, Han, kana, hangul) are already in NFKC on their own, and
        // full-width ASCII maps to ASCII by a fixed offset; only the rest pays for the
        // normaliser, which matters because Chinese text is almost all such characters.
        if j == i + 1 && nfkc_inert(c) {
            out.push(units[i]);
        } else if j == i + 1 && ('\u{FF01}'..='\u{FF5E}').contains(&c) {
            let ascii = char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c);
            out.push(Unit {
                c: ascii,
                ..units[i]
            });
        } else if j == i + 1 && is_nfkc_quick(std::iter::once(c)) == IsNormalized::Yes {
            out.push(units[i]);
        } else {
            cluster.clear();
            cluster.extend(units[i..j].iter().map(|u| u.c));
            let (start, end) = (units[i].start, units[j - 1].end);
            out.extend(cluster.nfkc().map(|c| Unit { c, start, end }));
        }
        i = j;
    }
    out
}

/// True for characters that NFKC leaves alone and that are not combining marks: ASCII and
/// the common CJK blocks (unified ideographs, kana, hangul syllables, CJK punctuation other
/// than the ideographic space). Checked by ranges before any table lookup.
fn nfkc_inert(c: char) -> bool {
    c.is_ascii()
        || matches!(u32::from(c),
            0x3001..=0x3029 | 0x3030..=0x3035 | 0x3041..=0x3096 | 0x30A1..=0x30FA
            | 0x4E00..=0x9FFF | 0xAC00..=0xD7A3)
}

/// Lower-cases every unit and folds traditional Han characters to simplified ones.
fn lowercase_and_simplify(units: Vec<Unit>) -> Vec<Unit> {
    let mut out: Vec<Unit> = Vec::with_capacity(units.len());
    for u in units {
        if u.c.is_ascii() {
            out.push(Unit {
                c: u.c.to_ascii_lowercase(),
                ..u
            });
        } else if is_cjk(u.c) {
            // CJK scripts have no case.
            out.push(u);
        } else {
            out.extend(u.c.to_lowercase().map(|c| Unit { c, ..u }));
        }
    }
    // Simplification rewrites each unit's character one to one, so offsets survive.
    t2s::simplify(&mut out);
    out
}

fn tokenize(units: Vec<Unit>) -> Analysis {
    let mut tokens = Vec::new();
    let mut token_units = Vec::new();
    let mut paragraphs = Vec::new();
    let mut para_start = 0;
    let mut word_start: Option<usize> = None;

    let flush_word = |from: &mut Option<usize>,
                      to: usize,
                      tokens: &mut Vec<Token>,
                      tu: &mut Vec<Range<usize>>| {
        if let Some(s) = from.take() {
            tokens.push(Token {
                hash: word_hash(units[s..to].iter().map(|u| u.c)),
                start: units[s].start,
                end: units[to - 1].end,
                cjk: false,
            });
            tu.push(s..to);
        }
    };

    for (k, u) in units.iter().enumerate() {
        if u.c == '\n' || u.c == '\u{2029}' {
            flush_word(&mut word_start, k, &mut tokens, &mut token_units);
            if tokens.len() > para_start {
                paragraphs.push(para_start..tokens.len());
            }
            para_start = tokens.len();
        } else if is_cjk(u.c) {
            flush_word(&mut word_start, k, &mut tokens, &mut token_units);
            tokens.push(Token {
                hash: u64::from(u32::from(u.c)),
                start: u.start,
                end: u.end,
                cjk: true,
            });
            token_units.push(k..k + 1);
        } else if u.c.is_alphanumeric() || (word_start.is_some() && is_combining_mark(u.c)) {
            word_start.get_or_insert(k);
        } else {
            flush_word(&mut word_start, k, &mut tokens, &mut token_units);
        }
    }
    flush_word(&mut word_start, units.len(), &mut tokens, &mut token_units);
    if tokens.len() > para_start {
        paragraphs.push(para_start..tokens.len());
    }
    Analysis {
        units,
        tokens,
        token_units,
        paragraphs,
    }
}

#[cfg(test)]
mod tests;
