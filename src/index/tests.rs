//! Tests of the public index against a brute-force linear scan.

use super::*;

/// SplitMix64: a tiny deterministic generator, so the tests need no `rand`.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// `fp` with exactly `d` distinct random bits flipped.
    fn flip(&mut self, fp: u64, d: u32) -> u64 {
        let mut mask = 0u64;
        while mask.count_ones() < d {
            mask |= 1 << self.below(64);
        }
        fp ^ mask
    }
}

fn brute_force(entries: &[(u64, u32)], query: u64, distance: u32) -> Vec<Match> {
    let mut out: Vec<Match> = entries
        .iter()
        .filter_map(|&(fp, id)| {
            let d = (fp ^ query).count_ones();
            (d <= distance).then_some(Match {
                id,
                fingerprint: fp,
                distance: d,
            })
        })
        .collect();
    out.sort_unstable();
    out
}

fn sorted(mut matches: Vec<Match>) -> Vec<Match> {
    matches.sort_unstable();
    matches
}

fn within(index: &HammingIndex, query: u64, distance: u32) -> Vec<Match> {
    let mut out = Vec::new();
    index
        .query_within(query, distance, &mut out)
        .unwrap_or_else(|e| panic!("query_within({distance}): {e}"));
    sorted(out)
}

/// Entries that make neighbours at every distance likely: random fingerprints, planted
/// neighbours of earlier entries at distances 0..=k+1, repeats under new ids, and a
/// cluster that varies only 10 bits of one base so that many entries share blocks.
fn entry(rng: &mut SplitMix64, existing: &[(u64, u32)], k: u32, id: u32) -> (u64, u32) {
    let cluster_base = 0x0123_4567_89AB_CDEF;
    let fp = match (rng.below(4), existing.is_empty()) {
        (0, _) | (_, true) => rng.next(),
        (1, false) => {
            let base = existing[rng.below(existing.len() as u64) as usize].0;
            let d = rng.below(u64::from(k) + 2) as u32;
            rng.flip(base, d)
        }
        (2, false) => existing[rng.below(existing.len() as u64) as usize].0,
        _ => cluster_base ^ (rng.below(1 << 10) << rng.below(54)),
    };
    (fp, id)
}

/// A query that is near an entry (distance 0..=k+1), or random, or from the cluster.
fn query_for(rng: &mut SplitMix64, existing: &[(u64, u32)], k: u32) -> u64 {
    if existing.is_empty() || rng.below(5) == 0 {
        return rng.next();
    }
    let base = existing[rng.below(existing.len() as u64) as usize].0;
    let d = rng.below(u64::from(k) + 2) as u32;
    rng.flip(base, d)
}

/// Builds from `initial` entries, then interleaves inserts with queries, checking each
/// query (and `query_within` for every smaller distance) against the brute force. Small
/// merge thresholds make tail flushes and main merges happen many times.
fn check_against_brute_force(k: u32, tables: u32, seed: u64, initial: usize, inserts: usize) {
    let mut rng = SplitMix64(seed);
    let mut entries = Vec::new();
    for id in 0..initial {
        let e = entry(&mut rng, &entries, k, id as u32);
        entries.push(e);
    }
    let mut index = HammingIndex::build_with_tables(k, tables, entries.clone())
        .unwrap_or_else(|e| panic!("build k={k} tables={tables}: {e}"));
    index.tail_capacity = 8;
    index.delta_floor = 32;
    let mut checked = 0;
    for step in 0..inserts {
        let e = entry(&mut rng, &entries, k, (initial + step) as u32);
        entries.push(e);
        index
            .insert(e.0, e.1)
            .unwrap_or_else(|err| panic!("insert: {err}"));
        assert_eq!(index.len(), entries.len());
        if step % 3 == 0 {
            let q = query_for(&mut rng, &entries, k);
            let expected = brute_force(&entries, q, k);
            assert_eq!(
                sorted(index.query_vec(q)),
                expected,
                "k={k} tables={tables} step={step} query={q:#018x}"
            );
            for d in 0..k {
                assert_eq!(
                    within(&index, q, d),
                    brute_force(&entries, q, d),
                    "k={k} tables={tables} d={d} step={step} query={q:#018x}"
                );
            }
            checked += 1;
        }
    }
    index.compact();
    for _ in 0..50 {
        let q = query_for(&mut rng, &entries, k);
        assert_eq!(sorted(index.query_vec(q)), brute_force(&entries, q, k));
    }
    assert!(checked > 0);
}

#[test]
fn matches_brute_force_for_default_layouts() {
    for k in 0..=MAX_DISTANCE {
        let tables = layout::default_tables(k);
        check_against_brute_force(k, tables, 0xC0FF_EE00 + u64::from(k), 600, 900);
    }
}

#[test]
fn matches_brute_force_for_every_valid_layout() {
    for k in 0..=MAX_DISTANCE {
        for tables in 1..=MAX_TABLES {
            if Layout::new(k, tables).is_err() {
                continue;
            }
            check_against_brute_force(k, tables, 0x5EED + u64::from(k * 16 + tables), 150, 250);
        }
    }
}

#[test]
fn empty_index_finds_nothing() {
    for k in 0..=MAX_DISTANCE {
        let index = HammingIndex::new(k).unwrap_or_else(|e| panic!("{e}"));
        assert!(index.is_empty());
        assert_eq!(index.len(), 0);
        assert_eq!(index.max_distance(), k);
        for q in [0, u64::MAX, 0x1234_5678_9ABC_DEF0] {
            assert!(index.query_vec(q).is_empty());
        }
        let built = HammingIndex::build(k, Vec::new()).unwrap_or_else(|e| panic!("{e}"));
        assert!(built.query_vec(0).is_empty());
    }
}

