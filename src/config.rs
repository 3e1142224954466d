//! Configuration: reading `copyhound.toml`, validating it once, and handing out a
//! ready-to-use [`Settings`].
//!
//! The file is parsed in two steps, as ripgrep does with its flags: first into a raw TOML
//! table, then walked section by section into typed settings. Walking the table by hand
//! (instead of one `serde` derive) lets us report *every* problem in one run, each with
//! the key it concerns, and treat unknown keys as errors: a typo such as `copy_treshold`
//! must never be silently ignored.
//!
//! This module owns the meaning of every key. It never touches the network, and it reads
//! only the config file itself (paths inside it are resolved, not opened).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::crawl::urls::DomainSet;

use crate::detect::DetectParams;

/// The path used when neither `--config` nor `COPYHOUND_CONFIG` is given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/copyhound/copyhound.toml";

/// The state directory used when `[storage] dir` is not set.
pub const DEFAULT_STORAGE_DIR: &str = "/var/lib/copyhound";

/// A config file larger than this is refused: real configs are a few kilobytes, and a
/// multi-megabyte file is a mistake (a wrong path) rather than a config.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Everything the program needs from the config file, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The outlet whose articles we protect; reports and notices name it.
    pub outlet: Outlet,
    /// Who receives alerts: legal counsel and licensing staff.
    pub contacts: Vec<Contact>,
    /// Where state, evidence and the outbox live.
    pub storage: Storage,
    /// Verdict thresholds of the detection engine.
    pub detect: DetectParams,
    /// Where the outlet's own articles come from.
    pub originals: OriginalsSettings,
    /// The Hamming index over segment fingerprints.
    pub index: IndexSettings,
    /// What the crawler fetches, how politely, and within which limits (`[crawl]`).
    pub crawl: CrawlSettings,
    /// Where candidate pages are discovered besides the crawl (`[discovery]`).
    pub discovery: DiscoverySettings,
    /// How alerts reach the contacts (`[email]`).
    pub email: EmailSettings,
    /// Chat and webhook channels alerts are also posted to (`[notify]`,
    /// `[[notify.webhooks]]`).
    pub notify: NotifySettings,
    /// How `copyhound run` behaves as a service (`[daemon]`).
    pub daemon: DaemonSettings,
    /// The health, metrics (and later review) HTTP endpoint (`[web]`).
    pub web: WebSettings,
    /// Re-checks of open cases and the notice deadline (`[cases]`).
    pub cases: CasesSettings,
    /// The monthly report the daemon emails (`[report]`).
    pub report: ReportSettings,
    /// How evidence is made trustworthy beyond its digests (`[evidence]`): trusted
    /// timestamps.
    pub evidence: EvidenceSettings,
    /// Licensed partners and the terms their copies are checked against
    /// (`[[licences]]`), in file order.
    pub licences: Vec<crate::licences::Licence>,
    /// Lower-case hex SHA-256 of the config file's bytes (empty for built-in settings):
    /// evidence files record which configuration made a capture.
    pub config_sha256: String,
}

/// Cases (`[cases]`): when an open case's copy is fetched again, and how long after a
/// takedown notice a copy still online earns counsel a reminder.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CasesSettings {
    /// `recheck` (offsets from the case's opening) and `recheck_then` (the interval
    /// after the last offset).
    pub schedule: crate::cases::Schedule,
    /// `deadline`: from the notice's date (default 7 days).
    pub deadline: CaseDeadline,
}

/// The notice deadline, a newtype so that its default (7 days) lives with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseDeadline(pub Duration);

impl Default for CaseDeadline {
    fn default() -> Self {
        CaseDeadline(Duration::from_secs(7 * 24 * 3600))
    }
}

/// The monthly report (`[report]`): who receives it and whether the daemon sends it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReportSettings {
    /// Addresses the daemon emails the report to; empty: the licensing contacts.
    pub to: Vec<String>,
    /// Whether the daemon emails it; `None` (unset): when there is anyone to send to.
    pub enabled: Option<bool>,
    /// A Chromium (or Chrome) binary: with one, the report also goes out as PDF
    /// (`chromium --headless --print-to-pdf`). Unset: HTML only.
    pub chromium: Option<PathBuf>,
}

impl ReportSettings {
    /// The report's recipients: `[report] to`, else the licensing contacts' addresses.
    pub fn recipients(&self, contacts: &[Contact]) -> Vec<String> {
        if !self.to.is_empty() {
            return self.to.clone();
        }
        contacts
            .iter()
            .filter(|c| c.role == Role::Licensing)
            .map(|c| c.email.clone())
            .collect()
    }

    /// Whether the daemon emails the report: as `enabled` says, by default when it has
    /// recipients.
    pub fn sends(&self, contacts: &[Contact]) -> bool {
        self.enabled
            .unwrap_or_else(|| !self.recipients(contacts).is_empty())
    }
}

/// Evidence (`[evidence]`): the RFC 3161 time-stamp authorities that date every
/// evidence file (no `tsa_urls`: no timestamps), and the browser that renders each new
/// match's page into screenshots and a PDF print in its evidence file (no `browser`:
/// evidence is the HTTP exchange alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceSettings {
    /// `browser`: the Chromium binary; `None`: no rendering, evidence as the HTTP
    /// exchange alone.
    pub browser: Option<PathBuf>,
    /// `browser_timeout`: the whole rendering of one page, browser start to PDF.
    pub browser_timeout: Duration,
    /// `browser_memory_mb`: the data-segment limit of every browser process.
    pub browser_memory_mb: u64,
    /// `tsa_urls`: the TSAs, tried in order for each request.
    pub tsa_urls: Vec<url::Url>,
    /// `tsa_ca_file`: PEM trust anchors a token's signing certificate must chain to
    /// (required with `tsa_urls`: a token nobody checks proves nothing).
    pub tsa_ca_file: Option<PathBuf>,
    /// `tsa_timeout`: one HTTP exchange with one TSA (default 30s).
    pub tsa_timeout: Duration,
    /// `tsa_retry`: the wait after a file's first failed round of requests; it doubles
    /// after each further failure (default 1m).
    pub tsa_retry: Duration,
    /// `tsa_retry_max`: the longest wait between two rounds (default 1h). A file is
    /// retried at this pace until it has its token: evidence is never given up on.
    pub tsa_retry_max: Duration,
}

impl Default for EvidenceSettings {
    fn default() -> Self {
        EvidenceSettings {
            browser: None,
            browser_timeout: Duration::from_secs(60),
            browser_memory_mb: 2048,
            tsa_urls: Vec::new(),
            tsa_ca_file: None,
            tsa_timeout: Duration::from_secs(30),
            tsa_retry: Duration::from_secs(60),
            tsa_retry_max: Duration::from_secs(3600),
        }
    }
}

impl EvidenceSettings {
    /// Whether evidence files are timestamped.
    pub fn timestamps_enabled(&self) -> bool {
        !self.tsa_urls.is_empty()
    }

    /// The timestamp client: the TSAs with their trust anchors read from `tsa_ca_file`.
    ///
    /// # Errors
    /// [`crate::evidence::timestamp::TimestampError::NotConfigured`] without TSAs, or
    /// the trust anchor file's error.
    pub fn tsa(
        &self,
    ) -> Result<crate::evidence::timestamp::TsaClient, crate::evidence::timestamp::TimestampError>
    {
        use crate::evidence::timestamp::{TimestampError, TrustAnchors, TsaClient};
        let ca = match (&self.tsa_urls.is_empty(), &self.tsa_ca_file) {
            (false, Some(ca)) => ca,
            _ => return Err(TimestampError::NotConfigured),
        };
        Ok(TsaClient {
            urls: self.tsa_urls.clone(),
            anchors: TrustAnchors::load(ca)?,
            timeout: self.tsa_timeout,
        })
    }
}

/// The service's own behaviour (`[daemon]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonSettings {
    /// After SIGTERM/SIGINT, tasks get this long to stop at a safe point before the
    /// daemon gives up on them and exits; systemd's `TimeoutStopSec` must be longer.
    pub shutdown_timeout: Duration,
}

impl Default for DaemonSettings {
    fn default() -> Self {
        DaemonSettings {
            shutdown_timeout: Duration::from_secs(20),
        }
    }
}

/// The daemon's HTTP endpoint (`[web]`): `/healthz`, `/metrics` and the review desk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSettings {
    /// Address the endpoint listens on. Loopback by default: exposing the desk is a
    /// deliberate choice (behind a TLS proxy).
    pub listen: std::net::SocketAddr,
    /// Who may log in to the review desk (`[[web.users]]`). With none, the desk answers
    /// every page with a note saying how to add one.
    pub users: Vec<WebUser>,
    /// How long a login lasts.
    pub session_ttl: Duration,
    /// Set when users reach the desk over HTTPS (a TLS proxy in front): session cookies
    /// then carry `Secure`. A proxy's `X-Forwarded-Proto: https` has the same effect.
    pub behind_tls: bool,
    /// Where people reach the desk (`https://copyhound.example.com/`): chat and webhook
    /// messages link to a match's page under it. Without it they carry no link.
    pub public_url: Option<url::Url>,
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 8600)),
            users: Vec::new(),
            session_ttl: Duration::from_secs(12 * 3600),
            behind_tls: false,
            public_url: None,
        }
    }
}

/// A review desk login (`[[web.users]]`).
#[derive(Clone, PartialEq, Eq)]
pub struct WebUser {
    pub name: String,
    /// Argon2id PHC string, as printed by `copyhound hash-password`.
    pub password_hash: String,
}

impl std::fmt::Debug for WebUser {
    // The hash is not a secret in the usual sense, but it has no business in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebUser")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// How alert emails are delivered (`[email]`).
#[derive(Debug, Clone, PartialEq)]
pub struct EmailSettings {
    /// The SMTP server; `None` writes each message as an `.eml` file under
    /// `[storage] dir`/outbox instead (the embedded default, for a first run or a
    /// machine without a mail relay).
    pub smtp: Option<SmtpSettings>,
    /// The `From:` mailbox, e.g. `copyhound <copyhound@example.com>`.
    pub from: String,
    /// Legal counsel is alerted only for matches with at least this containment.
    pub legal_min_containment: f64,
    /// Licensing staff are alerted only for matches with at least this containment.
    pub licensing_min_containment: f64,
    /// At most this many emails per role within `digest_window`; alerts beyond that are
    /// gathered into one digest email instead of a flood.
    pub digest_after: u32,
    /// The window `digest_after` counts in.
    pub digest_window: Duration,
    /// Attachments larger than this (each, and all of one message together) are left out
    /// with a note in the message.
    pub max_attachment_bytes: usize,
    /// The first pause after a transient failure (4xx, connection failure); it doubles
    /// with each attempt up to `retry_max`.
    pub retry_initial: Duration,
    /// The longest pause between two attempts.
    pub retry_max: Duration,
    /// One SMTP conversation, connect to the final reply.
    pub timeout: Duration,
}

impl Default for EmailSettings {
    fn default() -> Self {
        EmailSettings {
            smtp: None,
            from: "copyhound <copyhound@localhost>".into(),
            legal_min_containment: 0.0,
            licensing_min_containment: 0.0,
            digest_after: 5,
            digest_window: Duration::from_secs(600),
            max_attachment_bytes: 10 * 1024 * 1024,
            retry_initial: Duration::from_secs(30),
            retry_max: Duration::from_secs(3600),
            timeout: Duration::from_secs(60),
        }
    }
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// `smtps://`: TLS from the first byte (port 465 by default).
    ImplicitTls,
    /// `smtp://` with `starttls = "required"` (the default): no mail is sent unless the
    /// server upgrades the connection with STARTTLS.
    StartTlsRequired,
    /// `smtp://` with `starttls = "opportunistic"`: STARTTLS when offered, plain text
    /// otherwise. Meant for a relay on loopback (and the tests); never over a network.
    StartTlsOpportunistic,
}

/// The SMTP server of `[email] smtp_url`.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    /// Login name; the password comes from `password_file` or the
    /// `COPYHOUND_SMTP_PASSWORD` environment variable, read when mail is sent, so it is
    /// never part of the settings (nor of any log line that prints them).
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password_file", &self.password_file)
            .finish()
    }
}

impl SmtpSettings {
    /// `smtp://host:port` or `smtps://host:port`, for messages and logs.
    pub fn display_url(&self) -> String {
        let scheme = match self.security {
            SmtpSecurity::ImplicitTls => "smtps",
            _ => "smtp",
        };
        format!("{scheme}://{}:{}", self.host, self.port)
    }
}

/// Chat and webhook notifications (`[notify]`).
#[derive(Debug, Clone, PartialEq)]
pub struct NotifySettings {
    /// The channels (`[[notify.webhooks]]`), in file order.
    pub webhooks: Vec<WebhookSettings>,
    /// One HTTP request to a webhook, connect to the end of the reply.
    pub timeout: Duration,
    /// The first pause after a transient failure (5xx, 429, timeout, a platform's
    /// rate-limit code); it doubles with each attempt up to `retry_max`.
    pub retry_initial: Duration,
    /// The longest pause between two attempts (a `Retry-After` is honoured up to it).
    pub retry_max: Duration,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            webhooks: Vec::new(),
            timeout: Duration::from_secs(10),
            retry_initial: Duration::from_secs(30),
            retry_max: Duration::from_secs(3600),
        }
    }
}

/// The chat platforms (and the generic JSON POST) a webhook can speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookKind {
    /// WeCom (企业微信) group robot: markdown message, `errcode` in the reply.
    Wecom,
    /// DingTalk (钉钉) custom robot: markdown message, HMAC-SHA256 signed URL.
    Dingtalk,
    /// Feishu/Lark (飞书) custom bot: rich-text message, signed body.
    Feishu,
    /// Slack incoming webhook: mrkdwn text.
    Slack,
    /// A JSON POST of copyhound's own documented body, optionally signed.
    Generic,
}

impl WebhookKind {
    /// Every kind, in the order the docs list them.
    pub const ALL: [WebhookKind; 5] = [
        WebhookKind::Wecom,
        WebhookKind::Dingtalk,
        WebhookKind::Feishu,
        WebhookKind::Slack,
        WebhookKind::Generic,
    ];

    /// The name used in the config file.
    pub fn name(self) -> &'static str {
        match self {
            WebhookKind::Wecom => "wecom",
            WebhookKind::Dingtalk => "dingtalk",
            WebhookKind::Feishu => "feishu",
            WebhookKind::Slack => "slack",
            WebhookKind::Generic => "generic",
        }
    }

    fn parse(text: &str) -> Option<WebhookKind> {
        Some(match text {
            "wecom" => WebhookKind::Wecom,
            "dingtalk" => WebhookKind::Dingtalk,
            "feishu" => WebhookKind::Feishu,
            "slack" => WebhookKind::Slack,
            "generic" => WebhookKind::Generic,
            _ => return None,
        })
    }
}

/// Where a secret comes from. Only the source is part of the settings; the value is
/// read when the outbox starts (`notify::webhook`), so it never appears in `Settings`,
/// its `Debug` output or a log line that prints them.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// Written in the config file itself (only the webhook URL may be).
    Inline(String),
    /// The first line of a file (a trailing newline is ignored).
    File(PathBuf),
    /// An environment variable.
    Env(String),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Inline(_) => f.write_str("Inline(<redacted>)"),
            SecretSource::File(p) => f.debug_tuple("File").field(p).finish(),
            SecretSource::Env(v) => f.debug_tuple("Env").field(v).finish(),
        }
    }
}

