//! Picks the element that holds the article and the lines of it that are article text.
//!
//! Owns the content heuristics: every line of prose votes for the containers above it
//! (more for long lines rich in punctuation, CJK punctuation especially, nothing for link
//! lists), containers are boosted or penalised by their class/id names and damped by their
//! link density, the best container wins, and same-parent siblings that look like more of
//! the same article are joined. Inside the winner, lines under boilerplate-named elements
//! (share bars, related lists, comments) and link-dominated lines are dropped.
//!
//! It must never walk the tree recursively (see `dom`), and it prefers returning a short
//! precise text over a long one with the page's furniture: the article is what copies are
//! matched against.

use super::dom::{Doc, Line, Tag};

/// Lines weaker than this (in "latin-equivalent" characters) do not vote for containers:
/// menu items, bylines and buttons are short.
const MIN_VOTING_INFO: f64 = 25.0;

/// Ancestor levels a line votes for, with the divisor used at each level.
const VOTE_DIVISORS: [f64; 5] = [1.0, 2.0, 6.0, 9.0, 12.0];

/// How far up from a line's owner we look for boilerplate names before reaching the
/// chosen container; bounded so that deep nesting costs nothing.
const MAX_HINT_WALK: usize = 48;

/// The result of content selection: the chosen lines in document order.
pub struct Selection<'a> {
    pub lines: Vec<&'a Line>,
    pub found: bool,
    /// The element that won (after climbing), when one did.
    pub container: Option<usize>,
    /// Non-whitespace characters of the page's readable text: every line of at least
    /// [`MIN_PROSE_CHARS`] that is not mostly links and not under a boilerplate-named
    /// element. A selection far shorter than this has probably collapsed onto one block.
    pub prose_chars: usize,
}

/// Lines shorter than this never count as the page's readable text (menu items, buttons).
const MIN_PROSE_CHARS: usize = 10;

/// Lines with less information than this outside their links (see
/// [`Line::plain_info`]) are not readable text either: a date, a counter, link titles
/// strung together with their authors and timestamps.
const MIN_PROSE_INFO: f64 = 15.0;

/// Per element: whether it or an ancestor carries a boilerplate name. Computed in
/// pre-order (every parent before its children), so no recursion. A boilerplate-named
/// element that holds most of the page's text and the article's headline (`title_owner`,
/// the element of the line repeating the page title, when known) is a layout wrapper
/// (`page-with-sidebar`, `has-share-bar`), not furniture, and passes nothing down; a
/// recommendation list longer than the article does not hold its headline.
pub fn under_boilerplate(doc: &Doc, title_owner: Option<usize>) -> Vec<bool> {
    under_flags(doc, title_owner, |i| doc.elems[i].furniture)
}

/// [`under_boilerplate`] with only the names that say what a block is for whatever the
/// site's naming habits: related and recommended stories, comments.
pub fn under_strong_boilerplate(doc: &Doc, title_owner: Option<usize>) -> Vec<bool> {
    under_flags(doc, title_owner, |i| {
        let names = &doc.elems[i].names;
        !is_article_marker(names)
            && ["related", "relate", "recommend", "comment"]
                .iter()
                .any(|w| names.contains(w))
    })
}

/// Per element: whether it or an ancestor is `named` (an element index predicate).
fn under_flags(doc: &Doc, title_owner: Option<usize>, named: impl Fn(usize) -> bool) -> Vec<bool> {
    let n = doc.elems.len();
    let mut chars = vec![0usize; n];
    for line in &doc.lines {
        chars[line.owner] += line.chars;
    }
    for i in (0..n).rev() {
        if let Some(p) = doc.elems[i].parent {
            chars[p] += chars[i];
        }
    }
    let page: usize = doc.lines.iter().map(|l| l.chars).sum();
    let mut flags = vec![false; n];
    for i in 0..n {
        let inherited = doc.elems[i].parent.is_some_and(|p| flags[p]);
        let wrapper = chars[i] * 2 > page && title_owner.is_none_or(|t| doc.contains(i, t));
        flags[i] = inherited || (!wrapper && named(i));
    }
    flags
}

/// Whether a line reads as page text rather than furniture: long enough, not mostly
/// links, and outside boilerplate-named elements (`under` from [`under_boilerplate`]).
pub fn is_prose_line(line: &Line, under: &[bool]) -> bool {
    line.chars >= MIN_PROSE_CHARS
        && line.plain_info >= MIN_PROSE_INFO
        && link_density(line.chars, line.link_chars) <= 0.5
        && !under[line.owner]
}

/// The script a page is written in, decided by the characters of its readable lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    Cjk,
    Other,
}

/// The page's script, by character count of its prose lines: a page is CJK when at
/// least a third of its letters are CJK (a CJK character carries a word's worth, so a
/// third of the characters is most of the text).
fn page_script(doc: &Doc, under: &[bool]) -> Script {
    let mut prose = doc
        .lines
        .iter()
        .filter(|l| is_prose_line(l, under))
        .peekable();
    if prose.peek().is_none() {
        // No readable lines: decide over every line rather than call the page CJK.
        return line_script_of(doc.lines.iter().flat_map(|l| l.text.chars()));
    }
    line_script_of(prose.flat_map(|l| l.text.chars()))
}

