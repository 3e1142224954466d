//! The mail outbox: one row per alert owed to one role (legal or licensing) for one
//! match, with its delivery state.
//!
//! What survives a crash: an alert exists once the transaction that recorded its match
//! commits ([`enqueue_alerts_in`] runs inside that transaction), so a match can never be
//! recorded without its alerts. A worker *claims* alerts before talking to the mail
//! server (state `sending`, with a lease in `next_attempt_at`), and marks them `sent` in
//! one transaction right after the server accepted the message. Claims are conditional
//! updates, so two workers (the daemon and a `copyhound scan`) never send the same alert
//! at once. An alert whose worker died mid-send stays `sending` until its lease runs
//! out, then is sent again with the same Message-ID: the one at-least-once window is
//! between the server's acceptance and that commit.
//!
//! Like the rest of `store`, this only speaks SQL; what to send and when is `notify`.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Transaction};
use serde::Serialize;

use super::{begin_write, timestamp, Store, StoreError};
use crate::config::Role;

/// An alert to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlert {
    pub match_id: Option<i64>,
    pub role: Role,
    /// The match as JSON ([`crate::evidence::MatchFacts`]).
    pub facts_json: String,
    pub evidence_file: Option<String>,
    pub evidence_sha256: Option<String>,
}

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// Waiting for its first attempt or for a retry.
    Queued,
    /// Claimed by a worker that is talking to the mail server.
    Sending,
    /// Accepted by the mail server (or written to the outbox folder).
    Sent,
    /// Refused permanently (a 5xx reply, no recipient): needs a person.
    Failed,
}

impl AlertState {
    fn parse(text: &str) -> AlertState {
        match text {
            "sending" => AlertState::Sending,
            "sent" => AlertState::Sent,
            "failed" => AlertState::Failed,
            // The CHECK constraint admits only the four names.
            _ => AlertState::Queued,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Queued => "queued",
            AlertState::Sending => "sending",
            AlertState::Sent => "sent",
            AlertState::Failed => "failed",
        }
    }
}

pub(crate) fn role_name(role: Role) -> &'static str {
    match role {
        Role::Legal => "legal",
        Role::Licensing => "licensing",
    }
}

/// One alert as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertRecord {
    pub id: i64,
    pub match_id: Option<i64>,
    pub role: &'static str,
    pub state: AlertState,
    pub attempts: u32,
    pub created_at: String,
    /// When the next attempt is due (queued), or when a claim's lease ends (sending).
    pub next_attempt_at: String,
    pub sent_at: Option<String>,
    pub message_id: Option<String>,
    /// The last failure: the server's reply or the connection error.
    pub last_error: Option<String>,
    pub evidence_file: Option<String>,
    pub evidence_sha256: Option<String>,
    #[serde(skip)]
    pub facts_json: String,
    /// `match` (about a match: `facts_json` is its `MatchFacts`) or `report` (a monthly
    /// report: `facts_json` is the rendered report).
    pub kind: &'static str,
}

const COLUMNS: &str = "id, match_id, role, state, attempts, created_at, next_attempt_at, sent_at,
     message_id, last_error, evidence_file, evidence_sha256, facts, kind";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AlertRecord> {
    let role: String = r.get(2)?;
    let state: String = r.get(3)?;
    Ok(AlertRecord {
        id: r.get(0)?,
        match_id: r.get(1)?,
        role: if role == "legal" {
            "legal"
        } else {
            "licensing"
        },
        state: AlertState::parse(&state),
        attempts: r.get(4)?,
        created_at: r.get(5)?,
        next_attempt_at: r.get(6)?,
        sent_at: r.get(7)?,
        message_id: r.get(8)?,
        last_error: r.get(9)?,
        evidence_file: r.get(10)?,
        evidence_sha256: r.get(11)?,
        facts_json: r.get(12)?,
        kind: if r.get::<_, String>(13)? == "report" {
            "report"
        } else {
            "match"
        },
    })
}

/// Queues alerts inside the caller's transaction: the pipeline calls this in the
/// transaction that records the match, so both commit or neither does.
///
/// # Errors
/// The SQLite error.
pub fn enqueue_alerts_in(
    tx: &Transaction<'_>,
    alerts: &[NewAlert],
    now: DateTime<Utc>,
) -> rusqlite::Result<Vec<i64>> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO alerts (match_id, role, facts, evidence_file, evidence_sha256, state,
                             attempts, next_attempt_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'queued', 0, ?6, ?6)",
    )?;
    let mut ids = Vec::with_capacity(alerts.len());
    for a in alerts {
        stmt.execute(params![
            a.match_id,
            role_name(a.role),
            a.facts_json,
            a.evidence_file,
            a.evidence_sha256,
            timestamp(now),
        ])?;
        ids.push(tx.last_insert_rowid());
    }
    Ok(ids)
}

