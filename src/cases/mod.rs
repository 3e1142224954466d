//! Cases: what becomes of an infringing match after counsel is told.
//!
//! A case opens when a match is marked `infringing` (in the transaction of that
//! decision, see `store::Store::decide`) and follows the copy to its end:
//!
//! ```text
//! escalated ─► notice-sent ─► removed / still-online / changed ─► escalated-further ─► closed
//! ```
//!
//! Counsel records the steps (`copyhound cases mark`); re-checks of the copy's URL
//! ([`recheck`]) record what they observe and move the case between `removed`,
//! `still-online` and `changed`. Every step is a `case_events` row; nothing is deleted.
//!
//! This file is the pure part: states, the transitions counsel may record, the re-check
//! schedule and the judgement of a re-check against the original match. No I/O, no
//! clock (callers pass `now`).

pub mod recheck;
pub mod steps;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Where a case stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaseState {
    /// Counsel has been told (the match was marked `infringing`); no notice yet.
    Escalated,
    /// A takedown notice was sent (date, channel, recipient recorded).
    NoticeSent,
    /// The copy is gone (a re-check or counsel says so).
    Removed,
    /// The copy is still online after the notice.
    StillOnline,
    /// The copy changed: part of it was removed.
    Changed,
    /// Taken further: a platform complaint, a lawsuit.
    EscalatedFurther,
    /// Finished, with an [`Outcome`].
    Closed,
}

impl CaseState {
    /// Every state, in the order of a case's life.
    pub const ALL: [CaseState; 7] = [
        CaseState::Escalated,
        CaseState::NoticeSent,
        CaseState::Removed,
        CaseState::StillOnline,
        CaseState::Changed,
        CaseState::EscalatedFurther,
        CaseState::Closed,
    ];

    /// The stored and command-line name.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseState::Escalated => "escalated",
            CaseState::NoticeSent => "notice-sent",
            CaseState::Removed => "removed",
            CaseState::StillOnline => "still-online",
            CaseState::Changed => "changed",
            CaseState::EscalatedFurther => "escalated-further",
            CaseState::Closed => "closed",
        }
    }

    /// Parses a stored or command-line name.
    pub fn parse(name: &str) -> Option<CaseState> {
        CaseState::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether the case is still open.
    pub fn is_open(self) -> bool {
        self != CaseState::Closed
    }

    /// The states in which the notice's deadline runs: a copy still online (or only
    /// partly removed) after the notice is counsel's to chase.
    pub fn awaits_removal(self) -> bool {
        matches!(
            self,
            CaseState::NoticeSent | CaseState::StillOnline | CaseState::Changed
        )
    }
}

impl std::fmt::Display for CaseState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a notice was sent, or how a case was taken further.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Channel {
    Email,
    PlatformForm,
    RegisteredLetter,
    PlatformComplaint,
    Lawsuit,
}

impl Channel {
    pub const ALL: [Channel; 5] = [
        Channel::Email,
        Channel::PlatformForm,
        Channel::RegisteredLetter,
        Channel::PlatformComplaint,
        Channel::Lawsuit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::PlatformForm => "platform-form",
            Channel::RegisteredLetter => "registered-letter",
            Channel::PlatformComplaint => "platform-complaint",
            Channel::Lawsuit => "lawsuit",
        }
    }

    pub fn parse(name: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// Whether a takedown notice can go this way (the others take a case further).
    pub fn is_notice(self) -> bool {
        matches!(
            self,
            Channel::Email | Channel::PlatformForm | Channel::RegisteredLetter
        )
    }
}

/// How a case ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Removed,
    LicensedAfterTheFact,
    Settled,
    Dropped,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [
        Outcome::Removed,
        Outcome::LicensedAfterTheFact,
        Outcome::Settled,
        Outcome::Dropped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Removed => "removed",
            Outcome::LicensedAfterTheFact => "licensed-after-the-fact",
            Outcome::Settled => "settled",
            Outcome::Dropped => "dropped",
        }
    }

    pub fn parse(name: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == name)
    }
}

/// What counsel records with `cases mark`: a new state, or a counter-notice (which
/// leaves the state as it is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    State(CaseState),
    CounterNotice,
}

impl Step {
    /// `--state` values: the states, and `counter-notice`.
    pub fn parse(name: &str) -> Option<Step> {
        if name == "counter-notice" {
            return Some(Step::CounterNotice);
        }
        CaseState::parse(name).map(Step::State)
    }
}

