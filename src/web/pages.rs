//! The desk's handlers: login, queue, match page, decisions, downloads, site lists.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use askama::Template;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use chrono::Utc;
use serde::Deserialize;

use super::auth::{self, LOGIN_COOKIE, SESSION_COOKIE};
use super::i18n::{labels, Labels};
use super::view::{self, Segment};
use super::{status_page, Desk, DeskState};
use crate::evidence::browser::RenderKind;
use crate::evidence::place::{Place, PlaceError};
use crate::export::{Format, MAX_EXPORT_ROWS};
use crate::review::{self, Action, Request as ReviewRequest};
use crate::store::{
    DecideOutcome, MatchFilter, ReviewStatus, SiteList, SiteListEntry, SortKey, Store,
    MAX_SEARCH_CHARS,
};

/// Matches per queue page.
const PAGE_SIZE: usize = 50;
/// The most matches one bulk decision takes, picked or "all matching the filter": a
/// decision is one transaction that reads each match (and, for `infringing`, builds its
/// escalation), so a bound keeps the store's write lock short. A larger selection is
/// refused with its size; narrow the filter (or ignore the site) instead.
pub const MAX_BULK_DECISION: usize = 500;
/// Matches and decisions a site page lists (newest first; the queue's site filter has
/// them all).
const SITE_PAGE_ROWS: usize = 200;
/// How long the login form's CSRF cookie lives.
const LOGIN_FORM_TTL: std::time::Duration = std::time::Duration::from_secs(3600);
/// Evidence files larger than this are not served through the desk (they are still on
/// disk for counsel); real captures are far smaller.
const MAX_EVIDENCE_DOWNLOAD: u64 = 512 * 1024 * 1024;

/// The logged-in reviewer, put in the request by [`require_login`].
#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    pub csrf: String,
    pub token_digest: String,
}

/// A request the desk refuses or cannot serve, rendered as a page.
#[derive(Debug)]
pub struct Failure {
    status: StatusCode,
    /// Shown to the reviewer (escaped by the template).
    detail: String,
    /// Logged, never shown (may name files).
    log: Option<String>,
}

impl Failure {
    pub fn internal(log: String) -> Failure {
        Failure {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            detail: String::new(),
            log: Some(log),
        }
    }
    pub(super) fn not_found() -> Failure {
        Failure {
            status: StatusCode::NOT_FOUND,
            detail: String::new(),
            log: None,
        }
    }
    pub(super) fn bad_request(detail: impl Into<String>) -> Failure {
        Failure {
            status: StatusCode::BAD_REQUEST,
            detail: detail.into(),
            log: None,
        }
    }
    fn forbidden() -> Failure {
        Failure {
            status: StatusCode::FORBIDDEN,
            detail: String::new(),
            log: None,
        }
    }
    fn render(self, t: &'static Labels) -> Response {
        if let Some(log) = &self.log {
            tracing::error!(error = %log, "review desk request failed");
        }
        let message = match self.status {
            StatusCode::NOT_FOUND => t.not_found.to_string(),
            StatusCode::BAD_REQUEST => format!("{}{}", t.bad_request, self.detail),
            StatusCode::FORBIDDEN => t.forbidden.to_string(),
            StatusCode::UNAUTHORIZED => t.login_required.to_string(),
            _ => t.server_error.to_string(),
        };
        let page = ErrorPage {
            t,
            user: None,
            csrf: String::new(),
            message,
        };
        status_page(self.status, page.render().unwrap_or_default())
    }
}

impl From<crate::store::StoreError> for Failure {
    fn from(e: crate::store::StoreError) -> Failure {
        Failure::internal(e.to_string())
    }
}

impl From<askama::Error> for Failure {
    fn from(e: askama::Error) -> Failure {
        Failure::internal(format!("template: {e}"))
    }
}

pub(super) type PageResult = Result<Response, Failure>;

pub(super) fn html(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

/// Renders a failure in the desk's language.
pub(super) fn respond(desk: &Desk, result: PageResult) -> Response {
    result.unwrap_or_else(|f| f.render(labels(desk.settings().outlet.language)))
}

// ---------------------------------------------------------------------------------
// Templates

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    t: &'static Labels,
    user: Option<String>,
    csrf: String,
    message: String,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    t: &'static Labels,
    user: Option<String>,
    csrf: String,
    next: String,
    error: Option<&'static str>,
    no_users: bool,
}

struct Tab {
    key: &'static str,
    label: &'static str,
    count: i64,
    active: bool,
    href: String,
}

struct SiteOption {
    host: String,
    unreviewed: i64,
    total: i64,
    selected: bool,
}

struct Row {
    id: i64,
    href: String,
    copy_title: String,
    copy_host: String,
    /// The site's page.
    site_href: String,
    original_title: String,
    verdict: String,
    containment: f64,
    share: String,
    captured: String,
    status_key: String,
    status_label: String,
    licensed: bool,
}

impl Row {
    /// A match as a row, its link carrying the queue it was listed in (`context`, the
    /// encoded `q` parameter).
    fn new(t: &Labels, m: crate::store::MatchSummary, context: &str) -> Row {
        Row {
            href: format!("/matches/{}?q={context}", m.id),
            id: m.id,
            copy_title: display_title(&m.copy_title, &m.copy_url),
            site_href: site_href(&m.copy_host),
            copy_host: m.copy_host,
            original_title: m.original_title,
            verdict: t.verdict_label(&m.verdict).to_string(),
            containment: m.containment,
            share: view::percent(m.containment),
            captured: view::short_time(&m.captured_at),
            status_label: t.status_label(&m.status).to_string(),
            status_key: m.status,
            licensed: m.licensed,
        }
    }
}

#[derive(Template)]
#[template(path = "queue.html")]
struct QueuePage {
    t: &'static Labels,
    user: Option<String>,
    csrf: String,
    flash: Option<String>,
    tabs: Vec<Tab>,
    status_value: String,
    sites: Vec<SiteOption>,
    verdict: String,
    from: String,
    to: String,
    sort: String,
    order: String,
    total: i64,
    rows: Vec<Row>,
    page: usize,
    pages: usize,
    prev_href: Option<String>,
    next_href: Option<String>,
    bulk_host: Option<String>,
    /// The rows have checkboxes (`match_table.html`).
    picks: bool,
    /// The site filter's page, when a site is chosen.
    site_page_href: Option<String>,
    /// The search text (`search`), echoed into its box.
    search: String,
    /// The queue's own query (filters and order), carried by the selection form so
    /// "all matching" is decided on this filter.
    queue_q: String,
    /// [`MAX_BULK_DECISION`], said next to the selection form.
    max_bulk: usize,
    /// The export links: this queue (filters and order, every page) as a file.
    export_csv_href: String,
    export_xlsx_href: String,
}

struct RedirectRow {
    url: String,
    href: Option<String>,
    status: u16,
}

struct HistoryRow {
    /// The match decided (the site page lists several matches' decisions).
    match_id: i64,
    at: String,
    actor: String,
    via: String,
    previous: String,
    status: String,
    status_key: String,
    note: String,
    /// For a decision that escalated: where its email to counsel stands.
    escalation: Option<String>,
}

impl HistoryRow {
    fn new(t: &Labels, d: crate::store::Decision, escalation: Option<String>) -> HistoryRow {
        HistoryRow {
            match_id: d.match_id,
            escalation,
            at: view::short_time(&d.decided_at),
            actor: d.actor,
            via: d.via,
            previous: t.status_label(&d.previous_status).to_string(),
            status: t.status_label(&d.status).to_string(),
            status_key: d.status,
            note: d.note,
        }
    }
}

