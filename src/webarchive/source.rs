//! Where WARC files come from: local paths, `http(s)` URLs streamed (never written to
//! disk; a broken connection resumes by range), and paths listings as Common Crawl
//! publishes them (`warc.paths.gz`: one path per line, relative to a base URL).

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use super::WebArchiveError;

/// A listing larger than this (decompressed) is refused: a month of CC-NEWS lists a few
/// hundred files, a main crawl about 100,000 (under 20 MB).
pub const MAX_LISTING_BYTES: u64 = 64 * 1024 * 1024;

/// Attempts to resume a remote file after network errors, per file, before it is given
/// up (and left for the next run to resume).
pub const MAX_RESUMES: u32 = 8;

/// Bytes read ahead from a source.
const READ_BUFFER: usize = 256 * 1024;

/// No data for this long on a remote file's connection is a network error (resumed).
const READ_TIMEOUT: Duration = Duration::from_secs(60);

const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// One WARC file to scan.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    Local(PathBuf),
    Remote(Url),
}

impl Source {
    /// An `http(s)` URL is remote; anything else is a local path.
    pub fn parse(text: &str) -> Source {
        match Url::parse(text) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Source::Remote(u),
            _ => Source::Local(PathBuf::from(text)),
        }
    }

    /// The name the store and the summary use: the URL, or the path as given.
    pub fn name(&self) -> String {
        match self {
            Source::Local(p) => p.display().to_string(),
            Source::Remote(u) => u.to_string(),
        }
    }
}

/// The HTTP client for remote files and listings. Archives are named by the operator
/// (like the outlet's feeds), so this is not the crawler's guarded client.
///
/// # Errors
/// [`WebArchiveError::Client`] when the TLS backend cannot start.
pub fn client(user_agent: &str) -> Result<reqwest::Client, WebArchiveError> {
    reqwest::Client::builder()
        .user_agent(user_agent)
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        // Range requests need the bytes as stored; a transparently gunzipped stream
        // would break every offset.
        .no_gzip()
        .no_brotli()
        .no_deflate()
        .build()
        .map_err(|e| WebArchiveError::Client(e.to_string()))
}

/// Opens a source for reading, buffered.
///
/// # Errors
/// [`WebArchiveError::Open`] naming the source.
pub fn open(
    source: &Source,
    client: &reqwest::Client,
    handle: &tokio::runtime::Handle,
    from: u64,
) -> Result<Box<dyn BufRead + Send>, WebArchiveError> {
    let open_err = |message: String| WebArchiveError::Open {
        source_name: source.name(),
        message,
    };
    match source {
        Source::Local(path) => {
            let mut file = std::fs::File::open(path).map_err(|e| open_err(e.to_string()))?;
            if from > 0 {
                use std::io::Seek;
                file.seek(std::io::SeekFrom::Start(from))
                    .map_err(|e| open_err(e.to_string()))?;
            }
            Ok(Box::new(BufReader::with_capacity(READ_BUFFER, file)))
        }
        Source::Remote(url) => {
            let mut reader = RemoteReader {
                handle: handle.clone(),
                client: client.clone(),
                url: url.clone(),
                pos: from,
                total: None,
                response: None,
                chunk: Vec::new(),
                offset: 0,
                discard: 0,
                resumes: 0,
            };
            // Open now so a missing file is an error here, not a damaged first record.
            // A network error (a stale pooled connection, a refused connection) is
            // tried again like a resume; an HTTP error status is not.
            loop {
                match reader.connect() {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return Err(open_err(e.to_string()))
                    }
                    Err(e) => {
                        reader.resumes += 1;
                        if reader.resumes > MAX_RESUMES {
                            return Err(open_err(e.to_string()));
                        }
                        let pause = Duration::from_millis(200 * (1 << reader.resumes.min(6)));
                        std::thread::sleep(pause);
                    }
                }
            }
            Ok(Box::new(BufReader::with_capacity(READ_BUFFER, reader)))
        }
    }
}

