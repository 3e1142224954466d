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
