//! Chat and webhook channels (`[[notify.webhooks]]`): WeCom, DingTalk and Feishu/Lark
//! robots, Slack incoming webhooks, and a generic signed JSON POST.
//!
//! Alerts for a webhook are rows of the same outbox as email (channel `webhook:NAME`),
//! queued in the match's transaction; [`deliver_webhooks`] claims each due row, posts
//! one short message and records the outcome, as the email path does:
//!
//! - accepted (a 2xx reply whose JSON carries no error code): `sent`;
//! - a 5xx, 408 or 429 reply, a timeout or connection failure, or a platform's
//!   rate-limit code: queued again after a capped exponential backoff (`[notify]
//!   retry_initial` doubling up to `retry_max`, never sooner than a `Retry-After`);
//! - any other 4xx or 3xx reply, or a platform's error code in the JSON body (a bad
//!   signature, a revoked token): `failed`, with the reason, for `alerts list`;
//! - an entry whose URL or secret cannot be read: `failed`, naming the key to fix.
//!
//! A message is short: what was found, where, the share copied, and one link to the
//! match's page on the desk (`[web] public_url`). It never carries the draft takedown
//! notice, the passages or the evidence. Every crawled string is folded to one line,
//! bounded in characters and escaped for the platform's markup; each message stays
//! within the platform's size limit.
//!
//! Secrets: the URL (it holds the platform's token) and the signing secret are read
//! from the config, a file or the environment when the outbox starts, and live only in
//! [`Webhooks`]. No log line, stored error or message names them: errors name the
//! webhook by its `name`, reqwest errors are stripped of their URL, and every stored
//! reason passes [`Target::redact`].

use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;

use super::report::one_line;
use super::{backoff, NotifyError, PassSummary};
use crate::config::{Language, Role, SecretSource, Settings, WebhookKind, WebhookSettings};
use crate::evidence::MatchFacts;
use crate::store::{AlertRecord, Channel, NewAlert, Store};

/// The generic body's format version (`"version"`); it changes only when a field is
/// removed or changes meaning.
pub const GENERIC_BODY_VERSION: u32 = 1;

/// The generic webhook's signature header: `sha256=` and the lower-case hex
/// HMAC-SHA256 of the request body, keyed with the secret.
pub const SIGNATURE_HEADER: &str = "X-Copyhound-Signature";

/// WeCom's limit on a markdown message's content, in bytes of UTF-8.
pub const WECOM_MAX_BYTES: usize = 4096;

/// Our bound on a DingTalk markdown text (DingTalk documents none lower), in bytes.
pub const DINGTALK_MAX_BYTES: usize = 4096;

/// Our bound on a Slack message's text, in characters (Slack truncates at 40,000 and
/// advises far less).
pub const SLACK_MAX_CHARS: usize = 3000;

/// Feishu's limit on a custom bot's request body, in bytes.
pub const FEISHU_MAX_BODY_BYTES: usize = 20 * 1024;

/// A reply body read beyond this is not read: the verdict is in its first bytes.
const MAX_REPLY_BYTES: usize = 64 * 1024;

/// A secret or URL file larger than this is a wrong path, not a secret.
const MAX_SECRET_BYTES: u64 = 4096;

/// Rows of one webhook taken in one pass.
const MAX_BATCH: usize = 50;

/// Characters of a crawled title, host or note kept in a chat message.
const TITLE_CHARS: usize = 120;
const HOST_CHARS: usize = 80;
const NOTE_CHARS: usize = 200;

/// Characters of a crawled string kept in the generic body.
const GENERIC_TEXT_CHARS: usize = 1000;
const GENERIC_URL_CHARS: usize = 4000;

/// Why one post did not go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostError {
    /// May pass later: a 5xx, 408 or 429 reply, a timeout, a refused connection, a
    /// platform's rate-limit or busy code. `retry_after` is the server's `Retry-After`.
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Will not pass: another 4xx or a 3xx reply, or the platform's error code.
    Permanent(String),
    /// The entry cannot work until the config changes (its URL or secret is missing).
    Config(String),
}

/// The URL and secret of one webhook, read from their sources.
#[derive(Clone)]
pub struct Target {
    url: url::Url,
    secret: Option<String>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Target(<redacted>)")
    }
}

impl Target {
    /// `text` with the URL, its query values and the secret replaced by `<redacted>`:
    /// the last guard before a reason is logged or stored.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        let mut secrets: Vec<String> = vec![self.url.as_str().to_string()];
        secrets.extend(self.url.query_pairs().map(|(_, v)| v.into_owned()));
        secrets.extend(
            self.url
                .path_segments()
                .into_iter()
                .flatten()
                .filter(|s| s.len() >= 16)
                .map(str::to_string),
        );
        secrets.extend(self.secret.clone());
        secrets.retain(|s| s.len() >= 6);
        // Longest first, so a secret inside the URL does not leave half the URL behind.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        for s in secrets {
            out = out.replace(&s, "<redacted>");
        }
        out
    }
}

/// One configured webhook, its secrets resolved (or why they could not be).
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub name: String,
    pub kind: WebhookKind,
    /// The URL and secret, or a message naming the key that failed.
    target: Result<Target, String>,
}

/// The webhooks of `[notify]`, ready to post: what the outbox holds besides the mailer.
#[derive(Debug, Clone)]
pub struct Webhooks {
    client: reqwest::Client,
    endpoints: Vec<Endpoint>,
}

