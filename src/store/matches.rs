//! Matches (a crawled page that copies one of our originals) and the captures that prove
//! them; and which originals search discovery has already looked for.
//!
//! What survives a crash: a match is durable once [`Store::record_matches`] returns. The
//! capture and its matches are written in one transaction, so there is never a match
//! without its evidence nor evidence without its match. `(copy_url, original_id)` is
//! unique: a page seen again (a revisit, a restarted crawl, a `scan`) only moves
//! `last_seen`, so one page copying one original is recorded, and alerted, once.
//!
//! Like the rest of `store`, this is the only place that knows the tables; it never
//! fetches and never judges pages (the pipeline passes its verdicts).

use crate::store::sql::{params, OptionalExtension};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{begin_write, timestamp, ReviewStatus, Store, StoreError};
use crate::crawl::fetch::Capture;
use crate::detect::{Passage, Verdict};

/// A match as the pipeline found it, to record with its capture.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMatch {
    /// The copy's normalised URL.
    pub copy_url: String,
    /// `crawl::urls::host_key` of the copy.
    pub copy_host: String,
    pub original_id: i64,
    /// `Copy` or `Partial` (an `Unrelated` page is not a match and is refused).
    pub verdict: Verdict,
    pub containment: f64,
    /// Share of the copy's text that is copied (`detect::Comparison::coverage`).
    pub coverage: f64,
    /// Length of the copied passages in characters of the original.
    pub copied_chars: u64,
    pub passages: Vec<Passage>,
    pub copy_title: String,
    /// Found on a licensed domain (`[crawl] licensed` or the reviewers' licensed list).
    pub licensed: bool,
    /// Found on a site the reviewers ignore: recorded with status `ignored` (even when
    /// also licensed: the reviewers asked to hear nothing more about the site, and the
    /// `licensed` flag still says what it is) and alerting nobody.
    pub ignored: bool,
    /// The version of the original the page was compared with (the passages' original
    /// offsets point into its text).
    pub original_version: Option<i64>,
    /// Where the page was found when it came from a web archive (`scan-warc`): the
    /// capture is then a third party's until the crawler captures the live page.
    pub archive: Option<ArchiveRef>,
    /// The check against the licence covering the copy's site (`[[licences]]` or the
    /// desk's), when one does: a noncompliant copy starts `licensed-noncompliant`.
    pub licence_check: Option<super::NewLicenceCheck>,
}

/// Where an archived record is: enough to fetch the same record again by range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchiveRef {
    /// The WARC file's path or URL, as given to `scan-warc`.
    pub source: String,
    /// Byte offset of the record (of its gzip member) in the file.
    pub offset: u64,
    /// The record's length in the file; `None` when it shares a gzip member.
    pub length: Option<u64>,
    /// Its `WARC-Record-ID`, when it has one.
    pub record_id: Option<String>,
}

/// A match's archive provenance, as stored (migration 8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatchArchive {
    pub archive: ArchiveRef,
    /// When the crawler captured the live page (which then became primary evidence).
    pub live_captured_at: Option<String>,
    /// The archived capture's evidence file, once the live one replaced it as primary.
    pub archive_evidence_file: Option<String>,
    pub archive_evidence_sha256: Option<String>,
}

/// What the evidence stage adds to a new match, inside the transaction that records it:
/// the evidence file and its digest, and the alerts to queue.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MatchEvidence {
    /// File name under `[storage] dir`/evidence; `None` when it could not be written
    /// (the capture is still in the database, so it can be written later).
    pub evidence_file: Option<String>,
    /// Lower-case hex SHA-256 of that file.
    pub evidence_sha256: Option<String>,
    /// The alerts owed for this match (see `notify::new_alerts`).
    pub alerts: Vec<super::NewAlert>,
}

/// What [`Store::record_matches`] did with one match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOutcome {
    /// First time this page was found copying this original.
    New { id: i64 },
    /// Already recorded: only `last_seen` moved.
    Seen { id: i64 },
    /// Already recorded from a web archive, and this (first-party) capture of the live
    /// page became its primary evidence; the archived evidence is kept beside it.
    LiveCaptured { id: i64 },
    /// Not a match (`Unrelated` verdict): nothing written.
    Ignored,
}

/// One match as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchSummary {
    pub id: i64,
    pub copy_url: String,
    pub copy_host: String,
    pub copy_title: String,
    pub original_id: i64,
    pub original_url: String,
    pub original_title: String,
    pub verdict: String,
    pub containment: f64,
    /// Share of the copy's text that is copied; `None` for matches recorded before
    /// migration 6.
    pub coverage: Option<f64>,
    /// Length of the copied passages in characters of the original; `None` likewise.
    pub copied_chars: Option<u64>,
    pub status: String,
    pub licensed: bool,
    pub first_seen: String,
    pub last_seen: String,
    pub captured_at: String,
    pub remote_ip: Option<String>,
}

