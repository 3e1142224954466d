//! `copyhound run`: the long-running service.
//!
//! Owns the schedule and the lifecycle, not the work: the originals refresh calls
//! [`crate::originals::ingest`], the crawl loop calls [`crawl_cycle`], and both open their
//! own connection to the store. Each stage is a tokio task tracked by one
//! [`TaskTracker`]; one [`CancellationToken`] stops them all.
//!
//! Start-up: the HTTP endpoint answers at once (`/healthz` 503), the store is opened
//! and the index loaded, then systemd hears `READY=1` and the stages start.
//!
//! Shutdown has two phases (vector's model): the token is cancelled and every task stops
//! at its next safe point (between articles, between pages; pages in flight get half the
//! deadline to finish); then the daemon waits for them at most `[daemon]
//! shutdown_timeout`, and names the tasks that missed it before exiting anyway. The
//! store stays consistent either way because every write is one SQLite transaction that
//! completes inside a single poll: dropping a task between polls never leaves half a
//! write.
//!
//! Reload (SIGHUP): the config file is read and validated again; a valid one replaces
//! the settings the stages read at the start of their next pass, an invalid one is
//! refused with every problem logged and the old one stays in force.
//!
//! This module never speaks SQL and never decides what a copy is.

pub mod metrics;
pub mod notify;
pub mod web;

use std::collections::BTreeSet;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{ConfigError, Settings};
use crate::crawl::pipeline::{crawl_cycle, PipelineError};
use crate::originals::{load_archive, IngestError, NoProgress};
use crate::store::{Store, StoreError};
use metrics::Metrics;
use notify::Notifier;

/// Why the daemon could not start or had to stop (a failing page, source or cycle is
/// logged and retried, never an error here).
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Archive(#[from] IngestError),
    #[error("cannot serve {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("a start-up task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error(transparent)]
    Web(#[from] crate::web::WebError),
}

/// What the daemon needs besides its settings.
pub struct Daemon {
    /// The config file, read again on reload.
    pub config_path: PathBuf,
    /// Where `READY=1`, `STATUS=` and `WATCHDOG=1` go.
    pub notifier: Notifier,
    /// Shared with the HTTP endpoint.
    pub metrics: Arc<Metrics>,
}

/// Names of the tasks still running, so a missed shutdown deadline names the culprits.
type Running = Arc<Mutex<BTreeSet<&'static str>>>;

/// Removes a task's name from [`Running`] when the task ends, however it ends.
struct RunningGuard {
    running: Running,
    name: &'static str,
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(self.name);
    }
}

fn spawn_named<F>(tracker: &TaskTracker, running: &Running, name: &'static str, task: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    running
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(name);
    let guard = RunningGuard {
        running: Arc::clone(running),
        name,
    };
    tracker.spawn(async move {
        let _guard = guard;
        task.await;
    });
}

