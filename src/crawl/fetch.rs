//! The crawler's hardened fetcher: one GET of a page on a site we do not trust, kept as
//! evidence.
//!
//! Every fetch is bounded: connect, read (per chunk) and total timeouts; a redirect limit
//! with loop detection; http/https only; a content-type allowlist; and a body limit
//! checked while streaming on the compressed bytes *and* on the decompressed bytes. The
//! decompression is ours (reqwest's automatic gzip/brotli/deflate is switched off) so a
//! gzip bomb stops at the limit instead of filling memory. Every hop passes the
//! private-network [`Guard`] before a connection is made.
//!
//! What comes back keeps what the evidence stage needs: the request head as sent, the
//! response status line, headers and raw body as received, the decoded body, the final
//! URL with the redirect chain, the remote IP address, and UTC timestamps.
//!
//! This module fetches one URL when asked. It never decides *when* (politeness is
//! [`crate::crawl::politeness`]), *whether* (robots.txt is [`crate::crawl::robots`],
//! scope is [`crate::crawl::urls`]) or what a page means; it never logs page content.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use sha2::Digest;
use url::Url;

use crate::config::{user_agent_has_contact, CrawlSettings};
use crate::crawl::guard::{DnsAnswer, DnsLog, Guard, GuardError, GuardedResolver};
use crate::crawl::robots::RobotsCache;
use crate::crawl::sanitize;

/// A `Retry-After` longer than this is cut to it: a server asking for a week off is
/// honoured for a day, and the next cycle asks again. It also keeps time arithmetic far
/// from overflow.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The pause assumed for a 429 without a (readable) `Retry-After`.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);

/// robots.txt bodies are cut to this (RFC 9309 asks crawlers to parse at least 500 KiB;
/// the rest may be ignored).
pub const ROBOTS_MAX_BYTES: usize = 512 * 1024;

/// What kind of document a fetch expects; it decides the content types accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentKind {
    /// An HTML page: `text/html`, `application/xhtml+xml`.
    Page,
    /// A feed or sitemap: the page types plus XML, RSS, Atom, JSON and plain text.
    Feed,
    /// robots.txt: any type (sites serve it under all sorts of labels), cut at
    /// [`ROBOTS_MAX_BYTES`] instead of failing when longer.
    Robots,
    /// A case's re-check of a copy: an HTML page, and a 404 or 410 answer is a capture
    /// too (whatever its type), because it is the evidence of the copy's removal.
    Recheck,
}

impl ContentKind {
    fn accepts(self, essence: &str) -> bool {
        const PAGE: &[&str] = &["text/html", "application/xhtml+xml"];
        const FEED: &[&str] = &[
            "application/xml",
            "text/xml",
            "application/rss+xml",
            "application/atom+xml",
            "application/rdf+xml",
            "application/json",
            "application/feed+json",
            "text/plain",
        ];
        match self {
            ContentKind::Page | ContentKind::Recheck => PAGE.contains(&essence),
            ContentKind::Feed => PAGE.contains(&essence) || FEED.contains(&essence),
            ContentKind::Robots => true,
        }
    }

    fn accept_header(self) -> &'static str {
        match self {
            ContentKind::Page | ContentKind::Recheck => "text/html,application/xhtml+xml;q=0.9",
            ContentKind::Feed => {
                "application/rss+xml,application/atom+xml,application/xml;q=0.9,text/xml;q=0.9,application/feed+json;q=0.8,text/html;q=0.5"
            }
            ContentKind::Robots => "text/plain,*/*;q=0.5",
        }
    }
}

/// Validators of an earlier fetch, sent as `If-None-Match` / `If-Modified-Since` so an
/// unchanged page costs the site a 304 instead of the whole body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// One redirect followed on the way to the final URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectHop {
    /// The URL requested in this hop.
    pub url: Url,
    pub status: u16,
    /// The `Location` header as received.
    pub location: String,
    pub remote_addr: Option<SocketAddr>,
    pub at: DateTime<Utc>,
}

