//! `copyhound scan-warc`: web archives (WARC files from Common Crawl, CC-NEWS, Heritrix,
//! StormCrawler, wget, ...) read as a source of pages, each HTML page examined and
//! recorded by the same stage as the crawler's ([`crate::examine`]).
//!
//! `reader` parses WARC records from any byte stream (bounded, damage-tolerant, with each
//! record's offset and length in the file); `http` reads the HTTP message inside a
//! `response` record; `source` opens local files, streams remote ones (resuming by range)
//! and reads paths listings. This module runs the scan: files shared out to `--jobs`
//! worker threads, each with its own store connection, records turned into [`Capture`]s,
//! examined and recorded, and the counts summed into one [`WarcSummary`].
//!
//! This module never speaks SQL and never decides what a copy is. Strings from archives
//! (URLs, file names, damage messages) reach logs and the terminal only through
//! [`sanitize`].

pub mod http;
pub mod reader;
pub mod source;
pub mod worker;

use std::borrow::Cow;
use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use url::Url;

use crate::config::Settings;
use crate::crawl::fetch::{decode_stored_body, Capture, Validators};
use crate::crawl::sanitize;
use crate::evidence::ArchivedRecord;
use crate::examine::{record_from, Detector, ExamineError, MatchCounts};
use crate::store::{Store, StoreError};

use reader::{Block, Damage, Limits, RawRecord, RecordHead, WarcReader};
pub use source::Source;

/// Damages named per file in the summary at most (all are counted and logged).
const MAX_DAMAGES_NAMED: usize = 5;

/// Why a scan could not run (a damaged record or an unreadable file is a count, not an
/// error).
#[derive(Debug, thiserror::Error)]
pub enum WebArchiveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Examine(#[from] ExamineError),
    #[error("cannot start the HTTP client: {0}")]
    Client(String),
    #[error("{source_name}: cannot open: {message}")]
    Open {
        source_name: String,
        message: String,
    },
    #[error("{listing}: cannot read the paths listing: {message}")]
    Listing { listing: String, message: String },
    #[error("cannot start a scan thread: {0}")]
    Thread(String),
}

/// How to scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Files scanned at once (each on its own thread and store connection).
    pub jobs: usize,
    /// Show a progress bar (only when standard error is a terminal).
    pub progress: bool,
    /// Scan files the store says are finished again (from their start).
    pub rescan: bool,
    /// Reject pages that share no anchor with any original before full extraction
    /// (`examine::prefilter`); off only to compare with the full path.
    pub fast_reject: bool,
}

/// One file's damage, for the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FileDamage {
    pub source: String,
    /// Damaged records (or stretches) in the file.
    pub count: usize,
    /// The first few, `at byte N: what`.
    pub first: Vec<String>,
    /// The file ended inside a record.
    pub truncated: bool,
}

/// What a scan did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct WarcSummary {
    /// Files scanned to their end.
    pub files: usize,
    /// Files skipped because an earlier run finished them.
    pub already_done: usize,
    /// Files resumed where a killed or failed run left them.
    pub resumed: usize,
    /// Files that could not be opened or read to the end (named in `failed_files`).
    pub failed: usize,
    pub records: u64,
    /// HTML pages examined (response and resource records).
    pub html: u64,
    /// Of those, the pages the fast rejection set aside before full extraction (they
    /// share no anchor with any original).
    pub rejected: u64,
    /// Response and resource records not examined: not HTML, not 2xx, the outlet's
    /// own, too large, or an HTTP message that could not be read.
    pub skipped: u64,
    /// Damaged records and stretches.
    pub damaged: u64,
    pub matches: MatchCounts,
    /// Bytes of the files read (compressed, as stored).
    pub bytes: u64,
    pub seconds: f64,
    pub damaged_files: Vec<FileDamage>,
    /// `name: why` for each file given up.
    pub failed_files: Vec<String>,
    /// Frontier keys of the live captures this scan queued (one per page), fetched at
    /// the end of `scan-warc` unless `--no-live`.
    #[serde(skip)]
    pub live_queued: std::collections::BTreeSet<String>,
    /// What became of those live captures, when they were fetched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<crate::crawl::pipeline::LiveCaptures>,
}

