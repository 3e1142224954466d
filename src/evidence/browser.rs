//! The page as a person saw it: a headless Chromium renders a match's page, and the
//! viewport screenshot, a full-page screenshot and a PDF print go into its evidence file.
//!
//! # How Chromium is driven, and why
//!
//! Three ways were weighed:
//! - `chromiumoxide` (the most complete Rust driver): it speaks the DevTools protocol
//!   over a WebSocket and generates types for the whole protocol, a large crate graph to
//!   compile for the five commands we send, and screenshots are known to hang in it
//!   (the reply never arrives), so every call would need its own timeout anyway.
//! - The command line (`--screenshot`, `--print-to-pdf`): robust (one process, killed on
//!   a timeout) but one browser start per artefact, no full-page screenshot (the window
//!   size must be known in advance) and no way to tell a loaded page from a hung one.
//! - The DevTools protocol ourselves, over `--remote-debugging-pipe`: Chromium reads
//!   commands from fd 3 and writes replies to fd 4, as NUL-terminated JSON. No port is
//!   opened (nothing else on the machine can drive this browser), no WebSocket client is
//!   needed, and when the browser dies its pipe closes, so a reader never waits on a
//!   dead peer (and a writer fails instead of raising SIGPIPE: commands go over a
//!   socket pair written with `MSG_NOSIGNAL`, which Chromium reads like a pipe). The protocol subset is small and stable (`Target`, `Page`, `Emulation`,
//!   `Runtime`, `Browser`), and each call is bounded by the rendering's deadline.
//!
//! We chose the last: it adds no dependency (serde_json and tokio's pipes), and every
//! failure is a closed pipe or a timeout we own.
//!
//! # Bounds
//!
//! - A fresh profile per rendering in a temporary folder (removed afterwards), no
//!   extensions, no sync, no background networking, no component updates, and V8
//!   without its JIT (`--jitless`: less attack surface for a sandbox-less browser on
//!   hostile pages, and it runs under systemd's `MemoryDenyWriteExecute=yes`).
//! - Time: `[evidence] browser_timeout` bounds the whole rendering (start, navigation,
//!   load, screenshots, PDF); every protocol call and every read runs under it, and the
//!   browser's process group is killed at the end whatever happened.
//! - Memory: `RLIMIT_DATA` (`[evidence] browser_memory_mb`) on every browser process, set
//!   between fork and exec. `RLIMIT_AS` cannot be used: Chromium reserves tens of
//!   gigabytes of address space it never touches (V8's sandbox and heap cages) and does
//!   not start under any useful address-space limit, while `RLIMIT_DATA` counts only
//!   writable private memory, which is what a runaway page consumes. A process over it
//!   fails its allocation and dies (a renderer crash ends the rendering; no cgroup
//!   is needed).
//! - Network: the browser reaches the web only through [`crate::crawl::proxy`], which
//!   applies the crawler's private-network guard to every connection.
//! - At most [`MAX_CONCURRENT_RENDERS`] browsers at a time.
//!
//! A rendering that fails or times out is an error for the caller to log; it never
//! holds up or loses the match, whose evidence file is then written without it.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::sync::Semaphore;
use tokio::time::{timeout_at, Instant};
use url::Url;

use crate::config::EvidenceSettings;
use crate::crawl::guard::Guard;
use crate::crawl::proxy::GuardedProxy;

/// The viewport a page is rendered in, in CSS pixels (a common desktop size).
pub const VIEWPORT_WIDTH: u32 = 1280;
pub const VIEWPORT_HEIGHT: u32 = 800;

/// A full-page screenshot is cut at this height: taller pages exist (endless comment
/// threads), and the copied article is near the top.
pub const MAX_FULL_PAGE_HEIGHT: u32 = 16_384;

/// Browsers running at once. Each takes a few hundred megabytes; renderings beyond this
/// wait (within the timeout) for a slot.
pub const MAX_CONCURRENT_RENDERS: usize = 2;

/// An artefact (screenshot or PDF) larger than this is dropped, with a note.
pub const MAX_ARTIFACT_BYTES: usize = 32 * 1024 * 1024;

