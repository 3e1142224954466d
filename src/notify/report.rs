//! The alert's content: the report on a match (or a digest of several) in the outlet's
//! language, as plain text and HTML, with a draft takedown notice for counsel.
//!
//! Every string that came from a crawled page (titles, URLs, passages) is hostile until
//! proven otherwise. The HTML goes through [`escape_html`] (no markup can be injected),
//! single-line fields in both forms through [`one_line`] (no forged lines), and the
//! subject through [`subject_text`] (no header injection; lettre then encodes it per
//! RFC 2047). Rendering is pure: it reads no files and no clock.
//!
//! The takedown notice is a draft for counsel to review and sign. copyhound never sends
//! it to a third party.

use std::fmt::Write as _;

use crate::config::{Contact, Language, Outlet, Role};
use crate::evidence::{CaseAlert, Escalation, MatchFacts};

/// Passages shown in a report; the rest are in the attached JSON and the WARC.
pub const MAX_REPORT_PASSAGES: usize = 20;

/// Characters of one passage shown in a report.
pub const MAX_REPORT_PASSAGE_CHARS: usize = 1500;

/// Matches listed in one digest email.
pub const MAX_DIGEST_ITEMS: usize = 200;

/// Redirect hops listed in a report (the crawler follows at most a handful).
const MAX_REPORT_REDIRECTS: usize = 20;

/// Characters of a subject built from a crawled title.
const MAX_SUBJECT_TITLE_CHARS: usize = 60;

/// Characters of a reviewer's note shown in an escalation (the desk keeps at most
/// `review::MAX_NOTE_CHARS`; this bounds a hand-made alert row all the same).
const MAX_NOTE_CHARS: usize = 4000;

/// The evidence file of a match, as the report names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceRef {
    pub file_name: String,
    pub sha256: String,
}

/// One match to report.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportItem {
    pub facts: MatchFacts,
    pub evidence: Option<EvidenceRef>,
}

/// Who the report is from and for.
#[derive(Debug, Clone, Copy)]
pub struct ReportContext<'a> {
    pub outlet: &'a Outlet,
    pub contacts: &'a [Contact],
    pub role: Role,
}

/// A rendered message body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Plain Unicode, one line, no control characters (lettre encodes it).
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Escapes text for HTML element content and attribute values; control characters
/// other than newline and tab are dropped.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// One line of crawled text: line breaks and other control characters become spaces,
/// runs of spaces collapse, and the result is cut at `max` characters.
pub fn one_line(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut last_space = true;
    for c in text.chars() {
        let c = if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
            ' '
        } else {
            c
        };
        if c == ' ' {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.push(c);
            last_space = false;
        }
    }
    let trimmed = out.trim_end();
    if trimmed.chars().count() > max {
        let mut s: String = trimmed.chars().take(max).collect();
        s.push('…');
        s
    } else {
        trimmed.to_string()
    }
}

/// A subject line: one line, bounded, free of anything that could end the header.
pub fn subject_text(text: &str) -> String {
    one_line(text, 200)
}

/// Text of several lines for a report: control characters other than newlines
/// dropped, cut at `max` characters.
fn block_text(text: &str, max: usize) -> String {
    let clean: String = text
        .chars()
        .filter(|c| !c.is_control() || *c == '\n')
        .collect();
    if clean.chars().count() > max {
        let mut s: String = clean.chars().take(max).collect();
        s.push('…');
        s
    } else {
        clean
    }
}

/// Passage text for a report: control characters other than newlines dropped, cut.
fn passage_text(text: &str) -> String {
    block_text(text, MAX_REPORT_PASSAGE_CHARS)
}

/// A reviewer's note for a report: line breaks of any convention kept as newlines (a
/// note typed in a browser arrives with CR LF), other control characters dropped, cut.
fn note_text(note: &str) -> String {
    block_text(
        note.trim()
            .replace("\r\n", "\n")
            .replace('\r', "\n")
            .as_str(),
        MAX_NOTE_CHARS,
    )
}

struct Labels {
    subject_one: &'static str,
    /// Ends with its own separator (a full-width colon in Chinese).
    subject_confirmed: &'static str,
    escalation_intro: &'static str,
    decided_by: &'static str,
    decided_at: &'static str,
    note: &'static str,
    no_note: &'static str,
    subject_digest: &'static str,
    intro: &'static str,
    original: &'static str,
    copy: &'static str,
    title: &'static str,
    url: &'static str,
    published: &'static str,
    first_seen: &'static str,
    text_sha256: &'static str,
    host: &'static str,
    ip: &'static str,
    redirects: &'static str,
    captured: &'static str,
    share: &'static str,
    coverage: &'static str,
    copied_chars: &'static str,
    /// After a number of characters ("1234 字", "1234 characters").
    chars_unit: &'static str,
    verdict: &'static str,
    verdict_copy: &'static str,
    verdict_partial: &'static str,
    licensed: &'static str,
    passages: &'static str,
    original_side: &'static str,
    copy_side: &'static str,
    more_passages: &'static str,
    evidence: &'static str,
    evidence_missing: &'static str,
    /// Which capture the evidence is: the row's label.
    evidence_source: &'static str,
    /// A copy found in a web archive, no live capture yet; placeholders `{source}`,
    /// `{range}`.
    source_archived: &'static str,
    /// The live capture is primary; placeholders `{at}`, `{source}`, `{range}`, `{file}`.
    source_live: &'static str,
    /// `{offset}` and `{length}` of an archived record.
    archive_range: &'static str,
    /// `{offset}` of a record that shares a gzip member.
    archive_offset_only: &'static str,
    match_id: &'static str,
    unknown: &'static str,
    digest_intro: &'static str,
    digest_more: &'static str,
    /// Ends with its own separator, like `subject_confirmed`.
    subject_reminder: &'static str,
    subject_reappeared: &'static str,
    reminder_intro: &'static str,
    reappeared_intro: &'static str,
    case_id: &'static str,
    notice: &'static str,
    deadline: &'static str,
    rechecked: &'static str,
    recheck_result: &'static str,
    recheck_evidence: &'static str,
}

