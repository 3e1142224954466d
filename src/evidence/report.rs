//! The evidence report for counsel (`copyhound evidence-report ID`): one self-contained
//! HTML file (inline CSS, screenshots as `data:` URIs, nothing fetched from anywhere)
//! that a lawyer can attach to a complaint. It states the match as the alerts do
//! ([`crate::notify::report::match_html`]: the original, the copy with its redirects, IP
//! and capture time, the passages side by side), then what the evidence files prove and
//! how anyone can check it without copyhound: the capture's environment (`warcinfo`,
//! the provenance record), the screenshot, the digest of every record, the trusted
//! timestamps, and the commands (`sha256sum`, `warcio`, `openssl ts -verify`).
//!
//! Rendering is pure: the caller reads the files ([`super::inspect`]) and the store. The
//! template (`evidence_report.html`, askama) escapes every value; the one fragment
//! passed unescaped is `match_html`, which escapes every crawled string itself.

use askama::Template;
use base64::Engine as _;
use chrono::{DateTime, Utc};

use super::inspect::{Inspection, RecordDigest, ScreenshotKind, TimestampSummary};
use crate::config::Language;
use crate::notify::report::{match_html, one_line, ReportItem};

/// One evidence file of the match, read back.
#[derive(Debug, Clone)]
pub struct FileEvidence {
    /// The name under `[storage] dir`/evidence.
    pub name: String,
    /// `primary` (the capture the match rests on) or `archived` (a third party's
    /// archived record, kept beside the live capture).
    pub role: &'static str,
    /// The SHA-256 the store recorded when the file was written.
    pub recorded_sha256: Option<String>,
    /// What the file holds now; `None` when it cannot be read (named in `error`).
    pub inspection: Option<Inspection>,
    pub error: Option<String>,
    pub timestamp: Option<TimestampSummary>,
}

/// Everything the report shows.
pub struct EvidenceReportInput<'a> {
    pub item: &'a ReportItem,
    pub outlet: &'a str,
    pub language: Language,
    pub files: &'a [FileEvidence],
    pub generated_at: DateTime<Utc>,
    /// `copyhound/<version>`.
    pub software: &'a str,
}

