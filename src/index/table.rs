//! One sorted table of rotated fingerprints with a bucket-offset directory.
//!
//! A table owns a copy of every entry of its level, with the fingerprint rotated so that
//! the table's block sits in the most significant bits, sorted ascending. A directory of
//! `2^bucket_bits + 1` offsets over the top bits turns "all entries whose block equals
//! this key" into one or two array reads and, when the block is wider than the
//! directory, a short binary search inside one bucket. It never decides which entries
//! match a query: it only hands back index ranges.

use super::column::Column;

/// Fingerprints and ids in structure-of-arrays form, sorted by block key (the top
/// `width` bits of the rotated fingerprint); the order within a key is unspecified.
#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    /// Rotated fingerprints, ascending by block key. Scanning these alone (8 bytes per candidate) is
    /// what keeps a query's candidate check inside few cache lines; ids are only read for
    /// matches.
    pub rotated: Column<u64>,
    /// Payload ids, parallel to `rotated`.
    pub ids: Column<u32>,
    /// `offsets[b]..offsets[b + 1]` is the range of bucket `b`, where a bucket is the top
    /// `bucket_bits` bits of a rotated fingerprint. Always `2^bucket_bits + 1` long.
    pub offsets: Column<u32>,
    /// Number of directory bits; never more than the block width, so that one probe key
    /// always falls in exactly one bucket.
    pub bucket_bits: u32,
}

/// Directory size cap: 2^24 offsets are 64 MiB, reached only past ~67M entries.
const MAX_BUCKET_BITS: u32 = 24;

/// Directory bits for `len` entries and a block `width` bits wide: about four entries
/// per bucket, which keeps the directory near one byte per entry while the bucket still
/// fits in one or two cache lines.
fn bucket_bits_for(len: usize, width: u32) -> u32 {
    let log2 = usize::BITS - 1 - len.max(1).leading_zeros();
    log2.saturating_sub(2).min(width).min(MAX_BUCKET_BITS)
}

/// `x >> shift`, defined as 0 when `shift` is 64 (a zero-bit directory or a 64-bit block).
#[inline]
fn shr(x: u64, shift: u32) -> u64 {
    x.checked_shr(shift).unwrap_or(0)
}

impl Table {
    /// An empty table with a one-bucket directory.
    pub(crate) fn new() -> Self {
        Self {
            rotated: Column::default(),
            ids: Column::default(),
            offsets: vec![0, 0].into(),
            bucket_bits: 0,
        }
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.rotated.len()
    }

