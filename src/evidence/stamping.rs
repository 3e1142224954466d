//! The timestamp queue's worker: finds evidence files without a token, asks the
//! time-stamp authorities ([`super::timestamp::request`]), writes `<file>.tsr` beside
//! each file and records the token in the store; a TSA that is down or refuses leaves
//! the file queued with a growing wait (`[evidence] tsa_retry` doubling up to
//! `tsa_retry_max`). Both the daemon (`copyhound run`, every few seconds) and
//! `copyhound timestamp-pending` run [`stamp_pending`].
//!
//! Exactly one token per file: the `.tsr` is created without overwriting
//! ([`Place::create`]: a hard link from a synced temporary file in a folder, a
//! conditional create in a bucket, each refused if the name exists), and a `.tsr` already
//! present (a crash between writing it and recording it) is verified and recorded
//! instead of asking again. The store's row is updated only while still `pending`.
//!
//! What survives a crash: a file is queued once its match (or re-check) is recorded,
//! since the queue is filled from those rows; a token is durable once its `.tsr` is
//! linked, and recorded once [`Store::record_timestamp`] returns.

use std::path::Path;

use chrono::{DateTime, NaiveDateTime, Utc};
use sha2::{Digest, Sha256};

use super::place::{Place, PlaceError};
use super::timestamp::{self, TimestampError, Token, TokenInfo, TsaClient};
use super::MAX_EVIDENCE_BYTES;
use crate::config::EvidenceSettings;
use crate::store::{EvidenceTimestamp, StampedToken, Store, StoreError};

/// Files timestamped per pass at most, so a backlog cannot hold the daemon's loop for
/// long between shutdown checks.
pub const MAX_PER_PASS: usize = 50;

/// When an evidence file was written, from the time at the start of its name
/// (`20261126T082438.123Z-m42-host.warc.gz`, see `file_stem`).
pub fn written_at_from_name(file_name: &str) -> Option<DateTime<Utc>> {
    let stem = file_name.split('-').next()?;
    NaiveDateTime::parse_from_str(stem, "%Y%m%dT%H%M%S%.3fZ")
        .ok()
        .map(|t| t.and_utc())
}

/// The wait before the next round after `attempts` failed rounds: `retry` doubled per
/// failure after the first, at most `retry_max`.
pub fn backoff(settings: &EvidenceSettings, attempts: u32) -> std::time::Duration {
    let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(30));
    settings
        .tsa_retry
        .checked_mul(factor)
        .unwrap_or(settings.tsa_retry_max)
        .min(settings.tsa_retry_max)
}

/// What one pass did.
#[derive(Debug, Default)]
pub struct StampPass {
    /// Files newly put in the queue.
    pub queued: usize,
    /// Files that got their token: name and what the token says, with the delay in
    /// seconds since the file was written.
    pub stamped: Vec<(String, TokenInfo, i64)>,
    /// Files whose round failed, with why; they stay queued.
    pub failed: Vec<(String, String)>,
}

/// Why a pass could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum StampError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Timestamp(#[from] TimestampError),
}

/// Queues new evidence files and requests the tokens due, at most [`MAX_PER_PASS`].
///
/// # Errors
/// [`StampError`] when the store fails; a TSA's failure is recorded per file, not
/// returned.
pub async fn stamp_pending(
    store: &mut Store,
    place: &Place,
    settings: &EvidenceSettings,
    client: &TsaClient,
) -> Result<StampPass, StampError> {
    let mut pass = StampPass {
        queued: store.queue_evidence_timestamps(Utc::now(), written_at_from_name)?,
        ..StampPass::default()
    };
    for row in store.due_timestamps(Utc::now(), MAX_PER_PASS)? {
        match stamp_one(place, &row, client).await {
            Ok(token) => {
                let written = DateTime::parse_from_rfc3339(&row.written_at)
                    .map(|t| t.with_timezone(&Utc))
                    .unwrap_or(token.info.gen_time);
                let delay = (token.info.gen_time - written).num_seconds();
                let recorded = store.record_timestamp(
                    row.id,
                    &StampedToken {
                        tsa_url: &token.tsa_url,
                        token: &token.response_der,
                        gen_time: token.info.gen_time,
                        serial: &token.info.serial,
                        tsa_name: &token.info.tsa_name,
                        delay_seconds: delay,
                    },
                    Utc::now(),
                )?;
                if recorded {
                    tracing::info!(
                        file = %row.file_name,
                        tsa = %token.tsa_url,
                        gen_time = %token.info.gen_time,
                        delay_seconds = delay,
                        "evidence timestamped"
                    );
                    pass.stamped
                        .push((row.file_name.clone(), token.info, delay));
                }
            }
            Err(e) => {
                let wait = backoff(settings, row.attempts + 1);
                let next = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
                tracing::warn!(
                    file = %row.file_name,
                    attempts = row.attempts + 1,
                    retry_in = %humantime::format_duration(wait),
                    error = %e,
                    "evidence not timestamped yet"
                );
                store.record_timestamp_failure(row.id, &e.to_string(), next)?;
                pass.failed.push((row.file_name.clone(), e.to_string()));
                // The TSAs just failed one file; the rest would most likely wait out the
                // same timeouts. They stay due and are tried in the next passes, each
                // getting its own backoff once it fails.
                if matches!(e, OneError::Timestamp(_)) {
                    break;
                }
            }
        }
    }
    Ok(pass)
}

