//! `copyhound evidence-report` and `copyhound export-evidence`: a match's evidence for
//! counsel, as a self-contained HTML report (and PDF) or a WACZ package.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use crate::config::{Language, Settings};
use crate::evidence::inspect::{self, Inspection};
use crate::evidence::place::Place;
use crate::evidence::report::{self, EvidenceReportInput, FileEvidence};
use crate::evidence::wacz::{self, PackageFile, PackagePage, MAX_PACKAGE_MATCHES};
use crate::evidence::MAX_EVIDENCE_BYTES;
use crate::notify::report::{EvidenceRef, ReportItem};
use crate::store::{MatchDetail, Store};

/// The browser that prints the report to PDF: the evidence browser (`[evidence]
/// browser`), else the monthly report's (`[report] chromium`).
fn evidence_browser(settings: &Settings) -> Option<&Path> {
    settings
        .evidence
        .browser
        .as_deref()
        .or(settings.report.chromium.as_deref())
}

/// An evidence file of a match: its name, its role and the SHA-256 the store recorded.
struct MatchFile {
    name: String,
    role: &'static str,
    recorded_sha256: Option<String>,
}

/// The evidence files of match `d`: the primary capture's, and the third party's
/// archived record kept beside a live capture.
fn match_files(store: &Store, d: &MatchDetail) -> Result<Vec<MatchFile>> {
    let mut files = Vec::new();
    if let Some(name) = &d.evidence_file {
        files.push(MatchFile {
            name: name.clone(),
            role: "primary",
            recorded_sha256: d.evidence_sha256.clone(),
        });
    }
    if let Some(p) = crate::review::provenance(store, d)? {
        if p.live_is_primary() {
            if let Some(name) = p.archived_evidence_file {
                files.push(MatchFile {
                    name,
                    role: "archived",
                    recorded_sha256: p.archived_evidence_sha256,
                });
            }
        }
    }
    Ok(files)
}

/// The timestamp trust anchors of `[evidence] tsa_ca_file`, when set and readable (a file
/// that fails to load leaves tokens shown as not verified, and check-config names it).
fn anchors(settings: &Settings) -> Option<crate::evidence::timestamp::TrustAnchors> {
    let path = settings.evidence.tsa_ca_file.as_ref()?;
    match crate::evidence::timestamp::TrustAnchors::load(path) {
        Ok(a) => Some(a),
        Err(e) => {
            tracing::warn!(error = %e, "timestamp trust anchors not loaded");
            None
        }
    }
}

/// Reads one evidence file for the report; a file that cannot be read is reported in
/// the page (counsel must see that it is missing), not an error.
fn read_file(settings: &Settings, place: &Place, f: &MatchFile) -> FileEvidence {
    let read = match place.read(&f.name, MAX_EVIDENCE_BYTES) {
        Ok(Some(bytes)) => Ok(inspect::inspect(&bytes)),
        Ok(None) => Err("no such file".to_string()),
        Err(e) => Err(e.to_string()),
    };
    let (inspection, error): (Option<Inspection>, Option<String>) = match read {
        Ok(i) => (Some(i), None),
        Err(e) => (None, Some(format!("{}: {e}", place.location(&f.name)))),
    };
    FileEvidence {
        name: f.name.clone(),
        role: f.role,
        recorded_sha256: f.recorded_sha256.clone(),
        inspection,
        error,
        timestamp: inspect::timestamp_summary(place, &f.name, anchors(settings).as_ref()),
    }
}

