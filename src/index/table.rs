//! One sorted table of rotated fingerprints with a bucket-offset directory.
//!
//! A table owns a copy of every entry of its level, with the fingerprint rotated so that
//! the table's block sits in the most significant bits, sorted ascending. A directory of
//! `2^bucket_bits + 1` offsets over the top bits turns "all entries whose block equals
//! this key" into one or two array reads and, when the block is wider than the
//! directory, a short binary search inside one bucket. It never decides which entries
//! match a query: it only hands back index ranges.

/// Fingerprints and ids in structure-of-arrays form, sorted by `(rotated, id)`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    /// Rotated fingerprints, ascending. Scanning these alone (8 bytes per candidate) is
    /// what keeps a query's candidate check inside few cache lines; ids are only read for
    /// matches.
    pub rotated: Vec<u64>,
    /// Payload ids, parallel to `rotated`.
    pub ids: Vec<u32>,
    /// `offsets[b]..offsets[b + 1]` is the range of bucket `b`, where a bucket is the top
    /// `bucket_bits` bits of a rotated fingerprint. Always `2^bucket_bits + 1` long.
    offsets: Vec<u32>,
    /// Number of directory bits; never more than the block width, so that one probe key
    /// always falls in exactly one bucket.
    bucket_bits: u32,
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
            rotated: Vec::new(),
            ids: Vec::new(),
            offsets: vec![0, 0],
            bucket_bits: 0,
        }
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.rotated.len()
    }

    /// Heap bytes held, counting allocated capacity.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.rotated.capacity() * 8 + self.ids.capacity() * 4 + self.offsets.capacity() * 4
    }

    /// Builds a table for a block `width` bits wide that starts `rotation` bits below the
    /// top, from unsorted entries.
    ///
    /// The sort is a counting sort on the directory bits (one pass to count, one to
    /// scatter) followed by sorting each bucket, which holds about four entries. That is
    /// several times faster than a comparison sort of all entries at 10M and produces
    /// the directory for free. `scratch` is reused between tables to avoid reallocating
    /// the 16-byte-per-entry staging array. The caller guarantees that `entries.len()`
    /// fits in `u32`.
    pub(crate) fn build(
        entries: &[(u64, u32)],
        rotation: u32,
        width: u32,
        scratch: &mut Vec<(u64, u32)>,
    ) -> Self {
        let bits = bucket_bits_for(entries.len(), width);
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
        scratch.clear();
        scratch.resize(entries.len(), (0, 0));
        for &(fp, id) in entries {
            let r = fp.rotate_left(rotation);
            let slot = &mut cursor[shr(r, shift) as usize];
            // Each bucket's cursor starts at its offset and is bumped once per entry
            // counted above, so it never passes the next bucket's start.
            scratch[*slot as usize] = (r, id);
            *slot += 1;
        }
        for b in 0..buckets {
            let bucket = &mut scratch[offsets[b] as usize..offsets[b + 1] as usize];
            if bucket.len() > 1 {
                bucket.sort_unstable();
            }
        }
        let rotated = scratch.iter().map(|&(r, _)| r).collect();
        let ids = scratch.iter().map(|&(_, id)| id).collect();
        Self {
            rotated,
            ids,
            offsets,
            bucket_bits: bits,
        }
    }

    /// Merges already-rotated entries, sorted by `(rotated, id)`, into this table in
    /// place, then rebuilds the directory for the new size.
    ///
    /// The merge runs backwards from the end of the grown arrays, so it needs no second
    /// copy of the table: for the big main tables that halves peak memory during a merge.
    pub(crate) fn merge_sorted(&mut self, add_rotated: &[u64], add_ids: &[u32], width: u32) {
        let old = self.rotated.len();
        let add = add_rotated.len().min(add_ids.len());
        self.rotated.reserve_exact(add);
        self.ids.reserve_exact(add);
        self.rotated.resize(old + add, 0);
        self.ids.resize(old + add, 0);
        let (mut i, mut j, mut w) = (old, add, old + add);
        // Loop invariant: slots `w..` are final, `i ≤ w - j`, so writes at `w - 1` never
        // overwrite an unread old entry.
        while j > 0 {
            let take_old = i > 0
                && (self.rotated[i - 1], self.ids[i - 1]) > (add_rotated[j - 1], add_ids[j - 1]);
            w -= 1;
            if take_old {
                i -= 1;
                self.rotated[w] = self.rotated[i];
                self.ids[w] = self.ids[i];
            } else {
                j -= 1;
                self.rotated[w] = add_rotated[j];
                self.ids[w] = add_ids[j];
            }
        }
        self.rebuild_directory(width);
    }

    /// Removes all entries but keeps the allocations, for the delta level that refills.
    pub(crate) fn clear(&mut self) {
        self.rotated.clear();
        self.ids.clear();
        self.offsets.clear();
        self.offsets.extend_from_slice(&[0, 0]);
        self.bucket_bits = 0;
    }

    /// Recomputes the directory from the sorted entries.
    fn rebuild_directory(&mut self, width: u32) {
        let bits = bucket_bits_for(self.rotated.len(), width);
        let shift = 64 - bits;
        let buckets = 1usize << bits;
        self.offsets.clear();
        self.offsets.resize(buckets + 1, 0);
        for &r in &self.rotated {
            // As in `build`: the bucket has at most `bits` bits.
            self.offsets[shr(r, shift) as usize + 1] += 1;
        }
        for b in 0..buckets {
            self.offsets[b + 1] += self.offsets[b];
        }
        self.offsets.shrink_to_fit();
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
        let mut scratch = Vec::new();
        for width in [4, 16, 64] {
            let t = Table::build(&entries, 8, width, &mut scratch);
            assert!(t.rotated.windows(2).all(|w| w[0] <= w[1]));
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
        let mut scratch = Vec::new();
        let a: Vec<(u64, u32)> = (0..500u64).map(|i| (i * 3, i as u32)).collect();
        let mut t = Table::build(&a, 0, 16, &mut scratch);
        let mut add: Vec<(u64, u32)> = (0..300u64).map(|i| (i * 5 + 1, 1000 + i as u32)).collect();
        add.sort_unstable();
        let (ar, ai): (Vec<u64>, Vec<u32>) = add.iter().copied().unzip();
        t.merge_sorted(&ar, &ai, 16);
        assert_eq!(t.len(), 800);
        assert!(t.rotated.windows(2).all(|w| w[0] <= w[1]));
        let mut all: Vec<(u64, u32)> = a.iter().chain(&add).copied().collect();
        all.sort_unstable();
        let got: Vec<(u64, u32)> = t
            .rotated
            .iter()
            .copied()
            .zip(t.ids.iter().copied())
            .collect();
        assert_eq!(got, all);
        assert_eq!(t.probe(0, 16).len(), 800, "all small values share block 0");
        t.clear();
        assert_eq!(t.len(), 0);
        assert_eq!(t.probe(0, 16), 0..0);
    }
}
