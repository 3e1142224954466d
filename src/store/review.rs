//! The review desk's tables: decisions on matches, the site lists reviewers keep
//! (licensed domains, ignored sites) and login sessions.
//!
//! Invariants:
//! - Nothing is deleted. A decision is a new row in `decisions`; a match's `status` is
//!   its latest decision (or `unreviewed`/`licensed` as recorded). Site lists only grow.
//! - A decision that moves a match to `infringing` queues its escalation alert in the
//!   same transaction, once: deciding `infringing` again queues nothing.
//! - Expired sessions are the only rows ever removed; they are credentials, not records.

use std::collections::HashMap;

use crate::store::sql::{params, params_from_iter, OptionalExtension};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::matches::{summary_row, SUMMARY_COLUMNS, SUMMARY_COLUMN_COUNT, SUMMARY_FROM};
use super::{begin_write, timestamp, MatchSummary, NewAlert, Store, StoreError};

/// Where a match stands in review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReviewStatus {
    /// Nobody has decided yet.
    Unreviewed,
    /// An unauthorised copy: escalated to counsel.
    Infringing,
    /// Licensed (a partner's copy): no action.
    Licensed,
    /// A partner's copy that breaks its licence's terms (attribution, link back, title,
    /// excerpt share): licensing staff ask the partner to fix it.
    LicensedNoncompliant,
    /// Not a copy after all (a quotation, a shared wire story...).
    FalsePositive,
    /// The site is not worth pursuing.
    Ignored,
}

impl ReviewStatus {
    /// Every status, in the order the desk shows its folders.
    pub const ALL: [ReviewStatus; 6] = [
        ReviewStatus::Unreviewed,
        ReviewStatus::Infringing,
        ReviewStatus::Licensed,
        ReviewStatus::LicensedNoncompliant,
        ReviewStatus::FalsePositive,
        ReviewStatus::Ignored,
    ];

    /// The stored and command-line name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewStatus::Unreviewed => "unreviewed",
            ReviewStatus::Infringing => "infringing",
            ReviewStatus::Licensed => "licensed",
            ReviewStatus::LicensedNoncompliant => "licensed-noncompliant",
            ReviewStatus::FalsePositive => "false-positive",
            ReviewStatus::Ignored => "ignored",
        }
    }

    /// Parses a stored or command-line name.
    pub fn parse(name: &str) -> Option<ReviewStatus> {
        ReviewStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl std::fmt::Display for ReviewStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One decision as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub id: i64,
    pub match_id: i64,
    pub status: String,
    pub previous_status: String,
    pub note: String,
    pub actor: String,
    pub via: String,
    pub decided_at: String,
    pub alert_id: Option<i64>,
}

/// A decision to record on one or more matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDecision<'a> {
    pub status: ReviewStatus,
    pub note: &'a str,
    /// Who decides (a web user's name, or the Unix user of the CLI).
    pub actor: &'a str,
    /// `web`, `web-bulk` or `cli`.
    pub via: &'a str,
}

/// What [`Store::decide`] did with one match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecideOutcome {
    /// Recorded; `escalated` when an escalation alert was queued.
    Recorded {
        match_id: i64,
        previous: ReviewStatus,
        escalated: bool,
    },
    /// No such match.
    NotFound { match_id: i64 },
}

/// A domain a decision adds to a site list (with the decision, in its transaction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListAddition {
    pub list: SiteList,
    pub domain: String,
    /// The match whose review added it.
    pub match_id: Option<i64>,
}

/// What [`Store::decide`] recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    /// One per match id, in order.
    pub outcomes: Vec<DecideOutcome>,
    /// The list additions that were new (a domain already listed is not).
    pub domains_added: Vec<String>,
}

/// An entry of a reviewers' site list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteListEntry {
    pub domain: String,
    pub added_by: String,
    pub added_at: String,
    pub match_id: Option<i64>,
}

/// The two site lists reviewers keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteList {
    /// Copies there are licensed (like `[crawl] licensed`).
    Licensed,
    /// Copies there are recorded as `ignored` and alert nobody.
    Ignored,
}

impl SiteList {
    fn as_str(self) -> &'static str {
        match self {
            SiteList::Licensed => "licensed",
            SiteList::Ignored => "ignored",
        }
    }
}

/// How the queue is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// By share of the original copied (containment).
    Share,
    /// By capture time.
    #[default]
    Date,
}

