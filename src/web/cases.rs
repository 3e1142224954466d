//! The desk's cases: `/cases` (cases by state and age, overdue first, filtered by site
//! and state), `/cases.csv` (the same list as a file), `/cases/ID` (the timeline and the
//! forms that record counsel's steps, each re-check with its evidence link and a
//! thumbnail of its screenshot) and the re-checks' evidence files and screenshots.
//!
//! Steps go through [`steps::mark`], the code behind `copyhound cases mark`: the same
//! transition rules, checks and single transaction, recorded `via = "web"`. The list is
//! [`steps::listing`], the one behind `cases list` (and its overdue rule).

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::i18n::{labels, Labels};
use super::pages::{
    check_csrf, html, parse_id, rendered_kinds, respond, serve_artefact, serve_evidence, site_href,
    Failure, PageResult, Session,
};
use super::{status_page, view, DeskState};
use crate::cases::steps::{self, MarkRequest, StepError};
use crate::cases::{CaseState, Channel, Outcome, Step, StepRequest};
use crate::evidence::browser::RenderKind;
use crate::store::{CaseEvent, CaseRecord};

// ---------------------------------------------------------------------------------
// The list

/// Which states the list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StateFilter {
    /// Every state but closed (the default).
    Open,
    All,
    One(CaseState),
}

impl StateFilter {
    fn key(self) -> &'static str {
        match self {
            StateFilter::Open => "open",
            StateFilter::All => "all",
            StateFilter::One(s) => s.as_str(),
        }
    }

    fn admits(self, state: CaseState) -> bool {
        match self {
            StateFilter::Open => state.is_open(),
            StateFilter::All => true,
            StateFilter::One(s) => s == state,
        }
    }
}

/// The list's query parameters (`state`, `site`), checked.
struct CasesQuery {
    state: StateFilter,
    site: Option<String>,
}

fn parse_query(q: &HashMap<String, String>) -> Result<CasesQuery, Failure> {
    let get = |k: &str| q.get(k).map(|v| v.trim()).unwrap_or("");
    let state = match get("state") {
        "" | "open" => StateFilter::Open,
        "all" => StateFilter::All,
        s => StateFilter::One(
            CaseState::parse(s)
                .ok_or_else(|| Failure::bad_request(format!("state: unknown state {s:?}")))?,
        ),
    };
    let site = Some(get("site").to_string()).filter(|h| !h.is_empty());
    if site.as_ref().is_some_and(|h| h.len() > 300) {
        return Err(Failure::bad_request("site: too long"));
    }
    Ok(CasesQuery { state, site })
}

/// `/cases` (or `/cases.csv`: `path`) with `state` and the query's site.
fn list_href(path: &str, q: &CasesQuery, state: StateFilter) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    if state != StateFilter::Open {
        s.append_pair("state", state.key());
    }
    if let Some(h) = &q.site {
        s.append_pair("site", h);
    }
    let query = s.finish();
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    }
}

/// Every case with whether it is overdue (overdue first, then the longest in their
/// state), the sites that have cases, and the list narrowed to the query.
struct Selection {
    /// The cases of the chosen site (all sites when none), any state.
    of_site: Vec<(CaseRecord, bool)>,
    sites: Vec<String>,
}

impl Selection {
    fn load(
        store: &crate::store::Store,
        settings: &crate::config::Settings,
        q: &CasesQuery,
    ) -> Result<Selection, Failure> {
        let all = steps::listing(store, settings, None, Utc::now())?;
        let mut sites: Vec<String> = all.iter().map(|(c, _)| c.copy_host.clone()).collect();
        sites.sort();
        sites.dedup();
        let of_site = all
            .into_iter()
            .filter(|(c, _)| q.site.as_ref().is_none_or(|h| *h == c.copy_host))
            .collect();
        Ok(Selection { of_site, sites })
    }

    fn shown(self, state: StateFilter) -> Vec<(CaseRecord, bool)> {
        self.of_site
            .into_iter()
            .filter(|(c, _)| state.admits(c.state()))
            .collect()
    }
}

