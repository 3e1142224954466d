//! Removal of leftover markup in extracted text: tags (`<p>`, `</div>`), comments,
//! character entities (`&nbsp;`, `&#8220;`) and attribute debris (`div class="x"`).
//!
//! This module owns only the recognition of such debris in the unit stream. It must never
//! remove text that could be prose: every pattern is anchored on `<`, `&` or an
//! `attribute=` form, and no pattern crosses a line break.

use super::Unit;

/// The longest tag we remove; longer `<...>` spans are more likely prose with a stray `<`.
const MAX_TAG_CHARS: usize = 512;
/// The longest entity name, `&` and `;` excluded.
const MAX_ENTITY_CHARS: usize = 10;
/// The longest quoted attribute value we remove.
const MAX_ATTR_VALUE_CHARS: usize = 256;

/// Named entities mirror sites often print without their closing semicolon.
const BARE_ENTITIES: &[&str] = &[
    "nbsp", "amp", "lt", "gt", "quot", "ldquo", "rdquo", "hellip", "mdash",
];

/// Tag names that precede attribute debris (`div class="content"`).
const TAG_NAMES: &[&str] = &[
    "a", "article", "b", "br", "div", "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i",
    "iframe", "img", "li", "link", "meta", "ol", "p", "script", "section", "span", "strong",
    "style", "table", "td", "th", "tr", "ul",
];

/// Attribute names whose unquoted values (`class=content`) are also debris.
const ATTR_NAMES: &[&str] = &[
    "align", "alt", "border", "class", "height", "href", "id", "name", "rel", "src", "style",
    "target", "title", "type", "width",
];

/// Removes markup debris from the unit stream.
pub(super) fn strip(units: Vec<Unit>) -> Vec<Unit> {
    if !units.iter().any(|u| matches!(u.c, '<' | '&' | '=')) {
        return units;
    }
    let mut out: Vec<Unit> = Vec::with_capacity(units.len());
    let mut i = 0;
    while i < units.len() {
        let skip = match units[i].c {
            '<' => tag_len(&units[i..]),
            '&' => entity_len(&units[i..]),
            c if c.is_ascii_alphabetic() && starts_word(&out) => attribute_len(&units[i..]),
            _ => None,
        };
        match skip {
            Some(len) => {
                if units[i].c != '<' && units[i].c != '&' {
                    drop_trailing_tag_name(&mut out);
                }
                i += len;
            }
            None => {
                out.push(units[i]);
                i += 1;
            }
        }
    }
    out
}

fn starts_word(out: &[Unit]) -> bool {
    out.last().is_none_or(|u| !u.c.is_alphanumeric())
}

/// Length of a tag or comment starting at `units[0] == '<'`.
fn tag_len(units: &[Unit]) -> Option<usize> {
    let next = units.get(1)?.c;
    let opens = next.is_ascii_alphabetic()
        || next == '!'
        || (next == '/' && units.get(2).is_some_and(|u| u.c.is_ascii_alphabetic()));
    if !opens {
        return None;
    }
    let limit = units.len().min(MAX_TAG_CHARS);
    for (k, u) in units.iter().enumerate().take(limit).skip(1) {
        match u.c {
            '>' => return Some(k + 1),
            '<' | '\n' => return None,
            _ => {}
        }
    }
    None
}

/// Length of a character entity starting at `units[0] == '&'`.
fn entity_len(units: &[Unit]) -> Option<usize> {
    let body_end = units
        .iter()
        .skip(1)
        .take(MAX_ENTITY_CHARS + 1)
        .position(|u| !(u.c.is_ascii_alphanumeric() || u.c == '#'))
        .map_or(units.len().min(MAX_ENTITY_CHARS + 2), |p| p + 1);
    let body: String = units[1..body_end].iter().map(|u| u.c).collect();
    if body.is_empty() || body.len() > MAX_ENTITY_CHARS {
        return None;
    }
    let well_formed = if let Some(num) = body.strip_prefix('#') {
        let digits = num.strip_prefix(['x', 'X']).unwrap_or(num);
        !digits.is_empty() && digits.chars().all(|c| c.is_ascii_hexdigit())
    } else {
        body.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
    };
    if !well_formed {
        return None;
    }
    if units.get(body_end).is_some_and(|u| u.c == ';') {
        Some(body_end + 1)
    } else if BARE_ENTITIES.contains(&body.to_ascii_lowercase().as_str()) {
        Some(body_end)
    } else {
        None
    }
}

/// Length of attribute debris (`class="x"`, `class=x`) starting at an ASCII letter.
fn attribute_len(units: &[Unit]) -> Option<usize> {
    let name_len = units
        .iter()
        .position(|u| !(u.c.is_ascii_alphanumeric() || u.c == '-' || u.c == '_'))
        .unwrap_or(units.len());
    if units.get(name_len)?.c != '=' {
        return None;
    }
    let name: String = units[..name_len]
        .iter()
        .map(|u| u.c.to_ascii_lowercase())
        .collect();
    let value_start = name_len + 1;
    let quote = units.get(value_start)?.c;
    if quote == '"' || quote == '\'' {
        let close = units[value_start + 1..]
            .iter()
            .take(MAX_ATTR_VALUE_CHARS)
            .position(|u| u.c == quote || u.c == '\n')?;
        let close_at = value_start + 1 + close;
        (units[close_at].c == quote).then_some(close_at + 1)
    } else if ATTR_NAMES.contains(&name.as_str()) || name.starts_with("data-") {
        let value_len = units[value_start..]
            .iter()
            .take(MAX_ATTR_VALUE_CHARS)
            .position(|u| u.c.is_whitespace() || u.c == '>')
            .unwrap_or(units.len() - value_start);
        Some(value_start + value_len)
    } else {
        None
    }
}

/// Removes a tag name (`div`) left just before removed attribute debris.
fn drop_trailing_tag_name(out: &mut Vec<Unit>) {
    let mut end = out.len();
    while end > 0 && out[end - 1].c.is_whitespace() && out[end - 1].c != '\n' {
        end -= 1;
    }
    let mut start = end;
    while start > 0 && out[start - 1].c.is_ascii_alphanumeric() {
        start -= 1;
    }
    if start == end || (start > 0 && out[start - 1].c.is_alphanumeric()) {
        return;
    }
    let word: String = out[start..end]
        .iter()
        .map(|u| u.c.to_ascii_lowercase())
        .collect();
    if TAG_NAMES.contains(&word.as_str()) {
        out.truncate(start);
    }
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
    fn removes_tags_entities_and_attribute_debris() {
        let table = [
            ("<p>质量</p>", "质量"),
            ("质量&nbsp;发展", "质量发展"),
            ("质量&nbsp发展", "质量发展"),
            ("a&#8220;b&#x201D;c", "abc"),
            ("div class=\"content\">质量", ">质量"),
            ("<div class=\"x\">正文</div>", "正文"),
            ("span style=color:red 正文", " 正文"),
            ("<!-- comment -->正文", "正文"),
            ("AT&T and R&D", "AT&T and R&D"),
            ("if a < b and c > d", "if a < b and c > d"),
            ("x = 5", "x = 5"),
            ("<p\n>", "<p\n>"),
            ("", ""),
        ];
        for (input, want) in table {
            assert_eq!(stripped(input), want, "input {input:?}");
        }
    }
}
