//! Reading an evidence file back for presentation: what the evidence report for counsel
//! and the WACZ package say of it.
//!
//! [`inspect`] is pure (bytes in, values out) and never fails: a damaged record is a
//! problem in the result, as in `verify-evidence`. It finds the records' digests and
//! places, the screenshots other parts of copyhound store as `resource` records
//! (`urn:view:URL`, a viewport PNG; `urn:fullPage:URL`, the full page; `urn:pdf:URL`,
//! the browser's print), the `warcinfo` fields and the capture's provenance `metadata`
//! record when there is one. [`timestamp_summary`] looks beside the file for its RFC 3161
//! token (`FILE.tsr`); it is the one place that says what a token proves, so the
//! verification plugs in there.
//!
//! Everything found here came from a file that holds crawled bytes: values are bounded
//! and left for the renderer to escape.

use sha2::{Digest, Sha256};

use super::warc::{self, Record};
use super::MatchFacts;

/// A screenshot larger than this is listed with its digest but not embedded in a
/// report (a full-page capture of an endless page could otherwise make a report
/// no mail system accepts).
pub const MAX_EMBEDDED_IMAGE_BYTES: usize = 12 * 1024 * 1024;

/// Rows kept of a provenance record; a record with more is cut and says so.
pub const MAX_PROVENANCE_ROWS: usize = 300;

/// Characters kept of one provenance value (a certificate in PEM is kept whole below
/// this; anything longer is cut with an ellipsis).
const MAX_PROVENANCE_VALUE_CHARS: usize = 4000;

/// How deep a provenance record's JSON is walked.
const MAX_PROVENANCE_DEPTH: usize = 8;

/// The `WARC-Target-URI` prefixes of screenshot records.
pub const VIEW_PREFIX: &str = "urn:view:";
pub const FULL_PAGE_PREFIX: &str = "urn:fullPage:";
pub const PDF_PREFIX: &str = "urn:pdf:";

/// One record of an evidence file with its digests and place.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RecordDigest {
    /// Position in the file, from 1.
    pub index: usize,
    /// Byte offset of the record's gzip member in the file.
    pub offset: u64,
    /// Length of the gzip member in the file (what a CDXJ index gives with the offset).
    pub length: u64,
    pub warc_type: String,
    pub record_id: String,
    pub target: Option<String>,
    pub date: Option<String>,
    pub content_type: Option<String>,
    /// The block's length, uncompressed.
    pub block_bytes: usize,
    /// `WARC-Block-Digest` as recorded (`sha256:` base32).
    pub block_digest: Option<String>,
    /// `WARC-Payload-Digest` as recorded, for `response` records.
    pub payload_digest: Option<String>,
    /// Lower-case hex SHA-256 of the block, recomputed (what `sha256sum` gives of the
    /// block extracted with warcio).
    pub block_sha256: String,
    /// Whether every digest the record carries matched its bytes.
    pub verified: bool,
    /// A `response` record's HTTP status and `Content-Type`.
    pub http_status: Option<u16>,
    pub http_type: Option<String>,
}

/// Which screenshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScreenshotKind {
    Viewport,
    FullPage,
    Pdf,
}

/// A rendering of the page stored as a `resource` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Screenshot {
    pub kind: ScreenshotKind,
    /// The page it shows (the target URI without its `urn:...:` prefix).
    pub url: String,
    /// `image/png`, `image/jpeg` or `application/pdf`: only these are kept.
    pub mime: &'static str,
    pub record_id: String,
    pub date: Option<String>,
    pub bytes: Vec<u8>,
}

/// What an evidence file holds, as shown to counsel.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Inspection {
    /// Lower-case hex SHA-256 of the whole file.
    pub sha256: String,
    pub bytes: u64,
    pub records: Vec<RecordDigest>,
    /// Damage and digest mismatches, naming their record.
    pub problems: Vec<String>,
    /// The `warcinfo` record's fields (`software`, `hostname`, ...), in order.
    pub warcinfo: Vec<(String, String)>,
    pub screenshots: Vec<Screenshot>,
    /// The capture's provenance record flattened into `key path = value` rows (DNS,
    /// connected IP, TLS chain, software, ...), when the file has one.
    pub provenance: Vec<(String, String)>,
    /// Whether [`Inspection::provenance`] was cut at [`MAX_PROVENANCE_ROWS`].
    pub provenance_cut: bool,
    /// The match as the file's own metadata record states it.
    pub facts: Option<MatchFacts>,
}

