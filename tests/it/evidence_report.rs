//! The evidence for counsel, from a real match: a copy of the bundled Chinese sample
//! served on loopback (behind a redirect, with markup in its title) is found by `scan`,
//! then `evidence-report` renders it in both languages and `export-evidence --wacz`
//! packages it. The package is checked by independent tools: `wacz validate` (PyPI's
//! `wacz`) and warcio reading every record at the offsets our index gives
//! (`tests/support/read_wacz.py`). Without them the package checks skip with a message;
//! with `COPYHOUND_REQUIRE_TOOLS=1` (CI) they fail instead.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use copyhound::evidence::warc;

use crate::util::{copyhound_cmd, json, stderr, stdout, OUTLET_CONFIG};
use crate::warc::tool;

/// Markup in the copy's title and heading: the report must show it as text.
const HOSTILE: &str = "<script>alert('copier')</script>";

struct Env {
    _dir: tempfile::TempDir,
    root: PathBuf,
    config: PathBuf,
}

impl Env {
    /// A config (Chromium for PDFs when there is one), the bundled Chinese original
    /// ingested.
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let config = root.join("copyhound.toml");
        let report = if Path::new("/usr/bin/chromium").exists() {
            "\n[report]\nchromium = \"/usr/bin/chromium\"\n"
        } else {
            ""
        };
        std::fs::write(
            &config,
            format!(
                "{OUTLET_CONFIG}
[originals]
paths = [\"archive\"]

[crawl]
allow_private_networks = true
per_host_delay = \"0s\"
timeout = \"10s\"
{report}"
            ),
        )
        .unwrap();
        crate::util::archive_zh_original(&root);
        let env = Env {
            _dir: dir,
            root,
            config,
        };
        let out = env.run(&["ingest"]);
        assert!(out.status.success(), "{}", stderr(&out));
        env
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut all = args.to_vec();
        all.extend(["--config", self.config.to_str().unwrap()]);
        copyhound_cmd(&all)
            .output()
            .expect("the copyhound binary runs")
    }

    async fn run_async(&self, args: &[&str]) -> Output {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend(["--config".to_string(), self.config.display().to_string()]);
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = all.iter().map(String::as_str).collect();
            copyhound_cmd(&refs)
                .output()
                .expect("the copyhound binary runs")
        })
        .await
        .unwrap()
    }
}

/// A copying site: the sample copy with markup in its title and heading at
/// `/news/copy.html`, reached through a redirect from `/go`.
async fn copy_site() -> std::net::SocketAddr {
    let copy = std::fs::read_to_string(crate::util::sample("copy-zh-mirror.html")).unwrap();
    let escaped = "&lt;script&gt;alert('copier')&lt;/script&gt;";
    let copy = copy
        .replacen("<title>", &format!("<title>{escaped}"), 1)
        .replacen(
            "<h1 class=\"title\">",
            &format!("<h1 class=\"title\">{escaped}"),
            1,
        );
    let router = axum::Router::new()
        .route(
            "/news/copy.html",
            axum::routing::get(move || {
                let copy = copy.clone();
                async move { ([("content-type", "text/html; charset=utf-8")], copy) }
            }),
        )
        .route(
            "/go",
            axum::routing::get(|| async { axum::response::Redirect::permanent("/news/copy.html") }),
        );
    crate::util::fixture::serve(router).await
}

/// Every `src="..."` and `href="..."` value of a page.
fn attribute_urls(html: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for attr in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            let end = rest.find('"').unwrap_or(rest.len());
            urls.push(rest[..end].to_string());
            rest = &rest[end..];
        }
    }
    urls
}

