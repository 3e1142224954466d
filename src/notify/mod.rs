//! Alerts: deciding who is told about a match, and delivering the outbox.
//!
//! A new match queues one alert per role that wants it ([`alert_roles`]), in the
//! database transaction that records the match (`store::enqueue_alerts_in`). The worker
//! ([`deliver_pass`], [`deliver_until`]) takes due alerts per role, renders them
//! ([`report`]), sends them over SMTP with lettre (or writes `.eml` files when no SMTP
//! server is configured) and records the outcome:
//!
//! - accepted: `sent`, in a transaction right after the server's reply;
//! - a 4xx reply or a connection failure ([`SendError::Transient`]): queued again after
//!   a capped exponential backoff (`[email] retry_initial` doubling up to `retry_max`),
//!   for as long as it takes: an alert owed is an alert sent;
//! - a 5xx reply ([`SendError::Permanent`]): `failed`, with the reply, shown by
//!   `copyhound alerts list` until someone runs `copyhound alerts retry ID`;
//! - a set-up that cannot work with the server ([`SendError::Config`]: a relay without
//!   STARTTLS while `[email] starttls = "required"`): `failed` likewise, with a reason
//!   naming the key to change. Long-running processes also probe the server when their
//!   outbox starts ([`log_mailer_check`]), so the log says it before any alert fails.
//!
//! When more alerts of one role are due than `[email] digest_after` emails allowed per
//! `digest_window`, they go out as one digest email instead of a flood.
//!
//! Chat and webhook channels (`[[notify.webhooks]]`, [`webhook`]) are rows of the same
//! outbox, one per alert and channel, delivered in the same pass after the emails, each
//! with its own claim, attempts and state ([`Outbox`] holds the mailer and the
//! webhooks).
//!
//! This module never logs message bodies or credentials, and never sends the draft
//! takedown notice anywhere but to the outlet's own contacts.

pub mod licence;
pub mod monthly;
pub mod report;
pub mod webhook;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{Contact, EmailSettings, Role, Settings, SmtpSecurity, WebhookSettings};
use crate::evidence::place::Place;
use crate::evidence::MatchFacts;
use crate::store::{AlertRecord, Channel, NewAlert, Store, StoreError};
use report::{EvidenceRef, ReportContext, ReportItem};

/// The environment variable holding the SMTP password when `[email] password_file` is
/// not set.
pub const PASSWORD_ENV: &str = "COPYHOUND_SMTP_PASSWORD";

/// Subfolder of `[storage] dir` where messages are written when no SMTP server is
/// configured.
pub const OUTBOX_DIR: &str = "outbox";

/// Alerts of one role taken in one pass (and so the largest digest).
const MAX_BATCH: usize = report::MAX_DIGEST_ITEMS;

/// A password file larger than this is a wrong path, not a password.
const MAX_PASSWORD_BYTES: u64 = 4096;

/// Why a message was not delivered, split the way SMTP splits replies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Try again later: a 4xx reply, a refused or dropped connection, a timeout.
    #[error("transient: {0}")]
    Transient(String),
    /// Do not try again: a 5xx reply (unknown mailbox, message refused).
    #[error("permanent: {0}")]
    Permanent(String),
    /// Do not try again: `[email]` cannot work with this server (every message would
    /// fail the same way until the config changes), such as `starttls = "required"`
    /// against a relay that offers no STARTTLS. The text says what to set.
    #[error("configuration: {0}")]
    Config(String),
}

/// Why the notifier could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("[email] {0}")]
    Setup(String),
    #[error("{path}: cannot read SMTP password file: {source}")]
    PasswordFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot build message: {0}")]
    Message(String),
}

/// Which roles a new match alerts: licensing staff when the containment reaches
/// `licensing_min_containment`; counsel when it reaches `legal_min_containment` and
/// the copy is not on a licensed partner's site.
///
/// A copy checked against a licence within its validity is the partner's: a compliant
/// one alerts nobody, a noncompliant one licensing staff alone (their request to the
/// partner to fix it). Outside its validity the copy is an ordinary match.
pub fn alert_roles(facts: &MatchFacts, email: &EmailSettings) -> Vec<Role> {
    if let Some(roles) = licence_roles(facts) {
        return roles;
    }
    let mut roles = Vec::new();
    if !facts.licensed && facts.containment >= email.legal_min_containment {
        roles.push(Role::Legal);
    }
    if facts.containment >= email.licensing_min_containment {
        roles.push(Role::Licensing);
    }
    roles
}

/// The roles a copy checked against a licence within its validity alerts (see
/// [`alert_roles`]); `None` when the usual rules apply.
pub fn licence_roles(facts: &MatchFacts) -> Option<Vec<Role>> {
    match facts.licence.as_ref().map(|l| l.verdict.as_str()) {
        Some("compliant") => Some(Vec::new()),
        Some("noncompliant") => Some(vec![Role::Licensing]),
        _ => None,
    }
}

/// The outbox rows for a new match: one per role that wants it and has a contact (a
/// role nobody holds is owed nothing; `check-config` warns about it).
///
/// # Errors
/// [`NotifyError::Message`] when the facts cannot be serialised.
pub fn new_alerts(
    facts: &MatchFacts,
    evidence: Option<&EvidenceRef>,
    email: &EmailSettings,
    contacts: &[Contact],
) -> Result<Vec<NewAlert>, NotifyError> {
    let json = serde_json::to_string(facts).map_err(|e| NotifyError::Message(e.to_string()))?;
    Ok(alert_roles(facts, email)
        .into_iter()
        .filter(|role| contacts.iter().any(|c| c.role == *role))
        .map(|role| NewAlert {
            match_id: facts.match_id,
            role,
            channel: Channel::Email,
            facts_json: json.clone(),
            evidence_file: evidence.map(|e| e.file_name.clone()),
            evidence_sha256: evidence.map(|e| e.sha256.clone()),
        })
        .collect())
}