#[derive(Template)]
#[template(path = "match.html")]
struct MatchPage {
    t: &'static Labels,
    user: Option<String>,
    csrf: String,
    flash: Option<String>,
    m: crate::store::MatchSummary,
    /// The queue this page was opened from (`q`), for the decision form and the way back.
    queue_q: String,
    queue_href: String,
    /// The copy's site page.
    site_href: String,
    /// The redirects followed to reach the copy, in order.
    redirects: Vec<RedirectRow>,
    status_key: String,
    status_label: String,
    share: String,
    /// Coverage and the copied length, formatted ("not measured" for older matches).
    coverage: String,
    copied_length: String,
    verdict: String,
    copy_href: Option<String>,
    original_href: Option<String>,
    evidence_file: Option<String>,
    evidence_sha256: String,
    /// The evidence file's trusted timestamp (TSA, time, delay) or that it is queued;
    /// `None` when timestamps were never requested for it.
    timestamp: Option<String>,
    /// Which of the browser's artefacts the evidence file holds (viewport, full page,
    /// PDF), served by `/matches/{id}/capture/{kind}`.
    rendered: [bool; 3],
    /// Where an archived match was found, and which capture is primary.
    archive: Option<ArchiveRows>,
    original_segments: Vec<Segment>,
    copy_segments: Vec<Segment>,
    copy_error: Option<String>,
    history: Vec<HistoryRow>,
    /// The match's cases (a case opens when it is marked infringing), oldest first:
    /// id and state label.
    cases: Vec<(i64, String)>,
    /// The check against the licence covering the copy's site: the verdict's key and
    /// the line shown (partner, verdict, what is missing).
    licence: Option<(String, String)>,
    licence_heading: &'static str,
    licence_request: &'static str,
}

/// An archived match's provenance as the match page shows it. Everything here but the
/// labels and file names is a stranger's (the archive's source URL, its record id):
/// auto-escaped by the template, and the source linked only when it is http(s).
struct ArchiveRows {
    source: String,
    source_href: Option<String>,
    range: String,
    record_id: Option<String>,
    live_is_primary: bool,
    primary: String,
    archived_file: Option<String>,
    archived_sha256: String,
    /// The archived evidence is the match's own file until the live capture replaces it
    /// (`/matches/{id}/evidence`), then `/matches/{id}/evidence/archived`.
    archived_href: String,
    live_file: Option<String>,
}

impl ArchiveRows {
    fn new(t: &Labels, id: i64, p: review::Provenance) -> ArchiveRows {
        let range = crate::notify::report::archive_range(
            p.offset,
            p.length,
            t.archive_range,
            t.archive_offset_only,
        );
        let live_is_primary = p.live_is_primary();
        let primary = match &p.live_captured_at {
            Some(at) => t.primary_live.replace("{at}", &view::short_time(at)),
            None => t.primary_archived.to_string(),
        };
        ArchiveRows {
            source_href: view::safe_href(&p.source),
            source: p.source,
            range,
            record_id: p.record_id,
            live_is_primary,
            primary,
            archived_file: p.archived_evidence_file,
            archived_sha256: p.archived_evidence_sha256.unwrap_or_default(),
            archived_href: if live_is_primary {
                format!("/matches/{id}/evidence/archived")
            } else {
                format!("/matches/{id}/evidence")
            },
            live_file: p.live_evidence_file,
        }
    }
}

#[derive(Template)]
#[template(path = "sites.html")]
struct SitesPage {
    t: &'static Labels,
    user: Option<String>,
    csrf: String,
    config_licensed: Vec<String>,
    licensed: Vec<SiteListEntry>,
    ignored: Vec<SiteListEntry>,
}

// ---------------------------------------------------------------------------------
// Login

/// Puts the reviewer's [`Session`] in the request, or sends them to log in (a GET) or
/// refuses (anything else).
pub async fn require_login(State(desk): DeskState, mut request: Request, next: Next) -> Response {
    let token = auth::cookie(request.headers(), SESSION_COOKIE);
    let session = match token {
        Some(token) if token.len() == 64 => {
            let digest = auth::token_digest(&token);
            let lookup = digest.clone();
            match desk
                .with_store(move |s| Ok(s.find_session(&lookup, Utc::now())?))
                .await
            {
                Ok(found) => found.map(|r| Session {
                    user: r.user_name,
                    csrf: r.csrf_token,
                    token_digest: digest,
                }),
                Err(f) => return f.render(labels(desk.settings().outlet.language)),
            }
        }
        _ => None,
    };
    // A user removed from the config loses the desk at once, session or not.
    let session = session.filter(|s| desk.settings().web.users.iter().any(|u| u.name == s.user));
    match session {
        Some(s) => {
            request.extensions_mut().insert(s);
            next.run(request).await
        }
        None if request.method() == axum::http::Method::GET => {
            let target = request
                .uri()
                .path_and_query()
                .map_or("/matches".to_string(), |p| p.as_str().to_string());
            let location = format!("/login?next={}", encode_query(&target));
            Redirect::to(&location).into_response()
        }
        None => Failure {
            status: StatusCode::UNAUTHORIZED,
            detail: String::new(),
            log: None,
        }
        .render(labels(desk.settings().outlet.language)),
    }
}

/// Only local paths are followed after login, never another site (`//host`, `/\host`).
fn safe_next(next: &str) -> String {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c.is_control());
    if ok {
        next.to_string()
    } else {
        "/matches".to_string()
    }
}

pub(super) fn encode_query(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    next: String,
}

pub async fn login_form(
    State(desk): DeskState,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let result = (|| {
        let settings = desk.settings();
        let token = auth::new_token().map_err(|e| Failure::internal(e.to_string()))?;
        let page = LoginPage {
            t: labels(settings.outlet.language),
            user: None,
            csrf: token.clone(),
            next: safe_next(&q.next),
            error: None,
            no_users: settings.web.users.is_empty(),
        };
        let secure = auth::wants_secure(settings.web.behind_tls, &headers);
        let mut response = html(page.render()?);
        set_header(
            &mut response,
            auth::set_cookie(LOGIN_COOKIE, &token, "/login", LOGIN_FORM_TTL, secure),
        );
        Ok(response)
    })();
    respond(&desk, result)
}

fn set_header(response: &mut Response, cookie: String) {
    // Cookie values are hex tokens and fixed attributes: always a valid header value.
    if let Ok(v) = axum::http::HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

pub async fn login(
    State(desk): DeskState,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let settings = desk.settings();
    let t = labels(settings.outlet.language);
    let cookie_token = auth::cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if cookie_token.is_empty() || !auth::same_secret(&cookie_token, &form.csrf) {
        return Failure::forbidden().render(t);
    }
    let secure = auth::wants_secure(settings.web.behind_tls, &headers);
    let retry = |status: StatusCode, error: &'static str| -> Response {
        let page = LoginPage {
            t,
            user: None,
            csrf: form.csrf.clone(),
            next: safe_next(&form.next),
            error: Some(error),
            no_users: settings.web.users.is_empty(),
        };
        status_page(status, page.render().unwrap_or_default())
    };
    let name: String = form.user.trim().chars().take(64).collect();
    let addr = Some(peer.ip());
    if desk.limiter().blocked(&name, addr, Instant::now()) {
        tracing::warn!(user = %crate::cli::printable(&name), addr = %peer.ip(), "login refused: too many failures");
        return retry(StatusCode::TOO_MANY_REQUESTS, t.too_many_attempts);
    }
    let users = settings.web.users.clone();
    let (check_name, password) = (name.clone(), form.password.clone());
    let checked =
        tokio::task::spawn_blocking(move || auth::check_password(&users, &check_name, &password))
            .await
            .ok()
            .flatten();
    let Some(user) = checked else {
        desk.limiter().failed(&name, addr, Instant::now());
        tracing::warn!(user = %crate::cli::printable(&name), addr = %peer.ip(), "login failed");
        return retry(StatusCode::UNAUTHORIZED, t.login_failed);
    };
    desk.limiter().succeeded(&user);
    let result = async {
        let token = auth::new_token().map_err(|e| Failure::internal(e.to_string()))?;
        let csrf = auth::new_token().map_err(|e| Failure::internal(e.to_string()))?;
        let digest = auth::token_digest(&token);
        let ttl = settings.web.session_ttl;
        let who = user.clone();
        desk.with_store(move |s| {
            let now = Utc::now();
            let expires =
                now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(12));
            Ok(s.create_session(&digest, &who, &csrf, now, expires)?)
        })
        .await?;
        tracing::info!(user = %user, addr = %peer.ip(), "logged in");
        let mut response = Redirect::to(&safe_next(&form.next)).into_response();
        set_header(
            &mut response,
            auth::set_cookie(SESSION_COOKIE, &token, "/", ttl, secure),
        );
        set_header(
            &mut response,
            auth::set_cookie(
                LOGIN_COOKIE,
                "",
                "/login",
                std::time::Duration::ZERO,
                secure,
            ),
        );
        Ok(response)
    }
    .await;
    respond(&desk, result)
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub(super) fn check_csrf(session: &Session, token: &str) -> Result<(), Failure> {
    if auth::same_secret(&session.csrf, token) {
        Ok(())
    } else {
        Err(Failure::forbidden())
    }
}

