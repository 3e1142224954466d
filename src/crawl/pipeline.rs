//! The crawler pipeline: fetch a page, extract it, look it up in the archive, verify it
//! against each candidate original, and record the matches with their capture.
//!
//! Two entry points share one per-page path ([`visit`]):
//! - [`scan`]: check the URLs an operator names, now (`copyhound scan`);
//! - [`crawl_once`]: one full crawl cycle over the frontier (`copyhound crawl --once`):
//!   seeds, the watched sites' sitemaps and feeds, search discovery, then the frontier
//!   until nothing is due.
//!
//! Concurrency: the cycle's loop owns the [`Store`]; each page is a tokio task that waits
//! for its host's politeness permit, fetches, and runs the CPU-bound detection on the
//! blocking pool, then sends its result back over a bounded channel. At most
//! `connections_per_host` tasks exist per host and at most twice `concurrency` in all, so
//! a slow host holds only its own slots while the others go on.
//!
//! Durability: a match is recorded (one transaction with its capture) as soon as its
//! page's result arrives, before anything else about that page. Inside that transaction
//! each new match gets its evidence file (`evidence::write_bundle`, written and synced
//! first) recorded with it, and its alerts queued in the outbox (`notify::new_alerts`). The frontier bookkeeping
//! is batched ([`CrawlBatch`]); losing a batch to a crash only means its pages are fetched
//! again, and a page matching an original already recorded is not recorded again.
//!
//! Reviewers' lists: each scan and each crawl cycle loads a new [`Detector`], which reads
//! the licensed and ignored site lists the review desk keeps (`Store::site_list`), so a
//! change there applies from the next cycle without a restart. A licensed site's
//! matches are recorded `licensed` (counsel is not alerted); an ignored site's are
//! recorded `ignored`, with their evidence file, and alert nobody. A site on both lists
//! is ignored (and its matches still flagged licensed).
//!
//! Examination and recording (the [`Detector`], [`record`], the evidence stage) live in
//! [`crate::examine`], shared with the web archive scanner; this module fetches pages
//! and hands them over.
//!
//! This module never speaks SQL (the store does) and never decides what a copy is
//! (`detect` does); it composes them. Crawled strings reach logs only through
//! [`sanitize`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;
use url::Url;

use crate::config::Settings;
use crate::crawl::discovery;
use crate::crawl::fetch::{
    Capture, ContentKind, FetchError, FetchOutcome, PageFetcher, Validators,
};
use crate::crawl::frontier;
use crate::crawl::links::extract_links;
use crate::crawl::politeness::{AcquireError, HostScheduler};
use crate::crawl::robots::RobotsCache;
use crate::crawl::sanitize;
use crate::crawl::urls::{dedupe_key, host_key, normalize, UrlRules};
use crate::detect::Verdict;
pub use crate::examine::{
    record, verdict_name, Detector, Examination, ExamineError, Finding, MatchCounts, Original,
    ORIGINAL_CACHE_SIZE,
};
use crate::originals::sources::{self, Sitemap};
use crate::originals::IngestError;
use crate::store::{
    CrawlBatch, FetchRecord, FrontierItem, FrontierUrl, OriginalKey, Store, StoreError,
};

/// Claimed frontier URLs held in memory waiting for a task.
const MAX_PENDING: usize = 2048;

/// Frontier URLs of one host claimed at a time, so one deep site cannot fill the
/// pending queue.
const PENDING_PER_HOST: usize = 256;

/// The batch of frontier bookkeeping is written after this many pages...
const BATCH_PAGES: usize = 256;

/// ...or after this long, whichever comes first.
const BATCH_INTERVAL: Duration = Duration::from_millis(500);

/// Fetch attempts of one URL before a transient failure becomes permanent.
const MAX_ATTEMPTS: u32 = 5;

/// A URL that failed transiently is not tried again before this long.
const MIN_RETRY: Duration = Duration::from_secs(60);

/// A URL whose host's page budget ran out waits this long (the next cycle).
const BUDGET_RETRY: Duration = Duration::from_secs(3600);

/// Sitemaps (indexes included) and feeds read per cycle at most.
const MAX_SOURCES: usize = 1000;

/// How deep sitemap indexes may nest.
const MAX_SITEMAP_DEPTH: usize = 3;

/// Search queries sent per cycle at most: with the default interval, a large archive is
/// searched over many cycles instead of one cycle taking days.
const MAX_QUERIES_PER_CYCLE: usize = 100;

/// After shutdown is asked for, tasks in flight get this long to finish.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