/// Which matches a queue shows, in which order, and which page of them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MatchFilter {
    pub status: Option<ReviewStatus>,
    /// The copy's host (`copy_host`), exactly.
    pub host: Option<String>,
    /// `copy` or `partial`.
    pub verdict: Option<String>,
    /// Captured on or after this day (`YYYY-MM-DD`, UTC).
    pub from: Option<chrono::NaiveDate>,
    /// Captured on or before this day (`YYYY-MM-DD`, UTC).
    pub to: Option<chrono::NaiveDate>,
    /// Text the copy's URL, the copy's title or the original's title contains (case
    /// folded for ASCII letters, as SQLite's `LIKE` does; Chinese has no case). At most
    /// [`MAX_SEARCH_CHARS`] characters: the callers check.
    pub search: Option<String>,
    pub sort: SortKey,
    /// Smallest first; the default is largest (or newest) first.
    pub ascending: bool,
    pub offset: usize,
    /// At most this many rows (0: all).
    pub limit: usize,
}

/// The longest search text a filter takes (the desk and the CLI refuse longer ones): a
/// title or URL fragment is far shorter, and every row is scanned with it.
pub const MAX_SEARCH_CHARS: usize = 200;

/// `text` as a `LIKE` pattern that matches it anywhere, its own `%`, `_` and `\` taken
/// literally (the query says `ESCAPE '\'`).
fn like_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// One page of a queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchPage {
    pub matches: Vec<MatchSummary>,
    /// Matches the filter selects, over all pages.
    pub total: i64,
}

/// The review dates an export adds to the summary columns, read from `decisions`
/// (indexed by match): the first and the last decision, and when the match entered its
/// current status, which is the last decision that moved it there or, for a match still
/// in the status it was recorded with (`unreviewed`, `licensed`, `ignored`), its first
/// capture.
const EXPORT_COLUMNS: &str = ",
    (SELECT MIN(d.decided_at) FROM decisions d WHERE d.match_id = m.id),
    (SELECT MAX(d.decided_at) FROM decisions d WHERE d.match_id = m.id),
    COALESCE((SELECT MAX(d.decided_at) FROM decisions d
              WHERE d.match_id = m.id AND d.status = m.status
                AND d.previous_status != d.status), m.first_seen)";

/// One match of an export: what `matches list --json` says, and its review dates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportRow {
    #[serde(flatten)]
    pub summary: MatchSummary,
    /// When the first review decision was recorded; `None` when nobody decided yet.
    pub first_decision_at: Option<String>,
    /// When the latest review decision was recorded.
    pub last_decision_at: Option<String>,
    /// When the match entered its current status (see [`EXPORT_COLUMNS`]).
    pub status_since: String,
}

/// The rows of an export and how many matches the filter selects in all (more than
/// the rows when the export's bound cut it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportPage {
    pub rows: Vec<ExportRow>,
    pub total: i64,
}

/// A site with matches, for the desk's site filter and bulk actions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteCount {
    pub host: String,
    pub unreviewed: i64,
    pub total: i64,
}

/// What the desk's site page says about a site's matches as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteOverview {
    /// Matches per status, in [`ReviewStatus::ALL`] order.
    pub counts: Vec<(ReviewStatus, i64)>,
    /// When a match on the site was first seen (RFC 3339 UTC).
    pub first_seen: String,
    /// When a match on the site was last seen.
    pub last_seen: String,
}

/// A logged-in reviewer's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub user_name: String,
    pub csrf_token: String,
    pub expires_at: String,
}

/// The WHERE clause and parameters of a filter (without the status when `with_status`
/// is false: the folder counts are per status).
fn filter_sql(f: &MatchFilter, with_status: bool) -> (String, Vec<String>) {
    let mut clauses = Vec::new();
    let mut values = Vec::new();
    if let (true, Some(s)) = (with_status, f.status) {
        values.push(s.as_str().to_string());
        clauses.push(format!("m.status = ?{}", values.len()));
    }
    if let Some(h) = &f.host {
        values.push(h.clone());
        clauses.push(format!("m.copy_host = ?{}", values.len()));
    }
    if let Some(v) = &f.verdict {
        values.push(v.clone());
        clauses.push(format!("m.verdict = ?{}", values.len()));
    }
    // Capture times are RFC 3339 UTC text, so day bounds compare as text.
    if let Some(d) = f.from {
        values.push(format!("{}T00:00:00Z", d.format("%Y-%m-%d")));
        clauses.push(format!("m.captured_at >= ?{}", values.len()));
    }
    if let Some(d) = f.to {
        values.push(format!("{}T23:59:59.999Z", d.format("%Y-%m-%d")));
        clauses.push(format!("m.captured_at <= ?{}", values.len()));
    }
    if let Some(text) = f.search.as_deref().filter(|t| !t.is_empty()) {
        values.push(like_pattern(text));
        let n = values.len();
        // The original's title is its current version's, as the queue shows it; a
        // subquery rather than the summary's join, so the counts (which read `matches`
        // alone) select the same rows.
        clauses.push(format!(
            "(m.copy_url LIKE ?{n} ESCAPE '\\' OR m.copy_title LIKE ?{n} ESCAPE '\\'
              OR (SELECT v2.title FROM originals o2 JOIN original_versions v2
                    ON v2.original_id = o2.id AND v2.version = o2.current_version
                  WHERE o2.id = m.original_id) LIKE ?{n} ESCAPE '\\')"
        ));
    }
    let sql = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    (sql, values)
}