fn line_script_of(chars: impl Iterator<Item = char>) -> Script {
    let (mut cjk, mut letters) = (0usize, 0usize);
    for c in chars {
        if is_cjk(c) {
            cjk += 1;
            letters += 1;
        } else if c.is_alphabetic() {
            letters += 1;
        }
    }
    if letters > 0 && cjk * 3 >= letters {
        Script::Cjk
    } else {
        Script::Other
    }
}

/// The script of one line, by the same rule as [`page_script`].
fn line_script(line: &Line) -> Script {
    line_script_of(line.text.chars())
}

/// Vote multiplier of a line written in another script than its page: a Chinese cookie
/// banner on an English page (or an English promo on a Chinese one) is not the article,
/// however dense its punctuation. Kept above zero so that a page whose article really is
/// in the minority script still finds it when nothing else competes.
const FOREIGN_SCRIPT_VOTE: f64 = 0.2;

/// Whether a character is a CJK ideograph, kana or hangul syllable.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF)
}

/// Sentence punctuation. Full-width marks are strong evidence of prose in CJK pages; the
/// ASCII comma and full stop are evidence of prose everywhere.
fn punct_weight(c: char) -> f64 {
    match c {
        '，' | '。' | '！' | '？' | '；' | '：' | '“' | '”' | '、' | '」' | '「' => {
            1.0
        }
        ',' | '.' | ';' | '!' | '?' | '،' | '۔' | '؟' => 0.7,
        _ => 0.0,
    }
}

/// Sentence punctuation of a line, weighted by [`punct_weight`]. A mark followed by a
/// digit separates the parts of a number (`1,234.5`), not clauses.
fn punctuation(text: &str) -> f64 {
    let mut total = 0.0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let w = punct_weight(c);
        if w > 0.0 && !chars.peek().is_some_and(char::is_ascii_digit) {
            total += w;
        }
    }
    total
}

/// Information content of a line in latin-equivalent characters: a CJK character carries
/// about as much as a short latin word.
fn info(line: &Line) -> f64 {
    let cjk = line.text.chars().filter(|&c| is_cjk(c)).count();
    (line.chars - cjk) as f64 + 2.5 * cjk as f64
}

fn link_density(chars: usize, link_chars: usize) -> f64 {
    if chars == 0 {
        0.0
    } else {
        link_chars as f64 / chars as f64
    }
}

/// Class/id name hints, as a weight: positive for article containers, negative for
/// page furniture. Matching is on tokens (split at non-alphanumerics) so that `ad` does
/// not match `header` and `head` does not match `masthead`.
pub fn name_weight(names: &str) -> f64 {
    let furniture = is_boilerplate_name(names);
    name_weight_with(names, furniture)
}

/// [`name_weight`] of an element whose furniture flag is already known.
fn name_weight_of(elem: &super::dom::Elem) -> f64 {
    name_weight_with(&elem.names, elem.furniture)
}

fn name_weight_with(names: &str, furniture: bool) -> f64 {
    if names.is_empty() {
        return 0.0;
    }
    let mut w = 0.0;
    if furniture {
        w -= 25.0;
    }
    const POSITIVE: [&str; 22] = [
        "article",
        "artical",
        "content",
        "entry",
        "post",
        "story",
        "body",
        "text",
        "main",
        "detail",
        "zw",
        "zhengwen",
        "rich_media",
        "trs_editor",
        "cont",
        "con",
        "news",
        "blog",
        "page",
        "txt",
        "left",
        "read",
    ];
    let strong = [
        "article",
        "artical",
        "content",
        "entry",
        "story",
        "zhengwen",
        "rich_media",
        "trs_editor",
        "post_body",
        "post-body",
        "detail",
        "txt",
        "text",
    ];
    if strong.iter().any(|p| names.contains(p)) {
        w += 25.0;
    } else if tokens(names).any(|t| POSITIVE.iter().any(|p| t.starts_with(p))) {
        w += 10.0;
    }
    w
}

fn tokens(names: &str) -> impl Iterator<Item = &str> {
    names
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
}

/// Names of elements whose content is never the article: the lines under such an element
/// (inside the chosen container) are dropped.
pub fn is_boilerplate_name(names: &str) -> bool {
    if names.is_empty() || is_article_marker(names) {
        return false;
    }
    furniture_words().is_match(names)
        || tokens(names).any(|t| FURNITURE_TOKENS.contains(&t))
        || names.split_whitespace().any(is_hiding_word)
}

/// Whether a class/id word hides its element: `hidden`, `hide`, a word that begins with
/// one of them (`hidden-content`, `hide-mobile`) except Bootstrap's breakpoint classes,
/// which hide only on some screens (`hidden-xs`), or a known hiding word. Words that end
/// with them say what is hidden inside a visible element (Drupal's `field-label-hidden`
/// is the body whose label is hidden, Tailwind's `overflow-hidden` clips its overflow).
fn is_hiding_word(word: &str) -> bool {
    if HIDDEN_WORDS.contains(&word) {
        return true;
    }
    let rest = word
        .strip_prefix("hidden-")
        .or_else(|| word.strip_prefix("hide-"));
    rest.is_some_and(|r| !["xs", "sm", "md", "lg", "xl", "xxl", "print"].contains(&r))
}

