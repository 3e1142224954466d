//! Fast rejection of unrelated pages before full extraction (`scan-warc`): nearly every
//! page of a web archive copies nothing of ours, and extraction (a DOM, scoring,
//! readability) costs far more than reading the page's words.
//!
//! The page's bytes are decoded (the extractor's own charset detection), its tags,
//! comments, scripts and styles stripped in one pass, and the text's winnowed anchors
//! (`fingerprint::anchors`, the same as the archive's) asked of the archive's anchor
//! index. A page sharing no indexed anchor with any original is rejected.
//!
//! Why this loses no copy the anchors can see: winnowing guarantees that any run of
//! `ANCHOR_TOKENS + ANCHOR_WINDOW - 1` (25) tokens shared with an original paragraph
//! yields an anchor both sides select. The stripped text keeps every word of the page in
//! order (extraction only removes some) and has no paragraph breaks at all, so a run the
//! extracted text shares with an original is a run here too; a tag becomes a space, so
//! no two words are glued. What anchors cannot see (a copy with no 25-token run left
//! intact anywhere, found by the SimHash segments alone) is rejected: the test in
//! `tests/it/warc.rs` runs both paths over the same files and finds the same matches.
//!
//! Pure: bytes in, a decision out.

use crate::index::archive::ArchiveIndex;

/// Elements whose content is never page text.
const SKIPPED_ELEMENTS: [&[u8]; 4] = [b"script", b"style", b"template", b"svg"];

/// Whether the page in `body` shares an anchor with some original (and so is worth
/// full extraction).
pub fn may_copy(index: &ArchiveIndex, body: &[u8], content_type: Option<&str>) -> bool {
    // Valid UTF-8 is taken as it is: the extractor's charset detection (a statistical
    // pass over the whole page) would decode it the same way, except for a page in
    // another encoding whose bytes happen to be valid UTF-8, which in practice means
    // ASCII, which every ASCII-compatible encoding decodes alike.
    let decoded;
    let html = match std::str::from_utf8(body) {
        Ok(text) => text,
        Err(_) => {
            decoded = crate::extract::decode(body, content_type).0;
            decoded.as_str()
        }
    };
    let text = strip_tags(html);
    let normalized = crate::text::normalize(&text);
    index.any_anchor(&crate::fingerprint::anchors(&normalized))
}

/// The text of an HTML document, one line: tags become spaces; comments and the content
/// of `script`, `style`, `template` and `svg` elements are dropped; character
/// references are decoded (numeric ones and the common named ones); every run of ASCII
/// whitespace, line breaks included, becomes one space. (A line break in the source is
/// not a paragraph break of the page: the extractor collapses it too, and a break here
/// would end a paragraph of the normalised text, which anchors do not cross.)
pub fn strip_tags(html: &str) -> String {
    let bytes = html.as_bytes();
    let mut out = Text {
        text: String::with_capacity(html.len() / 4),
    };
    let mut i = 0;
    while i < bytes.len() {
        let Some(next) = memchr::memchr2(b'<', b'&', &bytes[i..]).map(|n| i + n) else {
            out.push_collapsed(&html[i..]);
            break;
        };
        out.push_collapsed(&html[i..next]);
        i = next;
        if bytes[i] == b'&' {
            let (text, used) = reference(&html[i..]);
            out.push_collapsed(text.as_deref().unwrap_or("&"));
            i += used.max(1);
            continue;
        }
        out.space();
        i = skip_markup(bytes, i);
    }
    out.text
}

/// Output text with whitespace runs collapsed to one space.
struct Text {
    text: String,
}

impl Text {
    fn space(&mut self) {
        if !self.text.ends_with(' ') {
            self.text.push(' ');
        }
    }

    fn push_collapsed(&mut self, segment: &str) {
        let bytes = segment.as_bytes();
        let mut start = 0;
        let mut i = 0;
        // ASCII whitespace bytes never occur inside a multi-byte UTF-8 character, so
        // the cuts below are on character boundaries.
        while i < bytes.len() {
            if bytes[i].is_ascii_whitespace() {
                self.text.push_str(&segment[start..i]);
                self.space();
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                start = i;
            } else {
                i += 1;
            }
        }
        self.text.push_str(&segment[start..]);
    }
}

