//! Verdicts on real text (People's Daily 1998, read at test time) and on small tables.

use super::*;
use crate::detect::testdata;

fn doc(text: &str) -> Document {
    Document::new(String::new(), text.to_string())
}

fn check(original: &str, candidate: &str) -> Comparison {
    let (o, c) = (doc(original), doc(candidate));
    let result = compare(&o, &c, &DetectParams::default());
    // Every passage quotes the candidate exactly at its offsets.
    for p in &result.passages {
        let quoted: String = c
            .text
            .chars()
            .skip(p.candidate_start)
            .take(p.candidate_end - p.candidate_start)
            .collect();
        assert_eq!(p.text, quoted);
        assert!(p.original_start < p.original_end && p.original_end <= o.text.chars().count());
    }
    if std::env::var_os("COPYHOUND_TEST_VERBOSE").is_some() {
        eprintln!(
            "verdict {:?} containment {:.3} coverage {:.3} copied {} chars hamming {} passages {}",
            result.verdict,
            result.containment,
            result.coverage,
            result.copied_chars,
            result.hamming,
            result.passages.len()
        );
    }
    // Passages come in original order.
    assert!(result
        .passages
        .windows(2)
        .all(|w| w[0].original_end <= w[1].original_start));
    result
}

/// The original used by the real-text tests: the 1998 New Year address, 20 paragraphs.
fn original() -> Option<String> {
    testdata::article(5, 25)
}

#[test]
fn whole_copy_in_a_template_is_a_copy() {
    let Some(original) = original() else { return };
    let r = check(&original, &testdata::in_template(&original));
    assert_eq!(r.verdict, Verdict::Copy);
    assert!(r.containment > 0.99, "containment {}", r.containment);
    assert!(r.hamming <= 6, "hamming {}", r.hamming);
}

#[test]
fn traditional_copy_with_pinyin_and_mojibake_is_a_copy() {
    let Some(original) = original() else { return };
    let mut paragraphs: Vec<String> = original
        .lines()
        .map(|p| testdata::add_pinyin(&testdata::to_traditional(p), 6))
        .collect();
    paragraphs[3] = testdata::latin1_mojibake(&paragraphs[3]);
    let r = check(&original, &testdata::in_template(&paragraphs.join("\n")));
    assert_eq!(r.verdict, Verdict::Copy);
    assert!(r.containment > 0.95, "containment {}", r.containment);
}

#[test]
fn edited_copy_is_a_copy() {
    let Some(original) = original() else { return };
    // Every 15th character replaced, as light rewording does.
    let edited: String = original
        .chars()
        .enumerate()
        .map(|(i, c)| if i % 15 == 7 && c != '\n' { '某' } else { c })
        .collect();
    let r = check(&original, &edited);
    assert_eq!(r.verdict, Verdict::Copy);
    assert!(r.containment > 0.75, "containment {}", r.containment);
}

#[test]
fn excerpt_of_35_percent_is_partial() {
    let Some(original) = original() else { return };
    let lines: Vec<&str> = original.lines().collect();
    let total: usize = lines.iter().map(|l| l.chars().count()).sum();
    let mut excerpt = Vec::new();
    let mut taken = 0;
    for l in &lines {
        if taken * 100 >= total * 35 {
            break;
        }
        taken += l.chars().count();
        excerpt.push(*l);
    }
    let r = check(&original, &testdata::in_template(&excerpt.join("\n")));
    assert_eq!(r.verdict, Verdict::Partial);
    assert!(
        (0.25..0.6).contains(&r.containment),
        "containment {}",
        r.containment
    );
}

#[test]
fn reordered_paragraphs_are_a_copy() {
    let Some(original) = original() else { return };
    let mut lines: Vec<&str> = original.lines().collect();
    lines.reverse();
    let (odd, even): (Vec<_>, Vec<_>) = lines.iter().enumerate().partition(|(i, _)| i % 2 == 1);
    let shuffled: Vec<&str> = odd.into_iter().chain(even).map(|(_, l)| *l).collect();
    let r = check(&original, &shuffled.join("\n"));
    assert_eq!(r.verdict, Verdict::Copy);
    assert!(r.containment > 0.99, "containment {}", r.containment);
    assert_eq!(r.hamming, 0);
}

#[test]
fn padded_copy_is_a_copy() {
    let (Some(original), Some(padding)) = (original(), testdata::article(4000, 4100)) else {
        return;
    };
    let r = check(&original, &format!("{padding}\n{original}\n{padding}"));
    assert_eq!(r.verdict, Verdict::Copy);
    assert!(r.containment > 0.99, "containment {}", r.containment);
}

