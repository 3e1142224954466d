//! The crawler's fetch layer and politeness machinery against real servers on
//! 127.0.0.1: robots.txt, redirects, misbehaving servers (slow drip, stalls, endless
//! bodies, gzip bombs), charsets, Retry-After, crawler traps, the private-network guard,
//! and a restart that resumes the frontier.
//!
//! The fixture servers live on loopback, which the guard refuses by default, so most
//! tests build their fetcher with an exemption for exactly the fixture's address; the
//! SSRF tests show that everything else on loopback stays refused.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Path;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use tokio::io::AsyncWriteExt;
use url::Url;

use copyhound::config::CrawlSettings;
use copyhound::crawl::fetch::{FetchError, FetchOutcome, PageFetcher, Validators};
use copyhound::crawl::frontier;
use copyhound::crawl::guard::{Guard, GuardError};
use copyhound::crawl::links::extract_links;
use copyhound::crawl::politeness::{AcquireError, HostScheduler};
use copyhound::crawl::robots::RobotsCache;
use copyhound::crawl::urls::{dedupe_key, host_key, normalize, DomainSet, UrlRules};
use copyhound::store::{ContentChange, FetchRecord, FrontierState, FrontierUrl, Store};

use crate::util::fixture::{read_head, serve, serve_raw};

fn settings() -> CrawlSettings {
    CrawlSettings {
        user_agent: "copyhound/0.1.0 (+https://news.example.com/crawler)".into(),
        per_host_delay: Duration::ZERO,
        timeout: Duration::from_secs(10),
        read_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(5),
        ..CrawlSettings::default()
    }
}

/// A fetcher that may reach exactly `addr` on loopback (and nothing else there).
fn fetcher_for(settings: &CrawlSettings, addr: SocketAddr) -> PageFetcher {
    PageFetcher::with_guard(settings, Guard::new(false).with_exemption(addr)).unwrap()
}

fn url(addr: SocketAddr, path: &str) -> Url {
    Url::parse(&format!("http://{addr}{path}")).unwrap()
}

fn fetched(outcome: FetchOutcome) -> Box<copyhound::crawl::fetch::Capture> {
    match outcome {
        FetchOutcome::Fetched(c) => c,
        other => panic!("expected a page, got {other:?}"),
    }
}

type Hits = Arc<Mutex<HashMap<String, Vec<Instant>>>>;

fn count(hits: &Hits, path: &str) -> usize {
    hits.lock().unwrap().get(path).map_or(0, Vec::len)
}

/// A site whose pages are `pages` (path → html); it records when each path was hit.
async fn site(
    pages: Vec<(&'static str, String)>,
    robots: Option<&'static str>,
) -> (SocketAddr, Hits) {
    let hits: Hits = Arc::default();
    let pages: Arc<HashMap<String, String>> =
        Arc::new(pages.into_iter().map(|(p, h)| (p.to_string(), h)).collect());
    let h = Arc::clone(&hits);
    let router = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let pages = Arc::clone(&pages);
        let hits = Arc::clone(&h);
        async move {
            let path = uri.path().to_string();
            hits.lock()
                .unwrap()
                .entry(path.clone())
                .or_default()
                .push(Instant::now());
            if path == "/robots.txt" {
                return match robots {
                    Some(r) => ([(header::CONTENT_TYPE, "text/plain")], r).into_response(),
                    None => StatusCode::NOT_FOUND.into_response(),
                };
            }
            match pages.get(&path) {
                Some(html) => (
                    [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                    html.clone(),
                )
                    .into_response(),
                None => StatusCode::NOT_FOUND.into_response(),
            }
        }
    });
    (serve(router).await, hits)
}