/// Whole class/id tokens that name furniture (`ad` must not match `header`).
const FURNITURE_TOKENS: [&str; 14] = [
    "ad", "ads", "gg", "nav", "hot", "rank", "more", "tag", "keywords", "foot", "side", "zan",
    "dashang", "ad-slot",
];

/// Whole class/id words that hide an element (see [`is_hiding_word`]).
const HIDDEN_WORDS: [&str; 8] = [
    "hidden",
    "hide",
    "element-hidden",
    "visually-hidden",
    "visuallyhidden",
    "visibility-hide",
    "sr-only",
    "screen-reader-text",
];

/// One automaton over the substrings that name furniture: every element of every page is
/// asked, and one pass beats a `contains` per word.
fn furniture_words() -> &'static aho_corasick::AhoCorasick {
    static WORDS: std::sync::OnceLock<aho_corasick::AhoCorasick> = std::sync::OnceLock::new();
    WORDS.get_or_init(|| {
        // The patterns are fixed ASCII words, which the builder always accepts; an error
        // here would be a programming error caught by every test.
        aho_corasick::AhoCorasick::new(FURNITURE_SUBSTRINGS)
            .expect("fixed ASCII patterns build an automaton")
    })
}

/// Substrings of class/id names that name furniture.
const FURNITURE_SUBSTRINGS: [&str; 37] = [
    "comment",
    "share",
    "sharing",
    "social",
    "related",
    "recommend",
    "sidebar",
    "breadcrumb",
    "crumb",
    "footer",
    "copyright",
    "newsletter",
    "subscribe",
    "promo",
    "sponsor",
    "advert",
    "banner",
    "navbar",
    "menu",
    "toolbar",
    "hotnews",
    "ranking",
    "paging",
    "pagination",
    "disclaimer",
    "byline-share",
    "popup",
    "modal",
    "cookie",
    "login",
    "author-info",
    "author-bio",
    "author-box",
    "about-author",
    "tags",
    "widget",
    "relate",
];

/// Whether an element's class or id words mark it as the article itself. Such a word
/// outweighs the furniture words beside it: WordPress prints `post_class()` on every
/// article (`post type-post status-publish hentry tag-election category-world`), where
/// `tag-` and `category-` name the post's taxonomy, and sites add state classes such as
/// `modal-enabled` to their article box.
pub fn is_article_marker(names: &str) -> bool {
    // `node` is Drupal's article element, whose state classes (`node-promoted`,
    // `node-sticky`) would otherwise read as furniture.
    const MARKERS: [&str; 12] = [
        "article",
        "node",
        "hentry",
        "post",
        "entry",
        "story",
        "type-post",
        "status-publish",
        "post-content",
        "entry-content",
        "article-body",
        "article-content",
    ];
    names.split_whitespace().any(|w| MARKERS.contains(&w))
}

fn tag_weight(tag: Tag) -> f64 {
    match tag {
        Tag::Article => 15.0,
        Tag::Div | Tag::Main => 5.0,
        Tag::Pre | Tag::Td | Tag::Blockquote => 3.0,
        Tag::List | Tag::Li | Tag::Form => -3.0,
        Tag::Heading | Tag::Header => -5.0,
        _ => 0.0,
    }
}

/// Candidates found between the title and the global winner must score at least this to
/// replace it; below it they are captions or bylines, not an article.
const MIN_ANCHORED_SCORE: f64 = 8.0;

/// Non-whitespace characters a candidate between the title and the winner needs.
const MIN_ANCHORED_CHARS: usize = 30;

/// Selects the article lines of `doc`; `title` is the page title, used to locate the
/// article's heading.
pub fn select<'a>(doc: &'a Doc, title: &str) -> Selection<'a> {
    select_with(doc, title, &[])
}

/// Non-whitespace characters of the page's readable lines (see [`Selection::prose_chars`]);
/// `skip` as in [`select_with`].
pub fn prose_chars(doc: &Doc, title: &str, skip: &[bool]) -> usize {
    prose_chars_under(doc, &under_boilerplate(doc, title_owner(doc, title)), skip)
}

fn prose_chars_under(doc: &Doc, under: &[bool], skip: &[bool]) -> usize {
    doc.lines
        .iter()
        .enumerate()
        .filter(|&(i, l)| !skip.get(i).copied().unwrap_or(false) && is_prose_line(l, under))
        .map(|(_, l)| l.chars)
        .sum()
}

