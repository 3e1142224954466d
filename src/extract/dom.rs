//! A compact, pre-ordered copy of the parsed page body and its text lines.
//!
//! Owns the conversion of html5ever's tree into an arena the scorer can walk cheaply:
//! elements that never hold article text (scripts, styles, navigation, forms' controls,
//! hidden nodes) are dropped here, and the remaining text is cut into lines at block
//! boundaries, each line remembering which element owns it and how much of it is link text.
//!
//! It must never recurse over the tree: hostile pages nest elements tens of thousands
//! deep, so every walk here uses an explicit stack or the pre-order index, and the
//! number of elements kept is bounded.

use std::collections::HashSet;

use ego_tree::NodeId;
use scraper::{Html, Node};

/// Elements kept in the arena; beyond this the page is pathological and further elements
/// are flattened into their nearest kept ancestor (their text is still kept).
const MAX_ELEMENTS: usize = 200_000;

/// Bytes of text kept per page. News articles are a few tens of kilobytes; this bound stops
/// a hostile page from making us build gigantic strings.
const MAX_TEXT_BYTES: usize = 4 * 1024 * 1024;

/// One element of the arena. Indices are in document pre-order, so the descendants of
/// element `i` are exactly the indices `i + 1 .. end`.
#[derive(Debug, Clone)]
pub struct Elem {
    /// Lower-case tag name.
    pub tag: Tag,
    /// Lower-case `class` and `id` joined by a space: the source of naming hints.
    pub names: String,
    /// Whether `names` names page furniture (`score::is_boilerplate_name`), decided once
    /// here because the scorer asks for every element several times.
    pub furniture: bool,
    /// A link to another page: an `<a href>` whose target is neither a fragment of this
    /// page (`#p123`, a forum post's permalink) nor a script.
    pub page_link: bool,
    pub parent: Option<usize>,
    /// One past the last descendant's index.
    pub end: usize,
    /// Child elements in document order, for sibling handling.
    pub children: Vec<usize>,
}

/// Tags the extractor cares about; everything else is `Other` (inline or unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    Body,
    P,
    Div,
    Article,
    Main,
    Section,
    Heading,
    Li,
    List,
    Table,
    Td,
    Tr,
    Pre,
    Blockquote,
    Header,
    Form,
    A,
    Br,
    OtherBlock,
    Other,
}

impl Tag {
    fn from_name(name: &str) -> Tag {
        match name {
            "body" => Tag::Body,
            "p" => Tag::P,
            "div" => Tag::Div,
            "article" => Tag::Article,
            "main" => Tag::Main,
            "section" => Tag::Section,
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => Tag::Heading,
            "li" | "dt" | "dd" => Tag::Li,
            "ul" | "ol" | "dl" => Tag::List,
            "table" | "tbody" | "thead" | "tfoot" => Tag::Table,
            "td" | "th" => Tag::Td,
            "tr" => Tag::Tr,
            "pre" => Tag::Pre,
            "blockquote" => Tag::Blockquote,
            "header" => Tag::Header,
            "form" => Tag::Form,
            "a" => Tag::A,
            "br" => Tag::Br,
            "figure" | "figcaption" | "address" | "center" | "fieldset" | "hr" | "caption"
            | "details" | "summary" | "html" => Tag::OtherBlock,
            _ => Tag::Other,
        }
    }

    /// Whether the element starts and ends a line of text.
    pub fn is_block(self) -> bool {
        !matches!(self, Tag::A | Tag::Other)
    }

    /// Elements that hold one paragraph of text rather than a group of paragraphs.
    pub fn is_paragraph(self) -> bool {
        matches!(
            self,
            Tag::P | Tag::Heading | Tag::Li | Tag::Td | Tag::Pre | Tag::Blockquote
        )
    }
}

/// Whole subtrees that never contain article text. `nav`, `aside` and `footer` are
/// structural boilerplate by definition; `rt` and `rp` are ruby annotations (the
/// furigana over Japanese kanji, the pinyin over Chinese), a reading aid printed above
/// the text, not part of it; the rest are code, media or form controls.
fn is_dropped(name: &str) -> bool {
    matches!(
        name,
        "head"
            | "script"
            | "style"
            | "noscript"
            | "template"
            | "svg"
            | "math"
            | "iframe"
            | "object"
            | "embed"
            | "canvas"
            | "video"
            | "audio"
            | "select"
            | "option"
            | "button"
            | "textarea"
            | "input"
            | "nav"
            | "aside"
            | "footer"
            | "title"
            | "link"
            | "meta"
            | "rt"
            | "rp"
    )
}

