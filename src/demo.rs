//! `copyhound demo`: the whole pipeline on loopback, with nothing to set up.
//!
//! Three small fixture sites are served from this process: the outlet (an RSS feed and
//! the two bundled sample articles), a mirror site (a traditional-character copy with
//! pinyin, an excerpt and an unrelated page) on 127.0.0.1, and a licensed partner's copy
//! on 127.0.0.2. A config pointing at them is written to the demo folder; then the real
//! ingest and one real crawl cycle run against them and the recorded matches are printed.
//! `--browser` renders the matches' pages into their evidence files, `--tsa-url` with
//! `--tsa-ca` dates the files with RFC 3161 timestamps (one pass; a TSA that is down
//! leaves them queued, shown as pending), and the summary shows both per match.
//! `--serve` then readies the review desk on the demo's store ([`prepare_desk`]: a demo
//! reviewer whose random password is printed once) for the CLI to serve until Ctrl-C.
//!
//! The sample pages are compiled into the binary, so the demo works from an installed
//! copy. It never reaches beyond loopback: the only URLs it configures are its own, and
//! the time-stamp authorities the user names.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use axum::http::{header, StatusCode, Uri};
use axum::response::IntoResponse;
use url::Url;

use crate::config::{ConfigError, Settings};
use crate::crawl::pipeline::{CrawlSummary, PipelineError};
use crate::originals::{IngestError, IngestSummary, NoProgress};
use crate::store::{MatchSummary, Store, StoreError};

