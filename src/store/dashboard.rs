//! The figures behind the desk's dashboard and the monthly report: one set of aggregate
//! queries over a time window, so the two can never disagree.
//!
//! Every query is a `GROUP BY` over an index that holds the columns it reads (migration
//! 12 adds them), so the cost is one scan of the window's index entries, not of the
//! table: 100,000 matches are aggregated in a few tens of milliseconds.
//!
//! Times are the stored RFC 3339 UTC strings, compared as text (they sort as times).
//! A match is "new" in the window when its `first_seen` (when copyhound first captured
//! and recorded it) is in the window; its first decision's time is kept on the match
//! (`first_decided_at`, set by [`Store::decide`]).

use crate::store::sql::params;
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};

use super::{timestamp, ReviewStatus, Store, StoreError};
use crate::cases::{CaseState, Outcome};

/// A half-open time window `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// New matches of one week (Monday to Monday, UTC, clipped to the window), by verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeekCount {
    /// The Monday the week starts on.
    pub start: NaiveDate,
    pub copy: i64,
    pub partial: i64,
}

/// A copying site in the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteActivity {
    pub host: String,
    /// Its matches first seen in the window (false positives not counted).
    pub matches: i64,
    /// The distinct originals those matches copy.
    pub originals: i64,
    /// Of those matches, how many are now `infringing`.
    pub infringing: i64,
    /// Of those matches, how many were recorded on a licensed domain.
    pub licensed: i64,
}

/// A match decided as infringing in the window (its move into `infringing`).
#[derive(Debug, Clone, PartialEq)]
pub struct Infringement {
    pub match_id: i64,
    pub copy_url: String,
    pub copy_host: String,
    pub copy_title: String,
    pub original_url: String,
    pub original_title: String,
    pub verdict: String,
    pub containment: f64,
    pub first_seen: String,
    pub decided_at: String,
    pub actor: String,
    pub note: String,
}

/// The raw figures of one window, as the store holds them. Shaping (weeks, buckets,
/// shares) is [`crate::dashboard`]'s, which is pure.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowFigures {
    pub window: Window,
    /// The archive's size: the denominator of a site's share of articles copied.
    pub originals: i64,
    /// New matches per week, by verdict.
    pub weeks: Vec<WeekCount>,
    /// New matches by current status, in [`ReviewStatus::ALL`] order.
    pub by_status: Vec<(ReviewStatus, i64)>,
    /// The matches unreviewed at the window's end (or now, if earlier), by age.
    pub backlog: Backlog,
    /// Sites by distinct originals copied, most first, at most `top_sites`.
    pub sites: Vec<SiteActivity>,
    /// Seconds from first capture to first decision, for matches first decided in the
    /// window.
    pub decision_seconds: Vec<f64>,
    /// Cases: their states at the window's end, and what happened to them in it.
    pub cases: CaseFigures,
}

/// The cases of a window (see [`Store::window_figures`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CaseFigures {
    /// Cases open at the window's end (or now, if earlier) per open state, in
    /// [`CaseState::ALL`] order (`removed` is a state too: the copy is gone, the case
    /// not yet closed).
    pub open: Vec<(CaseState, i64)>,
    /// Of those, the ones whose notice's deadline had passed with the copy still
    /// online (`notice-sent`, `still-online`, `changed`).
    pub overdue: i64,
    /// Cases opened in the window.
    pub opened: i64,
    /// Notices sent in the window (a second notice by another channel counts too).
    pub notices: i64,
    /// One entry per case whose copy was first found removed in the window.
    pub removals: Vec<RemovalTime>,
    /// Cases closed in the window, per outcome in [`Outcome::ALL`] order.
    pub closed: Vec<(Outcome, i64)>,
}

/// How long one copy took to go: see [`Store::window_figures`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RemovalTime {
    /// Seconds from the case's opening (the infringement's confirmation).
    pub from_opening: f64,
    /// Seconds from the case's first notice, when one was sent before the removal.
    pub from_notice: Option<f64>,
}

/// A copy removed in a window, as the monthly report lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Removal {
    pub case_id: i64,
    pub match_id: i64,
    pub copy_url: String,
    pub copy_host: String,
    pub copy_title: String,
    pub opened_at: String,
    /// The first notice before the removal, if any.
    pub notice_at: Option<String>,
    pub removed_at: String,
    pub time: RemovalTime,
}

