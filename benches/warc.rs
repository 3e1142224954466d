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

use std::io::{Read, Write};
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

/// Process CPU time (user + system) in seconds.
fn cpu_s() -> f64 {
    support::cpu_ms() / 1000.0
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;")
}

fn copier_page(title: &str, text: &str) -> Vec<u8> {
    let body: String = text
        .lines()
        .map(|p| format!("<p>{}</p>\n", escape(p)))
        .collect();
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{t}</title></head><body>\
         <div class=\"nav\"><a href=\"/\">首页</a> <a href=\"/s/0.html\">要闻</a></div>\
         <div class=\"article\"><h1>{t}</h1>\n{body}</div>\
         <div class=\"footer\">转载网 版权所有</div></body></html>",
        t = escape(title)
    )
    .into_bytes()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip")
}

fn record(warc_type: &str, uri: &str, n: usize, extra: &str, block: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "WARC/1.0\r\nWARC-Type: {warc_type}\r\nWARC-Date: 2024-05-01T10:00:00Z\r\n\
         WARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-{n:012}>\r\n\
         Content-Length: {}\r\n{extra}WARC-Target-URI: {uri}\r\n\r\n",
        block.len()
    )
    .into_bytes();
    r.extend_from_slice(block);
    r.extend_from_slice(b"\r\n\r\n");
    gzip(&r)
}

/// Every real HTML page of the test data.
fn real_pages() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for dir in [
        "news-pages/html",
        "zh-news-pages-unlabelled",
        "dev-extraction/html",
    ] {
        let Ok(entries) = std::fs::read_dir(Path::new(DATA).join(dir)) else {
            continue;
        };
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            if p.extension().is_some_and(|e| e == "html" || e == "htm") {
                if let Ok(bytes) = std::fs::read(&p) {
                    out.push(bytes);
                }
            }
        }
    }
    out
}

/// The file's bytes and the number of records in it.
fn build_warc(pages: &[Vec<u8>], originals: &[String]) -> (Vec<u8>, usize) {
    let info = b"software: StormCrawler\r\nformat: WARC File Format 1.1\r\n";
    let mut file = record("warcinfo", "", 0, "", info);
    let mut records = 1;
    let responses = (MIN_RECORDS - 1).div_ceil(3);
    // A planted copy every `every` responses.
    let every = responses / PLANTED;
    let mut n = 1;
    for i in 0..responses {
        let (url, html) = if i % every == 0 && i / every < PLANTED {
            let text = &originals[i / every];
            let title: String = text.lines().next().unwrap_or("").chars().take(30).collect();
            (
                format!("https://copier{}.example/a/{i}.html", i % 7),
                copier_page(&title, text),
            )
        } else {
            (
                format!("https://site{}.example/news/{i}.html", i % 97),
                pages[i % pages.len()].clone(),
            )
        };
        file.extend(record(
            "request",
            &url,
            n,
            "Content-Type: application/http; msgtype=request\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        ));
        let mut block = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n",
            html.len()
        )
        .into_bytes();
        block.extend_from_slice(&html);
        file.extend(record(
            "response",
            &url,
            n + 1,
            "Content-Type: application/http; msgtype=response\r\n",
            &block,
        ));
        file.extend(record(
            "metadata",
            &url,
            n + 2,
            "Content-Type: application/warc-fields\r\n",
            b"fetchTimeMs: 120\r\n",
        ));
        n += 3;
        records += 3;
    }
    (file, records)
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
    let pages = real_pages();
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
    let (bytes, records) = build_warc(&pages, &originals);
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
