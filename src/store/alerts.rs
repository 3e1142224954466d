//! The outbox: one row per alert owed to one role (legal or licensing) for one match on
//! one channel (email, or a `[[notify.webhooks]]` entry), with its delivery state.
//!
//! Every channel of an alert is a row of its own (migration 10 added `channel`), with its
//! own claim, lease, attempts and state: an email and two chat messages about one match
//! are three rows, each delivered once, and a webhook that keeps failing never holds up
//! the email.
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

use crate::store::sql::{params, OptionalExtension, Transaction};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{begin_write, timestamp, Store, StoreError};
use crate::config::Role;

/// The channel an alert goes out on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Channel {
    /// An email to the role's `[[contacts]]`.
    Email,
    /// A post to the `[[notify.webhooks]]` entry with this name.
    Webhook(String),
}

impl Channel {
    /// The stored form: `email` or `webhook:NAME`.
    pub fn to_db(&self) -> String {
        match self {
            Channel::Email => "email".into(),
            Channel::Webhook(name) => format!("{WEBHOOK_PREFIX}{name}"),
        }
    }

    fn from_db(text: &str) -> Channel {
        match text.strip_prefix(WEBHOOK_PREFIX) {
            Some(name) => Channel::Webhook(name.to_string()),
            None => Channel::Email,
        }
    }
}

const WEBHOOK_PREFIX: &str = "webhook:";

impl Serialize for Channel {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_db())
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_db())
    }
}

/// An alert to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlert {
    pub match_id: Option<i64>,
    pub role: Role,
    /// Where it goes.
    pub channel: Channel,
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
    /// Claimed by a worker that is talking to the mail server or the webhook.
    Sending,
    /// Accepted by the mail server (or written to the outbox folder), or by the webhook.
    Sent,
    /// Refused permanently (a 5xx SMTP reply, no recipient, a 4xx HTTP reply or a
    /// platform's error code): needs a person.
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
    /// `email` or `webhook:NAME` (never the webhook's URL, which is a secret).
    pub channel: Channel,
    pub state: AlertState,
    pub attempts: u32,
    pub created_at: String,
    /// When the next attempt is due (queued), or when a claim's lease ends (sending).
    pub next_attempt_at: String,
    pub sent_at: Option<String>,
    /// The email's Message-ID, or the webhook delivery's id (`alert-ID`), kept across
    /// retries so a duplicate is recognisable.
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
     message_id, last_error, evidence_file, evidence_sha256, facts, channel, kind";