const ORIGINAL_ZH: &[u8] = include_bytes!("../samples/original-zh.html");
const ORIGINAL_EN: &[u8] = include_bytes!("../samples/original-en.html");
const COPY_ZH_MIRROR: &[u8] = include_bytes!("../samples/copy-zh-mirror.html");
const COPY_EN_EXCERPT: &[u8] = include_bytes!("../samples/copy-en-excerpt.html");
const COPY_EN_PARTNER: &[u8] = include_bytes!("../samples/copy-en-partner.html");
const UNRELATED_EN: &[u8] = include_bytes!("../samples/unrelated-en.html");

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Notify(#[from] crate::notify::NotifyError),
    #[error("cannot draw a random password for the demo reviewer: {0}")]
    Random(#[from] getrandom::Error),
    #[error(transparent)]
    Hash(#[from] crate::web::auth::HashError),
    #[error(transparent)]
    Timestamp(#[from] crate::evidence::timestamp::TimestampError),
    #[error(transparent)]
    Stamp(#[from] crate::evidence::stamping::StampError),
}

fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> DemoError {
    let path = path.into();
    move |source| DemoError::Io { path, source }
}

/// What the demo's options add to its config: a browser that renders the matches'
/// pages, and time-stamp authorities (with their trust anchors) that date the evidence.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--browser`: `[evidence] browser`.
    pub browser: Option<PathBuf>,
    /// `--tsa-url`: `[evidence] tsa_urls`, tried in order.
    pub tsa_urls: Vec<url::Url>,
    /// `--tsa-ca`: `[evidence] tsa_ca_file` (required with `tsa_urls`).
    pub tsa_ca: Option<PathBuf>,
}

/// One match's evidence file as the demo's summary shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchEvidence {
    pub file: Option<String>,
    /// The browser's records in the file (`urn:view:`, `urn:fullPage:`, `urn:pdf:`).
    pub rendered: Vec<&'static str>,
    /// The file's trusted timestamp: `Ok((TSA, time))` once it has one, `Err(why)` while
    /// it waits for it (the TSA is down or refused: the file is kept and queued).
    pub timestamp: Option<Result<(String, String), String>>,
}

impl MatchEvidence {
    /// `evidence FILE: browser records urn:view, ...; timestamped by TSA at TIME`.
    fn render(&self) -> Option<String> {
        let file = self.file.as_ref()?;
        let mut line = format!("evidence {file}");
        let mut parts = Vec::new();
        if !self.rendered.is_empty() {
            let names: Vec<&str> = self
                .rendered
                .iter()
                .map(|p| p.trim_end_matches(':'))
                .collect();
            parts.push(format!("browser records {}", names.join(", ")));
        }
        match &self.timestamp {
            Some(Ok((tsa, at))) => parts.push(format!("timestamped by {tsa} at {at}")),
            Some(Err(why)) => parts.push(format!("timestamp pending ({why})")),
            None => {}
        }
        if !parts.is_empty() {
            line.push_str(": ");
            line.push_str(&parts.join("; "));
        }
        Some(line)
    }
}

/// What the demo found and where it left its state.
#[derive(Debug)]
pub struct Report {
    /// The demo folder (config, state).
    pub dir: PathBuf,
    /// The config written for the fixture sites.
    pub config: PathBuf,
    /// The database holding originals, matches and their captures.
    pub database: PathBuf,
    pub ingest: IngestSummary,
    pub crawl: CrawlSummary,
    /// Alerts delivered as `.eml` files to the outbox folder.
    pub alerts: crate::notify::PassSummary,
    /// Where the WARC evidence files are.
    pub evidence_dir: PathBuf,
    /// The browser that rendered the matches' pages (`--browser`), if any.
    pub browser: Option<PathBuf>,
    /// Where the alert emails are.
    pub outbox_dir: PathBuf,
    /// Every match recorded, oldest first.
    pub matches: Vec<MatchSummary>,
    /// Each match's evidence file as the summary shows it, in the order of `matches`.
    pub evidence: Vec<MatchEvidence>,
    /// The time-stamp authorities (`--tsa-url`); empty: no timestamps.
    pub tsa_urls: Vec<url::Url>,
    /// Wall time of the whole demo.
    pub seconds: f64,
}

impl Report {
    /// The human summary `copyhound demo` prints; `serving` when `--serve` follows it
    /// with the desk (which then replaces the hint on how to reach it).
    pub fn render(&self, serving: bool) -> String {
        use crate::cli::printable;
        let mut out = String::new();
        out.push_str(&format!(
            "demo: ingested {} originals from the outlet's feed; crawled the mirror and partner sites: {} pages fetched\n",
            self.ingest.new + self.ingest.updated + self.ingest.unchanged,
            self.crawl.fetched
        ));
        out.push_str(&format!("found {} match(es):\n", self.matches.len()));
        for (i, m) in self.matches.iter().enumerate() {
            let kind = if m.licensed {
                "licensed partner"
            } else {
                "infringing"
            };
            out.push_str(&format!(
                "  #{} {:<8} {:>5.1}%{} of \"{}\" at {} ({kind})\n",
                m.id,
                m.verdict,
                m.containment * 100.0,
                m.copied_chars
                    .map_or_else(String::new, |n| format!(" ({n} chars)")),
                printable(&m.original_title),
                printable(&m.copy_url)
            ));
            if let Some(line) = self.evidence.get(i).and_then(MatchEvidence::render) {
                out.push_str(&format!("      {}\n", printable(&line)));
            }
        }
        let config = self.config.display();
        out.push_str(&format!(
            "alerts: {} email(s) to legal counsel and licensing staff in {}\n",
            self.alerts.emails,
            self.outbox_dir.display()
        ));
        let rendered = self.browser.as_ref().map_or_else(String::new, |b| {
            format!(", with screenshots and a PDF print by {}", b.display())
        });
        let stamped = if self.tsa_urls.is_empty() {
            String::new()
        } else {
            let urls: Vec<String> = self.tsa_urls.iter().map(Url::to_string).collect();
            format!(", RFC 3161 timestamps by {}", urls.join(", "))
        };
        out.push_str(&format!(
            "evidence (WARC captures{rendered}{stamped}): {}\ndatabase (originals, matches): {}\n",
            self.evidence_dir.display(),
            self.database.display()
        ));
        if !self.tsa_urls.is_empty() {
            out.push_str(&format!(
                "verify:  copyhound verify-evidence --config {config} {}/FILE\n",
                self.evidence_dir.display()
            ));
            let pending = self
                .evidence
                .iter()
                .any(|e| matches!(e.timestamp, Some(Err(_))));
            if pending {
                out.push_str(&format!(
                    "pending: copyhound timestamp-pending --now --config {config} (once the TSA answers; the evidence is kept)\n"
                ));
            }
        }
        out.push_str(&format!(
            "inspect: copyhound matches list --config {config}\n         copyhound matches show 1 --config {config}\n"
        ));
        if !serving {
            out.push_str(&format!(
                "review:  copyhound demo --serve --dir {} (the review desk on this store, with a demo login)\n",
                self.dir.display()
            ));
        }
        out.push_str(&format!("done in {:.1}s\n", self.seconds));
        out
    }
}

/// The reviewer `copyhound demo --serve` creates.
pub const DEMO_USER: &str = "demo";

/// The port the demo's desk takes when it is free (the example config's); any free
/// port on loopback otherwise.
const DESK_PORT: u16 = 8600;

/// Characters of the demo reviewer's random password (hex: 80 bits).
const DEMO_PASSWORD_CHARS: usize = 20;

/// The review desk `copyhound demo --serve` is about to serve: where, and the login.
pub struct DemoDesk {
    /// The desk's address, for the browser.
    pub url: String,
    /// The demo reviewer's password, in clear: printed once, never stored.
    pub password: String,
    /// The demo's config, now with `[web]` and the reviewer (its password's hash).
    pub config: PathBuf,
    /// The settings of that config, for [`crate::web::serve`].
    pub settings: Settings,
    /// Bound on loopback.
    pub listener: tokio::net::TcpListener,
}

impl DemoDesk {
    /// What `copyhound demo --serve` prints about the desk.
    pub fn render(&self) -> String {
        format!(
            "review desk: {url}\n  user:     {DEMO_USER}\n  password: {password}\n  (shown only now; {config} keeps only its hash)\nopen {url} in a browser; Ctrl-C stops the desk\n",
            url = self.url,
            password = self.password,
            config = self.config.display()
        )
    }
}

/// Readies the review desk on the demo's store: a demo reviewer with a fresh random
/// password (its Argon2id hash and the desk's address are appended to the demo's
/// config, which the demo writes anew on every run), and a listener on loopback.
///
/// # Errors
/// [`DemoError`] when no port can be bound, no random password drawn, or the config
/// cannot be written or read back.
pub async fn prepare_desk(report: &Report) -> Result<DemoDesk, DemoError> {
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", DESK_PORT)).await {
        Ok(l) => l,
        // Another desk (or anything else) has the usual port: any free one will do,
        // the address is printed.
        Err(_) => bind("127.0.0.1:0").await?.0,
    };
    let addr = listener.local_addr().map_err(io_err(&report.config))?;
    let mut password = crate::web::auth::new_token()?;
    password.truncate(DEMO_PASSWORD_CHARS);
    let hash = crate::web::auth::hash_password(&password)?;
    let mut text = std::fs::read_to_string(&report.config).map_err(io_err(&report.config))?;
    text.push_str(&format!(
        "\n# Added by `copyhound demo --serve`: its desk and demo reviewer.\n[web]\nlisten = \"{addr}\"\n\n[[web.users]]\nname = \"{DEMO_USER}\"\npassword_hash = '{hash}'\n"
    ));
    std::fs::write(&report.config, text).map_err(io_err(&report.config))?;
    let settings = Settings::load(&report.config)?;
    Ok(DemoDesk {
        url: format!("http://{addr}/"),
        password,
        config: report.config.clone(),
        settings,
        listener,
    })
}

type Pages = HashMap<&'static str, (&'static str, Vec<u8>)>;