/// Seconds from `a` to `b` (both stored times), never negative.
fn seconds_between(a: &str, b: &str) -> Option<f64> {
    let parse = |t: &str| DateTime::parse_from_rfc3339(t).ok();
    let (a, b) = (parse(a)?, parse(b)?);
    Some(((b - a).num_seconds().max(0)) as f64)
}

/// A case's time to removal from its `opened_at`, `first_notice_at` and `removed_at`
/// (a first notice after the removal is none before it).
fn removal_time(opened: &str, notice: Option<&str>, removed: &str) -> RemovalTime {
    RemovalTime {
        from_opening: seconds_between(opened, removed).unwrap_or(0.0),
        from_notice: notice
            .filter(|n| *n <= removed)
            .and_then(|n| seconds_between(n, removed)),
    }
}

/// The review backlog at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Backlog {
    /// Waiting matches per age bucket: younger than each of [`BACKLOG_AGE_DAYS`] in
    /// turn, then older than the last.
    pub by_age: Vec<i64>,
    /// When the longest-waiting match was first seen.
    pub oldest: Option<String>,
}

impl Backlog {
    pub fn total(&self) -> i64 {
        self.by_age.iter().sum()
    }
}

/// The bounds of the backlog's age buckets, in days.
pub const BACKLOG_AGE_DAYS: [i64; 4] = [1, 7, 30, 90];

/// How many sites [`Store::window_figures`] ranks.
pub const TOP_SITES: usize = 20;
/// The most infringements a monthly report lists (the rest are counted).
pub const MAX_REPORT_INFRINGEMENTS: usize = 1_000;
/// The most removals a monthly report lists (the rest are counted).
pub const MAX_REPORT_REMOVALS: usize = 1_000;