struct StateTab {
    key: &'static str,
    label: &'static str,
    count: usize,
    active: bool,
    href: String,
}

struct SiteChoice {
    host: String,
    selected: bool,
}

/// A case as a row of the list.
struct CaseRow {
    id: i64,
    href: String,
    match_id: i64,
    copy_url: String,
    copy_host: String,
    site_href: String,
    original_title: String,
    state_key: String,
    state_label: String,
    opened: String,
    /// Whole days since the case opened.
    age_days: i64,
    since: String,
    /// Whole days in its state.
    state_days: i64,
    notice: Option<String>,
    last_recheck: Option<String>,
    overdue: bool,
}

fn days_since(t: &str, now: DateTime<Utc>) -> i64 {
    DateTime::parse_from_rfc3339(t)
        .map(|t| (now - t.with_timezone(&Utc)).num_days().max(0))
        .unwrap_or(0)
}

/// "2026-11-20 09:00 UTC · Email · abuse@example.com".
fn notice_text(t: &Labels, c: &CaseRecord) -> Option<String> {
    let at = c.notice_at.as_deref()?;
    let mut s = view::short_time(at);
    if let Some(ch) = &c.notice_channel {
        s.push_str(" · ");
        s.push_str(t.channel_label(ch));
    }
    if let Some(r) = &c.notice_recipient {
        s.push_str(" · ");
        s.push_str(r);
    }
    Some(s)
}

/// "2026-11-21 10:00 UTC · Still online".
fn recheck_text(t: &Labels, c: &CaseRecord) -> Option<String> {
    let at = c.last_recheck_at.as_deref()?;
    let result = c.last_recheck_result.as_deref().unwrap_or_default();
    Some(format!(
        "{} · {}",
        view::short_time(at),
        t.recheck_label(result)
    ))
}

impl CaseRow {
    fn new(t: &Labels, c: &CaseRecord, overdue: bool, now: DateTime<Utc>) -> CaseRow {
        CaseRow {
            id: c.id,
            href: format!("/cases/{}", c.id),
            match_id: c.match_id,
            copy_url: c.copy_url.clone(),
            copy_host: c.copy_host.clone(),
            site_href: site_href(&c.copy_host),
            original_title: c.original_title.clone(),
            state_key: c.state.clone(),
            state_label: t.case_state_label(&c.state).to_string(),
            opened: view::short_time(&c.opened_at),
            age_days: days_since(&c.opened_at, now),
            since: view::short_time(&c.state_since),
            state_days: days_since(&c.state_since, now),
            notice: notice_text(t, c),
            last_recheck: recheck_text(t, c),
            overdue,
        }
    }
}

#[derive(Template)]
#[template(path = "cases.html")]
struct CasesPage {
    t: &'static Labels,
    user: Option<String>,
    csrf: String,
    tabs: Vec<StateTab>,
    state_value: &'static str,
    sites: Vec<SiteChoice>,
    rows: Vec<CaseRow>,
    export_csv_href: String,
}

/// `/cases`: the cases of the filter, overdue first, then the longest in their state.
pub async fn list(
    State(desk): DeskState,
    Extension(session): Extension<Session>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let settings = desk.settings();
    let t = labels(settings.outlet.language);
    let result = async {
        let q = parse_query(&params)?;
        let site = q.site.clone();
        let selection = desk
            .with_store(move |s| {
                Selection::load(
                    s,
                    &settings,
                    &CasesQuery {
                        state: StateFilter::All,
                        site,
                    },
                )
            })
            .await?;
        let now = Utc::now();
        let count = |f: StateFilter| {
            selection
                .of_site
                .iter()
                .filter(|(c, _)| f.admits(c.state()))
                .count()
        };
        let mut filters = vec![StateFilter::Open];
        filters.extend(CaseState::ALL.into_iter().map(StateFilter::One));
        filters.push(StateFilter::All);
        let tabs = filters
            .into_iter()
            .map(|f| StateTab {
                key: f.key(),
                label: match f {
                    StateFilter::Open => t.open_cases,
                    StateFilter::All => t.all_cases,
                    StateFilter::One(s) => t.case_state_label(s.as_str()),
                },
                count: count(f),
                active: f == q.state,
                href: list_href("/cases", &q, f),
            })
            .collect();
        let sites = selection
            .sites
            .iter()
            .map(|h| SiteChoice {
                selected: q.site.as_deref() == Some(h.as_str()),
                host: h.clone(),
            })
            .collect();
        let rows = selection
            .shown(q.state)
            .iter()
            .map(|(c, o)| CaseRow::new(t, c, *o, now))
            .collect();
        let body = CasesPage {
            t,
            user: Some(session.user.clone()),
            csrf: session.csrf.clone(),
            tabs,
            state_value: q.state.key(),
            sites,
            rows,
            export_csv_href: list_href("/cases.csv", &q, q.state),
        }
        .render()?;
        Ok(html(body))
    }
    .await;
    respond(&desk, result)
}

