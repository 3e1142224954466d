//! Licences end to end: licensed partners' copies served by real loopback sites, found
//! by `copyhound scan`, checked against their `[[licences]]` terms, and the alerts
//! delivered to a real SMTP server (aiosmtpd): only the noncompliant copies alert
//! licensing staff, a copy under an expired licence is an ordinary match (counsel is
//! alerted), and a compliant one alerts nobody.

use std::net::SocketAddr;
use std::path::PathBuf;

use mail_parser::MessageParser;

use crate::util::{
    copyhound, copyhound_blocking, free_port, json, python_has, stderr, stdout, SmtpSink,
    OUTLET_CONFIG,
};

const ORIGINAL_URL: &str =
    "https://www.jiangcheng-daily.example/news/2026-11/20/content_10086.html";

/// How a partner's copy departs from the compliant one.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Copy {
    /// Attribution (in traditional characters, full-width colon), link and title kept.
    Compliant,
    NoAttribution,
    NoLink,
    ChangedTitle,
}

/// The bundled traditional-character copy of the sample original, turned into a
/// partner's page: the source line under the headline names the outlet (or not), a
/// link back to the original after the text (or not), the headline kept (or not).
fn page(kind: Copy) -> String {
    let mut html = std::fs::read_to_string(crate::util::sample("copy-zh-mirror.html")).unwrap();
    assert!(html.contains("來源：網絡整理"));
    if kind != Copy::NoAttribution {
        html = html.replace("來源：網絡整理", "來源：江城日報");
    }
    if kind != Copy::NoLink {
        let link = format!(
            "<p>原文鏈接：<a href=\"{ORIGINAL_URL}\" rel=\"nofollow\">江城日報</a></p>\n</div>"
        );
        let at = html.find("</div>\n</div>").expect("the content's end");
        html.replace_range(at..at + "</div>".len(), &link);
    }
    if kind == Copy::ChangedTitle {
        let h1_start = html.find("<h1 class=\"title\">").unwrap() + "<h1 class=\"title\">".len();
        let h1_end = html[h1_start..].find("</h1>").unwrap() + h1_start;
        html.replace_range(h1_start..h1_end, "震驚！濱江溼地竟然變成這樣");
        let t_start = html.find("<title>").unwrap() + "<title>".len();
        let t_end = html.find("</title>").unwrap();
        html.replace_range(t_start..t_end, "震驚！濱江溼地竟然變成這樣 - 天天資訊網");
    }
    html
}

async fn site(kind: Copy) -> SocketAddr {
    let body = page(kind);
    let router = axum::Router::new().route(
        "/news/1.html",
        axum::routing::get(move || {
            let body = body.clone();
            async move { ([("content-type", "text/html; charset=utf-8")], body) }
        }),
    );
    crate::util::fixture::serve(router).await
}

struct Env {
    _dir: tempfile::TempDir,
    root: PathBuf,
    config: PathBuf,
}

impl Env {
    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut all = args.to_vec();
        all.extend(["--config", self.config.to_str().unwrap()]);
        copyhound(&all)
    }
}

/// A licence for the site at `addr`.
fn licence(partner: &str, addr: SocketAddr, from: &str, to: &str) -> String {
    format!(
        "\n[[licences]]\npartner = \"{partner}\"\ndomains = [\"{addr}\"]\nvalid_from = {from}\nvalid_to = {to}\n"
    )
}

/// The `[email]` keys for an SMTP server on `port`.
fn smtp(port: u16) -> String {
    format!("smtp_url = \"smtp://127.0.0.1:{port}\"\nstarttls = \"opportunistic\"\nfrom = \"copyhound <copyhound@jiangcheng-daily.example>\"\nretry_initial = \"1s\"\ntimeout = \"5s\"\n")
}