pub async fn logout(
    State(desk): DeskState,
    Extension(session): Extension<Session>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let result = async {
        check_csrf(&session, &form.csrf)?;
        let digest = session.token_digest.clone();
        desk.with_store(move |s| Ok(s.delete_session(&digest)?))
            .await?;
        let secure = auth::wants_secure(desk.settings().web.behind_tls, &headers);
        let mut response = Redirect::to("/login").into_response();
        set_header(
            &mut response,
            auth::set_cookie(SESSION_COOKIE, "", "/", std::time::Duration::ZERO, secure),
        );
        Ok(response)
    }
    .await;
    respond(&desk, result)
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    t: &'static Labels,
    user: Option<String>,
    csrf: String,
    d: crate::dashboard::Dashboard,
    font_family: &'static str,
    /// The tables of numbers start folded on the desk (the charts are the summary).
    open_tables: bool,
}

/// The dashboard: the last 26 weeks' figures (one set of store queries, shared with
/// the monthly report) as charts with their numbers.
pub async fn home(State(desk): DeskState, Extension(session): Extension<Session>) -> Response {
    let settings = desk.settings();
    let lang = settings.outlet.language;
    let t = labels(lang);
    let result = async {
        let now = Utc::now();
        let window = crate::dashboard::recent_window(now);
        let deadline = settings.cases.deadline.0;
        let figures = desk
            .with_store(move |s| Ok(s.window_figures(window, now, deadline)?))
            .await?;
        let body = DashboardPage {
            t,
            user: Some(session.user.clone()),
            csrf: session.csrf.clone(),
            d: crate::dashboard::build(&figures, lang, now),
            font_family: crate::dashboard::charts::FONT_FAMILY,
            open_tables: false,
        }
        .render()?;
        Ok(html(body))
    }
    .await;
    respond(&desk, result)
}

pub async fn not_found(State(desk): DeskState) -> Response {
    Failure::not_found().render(labels(desk.settings().outlet.language))
}

// ---------------------------------------------------------------------------------
// Queue

/// The queue's query parameters, checked.
struct QueueQuery {
    filter: MatchFilter,
    /// `all` or a status name.
    status: String,
    page: usize,
    flash: Option<Flash>,
}

fn parse_date(key: &str, value: &str) -> Result<Option<chrono::NaiveDate>, Failure> {
    if value.is_empty() {
        return Ok(None);
    }
    chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| Failure::bad_request(format!("{key}: expected a date like 2026-11-26")))
}

fn parse_queue(q: &HashMap<String, String>) -> Result<QueueQuery, Failure> {
    let get = |k: &str| q.get(k).map(|v| v.trim()).unwrap_or("");
    let status = match get("status") {
        "" => "unreviewed".to_string(),
        "all" => "all".to_string(),
        s => ReviewStatus::parse(s)
            .ok_or_else(|| Failure::bad_request(format!("status: unknown status {s:?}")))?
            .as_str()
            .to_string(),
    };
    let verdict = match get("verdict") {
        "" => None,
        v @ ("copy" | "partial") => Some(v.to_string()),
        v => {
            return Err(Failure::bad_request(format!(
                "verdict: unknown verdict {v:?}"
            )))
        }
    };
    let sort = match get("sort") {
        "" | "date" => SortKey::Date,
        "share" => SortKey::Share,
        s => return Err(Failure::bad_request(format!("sort: unknown key {s:?}"))),
    };
    let ascending = match get("order") {
        "" | "desc" => false,
        "asc" => true,
        s => return Err(Failure::bad_request(format!("order: unknown order {s:?}"))),
    };
    let page = match get("page") {
        "" => 1,
        p => p
            .parse::<usize>()
            .ok()
            .filter(|p| (1..=1_000_000).contains(p))
            .ok_or_else(|| Failure::bad_request("page: expected a page number"))?,
    };
    let host = Some(get("site").to_string()).filter(|h| !h.is_empty());
    let search = Some(get("search").to_string()).filter(|t| !t.is_empty());
    if let Some(t) = &search {
        let n = t.chars().count();
        if n > MAX_SEARCH_CHARS || t.chars().any(char::is_control) {
            return Err(Failure::bad_request(format!(
                "search: at most {MAX_SEARCH_CHARS} characters of text, got {n}"
            )));
        }
    }
    Ok(QueueQuery {
        filter: MatchFilter {
            status: ReviewStatus::parse(&status),
            host,
            verdict,
            from: parse_date("from", get("from"))?,
            to: parse_date("to", get("to"))?,
            search,
            sort,
            ascending,
            offset: (page - 1) * PAGE_SIZE,
            limit: PAGE_SIZE,
        },
        status,
        page,
        flash: Flash::parse(q),
    })
}

/// The queue a match page was opened from, as the `q` parameter carries it: the queue's
/// own query string (filters and order, no page), re-built from checked values so only
/// sane parameters are ever echoed. Empty for the default queue.
fn queue_context(q: &QueueQuery) -> String {
    let href = queue_href(q, &q.status, 1);
    href.trim_start_matches("/matches?").to_string()
}

/// Parses a `q` parameter back into a queue; an unusable one is the default queue (it
/// only steers navigation, so it never fails a request).
fn parse_context(q: &str) -> QueueQuery {
    let pairs: HashMap<String, String> = url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect();
    parse_queue(&pairs).unwrap_or_else(|_| QueueQuery {
        filter: MatchFilter {
            status: Some(ReviewStatus::Unreviewed),
            limit: PAGE_SIZE,
            ..MatchFilter::default()
        },
        status: ReviewStatus::Unreviewed.as_str().to_string(),
        page: 1,
        flash: None,
    })
}

/// The query string of a queue view, with `status` and `page` replaced.
fn queue_href(q: &QueueQuery, status: &str, page: usize) -> String {
    let f = &q.filter;
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    s.append_pair("status", status);
    if let Some(h) = &f.host {
        s.append_pair("site", h);
    }
    if let Some(v) = &f.verdict {
        s.append_pair("verdict", v);
    }
    if let Some(t) = &f.search {
        s.append_pair("search", t);
    }
    if let Some(d) = f.from {
        s.append_pair("from", &d.to_string());
    }
    if let Some(d) = f.to {
        s.append_pair("to", &d.to_string());
    }
    if f.sort == SortKey::Share {
        s.append_pair("sort", "share");
    }
    if f.ascending {
        s.append_pair("order", "asc");
    }
    if page > 1 {
        s.append_pair("page", &page.to_string());
    }
    format!("/matches?{}", s.finish())
}

pub async fn queue(
    State(desk): DeskState,
    Extension(session): Extension<Session>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let settings = desk.settings();
    let t = labels(settings.outlet.language);
    let result = async {
        let q = parse_queue(&params)?;
        let filter = q.filter.clone();
        let flash_id = q.flash.as_ref().map(|f| f.match_id);
        let (page, counts, sites, flash_host) = desk
            .with_store(move |s| {
                let page = s.query_matches(&filter)?;
                let counts = s.status_counts(&filter)?;
                let sites = s.match_sites()?;
                let host = flash_host(s, flash_id)?;
                Ok((page, counts, sites, host))
            })
            .await?;
        let all: i64 = counts.iter().map(|(_, n)| n).sum();
        let mut tabs: Vec<Tab> = counts
            .iter()
            .map(|(status, count)| Tab {
                key: status.as_str(),
                label: t.status_name(*status),
                count: *count,
                active: q.status == status.as_str(),
                href: queue_href(&q, status.as_str(), 1),
            })
            .collect();
        tabs.push(Tab {
            key: "all",
            label: t.all,
            count: all,
            active: q.status == "all",
            href: queue_href(&q, "all", 1),
        });
        let pages = (page.total as usize).div_ceil(PAGE_SIZE).max(1);
        let context = encode_query(&queue_context(&q));
        let rows = page
            .matches
            .into_iter()
            .map(|m| Row::new(t, m, &context))
            .collect();
        let f = &q.filter;
        let body = QueuePage {
            t,
            user: Some(session.user.clone()),
            csrf: session.csrf.clone(),
            flash: q.flash.as_ref().map(|fl| fl.text(t, flash_host.as_deref())),
            tabs,
            status_value: q.status.clone(),
            sites: sites
                .into_iter()
                .map(|s| SiteOption {
                    selected: f.host.as_deref() == Some(s.host.as_str()),
                    host: s.host,
                    unreviewed: s.unreviewed,
                    total: s.total,
                })
                .collect(),
            verdict: f.verdict.clone().unwrap_or_default(),
            from: f.from.map(|d| d.to_string()).unwrap_or_default(),
            to: f.to.map(|d| d.to_string()).unwrap_or_default(),
            sort: if f.sort == SortKey::Share {
                "share"
            } else {
                "date"
            }
            .into(),
            order: if f.ascending { "asc" } else { "desc" }.into(),
            total: page.total,
            rows,
            page: q.page,
            pages,
            prev_href: (q.page > 1).then(|| queue_href(&q, &q.status, q.page - 1)),
            next_href: (q.page < pages).then(|| queue_href(&q, &q.status, q.page + 1)),
            bulk_host: f.host.clone(),
            picks: true,
            site_page_href: f.host.as_deref().map(site_href),
            search: f.search.clone().unwrap_or_default(),
            queue_q: queue_context(&q),
            max_bulk: MAX_BULK_DECISION,
            export_csv_href: export_href(&q, Format::Csv),
            export_xlsx_href: export_href(&q, Format::Xlsx),
        }
        .render()?;
        Ok(html(body))
    }
    .await;
    respond(&desk, result)
}