/// Why the pipeline could not run (a single page failing is a result, not an error).
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Archive(#[from] IngestError),
    #[error(transparent)]
    Examine(#[from] ExamineError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Plain(#[from] crate::fetch::FetchError),
}

/// What the tasks share.
struct Shared {
    fetcher: PageFetcher,
    robots: RobotsCache,
    sched: HostScheduler,
    detector: Detector,
    /// The evidence browser (`[evidence] browser`), through the fetcher's guard.
    renderer: Option<crate::evidence::browser::Renderer>,
}

/// What became of one page.
#[derive(Debug)]
pub enum PageResult {
    /// A 2xx page. `examination` is `None` when the page was not examined: unchanged
    /// since the last fetch, or the outlet's own (`own`).
    Fetched {
        capture: Box<Capture>,
        changed: bool,
        own: bool,
        links: Vec<Url>,
        examination: Option<Result<Examination, String>>,
    },
    /// 304: unchanged since the validators were taken.
    NotModified,
    /// The host asked us to come back after this long.
    RetryAfter(Duration),
    /// robots.txt disallows the URL (or a redirect hop of it).
    Disallowed,
    /// The host's page budget for this cycle is used up.
    BudgetExhausted,
    /// The fetch failed; `transient` failures may pass.
    Failed { error: String, transient: bool },
    /// The page answered 404 or 410: it is gone (a permanent failure).
    Gone { error: String },
    /// The crawler is shutting down; the page was not fetched.
    Closed,
}

/// Fetches one page politely and examines it when it changed. `previous_sha` is the
/// content hash of the last fetch (an identical body is not examined again).
async fn visit(
    shared: Arc<Shared>,
    url: Url,
    host: String,
    validators: Option<Validators>,
    previous_sha: Option<String>,
    follow_links: bool,
) -> PageResult {
    visit_as(
        shared,
        url,
        host,
        validators,
        previous_sha,
        follow_links,
        ContentKind::Page,
    )
    .await
}

/// [`visit`] expecting a document of `kind` ([`ContentKind::Recheck`] for a case's
/// re-check, which keeps a 404/410 answer as a capture).
async fn visit_as(
    shared: Arc<Shared>,
    url: Url,
    host: String,
    validators: Option<Validators>,
    previous_sha: Option<String>,
    follow_links: bool,
    kind: ContentKind,
) -> PageResult {
    // An address the guard refuses is reported as such, before robots.txt (whose fetch
    // the guard would refuse too, which would read as "disallowed").
    if let Err(e) = shared.fetcher.guard().check_url(&url) {
        return PageResult::Failed {
            error: e.to_string(),
            transient: false,
        };
    }
    let permit = match shared.sched.acquire(&host).await {
        Ok(p) => p,
        Err(AcquireError::BudgetExhausted { .. }) => return PageResult::BudgetExhausted,
        Err(AcquireError::Closed) => return PageResult::Closed,
    };
    // robots.txt is fetched (when not cached) under the host's permit, like any request.
    let rules = shared.robots.rules_for(&url).await;
    shared.sched.set_crawl_delay(&host, rules.crawl_delay);
    if let Some(reason) = rules.disallow_reason() {
        // robots.txt could not be read: the site is off limits for now, which is a
        // transient failure, not the site's wish.
        return PageResult::Failed {
            error: format!("{url}: {reason}"),
            transient: true,
        };
    }
    if !rules.allowed(&url) {
        return PageResult::Disallowed;
    }
    let outcome = shared
        .fetcher
        .fetch_allowed(&url, kind, validators.as_ref(), &shared.robots)
        .await;
    let capture = match outcome {
        Ok(FetchOutcome::Fetched(c)) => {
            permit.success();
            c
        }
        Ok(FetchOutcome::NotModified) => {
            permit.success();
            return PageResult::NotModified;
        }
        Ok(FetchOutcome::RetryAfter(d)) => {
            permit.retry_after(d);
            return PageResult::RetryAfter(d);
        }
        Err(FetchError::Robots { .. }) => return PageResult::Disallowed,
        Err(FetchError::Status {
            status: status @ (404 | 410),
            url: gone,
        }) => {
            permit.success();
            return PageResult::Gone {
                error: format!("{gone}: HTTP {status}"),
            };
        }
        Err(e) => {
            let transient = e.is_transient();
            if transient {
                permit.failure();
            } else {
                permit.success();
            }
            tracing::debug!(url = %sanitize(url.as_str()), error = %sanitize(&e.to_string()), "fetch failed");
            return PageResult::Failed {
                error: e.to_string(),
                transient,
            };
        }
    };
    tracing::debug!(url = %sanitize(capture.final_url.as_str()), status = capture.status, "page fetched");
    let changed = previous_sha.as_deref() != Some(capture.body_sha256.as_str());
    if !changed {
        return PageResult::Fetched {
            capture,
            changed,
            own: false,
            links: Vec::new(),
            examination: None,
        };
    }
    let task_shared = Arc::clone(&shared);
    let joined = tokio::task::spawn_blocking(move || {
        let links = if follow_links {
            let html = crate::extract::decode(capture.body(), capture.content_type.as_deref()).0;
            extract_links(&html, &capture.final_url)
        } else {
            Vec::new()
        };
        let own = task_shared.detector.is_own(&capture.requested_url)
            || task_shared.detector.is_own(&capture.final_url);
        let examination = (!own).then(|| {
            task_shared
                .detector
                .examine(&capture)
                .map_err(|e| e.to_string())
        });
        // Only a page that will get a new evidence file is worth a browser. A re-check
        // always writes one, but only the re-checker knows whether the copy is still
        // online (worth rendering), so it renders the page itself.
        let wants_rendering = task_shared.renderer.is_some()
            && kind != ContentKind::Recheck
            && matches!(&examination, Some(Ok(exam)) if task_shared
                .detector
                .wants_evidence(&capture, exam)
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "cannot tell whether a match is new; rendering the page");
                    true
                }));
        (
            PageResult::Fetched {
                capture,
                changed,
                own,
                links,
                examination,
            },
            wants_rendering,
        )
    })
    .await;
    match joined {
        Ok((result, false)) => result,
        Ok((result, true)) => render_for_evidence(&shared, result).await,
        Err(e) => PageResult::Failed {
            error: format!("{url}: detection task failed: {e}"),
            transient: false,
        },
    }
}

