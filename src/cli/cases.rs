//! `copyhound cases`: list, show, mark and re-check cases.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::{bail, Result};
use chrono::Utc;
use serde::Serialize;

use crate::cases::recheck::{self, RecheckError};
use crate::cases::steps::{self, MarkRequest, StepError};
use crate::cases::{CaseState, Channel, Outcome, Step, StepRequest};
use crate::config::Settings;
use crate::store::{CaseEvent, CaseRecord, Store};

#[derive(Debug, clap::Subcommand)]
pub(super) enum CasesCommand {
    /// List cases, the longest in their state first (overdue ones first of all).
    List {
        /// Only cases in this state.
        #[arg(long, value_name = "STATE", value_parser = state_parser())]
        state: Option<CaseState>,
        /// Only cases whose notice's deadline (`[cases] deadline`) has passed while the
        /// copy may still be online (notice-sent, still-online, changed).
        #[arg(long)]
        overdue: bool,
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one case with its timeline.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Record a step: a new state (notice-sent needs --channel and --recipient, closed
    /// needs --outcome) or a counter-notice (`--state counter-notice`).
    Mark {
        id: i64,
        /// escalated (reopen), notice-sent, removed, still-online, changed,
        /// escalated-further, closed, or counter-notice.
        #[arg(long, value_name = "STATE", value_parser = [
            "escalated", "notice-sent", "removed", "still-online", "changed",
            "escalated-further", "closed", "counter-notice",
        ])]
        state: String,
        #[arg(long, value_name = "TEXT", default_value = "")]
        note: String,
        /// email, platform-form, registered-letter (a notice); platform-complaint,
        /// lawsuit (escalated-further).
        #[arg(long, value_name = "CHANNEL", value_parser = [
            "email", "platform-form", "registered-letter", "platform-complaint", "lawsuit",
        ])]
        channel: Option<String>,
        /// Who the notice went to.
        #[arg(long, value_name = "WHO")]
        recipient: Option<String>,
        /// removed, licensed-after-the-fact, settled, dropped (with closed).
        #[arg(long, value_name = "OUTCOME", value_parser = [
            "removed", "licensed-after-the-fact", "settled", "dropped",
        ])]
        outcome: Option<String>,
        /// When it happened: `YYYY-MM-DD` (UTC midnight) or RFC 3339; default now.
        #[arg(long, value_name = "DATE")]
        date: Option<String>,
    },
    /// Re-check the cases given now (without ids: every case whose re-check is due).
    Recheck { ids: Vec<i64> },
}

fn state_parser() -> impl clap::builder::TypedValueParser<Value = CaseState> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(CaseState::ALL.iter().map(|s| s.as_str()))
        // The possible values are the states' own names: parsing one back cannot fail.
        .map(|name| CaseState::parse(&name).unwrap_or(CaseState::Escalated))
}

#[derive(Serialize)]
struct Listed<'a> {
    #[serde(flatten)]
    case: &'a CaseRecord,
    overdue: bool,
}

#[derive(Serialize)]
struct Shown<'a> {
    #[serde(flatten)]
    case: &'a CaseRecord,
    overdue: bool,
    events: &'a [CaseEvent],
}

