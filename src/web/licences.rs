//! The desk's licences: `/licences` lists the licences in force (the config's and the
//! desk's) with their terms, validity and how their copies fare, and holds the form
//! that adds a licence (`POST /licences`) and the button that checks recorded copies
//! again (`POST /licences/check`, the code behind `copyhound licences check`).
//!
//! Same rules as the rest of the desk: behind `require_login`, every POST checks the
//! session's CSRF token first, every value is escaped by the template. A desk licence
//! is a row that is never deleted; it applies to the pipeline from its next scan or
//! crawl cycle, and to recorded copies when they are checked again.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use chrono::{NaiveDate, Utc};
use serde::Deserialize;

use super::i18n::{labels, licence_labels, Labels, LicenceLabels};
use super::pages::{check_csrf, html, respond, Failure, PageResult, Session};
use super::{status_page, view, DeskState};
use crate::licences::recheck::{self, LicenceOverview};
use crate::licences::{
    Licence, LicenceSource, Scope, Terms, DEFAULT_EXCERPT_SHARE, MAX_DOMAINS, MAX_FORMS,
    MAX_FORM_CHARS,
};

/// The longest partner name the form takes.
const MAX_PARTNER_CHARS: usize = 200;

/// One licence as the page shows it.
struct LicenceRow {
    key: String,
    partner: String,
    source: String,
    from_desk: bool,
    /// A desk licence still running: its id, for the end form.
    endable: Option<i64>,
    domains: Vec<String>,
    validity: String,
    /// `valid`, `expired` or `not-yet-valid` today, and its label.
    state_key: &'static str,
    state_label: &'static str,
    terms: Vec<&'static str>,
    attribution_forms: Vec<String>,
    compliant: i64,
    noncompliant: i64,
    outside_validity: i64,
    rate: String,
    noncompliant_matches: Vec<i64>,
}

impl LicenceRow {
    fn new(o: LicenceOverview, lt: &LicenceLabels, today: NaiveDate) -> LicenceRow {
        let l = &o.licence;
        let (state_key, state_label) = if l.holds_on(today) {
            ("valid", lt.valid_now)
        } else if today < l.valid_from {
            ("not-yet-valid", lt.not_yet_valid)
        } else {
            ("expired", lt.expired)
        };
        let mut terms = Vec::new();
        if l.terms.attribution {
            terms.push(lt.t_attribution);
        }
        if l.terms.link_back {
            terms.push(lt.t_link);
        }
        if l.terms.title_unchanged {
            terms.push(lt.t_title);
        }
        terms.push(match l.terms.scope {
            Scope::Full => lt.scope_full,
            Scope::Excerpt => lt.scope_excerpt,
        });
        let scope_share =
            (l.terms.scope == Scope::Excerpt).then(|| view::percent(l.terms.excerpt_max_share));
        let mut source = match (&l.source, &o.added_by, &o.added_at) {
            (LicenceSource::Desk { .. }, Some(by), Some(at)) => {
                format!("{} · {} {by} · {at}", lt.source_desk, lt.added_by)
            }
            _ => lt.source_config.to_string(),
        };
        if let (Some(by), Some(at)) = (&o.ended_by, &o.ended_at) {
            source.push_str(&format!(" · {} {by} · {at}", lt.ended_by));
        }
        let endable = match l.source {
            LicenceSource::Desk { id } if o.ended_at.is_none() => Some(id),
            _ => None,
        };
        let mut attribution_forms = l.terms.attribution_forms.clone();
        if let Some(share) = scope_share {
            attribution_forms.push(format!("≤ {share}"));
        }
        LicenceRow {
            key: o.key.clone(),
            partner: l.partner.clone(),
            from_desk: matches!(l.source, LicenceSource::Desk { .. }),
            endable,
            source,
            domains: l.domains.clone(),
            validity: format!(
                "{} – {}",
                l.valid_from,
                l.valid_to
                    .map_or_else(|| lt.open_ended.to_string(), |d| d.to_string())
            ),
            state_key,
            state_label,
            terms,
            attribution_forms,
            compliant: o.counts.compliant,
            noncompliant: o.counts.noncompliant,
            outside_validity: o.counts.outside_validity,
            rate: o
                .compliance_rate
                .map_or_else(|| lt.none.to_string(), view::percent),
            noncompliant_matches: o.noncompliant_matches,
        }
    }
}

/// What the add form held, to show it again after a refusal.
#[derive(Debug, Default, Deserialize)]
pub struct AddForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    partner: String,
    #[serde(default)]
    domains: String,
    #[serde(default)]
    valid_from: String,
    #[serde(default)]
    valid_to: String,
    #[serde(default)]
    attribution: String,
    #[serde(default)]
    attribution_forms: String,
    #[serde(default)]
    link_back: String,
    #[serde(default)]
    title_unchanged: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    excerpt_max_share: String,
}

