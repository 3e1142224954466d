//! A small WARC/1.1 (ISO 28500) writer and verifying reader.
//!
//! The existing WARC crates compute no digests and cannot be trusted to append, and an
//! evidence file is only worth its digests, so we write our own: each record is one gzip
//! member (so a reader can seek to any record and a damaged member spoils only its own
//! record), with `WARC-Block-Digest` over the whole block and `WARC-Payload-Digest` over
//! the HTTP entity of `response` records, both `sha256:` in base32 (RFC 4648, the form
//! other WARC tools write and `warcio check` reads).
//!
//! This module serialises and parses bytes. It opens no files and knows nothing of
//! matches: [`crate::evidence`] decides what goes into the records and where they go.

use std::io::{BufRead, Read, Write};

use chrono::{DateTime, SecondsFormat, Utc};
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

/// The version line of every record we write.
pub const WARC_VERSION: &str = "WARC/1.1";

/// A record's header block larger than this is refused by the reader: our records have a
/// dozen short headers, so anything bigger is damage, not data.
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// A record's block larger than this is refused by the reader (bounded memory; crawled
/// bodies are capped far below this by `[crawl] max_body_bytes`).
pub const MAX_BLOCK_BYTES: u64 = 1024 * 1024 * 1024;

/// One WARC record: named fields and the block they describe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Header fields in writing order, without `Content-Length` (computed from the
    /// block when serialised).
    pub headers: Vec<(String, String)>,
    pub block: Vec<u8>,
}

impl Record {
    /// A record of `warc_type` with the mandatory fields (`WARC-Type`, `WARC-Record-ID`,
    /// `WARC-Date`) and the block digest.
    pub fn new(warc_type: &str, record_id: &str, date: DateTime<Utc>, block: Vec<u8>) -> Record {
        let digest = sha256_label(&block);
        Record {
            headers: vec![
                ("WARC-Type".into(), warc_type.into()),
                ("WARC-Record-ID".into(), record_id.into()),
                ("WARC-Date".into(), warc_date(date)),
                ("WARC-Block-Digest".into(), digest),
            ],
            block,
        }
    }

    /// Adds a header field. Values are single-line by construction: CR and LF (which
    /// would let a crawled URL forge fields) are replaced by spaces.
    pub fn with(mut self, name: &str, value: &str) -> Record {
        let clean: String = value
            .chars()
            .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
            .collect();
        self.headers.push((name.into(), clean));
        self
    }

    /// The value of the first header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The record as uncompressed bytes: version line, fields, `Content-Length`, blank
    /// line, block, and the two CRLFs that end every record.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.block.len() + 512);
        out.extend_from_slice(WARC_VERSION.as_bytes());
        out.extend_from_slice(b"\r\n");
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", self.block.len()).as_bytes());
        out.extend_from_slice(&self.block);
        out.extend_from_slice(b"\r\n\r\n");
        out
    }

    /// The record as one gzip member.
    pub fn to_gzip_member(&self) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::default());
        // Writing into a Vec cannot fail, so neither can the encoder around it.
        let _ = encoder.write_all(&self.to_bytes());
        encoder.finish().unwrap_or_default()
    }
}