impl Store {
    /// The figures of `window`. The backlog is the one at the window's end: when that
    /// is now (or later), the matches whose status is `unreviewed`; for a past window,
    /// the matches first seen before its end that were then still waiting for their
    /// first decision (recorded unreviewed, first decided at or after the end, or not
    /// yet).
    ///
    /// Cases are likewise counted as they stood at the window's end (their state then,
    /// and overdue when the copy was still online `deadline` after the notice).
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn window_figures(
        &self,
        window: Window,
        now: DateTime<Utc>,
        deadline: std::time::Duration,
    ) -> Result<WindowFigures, StoreError> {
        let (from, to) = (timestamp(window.from), timestamp(window.to));
        let originals: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM originals", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;

        // Range counts on matches_verdict_first_seen (verdict, first_seen) and
        // matches_status_first_seen (status, first_seen): SQLite counts an index range
        // without sorting or grouping anything.
        let mut weeks = Vec::new();
        let mut start = window.from.date_naive();
        start -= chrono::Duration::days(i64::from(start.weekday().num_days_from_monday()));
        loop {
            let at = |d: NaiveDate| Utc.from_utc_datetime(&d.and_time(chrono::NaiveTime::MIN));
            let lo = at(start).max(window.from);
            let hi = at(start + chrono::Duration::weeks(1)).min(window.to);
            if lo >= hi && !weeks.is_empty() {
                break;
            }
            let count = |verdict: &str| {
                self.count(
                    "SELECT COUNT(*) FROM matches
                     WHERE verdict = ?1 AND first_seen >= ?2 AND first_seen < ?3",
                    params![verdict, timestamp(lo), timestamp(hi)],
                )
            };
            weeks.push(WeekCount {
                start,
                copy: count("copy")?,
                partial: count("partial")?,
            });
            if hi >= window.to {
                break;
            }
            start += chrono::Duration::weeks(1);
        }
        let mut by_status = Vec::with_capacity(ReviewStatus::ALL.len());
        for status in ReviewStatus::ALL {
            let n = self.count(
                "SELECT COUNT(*) FROM matches
                 WHERE status = ?1 AND first_seen >= ?2 AND first_seen < ?3",
                params![status.as_str(), from, to],
            )?;
            by_status.push((status, n));
        }

        // The backlog's ages are counted in SQL against each bucket's bound (stored
        // times compare as text), so no row leaves the database.
        let at = window.to.min(now);
        let bounds: Vec<String> = BACKLOG_AGE_DAYS
            .iter()
            .map(|d| timestamp(at - chrono::Duration::days(*d)))
            .collect();
        let (sql, key) = if window.to >= now {
            // matches_status_first_seen (status, first_seen): the current backlog.
            (
                "SELECT COUNT(*), MIN(first_seen), SUM(CASE WHEN first_seen > ?2 THEN 1 ELSE 0 END), SUM(CASE WHEN first_seen > ?3 THEN 1 ELSE 0 END),
                        SUM(CASE WHEN first_seen > ?4 THEN 1 ELSE 0 END), SUM(CASE WHEN first_seen > ?5 THEN 1 ELSE 0 END)
                 FROM matches WHERE status = 'unreviewed' AND first_seen < ?1",
                to.clone(),
            )
        } else {
            // As it was: first seen before the end, recorded unreviewed (the first
            // decision's previous status, or the current status without one), and not
            // decided before the end.
            (
                "SELECT COUNT(*), MIN(first_seen), SUM(CASE WHEN first_seen > ?2 THEN 1 ELSE 0 END), SUM(CASE WHEN first_seen > ?3 THEN 1 ELSE 0 END),
                        SUM(CASE WHEN first_seen > ?4 THEN 1 ELSE 0 END), SUM(CASE WHEN first_seen > ?5 THEN 1 ELSE 0 END)
                 FROM matches m
                 LEFT JOIN decisions d ON d.id =
                     (SELECT MIN(id) FROM decisions WHERE match_id = m.id)
                 WHERE m.first_seen < ?1
                   AND COALESCE(d.previous_status, m.status) = 'unreviewed'
                   AND (d.id IS NULL OR d.decided_at >= ?1)",
                to.clone(),
            )
        };
        let backlog = self
            .conn
            .prepare_cached(sql)
            .and_then(|mut stmt| {
                stmt.query_row(
                    params![key, bounds[0], bounds[1], bounds[2], bounds[3]],
                    |r| {
                        let total: i64 = r.get(0)?;
                        let younger: Vec<i64> = (2..6)
                            .map(|i| r.get::<_, Option<i64>>(i).map(|v| v.unwrap_or(0)))
                            .collect::<Result<_, _>>()?;
                        // Cumulative "younger than" counts into buckets.
                        let mut by_age = Vec::with_capacity(5);
                        let mut below = 0;
                        for y in &younger {
                            by_age.push(y - below);
                            below = *y;
                        }
                        by_age.push(total - below);
                        Ok(Backlog {
                            by_age,
                            oldest: r.get(1)?,
                        })
                    },
                )
            })
            .map_err(|e| self.err(e))?;

        // matches_host_original (copy_host, original_id, first_seen, status, licensed):
        // hosts come in order, each host's originals sorted, so COUNT(DISTINCT) is cheap.
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT copy_host, COUNT(*), COUNT(DISTINCT original_id),
                        SUM(CASE WHEN status = 'infringing' THEN 1 ELSE 0 END), SUM(CASE WHEN licensed THEN 1 ELSE 0 END)
                 FROM matches INDEXED BY matches_host_original
                 WHERE first_seen >= ?1 AND first_seen < ?2 AND status <> 'false-positive'
                 GROUP BY copy_host
                 ORDER BY 3 DESC, 2 DESC, 1 LIMIT ?3",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![from, to, TOP_SITES as i64], site_row)
            .map_err(|e| self.err(e))?;
        let sites = rows
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;

        // matches_first_decided (first_decided_at, first_seen): each match's first
        // decision is kept on the match, so no join is needed.
        // Date arithmetic is the one thing the two engines spell differently.
        let seconds = if self.conn.is_postgres() {
            "ROUND(EXTRACT(EPOCH FROM (CAST(first_decided_at AS TIMESTAMPTZ)
                                      - CAST(first_seen AS TIMESTAMPTZ))))::DOUBLE PRECISION"
        } else {
            "ROUND((julianday(first_decided_at) - julianday(first_seen)) * 86400.0)"
        };
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {seconds}
                 FROM matches WHERE first_decided_at >= ?1 AND first_decided_at < ?2"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![from, to], |r| r.get::<_, Option<f64>>(0))
            .map_err(|e| self.err(e))?;
        let mut decision_seconds = Vec::new();
        for row in rows {
            if let Some(s) = row.map_err(|e| self.err(e))? {
                // A clock set back can make a decision precede its capture: count it as 0.
                decision_seconds.push(s.max(0.0));
            }
        }
        let cases = self.case_figures(window, now, deadline)?;
        Ok(WindowFigures {
            window,
            originals,
            weeks,
            by_status,
            backlog,
            sites,
            decision_seconds,
            cases,
        })
    }

    /// The cases part of [`Store::window_figures`]. A case counts as removed in the
    /// window when its first removal (`removed_at`: its first event into `removed`, or
    /// its closing as removed) falls in it; its time to removal runs from the case's
    /// opening, and from its first notice when one was sent before.
    fn case_figures(
        &self,
        window: Window,
        now: DateTime<Utc>,
        deadline: std::time::Duration,
    ) -> Result<CaseFigures, StoreError> {
        let (from, to) = (timestamp(window.from), timestamp(window.to));
        let at = window.to.min(now);
        let cutoff = timestamp(
            at - chrono::Duration::from_std(deadline).unwrap_or(chrono::Duration::MAX / 2),
        );
        let rows = |sql: &str,
                    values: &[&dyn crate::store::sql::ToSql]|
         -> Result<Vec<(String, i64, i64)>, StoreError> {
            let mut stmt = self.conn.prepare_cached(sql).map_err(|e| self.err(e))?;
            let rows = stmt
                .query_map(values, |r| {
                    Ok((
                        r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                        r.get(1)?,
                        r.get::<_, Option<i64>>(2)?.unwrap_or(0),
                    ))
                })
                .map_err(|e| self.err(e))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
        };
        // States at the window's end: now, the cases' own columns (cases_state covers
        // the count; only the cases awaiting removal are read for their notice); for a
        // past window, each case's last event before the end.
        let by_state = if window.to >= now {
            let mut states = rows(
                "SELECT state, COUNT(*), 0 FROM cases WHERE state != 'closed' GROUP BY state",
                &[],
            )?;
            let overdue = self.count(
                "SELECT COUNT(*) FROM cases
                 WHERE state IN ('notice-sent', 'still-online', 'changed')
                   AND notice_at <= ?1",
                params![cutoff],
            )?;
            states.push((String::new(), 0, overdue));
            states
        } else {
            rows(
                "SELECT state, COUNT(*),
                        SUM(CASE WHEN state IN ('notice-sent', 'still-online', 'changed')
                            AND notice_at <= ?2 THEN 1 ELSE 0 END)
                 FROM (SELECT
                         (SELECT e.state FROM case_events e WHERE e.case_id = c.id
                            AND e.at < ?1 ORDER BY e.at DESC, e.id DESC LIMIT 1) AS state,
                         (SELECT MAX(e.at) FROM case_events e
                            INDEXED BY case_events_case WHERE e.case_id = c.id
                            AND e.kind = 'step' AND e.state = 'notice-sent'
                            AND e.at < ?1) AS notice_at
                       FROM cases c WHERE c.opened_at < ?1)
                 WHERE state != 'closed' GROUP BY state",
                &[&to, &cutoff],
            )?
        };
        let open = CaseState::ALL
            .into_iter()
            .filter(|s| s.is_open())
            .map(|s| {
                let n = by_state
                    .iter()
                    .filter(|(name, _, _)| name == s.as_str())
                    .map(|(_, n, _)| n)
                    .sum();
                (s, n)
            })
            .collect();
        let overdue = by_state.iter().map(|(_, _, o)| o).sum();

        // Window counts over case_events_state (state, at, ...): ranges, no table reads.
        let opened = self.count(
            "SELECT COUNT(*) FROM case_events
             WHERE state = 'escalated' AND at >= ?1 AND at < ?2 AND kind = 'opened'",
            params![from, to],
        )?;
        let notices = self.count(
            "SELECT COUNT(*) FROM case_events
             WHERE state = 'notice-sent' AND at >= ?1 AND at < ?2 AND kind = 'step'",
            params![from, to],
        )?;
        let closed_rows = rows(
            "SELECT outcome, COUNT(*), 0 FROM case_events
             WHERE state = 'closed' AND at >= ?1 AND at < ?2 AND previous_state != 'closed'
             GROUP BY outcome",
            &[&from, &to],
        )?;
        let closed = Outcome::ALL
            .into_iter()
            .map(|o| {
                let n = closed_rows
                    .iter()
                    .find(|(name, _, _)| name == o.as_str())
                    .map_or(0, |(_, n, _)| *n);
                (o, n)
            })
            .collect();

        // cases_removed (removed_at, opened_at, first_notice_at): one range.
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT opened_at, first_notice_at, removed_at FROM cases
                 WHERE removed_at >= ?1 AND removed_at < ?2",
            )
            .map_err(|e| self.err(e))?;
        let times = stmt
            .query_map(params![from, to], |r| {
                let opened: String = r.get(0)?;
                let notice: Option<String> = r.get(1)?;
                let removed: String = r.get(2)?;
                Ok(removal_time(&opened, notice.as_deref(), &removed))
            })
            .map_err(|e| self.err(e))?;
        let removals = times
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        Ok(CaseFigures {
            open,
            overdue,
            opened,
            notices,
            removals,
            closed,
        })
    }

    /// The one number `sql` counts with these parameters.
    fn count(&self, sql: &str, values: impl crate::store::sql::Params) -> Result<i64, StoreError> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut s| s.query_row(values, |r| r.get(0)))
            .map_err(|e| self.err(e))
    }

    /// The copies first found removed in `window` (see [`Store::window_figures`]),
    /// the earliest removal first, at most `limit`, and how many there were.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn removals(
        &self,
        window: Window,
        limit: usize,
    ) -> Result<(Vec<Removal>, i64), StoreError> {
        let (from, to) = (timestamp(window.from), timestamp(window.to));
        let total = self.count(
            "SELECT COUNT(*) FROM cases WHERE removed_at >= ?1 AND removed_at < ?2",
            params![from, to],
        )?;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT c.id, c.match_id, m.copy_url, m.copy_host, m.copy_title, c.opened_at,
                        c.first_notice_at, c.removed_at
                 FROM cases c JOIN matches m ON m.id = c.match_id
                 WHERE c.removed_at >= ?1 AND c.removed_at < ?2
                 ORDER BY c.removed_at, c.id LIMIT ?3",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![from, to, limit as i64], |r| {
                let opened_at: String = r.get(5)?;
                let notice_at: Option<String> = r.get(6)?;
                let removed_at: String = r.get(7)?;
                Ok(Removal {
                    case_id: r.get(0)?,
                    match_id: r.get(1)?,
                    copy_url: r.get(2)?,
                    copy_host: r.get(3)?,
                    copy_title: r.get(4)?,
                    time: removal_time(&opened_at, notice_at.as_deref(), &removed_at),
                    notice_at: notice_at.filter(|n| *n <= removed_at),
                    opened_at,
                    removed_at,
                })
            })
            .map_err(|e| self.err(e))?;
        let list = rows
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        Ok((list, total))
    }

    /// The matches decided infringing in `window` (each match's move into
    /// `infringing`), oldest decision first, at most `limit`, and how many there were.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn infringements(
        &self,
        window: Window,
        limit: usize,
    ) -> Result<(Vec<Infringement>, i64), StoreError> {
        let (from, to) = (timestamp(window.from), timestamp(window.to));
        let where_ = "d.decided_at >= ?1 AND d.decided_at < ?2 AND d.status = 'infringing'
                      AND d.previous_status <> 'infringing'";
        let total = self.count(
            &format!("SELECT COUNT(*) FROM decisions d WHERE {where_}"),
            params![from, to],
        )?;
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT m.id, m.copy_url, m.copy_host, m.copy_title, o.url,
                        COALESCE(v.title, ''), m.verdict, m.containment, m.first_seen,
                        d.decided_at, d.actor, d.note
                 FROM decisions d
                 JOIN matches m ON m.id = d.match_id
                 JOIN originals o ON o.id = m.original_id
                 LEFT JOIN original_versions v
                     ON v.original_id = o.id AND v.version = o.current_version
                 WHERE {where_}
                 ORDER BY d.decided_at, d.id LIMIT ?3"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![from, to, limit as i64], |r| {
                Ok(Infringement {
                    match_id: r.get(0)?,
                    copy_url: r.get(1)?,
                    copy_host: r.get(2)?,
                    copy_title: r.get(3)?,
                    original_url: r.get(4)?,
                    original_title: r.get(5)?,
                    verdict: r.get(6)?,
                    containment: r.get(7)?,
                    first_seen: r.get(8)?,
                    decided_at: r.get(9)?,
                    actor: r.get(10)?,
                    note: r.get(11)?,
                })
            })
            .map_err(|e| self.err(e))?;
        let list = rows
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        Ok((list, total))
    }

    /// Matches first seen in `window` on each host that has licensed ones (recorded on
    /// a licensed domain, or decided `licensed`): per host, those licensed matches, the
    /// originals they copy, and the host's matches decided `infringing` in the window's
    /// matches (a partner copying beyond its licence). Hosts in name order.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn licensed_activity(&self, window: Window) -> Result<Vec<SiteActivity>, StoreError> {
        let (from, to) = (timestamp(window.from), timestamp(window.to));
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT copy_host,
                        SUM(CASE WHEN licensed OR status = 'licensed' THEN 1 ELSE 0 END),
                        COUNT(DISTINCT CASE WHEN licensed OR status = 'licensed'
                                            THEN original_id END),
                        SUM(CASE WHEN status = 'infringing' THEN 1 ELSE 0 END),
                        SUM(CASE WHEN licensed THEN 1 ELSE 0 END)
                 FROM matches INDEXED BY matches_host_original
                 WHERE first_seen >= ?1 AND first_seen < ?2
                 GROUP BY copy_host
                 HAVING SUM(CASE WHEN licensed OR status = 'licensed' THEN 1 ELSE 0 END) > 0
                 ORDER BY copy_host",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![from, to], site_row)
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// When the first match was recorded, if any: the monthly report is not sent for
    /// months before the store held anything.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn first_match_seen(&self) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(
                // Each MIN is one seek in matches_verdict_first_seen.
                "SELECT MIN(m) FROM (
                     SELECT MIN(first_seen) AS m FROM matches WHERE verdict = 'copy'
                     UNION ALL
                     SELECT MIN(first_seen) FROM matches WHERE verdict = 'partial') AS firsts",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }
}

