//! Portable evidence: matches' evidence files as one WACZ 1.1.1 package
//! (`copyhound export-evidence ID... --wacz FILE`), which ReplayWeb.page opens and
//! replays and the `wacz` tool validates.
//!
//! The package is a ZIP holding `archive/*.warc.gz` (the evidence files byte for byte,
//! *stored*, not deflated, so a reader can seek into them by the index's offsets),
//! `timestamps/*.warc.gz.tsr` (each file's RFC 3161 token, when it has one),
//! `indexes/index.cdxj` (one line per `response` and `resource` record, sorted:
//! `SURT timestamp {json}` with `url`, `mime`, `status`, `digest`, `offset`, `length`,
//! `filename`), `pages/pages.jsonl` (a header line, then one page per match: `url`,
//! `ts`, `title`), `datapackage.json` (every other file with its `sha256:` hash and
//! size) and `datapackage-digest.json` (the hash of `datapackage.json`, and, when a
//! time-stamp authority is set, an RFC 3161 token over it: see [`package_token`]).
//!
//! Every evidence file is read once, bounded ([`super::MAX_EVIDENCE_BYTES`] each,
//! [`MAX_PACKAGE_WARC_BYTES`] in all); the package is written to a temporary file
//! beside the target and renamed into place, so a failed export leaves no half package.

use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

/// The WACZ version this writer follows.
pub const WACZ_VERSION: &str = "1.1.1";

/// Matches one package may hold.
pub const MAX_PACKAGE_MATCHES: usize = 1000;

/// The evidence files of one package together (a package is meant to be mailed or
/// uploaded with a complaint, not to be an archive of everything).
pub const MAX_PACKAGE_WARC_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// Why a package could not be made.
#[derive(Debug, thiserror::Error)]
pub enum WaczError {
    #[error("{path}: cannot read evidence file: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: larger than {limit} bytes")]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("the evidence files together are larger than {MAX_PACKAGE_WARC_BYTES} bytes")]
    PackageTooLarge,
    #[error("{path}: cannot write the package: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: cannot write the package: {source}")]
    Zip {
        path: PathBuf,
        #[source]
        source: zip::result::ZipError,
    },
    #[error("package metadata: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Place(#[from] super::place::PlaceError),
    #[error("{0}: no such evidence file")]
    Missing(String),
}

/// One evidence file to package.
#[derive(Debug, Clone)]
pub struct PackageFile {
    /// Its name in `archive/` (the evidence file's own name), and where it is.
    pub name: String,
    pub place: super::place::Place,
}

/// One page of `pages.jsonl`: a match's copy.
#[derive(Debug, Clone, Serialize)]
pub struct PackagePage {
    /// `m<match id>`.
    pub id: String,
    pub url: String,
    /// The capture's time, RFC 3339 UTC.
    pub ts: String,
    pub title: String,
}

/// What goes into a package besides the files.
pub struct PackageInput<'a> {
    pub files: &'a [PackageFile],
    pub pages: &'a [PackagePage],
    pub title: String,
    /// `copyhound/<version>`.
    pub software: &'a str,
    pub created: DateTime<Utc>,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageSummary {
    pub bytes: u64,
    pub warcs: usize,
    pub index_lines: usize,
    pub pages: usize,
    /// `sha256:` hex of `datapackage.json`, as `datapackage-digest.json` states it.
    pub datapackage_hash: String,
    pub timestamped: bool,
}

/// The RFC 3161 token over a package's digest (the SHA-256 of its `datapackage.json`),
/// as DER bytes of the time-stamp reply (what `openssl ts -reply` writes, `.tsr`), or
/// `None` when no time-stamp authority is configured.
///
/// The token is requested from `[evidence] tsa_urls` and checked like an evidence
/// file's (`timestamp::request`). A TSA that fails does not fail the export: it is
/// logged and the digest file then carries no token.
pub fn package_token(settings: &crate::config::Settings, digest: &[u8; 32]) -> Option<Vec<u8>> {
    if !settings.evidence.timestamps_enabled() {
        return None;
    }
    let client = match settings.evidence.tsa() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "package not timestamped");
            return None;
        }
    };
    let request = super::timestamp::request(&client, digest);
    // Called from the CLI's synchronous glue; inside a runtime (a future caller on the
    // daemon) the request runs on that runtime's blocking-aware thread instead.
    let result = match tokio::runtime::Handle::try_current() {
        Ok(handle) => tokio::task::block_in_place(|| handle.block_on(request)),
        Err(_) => match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime.block_on(request),
            Err(e) => {
                tracing::warn!(error = %e, "package not timestamped: no async runtime");
                return None;
            }
        },
    };
    match result {
        Ok(token) => Some(token.response_der),
        Err(e) => {
            tracing::warn!(error = %e, "package not timestamped");
            None
        }
    }
}