/// One line of text: the text between two block boundaries.
#[derive(Debug, Clone)]
pub struct Line {
    pub text: String,
    /// Innermost block element containing the line.
    pub owner: usize,
    /// Non-whitespace characters.
    pub chars: usize,
    /// Non-whitespace characters inside links.
    pub link_chars: usize,
    /// Information outside links, in latin-equivalent characters (see [`char_info`]):
    /// letters and ideographs count, digits and punctuation little. A line of link titles
    /// with dates and counters between them (a thread index, a list of headlines) has
    /// almost none, however long it is.
    pub plain_info: f64,
}

/// Information one character carries, in latin-equivalent characters: a CJK character
/// about as much as a short latin word, a letter one, a digit or a punctuation mark little
/// (dates, counters and separators are metadata, not prose).
pub fn char_info(c: char) -> f64 {
    if super::score::is_cjk(c) {
        2.5
    } else if c.is_alphabetic() {
        1.0
    } else if c.is_whitespace() {
        0.0
    } else {
        0.3
    }
}

/// The arena and its lines.
#[derive(Debug, Default)]
pub struct Doc {
    pub elems: Vec<Elem>,
    /// The parsed tree's node of each element (same indices as `elems`).
    pub node_ids: Vec<NodeId>,
    pub lines: Vec<Line>,
    pub warnings: Vec<String>,
}

/// Event stream produced while copying the tree, consumed by the line builder.
enum Item {
    Open(usize),
    Close(usize),
    Text(String),
}

impl Doc {
    /// Copies the body of `html` into an arena and cuts its text into lines.
    pub fn build(html: &Html) -> Doc {
        Doc::build_without(html, &HashSet::new())
    }

    /// [`Doc::build`] leaving out the subtrees of the `dropped` nodes (the outlet's drop
    /// selectors).
    pub fn build_without(html: &Html, dropped: &HashSet<NodeId>) -> Doc {
        let mut doc = Doc::default();
        let items = doc.copy_tree(html, dropped);
        doc.cut_lines(items);
        doc
    }