/// `2026-11-26T08:24:38Z`: WARC-Date is UTC (ISO 8601, W3C profile).
pub fn warc_date(date: DateTime<Utc>) -> String {
    date.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A fresh `<urn:uuid:...>` record id.
pub fn new_record_id() -> String {
    format!("<urn:uuid:{}>", uuid::Uuid::new_v4())
}

/// `sha256:` followed by the base32 digest of `bytes`.
pub fn sha256_label(bytes: &[u8]) -> String {
    format!("sha256:{}", base32(&Sha256::digest(bytes)))
}

/// RFC 4648 base32, upper case, padded.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    for chunk in bytes.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let n = buf.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        let symbols = (chunk.len() * 8).div_ceil(5);
        for i in 0..8 {
            if i < symbols {
                let index = ((n >> (35 - i * 5)) & 31) as usize;
                out.push(ALPHABET[index] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The HTTP payload of a `request`/`response` block: what follows the first blank line.
/// `None` when the block has no complete head.
pub fn http_payload(block: &[u8]) -> Option<&[u8]> {
    block
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| &block[i + 4..])
}

/// What the verifying reader found wrong with a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordProblem {
    /// Position of the record in the file, from 1.
    pub index: usize,
    /// Byte offset of the record's gzip member in the file.
    pub offset: u64,
    /// `WARC-Type`, when the record could be read that far.
    pub warc_type: Option<String>,
    /// `WARC-Record-ID`, when the record could be read that far.
    pub record_id: Option<String>,
    pub message: String,
}

impl std::fmt::Display for RecordProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "record {} at byte {}", self.index, self.offset)?;
        if let Some(t) = &self.warc_type {
            write!(f, " ({t}")?;
            if let Some(id) = &self.record_id {
                write!(f, " {id}")?;
            }
            write!(f, ")")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// One record as read back, with what its digests said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedRecord {
    pub index: usize,
    pub offset: u64,
    pub record: Record,
    /// Digests that were present and matched (`WARC-Block-Digest`, ...).
    pub verified: Vec<&'static str>,
}

/// Reads every gzip member of `input` as one record and re-checks its digests. Stops at
/// the first member that cannot be decompressed (what follows it cannot be located
/// reliably); other problems are collected and reading goes on.
pub fn check_all<R: BufRead>(mut input: R) -> (Vec<CheckedRecord>, Vec<RecordProblem>) {
    let mut records = Vec::new();
    let mut problems = Vec::new();
    let mut offset = 0u64;
    let mut index = 0usize;
    loop {
        match input.fill_buf() {
            Ok([]) => break,
            Ok(_) => {}
            Err(e) => {
                problems.push(problem(index + 1, offset, None, format!("read error: {e}")));
                break;
            }
        }
        index += 1;
        let mut counter = CountingReader {
            inner: &mut input,
            count: 0,
        };
        let mut bytes = Vec::new();
        let result = {
            let mut decoder = flate2::bufread::GzDecoder::new(&mut counter);
            (&mut decoder)
                .take(MAX_BLOCK_BYTES + MAX_HEADER_BYTES as u64)
                .read_to_end(&mut bytes)
        };
        let consumed = counter.count;
        if let Err(e) = result {
            problems.push(problem(
                index,
                offset,
                None,
                format!("gzip member is damaged ({e})"),
            ));
            break;
        }
        match parse_record(&bytes) {
            Ok(record) => {
                let mut verified = Vec::new();
                let id = record.header("WARC-Record-ID").map(str::to_string);
                let ty = record.header("WARC-Type").map(str::to_string);
                let mut fail = |message: String| {
                    problems.push(RecordProblem {
                        index,
                        offset,
                        warc_type: ty.clone(),
                        record_id: id.clone(),
                        message,
                    })
                };
                match record.header("WARC-Block-Digest") {
                    Some(expected) if expected == sha256_label(&record.block) => {
                        verified.push("WARC-Block-Digest")
                    }
                    Some(expected) => fail(format!(
                        "WARC-Block-Digest mismatch: recorded {expected}, computed {}",
                        sha256_label(&record.block)
                    )),
                    None => fail("no WARC-Block-Digest".into()),
                }
                if let Some(expected) = record.header("WARC-Payload-Digest") {
                    match http_payload(&record.block) {
                        Some(payload) if expected == sha256_label(payload) => {
                            verified.push("WARC-Payload-Digest")
                        }
                        Some(payload) => fail(format!(
                            "WARC-Payload-Digest mismatch: recorded {expected}, computed {}",
                            sha256_label(payload)
                        )),
                        None => {
                            fail("WARC-Payload-Digest given but the block has no HTTP head".into())
                        }
                    }
                }
                records.push(CheckedRecord {
                    index,
                    offset,
                    record,
                    verified,
                });
            }
            Err(message) => problems.push(problem(index, offset, None, message)),
        }
        offset += consumed;
    }
    (records, problems)
}

fn problem(index: usize, offset: u64, warc_type: Option<String>, message: String) -> RecordProblem {
    RecordProblem {
        index,
        offset,
        warc_type,
        record_id: None,
        message,
    }
}

/// Counts the bytes consumed from a reader, so offsets can be reported (the compressed
/// bytes a gzip member takes; `webarchive::reader` counts a whole file with it).
pub(crate) struct CountingReader<R> {
    pub(crate) inner: R,
    pub(crate) count: u64,
}

impl<R: BufRead> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for CountingReader<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.count += amt as u64;
        self.inner.consume(amt);
    }
}

