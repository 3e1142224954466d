//! The CLI contract, driven through the real binary as a user (or an acceptance check)
//! would: `compare`, `fingerprint`, `check-config`.

use crate::util::{char_slice, copyhound, json, sample, stderr, stdout};

fn compare(original: &str, candidate: &str) -> serde_json::Value {
    let o = sample(original);
    let c = sample(candidate);
    json(&copyhound(&[
        "compare",
        o.to_str().unwrap(),
        c.to_str().unwrap(),
        "--json",
    ]))
}

/// Every passage quotes exactly the text at its offsets, on both sides.
fn assert_passages_are_exact(report: &serde_json::Value) {
    let original = report["original"]["text"].as_str().unwrap();
    let candidate = report["candidate"]["text"].as_str().unwrap();
    let passages = report["passages"].as_array().unwrap();
    for p in passages {
        let (os, oe) = (
            p["original_start"].as_u64().unwrap(),
            p["original_end"].as_u64().unwrap(),
        );
        let (cs, ce) = (
            p["candidate_start"].as_u64().unwrap(),
            p["candidate_end"].as_u64().unwrap(),
        );
        assert!(os < oe && cs < ce, "empty passage {p}");
        assert!(oe as usize <= original.chars().count());
        assert_eq!(
            char_slice(candidate, cs as usize, ce as usize),
            p["text"].as_str().unwrap()
        );
    }
}

#[test]
fn traditional_mirror_copy_with_pinyin_is_a_copy() {
    let report = compare("original-zh.html", "copy-zh-mirror.html");
    assert_eq!(report["verdict"], "copy", "{report:#}");
    let containment = report["containment"].as_f64().unwrap();
    assert!(
        (0.7..=1.0).contains(&containment),
        "containment {containment}"
    );
    assert!(report["hamming"].as_u64().unwrap() <= 64);
    for side in ["original", "candidate"] {
        let simhash = report[side]["simhash"].as_str().unwrap();
        assert_eq!(simhash.len(), 16);
        assert!(simhash.chars().all(|c| c.is_ascii_hexdigit()));
    }
    assert!(report["original"]["title"]
        .as_str()
        .unwrap()
        .contains("滨江湿地公园修复工程完工"));
    // The mirror's navigation, ads and footer are not part of the extracted copy.
    let candidate = report["candidate"]["text"].as_str().unwrap();
    assert!(!candidate.contains("熱門排行"), "{candidate}");
    assert!(!report["passages"].as_array().unwrap().is_empty());
    assert_passages_are_exact(&report);
}

#[test]
fn english_excerpt_is_partial() {
    let report = compare("original-en.html", "copy-en-excerpt.html");
    assert_eq!(report["verdict"], "partial", "{report:#}");
    assert!(report["coverage"].as_f64().unwrap() > 0.0, "{report:#}");
    assert!(report["copied_chars"].as_u64().unwrap() > 100, "{report:#}");
    let containment = report["containment"].as_f64().unwrap();
    assert!(
        (0.25..0.7).contains(&containment),
        "containment {containment}"
    );
    assert_passages_are_exact(&report);
}

#[test]
fn different_articles_are_unrelated() {
    let report = compare("original-zh.html", "original-en.html");
    assert_eq!(report["verdict"], "unrelated");
    assert!(report["containment"].as_f64().unwrap() < 0.05);
}