    /// Lines inside any element whose source node is in `nodes`, in document order.
    pub fn lines_under_nodes<'a>(
        &'a self,
        nodes: &'a HashSet<NodeId>,
    ) -> impl Iterator<Item = &'a Line> + 'a {
        let roots: Vec<usize> = (0..self.elems.len())
            .filter(|&i| nodes.contains(&self.node_ids[i]))
            .collect();
        self.lines
            .iter()
            .filter(move |l| roots.iter().any(|&r| self.contains(r, l.owner)))
    }

    fn copy_tree(&mut self, html: &Html, dropped: &HashSet<NodeId>) -> Vec<Item> {
        let mut items = Vec::new();
        // Open element indices; `None` marks an element that was flattened away.
        let mut stack: Vec<Option<usize>> = Vec::new();
        let mut skip_depth = 0usize;
        let mut text_bytes = 0usize;
        let mut truncated = false;
        for edge in html.tree.root().traverse() {
            match edge {
                ego_tree::iter::Edge::Open(node) => {
                    if skip_depth > 0 {
                        skip_depth += 1;
                        continue;
                    }
                    match node.value() {
                        Node::Element(el) => {
                            let name = el.name();
                            if is_dropped(name) || is_hidden(el) || dropped.contains(&node.id()) {
                                skip_depth = 1;
                                continue;
                            }
                            if self.elems.len() >= MAX_ELEMENTS {
                                if !truncated {
                                    truncated = true;
                                    self.warnings.push(format!(
                                        "more than {MAX_ELEMENTS} elements; the rest flattened"
                                    ));
                                }
                                stack.push(None);
                                continue;
                            }
                            let idx = self.elems.len();
                            let parent = stack.iter().rev().find_map(|s| *s);
                            let mut names = String::new();
                            for attr in ["class", "id"] {
                                if let Some(v) = el.attr(attr) {
                                    names.push_str(&v.to_ascii_lowercase());
                                    names.push(' ');
                                }
                            }
                            // An `<a>` without `href` is a named anchor, not a link: old
                            // forum software leaves `<a name=…>` unclosed, and the tree
                            // builder then carries it over the whole post.
                            let tag = match Tag::from_name(name) {
                                Tag::A if el.attr("href").is_none() => Tag::Other,
                                tag => tag,
                            };
                            let page_link = tag == Tag::A
                                && el.attr("href").is_some_and(|h| {
                                    let h = h.trim_start();
                                    !h.starts_with('#')
                                        && !h
                                            .get(..11)
                                            .is_some_and(|s| s.eq_ignore_ascii_case("javascript:"))
                                });
                            self.elems.push(Elem {
                                tag,
                                page_link,
                                furniture: super::score::is_boilerplate_name(&names),
                                names,
                                parent,
                                end: idx + 1,
                                children: Vec::new(),
                            });
                            self.node_ids.push(node.id());
                            if let Some(p) = parent {
                                self.elems[p].children.push(idx);
                            }
                            stack.push(Some(idx));
                            items.push(Item::Open(idx));
                        }
                        Node::Text(t) if text_bytes < MAX_TEXT_BYTES && !stack.is_empty() => {
                            text_bytes += t.len();
                            items.push(Item::Text(t.to_string()));
                        }
                        _ => {}
                    }
                }
                ego_tree::iter::Edge::Close(node) => {
                    if skip_depth > 0 {
                        skip_depth -= 1;
                        continue;
                    }
                    if node.value().is_element() {
                        if let Some(Some(idx)) = stack.pop() {
                            let end = self.elems.len();
                            self.elems[idx].end = end;
                            items.push(Item::Close(idx));
                        }
                    }
                }
            }
        }
        if text_bytes >= MAX_TEXT_BYTES {
            self.warnings.push(format!(
                "page text over {MAX_TEXT_BYTES} bytes; the rest ignored"
            ));
        }
        items
    }

    fn cut_lines(&mut self, items: Vec<Item>) {
        let mut buf = String::new();
        let mut link_chars = 0usize;
        let mut plain_info = 0.0f64;
        let mut blocks: Vec<usize> = Vec::new();
        let mut link_depth = 0usize;
        let mut pre_depth = 0usize;
        for item in items {
            match item {
                Item::Open(idx) => {
                    let tag = self.elems[idx].tag;
                    if tag.is_block() {
                        self.flush(
                            &mut buf,
                            &mut link_chars,
                            &mut plain_info,
                            blocks.last().copied(),
                        );
                        if tag != Tag::Br {
                            blocks.push(idx);
                        }
                    }
                    if tag == Tag::A {
                        link_depth += 1;
                    }
                    if tag == Tag::Pre {
                        pre_depth += 1;
                    }
                }
                Item::Close(idx) => {
                    let tag = self.elems[idx].tag;
                    if tag.is_block() && tag != Tag::Br {
                        self.flush(
                            &mut buf,
                            &mut link_chars,
                            &mut plain_info,
                            blocks.last().copied(),
                        );
                        if blocks.last() == Some(&idx) {
                            blocks.pop();
                        }
                    }
                    if tag == Tag::A {
                        link_depth = link_depth.saturating_sub(1);
                    }
                    if tag == Tag::Pre {
                        pre_depth = pre_depth.saturating_sub(1);
                    }
                }
                Item::Text(t) => {
                    for (i, piece) in t.split('\n').enumerate() {
                        if i > 0 && pre_depth > 0 {
                            self.flush(
                                &mut buf,
                                &mut link_chars,
                                &mut plain_info,
                                blocks.last().copied(),
                            );
                        }
                        if i > 0 || piece.starts_with(char::is_whitespace) {
                            buf.push(' ');
                        }
                        let n = piece.chars().filter(|c| !c.is_whitespace()).count();
                        if link_depth > 0 {
                            link_chars += n;
                        } else {
                            plain_info += piece.chars().map(char_info).sum::<f64>();
                        }
                        buf.push_str(piece);
                    }
                }
            }
        }
        self.flush(
            &mut buf,
            &mut link_chars,
            &mut plain_info,
            blocks.last().copied(),
        );
    }

    fn flush(
        &mut self,
        buf: &mut String,
        link_chars: &mut usize,
        plain_info: &mut f64,
        owner: Option<usize>,
    ) {
        let text = collapse_ws(buf);
        buf.clear();
        let links = std::mem::take(link_chars);
        let plain_info = std::mem::take(plain_info);
        let Some(owner) = owner else { return };
        let chars = text.chars().filter(|c| !c.is_whitespace()).count();
        if chars == 0 {
            return;
        }
        self.lines.push(Line {
            text,
            owner,
            chars,
            link_chars: links.min(chars),
            plain_info,
        });
    }

    /// Whether `desc` is `anc` or inside it.
    pub fn contains(&self, anc: usize, desc: usize) -> bool {
        anc <= desc && desc < self.elems[anc].end
    }
}

/// Inline `style="display:none"` and the `hidden` attribute hide a subtree from readers;
/// such subtrees hold templates, lazy widgets and spam, not the article.
fn is_hidden(el: &scraper::node::Element) -> bool {
    if el.attr("hidden").is_some() {
        return true;
    }
    el.attr("style").is_some_and(|s| {
        let s: String = s
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        // `visibility:hidden` is deliberately not treated as hidden: WeChat serves its
        // article body with it and reveals it by script.
        s.contains("display:none")
    })
}

/// Collapses runs of whitespace (including NBSP and ideographic space) into one space
/// and trims the ends. Soft hyphens and word joiners are dropped: they are invisible
/// hints for line breaking inside a word, and typesetting plugins put one between every
/// syllable of a page ("réac\u{ad}tion"), which would make its text match nothing.
pub fn collapse_ws(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.chars() {
        if c == '\u{ad}' || c == '\u{2060}' {
            continue;
        }
        if c.is_whitespace() || c == '\u{200b}' || c == '\u{feff}' {
            pending_space = !out.is_empty();
        } else {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
        }
    }
    out
}