/// Every outbox row a new match owes: the emails of [`new_alerts`], then one row per
/// webhook and role that wants it ([`webhook::webhook_roles`]).
///
/// # Errors
/// [`NotifyError::Message`] when the facts cannot be serialised.
pub fn new_match_alerts(
    facts: &MatchFacts,
    evidence: Option<&EvidenceRef>,
    email: &EmailSettings,
    contacts: &[Contact],
    webhooks: &[WebhookSettings],
) -> Result<Vec<NewAlert>, NotifyError> {
    let mut alerts = new_alerts(facts, evidence, email, contacts)?;
    if !webhooks.is_empty() {
        let json = serde_json::to_string(facts).map_err(|e| NotifyError::Message(e.to_string()))?;
        alerts.extend(webhook::new_webhook_alerts(
            facts,
            &json,
            (
                evidence.map(|e| e.file_name.clone()),
                evidence.map(|e| e.sha256.clone()),
            ),
            webhooks,
        ));
    }
    Ok(alerts)
}

/// Everything the outbox delivers through: the mailer and the webhooks.
#[derive(Clone)]
pub struct Outbox {
    pub mailer: Mailer,
    pub webhooks: webhook::Webhooks,
}

impl Outbox {
    /// The mailer of `[email]` and the webhooks of `[notify]`, secrets read.
    ///
    /// # Errors
    /// As [`Mailer::from_settings`]; a webhook whose secret cannot be read is not an
    /// error here (its alerts fail with the reason; see [`webhook::Webhooks::problems`]).
    pub fn from_settings(settings: &Settings) -> Result<Outbox, NotifyError> {
        Ok(Outbox {
            mailer: Mailer::from_settings(settings)?,
            webhooks: webhook::Webhooks::from_settings(settings)?,
        })
    }

    /// Where messages go, for people: the mailer, and the webhooks by name (never their
    /// URLs).
    pub fn describe(&self) -> String {
        if self.webhooks.is_empty() {
            self.mailer.describe()
        } else {
            format!(
                "{}; webhooks: {}",
                self.mailer.describe(),
                self.webhooks.describe()
            )
        }
    }
}

/// Where messages go.
#[derive(Clone)]
pub enum Mailer {
    /// An SMTP server.
    Smtp {
        /// Boxed: the transport is large next to the `.eml` variant, and a mailer is
        /// built once per outbox, so the indirection costs nothing that matters.
        transport: Box<AsyncSmtpTransport<Tokio1Executor>>,
        /// `smtp://host:port`, for messages (never with credentials).
        url: String,
        timeout: Duration,
        /// `starttls = "required"`: a server without STARTTLS is then a configuration
        /// failure, not a passing one (see [`classify`]).
        starttls_required: bool,
    },
    /// `.eml` files in a folder (no SMTP server configured).
    Files(PathBuf),
}

