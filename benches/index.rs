//! Benchmark of the Hamming index: bulk build time, memory per fingerprint, per-query
//! latency percentiles, insert cost, and a linear popcount scan over the same data as the
//! baseline.
//!
//! Run with `cargo bench --bench index`. The machine is shared and noisy, so everything is
//! reported as medians and percentiles of individually timed queries rather than means.
//! Set `COPYHOUND_INDEX_SWEEP=1` to also time the other table counts for each distance,
//! which is how the defaults in `src/index/layout.rs` were chosen.
//!
//! The last line printed is always
//! `k3_10m_p99_us=<n> speedup_vs_scan=<ratio>`, where the ratio is the scan's median
//! latency over the index's median latency (p99 over p99 is printed on the line above).

use std::hint::black_box;
use std::time::{Duration, Instant};

use copyhound::index::{HammingIndex, Match};

/// Queries timed per configuration.
const QUERIES: usize = 10_000;

/// SplitMix64: deterministic, fast, and good enough to stand in for SimHash output,
/// which is close to uniform over 64 bits for unrelated texts.
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

    fn flip(&mut self, fp: u64, d: u32) -> u64 {
        let mut mask = 0u64;
        while mask.count_ones() < d {
            mask |= 1 << self.below(64);
        }
        fp ^ mask
    }
}

/// Half planted near neighbours (an existing fingerprint with 0..=`plant_max` bits
/// flipped), half random fingerprints, interleaved.
fn make_queries(fps: &[u64], plant_max: u32, seed: u64) -> Vec<u64> {
    let mut rng = SplitMix64(seed);
    (0..QUERIES)
        .map(|i| {
            if i % 2 == 0 {
                let base = fps[rng.below(fps.len() as u64) as usize];
                let d = rng.below(u64::from(plant_max) + 1) as u32;
                rng.flip(base, d)
            } else {
                rng.next()
            }
        })
        .collect()
}

/// The baseline: one pass over all fingerprints with a popcount each.
fn scan(fps: &[u64], query: u64, k: u32, out: &mut Vec<Match>) {
    for (i, &fp) in fps.iter().enumerate() {
        let d = (fp ^ query).count_ones();
        if d <= k {
            out.push(Match {
                id: i as u32,
                fingerprint: fp,
                distance: d,
            });
        }
    }
}

/// Latency percentiles in microseconds.
struct Percentiles {
    p50: f64,
    p99: f64,
    max: f64,
}

fn percentiles(mut samples: Vec<Duration>) -> Percentiles {
    samples.sort_unstable();
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[i].as_secs_f64() * 1e6
    };
    Percentiles {
        p50: at(0.50),
        p99: at(0.99),
        max: at(1.0),
    }
}

/// Times each query on its own. `Instant` costs about 20-30 ns on this machine, well
/// under the microsecond latencies measured, so queries are not batched.
fn time_queries(
    queries: &[u64],
    mut run: impl FnMut(u64, &mut Vec<Match>),
) -> (Percentiles, usize) {
    let mut out = Vec::new();
    let mut found = 0;
    let mut samples = Vec::with_capacity(queries.len());
    // A short warm-up so that the first timed queries do not pay for page faults in the
    // output buffer or cold instruction caches.
    for &q in queries.iter().take(100) {
        out.clear();
        run(q, &mut out);
    }
    for &q in queries {
        out.clear();
        let start = Instant::now();
        run(black_box(q), &mut out);
        samples.push(start.elapsed());
        found += black_box(&out).len();
    }
    (percentiles(samples), found)
}