#[test]
fn quoted_sentence_is_unrelated() {
    let (Some(original), Some(other)) = (original(), testdata::article(3000, 3020)) else {
        return;
    };
    // The first sentence of the address's third paragraph, quoted in a news report.
    let sentence = original
        .lines()
        .nth(4)
        .and_then(|l| l.split('。').next())
        .unwrap_or_default();
    assert!(sentence.chars().count() > 20, "sentence {sentence:?}");
    let mut lines: Vec<String> = other.lines().map(str::to_string).collect();
    lines[5] = format!("{}他引用道：“{sentence}。”", lines[5]);
    let r = check(&original, &lines.join("\n"));
    assert_eq!(r.verdict, Verdict::Unrelated);
    assert_eq!(
        r.passages.len(),
        1,
        "the quotation is still shown as evidence"
    );
    assert!(r.containment < 0.1, "containment {}", r.containment);
}

#[test]
fn different_articles_are_unrelated() {
    let (Some(a), Some(b)) = (original(), testdata::article(3000, 3020)) else {
        return;
    };
    let r = check(&a, &b);
    assert_eq!(r.verdict, Verdict::Unrelated);
    assert!(r.containment < 0.02, "containment {}", r.containment);
    assert!(r.hamming > 10, "hamming {}", r.hamming);
}

#[test]
fn three_copied_paragraphs_are_partial_even_below_the_threshold() {
    let (Some(long), Some(other)) = (testdata::article(5, 60), testdata::article(3000, 3010))
    else {
        return;
    };
    let lines: Vec<&str> = long.lines().collect();
    // The first three consecutive full paragraphs (at least 60 characters each).
    let Some(k) =
        (0..lines.len() - 3).find(|&k| lines[k..k + 3].iter().all(|l| l.chars().count() >= 60))
    else {
        panic!("no three long paragraphs in a row");
    };
    let candidate = format!("{other}\n{}", lines[k..k + 3].join("\n"));
    let r = check(&long, &candidate);
    assert!(r.containment < 0.25, "containment {}", r.containment);
    assert_eq!(r.verdict, Verdict::Partial);
}

#[test]
fn three_copied_short_lines_are_unrelated() {
    let (Some(long), Some(other)) = (testdata::article(5, 60), testdata::article(3000, 3010))
    else {
        return;
    };
    // The sign-off of the New Year address, the next article's title and its first short
    // paragraph: consecutive, but short lines are not evidence of copying on their own.
    let lines: Vec<&str> = long.lines().collect();
    let candidate = format!("{other}\n{}", lines[10..13].join("\n"));
    let r = check(&long, &candidate);
    assert_eq!(
        r.verdict,
        Verdict::Unrelated,
        "containment {}",
        r.containment
    );
}

#[test]
fn small_tables() {
    let english =
        "The quick brown fox jumps over the lazy dog while the farmer watches from the porch \
                   and the children play in the field behind the old red barn near the river";
    let table: [(&str, &str, Verdict); 6] = [
        (english, english, Verdict::Copy),
        (english, &english.to_uppercase(), Verdict::Copy),
        (
            english,
            "An entirely different sentence about markets and interest rates today.",
            Verdict::Unrelated,
        ),
        ("", "anything", Verdict::Unrelated),
        ("anything at all", "", Verdict::Unrelated),
        ("", "", Verdict::Unrelated),
    ];
    for (o, c, want) in table {
        assert_eq!(check(o, c).verdict, want, "original {o:?} candidate {c:?}");
    }
}

#[test]
fn inconsistent_documents_do_not_panic() {
    let o = doc("质量发展是硬道理，高质量发展更是硬道理");
    let mut c = doc("质量发展是硬道理，高质量发展更是硬道理");
    c.text = "短".to_string();
    let r = compare(&o, &c, &DetectParams::default());
    assert!(r.passages.is_empty());
}

#[test]
fn gbk_mojibake_fragments_do_not_break_passages() {
    let Some(original) = original() else { return };
    // In every paragraph, two characters out of every thirty are shown as GBK mojibake.
    let garbled: Vec<String> = original
        .lines()
        .map(|line| {
            let chars: Vec<char> = line.chars().collect();
            chars
                .chunks(30)
                .map(|chunk| {
                    let s: String = chunk.iter().collect();
                    if chunk.len() < 30 {
                        return s;
                    }
                    let head: String = chunk[10..12].iter().collect();
                    format!(
                        "{}{}{}",
                        chunk[..10].iter().collect::<String>(),
                        testdata::gbk_mojibake(&head),
                        chunk[12..].iter().collect::<String>()
                    )
                })
                .collect()
        })
        .collect();
    assert!(
        garbled
            .iter()
            .any(|l| l.contains('\u{fffd}') || l != &original),
        "mojibake was inserted"
    );
    let r = check(&original, &testdata::in_template(&garbled.join("\n")));
    assert_eq!(r.verdict, Verdict::Copy);
    assert!(r.containment > 0.85, "containment {}", r.containment);
    // Passages stay whole paragraphs instead of fragments.
    assert!(
        r.passages.len() <= original.lines().count() + 2,
        "{} passages",
        r.passages.len()
    );
}

