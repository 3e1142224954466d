//! Cases and their history (migration 11): one case per infringing match, and every
//! step of it as a `case_events` row.
//!
//! Invariants:
//! - Nothing is deleted or rewritten. A step is a new event row written with the case's
//!   new state (and the alert it queues, if any) in one transaction.
//! - A case opens in the transaction of the decision that marks its match `infringing`
//!   ([`open_case_in`]); a match has at most one open case.
//! - A change names the state it was judged from ([`CaseChange::expected_state`]) and
//!   is refused when another process moved the case meanwhile, so two re-checks or a
//!   re-check and counsel never record a step from a state the case no longer has.

use crate::store::sql::{params, OptionalExtension, Transaction};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{begin_write, timestamp, NewAlert, Store, StoreError};
use crate::cases::{CaseState, Outcome};

/// One case as listed and shown, with what it is about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseRecord {
    pub id: i64,
    pub match_id: i64,
    pub state: String,
    pub opened_at: String,
    pub state_since: String,
    pub notice_at: Option<String>,
    pub notice_channel: Option<String>,
    pub notice_recipient: Option<String>,
    pub outcome: Option<String>,
    pub next_recheck_at: Option<String>,
    pub last_recheck_at: Option<String>,
    pub last_recheck_result: Option<String>,
    /// The notice (its `notice_at`) a deadline reminder was queued for.
    pub reminded_notice_at: Option<String>,
    pub copy_url: String,
    pub copy_host: String,
    pub original_id: i64,
    pub original_title: String,
    /// The match's containment when it was found: re-checks are judged against it.
    pub containment: f64,
}

impl CaseRecord {
    /// The state, parsed (a damaged row reads as `escalated`, the most cautious).
    pub fn state(&self) -> CaseState {
        CaseState::parse(&self.state).unwrap_or(CaseState::Escalated)
    }
}

/// One step of a case, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseEvent {
    pub id: i64,
    pub kind: String,
    pub previous_state: String,
    pub state: String,
    pub at: String,
    pub recorded_at: String,
    pub actor: String,
    pub via: String,
    pub note: String,
    pub channel: Option<String>,
    pub recipient: Option<String>,
    pub outcome: Option<String>,
    pub decision_id: Option<i64>,
    pub result: Option<String>,
    pub http_status: Option<u16>,
    pub containment: Option<f64>,
    pub final_url: Option<String>,
    pub error: Option<String>,
    pub evidence_file: Option<String>,
    pub evidence_sha256: Option<String>,
    pub alert_id: Option<i64>,
}

/// An event to record (see the columns of `case_events`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewCaseEvent<'a> {
    /// `step`, `counter-notice` or `recheck`.
    pub kind: &'a str,
    pub at: Option<DateTime<Utc>>,
    pub actor: &'a str,
    pub via: &'a str,
    pub note: &'a str,
    pub channel: Option<&'a str>,
    pub recipient: Option<&'a str>,
    pub outcome: Option<Outcome>,
    pub result: Option<&'a str>,
    pub http_status: Option<u16>,
    pub containment: Option<f64>,
    pub final_url: Option<&'a str>,
    pub error: Option<&'a str>,
    pub evidence_file: Option<&'a str>,
    pub evidence_sha256: Option<&'a str>,
}

/// A step of one case: its event, the state it moves the case to (`None`: the state
/// stays), the schedule and the alerts it implies.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseChange<'a> {
    pub case_id: i64,
    /// The state the step was judged from; see the module's invariants.
    pub expected_state: CaseState,
    pub new_state: Option<CaseState>,
    pub event: NewCaseEvent<'a>,
    /// `Some(t)`: the next re-check is due at `t` (`Some(None)`: none is scheduled).
    pub next_recheck_at: Option<Option<DateTime<Utc>>>,
    /// Set when the step queues the deadline reminder for this notice.
    pub reminded_notice_at: Option<&'a str>,
    /// Alerts queued with the step (a reminder, a reappearance), to counsel.
    pub alerts: Vec<NewAlert>,
}

const CASE_COLUMNS: &str = "c.id, c.match_id, c.state, c.opened_at, c.state_since, c.notice_at,
    c.notice_channel, c.notice_recipient, c.outcome, c.next_recheck_at, c.last_recheck_at,
    c.last_recheck_result, c.reminded_notice_at, m.copy_url, m.copy_host, m.original_id,
    COALESCE(v.title, ''), m.containment";

