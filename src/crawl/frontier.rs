//! Glue between a fetched page and the frontier: which URLs to queue, at what depth,
//! under which key; and the conversions between the scheduler's host state and the
//! store's.
//!
//! This module is pure: it turns URLs and settings into [`FrontierUrl`]s and records.
//! The store keeps them ([`crate::store::Store::enqueue_urls`]); this module never
//! speaks SQL, never fetches and never reads the clock (callers pass `now`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use url::Url;

use crate::config::CrawlSettings;
use crate::crawl::politeness::HostSnapshot;
use crate::crawl::urls::{dedupe_key, host_key, in_scope, normalize, UrlRules};
use crate::store::{FrontierItem, FrontierUrl, HostRecord};

/// The frontier entry of `url` at `depth`, or `None` when it does not normalise (bad
/// scheme, credentials, too long).
pub fn entry(
    url: &Url,
    depth: u32,
    discovered_from: Option<&str>,
    rules: &UrlRules,
) -> Option<FrontierUrl> {
    let n = normalize(url, rules).ok()?;
    Some(FrontierUrl {
        url_key: dedupe_key(&n),
        host: host_key(&n),
        url: n.to_string(),
        depth,
        discovered_from: discovered_from.map(str::to_string),
    })
}

/// The configured seeds as depth-0 frontier entries. (Sitemaps and feeds are read by
/// the pipeline; their URLs enter with [`entry`] at depth 0.)
pub fn seeds(settings: &CrawlSettings) -> Vec<FrontierUrl> {
    let rules = UrlRules::from_settings(settings);
    settings
        .seeds
        .iter()
        .filter_map(|u| entry(u, 0, None, &rules))
        .collect()
}

/// The links of `page` worth queuing: none when the page is already at `max_depth`;
/// otherwise the normalised, in-scope links, one per frontier key, at the next depth.
pub fn follow(
    links: &[Url],
    page: &FrontierItem,
    settings: &CrawlSettings,
    rules: &UrlRules,
) -> Vec<FrontierUrl> {
    if page.depth >= settings.max_depth {
        return Vec::new();
    }
    let mut seen = std::collections::HashSet::new();
    links
        .iter()
        .filter_map(|l| entry(l, page.depth + 1, Some(&page.url), rules))
        .filter(|e| {
            // `entry` produced a parseable URL, so this parse cannot fail; a failure
            // would only drop the link.
            Url::parse(&e.url).is_ok_and(|u| in_scope(&u, &settings.scope))
        })
        .filter(|e| seen.insert(e.url_key.clone()))
        .collect()
}

/// The store's record of a scheduler snapshot taken at `now`. `backoff_until` is set
/// while the host has failures, to the same instant as `next_allowed_at`.
pub fn host_record(snapshot: &HostSnapshot, now: DateTime<Utc>) -> HostRecord {
    let next = now + chrono::Duration::from_std(snapshot.wait).unwrap_or(chrono::Duration::zero());
    HostRecord {
        host: snapshot.host.clone(),
        next_allowed_at: Some(next),
        consecutive_failures: snapshot.consecutive_failures,
        backoff_until: (snapshot.consecutive_failures > 0).then_some(next),
    }
}

/// The scheduler snapshot of a stored record, as of `now` (a time in the past means no
/// wait). The page count starts afresh: a restart begins a new cycle.
pub fn host_snapshot(record: &HostRecord, now: DateTime<Utc>) -> HostSnapshot {
    let wait = record
        .next_allowed_at
        .into_iter()
        .chain(record.backoff_until)
        .max()
        .and_then(|t| (t - now).to_std().ok())
        .unwrap_or(Duration::ZERO);
    HostSnapshot {
        host: record.host.clone(),
        wait,
        consecutive_failures: record.consecutive_failures,
        pages_this_cycle: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crawl::urls::DomainSet;
    use chrono::TimeZone;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn follow_applies_depth_scope_and_keys() {
        let settings = CrawlSettings {
            scope: DomainSet::from_names(["copier.example"]),
            max_depth: 2,
            ..CrawlSettings::default()
        };
        let rules = UrlRules::from_settings(&settings);
        let page = FrontierItem {
            url: "https://copier.example/".into(),
            url_key: "//copier.example/".into(),
            host: "copier.example".into(),
            depth: 1,
            discovered_from: None,
            attempts: 1,
        };
        let links = [
            u("https://copier.example/a?utm_source=x"),
            u("http://copier.example/a"),
            u("https://img.copier.example/b#c"),
            u("https://elsewhere.example/"),
        ];
        let got = follow(&links, &page, &settings, &rules);
        assert_eq!(
            got.iter().map(|e| e.url.as_str()).collect::<Vec<_>>(),
            vec!["https://copier.example/a", "https://img.copier.example/b"]
        );
        assert!(got.iter().all(|e| e.depth == 2));
        assert_eq!(got[1].host, "img.copier.example");
        assert_eq!(
            got[0].discovered_from.as_deref(),
            Some("https://copier.example/")
        );
        let deep = FrontierItem { depth: 2, ..page };
        assert!(follow(&links, &deep, &settings, &rules).is_empty());
    }

    #[test]
    fn host_state_round_trips_through_the_store_form() {
        let now = Utc.with_ymd_and_hms(2026, 11, 26, 8, 0, 0).unwrap();
        let snap = HostSnapshot {
            host: "h".into(),
            wait: Duration::from_secs(90),
            consecutive_failures: 2,
            pages_this_cycle: 7,
        };
        let rec = host_record(&snap, now);
        assert_eq!(rec.backoff_until, Some(now + chrono::Duration::seconds(90)));
        let back = host_snapshot(&rec, now + chrono::Duration::seconds(30));
        assert_eq!(back.wait, Duration::from_secs(60));
        assert_eq!(back.consecutive_failures, 2);
        assert_eq!(
            host_snapshot(&rec, now + chrono::Duration::hours(1)).wait,
            Duration::ZERO
        );
    }
}
