//! Detection quality on real data: recall per copy transformation and the false-positive
//! rate, next to the baselines that off-the-shelf SimHash gives.
//!
//! Originals are real articles: the human-checked texts of `news-pages/pages.jsonl` and
//! pseudo-articles of consecutive People's Daily paragraphs. Copies are built the ways
//! infringers and mirror sites make them (see [`Transformation`]); negatives are other
//! articles of the same language, an article that quotes one sentence of the original,
//! and People's Daily text. Three more groups test the verdict's edges: long originals
//! (over [`LONG_ORIGINAL_CHARS`]) of which only 10%, 20% or 30% is copied into another
//! article, which the absolute-length rule must find; short originals (under
//! [`SHORT_ORIGINAL_CHARS`]) quoted one sentence in an unrelated article, which must stay
//! unrelated, and reposted whole, which must be found; and originals taken from the
//! extraction of their noisy page rather than the human-checked text, copied by their
//! true text (that row measures what extraction costs detection; it holds no target).
//! Every candidate goes through the same path as in production:
//! extraction where the copy is a page, then candidate retrieval (a segment SimHash within
//! Hamming distance [`RETRIEVAL_HAMMING`] of one of the original's, or a shared winnowed
//! anchor), then verification.
//!
//! The generators are deterministic (a fixed-seed PRNG), so two runs print the same table.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::detect::{self, DetectParams, Document, Verdict};
use crate::eval::{load_pages, EvalError};

/// The Hamming radius of candidate retrieval; the archive index uses the same default.
pub const RETRIEVAL_HAMMING: u32 = 3;

/// Originals shorter than this (in characters) are not used: an article of a line or two
/// cannot be excerpted at 30–40% into anything a reviewer would call a copy.
const MIN_ORIGINAL_CHARS: usize = 300;

/// How many People's Daily pseudo-articles serve as originals, and how many as negatives.
const PEOPLES_DAILY_ORIGINALS: usize = 40;
const PEOPLES_DAILY_NEGATIVES: usize = 200;

/// Originals at least this long (in characters) are "long": excerpts of 10–30% of them are
/// several hundred characters, a copy however small a share of the article it is.
pub const LONG_ORIGINAL_CHARS: usize = 3000;

/// Originals shorter than this (in characters) are "short": one sentence of them is a
/// large share of the article, and quoting it must still not make a match.
pub const SHORT_ORIGINAL_CHARS: usize = 300;

/// How many long People's Daily pseudo-articles join the long news pages, and where in
/// the corpus (paragraph index) they and the short originals are taken from: past the
/// paragraphs the other originals and negatives use.
const PEOPLES_DAILY_LONG: usize = 75;
const PEOPLES_DAILY_LONG_FROM: usize = 8000;
const PEOPLES_DAILY_SHORT: usize = 100;
const PEOPLES_DAILY_SHORT_FROM: usize = 12000;

/// The shares of a long original copied by the long-excerpt rows.
const LONG_EXCERPT_SHARES: [(f64, &str); 3] = [
    (0.10, "long: 10% excerpt"),
    (0.20, "long: 20% excerpt"),
    (0.30, "long: 30% excerpt"),
];

/// The recall every row with a target must reach (the target for every
/// transformation, excerpts of long articles included).
pub const RECALL_TARGET: f64 = 0.99;

/// Each original is compared with this many other articles of its language as negatives.
const OTHER_ARTICLES_PER_ORIGINAL: usize = 6;

/// The ways a copy is made from an original.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transformation {
    /// The whole text pasted into a content farm's page template (nav, sidebar, footer).
    Retemplated,
    /// A contiguous 30–40% of the text, between unrelated paragraphs.
    Excerpt,
    /// Paragraphs (or sentences of a one-paragraph article) shuffled.
    Reordered,
    /// Advertisements inserted between paragraphs and around the article.
    AdsInserted,
    /// About 3% of the characters substituted and 1% deleted.
    LightEdits,
    /// Converted to traditional characters.
    Traditional,
    /// Traditional characters with inline tone-marked pinyin, mojibake and tag debris.
    TraditionalPinyinMojibake,
}

impl Transformation {
    pub const ALL: [Transformation; 7] = [
        Transformation::Retemplated,
        Transformation::Excerpt,
        Transformation::Reordered,
        Transformation::AdsInserted,
        Transformation::LightEdits,
        Transformation::Traditional,
        Transformation::TraditionalPinyinMojibake,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Transformation::Retemplated => "re-templated",
            Transformation::Excerpt => "excerpt 30-40%",
            Transformation::Reordered => "reordered",
            Transformation::AdsInserted => "ads inserted",
            Transformation::LightEdits => "light edits",
            Transformation::Traditional => "traditional",
            Transformation::TraditionalPinyinMojibake => "trad+pinyin+mojibake",
        }
    }
}