impl Mailer {
    /// The mailer `[email]` describes. The password is read here, from `password_file`
    /// or [`PASSWORD_ENV`], and kept only inside the transport.
    ///
    /// # Errors
    /// [`NotifyError::Setup`] for a username without a password or a TLS set-up
    /// failure; [`NotifyError::PasswordFile`] when the file cannot be read.
    pub fn from_settings(settings: &Settings) -> Result<Mailer, NotifyError> {
        let email = &settings.email;
        let Some(smtp) = &email.smtp else {
            return Ok(Mailer::Files(settings.storage.dir.join(OUTBOX_DIR)));
        };
        let tls_params = || {
            TlsParameters::new(smtp.host.clone())
                .map_err(|e| NotifyError::Setup(format!("TLS set-up for {}: {e}", smtp.host)))
        };
        let tls = match smtp.security {
            SmtpSecurity::ImplicitTls => Tls::Wrapper(tls_params()?),
            SmtpSecurity::StartTlsRequired => Tls::Required(tls_params()?),
            SmtpSecurity::StartTlsOpportunistic => Tls::Opportunistic(tls_params()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
            .port(smtp.port)
            .tls(tls)
            .timeout(Some(email.timeout));
        if let Some(user) = &smtp.username {
            let password = match &smtp.password_file {
                Some(path) => read_password(path)?,
                None => std::env::var(PASSWORD_ENV).map_err(|_| {
                    NotifyError::Setup(format!(
                        "username is set but there is no password: set password_file or {PASSWORD_ENV}"
                    ))
                })?,
            };
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        Ok(Mailer::Smtp {
            transport: Box::new(builder.build()),
            url: smtp.display_url(),
            timeout: email.timeout,
            starttls_required: smtp.security == SmtpSecurity::StartTlsRequired,
        })
    }

    /// Where messages go, for people: `smtp://host:port` or the outbox folder.
    pub fn describe(&self) -> String {
        match self {
            Mailer::Smtp { url, .. } => url.clone(),
            Mailer::Files(dir) => format!("{} (no smtp_url: .eml files)", dir.display()),
        }
    }

    /// Sends one message.
    ///
    /// # Errors
    /// [`SendError::Permanent`] for a 5xx reply, [`SendError::Config`] when `[email]`
    /// cannot work with the server, [`SendError::Transient`] for anything that may pass
    /// later (4xx, connection, TLS, timeout, a full disk for files).
    pub async fn send(&self, message: &Message) -> Result<(), SendError> {
        match self {
            Mailer::Smtp {
                transport,
                url,
                timeout,
                starttls_required,
            } => {
                // lettre's own timeout covers each socket operation; this one bounds
                // the whole conversation, so a server that drips replies cannot stall
                // the worker.
                match tokio::time::timeout(*timeout * 2, transport.send(message.clone())).await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(classify(&e, url, *starttls_required)),
                    Err(_) => Err(SendError::Transient(format!("{url}: timed out"))),
                }
            }
            Mailer::Files(dir) => write_eml(dir, message).map_err(SendError::Transient),
        }
    }

    /// Connects to the SMTP server and greets it as a delivery would (EHLO, STARTTLS,
    /// login), sending nothing: the check a long-running process makes when its outbox
    /// starts, so a mail set-up that cannot work is in the log at once rather than at
    /// the first alert. Always succeeds for `.eml` files.
    ///
    /// # Errors
    /// As [`Mailer::send`].
    pub async fn probe(&self) -> Result<(), SendError> {
        let Mailer::Smtp {
            transport,
            url,
            timeout,
            starttls_required,
        } = self
        else {
            return Ok(());
        };
        match tokio::time::timeout(*timeout * 2, transport.test_connection()).await {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err(SendError::Transient(format!(
                "{url}: the connection closed after the greeting"
            ))),
            Ok(Err(e)) => Err(classify(&e, url, *starttls_required)),
            Err(_) => Err(SendError::Transient(format!("{url}: timed out"))),
        }
    }
}

/// [`log_mailer_check`] for the outbox's mailer, after logging every webhook whose URL
/// or secret cannot be read (its alerts would fail).
pub async fn log_outbox_check(outbox: &Outbox, stop: impl std::future::Future<Output = ()>) {
    for problem in outbox.webhooks.problems() {
        tracing::error!(error = %problem, "a webhook cannot work: its alerts will fail until the config is fixed");
    }
    log_mailer_check(&outbox.mailer, stop).await;
}

/// Probes `mailer` ([`Mailer::probe`]) and logs what an operator must know: a
/// configuration that cannot work as an error naming the key to change, a server that
/// cannot be reached now as a warning (alerts wait and are retried). Returns when the
/// probe ends or `stop` completes, whichever is first.
pub async fn log_mailer_check(mailer: &Mailer, stop: impl std::future::Future<Output = ()>) {
    let result = tokio::select! {
        () = stop => return,
        r = mailer.probe() => r,
    };
    match result {
        Ok(()) => {}
        Err(SendError::Config(why)) => tracing::error!(
            error = %why,
            "alert delivery cannot work with this [email] configuration: every alert will fail until it is changed"
        ),
        Err(e) => tracing::warn!(
            error = %e,
            "the mail server cannot be reached now; alerts stay queued and are retried"
        ),
    }
}

fn read_password(path: &Path) -> Result<String, NotifyError> {
    let err = |source| NotifyError::PasswordFile {
        path: path.to_path_buf(),
        source,
    };
    let len = std::fs::metadata(path).map_err(err)?.len();
    if len > MAX_PASSWORD_BYTES {
        return Err(NotifyError::Setup(format!(
            "password_file {} is larger than {MAX_PASSWORD_BYTES} bytes",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path).map_err(err)?;
    // A trailing newline is an editor's, not part of the password.
    Ok(text.trim_end_matches(['\r', '\n']).to_string())
}

/// 5xx replies are permanent; a server without STARTTLS when `starttls = "required"`
/// is a configuration failure; everything else (4xx, connection, TLS, timeouts) may
/// pass.
fn classify(e: &lettre::transport::smtp::Error, url: &str, starttls_required: bool) -> SendError {
    let chain = error_chain(e);
    if e.is_permanent() {
        SendError::Permanent(format!("{url}: {chain}"))
    } else if starttls_required && is_missing_starttls(e, &chain) {
        SendError::Config(missing_starttls(url))
    } else {
        SendError::Transient(format!("{url}: {chain}"))
    }
}

/// Whether lettre refused to go on because the server's EHLO offered no STARTTLS.
/// lettre reports it as a client error with a fixed text and no error kind of its own,
/// so the text is what there is to go by; the test against a real server without
/// STARTTLS (`tests/it/alerts.rs`) notices if a lettre upgrade changes it.
fn is_missing_starttls(e: &lettre::transport::smtp::Error, chain: &str) -> bool {
    e.is_client() && chain.contains("STARTTLS is not supported")
}

/// What to tell an operator whose relay offers no STARTTLS.
fn missing_starttls(url: &str) -> String {
    format!(
        "{url} offers no STARTTLS, and [email] starttls = \"required\" (the default) refuses to send without it: \
         set [email] starttls = \"opportunistic\" only for a relay on loopback or a trusted network (mail then travels unencrypted); \
         otherwise use a relay that offers STARTTLS, or smtps:// (TLS from the start)"
    )
}

pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    // Server replies are multi-line; the reason is stored and listed as one line.
    report::one_line(&text, 2000)
}

/// Writes one message as an `.eml` file in `dir`, never replacing a file already there.
///
/// The message is written and synced under a hidden temporary name first, then linked to
/// its final name (a link, unlike a rename, fails when the name is taken), so a program
/// that picks up the folder's `.eml` files never reads one half written.
fn write_eml(dir: &Path, message: &Message) -> Result<(), String> {
    use std::io::Write;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let stamp = Utc::now().format("%Y%m%dT%H%M%S%.6fZ");
    let tmp = dir.join(format!(".{stamp}-{}.eml.tmp", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(&message.formatted())?;
            f.sync_all()
        });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("{}: {e}", tmp.display()));
    }
    let mut result = Err(format!("{}: no free file name", dir.display()));
    for n in 0..1000 {
        let path = dir.join(format!("{stamp}-{n}.eml"));
        match std::fs::hard_link(&tmp, &path) {
            Ok(()) => {
                result = Ok(());
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                result = Err(format!("{}: {e}", path.display()));
                break;
            }
        }
    }
    let _ = std::fs::remove_file(&tmp);
    result
}

/// Builds the email for `items` (one match, or a digest of several) to `recipients`.
///
/// # Errors
/// [`NotifyError::Message`] when an address or the message cannot be built.
pub fn build_message(
    settings: &Settings,
    role: Role,
    recipients: &[&Contact],
    items: &[ReportItem],
    message_id: &str,
) -> Result<Message, NotifyError> {
    let cx = ReportContext {
        outlet: &settings.outlet,
        contacts: &settings.contacts,
        role,
    };
    let mut rendered = if items.len() == 1 {
        report::render_match(&items[0], &cx)
    } else {
        report::render_digest(items, &cx)
    };
    // Evidence that cannot be reached (a bucket whose credentials are missing) leaves
    // the attachments out with why, like a file too large; the message still goes.
    let place = Place::open(&settings.storage).map_err(|e| e.to_string());
    let json: Vec<&MatchFacts> = items.iter().map(|i| &i.facts).collect();
    let json_name = if items.len() == 1 {
        format!("match-{}.json", id_label(&items[0].facts))
    } else {
        format!("matches-{}.json", items.len())
    };
    let json_bytes = if items.len() == 1 {
        serde_json::to_vec_pretty(json[0])
    } else {
        serde_json::to_vec_pretty(&json)
    }
    .map_err(|e| NotifyError::Message(e.to_string()))?;
    let zh = settings.outlet.language == crate::config::Language::ZhCn;
    let cap = settings.email.max_attachment_bytes;
    let left_out = |name: &str, why: &str| {
        if zh {
            format!("附件 {name} 未随邮件发送：{why}")
        } else {
            format!("Attachment {name} left out: {why}")
        }
    };
    // The cap holds for all attachments of one message together; each file is checked
    // against what is left before it is read, so a digest never reads more than the cap.
    let mut budget = cap;
    let mut parts = Vec::new();
    let mut notes = Vec::new();
    if json_bytes.len() <= budget {
        budget -= json_bytes.len();
        parts.push((json_name, "application/json", json_bytes));
    } else {
        notes.push(left_out(
            &json_name,
            &format!(
                "{} bytes, over the {cap}-byte attachment cap",
                json_bytes.len()
            ),
        ));
    }
    for item in items {
        let Some(e) = &item.evidence else { continue };
        match place
            .clone()
            .and_then(|p| read_evidence(&p, &e.file_name, budget))
        {
            Ok(bytes) => {
                budget -= bytes.len();
                parts.push((e.file_name.clone(), "application/warc", bytes));
            }
            Err(why) => notes.push(left_out(&e.file_name, &why)),
        }
    }
    // Counsel's escalation also carries the screenshot of the copy as a browser showed
    // it, when the evidence holds one: a picture any mail client opens. It comes after
    // the evidence file (which holds it too), so it never pushes the file out.
    for item in items.iter().filter(|i| i.facts.escalation.is_some()) {
        let Some(e) = &item.evidence else { continue };
        let name = format!("match-{}-screenshot.png", id_label(&item.facts));
        match place
            .clone()
            .and_then(|p| read_screenshot(&p, &e.file_name, budget.min(MAX_SCREENSHOT_BYTES)))
        {
            Ok(Some(bytes)) => {
                budget -= bytes.len();
                parts.push((name, "image/png", bytes));
            }
            Ok(None) => {}
            Err(why) => notes.push(left_out(&name, &why)),
        }
    }
    if !notes.is_empty() {
        let block = notes.join("\n");
        rendered.text = format!("{block}\n\n{}", rendered.text);
        let html_notes: String = notes
            .iter()
            .map(|n| format!("<p><b>{}</b></p>\n", report::escape_html(n)))
            .collect();
        // The notes go first in the body, where they cannot be missed.
        if let Some(pos) = rendered
            .html
            .find("<body")
            .and_then(|b| rendered.html[b..].find('>').map(|e| b + e + 1))
        {
            rendered.html.insert_str(pos, &html_notes);
        }
    }
    let from = sender(settings)?;
    let mut builder = Message::builder()
        .from(from)
        .subject(report::subject_text(&rendered.subject))
        .message_id(Some(message_id.to_string()))
        .date_now();
    for c in recipients {
        let address = c
            .email
            .parse()
            .map_err(|e| NotifyError::Message(format!("contact {}: {e}", c.email)))?;
        builder = builder.to(Mailbox::new(Some(report::one_line(&c.name, 100)), address));
    }
    let mut mixed = MultiPart::mixed().multipart(MultiPart::alternative_plain_html(
        rendered.text,
        rendered.html,
    ));
    for (name, content_type, bytes) in parts {
        let ct =
            ContentType::parse(content_type).map_err(|e| NotifyError::Message(e.to_string()))?;
        let part: SinglePart = Attachment::new(name).body(bytes, ct);
        mixed = mixed.singlepart(part);
    }
    builder
        .multipart(mixed)
        .map_err(|e| NotifyError::Message(e.to_string()))
}

/// The message of `copyhound send-test-email`: to every contact, plain text and HTML,
/// in the outlet's language.
///
/// # Errors
/// [`NotifyError::Message`] when an address cannot be used.
pub fn test_message(settings: &Settings) -> Result<Message, NotifyError> {
    let (subject, body) = match settings.outlet.language {
        crate::config::Language::ZhCn => (
            "[copyhound] 测试邮件",
            "这是 copyhound 的测试邮件：邮件设置可以正常使用。发现侵权转载时，提醒会发到这个地址。",
        ),
        crate::config::Language::En => (
            "[copyhound] Test email",
            "This is a test email from copyhound: the mail set-up works. Alerts about copies will reach this address.",
        ),
    };
    let from = sender(settings)?;
    let mut builder = Message::builder().from(from).subject(subject).date_now();
    for c in &settings.contacts {
        let address = c
            .email
            .parse()
            .map_err(|e| NotifyError::Message(format!("contact {}: {e}", c.email)))?;
        builder = builder.to(Mailbox::new(Some(report::one_line(&c.name, 100)), address));
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            body.to_string(),
            format!("<p>{}</p>", report::escape_html(body)),
        ))
        .map_err(|e| NotifyError::Message(e.to_string()))
}

fn id_label(f: &MatchFacts) -> String {
    f.match_id
        .map_or_else(|| format!("o{}", f.original.id), |m| m.to_string())
}

/// Reads an evidence file for attaching if it is at most `cap` bytes; the name must be
/// a bare file name (it comes from the database, but a path in it must never reach
/// outside the evidence folder: [`Place`] refuses it).
fn read_evidence(place: &Place, name: &str, cap: usize) -> Result<Vec<u8>, String> {
    let what = place.location(name);
    let len = place
        .size(name)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{what}: no such file"))?;
    if len > cap as u64 {
        // Report the size without reading the file.
        return Err(format!(
            "{len} bytes would take the message over the attachment cap ([email] max_attachment_bytes); the file is on the server: {what}"
        ));
    }
    place
        .read(name, cap as u64)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{what}: no such file"))
}

/// The screenshot attached to an escalation is left out above this size (and when the
/// message's attachment cap has less room left).
pub const MAX_SCREENSHOT_BYTES: usize = 4 * 1024 * 1024;

/// The viewport screenshot in an evidence file, if it has one of at most `cap` bytes.
/// `Ok(None)`: the file holds no screenshot (no browser was configured, or the
/// rendering failed); `Err`: there is one, but it cannot be attached, and why.
fn read_screenshot(place: &Place, name: &str, cap: usize) -> Result<Option<Vec<u8>>, String> {
    let file = place
        .read(name, crate::evidence::MAX_EVIDENCE_BYTES)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{}: no such file", place.location(name)))?;
    let png = crate::evidence::artefacts_in(&file)
        .into_iter()
        .find_map(|(k, bytes)| (k == crate::evidence::browser::RenderKind::View).then_some(bytes));
    match png {
        Some(bytes) if bytes.len() > cap => Err(format!(
            "{} bytes, over the room left under the attachment cap; the evidence file holds it",
            bytes.len()
        )),
        other => Ok(other),
    }
}

/// What one delivery pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassSummary {
    /// Emails accepted.
    pub emails: usize,
    /// Alerts they carried.
    pub sent: usize,
    /// Alerts queued again after a transient failure.
    pub retrying: usize,
    /// Alerts failed permanently.
    pub failed: usize,
    /// Alerts held back by the digest rate limit.
    pub postponed: usize,
    /// Webhook messages accepted (each carries one alert, also counted in `sent`).
    pub webhook_posts: usize,
}

