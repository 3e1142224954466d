//! A bounded streaming reader of WARC files (ISO 28500, WARC/1.0 and WARC/1.1).
//!
//! Why our own: the WARC crates on crates.io (`warc`, `rust_warc`) read each record's
//! block whole into memory without a bound, decompress through one multi-member gzip
//! stream (so a record's byte offset and length in the file are lost, and one damaged
//! member ends the file), and stop at the first malformed record. Evidence from an
//! archive needs the offset and length of each record's gzip member (anyone can fetch
//! the same record again by range), and a scan of strangers' archives must survive
//! damage and hostile sizes.
//!
//! What it reads: plain `.warc`, gzip per record (Common Crawl, Heritrix, wget) and
//! whole-file gzip (one member holding every record); members need not align with
//! records. Header blocks are bounded ([`Limits::max_header_bytes`], at most
//! [`Limits::max_header_lines`] fields); blocks are kept in memory only when the caller
//! asks for them and they fit [`Limits::max_block_bytes`], otherwise streamed past.
//!
//! Damage: a malformed header block is skipped to the next `WARC/1.` line; a damaged
//! gzip member is skipped to the next gzip header; a file that ends inside a record ends
//! the reading with a [`Damage`] saying so. Every damage names its byte offset.
//!
//! This module does no I/O of its own: it reads any [`BufRead`].

use std::io::{BufRead, Read};

use flate2::bufread::GzDecoder;

/// The bounds applied to every record.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A header block larger than this is damage, not data (real ones are under 4 KiB).
    pub max_header_bytes: usize,
    /// Header fields per record at most.
    pub max_header_lines: usize,
    /// A block the caller wants is kept only up to this size; a larger one is streamed
    /// past and reported as [`Block::TooLarge`].
    pub max_block_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_header_bytes: 64 * 1024,
            max_header_lines: 256,
            max_block_bytes: 8 * 1024 * 1024,
        }
    }
}

/// A record's header block, parsed and as it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHead {
    /// `WARC/1.0` or `WARC/1.1` (any `WARC/1.x` is read).
    pub version: String,
    /// Fields in file order, names as written, values trimmed; continuation lines are
    /// folded into their field.
    pub fields: Vec<(String, String)>,
    /// The header block's bytes exactly as in the file, version line to the blank line
    /// included.
    pub raw: Vec<u8>,
    /// `Content-Length`: the block's size.
    pub content_length: u64,
}

impl RecordHead {
    /// The first field called `name` (case-insensitive).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `WARC-Type`, lower-cased.
    pub fn warc_type(&self) -> String {
        self.field("WARC-Type")
            .unwrap_or_default()
            .to_ascii_lowercase()
    }
}

/// What became of a record's block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// Kept, exactly `content_length` bytes.
    Kept(Vec<u8>),
    /// The caller did not want it; streamed past.
    Skipped,
    /// Wanted but larger than [`Limits::max_block_bytes`]; streamed past.
    TooLarge,
}

/// One record read.
#[derive(Debug, Clone)]
pub struct RawRecord {
    /// Byte offset in the file: of the record's gzip member when the file is gzipped
    /// (where a range request must start), else of its version line.
    pub offset: u64,
    /// Bytes in the file from `offset` to the record's end (its gzip member's end). `None`
    /// when the record shares a gzip member with others (whole-file gzip), so no range
    /// holds it alone.
    pub length: Option<u64>,
    pub head: RecordHead,
    pub block: Block,
}

/// A record (or a stretch of the file) that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// Byte offset in the file where the damage was found (the gzip member's start for
    /// gzip files).
    pub offset: u64,
    pub message: String,
    /// True when the file ended inside a record: nothing follows.
    pub truncated: bool,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at byte {}: {}", self.offset, self.message)
    }
}

/// Counts the bytes consumed from the file, so offsets can be reported.
type Counting<R> = crate::evidence::warc::CountingReader<R>;

