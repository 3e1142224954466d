//! URL normalisation, deduplication keys and the crawl scope.
//!
//! One article is reachable under many spellings: with a fragment, with `utm_source`
//! appended by a share button, with `:443`, with its query parameters in another order.
//! [`normalize`] folds those spellings into one URL and [`dedupe_key`] into one frontier
//! key, so the crawler fetches the article once. [`DomainSet`] answers "may we go
//! there?" for the scope and the list of licensed partners.
//!
//! This module is pure: it never touches the network or the clock, and it never changes
//! what a URL points at beyond the rules above (path case and percent-encoding are kept,
//! since servers may treat them as distinct).

use url::Url;

use crate::config::CrawlSettings;

/// Why a URL is not crawled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("{url}: only http and https URLs are crawled")]
    Scheme { url: String },
    #[error("{url}: URL has no host")]
    NoHost { url: String },
    #[error("{url}: URL carries a user name or password")]
    Credentials { url: String },
    #[error("{prefix}...: URL is longer than {limit} bytes")]
    TooLong { prefix: String, limit: usize },
}

/// The rules [`normalize`] applies, taken from `[crawl]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlRules {
    /// Query parameters dropped by exact (case-sensitive) name.
    exact: Vec<String>,
    /// Query parameters dropped when their name starts with one of these (`utm_`).
    prefixes: Vec<String>,
    /// Longer normalised URLs are refused.
    max_len: usize,
}

impl UrlRules {
    /// Rules from a list of tracking parameters (`name` or `prefix*`) and a length limit.
    pub fn new(tracking_params: &[String], max_len: usize) -> UrlRules {
        let mut exact = Vec::new();
        let mut prefixes = Vec::new();
        for p in tracking_params {
            match p.strip_suffix('*') {
                Some(prefix) => prefixes.push(prefix.to_string()),
                None => exact.push(p.clone()),
            }
        }
        UrlRules {
            exact,
            prefixes,
            max_len,
        }
    }

    /// The rules of `[crawl]` (`tracking_params`, `max_url_length`).
    pub fn from_settings(settings: &CrawlSettings) -> UrlRules {
        UrlRules::new(&settings.tracking_params, settings.max_url_length)
    }

    fn is_tracking(&self, name: &str) -> bool {
        self.exact.iter().any(|e| e == name) || self.prefixes.iter().any(|p| name.starts_with(p))
    }
}

/// The canonical spelling of `url`: fragment removed, scheme and host lower-case (the
/// `url` crate already does this and drops default ports), a trailing dot of the host
/// removed, tracking parameters dropped, the remaining query parameters sorted, and an
/// empty query removed.
///
/// # Errors
/// [`UrlError`] for non-http(s) URLs, URLs without a host, URLs with credentials and URLs
/// longer than the limit.
pub fn normalize(url: &Url, rules: &UrlRules) -> Result<Url, UrlError> {
    let mut out = url.clone();
    if !matches!(out.scheme(), "http" | "https") {
        return Err(UrlError::Scheme {
            url: short(url.as_str()),
        });
    }
    let Some(host) = out.host_str() else {
        return Err(UrlError::NoHost {
            url: short(url.as_str()),
        });
    };
    if !out.username().is_empty() || out.password().is_some() {
        // Credentials in a crawled link are either a mistake or a trap; either way we do
        // not send them anywhere.
        return Err(UrlError::Credentials {
            url: short(url.as_str()),
        });
    }
    if host.ends_with('.') && host.len() > 1 {
        let trimmed = host.trim_end_matches('.').to_string();
        // Setting a shorter domain name on a URL that already has one cannot fail; if it
        // did, keeping the dotted host is harmless.
        let _ = out.set_host(Some(&trimmed));
    }
    out.set_fragment(None);
    if let Some(query) = out.query() {
        let mut pairs: Vec<&str> = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .filter(|pair| {
                let name = pair.split('=').next().unwrap_or(pair);
                let decoded = percent_decode(name);
                !rules.is_tracking(&decoded)
            })
            .collect();
        // A stable sort keeps the relative order of repeated names (`a=1&a=2`), which
        // some servers read as a list.
        pairs.sort_by_key(|pair| pair.split('=').next().unwrap_or(pair));
        let joined = pairs.join("&");
        out.set_query(if joined.is_empty() {
            None
        } else {
            Some(&joined)
        });
    }
    if out.as_str().len() > rules.max_len {
        return Err(UrlError::TooLong {
            prefix: short(out.as_str()),
            limit: rules.max_len,
        });
    }
    Ok(out)
}

