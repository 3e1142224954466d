//! `copyhound worker`: takes archive files from the queue in the store (filled by
//! `scan-warc --enqueue`) one at a time, under a lease, and scans each through the same
//! path as `scan-warc` ([`super::scan_file`]), so matches, evidence and alerts are the
//! same. Any number of workers on any number of machines share one queue; the store's
//! claim is what keeps a file with one worker (see `store::queue`).
//!
//! The lease is renewed while the file is scanned (every third of its length); a worker
//! that dies stops renewing, and once the lease runs out the next claim takes the file
//! and resumes it from its last checkpoint. A worker that finds at a renewal that its
//! lease was taken stops scanning that file at once and leaves it to the new holder.
//!
//! Before each claim the worker compares the store's change counter with the one its
//! archive was loaded at, and reloads when the originals changed, so one ingest reaches
//! every worker; the index is mapped from the machine's shared file by default
//! ([`crate::originals::mapped`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;

use super::{sanitize, Context, FileError, Source, WarcSummary, WebArchiveError};
use crate::config::Settings;
use crate::examine::Detector;
use crate::store::Store;

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// The name the queue shows for this worker (default `hostname:pid`).
    pub worker_id: String,
    /// How long a claim lasts without renewal.
    pub lease: Duration,
    /// Claims of a file before it is failed for good.
    pub max_attempts: u32,
    /// Stop after one file.
    pub once: bool,
    /// Stop when every file is done or failed (otherwise wait for more files). Files
    /// leased to other workers count as not finished: their workers may die.
    pub exit_when_empty: bool,
    /// How long to wait before looking again when the queue is empty.
    pub poll: Duration,
    /// As [`super::ScanOptions::fast_reject`].
    pub fast_reject: bool,
}

/// What a worker did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct WorkerSummary {
    /// Files claimed.
    pub claimed: usize,
    /// Files whose lease another worker took while this one scanned them.
    pub lost: usize,
    /// Stopped by a signal, the file given back to the queue.
    pub stopped: bool,
    /// The scans' counts (`files` done, `failed` attempts).
    pub scan: WarcSummary,
}

impl WorkerSummary {
    /// `worker: <n> files claimed, <n> lost to other workers[, stopped]`, then the scan
    /// line.
    pub fn render(&self) -> String {
        format!(
            "worker: {} files claimed, {} lost to other workers{}\n{}",
            self.claimed,
            self.lost,
            if self.stopped {
                ", stopped by a signal"
            } else {
                ""
            },
            self.scan.render()
        )
    }
}

/// A worker's hold on the file it scans: what [`super::scan_file`] renews between
/// records, and the stop flag it checks.
pub(super) struct Lease<'a> {
    worker_id: &'a str,
    source: String,
    length: Duration,
    renewed: std::sync::Mutex<Instant>,
    stop: &'a AtomicBool,
}

impl Lease<'_> {
    /// Renews the lease when a third of it has passed since the last renewal.
    pub(super) fn renew_if_due(&self, store: &Store, name: &str) -> Result<(), FileError> {
        if super::lock(&self.renewed).elapsed() < self.length / 3 || name != self.source {
            return Ok(());
        }
        let now = Utc::now();
        let held = store
            .renew_warc_lease(name, self.worker_id, now + chrono_of(self.length), now)
            .map_err(|e| FileError::Fatal(e.into()))?;
        if !held {
            return Err(FileError::LeaseLost);
        }
        *super::lock(&self.renewed) = Instant::now();
        Ok(())
    }

    pub(super) fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

