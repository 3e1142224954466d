//! The edge of licence checking for recorded matches (`copyhound licences check`, the
//! desk's licences page): reads a match's stored capture and original, judges it with
//! the pure [`super::check`], and records the verdict with its alert in one
//! transaction (`Store::record_licence_check`).
//!
//! It judges the capture recorded as the match's evidence, never a fresh fetch: a
//! verdict must be provable from the evidence file. It is run after licence terms
//! change (a licence added on the desk, dates or terms edited in the config).

use chrono::Utc;
use serde::Serialize;
use url::Url;

use crate::config::Settings;
use crate::crawl::urls::UrlRules;
use crate::examine::{copy_page, licence_book, licence_check, licence_facts};
use crate::store::{MatchSummary, OriginalKey, Store, StoreError};

use super::LicenceBook;

/// Why a match could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum RecheckError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("match {0}: no such match")]
    NoSuchMatch(i64),
}

/// One match's check, as printed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Checked {
    pub match_id: i64,
    pub copy_url: String,
    /// The licence's partner and key; empty when no licence covers the site.
    pub partner: String,
    pub licence: String,
    /// `compliant`, `noncompliant`, `expired`, `not-yet-valid`, `no-licence` (no
    /// licence covers the copy's site) or `unreadable` (the stored capture or original
    /// could not be read back; `problem` says why).
    pub verdict: String,
    pub missing: Vec<String>,
    /// The match's status after the check.
    pub status: String,
    /// Alerts queued to licensing staff by this check (0 when they were told before).
    pub alerts: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// The recorded matches on sites some licence covers, oldest first.
///
/// # Errors
/// [`StoreError`] when the database cannot be read.
pub fn licensed_site_matches(
    store: &Store,
    book: &LicenceBook,
) -> Result<Vec<MatchSummary>, StoreError> {
    Ok(store
        .list_matches()?
        .into_iter()
        .filter(|m| Url::parse(&m.copy_url).is_ok_and(|u| book.covers(&u)))
        .collect())
}

/// Matches the desk's button checks at once, the most recent first: each check
/// extracts a stored page again, and the desk's store is held meanwhile. The command
/// line checks every one.
pub const MAX_DESK_CHECKS: usize = 1000;

/// Checks `ids` (without ids: every match on a licensed site, or the latest `limit` of
/// them) against the licences in force, recording each verdict.
///
/// # Errors
/// [`RecheckError`] when the store fails or an id names no match.
pub fn check_matches(
    store: &mut Store,
    settings: &Settings,
    ids: &[i64],
    limit: Option<usize>,
) -> Result<Vec<Checked>, RecheckError> {
    let book = licence_book(store, settings)?;
    let rules = UrlRules::from_settings(&settings.crawl);
    let ids: Vec<i64> = if ids.is_empty() {
        let all: Vec<i64> = licensed_site_matches(store, &book)?
            .iter()
            .map(|m| m.id)
            .collect();
        let skip = limit.map_or(0, |l| all.len().saturating_sub(l));
        all[skip..].to_vec()
    } else {
        ids.to_vec()
    };
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(check_one(store, settings, &book, &rules, id)?);
    }
    Ok(out)
}

