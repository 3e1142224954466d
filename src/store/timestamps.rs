//! The trusted-timestamp queue (table `evidence_timestamps`): which evidence files still
//! wait for their RFC 3161 token, and the token, TSA, time and delay of those that have
//! one. `evidence::stamping` drives it; this module only reads and writes rows.

use crate::store::sql::{params, OptionalExtension};
use chrono::{DateTime, Utc};

use super::{begin_write, timestamp, Store, StoreError};

/// Files queued per call of [`Store::queue_evidence_timestamps`], so that turning
/// timestamps on over a large archive spreads the work over several passes.
pub const MAX_QUEUED_PER_PASS: usize = 1000;

/// One evidence file's timestamp row (without the token bytes; see
/// [`Store::timestamp_token`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EvidenceTimestamp {
    pub id: i64,
    /// The file's name in the evidence folder.
    pub file_name: String,
    /// The SHA-256 recorded when the file was written: the digest the token covers.
    pub sha256: String,
    /// When the file was written (RFC 3339).
    pub written_at: String,
    pub queued_at: String,
    /// `pending` or `done`.
    pub state: String,
    /// Rounds of requests made (each round asks every configured TSA in order).
    pub attempts: u32,
    pub next_attempt_at: String,
    /// Why the last round failed.
    pub last_error: Option<String>,
    pub tsa_url: Option<String>,
    /// The TSA's time (RFC 3339).
    pub gen_time: Option<String>,
    /// The token's serial, hex.
    pub serial: Option<String>,
    pub tsa_name: Option<String>,
    /// `gen_time` minus `written_at`, in seconds.
    pub delay_seconds: Option<i64>,
    /// When copyhound recorded the token.
    pub stamped_at: Option<String>,
}

/// A checked token to record for a file.
#[derive(Debug, Clone, Copy)]
pub struct StampedToken<'a> {
    pub tsa_url: &'a str,
    /// The DER `TimeStampResp`, as in the `.tsr` file.
    pub token: &'a [u8],
    pub gen_time: DateTime<Utc>,
    pub serial: &'a str,
    pub tsa_name: &'a str,
    pub delay_seconds: i64,
}

const COLUMNS: &str = "id, file_name, sha256, written_at, queued_at, state, attempts,
    next_attempt_at, last_error, tsa_url, gen_time, serial, tsa_name, delay_seconds, stamped_at";

fn row(r: &crate::store::sql::Row) -> crate::store::sql::Result<EvidenceTimestamp> {
    Ok(EvidenceTimestamp {
        id: r.get(0)?,
        file_name: r.get(1)?,
        sha256: r.get(2)?,
        written_at: r.get(3)?,
        queued_at: r.get(4)?,
        state: r.get(5)?,
        attempts: u32::try_from(r.get::<_, i64>(6)?).unwrap_or(u32::MAX),
        next_attempt_at: r.get(7)?,
        last_error: r.get(8)?,
        tsa_url: r.get(9)?,
        gen_time: r.get(10)?,
        serial: r.get(11)?,
        tsa_name: r.get(12)?,
        delay_seconds: r.get(13)?,
        stamped_at: r.get(14)?,
    })
}

