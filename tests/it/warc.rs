//! `copyhound scan-warc` against WARC files written by independent writers: GNU wget
//! (`--warc-file`, crawling a loopback site), warcio (Python; gzip per record, whole-file
//! gzip, plain, chunked bodies), and a CC-NEWS-shaped file (a WARC/1.1 warcinfo, WARC/1.0
//! records, Common Crawl's header renames); truncated and corrupt files; a remote file
//! whose connection is cut mid-way (resumed by range); paths listings and shards.
//!
//! The archive is real: originals are pages of `../shared/data`; the copies are their
//! text in another site's template (the same fixture as the crawler's pipeline tests).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::http::{header, StatusCode, Uri};
use axum::response::IntoResponse;
use tokio::io::AsyncWriteExt;

use crate::pipeline::{copier_page, real_pages, RealPage};
use crate::util::{copyhound, json, stderr, stdout};

/// Whether an external tool is there. CI sets `COPYHOUND_REQUIRE_TOOLS=1` (after
/// installing wget and warcio), which turns a missing tool into a failure instead of a
/// skip.
pub fn tool(available: bool, what: &str, test: &str) -> bool {
    if available {
        return true;
    }
    assert!(
        std::env::var_os("COPYHOUND_REQUIRE_TOOLS").is_none(),
        "{test}: {what} is missing and COPYHOUND_REQUIRE_TOOLS is set"
    );
    eprintln!("skipping {test}: {what} not installed (CI installs it)");
    false
}

/// The real test data, when both it and the tool a test needs are there.
fn data_with(tool_available: bool, what: &str, test: &str) -> Option<PathBuf> {
    let data = crate::util::shared_data()?;
    tool(tool_available, what, test).then_some(data)
}