const ZH: Labels = Labels {
    subject_one: "发现疑似侵权转载",
    subject_confirmed: "经审核确认侵权：",
    escalation_intro: "经审核确认侵权：审核人员已确认以下转载构成侵权，现提交法律顾问处理。证据文件与删除通知书草稿见下文及附件。",
    decided_by: "确认人",
    decided_at: "确认时间（UTC）",
    note: "审核备注",
    no_note: "（无）",
    subject_digest: "条新的疑似侵权转载（汇总）",
    intro: "copyhound 发现以下网页转载了本社作品。证据文件已附上，请审阅。",
    original: "原创作品",
    copy: "转载网页",
    title: "标题",
    url: "网址",
    published: "发布时间",
    first_seen: "本系统首次收录时间",
    text_sha256: "正文 SHA-256",
    host: "网站",
    ip: "IP 地址",
    redirects: "重定向经过",
    captured: "取证时间（UTC）",
    share: "被转载比例",
    coverage: "转载文字占转载网页的比例",
    copied_chars: "转载文字长度（原文字数）",
    chars_unit: "字",
    verdict: "判定",
    verdict_copy: "全文转载（copy）",
    verdict_partial: "部分转载（partial）",
    licensed: "该网站在授权合作名单中：请核实授权范围。",
    passages: "对照段落（转载文字以高亮标出）",
    original_side: "原文",
    copy_side: "转载网页文字",
    more_passages: "另有段落未列出，见附件 JSON 与证据文件",
    evidence: "证据文件（WARC）",
    evidence_missing: "（无证据文件）",
    evidence_source: "证据来源",
    source_archived: "第三方网页存档（非本系统取证）：{source}，{range}。已排队由本系统实时取证；网页仍在线时，实时取证将成为主要证据。",
    source_live: "本系统于 {at} 实时取证（主要证据）；第三方网页存档 {source}（{range}）为辅助证据，证据文件 {file}。",
    archive_range: "记录位于第 {offset} 字节，长度 {length} 字节",
    archive_offset_only: "记录位于第 {offset} 字节",
    match_id: "匹配编号（审阅页面）",
    unknown: "未知",
    digest_intro: "短时间内发现多条疑似侵权转载，汇总如下。每条的证据文件均保存在服务器上，附件中包含匹配的 JSON。",
    digest_more: "条未列出，请在审阅页面查看",
    subject_reminder: "删除期限已过，转载仍在线：",
    subject_reappeared: "已删除的转载重新出现：",
    reminder_intro: "删除通知发出后期限已过，复查发现以下转载仍在线。请考虑催告或进一步处理（平台投诉、诉讼）。复查的证据文件见附件。",
    reappeared_intro: "此前已删除的转载重新出现，案件已重新开启。复查的证据文件见附件。",
    case_id: "案件编号",
    notice: "删除通知",
    deadline: "删除期限",
    rechecked: "复查时间（UTC）",
    recheck_result: "复查结果",
    recheck_evidence: "复查证据文件（WARC）",
};

const EN: Labels = Labels {
    subject_one: "Suspected copy found",
    subject_confirmed: "Confirmed infringement: ",
    escalation_intro: "Confirmed infringement: a reviewer confirmed that the page below infringes our copyright, and escalates it to counsel. The evidence file is attached and the draft takedown notice follows.",
    decided_by: "Confirmed by",
    decided_at: "Confirmed at (UTC)",
    note: "Reviewer's note",
    no_note: "(none)",
    subject_digest: "new suspected copies (digest)",
    intro: "copyhound found a page that copies one of our articles. The evidence file is attached for review.",
    original: "Original article",
    copy: "Copying page",
    title: "Title",
    url: "URL",
    published: "Published",
    first_seen: "First seen by copyhound",
    text_sha256: "Text SHA-256",
    host: "Host",
    ip: "IP address",
    redirects: "Reached through redirects",
    captured: "Captured (UTC)",
    share: "Share of the original copied",
    coverage: "Share of the copying page that is copied text",
    copied_chars: "Length of the copied text (characters of the original)",
    chars_unit: "characters",
    verdict: "Verdict",
    verdict_copy: "copy (most of the original)",
    verdict_partial: "partial (a substantial part)",
    licensed: "This site is on the licensed-partner list: check the licence's scope.",
    passages: "Aligned passages (copied text highlighted)",
    original_side: "Original",
    copy_side: "Text on the copying page",
    more_passages: "more passages not shown: see the attached JSON and the evidence file",
    evidence: "Evidence file (WARC)",
    evidence_missing: "(no evidence file)",
    evidence_source: "Evidence source",
    source_archived: "Archived capture by a third party (not copyhound's own): {source}, {range}. A live capture by copyhound is queued; when the page is still online it becomes the primary evidence.",
    source_live: "Live capture by copyhound at {at} (primary evidence); the third party's archived capture {source} ({range}) is secondary, evidence file {file}.",
    archive_range: "record at byte {offset}, {length} bytes",
    archive_offset_only: "record at byte {offset}",
    match_id: "Match id (review screen)",
    unknown: "unknown",
    digest_intro: "Several suspected copies were found in a short time; they are listed together here. Each one's evidence file is kept on the server; the attached JSON has the matches.",
    digest_more: "more not listed: see the review screen",
    subject_reminder: "Deadline passed, copy still online: ",
    subject_reappeared: "Removed copy is back online: ",
    reminder_intro: "The takedown notice's deadline has passed and a re-check found the copy below still online. Consider a reminder or a further step (a platform complaint, a lawsuit). The re-check's evidence file is attached.",
    reappeared_intro: "A copy that had been removed is back online; its case has been reopened. The re-check's evidence file is attached.",
    case_id: "Case id",
    notice: "Takedown notice",
    deadline: "Deadline",
    rechecked: "Re-checked (UTC)",
    recheck_result: "Result",
    recheck_evidence: "Re-check evidence file (WARC)",
};

fn labels(language: Language) -> &'static Labels {
    match language {
        Language::ZhCn => &ZH,
        Language::En => &EN,
    }
}

/// Where an archived record is, in words: `with_length` with its `{offset}` and
/// `{length}`, or `offset_only` for a record that shares a gzip member (no length).
pub fn archive_range(
    offset: u64,
    length: Option<u64>,
    with_length: &str,
    offset_only: &str,
) -> String {
    match length {
        Some(length) => with_length
            .replace("{offset}", &offset.to_string())
            .replace("{length}", &length.to_string()),
        None => offset_only.replace("{offset}", &offset.to_string()),
    }
}

