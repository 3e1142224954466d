//! The archive at scale: ingest throughput from local files, and start-up (loading the
//! index from SQLite) with about a million segment fingerprints.
//!
//! 1. People's Daily, January 1998, grouped into pseudo-articles of 10 paragraphs, written
//!    as `.txt` files and ingested by the real `ingest` pass (extraction, normalisation,
//!    fingerprints, one SQLite transaction per article with a full disk sync).
//! 2. A database with `ORIGINALS` synthetic originals of `SEGMENTS_PER_ORIGINAL` segments
//!    and `ANCHORS_PER_ORIGINAL` anchors each (the densities measured on the real corpus),
//!    bulk-loaded, then `load_archive` timed: the daemon's start-up cost.
//! 3. SQLite beside PostgreSQL, in the same process on the same articles: ingest (median
//!    of 3 fresh stores each), re-ingest unchanged, `load_archive`, and lookups of an
//!    original by id and by URL (what detection does for each candidate), each the
//!    median of 5 batches. The PostgreSQL server is a throwaway cluster on loopback
//!    (`store::testdb`) with commits synced to disk, as SQLite's are; without
//!    PostgreSQL's binaries this part prints a skip line.
//!
//! Last line: `startup_1m_segments_s=<median seconds> ingest_articles_per_s=<n>`.

use std::time::{Duration, Instant};

use chrono::Utc;
use copyhound::config::Settings;
use copyhound::fingerprint::Segment;
use copyhound::originals::{ingest, load_archive, NoProgress};
use copyhound::store::{NewArticle, OriginalKey, Store};

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/peoples-daily-1998-01.txt"
);

const ORIGINALS: usize = 125_000;
const SEGMENTS_PER_ORIGINAL: usize = 8;
const ANCHORS_PER_ORIGINAL: usize = 70;

fn settings(dir: &std::path::Path, paths: &str) -> Settings {
    let source = format!(
        "[outlet]\nname = \"Bench\"\nwebsite = \"https://bench.example.com\"\naddress = \"A\"\n[storage]\ndir = \"state\"\n[originals]\npaths = [{paths}]\n"
    );
    match Settings::parse(&source, dir) {
        Ok(s) => s,
        Err(e) => panic!("bench config: {e}"),
    }
}

#[path = "support/rng.rs"]
mod rng;
use rng::Rng;

