//! Boilerplate: text that recurs across the outlet's originals (the anti-infringement
//! notice, bylines, editor lines) and so proves nothing when a page reproduces it.
//!
//! Boilerplate is learned from the archive itself: every original contributes the hashes
//! of its normalised sentences, and a sentence found in at least
//! `[originals] boilerplate_min_originals` originals is boilerplate. A short built-in list
//! of notice markers covers a young archive that has not yet seen enough articles to
//! learn from. Pure code: the counts come from the store, this module only decides.

use std::collections::HashSet;
use std::ops::Range;

use crate::text;

/// Sentences with fewer tokens than this are not counted: "图片" or "Photo" recur
/// everywhere and are too short to be worth a statistic.
const MIN_SENTENCE_TOKENS: usize = 4;

/// Phrases that mark a sentence as a rights notice or an editor line in any archive.
const NOTICE_MARKERS: &[&str] = &[
    "版权声明",
    "版权所有",
    "未经授权",
    "未经书面授权",
    "不得转载",
    "禁止转载",
    "转载请注明",
    "责任编辑",
    "all rights reserved",
    "may not be republished",
    "without written permission",
    "without permission",
];

/// One sentence of a text: character offsets and the hash of its normalised tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sentence {
    pub start: usize,
    pub end: usize,
    pub hash: u64,
}

/// Splits `text` into sentences (at 。！？；!?; and line breaks, and at ". ") and hashes
/// each one's normalised tokens, so that a traditional-character or re-punctuated copy
/// of a sentence hashes the same.
pub fn sentences(text: &str) -> Vec<Sentence> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut start = 0;
    for i in 0..chars.len() {
        let c = chars[i];
        let ends = matches!(c, '。' | '！' | '？' | '；' | '!' | '?' | ';' | '\n')
            || (c == '.' && chars.get(i + 1).is_none_or(|n| n.is_whitespace()));
        if ends || i + 1 == chars.len() {
            let end = i + 1;
            let sentence: String = chars[start..end].iter().collect();
            let tokens = text::normalize(&sentence).tokens;
            if tokens.len() >= MIN_SENTENCE_TOKENS {
                out.push(Sentence {
                    start,
                    end,
                    hash: hash_tokens(&tokens),
                });
            }
            start = end;
        }
    }
    out
}

