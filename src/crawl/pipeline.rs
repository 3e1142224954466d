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
//! This module never speaks SQL (the store does) and never decides what a copy is
//! (`detect` does); it composes them. Crawled strings reach logs only through
//! [`sanitize`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
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
use crate::crawl::urls::{dedupe_key, host_key, normalize, DomainSet, UrlRules};
use crate::detect::{compare, Comparison, DetectParams, Document, Verdict};
use crate::evidence::{CopyFacts, MatchFacts, OriginalFacts, WarcInfo};
use crate::notify::report::EvidenceRef;
use crate::originals::sources::{self, Sitemap};
use crate::originals::{load_archive, Archive, IngestError};
use crate::store::{
    CrawlBatch, FetchRecord, FrontierItem, FrontierUrl, MatchEvidence, MatchOutcome, NewMatch,
    OriginalKey, SiteList, SiteListEntry, Store, StoreError,
};

/// Originals kept prepared (normalised, fingerprinted) in memory: the ones copied most
/// are looked up again and again, and preparing one costs as much as a page.
pub const ORIGINAL_CACHE_SIZE: usize = 512;

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
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Plain(#[from] crate::fetch::FetchError),
}

/// An original prepared for verification.
#[derive(Debug)]
pub struct Original {
    pub id: i64,
    /// The version prepared (the current one when it was loaded).
    pub version: i64,
    pub url: String,
    pub title: String,
    pub doc: Document,
}

/// A bounded map of prepared originals, least recently used out first.
struct OriginalCache {
    /// Its own connection: the crawl loop's store is busy writing, and readers do not
    /// block the writer in WAL mode.
    store: Store,
    entries: HashMap<i64, (Arc<Original>, u64)>,
    tick: u64,
}

impl OriginalCache {
    fn get(
        &mut self,
        id: i64,
        boilerplate: &crate::boilerplate::Boilerplate,
    ) -> Result<Option<Arc<Original>>, StoreError> {
        self.tick += 1;
        let tick = self.tick;
        if let Some((original, used)) = self.entries.get_mut(&id) {
            *used = tick;
            return Ok(Some(Arc::clone(original)));
        }
        let Some(record) = self.store.find_original(&OriginalKey::Id(id))? else {
            return Ok(None);
        };
        let doc = Document::new(record.title.clone(), record.text).with_boilerplate(boilerplate);
        let original = Arc::new(Original {
            id,
            version: record.version,
            url: record.url,
            title: record.title,
            doc,
        });
        if self.entries.len() >= ORIGINAL_CACHE_SIZE {
            if let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| *k)
            {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(id, (Arc::clone(&original), tick));
        Ok(Some(original))
    }
}

/// One candidate original compared with a page.
#[derive(Debug, Clone)]
pub struct Finding {
    pub original: Arc<Original>,
    pub comparison: Comparison,
}

/// What detection made of one page.
#[derive(Debug, Clone, Default)]
pub struct Examination {
    /// The page's extracted title.
    pub title: String,
    /// Every candidate compared, best first (copy before partial before unrelated, then
    /// by containment).
    pub findings: Vec<Finding>,
}

impl Examination {
    /// The best finding, if any candidate was compared.
    pub fn best(&self) -> Option<&Finding> {
        self.findings.first()
    }
}

/// The verdict as printed and stored.
pub fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Copy => "copy",
        Verdict::Partial => "partial",
        Verdict::Unrelated => "unrelated",
    }
}

fn rank(v: Verdict) -> u8 {
    match v {
        Verdict::Copy => 2,
        Verdict::Partial => 1,
        Verdict::Unrelated => 0,
    }
}

/// Detection against the archive, shared by all page tasks.
pub struct Detector {
    archive: Archive,
    params: DetectParams,
    /// `[crawl] licensed` and the reviewers' licensed list, as they were when the
    /// detector was loaded (each scan and each crawl cycle loads its own, so a list
    /// changed on the desk applies from the next one).
    licensed: DomainSet,
    /// The sites reviewers ignore: matches there are recorded `ignored`, alerting nobody.
    ignored: DomainSet,
    /// The outlet's own website (its host without `www.`): never matched against itself.
    own_site: DomainSet,
    /// Frontier keys of the originals' URLs: a syndicated path to one of our own
    /// articles is not a copy of it.
    own_urls: HashSet<String>,
    rules: UrlRules,
    originals: Mutex<OriginalCache>,
    /// What the evidence stage and the alerts need when a new match is recorded.
    evidence: EvidenceStage,
}

