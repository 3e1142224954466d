//! The private-network guard (SSRF protection).
//!
//! A crawled page chooses where its links and redirects point. Without this guard a page
//! could make copyhound request `http://127.0.0.1:8080/admin`, a cloud metadata service
//! at `169.254.169.254`, or a printer on the office network, and the answer would end up
//! in our evidence store. The guard refuses every address that is not on the public
//! internet, at three places: IP-literal URLs before connecting ([`Guard::check_url`]),
//! every DNS answer ([`GuardedResolver`], so a name that resolves to `127.0.0.1` is
//! refused too), and every redirect hop (the fetcher runs [`Guard::check_url`] again on
//! each `Location`). The address actually connected to is checked once more after the
//! response arrives ([`Guard::check_addr`]), as a last line of defence.
//!
//! This module classifies addresses and filters resolutions. It never connects anywhere
//! itself and never decides politeness or scope.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use url::{Host, Url};

/// Why an address is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    #[error("{url}: refusing to connect to {addr} ({class} address)")]
    Address {
        url: String,
        addr: IpAddr,
        class: &'static str,
    },
    #[error("{host}: every address it resolves to is non-public ({refused}), refusing to connect")]
    Resolution { host: String, refused: String },
}

/// Names the non-public range `ip` falls in, or `None` for a public address.
///
/// IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::/96`)
/// and 6to4 (`2002::/16`) IPv6 addresses are judged by the IPv4 address they carry,
/// since connecting to them reaches that address.
pub fn non_public_class(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_class(v4),
        IpAddr::V6(v6) => v6_class(v6),
    }
}

fn v4_class(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    let class = match o {
        [0, ..] => "unspecified",
        [127, ..] => "loopback",
        [10, ..] => "private",
        [172, b, ..] if (16..=31).contains(&b) => "private",
        [192, 168, ..] => "private",
        [169, 254, ..] => "link-local",
        [100, b, ..] if (64..=127).contains(&b) => "carrier-grade NAT",
        [192, 0, 0, _] => "IETF protocol assignment",
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => "documentation",
        [198, 18..=19, ..] => "benchmarking",
        [255, 255, 255, 255] => "broadcast",
        [224..=239, ..] => "multicast",
        [240..=255, ..] => "reserved",
        _ => return None,
    };
    Some(class)
}

fn v6_class(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_class(v4);
    }
    // IPv4-compatible `::a.b.c.d` (deprecated, but stacks may still route it).
    if s[..6] == [0, 0, 0, 0, 0, 0] {
        return v4_class(embedded_v4(s[6], s[7])).or(Some("IPv4-compatible"));
    }
    // NAT64 `64:ff9b::/96` reaches the embedded IPv4 address through a translator.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return v4_class(embedded_v4(s[6], s[7]));
    }
    // 6to4 `2002:AABB:CCDD::/48` carries the IPv4 address of its relay.
    if s[0] == 0x2002 {
        return v4_class(embedded_v4(s[1], s[2]));
    }
    let class = match s[0] {
        x if x & 0xfe00 == 0xfc00 => "unique-local",
        x if x & 0xffc0 == 0xfe80 => "link-local",
        x if x & 0xffc0 == 0xfec0 => "site-local",
        x if x & 0xff00 == 0xff00 => "multicast",
        0x2001 if s[1] == 0x0db8 => "documentation",
        0x3fff if s[1] & 0xf000 == 0 => "documentation",
        0x0100 if s[1..4] == [0, 0, 0] => "discard-only",
        _ => return None,
    };
    Some(class)
}

fn embedded_v4(hi: u16, lo: u16) -> Ipv4Addr {
    let [a, b] = hi.to_be_bytes();
    let [c, d] = lo.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

/// The guard's policy: whether non-public addresses are allowed, plus exact exemptions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Guard {
    /// `[crawl] allow_private_networks`: every address is allowed.
    allow_private: bool,
    /// Individual addresses allowed even when private networks are not: a fixture site
    /// in tests, or an operator's own mirror. A socket address with port 0 exempts the
    /// IP on every port. Exemptions apply to IP-literal URLs only, never to DNS answers
    /// (see [`Guard::filter_resolved`]).
    exempt: Vec<SocketAddr>,
}

impl Guard {
    /// A guard that refuses non-public addresses unless `allow_private_networks`.
    pub fn new(allow_private_networks: bool) -> Guard {
        Guard {
            allow_private: allow_private_networks,
            exempt: Vec::new(),
        }
    }

    /// The same guard, additionally allowing `addr` (port 0: any port).
    pub fn with_exemption(mut self, addr: SocketAddr) -> Guard {
        self.exempt.push(addr);
        self
    }

    /// Whether private networks are allowed altogether.
    pub fn allows_private_networks(&self) -> bool {
        self.allow_private
    }

