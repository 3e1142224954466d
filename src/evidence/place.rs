//! Where evidence files live: a folder ([`Place::Dir`]: `[storage] evidence_dir`, by
//! default `<storage.dir>/evidence`, possibly an NFS or CephFS mount shared by several
//! machines) or a bucket of S3-compatible object storage ([`Place::Bucket`]:
//! `[storage] evidence_url`). Every writer and reader of evidence files and their `.tsr`
//! tokens goes through it, by file name.
//!
//! The never-overwrite rule holds on both, between processes on any number of machines:
//! a folder's file is written to a synced temporary file of a unique name and then
//! hard-linked to its final name (`link(2)` fails on an existing name, atomically, on a
//! local file system and over NFS), so a name never holds half a file and two writers
//! can never both take one name; an object is created with `PutMode::Create`
//! (`If-None-Match: *`), which the server refuses when the key exists. The caller picks
//! the next free name on [`PlaceError::Exists`].
//!
//! Reads are bounded: each takes a byte limit and refuses a larger file before reading it.
//! The object store's client is asynchronous; this module's calls are blocking and run
//! the client on a small runtime of its own (see [`Bucket::run`]), so the pipeline's
//! blocking paths and the desk's blocking pool call it alike.
//!
//! This module moves bytes; it never builds or checks a WARC file (that is the rest of
//! `evidence`).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::{ClientOptions, ObjectStore, PutMode, PutOptions, PutPayload, RetryConfig};

use crate::config::{BucketSettings, EvidenceLocation, Storage};

/// A credentials file larger than this is refused (a real one is a few lines).
const MAX_CREDENTIALS_BYTES: u64 = 64 * 1024;

/// One request to the object store gives up after this long (a multi-megabyte evidence
/// file on a slow link included); with retries the whole call is bounded by
/// [`RETRY_TIMEOUT`].
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_RETRIES: usize = 3;
const RETRY_TIMEOUT: Duration = Duration::from_secs(180);

/// Where evidence files are kept. Cheap to clone.
#[derive(Debug, Clone)]
pub enum Place {
    /// A folder, local or a shared mount.
    Dir(PathBuf),
    /// A bucket (and key prefix) of S3-compatible object storage.
    Bucket(Arc<Bucket>),
}

/// Why evidence could not be stored or read there.
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    /// The name is taken: nothing was written (the caller takes another name).
    #[error("{0}: already exists")]
    Exists(String),
    #[error("{what}: larger than {limit} bytes")]
    TooLarge { what: String, limit: u64 },
    #[error("{what}: {message}")]
    Io { what: String, message: String },
    /// A name from the database that is not a plain file name of ours.
    #[error("evidence file name {0:?} is not a plain file name")]
    BadName(String),
    /// The object store could not be set up (credentials, endpoint).
    #[error("[storage] {0}")]
    Open(String),
}

impl PlaceError {
    fn io(what: String, e: impl std::fmt::Display) -> PlaceError {
        PlaceError::Io {
            what,
            message: e.to_string(),
        }
    }
}

/// True for a name copyhound could have given an evidence file or its token: one path
/// component, no leading dot (our temporary files), no control characters. Names come
/// from the database; anything else must never reach outside the evidence folder.
pub fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && !name.contains(['/', '\\'])
        && !name.chars().any(char::is_control)
}

fn checked(name: &str) -> Result<&str, PlaceError> {
    if plain_name(name) {
        Ok(name)
    } else {
        Err(PlaceError::BadName(name.to_string()))
    }
}

impl Place {
    /// The place `[storage]` names. A bucket is opened once per process and shared by
    /// every later call with the same settings (one connection pool, one runtime);
    /// its credentials are read then, from `evidence_credentials_file` or the AWS
    /// environment variables.
    ///
    /// # Errors
    /// [`PlaceError::Open`] when the bucket's credentials or endpoint are unusable.
    pub fn open(storage: &Storage) -> Result<Place, PlaceError> {
        match &storage.evidence {
            EvidenceLocation::Dir(dir) => Ok(Place::Dir(dir.clone())),
            EvidenceLocation::Bucket(b) => {
                static OPEN: OnceLock<Mutex<HashMap<BucketSettings, Arc<Bucket>>>> =
                    OnceLock::new();
                let mut open = OPEN
                    .get_or_init(Default::default)
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                if let Some(bucket) = open.get(b) {
                    return Ok(Place::Bucket(Arc::clone(bucket)));
                }
                let bucket = Arc::new(Bucket::open(b)?);
                open.insert(b.clone(), Arc::clone(&bucket));
                Ok(Place::Bucket(bucket))
            }
        }
    }