impl Webhooks {
    /// Reads every entry's URL and secret from its source. An entry whose secret cannot
    /// be read does not stop the others: its alerts fail with the reason
    /// ([`Webhooks::problems`] lists them for `check-config` and the log).
    ///
    /// # Errors
    /// [`NotifyError::Setup`] when the HTTP client cannot be built.
    pub fn from_settings(settings: &Settings) -> Result<Webhooks, NotifyError> {
        let n = &settings.notify;
        let client = reqwest::Client::builder()
            .user_agent(concat!("copyhound/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(n.timeout)
            .timeout(n.timeout)
            // A webhook that redirects is misconfigured; following it could carry the
            // signed request elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                NotifyError::Setup(format!("cannot build the webhook HTTP client: {e}"))
            })?;
        let endpoints = n
            .webhooks
            .iter()
            .enumerate()
            .map(|(i, w)| Endpoint {
                name: w.name.clone(),
                kind: w.kind,
                target: resolve_target(w, &WebhookSettings::key(i)),
            })
            .collect();
        Ok(Webhooks { client, endpoints })
    }

    /// The entries whose URL or secret cannot be read, one message each naming the key.
    pub fn problems(&self) -> Vec<String> {
        self.endpoints
            .iter()
            .filter_map(|e| e.target.as_ref().err().cloned())
            .collect()
    }

    /// How many webhooks are configured.
    pub fn len(&self) -> usize {
        self.endpoints.len()
    }

    /// Whether no webhook is configured.
    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }

    /// `name (kind)` of every webhook, for people: never the URL.
    pub fn describe(&self) -> String {
        self.endpoints
            .iter()
            .map(|e| format!("{} ({})", e.name, e.kind.name()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn find(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.name == name)
    }

    /// Posts `message` to `endpoint`, signing it as its platform requires.
    ///
    /// # Errors
    /// [`PostError`], its reason free of the URL and secret.
    pub async fn post(
        &self,
        endpoint: &Endpoint,
        message: &Message,
        now: DateTime<Utc>,
    ) -> Result<(), PostError> {
        let target = endpoint
            .target
            .as_ref()
            .map_err(|e| PostError::Config(e.clone()))?;
        let request = prepare(endpoint.kind, message, target.secret.as_deref(), now);
        let mut url = target.url.clone();
        if !request.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in &request.query {
                pairs.append_pair(k, v);
            }
        }
        let label = format!("webhook {:?} ({})", endpoint.name, endpoint.kind.name());
        let mut builder = self.client.post(url).header(
            reqwest::header::CONTENT_TYPE,
            "application/json; charset=utf-8",
        );
        for (k, v) in &request.headers {
            builder = builder.header(*k, v);
        }
        let result = send(builder.body(request.body), endpoint.kind, &label).await;
        result.map_err(|e| match e {
            PostError::Transient {
                reason,
                retry_after,
            } => PostError::Transient {
                reason: target.redact(&reason),
                retry_after,
            },
            PostError::Permanent(r) => PostError::Permanent(target.redact(&r)),
            PostError::Config(r) => PostError::Config(target.redact(&r)),
        })
    }
}

fn resolve_target(w: &WebhookSettings, key: &str) -> Result<Target, String> {
    let (url_text, url_key) = match &w.url {
        SecretSource::Inline(u) => (u.clone(), "url"),
        source => (
            read_secret(source, key, "url_file", "url_env")?,
            "url_file/url_env",
        ),
    };
    let url = match url::Url::parse(url_text.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => u,
        // The text is the secret: the message never repeats it.
        _ => return Err(format!("{key}.{url_key}: not an http:// or https:// URL")),
    };
    let secret = match &w.secret {
        None => None,
        Some(source) => Some(read_secret(source, key, "secret_file", "secret_env")?),
    };
    Ok(Target { url, secret })
}

/// Reads a secret from a file (first line; a trailing newline is an editor's) or an
/// environment variable. The message names the key and the file or variable, never the
/// value.
fn read_secret(
    source: &SecretSource,
    key: &str,
    file_key: &str,
    env_key: &str,
) -> Result<String, String> {
    let value = match source {
        SecretSource::Inline(v) => v.clone(),
        SecretSource::File(path) => {
            let len = std::fs::metadata(path)
                .map_err(|e| format!("{key}.{file_key}: {}: {e}", path.display()))?
                .len();
            if len > MAX_SECRET_BYTES {
                return Err(format!(
                    "{key}.{file_key}: {} is larger than {MAX_SECRET_BYTES} bytes",
                    path.display()
                ));
            }
            std::fs::read_to_string(path)
                .map_err(|e| format!("{key}.{file_key}: {}: {e}", path.display()))?
                .trim_end_matches(['\r', '\n'])
                .to_string()
        }
        SecretSource::Env(var) => std::env::var(var)
            .map_err(|_| format!("{key}.{env_key}: environment variable {var} is not set"))?,
    };
    if value.trim().is_empty() {
        let what = match source {
            SecretSource::File(path) => format!("{key}.{file_key}: {} is empty", path.display()),
            SecretSource::Env(var) => {
                format!("{key}.{env_key}: environment variable {var} is empty")
            }
            SecretSource::Inline(_) => format!("{key}: empty"),
        };
        return Err(what);
    }
    Ok(value)
}

