//! Review decisions: what marking a match does, for the CLI (`matches mark`) and the
//! web desk alike.
//!
//! A decision is recorded by `store` in one transaction with everything it implies:
//! - `infringing` queues an escalation alert to counsel (`legal` contacts) carrying the
//!   match, its evidence file and the draft takedown notice, once per match;
//! - `licensed` may add the copy's domain to the reviewers' licensed list, which later
//!   matches respect (they are recorded as licensed and do not alert counsel);
//! - ignoring a site adds its domain to the ignored list and marks the site's unreviewed
//!   matches `ignored`; later matches there are recorded as `ignored` and alert nobody.
//!
//! This module also rebuilds what a reviewer compares: the copy's text, re-extracted
//! from the stored capture exactly as the pipeline examined it.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use crate::config::{Role, Settings};
use crate::detect::Passage;
use crate::evidence::{CopyFacts, Escalation, MatchFacts, OriginalFacts, RedirectFacts};
use crate::notify::report::{EvidenceRef, ReportItem};
use crate::store::{
    CaptureRecord, Channel, DecideOutcome, ListAddition, MatchArchive, MatchDetail, NewAlert,
    NewDecision, OriginalKey, ReviewStatus, SiteList, Store, StoreError,
};

/// A decoded page larger than this is not re-extracted for the desk (the crawler's own
/// body limit is far below it; this bounds a damaged or hand-edited row).
pub(crate) const MAX_DECODED_BYTES: usize = 64 * 1024 * 1024;

/// What a reviewer decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Set the status.
    Mark(ReviewStatus),
    /// `licensed`, and add the copy's domain to the licensed list.
    LicensedAddDomain,
    /// `ignored`, add the copy's domain to the ignored list, and mark the site's other
    /// unreviewed matches `ignored` too.
    IgnoreSite,
}

impl Action {
    /// The status the action sets.
    pub fn status(self) -> ReviewStatus {
        match self {
            Action::Mark(s) => s,
            Action::LicensedAddDomain => ReviewStatus::Licensed,
            Action::IgnoreSite => ReviewStatus::Ignored,
        }
    }
}

/// Why a decision could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no match with id {0}")]
    NoSuchMatch(i64),
    #[error("a note is limited to {max} characters, got {got}")]
    NoteTooLong { max: usize, got: usize },
    #[error("cannot prepare the escalation of match {id}: {message}")]
    Escalation { id: i64, message: String },
    #[error("cannot write the evidence file of match {id}: {message}")]
    Evidence { id: i64, message: String },
}

/// Longest note kept with a decision.
pub const MAX_NOTE_CHARS: usize = 4000;

/// What [`decide`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionReport {
    pub outcomes: Vec<DecideOutcome>,
    /// Domains added to a site list.
    pub domains_added: Vec<String>,
    /// Escalation alerts queued for counsel.
    pub escalated: usize,
    /// `infringing` was decided but no `legal` contact is configured: nobody was told.
    pub no_legal_contact: bool,
}

/// A reviewer's decision, as asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    pub action: Action,
    pub note: &'a str,
    /// Who decides: a `[[web.users]]` name, or the Unix user of the CLI.
    pub actor: &'a str,
    /// `web`, `web-bulk` or `cli`.
    pub via: &'a str,
}