impl PassSummary {
    fn add(&mut self, other: PassSummary) {
        self.emails += other.emails;
        self.sent += other.sent;
        self.retrying += other.retrying;
        self.failed += other.failed;
        self.postponed += other.postponed;
        self.webhook_posts += other.webhook_posts;
    }
}

/// The pause before attempt `attempts + 1`: `initial` doubled per attempt, capped.
pub fn backoff(attempts: u32, initial: Duration, max: Duration) -> Duration {
    let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(30));
    initial.saturating_mul(factor).min(max)
}

/// One pass over the outbox: every role's due email alerts are sent (individually, or
/// as one digest when the rate limit calls for it), then every due webhook alert is
/// posted, and each outcome recorded.
///
/// # Errors
/// [`NotifyError`] when the database fails; delivery failures are recorded on the
/// alerts, not returned.
pub async fn deliver_pass(
    store: &mut Store,
    settings: &Settings,
    outbox: &Outbox,
    now: DateTime<Utc>,
) -> Result<PassSummary, NotifyError> {
    let mut summary = deliver_emails(store, settings, &outbox.mailer, now).await?;
    summary.add(webhook::deliver_webhooks(store, settings, &outbox.webhooks, now).await?);
    Ok(summary)
}

async fn deliver_emails(
    store: &mut Store,
    settings: &Settings,
    mailer: &Mailer,
    now: DateTime<Utc>,
) -> Result<PassSummary, NotifyError> {
    let email = &settings.email;
    let mut summary = PassSummary::default();
    for role in [Role::Legal, Role::Licensing] {
        let mut due = store.due_alerts(role, now, MAX_BATCH)?;
        // Monthly reports go out on their own, to `[report]`'s recipients.
        for r in due.iter().filter(|a| a.kind == "report") {
            summary.add(monthly::send_report(store, settings, mailer, r, now).await?);
        }
        due.retain(|a| a.kind != "report");
        if due.is_empty() {
            continue;
        }
        let recipients: Vec<&Contact> = settings
            .contacts
            .iter()
            .filter(|c| c.role == role)
            .collect();
        let ids: Vec<i64> = due.iter().map(|a| a.id).collect();
        if recipients.is_empty() {
            store.fail_alerts(&ids, "no contact with this role in [[contacts]]")?;
            summary.failed += ids.len();
            continue;
        }
        let window =
            chrono::Duration::from_std(email.digest_window).unwrap_or(chrono::Duration::MAX);
        let (sent_recently, first_sent) = store.emails_sent_since(role, now - window)?;
        let budget = email.digest_after.saturating_sub(sent_recently) as usize;
        let batches: Vec<Vec<AlertRecord>> = if due.len() <= budget {
            due.into_iter().map(|a| vec![a]).collect()
        } else if budget >= 1 {
            vec![due]
        } else {
            // The window's emails are spent: wait until its oldest email leaves it.
            let until = first_sent
                .map_or(now, |t| t + window)
                .max(now + chrono::Duration::seconds(1));
            store.postpone_alerts(&ids, until)?;
            summary.postponed += ids.len();
            continue;
        };
        for batch in batches {
            summary.add(send_batch(store, settings, mailer, role, &recipients, batch, now).await?);
        }
    }
    Ok(summary)
}