#[test]
fn exact_lookup_at_distance_zero() {
    let entries = vec![(5, 1), (5, 2), (4, 3), (u64::MAX, 4), (0, 5)];
    let index = HammingIndex::build(0, entries).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(index.tables(), 1);
    // (query) -> ids
    let cases: &[(u64, &[u32])] = &[
        (5, &[1, 2]),
        (4, &[3]),
        (6, &[]),
        (u64::MAX, &[4]),
        (0, &[5]),
    ];
    for &(q, ids) in cases {
        let got: Vec<u32> = sorted(index.query_vec(q)).iter().map(|m| m.id).collect();
        assert_eq!(got, ids, "query {q}");
    }
}

#[test]
fn extremes_and_distances_are_reported() {
    let mut index = HammingIndex::new(3).unwrap_or_else(|e| panic!("{e}"));
    for (id, fp) in [0u64, 1, 0b111, 0b1111, u64::MAX, u64::MAX >> 1, 1 << 63]
        .into_iter()
        .enumerate()
    {
        index
            .insert(fp, id as u32)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    // (query) -> (id, distance) pairs
    let cases: &[(u64, &[(u32, u32)])] = &[
        (0, &[(0, 0), (1, 1), (2, 3), (6, 1)]),
        (u64::MAX, &[(4, 0), (5, 1)]),
        (0b11, &[(0, 2), (1, 1), (2, 1), (3, 2), (6, 3)]),
    ];
    for &(q, expected) in cases {
        let got: Vec<(u32, u32)> = sorted(index.query_vec(q))
            .iter()
            .map(|m| (m.id, m.distance))
            .collect();
        assert_eq!(got, expected, "query {q:#x}");
    }
}

#[test]
fn all_equal_fingerprints_return_every_id_once() {
    let fp = 0xDEAD_BEEF_DEAD_BEEF;
    for k in 0..=MAX_DISTANCE {
        let mut index =
            HammingIndex::build(k, (0..1000).map(|id| (fp, id))).unwrap_or_else(|e| panic!("{e}"));
        for id in 1000..1300 {
            index.insert(fp, id).unwrap_or_else(|e| panic!("{e}"));
        }
        let got = sorted(index.query_vec(fp));
        assert_eq!(got.len(), 1300, "k={k}");
        assert!(got
            .iter()
            .enumerate()
            .all(|(i, m)| m.id == i as u32 && m.fingerprint == fp && m.distance == 0));
        let near = index.query_vec(fp ^ 1);
        assert_eq!(near.len(), if k >= 1 { 1300 } else { 0 }, "k={k}");
    }
}

#[test]
fn invalid_arguments_are_typed_errors() {
    assert_eq!(
        HammingIndex::new(7).err(),
        Some(IndexError::DistanceOutOfRange {
            requested: 7,
            max: 6
        })
    );
    assert!(matches!(
        HammingIndex::build(u32::MAX, Vec::new()),
        Err(IndexError::DistanceOutOfRange { .. })
    ));
    assert!(matches!(
        HammingIndex::with_tables(6, 1),
        Err(IndexError::InvalidLayout { .. })
    ));
    let index = HammingIndex::new(2).unwrap_or_else(|e| panic!("{e}"));
    let mut out = vec![Match {
        id: 9,
        fingerprint: 9,
        distance: 0,
    }];
    assert_eq!(
        index.query_within(0, 3, &mut out),
        Err(IndexError::QueryDistanceTooLarge {
            requested: 3,
            max: 2
        })
    );
    assert_eq!(out.len(), 1, "a refused query leaves the buffer alone");
    assert_eq!(
        IndexError::DistanceOutOfRange {
            requested: 7,
            max: 6
        }
        .to_string(),
        "max distance 7 is out of range 0..=6"
    );
}

#[test]
fn query_appends_without_clearing() {
    let index = HammingIndex::build(1, vec![(10, 1), (11, 2)]).unwrap_or_else(|e| panic!("{e}"));
    let mut out = Vec::new();
    index.query(10, &mut out);
    index.query(11, &mut out);
    assert_eq!(out.len(), 4);
}

#[test]
fn memory_grows_with_entries() {
    let mut rng = SplitMix64(7);
    let entries: Vec<(u64, u32)> = (0..10_000).map(|id| (rng.next(), id)).collect();
    let index = HammingIndex::build(3, entries).unwrap_or_else(|e| panic!("{e}"));
    let per_entry = index.memory_bytes() / index.len();
    // Four tables of 12 bytes plus a directory of about one byte per entry per table.
    assert!(
        (48..=60).contains(&per_entry),
        "{per_entry} bytes per entry"
    );
}

#[test]
fn default_thresholds_merge_into_main_tables() {
    // Enough inserts into an empty index to fill the tail many times and pass the delta
    // floor (4096), so that real main merges happen with the production constants.
    let mut rng = SplitMix64(0xABCD);
    let mut index = HammingIndex::new(3).unwrap_or_else(|e| panic!("{e}"));
    let mut entries = Vec::new();
    for id in 0..10_000u32 {
        let e = entry(&mut rng, &entries, 3, id);
        entries.push(e);
        index.insert(e.0, e.1).unwrap_or_else(|err| panic!("{err}"));
    }
    assert!(index.main[0].len() > DELTA_FLOOR, "a main merge happened");
    assert_eq!(
        index.main[0].len() + index.delta_len() + index.tail.len(),
        entries.len()
    );
    for _ in 0..200 {
        let q = query_for(&mut rng, &entries, 3);
        assert_eq!(sorted(index.query_vec(q)), brute_force(&entries, q, 3));
    }
    let debug = format!("{index:?}");
    assert!(debug.starts_with("HammingIndex { len: 10000, max_distance: 3, tables: 4"));
}