/// `/cases.csv`: the list's rows (its filters) as CSV, in [`crate::export`]'s form.
pub async fn export_csv(
    State(desk): DeskState,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let settings = desk.settings();
    let result = async {
        let q = parse_query(&params)?;
        let state = q.state;
        let selection = desk
            .with_store(move |s| Selection::load(s, &settings, &q))
            .await?;
        let rows = selection.shown(state);
        let bytes = crate::export::cases_to_csv(&rows);
        // The state is a known name, so the file name is plain ASCII.
        let name = format!(
            "copyhound-cases-{}-{}.csv",
            state.key(),
            Utc::now().format("%Y%m%d-%H%M%S")
        );
        Ok((
            [
                (
                    header::CONTENT_TYPE,
                    crate::export::Format::Csv.content_type().to_string(),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}\""),
                ),
            ],
            bytes,
        )
            .into_response())
    }
    .await;
    respond(&desk, result)
}

// ---------------------------------------------------------------------------------
// A case

/// One event of the timeline.
struct EventRow {
    id: i64,
    kind: String,
    kind_label: String,
    at: String,
    actor: String,
    via: String,
    previous_label: String,
    state_key: String,
    state_label: String,
    changed: bool,
    note: String,
    channel: Option<String>,
    recipient: Option<String>,
    outcome: Option<String>,
    result_key: Option<String>,
    result: Option<String>,
    http_status: Option<u16>,
    share: Option<String>,
    final_url: Option<String>,
    error: Option<String>,
    evidence_href: Option<String>,
    evidence_file: Option<String>,
    /// The re-check's viewport screenshot (`/cases/ID/evidence/EVENT/view`), shown as a
    /// thumbnail, when its evidence file holds one.
    thumbnail_href: Option<String>,
    /// Its full-page screenshot, which the thumbnail links to, when there is one.
    full_page_href: Option<String>,
}

impl EventRow {
    fn new(t: &Labels, case_id: i64, e: &CaseEvent) -> EventRow {
        EventRow {
            id: e.id,
            kind: e.kind.clone(),
            kind_label: t.event_kind_label(&e.kind).to_string(),
            at: view::short_time(&e.at),
            actor: e.actor.clone(),
            via: e.via.clone(),
            previous_label: t.case_state_label(&e.previous_state).to_string(),
            state_key: e.state.clone(),
            state_label: t.case_state_label(&e.state).to_string(),
            changed: e.previous_state != e.state,
            note: e.note.clone(),
            channel: e.channel.as_deref().map(|c| t.channel_label(c).to_string()),
            recipient: e.recipient.clone(),
            outcome: e.outcome.as_deref().map(|o| t.outcome_label(o).to_string()),
            result_key: e.result.clone(),
            result: e.result.as_deref().map(|r| t.recheck_label(r).to_string()),
            http_status: e.http_status,
            share: e.containment.map(view::percent),
            final_url: e.final_url.clone(),
            error: e.error.clone(),
            evidence_href: e
                .evidence_file
                .as_ref()
                .map(|_| format!("/cases/{case_id}/evidence/{}", e.id)),
            evidence_file: e.evidence_file.clone(),
            thumbnail_href: None,
            full_page_href: None,
        }
    }
}