    /// Where the file `name` is, for messages and reports: its path, or
    /// `s3://bucket/prefix/name`.
    pub fn location(&self, name: &str) -> String {
        match self {
            Place::Dir(dir) => dir_location(dir, name),
            Place::Bucket(b) => bucket_location(&b.url, name),
        }
    }

    /// The file's path when the place is a folder (for tools that need one, such as
    /// `openssl ts -verify`).
    pub fn local_path(&self, name: &str) -> Option<PathBuf> {
        match self {
            Place::Dir(dir) => Some(dir.join(name)),
            Place::Bucket(_) => None,
        }
    }

    /// The size of the file `name`, or `None` when there is none.
    ///
    /// # Errors
    /// [`PlaceError`] when the folder or the bucket cannot be asked.
    pub fn size(&self, name: &str) -> Result<Option<u64>, PlaceError> {
        let name = checked(name)?;
        match self {
            Place::Dir(dir) => match std::fs::metadata(dir.join(name)) {
                Ok(m) => Ok(Some(m.len())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(PlaceError::io(self.location(name), e)),
            },
            Place::Bucket(b) => {
                let key = b.key(name);
                match b.run(b.store.head(&key)) {
                    Ok(meta) => Ok(Some(meta.size)),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(PlaceError::io(self.location(name), e)),
                }
            }
        }
    }

    /// The bytes of the file `name`, or `None` when there is none; a file over `limit`
    /// bytes is refused ([`PlaceError::TooLarge`]) without being read whole.
    ///
    /// # Errors
    /// [`PlaceError`] naming the file.
    pub fn read(&self, name: &str, limit: u64) -> Result<Option<Vec<u8>>, PlaceError> {
        let name = checked(name)?;
        let what = self.location(name);
        let too_large = || PlaceError::TooLarge {
            what: what.clone(),
            limit,
        };
        match self {
            Place::Dir(dir) => {
                let file = match std::fs::File::open(dir.join(name)) {
                    Ok(f) => f,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(PlaceError::io(what, e)),
                };
                let len = file
                    .metadata()
                    .map_err(|e| PlaceError::io(what.clone(), e))?
                    .len();
                if len > limit {
                    return Err(too_large());
                }
                // The file may grow after the length was taken; the read stays bounded.
                let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
                file.take(limit.saturating_add(1))
                    .read_to_end(&mut bytes)
                    .map_err(|e| PlaceError::io(what.clone(), e))?;
                if bytes.len() as u64 > limit {
                    return Err(too_large());
                }
                Ok(Some(bytes))
            }
            Place::Bucket(b) => {
                let key = b.key(name);
                b.run(async {
                    let got = match b.store.get(&key).await {
                        Ok(g) => g,
                        Err(object_store::Error::NotFound { .. }) => return Ok(None),
                        Err(e) => return Err(PlaceError::io(what.clone(), e)),
                    };
                    if got.meta.size > limit {
                        return Err(too_large());
                    }
                    let mut bytes = Vec::with_capacity(usize::try_from(got.meta.size).unwrap_or(0));
                    let mut stream = got.into_stream();
                    while let Some(chunk) = stream.next().await {
                        let chunk = chunk.map_err(|e| PlaceError::io(what.clone(), e))?;
                        if (bytes.len() + chunk.len()) as u64 > limit {
                            return Err(too_large());
                        }
                        bytes.extend_from_slice(&chunk);
                    }
                    Ok(Some(bytes))
                })
            }
        }
    }

    /// Creates the file `name` holding `bytes`, durably, if and only if no file of that
    /// name exists: [`PlaceError::Exists`] otherwise, with nothing changed.
    ///
    /// # Errors
    /// [`PlaceError`] naming the file.
    pub fn create(&self, name: &str, bytes: &[u8]) -> Result<(), PlaceError> {
        let name = checked(name)?;
        match self {
            Place::Dir(dir) => create_in_dir(dir, name, bytes),
            Place::Bucket(b) => {
                let key = b.key(name);
                let opts = PutOptions {
                    mode: PutMode::Create,
                    ..PutOptions::default()
                };
                let payload = PutPayload::from(bytes.to_vec());
                match b.run(b.store.put_opts(&key, payload, opts)) {
                    Ok(_) => Ok(()),
                    Err(object_store::Error::AlreadyExists { .. }) => {
                        Err(PlaceError::Exists(self.location(name)))
                    }
                    Err(e) => Err(PlaceError::io(self.location(name), e)),
                }
            }
        }
    }
}

/// [`Place::location`] from the settings, without opening the place.
pub fn describe(location: &EvidenceLocation, name: &str) -> String {
    match location {
        EvidenceLocation::Dir(dir) => dir_location(dir, name),
        EvidenceLocation::Bucket(b) => bucket_location(&b.url, name),
    }
}

fn dir_location(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

fn bucket_location(url: &str, name: &str) -> String {
    format!("{}/{name}", url.trim_end_matches('/'))
}

/// A folder's file: a synced temporary file hard-linked to its name. The temporary
/// name is unique across processes and machines (a random UUID) and starts with a dot,
/// so no reader takes it for evidence.
fn create_in_dir(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), PlaceError> {
    let path = dir.join(name);
    let what = || path.display().to_string();
    std::fs::create_dir_all(dir).map_err(|e| PlaceError::io(dir.display().to_string(), e))?;
    let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4()));
    let linked = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        match std::fs::hard_link(&tmp, &path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // Over NFS a retransmitted LINK whose first try succeeded answers
                // EEXIST; the temporary file then has two links and the name is ours
                // (the check link(2) and open(2) recommend for NFS).
                use std::os::unix::fs::MetadataExt;
                Ok(std::fs::metadata(&tmp)?.nlink() == 2)
            }
            Err(e) => Err(e),
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(true) => {
            // The new name must survive a crash too: sync the folder's entry.
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(())
        }
        Ok(false) => Err(PlaceError::Exists(what())),
        Err(e) => Err(PlaceError::io(what(), e)),
    }
}