#[test]
fn human_output_names_the_verdict() {
    let o = sample("original-zh.html");
    let c = sample("copy-zh-mirror.html");
    let out = copyhound(&["compare", o.to_str().unwrap(), c.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("verdict: copy\n"), "{text}");
    assert!(text.contains("\ncontainment: "), "{text}");
    assert!(
        text.contains("% of the candidate is copied text)\n"),
        "{text}"
    );
    assert!(text.contains(" characters of the original\n"), "{text}");
}

#[test]
fn text_files_are_taken_as_is() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("a.txt");
    let copy = dir.path().join("b.txt");
    let text = "第一段：市政府今天宣布启动新一轮老旧小区改造计划，涉及居民三万余户。\n第二段：改造内容包括加装电梯、更新管网和增加停车位，预计明年底前全部完工。\n第三段：居民可以通过社区服务中心提出意见，改造方案将在公示后实施。";
    std::fs::write(&original, text).unwrap();
    std::fs::write(&copy, format!("转载声明\n{text}\n更多精彩内容请关注本站")).unwrap();
    let report = json(&copyhound(&[
        "compare",
        original.to_str().unwrap(),
        copy.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(report["verdict"], "copy");
    assert_eq!(report["original"]["text"], text);
    assert!(report["containment"].as_f64().unwrap() > 0.95);
    // The copy is the whole text and two lines of its own.
    let coverage = report["coverage"].as_f64().unwrap();
    assert!((0.8..1.0).contains(&coverage), "coverage {coverage}");
    // Every character of the original but the final full stop.
    assert_eq!(
        report["copied_chars"].as_u64().unwrap() as usize,
        text.chars().count() - 1,
        "{report:#}"
    );
}

#[test]
fn fingerprint_prints_whole_and_segment_hashes() {
    let a = sample("original-zh.html");
    let b = sample("original-en.html");
    let report = json(&copyhound(&[
        "fingerprint",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--json",
    ]));
    let files = report.as_array().unwrap();
    assert_eq!(files.len(), 2);
    for f in files {
        assert_eq!(f["simhash"].as_str().unwrap().len(), 16);
        let segments = f["segments"].as_array().unwrap();
        assert!(segments.len() >= 2, "{f:#}");
        for s in segments {
            assert_eq!(s["simhash"].as_str().unwrap().len(), 16);
        }
    }
    // Stable across runs: the same file gives the same fingerprint.
    let again = json(&copyhound(&["fingerprint", a.to_str().unwrap(), "--json"]));
    assert_eq!(again[0]["simhash"], files[0]["simhash"]);
}

#[test]
fn unreadable_and_unsupported_inputs_are_named() {
    let o = sample("original-zh.html");
    let out = copyhound(&["compare", o.to_str().unwrap(), "/nonexistent/page.html"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("/nonexistent/page.html"),
        "{}",
        stderr(&out)
    );

    let readme = crate::util::root().join("Cargo.toml");
    let out = copyhound(&["compare", o.to_str().unwrap(), readme.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("unsupported file type"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn check_config_accepts_the_example() {
    let example = crate::util::root().join("config/copyhound.toml");
    let out = copyhound(&["check-config", "--config", example.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("ok"));
    // The example leaves the browser out, and check-config says what that means.
    assert!(
        stdout(&out).contains("evidence: no browser ([evidence] browser not set)"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn check_config_lists_every_problem_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("copyhound.toml");
    std::fs::write(
        &path,
        r#"
[outlet]
name = "Example Daily"
website = "https://news.example.com"
address = "1 Example Road"
language = "de"

[detect]
copy_treshold = 0.5
partial_threshold = 2
"#,
    )
    .unwrap();
    let out = copyhound(&["check-config", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    for expected in [
        "outlet.language",
        "detect.copy_treshold: unknown key",
        "detect.partial_threshold",
        "3 problem(s) found",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in {err}");
    }
    assert!(
        err.contains(path.to_str().unwrap()),
        "the file is named: {err}"
    );
}

#[test]
fn config_from_the_environment_and_a_missing_config_are_reported() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_copyhound"))
        .args(["check-config"])
        .env("COPYHOUND_CONFIG", "/nonexistent/copyhound.toml")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("/nonexistent/copyhound.toml"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn compare_uses_thresholds_from_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("copyhound.toml");
    let strict = "[outlet]\nname = \"X\"\nwebsite = \"https://x.example.com\"\naddress = \"A\"\n[detect]\ncopy_threshold = 1.0\npartial_threshold = 0.99\npartial_min_paragraphs = 100\n";
    let o = sample("original-en.html");
    let c = sample("copy-en-excerpt.html");
    let verdict = |config: &str| {
        std::fs::write(&path, config).unwrap();
        json(&copyhound(&[
            "compare",
            o.to_str().unwrap(),
            c.to_str().unwrap(),
            "--json",
            "--config",
            path.to_str().unwrap(),
        ]))["verdict"]
            .clone()
    };
    // Strict shares alone leave the excerpt partial: it is long enough on its own.
    assert_eq!(verdict(strict), "partial", "the absolute length applies");
    assert_eq!(
        verdict(&format!(
            "{strict}partial_min_cjk_chars = 1000000\npartial_min_words = 1000000\n"
        )),
        "unrelated",
        "an excerpt is below these strict thresholds"
    );
}

#[test]
fn a_strangers_broken_markup_does_not_reach_the_log() {
    // Text straight inside a <table> makes the HTML parser warn ("foster parenting"),
    // once per stray piece: without RUST_LOG those warnings stay out of the log.
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("broken.html");
    let stray: String = (0..50)
        .map(|i| format!("<table>stray text {i}<tr><td>cell</td></tr></table>"))
        .collect();
    std::fs::write(
        &page,
        format!("<html><body><p>The council met on Tuesday to discuss the budget.</p>{stray}</body></html>"),
    )
    .unwrap();
    let out = crate::util::copyhound_cmd(&["extract", page.to_str().unwrap()])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("foster"), "{}", stderr(&out));
}

#[test]
fn output_piped_into_a_reader_that_stops_early_ends_quietly() {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    // `fingerprint` of the same page many times prints far more than a pipe buffer; the
    // reader takes a few bytes and goes away, as `| head -1` does.
    let page = sample("original-zh.html");
    let page = page.to_str().unwrap();
    let args: Vec<&str> = std::iter::once("fingerprint")
        .chain(std::iter::repeat_n(page, 400))
        .collect();
    let mut child = crate::util::copyhound_cmd(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 64];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        out.status.success() || out.status.signal() == Some(libc::SIGPIPE),
        "{:?}: {err}",
        out.status
    );
}
