//! Extraction quality on the shared real pages.

use std::path::PathBuf;

fn data_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: ../shared/data not found");
        None
    }
}

#[test]
fn quality_on_labelled_pages() {
    let Some(dir) = data_dir() else { return };
    let report =
        copyhound::eval::extraction::evaluate_extraction(&dir).expect("evaluation data readable");
    println!("{}", report.render_table());
}