/// One chat or webhook channel (`[[notify.webhooks]]`).
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookSettings {
    /// The channel's name: alerts queued for it are stored under `webhook:NAME`, so a
    /// reordered config still delivers them to the right place. Defaults to the kind.
    pub name: String,
    pub kind: WebhookKind,
    /// `url`, `url_file` or `url_env`: the URL carries the platform's token, so it is
    /// treated as a secret.
    pub url: SecretSource,
    /// `secret_file` or `secret_env`: the signing secret (required for DingTalk and
    /// Feishu, optional for generic, unused by WeCom and Slack).
    pub secret: Option<SecretSource>,
    /// The roles whose alerts it carries.
    pub roles: Vec<Role>,
    /// The per-role filters, as in `[email]` (and by default the same values).
    pub legal_min_containment: f64,
    pub licensing_min_containment: f64,
}

impl WebhookSettings {
    /// The key prefix of entry `index`, for messages: `notify.webhooks[0]`.
    pub fn key(index: usize) -> String {
        format!("notify.webhooks[{index}]")
    }
}

/// Sources of the outlet's original articles (`[originals]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalsSettings {
    /// RSS 2.0 / Atom / JSON Feed URLs, followed to each article page.
    pub feeds: Vec<url::Url>,
    /// Sitemap URLs (sitemap indexes and Google News sitemaps included).
    pub sitemaps: Vec<url::Url>,
    /// Local directories of `.html`/`.htm`/`.txt` files, read recursively.
    pub paths: Vec<PathBuf>,
    /// How often the daemon re-reads feeds and sitemaps.
    pub refresh: Duration,
    /// A sentence found in at least this many originals is boilerplate (the
    /// anti-infringement notice, bylines) and carries no weight in matching.
    pub boilerplate_min_originals: u32,
    /// The outlet's corrections of its own extraction, per host (`[[originals.hosts]]`).
    pub hosts: Vec<HostOverride>,
}

/// One `[[originals.hosts]]` entry: how to find the article on one of the outlet's hosts.
#[derive(Debug, Clone)]
pub struct HostOverride {
    /// Lower-case host name (`www.jiangcheng-daily.example`).
    pub host: String,
    /// The CSS selector of the article body and the selectors of elements to drop.
    pub rules: crate::extract::HostRules,
    /// The selectors as written, for messages.
    pub body_source: Option<String>,
    pub drop_source: Vec<String>,
}

impl PartialEq for HostOverride {
    fn eq(&self, other: &Self) -> bool {
        self.host == other.host
            && self.body_source == other.body_source
            && self.drop_source == other.drop_source
    }
}

impl Eq for HostOverride {}

impl OriginalsSettings {
    /// The outlet's rules for `host`, if it has any.
    pub fn rules_for(&self, host: &str) -> Option<&crate::extract::HostRules> {
        self.hosts
            .iter()
            .find(|h| h.host.eq_ignore_ascii_case(host))
            .map(|h| &h.rules)
    }
}

impl Default for OriginalsSettings {
    fn default() -> Self {
        OriginalsSettings {
            feeds: Vec::new(),
            sitemaps: Vec::new(),
            paths: Vec::new(),
            refresh: Duration::from_secs(30 * 60),
            boilerplate_min_originals: 3,
            hosts: Vec::new(),
        }
    }
}

/// The Hamming index (`[index]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSettings {
    /// Segment fingerprints within this many differing bits are candidates (0..=6).
    pub max_distance: u32,
    /// `mapped`: whether `copyhound worker` shares one index file per machine (built
    /// once per change of the originals, memory-mapped by every worker) instead of
    /// loading an index of its own from the store.
    pub mapped: bool,
    /// `dir`: where that file lives; `None` means `index` under `[storage] dir`. Must be
    /// a local disk: workers lock it with `flock`.
    pub dir: Option<PathBuf>,
}

impl Default for IndexSettings {
    fn default() -> Self {
        IndexSettings {
            max_distance: 3,
            mapped: true,
            dir: None,
        }
    }
}

impl IndexSettings {
    /// The mapped index file's folder (see [`IndexSettings::dir`]).
    pub fn mapped_dir(&self, storage: &Storage) -> PathBuf {
        self.dir
            .clone()
            .unwrap_or_else(|| storage.dir.join("index"))
    }
}

/// The crawler (`[crawl]`): where it starts, what it may follow, and the limits that keep
/// it polite to the sites it visits and safe from the ones that misbehave.
#[derive(Debug, Clone, PartialEq)]
pub struct CrawlSettings {
    /// Pages the crawl starts from (depth 0).
    pub seeds: Vec<url::Url>,
    /// Sitemaps whose URLs are queued at depth 0.
    pub sitemaps: Vec<url::Url>,
    /// RSS/Atom/JSON feeds whose items are queued at depth 0.
    pub feeds: Vec<url::Url>,
    /// Domains whose pages may be fetched; each covers its subdomains. The domains of
    /// the seeds, sitemaps and feeds are always included (a leading `www.` dropped), so
    /// a crawl never wanders off to the whole web by following links.
    pub scope: DomainSet,
    /// Domains of licensed partners: copies found there are licensed, not infringing.
    /// The crawler fetches them like any other site; the pipeline uses the list to
    /// classify matches.
    pub licensed: DomainSet,
    /// Links are followed this many hops from a seed; deeper links are dropped, which
    /// ends calendar traps and infinite pagination.
    pub max_depth: u32,
    /// The least time between two requests to one host. A robots.txt `Crawl-delay`
    /// longer than this wins.
    pub per_host_delay: Duration,
    /// Requests in flight at once over all hosts.
    pub concurrency: usize,
    /// Requests in flight at once to one host (1: one connection per host).
    pub connections_per_host: usize,
    /// Pages fetched from one host in one crawl cycle; the rest wait for the next cycle.
    pub max_pages_per_host: u32,
    /// Sent with every request. It carries a contact URL so a webmaster can find out who
    /// crawls them; the robots.txt product token is its first word before `/`.
    pub user_agent: String,
    /// Lets the crawler connect to loopback, private and other non-public addresses.
    /// Off by default: a crawled page must never make us reach into our own network.
    pub allow_private_networks: bool,
    /// A body larger than this, compressed or decompressed, is refused.
    pub max_body_bytes: usize,
    /// Redirects followed for one fetch before it fails.
    pub max_redirects: usize,
    /// Whole request, from connect to the last body byte.
    pub timeout: Duration,
    /// TCP and TLS connection set-up.
    pub connect_timeout: Duration,
    /// Longest silence while reading a response: a stalled server fails after this.
    pub read_timeout: Duration,
    /// How long a fetched robots.txt is trusted before it is fetched again.
    pub robots_ttl: Duration,
    /// The longest pause given to a host that keeps failing (the backoff doubles up to
    /// this).
    pub max_backoff: Duration,
    /// Query parameters dropped by URL normalisation: exact names, or prefixes ending in
    /// `*` (`utm_*`). They only track who shared a link; keeping them would make one
    /// article look like many.
    pub tracking_params: Vec<String>,
    /// Longer URLs are dropped: traps and session-id soup, not articles.
    pub max_url_length: usize,
    /// The daemon's pause between the end of one crawl cycle and the start of the next.
    pub cycle_interval: Duration,
}

/// Tracking parameters dropped when `[crawl] tracking_params` is not set.
pub const DEFAULT_TRACKING_PARAMS: &[&str] = &[
    "utm_*",
    "fbclid",
    "gclid",
    "dclid",
    "gbraid",
    "wbraid",
    "msclkid",
    "yclid",
    "mc_cid",
    "mc_eid",
    "_ga",
    "_gl",
    "igshid",
    "spm",
    "from",
    "isappinstalled",
    "scene",
    "share_token",
    "ref_src",
    "vd_source",
];

impl Default for CrawlSettings {
    /// The defaults of every key. The user agent carries no contact URL here because the
    /// outlet's website is unknown; [`crate::crawl::fetch::PageFetcher::new`] refuses it,
    /// so a crawler is never built from these defaults alone.
    fn default() -> Self {
        CrawlSettings {
            seeds: Vec::new(),
            sitemaps: Vec::new(),
            feeds: Vec::new(),
            scope: DomainSet::default(),
            licensed: DomainSet::default(),
            max_depth: 3,
            per_host_delay: Duration::from_secs(2),
            concurrency: 8,
            connections_per_host: 1,
            max_pages_per_host: 1000,
            user_agent: default_user_agent(None),
            allow_private_networks: false,
            max_body_bytes: 5 * 1024 * 1024,
            max_redirects: 5,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(15),
            robots_ttl: Duration::from_secs(24 * 3600),
            max_backoff: Duration::from_secs(3600),
            tracking_params: DEFAULT_TRACKING_PARAMS
                .iter()
                .map(|p| p.to_string())
                .collect(),
            max_url_length: 2048,
            cycle_interval: Duration::from_secs(600),
        }
    }
}

/// `copyhound/<version> (+<website>)`, or without the parenthesis when the website is
/// unknown.
pub fn default_user_agent(website: Option<&str>) -> String {
    let version = env!("CARGO_PKG_VERSION");
    match website {
        Some(w) if !w.is_empty() => format!("copyhound/{version} (+{w})"),
        _ => format!("copyhound/{version}"),
    }
}

/// Whether a user agent carries a contact URL (`http://` or `https://` followed by a
/// host), as webmasters expect from a crawler.
pub fn user_agent_has_contact(user_agent: &str) -> bool {
    ["http://", "https://"].iter().any(|scheme| {
        user_agent.find(scheme).is_some_and(|i| {
            user_agent[i + scheme.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_alphanumeric())
        })
    })
}

/// Discovery of candidate pages through a search engine (`[discovery]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoverySettings {
    /// A SearXNG instance queried for distinctive sentences of our articles; `None`
    /// turns search discovery off.
    pub searxng_url: Option<url::Url>,
    /// The least time between two queries, so the instance is not hammered.
    pub interval: Duration,
}

impl Default for DiscoverySettings {
    fn default() -> Self {
        DiscoverySettings {
            searxng_url: None,
            interval: Duration::from_secs(10),
        }
    }
}

/// The outlet's identity, as it appears in reports and draft takedown notices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outlet {
    pub name: String,
    /// The outlet's own site (`http://` or `https://`).
    pub website: String,
    /// Postal address; a takedown notice must carry the right holder's address.
    pub address: String,
    /// Language of reports and of the review desk.
    pub language: Language,
}

/// The languages reports are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// Simplified Chinese, `zh-CN` in the config (the default).
    ZhCn,
    /// English, `en` in the config.
    En,
}

impl Language {
    /// The tag used in the config file.
    pub fn tag(self) -> &'static str {
        match self {
            Language::ZhCn => "zh-CN",
            Language::En => "en",
        }
    }
}

/// What a contact does with our reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Legal counsel: acts on infringements (takedown notices, claims).
    Legal,
    /// Licensing staff: decide whether a copy is licensed, infringing or a mistake.
    Licensing,
}

/// One person who receives alerts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub role: Role,
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
}

/// Where copyhound keeps its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Storage {
    /// State directory; relative paths in the file are resolved against the file's folder.
    pub dir: PathBuf,
    /// `database_url` and `database_password_file`: the PostgreSQL database that holds
    /// every table instead of the SQLite file in `dir` (`None`: SQLite, the default).
    pub database: Option<DatabaseSettings>,
    /// Where evidence files live: `evidence_dir` (default `<dir>/evidence`) or the
    /// bucket of `evidence_url`.
    pub evidence: EvidenceLocation,
}

impl Storage {
    /// `dir` with the evidence in its `evidence` folder and SQLite: the defaults.
    pub fn in_dir(dir: PathBuf) -> Storage {
        Storage {
            evidence: EvidenceLocation::Dir(dir.join(crate::evidence::EVIDENCE_DIR)),
            dir,
            database: None,
        }
    }
}

/// Where evidence files are written and read (`evidence::place::Place` opens it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvidenceLocation {
    /// `[storage] evidence_dir`: a folder, possibly a mount shared by several machines.
    Dir(PathBuf),
    /// `[storage] evidence_url = "s3://bucket/prefix"` with its endpoint and region.
    Bucket(BucketSettings),
}

/// An S3-compatible bucket for evidence. Holds no secret: the access keys are read from
/// `credentials_file` or the AWS environment variables when the bucket is opened.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BucketSettings {
    /// `s3://bucket/prefix` as written.
    pub url: String,
    pub bucket: String,
    /// The key prefix without slashes at either end (empty: the bucket's root).
    pub prefix: String,
    /// `evidence_endpoint`: the server's base URL (`None`: AWS S3 of `region`).
    pub endpoint: Option<String>,
    /// `evidence_region` (default `us-east-1`).
    pub region: String,
    /// `evidence_credentials_file`.
    pub credentials_file: Option<PathBuf>,
}

/// `[storage] database_url` with where its password comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseSettings {
    /// `postgres://user@host:port/db[?sslmode=require]`, never with a password.
    pub url: String,
    /// The password's file; without it, `COPYHOUND_DATABASE_PASSWORD` (or none).
    pub password_file: Option<PathBuf>,
    /// `database_ca_file`: PEM certificates of the CA that signs the server's
    /// certificate, the only trust anchors for TLS when set (checked at load).
    pub ca_file: Option<PathBuf>,
}

/// One thing wrong with a config file, tied to the key it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key in TOML path form, e.g. `detect.copy_threshold` or `contacts[1].email`.
    pub key: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Why a config file could not be turned into [`Settings`].
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read config file: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: config file is larger than {MAX_CONFIG_BYTES} bytes")]
    TooLarge { path: PathBuf },
    #[error("{path}: invalid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{}", render_problems(path, problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

fn render_problems(path: &Path, problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| located(path, p))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `FILE: key: message`, or `key: message` for text that did not come from a file.
fn located(path: &Path, problem: &Problem) -> String {
    if path.as_os_str().is_empty() {
        problem.to_string()
    } else {
        format!("{}: {}", path.display(), problem)
    }
}

impl ConfigError {
    /// The individual problems, for callers that list them one per line.
    pub fn problems(&self) -> Vec<String> {
        match self {
            ConfigError::Invalid { path, problems } => {
                problems.iter().map(|p| located(path, p)).collect()
            }
            other => vec![other.to_string()],
        }
    }
}

