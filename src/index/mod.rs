//! In-memory Hamming index over 64-bit SimHash fingerprints.
//!
//! This module owns the answer to "which stored fingerprints lie within Hamming distance
//! k of this one", exactly: no false negatives and, after the final popcount check, no
//! false positives. It returns candidate originals (payload ids); deciding whether a
//! candidate is a real copy is the detection engine's job. It never does I/O, reads the
//! clock, spawns threads or panics on any input: the `store` module loads it at start-up
//! through [`HammingIndex::build`] and the ingest path feeds it through
//! [`HammingIndex::insert`].
//!
//! # Design: multi-index hashing
//!
//! The 64 bits are cut into `m` blocks, block `i` searched with radius `r_i`, where
//! `Σ (r_i + 1) > k`. By the pigeonhole principle a fingerprint within distance k differs
//! in at most `r_i` bits in at least one block `i`, so probing each block's table with
//! every key within `r_i` of the query's block finds it. With `m = k + 1` every radius is
//! 0 and a query is `m` exact block lookups; for larger k, four 16-bit blocks at radius 1
//! (17 keys each) on three of them keep the table count, and so the memory, down.
//!
//! Each table stores its own copy of every entry: the fingerprint rotated so its block
//! comes first, sorted, plus the id, in two parallel arrays (12 bytes per entry per table),
//! with a directory of bucket offsets over the top bits. Copies instead of 4-byte
//! positions into a shared array cost 8 more bytes per entry per table but make the
//! candidate scan a sequential read instead of one cache miss per candidate, which is
//! what keeps p99 latency in single-digit microseconds at 10M entries.
//!
//! A candidate appears in every table whose block is within that table's radius, so to
//! report each entry once a table only reports candidates that no earlier table can
//! reach (their block distance in every earlier table exceeds its radius); no hash set.
//!
//! # Incremental inserts
//!
//! Entries live in one of three places, each searched by every query:
//! - the *main* tables, built in bulk or grown by merges;
//! - the *delta* tables, identical in shape but small (about `sqrt(256 · len)` entries,
//!   at least 4096), so merging into them stays cheap;
//! - an unsorted *tail* of up to 256 entries, scanned linearly.
//!
//! An insert appends to the tail. A full tail is sorted and merged into the delta tables;
//! a delta grown past its limit is merged into the main tables in place. Inserts cost a
//! few microseconds amortised at 10M entries (p99 under 0.1 µs), but the insert that
//! triggers a main merge rewrites every main table: about 50 ms at 1M entries and 400 ms
//! at 10M on the 2-core benchmark machine, once per ~50,000 inserts at 10M. Callers
//! on an async runtime should insert from a blocking task.

pub mod archive;
mod column;
pub mod image;
mod layout;
mod table;

#[cfg(test)]
mod tests;

pub use column::SharedBytes;
pub use layout::{MAX_DISTANCE, MAX_TABLES};

use layout::{Layout, Radii};
use table::Table;

/// The default maximum distance, from the project issue: SimHash segments of a copied
/// paragraph usually land within three bits of the original.
pub const DEFAULT_MAX_DISTANCE: u32 = 3;

/// The most entries an index can hold. Directory offsets are `u32` to keep them at four
/// bytes each; this bound is far above what fits in memory at 12 bytes per table.
pub const MAX_ENTRIES: usize = u32::MAX as usize;

/// Inserts buffered unsorted before they are merged into the delta tables. Every query
/// scans them linearly, so this stays small (256 popcounts is well under a microsecond).
const TAIL_CAPACITY: usize = 256;

/// The smallest size the delta tables may reach before a main merge, so that a young
/// index does not rewrite its main tables every few hundred inserts.
const DELTA_FLOOR: usize = 4096;

/// Probe ranges gathered before scanning, so that their memory loads overlap. 32 covers
/// all probes of the k ≤ 3 layouts in one batch and keeps the batch on the stack.
const PROBE_BATCH: usize = 32;

/// A fixed-size batch of `(table, index range)` pairs awaiting a scan.
struct ProbeBatch {
    /// Slots `..len` are filled.
    ranges: [(usize, std::ops::Range<usize>); PROBE_BATCH],
    /// Number of filled slots.
    len: usize,
}

