//! Command-line glue: argument parsing, reading input files, printing results.
//!
//! This is the only module that uses `anyhow`: library modules return typed errors and
//! this layer turns them into one clear message and an exit code. Nothing here decides
//! anything about detection; it calls into the library and prints.

use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::builder::TypedValueParser;
use clap::{CommandFactory, Parser, Subcommand};
use serde::Serialize;

mod cases;
mod evidence;
mod licences;

use crate::config::{Settings, DEFAULT_CONFIG_PATH};
use crate::detect::{self, Comparison, Document};
use crate::review::{Action, DecisionReport};
use crate::store::{
    AlertRecord, AlertState, DecideOutcome, Decision, MatchDetail, MatchFilter, OriginalKey,
    ReviewStatus, SortKey, Store,
};

/// Input files larger than this are refused: a news article page is well under a few
/// megabytes, and reading an arbitrary huge file into memory is never what was meant.
const MAX_INPUT_BYTES: u64 = 32 * 1024 * 1024;

/// Longest password `hash-password` accepts, in bytes: far beyond any passphrase, and
/// it bounds what is read from standard input and hashed.
const MAX_PASSWORD_BYTES: usize = 1024;

/// The statuses a reviewer can set from the command line (`unreviewed` is where a
/// match starts, not a decision).
const MARK_STATUSES: [ReviewStatus; 4] = [
    ReviewStatus::Infringing,
    ReviewStatus::Licensed,
    ReviewStatus::FalsePositive,
    ReviewStatus::Ignored,
];

#[derive(Debug, Parser)]
#[command(
    name = "copyhound",
    version,
    about = "Finds copies of a news outlet's articles on the web and reports them with evidence"
)]
struct Cli {
    /// Config file.
    #[arg(
        long,
        global = true,
        env = "COPYHOUND_CONFIG",
        value_name = "FILE",
        help = format!("Config file [default: {DEFAULT_CONFIG_PATH}]")
    )]
    config: Option<PathBuf>,

    /// Log format on stderr: `human` (default) or `json` (one object per line).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Compare an original article with a candidate copy and print the verdict.
    ///
    /// Each argument is an `.html`/`.htm` page (its title and main text are extracted)
    /// or a `.txt` file (taken as is). Thresholds come from `[detect]` of the config
    /// when a config file is found, else built-in defaults.
    Compare {
        /// The original article.
        original: PathBuf,
        /// The page suspected to copy it.
        candidate: PathBuf,
        /// Print one JSON object instead of the human summary.
        #[arg(long)]
        json: bool,
    },
    /// Print the title and main text extracted from an HTML page, and how it was found.
    Extract {
        file: PathBuf,
        /// Print a JSON object (`title`, `method`, `encoding`, `chars`, `page_chars`,
        /// `warnings`, `text`).
        #[arg(long)]
        json: bool,
    },
    /// Print the title, whole-text SimHash and segment SimHashes of each file.
    Fingerprint {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print a JSON array (one object per file).
        #[arg(long)]
        json: bool,
    },
    /// Validate the config file and list every problem with the key it concerns.
    CheckConfig,
    /// Bring the database's schema up to date (SQLite in `[storage] dir`, or the
    /// PostgreSQL database of `[storage] database_url`) and print its version. Every
    /// command migrates on start too; this does it explicitly, once, before the
    /// processes of a deployment start. A schema newer than this copyhound is refused.
    Migrate,
    /// One pass over the outlet's feeds, sitemaps and local archive folders
    /// (`[originals]`), storing new and changed articles.
    Ingest,
    /// Inspect the archive of originals.
    Originals {
        #[command(subcommand)]
        command: OriginalsCommand,
    },
    /// Re-check every digest of an evidence file (WARC) and name any altered record.
    ///
    /// Exit status 1 when a record's digest does not match, a record is damaged or a
    /// record it links to is missing.
    ///
    /// A trusted timestamp beside the file (`FILE.tsr`, or the token the store recorded)
    /// is verified offline: signature, certificate chain at the token's time to the
    /// trust anchors, message imprint against the file's SHA-256. A bad token fails the
    /// command and is named (imprint mismatch, bad signature, untrusted chain, ...).
    VerifyEvidence {
        /// The `.warc.gz` evidence file: a path, or (with a config) the name of one
        /// kept where `[storage]` keeps evidence (a shared folder or a bucket).
        file: PathBuf,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// PEM trust anchors for the timestamp (default: `[evidence] tsa_ca_file`).
        #[arg(long, value_name = "FILE")]
        tsa_ca: Option<PathBuf>,
    },
    /// Request the trusted timestamps (RFC 3161) still owed: every evidence file without
    /// a token is queued, and those due are sent to `[evidence] tsa_urls`; each token is
    /// written beside its file (`FILE.tsr`) and recorded. The daemon does this itself
    /// every few seconds.
    ///
    /// Exit status 1 when a file is still without its token (it stays queued and is
    /// retried with backoff; `--now` ignores the backoff).
    TimestampPending {
        /// Try every pending file now, whatever its backoff says.
        #[arg(long)]
        now: bool,
    },
    /// A match's evidence as one self-contained HTML file for counsel: the original and
    /// the copy, the passages side by side, the capture's environment, the screenshot,
    /// the digest of every record, the trusted timestamps and how to verify it all
    /// independently (standard output without --out).
    EvidenceReport {
        /// The match id (as in `matches show`).
        id: i64,
        /// The report's language (default: `[outlet] language`).
        #[arg(long, value_enum)]
        lang: Option<LangArg>,
        /// Write the HTML to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Also print it to PDF with the configured Chromium (`[report] chromium`).
        #[arg(long, value_name = "FILE")]
        pdf: Option<PathBuf>,
    },
    /// Package matches' evidence files as one WACZ 1.1.1 file (the WARCs, a CDXJ index,
    /// pages.jsonl, datapackage.json with every file's SHA-256, and
    /// datapackage-digest.json), which ReplayWeb.page opens and `wacz validate` checks.
    ExportEvidence {
        /// Match ids (at most 1000).
        #[arg(required = true)]
        ids: Vec<i64>,
        /// The package to write.
        #[arg(long, value_name = "FILE")]
        wacz: PathBuf,
    },
    /// Write the evidence files of matches recorded without one (the file could not be
    /// written at the time; the capture's bytes were kept). The daemon does this itself
    /// after each crawl cycle.
    ///
    /// With no ID, every match still without a file. An existing file is never replaced.
    /// Exit status 1 when a file still cannot be written.
    RebuildEvidence {
        /// Match ids (default: all matches without an evidence file).
        ids: Vec<i64>,
    },
    /// The mail outbox: alerts queued, sent and failed.
    Alerts {
        #[command(subcommand)]
        command: AlertsCommand,
    },
    /// Send a test email to every contact through `[email]`, to check the mail set-up.
    SendTestEmail,
    /// Fetch the given URLs now, compare them with the archive and record matches.
    ///
    /// Prints one line per URL: `<url> TAB <verdict> TAB <best original url or -> TAB
    /// <containment>`. The verdict is `copy`, `partial`, `unrelated`, `not-modified`,
    /// `disallowed by robots.txt` or `error: <reason>`. Exits 0 whatever the verdicts.
    Scan {
        #[arg(required = true, value_name = "URL")]
        urls: Vec<String>,
    },
    /// Scan web archives (WARC files) for copies: local `.warc`/`.warc.gz` files,
    /// `http(s)` URLs of them (streamed), or a paths listing (`--paths`).
    ///
    /// Every HTML response (and resource) record is examined like a crawled page and its
    /// matches recorded. Damaged records are skipped, counted and named in the summary
    /// line: `scan-warc: <n> files, <n> records read, <n> HTML examined (<n> rejected
    /// early), <n> skipped, <n> damaged, <n> matches (<n> copy, <n> partial, <n> licensed), <n> bytes, <s>
    /// seconds`. Exit status 1 when a file could not be read to its end.
    ///
    /// A match found in an archive is a third party's capture: copyhound queues a live
    /// capture of its page and, after the last file, fetches those pages at once through
    /// the guarded crawler (robots.txt, politeness, the same examination). A page still
    /// online becomes its match's primary evidence; a second line says `live captures:
    /// <n> captured, <n> gone, <n> failed`. With `--no-live` they stay queued for the
    /// daemon's next crawl cycle (`copyhound run` or `crawl --once`).
    ScanWarc {
        /// WARC files: paths or http(s) URLs.
        #[arg(value_name = "SOURCE")]
        sources: Vec<String>,
        /// A paths listing (file or URL, gzipped or not), one WARC path per line, as
        /// Common Crawl publishes them (`warc.paths.gz`).
        #[arg(long, value_name = "FILE|URL")]
        paths: Option<String>,
        /// What the listing's relative paths are joined to (a URL or a local folder),
        /// e.g. `https://data.commoncrawl.org/`.
        #[arg(long, value_name = "URL", requires = "paths")]
        base: Option<String>,
        /// Files scanned at once.
        #[arg(long, value_name = "N", default_value_t = 1)]
        jobs: usize,
        /// Take only shard I of N of the files (every N-th, from the I-th, 0-based), so N
        /// machines can share one listing.
        #[arg(long, value_name = "I/N", value_parser = parse_shard)]
        shard: Option<(usize, usize)>,
        /// Scan files again that an earlier run finished (the store remembers each
        /// file's progress: finished files are skipped, interrupted ones resumed).
        #[arg(long)]
        rescan: bool,
        /// Examine every HTML page in full, without first rejecting the pages that share
        /// no anchor with any original (slower; the same matches).
        #[arg(long)]
        no_reject: bool,
        /// Do not capture the matched pages live at the end: leave them queued for the
        /// daemon's next crawl cycle.
        #[arg(long)]
        no_live: bool,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
        /// Print the summary as JSON (with the live captures under `live`).
        #[arg(long)]
        json: bool,
        /// Do not scan: add the files to the queue in the store, for `copyhound worker`
        /// processes (on any number of machines) to share. Prints `enqueued: <n> new,
        /// <n> already queued`.
        #[arg(long, conflicts_with_all = ["jobs", "rescan", "no_reject", "no_live", "json"])]
        enqueue: bool,
    },
    /// Scan archive files from the queue (`scan-warc --enqueue`) one at a time, under a
    /// lease renewed while it scans, recording matches and sending alerts as `scan-warc`
    /// does. A worker that dies loses its lease when it runs out and another worker
    /// resumes the file from its last checkpoint. SIGTERM/SIGINT: the current record
    /// batch is finished and checkpointed, the file given back to the queue, and the
    /// worker exits. Pages matched are left queued for a live capture by the daemon's
    /// next crawl cycle.
    Worker {
        /// How long a claim lasts without renewal (renewed every third of it).
        #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_lease)]
        lease: std::time::Duration,
        /// Claims of a file (failures or expired leases) before it is failed for good.
        #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
        max_attempts: u32,
        /// Scan one file and exit.
        #[arg(long)]
        once: bool,
        /// Exit when every file in the queue is done or failed (otherwise wait for more
        /// files); files leased to other workers are waited for, since a worker that
        /// dies leaves its file to the others.
        #[arg(long)]
        exit_when_empty: bool,
        /// The name `queue status` shows for this worker (default `hostname:pid`).
        #[arg(long, value_name = "NAME")]
        worker_id: Option<String>,
        /// Examine every HTML page in full (as `scan-warc --no-reject`).
        #[arg(long)]
        no_reject: bool,
    },
    /// The queue of archive files shared by `copyhound worker` processes.
    Queue {
        #[command(subcommand)]
        command: QueueCommand,
    },
    /// Crawl the configured sites for copies (`[crawl]`, `[discovery]`).
    Crawl {
        /// Run one full cycle and exit with a summary line.
        #[arg(long)]
        once: bool,
    },
    /// Run as a service: originals refresh, crawl cycles, search discovery and alerts on
    /// their schedules, with `/healthz` and `/metrics` on `[web] listen`.
    ///
    /// SIGTERM/SIGINT stop it within `[daemon] shutdown_timeout`; SIGHUP reloads the
    /// config (an invalid one is refused and the old one stays). Speaks systemd's
    /// notification protocol when `NOTIFY_SOCKET` is set.
    Run,
    /// Serve the review desk (and `/healthz`, `/metrics`, the alert outbox) on
    /// `[web] listen`, without crawling. Stops on SIGTERM/SIGINT.
    Serve,
    /// The monthly report of one calendar month (UTC): the dashboard's charts and
    /// figures, the month's confirmed infringements and the licensed partners' copies,
    /// as one self-contained HTML file (standard output without --out).
    Report {
        /// The month, as YYYY-MM.
        #[arg(long, value_name = "YYYY-MM", value_parser = crate::dashboard::Month::parse)]
        month: crate::dashboard::Month,
        /// The report's language (default: `[outlet] language`).
        #[arg(long, value_enum)]
        lang: Option<LangArg>,
        /// Write the HTML to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Also print it to PDF with the Chromium named by `[report] chromium`.
        #[arg(long, value_name = "FILE")]
        pdf: Option<PathBuf>,
    },
    /// A self-contained demonstration on loopback: a fixture outlet, a mirror site and a
    /// licensed partner, then the real pipeline over them. Needs no config or network.
    Demo {
        /// Keep the demo's state here instead of a temporary folder.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Then serve the review desk on the demo's store, with a demo reviewer whose
        /// random password is printed once, until Ctrl-C.
        #[arg(long)]
        serve: bool,
        /// Render each match's page with this Chromium (`[evidence] browser`), so the
        /// evidence files carry screenshots and a PDF print.
        #[arg(long, value_name = "PATH")]
        browser: Option<PathBuf>,
        /// Date each evidence file with an RFC 3161 timestamp from this time-stamp
        /// authority (`[evidence] tsa_urls`; repeat for fallbacks, tried in order).
        #[arg(long = "tsa-url", value_name = "URL", requires = "tsa_ca")]
        tsa_urls: Vec<url::Url>,
        /// The PEM trust anchors the TSA's signing certificate must chain to
        /// (`[evidence] tsa_ca_file`).
        #[arg(long, value_name = "FILE", requires = "tsa_urls")]
        tsa_ca: Option<PathBuf>,
    },
    /// Inspect recorded matches.
    Matches {
        #[command(subcommand)]
        command: MatchesCommand,
    },
    /// Follow infringing matches to their end: list, show, mark and re-check cases.
    Cases {
        #[command(subcommand)]
        command: cases::CasesCommand,
    },
    /// Licensed partners and their terms: list licences, check licensed copies.
    Licences {
        #[command(subcommand)]
        command: licences::LicencesCommand,
    },
    /// Measure extraction and detection quality on the real test data.
    Eval {
        /// The shared data folder (holds news-pages/ and peoples-daily-1998-01.txt).
        #[arg(long, value_name = "DIR", default_value = "../shared/data")]
        data: PathBuf,
    },
    /// Read a password from standard input (one line) and print its Argon2id hash, for
    /// `password_hash` of a `[[web.users]]` entry.
    HashPassword,
}