/// [`select`], with `skip[i]` true for lines known to be the site's template: they do not
/// vote for containers and are not counted as the page's readable text. An empty `skip`
/// skips nothing.
pub fn select_with<'a>(doc: &'a Doc, title: &str, skip: &[bool]) -> Selection<'a> {
    let skipped = |i: usize| skip.get(i).copied().unwrap_or(false);
    let n = doc.elems.len();
    if n == 0 || doc.lines.is_empty() {
        return Selection {
            lines: Vec::new(),
            found: false,
            container: None,
            prose_chars: 0,
        };
    }
    // The line repeating the page title, found once: it anchors the layout-wrapper rule,
    // the choice between competing stories and the lead.
    let title_anchor = title_line(doc, title);
    let under = under_boilerplate(doc, title_anchor.map(|i| doc.lines[i].owner));
    let script = page_script(doc, &under);

    // Total and link characters per element, accumulated bottom-up through the pre-order
    // indices (every child has a larger index than its parent), so no recursion.
    let mut chars = vec![0usize; n];
    let mut links = vec![0usize; n];
    for line in &doc.lines {
        chars[line.owner] += line.chars;
        links[line.owner] += line.link_chars;
    }
    for i in (0..n).rev() {
        if let Some(p) = doc.elems[i].parent {
            chars[p] += chars[i];
            links[p] += links[i];
        }
    }

    // Votes from prose lines to their containers.
    let mut score = vec![0.0f64; n];
    let mut touched = vec![false; n];
    for (i, line) in doc.lines.iter().enumerate() {
        let inf = info(line);
        // The information outside links decides whether a line is prose at all: a
        // thread index or a headline list interleaves link titles with dates and
        // counters, long lines that say nothing of their own.
        if inf < MIN_VOTING_INFO || line.plain_info < MIN_VOTING_INFO || skipped(i) {
            continue;
        }
        let ld = link_density(line.chars, line.link_chars);
        if ld > 0.5 {
            continue;
        }
        let punct = punctuation(&line.text);
        let mut vote = (1.0 + punct + (inf / 100.0).min(3.0)) * (1.0 - ld);
        if line_script(line) != script {
            vote *= FOREIGN_SCRIPT_VOTE;
        }
        let owner = &doc.elems[line.owner];
        let mut target = if owner.tag.is_paragraph() {
            owner.parent
        } else {
            Some(line.owner)
        };
        for div in VOTE_DIVISORS {
            let Some(t) = target else { break };
            if !touched[t] {
                touched[t] = true;
                score[t] += tag_weight(doc.elems[t].tag) + name_weight_of(&doc.elems[t]);
            }
            score[t] += vote / div;
            target = doc.elems[t].parent;
        }
    }

    let final_score = |i: usize| -> f64 {
        if !touched[i] {
            return f64::NEG_INFINITY;
        }
        score[i] * (1.0 - link_density(chars[i], links[i]))
    };
    let mut best = None;
    let mut best_score = f64::NEG_INFINITY;
    for i in 0..n {
        let s = final_score(i);
        if s > best_score {
            best_score = s;
            best = Some(i);
        }
    }
    let Some(mut top) = best else {
        return Selection {
            lines: Vec::new(),
            found: false,
            container: None,
            prose_chars: prose_chars_under(doc, &under, skip),
        };
    };

    // Busy pages put longer stories (recommendations, "more from us") after a short
    // article. The article's own heading repeats the page title, so when the winner is
    // separated from that heading by another heading, the best candidate in between is
    // the article.
    if let Some(anchor) = title_anchor {
        let (first, last) = line_spans(doc);
        let top_first = first[top];
        let contains_anchor = doc.contains(top, doc.lines[anchor].owner);
        if !contains_anchor {
            let mut alt = None;
            let mut alt_score = MIN_ANCHORED_SCORE;
            for i in 0..n {
                if first[i] == usize::MAX || first[i] <= anchor {
                    continue;
                }
                let before_top = last[i] < top_first;
                if top_first > anchor && !before_top {
                    continue;
                }
                if top_first > anchor && !heading_between(doc, last[i], top_first) {
                    continue;
                }
                let s = final_score(i);
                // A subtitle or caption between the title and the winner is not an article.
                if chars[i] < MIN_ANCHORED_CHARS || s < best_score * 0.05 {
                    continue;
                }
                if s > alt_score {
                    alt_score = s;
                    alt = Some(i);
                }
            }
            if let Some(a) = alt {
                top = a;
                best_score = alt_score;
            }
        }
    }

    // Climb while the parent is a better home for the article: readability's rule that
    // a parent scoring higher than the child it contains is the real container.
    let mut last = best_score;
    let mut steps = 0;
    while let Some(p) = doc.elems[top].parent {
        if steps > MAX_HINT_WALK || doc.elems[p].tag == Tag::Body {
            break;
        }
        steps += 1;
        let ps = final_score(p);
        if !ps.is_finite() || ps < last / 3.0 {
            break;
        }
        if ps > last {
            top = p;
            last = ps;
        } else {
            last = ps;
        }
    }
    let top_score = final_score(top);

    // A thread of posts or a list of comments that is the page's content: the winner is
    // one record of a repeated structure, and the same part of every record joins it.
    let records = repeated_records(doc, top, &chars, &links, &under);
    // Siblings that look like more of the article (split bodies, lead paragraphs kept
    // outside the main container) join it.
    let mut chosen = vec![top];
    if let Some(records) = records {
        chosen = records;
    } else if let Some(parent) = doc.elems[top].parent {
        let threshold = (top_score * 0.2).max(10.0);
        for &sib in &doc.elems[parent].children {
            if sib == top {
                continue;
            }
            let s = final_score(sib);
            let ld = link_density(chars[sib], links[sib]);
            let joins = (s.is_finite() && s >= threshold && ld < 0.3)
                || (doc.elems[sib].tag == Tag::P && sibling_paragraph_ok(doc, sib, ld));
            // A block in another script than the page (a consent banner, a promo in
            // the other language) is not more of the same article.
            let same_script = || {
                let text = doc
                    .lines
                    .iter()
                    .filter(|l| doc.contains(sib, l.owner))
                    .flat_map(|l| l.text.chars());
                line_script_of(text) == script
            };
            if joins && !doc.elems[sib].furniture && same_script() {
                chosen.push(sib);
            }
        }
    }
    chosen.sort_unstable();

    let in_chosen = |l: &Line| chosen.iter().any(|&c| doc.contains(c, l.owner));
    // The lead: templates often put the standfirst and first paragraphs in their own
    // block between the headline and the body. Prose that sits between the article's
    // heading and the chosen container is part of the article.
    let lead_from = title_anchor.map(|t| t + 1);
    let first_chosen = doc.lines.iter().position(in_chosen);
    let is_lead = |i: usize, l: &Line| {
        lead_from.is_some_and(|from| i >= from)
            && first_chosen.is_some_and(|first| i < first)
            && is_lead_line(l, &under)
    };
    let lines = doc
        .lines
        .iter()
        .enumerate()
        .filter(|&(i, l)| {
            if in_chosen(l) {
                let container = chosen.iter().copied().find(|&c| doc.contains(c, l.owner));
                keep_line(doc, l, container)
            } else {
                is_lead(i, l)
            }
        })
        .map(|(_, l)| l)
        .collect();
    let lines = without_leading_headline(
        doc,
        title_anchor,
        trim_closing_calls(trim_foreign_edges(lines, script)),
    );
    // The page's readable text, for the collapse safeguard. A furniture name on the
    // chosen container or one of its ancestors names a layout wrapper (`widget-area`,
    // `has-modal`), since the article was found inside it: the text under it counts as
    // readable. Counting more can only make the safeguard more suspicious, never less.
    let readable = under_flags(doc, title_anchor.map(|i| doc.lines[i].owner), |i| {
        doc.elems[i].furniture && !doc.contains(i, top)
    });
    Selection {
        lines,
        found: true,
        container: Some(top),
        prose_chars: prose_chars_under(doc, &readable, skip),
    }
}