impl Inspection {
    /// The first screenshot of `kind`.
    pub fn screenshot(&self, kind: ScreenshotKind) -> Option<&Screenshot> {
        self.screenshots.iter().find(|s| s.kind == kind)
    }
}

/// Reads an evidence file's bytes. Never fails: what cannot be read is a problem.
pub fn inspect(bytes: &[u8]) -> Inspection {
    let (checked, problems) = warc::check_all(bytes);
    let mut out = Inspection {
        sha256: hex::encode(Sha256::digest(bytes)),
        bytes: bytes.len() as u64,
        problems: problems
            .iter()
            .map(ToString::to_string)
            .chain(super::missing_links(&checked))
            .collect(),
        ..Inspection::default()
    };
    if checked.is_empty() && problems.is_empty() {
        out.problems.push("no WARC record in the file".into());
    }
    let bad: std::collections::HashSet<usize> = problems.iter().map(|p| p.index).collect();
    for (i, c) in checked.iter().enumerate() {
        // A member ends where the next begins; the last one at the end of the file.
        let end = checked.get(i + 1).map_or(bytes.len() as u64, |n| n.offset);
        let r = &c.record;
        let header = |name: &str| r.header(name).map(str::to_string);
        let warc_type = header("WARC-Type").unwrap_or_default();
        let (http_status, http_type) = if warc_type == "response" {
            http_status_and_type(&r.block)
        } else {
            (None, None)
        };
        out.records.push(RecordDigest {
            index: c.index,
            offset: c.offset,
            length: end.saturating_sub(c.offset),
            warc_type: warc_type.clone(),
            record_id: header("WARC-Record-ID").unwrap_or_default(),
            target: header("WARC-Target-URI"),
            date: header("WARC-Date"),
            content_type: header("Content-Type"),
            block_bytes: r.block.len(),
            block_digest: header("WARC-Block-Digest"),
            payload_digest: header("WARC-Payload-Digest"),
            block_sha256: hex::encode(Sha256::digest(&r.block)),
            verified: !bad.contains(&c.index) && !c.verified.is_empty(),
            http_status,
            http_type,
        });
        match warc_type.as_str() {
            "warcinfo" if out.warcinfo.is_empty() => out.warcinfo = warc_fields(&r.block),
            "resource" => {
                if let Some(s) = screenshot(r) {
                    out.screenshots.push(s);
                }
            }
            "metadata" => read_metadata(r, &mut out),
            _ => {}
        }
    }
    out
}

/// The status code and `Content-Type` of an HTTP response block's head.
fn http_status_and_type(block: &[u8]) -> (Option<u16>, Option<String>) {
    let Some(head) = warc::http_payload(block).map(|p| &block[..block.len() - p.len()]) else {
        return (None, None);
    };
    let head = String::from_utf8_lossy(head);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok());
    let content_type = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| cut(v.trim()));
    (status, content_type)
}

/// A `resource` record holding a rendering of the page, when it is one.
fn screenshot(r: &Record) -> Option<Screenshot> {
    let target = r.header("WARC-Target-URI")?;
    let (kind, url) = [
        (ScreenshotKind::Viewport, VIEW_PREFIX),
        (ScreenshotKind::FullPage, FULL_PAGE_PREFIX),
        (ScreenshotKind::Pdf, PDF_PREFIX),
    ]
    .into_iter()
    .find_map(|(kind, prefix)| target.strip_prefix(prefix).map(|url| (kind, url)))?;
    // The declared type is not trusted: the bytes must say what they are, so a
    // report never embeds anything but an image under an image type.
    let mime = sniff(&r.block)?;
    if (kind == ScreenshotKind::Pdf) != (mime == "application/pdf") {
        return None;
    }
    Some(Screenshot {
        kind,
        url: url.to_string(),
        mime,
        record_id: r.header("WARC-Record-ID").unwrap_or_default().to_string(),
        date: r.header("WARC-Date").map(str::to_string),
        bytes: r.block.clone(),
    })
}

/// The type of a screenshot's bytes by their signature.
fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else {
        None
    }
}