/// Where decompressed bytes come from.
enum Source<R> {
    /// A plain WARC file.
    Plain(Counting<R>),
    /// Inside a gzip member.
    Member(Box<GzDecoder<Counting<R>>>),
    /// Between gzip members.
    Idle(Counting<R>),
    /// Taken while switching states; never observed outside [`WarcReader`]'s methods.
    Gone,
}

/// Decompressed bytes waiting to be parsed.
const BUFFER: usize = 64 * 1024;

/// The gzip magic and the deflate method byte that start every member.
const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];

/// A streaming reader of WARC records; see the module documentation.
pub struct WarcReader<R> {
    source: Source<R>,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    gzip: bool,
    /// File offset where the current (or last) gzip member began.
    member_start: u64,
    /// Gzip members begun so far: a record that starts and ends in the same member,
    /// which began with it, has a range of its own.
    members: u64,
    /// Decompressed bytes consumed from the current member.
    member_consumed: u64,
    limits: Limits,
    done: bool,
    /// Set when the source itself failed (a remote file given up after its resumes),
    /// as opposed to damage in the data: the file was not read to its end.
    source_failed: Option<String>,
}

impl<R: BufRead> WarcReader<R> {
    /// A reader of `input`; gzip is recognised by its magic bytes.
    ///
    /// # Errors
    /// The I/O error of the first read.
    pub fn new(input: R, limits: Limits) -> std::io::Result<WarcReader<R>> {
        WarcReader::starting_at(input, limits, 0)
    }

    /// A reader of `input`, which starts at byte `base` of its file (a resumed scan):
    /// offsets and positions are the file's.
    ///
    /// # Errors
    /// The I/O error of the first read.
    pub fn starting_at(mut input: R, limits: Limits, base: u64) -> std::io::Result<WarcReader<R>> {
        let gzip = input.fill_buf()?.starts_with(&GZIP_MAGIC[..2]);
        let counting = Counting {
            inner: input,
            count: base,
        };
        Ok(WarcReader {
            source: if gzip {
                Source::Idle(counting)
            } else {
                Source::Plain(counting)
            },
            buf: vec![0; BUFFER],
            pos: 0,
            end: 0,
            gzip,
            member_start: base,
            members: 0,
            member_consumed: 0,
            limits,
            done: false,
            source_failed: None,
        })
    }

    /// Why the source stopped delivering bytes before its end (a network failure after
    /// every resume), if it did.
    pub fn source_failed(&self) -> Option<&str> {
        self.source_failed.as_deref()
    }

    /// Whether the file is gzipped.
    pub fn is_gzip(&self) -> bool {
        self.gzip
    }

    /// Bytes of the file consumed so far.
    pub fn position(&self) -> u64 {
        match &self.source {
            Source::Plain(c) | Source::Idle(c) => c.count,
            Source::Member(d) => d.get_ref().count,
            Source::Gone => 0,
        }
    }

    /// The file offset of the next unread decompressed byte, for a plain file.
    fn plain_offset(&self) -> u64 {
        self.position() - (self.end - self.pos) as u64
    }

    /// Refills the buffer from the current source. `Ok(false)` at the end of a member
    /// (gzip) or of the file (plain).
    fn fill(&mut self) -> std::io::Result<bool> {
        if self.pos < self.end {
            return Ok(true);
        }
        let n = match &mut self.source {
            Source::Plain(c) => c.read(&mut self.buf)?,
            Source::Member(d) => d.read(&mut self.buf)?,
            Source::Idle(_) | Source::Gone => 0,
        };
        if n == 0 {
            if let Source::Member(_) = self.source {
                if let Source::Member(d) = std::mem::replace(&mut self.source, Source::Gone) {
                    self.source = Source::Idle(d.into_inner());
                }
            }
            return Ok(false);
        }
        self.pos = 0;
        self.end = n;
        Ok(true)
    }