const CASE_FROM: &str = "FROM cases c JOIN matches m ON m.id = c.match_id
    LEFT JOIN originals o ON o.id = m.original_id
    LEFT JOIN original_versions v ON v.original_id = o.id AND v.version = o.current_version";

fn case_row(r: &crate::store::sql::Row) -> crate::store::sql::Result<CaseRecord> {
    Ok(CaseRecord {
        id: r.get(0)?,
        match_id: r.get(1)?,
        state: r.get(2)?,
        opened_at: r.get(3)?,
        state_since: r.get(4)?,
        notice_at: r.get(5)?,
        notice_channel: r.get(6)?,
        notice_recipient: r.get(7)?,
        outcome: r.get(8)?,
        next_recheck_at: r.get(9)?,
        last_recheck_at: r.get(10)?,
        last_recheck_result: r.get(11)?,
        reminded_notice_at: r.get(12)?,
        copy_url: r.get(13)?,
        copy_host: r.get(14)?,
        original_id: r.get(15)?,
        original_title: r.get(16)?,
        containment: r.get(17)?,
    })
}

fn event_row(r: &crate::store::sql::Row) -> crate::store::sql::Result<CaseEvent> {
    Ok(CaseEvent {
        id: r.get(0)?,
        kind: r.get(1)?,
        previous_state: r.get(2)?,
        state: r.get(3)?,
        at: r.get(4)?,
        recorded_at: r.get(5)?,
        actor: r.get(6)?,
        via: r.get(7)?,
        note: r.get(8)?,
        channel: r.get(9)?,
        recipient: r.get(10)?,
        outcome: r.get(11)?,
        decision_id: r.get(12)?,
        result: r.get(13)?,
        http_status: r.get(14)?,
        containment: r.get(15)?,
        final_url: r.get(16)?,
        error: r.get(17)?,
        evidence_file: r.get(18)?,
        evidence_sha256: r.get(19)?,
        alert_id: r.get(20)?,
    })
}

/// Opens a case for `match_id` inside the transaction of the decision `decision_id`
/// that marked it `infringing`; nothing when the match already has an open case.
pub(super) fn open_case_in(
    tx: &Transaction<'_>,
    match_id: i64,
    decision_id: i64,
    actor: &str,
    via: &str,
    note: &str,
    now: DateTime<Utc>,
) -> crate::store::sql::Result<()> {
    let now = timestamp(now);
    let inserted = tx.insert_id_optional(
        "INSERT INTO cases (match_id, state, opened_at, state_since)
         SELECT ?1, 'escalated', ?2, ?2
         WHERE NOT EXISTS (SELECT 1 FROM cases WHERE match_id = ?1 AND state != 'closed')",
        params![match_id, now],
    )?;
    if let Some(case_id) = inserted {
        tx.execute(
            "INSERT INTO case_events (case_id, kind, previous_state, state, at, recorded_at,
                                      actor, via, note, decision_id)
             VALUES (?1, 'opened', 'escalated', 'escalated', ?2, ?2, ?3, ?4, ?5, ?6)",
            params![case_id, now, actor, via, note, decision_id],
        )?;
    }
    Ok(())
}