/// Renders a page with new matches in the evidence browser and attaches the artefacts
/// to its examination. A failed rendering is logged and the page goes on without it:
/// the match is recorded all the same, its evidence file without screenshots.
async fn render_for_evidence(shared: &Shared, mut result: PageResult) -> PageResult {
    let (
        Some(renderer),
        PageResult::Fetched {
            capture,
            examination: Some(Ok(exam)),
            ..
        },
    ) = (&shared.renderer, &mut result)
    else {
        return result;
    };
    match renderer.render(&capture.final_url).await {
        Ok(rendering) => {
            tracing::info!(
                url = %sanitize(capture.final_url.as_str()),
                notes = %sanitize(&rendering.notes.join("; ")),
                "page rendered for evidence"
            );
            exam.rendering = Some(Arc::new(rendering));
        }
        Err(e) => tracing::warn!(
            url = %sanitize(capture.final_url.as_str()),
            error = %sanitize(&e.to_string()),
            "page not rendered; its evidence has no screenshots"
        ),
    }
    result
}

fn shared_for(store: &Store, settings: &Settings) -> Result<Arc<Shared>, PipelineError> {
    let fetcher = PageFetcher::new(&settings.crawl)?;
    Ok(Arc::new(Shared {
        robots: RobotsCache::new(fetcher.clone(), &settings.crawl),
        sched: HostScheduler::new(&settings.crawl),
        detector: Detector::load(store, settings)?,
        renderer: crate::evidence::browser::Renderer::from_settings(
            &settings.evidence,
            fetcher.shared_guard(),
        ),
        fetcher,
    }))
}

fn fetch_record(item_key: &str, url: &str, capture: Option<&Capture>, status: u16) -> FetchRecord {
    FetchRecord {
        url_key: item_key.to_string(),
        url: url.to_string(),
        final_url: capture.map(|c| c.final_url.to_string()),
        fetched_at: capture.map_or_else(Utc::now, |c| c.finished_at),
        status: capture.map_or(status, |c| c.status),
        etag: capture.and_then(|c| c.validators.etag.clone()),
        last_modified: capture.and_then(|c| c.validators.last_modified.clone()),
        content_sha256: capture.map(|c| c.body_sha256.clone()),
    }
}

/// The guarded crawler for a case's re-checks: the same fetcher, robots.txt cache,
/// politeness and examination as `scan` and the crawl, one page at a time.
pub struct Rechecker {
    shared: Arc<Shared>,
    hosts: Vec<String>,
}

/// What a re-check's fetch got.
#[derive(Debug)]
pub enum RecheckFetch {
    /// An answer with a body: a 2xx page with its examination, or a 404/410 (examined
    /// too, which finds nothing).
    Page {
        capture: Box<Capture>,
        examination: Result<Examination, String>,
    },
    /// No answer that says either way: why.
    Failed(String),
}

impl Rechecker {
    /// A re-checker with the archive loaded from `store`.
    ///
    /// # Errors
    /// [`PipelineError`] when the archive cannot be loaded or the HTTP client cannot
    /// start.
    pub fn new(store: &Store, settings: &Settings) -> Result<Rechecker, PipelineError> {
        Ok(Rechecker {
            shared: shared_for(store, settings)?,
            hosts: Vec::new(),
        })
    }

    /// Fetches `url` (guard, robots.txt and politeness apply) and examines the page.
    pub async fn fetch(&mut self, url: &Url) -> RecheckFetch {
        let host = host_key(url);
        self.hosts.push(host.clone());
        let result = visit_as(
            Arc::clone(&self.shared),
            url.clone(),
            host,
            None,
            None,
            false,
            ContentKind::Recheck,
        )
        .await;
        match result {
            PageResult::Fetched {
                capture,
                examination: Some(examination),
                ..
            } => RecheckFetch::Page {
                capture,
                examination,
            },
            PageResult::Fetched { .. } => {
                RecheckFetch::Failed("the outlet's own page, not compared".into())
            }
            PageResult::NotModified => {
                RecheckFetch::Failed("HTTP 304 to an unconditional request".into())
            }
            PageResult::RetryAfter(d) => {
                RecheckFetch::Failed(format!("the site asks to retry after {}s", d.as_secs()))
            }
            PageResult::Disallowed => RecheckFetch::Failed("disallowed by robots.txt".into()),
            PageResult::BudgetExhausted => {
                RecheckFetch::Failed("the host's page budget is used up".into())
            }
            PageResult::Failed { error, .. } | PageResult::Gone { error } => {
                RecheckFetch::Failed(error)
            }
            PageResult::Closed => RecheckFetch::Failed("shutting down".into()),
        }
    }

    /// Renders `url` in the evidence browser (`[evidence] browser`): the same renderer,
    /// guard and bounds as a new match's page. `None` when no browser is configured; a
    /// failed rendering is returned for the caller to note, and never stops the
    /// re-check, whose evidence file is then written without screenshots.
    pub async fn render(
        &self,
        url: &Url,
    ) -> Option<Result<crate::evidence::browser::Rendering, crate::evidence::browser::RenderError>>
    {
        let renderer = self.shared.renderer.as_ref()?;
        let result = renderer.render(url).await;
        match &result {
            Ok(rendering) => tracing::info!(
                url = %sanitize(url.as_str()),
                notes = %sanitize(&rendering.notes.join("; ")),
                "re-checked page rendered for evidence"
            ),
            Err(e) => tracing::warn!(
                url = %sanitize(url.as_str()),
                error = %sanitize(&e.to_string()),
                "re-checked page not rendered; its evidence has no screenshots"
            ),
        }
        Some(result)
    }

