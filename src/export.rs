//! Exports of matches for people who work in spreadsheets: CSV and XLSX reports of the
//! rows [`Store::export_matches`](crate::store::Store::export_matches) selects, used by
//! `copyhound matches export` and the desk's export links.
//!
//! Pure: rows in, bytes out; no store, no files. Both formats share one column list
//! ([`COLUMNS`]) and one conversion of a row into cells ([`cells`]), so they cannot
//! drift apart or from `matches list --json`, whose keys the headers are.
//!
//! Crawled text is data, never a formula. In CSV a text cell that starts with `=`, `+`,
//! `-`, `@`, a tab or a carriage return gets a leading `'`, which spreadsheet programs
//! show as text (OWASP's advice on CSV injection); XLSX cells are written as string
//! cells, which Excel never evaluates, so they keep their text unchanged.

use rust_xlsxwriter::{Format as CellFormat, FormatAlign, Workbook, XlsxError};

use crate::store::{CaseRecord, ExportRow};

/// The most matches one export holds. An export is a report for people, not a backup
/// (the database is that): 50,000 rows open comfortably in Excel and LibreOffice, and
/// are built in memory in about 100 MB (CSV) or 250 MB (XLSX) at the peak, measured on
/// a store of 60,000 matches. When a filter selects more, the first rows in the
/// requested order are exported and the caller says how many were left out.
pub const MAX_EXPORT_ROWS: usize = 50_000;

/// Excel's limit on the characters of one cell; longer text is cut (with `…`) rather
/// than failing the whole export.
const MAX_CELL_CHARS: usize = 32_767;

/// The number format of date cells in XLSX: ISO 8601 order, in UTC.
const DATE_FORMAT: &str = "yyyy-mm-dd hh:mm:ss";

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// UTF-8 with a byte order mark, RFC 4180.
    Csv,
    /// An Excel workbook with one sheet.
    Xlsx,
}

impl Format {
    /// The file name extension (without the dot).
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
        }
    }

    /// The media type of an HTTP response carrying the export.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }
}

/// Why an export could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot build the XLSX workbook: {0}")]
    Xlsx(#[from] XlsxError),
}

/// One column: its header (the key of `matches list --json`) and its width in XLSX
/// (in characters). What a cell holds, and so how each format writes it, comes with the
/// cell ([`Cell`]).
struct Column {
    name: &'static str,
    width: f64,
}

const fn col(name: &'static str, width: f64) -> Column {
    Column { name, width }
}

/// The columns of every export, in order: those of `matches list --json`, then the
/// review dates.
const COLUMNS: [Column; 20] = [
    col("id", 8.0),
    col("copy_url", 50.0),
    col("copy_host", 22.0),
    col("copy_title", 40.0),
    col("original_id", 11.0),
    col("original_url", 50.0),
    col("original_title", 40.0),
    col("verdict", 9.0),
    col("containment", 12.0),
    col("coverage", 10.0),
    col("copied_chars", 13.0),
    col("status", 14.0),
    col("licensed", 9.0),
    col("first_seen", 20.0),
    col("last_seen", 20.0),
    col("captured_at", 20.0),
    col("remote_ip", 16.0),
    col("first_decision_at", 20.0),
    col("last_decision_at", 20.0),
    col("status_since", 20.0),
];

/// One cell's value; `None` for a missing value (an empty cell).
#[derive(Debug, Clone, PartialEq)]
enum Cell<'a> {
    Text(&'a str),
    Integer(i64),
    Share(f64),
    Flag(bool),
    /// An RFC 3339 UTC time as stored.
    Time(&'a str),
    Empty,
}

/// A row's cells, in [`COLUMNS`] order.
fn cells(row: &ExportRow) -> [Cell<'_>; COLUMNS.len()] {
    fn time(t: Option<&str>) -> Cell<'_> {
        t.map_or(Cell::Empty, Cell::Time)
    }
    let m = &row.summary;
    [
        Cell::Integer(m.id),
        Cell::Text(&m.copy_url),
        Cell::Text(&m.copy_host),
        Cell::Text(&m.copy_title),
        Cell::Integer(m.original_id),
        Cell::Text(&m.original_url),
        Cell::Text(&m.original_title),
        Cell::Text(&m.verdict),
        Cell::Share(m.containment),
        m.coverage.map_or(Cell::Empty, Cell::Share),
        m.copied_chars.map_or(Cell::Empty, |n| {
            Cell::Integer(i64::try_from(n).unwrap_or(i64::MAX))
        }),
        Cell::Text(&m.status),
        Cell::Flag(m.licensed),
        Cell::Time(&m.first_seen),
        Cell::Time(&m.last_seen),
        Cell::Time(&m.captured_at),
        m.remote_ip.as_deref().map_or(Cell::Empty, Cell::Text),
        time(row.first_decision_at.as_deref()),
        time(row.last_decision_at.as_deref()),
        Cell::Time(&row.status_since),
    ]
}