/// Records `request` on the matches `ids`.
///
/// # Errors
/// [`ReviewError::NoSuchMatch`] before anything is written when an id is unknown;
/// [`ReviewError::Store`] when the database fails (nothing is then recorded).
pub fn decide(
    store: &mut Store,
    settings: &Settings,
    ids: &[i64],
    request: &Request<'_>,
    now: DateTime<Utc>,
) -> Result<DecisionReport, ReviewError> {
    let Request {
        action,
        note,
        actor,
        via,
    } = *request;
    let note = note.trim();
    let got = note.chars().count();
    if got > MAX_NOTE_CHARS {
        return Err(ReviewError::NoteTooLong {
            max: MAX_NOTE_CHARS,
            got,
        });
    }
    let mut details = Vec::with_capacity(ids.len());
    for &id in ids {
        details.push(store.find_match(id)?.ok_or(ReviewError::NoSuchMatch(id))?);
    }
    let mut targets: Vec<i64> = ids.to_vec();
    let mut additions = Vec::new();
    let hosts: BTreeSet<&str> = details
        .iter()
        .map(|d| d.summary.copy_host.as_str())
        .collect();
    let list = match action {
        Action::LicensedAddDomain => Some(SiteList::Licensed),
        Action::IgnoreSite => Some(SiteList::Ignored),
        Action::Mark(_) => None,
    };
    if let Some(list) = list {
        for host in &hosts {
            let first = details.iter().find(|d| d.summary.copy_host == *host);
            additions.push(ListAddition {
                list,
                domain: (*host).to_string(),
                match_id: first.map(|d| d.summary.id),
            });
        }
    }
    if action == Action::IgnoreSite {
        for host in &hosts {
            for id in store.site_match_ids(host, Some(ReviewStatus::Unreviewed))? {
                if !targets.contains(&id) {
                    targets.push(id);
                }
            }
        }
    }
    let status = action.status();
    let legal_by_email = settings.contacts.iter().any(|c| c.role == Role::Legal);
    // Chat channels that serve counsel are told of an escalation too (a person decided
    // it, so the containment filters of new matches do not apply).
    let legal_webhooks: Vec<&str> = settings
        .notify
        .webhooks
        .iter()
        .filter(|w| w.roles.contains(&Role::Legal))
        .map(|w| w.name.as_str())
        .collect();
    let has_legal = legal_by_email || !legal_webhooks.is_empty();
    let mut escalations = HashMap::new();
    if status == ReviewStatus::Infringing && has_legal {
        // Counsel needs the evidence file: one missing since the match was found is
        // written now, from the stored capture, if it can be.
        for d in details.iter_mut() {
            if d.evidence_file.is_some() || d.summary.status == ReviewStatus::Infringing.as_str() {
                continue;
            }
            match rebuild_evidence(store, settings, d.summary.id, now) {
                Ok(Some(file)) => {
                    d.evidence_file = Some(file.file_name);
                    d.evidence_sha256 = Some(file.sha256);
                }
                Ok(None) => {}
                Err(ReviewError::Store(e)) => return Err(ReviewError::Store(e)),
                Err(e) => tracing::warn!(
                    error = %e,
                    "escalating without an evidence file"
                ),
            }
        }
        for d in &details {
            if d.summary.status == ReviewStatus::Infringing.as_str() {
                continue;
            }
            let Some(mut facts) = facts_for_match(store, d)? else {
                continue;
            };
            facts.escalation = Some(Escalation {
                decided_by: actor.to_string(),
                decided_at: crate::evidence::utc(now),
                note: note.to_string(),
            });
            let facts_json =
                serde_json::to_string(&facts).map_err(|e| ReviewError::Escalation {
                    id: d.summary.id,
                    message: e.to_string(),
                })?;
            let mut channels = Vec::new();
            if legal_by_email {
                channels.push(Channel::Email);
            }
            channels.extend(
                legal_webhooks
                    .iter()
                    .map(|name| Channel::Webhook((*name).to_string())),
            );
            escalations.insert(
                d.summary.id,
                channels
                    .into_iter()
                    .map(|channel| NewAlert {
                        match_id: Some(d.summary.id),
                        role: Role::Legal,
                        channel,
                        facts_json: facts_json.clone(),
                        evidence_file: d.evidence_file.clone(),
                        evidence_sha256: d.evidence_sha256.clone(),
                    })
                    .collect(),
            );
        }
    }
    let decision = NewDecision {
        status,
        note,
        actor,
        via,
    };
    let crate::store::Decided {
        outcomes,
        domains_added,
    } = store.decide(&targets, &decision, &escalations, &additions, now)?;
    let escalated = outcomes
        .iter()
        .filter(|o| {
            matches!(
                o,
                DecideOutcome::Recorded {
                    escalated: true,
                    ..
                }
            )
        })
        .count();
    Ok(DecisionReport {
        outcomes,
        domains_added,
        escalated,
        no_legal_contact: status == ReviewStatus::Infringing && !has_legal,
    })
}