/// Levels above the winner that [`widen`] climbs at most.
const MAX_WIDEN_LEVELS: usize = 8;

/// Share of the readable and furniture characters a level adds that must be readable text
/// for [`widen`] to climb through it: below it the level brings in a sidebar, a menu or a
/// list of links.
const MIN_WIDEN_PROSE_SHARE: f64 = 0.6;

/// Readable text the widened container must hold, as a multiple of the winner's.
const WIDEN_GAIN: f64 = 2.0;

/// Link density above which an ancestor is a page region (a column with its menus), not
/// the article's box.
const MAX_WIDEN_LINK_DENSITY: f64 = 0.35;

/// Readable characters per link-dominated line below which the lines a level adds read
/// as a stream of teasers (a headline link and a summary each), not more of the article.
const MIN_WIDEN_PROSE_PER_LINK_LINE: f64 = 300.0;

/// Link-dominated lines a level must add before [`MIN_WIDEN_PROSE_PER_LINK_LINE`] applies:
/// an article's own "read also" line or two do not make it a teaser list.
const MIN_TEASER_LINES: usize = 3;

/// A second candidate for a selection that looks collapsed: the nearest ancestor of the
/// winner that holds at least [`WIDEN_GAIN`] times its readable text, reached through
/// levels that each add mostly readable text. An article cut into sections (org-mode's
/// `outline-2` blocks, a page builder's text widgets, a long read's chapters) scores
/// section by section, and the winner is then one section; its ancestors that add only
/// more prose are the article, and the first level that adds menus or link lists is not.
/// The lines are the ancestor's, filtered as the winner's are, plus the lead lines the
/// selection already had outside it. `None` when no ancestor qualifies.
pub fn widen<'a>(
    doc: &'a Doc,
    title: &str,
    skip: &[bool],
    selection: &Selection<'a>,
) -> Option<Vec<&'a Line>> {
    let top = selection.container?;
    let skipped = |i: usize| skip.get(i).copied().unwrap_or(false);
    let under = under_boilerplate(doc, title_owner(doc, title));
    let n = doc.elems.len();
    // Per element, accumulated bottom-up through the pre-order indices: readable
    // characters, readable plus furniture characters (`weighed`), all and link
    // characters, and link-dominated lines.
    let mut prose = vec![0usize; n];
    let mut weighed = vec![0usize; n];
    let mut all = vec![0usize; n];
    let mut links = vec![0usize; n];
    let mut link_lines = vec![0usize; n];
    for (i, line) in doc.lines.iter().enumerate() {
        if skipped(i) {
            continue;
        }
        let o = line.owner;
        all[o] += line.chars;
        links[o] += line.link_chars;
        let link_line =
            link_density(line.chars, line.link_chars) > 0.5 && line.chars >= MIN_PROSE_CHARS;
        if is_prose_line(line, &under) {
            prose[o] += line.chars;
            weighed[o] += line.chars;
        } else if link_line || under[o] {
            // Furniture counts against a level; short lines (a section heading, a date, a
            // caption, a poster's name linking to their profile) are neutral.
            weighed[o] += line.chars;
            link_lines[o] += usize::from(link_line);
        }
    }
    for i in (0..n).rev() {
        if let Some(p) = doc.elems[i].parent {
            prose[p] += prose[i];
            weighed[p] += weighed[i];
            all[p] += all[i];
            links[p] += links[i];
            link_lines[p] += link_lines[i];
        }
    }
    let base = prose[top].max(1);
    let mut cur = top;
    let mut widened = None;
    for _ in 0..MAX_WIDEN_LEVELS {
        let Some(p) = doc.elems[cur].parent else {
            break;
        };
        if doc.elems[p].tag == Tag::Body || doc.elems[p].furniture {
            break;
        }
        let added_prose = prose[p] - prose[cur];
        let added_weighed = weighed[p] - weighed[cur];
        let added_link_lines = link_lines[p] - link_lines[cur];
        let teasers = added_link_lines >= MIN_TEASER_LINES
            && (added_prose as f64) < MIN_WIDEN_PROSE_PER_LINK_LINE * added_link_lines as f64;
        if teasers
            || (added_prose as f64) < MIN_WIDEN_PROSE_SHARE * added_weighed as f64
            || link_density(all[p], links[p]) > MAX_WIDEN_LINK_DENSITY
        {
            break;
        }
        cur = p;
        if prose[cur] as f64 >= WIDEN_GAIN * base as f64 {
            widened = Some(cur);
            break;
        }
    }
    let container = widened?;
    let script = page_script(doc, &under);
    let lines = doc
        .lines
        .iter()
        .enumerate()
        .filter(|&(i, l)| {
            let selected = || selection.lines.iter().any(|s| std::ptr::eq(*s, l));
            if doc.contains(container, l.owner) {
                // The wider region brings the metadata of its parts along (a poster's
                // name and time above each reply, a section's date): lines that say
                // almost nothing outside their links stay out unless they are headings
                // or were already chosen.
                let says_something = l.plain_info >= MIN_PROSE_INFO
                    || doc.elems[l.owner].tag == Tag::Heading
                    || selected();
                !skipped(i) && keep_line(doc, l, Some(container)) && says_something
            } else {
                selected()
            }
        })
        .map(|(_, l)| l)
        .collect();
    Some(without_leading_headline(
        doc,
        title_line(doc, title),
        trim_closing_calls(trim_foreign_edges(lines, script)),
    ))
}