/// The index after the markup starting at `bytes[at] == b'<'`: a comment, a skipped
/// element with its content, or one tag.
fn skip_markup(bytes: &[u8], at: usize) -> usize {
    let rest = &bytes[at..];
    if rest.starts_with(b"<!--") {
        return memchr::memmem::find(&rest[4..], b"-->").map_or(bytes.len(), |n| at + 4 + n + 3);
    }
    let name_start = at + 1;
    let name_len = bytes[name_start..]
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric())
        .count();
    let name = &bytes[name_start..name_start + name_len];
    let tag_end = memchr::memchr(b'>', &bytes[at..]).map_or(bytes.len(), |n| at + n + 1);
    if let Some(skipped) = SKIPPED_ELEMENTS
        .iter()
        .find(|e| e.eq_ignore_ascii_case(name))
    {
        // Up to the matching end tag, case-insensitively.
        let mut close = Vec::with_capacity(skipped.len() + 2);
        close.extend_from_slice(b"</");
        close.extend_from_slice(skipped);
        let mut j = tag_end;
        while let Some(n) = memchr::memchr(b'<', &bytes[j.min(bytes.len())..]) {
            let k = j + n;
            if bytes.len() >= k + close.len()
                && bytes[k..k + close.len()].eq_ignore_ascii_case(&close)
            {
                return memchr::memchr(b'>', &bytes[k..]).map_or(bytes.len(), |m| k + m + 1);
            }
            j = k + 1;
        }
        return bytes.len();
    }
    tag_end
}

/// A character reference at the start of `text` (which starts with `&`): its text and
/// the bytes it takes, or `None` when it is not one we know.
fn reference(text: &str) -> (Option<String>, usize) {
    // Bytes, not a `str` slice: the window may end inside a character. `;` is ASCII, so
    // its position is a character boundary.
    let window = &text.as_bytes()[..text.len().min(12)];
    let Some(end) = memchr::memchr(b';', window) else {
        return (None, 1);
    };
    let body = &text[1..end];
    let decoded = if let Some(num) = body.strip_prefix('#') {
        let value = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => num.parse().ok(),
        };
        value.and_then(char::from_u32).map(String::from)
    } else {
        match body {
            "amp" => Some("&".into()),
            "lt" => Some("<".into()),
            "gt" => Some(">".into()),
            "quot" => Some("\"".into()),
            "apos" => Some("'".into()),
            "nbsp" | "ensp" | "emsp" | "thinsp" => Some(" ".into()),
            "mdash" => Some("—".into()),
            "ndash" => Some("–".into()),
            "hellip" => Some("…".into()),
            "ldquo" => Some("“".into()),
            "rdquo" => Some("”".into()),
            "lsquo" => Some("‘".into()),
            "rsquo" => Some("’".into()),
            "middot" => Some("·".into()),
            _ => None,
        }
    };
    match decoded {
        Some(t) => (Some(t), end + 1),
        None => (None, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_scripts_and_comments_go_words_stay_apart() {
        let cases = [
            ("<p>one</p><p>two</p>", " one two "),
            ("a<!-- hidden -->b", "a b"),
            ("x<script>var a = '<p>no</p>';</script>y", "x y"),
            ("x<STYLE>p{}</style >y", "x y"),
            (
                "fish &amp; chips &#20013;&#x6587; &bogus; &",
                "fish & chips 中文 &bogus; &",
            ),
            ("<a href=\"/x\">link</a>tail", " link tail"),
            ("unclosed <script>forever", "unclosed "),
            ("broken <tag", "broken "),
            ("a line\n\n  wrapped\tin source", "a line wrapped in source"),
            ("&nbsp\n阅读", "&nbsp 阅读"),
            ("&阅读;", "&阅读;"),
            ("<阅读>x", " x"),
        ];
        for (html, expected) in cases {
            assert_eq!(strip_tags(html), expected, "{html:?}");
        }
    }
}
