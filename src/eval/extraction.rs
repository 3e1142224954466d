//! Extraction quality on the labelled real pages in `news-pages/pages.jsonl`.
//!
//! Owns reading the labelled data set, running `extract` on each page and scoring the
//! result against the human-checked text with character-level precision, recall and F1.
//! This module does file I/O (it is an edge, not the core); it must never be called from
//! the daemon's hot path, and it must never copy the third-party data anywhere.

use std::collections::HashMap;
use std::path::Path;

use unicode_normalization::UnicodeNormalization;

use super::{load_pages, EvalError};
use crate::extract::extract;

/// Scores of one page.
#[derive(Debug, Clone, PartialEq)]
pub struct PageScore {
    pub id: String,
    pub lang: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Non-whitespace characters extracted (after NFKC).
    pub extracted_chars: usize,
    /// Non-whitespace characters in the ground truth (after NFKC).
    pub truth_chars: usize,
}

/// Median and mean F1 of a group of pages.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub group: String,
    pub pages: usize,
    pub median_f1: f64,
    pub mean_f1: f64,
}

/// Per-page scores and summaries.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtractionReport {
    pub pages: Vec<PageScore>,
    /// Chinese pages.
    pub zh: Summary,
    /// All pages that are not Chinese (ja, ko, en-or-other together).
    pub others: Summary,
    /// One summary per `lang` value, sorted by name.
    pub per_lang: Vec<Summary>,
}

/// How many of the worst pages the table lists.
const WORST_LISTED: usize = 15;

impl ExtractionReport {
    /// A readable table: the worst pages, then the summary lines.
    pub fn render_table(&self) -> String {
        let mut rows: Vec<&PageScore> = self.pages.iter().collect();
        rows.sort_by(|a, b| a.f1.total_cmp(&b.f1));
        let mut out = String::new();
        out.push_str(&format!(
            "worst {} of {} pages\n{:<18} {:<12} {:>6} {:>6} {:>6} {:>9} {:>9}\n",
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
            out.push_str(&format!(
                "{:<18} {:<12} {:>6.3} {:>6.3} {:>6.3} {:>9} {:>9}\n",
                p.id, p.lang, p.precision, p.recall, p.f1, p.extracted_chars, p.truth_chars
            ));
        }
        out.push('\n');
        let line = |label: String, s: &Summary| {
            format!(
                "{label:<20} pages {:>3}  median f1 {:.3}  mean f1 {:.3}\n",
                s.pages, s.median_f1, s.mean_f1
            )
        };
        out.push_str(&line("zh".to_string(), &self.zh));
        out.push_str(&line("others (non-zh)".to_string(), &self.others));
        for s in &self.per_lang {
            out.push_str(&line(format!("lang {}", s.group), s));
        }
        out
    }
}

/// Extracts every page listed in `data_dir/news-pages/pages.jsonl` and scores it.
///
/// `data_dir` is the shared data folder (the one holding `news-pages/`).
///
/// # Errors
///
/// Fails if `pages.jsonl` or an HTML file it names cannot be read, or a line of
/// `pages.jsonl` is not a valid record; the error names the file (and line).
pub fn evaluate_extraction(data_dir: &Path) -> Result<ExtractionReport, EvalError> {
    let root = data_dir.join("news-pages");
    let mut pages = Vec::new();
    for rec in load_pages(data_dir)? {
        let html_path = root.join(&rec.html);
        let html = std::fs::read(&html_path).map_err(|source| EvalError::Read {
            path: html_path.clone(),
            source,
        })?;
        let got = extract(&html, None);
        let (precision, recall, f1) = char_f1(&got.text, &rec.text);
        pages.push(PageScore {
            id: rec.id,
            lang: rec.lang,
            precision,
            recall,
            f1,
            extracted_chars: normalized_chars(&got.text).count(),
            truth_chars: normalized_chars(&rec.text).count(),
        });
    }
    Ok(summarize(pages))
}

fn summarize(pages: Vec<PageScore>) -> ExtractionReport {
    let zh = summary("zh", pages.iter().filter(|p| p.lang == "zh"));
    let others = summary("others", pages.iter().filter(|p| p.lang != "zh"));
    let mut langs: Vec<&str> = pages.iter().map(|p| p.lang.as_str()).collect();
    langs.sort_unstable();
    langs.dedup();
    let per_lang = langs
        .iter()
        .map(|l| summary(l, pages.iter().filter(|p| p.lang == *l)))
        .collect();
    ExtractionReport {
        pages,
        zh,
        others,
        per_lang,
    }
}

fn summary<'a>(group: &str, pages: impl Iterator<Item = &'a PageScore>) -> Summary {
    let mut f1: Vec<f64> = pages.map(|p| p.f1).collect();
    f1.sort_by(f64::total_cmp);
    let n = f1.len();
    let median = match n {
        0 => 0.0,
        _ if n % 2 == 1 => f1[n / 2],
        _ => (f1[n / 2 - 1] + f1[n / 2]) / 2.0,
    };
    let mean = if n == 0 {
        0.0
    } else {
        f1.iter().sum::<f64>() / n as f64
    };
    Summary {
        group: group.to_string(),
        pages: n,
        median_f1: median,
        mean_f1: mean,
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
            lang: "zh".into(),
            precision: f1,
            recall: f1,
            f1,
            extracted_chars: 0,
            truth_chars: 0,
        };
        let s = summary("zh", [page(0.2), page(0.4), page(0.6), page(1.0)].iter());
        assert!((s.median_f1 - 0.5).abs() < 1e-9);
        assert!((s.mean_f1 - 0.55).abs() < 1e-9);
    }
}