/// The settings the evidence stage and the alert queue need, taken once.
struct EvidenceStage {
    /// `[storage] dir`: evidence files go under its `evidence` folder.
    storage_dir: std::path::PathBuf,
    info: WarcInfo,
    email: crate::config::EmailSettings,
    contacts: Vec<crate::config::Contact>,
}

impl Detector {
    /// Loads the archive (index and boilerplate), the originals' URLs and the
    /// reviewers' site lists from `store`.
    ///
    /// # Errors
    /// [`PipelineError`] when the store cannot be read.
    pub fn load(store: &Store, settings: &Settings) -> Result<Detector, PipelineError> {
        let archive = load_archive(store, settings)?;
        let rules = UrlRules::from_settings(&settings.crawl);
        let own_urls = store
            .list_originals()?
            .iter()
            .filter_map(|o| Url::parse(&o.url).ok())
            .filter_map(|u| normalize(&u, &rules).ok())
            .map(|u| dedupe_key(&u))
            .collect();
        let mut own_site = DomainSet::default();
        if let Some(host) = Url::parse(&settings.outlet.website)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
        {
            own_site.insert(host.strip_prefix("www.").unwrap_or(&host));
        }
        let licensed = reviewed_sites(
            settings.crawl.licensed.clone(),
            store.site_list(SiteList::Licensed)?,
        );
        let ignored = reviewed_sites(DomainSet::default(), store.site_list(SiteList::Ignored)?);
        Ok(Detector {
            archive,
            params: settings.detect.clone(),
            licensed,
            ignored,
            own_site,
            own_urls,
            rules,
            originals: Mutex::new(OriginalCache {
                store: Store::open(store.path())?,
                entries: HashMap::new(),
                tick: 0,
            }),
            evidence: EvidenceStage {
                storage_dir: settings.storage.dir.clone(),
                info: WarcInfo::for_settings(settings),
                email: settings.email.clone(),
                contacts: settings.contacts.clone(),
            },
        })
    }

    /// Whether `url` is the outlet's own: on its website, or one of the originals' URLs.
    pub fn is_own(&self, url: &Url) -> bool {
        self.own_site.contains_url(url)
            || normalize(url, &self.rules).is_ok_and(|n| self.own_urls.contains(&dedupe_key(&n)))
    }

    /// Whether `url` is on a licensed partner's domain (or a subdomain).
    pub fn is_licensed(&self, url: &Url) -> bool {
        self.licensed.contains_url(url)
    }

    /// Whether `url` is on a site the reviewers ignore.
    pub fn is_ignored(&self, url: &Url) -> bool {
        self.ignored.contains_url(url)
    }

    /// Extracts the page, looks it up and verifies each candidate original. CPU-bound:
    /// run it on the blocking pool.
    ///
    /// # Errors
    /// [`StoreError`] when an original cannot be read.
    pub fn examine(&self, capture: &Capture) -> Result<Examination, StoreError> {
        let extracted = crate::extract::extract(capture.body(), capture.content_type.as_deref());
        let page = Document::new(extracted.title, extracted.text);
        let candidates = self.archive.index.lookup(&page.fingerprint);
        let mut findings = Vec::with_capacity(candidates.len());
        for c in candidates {
            let original = {
                // A panic while holding the lock leaves at worst a missing cache entry.
                let mut cache = self.originals.lock().unwrap_or_else(|e| e.into_inner());
                cache.get(i64::from(c.original), &self.archive.boilerplate)?
            };
            let Some(original) = original else { continue };
            let comparison = compare(&original.doc, &page, &self.params);
            findings.push(Finding {
                original,
                comparison,
            });
        }
        findings.sort_by(|a, b| {
            rank(b.comparison.verdict)
                .cmp(&rank(a.comparison.verdict))
                .then(
                    b.comparison
                        .containment
                        .total_cmp(&a.comparison.containment),
                )
                .then(a.original.id.cmp(&b.original.id))
        });
        Ok(Examination {
            title: page.title,
            findings,
        })
    }

