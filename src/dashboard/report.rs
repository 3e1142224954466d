//! The monthly report: one self-contained HTML file (inline CSS and SVG, no external
//! resource, no script) with the dashboard of a calendar month, the month's confirmed
//! infringements and the licensed partners' copies. `copyhound report` writes it; the
//! daemon emails it on the first of each month. The month's cases (opened, notices,
//! removals with their time, open at the month's end) come after the infringements,
//! with the month's removals listed. Pure: the store's figures in, HTML out.
//!
//! Licences: today a licence is a domain on a licensed list (`[crawl] licensed` or the
//! reviewers' list); the report gives each partner's copies found in the month and how
//! many of its copies reviewers judged infringing (copying beyond the licence). Licence
//! terms (articles, periods) would add columns here.

use askama::Template;
use chrono::{DateTime, Utc};

use super::{build, charts::FONT_FAMILY, duration_text, median_seconds, Dashboard, Month};
use crate::config::Language;
use crate::crawl::urls::DomainSet;
use crate::store::{Infringement, Removal, SiteActivity, WindowFigures};

/// One confirmed infringement as listed.
pub struct InfringementRow {
    pub id: i64,
    pub decided: String,
    pub host: String,
    pub title: String,
    pub url: String,
    pub original_title: String,
    pub verdict: String,
    pub share: String,
    pub actor: String,
}

/// One copy removed in the month, as listed.
pub struct RemovalRow {
    pub case_id: i64,
    pub match_id: i64,
    pub removed: String,
    pub host: String,
    pub title: String,
    pub url: String,
    pub opened: String,
    pub notice: String,
    pub from_opening: String,
    pub from_notice: String,
}

/// One licensed partner (or a site whose copies were decided licensed).
pub struct PartnerRow {
    pub domain: String,
    pub listed: String,
    pub matches: i64,
    pub articles: i64,
    pub infringing: i64,
}

/// A licensed domain and where it is listed (`[crawl] licensed`, or the reviewers'
/// list with who added it).
pub struct LicensedDomain {
    pub domain: String,
    pub listed: String,
}

/// Everything a month's report shows, from the store.
pub struct ReportInput<'a> {
    pub month: Month,
    pub language: Language,
    pub outlet: &'a str,
    pub figures: &'a WindowFigures,
    pub infringements: &'a [Infringement],
    pub infringements_total: i64,
    pub removals: &'a [Removal],
    pub removals_total: i64,
    pub licensed_hosts: &'a [SiteActivity],
    pub licensed_domains: &'a [LicensedDomain],
    /// The month's copies checked against each licence's terms: `(licence key,
    /// partner, counts)` (`Store::licence_activity`).
    pub licence_compliance: &'a [(String, String, crate::store::LicenceCounts)],
    pub generated_at: DateTime<Utc>,
}

/// One licence's compliance in the month, as the report's table shows it.
pub struct ComplianceRow {
    pub partner: String,
    pub licence: String,
    pub compliant: i64,
    pub noncompliant: i64,
    pub outside_validity: i64,
    pub rate: String,
}

#[derive(Template)]
#[template(path = "report.html")]
struct ReportPage {
    lang: &'static str,
    title: String,
    generated: String,
    d: Dashboard,
    font_family: &'static str,
    /// In a report the numbers are part of the document: tables open.
    open_tables: bool,
    infringements_heading: String,
    infringements_summary: String,
    inf_head: Vec<String>,
    infringements: Vec<InfringementRow>,
    cases_heading: String,
    cases_summary: Vec<String>,
    rem_head: Vec<String>,
    removals: Vec<RemovalRow>,
    licences_heading: String,
    licences_summary: String,
    lic_head: Vec<String>,
    partners: Vec<PartnerRow>,
    comp_head: Vec<String>,
    compliance: Vec<ComplianceRow>,
}

/// A rendered report.
pub struct Rendered {
    pub subject: String,
    pub html: String,
    /// A short plain-text summary (an email's text part).
    pub text: String,
}