    /// Starts the next gzip member. `Ok(false)` at the end of the file; a stretch that
    /// is not a gzip member is skipped to the next gzip header, with a [`Damage`].
    fn next_member(&mut self) -> Result<bool, Damage> {
        let Source::Idle(mut inner) = std::mem::replace(&mut self.source, Source::Gone) else {
            return Ok(false);
        };
        let start = inner.count;
        let head_ok = match inner.fill_buf() {
            Ok([]) => {
                self.source = Source::Idle(inner);
                return Ok(false);
            }
            Ok(bytes) => bytes.starts_with(&GZIP_MAGIC[..2]),
            Err(e) => {
                self.source = Source::Idle(inner);
                return Err(self.io_damage(start, &e));
            }
        };
        if !head_ok {
            let found = skip_to_magic(&mut inner);
            self.source = Source::Idle(inner);
            return Err(Damage {
                offset: start,
                message: "bytes that are not a gzip member (skipped to the next one)".into(),
                truncated: !found,
            });
        }
        self.member_start = start;
        self.members += 1;
        self.member_consumed = 0;
        self.source = Source::Member(Box::new(GzDecoder::new(inner)));
        Ok(true)
    }

    /// After a failed member: drops its decoder and skips to the next gzip header.
    fn abandon_member(&mut self) -> bool {
        self.pos = 0;
        self.end = 0;
        let inner = match std::mem::replace(&mut self.source, Source::Gone) {
            Source::Member(d) => d.into_inner(),
            Source::Idle(c) | Source::Plain(c) => c,
            Source::Gone => return false,
        };
        let mut inner = inner;
        let found = skip_to_magic(&mut inner);
        self.source = Source::Idle(inner);
        found
    }

    fn io_damage(&self, offset: u64, e: &std::io::Error) -> Damage {
        let truncated = e.kind() == std::io::ErrorKind::UnexpectedEof;
        Damage {
            offset,
            message: if truncated {
                "the file ends inside a gzip member (truncated)".into()
            } else {
                format!("cannot read: {e}")
            },
            truncated,
        }
    }