    /// Heap bytes held, counting allocated capacity.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.rotated.heap_bytes() + self.ids.heap_bytes() + self.offsets.heap_bytes()
    }

    /// Builds a table for a block `width` bits wide that starts `rotation` bits below the
    /// top, from unsorted entries.
    ///
    /// Only the block key (the top `width` bits) orders a table, so when the directory
    /// covers the whole block one counting sort on it (one pass to count, one to scatter
    /// straight into the final arrays) is the entire sort, and the directory comes for
    /// free. Wider blocks then sort each bucket by key; buckets hold about four entries.
    /// Entries with equal keys keep their input order. The caller guarantees that
    /// `entries.len()` fits in `u32`.
    pub(crate) fn build(entries: &[(u64, u32)], rotation: u32, width: u32) -> Self {
        let n = entries.len();
        let bits = bucket_bits_for(n, width);
        let shift = 64 - bits;
        let buckets = 1usize << bits;
        let mut offsets = vec![0u32; buckets + 1];
        for &(fp, _) in entries {
            let bucket = shr(fp.rotate_left(rotation), shift) as usize;
            // `bucket < buckets` because it has at most `bits` bits; the array has one
            // more slot than buckets.
            offsets[bucket + 1] += 1;
        }
        for b in 0..buckets {
            offsets[b + 1] += offsets[b];
        }
        let mut cursor: Vec<u32> = offsets[..buckets].to_vec();
        let mut rotated = vec![0u64; n];
        let mut ids = vec![0u32; n];
        for &(fp, id) in entries {
            let r = fp.rotate_left(rotation);
            let slot = &mut cursor[shr(r, shift) as usize];
            // Each bucket's cursor starts at its offset and is bumped once per entry
            // counted above, so it stays below the next bucket's start and below `n`.
            rotated[*slot as usize] = r;
            ids[*slot as usize] = id;
            *slot += 1;
        }
        drop(cursor);
        let mut table = Self {
            rotated: rotated.into(),
            ids: ids.into(),
            offsets: offsets.into(),
            bucket_bits: bits,
        };
        if width > bits {
            table.sort_buckets_by_key(width);
        }
        table
    }

    /// Sorts every bucket by block key (stable), for blocks wider than the directory.
    fn sort_buckets_by_key(&mut self, width: u32) {
        let shift = 64 - width;
        let mut staged: Vec<(u64, u32)> = Vec::new();
        let (all_rotated, all_ids) = (self.rotated.to_mut(), self.ids.to_mut());
        for bucket in self.offsets.windows(2) {
            let (lo, hi) = (bucket[0] as usize, bucket[1] as usize);
            if hi - lo < 2 {
                continue;
            }
            let (Some(rotated), Some(ids)) = (all_rotated.get_mut(lo..hi), all_ids.get_mut(lo..hi))
            else {
                continue;
            };
            if rotated
                .windows(2)
                .all(|w| shr(w[0], shift) <= shr(w[1], shift))
            {
                continue;
            }
            staged.clear();
            staged.extend(rotated.iter().copied().zip(ids.iter().copied()));
            staged.sort_by_key(|&(r, _)| shr(r, shift));
            for ((r, id), (dst_r, dst_id)) in
                staged.iter().zip(rotated.iter_mut().zip(ids.iter_mut()))
            {
                *dst_r = *r;
                *dst_id = *id;
            }
        }
    }

    /// Merges already-rotated entries, sorted by block key, into this table in place,
    /// then rebuilds the directory for the new size. On equal keys existing entries come
    /// first, so a table stays in insertion order within a key.
    ///
    /// The merge runs backwards from the end of the grown arrays, so it needs no second
    /// copy of the table: for the big main tables that halves peak memory during a merge.
    pub(crate) fn merge_sorted(&mut self, add_rotated: &[u64], add_ids: &[u32], width: u32) {
        let shift = 64 - width;
        let old = self.rotated.len();
        let add = add_rotated.len().min(add_ids.len());
        let (rotated, ids) = (self.rotated.to_mut(), self.ids.to_mut());
        rotated.reserve_exact(add);
        ids.reserve_exact(add);
        rotated.resize(old + add, 0);
        ids.resize(old + add, 0);
        let (mut i, mut j, mut w) = (old, add, old + add);
        // Loop invariant: slots `w..` are final and `i + j == w`, so the write at `w - 1`
        // never overwrites an old entry that has not been moved yet.
        while j > 0 {
            let take_old = i > 0 && shr(rotated[i - 1], shift) > shr(add_rotated[j - 1], shift);
            w -= 1;
            if take_old {
                i -= 1;
                rotated[w] = rotated[i];
                ids[w] = ids[i];
            } else {
                j -= 1;
                rotated[w] = add_rotated[j];
                ids[w] = add_ids[j];
            }
        }
        self.rebuild_directory(width);
    }

    /// Removes all entries but keeps the allocations, for the delta level that refills.
    pub(crate) fn clear(&mut self) {
        self.rotated.to_mut().clear();
        self.ids.to_mut().clear();
        self.offsets = vec![0, 0].into();
        self.bucket_bits = 0;
    }

    /// Recomputes the directory from the sorted entries.
    fn rebuild_directory(&mut self, width: u32) {
        let bits = bucket_bits_for(self.rotated.len(), width);
        let shift = 64 - bits;
        let buckets = 1usize << bits;
        let mut offsets = vec![0u32; buckets + 1];
        for &r in self.rotated.iter() {
            // As in `build`: the bucket has at most `bits` bits.
            offsets[shr(r, shift) as usize + 1] += 1;
        }
        for b in 0..buckets {
            offsets[b + 1] += offsets[b];
        }
        self.offsets = offsets.into();
        self.bucket_bits = bits;
    }

    /// The index range of entries whose top `width` bits equal `key`.
    #[inline]
    pub(crate) fn probe(&self, key: u64, width: u32) -> std::ops::Range<usize> {
        let bucket = shr(key, width.saturating_sub(self.bucket_bits)) as usize;
        let (Some(&lo), Some(&hi)) = (self.offsets.get(bucket), self.offsets.get(bucket + 1))
        else {
            // Unreachable: `key` has at most `width` bits, so `bucket` has at most
            // `bucket_bits` bits. An empty range is the safe answer regardless.
            return 0..0;
        };
        let (lo, hi) = (lo as usize, hi as usize);
        if width == self.bucket_bits {
            return lo..hi;
        }
        let Some(slice) = self.rotated.get(lo..hi) else {
            return 0..0;
        };
        let shift = 64 - width;
        let start = slice.partition_point(|&r| shr(r, shift) < key);
        let end = start
            + slice
                .get(start..)
                .map_or(0, |rest| rest.partition_point(|&r| shr(r, shift) == key));
        lo + start..lo + end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(table: &Table, range: std::ops::Range<usize>) -> Vec<u64> {
        table.rotated[range].to_vec()
    }

    #[test]
    fn directory_bits_scale_with_size() {
        // (len, width) -> bits
        let cases = [
            (0, 16, 0),
            (1, 16, 0),
            (7, 16, 0),
            (8, 16, 1),
            (1 << 20, 16, 16),
            (1 << 20, 22, 18),
            (10_000_000, 21, 21),
            (10_000_000, 64, 21),
            (1 << 30, 64, 24),
        ];
        for (len, width, bits) in cases {
            assert_eq!(bucket_bits_for(len, width), bits, "len={len} width={width}");
        }
    }

    #[test]
    fn build_sorts_and_probe_finds_exact_prefixes() {
        let entries: Vec<(u64, u32)> = (0..1000u64)
            .map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15), i as u32))
            .chain([(0, 7), (0, 3), (u64::MAX, 1)])
            .collect();
        for width in [4, 16, 64] {
            let t = Table::build(&entries, 8, width);
            let shift = 64 - width;
            assert!(t
                .rotated
                .windows(2)
                .all(|w| shr(w[0], shift) <= shr(w[1], shift)));
            assert_eq!(t.len(), entries.len());
            for &(fp, id) in &entries {
                let r = fp.rotate_left(8);
                let key = shr(r, 64 - width);
                let range = t.probe(key, width);
                assert!(keys(&t, range.clone())
                    .iter()
                    .all(|&x| shr(x, 64 - width) == key));
                let found = range.clone().any(|i| t.rotated[i] == r && t.ids[i] == id);
                assert!(found, "width={width} fp={fp:#x}");
                let expected = entries
                    .iter()
                    .filter(|(f, _)| shr(f.rotate_left(8), 64 - width) == key)
                    .count();
                assert_eq!(range.len(), expected);
            }
        }
    }

    #[test]
    fn merge_keeps_order_and_directory() {
        let a: Vec<(u64, u32)> = (0..500u64).map(|i| (i << 40 | i, i as u32)).collect();
        let mut t = Table::build(&a, 0, 24);
        // Keys collide with existing ones (every even i), and the low bits differ, so the
        // merge must order by key only and keep existing entries first on ties.
        let add: Vec<(u64, u32)> = (0..300u64)
            .map(|i| ((2 * i) << 40 | 7, 1000 + i as u32))
            .collect();
        let (ar, ai): (Vec<u64>, Vec<u32>) = add.iter().copied().unzip();
        t.merge_sorted(&ar, &ai, 24);
        assert_eq!(t.len(), 800);
        let mut all: Vec<(u64, u32)> = a.iter().chain(&add).copied().collect();
        all.sort_by_key(|&(r, _)| r >> 40);
        let got: Vec<(u64, u32)> = t
            .rotated
            .iter()
            .copied()
            .zip(t.ids.iter().copied())
            .collect();
        assert_eq!(got, all);
        assert_eq!(
            t.probe(0, 24).len(),
            2,
            "key 0 holds one old and one new entry"
        );
        assert_eq!(t.probe(501, 24).len(), 0);
        t.clear();
        assert_eq!(t.len(), 0);
        assert_eq!(t.probe(0, 24), 0..0);
    }
}