pub(super) fn run(settings: &Settings, command: CasesCommand) -> Result<ExitCode> {
    let mut store = Store::open_storage(&settings.storage)?;
    let now = Utc::now();
    match command {
        CasesCommand::List {
            state,
            overdue: only_overdue,
            json,
        } => {
            let mut cases = steps::listing(&store, settings, state, now)?;
            cases.retain(|(_, o)| *o || !only_overdue);
            if json {
                let listed: Vec<Listed<'_>> = cases
                    .iter()
                    .map(|(case, overdue)| Listed {
                        case,
                        overdue: *overdue,
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&listed)?);
            } else {
                let mut out = format!(
                    "{:>5}  {:>5}  {:<17}  {:<20}  {:<7}  copy\n",
                    "case", "match", "state", "since", "overdue"
                );
                for (c, o) in &cases {
                    let _ = writeln!(
                        out,
                        "{:>5}  {:>5}  {:<17}  {:<20}  {:<7}  {}",
                        c.id,
                        c.match_id,
                        c.state,
                        c.state_since,
                        if *o { "yes" } else { "-" },
                        super::printable(&c.copy_url)
                    );
                }
                let _ = writeln!(out, "{} case(s)", cases.len());
                print!("{out}");
            }
            Ok(ExitCode::SUCCESS)
        }
        CasesCommand::Show { id, json } => {
            let Some(case) = store.find_case(id)? else {
                bail!("no case with id {id}");
            };
            let events = store.case_events(id)?;
            let o = steps::overdue(&case, settings.cases.deadline.0, now);
            if json {
                let shown = Shown {
                    case: &case,
                    overdue: o,
                    events: &events,
                };
                println!("{}", serde_json::to_string_pretty(&shown)?);
            } else {
                print!("{}", render_case(&case, o, &events));
            }
            Ok(ExitCode::SUCCESS)
        }
        CasesCommand::Mark {
            id,
            state,
            note,
            channel,
            recipient,
            outcome,
            date,
        } => {
            let Some(step) = Step::parse(&state) else {
                bail!(
                    "--state {state:?}: not one of escalated, notice-sent, removed, still-online, changed, escalated-further, closed, counter-notice"
                );
            };
            let channel = match channel.as_deref() {
                None => None,
                Some(c) => Some(Channel::parse(c).ok_or_else(|| {
                    anyhow::anyhow!("--channel {c:?}: not one of email, platform-form, registered-letter, platform-complaint, lawsuit")
                })?),
            };
            let outcome = match outcome.as_deref() {
                None => None,
                Some(o) => Some(Outcome::parse(o).ok_or_else(|| {
                    anyhow::anyhow!("--outcome {o:?}: not one of removed, licensed-after-the-fact, settled, dropped")
                })?),
            };
            let at = date
                .as_deref()
                .map(steps::parse_date)
                .transpose()
                .map_err(|e| anyhow::anyhow!("--date {e}"))?;
            let actor = super::unix_user();
            let request = MarkRequest {
                request: StepRequest {
                    step,
                    channel,
                    recipient,
                    outcome,
                },
                note: &note,
                at,
                actor: &actor,
                via: "cli",
            };
            match steps::mark(&mut store, settings, id, &request, now) {
                Ok(m) if step == Step::CounterNotice => {
                    println!("case {id}: counter-notice recorded (state {})", m.state);
                }
                Ok(m) => println!("case {id}: {} -> {}", m.previous, m.state),
                Err(StepError::Store(e)) => return Err(e.into()),
                Err(e) => bail!("{e}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        CasesCommand::Recheck { ids } => {
            let ids = if ids.is_empty() {
                recheck::due_cases(&store, settings, now)?
            } else {
                ids
            };
            let runtime = super::runtime()?;
            let actor = super::unix_user();
            let reports =
                match runtime.block_on(recheck::recheck(&mut store, settings, &ids, &actor, now)) {
                    Ok(r) => r,
                    Err(RecheckError::NoSuchCase(id)) => bail!("no case with id {id}"),
                    Err(e) => return Err(e.into()),
                };
            for r in &reports {
                println!("{}", super::printable(&r.render()));
            }
            println!("recheck: {} case(s)", reports.len());
            if reports.iter().any(|r| r.reminder || r.reappeared) {
                // Timestamps the new evidence files first, then delivers.
                super::deliver_before_exit(&runtime, &mut store, settings);
            } else if reports.iter().any(|r| r.evidence_file.is_some()) {
                super::stamp_before_exit(&runtime, &mut store, settings);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn render_case(c: &CaseRecord, overdue: bool, events: &[CaseEvent]) -> String {
    let p = super::printable;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "case: {}\nmatch: {}\ncopy: {}\noriginal: {} {}\nstate: {} since {}{}",
        c.id,
        c.match_id,
        p(&c.copy_url),
        c.original_id,
        super::one_line(&c.original_title, 80),
        c.state,
        c.state_since,
        if overdue { " (overdue)" } else { "" }
    );
    if let Some(at) = &c.notice_at {
        let _ = writeln!(
            out,
            "notice: {} by {} to {}",
            at,
            c.notice_channel.as_deref().unwrap_or("-"),
            p(c.notice_recipient.as_deref().unwrap_or("-"))
        );
    }
    if let Some(o) = &c.outcome {
        let _ = writeln!(out, "outcome: {o}");
    }
    let _ = writeln!(
        out,
        "opened: {}\nnext re-check: {}\ntimeline:",
        c.opened_at,
        c.next_recheck_at.as_deref().unwrap_or("-")
    );
    for e in events {
        let _ = write!(
            out,
            "  {}  {:<14} {} -> {}  by {} via {}",
            e.at,
            e.kind,
            e.previous_state,
            e.state,
            p(&e.actor),
            e.via
        );
        if let Some(ch) = &e.channel {
            let _ = write!(out, ", channel {ch}");
        }
        if let Some(r) = &e.recipient {
            let _ = write!(out, ", to {}", p(r));
        }
        if let Some(o) = &e.outcome {
            let _ = write!(out, ", outcome {o}");
        }
        if let Some(r) = &e.result {
            let _ = write!(out, ", result {r}");
        }
        if let Some(s) = e.http_status {
            let _ = write!(out, " (HTTP {s})");
        }
        if let Some(f) = &e.evidence_file {
            let _ = write!(out, ", evidence {}", p(f));
        }
        if let Some(err) = &e.error {
            let _ = write!(out, ", {}", super::one_line(err, 200));
        }
        if e.alert_id.is_some() {
            out.push_str(", alert queued");
        }
        if !e.note.is_empty() {
            let _ = write!(out, ": {}", super::one_line(&e.note, 200));
        }
        out.push('\n');
    }
    out
}