async fn send(
    builder: reqwest::RequestBuilder,
    kind: WebhookKind,
    label: &str,
) -> Result<(), PostError> {
    let response = builder.send().await.map_err(|e| PostError::Transient {
        reason: format!("{label}: {}", describe_reqwest(e)),
        retry_after: None,
    })?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = match read_bounded(response).await {
        Ok(b) => b,
        Err(e) if status.is_success() => {
            // Accepted, but the reply broke off: the platform's verdict is unknown, and
            // posting again could duplicate the message. Take the status as the verdict.
            tracing::warn!(webhook = %label, error = %e, "webhook reply unreadable after a 2xx");
            Vec::new()
        }
        Err(_) => Vec::new(),
    };
    let snippet = one_line(&String::from_utf8_lossy(&body), 200);
    let code = status.as_u16();
    if status.is_success() {
        return check_reply(kind, &body, label);
    }
    let reason = if snippet.is_empty() {
        format!("{label}: HTTP {code}")
    } else {
        format!("{label}: HTTP {code}: {snippet}")
    };
    if status.is_server_error() || code == 429 || code == 408 {
        Err(PostError::Transient {
            reason,
            retry_after,
        })
    } else if status.is_redirection() {
        Err(PostError::Permanent(format!(
            "{reason} (a redirect: check the webhook's URL)"
        )))
    } else {
        Err(PostError::Permanent(reason))
    }
}

/// A reqwest error without its URL (which holds the token), with its causes.
fn describe_reqwest(e: reqwest::Error) -> String {
    let timeout = e.is_timeout();
    let text = super::error_chain(&e.without_url());
    if timeout {
        format!("timed out: {text}")
    } else {
        text
    }
}

async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(describe_reqwest)? {
        let room = MAX_REPLY_BYTES - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_REPLY_BYTES {
            break;
        }
    }
    Ok(body)
}

/// The verdict in a 2xx reply's body: WeCom and DingTalk answer `errcode`, Feishu
/// `code` (`StatusCode` in its older API); 0 means delivered. Slack and generic
/// endpoints say it with the status alone.
fn check_reply(kind: WebhookKind, body: &[u8], label: &str) -> Result<(), PostError> {
    let field: &[&str] = match kind {
        WebhookKind::Wecom | WebhookKind::Dingtalk => &["errcode"],
        WebhookKind::Feishu => &["code", "StatusCode"],
        WebhookKind::Slack | WebhookKind::Generic => return Ok(()),
    };
    let snippet = one_line(&String::from_utf8_lossy(body), 200);
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Err(PostError::Permanent(format!(
            "{label}: the reply is not the platform's JSON: {snippet:?}"
        )));
    };
    let Some(code) = field
        .iter()
        .find_map(|f| value.get(*f))
        .and_then(serde_json::Value::as_i64)
    else {
        return Err(PostError::Permanent(format!(
            "{label}: the reply has no {}: {snippet:?}",
            field[0]
        )));
    };
    if code == 0 {
        return Ok(());
    }
    let message = ["errmsg", "msg", "StatusMessage"]
        .iter()
        .find_map(|f| value.get(*f).and_then(serde_json::Value::as_str))
        .map(|m| one_line(m, 200))
        .unwrap_or_default();
    let reason = format!("{label}: {} {code}: {message}", field[0]);
    if is_retryable_code(kind, code) {
        Err(PostError::Transient {
            reason,
            retry_after: None,
        })
    } else {
        Err(PostError::Permanent(reason))
    }
}

/// Platform codes that mean "later": system busy and rate limits. WeCom: -1 busy, 45009
/// over the robot's 20 messages a minute. DingTalk: -1 busy, 130101 sent too fast.
/// Feishu: 11232 frequency limited, 9499 when its gateway is overloaded.
fn is_retryable_code(kind: WebhookKind, code: i64) -> bool {
    match kind {
        WebhookKind::Wecom => matches!(code, -1 | 45009),
        WebhookKind::Dingtalk => matches!(code, -1 | 130101),
        WebhookKind::Feishu => matches!(code, 11232),
        WebhookKind::Slack | WebhookKind::Generic => false,
    }
}

/// What one message says, before a platform's format: built from the stored match.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub alert_id: i64,
    pub role: Role,
    pub facts: MatchFacts,
    /// The match's page on the desk (`[web] public_url`), if configured.
    pub desk_url: Option<String>,
    pub language: Language,
}

/// An HTTP request ready to send: extra query pairs (DingTalk's signature), headers
/// and the JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub query: Vec<(&'static str, String)>,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

struct Labels {
    found: &'static str,
    escalated: &'static str,
    original: &'static str,
    site: &'static str,
    share: &'static str,
    copy: &'static str,
    partial: &'static str,
    match_no: &'static str,
    confirmed_by: &'static str,
    open: &'static str,
    licensed: &'static str,
}

fn labels(language: Language) -> &'static Labels {
    match language {
        Language::ZhCn => &Labels {
            found: "发现疑似侵权转载",
            escalated: "审核确认侵权，请法务处理",
            original: "原文",
            site: "转载网站",
            share: "复制比例",
            copy: "全文转载",
            partial: "部分转载",
            match_no: "匹配编号",
            confirmed_by: "确认人",
            open: "在审核台查看",
            licensed: "授权合作网站",
        },
        Language::En => &Labels {
            found: "Possible copy found",
            escalated: "Confirmed as infringing: over to counsel",
            original: "Original",
            site: "Copied on",
            share: "Share copied",
            copy: "full copy",
            partial: "partial copy",
            match_no: "Match",
            confirmed_by: "Confirmed by",
            open: "Open in the review desk",
            licensed: "licensed partner",
        },
    }
}