/// Closes the open case of `match_id` as `dropped` inside the transaction of the
/// decision `decision_id` that moved the match away from `infringing` (to
/// `new_status`): a case follows its match's review.
pub(super) fn drop_case_in(
    tx: &Transaction<'_>,
    match_id: i64,
    decision_id: i64,
    new_status: &str,
    actor: &str,
    via: &str,
    now: DateTime<Utc>,
) -> crate::store::sql::Result<()> {
    let now = timestamp(now);
    let open: Option<(i64, String)> = tx
        .query_row(
            "SELECT id, state FROM cases WHERE match_id = ?1 AND state != 'closed'",
            params![match_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((case_id, previous)) = open else {
        return Ok(());
    };
    tx.execute(
        "UPDATE cases SET state = 'closed', state_since = ?2, outcome = 'dropped',
                          next_recheck_at = NULL
         WHERE id = ?1",
        params![case_id, now],
    )?;
    tx.execute(
        "INSERT INTO case_events (case_id, kind, previous_state, state, at, recorded_at, actor,
                                  via, note, outcome, decision_id)
         VALUES (?1, 'decision', ?2, 'closed', ?3, ?3, ?4, ?5, ?6, 'dropped', ?7)",
        params![
            case_id,
            previous,
            now,
            actor,
            via,
            format!("the match was marked {new_status}"),
            decision_id
        ],
    )?;
    Ok(())
}

impl Store {
    /// One case.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn find_case(&self, id: i64) -> Result<Option<CaseRecord>, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {CASE_COLUMNS} {CASE_FROM} WHERE c.id = ?1"),
                params![id],
                case_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The cases of a match, oldest first.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn cases_of_match(&self, match_id: i64) -> Result<Vec<CaseRecord>, StoreError> {
        self.select_cases("WHERE c.match_id = ?1 ORDER BY c.id", params![match_id])
    }

    /// Cases, the longest in their state first; only those in `state` when given.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn list_cases(&self, state: Option<CaseState>) -> Result<Vec<CaseRecord>, StoreError> {
        match state {
            Some(s) => self.select_cases(
                "WHERE c.state = ?1 ORDER BY c.state_since, c.id",
                params![s.as_str()],
            ),
            None => self.select_cases("ORDER BY c.state_since, c.id", params![]),
        }
    }

    /// The cases a re-check may be due for: open ones, and those closed as removed
    /// (watched for the copy's return). The caller decides which are due.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn watched_cases(&self) -> Result<Vec<CaseRecord>, StoreError> {
        self.select_cases(
            "WHERE c.state != 'closed' OR c.outcome = 'removed' ORDER BY c.id",
            params![],
        )
    }

    fn select_cases(
        &self,
        clause: &str,
        values: impl crate::store::sql::Params,
    ) -> Result<Vec<CaseRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {CASE_COLUMNS} {CASE_FROM} {clause}"))
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map(values, case_row).map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// A case's history, oldest first.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn case_events(&self, case_id: i64) -> Result<Vec<CaseEvent>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, kind, previous_state, state, at, recorded_at, actor, via, note,
                        channel, recipient, outcome, decision_id, result, http_status,
                        containment, final_url, error, evidence_file, evidence_sha256,
                        alert_id
                 FROM case_events WHERE case_id = ?1 ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![case_id], event_row)
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Open cases per state, in [`CaseState::ALL`] order (closed left out).
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn open_case_counts(&self) -> Result<Vec<(CaseState, i64)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT state, COUNT(*) FROM cases WHERE state != 'closed' GROUP BY state")
            .map_err(|e| self.err(e))?;
        let rows: Vec<(String, i64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        Ok(CaseState::ALL
            .into_iter()
            .filter(|s| s.is_open())
            .map(|s| {
                let n = rows
                    .iter()
                    .find(|(name, _)| name == s.as_str())
                    .map_or(0, |(_, n)| *n);
                (s, n)
            })
            .collect())
    }

    /// Records one step of a case in one transaction: the event, the case's new state
    /// and schedule, and its alerts. Returns the event's id, or `None` when the case
    /// is not in `change.expected_state` any more (nothing is written then).
    ///
    /// # Errors
    /// [`StoreError`] when the database fails (nothing is recorded then).
    pub fn change_case(
        &mut self,
        change: &CaseChange<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        let path = self.path.clone();
        let err = |source| StoreError::Db {
            path: path.clone(),
            source,
        };
        let now_text = timestamp(now);
        let e = &change.event;
        let at = e.at.map_or_else(|| now_text.clone(), timestamp);
        let from = change.expected_state;
        let to = change.new_state.unwrap_or(from);
        let tx = begin_write(&mut self.conn).map_err(err)?;
        let current: Option<(String, Option<String>)> = tx
            .query_row(
                "SELECT state, reminded_notice_at FROM cases WHERE id = ?1",
                params![change.case_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(err)?;
        let Some((state, reminded)) = current else {
            return Ok(None);
        };
        // A reminder goes out once per notice: a second process that judged the same
        // notice overdue finds it reminded already.
        if state != from.as_str()
            || change.reminded_notice_at.is_some()
                && reminded.as_deref() == change.reminded_notice_at
        {
            return Ok(None);
        }
        let alert_ids = super::enqueue_alerts_in(&tx, &change.alerts, now).map_err(err)?;
        let event_id = tx
            .insert_id(
                "INSERT INTO case_events (case_id, kind, previous_state, state, at, recorded_at,
                 actor, via, note, channel, recipient, outcome, result, http_status,
                 containment, final_url, error, evidence_file, evidence_sha256, alert_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                     ?17, ?18, ?19, ?20)",
                params![
                    change.case_id,
                    e.kind,
                    from.as_str(),
                    to.as_str(),
                    at,
                    now_text,
                    e.actor,
                    e.via,
                    e.note,
                    e.channel,
                    e.recipient,
                    e.outcome.map(Outcome::as_str),
                    e.result,
                    e.http_status,
                    e.containment,
                    e.final_url,
                    e.error,
                    e.evidence_file,
                    e.evidence_sha256,
                    alert_ids.first(),
                ],
            )
            .map_err(err)?;
        if to != from {
            tx.execute(
                "UPDATE cases SET state = ?2, state_since = ?3 WHERE id = ?1",
                params![change.case_id, to.as_str(), at],
            )
            .map_err(err)?;
            // Closing records the outcome; reopening clears it.
            tx.execute(
                "UPDATE cases SET outcome = ?2 WHERE id = ?1",
                params![change.case_id, e.outcome.map(Outcome::as_str)],
            )
            .map_err(err)?;
        }
        if e.kind == "step" && to == CaseState::NoticeSent {
            tx.execute(
                &format!(
                    "UPDATE cases SET notice_at = ?2, notice_channel = ?3, notice_recipient = ?4,
                                      first_notice_at = {least}(COALESCE(first_notice_at, ?2), ?2)
                     WHERE id = ?1",
                    least = least(&tx)
                ),
                params![change.case_id, at, e.channel, e.recipient],
            )
            .map_err(err)?;
        }
        // The first removal (the dashboard's time to removal): a re-check's or counsel's
        // `removed`, or a closing as removed.
        if to == CaseState::Removed
            || to == CaseState::Closed && e.outcome == Some(Outcome::Removed)
        {
            tx.execute(
                &format!(
                    "UPDATE cases SET removed_at = {least}(COALESCE(removed_at, ?2), ?2) WHERE id = ?1",
                    least = least(&tx)
                ),
                params![change.case_id, at],
            )
            .map_err(err)?;
        }
        if e.kind == "recheck" {
            tx.execute(
                "UPDATE cases SET last_recheck_at = ?2, last_recheck_result = ?3 WHERE id = ?1",
                params![change.case_id, now_text, e.result],
            )
            .map_err(err)?;
        }
        if let Some(next) = change.next_recheck_at {
            tx.execute(
                "UPDATE cases SET next_recheck_at = ?2 WHERE id = ?1",
                params![change.case_id, next.map(timestamp)],
            )
            .map_err(err)?;
        }
        if let Some(notice) = change.reminded_notice_at {
            tx.execute(
                "UPDATE cases SET reminded_notice_at = ?2 WHERE id = ?1",
                params![change.case_id, notice],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(Some(event_id))
    }
}

/// The smaller of two values: SQLite's two-argument `MIN`, PostgreSQL's `LEAST`.
fn least(conn: &crate::store::sql::Connection) -> &'static str {
    if conn.is_postgres() {
        "LEAST"
    } else {
        "MIN"
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::store::review::tests::store_with_matches;
    use crate::store::{NewDecision, ReviewStatus};

    fn mark(store: &mut Store, id: i64, status: ReviewStatus) {
        store
            .decide(
                &[id],
                &NewDecision {
                    status,
                    note: "n",
                    actor: "wang",
                    via: "cli",
                },
                &HashMap::new(),
                &[],
                Utc::now(),
            )
            .unwrap();
    }

    #[test]
    fn a_case_opens_with_the_decision_and_keeps_every_step() {
        crate::store::testdb::on_both(|| {
            let (_dir, mut store, ids) = store_with_matches();
            mark(&mut store, ids[0], ReviewStatus::Infringing);
            // Marking it again opens no second case.
            mark(&mut store, ids[0], ReviewStatus::Infringing);
            let cases = store.list_cases(None).unwrap();
            assert_eq!(cases.len(), 1);
            let case = &cases[0];
            assert_eq!(case.match_id, ids[0]);
            assert_eq!(case.state(), CaseState::Escalated);
            let events = store.case_events(case.id).unwrap();
            assert_eq!(events.len(), 1);
            assert_eq!(events[0].kind, "opened");
            assert!(events[0].decision_id.is_some());

            let notice = CaseChange {
                case_id: case.id,
                expected_state: CaseState::Escalated,
                new_state: Some(CaseState::NoticeSent),
                event: NewCaseEvent {
                    kind: "step",
                    actor: "wang",
                    via: "cli",
                    channel: Some("email"),
                    recipient: Some("abuse@example.com"),
                    ..NewCaseEvent::default()
                },
                next_recheck_at: None,
                reminded_notice_at: None,
                alerts: Vec::new(),
            };
            assert!(store.change_case(&notice, Utc::now()).unwrap().is_some());
            // The same change again is judged from a state the case left: refused.
            assert!(store.change_case(&notice, Utc::now()).unwrap().is_none());
            let case = store.find_case(case.id).unwrap().unwrap();
            assert_eq!(case.state(), CaseState::NoticeSent);
            assert_eq!(case.notice_channel.as_deref(), Some("email"));
            assert_eq!(
                store.open_case_counts().unwrap()[1],
                (CaseState::NoticeSent, 1)
            );

            // Un-marking the match closes its case as dropped; marking it again opens a
            // new one.
            mark(&mut store, ids[0], ReviewStatus::FalsePositive);
            let case = store.find_case(case.id).unwrap().unwrap();
            assert_eq!(case.state(), CaseState::Closed);
            assert_eq!(case.outcome.as_deref(), Some("dropped"));
            mark(&mut store, ids[0], ReviewStatus::Infringing);
            let cases = store.cases_of_match(ids[0]).unwrap();
            assert_eq!(cases.len(), 2);
            assert_eq!(cases[1].state(), CaseState::Escalated);
            let kinds: Vec<String> = store
                .case_events(cases[0].id)
                .unwrap()
                .into_iter()
                .map(|e| e.kind)
                .collect();
            assert_eq!(kinds, ["opened", "step", "decision"]);
        });
    }

    /// `removed_at` and `first_notice_at` are kept by each step (the earliest of each),
    /// and migration 13 fills them from the history of a store written before it.
    #[test]
    fn the_first_removal_and_notice_are_kept_and_migrated() {
        use chrono::TimeZone;
        let (dir, mut store, ids) = store_with_matches();
        mark(&mut store, ids[0], ReviewStatus::Infringing);
        let case = store.list_cases(None).unwrap()[0].id;
        let at = |d: u32| Utc.with_ymd_and_hms(2026, 11, d, 12, 0, 0).unwrap();
        let mut step = |from: CaseState, to: CaseState, day: u32, outcome: Option<Outcome>| {
            let change = CaseChange {
                case_id: case,
                expected_state: from,
                new_state: Some(to),
                event: NewCaseEvent {
                    kind: "step",
                    at: Some(at(day)),
                    actor: "wang",
                    via: "cli",
                    channel: (to == CaseState::NoticeSent).then_some("email"),
                    recipient: (to == CaseState::NoticeSent).then_some("x@example.com"),
                    outcome,
                    ..NewCaseEvent::default()
                },
                next_recheck_at: None,
                reminded_notice_at: None,
                alerts: Vec::new(),
            };
            assert!(store.change_case(&change, at(day)).unwrap().is_some());
        };
        step(CaseState::Escalated, CaseState::NoticeSent, 3, None);
        step(CaseState::NoticeSent, CaseState::NoticeSent, 5, None);
        step(CaseState::NoticeSent, CaseState::Removed, 9, None);
        step(CaseState::Removed, CaseState::StillOnline, 10, None);
        step(
            CaseState::StillOnline,
            CaseState::Closed,
            12,
            Some(Outcome::Removed),
        );
        let kept = |store: &Store| -> (Option<String>, Option<String>) {
            store
                .conn
                .query_row(
                    "SELECT first_notice_at, removed_at FROM cases WHERE id = ?1",
                    params![case],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap()
        };
        let expected = (
            Some("2026-11-03T12:00:00Z".to_string()),
            Some("2026-11-09T12:00:00Z".to_string()),
        );
        assert_eq!(kept(&store), expected);
        // As written by version 12: the columns and indexes gone.
        store
            .conn
            .execute_batch(
                "DROP INDEX cases_removed; DROP INDEX case_events_state;
                 ALTER TABLE cases DROP COLUMN removed_at;
                 ALTER TABLE cases DROP COLUMN first_notice_at;
                 PRAGMA user_version = 12;",
            )
            .unwrap();
        drop(store);
        let store = crate::store::testdb::open(dir.path()).unwrap();
        assert_eq!(kept(&store), expected);
    }
}
