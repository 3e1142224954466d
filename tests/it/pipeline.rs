//! The crawler pipeline end to end, driving the real binary against real servers on
//! 127.0.0.1: a copier site built from real pages of `../shared/data` (copies of some
//! archived originals in another template, an excerpt, unrelated real pages, a page
//! behind robots.txt, a sitemap-only page), a licensed partner on 127.0.0.2, and a
//! SearXNG stand-in whose results point at a page no link leads to.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;

use crate::util::{copyhound, json, stderr, stdout};

/// A real page: its raw HTML, human-checked text and title (the text's first line).
pub struct RealPage {
    pub html: Vec<u8>,
    pub paragraphs: Vec<String>,
    pub title: String,
}

pub fn real_pages(data: &Path, count: usize) -> Vec<RealPage> {
    let pages = copyhound::eval::load_pages(data).unwrap();
    pages
        .iter()
        .filter(|p| p.text.chars().count() >= 1200)
        .take(count)
        .map(|p| {
            let paragraphs: Vec<String> = p
                .text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect();
            RealPage {
                html: std::fs::read(data.join("news-pages").join(&p.html)).unwrap(),
                title: paragraphs[0].clone(),
                paragraphs,
            }
        })
        .collect()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The copier's template: navigation, the copied paragraphs, a sidebar of ads, a footer.
pub fn copier_page(title: &str, paragraphs: &[String]) -> String {
    let body: String = paragraphs
        .iter()
        .map(|p| format!("<p>{}</p>\n", escape(p)))
        .collect();
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{t} - Copier Portal</title></head>\
         <body><div class=\"nav\"><a href=\"/\">Home</a> <a href=\"/about\">About</a></div>\
         <div class=\"article\"><h1>{t}</h1>\n{body}</div>\
         <div class=\"sidebar ads\"><a href=\"/ad/1\">Cheap flights</a> <a href=\"/ad/2\">Win a phone</a></div>\
         <div class=\"footer\">Copier Portal. Contact us.</div></body></html>",
        t = escape(title)
    )
}

type Hits = Arc<Mutex<HashMap<String, usize>>>;

/// A site serving `pages` (path → (content type, body)) with ETags; a matching
/// If-None-Match gets 304. Each response is delayed by `delay`.
async fn serve_site(
    listener: std::net::TcpListener,
    pages: HashMap<String, (String, Vec<u8>)>,
    delay: Duration,
) -> (SocketAddr, Hits) {
    let hits: Hits = Arc::default();
    let h = Arc::clone(&hits);
    let pages = Arc::new(pages);
    let router = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
        let pages = Arc::clone(&pages);
        let hits = Arc::clone(&h);
        async move {
            let path = uri.path().to_string();
            *hits.lock().unwrap().entry(path.clone()).or_default() += 1;
            tokio::time::sleep(delay).await;
            let Some((ctype, body)) = pages.get(&path) else {
                return StatusCode::NOT_FOUND.into_response();
            };
            let etag = format!("\"{:x}-{}\"", body.len(), path.len());
            if headers
                .get(header::IF_NONE_MATCH)
                .and_then(|v| v.to_str().ok())
                == Some(etag.as_str())
            {
                return StatusCode::NOT_MODIFIED.into_response();
            }
            (
                [(header::CONTENT_TYPE, ctype.clone()), (header::ETAG, etag)],
                body.clone(),
            )
                .into_response()
        }
    });
    listener.set_nonblocking(true).expect("non-blocking");
    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    (addr, hits)
}

fn html(body: String) -> (String, Vec<u8>) {
    ("text/html; charset=utf-8".into(), body.into_bytes())
}

/// The whole fixture: servers, a config, the archive ingested.
struct World {
    dir: tempfile::TempDir,
    config: PathBuf,
    copier: SocketAddr,
    copier_hits: Hits,
    partner: SocketAddr,
    search_queries: Arc<Mutex<Vec<String>>>,
    /// Original index (0..5) → its URL in the archive.
    original_urls: Vec<String>,
}

