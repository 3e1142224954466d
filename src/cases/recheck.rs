//! Re-checks: an open case's copy fetched again through the guarded crawler
//! ([`crate::crawl::pipeline::Rechecker`]: guard, robots.txt, politeness, the same
//! examination as every page), judged against the original match, recorded as a case
//! event with its own evidence file, and the alerts it implies queued in the same
//! transaction. A copy still online is rendered in the evidence browser when `[evidence]
//! browser` is set (the crawl's renderer, guard and bounds; a failed rendering only
//! leaves the screenshots out), and the evidence file is timestamped like any other (the
//! timestamp queue is filled from the case events too). The alerts:
//!
//! - still online (wholly or in part) past `[cases] deadline` after the notice: a
//!   reminder to counsel, once per notice (`cases.reminded_notice_at`);
//! - back online after a removal: the case reopens (a closed one too) and counsel is
//!   alerted.
//!
//! Used by `copyhound cases recheck` and by the daemon after each crawl cycle.

use chrono::{DateTime, Utc};
use url::Url;

use super::{deadline_at, judge, observed, CaseState, RecheckResult};
use crate::config::{Role, Settings};
use crate::crawl::pipeline::{PipelineError, RecheckFetch, Rechecker};
use crate::detect::Verdict;
use crate::evidence::{CaseAlert, EvidenceFile, MatchFacts, WarcInfo};
use crate::store::{CaseChange, CaseRecord, NewAlert, NewCaseEvent, Store, StoreError};

/// At most this many re-checks in one pass (the daemon does the rest in its next one).
pub const MAX_PER_PASS: usize = 200;

/// Why re-checks could not run (one page failing is a result, not an error).
#[derive(Debug, thiserror::Error)]
pub enum RecheckError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error("no case with id {0}")]
    NoSuchCase(i64),
    #[error("cannot prepare the alert of case {0}: {1}")]
    Facts(i64, String),
}

/// What one re-check found and did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RecheckReport {
    pub case_id: i64,
    pub url: String,
    pub result: RecheckResult,
    pub http_status: Option<u16>,
    /// The share of the original found now (`None`: none, or not fetched).
    pub containment: Option<f64>,
    pub previous_state: CaseState,
    pub state: CaseState,
    /// The re-check's own evidence file (none when no answer came).
    pub evidence_file: Option<String>,
    /// The evidence file holds the browser's rendering of the page (`[evidence]
    /// browser` set and the copy still online).
    pub rendered: bool,
    /// Why the page still online could not be rendered (the re-check is recorded all
    /// the same, its evidence file without screenshots).
    pub render_error: Option<String>,
    /// Why no answer came, or why the evidence file could not be written.
    pub error: Option<String>,
    /// A deadline reminder was queued for counsel.
    pub reminder: bool,
    /// The copy came back after its removal (the case reopened, counsel alerted).
    pub reappeared: bool,
    /// False when another process changed the case meanwhile (nothing recorded).
    pub recorded: bool,
}

impl RecheckReport {
    /// `case ID: RESULT (HTTP N, share) STATE -> STATE[, evidence FILE][, reminder ...]`.
    pub fn render(&self) -> String {
        let mut line = format!("case {}: {}", self.case_id, self.result.as_str());
        match (self.http_status, self.containment) {
            (Some(s), Some(c)) => line.push_str(&format!(" (HTTP {s}, {c:.3} of the original)")),
            (Some(s), None) => line.push_str(&format!(" (HTTP {s})")),
            _ => {}
        }
        line.push_str(&format!(", {} -> {}", self.previous_state, self.state));
        if let Some(f) = &self.evidence_file {
            line.push_str(&format!(", evidence {f}"));
            if self.rendered {
                line.push_str(" with screenshots");
            }
        }
        if let Some(e) = &self.render_error {
            line.push_str(&format!(" (not rendered: {e})"));
        }
        if self.reminder {
            line.push_str(", deadline reminder queued for legal");
        }
        if self.reappeared {
            line.push_str(", the copy is back: reopened, legal alerted");
        }
        if let Some(e) = &self.error {
            line.push_str(&format!(" ({e})"));
        }
        if !self.recorded {
            line.push_str(" (not recorded: the case changed meanwhile)");
        }
        line
    }
}

