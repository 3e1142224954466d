//! Counsel's steps on a case (`copyhound cases mark` and the desk's case page):
//! checked against the case's state ([`super::check_step`]) and recorded as one event;
//! and the list of cases both show (`cases list`, the desk's `/cases`), overdue first.

use chrono::{DateTime, Utc};

use super::{check_step, CaseState, Refusal, Step, StepRequest};
use crate::config::Settings;
use crate::store::{CaseChange, CaseRecord, NewCaseEvent, Store, StoreError};

/// Longest note kept with a step (as with review decisions).
pub const MAX_NOTE_CHARS: usize = crate::review::MAX_NOTE_CHARS;

/// Longest recipient kept (an address, a platform's form, a postal address).
pub const MAX_RECIPIENT_CHARS: usize = 500;

/// Whether `case`'s notice deadline (`[cases] deadline` after the notice) has passed at
/// `now` while the copy may still be online (notice-sent, still-online, changed).
pub fn overdue(case: &CaseRecord, deadline: std::time::Duration, now: DateTime<Utc>) -> bool {
    case.state().awaits_removal()
        && case
            .notice_at
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .is_some_and(|t| super::deadline_at(t.with_timezone(&Utc), deadline) < now)
}

/// Cases (only those in `state` when given) with whether each is [`overdue`]: overdue
/// ones first, then the longest in their state first.
///
/// # Errors
/// [`StoreError`] when the database cannot be read.
pub fn listing(
    store: &Store,
    settings: &Settings,
    state: Option<CaseState>,
    now: DateTime<Utc>,
) -> Result<Vec<(CaseRecord, bool)>, StoreError> {
    let mut cases: Vec<(CaseRecord, bool)> = store
        .list_cases(state)?
        .into_iter()
        .map(|c| {
            let o = overdue(&c, settings.cases.deadline.0, now);
            (c, o)
        })
        .collect();
    // A stable sort keeps the store's order (longest in state first) within each part.
    cases.sort_by_key(|(_, o)| !*o);
    Ok(cases)
}

/// A step's date as counsel gives it: `YYYY-MM-DD` (UTC midnight) or an RFC 3339 time.
///
/// # Errors
/// A message naming the text.
pub fn parse_date(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(d) = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(t.and_utc());
        }
    }
    match DateTime::parse_from_rfc3339(text.trim()) {
        Ok(t) => Ok(t.with_timezone(&Utc)),
        Err(_) => Err(format!("{text:?}: not YYYY-MM-DD or an RFC 3339 time")),
    }
}

/// Why a step was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no case with id {0}")]
    NoSuchCase(i64),
    /// An illegal transition or a missing detail; the refusal says which.
    #[error("case {id}: {refusal}")]
    Refused { id: i64, refusal: Refusal },
    #[error("case {0} changed while this step was being recorded; look at it again")]
    Changed(i64),
}

/// What [`mark`] recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marked {
    pub previous: CaseState,
    pub state: CaseState,
    pub event_id: i64,
}

/// A step as asked for by counsel.
#[derive(Debug, Clone)]
pub struct MarkRequest<'a> {
    pub request: StepRequest,
    pub note: &'a str,
    /// When it happened (a notice's own date); `None`: now.
    pub at: Option<DateTime<Utc>>,
    pub actor: &'a str,
    /// `cli` or `web`.
    pub via: &'a str,
}

/// Records counsel's step on case `id`.
///
/// # Errors
/// [`StepError::Refused`] for an illegal transition, a missing or misplaced detail, an
/// overlong note or a date in the future; [`StepError::NoSuchCase`];
/// [`StepError::Changed`] when the case moved meanwhile; [`StepError::Store`].
pub fn mark(
    store: &mut Store,
    settings: &Settings,
    id: i64,
    m: &MarkRequest<'_>,
    now: DateTime<Utc>,
) -> Result<Marked, StepError> {
    let refused = |refusal: Refusal| StepError::Refused { id, refusal };
    let case = store.find_case(id)?.ok_or(StepError::NoSuchCase(id))?;
    let from = case.state();
    check_step(from, &m.request).map_err(refused)?;
    let note = m.note.trim();
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(refused(Refusal::NoteTooLong(MAX_NOTE_CHARS)));
    }
    let recipient = m.request.recipient.as_deref().map(str::trim);
    if recipient.is_some_and(|r| r.chars().count() > MAX_RECIPIENT_CHARS) {
        return Err(refused(Refusal::RecipientTooLong(MAX_RECIPIENT_CHARS)));
    }
    if m.at.is_some_and(|at| at > now) {
        return Err(refused(Refusal::DateInFuture));
    }
    let (kind, to) = match m.request.step {
        Step::CounterNotice => ("counter-notice", None),
        Step::State(to) => ("step", Some(to)),
    };
    // Closing as anything but removed ends the re-checks; closing as removed keeps a
    // monthly watch for the copy's return; reopening starts the schedule again.
    let next_recheck_at = match to {
        Some(CaseState::Closed) if m.request.outcome != Some(super::Outcome::Removed) => Some(None),
        Some(CaseState::Closed) => Some(Some(super::add(now, settings.cases.schedule.monthly))),
        Some(CaseState::Escalated) => Some(Some(settings.cases.schedule.first(now))),
        _ => None,
    };
    let change = CaseChange {
        case_id: id,
        expected_state: from,
        new_state: to,
        event: NewCaseEvent {
            kind,
            at: m.at,
            actor: m.actor,
            via: m.via,
            note,
            channel: m.request.channel.map(super::Channel::as_str),
            recipient,
            outcome: m.request.outcome,
            ..NewCaseEvent::default()
        },
        next_recheck_at,
        reminded_notice_at: None,
        alerts: Vec::new(),
    };
    let event_id = store
        .change_case(&change, now)?
        .ok_or(StepError::Changed(id))?;
    Ok(Marked {
        previous: from,
        state: to.unwrap_or(from),
        event_id,
    })
}
