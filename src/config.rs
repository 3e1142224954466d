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
    pub refresh: std::time::Duration,
    /// A sentence found in at least this many originals is boilerplate (the
    /// anti-infringement notice, bylines) and carries no weight in matching.
    pub boilerplate_min_originals: u32,
}

impl Default for OriginalsSettings {
    fn default() -> Self {
        OriginalsSettings {
            feeds: Vec::new(),
            sitemaps: Vec::new(),
            paths: Vec::new(),
            refresh: std::time::Duration::from_secs(30 * 60),
            boilerplate_min_originals: 3,
        }
    }
}

/// The Hamming index (`[index]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexSettings {
    /// Segment fingerprints within this many differing bits are candidates (0..=6).
    pub max_distance: u32,
}

impl Default for IndexSettings {
    fn default() -> Self {
        IndexSettings { max_distance: 3 }
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
        Settings::parse(&source, base).map_err(|e| e.with_path(path))
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
            let index = root.table("index", false, parse_index);
            root.finish();
            (outlet, contacts, storage, detect, originals, index)
        };
        check_contacts(&settings.1, &mut problems);
        match settings {
            (Some(outlet), contacts, storage, detect, originals, index) if problems.is_empty() => {
                Ok(Settings {
                    outlet,
                    contacts,
                    storage: storage.unwrap_or_else(|| Storage {
                        dir: PathBuf::from(DEFAULT_STORAGE_DIR),
                    }),
                    detect: detect.unwrap_or_default(),
                    originals: originals.unwrap_or_default(),
                    index: index.unwrap_or_default(),
                })
            }
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
            storage: Storage {
                dir: PathBuf::from(DEFAULT_STORAGE_DIR),
            },
            detect: DetectParams::default(),
            originals: OriginalsSettings::default(),
            index: IndexSettings::default(),
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
    Some(Storage { dir })
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
    let paragraph_copied_share = s
        .fraction("paragraph_copied_share")
        .unwrap_or(defaults.paragraph_copied_share);
    Some(DetectParams {
        copy_threshold: copy,
        partial_threshold: partial,
        partial_min_paragraphs: paragraphs as usize,
        min_passage_cjk,
        min_passage_words,
        max_gap_tokens,
        paragraph_copied_share,
        min_paragraph_tokens,
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
    Some(OriginalsSettings {
        feeds,
        sitemaps,
        paths,
        refresh,
        boilerplate_min_originals: boilerplate,
    })
}

fn parse_index(s: &mut Section<'_>) -> Option<IndexSettings> {
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
    Some(IndexSettings { max_distance })
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
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
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

    fn duration(&mut self, key: &'static str) -> Option<std::time::Duration> {
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
        assert_eq!(s.originals.refresh, std::time::Duration::from_secs(900));
        assert_eq!(s.index.max_distance, 3);
    }

    #[test]
    fn durations_parse() {
        assert_eq!(
            parse_duration("500ms").unwrap(),
            std::time::Duration::from_millis(500)
        );
        assert_eq!(
            parse_duration("2s").unwrap(),
            std::time::Duration::from_secs(2)
        );
        assert_eq!(
            parse_duration("30m").unwrap(),
            std::time::Duration::from_secs(1800)
        );
        assert!(parse_duration("2 parsecs").is_err());
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