/// An open bucket: the S3 client, the key prefix, and the runtime its requests run on.
pub struct Bucket {
    store: AmazonS3,
    /// Keys are `prefix/name` (just `name` without a prefix).
    prefix: String,
    /// `s3://bucket/prefix`, as configured, for messages.
    url: String,
    /// The client's runtime: one worker thread; dropped with `shutdown_background` so
    /// dropping the last handle inside an async task cannot panic.
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The client holds the credentials: never printed.
        f.debug_struct("Bucket").field("url", &self.url).finish()
    }
}

impl Drop for Bucket {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Access keys, from `evidence_credentials_file` or the environment.
struct Credentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

impl Bucket {
    fn open(settings: &BucketSettings) -> Result<Bucket, PlaceError> {
        let credentials = read_credentials(settings.credentials_file.as_deref())?;
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region)
            .with_access_key_id(credentials.access_key_id)
            .with_secret_access_key(credentials.secret_access_key)
            .with_retry(RetryConfig {
                max_retries: MAX_RETRIES,
                retry_timeout: RETRY_TIMEOUT,
                ..RetryConfig::default()
            })
            .with_client_options(
                ClientOptions::new()
                    .with_timeout(REQUEST_TIMEOUT)
                    .with_connect_timeout(CONNECT_TIMEOUT),
            );
        if let Some(token) = credentials.session_token {
            builder = builder.with_token(token);
        }
        if let Some(endpoint) = &settings.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        let store = builder
            .build()
            .map_err(|e| PlaceError::Open(format!("evidence_url: {e}")))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("copyhound-evidence")
            .enable_all()
            .build()
            .map_err(|e| PlaceError::Open(format!("evidence_url: cannot start a runtime: {e}")))?;
        Ok(Bucket {
            store,
            prefix: settings.prefix.clone(),
            url: settings.url.clone(),
            runtime: Some(runtime),
        })
    }

    fn key(&self, name: &str) -> object_store::path::Path {
        if self.prefix.is_empty() {
            object_store::path::Path::from(name)
        } else {
            object_store::path::Path::from(format!("{}/{name}", self.prefix))
        }
    }

    /// Runs one of the client's futures to completion from blocking code: on the
    /// bucket's own runtime, off any async runtime's worker (as the store's PostgreSQL
    /// calls are, `store::sql::blocking`).
    fn run<F>(&self, fut: F) -> F::Output
    where
        F: std::future::Future + Send,
        F::Output: Send,
    {
        // The runtime is only taken out in `drop`.
        let Some(rt) = &self.runtime else {
            unreachable!("a bucket's runtime lives as long as the bucket")
        };
        crate::store::sql::blocking(|| rt.block_on(fut))
    }
}