/// A step counsel asks to record, as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRequest {
    pub step: Step,
    pub channel: Option<Channel>,
    pub recipient: Option<String>,
    pub outcome: Option<Outcome>,
}

/// Whether counsel may move a case from `from` to `to`.
fn legal(from: CaseState, to: CaseState) -> bool {
    use CaseState::*;
    match (from, to) {
        // Counsel reopens a closed case.
        (Closed, Escalated) => true,
        (Closed, _) => false,
        // A case is escalated once, when it opens.
        (_, Escalated) => false,
        // The copy's fate is a question after a notice.
        (Escalated, Removed | StillOnline | Changed) => false,
        // Another notice (a second channel) and a further step (a complaint, then a
        // lawsuit) may follow their own kind; other states are not entered twice.
        (NoticeSent, NoticeSent) | (EscalatedFurther, EscalatedFurther) => true,
        (a, b) => a != b,
    }
}

/// Checks that counsel may record `request` on a case in state `from`: the transition
/// is legal and the step carries what it needs (a notice its channel and recipient, a
/// closing its outcome).
///
/// # Errors
/// A message saying what is wrong and what is allowed instead.
pub fn check_step(from: CaseState, request: &StepRequest) -> Result<(), Refusal> {
    use CaseState::*;
    let to = match request.step {
        Step::CounterNotice => {
            if from == Closed {
                return Err(Refusal::CaseClosed);
            }
            if request.outcome.is_some() {
                return Err(Refusal::OutcomeOnlyWhenClosing);
            }
            return Ok(());
        }
        Step::State(to) => to,
    };
    if !legal(from, to) {
        let allowed = CaseState::ALL
            .into_iter()
            .filter(|s| legal(from, *s))
            .collect();
        return Err(Refusal::Transition { from, to, allowed });
    }
    match to {
        NoticeSent => {
            match request.channel {
                Some(c) if c.is_notice() => {}
                Some(c) => return Err(Refusal::NoticeChannel(Some(c))),
                None => return Err(Refusal::NoticeChannel(None)),
            }
            if request
                .recipient
                .as_deref()
                .is_none_or(|r| r.trim().is_empty())
            {
                return Err(Refusal::NoticeRecipient);
            }
        }
        EscalatedFurther => {
            if request.channel.is_some_and(Channel::is_notice) {
                return Err(Refusal::FurtherChannel);
            }
        }
        _ => {
            if request.channel.is_some() {
                return Err(Refusal::ChannelOnlyWithNoticeOrFurther);
            }
            if request.recipient.is_some() {
                return Err(Refusal::RecipientOnlyWithNotice);
            }
        }
    }
    match (to, request.outcome) {
        (Closed, None) => Err(Refusal::ClosingNeedsOutcome),
        (Closed, Some(_)) | (_, None) => Ok(()),
        (_, Some(_)) => Err(Refusal::OutcomeOnlyWhenClosing),
    }
}

/// Why a step is refused. Its `Display` is the command line's English (naming the
/// options); [`Refusal::message`] is the desk's, in the desk's language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The transition is not allowed; `allowed` are the states `from` may go to.
    Transition {
        from: CaseState,
        to: CaseState,
        allowed: Vec<CaseState>,
    },
    /// A counter-notice on a closed case.
    CaseClosed,
    OutcomeOnlyWhenClosing,
    /// A notice without a channel (`None`) or by a channel that is not a notice's.
    NoticeChannel(Option<Channel>),
    NoticeRecipient,
    FurtherChannel,
    ChannelOnlyWithNoticeOrFurther,
    RecipientOnlyWithNotice,
    ClosingNeedsOutcome,
    /// A note or recipient over its limit (in characters).
    NoteTooLong(usize),
    RecipientTooLong(usize),
    DateInFuture,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Transition { from, to, allowed } => {
                let allowed: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
                write!(
                    f,
                    "cannot go from {from} to {to} (from {from}: {})",
                    if allowed.is_empty() {
                        "nothing".to_string()
                    } else {
                        allowed.join(", ")
                    }
                )
            }
            Refusal::CaseClosed => {
                f.write_str("the case is closed: reopen it (--state escalated) first")
            }
            Refusal::OutcomeOnlyWhenClosing => f.write_str("--outcome goes only with --state closed"),
            Refusal::NoticeChannel(Some(c)) => write!(
                f,
                "a notice goes by email, platform-form or registered-letter, not {}",
                c.as_str()
            ),
            Refusal::NoticeChannel(None) => {
                f.write_str("notice-sent needs --channel email|platform-form|registered-letter")
            }
            Refusal::NoticeRecipient => {
                f.write_str("notice-sent needs --recipient (who the notice went to)")
            }
            Refusal::FurtherChannel => f.write_str(
                "escalated-further goes by platform-complaint or lawsuit (a new notice is --state notice-sent)",
            ),
            Refusal::ChannelOnlyWithNoticeOrFurther => {
                f.write_str("--channel goes only with --state notice-sent or escalated-further")
            }
            Refusal::RecipientOnlyWithNotice => {
                f.write_str("--recipient goes only with --state notice-sent")
            }
            Refusal::ClosingNeedsOutcome => {
                f.write_str("closed needs --outcome removed|licensed-after-the-fact|settled|dropped")
            }
            Refusal::NoteTooLong(n) => write!(f, "a note is limited to {n} characters"),
            Refusal::RecipientTooLong(n) => write!(f, "a recipient is limited to {n} characters"),
            Refusal::DateInFuture => f.write_str("the date is in the future"),
        }
    }
}