/// An English trade-press story (49 paragraphs) and an unrelated English article.
fn english() -> Option<(String, String)> {
    Some((
        testdata::news_page_text("89338bf8792c5bef")?,
        testdata::news_page_text("c9d7202a66cd79fc")?,
    ))
}

#[test]
fn english_copies_excerpts_and_quotes() {
    let Some((original, other)) = english() else {
        return;
    };
    let lines: Vec<&str> = original.lines().collect();

    let copy = format!(
        "Home | World | Business\nAdvertisement\n{}\nShare this story",
        original.to_uppercase()
    );
    let r = check(&original, &copy);
    assert_eq!(r.verdict, Verdict::Copy, "containment {}", r.containment);

    let excerpt = lines[..lines.len() * 2 / 5].join("\n");
    let r = check(&original, &format!("{other}\n{excerpt}"));
    assert_eq!(r.verdict, Verdict::Partial, "containment {}", r.containment);

    let sentence = lines
        .iter()
        .find(|l| l.split_whitespace().count() > 20)
        .map_or("", |l| l);
    let quoted = format!("{other}\nAs one report put it, \"{sentence}\"");
    let r = check(&original, &quoted);
    assert_eq!(
        r.verdict,
        Verdict::Unrelated,
        "containment {}",
        r.containment
    );

    let r = check(&original, &other);
    assert_eq!(r.verdict, Verdict::Unrelated);
    assert!(r.containment < 0.02, "containment {}", r.containment);
}

#[test]
fn random_mixed_inputs_do_not_panic() {
    // Characters chosen to hit every special case: markup, entities, parentheses, pinyin,
    // mojibake bytes, combining marks, full-width forms, line breaks, astral Han.
    let palette: Vec<char> =
        "<>&;#=\"'()（）/ \n\r\tpdivclass=nbspzhìliàngaeÃ©è´¨é‡\u{8f}\u{301}质量發展１Ａ，。𠀀한カ"
            .chars()
            .collect();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state = crate::text::mix64(state.wrapping_add(0x9e37_79b9_7f4a_7c15));
        state
    };
    let texts: Vec<String> = (0..200)
        .map(|_| {
            let len = (next() % 120) as usize;
            (0..len)
                .map(|_| palette[(next() % palette.len() as u64) as usize])
                .collect()
        })
        .collect();
    for pair in texts.windows(2) {
        let r = check(&pair[0], &pair[1]);
        assert!((0.0..=1.0).contains(&r.containment));
        let r = check(&pair[0], &format!("{}{}", pair[1], pair[0]));
        assert!((0.0..=1.0).contains(&r.containment));
    }
}

/// The default parameters without the rule under test.
fn without_absolute_length() -> DetectParams {
    DetectParams {
        partial_min_cjk_chars: usize::MAX,
        partial_min_words: usize::MAX,
        ..DetectParams::default()
    }
}

#[test]
fn a_long_verbatim_passage_of_a_long_original_is_partial() {
    let (Some(long), Some(other)) = (testdata::article(5, 60), testdata::article(3000, 3020))
    else {
        return;
    };
    assert!(long.chars().count() > 3000);
    // 320 characters of the article's longest paragraph (412 characters, the 47th of 55):
    // one paragraph, so the consecutive-paragraphs rule does not apply.
    let paragraph = long.lines().max_by_key(|l| l.chars().count()).unwrap();
    assert_eq!(paragraph.chars().count(), 412);
    let passage: String = paragraph.chars().take(320).collect();
    let candidate = insert_line(&other, 10, &passage);
    let r = check(&long, &candidate);
    assert_eq!(r.verdict, Verdict::Partial, "{r:?}");
    assert!(r.containment < 0.1, "containment {}", r.containment);
    assert!(r.coverage < 0.2, "coverage {}", r.coverage);
    assert!(r.copied_chars >= 300, "{}", r.copied_chars);
    // The absolute length is what makes it a copy.
    let (o, c) = (doc(&long), doc(&candidate));
    assert_eq!(
        compare(&o, &c, &without_absolute_length()).verdict,
        Verdict::Unrelated
    );
    // Half of it is an excerpt too short to count.
    let half: String = passage.chars().take(160).collect();
    let r = check(&long, &insert_line(&other, 10, &half));
    assert_eq!(r.verdict, Verdict::Unrelated, "{r:?}");
}