/// A protocol message longer than this ends the rendering: the largest we expect is an
/// artefact in base64.
const MAX_MESSAGE_BYTES: usize = MAX_ARTIFACT_BYTES / 3 * 4 + 64 * 1024;

/// After the load event, a moment for late layout (web fonts, images decoding).
const SETTLE: Duration = Duration::from_millis(500);

/// How long the browser gets to exit after `Browser.close` before it is killed.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Where the three artefacts of a rendering are, by the WARC convention other archiving
/// tools use (`urn:view:`, `urn:fullPage:`, `urn:pdf:` followed by the page's URL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenderKind {
    /// The viewport ([`VIEWPORT_WIDTH`] × [`VIEWPORT_HEIGHT`]) as PNG.
    View,
    /// The whole page (up to [`MAX_FULL_PAGE_HEIGHT`]) as PNG.
    FullPage,
    /// The page printed to PDF (A4, backgrounds included).
    Pdf,
}

impl RenderKind {
    pub const ALL: [RenderKind; 3] = [RenderKind::View, RenderKind::FullPage, RenderKind::Pdf];

    /// The `WARC-Target-URI` prefix: `urn:view:`, `urn:fullPage:`, `urn:pdf:`.
    pub fn urn_prefix(self) -> &'static str {
        match self {
            RenderKind::View => "urn:view:",
            RenderKind::FullPage => "urn:fullPage:",
            RenderKind::Pdf => "urn:pdf:",
        }
    }

    /// The record's `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            RenderKind::View | RenderKind::FullPage => "image/png",
            RenderKind::Pdf => "application/pdf",
        }
    }

    /// The name used in URLs and file names (`view`, `fullPage`, `pdf`).
    pub fn name(self) -> &'static str {
        let prefix = self.urn_prefix();
        &prefix[4..prefix.len() - 1]
    }

    /// The kind named `name` ([`RenderKind::name`]).
    pub fn from_name(name: &str) -> Option<RenderKind> {
        RenderKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether `bytes` start as this kind's format does (PNG signature, `%PDF-`).
    pub fn looks_valid(self, bytes: &[u8]) -> bool {
        match self {
            RenderKind::View | RenderKind::FullPage => {
                bytes.starts_with(b"\x89PNG\r\n\x1a\n") && png_size(bytes).is_some()
            }
            RenderKind::Pdf => bytes.starts_with(b"%PDF-"),
        }
    }
}

/// Whether the file at `path` is a script (`#!`) rather than a binary: Debian's
/// `/usr/bin/chromium` is a shell wrapper that reads `/proc/cpuinfo`.
pub fn is_script(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 2];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| &head == b"#!")
}

/// Width and height of a PNG from its IHDR chunk, when both are above zero.
pub fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.len() < 24 || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let w = u32::from_be_bytes(bytes[16..20].try_into().ok()?);
    let h = u32::from_be_bytes(bytes[20..24].try_into().ok()?);
    (w > 0 && h > 0).then_some((w, h))
}

/// What a rendering produced. An artefact may be missing (too large, or its step
/// failed after others succeeded); `notes` says why.
#[derive(Clone)]
pub struct Rendering {
    /// The URL the browser was sent to.
    pub url: String,
    /// The document's URL when the artefacts were taken (after redirects, scripts).
    pub final_url: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// `Browser.getVersion`'s product (`Chrome/156.0...`) and user agent.
    pub product: String,
    pub user_agent: String,
    pub viewport_png: Option<Vec<u8>>,
    pub full_page_png: Option<Vec<u8>>,
    pub pdf: Option<Vec<u8>>,
    /// What did not go as planned without failing the rendering (the load event never
    /// fired, the page was cut, an artefact was dropped).
    pub notes: Vec<String>,
}

impl Rendering {
    /// The artefact of `kind`, if it was taken.
    pub fn artefact(&self, kind: RenderKind) -> Option<&[u8]> {
        match kind {
            RenderKind::View => self.viewport_png.as_deref(),
            RenderKind::FullPage => self.full_page_png.as_deref(),
            RenderKind::Pdf => self.pdf.as_deref(),
        }
    }
}