impl Refusal {
    /// The refusal as the desk says it in `language`, with its state names from
    /// `state_label` (the desk's labels). English is the command line's text.
    pub fn message(
        &self,
        language: crate::config::Language,
        state_label: impl Fn(CaseState) -> String,
    ) -> String {
        if language == crate::config::Language::En {
            return self.to_string();
        }
        match self {
            Refusal::Transition { from, to, allowed } => {
                let from_label = state_label(*from);
                let allowed: Vec<String> = allowed.iter().map(|s| state_label(*s)).collect();
                if allowed.is_empty() {
                    format!(
                        "无法从“{from_label}”转为“{}”（“{from_label}”不能再转为其他状态）",
                        state_label(*to)
                    )
                } else {
                    format!(
                        "无法从“{from_label}”转为“{}”（从“{from_label}”可转为：{}）",
                        state_label(*to),
                        allowed.join("、")
                    )
                }
            }
            Refusal::CaseClosed => "案件已结案：请先重新立案".into(),
            Refusal::OutcomeOnlyWhenClosing => "结案结果只在结案时填写".into(),
            Refusal::NoticeChannel(_) => "通知只能通过电子邮件、平台表单或挂号信发送".into(),
            Refusal::NoticeRecipient => "发送通知需填写收件人".into(),
            Refusal::FurtherChannel => {
                "进一步追究只能通过平台投诉或诉讼（新的通知请记录为“已发送通知”）".into()
            }
            Refusal::ChannelOnlyWithNoticeOrFurther => "渠道只在发送通知或进一步追究时填写".into(),
            Refusal::RecipientOnlyWithNotice => "收件人只在发送通知时填写".into(),
            Refusal::ClosingNeedsOutcome => "结案需选择结果：已删除、事后授权、和解或放弃".into(),
            Refusal::NoteTooLong(n) => format!("备注不能超过 {n} 字"),
            Refusal::RecipientTooLong(n) => format!("收件人不能超过 {n} 字"),
            Refusal::DateInFuture => "日期不能晚于现在".into(),
        }
    }
}

/// The re-check schedule (`[cases]`): offsets from a case's opening, then every
/// `monthly` while the case is open (and while a case closed as removed is watched for
/// the copy's return).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// After the case opens, in increasing order (default 1, 3, 7, 14 and 30 days).
    pub offsets: Vec<Duration>,
    /// The interval after the last offset (30 days).
    pub monthly: Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        let day = Duration::from_secs(24 * 3600);
        Schedule {
            offsets: [1, 3, 7, 14, 30].iter().map(|d| day * *d).collect(),
            monthly: day * 30,
        }
    }
}