/// `text` with `line` inserted before its line `at`.
fn insert_line(text: &str, at: usize, line: &str) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(at.min(lines.len()), line);
    lines.join("\n")
}

#[test]
fn sixty_copied_words_of_a_long_english_article_are_partial() {
    let Some((original, other)) = english() else {
        return;
    };
    // Sixty words from the start of a sentence in the middle of the article.
    let words: Vec<&str> = original.split_whitespace().collect();
    let from = (words.len() / 2..words.len())
        .find(|&i| words[i - 1].ends_with('.'))
        .unwrap();
    let passage = words[from..from + 60].join(" ");
    let candidate = format!("{other}\nSeen elsewhere: {passage}\nMore from our desk.");
    let r = check(&original, &candidate);
    assert_eq!(r.verdict, Verdict::Partial, "{r:?}");
    assert!(r.containment < 0.1, "containment {}", r.containment);
    assert!(r.copied_chars > 300, "{}", r.copied_chars);
    let (o, c) = (doc(&original), doc(&candidate));
    assert_eq!(
        compare(&o, &c, &without_absolute_length()).verdict,
        Verdict::Unrelated
    );
}

/// A People's Daily brief of two sentences (111 characters).
fn brief() -> Option<String> {
    let brief = testdata::paragraphs()?.get(130)?.clone();
    assert!(brief.starts_with("本报伊斯兰堡"), "{brief}");
    Some(brief)
}

#[test]
fn a_short_original_quoted_one_sentence_is_unrelated() {
    let (Some(brief), Some(other)) = (brief(), testdata::article(3000, 3020)) else {
        return;
    };
    let sentence = brief.split('。').next().unwrap();
    let mut lines: Vec<String> = other.lines().map(str::to_string).collect();
    lines[5] = format!("{}据报道，“{sentence}。”", lines[5]);
    let candidate = lines.join("\n");
    let r = check(&brief, &candidate);
    assert_eq!(r.verdict, Verdict::Unrelated, "{r:?}");
    // Most of the brief is quoted: containment alone would call it a copy.
    assert!(r.containment > 0.6, "containment {}", r.containment);
    assert!(r.coverage < 0.1, "coverage {}", r.coverage);
    assert_eq!(
        r.passages.len(),
        1,
        "the quotation is still shown as evidence"
    );
    let quoting_allowed = DetectParams {
        quote_max_coverage: 0.0,
        ..DetectParams::default()
    };
    let (o, c) = (doc(&brief), doc(&candidate));
    assert_eq!(compare(&o, &c, &quoting_allowed).verdict, Verdict::Copy);

    // Both sentences are no quotation: the brief was copied.
    let r = check(&brief, &insert_line(&other, 5, &brief));
    assert_eq!(r.verdict, Verdict::Copy, "{r:?}");
}

#[test]
fn a_short_original_copied_whole_is_a_copy() {
    let Some(brief) = brief() else { return };
    let r = check(&brief, &testdata::in_template(&brief));
    assert_eq!(r.verdict, Verdict::Copy, "{r:?}");
    assert!(r.containment > 0.99, "containment {}", r.containment);
    assert!(r.coverage > 0.5, "coverage {}", r.coverage);
    // A one-sentence brief reposted alone is a repost, not a quotation.
    let sentence = format!("{}。", brief.split('。').next().unwrap());
    let r = check(
        &sentence,
        &format!("来源：网络\n{sentence}\n责任编辑：张三"),
    );
    assert_eq!(r.verdict, Verdict::Copy, "{r:?}");
}

#[test]
fn coverage_and_copied_chars_on_small_tables() {
    let original = "The council approved the new budget on Monday evening. Critics said the plan \
                    ignores the needs of the poorest districts in the city.";
    // (candidate, coverage, copied characters): copied characters count the original
    // from a run's first word to its last, so the final full stop is not included.
    let table: [(&str, f64, usize); 3] = [
        (original, 1.0, original.chars().count() - 1),
        (
            "THE COUNCIL APPROVED THE NEW BUDGET ON MONDAY EVENING. Five more words of ours.",
            9.0 / 14.0,
            "The council approved the new budget on Monday evening".len(),
        ),
        ("Nothing in common at all with the other text here.", 0.0, 0),
    ];
    for (candidate, coverage, chars) in table {
        let r = check(original, candidate);
        assert!(
            (r.coverage - coverage).abs() < 1e-9,
            "{candidate:?}: coverage {}",
            r.coverage
        );
        assert_eq!(r.copied_chars, chars, "{candidate:?}");
    }
}
