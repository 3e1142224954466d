//! Unit tests of extraction on small hand-written pages.

use super::*;

#[test]
fn empty_input_gives_empty_text() {
    let out = extract(b"", None);
    assert!(out.text.is_empty());
}