/// The export link of a queue view: its filters and order (not its page), so the file
/// holds what the reviewer sees across all pages.
fn export_href(q: &QueueQuery, format: Format) -> String {
    format!("/matches.{}?{}", format.extension(), queue_context(q))
}

pub async fn export_csv(
    State(desk): DeskState,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    export(desk, params, Format::Csv).await
}

pub async fn export_xlsx(
    State(desk): DeskState,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    export(desk, params, Format::Xlsx).await
}

/// The queue with the query's filters as a CSV or XLSX file: the rows the queue shows
/// over all its pages, at most [`MAX_EXPORT_ROWS`] (the response says how many the
/// filter selects in `X-Copyhound-Export-Total`, so a cut export is visible). One
/// export is built at a time ([`Desk::export_turn`]).
async fn export(desk: Desk, params: HashMap<String, String>, format: Format) -> Response {
    let result = async {
        let q = parse_queue(&params)?;
        let filter = MatchFilter {
            offset: 0,
            limit: MAX_EXPORT_ROWS,
            ..q.filter.clone()
        };
        let _turn = desk.export_turn().await?;
        let page = desk
            .with_store(move |s| Ok(s.export_matches(&filter)?))
            .await?;
        let rows = page.rows.len();
        // Building a large workbook takes a moment of CPU: off the async threads, and
        // without holding the store.
        let bytes = tokio::task::spawn_blocking(move || crate::export::render(format, &page.rows))
            .await
            .map_err(|e| Failure::internal(format!("export task failed: {e}")))?
            .map_err(|e| Failure::internal(e.to_string()))?;
        // The status is `all` or a known status name, so the file name is plain ASCII.
        let name = format!(
            "copyhound-matches-{}-{}.{}",
            q.status,
            Utc::now().format("%Y%m%d-%H%M%S"),
            format.extension()
        );
        Ok((
            [
                (header::CONTENT_TYPE, format.content_type().to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}\""),
                ),
                (
                    header::HeaderName::from_static("x-copyhound-export-rows"),
                    rows.to_string(),
                ),
                (
                    header::HeaderName::from_static("x-copyhound-export-total"),
                    page.total.to_string(),
                ),
            ],
            bytes,
        )
            .into_response())
    }
    .await;
    respond(&desk, result)
}

/// "Escalated to counsel: sent 2026-11-26 10:31 UTC" and the like.
fn escalation_state(t: &Labels, alert: &crate::store::AlertRecord) -> String {
    use crate::store::AlertState;
    let state = match alert.state {
        AlertState::Sent => format!(
            "{} {}",
            t.alert_sent,
            view::short_time(alert.sent_at.as_deref().unwrap_or_default())
        ),
        AlertState::Failed => format!(
            "{} {}",
            t.alert_failed,
            alert.last_error.as_deref().unwrap_or_default()
        ),
        AlertState::Queued | AlertState::Sending => t.alert_queued.to_string(),
    };
    format!("{}: {state}", t.escalated)
}

/// A crawled title, or the URL when the page had none.
pub(super) fn display_title(title: &str, url: &str) -> String {
    let t = title.trim();
    if t.is_empty() {
        url.to_string()
    } else {
        t.to_string()
    }
}

fn flash_host(store: &Store, id: Option<i64>) -> Result<Option<String>, Failure> {
    Ok(match id {
        Some(id) => store.find_match(id)?.map(|d| d.summary.copy_host),
        None => None,
    })
}

/// What the page after a decision says about it, carried in the redirect's query
/// (`done`, `st`, `n`, `esc`, `nl`, `add`). Only ids, counts and known statuses travel;
/// the site shown is looked up, so a crafted link cannot make the desk say anything else.
struct Flash {
    match_id: i64,
    status: ReviewStatus,
    count: usize,
    escalated: usize,
    no_legal: bool,
    added: bool,
}

impl Flash {
    fn parse(q: &HashMap<String, String>) -> Option<Flash> {
        let num = |k: &str| q.get(k).and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
        Some(Flash {
            match_id: q.get("done")?.parse().ok()?,
            status: ReviewStatus::parse(q.get("st")?)?,
            count: num("n").max(1),
            escalated: num("esc"),
            no_legal: num("nl") == 1,
            added: num("add") == 1,
        })
    }

    fn query(&self) -> String {
        format!(
            "done={}&st={}&n={}&esc={}&nl={}&add={}",
            self.match_id,
            self.status.as_str(),
            self.count,
            self.escalated,
            u8::from(self.no_legal),
            u8::from(self.added)
        )
    }

    fn text(&self, t: &Labels, host: Option<&str>) -> String {
        let mut s = if self.count > 1 {
            format!(
                "{} #{} (+{}): {}.",
                t.done_marked,
                self.match_id,
                self.count - 1,
                t.status_name(self.status)
            )
        } else {
            format!(
                "{} #{}: {}.",
                t.done_marked,
                self.match_id,
                t.status_name(self.status)
            )
        };
        if self.escalated > 0 {
            s.push(' ');
            s.push_str(t.done_escalated);
        }
        if self.no_legal {
            s.push(' ');
            s.push_str(t.done_no_legal);
        }
        if let (true, Some(h)) = (self.added, host) {
            s.push(' ');
            s.push_str(t.done_domains);
            s.push_str(h);
        }
        s
    }
}

// ---------------------------------------------------------------------------------
// Match page

pub(super) fn parse_id(raw: &str) -> Result<i64, Failure> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(Failure::not_found)
}