/// One message's lines as plain text, each crawled value passed through `esc` (the
/// platform's escaping) after being folded to one bounded line.
struct Lines {
    headline: String,
    fields: Vec<(String, String)>,
    link_text: String,
}

fn lines(message: &Message, esc: &dyn Fn(&str) -> String) -> Lines {
    let l = labels(message.language);
    let f = &message.facts;
    let headline = if f.escalation.is_some() {
        l.escalated
    } else {
        l.found
    };
    let verdict = if f.verdict == "copy" {
        l.copy
    } else {
        l.partial
    };
    let mut site = esc(&one_line(&f.copy.host, HOST_CHARS));
    if super::licence::is_noncompliant(f) {
        // Our own labels, not crawled text: what the partner's copy lacks.
        let missing: Vec<&str> = f
            .licence
            .iter()
            .flat_map(|lf| lf.missing.iter())
            .map(|m| super::licence::missing_label(m, message.language))
            .collect();
        site = format!(
            "{site} ({}: {})",
            super::licence::subject_prefix(message.language).trim_end_matches([':', '：', ' ']),
            missing.join(", ")
        );
    } else if f.licensed {
        site = format!("{site} ({})", l.licensed);
    }
    let mut fields = vec![
        (
            l.original.to_string(),
            esc(&one_line(&f.original.title, TITLE_CHARS)),
        ),
        (l.site.to_string(), site),
        (
            l.share.to_string(),
            format!("{}% ({verdict})", (f.containment * 100.0).round() as i64),
        ),
    ];
    if let Some(id) = f.match_id {
        fields.push((l.match_no.to_string(), format!("#{id}")));
    }
    if let Some(e) = &f.escalation {
        let mut who = esc(&one_line(&e.decided_by, HOST_CHARS));
        let note = one_line(&e.note, NOTE_CHARS);
        if !note.is_empty() {
            who = format!("{who}: {}", esc(&note));
        }
        fields.push((l.confirmed_by.to_string(), who));
    }
    Lines {
        headline: format!("[copyhound] {headline}"),
        fields,
        link_text: l.open.to_string(),
    }
}

/// Neutralises a crawled string for WeCom's and DingTalk's markdown, neither of which
/// documents an escape character: every ASCII character with a meaning in markdown (or
/// in the HTML and `<font>` tags they accept) becomes its full-width twin, which reads
/// the same and means nothing.
pub fn escape_chat_markdown(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '*' | '_' | '[' | ']' | '(' | ')' | '#' | '<' | '>' | '`' | '~' | '|' | '!' | '\\'
            | '&' => char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap_or(c),
            c => c,
        })
        .collect()
}