    /// Saves the politeness state of the hosts fetched (as `scan` does).
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot be written.
    pub fn finish(&self, store: &mut Store) -> Result<(), StoreError> {
        save_hosts(store, &self.shared.sched, &self.hosts)
    }
}

/// One line of `copyhound scan`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ScanLine {
    /// The URL as given.
    pub url: String,
    /// `copy`, `partial`, `unrelated`, `not-modified`, `disallowed by robots.txt` or
    /// `error: <reason>`.
    pub verdict: String,
    /// The best original's URL for `copy`/`partial`.
    pub original_url: Option<String>,
    /// Containment of the best candidate (0 when none was compared).
    pub containment: f64,
}

impl ScanLine {
    fn error(url: &str, reason: impl std::fmt::Display) -> ScanLine {
        ScanLine {
            url: url.to_string(),
            verdict: format!("error: {reason}"),
            original_url: None,
            containment: 0.0,
        }
    }

    /// `<url>\t<verdict>\t<best original url or ->\t<containment, 3 decimals>`, with
    /// control characters of crawled strings escaped.
    pub fn render(&self) -> String {
        format!(
            "{}\t{}\t{}\t{:.3}",
            sanitize(&self.url),
            sanitize(&self.verdict),
            sanitize(self.original_url.as_deref().unwrap_or("-")),
            self.containment
        )
    }
}

/// Fetches `urls` now (robots.txt, politeness and the guard apply), examines them,
/// records their matches, and returns one line per URL in order. The request is
/// unconditional, so a verdict is always fresh.
///
/// # Errors
/// [`PipelineError`] when the store or archive cannot be used or the HTTP client cannot
/// start; a page that fails is a line, not an error.
pub async fn scan(
    settings: &Settings,
    store: &mut Store,
    urls: &[String],
) -> Result<(Vec<ScanLine>, MatchCounts), PipelineError> {
    let shared = shared_for(store, settings)?;
    let rules = UrlRules::from_settings(&settings.crawl);
    let mut lines = Vec::with_capacity(urls.len());
    let mut counts = MatchCounts::default();
    for given in urls {
        let parsed = match Url::parse(given.trim()) {
            Ok(u) => u,
            Err(e) => {
                lines.push(ScanLine::error(given, format!("invalid URL: {e}")));
                continue;
            }
        };
        let url = match normalize(&parsed, &rules) {
            Ok(u) => u,
            Err(e) => {
                lines.push(ScanLine::error(given, e));
                continue;
            }
        };
        if shared.detector.is_own(&url) {
            lines.push(ScanLine::error(
                given,
                "the outlet's own page, not compared",
            ));
            continue;
        }
        let key = dedupe_key(&url);
        let host = host_key(&url);
        let result = visit(Arc::clone(&shared), url.clone(), host, None, None, false).await;
        let line = match result {
            PageResult::Fetched {
                capture,
                own,
                examination,
                ..
            } => {
                store.record_fetch(&fetch_record(&key, url.as_str(), Some(&capture), 0))?;
                match examination {
                    _ if own => ScanLine::error(given, "the outlet's own page, not compared"),
                    Some(Ok(exam)) => {
                        record(store, &shared.detector, &capture, &exam, &mut counts)?;
                        match exam.best() {
                            Some(best) => ScanLine {
                                url: given.clone(),
                                verdict: verdict_name(best.comparison.verdict).to_string(),
                                original_url: (best.comparison.verdict != Verdict::Unrelated)
                                    .then(|| best.original.url.clone()),
                                containment: best.comparison.containment,
                            },
                            None => ScanLine {
                                url: given.clone(),
                                verdict: "unrelated".into(),
                                original_url: None,
                                containment: 0.0,
                            },
                        }
                    }
                    Some(Err(e)) => ScanLine::error(given, e),
                    None => ScanLine::error(given, "page not examined"),
                }
            }
            PageResult::NotModified => ScanLine {
                url: given.clone(),
                verdict: "not-modified".into(),
                original_url: None,
                containment: 0.0,
            },
            PageResult::Disallowed => ScanLine {
                url: given.clone(),
                verdict: "disallowed by robots.txt".into(),
                original_url: None,
                containment: 0.0,
            },
            PageResult::RetryAfter(d) => ScanLine::error(
                given,
                format!("the site asks to retry after {}s", d.as_secs()),
            ),
            PageResult::BudgetExhausted => {
                ScanLine::error(given, "the host's page budget for this cycle is used up")
            }
            PageResult::Failed { error, .. } | PageResult::Gone { error } => {
                ScanLine::error(given, error)
            }
            PageResult::Closed => ScanLine::error(given, "shutting down"),
        };
        lines.push(line);
    }
    save_hosts(store, &shared.sched, &urls_hosts(urls))?;
    Ok((lines, counts))
}

fn urls_hosts(urls: &[String]) -> Vec<String> {
    urls.iter()
        .filter_map(|u| Url::parse(u.trim()).ok())
        .map(|u| host_key(&u))
        .collect()
}

fn save_hosts(
    store: &mut Store,
    sched: &HostScheduler,
    hosts: &[String],
) -> Result<(), StoreError> {
    let now = Utc::now();
    let mut seen = HashSet::new();
    for h in hosts {
        if !seen.insert(h) {
            continue;
        }
        if let Some(snapshot) = sched.snapshot(h) {
            store.save_host(&frontier::host_record(&snapshot, now), now)?;
        }
    }
    Ok(())
}