/// Recall of one transformation.
#[derive(Debug, Clone, Default)]
pub struct RecallRow {
    pub name: &'static str,
    pub copies: usize,
    /// Retrieved and verified as `copy` or `partial`.
    pub found: usize,
    /// Retrieved by the segment index or an anchor (whatever the verdict).
    pub retrieved: usize,
    /// Retrieved by the segment SimHash index alone (no anchors).
    pub retrieved_by_segments: usize,
    /// Verified as `copy` or `partial` (whatever the retrieval).
    pub verified: usize,
    /// Found by whole-text SimHash over whitespace tokens within the same radius.
    pub baseline_whitespace: usize,
    /// Found by our CJK-aware whole-text SimHash within the same radius.
    pub baseline_whole_text: usize,
    /// The recall this row must reach (`None`: the row measures, it holds no target).
    pub target: Option<f64>,
}

/// False positives of one kind of negative.
#[derive(Debug, Clone, Default)]
pub struct NegativeRow {
    pub name: &'static str,
    pub pairs: usize,
    /// Pairs retrieved by the index *and* verified as `copy` or `partial`.
    pub false_positives: usize,
    /// Pairs the verification alone would have flagged.
    pub verified: usize,
}

/// The evaluation's result.
#[derive(Debug, Clone)]
pub struct DetectionReport {
    pub originals: usize,
    /// Originals of the long-excerpt rows (over [`LONG_ORIGINAL_CHARS`]).
    pub long_originals: usize,
    /// Originals of the short-original rows (under [`SHORT_ORIGINAL_CHARS`]).
    pub short_originals: usize,
    pub recall: Vec<RecallRow>,
    pub negatives: Vec<NegativeRow>,
    pub elapsed: Duration,
    /// Copies that were missed, and negatives that were flagged.
    pub misses: Vec<Miss>,
}

/// A copy that was missed or a negative that was flagged, with the figures the verdict
/// was drawn from.
#[derive(Debug, Clone)]
pub struct Miss {
    /// The row's name.
    pub row: String,
    pub original_id: String,
    pub verdict: Verdict,
    pub retrieved: bool,
    pub containment: f64,
    pub coverage: f64,
    pub copied_chars: usize,
}

impl DetectionReport {
    /// The lowest recall over the rows that hold a target.
    pub fn min_recall(&self) -> f64 {
        self.recall
            .iter()
            .filter(|r| r.target.is_some())
            .map(|r| ratio(r.found, r.copies))
            .fold(1.0, f64::min)
    }

    /// The rows whose recall is below their target.
    pub fn failing_rows(&self) -> Vec<&RecallRow> {
        self.recall
            .iter()
            .filter(|r| r.target.is_some_and(|t| ratio(r.found, r.copies) < t))
            .collect()
    }

    /// The recall row named `name`, if any.
    pub fn recall_row(&self, name: &str) -> Option<&RecallRow> {
        self.recall.iter().find(|r| r.name == name)
    }

    /// The negative row named `name`, if any.
    pub fn negative_row(&self, name: &str) -> Option<&NegativeRow> {
        self.negatives.iter().find(|r| r.name == name)
    }

    pub fn total_false_positives(&self) -> usize {
        self.negatives.iter().map(|n| n.false_positives).sum()
    }

    pub fn render_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "detection quality: {} originals ({} long, {} short for the edge rows), retrieval radius {} bits, {:.1} s",
            self.originals,
            self.long_originals,
            self.short_originals,
            RETRIEVAL_HAMMING,
            self.elapsed.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "{:<26} {:>6} {:>8} {:>10} {:>9} {:>9} {:>11} {:>11} {:>7}",
            "transformation",
            "copies",
            "recall",
            "retrieved",
            "seg-only",
            "verified",
            "ws-simhash",
            "cjk-simhash",
            "target"
        );
        for r in &self.recall {
            let target = r
                .target
                .map_or_else(|| "-".to_string(), |t| format!("{t:.2}"));
            let _ = writeln!(
                out,
                "{:<26} {:>6} {:>8.3} {:>10.3} {:>9.3} {:>9.3} {:>11.3} {:>11.3} {:>7}",
                r.name,
                r.copies,
                ratio(r.found, r.copies),
                ratio(r.retrieved, r.copies),
                ratio(r.retrieved_by_segments, r.copies),
                ratio(r.verified, r.copies),
                ratio(r.baseline_whitespace, r.copies),
                ratio(r.baseline_whole_text, r.copies),
                target
            );
        }
        let _ = writeln!(
            out,
            "{:<26} {:>6} {:>8} {:>10}",
            "negative", "pairs", "false+", "verified+"
        );
        for n in &self.negatives {
            let _ = writeln!(
                out,
                "{:<26} {:>6} {:>8} {:>10}",
                n.name, n.pairs, n.false_positives, n.verified
            );
        }
        let pairs: usize = self.negatives.iter().map(|n| n.pairs).sum();
        let _ = writeln!(
            out,
            "min recall {:.3}; false-positive rate {:.4} ({} of {} negative pairs)",
            self.min_recall(),
            ratio(self.total_false_positives(), pairs),
            self.total_false_positives(),
            pairs
        );
        for m in self.misses.iter().take(20) {
            let _ = writeln!(
                out,
                "  {}: {} of {}: {:?}{}, containment {:.3}, coverage {:.3}, {} chars copied",
                if m.verdict == Verdict::Unrelated || !m.retrieved {
                    "missed"
                } else {
                    "flagged"
                },
                m.row,
                m.original_id,
                m.verdict,
                if m.retrieved { "" } else { " (not retrieved)" },
                m.containment,
                m.coverage,
                m.copied_chars
            );
        }
        if self.misses.len() > 20 {
            let _ = writeln!(out, "  ... and {} more", self.misses.len() - 20);
        }
        out
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// An original article of the evaluation.
struct Original {
    id: String,
    cjk: bool,
    doc: Document,
}

