//! Verification: containment, aligned passages and a verdict (pure, no I/O).
//!
//! INTERFACE CONTRACT (to be implemented).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Copy,
    Partial,
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
}

impl Default for DetectParams {
    fn default() -> Self {
        DetectParams {
            copy_threshold: 0.6,
            partial_threshold: 0.25,
            partial_min_paragraphs: 3,
        }
    }
}

/// One aligned passage: character offsets into the original's and the candidate's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Passage {
    pub original_start: usize,
    pub original_end: usize,
    pub candidate_start: usize,
    pub candidate_end: usize,
    /// The copied text as it appears in the candidate.
    pub text: String,
}

/// A text prepared for comparison: normalised once, fingerprinted once.
#[derive(Debug, Clone)]
pub struct Document {
    pub title: String,
    pub text: String,
    pub normalized: crate::text::Normalized,
    pub fingerprint: crate::fingerprint::Fingerprint,
}

impl Document {
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

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub verdict: Verdict,
    /// Share of the original's tokens found in the candidate, 0..=1.
    pub containment: f64,
    /// Hamming distance of the whole-text SimHashes.
    pub hamming: u32,
    pub passages: Vec<Passage>,
}

pub fn compare(_original: &Document, _candidate: &Document, _params: &DetectParams) -> Comparison {
    unimplemented!("contract")
}