    /// The matches (copy or partial) of an examined page, ready to record.
    pub fn matches(&self, capture: &Capture, exam: &Examination) -> Vec<NewMatch> {
        let copy = normalize(&capture.final_url, &self.rules)
            .unwrap_or_else(|_| capture.final_url.clone());
        let licensed =
            self.is_licensed(&capture.final_url) || self.is_licensed(&capture.requested_url);
        let ignored =
            self.is_ignored(&capture.final_url) || self.is_ignored(&capture.requested_url);
        exam.findings
            .iter()
            .filter(|f| f.comparison.verdict != Verdict::Unrelated)
            .map(|f| NewMatch {
                copy_url: copy.to_string(),
                copy_host: host_key(&copy),
                original_id: f.original.id,
                verdict: f.comparison.verdict,
                containment: f.comparison.containment,
                coverage: f.comparison.coverage,
                copied_chars: f.comparison.copied_chars as u64,
                passages: f.comparison.passages.clone(),
                copy_title: exam.title.clone(),
                licensed,
                ignored,
                original_version: Some(f.original.version),
            })
            .collect()
    }
}

/// `base` with the domains of a reviewers' site list added. The desk records a site as
/// its matches' `copy_host`, so an entry may carry a port (see
/// [`DomainSet::insert_host_key`]); otherwise it covers subdomains like the config's.
fn reviewed_sites(mut base: DomainSet, entries: Vec<SiteListEntry>) -> DomainSet {
    for entry in entries {
        base.insert_host_key(&entry.domain);
    }
    base
}

/// What the tasks share.
struct Shared {
    fetcher: PageFetcher,
    robots: RobotsCache,
    sched: HostScheduler,
    detector: Detector,
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
        .fetch_allowed(&url, ContentKind::Page, validators.as_ref(), &shared.robots)
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
        PageResult::Fetched {
            capture,
            changed,
            own,
            links,
            examination,
        }
    })
    .await;
    joined.unwrap_or_else(|e| PageResult::Failed {
        error: format!("{url}: detection task failed: {e}"),
        transient: false,
    })
}