/// The frontier key of a normalised URL: the URL without its scheme, so the `http://`
/// and `https://` spellings of one page are fetched once.
pub fn dedupe_key(normalized: &Url) -> String {
    let s = normalized.as_str();
    match s.find("://") {
        Some(i) => s[i + 1..].to_string(),
        None => s.to_string(),
    }
}

/// The politeness key of a URL: host and port (`example.com`, `example.com:8080`).
/// Delays, budgets and robots.txt apply per key.
pub fn host_key(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// Whether `url`'s host is one of `scope`'s domains or a subdomain of one.
pub fn in_scope(url: &Url, scope: &DomainSet) -> bool {
    scope.contains_url(url)
}

/// A set of domains, each covering itself and its subdomains: `example.com` covers
/// `example.com` and `news.example.com` but not `badexample.com`. It may also hold
/// sites as reviewers list them ([`DomainSet::insert_host_key`]), where a host with a
/// port covers exactly that host and port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainSet {
    /// Lower-case ASCII (punycode) names without a trailing dot, sorted, no duplicates.
    domains: Vec<String>,
    /// `host:port` keys ([`host_key`] of a URL with a non-default port), sorted, no
    /// duplicates. A site served on its own port is not the domain's other sites: two
    /// fixture sites on 127.0.0.1 are two sites, and so are a partner's main site and
    /// an unrelated service on another port of the same machine.
    host_ports: Vec<String>,
}

impl DomainSet {
    /// A set from domain names as written in the config (see [`parse_domain`]); names
    /// that do not parse are skipped.
    pub fn from_names<I, S>(names: I) -> DomainSet
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = DomainSet::default();
        for name in names {
            if let Ok(d) = parse_domain(name.as_ref()) {
                set.insert(&d);
            }
        }
        set
    }

    /// Adds a domain (expected already normalised by [`parse_domain`] or taken from a
    /// parsed URL's host).
    pub fn insert(&mut self, domain: &str) {
        let d = domain.trim_end_matches('.').to_ascii_lowercase();
        if let Err(i) = self.domains.binary_search(&d) {
            self.domains.insert(i, d);
        }
    }

    /// Adds a site as the review desk records it: a match's `copy_host`, which is
    /// [`host_key`] of the copy's URL. Without a port it is a domain (itself and its
    /// subdomains, like [`DomainSet::insert`]); with one, exactly that host and port.
    pub fn insert_host_key(&mut self, key: &str) {
        let key = key.trim().to_ascii_lowercase();
        // An IPv6 literal ends in `]` when it has no port; only digits after the last
        // colon of anything else are a port.
        let has_port = !key.ends_with(']')
            && key.rsplit_once(':').is_some_and(|(host, port)| {
                !host.is_empty() && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
            });
        if !has_port {
            self.insert(&key);
        } else if let Err(i) = self.host_ports.binary_search(&key) {
            self.host_ports.insert(i, key);
        }
    }

    /// Whether `host` is one of the domains or a subdomain of one.
    pub fn contains_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.domains.iter().any(|d| {
            host == *d
                || (host.len() > d.len()
                    && host.ends_with(d.as_str())
                    && host.as_bytes()[host.len() - d.len() - 1] == b'.')
        })
    }

    /// Whether `url`'s host (or, for an entry with a port, its host and port) is
    /// covered.
    pub fn contains_url(&self, url: &Url) -> bool {
        url.host_str().is_some_and(|h| self.contains_host(h))
            || (url.port().is_some() && self.host_ports.binary_search(&host_key(url)).is_ok())
    }

    pub fn is_empty(&self) -> bool {
        self.domains.is_empty() && self.host_ports.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.domains.iter().map(String::as_str)
    }
}