impl Default for ProbeBatch {
    fn default() -> Self {
        Self {
            ranges: std::array::from_fn(|_| (0, 0..0)),
            len: 0,
        }
    }
}

/// Errors from building or querying an index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// The requested maximum distance is above [`MAX_DISTANCE`].
    #[error("max distance {requested} is out of range 0..={max}")]
    DistanceOutOfRange {
        /// The distance that was asked for.
        requested: u32,
        /// The largest distance accepted.
        max: u32,
    },
    /// A query asked for a larger distance than the index was built for.
    #[error("query distance {requested} exceeds the index's max distance {max}")]
    QueryDistanceTooLarge {
        /// The distance the query asked for.
        requested: u32,
        /// The index's maximum distance.
        max: u32,
    },
    /// The requested table count cannot serve the maximum distance.
    #[error("{tables} tables for max distance {max_distance}: {reason}")]
    InvalidLayout {
        /// The table count that was asked for.
        tables: u32,
        /// The maximum distance it was asked for.
        max_distance: u32,
        /// Why the layout was refused.
        reason: &'static str,
    },
    /// Adding entries would exceed [`MAX_ENTRIES`].
    #[error("index is full: it holds at most {capacity} entries")]
    CapacityExceeded {
        /// The largest number of entries an index holds.
        capacity: usize,
    },
}

/// One stored entry within the searched distance of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Match {
    /// The payload id stored with the fingerprint (a segment or article id).
    pub id: u32,
    /// The stored fingerprint.
    pub fingerprint: u64,
    /// Hamming distance between the stored fingerprint and the query.
    pub distance: u32,
}

/// An exact Hamming-distance index over `(fingerprint, id)` pairs.
///
/// Queries return every stored entry within the index's maximum distance (or a smaller
/// one, with [`HammingIndex::query_within`]), including every id stored under a repeated
/// fingerprint, in no particular order.
///
/// Latency depends on how many stored fingerprints share a block with the query: for
/// SimHash output (close to uniform) a k = 3 query at 10M entries checks about 600
/// candidates, but millions of entries that agree on a 16-bit block would all be
/// checked by queries that share that block.
#[derive(Clone)]
pub struct HammingIndex {
    /// Block split, radii and probe lists; fixed for the index's lifetime because every
    /// table is sorted by its block.
    layout: Layout,
    /// Bulk-built and merged tables, one per block; hold almost all entries.
    main: Vec<Table>,
    /// Small tables that absorb tail flushes so that inserts rarely touch `main`.
    delta: Vec<Table>,
    /// Most recent inserts, unsorted, original (unrotated) fingerprints.
    tail: Vec<(u64, u32)>,
    /// Flush threshold for `tail`; a field rather than the constant so tests can force
    /// frequent merges.
    tail_capacity: usize,
    /// Minimum delta size before a main merge; a field for the same reason.
    delta_floor: usize,
    /// Total entries across main, delta and tail.
    len: usize,
}

/// A summary rather than the entries, which may number in the millions.
impl std::fmt::Debug for HammingIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HammingIndex")
            .field("len", &self.len)
            .field("max_distance", &self.layout.max_distance)
            .field("tables", &self.layout.blocks.len())
            .field("delta_len", &self.delta_len())
            .field("tail_len", &self.tail.len())
            .field("memory_bytes", &self.memory_bytes())
            .finish()
    }
}

impl HammingIndex {
    /// An empty index answering queries up to `max_distance`, with the default table count
    /// for that distance.
    ///
    /// # Errors
    ///
    /// [`IndexError::DistanceOutOfRange`] when `max_distance` exceeds [`MAX_DISTANCE`].
    pub fn new(max_distance: u32) -> Result<Self, IndexError> {
        Self::with_tables(max_distance, layout::default_tables(max_distance))
    }

    /// An empty index with an explicit number of tables (blocks), for tuning memory
    /// against speed: each table costs 12 bytes per entry, and fewer tables mean wider
    /// blocks probed at larger radii.
    ///
    /// # Errors
    ///
    /// [`IndexError::DistanceOutOfRange`] when `max_distance` exceeds [`MAX_DISTANCE`];
    /// [`IndexError::InvalidLayout`] when `tables` is outside `1..=MAX_TABLES` or so small
    /// that a query would probe more than 65536 keys (e.g. one table for distance 6).
    pub fn with_tables(max_distance: u32, tables: u32) -> Result<Self, IndexError> {
        let layout = Layout::new(max_distance, tables)?;
        let main = layout.blocks.iter().map(|_| Table::new()).collect();
        Ok(Self::from_main(layout, main, 0))
    }