/// The labels of the report in one language.
struct Labels {
    lang: &'static str,
    title: &'static str,
    intro: &'static str,
    generated: &'static str,
    cited: &'static str,
    original_link: &'static str,
    copy_link: &'static str,
    match_heading: &'static str,
    environment: &'static str,
    environment_intro: &'static str,
    warcinfo: &'static str,
    provenance: &'static str,
    no_provenance: &'static str,
    provenance_cut: &'static str,
    screenshot: &'static str,
    viewport: &'static str,
    full_page: &'static str,
    pdf_print: &'static str,
    no_screenshot: &'static str,
    too_large: &'static str,
    files: &'static str,
    file: &'static str,
    no_files: &'static str,
    role_primary: &'static str,
    role_archived: &'static str,
    file_sha256: &'static str,
    size: &'static str,
    recorded: &'static str,
    recorded_same: &'static str,
    recorded_differs: &'static str,
    recorded_none: &'static str,
    unreadable: &'static str,
    problems: &'static str,
    records_head: [&'static str; 8],
    verified_yes: &'static str,
    verified_no: &'static str,
    timestamp: &'static str,
    ts_none: &'static str,
    ts_head: [&'static str; 7],
    verify: &'static str,
    verify_intro: &'static str,
    verify_sha: &'static str,
    verify_warcio: &'static str,
    verify_block: &'static str,
    verify_ts: &'static str,
    verify_ts_none: &'static str,
    footer: &'static str,
}

const ZH: Labels = Labels {
    lang: "zh-CN",
    title: "电子证据报告",
    intro: "本报告说明一个转载网页的取证情况：原创作品与转载网页的对照、取证时的环境、网页截图、证据文件中每条记录的哈希值、可信时间戳，以及任何第三方无需本系统即可独立核验证据的方法。证据文件（WARC 格式，ISO 28500）随本报告一并提供。",
    generated: "报告生成时间（UTC）",
    cited: "引用网址",
    original_link: "原创作品",
    copy_link: "转载网页",
    match_heading: "转载情况",
    environment: "取证环境",
    environment_intro: "以下内容摘自证据文件本身（warcinfo 记录与取证过程记录），说明取证使用的软件、设备与网络连接。",
    warcinfo: "取证软件与设备（warcinfo 记录）",
    provenance: "取证过程记录（DNS、连接 IP、TLS 证书链等）",
    no_provenance: "该证据文件没有取证过程记录（由较早版本取证）。连接的 IP 地址见上文及 response 记录的 WARC-IP-Address。",
    provenance_cut: "记录过长，以下仅列出前若干项；完整内容见证据文件。",
    screenshot: "网页截图",
    viewport: "浏览器窗口截图",
    full_page: "整页截图",
    pdf_print: "浏览器打印的 PDF 已保存于证据文件中（见下表 urn:pdf: 记录）。",
    no_screenshot: "该证据文件中没有网页截图（取证时未配置浏览器）。网页内容以 response 记录中的原始字节为准。",
    too_large: "截图过大，未嵌入本报告；请从证据文件中提取（方法见下文）。",
    files: "证据文件与记录哈希值",
    file: "证据文件",
    no_files: "该匹配没有证据文件：取证时未能写入。可用 copyhound rebuild-evidence ID 从保存的抓取内容重建，然后重新生成本报告。",
    role_primary: "主要证据",
    role_archived: "第三方网页存档记录（辅助证据）",
    file_sha256: "文件 SHA-256",
    size: "大小（字节）",
    recorded: "取证时记录的 SHA-256",
    recorded_same: "与取证时记录一致，文件未被改动",
    recorded_differs: "与取证时记录不一致：文件在取证后被改动或替换",
    recorded_none: "（未记录）",
    unreadable: "无法读取该证据文件",
    problems: "核验发现的问题",
    records_head: ["#", "类型", "目标 URI", "时间（UTC）", "偏移 / 长度（字节）", "WARC-Block-Digest / WARC-Payload-Digest", "内容 SHA-256（十六进制）", "核验"],
    verified_yes: "一致",
    verified_no: "不一致",
    timestamp: "可信时间戳（RFC 3161）",
    ts_none: "该证据文件没有可信时间戳。",
    ts_head: ["证据文件", "时间戳机构", "时间（UTC）", "序列号", "取证至时间戳的间隔", "时间戳文件 SHA-256", "状态"],
    verify: "独立核验方法",
    verify_intro: "以下命令使用公开的第三方工具（sha256sum、Python 的 warcio、OpenSSL），在任何计算机上均可运行，无需本系统。",
    verify_sha: "核对证据文件的 SHA-256，应与上表一致：",
    verify_warcio: "用 warcio 重新计算每条记录的哈希值（应全部通过），并列出记录及其偏移：",
    verify_block: "提取某条记录（例如截图）的内容并核对其 SHA-256（OFFSET 为上表中的偏移）。response 记录提取的是网页正文，其哈希值即 WARC-Payload-Digest（base32 编码）：",
    verify_ts: "核验可信时间戳（TSA-CA.pem 为时间戳机构的根证书），并查看时间戳机构与时间：",
    verify_ts_none: "该证据没有可信时间戳，无需此步骤。",
    footer: "本报告由 copyhound 根据证据文件自动生成；证据文件为原始凭据，本报告仅为说明。",
};

const EN: Labels = Labels {
    lang: "en",
    title: "Evidence report",
    intro: "This report describes the capture of a page that copies one of our works: the original and the copy side by side, the environment of the capture, the screenshot, the digest of every record in the evidence files, the trusted timestamps, and how anyone can verify the evidence independently, without copyhound. The evidence files (WARC, ISO 28500) accompany this report.",
    generated: "Report generated (UTC)",
    cited: "Cited URLs",
    original_link: "Original work",
    copy_link: "Copying page",
    match_heading: "The copy",
    environment: "Capture environment",
    environment_intro: "From the evidence file itself (the warcinfo record and the provenance record): the software, the machine and the network connection of the capture.",
    warcinfo: "Software and machine (warcinfo record)",
    provenance: "Capture provenance (DNS, connected IP, TLS certificate chain, ...)",
    no_provenance: "This evidence file has no provenance record (captured by an earlier version). The connected IP address is shown above and in the response record's WARC-IP-Address.",
    provenance_cut: "The record is long: only its first rows are listed; the evidence file has it whole.",
    screenshot: "Screenshot",
    viewport: "Browser viewport",
    full_page: "Full page",
    pdf_print: "The browser's PDF print is kept in the evidence file (the urn:pdf: record below).",
    no_screenshot: "This evidence file holds no screenshot (no browser was configured for the capture). The page's content is the raw bytes of the response record.",
    too_large: "The screenshot is too large to embed; extract it from the evidence file (see below).",
    files: "Evidence files and record digests",
    file: "Evidence file",
    no_files: "This match has no evidence file: it could not be written at capture time. The command copyhound rebuild-evidence ID writes it from the stored capture; then make this report again.",
    role_primary: "primary evidence",
    role_archived: "third party's archived record (secondary evidence)",
    file_sha256: "File SHA-256",
    size: "Size (bytes)",
    recorded: "SHA-256 recorded at capture",
    recorded_same: "same as recorded at capture: the file is unchanged",
    recorded_differs: "differs from the digest recorded at capture: the file was changed or replaced",
    recorded_none: "(not recorded)",
    unreadable: "The evidence file cannot be read",
    problems: "Problems found",
    records_head: ["#", "Type", "Target URI", "Date (UTC)", "Offset / length (bytes)", "WARC-Block-Digest / WARC-Payload-Digest", "Block SHA-256 (hex)", "Check"],
    verified_yes: "ok",
    verified_no: "MISMATCH",
    timestamp: "Trusted timestamps (RFC 3161)",
    ts_none: "This evidence file has no trusted timestamp.",
    ts_head: ["Evidence file", "Time-stamp authority", "Time (UTC)", "Serial", "Delay after capture", "Token SHA-256", "Status"],
    verify: "How to verify independently",
    verify_intro: "These commands use public third-party tools (sha256sum, Python's warcio, OpenSSL) and run on any computer, without copyhound.",
    verify_sha: "Check each evidence file's SHA-256 against the table above:",
    verify_warcio: "Recompute every record's digests with warcio (all must pass), and list the records with their offsets:",
    verify_block: "Extract one record's content (a screenshot, say) and check its SHA-256 (OFFSET from the table above). For a response record this is the page's body, whose digest is the WARC-Payload-Digest (in base32):",
    verify_ts: "Verify the trusted timestamp (TSA-CA.pem: the authority's root certificate) and read the authority's name and time:",
    verify_ts_none: "This evidence has no trusted timestamp: no step here.",
    footer: "Generated by copyhound from the evidence files; the files are the evidence, this report explains them.",
};

fn labels(language: Language) -> &'static Labels {
    match language {
        Language::ZhCn => &ZH,
        Language::En => &EN,
    }
}

/// An image shown in the report.
struct Image {
    caption: &'static str,
    /// `data:image/png;base64,...`, or `None` when too large to embed.
    data_uri: Option<String>,
    record_id: String,
}

struct FileView {
    name: String,
    role: &'static str,
    sha256: String,
    bytes: String,
    recorded: String,
    /// `same`, `differs` or `none`: the check's outcome, for the style.
    recorded_state: &'static str,
    recorded_note: &'static str,
    error: Option<String>,
    problems: Vec<String>,
    records: Vec<RecordRow>,
}

struct RecordRow {
    index: usize,
    warc_type: String,
    target: String,
    date: String,
    place: String,
    digests: String,
    sha256: String,
    ok: bool,
}

struct StampRow {
    file: String,
    authority: String,
    time: String,
    serial: String,
    delay: String,
    token_sha256: String,
    status: String,
    verified: bool,
}

/// A link to a cited page: only http(s) URLs become links (never `javascript:`).
struct Cited {
    label: &'static str,
    url: String,
    linkable: bool,
}

#[derive(Template)]
#[template(path = "evidence_report.html")]
struct Page<'a> {
    l: &'static Labels,
    heading: String,
    outlet: String,
    generated: String,
    cited: Vec<Cited>,
    /// The match as the alerts render it: escaped by `match_html` itself.
    match_html: String,
    warcinfo: Vec<(String, String)>,
    provenance: Vec<(String, String)>,
    provenance_cut: bool,
    images: Vec<Image>,
    has_pdf: bool,
    files: Vec<FileView>,
    stamps: Vec<StampRow>,
    /// Files without a token, named in the timestamp section.
    unstamped: Vec<String>,
    software: &'a str,
}