/// A remote file read as a stream. A network error or a connection that ends early
/// reopens the file from the byte reached with `Range: bytes=N-` (up to
/// [`MAX_RESUMES`] times, with a growing pause); a server that ignores ranges has the
/// bytes already read skipped.
struct RemoteReader {
    handle: tokio::runtime::Handle,
    client: reqwest::Client,
    url: Url,
    /// Bytes of the file delivered to the reader so far (plus the starting offset).
    pos: u64,
    /// The file's size, when the server said.
    total: Option<u64>,
    response: Option<reqwest::Response>,
    chunk: Vec<u8>,
    offset: usize,
    /// Bytes still to skip from a server that answered a range request with the whole
    /// file.
    discard: u64,
    resumes: u32,
}

impl RemoteReader {
    fn connect(&mut self) -> std::io::Result<()> {
        let handle = self.handle.clone();
        let _context = handle.enter();
        let mut request = self.client.get(self.url.clone());
        if self.pos > 0 {
            request = request.header(reqwest::header::RANGE, format!("bytes={}-", self.pos));
        }
        let response = self
            .handle
            .block_on(request.send())
            .map_err(|e| std::io::Error::other(error_chain(&e)))?;
        let status = response.status();
        if status == reqwest::StatusCode::PARTIAL_CONTENT {
            self.discard = 0;
            if let Some(total) = response
                .headers()
                .get(reqwest::header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit('/').next())
                .and_then(|v| v.parse().ok())
            {
                self.total = Some(total);
            }
        } else if status.is_success() {
            // The whole file again: skip what was read.
            self.discard = self.pos;
            self.total = response.content_length();
        } else if status == reqwest::StatusCode::RANGE_NOT_SATISFIABLE {
            // Asked past the end: nothing left.
            self.total = Some(self.pos);
        } else {
            return Err(std::io::Error::new(
                if status.is_server_error() {
                    std::io::ErrorKind::ConnectionAborted
                } else {
                    std::io::ErrorKind::NotFound
                },
                format!("HTTP {status}"),
            ));
        }
        self.response = Some(response);
        Ok(())
    }

    /// The next piece of the body: `Ok(None)` at the end of the file.
    fn next_chunk(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        // Timers (the pause, reqwest's read timeout) and dropped connections need the
        // runtime's context, not only its `block_on`.
        let handle = self.handle.clone();
        let _context = handle.enter();
        loop {
            if self.total.is_some_and(|t| self.pos >= t) {
                return Ok(None);
            }
            let got = if let Some(r) = self.response.as_mut() {
                self.handle.block_on(r.chunk()).map_err(|e| error_chain(&e))
            } else {
                match self.connect() {
                    Ok(()) => continue,
                    // A missing file stays missing: no point resuming.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(e),
                    Err(e) => Err(e.to_string()),
                }
            };
            let error = match got {
                Ok(Some(bytes)) => {
                    let mut bytes = bytes.to_vec();
                    if self.discard > 0 {
                        let skip = self.discard.min(bytes.len() as u64) as usize;
                        self.discard -= skip as u64;
                        bytes.drain(..skip);
                        if bytes.is_empty() {
                            continue;
                        }
                    }
                    return Ok(Some(bytes));
                }
                // The body ended: the end of the file, unless the server said it was
                // longer (a connection cut cleanly).
                Ok(None) if self.total.is_none_or(|t| self.pos >= t) => return Ok(None),
                Ok(None) => "the connection ended before the file did".to_string(),
                Err(e) => e.to_string(),
            };
            self.response = None;
            self.resumes += 1;
            if self.resumes > MAX_RESUMES {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    format!(
                        "{}: gave up at byte {} after {MAX_RESUMES} resumes: {error}",
                        self.url, self.pos
                    ),
                ));
            }
            tracing::warn!(
                source = %crate::crawl::sanitize(self.url.as_str()),
                at = self.pos,
                error = %crate::crawl::sanitize(&error),
                "network error; resuming by range"
            );
            let pause = Duration::from_millis(200 * (1 << self.resumes.min(6)));
            self.handle.block_on(tokio::time::sleep(pause));
        }
    }
}