/// What one crawl cycle did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CrawlSummary {
    /// Pages fetched with a new or changed body (examined).
    pub fetched: usize,
    /// Pages answered 304, or with the same body as last time (not examined again).
    pub not_modified: usize,
    /// Fetches that failed, or were disallowed by robots.txt.
    pub failed: usize,
    /// New matches recorded.
    pub matches: MatchCounts,
    /// Frontier URLs still queued at the end (not due yet, or over a host's budget).
    pub queued: u64,
    /// URLs found by search discovery this cycle.
    pub discovered: usize,
}

impl CrawlSummary {
    /// `crawl: <n> pages fetched, <n> not modified, <n> failed, <n> matches (<n> copy,
    /// <n> partial, <n> licensed), frontier <n> queued`, then `, <n> on ignored sites`
    /// when any match was on a site the reviewers ignore. The line stays as it was
    /// before the review desk existed whenever no site is ignored, so scripts reading
    /// it keep working.
    pub fn render(&self) -> String {
        let mut line = format!(
            "crawl: {} pages fetched, {} not modified, {} failed, {} matches ({} copy, {} partial, {} licensed), frontier {} queued",
            self.fetched,
            self.not_modified,
            self.failed,
            self.matches.total(),
            self.matches.copy,
            self.matches.partial,
            self.matches.licensed,
            self.queued
        );
        if self.matches.ignored > 0 {
            line.push_str(&format!(", {} on ignored sites", self.matches.ignored));
        }
        line
    }
}

/// Reads the watched sites' sitemaps and feeds (configured, and the `Sitemap:` lines of
/// the seed hosts' robots.txt) and returns their in-scope page URLs as depth-0 entries.
async fn read_sources(shared: &Shared, settings: &Settings, rules: &UrlRules) -> Vec<FrontierUrl> {
    let crawl = &settings.crawl;
    // (url, is a feed, sitemap index depth)
    let mut queue: VecDeque<(Url, bool, usize)> = VecDeque::new();
    queue.extend(crawl.feeds.iter().map(|u| (u.clone(), true, 0)));
    queue.extend(crawl.sitemaps.iter().map(|u| (u.clone(), false, 0)));
    let mut seed_origins = HashSet::new();
    for seed in &crawl.seeds {
        if !seed_origins.insert(seed.origin().ascii_serialization()) {
            continue;
        }
        let robots = shared.robots.rules_for(seed).await;
        queue.extend(robots.sitemaps.iter().map(|u| (u.clone(), false, 0)));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    while let Some((url, is_feed, depth)) = queue.pop_front() {
        if !seen.insert(url.to_string()) {
            continue;
        }
        if seen.len() > MAX_SOURCES {
            tracing::warn!(
                limit = MAX_SOURCES,
                "too many sitemaps and feeds; the rest wait for the next cycle"
            );
            break;
        }
        let host = host_key(&url);
        let permit = match shared.sched.acquire(&host).await {
            Ok(p) => p,
            Err(_) => continue,
        };
        let body = match shared
            .fetcher
            .fetch_allowed(&url, ContentKind::Feed, None, &shared.robots)
            .await
        {
            Ok(FetchOutcome::Fetched(c)) => {
                permit.success();
                c
            }
            Ok(FetchOutcome::RetryAfter(d)) => {
                permit.retry_after(d);
                continue;
            }
            Ok(FetchOutcome::NotModified) => continue,
            Err(e) => {
                if e.is_transient() {
                    permit.failure();
                }
                tracing::warn!(source = %sanitize(url.as_str()), error = %sanitize(&e.to_string()), "cannot read sitemap or feed");
                continue;
            }
        };
        let links = if is_feed {
            match sources::parse_feed(body.body(), &body.final_url) {
                Ok(links) => links,
                Err(e) => {
                    tracing::warn!(error = %sanitize(&e.to_string()), "cannot parse feed");
                    continue;
                }
            }
        } else {
            match sources::parse_sitemap(body.body(), &body.final_url) {
                Ok(Sitemap::Index(children)) => {
                    if depth < MAX_SITEMAP_DEPTH {
                        queue.extend(children.into_iter().map(|c| (c, false, depth + 1)));
                    }
                    continue;
                }
                Ok(Sitemap::Pages(links)) => links,
                Err(e) => {
                    tracing::warn!(error = %sanitize(&e.to_string()), "cannot parse sitemap");
                    continue;
                }
            }
        };
        out.extend(
            links
                .iter()
                .filter(|l| crate::crawl::urls::in_scope(&l.url, &crawl.scope))
                .filter_map(|l| frontier::entry(&l.url, 0, Some(url.as_str()), rules)),
        );
    }
    out
}

/// Search discovery: for originals not searched yet, ask SearXNG for their most
/// distinctive sentences and return the results as frontier entries at `max_depth`
/// (fetched, not followed). Each searched original is recorded in the store.
async fn discover(
    settings: &Settings,
    store: &mut Store,
    detector: &Detector,
    rules: &UrlRules,
) -> Result<Vec<FrontierUrl>, PipelineError> {
    let Some(base) = &settings.discovery.searxng_url else {
        return Ok(Vec::new());
    };
    let fetcher = crate::fetch::Fetcher::new(
        &crate::originals::user_agent(settings),
        crate::fetch::FetchLimits {
            max_body_bytes: discovery::MAX_ANSWER_BYTES,
            ..crate::fetch::FetchLimits::default()
        },
    )?;
    let mut out = Vec::new();
    for (i, id) in store
        .unsearched_originals(MAX_QUERIES_PER_CYCLE)?
        .into_iter()
        .enumerate()
    {
        let Some(original) = store.find_original(&OriginalKey::Id(id))? else {
            continue;
        };
        let query = discovery::search_query(&original.text, detector.boilerplate());
        if query.is_empty() {
            store.mark_searched(id, 0, Utc::now())?;
            continue;
        }
        if i > 0 {
            tokio::time::sleep(settings.discovery.interval).await;
        }
        let url = discovery::search_url(base, &query);
        let answer = match fetcher.get(&url).await {
            Ok(a) => a,
            Err(e) => {
                // The instance is down or refusing: try the rest next cycle.
                tracing::warn!(error = %sanitize(&e.to_string()), "search discovery failed");
                break;
            }
        };
        let results = match discovery::parse_results(&answer.body, &url) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %sanitize(&e.to_string()), "search discovery failed");
                break;
            }
        };
        let found: Vec<FrontierUrl> = results
            .iter()
            .filter(|u| !detector.is_own(u))
            .filter_map(|u| frontier::entry(u, settings.crawl.max_depth, None, rules))
            .collect();
        tracing::info!(original = id, results = found.len(), "searched");
        store.mark_searched(id, found.len(), Utc::now())?;
        out.extend(found);
    }
    Ok(out)
}