    /// The next decompressed byte without consuming it, crossing member boundaries.
    fn peek(&mut self) -> Result<Option<u8>, std::io::Error> {
        loop {
            if self.fill()? {
                return Ok(Some(self.buf[self.pos]));
            }
            if !self.gzip {
                return Ok(None);
            }
            match self.next_member() {
                Ok(true) => continue,
                Ok(false) => return Ok(None),
                // A stretch between members that is not gzip: reported by the caller
                // as an I/O error of kind InvalidData.
                Err(d) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        d.message,
                    ))
                }
            }
        }
    }

    fn advance(&mut self, n: usize) {
        self.pos += n;
        self.member_consumed += n as u64;
    }

    /// Copies (when `into` is given) or skips exactly `n` decompressed bytes.
    fn take(&mut self, mut n: u64, mut into: Option<&mut Vec<u8>>) -> std::io::Result<u64> {
        let mut got = 0;
        while n > 0 {
            if self.peek()?.is_none() {
                break;
            }
            let avail = (self.end - self.pos).min(usize::try_from(n).unwrap_or(usize::MAX));
            if let Some(v) = into.as_deref_mut() {
                v.extend_from_slice(&self.buf[self.pos..self.pos + avail]);
            }
            self.advance(avail);
            n -= avail as u64;
            got += avail as u64;
        }
        Ok(got)
    }

    /// Reads one header line (up to LF, included) into `line`, at most `max` bytes.
    fn read_line(&mut self, line: &mut Vec<u8>, max: usize) -> std::io::Result<LineEnd> {
        loop {
            if self.peek()?.is_none() {
                return Ok(LineEnd::Eof);
            }
            let window = &self.buf[self.pos..self.end];
            let room = max.saturating_sub(line.len());
            match memchr::memchr(b'\n', window) {
                Some(i) if i < room => {
                    line.extend_from_slice(&window[..=i]);
                    self.advance(i + 1);
                    return Ok(LineEnd::Newline);
                }
                _ if window.len() >= room => {
                    line.extend_from_slice(&window[..room]);
                    self.advance(room);
                    return Ok(LineEnd::TooLong);
                }
                _ => {
                    let n = window.len();
                    line.extend_from_slice(window);
                    self.advance(n);
                }
            }
        }
    }

    /// Skips blank lines (CR, LF) between records.
    fn skip_newlines(&mut self) -> std::io::Result<()> {
        while let Some(b) = self.peek()? {
            if b == b'\r' || b == b'\n' {
                self.advance(1);
            } else {
                break;
            }
        }
        Ok(())
    }

    /// Where the record about to be read starts in the file.
    fn record_offset(&self) -> u64 {
        if self.gzip {
            self.member_start
        } else {
            self.plain_offset()
        }
    }

    /// The next record, or damage (after which reading goes on unless
    /// [`Damage::truncated`]), or `None` at the end. `want` says, from the header block,
    /// whether the block should be kept in memory.
    pub fn next_record(
        &mut self,
        want: impl Fn(&RecordHead) -> bool,
    ) -> Option<Result<RawRecord, Damage>> {
        if self.done {
            return None;
        }
        let result = self.read_one(&want);
        match &result {
            Some(Err(d)) if d.truncated => self.done = true,
            None => self.done = true,
            _ => {}
        }
        result
    }

    fn read_one(
        &mut self,
        want: &dyn Fn(&RecordHead) -> bool,
    ) -> Option<Result<RawRecord, Damage>> {
        if let Err(e) = self.skip_newlines() {
            return Some(Err(self.recover(&e)));
        }
        match self.peek() {
            Ok(None) => return None,
            Ok(Some(_)) => {}
            Err(e) => return Some(Err(self.recover(&e))),
        }
        let offset = self.record_offset();
        let own_member = !self.gzip || self.member_consumed == 0;
        let members_before = self.members;
        let head = match self.read_head() {
            Ok(Ok(head)) => head,
            Ok(Err(message)) => {
                let truncated = self.resync_plain();
                return Some(Err(Damage {
                    offset,
                    message,
                    truncated,
                }));
            }
            Err(e) => return Some(Err(self.recover(&e))),
        };
        let keep = want(&head);
        let len = head.content_length;
        let mut block = if keep && len <= self.limits.max_block_bytes {
            // The declared length is bounded above, so this allocation is too.
            Some(Vec::with_capacity(usize::try_from(len).unwrap_or(0)))
        } else {
            None
        };
        let got = match self.take(len, block.as_mut()) {
            Ok(n) => n,
            Err(e) => return Some(Err(self.recover(&e))),
        };
        if got < len {
            return Some(Err(Damage {
                offset,
                message: format!(
                    "the file ends inside a record's block ({got} of {len} bytes; truncated)"
                ),
                truncated: true,
            }));
        }
        // The record's closing CRLF CRLF belong to it; reading them here lets a gzip
        // member's end be seen, so the member's length is known.
        let length = match self.close_record() {
            Ok(ended) if self.gzip => (own_member && ended && self.members == members_before)
                .then(|| self.position() - offset),
            Ok(_) => Some(self.plain_offset() - offset),
            Err(e) => return Some(Err(self.recover(&e))),
        };
        Some(Ok(RawRecord {
            offset,
            length,
            block: match block {
                Some(b) => Block::Kept(b),
                None if keep => Block::TooLarge,
                None => Block::Skipped,
            },
            head,
        }))
    }

    /// Consumes the blank lines after a block; for gzip, says whether the member ended
    /// right after them.
    fn close_record(&mut self) -> std::io::Result<bool> {
        loop {
            if !self.fill()? {
                return Ok(true);
            }
            let b = self.buf[self.pos];
            if b == b'\r' || b == b'\n' {
                self.advance(1);
            } else {
                return Ok(false);
            }
        }
    }

    /// Reads and parses a header block. The outer error is I/O; the inner one says
    /// what is malformed.
    fn read_head(&mut self) -> std::io::Result<Result<RecordHead, String>> {
        let max = self.limits.max_header_bytes;
        let mut raw = Vec::with_capacity(1024);
        let mut lines = 0usize;
        loop {
            let start = raw.len();
            match self.read_line(&mut raw, max)? {
                LineEnd::Newline => {}
                LineEnd::TooLong => {
                    return Ok(Err(format!("header block longer than {max} bytes")))
                }
                LineEnd::Eof => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the file ends inside a record's header block",
                    ))
                }
            }
            let line = &raw[start..];
            if line == b"\r\n" || line == b"\n" {
                break;
            }
            lines += 1;
            if lines > self.limits.max_header_lines + 1 {
                return Ok(Err(format!(
                    "more than {} header fields",
                    self.limits.max_header_lines
                )));
            }
        }
        Ok(parse_head(raw))
    }

    /// After a malformed header block of a plain file: skips to the next line that
    /// starts a record. Returns true when the file ended first. (In a gzip file the
    /// damaged member is abandoned instead; see [`WarcReader::recover`].)
    fn resync_plain(&mut self) -> bool {
        if self.gzip {
            return !self.abandon_member();
        }
        let mut line = Vec::new();
        loop {
            line.clear();
            // A record's first line is short; long lines are block data.
            match self.peek() {
                Ok(Some(b'W')) => {
                    // A record starts here when the buffered bytes begin `WARC/1.`; with
                    // fewer buffered, a matching prefix is taken (a wrong guess is only
                    // one more damage reported).
                    let window = &self.buf[self.pos..self.end];
                    let n = window.len().min(7);
                    if window[..n] == b"WARC/1."[..n] {
                        return false;
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return true,
            }
            match self.read_line(&mut line, BUFFER) {
                Ok(LineEnd::Eof) | Err(_) => return true,
                Ok(_) => {}
            }
        }
    }

    /// Turns an I/O error into damage and positions the reader after it: a gzip file
    /// skips to the next member; a plain file cannot go on.
    fn recover(&mut self, e: &std::io::Error) -> Damage {
        let offset = if self.gzip {
            self.member_start
        } else {
            self.plain_offset()
        };
        let mut damage = self.io_damage(offset, e);
        if e.kind() == std::io::ErrorKind::ConnectionAborted {
            // The source gave up (see `source::RemoteReader`): not damage in the data.
            self.source_failed = Some(e.to_string());
            damage.truncated = true;
            return damage;
        }
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            damage.message = if self.gzip {
                "the file ends inside a gzip member (truncated)".into()
            } else {
                format!("{e} (truncated)")
            };
            damage.truncated = true;
            return damage;
        }
        if self.gzip {
            damage.message = format!("damaged gzip member skipped ({e})");
            damage.truncated = !self.abandon_member();
        } else {
            damage.truncated = true;
        }
        damage
    }
}