/// The access keys: `file` when set (`aws_access_key_id = ...`,
/// `aws_secret_access_key = ...`, optionally `aws_session_token = ...`, as in an AWS
/// credentials file with one profile), else `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`. Never logged.
fn read_credentials(file: Option<&Path>) -> Result<Credentials, PlaceError> {
    let Some(file) = file else {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        return match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(access_key_id), Some(secret_access_key)) => Ok(Credentials {
                access_key_id,
                secret_access_key,
                session_token: var("AWS_SESSION_TOKEN"),
            }),
            _ => Err(PlaceError::Open(
                "evidence_credentials_file: not set, and AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not both in the environment".into(),
            )),
        };
    };
    let err = |m: String| {
        PlaceError::Open(format!(
            "evidence_credentials_file: {}: {m}",
            file.display()
        ))
    };
    let len = std::fs::metadata(file)
        .map_err(|e| err(e.to_string()))?
        .len();
    if len > MAX_CREDENTIALS_BYTES {
        return Err(err(format!("larger than {MAX_CREDENTIALS_BYTES} bytes")));
    }
    let text = std::fs::read_to_string(file).map_err(|e| err(e.to_string()))?;
    parse_credentials(&text).map_err(err)
}

/// The keys of a credentials file's text. Blank lines, `#`/`;` comments and `[profile]`
/// lines are skipped; any other key is refused (by name, never with its value).
fn parse_credentials(text: &str) -> Result<Credentials, String> {
    let (mut id, mut secret, mut token) = (None, None, None);
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';', '[']) {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("line {}: not `key = value`", n + 1));
        };
        let value = value.trim().to_string();
        match key.trim() {
            "aws_access_key_id" => id = Some(value),
            "aws_secret_access_key" => secret = Some(value),
            "aws_session_token" => token = Some(value),
            other => return Err(format!("line {}: unknown key {other:?}", n + 1)),
        }
    }
    match (id, secret) {
        (Some(access_key_id), Some(secret_access_key))
            if !access_key_id.is_empty() && !secret_access_key.is_empty() =>
        {
            Ok(Credentials {
                access_key_id,
                secret_access_key,
                session_token: token.filter(|t| !t.is_empty()),
            })
        }
        _ => Err("needs aws_access_key_id and aws_secret_access_key".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_only() {
        for ok in ["20261205T063000.000Z-m1-x.warc.gz", "a.warc.gz.tsr"] {
            assert!(plain_name(ok), "{ok}");
        }
        for bad in [
            "",
            ".hidden",
            "../x",
            "a/b",
            "a\\b",
            "a\nb",
            &"x".repeat(256),
        ] {
            assert!(!plain_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_folder_never_overwrites_and_reads_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let place = Place::Dir(dir.path().join("evidence"));
        place.create("a.warc.gz", b"first").unwrap();
        let again = place.create("a.warc.gz", b"second").unwrap_err();
        assert!(matches!(again, PlaceError::Exists(_)), "{again}");
        assert_eq!(place.read("a.warc.gz", 100).unwrap().unwrap(), b"first");
        assert_eq!(place.size("a.warc.gz").unwrap(), Some(5));
        assert_eq!(place.read("b.warc.gz", 100).unwrap(), None);
        assert_eq!(place.size("b.warc.gz").unwrap(), None);
        assert!(matches!(
            place.read("a.warc.gz", 4).unwrap_err(),
            PlaceError::TooLarge { .. }
        ));
        assert!(matches!(
            place.read("../a.warc.gz", 100).unwrap_err(),
            PlaceError::BadName(_)
        ));
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("evidence"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["a.warc.gz"]);
    }

    #[test]
    fn concurrent_writers_of_one_name_leave_one_intact_file() {
        let dir = tempfile::tempdir().unwrap();
        let place = Place::Dir(dir.path().to_path_buf());
        let won: Vec<bool> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8u8)
                .map(|i| {
                    let place = place.clone();
                    s.spawn(move || place.create("x", &[i; 4096]).is_ok())
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(won.iter().filter(|w| **w).count(), 1);
        let bytes = place.read("x", 1 << 20).unwrap().unwrap();
        let winner = won.iter().position(|w| *w).unwrap() as u8;
        assert_eq!(bytes, vec![winner; 4096]);
    }

    #[test]
    fn credentials_files_are_parsed_strictly() {
        let c = parse_credentials(
            "[default]\n# comment\naws_access_key_id = AKID\naws_secret_access_key=s3cr=t\n",
        )
        .unwrap();
        assert_eq!(c.access_key_id, "AKID");
        assert_eq!(c.secret_access_key, "s3cr=t");
        assert_eq!(c.session_token, None);
        let e = parse_credentials("aws_access_key_id = A\nregion = x\n")
            .err()
            .unwrap();
        assert!(e.contains("unknown key \"region\""), "{e}");
        assert!(parse_credentials("aws_access_key_id = A\n").is_err());
        let e = parse_credentials("aws_secret_access_key\n").err().unwrap();
        assert!(!e.contains("aws_secret"), "{e}");
    }
}
