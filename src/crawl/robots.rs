//! robots.txt: may we fetch this URL, how long must we wait between requests, and which
//! sitemaps does the site announce.
//!
//! Parsing is texting_robots's (MIT OR Apache-2.0); it matches on the bare product token
//! (`copyhound`), so [`product_token`] derives that from the configured user agent. Files
//! are fetched once per origin and cached for `[crawl] robots_ttl`. Following RFC 9309: a
//! 4xx answer means there are no rules (allow all); a 5xx, a timeout or an unreachable
//! host means "disallow everything for now", retried after [`UNAVAILABLE_RETRY`]; more
//! than the redirect limit counts as unavailable (allow); bodies are cut at
//! [`ROBOTS_MAX_BYTES`](crate::crawl::fetch::ROBOTS_MAX_BYTES).
//!
//! This module fetches only `/robots.txt`. It never fetches pages and never sleeps for
//! politeness: it reports the `Crawl-delay` and [`crate::crawl::politeness`] applies it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use url::Url;

use crate::config::CrawlSettings;
use crate::crawl::fetch::{ContentKind, FetchError, FetchOutcome, PageFetcher};
use crate::crawl::sanitize;

/// How soon a robots.txt that could not be fetched (5xx, timeout, unreachable) is tried
/// again. Until then the whole site is off limits.
pub const UNAVAILABLE_RETRY: Duration = Duration::from_secs(10 * 60);

/// A `Crawl-delay` longer than this is cut to it: a site asking for a day between
/// requests is effectively asking not to be crawled, and the page budget handles that.
pub const MAX_CRAWL_DELAY: Duration = Duration::from_secs(3600);

/// Sitemap lines kept per robots.txt.
const MAX_SITEMAPS: usize = 100;

/// Origins kept in the cache; beyond this, expired entries are dropped first and then
/// arbitrary ones (they are simply fetched again when needed).
const MAX_CACHED_ORIGINS: usize = 50_000;

/// The rules of one origin.
#[derive(Debug)]
pub struct Robots {
    rules: Rules,
    /// `Crawl-delay` for our product token (or `*`), capped at [`MAX_CRAWL_DELAY`].
    pub crawl_delay: Option<Duration>,
    /// `Sitemap:` lines (absolute http/https URLs only).
    pub sitemaps: Vec<Url>,
}

#[derive(Debug)]
enum Rules {
    AllowAll,
    /// Disallow everything; the reason is for logs.
    DisallowAll(String),
    Parsed(texting_robots::Robot),
}

impl Robots {
    /// No rules: everything allowed (a 404 robots.txt).
    pub fn allow_all() -> Robots {
        Robots {
            rules: Rules::AllowAll,
            crawl_delay: None,
            sitemaps: Vec::new(),
        }
    }

    /// Nothing allowed, for `reason` (an unreachable robots.txt).
    pub fn disallow_all(reason: impl Into<String>) -> Robots {
        Robots {
            rules: Rules::DisallowAll(reason.into()),
            crawl_delay: None,
            sitemaps: Vec::new(),
        }
    }

    /// Parses a robots.txt body for `token` (the bare product token). A body the parser
    /// rejects outright counts as no rules, as RFC 9309 asks crawlers to use whatever
    /// rules they can read.
    pub fn parse(body: &[u8], token: &str) -> Robots {
        match texting_robots::Robot::new(token, body) {
            Ok(robot) => {
                let crawl_delay = robot.delay.filter(|d| d.is_finite() && *d > 0.0).map(|d| {
                    Duration::from_secs_f64(f64::from(d).min(MAX_CRAWL_DELAY.as_secs_f64()))
                });
                let sitemaps = robot
                    .sitemaps
                    .iter()
                    .filter_map(|s| Url::parse(s.trim()).ok())
                    .filter(|u| matches!(u.scheme(), "http" | "https"))
                    .take(MAX_SITEMAPS)
                    .collect();
                Robots {
                    rules: Rules::Parsed(robot),
                    crawl_delay,
                    sitemaps,
                }
            }
            Err(_) => Robots::allow_all(),
        }
    }

    /// Whether `url` may be fetched.
    pub fn allowed(&self, url: &Url) -> bool {
        match &self.rules {
            Rules::AllowAll => true,
            Rules::DisallowAll(_) => false,
            Rules::Parsed(robot) => robot.allowed(url.as_str()),
        }
    }