impl Store {
    /// Queues a monthly report for `role`'s delivery (`facts_json` is the rendered
    /// report) under `unique_key` (such as `report:2026-11`), unless one was queued
    /// under that key before, whatever became of it: a restart cannot queue it twice.
    /// Returns the new alert's id, or `None` when the key was taken.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written.
    pub fn enqueue_report(
        &mut self,
        unique_key: &str,
        role: Role,
        facts_json: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        let inserted = self
            .conn
            .execute(
                "INSERT OR IGNORE INTO alerts (match_id, role, facts, state, attempts,
                     next_attempt_at, created_at, kind, unique_key)
                 VALUES (NULL, ?1, ?2, 'queued', 0, ?3, ?3, 'report', ?4)",
                params![role_name(role), facts_json, timestamp(now), unique_key],
            )
            .map_err(|e| self.err(e))?;
        Ok((inserted == 1).then(|| self.conn.last_insert_rowid()))
    }

    /// Whether an alert was ever queued under `unique_key`.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn alert_key_taken(&self, unique_key: &str) -> Result<bool, StoreError> {
        self.conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM alerts WHERE unique_key = ?1)",
                params![unique_key],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// Queues alerts in a transaction of their own (for callers that record no match in
    /// the same breath, such as tests and `send-test-email`).
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written.
    pub fn enqueue_alerts(
        &mut self,
        alerts: &[NewAlert],
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>, StoreError> {
        let path = self.path.clone();
        let err = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = begin_write(&mut self.conn).map_err(err)?;
        let ids = enqueue_alerts_in(&tx, alerts, now).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(ids)
    }

    /// Alerts of `role` that are due at `now`: queued ones whose retry time has come and
    /// `sending` ones whose claim lease ran out (their worker died). Oldest first.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn due_alerts(
        &self,
        role: Role,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM alerts
             WHERE role = ?1 AND state IN ('queued', 'sending') AND next_attempt_at <= ?2
             ORDER BY id LIMIT ?3"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![role_name(role), timestamp(now), limit as i64], row)
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// The earliest time any queued or sending alert becomes due, if any.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn next_alert_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let t: Option<String> = self
            .conn
            .query_row(
                "SELECT MIN(next_attempt_at) FROM alerts WHERE state IN ('queued', 'sending')",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        Ok(t.and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&Utc)))
    }

    /// Claims due alerts for sending: each of `ids` that is still due at `now` becomes
    /// `sending` with `message_id`, its attempt counted and its lease ending at
    /// `lease_until`. Returns the ids actually claimed (another worker may have taken
    /// some). One transaction, committed before any mail is sent.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written.
    pub fn claim_alerts(
        &mut self,
        ids: &[i64],
        message_id: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<i64>, StoreError> {
        let path = self.path.clone();
        let err = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let mut claimed = Vec::new();
        {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE alerts SET state = 'sending', attempts = attempts + 1,
                        message_id = ?2, next_attempt_at = ?4
                     WHERE id = ?1 AND state IN ('queued', 'sending') AND next_attempt_at <= ?3",
                )
                .map_err(err)?;
            for &id in ids {
                let n = stmt
                    .execute(params![
                        id,
                        message_id,
                        timestamp(now),
                        timestamp(lease_until)
                    ])
                    .map_err(err)?;
                if n == 1 {
                    claimed.push(id);
                }
            }
        }
        tx.commit().map_err(err)?;
        Ok(claimed)
    }

    /// Marks claimed alerts as sent: called right after the mail server accepted.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written.
    pub fn mark_alerts_sent(&mut self, ids: &[i64], now: DateTime<Utc>) -> Result<(), StoreError> {
        self.update_alerts(
            ids,
            "UPDATE alerts SET state = 'sent', sent_at = ?2, last_error = NULL
             WHERE id = ?1 AND state = 'sending'",
            timestamp(now),
            None,
        )
    }

    /// Puts claimed alerts back in the queue after a transient failure, due again at
    /// `next_at`.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written.
    pub fn retry_alerts_later(
        &mut self,
        ids: &[i64],
        error: &str,
        next_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.update_alerts(
            ids,
            "UPDATE alerts SET state = 'queued', next_attempt_at = ?2, last_error = ?3
             WHERE id = ?1 AND state = 'sending'",
            timestamp(next_at),
            Some(error),
        )
    }

    /// Delays queued alerts without counting an attempt (the digest rate limit).
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written.
    pub fn postpone_alerts(&mut self, ids: &[i64], until: DateTime<Utc>) -> Result<(), StoreError> {
        self.update_alerts(
            ids,
            "UPDATE alerts SET state = 'queued', next_attempt_at = ?2
             WHERE id = ?1 AND state IN ('queued', 'sending')",
            timestamp(until),
            None,
        )
    }

    /// Marks alerts as permanently failed with the reason (a 5xx reply).
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written.
    pub fn fail_alerts(&mut self, ids: &[i64], error: &str) -> Result<(), StoreError> {
        self.update_alerts(
            ids,
            "UPDATE alerts SET state = 'failed', last_error = ?3, next_attempt_at = ?2
             WHERE id = ?1 AND state IN ('queued', 'sending')",
            timestamp(Utc::now()),
            Some(error),
        )
    }

    fn update_alerts(
        &mut self,
        ids: &[i64],
        sql: &str,
        time: String,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = begin_write(&mut self.conn).map_err(err)?;
        {
            let mut stmt = tx.prepare_cached(sql).map_err(err)?;
            for &id in ids {
                match error {
                    Some(e) => stmt.execute(params![id, time, e]),
                    None => stmt.execute(params![id, time]),
                }
                .map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// A failed alert goes back to the queue, due now, with its attempts reset. Returns
    /// false when there is no failed alert `id`.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written.
    pub fn requeue_failed_alert(
        &mut self,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute(
                "UPDATE alerts SET state = 'queued', attempts = 0, next_attempt_at = ?2
                 WHERE id = ?1 AND state = 'failed'",
                params![id, timestamp(now)],
            )
            .map_err(|e| self.err(e))?;
        Ok(n == 1)
    }

    /// Alerts not yet delivered nor failed (`queued` or `sending`).
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn pending_alert_count(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM alerts WHERE state IN ('queued', 'sending')",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// One alert by id.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn find_alert(&self, id: i64) -> Result<Option<AlertRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM alerts WHERE id = ?1");
        self.conn
            .query_row(&sql, params![id], row)
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Every alert, newest first (at most `limit`).
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn list_alerts(&self, limit: usize) -> Result<Vec<AlertRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM alerts ORDER BY id DESC LIMIT ?1");
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![limit as i64], row)
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Emails (distinct Message-IDs) sent to `role` since `since`, and the earliest
    /// sending time among them: what the digest rate limit counts.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn emails_sent_since(
        &self,
        role: Role,
        since: DateTime<Utc>,
    ) -> Result<(u32, Option<DateTime<Utc>>), StoreError> {
        let (n, first): (u32, Option<String>) = self
            .conn
            .query_row(
                "SELECT COUNT(DISTINCT message_id), MIN(sent_at) FROM alerts
                 WHERE role = ?1 AND state = 'sent' AND sent_at >= ?2",
                params![role_name(role), timestamp(since)],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| self.err(e))?;
        Ok((
            n,
            first
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.with_timezone(&Utc)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn alert(role: Role) -> NewAlert {
        NewAlert {
            match_id: Some(1),
            role,
            facts_json: "{}".into(),
            evidence_file: Some("f.warc.gz".into()),
            evidence_sha256: Some("ab".into()),
        }
    }

    #[test]
    fn lifecycle_and_claims() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open_dir(dir.path()).unwrap();
        let now = Utc::now();
        let ids = store
            .enqueue_alerts(&[alert(Role::Legal), alert(Role::Licensing)], now)
            .unwrap();
        assert_eq!(store.due_alerts(Role::Legal, now, 10).unwrap().len(), 1);
        let lease = now + Duration::seconds(60);
        assert_eq!(
            store.claim_alerts(&ids[..1], "<m1>", now, lease).unwrap(),
            vec![ids[0]]
        );
        // A second worker finds nothing to claim while the lease runs.
        assert!(store
            .claim_alerts(&ids[..1], "<m1>", now, lease)
            .unwrap()
            .is_empty());
        assert!(store.due_alerts(Role::Legal, now, 10).unwrap().is_empty());
        // After the lease (the worker died), the alert is due again.
        assert_eq!(store.due_alerts(Role::Legal, lease, 10).unwrap().len(), 1);
        store.mark_alerts_sent(&ids[..1], now).unwrap();
        let a = store.find_alert(ids[0]).unwrap().unwrap();
        assert_eq!((a.state, a.attempts), (AlertState::Sent, 1));
        assert_eq!(
            store
                .emails_sent_since(Role::Legal, now - Duration::seconds(1))
                .unwrap()
                .0,
            1
        );
        // Licensing: a 5xx, then retried by hand.
        store.claim_alerts(&ids[1..], "<m2>", now, lease).unwrap();
        store.fail_alerts(&ids[1..], "550 no such user").unwrap();
        let b = store.find_alert(ids[1]).unwrap().unwrap();
        assert_eq!(b.state, AlertState::Failed);
        assert_eq!(b.last_error.as_deref(), Some("550 no such user"));
        assert!(store.requeue_failed_alert(ids[1], now).unwrap());
        assert!(!store.requeue_failed_alert(ids[1], now).unwrap());
        assert_eq!(store.due_alerts(Role::Licensing, now, 10).unwrap().len(), 1);
        assert_eq!(store.list_alerts(10).unwrap().len(), 2);
    }
}
