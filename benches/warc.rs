//! `scan-warc` at speed, on one core: a CC-NEWS-shaped WARC (gzip per record, a request,
//! a response and a metadata record per page, as Common Crawl writes them) of at least
//! 20,000 records built from the real pages of `../shared/data` (the news pages, the
//! unlabelled Chinese pages and the extraction set, each repeated under many URLs), with
//! 300 planted copies of ingested originals (People's Daily pseudo-articles of 10
//! paragraphs in a copier's template) spread through the file.
//!
//! Measured, each on one thread: a plain gzip decoder over the file (the baseline), our
//! reader alone (every record parsed, response blocks kept), the full path without
//! fast rejection (every HTML page extracted and looked up) and the real path (fast
//! rejection first). Per-core figures divide by the process CPU time (user + system,
//! `/proc/self/stat`), so they hold on a busy machine.
//!
//! Last line: `warc_records_per_s_per_core=<n> reject_speedup=<ratio>`.

use std::io::Read;
use std::path::Path;
use std::time::Instant;

use copyhound::config::Settings;
use copyhound::originals::{ingest, NoProgress};
use copyhound::store::Store;
use copyhound::webarchive::reader::{Block, Limits, WarcReader};
use copyhound::webarchive::{scan, ScanOptions, Source};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data");

/// Records in the file at least.
const MIN_RECORDS: usize = 20_000;
/// Originals in the archive, each copied once in the file.
const PLANTED: usize = 300;

#[path = "support/mod.rs"]
mod support;
#[path = "support/warcfile.rs"]
mod warcfile;

/// Process CPU time (user + system) in seconds.
fn cpu_s() -> f64 {
    support::cpu_ms() / 1000.0
}

/// A fresh store with the originals ingested, and its settings.
fn world(
    root: &Path,
    originals: &[String],
    runtime: &tokio::runtime::Runtime,
) -> (Settings, Store) {
    let archive = root.join("archive");
    std::fs::create_dir_all(&archive).expect("archive dir");
    for (i, a) in originals.iter().enumerate() {
        std::fs::write(archive.join(format!("{i:05}.txt")), a).expect("write original");
    }
    let source = "[outlet]\nname = \"Bench\"\nwebsite = \"https://bench.example.com\"\n\
                  address = \"A\"\n[storage]\ndir = \"state\"\n[originals]\npaths = [\"archive\"]\n";
    let settings = Settings::parse(source, root).unwrap_or_else(|e| panic!("bench config: {e}"));
    let mut store = Store::open_dir(&settings.storage.dir).expect("store");
    let ingested = runtime
        .block_on(ingest(&settings, &mut store, None, &NoProgress))
        .expect("ingest");
    assert_eq!(ingested.new, originals.len());
    (settings, store)
}

struct Run {
    label: &'static str,
    records: usize,
    bytes: usize,
    wall: f64,
    cpu: f64,
}

impl Run {
    fn print(&self) {
        let cpu = self.cpu.max(0.01);
        println!(
            "{:<28} {:>9.0} records/s per core {:>8.1} MB/s per core   ({} records, {:.1} MB, {:.2} s wall, {:.2} s CPU)",
            self.label,
            self.records as f64 / cpu,
            self.bytes as f64 / 1e6 / cpu,
            self.records,
            self.bytes as f64 / 1e6,
            self.wall,
            self.cpu
        );
    }
}

fn timed(label: &'static str, records: usize, bytes: usize, f: impl FnOnce()) -> Run {
    let (cpu0, t0) = (cpu_s(), Instant::now());
    f();
    Run {
        label,
        records,
        bytes,
        wall: t0.elapsed().as_secs_f64(),
        cpu: cpu_s() - cpu0,
    }
}

fn main() {
    let Ok(corpus) = std::fs::read_to_string(Path::new(DATA).join("peoples-daily-1998-01.txt"))
    else {
        println!("skipping warc benchmark: ../shared/data not found");
        return;
    };
    let pages = warcfile::real_pages(Path::new(DATA));
    assert!(pages.len() > 100, "too few real pages: {}", pages.len());
    let paragraphs: Vec<&str> = corpus.lines().filter(|l| !l.trim().is_empty()).collect();
    let originals: Vec<String> = paragraphs
        .chunks(10)
        .take(PLANTED)
        .map(|c| c.join("\n"))
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");

    let dir = tempfile::tempdir().expect("temp dir");
    let (bytes, records) =
        warcfile::build_warc(&pages, &originals, (MIN_RECORDS - 1).div_ceil(3), 0);
    let path = dir.path().join("CC-NEWS-bench.warc.gz");
    std::fs::write(&path, &bytes).expect("write warc");
    println!(
        "{records} records ({} real pages reused, {PLANTED} planted copies), {:.1} MB gzipped per record",
        pages.len(),
        bytes.len() as f64 / 1e6
    );
    drop(bytes);
    let size = std::fs::metadata(&path).map_or(0, |m| m.len() as usize);

    // Baseline: a plain gzip decoder over the same file.
    let mut plain_out = 0usize;
    let gunzip = timed("plain gzip decoder", records, size, || {
        let file = std::io::BufReader::with_capacity(
            256 * 1024,
            std::fs::File::open(&path).expect("open"),
        );
        let mut d = flate2::bufread::MultiGzDecoder::new(file);
        let mut buf = vec![0u8; 256 * 1024];
        while let Ok(n) = d.read(&mut buf) {
            if n == 0 {
                break;
            }
            plain_out += n;
        }
    });

    // Our reader alone.
    let mut read = 0usize;
    let reading = timed("reader alone", records, size, || {
        let file = std::io::BufReader::with_capacity(
            256 * 1024,
            std::fs::File::open(&path).expect("open"),
        );
        let mut reader = WarcReader::new(file, Limits::default()).expect("reader");
        while let Some(r) = reader.next_record(|h| h.warc_type() == "response") {
            let r = r.expect("no damage");
            if let Block::Kept(b) = &r.block {
                std::hint::black_box(b.len());
            }
            read += 1;
        }
    });
    assert_eq!(read, records);

    let sources = [Source::Local(path.clone())];
    let mut results = Vec::new();
    for (label, fast_reject) in [
        ("full path (no rejection)", false),
        ("real path (fast rejection)", true),
    ] {
        let root = tempfile::tempdir().expect("temp dir");
        let (settings, store) = world(root.path(), &originals, &runtime);
        let options = ScanOptions {
            jobs: 1,
            progress: false,
            rescan: false,
            fast_reject,
        };
        let mut summary = None;
        let run = timed(label, records, size, || {
            summary =
                Some(scan(&settings, &store, &sources, &options, runtime.handle()).expect("scan"));
        });
        let summary = summary.expect("summary");
        println!("  {}", summary.render());
        let found = summary.matches.copy + summary.matches.partial;
        assert!(
            found >= PLANTED,
            "{label}: {found} of {PLANTED} planted copies found"
        );
        results.push(run);
        drop(root);
    }

    println!("plain gzip output: {:.1} MB", plain_out as f64 / 1e6);
    gunzip.print();
    reading.print();
    for r in &results {
        r.print();
    }
    let rate = |r: &Run| r.records as f64 / r.cpu.max(0.01);
    let reader_share = rate(&reading) / rate(&gunzip);
    println!(
        "reader at {:.0}% of the plain gzip decoder's speed (target: at least 50%)",
        reader_share * 100.0
    );
    let (full, real) = (&results[0], &results[1]);
    println!(
        "warc_records_per_s_per_core={:.0} reject_speedup={:.1}",
        rate(real),
        rate(real) / rate(full)
    );
}