/// Re-checks of one case whose evidence files are opened for a thumbnail, the most
/// recent first: each is read whole (to check its digests), so a case re-checked monthly
/// for years does not make its page read years of files.
const MAX_THUMBNAILS: usize = 24;

/// A choice of a select: its value, label and whether it is chosen.
struct Choice {
    value: &'static str,
    label: &'static str,
}

#[derive(Template)]
#[template(path = "case.html")]
struct CasePage {
    t: &'static Labels,
    user: Option<String>,
    csrf: String,
    c: CaseRow,
    copy_title_href: Option<String>,
    outcome: Option<String>,
    next_recheck: Option<String>,
    flash: Option<String>,
    error: Option<String>,
    events: Vec<EventRow>,
    steps: Vec<Choice>,
    notice_channels: Vec<Choice>,
    further_channels: Vec<Choice>,
    outcomes: Vec<Choice>,
}

fn choices<T: Copy>(
    all: &[T],
    value: fn(T) -> &'static str,
    label: impl Fn(&'static str) -> &'static str,
) -> Vec<Choice> {
    all.iter()
        .map(|x| {
            let v = value(*x);
            Choice {
                value: v,
                label: label(v),
            }
        })
        .collect()
}

/// Renders case `id` (with `flash` or `error` above its forms).
async fn render_case(
    desk: &super::Desk,
    session: &Session,
    id: i64,
    flash_event: Option<i64>,
    error: Option<String>,
) -> Result<String, Failure> {
    let settings = desk.settings();
    let t = labels(settings.outlet.language);
    let deadline = settings.cases.deadline.0;
    let (case, events) = desk
        .with_store(move |s| {
            let case = s.find_case(id)?.ok_or_else(Failure::not_found)?;
            let events = s.case_events(id)?;
            Ok((case, events))
        })
        .await?;
    let now = Utc::now();
    let overdue = steps::overdue(&case, deadline, now);
    // Only an event of this case is named, so a crafted link says nothing else.
    let flash = flash_event
        .and_then(|e| events.iter().find(|x| x.id == e))
        .map(|e| {
            let what = if e.kind == "counter-notice" {
                t.counter_notice.to_string()
            } else {
                format!(
                    "{} → {}",
                    t.case_state_label(&e.previous_state),
                    t.case_state_label(&e.state)
                )
            };
            format!("{}{what}", t.step_recorded)
        });
    // In the order of a case's life; a notice has its own form, reopening comes last.
    let mut step_choices: Vec<Choice> = CaseState::ALL
        .into_iter()
        .filter(|s| !matches!(s, CaseState::Escalated | CaseState::NoticeSent))
        .map(|s| Choice {
            value: s.as_str(),
            label: t.case_state_label(s.as_str()),
        })
        .collect();
    step_choices.push(Choice {
        value: "counter-notice",
        label: t.counter_notice,
    });
    step_choices.push(Choice {
        value: "escalated",
        label: t.reopen,
    });
    let notice: Vec<Channel> = Channel::ALL.into_iter().filter(|c| c.is_notice()).collect();
    let further: Vec<Channel> = Channel::ALL
        .into_iter()
        .filter(|c| !c.is_notice())
        .collect();
    let mut rows: Vec<EventRow> = events.iter().map(|e| EventRow::new(t, id, e)).collect();
    for (row, event) in rows
        .iter_mut()
        .zip(&events)
        .rev()
        .filter(|(_, e)| e.evidence_file.is_some())
        .take(MAX_THUMBNAILS)
    {
        let [view, full_page, _] = rendered_kinds(desk, event.evidence_file.clone()).await;
        let base = format!("/cases/{id}/evidence/{}", event.id);
        row.thumbnail_href = view.then(|| format!("{base}/view"));
        row.full_page_href = full_page.then(|| format!("{base}/fullPage"));
    }
    let page = CasePage {
        t,
        user: Some(session.user.clone()),
        csrf: session.csrf.clone(),
        copy_title_href: view::safe_href(&case.copy_url),
        outcome: case
            .outcome
            .as_deref()
            .map(|o| t.outcome_label(o).to_string()),
        next_recheck: case.next_recheck_at.as_deref().map(view::short_time),
        c: CaseRow::new(t, &case, overdue, now),
        flash,
        error,
        events: rows,
        steps: step_choices,
        notice_channels: choices(&notice, Channel::as_str, |v| t.channel_label(v)),
        further_channels: choices(&further, Channel::as_str, |v| t.channel_label(v)),
        outcomes: choices(&Outcome::ALL, Outcome::as_str, |v| t.outcome_label(v)),
    };
    Ok(page.render()?)
}

/// `/cases/ID`.
pub async fn page(
    State(desk): DeskState,
    Extension(session): Extension<Session>,
    Path(raw_id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let result = async {
        let id = parse_id(&raw_id)?;
        let done = params.get("done").and_then(|v| v.parse::<i64>().ok());
        Ok(html(render_case(&desk, &session, id, done, None).await?))
    }
    .await;
    respond(&desk, result)
}

/// A step form (`/cases/ID/step`): the notice form and the general one share it.
#[derive(Debug, Deserialize)]
pub struct StepForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    step: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    recipient: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    note: String,
}

fn optional<T>(key: &str, value: &str, parse: fn(&str) -> Option<T>) -> Result<Option<T>, Failure> {
    match value.trim() {
        "" => Ok(None),
        v => parse(v)
            .map(Some)
            .ok_or_else(|| Failure::bad_request(format!("{key}: unknown value {v:?}"))),
    }
}

/// Records counsel's step through [`steps::mark`] and goes back to the case; a step the
/// rules refuse changes nothing and shows the case with the reason.
pub async fn step(
    State(desk): DeskState,
    Extension(session): Extension<Session>,
    Path(raw_id): Path<String>,
    Form(form): Form<StepForm>,
) -> Response {
    let result: PageResult = async {
        // The token first: a forged request learns nothing.
        check_csrf(&session, &form.csrf)?;
        let id = parse_id(&raw_id)?;
        let step = optional("step", &form.step, Step::parse)?
            .ok_or_else(|| Failure::bad_request("step: missing"))?;
        let channel = optional("channel", &form.channel, Channel::parse)?;
        let outcome = optional("outcome", &form.outcome, Outcome::parse)?;
        let recipient = Some(form.recipient.trim().to_string()).filter(|r| !r.is_empty());
        let at = match form.date.trim() {
            "" => None,
            d => match steps::parse_date(d) {
                Ok(at) => Some(at),
                Err(_) => {
                    let t = labels(desk.settings().outlet.language);
                    return refuse(&desk, &session, id, t.bad_date.to_string()).await;
                }
            },
        };
        let settings = desk.settings();
        let actor = session.user.clone();
        let note = form.note.clone();
        let marked = desk
            .with_store(move |s| {
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
                    via: "web",
                };
                Ok(steps::mark(s, &settings, id, &request, Utc::now()))
            })
            .await?;
        match marked {
            Ok(m) => {
                tracing::info!(user = %session.user, case = id, from = %m.previous, to = %m.state, "case step");
                Ok(Redirect::to(&format!("/cases/{id}?done={}", m.event_id)).into_response())
            }
            Err(StepError::NoSuchCase(_)) => Err(Failure::not_found()),
            Err(StepError::Store(e)) => Err(e.into()),
            // Said in the desk's language, with the desk's names of the states.
            Err(StepError::Refused { refusal, .. }) => {
                let t = labels(desk.settings().outlet.language);
                let message = refusal.message(desk.settings().outlet.language, |s| {
                    t.case_state_label(s.as_str()).to_string()
                });
                refuse(&desk, &session, id, message).await
            }
            Err(StepError::Changed(_)) => {
                let t = labels(desk.settings().outlet.language);
                refuse(&desk, &session, id, t.case_changed.to_string()).await
            }
        }
    }
    .await;
    respond(&desk, result)
}