#[derive(Template)]
#[template(path = "licences.html")]
struct LicencesPage {
    t: &'static Labels,
    lt: &'static LicenceLabels,
    user: Option<String>,
    csrf: String,
    flash: Option<String>,
    error: Option<String>,
    rows: Vec<LicenceRow>,
    legacy: Vec<String>,
    form: AddForm,
    /// Whether the form's checkboxes are ticked (all of them on a fresh form).
    attribution_checked: bool,
    link_checked: bool,
    title_checked: bool,
    excerpt_selected: bool,
    default_share: String,
}

async fn render(
    desk: &super::Desk,
    session: &Session,
    flash: Option<String>,
    error: Option<String>,
    form: Option<AddForm>,
) -> Result<String, Failure> {
    let settings = desk.settings();
    let t = labels(settings.outlet.language);
    let lt = licence_labels(settings.outlet.language);
    let for_store = std::sync::Arc::clone(&settings);
    let list = desk
        .with_store(move |s| Ok(recheck::overview(s, &for_store)?))
        .await?;
    let today = Utc::now().date_naive();
    let fresh = form.is_none();
    let form = form.unwrap_or_default();
    let ticked = |v: &str| fresh || v == "1";
    let page = LicencesPage {
        t,
        lt,
        user: Some(session.user.clone()),
        csrf: session.csrf.clone(),
        flash,
        error,
        rows: list
            .into_iter()
            .map(|o| LicenceRow::new(o, lt, today))
            .collect(),
        legacy: settings.crawl.licensed.iter().map(str::to_string).collect(),
        attribution_checked: ticked(&form.attribution),
        link_checked: ticked(&form.link_back),
        title_checked: ticked(&form.title_unchanged),
        excerpt_selected: form.scope == "excerpt",
        default_share: if form.excerpt_max_share.is_empty() {
            DEFAULT_EXCERPT_SHARE.to_string()
        } else {
            form.excerpt_max_share.clone()
        },
        form,
    };
    Ok(page.render()?)
}

/// `/licences`.
pub async fn page(
    State(desk): DeskState,
    Extension(session): Extension<Session>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let lt = licence_labels(desk.settings().outlet.language);
    let flash = if let Some(p) = params.get("added") {
        Some(format!(
            "{}{}",
            lt.added,
            p.chars().take(200).collect::<String>()
        ))
    } else if let Some(p) = params.get("ended") {
        Some(format!(
            "{}{}",
            lt.ended,
            p.chars().take(200).collect::<String>()
        ))
    } else {
        match (params.get("checked"), params.get("noncompliant")) {
            (Some(c), Some(n)) => Some(format!(
                "{}{} / {}",
                lt.checked,
                c.parse::<u64>().unwrap_or(0),
                n.parse::<u64>().unwrap_or(0)
            )),
            _ => None,
        }
    };
    let result = async { Ok(html(render(&desk, &session, flash, None, None).await?)) }.await;
    respond(&desk, result)
}

/// Turns the form into a licence, or says (in the desk's language) what is wrong.
fn parse_form(form: &AddForm, lt: &LicenceLabels) -> Result<Licence, String> {
    let partner = form.partner.trim();
    if partner.is_empty()
        || partner.chars().count() > MAX_PARTNER_CHARS
        || partner.chars().any(char::is_control)
    {
        return Err(lt.err_partner.to_string());
    }
    let raw: Vec<&str> = form
        .domains
        .split(['\n', ',', ' ', '\r'])
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    if raw.is_empty() || raw.len() > MAX_DOMAINS {
        return Err(lt.err_domains.to_string());
    }
    let mut domains = Vec::with_capacity(raw.len());
    for d in raw {
        match crate::licences::parse_site(d) {
            Ok(site) if !domains.contains(&site) => domains.push(site),
            Ok(_) => {}
            Err(_) => {
                return Err(format!(
                    "{}{}",
                    lt.err_domains,
                    d.chars().take(100).collect::<String>()
                ))
            }
        }
    }
    let date = |text: &str| {
        NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
            format!(
                "{}{}",
                lt.err_date,
                text.chars().take(40).collect::<String>()
            )
        })
    };
    let valid_from = date(&form.valid_from)?;
    let valid_to = match form.valid_to.trim() {
        "" => None,
        t => Some(date(t)?),
    };
    if valid_to.is_some_and(|to| to < valid_from) {
        return Err(lt.err_order.to_string());
    }
    let forms: Vec<String> = form
        .attribution_forms
        .lines()
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect();
    if forms.len() > MAX_FORMS
        || forms
            .iter()
            .any(|f| f.chars().count() > MAX_FORM_CHARS || f.chars().any(char::is_control))
    {
        return Err(lt.err_forms.to_string());
    }
    let scope = if form.scope == "excerpt" {
        Scope::Excerpt
    } else {
        Scope::Full
    };
    let share = match form.excerpt_max_share.trim() {
        "" => DEFAULT_EXCERPT_SHARE,
        s => match s.parse::<f64>() {
            Ok(v) if v > 0.0 && v <= 1.0 => v,
            _ => return Err(lt.err_share.to_string()),
        },
    };
    Ok(Licence {
        source: LicenceSource::Config,
        partner: partner.to_string(),
        domains,
        valid_from,
        valid_to,
        terms: Terms {
            attribution: form.attribution == "1",
            attribution_forms: forms,
            link_back: form.link_back == "1",
            title_unchanged: form.title_unchanged == "1",
            scope,
            excerpt_max_share: share,
        },
    })
}

