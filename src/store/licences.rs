//! Licences added on the desk, and each licensed-site match's compliance check
//! (migration 14).
//!
//! A desk licence is a row that is never deleted (like a decision). A match's check is
//! one row per match, replaced by a later check (`copyhound licences check`); what the
//! row keeps for good is `alerted_at`: licensing staff are alerted of a match's
//! noncompliance once, in the transaction that sets it.
//!
//! Like the rest of `store`, this only speaks SQL; the judging is `licences::check`.

use crate::store::sql::{params, OptionalExtension, Transaction};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::{begin_write, timestamp, NewAlert, ReviewStatus, Store, StoreError};
use crate::licences::{Licence, LicenceSource, Scope, Terms};

/// A licence added on the desk, with who added it and when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredLicence {
    pub licence: Licence,
    pub added_by: String,
    pub added_at: String,
    /// Who ended it on the desk, and when (its `valid_to` is then the day before).
    pub ended_by: Option<String>,
    pub ended_at: Option<String>,
}

/// A compliance check to record for a match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewLicenceCheck {
    /// `Licence::key` of the licence judged against.
    pub licence: String,
    pub partner: String,
    /// `licences::Verdict::as_str`.
    pub verdict: String,
    /// What is missing (`licences::Missing::as_str`), empty unless noncompliant.
    pub missing: Vec<String>,
}

impl NewLicenceCheck {
    pub fn is_noncompliant(&self) -> bool {
        self.verdict == "noncompliant"
    }
}

/// A match's check as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LicenceCheck {
    pub match_id: i64,
    pub licence: String,
    pub partner: String,
    pub verdict: String,
    pub missing: Vec<String>,
    pub checked_at: String,
    /// When licensing staff were alerted of the noncompliance.
    pub alerted_at: Option<String>,
}

/// Checks recorded against one licence, by verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LicenceCounts {
    pub compliant: i64,
    pub noncompliant: i64,
    /// Expired or not yet valid when the copy was captured.
    pub outside_validity: i64,
}

impl LicenceCounts {
    /// Counts `n` checks with `verdict` (as stored in `licence_checks.verdict`).
    fn add(&mut self, verdict: &str, n: i64) {
        match verdict {
            "compliant" => self.compliant += n,
            "noncompliant" => self.noncompliant += n,
            _ => self.outside_validity += n,
        }
    }

    /// The share of compliant copies among those judged within validity, when any were.
    pub fn compliance_rate(&self) -> Option<f64> {
        let judged = self.compliant + self.noncompliant;
        (judged > 0).then(|| self.compliant as f64 / judged as f64)
    }
}

/// What [`Store::record_licence_check`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CheckRecorded {
    /// The match's status moved (between `licensed` and `licensed-noncompliant`).
    pub status_changed: bool,
    /// Alerts queued (licensing staff told of the noncompliance for the first time).
    pub alerts: usize,
}

