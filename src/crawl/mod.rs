//! The crawler's building blocks: fetching pages from sites we do not trust, politely.
//!
//! Each submodule owns one concern and exposes a typed API; the pipeline (scan and crawl
//! commands, detection, match recording) composes them:
//!
//! - [`urls`]: normalisation, frontier keys, scope ([`urls::normalize`],
//!   [`urls::in_scope`]).
//! - [`guard`]: the private-network (SSRF) guard, wired into the fetcher's resolver.
//! - [`fetch`]: the hardened fetcher ([`fetch::PageFetcher`]) returning a
//!   [`fetch::Capture`] with what the evidence stage needs.
//! - [`tls`]: the crawler's TLS verification (rustls's WebPKI), noting each chain.
//! - [`robots`]: robots.txt per host, cached ([`robots::RobotsCache`]).
//! - [`politeness`]: per-host delays, connection limits, backoff and budgets
//!   ([`politeness::HostScheduler`]).
//! - [`links`]: links of an HTML page ([`links::extract_links`]).
//! - [`frontier`]: which links to queue and at what depth ([`frontier::follow`]), and
//!   the conversions between scheduler and stored host state.
//! - [`discovery`]: search queries for SearXNG and reading its answers.
//! - [`proxy`]: the guarded loopback proxy the evidence browser goes through.
//! - [`pipeline`]: the composition: `scan` and one crawl cycle, detection against the
//!   archive, matches recorded with their capture.
//!
//! The frontier and fetch history live in the store (`store::crawl`); this module never
//! speaks SQL. None of it logs page content: crawled strings reach logs only through
//! [`sanitize`].

pub mod discovery;
pub mod fetch;
pub mod frontier;
pub mod guard;
pub mod links;
pub mod pipeline;
pub mod politeness;
pub mod proxy;
pub mod robots;
pub mod tls;
pub mod urls;

/// A crawled string made safe for a log line: control characters escaped, cut to 200
/// characters. URLs and header values come from sites we do not trust; a newline in one
/// must not forge a log line.
pub fn sanitize(text: &str) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == 200 {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn sanitize_escapes_and_cuts() {
        assert_eq!(super::sanitize("a\nb\u{1b}[31m"), "a\\nb\\u{1b}[31m");
        assert_eq!(super::sanitize(&"x".repeat(300)).chars().count(), 201);
    }
}
