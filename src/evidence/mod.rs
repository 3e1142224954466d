//! Evidence: one WARC/1.1 file per match, proving what a copying page served and when.
//!
//! A bundle holds these records, each its own gzip member: `warcinfo` (who captured it,
//! with which configuration), `request` and `response` exactly as sent and received
//! (head bytes and raw body bytes from [`Capture`]), `metadata` with the match as JSON
//! ([`MatchFacts`]), a second `metadata` with how the capture was made
//! ([`provenance`], `WARC-Target-URI: urn:provenance:<url>`), and, when the page was
//! rendered in a browser ([`browser`]), up to three `resource` records: the viewport
//! screenshot (`urn:view:<url>`, `image/png`), the full page (`urn:fullPage:<url>`,
//! `image/png`) and the PDF print (`urn:pdf:<url>`, `application/pdf`), each
//! `WARC-Concurrent-To` the response. Every record carries a SHA-256 block digest, the response a
//! payload digest too, and the records of one capture point at each other with
//! `WARC-Concurrent-To`. The SHA-256 of the whole file is returned so it can be stored
//! with the match: a later change to the file is then detectable even if someone
//! recomputed the per-record digests.
//!
//! Files go where `[storage]` says ([`place::Place`]: a folder, by default
//! `[storage] dir`/evidence, possibly shared by several machines, or an S3-compatible
//! bucket) and are created only where the name is free: an evidence file is never
//! overwritten, a name collision picks the next free name.
//!
//! This module writes and reads files; it never sends anything and never decides what
//! is a match (that is `detect` and the pipeline).

pub mod browser;
pub mod inspect;
pub mod place;
pub mod provenance;
pub mod report;
pub mod stamping;
pub mod timestamp;
pub mod wacz;
pub mod warc;

use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::crawl::fetch::Capture;
use browser::{RenderKind, Rendering};
use place::{Place, PlaceError};
use warc::{new_record_id, sha256_label, Record, RecordProblem};

/// Subfolder of `[storage] dir` holding the evidence files unless `[storage]
/// evidence_dir` or `evidence_url` says otherwise.
pub const EVIDENCE_DIR: &str = "evidence";

/// Passages kept in a [`MatchFacts`] (and so in the metadata record and the reports); a
/// page that copies everything is proven by its first passages and the containment.
pub const MAX_PASSAGES: usize = 50;

/// Characters kept of one passage's text on each side.
pub const MAX_PASSAGE_CHARS: usize = 4000;

/// An evidence file larger than this is not read by [`verify_file`].
pub const MAX_EVIDENCE_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// The original article of a match, as the archive knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OriginalFacts {
    pub id: i64,
    pub url: String,
    pub title: String,
    /// Publication time as stored (RFC 3339), when known.
    pub published: Option<String>,
    /// When copyhound first had the article (RFC 3339, UTC): our proof of priority.
    pub first_seen: String,
    /// Lower-case hex SHA-256 of the original's text.
    pub text_sha256: String,
}

impl From<crate::store::OriginalRecord> for OriginalFacts {
    fn from(original: crate::store::OriginalRecord) -> OriginalFacts {
        OriginalFacts {
            id: original.id,
            url: original.url,
            title: original.title,
            published: original.published,
            first_seen: original.first_seen,
            text_sha256: original.text_sha256,
        }
    }
}

/// The copying page, as captured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CopyFacts {
    /// The final URL (after redirects).
    pub url: String,
    pub host: String,
    /// The address the page was served from, when known.
    pub ip: Option<String>,
    /// When the last body byte arrived (RFC 3339, UTC).
    pub captured_at: String,
    pub title: String,
    /// The redirects followed from the URL first requested to `url`, in order (empty
    /// when the page answered directly): a copy reached through a link on another site
    /// or a short link is shown with the way it was reached.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirects: Vec<RedirectFacts>,
    /// Set when the copy was found in a third party's web archive (`scan-warc`): where
    /// the archived record is, and whether a live capture has replaced it as primary
    /// evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<ArchiveFacts>,
}

/// Where an archived copy came from, and which capture is primary evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveFacts {
    /// The WARC file's path or URL.
    pub source: String,
    /// Byte offset of the record (of its gzip member) in the file.
    pub offset: u64,
    /// The record's length in the file, when it has a gzip member of its own: with the
    /// offset, a range anyone can fetch again.
    pub length: Option<u64>,
    pub record_id: Option<String>,
    /// When copyhound captured the live page itself; that capture is then the primary
    /// evidence and the archived one secondary. `None`: the archived capture is all there
    /// is (a live capture is queued).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_captured_at: Option<String>,
    /// The archived capture's evidence file, once the live one is primary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive_evidence_file: Option<String>,
}

