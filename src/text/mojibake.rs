//! Repair of UTF-8 text that was mis-decoded as Latin-1 or Windows-1252 (`è´¨é‡` for 质量).
//!
//! This module owns only the byte-level reinterpretation of such runs. It must never
//! change characters outside a run that decodes as valid multi-byte UTF-8, so that ordinary
//! accented Latin text (`café`, `Zürich`) passes through untouched.

use super::Unit;

/// The byte a character stands for when UTF-8 bytes were shown as Windows-1252 (or
/// Latin-1, whose C1 controls U+0080–U+009F cover the bytes Windows-1252 leaves undefined).
fn cp1252_byte(c: char) -> Option<u8> {
    let code = u32::from(c);
    if (0x80..=0xFF).contains(&code) {
        // The range check above proves the value fits in a byte.
        return u8::try_from(code).ok();
    }
    let b = match c {
        '€' => 0x80,
        '‚' => 0x82,
        'ƒ' => 0x83,
        '„' => 0x84,
        '…' => 0x85,
        '†' => 0x86,
        '‡' => 0x87,
        'ˆ' => 0x88,
        '‰' => 0x89,
        'Š' => 0x8A,
        '‹' => 0x8B,
        'Œ' => 0x8C,
        'Ž' => 0x8E,
        '‘' => 0x91,
        '’' => 0x92,
        '“' => 0x93,
        '”' => 0x94,
        '•' => 0x95,
        '–' => 0x96,
        '—' => 0x97,
        '˜' => 0x98,
        '™' => 0x99,
        'š' => 0x9A,
        '›' => 0x9B,
        'œ' => 0x9C,
        'ž' => 0x9E,
        'Ÿ' => 0x9F,
        _ => return None,
    };
    Some(b)
}

/// Turns the source characters into units, replacing every mis-decoded UTF-8 sequence by
/// the character it encodes. The repaired unit spans all the source characters it came
/// from, so offsets still point into the original text.
pub(super) fn repair(chars: &[char]) -> Vec<Unit> {
    let mut units = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        if let Some((decoded, len)) = decode_at(chars, i) {
            units.push(Unit::spanning(decoded, i, i + len));
            i += len;
        } else {
            units.push(Unit::spanning(chars[i], i, i + 1));
            i += 1;
        }
    }
    units
}

/// Decodes one mis-decoded UTF-8 sequence starting at `i`, returning the character and
/// the number of source characters it used.
fn decode_at(chars: &[char], i: usize) -> Option<(char, usize)> {
    let lead = cp1252_byte(chars[i])?;
    let len = match lead {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return None,
    };
    let mut bytes = [lead, 0, 0, 0];
    for (k, slot) in bytes.iter_mut().enumerate().take(len).skip(1) {
        let b = cp1252_byte(*chars.get(i + k)?)?;
        if !(0x80..=0xBF).contains(&b) {
            return None;
        }
        *slot = b;
    }
    let decoded = std::str::from_utf8(&bytes[..len]).ok()?.chars().next()?;
    Some((decoded, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repaired(s: &str) -> String {
        let chars: Vec<char> = s.chars().collect();
        repair(&chars).iter().map(|u| u.c).collect()
    }

    #[test]
    fn repairs_latin1_and_cp1252_mojibake() {
        let table = [
            ("è´¨é‡\u{8f}", "质量"),
            ("è´¨é‡", "质é‡"),
            ("Ã©tÃ©", "été"),
            ("café", "café"),
            ("Zürich", "Zürich"),
            ("plain ascii", "plain ascii"),
            ("", ""),
        ];
        for (input, want) in table {
            assert_eq!(repaired(input), want, "input {input:?}");
        }
    }

    #[test]
    fn repaired_unit_spans_its_source_chars() {
        let chars: Vec<char> = "a\u{e8}\u{b4}\u{a8}b".chars().collect();
        let units = repair(&chars);
        assert_eq!(units.len(), 3);
        assert_eq!((units[1].c, units[1].start, units[1].end), ('质', 1, 4));
    }
}