impl Original {
    /// The article this original was made from: a news page's lead (`<id>-lead`) is cut
    /// from that page, so the page is no unrelated article for it.
    fn source(&self) -> &str {
        self.id.strip_suffix("-lead").unwrap_or(&self.id)
    }
}

/// Runs the whole evaluation on `data_dir` (the shared data folder).
///
/// # Errors
/// [`EvalError`] naming the data file that could not be read or parsed.
pub fn evaluate_detection(
    data_dir: &Path,
    params: &DetectParams,
) -> Result<DetectionReport, EvalError> {
    let started = Instant::now();
    let pages = load_pages(data_dir)?;
    let paragraphs = load_peoples_daily(data_dir)?;
    let daily = peoples_daily_articles(&paragraphs);
    let mut originals: Vec<Original> = pages
        .iter()
        .filter(|p| p.text.chars().count() >= MIN_ORIGINAL_CHARS)
        .map(|p| Original {
            id: p.id.clone(),
            cjk: is_cjk_language(&p.lang),
            doc: document_from_text(&p.text),
        })
        .collect();
    let (daily_originals, daily_negatives) =
        daily.split_at(PEOPLES_DAILY_ORIGINALS.min(daily.len()));
    originals.extend(
        daily_originals
            .iter()
            .enumerate()
            .map(|(i, text)| Original {
                id: format!("peoples-daily-{i}"),
                cjk: true,
                doc: document_from_text(text),
            }),
    );
    let negatives_daily: Vec<Document> = daily_negatives
        .iter()
        .take(PEOPLES_DAILY_NEGATIVES)
        .map(|t| document_from_text(t))
        .collect();

    let s2t = SimplifiedToTraditional::new();
    let mut rng = Rng::new(0x5eed_c0de);
    let mut recall: Vec<RecallRow> = Transformation::ALL
        .iter()
        .map(|t| RecallRow {
            name: t.name(),
            target: Some(RECALL_TARGET),
            ..RecallRow::default()
        })
        .collect();
    let mut misses = Vec::new();
    let filler: Vec<&str> = daily_negatives.iter().map(String::as_str).collect();

    for (oi, original) in originals.iter().enumerate() {
        for (ti, &t) in Transformation::ALL.iter().enumerate() {
            let other = &originals[(oi + 1 + ti) % originals.len()];
            let candidate = make_copy(t, original, other, &filler, &s2t, &mut rng);
            record_copy(&mut recall[ti], &mut misses, original, &candidate, params);
        }
    }

    let mut other_articles = NegativeRow {
        name: "other articles",
        ..NegativeRow::default()
    };
    let mut quotes = NegativeRow {
        name: "quotes one sentence",
        ..NegativeRow::default()
    };
    let mut daily_row = NegativeRow {
        name: "people's daily",
        ..NegativeRow::default()
    };
    for (oi, original) in originals.iter().enumerate() {
        let peers = peers_of(&originals, original);
        for k in 0..OTHER_ARTICLES_PER_ORIGINAL.min(peers.len()) {
            let other = peers[(oi * 7 + k * 13) % peers.len()];
            count_negative(
                &mut other_articles,
                &mut misses,
                original,
                &other.doc,
                params,
            );
        }
        if let Some(host) = peers.get(oi % peers.len().max(1)) {
            if let Some(quoting) = quote_one_sentence(original, host, 20, &mut rng) {
                count_negative(&mut quotes, &mut misses, original, &quoting, params);
            }
        }
        if original.cjk {
            for k in 0..5 {
                if negatives_daily.is_empty() {
                    break;
                }
                let other = &negatives_daily[(oi * 5 + k) % negatives_daily.len()];
                count_negative(&mut daily_row, &mut misses, original, other, params);
            }
        }
    }
    let mut negatives = vec![other_articles, quotes, daily_row];

    // The verdict's edges, with a PRNG of their own so that the rows above stay as they
    // were before these were added.
    let mut edge_rng = Rng::new(0x0ed9_e5ee_d5a1_7e11);

    // Long originals: a middle excerpt of 10%, 20% or 30% inside another article.
    let long = long_originals(&pages, &paragraphs);
    let mut long_rows: Vec<RecallRow> = LONG_EXCERPT_SHARES
        .iter()
        .map(|&(_, name)| RecallRow {
            name,
            target: Some(RECALL_TARGET),
            ..RecallRow::default()
        })
        .collect();
    let mut long_other = NegativeRow {
        name: "long: other articles",
        ..NegativeRow::default()
    };
    for (li, original) in long.iter().enumerate() {
        let hosts = peers_of(&originals, original);
        if hosts.is_empty() {
            continue;
        }
        for (k, &(share, _)) in LONG_EXCERPT_SHARES.iter().enumerate() {
            let host = hosts[(li * 3 + k) % hosts.len()];
            let excerpt = middle_excerpt(&original.doc.text, share);
            let candidate = document_from_text(&embed(&host.doc.text, &excerpt));
            record_copy(&mut long_rows[k], &mut misses, original, &candidate, params);
        }
        // Long articles of the same language are where many shared stock phrases could
        // add up to the absolute length.
        let long_peers = peers_of(&long, original);
        for k in 0..3.min(long_peers.len()) {
            let other = long_peers[(li * 7 + k * 11) % long_peers.len()];
            count_negative(&mut long_other, &mut misses, original, &other.doc, params);
        }
        for k in 0..3 {
            let other = hosts[(li * 5 + k * 3) % hosts.len()];
            count_negative(&mut long_other, &mut misses, original, &other.doc, params);
        }
    }
    recall.extend(long_rows);

    // Short originals: one sentence quoted in an unrelated article, and the whole of it
    // reposted in a content farm's template.
    let short = short_originals(&pages, &paragraphs);
    let mut short_repost = RecallRow {
        name: "short: reposted whole",
        target: Some(RECALL_TARGET),
        ..RecallRow::default()
    };
    let mut short_quotes = NegativeRow {
        name: "short: quotes one sentence",
        ..NegativeRow::default()
    };
    let mut short_other = NegativeRow {
        name: "short: other articles",
        ..NegativeRow::default()
    };
    for (si, original) in short.iter().enumerate() {
        let hosts = peers_of(&originals, original);
        if hosts.is_empty() {
            continue;
        }
        let host = hosts[(si * 3) % hosts.len()];
        let html = content_farm_page(&original.doc.title, &original.doc.text, &host.doc.text);
        let extracted = crate::extract::extract(html.as_bytes(), Some("text/html; charset=utf-8"));
        let repost = Document::new(extracted.title, extracted.text);
        record_copy(&mut short_repost, &mut misses, original, &repost, params);
        if let Some(quoting) = quote_one_sentence(original, host, 100, &mut edge_rng) {
            count_negative(&mut short_quotes, &mut misses, original, &quoting, params);
        }
        for k in 1..=2 {
            let other = hosts[(si * 3 + k * 7) % hosts.len()];
            count_negative(&mut short_other, &mut misses, original, &other.doc, params);
        }
        // People's Daily of the same month: the same names, titles and formulae, which
        // are a large share of a brief.
        if original.cjk && !negatives_daily.is_empty() {
            for k in 0..3 {
                let other = &negatives_daily[(si * 3 + k) % negatives_daily.len()];
                count_negative(&mut short_other, &mut misses, original, other, params);
            }
        }
    }
    recall.push(short_repost);

    // Originals as the extractor reads them from their own (noisy) page, copied by their
    // true text: what extraction failures on the outlet's site cost detection.
    let mut noisy = RecallRow {
        name: "noisy-page original",
        target: None,
        ..RecallRow::default()
    };
    for page in pages
        .iter()
        .filter(|p| p.text.chars().count() >= MIN_ORIGINAL_CHARS)
    {
        let path = data_dir.join("news-pages").join(&page.html);
        let html = std::fs::read(&path).map_err(|source| EvalError::Read { path, source })?;
        let extracted = crate::extract::extract(&html, None);
        let cjk = is_cjk_language(&page.lang);
        let original = Original {
            id: page.id.clone(),
            cjk,
            doc: Document::new(extracted.title, extracted.text),
        };
        let copy = if cjk {
            format!(
                "首页 > 新闻 > 正文\n{}\n本文来源于网络，如有侵权请联系删除。",
                page.text
            )
        } else {
            format!(
                "Home > News\n{}\nThis story was shared from the web.",
                page.text
            )
        };
        record_copy(
            &mut noisy,
            &mut misses,
            &original,
            &document_from_text(&copy),
            params,
        );
    }
    recall.push(noisy);
    negatives.extend([long_other, short_quotes, short_other]);

    Ok(DetectionReport {
        originals: originals.len(),
        long_originals: long.len(),
        short_originals: short.len(),
        recall,
        negatives,
        elapsed: started.elapsed(),
        misses,
    })
}

