//! The whole crawler pipeline at speed: a loopback site of 2,050 pages built from People's
//! Daily (January 1998) pseudo-articles of 10 paragraphs, one in ten of them a copy of an
//! archived original, crawled by `crawl_once` with politeness off: fetch (through the
//! guard, robots.txt, the scheduler), extraction, fingerprints, index lookup,
//! verification, match recording and the frontier bookkeeping in SQLite.
//!
//! The site is served from this process (its CPU time is included in the figures, so
//! they are pessimistic). CPU time is user + system time of the process from
//! `/proc/self/stat` (clock ticks of 1/100 s, the Linux default); peak RSS is `VmHWM`
//! from `/proc/self/status`.
//!
//! Last line: `pages_per_s=<n> cpu_ms_per_page=<n> peak_rss_mb=<n>`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::http::{header, StatusCode, Uri};
use axum::response::IntoResponse;
use copyhound::config::Settings;
use copyhound::crawl::pipeline::crawl_once;
use copyhound::originals::{ingest, NoProgress};
use copyhound::store::Store;

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/peoples-daily-1998-01.txt"
);

/// Article pages on the site.
const PAGES: usize = 2000;
/// Originals in the archive; page `i` copies original `i / 10` when `i % 10 == 0`.
const ORIGINALS: usize = 200;
/// Section pages linking to the articles (the home page links to the sections).
const SECTIONS: usize = 50;

#[path = "support/mod.rs"]
mod support;
use support::cpu_ms;

/// Peak resident set size in MB.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;")
}

fn article_page(i: usize, title: &str, text: &str) -> String {
    let body: String = text
        .lines()
        .map(|p| format!("<p>{}</p>\n", escape(p)))
        .collect();
    let related: String = (1..=3)
        .map(|k| format!("<a href=\"/a/{}.html\">相关 {k}</a> ", (i + k * 7) % PAGES))
        .collect();
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{t}</title></head><body>\
         <div class=\"nav\"><a href=\"/\">首页</a> <a href=\"/s/0.html\">要闻</a></div>\
         <div class=\"article\"><h1>{t}</h1>\n{body}</div>\
         <div class=\"related\">{related}</div><div class=\"footer\">转载网 版权所有</div></body></html>",
        t = escape(title)
    )
}

fn main() {
    let Ok(corpus) = std::fs::read_to_string(CORPUS) else {
        println!("skipping crawl benchmark: cannot read {CORPUS}");
        return;
    };
    let paragraphs: Vec<&str> = corpus.lines().filter(|l| !l.trim().is_empty()).collect();
    let articles: Vec<String> = paragraphs.chunks(10).map(|c| c.join("\n")).collect();
    assert!(articles.len() > ORIGINALS + PAGES / 2, "corpus too small");
    // Unrelated pages take the articles after the originals, wrapping around (the corpus
    // holds about 1,950 pseudo-articles); a repeated unrelated text is still unrelated.
    let unrelated = &articles[ORIGINALS..];

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    // The archive.
    let dir = tempfile::tempdir().expect("temp dir");
    let archive = dir.path().join("archive");
    std::fs::create_dir_all(&archive).expect("archive dir");
    for (i, a) in articles[..ORIGINALS].iter().enumerate() {
        std::fs::write(archive.join(format!("{i:05}.txt")), a).expect("write original");
    }

    // The site: home → sections → articles; one article in ten copies an original.
    let mut site: HashMap<String, String> = HashMap::new();
    for i in 0..PAGES {
        let text = if i % 10 == 0 {
            &articles[i / 10]
        } else {
            &unrelated[i % unrelated.len()]
        };
        let title = text
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(30)
            .collect::<String>();
        site.insert(format!("/a/{i}.html"), article_page(i, &title, text));
    }
    let per_section = PAGES / SECTIONS;
    for s in 0..SECTIONS {
        let links: String = (s * per_section..(s + 1) * per_section)
            .map(|i| format!("<li><a href=\"/a/{i}.html\">文章 {i}</a></li>"))
            .collect();
        site.insert(
            format!("/s/{s}.html"),
            format!("<html><body><h1>栏目 {s}</h1><ul>{links}</ul></body></html>"),
        );
    }
    let home: String = (0..SECTIONS)
        .map(|s| format!("<a href=\"/s/{s}.html\">栏目 {s}</a> "))
        .collect();
    site.insert("/".into(), format!("<html><body>{home}</body></html>"));
    let site = Arc::new(site);
    let addr = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let router = axum::Router::new().fallback(move |uri: Uri| {
            let site = Arc::clone(&site);
            async move {
                match site.get(uri.path()) {
                    Some(html) => (
                        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                        html.clone(),
                    )
                        .into_response(),
                    None => StatusCode::NOT_FOUND.into_response(),
                }
            }
        });
        tokio::spawn(async move { axum::serve(listener, router).await });
        addr
    });

    let source = format!(
        "[outlet]\nname = \"Bench\"\nwebsite = \"https://bench.example.com\"\naddress = \"A\"\n\
         [storage]\ndir = \"state\"\n[originals]\npaths = [\"archive\"]\n\
         [crawl]\nseeds = [\"http://{addr}/\"]\nmax_depth = 3\nper_host_delay = \"0s\"\n\
         concurrency = 32\nconnections_per_host = 16\nmax_pages_per_host = 1000000\n\
         allow_private_networks = true\n"
    );
    let settings = match Settings::parse(&source, dir.path()) {
        Ok(s) => s,
        Err(e) => panic!("bench config: {e}"),
    };
    let mut store = Store::open_dir(&settings.storage.dir).expect("store");
    let ingested = runtime
        .block_on(ingest(&settings, &mut store, None, &NoProgress))
        .expect("ingest");
    assert_eq!(ingested.new, ORIGINALS);

    let cpu_before = cpu_ms();
    let started = Instant::now();
    let summary = runtime
        .block_on(crawl_once(
            &settings,
            &mut store,
            std::future::pending::<()>(),
        ))
        .expect("crawl");
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_ms() - cpu_before;
    println!("{}", summary.render());
    let pages = summary.fetched + summary.not_modified;
    assert!(pages > PAGES, "crawl fetched only {pages} pages");
    // Every planted copy is found (a few come out `partial` where extraction drops a
    // paragraph of a short pseudo-article; People's Daily repeats some text, so an
    // unrelated page can share enough with an original to be a partial too).
    assert!(
        summary.matches.total() >= PAGES / 10,
        "only {} matches",
        summary.matches.total()
    );
    println!(
        "{pages} pages in {elapsed:.2} s, {:.0} ms CPU ({} matches recorded)",
        cpu,
        store.match_count().unwrap_or(0)
    );
    println!(
        "pages_per_s={:.0} cpu_ms_per_page={:.2} peak_rss_mb={:.0}",
        pages as f64 / elapsed,
        cpu / pages as f64,
        peak_rss_mb()
    );
}