#[tokio::test]
async fn robots_disallow_and_crawl_delay_are_honoured() {
    let robots = "User-agent: *\nDisallow: /\n\nUser-agent: copyhound\nDisallow: /private\nCrawl-delay: 1\nSitemap: http://example.com/sitemap.xml\n";
    let (addr, hits) = site(
        vec![("/a", "<p>a</p>".into()), ("/b", "<p>b</p>".into())],
        Some(robots),
    )
    .await;
    let s = CrawlSettings {
        per_host_delay: Duration::from_millis(100),
        ..settings()
    };
    let fetcher = fetcher_for(&s, addr);
    let cache = RobotsCache::new(fetcher.clone(), &s);
    assert_eq!(cache.token(), "copyhound");
    let rules = cache.rules_for(&url(addr, "/a")).await;
    assert!(rules.allowed(&url(addr, "/a")));
    assert!(!rules.allowed(&url(addr, "/private/x")));
    assert_eq!(rules.crawl_delay, Some(Duration::from_secs(1)));
    assert_eq!(
        rules.sitemaps,
        vec![Url::parse("http://example.com/sitemap.xml").unwrap()]
    );
    assert!(!cache.allowed(&url(addr, "/private")).await);
    // Cached: robots.txt was fetched once for three lookups.
    assert_eq!(count(&hits, "/robots.txt"), 1);

    // The Crawl-delay (1 s) beats the configured 100 ms between real requests.
    let sched = HostScheduler::new(&s);
    let host = host_key(&url(addr, "/"));
    sched.set_crawl_delay(&host, rules.crawl_delay);
    for path in ["/a", "/b"] {
        let permit = sched.acquire(&host).await.unwrap();
        fetched(fetcher.fetch(&url(addr, path), None).await.unwrap());
        permit.success();
    }
    let a = hits.lock().unwrap()["/a"][0];
    let b = hits.lock().unwrap()["/b"][0];
    assert!(b - a >= Duration::from_secs(1), "{:?}", b - a);
}