/// A [`SiteActivity`] from a row of `host, matches, originals, infringing, licensed`.
fn site_row(r: &crate::store::sql::Row) -> crate::store::sql::Result<SiteActivity> {
    Ok(SiteActivity {
        host: r.get(0)?,
        matches: r.get(1)?,
        originals: r.get(2)?,
        infringing: r.get(3)?,
        licensed: r.get(4)?,
    })
}

/// Parses a stored status name for the dashboard (an unknown one counts as unreviewed,
/// as everywhere else).
pub fn status_of(name: &str) -> ReviewStatus {
    ReviewStatus::parse(name).unwrap_or(ReviewStatus::Unreviewed)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::HashMap;

    use super::*;
    use crate::detect::Verdict;
    use crate::store::matches::tests::{capture, new_match, original};
    use crate::store::NewDecision;

    /// The dashboard's aggregates (range counts, sums of conditions, date arithmetic)
    /// come out the same on both backends, and as expected.
    #[test]
    fn figures_are_the_same_on_both_backends() {
        let seen = RefCell::new(Vec::new());
        crate::store::testdb::on_both(|| {
            let dir = tempfile::tempdir().unwrap();
            let mut store = crate::store::testdb::open(dir.path()).unwrap();
            let now = Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap();
            let a = original(&mut store, "https://news.example.com/1");
            let b = original(&mut store, "https://news.example.com/2");
            store
                .record_matches(
                    &capture(b"<p>a</p>"),
                    &[new_match(a, Verdict::Copy, false)],
                    now,
                )
                .unwrap();
            store
                .record_matches(
                    &capture(b"<p>b</p>"),
                    &[new_match(b, Verdict::Partial, true)],
                    now,
                )
                .unwrap();
            let id = store.list_matches().unwrap()[1].id;
            let decided = now + chrono::Duration::hours(2);
            store
                .decide(
                    &[id],
                    &NewDecision {
                        status: ReviewStatus::Infringing,
                        note: "n",
                        actor: "wang",
                        via: "cli",
                    },
                    &HashMap::new(),
                    &[],
                    decided,
                )
                .unwrap();
            let window = Window {
                from: now - chrono::Duration::days(7),
                to: now + chrono::Duration::days(1),
            };
            let figures = store
                .window_figures(window, decided, std::time::Duration::from_secs(14 * 86400))
                .unwrap();
            assert_eq!(figures.originals, 2);
            assert_eq!(figures.decision_seconds, vec![7200.0]);
            assert_eq!(figures.cases.opened, 1);
            let (infringements, count) = store.infringements(window, 10).unwrap();
            assert_eq!((infringements.len(), count), (1, 1));
            let licensed = store.licensed_activity(window).unwrap();
            assert_eq!(licensed.len(), 1);
            assert_eq!(store.removals(window, 10).unwrap().1, 0);
            assert!(store.first_match_seen().unwrap().is_some());
            seen.borrow_mut().push(format!(
                "{figures:?}\n{infringements:?}\n{licensed:?}\n{:?}",
                store.match_counts_by_verdict().unwrap()
            ));
        });
        let seen = seen.into_inner();
        if let [sqlite, postgres] = seen.as_slice() {
            assert_eq!(sqlite, postgres);
        }
    }
}