/// Which capture the evidence is, for a copy found in a web archive. The source is a
/// file name or URL from the operator's command line, still folded to one line.
fn evidence_source(a: &crate::evidence::ArchiveFacts, l: &Labels) -> String {
    let range = archive_range(a.offset, a.length, l.archive_range, l.archive_offset_only);
    let source = one_line(&a.source, 2000);
    match &a.live_captured_at {
        None => l
            .source_archived
            .replace("{range}", &range)
            .replace("{source}", &source),
        Some(at) => l
            .source_live
            .replace("{range}", &range)
            .replace("{at}", at)
            .replace(
                "{file}",
                &one_line(a.archive_evidence_file.as_deref().unwrap_or("-"), 300),
            )
            .replace("{source}", &source),
    }
}

fn verdict_label(verdict: &str, l: &Labels) -> String {
    match verdict {
        "copy" => l.verdict_copy.to_string(),
        "partial" => l.verdict_partial.to_string(),
        other => one_line(other, 20),
    }
}

fn percent(containment: f64) -> String {
    format!("{:.0}%", (containment * 100.0).clamp(0.0, 100.0))
}

/// `1234 字` / `1234 characters`.
fn chars(n: u64, l: &Labels) -> String {
    format!("{n} {}", l.chars_unit)
}

/// The report on one match, with the draft takedown notice below it (for counsel only:
/// licensing staff get the report alone). A reviewer's escalation (`facts.escalation`)
/// says so in the subject and opens the body with who confirmed it, when, and why.
pub fn render_match(item: &ReportItem, cx: &ReportContext<'_>) -> Rendered {
    let l = labels(cx.outlet.language);
    let f = &item.facts;
    let title = one_line(&f.original.title, MAX_SUBJECT_TITLE_CHARS);
    let host = one_line(&f.copy.host, 80);
    // The title and host are crawled; subject_text folds the whole line once more, so
    // nothing in it can end the header.
    let subject = subject_text(&match (&f.case, &f.escalation) {
        (Some(c), _) => format!(
            "[copyhound] {}{title} — {host} ({})",
            if c.kind == "reappeared" {
                l.subject_reappeared
            } else {
                l.subject_reminder
            },
            percent(c.containment.unwrap_or(f.containment))
        ),
        (None, Some(_)) => format!(
            "[copyhound] {}{title} — {host} ({})",
            l.subject_confirmed,
            percent(f.containment)
        ),
        (None, None) if super::licence::is_noncompliant(f) => format!(
            "[copyhound] {}{title} — {host} ({})",
            super::licence::subject_prefix(cx.outlet.language),
            percent(f.containment)
        ),
        (None, None) => format!(
            "[copyhound] {}: {title} — {host} ({})",
            l.subject_one,
            percent(f.containment)
        ),
    });
    let mut text = String::new();
    let mut html = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body style=\"font-family:sans-serif\">\n",
    );
    match (&f.case, &f.escalation) {
        (Some(c), _) => write_case(&mut text, &mut html, c, l),
        (None, Some(e)) => write_escalation(&mut text, &mut html, e, l),
        (None, None) if super::licence::is_noncompliant(f) => {
            if let Some(lf) = &f.licence {
                super::licence::write_request(&mut text, &mut html, f, lf, cx.outlet, cx.contacts);
            }
        }
        (None, None) => {
            let _ = writeln!(text, "{}\n", l.intro);
            let _ = writeln!(html, "<p>{}</p>", escape_html(l.intro));
            if let Some(line) = super::licence::outside_validity(f, cx.outlet.language) {
                let _ = writeln!(text, "{line}\n");
                let _ = writeln!(html, "<p><b>{}</b></p>", escape_html(&line));
            }
        }
    }
    write_match(&mut text, &mut html, item, l, true);
    if cx.role == Role::Legal {
        let notice = takedown_notice(&[item], cx);
        let _ = write!(text, "\n\n{}", notice.text);
        let _ = write!(html, "<hr>\n{}", notice.html);
    }
    html.push_str("</body></html>\n");
    Rendered {
        subject,
        text,
        html,
    }
}

/// The body of the report on one match as an HTML fragment: the original and the copy
/// (redirects, IP, capture time), the figures and the passages side by side, exactly as
/// the alerts show them, every crawled string escaped. The evidence report for counsel
/// (`evidence::report`) embeds it, so both documents state a match the same way.
pub fn match_html(item: &ReportItem, language: Language) -> String {
    let mut text = String::new();
    let mut html = String::new();
    write_match(&mut text, &mut html, item, labels(language), true);
    html
}

/// One email for many matches: a short entry per match (no passages), and for counsel a
/// draft notice covering them all.
pub fn render_digest(items: &[ReportItem], cx: &ReportContext<'_>) -> Rendered {
    let l = labels(cx.outlet.language);
    let subject = match cx.outlet.language {
        Language::ZhCn => format!("[copyhound] {} {}", items.len(), l.subject_digest),
        Language::En => format!("[copyhound] {} {}", items.len(), l.subject_digest),
    };
    let mut text = format!("{}\n\n", l.digest_intro);
    let mut html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body style=\"font-family:sans-serif\">\n<p>{}</p>\n",
        escape_html(l.digest_intro)
    );
    for (i, item) in items.iter().take(MAX_DIGEST_ITEMS).enumerate() {
        let _ = writeln!(text, "— {} —", i + 1);
        let _ = writeln!(html, "<h3>{}</h3>", i + 1);
        if let Some(c) = &item.facts.case {
            write_case(&mut text, &mut html, c, l);
        } else if let Some(e) = &item.facts.escalation {
            write_escalation(&mut text, &mut html, e, l);
        } else if let Some(lf) = item
            .facts
            .licence
            .as_ref()
            .filter(|_| super::licence::is_noncompliant(&item.facts))
        {
            super::licence::write_request(
                &mut text,
                &mut html,
                &item.facts,
                lf,
                cx.outlet,
                cx.contacts,
            );
        }
        write_match(&mut text, &mut html, item, l, false);
        text.push('\n');
    }
    if items.len() > MAX_DIGEST_ITEMS {
        let more = format!("{} {}", items.len() - MAX_DIGEST_ITEMS, l.digest_more);
        let _ = writeln!(text, "{more}");
        let _ = writeln!(html, "<p>{}</p>", escape_html(&more));
    }
    if cx.role == Role::Legal {
        let shown: Vec<&ReportItem> = items.iter().take(MAX_DIGEST_ITEMS).collect();
        let notice = takedown_notice(&shown, cx);
        let _ = write!(text, "\n{}", notice.text);
        let _ = write!(html, "<hr>\n{}", notice.html);
    }
    html.push_str("</body></html>\n");
    Rendered {
        subject: subject_text(&subject),
        text,
        html,
    }
}

