//! How the 64 fingerprint bits are cut into blocks for multi-index hashing, and which
//! keys each block's table is probed with.
//!
//! This module owns the pigeonhole arithmetic: it decides block widths and per-block
//! search radii so that every fingerprint within the index's maximum distance is found
//! in at least one table. It never touches entries; it only describes where to look.

use super::IndexError;

/// The largest maximum distance an index accepts.
///
/// Six is where the issue stops, and it is also where the default layouts stop being
/// cheap: beyond it each query probes thousands of keys per table.
pub const MAX_DISTANCE: u32 = 6;

/// The most tables (blocks) a layout may use.
///
/// Each table holds a full copy of every entry (12 bytes), so more than eight tables would
/// cost more memory than any latency gain could justify; the limit also lets queries keep
/// per-block radii in a fixed-size array instead of allocating.
pub const MAX_TABLES: u32 = 8;

/// The most probe keys a layout may enumerate per query, summed over its tables.
///
/// A layout with one 64-bit block and radius 6 would need about 83 million probes per
/// query; refusing such layouts at construction keeps every query bounded.
const MAX_PROBES: u64 = 1 << 16;

/// The table count used by [`super::HammingIndex::new`] for each maximum distance.
///
/// Chosen from `COPYHOUND_INDEX_SWEEP=1 cargo bench --bench index` at 1M random entries
/// (p50 query latency; the machine is noisy, so only large gaps count):
/// - k = 1: 2 tables 0.5 µs, 3 tables 0.9 µs.
/// - k = 2: 3 tables 1.35 µs, 4 tables 0.94 µs; 3 is kept because it needs 25% less
///   memory (38 against 49 bytes per entry) for a difference of half a microsecond.
/// - k = 3: 4 tables 1.0 µs, 3 tables 3.1 µs (4.2 µs at 10M), 5 tables 2.9 µs.
/// - k = 4, 5, 6: 4 tables (16-bit blocks, radius 1 on some) 3.2, 5.8 and 7.8 µs; the
///   next best were 5, 4 (k = 5 has no 5-table alternative measured) and 5 tables at
///   3.8, 12.5 (6 tables) and 23.6 µs. Three wider tables probe hundreds of keys, seven
///   narrow ones scan thousands of candidates.
const DEFAULT_TABLES: [u32; MAX_DISTANCE as usize + 1] = [1, 2, 3, 4, 4, 4, 4];

/// The default table count for `max_distance` (which the caller has already validated).
pub(crate) fn default_tables(max_distance: u32) -> u32 {
    // `get` instead of indexing so that an unvalidated distance falls back to the widest
    // layout rather than panicking; callers validate first, so the fallback is unused.
    DEFAULT_TABLES
        .get(max_distance as usize)
        .copied()
        .unwrap_or(4)
}

/// One contiguous run of fingerprint bits and how its table is searched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Block {
    /// Left rotation that moves this block to the most significant bits, so that sorting
    /// the rotated fingerprints groups entries by block value.
    pub rotation: u32,
    /// Number of bits in the block (1..=64).
    pub width: u32,
    /// Largest number of differing bits this block is probed with at the index's maximum
    /// distance.
    pub radius: u32,
    /// The block's bits in the original, unrotated fingerprint. Queries use it to tell
    /// whether an earlier table already reported a candidate.
    pub mask: u64,
    /// XOR masks over the block's low `width` bits, sorted by popcount, so that searching
    /// with a smaller radius is a prefix of this list.
    pub probes: Vec<u64>,
    /// `probes_upto[r]` is how many probes have popcount ≤ r, for r in `0..=radius`.
    pub probes_upto: Vec<usize>,
}

impl Block {
    /// The probe masks to use when this block is searched with radius `radius`.
    pub(crate) fn probes_within(&self, radius: u32) -> &[u64] {
        let count = self
            .probes_upto
            .get(radius as usize)
            .or(self.probes_upto.last())
            .copied()
            .unwrap_or(0);
        self.probes.get(..count).unwrap_or(&self.probes)
    }
}

/// The block split of an index: which tables exist and how each is probed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    /// The distance every query at full radius is exact for.
    pub max_distance: u32,
    /// One block per table, covering all 64 bits without overlap, most significant first.
    pub blocks: Vec<Block>,
}

/// Per-block radii for one query, indexed like `Layout::blocks`. A fixed array keeps the
/// query path free of allocation.
pub(crate) type Radii = [u32; MAX_TABLES as usize];

