//! What licensing staff are told of a partner's copy that breaks its licence: the
//! licence, what is missing, and a polite draft request to the partner to fix it, in
//! the outlet's language.
//!
//! Like `report`, this is pure, and every crawled string (titles, URLs) is folded to
//! one line ([`one_line`]) and escaped in the HTML ([`escape_html`]). The draft is for
//! licensing staff to send themselves: copyhound never writes to a partner.

use std::fmt::Write as _;

use super::report::{escape_html, one_line};
use crate::config::{Contact, Language, Outlet, Role};
use crate::evidence::{LicenceFacts, MatchFacts};

/// Whether `facts` is a noncompliant licensed copy (its alert is a request to fix).
pub fn is_noncompliant(facts: &MatchFacts) -> bool {
    facts
        .licence
        .as_ref()
        .is_some_and(|l| l.verdict == "noncompliant")
}

/// The subject's opening for a noncompliant copy.
pub fn subject_prefix(language: Language) -> &'static str {
    match language {
        Language::ZhCn => "授权转载未合规：",
        Language::En => "Licensed copy breaks its terms: ",
    }
}

/// A line saying what a missing term is, for reports and the desk.
pub fn missing_label(missing: &str, language: Language) -> &'static str {
    match (missing, language) {
        ("attribution", Language::ZhCn) => "未注明来源",
        ("link", Language::ZhCn) => "无原文链接",
        ("title", Language::ZhCn) => "标题被改动",
        ("excerpt", Language::ZhCn) => "超出摘要范围",
        ("attribution", Language::En) => "no attribution",
        ("link", Language::En) => "no link to the original",
        ("title", Language::En) => "title changed",
        ("excerpt", Language::En) => "more than the excerpt allowed",
        (_, Language::ZhCn) => "其他",
        (_, Language::En) => "other",
    }
}

/// For a copy on a partner's site whose licence did not hold when it was captured: a
/// line saying so (the copy is reported as any other).
pub fn outside_validity(facts: &MatchFacts, language: Language) -> Option<String> {
    let l = facts.licence.as_ref()?;
    let partner = one_line(&l.partner, 200);
    let (expired, not_yet) = match language {
        Language::ZhCn => (
            format!("{partner} 的授权在抓取时已过期：此转载按未授权处理。"),
            format!("{partner} 的授权在抓取时尚未生效：此转载按未授权处理。"),
        ),
        Language::En => (
            format!("{partner}'s licence had expired when this copy was captured: it is treated as unlicensed."),
            format!("{partner}'s licence was not yet valid when this copy was captured: it is treated as unlicensed."),
        ),
    };
    match l.verdict.as_str() {
        "expired" => Some(expired),
        "not-yet-valid" => Some(not_yet),
        _ => None,
    }
}

/// The opening of a noncompliant copy's alert: the partner and licence, what is
/// missing, and the draft request.
pub fn write_request(
    text: &mut String,
    html: &mut String,
    facts: &MatchFacts,
    l: &LicenceFacts,
    outlet: &Outlet,
    contacts: &[Contact],
) {
    let lang = outlet.language;
    let partner = one_line(&l.partner, 200);
    let missing: Vec<&str> = l.missing.iter().map(|m| missing_label(m, lang)).collect();
    let (intro, licence_label, missing_label_text, draft_heading) = match lang {
        Language::ZhCn => (
            "授权合作网站的转载未遵守授权条款。以下草稿供版权合作部审阅后发给合作方（copyhound 不会自动发送）。",
            "合作方 / 授权",
            "缺少",
            "========== 更正请求（草稿） ==========",
        ),
        Language::En => (
            "A licensed partner's copy does not keep the licence's terms. The draft below is for licensing staff to review and send to the partner (copyhound never sends it).",
            "Partner / licence",
            "Missing",
            "========== Request to correct (draft) ==========",
        ),
    };
    let licence = format!("{partner} ({})", one_line(&l.licence, 200));
    let _ = writeln!(text, "{intro}\n");
    let _ = writeln!(text, "  {licence_label}: {licence}");
    let _ = writeln!(text, "  {missing_label_text}: {}\n", missing.join(", "));
    let _ = writeln!(
        html,
        "<p><b>{}</b></p>\n<table cellpadding=\"3\"><tr><th align=\"left\">{}</th><td>{}</td></tr><tr><th align=\"left\">{}</th><td>{}</td></tr></table>",
        escape_html(intro),
        escape_html(licence_label),
        escape_html(&licence),
        escape_html(missing_label_text),
        escape_html(&missing.join(", "))
    );
    let draft = draft(facts, l, outlet, contacts);
    let _ = writeln!(text, "{draft_heading}\n{draft}\n");
    let _ = writeln!(
        html,
        "<h4>{}</h4>\n<pre style=\"white-space:pre-wrap\">{}</pre>",
        escape_html(draft_heading),
        escape_html(&draft)
    );
}

