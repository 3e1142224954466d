//! Counsel's steps on a case (`copyhound cases mark`, and later the desk's forms):
//! checked against the case's state ([`super::check_step`]) and recorded as one event.

use chrono::{DateTime, Utc};

use super::{check_step, CaseState, Step, StepRequest};
use crate::config::Settings;
use crate::store::{CaseChange, NewCaseEvent, Store, StoreError};

/// Longest note kept with a step (as with review decisions).
pub const MAX_NOTE_CHARS: usize = crate::review::MAX_NOTE_CHARS;

/// Longest recipient kept (an address, a platform's form, a postal address).
pub const MAX_RECIPIENT_CHARS: usize = 500;

/// Why a step was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no case with id {0}")]
    NoSuchCase(i64),
    /// An illegal transition or a missing detail; the message says which.
    #[error("case {id}: {message}")]
    Refused { id: i64, message: String },
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
    let refused = |message: String| StepError::Refused { id, message };
    let case = store.find_case(id)?.ok_or(StepError::NoSuchCase(id))?;
    let from = case.state();
    check_step(from, &m.request).map_err(refused)?;
    let note = m.note.trim();
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(refused(format!(
            "a note is limited to {MAX_NOTE_CHARS} characters"
        )));
    }
    let recipient = m.request.recipient.as_deref().map(str::trim);
    if recipient.is_some_and(|r| r.chars().count() > MAX_RECIPIENT_CHARS) {
        return Err(refused(format!(
            "a recipient is limited to {MAX_RECIPIENT_CHARS} characters"
        )));
    }
    if m.at.is_some_and(|at| at > now) {
        return Err(refused("the date is in the future".into()));
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