impl From<crate::store::MatchArchive> for ArchiveFacts {
    fn from(a: crate::store::MatchArchive) -> ArchiveFacts {
        ArchiveFacts {
            source: a.archive.source,
            offset: a.archive.offset,
            length: a.archive.length,
            record_id: a.archive.record_id,
            live_captured_at: a.live_captured_at,
            archive_evidence_file: a.archive_evidence_file,
        }
    }
}

/// A record of a third party's web archive, exactly as it was in its file: what an
/// evidence file keeps of a copy found by `scan-warc`.
#[derive(Debug, Clone, Copy)]
pub struct ArchivedRecord<'a> {
    /// The WARC file's path or URL.
    pub source: &'a str,
    pub offset: u64,
    pub length: Option<u64>,
    pub record_id: Option<&'a str>,
    /// The record's header block, version line to blank line, as written.
    pub head: &'a [u8],
    /// Its block, exactly `Content-Length` bytes.
    pub block: &'a [u8],
}

impl ArchivedRecord<'_> {
    /// The record as it was in the file (uncompressed): header block, block, CRLF CRLF.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.head.len() + self.block.len() + 4);
        out.extend_from_slice(self.head);
        out.extend_from_slice(self.block);
        out.extend_from_slice(b"\r\n\r\n");
        out
    }
}

/// One redirect hop on the way to the copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedirectFacts {
    /// The URL requested in this hop.
    pub url: String,
    /// Its redirect status (301, 302, 303, 307, 308).
    pub status: u16,
    /// The `Location` header as received.
    pub location: String,
    /// The address that answered, when known.
    pub ip: Option<String>,
    /// When the answer arrived (RFC 3339, UTC).
    pub at: String,
}

impl RedirectFacts {
    /// The hops of a capture.
    pub fn of(capture: &Capture) -> Vec<RedirectFacts> {
        capture
            .redirects
            .iter()
            .map(RedirectFacts::from_hop)
            .collect()
    }

    /// One hop as the fetcher recorded it.
    pub fn from_hop(h: &crate::crawl::fetch::RedirectHop) -> RedirectFacts {
        RedirectFacts {
            url: h.url.to_string(),
            status: h.status,
            location: h.location.clone(),
            ip: h.remote_addr.map(|a| a.ip().to_string()),
            at: utc(h.at),
        }
    }
}

/// One aligned passage: where it is on both sides and what it says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PassageFacts {
    pub original_start: usize,
    pub original_end: usize,
    pub copy_start: usize,
    pub copy_end: usize,
    /// The original's text of the passage (cut at [`MAX_PASSAGE_CHARS`]).
    pub original_text: String,
    /// The copy's text of the passage, exactly as on the page (cut likewise).
    pub copy_text: String,
}

/// Everything a report, an alert and the metadata record say about one match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchFacts {
    /// The match's id in the database (for the review screen), once recorded.
    pub match_id: Option<i64>,
    pub original: OriginalFacts,
    pub copy: CopyFacts,
    /// `copy` or `partial`.
    pub verdict: String,
    /// Share of the original found in the copy, 0..=1.
    pub containment: f64,
    /// Share of the copy's text that is copied, 0..=1 (`detect::Comparison::coverage`).
    /// Absent from alerts queued, and matches recorded, before it was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<f64>,
    /// Length of the copied passages in characters of the original
    /// (`detect::Comparison::copied_chars`); absent likewise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copied_chars: Option<u64>,
    /// True when the copy is on a licensed partner's site (`[crawl] licensed`).
    pub licensed: bool,
    /// Aligned passages in original order, at most [`MAX_PASSAGES`].
    pub passages: Vec<PassageFacts>,
    /// Passages left out by the [`MAX_PASSAGES`] bound.
    pub passages_omitted: usize,
    /// Set on the alert a reviewer's `infringing` decision sends to counsel: who
    /// decided, when, and their note. Absent on the alerts of a new match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<Escalation>,
    /// Set on the alerts a case sends counsel (a deadline reminder, a copy back online
    /// after its removal): the case and the re-check behind the alert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<CaseAlert>,
    /// Set when the copy is on a site a licence covers: the check against it. A
    /// noncompliant copy's alert asks licensing staff to have the partner fix it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence: Option<LicenceFacts>,
}

/// A copy's check against the licence that covers its site, as its alert states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenceFacts {
    pub partner: String,
    /// `config:PARTNER` or `desk:ID`.
    pub licence: String,
    /// `compliant`, `noncompliant`, `expired` or `not-yet-valid`.
    pub verdict: String,
    /// What is missing: `attribution`, `link`, `title`, `excerpt`.
    pub missing: Vec<String>,
}