impl Daemon {
    /// Runs until `shutdown` completes, then stops within `[daemon] shutdown_timeout`.
    /// `reload` receives one message per reload request (SIGHUP in `main`, a channel in
    /// tests). `listener` serves `/healthz` and `/metrics`.
    ///
    /// # Errors
    /// [`DaemonError`] when the store or the index cannot be loaded at start-up.
    pub async fn run(
        self,
        settings: Settings,
        listener: tokio::net::TcpListener,
        mut reload: mpsc::Receiver<()>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), DaemonError> {
        let Daemon {
            config_path,
            notifier,
            metrics,
        } = self;
        let token = CancellationToken::new();
        let tracker = TaskTracker::new();
        let running: Running = Arc::default();

        let (settings_tx, settings_rx) = watch::channel(Arc::new(settings.clone()));
        // The endpoint first, so a probe sees 503 "starting" rather than a refused
        // connection while the index loads. The review desk shares it and follows
        // reloads (users, language) through the settings channel.
        // The desk rings the outbox when a decision queues an escalation, and the crawl
        // when a page's matches queue alerts: both are sent at once, not at the next poll.
        let outbox_bell = Arc::new(tokio::sync::Notify::new());
        let desk =
            crate::web::Desk::open_with_bell(settings_rx.clone(), Some(Arc::clone(&outbox_bell)))?;
        let router = web::router(Arc::clone(&metrics)).merge(crate::web::router(desk));
        let web_token = token.clone();
        spawn_named(&tracker, &running, "web", async move {
            let stop = web_token.clone();
            if let Err(err) = axum::serve(
                listener,
                router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
            {
                tracing::error!(error = %err, "web endpoint failed");
            }
        });

        notifier.status("loading the index");
        let started = Instant::now();
        let storage = settings.storage.clone();
        let load_settings = settings.clone();
        let (originals, index_len, generation) = tokio::task::spawn_blocking(move || {
            let store = Store::open_storage(&storage)?;
            let archive = load_archive(&store, &load_settings)?;
            Ok::<_, DaemonError>((
                store.original_count()?,
                archive.index.len(),
                archive.generation,
            ))
        })
        .await??;
        metrics.set_originals(originals);
        metrics.set_index(index_len.0, index_len.1);
        let status = format!(
            "{originals} originals indexed in {:.1}s; crawling",
            started.elapsed().as_secs_f64()
        );
        metrics.set_status(status.clone());
        metrics.set_ready();
        notifier.ready(&status);
        tracing::info!(
            originals,
            fingerprints = index_len.0,
            anchors = index_len.1,
            "ready"
        );

        // Counts completed originals passes: the first crawl cycle waits for the first
        // pass, so a fresh install does not crawl against an empty archive.
        let (passes_tx, passes_rx) = watch::channel(0u64);
        spawn_named(
            &tracker,
            &running,
            "originals refresh",
            refresh_loop(
                settings_rx.clone(),
                token.clone(),
                Arc::clone(&metrics),
                passes_tx,
                generation,
            ),
        );
        spawn_named(
            &tracker,
            &running,
            "alert outbox",
            outbox_loop(
                settings_rx.clone(),
                token.clone(),
                Arc::clone(&metrics),
                Arc::clone(&outbox_bell),
            ),
        );
        spawn_named(
            &tracker,
            &running,
            "timestamps",
            timestamp_loop(settings_rx.clone(), token.clone()),
        );
        spawn_named(
            &tracker,
            &running,
            "monthly report",
            report_loop(settings_rx.clone(), token.clone(), Arc::clone(&outbox_bell)),
        );
        spawn_named(
            &tracker,
            &running,
            "crawl",
            crawl_loop(
                settings_rx.clone(),
                token.clone(),
                Arc::clone(&metrics),
                notifier.clone(),
                passes_rx,
                outbox_bell,
            ),
        );

        // The watchdog is pinged from this loop, so a wedged control loop (not just a
        // live process) makes systemd restart the service.
        let mut watchdog = notify::watchdog_interval().map(tokio::time::interval);
        tokio::pin!(shutdown);
        // False once nobody can send reload requests any more (the channel closed).
        let mut reload_open = true;
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                request = reload.recv(), if reload_open => {
                    if request.is_none() {
                        // Nobody can ask for a reload any more; keep running without.
                        reload_open = false;
                        continue;
                    }
                    notifier.notify("RELOADING=1");
                    apply_reload(&config_path, &settings_tx, &metrics);
                    notifier.ready(&metrics.status());
                }
                _ = async {
                    match watchdog.as_mut() {
                        Some(w) => w.tick().await,
                        None => std::future::pending().await,
                    }
                } => notifier.notify("WATCHDOG=1"),
            }
        }

        let deadline = settings_tx.borrow().daemon.shutdown_timeout;
        tracing::info!(deadline = ?deadline, "shutting down");
        notifier.notify("STOPPING=1");
        token.cancel();
        tracker.close();
        if tokio::time::timeout(deadline, tracker.wait())
            .await
            .is_err()
        {
            let missed: Vec<&str> = running
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .copied()
                .collect();
            tracing::warn!(
                tasks = ?missed,
                "shutdown deadline passed; stopping anyway (their work is redone next start)"
            );
        } else {
            tracing::info!("stopped cleanly");
        }
        Ok(())
    }
}

/// Reads and validates the config again; a valid one replaces the settings in force.
fn apply_reload(
    path: &std::path::Path,
    settings: &watch::Sender<Arc<Settings>>,
    metrics: &Metrics,
) {
    match Settings::load(path) {
        Ok(new) => {
            let old = settings.borrow().clone();
            if new.storage != old.storage || new.web.listen != old.web.listen {
                tracing::warn!(
                    "[storage] and [web] listen take effect only after a restart; the running values stay"
                );
            }
            let mut new = new;
            new.storage = old.storage.clone();
            new.web.listen = old.web.listen;
            settings.send_replace(Arc::new(new));
            tracing::info!(config = %path.display(), "configuration reloaded");
            metrics.reload(true);
        }
        Err(err) => {
            let problems = match &err {
                ConfigError::Invalid { .. } => err.problems().join("; "),
                other => other.to_string(),
            };
            tracing::error!(
                config = %path.display(),
                problems = %problems,
                "configuration reload refused: the previous configuration stays in force"
            );
            // Counted after the log line, so whoever sees the counter move (a monitor,
            // a test) finds the reason already in the log.
            metrics.reload(false);
        }
    }
}