fn missing_from_db(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Writes a new match's check inside the transaction that records it; `alerted` when
/// the alerts queued with it tell licensing staff of its noncompliance.
pub(crate) fn insert_check_in(
    tx: &Transaction<'_>,
    match_id: i64,
    check: &NewLicenceCheck,
    alerted: bool,
    now: DateTime<Utc>,
) -> crate::store::sql::Result<()> {
    let now = timestamp(now);
    tx.execute(
        "INSERT INTO licence_checks
           (match_id, licence, partner, verdict, missing, checked_at, alerted_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (match_id) DO UPDATE SET licence = excluded.licence, partner = excluded.partner, verdict = excluded.verdict, missing = excluded.missing, checked_at = excluded.checked_at, alerted_at = excluded.alerted_at",
        params![
            match_id,
            check.licence,
            check.partner,
            check.verdict,
            check.missing.join(","),
            now,
            alerted.then_some(&now),
        ],
    )?;
    Ok(())
}

fn licence_row(r: &crate::store::sql::Row) -> crate::store::sql::Result<StoredLicence> {
    let domains: String = r.get(2)?;
    let forms: String = r.get(6)?;
    let date =
        |text: Option<String>| text.and_then(|t| NaiveDate::parse_from_str(&t, "%Y-%m-%d").ok());
    let scope: String = r.get(9)?;
    Ok(StoredLicence {
        licence: Licence {
            source: LicenceSource::Desk { id: r.get(0)? },
            partner: r.get(1)?,
            domains: serde_json::from_str(&domains).unwrap_or_default(),
            // The desk validates dates before they are written; a damaged one reads as
            // the earliest date, so the licence stays visible rather than vanishing.
            valid_from: date(r.get(3)?).unwrap_or(NaiveDate::MIN),
            valid_to: date(r.get(4)?),
            terms: Terms {
                attribution: r.get(5)?,
                attribution_forms: serde_json::from_str(&forms).unwrap_or_default(),
                link_back: r.get(7)?,
                title_unchanged: r.get(8)?,
                scope: Scope::parse(&scope).unwrap_or(Scope::Full),
                excerpt_max_share: r.get(10)?,
            },
        },
        added_by: r.get(11)?,
        added_at: r.get(12)?,
        ended_by: r.get(13)?,
        ended_at: r.get(14)?,
    })
}

fn check_row(r: &crate::store::sql::Row) -> crate::store::sql::Result<LicenceCheck> {
    Ok(LicenceCheck {
        match_id: r.get(0)?,
        licence: r.get(1)?,
        partner: r.get(2)?,
        verdict: r.get(3)?,
        missing: missing_from_db(&r.get::<_, String>(4)?),
        checked_at: r.get(5)?,
        alerted_at: r.get(6)?,
    })
}

const CHECK_COLUMNS: &str = "match_id, licence, partner, verdict, missing, checked_at, alerted_at";

impl Store {
    /// Records a licence added on the desk by `actor`; returns its id.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written.
    pub fn add_licence(
        &mut self,
        licence: &Licence,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let t = &licence.terms;
        // Serialising a list of strings cannot fail.
        let domains = serde_json::to_string(&licence.domains).unwrap_or_else(|_| "[]".into());
        let forms = serde_json::to_string(&t.attribution_forms).unwrap_or_else(|_| "[]".into());
        self.conn
            .insert_id(
                "INSERT INTO licences (partner, domains, valid_from, valid_to, attribution,
                   attribution_forms, link_back, title_unchanged, scope, excerpt_max_share,
                   added_by, added_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    licence.partner,
                    domains,
                    licence.valid_from.to_string(),
                    licence.valid_to.map(|d| d.to_string()),
                    t.attribution,
                    forms,
                    t.link_back,
                    t.title_unchanged,
                    t.scope.as_str(),
                    t.excerpt_max_share,
                    actor,
                    timestamp(now),
                ],
            )
            .map_err(|e| self.err(e))
    }

    /// Ends desk licence `id` as of `now` (`valid_to` becomes the day before, unless it
    /// ended earlier), recording who ended it. Returns false when there is no such
    /// licence or it was ended already: the row is kept either way.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written.
    pub fn end_licence(
        &mut self,
        id: i64,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let last_day = (now.date_naive() - chrono::Duration::days(1)).to_string();
        let changed = self
            .conn
            .execute(
                "UPDATE licences SET
                   valid_to = CASE WHEN valid_to IS NOT NULL AND valid_to < ?2
                                   THEN valid_to ELSE ?2 END,
                   ended_by = ?3, ended_at = ?4
                 WHERE id = ?1 AND ended_at IS NULL",
                params![id, last_day, actor, timestamp(now)],
            )
            .map_err(|e| self.err(e))?;
        Ok(changed == 1)
    }

    /// The licences added on the desk, oldest first.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn desk_licences(&self) -> Result<Vec<StoredLicence>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, partner, domains, valid_from, valid_to, attribution,
                        attribution_forms, link_back, title_unchanged, scope,
                        excerpt_max_share, added_by, added_at, ended_by, ended_at
                 FROM licences ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], licence_row).map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// A match's latest compliance check, if it was checked.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn licence_check(&self, match_id: i64) -> Result<Option<LicenceCheck>, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {CHECK_COLUMNS} FROM licence_checks WHERE match_id = ?1"),
                params![match_id],
                check_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Checks recorded per licence key, by verdict.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn licence_counts(
        &self,
    ) -> Result<std::collections::HashMap<String, LicenceCounts>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT licence, verdict, COUNT(*) FROM licence_checks GROUP BY licence, verdict",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out: std::collections::HashMap<String, LicenceCounts> = Default::default();
        for row in rows {
            let (licence, verdict, n) = row.map_err(|e| self.err(e))?;
            out.entry(licence).or_default().add(&verdict, n);
        }
        Ok(out)
    }

    /// The checks of matches first seen in `window`, per licence: `(licence key,
    /// partner, counts)`, in key order. For the monthly report's licences section.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn licence_activity(
        &self,
        window: crate::store::Window,
    ) -> Result<Vec<(String, String, LicenceCounts)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT c.licence, MAX(c.partner), c.verdict, COUNT(*)
                 FROM licence_checks c JOIN matches m ON m.id = c.match_id
                 WHERE m.first_seen >= ?1 AND m.first_seen < ?2
                 GROUP BY c.licence, c.verdict ORDER BY c.licence",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![timestamp(window.from), timestamp(window.to)], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out: Vec<(String, String, LicenceCounts)> = Vec::new();
        for row in rows {
            let (licence, partner, verdict, n) = row.map_err(|e| self.err(e))?;
            if out.last().is_none_or(|(k, _, _)| *k != licence) {
                out.push((licence, partner, LicenceCounts::default()));
            }
            if let Some((_, _, c)) = out.last_mut() {
                c.add(&verdict, n);
            }
        }
        Ok(out)
    }

    /// The ids of the latest `limit` noncompliant matches judged against `licence`.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn noncompliant_matches(
        &self,
        licence: &str,
        limit: usize,
    ) -> Result<Vec<i64>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT match_id FROM licence_checks
                 WHERE licence = ?1 AND verdict = 'noncompliant'
                 ORDER BY match_id DESC LIMIT ?2",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(
                params![licence, i64::try_from(limit).unwrap_or(i64::MAX)],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Records a later check of match `match_id` (`licences check`) in one transaction:
    /// the check replaces the previous one; a match still in an automatic licensed
    /// status (`licensed`, `licensed-noncompliant`) moves to the one the verdict gives,
    /// as a decision by `actor` via `licences-check`; and a noncompliant match whose
    /// licensing staff were never alerted gets `alerts` queued, once.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written.
    pub fn record_licence_check(
        &mut self,
        match_id: i64,
        check: &NewLicenceCheck,
        alerts: &[NewAlert],
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<CheckRecorded, StoreError> {
        let path = self.path.clone();
        let err = |source| StoreError::Db {
            path: path.clone(),
            source,
        };
        let tx = begin_write(&mut self.conn).map_err(err)?;
        let status: Option<String> = tx
            .query_row(
                "SELECT status FROM matches WHERE id = ?1",
                params![match_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(err)?;
        let Some(status) = status else {
            return Ok(CheckRecorded::default());
        };
        let alerted_before: Option<Option<String>> = tx
            .query_row(
                "SELECT alerted_at FROM licence_checks WHERE match_id = ?1",
                params![match_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(err)?;
        let alerted_before = alerted_before.flatten();
        let mut recorded = CheckRecorded::default();
        let wanted = match check.verdict.as_str() {
            "compliant" => Some(ReviewStatus::Licensed),
            "noncompliant" => Some(ReviewStatus::LicensedNoncompliant),
            // Outside validity a recorded match keeps its status: its copy was the
            // partner's or not when it was found, and reviewers decide what follows.
            _ => None,
        };
        let automatic = [ReviewStatus::Licensed, ReviewStatus::LicensedNoncompliant]
            .iter()
            .any(|s| s.as_str() == status);
        let now_text = timestamp(now);
        if let Some(wanted) = wanted.filter(|w| automatic && w.as_str() != status) {
            tx.execute(
                "UPDATE matches SET status = ?2 WHERE id = ?1",
                params![match_id, wanted.as_str()],
            )
            .map_err(err)?;
            tx.execute(
                "INSERT INTO decisions
                   (match_id, status, previous_status, note, actor, via, decided_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'licences-check', ?6)",
                params![
                    match_id,
                    wanted.as_str(),
                    status,
                    format!("licence {}: {}", check.licence, check.verdict),
                    actor,
                    now_text
                ],
            )
            .map_err(err)?;
            recorded.status_changed = true;
        }
        let alert_now = check.is_noncompliant()
            && alerted_before.is_none()
            && !alerts.is_empty()
            && status != ReviewStatus::Ignored.as_str();
        if alert_now {
            super::enqueue_alerts_in(&tx, alerts, now).map_err(err)?;
            recorded.alerts = alerts.len();
        }
        tx.execute(
            "INSERT INTO licence_checks
               (match_id, licence, partner, verdict, missing, checked_at, alerted_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (match_id) DO UPDATE SET licence = excluded.licence, partner = excluded.partner, verdict = excluded.verdict, missing = excluded.missing, checked_at = excluded.checked_at, alerted_at = excluded.alerted_at",
            params![
                match_id,
                check.licence,
                check.partner,
                check.verdict,
                check.missing.join(","),
                now_text,
                if alert_now {
                    Some(now_text.clone())
                } else {
                    alerted_before
                },
            ],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(recorded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Role;
    use crate::store::Channel;

    fn licence() -> Licence {
        Licence {
            source: LicenceSource::Config,
            partner: "晨报".into(),
            domains: vec!["chenbao.example".into()],
            valid_from: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            valid_to: None,
            terms: Terms {
                attribution_forms: vec!["来源：江城日报".into()],
                scope: Scope::Excerpt,
                excerpt_max_share: 0.25,
                ..Terms::default()
            },
        }
    }

    #[test]
    fn desk_licences_round_trip() {
        crate::store::testdb::on_both(|| {
            let dir = tempfile::tempdir().unwrap();
            let mut store = crate::store::testdb::open(dir.path()).unwrap();
            let id = store.add_licence(&licence(), "li", Utc::now()).unwrap();
            let list = store.desk_licences().unwrap();
            assert_eq!(list.len(), 1);
            assert_eq!(list[0].added_by, "li");
            let expected = Licence {
                source: LicenceSource::Desk { id },
                ..licence()
            };
            assert_eq!(list[0].licence, expected);
            assert_eq!(list[0].ended_by, None);
            // Ended: once, from the day before, kept.
            let now = Utc::now();
            assert!(store.end_licence(id, "wang", now).unwrap());
            assert!(!store.end_licence(id, "li", now).unwrap());
            assert!(!store.end_licence(id + 1, "li", now).unwrap());
            let ended = &store.desk_licences().unwrap()[0];
            assert_eq!(ended.ended_by.as_deref(), Some("wang"));
            assert_eq!(
                ended.licence.valid_to,
                Some(now.date_naive() - chrono::Duration::days(1))
            );
            assert!(!ended.licence.holds_on(now.date_naive()));
        });
    }

    #[test]
    fn a_later_check_moves_the_status_and_alerts_once() {
        crate::store::testdb::on_both(|| {
            let dir = tempfile::tempdir().unwrap();
            let mut store = crate::store::testdb::open(dir.path()).unwrap();
            let id = crate::store::matches::tests::one_licensed_match(&mut store);
            let alert = NewAlert {
                match_id: Some(id),
                role: Role::Licensing,
                channel: Channel::Email,
                facts_json: "{}".into(),
                evidence_file: None,
                evidence_sha256: None,
            };
            let bad = NewLicenceCheck {
                licence: "config:晨报".into(),
                partner: "晨报".into(),
                verdict: "noncompliant".into(),
                missing: vec!["link".into(), "title".into()],
            };
            let r = store
                .record_licence_check(
                    id,
                    &bad,
                    std::slice::from_ref(&alert),
                    "copyhound",
                    Utc::now(),
                )
                .unwrap();
            assert_eq!((r.status_changed, r.alerts), (true, 1));
            let check = store.licence_check(id).unwrap().unwrap();
            assert_eq!(check.missing, ["link", "title"]);
            assert!(check.alerted_at.is_some());
            // The same again: no second alert, no second decision.
            let r = store
                .record_licence_check(id, &bad, &[alert], "copyhound", Utc::now())
                .unwrap();
            assert_eq!((r.status_changed, r.alerts), (false, 0));
            assert_eq!(store.pending_alert_count().unwrap(), 1);
            let counts = store.licence_counts().unwrap();
            assert_eq!(counts["config:晨报"].noncompliant, 1);
            assert_eq!(store.noncompliant_matches("config:晨报", 10).unwrap(), [id]);
            // Fixed: back to licensed, and the alert time is kept.
            let good = NewLicenceCheck {
                verdict: "compliant".into(),
                missing: Vec::new(),
                ..bad
            };
            let r = store
                .record_licence_check(id, &good, &[], "copyhound", Utc::now())
                .unwrap();
            assert!(r.status_changed);
            assert!(store
                .licence_check(id)
                .unwrap()
                .unwrap()
                .alerted_at
                .is_some());
            assert_eq!(store.decisions(id).unwrap().len(), 2);
        });
    }
}
