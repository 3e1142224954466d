//! What a worker's start costs at scale: the time to load the archive's index from the
//! store and the memory it holds, for `COPYHOUND_SCALE_ORIGINALS` originals (default
//! 20,000, small enough for CI; the figure is 1,000,000) of
//! `COPYHOUND_SCALE_SEGMENTS` segment fingerprints each (default 10, the 10
//! million segments for a million originals).
//!
//! The store is synthetic but has the real tables, written through the real
//! `Store::upsert_originals`: each original's text is a 10-paragraph chunk of People's
//! Daily (January 1998) with its number appended, so the version rows weigh what real
//! ones do; its whole-text and segment SimHashes and its anchors are uniform random
//! 64-bit values (SimHash and the anchor hash are close to uniform on real text), with
//! `ANCHORS_PER_ORIGINAL` anchors each, the density `cargo bench --bench archive`
//! measures on the same corpus. What random values do not have: the anchors that real
//! originals share (common phrases), which the index collapses, so the anchor table here
//! is if anything larger than a real one.
//!
//! Each measurement runs in a child process of its own (this binary again, with
//! `COPYHOUND_SCALE_CHILD` set), so its peak RSS (`VmHWM`) is the start's alone, not the
//! store generation's.
//!
//! `COPYHOUND_SCALE_DIR=PATH` keeps the generated store there and reuses it on the next
//! run (generating a million originals takes minutes); `COPYHOUND_DATABASE_URL` (a
//! `postgres://` URL of an empty database) measures PostgreSQL instead of SQLite.
//!
//! Four kinds of start are measured, `COPYHOUND_SCALE_RUNS` (default 3) times each:
//! `load_archive` alone; a worker with its own in-memory index (`[index] mapped =
//! false`); the first worker on a machine, which builds the shared index file; and a
//! worker that maps the file another built (`[index] mapped = true`, the default).
//!
//! Last line: `scale_originals=<n> load_index_s=<s> load_worker_s=<s>
//! worker_peak_rss_mb=<MB> index_mb=<MB> mapped_start_s=<s> mapped_private_mb=<MB>`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use chrono::Utc;
use copyhound::config::Settings;
use copyhound::examine::Detector;
use copyhound::fingerprint::Segment;
use copyhound::originals::load_archive;
use copyhound::store::{NewArticle, Store};

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/peoples-daily-1998-01.txt"
);

/// Anchors per original on the real corpus (`cargo bench --bench archive` prints it).
const ANCHORS_PER_ORIGINAL: usize = 70;

/// Originals written per transaction while generating.
const BATCH: usize = 2000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn settings(dir: &Path) -> Settings {
    let database = std::env::var("COPYHOUND_DATABASE_URL")
        .map(|url| format!("database_url = \"{url}\"\n"))
        .unwrap_or_default();
    let source = format!(
        "[outlet]\nname = \"Bench\"\nwebsite = \"https://bench.example.com\"\naddress = \"A\"\n[storage]\ndir = \"state\"\n{database}"
    );
    match Settings::parse(&source, dir) {
        Ok(s) => s,
        Err(e) => panic!("bench config: {e}"),
    }
}

#[path = "support/rng.rs"]
mod rng;
use rng::Rng;