fn is_cjk_language(lang: &str) -> bool {
    matches!(lang, "zh" | "ja" | "ko")
}

/// The originals of `all` in the language of `original`, other than itself and than the
/// article it was cut from.
fn peers_of<'a>(all: &'a [Original], original: &Original) -> Vec<&'a Original> {
    all.iter()
        .filter(|o| o.cjk == original.cjk && o.source() != original.source())
        .collect()
}

struct Outcome {
    retrieved: bool,
    flagged: bool,
    verdict: Verdict,
    containment: f64,
    coverage: f64,
    copied_chars: usize,
}

impl Outcome {
    fn miss(&self, row: &str, original: &Original) -> Miss {
        Miss {
            row: row.to_string(),
            original_id: original.id.clone(),
            verdict: self.verdict,
            retrieved: self.retrieved,
            containment: self.containment,
            coverage: self.coverage,
            copied_chars: self.copied_chars,
        }
    }
}

/// What production does with a candidate: look it up by segment SimHash, then verify.
fn judge(original: &Document, candidate: &Document, params: &DetectParams) -> Outcome {
    let retrieved = retrieved_by_index(original, candidate);
    let comparison = detect::compare(original, candidate, params);
    Outcome {
        retrieved,
        flagged: comparison.verdict != Verdict::Unrelated,
        verdict: comparison.verdict,
        containment: comparison.containment,
        coverage: comparison.coverage,
        copied_chars: comparison.copied_chars,
    }
}

