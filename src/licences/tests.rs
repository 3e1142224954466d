use super::*;

const ORIGINAL_URL_KEY: &str = "//www.jiangcheng-daily.example/news/2026-11/20/content_10086.html";
const TITLE: &str = "滨江湿地公园修复工程完工 候鸟种类三年增至四十二种";
const BODY: &str = "11月19日，历时三年的滨江湿地公园生态修复工程通过竣工验收。记者从市园林局获悉，修复后的湿地面积达到1260亩。";

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

fn licence(terms: Terms) -> Licence {
    Licence {
        source: LicenceSource::Config,
        partner: "天天资讯网".into(),
        domains: vec!["tiantian.example".into()],
        valid_from: day("2026-01-01"),
        valid_to: Some(day("2026-12-31")),
        terms,
    }
}

/// A page whose main text is the copy, with `header` as the line under its headline,
/// `footer` after the text and `links` as its anchors.
fn page(title: &str, header: &str, footer: &str, links: &[&str]) -> CopyPage {
    CopyPage {
        main_text: format!("{BODY}\n{footer}"),
        page_text: format!(
            "首页 新闻 生活 {title} 2026-11-21 {header} {BODY} {footer} 友情链接 关于我们"
        ),
        title: title.to_string(),
        link_keys: links.iter().map(|l| l.to_string()).collect(),
    }
}

fn original() -> Original<'static> {
    Original {
        title: TITLE,
        url_key: ORIGINAL_URL_KEY,
    }
}

fn verdict(terms: Terms, page: &CopyPage, share: f64, on: &str) -> Verdict {
    check(
        &licence(terms),
        page,
        original(),
        share,
        day(on),
        &default_forms("江城日报社"),
    )
}

#[test]
fn a_copy_keeping_every_term_is_compliant() {
    let p = page(TITLE, "来源：江城日报", "", &[ORIGINAL_URL_KEY]);
    assert_eq!(
        verdict(Terms::default(), &p, 1.0, "2026-11-21"),
        Verdict::Compliant
    );
}

#[test]
fn each_missing_term_is_named() {
    let cases: [(CopyPage, f64, Vec<Missing>); 4] = [
        (
            page(TITLE, "来源：网络整理", "", &[ORIGINAL_URL_KEY]),
            1.0,
            vec![Missing::Attribution],
        ),
        (
            page(TITLE, "来源：江城日报", "", &["//other.example/a.html"]),
            1.0,
            vec![Missing::Link],
        ),
        (
            page(
                "震惊！湿地公园竟然变成这样",
                "来源：江城日报",
                "",
                &[ORIGINAL_URL_KEY],
            ),
            1.0,
            vec![Missing::Title],
        ),
        (
            page("改了的标题", "", "", &[]),
            1.0,
            vec![Missing::Attribution, Missing::Link, Missing::Title],
        ),
    ];
    for (p, share, missing) in cases {
        assert_eq!(
            verdict(Terms::default(), &p, share, "2026-11-21"),
            Verdict::Noncompliant(missing.clone()),
            "{p:?}"
        );
    }
}

#[test]
fn traditional_and_full_width_attributions_count() {
    for header in [
        "來源：江城日報",
        "来源:江城日报",
        "来源 : 江城日报社",
        "來源：ＪＣ日報",
        "（稿源：江城日報）",
        "转自 江城日报",
    ] {
        let forms = if header.contains("ＪＣ") {
            vec!["来源：JC日报".to_string()]
        } else {
            Vec::new()
        };
        let terms = Terms {
            attribution_forms: forms,
            ..Terms::default()
        };
        let p = page(TITLE, header, "", &[ORIGINAL_URL_KEY]);
        assert_eq!(
            verdict(terms, &p, 1.0, "2026-11-21"),
            Verdict::Compliant,
            "{header}"
        );
    }
}

#[test]
fn the_bare_name_in_the_copied_byline_is_no_attribution() {
    let p = CopyPage {
        main_text: format!("江城日报记者 张三\n{BODY}"),
        ..page(TITLE, "来源：网络", "", &[ORIGINAL_URL_KEY])
    };
    assert_eq!(
        verdict(Terms::default(), &p, 1.0, "2026-11-21"),
        Verdict::Noncompliant(vec![Missing::Attribution])
    );
}

#[test]
fn an_attribution_far_from_the_copied_text_does_not_count() {
    let far = "合作伙伴 ".repeat(80);
    let mut p = page(TITLE, "来源：网络", "", &[ORIGINAL_URL_KEY]);
    p.page_text = format!("{} {far} 合作媒体：来源：江城日报", p.page_text);
    assert_eq!(
        verdict(Terms::default(), &p, 1.0, "2026-11-21"),
        Verdict::Noncompliant(vec![Missing::Attribution])
    );
    // The same line just after the text is near.
    let p = page(TITLE, "来源：网络", "", &[ORIGINAL_URL_KEY]);
    let p = CopyPage {
        page_text: format!("{} 来源：江城日报", p.page_text),
        ..p
    };
    assert_eq!(
        verdict(Terms::default(), &p, 1.0, "2026-11-21"),
        Verdict::Compliant
    );
}