/// What a case's alert says besides the match: which case, why, the notice and the
/// re-check that prompted it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseAlert {
    pub case_id: i64,
    /// `reminder` (still online past the notice's deadline) or `reappeared`.
    pub kind: String,
    /// The notice's date, channel and recipient, when one was sent.
    pub notice_at: Option<String>,
    pub channel: Option<String>,
    pub recipient: Option<String>,
    /// When the notice's deadline ended.
    pub deadline_at: Option<String>,
    /// The re-check: when, its result, the HTTP status, the share found and its own
    /// evidence file.
    pub checked_at: String,
    pub result: String,
    pub http_status: Option<u16>,
    pub containment: Option<f64>,
    pub evidence_file: Option<String>,
}

/// A reviewer's decision that a match infringes, carried by the escalation alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    pub decided_by: String,
    /// RFC 3339, UTC.
    pub decided_at: String,
    /// The reviewer's note (may be empty).
    pub note: String,
}

impl MatchFacts {
    /// Builds the passages from a comparison, bounded, with the original's side cut from
    /// `original_text` by character offsets.
    pub fn passages_from(
        original_text: &str,
        passages: &[crate::detect::Passage],
    ) -> (Vec<PassageFacts>, usize) {
        let chars: Vec<char> = original_text.chars().collect();
        let kept = passages
            .iter()
            .take(MAX_PASSAGES)
            .map(|p| {
                let start = p.original_start.min(chars.len());
                let end = p.original_end.clamp(start, chars.len());
                PassageFacts {
                    original_start: p.original_start,
                    original_end: p.original_end,
                    copy_start: p.candidate_start,
                    copy_end: p.candidate_end,
                    original_text: cut(&chars[start..end].iter().collect::<String>()),
                    copy_text: cut(&p.text),
                }
            })
            .collect();
        (kept, passages.len().saturating_sub(MAX_PASSAGES))
    }
}

fn cut(text: &str) -> String {
    if text.chars().count() <= MAX_PASSAGE_CHARS {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(MAX_PASSAGE_CHARS).collect();
        s.push('…');
        s
    }
}

/// Who made the capture: the `warcinfo` record's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarcInfo {
    /// `copyhound/<version>`.
    pub software: String,
    pub hostname: String,
    /// SHA-256 of the config file in force, so the capture's settings can be shown.
    pub config_sha256: String,
    pub user_agent: String,
}

impl WarcInfo {
    /// This program on this machine with the given config text and crawler user agent.
    pub fn current(config_bytes: &[u8], user_agent: &str) -> WarcInfo {
        WarcInfo {
            software: format!("copyhound/{}", env!("CARGO_PKG_VERSION")),
            hostname: hostname(),
            config_sha256: hex::encode(Sha256::digest(config_bytes)),
            user_agent: user_agent.to_string(),
        }
    }
}