fn row(r: &crate::store::sql::Row) -> crate::store::sql::Result<AlertRecord> {
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
        channel: Channel::from_db(&r.get::<_, String>(13)?),
        kind: if r.get::<_, String>(14)? == "report" {
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
) -> crate::store::sql::Result<Vec<i64>> {
    let mut ids = Vec::with_capacity(alerts.len());
    for a in alerts {
        let id = tx.insert_id(
            "INSERT INTO alerts (match_id, role, facts, evidence_file, evidence_sha256, state,
                                 attempts, next_attempt_at, created_at, channel)
             VALUES (?1, ?2, ?3, ?4, ?5, 'queued', 0, ?6, ?6, ?7)",
            params![
                a.match_id,
                role_name(a.role),
                a.facts_json,
                a.evidence_file,
                a.evidence_sha256,
                timestamp(now),
                a.channel.to_db(),
            ],
        )?;
        ids.push(id);
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
        self.conn
            .insert_id_optional(
                "INSERT INTO alerts (match_id, role, facts, state, attempts,
                     next_attempt_at, created_at, kind, unique_key)
                 VALUES (NULL, ?1, ?2, 'queued', 0, ?3, ?3, 'report', ?4)
                 ON CONFLICT DO NOTHING",
                params![role_name(role), facts_json, timestamp(now), unique_key],
            )
            .map_err(|e| self.err(e))
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
        let err = |source| StoreError::Db {
            path: path.clone(),
            source,
        };
        let tx = begin_write(&mut self.conn).map_err(err)?;
        let ids = enqueue_alerts_in(&tx, alerts, now).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(ids)
    }

    /// Email alerts of `role` that are due at `now`: queued ones whose retry time has
    /// come and `sending` ones whose claim lease ran out (their worker died). Oldest
    /// first.
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
             WHERE role = ?1 AND channel = 'email' AND state IN ('queued', 'sending')
               AND next_attempt_at <= ?2
             ORDER BY id LIMIT ?3"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![role_name(role), timestamp(now), limit as i64], row)
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Webhook alerts (every channel but email) due at `now`, as [`Store::due_alerts`]
    /// finds them: oldest first, at most `limit`.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn due_webhook_alerts(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM alerts
             WHERE channel LIKE 'webhook:%' AND state IN ('queued', 'sending')
               AND next_attempt_at <= ?1
             ORDER BY id LIMIT ?2"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![timestamp(now), limit as i64], row)
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
        let err = |source| StoreError::Db {
            path: path.clone(),
            source,
        };
        // Each claim is a conditional UPDATE: on PostgreSQL a second process's UPDATE of
        // the same row waits for the first's commit and then finds the row leased, so
        // two processes never claim one alert.
        let tx = begin_write(&mut self.conn).map_err(err)?;
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
        let err = |source| StoreError::Db {
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
                 WHERE role = ?1 AND channel = 'email' AND state = 'sent' AND sent_at >= ?2",
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
            channel: Channel::Email,
            facts_json: "{}".into(),
            evidence_file: Some("f.warc.gz".into()),
            evidence_sha256: Some("ab".into()),
        }
    }

    /// A store at version 9 with an email alert waiting migrates (through 10, the
    /// channels, to the latest version) with the alert intact, on the email channel, and
    /// still due.
    #[test]
    fn migration_10_keeps_pending_email_alerts() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn =
                rusqlite::Connection::open(dir.path().join(crate::store::DATABASE_FILE)).unwrap();
            for sql in &crate::store::MIGRATIONS[..9] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", 9).unwrap();
            conn.execute(
                "INSERT INTO alerts (match_id, role, facts, state, attempts, next_attempt_at, created_at, last_error)
                 VALUES (3, 'legal', '{}', 'queued', 2, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', '451 later')",
                [],
            )
            .unwrap();
        }
        let store = crate::store::testdb::open(dir.path()).unwrap();
        let version = store.schema_version().unwrap();
        assert_eq!(version, crate::store::MIGRATIONS.len() as i64);
        let due = store.due_alerts(Role::Legal, Utc::now(), 10).unwrap();
        assert_eq!(due.len(), 1);
        let a = &due[0];
        assert_eq!(
            (a.match_id, a.channel.clone(), a.state, a.attempts),
            (Some(3), Channel::Email, AlertState::Queued, 2)
        );
        assert_eq!(a.last_error.as_deref(), Some("451 later"));
        assert!(store.due_webhook_alerts(Utc::now(), 10).unwrap().is_empty());
    }

    /// An email and two webhooks for one alert are three rows, each claimed, failed or
    /// sent on its own; the email digest counts only emails.
    #[test]
    fn channels_are_delivered_independently() {
        crate::store::testdb::on_both(|| {
            let dir = tempfile::tempdir().unwrap();
            let mut store = crate::store::testdb::open(dir.path()).unwrap();
            let now = Utc::now();
            let mut hook_a = alert(Role::Legal);
            hook_a.channel = Channel::Webhook("wecom".into());
            let mut hook_b = alert(Role::Legal);
            hook_b.channel = Channel::Webhook("team-slack".into());
            let ids = store
                .enqueue_alerts(&[alert(Role::Legal), hook_a, hook_b], now)
                .unwrap();
            assert_eq!(store.due_alerts(Role::Legal, now, 10).unwrap().len(), 1);
            let hooks = store.due_webhook_alerts(now, 10).unwrap();
            assert_eq!(
                hooks
                    .iter()
                    .map(|a| a.channel.to_string())
                    .collect::<Vec<_>>(),
                ["webhook:wecom", "webhook:team-slack"]
            );
            let lease = now + Duration::seconds(60);
            store
                .claim_alerts(&ids[1..2], "alert-2", now, lease)
                .unwrap();
            store.fail_alerts(&ids[1..2], "errcode 93000").unwrap();
            store
                .claim_alerts(&ids[2..3], "alert-3", now, lease)
                .unwrap();
            store.mark_alerts_sent(&ids[2..3], now).unwrap();
            // The email is untouched by either, and the sent webhook is no email.
            let email = store.find_alert(ids[0]).unwrap().unwrap();
            assert_eq!((email.state, email.attempts), (AlertState::Queued, 0));
            assert_eq!(
                store
                    .emails_sent_since(Role::Legal, now - Duration::seconds(1))
                    .unwrap()
                    .0,
                0
            );
            assert_eq!(
                store.find_alert(ids[1]).unwrap().unwrap().state,
                AlertState::Failed
            );
            assert_eq!(
                store.find_alert(ids[2]).unwrap().unwrap().state,
                AlertState::Sent
            );
            let listed = serde_json::to_value(store.list_alerts(10).unwrap()).unwrap();
            assert_eq!(listed[0]["channel"], "webhook:team-slack");
            assert_eq!(listed[2]["channel"], "email");
        });
    }

    #[test]
    fn lifecycle_and_claims() {
        crate::store::testdb::on_both(|| {
            let dir = tempfile::tempdir().unwrap();
            let mut store = crate::store::testdb::open(dir.path()).unwrap();
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
        });
    }
}
