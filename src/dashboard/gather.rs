//! The report's one edge with I/O: reads a month's figures from the store (the same
//! queries as the dashboard) and, when a browser is configured, prints the HTML to PDF.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::report::{self, LicensedDomain, Rendered, ReportInput};
use super::Month;
use crate::config::{Language, Settings};
use crate::store::{SiteList, Store, StoreError, MAX_REPORT_INFRINGEMENTS, MAX_REPORT_REMOVALS};

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("report template: {0}")]
    Template(#[from] askama::Error),
    #[error("{chromium}: cannot print the report to PDF: {why}")]
    Pdf { chromium: String, why: String },
}

/// The report of `month` in `language`, from `store`, dated `now`.
///
/// # Errors
/// [`ReportError`] when the store cannot be read.
pub fn monthly_report(
    store: &Store,
    settings: &Settings,
    month: Month,
    language: Language,
    now: DateTime<Utc>,
) -> Result<Rendered, ReportError> {
    let window = month.window();
    let figures = store.window_figures(window, now, settings.cases.deadline.0)?;
    let (infringements, total) = store.infringements(window, MAX_REPORT_INFRINGEMENTS)?;
    let (removals, removals_total) = store.removals(window, MAX_REPORT_REMOVALS)?;
    let licensed_hosts = store.licensed_activity(window)?;
    let licence_compliance = store.licence_activity(window)?;
    let zh = language == Language::ZhCn;
    let mut domains: Vec<LicensedDomain> = settings
        .crawl
        .licensed
        .iter()
        .map(|d| LicensedDomain {
            domain: d.to_string(),
            listed: "[crawl] licensed".into(),
        })
        .collect();
    for e in store.site_list(SiteList::Licensed)? {
        if domains.iter().any(|d| d.domain == e.domain) {
            continue;
        }
        domains.push(LicensedDomain {
            listed: if zh {
                format!("审核人 {} 添加", e.added_by)
            } else {
                format!("added by {}", e.added_by)
            },
            domain: e.domain,
        });
    }
    Ok(report::render(&ReportInput {
        month,
        language,
        outlet: &settings.outlet.name,
        figures: &figures,
        infringements: &infringements,
        infringements_total: total,
        removals: &removals,
        removals_total,
        licensed_hosts: &licensed_hosts,
        licensed_domains: &domains,
        licence_compliance: &licence_compliance,
        generated_at: now,
    })?)
}

/// Prints `html` to a PDF file at `out` with a headless Chromium: the page is a file
/// with no external resource, so the browser needs no network.
///
/// # Errors
/// [`ReportError::Pdf`] when Chromium cannot be run or writes nothing.
pub fn print_pdf(chromium: &Path, html: &str, out: &Path) -> Result<(), ReportError> {
    let fail = |why: String| ReportError::Pdf {
        chromium: chromium.display().to_string(),
        why,
    };
    let dir = tempfile_dir().map_err(|e| fail(e.to_string()))?;
    let page = dir.join("report.html");
    std::fs::write(&page, html).map_err(|e| fail(e.to_string()))?;
    let out_abs = std::path::absolute(out).map_err(|e| fail(e.to_string()))?;
    let child = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-pdf-header-footer",
            // V8 without its JIT: the systemd unit's `MemoryDenyWriteExecute=yes` refuses
            // the writable-executable pages the JIT needs, and a browser that cannot map
            // them crashes instead of printing (the evidence browser does the same).
            "--js-flags=--jitless",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("--print-to-pdf={}", out_abs.display()))
        .arg(format!("file://{}", page.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| fail(e.to_string()));
    let status = child.and_then(|mut child| wait_bounded(&mut child).map_err(fail));
    let _ = std::fs::remove_dir_all(&dir);
    let status = status?;
    let written = std::fs::metadata(&out_abs).is_ok_and(|m| m.len() > 0);
    if !status.success() || !written {
        return Err(fail(format!("{status}, no PDF written")));
    }
    Ok(())
}

/// How long a browser may take to print a report: the page is local and small, so
/// anything longer is a hung browser, which must not hang the daemon's scheduler.
const PDF_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Waits for the browser at most [`PDF_TIMEOUT`], then kills it.
fn wait_bounded(child: &mut std::process::Child) -> Result<std::process::ExitStatus, String> {
    let deadline = std::time::Instant::now() + PDF_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no PDF after {} s; stopped", PDF_TIMEOUT.as_secs()));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("copyhound-report-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
