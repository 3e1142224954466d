//! The crawler's state: the frontier (URLs to fetch), per-host politeness state, and the
//! history of fetches (validators and content hashes).
//!
//! What survives a crash: a URL is in the frontier once [`Store::enqueue_urls`] returns;
//! a claimed URL whose fetch never finished is `fetching` and goes back to `queued` at
//! the next start-up ([`Store::requeue_interrupted`]), so a restart resumes where it
//! stopped and the `UNIQUE` frontier key keeps it free of duplicates. A fetch is
//! recorded once [`Store::record_fetch`] returns; its content hash tells the pipeline
//! whether a page changed since the last fetch, so an unchanged page is not processed
//! again.
//!
//! Like the rest of `store`, this is the only place that knows the tables; it never
//! fetches and never judges URLs (the caller passes normalised URLs and keys).

use crate::store::sql::{params, OptionalExtension};
use chrono::{DateTime, Utc};

use super::{begin_write, timestamp, Store, StoreError};

/// A URL to add to the frontier; `url` normalised, `url_key` and `host` computed by
/// `crawl::urls` (`dedupe_key`, `host_key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontierUrl {
    pub url: String,
    pub url_key: String,
    pub host: String,
    pub depth: u32,
    pub discovered_from: Option<String>,
}

/// A frontier URL claimed for fetching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontierItem {
    pub url: String,
    pub url_key: String,
    pub host: String,
    pub depth: u32,
    pub discovered_from: Option<String>,
    /// Fetch attempts so far, this one included.
    pub attempts: u32,
}

/// Where a frontier URL stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrontierState {
    Queued,
    Fetching,
    Done,
    Failed,
}

impl FrontierState {
    fn parse(text: &str) -> FrontierState {
        match text {
            "fetching" => FrontierState::Fetching,
            "done" => FrontierState::Done,
            "failed" => FrontierState::Failed,
            // The CHECK constraint admits only the four names; `queued` is the rest.
            _ => FrontierState::Queued,
        }
    }
}

/// How many frontier URLs are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrontierCounts {
    pub queued: u64,
    pub fetching: u64,
    pub done: u64,
    pub failed: u64,
}

/// One fetch, as the history keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRecord {
    pub url_key: String,
    pub url: String,
    pub final_url: Option<String>,
    pub fetched_at: DateTime<Utc>,
    /// HTTP status; 0 when no response arrived.
    pub status: u16,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// SHA-256 (hex) of the decoded body, for 2xx fetches.
    pub content_sha256: Option<String>,
}

/// Whether a fetched page differs from its previous fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentChange {
    /// First fetch with a body.
    New,
    /// The body differs from the last fetch's: process it.
    Changed,
    /// Same body (or a 304): nothing to process.
    Unchanged,
    /// The fetch had no body (an error status).
    NoContent,
}

/// A host's politeness state between runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRecord {
    pub host: String,
    pub next_allowed_at: Option<DateTime<Utc>>,
    pub consecutive_failures: u32,
    pub backoff_until: Option<DateTime<Utc>>,
}

/// The crawl loop's bookkeeping for a run of pages, written in one transaction by
/// [`Store::apply_crawl_batch`]: one disk sync for many pages instead of several per
/// page. Losing a batch to a crash is harmless: its URLs are still `fetching`, go back
/// to `queued` at the next start-up and are fetched again (matches are recorded at once,
/// outside batches, and deduplicated).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrawlBatch {
    /// New frontier URLs (links followed), as [`Store::enqueue_urls`].
    pub enqueue: Vec<FrontierUrl>,
    /// Fetches for the history, as [`Store::record_fetch`].
    pub fetches: Vec<FetchRecord>,
    /// URLs fetched (whatever the page turned out to be), as [`Store::mark_done`].
    pub done: Vec<String>,
    /// `(url_key, error, retry_at)`, as [`Store::mark_failed`].
    pub failed: Vec<(String, String, Option<DateTime<Utc>>)>,
}