/// A `metadata` record is either the match (our [`MatchFacts`]) or the capture's
/// provenance (JSON or `application/warc-fields`); the first of each is kept.
fn read_metadata(r: &Record, out: &mut Inspection) {
    if out.facts.is_none() {
        if let Ok(facts) = serde_json::from_slice::<MatchFacts>(&r.block) {
            out.facts = Some(facts);
            return;
        }
    }
    if !out.provenance.is_empty() {
        return;
    }
    let mut rows = Vec::new();
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&r.block) {
        flatten("", &value, 0, &mut rows);
    } else {
        rows = warc_fields(&r.block);
    }
    out.provenance_cut = rows.len() > MAX_PROVENANCE_ROWS;
    rows.truncate(MAX_PROVENANCE_ROWS);
    out.provenance = rows;
}

/// JSON as `a.b[0].c = value` rows, bounded in depth and count.
fn flatten(path: &str, value: &serde_json::Value, depth: usize, rows: &mut Vec<(String, String)>) {
    use serde_json::Value;
    if rows.len() > MAX_PROVENANCE_ROWS {
        return;
    }
    let scalar = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match value {
        Value::Object(map) if depth < MAX_PROVENANCE_DEPTH => {
            for (k, v) in map {
                let key = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                flatten(&key, v, depth + 1, rows);
            }
        }
        Value::Array(items) if depth < MAX_PROVENANCE_DEPTH => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{path}[{i}]"), v, depth + 1, rows);
            }
        }
        Value::Object(_) | Value::Array(_) => {
            rows.push((path.to_string(), cut(&value.to_string())))
        }
        v => rows.push((path.to_string(), cut(&scalar(v)))),
    }
}

fn cut(text: &str) -> String {
    if text.chars().count() <= MAX_PROVENANCE_VALUE_CHARS {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(MAX_PROVENANCE_VALUE_CHARS).collect();
        s.push('…');
        s
    }
}

/// `name: value` lines of an `application/warc-fields` block (the `warcinfo` record's).
fn warc_fields(block: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(block)
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (cut(k.trim()), cut(v.trim())))
        .filter(|(k, _)| !k.is_empty())
        .take(MAX_PROVENANCE_ROWS)
        .collect()
}

/// What the report says of an evidence file's RFC 3161 timestamp token. Every field is
/// optional: a token that cannot be read or verified still shows that it exists.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TimestampSummary {
    /// The token's file (`FILE.tsr`), its name only.
    pub token_file: String,
    /// Lower-case hex SHA-256 of the token's bytes.
    pub token_sha256: String,
    /// The time-stamp authority that signed it (its certificate's subject).
    pub authority: Option<String>,
    /// `genTime`, RFC 3339 UTC.
    pub time: Option<String>,
    /// The token's serial number.
    pub serial: Option<String>,
    /// The delay between the capture and the timestamp, in words.
    pub delay: Option<String>,
    /// Whether the signature, chain and message imprint were checked and hold
    /// (`false`: shown as present, not vouched for).
    pub verified: bool,
    /// What the check found, in English (`verified: ...`, `NOT VALID: <why>`, or that
    /// the token is present but not verified and why).
    pub status: String,
}

/// Tokens larger than this are not read (a real one is a few kilobytes with its chain).
pub const MAX_TOKEN_BYTES: u64 = 1024 * 1024;