impl Layout {
    /// Splits 64 bits into `tables` blocks and assigns radii for `max_distance`.
    ///
    /// # Errors
    ///
    /// [`IndexError::DistanceOutOfRange`] when `max_distance` exceeds [`MAX_DISTANCE`];
    /// [`IndexError::InvalidLayout`] when `tables` is 0 or above [`MAX_TABLES`], or when
    /// the layout would need more than `MAX_PROBES` probe keys per query.
    pub(crate) fn new(max_distance: u32, tables: u32) -> Result<Self, IndexError> {
        if max_distance > MAX_DISTANCE {
            return Err(IndexError::DistanceOutOfRange {
                requested: max_distance,
                max: MAX_DISTANCE,
            });
        }
        if tables == 0 || tables > MAX_TABLES {
            return Err(IndexError::InvalidLayout {
                tables,
                max_distance,
                reason: "the table count must be between 1 and 8",
            });
        }
        let widths = split_widths(tables);
        let radii = split_radii(max_distance, &widths);
        let total_probes: u64 = widths
            .iter()
            .zip(&radii)
            .map(|(&w, &r)| probe_count(w, r))
            .fold(0u64, u64::saturating_add);
        if total_probes > MAX_PROBES {
            return Err(IndexError::InvalidLayout {
                tables,
                max_distance,
                reason: "too few tables: a query would probe more than 65536 keys",
            });
        }
        let mut blocks = Vec::with_capacity(widths.len());
        let mut offset = 0u32;
        for (&width, &radius) in widths.iter().zip(&radii) {
            let (probes, probes_upto) = enumerate_probes(width, radius);
            blocks.push(Block {
                rotation: offset,
                width,
                radius,
                mask: block_mask(offset, width),
                probes,
                probes_upto,
            });
            offset += width;
        }
        Ok(Self {
            max_distance,
            blocks,
        })
    }

    /// Radii that make a search exact for `distance` (≤ `max_distance`), using as few
    /// probes as the pigeonhole bound allows.
    ///
    /// A fingerprint within `distance` differs, in at least one block i, in at most
    /// `radii[i]` bits whenever `Σ (radii[i] + 1) > distance`. Starting from the full
    /// radii, this lowers the largest radius (the widest block on ties, as it has the most
    /// probes) until the sum is just large enough.
    pub(crate) fn radii_for(&self, distance: u32) -> Radii {
        let mut radii = [0u32; MAX_TABLES as usize];
        for (slot, block) in radii.iter_mut().zip(&self.blocks) {
            *slot = block.radius;
        }
        let tables = self.blocks.len() as u32;
        let needed = (distance + 1).saturating_sub(tables);
        let mut sum: u32 = radii.iter().sum();
        while sum > needed {
            // Blocks come widest first, so `max_by_key` keeping the first maximum would
            // pick the narrowest; iterate in order and keep the first strict maximum.
            let mut best: Option<usize> = None;
            for (i, &r) in radii.iter().enumerate().take(self.blocks.len()) {
                if r > 0 && best.is_none_or(|b| radii.get(b).is_some_and(|&rb| r > rb)) {
                    best = Some(i);
                }
            }
            match best.and_then(|b| radii.get_mut(b)) {
                Some(r) => *r -= 1,
                None => break,
            }
            sum -= 1;
        }
        radii
    }
}

/// Block widths for `tables` blocks: as equal as possible, wider blocks first.
fn split_widths(tables: u32) -> Vec<u32> {
    let base = 64 / tables;
    let extra = 64 % tables;
    (0..tables).map(|i| base + u32::from(i < extra)).collect()
}

/// Per-block radii for `max_distance`: the total is the least that keeps the pigeonhole
/// bound (`Σ (r + 1) > max_distance`), spread evenly, with any remainder on the narrowest
/// (last) blocks because their probe lists are shortest.
fn split_radii(max_distance: u32, widths: &[u32]) -> Vec<u32> {
    let tables = widths.len() as u32;
    let total = (max_distance + 1).saturating_sub(tables);
    let base = total / tables;
    let extra = total % tables;
    (0..tables)
        .map(|i| base + u32::from(i >= tables - extra))
        .collect()
}

/// The bits of a block starting `offset` bits below the most significant bit.
fn block_mask(offset: u32, width: u32) -> u64 {
    let low = u64::MAX.checked_shr(64 - width).unwrap_or(0);
    low.checked_shl(64 - offset - width).unwrap_or(0)
}

/// Σ_{j ≤ radius} C(width, j), saturating, so that absurd layouts can be refused before
/// anything is enumerated.
fn probe_count(width: u32, radius: u32) -> u64 {
    let mut total = 0u64;
    let mut choose = 1u64; // C(width, 0)
    for j in 0..=radius.min(width) {
        total = total.saturating_add(choose);
        // C(w, j+1) = C(w, j) * (w - j) / (j + 1); the division is exact.
        choose = choose.saturating_mul(u64::from(width - j)) / u64::from(j + 1);
    }
    total
}