fn main() {
    let Ok(corpus) = std::fs::read_to_string(CORPUS) else {
        println!("skipping archive benchmark: cannot read {CORPUS}");
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    // 1. Ingest throughput on real text.
    let dir = tempfile::tempdir().expect("temp dir");
    let archive = dir.path().join("archive");
    std::fs::create_dir_all(&archive).expect("archive dir");
    let paragraphs: Vec<&str> = corpus.lines().filter(|l| !l.trim().is_empty()).collect();
    let articles: Vec<String> = paragraphs.chunks(10).map(|c| c.join("\n")).collect();
    for (i, a) in articles.iter().enumerate() {
        std::fs::write(archive.join(format!("{i:05}.txt")), a).expect("write article");
    }
    let s = settings(dir.path(), "\"archive\"");
    let mut store = Store::open_dir(&s.storage.dir).expect("store");
    let started = Instant::now();
    let summary = runtime
        .block_on(ingest(&s, &mut store, None, &NoProgress))
        .expect("ingest");
    let first = started.elapsed();
    let started = Instant::now();
    let again = runtime
        .block_on(ingest(&s, &mut store, None, &NoProgress))
        .expect("ingest");
    let second = started.elapsed();
    let segments = store
        .current_segment_fingerprints()
        .expect("segments")
        .len();
    let anchors = store.current_anchors().expect("anchors").len();
    let ingest_rate = summary.new as f64 / first.as_secs_f64();
    println!(
        "ingest: {} articles ({} MB of text) in {:.2} s = {:.0} articles/s; re-ingest unchanged: {:.0} articles/s",
        summary.new,
        corpus.len() / 1_000_000,
        first.as_secs_f64(),
        ingest_rate,
        again.unchanged as f64 / second.as_secs_f64()
    );
    println!(
        "per article: {:.1} segments, {:.1} anchors",
        segments as f64 / summary.new.max(1) as f64,
        anchors as f64 / summary.new.max(1) as f64
    );
    let started = Instant::now();
    let loaded = load_archive(&store, &s).expect("load");
    println!(
        "load {} originals: {:.3} s, index {:.1} MB",
        summary.new,
        started.elapsed().as_secs_f64(),
        loaded.index.memory_bytes() as f64 / 1e6
    );
    drop(store);

    // 2. Start-up with about a million segment fingerprints.
    let big = tempfile::tempdir().expect("temp dir");
    let s = settings(big.path(), "");
    let mut store = Store::open_dir(&s.storage.dir).expect("store");
    let mut rng = Rng(42);
    let now = Utc::now();
    let started = Instant::now();
    for batch in 0..ORIGINALS / 1000 {
        let articles: Vec<NewArticle> = (0..1000)
            .map(|i| {
                let n = batch * 1000 + i;
                NewArticle {
                    url: format!("https://bench.example.com/a/{n}"),
                    title: format!("article {n}"),
                    published: None,
                    author: None,
                    source: "bench".into(),
                    text: format!("article {n}"),
                    text_sha256: format!("{n:064x}"),
                    simhash: rng.next(),
                    segments: (0..SEGMENTS_PER_ORIGINAL as u32)
                        .map(|k| Segment {
                            start: k * 100,
                            end: k * 100 + 100,
                            simhash: rng.next(),
                        })
                        .collect(),
                    anchors: (0..ANCHORS_PER_ORIGINAL).map(|_| rng.next()).collect(),
                    sentence_hashes: Vec::new(),
                    extraction: "container".into(),
                    page_chars: 0,
                    suspect: None,
                }
            })
            .collect();
        store.upsert_originals(&articles, now).expect("bulk insert");
    }
    println!(
        "built a database of {ORIGINALS} originals, {} segment fingerprints, {} anchors in {:.1} s",
        ORIGINALS * SEGMENTS_PER_ORIGINAL,
        ORIGINALS * ANCHORS_PER_ORIGINAL,
        started.elapsed().as_secs_f64()
    );
    let mut times: Vec<Duration> = Vec::new();
    let mut memory = 0;
    for _ in 0..3 {
        let started = Instant::now();
        let loaded = load_archive(&store, &s).expect("load");
        times.push(started.elapsed());
        memory = loaded.index.memory_bytes();
    }
    times.sort();
    let median = times[1].as_secs_f64();
    println!(
        "start-up (load_archive) median of 3: {median:.3} s, index {:.0} MB",
        memory as f64 / 1e6
    );
    backends(&runtime, dir.path());
    println!("startup_1m_segments_s={median:.3} ingest_articles_per_s={ingest_rate:.0}");
}

/// Runs of each measurement in part 3 (the median is printed).
const BACKEND_RUNS: usize = 3;
/// Lookups per batch, and batches, in part 3.
const LOOKUPS: usize = 2_000;
const LOOKUP_BATCHES: usize = 5;

/// One backend's figures in part 3.
struct BackendFigures {
    ingest_per_s: f64,
    reingest_per_s: f64,
    load_s: f64,
    by_id_us: f64,
    by_url_us: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Part 3: the articles under `root/archive` ingested into SQLite and into PostgreSQL.
fn backends(runtime: &tokio::runtime::Runtime, root: &std::path::Path) {
    let s = settings(root, "\"archive\"");
    let sqlite = measure_backend(runtime, &s, || {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open_dir(dir.path()).expect("store");
        (store, dir)
    });
    print_backend("sqlite", &sqlite);
    let Some(cluster) = copyhound::store::testdb::own_cluster(
        "the PostgreSQL figures of the archive benchmark",
        &[],
        &[],
    ) else {
        println!("postgres: skipped (initdb/pg_ctl not found; apt-get install postgresql)");
        return;
    };
    let pg = measure_backend(runtime, &s, || {
        let target = cluster.target(&cluster.new_database());
        (Store::open_postgres(&target).expect("postgres store"), ())
    });
    print_backend("postgres", &pg);
    println!(
        "postgres/sqlite: ingest {:.2}x, re-ingest {:.2}x, load {:.2}x the time, lookup by id {:.2}x the time, by URL {:.2}x the time",
        pg.ingest_per_s / sqlite.ingest_per_s,
        pg.reingest_per_s / sqlite.reingest_per_s,
        pg.load_s / sqlite.load_s,
        pg.by_id_us / sqlite.by_id_us,
        pg.by_url_us / sqlite.by_url_us
    );
    println!(
        "pg_ingest_articles_per_s={:.0} pg_lookup_by_id_us={:.1} sqlite_ingest_articles_per_s={:.0} sqlite_lookup_by_id_us={:.1}",
        pg.ingest_per_s, pg.by_id_us, sqlite.ingest_per_s, sqlite.by_id_us
    );
}

fn print_backend(name: &str, f: &BackendFigures) {
    println!(
        "{name}: ingest {:.0} articles/s, re-ingest unchanged {:.0} articles/s (medians of {BACKEND_RUNS}); load_archive {:.3} s; lookup by id {:.1} µs, by URL {:.1} µs (medians of {LOOKUP_BATCHES} x {LOOKUPS})",
        f.ingest_per_s, f.reingest_per_s, f.load_s, f.by_id_us, f.by_url_us
    );
}

/// Ingest, re-ingest, load and look up on fresh stores from `open` (which also returns
/// whatever must live as long as the store, such as its temporary directory).
fn measure_backend<T>(
    runtime: &tokio::runtime::Runtime,
    s: &Settings,
    mut open: impl FnMut() -> (Store, T),
) -> BackendFigures {
    let (mut ingest_rates, mut reingest_rates, mut loads) = (Vec::new(), Vec::new(), Vec::new());
    let mut last = None;
    for _ in 0..BACKEND_RUNS {
        let (mut store, keep) = open();
        let started = Instant::now();
        let first = runtime
            .block_on(ingest(s, &mut store, None, &NoProgress))
            .expect("ingest");
        ingest_rates.push(first.new as f64 / started.elapsed().as_secs_f64());
        let started = Instant::now();
        let again = runtime
            .block_on(ingest(s, &mut store, None, &NoProgress))
            .expect("re-ingest");
        reingest_rates.push(again.unchanged as f64 / started.elapsed().as_secs_f64());
        let started = Instant::now();
        std::hint::black_box(load_archive(&store, s).expect("load"));
        loads.push(started.elapsed().as_secs_f64());
        last = Some((store, keep));
    }
    let (store, _keep) = last.expect("at least one run");
    let originals = store.list_originals().expect("list");
    let mut rng = Rng(7);
    let mut pick = || &originals[(rng.next() % originals.len() as u64) as usize];
    let batch = |key: &mut dyn FnMut() -> OriginalKey| {
        let started = Instant::now();
        for _ in 0..LOOKUPS {
            let found = store.find_original(&key()).expect("lookup");
            assert!(found.is_some());
        }
        started.elapsed().as_secs_f64() * 1e6 / LOOKUPS as f64
    };
    let by_id = median(
        (0..LOOKUP_BATCHES)
            .map(|_| batch(&mut || OriginalKey::Id(pick().id)))
            .collect(),
    );
    let by_url = median(
        (0..LOOKUP_BATCHES)
            .map(|_| batch(&mut || OriginalKey::Url(pick().url.clone())))
            .collect(),
    );
    BackendFigures {
        ingest_per_s: median(ingest_rates),
        reingest_per_s: median(reingest_rates),
        load_s: median(loads),
        by_id_us: by_id,
        by_url_us: by_url,
    }
}
