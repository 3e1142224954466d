//! Shingles and SimHash fingerprints (pure, no I/O).
//!
//! INTERFACE CONTRACT (to be implemented).

use crate::text::Normalized;

/// Fingerprints of one text: whole-text SimHash and one per segment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fingerprint {
    pub whole: u64,
    pub segments: Vec<Segment>,
}

/// A segment (paragraph or fixed window) and its SimHash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Character offsets of the segment in the source text.
    pub start: u32,
    pub end: u32,
    pub simhash: u64,
}

/// SimHash over precomputed 64-bit feature hashes: bit i is set when more features have
/// bit i set than clear (same rule as the `simhash` crate).
pub fn simhash(_features: &[u64]) -> u64 {
    unimplemented!("contract")
}

pub fn fingerprint(_text: &Normalized) -> Fingerprint {
    unimplemented!("contract")
}