/// Sleeps `d`, or returns `false` at once when the token is cancelled.
async fn pause(token: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        () = token.cancelled() => false,
        () = tokio::time::sleep(d) => true,
    }
}

/// How often the timestamp worker looks for evidence files without a token: new evidence
/// is timestamped within this long of being recorded.
const TIMESTAMP_POLL: Duration = Duration::from_secs(5);

/// Trusted timestamps: every [`TIMESTAMP_POLL`], queues the evidence files recorded
/// since the last pass and requests the tokens due (`evidence::stamping`). Without
/// `[evidence] tsa_urls` it only waits for a reload that sets them. A TSA that is down
/// leaves files queued with their backoff; nothing here gives up on a file.
async fn timestamp_loop(settings: watch::Receiver<Arc<Settings>>, token: CancellationToken) {
    let storage = settings.borrow().storage.clone();
    let mut store = match Store::open_storage(&storage) {
        Ok(s) => s,
        Err(err) => {
            tracing::error!(error = %err, "the timestamp worker cannot open the store; it stops");
            token.cancel();
            return;
        }
    };
    // The trust anchors are read once per configuration, not per pass.
    let mut client: Option<(Arc<Settings>, crate::evidence::timestamp::TsaClient)> = None;
    loop {
        let current = settings.borrow().clone();
        if current.evidence.timestamps_enabled() {
            if client
                .as_ref()
                .is_none_or(|(s, _)| !Arc::ptr_eq(s, &current))
            {
                client = match current.evidence.tsa() {
                    Ok(c) => Some((Arc::clone(&current), c)),
                    Err(err) => {
                        tracing::error!(error = %err, "timestamps cannot be requested; evidence stays queued");
                        None
                    }
                };
            }
            let place = match crate::evidence::place::Place::open(&current.storage) {
                Ok(p) => Some(p),
                Err(err) => {
                    tracing::error!(error = %err, "evidence cannot be read; it stays queued for timestamps");
                    None
                }
            };
            if let (Some((_, tsa)), Some(place)) = (&client, &place) {
                // Shutdown may interrupt a pass only while it waits for a TSA: writing a
                // token's `.tsr` and recording it happen with no await between them, so
                // a token is either kept whole or never received (the file stays
                // queued).
                let pass = crate::evidence::stamping::stamp_pending(
                    &mut store,
                    place,
                    &current.evidence,
                    tsa,
                );
                tokio::select! {
                    () = token.cancelled() => return,
                    result = pass => if let Err(err) = result {
                        tracing::error!(error = %err, "timestamp pass failed; retrying shortly");
                    },
                }
            }
        }
        if !pause(&token, TIMESTAMP_POLL).await {
            return;
        }
    }
}

/// How often the report scheduler looks at the calendar (it also wakes at the start
/// of each month).
const REPORT_CHECK: Duration = Duration::from_secs(3600);

/// The monthly report: at start and then hourly, queues the previous month's report in
/// the outbox when it is owed (`notify::monthly::queue_due_report`: once per month, by
/// its unique key, so a restart never queues it twice) and rings the outbox.
async fn report_loop(
    settings: watch::Receiver<Arc<Settings>>,
    token: CancellationToken,
    bell: Arc<tokio::sync::Notify>,
) {
    let storage = settings.borrow().storage.clone();
    let mut store = match Store::open_storage(&storage) {
        Ok(s) => s,
        Err(err) => {
            tracing::error!(error = %err, "monthly report scheduler cannot open the store; no report will be sent");
            return;
        }
    };
    if std::env::var_os(crate::notify::monthly::CLOCK_ENV).is_some() {
        tracing::warn!(
            now = %crate::notify::monthly::scheduler_now(),
            "monthly report scheduler runs on a set clock ({})",
            crate::notify::monthly::CLOCK_ENV
        );
    }
    loop {
        let current = settings.borrow().clone();
        let now = crate::notify::monthly::scheduler_now();
        // Rendering reads the whole month: a blocking moment of a few tens of ms.
        match tokio::task::block_in_place(|| {
            crate::notify::monthly::queue_due_report(&mut store, &current, now)
        }) {
            Ok(Some(month)) => {
                tracing::info!(month = %month, "monthly report queued");
                bell.notify_one();
            }
            Ok(None) => {}
            Err(err) => tracing::error!(error = %err, "monthly report not queued; retrying later"),
        }
        let next_month = crate::dashboard::Month::of(now).next().start();
        let wait = (next_month - now)
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(REPORT_CHECK)
            .max(Duration::from_secs(1));
        if !pause(&token, wait).await {
            return;
        }
    }
}