/// What a report states about a stored match (as the pipeline's alerts do), or `None`
/// when its original is gone from the archive.
///
/// # Errors
/// [`StoreError`] when the database cannot be read.
pub fn facts_for_match(store: &Store, d: &MatchDetail) -> Result<Option<MatchFacts>, StoreError> {
    // The version the copy was compared with, which the passages point into.
    let Some(original) =
        store.find_original_at(&OriginalKey::Id(d.summary.original_id), d.original_version)?
    else {
        return Ok(None);
    };
    let passages: Vec<Passage> = d
        .passages
        .iter()
        .map(|p| Passage {
            original_start: p.original_start,
            original_end: p.original_end,
            candidate_start: p.candidate_start,
            candidate_end: p.candidate_end,
            text: p.text.clone(),
        })
        .collect();
    let (passages, passages_omitted) = MatchFacts::passages_from(&original.text, &passages);
    // Only the hops: the capture's bytes are not needed here.
    let redirects = store
        .capture_redirects(d.capture.id)?
        .map(|json| redirects_of(&json))
        .unwrap_or_default();
    let host = url::Url::parse(&d.capture.final_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| d.summary.copy_host.clone());
    Ok(Some(MatchFacts {
        match_id: Some(d.summary.id),
        original: OriginalFacts::from(original),
        copy: CopyFacts {
            url: d.capture.final_url.clone(),
            host,
            ip: d.summary.remote_ip.clone(),
            captured_at: d.summary.captured_at.clone(),
            title: d.summary.copy_title.clone(),
            redirects,
            archive: store
                .match_archive(d.summary.id)?
                .map(crate::evidence::ArchiveFacts::from),
        },
        verdict: d.summary.verdict.clone(),
        containment: d.summary.containment,
        coverage: d.summary.coverage,
        copied_chars: d.summary.copied_chars,
        licensed: d.summary.licensed,
        passages,
        passages_omitted,
        escalation: None,
        case: None,
        licence: None,
    }))
}

/// Writes the evidence file of a match recorded without one (the file could not be
/// written when the match was found; the capture's bytes were kept for this). The
/// records carry the capture's own times and bytes, so the file proves what it would
/// have proved then; only the `warcinfo` record says when it was written. Returns
/// `None` when the match already has a file (it is never replaced).
///
/// # Errors
/// [`ReviewError::NoSuchMatch`]; [`ReviewError::Evidence`] when the capture cannot be
/// read back or the file cannot be written; [`ReviewError::Store`].
pub fn rebuild_evidence(
    store: &mut Store,
    settings: &Settings,
    id: i64,
    now: DateTime<Utc>,
) -> Result<Option<crate::evidence::EvidenceFile>, ReviewError> {
    let detail = store.find_match(id)?.ok_or(ReviewError::NoSuchMatch(id))?;
    if detail.evidence_file.is_some() {
        return Ok(None);
    }
    let evidence_err = |message: String| ReviewError::Evidence { id, message };
    let record = store
        .capture(detail.capture.id)?
        .ok_or_else(|| evidence_err("its capture is missing".into()))?;
    let capture = capture_from_record(record).map_err(evidence_err)?;
    let facts = facts_for_match(store, &detail)?
        .ok_or_else(|| evidence_err("its original is missing from the archive".into()))?;
    let place = crate::evidence::place::Place::open(&settings.storage)
        .map_err(|e| evidence_err(e.to_string()))?;
    let file = crate::evidence::write_bundle(
        &place,
        &crate::evidence::WarcInfo::for_settings(settings),
        &capture,
        &facts,
        now,
    )
    .map_err(|e| evidence_err(e.to_string()))?;
    if store.set_missing_evidence(id, &file.file_name, &file.sha256)? {
        Ok(Some(file))
    } else {
        // Another process recorded a file meanwhile; ours is an unreferenced extra copy,
        // never an overwrite.
        Ok(None)
    }
}

