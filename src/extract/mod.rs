//! Main-text extraction from raw HTML bytes (pure, no I/O).
//!
//! INTERFACE CONTRACT (to be implemented).

/// The article found in a page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extracted {
    pub title: String,
    /// Main text, one paragraph per line (`\n` between paragraphs).
    pub text: String,
    /// Name of the character encoding the page was decoded with (WHATWG label).
    pub encoding: &'static str,
    /// Problems met on the way (bad charset label, no article found, ...): never fatal.
    pub warnings: Vec<String>,
}

/// Extracts title and main text; `content_type` is the HTTP `Content-Type` header when known.
pub fn extract(_html: &[u8], _content_type: Option<&str>) -> Extracted {
    unimplemented!("contract")
}

/// Decodes bytes to text (interface contract: BOM, header, meta, statistical detection).
pub fn decode(
    _bytes: &[u8],
    _content_type: Option<&str>,
) -> (String, &'static encoding_rs::Encoding, Vec<String>) {
    unimplemented!("contract")
}