/// The case page with why a step was not recorded (400: nothing changed).
async fn refuse(desk: &super::Desk, session: &Session, id: i64, message: String) -> PageResult {
    let body = render_case(desk, session, id, None, Some(message)).await?;
    Ok(status_page(StatusCode::BAD_REQUEST, body))
}

/// `/cases/ID/evidence/EVENT`: a re-check's evidence file, served as the match page
/// serves a match's ([`serve_evidence`]).
pub async fn evidence(
    State(desk): DeskState,
    Extension(_session): Extension<Session>,
    Path((raw_id, raw_event)): Path<(String, String)>,
) -> Response {
    let result = async {
        let id = parse_id(&raw_id)?;
        let event_id = parse_id(&raw_event)?;
        let event = desk
            .with_store(move |s| {
                s.case_events(id)?
                    .into_iter()
                    .find(|e| e.id == event_id)
                    .ok_or_else(Failure::not_found)
            })
            .await?;
        serve_evidence(&desk, event.evidence_file, event.evidence_sha256).await
    }
    .await;
    respond(&desk, result)
}

/// `/cases/ID/evidence/EVENT/KIND`: the browser's artefact (`view`, `fullPage`, `pdf`)
/// of a re-check's evidence file, read from its WARC record (whose digest must verify),
/// as the match page's `/matches/ID/capture/KIND` serves a match's.
pub async fn artefact(
    State(desk): DeskState,
    Extension(_session): Extension<Session>,
    Path((raw_id, raw_event, kind)): Path<(String, String, String)>,
) -> Response {
    let result = async {
        let id = parse_id(&raw_id)?;
        let event_id = parse_id(&raw_event)?;
        let kind = RenderKind::from_name(&kind).ok_or_else(Failure::not_found)?;
        let file = desk
            .with_store(move |s| {
                s.case_events(id)?
                    .into_iter()
                    .find(|e| e.id == event_id)
                    .map(|e| e.evidence_file)
                    .ok_or_else(Failure::not_found)
            })
            .await?;
        serve_artefact(&desk, file, kind, &format!("case-{id}-recheck-{event_id}")).await
    }
    .await;
    respond(&desk, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn case_filters_are_checked_and_echoed() {
        let parsed = parse_query(&q(&[])).unwrap_or_else(|_| panic!("defaults parse"));
        assert_eq!(parsed.state, StateFilter::Open);
        assert_eq!(list_href("/cases", &parsed, StateFilter::Open), "/cases");
        let parsed = parse_query(&q(&[("state", "notice-sent"), ("site", "a.example:8080")]))
            .unwrap_or_else(|_| panic!("valid"));
        assert_eq!(parsed.state, StateFilter::One(CaseState::NoticeSent));
        assert_eq!(
            list_href("/cases.csv", &parsed, parsed.state),
            "/cases.csv?state=notice-sent&site=a.example%3A8080"
        );
        assert_eq!(
            list_href("/cases", &parsed, StateFilter::All),
            "/cases?state=all&site=a.example%3A8080"
        );
        assert!(StateFilter::Open.admits(CaseState::StillOnline));
        assert!(!StateFilter::Open.admits(CaseState::Closed));
        assert!(StateFilter::All.admits(CaseState::Closed));
        for bad in [("state", "counter-notice"), ("state", "nope")] {
            assert!(parse_query(&q(&[bad])).is_err(), "{bad:?}");
        }
        assert!(parse_query(&q(&[("site", &"a".repeat(301))])).is_err());
    }

    #[test]
    fn days_are_whole_and_never_negative() {
        let now = Utc::now();
        let ten = (now - chrono::Duration::days(10) - chrono::Duration::hours(1)).to_rfc3339();
        assert_eq!(days_since(&ten, now), 10);
        let future = (now + chrono::Duration::days(1)).to_rfc3339();
        assert_eq!(days_since(&future, now), 0);
        assert_eq!(days_since("garbage", now), 0);
    }
}