fn hash_tokens(tokens: &[text::Token]) -> u64 {
    let mut h: u64 = 0x243f_6a88_85a3_08d3;
    for t in tokens {
        h = (h.rotate_left(23) ^ t.hash).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    h ^ (h >> 29)
}

/// True when the sentence contains one of the built-in notice markers.
pub fn is_notice(sentence: &str) -> bool {
    let lower = sentence.to_lowercase();
    NOTICE_MARKERS.iter().any(|m| lower.contains(m))
}

/// The boilerplate the archive has learned.
#[derive(Debug, Clone, Default)]
pub struct Boilerplate {
    frequent: HashSet<u64>,
}

impl Boilerplate {
    /// Boilerplate made of the given frequent sentence hashes (from the store).
    pub fn new(frequent: impl IntoIterator<Item = u64>) -> Self {
        Boilerplate {
            frequent: frequent.into_iter().collect(),
        }
    }

    /// Number of learned sentences.
    pub fn len(&self) -> usize {
        self.frequent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frequent.is_empty()
    }

    /// Character ranges of `text` that are boilerplate: learned sentences, and whole
    /// paragraphs (lines) with a notice marker, because a notice runs over several
    /// sentences of which only the first names itself.
    pub fn ranges(&self, text: &str) -> Vec<Range<usize>> {
        let mut ranges: Vec<Range<usize>> = sentences(text)
            .into_iter()
            .filter(|s| self.frequent.contains(&s.hash))
            .map(|s| s.start..s.end)
            .collect();
        let mut offset = 0;
        for line in text.split('\n') {
            let len = line.chars().count();
            if is_notice(line) {
                ranges.push(offset..offset + len);
            }
            offset += len + 1;
        }
        ranges.sort_by_key(|r| (r.start, r.end));
        ranges
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notice_paragraphs_are_boilerplate_without_learning() {
        let text = "正文第一段，讲述湿地公园的修复过程和成效。\n【版权声明】本文为原创稿件。已获授权的，应注明来源。\n责任编辑：孙卫东";
        let ranges = Boilerplate::default().ranges(text);
        let chars: Vec<char> = text.chars().collect();
        let quoted: Vec<String> = ranges
            .iter()
            .map(|r| chars[r.clone()].iter().collect())
            .collect();
        assert_eq!(
            quoted,
            vec![
                "【版权声明】本文为原创稿件。已获授权的，应注明来源。",
                "责任编辑：孙卫东"
            ]
        );
    }

    #[test]
    fn learned_sentences_match_across_scripts_and_punctuation() {
        let simplified = sentences("记者 陈晓 通讯员 刘明报道。");
        let traditional = sentences("記者陳曉，通訊員劉明報道！");
        assert_eq!(simplified.len(), 1);
        assert_eq!(simplified[0].hash, traditional[0].hash);
        let learned = Boilerplate::new([simplified[0].hash]);
        let text = "正文。記者陳曉，通訊員劉明報道！";
        assert_eq!(learned.ranges(text), vec![3..text.chars().count()]);
    }

    const NOTICE: &str = "【版权声明】本文为江城日报原创稿件，版权归江城日报社所有。未经书面授权，任何单位和个人不得转载、摘编、改编或以其他方式使用。已获授权的，应在授权范围内使用，并注明“来源：江城日报”。违反上述声明者，本社将依法追究其法律责任。";
    const BODY: &str = "市图书馆今起延长开放时间，工作日闭馆时间由晚上六点推迟到九点，周末照常开放。图书馆负责人表示，此举是为了方便上班族下班后借阅图书。";

    fn compare(
        original: &str,
        candidate: &str,
        boilerplate: &Boilerplate,
    ) -> crate::detect::Comparison {
        use crate::detect::{compare, DetectParams, Document};
        let original = Document::new("o".into(), original.into()).with_boilerplate(boilerplate);
        let candidate = Document::new("c".into(), candidate.into());
        compare(&original, &candidate, &DetectParams::default())
    }

    #[test]
    fn a_page_with_only_the_notice_copied_nothing() {
        use crate::detect::Verdict;
        let article = format!("{BODY}\n{NOTICE}\n责任编辑：孙卫东");
        let notice_only = format!("另一家网站的另一篇文章，讲的是完全不同的事情。\n{NOTICE}");
        let c = compare(&article, &notice_only, &Boilerplate::default());
        assert_eq!(c.verdict, Verdict::Unrelated);
        assert_eq!(c.containment, 0.0);
        // Without boilerplate handling the notice alone would be most of this short article.
        let naive = crate::detect::compare(
            &crate::detect::Document::new("o".into(), article.clone()),
            &crate::detect::Document::new("c".into(), notice_only),
            &crate::detect::DetectParams::default(),
        );
        assert_ne!(naive.verdict, Verdict::Unrelated);
        // The article without its notice is a whole copy.
        let c = compare(&article, BODY, &Boilerplate::default());
        assert_eq!(c.verdict, Verdict::Copy);
        assert!(c.containment > 0.99, "{}", c.containment);
    }

    #[test]
    fn learned_boilerplate_weighs_nothing() {
        use crate::detect::Verdict;
        let signature = "本报记者陈晓与通讯员刘明联合采写并发回此篇独家深度报道";
        let article = format!("{BODY}\n{signature}。");
        let copy_of_signature =
            format!("别处的一篇文章，内容毫不相干，只是抄了署名。\n{signature}。");
        let unlearned = compare(&article, &copy_of_signature, &Boilerplate::default());
        assert_ne!(unlearned.verdict, Verdict::Unrelated);
        let learned = Boilerplate::new(sentences(signature).iter().map(|s| s.hash));
        let c = compare(&article, &copy_of_signature, &learned);
        assert_eq!(c.verdict, Verdict::Unrelated);
    }

    #[test]
    fn short_sentences_are_not_counted() {
        assert!(sentences("图片。好。").is_empty());
    }
}