/// `POST /licences`: adds a licence; a refused form is shown again with the reason.
pub async fn add(
    State(desk): DeskState,
    Extension(session): Extension<Session>,
    Form(form): Form<AddForm>,
) -> Response {
    let result: PageResult = async {
        // The token first: a forged request learns nothing.
        check_csrf(&session, &form.csrf)?;
        let lt = licence_labels(desk.settings().outlet.language);
        let licence = match parse_form(&form, lt) {
            Ok(l) => l,
            Err(reason) => {
                let body = render(
                    &desk,
                    &session,
                    None,
                    Some(format!("{}{reason}", lt.refused)),
                    Some(form),
                )
                .await?;
                return Ok(status_page(StatusCode::BAD_REQUEST, body));
            }
        };
        let actor = session.user.clone();
        let partner = licence.partner.clone();
        let id = desk
            .with_store(move |s| Ok(s.add_licence(&licence, &actor, Utc::now())?))
            .await?;
        tracing::info!(user = %session.user, licence = id, partner = %crate::crawl::sanitize(&partner), "licence added");
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("added", &partner);
        Ok(Redirect::to(&format!("/licences?{}", q.finish())).into_response())
    }
    .await;
    respond(&desk, result)
}

/// `POST /licences/ID/end`: ends a desk licence from yesterday on (copies captured
/// from today are ordinary matches); the row is kept with who ended it.
pub async fn end(
    State(desk): DeskState,
    Extension(session): Extension<Session>,
    axum::extract::Path(raw_id): axum::extract::Path<String>,
    Form(form): Form<CheckForm>,
) -> Response {
    let result: PageResult = async {
        check_csrf(&session, &form.csrf)?;
        let id = super::pages::parse_id(&raw_id)?;
        let actor = session.user.clone();
        let ended = desk
            .with_store(move |s| {
                let partner = s
                    .desk_licences()?
                    .into_iter()
                    .find(|l| l.licence.source == LicenceSource::Desk { id })
                    .map(|l| l.licence.partner);
                match partner {
                    Some(p) if s.end_licence(id, &actor, Utc::now())? => Ok(Some(p)),
                    Some(_) => Ok(None),
                    None => Err(Failure::not_found()),
                }
            })
            .await?;
        // Ended before (another reviewer, a second click): the page as it is.
        let Some(partner) = ended else {
            return Ok(Redirect::to("/licences").into_response());
        };
        tracing::info!(user = %session.user, licence = id, "licence ended");
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("ended", &partner);
        Ok(Redirect::to(&format!("/licences?{}", q.finish())).into_response())
    }
    .await;
    respond(&desk, result)
}

