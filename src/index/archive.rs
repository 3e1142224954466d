//! The archive's lookup: "which originals might this page copy?", answered from two
//! in-memory indexes over every original's current version.
//!
//! - The [`HammingIndex`] over segment (and whole-text) SimHashes finds pages whose
//!   paragraphs survive nearly whole: re-templated, reordered, converted, padded copies.
//! - The anchor index (winnowed shingle hashes, see [`crate::fingerprint::anchors`]) finds
//!   the rest: excerpts cut mid-paragraph, paragraphs glued together, texts with an edit
//!   every few words.
//!
//! A lookup returns candidate originals ranked by evidence; the verification in
//! [`crate::detect`] decides. Pure: built from values the store loaded, no I/O.

use std::collections::HashMap;

use super::{HammingIndex, IndexError, Match};
use crate::fingerprint::Fingerprint;

/// Anchors found in more originals than this are common phrases of the outlet's language
/// or house style, not evidence of copying; they stop being indexed.
pub const MAX_ORIGINALS_PER_ANCHOR: usize = 32;

/// Candidates returned per lookup at most: bounds the verification work a page can cause.
pub const MAX_CANDIDATES: usize = 32;

/// One candidate original and why it was retrieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// The original's id in the store.
    pub original: u32,
    /// Segments of the page within the Hamming radius of one of the original's.
    pub segment_hits: u32,
    /// Anchors the page shares with the original.
    pub anchor_hits: u32,
}

/// Both indexes over the archive.
pub struct ArchiveIndex {
    segments: HammingIndex,
    /// Anchor hash → originals containing it; an empty list marks a common anchor.
    anchors: HashMap<u64, Vec<u32>>,
}

impl std::fmt::Debug for ArchiveIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveIndex")
            .field("segments", &self.segments.len())
            .field("anchors", &self.anchors.len())
            .finish()
    }
}

impl ArchiveIndex {
    /// Builds the index from the store's rows: `(simhash, original)` of every segment and
    /// whole text, and `(anchor, original)` of every anchor.
    ///
    /// # Errors
    /// [`IndexError`] when `max_distance` is out of range.
    pub fn build(
        max_distance: u32,
        segments: Vec<(u64, u32)>,
        anchors: impl IntoIterator<Item = (u64, u32)>,
    ) -> Result<ArchiveIndex, IndexError> {
        let mut index = ArchiveIndex {
            segments: HammingIndex::build(max_distance, segments)?,
            anchors: HashMap::new(),
        };
        for (anchor, original) in anchors {
            index.add_anchor(anchor, original);
        }
        Ok(index)
    }

    /// An empty index.
    ///
    /// # Errors
    /// [`IndexError`] when `max_distance` is out of range.
    pub fn new(max_distance: u32) -> Result<ArchiveIndex, IndexError> {
        ArchiveIndex::build(max_distance, Vec::new(), [])
    }

    /// Adds one original's fingerprints (incremental update on ingest).
    ///
    /// # Errors
    /// [`IndexError::CapacityExceeded`] past `u32::MAX` segments.
    pub fn insert(&mut self, original: u32, fingerprint: &Fingerprint) -> Result<(), IndexError> {
        for (simhash, _) in fingerprint_rows(fingerprint) {
            self.segments.insert(simhash, original)?;
        }
        for &anchor in &fingerprint.anchors {
            self.add_anchor(anchor, original);
        }
        Ok(())
    }

    fn add_anchor(&mut self, anchor: u64, original: u32) {
        let postings = self.anchors.entry(anchor).or_default();
        if postings.as_slice() == [COMMON] || postings.contains(&original) {
            return;
        }
        postings.push(original);
        if postings.len() > MAX_ORIGINALS_PER_ANCHOR {
            // A common anchor keeps its key with the marker alone, so that the next
            // original containing it does not start a new list.
            *postings = vec![COMMON];
        }
    }

    /// Number of segment fingerprints and of distinct anchors indexed.
    pub fn len(&self) -> (usize, usize) {
        (self.segments.len(), self.anchors.len())
    }

    /// True when nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty() && self.anchors.is_empty()
    }

    /// Approximate heap size in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.segments.memory_bytes()
            + self.anchors.capacity() * (8 + std::mem::size_of::<Vec<u32>>() + 8)
            + self
                .anchors
                .values()
                .map(|v| v.capacity() * 4)
                .sum::<usize>()
    }

    /// The originals a page with this fingerprint might copy, best evidence first.
    pub fn lookup(&self, fingerprint: &Fingerprint) -> Vec<Candidate> {
        let mut found: HashMap<u32, Candidate> = HashMap::new();
        let mut matches: Vec<Match> = Vec::new();
        for (simhash, _) in fingerprint_rows(fingerprint) {
            matches.clear();
            self.segments.query(simhash, &mut matches);
            for m in &matches {
                entry(&mut found, m.id).segment_hits += 1;
            }
        }
        for anchor in &fingerprint.anchors {
            if let Some(postings) = self.anchors.get(anchor) {
                for &original in postings.iter().filter(|&&o| o != COMMON) {
                    entry(&mut found, original).anchor_hits += 1;
                }
            }
        }
        let mut candidates: Vec<Candidate> = found.into_values().collect();
        candidates.sort_by(|a, b| {
            (b.segment_hits + b.anchor_hits, a.original)
                .cmp(&(a.segment_hits + a.anchor_hits, b.original))
        });
        candidates.truncate(MAX_CANDIDATES);
        candidates
    }
}