/// The opening of a case's alert: why (a deadline passed, a copy came back), the
/// notice and the re-check with its evidence file. Every value is one line, escaped in
/// the HTML.
fn write_case(text: &mut String, html: &mut String, c: &CaseAlert, l: &Labels) {
    let intro = if c.kind == "reappeared" {
        l.reappeared_intro
    } else {
        l.reminder_intro
    };
    let notice = match (&c.notice_at, &c.channel, &c.recipient) {
        (Some(at), channel, recipient) => format!(
            "{} {} {}",
            at,
            channel.as_deref().unwrap_or("-"),
            recipient.as_deref().unwrap_or("-")
        ),
        _ => l.no_note.to_string(),
    };
    let result = match (c.http_status, c.containment) {
        (Some(status), Some(share)) => format!("{} (HTTP {status}, {})", c.result, percent(share)),
        (Some(status), None) => format!("{} (HTTP {status})", c.result),
        _ => c.result.clone(),
    };
    let rows = [
        (l.case_id, c.case_id.to_string()),
        (l.notice, notice),
        (
            l.deadline,
            c.deadline_at.clone().unwrap_or_else(|| "-".into()),
        ),
        (l.rechecked, c.checked_at.clone()),
        (l.recheck_result, result),
        (
            l.recheck_evidence,
            c.evidence_file
                .clone()
                .unwrap_or_else(|| l.evidence_missing.to_string()),
        ),
    ];
    let _ = writeln!(text, "{intro}");
    let _ = writeln!(
        html,
        "<p><b>{}</b></p>\n<table cellpadding=\"3\">",
        escape_html(intro)
    );
    for (label, value) in rows {
        let value = one_line(&value, 500);
        let _ = writeln!(text, "  {label}: {value}");
        let _ = writeln!(
            html,
            "<tr><th align=\"left\">{}</th><td>{}</td></tr>",
            escape_html(label),
            escape_html(&value)
        );
    }
    text.push('\n');
    html.push_str("</table>\n");
}

/// The opening of an escalation: the confirmation, who decided, when, and the note.
/// The reviewer's name is one line; the note keeps its line breaks, indented in the text
/// and as `<br>` in the (escaped) HTML.
fn write_escalation(text: &mut String, html: &mut String, e: &Escalation, l: &Labels) {
    let note = note_text(&e.note);
    let note = if note.is_empty() {
        l.no_note.to_string()
    } else {
        note
    };
    let by = one_line(&e.decided_by, 200);
    let at = one_line(&e.decided_at, 64);
    let _ = writeln!(text, "{}", l.escalation_intro);
    let _ = writeln!(text, "  {}: {by}", l.decided_by);
    let _ = writeln!(text, "  {}: {at}", l.decided_at);
    let _ = writeln!(
        text,
        "  {}:\n    {}\n",
        l.note,
        note.replace('\n', "\n    ")
    );
    let _ = writeln!(
        html,
        "<p><b>{}</b></p>\n<table cellpadding=\"3\">\n<tr><th align=\"left\">{}</th><td>{}</td></tr>\n<tr><th align=\"left\">{}</th><td>{}</td></tr>\n<tr><th align=\"left\" valign=\"top\">{}</th><td>{}</td></tr>\n</table>",
        escape_html(l.escalation_intro),
        escape_html(l.decided_by),
        escape_html(&by),
        escape_html(l.decided_at),
        escape_html(&at),
        escape_html(l.note),
        escape_html(&note).replace('\n', "<br>")
    );
}

