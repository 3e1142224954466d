//! Capture provenance: how a capture was made, recorded in its evidence file as a
//! `metadata` record (`WARC-Target-URI: urn:provenance:<url>`, JSON).
//!
//! Notarial web capture asks for a clean-environment report: which machine, which
//! software, which network path, which clock. This is its machine-made counterpart:
//! the DNS answer for the host, the address connected to, the TLS certificates the
//! server presented, copyhound's version, git commit and the SHA-256 of the running
//! binary, the operating system, the user agent, the proxy setting, the clock and
//! whether the kernel reports it synchronised, and, when the page was rendered, the
//! browser's version and user agent.
//!
//! Facts of the process (binary digest, OS) are gathered once and kept; facts of the
//! capture come from [`Capture::network`]. What cannot be known is recorded as unknown
//! with the reason, never guessed: the system resolver (`getaddrinfo`) reports no TTL.

use std::io::Read;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::crawl::fetch::Capture;
use crate::crawl::guard::DnsAnswer;
use crate::evidence::browser::{Rendering, VIEWPORT_HEIGHT, VIEWPORT_WIDTH};
use crate::evidence::WarcInfo;

/// The `format` of the record, versioned so readers can tell later shapes apart.
pub const FORMAT: &str = "copyhound-provenance/1";

/// The `WARC-Target-URI` prefix of the provenance record.
pub const URN_PREFIX: &str = "urn:provenance:";

/// `/etc/resolv.conf` is read up to this many bytes for the nameservers.
const MAX_RESOLV_CONF: u64 = 64 * 1024;

/// How one capture was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// [`FORMAT`].
    pub format: String,
    /// The captured URL (the final one, after redirects).
    pub url: String,
    pub software: Software,
    pub machine: Machine,
    pub time_source: TimeSource,
    pub network: Network,
    /// Present when the page was rendered in a browser for the screenshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser: Option<Browser>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Software {
    pub name: String,
    pub version: String,
    /// The git commit built from, when the build knew it.
    pub git_commit: Option<String>,
    /// Lower-case hex SHA-256 of the running executable (`/proc/self/exe`).
    pub binary_sha256: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    pub hostname: String,
    /// `PRETTY_NAME` of `/etc/os-release`.
    pub os: Option<String>,
    /// `uname`: system, release, version, machine.
    pub kernel: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeSource {
    /// Where the capture's times come from.
    pub clock: String,
    /// Whether the kernel reports the clock synchronised (by NTP or PTP), from
    /// `adjtimex`; `None` when it could not be asked.
    pub synchronised: Option<bool>,
    /// The kernel's maximum and estimated error of the clock, in microseconds.
    pub max_error_us: Option<i64>,
    pub estimated_error_us: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    /// The crawler's `User-Agent`.
    pub user_agent: String,
    /// The crawler uses no proxy (environment proxies are ignored on purpose).
    pub proxy: String,
    /// The address and port the page came from.
    pub connected_ip: Option<String>,
    pub connected_port: Option<u16>,
    pub dns: Option<Dns>,
    /// The certificates the server presented, its own first; empty for `http://`.
    pub tls_certificates: Vec<Certificate>,
}

/// The DNS answer for the copy's host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dns {
    #[serde(flatten)]
    pub answer: DnsAnswer,
    /// How names are resolved: the system resolver.
    pub resolver: String,
    /// The `nameserver` lines of `/etc/resolv.conf` when the capture was recorded.
    pub nameservers: Vec<String>,
    /// Always `None`: `getaddrinfo` does not report TTLs.
    pub ttl_seconds: Option<u32>,
    pub ttl_note: String,
}

/// One certificate, as far as a reader needs to recognise it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    /// RFC 4514 form.
    pub subject: Option<String>,
    pub issuer: Option<String>,
    pub serial: Option<String>,
    /// RFC 3339, UTC.
    pub not_before: Option<String>,
    pub not_after: Option<String>,
    /// Lower-case hex SHA-256 of the DER bytes: the certificate's fingerprint.
    pub sha256: String,
    /// Why the fields are missing, when the DER could not be parsed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parse_error: Option<String>,
}

/// The browser that rendered the page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Browser {
    /// `Chrome/156.0...`.
    pub product: String,
    pub user_agent: String,
    /// The browser's network path: copyhound's guarded loopback proxy.
    pub proxy: String,
    pub viewport: String,
    /// The URL sent to, and the document's URL when the screenshots were taken.
    pub url: String,
    pub final_url: Option<String>,
    pub started_at: String,
    pub finished_at: String,
    pub notes: Vec<String>,
}

/// What the process knows about itself, gathered once.
struct ProcessFacts {
    binary_sha256: Option<String>,
    os: Option<String>,
    kernel: Option<String>,
}

static PROCESS: OnceLock<ProcessFacts> = OnceLock::new();

fn process() -> &'static ProcessFacts {
    PROCESS.get_or_init(|| ProcessFacts {
        binary_sha256: binary_sha256(),
        os: os_release(),
        kernel: kernel(),
    })
}

/// Starts gathering the process's facts on a thread of its own, so the first evidence
/// file does not wait for the binary to be hashed.
pub fn warm_up() {
    if PROCESS.get().is_none() {
        let _ = std::thread::Builder::new()
            .name("provenance".into())
            .spawn(|| {
                process();
            });
    }
}

fn binary_sha256() -> Option<String> {
    let mut file = std::fs::File::open("/proc/self/exe").ok()?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1024 * 1024];
    loop {
        let n = file.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Some(hex::encode(hasher.finalize()))
}