/// The draft request to the partner, in the outlet's language.
pub fn draft(
    facts: &MatchFacts,
    l: &LicenceFacts,
    outlet: &Outlet,
    contacts: &[Contact],
) -> String {
    let partner = one_line(&l.partner, 200);
    let title = one_line(&facts.original.title, 300);
    let original_url = one_line(&facts.original.url, 2000);
    let copy_url = one_line(&facts.copy.url, 2000);
    let share = format!("{:.0}%", (facts.containment * 100.0).clamp(0.0, 100.0));
    let signer = contacts
        .iter()
        .find(|c| c.role == Role::Licensing)
        .map(|c| format!("{} <{}>", c.name, c.email))
        .unwrap_or_default();
    let name = &outlet.name;
    let mut out = String::new();
    match outlet.language {
        Language::ZhCn => {
            let _ = writeln!(out, "{partner}：\n");
            let _ = writeln!(
                out,
                "您好！感谢贵方转载{name}的稿件《{title}》（{copy_url}）。根据双方的授权协议，我们注意到该页面目前存在以下问题："
            );
            for m in &l.missing {
                let line = match m.as_str() {
                    "attribution" => format!("未在正文附近注明来源（如“来源：{name}”）"),
                    "link" => format!("未附原文链接（{original_url}）"),
                    "title" => format!("标题与原文不一致（原标题：《{title}》）"),
                    "excerpt" => format!("转载篇幅超出授权的摘要范围（约为原文的 {share}）"),
                    other => one_line(other, 50),
                };
                let _ = writeln!(out, "  · {line}");
            }
            let _ = writeln!(
                out,
                "烦请在方便时予以更正。如有疑问，欢迎随时与我们联系。感谢贵方的合作！\n\n此致\n敬礼\n\n{name} 版权合作部"
            );
        }
        Language::En => {
            let _ = writeln!(out, "Dear {partner},\n");
            let _ = writeln!(
                out,
                "Thank you for republishing {name}'s article \"{title}\" ({copy_url}). Under our licence agreement, we noticed that the page currently:"
            );
            for m in &l.missing {
                let line = match m.as_str() {
                    "attribution" => format!("does not name the source near the text (for example \"Source: {name}\")"),
                    "link" => format!("does not link to the original article ({original_url})"),
                    "title" => format!("does not keep the original title (\"{title}\")"),
                    "excerpt" => format!("republishes more than the excerpt the licence allows (about {share} of the article)"),
                    other => one_line(other, 50),
                };
                let _ = writeln!(out, "  - {line}");
            }
            let _ = writeln!(
                out,
                "Could you please correct this at your convenience? Do let us know if you have any questions, and thank you for working with us.\n\nKind regards,\n\n{name} licensing"
            );
        }
    }
    if !signer.is_empty() {
        let _ = writeln!(out, "{signer}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outlet(language: Language) -> Outlet {
        Outlet {
            name: "江城日报社".into(),
            website: "https://www.jiangcheng-daily.example".into(),
            address: "滨江路 88 号".into(),
            language,
        }
    }

    fn facts() -> (MatchFacts, LicenceFacts) {
        let mut f = crate::evidence::tests::facts();
        f.original.title = "标题\r\nBcc: x@evil.example <b>".into();
        let l = LicenceFacts {
            partner: "天天资讯网".into(),
            licence: "config:天天资讯网".into(),
            verdict: "noncompliant".into(),
            missing: vec!["attribution".into(), "link".into(), "title".into()],
        };
        f.licence = Some(l.clone());
        (f, l)
    }

    #[test]
    fn the_request_names_what_is_missing_in_both_languages() {
        let (f, l) = facts();
        let contacts = [Contact {
            role: Role::Licensing,
            name: "李编辑".into(),
            email: "licensing@jiangcheng-daily.example".into(),
            phone: None,
        }];
        let zh = draft(&f, &l, &outlet(Language::ZhCn), &contacts);
        assert!(zh.starts_with("天天资讯网：\n"), "{zh}");
        assert!(zh.contains("未在正文附近注明来源（如“来源：江城日报社”）"));
        assert!(zh.contains(&format!("未附原文链接（{}）", f.original.url)));
        assert!(zh.contains("标题与原文不一致"));
        assert!(zh.contains("李编辑 <licensing@jiangcheng-daily.example>"));
        assert!(!zh.contains("\r\nBcc"), "crawled titles are one line");
        let en = draft(&f, &l, &outlet(Language::En), &contacts);
        assert!(en.starts_with("Dear 天天资讯网,"), "{en}");
        assert!(en.contains("does not link to the original article"));
        assert!(!en.contains("excerpt"));
        let (mut text, mut html) = (String::new(), String::new());
        write_request(
            &mut text,
            &mut html,
            &f,
            &l,
            &outlet(Language::En),
            &contacts,
        );
        assert!(text.contains("Missing: no attribution, no link to the original, title changed"));
        assert!(
            !html.contains("<b>\n") && html.contains("&lt;b&gt;"),
            "{html}"
        );
    }
}