impl WarcInfo {
    /// This program on this machine, with the loaded config's digest and the crawler's
    /// user agent: what the pipeline records in every bundle.
    pub fn for_settings(settings: &crate::config::Settings) -> WarcInfo {
        WarcInfo {
            software: format!("copyhound/{}", env!("CARGO_PKG_VERSION")),
            hostname: hostname(),
            config_sha256: settings.config_sha256.clone(),
            user_agent: settings.crawl.user_agent.clone(),
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// A written evidence file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvidenceFile {
    /// Where it is, for messages: its path, or `s3://bucket/prefix/name`.
    pub location: String,
    /// Its path when evidence lives in a folder.
    pub path: Option<PathBuf>,
    /// The file name inside the evidence folder (what the database stores).
    pub file_name: String,
    /// Lower-case hex SHA-256 of the file's bytes.
    pub sha256: String,
    pub bytes: u64,
}

/// Why evidence could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error("{path}: cannot create evidence folder: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: cannot write evidence file: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: cannot read evidence file: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: larger than {MAX_EVIDENCE_BYTES} bytes")]
    TooLarge { path: PathBuf },
    #[error("cannot serialise the match: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Place(#[from] PlaceError),
}

/// The records of one capture, in file order.
///
/// # Errors
/// [`EvidenceError::Json`] when the facts cannot be serialised (not expected: they are
/// plain data).
pub fn bundle_records(
    info: &WarcInfo,
    capture: &Capture,
    facts: &MatchFacts,
    file_name: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Record>, EvidenceError> {
    bundle_records_with(info, capture, facts, file_name, now, None)
}

/// [`bundle_records`] with the browser's artefacts of the page, when it was rendered:
/// `warcinfo`, `request`, `response`, `metadata` (the match), `metadata` (provenance),
/// then a `resource` per artefact taken.
///
/// # Errors
/// As [`bundle_records`].
pub fn bundle_records_with(
    info: &WarcInfo,
    capture: &Capture,
    facts: &MatchFacts,
    file_name: &str,
    now: DateTime<Utc>,
    rendering: Option<&Rendering>,
) -> Result<Vec<Record>, EvidenceError> {
    let info_id = new_record_id();
    let request_id = new_record_id();
    let response_id = new_record_id();
    let metadata_id = new_record_id();
    let target = capture.final_url.as_str();
    let ip = capture.remote_addr.map(|a| a.ip().to_string());

    let warcinfo_block = format!(
        "software: {}\r\nhostname: {}\r\nformat: WARC File Format 1.1\r\n\
         conformsTo: http://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/\r\n\
         http-header-user-agent: {}\r\nconfig-sha256: {}\r\n",
        one_line(&info.software),
        one_line(&info.hostname),
        one_line(&info.user_agent),
        info.config_sha256
    );
    let warcinfo = Record::new("warcinfo", &info_id, now, warcinfo_block.into_bytes())
        .with("WARC-Filename", file_name)
        .with("Content-Type", "application/warc-fields");

    // The recorded heads end with the CRLF of their last header; the blank line that
    // ends an HTTP head is added here so the block is the message as on the wire.
    let mut request_block = capture.request_head.clone();
    request_block.extend_from_slice(b"\r\n");
    let mut request = Record::new("request", &request_id, capture.started_at, request_block)
        .with("WARC-Target-URI", target)
        .with("WARC-Warcinfo-ID", &info_id)
        .with("WARC-Concurrent-To", &response_id)
        .with("Content-Type", "application/http;msgtype=request");
    if let Some(ip) = &ip {
        request = request.with("WARC-IP-Address", ip);
    }

    let mut response_block = capture.response_head.clone();
    response_block.extend_from_slice(b"\r\n");
    response_block.extend_from_slice(&capture.raw_body);
    let mut response = Record::new(
        "response",
        &response_id,
        capture.finished_at,
        response_block,
    )
    .with("WARC-Target-URI", target)
    .with("WARC-Warcinfo-ID", &info_id)
    .with("WARC-Concurrent-To", &request_id)
    .with("WARC-Payload-Digest", &sha256_label(&capture.raw_body))
    .with("Content-Type", "application/http;msgtype=response");
    if let Some(ip) = &ip {
        response = response.with("WARC-IP-Address", ip);
    }

    let metadata_block = serde_json::to_vec_pretty(facts)?;
    let metadata = Record::new("metadata", &metadata_id, now, metadata_block)
        .with("WARC-Target-URI", target)
        .with("WARC-Warcinfo-ID", &info_id)
        .with("WARC-Refers-To", &response_id)
        .with("WARC-Concurrent-To", &response_id)
        .with("Content-Type", "application/json");
    let provenance = provenance::of_capture(info, capture, rendering);
    let provenance = Record::new(
        "metadata",
        &new_record_id(),
        now,
        serde_json::to_vec_pretty(&provenance)?,
    )
    .with(
        "WARC-Target-URI",
        &format!("{}{target}", provenance::URN_PREFIX),
    )
    .with("WARC-Warcinfo-ID", &info_id)
    .with("WARC-Refers-To", &response_id)
    .with("WARC-Concurrent-To", &response_id)
    .with("Content-Type", "application/json");
    let mut records = vec![warcinfo, request, response, metadata, provenance];
    if let Some(r) = rendering {
        for kind in RenderKind::ALL {
            let Some(bytes) = r.artefact(kind) else {
                continue;
            };
            records.push(
                Record::new("resource", &new_record_id(), r.finished_at, bytes.to_vec())
                    .with("WARC-Target-URI", &format!("{}{target}", kind.urn_prefix()))
                    .with("WARC-Warcinfo-ID", &info_id)
                    .with("WARC-Concurrent-To", &response_id)
                    .with("Content-Type", kind.content_type()),
            );
        }
    }
    Ok(records)
}

/// The records of a copy found in a web archive, in file order: `warcinfo`, a
/// `resource` holding the archived record byte for byte (its own WARC headers included,
/// `Content-Type: application/warc`) with where it came from (`Copyhound-Archive-Source`,
/// `-Offset`, `-Length`, `-Record-ID`), and the `metadata` of the match. No request or
/// response is made up: the third party's record is the capture.
///
/// # Errors
/// As [`bundle_records`].
pub fn archived_bundle_records(
    info: &WarcInfo,
    capture: &Capture,
    facts: &MatchFacts,
    file_name: &str,
    now: DateTime<Utc>,
    archived: &ArchivedRecord<'_>,
) -> Result<Vec<Record>, EvidenceError> {
    let mut records = bundle_records(info, capture, facts, file_name, now)?;
    // Keep warcinfo (0) and the match's metadata (3); the request, the response and
    // our provenance are replaced by the third party's record, which is the capture.
    let metadata = (records.len() > 3).then(|| records.remove(3));
    records.truncate(1);
    let info_id = records
        .first()
        .and_then(|r| r.header("WARC-Record-ID"))
        .unwrap_or_default()
        .to_string();
    let resource_id = new_record_id();
    let target = capture.final_url.as_str();
    let mut resource = Record::new(
        "resource",
        &resource_id,
        capture.finished_at,
        archived.bytes(),
    )
    .with("WARC-Target-URI", target)
    .with("WARC-Warcinfo-ID", &info_id)
    .with("Content-Type", "application/warc")
    .with("Copyhound-Archive-Source", archived.source)
    .with("Copyhound-Archive-Offset", &archived.offset.to_string());
    if let Some(length) = archived.length {
        resource = resource.with("Copyhound-Archive-Length", &length.to_string());
    }
    if let Some(id) = archived.record_id {
        resource = resource.with("Copyhound-Archive-Record-ID", id);
    }
    records.push(resource);
    if let Some(mut metadata) = metadata {
        for (name, value) in &mut metadata.headers {
            if name == "WARC-Refers-To" || name == "WARC-Concurrent-To" {
                *value = resource_id.clone();
            }
        }
        records.push(metadata);
    }
    Ok(records)
}

fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Writes the evidence bundle of one match to `place` and returns its name and SHA-256.
/// The file is created only where its name is free ([`Place::create`]) and is durable
/// before this returns; an existing file is never touched (the next free name is used
/// instead).
///
/// # Errors
/// [`EvidenceError`] naming the path when the folder or file cannot be written.
pub fn write_bundle(
    place: &Place,
    info: &WarcInfo,
    capture: &Capture,
    facts: &MatchFacts,
    now: DateTime<Utc>,
) -> Result<EvidenceFile, EvidenceError> {
    write_bundle_from(place, info, capture, facts, now, None)
}

/// [`write_bundle`] for a capture that is either copyhound's own (`archived` is `None`)
/// or a third party's archived record (see [`archived_bundle_records`]).
///
/// # Errors
/// As [`write_bundle`].
pub fn write_bundle_from(
    place: &Place,
    info: &WarcInfo,
    capture: &Capture,
    facts: &MatchFacts,
    now: DateTime<Utc>,
    archived: Option<&ArchivedRecord<'_>>,
) -> Result<EvidenceFile, EvidenceError> {
    write_bundle_with(place, info, capture, facts, now, archived, None)
}

/// [`write_bundle_from`] with the browser's artefacts of a first-party capture (see
/// [`bundle_records_with`]); they are ignored for an archived record.
///
/// # Errors
/// As [`write_bundle`].
pub fn write_bundle_with(
    place: &Place,
    info: &WarcInfo,
    capture: &Capture,
    facts: &MatchFacts,
    now: DateTime<Utc>,
    archived: Option<&ArchivedRecord<'_>>,
    rendering: Option<&Rendering>,
) -> Result<EvidenceFile, EvidenceError> {
    let stem = file_stem(capture, facts, now);
    // Another process, on this machine or another sharing the place, may take a name
    // between our choice and our write: creation is atomic and refuses a taken name,
    // and the next one is tried. The records name their file, so they are built anew
    // for each name.
    for attempt in 0..1000u32 {
        let file_name = if attempt == 0 {
            format!("{stem}.warc.gz")
        } else {
            format!("{stem}-{attempt}.warc.gz")
        };
        if attempt > 0 && place.size(&file_name)?.is_some() {
            continue;
        }
        let records = match archived {
            Some(a) => archived_bundle_records(info, capture, facts, &file_name, now, a)?,
            None => bundle_records_with(info, capture, facts, &file_name, now, rendering)?,
        };
        let bytes: Vec<u8> = records.iter().flat_map(Record::to_gzip_member).collect();
        match place.create(&file_name, &bytes) {
            Ok(()) => {}
            Err(PlaceError::Exists(_)) => continue,
            Err(e) => return Err(e.into()),
        }
        return Ok(EvidenceFile {
            sha256: hex::encode(Sha256::digest(&bytes)),
            bytes: bytes.len() as u64,
            location: place.location(&file_name),
            path: place.local_path(&file_name),
            file_name,
        });
    }
    Err(PlaceError::Io {
        what: place.location(&format!("{stem}.warc.gz")),
        message: "no free file name after 1000 tries".into(),
    }
    .into())
}

/// `20261126T082438Z-m42-copier.example`: capture time, match, host; ASCII only so the
/// name survives any file system and mail client.
fn file_stem(capture: &Capture, facts: &MatchFacts, now: DateTime<Utc>) -> String {
    let host: String = capture
        .final_url
        .host_str()
        .unwrap_or("unknown")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    let id = facts
        .match_id
        .map_or_else(|| format!("o{}", facts.original.id), |m| format!("m{m}"));
    format!("{}-{id}-{host}", now.format("%Y%m%dT%H%M%S%.3fZ"))
}

/// What [`verify_file`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// Lower-case hex SHA-256 of the whole file.
    pub sha256: String,
    /// One line per record read: index, type, id, digests verified.
    pub records: Vec<String>,
    /// Every problem, naming its record; empty when the file is intact.
    pub problems: Vec<String>,
    /// The trusted timestamp's check, filled by `verify-evidence`
    /// ([`stamping::check_timestamp`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<stamping::TimestampCheck>,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Re-checks every digest of an evidence file and names the record of each problem.
///
/// # Errors
/// [`EvidenceError`] when the file cannot be read at all; damage is reported in the
/// returned [`Verification`], not as an error.
pub fn verify_file(path: &Path) -> Result<Verification, EvidenceError> {
    Ok(verify_bytes(&read_bounded(path)?))
}

/// [`verify_file`] of a file's bytes, read from wherever it lives.
pub fn verify_bytes(bytes: &[u8]) -> Verification {
    let (records, problems) = warc::check_all(bytes);
    let mut problems: Vec<String> = problems.iter().map(RecordProblem::to_string).collect();
    if records.is_empty() && problems.is_empty() {
        problems.push("no WARC record in the file".into());
    }
    problems.extend(missing_links(&records));
    // A browser artefact must be what its record says it is: a PNG or a PDF.
    for r in &records {
        if r.record.header("WARC-Type") != Some("resource") {
            continue;
        }
        let target = r.record.header("WARC-Target-URI").unwrap_or_default();
        if let Some(kind) = RenderKind::ALL
            .into_iter()
            .find(|k| target.starts_with(k.urn_prefix()))
        {
            if r.record.header("Content-Type") != Some(kind.content_type()) {
                problems.push(format!(
                    "record {} (resource {}): Content-Type is not {}",
                    r.index,
                    kind.name(),
                    kind.content_type()
                ));
            } else if !kind.looks_valid(&r.record.block) {
                problems.push(format!(
                    "record {} (resource {}): the block is not a valid {}",
                    r.index,
                    kind.name(),
                    kind.content_type()
                ));
            }
        }
    }
    Verification {
        sha256: hex::encode(Sha256::digest(bytes)),
        records: records
            .iter()
            .map(|r| {
                format!(
                    "record {} at byte {}: {} {} ({} bytes) {}",
                    r.index,
                    r.offset,
                    r.record.header("WARC-Type").unwrap_or("?"),
                    r.record.header("WARC-Record-ID").unwrap_or("?"),
                    r.record.block.len(),
                    if r.verified.is_empty() {
                        "no digest verified".to_string()
                    } else {
                        format!("{} ok", r.verified.join(", "))
                    }
                )
            })
            .collect(),
        problems,
        timestamp: None,
    }
}

/// The links (`WARC-Concurrent-To`, `WARC-Refers-To`, `WARC-Warcinfo-ID`) to records
/// that are not in the file: each means a record was removed.
pub fn missing_links(records: &[warc::CheckedRecord]) -> Vec<String> {
    let ids: std::collections::HashSet<&str> = records
        .iter()
        .filter_map(|r| r.record.header("WARC-Record-ID"))
        .collect();
    let mut problems = Vec::new();
    for r in records {
        for field in ["WARC-Concurrent-To", "WARC-Refers-To", "WARC-Warcinfo-ID"] {
            if let Some(target) = r.record.header(field) {
                if !ids.contains(target) {
                    problems.push(format!(
                        "record {} ({}): {field} {target} is not in the file",
                        r.index,
                        r.record.header("WARC-Type").unwrap_or("?")
                    ));
                }
            }
        }
    }
    problems
}

/// The bytes of the evidence file at `path`, refused over [`MAX_EVIDENCE_BYTES`].
fn read_bounded(path: &Path) -> Result<Vec<u8>, EvidenceError> {
    let read_err = |source| EvidenceError::Read {
        path: path.to_path_buf(),
        source,
    };
    let len = std::fs::metadata(path).map_err(read_err)?.len();
    if len > MAX_EVIDENCE_BYTES {
        return Err(EvidenceError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    let bytes = std::fs::read(path).map_err(read_err)?;
    Ok(bytes)
}

/// Reads the evidence file at `path` and returns its records whose block digest
/// verifies (a damaged record is left out, never returned).
fn verified_records(path: &Path) -> Result<Vec<Record>, EvidenceError> {
    Ok(verified_records_in(&read_bounded(path)?))
}

/// The records of an evidence file's bytes whose block digest verifies.
fn verified_records_in(bytes: &[u8]) -> Vec<Record> {
    let (records, _) = warc::check_all(bytes);
    records
        .into_iter()
        .filter(|r| r.verified.contains(&"WARC-Block-Digest"))
        .map(|r| r.record)
        .collect()
}

/// The browser's artefact of `kind` (viewport or full-page PNG, PDF) in the evidence
/// file at `path`, if the file holds one whose digest verifies and whose bytes are of
/// its format. For the desk, the alerts and reports.
///
/// # Errors
/// [`EvidenceError`] when the file cannot be read.
pub fn read_artefact(path: &Path, kind: RenderKind) -> Result<Option<Vec<u8>>, EvidenceError> {
    Ok(read_artefacts(path)?
        .into_iter()
        .find_map(|(k, bytes)| (k == kind).then_some(bytes)))
}

/// Every browser artefact in the evidence file at `path` (in file order), read in one
/// pass: each whose digest verifies and whose bytes are of its format.
///
/// # Errors
/// [`EvidenceError`] when the file cannot be read.
pub fn read_artefacts(path: &Path) -> Result<Vec<(RenderKind, Vec<u8>)>, EvidenceError> {
    Ok(artefacts_in(&read_bounded(path)?))
}

/// [`read_artefacts`] of a file's bytes, read from wherever it lives.
pub fn artefacts_in(bytes: &[u8]) -> Vec<(RenderKind, Vec<u8>)> {
    verified_records_in(bytes)
        .into_iter()
        .filter(|r| r.header("WARC-Type") == Some("resource"))
        .filter_map(|r| {
            let target = r.header("WARC-Target-URI")?;
            let kind = RenderKind::ALL
                .into_iter()
                .find(|k| target.starts_with(k.urn_prefix()))?;
            kind.looks_valid(&r.block).then_some((kind, r.block))
        })
        .collect()
}

/// The capture provenance recorded in the evidence file at `path`, if it has one whose
/// digest verifies.
///
/// # Errors
/// [`EvidenceError`] when the file cannot be read.
pub fn read_provenance(path: &Path) -> Result<Option<provenance::Provenance>, EvidenceError> {
    Ok(verified_records(path)?.into_iter().find_map(|r| {
        let target = r.header("WARC-Target-URI")?;
        (r.header("WARC-Type") == Some("metadata") && target.starts_with(provenance::URN_PREFIX))
            .then(|| serde_json::from_slice(&r.block).ok())
            .flatten()
    }))
}

/// RFC 3339 UTC with seconds, the form stored in the database.
pub fn utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn capture() -> Capture {
        let t = DateTime::parse_from_rfc3339("2026-03-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let body = "<html><title>x</title><p>正文</p></html>"
            .as_bytes()
            .to_vec();
        Capture {
            requested_url: "http://copier.example/a".parse().unwrap(),
            final_url: "http://copier.example/a".parse().unwrap(),
            redirects: vec![],
            remote_addr: Some("203.0.113.7:80".parse().unwrap()),
            request_head: b"GET /a HTTP/1.1\r\nhost: copier.example\r\nuser-agent: copyhound/0.1 (+https://x.example)\r\n".to_vec(),
            status: 200,
            response_head: b"HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\n".to_vec(),
            content_type: Some("text/html; charset=utf-8".into()),
            content_encoding: None,
            body_sha256: hex::encode(Sha256::digest(&body)),
            raw_body: body,
            decoded_body: None,
            truncated: false,
            validators: Default::default(),
            started_at: t,
            finished_at: t,
            network: Default::default(),
        }
    }

    pub fn facts() -> MatchFacts {
        MatchFacts {
            match_id: Some(7),
            original: OriginalFacts {
                id: 3,
                url: "https://www.jiangcheng-daily.example/a/1".into(),
                title: "江城新闻".into(),
                published: Some("2026-02-28T08:00:00Z".into()),
                first_seen: "2026-02-28T09:00:00Z".into(),
                text_sha256: "ab".repeat(32),
            },
            copy: CopyFacts {
                url: "http://copier.example/a".into(),
                host: "copier.example".into(),
                ip: Some("203.0.113.7".into()),
                captured_at: "2026-03-01T10:00:00Z".into(),
                title: "Evil\r\nBcc: x@y.example <script>alert(1)</script>".into(),
                redirects: Vec::new(),
                archive: None,
            },
            verdict: "copy".into(),
            containment: 0.87,
            coverage: Some(0.42),
            copied_chars: Some(1234),
            licensed: false,
            passages: vec![PassageFacts {
                original_start: 0,
                original_end: 4,
                copy_start: 10,
                copy_end: 14,
                original_text: "江城新闻".into(),
                copy_text: "江城新聞<b>".into(),
            }],
            passages_omitted: 0,
            escalation: None,
            case: None,
            licence: None,
        }
    }

    #[test]
    fn bundle_is_written_once_and_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let info = WarcInfo::current(b"[outlet]", "copyhound/0.1 (+https://x.example)");
        let now = Utc::now();
        let place = Place::Dir(dir.path().join(EVIDENCE_DIR));
        let a = write_bundle(&place, &info, &capture(), &facts(), now).unwrap();
        let b = write_bundle(&place, &info, &capture(), &facts(), now).unwrap();
        assert_ne!(a.file_name, b.file_name, "a second bundle never overwrites");
        let v = verify_file(a.path.as_ref().unwrap()).unwrap();
        assert!(v.ok(), "{:?}", v.problems);
        assert_eq!(v.sha256, a.sha256);
        assert_eq!(v.records.len(), 5);
        assert!(v.records[2].contains("response"));
        assert!(v.records[2].contains("WARC-Payload-Digest"));
    }

    #[test]
    fn rendered_artefacts_are_written_read_back_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let info = WarcInfo::current(b"", "ua (+https://x.example)");
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&1280u32.to_be_bytes());
        png.extend_from_slice(&800u32.to_be_bytes());
        let t = capture().finished_at;
        let rendering = Rendering {
            url: "http://copier.example/a".into(),
            final_url: None,
            started_at: t,
            finished_at: t,
            product: "Chrome/1".into(),
            user_agent: "HeadlessChrome".into(),
            viewport_png: Some(png.clone()),
            full_page_png: None,
            pdf: Some(b"%PDF-1.7 not really".to_vec()),
            notes: vec!["full page dropped".into()],
        };
        let file = write_bundle_with(
            &Place::Dir(dir.path().to_path_buf()),
            &info,
            &capture(),
            &facts(),
            Utc::now(),
            None,
            Some(&rendering),
        )
        .unwrap();
        assert!(verify_file(file.path.as_ref().unwrap()).unwrap().ok());
        assert_eq!(
            read_artefact(file.path.as_ref().unwrap(), RenderKind::View).unwrap(),
            Some(png)
        );
        assert_eq!(
            read_artefact(file.path.as_ref().unwrap(), RenderKind::FullPage).unwrap(),
            None
        );
        let provenance = read_provenance(file.path.as_ref().unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(provenance.browser.unwrap().notes, ["full page dropped"]);

        // A record claiming to be a screenshot must be one, whatever its digest says.
        let records = bundle_records_with(
            &info,
            &capture(),
            &facts(),
            "f.warc.gz",
            Utc::now(),
            Some(&Rendering {
                viewport_png: Some(b"<html>not a picture</html>".to_vec()),
                ..rendering
            }),
        )
        .unwrap();
        let forged = dir.path().join("forged.warc.gz");
        std::fs::write(
            &forged,
            records
                .iter()
                .flat_map(Record::to_gzip_member)
                .collect::<Vec<u8>>(),
        )
        .unwrap();
        let v = verify_file(&forged).unwrap();
        assert!(
            v.problems
                .iter()
                .any(|p| p.contains("(resource view): the block is not a valid image/png")),
            "{:?}",
            v.problems
        );
        assert_eq!(read_artefact(&forged, RenderKind::View).unwrap(), None);
    }

    #[test]
    fn records_link_and_carry_the_exchange() {
        let info = WarcInfo::current(b"", "ua (+https://x.example)");
        let records = bundle_records(&info, &capture(), &facts(), "f.warc.gz", Utc::now()).unwrap();
        let types: Vec<_> = records
            .iter()
            .map(|r| r.header("WARC-Type").unwrap())
            .collect();
        assert_eq!(
            types,
            ["warcinfo", "request", "response", "metadata", "metadata"]
        );
        let (req, resp) = (&records[1], &records[2]);
        assert_eq!(
            req.header("WARC-Concurrent-To"),
            resp.header("WARC-Record-ID")
        );
        assert_eq!(
            resp.header("WARC-Concurrent-To"),
            req.header("WARC-Record-ID")
        );
        assert_eq!(resp.header("WARC-IP-Address"), Some("203.0.113.7"));
        assert!(resp.block.ends_with(&capture().raw_body));
        assert!(req.block.ends_with(b"\r\n\r\n"));
        let meta: MatchFacts = serde_json::from_slice(&records[3].block).unwrap();
        assert_eq!(meta, facts());
    }
}