/// The selected lines without the article's headline when they begin with it: the
/// headline is the extraction's `title`, and the text is the body under it (as the
/// outlet's own archive and every copy are compared body to body, a headline kept on
/// one side only would count as text that was not copied).
fn without_leading_headline<'a>(
    doc: &'a Doc,
    title_anchor: Option<usize>,
    mut lines: Vec<&'a Line>,
) -> Vec<&'a Line> {
    let Some(anchor) = title_anchor else {
        return lines;
    };
    if lines.len() > 1
        && lines
            .first()
            .is_some_and(|l| std::ptr::eq(*l, &doc.lines[anchor]))
    {
        lines.remove(0);
    }
    lines
}

/// Lines longer than this are not a call to action, whatever they begin with.
const MAX_CALL_CHARS: usize = 200;

/// How calls to action begin: the imperatives and set phrases with which sites close an
/// article to sell a subscription, an app or a social account ("Subscribe now to our
/// e-edition", "Follow us on Twitter", "Download our app", "For the latest news ...").
/// Matched at the start of a line, case-insensitively; only phrases that do not open an
/// article's own closing sentence ("Shares of ...", "Support for ...", "Read more about
/// the plan in ...") are listed; a "Read more" link is dropped as a link line anyway.
const CALL_OPENERS: [&str; 23] = [
    "subscribe",
    "sign up",
    "signup",
    // With the space: "Following the vote, ..." and "Follow-up care ..." stay.
    "follow ",
    "if you enjoyed",
    "if you liked",
    "download our",
    "download the",
    "click here",
    "tap here",
    "join our",
    "join us",
    "like us on",
    "share this",
    "share on",
    "for the latest",
    "for more news",
    "to view the full",
    "to read the full",
    "never miss",
    "don't miss",
    "don’t miss",
    "get our newsletter",
];

/// Whether a line reads as a call to action (see [`CALL_OPENERS`]).
fn is_call_to_action(line: &Line) -> bool {
    if line.chars > MAX_CALL_CHARS {
        return false;
    }
    let start = line
        .text
        .trim_start_matches(|c: char| !c.is_alphanumeric())
        .chars()
        .take(24)
        .flat_map(char::to_lowercase)
        .collect::<String>();
    CALL_OPENERS.iter().any(|o| start.starts_with(o))
}

/// The selected lines without the calls to action that close them: the subscription,
/// app and social-media pitches a site prints after every article are not the article.
/// Only a run at the very end goes, so a sentence inside the article that happens to
/// begin the same way stays.
fn trim_closing_calls(mut lines: Vec<&Line>) -> Vec<&Line> {
    while lines.len() > 1 && lines.last().is_some_and(|l| is_call_to_action(l)) {
        lines.pop();
    }
    lines
}

/// Letters a line needs before its script can say it is foreign to the page.
const MIN_FOREIGN_LETTERS: usize = 10;

