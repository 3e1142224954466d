//! Table tests of every normalisation step and of the offset contract.

use super::*;

fn chars_of(s: &str, range: Range<u32>) -> String {
    s.chars()
        .skip(range.start as usize)
        .take((range.end - range.start) as usize)
        .collect()
}

#[test]
fn fold_table() {
    let table = [
        // NFKC: full-width forms become ASCII.
        ("ＡＢＣ１２３", "abc123"),
        ("１９９８年", "1998 年"),
        // Traditional to simplified.
        ("質量發展", "质量发展"),
        ("乾隆的乾兒子", "乾隆的干儿子"),
        // Inline pinyin annotations.
        ("質(zhì)量發(fā)展", "质量发展"),
        ("质量（zhì liàng）发展", "质量发展"),
        ("世界卫生组织(WHO)", "世界卫生组织 who"),
        // Punctuation produces no tokens.
        ("你好，世界！", "你好世界"),
        ("Hello, World!", "hello world"),
        ("“引号”《书名》……", "引号书名"),
        // Case folding.
        ("HeLLo ÉCOLE", "hello école"),
        // Whitespace of every kind separates words and is otherwise dropped.
        ("  a \t b\u{3000}c  ", "a b c"),
        // Markup debris.
        ("<p>质量</p>&nbsp;发展", "质量发展"),
        ("div class=\"content\">正文", "正文"),
        // Mojibake (UTF-8 read as Windows-1252) is repaired.
        ("è´¨é‡\u{8f}", "质量"),
        // Other scripts.
        ("日本語のテキスト", "日本语のテキスト"),
        ("한국어 text", "한국어 text"),
        ("iPhone手机", "iphone 手机"),
        ("cafe\u{301} café", "café café"),
        // Paragraphs.
        ("a\n\n b \nc", "a\nb\nc"),
        ("", ""),
        ("，。！", ""),
    ];
    for (input, want) in table {
        assert_eq!(fold(input), want, "input {input:?}");
    }
}

#[test]
fn pinyin_tokens_point_at_the_annotated_characters() {
    let source = "質(zhì)量發(fā)展";
    let n = normalize(source);
    let quoted: Vec<String> = n
        .tokens
        .iter()
        .map(|t| chars_of(source, t.start..t.end))
        .collect();
    assert_eq!(quoted, ["質", "量", "發", "展"]);
    let starts: Vec<u32> = n.tokens.iter().map(|t| t.start).collect();
    assert_eq!(starts, [0, 6, 7, 12]);
    let simplified = normalize("质量发展");
    let hashes = |n: &Normalized| n.tokens.iter().map(|t| t.hash).collect::<Vec<_>>();
    assert_eq!(hashes(&n), hashes(&simplified));
}

#[test]
fn mojibake_token_spans_the_garbled_characters() {
    let source = "A è´¨é‡\u{8f} B";
    let n = normalize(source);
    let quoted: Vec<String> = n
        .tokens
        .iter()
        .map(|t| chars_of(source, t.start..t.end))
        .collect();
    assert_eq!(quoted, ["A", "è´¨", "é‡\u{8f}", "B"]);
}

#[test]
fn paragraphs_are_token_ranges_of_non_empty_lines() {
    let n = normalize("第一段。\n\n  \nsecond para here\n第三");
    assert_eq!(n.paragraphs, vec![0..3, 3..6, 6..8]);
    assert!(normalize("").paragraphs.is_empty());
}

#[test]
fn every_token_quotes_back_to_the_same_token() {
    let source =
        "<p>１９９８年，質(zhì)量發(fā)展&nbsp;Ｈｅｌｌｏ cafe\u{301} è´¨é‡\u{8f}</p>\n한국어";
    let n = normalize(source);
    assert!(!n.tokens.is_empty());
    for t in &n.tokens {
        let quoted = chars_of(source, t.start..t.end);
        let again = normalize(&quoted);
        assert_eq!(again.tokens.len(), 1, "token {t:?} quotes as {quoted:?}");
        assert_eq!(
            again.tokens[0].hash, t.hash,
            "token {t:?} quotes as {quoted:?}"
        );
    }
}

#[test]
fn offsets_are_in_characters_and_monotonic() {
    let source = "𠀀汉字 word";
    let n = normalize(source);
    let spans: Vec<(u32, u32)> = n.tokens.iter().map(|t| (t.start, t.end)).collect();
    assert_eq!(spans, [(0, 1), (1, 2), (2, 3), (4, 8)]);
}

#[test]
fn arbitrary_bytes_do_not_panic() {
    let nasty = [
        "(",
        ")",
        "(((",
        "质(",
        "质()",
        "&",
        "&#",
        "&#x;",
        "<",
        "</",
        "<!",
        "a=",
        "a=\"",
        "\u{301}",
        "\u{301}\u{301}a",
        "ÃÃÃ",
        "è",
        "\u{e8}\u{b4}",
        "\u{ffff}\u{10ffff}",
        "\r\n\r\n",
    ];
    for s in nasty {
        let n = normalize(s);
        for t in &n.tokens {
            assert!(
                t.start < t.end && t.end as usize <= s.chars().count(),
                "input {s:?}"
            );
        }
        let _ = fold(s);
    }
}