/// Turns a domain as written in the config into its canonical form: lower-case,
/// punycode for international names, without `*.`/`.` prefix or trailing dot. An IPv4
/// address is accepted as itself (it matches only that exact host).
///
/// # Errors
/// A message saying what is wrong with the text.
pub fn parse_domain(text: &str) -> Result<String, String> {
    let t = text.trim();
    let bare = t
        .strip_prefix("*.")
        .or_else(|| t.strip_prefix('.'))
        .unwrap_or(t)
        .trim_end_matches('.');
    if bare.is_empty() || bare.contains(['/', ':', '@', '*', ' ']) {
        return Err(format!(
            "must be a domain name such as \"example.com\", got {text:?}"
        ));
    }
    match url::Host::parse(bare) {
        Ok(url::Host::Domain(d)) => Ok(d.to_ascii_lowercase()),
        // An IPv4 literal covers exactly that host (it has no subdomains): sites served
        // from a bare address, and loopback fixtures in tests.
        Ok(url::Host::Ipv4(ip)) if !t.starts_with(['*', '.']) => Ok(ip.to_string()),
        Ok(_) => Err(format!(
            "must be a domain name or an IPv4 address, got {text:?}"
        )),
        Err(e) => Err(format!("invalid domain name {text:?}: {e}")),
    }
}

