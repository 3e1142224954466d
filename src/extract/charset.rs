//! Character-encoding detection and decoding of raw page bytes.
//!
//! Owns the decision of which encoding a page is decoded with: byte-order mark first, then
//! the HTTP `Content-Type` charset, then a `<meta>` declaration near the top of the page,
//! then statistical detection. A declared label that the bytes contradict is overridden and
//! the override is reported as a warning.
//!
//! It must never fail or panic: every byte sequence decodes to some string (malformed
//! sequences become U+FFFD), and every doubt becomes a warning, not an error.

use encoding_rs::{Encoding, BIG5, GB18030, GBK, UTF_8, WINDOWS_1252};
#[cfg(test)]
use encoding_rs::{EUC_KR, SHIFT_JIS};

/// How far into the page a `<meta charset>` declaration is looked for. The HTML standard
/// prescans 1024 bytes; real Chinese pages often put the declaration after long comments
/// or inline scripts, so we look a little further.
const META_PRESCAN_BYTES: usize = 4096;

/// How many bytes are fed to the statistical detector. Enough text to be confident, bounded
/// so that a huge page does not make detection slow.
const DETECT_SAMPLE_BYTES: usize = 256 * 1024;

/// Where the encoding decision came from; used to word warnings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Header,
    Meta,
}

impl Source {
    fn describe(self) -> &'static str {
        match self {
            Source::Header => "http content-type",
            Source::Meta => "meta",
        }
    }
}

/// Decodes page bytes to text.
///
/// `content_type` is the HTTP `Content-Type` header value when known. Returns the text,
/// the encoding that was used and warnings about contradicted or unknown labels.
pub fn decode(
    bytes: &[u8],
    content_type: Option<&str>,
) -> (String, &'static Encoding, Vec<String>) {
    let mut warnings = Vec::new();

    // A byte-order mark is the strongest signal there is: WHATWG lets it override
    // every label, and no real page carries a wrong one.
    if let Some((enc, bom_len)) = Encoding::for_bom(bytes) {
        let (text, had_errors) = enc.decode_without_bom_handling(&bytes[bom_len..]);
        if had_errors {
            warnings.push(format!("malformed {} sequences replaced", enc.name()));
        }
        return (text.into_owned(), enc, warnings);
    }

    let declared = declared_encoding(bytes, content_type, &mut warnings);
    let enc = match declared {
        Some((label_enc, source)) => check_label(bytes, label_enc, source, &mut warnings),
        None => sniff(bytes),
    };
    let (text, had_errors) = enc.decode_without_bom_handling(bytes);
    if had_errors {
        warnings.push(format!("malformed {} sequences replaced", enc.name()));
    }
    (text.into_owned(), enc, warnings)
}

/// The encoding declared by the HTTP header or else by a `<meta>` tag, mapped through the
/// WHATWG label table (so `gb2312` becomes GBK and `iso-8859-1` becomes windows-1252).
fn declared_encoding(
    bytes: &[u8],
    content_type: Option<&str>,
    warnings: &mut Vec<String>,
) -> Option<(&'static Encoding, Source)> {
    if let Some(label) = content_type.and_then(charset_param) {
        match resolve_label(label.as_bytes()) {
            Some(enc) => return Some((enc, Source::Header)),
            None => warnings.push(format!("unknown charset label {label:?} in http header")),
        }
    }
    let head = &bytes[..bytes.len().min(META_PRESCAN_BYTES)];
    if let Some(label) = meta_charset(head) {
        match resolve_label(&label) {
            Some(enc) => return Some((enc, Source::Meta)),
            None => warnings.push(format!(
                "unknown charset label {:?} in meta",
                String::from_utf8_lossy(&label)
            )),
        }
    }
    None
}