/// When a case's next re-check is due: its scheduled time (the first offset after its
/// opening when none was scheduled yet), or the end of its notice's deadline when that
/// comes first and no reminder went out for the notice yet, so that a copy still online
/// is found and counsel reminded when the deadline ends, not at the next offset.
pub fn due_at(case: &CaseRecord, settings: &Settings) -> Option<DateTime<Utc>> {
    let scheduled = scheduled_at(case, settings);
    let deadline = case
        .notice_at
        .as_deref()
        .filter(|_| case.state().awaits_removal())
        .filter(|n| case.reminded_notice_at.as_deref() != Some(*n))
        .and_then(parse)
        .map(|t| deadline_at(t, settings.cases.deadline.0))
        // Once re-checked after the deadline (unreachable, say), the schedule rules.
        .filter(|d| {
            case.last_recheck_at
                .as_deref()
                .and_then(parse)
                .is_none_or(|last| last < *d)
        });
    match (scheduled, deadline) {
        (Some(s), Some(d)) => Some(s.min(d)),
        (s, d) => s.or(d),
    }
}

fn scheduled_at(case: &CaseRecord, settings: &Settings) -> Option<DateTime<Utc>> {
    if let Some(next) = &case.next_recheck_at {
        return parse(next);
    }
    let closed = case.state() == CaseState::Closed;
    if closed {
        // A case closed as removed without a re-check scheduled is watched monthly
        // from its closing.
        return parse(&case.state_since).map(|t| super::add(t, settings.cases.schedule.monthly));
    }
    parse(&case.opened_at).map(|t| settings.cases.schedule.first(t))
}