pub async fn match_page(
    State(desk): DeskState,
    Extension(session): Extension<Session>,
    Path(raw_id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let settings = desk.settings();
    let t = labels(settings.outlet.language);
    let result = async {
        let id = parse_id(&raw_id)?;
        let flash = Flash::parse(&params);
        let flash_id = flash.as_ref().map(|f| f.match_id);
        let context = parse_context(params.get("q").map_or("", String::as_str));
        let queue_q = queue_context(&context);
        let queue_href = queue_href(&context, &context.status, 1);
        let loaded = desk
            .with_store(move |s| {
                let Some(detail) = s.find_match(id)? else {
                    return Err(Failure::not_found());
                };
                let mut history = Vec::new();
                for d in s.decisions(id)? {
                    // The escalation email's fate, so a reviewer sees counsel was told.
                    let alert = match d.alert_id {
                        Some(a) => s.find_alert(a)?,
                        None => None,
                    };
                    history.push((d, alert));
                }
                // The version compared, whose text the passage offsets point into.
                let original = s.find_original_at(
                    &crate::store::OriginalKey::Id(detail.summary.original_id),
                    detail.original_version,
                )?;
                let capture = s.capture(detail.capture.id)?;
                let host = flash_host(s, flash_id)?;
                let provenance = review::provenance(s, &detail)?;
                let cases = s.cases_of_match(id)?;
                let licence = s.licence_check(id)?;
                let stamp = match &detail.evidence_file {
                    Some(f) => s.evidence_timestamp(f)?,
                    None => None,
                };
                Ok((
                    detail,
                    history,
                    original,
                    capture,
                    host,
                    provenance,
                    (cases, licence, stamp),
                ))
            })
            .await?;
        let (detail, history, original, capture, host, provenance, (cases, licence, stamp)) =
            loaded;
        let timestamp = stamp.map(|row| timestamp_line(t, &row));
        let language = desk.settings().outlet.language;
        let licence = licence.map(|c| super::licences::match_line(&c, language));
        let archive = provenance.map(|p| ArchiveRows::new(t, detail.summary.id, p));
        let original_text = original.map(|o| o.text).unwrap_or_default();
        let original_spans: Vec<(usize, usize, usize)> = detail
            .passages
            .iter()
            .enumerate()
            .map(|(i, p)| (p.original_start, p.original_end, i))
            .collect();
        let copy_spans: Vec<(usize, usize, usize)> = detail
            .passages
            .iter()
            .enumerate()
            .map(|(i, p)| (p.candidate_start, p.candidate_end, i))
            .collect();
        let redirects: Vec<RedirectRow> = capture
            .as_ref()
            .map(|c| review::redirects_of(&c.redirects_json))
            .unwrap_or_default()
            .into_iter()
            .map(|h| RedirectRow {
                href: view::safe_href(&h.url),
                url: h.url,
                status: h.status,
            })
            .collect();
        // Re-extracting a page costs milliseconds; keep it off the async threads.
        let copied = tokio::task::spawn_blocking(move || match capture {
            Some(c) => review::copy_text(&c),
            None => Err("the capture is missing".to_string()),
        })
        .await
        .map_err(|e| Failure::internal(e.to_string()))?;
        let (copy_segments, copy_error) = match copied {
            Ok((_, text)) if passages_fit(&text, &detail.passages) => {
                (view::mark_passages(&text, &copy_spans), None)
            }
            // The page was extracted by an earlier copyhound whose extractor cut the text
            // differently: the stored offsets no longer point into today's extraction, so
            // the stored passages are shown on their own rather than marks in wrong places.
            Ok(_) => {
                let (text, spans) = passages_alone(&detail.passages);
                (
                    view::mark_passages(&text, &spans),
                    Some(t.copy_extracted_earlier.to_string()),
                )
            }
            Err(e) => (Vec::new(), Some(e)),
        };
        let rendered = rendered_kinds(&desk, detail.evidence_file.clone()).await;
        let m = detail.summary;
        let body = MatchPage {
            licence,
            licence_heading: super::i18n::licence_labels(language).licence_check,
            licence_request: super::i18n::licence_labels(language).download_request,
            t,
            user: Some(session.user.clone()),
            csrf: session.csrf.clone(),
            flash: flash.as_ref().map(|f| f.text(t, host.as_deref())),
            queue_q,
            queue_href,
            site_href: site_href(&m.copy_host),
            redirects,
            status_key: m.status.clone(),
            status_label: t.status_label(&m.status).to_string(),
            share: view::percent(m.containment),
            coverage: m
                .coverage
                .map_or_else(|| t.not_measured.to_string(), view::percent),
            copied_length: m.copied_chars.map_or_else(
                || t.not_measured.to_string(),
                |n| format!("{n} {}", t.chars_unit),
            ),
            verdict: t.verdict_label(&m.verdict).to_string(),
            copy_href: view::safe_href(&m.copy_url),
            original_href: view::safe_href(&m.original_url),
            evidence_file: detail.evidence_file,
            evidence_sha256: detail.evidence_sha256.unwrap_or_default(),
            timestamp,
            rendered,
            archive,
            original_segments: view::mark_passages(&original_text, &original_spans),
            copy_segments,
            copy_error,
            history: history
                .into_iter()
                .map(|(d, alert)| HistoryRow::new(t, d, alert.map(|a| escalation_state(t, &a))))
                .collect(),
            cases: cases
                .iter()
                .map(|c| (c.id, t.case_state_label(&c.state).to_string()))
                .collect(),
            m: crate::store::MatchSummary {
                copy_title: display_title(&m.copy_title, &m.copy_url),
                ..m
            },
        }
        .render()?;
        Ok(html(body))
    }
    .await;
    respond(&desk, result)
}

// ---------------------------------------------------------------------------------
// Decisions

#[derive(Debug, Deserialize)]
pub struct DecideForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    add_licensed: String,
    /// Bulk form only.
    #[serde(default)]
    host: String,
    /// Single decisions: the queue the reviewer works through (see [`queue_context`]).
    #[serde(default)]
    q: String,
}

fn action_of(form: &DecideForm) -> Result<Action, Failure> {
    if form.status == "ignore-site" {
        return Ok(Action::IgnoreSite);
    }
    let status = ReviewStatus::parse(&form.status)
        .ok_or_else(|| Failure::bad_request(format!("status: unknown status {:?}", form.status)))?;
    Ok(match (status, form.add_licensed == "1") {
        (ReviewStatus::Licensed, true) => Action::LicensedAddDomain,
        (s, _) => Action::Mark(s),
    })
}

/// Records a decision for `ids` and redirects: to the next unreviewed match (the
/// reviewer keeps going) or, when none is left, back to the queue.
async fn record(
    desk: &Desk,
    session: &Session,
    ids: Vec<i64>,
    form: &DecideForm,
    via: &'static str,
    queue_site: Option<String>,
) -> PageResult {
    check_csrf(session, &form.csrf)?;
    let action = action_of(form)?;
    let settings = desk.settings();
    let note = form.note.clone();
    let actor = session.user.clone();
    let context = parse_context(&form.q);
    // The next match is the first still unreviewed in the reviewer's queue, with its
    // filters and order.
    let next_filter = MatchFilter {
        status: Some(ReviewStatus::Unreviewed),
        offset: 0,
        limit: 1,
        ..context.filter.clone()
    };
    let (report, next) = desk
        .with_store(move |s| {
            let request = ReviewRequest {
                action,
                note: &note,
                actor: &actor,
                via,
            };
            let report = match review::decide(s, &settings, &ids, &request, Utc::now()) {
                Ok(r) => r,
                Err(review::ReviewError::NoSuchMatch(_)) => return Err(Failure::not_found()),
                Err(review::ReviewError::NoteTooLong { max, got }) => {
                    return Err(Failure::bad_request(format!(
                        "note: at most {max} characters, got {got}"
                    )))
                }
                Err(e) => return Err(Failure::internal(e.to_string())),
            };
            let next = s.query_matches(&next_filter)?;
            Ok((report, next.matches.first().map(|m| m.id)))
        })
        .await?;
    let recorded: Vec<i64> = report
        .outcomes
        .iter()
        .filter_map(|o| match o {
            DecideOutcome::Recorded { match_id, .. } => Some(*match_id),
            DecideOutcome::NotFound { .. } => None,
        })
        .collect();
    if report.escalated > 0 {
        desk.ring_outbox();
    }
    tracing::info!(
        user = %session.user,
        via,
        status = %action.status(),
        matches = ?recorded,
        escalated = report.escalated,
        "review decision"
    );
    let Some(&first) = recorded.first() else {
        return Err(Failure::not_found());
    };
    let flash = Flash {
        match_id: first,
        status: action.status(),
        count: recorded.len(),
        escalated: report.escalated,
        no_legal: report.no_legal_contact,
        added: !report.domains_added.is_empty(),
    };
    let location = match (via, next, queue_site) {
        ("web-bulk", _, Some(site)) => format!(
            "/matches?status=all&site={}&{}",
            encode_query(&site),
            flash.query()
        ),
        // A selection from the queue goes back to that queue, which now shows the rest.
        ("web-bulk", _, None) => format!(
            "{}&{}",
            queue_href(&context, &context.status, 1),
            flash.query()
        ),
        (_, Some(next), _) => format!(
            "/matches/{next}?q={}&{}",
            encode_query(&queue_context(&context)),
            flash.query()
        ),
        _ => format!(
            "{}&{}",
            queue_href(&context, &context.status, 1),
            flash.query()
        ),
    };
    Ok(Redirect::to(&location).into_response())
}

pub async fn decide(
    State(desk): DeskState,
    Extension(session): Extension<Session>,
    Path(raw_id): Path<String>,
    Form(form): Form<DecideForm>,
) -> Response {
    let result = async {
        let id = parse_id(&raw_id)?;
        record(&desk, &session, vec![id], &form, "web", None).await
    }
    .await;
    respond(&desk, result)
}

