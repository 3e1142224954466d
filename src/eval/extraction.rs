//! Extraction quality on the labelled real pages of `../shared/data`.
//!
//! Owns reading the labelled sets, running `extract` on each page and scoring the result.
//! Two sets are read: `news-pages` (full human-checked text for every page) and
//! `dev-extraction` (a broader development set: full gold text for some pages, lists of
//! snippets that must and must not appear for the others). Full-gold pages are scored with
//! character-bag precision, recall and F1; snippet pages with the share of `with` snippets
//! found and `without` snippets absent, pooled per source as trafilatura's own evaluation
//! does. A page whose extraction is under a fifth of its gold text has *collapsed*: the
//! extractor settled for one short block (a caption, a byline) instead of the article.
//!
//! This module does file I/O (it is an edge, not the core); it must never be called from
//! the daemon's hot path, and it must never copy the third-party data anywhere.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Deserialize;
use unicode_normalization::UnicodeNormalization;

use super::EvalError;
use crate::extract::extract;

/// An extraction under this share of the gold text's characters is a collapse.
pub const COLLAPSE_SHARE: f64 = 0.2;

/// How the ground truth of a page is given.
#[derive(Debug, Clone, PartialEq)]
pub enum Gold {
    /// The whole main text.
    Text(String),
    /// Snippets that must (`with`) and must not (`without`) occur in the extraction.
    Snippets {
        with: Vec<String>,
        without: Vec<String>,
    },
}

/// One labelled page of either set.
#[derive(Debug, Clone)]
pub struct LabelledPage {
    pub id: String,
    /// The suite the page comes from (`news-pages` for that set).
    pub source: String,
    pub lang: String,
    /// Path of the raw HTML, absolute or relative to the working directory.
    pub html: std::path::PathBuf,
    pub gold: Gold,
}

/// Scores of one page.
#[derive(Debug, Clone, PartialEq)]
pub struct PageScore {
    pub id: String,
    pub source: String,
    pub lang: String,
    /// Character-bag precision (full gold) or share of `without` snippets absent.
    pub precision: f64,
    /// Character-bag recall (full gold) or share of `with` snippets found.
    pub recall: f64,
    pub f1: f64,
    /// Non-whitespace characters extracted (after NFKC).
    pub extracted_chars: usize,
    /// Non-whitespace characters in the ground truth (after NFKC); 0 for snippet gold.
    pub truth_chars: usize,
    /// Snippet counts (found `with`, all `with`, found `without`, all `without`); zero
    /// for full gold.
    pub snippets: [usize; 4],
    /// Whether the extraction collapsed: under [`COLLAPSE_SHARE`] of a full gold text, or
    /// fewer than half of a page's `with` snippets found with no more than 200 characters
    /// extracted.
    pub collapsed: bool,
    pub full_gold: bool,
}

/// F1 figures of a group of pages.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub group: String,
    pub pages: usize,
    pub median_f1: f64,
    pub mean_f1: f64,
    pub mean_precision: f64,
    pub mean_recall: f64,
    /// Pages whose extraction collapsed.
    pub collapsed: usize,
}

impl Summary {
    /// Share of the group's pages that collapsed.
    pub fn collapse_rate(&self) -> f64 {
        if self.pages == 0 {
            0.0
        } else {
            self.collapsed as f64 / self.pages as f64
        }
    }
}

/// Pooled snippet counts of one source, with trafilatura's F1 (a found `with` is a true
/// positive, a missing one a false negative, a found `without` a false positive).
#[derive(Debug, Clone, PartialEq)]
pub struct SnippetSummary {
    pub source: String,
    pub pages: usize,
    pub with_found: usize,
    pub with_total: usize,
    pub without_found: usize,
    pub without_total: usize,
    pub collapsed: usize,
}