    /// Whether connecting to `addr` is allowed.
    pub fn allows(&self, addr: SocketAddr) -> bool {
        self.allow_private
            || non_public_class(addr.ip()).is_none()
            || self
                .exempt
                .iter()
                .any(|e| e.ip() == addr.ip() && (e.port() == 0 || e.port() == addr.port()))
    }

    /// Checks the address a response came from.
    ///
    /// # Errors
    /// [`GuardError::Address`] naming `url` when the address is refused.
    pub fn check_addr(&self, url: &Url, addr: SocketAddr) -> Result<(), GuardError> {
        if self.allows(addr) {
            return Ok(());
        }
        Err(GuardError::Address {
            url: url.to_string(),
            addr: addr.ip(),
            class: non_public_class(addr.ip()).unwrap_or("non-public"),
        })
    }

    /// Checks a URL whose host is an IP literal (reqwest connects to those without asking
    /// the resolver). Domain names pass here; the [`GuardedResolver`] checks their
    /// addresses.
    ///
    /// # Errors
    /// [`GuardError::Address`] when the literal address is refused.
    pub fn check_url(&self, url: &Url) -> Result<(), GuardError> {
        let ip = match url.host() {
            Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
            _ => return Ok(()),
        };
        let port = url.port_or_known_default().unwrap_or(0);
        self.check_addr(url, SocketAddr::new(ip, port))
    }

    /// Keeps the allowed addresses of a DNS answer, in order. Exemptions do not apply:
    /// a name that resolves to a private address is refused unless private networks are
    /// allowed altogether.
    ///
    /// # Errors
    /// [`GuardError::Resolution`] when none is left.
    pub fn filter_resolved(
        &self,
        host: &str,
        addrs: impl IntoIterator<Item = SocketAddr>,
    ) -> Result<Vec<SocketAddr>, GuardError> {
        let mut kept = Vec::new();
        let mut refused = Vec::new();
        for addr in addrs {
            // Exemptions never apply here: they name an address and port, and a DNS
            // answer carries no port. Exempting by IP alone would let a redirect to
            // `localhost:OTHER_PORT` reach every service on an exempted host.
            if self.allow_private || non_public_class(addr.ip()).is_none() {
                kept.push(addr);
            } else {
                refused.push(addr.ip().to_string());
            }
        }
        if kept.is_empty() {
            let refused = if refused.is_empty() {
                "no addresses".to_string()
            } else {
                refused.join(", ")
            };
            return Err(GuardError::Resolution {
                host: host.to_string(),
                refused,
            });
        }
        Ok(kept)
    }
}

/// A DNS resolver for reqwest that resolves with the system resolver and drops every
/// address the [`Guard`] refuses; it fails when none is left, so the connection is never
/// attempted. Every answer is also noted in its [`DnsLog`], so the evidence of a capture
/// can say what the name resolved to.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    guard: Arc<Guard>,
    log: DnsLog,
}

impl GuardedResolver {
    pub fn new(guard: Arc<Guard>) -> GuardedResolver {
        GuardedResolver::with_log(guard, DnsLog::default())
    }

    /// A resolver noting its answers in `log`.
    pub fn with_log(guard: Arc<Guard>, log: DnsLog) -> GuardedResolver {
        GuardedResolver { guard, log }
    }
}

/// What the system resolver answered for a host, as recorded in a capture's provenance.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DnsAnswer {
    pub host: String,
    /// Every address answered, in the resolver's order (refused ones included).
    pub addresses: Vec<String>,
    /// The addresses the guard let through.
    pub allowed: Vec<String>,
    /// When the answer came (RFC 3339, UTC). A pooled connection may be reused after
    /// this, so it can be older than the capture.
    pub resolved_at: String,
}

/// Hosts noted at most; past it the log starts afresh (a crawl touches many hosts, and
/// a capture needs only its own host's latest answer).
const MAX_DNS_LOG: usize = 4096;

/// The latest answer per host, shared by a fetcher's resolver and the fetcher.
#[derive(Debug, Clone, Default)]
pub struct DnsLog(Arc<std::sync::Mutex<std::collections::HashMap<String, DnsAnswer>>>);

impl DnsLog {
    fn note(&self, answer: DnsAnswer) {
        // A poisoned lock only means another thread panicked mid-insert; the map is
        // still a valid map.
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_DNS_LOG && !map.contains_key(&answer.host) {
            map.clear();
        }
        map.insert(answer.host.clone(), answer);
    }

