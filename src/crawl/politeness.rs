//! The politeness scheduler: when may the next request to a host start.
//!
//! Rules, per host (host and port, see [`crate::crawl::urls::host_key`]):
//! - at most `connections_per_host` requests in flight (one by default);
//! - at least the delay between the end of one request and the start of the next, where
//!   the delay is the larger of `[crawl] per_host_delay` and the site's robots.txt
//!   `Crawl-delay`;
//! - after consecutive failures, an exponential backoff ([`backoff_delay`]) capped at
//!   `[crawl] max_backoff`;
//! - a `Retry-After` pushes the next start at least that far;
//! - at most `max_pages_per_host` requests per crawl cycle ([`HostScheduler::new_cycle`]).
//!
//! And globally at most `concurrency` requests in flight: a tokio semaphore whose permit
//! moves into the [`HostPermit`] that the fetching task holds and drops when done.
//!
//! This module only decides timing. It never fetches, never reads robots.txt itself, and
//! never touches the store: the pipeline persists [`HostScheduler::snapshot`]s and
//! restores them at start-up. Time is tokio's, so tests run with a paused clock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::config::CrawlSettings;

/// The first backoff step after one failure; it doubles with each further consecutive
/// failure.
pub const BACKOFF_BASE: Duration = Duration::from_secs(30);

/// The backoff after `failures` consecutive failures: `base · 2^(failures-1)`, at most
/// `cap`; zero when there were none.
pub fn backoff_delay(failures: u32, base: Duration, cap: Duration) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let factor = 1u32.checked_shl(failures - 1).unwrap_or(u32::MAX);
    base.checked_mul(factor).unwrap_or(cap).min(cap)
}

/// Why a permit was not given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcquireError {
    #[error("{host}: page budget of {budget} for this cycle used up")]
    BudgetExhausted { host: String, budget: u32 },
    #[error("crawler is shutting down")]
    Closed,
}

/// A host's state as the store keeps it between runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSnapshot {
    pub host: String,
    /// How long from now until the host may be contacted again (zero: now).
    pub wait: Duration,
    pub consecutive_failures: u32,
    /// Requests given out in the current cycle.
    pub pages_this_cycle: u32,
}

#[derive(Debug)]
struct HostEntry {
    /// Per-host connection slots.
    slots: Arc<Semaphore>,
    /// The earliest start of the next request.
    next_allowed: Instant,
    /// The site's robots.txt `Crawl-delay`, if any.
    crawl_delay: Option<Duration>,
    consecutive_failures: u32,
    pages: u32,
}

#[derive(Debug)]
struct Inner {
    global: Arc<Semaphore>,
    hosts: Mutex<HashMap<String, HostEntry>>,
    per_host_delay: Duration,
    connections_per_host: usize,
    max_pages_per_host: u32,
    max_backoff: Duration,
}

impl Inner {
    fn hosts(&self) -> MutexGuard<'_, HashMap<String, HostEntry>> {
        // Every critical section is a few field updates that cannot leave the map half
        // changed, so a lock poisoned by a panicking task is still safe to use.
        self.hosts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn entry<'a>(
        &self,
        hosts: &'a mut HashMap<String, HostEntry>,
        host: &str,
    ) -> &'a mut HostEntry {
        hosts.entry(host.to_string()).or_insert_with(|| HostEntry {
            slots: Arc::new(Semaphore::new(self.connections_per_host)),
            next_allowed: Instant::now(),
            crawl_delay: None,
            consecutive_failures: 0,
            pages: 0,
        })
    }

    fn delay(&self, entry: &HostEntry) -> Duration {
        entry
            .crawl_delay
            .map_or(self.per_host_delay, |d| d.max(self.per_host_delay))
    }
}

/// Hands out permits to fetch from a host, following the rules in the module header.
/// Cheap to clone; clones share state.
#[derive(Debug, Clone)]
pub struct HostScheduler {
    inner: Arc<Inner>,
}

