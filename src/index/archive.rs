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

use super::column::Column;
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
    pub(super) segments: HammingIndex,
    /// `(anchor, original)` pairs sorted by anchor, as two parallel arrays (12 bytes per
    /// pair), built by one sort at start-up. An anchor in too many originals keeps one
    /// pair, with the id [`COMMON`].
    pub(super) anchor_keys: Column<u64>,
    /// The originals of `anchor_keys`, pair by pair.
    pub(super) anchor_ids: Column<u32>,
    /// Pairs inserted since the last merge into `anchors` (incremental ingest).
    recent: HashMap<u64, Vec<u32>>,
    /// Number of pairs in `recent`.
    recent_pairs: usize,
}

/// `recent` is merged into the sorted pairs once it holds this many pairs or an eighth of
/// them, whichever is more: inserts stay cheap and merges rare.
const MIN_MERGE_PAIRS: usize = 65_536;

impl std::fmt::Debug for ArchiveIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveIndex")
            .field("segments", &self.segments.len())
            .field("anchors", &(self.anchor_keys.len() + self.recent_pairs))
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
        let (anchor_keys, anchor_ids) = sorted_pairs(anchors.into_iter().collect());
        Ok(ArchiveIndex {
            segments: HammingIndex::build(max_distance, segments)?,
            anchor_keys: anchor_keys.into(),
            anchor_ids: anchor_ids.into(),
            recent: HashMap::new(),
            recent_pairs: 0,
        })
    }

    /// An index from parts read back from an image ([`super::image::read`]).
    pub(super) fn from_parts(
        segments: HammingIndex,
        anchor_keys: Column<u64>,
        anchor_ids: Column<u32>,
    ) -> ArchiveIndex {
        ArchiveIndex {
            segments,
            anchor_keys,
            anchor_ids,
            recent: HashMap::new(),
            recent_pairs: 0,
        }
    }

    /// Moves every incremental insert into the sorted arrays (before an image is written,
    /// which holds only those).
    pub fn compact(&mut self) {
        self.segments.compact();
        if self.recent_pairs > 0 {
            self.merge_recent();
        }
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
        if self.main_postings(anchor) == [COMMON] {
            return;
        }
        let postings = self.recent.entry(anchor).or_default();
        if !postings.contains(&original) {
            postings.push(original);
            self.recent_pairs += 1;
        }
        if self.recent_pairs >= MIN_MERGE_PAIRS.max(self.anchor_keys.len() / 8) {
            self.merge_recent();
        }
    }

    fn merge_recent(&mut self) {
        let keys = std::mem::take(&mut self.anchor_keys);
        let ids = std::mem::take(&mut self.anchor_ids);
        let mut pairs: Vec<(u64, u32)> = keys.iter().copied().zip(ids.iter().copied()).collect();
        drop((keys, ids));
        for (anchor, originals) in self.recent.drain() {
            pairs.extend(originals.into_iter().map(|o| (anchor, o)));
        }
        self.recent_pairs = 0;
        let (keys, ids) = sorted_pairs(pairs);
        self.anchor_keys = keys.into();
        self.anchor_ids = ids.into();
    }

    /// The originals of one anchor in the sorted pairs (`[COMMON]` for a common one).
    fn main_postings(&self, anchor: u64) -> &[u32] {
        let start = self.anchor_keys.partition_point(|&a| a < anchor);
        let end = start + self.anchor_keys[start..].partition_point(|&a| a == anchor);
        self.anchor_ids.get(start..end).unwrap_or(&[])
    }

    /// Number of segment fingerprints and of distinct anchors indexed.
    pub fn len(&self) -> (usize, usize) {
        (
            self.segments.len(),
            self.anchor_keys.len() + self.recent_pairs,
        )
    }

    /// True when nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty() && self.anchor_keys.is_empty() && self.recent_pairs == 0
    }

    /// Approximate heap size in bytes (arrays viewed in a mapped index file are not
    /// counted: their pages are the file's, shared by every process mapping it).
    pub fn memory_bytes(&self) -> usize {
        self.segments.memory_bytes()
            + self.anchor_keys.heap_bytes()
            + self.anchor_ids.heap_bytes()
            + self.recent.capacity() * (8 + std::mem::size_of::<Vec<u32>>() + 8)
            + self
                .recent
                .values()
                .map(|v| v.capacity() * 4)
                .sum::<usize>()
    }

    /// Whether any of `anchors` (sorted or not) is indexed for some original and is not
    /// common: the cheap question a page must answer yes to before it is worth
    /// extracting. Every page [`ArchiveIndex::lookup`] finds by an anchor answers yes.
    pub fn any_anchor(&self, anchors: &[u64]) -> bool {
        anchors.iter().any(|&anchor| {
            let main = self.main_postings(anchor);
            let recent = self.recent.get(&anchor).map_or(0, Vec::len);
            let common = main == [COMMON] || main.len() + recent > MAX_ORIGINALS_PER_ANCHOR;
            !common && main.len() + recent > 0
        })
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
        for &anchor in &fingerprint.anchors {
            let main = self.main_postings(anchor);
            let recent = self.recent.get(&anchor).map_or(&[][..], Vec::as_slice);
            // A common anchor (marked, or grown common since the last merge) is no
            // evidence of anything.
            if main == [COMMON] || main.len() + recent.len() > MAX_ORIGINALS_PER_ANCHOR {
                continue;
            }
            for original in main.iter().chain(recent).copied() {
                entry(&mut found, original).anchor_hits += 1;
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

/// Sorts and deduplicates `(anchor, original)` pairs, collapsing each anchor found in more
/// than [`MAX_ORIGINALS_PER_ANCHOR`] originals into one `(anchor, COMMON)` pair; the
/// result as parallel arrays of anchors and originals.
fn sorted_pairs(mut pairs: Vec<(u64, u32)>) -> (Vec<u64>, Vec<u32>) {
    pairs.sort_unstable();
    pairs.dedup();
    // Compacted in place: the write cursor never passes the read cursor, so the pairs
    // need no second copy at their largest.
    let mut kept = 0;
    let mut i = 0;
    while i < pairs.len() {
        let anchor = pairs[i].0;
        let run = pairs[i..].partition_point(|&(a, _)| a == anchor);
        if run > MAX_ORIGINALS_PER_ANCHOR || pairs[i + run - 1].1 == COMMON {
            pairs[kept] = (anchor, COMMON);
            kept += 1;
        } else {
            pairs.copy_within(i..i + run, kept);
            kept += run;
        }
        i += run;
    }
    pairs.truncate(kept);
    let keys = pairs.iter().map(|&(a, _)| a).collect();
    let ids = pairs.iter().map(|&(_, o)| o).collect();
    (keys, ids)
}

fn entry(found: &mut HashMap<u32, Candidate>, original: u32) -> &mut Candidate {
    found.entry(original).or_insert(Candidate {
        original,
        segment_hits: 0,
        anchor_hits: 0,
    })
}

/// The SimHashes of a fingerprint that go into the Hamming index: the whole text and each
/// segment (the second field is the segment's ordinal, `None` for the whole text).
pub fn fingerprint_rows(
    fingerprint: &Fingerprint,
) -> impl Iterator<Item = (u64, Option<usize>)> + '_ {
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
        crate::detect::testdata::prose_articles(8, 300)
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
            assert!(
                found.iter().any(|c| c.original == id),
                "excerpt of {id} not found"
            );
        }
        // A text from elsewhere in the corpus, not indexed, retrieves little or nothing.
        let unrelated: String = corpus().unwrap()[299].clone();
        assert!(index.lookup(&doc(&unrelated).fingerprint).len() <= 3);
    }

    #[test]
    fn common_anchors_stop_being_indexed() {
        let fp = Fingerprint {
            anchors: vec![42],
            ..Fingerprint::default()
        };
        let many = 1..=(MAX_ORIGINALS_PER_ANCHOR as u32 + 5);
        // Incrementally, before and after a merge.
        let mut index = ArchiveIndex::new(3).unwrap();
        for id in many.clone() {
            index.add_anchor(42, id);
        }
        assert!(index.lookup(&fp).is_empty());
        index.merge_recent();
        assert_eq!(
            (&*index.anchor_keys, &*index.anchor_ids),
            (&[42][..], &[COMMON][..])
        );
        index.add_anchor(42, 999);
        assert!(index.lookup(&fp).is_empty());
        // In bulk.
        let built = ArchiveIndex::build(3, Vec::new(), many.map(|id| (42, id))).unwrap();
        assert!(built.lookup(&fp).is_empty());
        // Below the limit, an anchor retrieves its originals from both parts.
        let mut index = ArchiveIndex::build(3, Vec::new(), [(42, 1), (42, 2)]).unwrap();
        index.add_anchor(42, 3);
        let mut found: Vec<u32> = index.lookup(&fp).iter().map(|c| c.original).collect();
        found.sort_unstable();
        assert_eq!(found, vec![1, 2, 3]);
    }

    #[test]
    fn build_equals_inserts() {
        let a = doc("滨江湿地公园生态修复工程通过竣工验收，修复后的湿地面积达到一千二百六十亩，比工程开工前扩大近四成。");
        let mut rows = Vec::new();
        for (simhash, _) in fingerprint_rows(&a.fingerprint) {
            rows.push((simhash, 7));
        }
        let built =
            ArchiveIndex::build(3, rows, a.fingerprint.anchors.iter().map(|&x| (x, 7))).unwrap();
        let mut inserted = ArchiveIndex::new(3).unwrap();
        inserted.insert(7, &a.fingerprint).unwrap();
        assert_eq!(
            built.lookup(&a.fingerprint),
            inserted.lookup(&a.fingerprint)
        );
        assert_eq!(built.len(), inserted.len());
    }
}