async fn send_batch(
    store: &mut Store,
    settings: &Settings,
    mailer: &Mailer,
    role: Role,
    recipients: &[&Contact],
    batch: Vec<AlertRecord>,
    now: DateTime<Utc>,
) -> Result<PassSummary, NotifyError> {
    let mut summary = PassSummary::default();
    let email = &settings.email;
    let ids: Vec<i64> = batch.iter().map(|a| a.id).collect();
    let message_id = message_id(&ids, settings);
    // The lease outlasts the whole conversation, so a live worker is never overtaken.
    let lease = chrono::Duration::from_std(email.timeout * 4).unwrap_or(chrono::Duration::hours(1));
    let claimed = store.claim_alerts(&ids, &message_id, now, now + lease)?;
    if claimed.is_empty() {
        return Ok(summary);
    }
    let mut items = Vec::new();
    let mut unreadable = Vec::new();
    for a in batch.iter().filter(|a| claimed.contains(&a.id)) {
        match serde_json::from_str::<MatchFacts>(&a.facts_json) {
            Ok(facts) => items.push((
                a,
                ReportItem {
                    facts,
                    evidence: a
                        .evidence_file
                        .clone()
                        .zip(a.evidence_sha256.clone())
                        .map(|(file_name, sha256)| EvidenceRef { file_name, sha256 }),
                },
            )),
            Err(e) => unreadable.push((a.id, e.to_string())),
        }
    }
    for (id, why) in unreadable {
        store.fail_alerts(&[id], &format!("stored match is unreadable: {why}"))?;
        summary.failed += 1;
    }
    if items.is_empty() {
        return Ok(summary);
    }
    let ids: Vec<i64> = items.iter().map(|(a, _)| a.id).collect();
    let attempts = items.iter().map(|(a, _)| a.attempts + 1).max().unwrap_or(1);
    let report_items: Vec<ReportItem> = items.into_iter().map(|(_, i)| i).collect();
    let message = match build_message(settings, role, recipients, &report_items, &message_id) {
        Ok(m) => m,
        Err(e) => {
            store.fail_alerts(&ids, &e.to_string())?;
            summary.failed += ids.len();
            return Ok(summary);
        }
    };
    match mailer.send(&message).await {
        Ok(()) => {
            store.mark_alerts_sent(&ids, Utc::now())?;
            tracing::info!(role = report_role(role), alerts = ids.len(), message_id = %message_id, to = %mailer.describe(), "alert sent");
            summary.emails += 1;
            summary.sent += ids.len();
        }
        Err(SendError::Transient(why)) => {
            let pause = backoff(attempts, email.retry_initial, email.retry_max);
            let next = Utc::now()
                + chrono::Duration::from_std(pause).unwrap_or(chrono::Duration::hours(1));
            store.retry_alerts_later(&ids, &why, next)?;
            tracing::warn!(role = report_role(role), alerts = ids.len(), attempts, retry_in = ?pause, error = %why, "alert not sent, will retry");
            summary.retrying += ids.len();
        }
        Err(SendError::Permanent(why)) => {
            store.fail_alerts(&ids, &why)?;
            tracing::error!(role = report_role(role), alerts = ids.len(), error = %why, "alert refused permanently");
            summary.failed += ids.len();
        }
        // Retrying cannot help until someone changes the config: failed with the reason,
        // listed by `alerts list`, and `alerts retry` once [email] is fixed.
        Err(SendError::Config(why)) => {
            store.fail_alerts(&ids, &why)?;
            tracing::error!(role = report_role(role), alerts = ids.len(), error = %why, "alert not sent: [email] must be changed");
            summary.failed += ids.len();
        }
    }
    Ok(summary)
}