/// A fetched page with everything the evidence stage needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    /// The URL asked for.
    pub requested_url: Url,
    /// The URL that answered with the body, after redirects.
    pub final_url: Url,
    /// The redirects followed, in order (empty when the first URL answered).
    pub redirects: Vec<RedirectHop>,
    /// The IP address and port the body came from.
    pub remote_addr: Option<SocketAddr>,
    /// The request head of the final hop: request line and headers, CRLF-separated,
    /// exactly the names and values sent. (hyper writes the same headers; it may order
    /// `host` differently, since it serialises a header map.)
    pub request_head: Vec<u8>,
    pub status: u16,
    /// The response head: status line (with the canonical reason phrase) and headers as
    /// received, names lower-cased by hyper, CRLF-separated.
    pub response_head: Vec<u8>,
    /// `Content-Type` as received.
    pub content_type: Option<String>,
    /// `Content-Encoding` as received (`gzip`, `br`, `deflate`), if any.
    pub content_encoding: Option<String>,
    /// The body bytes as received on the wire (after HTTP/1.1 de-chunking, before
    /// content decoding): what a hash in the evidence record covers.
    pub raw_body: Vec<u8>,
    /// The body after content decoding; `None` when it was not content-encoded, in which
    /// case it equals `raw_body` (see [`Capture::body`]).
    pub decoded_body: Option<Vec<u8>>,
    /// Lower-case hex SHA-256 of the decoded body: "has this page changed?".
    pub body_sha256: String,
    /// True when a robots.txt was cut at [`ROBOTS_MAX_BYTES`].
    pub truncated: bool,
    /// The validators to send next time.
    pub validators: Validators,
    /// When the first request was sent.
    pub started_at: DateTime<Utc>,
    /// When the last body byte arrived.
    pub finished_at: DateTime<Utc>,
    /// How the final hop reached its server (DNS answer, TLS certificates): the
    /// capture's provenance. Empty for captures not fetched by the crawler.
    pub network: NetworkFacts,
}

/// What the network said about a capture's final hop.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkFacts {
    /// The resolver's latest answer for the final URL's host (none for an IP literal,
    /// or when the name was not resolved by this fetcher).
    pub dns: Option<DnsAnswer>,
    /// The certificates the server presented over TLS, DER, its own first (empty for
    /// `http://`).
    pub tls_certificates: Vec<Vec<u8>>,
}

impl Capture {
    /// The decoded body: the page's bytes in its own charset.
    pub fn body(&self) -> &[u8] {
        self.decoded_body.as_deref().unwrap_or(&self.raw_body)
    }
}

/// What a fetch found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchOutcome {
    /// A 2xx response with its body.
    Fetched(Box<Capture>),
    /// 304: the page is unchanged since the validators were taken.
    NotModified,
    /// 429, or 503 with `Retry-After`: the host asks us to come back after this long
    /// (capped at [`MAX_RETRY_AFTER`]).
    RetryAfter(Duration),
}

/// Why a fetch failed. Every variant names the URL.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: only http and https URLs are fetched")]
    Scheme { url: String },
    #[error(transparent)]
    Guard(#[from] GuardError),
    #[error("{url}: redirect loop back to {target}")]
    RedirectLoop { url: String, target: String },
    #[error("{url}: more than {limit} redirects")]
    TooManyRedirects { url: String, limit: usize },
    #[error("{url}: HTTP {status} redirect without a usable Location header")]
    BadRedirect { url: String, status: u16 },
    #[error("{url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: disallowed by robots.txt")]
    Robots { url: String },
    #[error("{url}: content type {content_type:?} is not accepted here")]
    ContentType { url: String, content_type: String },
    #[error("{url}: body larger than {limit} bytes ({stage})")]
    TooLarge {
        url: String,
        limit: usize,
        /// `compressed` or `decompressed`: which count crossed the limit.
        stage: &'static str,
    },
    #[error("{url}: unsupported content encoding {encoding:?}")]
    Encoding { url: String, encoding: String },
    #[error("{url}: cannot decode {encoding} body: {message}")]
    Decode {
        url: String,
        encoding: String,
        message: String,
    },
    #[error("{url}: timed out {phase}")]
    Timeout {
        url: String,
        /// `connecting`, `waiting for data` or `after the whole-request limit`.
        phase: &'static str,
    },
    #[error("{url}: {message}")]
    Network { url: String, message: String },
    #[error("cannot build the crawler's HTTP client: {message}")]
    Setup { message: String },
}

impl FetchError {
    /// Whether trying again later may succeed (timeouts, network errors, 5xx, 408):
    /// such failures count towards a host's backoff. The others (4xx, refusals by the
    /// guard, limits) are permanent for this URL.
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::Timeout { .. } | FetchError::Network { .. } => true,
            FetchError::Status { status, .. } => *status >= 500 || *status == 408,
            _ => false,
        }
    }
}

/// The limits of a [`PageFetcher`], from `[crawl]`.
#[derive(Debug, Clone)]
struct Limits {
    timeout: Duration,
    read_timeout: Duration,
    max_body_bytes: usize,
    max_redirects: usize,
}

/// The crawler's HTTP client. Cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct PageFetcher {
    client: reqwest::Client,
    guard: Arc<Guard>,
    /// The resolver's answers, for the provenance of each capture.
    dns: DnsLog,
    /// The certificate chains servers presented, likewise.
    chains: crate::crawl::tls::ChainLog,
    limits: Limits,
    /// Sent with every request; also kept for the recorded request head.
    user_agent: HeaderValue,
}