impl SnippetSummary {
    pub fn recall(&self) -> f64 {
        ratio(self.with_found, self.with_total)
    }
    /// Share of `without` snippets that stayed out of the extraction.
    pub fn precision_absent(&self) -> f64 {
        if self.without_total == 0 {
            1.0
        } else {
            1.0 - ratio(self.without_found, self.without_total)
        }
    }
    /// trafilatura's F1: precision is TP / (TP + FP) with TP the found `with` snippets.
    pub fn f1(&self) -> f64 {
        let tp = self.with_found as f64;
        let fn_ = (self.with_total - self.with_found) as f64;
        let fp = self.without_found as f64;
        let p = if tp + fp == 0.0 { 0.0 } else { tp / (tp + fp) };
        let r = if tp + fn_ == 0.0 {
            0.0
        } else {
            tp / (tp + fn_)
        };
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Per-page scores and summaries of one set.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtractionReport {
    /// The set's name (`news-pages`, `dev-extraction`).
    pub set: String,
    pub pages: Vec<PageScore>,
    /// All full-gold pages together.
    pub all: Summary,
    /// Full-gold Chinese pages.
    pub zh: Summary,
    /// Full-gold pages that are not Chinese.
    pub others: Summary,
    /// One summary of full-gold pages per `lang` value, sorted by name.
    pub per_lang: Vec<Summary>,
    /// One summary of full-gold pages per source, sorted by name.
    pub per_source: Vec<Summary>,
    /// Snippet pages, one line per source, sorted by name.
    pub snippet_sources: Vec<SnippetSummary>,
}

/// How many of the worst pages the table lists.
const WORST_LISTED: usize = 15;

impl ExtractionReport {
    /// Pages of the set that collapsed, full gold and snippets together.
    pub fn collapsed(&self) -> usize {
        self.pages.iter().filter(|p| p.collapsed).count()
    }

    /// Share of the set's pages that collapsed.
    pub fn collapse_rate(&self) -> f64 {
        ratio(self.collapsed(), self.pages.len())
    }

    /// A readable table: the worst pages, then the summary lines.
    pub fn render_table(&self) -> String {
        let mut rows: Vec<&PageScore> = self.pages.iter().collect();
        rows.sort_by(|a, b| a.f1.total_cmp(&b.f1));
        let mut out = format!(
            "extraction: {} ({} pages, {} collapsed, collapse rate {:.3})\n",
            self.set,
            self.pages.len(),
            self.collapsed(),
            self.collapse_rate()
        );
        out.push_str(&format!(
            "worst {} of {} pages\n{:<30} {:<12} {:>6} {:>6} {:>6} {:>9} {:>9}\n",
            WORST_LISTED.min(rows.len()),
            rows.len(),
            "id",
            "lang",
            "prec",
            "recall",
            "f1",
            "extracted",
            "truth"
        ));
        for p in rows.iter().take(WORST_LISTED) {
            let truth = if p.full_gold {
                p.truth_chars.to_string()
            } else {
                format!("{}/{}", p.snippets[0], p.snippets[1])
            };
            out.push_str(&format!(
                "{:<30} {:<12} {:>6.3} {:>6.3} {:>6.3} {:>9} {:>9}{}\n",
                p.id,
                p.lang,
                p.precision,
                p.recall,
                p.f1,
                p.extracted_chars,
                truth,
                if p.collapsed { "  collapsed" } else { "" }
            ));
        }
        out.push('\n');
        let line = |label: String, s: &Summary| {
            format!(
                "{label:<44} pages {:>3}  f1 median {:.3} mean {:.3}  prec {:.3}  recall {:.3}  collapsed {}\n",
                s.pages, s.median_f1, s.mean_f1, s.mean_precision, s.mean_recall, s.collapsed
            )
        };
        if self.all.pages > 0 {
            out.push_str(&line("full gold, all".to_string(), &self.all));
            out.push_str(&line("full gold, zh".to_string(), &self.zh));
            out.push_str(&line(
                "full gold, others (non-zh)".to_string(),
                &self.others,
            ));
            for s in &self.per_lang {
                out.push_str(&line(format!("full gold, lang {}", s.group), s));
            }
            if self.per_source.len() > 1 {
                for s in &self.per_source {
                    out.push_str(&line(format!("full gold, {}", s.group), s));
                }
            }
        }
        for s in &self.snippet_sources {
            out.push_str(&format!(
                "{:<44} pages {:>3}  f1 {:.3}  with found {:.3} ({}/{})  without absent {:.3} ({}/{})  collapsed {}\n",
                format!("snippets, {}", s.source),
                s.pages,
                s.f1(),
                s.recall(),
                s.with_found,
                s.with_total,
                s.precision_absent(),
                s.without_total - s.without_found,
                s.without_total,
                s.collapsed
            ));
        }
        out
    }
}

/// Extracts every page of `data_dir/news-pages/pages.jsonl` and scores it.
///
/// `data_dir` is the shared data folder (the one holding `news-pages/`).
///
/// # Errors
///
/// Fails if `pages.jsonl` or an HTML file it names cannot be read, or a line of
/// `pages.jsonl` is not a valid record; the error names the file (and line).
pub fn evaluate_extraction(data_dir: &Path) -> Result<ExtractionReport, EvalError> {
    evaluate_pages("news-pages", load_news_pages(data_dir)?)
}

/// Reads `news-pages/pages.jsonl` under `data_dir` as labelled pages.
///
/// # Errors
/// [`EvalError`] naming the file and line at fault.
pub fn load_news_pages(data_dir: &Path) -> Result<Vec<LabelledPage>, EvalError> {
    let root = data_dir.join("news-pages");
    Ok(super::load_pages(data_dir)?
        .into_iter()
        .map(|rec| LabelledPage {
            id: rec.id,
            source: "news-pages".to_string(),
            lang: rec.lang,
            html: root.join(&rec.html),
            gold: Gold::Text(rec.text),
        })
        .collect())
}

/// Extracts every page of `data_dir/dev-extraction/pages.jsonl` and scores it.
///
/// # Errors
///
/// As [`evaluate_extraction`].
pub fn evaluate_dev_extraction(data_dir: &Path) -> Result<ExtractionReport, EvalError> {
    evaluate_pages("dev-extraction", load_dev_pages(data_dir)?)
}

/// One line of `dev-extraction/pages.jsonl`.
#[derive(Deserialize)]
struct DevRecord {
    id: String,
    source: String,
    lang: String,
    html: String,
    text: Option<String>,
    #[serde(default)]
    with: Vec<String>,
    #[serde(default)]
    without: Vec<String>,
}

/// Reads `dev-extraction/pages.jsonl` under `data_dir`.
///
/// # Errors
/// [`EvalError`] naming the file and line at fault.
pub fn load_dev_pages(data_dir: &Path) -> Result<Vec<LabelledPage>, EvalError> {
    let root = data_dir.join("dev-extraction");
    let records: Vec<DevRecord> = super::read_jsonl(&root.join("pages.jsonl"))?;
    Ok(records
        .into_iter()
        .map(|r| LabelledPage {
            id: r.id,
            source: r.source,
            lang: r.lang,
            html: root.join(&r.html),
            gold: match r.text {
                Some(text) => Gold::Text(text),
                None => Gold::Snippets {
                    with: r.with,
                    without: r.without,
                },
            },
        })
        .collect())
}

/// Extracts and scores `pages`.
///
/// # Errors
/// [`EvalError::Read`] when a page's HTML cannot be read.
pub fn evaluate_pages(set: &str, pages: Vec<LabelledPage>) -> Result<ExtractionReport, EvalError> {
    evaluate_pages_with(set, pages, |html| extract(html, None).text)
}

/// Scores `extractor` (raw HTML bytes to main text) on `pages`: the same scoring for
/// copyhound's extractor and for any other one compared with it.
///
/// # Errors
/// [`EvalError::Read`] when a page's HTML cannot be read.
pub fn evaluate_pages_with(
    set: &str,
    pages: Vec<LabelledPage>,
    mut extractor: impl FnMut(&[u8]) -> String,
) -> Result<ExtractionReport, EvalError> {
    let mut scores = Vec::with_capacity(pages.len());
    for page in pages {
        let html = std::fs::read(&page.html).map_err(|source| EvalError::Read {
            path: page.html.clone(),
            source,
        })?;
        let text = extractor(&html);
        scores.push(score_page(page, &text));
    }
    Ok(summarize(set, scores))
}

/// Scores one extraction against its page's gold.
pub fn score_page(page: LabelledPage, extracted: &str) -> PageScore {
    let extracted_chars = normalized_chars(extracted).count();
    let (precision, recall, f1, truth_chars, snippets, collapsed) = match &page.gold {
        Gold::Text(truth) => {
            let (precision, recall, f1) = char_f1(extracted, truth);
            let truth_chars = normalized_chars(truth).count();
            let collapsed = (extracted_chars as f64) < COLLAPSE_SHARE * truth_chars as f64;
            (precision, recall, f1, truth_chars, [0; 4], collapsed)
        }
        Gold::Snippets { with, without } => {
            let haystack = squash_ws(extracted);
            let found = |s: &String| haystack.contains(&squash_ws(s));
            let with_found = with.iter().filter(|s| found(s)).count();
            let without_found = without.iter().filter(|s| found(s)).count();
            let recall = if with.is_empty() {
                1.0
            } else {
                with_found as f64 / with.len() as f64
            };
            let precision = if without.is_empty() {
                1.0
            } else {
                1.0 - without_found as f64 / without.len() as f64
            };
            let f1 = if precision + recall == 0.0 {
                0.0
            } else {
                2.0 * precision * recall / (precision + recall)
            };
            let snippets = [with_found, with.len(), without_found, without.len()];
            let collapsed = with_found * 2 < with.len() && extracted_chars <= 200;
            (precision, recall, f1, 0, snippets, collapsed)
        }
    };
    PageScore {
        full_gold: matches!(page.gold, Gold::Text(_)),
        id: page.id,
        source: page.source,
        lang: page.lang,
        precision,
        recall,
        f1,
        extracted_chars,
        truth_chars,
        snippets,
        collapsed,
    }
}

/// Every run of whitespace as one space, trimmed: the snippet metric's normalisation.
fn squash_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn summarize(set: &str, pages: Vec<PageScore>) -> ExtractionReport {
    let full = || pages.iter().filter(|p| p.full_gold);
    let all = summary("all", full());
    let zh = summary("zh", full().filter(|p| p.lang == "zh"));
    let others = summary("others", full().filter(|p| p.lang != "zh"));
    let group = |key: fn(&PageScore) -> &str| -> Vec<Summary> {
        let mut names: Vec<&str> = full().map(key).collect();
        names.sort_unstable();
        names.dedup();
        names
            .iter()
            .map(|g| summary(g, full().filter(|p| key(p) == *g)))
            .collect()
    };
    let per_lang = group(|p| p.lang.as_str());
    let per_source = group(|p| p.source.as_str());
    let mut snippet_sources: BTreeMap<&str, SnippetSummary> = BTreeMap::new();
    for p in pages.iter().filter(|p| !p.full_gold) {
        let s = snippet_sources
            .entry(p.source.as_str())
            .or_insert_with(|| SnippetSummary {
                source: p.source.clone(),
                pages: 0,
                with_found: 0,
                with_total: 0,
                without_found: 0,
                without_total: 0,
                collapsed: 0,
            });
        s.pages += 1;
        s.with_found += p.snippets[0];
        s.with_total += p.snippets[1];
        s.without_found += p.snippets[2];
        s.without_total += p.snippets[3];
        s.collapsed += usize::from(p.collapsed);
    }
    let snippet_sources = snippet_sources.into_values().collect();
    ExtractionReport {
        set: set.to_string(),
        pages,
        all,
        zh,
        others,
        per_lang,
        per_source,
        snippet_sources,
    }
}

fn summary<'a>(group: &str, pages: impl Iterator<Item = &'a PageScore>) -> Summary {
    let pages: Vec<&PageScore> = pages.collect();
    let mut f1: Vec<f64> = pages.iter().map(|p| p.f1).collect();
    f1.sort_by(f64::total_cmp);
    let n = f1.len();
    let median = match n {
        0 => 0.0,
        _ if n % 2 == 1 => f1[n / 2],
        _ => (f1[n / 2 - 1] + f1[n / 2]) / 2.0,
    };
    let mean = |f: fn(&PageScore) -> f64| {
        if n == 0 {
            0.0
        } else {
            pages.iter().map(|p| f(p)).sum::<f64>() / n as f64
        }
    };
    Summary {
        group: group.to_string(),
        pages: n,
        median_f1: median,
        mean_f1: mean(|p| p.f1),
        mean_precision: mean(|p| p.precision),
        mean_recall: mean(|p| p.recall),
        collapsed: pages.iter().filter(|p| p.collapsed).count(),
    }
}

/// Non-whitespace characters of `s` after NFKC normalisation.
fn normalized_chars(s: &str) -> impl Iterator<Item = char> + '_ {
    s.nfkc().filter(|c| !c.is_whitespace())
}