/// All `width`-bit masks with popcount ≤ `radius`, sorted by popcount, and the running
/// counts per popcount.
fn enumerate_probes(width: u32, radius: u32) -> (Vec<u64>, Vec<usize>) {
    let radius = radius.min(width);
    let mut probes = Vec::new();
    let mut upto = Vec::with_capacity(radius as usize + 1);
    for ones in 0..=radius {
        if ones == 0 {
            probes.push(0);
        } else {
            // Gosper's hack walks all `ones`-bit subsets of `width` bits in increasing
            // order; u128 keeps the end test valid for 64-bit blocks.
            let limit = 1u128 << width;
            let mut set = (1u128 << ones) - 1;
            while set < limit {
                probes.push(set as u64);
                let lowest = set & set.wrapping_neg();
                let ripple = set + lowest;
                set = (((ripple ^ set) >> 2) / lowest) | ripple;
            }
        }
        upto.push(probes.len());
    }
    (probes, upto)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_and_radii_follow_the_pigeonhole_bound() {
        // (max_distance, tables) -> (widths, radii)
        let cases: &[(u32, u32, &[u32], &[u32])] = &[
            (0, 1, &[64], &[0]),
            (3, 4, &[16, 16, 16, 16], &[0, 0, 0, 0]),
            (3, 3, &[22, 21, 21], &[0, 0, 1]),
            (6, 4, &[16, 16, 16, 16], &[0, 1, 1, 1]),
            (6, 7, &[10, 9, 9, 9, 9, 9, 9], &[0; 7]),
            (2, 8, &[8; 8], &[0; 8]),
            (5, 2, &[32, 32], &[2, 2]),
        ];
        for &(k, m, widths, radii) in cases {
            let layout = Layout::new(k, m).unwrap_or_else(|e| panic!("k={k} m={m}: {e}"));
            let got_w: Vec<u32> = layout.blocks.iter().map(|b| b.width).collect();
            let got_r: Vec<u32> = layout.blocks.iter().map(|b| b.radius).collect();
            assert_eq!(got_w, widths, "widths for k={k} m={m}");
            assert_eq!(got_r, radii, "radii for k={k} m={m}");
            let covered = layout.blocks.iter().fold(0u64, |acc, b| {
                assert_eq!(acc & b.mask, 0, "blocks overlap");
                acc | b.mask
            });
            assert_eq!(covered, u64::MAX, "blocks must cover all bits");
        }
    }

    #[test]
    fn probe_lists_are_complete_and_ordered() {
        let layout = Layout::new(6, 4).unwrap_or_else(|e| panic!("{e}"));
        let block = &layout.blocks[1];
        assert_eq!(block.probes.len(), 17);
        assert_eq!(block.probes_upto, vec![1, 17]);
        assert_eq!(block.probes_within(0), &[0]);
        assert!(block
            .probes
            .iter()
            .all(|p| p.count_ones() <= 1 && *p < 1 << 16));
        assert_eq!(probe_count(64, 6), 83_278_001);
        assert_eq!(probe_count(16, 2), 1 + 16 + 120);
        let (p, upto) = enumerate_probes(16, 2);
        assert_eq!(upto, vec![1, 17, 137]);
        let mut dedup = p.clone();
        dedup.sort_unstable();
        dedup.dedup();
        assert_eq!(dedup.len(), p.len());
    }

    #[test]
    fn invalid_layouts_are_refused() {
        assert!(matches!(
            Layout::new(7, 4),
            Err(IndexError::DistanceOutOfRange { requested: 7, .. })
        ));
        assert!(matches!(
            Layout::new(3, 0),
            Err(IndexError::InvalidLayout { .. })
        ));
        assert!(matches!(
            Layout::new(3, 9),
            Err(IndexError::InvalidLayout { .. })
        ));
        // One 64-bit block at radius 6 would need ~83M probes per query.
        assert!(matches!(
            Layout::new(6, 1),
            Err(IndexError::InvalidLayout { .. })
        ));
        for k in 0..=MAX_DISTANCE {
            assert!(Layout::new(k, default_tables(k)).is_ok(), "default k={k}");
        }
    }

    #[test]
    fn reduced_radii_still_satisfy_the_bound() {
        for k in 0..=MAX_DISTANCE {
            for m in 1..=MAX_TABLES {
                let Ok(layout) = Layout::new(k, m) else {
                    continue;
                };
                for d in 0..=k {
                    let radii = layout.radii_for(d);
                    let sum: u32 = radii.iter().take(m as usize).map(|r| r + 1).sum();
                    assert!(sum > d, "k={k} m={m} d={d} radii={radii:?}");
                    for (r, b) in radii.iter().zip(&layout.blocks) {
                        assert!(*r <= b.radius);
                    }
                }
                assert_eq!(
                    layout.radii_for(k)[..m as usize],
                    layout.blocks.iter().map(|b| b.radius).collect::<Vec<_>>()[..]
                );
            }
        }
    }
}