enum LineEnd {
    Newline,
    TooLong,
    Eof,
}

/// Skips bytes until the gzip magic (left unconsumed). False when the file ended first.
fn skip_to_magic<R: BufRead>(inner: &mut Counting<R>) -> bool {
    // The first byte is skipped so a damaged member whose own header is intact is not
    // found again.
    let mut first = true;
    loop {
        let (found, n) = match inner.fill_buf() {
            Ok([]) | Err(_) => return false,
            Ok(bytes) => {
                let from = usize::from(first);
                first = false;
                match memchr::memmem::find(&bytes[from.min(bytes.len())..], &GZIP_MAGIC) {
                    Some(i) => (true, from + i),
                    // Keep the last two bytes: the magic may straddle the buffer's edge.
                    None => (
                        false,
                        bytes.len().saturating_sub(2).max(from.min(bytes.len())),
                    ),
                }
            }
        };
        inner.consume(n);
        if found {
            return true;
        }
        if n == 0 {
            // Fewer than three bytes left and no magic in them.
            let rest = inner.fill_buf().map(<[u8]>::len).unwrap_or(0);
            inner.consume(rest);
            return false;
        }
    }
}

/// Parses a header block (version line, fields, blank line).
fn parse_head(raw: Vec<u8>) -> Result<RecordHead, String> {
    let text = std::str::from_utf8(&raw).map_err(|_| "header block is not UTF-8".to_string())?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let version = lines.next().unwrap_or_default().trim().to_string();
    if !version.starts_with("WARC/1.") {
        let shown: String = version.chars().take(40).collect();
        return Err(format!("not a WARC record (version line {shown:?})"));
    }
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut content_length = None;
    for line in lines {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
                continue;
            }
        }
        let Some((name, value)) = line.split_once(':') else {
            let shown: String = line.chars().take(40).collect();
            return Err(format!("malformed header line {shown:?}"));
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("Content-Length") {
            content_length = Some(value.parse::<u64>().map_err(|_| {
                format!(
                    "bad Content-Length {:?}",
                    value.chars().take(20).collect::<String>()
                )
            })?);
        }
        fields.push((name.to_string(), value.to_string()));
    }
    let content_length = content_length.ok_or("no Content-Length")?;
    Ok(RecordHead {
        version,
        fields,
        raw,
        content_length,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn record(ty: &str, uri: &str, block: &[u8]) -> Vec<u8> {
        let mut r = format!(
            "WARC/1.0\r\nWARC-Type: {ty}\r\nWARC-Target-URI: {uri}\r\nContent-Length: {}\r\n\r\n",
            block.len()
        )
        .into_bytes();
        r.extend_from_slice(block);
        r.extend_from_slice(b"\r\n\r\n");
        r
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn read_all(file: &[u8]) -> (Vec<RawRecord>, Vec<Damage>) {
        let mut r = WarcReader::new(file, Limits::default()).unwrap();
        let (mut ok, mut bad) = (Vec::new(), Vec::new());
        while let Some(x) = r.next_record(|_| true) {
            match x {
                Ok(rec) => ok.push(rec),
                Err(d) => bad.push(d),
            }
        }
        (ok, bad)
    }

    fn kept(r: &RawRecord) -> &[u8] {
        match &r.block {
            Block::Kept(b) => b,
            other => panic!("block not kept: {other:?}"),
        }
    }

    #[test]
    fn plain_per_record_and_whole_file_gzip_read_the_same() {
        let a = record("response", "http://a.example/", b"HTTP/1.1 200 OK\r\n\r\nA");
        let b = record("resource", "http://b.example/", b"<p>B</p>");
        let plain = [a.clone(), b.clone()].concat();
        let per_record = [gz(&a), gz(&b)].concat();
        let whole = gz(&plain);
        for (name, file) in [
            ("plain", &plain),
            ("per-record", &per_record),
            ("whole", &whole),
        ] {
            let (ok, bad) = read_all(file);
            assert!(bad.is_empty(), "{name}: {bad:?}");
            assert_eq!(ok.len(), 2, "{name}");
            assert_eq!(
                ok[1].head.field("warc-target-uri"),
                Some("http://b.example/")
            );
            assert_eq!(kept(&ok[1]), b"<p>B</p>", "{name}");
            assert_eq!(ok[0].head.version, "WARC/1.0");
        }
        // Offsets and lengths: exact for plain and per-record gzip, absent for shared
        // members.
        let (ok, _) = read_all(&plain);
        assert_eq!(
            (ok[1].offset, ok[1].length),
            (a.len() as u64, Some(b.len() as u64))
        );
        let (ok, _) = read_all(&per_record);
        let first = gz(&a).len() as u64;
        assert_eq!((ok[0].offset, ok[0].length), (0, Some(first)));
        assert_eq!(
            (ok[1].offset, ok[1].length),
            (first, Some(gz(&b).len() as u64))
        );
        let (ok, _) = read_all(&whole);
        assert_eq!(ok[0].length, None);
    }

    #[test]
    fn a_damaged_member_is_skipped_and_named() {
        let a = gz(&record(
            "response",
            "http://a.example/",
            b"HTTP/1.1 200 OK\r\n\r\nA",
        ));
        let mut b = gz(&record("response", "http://b.example/", &[b'x'; 3000]));
        let c = gz(&record(
            "response",
            "http://c.example/",
            b"HTTP/1.1 200 OK\r\n\r\nC",
        ));
        // Corrupt the deflate stream in the middle of the second member.
        for byte in &mut b[12..30] {
            *byte ^= 0x5a;
        }
        let file = [a.clone(), b, c].concat();
        let (ok, bad) = read_all(&file);
        let uris: Vec<_> = ok
            .iter()
            .filter_map(|r| r.head.field("WARC-Target-URI"))
            .collect();
        assert_eq!(uris, ["http://a.example/", "http://c.example/"]);
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert_eq!(bad[0].offset, a.len() as u64);
        assert!(!bad[0].truncated);
    }

    #[test]
    fn truncation_ends_the_file_with_a_named_damage() {
        let a = record("response", "http://a.example/", b"HTTP/1.1 200 OK\r\n\r\nA");
        // Incompressible, so the gzip member is as long as the block.
        let mut state = 7u32;
        let noise: Vec<u8> = (0..5000)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (state >> 16) as u8
            })
            .collect();
        let b = record("response", "http://b.example/", &noise);
        for file in [[a.clone(), b.clone()].concat(), [gz(&a), gz(&b)].concat()] {
            let cut = &file[..file.len() - 1000];
            let (ok, bad) = read_all(cut);
            assert_eq!(ok.len(), 1);
            assert_eq!(bad.len(), 1, "{bad:?}");
            assert!(
                bad[0].truncated && bad[0].message.contains("truncated"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn malformed_heads_are_skipped_in_plain_files() {
        let a = record("response", "http://a.example/", b"A");
        let junk = b"WARC/1.0\r\nWARC-Type response no colon\r\n\r\ngarbage\r\n\r\n".to_vec();
        let c = record("resource", "http://c.example/", b"C");
        let (ok, bad) = read_all(&[a, junk, c].concat());
        assert_eq!(ok.len(), 2);
        assert_eq!(bad.len(), 1);
        assert!(bad[0].message.contains("malformed header line"), "{bad:?}");
    }

    #[test]
    fn hostile_sizes_are_bounded() {
        let limits = Limits {
            max_header_bytes: 256,
            max_header_lines: 4,
            max_block_bytes: 10,
        };
        let big = record("response", "http://big.example/", &[b'z'; 100]);
        let many = format!(
            "WARC/1.1\r\n{}Content-Length: 0\r\n\r\n\r\n\r\n",
            "X-A: b\r\n".repeat(10)
        )
        .into_bytes();
        let long = format!(
            "WARC/1.1\r\nX-Long: {}\r\nContent-Length: 0\r\n\r\n\r\n\r\n",
            "a".repeat(400)
        )
        .into_bytes();
        let ok_rec = record("resource", "http://ok.example/", b"ok");
        let file = [big, many, long, ok_rec].concat();
        let mut r = WarcReader::new(&file[..], limits).unwrap();
        let mut out = Vec::new();
        while let Some(x) = r.next_record(|_| true) {
            out.push(x);
        }
        assert!(matches!(&out[0], Ok(r) if r.block == Block::TooLarge));
        assert!(
            matches!(&out[1], Err(d) if d.message.contains("header fields")),
            "{:?}",
            out[1]
        );
        assert!(
            matches!(&out[2], Err(d) if d.message.contains("longer than")),
            "{:?}",
            out[2]
        );
        assert!(
            matches!(out.last(), Some(Ok(r)) if r.head.field("WARC-Target-URI") == Some("http://ok.example/"))
        );
    }
}
