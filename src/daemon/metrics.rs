//! The daemon's counters and gauges, rendered in the Prometheus text format.
//!
//! Plain atomics updated by the tasks that own each number (the crawl loop, the
//! originals refresh, the reload handler) and read by `/metrics`. Nothing here blocks or
//! allocates on the hot path, and nothing here ever touches the store.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::crawl::pipeline::CrawlSummary;

/// Every number `/metrics` shows. Counters only grow; gauges are overwritten.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Set once the index is loaded; `/healthz` answers 503 until then.
    ready: AtomicBool,
    /// The one-line status of `/healthz` and systemd's `STATUS=`.
    status: Mutex<String>,
    /// Pages fetched with a new or changed body (counter).
    pages_fetched: AtomicU64,
    /// Pages answered 304 or unchanged (counter).
    pages_not_modified: AtomicU64,
    /// Failed or disallowed fetches (counter).
    pages_failed: AtomicU64,
    /// Matches recorded in the store, by verdict (gauges, read back from the store).
    matches_copy: AtomicU64,
    matches_partial: AtomicU64,
    matches_licensed: AtomicU64,
    /// Matches by review status (gauges, read back from the store), in
    /// `ReviewStatus::ALL` order: the review backlog is the unreviewed count.
    matches_by_status: [AtomicU64; crate::store::ReviewStatus::ALL.len()],
    /// Alerts by outcome: sent (counter), failed permanently (counter), queued (gauge).
    alerts_sent: AtomicU64,
    alerts_failed: AtomicU64,
    alerts_queued: AtomicU64,
    /// Frontier URLs still queued (gauge).
    frontier_queued: AtomicU64,
    /// Archive files in the workers' queue: queued, in progress, done, failed (gauges,
    /// read back from the store).
    warc_queue: [AtomicU64; 4],
    /// Originals in the archive (gauge).
    originals: AtomicU64,
    /// Fingerprints and anchors in the in-memory index (gauges).
    index_fingerprints: AtomicU64,
    index_anchors: AtomicU64,
    /// Crawl cycles completed (counter) and the last one's duration in milliseconds.
    cycles: AtomicU64,
    last_cycle_ms: AtomicU64,
    /// Originals refresh passes completed (counter).
    ingest_passes: AtomicU64,
    /// Config reloads applied and refused (counters).
    reloads_ok: AtomicU64,
    reloads_refused: AtomicU64,
    /// Open cases by state (gauges, read back from the store), in `CaseState::ALL`
    /// order (the last, closed, stays 0).
    open_cases: [AtomicU64; 7],
    /// Re-checks by result since start (counters), in `RecheckResult::ALL` order.
    rechecks: [AtomicU64; 4],
}

fn set(a: &AtomicU64, v: u64) {
    a.store(v, Ordering::Relaxed);
}

fn add(a: &AtomicU64, v: u64) {
    a.fetch_add(v, Ordering::Relaxed);
}

