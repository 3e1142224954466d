//! Evidence bundles: a real capture from a fixture site on loopback, written as WARC,
//! read back by an independent reader (`warcio check`, Python) and by our own
//! `copyhound verify-evidence`, which must name the record that was altered.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use chrono::Utc;
use copyhound::config::CrawlSettings;
use copyhound::crawl::fetch::{Capture, FetchOutcome, PageFetcher};
use copyhound::crawl::guard::Guard;
use copyhound::evidence::{self, warc, CopyFacts, MatchFacts, OriginalFacts, WarcInfo};
use flate2::write::GzEncoder;
use std::io::Write;

use crate::util::{copyhound, fixture::serve, python_has, stderr, stdout};

const PAGE: &str =
    "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>转载：江城大桥通车</title></head>\
<body><article><p>江城大桥今天正式通车，全长三千二百米。</p></article></body></html>";

/// Fetches a page from an axum fixture on loopback with the real crawler fetcher.
async fn real_capture() -> Capture {
    let router = axum::Router::new().route(
        "/news/1.html",
        axum::routing::get(|| async {
            (
                [
                    ("content-type", "text/html; charset=utf-8"),
                    ("x-served-by", "fixture"),
                ],
                PAGE,
            )
        }),
    );
    let addr = serve(router).await;
    let settings = CrawlSettings {
        user_agent: "copyhound/0.1 (+https://www.jiangcheng-daily.example/copyright)".into(),
        timeout: Duration::from_secs(10),
        ..CrawlSettings::default()
    };
    let fetcher =
        PageFetcher::with_guard(&settings, Guard::new(false).with_exemption(addr)).unwrap();
    let url = format!("http://{addr}/news/1.html").parse().unwrap();
    match fetcher.fetch(&url, None).await.unwrap() {
        FetchOutcome::Fetched(c) => *c,
        other => panic!("expected a page, got {other:?}"),
    }
}

fn facts(capture: &Capture) -> MatchFacts {
    MatchFacts {
        match_id: Some(1),
        original: OriginalFacts {
            id: 1,
            url: "https://www.jiangcheng-daily.example/news/1.html".into(),
            title: "江城大桥通车".into(),
            published: Some("2026-02-28T08:00:00Z".into()),
            first_seen: "2026-02-28T08:05:00Z".into(),
            text_sha256: "ab".repeat(32),
        },
        copy: CopyFacts {
            url: capture.final_url.to_string(),
            host: capture.final_url.host_str().unwrap().into(),
            ip: capture.remote_addr.map(|a| a.ip().to_string()),
            captured_at: evidence::utc(capture.finished_at),
            title: "转载：江城大桥通车".into(),
            redirects: copyhound::evidence::RedirectFacts::of(capture),
            archive: None,
        },
        verdict: "copy".into(),
        containment: 1.0,
        coverage: Some(0.9),
        copied_chars: Some(120),
        licensed: false,
        passages: vec![],
        passages_omitted: 0,
        escalation: None,
        case: None,
        licence: None,
    }
}

pub(crate) async fn bundle(dir: &Path) -> (evidence::EvidenceFile, Capture) {
    let capture = real_capture().await;
    let info = WarcInfo::current(
        b"[outlet]\nname = \"x\"\n",
        "copyhound/0.1 (+https://www.jiangcheng-daily.example/copyright)",
    );
    let place = evidence::place::Place::Dir(dir.join(evidence::EVIDENCE_DIR));
    let file =
        evidence::write_bundle(&place, &info, &capture, &facts(&capture), Utc::now()).unwrap();
    (file, capture)
}

/// `warcio check -v FILE`, run by the real Python reader.
fn warcio_check(path: &Path) -> std::process::Output {
    Command::new("python3")
        .args([
            "-c",
            "import sys; from warcio.cli import main; main(sys.argv[1:])",
            "check",
            "-v",
        ])
        .arg(path)
        .output()
        .expect("python3 runs")
}