#[tokio::test]
async fn robots_status_codes_follow_rfc_9309() {
    let router = axum::Router::new().route(
        "/robots.txt",
        get(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
    );
    let broken = serve(router).await;
    let (missing, _) = site(vec![], None).await;
    let s = settings();
    // 5xx: the whole site is off limits for now.
    let cache = RobotsCache::new(fetcher_for(&s, broken), &s);
    assert!(!cache.allowed(&url(broken, "/anything")).await);
    // 404: no rules.
    let cache = RobotsCache::new(fetcher_for(&s, missing), &s);
    assert!(cache.allowed(&url(missing, "/anything")).await);
    // Unreachable (nothing listens on the port any more): off limits.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let cache = RobotsCache::new(fetcher_for(&s, closed), &s);
    let rules = cache.rules_for(&url(closed, "/")).await;
    assert!(!rules.allowed(&url(closed, "/")));
    assert!(rules.disallow_reason().unwrap().contains("unavailable"));
}

#[tokio::test]
async fn redirect_loops_and_chains_end_with_a_clear_error() {
    let router = axum::Router::new()
        .route(
            "/a",
            get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/b")]) }),
        )
        .route(
            "/b",
            get(|| async { (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, "/a")]) }),
        )
        .route(
            "/self",
            get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/self")]) }),
        )
        .route(
            "/chain/{n}",
            get(|Path(n): Path<u32>| async move {
                (
                    StatusCode::FOUND,
                    [(header::LOCATION, format!("/chain/{}", n + 1))],
                )
            }),
        )
        .route(
            "/ftp",
            get(|| async {
                (
                    StatusCode::FOUND,
                    [(header::LOCATION, "ftp://example.com/x")],
                )
            }),
        )
        .route(
            "/to-ok",
            get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/ok#frag")]) }),
        )
        .route(
            "/ok",
            get(|| async { ([(header::CONTENT_TYPE, "text/html")], "<p>ok</p>") }),
        );
    let addr = serve(router).await;
    let f = fetcher_for(&settings(), addr);
    let err = f.fetch(&url(addr, "/a"), None).await.unwrap_err();
    assert!(matches!(err, FetchError::RedirectLoop { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!("http://{addr}/a: redirect loop back to http://{addr}/a")
    );
    let err = f.fetch(&url(addr, "/self#x"), None).await.unwrap_err();
    assert!(matches!(err, FetchError::RedirectLoop { .. }), "{err}");
    let err = f.fetch(&url(addr, "/chain/0"), None).await.unwrap_err();
    assert!(
        matches!(err, FetchError::TooManyRedirects { limit: 5, .. }),
        "{err}"
    );
    let err = f.fetch(&url(addr, "/ftp"), None).await.unwrap_err();
    assert!(matches!(err, FetchError::Scheme { .. }), "{err}");
    let c = fetched(f.fetch(&url(addr, "/to-ok"), None).await.unwrap());
    assert_eq!(c.final_url, url(addr, "/ok"));
    assert_eq!(c.redirects.len(), 1);
    assert_eq!(c.redirects[0].status, 302);
    assert_eq!(c.redirects[0].location, "/ok#frag");
}

#[tokio::test]
async fn slow_drip_and_stalled_servers_time_out() {
    // Headers, then one byte every 200 ms forever: every read succeeds, so only the
    // whole-request limit can stop it.
    let drip = serve_raw(|mut s| async move {
        read_head(&mut s).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\n\r\n")
            .await;
        loop {
            if s.write_all(b"x").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    // Headers, then silence.
    let stall = serve_raw(|mut s| async move {
        read_head(&mut s).await;
        let _ = s
            .write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 100\r\n\r\nabc",
            )
            .await;
        tokio::time::sleep(Duration::from_secs(60)).await;
    })
    .await;
    let s = CrawlSettings {
        timeout: Duration::from_secs(2),
        read_timeout: Duration::from_millis(700),
        ..settings()
    };
    let t0 = Instant::now();
    let err = fetcher_for(&s, drip)
        .fetch(&url(drip, "/"), None)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Timeout { .. }), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
    assert!(err.is_transient());

    let t0 = Instant::now();
    let err = fetcher_for(&s, stall)
        .fetch(&url(stall, "/"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::Timeout {
                phase: "waiting for data",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        t0.elapsed() < Duration::from_millis(1900),
        "{:?}",
        t0.elapsed()
    );
}

#[tokio::test]
async fn endless_body_stops_at_the_limit() {
    let endless = serve_raw(|mut s| async move {
        read_head(&mut s).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\nconnection: close\r\n\r\n")
            .await;
        let chunk = vec![b'a'; 64 * 1024];
        while s.write_all(&chunk).await.is_ok() {}
    })
    .await;
    let s = CrawlSettings {
        max_body_bytes: 1024 * 1024,
        ..settings()
    };
    let err = fetcher_for(&s, endless)
        .fetch(&url(endless, "/"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::TooLarge {
                limit: 1048576,
                stage: "compressed",
                ..
            }
        ),
        "{err}"
    );
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[tokio::test]
async fn gzip_bomb_stops_at_the_decompressed_limit() {
    let bomb = Arc::new(gzip(&vec![0u8; 10 * 1024 * 1024]));
    assert!(bomb.len() < 100 * 1024, "{}", bomb.len());
    let page = Arc::new(gzip(
        "<html><body><p>压缩的页面</p></body></html>".as_bytes(),
    ));
    let router = axum::Router::new()
        .route(
            "/bomb",
            get(move || {
                let bomb = Arc::clone(&bomb);
                async move {
                    (
                        [
                            (header::CONTENT_TYPE, "text/html"),
                            (header::CONTENT_ENCODING, "gzip"),
                        ],
                        (*bomb).clone(),
                    )
                }
            }),
        )
        .route(
            "/page",
            get(move || {
                let page = Arc::clone(&page);
                async move {
                    (
                        [
                            (header::CONTENT_TYPE, "text/html"),
                            (header::CONTENT_ENCODING, "gzip"),
                        ],
                        (*page).clone(),
                    )
                }
            }),
        );
    let addr = serve(router).await;
    let s = CrawlSettings {
        max_body_bytes: 1024 * 1024,
        ..settings()
    };
    let f = fetcher_for(&s, addr);
    let err = f.fetch(&url(addr, "/bomb"), None).await.unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::TooLarge {
                limit: 1048576,
                stage: "decompressed",
                ..
            }
        ),
        "{err}"
    );
    // An ordinary gzip page: raw bytes kept as received, body decoded.
    let c = fetched(f.fetch(&url(addr, "/page"), None).await.unwrap());
    assert_eq!(c.content_encoding.as_deref(), Some("gzip"));
    assert_eq!(&c.raw_body[..2], &[0x1f, 0x8b]);
    assert!(String::from_utf8_lossy(c.body()).contains("压缩的页面"));
}

#[tokio::test]
async fn gbk_page_without_a_charset_label_extracts_correct_chinese() {
    let paragraph = "江城市今年第三季度经济运行总体平稳，全市规模以上工业增加值同比增长百分之六点二，\
                     社会消费品零售总额稳步回升，新兴产业发展势头良好，为全年目标的实现打下了坚实基础。";
    let html = format!(
        "<html><head><title>江城经济运行平稳</title></head><body><div class=\"nav\"><a href=\"/\">首页</a></div>\
         <div class=\"article\"><h1>江城经济运行平稳</h1><p>{paragraph}</p><p>{paragraph}</p><p>{paragraph}</p></div></body></html>"
    );
    let (gbk, _, unmappable) = encoding_rs::GBK.encode(&html);
    assert!(!unmappable);
    let gbk = gbk.into_owned();
    let router = axum::Router::new().route(
        "/gbk",
        get(move || {
            let gbk = gbk.clone();
            async move { ([(header::CONTENT_TYPE, "text/html")], gbk) }
        }),
    );
    let addr = serve(router).await;
    let c = fetched(
        fetcher_for(&settings(), addr)
            .fetch(&url(addr, "/gbk"), None)
            .await
            .unwrap(),
    );
    let extracted = copyhound::extract::extract(c.body(), c.content_type.as_deref());
    assert_eq!(extracted.encoding, "GBK");
    assert_eq!(extracted.title, "江城经济运行平稳");
    assert!(
        extracted.text.contains("社会消费品零售总额稳步回升"),
        "{}",
        extracted.text
    );
}

#[tokio::test]
async fn retry_after_is_a_typed_outcome_and_the_scheduler_honours_it() {
    let router = axum::Router::new()
        .route(
            "/busy",
            get(|| async { (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "7")]) }),
        )
        .route(
            "/maintenance",
            get(|| async {
                let when = httpdate::fmt_http_date(
                    std::time::SystemTime::now() + Duration::from_secs(120),
                );
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::RETRY_AFTER, when)],
                )
            }),
        )
        .route("/down", get(|| async { StatusCode::SERVICE_UNAVAILABLE }));
    let addr = serve(router).await;
    let f = fetcher_for(&settings(), addr);
    assert_eq!(
        f.fetch(&url(addr, "/busy"), None).await.unwrap(),
        FetchOutcome::RetryAfter(Duration::from_secs(7))
    );
    match f.fetch(&url(addr, "/maintenance"), None).await.unwrap() {
        FetchOutcome::RetryAfter(d) => {
            assert!(
                d > Duration::from_secs(110) && d <= Duration::from_secs(120),
                "{d:?}"
            )
        }
        other => panic!("{other:?}"),
    }
    // 503 without Retry-After is a transient failure.
    let err = f.fetch(&url(addr, "/down"), None).await.unwrap_err();
    assert!(matches!(err, FetchError::Status { status: 503, .. }) && err.is_transient());

    let sched = HostScheduler::new(&settings());
    let host = host_key(&url(addr, "/"));
    sched
        .acquire(&host)
        .await
        .unwrap()
        .retry_after(Duration::from_secs(7));
    let wait = sched.ready_at(&host) - tokio::time::Instant::now();
    assert!(wait > Duration::from_secs(6), "{wait:?}");
}

