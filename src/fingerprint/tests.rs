//! Kernel equivalence with the `simhash` crate, hash stability and segment robustness.

use super::*;
use crate::detect::testdata;
use crate::text::normalize;

/// The textbook SimHash, bit by bit, as the reference for the kernel.
fn naive(features: &[u64]) -> u64 {
    let mut out = 0;
    for bit in 0..64 {
        let set = features.iter().filter(|&&h| (h >> bit) & 1 == 1).count();
        if set > features.len() - set {
            out |= 1 << bit;
        }
    }
    out
}

fn pseudo_random(n: usize, seed: u64) -> Vec<u64> {
    (0..n as u64)
        .map(|i| mix64(i ^ seed.rotate_left(17)))
        .collect()
}

#[test]
fn kernel_matches_the_textbook_rule() {
    for n in [0, 1, 2, 3, 254, 255, 256, 509, 510, 511, 1000, 4097] {
        let features = pseudo_random(n, n as u64);
        assert_eq!(simhash(&features), naive(&features), "n = {n}");
        // Feeding one at a time must agree with the batch path.
        let mut acc = SimHashAccumulator::new();
        features.iter().for_each(|&f| acc.add(f));
        assert_eq!(acc.finish(), simhash(&features), "n = {n}");
    }
    // Ties give 0 and all-equal features give themselves.
    assert_eq!(simhash(&[0xF0F0, 0x0F0F]), 0);
    assert_eq!(simhash(&[u64::MAX; 300]), u64::MAX);
    assert_eq!(simhash(&[u64::MAX, 0, 0]), 0);
    assert_eq!(simhash(&[]), 0);
}

fn char_trigrams(text: &str) -> Vec<&str> {
    let idx: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect();
    (0..idx.len().saturating_sub(3))
        .map(|k| &text[idx[k]..idx[k + 3]])
        .collect()
}

#[test]
fn sip_path_agrees_with_the_simhash_crate() {
    let real = testdata::article(0, 40)
        .unwrap_or_else(|| "质量发展是硬道理，高质量发展更是硬道理".repeat(50));
    let cases: Vec<Vec<&str>> = vec![
        vec![],
        vec!["a"],
        vec!["a", "b"],
        vec!["ab", "ab", "cd", "cd"],
        vec!["质量发"; 255],
        vec!["质量发"; 256],
        char_trigrams("质量发展"),
        char_trigrams(&real),
        real.split_whitespace().collect(),
    ];
    for shingles in cases {
        let ours = simhash_sip_stream(shingles.iter().copied());
        let theirs = simhash::simhash_stream(shingles.iter().copied());
        assert_eq!(ours, theirs, "{} shingles", shingles.len());
    }
}

#[test]
fn str_shingle_hash_equals_token_shingle_hash() {
    let n = normalize("质量发展");
    let hashes: Vec<u64> = n.tokens.iter().map(|t| t.hash).collect();
    assert_eq!(shingle_hash_str("质量发"), shingle_hash(&hashes[..3]));
    assert_eq!(shingle_hash_str("量发展"), shingle_hash(&hashes[1..]));
    let text = "高质量发展";
    let fast = simhash_str_shingles(char_trigrams(text), shingle_hash_str);
    assert_eq!(fast, fingerprint(&normalize(text)).whole);
}

#[test]
fn fixed_text_has_a_fixed_fingerprint() {
    // If this fails, the hashing changed and every stored fingerprint is invalid: bump the
    // index format instead of updating the constant casually.
    let fp = fingerprint(&normalize(
        "高质量发展是新时代的硬道理。\nQuality development matters, said the report.",
    ));
    assert_eq!(format!("{:016x}", fp.whole), "9a0e8fcc46d103af");
    assert_eq!(
        format!("{:016x}", shingle_hash_str("质量发")),
        "fcf2458ec3a27b8a"
    );
    assert_eq!(
        format!("{:016x}", crate::text::word_hash("quality".chars())),
        "24c013226897d80f"
    );
}

#[test]
fn empty_and_tiny_inputs() {
    assert_eq!(fingerprint(&normalize("")), Fingerprint::default());
    let one = fingerprint(&normalize("好"));
    assert_eq!(one.segments.len(), 1);
    assert_eq!((one.segments[0].start, one.segments[0].end), (0, 1));
    // A hand-built Normalized with bad ranges must not panic.
    let mut broken = normalize("质量发展");
    broken.paragraphs = vec![3..99, Range { start: 2, end: 1 }];
    let _ = fingerprint(&broken);
}

#[test]
fn segments_follow_paragraphs_and_split_long_ones() {
    let long = "质".repeat(1000);
    let short = "短段落";
    let text = format!("{short}\n{long}\n{short}\n{short}");
    let fp = fingerprint(&normalize(&text));
    // The 3-token lines are dropped (under half the minimum), the long paragraph is split
    // into four windows of 250 characters.
    let spans: Vec<(u32, u32)> = fp.segments.iter().map(|s| (s.start, s.end)).collect();
    assert_eq!(spans, [(4, 254), (254, 504), (504, 754), (754, 1004)]);
}

#[test]
fn reordered_paragraphs_keep_the_whole_simhash() {
    let a = "第一段内容讲的是经济发展。\n第二段内容讲的是文化建设。\n第三段讲社会。";
    let b = "第三段讲社会。\n第一段内容讲的是经济发展。\n第二段内容讲的是文化建设。";
    assert_eq!(
        fingerprint(&normalize(a)).whole,
        fingerprint(&normalize(b)).whole
    );
}

#[test]
fn copied_paragraphs_land_near_their_segments() {
    let Some(original) = testdata::article(5, 25) else {
        return;
    };
    let copy = testdata::in_template(&testdata::add_pinyin(
        &testdata::to_traditional(&original),
        37,
    ));
    let a = fingerprint(&normalize(&original));
    let b = fingerprint(&normalize(&copy));
    assert!(a.segments.len() >= 5, "{} segments", a.segments.len());
    for seg in &a.segments {
        let best = b
            .segments
            .iter()
            .map(|s| hamming(s.simhash, seg.simhash))
            .min()
            .unwrap_or(64);
        assert!(best <= 3, "segment {seg:?} is {best} bits from its copy");
    }
    // Unrelated text stays far away.
    let Some(other) = testdata::article(3000, 3020) else {
        return;
    };
    let c = fingerprint(&normalize(&other));
    for seg in &c.segments {
        let best = a
            .segments
            .iter()
            .map(|s| hamming(s.simhash, seg.simhash))
            .min()
            .unwrap_or(64);
        assert!(
            best > 8,
            "unrelated segment {seg:?} is only {best} bits away"
        );
    }
}
