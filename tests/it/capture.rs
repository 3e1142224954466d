//! Rendered captures and capture provenance end to end: the real binary scans a copy on
//! a loopback site with `[evidence] browser` set to Debian's Chromium, and the evidence
//! file must hold the viewport and full-page screenshots and the PDF print as valid
//! PNG/PDF `resource` records, pass `verify-evidence` and an independent reader
//! (warcio), and carry the provenance record. A page that hangs in the browser is timed
//! out and its match recorded all the same. Without Chromium the tests say they are
//! skipped, unless `COPYHOUND_REQUIRE_BROWSER=1` (as in CI) makes that a failure.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use copyhound::crawl::guard::Guard;
use copyhound::evidence::browser::{png_size, RenderError, RenderKind, Renderer};
use copyhound::evidence::warc;

use crate::util::{copyhound_blocking, files_with_extension, python_needs, stderr, stdout};

const CHROMIUM: &str = "/usr/bin/chromium";

/// True (after saying so) when Chromium is missing and the test should return; a
/// failure instead under `COPYHOUND_REQUIRE_BROWSER=1`.
fn skip_without_chromium(test: &str) -> bool {
    if Path::new(CHROMIUM).is_file() {
        return false;
    }
    assert!(
        !crate::util::tools_required(),
        "{test}: {CHROMIUM} is missing and this run requires it (apt-get install chromium)"
    );
    eprintln!(
        "skipping {test}: {CHROMIUM} not installed (apt-get install chromium; CI installs it)"
    );
    true
}

/// The bundled Chinese copy, made taller than two viewports by an empty block after the
/// article (a full-page screenshot must then be taller than the viewport one).
fn long_copy() -> Vec<u8> {
    let copy = std::fs::read_to_string(crate::util::sample("copy-zh-mirror.html")).unwrap();
    copy.replace(
        "</body>",
        "<div style=\"height:2400px;background:#eef\"></div></body>",
    )
    .into_bytes()
}

/// A loopback site serving [`long_copy`] at `/news/copy.html`.
pub(crate) async fn copy_site() -> SocketAddr {
    let copy = long_copy();
    let router = axum::Router::new().route(
        "/news/copy.html",
        axum::routing::get(move || {
            let copy = copy.clone();
            async move { ([("content-type", "text/html; charset=utf-8")], copy) }
        }),
    );
    crate::util::fixture::serve(router).await
}

/// A config (both contacts, alerts to `.eml` files) scanning with Chromium
/// (`browser_timeout` as given), and the archive holding the original of the bundled copy.
pub(crate) fn env(browser_timeout: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("copyhound.toml");
    std::fs::write(
        &config,
        format!(
            "{}\n[originals]\npaths = [\"archive\"]\n\n\
             [crawl]\nallow_private_networks = true\nper_host_delay = \"0s\"\ntimeout = \"10s\"\n\n\
             [evidence]\nbrowser = \"{CHROMIUM}\"\nbrowser_timeout = \"{browser_timeout}\"\nbrowser_memory_mb = 2048\n",
            crate::util::OUTLET_CONFIG
        ),
    )
    .unwrap();
    crate::util::archive_zh_original(dir.path());
    (dir, config)
}