fn write_match(
    text: &mut String,
    html: &mut String,
    item: &ReportItem,
    l: &Labels,
    passages: bool,
) {
    let f = &item.facts;
    let unknown = l.unknown.to_string();
    let rows_original = [
        (l.title, one_line(&f.original.title, 300)),
        (l.url, one_line(&f.original.url, 2000)),
        (
            l.published,
            f.original.published.clone().unwrap_or(unknown.clone()),
        ),
        (l.first_seen, f.original.first_seen.clone()),
        (l.text_sha256, f.original.text_sha256.clone()),
    ];
    let mut rows_copy = vec![
        (l.title, one_line(&f.copy.title, 300)),
        (l.url, one_line(&f.copy.url, 2000)),
        (l.host, one_line(&f.copy.host, 300)),
        (l.ip, f.copy.ip.clone().unwrap_or(unknown.clone())),
        (l.captured, f.copy.captured_at.clone()),
    ];
    if !f.copy.redirects.is_empty() {
        // `first (302) → second (301) → the copy`: how the copy was reached.
        let chain: Vec<String> = f
            .copy
            .redirects
            .iter()
            .take(MAX_REPORT_REDIRECTS)
            .map(|h| format!("{} ({})", one_line(&h.url, 2000), h.status))
            .chain(std::iter::once(one_line(&f.copy.url, 2000)))
            .collect();
        rows_copy.insert(2, (l.redirects, chain.join(" → ")));
    }
    let evidence = item.evidence.as_ref().map_or_else(
        || l.evidence_missing.to_string(),
        |e| format!("{} (SHA-256 {})", one_line(&e.file_name, 300), e.sha256),
    );
    let match_id = f
        .match_id
        .map_or_else(|| unknown.clone(), |id| id.to_string());
    // Coverage and the copied length are absent from matches found before they were
    // measured: no row rather than a made-up figure.
    let summary: Vec<(&str, String)> = [
        Some((l.share, percent(f.containment))),
        f.coverage.map(|c| (l.coverage, percent(c))),
        f.copied_chars.map(|n| (l.copied_chars, chars(n, l))),
        Some((l.verdict, verdict_label(&f.verdict, l))),
        Some((l.evidence, evidence)),
        f.copy
            .archive
            .as_ref()
            .map(|a| (l.evidence_source, evidence_source(a, l))),
        Some((l.match_id, match_id)),
    ]
    .into_iter()
    .flatten()
    .collect();
    for (heading, rows) in [(l.original, &rows_original[..]), (l.copy, &rows_copy[..])] {
        let _ = writeln!(text, "{heading}");
        let _ = writeln!(
            html,
            "<h4>{}</h4>\n<table cellpadding=\"3\">",
            escape_html(heading)
        );
        for (k, v) in rows {
            let _ = writeln!(text, "  {k}: {v}");
            let _ = writeln!(
                html,
                "<tr><th align=\"left\">{}</th><td>{}</td></tr>",
                escape_html(k),
                escape_html(v)
            );
        }
        let _ = writeln!(html, "</table>");
    }
    let _ = writeln!(html, "<table cellpadding=\"3\">");
    for (k, v) in &summary {
        let _ = writeln!(text, "{k}: {v}");
        let _ = writeln!(
            html,
            "<tr><th align=\"left\">{}</th><td>{}</td></tr>",
            escape_html(k),
            escape_html(v)
        );
    }
    let _ = writeln!(html, "</table>");
    if f.licensed {
        let _ = writeln!(text, "{}", l.licensed);
        let _ = writeln!(html, "<p><b>{}</b></p>", escape_html(l.licensed));
    }
    if !passages || f.passages.is_empty() {
        return;
    }
    let _ = writeln!(text, "\n{}", l.passages);
    let _ = writeln!(
        html,
        "<h4>{}</h4>\n<table border=\"1\" cellpadding=\"4\" style=\"border-collapse:collapse\">\n<tr><th>{}</th><th>{}</th></tr>",
        escape_html(l.passages),
        escape_html(l.original_side),
        escape_html(l.copy_side)
    );
    for (i, p) in f.passages.iter().take(MAX_REPORT_PASSAGES).enumerate() {
        let original = passage_text(&p.original_text);
        let copied = passage_text(&p.copy_text);
        let _ = writeln!(
            text,
            "[{}] {} {}..{}:\n    {}\n    {} {}..{}:\n    >>> {} <<<",
            i + 1,
            l.original_side,
            p.original_start,
            p.original_end,
            original.replace('\n', "\n    "),
            l.copy_side,
            p.copy_start,
            p.copy_end,
            copied.replace('\n', "\n    ")
        );
        let _ = writeln!(
            html,
            "<tr><td valign=\"top\">{}</td><td valign=\"top\"><mark>{}</mark></td></tr>",
            escape_html(&original).replace('\n', "<br>"),
            escape_html(&copied).replace('\n', "<br>")
        );
    }
    let _ = writeln!(html, "</table>");
    let more = f.passages.len().saturating_sub(MAX_REPORT_PASSAGES) + f.passages_omitted;
    if more > 0 {
        let line = format!("{more} {}", l.more_passages);
        let _ = writeln!(text, "{line}");
        let _ = writeln!(html, "<p>{}</p>", escape_html(&line));
    }
}

/// The draft takedown notice for one match as plain text, as counsel receives it in an
/// alert (the review desk offers it as a download).
pub fn notice_text(item: &ReportItem, outlet: &Outlet, contacts: &[Contact]) -> String {
    let cx = ReportContext {
        outlet,
        contacts,
        role: Role::Legal,
    };
    takedown_notice(&[item], &cx).text
}