/// The selected lines of a non-CJK page without the CJK blocks at either end: a consent
/// banner or a UI hint in Chinese sits before or after an English article inside its
/// column, and its dense ideographs would otherwise count as much text. Lines in CJK
/// within the article (a quoted passage, a bilingual paragraph) stay, and so do lines
/// with too few letters to tell (a date, a figure). CJK pages keep their Latin lines
/// wherever they are: code, English quotes and bylines with an e-mail address end
/// Chinese articles far more often than furniture does. When the edges hold most of the
/// text, the article is the one in the other script (the page's script was decided by
/// its furniture), and nothing is trimmed.
fn trim_foreign_edges(lines: Vec<&Line>, script: Script) -> Vec<&Line> {
    if script == Script::Cjk {
        return lines;
    }
    // Foreign: enough letters, under a fifth of their information in the page's script
    // (a CJK character weighs as a short word, see `info`).
    let foreign = |l: &Line| {
        let (mut letters, mut cjk) = (0usize, 0usize);
        for c in l.text.chars().filter(|c| c.is_alphabetic()) {
            letters += 1;
            cjk += usize::from(is_cjk(c));
        }
        let (cjk_info, other_info) = (2.5 * cjk as f64, (letters - cjk) as f64);
        letters >= MIN_FOREIGN_LETTERS && other_info * 5.0 < cjk_info + other_info
    };
    let end = lines
        .iter()
        .rposition(|l| !foreign(l))
        .map_or(0, |last| last + 1);
    let start = lines[..end].iter().position(|l| !foreign(l)).unwrap_or(end);
    let kept: usize = lines[start..end].iter().map(|l| l.chars).sum();
    let all: usize = lines.iter().map(|l| l.chars).sum();
    if kept * 2 < all {
        return lines;
    }
    lines[start..end].to_vec()
}

/// Lines of at least this much information, ending like a sentence, read as a lead
/// paragraph rather than a byline, a date or a caption.
const MIN_LEAD_INFO: f64 = 60.0;

/// Whether a line between the headline and the body reads as the article's lead.
fn is_lead_line(line: &Line, under: &[bool]) -> bool {
    is_prose_line(line, under)
        && line.link_chars == 0
        && info(line) >= MIN_LEAD_INFO
        && line
            .text
            .trim_end()
            .ends_with(['.', '。', '！', '？', '!', '?', '”', '"', '」'])
}

/// A lone `<p>` sibling of the container joins if it reads like prose.
fn sibling_paragraph_ok(doc: &Doc, sib: usize, ld: f64) -> bool {
    let text: String = doc
        .lines
        .iter()
        .filter(|l| doc.contains(sib, l.owner))
        .map(|l| l.text.as_str())
        .collect();
    let inf = text.chars().filter(|&c| is_cjk(c)).count() as f64 * 2.5 + text.len() as f64 * 0.3;
    (inf > 80.0 && ld < 0.25)
        || (ld == 0.0 && text.trim_end().ends_with(['.', '。', '！', '？', '!', '?']))
}

/// Drops lines that sit under boilerplate-named elements inside the container, and lines
/// that are mostly links (lists of related stories, tag clouds, "read more").
fn keep_line(doc: &Doc, line: &Line, container: Option<usize>) -> bool {
    let ld = link_density(line.chars, line.link_chars);
    if ld > 0.5 {
        return false;
    }
    let mut cur = Some(line.owner);
    let mut steps = 0;
    while let Some(i) = cur {
        if Some(i) == container || steps > MAX_HINT_WALK {
            break;
        }
        if doc.elems[i].furniture {
            return false;
        }
        cur = doc.elems[i].parent;
        steps += 1;
    }
    true
}