/// Judges one copy of `original` and counts it in `row` (and in `misses` when missed).
fn record_copy(
    row: &mut RecallRow,
    misses: &mut Vec<Miss>,
    original: &Original,
    candidate: &Document,
    params: &DetectParams,
) {
    let outcome = judge(&original.doc, candidate, params);
    row.copies += 1;
    row.retrieved += usize::from(outcome.retrieved);
    row.retrieved_by_segments += usize::from(retrieved_by_segments(&original.doc, candidate));
    row.verified += usize::from(outcome.flagged);
    row.found += usize::from(outcome.retrieved && outcome.flagged);
    row.baseline_whitespace += usize::from(
        hamming(
            whitespace_simhash(&original.doc.text),
            whitespace_simhash(&candidate.text),
        ) <= RETRIEVAL_HAMMING,
    );
    row.baseline_whole_text += usize::from(
        hamming(original.doc.fingerprint.whole, candidate.fingerprint.whole) <= RETRIEVAL_HAMMING,
    );
    if !(outcome.retrieved && outcome.flagged) {
        misses.push(outcome.miss(row.name, original));
    }
}

/// Judges one negative pair and counts it in `row` (and in `misses` when flagged).
fn count_negative(
    row: &mut NegativeRow,
    misses: &mut Vec<Miss>,
    original: &Original,
    other: &Document,
    p: &DetectParams,
) {
    let outcome = judge(&original.doc, other, p);
    row.pairs += 1;
    row.verified += usize::from(outcome.flagged);
    row.false_positives += usize::from(outcome.flagged && outcome.retrieved);
    if outcome.flagged && outcome.retrieved {
        misses.push(outcome.miss(row.name, original));
    }
}

/// True when the archive's lookup would return the original for this candidate: the
/// whole text or a segment within the retrieval radius (the Hamming index), or a shared
/// anchor (the anchor index).
fn retrieved_by_index(original: &Document, candidate: &Document) -> bool {
    retrieved_by_segments(original, candidate)
        || crate::fingerprint::shared_anchors(
            &original.fingerprint.anchors,
            &candidate.fingerprint.anchors,
        ) > 0
}

/// The Hamming index's part of the lookup: the whole text or a segment within the radius.
fn retrieved_by_segments(original: &Document, candidate: &Document) -> bool {
    let (o, c) = (&original.fingerprint, &candidate.fingerprint);
    hamming(o.whole, c.whole) <= RETRIEVAL_HAMMING
        || o.segments.iter().any(|os| {
            c.segments
                .iter()
                .any(|cs| hamming(os.simhash, cs.simhash) <= RETRIEVAL_HAMMING)
        })
}

fn hamming(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

/// What off-the-shelf SimHash libraries do: one feature per whitespace-separated token.
fn whitespace_simhash(text: &str) -> u64 {
    let features: Vec<u64> = text
        .split_whitespace()
        .map(|w| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            w.hash(&mut h);
            h.finish()
        })
        .collect();
    crate::fingerprint::simhash(&features)
}

fn document_from_text(text: &str) -> Document {
    let title = text.lines().next().unwrap_or_default().to_string();
    Document::new(title, text.to_string())
}

/// The paragraphs of People's Daily (at least 20 characters each, trimmed).
fn load_peoples_daily(data_dir: &Path) -> Result<Vec<String>, EvalError> {
    let path = data_dir.join("peoples-daily-1998-01.txt");
    let text = std::fs::read_to_string(&path).map_err(|source| EvalError::Read {
        path: path.clone(),
        source,
    })?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| l.chars().count() >= 20)
        .map(str::to_string)
        .collect())
}

/// People's Daily paragraphs grouped into pseudo-articles of six consecutive paragraphs.
fn peoples_daily_articles(paragraphs: &[String]) -> Vec<String> {
    paragraphs
        .chunks(6)
        .map(|c| c.join("\n"))
        .filter(|a| a.chars().count() >= MIN_ORIGINAL_CHARS)
        .collect()
}