/// Maps a label to an encoding the way a browser does for HTML. UTF-16 labels inside an
/// ASCII-compatible document cannot be true, so the standard reads them as UTF-8.
fn resolve_label(label: &[u8]) -> Option<&'static Encoding> {
    let enc = Encoding::for_label(label)?;
    if enc == encoding_rs::UTF_16LE || enc == encoding_rs::UTF_16BE {
        return Some(UTF_8);
    }
    if enc == encoding_rs::X_USER_DEFINED {
        return Some(WINDOWS_1252);
    }
    if enc == encoding_rs::REPLACEMENT {
        return None;
    }
    Some(enc)
}

/// Checks a declared encoding against the bytes and returns the encoding to use.
fn check_label(
    bytes: &[u8],
    declared: &'static Encoding,
    source: Source,
    warnings: &mut Vec<String>,
) -> &'static Encoding {
    let utf8_valid = std::str::from_utf8(bytes).is_ok();
    let has_non_ascii = bytes.iter().any(|b| !b.is_ascii());
    if !has_non_ascii {
        // Pure ASCII decodes identically in every ASCII-compatible encoding.
        return declared;
    }

    if declared == UTF_8 {
        if utf8_valid {
            return UTF_8;
        }
        // A few stray bad bytes (a truncated page, one mis-pasted character) do not
        // make a page legacy-encoded; a page full of them does.
        let guess = guess_legacy(bytes);
        if guess != UTF_8 && decodes_cleanly(bytes, guess) && utf8_error_ratio(bytes) > 0.001 {
            warnings.push(format!(
                "{} declares utf-8 but bytes are not valid utf-8; decoded as {}",
                source.describe(),
                guess.name()
            ));
            return guess;
        }
        return UTF_8;
    }

    // Valid multi-byte UTF-8 practically never happens by accident in a legacy encoding,
    // so a legacy label on valid UTF-8 bytes is a stale template, typically `gb2312`.
    if utf8_valid {
        warnings.push(format!(
            "{} declares {} but bytes are valid utf-8; decoded as utf-8",
            source.describe(),
            declared.name()
        ));
        return UTF_8;
    }

    // A multi-byte label that decodes the bytes all but cleanly (a cut character in a
    // truncated capture) is right: chardetng rules an encoding out at its first error.
    // Asked before chardetng, whose answer could not change this one, because the
    // statistical pass costs several times the decoding (GBK pages are most of the
    // legacy pages a Chinese web archive holds).
    if !declared.is_single_byte() && nearly_clean(bytes, declared).is_some() {
        return declared;
    }
    let guess = guess_legacy(bytes);
    if guess == declared || same_family(guess, declared) {
        return declared;
    }
    let declared_clean = decodes_cleanly(bytes, declared);
    let guess_clean = decodes_cleanly(bytes, guess);
    // Single-byte encodings decode anything, so "clean" means nothing for them; a
    // multi-byte guess that decodes cleanly beats a single-byte label.
    let declared_single_byte = declared.is_single_byte();
    if guess_clean && (!declared_clean || (declared_single_byte && !guess.is_single_byte())) {
        warnings.push(format!(
            "{} declares {} but bytes look like {}; decoded as {}",
            source.describe(),
            declared.name(),
            guess.name(),
            guess.name()
        ));
        return guess;
    }
    declared
}

/// Encodings that are supersets of one another: GBK and GB18030 share their two-byte
/// repertoire, so detecting one on a page labelled with the other is no contradiction.
fn same_family(a: &'static Encoding, b: &'static Encoding) -> bool {
    let chinese = |e: &'static Encoding| e == GBK || e == GB18030;
    (chinese(a) && chinese(b)) || (a.is_single_byte() && b.is_single_byte() && a == b)
}

/// Statistical detection when there is no usable label.
fn sniff(bytes: &[u8]) -> &'static Encoding {
    if std::str::from_utf8(bytes).is_ok() {
        return UTF_8;
    }
    // Mostly-UTF-8 pages with a few broken bytes are far more common on the web than
    // legacy pages that happen to contain long valid UTF-8 runs.
    if utf8_error_ratio(bytes) < 0.001 && bytes.iter().filter(|b| !b.is_ascii()).count() > 64 {
        return UTF_8;
    }
    let guess = guess_legacy(bytes);
    if guess.is_single_byte() {
        if let Some(multi) = nearly_clean_multibyte(bytes) {
            return multi;
        }
    }
    guess
}