impl CrawlBatch {
    /// Pages (done or failed) in the batch.
    pub fn pages(&self) -> usize {
        self.done.len() + self.failed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.enqueue.is_empty()
            && self.fetches.is_empty()
            && self.done.is_empty()
            && self.failed.is_empty()
    }
}

/// A claimed frontier row (`RETURNING url, url_key, host, depth, discovered_from,
/// attempts`).
fn frontier_item(r: &crate::store::sql::Row) -> crate::store::sql::Result<FrontierItem> {
    Ok(FrontierItem {
        url: r.get(0)?,
        url_key: r.get(1)?,
        host: r.get(2)?,
        depth: r.get(3)?,
        discovered_from: r.get(4)?,
        attempts: r.get(5)?,
    })
}

fn parse_time(text: Option<String>) -> Option<DateTime<Utc>> {
    text.and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc))
}

impl Store {
    /// Adds URLs to the frontier as `queued`, due now; URLs whose key is already there
    /// (in any state) are left alone. One transaction. Returns how many were new.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written.
    pub fn enqueue_urls(
        &mut self,
        urls: &[FrontierUrl],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let path = self.path.clone();
        let err = |source| StoreError::Db {
            path: path.clone(),
            source,
        };
        let tx = begin_write(&mut self.conn).map_err(err)?;
        let mut added = 0;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO crawl_frontier
                       (url, url_key, host, depth, discovered_from, next_fetch_at, added_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
                 ON CONFLICT DO NOTHING",
                )
                .map_err(err)?;
            let now = timestamp(now);
            for u in urls {
                added += stmt
                    .execute(params![
                        u.url,
                        u.url_key,
                        u.host,
                        u.depth,
                        u.discovered_from,
                        now
                    ])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        Ok(added)
    }

    /// Claims up to `limit` queued URLs that are due at `now`, shallowest first, and
    /// marks them `fetching`. One transaction, so two claimers never get the same URL.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written.
    pub fn claim_due(
        &mut self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<FrontierItem>, StoreError> {
        // A per-host cap of `limit` caps nothing: the claim takes `limit` URLs in all.
        self.claim_due_spread(now, limit, limit)
    }

    /// Like [`Store::claim_due`], but at most `per_host` URLs of any one host, so that a
    /// host with a deep queue cannot fill the crawler's pipeline and starve the others.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written.
    pub fn claim_due_spread(
        &mut self,
        now: DateTime<Utc>,
        limit: usize,
        per_host: usize,
    ) -> Result<Vec<FrontierItem>, StoreError> {
        let path = self.path.clone();
        let err = |source| StoreError::Db {
            path: path.clone(),
            source,
        };
        let tx = begin_write(&mut self.conn).map_err(err)?;
        let items = {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE crawl_frontier SET state = 'fetching', attempts = attempts + 1
                     WHERE id IN (
                         SELECT id FROM (
                             SELECT id, depth, next_fetch_at, ROW_NUMBER() OVER (
                                 PARTITION BY host ORDER BY depth, next_fetch_at, id) AS n
                             FROM crawl_frontier
                             WHERE state = 'queued' AND next_fetch_at <= ?1) AS ranked
                         WHERE n <= ?3
                         ORDER BY depth, next_fetch_at, id
                         LIMIT ?2)
                     RETURNING url, url_key, host, depth, discovered_from, attempts",
                )
                .map_err(err)?;
            let rows = stmt
                .query_map(
                    params![timestamp(now), limit as i64, per_host.max(1) as i64],
                    frontier_item,
                )
                .map_err(err)?;
            let mut items = rows.collect::<Result<Vec<_>, _>>().map_err(err)?;
            items.sort_by_key(|i| i.depth);
            items
        };
        tx.commit().map_err(err)?;
        Ok(items)
    }

    /// Claims the URLs of `keys` that are queued and due at `now` (marking them
    /// `fetching`, as [`Store::claim_due`]); the others are left as they are. One
    /// transaction.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written.
    pub fn claim_keys(
        &mut self,
        keys: &[String],
        now: DateTime<Utc>,
    ) -> Result<Vec<FrontierItem>, StoreError> {
        let path = self.path.clone();
        let err = |source| StoreError::Db {
            path: path.clone(),
            source,
        };
        let tx = begin_write(&mut self.conn).map_err(err)?;
        let mut items = Vec::new();
        {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE crawl_frontier SET state = 'fetching', attempts = attempts + 1
                     WHERE url_key = ?1 AND state = 'queued' AND next_fetch_at <= ?2
                     RETURNING url, url_key, host, depth, discovered_from, attempts",
                )
                .map_err(err)?;
            let now = timestamp(now);
            for key in keys {
                let item = stmt
                    .query_row(params![key, now], frontier_item)
                    .optional()
                    .map_err(err)?;
                items.extend(item);
            }
        }
        tx.commit().map_err(err)?;
        Ok(items)
    }