/// Writes the package to `out` (through a temporary file beside it, renamed into place).
/// `token` is asked for the RFC 3161 token over the `datapackage.json` digest
/// ([`package_token`]).
///
/// # Errors
/// [`WaczError`] naming the file that cannot be read or written, or the bound exceeded.
pub fn write_package(
    out: &Path,
    input: &PackageInput<'_>,
    token: impl FnOnce(&[u8; 32]) -> Option<Vec<u8>>,
) -> Result<PackageSummary, WaczError> {
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let write_err = |source| WaczError::Write {
        path: out.to_path_buf(),
        source,
    };
    let tmp = tempfile_in(dir).map_err(write_err)?;
    let result = (|| -> Result<PackageSummary, WaczError> {
        let file = std::fs::File::create(&tmp).map_err(write_err)?;
        let (file, summary) = write_zip(file, input, token, out)?;
        file.sync_all().map_err(write_err)?;
        std::fs::rename(&tmp, out).map_err(write_err)?;
        Ok(summary)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    let mut summary = result?;
    summary.bytes = std::fs::metadata(out).map_err(write_err)?.len();
    Ok(summary)
}

fn tempfile_in(dir: &Path) -> std::io::Result<PathBuf> {
    let path = dir.join(format!(".copyhound-wacz-{}.tmp", uuid::Uuid::new_v4()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    Ok(path)
}

/// One `datapackage.json` resource.
#[derive(Serialize)]
struct Resource {
    name: String,
    path: String,
    hash: String,
    bytes: u64,
}

#[derive(Serialize)]
struct DataPackage<'a> {
    profile: &'static str,
    resources: &'a [Resource],
    wacz_version: &'static str,
    title: &'a str,
    #[serde(rename = "mainPageURL", skip_serializing_if = "Option::is_none")]
    main_page_url: Option<&'a str>,
    #[serde(rename = "mainPageDate", skip_serializing_if = "Option::is_none")]
    main_page_date: Option<&'a str>,
    created: &'a str,
    software: &'a str,
}

#[derive(Serialize)]
struct DigestFile<'a> {
    path: &'static str,
    hash: &'a str,
    /// Base64 of the DER time-stamp reply over the SHA-256 of `datapackage.json`.
    #[serde(rename = "timestampToken", skip_serializing_if = "Option::is_none")]
    timestamp_token: Option<String>,
}

fn write_zip<W: Write + Seek>(
    sink: W,
    input: &PackageInput<'_>,
    token: impl FnOnce(&[u8; 32]) -> Option<Vec<u8>>,
    out: &Path,
) -> Result<(W, PackageSummary), WaczError> {
    let zip_err = |source| WaczError::Zip {
        path: out.to_path_buf(),
        source,
    };
    let io_err = |source| WaczError::Write {
        path: out.to_path_buf(),
        source,
    };
    let mut zip = zip::ZipWriter::new(sink);
    let mtime = zip_time(input.created);
    let stored = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .last_modified_time(mtime);
    let deflated = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(mtime);
    let mut resources = Vec::new();
    let mut index = Vec::new();
    let mut total = 0u64;
    let mut names = std::collections::HashSet::new();
    for f in input.files {
        // A file shared by two matches is packed once.
        if !names.insert(f.name.clone()) {
            continue;
        }
        let missing = || WaczError::Missing(f.place.location(&f.name));
        let len = f.place.size(&f.name)?.ok_or_else(missing)?;
        if total.saturating_add(len) > MAX_PACKAGE_WARC_BYTES {
            return Err(WaczError::PackageTooLarge);
        }
        let bytes = f
            .place
            .read(&f.name, super::MAX_EVIDENCE_BYTES)?
            .ok_or_else(missing)?;
        total += bytes.len() as u64;
        if total > MAX_PACKAGE_WARC_BYTES {
            return Err(WaczError::PackageTooLarge);
        }
        index.extend(cdxj_lines(&bytes, &f.name));
        let path = format!("archive/{}", f.name);
        zip.start_file(
            path.as_str(),
            stored.large_file(bytes.len() as u64 >= u64::from(u32::MAX)),
        )
        .map_err(zip_err)?;
        zip.write_all(&bytes).map_err(io_err)?;
        resources.push(resource(&path, &bytes));
        // The file's RFC 3161 token travels with it, so the package can be checked
        // offline (`openssl ts -verify -data archive/F -in timestamps/F.tsr`).
        if let Some(token) = f.place.read(
            &super::stamping::tsr_name(&f.name),
            super::inspect::MAX_TOKEN_BYTES,
        )? {
            let path = format!("timestamps/{}.tsr", f.name);
            zip.start_file(path.as_str(), stored).map_err(zip_err)?;
            zip.write_all(&token).map_err(io_err)?;
            resources.push(resource(&path, &token));
        }
    }
    index.sort();
    index.dedup();
    let index_bytes: Vec<u8> = index
        .iter()
        .flat_map(|l| [l.as_bytes(), b"\n"].concat())
        .collect();
    let pages = pages_jsonl(input.pages)?;
    for (path, bytes) in [
        ("indexes/index.cdxj", &index_bytes),
        ("pages/pages.jsonl", &pages),
    ] {
        zip.start_file(path, deflated).map_err(zip_err)?;
        zip.write_all(bytes).map_err(io_err)?;
        resources.push(resource(path, bytes));
    }
    unique_names(&mut resources);
    let created = super::utc(input.created);
    let main = input.pages.first();
    let package = serde_json::to_vec_pretty(&DataPackage {
        profile: "data-package",
        resources: &resources,
        wacz_version: WACZ_VERSION,
        title: &input.title,
        main_page_url: main.map(|p| p.url.as_str()),
        main_page_date: main.map(|p| p.ts.as_str()),
        created: &created,
        software: input.software,
    })?;
    let digest: [u8; 32] = Sha256::digest(&package).into();
    let hash = format!("sha256:{}", hex::encode(digest));
    let token = token(&digest);
    let digest_file = serde_json::to_vec_pretty(&DigestFile {
        path: "datapackage.json",
        hash: &hash,
        timestamp_token: token.as_ref().map(|t| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(t)
        }),
    })?;
    for (path, bytes) in [
        ("datapackage.json", &package),
        ("datapackage-digest.json", &digest_file),
    ] {
        zip.start_file(path, deflated).map_err(zip_err)?;
        zip.write_all(bytes).map_err(io_err)?;
    }
    let sink = zip.finish().map_err(zip_err)?;
    Ok((
        sink,
        PackageSummary {
            bytes: 0,
            warcs: names.len(),
            index_lines: index.len(),
            pages: input.pages.len(),
            datapackage_hash: hash,
            timestamped: token.is_some(),
        },
    ))
}

/// A ZIP entry time (MS-DOS: 1980..2107, two-second steps); out of range: 1980.
fn zip_time(t: DateTime<Utc>) -> zip::DateTime {
    let parts = (
        u16::try_from(t.year()).unwrap_or(1980),
        t.month() as u8,
        t.day() as u8,
        t.hour() as u8,
        t.minute() as u8,
        t.second() as u8,
    );
    zip::DateTime::from_date_and_time(parts.0, parts.1, parts.2, parts.3, parts.4, parts.5)
        .unwrap_or_default()
}

/// A `datapackage.json` resource: frictionless names are lower case `[-a-z0-9._/]`.
fn resource(path: &str, bytes: &[u8]) -> Resource {
    let base = path.rsplit('/').next().unwrap_or(path);
    let name = base
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_') {
                c
            } else {
                '-'
            }
        })
        .collect();
    Resource {
        name,
        path: path.to_string(),
        hash: format!("sha256:{}", hex::encode(Sha256::digest(bytes))),
        bytes: bytes.len() as u64,
    }
}