/// The pipeline in miniature: claim due URLs, ask the scheduler, fetch conditionally,
/// record, follow in-scope links up to `max_depth`. Returns the number of fetches.
async fn crawl_until_empty(
    store: &mut Store,
    fetcher: &PageFetcher,
    sched: &HostScheduler,
    s: &CrawlSettings,
    stop_after: Option<usize>,
) -> usize {
    let rules = UrlRules::from_settings(s);
    let mut fetches = 0;
    loop {
        let items = store.claim_due(Utc::now(), 1).unwrap();
        let Some(item) = items.into_iter().next() else {
            return fetches;
        };
        if stop_after == Some(fetches) {
            // Simulated crash: the claimed URL stays `fetching`.
            return fetches;
        }
        let permit = match sched.acquire(&item.host).await {
            Ok(p) => p,
            Err(AcquireError::BudgetExhausted { .. }) => {
                let next_cycle = Utc::now() + chrono::Duration::hours(1);
                store
                    .mark_failed(&item.url_key, "page budget used up", Some(next_cycle))
                    .unwrap();
                continue;
            }
            Err(e) => panic!("{e}"),
        };
        let page = Url::parse(&item.url).unwrap();
        let validators = store
            .last_fetch(&item.url_key)
            .unwrap()
            .map(|r| Validators {
                etag: r.etag,
                last_modified: r.last_modified,
            });
        fetches += 1;
        match fetcher.fetch(&page, validators.as_ref()).await.unwrap() {
            FetchOutcome::Fetched(c) => {
                permit.success();
                let change = store
                    .record_fetch(&FetchRecord {
                        url_key: item.url_key.clone(),
                        url: item.url.clone(),
                        final_url: Some(c.final_url.to_string()),
                        fetched_at: c.finished_at,
                        status: c.status,
                        etag: c.validators.etag.clone(),
                        last_modified: c.validators.last_modified.clone(),
                        content_sha256: Some(c.body_sha256.clone()),
                    })
                    .unwrap();
                if change != ContentChange::Unchanged {
                    let html = String::from_utf8_lossy(c.body());
                    let links = extract_links(&html, &c.final_url);
                    let next = frontier::follow(&links, &item, s, &rules);
                    store.enqueue_urls(&next, Utc::now()).unwrap();
                }
            }
            FetchOutcome::NotModified => {
                permit.success();
                let change = store
                    .record_fetch(&FetchRecord {
                        url_key: item.url_key.clone(),
                        url: item.url.clone(),
                        final_url: None,
                        fetched_at: Utc::now(),
                        status: 304,
                        etag: None,
                        last_modified: None,
                        content_sha256: None,
                    })
                    .unwrap();
                assert_eq!(change, ContentChange::Unchanged);
            }
            FetchOutcome::RetryAfter(d) => {
                permit.retry_after(d);
                store
                    .mark_failed(&item.url_key, "retry-after", Some(Utc::now()))
                    .unwrap();
                continue;
            }
        }
        store.mark_done(&item.url_key).unwrap();
    }
}