pub async fn decide_site(
    State(desk): DeskState,
    Extension(session): Extension<Session>,
    Form(form): Form<DecideForm>,
) -> Response {
    let result = async {
        check_csrf(&session, &form.csrf)?;
        let host = form.host.trim().to_string();
        if host.is_empty() {
            return Err(Failure::bad_request("host: missing"));
        }
        let lookup = host.clone();
        let ids = desk
            .with_store(move |s| Ok(s.site_match_ids(&lookup, Some(ReviewStatus::Unreviewed))?))
            .await?;
        if ids.is_empty() {
            return Err(Failure::bad_request(format!(
                "host: {host} has no unreviewed matches"
            )));
        }
        record(&desk, &session, ids, &form, "web-bulk", Some(host)).await
    }
    .await;
    respond(&desk, result)
}

/// The queue's selection form, read from its pairs: `id` repeats, once per ticked box,
/// which a struct cannot hold.
struct BulkForm {
    decide: DecideForm,
    ids: Vec<String>,
    /// "All matching the filter": the count the reviewer was shown.
    all: Option<String>,
}

impl BulkForm {
    fn from_pairs(pairs: Vec<(String, String)>) -> BulkForm {
        let mut form = BulkForm {
            decide: DecideForm {
                csrf: String::new(),
                status: String::new(),
                note: String::new(),
                add_licensed: String::new(),
                host: String::new(),
                q: String::new(),
            },
            ids: Vec::new(),
            all: None,
        };
        for (key, value) in pairs {
            match key.as_str() {
                "csrf" => form.decide.csrf = value,
                "status" => form.decide.status = value,
                "note" => form.decide.note = value,
                "add_licensed" => form.decide.add_licensed = value,
                "q" => form.decide.q = value,
                "id" => form.ids.push(value),
                "all" => form.all = Some(value),
                _ => {}
            }
        }
        form
    }
}

fn too_many(n: usize) -> Failure {
    Failure::bad_request(format!(
        "selection: {n} matches, at most {MAX_BULK_DECISION} at once; narrow the filter"
    ))
}