fn decision_row(r: &crate::store::sql::Row) -> crate::store::sql::Result<Decision> {
    Ok(Decision {
        id: r.get(0)?,
        match_id: r.get(1)?,
        status: r.get(2)?,
        previous_status: r.get(3)?,
        note: r.get(4)?,
        actor: r.get(5)?,
        via: r.get(6)?,
        decided_at: r.get(7)?,
        alert_id: r.get(8)?,
    })
}

impl Store {
    /// One page of matches selected by `filter`, with the total over all pages.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn query_matches(&self, filter: &MatchFilter) -> Result<MatchPage, StoreError> {
        let (matches, total) = self.select_matches(filter, "", summary_row)?;
        Ok(MatchPage { matches, total })
    }

    /// The matches `filter` selects, as [`Store::query_matches`] orders and pages them,
    /// each with its review dates: the rows of `copyhound matches export` and the desk's
    /// export links. The caller bounds the rows with `filter.limit`.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn export_matches(&self, filter: &MatchFilter) -> Result<ExportPage, StoreError> {
        let (rows, total) = self.select_matches(filter, EXPORT_COLUMNS, |r| {
            let n = SUMMARY_COLUMN_COUNT;
            Ok(ExportRow {
                summary: summary_row(r)?,
                first_decision_at: r.get(n)?,
                last_decision_at: r.get(n + 1)?,
                status_since: r.get(n + 2)?,
            })
        })?;
        Ok(ExportPage { rows, total })
    }

    /// The one query behind the queue, `matches list` and the exports: the summary
    /// columns plus `extra` ones, filtered, ordered and paged by `filter`, and the total
    /// the filter selects over all pages.
    fn select_matches<T>(
        &self,
        filter: &MatchFilter,
        extra: &str,
        row: impl FnMut(&crate::store::sql::Row) -> crate::store::sql::Result<T>,
    ) -> Result<(Vec<T>, i64), StoreError> {
        let (clause, values) = filter_sql(filter, true);
        let direction = if filter.ascending { "ASC" } else { "DESC" };
        let order = match filter.sort {
            SortKey::Share => format!("m.containment {direction}, m.id {direction}"),
            SortKey::Date => format!("m.captured_at {direction}, m.id {direction}"),
        };
        // No limit is a limit no table reaches (SQLite's -1 is not standard SQL).
        let limit = if filter.limit == 0 {
            i64::MAX
        } else {
            filter.limit as i64
        };
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS}{extra} {SUMMARY_FROM} {clause} ORDER BY {order}
             LIMIT {limit} OFFSET {}",
            filter.offset
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params_from_iter(values.iter()), row)
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        let total = self
            .conn
            .query_row(
                &format!("SELECT COUNT(*) FROM matches m {clause}"),
                params_from_iter(values.iter()),
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        Ok((rows, total))
    }

    /// The ids of the matches `filter` selects over all pages (its offset and limit
    /// ignored), in its order, at most `max`; and how many it selects in all, so a caller
    /// can refuse a selection larger than its bound instead of deciding part of it.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn select_match_ids(
        &self,
        filter: &MatchFilter,
        max: usize,
    ) -> Result<(Vec<i64>, i64), StoreError> {
        let all = MatchFilter {
            offset: 0,
            limit: max.max(1),
            ..filter.clone()
        };
        self.select_matches(&all, "", |r| r.get(0))
    }

    /// A site's figures for its page: matches per status, first and last seen.
    /// `None` when the site has no matches.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn site_overview(&self, host: &str) -> Result<Option<SiteOverview>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT status, COUNT(*), MIN(first_seen), MAX(last_seen) FROM matches
                 WHERE copy_host = ?1 GROUP BY status",
            )
            .map_err(|e| self.err(e))?;
        let rows: Vec<(String, i64, String, String)> = stmt
            .query_map(params![host], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        if rows.is_empty() {
            return Ok(None);
        }
        // Times are RFC 3339 UTC text of one format, so they order as text.
        let first_seen = rows.iter().map(|r| r.2.clone()).min().unwrap_or_default();
        let last_seen = rows.iter().map(|r| r.3.clone()).max().unwrap_or_default();
        let counts = ReviewStatus::ALL
            .into_iter()
            .map(|s| {
                let n = rows.iter().filter(|r| r.0 == s.as_str()).map(|r| r.1).sum();
                (s, n)
            })
            .collect();
        Ok(Some(SiteOverview {
            counts,
            first_seen,
            last_seen,
        }))
    }

    /// The decisions on a site's matches, newest first, at most `limit`, and how many
    /// there are in all.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn site_decisions(
        &self,
        host: &str,
        limit: usize,
    ) -> Result<(Vec<Decision>, i64), StoreError> {
        // The window count is taken before the LIMIT: every decision on the site.
        let mut stmt = self
            .conn
            .prepare(
                "SELECT d.id, d.match_id, d.status, d.previous_status, d.note, d.actor, d.via,
                        d.decided_at, d.alert_id, COUNT(*) OVER ()
                 FROM decisions d JOIN matches m ON m.id = d.match_id
                 WHERE m.copy_host = ?1 ORDER BY d.id DESC LIMIT ?2",
            )
            .map_err(|e| self.err(e))?;
        let rows: Vec<(Decision, i64)> = stmt
            .query_map(params![host, limit.max(1) as i64], |r| {
                Ok((decision_row(r)?, r.get(9)?))
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        let total = rows.first().map_or(0, |r| r.1);
        Ok((rows.into_iter().map(|r| r.0).collect(), total))
    }

    /// How many matches `filter` selects in each status (its own status ignored), in
    /// [`ReviewStatus::ALL`] order.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn status_counts(
        &self,
        filter: &MatchFilter,
    ) -> Result<Vec<(ReviewStatus, i64)>, StoreError> {
        let (clause, values) = filter_sql(filter, false);
        let sql = format!("SELECT m.status, COUNT(*) FROM matches m {clause} GROUP BY m.status");
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let counted: HashMap<String, i64> = stmt
            .query_map(params_from_iter(values.iter()), |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        Ok(ReviewStatus::ALL
            .into_iter()
            .map(|s| (s, counted.get(s.as_str()).copied().unwrap_or(0)))
            .collect())
    }

    /// Every site with matches, most unreviewed first.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn match_sites(&self) -> Result<Vec<SiteCount>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT copy_host, SUM(CASE WHEN status = 'unreviewed' THEN 1 ELSE 0 END), COUNT(*) FROM matches
                 GROUP BY copy_host ORDER BY 2 DESC, 3 DESC, 1",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(SiteCount {
                    host: r.get(0)?,
                    unreviewed: r.get(1)?,
                    total: r.get(2)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// The ids of a site's matches, optionally only those in `status`, oldest first.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn site_match_ids(
        &self,
        host: &str,
        status: Option<ReviewStatus>,
    ) -> Result<Vec<i64>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id FROM matches WHERE copy_host = ?1 AND (?2 IS NULL OR status = ?2)
                 ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![host, status.map(ReviewStatus::as_str)], |r| {
                r.get(0)
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Records `decision` on each of `match_ids`, in one transaction: a decision row
    /// with who and when, the match's new status, and for a match that moves to
    /// `infringing` from another status its escalation alerts from `escalations` (keyed
    /// by match id; prepared by the caller, queued here only on that move, so a match is
    /// escalated once however often it is marked), and `list_additions` (a domain already
    /// on its list keeps its first entry). Durable once this returns.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written; nothing is then recorded.
    pub fn decide(
        &mut self,
        match_ids: &[i64],
        decision: &NewDecision<'_>,
        escalations: &HashMap<i64, Vec<NewAlert>>,
        list_additions: &[ListAddition],
        now: DateTime<Utc>,
    ) -> Result<Decided, StoreError> {
        let path = self.path.clone();
        let err = |source| StoreError::Db {
            path: path.clone(),
            source,
        };
        let now_text = timestamp(now);
        let tx = begin_write(&mut self.conn).map_err(err)?;
        let mut outcomes = Vec::with_capacity(match_ids.len());
        for &match_id in match_ids {
            let previous: Option<String> = tx
                .query_row(
                    "SELECT status FROM matches WHERE id = ?1",
                    params![match_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(err)?;
            let Some(previous) = previous else {
                outcomes.push(DecideOutcome::NotFound { match_id });
                continue;
            };
            // Statuses are only ever written from ReviewStatus (and 'new' was migrated),
            // so an unknown one is a damaged row: treat it as unreviewed.
            let previous = ReviewStatus::parse(&previous).unwrap_or(ReviewStatus::Unreviewed);
            let escalate =
                decision.status == ReviewStatus::Infringing && previous != ReviewStatus::Infringing;
            let mut alert_id = None;
            if escalate {
                if let Some(alerts) = escalations.get(&match_id) {
                    // The first row is the email to counsel (chat channels follow it).
                    alert_id = super::enqueue_alerts_in(&tx, alerts, now)
                        .map_err(err)?
                        .first()
                        .copied();
                }
            }
            let decision_id = tx
                .insert_id(
                    "INSERT INTO decisions
                   (match_id, status, previous_status, note, actor, via, decided_at, alert_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        match_id,
                        decision.status.as_str(),
                        previous.as_str(),
                        decision.note,
                        decision.actor,
                        decision.via,
                        now_text,
                        alert_id,
                    ],
                )
                .map_err(err)?;
            // A case follows its match's review: the move into infringing opens it, a
            // move away closes it as dropped (see store::cases).
            if escalate {
                super::cases::open_case_in(
                    &tx,
                    match_id,
                    decision_id,
                    decision.actor,
                    decision.via,
                    decision.note,
                    now,
                )
                .map_err(err)?;
            } else if previous == ReviewStatus::Infringing
                && decision.status != ReviewStatus::Infringing
            {
                super::cases::drop_case_in(
                    &tx,
                    match_id,
                    decision_id,
                    decision.status.as_str(),
                    decision.actor,
                    decision.via,
                    now,
                )
                .map_err(err)?;
            }
            tx.execute(
                // The first decision's time is kept on the match for the dashboard
                // (migration 12).
                "UPDATE matches SET status = ?2,
                        first_decided_at = COALESCE(first_decided_at, ?3)
                 WHERE id = ?1",
                params![match_id, decision.status.as_str(), now_text],
            )
            .map_err(err)?;
            outcomes.push(DecideOutcome::Recorded {
                match_id,
                previous,
                escalated: alert_id.is_some(),
            });
        }
        let mut domains_added = Vec::new();
        for a in list_additions {
            let inserted = tx
                .execute(
                    "INSERT INTO site_lists (list, domain, added_by, added_at, match_id)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT DO NOTHING",
                    params![
                        a.list.as_str(),
                        a.domain,
                        decision.actor,
                        now_text,
                        a.match_id
                    ],
                )
                .map_err(err)?;
            if inserted == 1 {
                domains_added.push(a.domain.clone());
            }
        }
        tx.commit().map_err(err)?;
        Ok(Decided {
            outcomes,
            domains_added,
        })
    }

    /// A match's decisions, oldest first.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn decisions(&self, match_id: i64) -> Result<Vec<Decision>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, match_id, status, previous_status, note, actor, via, decided_at,
                        alert_id
                 FROM decisions WHERE match_id = ?1 ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![match_id], decision_row)
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// A site list, in the order entries were added.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn site_list(&self, list: SiteList) -> Result<Vec<SiteListEntry>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT domain, added_by, added_at, match_id FROM site_lists
                 WHERE list = ?1 ORDER BY added_at, domain",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![list.as_str()], |r| {
                Ok(SiteListEntry {
                    domain: r.get(0)?,
                    added_by: r.get(1)?,
                    added_at: r.get(2)?,
                    match_id: r.get(3)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Records a login session. `token_sha256` is the hash of the cookie's token.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written.
    pub fn create_session(
        &mut self,
        token_sha256: &str,
        user_name: &str,
        csrf_token: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // Expired sessions are swept here, at login, so the table stays small without a
        // background task.
        self.conn
            .execute(
                "DELETE FROM web_sessions WHERE expires_at <= ?1",
                params![timestamp(now)],
            )
            .map_err(|e| self.err(e))?;
        self.conn
            .execute(
                "INSERT INTO web_sessions
                   (token_sha256, user_name, csrf_token, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    token_sha256,
                    user_name,
                    csrf_token,
                    timestamp(now),
                    timestamp(expires_at)
                ],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// The unexpired session whose token hashes to `token_sha256`.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn find_session(
        &self,
        token_sha256: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.conn
            .query_row(
                "SELECT user_name, csrf_token, expires_at FROM web_sessions
                 WHERE token_sha256 = ?1 AND expires_at > ?2",
                params![token_sha256, timestamp(now)],
                |r| {
                    Ok(SessionRecord {
                        user_name: r.get(0)?,
                        csrf_token: r.get(1)?,
                        expires_at: r.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Ends a session (logout).
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written.
    pub fn delete_session(&mut self, token_sha256: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "DELETE FROM web_sessions WHERE token_sha256 = ?1",
                params![token_sha256],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::detect::Verdict;
    use crate::store::matches::tests::{capture, new_match, original};

    pub(in crate::store) fn store_with_matches() -> (tempfile::TempDir, Store, Vec<i64>) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = crate::store::testdb::open(dir.path()).unwrap();
        let o1 = original(&mut store, "https://news.example.com/1");
        let o2 = original(&mut store, "https://news.example.com/2");
        let mut ids = Vec::new();
        for (o, url, host, containment) in [
            (o1, "http://a.example/1", "a.example", 0.9),
            (o2, "http://a.example/2", "a.example", 0.4),
            (o1, "http://b.example/1", "b.example", 0.6),
        ] {
            let mut m = new_match(o, Verdict::Copy, false);
            m.copy_url = url.into();
            m.copy_host = host.into();
            m.containment = containment;
            let out = store
                .record_matches(&capture(b"x"), &[m], Utc::now())
                .unwrap();
            let crate::store::MatchOutcome::New { id } = out[0] else {
                panic!("{out:?}")
            };
            ids.push(id);
        }
        (dir, store, ids)
    }

    #[test]
    fn queue_filters_sorts_pages_and_counts() {
        crate::store::testdb::on_both(|| {
            let (_dir, store, ids) = store_with_matches();
            let by_share = store
                .query_matches(&MatchFilter {
                    sort: SortKey::Share,
                    ..MatchFilter::default()
                })
                .unwrap();
            let order: Vec<i64> = by_share.matches.iter().map(|m| m.id).collect();
            assert_eq!(order, vec![ids[0], ids[2], ids[1]]);
            assert_eq!(by_share.total, 3);
            let page = store
                .query_matches(&MatchFilter {
                    sort: SortKey::Share,
                    ascending: true,
                    offset: 1,
                    limit: 1,
                    ..MatchFilter::default()
                })
                .unwrap();
            assert_eq!(page.matches.len(), 1);
            assert_eq!(page.matches[0].id, ids[2]);
            assert_eq!(page.total, 3);
            let site = store
                .query_matches(&MatchFilter {
                    host: Some("a.example".into()),
                    ..MatchFilter::default()
                })
                .unwrap();
            assert_eq!(site.total, 2);
            let none = store
                .query_matches(&MatchFilter {
                    status: Some(ReviewStatus::Infringing),
                    ..MatchFilter::default()
                })
                .unwrap();
            assert_eq!(none.total, 0);
            let future = store
                .query_matches(&MatchFilter {
                    from: chrono::NaiveDate::from_ymd_opt(2030, 1, 1),
                    ..MatchFilter::default()
                })
                .unwrap();
            assert_eq!(future.total, 0);
            let counts = store.status_counts(&MatchFilter::default()).unwrap();
            assert_eq!(counts[0], (ReviewStatus::Unreviewed, 3));
            let sites = store.match_sites().unwrap();
            assert_eq!(sites[0].host, "a.example");
            assert_eq!((sites[0].unreviewed, sites[0].total), (2, 2));
        });
    }

    #[test]
    fn search_reads_urls_and_titles_literally_and_combines_with_filters() {
        crate::store::testdb::on_both(|| {
            let (_dir, store, ids) = store_with_matches();
            store
                .conn
                .execute(
                    "UPDATE matches SET copy_title = 'Bridge 100% Open_Day' WHERE id = ?1",
                    params![ids[2]],
                )
                .unwrap();
            let found = |search: &str, host: Option<&str>| -> Vec<i64> {
                let f = MatchFilter {
                    search: Some(search.into()),
                    host: host.map(str::to_string),
                    sort: SortKey::Share,
                    ..MatchFilter::default()
                };
                let page = store.query_matches(&f).unwrap();
                // The total (a query on `matches` alone) agrees with the rows.
                assert_eq!(page.total as usize, page.matches.len(), "{search}");
                let counted: i64 = store.status_counts(&f).unwrap().iter().map(|c| c.1).sum();
                assert_eq!(counted, page.total, "{search}");
                page.matches.iter().map(|m| m.id).collect()
            };
            // The copy's URL, any case; the copy's title; the original's title.
            assert_eq!(found("A.EXAMPLE/2", None), vec![ids[1]]);
            assert_eq!(found("bridge 100% open", None), vec![ids[2]]);
            assert_eq!(found("标题", None), vec![ids[0], ids[2], ids[1]]);
            // `%` and `_` are themselves, not wildcards.
            assert_eq!(found("100%", None), vec![ids[2]]);
            assert_eq!(found("%", None), vec![ids[2]]);
            // As a wildcard, `_` would find "a.example/1" and "b.example/1".
            assert!(found("e_1", None).is_empty());
            assert_eq!(found("open_day", None), vec![ids[2]]);
            // With the other filters.
            assert!(found("标题", Some("a.example")).len() == 2);
            assert!(found("bridge", Some("a.example")).is_empty());
            // Every page of a selection, bounded.
            let f = MatchFilter {
                search: Some("标题".into()),
                limit: 1,
                offset: 1,
                ..MatchFilter::default()
            };
            let (some, total) = store.select_match_ids(&f, 2).unwrap();
            assert_eq!((some.len(), total), (2, 3));
        });
    }

    #[test]
    fn site_overview_and_decisions() {
        crate::store::testdb::on_both(|| {
            let (_dir, mut store, ids) = store_with_matches();
            assert_eq!(store.site_overview("nowhere.example").unwrap(), None);
            let decision = NewDecision {
                status: ReviewStatus::FalsePositive,
                note: "quote",
                actor: "wang",
                via: "web-bulk",
            };
            store
                .decide(&ids[..2], &decision, &HashMap::new(), &[], Utc::now())
                .unwrap();
            let o = store.site_overview("a.example").unwrap().unwrap();
            assert_eq!(o.counts[4], (ReviewStatus::FalsePositive, 2));
            assert_eq!(o.counts[0], (ReviewStatus::Unreviewed, 0));
            assert!(o.first_seen <= o.last_seen);
            let (decisions, total) = store.site_decisions("a.example", 1).unwrap();
            assert_eq!((decisions.len(), total), (1, 2));
            assert_eq!(decisions[0].match_id, ids[1]);
            assert!(store.site_decisions("b.example", 10).unwrap().0.is_empty());
        });
    }

    #[test]
    fn decisions_are_kept_and_escalate_once() {
        crate::store::testdb::on_both(|| {
            let (_dir, mut store, ids) = store_with_matches();
            let alert = NewAlert {
                match_id: Some(ids[0]),
                role: crate::config::Role::Legal,
                channel: crate::store::Channel::Email,
                facts_json: "{}".into(),
                evidence_file: None,
                evidence_sha256: None,
            };
            let escalations = HashMap::from([(ids[0], vec![alert])]);
            let infringing = NewDecision {
                status: ReviewStatus::Infringing,
                note: "no licence on file",
                actor: "wang",
                via: "web",
            };
            let out = store
                .decide(&[ids[0], 999], &infringing, &escalations, &[], Utc::now())
                .unwrap();
            assert!(out.domains_added.is_empty());
            assert_eq!(
                out.outcomes,
                vec![
                    DecideOutcome::Recorded {
                        match_id: ids[0],
                        previous: ReviewStatus::Unreviewed,
                        escalated: true
                    },
                    DecideOutcome::NotFound { match_id: 999 }
                ]
            );
            assert_eq!(store.pending_alert_count().unwrap(), 1);
            // Marked infringing again: recorded, not escalated again.
            let out = store
                .decide(&[ids[0]], &infringing, &escalations, &[], Utc::now())
                .unwrap();
            assert!(matches!(
                out.outcomes[0],
                DecideOutcome::Recorded {
                    escalated: false,
                    ..
                }
            ));
            assert_eq!(store.pending_alert_count().unwrap(), 1);
            let licensed = NewDecision {
                status: ReviewStatus::Licensed,
                note: "",
                actor: "li",
                via: "cli",
            };
            store
                .decide(
                    &[ids[0]],
                    &licensed,
                    &HashMap::new(),
                    &[ListAddition {
                        list: SiteList::Licensed,
                        domain: "a.example".into(),
                        match_id: Some(ids[0]),
                    }],
                    Utc::now(),
                )
                .unwrap();
            let list = store.site_list(SiteList::Licensed).unwrap();
            assert_eq!(list.len(), 1);
            assert_eq!(list[0].added_by, "li");
            let history = store.decisions(ids[0]).unwrap();
            assert_eq!(history.len(), 3);
            assert_eq!(history[0].note, "no licence on file");
            assert_eq!(history[0].actor, "wang");
            assert!(history[0].alert_id.is_some());
            assert_eq!(history[2].previous_status, "infringing");
            assert_eq!(history[2].status, "licensed");
            let m = store.find_match(ids[0]).unwrap().unwrap();
            assert_eq!(m.summary.status, "licensed");
        });
    }

    #[test]
    fn exports_carry_the_review_dates() {
        crate::store::testdb::on_both(|| {
            let (_dir, mut store, ids) = store_with_matches();
            let at = |h: u32| {
                chrono::NaiveDate::from_ymd_opt(2026, 11, 26)
                    .and_then(|d| d.and_hms_opt(h, 0, 0))
                    .unwrap()
                    .and_utc()
            };
            let decide = |store: &mut Store, status, h| {
                let d = NewDecision {
                    status,
                    note: "",
                    actor: "wang",
                    via: "cli",
                };
                store
                    .decide(&[ids[0]], &d, &HashMap::new(), &[], at(h))
                    .unwrap();
            };
            // Infringing at 9, again at 10 (no move), licensed at 11, infringing at 12: the
            // status was set at 12, and a repeat does not reset it.
            decide(&mut store, ReviewStatus::Infringing, 9);
            decide(&mut store, ReviewStatus::Infringing, 10);
            decide(&mut store, ReviewStatus::Licensed, 11);
            decide(&mut store, ReviewStatus::Infringing, 12);
            decide(&mut store, ReviewStatus::Infringing, 13);
            let page = store
                .export_matches(&MatchFilter {
                    status: Some(ReviewStatus::Infringing),
                    ..MatchFilter::default()
                })
                .unwrap();
            assert_eq!(page.total, 1);
            let row = &page.rows[0];
            assert_eq!(row.summary.id, ids[0]);
            assert_eq!(
                row.first_decision_at.as_deref(),
                Some("2026-11-26T09:00:00Z")
            );
            assert_eq!(
                row.last_decision_at.as_deref(),
                Some("2026-11-26T13:00:00Z")
            );
            assert_eq!(row.status_since, "2026-11-26T12:00:00Z");
            // An undecided match: no decision dates, in its status since it was found.
            let all = store
                .export_matches(&MatchFilter {
                    limit: 2,
                    ..MatchFilter::default()
                })
                .unwrap();
            assert_eq!((all.rows.len(), all.total), (2, 3));
            let undecided = all.rows.iter().find(|r| r.summary.id != ids[0]).unwrap();
            assert_eq!(undecided.first_decision_at, None);
            assert_eq!(undecided.status_since, undecided.summary.first_seen);
        });
    }

    #[test]
    fn site_lists_and_sessions() {
        crate::store::testdb::on_both(|| {
            let (_dir, mut store, ids) = store_with_matches();
            let now = Utc::now();
            let add = |store: &mut Store, actor: &str| {
                let decision = NewDecision {
                    status: ReviewStatus::Licensed,
                    note: "",
                    actor,
                    via: "cli",
                };
                let addition = ListAddition {
                    list: SiteList::Licensed,
                    domain: "a.example".into(),
                    match_id: Some(ids[2]),
                };
                let decided = store
                    .decide(&[ids[2]], &decision, &HashMap::new(), &[addition], now)
                    .unwrap();
                decided.domains_added
            };
            // The first entry is new and kept, with its author; the same domain again is not.
            assert_eq!(add(&mut store, "wang"), vec!["a.example".to_string()]);
            assert!(add(&mut store, "li").is_empty());
            let list = store.site_list(SiteList::Licensed).unwrap();
            assert_eq!(list.len(), 1);
            assert_eq!(list[0].added_by, "wang");
            assert!(store.site_list(SiteList::Ignored).unwrap().is_empty());
            assert_eq!(
                store
                    .site_match_ids("a.example", Some(ReviewStatus::Unreviewed))
                    .unwrap(),
                vec![ids[0], ids[1]]
            );

            let later = now + chrono::Duration::hours(1);
            store
                .create_session("hash", "wang", "csrf", now, later)
                .unwrap();
            let s = store.find_session("hash", now).unwrap().unwrap();
            assert_eq!(s.user_name, "wang");
            assert!(store.find_session("hash", later).unwrap().is_none());
            store.delete_session("hash").unwrap();
            assert!(store.find_session("hash", now).unwrap().is_none());
        });
    }
}
