//! Normalisation and tokenisation (pure, no I/O).
//!
//! INTERFACE CONTRACT (to be implemented): see the helper brief.

use std::ops::Range;

/// One unit of comparison: a single Han/kana/hangul character, or one word of another script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// Hash of the token's folded form (NFKC, simplified, lower-cased).
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
    pub tokens: Vec<Token>,
    /// Token index ranges of the source paragraphs (non-empty ones only).
    pub paragraphs: Vec<Range<usize>>,
}

pub fn normalize(_text: &str) -> Normalized {
    unimplemented!("contract")
}