fn check_one(
    store: &mut Store,
    settings: &Settings,
    book: &LicenceBook,
    rules: &UrlRules,
    id: i64,
) -> Result<Checked, RecheckError> {
    let detail = store.find_match(id)?.ok_or(RecheckError::NoSuchMatch(id))?;
    let mut checked = Checked {
        match_id: id,
        copy_url: detail.summary.copy_url.clone(),
        partner: String::new(),
        licence: String::new(),
        verdict: "no-licence".into(),
        missing: Vec::new(),
        status: detail.summary.status.clone(),
        alerts: 0,
        problem: None,
    };
    let Ok(final_url) = Url::parse(&detail.capture.final_url) else {
        checked.verdict = "unreadable".into();
        checked.problem = Some("the capture's URL does not parse".into());
        return Ok(checked);
    };
    if !book.covers(&final_url) {
        return Ok(checked);
    }
    let page = store
        .capture(detail.capture.id)?
        .ok_or_else(|| "the capture is gone".to_string())
        .and_then(|record| {
            let body = crate::crawl::fetch::decode_stored_body(
                record.content_encoding.as_deref(),
                &record.raw_body,
                crate::review::MAX_DECODED_BYTES,
            )?;
            let (extracted, source) =
                crate::extract::extract_page(&body, record.content_type.as_deref());
            Ok(copy_page(&extracted, &source, &final_url, rules))
        });
    let original = store.find_original_at(
        &OriginalKey::Id(detail.summary.original_id),
        detail.original_version,
    )?;
    let (page, original) = match (page, original) {
        (Ok(page), Some(original)) => (page, original),
        (Err(e), _) => {
            checked.verdict = "unreadable".into();
            checked.problem = Some(e);
            return Ok(checked);
        }
        (_, None) => {
            checked.verdict = "unreadable".into();
            checked.problem = Some("the original is gone from the archive".into());
            return Ok(checked);
        }
    };
    let captured_on = chrono::DateTime::parse_from_rfc3339(&detail.summary.captured_at)
        .map(|t| t.with_timezone(&Utc).date_naive())
        .unwrap_or_else(|_| Utc::now().date_naive());
    let Some((check, _)) = licence_check(
        book,
        rules,
        &final_url,
        &page,
        (&original.url, &original.title),
        detail.summary.containment,
        captured_on,
    ) else {
        return Ok(checked);
    };
    // The alert a noncompliant copy owes licensing staff; the store queues it only if
    // they were never told of this match.
    let alerts = if check.is_noncompliant() {
        match crate::review::facts_for_match(store, &detail)? {
            Some(mut facts) => {
                facts.licence = Some(licence_facts(&check));
                let evidence =
                    detail
                        .evidence_file
                        .as_ref()
                        .map(|f| crate::notify::report::EvidenceRef {
                            file_name: f.clone(),
                            sha256: detail.evidence_sha256.clone().unwrap_or_default(),
                        });
                crate::notify::new_match_alerts(
                    &facts,
                    evidence.as_ref(),
                    &settings.email,
                    &settings.contacts,
                    &settings.notify.webhooks,
                )
                .unwrap_or_else(|e| {
                    // Serialising plain strings and numbers does not fail; should it
                    // ever, the verdict is still recorded and shown.
                    tracing::error!(id, error = %e, "licence alert not queued");
                    Vec::new()
                })
            }
            None => Vec::new(),
        }
    } else {
        Vec::new()
    };
    let recorded = store.record_licence_check(id, &check, &alerts, "copyhound", Utc::now())?;
    checked.partner = check.partner.clone();
    checked.licence = check.licence.clone();
    checked.verdict = check.verdict.clone();
    checked.missing = check.missing.clone();
    checked.alerts = recorded.alerts;
    checked.status = store
        .find_match(id)?
        .map_or(checked.status, |d| d.summary.status);
    Ok(checked)
}

/// Noncompliant matches listed per licence on the desk and by `licences list`.
pub const LISTED_NONCOMPLIANT: usize = 20;

/// One licence with where it comes from and how its copies fare, for `licences list`
/// and the desk's licences page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LicenceOverview {
    #[serde(flatten)]
    pub licence: super::Licence,
    /// `config:PARTNER` or `desk:ID`.
    pub key: String,
    /// Who added a desk licence, and when.
    pub added_by: Option<String>,
    pub added_at: Option<String>,
    /// Who ended a desk licence, and when.
    pub ended_by: Option<String>,
    pub ended_at: Option<String>,
    pub counts: crate::store::LicenceCounts,
    /// Compliant among those judged within validity, 0..=1.
    pub compliance_rate: Option<f64>,
    /// The latest noncompliant matches (at most [`LISTED_NONCOMPLIANT`]).
    pub noncompliant_matches: Vec<i64>,
}

/// Every licence in force (the config's, then the desk's) with its counts.
///
/// # Errors
/// [`StoreError`] when the database cannot be read.
pub fn overview(store: &Store, settings: &Settings) -> Result<Vec<LicenceOverview>, StoreError> {
    let counts = store.licence_counts()?;
    let desk = store.desk_licences()?;
    let config = settings
        .licences
        .iter()
        .cloned()
        .map(|l| (l, None, None, None));
    let desk = desk.into_iter().map(|d| {
        let ended = d.ended_by.zip(d.ended_at);
        (d.licence, Some(d.added_by), Some(d.added_at), ended)
    });
    let mut out = Vec::new();
    for (licence, added_by, added_at, ended) in config.chain(desk) {
        let (ended_by, ended_at) = ended.unzip();
        let key = licence.key();
        let c = counts.get(&key).cloned().unwrap_or_default();
        out.push(LicenceOverview {
            compliance_rate: c.compliance_rate(),
            noncompliant_matches: store.noncompliant_matches(&key, LISTED_NONCOMPLIANT)?,
            counts: c,
            key,
            licence,
            added_by,
            added_at,
            ended_by,
            ended_at,
        });
    }
    Ok(out)
}