impl HostScheduler {
    /// A scheduler with the limits of `[crawl]`.
    pub fn new(settings: &CrawlSettings) -> HostScheduler {
        HostScheduler {
            inner: Arc::new(Inner {
                global: Arc::new(Semaphore::new(settings.concurrency)),
                hosts: Mutex::new(HashMap::new()),
                per_host_delay: settings.per_host_delay,
                connections_per_host: settings.connections_per_host,
                max_pages_per_host: settings.max_pages_per_host,
                max_backoff: settings.max_backoff,
            }),
        }
    }

    /// Waits until a request to `host` may start, then returns the permit to hold while
    /// fetching. Waiting takes, in order: a per-host connection slot, the host's delay
    /// or backoff, and a global permit (so no global permit is held while sleeping).
    ///
    /// # Errors
    /// [`AcquireError::BudgetExhausted`] when the host's page budget for this cycle is
    /// used up (checked before waiting); [`AcquireError::Closed`] after
    /// [`HostScheduler::close`].
    pub async fn acquire(&self, host: &str) -> Result<HostPermit, AcquireError> {
        let slots = {
            let mut hosts = self.inner.hosts();
            let entry = self.inner.entry(&mut hosts, host);
            if entry.pages >= self.inner.max_pages_per_host {
                return Err(AcquireError::BudgetExhausted {
                    host: host.to_string(),
                    budget: self.inner.max_pages_per_host,
                });
            }
            entry.pages += 1;
            Arc::clone(&entry.slots)
        };
        let host_slot = slots
            .acquire_owned()
            .await
            .map_err(|_| AcquireError::Closed)?;
        // The deadline can move while we sleep (a Retry-After or failure reported by
        // another slot's request), so look again after each sleep.
        loop {
            let next = self.inner.entry(&mut self.inner.hosts(), host).next_allowed;
            if Instant::now() >= next {
                break;
            }
            tokio::time::sleep_until(next).await;
        }
        let global = Arc::clone(&self.inner.global)
            .acquire_owned()
            .await
            .map_err(|_| AcquireError::Closed)?;
        {
            // With several connections per host, starts are spaced by the delay too.
            let mut hosts = self.inner.hosts();
            let entry = self.inner.entry(&mut hosts, host);
            let delay = self.inner.delay(entry);
            entry.next_allowed = entry.next_allowed.max(Instant::now() + delay);
        }
        Ok(HostPermit {
            host: host.to_string(),
            inner: Arc::clone(&self.inner),
            _host_slot: host_slot,
            _global: global,
            reported: false,
        })
    }

    /// Records the site's robots.txt `Crawl-delay` (the larger of it and
    /// `per_host_delay` applies).
    pub fn set_crawl_delay(&self, host: &str, crawl_delay: Option<Duration>) {
        let mut hosts = self.inner.hosts();
        self.inner.entry(&mut hosts, host).crawl_delay = crawl_delay;
    }

    /// The delay between requests to `host` now in force.
    pub fn delay_for(&self, host: &str) -> Duration {
        let mut hosts = self.inner.hosts();
        let entry = self.inner.entry(&mut hosts, host);
        self.inner.delay(entry)
    }

    /// When a request to `host` may start next (now or in the past: right away). The
    /// pipeline uses it to pick URLs of hosts that are ready.
    pub fn ready_at(&self, host: &str) -> Instant {
        self.inner
            .hosts()
            .get(host)
            .map_or_else(Instant::now, |e| e.next_allowed)
    }

    /// Starts a new crawl cycle: every host's page budget is full again. Hosts with no
    /// failures and nothing pending are forgotten, which keeps the map small.
    pub fn new_cycle(&self) {
        let now = Instant::now();
        let mut hosts = self.inner.hosts();
        hosts.retain(|_, e| {
            e.consecutive_failures > 0
                || e.next_allowed > now
                || e.crawl_delay.is_some()
                || e.slots.available_permits() < self.inner.connections_per_host
        });
        for e in hosts.values_mut() {
            e.pages = 0;
        }
    }

    /// Stops handing out permits: waiting and later [`HostScheduler::acquire`] calls
    /// return [`AcquireError::Closed`]. Permits already held stay valid.
    pub fn close(&self) {
        self.inner.global.close();
        for e in self.inner.hosts().values() {
            e.slots.close();
        }
    }

