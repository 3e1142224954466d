//! `copyhound matches export` through the real binary, on the store `copyhound demo`
//! fills (three matches), read back by independent parsers: Python's `csv` module and
//! `openpyxl` (`tests/support/read_export.py`). The desk's export links are tested over
//! HTTP in `web`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{copyhound, copyhound_cmd, json, python_needs, read_export, stderr, stdout};

/// The columns every export has, in order: those of `matches list --json`, then the
/// review dates.
pub(crate) const COLUMNS: [&str; 20] = [
    "id",
    "copy_url",
    "copy_host",
    "copy_title",
    "original_id",
    "original_url",
    "original_title",
    "verdict",
    "containment",
    "coverage",
    "copied_chars",
    "status",
    "licensed",
    "first_seen",
    "last_seen",
    "captured_at",
    "remote_ip",
    "first_decision_at",
    "last_decision_at",
    "status_since",
];

/// A crawled title a spreadsheet would run as a formula.
const FORMULA_TITLE: &str = "=HYPERLINK(\"http://evil.example/\",\"点我\")";
/// A crawled title that needs RFC 4180 quoting.
const QUOTED_TITLE: &str = "转载, \"全文\"\n第二行";

/// The demo's folder (kept while the test runs) and its config, `DIR/demo/copyhound.toml`.
struct Demo {
    _dir: tempfile::TempDir,
    config: PathBuf,
}