impl PageFetcher {
    /// A fetcher with the limits of `[crawl]` and a guard that follows
    /// `allow_private_networks`.
    ///
    /// # Errors
    /// [`FetchError::Setup`] when the user agent has no contact URL or is not a valid
    /// header value, or when the TLS backend cannot be initialised.
    pub fn new(settings: &CrawlSettings) -> Result<PageFetcher, FetchError> {
        PageFetcher::with_guard(settings, Guard::new(settings.allow_private_networks))
    }

    /// A fetcher with an explicit [`Guard`] (for example one with an exemption for a
    /// fixture site on loopback).
    ///
    /// # Errors
    /// As [`PageFetcher::new`].
    pub fn with_guard(settings: &CrawlSettings, guard: Guard) -> Result<PageFetcher, FetchError> {
        PageFetcher::with_guard_and_roots(settings, guard, &[])
    }

    /// A fetcher with an explicit [`Guard`] that also trusts `extra_roots` (DER
    /// certificates: a fixture site's test CA) beside the web's roots.
    ///
    /// # Errors
    /// As [`PageFetcher::new`], and [`FetchError::Setup`] for an unusable root.
    pub fn with_guard_and_roots(
        settings: &CrawlSettings,
        guard: Guard,
        extra_roots: &[Vec<u8>],
    ) -> Result<PageFetcher, FetchError> {
        if !user_agent_has_contact(&settings.user_agent) {
            return Err(FetchError::Setup {
                message: format!(
                    "user agent {:?} has no contact URL; set [crawl] user_agent or [outlet] website",
                    settings.user_agent
                ),
            });
        }
        let user_agent =
            HeaderValue::from_str(&settings.user_agent).map_err(|e| FetchError::Setup {
                message: format!("user agent is not a valid header value: {e}"),
            })?;
        let guard = Arc::new(guard);
        let dns = DnsLog::default();
        let chains = crate::crawl::tls::ChainLog::default();
        let tls = crate::crawl::tls::client_config(extra_roots, chains.clone())
            .map_err(|message| FetchError::Setup { message })?;
        let client = reqwest::Client::builder()
            // Our rustls set-up (reqwest's roots and provider) notes each chain.
            .use_preconfigured_tls(tls)
            // Proxies from the environment would bypass the resolver and the guard.
            .no_proxy()
            // We follow redirects ourselves so every hop passes the guard and is recorded.
            .redirect(reqwest::redirect::Policy::none())
            // We decompress ourselves, with limits.
            .no_gzip()
            .no_brotli()
            .no_deflate()
            .connect_timeout(settings.connect_timeout)
            .read_timeout(settings.read_timeout)
            .timeout(settings.timeout)
            .dns_resolver(Arc::new(GuardedResolver::with_log(
                Arc::clone(&guard),
                dns.clone(),
            )))
            // The server's certificate is recorded in each capture's provenance.
            .tls_info(true)
            .build()
            .map_err(|e| FetchError::Setup {
                message: describe(&e),
            })?;
        Ok(PageFetcher {
            client,
            guard,
            dns,
            chains,
            limits: Limits {
                timeout: settings.timeout,
                read_timeout: settings.read_timeout,
                max_body_bytes: settings.max_body_bytes,
                max_redirects: settings.max_redirects,
            },
            user_agent,
        })
    }

    /// The guard this fetcher applies.
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// The guard, shared: the evidence browser's proxy applies the same one.
    pub fn shared_guard(&self) -> Arc<Guard> {
        Arc::clone(&self.guard)
    }

    /// Fetches an HTML page, conditionally when `validators` are given.
    ///
    /// # Errors
    /// [`FetchError`] naming the URL: refused by the guard, timeouts, limits, a redirect
    /// loop, a non-2xx status other than 304/429/503-with-Retry-After, a content type
    /// that is not HTML.
    pub async fn fetch(
        &self,
        url: &Url,
        validators: Option<&Validators>,
    ) -> Result<FetchOutcome, FetchError> {
        self.fetch_as(url, ContentKind::Page, validators).await
    }

    /// Like [`PageFetcher::fetch_as`], but every hop (the first URL and each redirect
    /// target) must be allowed by its origin's robots.txt, looked up in `robots`. A
    /// redirect into a disallowed path is not followed.
    ///
    /// # Errors
    /// [`FetchError::Robots`] naming the disallowed hop, or as [`PageFetcher::fetch`].
    pub async fn fetch_allowed(
        &self,
        url: &Url,
        kind: ContentKind,
        validators: Option<&Validators>,
        robots: &RobotsCache,
    ) -> Result<FetchOutcome, FetchError> {
        self.with_total_timeout(url, self.fetch_inner(url, kind, validators, Some(robots)))
            .await
    }

    /// Fetches `url` expecting a document of `kind`.
    ///
    /// # Errors
    /// As [`PageFetcher::fetch`].
    pub async fn fetch_as(
        &self,
        url: &Url,
        kind: ContentKind,
        validators: Option<&Validators>,
    ) -> Result<FetchOutcome, FetchError> {
        self.with_total_timeout(url, self.fetch_inner(url, kind, validators, None))
            .await
    }

