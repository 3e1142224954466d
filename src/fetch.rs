//! Bounded HTTP fetching: one GET with timeouts, a redirect limit, http/https only, and
//! a body size limit checked while streaming (after decompression, so a gzip bomb stops
//! at the limit instead of filling memory).
//!
//! This module knows nothing about articles or politeness; it turns a URL into bytes or
//! a typed error naming the URL. The crawler adds robots.txt, per-host delays and the
//! private-network guard on top.

use std::time::Duration;

use futures::StreamExt;
use url::Url;

/// Bodies larger than this are refused by default: a news page or feed is well below it.
pub const DEFAULT_MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Redirects followed before giving up (a redirect loop ends here).
pub const MAX_REDIRECTS: usize = 5;

/// Limits of a [`Fetcher`].
#[derive(Debug, Clone)]
pub struct FetchLimits {
    pub connect_timeout: Duration,
    /// Whole request, from connect to the last body byte.
    pub total_timeout: Duration,
    pub max_body_bytes: usize,
}

impl Default for FetchLimits {
    fn default() -> Self {
        FetchLimits {
            connect_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(30),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// A fetched response.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The URL after redirects.
    pub url: Url,
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: only http and https URLs are fetched")]
    Scheme { url: String },
    #[error("{url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: body larger than {limit} bytes")]
    TooLarge { url: String, limit: usize },
    #[error("{url}: {message}")]
    Network { url: String, message: String },
}

/// An HTTP client with the limits above.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    limits: FetchLimits,
}

impl Fetcher {
    /// Builds a fetcher that identifies itself as `user_agent`.
    ///
    /// # Errors
    /// A [`FetchError::Network`] when the TLS backend cannot be initialised.
    pub fn new(user_agent: &str, limits: FetchLimits) -> Result<Fetcher, FetchError> {
        let client = reqwest::Client::builder()
            .user_agent(user_agent)
            .connect_timeout(limits.connect_timeout)
            .timeout(limits.total_timeout)
            .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
            .build()
            .map_err(|e| FetchError::Network {
                url: String::new(),
                message: format!("cannot build HTTP client: {e}"),
            })?;
        Ok(Fetcher { client, limits })
    }

    /// GETs `url`; a non-2xx status is an error.
    ///
    /// # Errors
    /// [`FetchError`] naming the URL.
    pub async fn get(&self, url: &Url) -> Result<Fetched, FetchError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError::Scheme {
                url: url.to_string(),
            });
        }
        let network = |e: reqwest::Error| FetchError::Network {
            url: url.to_string(),
            message: describe(&e),
        };
        let response = self.client.get(url.clone()).send().await.map_err(network)?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            return Err(FetchError::Status {
                url: url.to_string(),
                status,
            });
        }
        let final_url = response.url().clone();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let limit = self.limits.max_body_bytes;
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(FetchError::TooLarge {
                url: url.to_string(),
                limit,
            });
        }
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(network)?;
            if body.len() + chunk.len() > limit {
                return Err(FetchError::TooLarge {
                    url: url.to_string(),
                    limit,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            url: final_url,
            status,
            content_type,
            body,
        })
    }
}

/// reqwest's top-level message is often just "error sending request"; the cause chain
/// says what happened (connection refused, timed out, too many redirects).
fn describe(err: &reqwest::Error) -> String {
    let head = if err.is_timeout() {
        "timed out".to_string()
    } else if err.is_redirect() {
        format!("too many redirects (limit {MAX_REDIRECTS})")
    } else {
        err.to_string()
    };
    with_causes(head, err)
}

/// `head` followed by each distinct message of `err`'s cause chain, `: `-separated.
pub fn with_causes(head: String, err: &dyn std::error::Error) -> String {
    let mut message = head;
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    message
}