impl std::fmt::Debug for Rendering {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The artefacts are megabytes of binary: their sizes say enough.
        f.debug_struct("Rendering")
            .field("url", &self.url)
            .field("final_url", &self.final_url)
            .field("product", &self.product)
            .field("viewport_png", &self.viewport_png.as_ref().map(Vec::len))
            .field("full_page_png", &self.full_page_png.as_ref().map(Vec::len))
            .field("pdf", &self.pdf.as_ref().map(Vec::len))
            .field("notes", &self.notes)
            .finish()
    }
}

/// Why a page could not be rendered. The match is recorded without screenshots.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("no browser slot free within {0:?} ({MAX_CONCURRENT_RENDERS} renderings running)")]
    Busy(Duration),
    #[error("{path}: cannot start the browser: {source}")]
    Start {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("timed out after {after:?} during {step}")]
    Timeout { step: String, after: Duration },
    #[error("the browser closed the DevTools pipe during {step}")]
    Closed { step: String },
    #[error("DevTools protocol error during {step}: {message}")]
    Protocol { step: String, message: String },
    #[error("{url}: navigation failed: {reason}")]
    Navigation { url: String, reason: String },
    #[error("the page's renderer crashed (over the memory bound?)")]
    Crashed,
}

/// Renders pages in headless Chromium, at most [`MAX_CONCURRENT_RENDERS`] at a time,
/// each through a guarded proxy.
#[derive(Debug)]
pub struct Renderer {
    browser: PathBuf,
    timeout: Duration,
    memory_mb: u64,
    /// The crawler's guard: the browser may reach only what the crawler may.
    guard: Arc<Guard>,
    slots: Semaphore,
}

impl Renderer {
    /// A renderer when `[evidence] browser` is set, else `None`.
    pub fn from_settings(settings: &EvidenceSettings, guard: Arc<Guard>) -> Option<Renderer> {
        let browser = settings.browser.clone()?;
        Some(Renderer {
            browser,
            timeout: settings.browser_timeout,
            memory_mb: settings.browser_memory_mb,
            guard,
            slots: Semaphore::new(MAX_CONCURRENT_RENDERS),
        })
    }

    /// Renders `url`: viewport and full-page screenshots and a PDF print.
    ///
    /// # Errors
    /// [`RenderError`] when no artefact could be taken: the browser did not start, the
    /// navigation failed (the guard refused the address, the site did not answer), a
    /// step timed out, or the renderer crashed.
    pub async fn render(&self, url: &Url) -> Result<Rendering, RenderError> {
        let _slot = match tokio::time::timeout(self.timeout, self.slots.acquire()).await {
            Ok(Ok(slot)) => slot,
            // The semaphore is never closed; a closed one would mean shutting down.
            _ => return Err(RenderError::Busy(self.timeout)),
        };
        let started = Instant::now();
        let deadline = started + self.timeout;
        let proxy = GuardedProxy::start(Arc::clone(&self.guard))
            .await
            .map_err(|source| RenderError::Start {
                path: self.browser.clone(),
                source,
            })?;
        let profile = TempDir::new().map_err(|source| RenderError::Start {
            path: self.browser.clone(),
            source,
        })?;
        let mut browser = launch(
            &self.browser,
            self.timeout,
            self.memory_mb,
            proxy.addr(),
            profile.path(),
        )
        .map_err(|source| RenderError::Start {
            path: self.browser.clone(),
            source,
        })?;
        let result = capture(&mut browser.cdp, url, started, deadline, self.timeout).await;
        browser.close().await;
        drop(proxy);
        drop(profile);
        result
    }
}

