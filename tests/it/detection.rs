//! Detection quality on real data: the must-pass part of `copyhound eval`.
//!
//! Copies of real articles built the ways infringers make them must be found (recall at
//! least 0.99 for every row that holds a target, 10% excerpts of long articles included)
//! and no negative may be flagged (a sentence quoted from a short original included).
//! The second test removes each of the verdict's two newer rules and checks that the rows
//! holding them then fail: the rows measure what they claim to.

use copyhound::detect::DetectParams;
use copyhound::eval::detection::{evaluate_detection, DetectionReport, RECALL_TARGET};

fn recall(report: &DetectionReport, row: &str) -> f64 {
    let table = report.render_table();
    let r = report
        .recall_row(row)
        .unwrap_or_else(|| panic!("no row {row:?}\n{table}"));
    assert!(
        r.copies >= 100,
        "row {row:?} has {} copies\n{table}",
        r.copies
    );
    r.found as f64 / r.copies as f64
}

fn false_positives(report: &DetectionReport, row: &str) -> usize {
    let table = report.render_table();
    let r = report
        .negative_row(row)
        .unwrap_or_else(|| panic!("no row {row:?}\n{table}"));
    assert!(r.pairs >= 100, "row {row:?} has {} pairs\n{table}", r.pairs);
    r.false_positives
}

#[test]
fn every_transformation_is_found_and_nothing_else() {
    let Some(data) = crate::util::shared_data() else {
        return;
    };
    let report = evaluate_detection(&data, &DetectParams::default()).expect("evaluation runs");
    let table = report.render_table();
    println!("{table}");
    assert!(report.originals >= 100, "{table}");
    assert!(report.long_originals >= 100, "{table}");
    assert!(report.short_originals >= 150, "{table}");
    assert!(report.failing_rows().is_empty(), "{table}");
    for row in &report.recall {
        if row.target.is_some() {
            let recall = row.found as f64 / row.copies as f64;
            assert!(
                recall >= RECALL_TARGET,
                "recall of {} is {recall:.3}\n{table}",
                row.name
            );
        }
    }
    for row in [
        "long: 10% excerpt",
        "long: 20% excerpt",
        "long: 30% excerpt",
        "short: reposted whole",
    ] {
        assert!(recall(&report, row) >= RECALL_TARGET, "{row}\n{table}");
    }
    for row in [
        "quotes one sentence",
        "short: quotes one sentence",
        "short: other articles",
        "long: other articles",
    ] {
        assert_eq!(false_positives(&report, row), 0, "{row}\n{table}");
    }
    assert_eq!(report.total_false_positives(), 0, "{table}");
}

#[test]
fn the_rows_fail_without_the_rules_they_hold() {
    let Some(data) = crate::util::shared_data() else {
        return;
    };
    // Without the absolute length, a 10% excerpt of a long article is mostly missed.
    let no_length = DetectParams {
        partial_min_cjk_chars: usize::MAX,
        partial_min_words: usize::MAX,
        ..DetectParams::default()
    };
    let report = evaluate_detection(&data, &no_length).expect("evaluation runs");
    let ten = recall(&report, "long: 10% excerpt");
    assert!(ten < RECALL_TARGET, "{}", report.render_table());
    // Without the quotation rule, one sentence of a short original makes a match.
    let no_quotes = DetectParams {
        quote_max_coverage: 0.0,
        ..DetectParams::default()
    };
    let report = evaluate_detection(&data, &no_quotes).expect("evaluation runs");
    assert!(
        false_positives(&report, "short: quotes one sentence") > 0,
        "{}",
        report.render_table()
    );
}