fn linkable(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

fn dash(v: Option<&str>) -> String {
    v.map_or_else(|| "-".to_string(), |s| one_line(s, 2000))
}

/// Renders the report.
///
/// # Errors
/// [`askama::Error`] when the template fails (it does not on any data).
pub fn render(input: &EvidenceReportInput<'_>) -> Result<String, askama::Error> {
    let l = labels(input.language);
    let f = &input.item.facts;
    let heading = match f.match_id {
        Some(id) if input.language == Language::ZhCn => format!("{}：匹配 #{id}", l.title),
        Some(id) => format!("{}: match #{id}", l.title),
        None => l.title.to_string(),
    };
    let cited = [
        (l.original_link, &f.original.url),
        (l.copy_link, &f.copy.url),
    ]
    .into_iter()
    .map(|(label, url)| Cited {
        label,
        url: one_line(url, 2000),
        linkable: linkable(url),
    })
    .collect();
    // The environment and the screenshot come from the primary file (the capture the
    // match rests on), else the first file that could be read.
    let primary = input
        .files
        .iter()
        .filter_map(|file| file.inspection.as_ref().map(|i| (file.role, i)))
        .min_by_key(|(role, _)| *role != "primary")
        .map(|(_, i)| i);
    let mut images = Vec::new();
    let mut has_pdf = false;
    if let Some(i) = primary {
        for (kind, caption) in [
            (ScreenshotKind::Viewport, l.viewport),
            (ScreenshotKind::FullPage, l.full_page),
        ] {
            if let Some(s) = i.screenshot(kind) {
                images.push(Image {
                    caption,
                    data_uri: (s.bytes.len() <= super::inspect::MAX_EMBEDDED_IMAGE_BYTES).then(
                        || {
                            format!(
                                "data:{};base64,{}",
                                s.mime,
                                base64::engine::general_purpose::STANDARD.encode(&s.bytes)
                            )
                        },
                    ),
                    record_id: s.record_id.clone(),
                });
            }
        }
        has_pdf = i.screenshot(ScreenshotKind::Pdf).is_some();
    }
    let files = input.files.iter().map(|file| file_view(file, l)).collect();
    let stamps = input
        .files
        .iter()
        .filter_map(|file| {
            file.timestamp.as_ref().map(|t| StampRow {
                file: file.name.clone(),
                authority: dash(t.authority.as_deref()),
                time: dash(t.time.as_deref()),
                serial: dash(t.serial.as_deref()),
                delay: dash(t.delay.as_deref()),
                token_sha256: if t.token_sha256.is_empty() {
                    "-".into()
                } else {
                    t.token_sha256.clone()
                },
                status: one_line(&t.status, 500),
                verified: t.verified,
            })
        })
        .collect();
    let unstamped = input
        .files
        .iter()
        .filter(|file| file.timestamp.is_none())
        .map(|file| file.name.clone())
        .collect();
    Page {
        l,
        heading,
        outlet: one_line(input.outlet, 300),
        generated: super::utc(input.generated_at),
        cited,
        match_html: match_html(input.item, input.language),
        warcinfo: primary.map(|i| i.warcinfo.clone()).unwrap_or_default(),
        provenance: primary.map(|i| i.provenance.clone()).unwrap_or_default(),
        provenance_cut: primary.is_some_and(|i| i.provenance_cut),
        images,
        has_pdf,
        files,
        stamps,
        unstamped,
        software: input.software,
    }
    .render()
}

fn file_view(file: &FileEvidence, l: &Labels) -> FileView {
    let role = if file.role == "primary" {
        l.role_primary
    } else {
        l.role_archived
    };
    let recorded = file
        .recorded_sha256
        .clone()
        .unwrap_or_else(|| l.recorded_none.to_string());
    let Some(i) = &file.inspection else {
        return FileView {
            name: file.name.clone(),
            role,
            sha256: "-".into(),
            bytes: "-".into(),
            recorded,
            recorded_state: "none",
            recorded_note: "",
            error: Some(format!(
                "{}: {}",
                l.unreadable,
                file.error.as_deref().unwrap_or("-")
            )),
            problems: Vec::new(),
            records: Vec::new(),
        };
    };
    let (recorded_state, recorded_note) = match &file.recorded_sha256 {
        Some(r) if r.eq_ignore_ascii_case(&i.sha256) => ("same", l.recorded_same),
        Some(_) => ("differs", l.recorded_differs),
        None => ("none", ""),
    };
    FileView {
        name: file.name.clone(),
        role,
        sha256: i.sha256.clone(),
        bytes: i.bytes.to_string(),
        recorded,
        recorded_state,
        recorded_note,
        error: None,
        problems: i.problems.iter().map(|p| one_line(p, 2000)).collect(),
        records: i.records.iter().map(record_row).collect(),
    }
}

fn record_row(r: &RecordDigest) -> RecordRow {
    let digests = [r.block_digest.as_deref(), r.payload_digest.as_deref()]
        .into_iter()
        .flatten()
        .map(|d| one_line(d, 200))
        .collect::<Vec<_>>()
        .join(" / ");
    RecordRow {
        index: r.index,
        warc_type: one_line(&r.warc_type, 40),
        target: dash(r.target.as_deref()),
        date: dash(r.date.as_deref()),
        place: format!("{} / {}", r.offset, r.length),
        digests,
        sha256: r.block_sha256.clone(),
        ok: r.verified,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::inspect::{inspect, tests::bundle_with_screenshot, TimestampSummary};
    use crate::evidence::tests::facts;

    fn input_files(bytes: &[u8], stamped: bool) -> Vec<FileEvidence> {
        let inspection = inspect(bytes);
        vec![FileEvidence {
            name: "20260301T100000.000Z-m7-copier.example.warc.gz".into(),
            role: "primary",
            recorded_sha256: Some(inspection.sha256.clone()),
            inspection: Some(inspection),
            error: None,
            timestamp: stamped.then(|| TimestampSummary {
                token_file: "x.warc.gz.tsr".into(),
                token_sha256: "cd".repeat(32),
                authority: None,
                time: None,
                serial: None,
                delay: None,
                verified: false,
                status: "token present (not verified: no [evidence] tsa_ca_file trust anchors)"
                    .into(),
            }),
        }]
    }

    fn render_in(language: Language, files: &[FileEvidence]) -> String {
        let item = ReportItem {
            facts: facts(),
            evidence: None,
        };
        render(&EvidenceReportInput {
            item: &item,
            outlet: "江城日报社",
            language,
            files,
            generated_at: Utc::now(),
            software: "copyhound/test",
        })
        .unwrap()
    }

    #[test]
    fn embeds_the_screenshot_and_escapes_crawled_text() {
        let files = input_files(&bundle_with_screenshot(), true);
        let html = render_in(Language::En, &files);
        assert!(
            html.contains("<img src=\"data:image/png;base64,iVBORw0KGgo"),
            "{html}"
        );
        // Crawled strings: the copy's title (from facts) and the provenance record.
        assert!(!html.contains("<script>alert(1)</script>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(
            html.contains("CN=copier.example &#60;b&#62;")
                || html.contains("CN=copier.example &lt;b&gt;")
        );
        assert!(html.contains("tls.chain[0].subject"));
        assert!(
            html.contains("token present (not verified: no [evidence] tsa_ca_file trust anchors)")
        );
        assert!(html.contains("openssl ts -verify -data 20260301T100000.000Z-m7-copier.example.warc.gz -in 20260301T100000.000Z-m7-copier.example.warc.gz.tsr -CAfile TSA-CA.pem"));
        assert!(html.contains("same as recorded at capture"));
        // Only the cited pages are linked; nothing is loaded from outside.
        assert!(html.contains("href=\"https://www.jiangcheng-daily.example/a/1\""));
        assert!(!html.contains("src=\"http"));
    }

    #[test]
    fn zh_without_screenshot_or_token_says_so() {
        let info = crate::evidence::WarcInfo::current(b"", "ua");
        // A file written before captures recorded their provenance.
        let records = crate::evidence::inspect::tests::without_provenance(
            crate::evidence::bundle_records(
                &info,
                &crate::evidence::tests::capture(),
                &facts(),
                "f.warc.gz",
                Utc::now(),
            )
            .unwrap(),
        );
        let bytes: Vec<u8> = records
            .iter()
            .flat_map(super::super::warc::Record::to_gzip_member)
            .collect();
        let mut files = input_files(&bytes, false);
        files[0].recorded_sha256 = Some("00".repeat(32));
        let html = render_in(Language::ZhCn, &files);
        assert!(html.contains("<html lang=\"zh-CN\">"));
        assert!(html.contains(ZH.no_screenshot));
        assert!(html.contains(ZH.ts_none));
        assert!(html.contains(ZH.no_provenance));
        assert!(html.contains(ZH.recorded_differs));
        assert!(!html.contains("<img"));
        // The passages side by side, as the alert shows them.
        assert!(html.contains("<mark>江城新聞&lt;b&gt;</mark>"), "{html}");
        assert!(!html.contains(ZH.no_files));
    }

    #[test]
    fn a_match_without_evidence_file_says_how_to_make_it() {
        let html = render_in(Language::En, &[]);
        assert!(html.contains(EN.no_files));
        assert!(html.contains("holds no screenshot"));
        assert!(!html.contains("warcio check -v "));
    }
}