impl WarcSummary {
    /// `scan-warc: <n> files, <n> records read, <n> HTML examined (<n> rejected early),
    /// <n> skipped, <n>
    /// damaged, <n> matches (<n> copy, <n> partial, <n> licensed), <n> bytes, <s>
    /// seconds`, then the ignored, failed and damaged files when there are any.
    pub fn render(&self) -> String {
        let mut files = format!("{} files", self.files);
        if self.already_done + self.resumed > 0 {
            files.push_str(&format!(
                " ({} already done, {} resumed)",
                self.already_done, self.resumed
            ));
        }
        let mut line = format!(
            "scan-warc: {files}, {} records read, {} HTML examined ({} rejected early), {} skipped, {} damaged, {} matches ({} copy, {} partial, {} licensed), {} bytes, {:.1} seconds",
            self.records,
            self.html,
            self.rejected,
            self.skipped,
            self.damaged,
            self.matches.total(),
            self.matches.copy,
            self.matches.partial,
            self.matches.licensed,
            self.bytes,
            self.seconds
        );
        if self.matches.ignored > 0 {
            line.push_str(&format!(", {} on ignored sites", self.matches.ignored));
        }
        if !self.failed_files.is_empty() {
            line.push_str(&format!(
                "; {} failed: {}",
                self.failed,
                self.failed_files
                    .iter()
                    .map(|f| sanitize(f))
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        if !self.damaged_files.is_empty() {
            let named: Vec<String> = self
                .damaged_files
                .iter()
                .map(|d| {
                    format!(
                        "{} ({} damaged{}: {})",
                        sanitize(&d.source),
                        d.count,
                        if d.truncated { ", truncated" } else { "" },
                        sanitize(&d.first.join("; "))
                    )
                })
                .collect();
            line.push_str(&format!("; damaged in {}", named.join(", ")));
        }
        line
    }

    fn add(&mut self, file: &FileScan) {
        self.records += file.records;
        self.html += file.html;
        self.rejected += file.rejected;
        self.skipped += file.skipped;
        self.damaged += file.damage.count as u64;
        self.bytes += file.bytes;
        self.matches.copy += file.matches.copy;
        self.matches.partial += file.matches.partial;
        self.matches.licensed += file.matches.licensed;
        self.matches.ignored += file.matches.ignored;
        if file.damage.count > 0 {
            self.damaged_files.push(file.damage.clone());
        }
        self.live_queued.extend(file.live.iter().cloned());
    }
}

/// What one file gave.
#[derive(Debug, Default)]
struct FileScan {
    records: u64,
    html: u64,
    rejected: u64,
    skipped: u64,
    bytes: u64,
    matches: MatchCounts,
    damage: FileDamage,
    /// Started where an earlier run left the file.
    resumed: bool,
    /// Frontier keys of the live captures queued.
    live: Vec<String>,
}

/// What the workers share.
struct Context<'a> {
    settings: &'a Settings,
    fast_reject: bool,
    detector: Detector,
    store_location: &'a crate::store::StoreLocation,
    client: reqwest::Client,
    handle: tokio::runtime::Handle,
    limits: Limits,
    progress: indicatif::ProgressBar,
    /// Set when a queue worker runs the scan: its lease to renew and its stop flag.
    worker: Option<worker::Lease<'a>>,
}

impl<'a> Context<'a> {
    fn new(
        settings: &'a Settings,
        detector: Detector,
        store_location: &'a crate::store::StoreLocation,
        fast_reject: bool,
        handle: &tokio::runtime::Handle,
        progress: indicatif::ProgressBar,
    ) -> Result<Context<'a>, WebArchiveError> {
        Ok(Context {
            settings,
            fast_reject,
            detector,
            store_location,
            client: source::client(&crate::originals::user_agent(settings))?,
            handle: handle.clone(),
            limits: Limits {
                // A block holds the HTTP head and the body as stored: the crawler's body
                // limit plus room for the head.
                max_block_bytes: settings.crawl.max_body_bytes as u64 + http::MAX_HEAD_BYTES as u64,
                ..Limits::default()
            },
            progress,
            worker: None,
        })
    }
}

/// Scans `sources` (in order, `options.jobs` at a time), examining every HTML page and
/// recording its matches. `handle` runs the remote files' HTTP.
///
/// # Errors
/// [`WebArchiveError`] when the store or archive cannot be loaded; a file that cannot be
/// read is counted in the summary instead.
pub fn scan(
    settings: &Settings,
    store: &Store,
    sources: &[Source],
    options: &ScanOptions,
    handle: &tokio::runtime::Handle,
) -> Result<WarcSummary, WebArchiveError> {
    let started = Instant::now();
    let progress = if options.progress && std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {elapsed_precise} {bytes} ({bytes_per_sec}) {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let store_location = store.location();
    let ctx = Context::new(
        settings,
        Detector::load(store, settings)?,
        &store_location,
        options.fast_reject,
        handle,
        progress,
    )?;
    let summary = Mutex::new(WarcSummary::default());
    let next = AtomicUsize::new(0);
    let jobs = options.jobs.clamp(1, sources.len().max(1));
    let failures: Mutex<Vec<WebArchiveError>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                let mut store = match ctx.store_location.open() {
                    Ok(s) => s,
                    Err(e) => {
                        lock(&failures).push(e.into());
                        return;
                    }
                };
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(src) = sources.get(i) else { break };
                    match scan_file(&ctx, &mut store, src, options.rescan) {
                        Ok(None) => lock(&summary).already_done += 1,
                        Ok(Some(file)) => {
                            let mut s = lock(&summary);
                            s.files += 1;
                            s.resumed += usize::from(file.resumed);
                            s.add(&file);
                            ctx.progress.set_message(progress_message(&s));
                        }
                        Err(FileError::Fatal(e)) => {
                            lock(&failures).push(e);
                            break;
                        }
                        // Only a queue worker's scan has a lease or a stop flag.
                        Err(FileError::Stopped | FileError::LeaseLost) => break,
                        Err(FileError::Unreadable(file, why)) => {
                            tracing::warn!(source = %sanitize(&src.name()), error = %sanitize(&why), "file not scanned to its end");
                            let mut s = lock(&summary);
                            s.failed += 1;
                            s.failed_files.push(format!("{}: {why}", src.name()));
                            s.add(&file);
                        }
                    }
                }
            });
        }
    });
    ctx.progress.finish_and_clear();
    if let Some(e) = lock(&failures).drain(..).next() {
        return Err(e);
    }
    let mut summary = summary.into_inner().unwrap_or_else(|e| e.into_inner());
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// A poisoned lock only means another worker panicked mid-update of a counter; the
/// counts are still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn progress_message(s: &WarcSummary) -> String {
    format!(
        "{} files, {} records, {} HTML, {} matches",
        s.files,
        s.records,
        s.html,
        s.matches.total()
    )
}

