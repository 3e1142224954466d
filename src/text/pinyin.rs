//! Removal of inline pinyin annotations that mirror sites put after converted characters
//! (`質(zhì)量發(fā)展`, `质量（zhì liàng）`, `质量(zhiliang)`).
//!
//! This module owns the recognition of pinyin syllables and the rule that decides when a
//! parenthesised run is an annotation. It must never remove parenthesised text that is not
//! directly after a Han character, and it keeps toneless text that looks like English
//! (capitals, more syllables than the annotated characters, common English words).

use std::collections::HashSet;
use std::sync::OnceLock;

use pinyin::ToPinyinMulti;

use super::{is_han, Unit};

/// The longest parenthesised run we inspect, in characters.
const MAX_ANNOTATION_CHARS: usize = 64;
/// The longest pinyin syllable with its tone number (`zhuang4`).
const MAX_SYLLABLE_CHARS: usize = 7;

/// English words that are also valid toneless pinyin strings. A parenthesised lowercase word
/// from this list after Han is more likely an English gloss than an annotation.
const ENGLISH_LOOKALIKES: &[&str] = &[
    "a", "an", "ban", "bang", "can", "die", "fan", "gang", "hang", "he", "lie", "long", "man",
    "me", "men", "pan", "pie", "ran", "sang", "see", "she", "tan", "tie", "you",
];

struct Syllables {
    /// Tone-marked syllables (`zhì`) and their toneless forms (`zhi`, `lv`, `lü`).
    all: HashSet<String>,
    /// Toneless syllables only; interjection syllables (`m`, `n`, `ng`, `hm`) are left out
    /// because they would let almost any English word pass as pinyin.
    toneless: HashSet<String>,
}

/// The syllable inventory, collected once from the `pinyin` crate's character table.
fn syllables() -> &'static Syllables {
    static SYLLABLES: OnceLock<Syllables> = OnceLock::new();
    SYLLABLES.get_or_init(|| {
        let mut all = HashSet::new();
        let mut toneless = HashSet::new();
        let ranges = [0x3400u32..0x4DC0, 0x4E00..0xA000];
        for c in ranges.into_iter().flatten().filter_map(char::from_u32) {
            let Some(multi) = c.to_pinyin_multi() else {
                continue;
            };
            for p in multi {
                all.insert(p.with_tone().to_string());
                let plain = p.plain();
                if !matches!(plain, "m" | "n" | "ng" | "hm" | "hng" | "ê") {
                    toneless.insert(plain.to_string());
                    toneless.insert(plain.replace('v', "ü"));
                    toneless.insert(plain.replace('ü', "v"));
                }
                all.insert(plain.to_string());
                all.insert(plain.replace('v', "ü"));
            }
        }
        all.extend(toneless.iter().cloned());
        Syllables { all, toneless }
    })
}

fn has_tone_mark(c: char) -> bool {
    "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜńňǹḿ".contains(c)
}

/// Number of syllables `word` splits into (each optionally followed by a tone digit), or
/// `None` when it is not a concatenation of syllables from `set`.
fn syllable_count(word: &[char], set: &HashSet<String>) -> Option<usize> {
    // best[i] is the fewest syllables covering word[..i]; dynamic programming keeps this
    // linear in the word length times the syllable length.
    let mut best: Vec<Option<usize>> = vec![None; word.len() + 1];
    best[0] = Some(0);
    let mut piece = String::new();
    for i in 0..word.len() {
        let Some(before) = best[i] else { continue };
        piece.clear();
        for j in i..word.len().min(i + MAX_SYLLABLE_CHARS) {
            piece.push(word[j]);
            if set.contains(piece.as_str()) {
                let mut end = j + 1;
                if word.get(end).is_some_and(|d| ('1'..='5').contains(d)) {
                    end += 1;
                }
                let candidate = before + 1;
                if best[end].is_none_or(|b| candidate < b) {
                    best[end] = Some(candidate);
                }
            }
        }
    }
    best[word.len()]
}