/// The capture behind a match, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaptureSummary {
    pub id: i64,
    pub requested_url: String,
    pub final_url: String,
    pub status: u16,
    pub remote_ip: Option<String>,
    pub started_at: String,
    pub finished_at: String,
    pub body_sha256: String,
    pub raw_body_sha256: String,
    pub raw_body_bytes: i64,
}

/// One match in full: the summary, its passages and its capture.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchDetail {
    #[serde(flatten)]
    pub summary: MatchSummary,
    pub passages: Vec<StoredPassage>,
    pub capture: CaptureSummary,
    /// The evidence file (name under `[storage] dir`/evidence) and its SHA-256.
    pub evidence_file: Option<String>,
    pub evidence_sha256: Option<String>,
    /// The original's version the copy was compared with (`None` for matches recorded
    /// before versions were kept with matches: the current version is shown then).
    pub original_version: Option<i64>,
}

/// A passage as stored (the JSON form of [`Passage`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct StoredPassage {
    pub original_start: usize,
    pub original_end: usize,
    pub candidate_start: usize,
    pub candidate_end: usize,
    pub text: String,
}

/// A capture's bytes as stored, for the evidence stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureRecord {
    pub id: i64,
    pub requested_url: String,
    pub final_url: String,
    pub redirects_json: String,
    pub remote_ip: Option<String>,
    pub remote_port: Option<u16>,
    pub request_head: Vec<u8>,
    pub status: u16,
    pub response_head: Vec<u8>,
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub raw_body: Vec<u8>,
    pub raw_body_sha256: String,
    pub body_sha256: String,
    pub started_at: String,
    pub finished_at: String,
}

/// Capture times keep milliseconds: evidence orders requests finer than seconds.
fn precise(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The review status a new match starts in: `ignored` on an ignored site (over
/// `licensed`, see [`NewMatch::ignored`]), `licensed-noncompliant` on a licensed one
/// whose copy breaks its licence's terms, `licensed` on a licensed one, else
/// `unreviewed`.
fn initial_status(m: &NewMatch) -> ReviewStatus {
    if m.ignored {
        ReviewStatus::Ignored
    } else if m.licensed
        && m.licence_check
            .as_ref()
            .is_some_and(super::NewLicenceCheck::is_noncompliant)
    {
        ReviewStatus::LicensedNoncompliant
    } else if m.licensed {
        ReviewStatus::Licensed
    } else {
        ReviewStatus::Unreviewed
    }
}

fn verdict_name(v: Verdict) -> Option<&'static str> {
    match v {
        Verdict::Copy => Some("copy"),
        Verdict::Partial => Some("partial"),
        Verdict::Unrelated => None,
    }
}

#[derive(Serialize)]
struct HopJson<'a> {
    url: &'a str,
    status: u16,
    location: &'a str,
    remote_addr: Option<String>,
    at: String,
}

/// Number of columns in [`SUMMARY_COLUMNS`]: a query selecting more reads them from here.
pub(super) const SUMMARY_COLUMN_COUNT: usize = 17;

pub(super) const SUMMARY_COLUMNS: &str =
    "m.id, m.copy_url, m.copy_host, m.copy_title, m.original_id, o.url,
    COALESCE(v.title, ''), m.verdict, m.containment, m.status, m.licensed, m.first_seen,
    m.last_seen, m.captured_at, m.remote_ip, m.coverage, m.copied_chars";

pub(super) const SUMMARY_FROM: &str = "FROM matches m
    JOIN originals o ON o.id = m.original_id
    LEFT JOIN original_versions v ON v.original_id = o.id AND v.version = o.current_version";

pub(super) fn summary_row(r: &crate::store::sql::Row) -> crate::store::sql::Result<MatchSummary> {
    Ok(MatchSummary {
        id: r.get(0)?,
        copy_url: r.get(1)?,
        copy_host: r.get(2)?,
        copy_title: r.get(3)?,
        original_id: r.get(4)?,
        original_url: r.get(5)?,
        original_title: r.get(6)?,
        verdict: r.get(7)?,
        containment: r.get(8)?,
        status: r.get(9)?,
        licensed: r.get::<_, i64>(10)? != 0,
        first_seen: r.get(11)?,
        last_seen: r.get(12)?,
        captured_at: r.get(13)?,
        remote_ip: r.get(14)?,
        coverage: r.get(15)?,
        copied_chars: r
            .get::<_, Option<i64>>(16)?
            .map(|n| u64::try_from(n).unwrap_or(0)),
    })
}

