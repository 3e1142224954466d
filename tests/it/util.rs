//! Shared harness of the integration tests: running the real binary, finding the real
//! test data.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The start of a test config: a Chinese outlet with both contacts (counsel and
/// licensing staff) and its state in `state/` beside the config. Tests append their own
/// sections.
pub const OUTLET_CONFIG: &str = r#"
[outlet]
name = "江城日报社"
website = "https://www.jiangcheng-daily.example"
address = "江城市滨江路 88 号"
language = "zh-CN"

[[contacts]]
role = "legal"
name = "王律师"
email = "legal@jiangcheng-daily.example"

[[contacts]]
role = "licensing"
name = "版权合作部 李编辑"
email = "licensing@jiangcheng-daily.example"

[storage]
dir = "state"
"#;

/// The crate root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A bundled sample file under `samples/`.
pub fn sample(name: &str) -> PathBuf {
    root().join("samples").join(name)
}

/// Puts the bundled Chinese original into `root/archive`, the `[originals] paths` folder
/// of most end-to-end tests' configs.
pub fn archive_zh_original(root: &Path) {
    std::fs::create_dir_all(root.join("archive")).unwrap();
    std::fs::copy(
        sample("original-zh.html"),
        root.join("archive/original-zh.html"),
    )
    .unwrap();
}

/// `../shared/data`, or `None` with a message saying the test is skipped. CI checks the
/// folder exists, so a skip can only happen on a developer's machine.
pub fn shared_data() -> Option<PathBuf> {
    let dir = root().join("../shared/data");
    if dir.join("news-pages/pages.jsonl").is_file() {
        Some(dir)
    } else {
        eprintln!("skipping: ../shared/data not found (real test data lives there)");
        None
    }
}

/// Runs the `copyhound` binary with `args`, without any config from the environment.
pub fn copyhound(args: &[&str]) -> Output {
    copyhound_cmd(args)
        .output()
        .expect("the copyhound binary runs")
}

/// Runs the binary with `args` and `--config config` on the blocking pool, for async
/// tests whose fixture sites are served from the runtime's own threads.
pub async fn copyhound_blocking(config: &Path, args: &[&str]) -> Output {
    let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    all.extend(["--config".to_string(), config.display().to_string()]);
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        copyhound(&refs)
    })
    .await
    .expect("the copyhound task ends")
}

/// The `copyhound` command with `args`, without any config from the environment, for a
/// test that sets more (variables, standard input) before running it.
pub fn copyhound_cmd(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_copyhound"));
    cmd.args(args).env_remove("COPYHOUND_CONFIG");
    cmd
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Parses stdout as JSON, failing the test with both streams shown when it is not.
pub fn json(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "copyhound failed: {}\n{}",
        stdout(output),
        stderr(output)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", stdout(output)))
}

/// `text[start..end]` by characters.
pub fn char_slice(text: &str, start: usize, end: usize) -> String {
    text.chars()
        .skip(start)
        .take(end.saturating_sub(start))
        .collect()
}

/// Fixture servers for the crawler's tests: real HTTP on 127.0.0.1, port 0.
pub mod fixture {
    use std::future::Future;
    use std::net::SocketAddr;

    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpStream};

    /// Serves an axum router on 127.0.0.1 (port 0) from a task of the calling runtime;
    /// the server ends with the test.
    pub async fn serve(router: axum::Router) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        tokio::spawn(async move {
            axum::serve(listener, router).await.expect("serve");
        });
        addr
    }

    /// A GET route answering `body` as UTF-8 HTML.
    pub fn html(body: impl Into<Vec<u8>>) -> axum::routing::MethodRouter {
        let body: Vec<u8> = body.into();
        axum::routing::get(move || {
            let body = body.clone();
            async move { ([("content-type", "text/html; charset=utf-8")], body) }
        })
    }

    /// A loopback site serving the bundled Chinese copy (`copy-zh-mirror.html`) at
    /// `route` (axum's path syntax: `/news/{page}` serves every page under `/news/`).
    pub async fn zh_copy_site(route: &str) -> SocketAddr {
        let copy = std::fs::read(crate::util::sample("copy-zh-mirror.html")).expect("sample");
        serve(axum::Router::new().route(route, html(copy))).await
    }

    /// A hand-rolled server for misbehaviour axum would not produce (slow drip, endless
    /// bodies, stalls): `handle` gets each accepted connection.
    pub async fn serve_raw<F, Fut>(handle: F) -> SocketAddr
    where
        F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(handle(stream));
            }
        });
        addr
    }

    /// Reads one request head (up to the blank line); empty when the peer closed first.
    pub async fn read_head(stream: &mut TcpStream) -> Vec<u8> {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
            match stream.read(&mut byte).await {
                Ok(1) => head.push(byte[0]),
                _ => break,
            }
        }
        head
    }
}