fn has_wget() -> bool {
    Command::new("wget")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn has_warcio() -> bool {
    Command::new("python3")
        .args(["-c", "import warcio"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Originals ingested into a fresh store, and unrelated real pages.
struct World {
    dir: tempfile::TempDir,
    config: PathBuf,
    originals: Vec<RealPage>,
    unrelated: Vec<RealPage>,
}

impl World {
    fn new(data: &Path) -> World {
        World::configured(data, "", "")
    }

    /// As [`World::new`], with `storage` added to the `[storage]` section and `extra`
    /// at the end of the config.
    fn configured(data: &Path, storage: &str, extra: &str) -> World {
        let mut pages = real_pages(data, 8);
        let unrelated = pages.split_off(4);
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("archive");
        std::fs::create_dir_all(&archive).unwrap();
        for (i, p) in pages.iter().enumerate() {
            std::fs::write(archive.join(format!("o{i}.html")), &p.html).unwrap();
        }
        let config = dir.path().join("copyhound.toml");
        std::fs::write(
            &config,
            r#"[outlet]
name = "Test Daily"
website = "https://news.example.com"
address = "1 Test Road"
language = "en"

[[contacts]]
role = "legal"
name = "Counsel"
email = "legal@news.example.com"

[[contacts]]
role = "licensing"
name = "Licensing desk"
email = "licensing@news.example.com"

[storage]
dir = "state"
{storage}

[originals]
paths = ["archive"]

[crawl]
licensed = ["licensed.example"]
allow_private_networks = true
per_host_delay = "0s"
timeout = "10s"
"#
            .replace("{storage}", storage)
                + extra,
        )
        .unwrap();
        let out = copyhound(&["ingest", "--config", config.to_str().unwrap()]);
        assert!(
            stdout(&out).starts_with("ingest: 4 new"),
            "{}\n{}",
            stdout(&out),
            stderr(&out)
        );
        World {
            dir,
            config,
            originals: pages,
            unrelated,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--config", self.config.to_str().unwrap()]);
        copyhound(&all)
    }

    /// `scan-warc --json --quiet ARGS`, which must succeed; the summary.
    fn scan(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["scan-warc", "--json", "--quiet"];
        all.extend_from_slice(args);
        json(&self.run(&all))
    }

    /// (copy URL, verdict) of every match recorded, sorted.
    fn matches(&self) -> Vec<(String, String)> {
        let list = json(&self.run(&["matches", "list", "--json"]));
        let mut out: Vec<(String, String)> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["copy_url"].as_str().unwrap().to_string(),
                    m["verdict"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        out.sort();
        out
    }

    /// The copier's pages: full copies of originals 0 and 1, an excerpt of 2, and the
    /// unrelated pages as they are. Path → HTML.
    fn copier_site(&self) -> Vec<(String, Vec<u8>)> {
        let o = &self.originals;
        let excerpt = (o[2].paragraphs.len() * 2 / 5).max(3);
        let mut site = vec![
            (
                "/news/copy-0.html".to_string(),
                copier_page(&o[0].title, &o[0].paragraphs).into_bytes(),
            ),
            (
                "/news/copy-1.html".to_string(),
                copier_page(&o[1].title, &o[1].paragraphs).into_bytes(),
            ),
            (
                "/news/excerpt-2.html".to_string(),
                copier_page(&o[2].title, &o[2].paragraphs[..excerpt]).into_bytes(),
            ),
        ];
        for (i, p) in self.unrelated.iter().enumerate() {
            site.push((format!("/other/{i}.html"), p.html.clone()));
        }
        site
    }

    /// Writes a warcio WARC of `pages` (URL → HTML) with `flags`.
    fn warcio(&self, name: &str, pages: &[(String, Vec<u8>)], flags: &[&str]) -> PathBuf {
        let bodies = self.path(&format!("{name}.bodies"));
        std::fs::create_dir_all(&bodies).unwrap();
        let manifest: Vec<serde_json::Value> = pages
            .iter()
            .enumerate()
            .map(|(i, (url, html))| {
                let p = bodies.join(format!("{i}.html"));
                std::fs::write(&p, html).unwrap();
                serde_json::json!({"url": url, "path": p})
            })
            .collect();
        let manifest_path = self.path(&format!("{name}.json"));
        std::fs::write(&manifest_path, serde_json::to_vec(&manifest).unwrap()).unwrap();
        let out_path = self.path(name);
        let out = Command::new("python3")
            .arg(crate::util::root().join("tests/support/warcio_write.py"))
            .arg(&manifest_path)
            .arg(&out_path)
            .args(flags)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        out_path
    }
}

fn n(summary: &serde_json::Value, key: &str) -> u64 {
    summary[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} in {summary}"))
}

fn copies(summary: &serde_json::Value) -> u64 {
    summary["matches"]["copy"].as_u64().unwrap()
}

/// The copier's pages under `http://copier.example`.
fn pages_at(world: &World, base: &str) -> Vec<(String, Vec<u8>)> {
    world
        .copier_site()
        .into_iter()
        .map(|(path, html)| (format!("{base}{path}"), html))
        .collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[tokio::test]
async fn wget_warc_of_a_loopback_site_finds_the_copies() {
    let Some(data) = data_with(
        has_wget(),
        "wget",
        "wget_warc_of_a_loopback_site_finds_the_copies",
    ) else {
        return;
    };
    let world = World::new(&data);
    let site: Arc<HashMap<String, Vec<u8>>> = Arc::new(world.copier_site().into_iter().collect());
    let links: String = site
        .keys()
        .map(|p| format!("<a href=\"{p}\">{p}</a> "))
        .collect();
    let router = axum::Router::new().fallback(move |uri: Uri| {
        let site = Arc::clone(&site);
        let links = links.clone();
        async move {
            if uri.path() == "/" {
                return (
                    [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                    format!("<html><body>{links}</body></html>").into_bytes(),
                )
                    .into_response();
            }
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
    let addr = crate::util::fixture::serve(router).await;
    let warc_base = world.path("site");
    let dir = world.dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("wget")
            .current_dir(&dir)
            .args(["--quiet", "--recursive", "--level=1", "--no-directories"])
            .arg("--directory-prefix=mirror")
            .arg(format!("--warc-file={}", warc_base.display()))
            .arg(format!("http://{addr}/"))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    // wget exits 8 when some link answered an error; the WARC is written either way.
    let file = world.path("site.warc.gz");
    assert!(file.is_file(), "wget wrote no WARC: {}", stderr(&out));

    let summary = world.scan(&[file.to_str().unwrap()]);
    assert_eq!(n(&summary, "damaged"), 0, "{summary}");
    assert_eq!(copies(&summary), 2, "{summary}");
    assert_eq!(summary["matches"]["partial"].as_u64(), Some(1), "{summary}");
    // The home page, three copies and the unrelated pages are HTML; wget's log resource
    // and the request records are not.
    assert!(n(&summary, "html") >= 8, "{summary}");
    let found = world.matches();
    assert!(found
        .iter()
        .any(|(u, v)| u.ends_with("/news/copy-0.html") && v == "copy"));
    assert!(found
        .iter()
        .any(|(u, v)| u.ends_with("/news/excerpt-2.html") && v == "partial"));

    // A second scan records nothing new (the match rule is the crawler's).
    let again = world.scan(&[file.to_str().unwrap()]);
    assert_eq!(again["matches"]["copy"].as_u64(), Some(0), "{again}");
    assert_eq!(world.matches(), found);
}

#[test]
fn warcio_files_in_every_framing_read_the_same() {
    let Some(data) = data_with(
        has_warcio(),
        "python3 warcio",
        "warcio_files_in_every_framing_read_the_same",
    ) else {
        return;
    };
    let world = World::new(&data);
    let pages = pages_at(&world, "http://copier.example");
    let per_record = world.warcio("per-record.warc.gz", &pages, &[]);
    let plain = world.warcio("plain.warc", &pages, &["--no-gzip", "--version", "1.0"]);
    let chunked = world.warcio("chunked.warc.gz", &pages, &["--chunked"]);
    let whole = world.path("whole.warc.gz");
    std::fs::write(&whole, gzip(&std::fs::read(&plain).unwrap())).unwrap();
    for file in [&per_record, &plain, &chunked, &whole] {
        let out = world.run(&["scan-warc", "--json", "--quiet", file.to_str().unwrap()]);
        let summary = json(&out);
        assert_eq!(n(&summary, "damaged"), 0, "{}: {summary}", file.display());
        assert_eq!(
            n(&summary, "html"),
            pages.len() as u64,
            "{}: {summary}",
            file.display()
        );
        // warcinfo + request/response per page.
        assert_eq!(
            n(&summary, "records"),
            1 + 2 * pages.len() as u64,
            "{summary}"
        );
    }
    // Four files at once on two threads, scanned again from their start.
    let args: Vec<&str> = [&per_record, &plain, &chunked, &whole]
        .iter()
        .map(|p| p.to_str().unwrap())
        .collect();
    let mut all = vec!["--jobs", "2", "--rescan"];
    all.extend(args);
    let summary = world.scan(&all);
    assert_eq!(n(&summary, "files"), 4, "{summary}");
    assert_eq!(n(&summary, "html"), 4 * pages.len() as u64, "{summary}");
    // The copies were found by the first file; the others only saw them again.
    let found = world.matches();
    assert_eq!(
        found,
        vec![
            (
                "http://copier.example/news/copy-0.html".to_string(),
                "copy".to_string()
            ),
            (
                "http://copier.example/news/copy-1.html".to_string(),
                "copy".to_string()
            ),
            (
                "http://copier.example/news/excerpt-2.html".to_string(),
                "partial".to_string()
            ),
        ]
    );
}

/// One Common Crawl record: WARC/1.0 headers as CC-NEWS writes them, a gzip member.
fn cc_record(warc_type: &str, uri: &str, extra: &str, block: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "WARC/1.0\r\nWARC-Type: {warc_type}\r\nWARC-Date: 2024-05-01T10:00:00Z\r\n\
         WARC-Record-ID: <urn:uuid:{}>\r\nContent-Length: {}\r\n{extra}\
         WARC-Target-URI: {uri}\r\n\r\n",
        uuid::Uuid::new_v4(),
        block.len()
    )
    .into_bytes();
    r.extend_from_slice(block);
    r.extend_from_slice(b"\r\n\r\n");
    gzip(&r)
}

/// A CC-NEWS-shaped file: a WARC/1.1 warcinfo, then for each page a request, a response
/// (with CC's `X-Crawler-` renames of the content and transfer coding fields, body
/// stored decoded) and a metadata record, all WARC/1.0, one gzip member each.
fn cc_news_file(pages: &[(String, Vec<u8>)]) -> Vec<u8> {
    let info = b"software: StormCrawler 2.x\r\nformat: WARC File Format 1.1\r\n";
    let mut file = gzip(
        &[
            format!(
                "WARC/1.1\r\nWARC-Type: warcinfo\r\nWARC-Date: 2024-05-01T10:00:00Z\r\n\
                 WARC-Filename: CC-NEWS-20240501100000-00001.warc.gz\r\n\
                 WARC-Record-ID: <urn:uuid:{}>\r\nContent-Type: application/warc-fields\r\n\
                 Content-Length: {}\r\n\r\n",
                uuid::Uuid::new_v4(),
                info.len()
            )
            .as_bytes(),
            info,
            b"\r\n\r\n",
        ]
        .concat(),
    );
    for (url, html) in pages {
        file.extend(cc_record(
            "request",
            url,
            "Content-Type: application/http; msgtype=request\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        ));
        let mut block = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=UTF-8\r\n\
             X-Crawler-Content-Encoding: gzip\r\nX-Crawler-Transfer-Encoding: chunked\r\n\
             Content-Length: {}\r\n\r\n",
            html.len()
        )
        .into_bytes();
        block.extend_from_slice(html);
        file.extend(cc_record(
            "response",
            url,
            "Content-Type: application/http; msgtype=response\r\nWARC-IP-Address: 203.0.113.9\r\n",
            &block,
        ));
        file.extend(cc_record(
            "metadata",
            url,
            "Content-Type: application/warc-fields\r\n",
            b"fetchTimeMs: 120\r\n",
        ));
    }
    file
}

#[test]
fn cc_news_shaped_file_damage_and_truncation_are_named() {
    let Some(data) = crate::util::shared_data() else {
        return;
    };
    let world = World::new(&data);
    let pages = pages_at(&world, "https://copier.example");
    let file = cc_news_file(&pages);
    let good = world.path("CC-NEWS-good.warc.gz");
    std::fs::write(&good, &file).unwrap();
    let summary = world.scan(&[good.to_str().unwrap()]);
    assert_eq!(
        n(&summary, "records"),
        1 + 3 * pages.len() as u64,
        "{summary}"
    );
    assert_eq!(n(&summary, "html"), pages.len() as u64, "{summary}");
    assert_eq!(copies(&summary), 2, "{summary}");

    // Corrupt the member of the first copy's response: that record is skipped, counted
    // and named; the second copy (on another URL) is still found.
    let world = World::new(&data);
    let mut pages = pages_at(&world, "https://copier.example");
    // The first copy's response member is the 3rd member (warcinfo, request, response).
    let members = split_members(&cc_news_file(&pages[..1]));
    let damaged_at: usize = members[..2].iter().map(Vec::len).sum();
    let mut corrupt = members.clone();
    let mid = corrupt[2].len() / 2;
    for b in &mut corrupt[2][20..mid] {
        *b ^= 0x55;
    }
    let mut bytes: Vec<u8> = corrupt.concat();
    pages.remove(0);
    bytes.extend(split_members(&cc_news_file(&pages))[1..].concat());
    let damaged = world.path("CC-NEWS-damaged.warc.gz");
    std::fs::write(&damaged, &bytes).unwrap();
    let out = world.run(&["scan-warc", "--quiet", damaged.to_str().unwrap()]);
    let line = stdout(&out);
    assert!(out.status.success(), "{line}\n{}", stderr(&out));
    assert!(line.contains(" 1 damaged,"), "{line}");
    assert!(
        line.contains(&format!(
            "damaged in {} (1 damaged: at byte {damaged_at}",
            damaged.display()
        )),
        "{line}"
    );
    assert!(line.contains("2 matches (1 copy, 1 partial"), "{line}");

    // Truncated in the middle of the last member: everything before it is examined, the
    // truncation is named.
    let cut = world.path("CC-NEWS-cut.warc.gz");
    std::fs::write(&cut, &file[..file.len() - 40]).unwrap();
    let summary = world.scan(&[cut.to_str().unwrap()]);
    assert_eq!(n(&summary, "damaged"), 1, "{summary}");
    assert_eq!(summary["damaged_files"][0]["truncated"], true, "{summary}");
    assert_eq!(n(&summary, "html"), pages.len() as u64 + 1, "{summary}");
}

/// Splits a file of gzip members into its members (each decoded to find its end).
fn split_members(file: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = file;
    while !rest.is_empty() {
        let mut d = flate2::bufread::GzDecoder::new(rest);
        std::io::copy(&mut d, &mut std::io::sink()).unwrap();
        let left = d.into_inner().len();
        let used = rest.len() - left;
        out.push(rest[..used].to_vec());
        rest = &rest[used..];
    }
    out
}

#[tokio::test]
async fn a_remote_file_cut_mid_way_resumes_by_range_and_listings_shard() {
    let Some(data) = crate::util::shared_data() else {
        return;
    };
    let world = World::new(&data);
    let file = Arc::new(cc_news_file(&pages_at(&world, "https://copier.example")));
    let requests = Arc::new(AtomicUsize::new(0));
    let ranges = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let path = "crawl-data/CC-NEWS/2024/05/CC-NEWS-20240501100000-00001.warc.gz";
    let (f, r, g) = (
        Arc::clone(&file),
        Arc::clone(&requests),
        Arc::clone(&ranges),
    );
    // A server that answers ranges, and cuts the first full download after half the file.
    let addr = crate::util::fixture::serve_raw(move |mut stream| {
        let (file, requests, ranges) = (Arc::clone(&f), Arc::clone(&r), Arc::clone(&g));
        async move {
            let head = String::from_utf8_lossy(&crate::util::fixture::read_head(&mut stream).await)
                .to_string();
            if !head.starts_with(&format!("GET /{path} ")) {
                let _ = stream
                    .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                    .await;
                return;
            }
            let nth = requests.fetch_add(1, Ordering::SeqCst);
            let from = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("range: bytes=").map(str::to_string))
                .map(|v| {
                    ranges.lock().unwrap().push(v.clone());
                    v.trim_end_matches('-').trim().parse::<usize>().unwrap()
                });
            let start = from.unwrap_or(0);
            let status = if from.is_some() {
                format!(
                    "HTTP/1.1 206 Partial Content\r\ncontent-range: bytes {start}-{}/{}\r\n",
                    file.len() - 1,
                    file.len()
                )
            } else {
                "HTTP/1.1 200 OK\r\n".to_string()
            };
            let head = format!(
                "{status}content-length: {}\r\ncontent-type: application/octet-stream\r\nconnection: close\r\n\r\n",
                file.len() - start
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let end = if nth == 0 { file.len() / 2 } else { file.len() };
            let _ = stream.write_all(&file[start..end]).await;
            let _ = stream.flush().await;
            // Dropping the stream cuts the connection (before the end on the first
            // request).
        }
    })
    .await;
    let base = format!("http://{addr}/");
    let url = format!("{base}{path}");
    let config = world.config.clone();
    let summary = {
        let url = url.clone();
        json(
            &crate::util::copyhound_blocking(&config, &["scan-warc", "--json", "--quiet", &url])
                .await,
        )
    };
    assert_eq!(n(&summary, "damaged"), 0, "{summary}");
    assert_eq!(copies(&summary), 2, "{summary}");
    assert_eq!(n(&summary, "bytes"), file.len() as u64, "{summary}");
    assert!(requests.load(Ordering::SeqCst) >= 2);
    assert_eq!(
        ranges.lock().unwrap().first().cloned(),
        Some(format!("{}-", file.len() / 2))
    );

    // A gzipped paths listing of four files (the same file under four names, only one
    // of which exists), two shards: each shard takes every second line.
    let listing = world.path("warc.paths.gz");
    let lines: String = (0..4)
        .map(|i| {
            if i == 2 {
                format!("{path}\n")
            } else {
                format!("crawl-data/CC-NEWS/2024/05/missing-{i}.warc.gz\n")
            }
        })
        .collect();
    std::fs::write(&listing, gzip(lines.as_bytes())).unwrap();
    let listing = listing.to_str().unwrap().to_string();
    let shard = |which: &'static str| {
        let (config, listing, base) = (config.clone(), listing.clone(), base.clone());
        async move {
            let args = [
                "scan-warc",
                "--quiet",
                "--paths",
                &listing,
                "--base",
                &base,
                "--shard",
                which,
            ];
            crate::util::copyhound_blocking(&config, &args).await
        }
    };
    let shard1 = shard("1/2").await;
    // Shard 1 holds lines 1 and 3: both missing, so both fail (exit 1), named.
    assert!(!shard1.status.success());
    let line = stdout(&shard1);
    assert!(
        line.contains("0 files,") && line.contains("2 failed"),
        "{line}"
    );
    assert!(line.contains("missing-1.warc.gz: cannot open"), "{line}");
    let shard0 = shard("0/2").await;
    let line = stdout(&shard0);
    assert!(
        line.contains("1 failed: ") && line.contains("missing-0.warc.gz"),
        "{line}"
    );
    // The one file that exists was finished by the first run: skipped, not rescanned.
    assert!(
        line.contains("scan-warc: 0 files (1 already done, 0 resumed)"),
        "{line}"
    );
}

/// The text bodies of the alert emails in the outbox (no SMTP server configured: `.eml`
/// files).
fn outbox_texts(world: &World) -> Vec<String> {
    crate::util::files_with_extension(&world.path("state/outbox"), "eml")
        .iter()
        .map(|p| {
            let bytes = std::fs::read(p).unwrap();
            let msg = mail_parser::MessageParser::default().parse(&bytes).unwrap();
            msg.body_text(0).unwrap_or_default().into_owned()
        })
        .collect()
}

/// A world whose copier is still online on loopback with copy-0 only (copy-1 and the
/// rest answer 404), and a CC-NEWS-shaped file of the copier's pages as they were:
/// the world, the file's path and its bytes.
async fn copier_partly_online(data: &Path) -> (World, PathBuf, Vec<u8>) {
    let world = World::new(data);
    let copy0 = world.copier_site()[0].1.clone();
    let router = axum::Router::new().fallback(move |uri: Uri| {
        let copy0 = copy0.clone();
        async move {
            if uri.path() == "/news/copy-0.html" {
                ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], copy0).into_response()
            } else {
                StatusCode::NOT_FOUND.into_response()
            }
        }
    });
    let addr = crate::util::fixture::serve(router).await;
    let pages = pages_at(&world, &format!("http://{addr}"));
    let file_bytes = cc_news_file(&pages);
    let file = world.path("CC-NEWS-live.warc.gz");
    std::fs::write(&file, &file_bytes).unwrap();
    (world, file, file_bytes)
}

/// The ids of the matches of copy-0 and copy-1.
fn copy_ids(world: &World) -> (i64, i64) {
    let list = json(&world.run(&["matches", "list", "--json"]));
    let id_of = |suffix: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|m| m["copy_url"].as_str().unwrap().ends_with(suffix))
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    (id_of("/news/copy-0.html"), id_of("/news/copy-1.html"))
}

#[tokio::test]
async fn archived_evidence_keeps_the_record_and_a_live_capture_becomes_primary() {
    let Some(data) = crate::util::shared_data() else {
        return;
    };
    let (world, file, file_bytes) = copier_partly_online(&data).await;
    let config = world.config.clone();
    let file_arg = file.to_str().unwrap().to_string();
    // --no-live: the live captures stay queued for the daemon's next crawl.
    let summary = json(
        &crate::util::copyhound_blocking(
            &config,
            &["scan-warc", "--json", "--quiet", "--no-live", &file_arg],
        )
        .await,
    );
    assert_eq!(copies(&summary), 2, "{summary}");
    assert!(summary.get("live").is_none(), "{summary}");

    let store = copyhound::store::Store::open_dir(&world.path("state")).unwrap();
    let (id0, id1) = copy_ids(&world);
    for id in [id0, id1] {
        let detail = json(&world.run(&["matches", "show", &id.to_string(), "--json"]));
        assert_eq!(detail["archive"]["primary"], "archived", "{detail}");
        let url = url::Url::parse(detail["copy_url"].as_str().unwrap()).unwrap();
        assert_eq!(
            store
                .frontier_state(&copyhound::crawl::urls::dedupe_key(&url))
                .unwrap(),
            Some(copyhound::store::FrontierState::Queued)
        );
    }

    // The evidence file keeps the archived record byte for byte, with where it was.
    let archive = store
        .match_archive(id0)
        .unwrap()
        .expect("archive provenance");
    assert_eq!(archive.archive.source, file_arg);
    assert!(archive.live_captured_at.is_none());
    let length = archive.archive.length.expect("a member of its own") as usize;
    let offset = archive.archive.offset as usize;
    let mut member = flate2::read::GzDecoder::new(&file_bytes[offset..offset + length]);
    let mut original_record = Vec::new();
    std::io::Read::read_to_end(&mut member, &mut original_record).unwrap();
    let detail = json(&world.run(&["matches", "show", &id0.to_string(), "--json"]));
    let evidence_name = detail["evidence_file"].as_str().unwrap().to_string();
    let evidence_path = world.path("state/evidence").join(&evidence_name);
    let (records, problems) =
        copyhound::evidence::warc::check_all(&std::fs::read(&evidence_path).unwrap()[..]);
    assert!(problems.is_empty(), "{problems:?}");
    let types: Vec<_> = records
        .iter()
        .map(|r| r.record.header("WARC-Type").unwrap().to_string())
        .collect();
    assert_eq!(types, ["warcinfo", "resource", "metadata"]);
    let resource = &records[1].record;
    assert_eq!(resource.block, original_record, "the record, byte for byte");
    assert_eq!(
        resource.header("Copyhound-Archive-Offset"),
        Some(offset.to_string().as_str())
    );
    assert_eq!(
        resource.header("Copyhound-Archive-Length"),
        Some(length.to_string().as_str())
    );
    assert_eq!(
        resource.header("Copyhound-Archive-Source"),
        Some(file_arg.as_str())
    );
    assert_eq!(records[1].verified, ["WARC-Block-Digest"]);
    let out = world.run(&["verify-evidence", evidence_path.to_str().unwrap()]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    if tool(
        has_warcio(),
        "python3 warcio",
        "archived evidence (warcio part)",
    ) {
        let out = Command::new("python3")
            .args([
                "-c",
                "import sys; from warcio.cli import main; main(sys.argv[1:])",
            ])
            .args(["check", "-v"])
            .arg(&evidence_path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    }
    // The alert says the capture is a third party's.
    let texts = outbox_texts(&world);
    assert!(
        texts
            .iter()
            .any(|t| t.contains("Archived capture by a third party")
                && t.contains(&format!("record at byte {offset}, {length} bytes"))),
        "{texts:?}"
    );

    // A crawl cycle fetches the queued live pages through the guarded crawler: copy-0
    // is online and becomes primary; copy-1 is gone and stays archived.
    let out = crate::util::copyhound_blocking(&config, &["crawl", "--once"]).await;
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("0 matches"), "{}", stdout(&out));
    let archive = store.match_archive(id0).unwrap().unwrap();
    assert!(archive.live_captured_at.is_some(), "{archive:?}");
    assert_eq!(
        archive.archive_evidence_file.as_deref(),
        Some(evidence_name.as_str())
    );
    let detail = json(&world.run(&["matches", "show", &id0.to_string(), "--json"]));
    let live_name = detail["evidence_file"].as_str().unwrap();
    assert_ne!(live_name, evidence_name);
    let (records, problems) = copyhound::evidence::warc::check_all(
        &std::fs::read(world.path("state/evidence").join(live_name)).unwrap()[..],
    );
    assert!(problems.is_empty(), "{problems:?}");
    assert!(records
        .iter()
        .any(|r| r.record.header("WARC-Type") == Some("response")));
    assert!(store
        .match_archive(id1)
        .unwrap()
        .unwrap()
        .live_captured_at
        .is_none());
    // No duplicate match, and the escalation says which capture is which.
    assert_eq!(world.matches().len(), 3);
    let out = world.run(&[
        "matches",
        "mark",
        &id0.to_string(),
        "--status",
        "infringing",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let texts = outbox_texts(&world);
    assert!(
        texts
            .iter()
            .any(|t| t.contains("Live capture by copyhound at")
                && t.contains("(primary evidence)")
                && t.contains(&evidence_name)),
        "{texts:?}"
    );
    // Counsel's report and package carry both captures of copy-0: the live one
    // (primary) and the third party's archived record beside it; copy-1 has its
    // archived one.
    let out = world.run(&["evidence-report", &id0.to_string(), "--lang", "en"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let html = stdout(&out);
    assert!(html.contains(&format!("{live_name}</span> (primary evidence)")));
    assert!(html.contains(&format!("{evidence_name}</span> (third party")));
    let wacz = world.path("both.wacz");
    let out = world.run(&[
        "export-evidence",
        &id0.to_string(),
        &id1.to_string(),
        "--wacz",
        wacz.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(": 3 WARC files, 3 index lines, 2 pages"),
        "{}",
        stdout(&out)
    );
    if tool(
        crate::evidence_report::python_module("wacz"),
        "python3 module wacz",
        "archived_evidence_keeps_the_record_and_a_live_capture_becomes_primary",
    ) {
        let out = crate::evidence_report::wacz_validate(&wacz);
        assert!(
            stdout(&out).contains("Validation succeeded"),
            "{}",
            stdout(&out)
        );
    }
}

#[tokio::test]
async fn a_one_shot_scan_captures_the_live_pages_before_it_ends() {
    let Some(data) = crate::util::shared_data() else {
        return;
    };
    let (world, file, _) = copier_partly_online(&data).await;
    let file_arg = file.to_str().unwrap().to_string();
    // Text output: the summary line, then the live captures' line. copy-0 is online and
    // captured; copy-1 answers 404 (gone); the excerpt of 2 is gone too.
    let out =
        crate::util::copyhound_blocking(&world.config, &["scan-warc", "--quiet", &file_arg]).await;
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("scan-warc: 1 files"), "{text}");
    assert_eq!(
        lines.get(1).copied(),
        Some("live captures: 1 captured, 2 gone, 0 failed"),
        "{text}"
    );
    let (id0, id1) = copy_ids(&world);
    let evidence_dir = world.path("state/evidence");
    let verify = |name: &str| {
        let path = evidence_dir.join(name);
        assert!(path.is_file(), "{}", path.display());
        let out = world.run(&["verify-evidence", path.to_str().unwrap()]);
        assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    };

    // copy-0: the live capture by copyhound is primary, both files are there and verify.
    let detail = json(&world.run(&["matches", "show", &id0.to_string(), "--json"]));
    let a = &detail["archive"];
    assert_eq!(a["primary"], "live", "{detail}");
    assert!(a["live_captured_at"].is_string(), "{detail}");
    assert_eq!(a["source"], file_arg.as_str());
    assert!(
        a["record_id"].as_str().unwrap().starts_with("<urn:uuid:"),
        "{detail}"
    );
    let live = a["live_evidence_file"].as_str().unwrap();
    let archived = a["archived_evidence_file"].as_str().unwrap();
    assert_eq!(detail["evidence_file"].as_str(), Some(live));
    assert_ne!(live, archived);
    verify(live);
    verify(archived);
    let text = stdout(&world.run(&["matches", "show", &id0.to_string()]));
    assert!(
        text.contains(&format!(
            "found in a web archive: {file_arg}, record at byte "
        )) && text.contains("primary evidence: the live capture by copyhound at ")
            && text.contains(archived)
            && text.contains(live),
        "{text}"
    );

    // copy-1 is gone: the archived capture stays primary, no live file.
    let detail = json(&world.run(&["matches", "show", &id1.to_string(), "--json"]));
    let a = &detail["archive"];
    assert_eq!(a["primary"], "archived", "{detail}");
    assert!(a["live_evidence_file"].is_null(), "{detail}");
    assert_eq!(a["archived_evidence_file"], detail["evidence_file"]);
    verify(a["archived_evidence_file"].as_str().unwrap());
    let text = stdout(&world.run(&["matches", "show", &id1.to_string()]));
    assert!(
        text.contains("primary evidence: archived capture by a third party; live capture pending"),
        "{text}"
    );
    // Nothing is left queued for the daemon, and no match was recorded twice.
    let store = copyhound::store::Store::open_dir(&world.path("state")).unwrap();
    assert_eq!(store.frontier_counts().unwrap().queued, 0);
    assert_eq!(world.matches().len(), 3);
}

#[test]
fn a_killed_scan_resumes_without_duplicates_or_losses() {
    let Some(data) = crate::util::shared_data() else {
        return;
    };
    let world = World::new(&data);
    // copy-0 first, then hundreds of unrelated real pages, then copy-1 last.
    let site = world.copier_site();
    // The first four real pages are the originals: the filler starts after them.
    let filler: Vec<RealPage> = real_pages(&data, 64).into_iter().skip(4).collect();
    let mut pages = vec![(
        "https://copier.example/first.html".to_string(),
        site[0].1.clone(),
    )];
    for round in 0..5 {
        for (i, p) in filler.iter().enumerate() {
            pages.push((
                format!("https://filler.example/{round}/{i}.html"),
                p.html.clone(),
            ));
        }
    }
    pages.push((
        "https://copier.example/last.html".to_string(),
        site[1].1.clone(),
    ));
    let file = world.path("CC-NEWS-long.warc.gz");
    std::fs::write(&file, cc_news_file(&pages)).unwrap();
    let total_records = 1 + 3 * pages.len() as u64;
    let name = file.to_str().unwrap().to_string();

    let mut child = crate::util::copyhound_cmd(&[
        "scan-warc",
        "--quiet",
        &name,
        "--config",
        world.config.to_str().unwrap(),
    ])
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    let store = copyhound::store::Store::open_dir(&world.path("state")).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let at_kill = loop {
        let progress = store.warc_file_progress(&name).ok().flatten();
        if let Some(p) = progress.filter(|p| p.records >= 150) {
            break p;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the scan ended before it could be killed"
        );
        assert!(std::time::Instant::now() < deadline, "no progress recorded");
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    // SIGKILL: no chance to write anything more.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!at_kill.done, "{at_kill:?}");
    let progress = store.warc_file_progress(&name).unwrap().unwrap();
    assert!(
        !progress.done && progress.records < total_records,
        "{progress:?}"
    );
    assert_eq!(
        world.matches(),
        vec![(
            "https://copier.example/first.html".to_string(),
            "copy".to_string()
        )]
    );

    // The rerun resumes from the last checkpoint: it reads only what was left (and at
    // most what the killed run read after its checkpoint again).
    let summary = world.scan(&[&name]);
    assert_eq!(n(&summary, "resumed"), 1, "{summary}");
    let reread = n(&summary, "records");
    assert!(
        reread < total_records && reread >= total_records - progress.records,
        "{reread} of {total_records} read again, checkpoint at {progress:?}: {summary}"
    );
    assert_eq!(copies(&summary), 1, "{summary}");
    assert_eq!(
        world.matches(),
        vec![
            (
                "https://copier.example/first.html".to_string(),
                "copy".to_string()
            ),
            (
                "https://copier.example/last.html".to_string(),
                "copy".to_string()
            ),
        ]
    );
    let done = store.warc_file_progress(&name).unwrap().unwrap();
    assert!(done.done && done.records == total_records, "{done:?}");

    // A third run skips the finished file.
    let summary = world.scan(&[&name]);
    assert_eq!(n(&summary, "already_done"), 1, "{summary}");
    assert_eq!(n(&summary, "records"), 0, "{summary}");
}

/// `text` with every `every`-th character replaced (a copier's light edits).
fn edited(text: &str, every: usize) -> String {
    text.chars()
        .enumerate()
        .map(|(i, c)| if i % every == every - 1 { '某' } else { c })
        .collect()
}

#[test]
fn fast_rejection_loses_no_copy_the_full_path_finds() {
    let Some(data) = crate::util::shared_data() else {
        return;
    };
    let full = World::new(&data);
    let fast = World::new(&data);
    let o = &full.originals;
    let mut pages: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |name: &str, html: String| {
        pages.push((format!("https://copier.example/{name}"), html.into_bytes()))
    };
    add("whole", copier_page(&o[0].title, &o[0].paragraphs));
    let cut = (o[1].paragraphs.len() * 2 / 5).max(3);
    add("excerpt", copier_page(&o[1].title, &o[1].paragraphs[..cut]));
    let mut reordered = o[2].paragraphs.clone();
    reordered.reverse();
    add("reordered", copier_page(&o[2].title, &reordered));
    let with_ads: Vec<String> = o[3]
        .paragraphs
        .iter()
        .flat_map(|p| [p.clone(), "广告：限时特价，点击领取优惠券！".to_string()])
        .collect();
    add("ads", copier_page(&o[3].title, &with_ads));
    for every in [8, 15, 30] {
        let edits: Vec<String> = o[0].paragraphs.iter().map(|p| edited(p, every)).collect();
        add(&format!("edited-{every}"), copier_page(&o[0].title, &edits));
    }
    // A stretch of a few hundred characters from the middle of the longest original.
    let longest = o
        .iter()
        .max_by_key(|p| {
            p.paragraphs
                .iter()
                .map(|x| x.chars().count())
                .sum::<usize>()
        })
        .unwrap();
    let joined: String = longest.paragraphs[1..].join("");
    let stretch: String = joined.chars().skip(100).take(400).collect();
    add("stretch", copier_page("转载", &[stretch]));
    // Every character a numeric reference, inline tags inside words.
    let encoded: Vec<String> = o[1]
        .paragraphs
        .iter()
        .map(|p| p.chars().map(|c| format!("&#{};", c as u32)).collect())
        .collect();
    let mut html = copier_page(&o[1].title, &[]);
    let body: String = encoded
        .iter()
        .map(|p| format!("<p><span>{p}</span></p>"))
        .collect();
    html = html.replace("</h1>\n", &format!("</h1>\n{body}"));
    add("entities", html);
    for (i, p) in real_pages(&data, 48).iter().skip(4).enumerate() {
        pages.push((
            format!("https://unrelated.example/{i}.html"),
            p.html.clone(),
        ));
    }
    let file = full.path("mixed.warc.gz");
    std::fs::write(&file, cc_news_file(&pages)).unwrap();
    let path = file.to_str().unwrap();

    let full_summary = full.scan(&["--no-reject", path]);
    let fast_summary = fast.scan(&[path]);
    assert_eq!(n(&full_summary, "rejected"), 0, "{full_summary}");
    assert_eq!(
        full.matches(),
        fast.matches(),
        "{full_summary}\n{fast_summary}"
    );
    assert!(full.matches().len() >= 6, "{:?}", full.matches());
    // Most unrelated pages never reach extraction.
    assert!(n(&fast_summary, "rejected") >= 40, "{fast_summary}");
    assert_eq!(full_summary["matches"], fast_summary["matches"]);
}

/// Three `copyhound worker` processes share a queue of 30 small archive files and one
/// long one in PostgreSQL; the worker holding the long file is killed with SIGKILL
/// mid-way. Its lease runs out, another worker resumes the file from its checkpoint,
/// and in the end every file is done once, every planted copy recorded once, and every
/// alert sent once (a real SMTP sink).
#[test]
fn workers_share_a_queue_and_survive_a_killed_worker() {
    const SMALL_FILES: usize = 30;
    let Some(data) = crate::util::shared_data() else {
        return;
    };
    let Some(cluster) = copyhound::store::testdb::cluster() else {
        return;
    };
    if !crate::util::python_needs(
        "aiosmtpd",
        "workers_share_a_queue_and_survive_a_killed_worker",
    ) {
        return;
    }
    let port = crate::util::free_port();
    let target = cluster.target(&copyhound::store::testdb::new_database());
    let world = World::configured(
        &data,
        &format!("database_url = \"{}\"", target.url),
        &format!(
            "\n[email]\nsmtp_url = \"smtp://127.0.0.1:{port}\"\nstarttls = \"opportunistic\"\nfrom = \"copyhound <copyhound@news.example.com>\"\nretry_initial = \"1s\"\nretry_max = \"2s\"\ntimeout = \"5s\"\ndigest_after = 1000\n"
        ),
    );
    let sink = crate::util::SmtpSink::start(port, &world.path("mail"), None);
    let site = world.copier_site();
    let filler: Vec<RealPage> = real_pages(&data, 64).into_iter().skip(4).collect();

    // The long file: a copy first, hundreds of unrelated pages, a copy last.
    let mut planted = vec![
        "https://copier.example/long-first.html".to_string(),
        "https://copier.example/long-last.html".to_string(),
    ];
    let (long_name, long_records) = long_file(&world, &data);
    let mut files = vec![long_name.clone()];
    for f in 0..SMALL_FILES {
        let url = format!("https://copier.example/small-{f}.html");
        let mut pages = vec![(url.clone(), site[f % 2].1.clone())];
        for (i, p) in filler.iter().take(6).enumerate() {
            pages.push((
                format!("https://filler.example/s{f}/{i}.html"),
                p.html.clone(),
            ));
        }
        planted.push(url);
        let path = world.path(&format!("CC-NEWS-small-{f:02}.warc.gz"));
        std::fs::write(&path, cc_news_file(&pages)).unwrap();
        files.push(path.to_str().unwrap().to_string());
    }
    let mut args = vec!["scan-warc", "--enqueue"];
    args.extend(files.iter().map(String::as_str));
    let out = world.run(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        format!("enqueued: {} new, 0 already queued", SMALL_FILES + 1)
    );
    // Enqueueing again adds nothing.
    let out = world.run(&args);
    assert!(stdout(&out).contains("enqueued: 0 new"), "{}", stdout(&out));

    let config = world.config.to_str().unwrap().to_string();
    let logs = |id: usize| world.path(&format!("worker-{id}.log"));
    let start = |id: usize| {
        crate::util::copyhound_cmd(&[
            "worker",
            "--lease",
            "3s",
            "--exit-when-empty",
            "--worker-id",
            &format!("w{id}"),
            "--config",
            &config,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(logs(id)).unwrap())
        .spawn()
        .unwrap()
    };
    let mut workers: Vec<std::process::Child> = (0..3).map(start).collect();
    let settings = copyhound::config::Settings::load(&world.config).unwrap();
    let store = copyhound::store::Store::open_storage(&settings.storage).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    // Kill the long file's worker once it is well into the file.
    let victim = loop {
        let status = store.queue_status(chrono::Utc::now()).unwrap();
        let holder = status
            .in_progress
            .iter()
            .find(|e| e.source == long_name && e.records >= 150)
            .and_then(|e| e.worker.clone());
        if let Some(w) = holder {
            break w.trim_start_matches('w').parse::<usize>().unwrap();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the long file made no progress: {status:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    workers[victim].kill().unwrap();
    workers[victim].wait().unwrap();
    let at_kill = store.warc_file_progress(&long_name).unwrap().unwrap();
    assert!(
        !at_kill.done && at_kill.records < long_records,
        "{at_kill:?}"
    );

    let mut claimed = 0;
    for (id, w) in workers.into_iter().enumerate() {
        if id == victim {
            continue;
        }
        let out = w.wait_with_output().unwrap();
        let log = std::fs::read_to_string(logs(id)).unwrap();
        assert!(out.status.success(), "worker {id}: {log}");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(text.contains(", 0 lost to other workers"), "{text}");
        let n: usize = text
            .strip_prefix("worker: ")
            .and_then(|t| t.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{text}"));
        claimed += n;
    }
    // The survivors claimed every file once between them (the long one again, after
    // the lease of the killed worker ran out); the killed worker claimed only the long
    // file, the first in the queue.
    assert_eq!(claimed, SMALL_FILES + 1);

    let status = json(&world.run(&["queue", "status", "--json"]));
    assert_eq!(
        status["counts"],
        serde_json::json!({"queued": 0, "in_progress": 0, "done": SMALL_FILES + 1, "failed": 0}),
        "{status}"
    );
    let long_done = store.warc_file_progress(&long_name).unwrap().unwrap();
    assert!(
        long_done.done && long_done.records == long_records,
        "{long_done:?}"
    );

    // Every planted copy recorded once, nothing else.
    let mut expected: Vec<(String, String)> = planted
        .iter()
        .map(|u| (u.clone(), "copy".to_string()))
        .collect();
    expected.sort();
    assert_eq!(world.matches(), expected);

    // Every alert owed sent once: the messages received are exactly the outbox's.
    let alerts = store.list_alerts(10_000).unwrap();
    assert!(!alerts.is_empty());
    assert!(
        alerts
            .iter()
            .all(|a| a.state == copyhound::store::AlertState::Sent),
        "{alerts:?}"
    );
    let recorded: std::collections::BTreeSet<String> = alerts
        .iter()
        .filter_map(|a| a.message_id.clone())
        .map(|id| id.trim_matches(['<', '>']).to_string())
        .collect();
    let received: Vec<String> = sink
        .messages()
        .iter()
        .map(|(raw, _)| {
            mail_parser::MessageParser::default()
                .parse(raw)
                .unwrap()
                .message_id()
                .unwrap()
                .to_string()
        })
        .collect();
    let distinct: std::collections::BTreeSet<String> = received.iter().cloned().collect();
    assert_eq!(received.len(), distinct.len(), "a message arrived twice");
    assert_eq!(distinct, recorded);
    // Each planted copy is named in the alerts.
    let texts: Vec<String> = sink
        .messages()
        .iter()
        .map(|(raw, _)| {
            let msg = mail_parser::MessageParser::default().parse(raw).unwrap();
            msg.body_text(0).unwrap_or_default().into_owned()
        })
        .collect();
    for url in &planted {
        assert!(
            texts.iter().any(|t| t.contains(url.as_str())),
            "{url} in no alert"
        );
    }
}

/// The long CC-NEWS-shaped file of [`workers_share_a_queue_and_survive_a_killed_worker`]
/// (a copy first, hundreds of unrelated pages, a copy last): its path and record count.
fn long_file(world: &World, data: &Path) -> (String, u64) {
    let site = world.copier_site();
    let filler: Vec<RealPage> = real_pages(data, 64).into_iter().skip(4).collect();
    let mut pages = vec![(
        "https://copier.example/long-first.html".to_string(),
        site[0].1.clone(),
    )];
    for round in 0..5 {
        for (i, p) in filler.iter().enumerate() {
            pages.push((
                format!("https://filler.example/{round}/{i}.html"),
                p.html.clone(),
            ));
        }
    }
    pages.push((
        "https://copier.example/long-last.html".to_string(),
        site[1].1.clone(),
    ));
    let long = world.path("CC-NEWS-long.warc.gz");
    std::fs::write(&long, cc_news_file(&pages)).unwrap();
    (
        long.to_str().unwrap().to_string(),
        1 + 3 * pages.len() as u64,
    )
}

/// On the embedded SQLite store: SIGTERM makes a worker checkpoint its batch, give its
/// file back and exit; the next worker resumes it; a file that cannot be opened is
/// failed with its reason after `--max-attempts`; `queue status` names both.
#[test]
fn a_stopped_worker_gives_its_file_back_and_a_missing_file_fails_with_its_reason() {
    let Some(data) = crate::util::shared_data() else {
        return;
    };
    let world = World::new(&data);
    let (long, long_records) = long_file(&world, &data);
    let missing = world.path("gone.warc.gz");
    let missing = missing.to_str().unwrap();
    let out = world.run(&["scan-warc", "--enqueue", &long, missing]);
    assert_eq!(stdout(&out).trim(), "enqueued: 2 new, 0 already queued");

    let child = crate::util::copyhound_cmd(&[
        "worker",
        "--once",
        "--worker-id",
        "first",
        "--config",
        world.config.to_str().unwrap(),
    ])
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    let store = copyhound::store::Store::open_dir(&world.path("state")).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        let status = store.queue_status(chrono::Utc::now()).unwrap();
        if status
            .in_progress
            .iter()
            .any(|e| e.worker.as_deref() == Some("first") && e.records >= 150)
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{status:?}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // Freeze the worker mid-file at once: on a fast machine it would otherwise finish
    // the whole file while the status commands below run. SIGTERM is delivered when
    // the worker is continued.
    let signal = |signal: libc::c_int| {
        // SAFETY: kill(2) with the pid of a child we spawned and have not reaped.
        let rc = unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        assert_eq!(rc, 0);
    };
    signal(libc::SIGSTOP);
    // Text status while the file is in progress.
    let text = stdout(&world.run(&["queue", "status"]));
    assert!(
        text.starts_with("queued 1\nin progress 1\ndone 0\nfailed 0\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!("  first\t{long}\tlease until ")),
        "{text}"
    );
    signal(libc::SIGTERM);
    signal(libc::SIGCONT);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains("stopped by a signal"), "{text}");
    let stopped_at = store.warc_file_progress(&long).unwrap().unwrap();
    assert!(
        !stopped_at.done && stopped_at.records >= 150,
        "{stopped_at:?}"
    );
    let counts = store.queue_counts().unwrap();
    assert_eq!((counts.queued, counts.in_progress), (2, 0), "{counts:?}");

    let out = world.run(&[
        "worker",
        "--exit-when-empty",
        "--max-attempts",
        "2",
        "--lease",
        "3s",
    ]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    // The long file once (resumed), the missing one twice.
    assert!(
        text.starts_with("worker: 3 files claimed, 0 lost"),
        "{text}"
    );
    assert!(text.contains("(0 already done, 1 resumed)"), "{text}");
    let done = store.warc_file_progress(&long).unwrap().unwrap();
    assert!(done.done && done.records == long_records, "{done:?}");
    assert_eq!(world.matches().len(), 2);

    let status = json(&world.run(&["queue", "status", "--json"]));
    assert_eq!(
        status["counts"],
        serde_json::json!({"queued": 0, "in_progress": 0, "done": 1, "failed": 1}),
        "{status}"
    );
    assert_eq!(status["failed"][0]["source"], missing);
    assert_eq!(status["failed"][0]["attempts"], 2);
    let reason = status["failed"][0]["reason"].as_str().unwrap();
    assert!(reason.starts_with("cannot open"), "{reason}");
    let text = stdout(&world.run(&["queue", "status"]));
    assert!(
        text.contains(&format!("failed:\n  {missing}\t2 attempts\tcannot open")),
        "{text}"
    );
}

/// A running worker picks up an original ingested after it started: the ingest moves
/// the store's change counter, the worker reloads its index before its next file, and
/// the copy in a file queued afterwards is found. Without the reload the worker would
/// scan that file against the index it loaded at start, which lacks the original.
fn a_running_worker_refreshes_its_index(world: &World) {
    let config = world.config.to_str().unwrap().to_string();
    let log = world.path("worker.log");
    let mut child = crate::util::copyhound_cmd(&[
        "worker",
        "--lease",
        "3s",
        "--worker-id",
        "refresher",
        "--config",
        &config,
    ])
    .env("RUST_LOG", "info")
    .stdout(std::process::Stdio::piped())
    .stderr(std::fs::File::create(&log).unwrap())
    .spawn()
    .unwrap();
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    let wait_for = |what: &dyn Fn() -> bool, why: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while !what() {
            assert!(
                std::time::Instant::now() < deadline,
                "{why}; worker log:\n{}",
                log_text()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    wait_for(
        &|| log_text().contains("index loaded"),
        "worker never loaded",
    );

    // A new original (one of the pages the world left out), ingested by another process.
    let late = &world.unrelated[0];
    std::fs::write(world.path("archive").join("late.html"), &late.html).unwrap();
    let out = world.run(&["ingest"]);
    assert!(
        stdout(&out).starts_with("ingest: 1 new"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    // Its copy, in a file queued after the ingest.
    let url = "https://copier.example/late-copy.html";
    let pages = vec![(
        url.to_string(),
        copier_page(&late.title, &late.paragraphs).into_bytes(),
    )];
    let file = world.path("CC-NEWS-late.warc.gz");
    std::fs::write(&file, cc_news_file(&pages)).unwrap();
    let out = world.run(&["scan-warc", "--enqueue", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for(
        &|| json(&world.run(&["queue", "status", "--json"]))["counts"]["done"] == 1,
        "the queued file was never done",
    );
    // SAFETY: kill(2) with the pid of a child we spawned and have not reaped.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
    assert!(child.wait().unwrap().success());
    let text = log_text();
    assert!(text.contains("originals changed; index reloaded"), "{text}");
    assert_eq!(
        world.matches(),
        vec![(url.to_string(), "copy".to_string())],
        "{text}"
    );
}

#[test]
fn a_running_worker_finds_copies_of_originals_ingested_after_it_started() {
    let Some(data) = crate::util::shared_data() else {
        return;
    };
    a_running_worker_refreshes_its_index(&World::new(&data));
}

#[test]
fn a_running_worker_on_postgres_finds_copies_of_originals_ingested_after_it_started() {
    let Some(data) = crate::util::shared_data() else {
        return;
    };
    let Some(cluster) = copyhound::store::testdb::cluster() else {
        return;
    };
    let target = cluster.target(&copyhound::store::testdb::new_database());
    let world = World::configured(&data, &format!("database_url = \"{}\"", target.url), "");
    a_running_worker_refreshes_its_index(&world);
}