pub fn python_module(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `wacz validate -f FILE`, by PyPI's `wacz` package.
pub fn wacz_validate(path: &Path) -> Output {
    Command::new("python3")
        .args(["-m", "wacz", "validate", "-f"])
        .arg(path)
        .output()
        .expect("python3 runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_match_gives_a_report_for_counsel_and_a_valid_wacz() {
    const TEST: &str = "a_real_match_gives_a_report_for_counsel_and_a_valid_wacz";
    let env = Env::new();
    let site = copy_site().await;
    let start = format!("http://{site}/go");
    let copy_url = format!("http://{site}/news/copy.html");
    let out = env.run_async(&["scan", &start]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("\tcopy\t"), "{}", stdout(&out));
    let list = json(&env.run(&["matches", "list", "--json"]));
    let id = list[0]["id"].as_i64().unwrap();
    let show = json(&env.run(&["matches", "show", &id.to_string(), "--json"]));
    assert!(
        show["copy_title"].as_str().unwrap().contains(HOSTILE),
        "{show}"
    );
    let evidence_name = show["evidence_file"].as_str().unwrap().to_string();
    let evidence_sha = show["evidence_sha256"].as_str().unwrap().to_string();
    let evidence_path = env.root.join("state/evidence").join(&evidence_name);
    let bytes = std::fs::read(&evidence_path).unwrap();
    let (records, problems) = warc::check_all(&bytes[..]);
    assert!(problems.is_empty(), "{problems:?}");
    let original_url = show["original_url"].as_str().unwrap().to_string();
    let passage = show["passages"][0]["text"].as_str().unwrap().to_string();

    // Chinese, to standard output (the outlet's language is zh-CN).
    let out = env.run(&["evidence-report", &id.to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let zh = stdout(&out);
    assert!(zh.starts_with("<!DOCTYPE html>\n<html lang=\"zh-CN\">"));
    // English, to a file.
    let en_path = env.root.join("report-en.html");
    let out = env.run(&[
        "evidence-report",
        &id.to_string(),
        "--lang",
        "en",
        "--out",
        en_path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    let en = std::fs::read_to_string(&en_path).unwrap();
    assert!(en.contains("<html lang=\"en\">"));

    for (html, labels) in [
        (
            &zh,
            ["原创作品", "重定向经过", "可信时间戳", "独立核验方法"],
        ),
        (
            &en,
            [
                "Original article",
                "Reached through redirects",
                "Trusted timestamps",
                "How to verify independently",
            ],
        ),
    ] {
        for label in labels {
            assert!(html.contains(label), "{label} missing");
        }
        // The original, the copy with the redirect it was reached through, the IP.
        assert!(html.contains(&original_url));
        assert!(html.contains(&copy_url));
        assert!(
            html.contains(&format!("http://{site}/go (308)")),
            "redirect hop"
        );
        assert!(html.contains("127.0.0.1"));
        // The capture's provenance: how it was made, down to the binary that made it.
        assert!(html.contains("software.binary_sha256"), "provenance rows");
        assert!(html.contains("network.connected_ip"), "provenance rows");
        // The passages side by side (text from the page, escaped as the alert does).
        let first_line = passage.lines().next().unwrap();
        assert!(html.contains(first_line), "passage missing: {first_line}");
        // The file's digest, checked against the store's, and every record's digests.
        assert!(html.contains(&evidence_sha));
        assert!(html.contains(&evidence_name));
        for r in &records {
            let block = r.record.header("WARC-Block-Digest").unwrap();
            assert!(html.contains(block), "digest of record {} missing", r.index);
        }
        assert!(html.contains(&format!("sha256sum {evidence_name}")));
        assert!(html.contains(&format!("warcio check -v {evidence_name}")));
        // Crawled markup is text, never markup: the only script-like text is escaped.
        assert!(!html.contains(HOSTILE), "unescaped crawled markup");
        assert!(!html.to_ascii_lowercase().contains("<script"));
        assert!(html.contains("&lt;script&gt;alert(") || html.contains("&#60;script&#62;alert("));
        // Self-contained: no stylesheet, script or image from elsewhere; the only
        // links are the cited pages.
        assert!(!html.contains("<link"));
        assert!(!html.contains("url("));
        for url in attribute_urls(html) {
            assert!(
                url.starts_with("data:") || url == original_url || url == copy_url,
                "external reference {url}"
            );
        }
    }
    // No token beside the file: the report says there is no timestamp.
    assert!(en.contains("This evidence file has no trusted timestamp."));
    assert!(zh.contains("与取证时记录一致"));
    // With a token beside the file, it is shown, and the openssl command is given.
    std::fs::write(
        env.root
            .join("state/evidence")
            .join(format!("{evidence_name}.tsr")),
        b"token",
    )
    .unwrap();
    let out = env.run(&["evidence-report", &id.to_string(), "--lang", "en"]);
    let en = stdout(&out);
    assert!(en.contains("token present (not verified: no [evidence] tsa_ca_file trust anchors)"));
    assert!(en.contains(&format!(
        "openssl ts -verify -data {evidence_name} -in {evidence_name}.tsr -CAfile TSA-CA.pem"
    )));
    // A file changed since capture is named as such.
    let mut changed = bytes.clone();
    changed.extend_from_slice(
        &warc::Record::new(
            "resource",
            &warc::new_record_id(),
            chrono::Utc::now(),
            b"x".to_vec(),
        )
        .to_gzip_member(),
    );
    std::fs::write(&evidence_path, &changed).unwrap();
    let en = stdout(&env.run(&["evidence-report", &id.to_string(), "--lang", "en"]));
    assert!(en.contains("differs from the digest recorded at capture"));
    std::fs::write(&evidence_path, &bytes).unwrap();
    // An unknown match is an error naming it.
    let out = env.run(&["evidence-report", "999"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no match with id 999"));

    // The PDF, with the configured Chromium.
    if Path::new("/usr/bin/chromium").exists() {
        let pdf = env.root.join("report.pdf");
        let out = env.run(&[
            "evidence-report",
            &id.to_string(),
            "--out",
            "/dev/null",
            "--pdf",
            pdf.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF-"));
    } else {
        assert!(
            !crate::util::tools_required(),
            "{TEST}: chromium is missing and this run requires it"
        );
        eprintln!("{TEST}: no /usr/bin/chromium, the PDF is not checked");
    }

    // The WACZ package.
    let wacz = env.root.join("evidence.wacz");
    let out = env.run(&[
        "export-evidence",
        &id.to_string(),
        "--wacz",
        wacz.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("1 WARC files, 1 index lines, 1 pages"),
        "{}",
        stdout(&out)
    );
    let out = env.run(&["export-evidence", "999", "--wacz", "/dev/null/x.wacz"]);
    assert!(
        stderr(&out).contains("no match with id 999"),
        "{}",
        stderr(&out)
    );

    if !tool(python_module("wacz"), "python3 module wacz", TEST)
        || !tool(python_module("warcio"), "python3 module warcio", TEST)
    {
        return;
    }
    let out = wacz_validate(&wacz);
    assert!(
        out.status.success() && stdout(&out).contains("Validation succeeded"),
        "wacz validate:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let read = Command::new("python3")
        .arg(crate::util::root().join("tests/support/read_wacz.py"))
        .arg("read")
        .arg(&wacz)
        .output()
        .unwrap();
    assert!(read.status.success(), "{}", stderr(&read));
    let package: serde_json::Value = serde_json::from_slice(&read.stdout).unwrap();
    let archived = format!("archive/{evidence_name}");
    // The WARC is stored (method 0) so a reader can seek into it.
    assert_eq!(package["entries"][&archived], 0, "{}", package["entries"]);
    assert_eq!(
        package["warcs"][&archived],
        // The match's metadata record, then the capture's provenance.
        serde_json::json!(["warcinfo", "request", "response", "metadata", "metadata"])
    );
    // The index's offset and length give warcio exactly the response record.
    let index = package["index"].as_array().unwrap();
    assert_eq!(index.len(), 1);
    let line = &index[0];
    assert_eq!(line["rec_type"], "response");
    assert_eq!(line["records_in_range"], 1);
    assert_eq!(line["target"], copy_url.as_str());
    assert_eq!(line["entry"]["url"], copy_url.as_str());
    assert_eq!(line["entry"]["status"], "200");
    assert_eq!(line["entry"]["mime"], "text/html");
    assert_eq!(line["entry"]["filename"], evidence_name.as_str());
    assert_eq!(line["key"], format!("{site})/news/copy.html"));
    let pages = package["pages"].as_array().unwrap();
    assert_eq!(pages[0]["format"], "json-pages-1.0");
    assert_eq!(pages[1]["url"], copy_url.as_str());
    assert_eq!(pages[1]["title"], show["copy_title"]);
    assert_eq!(package["datapackage"]["wacz_version"], "1.1.1");
    assert_eq!(package["datapackage"]["profile"], "data-package");
    assert!(package["digest"]["hash"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    // No TSA configured: no token over the package; the file's token (written
    // beside it above) travels with it, stored and listed with its hash.
    assert!(package["digest"].get("timestampToken").is_none());
    let token = format!("timestamps/{evidence_name}.tsr");
    assert_eq!(package["entries"][&token], 0, "{}", package["entries"]);
    let listed = package["datapackage"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == token.as_str())
        .expect("the token is listed");
    assert_eq!(
        listed["hash"],
        "sha256:3c469e9d6c5875d37a43f353d4f88e61fcf812c66eee3457465a40b0da4153e0"
    );

    // The validator is not a rubber stamp: one changed byte in the WARC fails it.
    let tampered = env.root.join("tampered.wacz");
    let out = Command::new("python3")
        .arg(crate::util::root().join("tests/support/read_wacz.py"))
        .arg("tamper")
        .arg(&wacz)
        .arg(&tampered)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = wacz_validate(&tampered);
    assert!(
        !stdout(&out).contains("Validation succeeded"),
        "{}",
        stdout(&out)
    );
}