/// `copyhound evidence-report ID [--lang] [--out FILE] [--pdf FILE]`.
pub(super) fn evidence_report(
    settings: &Settings,
    id: i64,
    language: Option<Language>,
    out: Option<&Path>,
    pdf: Option<&Path>,
) -> Result<ExitCode> {
    let language = language.unwrap_or(settings.outlet.language);
    // Refused before any work: a PDF needs a browser.
    let browser = match pdf {
        Some(_) => Some(evidence_browser(settings).context(
            "--pdf needs a browser: set [report] chromium (such as \"/usr/bin/chromium\")",
        )?),
        None => None,
    };
    let store = Store::open_storage(&settings.storage)?;
    let place = Place::open(&settings.storage)?;
    let Some(d) = store.find_match(id)? else {
        bail!("no match with id {id}");
    };
    let files: Vec<FileEvidence> = match_files(&store, &d)?
        .iter()
        .map(|f| read_file(settings, &place, f))
        .collect();
    // The store's facts; when the original has left the archive, the facts the
    // evidence file itself recorded at capture.
    let facts = match crate::review::facts_for_match(&store, &d)? {
        Some(f) => f,
        None => files
            .iter()
            .find_map(|f| f.inspection.as_ref().and_then(|i| i.facts.clone()))
            .with_context(|| {
                format!("match {id}: its original is gone from the archive and no evidence file states it")
            })?,
    };
    let item = ReportItem {
        facts,
        evidence: d
            .evidence_file
            .clone()
            .zip(d.evidence_sha256.clone())
            .map(|(file_name, sha256)| EvidenceRef { file_name, sha256 }),
    };
    let software = format!("copyhound/{}", env!("CARGO_PKG_VERSION"));
    let html = report::render(&EvidenceReportInput {
        item: &item,
        outlet: &settings.outlet.name,
        language,
        files: &files,
        generated_at: chrono::Utc::now(),
        software: &software,
    })?;
    match out {
        Some(path) => std::fs::write(path, &html)
            .with_context(|| format!("{}: cannot write the report", path.display()))?,
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(html.as_bytes())?;
            stdout.flush()?;
        }
    }
    if let (Some(pdf), Some(browser)) = (pdf, browser) {
        crate::dashboard::gather::print_pdf(browser, &html, pdf)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `copyhound export-evidence ID... --wacz FILE`.
pub(super) fn export_evidence(settings: &Settings, ids: &[i64], out: &Path) -> Result<ExitCode> {
    if ids.is_empty() {
        bail!("no match id given");
    }
    if ids.len() > MAX_PACKAGE_MATCHES {
        bail!(
            "{} matches: one package holds at most {MAX_PACKAGE_MATCHES}",
            ids.len()
        );
    }
    let store = Store::open_storage(&settings.storage)?;
    let place = Place::open(&settings.storage)?;
    let mut files = Vec::new();
    let mut pages = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for &id in ids {
        if !seen.insert(id) {
            continue;
        }
        let Some(d) = store.find_match(id)? else {
            bail!("no match with id {id}");
        };
        let mine = match_files(&store, &d)?;
        if mine.is_empty() {
            bail!("match {id} has no evidence file (`copyhound rebuild-evidence {id}` writes it from the stored capture)");
        }
        for f in mine {
            if !crate::evidence::place::plain_name(&f.name) {
                bail!(
                    "evidence file name {:?} in the store is not a plain file name",
                    f.name
                );
            }
            files.push(PackageFile {
                name: f.name,
                place: place.clone(),
            });
        }
        pages.push(PackagePage {
            id: format!("m{id}"),
            url: d.capture.final_url.clone(),
            ts: d.summary.captured_at.clone(),
            title: crate::notify::report::one_line(&d.summary.copy_title, 500),
        });
    }
    let title = match ids {
        [one] => format!("{}: evidence of match {one}", settings.outlet.name),
        _ => format!(
            "{}: evidence of {} matches",
            settings.outlet.name,
            pages.len()
        ),
    };
    let software = format!("copyhound/{}", env!("CARGO_PKG_VERSION"));
    let summary = wacz::write_package(
        out,
        &wacz::PackageInput {
            files: &files,
            pages: &pages,
            title,
            software: &software,
            created: chrono::Utc::now(),
        },
        |digest| wacz::package_token(settings, digest),
    )?;
    println!(
        "export-evidence: {} ({} bytes): {} WARC files, {} index lines, {} pages, datapackage.json {}{}",
        out.display(),
        summary.bytes,
        summary.warcs,
        summary.index_lines,
        summary.pages,
        summary.datapackage_hash,
        if summary.timestamped {
            ", timestamped"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}