fn seed(u: &Url, rules: &UrlRules) -> FrontierUrl {
    frontier::entry(u, 0, None, rules).unwrap()
}

/// A calendar whose every day links to the next one, forever.
async fn calendar() -> (SocketAddr, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&hits);
    let router = axum::Router::new().route(
        "/cal/{day}",
        get(move |Path(day): Path<u64>| {
            let h = Arc::clone(&h);
            async move {
                h.fetch_add(1, Ordering::SeqCst);
                let html = format!(
                    "<html><body><p>day {day}</p><a href=\"/cal/{}?utm_source=cal#top\">next day</a>\
                     <a href=\"/cal/{}\">prev day</a><a href=\"https://elsewhere.example/\">out</a></body></html>",
                    day + 1,
                    day.saturating_sub(1)
                );
                ([(header::CONTENT_TYPE, "text/html")], html)
            }
        }),
    );
    (serve(router).await, hits)
}

#[tokio::test]
async fn endless_calendar_is_stopped_by_depth_and_by_the_page_budget() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, hits) = calendar().await;
    let mut s = settings();
    s.scope = DomainSet::from_names(["127.0.0.1"]);
    // 127.0.0.1 is not a domain name; scope by host the way the config does for seeds.
    s.scope.insert("127.0.0.1");
    s.max_depth = 3;
    let rules = UrlRules::from_settings(&s);
    let mut store = Store::open_dir(dir.path()).unwrap();
    store
        .enqueue_urls(&[seed(&url(addr, "/cal/10"), &rules)], Utc::now())
        .unwrap();
    let fetcher = fetcher_for(&s, addr);
    let n = crawl_until_empty(&mut store, &fetcher, &HostScheduler::new(&s), &s, None).await;
    // Days 10, 11 and 9 (depth 1), 12 and 8 (depth 2), 13 and 7 (depth 3): seven pages,
    // each once, however many links point at it.
    assert_eq!(n, 7);
    assert_eq!(hits.load(Ordering::SeqCst), 7);

    // With a deep limit, the page budget ends the cycle instead.
    let dir2 = tempfile::tempdir().unwrap();
    s.max_depth = 100;
    s.max_pages_per_host = 12;
    let mut store = Store::open_dir(dir2.path()).unwrap();
    store
        .enqueue_urls(&[seed(&url(addr, "/cal/500"), &rules)], Utc::now())
        .unwrap();
    let before = hits.load(Ordering::SeqCst);
    let n = crawl_until_empty(&mut store, &fetcher, &HostScheduler::new(&s), &s, None).await;
    assert_eq!(n, 12);
    assert_eq!(hits.load(Ordering::SeqCst) - before, 12);
    let counts = store.frontier_counts().unwrap();
    assert_eq!(counts.done, 12);
    assert!(counts.queued >= 1, "{counts:?}");
}