/// Renders `rows` in `format`.
///
/// # Errors
/// [`ExportError::Xlsx`] when the workbook cannot be built (CSV cannot fail).
pub fn render(format: Format, rows: &[ExportRow]) -> Result<Vec<u8>, ExportError> {
    match format {
        Format::Csv => Ok(to_csv(rows)),
        Format::Xlsx => to_xlsx(rows),
    }
}

/// A text cell as CSV shows it: with a leading `'` when a spreadsheet would take it for
/// a formula.
pub fn defuse_formula(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

/// Appends `field` to `out` as RFC 4180 wants it: quoted (inner quotes doubled) when it
/// holds a comma, a quote or a line break.
fn push_csv_field(out: &mut String, field: &str) {
    if field.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(field);
    }
}

/// The CSV export: a UTF-8 byte order mark (Excel otherwise reads the file in the
/// system's legacy code page and garbles Chinese), a header row, CRLF line ends.
pub fn to_csv(rows: &[ExportRow]) -> Vec<u8> {
    let header: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
    write_csv(&header, rows.iter().map(cells))
}

/// A CSV file of `rows` under `header`, as [`to_csv`] writes it: BOM, RFC 4180 quoting,
/// CRLF, formula guard on text cells.
fn write_csv<'a, R>(header: &[&str], rows: impl Iterator<Item = R>) -> Vec<u8>
where
    R: AsRef<[Cell<'a>]>,
{
    let mut out = String::from("\u{feff}");
    out.push_str(&header.join(","));
    out.push_str("\r\n");
    for row in rows {
        for (i, cell) in row.as_ref().iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            match cell {
                Cell::Text(t) => push_csv_field(&mut out, &defuse_formula(t)),
                Cell::Integer(n) => out.push_str(&n.to_string()),
                Cell::Share(x) => out.push_str(&x.to_string()),
                Cell::Flag(b) => out.push_str(if *b { "true" } else { "false" }),
                // Times are stored as RFC 3339 text and exported as such.
                Cell::Time(t) => push_csv_field(&mut out, t),
                Cell::Empty => {}
            }
        }
        out.push_str("\r\n");
    }
    out.into_bytes()
}

/// The columns of the cases export (the desk's `/cases.csv`), in order.
pub const CASE_COLUMNS: [&str; 14] = [
    "case_id",
    "match_id",
    "copy_url",
    "original_title",
    "state",
    "opened_at",
    "state_since",
    "notice_at",
    "notice_channel",
    "notice_recipient",
    "last_recheck_at",
    "last_recheck_result",
    "outcome",
    "overdue",
];

/// The cases export: one row per case (with whether its notice is overdue), in the
/// CSV form of [`to_csv`] (BOM, formula guard on everything strangers wrote: the copy
/// URL, titles, recipients).
pub fn cases_to_csv(cases: &[(CaseRecord, bool)]) -> Vec<u8> {
    fn opt<'a>(v: Option<&'a String>, kind: fn(&'a str) -> Cell<'a>) -> Cell<'a> {
        v.map_or(Cell::Empty, |s| kind(s))
    }
    let rows = cases.iter().map(|(c, overdue)| {
        [
            Cell::Integer(c.id),
            Cell::Integer(c.match_id),
            Cell::Text(&c.copy_url),
            Cell::Text(&c.original_title),
            Cell::Text(&c.state),
            Cell::Time(&c.opened_at),
            Cell::Time(&c.state_since),
            opt(c.notice_at.as_ref(), Cell::Time),
            opt(c.notice_channel.as_ref(), Cell::Text),
            opt(c.notice_recipient.as_ref(), Cell::Text),
            opt(c.last_recheck_at.as_ref(), Cell::Time),
            opt(c.last_recheck_result.as_ref(), Cell::Text),
            opt(c.outcome.as_ref(), Cell::Text),
            Cell::Flag(*overdue),
        ]
    });
    write_csv(&CASE_COLUMNS, rows)
}

/// Text cut to Excel's cell limit.
fn cell_text(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().count() <= MAX_CELL_CHARS {
        text.into()
    } else {
        let mut cut: String = text.chars().take(MAX_CELL_CHARS - 1).collect();
        cut.push('…');
        cut.into()
    }
}