/// Normalises text for title comparison: no whitespace, lower case.
fn squash(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The element of the line that repeats the page title, if any.
pub fn title_owner(doc: &Doc, title: &str) -> Option<usize> {
    title_line(doc, title).map(|i| doc.lines[i].owner)
}

/// The first line that repeats the page title, preferring headings.
fn title_line(doc: &Doc, title: &str) -> Option<usize> {
    let t = squash(title);
    let tn = t.chars().count();
    if tn < 4 {
        return None;
    }
    let matches = |line: &Line| {
        let l = squash(&line.text);
        let ln = l.chars().count();
        l == t || (ln * 10 >= tn * 8 && ln <= tn * 2 && (l.contains(&t) || t.contains(&l)))
    };
    let heading = doc
        .lines
        .iter()
        .position(|l| doc.elems[l.owner].tag == Tag::Heading && matches(l));
    heading.or_else(|| doc.lines.iter().position(matches))
}

/// First and last line index under each element (`usize::MAX`/0 when it has none),
/// accumulated bottom-up over the pre-order indices.
fn line_spans(doc: &Doc) -> (Vec<usize>, Vec<usize>) {
    let n = doc.elems.len();
    let mut first = vec![usize::MAX; n];
    let mut last = vec![0usize; n];
    for (i, line) in doc.lines.iter().enumerate() {
        first[line.owner] = first[line.owner].min(i);
        last[line.owner] = last[line.owner].max(i);
    }
    for i in (0..n).rev() {
        if let Some(p) = doc.elems[i].parent {
            first[p] = first[p].min(first[i]);
            last[p] = last[p].max(last[i]);
        }
    }
    (first, last)
}

/// Whether a heading line lies after line `after` and no later than line `upto`; the
/// competing story's own heading is often the first line of its container.
fn heading_between(doc: &Doc, after: usize, upto: usize) -> bool {
    doc.lines.get(after + 1..=upto).is_some_and(|ls| {
        ls.iter()
            .any(|l| doc.elems[l.owner].tag == Tag::Heading && l.chars >= 4)
    })
}

/// Levels above the winner at which a record of a repeated structure is looked for.
const MAX_RECORD_LEVELS: usize = 14;

/// Records of one structure a thread needs before its records are taken as the content.
const MIN_RECORDS: usize = 3;

/// Steps between a record and its content part that are followed; deeper paths are not a
/// record's layout.
const MAX_RECORD_PATH: usize = 16;

/// Records examined under one parent.
const MAX_RECORDS: usize = 1000;

/// The shape of an element for matching records: its tag and its class/id words without
/// the parts that hold a digit, which number or hash one instance (`post_1012` and
/// `post_1013`, page builders' `elementor-element-0161dc5` and `-6499e95`, org-mode's
/// `outline-container-orgea1d19b`, are each the same kind of element).
fn shape(doc: &Doc, i: usize) -> (Tag, String) {
    let e = &doc.elems[i];
    let mut names = String::with_capacity(e.names.len());
    for word in e.names.split_whitespace() {
        for part in word.split(['-', '_']) {
            if !part.is_empty() && !part.bytes().any(|b| b.is_ascii_digit()) {
                names.push_str(part);
                names.push('-');
            }
        }
        names.push(' ');
    }
    (e.tag, names)
}

/// When the winner `top` is the content part of one record among several of the same
/// shape (the posts of a forum thread, the answers of a Q&A page, the entries of a
/// comment list), the same part of every record, in document order.
///
/// A record is an ancestor of `top` (or `top` itself) whose parent holds more than
/// [`MIN_RECORDS`] children of its shape and is not under a furniture name (a comment
/// list below an article is not the article); the content part of another record is reached by
/// the same path of shapes that leads from `top`'s record to `top`. The structure counts
/// only when at least [`MIN_RECORDS`] of those parts read as prose of their own, so that
/// a main column repeating its sidebar's box classes does not pull in the sidebar's link
/// lists; parts that are mostly links or carry furniture names stay out.
fn repeated_records(
    doc: &Doc,
    top: usize,
    chars: &[usize],
    links: &[usize],
    under: &[bool],
) -> Option<Vec<usize>> {
    if doc.elems[top].furniture {
        return None;
    }
    // The path from a candidate record down to `top`: per step, the child's shape and its
    // rank among its parent's children of that shape.
    let mut path: Vec<((Tag, String), usize)> = Vec::new();
    let mut record = top;
    for _ in 0..MAX_RECORD_LEVELS {
        let parent = doc.elems[record].parent?;
        if doc.elems[parent].tag == Tag::Body || path.len() > MAX_RECORD_PATH {
            return None;
        }
        let record_shape = shape(doc, record);
        let siblings: Vec<usize> = doc.elems[parent]
            .children
            .iter()
            .copied()
            .filter(|&c| shape(doc, c) == record_shape)
            .take(MAX_RECORDS)
            .collect();
        if siblings.len() > MIN_RECORDS && !under[parent] {
            let parts: Vec<usize> = siblings
                .iter()
                .filter_map(|&r| follow(doc, r, &path))
                .filter(|&c| !doc.elems[c].furniture && link_density(chars[c], links[c]) < 0.3)
                .collect();
            let prose = parts
                .iter()
                .filter(|&&c| {
                    doc.lines
                        .iter()
                        .filter(|l| doc.contains(c, l.owner))
                        .map(|l| l.plain_info)
                        .sum::<f64>()
                        >= MIN_VOTING_INFO
                })
                .count();
            if prose >= MIN_RECORDS && parts.contains(&top) {
                // Records that each carry a heading linking to another page are teasers
                // of other articles ("more stories"), not posts of one thread: a post's
                // own heading, if any, links to the post itself.
                let teasers = siblings
                    .iter()
                    .filter(|&&r| has_linked_heading(doc, r))
                    .count();
                if teasers * 2 >= siblings.len() {
                    return None;
                }
                return Some(parts);
            }
        }
        let rank = doc.elems[parent]
            .children
            .iter()
            .filter(|&&c| shape(doc, c) == record_shape)
            .position(|&c| c == record)?;
        path.push((record_shape, rank));
        record = parent;
    }
    None
}

/// The element reached from `record` by `path` (as built by [`repeated_records`]: the
/// last step is the one nearest the record).
fn follow(doc: &Doc, record: usize, path: &[((Tag, String), usize)]) -> Option<usize> {
    let mut cur = record;
    for (step_shape, rank) in path.iter().rev() {
        cur = doc.elems[cur]
            .children
            .iter()
            .copied()
            .filter(|&c| shape(doc, c) == *step_shape)
            .nth(*rank)?;
    }
    Some(cur)
}

/// Whether `record` holds a heading whose text is mostly a link to another page.
fn has_linked_heading(doc: &Doc, record: usize) -> bool {
    let end = doc.elems[record].end;
    (record..end).any(|h| {
        doc.elems[h].tag == Tag::Heading
            && (h..doc.elems[h].end).any(|a| doc.elems[a].page_link)
            && doc
                .lines
                .iter()
                .filter(|l| doc.contains(h, l.owner))
                .any(|l| link_density(l.chars, l.link_chars) >= 0.5)
    })
}