/// East Asian multi-byte encodings tried when the statistical guess is a single-byte
/// one; in this order because ties go to the first (the outlets we serve first are
/// Chinese).
const MULTIBYTE_CANDIDATES: [&Encoding; 5] = [
    GBK,
    encoding_rs::BIG5,
    encoding_rs::SHIFT_JIS,
    encoding_rs::EUC_KR,
    encoding_rs::EUC_JP,
];

/// A multi-byte encoding that decodes the page with at most one error per two hundred
/// non-ASCII bytes. chardetng disqualifies an encoding at its first invalid sequence, so
/// a GBK page with one cut character (a truncated capture, a bad paste) is guessed as
/// windows-1252 and becomes mojibake; a near-clean decode is far stronger evidence.
fn nearly_clean_multibyte(bytes: &[u8]) -> Option<&'static Encoding> {
    let mut best: Option<(&'static Encoding, usize)> = None;
    for enc in MULTIBYTE_CANDIDATES {
        if let Some(errors) = nearly_clean(bytes, enc) {
            if best.is_none_or(|(_, e)| errors < e) {
                best = Some((enc, errors));
            }
        }
    }
    best.map(|(enc, _)| enc)
}

/// The number of decoding errors of `enc` over the sample, when there is at most one per
/// 200 non-ASCII bytes (and at least 64 of those to judge by).
fn nearly_clean(bytes: &[u8], enc: &'static Encoding) -> Option<usize> {
    let sample = &bytes[..bytes.len().min(DETECT_SAMPLE_BYTES)];
    let non_ascii = sample.iter().filter(|b| !b.is_ascii()).count();
    if non_ascii < 64 {
        return None;
    }
    let (text, _) = enc.decode_without_bom_handling(sample);
    let errors = text.chars().filter(|&c| c == '\u{FFFD}').count();
    (errors * 200 <= non_ascii).then_some(errors)
}

/// chardetng's guess over a bounded prefix of the page.
fn guess_legacy(bytes: &[u8]) -> &'static Encoding {
    let sample = &bytes[..bytes.len().min(DETECT_SAMPLE_BYTES)];
    let mut det = chardetng::EncodingDetector::new();
    det.feed(sample, sample.len() == bytes.len());
    det.guess(None, true)
}

fn decodes_cleanly(bytes: &[u8], enc: &'static Encoding) -> bool {
    let sample = &bytes[..bytes.len().min(DETECT_SAMPLE_BYTES)];
    let mut decoder = enc.new_decoder_without_bom_handling();
    let mut out = String::with_capacity(sample.len() * 3 + 16);
    let (result, _read, had_errors) = decoder.decode_to_string(sample, &mut out, false);
    // A cut in the middle of a multi-byte character at the end of the sample is not an
    // error of the page, and `last = false` keeps it pending instead of reporting it.
    let _ = result;
    !had_errors && (enc != BIG5 || !out.contains('\u{FFFD}'))
}

/// Share of non-ASCII bytes that are part of an invalid UTF-8 sequence.
fn utf8_error_ratio(bytes: &[u8]) -> f64 {
    let mut errors = 0usize;
    let mut rest = bytes;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(_) => break,
            Err(e) => {
                errors += 1;
                let skip = e.valid_up_to() + e.error_len().unwrap_or(1);
                rest = rest.get(skip..).unwrap_or(&[]);
            }
        }
    }
    let non_ascii = bytes.iter().filter(|b| !b.is_ascii()).count().max(1);
    errors as f64 / non_ascii as f64
}

/// Extracts the `charset` parameter from a `Content-Type` value.
fn charset_param(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("charset") {
            return None;
        }
        let value = value.trim().trim_matches(|c| c == '"' || c == '\'').trim();
        (!value.is_empty()).then_some(value)
    })
}