impl Settings {
    /// Reads and validates the config file at `path`.
    ///
    /// # Errors
    /// A [`ConfigError`] that names the file and, for invalid content, every key at fault.
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        let read_err = |source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        };
        let len = std::fs::metadata(path).map_err(read_err)?.len();
        if len > MAX_CONFIG_BYTES {
            return Err(ConfigError::TooLarge {
                path: path.to_path_buf(),
            });
        }
        let source = std::fs::read_to_string(path).map_err(read_err)?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        let mut settings = Settings::parse(&source, base).map_err(|e| e.with_path(path))?;
        settings.config_sha256 = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(source.as_bytes()))
        };
        Ok(settings)
    }

    /// Validates config text; relative paths are resolved against `base_dir`.
    ///
    /// # Errors
    /// [`ConfigError::Syntax`] or [`ConfigError::Invalid`] with an empty path; [`Settings::load`]
    /// fills in the file name.
    pub fn parse(source: &str, base_dir: &Path) -> Result<Settings, ConfigError> {
        let table: toml::Table =
            source
                .parse()
                .map_err(|e: toml::de::Error| ConfigError::Syntax {
                    path: PathBuf::new(),
                    message: describe_toml_error(source, &e),
                })?;
        let mut problems = Vec::new();
        let settings = {
            let mut root = Section::new(&table, "", &mut problems);
            let outlet = root.table("outlet", true, parse_outlet);
            let contacts = root.array_of_tables("contacts", parse_contact);
            let storage = root.table("storage", false, |s| parse_storage(s, base_dir));
            let detect = root.table("detect", false, parse_detect);
            let originals = root.table("originals", false, |s| parse_originals(s, base_dir));
            let index = root.table("index", false, |s| parse_index(s, base_dir));
            let website = outlet.as_ref().map(|o: &Outlet| o.website.clone());
            let crawl = root
                .table("crawl", false, |s| parse_crawl(s, website.as_deref()))
                .or_else(|| {
                    // Without a `[crawl]` section the defaults apply, including the
                    // user agent built from the outlet's website.
                    let mut empty_problems = Vec::new();
                    let empty = toml::Table::new();
                    let mut s = Section::new(&empty, "crawl.", &mut empty_problems);
                    parse_crawl(&mut s, website.as_deref())
                });
            let discovery = root.table("discovery", false, parse_discovery);
            let email = root.table("email", false, |s| parse_email(s, base_dir));
            let email_filters = email.as_ref().map_or((0.0, 0.0), |e: &EmailSettings| {
                (e.legal_min_containment, e.licensing_min_containment)
            });
            let notify = root.table("notify", false, |s| {
                parse_notify(s, base_dir, email_filters)
            });
            let daemon = root.table("daemon", false, parse_daemon);
            let web = root.table("web", false, parse_web);
            let cases = root.table("cases", false, parse_cases);
            let report = root.table("report", false, |s| parse_report(s, base_dir));
            let evidence = root.table("evidence", false, |s| parse_evidence(s, base_dir));
            let licences = root.array_of_tables("licences", parse_licence);
            root.finish();
            check_licences(&licences, &mut problems);
            (
                outlet,
                contacts,
                storage,
                detect,
                originals,
                index,
                crawl,
                discovery,
                (email, notify),
                daemon,
                web,
                cases,
                (report, evidence, licences),
            )
        };
        check_contacts(&settings.1, &mut problems);
        match settings {
            (
                Some(outlet),
                contacts,
                storage,
                detect,
                originals,
                index,
                crawl,
                discovery,
                (email, notify),
                daemon,
                web,
                cases,
                (report, evidence, licences),
            ) if problems.is_empty() => Ok(Settings {
                outlet,
                contacts,
                storage: storage
                    .unwrap_or_else(|| Storage::in_dir(PathBuf::from(DEFAULT_STORAGE_DIR))),
                detect: detect.unwrap_or_default(),
                originals: originals.unwrap_or_default(),
                index: index.unwrap_or_default(),
                crawl: crawl.unwrap_or_default(),
                discovery: discovery.unwrap_or_default(),
                email: email.unwrap_or_default(),
                notify: notify.unwrap_or_default(),
                daemon: daemon.unwrap_or_default(),
                web: web.unwrap_or_default(),
                cases: cases.unwrap_or_default(),
                report: report.unwrap_or_default(),
                evidence: evidence.unwrap_or_default(),
                licences,
                config_sha256: String::new(),
            }),
            _ => {
                if problems.is_empty() {
                    // The outlet section was missing without a recorded problem: cannot
                    // happen because `table(.., required = true, ..)` records one, but an
                    // error is safer than a panic here.
                    problems.push(Problem {
                        key: "outlet".into(),
                        message: "missing section".into(),
                    });
                }
                Err(ConfigError::Invalid {
                    path: PathBuf::new(),
                    problems,
                })
            }
        }
    }

    /// The built-in settings used by commands that can run without a config file
    /// (`compare`, `fingerprint`): default thresholds, no contacts.
    pub fn builtin() -> Settings {
        Settings {
            outlet: Outlet {
                name: String::new(),
                website: String::new(),
                address: String::new(),
                language: Language::ZhCn,
            },
            contacts: Vec::new(),
            storage: Storage::in_dir(PathBuf::from(DEFAULT_STORAGE_DIR)),
            detect: DetectParams::default(),
            originals: OriginalsSettings::default(),
            index: IndexSettings::default(),
            crawl: CrawlSettings::default(),
            discovery: DiscoverySettings::default(),
            email: EmailSettings::default(),
            notify: NotifySettings::default(),
            daemon: DaemonSettings::default(),
            web: WebSettings::default(),
            cases: CasesSettings::default(),
            report: ReportSettings::default(),
            evidence: EvidenceSettings::default(),
            licences: Vec::new(),
            config_sha256: String::new(),
        }
    }
}

impl ConfigError {
    fn with_path(self, path: &Path) -> ConfigError {
        let path = path.to_path_buf();
        match self {
            ConfigError::Syntax { message, .. } => ConfigError::Syntax { path, message },
            ConfigError::Invalid { problems, .. } => ConfigError::Invalid { path, problems },
            other => other,
        }
    }
}