#[tokio::test(flavor = "multi_thread")]
async fn bundle_passes_warcio_check_and_our_verifier() {
    let dir = tempfile::tempdir().unwrap();
    let (file, capture) = bundle(dir.path()).await;
    assert!(file
        .path
        .as_ref()
        .unwrap()
        .starts_with(dir.path().join("evidence")));
    assert!(file.file_name.ends_with(".warc.gz"));

    // Our reader: five records, every digest verified, the exchange byte for byte.
    let bytes = std::fs::read(file.path.as_ref().unwrap()).unwrap();
    let (records, problems) = warc::check_all(&bytes[..]);
    assert!(problems.is_empty(), "{problems:?}");
    let types: Vec<_> = records
        .iter()
        .map(|r| r.record.header("WARC-Type").unwrap())
        .collect();
    assert_eq!(
        types,
        ["warcinfo", "request", "response", "metadata", "metadata"]
    );
    // The second metadata record says how the capture was made.
    let provenance = &records[4].record;
    assert_eq!(
        provenance.header("WARC-Target-URI"),
        Some(format!("urn:provenance:{}", capture.final_url).as_str())
    );
    assert_eq!(
        provenance.header("WARC-Concurrent-To"),
        records[2].record.header("WARC-Record-ID")
    );
    let provenance: copyhound::evidence::provenance::Provenance =
        serde_json::from_slice(&provenance.block).unwrap();
    assert_eq!(
        provenance.network.connected_ip.as_deref(),
        Some("127.0.0.1")
    );
    assert!(
        provenance.network.dns.is_none(),
        "an IP literal is not resolved"
    );
    assert!(provenance.software.binary_sha256.is_some());
    let response = &records[2].record;
    assert_eq!(
        warc::http_payload(&response.block),
        Some(&capture.raw_body[..])
    );
    assert!(response.block.starts_with(&capture.response_head));
    assert_eq!(response.header("WARC-IP-Address"), Some("127.0.0.1"));
    assert_eq!(
        records[2].verified,
        ["WARC-Block-Digest", "WARC-Payload-Digest"]
    );
    let info = String::from_utf8(records[0].record.block.clone()).unwrap();
    assert!(info.contains("software: copyhound/"), "{info}");
    assert!(info.contains(
        "http-header-user-agent: copyhound/0.1 (+https://www.jiangcheng-daily.example/copyright)"
    ));
    assert!(info.contains("config-sha256: "));
    let meta: MatchFacts = serde_json::from_slice(&records[3].record.block).unwrap();
    assert_eq!(meta.copy.ip.as_deref(), Some("127.0.0.1"));

    let out = copyhound(&[
        "verify-evidence",
        file.path.as_ref().unwrap().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains(&file.sha256));
    assert!(stdout(&out).contains("ok: every digest matches"));

    // The independent reader.
    if !python_has(
        "warcio",
        "bundle_passes_warcio_check_and_our_verifier (warcio part)",
    ) {
        return;
    }
    let out = warcio_check(file.path.as_ref().unwrap());
    assert!(
        out.status.success(),
        "warcio check failed:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let report = stdout(&out);
    assert!(report.contains("digest pass"), "{report}");
    assert!(!report.contains("digest fail"), "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_altered_record_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = bundle(dir.path()).await;
    let bytes = std::fs::read(file.path.as_ref().unwrap()).unwrap();
    let (records, _) = warc::check_all(&bytes[..]);
    let response = &records[2];
    let start = response.offset as usize;
    let end = records[3].offset as usize;

    // 1. Someone edits the page text in the response and recompresses the record
    //    properly: the gzip is sound, the digest is not.
    let mut edited = response.record.clone();
    let at = edited.block.len() - 20;
    edited.block[at] ^= 0x01;
    let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&edited.to_bytes()).unwrap();
    let mut tampered = bytes[..start].to_vec();
    tampered.extend(encoder.finish().unwrap());
    tampered.extend(&bytes[end..]);
    let path = dir.path().join("edited.warc.gz");
    std::fs::write(&path, &tampered).unwrap();
    let out = copyhound(&["verify-evidence", path.to_str().unwrap()]);
    assert!(!out.status.success(), "an edited record must fail");
    let report = stdout(&out);
    let id = response.record.header("WARC-Record-ID").unwrap();
    assert!(
        report.contains(&format!(
            "ALTERED: record 3 at byte {start} (response {id}): WARC-Block-Digest mismatch"
        )),
        "{report}"
    );
    assert!(report.contains("WARC-Payload-Digest mismatch"), "{report}");

    // 2. One byte flipped in the compressed response record: the record is named by
    //    its position and offset.
    let mut flipped = bytes.clone();
    flipped[start + (end - start) / 2] ^= 0xff;
    let path = dir.path().join("flipped.warc.gz");
    std::fs::write(&path, &flipped).unwrap();
    let out = copyhound(&["verify-evidence", path.to_str().unwrap()]);
    assert!(!out.status.success(), "a flipped byte must fail");
    let report = stdout(&out);
    assert!(
        report.contains(&format!("ALTERED: record 3 at byte {start}")),
        "{report}"
    );
    assert!(report.contains("FAILED"), "{report}");

    // The JSON form lists the same problem.
    let out = copyhound(&["verify-evidence", "--json", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["problems"][0].as_str().unwrap().starts_with("record 3"));

    // The independent reader agrees the edited file is bad.
    if python_has("warcio", "an_altered_record_is_named (warcio part)") {
        let out = warcio_check(&dir.path().join("edited.warc.gz"));
        assert!(!out.status.success(), "warcio accepted an edited record");
    }
}

#[test]
fn evidence_files_are_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let capture = rt.block_on(real_capture());
    let info = WarcInfo::current(b"", "copyhound/0.1 (+https://x.example)");
    let now = Utc::now();
    let f = facts(&capture);
    let place = evidence::place::Place::Dir(dir.path().join(evidence::EVIDENCE_DIR));
    let a = evidence::write_bundle(&place, &info, &capture, &f, now).unwrap();
    let before = std::fs::read(a.path.as_ref().unwrap()).unwrap();
    let b = evidence::write_bundle(&place, &info, &capture, &f, now).unwrap();
    assert_ne!(a.file_name, b.file_name);
    assert_eq!(std::fs::read(a.path.as_ref().unwrap()).unwrap(), before);
}
