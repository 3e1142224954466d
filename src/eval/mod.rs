//! Evaluation on the real test data in `../shared/data`: extraction quality against the
//! human-checked texts, and detection quality on copies built the ways infringers make
//! them. Used by `copyhound eval` and by the integration tests that hold the targets.
//!
//! This module reads files (it is an edge, not the core); it never writes anything and
//! never uses the network.

use std::path::{Path, PathBuf};

pub mod detection;
pub mod extraction;

/// Why an evaluation could not run.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: invalid record: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// One page of `news-pages/pages.jsonl`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Page {
    pub id: String,
    pub url: String,
    /// `zh`, `ja`, `ko` or `en-or-other`.
    pub lang: String,
    /// Path of the raw HTML, relative to `news-pages/`.
    pub html: String,
    /// The human-checked main text.
    pub text: String,
}

/// Reads `news-pages/pages.jsonl` under `data_dir`.
///
/// # Errors
/// [`EvalError`] naming the file and line at fault.
pub fn load_pages(data_dir: &Path) -> Result<Vec<Page>, EvalError> {
    read_jsonl(&data_dir.join("news-pages/pages.jsonl"))
}

/// Reads a file of one JSON object per line (blank lines skipped).
///
/// # Errors
/// [`EvalError`] naming the file and line at fault.
pub fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, EvalError> {
    let source = std::fs::read_to_string(path).map_err(|source| EvalError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    source
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| EvalError::Parse {
                path: path.to_path_buf(),
                line: i + 1,
                message: e.to_string(),
            })
        })
        .collect()
}
