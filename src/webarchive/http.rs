//! The HTTP message inside a WARC `response` record: status line, headers, and the body
//! with its transfer coding removed. Pure and bounded; content decoding (gzip, br,
//! deflate) is the crawler's own (`crawl::fetch::decode_stored_body`), applied by the
//! caller with the crawler's `max_body_bytes`.

/// An HTTP head larger than this is not a page worth reading.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Header fields of one HTTP head at most.
pub const MAX_HEADERS: usize = 256;

/// A parsed HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response<'a> {
    pub status: u16,
    /// The head as recorded: status line and fields, each line ending with CRLF (LF
    /// lines are kept as written), without the blank line that ends it.
    pub head: &'a [u8],
    pub headers: Vec<(String, String)>,
    /// The body as recorded (still transfer-coded when the field says so).
    pub body: &'a [u8],
}

impl Response<'_> {
    /// The first field called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether `Transfer-Encoding` names `chunked`.
    pub fn is_chunked(&self) -> bool {
        self.header("Transfer-Encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }
}

/// Parses an HTTP/1.x response message.
///
/// # Errors
/// A message saying what is malformed.
pub fn parse_response(block: &[u8]) -> Result<Response<'_>, String> {
    if !block.starts_with(b"HTTP/") {
        return Err("the block is not an HTTP response".into());
    }
    let window = &block[..block.len().min(MAX_HEAD_BYTES)];
    // The head ends at the first empty line, CRLF or bare LF.
    let (head_end, body_start) = match memchr::memmem::find(window, b"\r\n\r\n") {
        Some(i) => (i + 2, i + 4),
        None => match memchr::memmem::find(window, b"\n\n") {
            Some(i) => (i + 1, i + 2),
            None if block.len() > MAX_HEAD_BYTES => {
                return Err(format!("HTTP head longer than {MAX_HEAD_BYTES} bytes"))
            }
            None => return Err("no end of the HTTP head".into()),
        },
    };
    let head = &block[..head_end];
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| (100..600).contains(s))
        .ok_or_else(|| {
            let shown: String = status_line.chars().take(40).collect();
            format!("bad HTTP status line {shown:?}")
        })?;
    let mut headers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        if headers.len() >= MAX_HEADERS {
            return Err(format!("more than {MAX_HEADERS} HTTP header fields"));
        }
        // A line without a colon is skipped, as browsers do.
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    Ok(Response {
        status,
        head,
        headers,
        body: &block[body_start..],
    })
}

/// Removes HTTP/1.1 chunked transfer coding, producing at most `limit` bytes.
///
/// # Errors
/// A message when the chunks are malformed or pass `limit`. A body cut short after
/// whole chunks is returned as it is (archives hold truncated captures).
pub fn dechunk(body: &[u8], limit: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(body.len().min(limit));
    let mut rest = body;
    loop {
        let Some(eol) = memchr::memchr(b'\n', rest) else {
            // Cut inside a chunk-size line: what came before is the body.
            return Ok(out);
        };
        let line = std::str::from_utf8(&rest[..eol]).map_err(|_| "bad chunk size line")?;
        let size_text = line.trim().split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| {
            let shown: String = size_text.chars().take(20).collect();
            format!("bad chunk size {shown:?}")
        })?;
        rest = &rest[eol + 1..];
        if size == 0 {
            return Ok(out);
        }
        let take = size.min(rest.len());
        if out.len() + take > limit {
            return Err(format!("de-chunked body is larger than {limit} bytes"));
        }
        out.extend_from_slice(&rest[..take]);
        if take < size {
            return Ok(out);
        }
        rest = &rest[size..];
        rest = rest
            .strip_prefix(b"\r\n")
            .or_else(|| rest.strip_prefix(b"\n"))
            .unwrap_or(rest);
    }
}

/// Whether a body looks like HTML when no usable `Content-Type` says so.
pub fn sniff_html(body: &[u8]) -> bool {
    let start = body.strip_prefix(b"\xef\xbb\xbf").unwrap_or(body);
    let first = start
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(start.len());
    let head: Vec<u8> = start[first..start.len().min(first + 512)].to_ascii_lowercase();
    head.starts_with(b"<!doctype html")
        || head.starts_with(b"<html")
        || (head.starts_with(b"<!--") && memchr::memmem::find(&head, b"<html").is_some())
}

/// Whether a `Content-Type` value names HTML (or XHTML).
pub fn is_html_type(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    media == "text/html" || media == "application/xhtml+xml"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_parse_with_crlf_and_lf_heads() {
        let r =
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<p>x</p>").unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("text/html"));
        assert_eq!(r.body, b"<p>x</p>");
        assert_eq!(r.head, b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n");
        let r = parse_response(b"HTTP/1.0 404 Not Found\nA: b\n\nbody").unwrap();
        assert_eq!((r.status, r.body), (404, &b"body"[..]));
        assert!(parse_response(b"GET / HTTP/1.1\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 abc\r\n\r\n").is_err());
    }

    #[test]
    fn chunks_are_joined_and_bounded() {
        let body = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\n\r\n";
        assert_eq!(dechunk(body, 100).unwrap(), b"Wikipedia");
        // Cut mid-chunk: what arrived is kept.
        assert_eq!(dechunk(b"4\r\nWi", 100).unwrap(), b"Wi");
        assert!(dechunk(b"zz\r\nabc", 100).is_err());
        assert!(dechunk(b"a\r\n0123456789\r\n0\r\n\r\n", 5).is_err());
    }

    #[test]
    fn html_is_recognised() {
        assert!(is_html_type("text/html; charset=utf-8"));
        assert!(is_html_type("application/xhtml+xml"));
        assert!(!is_html_type("application/pdf"));
        assert!(sniff_html(b"\xef\xbb\xbf  <!DOCTYPE html><html>"));
        assert!(sniff_html(b"<HTML><body>"));
        assert!(!sniff_html(b"%PDF-1.4"));
    }
}