/// Why one file could not be stamped in this round.
#[derive(Debug, thiserror::Error)]
enum OneError {
    #[error("{0}")]
    Timestamp(#[from] TimestampError),
    #[error("{path}: {message}")]
    File { path: String, message: String },
}

/// One file: its `.tsr` if one is already there and verifies, else a new token written
/// to `.tsr`.
async fn stamp_one(
    place: &Place,
    row: &EvidenceTimestamp,
    client: &TsaClient,
) -> Result<Token, OneError> {
    let file_err = |what: String, message: String| OneError::File {
        path: what,
        message,
    };
    // The file name comes from the database; a name with a path in it is not ours.
    if !super::place::plain_name(&row.file_name) {
        return Err(file_err(
            place.location(""),
            format!("unsafe file name {:?}", row.file_name),
        ));
    }
    let location = place.location(&row.file_name);
    let bytes = place
        .read(&row.file_name, MAX_EVIDENCE_BYTES)
        .map_err(|e| file_err(location.clone(), e.to_string()))?
        .ok_or_else(|| file_err(location.clone(), "not found".into()))?;
    let digest: [u8; 32] = Sha256::digest(&bytes).into();
    if hex::encode(digest) != row.sha256 {
        // The token would date a file that is not the one recorded: refuse, and let
        // verify-evidence name the alteration.
        return Err(file_err(
            location,
            format!(
                "sha256 {} differs from {} recorded when it was written: not timestamped",
                hex::encode(digest),
                row.sha256
            ),
        ));
    }
    let tsr = tsr_name(&row.file_name);
    let read_tsr = || {
        place
            .read(&tsr, super::inspect::MAX_TOKEN_BYTES)
            .map_err(|e| file_err(place.location(&tsr), e.to_string()))
    };
    if let Some(existing) = read_tsr()? {
        // A token written before a crash: record it rather than ask for a second.
        let url = row.tsa_url.as_deref().unwrap_or("(recovered .tsr)");
        return Ok(timestamp::verify_response(
            &existing,
            &digest,
            &client.anchors,
            url,
        )?);
    }
    let token = timestamp::request(client, &digest).await?;
    match place.create(&tsr, &token.response_der) {
        Ok(()) => Ok(token),
        // Another process (the daemon and `timestamp-pending` at once, or two machines)
        // created its token first: that one is the file's token, and this one is
        // dropped unrecorded.
        Err(PlaceError::Exists(_)) => {
            let existing = read_tsr()?.ok_or_else(|| {
                file_err(place.location(&tsr), "vanished after it existed".into())
            })?;
            Ok(timestamp::verify_response(
                &existing,
                &digest,
                &client.anchors,
                &token.tsa_url,
            )?)
        }
        Err(e) => Err(file_err(place.location(&tsr), e.to_string())),
    }
}

/// The `.tsr` file beside an evidence file in a folder.
pub fn tsr_path(evidence_file: &Path) -> std::path::PathBuf {
    let mut name = evidence_file.as_os_str().to_os_string();
    name.push(".tsr");
    std::path::PathBuf::from(name)
}

/// The name of an evidence file's token: `FILE.tsr`.
pub fn tsr_name(file_name: &str) -> String {
    format!("{file_name}.tsr")
}

/// The SHA-256 of a file, read in bounded chunks.
pub fn file_digest(path: &Path) -> Result<[u8; 32], String> {
    let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = std::io::Read::read(&mut file, &mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().into())
}

/// What `verify-evidence` found about an evidence file's timestamp.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TimestampCheck {
    /// Where the token was read: the `.tsr` file's path, or `store` when only the
    /// database holds it. `None` when there is no token.
    pub source: Option<String>,
    /// What the verified token says.
    pub info: Option<TokenInfo>,
    /// Seconds from the file's writing to the TSA's time, when known.
    pub delay_seconds: Option<i64>,
    /// Why the token does not verify; the command then fails.
    pub error: Option<String>,
    /// Remarks that do not fail the check (pending, no trust anchors, expired since).
    pub notes: Vec<String>,
}