    /// Writes a [`CrawlBatch`] in one transaction: links enqueued, fetches recorded,
    /// URLs marked done or failed. Returns how many enqueued URLs were new.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written; nothing is then written.
    pub fn apply_crawl_batch(
        &mut self,
        batch: &CrawlBatch,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let path = self.path.clone();
        let err = |source| StoreError::Db {
            path: path.clone(),
            source,
        };
        let tx = begin_write(&mut self.conn).map_err(err)?;
        let mut added = 0;
        {
            let now = timestamp(now);
            let mut enqueue = tx
                .prepare_cached(
                    "INSERT INTO crawl_frontier
                       (url, url_key, host, depth, discovered_from, next_fetch_at, added_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
                 ON CONFLICT DO NOTHING",
                )
                .map_err(err)?;
            for u in &batch.enqueue {
                added += enqueue
                    .execute(params![
                        u.url,
                        u.url_key,
                        u.host,
                        u.depth,
                        u.discovered_from,
                        now
                    ])
                    .map_err(err)?;
            }
            let mut fetch = tx
                .prepare_cached(
                    "INSERT INTO crawl_fetches
                       (url_key, url, final_url, fetched_at, status, etag, last_modified,
                        content_sha256)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(err)?;
            for r in &batch.fetches {
                fetch
                    .execute(params![
                        r.url_key,
                        r.url,
                        r.final_url,
                        timestamp(r.fetched_at),
                        r.status,
                        r.etag,
                        r.last_modified,
                        r.content_sha256,
                    ])
                    .map_err(err)?;
            }
            let mut done = tx
                .prepare_cached(
                    "UPDATE crawl_frontier SET state = 'done', last_error = NULL
                     WHERE url_key = ?1",
                )
                .map_err(err)?;
            for key in &batch.done {
                done.execute(params![key]).map_err(err)?;
            }
            let mut failed = tx
                .prepare_cached(
                    "UPDATE crawl_frontier
                     SET state = ?2, last_error = ?3,
                         next_fetch_at = COALESCE(?4, next_fetch_at)
                     WHERE url_key = ?1",
                )
                .map_err(err)?;
            for (key, error, retry_at) in &batch.failed {
                let state = if retry_at.is_some() {
                    "queued"
                } else {
                    "failed"
                };
                failed
                    .execute(params![key, state, error, retry_at.map(timestamp)])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        Ok(added)
    }

    /// Puts URLs left `fetching` by a run that stopped (crash, kill, shutdown deadline)
    /// back to `queued`. Call once at start-up, before claiming. Returns how many.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written.
    pub fn requeue_interrupted(&mut self) -> Result<usize, StoreError> {
        self.conn
            .execute(
                "UPDATE crawl_frontier SET state = 'queued' WHERE state = 'fetching'",
                [],
            )
            .map_err(|e| self.err(e))
    }

    /// Marks a URL fetched (whatever the page turned out to be).
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written.
    pub fn mark_done(&mut self, url_key: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE crawl_frontier SET state = 'done', last_error = NULL WHERE url_key = ?1",
                params![url_key],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Records a failed fetch: with `retry_at` the URL is queued again for then (a
    /// transient failure or a Retry-After); without, it is `failed` for good.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written.
    pub fn mark_failed(
        &mut self,
        url_key: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let (state, next) = match retry_at {
            Some(t) => ("queued", Some(timestamp(t))),
            None => ("failed", None),
        };
        self.conn
            .execute(
                "UPDATE crawl_frontier
                 SET state = ?2, last_error = ?3, next_fetch_at = COALESCE(?4, next_fetch_at)
                 WHERE url_key = ?1",
                params![url_key, state, error, next],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Queues `done` URLs again for a new crawl cycle, due at `due`. Returns how many.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written.
    pub fn requeue_done(&mut self, due: DateTime<Utc>) -> Result<usize, StoreError> {
        self.conn
            .execute(
                "UPDATE crawl_frontier SET state = 'queued', next_fetch_at = ?1
                 WHERE state = 'done'",
                params![timestamp(due)],
            )
            .map_err(|e| self.err(e))
    }

    /// The state of one frontier URL, by key.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn frontier_state(&self, url_key: &str) -> Result<Option<FrontierState>, StoreError> {
        self.conn
            .query_row(
                "SELECT state FROM crawl_frontier WHERE url_key = ?1",
                params![url_key],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map(|s| s.as_deref().map(FrontierState::parse))
            .map_err(|e| self.err(e))
    }

    /// How many frontier URLs are in each state.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn frontier_counts(&self) -> Result<FrontierCounts, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT state, COUNT(*) FROM crawl_frontier GROUP BY state")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(|e| self.err(e))?;
        let mut counts = FrontierCounts::default();
        for row in rows {
            let (state, n) = row.map_err(|e| self.err(e))?;
            let n = n.max(0) as u64;
            match FrontierState::parse(&state) {
                FrontierState::Queued => counts.queued = n,
                FrontierState::Fetching => counts.fetching = n,
                FrontierState::Done => counts.done = n,
                FrontierState::Failed => counts.failed = n,
            }
        }
        Ok(counts)
    }

    /// Appends a fetch to the history and says whether the content changed since the
    /// last fetch that had a body. A 304 is `Unchanged`.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written.
    pub fn record_fetch(&mut self, record: &FetchRecord) -> Result<ContentChange, StoreError> {
        let path = self.path.clone();
        let err = |source| StoreError::Db {
            path: path.clone(),
            source,
        };
        let tx = begin_write(&mut self.conn).map_err(err)?;
        let previous: Option<String> = tx
            .query_row(
                "SELECT content_sha256 FROM crawl_fetches
                 WHERE url_key = ?1 AND content_sha256 IS NOT NULL
                 ORDER BY id DESC LIMIT 1",
                params![record.url_key],
                |r| r.get(0),
            )
            .optional()
            .map_err(err)?;
        tx.execute(
            "INSERT INTO crawl_fetches
               (url_key, url, final_url, fetched_at, status, etag, last_modified, content_sha256)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                record.url_key,
                record.url,
                record.final_url,
                timestamp(record.fetched_at),
                record.status,
                record.etag,
                record.last_modified,
                record.content_sha256,
            ],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(match (&record.content_sha256, previous) {
            _ if record.status == 304 => ContentChange::Unchanged,
            (None, _) => ContentChange::NoContent,
            (Some(_), None) => ContentChange::New,
            (Some(now), Some(before)) if *now == before => ContentChange::Unchanged,
            (Some(_), Some(_)) => ContentChange::Changed,
        })
    }

    /// The latest fetch of a URL that carried a body: its validators are what the next
    /// conditional request sends.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn last_fetch(&self, url_key: &str) -> Result<Option<FetchRecord>, StoreError> {
        self.conn
            .query_row(
                "SELECT url_key, url, final_url, fetched_at, status, etag, last_modified,
                        content_sha256
                 FROM crawl_fetches
                 WHERE url_key = ?1 AND content_sha256 IS NOT NULL
                 ORDER BY id DESC LIMIT 1",
                params![url_key],
                |r| {
                    Ok(FetchRecord {
                        url_key: r.get(0)?,
                        url: r.get(1)?,
                        final_url: r.get(2)?,
                        fetched_at: parse_time(r.get(3)?).unwrap_or_default(),
                        status: r.get(4)?,
                        etag: r.get(5)?,
                        last_modified: r.get(6)?,
                        content_sha256: r.get(7)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Saves a host's politeness state (insert or replace).
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written.
    pub fn save_host(&mut self, host: &HostRecord, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO crawl_hosts
                   (host, next_allowed_at, consecutive_failures, backoff_until, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (host) DO UPDATE SET
                   next_allowed_at = excluded.next_allowed_at,
                   consecutive_failures = excluded.consecutive_failures,
                   backoff_until = excluded.backoff_until,
                   updated_at = excluded.updated_at",
                params![
                    host.host,
                    host.next_allowed_at.map(timestamp),
                    host.consecutive_failures,
                    host.backoff_until.map(timestamp),
                    timestamp(now),
                ],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Every saved host state, for restoring the scheduler at start-up.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn load_hosts(&self) -> Result<Vec<HostRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT host, next_allowed_at, consecutive_failures, backoff_until
                 FROM crawl_hosts ORDER BY host",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(HostRecord {
                    host: r.get(0)?,
                    next_allowed_at: parse_time(r.get(1)?),
                    consecutive_failures: r.get(2)?,
                    backoff_until: parse_time(r.get(3)?),
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn url(n: u32, depth: u32) -> FrontierUrl {
        FrontierUrl {
            url: format!("https://h.example/{n}"),
            url_key: format!("//h.example/{n}"),
            host: "h.example".into(),
            depth,
            discovered_from: None,
        }
    }

    #[test]
    fn frontier_lifecycle() {
        crate::store::testdb::on_both(|| {
            let dir = tempfile::tempdir().unwrap();
            let mut store = crate::store::testdb::open(dir.path()).unwrap();
            let now = Utc.with_ymd_and_hms(2026, 11, 26, 8, 0, 0).unwrap();
            assert_eq!(store.enqueue_urls(&[url(1, 1), url(2, 0)], now).unwrap(), 2);
            assert_eq!(store.enqueue_urls(&[url(1, 0), url(3, 2)], now).unwrap(), 1);
            let claimed = store.claim_due(now, 2).unwrap();
            assert_eq!(
                claimed
                    .iter()
                    .map(|i| i.url_key.as_str())
                    .collect::<Vec<_>>(),
                vec!["//h.example/2", "//h.example/1"]
            );
            assert_eq!(store.claim_due(now, 10).unwrap().len(), 1);
            assert!(store.claim_due(now, 10).unwrap().is_empty());
            store.mark_done("//h.example/2").unwrap();
            store
                .mark_failed("//h.example/1", "HTTP 404", None)
                .unwrap();
            let later = now + chrono::Duration::minutes(5);
            store
                .mark_failed("//h.example/3", "timed out", Some(later))
                .unwrap();
            assert!(store.claim_due(now, 10).unwrap().is_empty());
            assert_eq!(store.claim_due(later, 10).unwrap()[0].attempts, 2);
            assert_eq!(
                store.frontier_counts().unwrap(),
                FrontierCounts {
                    queued: 0,
                    fetching: 1,
                    done: 1,
                    failed: 1
                }
            );
            assert_eq!(store.requeue_interrupted().unwrap(), 1);
            assert_eq!(
                store.frontier_state("//h.example/3").unwrap(),
                Some(FrontierState::Queued)
            );
            assert_eq!(store.requeue_done(later).unwrap(), 1);
            assert_eq!(store.frontier_state("//nope").unwrap(), None);
        });
    }

    #[test]
    fn claim_keys_takes_only_the_queued_due_keys_named() {
        crate::store::testdb::on_both(|| {
            let dir = tempfile::tempdir().unwrap();
            let mut store = crate::store::testdb::open(dir.path()).unwrap();
            let now = Utc.with_ymd_and_hms(2026, 11, 26, 8, 0, 0).unwrap();
            store
                .enqueue_urls(&[url(1, 3), url(2, 3), url(3, 3), url(4, 0)], now)
                .unwrap();
            store.mark_done("//h.example/2").unwrap();
            let later = now + chrono::Duration::minutes(5);
            store
                .mark_failed("//h.example/3", "retry later", Some(later))
                .unwrap();
            let keys: Vec<String> = ["//h.example/1", "//h.example/2", "//h.example/3", "//nope"]
                .map(String::from)
                .to_vec();
            let claimed = store.claim_keys(&keys, now).unwrap();
            assert_eq!(claimed.len(), 1);
            assert_eq!(claimed[0].url, "https://h.example/1");
            assert_eq!((claimed[0].depth, claimed[0].attempts), (3, 1));
            assert!(store.claim_keys(&keys, now).unwrap().is_empty());
            assert_eq!(
                store.claim_keys(&keys, later).unwrap()[0].url_key,
                "//h.example/3"
            );
            // Not named: left queued for the crawler.
            assert_eq!(
                store.frontier_state("//h.example/4").unwrap(),
                Some(FrontierState::Queued)
            );
        });
    }

    #[test]
    fn fetch_history_detects_unchanged_content() {
        crate::store::testdb::on_both(|| {
            let dir = tempfile::tempdir().unwrap();
            let mut store = crate::store::testdb::open(dir.path()).unwrap();
            let now = Utc.with_ymd_and_hms(2026, 11, 26, 8, 0, 0).unwrap();
            let rec = |status, sha: Option<&str>| FetchRecord {
                url_key: "//h.example/1".into(),
                url: "https://h.example/1".into(),
                final_url: Some("https://h.example/1".into()),
                fetched_at: now,
                status,
                etag: Some("\"v1\"".into()),
                last_modified: None,
                content_sha256: sha.map(str::to_string),
            };
            assert_eq!(
                store.record_fetch(&rec(200, Some("aa"))).unwrap(),
                ContentChange::New
            );
            assert_eq!(
                store.record_fetch(&rec(200, Some("aa"))).unwrap(),
                ContentChange::Unchanged
            );
            assert_eq!(
                store.record_fetch(&rec(304, None)).unwrap(),
                ContentChange::Unchanged
            );
            assert_eq!(
                store.record_fetch(&rec(500, None)).unwrap(),
                ContentChange::NoContent
            );
            assert_eq!(
                store.record_fetch(&rec(200, Some("bb"))).unwrap(),
                ContentChange::Changed
            );
            let last = store.last_fetch("//h.example/1").unwrap().unwrap();
            assert_eq!(last.content_sha256.as_deref(), Some("bb"));
            assert_eq!(last.etag.as_deref(), Some("\"v1\""));
            assert_eq!(last.fetched_at, now);
        });
    }

    #[test]
    fn host_state_round_trips() {
        crate::store::testdb::on_both(|| {
            let dir = tempfile::tempdir().unwrap();
            let mut store = crate::store::testdb::open(dir.path()).unwrap();
            let now = Utc.with_ymd_and_hms(2026, 11, 26, 8, 0, 0).unwrap();
            let mut h = HostRecord {
                host: "h.example".into(),
                next_allowed_at: Some(now),
                consecutive_failures: 3,
                backoff_until: Some(now),
            };
            store.save_host(&h, now).unwrap();
            h.consecutive_failures = 0;
            h.backoff_until = None;
            store.save_host(&h, now).unwrap();
            assert_eq!(store.load_hosts().unwrap(), vec![h]);
        });
    }
}