/// A folder removed (with its contents) when dropped: the browser's profile.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<TempDir> {
        let path = std::env::temp_dir().join(format!("copyhound-browser-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir(&path)?;
        Ok(TempDir(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running browser and its DevTools pipe.
struct Browser {
    child: tokio::process::Child,
    /// The process group id (the browser's pid): every process it starts is in it.
    pgid: Option<i32>,
    cdp: Cdp,
}

impl Browser {
    /// Asks the browser to close, waits briefly, then kills its whole process group so no
    /// renderer or utility process outlives the rendering.
    async fn close(mut self) {
        let deadline = Instant::now() + CLOSE_GRACE;
        let _ = self
            .cdp
            .call("Browser.close", json!({}), None, deadline, "close")
            .await;
        let _ = timeout_at(deadline, self.child.wait()).await;
        self.kill_group();
        let _ = self.child.kill().await;
    }

    fn kill_group(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            // SAFETY: kill(2) with a negative pid signals a process group; it has no
            // memory-safety preconditions. The group is ours (created at spawn).
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }
}

impl Drop for Browser {
    /// A rendering dropped mid-way (the daemon's shutdown deadline) still leaves no
    /// browser process behind.
    fn drop(&mut self) {
        self.kill_group();
    }
}

/// A pipe as two owned ends, close-on-exec.
fn cloexec_pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 writes two descriptors into the array we pass; on success we own
    // both and wrap each in an OwnedFd exactly once.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: as above, both descriptors are fresh and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A connected pair of Unix stream sockets (close-on-exec): the command channel. A
/// socket rather than a pipe because it can be written with `MSG_NOSIGNAL`: see
/// [`CommandWriter`].
fn cloexec_socketpair() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: socketpair writes two descriptors into the array we pass; on success we
    // own both and wrap each in an OwnedFd exactly once.
    let rc = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: as above, both descriptors are fresh and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Our end of the command channel. Writes use `send(MSG_NOSIGNAL)`: when the browser
/// has died, a write must fail (a closed pipe, which ends the rendering) rather than
/// raise SIGPIPE, whose default action the one-shot commands restore (so that `copyhound
/// ... | head` ends quietly) and which would kill copyhound in the middle of `scan` or
/// `cases recheck`.
struct CommandWriter(tokio::io::unix::AsyncFd<OwnedFd>);

impl CommandWriter {
    /// Takes a socket, made non-blocking here (only our end: the browser's end of the
    /// pair is a socket of its own and stays blocking, as Chromium expects).
    fn new(fd: OwnedFd) -> std::io::Result<CommandWriter> {
        // SAFETY: fcntl on a descriptor we own, with flags read from it.
        unsafe {
            let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
            if flags < 0 || libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) < 0
            {
                return Err(std::io::Error::last_os_error());
            }
        }
        // SAFETY: an OwnedFd is a valid open descriptor that always returns itself from
        // as_raw_fd and stays open until the AsyncFd holding it is dropped.
        let fd = unsafe { tokio::io::unix::AsyncFd::register(fd) }?;
        Ok(CommandWriter(fd))
    }

    async fn write_all(&self, mut buf: &[u8]) -> std::io::Result<()> {
        while !buf.is_empty() {
            let mut guard = self.0.writable().await?;
            let sent = guard.try_io(|fd| {
                // SAFETY: send reads at most `buf.len()` bytes from a live slice.
                let n = unsafe {
                    libc::send(
                        fd.as_raw_fd(),
                        buf.as_ptr().cast(),
                        buf.len(),
                        libc::MSG_NOSIGNAL,
                    )
                };
                usize::try_from(n).map_err(|_| std::io::Error::last_os_error())
            });
            match sent {
                Ok(Ok(n)) => buf = &buf[n..],
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Ok(Err(e)) => return Err(e),
                // Not writable after all: wait again.
                Err(_would_block) => {}
            }
        }
        Ok(())
    }
}

/// A copy of `fd` numbered 10 or above (close-on-exec), so that moving the child's ends
/// to 3 and 4 cannot overwrite one with the other.
fn high_fd(fd: &OwnedFd) -> std::io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor we own, or -1.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 10) };
    if new < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `new` is a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

fn launch(
    path: &Path,
    budget: Duration,
    memory_mb: u64,
    proxy: std::net::SocketAddr,
    profile: &Path,
) -> std::io::Result<Browser> {
    // Commands go parent → child on a socket pair (the child's fd 3; see
    // `CommandWriter`), replies child → parent on a pipe (the child's fd 4).
    let (child_reads, parent_writes) = cloexec_socketpair()?;
    let (parent_reads, child_writes) = cloexec_pipe()?;
    let child_in = high_fd(&child_reads)?;
    let child_out = high_fd(&child_writes)?;
    drop((child_reads, child_writes));
    let (fd_in, fd_out) = (child_in.as_raw_fd(), child_out.as_raw_fd());
    let limit = memory_mb.saturating_mul(1024 * 1024) as libc::rlim_t;
    let mut cmd = tokio::process::Command::new(path);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-default-apps",
        "--disable-dev-shm-usage",
        "--mute-audio",
        "--hide-scrollbars",
        "--remote-debugging-pipe",
        // No JIT: pages are copiers' and the browser runs without its sandbox, and a JIT
        // is where most browser exploits live; the daemon's unit also forbids writable
        // executable memory (MemoryDenyWriteExecute=yes), under which V8's JIT dies.
        "--js-flags=--jitless",
        // Every connection, loopback included, goes through the guarded proxy; WebRTC
        // may not send UDP around it.
        "--proxy-bypass-list=<-loopback>",
        "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    ])
    .arg(format!("--proxy-server=http://{proxy}"))
    .arg(format!("--user-data-dir={}", profile.display()))
    // Crash reports stay in the profile, removed with it. (Chromium's crash handler
    // leaves the process group, but exits by itself once the browser is gone.)
    .arg("--disable-breakpad")
    .arg(format!(
        "--crash-dumps-dir={}",
        profile.join("crashes").display()
    ))
    .arg(format!("--window-size={VIEWPORT_WIDTH},{VIEWPORT_HEIGHT}"))
    .arg("about:blank")
    .stdin(std::process::Stdio::null())
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .process_group(0)
    .kill_on_drop(true);
    // SAFETY: the closure runs between fork and exec, where only async-signal-safe
    // calls are allowed: dup2 and setrlimit are, and it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(fd_in, 3) < 0 || libc::dup2(fd_out, 4) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let data = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_DATA, &data) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let no_core = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::setrlimit(libc::RLIMIT_CORE, &no_core);
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    // The child has its own copies now; ours must close so that its death closes the
    // pipe for our reader.
    drop((child_in, child_out));
    let pgid = child.id().and_then(|p| i32::try_from(p).ok());
    Ok(Browser {
        child,
        pgid,
        cdp: Cdp {
            tx: CommandWriter::new(parent_writes)?,
            rx: pipe::Receiver::from_owned_fd(parent_reads)?,
            buf: Vec::new(),
            scanned: 0,
            next_id: 0,
            load_fired: false,
            crashed: false,
            budget,
            chunk: vec![0; 1024 * 1024],
            dialog: None,
            dialogs_dismissed: 0,
        },
    })
}

/// The DevTools protocol over the browser's pipe: one call at a time, events noted as
/// they pass.
struct Cdp {
    tx: CommandWriter,
    rx: pipe::Receiver,
    buf: Vec<u8>,
    /// Bytes of `buf` already searched for the NUL that ends a message.
    scanned: usize,
    next_id: u64,
    /// `Page.loadEventFired` was seen.
    load_fired: bool,
    /// `Inspector.targetCrashed` or `Target.targetCrashed` was seen.
    crashed: bool,
    /// `[evidence] browser_timeout`, for the messages of timeouts.
    budget: Duration,
    /// The read buffer for the pipe.
    chunk: Vec<u8>,
    /// The session of a JavaScript dialog waiting to be dismissed.
    dialog: Option<String>,
    /// Dialogs dismissed so far (noted in the rendering).
    dialogs_dismissed: usize,
}

impl Cdp {
    /// Sends `method` and waits for its reply (by `deadline`), noting events meanwhile.
    async fn call(
        &mut self,
        method: &str,
        params: Value,
        session: Option<&str>,
        deadline: Instant,
        step: &str,
    ) -> Result<Value, RenderError> {
        let id = self.send(method, params, session, deadline, step).await?;
        loop {
            let reply = self.next_message(deadline, step).await?;
            self.dismiss_dialog(deadline, step).await?;
            if reply.get("id").and_then(Value::as_u64) == Some(id) {
                if let Some(error) = reply.get("error") {
                    return Err(RenderError::Protocol {
                        step: step.into(),
                        message: error
                            .get("message")
                            .and_then(Value::as_str)
                            .unwrap_or("unknown error")
                            .chars()
                            .take(300)
                            .collect(),
                    });
                }
                return Ok(reply.get("result").cloned().unwrap_or(Value::Null));
            }
            if self.crashed {
                return Err(RenderError::Crashed);
            }
        }
    }

    /// Sends `method` without waiting for its reply; returns its id.
    async fn send(
        &mut self,
        method: &str,
        params: Value,
        session: Option<&str>,
        deadline: Instant,
        step: &str,
    ) -> Result<u64, RenderError> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            message["sessionId"] = Value::from(s);
        }
        let mut bytes = serde_json::to_vec(&message).map_err(|e| RenderError::Protocol {
            step: step.into(),
            message: e.to_string(),
        })?;
        bytes.push(0);
        match timeout_at(deadline, self.tx.write_all(&bytes)).await {
            Ok(Ok(())) => Ok(id),
            Ok(Err(_)) => Err(RenderError::Closed { step: step.into() }),
            Err(_) => Err(timeout(step, self.budget)),
        }
    }

    /// Dismisses a JavaScript dialog (`alert`, `confirm`, `prompt`) the page opened: a
    /// dialog blocks the page, and with it every screenshot, so a copier could otherwise
    /// keep its page out of the evidence. The reply is not awaited (it passes as an
    /// unrelated message).
    async fn dismiss_dialog(&mut self, deadline: Instant, step: &str) -> Result<(), RenderError> {
        let Some(session) = self.dialog.take() else {
            return Ok(());
        };
        self.dialogs_dismissed += 1;
        self.send(
            "Page.handleJavaScriptDialog",
            json!({ "accept": false }),
            Some(&session),
            deadline,
            step,
        )
        .await
        .map(|_| ())
    }

    /// Reads messages until the load event has fired or `until` passes; returns whether
    /// it fired.
    async fn wait_for_load(&mut self, until: Instant) -> Result<bool, RenderError> {
        while !self.load_fired {
            let message = self.next_message(until, "load").await;
            if message.is_ok() {
                self.dismiss_dialog(until, "load").await?;
            }
            match message {
                Ok(_) if self.crashed => return Err(RenderError::Crashed),
                Ok(_) => {}
                Err(RenderError::Timeout { .. }) => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// The next whole message, parsed; events are noted on the way.
    async fn next_message(&mut self, deadline: Instant, step: &str) -> Result<Value, RenderError> {
        loop {
            if let Some(pos) = memchr::memchr(0, &self.buf[self.scanned..]) {
                let end = self.scanned + pos;
                let rest = self.buf.split_off(end + 1);
                let mut message = std::mem::replace(&mut self.buf, rest);
                message.pop();
                self.scanned = 0;
                let value: Value =
                    serde_json::from_slice(&message).map_err(|e| RenderError::Protocol {
                        step: step.into(),
                        message: format!("unreadable message: {e}"),
                    })?;
                match value.get("method").and_then(Value::as_str) {
                    Some("Page.loadEventFired") => self.load_fired = true,
                    Some("Inspector.targetCrashed" | "Target.targetCrashed") => self.crashed = true,
                    Some("Page.javascriptDialogOpening") => {
                        self.dialog = value
                            .get("sessionId")
                            .and_then(Value::as_str)
                            .map(str::to_string);
                    }
                    _ => {}
                }
                return Ok(value);
            }
            self.scanned = self.buf.len();
            if self.buf.len() > MAX_MESSAGE_BYTES {
                return Err(RenderError::Protocol {
                    step: step.into(),
                    message: format!("a message over {MAX_MESSAGE_BYTES} bytes"),
                });
            }
            match timeout_at(deadline, self.rx.read(&mut self.chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return Err(RenderError::Closed { step: step.into() }),
                Ok(Ok(n)) => self.buf.extend_from_slice(&self.chunk[..n]),
                Err(_) => return Err(timeout(step, self.budget)),
            }
        }
    }
}

fn timeout(step: &str, budget: Duration) -> RenderError {
    RenderError::Timeout {
        step: step.into(),
        after: budget,
    }
}

/// The full-page screenshot's reply: the page's height (cut at
/// [`MAX_FULL_PAGE_HEIGHT`], noted), then one screenshot beyond the viewport.
async fn full_page(
    cdp: &mut Cdp,
    s: Option<&str>,
    deadline: Instant,
    notes: &mut Vec<String>,
) -> Result<Value, RenderError> {
    let metrics = cdp
        .call("Page.getLayoutMetrics", json!({}), s, deadline, "layout")
        .await?;
    let content_height = metrics
        .pointer("/cssContentSize/height")
        .and_then(Value::as_f64)
        .unwrap_or(f64::from(VIEWPORT_HEIGHT));
    let mut height = content_height.ceil().max(f64::from(VIEWPORT_HEIGHT));
    if height > f64::from(MAX_FULL_PAGE_HEIGHT) {
        notes.push(format!(
            "full page cut at {MAX_FULL_PAGE_HEIGHT} of {height} pixels"
        ));
        height = f64::from(MAX_FULL_PAGE_HEIGHT);
    }
    cdp.call(
        "Page.captureScreenshot",
        json!({ "format": "png", "captureBeyondViewport": true,
                "clip": { "x": 0, "y": 0, "width": VIEWPORT_WIDTH, "height": height, "scale": 1 } }),
        s,
        deadline,
        "full-page screenshot",
    )
    .await
}

/// The artefact in a screenshot or print reply, decoded and bounded.
fn artefact(reply: &Value, kind: RenderKind, notes: &mut Vec<String>) -> Option<Vec<u8>> {
    let data = reply.get("data").and_then(Value::as_str)?;
    if data.len() / 4 * 3 > MAX_ARTIFACT_BYTES {
        notes.push(format!(
            "{} dropped: over {MAX_ARTIFACT_BYTES} bytes",
            kind.name()
        ));
        return None;
    }
    match base64::engine::general_purpose::STANDARD.decode(data) {
        Ok(bytes) if kind.looks_valid(&bytes) => Some(bytes),
        Ok(_) => {
            notes.push(format!(
                "{} dropped: not a valid {}",
                kind.name(),
                kind.content_type()
            ));
            None
        }
        Err(e) => {
            notes.push(format!("{} dropped: {e}", kind.name()));
            None
        }
    }
}

async fn capture(
    cdp: &mut Cdp,
    url: &Url,
    started: Instant,
    deadline: Instant,
    budget: Duration,
) -> Result<Rendering, RenderError> {
    let started_at = Utc::now();
    let version = cdp
        .call("Browser.getVersion", json!({}), None, deadline, "start")
        .await?;
    let text = |v: &Value, key: &str| {
        v.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect::<String>()
    };
    let product = text(&version, "product");
    let user_agent = text(&version, "userAgent");
    let target = cdp
        .call(
            "Target.createTarget",
            json!({ "url": "about:blank" }),
            None,
            deadline,
            "open a tab",
        )
        .await?;
    let target_id = text(&target, "targetId");
    let attached = cdp
        .call(
            "Target.attachToTarget",
            json!({ "targetId": target_id, "flatten": true }),
            None,
            deadline,
            "open a tab",
        )
        .await?;
    let session = text(&attached, "sessionId");
    let s = Some(session.as_str());
    cdp.call("Page.enable", json!({}), s, deadline, "set up")
        .await?;
    cdp.call(
        "Emulation.setDeviceMetricsOverride",
        json!({ "width": VIEWPORT_WIDTH, "height": VIEWPORT_HEIGHT,
                "deviceScaleFactor": 1, "mobile": false }),
        s,
        deadline,
        "set up",
    )
    .await?;
    let navigated = cdp
        .call(
            "Page.navigate",
            json!({ "url": url.as_str() }),
            s,
            deadline,
            "navigation",
        )
        .await?;
    if let Some(reason) = navigated.get("errorText").and_then(Value::as_str) {
        return Err(RenderError::Navigation {
            url: url.to_string(),
            reason: reason.chars().take(300).collect(),
        });
    }
    // Two thirds of the budget for the page to load; the rest is kept for the
    // screenshots and the print.
    let load_until = (started + budget * 2 / 3).min(deadline);
    let mut notes = Vec::new();
    if !cdp.wait_for_load(load_until).await? {
        // A page whose document is parsed but whose images or scripts still hang is
        // shown as it stands, as a person would see it; one still loading its document
        // has nothing to show yet.
        let state = cdp
            .call(
                "Runtime.evaluate",
                json!({ "expression": "document.readyState", "returnByValue": true }),
                s,
                deadline,
                "load",
            )
            .await?;
        let state = state
            .pointer("/result/value")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string();
        if state != "interactive" && state != "complete" {
            return Err(RenderError::Timeout {
                step: format!("page load (document {state})"),
                after: budget * 2 / 3,
            });
        }
        notes.push(format!(
            "the load event did not fire within {:?}; captured with the document {state}",
            budget * 2 / 3
        ));
    }
    tokio::time::sleep_until((Instant::now() + SETTLE).min(deadline)).await;
    let history = cdp
        .call(
            "Page.getNavigationHistory",
            json!({}),
            s,
            deadline,
            "history",
        )
        .await?;
    let final_url = history
        .get("currentIndex")
        .and_then(Value::as_u64)
        .and_then(|i| history.pointer(&format!("/entries/{i}/url")))
        .and_then(Value::as_str)
        .map(|u| u.chars().take(4096).collect());
    let view = cdp
        .call(
            "Page.captureScreenshot",
            json!({ "format": "png" }),
            s,
            deadline,
            "viewport screenshot",
        )
        .await?;
    let viewport_png = artefact(&view, RenderKind::View, &mut notes);
    // The viewport is the evidence a reader looks at first; the full page and the print
    // are taken after it, each within half of what time is left, and a failure of either
    // is noted rather than losing the viewport.
    let half = |deadline: Instant| {
        let now = Instant::now();
        now + deadline.saturating_duration_since(now) / 2
    };
    let full_page_png = match full_page(cdp, s, half(deadline), &mut notes).await {
        Ok(reply) => artefact(&reply, RenderKind::FullPage, &mut notes),
        Err(e) => {
            notes.push(format!("full page not taken: {e}"));
            None
        }
    };
    // A4, with the page's backgrounds, as a browser's "Save as PDF" would.
    let print = if cdp.crashed {
        Err(RenderError::Crashed)
    } else {
        cdp.call(
            "Page.printToPDF",
            json!({ "printBackground": true, "paperWidth": 8.27, "paperHeight": 11.69 }),
            s,
            deadline,
            "PDF print",
        )
        .await
    };
    let pdf = match print {
        Ok(reply) => artefact(&reply, RenderKind::Pdf, &mut notes),
        Err(e) => {
            notes.push(format!("PDF not printed: {e}"));
            None
        }
    };
    if cdp.dialogs_dismissed > 0 {
        notes.push(format!(
            "{} JavaScript dialog(s) dismissed",
            cdp.dialogs_dismissed
        ));
    }
    if viewport_png.is_none() && full_page_png.is_none() && pdf.is_none() {
        return Err(RenderError::Protocol {
            step: "artefacts".into(),
            message: notes.join("; "),
        });
    }
    Ok(Rendering {
        url: url.to_string(),
        final_url,
        started_at,
        finished_at: Utc::now(),
        product,
        user_agent,
        viewport_png,
        full_page_png,
        pdf,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_are_told_from_binaries() {
        let dir = std::env::temp_dir().join(format!("copyhound-script-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("wrapper"), "#!/bin/sh\nexec chromium \"$@\"\n").unwrap();
        std::fs::write(dir.join("binary"), b"\x7fELF\x02\x01").unwrap();
        assert!(is_script(&dir.join("wrapper")));
        assert!(!is_script(&dir.join("binary")));
        assert!(!is_script(&dir.join("missing")));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn kinds_and_formats() {
        for kind in RenderKind::ALL {
            assert_eq!(RenderKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(RenderKind::FullPage.name(), "fullPage");
        assert_eq!(RenderKind::Pdf.urn_prefix(), "urn:pdf:");
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&1280u32.to_be_bytes());
        png.extend_from_slice(&800u32.to_be_bytes());
        assert_eq!(png_size(&png), Some((1280, 800)));
        assert!(RenderKind::View.looks_valid(&png));
        assert!(!RenderKind::View.looks_valid(b"%PDF-1.4"));
        assert!(RenderKind::Pdf.looks_valid(b"%PDF-1.4"));
        png[19] = 0;
        png[18] = 0;
        png[17] = 0;
        png[16] = 0;
        assert_eq!(png_size(&png), None, "a zero width is no image");
    }
}