#[tokio::test]
async fn restart_resumes_the_frontier_without_duplicates_and_skips_unchanged_pages() {
    let dir = tempfile::tempdir().unwrap();
    let hits: Hits = Arc::default();
    let h = Arc::clone(&hits);
    // A small site: an index linking to five articles; every page has an ETag and
    // answers a matching If-None-Match with 304.
    let router = axum::Router::new().fallback(move |uri: axum::http::Uri, headers: HeaderMap| {
        let h = Arc::clone(&h);
        async move {
            let path = uri.path().to_string();
            h.lock()
                .unwrap()
                .entry(path.clone())
                .or_default()
                .push(Instant::now());
            let etag = format!("\"{}\"", path.len());
            if headers
                .get(header::IF_NONE_MATCH)
                .and_then(|v| v.to_str().ok())
                == Some(etag.as_str())
            {
                return StatusCode::NOT_MODIFIED.into_response();
            }
            let body = if path == "/" {
                (1..=5)
                    .map(|i| format!("<a href=\"/article/{i}\">{i}</a>"))
                    .collect::<String>()
            } else {
                format!("<p>article {path}</p><a href=\"/\">home</a>")
            };
            let resp: Response = (
                [
                    (header::CONTENT_TYPE, "text/html"),
                    (header::ETAG, etag.as_str()),
                ],
                body,
            )
                .into_response();
            resp
        }
    });
    let addr = serve(router).await;
    let mut s = settings();
    s.scope.insert("127.0.0.1");
    let rules = UrlRules::from_settings(&s);
    let fetcher = fetcher_for(&s, addr);
    {
        let mut store = Store::open_dir(dir.path()).unwrap();
        store
            .enqueue_urls(&[seed(&url(addr, "/"), &rules)], Utc::now())
            .unwrap();
        // Crash after three fetches, with a fourth URL claimed but not fetched.
        let n = crawl_until_empty(&mut store, &fetcher, &HostScheduler::new(&s), &s, Some(3)).await;
        assert_eq!(n, 3);
        assert_eq!(store.frontier_counts().unwrap().fetching, 1);
    }
    let mut store = Store::open_dir(dir.path()).unwrap();
    assert_eq!(store.requeue_interrupted().unwrap(), 1);
    let n = crawl_until_empty(&mut store, &fetcher, &HostScheduler::new(&s), &s, None).await;
    assert_eq!(n, 3);
    // Every page fetched exactly once over both runs.
    let paths = [
        "/",
        "/article/1",
        "/article/2",
        "/article/3",
        "/article/4",
        "/article/5",
    ];
    for p in paths {
        assert_eq!(count(&hits, p), 1, "{p}");
    }
    let counts = store.frontier_counts().unwrap();
    assert_eq!((counts.done, counts.queued, counts.fetching), (6, 0, 0));

    // The next cycle revisits with validators: every page answers 304 and nothing is
    // processed again (no new links enqueued, content unchanged).
    store.requeue_done(Utc::now()).unwrap();
    let n = crawl_until_empty(&mut store, &fetcher, &HostScheduler::new(&s), &s, None).await;
    assert_eq!(n, 6);
    let key = dedupe_key(&normalize(&url(addr, "/article/2"), &rules).unwrap());
    assert_eq!(
        store.frontier_state(&key).unwrap(),
        Some(FrontierState::Done)
    );
    assert_eq!(
        store.last_fetch(&key).unwrap().unwrap().etag.as_deref(),
        Some("\"10\"")
    );
}