impl Store {
    /// Records the matches one capture produced. One transaction: the capture is stored
    /// (once, shared by its matches) only when at least one match is new; matches already
    /// recorded for the same `(copy_url, original_id)` only get `last_seen = now`.
    /// Returns one outcome per match, in order. Durable once this returns.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written; nothing is then recorded.
    pub fn record_matches(
        &mut self,
        capture: &Capture,
        matches: &[NewMatch],
        now: DateTime<Utc>,
    ) -> Result<Vec<MatchOutcome>, StoreError> {
        self.record_matches_with(capture, matches, now, &mut |_, _| MatchEvidence::default())
    }

    /// [`Store::record_matches`], calling `evidence(index, match_id)` for each *new*
    /// match inside the transaction, after its row is inserted: the file it returns is
    /// recorded with the match and its alerts are queued, so a match, its evidence
    /// record and its alerts commit together or not at all. (`evidence` writes the file
    /// itself; a file written for a transaction that then fails is an orphan, never an
    /// overwrite.) An `ignored` match keeps its evidence file but its alerts are
    /// dropped here, whatever `evidence` returned: an ignored site alerts nobody.
    ///
    /// # Errors
    /// As [`Store::record_matches`].
    pub fn record_matches_with(
        &mut self,
        capture: &Capture,
        matches: &[NewMatch],
        now: DateTime<Utc>,
        evidence: &mut dyn FnMut(usize, i64) -> MatchEvidence,
    ) -> Result<Vec<MatchOutcome>, StoreError> {
        let path = self.path.clone();
        let err = |source| StoreError::Db {
            path: path.clone(),
            source,
        };
        let now_text = timestamp(now);
        let tx = begin_write(&mut self.conn).map_err(err)?;
        let mut outcomes = Vec::with_capacity(matches.len());
        let mut capture_id: Option<i64> = None;
        for (index, m) in matches.iter().enumerate() {
            let Some(verdict) = verdict_name(m.verdict) else {
                outcomes.push(MatchOutcome::Ignored);
                continue;
            };
            let existing: Option<i64> = tx
                .query_row(
                    "SELECT id FROM matches WHERE copy_url = ?1 AND original_id = ?2",
                    params![m.copy_url, m.original_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(err)?;
            if let Some(id) = existing {
                // A match found in a web archive waits for a capture of the live page;
                // a first-party capture (not itself from an archive) is that capture.
                let waiting_live: bool = tx
                    .query_row(
                        "SELECT archive_source IS NOT NULL AND live_captured_at IS NULL
                           FROM matches WHERE id = ?1",
                        params![id],
                        |r| r.get(0),
                    )
                    .map_err(err)?;
                if waiting_live && m.archive.is_none() {
                    let cid = match capture_id {
                        Some(id) => id,
                        None => {
                            let id = insert_capture(&tx, capture).map_err(err)?;
                            capture_id = Some(id);
                            id
                        }
                    };
                    // Its alerts were queued when the archived copy was found; the live
                    // capture only changes the evidence.
                    let extra = evidence(index, id);
                    tx.execute(
                        "UPDATE matches SET
                           archive_capture_id = capture_id,
                           archive_evidence_file = evidence_file,
                           archive_evidence_sha256 = evidence_sha256,
                           capture_id = ?2, evidence_file = ?3, evidence_sha256 = ?4,
                           captured_at = ?5, remote_ip = ?6, live_captured_at = ?7,
                           last_seen = ?7
                         WHERE id = ?1",
                        params![
                            id,
                            cid,
                            extra.evidence_file,
                            extra.evidence_sha256,
                            timestamp(capture.finished_at),
                            capture.remote_addr.map(|a| a.ip().to_string()),
                            now_text
                        ],
                    )
                    .map_err(err)?;
                    outcomes.push(MatchOutcome::LiveCaptured { id });
                    continue;
                }
                tx.execute(
                    "UPDATE matches SET last_seen = ?2 WHERE id = ?1",
                    params![id, now_text],
                )
                .map_err(err)?;
                outcomes.push(MatchOutcome::Seen { id });
                continue;
            }
            let cid = match capture_id {
                Some(id) => id,
                None => {
                    let id = insert_capture(&tx, capture).map_err(err)?;
                    capture_id = Some(id);
                    id
                }
            };
            // Serialising plain structs of numbers and strings cannot fail.
            let passages = serde_json::to_string(&m.passages).unwrap_or_else(|_| "[]".into());
            let id = tx
                .insert_id(
                    "INSERT INTO matches
                   (copy_url, copy_host, original_id, verdict, containment, passages,
                    copy_title, capture_id, captured_at, remote_ip, licensed, status,
                    first_seen, last_seen, original_version, coverage, copied_chars)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13, ?14,
                         ?15, ?16)",
                    params![
                        m.copy_url,
                        m.copy_host,
                        m.original_id,
                        verdict,
                        m.containment,
                        passages,
                        m.copy_title,
                        cid,
                        timestamp(capture.finished_at),
                        capture.remote_addr.map(|a| a.ip().to_string()),
                        m.licensed,
                        initial_status(m).as_str(),
                        now_text,
                        m.original_version,
                        m.coverage,
                        i64::try_from(m.copied_chars).unwrap_or(i64::MAX),
                    ],
                )
                .map_err(err)?;
            if let Some(a) = &m.archive {
                tx.execute(
                    "UPDATE matches SET archive_source = ?2, archive_offset = ?3,
                       archive_length = ?4, archive_record_id = ?5
                     WHERE id = ?1",
                    params![
                        id,
                        a.source,
                        i64::try_from(a.offset).unwrap_or(i64::MAX),
                        a.length.map(|l| i64::try_from(l).unwrap_or(i64::MAX)),
                        a.record_id
                    ],
                )
                .map_err(err)?;
            }
            let extra = evidence(index, id);
            if extra.evidence_file.is_some() {
                tx.execute(
                    "UPDATE matches SET evidence_file = ?2, evidence_sha256 = ?3 WHERE id = ?1",
                    params![id, extra.evidence_file, extra.evidence_sha256],
                )
                .map_err(err)?;
            }
            if !m.ignored {
                super::enqueue_alerts_in(&tx, &extra.alerts, now).map_err(err)?;
            }
            if let Some(check) = &m.licence_check {
                // The alerts of a noncompliant copy are licensing staff's request to
                // the partner: queued here, so `licences check` never queues them again.
                let alerted = check.is_noncompliant() && !m.ignored && !extra.alerts.is_empty();
                super::licences::insert_check_in(&tx, id, check, alerted, now).map_err(err)?;
            }
            outcomes.push(MatchOutcome::New { id });
        }
        tx.commit().map_err(err)?;
        Ok(outcomes)
    }

    /// Every match, oldest first.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn list_matches(&self) -> Result<Vec<MatchSummary>, StoreError> {
        let sql = format!("SELECT {SUMMARY_COLUMNS} {SUMMARY_FROM} ORDER BY m.id");
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], summary_row).map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Number of matches recorded.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn match_count(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM matches", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// Matches recorded, by verdict: `(copy, partial, licensed)`, where licensed
    /// matches (either verdict) are counted only under licensed.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn match_counts_by_verdict(&self) -> Result<(i64, i64, i64), StoreError> {
        self.conn
            .query_row(
                "SELECT COALESCE(SUM(CASE WHEN NOT licensed AND verdict = 'copy' THEN 1 ELSE 0 END), 0),
                        COALESCE(SUM(CASE WHEN NOT licensed AND verdict = 'partial' THEN 1 ELSE 0 END), 0),
                        COALESCE(SUM(CASE WHEN licensed THEN 1 ELSE 0 END), 0)
                 FROM matches",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(|e| self.err(e))
    }

    /// Where match `id` was found when it came from a web archive (`None` for a match
    /// the crawler found, or no such match).
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn match_archive(&self, id: i64) -> Result<Option<MatchArchive>, StoreError> {
        self.conn
            .query_row(
                "SELECT archive_source, archive_offset, archive_length, archive_record_id,
                        live_captured_at, archive_evidence_file, archive_evidence_sha256
                   FROM matches WHERE id = ?1 AND archive_source IS NOT NULL",
                params![id],
                |r| {
                    Ok(MatchArchive {
                        archive: ArchiveRef {
                            source: r.get(0)?,
                            offset: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                            length: r
                                .get::<_, Option<i64>>(2)?
                                .and_then(|l| u64::try_from(l).ok()),
                            record_id: r.get(3)?,
                        },
                        live_captured_at: r.get(4)?,
                        archive_evidence_file: r.get(5)?,
                        archive_evidence_sha256: r.get(6)?,
                    })
                },
            )
            .optional()
            .map_err(|source| StoreError::Db {
                path: self.path.clone(),
                source,
            })
    }

    /// One match with its passages and capture summary.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn find_match(&self, id: i64) -> Result<Option<MatchDetail>, StoreError> {
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS}, m.passages, c.id, c.requested_url, c.final_url,
                    c.status, c.remote_ip, c.started_at, c.finished_at, c.body_sha256,
                    c.raw_body_sha256, length(c.raw_body), m.evidence_file, m.evidence_sha256,
                    m.original_version
             {SUMMARY_FROM} JOIN captures c ON c.id = m.capture_id
             WHERE m.id = ?1"
        );
        self.conn
            .query_row(&sql, params![id], |r| {
                let n = SUMMARY_COLUMN_COUNT;
                let passages: String = r.get(n)?;
                Ok(MatchDetail {
                    summary: summary_row(r)?,
                    // The column is written by record_matches from the same type; a
                    // damaged value shows as no passages rather than failing the read.
                    passages: serde_json::from_str(&passages).unwrap_or_default(),
                    capture: CaptureSummary {
                        id: r.get(n + 1)?,
                        requested_url: r.get(n + 2)?,
                        final_url: r.get(n + 3)?,
                        status: r.get(n + 4)?,
                        remote_ip: r.get(n + 5)?,
                        started_at: r.get(n + 6)?,
                        finished_at: r.get(n + 7)?,
                        body_sha256: r.get(n + 8)?,
                        raw_body_sha256: r.get(n + 9)?,
                        raw_body_bytes: r.get(n + 10)?,
                    },
                    evidence_file: r.get(n + 11)?,
                    evidence_sha256: r.get(n + 12)?,
                    original_version: r.get(n + 13)?,
                })
            })
            .optional()
            .map_err(|e| self.err(e))
    }

    /// A capture's redirect hops as stored (JSON), without reading its bytes.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn capture_redirects(&self, capture_id: i64) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(
                "SELECT redirects FROM captures WHERE id = ?1",
                params![capture_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Up to `limit` matches (ids, oldest first) recorded without an evidence file (it
    /// could not be written at the time; the capture's bytes are kept for it).
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn matches_without_evidence(&self, limit: usize) -> Result<Vec<i64>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id FROM matches WHERE evidence_file IS NULL ORDER BY id LIMIT ?1")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                r.get(0)
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Records a match's evidence file written after the match, only if it still has
    /// none (an evidence file, once recorded, is never replaced). Returns whether it was
    /// recorded.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written.
    pub fn set_missing_evidence(
        &mut self,
        match_id: i64,
        file_name: &str,
        sha256: &str,
    ) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute(
                "UPDATE matches SET evidence_file = ?2, evidence_sha256 = ?3
                 WHERE id = ?1 AND evidence_file IS NULL",
                params![match_id, file_name, sha256],
            )
            .map_err(|e| self.err(e))?;
        Ok(n == 1)
    }

    /// The match whose evidence file is `file_name`, with the SHA-256 recorded for it.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn match_by_evidence_file(
        &self,
        file_name: &str,
    ) -> Result<Option<(i64, Option<String>)>, StoreError> {
        self.conn
            .query_row(
                "SELECT id, evidence_sha256 FROM matches WHERE evidence_file = ?1",
                params![file_name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Whether recording a match of `copy_url` on `original_id` would write a new
    /// evidence file: no such match yet, or one found in a web archive still waiting
    /// for its live capture. (The evidence browser renders a page only then.)
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn match_wants_evidence(
        &self,
        copy_url: &str,
        original_id: i64,
    ) -> Result<bool, StoreError> {
        let waiting: Option<bool> = self
            .conn
            .query_row(
                "SELECT archive_source IS NOT NULL AND live_captured_at IS NULL
                   FROM matches WHERE copy_url = ?1 AND original_id = ?2",
                params![copy_url, original_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(waiting.unwrap_or(true))
    }

    /// A capture with its bytes, for the evidence stage.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn capture(&self, id: i64) -> Result<Option<CaptureRecord>, StoreError> {
        self.conn
            .query_row(
                "SELECT id, requested_url, final_url, redirects, remote_ip, remote_port,
                        request_head, status, response_head, content_type, content_encoding,
                        raw_body, raw_body_sha256, body_sha256, started_at, finished_at
                 FROM captures WHERE id = ?1",
                params![id],
                |r| {
                    Ok(CaptureRecord {
                        id: r.get(0)?,
                        requested_url: r.get(1)?,
                        final_url: r.get(2)?,
                        redirects_json: r.get(3)?,
                        remote_ip: r.get(4)?,
                        remote_port: r.get(5)?,
                        request_head: r.get(6)?,
                        status: r.get(7)?,
                        response_head: r.get(8)?,
                        content_type: r.get(9)?,
                        content_encoding: r.get(10)?,
                        raw_body: r.get(11)?,
                        raw_body_sha256: r.get(12)?,
                        body_sha256: r.get(13)?,
                        started_at: r.get(14)?,
                        finished_at: r.get(15)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Up to `limit` originals (ids, oldest first) that search discovery has not looked
    /// for yet.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn unsearched_originals(&self, limit: usize) -> Result<Vec<i64>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT o.id FROM originals o
                 WHERE NOT EXISTS (SELECT 1 FROM discovery_searches d WHERE d.original_id = o.id)
                 ORDER BY o.id LIMIT ?1",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![limit as i64], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Records that an original was searched for, with how many results came back.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written.
    pub fn mark_searched(
        &mut self,
        original_id: i64,
        results: usize,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO discovery_searches (original_id, searched_at, results)
                 VALUES (?1, ?2, ?3)
                 ON CONFLICT (original_id) DO UPDATE SET searched_at = excluded.searched_at, results = excluded.results",
                params![original_id, timestamp(now), results as i64],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }
}

fn insert_capture(
    tx: &crate::store::sql::Transaction<'_>,
    c: &Capture,
) -> crate::store::sql::Result<i64> {
    let hops: Vec<HopJson<'_>> = c
        .redirects
        .iter()
        .map(|h| HopJson {
            url: h.url.as_str(),
            status: h.status,
            location: &h.location,
            remote_addr: h.remote_addr.map(|a| a.to_string()),
            at: precise(h.at),
        })
        .collect();
    // Serialising strings and numbers cannot fail.
    let redirects = serde_json::to_string(&hops).unwrap_or_else(|_| "[]".into());
    tx.insert_id(
        "INSERT INTO captures
           (requested_url, final_url, redirects, remote_ip, remote_port, request_head, status,
            response_head, content_type, content_encoding, raw_body, raw_body_sha256,
            body_sha256, started_at, finished_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        params![
            c.requested_url.as_str(),
            c.final_url.as_str(),
            redirects,
            c.remote_addr.map(|a| a.ip().to_string()),
            c.remote_addr.map(|a| a.port()),
            c.request_head,
            c.status,
            c.response_head,
            c.content_type,
            c.content_encoding,
            c.raw_body,
            hex::encode(Sha256::digest(&c.raw_body)),
            c.body_sha256,
            precise(c.started_at),
            precise(c.finished_at),
        ],
    )
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::crawl::fetch::Validators;
    use crate::store::NewArticle;
    use chrono::TimeZone;

    pub(in crate::store) fn capture(body: &[u8]) -> Capture {
        let t = Utc.with_ymd_and_hms(2026, 11, 26, 8, 0, 0).unwrap();
        Capture {
            requested_url: url::Url::parse("http://copier.example/a").unwrap(),
            final_url: url::Url::parse("http://copier.example/a").unwrap(),
            redirects: Vec::new(),
            remote_addr: Some("203.0.113.7:80".parse().unwrap()),
            request_head: b"GET /a HTTP/1.1\r\nhost: copier.example\r\n".to_vec(),
            status: 200,
            response_head: b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\n".to_vec(),
            content_type: Some("text/html".into()),
            content_encoding: None,
            raw_body: body.to_vec(),
            decoded_body: None,
            body_sha256: hex::encode(Sha256::digest(body)),
            truncated: false,
            validators: Validators::default(),
            started_at: t,
            finished_at: t + chrono::Duration::milliseconds(250),
            network: Default::default(),
        }
    }

    pub(in crate::store) fn original(store: &mut Store, url: &str) -> i64 {
        let a = NewArticle {
            url: url.into(),
            title: "标题".into(),
            published: None,
            author: None,
            source: "test".into(),
            text: "正文".into(),
            text_sha256: url.into(),
            simhash: 1,
            segments: Vec::new(),
            anchors: Vec::new(),
            sentence_hashes: Vec::new(),
            extraction: "container".into(),
            page_chars: 0,
            suspect: None,
        };
        match store.upsert_original(&a, Utc::now()).unwrap() {
            crate::store::Upsert::New { id } => id,
            other => panic!("{other:?}"),
        }
    }

    pub(in crate::store) fn new_match(
        original_id: i64,
        verdict: Verdict,
        licensed: bool,
    ) -> NewMatch {
        NewMatch {
            copy_url: "http://copier.example/a".into(),
            copy_host: "copier.example".into(),
            original_id,
            verdict,
            containment: 0.91,
            coverage: 0.4,
            copied_chars: 2,
            passages: vec![Passage {
                original_start: 0,
                original_end: 2,
                candidate_start: 5,
                candidate_end: 7,
                text: "正文".into(),
            }],
            copy_title: "抄来的".into(),
            licensed,
            original_version: Some(1),
            archive: None,
            ignored: false,
            licence_check: None,
        }
    }

    /// One match recorded `licensed`, for the licences' tests.
    pub(in crate::store) fn one_licensed_match(store: &mut Store) -> i64 {
        let o = original(store, "https://news.example.com/licensed");
        let out = store
            .record_matches(
                &capture(b"<p>x</p>"),
                &[new_match(o, Verdict::Copy, true)],
                Utc::now(),
            )
            .unwrap();
        match out[0] {
            MatchOutcome::New { id } => id,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_match_is_recorded_once_with_its_capture() {
        crate::store::testdb::on_both(|| {
            let dir = tempfile::tempdir().unwrap();
            let mut store = crate::store::testdb::open(dir.path()).unwrap();
            let o1 = original(&mut store, "https://news.example.com/1");
            let o2 = original(&mut store, "https://news.example.com/2");
            let c = capture(b"<p>\x00raw bytes\xff</p>");
            let now = Utc::now();
            let out = store
                .record_matches(
                    &c,
                    &[
                        new_match(o1, Verdict::Copy, false),
                        new_match(o2, Verdict::Unrelated, false),
                    ],
                    now,
                )
                .unwrap();
            assert_eq!(
                out,
                vec![MatchOutcome::New { id: 1 }, MatchOutcome::Ignored]
            );
            // Seen again: no new row, no new capture.
            let later = now + chrono::Duration::hours(1);
            let out = store
                .record_matches(
                    &c,
                    &[
                        new_match(o1, Verdict::Copy, false),
                        new_match(o2, Verdict::Partial, true),
                    ],
                    later,
                )
                .unwrap();
            assert_eq!(
                out,
                vec![MatchOutcome::Seen { id: 1 }, MatchOutcome::New { id: 2 }]
            );
            let list = store.list_matches().unwrap();
            assert_eq!(list.len(), 2);
            assert_eq!(list[0].status, "unreviewed");
            assert_eq!(list[0].original_url, "https://news.example.com/1");
            assert_eq!(list[0].original_title, "标题");
            assert_eq!(list[0].last_seen, timestamp(later));
            assert_eq!(list[1].status, "licensed");
            assert_eq!(list[1].verdict, "partial");
            assert_eq!(list[1].remote_ip.as_deref(), Some("203.0.113.7"));
            let detail = store.find_match(1).unwrap().unwrap();
            assert_eq!(detail.passages[0].text, "正文");
            assert_eq!(detail.summary.coverage, Some(0.4));
            assert_eq!(detail.summary.copied_chars, Some(2));
            assert_eq!(list[0].copied_chars, Some(2));
            assert_eq!(detail.capture.raw_body_bytes, c.raw_body.len() as i64);
            // The evidence is byte-exact.
            let stored = store.capture(detail.capture.id).unwrap().unwrap();
            assert_eq!(stored.raw_body, c.raw_body);
            assert_eq!(stored.request_head, c.request_head);
            assert_eq!(stored.response_head, c.response_head);
            assert_eq!(stored.started_at, "2026-11-26T08:00:00.000Z");
            assert_eq!(stored.finished_at, "2026-11-26T08:00:00.250Z");
            assert_eq!(stored.remote_port, Some(80));
            assert_eq!(stored.redirects_json, "[]");
            assert!(store.find_match(99).unwrap().is_none());
        });
    }

    #[test]
    fn matches_recorded_before_migration_6_have_no_coverage() {
        crate::store::testdb::on_both(|| {
            let dir = tempfile::tempdir().unwrap();
            let mut store = crate::store::testdb::open(dir.path()).unwrap();
            let o = original(&mut store, "https://news.example.com/1");
            let c = capture(b"<p>x</p>");
            store
                .record_matches(&c, &[new_match(o, Verdict::Copy, false)], Utc::now())
                .unwrap();
            // What migration 6 leaves in the rows it finds: the columns added, NULL.
            store
                .conn
                .execute(
                    "UPDATE matches SET coverage = NULL, copied_chars = NULL",
                    [],
                )
                .unwrap();
            let detail = store.find_match(1).unwrap().unwrap();
            assert_eq!(detail.summary.coverage, None);
            assert_eq!(detail.summary.copied_chars, None);
            let json = serde_json::to_value(&detail).unwrap();
            assert!(json["coverage"].is_null() && json["copied_chars"].is_null());
            assert_eq!(json["containment"], 0.91);
        });
    }

    #[test]
    fn discovery_progress_is_kept() {
        crate::store::testdb::on_both(|| {
            let dir = tempfile::tempdir().unwrap();
            let mut store = crate::store::testdb::open(dir.path()).unwrap();
            let a = original(&mut store, "https://news.example.com/1");
            let b = original(&mut store, "https://news.example.com/2");
            assert_eq!(store.unsearched_originals(10).unwrap(), vec![a, b]);
            store.mark_searched(a, 3, Utc::now()).unwrap();
            assert_eq!(store.unsearched_originals(10).unwrap(), vec![b]);
        });
    }

    #[test]
    fn evidence_and_alerts_commit_with_the_match() {
        crate::store::testdb::on_both(|| {
            let dir = tempfile::tempdir().unwrap();
            let mut store = crate::store::testdb::open(dir.path()).unwrap();
            let id = original(&mut store, "https://news.example/1");
            let alert = |role| crate::store::NewAlert {
                match_id: None,
                role,
                channel: crate::store::Channel::Email,
                facts_json: "{}".into(),
                evidence_file: Some("e.warc.gz".into()),
                evidence_sha256: Some("ab".into()),
            };
            let mut calls = Vec::new();
            let outcomes = store
                .record_matches_with(
                    &capture(b"page"),
                    &[new_match(id, Verdict::Copy, false)],
                    Utc::now(),
                    &mut |i, match_id| {
                        calls.push((i, match_id));
                        MatchEvidence {
                            evidence_file: Some("e.warc.gz".into()),
                            evidence_sha256: Some("ab".into()),
                            alerts: vec![
                                alert(crate::config::Role::Legal),
                                alert(crate::config::Role::Licensing),
                            ],
                        }
                    },
                )
                .unwrap();
            let MatchOutcome::New { id: match_id } = outcomes[0] else {
                panic!("{outcomes:?}")
            };
            assert_eq!(calls, vec![(0, match_id)]);
            let detail = store.find_match(match_id).unwrap().unwrap();
            assert_eq!(detail.evidence_file.as_deref(), Some("e.warc.gz"));
            assert_eq!(detail.evidence_sha256.as_deref(), Some("ab"));
            assert_eq!(
                store.match_by_evidence_file("e.warc.gz").unwrap(),
                Some((match_id, Some("ab".into())))
            );
            assert_eq!(store.pending_alert_count().unwrap(), 2);
            // Seen again: no new evidence, no new alerts.
            store
                .record_matches_with(
                    &capture(b"page"),
                    &[new_match(id, Verdict::Copy, false)],
                    Utc::now(),
                    &mut |_, _| panic!("only new matches get evidence"),
                )
                .unwrap();
            assert_eq!(store.pending_alert_count().unwrap(), 2);
        });
    }

    #[test]
    fn an_ignored_match_keeps_its_evidence_and_alerts_nobody() {
        crate::store::testdb::on_both(|| {
            let dir = tempfile::tempdir().unwrap();
            let mut store = crate::store::testdb::open(dir.path()).unwrap();
            let id = original(&mut store, "https://news.example/1");
            // Ignored wins over licensed for the status; the licensed flag is kept.
            let mut m = new_match(id, Verdict::Copy, true);
            m.ignored = true;
            let outcomes = store
                .record_matches_with(&capture(b"page"), &[m], Utc::now(), &mut |_, match_id| {
                    MatchEvidence {
                        evidence_file: Some("i.warc.gz".into()),
                        evidence_sha256: Some("cd".into()),
                        alerts: vec![crate::store::NewAlert {
                            match_id: Some(match_id),
                            role: crate::config::Role::Legal,
                            channel: crate::store::Channel::Email,
                            facts_json: "{}".into(),
                            evidence_file: None,
                            evidence_sha256: None,
                        }],
                    }
                })
                .unwrap();
            let MatchOutcome::New { id: match_id } = outcomes[0] else {
                panic!("{outcomes:?}")
            };
            let detail = store.find_match(match_id).unwrap().unwrap();
            assert_eq!(detail.summary.status, "ignored");
            assert!(detail.summary.licensed);
            assert_eq!(detail.evidence_file.as_deref(), Some("i.warc.gz"));
            assert_eq!(store.pending_alert_count().unwrap(), 0);
        });
    }
}