/// The originals refresh: an ingest pass now and every `[originals] refresh`.
async fn refresh_loop(
    settings: watch::Receiver<Arc<Settings>>,
    token: CancellationToken,
    metrics: Arc<Metrics>,
    passes: watch::Sender<u64>,
    loaded: i64,
) {
    let storage = settings.borrow().storage.clone();
    let mut store = match Store::open_storage(&storage) {
        Ok(s) => s,
        Err(err) => {
            tracing::error!(error = %err, "originals refresh cannot open the store; it stops");
            token.cancel();
            return;
        }
    };
    // The change counter when the index size in the metrics was last measured.
    let mut measured = Some(loaded);
    loop {
        let current = settings.borrow().clone();
        let started = Instant::now();
        // Dropping the pass on cancellation is safe: each article is written in one
        // synchronous transaction, which a drop between polls cannot split.
        let result = tokio::select! {
            () = token.cancelled() => return,
            r = crate::originals::ingest(&current, &mut store, None, &NoProgress) => r,
        };
        match result {
            Ok(summary) => {
                tracing::info!(
                    new = summary.new,
                    updated = summary.updated,
                    unchanged = summary.unchanged,
                    failed = summary.failed.len(),
                    seconds = started.elapsed().as_secs_f64(),
                    "originals refreshed"
                );
                if let Ok(n) = store.original_count() {
                    metrics.set_originals(n);
                }
                // The change counter, not this pass's counts: another process (an
                // `ingest` from cron, a second daemon) may have changed the originals.
                let moved = store
                    .archive_generation()
                    .map_or(true, |g| Some(g) != measured);
                if moved {
                    // The next crawl cycle loads the new index from the store; this
                    // publishes its size now.
                    match tokio::task::block_in_place(|| load_archive(&store, &current)) {
                        Ok(archive) => {
                            let (f, a) = archive.index.len();
                            metrics.set_index(f, a);
                            measured = Some(archive.generation);
                        }
                        Err(err) => tracing::warn!(error = %err, "cannot measure the index"),
                    }
                }
            }
            Err(err) => {
                tracing::error!(error = %err, "originals refresh failed; retrying at the next refresh")
            }
        }
        metrics.ingest_pass();
        passes.send_modify(|n| *n += 1);
        if !pause(&token, current.originals.refresh).await {
            return;
        }
    }
}

/// The alert outbox: delivers alerts as they become due (queued by the crawl in each
/// match's transaction). A reload rebuilds the mailer and webhooks from the new
/// `[email]` and `[notify]` settings.
async fn outbox_loop(
    mut settings: watch::Receiver<Arc<Settings>>,
    token: CancellationToken,
    metrics: Arc<Metrics>,
    bell: Arc<tokio::sync::Notify>,
) {
    let storage = settings.borrow().storage.clone();
    let mut store = match Store::open_storage(&storage) {
        Ok(s) => s,
        Err(err) => {
            tracing::error!(error = %err, "the alert outbox cannot open the store; it stops");
            token.cancel();
            return;
        }
    };
    while !token.is_cancelled() {
        let current = settings.borrow_and_update().clone();
        let outbox = match crate::notify::Outbox::from_settings(&current) {
            Ok(m) => m,
            Err(err) => {
                // Alerts stay queued; a reload with a working [email] resumes delivery.
                tracing::error!(error = %err, "cannot set up alert delivery; alerts stay queued");
                tokio::select! {
                    () = token.cancelled() => return,
                    _ = settings.changed() => continue,
                }
            }
        };
        tracing::info!(outbox = %outbox.describe(), "alert outbox running");
        // A mail or webhook set-up that cannot work is logged now, not at the first
        // alert.
        crate::notify::log_outbox_check(&outbox, token.cancelled()).await;
        // The worker finishes a pass in progress before it returns, so an alert the
        // server accepted is always marked sent before shutdown.
        let stop = async {
            tokio::select! {
                () = token.cancelled() => {}
                _ = settings.changed() => {}
            }
        };
        let result = crate::notify::run_worker_with(
            &mut store,
            &current,
            &outbox,
            stop,
            Some(&bell),
            |store, pass| {
                metrics.add_alerts(pass.sent as u64, pass.failed as u64);
                if let Ok(n) = store.pending_alert_count() {
                    metrics.set_alerts_queued(n.max(0) as u64);
                }
                if pass.sent + pass.failed > 0 {
                    tracing::info!(
                        emails = pass.emails,
                        webhook_posts = pass.webhook_posts,
                        sent = pass.sent,
                        failed = pass.failed,
                        retrying = pass.retrying,
                        "alerts delivered"
                    );
                }
            },
        )
        .await;
        if let Err(err) = result {
            tracing::error!(error = %err, "alert outbox failed; retrying shortly");
            if !pause(&token, Duration::from_secs(5)).await {
                return;
            }
        }
    }
}