/// What [`rebuild_missing_evidence`] did.
#[derive(Debug, Default)]
pub struct EvidenceRebuild {
    /// Files written, by match id.
    pub written: Vec<(i64, crate::evidence::EvidenceFile)>,
    /// Matches whose file still cannot be written, with why.
    pub failed: Vec<(i64, String)>,
}

/// [`rebuild_evidence`] for up to `limit` matches still without a file, oldest first.
///
/// # Errors
/// [`StoreError`] when the database fails.
pub fn rebuild_missing_evidence(
    store: &mut Store,
    settings: &Settings,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<EvidenceRebuild, StoreError> {
    let mut done = EvidenceRebuild::default();
    for id in store.matches_without_evidence(limit)? {
        match rebuild_evidence(store, settings, id, now) {
            Ok(Some(file)) => done.written.push((id, file)),
            Ok(None) => {}
            Err(ReviewError::Store(e)) => return Err(e),
            Err(e) => done.failed.push((id, e.to_string())),
        }
    }
    Ok(done)
}

/// The redirects a stored capture followed, from its `redirects_json`. A damaged record
/// only loses the chain (the evidence file has the capture itself).
pub fn redirects_of(redirects_json: &str) -> Vec<RedirectFacts> {
    stored_hops(redirects_json)
        .map(|hops| hops.iter().map(RedirectFacts::from_hop).collect())
        .unwrap_or_default()
}

fn parse_url(text: &str) -> Result<url::Url, String> {
    url::Url::parse(text).map_err(|e| format!("stored URL {text:?}: {e}"))
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("stored time {text:?}: {e}"))
}

/// The redirect hops as `store` keeps them (JSON written by `insert_capture`).
fn stored_hops(json: &str) -> Result<Vec<crate::crawl::fetch::RedirectHop>, String> {
    #[derive(serde::Deserialize)]
    struct Hop {
        url: String,
        status: u16,
        location: String,
        remote_addr: Option<String>,
        at: String,
    }
    let hops: Vec<Hop> =
        serde_json::from_str(json).map_err(|e| format!("stored redirects: {e}"))?;
    hops.into_iter()
        .map(|h| {
            Ok(crate::crawl::fetch::RedirectHop {
                url: parse_url(&h.url)?,
                status: h.status,
                location: h.location,
                remote_addr: h.remote_addr.and_then(|a| a.parse().ok()),
                at: parse_time(&h.at)?,
            })
        })
        .collect()
}

/// A stored capture back as the fetcher produced it, for the evidence writer.
fn capture_from_record(record: CaptureRecord) -> Result<crate::crawl::fetch::Capture, String> {
    let redirects = stored_hops(&record.redirects_json)?;
    let remote_addr = match (&record.remote_ip, record.remote_port) {
        (Some(ip), Some(port)) => ip
            .parse::<std::net::IpAddr>()
            .ok()
            .map(|ip| std::net::SocketAddr::new(ip, port)),
        _ => None,
    };
    Ok(crate::crawl::fetch::Capture {
        requested_url: parse_url(&record.requested_url)?,
        final_url: parse_url(&record.final_url)?,
        redirects,
        remote_addr,
        request_head: record.request_head,
        status: record.status,
        response_head: record.response_head,
        content_type: record.content_type,
        content_encoding: record.content_encoding,
        raw_body: record.raw_body,
        decoded_body: None,
        body_sha256: record.body_sha256,
        truncated: false,
        validators: crate::crawl::fetch::Validators::default(),
        started_at: parse_time(&record.started_at)?,
        finished_at: parse_time(&record.finished_at)?,
        // The store keeps the exchange, not how the network looked: a rebuilt file's
        // provenance says so by its empty DNS and TLS facts.
        network: Default::default(),
    })
}