    /// Why everything is disallowed, when it is.
    pub fn disallow_reason(&self) -> Option<&str> {
        match &self.rules {
            Rules::DisallowAll(reason) => Some(reason),
            _ => None,
        }
    }
}

/// The product token robots.txt rules are matched against: the user agent's first word
/// before `/`, lower-cased (`copyhound/0.1.0 (+https://…)` → `copyhound`).
pub fn product_token(user_agent: &str) -> String {
    user_agent
        .split(|c: char| c == '/' || c.is_whitespace())
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// The robots.txt URL of `url`'s origin.
pub fn robots_url(url: &Url) -> Option<Url> {
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return None;
    }
    let mut r = url.clone();
    r.set_path("/robots.txt");
    r.set_query(None);
    r.set_fragment(None);
    Some(r)
}

/// What a fetch of robots.txt means, and for how long it stands.
fn interpret(
    result: Result<FetchOutcome, FetchError>,
    token: &str,
    ttl: Duration,
) -> (Robots, Duration) {
    match result {
        Ok(FetchOutcome::Fetched(capture)) => (Robots::parse(capture.body(), token), ttl),
        Ok(FetchOutcome::RetryAfter(d)) => (
            Robots::disallow_all("robots.txt answered 429/503"),
            d.max(UNAVAILABLE_RETRY),
        ),
        // We send no validators for robots.txt, so a 304 is a confused server.
        Ok(FetchOutcome::NotModified) => (
            Robots::disallow_all("robots.txt answered 304 to an unconditional request"),
            UNAVAILABLE_RETRY,
        ),
        Err(FetchError::Status { status, .. }) if (400..500).contains(&status) => {
            (Robots::allow_all(), ttl)
        }
        Err(FetchError::TooManyRedirects { .. } | FetchError::RedirectLoop { .. }) => {
            (Robots::allow_all(), ttl)
        }
        Err(e) => (
            Robots::disallow_all(format!("robots.txt unavailable: {e}")),
            UNAVAILABLE_RETRY.min(ttl),
        ),
    }
}

/// One origin's slot: its async mutex makes concurrent lookups of one origin wait for a
/// single fetch instead of each fetching robots.txt.
type Slot = Arc<tokio::sync::Mutex<Option<(Arc<Robots>, Instant)>>>;

/// robots.txt per origin, fetched on demand and cached with a TTL.
#[derive(Debug)]
pub struct RobotsCache {
    fetcher: PageFetcher,
    token: String,
    ttl: Duration,
    slots: Mutex<HashMap<String, Slot>>,
}