/// Resource names must be unique in a data package; lower-casing could make two file
/// names one, so a repeated name gets `-2`, `-3`, ... appended.
fn unique_names(resources: &mut [Resource]) {
    let mut seen = std::collections::HashSet::new();
    for r in resources.iter_mut() {
        let mut name = r.name.clone();
        let mut n = 1;
        while !seen.insert(name.clone()) {
            n += 1;
            name = format!("{}-{n}", r.name);
        }
        r.name = name;
    }
}

#[derive(Serialize)]
struct PagesHeader {
    format: &'static str,
    id: &'static str,
    title: &'static str,
}

fn pages_jsonl(pages: &[PackagePage]) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = serde_json::to_vec(&PagesHeader {
        format: "json-pages-1.0",
        id: "pages",
        title: "All Pages",
    })?;
    out.push(b'\n');
    for p in pages {
        out.extend(serde_json::to_vec(p)?);
        out.push(b'\n');
    }
    Ok(out)
}

/// One CDXJ entry's JSON: the fields pywb, py-wacz and ReplayWeb.page read.
#[derive(Serialize)]
struct CdxjEntry<'a> {
    url: &'a str,
    mime: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<&'a str>,
    length: String,
    offset: String,
    filename: &'a str,
}

/// The index lines of one evidence file: one per `response` and `resource` record.
pub fn cdxj_lines(bytes: &[u8], filename: &str) -> Vec<String> {
    let inspection = super::inspect::inspect(bytes);
    let mut lines = Vec::new();
    for r in &inspection.records {
        let (Some(url), Some(date)) = (r.target.as_deref(), r.date.as_deref()) else {
            continue;
        };
        let (mime, digest) = match r.warc_type.as_str() {
            "response" => (r.http_type.as_deref(), r.payload_digest.as_deref()),
            "resource" => (r.content_type.as_deref(), r.block_digest.as_deref()),
            _ => continue,
        };
        let mime = media_type(mime.unwrap_or(""));
        let json = serde_json::to_string(&CdxjEntry {
            url,
            mime: if mime.is_empty() { "unk".into() } else { mime },
            status: r.http_status.map(|s| s.to_string()),
            digest,
            length: r.length.to_string(),
            offset: r.offset.to_string(),
            filename,
        });
        if let Ok(json) = json {
            lines.push(format!("{} {} {json}", surt(url), timestamp14(date)));
        }
    }
    lines
}