/// Character-level precision, recall and F1 of `extracted` against `truth`, over the
/// multisets of non-whitespace characters after NFKC on both sides.
///
/// Two empty texts agree perfectly (1, 1, 1); an empty side against a non-empty one
/// scores 0 where the ratio is undefined.
pub fn char_f1(extracted: &str, truth: &str) -> (f64, f64, f64) {
    let mut bag: HashMap<char, usize> = HashMap::new();
    let mut truth_n = 0usize;
    for c in normalized_chars(truth) {
        *bag.entry(c).or_default() += 1;
        truth_n += 1;
    }
    let mut got_n = 0usize;
    let mut common = 0usize;
    for c in normalized_chars(extracted) {
        got_n += 1;
        if let Some(k) = bag.get_mut(&c) {
            if *k > 0 {
                *k -= 1;
                common += 1;
            }
        }
    }
    if got_n == 0 && truth_n == 0 {
        return (1.0, 1.0, 1.0);
    }
    let p = if got_n == 0 {
        0.0
    } else {
        common as f64 / got_n as f64
    };
    let r = if truth_n == 0 {
        0.0
    } else {
        common as f64 / truth_n as f64
    };
    let f = if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    };
    (p, r, f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn char_f1_counts_multisets() {
        assert_eq!(char_f1("abc", "abc"), (1.0, 1.0, 1.0));
        let (p, r, _) = char_f1("aab", "ab");
        assert!((p - 2.0 / 3.0).abs() < 1e-9 && (r - 1.0).abs() < 1e-9);
        assert_eq!(char_f1("", ""), (1.0, 1.0, 1.0));
        assert_eq!(char_f1("", "x"), (0.0, 0.0, 0.0));
    }

    #[test]
    fn char_f1_ignores_whitespace_and_width() {
        // NFKC folds full-width letters and digits to ASCII.
        assert_eq!(char_f1("ＡＢ １", "A B1"), (1.0, 1.0, 1.0));
    }

    #[test]
    fn summary_median_of_even_count() {
        let page = |f1| PageScore {
            id: String::new(),
            source: String::new(),
            lang: "zh".into(),
            precision: f1,
            recall: f1,
            f1,
            extracted_chars: 0,
            truth_chars: 0,
            snippets: [0; 4],
            collapsed: false,
            full_gold: true,
        };
        let s = summary("zh", [page(0.2), page(0.4), page(0.6), page(1.0)].iter());
        assert!((s.median_f1 - 0.5).abs() < 1e-9);
        assert!((s.mean_f1 - 0.55).abs() < 1e-9);
    }
}