/// A `kB` field of /proc/self/status, in MB: `VmHWM` is the peak resident set,
/// `RssAnon` the private memory resident now, `RssFile` the file pages resident now
/// (a mapped index file's pages, shared with every process mapping it).
fn status_mb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Writes `originals` synthetic originals (see the module header) into the store.
fn generate(store: &mut Store, originals: usize, segments: usize, corpus: &str) {
    let paragraphs: Vec<&str> = corpus.lines().filter(|l| !l.trim().is_empty()).collect();
    let texts: Vec<String> = paragraphs.chunks(10).map(|c| c.join("\n")).collect();
    let mut rng = Rng(42);
    let now = Utc::now();
    let started = Instant::now();
    let mut written = 0;
    while written < originals {
        let batch: Vec<NewArticle> = (written..originals.min(written + BATCH))
            .map(|n| {
                let text = format!("{}\n{n}", texts[n % texts.len()]);
                let chars = text.chars().count() as u32;
                let per = (chars / segments.max(1) as u32).max(1);
                NewArticle {
                    url: format!("https://bench.example.com/a/{n}"),
                    title: format!("article {n}"),
                    published: None,
                    author: None,
                    source: "bench".into(),
                    text_sha256: format!("{n:064x}"),
                    text,
                    simhash: rng.next(),
                    segments: (0..segments as u32)
                        .map(|k| Segment {
                            start: k * per,
                            end: (k + 1) * per,
                            simhash: rng.next(),
                        })
                        .collect(),
                    anchors: (0..ANCHORS_PER_ORIGINAL).map(|_| rng.next()).collect(),
                    sentence_hashes: Vec::new(),
                    extraction: "container".into(),
                    page_chars: chars as i64,
                    suspect: None,
                }
            })
            .collect();
        written += batch.len();
        store.upsert_originals(&batch, now).expect("bulk insert");
        if written % 100_000 < BATCH {
            eprintln!(
                "generated {written} originals in {:.0} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    println!(
        "generated {originals} originals ({} segment fingerprints, {} anchors) in {:.1} s",
        originals * segments,
        originals * ANCHORS_PER_ORIGINAL,
        started.elapsed().as_secs_f64()
    );
}

/// The child: one start, timed, then its memory. Prints one `key=value` line.
/// `index`: `load_archive` alone; `worker`: a worker's start with its own in-memory
/// index; `mapped-build`: a worker's start that builds the machine's index file;
/// `mapped`: a worker's start that maps the file another built.
fn child(dir: &Path, what: &str) {
    let s = settings(dir);
    let store = Store::open_storage(&s.storage).expect("store");
    if what == "mapped-build" {
        let _ = std::fs::remove_dir_all(s.index.mapped_dir(&s.storage));
    }
    let started = Instant::now();
    // What was loaded stays alive (`_held`) until the memory is read below.
    let (index_mb, fingerprints, anchors, _held): (f64, usize, usize, Box<dyn std::any::Any>) =
        match what {
            "index" => {
                let archive = load_archive(&store, &s).expect("load");
                let (f, a) = archive.index.len();
                let mb = archive.index.memory_bytes() as f64 / 1e6;
                (mb, f, a, Box::new(archive))
            }
            "worker" => {
                let detector = Detector::load(&store, &s).expect("load");
                let (f, a) = detector.index_len();
                (0.0, f, a, Box::new(detector))
            }
            _ => {
                let detector = Detector::load_mapped(&store, &s).expect("load");
                let (f, a) = detector.index_len();
                (0.0, f, a, Box::new(detector))
            }
        };
    let seconds = started.elapsed().as_secs_f64();
    let file_mb = std::fs::read_dir(s.index.mapped_dir(&s.storage))
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0) as f64
        / 1e6;
    println!(
        "seconds={seconds:.3} peak_rss_mb={:.0} rss_anon_mb={:.0} rss_file_mb={:.0} index_mb={index_mb:.0} file_mb={file_mb:.0} fingerprints={fingerprints} anchors={anchors}",
        status_mb("VmHWM"),
        status_mb("RssAnon"),
        status_mb("RssFile"),
    );
}

/// Runs one start in a child process; its `key=value` fields.
fn measure(dir: &Path, what: &str) -> Vec<(String, f64)> {
    let out = Command::new(std::env::current_exe().expect("own path"))
        .env("COPYHOUND_SCALE_CHILD", what)
        .env("COPYHOUND_SCALE_DIR", dir)
        .output()
        .expect("child");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "child failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect()
}

fn field(fields: &[(String, f64)], key: &str) -> f64 {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map_or(f64::NAN, |(_, v)| *v)
}

fn main() {
    if let Ok(what) = std::env::var("COPYHOUND_SCALE_CHILD") {
        let dir = PathBuf::from(std::env::var_os("COPYHOUND_SCALE_DIR").expect("dir"));
        child(&dir, &what);
        return;
    }
    // `cargo bench` passes `--bench`; a filter that names another benchmark skips this.
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && a != "index_scale")
    {
        return;
    }
    let Ok(corpus) = std::fs::read_to_string(CORPUS) else {
        println!("skipping index_scale benchmark: cannot read {CORPUS}");
        return;
    };
    let originals = env_usize("COPYHOUND_SCALE_ORIGINALS", 20_000);
    let segments = env_usize("COPYHOUND_SCALE_SEGMENTS", 10);
    let temp;
    let dir = match std::env::var_os("COPYHOUND_SCALE_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            temp = tempfile::tempdir().expect("temp dir");
            temp.path().to_path_buf()
        }
    };
    std::fs::create_dir_all(&dir).expect("dir");
    {
        let s = settings(&dir);
        let mut store = Store::open_storage(&s.storage).expect("store");
        let have = store.original_count().expect("count") as usize;
        if have == 0 {
            generate(&mut store, originals, segments, &corpus);
        } else {
            println!("reusing the store in {} ({have} originals)", dir.display());
        }
    }
    let runs = env_usize("COPYHOUND_SCALE_RUNS", 3);
    let mut index = Vec::new();
    let mut worker = Vec::new();
    let mut build = Vec::new();
    let mut mapped = Vec::new();
    for _ in 0..runs {
        index.push(measure(&dir, "index"));
        worker.push(measure(&dir, "worker"));
        build.push(measure(&dir, "mapped-build"));
        mapped.push(measure(&dir, "mapped"));
    }
    let median = |runs: &[Vec<(String, f64)>], key: &str| {
        let mut v: Vec<f64> = runs.iter().map(|r| field(r, key)).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (load_index, load_worker) = (median(&index, "seconds"), median(&worker, "seconds"));
    let (index_rss, worker_rss) = (
        median(&index, "peak_rss_mb"),
        median(&worker, "peak_rss_mb"),
    );
    let index_mb = median(&index, "index_mb");
    println!(
        "{} segment+whole fingerprints, {} anchor pairs",
        field(&index[0], "fingerprints"),
        field(&index[0], "anchors")
    );
    println!("medians of {runs} runs, each start in a fresh process:");
    println!(
        "  load_archive (index only): {load_index:.2} s, peak RSS {index_rss:.0} MB, index {index_mb:.0} MB"
    );
    println!(
        "  worker start, own in-memory index: {load_worker:.2} s, peak RSS {worker_rss:.0} MB, private {:.0} MB after",
        median(&worker, "rss_anon_mb")
    );
    println!(
        "  worker start that builds the machine's index file: {:.2} s, peak RSS {:.0} MB, file {:.0} MB",
        median(&build, "seconds"),
        median(&build, "peak_rss_mb"),
        median(&build, "file_mb")
    );
    let mapped_s = median(&mapped, "seconds");
    let mapped_private = median(&mapped, "rss_anon_mb");
    println!(
        "  worker start that maps the file: {mapped_s:.2} s, private {mapped_private:.0} MB, shared file pages {:.0} MB, peak RSS {:.0} MB",
        median(&mapped, "rss_file_mb"),
        median(&mapped, "peak_rss_mb")
    );
    let originals = Store::open_storage(&settings(&dir).storage)
        .and_then(|s| s.original_count())
        .unwrap_or(0);
    println!(
        "scale_originals={originals} load_index_s={load_index:.2} load_worker_s={load_worker:.2} worker_peak_rss_mb={worker_rss:.0} index_mb={index_mb:.0} mapped_start_s={mapped_s:.2} mapped_private_mb={mapped_private:.0}"
    );
}