    /// The latest answer for `host`, if it was resolved by this log's resolver.
    pub fn get(&self, host: &str) -> Option<DnsAnswer> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(host).cloned()
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = Arc::clone(&self.guard);
        let log = self.log.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let filtered = guard.filter_resolved(&host, resolved.iter().copied());
            log.note(DnsAnswer {
                host: host.clone(),
                addresses: resolved.iter().map(|a| a.ip().to_string()).collect(),
                allowed: filtered
                    .as_ref()
                    .map(|k| k.iter().map(|a| a.ip().to_string()).collect())
                    .unwrap_or_default(),
                resolved_at: crate::evidence::utc(chrono::Utc::now()),
            });
            let kept = filtered?;
            let addrs: reqwest::dns::Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_table() {
        let table: &[(&str, Option<&str>)] = &[
            ("8.8.8.8", None),
            ("1.1.1.1", None),
            ("93.184.216.34", None),
            ("0.0.0.0", Some("unspecified")),
            ("0.1.2.3", Some("unspecified")),
            ("127.0.0.1", Some("loopback")),
            ("127.255.0.9", Some("loopback")),
            ("10.1.2.3", Some("private")),
            ("172.16.0.1", Some("private")),
            ("172.31.255.255", Some("private")),
            ("172.32.0.1", None),
            ("172.15.0.1", None),
            ("192.168.1.1", Some("private")),
            ("169.254.169.254", Some("link-local")),
            ("100.64.0.1", Some("carrier-grade NAT")),
            ("100.127.255.255", Some("carrier-grade NAT")),
            ("100.128.0.1", None),
            ("192.0.2.1", Some("documentation")),
            ("198.51.100.7", Some("documentation")),
            ("203.0.113.9", Some("documentation")),
            ("198.18.0.1", Some("benchmarking")),
            ("224.0.0.1", Some("multicast")),
            ("239.255.255.250", Some("multicast")),
            ("240.0.0.1", Some("reserved")),
            ("255.255.255.255", Some("broadcast")),
            ("2606:4700::1111", None),
            ("2001:4860:4860::8888", None),
            ("::", Some("unspecified")),
            ("::1", Some("loopback")),
            ("fc00::1", Some("unique-local")),
            ("fd12:3456::1", Some("unique-local")),
            ("fe80::1", Some("link-local")),
            ("fec0::1", Some("site-local")),
            ("ff02::1", Some("multicast")),
            ("2001:db8::1", Some("documentation")),
            ("::ffff:127.0.0.1", Some("loopback")),
            ("::ffff:10.0.0.1", Some("private")),
            ("::ffff:169.254.169.254", Some("link-local")),
            ("::ffff:8.8.8.8", None),
            ("::127.0.0.1", Some("loopback")),
            ("64:ff9b::a00:1", Some("private")),
            ("64:ff9b::808:808", None),
            ("2002:7f00:1::", Some("loopback")),
            ("2002:808:808::", None),
        ];
        for (text, expected) in table {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(non_public_class(ip), *expected, "{text}");
        }
    }

    #[test]
    fn literal_urls_are_checked_and_the_flag_allows_them() {
        let strict = Guard::new(false);
        let open = Guard::new(true);
        for u in [
            "http://127.0.0.1:8080/admin",
            "http://[::1]/",
            "http://10.0.0.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::ffff:192.168.0.1]/",
            "http://2130706433/",
            "http://0x7f.1/",
        ] {
            let url = Url::parse(u).unwrap();
            let err = strict.check_url(&url).unwrap_err();
            assert!(err.to_string().contains("refusing to connect"), "{err}");
            assert!(open.check_url(&url).is_ok(), "{u}");
        }
        for u in [
            "http://8.8.8.8/",
            "https://example.com/",
            "http://localhost/",
        ] {
            // Names pass here; the resolver checks what they resolve to.
            assert!(strict.check_url(&Url::parse(u).unwrap()).is_ok(), "{u}");
        }
    }

    #[test]
    fn exemptions_are_exact() {
        let addr: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        let g = Guard::new(false).with_exemption(addr);
        assert!(g.allows(addr));
        assert!(!g.allows("127.0.0.1:4001".parse().unwrap()));
        assert!(!g.allows("127.0.0.2:4000".parse().unwrap()));
        let any_port = Guard::new(false).with_exemption("127.0.0.1:0".parse().unwrap());
        assert!(any_port.allows("127.0.0.1:4001".parse().unwrap()));
        // A name resolving to an exempted IP is still refused.
        assert!(any_port
            .filter_resolved("localhost", vec!["127.0.0.1:0".parse().unwrap()])
            .is_err());
    }

    #[test]
    fn resolution_keeps_public_and_fails_when_none_left() {
        let g = Guard::new(false);
        let mixed: Vec<SocketAddr> = vec![
            "127.0.0.1:0".parse().unwrap(),
            "93.184.216.34:0".parse().unwrap(),
            "[::1]:0".parse().unwrap(),
        ];
        assert_eq!(
            g.filter_resolved("example.com", mixed).unwrap(),
            vec!["93.184.216.34:0".parse::<SocketAddr>().unwrap()]
        );
        let err = g
            .filter_resolved(
                "localhost",
                vec![
                    "127.0.0.1:0".parse().unwrap(),
                    "[::1]:0".parse::<SocketAddr>().unwrap(),
                ],
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "localhost: every address it resolves to is non-public (127.0.0.1, ::1), refusing to connect"
        );
    }
}
