//! The queue of archive files that `copyhound worker` processes share out (table
//! `warc_queue`): `scan-warc --enqueue` fills it, each worker claims one file at a time
//! with a lease, renews the lease while it scans, and marks the file done or failed.
//!
//! The lease invariant: a file is scanned by at most one live worker at a time. A claim
//! takes a file that is queued or whose lease has expired, in one transaction; on
//! PostgreSQL the candidate row is read `FOR UPDATE SKIP LOCKED`, so concurrent claims
//! never pick the same row (the store's write lock already serialises them; the row lock
//! is what keeps that true should claims ever run without it), and on SQLite the single
//! writer does the same. Renewing, finishing and releasing are conditional on the row
//! still being leased to the same worker, so a worker whose lease expired (and whose file
//! another worker took) learns it at its next renewal and stops, and can never mark the
//! other's file done. A file taken over mid-way resumes from `warc_files`' checkpoint;
//! what the dead worker read after it is read again, and a match found twice is
//! recorded once.

use chrono::{DateTime, Utc};

use crate::store::sql::{params, OptionalExtension};

use super::{begin_write, timestamp, Store, StoreError};

/// Failed entries listed by [`Store::queue_status`] at most (all are counted).
const MAX_LISTED: i64 = 1000;

/// A file claimed by a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The file's path or URL as enqueued.
    pub source: String,
    /// This claim's number (1 for the first).
    pub attempt: u32,
}

/// Files in each state.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct QueueCounts {
    pub queued: u64,
    pub in_progress: u64,
    pub done: u64,
    pub failed: u64,
}