fn report_role(role: Role) -> &'static str {
    match role {
        Role::Legal => "legal",
        Role::Licensing => "licensing",
    }
}

/// A Message-ID fixed by the alerts it carries, so a re-send after a crash in the
/// at-least-once window carries the same id and the duplicate is recognisable.
fn message_id(ids: &[i64], settings: &Settings) -> String {
    let host = url::Url::parse(&settings.outlet.website)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "copyhound.invalid".into());
    let list: Vec<String> = ids.iter().map(i64::to_string).collect();
    format!("<alert-{}@copyhound.{host}>", list.join("."))
}

/// How long `scan` and `crawl --once` keep delivering the alerts they queued before
/// they exit; what is still undelivered then stays queued for the next run.
pub const EXIT_DELIVERY_WAIT: Duration = Duration::from_secs(30);

/// Builds the mailer from `settings` and delivers until nothing is due within `wait`:
/// the one call a command makes before it exits.
///
/// # Errors
/// As [`Mailer::from_settings`] and [`deliver_pass`].
pub async fn deliver_queued(
    store: &mut Store,
    settings: &Settings,
    wait: Duration,
) -> Result<PassSummary, NotifyError> {
    let outbox = Outbox::from_settings(settings)?;
    deliver_until(store, settings, &outbox, tokio::time::Instant::now() + wait).await
}