fn shared_for(store: &Store, settings: &Settings) -> Result<Arc<Shared>, PipelineError> {
    let fetcher = PageFetcher::new(&settings.crawl)?;
    Ok(Arc::new(Shared {
        robots: RobotsCache::new(fetcher.clone(), &settings.crawl),
        sched: HostScheduler::new(&settings.crawl),
        detector: Detector::load(store, settings)?,
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

/// New matches recorded, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct MatchCounts {
    pub copy: usize,
    pub partial: usize,
    pub licensed: usize,
    /// On sites the reviewers ignore (counted here only, even when also licensed).
    pub ignored: usize,
    /// Alerts queued for these matches (one per role told), so the caller knows when
    /// to wake its outbox.
    #[serde(skip)]
    pub alerts: usize,
}

impl MatchCounts {
    pub fn total(&self) -> usize {
        self.copy + self.partial + self.licensed + self.ignored
    }
}

/// Records the matches of an examined page and logs the new ones.
fn record(
    store: &mut Store,
    detector: &Detector,
    capture: &Capture,
    exam: &Examination,
    counts: &mut MatchCounts,
) -> Result<(), StoreError> {
    let matches = detector.matches(capture, exam);
    if matches.is_empty() {
        return Ok(());
    }
    // The facts each report and evidence file states, read before the transaction (the
    // originals' metadata comes from the store).
    let mut facts = matches
        .iter()
        .map(|m| match_facts(store, capture, m))
        .collect::<Result<Vec<_>, _>>()?;
    // Every new match gets its evidence file; the alerts of one on an ignored site are
    // dropped by the store, which owns that rule (and so are not counted here).
    let mut alerts = 0;
    let outcomes = store.record_matches_with(capture, &matches, Utc::now(), &mut |i, id| {
        let evidence = match facts.get_mut(i).and_then(Option::as_mut) {
            Some(f) => detector.evidence.for_new_match(capture, f, id),
            None => MatchEvidence::default(),
        };
        if matches.get(i).is_some_and(|m| !m.ignored) {
            alerts += evidence.alerts.len();
        }
        evidence
    })?;
    counts.alerts += alerts;
    for (m, outcome) in matches.iter().zip(outcomes) {
        if let MatchOutcome::New { id } = outcome {
            if m.ignored {
                counts.ignored += 1;
            } else if m.licensed {
                counts.licensed += 1;
            } else if m.verdict == Verdict::Copy {
                counts.copy += 1;
            } else {
                counts.partial += 1;
            }
            tracing::info!(
                id,
                url = %sanitize(&m.copy_url),
                original = m.original_id,
                verdict = ?m.verdict,
                containment = m.containment,
                coverage = m.coverage,
                copied_chars = m.copied_chars,
                licensed = m.licensed,
                ignored = m.ignored,
                "match found"
            );
        }
    }
    Ok(())
}

/// What a report on `m` states, or `None` when its original vanished from the store.
fn match_facts(
    store: &Store,
    capture: &Capture,
    m: &NewMatch,
) -> Result<Option<MatchFacts>, StoreError> {
    // The version compared: the passages' offsets point into its text.
    let Some(original) =
        store.find_original_at(&OriginalKey::Id(m.original_id), m.original_version)?
    else {
        return Ok(None);
    };
    let (passages, passages_omitted) = MatchFacts::passages_from(&original.text, &m.passages);
    Ok(Some(MatchFacts {
        match_id: None,
        original: OriginalFacts::from(original),
        copy: CopyFacts {
            url: capture.final_url.to_string(),
            host: capture.final_url.host_str().unwrap_or_default().to_string(),
            ip: capture.remote_addr.map(|a| a.ip().to_string()),
            captured_at: crate::evidence::utc(capture.finished_at),
            title: m.copy_title.clone(),
            redirects: crate::evidence::RedirectFacts::of(capture),
        },
        verdict: verdict_name(m.verdict).to_string(),
        containment: m.containment,
        coverage: Some(m.coverage),
        copied_chars: Some(m.copied_chars),
        licensed: m.licensed,
        passages,
        passages_omitted,
        escalation: None,
    }))
}

impl EvidenceStage {
    /// Writes the evidence file of new match `id` and lists its alerts. A file that
    /// cannot be written is logged and the match recorded without it (the capture's
    /// bytes stay in the database); its alerts are still owed.
    fn for_new_match(&self, capture: &Capture, facts: &mut MatchFacts, id: i64) -> MatchEvidence {
        facts.match_id = Some(id);
        let file = match crate::evidence::write_bundle(
            &self.storage_dir,
            &self.info,
            capture,
            facts,
            Utc::now(),
        ) {
            Ok(file) => Some(file),
            Err(e) => {
                tracing::error!(id, error = %e, "evidence file not written");
                None
            }
        };
        let evidence = file.as_ref().map(|f| EvidenceRef {
            file_name: f.file_name.clone(),
            sha256: f.sha256.clone(),
        });
        let alerts = match crate::notify::new_alerts(
            facts,
            evidence.as_ref(),
            &self.email,
            &self.contacts,
        ) {
            Ok(alerts) => alerts,
            Err(e) => {
                // Serialising plain strings and numbers does not fail; should it
                // ever, the match is still recorded and `matches list` shows it.
                tracing::error!(id, error = %e, "alerts not queued");
                Vec::new()
            }
        };
        MatchEvidence {
            evidence_file: file.as_ref().map(|f| f.file_name.clone()),
            evidence_sha256: file.map(|f| f.sha256),
            alerts,
        }
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
            PageResult::Failed { error, .. } => ScanLine::error(given, error),
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
        let query = discovery::search_query(&original.text, &detector.archive.boilerplate);
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
        summary: CrawlSummary {
            discovered: discovered.len(),
            ..CrawlSummary::default()
        },
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
            let items = store.claim_due_spread(
                Utc::now(),
                MAX_PENDING - state.pending_count,
                PENDING_PER_HOST,
            )?;
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
                    let last = store.last_fetch(&item.url_key)?;
                    let validators = last.as_ref().map(|r| Validators {
                        etag: r.etag.clone(),
                        last_modified: r.last_modified.clone(),
                    });
                    let previous_sha = last.and_then(|r| r.content_sha256);
                    let follow = item.depth < crawl.max_depth;
                    *state.active_per_host.entry(host.clone()).or_default() += 1;
                    state.active += 1;
                    let tx = tx.clone();
                    let shared = Arc::clone(&shared);
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
                handle(&mut state, store, &shared, crawl, &rules, item, result)?;
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
    Ok(state.summary)
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