impl Read for RemoteReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.offset >= self.chunk.len() {
            match self.next_chunk()? {
                Some(c) => {
                    self.chunk = c;
                    self.offset = 0;
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.offset);
        buf[..n].copy_from_slice(&self.chunk[self.offset..self.offset + n]);
        self.offset += n;
        self.pos += n as u64;
        Ok(n)
    }
}

/// An error with its causes, `outer: inner: ...` (reqwest's own message alone says only
/// "error sending request").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Reads a paths listing (a local file or a URL, gzipped or not) and turns each line
/// into a source: absolute URLs as they are, other lines joined to `base` (a URL, or a
/// local folder). Blank lines and `#` comments are skipped.
///
/// # Errors
/// [`WebArchiveError::Listing`] naming the listing.
pub fn read_listing(
    listing: &str,
    base: Option<&str>,
    client: &reqwest::Client,
    handle: &tokio::runtime::Handle,
) -> Result<Vec<Source>, WebArchiveError> {
    let err = |message: String| WebArchiveError::Listing {
        listing: listing.to_string(),
        message,
    };
    let source = Source::parse(listing);
    let input = open(&source, client, handle, 0).map_err(|e| err(e.to_string()))?;
    let mut input = input;
    let gzip = input
        .fill_buf()
        .map_err(|e| err(e.to_string()))?
        .starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn Read> = if gzip {
        Box::new(flate2::bufread::MultiGzDecoder::new(input))
    } else {
        Box::new(input)
    };
    let mut text = String::new();
    reader
        .take(MAX_LISTING_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| err(e.to_string()))?;
    if text.len() as u64 > MAX_LISTING_BYTES {
        return Err(err(format!("larger than {MAX_LISTING_BYTES} bytes")));
    }
    let base = base.map(str::trim).filter(|b| !b.is_empty());
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Source::Remote(u) = Source::parse(line) {
            out.push(Source::Remote(u));
            continue;
        }
        match base {
            Some(b) => match Source::parse(b) {
                Source::Remote(mut u) => {
                    if !u.path().ends_with('/') {
                        let path = format!("{}/", u.path());
                        u.set_path(&path);
                    }
                    let joined = u
                        .join(line.trim_start_matches('/'))
                        .map_err(|e| err(format!("{line:?}: {e}")))?;
                    out.push(Source::Remote(joined));
                }
                Source::Local(dir) => out.push(Source::Local(dir.join(line))),
            },
            None => out.push(Source::Local(PathBuf::from(line))),
        }
    }
    Ok(out)
}

/// Every `count`-th source starting at `index` (0-based): shard `index` of `count`.
pub fn shard<T>(sources: Vec<T>, index: usize, count: usize) -> Vec<T> {
    sources
        .into_iter()
        .enumerate()
        .filter(|(i, _)| count <= 1 || i % count == index)
        .map(|(_, s)| s)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_listing() {
        let all: Vec<usize> = (0..10).collect();
        let mut seen: Vec<usize> = (0..3).flat_map(|i| shard(all.clone(), i, 3)).collect();
        seen.sort_unstable();
        assert_eq!(seen, all);
        assert_eq!(shard(all.clone(), 1, 3), vec![1, 4, 7]);
        assert_eq!(shard(all.clone(), 0, 1), all);
    }

    #[test]
    fn sources_are_urls_or_paths() {
        assert!(matches!(
            Source::parse("https://data.commoncrawl.org/x.warc.gz"),
            Source::Remote(_)
        ));
        assert!(matches!(Source::parse("/tmp/x.warc.gz"), Source::Local(_)));
        assert!(matches!(Source::parse("file:///tmp/x"), Source::Local(_)));
    }
}