/// Marks a common anchor in a postings list. No original has this id: store ids are
/// checked to fit below it when the index is loaded.
const COMMON: u32 = u32::MAX;

fn entry(found: &mut HashMap<u32, Candidate>, original: u32) -> &mut Candidate {
    found.entry(original).or_insert(Candidate {
        original,
        segment_hits: 0,
        anchor_hits: 0,
    })
}

/// The SimHashes of a fingerprint that go into the Hamming index: the whole text and each
/// segment (the second field is the segment's ordinal, `None` for the whole text).
pub fn fingerprint_rows(fingerprint: &Fingerprint) -> impl Iterator<Item = (u64, Option<usize>)> + '_ {
    std::iter::once((fingerprint.whole, None)).chain(
        fingerprint
            .segments
            .iter()
            .enumerate()
            .map(|(i, s)| (s.simhash, Some(i))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Document;

    fn doc(text: &str) -> Document {
        Document::new(String::new(), text.to_string())
    }

    fn corpus() -> Option<Vec<String>> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/peoples-daily-1998-01.txt");
        let Ok(text) = std::fs::read_to_string(path) else {
            eprintln!("skipping: ../shared/data not found");
            return None;
        };
        let paragraphs: Vec<&str> = text.lines().filter(|l| l.chars().count() > 20).collect();
        Some(paragraphs.chunks(8).take(300).map(|c| c.join("\n")).collect())
    }

    #[test]
    fn excerpts_and_copies_find_their_original_and_nothing_else() {
        let Some(articles) = corpus() else { return };
        let mut index = ArchiveIndex::new(3).unwrap();
        for (i, a) in articles.iter().enumerate() {
            index.insert(i as u32 + 1, &doc(a).fingerprint).unwrap();
        }
        for (i, a) in articles.iter().enumerate().step_by(17) {
            let id = i as u32 + 1;
            // A whole copy: the original ranks first, found by segments and anchors.
            let found = index.lookup(&doc(a).fingerprint);
            assert_eq!(found[0].original, id);
            assert!(found[0].segment_hits > 0 && found[0].anchor_hits > 0);
            // A mid-paragraph excerpt of about a third, glued into one paragraph.
            let chars: Vec<char> = a.chars().filter(|&c| c != '\n').collect();
            let third = chars.len() / 3;
            let excerpt: String = chars[third..2 * third].iter().collect();
            let found = index.lookup(&doc(&excerpt).fingerprint);
            assert!(found.iter().any(|c| c.original == id), "excerpt of {id} not found");
        }
        // A text from elsewhere in the corpus, not indexed, retrieves little or nothing.
        let unrelated: String = corpus().unwrap()[299].clone();
        assert!(index.lookup(&doc(&unrelated).fingerprint).len() <= 3);
    }

    #[test]
    fn common_anchors_stop_being_indexed() {
        let mut index = ArchiveIndex::new(3).unwrap();
        for id in 1..=(MAX_ORIGINALS_PER_ANCHOR as u32 + 5) {
            index.add_anchor(42, id);
        }
        let fp = Fingerprint {
            anchors: vec![42],
            ..Fingerprint::default()
        };
        assert!(index.lookup(&fp).is_empty());
        index.add_anchor(42, 999);
        assert!(index.lookup(&fp).is_empty());
    }

    #[test]
    fn build_equals_inserts() {
        let a = doc("滨江湿地公园生态修复工程通过竣工验收，修复后的湿地面积达到一千二百六十亩，比工程开工前扩大近四成。");
        let mut rows = Vec::new();
        for (simhash, _) in fingerprint_rows(&a.fingerprint) {
            rows.push((simhash, 7));
        }
        let built = ArchiveIndex::build(3, rows, a.fingerprint.anchors.iter().map(|&x| (x, 7))).unwrap();
        let mut inserted = ArchiveIndex::new(3).unwrap();
        inserted.insert(7, &a.fingerprint).unwrap();
        assert_eq!(built.lookup(&a.fingerprint), inserted.lookup(&a.fingerprint));
        assert_eq!(built.len(), inserted.len());
    }
}