/// The timestamp of the evidence file `name` in `place`, for the report: `None` when
/// no token lies beside it (`FILE.tsr`).
///
/// With `anchors` (`[evidence] tsa_ca_file`) the token is verified offline
/// (`timestamp::verify`: signature, chain at its time, message imprint against the
/// file's SHA-256) and `authority`, `time`, `serial` and `delay` (the TSA's time minus
/// the file's writing, from its name) are filled; a token that fails says why in
/// `status`. Without anchors it is reported as present and not verified, with its
/// digest.
pub fn timestamp_summary(
    place: &super::place::Place,
    name: &str,
    anchors: Option<&super::timestamp::TrustAnchors>,
) -> Option<TimestampSummary> {
    let token_file = super::stamping::tsr_name(name);
    let read = place.read(&token_file, MAX_TOKEN_BYTES);
    if matches!(read, Ok(None)) {
        return None;
    }
    let mut summary = TimestampSummary {
        token_file,
        token_sha256: String::new(),
        authority: None,
        time: None,
        serial: None,
        delay: None,
        verified: false,
        status: String::new(),
    };
    let bytes = match read {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return None,
        Err(super::place::PlaceError::TooLarge { .. }) => {
            summary.status =
                format!("token present but larger than {MAX_TOKEN_BYTES} bytes: not read");
            return Some(summary);
        }
        Err(e) => {
            summary.status = format!("token present but unreadable: {e}");
            return Some(summary);
        }
    };
    summary.token_sha256 = hex::encode(Sha256::digest(&bytes));
    let Some(anchors) = anchors else {
        summary.status =
            "token present (not verified: no [evidence] tsa_ca_file trust anchors)".into();
        return Some(summary);
    };
    let digest: [u8; 32] = match place.read(name, super::MAX_EVIDENCE_BYTES) {
        Ok(Some(file)) => Sha256::digest(&file).into(),
        Ok(None) => {
            summary.status = "token not verified: the evidence file is missing".into();
            return Some(summary);
        }
        Err(e) => {
            summary.status = format!("token not verified: the evidence file is unreadable: {e}");
            return Some(summary);
        }
    };
    match super::timestamp::verify(&bytes, &digest, anchors) {
        Ok(info) => {
            summary.authority = Some(info.tsa_name.clone());
            summary.time = Some(super::utc(info.gen_time));
            summary.serial = Some(info.serial.clone());
            summary.delay = super::stamping::written_at_from_name(name).map(|written| {
                let secs = (info.gen_time - written).num_seconds().max(0);
                humantime::format_duration(std::time::Duration::from_secs(secs as u64)).to_string()
            });
            summary.verified = true;
            summary.status = format!(
                "verified: signature, certificate chain at the token's time to {}, message imprint",
                anchors.source
            );
        }
        Err(e) => summary.status = format!("NOT VALID: {e}"),
    }
    Some(summary)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::evidence::tests::{capture, facts};
    use crate::evidence::{bundle_records, WarcInfo};
    use chrono::Utc;

    /// A 1×1 PNG.
    pub const PNG: &[u8] = &[
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F,
        0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8,
        0xCF, 0xC0, 0xF0, 0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D, 0x1D, 0x00, 0x00,
        0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
    ];

    /// A bundle as the capture stage will write it: the four records, a viewport PNG, a
    /// resource claiming to be a PNG that is not, and a provenance record.
    pub fn bundle_with_screenshot() -> Vec<u8> {
        let info = WarcInfo::current(b"[outlet]", "ua (+https://x.example)");
        let mut records = without_provenance(
            bundle_records(&info, &capture(), &facts(), "f.warc.gz", Utc::now()).unwrap(),
        );
        let url = "http://copier.example/a";
        records.push(
            Record::new("resource", &warc::new_record_id(), Utc::now(), PNG.to_vec())
                .with("WARC-Target-URI", &format!("{VIEW_PREFIX}{url}"))
                .with("Content-Type", "image/png"),
        );
        records.push(
            Record::new(
                "resource",
                &warc::new_record_id(),
                Utc::now(),
                b"<script>alert(1)</script>".to_vec(),
            )
            .with("WARC-Target-URI", &format!("{FULL_PAGE_PREFIX}{url}"))
            .with("Content-Type", "image/png"),
        );
        let provenance = serde_json::json!({
            "connected_ip": "203.0.113.7",
            "tls": {"chain": [{"subject": "CN=copier.example <b>", "sha256": "ab"}]},
            "dns": {"answers": ["203.0.113.7"], "ttl": 300}
        });
        records.push(
            Record::new(
                "metadata",
                &warc::new_record_id(),
                Utc::now(),
                serde_json::to_vec(&provenance).unwrap(),
            )
            .with(
                "WARC-Target-URI",
                &format!("{}{url}", crate::evidence::provenance::URN_PREFIX),
            )
            .with("Content-Type", "application/json"),
        );
        records.iter().flat_map(Record::to_gzip_member).collect()
    }

    /// `records` without the capture's own provenance record, so a test can put in one
    /// whose content it chooses.
    pub fn without_provenance(records: Vec<Record>) -> Vec<Record> {
        records
            .into_iter()
            .filter(|r| {
                !r.header("WARC-Target-URI")
                    .is_some_and(|t| t.starts_with(crate::evidence::provenance::URN_PREFIX))
            })
            .collect()
    }

    #[test]
    fn finds_records_screenshots_and_provenance() {
        let bytes = bundle_with_screenshot();
        let i = inspect(&bytes);
        assert!(i.problems.is_empty(), "{:?}", i.problems);
        assert_eq!(i.records.len(), 7);
        assert!(i.records.iter().all(|r| r.verified));
        // The members tile the file: offsets and lengths add up to its size.
        let total: u64 = i.records.iter().map(|r| r.length).sum();
        assert_eq!(total, bytes.len() as u64);
        assert_eq!(i.records[1].offset, i.records[0].length);
        // The bytes decide: the fake PNG is not a screenshot.
        assert_eq!(i.screenshots.len(), 1);
        let s = i.screenshot(ScreenshotKind::Viewport).unwrap();
        assert_eq!(
            (s.mime, s.url.as_str()),
            ("image/png", "http://copier.example/a")
        );
        assert!(i.screenshot(ScreenshotKind::FullPage).is_none());
        assert_eq!(i.facts.as_ref().unwrap().match_id, Some(7));
        assert!(i.provenance.contains(&(
            "tls.chain[0].subject".into(),
            "CN=copier.example <b>".into()
        )));
        assert!(i.provenance.contains(&("dns.ttl".into(), "300".into())));
        assert!(i.warcinfo.iter().any(|(k, _)| k == "software"));
    }

    #[test]
    fn damage_is_a_problem_not_a_failure() {
        let mut bytes = bundle_with_screenshot();
        let n = bytes.len();
        bytes.truncate(n - 10);
        let i = inspect(&bytes);
        assert!(!i.problems.is_empty());
        assert!(!i.records.is_empty());
        assert!(inspect(b"not a warc").records.is_empty());
        assert!(!inspect(b"").problems.is_empty());
        // A removed record is named by the link that points at it.
        let members: Vec<Vec<u8>> = {
            let info = WarcInfo::current(b"", "ua");
            bundle_records(&info, &capture(), &facts(), "f.warc.gz", Utc::now())
                .unwrap()
                .iter()
                .map(Record::to_gzip_member)
                .collect()
        };
        let without_request: Vec<u8> = [&members[0], &members[2], &members[3]]
            .into_iter()
            .flatten()
            .copied()
            .collect();
        let i = inspect(&without_request);
        assert!(
            i.problems
                .iter()
                .any(|p| p.contains("WARC-Concurrent-To") && p.contains("is not in the file")),
            "{:?}",
            i.problems
        );
    }

    #[test]
    fn token_beside_the_file_is_found_but_not_vouched_for() {
        let dir = tempfile::tempdir().unwrap();
        let place = crate::evidence::place::Place::Dir(dir.path().to_path_buf());
        std::fs::write(dir.path().join("e.warc.gz"), b"x").unwrap();
        assert_eq!(timestamp_summary(&place, "e.warc.gz", None), None);
        std::fs::write(dir.path().join("e.warc.gz.tsr"), b"token").unwrap();
        let t = timestamp_summary(&place, "e.warc.gz", None).unwrap();
        assert_eq!(t.token_file, "e.warc.gz.tsr");
        assert!(!t.verified);
        assert_eq!(
            t.status,
            "token present (not verified: no [evidence] tsa_ca_file trust anchors)"
        );
        assert_eq!(t.token_sha256, hex::encode(Sha256::digest(b"token")));
        // With anchors, a token that is not one is named, not vouched for.
        let anchors = crate::evidence::timestamp::TrustAnchors::from_pem(
            include_bytes!("testdata/tsa-ca.pem"),
            "tsa-ca.pem",
        )
        .unwrap();
        let t = timestamp_summary(&place, "e.warc.gz", Some(&anchors)).unwrap();
        assert!(!t.verified);
        assert!(
            t.status.starts_with("NOT VALID: malformed timestamp"),
            "{}",
            t.status
        );
        // A real token over the file's bytes verifies and fills the row.
        let named = "20261205T063000.000Z-m1-x.warc.gz";
        std::fs::write(
            dir.path().join(named),
            include_bytes!("testdata/token-data.txt"),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("20261205T063000.000Z-m1-x.warc.gz.tsr"),
            include_bytes!("testdata/token.tsr"),
        )
        .unwrap();
        let t = timestamp_summary(&place, named, Some(&anchors)).unwrap();
        assert!(t.verified, "{}", t.status);
        assert_eq!(
            t.authority.as_deref(),
            Some("O=Copyhound Tests,CN=Copyhound Test TSA")
        );
        assert_eq!(t.time.as_deref(), Some("2026-12-05T06:30:43Z"));
        assert_eq!(t.serial.as_deref(), Some("03"));
        assert_eq!(t.delay.as_deref(), Some("43s"));
    }
}