/// Decides whether `content` (the text between the parentheses, as written) annotates the
/// `han_run` Han characters just before it.
pub(super) fn is_annotation(content: &[char], han_run: usize) -> bool {
    let words: Vec<Vec<char>> = content
        .split(|c| c.is_whitespace() || matches!(c, '\'' | '’' | '-' | ',' | '·'))
        .filter(|w| !w.is_empty())
        .map(|w| w.to_vec())
        .collect();
    if words.is_empty() {
        return false;
    }
    let toned = content
        .iter()
        .any(|&c| has_tone_mark(c) || c.is_ascii_digit());
    let set = syllables();
    let mut total = 0;
    for word in &words {
        let lower: Vec<char> = word.iter().flat_map(|c| c.to_lowercase()).collect();
        let count = if toned {
            syllable_count(&lower, &set.all)
        } else {
            // Toneless annotations are written in lower case; capitals mean a name or an
            // acronym (`(WHO)`, `(Hong Kong)`).
            if word.iter().any(|c| !c.is_lowercase()) {
                return false;
            }
            let text: String = word.iter().collect();
            if words.len() == 1 && ENGLISH_LOOKALIKES.contains(&text.as_str()) {
                return false;
            }
            syllable_count(&lower, &set.toneless)
        };
        match count {
            Some(n) => total += n,
            None => return false,
        }
    }
    // An annotation never has more syllables than the characters it annotates; toned
    // annotations get a little slack because mirror sites sometimes annotate a whole word
    // after its first character.
    if toned {
        total <= han_run + 2
    } else {
        total <= han_run
    }
}

/// Removes parenthesised pinyin annotations (ASCII or full-width parentheses, the latter
/// already folded to ASCII by NFKC) that directly follow Han characters.
pub(super) fn strip(units: Vec<Unit>) -> Vec<Unit> {
    if !units.iter().any(|u| u.c == '(') {
        return units;
    }
    let mut out: Vec<Unit> = Vec::with_capacity(units.len());
    let mut i = 0;
    while i < units.len() {
        if units[i].c == '(' {
            if let Some(len) = annotation_len(&out, &units[i..]) {
                i += len;
                continue;
            }
        }
        out.push(units[i]);
        i += 1;
    }
    out
}

/// Length of the annotation starting at `rest[0] == '('`, if it is one.
fn annotation_len(before: &[Unit], rest: &[Unit]) -> Option<usize> {
    // At most one space may separate the annotation from the character it annotates.
    let mut end = before.len();
    if end > 0 && before[end - 1].c == ' ' {
        end -= 1;
    }
    let han_run = before[..end]
        .iter()
        .rev()
        .take_while(|u| is_han(u.c))
        .count();
    if han_run == 0 {
        return None;
    }
    let close = rest
        .iter()
        .take(MAX_ANNOTATION_CHARS)
        .skip(1)
        .position(|u| matches!(u.c, ')' | '\n' | '('))?
        + 1;
    if rest[close].c != ')' {
        return None;
    }
    let content: Vec<char> = rest[1..close].iter().map(|u| u.c).collect();
    is_annotation(&content, han_run).then_some(close + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stripped(s: &str) -> String {
        let units = s
            .chars()
            .enumerate()
            .map(|(i, c)| Unit::spanning(c, i, i + 1))
            .collect();
        strip(units).iter().map(|u| u.c).collect()
    }

    #[test]
    fn removes_annotations_and_keeps_english() {
        let table = [
            ("質(zhì)量發(fā)展", "質量發展"),
            ("质量(zhì liàng)发展", "质量发展"),
            ("质量 (zhìliàng)发展", "质量 发展"),
            ("质(zhi4)量", "质量"),
            ("质量(zhiliang)", "质量"),
            ("绿(lǜ)色", "绿色"),
            ("世界卫生组织(WHO)", "世界卫生组织(WHO)"),
            ("中国(China)", "中国(China)"),
            ("香港(Hong Kong)", "香港(Hong Kong)"),
            ("城市(city)", "城市(city)"),
            ("他说(see below)", "他说(see below)"),
            ("人(an)", "人(an)"),
            ("质(zhiliangfazhan)", "质(zhiliangfazhan)"),
            ("price (zhì)", "price (zhì)"),
            ("(zhì)", "(zhì)"),
            ("质(zhì", "质(zhì"),
            ("质()", "质()"),
        ];
        for (input, want) in table {
            assert_eq!(stripped(input), want, "input {input:?}");
        }
    }
}