/// The crawl: one cycle after another, `[crawl] cycle_interval` apart.
/// Evidence files written after the fact per crawl cycle, so a long backlog (a disk
/// that was full for days) cannot stall the crawl.
const MAX_EVIDENCE_REBUILDS_PER_CYCLE: usize = 100;

async fn crawl_loop(
    settings: watch::Receiver<Arc<Settings>>,
    token: CancellationToken,
    metrics: Arc<Metrics>,
    notifier: Notifier,
    mut passes: watch::Receiver<u64>,
    outbox_bell: Arc<tokio::sync::Notify>,
) {
    tokio::select! {
        () = token.cancelled() => return,
        r = passes.wait_for(|n| *n > 0) => if r.is_err() { return },
    }
    let storage = settings.borrow().storage.clone();
    let mut store = match Store::open_storage(&storage) {
        Ok(s) => s,
        Err(err) => {
            tracing::error!(error = %err, "the crawl cannot open the store; it stops");
            token.cancel();
            return;
        }
    };
    while !token.is_cancelled() {
        let current = settings.borrow().clone();
        let started = Instant::now();
        // Pages in flight get half the shutdown deadline, leaving the other half for
        // writing the cycle's state.
        let grace = current.daemon.shutdown_timeout / 2;
        let result: Result<_, PipelineError> = crawl_cycle(
            &current,
            &mut store,
            token.cancelled(),
            grace,
            Some(&outbox_bell),
        )
        .await;
        let took = started.elapsed();
        match result {
            Ok(summary) => {
                metrics.record_cycle(&summary, took);
                tracing::info!(seconds = took.as_secs_f64(), "{}", summary.render());
            }
            Err(err) => {
                tracing::error!(error = %err, "crawl cycle failed; retrying after the pause")
            }
        }
        // Evidence files that could not be written when their match was found (a full
        // disk, say) are written from the stored captures as soon as it works again.
        match crate::review::rebuild_missing_evidence(
            &mut store,
            &current,
            MAX_EVIDENCE_REBUILDS_PER_CYCLE,
            chrono::Utc::now(),
        ) {
            Ok(crate::review::EvidenceRebuild { written, failed }) => {
                for (id, file) in written {
                    tracing::info!(id, file = %file.file_name, "missing evidence file written");
                }
                for (id, why) in failed {
                    tracing::warn!(id, error = %why, "evidence file still cannot be written");
                }
            }
            Err(err) => tracing::error!(error = %err, "cannot look for missing evidence files"),
        }
        // Cases whose re-check is due are re-checked after the cycle, through the same
        // guarded crawler; their reminders and reappearance alerts leave at once.
        if !token.is_cancelled() {
            run_due_rechecks(&mut store, &current, &metrics, &outbox_bell).await;
        }
        publish_store_gauges(&store, &metrics);
        let status = format!(
            "{} cycles, last {:.1}s; {}",
            metrics.cycles(),
            took.as_secs_f64(),
            status_counts(&store)
        );
        metrics.set_status(status.clone());
        notifier.status(&status);
        if !pause(&token, current.crawl.cycle_interval).await {
            break;
        }
    }
}