/// The crawl loop's in-memory state.
struct Loop {
    pending: HashMap<String, VecDeque<FrontierItem>>,
    pending_count: usize,
    active: usize,
    active_per_host: HashMap<String, usize>,
    batch: CrawlBatch,
    last_flush: tokio::time::Instant,
    hosts: HashSet<String>,
    summary: CrawlSummary,
    /// The live captures' outcomes (counted for every page; read for `Claim::Keys`).
    live: LiveCaptures,
}

impl Loop {
    fn flush(&mut self, store: &mut Store) -> Result<usize, StoreError> {
        // The clock restarts even for an empty batch, so the loop's flush timer sleeps
        // instead of spinning.
        self.last_flush = tokio::time::Instant::now();
        if self.batch.is_empty() {
            return Ok(0);
        }
        let added = store.apply_crawl_batch(&self.batch, Utc::now())?;
        self.batch = CrawlBatch::default();
        Ok(added)
    }

    fn retry(&mut self, item: &FrontierItem, error: &str, after: Duration) {
        let at = Utc::now() + chrono::Duration::from_std(after).unwrap_or(chrono::Duration::zero());
        self.batch
            .failed
            .push((item.url_key.clone(), error.to_string(), Some(at)));
    }
}

/// One crawl cycle (`copyhound crawl --once`): resume what an interrupted run left,
/// queue the seeds, sitemaps, feeds and search results, then fetch every due frontier URL
/// (and the links found, within scope and depth) until none is left, recording matches
/// as they are found. Ends early, cleanly, when `shutdown` completes.
///
/// # Errors
/// [`PipelineError`] when the store or archive cannot be used or the HTTP client cannot
/// start; failing pages are counted, not errors.
pub async fn crawl_once(
    settings: &Settings,
    store: &mut Store,
    shutdown: impl Future<Output = ()>,
) -> Result<CrawlSummary, PipelineError> {
    crawl_cycle(settings, store, shutdown, SHUTDOWN_DEADLINE, None).await
}

/// [`crawl_once`] with the time pages in flight get after `shutdown` completes: the
/// daemon passes a share of its own `[daemon] shutdown_timeout`, so the cycle writes its
/// state before the daemon's deadline instead of being dropped mid-way. `outbox_bell`
/// is rung each time a page's matches queue alerts (committed by then), so the
/// daemon's outbox sends them at once instead of at its next poll.
///
/// # Errors
/// As [`crawl_once`].
pub async fn crawl_cycle(
    settings: &Settings,
    store: &mut Store,
    shutdown: impl Future<Output = ()>,
    shutdown_deadline: Duration,
    outbox_bell: Option<&tokio::sync::Notify>,
) -> Result<CrawlSummary, PipelineError> {
    let crawl = &settings.crawl;
    let rules = UrlRules::from_settings(crawl);
    let now = Utc::now();
    store.requeue_interrupted()?;
    // A new cycle revisits every page fetched before, conditionally.
    store.requeue_done(now)?;
    let shared = shared_for(store, settings)?;
    for record in store.load_hosts()? {
        shared.sched.restore(&frontier::host_snapshot(&record, now));
    }
    store.enqueue_urls(&frontier::seeds(crawl), now)?;
    let from_sources = read_sources(&shared, settings, &rules).await;
    store.enqueue_urls(&from_sources, Utc::now())?;
    let discovered = discover(settings, store, &shared.detector, &rules).await?;
    store.enqueue_urls(&discovered, Utc::now())?;
    let summary = CrawlSummary {
        discovered: discovered.len(),
        ..CrawlSummary::default()
    };
    let state = run_frontier(
        store,
        &shared,
        crawl,
        &rules,
        Claim::Due,
        summary,
        shutdown,
        shutdown_deadline,
        outbox_bell,
    )
    .await?;
    Ok(state.summary)
}

/// Which frontier URLs [`run_frontier`] fetches.
#[derive(Clone, Copy)]
enum Claim<'a> {
    /// Every due URL, conditionally (a crawl cycle).
    Due,
    /// Only these keys, when queued and due, unconditionally: the live captures a web
    /// archive scan queued (at `max_depth`, so their links are not followed).
    Keys(&'a [String]),
}

