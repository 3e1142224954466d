//! `copyhound licences`: list the licences in force and check licensed copies again.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Result;

use crate::config::Settings;
use crate::licences::recheck::{self, Checked, LicenceOverview};
use crate::licences::Licence;
use crate::store::Store;

#[derive(Debug, clap::Subcommand)]
pub(super) enum LicencesCommand {
    /// List the licences (`[[licences]]` and the desk's): partner, domains, validity,
    /// terms, where each comes from, and its compliant and noncompliant matches.
    List {
        /// Print a JSON array instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Check recorded matches on licensed sites against their licences again (without
    /// ids: every match on a site a licence covers), from their recorded captures.
    /// Prints each verdict and what is missing; exits with status 1 when any copy
    /// checked is noncompliant.
    Check {
        /// Print a JSON array instead of text.
        #[arg(long)]
        json: bool,
        #[arg(value_name = "MATCH_ID")]
        ids: Vec<i64>,
    },
}

pub(super) fn run(settings: &Settings, command: LicencesCommand) -> Result<ExitCode> {
    let mut store = Store::open_storage(&settings.storage)?;
    match command {
        LicencesCommand::List { json } => {
            let list = recheck::overview(&store, settings)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                print!("{}", list_text(&list, settings));
            }
            Ok(ExitCode::SUCCESS)
        }
        LicencesCommand::Check { json, ids } => {
            let checked = recheck::check_matches(&mut store, settings, &ids, None)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&checked)?);
            } else {
                print!("{}", check_text(&checked));
            }
            if checked.iter().any(|c| c.verdict == "noncompliant") {
                Ok(ExitCode::from(1))
            } else {
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

/// The terms in one line: `attribution (来源：江城日报), link, title, excerpt ≤ 30%`.
pub(crate) fn terms_line(l: &Licence) -> String {
    let t = &l.terms;
    let mut parts = Vec::new();
    if t.attribution {
        if t.attribution_forms.is_empty() {
            parts.push("attribution".to_string());
        } else {
            parts.push(format!("attribution ({})", t.attribution_forms.join(" / ")));
        }
    }
    if t.link_back {
        parts.push("link".into());
    }
    if t.title_unchanged {
        parts.push("title".into());
    }
    parts.push(match t.scope {
        crate::licences::Scope::Full => "full text".to_string(),
        crate::licences::Scope::Excerpt => {
            format!("excerpt <= {:.0}%", t.excerpt_max_share * 100.0)
        }
    });
    parts.join(", ")
}

fn list_text(list: &[LicenceOverview], settings: &Settings) -> String {
    let mut out = String::new();
    for o in list {
        let l = &o.licence;
        let source = match (&o.added_by, &o.added_at) {
            (Some(by), Some(at)) => format!("desk (added by {} at {at})", super::printable(by)),
            _ => "config".to_string(),
        };
        let source = match (&o.ended_by, &o.ended_at) {
            (Some(by), Some(at)) => format!("{source}, ended by {} at {at}", super::printable(by)),
            _ => source,
        };
        let rate = o
            .compliance_rate
            .map_or_else(|| "-".to_string(), |r| format!("{:.0}%", r * 100.0));
        let _ = writeln!(out, "{}  [{}]", super::printable(&l.partner), o.key);
        let _ = writeln!(out, "  source:   {source}");
        let _ = writeln!(out, "  domains:  {}", l.domains.join(", "));
        let _ = writeln!(
            out,
            "  valid:    {} to {}",
            l.valid_from,
            l.valid_to
                .map_or_else(|| "open".to_string(), |d| d.to_string())
        );
        let _ = writeln!(out, "  terms:    {}", terms_line(l));
        let _ = writeln!(
            out,
            "  matches:  {} compliant, {} noncompliant, {} outside validity (compliance {rate})",
            o.counts.compliant, o.counts.noncompliant, o.counts.outside_validity
        );
        if !o.noncompliant_matches.is_empty() {
            let ids: Vec<String> = o.noncompliant_matches.iter().map(i64::to_string).collect();
            let _ = writeln!(out, "  noncompliant: {}", ids.join(" "));
        }
    }
    let legacy: Vec<&str> = settings.crawl.licensed.iter().collect();
    if !legacy.is_empty() {
        let _ = writeln!(
            out,
            "[crawl] licensed (no terms checked): {}",
            legacy.join(", ")
        );
    }
    let _ = writeln!(out, "{} licence(s)", list.len());
    out
}

fn check_text(checked: &[Checked]) -> String {
    let mut out = format!(
        "{:>5}  {:<13}  {:<24}  {:<22}  copy\n",
        "match", "verdict", "missing", "partner"
    );
    for c in checked {
        let missing = if c.missing.is_empty() {
            "-".to_string()
        } else {
            c.missing.join(",")
        };
        let _ = writeln!(
            out,
            "{:>5}  {:<13}  {:<24}  {:<22}  {}{}",
            c.match_id,
            c.verdict,
            missing,
            super::printable(if c.partner.is_empty() {
                "-"
            } else {
                &c.partner
            }),
            super::printable(&c.copy_url),
            c.problem
                .as_deref()
                .map(|p| format!(" ({})", super::printable(p)))
                .unwrap_or_default()
        );
    }
    let bad = checked
        .iter()
        .filter(|c| c.verdict == "noncompliant")
        .count();
    let alerts: usize = checked.iter().map(|c| c.alerts).sum();
    let _ = writeln!(
        out,
        "{} match(es) checked, {bad} noncompliant, {alerts} alert(s) queued",
        checked.len()
    );
    out
}