    /// An index whose main tables (one per block of `layout`, sorted by it) hold `len`
    /// entries, with nothing inserted since: what a new index and a loaded image share.
    fn from_main(layout: Layout, main: Vec<Table>, len: usize) -> Self {
        let delta = layout.blocks.iter().map(|_| Table::new()).collect();
        Self {
            layout,
            main,
            delta,
            tail: Vec::new(),
            tail_capacity: TAIL_CAPACITY,
            delta_floor: DELTA_FLOOR,
            len,
        }
    }

    /// Builds an index from all entries at once, with the default table count.
    ///
    /// This is the start-up path: it sorts each table with a counting sort on its block
    /// and allocates every array at its final size, so it is much faster than inserting
    /// one entry at a time.
    ///
    /// # Errors
    ///
    /// [`IndexError::DistanceOutOfRange`] as for [`HammingIndex::new`];
    /// [`IndexError::CapacityExceeded`] when there are more than [`MAX_ENTRIES`] entries.
    pub fn build(
        max_distance: u32,
        entries: impl IntoIterator<Item = (u64, u32)>,
    ) -> Result<Self, IndexError> {
        Self::build_with_tables(max_distance, layout::default_tables(max_distance), entries)
    }

    /// [`HammingIndex::build`] with an explicit table count (see
    /// [`HammingIndex::with_tables`]).
    ///
    /// # Errors
    ///
    /// As for [`HammingIndex::with_tables`] and [`HammingIndex::build`].
    pub fn build_with_tables(
        max_distance: u32,
        tables: u32,
        entries: impl IntoIterator<Item = (u64, u32)>,
    ) -> Result<Self, IndexError> {
        let mut index = Self::with_tables(max_distance, tables)?;
        // Collecting a `Vec`'s own iterator reuses its allocation, so passing a `Vec`
        // costs no copy here.
        let entries: Vec<(u64, u32)> = entries.into_iter().collect();
        if entries.len() > MAX_ENTRIES {
            return Err(IndexError::CapacityExceeded {
                capacity: MAX_ENTRIES,
            });
        }
        for (table, block) in index.main.iter_mut().zip(&index.layout.blocks) {
            *table = Table::build(&entries, block.rotation, block.width);
        }
        index.len = entries.len();
        Ok(index)
    }

    /// Adds one entry. Entries are never deduplicated: inserting the same pair twice
    /// makes queries return it twice.
    ///
    /// # Errors
    ///
    /// [`IndexError::CapacityExceeded`] when the index already holds [`MAX_ENTRIES`]
    /// entries; the index is unchanged.
    pub fn insert(&mut self, fingerprint: u64, id: u32) -> Result<(), IndexError> {
        if self.len >= MAX_ENTRIES {
            return Err(IndexError::CapacityExceeded {
                capacity: MAX_ENTRIES,
            });
        }
        self.tail.push((fingerprint, id));
        self.len += 1;
        if self.tail.len() >= self.tail_capacity {
            self.flush_tail();
            if self.delta_len() > self.delta_limit() {
                self.merge_delta();
            }
        }
        Ok(())
    }

    /// Moves every buffered insert into the main tables, so that queries touch only one
    /// level. Useful after a burst of inserts that will be followed by many queries; never
    /// needed for correctness.
    pub fn compact(&mut self) {
        self.flush_tail();
        self.merge_delta();
        self.tail.shrink_to_fit();
    }

    /// Appends to `out` every entry within the index's maximum distance of `fingerprint`.
    /// `out` is not cleared, so one buffer can collect several queries.
    pub fn query(&self, fingerprint: u64, out: &mut Vec<Match>) {
        self.search(fingerprint, self.layout.max_distance, out);
    }

    /// Every entry within the index's maximum distance of `fingerprint`, in a new vector.
    pub fn query_vec(&self, fingerprint: u64) -> Vec<Match> {
        let mut out = Vec::new();
        self.query(fingerprint, &mut out);
        out
    }