fn os_release() -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release")
        .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim().trim_matches('"').chars().take(200).collect())
}

fn kernel() -> Option<String> {
    // SAFETY: utsname is plain bytes; uname fills it and returns 0 on success.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return None;
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    Some(format!(
        "{} {} {} {}",
        field(&u.sysname),
        field(&u.release),
        field(&u.version),
        field(&u.machine)
    ))
}

/// The clock and what the kernel says of its synchronisation.
pub fn time_source() -> TimeSource {
    // SAFETY: timex is plain data; with modes 0 adjtimex only reads the kernel's state.
    let mut t: libc::timex = unsafe { std::mem::zeroed() };
    let state = unsafe { libc::adjtimex(&mut t) };
    let known = state >= 0;
    TimeSource {
        clock: "system clock (CLOCK_REALTIME), UTC".into(),
        // TIME_ERROR or STA_UNSYNC: the kernel considers the clock unsynchronised.
        synchronised: known
            .then_some(state != libc::TIME_ERROR && t.status & libc::STA_UNSYNC == 0),
        max_error_us: known.then_some(t.maxerror as i64),
        estimated_error_us: known.then_some(t.esterror as i64),
    }
}

fn nameservers() -> Vec<String> {
    let Ok(file) = std::fs::File::open("/etc/resolv.conf") else {
        return Vec::new();
    };
    let mut text = String::new();
    if file
        .take(MAX_RESOLV_CONF)
        .read_to_string(&mut text)
        .is_err()
    {
        return Vec::new();
    }
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .map(|v| v.trim().chars().take(100).collect())
        .filter(|v: &String| !v.is_empty())
        .take(16)
        .collect()
}

/// Reads a certificate's subject, issuer, serial and validity. Never fails: an
/// unparsable certificate keeps its fingerprint and says why.
pub fn certificate(der: &[u8]) -> Certificate {
    use x509_cert::der::Decode;
    let sha256 = hex::encode(Sha256::digest(der));
    match x509_cert::Certificate::from_der(der) {
        Ok(cert) => {
            let tbs = &cert.tbs_certificate;
            let time = |t: &x509_cert::time::Time| {
                chrono::DateTime::from_timestamp(t.to_unix_duration().as_secs() as i64, 0)
                    .map(crate::evidence::utc)
            };
            Certificate {
                subject: Some(tbs.subject.to_string()),
                issuer: Some(tbs.issuer.to_string()),
                serial: Some(tbs.serial_number.to_string()),
                not_before: time(&tbs.validity.not_before),
                not_after: time(&tbs.validity.not_after),
                sha256,
                parse_error: None,
            }
        }
        Err(e) => Certificate {
            subject: None,
            issuer: None,
            serial: None,
            not_before: None,
            not_after: None,
            sha256,
            parse_error: Some(e.to_string()),
        },
    }
}

/// The provenance of `capture`, written by the program described by `info`, rendered
/// by `rendering` when there is one.
pub fn of_capture(info: &WarcInfo, capture: &Capture, rendering: Option<&Rendering>) -> Provenance {
    let process = process();
    Provenance {
        format: FORMAT.into(),
        url: capture.final_url.to_string(),
        software: Software {
            name: "copyhound".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            git_commit: option_env!("COPYHOUND_GIT_COMMIT").map(str::to_string),
            binary_sha256: process.binary_sha256.clone(),
        },
        machine: Machine {
            hostname: info.hostname.clone(),
            os: process.os.clone(),
            kernel: process.kernel.clone(),
        },
        time_source: time_source(),
        network: Network {
            user_agent: info.user_agent.clone(),
            proxy: "none".into(),
            connected_ip: capture.remote_addr.map(|a| a.ip().to_string()),
            connected_port: capture.remote_addr.map(|a| a.port()),
            dns: capture.network.dns.clone().map(|answer| Dns {
                answer,
                resolver: "system resolver (getaddrinfo)".into(),
                nameservers: nameservers(),
                ttl_seconds: None,
                ttl_note: "the system resolver does not report TTLs".into(),
            }),
            tls_certificates: capture
                .network
                .tls_certificates
                .iter()
                .map(|der| certificate(der))
                .collect(),
        },
        browser: rendering.map(|r| Browser {
            product: r.product.clone(),
            user_agent: r.user_agent.clone(),
            proxy: "copyhound's guarded loopback proxy (the crawler's private-network guard)"
                .into(),
            viewport: format!("{VIEWPORT_WIDTH}x{VIEWPORT_HEIGHT}"),
            url: r.url.clone(),
            final_url: r.final_url.clone(),
            started_at: crate::evidence::utc(r.started_at),
            finished_at: crate::evidence::utc(r.finished_at),
            notes: r.notes.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_knows_itself() {
        let p = process();
        let digest = p
            .binary_sha256
            .as_deref()
            .expect("/proc/self/exe is readable");
        assert_eq!(digest.len(), 64);
        assert!(p.kernel.as_deref().is_some_and(|k| k.starts_with("Linux")));
        let t = time_source();
        assert!(
            t.synchronised.is_some(),
            "adjtimex answers without privileges"
        );
    }

    #[test]
    fn an_unparsable_certificate_keeps_its_fingerprint() {
        let c = certificate(b"not a certificate");
        assert_eq!(c.sha256, hex::encode(Sha256::digest(b"not a certificate")));
        assert!(c.subject.is_none());
        assert!(c.parse_error.is_some());
    }
}