fn get(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

impl Metrics {
    /// Marks the daemon ready (the index is loaded).
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// Whether the daemon is ready.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Replaces the one-line status.
    pub fn set_status(&self, status: String) {
        // A poisoned lock only means a writer panicked mid-assignment of a String, which
        // leaves a valid String behind: keep using it.
        let mut guard = self.status.lock().unwrap_or_else(|p| p.into_inner());
        *guard = status;
    }

    /// The one-line status.
    pub fn status(&self) -> String {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Adds one crawl cycle's page counts and records its duration.
    pub fn record_cycle(&self, summary: &CrawlSummary, duration: std::time::Duration) {
        add(&self.pages_fetched, summary.fetched as u64);
        add(&self.pages_not_modified, summary.not_modified as u64);
        add(&self.pages_failed, summary.failed as u64);
        add(&self.cycles, 1);
        set(&self.last_cycle_ms, duration.as_millis() as u64);
    }

    /// The recorded matches by verdict, as counted in the store.
    pub fn set_matches(&self, copy: i64, partial: i64, licensed: i64) {
        set(&self.matches_copy, copy.max(0) as u64);
        set(&self.matches_partial, partial.max(0) as u64);
        set(&self.matches_licensed, licensed.max(0) as u64);
    }

    /// The recorded matches by review status, as counted in the store.
    pub fn set_review_counts(&self, counts: &[(crate::store::ReviewStatus, i64)]) {
        for (status, n) in counts {
            if let Some(i) = crate::store::ReviewStatus::ALL
                .iter()
                .position(|s| s == status)
            {
                set(&self.matches_by_status[i], (*n).max(0) as u64);
            }
        }
    }

    /// Alerts sent and failed since start, and queued now.
    pub fn add_alerts(&self, sent: u64, failed: u64) {
        add(&self.alerts_sent, sent);
        add(&self.alerts_failed, failed);
    }

    /// Alerts waiting in the outbox now.
    pub fn set_alerts_queued(&self, queued: u64) {
        set(&self.alerts_queued, queued);
    }

    /// Open cases by state, as counted in the store.
    pub fn set_open_cases(&self, counts: &[(crate::cases::CaseState, i64)]) {
        for (state, n) in counts {
            if let Some(i) = crate::cases::CaseState::ALL.iter().position(|s| s == state) {
                set(&self.open_cases[i], (*n).max(0) as u64);
            }
        }
    }

    /// One re-check done, by its result.
    pub fn record_recheck(&self, result: crate::cases::RecheckResult) {
        if let Some(i) = crate::cases::RecheckResult::ALL
            .iter()
            .position(|r| *r == result)
        {
            add(&self.rechecks[i], 1);
        }
    }

    /// Archive files in the workers' queue, by state.
    pub fn set_warc_queue(&self, c: &crate::store::QueueCounts) {
        for (a, v) in self
            .warc_queue
            .iter()
            .zip([c.queued, c.in_progress, c.done, c.failed])
        {
            set(a, v);
        }
    }

    /// Frontier URLs queued.
    pub fn set_frontier(&self, queued: u64) {
        set(&self.frontier_queued, queued);
    }

    /// Originals in the archive.
    pub fn set_originals(&self, n: i64) {
        set(&self.originals, n.max(0) as u64);
    }

    /// The in-memory index's size.
    pub fn set_index(&self, fingerprints: usize, anchors: usize) {
        set(&self.index_fingerprints, fingerprints as u64);
        set(&self.index_anchors, anchors as u64);
    }

    /// One originals refresh pass done.
    pub fn ingest_pass(&self) {
        add(&self.ingest_passes, 1);
    }

    /// A config reload applied (`true`) or refused (`false`).
    pub fn reload(&self, applied: bool) {
        add(
            if applied {
                &self.reloads_ok
            } else {
                &self.reloads_refused
            },
            1,
        );
    }

    /// Crawl cycles completed.
    pub fn cycles(&self) -> u64 {
        get(&self.cycles)
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let mut metric = |name: &str, kind: &str, help: &str, values: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in values {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        metric(
            "copyhound_up",
            "gauge",
            "1 once the index is loaded and the daemon is working.",
            &[("", u64::from(self.is_ready()))],
        );
        metric(
            "copyhound_pages_fetched_total",
            "counter",
            "Crawled pages by outcome.",
            &[
                ("{outcome=\"fetched\"}", get(&self.pages_fetched)),
                ("{outcome=\"not_modified\"}", get(&self.pages_not_modified)),
                ("{outcome=\"failed\"}", get(&self.pages_failed)),
            ],
        );
        metric(
            "copyhound_matches",
            "gauge",
            "Matches recorded, by verdict (licensed partners' copies apart).",
            &[
                ("{verdict=\"copy\"}", get(&self.matches_copy)),
                ("{verdict=\"partial\"}", get(&self.matches_partial)),
                ("{verdict=\"licensed\"}", get(&self.matches_licensed)),
            ],
        );
        let by_status: Vec<(String, u64)> = crate::store::ReviewStatus::ALL
            .iter()
            .zip(&self.matches_by_status)
            .map(|(s, n)| (format!("{{status=\"{}\"}}", s.as_str()), get(n)))
            .collect();
        let by_status: Vec<(&str, u64)> = by_status.iter().map(|(l, n)| (l.as_str(), *n)).collect();
        metric(
            "copyhound_matches_by_status",
            "gauge",
            "Matches by review status (unreviewed is the review desk's backlog).",
            &by_status,
        );
        metric(
            "copyhound_alerts_total",
            "counter",
            "Alert emails by outcome since start.",
            &[
                ("{outcome=\"sent\"}", get(&self.alerts_sent)),
                ("{outcome=\"failed\"}", get(&self.alerts_failed)),
            ],
        );
        metric(
            "copyhound_alerts_queued",
            "gauge",
            "Alert emails waiting in the outbox.",
            &[("", get(&self.alerts_queued))],
        );
        let queue = &self.warc_queue;
        metric(
            "copyhound_warc_queue_files",
            "gauge",
            "Archive files in the workers' queue (scan-warc --enqueue), by state.",
            &[
                ("{state=\"queued\"}", get(&queue[0])),
                ("{state=\"in_progress\"}", get(&queue[1])),
                ("{state=\"done\"}", get(&queue[2])),
                ("{state=\"failed\"}", get(&queue[3])),
            ],
        );
        metric(
            "copyhound_frontier_queued",
            "gauge",
            "Frontier URLs waiting to be fetched.",
            &[("", get(&self.frontier_queued))],
        );
        metric(
            "copyhound_originals",
            "gauge",
            "Original articles in the archive.",
            &[("", get(&self.originals))],
        );
        metric(
            "copyhound_index_entries",
            "gauge",
            "Entries of the in-memory index, by kind.",
            &[
                ("{kind=\"fingerprint\"}", get(&self.index_fingerprints)),
                ("{kind=\"anchor\"}", get(&self.index_anchors)),
            ],
        );
        metric(
            "copyhound_crawl_cycles_total",
            "counter",
            "Crawl cycles completed since start.",
            &[("", get(&self.cycles))],
        );
        metric(
            "copyhound_last_cycle_duration_seconds",
            "gauge",
            "Duration of the last completed crawl cycle.",
            &[],
        );
        let _ = writeln!(
            out,
            "copyhound_last_cycle_duration_seconds {:.3}",
            get(&self.last_cycle_ms) as f64 / 1000.0
        );
        let mut metric = |name: &str, kind: &str, help: &str, values: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in values {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let open: Vec<(String, u64)> = crate::cases::CaseState::ALL
            .iter()
            .zip(&self.open_cases)
            .filter(|(s, _)| s.is_open())
            .map(|(s, n)| (format!("{{state=\"{}\"}}", s.as_str()), get(n)))
            .collect();
        let open: Vec<(&str, u64)> = open.iter().map(|(l, n)| (l.as_str(), *n)).collect();
        metric(
            "copyhound_cases_open",
            "gauge",
            "Open cases (infringing matches followed to their end), by state.",
            &open,
        );
        let rechecks: Vec<(String, u64)> = crate::cases::RecheckResult::ALL
            .iter()
            .zip(&self.rechecks)
            .map(|(r, n)| (format!("{{result=\"{}\"}}", r.as_str()), get(n)))
            .collect();
        let rechecks: Vec<(&str, u64)> = rechecks.iter().map(|(l, n)| (l.as_str(), *n)).collect();
        metric(
            "copyhound_case_rechecks_total",
            "counter",
            "Re-checks of cases' copies since start, by result.",
            &rechecks,
        );
        metric(
            "copyhound_ingest_passes_total",
            "counter",
            "Originals refresh passes completed since start.",
            &[("", get(&self.ingest_passes))],
        );
        metric(
            "copyhound_config_reloads_total",
            "counter",
            "Config reloads (SIGHUP) by result.",
            &[
                ("{result=\"applied\"}", get(&self.reloads_ok)),
                ("{result=\"refused\"}", get(&self.reloads_refused)),
            ],
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.record_cycle(
            &CrawlSummary {
                fetched: 3,
                failed: 1,
                ..CrawlSummary::default()
            },
            std::time::Duration::from_millis(1500),
        );
        m.set_matches(2, 1, 1);
        m.reload(false);
        m.set_open_cases(&[(crate::cases::CaseState::NoticeSent, 4)]);
        m.record_recheck(crate::cases::RecheckResult::Removed);
        m.set_warc_queue(&crate::store::QueueCounts {
            queued: 5,
            in_progress: 2,
            done: 7,
            failed: 1,
        });
        let text = m.render();
        assert!(text.contains("copyhound_warc_queue_files{state=\"in_progress\"} 2\n"));
        assert!(text.contains("copyhound_warc_queue_files{state=\"failed\"} 1\n"));
        assert!(text.contains("copyhound_cases_open{state=\"notice-sent\"} 4\n"));
        assert!(text.contains("copyhound_cases_open{state=\"escalated\"} 0\n"));
        assert!(!text.contains("state=\"closed\""));
        assert!(text.contains("copyhound_case_rechecks_total{result=\"removed\"} 1\n"));
        assert!(text.contains("copyhound_pages_fetched_total{outcome=\"fetched\"} 3\n"));
        assert!(text.contains("copyhound_pages_fetched_total{outcome=\"failed\"} 1\n"));
        assert!(text.contains("copyhound_matches{verdict=\"copy\"} 2\n"));
        assert!(text.contains("copyhound_last_cycle_duration_seconds 1.500\n"));
        assert!(text.contains("copyhound_config_reloads_total{result=\"refused\"} 1\n"));
        assert!(text.contains("copyhound_up 0\n"));
        // Every sample line is `name{labels} value` or a comment.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert_eq!(line.split(' ').count(), 2, "{line}");
        }
    }
}