    async fn with_total_timeout(
        &self,
        url: &Url,
        fetch: impl std::future::Future<Output = Result<FetchOutcome, FetchError>>,
    ) -> Result<FetchOutcome, FetchError> {
        match tokio::time::timeout(self.limits.timeout, fetch).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout {
                url: url.to_string(),
                phase: "after the whole-request limit",
            }),
        }
    }

    async fn fetch_inner(
        &self,
        url: &Url,
        kind: ContentKind,
        validators: Option<&Validators>,
        robots: Option<&RobotsCache>,
    ) -> Result<FetchOutcome, FetchError> {
        let started_at = Utc::now();
        let mut current = url.clone();
        // The fragment is never sent; without it, loop detection compares like with like.
        current.set_fragment(None);
        let mut redirects: Vec<RedirectHop> = Vec::new();
        loop {
            if !matches!(current.scheme(), "http" | "https") {
                return Err(FetchError::Scheme {
                    url: current.to_string(),
                });
            }
            self.guard.check_url(&current)?;
            if let Some(robots) = robots {
                if !robots.allowed_boxed(&current).await {
                    return Err(FetchError::Robots {
                        url: current.to_string(),
                    });
                }
            }
            let headers = self.request_headers(kind, validators);
            let request_head = render_request_head(&current, &headers);
            let response = self
                .client
                .get(current.clone())
                .headers(headers)
                .send()
                .await
                .map_err(|e| classify(&current, &e))?;
            let remote_addr = response.remote_addr();
            if let Some(addr) = remote_addr {
                self.guard.check_addr(&current, addr)?;
            }
            let status = response.status().as_u16();
            if matches!(status, 301 | 302 | 303 | 307 | 308) {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let next = location
                    .as_deref()
                    .and_then(|l| current.join(l).ok())
                    .ok_or_else(|| FetchError::BadRedirect {
                        url: current.to_string(),
                        status,
                    })?;
                let mut next = next;
                next.set_fragment(None);
                redirects.push(RedirectHop {
                    url: current.clone(),
                    status,
                    location: location.unwrap_or_default(),
                    remote_addr,
                    at: Utc::now(),
                });
                // Every URL requested so far is in `redirects` now, the first and the
                // current one included, so a self-redirect is a loop too.
                if redirects.iter().any(|h| h.url == next) {
                    return Err(FetchError::RedirectLoop {
                        url: url.to_string(),
                        target: next.to_string(),
                    });
                }
                if redirects.len() > self.limits.max_redirects {
                    return Err(FetchError::TooManyRedirects {
                        url: url.to_string(),
                        limit: self.limits.max_redirects,
                    });
                }
                tracing::debug!(
                    from = %sanitize(current.as_str()),
                    to = %sanitize(next.as_str()),
                    status,
                    "following redirect"
                );
                current = next;
                continue;
            }
            if status == 304 {
                return Ok(FetchOutcome::NotModified);
            }
            if status == 429 || status == 503 {
                let after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, SystemTime::now()));
                match (status, after) {
                    (_, Some(d)) => return Ok(FetchOutcome::RetryAfter(d)),
                    (429, None) => return Ok(FetchOutcome::RetryAfter(DEFAULT_RETRY_AFTER)),
                    _ => {}
                }
            }
            // A re-check keeps the answer that says the copy is gone, as its evidence.
            let gone = kind == ContentKind::Recheck && matches!(status, 404 | 410);
            if !(200..300).contains(&status) && !gone {
                return Err(FetchError::Status {
                    url: current.to_string(),
                    status,
                });
            }
            let content_type = header_string(response.headers(), reqwest::header::CONTENT_TYPE);
            if let Some(ct) = content_type.as_ref().filter(|_| !gone) {
                let essence = ct
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                if !kind.accepts(&essence) {
                    return Err(FetchError::ContentType {
                        url: current.to_string(),
                        content_type: ct.clone(),
                    });
                }
            }
            let content_encoding =
                header_string(response.headers(), reqwest::header::CONTENT_ENCODING);
            let response_head = render_response_head(&response);
            let network = NetworkFacts {
                dns: current.host_str().and_then(|h| self.dns.get(h)),
                tls_certificates: response
                    .extensions()
                    .get::<reqwest::tls::TlsInfo>()
                    .and_then(|t| t.peer_certificate())
                    .map(|leaf| {
                        self.chains
                            .chain_of(leaf)
                            .unwrap_or_else(|| vec![leaf.to_vec()])
                    })
                    .unwrap_or_default(),
            };
            let validators = Validators {
                etag: header_string(response.headers(), reqwest::header::ETAG),
                last_modified: header_string(response.headers(), reqwest::header::LAST_MODIFIED),
            };
            let limit = match kind {
                ContentKind::Robots => self.limits.max_body_bytes.min(ROBOTS_MAX_BYTES),
                _ => self.limits.max_body_bytes,
            };
            if kind != ContentKind::Robots
                && response.content_length().is_some_and(|n| n > limit as u64)
            {
                return Err(FetchError::TooLarge {
                    url: current.to_string(),
                    limit,
                    stage: "compressed",
                });
            }
            let body = self
                .read_body(
                    &current,
                    response,
                    content_encoding.as_deref(),
                    limit,
                    kind == ContentKind::Robots,
                )
                .await?;
            tracing::debug!(
                url = %sanitize(url.as_str()),
                final_url = %sanitize(current.as_str()),
                status,
                bytes = body.raw.len(),
                redirects = redirects.len(),
                "page fetched"
            );
            let body_sha256 = hex::encode(sha2::Sha256::digest(
                body.decoded.as_deref().unwrap_or(&body.raw),
            ));
            return Ok(FetchOutcome::Fetched(Box::new(Capture {
                requested_url: url.clone(),
                final_url: current,
                redirects,
                remote_addr,
                request_head,
                status,
                response_head,
                content_type,
                content_encoding,
                raw_body: body.raw,
                decoded_body: body.decoded,
                body_sha256,
                truncated: body.truncated,
                validators,
                started_at,
                finished_at: Utc::now(),
                network,
            })));
        }
    }

    fn request_headers(&self, kind: ContentKind, validators: Option<&Validators>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(reqwest::header::USER_AGENT, self.user_agent.clone());
        h.insert(
            reqwest::header::ACCEPT,
            HeaderValue::from_static(kind.accept_header()),
        );
        h.insert(
            reqwest::header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, deflate, br"),
        );
        if let Some(v) = validators {
            // Validators come from an earlier response's headers, so they are valid
            // header values; one that is not (a corrupted row) is simply not sent.
            if let Some(etag) = v
                .etag
                .as_deref()
                .and_then(|e| HeaderValue::from_str(e).ok())
            {
                h.insert(reqwest::header::IF_NONE_MATCH, etag);
            }
            if let Some(lm) = v
                .last_modified
                .as_deref()
                .and_then(|e| HeaderValue::from_str(e).ok())
            {
                h.insert(reqwest::header::IF_MODIFIED_SINCE, lm);
            }
        }
        h
    }

    /// Streams the body, counting compressed bytes against `limit` and feeding a
    /// decoder whose output is counted against the same limit.
    async fn read_body(
        &self,
        url: &Url,
        response: reqwest::Response,
        encoding: Option<&str>,
        limit: usize,
        truncate: bool,
    ) -> Result<Body, FetchError> {
        let mut decoder = Decoder::new(url, encoding, limit)?;
        let mut raw = Vec::new();
        let mut truncated = false;
        let mut stream = response.bytes_stream();
        loop {
            // reqwest's read timeout covers this too; the explicit one makes the
            // per-chunk rule independent of the client's internals.
            let next = tokio::time::timeout(self.limits.read_timeout, stream.next()).await;
            let chunk = match next {
                Err(_) => {
                    return Err(FetchError::Timeout {
                        url: url.to_string(),
                        phase: "waiting for data",
                    })
                }
                Ok(None) => break,
                Ok(Some(chunk)) => chunk.map_err(|e| classify(url, &e))?,
            };
            if raw.len() + chunk.len() > limit {
                if truncate {
                    raw.extend_from_slice(&chunk[..limit - raw.len()]);
                    truncated = true;
                    break;
                }
                return Err(FetchError::TooLarge {
                    url: url.to_string(),
                    limit,
                    stage: "compressed",
                });
            }
            raw.extend_from_slice(&chunk);
            match decoder.write(&chunk) {
                Ok(()) => {}
                Err(DecodeFailure::Limit) if truncate => {
                    truncated = true;
                    break;
                }
                Err(e) => return Err(e.into_error(url, encoding, limit)),
            }
        }
        let decoded = if truncated {
            decoder.partial()
        } else {
            match decoder.finish() {
                Ok(d) => d,
                Err(DecodeFailure::Limit) if truncate => {
                    truncated = true;
                    None
                }
                Err(e) => return Err(e.into_error(url, encoding, limit)),
            }
        };
        Ok(Body {
            raw,
            decoded,
            truncated,
        })
    }
}