/// Fetches frontier URLs ([`Claim`]) politely until none is left (or `shutdown`),
/// recording matches as their pages arrive: the loop of a crawl cycle, also run over
/// the live captures of `scan-warc`. Saves the hosts' politeness state at the end.
#[allow(clippy::too_many_arguments)]
async fn run_frontier(
    store: &mut Store,
    shared: &Arc<Shared>,
    crawl: &crate::config::CrawlSettings,
    rules: &UrlRules,
    claim: Claim<'_>,
    summary: CrawlSummary,
    shutdown: impl Future<Output = ()>,
    shutdown_deadline: Duration,
    outbox_bell: Option<&tokio::sync::Notify>,
) -> Result<Loop, PipelineError> {
    let max_active = crawl.concurrency.saturating_mul(2).max(2);
    let (tx, mut rx) = mpsc::channel::<(FrontierItem, PageResult)>(max_active);
    let mut state = Loop {
        pending: HashMap::new(),
        pending_count: 0,
        active: 0,
        active_per_host: HashMap::new(),
        batch: CrawlBatch::default(),
        last_flush: tokio::time::Instant::now(),
        hosts: HashSet::new(),
        summary,
        live: LiveCaptures::default(),
    };
    let mut exhausted = false;
    let mut stopping = false;
    let mut deadline: Option<tokio::time::Instant> = None;
    tokio::pin!(shutdown);

    loop {
        // Refill from the frontier when running low; links found since the last claim
        // must be written first so they can be claimed.
        if !stopping
            && state.pending_count < MAX_PENDING / 2
            && (!exhausted || !state.batch.enqueue.is_empty())
        {
            state.flush(store)?;
            let items = match claim {
                Claim::Due => store.claim_due_spread(
                    Utc::now(),
                    MAX_PENDING - state.pending_count,
                    PENDING_PER_HOST,
                )?,
                Claim::Keys(keys) => store.claim_keys(keys, Utc::now())?,
            };
            exhausted = items.is_empty();
            for item in items {
                state.hosts.insert(item.host.clone());
                state
                    .pending
                    .entry(item.host.clone())
                    .or_default()
                    .push_back(item);
                state.pending_count += 1;
            }
        }
        // Start tasks: per host up to its connection limit, in all up to `max_active`.
        if !stopping {
            let hosts: Vec<String> = state.pending.keys().cloned().collect();
            for host in hosts {
                while state.active < max_active
                    && state.active_per_host.get(&host).copied().unwrap_or(0)
                        < crawl.connections_per_host
                {
                    let Some(item) = state.pending.get_mut(&host).and_then(VecDeque::pop_front)
                    else {
                        break;
                    };
                    state.pending_count -= 1;
                    let Ok(url) = Url::parse(&item.url) else {
                        state.batch.failed.push((
                            item.url_key.clone(),
                            "unparseable URL".into(),
                            None,
                        ));
                        continue;
                    };
                    let last = match claim {
                        Claim::Due => store.last_fetch(&item.url_key)?,
                        Claim::Keys(_) => None,
                    };
                    let validators = last.as_ref().map(|r| Validators {
                        etag: r.etag.clone(),
                        last_modified: r.last_modified.clone(),
                    });
                    let previous_sha = last.and_then(|r| r.content_sha256);
                    let follow = item.depth < crawl.max_depth;
                    *state.active_per_host.entry(host.clone()).or_default() += 1;
                    state.active += 1;
                    let tx = tx.clone();
                    let shared = Arc::clone(shared);
                    let host = host.clone();
                    tokio::spawn(async move {
                        let result =
                            visit(shared, url, host, validators, previous_sha, follow).await;
                        // The receiver lives until every task has reported or the
                        // shutdown deadline passed; a send after that has no one to tell.
                        let _ = tx.send((item, result)).await;
                    });
                }
                if state.pending.get(&host).is_some_and(VecDeque::is_empty) {
                    state.pending.remove(&host);
                }
            }
        }
        if state.active == 0 {
            if stopping || (state.pending_count == 0 && exhausted && state.batch.enqueue.is_empty())
            {
                break;
            }
            if state.pending_count == 0 {
                continue;
            }
        }
        let flush_in = BATCH_INTERVAL.saturating_sub(state.last_flush.elapsed());
        tokio::select! {
            received = rx.recv() => {
                // `tx` is held by this function, so the channel never closes here.
                let Some((item, result)) = received else { break };
                state.active -= 1;
                if let Some(n) = state.active_per_host.get_mut(&item.host) {
                    *n = n.saturating_sub(1);
                }
                let alerts_before = state.summary.matches.alerts;
                let live_before = state.summary.matches.live;
                // The page answered: gone, or examined (then it still holds the copy,
                // or no longer does).
                let answered = matches!(
                    result,
                    PageResult::Gone { .. }
                        | PageResult::Fetched {
                            examination: Some(Ok(_)),
                            ..
                        }
                );
                handle(&mut state, store, shared, crawl, rules, item, result)?;
                if state.summary.matches.live > live_before {
                    state.live.captured += 1;
                } else if answered {
                    state.live.gone += 1;
                } else {
                    state.live.failed += 1;
                }
                if state.summary.matches.alerts > alerts_before {
                    if let Some(bell) = outbox_bell {
                        bell.notify_one();
                    }
                }
                if state.batch.pages() >= BATCH_PAGES {
                    state.flush(store)?;
                }
            }
            () = tokio::time::sleep(flush_in) => {
                state.flush(store)?;
            }
            () = &mut shutdown, if !stopping => {
                tracing::info!(active = state.active, "shutting down: waiting for pages in flight");
                stopping = true;
                shared.sched.close();
                deadline = Some(tokio::time::Instant::now() + shutdown_deadline);
            }
            () = async { if let Some(d) = deadline { tokio::time::sleep_until(d).await } else { std::future::pending().await } } => {
                tracing::warn!(active = state.active, "shutdown deadline passed; pages in flight are fetched again next run");
                break;
            }
        }
    }
    // Claimed URLs that never started go back to the queue.
    let leftovers: Vec<FrontierItem> = state.pending.drain().flat_map(|(_, q)| q).collect();
    for item in leftovers {
        state.retry(&item, "not fetched before the cycle ended", Duration::ZERO);
    }
    state.flush(store)?;
    let hosts: Vec<String> = state.hosts.iter().cloned().collect();
    save_hosts(store, &shared.sched, &hosts)?;
    state.summary.queued = store.frontier_counts()?.queued;
    Ok(state)
}