/// Checks the token of the evidence file `name` in `place` whose bytes hash to
/// `digest`: the `.tsr` beside it, else the token the store recorded (`stored`), against `anchors`.
/// `row` is the store's queue row, for the delay and the pending state. `None` when
/// there is no token and the file was never queued (timestamps were off).
pub fn check_timestamp(
    place: &Place,
    name: &str,
    digest: &[u8; 32],
    anchors: Option<&timestamp::TrustAnchors>,
    stored: Option<Vec<u8>>,
    row: Option<&EvidenceTimestamp>,
    now: DateTime<Utc>,
) -> Option<TimestampCheck> {
    let mut check = TimestampCheck {
        source: None,
        info: None,
        delay_seconds: None,
        error: None,
        notes: Vec::new(),
    };
    let tsr = place.location(&tsr_name(name));
    let (bytes, source) = match place.read(&tsr_name(name), super::inspect::MAX_TOKEN_BYTES) {
        Ok(Some(b)) => (b, tsr),
        Ok(None) | Err(_) => match stored {
            Some(b) => {
                check.notes.push(format!(
                    "{tsr} is missing; the token recorded in the store is checked"
                ));
                (b, "store".to_string())
            }
            None => {
                let r = row?;
                check.notes.push(if r.state == "pending" {
                    format!(
                        "not timestamped yet: queued since {}, {} attempt(s){}",
                        r.queued_at,
                        r.attempts,
                        r.last_error
                            .as_deref()
                            .map(|e| format!(", last error: {e}"))
                            .unwrap_or_default()
                    )
                } else {
                    "the token recorded for this file is missing from the store and beside it"
                        .into()
                });
                return Some(check);
            }
        },
    };
    check.source = Some(source);
    let Some(anchors) = anchors else {
        check.notes.push(
            "token not verified: no trust anchors (--tsa-ca FILE or [evidence] tsa_ca_file)".into(),
        );
        return Some(check);
    };
    match timestamp::verify(&bytes, digest, anchors) {
        Ok(info) => {
            let written = row
                .and_then(|r| DateTime::parse_from_rfc3339(&r.written_at).ok())
                .map(|t| t.with_timezone(&Utc))
                .or_else(|| written_at_from_name(name));
            check.delay_seconds = row
                .and_then(|r| r.delay_seconds)
                .or_else(|| written.map(|w| (info.gen_time - w).num_seconds()));
            if info.signer_not_after < now {
                check.notes.push(format!(
                    "the TSA certificate expired on {}: the token was valid at its time, but verifiers that check at the present time (openssl ts -verify) reject it; re-timestamp it (README: Trusted timestamps)",
                    super::utc(info.signer_not_after)
                ));
            }
            check.info = Some(info);
        }
        Err(e) => check.error = Some(e.to_string()),
    }
    Some(check)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn written_time_comes_from_the_name() {
        let t = written_at_from_name("20261126T082438.123Z-m42-copier.example.warc.gz").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-26T08:24:38.123+00:00");
        assert_eq!(written_at_from_name("evil.warc.gz"), None);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let s = EvidenceSettings {
            tsa_retry: Duration::from_secs(60),
            tsa_retry_max: Duration::from_secs(300),
            ..EvidenceSettings::default()
        };
        let waits: Vec<u64> = (1..=6).map(|a| backoff(&s, a).as_secs()).collect();
        assert_eq!(waits, [60, 120, 240, 300, 300, 300]);
        assert_eq!(backoff(&s, u32::MAX).as_secs(), 300);
    }

    #[test]
    fn tsr_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let place = Place::Dir(dir.path().to_path_buf());
        let name = tsr_name("a.warc.gz");
        place.create(&name, b"one").unwrap();
        assert!(matches!(
            place.create(&name, b"two"),
            Err(PlaceError::Exists(_))
        ));
        assert_eq!(std::fs::read(dir.path().join(&name)).unwrap(), b"one");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