    /// The state of `host` to persist, if the scheduler knows it.
    pub fn snapshot(&self, host: &str) -> Option<HostSnapshot> {
        let now = Instant::now();
        self.inner.hosts().get(host).map(|e| HostSnapshot {
            host: host.to_string(),
            wait: e.next_allowed.saturating_duration_since(now),
            consecutive_failures: e.consecutive_failures,
            pages_this_cycle: e.pages,
        })
    }

    /// Restores persisted state at start-up, so a restart does not forget that a host
    /// was backing off or asked us to wait.
    pub fn restore(&self, snapshot: &HostSnapshot) {
        let mut hosts = self.inner.hosts();
        let entry = self.inner.entry(&mut hosts, &snapshot.host);
        entry.next_allowed = Instant::now() + snapshot.wait;
        entry.consecutive_failures = snapshot.consecutive_failures;
        entry.pages = snapshot.pages_this_cycle;
    }
}

/// Permission to run one request to one host. Report how it went with
/// [`HostPermit::success`], [`HostPermit::failure`] or [`HostPermit::retry_after`];
/// dropping it unreported just starts the host's delay.
#[derive(Debug)]
pub struct HostPermit {
    host: String,
    inner: Arc<Inner>,
    /// Released on drop: frees the host's connection slot.
    _host_slot: OwnedSemaphorePermit,
    /// Released on drop: frees one unit of global concurrency.
    _global: OwnedSemaphorePermit,
    reported: bool,
}

impl HostPermit {
    /// The host this permit is for.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The request succeeded (any answer from the server that is not a failure, a 404
    /// included): the failure count is reset.
    pub fn success(mut self) {
        self.finish(|e, _, _| e.consecutive_failures = 0);
    }

    /// The request failed in a way that may pass (timeout, connection refused, 5xx): the
    /// host backs off exponentially. Returns the backoff applied.
    pub fn failure(mut self) -> Duration {
        let mut applied = Duration::ZERO;
        self.finish(|e, now, inner| {
            e.consecutive_failures = e.consecutive_failures.saturating_add(1);
            applied = backoff_delay(e.consecutive_failures, BACKOFF_BASE, inner.max_backoff);
            e.next_allowed = e.next_allowed.max(now + applied);
        });
        applied
    }

    /// The host answered 429/503 with `Retry-After`: no request before `after` has
    /// passed.
    pub fn retry_after(mut self, after: Duration) {
        self.finish(|e, now, _| e.next_allowed = e.next_allowed.max(now + after));
    }

    fn finish(&mut self, update: impl FnOnce(&mut HostEntry, Instant, &Inner)) {
        self.reported = true;
        let now = Instant::now();
        let mut hosts = self.inner.hosts();
        let entry = self.inner.entry(&mut hosts, &self.host);
        let delay = self.inner.delay(entry);
        entry.next_allowed = entry.next_allowed.max(now + delay);
        update(entry, now, &self.inner);
    }
}