impl RobotsCache {
    /// A cache that fetches with `fetcher` and matches on the product token of
    /// `[crawl] user_agent`, keeping files for `robots_ttl`.
    pub fn new(fetcher: PageFetcher, settings: &CrawlSettings) -> RobotsCache {
        RobotsCache {
            fetcher,
            token: product_token(&settings.user_agent),
            ttl: settings.robots_ttl,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The product token rules are matched against.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The rules for `url`'s origin, fetching robots.txt when not cached or expired.
    /// Call it while holding the host's politeness permit, so the robots.txt request is
    /// spaced like any other.
    pub async fn rules_for(&self, url: &Url) -> Arc<Robots> {
        let Some(robots_url) = robots_url(url) else {
            return Arc::new(Robots::disallow_all("not an http(s) URL"));
        };
        let origin = robots_url.origin().ascii_serialization();
        let slot = self.slot(&origin);
        let mut guard = slot.lock().await;
        if let Some((robots, expires)) = guard.as_ref() {
            if Instant::now() < *expires {
                return Arc::clone(robots);
            }
        }
        let result = self
            .fetcher
            .fetch_as(&robots_url, ContentKind::Robots, None)
            .await;
        let (robots, ttl) = interpret(result, &self.token, self.ttl);
        if let Some(reason) = robots.disallow_reason() {
            tracing::warn!(origin = %sanitize(&origin), reason = %sanitize(reason), "site off limits until robots.txt can be read");
        } else {
            tracing::debug!(origin = %sanitize(&origin), crawl_delay = ?robots.crawl_delay, "robots.txt cached");
        }
        let robots = Arc::new(robots);
        *guard = Some((Arc::clone(&robots), Instant::now() + ttl));
        robots
    }

    /// Whether `url` may be fetched (fetching robots.txt if needed).
    pub async fn allowed(&self, url: &Url) -> bool {
        self.rules_for(url).await.allowed(url)
    }

    /// [`RobotsCache::allowed`] as a boxed future, for the fetcher's per-hop check:
    /// the fetcher awaits this cache, which awaits the fetcher, and a future cannot
    /// contain itself by value.
    pub(crate) fn allowed_boxed<'a>(
        &'a self,
        url: &'a Url,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + 'a>> {
        Box::pin(self.allowed(url))
    }

    fn slot(&self, origin: &str) -> Slot {
        // A poisoned lock means another task panicked while holding it; the map itself
        // is still consistent (every operation on it is a single insert or remove).
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if slots.len() >= MAX_CACHED_ORIGINS && !slots.contains_key(origin) {
            let now = Instant::now();
            slots.retain(|_, slot| match slot.try_lock() {
                Ok(entry) => entry.as_ref().is_some_and(|(_, exp)| *exp > now),
                Err(_) => true,
            });
            if slots.len() >= MAX_CACHED_ORIGINS {
                if let Some(key) = slots.keys().next().cloned() {
                    slots.remove(&key);
                }
            }
        }
        Arc::clone(slots.entry(origin.to_string()).or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn token_is_the_bare_product() {
        assert_eq!(
            product_token("copyhound/0.1.0 (+https://news.example.com)"),
            "copyhound"
        );
        assert_eq!(product_token("CopyHound"), "copyhound");
    }

    #[test]
    fn rules_for_our_token_and_for_everyone() {
        let txt = b"User-agent: *\nDisallow: /private\n\nUser-agent: copyhound\nDisallow: /no-hounds\nCrawl-delay: 5\n\nSitemap: https://example.com/sitemap.xml\nSitemap: ftp://example.com/x\n";
        let r = Robots::parse(txt, "copyhound");
        assert!(!r.allowed(&u("https://example.com/no-hounds/a")));
        // Our group replaces the `*` group.
        assert!(r.allowed(&u("https://example.com/private")));
        assert_eq!(r.crawl_delay, Some(Duration::from_secs(5)));
        assert_eq!(r.sitemaps, vec![u("https://example.com/sitemap.xml")]);
        let other = Robots::parse(txt, "otherbot");
        assert!(!other.allowed(&u("https://example.com/private")));
        assert_eq!(other.crawl_delay, None);
    }

    #[test]
    fn absurd_crawl_delays_are_capped() {
        let r = Robots::parse(b"User-agent: *\nCrawl-delay: 999999\n", "copyhound");
        assert_eq!(r.crawl_delay, Some(MAX_CRAWL_DELAY));
        let r = Robots::parse(b"User-agent: *\nCrawl-delay: -3\n", "copyhound");
        assert_eq!(r.crawl_delay, None);
    }

    #[test]
    fn fetch_results_follow_rfc_9309() {
        let ttl = Duration::from_secs(86400);
        let status = |s| {
            Err(FetchError::Status {
                url: "u".into(),
                status: s,
            })
        };
        let (r, t) = interpret(status(404), "copyhound", ttl);
        assert!(r.allowed(&u("https://example.com/x")));
        assert_eq!(t, ttl);
        let (r, t) = interpret(status(503), "copyhound", ttl);
        assert!(!r.allowed(&u("https://example.com/x")));
        assert_eq!(t, UNAVAILABLE_RETRY);
        let timeout = Err(FetchError::Timeout {
            url: "u".into(),
            phase: "connecting",
        });
        let (r, _) = interpret(timeout, "copyhound", ttl);
        assert!(!r.allowed(&u("https://example.com/")));
        let (r, _) = interpret(
            Err(FetchError::TooManyRedirects {
                url: "u".into(),
                limit: 5,
            }),
            "copyhound",
            ttl,
        );
        assert!(r.allowed(&u("https://example.com/")));
    }

    #[test]
    fn robots_url_of_origin() {
        assert_eq!(
            robots_url(&u("https://Example.com:8443/a/b?c#d"))
                .unwrap()
                .as_str(),
            "https://example.com:8443/robots.txt"
        );
        assert!(robots_url(&u("mailto:x@example.com")).is_none());
    }
}