/// Percent-decodes a query parameter name for comparison only (the URL keeps its
/// original spelling). `+` is a space in form encoding.
fn percent_decode(name: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The first 100 characters of a URL, for error messages about very long ones.
fn short(url: &str) -> String {
    url.chars().take(100).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> UrlRules {
        UrlRules::from_settings(&CrawlSettings::default())
    }

    fn norm(s: &str) -> String {
        normalize(&Url::parse(s).unwrap(), &rules())
            .unwrap()
            .to_string()
    }

    #[test]
    fn normalisation_table() {
        let table = [
            ("HTTP://Example.COM/a#frag", "http://example.com/a"),
            ("https://example.com:443/a", "https://example.com/a"),
            ("http://example.com:80/a", "http://example.com/a"),
            ("http://example.com:8080/a", "http://example.com:8080/a"),
            ("https://example.com", "https://example.com/"),
            ("https://example.com./a", "https://example.com/a"),
            (
                "https://example.com/a?b=2&a=1",
                "https://example.com/a?a=1&b=2",
            ),
            (
                "https://example.com/a?utm_source=x&id=7&utm_medium=y&fbclid=z",
                "https://example.com/a?id=7",
            ),
            (
                "https://example.com/a?utm_source=x",
                "https://example.com/a",
            ),
            ("https://example.com/a?", "https://example.com/a"),
            ("https://example.com/a?&&x=1&", "https://example.com/a?x=1"),
            (
                "https://example.com/a?spm=1.2.3&from=timeline",
                "https://example.com/a",
            ),
            (
                "https://example.com/a?%75tm_source=x&k=v",
                "https://example.com/a?k=v",
            ),
            (
                "https://example.com/a?k=2&k=1",
                "https://example.com/a?k=2&k=1",
            ),
            ("https://example.com/A/./b/../C", "https://example.com/A/C"),
            (
                "https://例子.中国/新闻",
                "https://xn--fsqu00a.xn--fiqs8s/%E6%96%B0%E9%97%BB",
            ),
            (
                "https://example.com/a?Utm_Source=keep",
                "https://example.com/a?Utm_Source=keep",
            ),
        ];
        for (input, expected) in table {
            assert_eq!(norm(input), expected, "input {input}");
        }
    }

    #[test]
    fn refusals() {
        let r = rules();
        let bad = |s: &str| normalize(&Url::parse(s).unwrap(), &r).unwrap_err();
        assert!(matches!(
            bad("ftp://example.com/x"),
            UrlError::Scheme { .. }
        ));
        assert!(matches!(
            bad("mailto:a@example.com"),
            UrlError::Scheme { .. }
        ));
        assert!(matches!(
            bad("https://user:pw@example.com/"),
            UrlError::Credentials { .. }
        ));
        let long = format!("https://example.com/{}", "a".repeat(3000));
        let err = bad(&long);
        assert!(matches!(err, UrlError::TooLong { limit: 2048, .. }));
        assert!(err.to_string().len() < 200, "{err}");
    }

    #[test]
    fn keys_fold_schemes_and_hosts_keep_ports() {
        let a = Url::parse("http://example.com/a?x=1").unwrap();
        let b = Url::parse("https://example.com/a?x=1").unwrap();
        assert_eq!(dedupe_key(&a), dedupe_key(&b));
        assert_eq!(dedupe_key(&a), "//example.com/a?x=1");
        assert_eq!(
            host_key(&Url::parse("http://h.example:81/").unwrap()),
            "h.example:81"
        );
        assert_eq!(host_key(&b), "example.com");
    }

    #[test]
    fn scope_covers_subdomains_only() {
        let scope = DomainSet::from_names(["Example.com", "*.news.org", ".blog.net."]);
        let yes = [
            "https://example.com/",
            "https://www.example.com/a",
            "https://a.b.example.com/",
            "https://news.org/",
            "https://x.news.org/",
            "https://blog.net/",
            "https://EXAMPLE.COM./",
        ];
        let no = [
            "https://badexample.com/",
            "https://example.com.evil.net/",
            "https://org/",
            "https://127.0.0.1/",
        ];
        for u in yes {
            assert!(in_scope(&Url::parse(u).unwrap(), &scope), "{u}");
        }
        for u in no {
            assert!(!in_scope(&Url::parse(u).unwrap(), &scope), "{u}");
        }
    }

    #[test]
    fn reviewed_sites_with_and_without_ports() {
        let mut sites = DomainSet::default();
        for key in ["Partner.example", "127.0.0.1:8081", "[::1]", "[::1]:9000"] {
            sites.insert_host_key(key);
        }
        let yes = [
            "https://partner.example/a",
            "http://www.partner.example:8080/a",
            "http://127.0.0.1:8081/x",
            "http://[::1]/",
            // Without a port, an entry covers every port, like a configured domain.
            "http://[::1]:9001/",
            "http://[::1]:9000/",
        ];
        let no = [
            "http://127.0.0.1:8082/x",
            "http://127.0.0.1/x",
            "http://[::2]:9000/",
            "https://notpartner.example/",
        ];
        for u in yes {
            assert!(sites.contains_url(&Url::parse(u).unwrap()), "{u}");
        }
        for u in no {
            assert!(!sites.contains_url(&Url::parse(u).unwrap()), "{u}");
        }
        assert!(!sites.is_empty());
    }

    #[test]
    fn domain_parsing() {
        assert_eq!(parse_domain("Example.COM").unwrap(), "example.com");
        assert_eq!(parse_domain("*.example.com").unwrap(), "example.com");
        assert_eq!(parse_domain("例子.中国").unwrap(), "xn--fsqu00a.xn--fiqs8s");
        assert!(parse_domain("https://example.com").is_err());
        assert!(parse_domain("example.com/x").is_err());
        assert_eq!(parse_domain("127.0.0.2").unwrap(), "127.0.0.2");
        assert!(parse_domain("*.127.0.0.2").is_err());
        assert!(parse_domain("[::1]").is_err());
        assert!(parse_domain("").is_err());
    }
}