impl Drop for HostPermit {
    fn drop(&mut self) {
        if !self.reported {
            self.finish(|_, _, _| {});
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(delay_ms: u64, concurrency: usize, budget: u32) -> CrawlSettings {
        CrawlSettings {
            per_host_delay: Duration::from_millis(delay_ms),
            concurrency,
            max_pages_per_host: budget,
            max_backoff: Duration::from_secs(600),
            ..CrawlSettings::default()
        }
    }

    #[test]
    fn backoff_table() {
        let base = Duration::from_secs(30);
        let cap = Duration::from_secs(3600);
        let table = [
            (0, 0),
            (1, 30),
            (2, 60),
            (3, 120),
            (4, 240),
            (7, 1920),
            (8, 3600),
            (40, 3600),
            (u32::MAX, 3600),
        ];
        for (failures, secs) in table {
            assert_eq!(
                backoff_delay(failures, base, cap),
                Duration::from_secs(secs),
                "{failures}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn requests_to_one_host_are_spaced_by_the_delay() {
        let s = HostScheduler::new(&settings(2000, 8, 100));
        let t0 = Instant::now();
        s.acquire("a.example").await.unwrap().success();
        s.acquire("a.example").await.unwrap().success();
        assert_eq!(t0.elapsed(), Duration::from_secs(2));
        // Another host is not held up by the first one's delay.
        let t1 = Instant::now();
        s.acquire("b.example").await.unwrap().success();
        assert_eq!(t1.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn crawl_delay_wins_when_longer() {
        let s = HostScheduler::new(&settings(2000, 8, 100));
        s.set_crawl_delay("a.example", Some(Duration::from_secs(5)));
        assert_eq!(s.delay_for("a.example"), Duration::from_secs(5));
        s.set_crawl_delay("b.example", Some(Duration::from_secs(1)));
        assert_eq!(s.delay_for("b.example"), Duration::from_secs(2));
        let t0 = Instant::now();
        drop(s.acquire("a.example").await.unwrap());
        drop(s.acquire("a.example").await.unwrap());
        assert_eq!(t0.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn one_connection_per_host_and_a_global_limit() {
        let s = HostScheduler::new(&settings(0, 2, 100));
        let a = s.acquire("a.example").await.unwrap();
        // A second request to the same host waits for the first to finish.
        let same = tokio::time::timeout(Duration::from_secs(60), s.acquire("a.example")).await;
        assert!(same.is_err(), "second connection to one host");
        let b = s.acquire("b.example").await.unwrap();
        // Two permits are out: a third host waits for one of them.
        let s2 = s.clone();
        let third = tokio::spawn(async move {
            let t = Instant::now();
            let p = s2.acquire("c.example").await.unwrap();
            drop(p);
            t.elapsed()
        });
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(!third.is_finished());
        drop(b);
        assert_eq!(third.await.unwrap(), Duration::from_secs(10));
        a.success();
    }

    #[tokio::test(start_paused = true)]
    async fn failures_back_off_and_success_resets() {
        let s = HostScheduler::new(&settings(1000, 8, 100));
        assert_eq!(
            s.acquire("h").await.unwrap().failure(),
            Duration::from_secs(30)
        );
        let t0 = Instant::now();
        assert_eq!(
            s.acquire("h").await.unwrap().failure(),
            Duration::from_secs(60)
        );
        assert_eq!(t0.elapsed(), Duration::from_secs(30));
        let t1 = Instant::now();
        s.acquire("h").await.unwrap().success();
        assert_eq!(t1.elapsed(), Duration::from_secs(60));
        assert_eq!(s.snapshot("h").unwrap().consecutive_failures, 0);
        for _ in 0..10 {
            s.acquire("h").await.unwrap().failure();
        }
        // Capped at max_backoff.
        assert_eq!(s.snapshot("h").unwrap().wait, Duration::from_secs(600));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured() {
        let s = HostScheduler::new(&settings(1000, 8, 100));
        s.acquire("h")
            .await
            .unwrap()
            .retry_after(Duration::from_secs(120));
        let t0 = Instant::now();
        drop(s.acquire("h").await.unwrap());
        assert_eq!(t0.elapsed(), Duration::from_secs(120));
    }

    #[tokio::test(start_paused = true)]
    async fn budget_per_cycle() {
        let s = HostScheduler::new(&settings(0, 8, 3));
        for _ in 0..3 {
            s.acquire("h").await.unwrap().success();
        }
        let err = s.acquire("h").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "h: page budget of 3 for this cycle used up"
        );
        s.new_cycle();
        assert!(s.acquire("h").await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn snapshots_survive_a_restart_and_close_stops_waiters() {
        let s = HostScheduler::new(&settings(0, 8, 100));
        s.acquire("h").await.unwrap().failure();
        let snap = s.snapshot("h").unwrap();
        let fresh = HostScheduler::new(&settings(0, 8, 100));
        fresh.restore(&snap);
        let t0 = Instant::now();
        drop(fresh.acquire("h").await.unwrap());
        assert_eq!(t0.elapsed(), Duration::from_secs(30));
        let held = fresh.acquire("x").await.unwrap();
        let f2 = fresh.clone();
        let waiter = tokio::spawn(async move { f2.acquire("x").await.map(drop) });
        tokio::task::yield_now().await;
        fresh.close();
        assert_eq!(waiter.await.unwrap(), Err(AcquireError::Closed));
        drop(held);
    }
}