#[derive(Debug, Subcommand)]
enum QueueCommand {
    /// Files queued, in progress (by worker, with lease expiry and resume offset), done,
    /// and failed with their reasons.
    Status {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AlertsCommand {
    /// List alerts, newest first: state (queued, sending, sent, failed), attempts and
    /// the last failure's reason.
    List {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
        /// Show at most this many alerts.
        #[arg(long, default_value_t = 200)]
        limit: usize,
    },
    /// Put a failed alert back in the queue (after fixing the cause, e.g. an address).
    Retry {
        /// The alert's id, as listed.
        id: i64,
    },
    /// Deliver due alerts now, waiting up to --wait for retries that fall due.
    Send {
        /// How long to keep retrying before leaving the rest queued (e.g. "30s").
        #[arg(long, default_value = "30s", value_name = "DURATION")]
        wait: String,
    },
}

#[derive(Debug, Subcommand)]
enum OriginalsCommand {
    /// List the archived originals, newest first.
    List {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
        /// Only originals whose text looks truncated (short next to their page's
        /// readable text or their site's other articles), each with the reason.
        #[arg(long)]
        suspect: bool,
    },
    /// Show one original (current version) by id or URL.
    Show {
        /// Numeric id or canonical URL.
        key: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum MatchesCommand {
    /// List matches, newest capture first; the filters combine.
    List {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        filter: FilterArgs,
        /// Show at most this many matches (0: all).
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
    },
    /// Write the matches (the filters as for `list`) with their review dates to a CSV
    /// or XLSX file, for spreadsheets. At most 50,000 matches, the first in the
    /// requested order; a note on stderr says when the filter selects more.
    Export {
        /// `csv` (UTF-8 with BOM; to stdout without --out) or `xlsx` (needs --out).
        #[arg(long, value_enum)]
        format: FormatArg,
        /// Write to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Show one match with its passages, capture and review decisions.
    Show {
        /// The match id.
        id: i64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Record a review decision on a match. `infringing` escalates the match to counsel
    /// (the `legal` contacts) with its evidence and the draft takedown notice, once.
    Mark {
        /// The match id.
        id: i64,
        /// The decision.
        #[arg(long, value_name = "STATUS", value_parser = status_parser(&MARK_STATUSES))]
        status: ReviewStatus,
        /// Why (kept with the decision, and quoted in the escalation to counsel).
        #[arg(long, value_name = "TEXT", default_value = "")]
        note: String,
        /// With `--status licensed`: add the copy's site to the reviewers' licensed list,
        /// so later matches there are recorded as licensed.
        #[arg(long, conflicts_with = "ignore_site")]
        add_licensed_domain: bool,
        /// With `--status ignored`: add the copy's site to the ignored list and mark the
        /// site's other unreviewed matches ignored; later matches there alert nobody.
        #[arg(long)]
        ignore_site: bool,
    },
}

/// The filters and order `matches list` and `matches export` share.
#[derive(Debug, clap::Args)]
struct FilterArgs {
    /// Only matches in this review status.
    #[arg(long, value_name = "STATUS", value_parser = status_parser(&ReviewStatus::ALL))]
    status: Option<ReviewStatus>,
    /// Only copies on this site, as the `host` column of `matches show` gives it
    /// (with `:port` when the site uses another port than the default).
    #[arg(long, value_name = "HOST")]
    site: Option<String>,
    /// Only this verdict.
    #[arg(long, value_enum)]
    verdict: Option<VerdictArg>,
    /// Only matches whose copy URL, copy title or original title contains this text
    /// (ASCII letters in any case), as the desk's search box.
    #[arg(long, value_name = "TEXT", value_parser = search_parser)]
    search: Option<String>,
    /// `date`: capture time, newest first; `share`: share of the original copied,
    /// largest first.
    #[arg(long, value_enum, default_value_t = SortArg::Date)]
    sort: SortArg,
}

impl FilterArgs {
    /// The store's filter for these arguments, with at most `limit` rows (0: all).
    fn to_filter(&self, limit: usize) -> MatchFilter {
        MatchFilter {
            status: self.status,
            host: self.site.as_ref().map(|s| s.trim().to_ascii_lowercase()),
            verdict: self.verdict.map(|v| {
                match v {
                    VerdictArg::Copy => "copy",
                    VerdictArg::Partial => "partial",
                }
                .to_string()
            }),
            search: self.search.clone(),
            sort: match self.sort {
                SortArg::Share => SortKey::Share,
                SortArg::Date => SortKey::Date,
            },
            limit,
            ..MatchFilter::default()
        }
    }
}

/// A search text as the desk takes it: trimmed, at most
/// [`crate::store::MAX_SEARCH_CHARS`] characters, no control characters.
fn search_parser(raw: &str) -> Result<String, String> {
    let text = raw.trim();
    let n = text.chars().count();
    if n == 0 {
        return Err("empty search text".to_string());
    }
    if n > crate::store::MAX_SEARCH_CHARS {
        return Err(format!(
            "at most {} characters, got {n}",
            crate::store::MAX_SEARCH_CHARS
        ));
    }
    if text.chars().any(char::is_control) {
        return Err("control characters in the search text".to_string());
    }
    Ok(text.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LangArg {
    #[value(name = "zh-CN")]
    ZhCn,
    #[value(name = "en")]
    En,
}

impl LangArg {
    fn language(self) -> crate::config::Language {
        match self {
            LangArg::ZhCn => crate::config::Language::ZhCn,
            LangArg::En => crate::config::Language::En,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum FormatArg {
    Csv,
    Xlsx,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum VerdictArg {
    Copy,
    Partial,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SortArg {
    Share,
    Date,
}

/// Parses a review status among `allowed`; clap's error for anything else lists them.
fn status_parser(allowed: &'static [ReviewStatus]) -> impl TypedValueParser<Value = ReviewStatus> {
    clap::builder::PossibleValuesParser::new(allowed.iter().map(|s| s.as_str()))
        // The possible values are the statuses' own names, so parsing one back cannot
        // fail; the fallback is never taken.
        .map(|name| ReviewStatus::parse(&name).unwrap_or(ReviewStatus::Unreviewed))
}

/// The review action `matches mark` asks for: the site options only go with their
/// status.
fn mark_action(
    status: ReviewStatus,
    add_licensed_domain: bool,
    ignore_site: bool,
) -> Result<Action, &'static str> {
    match (status, add_licensed_domain, ignore_site) {
        (ReviewStatus::Licensed, true, false) => Ok(Action::LicensedAddDomain),
        (_, true, _) => Err("--add-licensed-domain goes only with --status licensed"),
        (ReviewStatus::Ignored, false, true) => Ok(Action::IgnoreSite),
        (_, _, true) => Err("--ignore-site goes only with --status ignored"),
        (status, false, false) => Ok(Action::Mark(status)),
    }
}

/// Who decides from the command line: the Unix user (the one behind `sudo` first).
fn unix_user() -> String {
    ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .map(|v| v.trim().to_string())
        .find(|v| !v.is_empty())
        .unwrap_or_else(|| "cli".to_string())
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Combinations clap's derive cannot express are refused like clap's own errors
    // (usage on stderr, exit status 2), before any config is read.
    if let Command::Matches {
        command:
            MatchesCommand::Mark {
                status,
                add_licensed_domain,
                ignore_site,
                ..
            },
    } = &cli.command
    {
        if let Err(message) = mark_action(*status, *add_licensed_domain, *ignore_site) {
            Cli::command()
                .error(clap::error::ErrorKind::ArgumentConflict, message)
                .exit();
        }
    }
    // A workbook is binary: on a terminal it is noise, in a pipe it is rarely meant.
    if let Command::Matches {
        command:
            MatchesCommand::Export {
                format: FormatArg::Xlsx,
                out: None,
                ..
            },
    } = &cli.command
    {
        Cli::command()
            .error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "--format xlsx needs --out FILE (a workbook is not written to standard output)",
            )
            .exit();
    }
    // The service and the demo report progress as info logs; one-shot commands print
    // their results and log only problems.
    let default_level = match cli.command {
        Command::Run | Command::Serve => "info",
        _ => "warn",
    };
    init_logging(cli.log_format, default_level);
    if !matches!(
        cli.command,
        Command::Run | Command::Serve | Command::Demo { .. }
    ) {
        end_quietly_on_closed_pipe();
    }
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("copyhound: {}", printable(&format!("{err:#}")));
            ExitCode::FAILURE
        }
    }
}

/// What `check-config` says of `[evidence] browser`: a line for stdout and, when the
/// setting cannot work as it stands, a warning (not a failure: matches are recorded
/// without screenshots meanwhile).
fn evidence_browser_check(e: &crate::config::EvidenceSettings) -> (String, Option<String>) {
    let Some(browser) = &e.browser else {
        return (
            "evidence: no browser ([evidence] browser not set): evidence files hold the HTTP \
             exchange and its provenance, without screenshots"
                .into(),
            None,
        );
    };
    let line = format!(
        "evidence: pages of new matches rendered with {} (screenshots and a PDF print in each \
         evidence file; timeout {}, memory {} MB per process)",
        browser.display(),
        humantime::format_duration(e.browser_timeout),
        e.browser_memory_mb
    );
    let warning = if !browser.is_file() {
        Some(format!(
            "evidence.browser: {} is not a file; matches are recorded without screenshots \
             until it is",
            browser.display()
        ))
    } else if crate::evidence::browser::is_script(browser) {
        Some(format!(
            "evidence.browser: {} is a script; under the systemd unit (ProcSubset=pid) \
             Debian's wrapper cannot read /proc/cpuinfo and exits: name the binary, \
             /usr/lib/chromium/chromium",
            browser.display()
        ))
    } else {
        None
    };
    (line, warning)
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Compare {
            original,
            candidate,
            json,
        } => {
            let settings = settings_or_builtin(cli.config.as_deref())?;
            // The built-in notice markers apply: a rights notice copied with the article
            // weighs nothing either way.
            let original = load_document(&original)?
                .with_boilerplate(&crate::boilerplate::Boilerplate::default());
            let candidate = load_document(&candidate)?;
            let comparison = detect::compare(&original, &candidate, &settings.detect);
            if json {
                print_json(&CompareReport::new(&original, &candidate, &comparison))?;
            } else {
                print!("{}", render_comparison(&original, &candidate, &comparison));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Extract { file, json } => {
            let bytes = read_bounded(&file)?;
            let extracted = crate::extract::extract(&bytes, None);
            let chars = extracted
                .text
                .chars()
                .filter(|c| !c.is_whitespace())
                .count();
            if json {
                print_json(&serde_json::json!({
                    "title": extracted.title,
                    "method": extracted.method,
                    "encoding": extracted.encoding,
                    "chars": chars,
                    "page_chars": extracted.page_chars,
                    "warnings": extracted.warnings,
                    "text": extracted.text,
                }))?;
            } else {
                let mut out = format!(
                    "title: {}\nmethod: {}  encoding: {}  chars: {chars} of {} readable on the page\n",
                    printable(&extracted.title),
                    extracted.method.as_str(),
                    extracted.encoding,
                    extracted.page_chars
                );
                for warning in &extracted.warnings {
                    out.push_str(&format!("warning: {}\n", printable(warning)));
                }
                out.push_str(&format!("\n{}\n", printable(&extracted.text)));
                // The text is long and often piped into `head`: a closed pipe ends the
                // output, it is not an error.
                match std::io::stdout().lock().write_all(out.as_bytes()) {
                    Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
                    _ => {}
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Fingerprint { files, json } => {
            let mut reports = Vec::new();
            for file in &files {
                let doc = load_document(file)?;
                reports.push(FingerprintReport::new(file, &doc));
            }
            if json {
                print_json(&reports)?;
            } else {
                for report in &reports {
                    print!("{}", report.render());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig => {
            let path = config_path(cli.config.as_deref());
            match Settings::load(&path) {
                Ok(settings) => {
                    let mail = match &settings.email.smtp {
                        Some(smtp) => smtp.display_url(),
                        None => format!(
                            "no smtp_url: .eml files in {}",
                            settings
                                .storage
                                .dir
                                .join(crate::notify::OUTBOX_DIR)
                                .display()
                        ),
                    };
                    // Webhook URLs and secrets are read now, as the outbox will read
                    // them, so a missing file or variable is found before an alert
                    // fails on it. Only names are printed, never a URL or a secret. A
                    // warning, not a failure: the unit runs check-config before the
                    // daemon, and one broken webhook must not stop email and the
                    // others (its alerts fail with the same reason).
                    let webhooks = crate::notify::webhook::Webhooks::from_settings(&settings)?;
                    for problem in webhooks.problems() {
                        eprintln!(
                            "warning: {}: {} (its alerts will fail until this is fixed)",
                            path.display(),
                            printable(&problem)
                        );
                    }
                    let hooks = if webhooks.is_empty() {
                        String::new()
                    } else {
                        format!(", webhooks: {}", printable(&webhooks.describe()))
                    };
                    println!(
                        "{}: ok ({}, {} contact(s), storage in {}, mail via {}{})",
                        path.display(),
                        printable(&settings.outlet.name),
                        settings.contacts.len(),
                        match &settings.storage.database {
                            Some(db) => format!("PostgreSQL {}", db.url),
                            None => settings.storage.dir.display().to_string(),
                        },
                        mail,
                        hooks
                    );
                    println!("{}", describe_evidence_place(&settings.storage.evidence));
                    // A bucket's keys are read as it opens (no request is sent): a
                    // missing or malformed credentials file is named here, not at the
                    // first match.
                    if let Err(e) = crate::evidence::place::Place::open(&settings.storage) {
                        eprintln!(
                            "warning: {}: {} (evidence cannot be written until this is fixed)",
                            path.display(),
                            printable(&e.to_string())
                        );
                    }
                    println!("{}", describe_timestamps(&settings.evidence));
                    let (line, warning) = evidence_browser_check(&settings.evidence);
                    println!("{line}");
                    if let Some(w) = warning {
                        eprintln!("warning: {}: {w}", path.display());
                    }
                    if !webhooks.is_empty() && settings.web.public_url.is_none() {
                        eprintln!(
                            "{}: web.public_url: not set, so webhook messages carry no link to the desk",
                            path.display()
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(err) => {
                    let problems = err.problems();
                    for problem in &problems {
                        eprintln!("{}", printable(problem));
                    }
                    eprintln!("{} problem(s) found", problems.len());
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Migrate => {
            let settings = load_settings(cli.config.as_deref())?;
            let store = Store::open_storage(&settings.storage)?;
            let version = store.schema_version()?;
            println!(
                "{}: schema version {version} (this copyhound knows {})",
                store.path().display(),
                Store::supported_schema_version()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Ingest => {
            let settings = load_settings(cli.config.as_deref())?;
            let mut store = Store::open_storage(&settings.storage)?;
            let progress = TerminalProgress::new();
            let runtime = runtime()?;
            let summary = runtime.block_on(crate::originals::ingest(
                &settings, &mut store, None, &progress,
            ))?;
            progress.finish();
            println!(
                "ingest: {} new, {} updated, {} unchanged, {} failed ({} originals in {})",
                summary.new,
                summary.updated,
                summary.unchanged,
                summary.failed.len(),
                store.original_count()?,
                store.path().display()
            );
            for (what, why) in &summary.failed {
                println!("failed: {}: {}", printable(what), printable(why));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Originals { command } => {
            let settings = load_settings(cli.config.as_deref())?;
            let store = Store::open_storage(&settings.storage)?;
            match command {
                OriginalsCommand::List { json, suspect } => {
                    let mut originals = store.list_originals()?;
                    if suspect {
                        originals.retain(|o| o.suspect.is_some());
                    }
                    if json {
                        print_json(&originals)?;
                    } else if suspect {
                        println!(
                            "{:>6}  {:>6}  {:<11}  {:<50}  url",
                            "id", "chars", "found by", "title"
                        );
                        for o in &originals {
                            println!(
                                "{:>6}  {:>6}  {:<11}  {:<50}  {}",
                                o.id,
                                o.chars,
                                o.extraction,
                                one_line(&o.title, 48),
                                printable(&o.url)
                            );
                            if let Some(why) = &o.suspect {
                                println!("        looks truncated: {}", printable(why));
                            }
                        }
                        println!("{} suspect original(s)", originals.len());
                    } else {
                        println!(
                            "{:>6}  {:<20}  {:>6}  {:<50}  url",
                            "id", "first seen", "chars", "title"
                        );
                        for o in &originals {
                            println!(
                                "{:>6}  {:<20}  {:>6}  {:<50}  {}",
                                o.id,
                                o.first_seen,
                                o.chars,
                                one_line(&o.title, 48),
                                printable(&o.url)
                            );
                        }
                        println!("{} original(s)", originals.len());
                    }
                    Ok(ExitCode::SUCCESS)
                }
                OriginalsCommand::Show { key, json } => {
                    let Some(original) = store.find_original(&OriginalKey::parse(&key))? else {
                        bail!("no original with id or URL {}", printable(&key));
                    };
                    if json {
                        print_json(&original)?;
                    } else {
                        let o = &original;
                        println!(
                            "id: {}\nurl: {}\ntitle: {}",
                            o.id,
                            printable(&o.url),
                            printable(&o.title)
                        );
                        println!("published: {}", o.published.as_deref().unwrap_or("unknown"));
                        println!(
                            "author: {}",
                            printable(o.author.as_deref().unwrap_or("unknown"))
                        );
                        println!(
                            "first seen: {}\nfetched: {}\nsource: {}",
                            o.first_seen,
                            o.fetched_at,
                            printable(&o.source)
                        );
                        println!("version: {} of {}", o.version, o.versions);
                        println!("text found by: {}", extraction_note(&store, o)?);
                        if let Some(why) = &o.suspect {
                            println!(
                                "looks truncated: {} (fix with [[originals.hosts]] body = \"...\")",
                                printable(why)
                            );
                        }
                        println!(
                            "text sha256: {}\nsimhash: {}\nsegments: {}",
                            o.text_sha256, o.simhash, o.segments
                        );
                        println!("\n{}", printable(&o.text));
                    }
                    Ok(ExitCode::SUCCESS)
                }
            }
        }
        Command::RebuildEvidence { ids } => {
            let settings = load_settings(cli.config.as_deref())?;
            let mut store = Store::open_storage(&settings.storage)?;
            let now = chrono::Utc::now();
            let (written, failed) = if ids.is_empty() {
                let done = crate::review::rebuild_missing_evidence(
                    &mut store,
                    &settings,
                    usize::MAX,
                    now,
                )?;
                (done.written, done.failed)
            } else {
                let mut written = Vec::new();
                let mut failed = Vec::new();
                for id in ids {
                    match crate::review::rebuild_evidence(&mut store, &settings, id, now) {
                        Ok(Some(file)) => written.push((id, file)),
                        Ok(None) => println!("match {id}: already has its evidence file"),
                        Err(crate::review::ReviewError::Store(e)) => return Err(e.into()),
                        Err(e) => failed.push((id, e.to_string())),
                    }
                }
                (written, failed)
            };
            for (id, file) in &written {
                println!(
                    "match {id}: evidence {} (sha256 {})",
                    printable(&file.location),
                    file.sha256
                );
            }
            for (_, why) in &failed {
                eprintln!("copyhound: {}", printable(why));
            }
            if !written.is_empty() {
                stamp_before_exit(&runtime()?, &mut store, &settings);
            }
            println!(
                "rebuild-evidence: {} written, {} failed",
                written.len(),
                failed.len()
            );
            Ok(if failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::TimestampPending { now } => {
            let settings = load_settings(cli.config.as_deref())?;
            let client = settings
                .evidence
                .tsa()
                .context("timestamp-pending needs [evidence] tsa_urls and tsa_ca_file")?;
            let mut store = Store::open_storage(&settings.storage)?;
            if now {
                store.retry_timestamps_now()?;
            }
            let place = crate::evidence::place::Place::open(&settings.storage)?;
            let runtime = runtime()?;
            let mut stamped = 0;
            let mut failed = Vec::new();
            // Passes until nothing due is left (each pass is bounded); a file that fails
            // is not due again within this run, so this ends.
            loop {
                let pass = runtime.block_on(crate::evidence::stamping::stamp_pending(
                    &mut store,
                    &place,
                    &settings.evidence,
                    &client,
                ))?;
                for (file, info, delay) in &pass.stamped {
                    println!(
                        "{file}: timestamped by {} at {} (serial {}, {} after the file was written)",
                        printable(&info.tsa_name),
                        crate::evidence::utc(info.gen_time),
                        info.serial,
                        humantime::format_duration(std::time::Duration::from_secs(
                            u64::try_from(*delay).unwrap_or(0)
                        ))
                    );
                }
                let progressed = !pass.stamped.is_empty() || pass.queued > 0;
                stamped += pass.stamped.len();
                failed.extend(pass.failed);
                if !progressed || store.due_timestamps(chrono::Utc::now(), 1)?.is_empty() {
                    break;
                }
            }
            for (file, why) in &failed {
                eprintln!("copyhound: {file}: not timestamped yet: {}", printable(why));
            }
            let (pending, done) = store.timestamp_counts()?;
            println!(
                "timestamp-pending: {stamped} timestamped, {} failed, {pending} pending, {done} done in all",
                failed.len()
            );
            Ok(if pending == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::VerifyEvidence { file, json, tsa_ca } => {
            let settings = optional_settings(cli.config.as_deref())?;
            // A file on this machine is checked where it is; otherwise, with a config,
            // FILE names an evidence file where `[storage]` keeps them (a shared
            // folder or a bucket).
            let (place, name) = evidence_to_verify(&file, settings.as_ref())?;
            let bytes = place
                .read(&name, crate::evidence::MAX_EVIDENCE_BYTES)?
                .with_context(|| format!("{}: no such evidence file", place.location(&name)))?;
            let mut verification = crate::evidence::verify_bytes(&bytes);
            drop(bytes);
            let mut stored_token = None;
            let mut stamp_row = None;
            // With a config, the file's digest is also compared with the one recorded
            // for its match: that catches a file whose record digests were recomputed
            // after an edit.
            if let Some(settings) = &settings {
                let store = Store::open_storage(&settings.storage)?;
                stored_token = store.timestamp_token(&name)?;
                stamp_row = store.evidence_timestamp(&name)?;
                match store.match_by_evidence_file(&name)? {
                    Some((id, Some(recorded))) if recorded == verification.sha256 => verification
                        .records
                        .push(format!("file sha256 matches the digest recorded for match {id}")),
                    Some((id, Some(recorded))) => verification.problems.push(format!(
                        "file sha256 {} differs from {recorded} recorded for match {id}: the file was replaced or altered",
                        verification.sha256
                    )),
                    _ => verification
                        .records
                        .push(format!("no match records {name} in {}", store.path().display())),
                }
            }
            let ca = tsa_ca.or_else(|| {
                settings
                    .as_ref()
                    .and_then(|s| s.evidence.tsa_ca_file.clone())
            });
            let anchors = match &ca {
                Some(path) => Some(crate::evidence::timestamp::TrustAnchors::load(path)?),
                None => None,
            };
            let mut digest = [0u8; 32];
            hex::decode_to_slice(&verification.sha256, &mut digest)
                .context("the file's digest is not hex")?;
            let check = crate::evidence::stamping::check_timestamp(
                &place,
                &name,
                &digest,
                anchors.as_ref(),
                stored_token,
                stamp_row.as_ref(),
                chrono::Utc::now(),
            );
            let check = check.or_else(|| {
                // Timestamps are on but this file was never queued (written before they
                // were, and not yet seen by the daemon or `timestamp-pending`).
                settings
                    .as_ref()
                    .filter(|s| s.evidence.timestamps_enabled())
                    .map(|_| crate::evidence::stamping::TimestampCheck {
                        source: None,
                        info: None,
                        delay_seconds: None,
                        error: None,
                        notes: vec!["no timestamp yet: run `copyhound timestamp-pending`".into()],
                    })
            });
            if let Some(error) = check.as_ref().and_then(|c| c.error.as_ref()) {
                verification.problems.push(format!(
                    "timestamp {}: {error}",
                    check
                        .as_ref()
                        .and_then(|c| c.source.as_deref())
                        .unwrap_or("")
                ));
            }
            verification.timestamp = check;
            if json {
                print_json(&verification)?;
            } else {
                println!("{}: sha256 {}", place.location(&name), verification.sha256);
                for line in &verification.records {
                    println!("  {}", printable(line));
                }
                if let Some(check) = &verification.timestamp {
                    print!("{}", render_timestamp_check(check));
                }
                for problem in &verification.problems {
                    println!("ALTERED: {}", printable(problem));
                }
                println!(
                    "{}",
                    if verification.ok() {
                        "ok: every digest matches"
                    } else {
                        "FAILED: the file was altered or damaged"
                    }
                );
            }
            Ok(if verification.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Alerts { command } => {
            let settings = load_settings(cli.config.as_deref())?;
            let mut store = Store::open_storage(&settings.storage)?;
            match command {
                AlertsCommand::List { json, limit } => {
                    let alerts = store.list_alerts(limit)?;
                    if json {
                        print_json(&alerts)?;
                    } else {
                        print!("{}", render_alerts(&alerts));
                    }
                    Ok(ExitCode::SUCCESS)
                }
                AlertsCommand::Retry { id } => {
                    if store.requeue_failed_alert(id, chrono::Utc::now())? {
                        println!("alert {id}: queued again");
                        Ok(ExitCode::SUCCESS)
                    } else {
                        bail!("no failed alert with id {id}")
                    }
                }
                AlertsCommand::Send { wait } => {
                    let wait = crate::config::parse_duration(&wait)
                        .map_err(|e| anyhow::anyhow!("--wait: {e}"))?;
                    let outbox = crate::notify::Outbox::from_settings(&settings)?;
                    let summary = runtime()?.block_on(crate::notify::deliver_until(
                        &mut store,
                        &settings,
                        &outbox,
                        tokio::time::Instant::now() + wait,
                    ))?;
                    println!(
                        "alerts: {} sent in {}, {} failed, {} still queued (via {})",
                        summary.sent,
                        carriers(&summary),
                        summary.failed,
                        store.pending_alert_count()?,
                        outbox.describe()
                    );
                    Ok(ExitCode::SUCCESS)
                }
            }
        }
        Command::SendTestEmail => {
            let settings = load_settings(cli.config.as_deref())?;
            if settings.contacts.is_empty() {
                bail!("no [[contacts]] in the config: nobody to send a test email to");
            }
            let mailer = crate::notify::Mailer::from_settings(&settings)?;
            let message = crate::notify::test_message(&settings)?;
            match runtime()?.block_on(mailer.send(&message)) {
                Ok(()) => {
                    println!(
                        "test email to {} contact(s) accepted by {}",
                        settings.contacts.len(),
                        mailer.describe()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => bail!("test email not sent via {}: {e}", mailer.describe()),
            }
        }
        Command::Scan { urls } => {
            let settings = load_settings(cli.config.as_deref())?;
            let mut store = Store::open_storage(&settings.storage)?;
            let runtime = runtime()?;
            let (lines, _) =
                runtime.block_on(crate::crawl::pipeline::scan(&settings, &mut store, &urls))?;
            let mut out = std::io::stdout().lock();
            for line in &lines {
                writeln!(out, "{}", line.render())?;
            }
            drop(out);
            deliver_before_exit(&runtime, &mut store, &settings);
            Ok(ExitCode::SUCCESS)
        }
        Command::ScanWarc {
            sources,
            paths,
            base,
            jobs,
            shard,
            rescan,
            no_reject,
            no_live,
            quiet,
            json,
            enqueue,
        } => {
            let settings = load_settings(cli.config.as_deref())?;
            let mut store = Store::open_storage(&settings.storage)?;
            let runtime = runtime()?;
            let mut all: Vec<crate::webarchive::Source> = sources
                .iter()
                .map(|s| crate::webarchive::Source::parse(s))
                .collect();
            if let Some(listing) = &paths {
                let client =
                    crate::webarchive::source::client(&crate::originals::user_agent(&settings))?;
                all.extend(crate::webarchive::source::read_listing(
                    listing,
                    base.as_deref(),
                    &client,
                    runtime.handle(),
                )?);
            }
            if all.is_empty() {
                bail!("scan-warc needs at least one SOURCE or --paths");
            }
            if let Some((i, n)) = shard {
                all = crate::webarchive::source::shard(all, i, n);
            }
            if enqueue {
                let names: Vec<String> = all.iter().map(crate::webarchive::Source::name).collect();
                let added = store.enqueue_warc(&names, chrono::Utc::now())?;
                println!(
                    "enqueued: {added} new, {} already queued",
                    names.len() - added
                );
                return Ok(ExitCode::SUCCESS);
            }
            let options = crate::webarchive::ScanOptions {
                jobs: jobs.max(1),
                progress: !quiet,
                rescan,
                fast_reject: !no_reject,
            };
            let mut summary =
                crate::webarchive::scan(&settings, &store, &all, &options, runtime.handle())?;
            if !no_live {
                let keys: Vec<String> = summary.live_queued.iter().cloned().collect();
                summary.live = Some(runtime.block_on(crate::crawl::pipeline::capture_live(
                    &settings,
                    &mut store,
                    &keys,
                    shutdown_signal(),
                ))?);
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                println!("{}", summary.render());
                if let Some(live) = &summary.live {
                    println!("{}", live.render());
                }
            }
            deliver_before_exit(&runtime, &mut store, &settings);
            Ok(if summary.failed > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Worker {
            lease,
            max_attempts,
            once,
            exit_when_empty,
            worker_id,
            no_reject,
        } => {
            let settings = load_settings(cli.config.as_deref())?;
            let mut store = Store::open_storage(&settings.storage)?;
            let runtime = runtime()?;
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let flag = stop.clone();
            runtime.spawn(async move {
                shutdown_signal().await;
                tracing::info!("stopping after the current record batch");
                flag.store(true, std::sync::atomic::Ordering::Relaxed);
            });
            let options = crate::webarchive::worker::WorkerOptions {
                worker_id: worker_id.unwrap_or_else(crate::webarchive::worker::default_worker_id),
                lease,
                max_attempts,
                once,
                exit_when_empty,
                poll: std::time::Duration::from_secs(5),
                fast_reject: !no_reject,
            };
            let summary = crate::webarchive::worker::run(
                &settings,
                &mut store,
                &options,
                runtime.handle(),
                &stop,
                &mut |store| deliver_before_exit(&runtime, store, &settings),
            )?;
            println!("{}", summary.render());
            Ok(ExitCode::SUCCESS)
        }
        Command::Queue { command } => {
            let settings = load_settings(cli.config.as_deref())?;
            let store = Store::open_storage(&settings.storage)?;
            match command {
                QueueCommand::Status { json } => {
                    let status = store.queue_status(chrono::Utc::now())?;
                    if json {
                        println!("{}", serde_json::to_string_pretty(&status)?);
                    } else {
                        print!("{}", render_queue_status(&status));
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Crawl { once } => {
            if !once {
                bail!(
                    "crawl runs one cycle and needs --once (`copyhound run` crawls continuously)"
                );
            }
            let settings = load_settings(cli.config.as_deref())?;
            let mut store = Store::open_storage(&settings.storage)?;
            let runtime = runtime()?;
            let summary = runtime.block_on(crate::crawl::pipeline::crawl_once(
                &settings,
                &mut store,
                shutdown_signal(),
            ))?;
            println!("{}", summary.render());
            deliver_before_exit(&runtime, &mut store, &settings);
            Ok(ExitCode::SUCCESS)
        }
        Command::Run => run_daemon(cli.config.as_deref()),
        Command::Serve => serve_desk(cli.config.as_deref()),
        Command::Report {
            month,
            lang,
            out,
            pdf,
        } => {
            let settings = load_settings(cli.config.as_deref())?;
            let store = Store::open_storage(&settings.storage)?;
            let language = lang.map_or(settings.outlet.language, LangArg::language);
            let rendered = crate::dashboard::gather::monthly_report(
                &store,
                &settings,
                month,
                language,
                chrono::Utc::now(),
            )?;
            match &out {
                Some(path) => std::fs::write(path, &rendered.html)
                    .with_context(|| format!("{}: cannot write the report", path.display()))?,
                None => {
                    let mut stdout = std::io::stdout().lock();
                    stdout.write_all(rendered.html.as_bytes())?;
                    stdout.flush()?;
                }
            }
            if let Some(pdf) = &pdf {
                let Some(chromium) = &settings.report.chromium else {
                    bail!("--pdf needs a browser: set [report] chromium (such as \"/usr/bin/chromium\")");
                };
                crate::dashboard::gather::print_pdf(chromium, &rendered.html, pdf)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo {
            dir,
            serve,
            browser,
            tsa_urls,
            tsa_ca,
        } => {
            let runtime = runtime()?;
            let options = crate::demo::Options {
                browser,
                tsa_urls,
                tsa_ca,
            };
            let report = runtime.block_on(crate::demo::run(dir.as_deref(), &options))?;
            print!("{}", report.render(serve));
            if serve {
                runtime.block_on(async {
                    let desk = crate::demo::prepare_desk(&report).await?;
                    print!("{}", desk.render());
                    std::io::stdout().flush()?;
                    crate::web::serve(desk.settings, desk.listener, shutdown_signal()).await?;
                    Ok::<_, anyhow::Error>(())
                })?;
                runtime.shutdown_background();
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Matches { command } => {
            let settings = load_settings(cli.config.as_deref())?;
            run_matches(&settings, command)
        }
        Command::EvidenceReport { id, lang, out, pdf } => {
            let settings = load_settings(cli.config.as_deref())?;
            evidence::evidence_report(
                &settings,
                id,
                lang.map(LangArg::language),
                out.as_deref(),
                pdf.as_deref(),
            )
        }
        Command::ExportEvidence { ids, wacz } => {
            let settings = load_settings(cli.config.as_deref())?;
            evidence::export_evidence(&settings, &ids, &wacz)
        }
        Command::Cases { command } => {
            let settings = load_settings(cli.config.as_deref())?;
            cases::run(&settings, command)
        }
        Command::Licences { command } => {
            let settings = load_settings(cli.config.as_deref())?;
            licences::run(&settings, command)
        }
        Command::HashPassword => {
            let mut stdin = std::io::stdin().lock();
            if stdin.is_terminal() {
                eprint!("password (one line, shown as typed): ");
            }
            let mut line = Vec::new();
            // Reading past the limit only by the line ending and one byte tells a long
            // password from one that fits, without reading an unbounded input.
            (&mut stdin)
                .take(MAX_PASSWORD_BYTES as u64 + 3)
                .read_until(b'\n', &mut line)
                .context("cannot read the password from standard input")?;
            let password = password_line(&line)?;
            println!("{}", hash_password(password)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval { data } => {
            let settings = settings_or_builtin(cli.config.as_deref())?;
            if !data.is_dir() {
                bail!(
                    "{}: data folder not found (pass --data DIR pointing at shared/data)",
                    data.display()
                );
            }
            let extraction = crate::eval::extraction::evaluate_extraction(&data)
                .context("extraction evaluation failed")?;
            println!("{}", extraction.render_table());
            let dev = crate::eval::extraction::evaluate_dev_extraction(&data)
                .context("dev-extraction evaluation failed")?;
            println!("{}", dev.render_table());
            let detection = crate::eval::detection::evaluate_detection(&data, &settings.detect)
                .context("detection evaluation failed")?;
            println!("{}", detection.render_table());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `copyhound matches ...`.
fn run_matches(settings: &Settings, command: MatchesCommand) -> Result<ExitCode> {
    let mut store = Store::open_storage(&settings.storage)?;
    match command {
        MatchesCommand::List {
            json,
            filter,
            limit,
        } => {
            let page = store.query_matches(&filter.to_filter(limit.unwrap_or(0)))?;
            if json {
                print_json(&page.matches)?;
            } else {
                println!(
                    "{:>6}  {:<8}  {:>6}  {:<14}  {:<20}  {:<40}  original",
                    "id", "verdict", "share", "status", "first seen", "copy"
                );
                for m in &page.matches {
                    println!(
                        "{:>6}  {:<8}  {:>6.3}  {:<14}  {:<20}  {:<40}  {} ({})",
                        m.id,
                        m.verdict,
                        m.containment,
                        printable(&m.status),
                        m.first_seen,
                        one_line(&m.copy_url, 40),
                        one_line(&m.original_title, 30),
                        printable(&m.original_url)
                    );
                }
                if page.matches.len() as i64 == page.total {
                    println!("{} match(es)", page.total);
                } else {
                    println!("{} of {} match(es)", page.matches.len(), page.total);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        MatchesCommand::Export {
            format,
            out,
            filter,
        } => {
            let format = match format {
                FormatArg::Csv => crate::export::Format::Csv,
                FormatArg::Xlsx => crate::export::Format::Xlsx,
            };
            let page = store.export_matches(&filter.to_filter(crate::export::MAX_EXPORT_ROWS))?;
            let bytes = crate::export::render(format, &page.rows)?;
            match &out {
                Some(path) => std::fs::write(path, &bytes)
                    .with_context(|| format!("{}: cannot write the export", path.display()))?,
                None => {
                    let mut stdout = std::io::stdout().lock();
                    stdout.write_all(&bytes)?;
                    stdout.flush()?;
                }
            }
            let written = page.rows.len();
            if written as i64 == page.total {
                if let Some(path) = &out {
                    eprintln!(
                        "matches export: {written} match(es) written to {}",
                        path.display()
                    );
                }
            } else {
                eprintln!(
                    "matches export: the first {written} of {} match(es) written (an export holds at most {}; narrow it with --status, --site or --verdict)",
                    page.total,
                    crate::export::MAX_EXPORT_ROWS
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        MatchesCommand::Show { id, json } => {
            let Some(m) = store.find_match(id)? else {
                bail!("no match with id {id}");
            };
            let decisions = store.decisions(id)?;
            let provenance = crate::review::provenance(&store, &m)?;
            if json {
                print_json(&MatchShow {
                    detail: &m,
                    archive: provenance.as_ref(),
                    decisions: &decisions,
                })?;
            } else {
                print!(
                    "{}",
                    render_match(settings, &m, provenance.as_ref(), &decisions)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        MatchesCommand::Mark {
            id,
            status,
            note,
            add_licensed_domain,
            ignore_site,
        } => {
            // main() refused a bad combination before the config was read.
            let action = mark_action(status, add_licensed_domain, ignore_site)
                .map_err(anyhow::Error::msg)?;
            let actor = unix_user();
            let report = crate::review::decide(
                &mut store,
                settings,
                &[id],
                &crate::review::Request {
                    action,
                    note: &note,
                    actor: &actor,
                    via: "cli",
                },
                chrono::Utc::now(),
            )?;
            print!("{}", render_decision(&report, id, action));
            if report.no_legal_contact {
                eprintln!(
                    "copyhound: warning: no [[contacts]] with role = \"legal\": nobody was told of this infringement"
                );
            }
            if report.escalated > 0 {
                // The escalation goes out now, as `scan` delivers what it queued; what
                // cannot be delivered stays queued for the daemon.
                deliver_before_exit(&runtime()?, &mut store, settings);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `matches show --json`: the match, where it was found when that was a web archive
/// (`archive`, absent otherwise), and its decisions.
#[derive(Serialize)]
struct MatchShow<'a> {
    #[serde(flatten)]
    detail: &'a MatchDetail,
    #[serde(skip_serializing_if = "Option::is_none")]
    archive: Option<&'a crate::review::Provenance>,
    decisions: &'a [Decision],
}

/// `matches show` as text.
fn render_match(
    settings: &Settings,
    m: &MatchDetail,
    provenance: Option<&crate::review::Provenance>,
    decisions: &[Decision],
) -> String {
    let mut out = String::new();
    let s = &m.summary;
    let _ = writeln!(
        out,
        "id: {}\nverdict: {} ({:.3} of the original)\ncoverage: {}\ncopied: {}\nstatus: {}",
        s.id,
        s.verdict,
        s.containment,
        s.coverage.map_or_else(
            || "not measured".to_string(),
            |c| format!("{c:.3} of the copy")
        ),
        s.copied_chars.map_or_else(
            || "not measured".to_string(),
            |n| format!("{n} characters of the original")
        ),
        printable(&s.status)
    );
    let _ = writeln!(
        out,
        "copy: {}\ncopy title: {}\nhost: {}",
        printable(&s.copy_url),
        one_line(&s.copy_title, 80),
        printable(&s.copy_host)
    );
    let _ = writeln!(
        out,
        "original: {} {}\noriginal title: {}",
        s.original_id,
        printable(&s.original_url),
        one_line(&s.original_title, 80)
    );
    let _ = writeln!(
        out,
        "first seen: {}\nlast seen: {}\ncaptured: {} from {}",
        s.first_seen,
        s.last_seen,
        s.captured_at,
        s.remote_ip.as_deref().unwrap_or("unknown address")
    );
    let c = &m.capture;
    let _ = writeln!(
        out,
        "capture {}: HTTP {} {} ({} bytes, sha256 {})",
        c.id,
        c.status,
        printable(&c.final_url),
        c.raw_body_bytes,
        c.body_sha256
    );
    match (&m.evidence_file, &m.evidence_sha256) {
        (Some(file), Some(sha)) => {
            let _ = writeln!(
                out,
                "evidence: {} (sha256 {sha})",
                evidence_location(settings, file)
            );
        }
        _ => out.push_str("evidence: none recorded\n"),
    }
    if let Some(p) = provenance {
        render_provenance(&mut out, settings, p);
    }
    let _ = writeln!(out, "passages: {}", m.passages.len());
    for p in &m.passages {
        let _ = writeln!(
            out,
            "  original {}..{} = copy {}..{}: {}",
            p.original_start,
            p.original_end,
            p.candidate_start,
            p.candidate_end,
            one_line(&p.text, 60)
        );
    }
    let _ = writeln!(out, "decisions: {}", decisions.len());
    for d in decisions {
        let _ = write!(
            out,
            "  {}  {} via {}: {} -> {}",
            d.decided_at,
            one_line(&d.actor, 40),
            printable(&d.via),
            printable(&d.previous_status),
            printable(&d.status)
        );
        if !d.note.is_empty() {
            let _ = write!(out, ": {}", one_line(&d.note, 200));
        }
        out.push('\n');
    }
    out
}

/// `check-config`'s line on where evidence files live.
fn describe_evidence_place(location: &crate::config::EvidenceLocation) -> String {
    match location {
        crate::config::EvidenceLocation::Dir(dir) => {
            format!("evidence: folder {}", printable(&dir.display().to_string()))
        }
        crate::config::EvidenceLocation::Bucket(b) => format!(
            "evidence: bucket {} at {} (region {})",
            printable(&b.url),
            printable(b.endpoint.as_deref().unwrap_or("AWS S3")),
            printable(&b.region)
        ),
    }
}

/// Where the evidence file `name` is kept, for display: its path or its object's URL
/// (printable: the name comes from the database).
fn evidence_location(settings: &Settings, name: &str) -> String {
    printable(&crate::evidence::place::describe(
        &settings.storage.evidence,
        name,
    ))
}

/// The lines of an archived match: where the record is, which capture is primary,
/// and both evidence files. Archive strings are a stranger's: printed escaped.
fn render_provenance(out: &mut String, settings: &Settings, p: &crate::review::Provenance) {
    let range = crate::notify::report::archive_range(
        p.offset,
        p.length,
        "record at byte {offset}, {length} bytes",
        "record at byte {offset}",
    );
    let _ = writeln!(
        out,
        "found in a web archive: {}, {range}, WARC-Record-ID {}",
        printable(&p.source),
        p.record_id
            .as_deref()
            .map_or_else(|| "none".into(), printable)
    );
    match &p.live_captured_at {
        Some(at) => {
            let _ = writeln!(
                out,
                "primary evidence: the live capture by copyhound at {at}"
            );
        }
        None => out.push_str(
            "primary evidence: archived capture by a third party; live capture pending\n",
        ),
    }
    let file = |name: &Option<String>, sha: &Option<String>| match (name, sha) {
        (Some(n), Some(s)) => format!("{} (sha256 {s})", evidence_location(settings, n)),
        (Some(n), None) => evidence_location(settings, n),
        _ => "none recorded".to_string(),
    };
    let _ = writeln!(
        out,
        "archived evidence: {}",
        file(&p.archived_evidence_file, &p.archived_evidence_sha256)
    );
    let live = if p.live_is_primary() {
        file(&p.live_evidence_file, &p.live_evidence_sha256)
    } else {
        "pending".to_string()
    };
    let _ = writeln!(out, "live evidence: {live}");
}

/// What `matches mark` did, one line per match and per site added to a list.
fn render_decision(report: &DecisionReport, id: i64, action: Action) -> String {
    let status = action.status();
    let mut out = String::new();
    for outcome in &report.outcomes {
        match *outcome {
            DecideOutcome::Recorded {
                match_id,
                previous,
                escalated,
            } => {
                let _ = write!(out, "match {match_id}: {previous} -> {status}");
                if escalated {
                    out.push_str(" (escalation queued for legal)");
                } else if status == ReviewStatus::Infringing && previous == status {
                    out.push_str(" (already infringing: no second escalation)");
                }
                if match_id != id {
                    out.push_str(" (same site)");
                }
                out.push('\n');
            }
            // decide checks every id before writing, so only a match removed in between
            // could get here; matches are never removed, but the line says it all the same.
            DecideOutcome::NotFound { match_id } => {
                let _ = writeln!(out, "match {match_id}: not found");
            }
        }
    }
    for domain in &report.domains_added {
        let _ = match action {
            Action::LicensedAddDomain => writeln!(
                out,
                "licensed sites: added {} (later matches there are recorded as licensed)",
                printable(domain)
            ),
            _ => writeln!(
                out,
                "ignored sites: added {} (later matches there are recorded as ignored and alert nobody)",
                printable(domain)
            ),
        };
    }
    out
}

/// The password of `hash-password`'s input line: one trailing `\n` or `\r\n` removed;
/// empty, overlong and non-UTF-8 passwords refused (the web login sends UTF-8).
fn password_line(line: &[u8]) -> Result<&str> {
    let password = line
        .strip_suffix(b"\r\n")
        .or_else(|| line.strip_suffix(b"\n"))
        .unwrap_or(line);
    if password.is_empty() {
        bail!("empty password: give it on standard input, e.g. `copyhound hash-password < file`");
    }
    if password.len() > MAX_PASSWORD_BYTES {
        bail!("password longer than {MAX_PASSWORD_BYTES} bytes");
    }
    std::str::from_utf8(password).context("the password is not valid UTF-8")
}

/// The Argon2id PHC string of `password` (default parameters, random salt), as
/// `[[web.users]] password_hash` takes it.
fn hash_password(password: &str) -> Result<String> {
    Ok(crate::web::auth::hash_password(password)?)
}

/// The settings when a config file is named (`--config`, `COPYHOUND_CONFIG`) or present
/// at the default path; `None` otherwise.
fn optional_settings(explicit: Option<&Path>) -> Result<Option<Settings>> {
    match explicit {
        Some(path) => Ok(Some(Settings::load(path)?)),
        None if Path::new(DEFAULT_CONFIG_PATH).exists() => {
            Ok(Some(Settings::load(Path::new(DEFAULT_CONFIG_PATH))?))
        }
        None => Ok(None),
    }
}

/// Delivers the queued alerts before a command that records matches exits, waiting at
/// most `notify::EXIT_DELIVERY_WAIT` for retries. The outcome goes to stderr (stdout
/// keeps the command's own format); what is not delivered stays queued for the next
/// run, `copyhound alerts send` or the daemon, so a delivery problem is a warning, not a
/// failure of the command.
fn deliver_before_exit(runtime: &tokio::runtime::Runtime, store: &mut Store, settings: &Settings) {
    // Evidence written by the command is timestamped first: the sooner after the
    // capture, the shorter the delay the token shows.
    stamp_before_exit(runtime, store, settings);
    if store.pending_alert_count().unwrap_or(1) == 0 {
        // Nothing owed: no mail set-up is touched (and none can fail).
        return;
    }
    let result = runtime.block_on(crate::notify::deliver_queued(
        store,
        settings,
        crate::notify::EXIT_DELIVERY_WAIT,
    ));
    let pending = store.pending_alert_count().unwrap_or(0);
    match result {
        Ok(s) if s.sent + s.failed + pending as usize > 0 => eprintln!(
            "alerts: {} sent in {}, {} failed, {} still queued",
            s.sent,
            carriers(&s),
            s.failed,
            pending
        ),
        Ok(_) => {}
        Err(e) => eprintln!(
            "copyhound: alerts not delivered ({pending} queued): {}",
            printable(&e.to_string())
        ),
    }
}

/// `check-config`'s line on trusted timestamps: the TSAs in order and the trust
/// anchors (their subjects), or that evidence is not timestamped.
fn describe_timestamps(evidence: &crate::config::EvidenceSettings) -> String {
    if !evidence.timestamps_enabled() {
        return "timestamps: off (no [evidence] tsa_urls): evidence is dated by this machine's clock only".into();
    }
    let urls: Vec<String> = evidence
        .tsa_urls
        .iter()
        .map(|u| printable(&crate::evidence::timestamp::display_url(u)))
        .collect();
    let anchors = match evidence.tsa() {
        Ok(client) => format!(
            "trust anchors {} ({})",
            client.anchors.source,
            printable(&client.anchors.subjects().join("; "))
        ),
        // Not reached after a successful load (the file was read then), but a file
        // changed since is reported rather than hidden.
        Err(e) => printable(&e.to_string()),
    };
    format!(
        "timestamps: RFC 3161 via {} (in this order, timeout {}, retry {} doubling up to {}); {anchors}",
        urls.join(", "),
        humantime::format_duration(evidence.tsa_timeout),
        humantime::format_duration(evidence.tsa_retry),
        humantime::format_duration(evidence.tsa_retry_max),
    )
}

/// The timestamp lines of `verify-evidence`.
fn render_timestamp_check(check: &crate::evidence::stamping::TimestampCheck) -> String {
    let mut out = String::new();
    if let Some(info) = &check.info {
        let _ = writeln!(
            out,
            "  timestamp ok: {} at {} (serial {}, policy {}{})",
            printable(&info.tsa_name),
            crate::evidence::utc(info.gen_time),
            info.serial,
            info.policy,
            info.accuracy
                .as_deref()
                .map(|a| format!(", accuracy {a}"))
                .unwrap_or_default()
        );
        if let Some(delay) = check.delay_seconds {
            let _ = writeln!(
                out,
                "  timestamp delay: {} after the file was written",
                humantime::format_duration(std::time::Duration::from_secs(
                    u64::try_from(delay).unwrap_or(0)
                ))
            );
        }
        let _ = writeln!(
            out,
            "  timestamp chain: {}; signer valid until {}",
            printable(&info.chain.join(" <- ")),
            crate::evidence::utc(info.signer_not_after)
        );
        if let Some(source) = &check.source {
            let _ = writeln!(out, "  timestamp token: {}", printable(source));
        }
    }
    for note in &check.notes {
        let _ = writeln!(out, "  timestamp: {}", printable(note));
    }
    out
}

/// Requests the trusted timestamps owed (one pass, see `evidence::stamping`) before a
/// command that wrote evidence exits. A TSA that fails leaves the files queued for the
/// daemon or `timestamp-pending`: a warning on stderr, not a failure of the command.
fn stamp_before_exit(runtime: &tokio::runtime::Runtime, store: &mut Store, settings: &Settings) {
    if !settings.evidence.timestamps_enabled() {
        return;
    }
    let client = match settings.evidence.tsa() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("copyhound: timestamps: {}", printable(&e.to_string()));
            return;
        }
    };
    let place = match crate::evidence::place::Place::open(&settings.storage) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("copyhound: timestamps: {}", printable(&e.to_string()));
            return;
        }
    };
    match runtime.block_on(crate::evidence::stamping::stamp_pending(
        store,
        &place,
        &settings.evidence,
        &client,
    )) {
        Ok(pass) => {
            for (file, why) in &pass.failed {
                eprintln!(
                    "copyhound: {file}: not timestamped yet (queued): {}",
                    printable(why)
                );
            }
            if !pass.stamped.is_empty() {
                eprintln!(
                    "timestamps: {} evidence file(s) timestamped",
                    pass.stamped.len()
                );
            }
        }
        Err(e) => eprintln!("copyhound: timestamps: {}", printable(&e.to_string())),
    }
}

/// What carried the alerts of a delivery: `2 email(s)`, and `and 3 webhook message(s)`
/// when webhooks did too.
fn carriers(s: &crate::notify::PassSummary) -> String {
    if s.webhook_posts == 0 {
        format!("{} email(s)", s.emails)
    } else {
        format!(
            "{} email(s) and {} webhook message(s)",
            s.emails, s.webhook_posts
        )
    }
}

/// Settings for commands that need a real config (they write state).
fn load_settings(explicit: Option<&Path>) -> Result<Settings> {
    Ok(Settings::load(&config_path(explicit))?)
}

/// A runtime for the commands that do network I/O.
/// `--lease`: a duration of at least 3 seconds (leases are stored to the second and
/// renewed every third of their length).
fn parse_lease(text: &str) -> std::result::Result<std::time::Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| format!("{text:?}: {e}"))?;
    if d < std::time::Duration::from_secs(3) {
        return Err(format!("{text:?}: a lease must be at least 3s"));
    }
    Ok(d)
}

/// `queue status`: `queued <n>`, `in progress <n>`, `done <n>`, `failed <n>`, then one
/// line per file in progress (`  <worker> TAB <file> TAB lease until <t>[ (expired)]
/// TAB offset <n>`) and per failed file (`  <file> TAB <attempts> attempts TAB <reason>`).
fn render_queue_status(status: &crate::store::QueueStatus) -> String {
    use crate::crawl::sanitize;
    let c = &status.counts;
    let mut out = format!(
        "queued {}\nin progress {}\ndone {}\nfailed {}\n",
        c.queued, c.in_progress, c.done, c.failed
    );
    if !status.in_progress.is_empty() {
        out.push_str("in progress:\n");
    }
    for e in &status.in_progress {
        out.push_str(&format!(
            "  {}\t{}\tlease until {}{}\toffset {}\n",
            sanitize(e.worker.as_deref().unwrap_or("-")),
            sanitize(&e.source),
            e.lease_until.as_deref().unwrap_or("-"),
            if e.lease_expired { " (expired)" } else { "" },
            e.resume_offset
        ));
    }
    if !status.failed.is_empty() {
        out.push_str("failed:\n");
    }
    for e in &status.failed {
        out.push_str(&format!(
            "  {}\t{} attempts\t{}\n",
            sanitize(&e.source),
            e.attempts,
            sanitize(e.reason.as_deref().unwrap_or("-"))
        ));
    }
    out
}

/// `I/N` for `--shard`: 0 <= I < N.
fn parse_shard(text: &str) -> std::result::Result<(usize, usize), String> {
    let (i, n) = text
        .split_once('/')
        .ok_or_else(|| format!("{text:?}: expected I/N, e.g. 0/4"))?;
    let i: usize = i
        .trim()
        .parse()
        .map_err(|_| format!("{text:?}: I is not a number"))?;
    let n: usize = n
        .trim()
        .parse()
        .map_err(|_| format!("{text:?}: N is not a number"))?;
    if n == 0 || i >= n {
        return Err(format!("{text:?}: needs 0 <= I < N"));
    }
    Ok((i, n))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Completes on SIGINT or SIGTERM: the crawl stops starting pages, lets those in flight
/// finish (with a deadline) and writes its state.
async fn shutdown_signal() {
    // A signal handler that cannot be installed must not read as "shut down now".
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                () = ctrl_c => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    ctrl_c.await;
}

/// A one-shot command piped into `head` or `less` ends quietly when the reader goes
/// away, as any Unix tool does, instead of panicking in `println!` with "failed printing
/// to stdout: Broken pipe". Rust ignores SIGPIPE by default so that a network program
/// sees the error instead of dying; the one-shot commands get the default action back.
/// The services (`run`, `serve`, `demo --serve`) keep Rust's default: a reader that
/// goes away must not stop them. Sockets are unaffected either way, since the standard
/// library sends with `MSG_NOSIGNAL`.
fn end_quietly_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: signal(2) with a valid signal number and SIG_DFL, called before any thread
    // that could be writing to a pipe is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Logs go to stderr (journald captures them under systemd); `RUST_LOG` filters them.
///
/// Without `RUST_LOG`, the HTML parser's own warnings are left out: they describe the
/// markup of strangers' pages ("foster parenting not implemented" for every stray table
/// cell), say nothing an operator can act on, and a hostile page could emit thousands of
/// them.
fn init_logging(format: LogFormat, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{default_level},html5ever=error"))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// `copyhound run`: loads the config, binds the endpoint and runs the daemon until
/// SIGTERM/SIGINT.
fn run_daemon(explicit: Option<&Path>) -> Result<ExitCode> {
    let path = config_path(explicit);
    let settings = load_settings(Some(&path))?;
    warn_without_desk_users(&settings);
    let runtime = runtime()?;
    runtime.block_on(async {
        let listener = bind_web(&settings).await?;
        tracing::info!(listen = %settings.web.listen, config = %path.display(), "starting");
        let (reload_tx, reload_rx) = tokio::sync::mpsc::channel(1);
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let mut hup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    // A reload already waiting covers this one too.
                    let _ = reload_tx.try_send(());
                }
            });
        }
        #[cfg(not(unix))]
        drop(reload_tx);
        let daemon = crate::daemon::Daemon {
            config_path: path.clone(),
            notifier: crate::daemon::notify::Notifier::from_env(),
            metrics: std::sync::Arc::default(),
        };
        daemon
            .run(settings, listener, reload_rx, shutdown_signal())
            .await?;
        Ok::<_, anyhow::Error>(())
    })?;
    // Tasks that missed the deadline are dropped with the runtime, without waiting.
    runtime.shutdown_background();
    Ok(ExitCode::SUCCESS)
}

/// Binds `[web] listen`, naming the key when the address is taken or not allowed.
async fn bind_web(settings: &Settings) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(settings.web.listen)
        .await
        .with_context(|| format!("cannot listen on {} ([web] listen)", settings.web.listen))
}

/// The desk runs without users (the health and metrics routes need none), but nobody
/// can log in: say so where the sysadmin looks first.
fn warn_without_desk_users(settings: &Settings) {
    if settings.web.users.is_empty() {
        tracing::warn!(
            "no [[web.users]] in the config: nobody can log in to the review desk (add one with `copyhound hash-password`)"
        );
    }
}

fn serve_desk(explicit: Option<&Path>) -> Result<ExitCode> {
    let path = config_path(explicit);
    let settings = load_settings(Some(&path))?;
    warn_without_desk_users(&settings);
    let runtime = runtime()?;
    runtime.block_on(async {
        let listener = bind_web(&settings).await?;
        let addr = listener.local_addr().unwrap_or(settings.web.listen);
        tracing::info!(listen = %addr, config = %path.display(), "review desk serving");
        crate::web::serve(settings, listener, shutdown_signal()).await?;
        Ok::<_, anyhow::Error>(())
    })?;
    runtime.shutdown_background();
    Ok(ExitCode::SUCCESS)
}

/// A progress bar on a terminal; nothing when stderr is redirected (logs, CI, pipes).
struct TerminalProgress {
    bar: indicatif::ProgressBar,
}

impl TerminalProgress {
    fn new() -> Self {
        use std::io::IsTerminal;
        let bar = if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(0);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {wide_msg}",
            ) {
                bar.set_style(style);
            }
            bar
        } else {
            indicatif::ProgressBar::hidden()
        };
        TerminalProgress { bar }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl crate::originals::Progress for TerminalProgress {
    fn add_work(&self, n: u64) {
        self.bar.inc_length(n);
    }

    fn done(&self, label: &str) {
        self.bar.inc(1);
        self.bar.set_message(one_line(label, 60));
    }
}

/// The config path in force: `--config`/`COPYHOUND_CONFIG`, else the default.
fn config_path(explicit: Option<&Path>) -> PathBuf {
    explicit.map_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH), Path::to_path_buf)
}

/// Settings for commands that can work without a config: an explicitly named file must
/// exist and be valid; the default path is used only when present.
fn settings_or_builtin(explicit: Option<&Path>) -> Result<Settings> {
    match explicit {
        Some(path) => Ok(Settings::load(path)?),
        None if Path::new(DEFAULT_CONFIG_PATH).exists() => {
            Ok(Settings::load(Path::new(DEFAULT_CONFIG_PATH))?)
        }
        None => Ok(Settings::builtin()),
    }
}

/// How an original's text was found, in words, for `originals show`.
fn extraction_note(store: &Store, o: &crate::store::OriginalRecord) -> Result<String> {
    let host = url::Url::parse(&o.url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .unwrap_or_default();
    let page = if o.page_chars > 0 {
        format!(
            ", {} of the page's {} readable characters",
            o.text.chars().filter(|c| !c.is_whitespace()).count(),
            o.page_chars
        )
    } else {
        String::new()
    };
    Ok(match crate::extract::Method::parse(&o.extraction) {
        Some(crate::extract::Method::Template) => {
            let learned = store
                .site_template(&host)?
                .map(|t| format!(", learned from {} pages of {host}", t.pages))
                .unwrap_or_default();
            format!("template (the part of the page that varies across its site's pages{learned}){page}")
        }
        Some(crate::extract::Method::Container) => format!("container (the page's densest block of prose){page}"),
        Some(crate::extract::Method::Readability) => format!(
            "readability (our container held too little of the page's text, so readability's fuller text was taken){page}"
        ),
        Some(crate::extract::Method::Selector) => {
            format!("selector (the [[originals.hosts]] body selector for {host}){page}")
        }
        Some(crate::extract::Method::Feed) => "feed (the full text the outlet's feed carries)".to_string(),
        Some(crate::extract::Method::PlainText) => "plain text (the file as is)".to_string(),
        None => printable(&o.extraction),
    })
}

/// Reads an `.html`/`.htm` page (extracting its article) or a `.txt` file (as is).
fn load_document(path: &Path) -> Result<Document> {
    let kind = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let bytes = read_bounded(path)?;
    match kind.as_deref() {
        Some("html") | Some("htm") => {
            let extracted = crate::extract::extract(&bytes, None);
            Ok(Document::new(extracted.title, extracted.text))
        }
        Some("txt") => {
            let extracted = crate::extract::from_text(&bytes);
            Ok(Document::new(extracted.title, extracted.text))
        }
        _ => bail!(
            "{}: unsupported file type (expected .html, .htm or .txt)",
            path.display()
        ),
    }
}

/// Where `verify-evidence FILE` reads: the file itself when it exists on this machine
/// (its folder as the place, for the `.tsr` beside it), else, with a config, the
/// evidence file of that name where `[storage]` keeps evidence.
fn evidence_to_verify(
    file: &Path,
    settings: Option<&Settings>,
) -> Result<(crate::evidence::place::Place, String)> {
    use crate::evidence::place::Place;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if file.exists() {
        let dir = match file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        return Ok((Place::Dir(dir), name));
    }
    match settings {
        Some(s) if file.components().count() == 1 => Ok((Place::open(&s.storage)?, name)),
        _ => bail!("{}: no such file", file.display()),
    }
}

fn read_bounded(path: &Path) -> Result<Vec<u8>> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("{}: cannot read", path.display()))?;
    if !meta.is_file() {
        bail!("{}: not a regular file", path.display());
    }
    if meta.len() > MAX_INPUT_BYTES {
        bail!(
            "{}: file is larger than {} MB",
            path.display(),
            MAX_INPUT_BYTES / (1024 * 1024)
        );
    }
    std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))
}

fn print_json<T: Serialize>(value: &T) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Makes text from a page or file safe for a terminal: control characters (escape
/// sequences, carriage returns) are shown as `\u{..}` instead of being interpreted.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// One line of a text for a summary: newlines folded, long text cut with an ellipsis.
fn one_line(text: &str, max_chars: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c == '\n' || c == '\t' { ' ' } else { c })
        .collect();
    let mut out: String = flat.chars().take(max_chars).collect();
    if flat.chars().count() > max_chars {
        out.push('…');
    }
    printable(&out)
}

/// The alerts table for `alerts list`.
fn render_alerts(alerts: &[AlertRecord]) -> String {
    let mut out = format!(
        "{:>5}  {:<8}  {:<9}  {:<16}  {:>3}  {:<20}  {:<20}  {:<7}  reason\n",
        "id", "state", "role", "channel", "try", "created", "sent / next attempt", "match"
    );
    for a in alerts {
        let when = match a.state {
            AlertState::Sent => a.sent_at.clone().unwrap_or_default(),
            AlertState::Failed => "-".into(),
            _ => a.next_attempt_at.clone(),
        };
        out.push_str(&format!(
            "{:>5}  {:<8}  {:<9}  {:<16}  {:>3}  {:<20}  {:<20}  {:<7}  {}\n",
            a.id,
            a.state.as_str(),
            a.role,
            a.channel.to_string(),
            a.attempts,
            a.created_at,
            when,
            // A monthly report is about no match: its column says what it is.
            a.match_id.map_or_else(
                || if a.kind == "report" { "report" } else { "-" }.into(),
                |m| m.to_string()
            ),
            one_line(a.last_error.as_deref().unwrap_or(""), 200)
        ));
    }
    let count = |s: AlertState| alerts.iter().filter(|a| a.state == s).count();
    out.push_str(&format!(
        "{} alert(s): {} queued, {} sending, {} sent, {} failed\n",
        alerts.len(),
        count(AlertState::Queued),
        count(AlertState::Sending),
        count(AlertState::Sent),
        count(AlertState::Failed)
    ));
    out
}

#[derive(Serialize)]
struct DocumentReport<'a> {
    title: &'a str,
    text: &'a str,
    simhash: String,
}

impl<'a> DocumentReport<'a> {
    fn new(doc: &'a Document) -> Self {
        DocumentReport {
            title: &doc.title,
            text: &doc.text,
            simhash: hex(doc.fingerprint.whole),
        }
    }
}

#[derive(Serialize)]
struct CompareReport<'a> {
    verdict: detect::Verdict,
    containment: f64,
    coverage: f64,
    copied_chars: usize,
    hamming: u32,
    original: DocumentReport<'a>,
    candidate: DocumentReport<'a>,
    passages: &'a [detect::Passage],
}

impl<'a> CompareReport<'a> {
    fn new(original: &'a Document, candidate: &'a Document, c: &'a Comparison) -> Self {
        CompareReport {
            verdict: c.verdict,
            containment: c.containment,
            coverage: c.coverage,
            copied_chars: c.copied_chars,
            hamming: c.hamming,
            original: DocumentReport::new(original),
            candidate: DocumentReport::new(candidate),
            passages: &c.passages,
        }
    }
}

fn hex(hash: u64) -> String {
    format!("{hash:016x}")
}

fn verdict_name(verdict: detect::Verdict) -> &'static str {
    match verdict {
        detect::Verdict::Copy => "copy",
        detect::Verdict::Partial => "partial",
        detect::Verdict::Unrelated => "unrelated",
    }
}

fn render_comparison(original: &Document, candidate: &Document, c: &Comparison) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "verdict: {}\ncontainment: {:.3} ({:.1}% of the original found in the candidate)\ncoverage: {:.3} ({:.1}% of the candidate is copied text)\ncopied: {} characters of the original\nhamming: {} (whole-text SimHash distance)\n",
        verdict_name(c.verdict),
        c.containment,
        c.containment * 100.0,
        c.coverage,
        c.coverage * 100.0,
        c.copied_chars,
        c.hamming
    ));
    for (label, doc) in [("original", original), ("candidate", candidate)] {
        out.push_str(&format!(
            "{label}: {} ({} chars, simhash {})\n",
            one_line(&doc.title, 80),
            doc.text.chars().count(),
            hex(doc.fingerprint.whole)
        ));
    }
    out.push_str(&format!("passages: {}\n", c.passages.len()));
    for p in &c.passages {
        out.push_str(&format!(
            "  original {}..{} = candidate {}..{}: {}\n",
            p.original_start,
            p.original_end,
            p.candidate_start,
            p.candidate_end,
            one_line(&p.text, 60)
        ));
    }
    out
}

#[derive(Serialize)]
struct SegmentReport {
    start: u32,
    end: u32,
    simhash: String,
}

#[derive(Serialize)]
struct FingerprintReport {
    file: String,
    title: String,
    chars: usize,
    simhash: String,
    segments: Vec<SegmentReport>,
}

impl FingerprintReport {
    fn new(path: &Path, doc: &Document) -> Self {
        FingerprintReport {
            file: path.display().to_string(),
            title: doc.title.clone(),
            chars: doc.text.chars().count(),
            simhash: hex(doc.fingerprint.whole),
            segments: doc
                .fingerprint
                .segments
                .iter()
                .map(|s| SegmentReport {
                    start: s.start,
                    end: s.end,
                    simhash: hex(s.simhash),
                })
                .collect(),
        }
    }

    fn render(&self) -> String {
        let mut out = format!(
            "{}\n  title: {}\n  chars: {}\n  simhash: {}\n  segments: {}\n",
            printable(&self.file),
            one_line(&self.title, 80),
            self.chars,
            self.simhash,
            self.segments.len()
        );
        for s in &self.segments {
            out.push_str(&format!("    {} {}..{}\n", s.simhash, s.start, s.end));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_for_the_terminal() {
        assert_eq!(printable("a\u{1b}[31mb\r"), "a\\u{1b}[31mb\\u{d}");
        assert_eq!(printable("标题\n"), "标题\n");
    }

    #[test]
    fn one_line_cuts_and_flattens() {
        assert_eq!(one_line("ab\ncd", 10), "ab cd");
        assert_eq!(one_line("abcdef", 3), "abc…");
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    fn mark(args: &[&str]) -> Result<Action, String> {
        let mut all = vec!["copyhound", "matches", "mark", "3"];
        all.extend(args);
        let cli = Cli::try_parse_from(all).map_err(|e| e.to_string())?;
        let Command::Matches {
            command:
                MatchesCommand::Mark {
                    status,
                    add_licensed_domain,
                    ignore_site,
                    ..
                },
        } = cli.command
        else {
            panic!("not matches mark")
        };
        mark_action(status, add_licensed_domain, ignore_site).map_err(str::to_string)
    }

    #[test]
    fn mark_options_go_with_their_status() {
        assert_eq!(
            mark(&["--status", "false-positive"]),
            Ok(Action::Mark(ReviewStatus::FalsePositive))
        );
        assert_eq!(
            mark(&["--status", "licensed", "--add-licensed-domain"]),
            Ok(Action::LicensedAddDomain)
        );
        assert_eq!(
            mark(&["--status", "ignored", "--ignore-site"]),
            Ok(Action::IgnoreSite)
        );
        assert!(mark(&["--status", "infringing", "--ignore-site"])
            .unwrap_err()
            .contains("--ignore-site goes only with --status ignored"));
        assert!(mark(&["--status", "ignored", "--add-licensed-domain"])
            .unwrap_err()
            .contains("--add-licensed-domain goes only with --status licensed"));
        let err = mark(&["--status", "unreviewed"]).unwrap_err();
        assert!(
            err.contains("[possible values: infringing, licensed, false-positive, ignored]"),
            "{err}"
        );
    }

    #[test]
    fn password_line_strips_one_line_ending() {
        assert_eq!(password_line(b"s3cret\n").unwrap(), "s3cret");
        assert_eq!(password_line(b"s3cret\r\n").unwrap(), "s3cret");
        assert_eq!(password_line(b"s3cret").unwrap(), "s3cret");
        assert_eq!(password_line(b" two words \n").unwrap(), " two words ");
        assert_eq!(password_line(b"a\n\n").unwrap(), "a\n");
        assert!(password_line(b"\n").is_err());
        assert!(password_line(b"").is_err());
        assert!(password_line(b"\xff\n").is_err());
        let max = "x".repeat(MAX_PASSWORD_BYTES);
        assert!(password_line(max.as_bytes()).is_ok());
        assert!(password_line(format!("{max}y\n").as_bytes()).is_err());
    }

    #[test]
    fn config_is_accepted_after_the_subcommand() {
        let cli = Cli::try_parse_from(["copyhound", "check-config", "--config", "x.toml"]).unwrap();
        assert_eq!(cli.config, Some(PathBuf::from("x.toml")));
    }
}