/// An environment whose archive holds the sample original, with `email` as its
/// `[email]` keys and `crawl` appended to its `[crawl]` section.
fn env(email: &str, crawl: &str) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let config = root.join("copyhound.toml");
    std::fs::write(
        &config,
        format!(
            "{OUTLET_CONFIG}\n[email]\n{email}\n[originals]\npaths = [\"archive\"]\n\n[crawl]\nallow_private_networks = true\nper_host_delay = \"0s\"\ntimeout = \"10s\"\n{crawl}"
        ),
    )
    .unwrap();
    crate::util::archive_zh_original(&root);
    Env {
        _dir: dir,
        root,
        config,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn licensed_copies_are_told_apart_and_only_noncompliant_ones_alert_licensing() {
    if !python_has("aiosmtpd", "licensed_copies_are_told_apart") {
        return;
    }
    let compliant = site(Copy::Compliant).await;
    let no_attribution = site(Copy::NoAttribution).await;
    let no_link = site(Copy::NoLink).await;
    let changed_title = site(Copy::ChangedTitle).await;
    let expired = site(Copy::Compliant).await;
    let smtp_port = free_port();
    let licences = [
        licence("合规网", compliant, "2026-01-01", "2099-12-31"),
        licence("无署名网", no_attribution, "2026-01-01", "2099-12-31"),
        licence("无链接网", no_link, "2026-01-01", "2099-12-31"),
        licence("改标题网", changed_title, "2026-01-01", "2099-12-31"),
        licence("过期网", expired, "2020-01-01", "2020-12-31"),
    ]
    .concat();
    let env = env(&smtp(smtp_port), &licences);
    let sink = SmtpSink::start(smtp_port, &env.root.join("mail"), None);
    let out = copyhound_blocking(&env.config, &["ingest"]).await;
    assert!(out.status.success(), "{}", stderr(&out));

    let urls: Vec<String> = [compliant, no_attribution, no_link, changed_title, expired]
        .iter()
        .map(|a| format!("http://{a}/news/1.html"))
        .collect();
    let mut args = vec!["scan"];
    args.extend(urls.iter().map(String::as_str));
    let out = copyhound_blocking(&env.config, &args).await;
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    // Three noncompliant copies (licensing staff) and the expired one (both roles).
    assert!(
        stderr(&out).contains("alerts: 5 sent"),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );

    let matches = json(&env.run(&["matches", "list", "--json"]));
    let by_url = |url: &str| {
        matches
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["copy_url"] == url)
            .unwrap_or_else(|| panic!("no match for {url}: {matches}"))
            .clone()
    };
    let status = |i: usize| by_url(&urls[i])["status"].as_str().unwrap().to_string();
    assert_eq!(status(0), "licensed");
    assert_eq!(status(1), "licensed-noncompliant");
    assert_eq!(status(2), "licensed-noncompliant");
    assert_eq!(status(3), "licensed-noncompliant");
    assert_eq!(status(4), "unreviewed");
    assert_eq!(by_url(&urls[4])["licensed"], false);

    // What each check found is recorded and shown.
    // Noncompliant copies make the check exit with status 1.
    let out = env.run(&["licences", "check", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let checked: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let verdicts: Vec<(String, String)> = urls
        .iter()
        .map(|u| {
            let c = checked
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["copy_url"] == u.as_str())
                .unwrap();
            let missing: Vec<&str> = c["missing"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m.as_str().unwrap())
                .collect();
            (
                c["verdict"].as_str().unwrap().to_string(),
                missing.join(","),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            ("compliant".to_string(), String::new()),
            ("noncompliant".to_string(), "attribution".to_string()),
            ("noncompliant".to_string(), "link".to_string()),
            ("noncompliant".to_string(), "title".to_string()),
            ("expired".to_string(), String::new()),
        ]
    );

    // Only the noncompliant copies reached licensing staff, each once, with a draft
    // request naming what is missing; counsel heard only of the expired licence's copy.
    let messages = sink.messages();
    assert_eq!(
        messages.len(),
        5,
        "{:?}",
        messages.iter().map(|m| &m.1).collect::<Vec<_>>()
    );
    let mut to_licensing = Vec::new();
    let mut to_legal = Vec::new();
    for (raw, rcpt) in &messages {
        let msg = MessageParser::default().parse(raw).unwrap();
        let subject = msg.subject().unwrap().to_string();
        let body = msg.body_text(0).unwrap().to_string();
        assert!(
            !body.contains(&urls[0]),
            "the compliant copy alerted: {body}"
        );
        if rcpt.iter().any(|r| r.starts_with("licensing@")) {
            to_licensing.push((subject, body));
        } else {
            assert!(rcpt.iter().any(|r| r.starts_with("legal@")), "{rcpt:?}");
            to_legal.push((subject, body));
        }
    }
    assert_eq!(to_legal.len(), 1);
    assert!(to_legal[0].1.contains(&urls[4]));
    assert!(
        to_legal[0].1.contains("过期网 的授权在抓取时已过期"),
        "{}",
        to_legal[0].1
    );
    assert_eq!(to_licensing.len(), 4);
    let requests: Vec<&(String, String)> = to_licensing
        .iter()
        .filter(|(s, _)| s.contains("授权转载未合规"))
        .collect();
    assert_eq!(requests.len(), 3, "{to_licensing:?}");
    for (i, missing) in [
        (1, "未在正文附近注明来源"),
        (2, "未附原文链接"),
        (3, "标题与原文不一致"),
    ] {
        let (_, body) = requests
            .iter()
            .find(|(_, b)| b.contains(&urls[i]))
            .unwrap_or_else(|| panic!("no request for {}", urls[i]));
        assert!(body.contains("更正请求（草稿）"), "{body}");
        assert!(body.contains(missing), "{body}");
        assert!(body.contains("版权合作部 李编辑 <licensing@jiangcheng-daily.example>"));
    }

    // Checking again queues nothing more and says which are noncompliant (exit 1).
    let out = env.run(&["licences", "check"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("5 match(es) checked, 3 noncompliant, 0 alert(s) queued"),
        "{}",
        stdout(&out)
    );
    let out = env.run(&["alerts", "send", "--wait", "1s"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(sink.messages().len(), 5);

    // The list shows each licence's counts and its noncompliant matches.
    let list = json(&env.run(&["licences", "list", "--json"]));
    let entry = |partner: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|l| l["partner"] == partner)
            .unwrap()
            .clone()
    };
    assert_eq!(entry("合规网")["counts"]["compliant"], 1);
    assert_eq!(entry("合规网")["compliance_rate"], 1.0);
    assert_eq!(entry("无链接网")["counts"]["noncompliant"], 1);
    assert_eq!(entry("无链接网")["source"]["kind"], "config");
    assert_eq!(
        entry("无链接网")["noncompliant_matches"][0],
        by_url(&urls[2])["id"]
    );
    assert_eq!(entry("过期网")["counts"]["outside_validity"], 1);
    let text = stdout(&env.run(&["licences", "list"]));
    assert!(text.contains("无署名网  [config:无署名网]"), "{text}");
    assert!(
        text.contains("valid:    2020-01-01 to 2020-12-31"),
        "{text}"
    );
    assert!(
        text.contains("terms:    attribution, link, title, full text"),
        "{text}"
    );

    // The month's report shows each licence's compliance.
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    let out = env.run(&["report", "--month", &month]);
    assert!(out.status.success(), "{}", stderr(&out));
    let html = stdout(&out);
    for row in [
        "<th scope=\"row\">合规网 <span class=\"url\">config:合规网</span></th><td>1</td><td>0</td><td>0</td><td>100%</td>",
        "<th scope=\"row\">无链接网 <span class=\"url\">config:无链接网</span></th><td>0</td><td>1</td><td>0</td><td>0%</td>",
        "<th scope=\"row\">过期网 <span class=\"url\">config:过期网</span></th><td>0</td><td>0</td><td>1</td><td>—</td>",
    ] {
        assert!(html.contains(row), "{row} not in the report");
    }
}

/// `[crawl] licensed` keeps meaning "licensed, no terms checked": the same copy that a
/// licence would find noncompliant is recorded `licensed`, without a check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plain_licensed_list_checks_no_terms() {
    let addr = site(Copy::NoAttribution).await;
    // Without an SMTP server alerts are written to the outbox folder.
    let env = env("", &format!("licensed = [\"{}\"]\n", addr.ip()));
    let out = copyhound_blocking(&env.config, &["ingest"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let url = format!("http://{addr}/news/1.html");
    let out = copyhound_blocking(&env.config, &["scan", &url]).await;
    assert!(
        stdout(&out).contains("copy"),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let matches = json(&env.run(&["matches", "list", "--json"]));
    assert_eq!(matches[0]["status"], "licensed");
    let checked = json(&env.run(&["licences", "check", "--json"]));
    assert_eq!(checked.as_array().unwrap().len(), 0);
}

/// The licences page over real HTTP (the desk of `web`, on the demo's store): behind
/// the login, every POST refused without the session's CSRF token (nothing added), a
/// refused form answered 400 with the reason in the desk's language and the form kept,
/// a licence added and listed with where it comes from, and the check button run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_licences_page_keeps_the_desks_rules() {
    use reqwest::StatusCode;
    let desk = crate::web::DeskFixture::start().await;
    // Without a session a page sends the browser to the login.
    let r = desk.get("/licences", None).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (session, csrf) = desk.login().await;
    let r = desk.get("/licences", Some(&session)).await;
    assert_eq!(r.status(), StatusCode::OK);
    crate::web::assert_security_headers(r.headers());
    let page = r.text().await.unwrap();
    assert!(page.contains("id=\"no-licences\""), "{page}");
    let form = |token: &'static str| -> Vec<(&'static str, String)> {
        vec![
            ("csrf", token.to_string()),
            ("partner", "晨报 <script>".to_string()),
            ("domains", "chenbao.example\n127.0.0.2:8080".to_string()),
            ("valid_from", "2026-01-01".to_string()),
            ("attribution", "1".to_string()),
            ("link_back", "1".to_string()),
            ("scope", "excerpt".to_string()),
            ("excerpt_max_share", "0.25".to_string()),
        ]
    };
    for token in [
        "",
        "0000000000000000000000000000000000000000000000000000000000000000",
    ] {
        let f = form(token);
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = desk.post("/licences", Some(&session), &f).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = desk
            .post("/licences/check", Some(&session), &[("csrf", token)])
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    let r = desk.post("/licences/check", None, &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let store = copyhound::store::Store::open_dir(&desk.state).unwrap();
    assert!(store.desk_licences().unwrap().is_empty());

    // A refused form: 400, the reason in zh-CN (the demo's language), the form kept.
    let mut bad: Vec<(&str, String)> = form("");
    bad[0].1 = csrf.clone();
    bad[3].1 = "2026-02-30".into();
    let f: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = desk.post("/licences", Some(&session), &f).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("未添加：日期格式应为 2026-01-31：2026-02-30"),
        "{page}"
    );
    assert!(page.contains("value=\"晨报 &#60;script&#62;\""), "{page}");
    assert!(!page.contains("<script>"), "{page}");

    let mut good = form("");
    good[0].1 = csrf.clone();
    let f: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = desk.post("/licences", Some(&session), &f).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let licences = store.desk_licences().unwrap();
    assert_eq!(licences.len(), 1);
    assert_eq!(licences[0].added_by, "wang");
    assert_eq!(
        licences[0].licence.domains,
        ["chenbao.example", "127.0.0.2:8080"]
    );
    assert_eq!(licences[0].licence.terms.excerpt_max_share, 0.25);
    assert!(!licences[0].licence.terms.title_unchanged);
    let page = desk.page("/licences", &session).await;
    assert!(page.contains("data-source=\"desk\""), "{page}");
    assert!(page.contains("审阅台 · 添加人 wang"), "{page}");
    assert!(page.contains("仅摘要"), "{page}");

    let r = desk
        .post("/licences/check", Some(&session), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()[reqwest::header::LOCATION],
        "/licences?checked=0&noncompliant=0"
    );

    // Ending it: refused without the token, then done once, the row kept.
    let id = match licences[0].licence.source {
        copyhound::licences::LicenceSource::Desk { id } => id,
        ref other => panic!("{other:?}"),
    };
    let end = format!("/licences/{id}/end");
    assert!(page.contains(&format!("action=\"{end}\"")), "{page}");
    let r = desk.post(&end, Some(&session), &[("csrf", "")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = desk.post(&end, Some(&session), &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(r.headers()[reqwest::header::LOCATION]
        .to_str()
        .unwrap()
        .starts_with("/licences?ended="));
    let ended = &store.desk_licences().unwrap()[0];
    assert_eq!(ended.ended_by.as_deref(), Some("wang"));
    assert!(!ended.licence.holds_on(chrono::Utc::now().date_naive()));
    let page = desk.page("/licences", &session).await;
    assert!(!page.contains(&format!("action=\"{end}\"")), "{page}");
    assert!(page.contains("data-state=\"expired\""), "{page}");
    assert!(page.contains("结束人 wang"), "{page}");
    let r = desk.post(&end, Some(&session), &[("csrf", &csrf)]).await;
    assert_eq!(r.headers()[reqwest::header::LOCATION], "/licences");
    let r = desk
        .post("/licences/999/end", Some(&session), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    desk.stop().await;
}