/// `text/html` of `text/html; charset=utf-8`, lower case, one token.
fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .collect()
}

/// `20260301100000` from a WARC-Date (`2026-03-01T10:00:00Z`, fractions allowed).
fn timestamp14(date: &str) -> String {
    let digits: String = date.chars().filter(char::is_ascii_digit).take(14).collect();
    format!("{digits:0<14}")
}

/// The SURT sort key of a URL as pywb and py-wacz form it: scheme dropped, host labels
/// reversed and comma-joined (a leading `www` dropped, an IP address kept as is), a
/// non-default port after the host, `)` then the path and the query with its
/// parameters sorted, all lower case. A URL that does not parse (a `urn:`) is its own
/// lower-cased key.
pub fn surt(url: &str) -> String {
    let Ok(u) = url::Url::parse(url) else {
        return url.to_ascii_lowercase();
    };
    let Some(host) = u.host() else {
        return url.to_ascii_lowercase();
    };
    let host = match host {
        url::Host::Domain(d) => {
            let mut labels: Vec<&str> = d.trim_end_matches('.').split('.').collect();
            if labels.len() > 2 && labels.first() == Some(&"www") {
                labels.remove(0);
            }
            labels.reverse();
            labels.join(",")
        }
        url::Host::Ipv4(ip) => ip.to_string(),
        url::Host::Ipv6(ip) => format!("[{ip}]"),
    };
    let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
    let mut query: Vec<&str> = u
        .query()
        .map(|q| q.split('&').collect())
        .unwrap_or_default();
    query.sort_unstable();
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{}", query.join("&"))
    };
    format!("{host}{port}){}{query}", u.path()).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surt_keys() {
        for (url, key) in [
            (
                "https://www.Example.com/a/B?z=1&a=2",
                "com,example)/a/b?a=2&z=1",
            ),
            ("http://copier.example:8080/x", "example,copier:8080)/x"),
            (
                "http://127.0.0.1:41234/news/1.html",
                "127.0.0.1:41234)/news/1.html",
            ),
            ("urn:view:http://x.example/", "urn:view:http://x.example/"),
        ] {
            assert_eq!(surt(url), key, "{url}");
        }
        assert_eq!(timestamp14("2026-03-01T10:00:00.123Z"), "20260301100000");
        assert_eq!(media_type(" Text/HTML ; charset=utf-8"), "text/html");
    }

    #[test]
    fn resource_names_are_lower_case_and_unique() {
        let mut resources = vec![
            resource("archive/A-1.warc.gz", b"a"),
            resource("archive/a-1.warc.gz", b"b"),
            resource("archive/x y+z.warc.gz", b"c"),
        ];
        unique_names(&mut resources);
        let names: Vec<&str> = resources.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["a-1.warc.gz", "a-1.warc.gz-2", "x-y-z.warc.gz"]);
    }

    #[test]
    fn index_lines_for_responses_and_screenshots() {
        let bytes = crate::evidence::inspect::tests::bundle_with_screenshot();
        let lines = cdxj_lines(&bytes, "f.warc.gz");
        // The response and the two resources (the index lists what is stored, the
        // report decides what is a screenshot).
        assert_eq!(lines.len(), 3, "{lines:?}");
        let response = lines
            .iter()
            .find(|l| l.starts_with("example,copier)/a "))
            .unwrap();
        let json: serde_json::Value =
            serde_json::from_str(response.splitn(3, ' ').nth(2).unwrap()).unwrap();
        assert_eq!(json["status"], "200");
        assert_eq!(json["mime"], "text/html");
        assert_eq!(json["filename"], "f.warc.gz");
        assert!(json["digest"].as_str().unwrap().starts_with("sha256:"));
        let i = crate::evidence::inspect::inspect(&bytes);
        assert_eq!(json["offset"], i.records[2].offset.to_string());
        assert_eq!(json["length"], i.records[2].length.to_string());
        assert!(lines
            .iter()
            .any(|l| l.starts_with("urn:view:http://copier.example/a ")
                && l.contains("\"mime\":\"image/png\"")));
    }

    #[test]
    fn package_holds_what_the_datapackage_says() {
        let dir = tempfile::tempdir().unwrap();
        let warc_path = dir.path().join("E-1.warc.gz");
        std::fs::write(
            &warc_path,
            crate::evidence::inspect::tests::bundle_with_screenshot(),
        )
        .unwrap();
        let out = dir.path().join("p.wacz");
        let files = [PackageFile {
            name: "E-1.warc.gz".into(),
            place: crate::evidence::place::Place::Dir(dir.path().to_path_buf()),
        }];
        let pages = [PackagePage {
            id: "m7".into(),
            url: "http://copier.example/a".into(),
            ts: "2026-03-01T10:00:00Z".into(),
            title: "t".into(),
        }];
        let summary = write_package(
            &out,
            &PackageInput {
                files: &files,
                pages: &pages,
                title: "x".into(),
                software: "copyhound/test",
                created: Utc::now(),
            },
            |_| Some(b"token".to_vec()),
        )
        .unwrap();
        assert!(summary.timestamped);
        let mut zip = zip::ZipArchive::new(std::fs::File::open(&out).unwrap()).unwrap();
        let warc = zip.by_name("archive/E-1.warc.gz").unwrap();
        assert_eq!(warc.compression(), CompressionMethod::Stored);
        drop(warc);
        let mut package = String::new();
        std::io::Read::read_to_string(&mut zip.by_name("datapackage.json").unwrap(), &mut package)
            .unwrap();
        let json: serde_json::Value = serde_json::from_str(&package).unwrap();
        assert_eq!(json["wacz_version"], "1.1.1");
        assert_eq!(json["resources"][0]["name"], "e-1.warc.gz");
        let expected = hex::encode(Sha256::digest(std::fs::read(&warc_path).unwrap()));
        assert_eq!(json["resources"][0]["hash"], format!("sha256:{expected}"));
        let mut digest = String::new();
        std::io::Read::read_to_string(
            &mut zip.by_name("datapackage-digest.json").unwrap(),
            &mut digest,
        )
        .unwrap();
        let digest: serde_json::Value = serde_json::from_str(&digest).unwrap();
        assert_eq!(
            digest["hash"],
            format!("sha256:{}", hex::encode(Sha256::digest(package.as_bytes())))
        );
        assert_eq!(digest["timestampToken"], "dG9rZW4=");
        // No temporary file is left beside the package.
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 2);
    }
}