#[derive(Debug, Deserialize)]
pub struct CheckForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /licences/check`: checks every recorded copy on a licensed site again (as
/// `copyhound licences check`), queueing licensing staff's alerts owed, and rings the
/// outbox.
pub async fn check(
    State(desk): DeskState,
    Extension(session): Extension<Session>,
    Form(form): Form<CheckForm>,
) -> Response {
    let result: PageResult = async {
        check_csrf(&session, &form.csrf)?;
        let settings = desk.settings();
        let checked = desk
            .with_store(move |s| {
                recheck::check_matches(s, &settings, &[], Some(recheck::MAX_DESK_CHECKS)).map_err(|e| Failure::internal(e.to_string()))
            })
            .await?;
        if checked.iter().any(|c| c.alerts > 0) {
            desk.ring_outbox();
        }
        let bad = checked.iter().filter(|c| c.verdict == "noncompliant").count();
        tracing::info!(user = %session.user, checked = checked.len(), noncompliant = bad, "licences checked");
        Ok(Redirect::to(&format!(
            "/licences?checked={}&noncompliant={bad}",
            checked.len()
        ))
        .into_response())
    }
    .await;
    respond(&desk, result)
}

/// `/matches/ID/licence-request.txt`: the draft request to the partner of a
/// noncompliant copy (the text licensing staff got by email), for them to send.
pub async fn request(
    State(desk): DeskState,
    Extension(_session): Extension<Session>,
    axum::extract::Path(raw_id): axum::extract::Path<String>,
) -> Response {
    let settings = desk.settings();
    let result = async {
        let id = super::pages::parse_id(&raw_id)?;
        let text = desk
            .with_store(move |s| {
                let detail = s.find_match(id)?.ok_or_else(Failure::not_found)?;
                let check = s
                    .licence_check(id)?
                    .filter(|c| c.verdict == "noncompliant")
                    .ok_or_else(Failure::not_found)?;
                let facts =
                    crate::review::facts_for_match(s, &detail)?.ok_or_else(Failure::not_found)?;
                let lf = crate::evidence::LicenceFacts {
                    partner: check.partner,
                    licence: check.licence,
                    verdict: check.verdict,
                    missing: check.missing,
                };
                Ok(crate::notify::licence::draft(
                    &facts,
                    &lf,
                    &settings.outlet,
                    &settings.contacts,
                ))
            })
            .await?;
        Ok((
            [
                (
                    axum::http::header::CONTENT_TYPE,
                    "text/plain; charset=utf-8".to_string(),
                ),
                (
                    axum::http::header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"licence-request-match-{id}.txt\""),
                ),
            ],
            text,
        )
            .into_response())
    }
    .await;
    respond(&desk, result)
}

/// The match page's licence line: the partner, the verdict and what is missing.
pub(super) fn match_line(
    check: &crate::store::LicenceCheck,
    language: crate::config::Language,
) -> (String, String) {
    let lt = licence_labels(language);
    let verdict = match check.verdict.as_str() {
        "compliant" => lt.compliant,
        "noncompliant" => lt.noncompliant,
        "expired" => lt.expired,
        "not-yet-valid" => lt.not_yet_valid,
        other => return (other.to_string(), check.partner.clone()),
    };
    let mut text = format!("{} · {verdict}", check.partner);
    if !check.missing.is_empty() {
        let missing: Vec<&str> = check
            .missing
            .iter()
            .map(|m| crate::notify::licence::missing_label(m, language))
            .collect();
        let (colon, comma) = match language {
            crate::config::Language::ZhCn => ("：", "、"),
            crate::config::Language::En => (": ", ", "),
        };
        text.push_str(&format!(" · {}{colon}{}", lt.missing, missing.join(comma)));
    }
    (check.verdict.clone(), text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> AddForm {
        AddForm {
            partner: "晨报".into(),
            domains: "chenbao.example\n127.0.0.1:8080, chenbao.example".into(),
            valid_from: "2026-01-01".into(),
            attribution: "1".into(),
            link_back: "1".into(),
            attribution_forms: "来源：江城日报\n\n".into(),
            scope: "excerpt".into(),
            excerpt_max_share: "0.25".into(),
            ..AddForm::default()
        }
    }

    #[test]
    fn the_form_becomes_a_licence_or_a_reason() {
        let lt = licence_labels(crate::config::Language::En);
        let l = parse_form(&form(), lt).unwrap();
        assert_eq!(l.domains, ["chenbao.example", "127.0.0.1:8080"]);
        assert_eq!(l.terms.attribution_forms, ["来源：江城日报"]);
        assert!(l.terms.attribution && l.terms.link_back && !l.terms.title_unchanged);
        assert_eq!(l.terms.scope, Scope::Excerpt);
        assert_eq!(l.valid_to, None);
        for (bad, reason) in [
            (
                AddForm {
                    partner: " ".into(),
                    ..form()
                },
                lt.err_partner.to_string(),
            ),
            (
                AddForm {
                    domains: "http://x/".into(),
                    ..form()
                },
                format!("{}http://x/", lt.err_domains),
            ),
            (
                AddForm {
                    valid_from: "1/2/2026".into(),
                    ..form()
                },
                format!("{}1/2/2026", lt.err_date),
            ),
            (
                AddForm {
                    valid_to: "2025-01-01".into(),
                    ..form()
                },
                lt.err_order.to_string(),
            ),
            (
                AddForm {
                    excerpt_max_share: "2".into(),
                    ..form()
                },
                lt.err_share.to_string(),
            ),
            (
                AddForm {
                    attribution_forms: "x\n".repeat(21),
                    ..form()
                },
                lt.err_forms.to_string(),
            ),
        ] {
            assert_eq!(parse_form(&bad, lt).unwrap_err(), reason);
        }
    }
}