/// Ingests the archive and scans `url`; returns the scan's output and the one evidence
/// file written.
async fn scan(config: &Path, dir: &Path, url: &str) -> (std::process::Output, PathBuf) {
    let out = copyhound_blocking(config, &["ingest"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = copyhound_blocking(config, &["scan", url]).await;
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let files = files_with_extension(&dir.join("state/evidence"), "gz");
    assert_eq!(files.len(), 1, "{files:?}\n{}", stderr(&out));
    (out, files[0].clone())
}

fn records(path: &Path) -> Vec<warc::CheckedRecord> {
    let bytes = std::fs::read(path).unwrap();
    let (records, problems) = warc::check_all(&bytes[..]);
    assert!(problems.is_empty(), "{problems:?}");
    records
}

fn verify(config: &Path, file: &Path) {
    let out = crate::util::copyhound(&[
        "verify-evidence",
        "--config",
        config.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("ok: every digest matches"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rendered_capture_holds_screenshots_a_pdf_and_its_provenance() {
    if skip_without_chromium("a_rendered_capture_holds_screenshots_a_pdf_and_its_provenance") {
        return;
    }
    let site = copy_site().await;
    let (dir, config) = env("60s");
    // By name, so the crawler's resolver has an answer to record.
    let url = format!("http://localhost:{}/news/copy.html", site.port());
    let (_, file) = scan(&config, dir.path(), &url).await;

    let records = records(&file);
    let response_id = records
        .iter()
        .find(|r| r.record.header("WARC-Type") == Some("response"))
        .and_then(|r| r.record.header("WARC-Record-ID"))
        .unwrap()
        .to_string();
    let resource = |kind: RenderKind| {
        let target = format!("{}{url}", kind.urn_prefix());
        let r = records
            .iter()
            .find(|r| {
                r.record.header("WARC-Type") == Some("resource")
                    && r.record.header("WARC-Target-URI") == Some(target.as_str())
            })
            .unwrap_or_else(|| panic!("no {target} record"));
        assert_eq!(r.record.header("Content-Type"), Some(kind.content_type()));
        assert_eq!(
            r.record.header("WARC-Concurrent-To"),
            Some(response_id.as_str())
        );
        assert_eq!(r.verified, ["WARC-Block-Digest"]);
        r.record.block.clone()
    };
    let view = resource(RenderKind::View);
    let full = resource(RenderKind::FullPage);
    let pdf = resource(RenderKind::Pdf);
    assert!(view.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert_eq!(png_size(&view), Some((1280, 800)));
    let (w, h) = png_size(&full).expect("the full page is a PNG");
    assert_eq!(w, 1280);
    assert!(
        h > 2400,
        "the full page ({h} px) is taller than the viewport"
    );
    assert!(pdf.starts_with(b"%PDF-"), "{:?}", &pdf[..8.min(pdf.len())]);
    // Read back through the library, as the desk and the reports do.
    assert_eq!(
        copyhound::evidence::read_artefact(&file, RenderKind::View).unwrap(),
        Some(view.clone())
    );

    // Provenance: the connected address, the DNS answer, the binary, the browser.
    let provenance = copyhound::evidence::read_provenance(&file)
        .unwrap()
        .expect("a provenance record");
    assert_eq!(provenance.format, "copyhound-provenance/1");
    assert_eq!(provenance.url, url);
    assert_eq!(
        provenance.network.connected_ip.as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(provenance.network.connected_port, Some(site.port()));
    assert_eq!(provenance.network.proxy, "none");
    assert!(
        provenance.network.tls_certificates.is_empty(),
        "http:// has none"
    );
    let dns = provenance.network.dns.as_ref().expect("a DNS answer");
    assert_eq!(dns.answer.host, "localhost");
    assert!(
        dns.answer.addresses.iter().any(|a| a == "127.0.0.1"),
        "{dns:?}"
    );
    assert_eq!(dns.ttl_seconds, None);
    let binary = provenance.software.binary_sha256.as_deref().unwrap();
    assert_eq!(binary.len(), 64);
    let expected = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(
            std::fs::read(env!("CARGO_BIN_EXE_copyhound")).unwrap(),
        ))
    };
    assert_eq!(binary, expected, "the digest of the binary that ran");
    assert!(provenance.time_source.synchronised.is_some());
    let browser = provenance.browser.as_ref().expect("the browser is named");
    assert!(browser.product.contains("Chrome/"), "{browser:?}");
    assert!(browser.user_agent.contains("Chrome/"), "{browser:?}");
    assert!(provenance
        .machine
        .kernel
        .as_deref()
        .unwrap()
        .starts_with("Linux"));

    verify(&config, &file);

    // The desk shows the screenshot beside the text, served from the record, to a
    // reviewer who is logged in only.
    let desk = crate::web::DeskFixture::on_config(&config).await;
    let id = desk.store().list_matches().unwrap()[0].id;
    let anonymous = desk.get(&format!("/matches/{id}/capture/view"), None).await;
    assert_eq!(anonymous.status(), reqwest::StatusCode::SEE_OTHER);
    let (session, _) = desk.login().await;
    let page = desk.page(&format!("/matches/{id}"), &session).await;
    assert!(page.contains("id=\"screenshot\""), "{page}");
    assert!(page.contains(&format!("src=\"/matches/{id}/capture/view\"")));
    let served = desk
        .get(&format!("/matches/{id}/capture/view"), Some(&session))
        .await;
    assert_eq!(served.status(), reqwest::StatusCode::OK);
    assert_eq!(served.headers()["content-type"], "image/png");
    assert_eq!(served.bytes().await.unwrap().to_vec(), view);
    let print = desk
        .get(&format!("/matches/{id}/capture/pdf"), Some(&session))
        .await;
    assert_eq!(print.headers()["content-type"], "application/pdf");
    assert!(print.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    assert_eq!(print.bytes().await.unwrap().to_vec(), pdf);
    let unknown = desk
        .get(&format!("/matches/{id}/capture/other"), Some(&session))
        .await;
    assert_eq!(unknown.status(), reqwest::StatusCode::NOT_FOUND);
    desk.stop().await;

    // The independent reader sees the three resources with their types and lengths.
    if !python_needs(
        "warcio",
        "a_rendered_capture_holds_screenshots (warcio part)",
    ) {
        return;
    }
    let listing = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys\n\
             from warcio.archiveiterator import ArchiveIterator\n\
             with open(sys.argv[1], 'rb') as f:\n\
             \x20   for r in ArchiveIterator(f):\n\
             \x20       body = r.content_stream().read()\n\
             \x20       print(r.rec_type, r.rec_headers.get_header('WARC-Target-URI'), r.rec_headers.get_header('Content-Type'), len(body), body[:4].hex())\n",
            file.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(listing.status.success(), "{}", stderr(&listing));
    let listing = stdout(&listing);
    for (kind, bytes) in [
        (RenderKind::View, &view),
        (RenderKind::FullPage, &full),
        (RenderKind::Pdf, &pdf),
    ] {
        let line = format!(
            "resource {}{url} {} {} {}",
            kind.urn_prefix(),
            kind.content_type(),
            bytes.len(),
            hex::encode(&bytes[..4])
        );
        assert!(listing.contains(&line), "{line}\n{listing}");
    }
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys; from warcio.cli import main; main(sys.argv[1:])",
            "check",
            "-v",
            file.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(!stdout(&out).contains("digest fail"), "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_hangs_in_the_browser_is_timed_out_and_its_match_recorded() {
    if skip_without_chromium("a_page_that_hangs_in_the_browser_is_timed_out_and_its_match_recorded")
    {
        return;
    }
    // The crawler gets the copy; the browser's request is answered never.
    let copy = long_copy();
    let router = axum::Router::new().route(
        "/news/copy.html",
        axum::routing::get(move |headers: axum::http::HeaderMap| {
            let copy = copy.clone();
            async move {
                let ua = headers
                    .get("user-agent")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                if !ua.starts_with("copyhound/") {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                ([("content-type", "text/html; charset=utf-8")], copy)
            }
        }),
    );
    let site = crate::util::fixture::serve(router).await;
    let (dir, config) = env("5s");
    let url = format!("http://{site}/news/copy.html");
    let started = Instant::now();
    let (out, file) = scan(&config, dir.path(), &url).await;
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the scan took {:?}",
        started.elapsed()
    );
    let log = stderr(&out);
    assert!(log.contains("page not rendered"), "{log}");
    assert!(log.contains("timed out"), "{log}");
    assert!(stdout(&out).contains("\tcopy\t"), "{}", stdout(&out));
    let records = records(&file);
    assert!(
        records
            .iter()
            .all(|r| r.record.header("WARC-Type") != Some("resource")),
        "no screenshot of a page that never came"
    );
    let provenance = copyhound::evidence::read_provenance(&file)
        .unwrap()
        .expect("a provenance record");
    assert!(provenance.browser.is_none());
    assert_eq!(
        provenance.network.connected_ip.as_deref(),
        Some("127.0.0.1")
    );
    verify(&config, &file);
    // The desk shows no screenshot where there is none.
    let desk = crate::web::DeskFixture::on_config(&config).await;
    let id = desk.store().list_matches().unwrap()[0].id;
    let (session, _) = desk.login().await;
    let page = desk.page(&format!("/matches/{id}"), &session).await;
    assert!(!page.contains("id=\"screenshot\""), "{page}");
    let served = desk
        .get(&format!("/matches/{id}/capture/view"), Some(&session))
        .await;
    assert_eq!(served.status(), reqwest::StatusCode::NOT_FOUND);
    desk.stop().await;
}

/// The browser reaches only what the crawler may: with private networks refused, a page
/// on loopback is not rendered (the guarded proxy refuses the connection).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_cannot_reach_loopback_when_the_guard_refuses_it() {
    if skip_without_chromium("the_browser_cannot_reach_loopback_when_the_guard_refuses_it") {
        return;
    }
    let router = axum::Router::new().route(
        "/secret",
        axum::routing::get(|| async { "the router's admin page" }),
    );
    let site: SocketAddr = crate::util::fixture::serve(router).await;
    let settings = copyhound::config::EvidenceSettings {
        browser: Some(CHROMIUM.into()),
        browser_timeout: Duration::from_secs(30),
        browser_memory_mb: 2048,
        ..Default::default()
    };
    let renderer = Renderer::from_settings(&settings, Arc::new(Guard::new(false))).unwrap();
    for url in [
        format!("http://{site}/secret"),
        format!("http://localhost:{}/secret", site.port()),
    ] {
        let result = renderer.render(&url.parse().unwrap()).await;
        assert!(
            matches!(result, Err(RenderError::Navigation { .. })),
            "{url}: {result:?}"
        );
    }
    // The same renderer with the guard relaxed renders it.
    let open = Renderer::from_settings(&settings, Arc::new(Guard::new(true))).unwrap();
    let rendering = open
        .render(&format!("http://{site}/secret").parse().unwrap())
        .await
        .unwrap();
    assert!(rendering.viewport_png.is_some());
}

/// Counsel's escalation email carries the screenshot (a PNG any mail client opens)
/// beside the evidence file; the new match's alerts do not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_escalation_to_counsel_attaches_the_screenshot() {
    use mail_parser::{MessageParser, MimeHeaders};
    if skip_without_chromium("the_escalation_to_counsel_attaches_the_screenshot") {
        return;
    }
    let site = copy_site().await;
    let (dir, config) = env("60s");
    let (_, file) = scan(
        &config,
        dir.path(),
        &format!("http://{site}/news/copy.html"),
    )
    .await;
    let view = copyhound::evidence::read_artefact(&file, RenderKind::View)
        .unwrap()
        .expect("a screenshot");
    let id = copyhound::store::Store::open_dir(&dir.path().join("state"))
        .unwrap()
        .list_matches()
        .unwrap()[0]
        .id
        .to_string();
    let config_arg = config.to_str().unwrap().to_string();
    let out = tokio::task::spawn_blocking(move || {
        crate::util::copyhound_cmd(&[
            "matches",
            "mark",
            &id,
            "--status",
            "infringing",
            "--config",
            &config_arg,
        ])
        .env("USER", "reviewer-li")
        .env_remove("SUDO_USER")
        .output()
        .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let mails: Vec<Vec<u8>> = files_with_extension(&dir.path().join("state/outbox"), "eml")
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert_eq!(mails.len(), 3, "two new-match alerts and the escalation");
    let screenshots: Vec<(String, Vec<u8>)> = mails
        .iter()
        .flat_map(|raw| {
            let msg = MessageParser::default().parse(raw).unwrap();
            msg.attachments()
                .filter(|a| {
                    a.attachment_name()
                        .is_some_and(|n| n.ends_with("-screenshot.png"))
                })
                .map(|a| {
                    (
                        msg.subject().unwrap_or_default().to_string(),
                        a.contents().to_vec(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(screenshots.len(), 1, "only the escalation attaches it");
    assert!(
        screenshots[0].0.contains("经审核确认侵权"),
        "{}",
        screenshots[0].0
    );
    assert_eq!(screenshots[0].1, view);
}

/// Runs `openssl` with `args` in `dir`, failing the test on an error.
pub(crate) fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(out.status.success(), "openssl {args:?}: {}", stderr(&out));
}

/// A test CA, an intermediate and a `localhost` server certificate made with openssl
/// in `dir`; returns the root's DER.
pub(crate) fn test_pki(dir: &Path) -> Vec<u8> {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut args = vec!["req", "-x509"];
    args.extend(ec);
    args.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "30",
        "-subj",
        "/CN=copyhound test root",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &args);
    std::fs::write(
        dir.join("int.ext"),
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("leaf.ext"),
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost\n",
    )
    .unwrap();
    for (name, subject, ca, ext) in [
        ("int", "/CN=copyhound test intermediate", "ca", "int.ext"),
        ("leaf", "/CN=localhost", "int", "leaf.ext"),
    ] {
        let (key, csr, pem) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
        );
        let mut args = vec!["req"];
        args.extend(ec);
        args.extend(["-keyout", &key, "-out", &csr, "-subj", subject]);
        openssl(dir, &args);
        let (ca_pem, ca_key) = (format!("{ca}.pem"), format!("{ca}.key"));
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca_pem,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "30",
                "-extfile",
                ext,
            ],
        );
    }
    for name in ["ca", "int", "leaf"] {
        openssl(
            dir,
            &[
                "x509",
                "-in",
                &format!("{name}.pem"),
                "-outform",
                "DER",
                "-out",
                &format!("{name}.der"),
            ],
        );
    }
    std::fs::read(dir.join("ca.der")).unwrap()
}

/// `openssl s_server` on loopback: a real TLS server presenting the leaf and the
/// intermediate, serving `dir`'s files (`-WWW`); killed on drop.
struct TlsServer(std::process::Child);

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An https capture records the chain its server presented (end entity first), with
/// subject, issuer, validity and fingerprints that match openssl's own files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_capture_records_the_certificate_chain() {
    use copyhound::crawl::fetch::{FetchOutcome, PageFetcher};
    use sha2::Digest;
    if std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_err()
    {
        assert!(
            !crate::util::tools_required(),
            "openssl is missing and this run requires it"
        );
        eprintln!("skipping an_https_capture_records_the_certificate_chain: openssl not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = test_pki(dir.path());
    std::fs::write(dir.path().join("copy.html"), long_copy()).unwrap();
    let port = crate::util::free_port();
    let server = TlsServer(
        std::process::Command::new("openssl")
            .args([
                "s_server",
                "-accept",
                &format!("127.0.0.1:{port}"),
                "-cert",
                "leaf.pem",
                "-key",
                "leaf.key",
                "-cert_chain",
                "int.pem",
                "-WWW",
                "-quiet",
            ])
            .current_dir(dir.path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "openssl s_server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let settings = copyhound::config::CrawlSettings {
        user_agent: "copyhound/0.1 (+https://www.jiangcheng-daily.example/copyright)".into(),
        timeout: Duration::from_secs(10),
        ..copyhound::config::CrawlSettings::default()
    };
    let url: url::Url = format!("https://localhost:{port}/copy.html")
        .parse()
        .unwrap();
    // Verification is unchanged: without the test root the server is refused.
    let strict = PageFetcher::with_guard(&settings, Guard::new(true)).unwrap();
    assert!(strict.fetch(&url, None).await.is_err());
    let fetcher = PageFetcher::with_guard_and_roots(&settings, Guard::new(true), &[root]).unwrap();
    let capture = match fetcher.fetch(&url, None).await.unwrap() {
        FetchOutcome::Fetched(c) => *c,
        other => panic!("expected a page, got {other:?}"),
    };
    let der = |name: &str| std::fs::read(dir.path().join(format!("{name}.der"))).unwrap();
    assert_eq!(
        capture.network.tls_certificates,
        vec![der("leaf"), der("int")]
    );
    let dns = capture
        .network
        .dns
        .as_ref()
        .expect("localhost was resolved");
    assert!(dns.allowed.iter().any(|a| a == "127.0.0.1"), "{dns:?}");

    // As the provenance record states it.
    let info = copyhound::evidence::WarcInfo::current(b"", &settings.user_agent);
    let provenance = copyhound::evidence::provenance::of_capture(&info, &capture, None);
    let chain = &provenance.network.tls_certificates;
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[0].subject.as_deref(), Some("CN=localhost"));
    assert_eq!(
        chain[0].issuer.as_deref(),
        Some("CN=copyhound test intermediate")
    );
    assert_eq!(
        chain[1].subject.as_deref(),
        Some("CN=copyhound test intermediate")
    );
    assert_eq!(chain[1].issuer.as_deref(), Some("CN=copyhound test root"));
    assert_eq!(
        chain[0].sha256,
        hex::encode(sha2::Sha256::digest(der("leaf")))
    );
    let (from, until) = (
        chain[0].not_before.as_deref().unwrap(),
        chain[0].not_after.as_deref().unwrap(),
    );
    assert!(from < until && from.ends_with('Z'), "{from} .. {until}");
    assert!(chain[0].serial.as_deref().is_some_and(|s| !s.is_empty()));

    // The browser reaches https through the guarded proxy's CONNECT tunnel and checks
    // the certificate itself: the test CA is not in its store, so the navigation fails
    // on the certificate (not on the tunnel), and nothing is rendered.
    if !Path::new(CHROMIUM).is_file() {
        return;
    }
    let settings = copyhound::config::EvidenceSettings {
        browser: Some(CHROMIUM.into()),
        browser_timeout: Duration::from_secs(30),
        browser_memory_mb: 2048,
        ..Default::default()
    };
    let renderer = Renderer::from_settings(&settings, Arc::new(Guard::new(true))).unwrap();
    match renderer.render(&url).await {
        Err(RenderError::Navigation { reason, .. }) => {
            assert!(reason.contains("CERT"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    drop(server);
}

/// `copyhound demo --browser` records the demo's copies with screenshots.
#[test]
fn the_demo_renders_its_copies_with_a_browser() {
    if skip_without_chromium("the_demo_renders_its_copies_with_a_browser") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let out = crate::util::copyhound(&[
        "demo",
        "--dir",
        demo.to_str().unwrap(),
        "--browser",
        CHROMIUM,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("with screenshots and a PDF print by {CHROMIUM}")),
        "{}",
        stdout(&out)
    );
    let files = files_with_extension(&demo.join("state/evidence"), "gz");
    assert!(!files.is_empty());
    for file in &files {
        let png = copyhound::evidence::read_artefact(file, RenderKind::View).unwrap();
        assert!(
            png.is_some_and(|p| png_size(&p) == Some((1280, 800))),
            "{file:?}"
        );
    }
}

/// A page that eats memory dies at the memory bound (`RLIMIT_DATA` on every browser
/// process) well before the timeout, and no browser process outlives the rendering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_over_the_memory_bound_is_not_rendered() {
    if skip_without_chromium("a_page_over_the_memory_bound_is_not_rendered") {
        return;
    }
    let router = axum::Router::new().route(
        "/hog.html",
        axum::routing::get(|| async {
            (
                [("content-type", "text/html")],
                "<html><body><p>hog</p><script>const keep = []; \
                 for (;;) { keep.push(new Array(1 << 20).fill(Math.random())); }</script></body></html>",
            )
        }),
    );
    let site = crate::util::fixture::serve(router).await;
    let settings = copyhound::config::EvidenceSettings {
        browser: Some(CHROMIUM.into()),
        browser_timeout: Duration::from_secs(60),
        browser_memory_mb: 512,
        ..Default::default()
    };
    let renderer = Renderer::from_settings(&settings, Arc::new(Guard::new(true))).unwrap();
    let started = Instant::now();
    let result = renderer
        .render(&format!("http://{site}/hog.html").parse().unwrap())
        .await;
    assert!(result.is_err(), "{result:?}");
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "{:?} after {:?}",
        result,
        started.elapsed()
    );
    eprintln!("memory hog: {result:?} after {:?}", started.elapsed());
}

/// A page that opens JavaScript dialogs cannot keep itself out of the screenshots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dialogs_do_not_block_the_screenshots() {
    if skip_without_chromium("dialogs_do_not_block_the_screenshots") {
        return;
    }
    let router = axum::Router::new().route(
        "/dialogs.html",
        axum::routing::get(|| async {
            (
                [("content-type", "text/html")],
                "<html><body><p>copied text</p><script>alert('no screenshots'); \
                 confirm('really?'); window.addEventListener('load', () => alert('again'));\
                 </script></body></html>",
            )
        }),
    );
    let site = crate::util::fixture::serve(router).await;
    let settings = copyhound::config::EvidenceSettings {
        browser: Some(CHROMIUM.into()),
        browser_timeout: Duration::from_secs(30),
        browser_memory_mb: 2048,
        ..Default::default()
    };
    let renderer = Renderer::from_settings(&settings, Arc::new(Guard::new(true))).unwrap();
    let rendering = renderer
        .render(&format!("http://{site}/dialogs.html").parse().unwrap())
        .await
        .unwrap();
    assert!(rendering.viewport_png.is_some() && rendering.pdf.is_some());
    assert!(
        rendering
            .notes
            .iter()
            .any(|n| n.contains("dialog(s) dismissed")),
        "{:?}",
        rendering.notes
    );
}

/// A loopback site serving [`long_copy`] at `/news/copy.html` while `online` is set, and
/// 404 once it is not (the copy removed).
async fn removable_copy_site(online: Arc<std::sync::atomic::AtomicBool>) -> SocketAddr {
    use std::sync::atomic::Ordering;
    let copy = long_copy();
    let router = axum::Router::new().route(
        "/news/copy.html",
        axum::routing::get(move || {
            let copy = copy.clone();
            let up = online.load(Ordering::SeqCst);
            async move {
                let status = if up {
                    axum::http::StatusCode::OK
                } else {
                    axum::http::StatusCode::NOT_FOUND
                };
                let body = if up {
                    copy
                } else {
                    b"<html><body><h1>404</h1></body></html>".to_vec()
                };
                (status, [("content-type", "text/html; charset=utf-8")], body)
            }
        }),
    );
    crate::util::fixture::serve(router).await
}

/// The evidence files in `dir` not in `seen`, which then holds them too.
fn new_files(dir: &Path, seen: &mut Vec<PathBuf>) -> Vec<PathBuf> {
    let fresh: Vec<PathBuf> = files_with_extension(dir, "gz")
        .into_iter()
        .filter(|f| !seen.contains(f))
        .collect();
    seen.extend(fresh.iter().cloned());
    fresh
}

/// A case's re-check renders the copy still online into its own evidence file (the
/// three browser records and the browser in the provenance), and that file is
/// timestamped like any other: by a real TSA on loopback, accepted by `openssl ts
/// -verify`. A removed copy is not rendered, and a browser that fails leaves the
/// re-check recorded with its evidence, without screenshots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recheck_renders_the_copy_still_online_and_its_evidence_is_timestamped() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let test = "a_recheck_renders_the_copy_still_online_and_its_evidence_is_timestamped";
    if skip_without_chromium(test) || !crate::tsa::openssl_available(test) {
        return;
    }
    let tsa = crate::tsa::Tsa::start(crate::tsa::TsaKind::default()).await;
    let (dir, config) = env("60s");
    let with_tsa = |browser: &str| {
        let text = std::fs::read_to_string(&config).unwrap();
        let text = text.replace(
            &format!("browser = \"{CHROMIUM}\""),
            &format!("browser = \"{browser}\""),
        );
        let text = text.split("tsa_urls").next().unwrap().to_string();
        std::fs::write(
            &config,
            format!(
                "{text}tsa_urls = [\"{}\"]\ntsa_ca_file = \"{}\"\ntsa_timeout = \"10s\"\n",
                tsa.url,
                tsa.ca().display()
            ),
        )
        .unwrap();
    };
    with_tsa(CHROMIUM);
    let online = Arc::new(AtomicBool::new(true));
    let site = removable_copy_site(online.clone()).await;
    let url = format!("http://{site}/news/copy.html");
    let (_, first) = scan(&config, dir.path(), &url).await;
    let evidence = dir.path().join("state/evidence");
    let mut seen = vec![first];
    let out =
        copyhound_blocking(&config, &["matches", "mark", "1", "--status", "infringing"]).await;
    assert!(out.status.success(), "{}", stderr(&out));

    let recheck = |what: &'static str| {
        let config = config.clone();
        async move {
            let out = copyhound_blocking(&config, &["cases", "recheck", "1"]).await;
            assert!(
                out.status.success(),
                "{what}: {:?} {}\n{}",
                out.status,
                stdout(&out),
                stderr(&out)
            );
            out
        }
    };
    let tsr = copyhound::evidence::stamping::tsr_path;
    let stamped = |file: &Path| {
        assert!(
            tsr(file).is_file(),
            "{}: no token beside it",
            file.display()
        );
        let out = crate::util::copyhound(&[
            "verify-evidence",
            "--config",
            config.to_str().unwrap(),
            file.to_str().unwrap(),
        ]);
        let text = stdout(&out);
        assert!(out.status.success(), "{text}");
        assert!(
            text.contains("timestamp ok: O=Copyhound Tests,CN=Copyhound Test TSA"),
            "{text}"
        );
        let ossl = crate::tsa::openssl_verify(&[file], &["-data"], &tsr(file), &tsa.ca());
        assert!(crate::tsa::accepted(&ossl), "{}", stderr(&ossl));
    };

    // Still online: rendered, with its own timestamp.
    let out = recheck("still online").await;
    let text = stdout(&out);
    assert!(text.contains("case 1: still-online"), "{text}");
    assert!(text.contains("with screenshots"), "{text}");
    let files = new_files(&evidence, &mut seen);
    assert_eq!(files.len(), 1, "{files:?}");
    let file = &files[0];
    let found = copyhound::evidence::read_artefacts(file).unwrap();
    let kinds: Vec<RenderKind> = found.iter().map(|(k, _)| *k).collect();
    assert_eq!(kinds, RenderKind::ALL.to_vec(), "{file:?}");
    assert_eq!(png_size(&found[0].1), Some((1280, 800)));
    let provenance = copyhound::evidence::read_provenance(file).unwrap().unwrap();
    assert!(provenance.browser.is_some(), "the browser is named");
    // Its metadata is the re-check's: the case is in it.
    let metadata = records(file)
        .into_iter()
        .find(|r| {
            r.record.header("WARC-Type") == Some("metadata")
                && r.record.header("Content-Type") == Some("application/json")
                && !r
                    .record
                    .header("WARC-Target-URI")
                    .unwrap_or_default()
                    .starts_with("urn:")
        })
        .expect("the match's metadata");
    let facts: serde_json::Value = serde_json::from_slice(&metadata.record.block).unwrap();
    assert_eq!(facts["case"]["case_id"], 1, "{facts}");
    stamped(file);

    // Removed: a capture of the 404, not rendered, timestamped all the same.
    online.store(false, Ordering::SeqCst);
    let out = recheck("removed").await;
    let text = stdout(&out);
    assert!(text.contains("case 1: removed"), "{text}");
    assert!(!text.contains("with screenshots"), "{text}");
    let files = new_files(&evidence, &mut seen);
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(copyhound::evidence::read_artefacts(&files[0])
        .unwrap()
        .is_empty());
    stamped(&files[0]);

    // Back online with a browser that cannot start: the re-check and its evidence are
    // recorded, without screenshots, and the reason is said.
    with_tsa("/bin/false");
    online.store(true, Ordering::SeqCst);
    let out = recheck("browser failing").await;
    let text = stdout(&out);
    assert!(text.contains("case 1: still-online"), "{text}");
    assert!(text.contains("(not rendered: "), "{text}");
    let files = new_files(&evidence, &mut seen);
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(copyhound::evidence::read_artefacts(&files[0])
        .unwrap()
        .is_empty());
    stamped(&files[0]);
    let case =
        crate::util::json(&copyhound_blocking(&config, &["cases", "show", "1", "--json"]).await);
    let rechecks = case["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "recheck")
        .count();
    assert_eq!(rechecks, 3, "{case}");
}

/// `copyhound demo` with a browser and a time-stamp authority (the real loopback TSA):
/// every match's evidence file holds the browser's records and a token that `openssl ts
/// -verify` accepts, and the summary shows both per match. With the TSA down the demo
/// keeps its evidence, says each timestamp is pending, and `timestamp-pending` finishes
/// the job once the TSA is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_timestamps_its_evidence_and_shows_the_screenshots() {
    use std::sync::atomic::Ordering;
    let test = "the_demo_timestamps_its_evidence_and_shows_the_screenshots";
    if skip_without_chromium(test) || !crate::tsa::openssl_available(test) {
        return;
    }
    let tsa = crate::tsa::Tsa::start(crate::tsa::TsaKind::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let demo = |name: &str, browser: bool| {
        let demo = dir.path().join(name);
        let mut args: Vec<String> = ["demo", "--dir", demo.to_str().unwrap()]
            .map(String::from)
            .to_vec();
        if browser {
            args.extend(["--browser".into(), CHROMIUM.into()]);
        }
        args.extend([
            "--tsa-url".into(),
            tsa.url.clone(),
            "--tsa-ca".into(),
            tsa.ca().display().to_string(),
        ]);
        async move {
            tokio::task::spawn_blocking(move || {
                let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                crate::util::copyhound(&refs)
            })
            .await
            .unwrap()
        }
    };
    let tsa_name = "O=Copyhound Tests,CN=Copyhound Test TSA";

    let out = demo("up", true).await;
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(
        text.contains(&format!("RFC 3161 timestamps by {}", tsa.url)),
        "{text}"
    );
    let evidence_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with("evidence 2"))
        .collect();
    assert_eq!(evidence_lines.len(), 3, "one per match:\n{text}");
    for line in &evidence_lines {
        assert!(
            line.contains(": browser records urn:view, urn:fullPage, urn:pdf; ")
                && line.contains(&format!("timestamped by {tsa_name} at 20")),
            "{line}"
        );
    }
    let files = files_with_extension(&dir.path().join("up/state/evidence"), "gz");
    assert_eq!(files.len(), 3, "{files:?}");
    let config = dir.path().join("up/copyhound.toml");
    for file in &files {
        let name = file.file_name().unwrap().to_str().unwrap();
        assert!(text.contains(&format!("evidence {name}: ")), "{text}");
        let tsr = copyhound::evidence::stamping::tsr_path(file);
        let ossl = crate::tsa::openssl_verify(&[file], &["-data"], &tsr, &tsa.ca());
        assert!(crate::tsa::accepted(&ossl), "{}", stderr(&ossl));
        let out = crate::util::copyhound(&[
            "verify-evidence",
            "--config",
            config.to_str().unwrap(),
            file.to_str().unwrap(),
        ]);
        assert!(
            stdout(&out).contains(&format!("timestamp ok: {tsa_name}")),
            "{}",
            stdout(&out)
        );
    }

    // The TSA down: the evidence is kept and queued, each timestamp shown pending.
    tsa.up.store(false, Ordering::SeqCst);
    let out = demo("down", false).await;
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    let pending = text
        .lines()
        .filter(|l| l.trim_start().starts_with("evidence 2") && l.contains(": timestamp pending ("))
        .count();
    assert_eq!(pending, 3, "{text}");
    let files = files_with_extension(&dir.path().join("down/state/evidence"), "gz");
    assert_eq!(files.len(), 3, "{files:?}");
    assert!(files
        .iter()
        .all(|f| !copyhound::evidence::stamping::tsr_path(f).exists()));
    tsa.up.store(true, Ordering::SeqCst);
    let config = dir.path().join("down/copyhound.toml");
    let out = copyhound_blocking(&config, &["timestamp-pending", "--now"]).await;
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("3 timestamped, 0 failed, 0 pending, 3 done"),
        "{}",
        stdout(&out)
    );

    // The TSA's trust anchors go with its URL.
    let out = crate::util::copyhound(&["demo", "--tsa-url", &tsa.url]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--tsa-ca"), "{}", stderr(&out));
}