    /// Appends to `out` every entry within `distance` of `fingerprint`, probing fewer keys
    /// than a full query when the layout allows.
    ///
    /// # Errors
    ///
    /// [`IndexError::QueryDistanceTooLarge`] when `distance` exceeds
    /// [`HammingIndex::max_distance`]; `out` is unchanged.
    pub fn query_within(
        &self,
        fingerprint: u64,
        distance: u32,
        out: &mut Vec<Match>,
    ) -> Result<(), IndexError> {
        if distance > self.layout.max_distance {
            return Err(IndexError::QueryDistanceTooLarge {
                requested: distance,
                max: self.layout.max_distance,
            });
        }
        self.search(fingerprint, distance, out);
        Ok(())
    }

    /// Number of stored entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the index holds no entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The largest distance queries are exact for.
    pub fn max_distance(&self) -> u32 {
        self.layout.max_distance
    }

    /// Number of tables (blocks); each costs about 12 bytes per entry.
    pub fn tables(&self) -> usize {
        self.layout.blocks.len()
    }

    /// Approximate heap bytes held, counting allocated capacity of all tables, the
    /// insert buffer and the probe lists.
    pub fn memory_bytes(&self) -> usize {
        let tables: usize = self
            .main
            .iter()
            .chain(&self.delta)
            .map(Table::memory_bytes)
            .sum();
        let probes: usize = self
            .layout
            .blocks
            .iter()
            .map(|b| b.probes.capacity() * 8 + b.probes_upto.capacity() * 8)
            .sum();
        tables + self.tail.capacity() * std::mem::size_of::<(u64, u32)>() + probes
    }

    /// Entries in the delta tables (all delta tables hold the same entries).
    fn delta_len(&self) -> usize {
        self.delta.first().map_or(0, Table::len)
    }

    /// Delta size that triggers a main merge. Flushing the tail costs about the delta's
    /// size, a main merge about the main size; `sqrt(tail · main)` balances the two, so
    /// an insert costs `O(sqrt(main / tail))` element moves amortised.
    fn delta_limit(&self) -> usize {
        let main = self.main.first().map_or(0, Table::len);
        main.saturating_mul(self.tail_capacity)
            .isqrt()
            .max(self.delta_floor)
    }

    /// Sorts the tail once per table and merges it into the delta tables.
    fn flush_tail(&mut self) {
        if self.tail.is_empty() {
            return;
        }
        let mut staged: Vec<(u64, u32)> = Vec::with_capacity(self.tail.len());
        let mut rotated = Vec::with_capacity(self.tail.len());
        let mut ids = Vec::with_capacity(self.tail.len());
        for (table, block) in self.delta.iter_mut().zip(&self.layout.blocks) {
            staged.clear();
            staged.extend(
                self.tail
                    .iter()
                    .map(|&(fp, id)| (fp.rotate_left(block.rotation), id)),
            );
            // Tables are ordered by block key only; sorting the whole rotated value is a
            // valid refinement of that order and cheap for 256 entries.
            staged.sort_unstable();
            rotated.clear();
            ids.clear();
            rotated.extend(staged.iter().map(|&(r, _)| r));
            ids.extend(staged.iter().map(|&(_, id)| id));
            table.merge_sorted(&rotated, &ids, block.width);
        }
        self.tail.clear();
    }

    /// Merges the delta tables into the main tables and empties them.
    fn merge_delta(&mut self) {
        if self.delta_len() == 0 {
            return;
        }
        for ((main, delta), block) in self
            .main
            .iter_mut()
            .zip(self.delta.iter_mut())
            .zip(&self.layout.blocks)
        {
            main.merge_sorted(&delta.rotated, &delta.ids, block.width);
            delta.clear();
        }
    }

    /// The query itself: probe every level's tables, then scan the tail.
    fn search(&self, fingerprint: u64, distance: u32, out: &mut Vec<Match>) {
        let radii = self.layout.radii_for(distance);
        self.search_level(&self.main, fingerprint, distance, &radii, out);
        self.search_level(&self.delta, fingerprint, distance, &radii, out);
        for &(fp, id) in &self.tail {
            let d = (fp ^ fingerprint).count_ones();
            if d <= distance {
                out.push(Match {
                    id,
                    fingerprint: fp,
                    distance: d,
                });
            }
        }
    }