/// The queue's bulk decision: the ticked matches, or every match the queue's filter
/// selects (over all its pages, looked up here) when "all matching" is ticked; at most
/// [`MAX_BULK_DECISION`]. Recorded per match with `via = "web-bulk"` through
/// [`review::decide`], in one transaction, so each match moving into `infringing` is
/// escalated once.
pub async fn decide_selected(
    State(desk): DeskState,
    Extension(session): Extension<Session>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let result = async {
        let form = BulkForm::from_pairs(pairs);
        // The token first: a forged request learns nothing, not even about its ids.
        check_csrf(&session, &form.decide.csrf)?;
        action_of(&form.decide)?;
        let ids = match &form.all {
            Some(expected) => {
                let expected: i64 = expected
                    .trim()
                    .parse()
                    .map_err(|_| Failure::bad_request("all: expected the count shown"))?;
                // Strictly parsed, unlike the navigation context: an unusable filter must
                // not fall back to the default queue and decide matches nobody counted.
                let pairs: HashMap<String, String> =
                    url::form_urlencoded::parse(form.decide.q.as_bytes())
                        .into_owned()
                        .collect();
                let filter = parse_queue(&pairs)?.filter;
                let (ids, total) = desk
                    .with_store(move |s| Ok(s.select_match_ids(&filter, MAX_BULK_DECISION)?))
                    .await?;
                // New matches arrive while a reviewer reads: decide only what they saw
                // counted, never a selection that grew or shrank behind their back.
                if total > MAX_BULK_DECISION as i64 {
                    return Err(too_many(total as usize));
                }
                if total != expected {
                    return Err(Failure::bad_request(format!(
                        "all: the filter now selects {total} matches, not {expected}; \
                         reload the queue and check them"
                    )));
                }
                ids
            }
            None => {
                if form.ids.len() > MAX_BULK_DECISION {
                    return Err(too_many(form.ids.len()));
                }
                let mut ids = Vec::with_capacity(form.ids.len());
                for raw in &form.ids {
                    let id = raw
                        .trim()
                        .parse::<i64>()
                        .ok()
                        .filter(|id| *id > 0)
                        .ok_or_else(|| Failure::bad_request(format!("id: not a match {raw:?}")))?;
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                ids
            }
        };
        if ids.is_empty() {
            return Err(Failure::bad_request("id: no match selected"));
        }
        record(&desk, &session, ids, &form.decide, "web-bulk", None).await
    }
    .await;
    respond(&desk, result)
}

// ---------------------------------------------------------------------------------
// Downloads

/// Evidence file names are ours (`evidence::write_bundle`), but a damaged or edited row
/// must never reach outside the evidence folder.
fn safe_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

pub async fn evidence(
    State(desk): DeskState,
    Extension(_session): Extension<Session>,
    Path(raw_id): Path<String>,
) -> Response {
    evidence_download(desk, raw_id, false).await
}

/// The archived capture's evidence file of a match found in a web archive, once the
/// live capture became primary (before that it is the match's own file).
pub async fn archived_evidence(
    State(desk): DeskState,
    Extension(_session): Extension<Session>,
    Path(raw_id): Path<String>,
) -> Response {
    evidence_download(desk, raw_id, true).await
}

/// A match's evidence file: its primary one, or (`archived`) the archived capture's
/// that a live capture replaced.
async fn evidence_download(desk: Desk, raw_id: String, archived: bool) -> Response {
    let result = async {
        let id = parse_id(&raw_id)?;
        let (file, sha256) = desk
            .with_store(move |s| {
                let detail = s.find_match(id)?.ok_or_else(Failure::not_found)?;
                if !archived {
                    return Ok((detail.evidence_file, detail.evidence_sha256));
                }
                let a = s.match_archive(id)?.ok_or_else(Failure::not_found)?;
                Ok((a.archive_evidence_file, a.archive_evidence_sha256))
            })
            .await?;
        serve_evidence(&desk, file, sha256).await
    }
    .await;
    respond(&desk, result)
}

/// An evidence file from the evidence folder as a download (a match's, or a case
/// re-check's): only a plain file name of ours, at most [`MAX_EVIDENCE_DOWNLOAD`]
/// bytes, with its SHA-256 as recorded in `X-Evidence-SHA256`.
pub(super) async fn serve_evidence(
    desk: &Desk,
    file: Option<String>,
    sha256: Option<String>,
) -> PageResult {
    let Some(name) = file.filter(|n| safe_file_name(n)) else {
        return Err(Failure::not_found());
    };
    let settings = desk.settings();
    let file_name = name.clone();
    let bytes = tokio::task::spawn_blocking(move || {
        let place = Place::open(&settings.storage).map_err(|e| e.to_string())?;
        match place.read(&file_name, MAX_EVIDENCE_DOWNLOAD) {
            Ok(Some(bytes)) => Ok(bytes),
            Ok(None) => Err(format!("{}: no such file", place.location(&file_name))),
            Err(PlaceError::TooLarge { what, .. }) => {
                Err(format!("{what}: over the desk's download limit"))
            }
            Err(e) => Err(e.to_string()),
        }
    })
    .await
    .map_err(|e| Failure::internal(e.to_string()))?
    .map_err(Failure::internal)?;
    let mut response = (
        [
            (header::CONTENT_TYPE, "application/warc".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response();
    if let Some(sha) = sha256.and_then(|s| axum::http::HeaderValue::from_str(&s).ok()) {
        response.headers_mut().insert("x-evidence-sha256", sha);
    }
    Ok(response)
}

/// Evidence files larger than this are not opened for their browser artefacts (the
/// match page's screenshot, a case's thumbnails): a page and three artefacts at their
/// bound ([`crate::evidence::browser::MAX_ARTIFACT_BYTES`]) fit well within it, and the
/// whole file is read to check the records' digests.
const MAX_RENDERED_EVIDENCE: u64 = 160 * 1024 * 1024;

/// The verified browser artefacts of the evidence file `name` (when it is one of ours),
/// if it is within [`MAX_RENDERED_EVIDENCE`]. Blocking: run it on the blocking pool.
fn bounded_artefacts(
    storage: &crate::config::Storage,
    name: Option<String>,
) -> Result<Vec<(RenderKind, Vec<u8>)>, String> {
    let name = name
        .filter(|n| safe_file_name(n))
        .ok_or_else(|| "no evidence file".to_string())?;
    let place = Place::open(storage).map_err(|e| e.to_string())?;
    match place.read(&name, MAX_RENDERED_EVIDENCE) {
        Ok(Some(bytes)) => Ok(crate::evidence::artefacts_in(&bytes)),
        Ok(None) => Err(format!("{}: no such file", place.location(&name))),
        Err(PlaceError::TooLarge { what, .. }) => Err(format!(
            "{what}: over the desk's limit for reading screenshots"
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// Which browser artefacts ([`RenderKind::ALL`] order) the evidence file holds. A file
/// that cannot be read shows none; the evidence row says what is wrong with it.
pub(super) async fn rendered_kinds(desk: &Desk, file: Option<String>) -> [bool; 3] {
    if file.is_none() {
        return [false; 3];
    }
    let settings = desk.settings();
    tokio::task::spawn_blocking(move || {
        let found = bounded_artefacts(&settings.storage, file).unwrap_or_default();
        RenderKind::ALL.map(|k| found.iter().any(|(kind, _)| *kind == k))
    })
    .await
    .unwrap_or([false; 3])
}

/// One of the browser's artefacts of a match's evidence file (`view`, `fullPage`,
/// `pdf`), read from its WARC record (whose digest must verify): the screenshots
/// inline, the PDF as a download (a PDF may carry scripts of the copier's making, which
/// no viewer should run under the desk's origin).
pub async fn capture_artefact(
    State(desk): DeskState,
    Extension(_session): Extension<Session>,
    Path((raw_id, kind)): Path<(String, String)>,
) -> Response {
    let result = async {
        let id = parse_id(&raw_id)?;
        let kind = RenderKind::from_name(&kind).ok_or_else(Failure::not_found)?;
        let file = desk
            .with_store(move |s| {
                Ok(s.find_match(id)?
                    .ok_or_else(Failure::not_found)?
                    .evidence_file)
            })
            .await?;
        serve_artefact(&desk, file, kind, &format!("match-{id}")).await
    }
    .await;
    respond(&desk, result)
}

/// Serves the artefact of `kind` of the evidence file `file` (a match's or a case
/// re-check's), named `NAME-view.png`, `NAME-fullPage.png` or `NAME-print.pdf`: the
/// screenshots inline, the PDF as a download (see [`capture_artefact`]).
pub(super) async fn serve_artefact(
    desk: &Desk,
    file: Option<String>,
    kind: RenderKind,
    name: &str,
) -> PageResult {
    if !file.as_deref().is_some_and(safe_file_name) {
        return Err(Failure::not_found());
    }
    let settings = desk.settings();
    let bytes = tokio::task::spawn_blocking(move || bounded_artefacts(&settings.storage, file))
        .await
        .map_err(|e| Failure::internal(e.to_string()))?
        .map_err(Failure::internal)?
        .into_iter()
        .find_map(|(k, bytes)| (k == kind).then_some(bytes))
        .ok_or_else(Failure::not_found)?;
    let disposition = match kind {
        RenderKind::Pdf => format!("attachment; filename=\"{name}-print.pdf\""),
        _ => format!("inline; filename=\"{name}-{}.png\"", kind.name()),
    };
    Ok((
        [
            (header::CONTENT_TYPE, kind.content_type().to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

pub async fn notice(
    State(desk): DeskState,
    Extension(_session): Extension<Session>,
    Path(raw_id): Path<String>,
) -> Response {
    let settings = desk.settings();
    let result = async {
        let id = parse_id(&raw_id)?;
        let text = desk
            .with_store(move |s| {
                let detail = s.find_match(id)?.ok_or_else(Failure::not_found)?;
                let facts = review::facts_for_match(s, &detail)?.ok_or_else(Failure::not_found)?;
                Ok(review::takedown_text(&settings, &detail, facts))
            })
            .await?;
        Ok((
            [
                (
                    header::CONTENT_TYPE,
                    "text/plain; charset=utf-8".to_string(),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"takedown-notice-match-{id}.txt\""),
                ),
            ],
            text,
        )
            .into_response())
    }
    .await;
    respond(&desk, result)
}

// ---------------------------------------------------------------------------------
// Site lists

pub async fn sites(State(desk): DeskState, Extension(session): Extension<Session>) -> Response {
    let settings = desk.settings();
    let result = async {
        let (licensed, ignored) = desk
            .with_store(|s| {
                Ok((
                    s.site_list(SiteList::Licensed)?,
                    s.site_list(SiteList::Ignored)?,
                ))
            })
            .await?;
        let body = SitesPage {
            t: labels(settings.outlet.language),
            user: Some(session.user.clone()),
            csrf: session.csrf.clone(),
            config_licensed: settings.crawl.licensed.iter().map(str::to_string).collect(),
            licensed,
            ignored,
        }
        .render()?;
        Ok(html(body))
    }
    .await;
    respond(&desk, result)
}

/// A site's page as a path: `/sites/HOST`, the host percent-encoded (a `copy_host` is a
/// host name, an IP literal, perhaps with a port; anything else is encoded).
pub(super) fn site_href(host: &str) -> String {
    let mut href = String::from("/sites/");
    for b in host.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']') {
            href.push(char::from(b));
        } else {
            href.push_str(&format!("%{b:02X}"));
        }
    }
    href
}

/// A site list's entry as the site page shows it: where it comes from and who added it.
struct ListState {
    /// The entry's own text: a config domain, or the reviewers' entry.
    domain: String,
    added_by: Option<String>,
    added_at: Option<String>,
    match_id: Option<i64>,
}

#[derive(Template)]
#[template(path = "site.html")]
struct SitePage {
    t: &'static Labels,
    user: Option<String>,
    csrf: String,
    host: String,
    queue_href: String,
    first_seen: String,
    last_seen: String,
    counts: Vec<Tab>,
    total: i64,
    licensed: Vec<ListState>,
    ignored: Vec<ListState>,
    rows: Vec<Row>,
    /// No checkboxes on a site page: its queue link has them.
    picks: bool,
    decisions: Vec<HistoryRow>,
    decisions_total: i64,
}

/// The entries of a site list that cover `host` (with the crawler's rule: a domain covers
/// its subdomains; an entry with a port, exactly that host and port).
fn covering(host: &str, entries: &[SiteListEntry]) -> Vec<ListState> {
    let Ok(url) = url::Url::parse(&format!("http://{host}/")) else {
        return Vec::new();
    };
    entries
        .iter()
        .filter(|e| {
            let mut one = crate::crawl::urls::DomainSet::default();
            one.insert_host_key(&e.domain);
            one.contains_url(&url)
        })
        .map(|e| ListState {
            domain: e.domain.clone(),
            added_by: Some(e.added_by.clone()),
            added_at: Some(view::short_time(&e.added_at)),
            match_id: e.match_id,
        })
        .collect()
}

/// `/sites/HOST`: one site's matches (with their status), when it was first and last
/// seen, the decisions on its matches, and whether it is licensed or ignored.
pub async fn site_page(
    State(desk): DeskState,
    Extension(session): Extension<Session>,
    Path(host): Path<String>,
) -> Response {
    let settings = desk.settings();
    let t = labels(settings.outlet.language);
    let result = async {
        if host.is_empty() || host.len() > 300 {
            return Err(Failure::not_found());
        }
        let lookup = host.clone();
        let (overview, page, (decisions, decisions_total), licensed, ignored) = desk
            .with_store(move |s| {
                let Some(overview) = s.site_overview(&lookup)? else {
                    return Err(Failure::not_found());
                };
                let page = s.query_matches(&MatchFilter {
                    host: Some(lookup.clone()),
                    limit: SITE_PAGE_ROWS,
                    ..MatchFilter::default()
                })?;
                Ok((
                    overview,
                    page,
                    s.site_decisions(&lookup, SITE_PAGE_ROWS)?,
                    s.site_list(SiteList::Licensed)?,
                    s.site_list(SiteList::Ignored)?,
                ))
            })
            .await?;
        let queue = QueueQuery {
            filter: MatchFilter {
                host: Some(host.clone()),
                ..MatchFilter::default()
            },
            status: "all".to_string(),
            page: 1,
            flash: None,
        };
        let context = encode_query(&queue_context(&queue));
        let mut licensed_states: Vec<ListState> = Vec::new();
        if let Ok(url) = url::Url::parse(&format!("http://{host}/")) {
            if settings.crawl.licensed.contains_url(&url) {
                licensed_states.push(ListState {
                    domain: settings
                        .crawl
                        .licensed
                        .iter()
                        .find(|d| {
                            crate::crawl::urls::DomainSet::from_names([*d]).contains_url(&url)
                        })
                        .unwrap_or_default()
                        .to_string(),
                    added_by: None,
                    added_at: None,
                    match_id: None,
                });
            }
        }
        licensed_states.extend(covering(&host, &licensed));
        let total = overview.counts.iter().map(|c| c.1).sum();
        let body = SitePage {
            t,
            user: Some(session.user.clone()),
            csrf: session.csrf.clone(),
            queue_href: queue_href(&queue, "all", 1),
            first_seen: view::short_time(&overview.first_seen),
            last_seen: view::short_time(&overview.last_seen),
            counts: overview
                .counts
                .iter()
                .map(|(status, count)| Tab {
                    key: status.as_str(),
                    label: t.status_name(*status),
                    count: *count,
                    active: false,
                    href: queue_href(&queue, status.as_str(), 1),
                })
                .collect(),
            total,
            licensed: licensed_states,
            ignored: covering(&host, &ignored),
            rows: page
                .matches
                .into_iter()
                .map(|m| Row::new(t, m, &context))
                .collect(),
            decisions: decisions
                .into_iter()
                .map(|d| HistoryRow::new(t, d, None))
                .collect(),
            picks: false,
            decisions_total,
            host,
        }
        .render()?;
        Ok(html(body))
    }
    .await;
    respond(&desk, result)
}

/// The match page's timestamp line for an evidence file's queue row.
fn timestamp_line(t: &super::i18n::Labels, row: &crate::store::EvidenceTimestamp) -> String {
    match (&row.tsa_name, &row.gen_time) {
        (Some(tsa), Some(time)) if row.state == "done" => t
            .timestamp_done
            .replace("{tsa}", tsa)
            .replace("{time}", time)
            .replace(
                "{delay}",
                &humantime::format_duration(std::time::Duration::from_secs(
                    u64::try_from(row.delay_seconds.unwrap_or(0)).unwrap_or(0),
                ))
                .to_string(),
            ),
        _ => t
            .timestamp_pending
            .replace("{attempts}", &row.attempts.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_evidence_line_shows_the_timestamp_or_that_it_waits() {
        let mut row = crate::store::EvidenceTimestamp {
            id: 1,
            file_name: "f.warc.gz".into(),
            sha256: "ab".into(),
            written_at: "2026-12-05T06:00:00Z".into(),
            queued_at: "2026-12-05T06:00:00Z".into(),
            state: "pending".into(),
            attempts: 3,
            next_attempt_at: "2026-12-05T06:10:00Z".into(),
            last_error: Some("down".into()),
            tsa_url: None,
            gen_time: None,
            serial: None,
            tsa_name: None,
            delay_seconds: None,
            stamped_at: None,
        };
        let en = super::super::i18n::labels(crate::config::Language::En);
        assert_eq!(
            timestamp_line(en, &row),
            "Trusted timestamp: waiting for the time-stamp authority (3 attempt(s) so far)"
        );
        row.state = "done".into();
        row.tsa_name = Some("CN=TSA".into());
        row.gen_time = Some("2026-12-05T06:07:00Z".into());
        row.delay_seconds = Some(420);
        let zh = super::super::i18n::labels(crate::config::Language::ZhCn);
        assert_eq!(
            timestamp_line(zh, &row),
            "可信时间戳：CN=TSA，2026-12-05T06:07:00Z（证据写入后 7m）"
        );
    }

    #[test]
    fn next_is_local_only() {
        assert_eq!(safe_next("/matches/3?x=1"), "/matches/3?x=1");
        assert_eq!(safe_next("//evil.example/"), "/matches");
        assert_eq!(safe_next("/\\evil.example"), "/matches");
        assert_eq!(safe_next("https://evil.example/"), "/matches");
        assert_eq!(safe_next(""), "/matches");
    }

    #[test]
    fn evidence_names_stay_in_their_folder() {
        assert!(safe_file_name("20261126T080000Z-match-3.warc.gz"));
        assert!(!safe_file_name("../copyhound.db"));
        assert!(!safe_file_name("a/b"));
        assert!(!safe_file_name(".hidden"));
        assert!(!safe_file_name(""));
    }

    #[test]
    fn queue_parameters_are_checked() {
        let q = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let parsed = parse_queue(&q(&[])).unwrap_or_else(|_| panic!("defaults parse"));
        assert_eq!(parsed.status, "unreviewed");
        assert_eq!(parsed.filter.limit, PAGE_SIZE);
        let parsed = parse_queue(&q(&[
            ("status", "all"),
            ("sort", "share"),
            ("order", "asc"),
            ("page", "3"),
            ("site", "a.example"),
            ("from", "2026-11-01"),
            ("search", " 大桥 & co "),
        ]))
        .unwrap_or_else(|_| panic!("valid"));
        assert_eq!(parsed.filter.status, None);
        assert_eq!(parsed.filter.offset, 2 * PAGE_SIZE);
        assert_eq!(parsed.filter.search.as_deref(), Some("大桥 & co"));
        assert_eq!(
            queue_href(&parsed, "licensed", 2),
            "/matches?status=licensed&site=a.example&search=%E5%A4%A7%E6%A1%A5+%26+co\
             &from=2026-11-01&sort=share&order=asc&page=2"
        );
        let long = "长".repeat(MAX_SEARCH_CHARS + 1);
        assert!(parse_queue(&q(&[("search", &long)])).is_err());
        assert!(parse_queue(&q(&[("search", "a\nb")])).is_err());
        assert_eq!(site_href("a.example:8080"), "/sites/a.example:8080");
        assert_eq!(site_href("a b/c"), "/sites/a%20b%2Fc");
        for bad in [
            ("status", "nope"),
            ("from", "26/11/2026"),
            ("page", "0"),
            ("sort", "x"),
            ("verdict", "maybe"),
        ] {
            assert!(parse_queue(&q(&[bad])).is_err(), "{bad:?}");
        }
    }
}

/// Whether every passage's stored text is what `text` holds at its offsets.
fn passages_fit(text: &str, passages: &[crate::store::StoredPassage]) -> bool {
    let chars: Vec<char> = text.chars().collect();
    passages.iter().all(|p| {
        chars
            .get(p.candidate_start..p.candidate_end)
            .is_some_and(|span| span.iter().copied().eq(p.text.chars()))
    })
}

/// The stored passages alone, separated by an ellipsis line, with their spans.
fn passages_alone(
    passages: &[crate::store::StoredPassage],
) -> (String, Vec<(usize, usize, usize)>) {
    let mut text = String::new();
    let mut spans = Vec::new();
    let mut at = 0usize;
    for (i, p) in passages.iter().enumerate() {
        if i > 0 {
            text.push_str("\n…\n");
            at += 3;
        }
        let n = p.text.chars().count();
        text.push_str(&p.text);
        spans.push((at, at + n, i));
        at += n;
    }
    (text, spans)
}

#[cfg(test)]
mod passage_tests {
    use super::{passages_alone, passages_fit};
    use crate::store::StoredPassage as Passage;

    fn passage(start: usize, end: usize, text: &str) -> Passage {
        Passage {
            original_start: 0,
            original_end: 0,
            candidate_start: start,
            candidate_end: end,
            text: text.to_string(),
        }
    }

    #[test]
    fn passages_that_no_longer_fit_are_shown_alone() {
        let text = "前言。江城大桥今日通车。后记。";
        let fits = [passage(3, 12, "江城大桥今日通车。")];
        assert!(passages_fit(text, &fits));
        // The same passage against a text that an older extractor cut differently.
        assert!(!passages_fit("江城大桥今日通车。", &fits));
        assert!(!passages_fit("短", &fits));
        let two = [passage(3, 7, "江城大桥"), passage(9, 12, "通车。")];
        let (alone, spans) = passages_alone(&two);
        assert_eq!(alone, "江城大桥\n…\n通车。");
        assert_eq!(spans, vec![(0, 4, 0), (7, 10, 1)]);
    }
}