/// What became of the live captures `scan-warc` queued (see [`capture_live`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LiveCaptures {
    /// The page still holds the copy: the live capture is now the match's primary
    /// evidence.
    pub captured: usize,
    /// The page answered 404 or 410, or no longer holds the copy: the archived capture
    /// stays primary.
    pub gone: usize,
    /// Not captured (network error, robots.txt, the guard, a host's budget or delay,
    /// shutdown): transient failures stay queued for the daemon's next crawl.
    pub failed: usize,
}

impl LiveCaptures {
    /// `live captures: <n> captured, <n> gone, <n> failed`.
    pub fn render(&self) -> String {
        format!(
            "live captures: {} captured, {} gone, {} failed",
            self.captured, self.gone, self.failed
        )
    }
}

/// Captures now the live pages a web archive scan queued (frontier keys `keys`):
/// the crawl cycle's loop ([`run_frontier`]) over just those URLs, through the same
/// guard, robots.txt, politeness and examination. A page still holding its copy
/// becomes its match's primary evidence (`Store::record_matches_with`). URLs not due
/// (a site's Retry-After, a backoff) or not fetched stay queued for the daemon.
///
/// # Errors
/// [`PipelineError`] when the store or archive cannot be used or the HTTP client cannot
/// start; failing pages are counted, not errors.
pub async fn capture_live(
    settings: &Settings,
    store: &mut Store,
    keys: &[String],
    shutdown: impl Future<Output = ()>,
) -> Result<LiveCaptures, PipelineError> {
    if keys.is_empty() {
        return Ok(LiveCaptures::default());
    }
    let crawl = &settings.crawl;
    let rules = UrlRules::from_settings(crawl);
    let shared = shared_for(store, settings)?;
    let now = Utc::now();
    for record in store.load_hosts()? {
        shared.sched.restore(&frontier::host_snapshot(&record, now));
    }
    let state = run_frontier(
        store,
        &shared,
        crawl,
        &rules,
        Claim::Keys(keys),
        CrawlSummary::default(),
        shutdown,
        SHUTDOWN_DEADLINE,
        None,
    )
    .await?;
    Ok(state.live)
}

/// Applies one page's result: matches recorded at once, the rest into the batch.
fn handle(
    state: &mut Loop,
    store: &mut Store,
    shared: &Shared,
    crawl: &crate::config::CrawlSettings,
    rules: &UrlRules,
    item: FrontierItem,
    result: PageResult,
) -> Result<(), PipelineError> {
    match result {
        PageResult::Fetched {
            capture,
            changed,
            links,
            examination,
            ..
        } => {
            if changed {
                state.summary.fetched += 1;
                match examination {
                    Some(Ok(exam)) => record(
                        store,
                        &shared.detector,
                        &capture,
                        &exam,
                        &mut state.summary.matches,
                    )?,
                    Some(Err(e)) => {
                        tracing::warn!(url = %sanitize(&item.url), error = %sanitize(&e), "page not examined")
                    }
                    None => {}
                }
                state
                    .batch
                    .enqueue
                    .extend(frontier::follow(&links, &item, crawl, rules));
            } else {
                state.summary.not_modified += 1;
            }
            state
                .batch
                .fetches
                .push(fetch_record(&item.url_key, &item.url, Some(&capture), 0));
            state.batch.done.push(item.url_key);
        }
        PageResult::NotModified => {
            state.summary.not_modified += 1;
            // A 304 carries no body: the last fetch's validators and hash stay current.
            state.batch.done.push(item.url_key);
        }
        PageResult::RetryAfter(d) => state.retry(&item, "the site asked to retry later", d),
        PageResult::BudgetExhausted => state.retry(&item, "page budget used up", BUDGET_RETRY),
        PageResult::Closed => state.retry(&item, "crawler shut down", Duration::ZERO),
        PageResult::Disallowed => {
            state.summary.failed += 1;
            // robots.txt may change: ask again once the cached copy has expired.
            state.retry(&item, "disallowed by robots.txt", crawl.robots_ttl);
        }
        PageResult::Gone { error } => {
            state.summary.failed += 1;
            state.batch.failed.push((item.url_key, error, None));
        }
        PageResult::Failed { error, transient } => {
            state.summary.failed += 1;
            if transient && item.attempts < MAX_ATTEMPTS {
                let backoff = crate::crawl::politeness::backoff_delay(
                    item.attempts,
                    MIN_RETRY,
                    crawl.max_backoff.max(MIN_RETRY),
                );
                state.retry(&item, &error, backoff);
            } else {
                state.batch.failed.push((item.url_key, error, None));
            }
        }
    }
    Ok(())
}