/// Finds a charset label in `<meta charset=...>` or
/// `<meta http-equiv="content-type" content="...; charset=...">` within `head`.
///
/// This is a forgiving scan, not the full WHATWG prescan: it looks at each `<meta` tag's
/// attribute text and skips HTML comments, which is what matters on real pages.
fn meta_charset(head: &[u8]) -> Option<Vec<u8>> {
    let lower: Vec<u8> = head.iter().map(|b| b.to_ascii_lowercase()).collect();
    let mut pos = 0;
    while pos < lower.len() {
        let rest = &lower[pos..];
        if rest.starts_with(b"<!--") {
            pos += find(&rest[4..], b"-->").map_or(rest.len(), |i| i + 7);
            continue;
        }
        if rest.starts_with(b"<meta") && rest.get(5).is_some_and(|b| !b.is_ascii_alphanumeric()) {
            let end = find(rest, b">").unwrap_or(rest.len());
            let tag = &lower[pos..pos + end];
            let original = &head[pos..pos + end];
            if let Some(label) = charset_in_meta(tag, original) {
                return Some(label);
            }
            pos += end.max(1);
            continue;
        }
        pos += 1;
    }
    None
}

/// Looks for `charset=` inside one meta tag's text. Both `<meta charset="x">` and the
/// `content="text/html; charset=x"` form contain the substring `charset=`, so one search
/// covers both; requiring the `content` form to sit in an http-equiv tag is not worth it.
fn charset_in_meta(tag: &[u8], original: &[u8]) -> Option<Vec<u8>> {
    let i = find(tag, b"charset")?;
    let mut j = i + "charset".len();
    while tag.get(j).is_some_and(|b| b.is_ascii_whitespace()) {
        j += 1;
    }
    if tag.get(j) != Some(&b'=') {
        return None;
    }
    j += 1;
    while tag
        .get(j)
        .is_some_and(|b| b.is_ascii_whitespace() || *b == b'"' || *b == b'\'')
    {
        j += 1;
    }
    let start = j;
    while tag
        .get(j)
        .is_some_and(|b| !b.is_ascii_whitespace() && !b"\"';/>".contains(b))
    {
        j += 1;
    }
    (j > start).then(|| original[start..j].to_vec())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Encodings for which a bare detection result is trusted enough to be named in tests.
#[cfg(test)]
const CJK_LEGACY: [&Encoding; 4] = [GBK, BIG5, SHIFT_JIS, EUC_KR];

#[cfg(test)]
mod tests {
    use super::*;

    const ZH: &str = "新华社北京5月9日电，中共中央政治局常委、国务院总理李强在新疆调研。他强调，要深入贯彻习近平总书记的重要讲话精神，推动高质量发展。";

    fn page(meta: &str, body: &str) -> String {
        format!("<html><head>{meta}<title>t</title></head><body><p>{body}</p></body></html>")
    }

    #[test]
    fn bom_wins_over_labels() {
        let mut bytes = vec![0xEF, 0xBB, 0xBF];
        bytes.extend_from_slice(page(r#"<meta charset="gbk">"#, ZH).as_bytes());
        let (text, enc, _) = decode(&bytes, Some("text/html; charset=big5"));
        assert_eq!(enc, UTF_8);
        assert!(text.contains("新华社"));
    }

    #[test]
    fn utf16_bom_is_honoured() {
        let mut bytes = vec![0xFF, 0xFE];
        for unit in "<p>你好</p>".encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        let (text, enc, _) = decode(&bytes, None);
        assert_eq!(enc, encoding_rs::UTF_16LE);
        assert_eq!(text, "<p>你好</p>");
    }

    #[test]
    fn http_header_label_is_used() {
        let html = page("", ZH);
        let (bytes, _, _) = GBK.encode(&html);
        let (text, enc, warnings) = decode(&bytes, Some("text/html; charset=\"GB2312\""));
        assert_eq!(enc, GBK);
        assert!(text.contains("国务院总理"));
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn meta_charset_is_used() {
        let html = page(r#"<meta charset="gb2312">"#, ZH);
        let (bytes, _, _) = GBK.encode(&html);
        let (text, enc, warnings) = decode(&bytes, None);
        assert_eq!(enc, GBK);
        assert!(text.contains("高质量发展"));
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn meta_http_equiv_is_used() {
        let html = page(
            r#"<!-- <meta charset="utf-8"> --><META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=big5">"#,
            "中華民國行政院今天召開記者會，說明颱風災情與復原進度，並呼籲民眾注意安全。",
        );
        let (bytes, _, _) = BIG5.encode(&html);
        let (text, enc, _) = decode(&bytes, None);
        assert_eq!(enc, BIG5);
        assert!(text.contains("颱風災情"));
    }

    #[test]
    fn gb2312_label_on_utf8_bytes_is_overridden() {
        let html = page(
            r#"<meta http-equiv="Content-Type" content="text/html; charset=gb2312">"#,
            ZH,
        );
        let (text, enc, warnings) = decode(html.as_bytes(), None);
        assert_eq!(enc, UTF_8);
        assert!(text.contains("新华社"));
        assert!(
            warnings.iter().any(|w| w.contains("valid utf-8")),
            "{warnings:?}"
        );
    }

    #[test]
    fn utf8_label_on_gbk_bytes_is_overridden() {
        let html = page(r#"<meta charset="utf-8">"#, ZH);
        let (bytes, _, _) = GBK.encode(&html);
        let (text, enc, warnings) = decode(&bytes, Some("text/html; charset=utf-8"));
        assert!(enc == GBK || enc == GB18030, "{}", enc.name());
        assert!(text.contains("国务院总理"));
        assert!(!warnings.is_empty());
    }

    #[test]
    fn latin1_label_on_gbk_bytes_is_overridden() {
        let html = page(r#"<meta charset="iso-8859-1">"#, &ZH.repeat(3));
        let (bytes, _, _) = GBK.encode(&html);
        let (text, enc, warnings) = decode(&bytes, None);
        assert!(
            CJK_LEGACY.contains(&enc) || enc == GB18030,
            "{}",
            enc.name()
        );
        assert!(text.contains("国务院总理"));
        assert!(!warnings.is_empty());
    }

    #[test]
    fn unlabelled_gbk_is_detected() {
        let html = page("", &ZH.repeat(3));
        let (bytes, _, _) = GBK.encode(&html);
        let (text, enc, _) = decode(&bytes, None);
        assert!(enc == GBK || enc == GB18030, "{}", enc.name());
        assert!(text.contains("高质量发展"));
    }

    #[test]
    fn unlabelled_utf8_is_utf8() {
        let (text, enc, warnings) = decode(page("", ZH).as_bytes(), None);
        assert_eq!(enc, UTF_8);
        assert!(text.contains(ZH));
        assert!(warnings.is_empty());
    }

    #[test]
    fn unknown_label_warns_and_sniffs() {
        let html = page(r#"<meta charset="klingon">"#, ZH);
        let (_, enc, warnings) = decode(html.as_bytes(), None);
        assert_eq!(enc, UTF_8);
        assert!(warnings.iter().any(|w| w.contains("klingon")));
    }

    #[test]
    fn charset_param_forms() {
        assert_eq!(charset_param("text/html; charset=UTF-8"), Some("UTF-8"));
        assert_eq!(charset_param("text/html;charset='gbk'"), Some("gbk"));
        assert_eq!(charset_param("text/html"), None);
        assert_eq!(charset_param("text/html; charset="), None);
    }

    #[test]
    fn arbitrary_bytes_do_not_panic() {
        let junk: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
        let _ = decode(&junk, Some("text/html; charset=utf-8"));
        let _ = decode(&junk, Some(";;;=;charset"));
        let _ = decode(b"<meta charset=", None);
        let _ = decode(b"", None);
    }
}
