//! Detection quality on real data: the must-pass part of `copyhound eval`.
//!
//! Copies of real articles built the ways infringers make them must be found (recall at
//! least 0.98 for every transformation) and no negative may be flagged.

use copyhound::detect::DetectParams;
use copyhound::eval::detection::evaluate_detection;

#[test]
fn every_transformation_is_found_and_nothing_else() {
    let Some(data) = crate::util::shared_data() else {
        return;
    };
    let report = evaluate_detection(&data, &DetectParams::default()).expect("evaluation runs");
    let table = report.render_table();
    println!("{table}");
    assert!(report.originals >= 100, "{table}");
    for row in &report.recall {
        let recall = row.found as f64 / row.copies as f64;
        assert!(
            recall >= 0.98,
            "recall of {} is {recall:.3}\n{table}",
            row.name
        );
    }
    assert_eq!(report.total_false_positives(), 0, "{table}");
}