fn chrono_of(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// Claims and scans files until the queue is empty (with `exit_when_empty` or `once`)
/// or `stop` is set. `after_file` runs after each file (the CLI delivers the alerts it
/// queued there).
///
/// # Errors
/// [`WebArchiveError`] when the store or the archive of originals cannot be used; the
/// file in hand is then given back to the queue.
pub fn run(
    settings: &Settings,
    store: &mut Store,
    options: &WorkerOptions,
    handle: &tokio::runtime::Handle,
    stop: &AtomicBool,
    after_file: &mut dyn FnMut(&mut Store),
) -> Result<WorkerSummary, WebArchiveError> {
    let started = Instant::now();
    let location = store.location();
    let mut ctx = Context::new(
        settings,
        load_detector(store, settings)?,
        &location,
        options.fast_reject,
        handle,
        indicatif::ProgressBar::hidden(),
    )?;
    tracing::info!(
        generation = ctx.detector.generation(),
        seconds = started.elapsed().as_secs_f64(),
        "index loaded"
    );
    let mut summary = WorkerSummary::default();
    let worker_id = options.worker_id.as_str();
    while !stop.load(Ordering::Relaxed) {
        refresh_if_changed(&mut ctx, store, settings)?;
        let now = Utc::now();
        let Some(claim) = store.claim_warc(
            worker_id,
            now + chrono_of(options.lease),
            options.max_attempts,
            now,
        )?
        else {
            if options.once {
                break;
            }
            if options.exit_when_empty {
                // Files still leased to other workers are not finished: one whose
                // worker died is taken over when its lease runs out, so a batch of
                // workers (an Indexed Job) ends only when every file is done or failed.
                let counts = store.queue_counts()?;
                if counts.queued + counts.in_progress == 0 {
                    break;
                }
            }
            sleep_unless_stopped(options.poll.min(options.lease / 2), stop);
            continue;
        };
        summary.claimed += 1;
        tracing::info!(source = %sanitize(&claim.source), attempt = claim.attempt, worker = %sanitize(worker_id), "claimed");
        ctx.worker = Some(Lease {
            worker_id,
            source: claim.source.clone(),
            length: options.lease,
            renewed: std::sync::Mutex::new(Instant::now()),
            stop,
        });
        let src = Source::parse(&claim.source);
        let outcome = super::scan_file(&ctx, store, &src, false);
        ctx.worker = None;
        let now = Utc::now();
        match outcome {
            Ok(file) => {
                if let Some(file) = &file {
                    summary.scan.files += 1;
                    summary.scan.resumed += usize::from(file.resumed);
                    summary.scan.add(file);
                } else {
                    // An earlier scan (`scan-warc` or a worker that died after it
                    // finished the file) already recorded everything in it.
                    summary.scan.already_done += 1;
                }
                if !store.finish_warc(&claim.source, worker_id, None, options.max_attempts, now)? {
                    summary.lost += 1;
                }
            }
            Err(FileError::Unreadable(file, why)) => {
                tracing::warn!(source = %sanitize(&claim.source), error = %sanitize(&why), "file not scanned to its end");
                summary.scan.failed += 1;
                summary
                    .scan
                    .failed_files
                    .push(format!("{}: {why}", claim.source));
                summary.scan.add(&file);
                store.finish_warc(
                    &claim.source,
                    worker_id,
                    Some(&why),
                    options.max_attempts,
                    now,
                )?;
            }
            Err(FileError::LeaseLost) => {
                tracing::warn!(source = %sanitize(&claim.source), "lease lost to another worker; file left to it");
                summary.lost += 1;
            }
            Err(FileError::Stopped) => {
                store.release_warc(&claim.source, worker_id, now)?;
                summary.stopped = true;
            }
            Err(FileError::Fatal(e)) => {
                // Best effort: the lease would run out anyway.
                let _ = store.release_warc(&claim.source, worker_id, now);
                return Err(e);
            }
        }
        after_file(store);
        if options.once {
            break;
        }
    }
    summary.stopped |= stop.load(Ordering::Relaxed);
    summary.scan.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Reloads the archive of originals (and with it everything the detector reads from the
/// store) when the store's change counter has moved since it was loaded: an ingest run
/// anywhere after this worker started reaches it before its next file. Between files
/// only, so one file is scanned against one archive.
fn refresh_if_changed(
    ctx: &mut Context<'_>,
    store: &Store,
    settings: &Settings,
) -> Result<(), WebArchiveError> {
    let current = store.archive_generation()?;
    let held = ctx.detector.generation();
    if current == held {
        return Ok(());
    }
    let started = Instant::now();
    ctx.detector = load_detector(store, settings)?;
    let (fingerprints, anchors) = ctx.detector.index_len();
    tracing::info!(
        from = held,
        to = ctx.detector.generation(),
        fingerprints,
        anchors,
        seconds = started.elapsed().as_secs_f64(),
        "originals changed; index reloaded"
    );
    Ok(())
}

/// The detector a worker scans with: its index mapped from the machine's shared index
/// file (`[index] mapped`, the default), or loaded into this process's memory.
fn load_detector(store: &Store, settings: &Settings) -> Result<Detector, WebArchiveError> {
    Ok(if settings.index.mapped {
        Detector::load_mapped(store, settings)?
    } else {
        Detector::load(store, settings)?
    })
}

/// Waits `total`, waking early when `stop` is set.
fn sleep_unless_stopped(total: Duration, stop: &AtomicBool) {
    let until = Instant::now() + total;
    while !stop.load(Ordering::Relaxed) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100).min(total));
    }
}

/// The default worker name: `hostname:pid`.
pub fn default_worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    format!("{host}:{}", std::process::id())
}
