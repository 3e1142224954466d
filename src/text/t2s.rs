//! Traditional to simplified Chinese, one character at a time, with the results of
//! `fast2s`.
//!
//! This module owns only the speed-up of `fast2s::convert` (which allocates a string and
//! does up to three hash lookups per character): a dense table over all three-byte UTF-8
//! characters, built once from `fast2s` itself, and `fast2s` on a three-character window
//! for the few characters whose conversion depends on their neighbours. It must never
//! produce anything `fast2s::convert` would not, and it maps characters one to one.

use std::sync::OnceLock;

use super::Unit;

/// fast2s converts three-byte UTF-8 characters only: U+0800 to U+FFFF.
const TABLE_START: u32 = 0x0800;
const TABLE_END: u32 = 0x1_0000;
/// Marks table entries whose conversion depends on the neighbours.
const CONTEXTUAL_FLAG: u32 = 1 << 31;

/// Characters whose conversion in fast2s 0.3 depends on the previous or next character
/// (the keys of its `T2S_EXCLUDE` and `T2S_SPECIAL_CONVERT_TYPE` maps). A test checks the
/// module against `fast2s::convert` on real and on adversarial text.
const CONTEXTUAL: &[char] = &[
    '兒', '覆', '夥', '藉', '瞭', '麽', '幺', '於', '乾', '著', '苧', '闔', '鍾', '讎', '畫',
];

/// The context-free simplified form of every three-byte character, flagged when contextual.
fn table() -> &'static [u32] {
    static TABLE: OnceLock<Vec<u32>> = OnceLock::new();
    TABLE.get_or_init(|| {
        // One conversion of the whole range: for non-contextual characters fast2s's answer
        // does not depend on the neighbours, and surrogates (not chars) become U+FFFD
        // placeholders that keep the positions aligned.
        let all: String = (TABLE_START..TABLE_END)
            .map(|code| char::from_u32(code).unwrap_or('\u{fffd}'))
            .collect();
        (TABLE_START..TABLE_END)
            .zip(fast2s::convert(&all).chars())
            .map(|(code, simplified)| {
                let c = char::from_u32(code).unwrap_or('\u{fffd}');
                if CONTEXTUAL.contains(&c) {
                    code | CONTEXTUAL_FLAG
                } else {
                    u32::from(simplified)
                }
            })
            .collect()
    })
}

/// fast2s's conversion of `cur` between `prev` and `next` (`'0'` stands for "none", as in
/// fast2s).
fn in_context(prev: char, cur: char, next: char) -> char {
    let window: String = [prev, cur, next].iter().collect();
    fast2s::convert(&window).chars().nth(1).unwrap_or(cur)
}

/// Simplifies the units' characters in place, exactly as `fast2s::convert` would on their
/// concatenation.
pub(super) fn simplify(units: &mut [Unit]) {
    let table = table();
    // fast2s looks at the unconverted neighbours, so the previous one is kept aside.
    let mut prev = '0';
    for i in 0..units.len() {
        let cur = units[i].c;
        let code = u32::from(cur);
        if (TABLE_START..TABLE_END).contains(&code) {
            let entry = table
                .get((code - TABLE_START) as usize)
                .copied()
                .unwrap_or(code);
            units[i].c = if entry & CONTEXTUAL_FLAG != 0 {
                let next = units.get(i + 1).map_or('0', |u| u.c);
                in_context(prev, cur, next)
            } else {
                char::from_u32(entry).unwrap_or(cur)
            };
        }
        prev = cur;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn simplified(s: &str) -> String {
        let mut units: Vec<Unit> = s
            .chars()
            .enumerate()
            .map(|(i, c)| Unit::spanning(c, i, i + 1))
            .collect();
        simplify(&mut units);
        units.iter().map(|u| u.c).collect()
    }

    #[test]
    fn agrees_with_fast2s() {
        let mut cases = vec![
            "《第一批異體字整理表》已將「託」與「托」合併為「托」".to_string(),
            "乾隆的乾兒子一邊乾淨利落地擲出了一個乾卦，一邊嘴裡嚼着芒果乾。".to_string(),
            "企畫 計畫 企劃 計劃 畫圖 畫畫 憑藉 藉口 慰藉 狼藉 看著 著作 苧麻 闔家 鍾書 校讎"
                .to_string(),
            "樊於期 於是 甚夥 瞭望 明瞭 幺麽 答覆 覆蓋 兒寬 兒子".to_string(),
            CONTEXTUAL.iter().collect(),
            CONTEXTUAL.iter().rev().collect(),
            String::new(),
        ];
        // Every contextual character next to every other, and the whole table range.
        for &a in CONTEXTUAL {
            for &b in CONTEXTUAL {
                cases.push(format!("{a}{b}x{b}{a}"));
            }
        }
        cases.push((0x3400u32..0xA000).filter_map(char::from_u32).collect());
        if let Some(text) = crate::detect::testdata::article(0, 200) {
            cases.push(crate::detect::testdata::to_traditional(&text));
        }
        for case in cases {
            assert_eq!(simplified(&case), fast2s::convert(&case), "case {case:?}");
        }
    }
}