/// Renders a month's report.
///
/// # Errors
/// [`askama::Error`] when the template fails (it does not on any data).
pub fn render(input: &ReportInput<'_>) -> Result<Rendered, askama::Error> {
    let z = input.language == Language::ZhCn;
    let t = |zh: &str, en: &str| if z { zh.to_string() } else { en.to_string() };
    let d = build(input.figures, input.language, input.generated_at);
    let title = if z {
        format!("{} 版权监测月报：{}", input.outlet, input.month)
    } else {
        format!(
            "{} copyright monitoring report: {}",
            input.outlet, input.month
        )
    };
    let infringements: Vec<InfringementRow> = input
        .infringements
        .iter()
        .map(|i| InfringementRow {
            id: i.match_id,
            decided: i.decided_at.get(..10).unwrap_or(&i.decided_at).to_string(),
            host: i.copy_host.clone(),
            title: i.copy_title.clone(),
            url: i.copy_url.clone(),
            original_title: i.original_title.clone(),
            verdict: if i.verdict == "copy" {
                t("全文转载", "copy")
            } else {
                t("部分转载", "partial")
            },
            share: format!("{:.0}%", i.containment * 100.0),
            actor: i.actor.clone(),
        })
        .collect();
    let shown = infringements.len() as i64;
    let total = input.infringements_total;
    let infringements_summary = match (z, shown < total) {
        (true, false) => format!("本月确认侵权 {total} 条。"),
        (true, true) => format!("本月确认侵权 {total} 条，下表列出前 {shown} 条。"),
        (false, false) => format!("{total} confirmed this month."),
        (false, true) => format!("{total} confirmed this month; the first {shown} are listed."),
    };

    // The month's cases, and its removals.
    let day = |t: &str| t.get(..10).unwrap_or(t).to_string();
    let removals: Vec<RemovalRow> = input
        .removals
        .iter()
        .map(|r| RemovalRow {
            case_id: r.case_id,
            match_id: r.match_id,
            removed: day(&r.removed_at),
            host: r.copy_host.clone(),
            title: r.copy_title.clone(),
            url: r.copy_url.clone(),
            opened: day(&r.opened_at),
            notice: r.notice_at.as_deref().map_or_else(|| "–".into(), day),
            from_opening: duration_text(r.time.from_opening, input.language),
            from_notice: r
                .time
                .from_notice
                .map_or_else(|| "–".into(), |s| duration_text(s, input.language)),
        })
        .collect();
    let cases = &input.figures.cases;
    let removed = cases.removals.len();
    let median = median_seconds(
        &cases
            .removals
            .iter()
            .map(|r| r.from_opening)
            .collect::<Vec<_>>(),
    )
    .map_or_else(|| "–".to_string(), |m| duration_text(m, input.language));
    let open_total: i64 = cases.open.iter().map(|(_, n)| n).sum();
    let shown_removals = removals.len() as i64;
    let mut cases_summary = if z {
        vec![
            format!(
                "本月立案 {} 起，发出通知 {} 份；{removed} 处转载被删除，自立案起用时中位数 {median}。",
                cases.opened, cases.notices
            ),
            format!(
                "月末仍未结案 {open_total} 起，其中 {} 起通知已过期限仍在线。",
                cases.overdue
            ),
        ]
    } else {
        vec![
            format!(
                "{} cases opened and {} notices sent this month; {removed} copies removed, median time to removal {median} from the case's opening.",
                cases.opened, cases.notices
            ),
            format!(
                "{open_total} still open at the month's end; {} of them past the notice's deadline, still online.",
                cases.overdue
            ),
        ]
    };
    if shown_removals < input.removals_total {
        cases_summary.push(if z {
            format!("下表列出前 {shown_removals} 处删除。")
        } else {
            format!("The first {shown_removals} removals are listed.")
        });
    }

    // Each host with licensed copies goes to the first listed domain covering it;
    // hosts no list covers were decided licensed match by match.
    let mut partners: Vec<PartnerRow> = input
        .licensed_domains
        .iter()
        .map(|l| PartnerRow {
            domain: l.domain.clone(),
            listed: l.listed.clone(),
            matches: 0,
            articles: 0,
            infringing: 0,
        })
        .collect();
    for h in input.licensed_hosts {
        let slot = partners
            .iter()
            .position(|p| DomainSet::from_names([&p.domain]).contains_host(&h.host));
        let i = match slot {
            Some(i) => i,
            None => {
                partners.push(PartnerRow {
                    domain: h.host.clone(),
                    listed: t("逐条判定为授权", "decided licensed match by match"),
                    matches: 0,
                    articles: 0,
                    infringing: 0,
                });
                partners.len() - 1
            }
        };
        // Articles are counted per host: a partner with several hosts may count an
        // article once per host.
        partners[i].matches += h.matches;
        partners[i].articles += h.originals;
        partners[i].infringing += h.infringing;
    }
    let licensed_total: i64 = partners.iter().map(|p| p.matches).sum();
    let licences_summary = if z {
        format!(
            "授权合作方 {} 家，本月发现其转载 {licensed_total} 条；“判定侵权”为审核认定超出授权范围的转载。",
            input.licensed_domains.len()
        )
    } else {
        format!(
            "{} licensed partners; {licensed_total} of their copies found this month. \"Infringing\" counts copies reviewers judged beyond the licence.",
            input.licensed_domains.len()
        )
    };
    let page = ReportPage {
        lang: if z { "zh-CN" } else { "en" },
        title: title.clone(),
        generated: if z {
            format!(
                "生成时间 {}（UTC）",
                input.generated_at.format("%Y-%m-%d %H:%M")
            )
        } else {
            format!(
                "Generated {} UTC",
                input.generated_at.format("%Y-%m-%d %H:%M")
            )
        },
        font_family: FONT_FAMILY,
        open_tables: true,
        infringements_heading: t("本月确认的侵权转载", "Infringements confirmed this month"),
        infringements_summary: infringements_summary.clone(),
        inf_head: vec![
            t("编号", "id"),
            t("确认日期", "confirmed"),
            t("网站", "site"),
            t("转载页面", "copy"),
            t("原文", "original"),
            t("判定", "verdict"),
            t("转载比例", "share"),
            t("审核人", "by"),
        ],
        infringements,
        cases_heading: t("本月案件与删除", "Cases and removals this month"),
        cases_summary: cases_summary.clone(),
        rem_head: vec![
            t("案件", "case"),
            t("删除日期", "removed"),
            t("网站", "site"),
            t("转载页面", "copy"),
            t("立案", "opened"),
            t("首次通知", "first notice"),
            t("自立案起", "from opening"),
            t("自通知起", "from notice"),
        ],
        removals,
        licences_heading: t("授权与合规", "Licences and compliance"),
        licences_summary,
        lic_head: vec![
            t("合作方", "partner"),
            t("授权来源", "listed in"),
            t("本月转载", "copies this month"),
            t("涉及文章", "articles"),
            t("判定侵权", "infringing"),
        ],
        partners,
        comp_head: vec![
            t("合作方（授权条款）", "partner (licence terms)"),
            t("合规", "compliant"),
            t("未合规", "noncompliant"),
            t("授权期外", "outside validity"),
            t("合规率", "compliance rate"),
        ],
        compliance: input
            .licence_compliance
            .iter()
            .map(|(licence, partner, c)| ComplianceRow {
                partner: partner.clone(),
                licence: licence.clone(),
                compliant: c.compliant,
                noncompliant: c.noncompliant,
                outside_validity: c.outside_validity,
                rate: c
                    .compliance_rate()
                    .map_or_else(|| "—".to_string(), |r| format!("{:.0}%", r * 100.0)),
            })
            .collect(),
        d,
    };
    let html = page.render()?;
    let mut text = format!("{title}\n{}\n\n", page.d.period);
    for f in &page.d.figures {
        text.push_str(&format!("{}: {}\n", f.label, f.value));
    }
    text.push_str(&format!(
        "{}: {infringements_summary}\n",
        page.infringements_heading
    ));
    text.push_str(&format!(
        "{}: {}\n",
        page.cases_heading,
        cases_summary.join(" ")
    ));
    text.push('\n');
    text.push_str(&t(
        "完整报告（含图表）见 HTML 版本与附件。",
        "The full report, with charts, is the HTML version and the attachment.",
    ));
    text.push('\n');
    Ok(Rendered {
        subject: format!("[copyhound] {title}"),
        html,
        text,
    })
}