/// The long originals: news pages over [`LONG_ORIGINAL_CHARS`], and People's Daily
/// pseudo-articles of consecutive paragraphs just past that length (the hardest case
/// for an absolute length: 10% of them is barely 300 characters).
fn long_originals(pages: &[crate::eval::Page], paragraphs: &[String]) -> Vec<Original> {
    let mut out: Vec<Original> = pages
        .iter()
        .filter(|p| p.text.chars().count() > LONG_ORIGINAL_CHARS)
        .map(|p| Original {
            id: p.id.clone(),
            cjk: is_cjk_language(&p.lang),
            doc: document_from_text(&p.text),
        })
        .collect();
    let mut article: Vec<&str> = Vec::new();
    let mut chars = 0usize;
    let mut made = 0usize;
    for p in paragraphs.iter().skip(PEOPLES_DAILY_LONG_FROM) {
        if made == PEOPLES_DAILY_LONG {
            break;
        }
        article.push(p);
        chars += p.chars().count() + 1;
        if chars > LONG_ORIGINAL_CHARS {
            out.push(Original {
                id: format!("peoples-daily-long-{made}"),
                cjk: true,
                doc: document_from_text(&article.join("\n")),
            });
            made += 1;
            article.clear();
            chars = 0;
        }
    }
    out
}

/// The short originals: People's Daily paragraphs under [`SHORT_ORIGINAL_CHARS`] of at
/// least two sentences (a news brief), and the leads of the news pages (their first
/// sentences, title included, while under that length).
fn short_originals(pages: &[crate::eval::Page], paragraphs: &[String]) -> Vec<Original> {
    let mut out: Vec<Original> = Vec::new();
    let brief = |text: &str| {
        let n = text.chars().count();
        (80..SHORT_ORIGINAL_CHARS).contains(&n) && split_units(text).len() >= 2
    };
    for (i, p) in paragraphs
        .iter()
        .skip(PEOPLES_DAILY_SHORT_FROM)
        .filter(|p| brief(p))
        .take(PEOPLES_DAILY_SHORT)
        .enumerate()
    {
        out.push(Original {
            id: format!("peoples-daily-short-{i}"),
            cjk: true,
            doc: Document::new(p.chars().take(20).collect(), p.clone()),
        });
    }
    for page in pages {
        let mut lead = String::new();
        for unit in split_units(&page.text) {
            if lead.chars().count() + unit.chars().count() >= SHORT_ORIGINAL_CHARS {
                break;
            }
            lead.push_str(unit);
        }
        let lead = lead.trim();
        if brief(lead) {
            out.push(Original {
                id: format!("{}-lead", page.id),
                cjk: is_cjk_language(&page.lang),
                doc: document_from_text(lead),
            });
        }
    }
    out
}

/// A contiguous `share` of `text` from its middle, as a copier takes an excerpt: from the
/// first sentence that starts after the point that centres it, `share` of the
/// characters (rounded up), the last sentence cut where the length runs out.
fn middle_excerpt(text: &str, share: f64) -> String {
    let chars: Vec<char> = text.chars().collect();
    let len = ((share * chars.len() as f64).ceil() as usize).min(chars.len());
    let latest = chars.len() - len;
    let centred = latest / 2;
    let ends = |i: usize| {
        matches!(chars[i], '。' | '！' | '？' | '!' | '?' | '\n')
            || (chars[i] == '.' && chars.get(i + 1).is_some_and(|c| c.is_whitespace()))
    };
    let start = (centred..latest)
        .find(|&i| ends(i))
        .map(|i| {
            let mut j = i + 1;
            while j < latest && chars[j].is_whitespace() {
                j += 1;
            }
            j
        })
        .unwrap_or(centred)
        .min(latest);
    chars[start..start + len].iter().collect()
}

/// `excerpt` inserted as its own paragraphs in the middle of `host`.
fn embed(host: &str, excerpt: &str) -> String {
    let mut lines: Vec<&str> = host.lines().collect();
    let at = lines.len() / 2;
    lines.insert(at, excerpt.trim());
    lines.join("\n")
}

