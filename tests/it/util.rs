//! Shared harness of the integration tests: running the real binary, finding the real
//! test data.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The crate root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A bundled sample file under `samples/`.
pub fn sample(name: &str) -> PathBuf {
    root().join("samples").join(name)
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
    Command::new(env!("CARGO_BIN_EXE_copyhound"))
        .args(args)
        .env_remove("COPYHOUND_CONFIG")
        .output()
        .expect("the copyhound binary runs")
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