/// Parses one uncompressed record: version line, fields, blank line, exactly
/// `Content-Length` block bytes, then CRLF CRLF.
///
/// # Errors
/// A message saying what is malformed.
pub fn parse_record(bytes: &[u8]) -> Result<Record, String> {
    let head_end = bytes
        .windows(4)
        .take(MAX_HEADER_BYTES)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of the WARC header block")?;
    let head = std::str::from_utf8(&bytes[..head_end])
        .map_err(|_| "WARC header block is not UTF-8".to_string())?;
    let mut lines = head.split("\r\n");
    let version = lines.next().unwrap_or_default();
    if version != WARC_VERSION && version != "WARC/1.0" {
        return Err(format!("not a WARC record (version line {version:?})"));
    }
    let mut headers = Vec::new();
    let mut length: Option<usize> = None;
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("malformed header line {line:?}"))?;
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("Content-Length") {
            length = Some(
                value
                    .parse()
                    .map_err(|_| format!("bad Content-Length {value:?}"))?,
            );
        } else {
            headers.push((name.to_string(), value.to_string()));
        }
    }
    let length = length.ok_or("no Content-Length")?;
    let start = head_end + 4;
    let end = start
        .checked_add(length)
        .filter(|&e| e <= bytes.len())
        .ok_or("block shorter than Content-Length")?;
    if &bytes[end..] != b"\r\n\r\n" {
        return Err("record does not end with CRLF CRLF after Content-Length bytes".into());
    }
    Ok(Record {
        headers,
        block: bytes[start..end].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "MY======"),
            ("fo", "MZXQ===="),
            ("foo", "MZXW6==="),
            ("foob", "MZXW6YQ="),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI======"),
        ];
        for (input, expected) in cases {
            assert_eq!(base32(input.as_bytes()), expected, "{input:?}");
        }
    }

    #[test]
    fn sha256_of_empty_input() {
        // sha256("") = e3b0c442..., in base32:
        assert_eq!(
            sha256_label(b""),
            "sha256:4OYMIQUY7QOBJGX36TEJS35ZEQT24QPEMSNZGTFESWMRW6CSXBKQ===="
        );
    }

    fn sample() -> Record {
        let date = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        Record::new(
            "resource",
            "<urn:uuid:00000000-0000-4000-8000-000000000000>",
            date,
            b"hello".to_vec(),
        )
        .with(
            "WARC-Target-URI",
            "https://x.example/a\r\nWARC-Type: forged",
        )
    }

    #[test]
    fn serialisation_is_exact() {
        let text = String::from_utf8(sample().to_bytes()).unwrap();
        assert_eq!(
            text,
            "WARC/1.1\r\n\
             WARC-Type: resource\r\n\
             WARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-000000000000>\r\n\
             WARC-Date: 2026-01-02T03:04:05Z\r\n\
             WARC-Block-Digest: sha256:FTZE3OS7WCRQ4JXIHMVMLOPCTYNRMHS4D6TUEXTTAQZWFE4LTASA====\r\n\
             WARC-Target-URI: https://x.example/a  WARC-Type: forged\r\n\
             Content-Length: 5\r\n\
             \r\n\
             hello\r\n\r\n"
        );
    }

    #[test]
    fn members_round_trip_and_digests_check() {
        let mut file = sample().to_gzip_member();
        file.extend(sample().to_gzip_member());
        let (records, problems) = check_all(&file[..]);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].offset, (file.len() / 2) as u64);
        assert_eq!(records[0].record, sample());
        assert_eq!(records[0].verified, vec!["WARC-Block-Digest"]);
    }

    #[test]
    fn altered_block_is_named() {
        let mut altered = sample();
        altered.block = b"hellO".to_vec();
        let mut file = sample().to_gzip_member();
        file.extend(altered.to_gzip_member());
        let (_, problems) = check_all(&file[..]);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].index, 2);
        assert!(problems[0].to_string().contains("(resource <urn:uuid:"));
        assert!(problems[0].message.contains("WARC-Block-Digest mismatch"));
    }

    #[test]
    fn payload_is_after_the_http_head() {
        assert_eq!(
            http_payload(b"HTTP/1.1 200 OK\r\na: b\r\n\r\nbody"),
            Some(&b"body"[..])
        );
        assert_eq!(http_payload(b"no head"), None);
    }

    #[test]
    fn malformed_records_are_refused() {
        assert!(parse_record(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
        assert!(parse_record(b"WARC/1.1\r\nContent-Length: 9\r\n\r\nabc\r\n\r\n").is_err());
        assert!(parse_record(b"WARC/1.1\r\nContent-Length: 3\r\n\r\nabc").is_err());
    }
}