#[tokio::test]
async fn private_addresses_are_refused_when_the_flag_is_off() {
    let (target, hits) = site(vec![("/secret", "<p>internal</p>".into())], None).await;
    let s = settings();
    let strict = PageFetcher::new(&s).unwrap();

    // An IP literal on loopback: refused before connecting.
    let err = strict
        .fetch(&url(target, "/secret"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::Guard(GuardError::Address { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("loopback"), "{err}");

    // A name that resolves to loopback: refused by the resolver.
    let by_name = Url::parse(&format!("http://localhost:{}/secret", target.port())).unwrap();
    let err = strict.fetch(&by_name, None).await.unwrap_err();
    assert!(
        matches!(err, FetchError::Guard(GuardError::Resolution { .. })),
        "{err}"
    );
    assert!(
        err.to_string().starts_with("localhost: every address"),
        "{err}"
    );

    // A redirect from an allowed site to a private address: refused at the hop.
    let target_url = url(target, "/secret").to_string();
    let by_name_url = by_name.to_string();
    let router = axum::Router::new()
        .route(
            "/to-ip",
            get(move || async move { (StatusCode::FOUND, [(header::LOCATION, target_url)]) }),
        )
        .route(
            "/to-name",
            get(move || async move { (StatusCode::FOUND, [(header::LOCATION, by_name_url)]) }),
        );
    let allowed = serve(router).await;
    let f = fetcher_for(&s, allowed);
    let err = f.fetch(&url(allowed, "/to-ip"), None).await.unwrap_err();
    assert!(
        matches!(err, FetchError::Guard(GuardError::Address { .. })),
        "{err}"
    );
    let err = f.fetch(&url(allowed, "/to-name"), None).await.unwrap_err();
    assert!(
        matches!(err, FetchError::Guard(GuardError::Resolution { .. })),
        "{err}"
    );

    // Nothing ever reached the private target.
    assert_eq!(count(&hits, "/secret"), 0);

    // With the flag on, the same request goes through.
    let open = PageFetcher::new(&CrawlSettings {
        allow_private_networks: true,
        ..s
    })
    .unwrap();
    fetched(open.fetch(&url(target, "/secret"), None).await.unwrap());
    assert_eq!(count(&hits, "/secret"), 1);
}

#[tokio::test]
async fn capture_keeps_the_evidence() {
    let seen: Arc<Mutex<Vec<u8>>> = Arc::default();
    let s2 = Arc::clone(&seen);
    let addr = serve_raw(move |mut s| {
        let seen = Arc::clone(&s2);
        async move {
            let head = read_head(&mut s).await;
            *seen.lock().unwrap() = head;
            let body = b"<html><body><p>evidence</p></body></html>";
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nETag: \"e1\"\r\nLast-Modified: Wed, 25 Nov 2026 08:00:00 GMT\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(resp.as_bytes()).await;
            let _ = s.write_all(body).await;
        }
    })
    .await;
    let f = fetcher_for(&settings(), addr);
    let validators = Validators {
        etag: Some("\"e0\"".into()),
        last_modified: Some("Tue, 24 Nov 2026 08:00:00 GMT".into()),
    };
    let before = Utc::now();
    let c = fetched(
        f.fetch(&url(addr, "/a?x=1"), Some(&validators))
            .await
            .unwrap(),
    );
    // The recorded request head is what the server received, line for line.
    let mut sent: Vec<String> = String::from_utf8(c.request_head.clone())
        .unwrap()
        .lines()
        .map(str::to_ascii_lowercase)
        .collect();
    let mut received: Vec<String> = String::from_utf8(seen.lock().unwrap().clone())
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    assert_eq!(sent[0], "get /a?x=1 http/1.1");
    sent.sort();
    received.sort();
    assert_eq!(sent, received);
    assert!(received.iter().any(|l| l == "if-none-match: \"e0\""));
    assert!(received
        .iter()
        .any(|l| l.starts_with("user-agent: copyhound/0.1.0 (+https://")));
    let head = String::from_utf8(c.response_head.clone()).unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("etag: \"e1\"\r\n"), "{head}");
    assert_eq!(c.remote_addr, Some(addr));
    assert_eq!(c.validators.etag.as_deref(), Some("\"e1\""));
    assert_eq!(c.body(), b"<html><body><p>evidence</p></body></html>");
    assert_eq!(c.raw_body, c.body());
    assert!(before <= c.started_at && c.started_at <= c.finished_at);
    assert_eq!(c.body_sha256.len(), 64);
}

#[tokio::test]
async fn other_content_types_and_a_missing_contact_are_refused() {
    let router = axum::Router::new()
        .route(
            "/img",
            get(|| async { ([(header::CONTENT_TYPE, "image/png")], vec![0u8; 10]) }),
        )
        .route(
            "/feed",
            get(|| async { ([(header::CONTENT_TYPE, "application/rss+xml")], "<rss/>") }),
        );
    let addr = serve(router).await;
    let f = fetcher_for(&settings(), addr);
    let err = f.fetch(&url(addr, "/img"), None).await.unwrap_err();
    assert!(matches!(err, FetchError::ContentType { .. }), "{err}");
    assert!(matches!(
        f.fetch(&url(addr, "/feed"), None).await.unwrap_err(),
        FetchError::ContentType { .. }
    ));
    let feed = f
        .fetch_as(
            &url(addr, "/feed"),
            copyhound::crawl::fetch::ContentKind::Feed,
            None,
        )
        .await
        .unwrap();
    fetched(feed);
    let err = PageFetcher::new(&CrawlSettings {
        user_agent: "copyhound/0.1.0".into(),
        ..settings()
    })
    .unwrap_err();
    assert!(err.to_string().contains("has no contact URL"), "{err}");
}

#[tokio::test]
async fn redirects_into_disallowed_paths_are_not_followed() {
    let hits: Hits = Arc::default();
    let h = Arc::clone(&hits);
    let router = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let h = Arc::clone(&h);
        async move {
            let path = uri.path().to_string();
            h.lock()
                .unwrap()
                .entry(path.clone())
                .or_default()
                .push(Instant::now());
            match path.as_str() {
                "/robots.txt" => "User-agent: copyhound\nDisallow: /private\n".into_response(),
                "/go" => (StatusCode::FOUND, [(header::LOCATION, "/private/page")]).into_response(),
                "/open" => ([(header::CONTENT_TYPE, "text/html")], "<p>open</p>").into_response(),
                _ => StatusCode::NOT_FOUND.into_response(),
            }
        }
    });
    let addr = serve(router).await;
    let s = settings();
    let f = fetcher_for(&s, addr);
    let robots = RobotsCache::new(f.clone(), &s);
    let page = copyhound::crawl::fetch::ContentKind::Page;
    let err = f
        .fetch_allowed(&url(addr, "/go"), page, None, &robots)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Robots { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!("http://{addr}/private/page: disallowed by robots.txt")
    );
    assert_eq!(count(&hits, "/private/page"), 0);
    fetched(
        f.fetch_allowed(&url(addr, "/open"), page, None, &robots)
            .await
            .unwrap(),
    );
    assert_eq!(count(&hits, "/robots.txt"), 1);
}