impl World {
    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.copier, path)
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--config", self.config.to_str().unwrap()]);
        copyhound(&all)
    }

    fn matches(&self) -> Vec<serde_json::Value> {
        json(&self.run(&["matches", "list", "--json"]))
            .as_array()
            .unwrap()
            .clone()
    }
}

/// Builds the world. `delay` slows every copier response (for the kill test);
/// `discovery` adds the SearXNG stand-in.
async fn world(data: &Path, delay: Duration, discovery: bool) -> World {
    let pages = real_pages(data, 9);
    assert_eq!(pages.len(), 9);
    let (originals, unrelated) = pages.split_at(5);

    // The archive: five real pages as the outlet's originals.
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    std::fs::create_dir_all(&archive).unwrap();
    for (i, p) in originals.iter().enumerate() {
        std::fs::write(archive.join(format!("o{i}.html")), &p.html).unwrap();
    }

    // The copier: o0 whole and o1 as an excerpt, linked from the home page; o4 only in
    // the sitemap robots.txt announces; o3 linked from nowhere (search finds it); a copy
    // of o0 under a disallowed path; and unrelated real pages.
    let excerpt_len = (originals[1].paragraphs.len() * 2 / 5).max(3);
    let mut site: HashMap<String, (String, Vec<u8>)> = HashMap::new();
    site.insert(
        "/news/copy-0.html".into(),
        html(copier_page(&originals[0].title, &originals[0].paragraphs)),
    );
    site.insert(
        "/news/excerpt-1.html".into(),
        html(copier_page(
            &originals[1].title,
            &originals[1].paragraphs[..excerpt_len],
        )),
    );
    site.insert(
        "/hidden/copy-3.html".into(),
        html(copier_page(&originals[3].title, &originals[3].paragraphs)),
    );
    site.insert(
        "/archive/copy-4.html".into(),
        html(copier_page(&originals[4].title, &originals[4].paragraphs)),
    );
    site.insert(
        "/private/copy-0.html".into(),
        html(copier_page(&originals[0].title, &originals[0].paragraphs)),
    );
    let mut links = String::from(
        "<a href=\"/news/copy-0.html\">a</a> <a href=\"/news/excerpt-1.html?utm_source=x\">b</a> \
         <a href=\"/private/copy-0.html\">p</a> <a href=\"https://elsewhere.example/\">out</a>",
    );
    for (i, p) in unrelated.iter().enumerate() {
        site.insert(
            format!("/news/other-{i}.html"),
            ("text/html".into(), p.html.clone()),
        );
        links.push_str(&format!(" <a href=\"/news/other-{i}.html\">o{i}</a>"));
    }
    site.insert(
        "/".into(),
        html(format!(
            "<html><body><h1>Copier Portal</h1>{links}</body></html>"
        )),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    site.insert(
        "/robots.txt".into(),
        (
            "text/plain".into(),
            format!("User-agent: *\nDisallow: /private/\nSitemap: {base}/sitemap.xml\n")
                .into_bytes(),
        ),
    );
    site.insert(
        "/sitemap.xml".into(),
        (
            "application/xml".into(),
            format!(
                "<?xml version=\"1.0\"?><urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\
                 <url><loc>{base}/archive/copy-4.html</loc></url></urlset>"
            )
            .into_bytes(),
        ),
    );
    let (copier, copier_hits) = serve_site(listener, site, delay).await;

    // The licensed partner, on another loopback address: a copy of o2.
    let mut partner_site = HashMap::new();
    partner_site.insert(
        "/".into(),
        html(copier_page(&originals[2].title, &originals[2].paragraphs)),
    );
    let (partner, _) = serve_site(
        std::net::TcpListener::bind("127.0.0.2:0").unwrap(),
        partner_site,
        Duration::ZERO,
    )
    .await;

    // The SearXNG stand-in: every query answers with the hidden copy (and a page of
    // the outlet's own site, which must not be fetched as a candidate).
    let search_queries: Arc<Mutex<Vec<String>>> = Arc::default();
    let discovery_section = if discovery {
        let q = Arc::clone(&search_queries);
        let hidden = format!("{base}/hidden/copy-3.html");
        let router = axum::Router::new().route(
            "/search",
            axum::routing::get(
                move |axum::extract::Query(params): axum::extract::Query<
                    HashMap<String, String>,
                >| {
                    let q = Arc::clone(&q);
                    let hidden = hidden.clone();
                    async move {
                        assert_eq!(params.get("format").map(String::as_str), Some("json"));
                        q.lock()
                            .unwrap()
                            .push(params.get("q").cloned().unwrap_or_default());
                        axum::Json(serde_json::json!({
                            "query": "x",
                            "results": [
                                {"url": hidden, "title": "copy"},
                                {"url": "https://news.example.com/own-article", "title": "ours"}
                            ]
                        }))
                    }
                },
            ),
        );
        let addr = crate::util::fixture::serve(router).await;
        format!("[discovery]\nsearxng_url = \"http://{addr}/\"\ninterval = \"10ms\"\n")
    } else {
        String::new()
    };

    let config = dir.path().join("copyhound.toml");
    std::fs::write(
        &config,
        format!(
            r#"[outlet]
name = "Test Daily"
website = "https://news.example.com"
address = "1 Test Road"

[storage]
dir = "state"

[originals]
paths = ["archive"]

[crawl]
seeds = ["{base}/", "http://{partner}/"]
licensed = ["127.0.0.2"]
max_depth = 2
per_host_delay = "0s"
concurrency = 4
allow_private_networks = true
timeout = "10s"

{discovery_section}"#
        ),
    )
    .unwrap();
    let out = copyhound(&["ingest", "--config", config.to_str().unwrap()]);
    assert!(
        stdout(&out).starts_with("ingest: 5 new"),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );

    // Which archived URL is which original: the store's source names the file.
    let store = copyhound::store::Store::open_dir(&dir.path().join("state")).unwrap();
    let mut original_urls = vec![String::new(); 5];
    for o in store.list_originals().unwrap() {
        let full = store
            .find_original(&copyhound::store::OriginalKey::Id(o.id))
            .unwrap()
            .unwrap();
        let i: usize = Path::new(&full.source)
            .file_stem()
            .unwrap()
            .to_str()
            .unwrap()[1..]
            .parse()
            .unwrap();
        original_urls[i] = full.url;
    }
    World {
        dir,
        config,
        copier,
        copier_hits,
        partner,
        search_queries,
        original_urls,
    }
}

/// `(copy url, original url, verdict, status)` of every recorded match.
fn match_set(matches: &[serde_json::Value]) -> BTreeSet<(String, String, String, String)> {
    matches
        .iter()
        .map(|m| {
            (
                m["copy_url"].as_str().unwrap().to_string(),
                m["original_url"].as_str().unwrap().to_string(),
                m["verdict"].as_str().unwrap().to_string(),
                m["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn expected(w: &World) -> BTreeSet<(String, String, String, String)> {
    let o = &w.original_urls;
    [
        (
            w.url("/news/copy-0.html"),
            o[0].clone(),
            "copy",
            "unreviewed",
        ),
        (
            w.url("/news/excerpt-1.html"),
            o[1].clone(),
            "partial",
            "unreviewed",
        ),
        (
            format!("http://{}/", w.partner),
            o[2].clone(),
            "copy",
            "licensed",
        ),
        (
            w.url("/hidden/copy-3.html"),
            o[3].clone(),
            "copy",
            "unreviewed",
        ),
        (
            w.url("/archive/copy-4.html"),
            o[4].clone(),
            "copy",
            "unreviewed",
        ),
    ]
    .into_iter()
    .map(|(a, b, c, d)| (a, b, c.to_string(), d.to_string()))
    .collect()
}

fn summary_line(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "crawl failed: {}\n{}",
        stdout(out),
        stderr(out)
    );
    stdout(out).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crawl_records_exactly_the_copies_once() {
    let Some(data) = crate::util::shared_data() else {
        return;
    };
    let w = world(&data, Duration::ZERO, true).await;
    let run = w.clone_args();
    let first = tokio::task::spawn_blocking(move || run(&["crawl", "--once"]))
        .await
        .unwrap();
    let line = summary_line(&first);
    assert!(
        line.starts_with("crawl: ")
            && line.contains(" 5 matches (3 copy, 1 partial, 1 licensed), frontier "),
        "{line}"
    );
    let matches = w.matches();
    assert_eq!(match_set(&matches), expected(&w), "{matches:#?}");
    for m in &matches {
        assert!(m["id"].is_i64() && m["first_seen"].is_string());
        assert!(m["original_title"].is_string() && m["status"].is_string());
        assert!(m["containment"].as_f64().unwrap() > 0.25);
        // Coverage and the copied length are recorded with the match.
        let coverage = m["coverage"].as_f64().unwrap();
        assert!(coverage > 0.0 && coverage <= 1.0, "{m:#}");
        assert!(m["copied_chars"].as_u64().unwrap() > 50, "{m:#}");
    }
    // robots.txt kept the private copy out, and the outlet's own page was not fetched.
    assert_eq!(
        w.copier_hits.lock().unwrap().get("/private/copy-0.html"),
        None
    );
    // Every original was searched once, with quoted sentences.
    let queries = w.search_queries.lock().unwrap().clone();
    assert_eq!(queries.len(), 5, "{queries:?}");
    assert!(queries
        .iter()
        .all(|q| q.starts_with('"') && q.ends_with('"')));

    // A second cycle: everything answers 304; nothing new is recorded.
    let run = w.clone_args();
    let second = tokio::task::spawn_blocking(move || run(&["crawl", "--once"]))
        .await
        .unwrap();
    let line = summary_line(&second);
    assert!(
        line.starts_with("crawl: 0 pages fetched, ")
            && line.contains(" 0 matches (0 copy, 0 partial, 0 licensed)"),
        "{line}"
    );
    assert!(!line.contains(", 0 not modified"), "{line}");
    assert_eq!(match_set(&w.matches()), expected(&w));
    // No more searches: every original is marked searched.
    assert_eq!(w.search_queries.lock().unwrap().len(), 5);

    // `matches show` has the passages and the capture.
    let id = matches[0]["id"].as_i64().unwrap().to_string();
    let shown = json(&w.run(&["matches", "show", &id, "--json"]));
    assert!(!shown["passages"].as_array().unwrap().is_empty());
    assert_eq!(shown["copied_chars"], matches[0]["copied_chars"]);
    assert!(shown["coverage"].is_f64());
    let text = stdout(&w.run(&["matches", "show", &id]));
    assert!(text.contains(" characters of the original\n"), "{text}");
    assert!(shown["capture"]["raw_body_bytes"].as_i64().unwrap() > 1000);
    let human = w.run(&["matches", "list"]);
    assert!(stdout(&human).contains("5 match(es)"), "{}", stdout(&human));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_prints_one_line_per_url() {
    let Some(data) = crate::util::shared_data() else {
        return;
    };
    let w = world(&data, Duration::ZERO, false).await;
    let urls = vec![
        w.url("/news/copy-0.html"),
        w.url("/news/other-0.html"),
        w.url("/news/excerpt-1.html"),
        w.url("/private/copy-0.html"),
        w.url("/missing.html"),
        "not a url".to_string(),
    ];
    let run = w.clone_args();
    let args: Vec<String> = ["scan".to_string()]
        .into_iter()
        .chain(urls.clone())
        .collect();
    let out = tokio::task::spawn_blocking(move || {
        run(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(lines.len(), 6, "{text}");
    for (line, url) in lines.iter().zip(&urls) {
        assert_eq!(line.len(), 4, "{text}");
        assert_eq!(line[0], url);
        assert!(line[3].parse::<f64>().is_ok() && line[3].split('.').nth(1).unwrap().len() == 3);
    }
    assert_eq!(lines[0][1], "copy");
    assert_eq!(lines[0][2], w.original_urls[0]);
    assert!(lines[0][3].parse::<f64>().unwrap() > 0.9, "{text}");
    assert_eq!(&lines[1][1..3], &["unrelated", "-"]);
    assert_eq!(lines[2][1], "partial");
    assert_eq!(lines[2][2], w.original_urls[1]);
    assert_eq!(lines[3][1], "disallowed by robots.txt");
    assert!(
        lines[4][1].starts_with("error: ") && lines[4][1].contains("404"),
        "{text}"
    );
    assert!(lines[5][1].starts_with("error: invalid URL"), "{text}");
    // The matches are recorded; scanning again records nothing new.
    assert_eq!(w.matches().len(), 2);
    let run = w.clone_args();
    let again = w.url("/news/copy-0.html");
    let out = tokio::task::spawn_blocking(move || run(&["scan", &again]))
        .await
        .unwrap();
    assert!(stdout(&out).contains("\tcopy\t"), "{}", stdout(&out));
    assert_eq!(w.matches().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_refuses_private_addresses_without_the_flag() {
    let Some(data) = crate::util::shared_data() else {
        return;
    };
    let w = world(&data, Duration::ZERO, false).await;
    let strict = std::fs::read_to_string(&w.config).unwrap().replace(
        "allow_private_networks = true",
        "allow_private_networks = false",
    );
    std::fs::write(&w.config, strict).unwrap();
    let url = w.url("/news/copy-0.html");
    let run = w.clone_args();
    let u = url.clone();
    let out = tokio::task::spawn_blocking(move || run(&["scan", &u]))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!("{url}\terror: ")) && text.contains("loopback"),
        "{text}"
    );
    assert_eq!(w.copier_hits.lock().unwrap().get("/news/copy-0.html"), None);
    assert!(w.matches().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_crawl_resumes_without_duplicate_matches() {
    let Some(data) = crate::util::shared_data() else {
        return;
    };
    // Slow pages, one at a time: the kill lands mid-cycle.
    let w = world(&data, Duration::from_millis(400), false).await;
    let slow = std::fs::read_to_string(&w.config)
        .unwrap()
        .replace("concurrency = 4", "concurrency = 1");
    std::fs::write(&w.config, slow).unwrap();
    let config = w.config.clone();
    let killed = tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_copyhound"))
            .args(["crawl", "--once", "--config", config.to_str().unwrap()])
            .env_remove("COPYHOUND_CONFIG")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(2500));
        let finished = child.try_wait().unwrap().is_some();
        child.kill().ok();
        child.wait().unwrap();
        finished
    })
    .await
    .unwrap();
    assert!(!killed, "the crawl finished before it could be killed");
    let before = w.matches().len();
    assert!(before < 4, "killed too late: {before} matches");
    let run = w.clone_args();
    let out = tokio::task::spawn_blocking(move || run(&["crawl", "--once"]))
        .await
        .unwrap();
    summary_line(&out);
    let matches = w.matches();
    let set = match_set(&matches);
    assert_eq!(set.len(), matches.len(), "duplicates: {matches:#?}");
    let mut want = expected(&w);
    // No discovery in this world: the hidden copy is not found.
    want.retain(|m| !m.0.contains("/hidden/"));
    assert_eq!(set, want);
}

impl World {
    /// A closure running the binary with this world's config, for blocking tasks.
    fn clone_args(&self) -> impl Fn(&[&str]) -> std::process::Output + Send + 'static {
        let config = self.config.clone();
        move |args: &[&str]| {
            let mut all: Vec<&str> = args.to_vec();
            all.extend(["--config", config.to_str().unwrap()]);
            copyhound(&all)
        }
    }

    #[allow(dead_code)]
    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }
}