/// Builds one copy of `original` by transformation `t`. `other` lends its text where a
/// template needs unrelated content, `filler` provides unrelated paragraphs.
fn make_copy(
    t: Transformation,
    original: &Original,
    other: &Original,
    filler: &[&str],
    s2t: &SimplifiedToTraditional,
    rng: &mut Rng,
) -> Document {
    let text = &original.doc.text;
    match t {
        Transformation::Retemplated => {
            let html = content_farm_page(&original.doc.title, text, &other.doc.text);
            let extracted =
                crate::extract::extract(html.as_bytes(), Some("text/html; charset=utf-8"));
            Document::new(extracted.title, extracted.text)
        }
        Transformation::Excerpt => {
            let units = split_units(text);
            let total: usize = units.iter().map(|u| u.chars().count()).sum();
            let share = 0.30 + 0.10 * rng.unit();
            let start = rng.below(units.len());
            // Take consecutive units from a random start (wrapping) until the share is
            // reached; a unit that would overshoot 40% is cut, as a copier cuts mid-sentence.
            let mut taken: Vec<String> = Vec::new();
            let mut chars = 0usize;
            let target = (share * total as f64).ceil() as usize;
            for k in 0..units.len() {
                let u = units[(start + k) % units.len()];
                let n = u.chars().count();
                if chars + n > (0.40 * total as f64) as usize {
                    taken.push(u.chars().take(target.saturating_sub(chars)).collect());
                    break;
                }
                taken.push(u.to_string());
                chars += n;
                if chars >= target {
                    break;
                }
            }
            let before = filler[rng.below(filler.len())];
            let after = filler[rng.below(filler.len())];
            let filler_para = |f: &str| f.lines().next().unwrap_or_default().to_string();
            let body = if original.cjk {
                format!(
                    "{}\n{}\n{}",
                    filler_para(before),
                    taken.join(""),
                    filler_para(after)
                )
            } else {
                format!(
                    "Read more from our partners.\n{}\nSubscribe to our newsletter for more stories like this one.",
                    taken.join(" ")
                )
            };
            document_from_text(&body)
        }
        Transformation::Reordered => {
            let mut paragraphs: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            if paragraphs.len() < 3 {
                paragraphs = split_units(text);
            }
            rng.shuffle(&mut paragraphs);
            document_from_text(&paragraphs.join("\n"))
        }
        Transformation::AdsInserted => {
            let ads_zh = [
                "【广告】扫码关注公众号，每日领取精选好礼！",
                "推荐阅读：十大理财产品排行榜，点击查看详情>>",
                "本站长期招聘兼职编辑，日结工资，联系QQ 88886666",
            ];
            let ads_en = [
                "ADVERTISEMENT: Get 50% off your first order with code SAVE50!",
                "Sponsored: These 7 gadgets are selling out fast. Click to see why.",
                "Sign up for our free newsletter and never miss a deal.",
            ];
            let ads: &[&str] = if original.cjk { &ads_zh } else { &ads_en };
            let mut out = vec![ads[0]];
            for (i, line) in text.lines().enumerate() {
                out.push(line);
                if i % 2 == 1 {
                    out.push(ads[(i / 2) % ads.len()]);
                }
            }
            out.push(ads[1]);
            document_from_text(&out.join("\n"))
        }
        Transformation::LightEdits => {
            let replacements: Vec<char> = if original.cjk {
                "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严"
                    .chars()
                    .collect()
            } else {
                "etaoinshrdlu".chars().collect()
            };
            let mut out = String::with_capacity(text.len());
            for c in text.chars() {
                if c.is_alphanumeric() {
                    let roll = rng.unit();
                    if roll < 0.03 {
                        out.push(replacements[rng.below(replacements.len())]);
                        continue;
                    } else if roll < 0.04 {
                        continue;
                    }
                }
                out.push(c);
            }
            document_from_text(&out)
        }
        Transformation::Traditional => document_from_text(&s2t.convert(text)),
        Transformation::TraditionalPinyinMojibake => {
            let traditional = s2t.convert(text);
            document_from_text(&mangle_like_a_mirror(&traditional, rng))
        }
    }
}

/// Adds what badly converted mirror sites leave in a text: tone-marked pinyin after some
/// characters (`質(zhì)量`), mojibake fragments (UTF-8 read as Windows-1252) and tag debris.
fn mangle_like_a_mirror(text: &str, rng: &mut Rng) -> String {
    use pinyin::ToPinyin;
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() * 2);
    let mut since_junk = 0usize;
    for (i, &c) in chars.iter().enumerate() {
        out.push(c);
        since_junk += 1;
        if let Some(p) = c.to_pinyin() {
            if rng.unit() < 0.25 {
                out.push('(');
                out.push_str(p.with_tone());
                out.push(')');
            }
        }
        if since_junk >= 120 && c.is_alphanumeric() && rng.unit() < 0.05 {
            since_junk = 0;
            if rng.unit() < 0.6 {
                // Two characters of the neighbourhood, as a mis-decoding mirror shows them.
                let sample: String = chars[i.saturating_sub(2)..=i].iter().collect();
                let (mojibake, _, _) = encoding_rs::WINDOWS_1252.decode(sample.as_bytes());
                out.push_str(&mojibake);
            } else {
                out.push_str(["<p>", "&nbsp;", "</div>", "<br/>"][rng.below(4)]);
            }
        }
    }
    out
}

/// An article of another author that quotes one sentence of the original in quotation
/// marks, as news reports do. The sentence is at most `max_percent` of the original (20
/// for the ordinary originals; 100 for short ones, where one sentence may be most of it).
fn quote_one_sentence(
    original: &Original,
    host: &Original,
    max_percent: usize,
    rng: &mut Rng,
) -> Option<Document> {
    // A quotable sentence: long enough to be a statement, short enough to be what a
    // reporter quotes (about one line of print), and a small part of the article.
    let max_chars = if original.cjk { 80 } else { 300 };
    let total = original.doc.text.chars().count();
    let sentences: Vec<&str> = split_units(&original.doc.text)
        .into_iter()
        .filter(|s| {
            let n = s.trim().chars().count();
            n >= 15 && n <= max_chars && n * 100 <= total * max_percent
        })
        .collect();
    let quote = sentences.get(rng.below(sentences.len()))?.trim();
    let mut lines: Vec<String> = host.doc.text.lines().map(str::to_string).collect();
    let at = lines.len() / 2;
    let inserted = if original.cjk {
        format!("据此前报道，“{quote}”对此，业内人士表示关注。")
    } else {
        format!("As previously reported, \"{quote}\" Industry observers took note.")
    };
    lines.insert(at, inserted);
    Some(document_from_text(&lines.join("\n")))
}