/// The due re-checks of cases (see `cases::recheck`), counted in the metrics.
async fn run_due_rechecks(
    store: &mut Store,
    settings: &Settings,
    metrics: &Metrics,
    outbox_bell: &tokio::sync::Notify,
) {
    let now = chrono::Utc::now();
    let due = match crate::cases::recheck::due_cases(store, settings, now) {
        Ok(ids) if ids.is_empty() => return,
        Ok(ids) => ids,
        Err(err) => {
            tracing::error!(error = %err, "cannot look for due re-checks");
            return;
        }
    };
    match crate::cases::recheck::recheck(store, settings, &due, "copyhound", now).await {
        Ok(reports) => {
            for r in &reports {
                metrics.record_recheck(r.result);
            }
            if reports.iter().any(|r| r.reminder || r.reappeared) {
                outbox_bell.notify_one();
            }
        }
        Err(err) => tracing::error!(error = %err, "re-checks failed; retrying after the pause"),
    }
}

/// How often `copyhound serve` reads the store's gauges (matches, cases, the archive
/// file queue) for `/metrics`: it crawls nothing, so no cycle end publishes them.
pub const SERVE_GAUGE_INTERVAL: Duration = Duration::from_secs(10);

/// `copyhound serve`'s gauges: [`publish_store_gauges`] now and every `interval` on a
/// store of its own, until `token` is cancelled. A store that cannot be opened leaves
/// the gauges at zero, logged.
pub(crate) async fn store_gauge_loop(
    storage: crate::config::Storage,
    metrics: Arc<Metrics>,
    token: CancellationToken,
    interval: Duration,
) {
    let store = match Store::open_storage(&storage) {
        Ok(s) => s,
        Err(err) => {
            tracing::error!(error = %err, "cannot open the store for /metrics; its store gauges stay 0");
            return;
        }
    };
    loop {
        publish_store_gauges(&store, &metrics);
        tokio::select! {
            () = token.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// The gauges read back from the store, shared by `run` (after each crawl cycle) and
/// `serve` ([`store_gauge_loop`]).
fn publish_store_gauges(store: &Store, metrics: &Metrics) {
    match store.open_case_counts() {
        Ok(counts) => metrics.set_open_cases(&counts),
        Err(err) => tracing::warn!(error = %err, "cannot count cases"),
    }
    match store.match_counts_by_verdict() {
        Ok((c, p, l)) => metrics.set_matches(c, p, l),
        Err(err) => tracing::warn!(error = %err, "cannot count matches"),
    }
    match store.status_counts(&crate::store::MatchFilter::default()) {
        Ok(counts) => metrics.set_review_counts(&counts),
        Err(err) => tracing::warn!(error = %err, "cannot count matches by review status"),
    }
    match store.queue_counts() {
        Ok(q) => metrics.set_warc_queue(&q),
        Err(err) => tracing::warn!(error = %err, "cannot count the archive file queue"),
    }
    match store.frontier_counts() {
        Ok(f) => metrics.set_frontier(f.queued),
        Err(err) => tracing::warn!(error = %err, "cannot count the frontier"),
    }
    if let Ok(n) = store.original_count() {
        metrics.set_originals(n);
    }
}

fn status_counts(store: &Store) -> String {
    let originals = store.original_count().unwrap_or(0);
    let matches = store.match_count().unwrap_or(0);
    format!("{originals} originals, {matches} matches")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The service skeleton in-process: ready, healthy, survives a closed reload
    /// channel, and stops when its shutdown future completes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_until_shutdown_and_stops_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("copyhound.toml");
        std::fs::write(
            &config,
            "[outlet]\nname = \"T\"\nwebsite = \"https://t.example\"\naddress = \"A\"\n[storage]\ndir = \"state\"\n[crawl]\ncycle_interval = \"50ms\"\n[daemon]\nshutdown_timeout = \"2s\"\n",
        )
        .unwrap();
        let settings = Settings::load(&config).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let metrics = Arc::new(Metrics::default());
        let daemon = Daemon {
            config_path: config,
            notifier: Notifier::disabled(),
            metrics: Arc::clone(&metrics),
        };
        let (reload_tx, reload_rx) = mpsc::channel(1);
        drop(reload_tx);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(daemon.run(settings, listener, reload_rx, async {
            let _ = stop_rx.await;
        }));
        let start = Instant::now();
        while metrics.cycles() < 2 {
            assert!(start.elapsed() < Duration::from_secs(20), "no crawl cycles");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let body = reqwest::get(format!("http://{addr}/healthz"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(body.starts_with("ok: "), "{body}");
        stop_tx.send(()).unwrap();
        let stopped = tokio::time::timeout(Duration::from_secs(5), handle).await;
        assert!(matches!(stopped, Ok(Ok(Ok(())))), "{stopped:?}");
    }
}