struct Body {
    raw: Vec<u8>,
    decoded: Option<Vec<u8>>,
    truncated: bool,
}

/// A `Vec` that refuses to grow past its limit; the flag survives decoders that replace
/// our error with their own.
struct LimitedBuf {
    buf: Vec<u8>,
    limit: usize,
    exceeded: bool,
}

impl Write for LimitedBuf {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + data.len() > self.limit {
            self.exceeded = true;
            let room = self.limit - self.buf.len();
            self.buf.extend_from_slice(&data[..room]);
            return Err(std::io::Error::other("decompressed body over the limit"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

enum DecodeFailure {
    Limit,
    Corrupt(String),
}

impl DecodeFailure {
    fn into_error(self, url: &Url, encoding: Option<&str>, limit: usize) -> FetchError {
        match self {
            DecodeFailure::Limit => FetchError::TooLarge {
                url: url.to_string(),
                limit,
                stage: "decompressed",
            },
            DecodeFailure::Corrupt(message) => FetchError::Decode {
                url: url.to_string(),
                encoding: encoding.unwrap_or("identity").to_string(),
                message,
            },
        }
    }
}

/// Decodes a stored body (`raw`, as received, with its `Content-Encoding`) into the
/// page's bytes, producing at most `limit` bytes: the review desk re-reads captures this
/// way to show the copy as it was examined.
///
/// # Errors
/// A message when the encoding is unknown, the stream is damaged or the output would
/// pass `limit`.
pub fn decode_stored_body(
    encoding: Option<&str>,
    raw: &[u8],
    limit: usize,
) -> Result<Vec<u8>, String> {
    // The URL only labels errors, which are turned into messages right here.
    let label = Url::parse("stored:body").map_err(|e| e.to_string())?;
    let mut decoder = Decoder::new(&label, encoding, limit).map_err(|e| e.to_string())?;
    let describe = |f: DecodeFailure| match f {
        DecodeFailure::Limit => format!("decoded body is larger than {limit} bytes"),
        DecodeFailure::Corrupt(m) => m,
    };
    decoder.write(raw).map_err(describe)?;
    match decoder.finish().map_err(describe)? {
        Some(decoded) => Ok(decoded),
        None if raw.len() <= limit => Ok(raw.to_vec()),
        None => Err(format!("body is larger than {limit} bytes")),
    }
}

/// Incremental content decoding with an output limit.
enum Decoder {
    Identity,
    Gzip(flate2::write::MultiGzDecoder<LimitedBuf>),
    /// HTTP `deflate` is meant to be zlib-wrapped, but some servers send raw deflate;
    /// the first two bytes tell which. Bytes wait here until there are two.
    DeflatePending(Vec<u8>, usize),
    Zlib(flate2::write::ZlibDecoder<LimitedBuf>),
    RawDeflate(flate2::write::DeflateDecoder<LimitedBuf>),
    Brotli(Box<brotli_decompressor::DecompressorWriter<LimitedBuf>>),
}

impl Decoder {
    fn new(url: &Url, encoding: Option<&str>, limit: usize) -> Result<Decoder, FetchError> {
        let sink = || LimitedBuf {
            buf: Vec::new(),
            limit,
            exceeded: false,
        };
        let enc = encoding.map(|e| e.trim().to_ascii_lowercase());
        Ok(match enc.as_deref() {
            None | Some("") | Some("identity") => Decoder::Identity,
            Some("gzip") | Some("x-gzip") => {
                Decoder::Gzip(flate2::write::MultiGzDecoder::new(sink()))
            }
            Some("deflate") => Decoder::DeflatePending(Vec::new(), limit),
            Some("br") => Decoder::Brotli(Box::new(brotli_decompressor::DecompressorWriter::new(
                sink(),
                64 * 1024,
            ))),
            Some(other) => {
                return Err(FetchError::Encoding {
                    url: url.to_string(),
                    encoding: other.to_string(),
                })
            }
        })
    }

    fn sink(&self) -> Option<&LimitedBuf> {
        match self {
            Decoder::Identity | Decoder::DeflatePending(..) => None,
            Decoder::Gzip(d) => Some(d.get_ref()),
            Decoder::Zlib(d) => Some(d.get_ref()),
            Decoder::RawDeflate(d) => Some(d.get_ref()),
            Decoder::Brotli(d) => Some(d.get_ref()),
        }
    }

    fn failure(&self, err: std::io::Error) -> DecodeFailure {
        if self.sink().is_some_and(|s| s.exceeded) {
            DecodeFailure::Limit
        } else {
            DecodeFailure::Corrupt(err.to_string())
        }
    }

    fn write(&mut self, chunk: &[u8]) -> Result<(), DecodeFailure> {
        if let Decoder::DeflatePending(pending, limit) = self {
            pending.extend_from_slice(chunk);
            if pending.len() < 2 {
                return Ok(());
            }
            let sink = LimitedBuf {
                buf: Vec::new(),
                limit: *limit,
                exceeded: false,
            };
            let bytes = std::mem::take(pending);
            // A zlib header: compression method 8 and a header checksum divisible by 31.
            let zlib =
                bytes[0] & 0x0f == 8 && (u16::from(bytes[0]) << 8 | u16::from(bytes[1])) % 31 == 0;
            *self = if zlib {
                Decoder::Zlib(flate2::write::ZlibDecoder::new(sink))
            } else {
                Decoder::RawDeflate(flate2::write::DeflateDecoder::new(sink))
            };
            return self.write(&bytes);
        }
        let result = match self {
            Decoder::Identity | Decoder::DeflatePending(..) => Ok(()),
            Decoder::Gzip(d) => d.write_all(chunk),
            Decoder::Zlib(d) => d.write_all(chunk),
            Decoder::RawDeflate(d) => d.write_all(chunk),
            Decoder::Brotli(d) => d.write_all(chunk),
        };
        result.map_err(|e| self.failure(e))
    }

    /// What was decoded so far (for a truncated robots.txt).
    fn partial(self) -> Option<Vec<u8>> {
        self.sink().map(|s| s.buf.clone())
    }

    fn finish(self) -> Result<Option<Vec<u8>>, DecodeFailure> {
        match self {
            Decoder::Identity => Ok(None),
            Decoder::DeflatePending(pending, _) if pending.is_empty() => Ok(Some(Vec::new())),
            Decoder::DeflatePending(..) => Err(DecodeFailure::Corrupt(
                "deflate stream shorter than its header".into(),
            )),
            Decoder::Gzip(mut d) => {
                let r = d.try_finish();
                Self::done(r, d.get_ref()).map(|()| Some(std::mem::take(&mut d.get_mut().buf)))
            }
            Decoder::Zlib(mut d) => {
                let r = d.try_finish();
                Self::done(r, d.get_ref()).map(|()| Some(std::mem::take(&mut d.get_mut().buf)))
            }
            Decoder::RawDeflate(mut d) => {
                let r = d.try_finish();
                Self::done(r, d.get_ref()).map(|()| Some(std::mem::take(&mut d.get_mut().buf)))
            }
            Decoder::Brotli(mut d) => {
                let r = d.close();
                Self::done(r, d.get_ref())?;
                match d.into_inner() {
                    Ok(sink) => Ok(Some(sink.buf)),
                    Err(_) => Err(DecodeFailure::Corrupt("truncated brotli stream".into())),
                }
            }
        }
    }

    fn done(result: std::io::Result<()>, sink: &LimitedBuf) -> Result<(), DecodeFailure> {
        match result {
            Ok(()) => Ok(()),
            Err(_) if sink.exceeded => Err(DecodeFailure::Limit),
            Err(e) => Err(DecodeFailure::Corrupt(e.to_string())),
        }
    }
}

fn header_string(headers: &HeaderMap, name: HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// `GET /path?query HTTP/1.1`, `host`, then our headers, CRLF-separated.
fn render_request_head(url: &Url, headers: &HeaderMap) -> Vec<u8> {
    let mut target = url.path().to_string();
    if let Some(q) = url.query() {
        target.push('?');
        target.push_str(q);
    }
    let host = url.host_str().unwrap_or_default();
    let host = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    let mut out = format!("GET {target} HTTP/1.1\r\nhost: {host}\r\n").into_bytes();
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// `HTTP/1.1 200 OK` and the headers as received, CRLF-separated.
fn render_response_head(response: &reqwest::Response) -> Vec<u8> {
    let status = response.status();
    let version = match response.version() {
        reqwest::Version::HTTP_09 => "HTTP/0.9",
        reqwest::Version::HTTP_10 => "HTTP/1.0",
        reqwest::Version::HTTP_2 => "HTTP/2",
        reqwest::Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    };
    let reason = status.canonical_reason().unwrap_or("");
    let mut out = format!("{version} {} {reason}\r\n", status.as_u16()).into_bytes();
    for (name, value) in response.headers() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Parses `Retry-After`: delay-seconds or an HTTP date (all three formats of RFC 9110),
/// relative to `now`; a date in the past means "now" (zero). Capped at
/// [`MAX_RETRY_AFTER`]. `None` for anything else.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let delay = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Digits only: a huge number saturates rather than failing, then gets capped.
        Duration::from_secs(value.parse::<u64>().unwrap_or(u64::MAX))
    } else {
        let at = httpdate::parse_http_date(value).ok()?;
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

/// Turns a reqwest error into a [`FetchError`], recognising the guard's refusals and the
/// kinds of timeout in the cause chain.
fn classify(url: &Url, err: &reqwest::Error) -> FetchError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(s) = source {
        if let Some(g) = s.downcast_ref::<GuardError>() {
            return FetchError::Guard(g.clone());
        }
        source = s.source();
    }
    if err.is_timeout() {
        let phase = if err.is_connect() {
            "connecting"
        } else {
            "waiting for data"
        };
        return FetchError::Timeout {
            url: url.to_string(),
            phase,
        };
    }
    FetchError::Network {
        url: url.to_string(),
        message: describe(err),
    }
}

/// reqwest's top-level message is often just "error sending request"; the cause chain
/// says what happened (connection refused, reset, TLS failure).
fn describe(err: &reqwest::Error) -> String {
    crate::fetch::with_causes(err.to_string(), err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_table() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        let table: &[(&str, Option<u64>)] = &[
            ("120", Some(120)),
            (" 0 ", Some(0)),
            ("99999999999999999999999", Some(MAX_RETRY_AFTER.as_secs())),
            ("Sun, 06 Nov 1994 08:50:37 GMT", Some(60)),
            ("Sunday, 06-Nov-94 08:51:37 GMT", Some(120)),
            ("Sun Nov  6 08:52:37 1994", Some(180)),
            ("Sun, 06 Nov 1994 08:00:00 GMT", Some(0)),
            ("-5", None),
            ("soon", None),
            ("", None),
            ("1.5", None),
        ];
        for (text, expected) in table {
            assert_eq!(
                parse_retry_after(text, now),
                expected.map(Duration::from_secs),
                "{text:?}"
            );
        }
    }

    #[test]
    fn content_type_allowlist() {
        assert!(ContentKind::Page.accepts("text/html"));
        assert!(ContentKind::Page.accepts("application/xhtml+xml"));
        assert!(!ContentKind::Page.accepts("application/pdf"));
        assert!(!ContentKind::Page.accepts("application/rss+xml"));
        assert!(ContentKind::Feed.accepts("application/rss+xml"));
        assert!(ContentKind::Feed.accepts("application/json"));
        assert!(!ContentKind::Feed.accepts("image/png"));
        assert!(ContentKind::Robots.accepts("application/octet-stream"));
    }

    #[test]
    fn decoders_stop_at_the_limit() {
        use flate2::write::GzEncoder;
        let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&vec![0u8; 2 * 1024 * 1024]).unwrap();
        let bomb = enc.finish().unwrap();
        let url = Url::parse("http://example.com/").unwrap();
        let mut d = Decoder::new(&url, Some("gzip"), 1024 * 1024).unwrap();
        let failed = bomb
            .chunks(1000)
            .map(|c| d.write(c))
            .any(|r| matches!(r, Err(DecodeFailure::Limit)));
        assert!(failed);
        let mut ok = Decoder::new(&url, Some("gzip"), 4 * 1024 * 1024).unwrap();
        for c in bomb.chunks(1000) {
            assert!(ok.write(c).is_ok());
        }
        assert_eq!(
            ok.finish().ok().flatten().map(|b| b.len()),
            Some(2 * 1024 * 1024)
        );
    }

    #[test]
    fn brotli_decodes_and_stops_at_the_limit() {
        let url = Url::parse("http://example.com/").unwrap();
        let compress = |data: &[u8]| {
            let mut out = Vec::new();
            {
                let mut w = brotli::CompressorWriter::new(&mut out, 4096, 9, 22);
                w.write_all(data).unwrap();
            }
            out
        };
        let page = compress("<p>brotli 页面</p>".as_bytes());
        let mut d = Decoder::new(&url, Some("br"), 1000).unwrap();
        for c in page.chunks(3) {
            assert!(d.write(c).is_ok());
        }
        assert_eq!(
            d.finish().ok().flatten().as_deref(),
            Some("<p>brotli 页面</p>".as_bytes())
        );
        let bomb = compress(&vec![0u8; 4 * 1024 * 1024]);
        assert!(bomb.len() < 10_000, "{}", bomb.len());
        let mut d = Decoder::new(&url, Some("br"), 1024 * 1024).unwrap();
        let failed = bomb
            .chunks(512)
            .map(|c| d.write(c))
            .any(|r| matches!(r, Err(DecodeFailure::Limit)));
        assert!(failed || matches!(d.finish(), Err(DecodeFailure::Limit)));
    }

    #[test]
    fn corrupt_and_unknown_encodings_are_errors() {
        let url = Url::parse("http://example.com/").unwrap();
        assert!(matches!(
            Decoder::new(&url, Some("zstd"), 10),
            Err(FetchError::Encoding { .. })
        ));
        let mut d = Decoder::new(&url, Some("gzip"), 1000).unwrap();
        let r = d.write(b"this is not gzip at all");
        assert!(matches!(r, Err(DecodeFailure::Corrupt(_))) || d.finish().is_err());
    }

    #[test]
    fn deflate_accepts_zlib_and_raw() {
        let text = b"hello hello hello hello";
        let url = Url::parse("http://example.com/").unwrap();
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(text).unwrap();
        let mut r = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        r.write_all(text).unwrap();
        for encoded in [z.finish().unwrap(), r.finish().unwrap()] {
            let mut d = Decoder::new(&url, Some("deflate"), 1000).unwrap();
            for c in encoded.chunks(1) {
                assert!(d.write(c).is_ok());
            }
            assert_eq!(d.finish().ok().flatten().as_deref(), Some(&text[..]));
        }
    }
}