fn add(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    t + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl Schedule {
    /// The first re-check of a case opened at `opened`.
    pub fn first(&self, opened: DateTime<Utc>) -> DateTime<Utc> {
        add(
            opened,
            self.offsets.first().copied().unwrap_or(self.monthly),
        )
    }

    /// The re-check after one made at `now`: the next offset from the opening still
    /// ahead of `now`, or `monthly` after `now` once the offsets are used up. A re-check
    /// asked for early (`cases recheck ID`) does not shift the schedule.
    pub fn next_after(&self, opened: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
        self.offsets
            .iter()
            .map(|d| add(opened, *d))
            .find(|t| *t > now)
            .unwrap_or_else(|| add(now, self.monthly))
    }
}

/// What a re-check found, judged against the original match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecheckResult {
    /// Online with (nearly) the same share of the original.
    StillOnline,
    /// Online, but with a clearly smaller share of the original.
    PartlyRemoved,
    /// 404/410, or the page no longer copies the original.
    Removed,
    /// No answer that says either way (network error, 5xx, robots.txt).
    Unreachable,
}

impl RecheckResult {
    pub const ALL: [RecheckResult; 4] = [
        RecheckResult::StillOnline,
        RecheckResult::PartlyRemoved,
        RecheckResult::Removed,
        RecheckResult::Unreachable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecheckResult::StillOnline => "still-online",
            RecheckResult::PartlyRemoved => "partly-removed",
            RecheckResult::Removed => "removed",
            RecheckResult::Unreachable => "unreachable",
        }
    }

    pub fn parse(name: &str) -> Option<RecheckResult> {
        RecheckResult::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// Whether the copy is online (wholly or in part).
    pub fn online(self) -> bool {
        matches!(
            self,
            RecheckResult::StillOnline | RecheckResult::PartlyRemoved
        )
    }
}

/// A copy keeps "the same share" when at least this fraction of its original
/// containment is still found; below it, part of the copy was removed.
pub const SAME_SHARE: f64 = 0.8;

/// Judges a re-check that got an HTTP answer: `status` of the final response and the
/// containment of the original now found on the page (`None` when the page no longer
/// copies it), against the match's `original` containment.
pub fn judge(status: u16, found: Option<f64>, original: f64) -> RecheckResult {
    if matches!(status, 404 | 410) {
        return RecheckResult::Removed;
    }
    match found {
        None => RecheckResult::Removed,
        Some(c) if c >= original * SAME_SHARE => RecheckResult::StillOnline,
        Some(_) => RecheckResult::PartlyRemoved,
    }
}

/// The state a re-check's result moves a case in `from` to (`None`: it stays), and
/// whether the copy has come back after a removal (which reopens a closed case and
/// alerts counsel).
pub fn observed(from: CaseState, result: RecheckResult) -> (Option<CaseState>, bool) {
    use CaseState::*;
    let seen = match result {
        RecheckResult::StillOnline => StillOnline,
        RecheckResult::PartlyRemoved => Changed,
        RecheckResult::Removed => Removed,
        RecheckResult::Unreachable => return (None, false),
    };
    let back = result.online() && matches!(from, Removed | Closed);
    let to = match from {
        // Before a notice the copy's fate is not yet a question; the re-check is
        // recorded and the state stays.
        Escalated => None,
        // A case taken further stays there until the copy is gone.
        EscalatedFurther => (seen == Removed).then_some(Removed),
        // A closed case is only watched for the copy's return.
        Closed => back.then_some(seen),
        _ => (seen != from).then_some(seen),
    };
    (to, back)
}