#[test]
fn titles_are_compared_folded_with_site_suffixes_allowed() {
    for copy in [
        TITLE,
        "濱江溼地公園脩(xiū)復工程完工 候鳥種類(lèi)三年增至四十二種",
        "滨江湿地公园修复工程完工　候鸟种类三年增至四十二种 - 天天资讯网",
        "滨江湿地公园修复工程完工 候鸟种类三年增至四十二种_合作网",
    ] {
        assert!(title_kept(copy, TITLE), "{copy}");
    }
    for copy in [
        "滨江湿地公园修复工程完工",
        "独家：滨江湿地公园修复工程完工 候鸟种类三年增至四十二种",
        "",
    ] {
        assert!(!title_kept(copy, TITLE), "{copy}");
    }
}

#[test]
fn an_excerpt_licence_limits_the_share() {
    let terms = Terms {
        scope: Scope::Excerpt,
        excerpt_max_share: 0.3,
        ..Terms::default()
    };
    let p = page(TITLE, "来源：江城日报", "", &[ORIGINAL_URL_KEY]);
    assert_eq!(
        verdict(terms.clone(), &p, 0.25, "2026-11-21"),
        Verdict::Compliant
    );
    assert_eq!(
        verdict(terms, &p, 0.9, "2026-11-21"),
        Verdict::Noncompliant(vec![Missing::Excerpt])
    );
}

#[test]
fn validity_is_checked_first_and_inclusive() {
    let p = page("改了的标题", "", "", &[]);
    assert_eq!(
        verdict(Terms::default(), &p, 1.0, "2027-01-01"),
        Verdict::Expired
    );
    assert_eq!(
        verdict(Terms::default(), &p, 1.0, "2025-12-31"),
        Verdict::NotYetValid
    );
    let ok = page(TITLE, "来源：江城日报", "", &[ORIGINAL_URL_KEY]);
    for on in ["2026-01-01", "2026-12-31"] {
        assert_eq!(verdict(Terms::default(), &ok, 1.0, on), Verdict::Compliant);
    }
}

#[test]
fn terms_switched_off_are_not_checked() {
    let terms = Terms {
        attribution: false,
        link_back: false,
        title_unchanged: false,
        ..Terms::default()
    };
    let p = page("改了的标题", "", "", &[]);
    assert_eq!(verdict(terms, &p, 1.0, "2026-11-21"), Verdict::Compliant);
}

#[test]
fn hostile_pages_do_not_panic() {
    let p = CopyPage {
        main_text: String::new(),
        page_text: "\u{0}\u{feff}來".repeat(1000),
        title: "\u{202e}".into(),
        link_keys: vec![String::new()],
    };
    assert_eq!(
        verdict(Terms::default(), &p, f64::NAN, "2026-11-21"),
        Verdict::Noncompliant(vec![Missing::Attribution, Missing::Link, Missing::Title])
    );
}

#[test]
fn the_book_picks_the_licence_valid_on_the_day() {
    let old = Licence {
        valid_from: day("2024-01-01"),
        valid_to: Some(day("2024-12-31")),
        ..licence(Terms::default())
    };
    let renewed = Licence {
        source: LicenceSource::Desk { id: 7 },
        domains: vec!["news.tiantian.example".into(), "127.0.0.1:8080".into()],
        ..licence(Terms::default())
    };
    let book = LicenceBook::new(vec![old, renewed], "江城日报社");
    let url = Url::parse("https://news.tiantian.example/a.html").unwrap();
    assert_eq!(
        book.for_url(&url, day("2026-03-01")).unwrap().key(),
        "desk:7"
    );
    assert_eq!(
        book.for_url(&url, day("2024-03-01")).unwrap().key(),
        "config:天天资讯网"
    );
    // After both: the one that ended last judges it (expired).
    assert_eq!(
        book.for_url(&url, day("2027-03-01")).unwrap().key(),
        "desk:7"
    );
    let port = Url::parse("http://127.0.0.1:8080/x").unwrap();
    assert!(book.covers(&port));
    assert!(!book.covers(&Url::parse("http://127.0.0.1:8081/x").unwrap()));
    assert!(!book.covers(&Url::parse("https://other.example/").unwrap()));
}

#[test]
fn sites_parse_as_domains_or_host_and_port() {
    assert_eq!(parse_site("Partner.Example").unwrap(), "partner.example");
    assert_eq!(parse_site("127.0.0.1:8080").unwrap(), "127.0.0.1:8080");
    assert!(parse_site("http://x.example/").is_err());
    assert!(parse_site("x.example:99999").is_err());
    assert!(parse_site("").is_err());
}