/// A file in progress or failed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QueueEntry {
    pub source: String,
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<String>,
    /// The lease ran out: the worker is presumed dead and the next claim takes the file.
    pub lease_expired: bool,
    /// Where a scan of the file would resume (`warc_files`).
    pub resume_offset: u64,
    pub records: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What `copyhound queue status` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct QueueStatus {
    pub counts: QueueCounts,
    /// Files leased to a worker, by worker then file.
    pub in_progress: Vec<QueueEntry>,
    /// Failed files with their reasons (the first [`MAX_LISTED`]).
    pub failed: Vec<QueueEntry>,
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl Store {
    /// Adds `sources` to the queue; a file already queued (in any state) is left as it
    /// is. Returns how many were new.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written.
    pub fn enqueue_warc(
        &mut self,
        sources: &[String],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let now = timestamp(now);
        let path = self.path.clone();
        let err = |source| StoreError::Db {
            path: path.clone(),
            source,
        };
        let tx = begin_write(&mut self.conn).map_err(err)?;
        let mut added = 0;
        for source in sources {
            added += tx
                .execute(
                    "INSERT INTO warc_queue (source, state, enqueued_at, updated_at)
                     VALUES (?1, 'queued', ?2, ?2) ON CONFLICT (source) DO NOTHING",
                    params![source, now],
                )
                .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(added)
    }

    /// Claims the oldest file that is queued or whose lease expired, leasing it to
    /// `worker` until `lease_until`. A file whose lease expired after `max_attempts`
    /// claims is marked failed instead (its workers keep dying on it). `None` when
    /// there is nothing to claim.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written.
    pub fn claim_warc(
        &mut self,
        worker: &str,
        lease_until: DateTime<Utc>,
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<Option<Claim>, StoreError> {
        let now = timestamp(now);
        let until = timestamp(lease_until);
        let lock = if self.conn.is_postgres() {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let path = self.path.clone();
        let err = |source| StoreError::Db {
            path: path.clone(),
            source,
        };
        let tx = begin_write(&mut self.conn).map_err(err)?;
        tx.execute(
            "UPDATE warc_queue SET state = 'failed', worker = NULL, lease_until = NULL,
               reason = 'the lease expired on every attempt (the worker died or hung)',
               updated_at = ?1, finished_at = ?1
             WHERE state = 'leased' AND lease_until < ?1 AND attempts >= ?2",
            params![now, i64::from(max_attempts)],
        )
        .map_err(err)?;
        let picked = tx
            .query_row(
                &format!(
                    "SELECT id, source, attempts FROM warc_queue
                     WHERE state = 'queued' OR (state = 'leased' AND lease_until < ?1)
                     ORDER BY id LIMIT 1{lock}"
                ),
                params![now],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                },
            )
            .optional()
            .map_err(err)?;
        let Some((id, source, attempts)) = picked else {
            tx.commit().map_err(err)?;
            return Ok(None);
        };
        tx.execute(
            "UPDATE warc_queue SET state = 'leased', worker = ?2, lease_until = ?3,
               attempts = attempts + 1, updated_at = ?4
             WHERE id = ?1",
            params![id, worker, until, now],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(Some(Claim {
            source,
            attempt: u32::try_from(attempts + 1).unwrap_or(u32::MAX),
        }))
    }

    /// Extends `worker`'s lease on `source`; `false` when the lease is no longer its
    /// (it expired and another worker took the file, or the file was finished).
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written.
    pub fn renew_warc_lease(
        &self,
        source: &str,
        worker: &str,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.conn
            .execute(
                "UPDATE warc_queue SET lease_until = ?3, updated_at = ?4
                 WHERE source = ?1 AND worker = ?2 AND state = 'leased'",
                params![source, worker, timestamp(lease_until), timestamp(now)],
            )
            .map(|n| n == 1)
            .map_err(|e| self.sqlite_error(e))
    }

    /// Marks `source` done (`failure` `None`) or, after a failed attempt, queued again
    /// with the reason, or failed for good once `max_attempts` claims have failed.
    /// `false` when the lease was no longer `worker`'s (nothing changed).
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written.
    pub fn finish_warc(
        &self,
        source: &str,
        worker: &str,
        failure: Option<&str>,
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let now = timestamp(now);
        let changed = match failure {
            None => self.conn.execute(
                "UPDATE warc_queue SET state = 'done', worker = NULL, lease_until = NULL,
                   reason = NULL, updated_at = ?3, finished_at = ?3
                 WHERE source = ?1 AND worker = ?2 AND state = 'leased'",
                params![source, worker, now],
            ),
            Some(reason) => self.conn.execute(
                "UPDATE warc_queue SET
                   state = CASE WHEN attempts >= ?4 THEN 'failed' ELSE 'queued' END,
                   finished_at = CASE WHEN attempts >= ?4 THEN ?3 ELSE NULL END,
                   worker = NULL, lease_until = NULL, reason = ?5, updated_at = ?3
                 WHERE source = ?1 AND worker = ?2 AND state = 'leased'",
                params![source, worker, now, i64::from(max_attempts), reason],
            ),
        };
        changed.map(|n| n == 1).map_err(|e| self.sqlite_error(e))
    }

    /// Gives `source` back to the queue without counting the attempt (a worker asked to
    /// stop); `false` when the lease was no longer `worker`'s.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written.
    pub fn release_warc(
        &self,
        source: &str,
        worker: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.conn
            .execute(
                "UPDATE warc_queue SET state = 'queued', worker = NULL, lease_until = NULL,
                   attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,
                   updated_at = ?3
                 WHERE source = ?1 AND worker = ?2 AND state = 'leased'",
                params![source, worker, timestamp(now)],
            )
            .map(|n| n == 1)
            .map_err(|e| self.sqlite_error(e))
    }

    /// Files in each state.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn queue_counts(&self) -> Result<QueueCounts, StoreError> {
        let rows = self
            .conn
            .query_map(
                "SELECT state, COUNT(*) FROM warc_queue GROUP BY state",
                params![],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
            )
            .map_err(|e| self.sqlite_error(e))?;
        let mut counts = QueueCounts::default();
        for row in rows {
            let (state, n) = row.map_err(|e| self.sqlite_error(e))?;
            let n = to_u64(n);
            match state.as_str() {
                "queued" => counts.queued = n,
                "leased" => counts.in_progress = n,
                "done" => counts.done = n,
                _ => counts.failed += n,
            }
        }
        Ok(counts)
    }

    /// The counts, the files in progress and the failed files with their reasons.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn queue_status(&self, now: DateTime<Utc>) -> Result<QueueStatus, StoreError> {
        let now = timestamp(now);
        let entries = |state: &str, order: &str| -> Result<Vec<QueueEntry>, StoreError> {
            let rows = self
                .conn
                .query_map(
                    &format!(
                        "SELECT q.source, q.attempts, q.worker, q.lease_until, q.reason,
                           COALESCE(f.resume_offset, 0), COALESCE(f.records, 0)
                         FROM warc_queue q LEFT JOIN warc_files f ON f.source = q.source
                         WHERE q.state = ?1 ORDER BY {order} LIMIT ?2"
                    ),
                    params![state, MAX_LISTED],
                    |r| {
                        let lease_until: Option<String> = r.get(3)?;
                        Ok(QueueEntry {
                            source: r.get(0)?,
                            attempts: u32::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                            worker: r.get(2)?,
                            lease_expired: lease_until.as_deref().is_some_and(|l| *l < *now),
                            lease_until,
                            reason: r.get(4)?,
                            resume_offset: to_u64(r.get(5)?),
                            records: to_u64(r.get(6)?),
                        })
                    },
                )
                .map_err(|e| self.sqlite_error(e))?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.sqlite_error(e))
        };
        Ok(QueueStatus {
            counts: self.queue_counts()?,
            in_progress: entries("leased", "q.worker, q.id")?,
            failed: entries("failed", "q.id")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn claims_lease_expiry_and_failures() {
        crate::store::testdb::on_both(|| {
            let dir = tempfile::tempdir().unwrap();
            let mut store = crate::store::testdb::open(dir.path()).unwrap();
            let now = Utc::now();
            let lease = now + Duration::seconds(60);
            let files = vec!["a.warc.gz".to_string(), "b.warc.gz".to_string()];
            assert_eq!(store.enqueue_warc(&files, now).unwrap(), 2);
            assert_eq!(store.enqueue_warc(&files, now).unwrap(), 0);

            let a = store.claim_warc("w1", lease, 2, now).unwrap().unwrap();
            assert_eq!((a.source.as_str(), a.attempt), ("a.warc.gz", 1));
            let b = store.claim_warc("w2", lease, 2, now).unwrap().unwrap();
            assert_eq!(b.source, "b.warc.gz");
            assert_eq!(store.claim_warc("w3", lease, 2, now).unwrap(), None);
            assert!(store
                .renew_warc_lease("a.warc.gz", "w1", lease, now)
                .unwrap());
            assert!(!store
                .renew_warc_lease("a.warc.gz", "w2", lease, now)
                .unwrap());

            // w1 dies: once its lease runs out, w3 takes the file; w1 can no longer
            // renew or finish it.
            store
                .warc_file_checkpoint("a.warc.gz", 5, 777, now)
                .unwrap();
            let later = lease + Duration::seconds(1);
            let taken = store
                .claim_warc("w3", later + Duration::seconds(60), 2, later)
                .unwrap()
                .unwrap();
            assert_eq!((taken.source.as_str(), taken.attempt), ("a.warc.gz", 2));
            assert!(!store
                .renew_warc_lease("a.warc.gz", "w1", later, later)
                .unwrap());
            assert!(!store
                .finish_warc("a.warc.gz", "w1", None, 2, later)
                .unwrap());
            let status = store.queue_status(later).unwrap();
            assert_eq!(status.counts.in_progress, 2);
            let a_entry = status
                .in_progress
                .iter()
                .find(|e| e.source == "a.warc.gz")
                .unwrap();
            assert_eq!(a_entry.worker.as_deref(), Some("w3"));
            assert_eq!((a_entry.resume_offset, a_entry.records), (777, 5));
            assert!(!a_entry.lease_expired);
            let b_entry = status
                .in_progress
                .iter()
                .find(|e| e.source == "b.warc.gz")
                .unwrap();
            assert!(b_entry.lease_expired);

            assert!(store
                .finish_warc("a.warc.gz", "w3", None, 2, later)
                .unwrap());
            // b: w2's lease expired but nobody took the file, so w2 may still finish
            // it: a first failure queues it again; w3's second failure fails it.
            assert!(store
                .finish_warc("b.warc.gz", "w2", Some("x"), 2, later)
                .unwrap());
            assert_eq!(store.queue_counts().unwrap().queued, 1);
            let b = store
                .claim_warc("w3", later + Duration::seconds(60), 2, later)
                .unwrap()
                .unwrap();
            assert_eq!(b.attempt, 2);
            assert!(store
                .finish_warc("b.warc.gz", "w3", Some("cannot open: gone"), 2, later)
                .unwrap());
            let status = store.queue_status(later).unwrap();
            assert_eq!(
                status.counts,
                QueueCounts {
                    queued: 0,
                    in_progress: 0,
                    done: 1,
                    failed: 1
                }
            );
            assert_eq!(
                status.failed[0].reason.as_deref(),
                Some("cannot open: gone")
            );
        });
    }

    #[test]
    fn a_released_file_is_queued_again_without_spending_an_attempt() {
        crate::store::testdb::on_both(|| {
            let dir = tempfile::tempdir().unwrap();
            let mut store = crate::store::testdb::open(dir.path()).unwrap();
            let now = Utc::now();
            let lease = now + Duration::seconds(60);
            store.enqueue_warc(&["c.warc".to_string()], now).unwrap();
            let c = store.claim_warc("w1", lease, 1, now).unwrap().unwrap();
            assert!(store.release_warc(&c.source, "w1", now).unwrap());
            let again = store.claim_warc("w2", lease, 1, now).unwrap().unwrap();
            assert_eq!(again.attempt, 1);
            // A failure on the last allowed attempt fails the file for good; a worker
            // dying on its last attempt fails it at the next claim.
            assert!(store
                .finish_warc("c.warc", "w2", Some("boom"), 1, now)
                .unwrap());
            assert_eq!(store.queue_counts().unwrap().failed, 1);
            store.enqueue_warc(&["d.warc".to_string()], now).unwrap();
            store.claim_warc("w1", lease, 1, now).unwrap().unwrap();
            let later = lease + Duration::seconds(1);
            assert_eq!(store.claim_warc("w2", later, 1, later).unwrap(), None);
            assert_eq!(store.queue_counts().unwrap().failed, 2);
        });
    }
}