/// When the notice's deadline ends.
pub fn deadline_at(notice_at: DateTime<Utc>, deadline: Duration) -> DateTime<Utc> {
    add(notice_at, deadline)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn req(step: Step) -> StepRequest {
        StepRequest {
            step,
            channel: None,
            recipient: None,
            outcome: None,
        }
    }

    #[test]
    fn transitions_follow_the_case_life() {
        use CaseState::*;
        let legal = [
            (Escalated, NoticeSent),
            (Escalated, EscalatedFurther),
            (Escalated, Closed),
            (NoticeSent, NoticeSent),
            (NoticeSent, Removed),
            (NoticeSent, StillOnline),
            (NoticeSent, Changed),
            (StillOnline, EscalatedFurther),
            (EscalatedFurther, EscalatedFurther),
            (EscalatedFurther, Closed),
            (Removed, Closed),
            (Closed, Escalated),
        ];
        let illegal = [
            (Escalated, Escalated),
            (Escalated, Removed),
            (Escalated, StillOnline),
            (NoticeSent, Escalated),
            (Removed, Removed),
            (Closed, NoticeSent),
            (Closed, Closed),
        ];
        for (from, to) in legal {
            let mut r = req(Step::State(to));
            if to == NoticeSent {
                r.channel = Some(Channel::Email);
                r.recipient = Some("abuse@example.com".into());
            }
            if to == Closed {
                r.outcome = Some(Outcome::Removed);
            }
            assert_eq!(check_step(from, &r), Ok(()), "{from} -> {to}");
        }
        for (from, to) in illegal {
            let err = check_step(from, &req(Step::State(to)))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("cannot go from"), "{from} -> {to}: {err}");
        }
        let err = check_step(Escalated, &req(Step::State(Removed))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot go from escalated to removed (from escalated: notice-sent, escalated-further, closed)"
        );
        assert_eq!(
            err.message(crate::config::Language::ZhCn, |s| s.as_str().to_uppercase()),
            "无法从“ESCALATED”转为“REMOVED”（从“ESCALATED”可转为：NOTICE-SENT、ESCALATED-FURTHER、CLOSED）"
        );
    }

    #[test]
    fn steps_need_their_details() {
        use CaseState::*;
        let cases: &[(StepRequest, &str)] = &[
            (req(Step::State(NoticeSent)), "notice-sent needs --channel"),
            (
                StepRequest {
                    channel: Some(Channel::Email),
                    ..req(Step::State(NoticeSent))
                },
                "notice-sent needs --recipient",
            ),
            (
                StepRequest {
                    channel: Some(Channel::Lawsuit),
                    recipient: Some("x".into()),
                    ..req(Step::State(NoticeSent))
                },
                "a notice goes by",
            ),
            (req(Step::State(Closed)), "closed needs --outcome"),
            (
                StepRequest {
                    outcome: Some(Outcome::Settled),
                    ..req(Step::State(EscalatedFurther))
                },
                "--outcome goes only",
            ),
            (
                StepRequest {
                    channel: Some(Channel::Email),
                    ..req(Step::State(Changed))
                },
                "--channel goes only",
            ),
        ];
        for (r, want) in cases {
            let err = check_step(NoticeSent, r).unwrap_err().to_string();
            assert!(err.starts_with(want), "{r:?}: {err}");
        }
        assert_eq!(check_step(NoticeSent, &req(Step::CounterNotice)), Ok(()));
        assert!(check_step(Closed, &req(Step::CounterNotice)).is_err());
    }

    #[test]
    fn the_schedule_runs_from_the_opening_then_monthly() {
        let s = Schedule::default();
        let opened = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        let day = chrono::Duration::days(1);
        assert_eq!(s.first(opened), opened + day);
        assert_eq!(s.next_after(opened, opened + day), opened + day * 3);
        // An early re-check does not shift the schedule.
        assert_eq!(
            s.next_after(opened, opened + chrono::Duration::hours(2)),
            opened + day
        );
        assert_eq!(s.next_after(opened, opened + day * 20), opened + day * 30);
        let late = opened + day * 31;
        assert_eq!(s.next_after(opened, late), late + day * 30);
    }

    #[test]
    fn rechecks_are_judged_against_the_original_share() {
        use RecheckResult::*;
        let table = [
            (200, Some(0.9), 0.9, StillOnline),
            (200, Some(0.75), 0.9, StillOnline),
            (200, Some(0.5), 0.9, PartlyRemoved),
            (200, None, 0.9, Removed),
            (404, None, 0.9, Removed),
            (410, Some(0.9), 0.9, Removed),
        ];
        for (status, found, original, want) in table {
            assert_eq!(judge(status, found, original), want, "{status} {found:?}");
        }
    }

    #[test]
    fn observations_move_the_case() {
        use CaseState::*;
        use RecheckResult as R;
        let table = [
            (Escalated, R::Removed, None, false),
            (NoticeSent, R::StillOnline, Some(StillOnline), false),
            (NoticeSent, R::PartlyRemoved, Some(Changed), false),
            (StillOnline, R::StillOnline, None, false),
            (StillOnline, R::Removed, Some(Removed), false),
            (StillOnline, R::Unreachable, None, false),
            (Removed, R::StillOnline, Some(StillOnline), true),
            (EscalatedFurther, R::StillOnline, None, false),
            (EscalatedFurther, R::Removed, Some(Removed), false),
            (Closed, R::Removed, None, false),
            (Closed, R::StillOnline, Some(StillOnline), true),
        ];
        for (from, result, to, back) in table {
            assert_eq!(observed(from, result), (to, back), "{from} {result:?}");
        }
    }
}