/// Builds one index configuration, times its queries (and the scan baseline when
/// `scan_queries > 0`), prints the results and returns the index for further use, with
/// the latency and the median-over-median speedup (when the scan ran).
fn bench_config(
    label: &str,
    fps: &[u64],
    k: u32,
    tables: Option<u32>,
    scan_queries: usize,
) -> Option<(HammingIndex, Latency)> {
    let n = fps.len();
    let entries: Vec<(u64, u32)> = fps
        .iter()
        .enumerate()
        .map(|(i, &fp)| (fp, i as u32))
        .collect();
    let start = Instant::now();
    let built = match tables {
        Some(t) => HammingIndex::build_with_tables(k, t, entries),
        None => HammingIndex::build(k, entries),
    };
    let build_time = start.elapsed();
    let index = match built {
        Ok(index) => index,
        Err(e) => {
            println!("{label}: build failed: {e}");
            return None;
        }
    };
    let bytes_per_fp = index.memory_bytes() as f64 / n as f64;
    println!(
        "{label}: n={n} k={k} tables={} build={:.0} ms ({:.0} ns/fp) memory={:.1} MiB ({:.1} bytes/fp)",
        index.tables(),
        build_time.as_secs_f64() * 1e3,
        build_time.as_secs_f64() * 1e9 / n as f64,
        index.memory_bytes() as f64 / (1 << 20) as f64,
        bytes_per_fp
    );

    let plant_max = k.max(3);
    let queries = make_queries(fps, plant_max, 0xBEEF ^ n as u64 ^ u64::from(k));
    let (all, found) = time_queries(&queries, |q, out| index.query(q, out));
    let planted: Vec<u64> = queries.iter().copied().step_by(2).collect();
    let random: Vec<u64> = queries.iter().copied().skip(1).step_by(2).collect();
    let (p_planted, _) = time_queries(&planted, |q, out| index.query(q, out));
    let (p_random, _) = time_queries(&random, |q, out| index.query(q, out));
    println!(
        "{label}: query k={k} over {} queries: p50={:.2} us p99={:.2} us max={:.1} us ({found} matches; planted 0..={plant_max} p50/p99={:.2}/{:.2} us, random p50/p99={:.2}/{:.2} us)",
        queries.len(),
        all.p50,
        all.p99,
        all.max,
        p_planted.p50,
        p_planted.p99,
        p_random.p50,
        p_random.p99
    );

    let mut speedup = None;
    if scan_queries > 0 {
        // The scan is slow, so it runs on a prefix of the same queries (planted and random
        // alternate, so the prefix keeps the mix). The matches must agree.
        let subset = &queries[..scan_queries.min(queries.len())];
        let (scan_p, scan_found) = time_queries(subset, |q, out| scan(fps, q, k, out));
        let index_found: usize = subset.iter().map(|&q| index.query_vec(q).len()).sum();
        assert_eq!(index_found, scan_found, "index and scan disagree");
        println!(
            "{label}: scan k={k} over {} queries: p50={:.0} us p99={:.0} us; speedup median/median={:.0}x p99/p99={:.0}x",
            subset.len(),
            scan_p.p50,
            scan_p.p99,
            scan_p.p50 / all.p50,
            scan_p.p99 / all.p99
        );
        speedup = Some(scan_p.p50 / all.p50);
    }
    Some((
        index,
        Latency {
            p99_us: all.p99,
            speedup,
        },
    ))
}

/// What the summary line needs from one configuration.
struct Latency {
    p99_us: f64,
    /// Scan median over index median, when the scan ran.
    speedup: Option<f64>,
}

/// Amortised and worst single insert cost on top of an existing index (the worst is the
/// insert that triggers a merge into the main tables), and query latency afterwards,
/// while part of the index sits in the delta level and the tail.
fn bench_inserts(label: &str, mut index: HammingIndex, inserts: usize) {
    let n = index.len();
    let k = index.max_distance();
    let mut rng = SplitMix64(0xFEED);
    let mut samples = Vec::with_capacity(inserts);
    let mut fresh = Vec::with_capacity(inserts);
    let start = Instant::now();
    for i in 0..inserts {
        let fp = rng.next();
        fresh.push(fp);
        let t = Instant::now();
        if index.insert(fp, (n + i) as u32).is_err() {
            println!("{label}: index full");
            return;
        }
        samples.push(t.elapsed());
    }
    let total = start.elapsed();
    let p = percentiles(samples);
    let queries = make_queries(&fresh, k.max(3), 0xD1CE);
    let (q, _) = time_queries(&queries, |q, out| index.query(q, out));
    println!(
        "{label}: {inserts} inserts into n={n} k={k}: {:.2} us/insert amortised, p50={:.2} us p99={:.2} us worst={:.0} ms; queries near new entries afterwards p50={:.2} us p99={:.2} us",
        total.as_secs_f64() * 1e6 / inserts as f64,
        p.p50,
        p.p99,
        p.max / 1e3,
        q.p50,
        q.p99
    );
}

fn main() {
    let sweep = std::env::var_os("COPYHOUND_INDEX_SWEEP").is_some();
    let mut rng = SplitMix64(0x00C0_FFEE);
    let fps: Vec<u64> = (0..10_000_000).map(|_| rng.next()).collect();
    let (fps_1m, fps_10m) = (&fps[..1_000_000], &fps[..]);

    if let Some((index, _)) = bench_config("k3_1m", fps_1m, 3, None, 500) {
        bench_inserts("k3_1m_inserts", index, 100_000);
    }
    bench_config("k6_1m", fps_1m, 6, None, 500);
    if sweep {
        for (k, tables) in [
            (1, 2),
            (1, 3),
            (2, 2),
            (2, 3),
            (2, 4),
            (3, 2),
            (3, 3),
            (3, 5),
            (4, 3),
            (4, 4),
            (4, 5),
            (5, 3),
            (5, 4),
            (5, 6),
            (6, 3),
            (6, 5),
            (6, 7),
        ] {
            let label = format!("sweep_k{k}_t{tables}_1m");
            bench_config(&label, fps_1m, k, Some(tables), 0);
        }
        bench_config("sweep_k3_t3_10m", fps_10m, 3, Some(3), 0);
        bench_config("sweep_k6_10m", fps_10m, 6, None, 0);
    }
    // The 10M insert run reuses the index, and the summary line must stay last.
    match bench_config("k3_10m", fps_10m, 3, None, 60) {
        Some((index, latency)) => {
            bench_inserts("k3_10m_inserts", index, 200_000);
            println!(
                "k3_10m_p99_us={:.2} speedup_vs_scan={:.0}",
                latency.p99_us,
                latency.speedup.unwrap_or(f64::NAN)
            );
        }
        None => println!("k3_10m_p99_us=NaN speedup_vs_scan=NaN"),
    }
}