fn parse(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The cases whose re-check is due at `now`, earliest first, at most [`MAX_PER_PASS`].
///
/// # Errors
/// [`StoreError`] when the database cannot be read.
pub fn due_cases(
    store: &Store,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Result<Vec<i64>, StoreError> {
    let mut due: Vec<(DateTime<Utc>, i64)> = store
        .watched_cases()?
        .iter()
        .filter_map(|c| due_at(c, settings).map(|t| (t, c.id)))
        .filter(|(t, _)| *t <= now)
        .collect();
    due.sort();
    Ok(due
        .into_iter()
        .take(MAX_PER_PASS)
        .map(|(_, id)| id)
        .collect())
}

/// Re-checks the cases `ids` now (as of `now`, which decides the deadline and the next
/// schedule), one after the other, and records each result.
///
/// # Errors
/// [`RecheckError::NoSuchCase`] before anything is fetched when an id is unknown;
/// [`RecheckError::Store`] / [`RecheckError::Pipeline`] when the store or the crawler
/// cannot be used.
pub async fn recheck(
    store: &mut Store,
    settings: &Settings,
    ids: &[i64],
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Vec<RecheckReport>, RecheckError> {
    let mut cases = Vec::with_capacity(ids.len());
    for &id in ids {
        cases.push(store.find_case(id)?.ok_or(RecheckError::NoSuchCase(id))?);
    }
    if cases.is_empty() {
        return Ok(Vec::new());
    }
    let mut rechecker = Rechecker::new(store, settings)?;
    let mut reports = Vec::with_capacity(cases.len());
    for case in &cases {
        reports.push(recheck_one(store, settings, &mut rechecker, case, actor, now).await?);
    }
    rechecker.finish(store)?;
    Ok(reports)
}

async fn recheck_one(
    store: &mut Store,
    settings: &Settings,
    rechecker: &mut Rechecker,
    case: &CaseRecord,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<RecheckReport, RecheckError> {
    let from = case.state();
    let fetched = match Url::parse(&case.copy_url) {
        Ok(url) => rechecker.fetch(&url).await,
        Err(e) => RecheckFetch::Failed(format!("stored URL {:?}: {e}", case.copy_url)),
    };
    let (result, capture, status, found, mut error) = match fetched {
        RecheckFetch::Page {
            capture,
            examination: Ok(exam),
        } => {
            let found = exam
                .findings
                .iter()
                .find(|f| {
                    f.original.id == case.original_id && f.comparison.verdict != Verdict::Unrelated
                })
                .map(|f| f.comparison.containment);
            let result = judge(capture.status, found, case.containment);
            let status = capture.status;
            (result, Some(capture), Some(status), found, None)
        }
        RecheckFetch::Page {
            capture,
            examination: Err(e),
        } => (
            RecheckResult::Unreachable,
            Some(capture),
            None,
            None,
            Some(format!("cannot examine the page: {e}")),
        ),
        RecheckFetch::Failed(e) => (RecheckResult::Unreachable, None, None, None, Some(e)),
    };
    let (to, back) = observed(from, result);
    let after = to.unwrap_or(from);
    let detail = store.find_match(case.match_id)?;
    let facts = match &detail {
        Some(d) => crate::review::facts_for_match(store, d)?,
        None => None,
    };
    let deadline = case
        .notice_at
        .as_deref()
        .and_then(parse)
        .map(|t| deadline_at(t, settings.cases.deadline.0));
    let has_legal = settings.contacts.iter().any(|c| c.role == Role::Legal);
    let reminder = has_legal
        && result.online()
        && after.awaits_removal()
        && deadline.is_some_and(|d| now >= d)
        && case.notice_at.is_some()
        && case.reminded_notice_at != case.notice_at;
    let reappeared = back && has_legal;
    let kind = if reappeared { "reappeared" } else { "reminder" };
    let case_alert = CaseAlert {
        case_id: case.id,
        kind: kind.to_string(),
        notice_at: case.notice_at.clone(),
        channel: case.notice_channel.clone(),
        recipient: case.notice_recipient.clone(),
        deadline_at: deadline.map(crate::evidence::utc),
        checked_at: crate::evidence::utc(now),
        result: result.as_str().to_string(),
        http_status: status,
        containment: found,
        evidence_file: None,
    };
    // What the re-check's evidence file and alert state: the match, with the copy as
    // this re-check found it (the passages stay the original finding's; the share
    // found now is in `case`).
    let facts = facts.map(|mut f: MatchFacts| {
        if let Some(capture) = &capture {
            f.copy.url = capture.final_url.to_string();
            f.copy.ip = capture.remote_addr.map(|a| a.ip().to_string());
            f.copy.captured_at = crate::evidence::utc(capture.finished_at);
            f.copy.redirects = capture
                .redirects
                .iter()
                .map(crate::evidence::RedirectFacts::from_hop)
                .collect();
        }
        f
    });
    // A copy still online is rendered as a person sees it (when a browser is set), as
    // a new match's page is; a removed or unreachable one has nothing to show.
    let mut rendering = None;
    let mut render_error = None;
    if let (Some(capture), Some(_), true) = (&capture, &facts, result.online()) {
        match rechecker.render(&capture.final_url).await {
            Some(Ok(r)) => rendering = Some(r),
            Some(Err(e)) => render_error = Some(e.to_string()),
            None => {}
        }
    }
    // The re-check's own evidence file.
    let mut evidence: Option<EvidenceFile> = None;
    if let (Some(capture), Some(facts)) = (&capture, &facts) {
        let mut f = facts.clone();
        f.case = Some(case_alert.clone());
        let written = crate::evidence::place::Place::open(&settings.storage)
            .map_err(crate::evidence::EvidenceError::from)
            .and_then(|place| {
                crate::evidence::write_bundle_with(
                    &place,
                    &WarcInfo::for_settings(settings),
                    capture,
                    &f,
                    now,
                    None,
                    rendering.as_ref(),
                )
            });
        match written {
            Ok(file) => evidence = Some(file),
            Err(e) => {
                tracing::warn!(case = case.id, error = %e, "re-check evidence file not written");
                error.get_or_insert_with(|| format!("evidence file not written: {e}"));
            }
        }
    }
    let mut alerts = Vec::new();
    if let (true, Some(mut f)) = (reminder || reappeared, facts) {
        let mut a = case_alert;
        a.evidence_file = evidence.as_ref().map(|e| e.file_name.clone());
        f.case = Some(a);
        alerts.push(NewAlert {
            match_id: Some(case.match_id),
            role: Role::Legal,
            // Reminders and reappearances carry the case's history and the re-check's
            // evidence, which only the email report lays out; chat messages announce
            // new matches and escalations.
            channel: crate::store::Channel::Email,
            facts_json: serde_json::to_string(&f)
                .map_err(|e| RecheckError::Facts(case.id, e.to_string()))?,
            evidence_file: evidence.as_ref().map(|e| e.file_name.clone()),
            evidence_sha256: evidence.as_ref().map(|e| e.sha256.clone()),
        });
    }
    let schedule = &settings.cases.schedule;
    let opened = parse(&case.opened_at).unwrap_or(now);
    let next = if after == CaseState::Closed && case.outcome.as_deref() != Some("removed") {
        None
    } else {
        Some(schedule.next_after(opened, now))
    };
    let final_url = capture.as_ref().map(|c| c.final_url.to_string());
    let note = if back {
        "the copy is back online after its removal"
    } else {
        ""
    };
    let change = CaseChange {
        case_id: case.id,
        expected_state: from,
        new_state: to,
        event: NewCaseEvent {
            kind: "recheck",
            at: Some(now),
            actor,
            via: "recheck",
            note,
            result: Some(result.as_str()),
            http_status: status,
            containment: found,
            final_url: final_url.as_deref(),
            error: error.as_deref(),
            evidence_file: evidence.as_ref().map(|e| e.file_name.as_str()),
            evidence_sha256: evidence.as_ref().map(|e| e.sha256.as_str()),
            ..NewCaseEvent::default()
        },
        next_recheck_at: Some(next),
        reminded_notice_at: if reminder {
            case.notice_at.as_deref()
        } else {
            None
        },
        alerts,
    };
    let recorded = store.change_case(&change, now)?.is_some();
    tracing::info!(
        case = case.id,
        result = result.as_str(),
        from = from.as_str(),
        to = after.as_str(),
        reminder,
        reappeared,
        "case re-checked"
    );
    Ok(RecheckReport {
        case_id: case.id,
        url: case.copy_url.clone(),
        result,
        http_status: status,
        containment: found,
        previous_state: from,
        state: if recorded { after } else { from },
        rendered: rendering.is_some() && evidence.is_some(),
        render_error,
        evidence_file: evidence.map(|e| e.file_name),
        error,
        reminder: reminder && recorded,
        reappeared: reappeared && recorded,
        recorded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(state: &str, next: Option<&str>) -> CaseRecord {
        CaseRecord {
            id: 1,
            match_id: 1,
            state: state.into(),
            opened_at: "2026-01-01T00:00:00Z".into(),
            state_since: "2026-01-05T00:00:00Z".into(),
            notice_at: None,
            notice_channel: None,
            notice_recipient: None,
            outcome: None,
            next_recheck_at: next.map(str::to_string),
            last_recheck_at: None,
            last_recheck_result: None,
            reminded_notice_at: None,
            copy_url: "http://copier.example/a".into(),
            copy_host: "copier.example".into(),
            original_id: 1,
            original_title: String::new(),
            containment: 0.9,
        }
    }

    #[test]
    fn a_case_is_due_on_its_schedule() {
        let settings = Settings::builtin();
        let at = |t: &str| parse(t);
        // Not scheduled yet: a day after the opening.
        assert_eq!(
            due_at(&case("escalated", None), &settings),
            at("2026-01-02T00:00:00Z")
        );
        assert_eq!(
            due_at(
                &case("notice-sent", Some("2026-01-04T00:00:00Z")),
                &settings
            ),
            at("2026-01-04T00:00:00Z")
        );
        // A notice whose deadline ends before the next offset: due at the deadline,
        // until its reminder went out.
        let mut c = case("notice-sent", Some("2026-01-15T00:00:00Z"));
        c.notice_at = Some("2026-01-03T00:00:00Z".into());
        assert_eq!(due_at(&c, &settings), at("2026-01-10T00:00:00Z"));
        c.last_recheck_at = Some("2026-01-11T00:00:00Z".into());
        assert_eq!(due_at(&c, &settings), at("2026-01-15T00:00:00Z"));
        c.last_recheck_at = None;
        c.reminded_notice_at = c.notice_at.clone();
        assert_eq!(due_at(&c, &settings), at("2026-01-15T00:00:00Z"));
        // Closed without a schedule: watched a month after the closing.
        assert_eq!(
            due_at(&case("closed", None), &settings),
            at("2026-02-04T00:00:00Z")
        );
    }
}