/// Delivery passes until nothing is due before `deadline`: what `scan`, `crawl --once`
/// and `alerts send` run before they exit. Alerts that cannot be delivered by then stay
/// queued for the next run or the daemon.
///
/// # Errors
/// As [`deliver_pass`].
pub async fn deliver_until(
    store: &mut Store,
    settings: &Settings,
    outbox: &Outbox,
    deadline: tokio::time::Instant,
) -> Result<PassSummary, NotifyError> {
    let mut total = PassSummary::default();
    loop {
        let pass = deliver_pass(store, settings, outbox, Utc::now()).await?;
        total.sent += pass.sent;
        total.emails += pass.emails;
        total.failed += pass.failed;
        total.webhook_posts += pass.webhook_posts;
        let Some(next) = store.next_alert_due()? else {
            total.retrying = 0;
            total.postponed = 0;
            return Ok(total);
        };
        let wait = (next - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        let at = tokio::time::Instant::now() + wait;
        if at >= deadline {
            total.retrying = pass.retrying;
            total.postponed = pass.postponed;
            return Ok(total);
        }
        // Timestamps are stored to the second: wait a little past the due time.
        tokio::time::sleep_until(at + Duration::from_millis(200)).await;
    }
}

/// How often a long-running worker looks for new alerts when none is scheduled (alerts
/// queued by another process, such as a `copyhound scan`, are not announced).
pub const WORKER_POLL: Duration = Duration::from_secs(5);

/// The outbox worker of a long-running process (the daemon): delivers due alerts,
/// sleeps until the next one is due (at most [`WORKER_POLL`]), and returns when
/// `shutdown` completes. A pass in progress finishes first, so an alert the server
/// accepted is always marked sent.
///
/// # Errors
/// [`NotifyError`] when the database fails.
pub async fn run_worker(
    store: &mut Store,
    settings: &Settings,
    outbox: &Outbox,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), NotifyError> {
    run_worker_with(store, settings, outbox, shutdown, None, |_, _| {}).await
}

/// [`run_worker`], reporting each pass's outcome to `on_pass` (the daemon's metrics).
///
/// # Errors
/// [`NotifyError`] when the database fails.
pub async fn run_worker_with(
    store: &mut Store,
    settings: &Settings,
    outbox: &Outbox,
    shutdown: impl std::future::Future<Output = ()>,
    wake: Option<&tokio::sync::Notify>,
    mut on_pass: impl FnMut(&Store, &PassSummary),
) -> Result<(), NotifyError> {
    tokio::pin!(shutdown);
    loop {
        let pass = deliver_pass(store, settings, outbox, Utc::now()).await?;
        on_pass(store, &pass);
        let wait = match store.next_alert_due()? {
            Some(next) => (next - Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(WORKER_POLL),
            None => WORKER_POLL,
        };
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            _ = tokio::time::sleep(wait + Duration::from_millis(200)) => {}
            // Rung by the review desk when it queues an escalation and by the daemon's
            // crawl when it queues alerts: they leave at once rather than at the next
            // poll. (A ring while a pass runs is kept by `Notify` and ends the next
            // wait at once.)
            () = async {
                match wake {
                    Some(bell) => bell.notified().await,
                    None => std::future::pending().await,
                }
            } => {}
        }
    }
}

/// The `From` of every email copyhound sends: `[email] from`.
pub(crate) fn sender(settings: &Settings) -> Result<Mailbox, NotifyError> {
    settings
        .email
        .from
        .parse()
        .map_err(|e| NotifyError::Message(format!("[email] from: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::tests::facts;

    #[tokio::test]
    async fn worker_delivers_to_files_and_stops_on_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::builtin();
        settings.outlet.website = "https://x.example".into();
        settings.storage = crate::config::Storage::in_dir(dir.path().to_path_buf());
        settings.contacts = vec![
            Contact {
                role: Role::Legal,
                name: "L".into(),
                email: "l@x.example".into(),
                phone: None,
            },
            Contact {
                role: Role::Licensing,
                name: "C".into(),
                email: "c@x.example".into(),
                phone: None,
            },
        ];
        let mut store = Store::open_dir(dir.path()).unwrap();
        let alerts = new_alerts(&facts(), None, &settings.email, &settings.contacts).unwrap();
        assert!(new_alerts(&facts(), None, &settings.email, &[])
            .unwrap()
            .is_empty());
        store.enqueue_alerts(&alerts, Utc::now()).unwrap();
        let channels = Outbox::from_settings(&settings).unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let outbox = dir.path().join(OUTBOX_DIR);
        let watcher = {
            let outbox = outbox.clone();
            async move {
                while std::fs::read_dir(&outbox).map_or(0, |d| d.count()) < 2 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                let _ = tx.send(());
            }
        };
        let (result, ()) = tokio::join!(
            run_worker(&mut store, &settings, &channels, async {
                let _ = rx.await;
            }),
            watcher
        );
        result.unwrap();
        assert_eq!(std::fs::read_dir(&outbox).unwrap().count(), 2);
        assert_eq!(store.pending_alert_count().unwrap(), 0);
    }

    #[test]
    fn roles_follow_the_filters() {
        let mut email = EmailSettings::default();
        let mut f = facts();
        assert_eq!(alert_roles(&f, &email), vec![Role::Legal, Role::Licensing]);
        f.licensed = true;
        assert_eq!(alert_roles(&f, &email), vec![Role::Licensing]);
        f.licensed = false;
        email.legal_min_containment = 0.9;
        assert_eq!(alert_roles(&f, &email), vec![Role::Licensing]);
        email.licensing_min_containment = 0.95;
        assert!(alert_roles(&f, &email).is_empty());
    }

    #[test]
    fn a_licence_check_decides_who_hears_of_a_partners_copy() {
        let email = EmailSettings::default();
        let webhook = crate::config::WebhookSettings {
            name: "chat".into(),
            kind: crate::config::WebhookKind::Slack,
            url: crate::config::SecretSource::Env("CHAT_URL".into()),
            secret: None,
            roles: vec![Role::Legal, Role::Licensing],
            legal_min_containment: email.legal_min_containment,
            licensing_min_containment: email.licensing_min_containment,
        };
        let mut f = facts();
        let check = |verdict: &str| crate::evidence::LicenceFacts {
            partner: "晨报".into(),
            licence: "config:晨报".into(),
            verdict: verdict.into(),
            missing: if verdict == "noncompliant" {
                vec!["link".into()]
            } else {
                Vec::new()
            },
        };
        f.licensed = true;
        f.licence = Some(check("compliant"));
        assert!(alert_roles(&f, &email).is_empty());
        assert!(webhook::webhook_roles(&f, &webhook).is_empty());
        f.licence = Some(check("noncompliant"));
        assert_eq!(alert_roles(&f, &email), vec![Role::Licensing]);
        assert_eq!(webhook::webhook_roles(&f, &webhook), vec![Role::Licensing]);
        // Outside the licence's validity the copy is an ordinary match.
        f.licensed = false;
        f.licence = Some(check("expired"));
        assert_eq!(alert_roles(&f, &email), vec![Role::Legal, Role::Licensing]);
        assert_eq!(
            webhook::webhook_roles(&f, &webhook),
            vec![Role::Legal, Role::Licensing]
        );
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let s = Duration::from_secs;
        assert_eq!(backoff(1, s(30), s(3600)), s(30));
        assert_eq!(backoff(2, s(30), s(3600)), s(60));
        assert_eq!(backoff(4, s(30), s(3600)), s(240));
        assert_eq!(backoff(20, s(30), s(3600)), s(3600));
        assert_eq!(backoff(u32::MAX, s(30), s(3600)), s(3600));
    }
}

#[cfg(test)]
mod message_tests {
    use super::*;
    use crate::evidence::tests::facts;

    fn settings(dir: &Path) -> Settings {
        let mut s = Settings::builtin();
        s.outlet.name = "江城日报社".into();
        s.outlet.website = "https://www.jiangcheng-daily.example".into();
        s.storage = crate::config::Storage::in_dir(dir.to_path_buf());
        s.contacts = vec![Contact {
            role: Role::Legal,
            name: "王律师\r\nBcc: x@evil.example".into(),
            email: "legal@jiangcheng-daily.example".into(),
            phone: None,
        }];
        s
    }

    #[test]
    fn subject_is_rfc2047_and_headers_cannot_be_injected() {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(dir.path());
        let mut f = facts();
        f.original.title = "江城\r\nBcc: evil@example.com\r\n\r\n<b>x</b>".into();
        let item = ReportItem {
            facts: f,
            evidence: None,
        };
        let recipients: Vec<&Contact> = s.contacts.iter().collect();
        let m = build_message(&s, Role::Legal, &recipients, &[item], "<a-1@copyhound.x>").unwrap();
        let raw = m.formatted();
        let text = String::from_utf8_lossy(&raw);
        let head = &text[..text.find("\r\n\r\n").unwrap()];
        assert!(head.is_ascii(), "{head}");
        assert!(
            !head
                .lines()
                .any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
            "{head}"
        );
        let subject = head
            .split("\r\n")
            .skip_while(|l| !l.starts_with("Subject:"))
            .take_while(|l| l.starts_with("Subject:") || l.starts_with(' '))
            .collect::<Vec<_>>()
            .join("\r\n");
        assert!(subject.contains("=?utf-8?b?"), "{subject}");
        let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
        assert_eq!(
            parsed.subject().unwrap(),
            "[copyhound] 发现疑似侵权转载: 江城 Bcc: evil@example.com <b>x</b> — copier.example (87%)"
        );
        assert!(parsed.bcc().is_none());
        assert_eq!(parsed.message_id(), Some("a-1@copyhound.x"));
        // The evidence-less alert still carries the match JSON.
        assert_eq!(
            mail_parser::MimeHeaders::attachment_name(parsed.attachments().next().unwrap()),
            Some("match-7.json")
        );
    }

    #[test]
    fn evidence_names_cannot_escape_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret"), "x").unwrap();
        let evidence = Place::Dir(dir.path().join("evidence"));
        assert!(read_evidence(&evidence, "../secret", 100).is_err());
        assert!(read_evidence(&evidence, "..", 100).is_err());
        assert!(read_evidence(&evidence, "", 100).is_err());
    }
}