enum FileError {
    /// The store failed: the scan stops.
    Fatal(WebArchiveError),
    /// The file could not be opened or read to its end; what it gave so far.
    Unreadable(Box<FileScan>, String),
    /// A queue worker was asked to stop: progress is checkpointed where it stopped.
    Stopped,
    /// A queue worker's lease on the file ran out and another worker took it.
    LeaseLost,
}

/// Records between two progress checkpoints at most...
const CHECKPOINT_RECORDS: u64 = 64;

/// ...or this long, whichever comes first: a killed run redoes at most this much.
const CHECKPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Scans one file to its end, from where an earlier run left it; `None` when an earlier
/// run finished it (and `rescan` is off). Progress is checkpointed in the store only at
/// the end of a record whose matches are recorded and that ends a gzip member (or a
/// record of a plain file), so resuming there loses nothing; what a killed run read
/// after its last checkpoint is read again, and a match found twice is recorded once.
fn scan_file(
    ctx: &Context<'_>,
    store: &mut Store,
    src: &Source,
    rescan: bool,
) -> Result<Option<FileScan>, FileError> {
    let name = src.name();
    let progress = store
        .warc_file_progress(&name)
        .map_err(|e| FileError::Fatal(e.into()))?;
    let (start, records_before) = match progress {
        Some(p) if p.done && !rescan => return Ok(None),
        Some(p) if !p.done => (p.resume_offset, p.records),
        _ => (0, 0),
    };
    let mut file = FileScan {
        damage: FileDamage {
            source: name.clone(),
            ..FileDamage::default()
        },
        resumed: start > 0,
        ..FileScan::default()
    };
    if start > 0 {
        tracing::info!(source = %sanitize(&name), offset = start, records = records_before, "resuming");
    }
    store
        .warc_file_checkpoint(&name, records_before, start, Utc::now())
        .map_err(|e| FileError::Fatal(e.into()))?;
    let input = match source::open(src, &ctx.client, &ctx.handle, start) {
        Ok(i) => i,
        Err(WebArchiveError::Open { message, .. }) => {
            return Err(FileError::Unreadable(
                Box::new(file),
                format!("cannot open: {message}"),
            ))
        }
        Err(e) => return Err(FileError::Unreadable(Box::new(file), e.to_string())),
    };
    let mut reader = match WarcReader::starting_at(input, ctx.limits, start) {
        Ok(r) => r,
        Err(e) => return Err(FileError::Unreadable(Box::new(file), e.to_string())),
    };
    let mut last = start;
    let mut since_checkpoint = 0u64;
    let mut checkpoint_at = Instant::now();
    while let Some(item) = reader.next_record(wanted) {
        let position = reader.position();
        ctx.progress.inc(position.saturating_sub(last));
        last = position;
        match item {
            Ok(rec) => {
                file.records += 1;
                since_checkpoint += 1;
                if let Err(e) = examine_record(ctx, store, &rec, &mut file) {
                    file.bytes = reader.position() - start;
                    return Err(FileError::Fatal(e));
                }
                let due = since_checkpoint >= CHECKPOINT_RECORDS
                    || checkpoint_at.elapsed() >= CHECKPOINT_INTERVAL;
                if let (true, Some(length)) = (due, rec.length) {
                    store
                        .warc_file_checkpoint(
                            &name,
                            records_before + file.records,
                            rec.offset + length,
                            Utc::now(),
                        )
                        .map_err(|e| FileError::Fatal(e.into()))?;
                    since_checkpoint = 0;
                    checkpoint_at = Instant::now();
                }
                if let Some(lease) = &ctx.worker {
                    lease.renew_if_due(store, &name)?;
                    if lease.stopping() {
                        // Asked to stop: checkpoint the batch read so far (this record's
                        // matches are recorded) so the next worker resumes right here. A
                        // whole-file gzip has no such point; it is resumed from its last
                        // checkpoint (its start).
                        if let Some(length) = rec.length {
                            store
                                .warc_file_checkpoint(
                                    &name,
                                    records_before + file.records,
                                    rec.offset + length,
                                    Utc::now(),
                                )
                                .map_err(|e| FileError::Fatal(e.into()))?;
                        }
                        return Err(FileError::Stopped);
                    }
                }
            }
            Err(damage) => note_damage(&mut file.damage, src, &damage),
        }
    }
    file.bytes = reader.position() - start;
    if let Some(why) = reader.source_failed() {
        // Not done: the next run resumes from the last checkpoint.
        return Err(FileError::Unreadable(Box::new(file), why.to_string()));
    }
    store
        .warc_file_done(
            &name,
            records_before + file.records,
            reader.position(),
            Utc::now(),
        )
        .map_err(|e| FileError::Fatal(e.into()))?;
    Ok(Some(file))
}