/// The draft takedown notice for `items` (all against the same outlet).
fn takedown_notice(items: &[&ReportItem], cx: &ReportContext<'_>) -> Rendered {
    let o = cx.outlet;
    let legal = cx.contacts.iter().find(|c| c.role == Role::Legal);
    let contact = legal.map_or_else(String::new, |c| {
        let mut s = format!("{} <{}>", c.name, c.email);
        if let Some(p) = &c.phone {
            s.push_str(", ");
            s.push_str(p);
        }
        s
    });
    let mut lines: Vec<String> = Vec::new();
    match o.language {
        Language::ZhCn => {
            lines.push("========== 删除通知书（草稿） ==========".into());
            lines.push("本草稿供法律顾问审阅并签署，copyhound 不会自动向任何第三方发送。依据《信息网络传播权保护条例》第十四条：".into());
            lines.push("一、权利人的名称、联系方式和地址".into());
            lines.push(format!("    权利人：{}", o.name));
            lines.push(format!("    地址：{}", o.address));
            lines.push(format!("    网站：{}", o.website));
            lines.push(format!("    联系人：{contact}"));
            lines.push("二、要求删除或者断开链接的侵权作品的名称和网络地址".into());
            for (i, item) in items.iter().enumerate() {
                let f = &item.facts;
                lines.push(format!(
                    "    {}. 作品《{}》（原文 {}）被转载于：{}（{}，IP {}，取证时间 {}）",
                    i + 1,
                    one_line(&f.original.title, 300),
                    one_line(&f.original.url, 2000),
                    one_line(&f.copy.url, 2000),
                    one_line(&f.copy.host, 300),
                    f.copy.ip.as_deref().unwrap_or("未知"),
                    f.copy.captured_at
                ));
            }
            lines.push("三、构成侵权的初步证明材料".into());
            for (i, item) in items.iter().enumerate() {
                let f = &item.facts;
                let evidence = item.evidence.as_ref().map_or_else(
                    || "（无证据文件）".to_string(),
                    |e| {
                        format!(
                            "证据文件 {}，SHA-256 {}",
                            one_line(&e.file_name, 300),
                            e.sha256
                        )
                    },
                );
                let copied = f
                    .copied_chars
                    .map_or_else(String::new, |n| format!("（{n} 字）"));
                lines.push(format!(
                    "    {}. 本社于 {} 首次发布/收录该作品（正文 SHA-256 {}）；转载网页包含原文的 {}{copied}；{}。",
                    i + 1,
                    f.original.published.as_deref().unwrap_or(&f.original.first_seen),
                    f.original.text_sha256,
                    percent(f.containment),
                    evidence
                ));
            }
            lines.push("权利人对本通知书的真实性负责。".into());
            lines.push("权利人（盖章）：[待法律顾问填写]".into());
            lines.push("签署人：[待法律顾问签名]    日期：[待填写]".into());
        }
        Language::En => {
            lines.push(
                "========== DRAFT takedown notice (17 U.S.C. 512(c)(3)(A)) ==========".into(),
            );
            lines.push("A draft for counsel to review and sign. copyhound never sends it to any third party.".into());
            lines
                .push("(i) Signature of a person authorized to act on behalf of the owner:".into());
            lines.push("    [SIGNATURE — to be completed by counsel]".into());
            lines.push(
                "(ii) Identification of the copyrighted work(s) claimed to have been infringed:"
                    .into(),
            );
            for (i, item) in items.iter().enumerate() {
                let f = &item.facts;
                lines.push(format!(
                    "    {}. \"{}\", {}, published {} (text SHA-256 {})",
                    i + 1,
                    one_line(&f.original.title, 300),
                    one_line(&f.original.url, 2000),
                    f.original
                        .published
                        .as_deref()
                        .unwrap_or(&f.original.first_seen),
                    f.original.text_sha256
                ));
            }
            lines.push("(iii) Identification of the infringing material and information reasonably sufficient to locate it:".into());
            for (i, item) in items.iter().enumerate() {
                let f = &item.facts;
                let evidence = item.evidence.as_ref().map_or_else(
                    || "no evidence file".to_string(),
                    |e| {
                        format!(
                            "evidence file {}, SHA-256 {}",
                            one_line(&e.file_name, 300),
                            e.sha256
                        )
                    },
                );
                let copied = f
                    .copied_chars
                    .map_or_else(String::new, |n| format!(", {n} characters"));
                lines.push(format!(
                    "    {}. {} (host {}, IP {}, captured {}; {} of the original{copied}; {})",
                    i + 1,
                    one_line(&f.copy.url, 2000),
                    one_line(&f.copy.host, 300),
                    f.copy.ip.as_deref().unwrap_or("unknown"),
                    f.copy.captured_at,
                    percent(f.containment),
                    evidence
                ));
            }
            lines.push(
                "(iv) Information reasonably sufficient to contact the complaining party:".into(),
            );
            lines.push(format!("    {}, {}, {}", o.name, o.address, o.website));
            lines.push(format!("    Contact: {contact}"));
            lines.push("(v) Good-faith statement:".into());
            lines.push("    [TO BE CONFIRMED BY COUNSEL: \"I have a good faith belief that use of the material in the manner complained of is not authorized by the copyright owner, its agent, or the law.\"]".into());
            lines.push("(vi) Accuracy statement:".into());
            lines.push("    [TO BE CONFIRMED BY COUNSEL: \"The information in this notification is accurate, and under penalty of perjury, I am authorized to act on behalf of the owner of an exclusive right that is allegedly infringed.\"]".into());
        }
    }
    let text = lines.join("\n") + "\n";
    let html = format!(
        "<pre style=\"white-space:pre-wrap;font-family:sans-serif\">{}</pre>\n",
        escape_html(&text)
    );
    Rendered {
        subject: String::new(),
        text,
        html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::tests::facts;

    fn outlet(language: Language) -> Outlet {
        Outlet {
            name: "江城日报社".into(),
            website: "https://www.jiangcheng-daily.example".into(),
            address: "江城市滨江路 88 号".into(),
            language,
        }
    }

    fn contacts() -> Vec<Contact> {
        vec![Contact {
            role: Role::Legal,
            name: "王律师".into(),
            email: "legal@jiangcheng-daily.example".into(),
            phone: Some("+86 27 5555 0101".into()),
        }]
    }

    fn item() -> ReportItem {
        ReportItem {
            facts: facts(),
            evidence: Some(EvidenceRef {
                file_name: "20260301T100000.000Z-m7-copier.example.warc.gz".into(),
                sha256: "cd".repeat(32),
            }),
        }
    }

    #[test]
    fn escaping_neutralises_markup() {
        assert_eq!(
            escape_html("<script>alert('x')</script> & \"q\"\u{1b}[0m"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;[0m"
        );
        assert_eq!(one_line("a\r\nBcc: x\u{2028}y  z", 100), "a Bcc: x y z");
        assert_eq!(one_line("abcdef", 3), "abc…");
        assert_eq!(
            subject_text("x\r\nBcc: evil@example.com"),
            "x Bcc: evil@example.com"
        );
    }

    #[test]
    fn zh_report_for_counsel() {
        let contacts = contacts();
        let o = outlet(Language::ZhCn);
        let cx = ReportContext {
            outlet: &o,
            contacts: &contacts,
            role: Role::Legal,
        };
        let r = render_match(&item(), &cx);
        assert_eq!(
            r.subject,
            "[copyhound] 发现疑似侵权转载: 江城新闻 — copier.example (87%)"
        );
        for needle in [
            "原创作品",
            "  标题: 江城新闻",
            "  网址: https://www.jiangcheng-daily.example/a/1",
            "  发布时间: 2026-02-28T08:00:00Z",
            "  本系统首次收录时间: 2026-02-28T09:00:00Z",
            "  IP 地址: 203.0.113.7",
            "  取证时间（UTC）: 2026-03-01T10:00:00Z",
            "被转载比例: 87%",
            "转载文字占转载网页的比例: 42%",
            "转载文字长度（原文字数）: 1234 字",
            "匹配编号（审阅页面）: 7",
            "20260301T100000.000Z-m7-copier.example.warc.gz (SHA-256 cdcd",
            ">>> 江城新聞<b> <<<",
            "删除通知书（草稿）",
            "《信息网络传播权保护条例》第十四条",
            "权利人：江城日报社",
            "地址：江城市滨江路 88 号",
            "联系人：王律师 <legal@jiangcheng-daily.example>, +86 27 5555 0101",
            "被转载于：http://copier.example/a",
            "构成侵权的初步证明材料",
            "转载网页包含原文的 87%（1234 字）；",
        ] {
            assert!(r.text.contains(needle), "missing {needle:?} in\n{}", r.text);
        }
        // The hostile title is one harmless line in text and escaped in HTML.
        assert!(r.text.contains("  标题: Evil Bcc: x@y.example <script>"));
        assert!(!r.html.contains("<script>"));
        assert!(!r.html.contains("<b>"));
        assert!(r.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(r.html.contains("<mark>江城新聞&lt;b&gt;</mark>"));
    }

    #[test]
    fn en_report_and_notice() {
        let contacts = contacts();
        let o = outlet(Language::En);
        let cx = ReportContext {
            outlet: &o,
            contacts: &contacts,
            role: Role::Legal,
        };
        let r = render_match(&item(), &cx);
        assert!(r
            .subject
            .starts_with("[copyhound] Suspected copy found: 江城新闻 — copier.example (87%)"));
        for needle in [
            "Share of the original copied: 87%",
            "Share of the copying page that is copied text: 42%",
            "Length of the copied text (characters of the original): 1234 characters",
            "Match id (review screen): 7",
            "(i) Signature",
            "[SIGNATURE — to be completed by counsel]",
            "(ii) Identification of the copyrighted work",
            "(iii) Identification of the infringing material",
            "    1. http://copier.example/a (host copier.example, IP 203.0.113.7",
            "2026-03-01T10:00:00Z; 87% of the original, 1234 characters; evidence file",
            "(iv) Information reasonably sufficient to contact",
            "(v) Good-faith statement:",
            "(vi) Accuracy statement:",
            "penalty of perjury",
        ] {
            assert!(r.text.contains(needle), "missing {needle:?} in\n{}", r.text);
        }
    }

    #[test]
    fn licensing_gets_no_notice_and_digest_lists_all() {
        let contacts = contacts();
        let o = outlet(Language::ZhCn);
        let cx = ReportContext {
            outlet: &o,
            contacts: &contacts,
            role: Role::Licensing,
        };
        assert!(!render_match(&item(), &cx).text.contains("删除通知书"));
        let d = render_digest(&[item(), item(), item()], &cx);
        assert_eq!(d.subject, "[copyhound] 3 条新的疑似侵权转载（汇总）");
        assert_eq!(d.text.matches("匹配编号").count(), 3);
        let legal = ReportContext {
            role: Role::Legal,
            ..cx
        };
        let d = render_digest(&[item(), item()], &legal);
        assert!(d.text.contains("    2. 作品《江城新闻》"));
    }

    #[test]
    fn en_licensing_report_snapshot() {
        let o = Outlet {
            name: "Riverside Daily".into(),
            website: "https://riverside.example".into(),
            address: "1 Quay St".into(),
            language: Language::En,
        };
        let contacts = contacts();
        let cx = ReportContext {
            outlet: &o,
            contacts: &contacts,
            role: Role::Licensing,
        };
        let mut it = item();
        it.evidence.as_mut().unwrap().sha256 = "cd".into();
        it.facts.original.text_sha256 = "ab".into();
        let r = render_match(&it, &cx);
        assert_eq!(
            r.text,
            "copyhound found a page that copies one of our articles. The evidence file is attached for review.

Original article
  Title: 江城新闻
  URL: https://www.jiangcheng-daily.example/a/1
  Published: 2026-02-28T08:00:00Z
  First seen by copyhound: 2026-02-28T09:00:00Z
  Text SHA-256: ab
Copying page
  Title: Evil Bcc: x@y.example <script>alert(1)</script>
  URL: http://copier.example/a
  Host: copier.example
  IP address: 203.0.113.7
  Captured (UTC): 2026-03-01T10:00:00Z
Share of the original copied: 87%
Share of the copying page that is copied text: 42%
Length of the copied text (characters of the original): 1234 characters
Verdict: copy (most of the original)
Evidence file (WARC): 20260301T100000.000Z-m7-copier.example.warc.gz (SHA-256 cd)
Match id (review screen): 7

Aligned passages (copied text highlighted)
[1] Original 0..4:
    江城新闻
    Text on the copying page 10..14:
    >>> 江城新聞<b> <<<
"
        );
        assert!(r.html.contains(
            "<tr><td valign=\"top\">江城新闻</td><td valign=\"top\"><mark>江城新聞&lt;b&gt;</mark></td></tr>"
        ));
        assert!(r.html.contains(
            "<tr><th align=\"left\">Title</th><td>Evil Bcc: x@y.example &lt;script&gt;alert(1)&lt;/script&gt;</td></tr>"
        ));
        assert!(r.html.contains(
            "<tr><th align=\"left\">Length of the copied text (characters of the original)</th><td>1234 characters</td></tr>"
        ));
    }

    #[test]
    fn alerts_queued_before_coverage_was_measured_still_render() {
        // An alert row queued by an older copyhound: its JSON has no coverage and no
        // copied length, and the report shows neither rather than a made-up figure.
        let mut json = serde_json::to_value(facts()).unwrap();
        let object = json.as_object_mut().unwrap();
        object.remove("coverage");
        object.remove("copied_chars");
        let old: MatchFacts = serde_json::from_value(json).unwrap();
        assert_eq!((old.coverage, old.copied_chars), (None, None));
        let o = outlet(Language::ZhCn);
        let contacts = contacts();
        let cx = ReportContext {
            outlet: &o,
            contacts: &contacts,
            role: Role::Legal,
        };
        let r = render_match(
            &ReportItem {
                facts: old,
                evidence: None,
            },
            &cx,
        );
        assert!(r.text.contains("被转载比例: 87%"), "{}", r.text);
        assert!(!r.text.contains("转载文字长度"), "{}", r.text);
        assert!(r.text.contains("转载网页包含原文的 87%；"), "{}", r.text);
    }

    /// A match a reviewer confirmed, with a hostile note: markup and line breaks.
    fn escalated() -> ReportItem {
        let mut it = item();
        it.facts.escalation = Some(Escalation {
            decided_by: "wang\r\nBcc: x@evil.example".into(),
            decided_at: "2026-03-02T09:30:00Z".into(),
            note: "无授权记录\r\n<script>alert(1)</script>\rsecond line".into(),
        });
        it
    }

    fn legal(language: Language, contacts: &[Contact]) -> Rendered {
        let o = outlet(language);
        let cx = ReportContext {
            outlet: &o,
            contacts,
            role: Role::Legal,
        };
        render_match(&escalated(), &cx)
    }

    /// A case's alert with a hostile recipient (counsel typed it; it is still escaped).
    fn case_alert(kind: &str, language: Language) -> Rendered {
        let mut it = item();
        it.facts.case = Some(CaseAlert {
            case_id: 12,
            kind: kind.into(),
            notice_at: Some("2026-03-01T00:00:00Z".into()),
            channel: Some("email".into()),
            recipient: Some("abuse@copier.example\r\n<b>x</b>".into()),
            deadline_at: Some("2026-03-08T00:00:00Z".into()),
            checked_at: "2026-03-10T08:00:00Z".into(),
            result: "still-online".into(),
            http_status: Some(200),
            containment: Some(0.8),
            evidence_file: Some("r.warc.gz".into()),
        });
        let o = outlet(language);
        let cx = ReportContext {
            outlet: &o,
            contacts: &contacts(),
            role: Role::Legal,
        };
        render_match(&it, &cx)
    }

    #[test]
    fn case_alerts_say_why_in_both_languages() {
        let r = case_alert("reminder", Language::ZhCn);
        assert_eq!(
            r.subject,
            "[copyhound] 删除期限已过，转载仍在线：江城新闻 — copier.example (80%)"
        );
        for needle in [
            "  案件编号: 12\n",
            "  删除通知: 2026-03-01T00:00:00Z email abuse@copier.example <b>x</b>\n",
            "  删除期限: 2026-03-08T00:00:00Z\n",
            "  复查结果: still-online (HTTP 200, 80%)\n",
            "  复查证据文件（WARC）: r.warc.gz\n",
        ] {
            assert!(r.text.contains(needle), "missing {needle:?} in\n{}", r.text);
        }
        assert!(!r.html.contains("<b>x"));
        let r = case_alert("reappeared", Language::En);
        assert_eq!(
            r.subject,
            "[copyhound] Removed copy is back online: 江城新闻 — copier.example (80%)"
        );
        assert!(r
            .text
            .starts_with("A copy that had been removed is back online"));
        assert!(r.text.contains("  Case id: 12\n"), "{}", r.text);
    }

    #[test]
    fn zh_escalation_names_the_reviewer_and_keeps_the_notice() {
        let r = legal(Language::ZhCn, &contacts());
        assert_eq!(
            r.subject,
            "[copyhound] 经审核确认侵权：江城新闻 — copier.example (87%)"
        );
        assert!(
            r.text.starts_with(
                "经审核确认侵权：审核人员已确认以下转载构成侵权，现提交法律顾问处理。"
            ),
            "{}",
            r.text
        );
        for needle in [
            "  确认人: wang Bcc: x@evil.example\n",
            "  确认时间（UTC）: 2026-03-02T09:30:00Z\n",
            "  审核备注:\n    无授权记录\n    <script>alert(1)</script>\n    second line\n",
            "匹配编号（审阅页面）: 7",
            "删除通知书（草稿）",
            "被转载于：http://copier.example/a",
        ] {
            assert!(r.text.contains(needle), "missing {needle:?} in\n{}", r.text);
        }
        assert!(!r.text.contains('\r'));
        // The escalation comes before the report, which comes before the notice.
        let at = |needle: &str| r.text.find(needle).unwrap();
        assert!(at("审核备注") < at("原创作品") && at("原创作品") < at("删除通知书（草稿）"));
        assert!(!r.html.contains("<script>"));
        assert!(r.html.contains(
            "<td>无授权记录<br>&lt;script&gt;alert(1)&lt;/script&gt;<br>second line</td>"
        ));
        assert!(r.html.contains("<td>wang Bcc: x@evil.example</td>"));
        assert!(r.html.find("确认人").unwrap() < r.html.find("删除通知书（草稿）").unwrap());
    }

    #[test]
    fn en_escalation_names_the_reviewer_and_keeps_the_notice() {
        let r = legal(Language::En, &contacts());
        assert_eq!(
            r.subject,
            "[copyhound] Confirmed infringement: 江城新闻 — copier.example (87%)"
        );
        assert!(r
            .text
            .starts_with("Confirmed infringement: a reviewer confirmed"));
        for needle in [
            "  Confirmed by: wang Bcc: x@evil.example\n",
            "  Confirmed at (UTC): 2026-03-02T09:30:00Z\n",
            "  Reviewer's note:\n    无授权记录\n    <script>alert(1)</script>\n    second line\n",
            "DRAFT takedown notice",
            "    1. http://copier.example/a (host copier.example",
        ] {
            assert!(r.text.contains(needle), "missing {needle:?} in\n{}", r.text);
        }
        assert!(!r.html.contains("<script>"));
        assert!(r.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!r.subject.contains(['\r', '\n']));

        // No note: said so, not an empty line.
        let mut it = escalated();
        it.facts.escalation.as_mut().unwrap().note = " \r\n ".into();
        let o = outlet(Language::En);
        let contacts = contacts();
        let cx = ReportContext {
            outlet: &o,
            contacts: &contacts,
            role: Role::Legal,
        };
        let r = render_match(&it, &cx);
        assert!(
            r.text.contains("  Reviewer's note:\n    (none)\n"),
            "{}",
            r.text
        );
        // In a digest, the escalated item carries its confirmation too.
        let d = render_digest(&[item(), escalated()], &cx);
        assert_eq!(d.text.matches("Confirmed by: wang").count(), 1);
        assert!(!d.html.contains("<script>"));
    }

    #[test]
    fn passages_are_bounded() {
        let mut it = item();
        let p = it.facts.passages[0].clone();
        it.facts.passages = vec![p; MAX_REPORT_PASSAGES + 5];
        it.facts.passages[0].copy_text = "长".repeat(MAX_REPORT_PASSAGE_CHARS * 2);
        let contacts = contacts();
        let o = outlet(Language::En);
        let cx = ReportContext {
            outlet: &o,
            contacts: &contacts,
            role: Role::Licensing,
        };
        let r = render_match(&it, &cx);
        assert_eq!(r.html.matches("<mark>").count(), MAX_REPORT_PASSAGES);
        assert!(r.text.contains("5 more passages not shown"));
        assert!(r.text.len() < 60_000);
    }
}