/// Splits a text into sentences (ending with 。！？.!? or a line break), keeping the
/// terminators so that joined units reproduce the text.
fn split_units(text: &str) -> Vec<&str> {
    let mut units = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        // Full stops of Chinese, Japanese, Latin, Arabic-script (۔ ؟) and Devanagari (।).
        if matches!(c, '。' | '！' | '？' | '!' | '?' | '\n' | '۔' | '؟' | '।')
            || (c == '.' && text[i + 1..].starts_with(' '))
        {
            let end = i + c.len_utf8();
            if text[start..end].trim().chars().count() > 1 {
                units.push(&text[start..end]);
            }
            start = end;
        }
    }
    if text[start..].trim().chars().count() > 1 {
        units.push(&text[start..]);
    }
    if units.is_empty() {
        units.push(text);
    }
    units
}

/// A content farm's page around a copied article: navigation, a sidebar of links to
/// other stories, a comment form and a footer, all of which extraction must drop.
fn content_farm_page(title: &str, text: &str, other_text: &str) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut html = String::new();
    html.push_str("<!DOCTYPE html><html><head><meta charset=\"utf-8\">");
    let _ = write!(html, "<title>{} - 热点资讯网</title>", esc(title));
    html.push_str("<script>var ads = {slot: 'top', rotate: true};</script></head><body>");
    html.push_str("<div class=\"header\"><ul class=\"nav\"><li><a href=\"/\">首页</a></li><li><a href=\"/news\">新闻</a></li><li><a href=\"/finance\">财经</a></li><li><a href=\"/sports\">体育</a></li><li><a href=\"/ent\">娱乐</a></li></ul></div>");
    html.push_str("<div class=\"main\"><div class=\"article\">");
    let _ = write!(
        html,
        "<h1>{}</h1><div class=\"info\">来源：网络 2024-05-20</div>",
        esc(title)
    );
    html.push_str("<div class=\"article-content\">");
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let _ = write!(html, "<p>{}</p>", esc(line));
    }
    html.push_str("</div></div><div class=\"sidebar\"><h3>热门推荐</h3><ul>");
    for (i, line) in other_text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(8)
        .enumerate()
    {
        let headline: String = line.chars().take(18).collect();
        let _ = write!(
            html,
            "<li><a href=\"/a/{i}.html\">{}</a></li>",
            esc(&headline)
        );
    }
    html.push_str("</ul></div></div>");
    html.push_str("<div class=\"comments\"><form><textarea name=\"c\"></textarea><button>发表评论</button></form></div>");
    html.push_str("<div class=\"footer\">版权所有 © 热点资讯网 备案号：京ICP备00000000号 联系我们 | 关于我们 | 免责声明</div>");
    html.push_str("<script>document.write('<div class=ad>广告</div>');</script></body></html>");
    html
}

/// Simplified → traditional, by inverting the traditional → simplified converter over the
/// CJK Unified Ideographs block. Where several traditional characters fold to one
/// simplified character the first is taken: for an evaluation any of them is a faithful
/// "converted" copy.
struct SimplifiedToTraditional {
    map: HashMap<char, char>,
}

impl SimplifiedToTraditional {
    fn new() -> Self {
        let mut map = HashMap::new();
        let block: String = ('\u{4e00}'..='\u{9fff}').flat_map(|c| [c, ' ']).collect();
        let folded = fast2s::convert(&block);
        for (traditional, simplified) in block.chars().zip(folded.chars()) {
            if traditional != simplified && traditional != ' ' {
                map.entry(simplified).or_insert(traditional);
            }
        }
        SimplifiedToTraditional { map }
    }

    fn convert(&self, text: &str) -> String {
        text.chars()
            .map(|c| *self.map.get(&c).unwrap_or(&c))
            .collect()
    }
}

/// A small deterministic PRNG (SplitMix64): the evaluation must print the same table on
/// every run, and needs no cryptographic quality.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0.0..1.0`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n`; `n == 0` gives 0.
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simplified_to_traditional_inverts_the_folding() {
        let s2t = SimplifiedToTraditional::new();
        let traditional = s2t.convert("质量发展");
        assert_ne!(traditional, "质量发展");
        assert_eq!(fast2s::convert(&traditional), "质量发展");
    }

    #[test]
    fn units_are_sentences_without_blank_ones() {
        let text = "第一句。第二句！\nThird one. Fourth?\nاردو جملہ۔ دوسرا";
        assert_eq!(
            split_units(text),
            vec![
                "第一句。",
                "第二句！",
                "Third one.",
                " Fourth?",
                "اردو جملہ۔",
                " دوسرا"
            ]
        );
    }

    #[test]
    fn mirror_mangling_adds_pinyin_after_han() {
        let mut rng = Rng::new(1);
        let out = mangle_like_a_mirror(&"質量發展".repeat(20), &mut rng);
        assert!(out.contains('('), "{out}");
        assert!(out.chars().count() > 80);
    }

    #[test]
    fn rng_is_deterministic() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut r = Rng::new(7);
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..4)
            .map({
                let mut r = Rng::new(7);
                move |_| r.next_u64()
            })
            .collect();
        assert_eq!(a, b);
    }
}