/// Escapes text for Slack's mrkdwn, as Slack documents: `&`, `<` and `>` become
/// entities (so no `<!channel>`, `<@U123>` or `<url|text>` can be made).
pub fn escape_slack(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` cut to at most `max` bytes of UTF-8 at a character boundary, ending with `…`
/// when cut.
pub fn truncate_bytes(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let room = max.saturating_sub('…'.len_utf8());
    let mut end = room;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// DingTalk's signature: Base64 of HMAC-SHA256 over `"{timestamp}\n{secret}"` keyed
/// with the secret, the timestamp in milliseconds (sent URL-encoded as `sign`).
pub fn dingtalk_sign(timestamp_ms: i64, secret: &str) -> String {
    let mac = hmac_sha256(
        secret.as_bytes(),
        format!("{timestamp_ms}\n{secret}").as_bytes(),
    );
    base64::engine::general_purpose::STANDARD.encode(mac)
}

/// Feishu's signature: Base64 of HMAC-SHA256 over an empty message keyed with
/// `"{timestamp}\n{secret}"`, the timestamp in seconds.
pub fn feishu_sign(timestamp_s: i64, secret: &str) -> String {
    let mac = hmac_sha256(format!("{timestamp_s}\n{secret}").as_bytes(), b"");
    base64::engine::general_purpose::STANDARD.encode(mac)
}

/// The generic webhook's signature header value: `sha256=` and the hex HMAC-SHA256 of
/// the body keyed with the secret.
pub fn generic_signature(body: &[u8], secret: &str) -> String {
    format!(
        "sha256={}",
        hex::encode(hmac_sha256(secret.as_bytes(), body))
    )
}

/// The request for `message` in `kind`'s format, signed with `secret` at `now`. Pure.
pub fn prepare(
    kind: WebhookKind,
    message: &Message,
    secret: Option<&str>,
    now: DateTime<Utc>,
) -> Prepared {
    let mut query = Vec::new();
    let mut headers = Vec::new();
    let body = match kind {
        WebhookKind::Wecom => {
            let content = markdown_text(message, &escape_chat_markdown, "\n");
            json!({
                "msgtype": "markdown",
                "markdown": { "content": truncate_bytes(&content, WECOM_MAX_BYTES) },
            })
        }
        WebhookKind::Dingtalk => {
            if let Some(secret) = secret {
                let ts = now.timestamp_millis();
                query.push(("timestamp", ts.to_string()));
                query.push(("sign", dingtalk_sign(ts, secret)));
            }
            // DingTalk's markdown needs a blank line or two trailing spaces for a break.
            let text = markdown_text(message, &escape_chat_markdown, "  \n");
            let title = lines(message, &|s| s.to_string()).headline;
            json!({
                "msgtype": "markdown",
                "markdown": {
                    "title": title,
                    "text": truncate_bytes(&text, DINGTALK_MAX_BYTES),
                },
            })
        }
        WebhookKind::Feishu => feishu_body(message, secret, now),
        WebhookKind::Slack => {
            let ls = lines(message, &escape_slack);
            let mut text = format!("*{}*", ls.headline);
            for (k, v) in &ls.fields {
                text.push_str(&format!("\n{k}: {v}"));
            }
            if let Some(url) = &message.desk_url {
                text.push_str(&format!(
                    "\n<{}|{}>",
                    escape_slack(url).replace('|', "%7C"),
                    ls.link_text
                ));
            }
            let text: String = if text.chars().count() > SLACK_MAX_CHARS {
                text.chars()
                    .take(SLACK_MAX_CHARS - 1)
                    .chain(['…'])
                    .collect()
            } else {
                text
            };
            json!({ "text": text })
        }
        WebhookKind::Generic => {
            let body = generic_body(message, now);
            let bytes = serde_json::to_vec(&body).unwrap_or_default();
            headers.push(("X-Copyhound-Event", event(message).to_string()));
            headers.push(("X-Copyhound-Delivery", delivery_id(message.alert_id)));
            if let Some(secret) = secret {
                headers.push((SIGNATURE_HEADER, generic_signature(&bytes, secret)));
            }
            return Prepared {
                query,
                headers,
                body: bytes,
            };
        }
    };
    Prepared {
        query,
        headers,
        // Serialising a `json!` value of strings and numbers cannot fail.
        body: serde_json::to_vec(&body).unwrap_or_default(),
    }
}

/// A markdown message for WeCom or DingTalk: the headline in bold, a line per field,
/// the desk link last.
fn markdown_text(message: &Message, esc: &dyn Fn(&str) -> String, br: &str) -> String {
    let ls = lines(message, esc);
    let mut text = format!("**{}**", ls.headline);
    for (k, v) in &ls.fields {
        text.push_str(br);
        text.push_str(&format!("{k}: {v}"));
    }
    if let Some(url) = &message.desk_url {
        text.push_str(br);
        // Our own URL: parsed from the config, with no parentheses or spaces to break
        // the link (the URL serialiser percent-encodes them).
        text.push_str(&format!("[{}]({url})", ls.link_text));
    }
    text
}

fn feishu_body(message: &Message, secret: Option<&str>, now: DateTime<Utc>) -> serde_json::Value {
    // A `post` message's `text` elements are plain text (no markup is parsed in them),
    // so crawled strings need only be folded and bounded.
    let ls = lines(message, &|s| s.to_string());
    let mut content: Vec<serde_json::Value> = ls
        .fields
        .iter()
        .map(|(k, v)| json!([{ "tag": "text", "text": format!("{k}: {v}") }]))
        .collect();
    if let Some(url) = &message.desk_url {
        content.push(json!([{ "tag": "a", "text": ls.link_text, "href": url }]));
    }
    let locale = match message.language {
        Language::ZhCn => "zh_cn",
        Language::En => "en_us",
    };
    let mut body = json!({
        "msg_type": "post",
        "content": { "post": { locale: { "title": ls.headline, "content": content } } },
    });
    if let Some(secret) = secret {
        let ts = now.timestamp();
        body["timestamp"] = json!(ts.to_string());
        body["sign"] = json!(feishu_sign(ts, secret));
    }
    body
}

fn event(message: &Message) -> &'static str {
    if message.facts.escalation.is_some() {
        "match.escalated"
    } else {
        "match.found"
    }
}

/// The id a receiver can deduplicate by: fixed per outbox row, so a re-post after a
/// crash in the at-least-once window carries the same one.
pub fn delivery_id(alert_id: i64) -> String {
    format!("alert-{alert_id}")
}

/// The generic webhook's body (version [`GENERIC_BODY_VERSION`], documented field by
/// field in the README).
fn generic_body(message: &Message, now: DateTime<Utc>) -> serde_json::Value {
    let f = &message.facts;
    let text = |s: &str| one_line(s, GENERIC_TEXT_CHARS);
    let url = |s: &str| one_line(s, GENERIC_URL_CHARS);
    json!({
        "version": GENERIC_BODY_VERSION,
        "event": event(message),
        "delivery_id": delivery_id(message.alert_id),
        "alert_id": message.alert_id,
        "role": crate::store::role_name(message.role),
        "match_id": f.match_id,
        "verdict": f.verdict,
        "share_copied": f.containment,
        "coverage": f.coverage,
        "licensed": f.licensed,
        "copy": {
            "url": url(&f.copy.url),
            "host": text(&f.copy.host),
            "title": text(&f.copy.title),
            "captured_at": f.copy.captured_at,
        },
        "original": {
            "id": f.original.id,
            "url": url(&f.original.url),
            "title": text(&f.original.title),
            "published": f.original.published,
        },
        "desk_url": message.desk_url,
        "language": message.language.tag(),
        "escalation": f.escalation.as_ref().map(|e| json!({
            "decided_by": text(&e.decided_by),
            "decided_at": e.decided_at,
            "note": text(&e.note),
        })),
        "licence": f.licence.as_ref().map(|l| json!({
            "partner": text(&l.partner),
            "licence": text(&l.licence),
            "verdict": l.verdict,
            "missing": l.missing,
        })),
        "sent_at": crate::evidence::utc(now),
    })
}

/// The desk's page of match `id` under `public_url`.
pub fn desk_url(public_url: Option<&url::Url>, id: Option<i64>) -> Option<String> {
    let (base, id) = (public_url?, id?);
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    base.join(&format!("matches/{id}")).ok().map(String::from)
}

/// Which of `w`'s roles a new match alerts: the filters of `[email]`, with the entry's
/// own thresholds (counsel is not told of copies on a licensed partner's site).
pub fn webhook_roles(facts: &MatchFacts, w: &WebhookSettings) -> Vec<Role> {
    if let Some(roles) = super::licence_roles(facts) {
        return roles.into_iter().filter(|r| w.roles.contains(r)).collect();
    }
    w.roles
        .iter()
        .copied()
        .filter(|role| match role {
            Role::Legal => !facts.licensed && facts.containment >= w.legal_min_containment,
            Role::Licensing => facts.containment >= w.licensing_min_containment,
        })
        .collect()
}

/// The webhook rows for a new match: one per entry and role it serves and wants it.
pub fn new_webhook_alerts(
    facts: &MatchFacts,
    facts_json: &str,
    evidence: (Option<String>, Option<String>),
    webhooks: &[WebhookSettings],
) -> Vec<NewAlert> {
    let mut out = Vec::new();
    for w in webhooks {
        for role in webhook_roles(facts, w) {
            out.push(NewAlert {
                match_id: facts.match_id,
                role,
                channel: Channel::Webhook(w.name.clone()),
                facts_json: facts_json.to_string(),
                evidence_file: evidence.0.clone(),
                evidence_sha256: evidence.1.clone(),
            });
        }
    }
    out
}

/// One pass over the due webhook rows: each is claimed, posted and its outcome
/// recorded. A webhook that fails transiently is not tried again in the same pass: its
/// other due rows wait for the same retry time without an attempt counted, so a dead
/// endpoint costs one timeout per pass, not one per alert.
///
/// # Errors
/// [`NotifyError`] when the database fails; delivery failures are recorded on the rows.
pub async fn deliver_webhooks(
    store: &mut Store,
    settings: &Settings,
    webhooks: &Webhooks,
    now: DateTime<Utc>,
) -> Result<PassSummary, NotifyError> {
    let mut summary = PassSummary::default();
    let due = store.due_webhook_alerts(now, MAX_BATCH * webhooks.len().max(1))?;
    let n = &settings.notify;
    let lease = chrono::Duration::from_std(n.timeout * 4).unwrap_or(chrono::Duration::hours(1));
    let mut resting: std::collections::HashMap<String, DateTime<Utc>> = Default::default();
    for alert in due {
        let Channel::Webhook(name) = &alert.channel else {
            continue;
        };
        if let Some(until) = resting.get(name) {
            store.postpone_alerts(&[alert.id], *until)?;
            summary.retrying += 1;
            continue;
        }
        let Some(endpoint) = webhooks.find(name) else {
            if store
                .claim_alerts(&[alert.id], &delivery_id(alert.id), now, now + lease)?
                .is_empty()
            {
                continue;
            }
            let why = format!(
                "no [[notify.webhooks]] entry named {name:?} any more: add it back and run `copyhound alerts retry {}`",
                alert.id
            );
            store.fail_alerts(&[alert.id], &why)?;
            tracing::error!(alert = alert.id, channel = %alert.channel, "webhook alert failed: its webhook is no longer configured");
            summary.failed += 1;
            continue;
        };
        match deliver_one(store, settings, webhooks, endpoint, &alert, now, lease).await? {
            Outcome::Sent => {
                summary.webhook_posts += 1;
                summary.sent += 1;
            }
            Outcome::Retry(until) => {
                resting.insert(name.clone(), until);
                summary.retrying += 1;
            }
            Outcome::Failed => summary.failed += 1,
            Outcome::Taken => {}
        }
    }
    Ok(summary)
}

enum Outcome {
    Sent,
    Retry(DateTime<Utc>),
    Failed,
    /// Another worker claimed it first.
    Taken,
}

async fn deliver_one(
    store: &mut Store,
    settings: &Settings,
    webhooks: &Webhooks,
    endpoint: &Endpoint,
    alert: &AlertRecord,
    now: DateTime<Utc>,
    lease: chrono::Duration,
) -> Result<Outcome, NotifyError> {
    let n = &settings.notify;
    let id = delivery_id(alert.id);
    if store
        .claim_alerts(&[alert.id], &id, now, now + lease)?
        .is_empty()
    {
        return Ok(Outcome::Taken);
    }
    let facts = match serde_json::from_str::<MatchFacts>(&alert.facts_json) {
        Ok(f) => f,
        Err(e) => {
            store.fail_alerts(&[alert.id], &format!("stored match is unreadable: {e}"))?;
            return Ok(Outcome::Failed);
        }
    };
    let role = if alert.role == "legal" {
        Role::Legal
    } else {
        Role::Licensing
    };
    let message = Message {
        alert_id: alert.id,
        role,
        desk_url: desk_url(settings.web.public_url.as_ref(), facts.match_id),
        facts,
        language: settings.outlet.language,
    };
    let attempts = alert.attempts + 1;
    match webhooks.post(endpoint, &message, Utc::now()).await {
        Ok(()) => {
            store.mark_alerts_sent(&[alert.id], Utc::now())?;
            tracing::info!(alert = alert.id, channel = %alert.channel, role = role_label(role), "webhook message sent");
            Ok(Outcome::Sent)
        }
        Err(PostError::Transient {
            reason,
            retry_after,
        }) => {
            let mut pause = backoff(attempts, n.retry_initial, n.retry_max);
            if let Some(asked) = retry_after {
                pause = pause.max(asked.min(n.retry_max));
            }
            let next = Utc::now()
                + chrono::Duration::from_std(pause).unwrap_or(chrono::Duration::hours(1));
            store.retry_alerts_later(&[alert.id], &reason, next)?;
            tracing::warn!(alert = alert.id, channel = %alert.channel, attempts, retry_in = ?pause, error = %reason, "webhook message not sent, will retry");
            Ok(Outcome::Retry(next))
        }
        Err(PostError::Permanent(reason)) => {
            store.fail_alerts(&[alert.id], &reason)?;
            tracing::error!(alert = alert.id, channel = %alert.channel, error = %reason, "webhook message refused permanently");
            Ok(Outcome::Failed)
        }
        Err(PostError::Config(reason)) => {
            store.fail_alerts(&[alert.id], &reason)?;
            tracing::error!(alert = alert.id, channel = %alert.channel, error = %reason, "webhook message not sent: [[notify.webhooks]] must be changed");
            Ok(Outcome::Failed)
        }
    }
}

fn role_label(role: Role) -> &'static str {
    crate::store::role_name(role)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::tests::facts;

    const SECRET: &str = "SECtest-secret-123";

    fn message(language: Language) -> Message {
        Message {
            alert_id: 42,
            role: Role::Legal,
            facts: facts(),
            desk_url: Some("https://desk.example/matches/7".into()),
            language,
        }
    }

    fn body(p: &Prepared) -> serde_json::Value {
        serde_json::from_slice(&p.body).unwrap()
    }

    // Reference values computed with Python's hmac/hashlib/base64, independently of
    // this code, from each platform's documented recipe.
    #[test]
    fn signatures_match_independent_reference_values() {
        assert_eq!(
            dingtalk_sign(1_764_874_800_000, SECRET),
            "PN8TUdYyIRgUJpVvQ4+oZBDeM1IiOYi5BuahHS0PH/c="
        );
        assert_eq!(
            feishu_sign(1_764_874_800, SECRET),
            "uKN1V/8qoXQxh0q3Hnt8rV43oj3d8q9COFU+KYcoiXs="
        );
        assert_eq!(
            generic_signature(br#"{"a":1}"#, SECRET),
            "sha256=50f1df71522e3f9d3dc5f994ed24de70d9d5017f26a5d50b6ccb3a569384d3ed"
        );
    }

    #[test]
    fn dingtalk_signs_the_url_and_feishu_the_body() {
        let now = DateTime::from_timestamp(1_764_874_800, 0).unwrap();
        let p = prepare(
            WebhookKind::Dingtalk,
            &message(Language::ZhCn),
            Some(SECRET),
            now,
        );
        assert_eq!(
            p.query,
            vec![
                ("timestamp", "1764874800000".to_string()),
                (
                    "sign",
                    "PN8TUdYyIRgUJpVvQ4+oZBDeM1IiOYi5BuahHS0PH/c=".to_string()
                )
            ]
        );
        let b = body(&p);
        assert_eq!(b["msgtype"], "markdown");
        assert!(b["markdown"]["title"]
            .as_str()
            .unwrap()
            .contains("发现疑似侵权转载"));
        let p = prepare(
            WebhookKind::Feishu,
            &message(Language::ZhCn),
            Some(SECRET),
            now,
        );
        let b = body(&p);
        assert_eq!(b["timestamp"], "1764874800");
        assert_eq!(b["sign"], "uKN1V/8qoXQxh0q3Hnt8rV43oj3d8q9COFU+KYcoiXs=");
        assert_eq!(b["msg_type"], "post");
        assert!(p.query.is_empty());
    }

    #[test]
    fn crawled_markup_is_neutralised_per_platform() {
        let mut m = message(Language::En);
        m.facts.original.title =
            "[click](https://evil.example) <!channel> **x** <font color=\"red\">&amp;".into();
        m.facts.copy.host = "evil.example\n# heading".into();
        let now = Utc::now();
        let wecom = body(&prepare(WebhookKind::Wecom, &m, None, now));
        let content = wecom["markdown"]["content"].as_str().unwrap();
        assert!(!content.contains("[click]"), "{content}");
        assert!(!content.contains("<font"), "{content}");
        assert!(!content.contains("\n#"), "{content}");
        assert!(
            content.contains("［click］（https://evil.example）"),
            "{content}"
        );
        // Our own link is the only link.
        assert_eq!(content.matches("](").count(), 1, "{content}");
        assert!(content.ends_with("[Open in the review desk](https://desk.example/matches/7)"));
        let slack = body(&prepare(WebhookKind::Slack, &m, None, now));
        let text = slack["text"].as_str().unwrap();
        assert!(text.contains("&lt;!channel&gt;"), "{text}");
        assert!(text.contains("&amp;amp;"), "{text}");
        assert_eq!(text.matches('<').count(), 1, "{text}");
        assert!(text.ends_with("<https://desk.example/matches/7|Open in the review desk>"));
    }

    #[test]
    fn messages_stay_within_platform_limits_and_never_split_characters() {
        let mut m = message(Language::ZhCn);
        m.facts.original.title = "江".repeat(20_000);
        m.facts.copy.host = "城".repeat(20_000);
        m.facts.escalation = Some(crate::evidence::Escalation {
            decided_by: "审".repeat(5000),
            decided_at: "2026-03-01T10:00:00Z".into(),
            note: "注".repeat(50_000),
        });
        let now = Utc::now();
        for kind in WebhookKind::ALL {
            let p = prepare(kind, &m, Some(SECRET), now);
            assert!(
                p.body.len() < FEISHU_MAX_BODY_BYTES,
                "{kind:?}: {}",
                p.body.len()
            );
            let b = body(&p);
            match kind {
                WebhookKind::Wecom => {
                    assert!(b["markdown"]["content"].as_str().unwrap().len() <= WECOM_MAX_BYTES)
                }
                WebhookKind::Dingtalk => {
                    assert!(b["markdown"]["text"].as_str().unwrap().len() <= DINGTALK_MAX_BYTES)
                }
                WebhookKind::Slack => {
                    assert!(b["text"].as_str().unwrap().chars().count() <= SLACK_MAX_CHARS)
                }
                _ => {}
            }
        }
        assert_eq!(truncate_bytes("江城日报", 7), "江…");
        assert_eq!(truncate_bytes("江城日报", 12), "江城日报");
        assert_eq!(truncate_bytes("abc", 2), "…");
    }

    #[test]
    fn the_draft_notice_and_passages_never_travel() {
        let m = message(Language::ZhCn);
        let now = Utc::now();
        for kind in WebhookKind::ALL {
            let text = String::from_utf8(prepare(kind, &m, None, now).body).unwrap();
            assert!(!text.contains("删除通知"), "{kind:?}: {text}");
            for p in &m.facts.passages {
                assert!(!text.contains(&p.copy_text), "{kind:?}: {text}");
            }
        }
    }

    #[test]
    fn desk_links_keep_the_public_path() {
        let u = |s: &str| url::Url::parse(s).unwrap();
        assert_eq!(
            desk_url(Some(&u("https://desk.example/copyhound")), Some(7)).as_deref(),
            Some("https://desk.example/copyhound/matches/7")
        );
        assert_eq!(
            desk_url(Some(&u("https://desk.example/")), Some(7)).as_deref(),
            Some("https://desk.example/matches/7")
        );
        assert_eq!(desk_url(None, Some(7)), None);
        assert_eq!(desk_url(Some(&u("https://desk.example/")), None), None);
    }

    #[test]
    fn reply_codes_are_classified() {
        let ok = |k, b: &str| check_reply(k, b.as_bytes(), "w");
        assert_eq!(
            ok(WebhookKind::Wecom, r#"{"errcode":0,"errmsg":"ok"}"#),
            Ok(())
        );
        assert!(matches!(
            ok(
                WebhookKind::Wecom,
                r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#
            ),
            Err(PostError::Transient { .. })
        ));
        assert!(matches!(
            ok(WebhookKind::Dingtalk, r#"{"errcode":310000,"errmsg":"sign not match"}"#),
            Err(PostError::Permanent(r)) if r.contains("310000") && r.contains("sign not match")
        ));
        assert_eq!(
            ok(
                WebhookKind::Feishu,
                r#"{"code":0,"msg":"success","data":{}}"#
            ),
            Ok(())
        );
        assert_eq!(
            ok(
                WebhookKind::Feishu,
                r#"{"StatusCode":0,"StatusMessage":"success"}"#
            ),
            Ok(())
        );
        assert!(matches!(
            ok(
                WebhookKind::Feishu,
                r#"{"code":19021,"msg":"sign match fail"}"#
            ),
            Err(PostError::Permanent(_))
        ));
        assert!(matches!(
            ok(
                WebhookKind::Feishu,
                r#"{"code":11232,"msg":"frequency limited"}"#
            ),
            Err(PostError::Transient { .. })
        ));
        assert!(matches!(
            ok(WebhookKind::Wecom, "<html>"),
            Err(PostError::Permanent(_))
        ));
        assert_eq!(ok(WebhookKind::Slack, "ok"), Ok(()));
        assert_eq!(ok(WebhookKind::Generic, ""), Ok(()));
    }

    #[test]
    fn redaction_removes_the_url_its_token_and_the_secret() {
        let t = Target {
            url: url::Url::parse("https://qyapi.example/cgi-bin/webhook/send?key=abcdef-123456")
                .unwrap(),
            secret: Some("SECsecretvalue".into()),
        };
        let text = t.redact(
            "error for https://qyapi.example/cgi-bin/webhook/send?key=abcdef-123456: key abcdef-123456, SECsecretvalue",
        );
        assert!(!text.contains("abcdef-123456"), "{text}");
        assert!(!text.contains("SECsecretvalue"), "{text}");
        assert!(format!("{t:?}").contains("redacted"));
    }
}