/// Turns a TOML parse error into `line L, column C: message`, the form editors jump to.
fn describe_toml_error(source: &str, err: &toml::de::Error) -> String {
    let message = err.message().trim().to_string();
    match err.span() {
        Some(span) => {
            let before = &source[..span.start.min(source.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

fn parse_outlet(s: &mut Section<'_>) -> Option<Outlet> {
    let name = s.string("name", true);
    let website = s.string("website", true);
    let address = s.string("address", true);
    let language = s.string("language", false);
    if let Some(w) = &website {
        if !(w.starts_with("https://") || w.starts_with("http://")) || w.len() < 10 {
            s.problem(
                "website",
                format!("must be an http:// or https:// URL, got {w:?}"),
            );
        }
    }
    let language = match language.as_deref() {
        None | Some("zh-CN") => Some(Language::ZhCn),
        Some("en") => Some(Language::En),
        Some(other) => {
            s.problem(
                "language",
                format!("must be \"zh-CN\" or \"en\", got {other:?}"),
            );
            None
        }
    };
    Some(Outlet {
        name: name?,
        website: website?,
        address: address?,
        language: language?,
    })
}

fn parse_contact(s: &mut Section<'_>) -> Option<Contact> {
    let role = s.string("role", true);
    let name = s.string("name", true);
    let email = s.string("email", true);
    let phone = s.string("phone", false);
    let role = match role.as_deref() {
        Some("legal") => Some(Role::Legal),
        Some("licensing") => Some(Role::Licensing),
        Some(other) => {
            s.problem(
                "role",
                format!("must be \"legal\" or \"licensing\", got {other:?}"),
            );
            None
        }
        None => None,
    };
    if let Some(email) = &email {
        if !looks_like_email(email) {
            s.problem("email", format!("not an email address: {email:?}"));
        }
    }
    Some(Contact {
        role: role?,
        name: name?,
        email: email?,
        phone,
    })
}

/// A deliberately simple check: one `@` with text on both sides, a dot in the domain, and
/// nothing that could break an email header (spaces, control characters, angle brackets).
fn looks_like_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c))
}

/// A missing contact role is not fatal (the engine runs without one), but alerts would go
/// nowhere, so say so when contacts are given yet a role is absent.
fn check_contacts(contacts: &[Contact], problems: &mut Vec<Problem>) {
    if contacts.is_empty() {
        return;
    }
    for role in [Role::Legal, Role::Licensing] {
        if !contacts.iter().any(|c| c.role == role) {
            let name = match role {
                Role::Legal => "legal",
                Role::Licensing => "licensing",
            };
            problems.push(Problem {
                key: "contacts".into(),
                message: format!("no contact with role = \"{name}\": its alerts would go nowhere"),
            });
        }
    }
}

fn parse_storage(s: &mut Section<'_>, base_dir: &Path) -> Option<Storage> {
    let dir = s.string("dir", false);
    let dir = match dir {
        None => PathBuf::from(DEFAULT_STORAGE_DIR),
        Some(d) if d.trim().is_empty() => {
            s.problem("dir", "must not be empty".into());
            return None;
        }
        Some(d) => resolve(base_dir, &d),
    };
    let url = s.string("database_url", false);
    let password_file = s
        .string("database_password_file", false)
        .map(|p| resolve(base_dir, &p));
    let ca_file = s
        .string("database_ca_file", false)
        .map(|p| resolve(base_dir, &p));
    let database = match url {
        None => {
            if password_file.is_some() {
                s.problem("database_password_file", "needs database_url".into());
            }
            if ca_file.is_some() {
                s.problem("database_ca_file", "needs database_url".into());
            }
            None
        }
        Some(url) => match check_database_url(&url) {
            Ok(()) => {
                if let Some(path) = &ca_file {
                    check_database_ca_file(s, &url, path);
                }
                Some(DatabaseSettings {
                    url,
                    password_file,
                    ca_file,
                })
            }
            Err(message) => {
                s.problem("database_url", message);
                return None;
            }
        },
    };
    let evidence = parse_evidence_location(s, base_dir, &dir)?;
    Some(Storage {
        dir,
        database,
        evidence,
    })
}

/// `evidence_dir`, or `evidence_url` with `evidence_endpoint`, `evidence_region` and
/// `evidence_credentials_file`; at most one of the two places.
fn parse_evidence_location(
    s: &mut Section<'_>,
    base_dir: &Path,
    dir: &Path,
) -> Option<EvidenceLocation> {
    let evidence_dir = s.string("evidence_dir", false);
    let url = s.string("evidence_url", false);
    let endpoint = s.string("evidence_endpoint", false);
    let region = s.string("evidence_region", false);
    let credentials_file = s
        .string("evidence_credentials_file", false)
        .map(|p| resolve(base_dir, &p));
    let Some(url) = url else {
        for (key, set) in [
            ("evidence_endpoint", endpoint.is_some()),
            ("evidence_region", region.is_some()),
            ("evidence_credentials_file", credentials_file.is_some()),
        ] {
            if set {
                s.problem(key, "needs evidence_url".into());
            }
        }
        return match evidence_dir {
            None => Some(EvidenceLocation::Dir(
                dir.join(crate::evidence::EVIDENCE_DIR),
            )),
            Some(d) if d.trim().is_empty() => {
                s.problem("evidence_dir", "must not be empty".into());
                None
            }
            Some(d) => Some(EvidenceLocation::Dir(resolve(base_dir, &d))),
        };
    };
    if evidence_dir.is_some() {
        s.problem(
            "evidence_dir",
            "set with evidence_url: evidence lives in one place, choose one".into(),
        );
        return None;
    }
    let (bucket, prefix) = match parse_bucket_url(&url) {
        Ok(v) => v,
        Err(message) => {
            s.problem("evidence_url", message);
            return None;
        }
    };
    let endpoint = match endpoint {
        None => None,
        Some(e) => match check_endpoint(&e) {
            Ok(e) => Some(e),
            Err(message) => {
                s.problem("evidence_endpoint", message);
                return None;
            }
        },
    };
    let region = match region {
        None => "us-east-1".to_string(),
        Some(r)
            if !r.is_empty()
                && r.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
        {
            r
        }
        Some(r) => {
            s.problem(
                "evidence_region",
                format!("{r:?} is not a region name (letters, digits and dashes)"),
            );
            return None;
        }
    };
    Some(EvidenceLocation::Bucket(BucketSettings {
        url,
        bucket,
        prefix,
        endpoint,
        region,
        credentials_file,
    }))
}

/// `s3://bucket[/prefix]` into the bucket and the prefix (no slashes at its ends).
fn parse_bucket_url(text: &str) -> Result<(String, String), String> {
    let rest = text
        .strip_prefix("s3://")
        .ok_or_else(|| format!("{text:?} is not an s3://bucket/prefix URL"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    // S3's bucket naming rules: 3 to 63 lower-case letters, digits, dots and dashes.
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
    if !bucket_ok {
        return Err(format!(
            "{bucket:?} is not a bucket name (3 to 63 lower-case letters, digits, dots and dashes)"
        ));
    }
    let prefix = prefix.trim_matches('/');
    let bad_segment = !prefix.is_empty()
        && prefix
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..");
    let bad_char = prefix.chars().any(|c| c.is_control() || c == '\\');
    if bad_segment || bad_char || text.contains(['?', '#', '@']) {
        return Err(format!("{prefix:?} is not a usable key prefix"));
    }
    Ok((bucket.to_string(), prefix.to_string()))
}

/// An object store endpoint: an `http` or `https` URL with a host and no user,
/// password, query or fragment (credentials never go in the config).
fn check_endpoint(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("{text:?} is not an http(s)://host[:port] URL"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not hold credentials (use evidence_credentials_file or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{text:?}: no query or fragment allowed"));
    }
    Ok(text.trim_end_matches('/').to_string())
}

/// `database_ca_file` is read now, so a wrong path or a file without certificates is a
/// config error rather than a refused connection later; and it must come with an
/// `sslmode` that uses TLS, or it would silently do nothing.
fn check_database_ca_file(s: &mut Section<'_>, url: &str, path: &Path) {
    let tls = url::Url::parse(url).is_ok_and(|u| {
        u.query_pairs().any(|(k, v)| {
            k == "sslmode" && matches!(v.as_ref(), "require" | "verify-ca" | "verify-full")
        })
    });
    if !tls {
        s.problem(
            "database_ca_file",
            "is used only for TLS: add sslmode=verify-full (or verify-ca, require) to database_url"
                .into(),
        );
    } else if let Err(message) = crate::store::pg::read_ca_file(path) {
        s.problem("database_ca_file", format!("{}: {message}", path.display()));
    }
}

/// A PostgreSQL URL copyhound accepts: `postgres://` or `postgresql://`, a user, a
/// host and a database, no password (it would end up in logs and process listings),
/// and an `sslmode` of `disable`, `prefer`, `require`, `verify-ca` or `verify-full`.
fn check_database_url(text: &str) -> Result<(), String> {
    let url = url::Url::parse(text).map_err(|e| format!("not a URL ({e})"))?;
    if url.scheme() != "postgres" && url.scheme() != "postgresql" {
        return Err(format!(
            "must be postgres://user@host:port/database, got scheme {:?}",
            url.scheme()
        ));
    }
    if url.password().is_some() {
        return Err(
            "must not contain a password: use database_password_file or COPYHOUND_DATABASE_PASSWORD"
                .into(),
        );
    }
    if url.username().is_empty() {
        return Err("needs a user: postgres://user@host:port/database".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("needs a host: postgres://user@host:port/database".into());
    }
    if url.path().trim_start_matches('/').is_empty() {
        return Err("needs a database name: postgres://user@host:port/database".into());
    }
    for (k, v) in url.query_pairs() {
        match (k.as_ref(), v.as_ref()) {
            ("sslmode", "disable" | "prefer" | "require" | "verify-ca" | "verify-full") => {}
            ("sslmode", other) => {
                return Err(format!(
                "sslmode must be disable, prefer, require, verify-ca or verify-full, got {other:?}"
            ))
            }
            ("connect_timeout" | "application_name", _) => {}
            (other, _) => return Err(format!("unsupported parameter {other:?}")),
        }
    }
    Ok(())
}

fn parse_detect(s: &mut Section<'_>) -> Option<DetectParams> {
    let defaults = DetectParams::default();
    let copy = s
        .fraction("copy_threshold")
        .unwrap_or(defaults.copy_threshold);
    let partial = s
        .fraction("partial_threshold")
        .unwrap_or(defaults.partial_threshold);
    let paragraphs = s
        .positive_integer("partial_min_paragraphs")
        .unwrap_or(defaults.partial_min_paragraphs as u64);
    if partial > copy {
        s.problem(
            "partial_threshold",
            format!("must not exceed copy_threshold ({copy}), got {partial}"),
        );
    }
    let mut integer =
        |key: &'static str, default: usize| s.positive_integer(key).map_or(default, |v| v as usize);
    let min_passage_cjk = integer("min_passage_cjk", defaults.min_passage_cjk);
    let min_passage_words = integer("min_passage_words", defaults.min_passage_words);
    let max_gap_tokens = integer("max_gap_tokens", defaults.max_gap_tokens);
    let min_paragraph_tokens = integer("min_paragraph_tokens", defaults.min_paragraph_tokens);
    let partial_min_cjk_chars = integer("partial_min_cjk_chars", defaults.partial_min_cjk_chars);
    let partial_min_words = integer("partial_min_words", defaults.partial_min_words);
    // An absolute length below one passage's would make every kept passage a copy.
    for (key, value, passage_key, passage) in [
        (
            "partial_min_cjk_chars",
            partial_min_cjk_chars,
            "min_passage_cjk",
            min_passage_cjk,
        ),
        (
            "partial_min_words",
            partial_min_words,
            "min_passage_words",
            min_passage_words,
        ),
    ] {
        if value < passage {
            s.problem(
                key,
                format!("must be at least {passage_key} ({passage}), got {value}"),
            );
        }
    }
    let paragraph_copied_share = s
        .fraction("paragraph_copied_share")
        .unwrap_or(defaults.paragraph_copied_share);
    let quote_max_coverage = s
        .fraction("quote_max_coverage")
        .unwrap_or(defaults.quote_max_coverage);
    Some(DetectParams {
        copy_threshold: copy,
        partial_threshold: partial,
        partial_min_paragraphs: paragraphs as usize,
        min_passage_cjk,
        min_passage_words,
        max_gap_tokens,
        paragraph_copied_share,
        min_paragraph_tokens,
        partial_min_cjk_chars,
        partial_min_words,
        quote_max_coverage,
    })
}

fn parse_originals(s: &mut Section<'_>, base_dir: &Path) -> Option<OriginalsSettings> {
    let defaults = OriginalsSettings::default();
    let feeds = s.url_list("feeds");
    let sitemaps = s.url_list("sitemaps");
    let paths = s
        .string_list("paths")
        .into_iter()
        .map(|p| resolve(base_dir, &p))
        .collect();
    let refresh = s.duration("refresh").unwrap_or(defaults.refresh);
    let boilerplate = s
        .positive_integer("boilerplate_min_originals")
        .map_or(defaults.boilerplate_min_originals, |v| {
            v.min(u32::MAX as u64) as u32
        });
    let hosts = s.array_of_tables("hosts", parse_host_override);
    Some(OriginalsSettings {
        feeds,
        sitemaps,
        paths,
        refresh,
        boilerplate_min_originals: boilerplate,
        hosts,
    })
}

/// One `[[originals.hosts]]` entry; each selector is parsed here so that a bad one is
/// reported with its key instead of failing at ingest.
fn parse_host_override(s: &mut Section<'_>) -> Option<HostOverride> {
    let host = s.string("host", true)?.trim().to_ascii_lowercase();
    let selector = |s: &mut Section<'_>, key: &str, text: &str| match scraper::Selector::parse(text)
    {
        Ok(sel) => Some(sel),
        Err(e) => {
            s.problem(key, format!("not a CSS selector: {e}"));
            None
        }
    };
    let body_source = s.string("body", false);
    let body = match &body_source {
        Some(text) => Some(selector(s, "body", text)?),
        None => None,
    };
    let drop_source = s.string_list("drop");
    let mut drop = Vec::new();
    for (i, text) in drop_source.iter().enumerate() {
        drop.push(selector(s, &format!("drop[{i}]"), text)?);
    }
    if body.is_none() && drop.is_empty() {
        s.problem("body", "a host entry needs `body` or `drop`".into());
        return None;
    }
    Some(HostOverride {
        host,
        rules: crate::extract::HostRules { body, drop },
        body_source,
        drop_source,
    })
}

fn parse_index(s: &mut Section<'_>, base_dir: &Path) -> Option<IndexSettings> {
    let defaults = IndexSettings::default();
    let max_distance = match s.get("max_distance") {
        None => defaults.max_distance,
        Some(toml::Value::Integer(v)) if (0..=6).contains(v) => *v as u32,
        Some(other) => {
            s.problem(
                "max_distance",
                format!("must be an integer from 0 to 6, got {other}"),
            );
            return None;
        }
    };
    let mapped = s.boolean("mapped").unwrap_or(defaults.mapped);
    let dir = match s.string("dir", false) {
        None => None,
        Some(d) if d.trim().is_empty() => {
            s.problem("dir", "must not be empty".into());
            return None;
        }
        Some(d) => Some(resolve(base_dir, &d)),
    };
    Some(IndexSettings {
        max_distance,
        mapped,
        dir,
    })
}

fn parse_crawl(s: &mut Section<'_>, website: Option<&str>) -> Option<CrawlSettings> {
    let d = CrawlSettings::default();
    let seeds = s.url_list("seeds");
    let sitemaps = s.url_list("sitemaps");
    let feeds = s.url_list("feeds");
    let mut scope = s.domain_list("scope");
    let licensed = s.domain_list("licensed");
    // The operator named these sites, so they are in scope without being listed twice.
    for url in seeds.iter().chain(&sitemaps).chain(&feeds) {
        if let Some(host) = url.host_str() {
            scope.insert(host.strip_prefix("www.").unwrap_or(host));
        }
    }
    let max_depth = s
        .integer_in("max_depth", 0, 100)
        .map_or(d.max_depth, |v| v as u32);
    let per_host_delay = s
        .duration_or_zero("per_host_delay")
        .unwrap_or(d.per_host_delay);
    let concurrency = s
        .integer_in("concurrency", 1, 1024)
        .map_or(d.concurrency, |v| v as usize);
    let connections_per_host = s
        .integer_in("connections_per_host", 1, 16)
        .map_or(d.connections_per_host, |v| v as usize);
    if connections_per_host > concurrency {
        s.problem(
            "connections_per_host",
            format!("must not exceed concurrency ({concurrency}), got {connections_per_host}"),
        );
    }
    let max_pages_per_host = s
        .integer_in("max_pages_per_host", 1, 10_000_000)
        .map_or(d.max_pages_per_host, |v| v as u32);
    let user_agent = match s.string("user_agent", false) {
        Some(ua) => ua,
        None => default_user_agent(website),
    };
    if !user_agent_has_contact(&user_agent) {
        s.problem(
            "user_agent",
            format!(
                "must contain a contact URL (http:// or https://) so webmasters can reach us, got {user_agent:?}"
            ),
        );
    } else if user_agent.chars().any(|c| c.is_control() || !c.is_ascii()) {
        s.problem(
            "user_agent",
            "must be printable ASCII (it is sent as an HTTP header)".into(),
        );
    }
    let allow_private_networks = s
        .boolean("allow_private_networks")
        .unwrap_or(d.allow_private_networks);
    let max_body_bytes = s
        .integer_in("max_body_bytes", 1024, 1024 * 1024 * 1024)
        .map_or(d.max_body_bytes, |v| v as usize);
    let max_redirects = s
        .integer_in("max_redirects", 0, 20)
        .map_or(d.max_redirects, |v| v as usize);
    let timeout = s.duration("timeout").unwrap_or(d.timeout);
    let connect_timeout = s.duration("connect_timeout").unwrap_or(d.connect_timeout);
    let read_timeout = s.duration("read_timeout").unwrap_or(d.read_timeout);
    let robots_ttl = s.duration("robots_ttl").unwrap_or(d.robots_ttl);
    let max_backoff = s.duration("max_backoff").unwrap_or(d.max_backoff);
    let tracking_params = match s.get("tracking_params") {
        None => d.tracking_params,
        Some(_) => {
            let list = s.string_list("tracking_params");
            for (i, p) in list.iter().enumerate() {
                let bare = p.strip_suffix('*').unwrap_or(p);
                if bare.is_empty() || bare.contains(['*', '&', '=', ' ']) {
                    s.problem(
                        &format!("tracking_params[{i}]"),
                        format!("must be a parameter name, optionally ending in *, got {p:?}"),
                    );
                }
            }
            list
        }
    };
    let max_url_length = s
        .integer_in("max_url_length", 64, 65_536)
        .map_or(d.max_url_length, |v| v as usize);
    let cycle_interval = s.duration("cycle_interval").unwrap_or(d.cycle_interval);
    Some(CrawlSettings {
        seeds,
        sitemaps,
        feeds,
        scope,
        licensed,
        max_depth,
        per_host_delay,
        concurrency,
        connections_per_host,
        max_pages_per_host,
        user_agent,
        allow_private_networks,
        max_body_bytes,
        max_redirects,
        timeout,
        connect_timeout,
        read_timeout,
        robots_ttl,
        max_backoff,
        tracking_params,
        max_url_length,
        cycle_interval,
    })
}

fn parse_discovery(s: &mut Section<'_>) -> Option<DiscoverySettings> {
    let d = DiscoverySettings::default();
    let searxng_url = s.url("searxng_url");
    let interval = s.duration("interval").unwrap_or(d.interval);
    Some(DiscoverySettings {
        searxng_url,
        interval,
    })
}

fn parse_email(s: &mut Section<'_>, base_dir: &Path) -> Option<EmailSettings> {
    let d = EmailSettings::default();
    let smtp_url = s.string("smtp_url", false);
    let starttls = s.string("starttls", false);
    let username = s.string("username", false);
    let password_file = s
        .string("password_file", false)
        .map(|p| resolve(base_dir, &p));
    let from = s.string("from", false);
    let legal_min_containment = s.fraction("legal_min_containment").unwrap_or(0.0);
    let licensing_min_containment = s.fraction("licensing_min_containment").unwrap_or(0.0);
    let digest_after = s
        .integer_in("digest_after", 1, 10_000)
        .map_or(d.digest_after, |v| v as u32);
    let digest_window = s.duration("digest_window").unwrap_or(d.digest_window);
    let max_attachment_bytes = s
        .integer_in("max_attachment_bytes", 0, 100 * 1024 * 1024)
        .map_or(d.max_attachment_bytes, |v| v as usize);
    let retry_initial = s.duration("retry_initial").unwrap_or(d.retry_initial);
    let retry_max = s.duration("retry_max").unwrap_or(d.retry_max);
    let timeout = s.duration("timeout").unwrap_or(d.timeout);
    if retry_initial > retry_max {
        s.problem(
            "retry_initial",
            format!(
                "must not exceed retry_max ({}), got {}",
                humantime::format_duration(retry_max),
                humantime::format_duration(retry_initial)
            ),
        );
    }
    let opportunistic = match starttls.as_deref() {
        None | Some("required") => false,
        Some("opportunistic") => true,
        Some(other) => {
            s.problem(
                "starttls",
                format!("must be \"required\" or \"opportunistic\", got {other:?}"),
            );
            false
        }
    };
    let smtp_given = smtp_url.is_some();
    let smtp = smtp_url.and_then(|text| match parse_smtp_url(&text, opportunistic) {
        Ok(mut smtp) => {
            smtp.username = username.clone();
            smtp.password_file = password_file.clone();
            Some(smtp)
        }
        Err(message) => {
            s.problem("smtp_url", message);
            None
        }
    });
    if !smtp_given && (username.is_some() || password_file.is_some()) {
        s.problem(
            if username.is_some() {
                "username"
            } else {
                "password_file"
            },
            "has no effect without smtp_url".into(),
        );
    }
    if password_file.is_some() && username.is_none() {
        s.problem("password_file", "needs username".into());
    }
    let from = match from {
        Some(f) => {
            if f.parse::<lettre::message::Mailbox>().is_err() || f.chars().any(|c| c.is_control()) {
                s.problem(
                    "from",
                    format!("not a mailbox like \"copyhound <alerts@example.com>\": {f:?}"),
                );
            }
            f
        }
        None if smtp_given => {
            s.problem("from", "missing (required with smtp_url)".into());
            d.from
        }
        None => d.from,
    };
    Some(EmailSettings {
        smtp,
        from,
        legal_min_containment,
        licensing_min_containment,
        digest_after,
        digest_window,
        max_attachment_bytes,
        retry_initial,
        retry_max,
        timeout,
    })
}

/// `smtp://host[:port]` (STARTTLS, port 587 by default) or `smtps://host[:port]`
/// (implicit TLS, port 465). Credentials are separate keys, never part of the URL, so
/// the URL can be shown in messages.
fn parse_smtp_url(text: &str, opportunistic: bool) -> Result<SmtpSettings, String> {
    let url = url::Url::parse(text).map_err(|e| format!("invalid URL {text:?}: {e}"))?;
    let (security, default_port) = match url.scheme() {
        "smtps" => (SmtpSecurity::ImplicitTls, 465),
        "smtp" if opportunistic => (SmtpSecurity::StartTlsOpportunistic, 587),
        "smtp" => (SmtpSecurity::StartTlsRequired, 587),
        other => {
            return Err(format!(
                "must be smtp://host:port or smtps://host:port, got scheme {other:?}"
            ))
        }
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials: use username and password_file".into());
    }
    if url.path() != "" && url.path() != "/" || url.query().is_some() {
        return Err(format!("must be only scheme, host and port, got {text:?}"));
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_string(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err(format!("has no host: {text:?}")),
    };
    Ok(SmtpSettings {
        host,
        port: url.port().unwrap_or(default_port),
        security,
        username: None,
        password_file: None,
    })
}

fn parse_notify(
    s: &mut Section<'_>,
    base_dir: &Path,
    email_filters: (f64, f64),
) -> Option<NotifySettings> {
    let d = NotifySettings::default();
    let timeout = s.duration("timeout").unwrap_or(d.timeout);
    let retry_initial = s.duration("retry_initial").unwrap_or(d.retry_initial);
    let retry_max = s.duration("retry_max").unwrap_or(d.retry_max);
    if retry_initial > retry_max {
        s.problem(
            "retry_initial",
            format!(
                "must not exceed retry_max ({}), got {}",
                humantime::format_duration(retry_max),
                humantime::format_duration(retry_initial)
            ),
        );
    }
    let webhooks = s.array_of_tables("webhooks", |w| parse_webhook(w, base_dir, email_filters));
    // Names are checked on the raw entries, so the index named is the entry's own even
    // when an entry before it was dropped for its problems.
    let raw = match s.table.get("webhooks") {
        Some(toml::Value::Array(items)) => items.as_slice(),
        _ => &[],
    };
    let mut seen = std::collections::HashSet::new();
    for (i, item) in raw.iter().enumerate() {
        let name = item
            .get("name")
            .or_else(|| item.get("kind"))
            .and_then(toml::Value::as_str);
        if let Some(name) = name {
            if !seen.insert(name) {
                s.problem(
                    &format!("webhooks[{i}].name"),
                    format!(
                        "{name:?} is given twice: give each webhook its own name (it defaults to the kind)"
                    ),
                );
            }
        }
    }
    Some(NotifySettings {
        webhooks,
        timeout,
        retry_initial,
        retry_max,
    })
}

/// The longest webhook name (it is stored with every alert queued for the webhook).
const MAX_WEBHOOK_NAME_CHARS: usize = 64;

fn parse_webhook(
    s: &mut Section<'_>,
    base_dir: &Path,
    (legal_default, licensing_default): (f64, f64),
) -> Option<WebhookSettings> {
    let kind_text = s.string("kind", true);
    let name = s.string("name", false);
    let url = s.string("url", false);
    let url_file = s.string("url_file", false);
    let url_env = s.string("url_env", false);
    let secret_file = s.string("secret_file", false);
    let secret_env = s.string("secret_env", false);
    let roles_text = s.string_list("roles");
    let legal_min_containment = s.fraction("legal_min_containment").unwrap_or(legal_default);
    let licensing_min_containment = s
        .fraction("licensing_min_containment")
        .unwrap_or(licensing_default);
    let kind = match kind_text.as_deref() {
        None => None,
        Some(k) => match WebhookKind::parse(k) {
            Some(kind) => Some(kind),
            None => {
                s.problem(
                    "kind",
                    format!(
                        "must be \"wecom\", \"dingtalk\", \"feishu\", \"slack\" or \"generic\", got {k:?}"
                    ),
                );
                None
            }
        },
    };
    if let Some(n) = &name {
        if n.is_empty()
            || n.chars().count() > MAX_WEBHOOK_NAME_CHARS
            || !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            s.problem(
                "name",
                format!(
                    "must be 1 to {MAX_WEBHOOK_NAME_CHARS} letters, digits, '-' or '_', got {n:?}"
                ),
            );
        }
    }
    let url = match (url, url_file, url_env) {
        (Some(u), None, None) => {
            match url::Url::parse(&u) {
                Ok(parsed)
                    if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {}
                // The URL holds the platform's token: the message never repeats it.
                _ => s.problem("url", "must be an http:// or https:// URL".into()),
            }
            Some(SecretSource::Inline(u))
        }
        (None, Some(f), None) => Some(SecretSource::File(resolve(base_dir, &f))),
        (None, None, Some(v)) => Some(SecretSource::Env(v)),
        (None, None, None) => {
            s.problem(
                "url",
                "missing: set url, url_file or url_env (the URL holds the platform's token: url_file or url_env keep it out of the config)".into(),
            );
            None
        }
        _ => {
            s.problem("url", "give only one of url, url_file and url_env".into());
            None
        }
    };
    let secret = match (secret_file, secret_env) {
        (Some(f), None) => Some(SecretSource::File(resolve(base_dir, &f))),
        (None, Some(v)) => Some(SecretSource::Env(v)),
        (None, None) => None,
        (Some(_), Some(_)) => {
            s.problem(
                "secret_file",
                "give only one of secret_file and secret_env".into(),
            );
            None
        }
    };
    match (kind, &secret) {
        (Some(k @ (WebhookKind::Dingtalk | WebhookKind::Feishu)), None) => s.problem(
            "secret_file",
            format!(
                "missing: a {} robot signs every message, so set secret_file or secret_env to its signing secret",
                k.name()
            ),
        ),
        (Some(k @ (WebhookKind::Wecom | WebhookKind::Slack)), Some(_)) => s.problem(
            if secret.as_ref().is_some_and(|x| matches!(x, SecretSource::Env(_))) {
                "secret_env"
            } else {
                "secret_file"
            },
            format!("has no effect for kind = \"{}\" (its URL is the secret)", k.name()),
        ),
        _ => {}
    }
    let mut roles = Vec::new();
    for (i, r) in roles_text.iter().enumerate() {
        match r.as_str() {
            "legal" if !roles.contains(&Role::Legal) => roles.push(Role::Legal),
            "licensing" if !roles.contains(&Role::Licensing) => roles.push(Role::Licensing),
            "legal" | "licensing" => {
                s.problem(&format!("roles[{i}]"), format!("{r:?} is given twice"))
            }
            other => s.problem(
                &format!("roles[{i}]"),
                format!("must be \"legal\" or \"licensing\", got {other:?}"),
            ),
        }
    }
    if roles_text.is_empty() {
        s.problem(
            "roles",
            "missing: the roles whose alerts it carries, e.g. [\"legal\", \"licensing\"]".into(),
        );
    }
    let kind = kind?;
    Some(WebhookSettings {
        name: name.unwrap_or_else(|| kind.name().to_string()),
        kind,
        url: url?,
        secret,
        roles,
        legal_min_containment,
        licensing_min_containment,
    })
}

fn parse_daemon(s: &mut Section<'_>) -> Option<DaemonSettings> {
    let d = DaemonSettings::default();
    let shutdown_timeout = s.duration("shutdown_timeout").unwrap_or(d.shutdown_timeout);
    if shutdown_timeout > Duration::from_secs(600) {
        // systemd's stop timeout has to outlast it; a deadline of many minutes means a
        // stuck service nobody can restart promptly.
        s.problem(
            "shutdown_timeout",
            format!(
                "must be at most 10m, got {}",
                humantime::format_duration(shutdown_timeout)
            ),
        );
    }
    Some(DaemonSettings { shutdown_timeout })
}

fn parse_cases(s: &mut Section<'_>) -> Option<CasesSettings> {
    let d = CasesSettings::default();
    let mut offsets = Vec::new();
    let given = s.get("recheck").is_some();
    for (i, text) in s.string_list("recheck").into_iter().enumerate() {
        match parse_duration(&text) {
            Ok(v) if v.is_zero() => {
                s.problem(&format!("recheck[{i}]"), "must be longer than zero".into())
            }
            Ok(v) if offsets.last().is_some_and(|last| *last >= v) => s.problem(
                &format!("recheck[{i}]"),
                format!("must be later than the one before it, got {text:?}"),
            ),
            Ok(v) => offsets.push(v),
            Err(e) => s.problem(&format!("recheck[{i}]"), format!("{e}, got {text:?}")),
        }
    }
    if given && offsets.is_empty() {
        s.problem("recheck", "must list at least one interval".into());
    }
    let schedule = crate::cases::Schedule {
        offsets: if given { offsets } else { d.schedule.offsets },
        monthly: s.duration("recheck_then").unwrap_or(d.schedule.monthly),
    };
    let deadline = CaseDeadline(s.duration("deadline").unwrap_or(d.deadline.0));
    Some(CasesSettings { schedule, deadline })
}

fn parse_web(s: &mut Section<'_>) -> Option<WebSettings> {
    let d = WebSettings::default();
    let listen = match s.get("listen") {
        None => d.listen,
        Some(toml::Value::String(v)) => match v.parse::<std::net::SocketAddr>() {
            Ok(addr) => addr,
            Err(_) => {
                s.problem(
                    "listen",
                    format!("must be an address and port like \"127.0.0.1:8600\", got {v:?}"),
                );
                return None;
            }
        },
        Some(other) => {
            let t = other.type_str();
            s.problem(
                "listen",
                format!("must be a string like \"127.0.0.1:8600\", got {t}"),
            );
            return None;
        }
    };
    let users = s.array_of_tables("users", parse_web_user);
    let mut seen = std::collections::HashSet::new();
    for (i, u) in users.iter().enumerate() {
        if !seen.insert(u.name.as_str()) {
            s.problem(
                &format!("users[{i}].name"),
                format!("{:?} is given twice", u.name),
            );
        }
    }
    let session_ttl = s.duration("session_ttl").unwrap_or(d.session_ttl);
    if session_ttl < Duration::from_secs(60) || session_ttl > Duration::from_secs(30 * 86400) {
        s.problem(
            "session_ttl",
            format!(
                "must be between 1m and 30days, got {}",
                humantime::format_duration(session_ttl)
            ),
        );
    }
    let behind_tls = s.boolean("behind_tls").unwrap_or(d.behind_tls);
    let public_url = s.url("public_url");
    if let Some(u) = &public_url {
        if u.query().is_some() || u.fragment().is_some() || !u.username().is_empty() {
            s.problem(
                "public_url",
                format!(
                    "must be the desk's address without query, fragment or credentials, got {:?}",
                    u.as_str()
                ),
            );
        }
    }
    Some(WebSettings {
        listen,
        users,
        session_ttl,
        behind_tls,
        public_url,
    })
}

fn parse_report(s: &mut Section<'_>, base_dir: &Path) -> Option<ReportSettings> {
    let to = s.string_list("to");
    for (i, address) in to.iter().enumerate() {
        if !looks_like_email(address) {
            s.problem(
                &format!("to[{i}]"),
                format!("not an email address: {address:?}"),
            );
        }
    }
    let enabled = s.boolean("enabled");
    let chromium = s.string("chromium", false).map(|p| base_dir.join(p));
    Some(ReportSettings {
        to,
        enabled,
        chromium,
    })
}

fn parse_evidence(s: &mut Section<'_>, base_dir: &Path) -> Option<EvidenceSettings> {
    let d = EvidenceSettings::default();
    let tsa_urls = s.url_list("tsa_urls");
    let tsa_ca_file = s.string("tsa_ca_file", false).map(|p| base_dir.join(p));
    let tsa_timeout = s.duration("tsa_timeout").unwrap_or(d.tsa_timeout);
    let tsa_retry = s.duration("tsa_retry").unwrap_or(d.tsa_retry);
    let tsa_retry_max = s.duration("tsa_retry_max").unwrap_or(d.tsa_retry_max);
    if tsa_timeout > Duration::from_secs(300) {
        s.problem(
            "tsa_timeout",
            format!(
                "must be at most 5m, got {}",
                humantime::format_duration(tsa_timeout)
            ),
        );
    }
    if tsa_retry_max < tsa_retry {
        s.problem(
            "tsa_retry_max",
            format!(
                "must be at least tsa_retry ({}), got {}",
                humantime::format_duration(tsa_retry),
                humantime::format_duration(tsa_retry_max)
            ),
        );
    }
    if tsa_retry_max > Duration::from_secs(7 * 24 * 3600) {
        s.problem("tsa_retry_max", "must be at most 7 days".into());
    }
    match (&tsa_urls.is_empty(), &tsa_ca_file) {
        (false, None) => s.problem(
            "tsa_ca_file",
            "required with tsa_urls: the PEM certificates the TSAs' tokens must chain to".into(),
        ),
        (_, Some(path)) => {
            // Read now so a wrong path or a file without certificates is a config error,
            // not a stream of failed timestamps later.
            if let Err(e) = crate::evidence::timestamp::TrustAnchors::load(path) {
                s.problem("tsa_ca_file", e.to_string());
            }
        }
        (true, None) => {}
    }
    let browser = match s.string("browser", false) {
        Some(p) if p.trim().is_empty() => {
            s.problem(
                "browser",
                "must not be empty (leave it out for no browser)".into(),
            );
            None
        }
        Some(p) => Some(resolve(base_dir, &p)),
        None => None,
    };
    let browser_timeout = s.duration("browser_timeout").unwrap_or(d.browser_timeout);
    if browser_timeout > Duration::from_secs(600) {
        // A render holds a page task (and its host's politeness slot) for this long.
        s.problem(
            "browser_timeout",
            format!(
                "must be at most 10m, got {}",
                humantime::format_duration(browser_timeout)
            ),
        );
    }
    // Below a quarter of a gigabyte Chromium's browser process cannot start at all.
    let browser_memory_mb = s
        .integer_in("browser_memory_mb", 256, 65_536)
        .map_or(d.browser_memory_mb, |v| v as u64);
    Some(EvidenceSettings {
        browser,
        browser_timeout,
        browser_memory_mb,
        tsa_urls,
        tsa_ca_file,
        tsa_timeout,
        tsa_retry,
        tsa_retry_max,
    })
}

/// One `[[licences]]` entry: a partner, its sites, its validity and its terms.
fn parse_licence(s: &mut Section<'_>) -> Option<crate::licences::Licence> {
    use crate::licences::{
        Licence, LicenceSource, Scope, Terms, MAX_DOMAINS, MAX_FORMS, MAX_FORM_CHARS,
    };
    let partner = s.string("partner", true);
    let mut domains = Vec::new();
    let raw_domains = s.string_list("domains");
    if raw_domains.is_empty() {
        s.problem(
            "domains",
            "missing (required): the partner's domains".into(),
        );
    } else if raw_domains.len() > MAX_DOMAINS {
        s.problem(
            "domains",
            format!("at most {MAX_DOMAINS} domains per licence"),
        );
    }
    for (i, d) in raw_domains.iter().enumerate() {
        match crate::licences::parse_site(d) {
            Ok(site) => domains.push(site),
            Err(e) => s.problem(&format!("domains[{i}]"), e),
        }
    }
    let valid_from = s.date("valid_from", true);
    let valid_to = s.date("valid_to", false);
    let d = Terms::default();
    let attribution = s.boolean("attribution").unwrap_or(d.attribution);
    let attribution_forms = s.string_list("attribution_forms");
    if attribution_forms.len() > MAX_FORMS {
        s.problem("attribution_forms", format!("at most {MAX_FORMS} forms"));
    }
    for (i, f) in attribution_forms.iter().enumerate() {
        if f.trim().is_empty() || f.chars().count() > MAX_FORM_CHARS {
            s.problem(
                &format!("attribution_forms[{i}]"),
                format!("must be 1 to {MAX_FORM_CHARS} characters"),
            );
        }
    }
    let link_back = s.boolean("link_back").unwrap_or(d.link_back);
    let title_unchanged = s.boolean("title_unchanged").unwrap_or(d.title_unchanged);
    let scope = match s.string("scope", false).as_deref() {
        None => Some(Scope::Full),
        Some(text) => Scope::parse(text).or_else(|| {
            s.problem(
                "scope",
                format!("must be \"full\" or \"excerpt\", got {text:?}"),
            );
            None
        }),
    };
    let share = s.fraction("excerpt_max_share");
    if share.is_some() && scope == Some(Scope::Full) {
        s.problem(
            "excerpt_max_share",
            "has no effect with scope = \"full\"".into(),
        );
    }
    if let (Some(from), Some(to)) = (valid_from, valid_to) {
        if to < from {
            s.problem("valid_to", format!("is before valid_from ({from})"));
        }
    }
    Some(Licence {
        source: LicenceSource::Config,
        partner: partner?.trim().to_string(),
        domains,
        valid_from: valid_from?,
        valid_to,
        terms: Terms {
            attribution,
            attribution_forms,
            link_back,
            title_unchanged,
            scope: scope?,
            excerpt_max_share: share.unwrap_or(d.excerpt_max_share),
        },
    })
}

/// A partner named twice would make its matches' licence ambiguous.
fn check_licences(licences: &[crate::licences::Licence], problems: &mut Vec<Problem>) {
    for (i, l) in licences.iter().enumerate() {
        if licences[..i].iter().any(|o| o.partner == l.partner) {
            problems.push(Problem {
                key: format!("licences[{i}].partner"),
                message: format!("{:?} is given twice", l.partner),
            });
        }
    }
}

fn parse_web_user(s: &mut Section<'_>) -> Option<WebUser> {
    let name = s.string("name", true);
    let hash = s.string("password_hash", true);
    if let Some(n) = &name {
        if n.is_empty() || n.chars().count() > 64 || n.chars().any(char::is_control) {
            s.problem(
                "name",
                "must be 1 to 64 characters without control characters".into(),
            );
        }
    }
    if let Some(h) = &hash {
        match argon2::password_hash::phc::PasswordHash::new(h) {
            Ok(parsed) if parsed.algorithm.as_str() == "argon2id" => {}
            Ok(parsed) => s.problem(
                "password_hash",
                format!(
                    "must be an Argon2id hash, got {}: run `copyhound hash-password`",
                    parsed.algorithm
                ),
            ),
            Err(e) => s.problem(
                "password_hash",
                format!("not a PHC password hash ({e}): run `copyhound hash-password`"),
            ),
        }
    }
    Some(WebUser {
        name: name?,
        password_hash: hash?,
    })
}

/// Resolves a path from the config file against the file's folder.
fn resolve(base_dir: &Path, path: &str) -> PathBuf {
    let p = PathBuf::from(path);
    if p.is_absolute() {
        p
    } else {
        base_dir.join(p)
    }
}

/// Parses durations such as `"500ms"`, `"2s"`, `"30m"`, `"1h 30m"`.
///
/// # Errors
/// A message saying what was expected.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("not a duration like \"500ms\", \"2s\" or \"30m\": {e}"))
}

/// A cursor over one TOML table that records which keys were read, so the keys left over
/// at [`Section::finish`] are reported as unknown.
struct Section<'a> {
    table: &'a toml::Table,
    /// Key prefix for messages: `""` at the root, `"detect."` inside `[detect]`.
    prefix: String,
    seen: Vec<&'a str>,
    problems: &'a mut Vec<Problem>,
}

impl<'a> Section<'a> {
    fn new(table: &'a toml::Table, prefix: &str, problems: &'a mut Vec<Problem>) -> Self {
        Section {
            table,
            prefix: prefix.to_string(),
            seen: Vec::new(),
            problems,
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    fn problem(&mut self, key: &str, message: String) {
        let key = self.key(key);
        self.problems.push(Problem { key, message });
    }

    fn get(&mut self, key: &'a str) -> Option<&'a toml::Value> {
        self.seen.push(key);
        self.table.get(key)
    }

    fn string(&mut self, key: &'static str, required: bool) -> Option<String> {
        match self.get(key) {
            None if required => {
                self.problem(key, "missing (required)".into());
                None
            }
            None => None,
            Some(toml::Value::String(v)) if required && v.trim().is_empty() => {
                self.problem(key, "must not be empty".into());
                None
            }
            Some(toml::Value::String(v)) => Some(v.clone()),
            Some(other) => {
                self.problem(key, format!("must be a string, got {}", other.type_str()));
                None
            }
        }
    }

    /// A number in `0.0..=1.0` (integers are accepted: `1` means `1.0`).
    fn fraction(&mut self, key: &'static str) -> Option<f64> {
        let value = match self.get(key)? {
            toml::Value::Float(v) => *v,
            toml::Value::Integer(v) => *v as f64,
            other => {
                let t = other.type_str();
                self.problem(key, format!("must be a number between 0 and 1, got {t}"));
                return None;
            }
        };
        if !(value > 0.0 && value <= 1.0) {
            self.problem(
                key,
                format!("must be greater than 0 and at most 1, got {value}"),
            );
            return None;
        }
        Some(value)
    }

    fn string_list(&mut self, key: &'static str) -> Vec<String> {
        match self.get(key) {
            None => Vec::new(),
            Some(toml::Value::Array(items)) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match item {
                        toml::Value::String(v) => out.push(v.clone()),
                        other => {
                            let t = other.type_str();
                            self.problem(
                                &format!("{key}[{i}]"),
                                format!("must be a string, got {t}"),
                            );
                        }
                    }
                }
                out
            }
            Some(other) => {
                let t = other.type_str();
                self.problem(key, format!("must be an array of strings, got {t}"));
                Vec::new()
            }
        }
    }

    /// A list of `http://` or `https://` URLs.
    fn url_list(&mut self, key: &'static str) -> Vec<url::Url> {
        let mut out = Vec::new();
        for (i, text) in self.string_list(key).into_iter().enumerate() {
            match url::Url::parse(&text) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                    out.push(u)
                }
                Ok(_) => self.problem(
                    &format!("{key}[{i}]"),
                    format!("must be an http:// or https:// URL, got {text:?}"),
                ),
                Err(e) => {
                    self.problem(&format!("{key}[{i}]"), format!("invalid URL {text:?}: {e}"))
                }
            }
        }
        out
    }

    fn duration(&mut self, key: &'static str) -> Option<Duration> {
        match self.get(key)? {
            toml::Value::String(v) => match parse_duration(v) {
                Ok(d) if !d.is_zero() => Some(d),
                Ok(_) => {
                    self.problem(key, "must be longer than zero".into());
                    None
                }
                Err(e) => {
                    self.problem(key, format!("{e}, got {v:?}"));
                    None
                }
            },
            other => {
                let t = other.type_str();
                self.problem(
                    key,
                    format!("must be a duration string like \"30m\", got {t}"),
                );
                None
            }
        }
    }

    fn positive_integer(&mut self, key: &'static str) -> Option<u64> {
        match self.get(key)? {
            toml::Value::Integer(v) if *v >= 1 && *v <= 1_000_000 => Some(*v as u64),
            toml::Value::Integer(v) => {
                self.problem(key, format!("must be between 1 and 1000000, got {v}"));
                None
            }
            other => {
                let t = other.type_str();
                self.problem(key, format!("must be an integer, got {t}"));
                None
            }
        }
    }

    fn boolean(&mut self, key: &'static str) -> Option<bool> {
        match self.get(key)? {
            toml::Value::Boolean(v) => Some(*v),
            other => {
                let t = other.type_str();
                self.problem(key, format!("must be true or false, got {t}"));
                None
            }
        }
    }

    /// An integer in `min..=max`.
    fn integer_in(&mut self, key: &'static str, min: i64, max: i64) -> Option<i64> {
        match self.get(key)? {
            toml::Value::Integer(v) if (min..=max).contains(v) => Some(*v),
            toml::Value::Integer(v) => {
                self.problem(key, format!("must be between {min} and {max}, got {v}"));
                None
            }
            other => {
                let t = other.type_str();
                self.problem(key, format!("must be an integer, got {t}"));
                None
            }
        }
    }

    /// A calendar date, `2026-01-31` (a TOML date or a string).
    fn date(&mut self, key: &'static str, required: bool) -> Option<chrono::NaiveDate> {
        let text = match self.get(key) {
            None => {
                if required {
                    self.problem(key, "missing (required)".into());
                }
                return None;
            }
            Some(toml::Value::String(v)) => v.trim().to_string(),
            Some(toml::Value::Datetime(v)) => v.to_string(),
            Some(other) => {
                let t = other.type_str();
                self.problem(key, format!("must be a date like 2026-01-31, got {t}"));
                return None;
            }
        };
        match chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                self.problem(key, format!("must be a date like 2026-01-31, got {text:?}"));
                None
            }
        }
    }

    /// A duration string where zero is allowed (`"0s"`: no delay).
    fn duration_or_zero(&mut self, key: &'static str) -> Option<Duration> {
        match self.get(key)? {
            toml::Value::String(v) => match parse_duration(v) {
                Ok(d) => Some(d),
                Err(e) => {
                    self.problem(key, format!("{e}, got {v:?}"));
                    None
                }
            },
            other => {
                let t = other.type_str();
                self.problem(
                    key,
                    format!("must be a duration string like \"2s\", got {t}"),
                );
                None
            }
        }
    }

    /// One optional `http://` or `https://` URL.
    fn url(&mut self, key: &'static str) -> Option<url::Url> {
        let text = self.string(key, false)?;
        match url::Url::parse(&text) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
            Ok(_) => {
                self.problem(
                    key,
                    format!("must be an http:// or https:// URL, got {text:?}"),
                );
                None
            }
            Err(e) => {
                self.problem(key, format!("invalid URL {text:?}: {e}"));
                None
            }
        }
    }

    /// A list of domain names (`example.com`; `*.example.com` and `.example.com` mean
    /// the same, since a domain always covers its subdomains).
    fn domain_list(&mut self, key: &'static str) -> DomainSet {
        let mut out = DomainSet::default();
        for (i, text) in self.string_list(key).into_iter().enumerate() {
            match crate::crawl::urls::parse_domain(&text) {
                Ok(domain) => out.insert(&domain),
                Err(e) => self.problem(&format!("{key}[{i}]"), e),
            }
        }
        out
    }

    /// Parses the sub-table `key` with `parse`; a missing required table is a problem.
    fn table<T>(
        &mut self,
        key: &'static str,
        required: bool,
        parse: impl FnOnce(&mut Section<'_>) -> Option<T>,
    ) -> Option<T> {
        let prefix = self.key(key);
        match self.get(key) {
            None => {
                if required {
                    self.problem(key, "missing section".into());
                }
                None
            }
            Some(toml::Value::Table(t)) => {
                let mut section = Section::new(t, &format!("{prefix}."), self.problems);
                let value = parse(&mut section);
                section.finish();
                value
            }
            Some(other) => {
                let t = other.type_str();
                self.problem(key, format!("must be a table ([{prefix}]), got {t}"));
                None
            }
        }
    }

    /// Parses an array of tables (`[[key]]`); entries that fail are dropped after their
    /// problems are recorded.
    fn array_of_tables<T>(
        &mut self,
        key: &'static str,
        mut parse: impl FnMut(&mut Section<'_>) -> Option<T>,
    ) -> Vec<T> {
        let prefix = self.key(key);
        match self.get(key) {
            None => Vec::new(),
            Some(toml::Value::Array(items)) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match item {
                        toml::Value::Table(t) => {
                            let mut section =
                                Section::new(t, &format!("{prefix}[{i}]."), self.problems);
                            let value = parse(&mut section);
                            section.finish();
                            out.extend(value);
                        }
                        other => self.problems.push(Problem {
                            key: format!("{prefix}[{i}]"),
                            message: format!("must be a table, got {}", other.type_str()),
                        }),
                    }
                }
                out
            }
            Some(other) => {
                let t = other.type_str();
                self.problem(
                    key,
                    format!("must be an array of tables ([[{prefix}]]), got {t}"),
                );
                Vec::new()
            }
        }
    }

    /// Reports every key of this table that no parser asked for.
    fn finish(self) {
        for key in self.table.keys() {
            if !self.seen.contains(&key.as_str()) {
                self.problems.push(Problem {
                    key: format!("{}{}", self.prefix, key),
                    message: "unknown key".into(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[outlet]
name = "Example Daily"
website = "https://news.example.com"
address = "1 Example Road"
"#;

    fn problems(source: &str) -> Vec<String> {
        match Settings::parse(source, Path::new("/etc/copyhound")) {
            Ok(_) => Vec::new(),
            Err(e) => e.problems(),
        }
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let s = Settings::parse(MINIMAL, Path::new("/etc/copyhound")).unwrap();
        assert_eq!(s.outlet.language, Language::ZhCn);
        assert_eq!(s.storage.dir, PathBuf::from(DEFAULT_STORAGE_DIR));
        assert_eq!(s.detect, DetectParams::default());
        assert!(s.contacts.is_empty());
    }

    #[test]
    fn evidence_browser_keys_are_validated() {
        let base = "[outlet]\nname = \"n\"\nwebsite = \"https://n.example\"\naddress = \"a\"\n";
        let ok = Settings::parse(
            &format!("{base}[evidence]\nbrowser = \"bin/chromium\"\nbrowser_timeout = \"20s\"\nbrowser_memory_mb = 512\n"),
            Path::new("/etc/copyhound"),
        )
        .unwrap();
        assert_eq!(
            ok.evidence,
            EvidenceSettings {
                browser: Some(PathBuf::from("/etc/copyhound/bin/chromium")),
                browser_timeout: Duration::from_secs(20),
                browser_memory_mb: 512,
                ..EvidenceSettings::default()
            }
        );
        let none = Settings::parse(base, Path::new("/etc")).unwrap();
        assert_eq!(none.evidence, EvidenceSettings::default());
        assert_eq!(none.evidence.browser, None);
        let p = problems(&format!(
            "{base}[evidence]\nbrowser = \" \"\nbrowser_timeout = \"1h\"\nbrowser_memory_mb = 16\nbrowsr = \"x\"\n"
        ));
        for needle in [
            "evidence.browser: must not be empty",
            "evidence.browser_timeout: must be at most 10m",
            "evidence.browser_memory_mb: must be between 256 and 65536",
            "evidence.browsr: unknown key",
        ] {
            assert!(p.iter().any(|x| x.contains(needle)), "{needle}: {p:?}");
        }
    }

    #[test]
    fn email_keys_are_validated() {
        let base = "[outlet]\nname = \"n\"\nwebsite = \"https://n.example\"\naddress = \"a\"\n";
        let ok = Settings::parse(
            &format!("{base}[email]\nsmtp_url = \"smtp://127.0.0.1:2525\"\nstarttls = \"opportunistic\"\nfrom = \"c <c@n.example>\"\nusername = \"u\"\ndigest_after = 2\ndigest_window = \"1m\"\nlegal_min_containment = 0.5\n"),
            Path::new("/etc"),
        )
        .unwrap();
        let smtp = ok.email.smtp.as_ref().unwrap();
        assert_eq!((smtp.host.as_str(), smtp.port), ("127.0.0.1", 2525));
        assert_eq!(smtp.security, SmtpSecurity::StartTlsOpportunistic);
        assert_eq!(smtp.display_url(), "smtp://127.0.0.1:2525");
        assert_eq!(ok.email.digest_after, 2);
        assert_eq!(ok.email.legal_min_containment, 0.5);
        let implicit = Settings::parse(
            &format!(
                "{base}[email]\nsmtp_url = \"smtps://mail.n.example\"\nfrom = \"c@n.example\"\n"
            ),
            Path::new("/etc"),
        )
        .unwrap();
        let smtp = implicit.email.smtp.unwrap();
        assert_eq!((smtp.port, smtp.security), (465, SmtpSecurity::ImplicitTls));
        let p = problems(&format!(
            "{base}[email]\nsmtp_url = \"http://x:25\"\nstarttls = \"maybe\"\nfrom = \"a\\r\\nBcc: b@c.d\"\npassword_file = \"p\"\nretry_initial = \"2h\"\ndigest_windw = \"1m\"\n"
        ));
        for needle in [
            "email.smtp_url: must be smtp://host:port or smtps://host:port",
            "email.starttls: must be",
            "email.from: not a mailbox",
            "email.password_file: needs username",
            "email.retry_initial: must not exceed retry_max",
            "email.digest_windw: unknown key",
        ] {
            assert!(p.iter().any(|x| x.contains(needle)), "{needle}: {p:?}");
        }
        let p = problems(&format!(
            "{base}[email]\nsmtp_url = \"smtp://u:secret@x:25\"\n"
        ));
        assert!(
            p.iter().any(|x| x.contains("must not contain credentials")),
            "{p:?}"
        );
        assert!(!p.iter().any(|x| x.contains("secret")), "{p:?}");
        assert!(p.iter().any(|x| x.contains("email.from: missing")), "{p:?}");
    }

    #[test]
    fn database_ca_file_is_read_at_load_and_needs_tls() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("db-ca.pem"),
            include_bytes!("evidence/testdata/tsa-ca.pem"),
        )
        .unwrap();
        let url = "postgres://copyhound@db.example/ch";
        let parse = |url: &str, ca: &str| {
            Settings::parse(
                &format!(
                    "{MINIMAL}\n[storage]\ndatabase_url = \"{url}\"\ndatabase_ca_file = \"{ca}\"\n"
                ),
                dir.path(),
            )
        };
        let ok = parse(&format!("{url}?sslmode=verify-full"), "db-ca.pem").unwrap();
        let db = ok.storage.database.unwrap();
        assert_eq!(db.ca_file, Some(dir.path().join("db-ca.pem")));
        let problems = |r: Result<Settings, ConfigError>| r.unwrap_err().problems().join("\n");
        let p = problems(parse(&format!("{url}?sslmode=verify-full"), "missing.pem"));
        assert!(
            p.contains("storage.database_ca_file: ") && p.contains("missing.pem"),
            "{p}"
        );
        let p = problems(parse(url, "db-ca.pem"));
        assert!(
            p.contains("storage.database_ca_file: is used only for TLS"),
            "{p}"
        );
        let p = problems(Settings::parse(
            &format!("{MINIMAL}\n[storage]\ndatabase_ca_file = \"db-ca.pem\"\n"),
            dir.path(),
        ));
        assert!(
            p.contains("storage.database_ca_file: needs database_url"),
            "{p}"
        );
    }

    #[test]
    fn evidence_keys_are_validated() {
        let s = Settings::parse(MINIMAL, Path::new("/etc")).unwrap();
        assert!(!s.evidence.timestamps_enabled(), "no TSA: no timestamps");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("tsa-ca.pem"),
            include_bytes!("evidence/testdata/tsa-ca.pem"),
        )
        .unwrap();
        let ok = Settings::parse(
            &format!("{MINIMAL}\n[evidence]\ntsa_urls = [\"http://tsa.example/a\", \"https://tsa2.example/\"]\ntsa_ca_file = \"tsa-ca.pem\"\ntsa_retry = \"30s\"\n"),
            dir.path(),
        )
        .unwrap();
        assert!(ok.evidence.timestamps_enabled());
        assert_eq!(ok.evidence.tsa_urls[1].as_str(), "https://tsa2.example/");
        assert_eq!(ok.evidence.tsa_ca_file, Some(dir.path().join("tsa-ca.pem")));
        assert_eq!(ok.evidence.tsa_retry, Duration::from_secs(30));
        assert_eq!(ok.evidence.tsa_timeout, Duration::from_secs(30));
        assert_eq!(ok.evidence.tsa().unwrap().anchors.len(), 1);

        let problems = |extra: &str| -> Vec<String> {
            match Settings::parse(&format!("{MINIMAL}\n[evidence]\n{extra}"), dir.path()) {
                Err(ConfigError::Invalid { problems, .. }) => {
                    problems.iter().map(ToString::to_string).collect()
                }
                other => panic!("{extra}: expected problems, got {other:?}"),
            }
        };
        assert!(problems("tsa_urls = [\"http://t.example/\"]\n")[0]
            .starts_with("evidence.tsa_ca_file: required with tsa_urls"));
        assert!(
            problems("tsa_urls = [\"ftp://t.example/\"]\ntsa_ca_file = \"tsa-ca.pem\"\n")[0]
                .starts_with("evidence.tsa_urls[0]: must be an http")
        );
        assert!(
            problems("tsa_ca_file = \"missing.pem\"\n")[0].starts_with("evidence.tsa_ca_file: ")
        );
        assert!(problems("tsa_retry = \"1h\"\ntsa_retry_max = \"1m\"\n")[0]
            .starts_with("evidence.tsa_retry_max: must be at least tsa_retry"));
        assert!(problems("tsa_url = \"x\"\n")[0].contains("evidence.tsa_url"));
    }

    #[test]
    fn example_config_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/copyhound.toml");
        let s = Settings::load(&path).unwrap();
        assert_eq!(s.contacts.len(), 2);
        assert!(s.contacts.iter().any(|c| c.role == Role::Legal));
        assert!(s.contacts.iter().any(|c| c.role == Role::Licensing));
    }

    #[test]
    fn relative_storage_dir_is_resolved_against_the_config_folder() {
        let src = format!("{MINIMAL}\n[storage]\ndir = \"state\"\n");
        let s = Settings::parse(&src, Path::new("/etc/copyhound")).unwrap();
        assert_eq!(s.storage.dir, PathBuf::from("/etc/copyhound/state"));
        assert_eq!(
            s.storage.evidence,
            EvidenceLocation::Dir(PathBuf::from("/etc/copyhound/state/evidence"))
        );
    }

    #[test]
    fn evidence_lives_in_a_shared_folder_or_a_bucket() {
        let dir = format!("{MINIMAL}\n[storage]\nevidence_dir = \"/mnt/shared/evidence\"\n");
        let s = Settings::parse(&dir, Path::new("/etc/copyhound")).unwrap();
        assert_eq!(
            s.storage.evidence,
            EvidenceLocation::Dir(PathBuf::from("/mnt/shared/evidence"))
        );
        let bucket = format!(
            "{MINIMAL}\n[storage]\nevidence_url = \"s3://copyhound-evidence/outlet/a/\"\n\
             evidence_endpoint = \"http://127.0.0.1:9000/\"\nevidence_credentials_file = \"s3.keys\"\n"
        );
        let s = Settings::parse(&bucket, Path::new("/etc/copyhound")).unwrap();
        assert_eq!(
            s.storage.evidence,
            EvidenceLocation::Bucket(BucketSettings {
                url: "s3://copyhound-evidence/outlet/a/".into(),
                bucket: "copyhound-evidence".into(),
                prefix: "outlet/a".into(),
                endpoint: Some("http://127.0.0.1:9000".into()),
                region: "us-east-1".into(),
                credentials_file: Some(PathBuf::from("/etc/copyhound/s3.keys")),
            })
        );
        let cases = [
            (
                "evidence_dir = \"/x\"\nevidence_url = \"s3://abc\"",
                "storage.evidence_dir: set with evidence_url",
            ),
            (
                "evidence_url = \"https://abc\"",
                "storage.evidence_url: \"https://abc\" is not",
            ),
            (
                "evidence_url = \"s3://A_b\"",
                "storage.evidence_url: \"A_b\" is not a bucket name",
            ),
            (
                "evidence_url = \"s3://abc/x/../y\"",
                "storage.evidence_url: \"x/../y\" is not",
            ),
            (
                "evidence_url = \"s3://abc\"\nevidence_endpoint = \"http://k:s@h:9000\"",
                "storage.evidence_endpoint: must not hold credentials",
            ),
            (
                "evidence_url = \"s3://abc\"\nevidence_endpoint = \"ftp://h\"",
                "storage.evidence_endpoint: \"ftp://h\" is not",
            ),
            (
                "evidence_url = \"s3://abc\"\nevidence_region = \"eu west\"",
                "storage.evidence_region: \"eu west\" is not a region",
            ),
            (
                "evidence_region = \"eu-west-1\"",
                "storage.evidence_region: needs evidence_url",
            ),
            (
                "evidence_dir = \" \"",
                "storage.evidence_dir: must not be empty",
            ),
        ];
        for (keys, expected) in cases {
            let p = problems(&format!("{MINIMAL}\n[storage]\n{keys}\n"));
            assert!(p.iter().any(|p| p.starts_with(expected)), "{keys}: {p:?}");
        }
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let src = r#"
[outlet]
name = "Example Daily"
website = "ftp://news.example.com"
language = "fr"
colour = "blue"

[[contacts]]
role = "lawyer"
name = "A"
email = "not-an-email"

[detect]
copy_treshold = 0.5
partial_threshold = 1.5
partial_min_paragraphs = 0
"#;
        let got = problems(src);
        let expected = [
            "outlet.address: missing (required)",
            "outlet.website: must be an http:// or https:// URL",
            "outlet.language: must be \"zh-CN\" or \"en\", got \"fr\"",
            "outlet.colour: unknown key",
            "contacts[0].role: must be \"legal\" or \"licensing\", got \"lawyer\"",
            "contacts[0].email: not an email address",
            "detect.copy_treshold: unknown key",
            "detect.partial_threshold: must be greater than 0 and at most 1, got 1.5",
            "detect.partial_min_paragraphs: must be between 1 and 1000000, got 0",
        ];
        for e in expected {
            assert!(
                got.iter().any(|g| g.contains(e)),
                "missing {e:?} in {got:#?}"
            );
        }
        assert_eq!(got.len(), expected.len(), "{got:#?}");
    }

    #[test]
    fn wrong_types_are_named() {
        let src = format!("{MINIMAL}\n[detect]\ncopy_threshold = \"high\"\n");
        let got = problems(&src);
        assert_eq!(
            got,
            vec!["detect.copy_threshold: must be a number between 0 and 1, got string"]
        );
    }

    #[test]
    fn partial_above_copy_is_refused() {
        let src = format!("{MINIMAL}\n[detect]\ncopy_threshold = 0.5\npartial_threshold = 0.7\n");
        let got = problems(&src);
        assert_eq!(got.len(), 1);
        assert!(got[0].contains("detect.partial_threshold: must not exceed copy_threshold"));
    }

    #[test]
    fn verdict_length_keys_parse_and_are_checked() {
        let src = format!(
            "{MINIMAL}\n[detect]\npartial_min_cjk_chars = 300\npartial_min_words = 60\nquote_max_coverage = 0.4\n"
        );
        let s = Settings::parse(&src, Path::new("/etc/copyhound")).unwrap();
        assert_eq!(s.detect.partial_min_cjk_chars, 300);
        assert_eq!(s.detect.partial_min_words, 60);
        assert_eq!(s.detect.quote_max_coverage, 0.4);
        assert_eq!(
            s.detect.copy_threshold,
            DetectParams::default().copy_threshold
        );

        let src = format!(
            "{MINIMAL}\n[detect]\npartial_min_cjk_chars = 5\npartial_min_words = 0\nquote_max_coverage = 2\n"
        );
        assert_eq!(
            problems(&src),
            vec![
                "detect.partial_min_words: must be between 1 and 1000000, got 0",
                "detect.partial_min_cjk_chars: must be at least min_passage_cjk (12), got 5",
                "detect.quote_max_coverage: must be greater than 0 and at most 1, got 2",
            ]
        );
        let src = format!("{MINIMAL}\n[detect]\nmin_passage_words = 20\npartial_min_words = 10\n");
        assert_eq!(
            problems(&src),
            vec!["detect.partial_min_words: must be at least min_passage_words (20), got 10"]
        );
    }

    #[test]
    fn webhooks_parse_with_email_filters_as_defaults() {
        let src = format!(
            "{MINIMAL}\n[email]\nlicensing_min_containment = 0.4\n\n[web]\npublic_url = \"https://desk.example/ch\"\n\n[notify]\nretry_initial = \"1s\"\n\n[[notify.webhooks]]\nkind = \"dingtalk\"\nurl_env = \"DING_URL\"\nsecret_file = \"ding.secret\"\nroles = [\"legal\"]\nlegal_min_containment = 0.6\n\n[[notify.webhooks]]\nname = \"team-chat\"\nkind = \"slack\"\nurl = \"https://hooks.example/services/T/B/X\"\nroles = [\"legal\", \"licensing\"]\n"
        );
        let s = Settings::parse(&src, Path::new("/etc/copyhound")).unwrap();
        let [ding, slack] = &s.notify.webhooks[..] else {
            panic!("two webhooks: {:?}", s.notify.webhooks);
        };
        assert_eq!(ding.name, "dingtalk");
        assert_eq!(ding.kind, WebhookKind::Dingtalk);
        assert_eq!(ding.url, SecretSource::Env("DING_URL".into()));
        assert_eq!(
            ding.secret,
            Some(SecretSource::File("/etc/copyhound/ding.secret".into()))
        );
        assert_eq!(ding.roles, vec![Role::Legal]);
        assert_eq!(ding.legal_min_containment, 0.6);
        assert_eq!(ding.licensing_min_containment, 0.4);
        assert_eq!(slack.name, "team-chat");
        assert_eq!(slack.roles, vec![Role::Legal, Role::Licensing]);
        assert_eq!(s.notify.retry_initial, Duration::from_secs(1));
        assert_eq!(
            s.web.public_url.as_ref().map(url::Url::as_str),
            Some("https://desk.example/ch")
        );
        // The inline URL holds the token: Debug output never shows it.
        let debug = format!("{s:?}");
        assert!(!debug.contains("hooks.example"), "{debug}");
    }

    #[test]
    fn bad_webhooks_are_named_by_key() {
        let src = format!(
            "{MINIMAL}\n[[notify.webhooks]]\nkind = \"teams\"\nurl_env = \"X\"\nroles = [\"legal\"]\n\n[[notify.webhooks]]\nkind = \"dingtalk\"\nurl_env = \"X\"\nroles = [\"sales\"]\n\n[[notify.webhooks]]\nkind = \"feishu\"\nurl = \"ftp://x.example/\"\nurl_env = \"Y\"\nroles = [\"licensing\"]\nsecret_env = \"S\"\n\n[[notify.webhooks]]\nkind = \"slack\"\nurl_file = \"u\"\n\n[[notify.webhooks]]\nkind = \"slack\"\nurl_file = \"u\"\nroles = [\"legal\"]\n\n[[notify.webhooks]]\nkind = \"slack\"\nurl_file = \"u\"\nroles = [\"legal\"]\nsecret_env = \"S\"\ncolour = 1\n"
        );
        let got = problems(&src);
        let expect = [
            "notify.webhooks[0].kind: must be \"wecom\", \"dingtalk\", \"feishu\", \"slack\" or \"generic\", got \"teams\"",
            "notify.webhooks[1].secret_file: missing: a dingtalk robot signs every message",
            "notify.webhooks[1].roles[0]: must be \"legal\" or \"licensing\", got \"sales\"",
            "notify.webhooks[2].url: give only one of url, url_file and url_env",
            "notify.webhooks[3].roles: missing",
            "notify.webhooks[5].secret_env: has no effect for kind = \"slack\"",
            "notify.webhooks[5].colour: unknown key",
            "notify.webhooks[4].name: \"slack\" is given twice",
            "notify.webhooks[5].name: \"slack\" is given twice",
        ];
        for e in expect {
            assert!(got.iter().any(|g| g.starts_with(e)), "{e}\n{got:#?}");
        }
        assert_eq!(got.len(), expect.len(), "{got:#?}");
    }

    #[test]
    fn licences_parse_with_defaults_and_problems_named() {
        let s = Settings::parse(
            &format!("{MINIMAL}\n[[licences]]\npartner = \"天天资讯网\"\ndomains = [\"tiantian.example\", \"127.0.0.1:8080\"]\nvalid_from = 2026-01-01\nvalid_to = \"2026-12-31\"\nattribution_forms = [\"来源：江城日报\"]\nscope = \"excerpt\"\nexcerpt_max_share = 0.4\n\n[[licences]]\npartner = \"晨报\"\ndomains = [\"chenbao.example\"]\nvalid_from = \"2025-06-01\"\n"),
            Path::new("/etc"),
        )
        .unwrap();
        let [a, b] = &s.licences[..] else {
            panic!("two licences: {:?}", s.licences)
        };
        assert_eq!(a.domains, ["tiantian.example", "127.0.0.1:8080"]);
        assert_eq!(a.valid_to.unwrap().to_string(), "2026-12-31");
        assert_eq!(a.terms.scope, crate::licences::Scope::Excerpt);
        assert_eq!(a.terms.excerpt_max_share, 0.4);
        assert_eq!(a.key(), "config:天天资讯网");
        assert!(b.valid_to.is_none() && b.terms.attribution && b.terms.link_back);
        assert_eq!(b.terms.scope, crate::licences::Scope::Full);
        assert_eq!(
            problems(&format!("{MINIMAL}\n[[licences]]\npartner = \"A\"\ndomains = [\"http://a.example/\"]\nvalid_from = \"2026-13-01\"\nscope = \"all\"\nlink = true\n\n[[licences]]\npartner = \"A\"\ndomains = []\nvalid_from = \"2026-02-01\"\nvalid_to = \"2026-01-01\"\nexcerpt_max_share = 0.5\n")),
            [
                "licences[0].domains[0]: must be a domain name such as \"example.com\", got \"http://a.example/\"",
                "licences[0].valid_from: must be a date like 2026-01-31, got \"2026-13-01\"",
                "licences[0].scope: must be \"full\" or \"excerpt\", got \"all\"",
                "licences[0].link: unknown key",
                "licences[1].domains: missing (required): the partner's domains",
                "licences[1].excerpt_max_share: has no effect with scope = \"full\"",
                "licences[1].valid_to: is before valid_from (2026-02-01)",
            ]
        );
    }

    #[test]
    fn unknown_top_level_section_is_an_error() {
        let src = format!("{MINIMAL}\n[detecct]\ncopy_threshold = 0.5\n");
        assert_eq!(problems(&src), vec!["detecct: unknown key".to_string()]);
    }

    #[test]
    fn missing_role_is_reported() {
        let src = format!(
            "{MINIMAL}\n[[contacts]]\nrole = \"legal\"\nname = \"L\"\nemail = \"l@example.com\"\n"
        );
        let got = problems(&src);
        assert_eq!(got.len(), 1);
        assert!(got[0].contains("no contact with role = \"licensing\""));
    }

    #[test]
    fn syntax_errors_give_line_and_column() {
        let err = Settings::parse("[outlet\nname = 1", Path::new(".")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("line 1, column"), "{msg}");
    }

    #[test]
    fn originals_and_index_keys_are_validated() {
        let src = format!(
            "{MINIMAL}\n[originals]\nfeeds = [\"https://news.example.com/rss.xml\", \"ftp://x/feed\"]\nsitemaps = [\"not a url\"]\npaths = [\"archive\"]\nrefresh = \"soon\"\n[index]\nmax_distance = 9\n"
        );
        let got = problems(&src);
        for e in [
            "originals.feeds[1]: must be an http:// or https:// URL",
            "originals.sitemaps[0]: invalid URL",
            "originals.refresh: not a duration",
            "index.max_distance: must be an integer from 0 to 6, got 9",
        ] {
            assert!(
                got.iter().any(|g| g.contains(e)),
                "missing {e:?} in {got:#?}"
            );
        }
        assert_eq!(got.len(), 4, "{got:#?}");
        let ok = format!(
            "{MINIMAL}\n[originals]\nfeeds = [\"https://news.example.com/rss.xml\"]\npaths = [\"archive\"]\nrefresh = \"15m\"\n"
        );
        let s = Settings::parse(&ok, Path::new("/srv")).unwrap();
        assert_eq!(s.originals.paths, vec![PathBuf::from("/srv/archive")]);
        assert_eq!(s.originals.refresh, Duration::from_secs(900));
        assert_eq!(s.index.max_distance, 3);
        assert!(s.index.mapped);
        assert_eq!(s.index.mapped_dir(&s.storage), s.storage.dir.join("index"));
        let mapped = format!("{MINIMAL}\n[index]\nmapped = false\ndir = \"idx\"\n");
        let s = Settings::parse(&mapped, Path::new("/srv")).unwrap();
        assert!(!s.index.mapped);
        assert_eq!(s.index.mapped_dir(&s.storage), PathBuf::from("/srv/idx"));
        let bad = format!("{MINIMAL}\n[index]\nmapped = \"yes\"\ndir = \"\"\n");
        let got = Settings::parse(&bad, Path::new("/srv"))
            .unwrap_err()
            .to_string();
        assert!(
            got.contains("index.mapped") && got.contains("index.dir"),
            "{got}"
        );
    }

    #[test]
    fn host_overrides_parse_and_bad_selectors_name_their_key() {
        let src = format!(
            "{MINIMAL}\n[[originals.hosts]]\nhost = \"WWW.News.Example.com\"\nbody = \"div.article-body\"\ndrop = [\".promo\", \"figure > figcaption\"]\n"
        );
        let s = Settings::parse(&src, Path::new("/srv")).unwrap();
        assert_eq!(s.originals.hosts.len(), 1);
        assert_eq!(s.originals.hosts[0].host, "www.news.example.com");
        let rules = s.originals.rules_for("www.news.example.com").unwrap();
        assert!(rules.body.is_some());
        assert_eq!(rules.drop.len(), 2);
        let bad = format!(
            "{MINIMAL}\n[[originals.hosts]]\nhost = \"a.example\"\nbody = \"div[\"\n[[originals.hosts]]\nhost = \"b.example\"\ndrop = [\"p\", \"::\"]\n[[originals.hosts]]\nhost = \"c.example\"\n"
        );
        let got = problems(&bad);
        for e in [
            "originals.hosts[0].body: not a CSS selector",
            "originals.hosts[1].drop[1]: not a CSS selector",
            "originals.hosts[2].body: a host entry needs `body` or `drop`",
        ] {
            assert!(
                got.iter().any(|g| g.contains(e)),
                "missing {e:?} in {got:#?}"
            );
        }
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert!(parse_duration("2 parsecs").is_err());
    }

    #[test]
    fn crawl_defaults_and_seed_scope() {
        let s = Settings::parse(MINIMAL, Path::new("/etc/copyhound")).unwrap();
        let c = &s.crawl;
        assert_eq!(c.max_depth, 3);
        assert_eq!(c.per_host_delay, Duration::from_secs(2));
        assert_eq!(c.concurrency, 8);
        assert!(!c.allow_private_networks);
        assert_eq!(
            c.user_agent,
            format!(
                "copyhound/{} (+https://news.example.com)",
                env!("CARGO_PKG_VERSION")
            )
        );
        assert!(c.tracking_params.iter().any(|p| p == "utm_*"));
        assert_eq!(s.discovery.searxng_url, None);

        let src = format!(
            "{MINIMAL}\n[crawl]\nseeds = [\"https://www.copier.example/news/\"]\nscope = [\"mirror.example\"]\nlicensed = [\"partner.example\"]\nmax_depth = 0\nper_host_delay = \"500ms\"\nconcurrency = 2\ntracking_params = [\"ref\", \"track_*\"]\n[discovery]\nsearxng_url = \"http://127.0.0.1:8888/\"\ninterval = \"30s\"\n"
        );
        let s = Settings::parse(&src, Path::new("/etc/copyhound")).unwrap();
        let c = &s.crawl;
        assert!(c.scope.contains_host("copier.example"));
        assert!(c.scope.contains_host("img.copier.example"));
        assert!(c.scope.contains_host("mirror.example"));
        assert!(!c.scope.contains_host("partner.example"));
        assert!(c.licensed.contains_host("www.partner.example"));
        assert_eq!(c.max_depth, 0);
        assert_eq!(c.per_host_delay, Duration::from_millis(500));
        assert_eq!(c.concurrency, 2);
        assert_eq!(c.tracking_params, vec!["ref", "track_*"]);
        assert_eq!(s.discovery.interval, Duration::from_secs(30));
        assert_eq!(
            s.discovery.searxng_url.as_ref().map(|u| u.as_str()),
            Some("http://127.0.0.1:8888/")
        );
    }

    #[test]
    fn crawl_problems_are_named() {
        let src = format!(
            "{MINIMAL}\n[crawl]\nseeds = [\"gopher://x.example/\"]\nscope = [\"https://x.example/\"]\nmax_depth = -1\nper_host_delay = \"fast\"\nconcurrency = 0\nuser_agent = \"copyhound/1.0\"\nallow_private_networks = \"yes\"\ntracking_params = [\"a=b\"]\nmax_dept = 3\n[discovery]\nsearxng_url = \"searx\"\nrate = 1\n"
        );
        let got = problems(&src);
        let expected = [
            "crawl.seeds[0]: must be an http:// or https:// URL",
            "crawl.scope[0]: must be a domain name",
            "crawl.max_depth: must be between 0 and 100, got -1",
            "crawl.per_host_delay: not a duration",
            "crawl.concurrency: must be between 1 and 1024, got 0",
            "crawl.user_agent: must contain a contact URL",
            "crawl.allow_private_networks: must be true or false, got string",
            "crawl.tracking_params[0]: must be a parameter name",
            "crawl.max_dept: unknown key",
            "discovery.searxng_url: invalid URL",
            "discovery.rate: unknown key",
        ];
        for e in expected {
            assert!(
                got.iter().any(|g| g.contains(e)),
                "missing {e:?} in {got:#?}"
            );
        }
        assert_eq!(got.len(), expected.len(), "{got:#?}");
    }

    #[test]
    fn cases_keys_are_validated() {
        let s = Settings::parse(MINIMAL, Path::new("/etc/copyhound")).unwrap();
        let day = Duration::from_secs(24 * 3600);
        assert_eq!(
            s.cases.schedule.offsets,
            [day, day * 3, day * 7, day * 14, day * 30]
        );
        assert_eq!(s.cases.deadline.0, day * 7);
        let src = format!(
            "{MINIMAL}\n[cases]\nrecheck = [\"2d\", \"6h\"]\nrecheck_then = \"2weeks\"\ndeadline = \"soon\"\nremind = true\n"
        );
        let got = problems(&src);
        let expected = [
            "cases.recheck[1]: must be later than the one before it, got \"6h\"",
            "cases.deadline: not a duration",
            "cases.remind: unknown key",
        ];
        for e in expected {
            assert!(
                got.iter().any(|g| g.contains(e)),
                "missing {e:?} in {got:#?}"
            );
        }
        assert_eq!(got.len(), expected.len(), "{got:#?}");
        let src = format!("{MINIMAL}\n[cases]\nrecheck = [\"12h\"]\nrecheck_then = \"1w\"\n");
        let s = Settings::parse(&src, Path::new("/etc/copyhound")).unwrap();
        assert_eq!(s.cases.schedule.offsets, [day / 2]);
        assert_eq!(s.cases.schedule.monthly, day * 7);
    }

    #[test]
    fn daemon_and_web_keys_are_validated() {
        let s = Settings::parse(MINIMAL, Path::new("/etc/copyhound")).unwrap();
        assert_eq!(s.daemon.shutdown_timeout, Duration::from_secs(20));
        assert_eq!(s.web.listen.to_string(), "127.0.0.1:8600");
        assert_eq!(s.crawl.cycle_interval, Duration::from_secs(600));
        let src = format!(
            "{MINIMAL}\n[crawl]\ncycle_interval = \"often\"\n[daemon]\nshutdown_timeout = \"1h\"\ngrace = 1\n[web]\nlisten = \"localhost\"\n"
        );
        let got = problems(&src);
        let expected = [
            "crawl.cycle_interval: not a duration",
            "daemon.shutdown_timeout: must be at most 10m, got 1h",
            "daemon.grace: unknown key",
            "web.listen: must be an address and port like \"127.0.0.1:8600\", got \"localhost\"",
        ];
        for e in expected {
            assert!(
                got.iter().any(|g| g.contains(e)),
                "missing {e:?} in {got:#?}"
            );
        }
        assert_eq!(got.len(), expected.len(), "{got:#?}");
    }

    #[test]
    fn review_desk_users() {
        use argon2::PasswordHasher;
        let hash = argon2::Argon2::default()
            .hash_password(b"pw")
            .unwrap()
            .to_string();
        let src = format!(
            "{MINIMAL}\n[web]\nsession_ttl = \"2h\"\nbehind_tls = true\n[[web.users]]\nname = \"wang\"\npassword_hash = \"{hash}\"\n"
        );
        let s = Settings::parse(&src, Path::new("/etc/copyhound")).unwrap();
        assert_eq!(s.web.users.len(), 1);
        assert_eq!(s.web.users[0].name, "wang");
        assert_eq!(s.web.session_ttl, Duration::from_secs(7200));
        assert!(s.web.behind_tls);
        // The hash never shows in debug output (logs).
        assert!(!format!("{:?}", s.web.users[0]).contains("argon2"));

        let argon2i = hash.replacen("argon2id", "argon2i", 1);
        let src = format!(
            "{MINIMAL}\n[web]\nsession_ttl = \"1s\"\n[[web.users]]\nname = \"wang\"\npassword_hash = \"{hash}\"\n[[web.users]]\nname = \"wang\"\npassword_hash = \"{argon2i}\"\n[[web.users]]\nname = \"li\"\npassword_hash = \"secret\"\n[[web.users]]\npassword_hash = \"{hash}\"\n"
        );
        let got = problems(&src);
        let expected = [
            "web.session_ttl: must be between 1m and 30days, got 1s",
            "web.users[1].password_hash: must be an Argon2id hash, got argon2i",
            "web.users[2].password_hash: not a PHC password hash",
            "web.users[3].name: missing",
            "web.users[1].name: \"wang\" is given twice",
        ];
        for e in expected {
            assert!(
                got.iter().any(|g| g.contains(e)),
                "missing {e:?} in {got:#?}"
            );
        }
        assert_eq!(got.len(), expected.len(), "{got:#?}");
    }

    #[test]
    fn user_agent_contact_check() {
        assert!(user_agent_has_contact(
            "copyhound/1 (+https://news.example.com)"
        ));
        assert!(user_agent_has_contact("copyhound/1 (http://x.example/bot)"));
        assert!(!user_agent_has_contact("copyhound/1"));
        assert!(!user_agent_has_contact("copyhound/1 (+https://)"));
        assert!(!user_agent_has_contact("copyhound/1 (mailto:a@b.example)"));
    }

    #[test]
    fn header_breaking_emails_are_refused() {
        assert!(looks_like_email("legal@example.com"));
        assert!(!looks_like_email("legal@example.com\r\nBcc: x@evil.com"));
        assert!(!looks_like_email("a b@example.com"));
        assert!(!looks_like_email("@example.com"));
        assert!(!looks_like_email("a@localhost"));
    }
}