fn note_damage(d: &mut FileDamage, src: &Source, damage: &Damage) {
    tracing::warn!(source = %sanitize(&src.name()), offset = damage.offset, error = %sanitize(&damage.message), "damaged record skipped");
    d.count += 1;
    d.truncated |= damage.truncated;
    if d.first.len() < MAX_DAMAGES_NAMED {
        d.first.push(damage.to_string());
    }
}

/// Whether a record's block is worth keeping: responses (not requests carried as
/// `application/http`) and resources.
fn wanted(head: &RecordHead) -> bool {
    match head.warc_type().as_str() {
        "response" => head
            .field("Content-Type")
            .is_none_or(|t| !t.to_ascii_lowercase().contains("msgtype=request")),
        "resource" => true,
        _ => false,
    }
}

/// Examines one record and records its matches. Records that are not HTML pages are
/// counted as skipped.
fn examine_record(
    ctx: &Context<'_>,
    store: &mut Store,
    rec: &RawRecord,
    file: &mut FileScan,
) -> Result<(), WebArchiveError> {
    let block = match &rec.block {
        Block::Kept(b) => b,
        Block::TooLarge => {
            file.skipped += 1;
            return Ok(());
        }
        Block::Skipped => return Ok(()),
    };
    let page = match page_of(&rec.head, block, ctx.settings.crawl.max_body_bytes) {
        Ok(Some(p)) => p,
        Ok(None) => {
            file.skipped += 1;
            return Ok(());
        }
        Err(why) => {
            tracing::debug!(offset = rec.offset, error = %sanitize(&why), "record not examined");
            file.skipped += 1;
            return Ok(());
        }
    };
    if ctx.detector.is_own(&page.url) {
        file.skipped += 1;
        return Ok(());
    }
    file.html += 1;
    if ctx.fast_reject
        && !ctx
            .detector
            .may_copy(page.body(), page.content_type.as_deref())
    {
        file.rejected += 1;
        return Ok(());
    }
    let capture = page.into_capture();
    let exam = ctx.detector.examine(&capture)?;
    // The record exactly as in the file, and where: what the evidence file keeps.
    let archived = ArchivedRecord {
        source: &file.damage.source,
        offset: rec.offset,
        length: rec.length,
        record_id: rec.head.field("WARC-Record-ID"),
        head: &rec.head.raw,
        block,
    };
    if let Some(key) = record_from(
        store,
        &ctx.detector,
        &capture,
        &exam,
        &mut file.matches,
        Some(&archived),
    )? {
        file.live.push(key);
    }
    Ok(())
}