/// The copy's title and text as the pipeline examined them: the stored body decoded and
/// extracted again (extraction is deterministic, so passage offsets point into it).
///
/// # Errors
/// A message when the stored body cannot be decoded.
pub fn copy_text(capture: &CaptureRecord) -> Result<(String, String), String> {
    let body = crate::crawl::fetch::decode_stored_body(
        capture.content_encoding.as_deref(),
        &capture.raw_body,
        MAX_DECODED_BYTES,
    )?;
    let extracted = crate::extract::extract(&body, capture.content_type.as_deref());
    Ok((extracted.title, extracted.text))
}

/// The draft takedown notice for a match, as plain text in the outlet's language (the
/// same text counsel receives with an alert).
pub fn takedown_text(settings: &Settings, d: &MatchDetail, facts: MatchFacts) -> String {
    let item = ReportItem {
        facts,
        evidence: match (&d.evidence_file, &d.evidence_sha256) {
            (Some(file_name), Some(sha256)) => Some(EvidenceRef {
                file_name: file_name.clone(),
                sha256: sha256.clone(),
            }),
            _ => None,
        },
    };
    crate::notify::report::notice_text(&item, &settings.outlet, &settings.contacts)
}

/// Where an archived match's evidence came from and which capture is primary, as
/// `matches show` and the desk's match page state it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Provenance {
    /// The WARC file's path or URL, as given to `scan-warc` (stranger-controlled when it
    /// came from a listing: escape it, link it only when it is http(s)).
    pub source: String,
    /// Byte offset of the record (its gzip member) in the file.
    pub offset: u64,
    /// The record's length in the file; `None` when it shares a gzip member.
    pub length: Option<u64>,
    /// Its `WARC-Record-ID` (stranger-controlled).
    pub record_id: Option<String>,
    /// `live` (copyhound's own capture of the live page) or `archived` (the third
    /// party's; the live capture is pending).
    pub primary: &'static str,
    /// When copyhound captured the live page.
    pub live_captured_at: Option<String>,
    /// The evidence file keeping the archived record, and its SHA-256.
    pub archived_evidence_file: Option<String>,
    pub archived_evidence_sha256: Option<String>,
    /// The live capture's evidence file, and its SHA-256 (once captured).
    pub live_evidence_file: Option<String>,
    pub live_evidence_sha256: Option<String>,
}

impl Provenance {
    /// The provenance of match `d`, found in an archive as `a`.
    pub fn of(d: &MatchDetail, a: MatchArchive) -> Provenance {
        let live = a.live_captured_at.is_some();
        let (archived_file, archived_sha, live_file, live_sha) = if live {
            (
                a.archive_evidence_file,
                a.archive_evidence_sha256,
                d.evidence_file.clone(),
                d.evidence_sha256.clone(),
            )
        } else {
            (
                d.evidence_file.clone(),
                d.evidence_sha256.clone(),
                None,
                None,
            )
        };
        Provenance {
            source: a.archive.source,
            offset: a.archive.offset,
            length: a.archive.length,
            record_id: a.archive.record_id,
            primary: if live { "live" } else { "archived" },
            live_captured_at: a.live_captured_at,
            archived_evidence_file: archived_file,
            archived_evidence_sha256: archived_sha,
            live_evidence_file: live_file,
            live_evidence_sha256: live_sha,
        }
    }

    /// Whether the live capture is the primary evidence.
    pub fn live_is_primary(&self) -> bool {
        self.primary == "live"
    }
}

/// The provenance of match `d` when it was found in a web archive.
///
/// # Errors
/// [`StoreError`] when the database cannot be read.
pub fn provenance(store: &Store, d: &MatchDetail) -> Result<Option<Provenance>, StoreError> {
    Ok(store
        .match_archive(d.summary.id)?
        .map(|a| Provenance::of(d, a)))
}