/// Whether `python3` can import `module`; prints a skip message naming the test when
/// it cannot. `.ci/run` installs the modules, so CI never skips.
pub fn python_has(module: &str, test: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!(
            "skipping {test}: python3 module {module} not installed (pip install warcio aiosmtpd; CI installs them)"
        );
    }
    ok
}

/// The files in `dir` whose extension is `ext`, sorted by name (none when `dir` is
/// missing).
pub fn files_with_extension(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    names.retain(|p| p.extension().is_some_and(|e| e == ext));
    names.sort();
    names
}

/// A free TCP port on loopback (bound, then released for the server to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A real SMTP server on loopback: Python's aiosmtpd running `tests/support/smtp_sink.py`,
/// which saves each accepted message as `NNNN.eml` (+ `NNNN.rcpt`) in `dir`. Killed on
/// drop.
pub struct SmtpSink {
    child: std::process::Child,
    pub dir: PathBuf,
}

impl SmtpSink {
    /// Starts the sink on `port`; recipients containing `reject` get a 550.
    pub fn start(port: u16, dir: &Path, reject: Option<&str>) -> SmtpSink {
        SmtpSink::start_with(port, dir, reject, 0)
    }

    /// Like [`SmtpSink::start`], and the first `tempfail` messages get a 451.
    pub fn start_with(port: u16, dir: &Path, reject: Option<&str>, tempfail: u32) -> SmtpSink {
        let mut cmd = Command::new("python3");
        cmd.arg(root().join("tests/support/smtp_sink.py"))
            .args(["--port", &port.to_string(), "--dir"])
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit());
        if let Some(r) = reject {
            cmd.args(["--reject", r]);
        }
        cmd.args(["--tempfail", &tempfail.to_string()]);
        let child = cmd.spawn().expect("python3 runs the SMTP sink");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "SMTP sink did not start on port {port}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        SmtpSink {
            child,
            dir: dir.to_path_buf(),
        }
    }

    /// The messages received so far, in order, as raw bytes with their envelope
    /// recipients.
    pub fn messages(&self) -> Vec<(Vec<u8>, Vec<String>)> {
        files_with_extension(&self.dir, "eml")
            .iter()
            .map(|p| {
                let rcpt = std::fs::read_to_string(p.with_extension("rcpt")).unwrap_or_default();
                (
                    std::fs::read(p).expect("message file"),
                    rcpt.lines().map(str::to_string).collect(),
                )
            })
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the run must not skip tests for missing tools: `.ci/run` sets
/// `COPYHOUND_REQUIRE_BROWSER=1`, and CI services set `CI`.
pub fn tools_required() -> bool {
    std::env::var("COPYHOUND_REQUIRE_BROWSER").is_ok_and(|v| v == "1")
        || std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false")
}

/// Like [`python_has`], but under CI ([`tools_required`]) a missing module fails the
/// test instead of skipping it, so CI cannot pass by skipping.
pub fn python_needs(module: &str, test: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok || !tools_required(),
        "{test}: python3 module {module} is missing and this run requires it (pip install {module})"
    );
    if !ok {
        eprintln!("skipping {test}: python3 module {module} not installed (pip install {module}; CI installs it)");
    }
    ok
}

/// An export file read back by Python's `csv` module (`kind` = `csv`) or `openpyxl`
/// (`xlsx`), through `tests/support/read_export.py`.
pub fn read_export(kind: &str, path: &Path) -> serde_json::Value {
    let out = Command::new("python3")
        .arg(root().join("tests/support/read_export.py"))
        .arg(kind)
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "read_export.py {kind} failed: {}",
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).expect("read_export.py prints JSON")
}