impl Store {
    /// Queues every evidence file the database knows (a match's file, its archived
    /// capture's file, a case re-check's file) that is not queued yet, at most
    /// [`MAX_QUEUED_PER_PASS`]; `written_at` tells when a file was written (from its
    /// name), `now` is used when it cannot. Returns how many were queued.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    pub fn queue_evidence_timestamps(
        &mut self,
        now: DateTime<Utc>,
        written_at: impl Fn(&str) -> Option<DateTime<Utc>>,
    ) -> Result<usize, StoreError> {
        let path = self.path.clone();
        let err = |source| StoreError::Db {
            path: path.clone(),
            source,
        };
        let tx = begin_write(&mut self.conn).map_err(err)?;
        let files: Vec<(String, String)> = {
            let mut stmt = tx
                .prepare(
                    "SELECT f, s FROM (
                         SELECT evidence_file AS f, evidence_sha256 AS s FROM matches
                         UNION SELECT archive_evidence_file, archive_evidence_sha256 FROM matches
                         UNION SELECT evidence_file, evidence_sha256 FROM case_events) AS files
                     WHERE f IS NOT NULL AND s IS NOT NULL
                       AND f NOT IN (SELECT file_name FROM evidence_timestamps)
                     LIMIT ?1",
                )
                .map_err(err)?;
            let rows = stmt
                .query_map(params![MAX_QUEUED_PER_PASS as i64], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .map_err(err)?;
            rows.collect::<Result<_, _>>().map_err(err)?
        };
        let now_text = timestamp(now);
        for (file, sha256) in &files {
            let written = written_at(file).unwrap_or(now);
            tx.execute(
                "INSERT INTO evidence_timestamps
                     (file_name, sha256, written_at, queued_at, next_attempt_at)
                 VALUES (?1, ?2, ?3, ?4, ?4)
                 ON CONFLICT DO NOTHING",
                params![file, sha256, timestamp(written), now_text],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(files.len())
    }

    /// Pending files whose next attempt is due at `now`, longest waiting first.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    pub fn due_timestamps(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<EvidenceTimestamp>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM evidence_timestamps
                 WHERE state = 'pending' AND next_attempt_at <= ?1
                 ORDER BY next_attempt_at, id LIMIT ?2"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![timestamp(now), limit as i64], row)
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Records the token of a pending file. False when the row was already done (another
    /// process stamped it meanwhile): the caller's token is then not recorded.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    pub fn record_timestamp(
        &mut self,
        id: i64,
        token: &StampedToken<'_>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let changed = self
            .conn
            .execute(
                "UPDATE evidence_timestamps SET state = 'done', attempts = attempts + 1,
                     last_error = NULL, tsa_url = ?2, token = ?3, gen_time = ?4, serial = ?5,
                     tsa_name = ?6, delay_seconds = ?7, stamped_at = ?8
                 WHERE id = ?1 AND state = 'pending'",
                params![
                    id,
                    token.tsa_url,
                    token.token,
                    timestamp(token.gen_time),
                    token.serial,
                    token.tsa_name,
                    token.delay_seconds,
                    timestamp(now)
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(changed == 1)
    }

    /// Records a failed round for a pending file and when to try again.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    pub fn record_timestamp_failure(
        &mut self,
        id: i64,
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let error: String = error.chars().take(1000).collect();
        self.conn
            .execute(
                "UPDATE evidence_timestamps SET attempts = attempts + 1, last_error = ?2,
                     next_attempt_at = ?3
                 WHERE id = ?1 AND state = 'pending'",
                params![id, error, timestamp(next_attempt_at)],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The timestamp row of an evidence file, if it was ever queued.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    pub fn evidence_timestamp(
        &self,
        file_name: &str,
    ) -> Result<Option<EvidenceTimestamp>, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM evidence_timestamps WHERE file_name = ?1"),
                params![file_name],
                row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The recorded token (DER `TimeStampResp`) of an evidence file.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    pub fn timestamp_token(&self, file_name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.conn
            .query_row(
                "SELECT token FROM evidence_timestamps WHERE file_name = ?1 AND token IS NOT NULL",
                params![file_name],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// (pending, done) counts of the queue.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    pub fn timestamp_counts(&self) -> Result<(u64, u64), StoreError> {
        self.conn
            .query_row(
                "SELECT COALESCE(SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN state = 'done' THEN 1 ELSE 0 END), 0)
                 FROM evidence_timestamps",
                [],
                |r| {
                    Ok((
                        u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                        u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                    ))
                },
            )
            .map_err(|e| self.err(e))
    }
}

impl Store {
    /// Makes every pending file due now (`timestamp-pending --now`).
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    pub fn retry_timestamps_now(&mut self) -> Result<usize, StoreError> {
        self.conn
            .execute(
                "UPDATE evidence_timestamps SET next_attempt_at = ?1 WHERE state = 'pending'",
                params![timestamp(Utc::now())],
            )
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Verdict;
    use crate::store::matches::tests::{capture, new_match, original};
    use crate::store::MatchEvidence;

    #[test]
    fn evidence_files_are_queued_once_retried_and_stamped_once() {
        crate::store::testdb::on_both(|| {
            let dir = tempfile::tempdir().unwrap();
            let mut store = crate::store::testdb::open(dir.path()).unwrap();
            let id = original(&mut store, "https://news.example/1");
            store
                .record_matches_with(
                    &capture(b"page"),
                    &[new_match(id, Verdict::Copy, false)],
                    Utc::now(),
                    &mut |_, _| MatchEvidence {
                        evidence_file: Some(
                            "20261126T080000.250Z-m1-copier.example.warc.gz".into(),
                        ),
                        evidence_sha256: Some("ab".into()),
                        alerts: Vec::new(),
                    },
                )
                .unwrap();
            let t0 = Utc::now();
            let written = |name: &str| crate::evidence::stamping::written_at_from_name(name);
            assert_eq!(store.queue_evidence_timestamps(t0, written).unwrap(), 1);
            assert_eq!(store.queue_evidence_timestamps(t0, written).unwrap(), 0);
            let due = store.due_timestamps(t0, 10).unwrap();
            assert_eq!(due.len(), 1);
            let row = &due[0];
            assert_eq!(row.written_at, "2026-11-26T08:00:00Z");
            assert_eq!((row.state.as_str(), row.attempts), ("pending", 0));

            // A failed round: not due until its next attempt.
            let later = t0 + chrono::Duration::seconds(60);
            store
                .record_timestamp_failure(row.id, "tsa down", later)
                .unwrap();
            assert!(store.due_timestamps(t0, 10).unwrap().is_empty());
            let again = store.due_timestamps(later, 10).unwrap();
            assert_eq!(again[0].attempts, 1);
            assert_eq!(again[0].last_error.as_deref(), Some("tsa down"));

            let token = StampedToken {
                tsa_url: "http://tsa.example/",
                token: b"der",
                gen_time: later,
                serial: "0a",
                tsa_name: "CN=TSA",
                delay_seconds: 42,
            };
            assert!(store.record_timestamp(row.id, &token, later).unwrap());
            assert!(
                !store.record_timestamp(row.id, &token, later).unwrap(),
                "a done row is never stamped again"
            );
            let done = store
                .evidence_timestamp("20261126T080000.250Z-m1-copier.example.warc.gz")
                .unwrap()
                .unwrap();
            assert_eq!((done.state.as_str(), done.attempts), ("done", 2));
            assert_eq!(done.delay_seconds, Some(42));
            assert_eq!(done.last_error, None);
            assert_eq!(
                store
                    .timestamp_token("20261126T080000.250Z-m1-copier.example.warc.gz")
                    .unwrap()
                    .as_deref(),
                Some(&b"der"[..])
            );
            assert_eq!(store.timestamp_counts().unwrap(), (0, 1));
            assert!(store.due_timestamps(later, 10).unwrap().is_empty());
        });
    }
}