/// The XLSX export: one sheet `matches` with a bold header row that stays in view
/// (frozen) and carries filter buttons, column widths fitted to the contents, shares
/// as numbers, and times as real date cells (UTC, shown `yyyy-mm-dd hh:mm:ss`).
///
/// # Errors
/// [`ExportError::Xlsx`] when the workbook cannot be built.
pub fn to_xlsx(rows: &[ExportRow]) -> Result<Vec<u8>, ExportError> {
    let mut workbook = Workbook::new();
    let header = CellFormat::new().set_bold().set_align(FormatAlign::Center);
    let date = CellFormat::new().set_num_format(DATE_FORMAT);
    let share = CellFormat::new().set_num_format("0.000");
    let sheet = workbook.add_worksheet();
    sheet.set_name("matches")?;
    for (c, column) in (0u16..).zip(COLUMNS.iter()) {
        sheet.write_string_with_format(0, c, column.name, &header)?;
        sheet.set_column_width(c, column.width)?;
    }
    for (r, row) in (1u32..).zip(rows) {
        for (c, cell) in (0u16..).zip(cells(row).iter()) {
            match cell {
                Cell::Text(t) => {
                    sheet.write_string(r, c, cell_text(t))?;
                }
                // Ids and lengths are far below 2^53, so a float holds them exactly.
                Cell::Integer(n) => {
                    sheet.write_number(r, c, *n as f64)?;
                }
                Cell::Share(x) => {
                    sheet.write_number_with_format(r, c, *x, &share)?;
                }
                Cell::Flag(b) => {
                    sheet.write_boolean(r, c, *b)?;
                }
                Cell::Time(t) => match chrono::DateTime::parse_from_rfc3339(t) {
                    Ok(at) => {
                        sheet.write_datetime_with_format(r, c, at.naive_utc(), &date)?;
                    }
                    // Only a damaged row holds anything else; keep its text.
                    Err(_) => {
                        sheet.write_string(r, c, cell_text(t))?;
                    }
                },
                Cell::Empty => {}
            }
        }
    }
    let last_col = (COLUMNS.len() - 1) as u16;
    sheet.set_freeze_panes(1, 0)?;
    sheet.autofilter(0, 0, rows.len() as u32, last_col)?;
    Ok(workbook.save_to_buffer()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MatchSummary;

    fn row(title: &str) -> ExportRow {
        ExportRow {
            summary: MatchSummary {
                id: 7,
                copy_url: "http://copier.example/a?x=1,2".into(),
                copy_host: "copier.example".into(),
                copy_title: title.into(),
                original_id: 3,
                original_url: "https://news.example/1".into(),
                original_title: "江城大桥通车".into(),
                verdict: "copy".into(),
                containment: 0.875,
                coverage: None,
                copied_chars: Some(1200),
                status: "unreviewed".into(),
                licensed: false,
                first_seen: "2026-11-26T10:00:00Z".into(),
                last_seen: "2026-11-27T10:00:00Z".into(),
                captured_at: "2026-11-26T10:00:00Z".into(),
                remote_ip: None,
            },
            first_decision_at: None,
            last_decision_at: None,
            status_since: "2026-11-26T10:00:00Z".into(),
        }
    }

    #[test]
    fn formulas_are_defused_and_text_is_left_alone() {
        for (input, expected) in [
            ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
            ("+1", "'+1"),
            ("-2", "'-2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("江城 = 大桥", "江城 = 大桥"),
            ("", ""),
        ] {
            assert_eq!(defuse_formula(input), expected, "{input:?}");
        }
    }

    #[test]
    fn csv_has_a_bom_a_header_and_rfc4180_quoting() {
        let csv = String::from_utf8(to_csv(&[row("say \"hi\"\nnow")])).unwrap();
        assert!(csv.starts_with("\u{feff}id,copy_url,"), "{csv}");
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert!(lines[0].ends_with("last_decision_at,status_since"));
        assert!(
            lines[1].starts_with(
                "7,\"http://copier.example/a?x=1,2\",copier.example,\"say \"\"hi\"\"\nnow\",3,"
            ),
            "{}",
            lines[1]
        );
        assert!(lines[1].contains(",0.875,,1200,unreviewed,false,2026-11-26T10:00:00Z,"));
        // No remote address, no decisions: empty cells; the status since first seen.
        assert!(
            lines[1].ends_with(",,,,2026-11-26T10:00:00Z"),
            "{}",
            lines[1]
        );
        assert_eq!(lines.len(), 3, "{csv}");
    }

    #[test]
    fn xlsx_is_a_zip_and_long_cells_are_cut() {
        let bytes = to_xlsx(&[row(&"长".repeat(40_000))]).unwrap();
        assert!(bytes.starts_with(b"PK"));
        assert_eq!(
            cell_text(&"x".repeat(40_000)).chars().count(),
            MAX_CELL_CHARS
        );
    }
}