/// Binds `addr` (port 0) on loopback.
async fn bind(addr: &str) -> Result<(tokio::net::TcpListener, SocketAddr), DemoError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(io_err(addr))?;
    let local = listener.local_addr().map_err(io_err(addr))?;
    Ok((listener, local))
}

/// Serves `pages` (path → content type and body) from a task of the current runtime;
/// the site lives as long as the runtime.
fn serve(listener: tokio::net::TcpListener, pages: Pages) {
    let pages = Arc::new(pages);
    let router = axum::Router::new().fallback(move |uri: Uri| {
        let pages = Arc::clone(&pages);
        async move {
            match pages.get(uri.path()) {
                Some((ctype, body)) => {
                    ([(header::CONTENT_TYPE, *ctype)], body.clone()).into_response()
                }
                None => StatusCode::NOT_FOUND.into_response(),
            }
        }
    });
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, router).await {
            tracing::warn!(error = %err, "demo fixture site stopped");
        }
    });
}

const HTML: &str = "text/html; charset=utf-8";

/// Runs the demo with its state in `dir` (created if needed), or in a new folder under
/// the system's temporary directory that is kept afterwards so it can be inspected.
///
/// # Errors
/// [`DemoError`] when a fixture site cannot listen, the folder cannot be written, or the
/// pipeline cannot run.
pub async fn run(dir: Option<&Path>, options: &Options) -> Result<Report, DemoError> {
    let started = Instant::now();
    let dir = match dir {
        Some(d) => d.to_path_buf(),
        None => std::env::temp_dir().join(format!(
            "copyhound-demo-{}-{}",
            std::process::id(),
            chrono::Utc::now().format("%Y%m%d%H%M%S")
        )),
    };
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;

    // The outlet's feed names its own address, so the site is bound first.
    let (outlet_listener, outlet_addr) = bind("127.0.0.1:0").await?;
    let feed = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\"><channel><title>Demo outlet</title><link>http://{outlet_addr}/</link><description>demo</description>\
         <item><title>zh</title><link>http://{outlet_addr}/articles/zh.html</link></item>\
         <item><title>en</title><link>http://{outlet_addr}/articles/en.html</link></item>\
         </channel></rss>\n"
    );
    let mut outlet_pages = Pages::new();
    outlet_pages.insert("/feed.xml", ("application/rss+xml", feed.into_bytes()));
    outlet_pages.insert("/articles/zh.html", (HTML, ORIGINAL_ZH.to_vec()));
    outlet_pages.insert("/articles/en.html", (HTML, ORIGINAL_EN.to_vec()));
    serve(outlet_listener, outlet_pages);

    let mut mirror = Pages::new();
    mirror.insert(
        "/",
        (
            HTML,
            b"<html><head><title>Mirror Daily Digest</title></head><body><h1>Mirror Daily Digest</h1>\
              <a href=\"/news/zh-mirror.html\">\xe6\xb1\x9f\xe5\x9f\x8e\xe6\x96\xb0\xe8\x81\x9e</a> \
              <a href=\"/news/en-excerpt.html\">Wetland</a> \
              <a href=\"/news/library-hours.html\">Library</a></body></html>"
                .to_vec(),
        ),
    );
    mirror.insert("/news/zh-mirror.html", (HTML, COPY_ZH_MIRROR.to_vec()));
    mirror.insert("/news/en-excerpt.html", (HTML, COPY_EN_EXCERPT.to_vec()));
    mirror.insert("/news/library-hours.html", (HTML, UNRELATED_EN.to_vec()));
    let (listener, mirror_addr) = bind("127.0.0.1:0").await?;
    serve(listener, mirror);

    let mut partner = Pages::new();
    partner.insert(
        "/",
        (
            HTML,
            b"<html><head><title>Valley Partner News</title></head><body>\
              <a href=\"/syndication/wetland.html\">Wetland comeback</a></body></html>"
                .to_vec(),
        ),
    );
    partner.insert(
        "/syndication/wetland.html",
        (HTML, COPY_EN_PARTNER.to_vec()),
    );
    // A second loopback address, so the partner is a different host from the mirror.
    let (listener, partner_addr) = bind("127.0.0.2:0").await?;
    serve(listener, partner);

    let config = dir.join("copyhound.toml");
    let mut text = demo_config(outlet_addr, mirror_addr, partner_addr);
    text.push_str(&evidence_section(options)?);
    std::fs::write(&config, text).map_err(io_err(&config))?;
    let settings = Settings::load(&config)?;

    let mut store = Store::open_storage(&settings.storage)?;
    tracing::info!(outlet = %outlet_addr, mirror = %mirror_addr, partner = %partner_addr, "demo sites up");
    let ingest = crate::originals::ingest(&settings, &mut store, None, &NoProgress).await?;
    let crawl = crate::crawl::pipeline::crawl_once(&settings, &mut store, interrupted()).await?;
    if settings.evidence.timestamps_enabled() {
        // One pass: a TSA that is down or refuses leaves the files queued (shown as
        // pending), for `copyhound timestamp-pending` or the daemon to finish.
        let client = settings.evidence.tsa()?;
        // The demo's config keeps evidence in its folder's `evidence` directory.
        crate::evidence::stamping::stamp_pending(
            &mut store,
            &crate::evidence::place::Place::Dir(
                settings.storage.dir.join(crate::evidence::EVIDENCE_DIR),
            ),
            &settings.evidence,
            &client,
        )
        .await?;
    }
    // The demo has no mail relay: `[email]` is unset, so alerts become `.eml` files.
    let alerts =
        crate::notify::deliver_queued(&mut store, &settings, crate::notify::EXIT_DELIVERY_WAIT)
            .await?;
    let matches = store.list_matches()?;
    let evidence_dir = settings.storage.dir.join(crate::evidence::EVIDENCE_DIR);
    let mut evidence = Vec::with_capacity(matches.len());
    for m in &matches {
        evidence.push(match_evidence(&store, &evidence_dir, &settings, m.id)?);
    }
    Ok(Report {
        evidence,
        tsa_urls: settings.evidence.tsa_urls.clone(),
        alerts,
        evidence_dir: settings.storage.dir.join(crate::evidence::EVIDENCE_DIR),
        browser: settings.evidence.browser.clone(),
        outbox_dir: settings.storage.dir.join(crate::notify::OUTBOX_DIR),
        database: store.path().to_path_buf(),
        dir,
        config,
        ingest,
        crawl,
        matches,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The `[evidence]` section of the demo's config for `options` (empty without any).
fn evidence_section(options: &Options) -> Result<String, DemoError> {
    // TOML strings, quoted and escaped as TOML wants, whatever the values hold.
    let quoted = |s: String| toml::Value::String(s).to_string();
    let mut keys = String::new();
    if let Some(browser) = &options.browser {
        keys.push_str(&format!(
            "browser = {}\n",
            quoted(browser.display().to_string())
        ));
    }
    if !options.tsa_urls.is_empty() {
        let urls: Vec<String> = options
            .tsa_urls
            .iter()
            .map(|u| quoted(u.to_string()))
            .collect();
        keys.push_str(&format!("tsa_urls = [{}]\n", urls.join(", ")));
        // A TSA that does not answer holds the demo at most this long per request.
        keys.push_str("tsa_timeout = \"10s\"\n");
    }
    if let Some(ca) = &options.tsa_ca {
        // Absolute, since the config (in the demo folder) resolves paths from there.
        let ca = std::path::absolute(ca).map_err(io_err(ca))?;
        keys.push_str(&format!(
            "tsa_ca_file = {}\n",
            quoted(ca.display().to_string())
        ));
    }
    Ok(if keys.is_empty() {
        keys
    } else {
        format!("\n[evidence]\n{keys}")
    })
}

/// Match `id`'s evidence file with its browser records and its timestamp.
fn match_evidence(
    store: &Store,
    dir: &Path,
    settings: &Settings,
    id: i64,
) -> Result<MatchEvidence, DemoError> {
    let file = store.find_match(id)?.and_then(|d| d.evidence_file);
    let Some(name) = file else {
        return Ok(MatchEvidence {
            file: None,
            rendered: Vec::new(),
            timestamp: None,
        });
    };
    // A file that cannot be read shows no records; `verify-evidence` says why.
    let rendered = crate::evidence::read_artefacts(&dir.join(&name))
        .unwrap_or_default()
        .into_iter()
        .map(|(kind, _)| kind.urn_prefix())
        .collect();
    let timestamp = if settings.evidence.timestamps_enabled() {
        Some(match store.evidence_timestamp(&name)? {
            Some(t) if t.state == "done" => Ok((
                t.tsa_name.unwrap_or_default(),
                t.gen_time.unwrap_or_default(),
            )),
            Some(t) => Err(t
                .last_error
                // The pass stops asking after the TSAs fail one file.
                .unwrap_or_else(|| "queued, not requested yet".to_string())),
            None => Err("not queued yet".to_string()),
        })
    } else {
        None
    };
    Ok(MatchEvidence {
        file: Some(name),
        rendered,
        timestamp,
    })
}

/// Completes on Ctrl-C, so an interrupted demo still writes its crawl state.
async fn interrupted() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The demo's config: the outlet's feed, the mirror and partner as seeds, loopback
/// allowed (these are our own fixture sites), no politeness delay.
fn demo_config(outlet: SocketAddr, mirror: SocketAddr, partner: SocketAddr) -> String {
    format!(
        r#"# Written by `copyhound demo` for its loopback fixture sites.
[outlet]
name = "江城日报社 (demo)"
website = "https://www.jiangcheng-daily.example"
address = "江城市滨江路 88 号"

[[contacts]]
role = "legal"
name = "Demo counsel"
email = "legal@jiangcheng-daily.example"

[[contacts]]
role = "licensing"
name = "Demo licensing desk"
email = "licensing@jiangcheng-daily.example"

[storage]
dir = "state"

[originals]
feeds = ["http://{outlet}/feed.xml"]

[crawl]
seeds = ["http://{mirror}/", "http://{partner}/"]
licensed = ["{partner_ip}"]
max_depth = 2
per_host_delay = "0s"
allow_private_networks = true
timeout = "10s"
"#,
        partner_ip = partner.ip()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_evidence_section_quotes_what_it_is_given() {
        assert_eq!(
            evidence_section(&Options::default()).ok(),
            Some(String::new())
        );
        let options = Options {
            browser: Some(PathBuf::from("/opt/chrome \"beta\"/chromium")),
            tsa_urls: vec![
                Url::parse("http://tsa.example/a").unwrap_or_else(|e| panic!("{e}")),
                Url::parse("https://tsa2.example/").unwrap_or_else(|e| panic!("{e}")),
            ],
            tsa_ca: Some(PathBuf::from("/etc/tsa/ca.pem")),
        };
        let text = evidence_section(&options).unwrap_or_else(|e| panic!("{e}"));
        let parsed: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let evidence = &parsed["evidence"];
        assert_eq!(
            evidence["browser"].as_str(),
            Some("/opt/chrome \"beta\"/chromium")
        );
        assert_eq!(
            evidence["tsa_urls"].as_array().map(Vec::len),
            Some(2),
            "{text}"
        );
        assert_eq!(evidence["tsa_ca_file"].as_str(), Some("/etc/tsa/ca.pem"));
    }

    #[test]
    fn a_match_line_shows_its_records_and_timestamp() {
        let mut e = MatchEvidence {
            file: Some("f.warc.gz".into()),
            rendered: vec!["urn:view:", "urn:pdf:"],
            timestamp: Some(Ok(("CN=TSA".into(), "2026-12-05T07:00:00Z".into()))),
        };
        assert_eq!(
            e.render().as_deref(),
            Some("evidence f.warc.gz: browser records urn:view, urn:pdf; timestamped by CN=TSA at 2026-12-05T07:00:00Z")
        );
        e.rendered.clear();
        e.timestamp = Some(Err("down".into()));
        assert_eq!(
            e.render().as_deref(),
            Some("evidence f.warc.gz: timestamp pending (down)")
        );
        e.timestamp = None;
        assert_eq!(e.render().as_deref(), Some("evidence f.warc.gz"));
        e.file = None;
        assert_eq!(e.render(), None);
    }
}