    /// Probes one level (main or delta), reporting each entry from the first table that
    /// reaches it.
    ///
    /// The work is done in batches of [`PROBE_BATCH`] probe ranges: first every range is
    /// looked up, then one word per cache line of every range is read, then the ranges are
    /// scanned. Scanning bucket by bucket leaves the CPU waiting on one DRAM stream at a
    /// time; issuing all the independent loads up front lets them overlap, which cut the
    /// k = 3 query time at 10M entries from about 2.7 µs to 0.8 µs of memory stall in a
    /// micro-benchmark (`benches/index.rs` shows the end-to-end effect).
    fn search_level(
        &self,
        level: &[Table],
        fingerprint: u64,
        distance: u32,
        radii: &Radii,
        out: &mut Vec<Match>,
    ) {
        if level.first().is_none_or(|t| t.len() == 0) {
            return;
        }
        let mut batch = ProbeBatch::default();
        for (i, (block, table)) in self.layout.blocks.iter().zip(level).enumerate() {
            let query = fingerprint.rotate_left(block.rotation);
            // `width` is 1..=64, so the shift is 0..=63.
            let key = query >> (64 - block.width);
            let radius = radii.get(i).copied().unwrap_or(0);
            for &probe in block.probes_within(radius) {
                let range = table.probe(key ^ probe, block.width);
                if range.is_empty() {
                    continue;
                }
                if batch.len == PROBE_BATCH {
                    self.scan_batch(&batch, level, fingerprint, distance, radii, out);
                    batch.len = 0;
                }
                // `batch.len < PROBE_BATCH` here, so the slot exists.
                if let Some(slot) = batch.ranges.get_mut(batch.len) {
                    *slot = (i, range);
                    batch.len += 1;
                }
            }
        }
        self.scan_batch(&batch, level, fingerprint, distance, radii, out);
    }

    /// Prefetches, then checks every candidate of a batch of probe ranges.
    fn scan_batch(
        &self,
        batch: &ProbeBatch,
        level: &[Table],
        fingerprint: u64,
        distance: u32,
        radii: &Radii,
        out: &mut Vec<Match>,
    ) {
        let ranges = batch.ranges.get(..batch.len).unwrap_or(&[]);
        // One read per 64-byte line (eight fingerprints). The loads are independent, so
        // the CPU keeps many misses in flight; `black_box` stops the optimiser from
        // deleting reads whose values are otherwise unused.
        let mut touched = 0u64;
        for (i, range) in ranges {
            if let Some(rotated) = level.get(*i).and_then(|t| t.rotated.get(range.clone())) {
                touched ^= rotated.iter().step_by(8).fold(0, |acc, &r| acc ^ r);
            }
        }
        std::hint::black_box(touched);
        for (i, range) in ranges {
            let (Some(block), Some(table)) = (self.layout.blocks.get(*i), level.get(*i)) else {
                continue;
            };
            let Some(candidates) = table.rotated.get(range.clone()) else {
                continue;
            };
            let query = fingerprint.rotate_left(block.rotation);
            for (offset, &stored) in candidates.iter().enumerate() {
                // Rotation preserves popcount; rotating the difference back lets the
                // ownership test use masks in original bit order.
                let diff = (stored ^ query).rotate_right(block.rotation);
                let d = diff.count_ones();
                if d <= distance && !self.reached_earlier(diff, *i, radii) {
                    if let Some(&id) = table.ids.get(range.start + offset) {
                        out.push(Match {
                            id,
                            fingerprint: stored.rotate_right(block.rotation),
                            distance: d,
                        });
                    }
                }
            }
        }
    }

    /// Whether a table before `table` also reaches an entry whose difference from the
    /// query is `diff`: table `j` probes every key within `radii[j]` of the query's block,
    /// so it reaches the entry exactly when the block differs in at most that many bits.
    #[inline]
    fn reached_earlier(&self, diff: u64, table: usize, radii: &Radii) -> bool {
        self.layout
            .blocks
            .iter()
            .zip(radii)
            .take(table)
            .any(|(block, &r)| (diff & block.mask).count_ones() <= r)
    }
}