/// An HTML page read from a record, borrowing the record's bytes where it can: most
/// pages are rejected before anything needs them copied.
struct Page<'a> {
    url: Url,
    date: DateTime<Utc>,
    remote_addr: Option<SocketAddr>,
    status: u16,
    response_head: &'a [u8],
    content_type: Option<String>,
    content_encoding: Option<String>,
    /// The body as stored, after de-chunking.
    raw_body: Cow<'a, [u8]>,
    /// After content decoding, when the body was content-encoded.
    decoded_body: Option<Vec<u8>>,
}

impl Page<'_> {
    /// The page's bytes in its own charset.
    fn body(&self) -> &[u8] {
        self.decoded_body.as_deref().unwrap_or(&self.raw_body)
    }

    /// The page as a capture, for examination and recording.
    fn into_capture(self) -> Capture {
        let body_sha256 = hex::encode(Sha256::digest(self.body()));
        Capture {
            requested_url: self.url.clone(),
            final_url: self.url,
            redirects: Vec::new(),
            remote_addr: self.remote_addr,
            request_head: Vec::new(),
            status: self.status,
            response_head: self.response_head.to_vec(),
            content_type: self.content_type,
            content_encoding: self.content_encoding,
            raw_body: self.raw_body.into_owned(),
            decoded_body: self.decoded_body,
            body_sha256,
            truncated: false,
            validators: Validators::default(),
            started_at: self.date,
            finished_at: self.date,
            network: Default::default(),
        }
    }
}

/// The page a `response` or `resource` record holds: `None` when it is not a 2xx HTML
/// page.
///
/// # Errors
/// A message when the HTTP message or its content coding cannot be read.
fn page_of<'a>(
    head: &RecordHead,
    block: &'a [u8],
    max_body: usize,
) -> Result<Option<Page<'a>>, String> {
    let Some(url) = target_url(head) else {
        return Ok(None);
    };
    let date = head
        .field("WARC-Date")
        .and_then(|d| DateTime::parse_from_rfc3339(d).ok())
        .map_or_else(Utc::now, |d| d.with_timezone(&Utc));
    let remote_addr = head
        .field("WARC-IP-Address")
        .and_then(|ip| ip.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, url.port_or_known_default().unwrap_or(80)));
    let (status, response_head, content_type, content_encoding, raw_body) = if head.warc_type()
        == "resource"
    {
        let ctype = head.field("Content-Type").map(str::to_string);
        (200, &b""[..], ctype, None, Cow::Borrowed(block))
    } else {
        let response = http::parse_response(block)?;
        let body = if response.is_chunked() {
            // Some writers store the body de-chunked but keep the field; then the
            // bytes do not parse as chunks and are taken as they are.
            http::dechunk(response.body, max_body).map_or(Cow::Borrowed(response.body), Cow::Owned)
        } else {
            Cow::Borrowed(response.body)
        };
        let encoding = response
            .header("Content-Encoding")
            .map(str::trim)
            .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("identity"))
            .map(str::to_string);
        (
            response.status,
            response.head,
            response.header("Content-Type").map(str::to_string),
            encoding,
            body,
        )
    };
    if !(200..300).contains(&status) {
        return Ok(None);
    }
    if raw_body.len() > max_body {
        return Err(format!("body is larger than {max_body} bytes"));
    }
    let decoded_body = match &content_encoding {
        Some(enc) => Some(decode_stored_body(Some(enc), &raw_body, max_body)?),
        None => None,
    };
    let body = decoded_body.as_deref().unwrap_or(&raw_body);
    let html = match content_type.as_deref() {
        Some(t) if !t.trim().is_empty() => http::is_html_type(t),
        _ => http::sniff_html(body),
    };
    if !html {
        return Ok(None);
    }
    Ok(Some(Page {
        url,
        date,
        remote_addr,
        status,
        response_head,
        content_type,
        content_encoding,
        raw_body,
        decoded_body,
    }))
}

/// `WARC-Target-URI`, an `http(s)` URL (some WARC/1.0 writers wrap it in `<...>`).
fn target_url(head: &RecordHead) -> Option<Url> {
    let raw = head.field("WARC-Target-URI")?.trim();
    let raw = raw
        .strip_prefix('<')
        .and_then(|r| r.strip_suffix('>'))
        .unwrap_or(raw);
    Url::parse(raw)
        .ok()
        .filter(|u| u.scheme() == "http" || u.scheme() == "https")
}