impl Demo {
    /// The demo's store, with two crawled titles made hostile (as a copier could write
    /// them) and match 2 marked infringing.
    fn new() -> Demo {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("demo");
        let out = copyhound(&["demo", "--dir", root.to_str().unwrap()]);
        assert!(out.status.success(), "demo failed: {}", stderr(&out));
        let db = root.join("state/copyhound.db");
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute(
            "UPDATE matches SET copy_title = ?1 WHERE id = 3",
            [FORMULA_TITLE],
        )
        .unwrap();
        conn.execute(
            "UPDATE matches SET copy_title = ?1 WHERE id = 1",
            [QUOTED_TITLE],
        )
        .unwrap();
        drop(conn);
        let demo = Demo {
            _dir: dir,
            config: root.join("copyhound.toml"),
        };
        let out = demo.run(&[
            "matches",
            "mark",
            "2",
            "--status",
            "infringing",
            "--note",
            "无授权",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        demo
    }

    /// A folder for the test's files: the demo's own.
    fn root(&self) -> &Path {
        self.config
            .parent()
            .expect("the config is in the demo folder")
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut all = args.to_vec();
        all.extend(["--config", self.config.to_str().unwrap()]);
        copyhound_cmd(&all)
            .env_remove("SUDO_USER")
            .env("USER", "reviewer-wang")
            .output()
            .unwrap()
    }

    /// `matches list --json` with `filters`, keyed by id.
    fn listed(&self, filters: &[&str]) -> Vec<Value> {
        let mut args = vec!["matches", "list", "--json"];
        args.extend(filters);
        json(&self.run(&args)).as_array().unwrap().clone()
    }
}

/// A JSON value as the export's text cell: strings as they are, numbers and booleans as
/// JSON writes them, null as an empty cell.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The value the export must hold for `key` of a listed match: crawled text defused.
fn expected(m: &Value, key: &str, csv: bool) -> String {
    let text = cell(&m[key]);
    if csv && m[key].is_string() && text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text
    }
}

/// Checks an export read back against `matches list --json` with the same filters,
/// column by column, and returns its rows keyed by id.
pub(crate) fn check_rows(read: &Value, listed: &[Value], csv: bool) -> Vec<Vec<String>> {
    let header: Vec<&str> = read["header"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert_eq!(header, COLUMNS);
    let rows: Vec<Vec<String>> = read["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().map(str::to_string).unwrap_or_default())
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), listed.len(), "{read}");
    for (row, m) in rows.iter().zip(listed) {
        for (i, key) in COLUMNS.iter().enumerate().take(17) {
            let want = expected(m, key, csv);
            let got = &row[i];
            // Shares are floats: the same number, whatever digits each writer prints.
            if m[*key].is_f64() {
                let (a, b) = (got.parse::<f64>().unwrap(), m[*key].as_f64().unwrap());
                assert!((a - b).abs() < 1e-12, "{key}: {got} vs {want}");
            } else {
                assert_eq!(got, &want, "match {}: {key}", m["id"]);
            }
        }
    }
    rows
}

fn column(name: &str) -> usize {
    COLUMNS.iter().position(|c| *c == name).unwrap()
}

/// The review dates of match 2 (marked infringing once) from `matches show --json`.
fn decided_at(demo: &Demo) -> String {
    let shown = json(&demo.run(&["matches", "show", "2", "--json"]));
    shown["decisions"][0]["decided_at"]
        .as_str()
        .unwrap()
        .to_string()
}

fn check_dates(rows: &[Vec<String>], demo: &Demo) {
    let decided = decided_at(demo);
    for row in rows {
        let (first, last, since) = (
            &row[column("first_decision_at")],
            &row[column("last_decision_at")],
            &row[column("status_since")],
        );
        if row[0] == "2" {
            assert_eq!((first, last, since), (&decided, &decided, &decided));
        } else {
            // Never decided: no decision dates; in its status since it was found.
            assert_eq!((first.as_str(), last.as_str()), ("", ""));
            assert_eq!(since, &row[column("first_seen")]);
        }
    }
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn csv_export_reads_back_with_pythons_csv_module() {
    let demo = Demo::new();
    // To standard output: UTF-8 with a byte order mark.
    let out = demo.run(&["matches", "export", "--format", "csv"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.starts_with(b"\xef\xbb\xbfid,copy_url,"));
    let file = demo.root().join("all.csv");
    write(&file, &out.stdout);
    let read = read_export("csv", &file);
    assert_eq!(read["bom"], true);
    let rows = check_rows(&read, &demo.listed(&[]), true);
    check_dates(&rows, &demo);
    let by_id = |id: &str| rows.iter().find(|r| r[0] == id).unwrap().clone();
    // The formula is text now; the quoted title survived with its comma, quotes and line
    // break; Chinese is intact.
    assert_eq!(
        by_id("3")[column("copy_title")],
        format!("'{FORMULA_TITLE}")
    );
    assert_eq!(by_id("1")[column("copy_title")], QUOTED_TITLE);
    assert!(by_id("2")[column("original_title")].contains("滨江湿地公园"));
    assert_eq!(by_id("2")[column("status")], "infringing");

    // The filters and order are those of `matches list`, into a file.
    let filters = ["--status", "unreviewed", "--sort", "share"];
    let mut args = vec!["matches", "export", "--format", "csv", "--out"];
    let path = demo.root().join("unreviewed.csv");
    args.push(path.to_str().unwrap());
    args.extend(filters);
    let out = demo.run(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    assert!(
        stderr(&out).contains("1 match(es) written to"),
        "{}",
        stderr(&out)
    );
    let rows = check_rows(&read_export("csv", &path), &demo.listed(&filters), true);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0], "3");
}

#[test]
fn xlsx_export_reads_back_with_openpyxl() {
    if !python_needs("openpyxl", "xlsx_export_reads_back_with_openpyxl") {
        return;
    }
    let demo = Demo::new();
    // A workbook needs a file: refused as a usage error before anything is read.
    let out = demo.run(&["matches", "export", "--format", "xlsx"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--format xlsx needs --out FILE"));
    assert!(out.stdout.is_empty());

    let path = demo.root().join("matches.xlsx");
    let out = demo.run(&[
        "matches",
        "export",
        "--format",
        "xlsx",
        "--out",
        path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let read = read_export("xlsx", &path);
    assert_eq!(read["sheet"], "matches");
    // The header row stays in view.
    assert_eq!(read["freeze_panes"], "A2");
    assert!(read["widths"]["B"].as_f64().unwrap() >= 40.0, "{read}");
    let rows = check_rows(&read, &demo.listed(&[]), false);
    check_dates(&rows, &demo);
    // XLSX cells are string cells, never formulas: the text is kept as it was.
    let i3 = rows.iter().position(|r| r[0] == "3").unwrap();
    assert_eq!(rows[i3][column("copy_title")], FORMULA_TITLE);
    let types: Vec<&str> = read["types"][i3]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap_or("-"))
        .collect();
    assert_eq!(types[column("copy_title")], "s");
    assert_eq!(types[column("id")], "n");
    assert_eq!(types[column("containment")], "n");
    assert_eq!(types[column("licensed")], "b");
    // Times are real date cells (openpyxl gives datetimes), equal to the stored times.
    assert_eq!(types[column("first_seen")], "d");
    assert_eq!(types[column("first_decision_at")], "-");
    let i2 = rows.iter().position(|r| r[0] == "2").unwrap();
    assert_eq!(read["types"][i2][column("first_decision_at")], "d");
    assert!(rows[i2][column("copy_title")].contains("濱江溼地公園"));
}

#[test]
fn an_unknown_format_is_a_usage_error() {
    let out = copyhound(&["matches", "export", "--format", "pdf"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("csv"), "{}", stderr(&out));
}
