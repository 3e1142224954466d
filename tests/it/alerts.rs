//! Email alerts against a real SMTP server on loopback (aiosmtpd, see
//! `tests/support/smtp_sink.py`), with received messages parsed by a real MIME parser
//! (`mail-parser`). Alerts are queued through the library, as the pipeline does, and
//! delivered by the real binary (`copyhound alerts send`).

use std::path::PathBuf;

use chrono::Utc;
use copyhound::config::Settings;
use copyhound::crawl::fetch::Capture;
use copyhound::evidence::{self, CopyFacts, MatchFacts, OriginalFacts, PassageFacts, WarcInfo};
use copyhound::notify::{self, report::EvidenceRef};
use copyhound::store::Store;
use mail_parser::{MessageParser, MimeHeaders};
use sha2::{Digest, Sha256};

use crate::util::{
    copyhound, copyhound_blocking, free_port, json, python_has, stderr, stdout, SmtpSink,
    OUTLET_CONFIG,
};

const HOSTILE_TITLE: &str = "转载\r\nBcc: victim@evil.example\r\n<script>alert(1)</script>";

struct Env {
    _dir: tempfile::TempDir,
    root: PathBuf,
    config: PathBuf,
}

impl Env {
    fn new(email: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let config = root.join("copyhound.toml");
        std::fs::write(&config, format!("{OUTLET_CONFIG}\n[email]\n{email}\n")).unwrap();
        Env {
            _dir: dir,
            root,
            config,
        }
    }

    fn smtp(port: u16, extra: &str) -> Env {
        Env::new(&format!(
            "smtp_url = \"smtp://127.0.0.1:{port}\"\nstarttls = \"opportunistic\"\nfrom = \"copyhound <copyhound@jiangcheng-daily.example>\"\nretry_initial = \"1s\"\nretry_max = \"2s\"\ntimeout = \"5s\"\n{extra}"
        ))
    }

    fn settings(&self) -> Settings {
        Settings::load(&self.config).unwrap()
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut all = args.to_vec();
        all.extend(["--config", self.config.to_str().unwrap()]);
        copyhound(&all)
    }

    /// Writes an evidence bundle for match `n` and queues its alerts, as the pipeline
    /// does when it records a match. Returns the facts and the evidence file.
    fn new_match(&self, n: i64, title: &str) -> (MatchFacts, evidence::EvidenceFile) {
        let settings = self.settings();
        let facts = facts(n, title);
        let info = WarcInfo::current(
            b"config",
            "copyhound/0.1 (+https://www.jiangcheng-daily.example)",
        );
        let file = evidence::write_bundle(
            &evidence::place::Place::open(&settings.storage).unwrap(),
            &info,
            &capture(n),
            &facts,
            Utc::now(),
        )
        .unwrap();
        let evidence_ref = EvidenceRef {
            file_name: file.file_name.clone(),
            sha256: file.sha256.clone(),
        };
        let alerts = notify::new_alerts(
            &facts,
            Some(&evidence_ref),
            &settings.email,
            &settings.contacts,
        )
        .unwrap();
        let mut store = Store::open_dir(&settings.storage.dir).unwrap();
        store.enqueue_alerts(&alerts, Utc::now()).unwrap();
        (facts, file)
    }

    fn alerts(&self) -> Vec<serde_json::Value> {
        json(&self.run(&["alerts", "list", "--json"]))
            .as_array()
            .unwrap()
            .clone()
    }
}

pub(crate) fn capture(n: i64) -> Capture {
    let body = format!("<html><head><title>{HOSTILE_TITLE}</title></head><body><p>江城新闻正文 {n}</p></body></html>").into_bytes();
    let now = Utc::now();
    Capture {
        requested_url: format!("http://copier.example/news/{n}").parse().unwrap(),
        final_url: format!("http://copier.example/news/{n}").parse().unwrap(),
        redirects: vec![],
        remote_addr: Some("203.0.113.7:80".parse().unwrap()),
        request_head: format!("GET /news/{n} HTTP/1.1\r\nhost: copier.example\r\nuser-agent: copyhound/0.1 (+https://www.jiangcheng-daily.example)\r\n").into_bytes(),
        status: 200,
        response_head: b"HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\n".to_vec(),
        content_type: Some("text/html; charset=utf-8".into()),
        content_encoding: None,
        body_sha256: hex::encode(Sha256::digest(&body)),
        raw_body: body,
        decoded_body: None,
        truncated: false,
        validators: Default::default(),
        started_at: now,
        finished_at: now,
        network: Default::default(),
    }
}

pub(crate) fn facts(n: i64, title: &str) -> MatchFacts {
    MatchFacts {
        match_id: Some(n),
        original: OriginalFacts {
            id: 100 + n,
            url: format!("https://www.jiangcheng-daily.example/news/{n}.html"),
            title: "江城大桥通车".into(),
            published: Some("2026-02-28T08:00:00Z".into()),
            first_seen: "2026-02-28T08:05:00Z".into(),
            text_sha256: "ab".repeat(32),
        },
        copy: CopyFacts {
            url: format!("http://copier.example/news/{n}"),
            host: "copier.example".into(),
            ip: Some("203.0.113.7".into()),
            captured_at: "2026-03-01T10:00:00Z".into(),
            title: title.into(),
            redirects: Vec::new(),
            archive: None,
        },
        verdict: "copy".into(),
        containment: 0.9,
        coverage: Some(0.8),
        copied_chars: Some(6),
        licensed: false,
        passages: vec![PassageFacts {
            original_start: 0,
            original_end: 6,
            copy_start: 0,
            copy_end: 6,
            original_text: "江城新闻正文".into(),
            copy_text: "江城新闻正文<img src=x onerror=alert(1)>".into(),
        }],
        passages_omitted: 0,
        escalation: None,
        case: None,
        licence: None,
    }
}

fn skip_without_smtp(test: &str) -> bool {
    !python_has("aiosmtpd", test)
}

fn state(alert: &serde_json::Value) -> &str {
    alert["state"].as_str().unwrap()
}

/// Delivers with `alerts send` and checks it succeeded.
fn send(env: &Env, wait: &str) -> String {
    let out = env.run(&["alerts", "send", "--wait", wait]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    stdout(&out)
}

#[test]
fn a_match_alerts_both_roles_with_report_and_attachments() {
    if skip_without_smtp("a_match_alerts_both_roles_with_report_and_attachments") {
        return;
    }
    let port = free_port();
    let env = Env::smtp(port, "");
    let sink = SmtpSink::start(port, &env.root.join("mail"), None);
    let (facts, file) = env.new_match(7, HOSTILE_TITLE);
    let summary = send(&env, "5s");
    assert!(summary.contains("2 sent in 2 email(s)"), "{summary}");

    let messages = sink.messages();
    assert_eq!(messages.len(), 2);
    let mut roles_seen = Vec::new();
    for (raw, rcpt) in &messages {
        let msg = MessageParser::default()
            .parse(raw)
            .expect("a parsable message");
        let to = msg.to().and_then(|a| a.first()).unwrap();
        let address = to.address().unwrap().to_string();
        assert_eq!(rcpt, &vec![address.clone()], "envelope and To agree");
        let legal = address.starts_with("legal@");
        roles_seen.push(address.clone());
        assert_eq!(
            to.name().unwrap(),
            if legal {
                "王律师"
            } else {
                "版权合作部 李编辑"
            }
        );
        // The Chinese subject survives RFC 2047 encoding; the hostile title's line
        // breaks did not become headers.
        let subject = msg.subject().unwrap();
        assert!(
            subject
                .starts_with("[copyhound] 发现疑似侵权转载: 江城大桥通车 — copier.example (90%)"),
            "{subject}"
        );
        assert!(msg.bcc().is_none(), "no injected Bcc header");
        let raw_text = String::from_utf8_lossy(raw);
        assert!(!raw_text.contains("\nBcc:"), "no injected header line");
        let head = &raw_text[..raw_text.find("\r\n\r\n").unwrap()];
        assert!(
            head.is_ascii(),
            "headers are 7-bit: the subject is RFC 2047 encoded"
        );
        let subject_line = head.lines().find(|l| l.starts_with("Subject:")).unwrap();
        assert!(subject_line.contains("=?utf-8?b?"), "{subject_line}");
        // Both parts; the crawled markup is inert in HTML.
        let text = msg.body_text(0).unwrap();
        let html = msg.body_html(0).unwrap();
        assert!(text.contains("转载 Bcc: victim@evil.example <script>alert(1)</script>"));
        assert!(text.contains("匹配编号（审阅页面）: 7"));
        assert!(text.contains(&file.file_name));
        assert!(text.contains(&file.sha256));
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("<mark>江城新闻正文&lt;img src=x onerror=alert(1)&gt;</mark>"));
        assert_eq!(
            text.contains("删除通知书（草稿）"),
            legal,
            "only counsel gets the draft notice"
        );
        // Attachments: the WARC with the recorded digest, and the match as JSON.
        let attachments: Vec<_> = msg.attachments().collect();
        assert_eq!(attachments.len(), 2);
        let warc = attachments
            .iter()
            .find(|a| a.attachment_name() == Some(file.file_name.as_str()))
            .expect("the WARC is attached");
        assert_eq!(hex::encode(Sha256::digest(warc.contents())), file.sha256);
        let json_part = attachments
            .iter()
            .find(|a| a.attachment_name() == Some("match-7.json"))
            .expect("the match JSON is attached");
        let back: MatchFacts = serde_json::from_slice(json_part.contents()).unwrap();
        assert_eq!(back, facts);
    }
    roles_seen.sort();
    assert_eq!(
        roles_seen,
        [
            "legal@jiangcheng-daily.example",
            "licensing@jiangcheng-daily.example"
        ]
    );

    // Sent once: another delivery run sends nothing more.
    send(&env, "0s");
    assert_eq!(sink.messages().len(), 2);
    let alerts = env.alerts();
    assert_eq!(alerts.len(), 2);
    assert!(alerts
        .iter()
        .all(|a| state(a) == "sent" && a["attempts"] == 1));
}

#[test]
fn alerts_survive_an_smtp_outage_and_arrive_once() {
    if skip_without_smtp("alerts_survive_an_smtp_outage_and_arrive_once") {
        return;
    }
    let port = free_port();
    let env = Env::smtp(port, "");
    for n in 1..=3 {
        env.new_match(n, "转载的标题");
    }
    // Nothing listens on the port: every alert stays queued with the reason.
    send(&env, "0s");
    send(&env, "0s");
    let alerts = env.alerts();
    assert_eq!(alerts.len(), 6);
    for a in &alerts {
        assert_eq!(state(a), "queued", "{a}");
        let reason = a["last_error"].as_str().unwrap();
        assert!(reason.contains(&format!("127.0.0.1:{port}")), "{reason}");
    }
    let listed = stdout(&env.run(&["alerts", "list"]));
    assert!(listed.contains("6 queued"), "{listed}");

    // The server comes back: every alert arrives, once.
    let sink = SmtpSink::start(port, &env.root.join("mail"), None);
    let summary = send(&env, "20s");
    assert!(summary.contains("6 sent"), "{summary}");
    send(&env, "0s");
    let messages = sink.messages();
    assert_eq!(messages.len(), 6);
    let mut ids: Vec<String> = messages
        .iter()
        .map(|(raw, _)| {
            MessageParser::default()
                .parse(raw)
                .unwrap()
                .message_id()
                .unwrap()
                .to_string()
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 6, "six distinct messages");
    assert!(env.alerts().iter().all(|a| state(a) == "sent"));
}

#[test]
fn a_451_reply_is_retried_with_backoff_and_delivered_once() {
    if skip_without_smtp("a_451_reply_is_retried_with_backoff_and_delivered_once") {
        return;
    }
    let port = free_port();
    let env = Env::smtp(port, "");
    let sink = SmtpSink::start_with(port, &env.root.join("mail"), None, 2);
    env.new_match(1, "标题");
    // One pass: both messages get 451 and stay queued with the reply.
    send(&env, "0s");
    let alerts = env.alerts();
    assert!(alerts.iter().all(|a| state(a) == "queued"
        && a["attempts"] == 1
        && a["last_error"].as_str().unwrap().contains("451")));
    assert!(sink.messages().is_empty());
    // Retried after the backoff: delivered, each once.
    let summary = send(&env, "20s");
    assert!(summary.contains("2 sent"), "{summary}");
    let alerts = env.alerts();
    assert!(
        alerts
            .iter()
            .all(|a| state(a) == "sent" && a["attempts"] == 2),
        "{alerts:?}"
    );
    assert_eq!(sink.messages().len(), 2);
}

#[test]
fn an_alert_claimed_by_a_dead_worker_is_sent_after_its_lease() {
    if skip_without_smtp("an_alert_claimed_by_a_dead_worker_is_sent_after_its_lease") {
        return;
    }
    let port = free_port();
    let env = Env::smtp(port, "");
    let sink = SmtpSink::start(port, &env.root.join("mail"), None);
    env.new_match(1, "标题");
    // A worker claims both alerts and dies before the server answers: they stay
    // `sending` until the lease ends (here: at once), and are not lost.
    let settings = env.settings();
    let mut store = Store::open_dir(&settings.storage.dir).unwrap();
    let now = Utc::now();
    let ids: Vec<i64> = env
        .alerts()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    for id in &ids {
        let claimed = store
            .claim_alerts(
                &[*id],
                &format!("<alert-{id}@copyhound.www.jiangcheng-daily.example>"),
                now,
                now,
            )
            .unwrap();
        assert_eq!(claimed, vec![*id]);
    }
    drop(store);
    assert!(env.alerts().iter().all(|a| state(a) == "sending"));
    let summary = send(&env, "5s");
    assert!(summary.contains("2 sent"), "{summary}");
    let messages = sink.messages();
    assert_eq!(messages.len(), 2);
    // The re-send carries the Message-ID fixed by the alert, so a copy the dead worker
    // may already have delivered is recognisable as the same message.
    for (raw, _) in &messages {
        let msg = MessageParser::default().parse(raw).unwrap();
        let id = msg.message_id().unwrap();
        assert!(
            id.starts_with("alert-") && id.ends_with("@copyhound.www.jiangcheng-daily.example"),
            "{id}"
        );
    }
    assert!(env
        .alerts()
        .iter()
        .all(|a| state(a) == "sent" && a["attempts"] == 2));
}

#[test]
fn a_550_reply_marks_the_alert_failed_and_listed() {
    if skip_without_smtp("a_550_reply_marks_the_alert_failed_and_listed") {
        return;
    }
    let port = free_port();
    let env = Env::smtp(port, "");
    let sink = SmtpSink::start(port, &env.root.join("mail"), Some("legal@"));
    env.new_match(1, "标题");
    send(&env, "3s");
    let alerts = env.alerts();
    let legal = alerts.iter().find(|a| a["role"] == "legal").unwrap();
    let licensing = alerts.iter().find(|a| a["role"] == "licensing").unwrap();
    assert_eq!(state(legal), "failed");
    assert_eq!(legal["attempts"], 1, "a 5xx is not retried");
    assert!(
        legal["last_error"].as_str().unwrap().contains("550"),
        "{legal}"
    );
    assert_eq!(state(licensing), "sent");
    assert_eq!(sink.messages().len(), 1);
    let listed = stdout(&env.run(&["alerts", "list"]));
    assert!(
        listed.contains("failed") && listed.contains("550"),
        "{listed}"
    );
    assert!(listed.contains("1 sent, 1 failed"), "{listed}");

    // `alerts retry` queues it again; it fails again against the same server.
    let id = legal["id"].as_i64().unwrap().to_string();
    let out = env.run(&["alerts", "retry", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        state(env.alerts().iter().find(|a| a["role"] == "legal").unwrap()),
        "queued"
    );
    let out = env.run(&["alerts", "retry", &id]);
    assert!(!out.status.success(), "only failed alerts can be retried");
}

#[test]
fn many_matches_become_one_digest_per_role() {
    if skip_without_smtp("many_matches_become_one_digest_per_role") {
        return;
    }
    let port = free_port();
    let env = Env::smtp(port, "digest_after = 5\ndigest_window = \"10m\"\n");
    let sink = SmtpSink::start(port, &env.root.join("mail"), None);
    for n in 1..=7 {
        env.new_match(n, "标题");
    }
    let summary = send(&env, "3s");
    assert!(summary.contains("14 sent in 2 email(s)"), "{summary}");
    let messages = sink.messages();
    assert_eq!(messages.len(), 2);
    for (raw, _) in &messages {
        let msg = MessageParser::default().parse(raw).unwrap();
        assert_eq!(
            msg.subject(),
            Some("[copyhound] 7 条新的疑似侵权转载（汇总）")
        );
        let text = msg.body_text(0).unwrap();
        assert_eq!(text.matches("匹配编号（审阅页面）").count(), 7);
        // The JSON of all matches plus the seven WARCs fit under the default cap.
        assert_eq!(msg.attachments().count(), 8);
    }
    // The digest was one of the window's five emails per role, so three more matches
    // within the window go out individually.
    for n in 8..=10 {
        env.new_match(n, "标题");
    }
    send(&env, "3s");
    assert_eq!(sink.messages().len(), 2 + 6);
}

#[test]
fn oversized_attachments_are_left_out_with_a_note() {
    if skip_without_smtp("oversized_attachments_are_left_out_with_a_note") {
        return;
    }
    let port = free_port();
    let env = Env::smtp(port, "max_attachment_bytes = 100\n");
    let sink = SmtpSink::start(port, &env.root.join("mail"), None);
    let (_, file) = env.new_match(1, "标题");
    send(&env, "3s");
    let messages = sink.messages();
    assert_eq!(messages.len(), 2);
    let msg = MessageParser::default().parse(&messages[0].0).unwrap();
    assert_eq!(msg.attachments().count(), 0);
    let text = msg.body_text(0).unwrap();
    assert!(
        text.contains(&format!("附件 {} 未随邮件发送", file.file_name)),
        "{text}"
    );
    assert!(msg.body_html(0).unwrap().contains("未随邮件发送"));
}

#[test]
fn without_smtp_url_messages_are_written_to_the_outbox_folder() {
    let env = Env::new("");
    env.new_match(1, "标题");
    send(&env, "0s");
    let outbox = env.root.join("state/outbox");
    let files: Vec<PathBuf> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 2);
    let raw = std::fs::read(&files[0]).unwrap();
    let msg = MessageParser::default().parse(&raw).unwrap();
    assert!(msg.subject().unwrap().contains("发现疑似侵权转载"));
    assert!(env.alerts().iter().all(|a| state(a) == "sent"));
}

#[test]
fn send_test_email_reaches_every_contact() {
    if skip_without_smtp("send_test_email_reaches_every_contact") {
        return;
    }
    let port = free_port();
    let env = Env::smtp(port, "");
    let sink = SmtpSink::start(port, &env.root.join("mail"), None);
    let out = env.run(&["send-test-email"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&format!("smtp://127.0.0.1:{port}")));
    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    let mut rcpt = messages[0].1.clone();
    rcpt.sort();
    assert_eq!(
        rcpt,
        [
            "legal@jiangcheng-daily.example",
            "licensing@jiangcheng-daily.example"
        ]
    );
    let msg = MessageParser::default().parse(&messages[0].0).unwrap();
    assert_eq!(msg.subject(), Some("[copyhound] 测试邮件"));
    drop(sink);
    // With the server gone the command fails and says why.
    let out = env.run(&["send-test-email"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("test email not sent"),
        "{}",
        stderr(&out)
    );
}

/// A relay that offers no STARTTLS (aiosmtpd offers none) with the default
/// `starttls = "required"`: a configuration failure that names the key and what to set,
/// at the first attempt, instead of a transient error retried forever.
#[test]
fn a_relay_without_starttls_is_a_configuration_failure() {
    if skip_without_smtp("a_relay_without_starttls_is_a_configuration_failure") {
        return;
    }
    let port = free_port();
    let env = Env::new(&format!(
        "smtp_url = \"smtp://127.0.0.1:{port}\"\nfrom = \"copyhound <copyhound@jiangcheng-daily.example>\"\nretry_initial = \"1s\"\nretry_max = \"2s\"\ntimeout = \"5s\"\n"
    ));
    let sink = SmtpSink::start(port, &env.root.join("mail"), None);
    let says_what_to_set = |text: &str| {
        text.contains(&format!("smtp://127.0.0.1:{port} offers no STARTTLS"))
            && text.contains("[email] starttls = \"required\"")
            && text.contains("set [email] starttls = \"opportunistic\"")
    };

    let out = env.run(&["send-test-email"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("test email not sent"), "{err}");
    assert!(says_what_to_set(&err), "{err}");
    assert!(!err.contains("transient"), "{err}");

    // Alerts fail at the first attempt, with the reason, and are not queued again.
    env.new_match(1, "标题");
    let out = send(&env, "5s");
    assert!(out.contains("2 failed, 0 still queued"), "{out}");
    let alerts = env.alerts();
    assert_eq!(alerts.len(), 2);
    for a in &alerts {
        assert_eq!(state(a), "failed", "{a}");
        assert_eq!(a["attempts"], 1, "{a}");
        assert!(says_what_to_set(a["last_error"].as_str().unwrap()), "{a}");
    }
    let out = env.run(&["alerts", "list"]);
    assert!(
        stdout(&out).contains("[email] starttls = \"opportunistic\""),
        "{}",
        stdout(&out)
    );
    assert!(sink.messages().is_empty());

    // With the setting the message names, the same relay takes the alerts.
    let config = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(
        &env.config,
        config.replace("[email]\n", "[email]\nstarttls = \"opportunistic\"\n"),
    )
    .unwrap();
    for a in &alerts {
        let id = a["id"].to_string();
        assert!(env.run(&["alerts", "retry", &id]).status.success());
    }
    let out = send(&env, "5s");
    assert!(out.contains("2 sent"), "{out}");
    assert_eq!(sink.messages().len(), 2);
}

#[test]
fn the_smtp_password_is_never_printed() {
    let env = Env::new(
        "smtp_url = \"smtp://127.0.0.1:1\"\nstarttls = \"opportunistic\"\nfrom = \"c@jiangcheng-daily.example\"\nusername = \"u\"\npassword_file = \"pw\"\ntimeout = \"2s\"\n",
    );
    std::fs::write(env.root.join("pw"), "hunter2-secret\n").unwrap();
    let out = env.run(&["send-test-email"]);
    assert!(!out.status.success());
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!all.contains("hunter2"), "{all}");
    let out = env.run(&["check-config"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).contains("hunter2"));
}

/// A loopback site with a copy of the bundled Chinese sample at /news/copy.html (linked
/// from /), and an environment whose archive holds the original and whose crawl seed is
/// the site. Returns the environment, the site's address and the SMTP port to use.
async fn copy_site_env() -> (Env, std::net::SocketAddr, u16) {
    let copy = std::fs::read(crate::util::sample("copy-zh-mirror.html")).unwrap();
    let router = axum::Router::new()
        .route(
            "/news/copy.html",
            axum::routing::get(move || {
                let copy = copy.clone();
                async move { ([("content-type", "text/html; charset=utf-8")], copy) }
            }),
        )
        .route(
            "/",
            axum::routing::get(|| async {
                (
                    [("content-type", "text/html; charset=utf-8")],
                    "<html><body><a href=\"/news/copy.html\">news</a></body></html>",
                )
            }),
        );
    let site = crate::util::fixture::serve(router).await;
    let port = free_port();
    let env = Env::smtp(
        port,
        &format!("\n[originals]\npaths = [\"archive\"]\n\n[crawl]\nseeds = [\"http://{site}/\"]\nallow_private_networks = true\nper_host_delay = \"0s\"\ntimeout = \"10s\"\n"),
    );
    crate::util::archive_zh_original(&env.root);
    (env, site, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crawl_once_delivers_the_alerts_it_queued() {
    if skip_without_smtp("crawl_once_delivers_the_alerts_it_queued") {
        return;
    }
    let (env, _site, port) = copy_site_env().await;
    let sink = SmtpSink::start(port, &env.root.join("mail"), None);
    let out = copyhound_blocking(&env.config, &["ingest"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = copyhound_blocking(&env.config, &["crawl", "--once"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("alerts: 2 sent in 2 email(s)"),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(sink.messages().len(), 2);
    let matches = json(&env.run(&["matches", "list", "--json"]));
    assert_eq!(matches.as_array().unwrap().len(), 1);
}

/// The daemon's crawl cycle rings its outbox's bell when a page's matches queue
/// alerts (the desk does the same for escalations), so they leave at once rather than
/// at the outbox's next poll; a cycle that queues nothing does not ring.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crawl_cycle_rings_the_outbox_when_it_queues_alerts() {
    use std::time::Duration;
    let (env, _site, _port) = copy_site_env().await;
    let out = copyhound_blocking(&env.config, &["ingest"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let settings = env.settings();
    let mut store = Store::open_dir(&settings.storage.dir).unwrap();
    let bell = tokio::sync::Notify::new();
    let first = cycle(&settings, &mut store, &bell).await;
    assert_eq!(first.matches.total(), 1);
    // Both roles are told of the copy: two alerts, queued and committed.
    assert_eq!(first.matches.alerts, 2);
    assert_eq!(store.pending_alert_count().unwrap(), 2);
    // A ring with nobody waiting is kept by the bell: the outbox's next wait ends at once.
    tokio::time::timeout(Duration::from_millis(200), bell.notified())
        .await
        .expect("the cycle rang the outbox");
    let second = cycle(&settings, &mut store, &bell).await;
    assert_eq!(second.matches.alerts, 0);
    assert!(
        tokio::time::timeout(Duration::from_millis(200), bell.notified())
            .await
            .is_err(),
        "a cycle that queued nothing rang the outbox"
    );
}

/// One crawl cycle as the daemon runs it, with `bell` as its outbox's bell.
async fn cycle(
    settings: &Settings,
    store: &mut Store,
    bell: &tokio::sync::Notify,
) -> copyhound::crawl::pipeline::CrawlSummary {
    copyhound::crawl::pipeline::crawl_cycle(
        settings,
        store,
        std::future::pending(),
        std::time::Duration::from_secs(5),
        Some(bell),
    )
    .await
    .unwrap()
}

/// The whole path: `scan` finds a copy of an archived original on a loopback site,
/// records the match with its evidence file and digest, queues both alerts in that
/// transaction, and delivers them before it exits; scanning again alerts nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_records_evidence_and_delivers_alerts_once() {
    if skip_without_smtp("scan_records_evidence_and_delivers_alerts_once") {
        return;
    }
    let (env, site, port) = copy_site_env().await;
    let sink = SmtpSink::start(port, &env.root.join("mail"), None);
    let out = copyhound_blocking(&env.config, &["ingest"]).await;
    assert!(
        stdout(&out).starts_with("ingest: 1 new"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );

    let url = format!("http://{site}/news/copy.html");
    let out = copyhound_blocking(&env.config, &["scan", &url]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("\tcopy\t"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("alerts: 2 sent in 2 email(s), 0 failed, 0 still queued"),
        "{}",
        stderr(&out)
    );

    // The match names its evidence file and digest; the file is on disk and intact.
    let matches = json(&env.run(&["matches", "list", "--json"]));
    let id = matches[0]["id"].as_i64().unwrap();
    let detail = json(&env.run(&["matches", "show", &id.to_string(), "--json"]));
    let file_name = detail["evidence_file"].as_str().unwrap().to_string();
    let sha = detail["evidence_sha256"].as_str().unwrap().to_string();
    let path = env.root.join("state/evidence").join(&file_name);
    assert_eq!(
        hex::encode(Sha256::digest(std::fs::read(&path).unwrap())),
        sha
    );
    let out = env.run(&["verify-evidence", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).contains(&format!(
            "file sha256 matches the digest recorded for match {id}"
        )),
        "{}",
        stdout(&out)
    );
    let bytes = std::fs::read(&path).unwrap();
    let (records, _) = evidence::warc::check_all(&bytes[..]);
    let meta: MatchFacts = serde_json::from_slice(&records[3].record.block).unwrap();
    assert_eq!(meta.match_id, Some(id));
    assert_eq!(meta.copy.url, url);
    assert_eq!(meta.copy.ip.as_deref(), Some("127.0.0.1"));
    assert!(!meta.passages.is_empty());

    // Both roles got one email, with that file attached and the match id stated.
    let alerts = env.alerts();
    assert_eq!(alerts.len(), 2);
    assert!(alerts
        .iter()
        .all(|a| state(a) == "sent" && a["match_id"] == id));
    let messages = sink.messages();
    assert_eq!(messages.len(), 2);
    for (raw, _) in &messages {
        let msg = MessageParser::default().parse(raw).unwrap();
        assert!(msg
            .body_text(0)
            .unwrap()
            .contains(&format!("匹配编号（审阅页面）: {id}")));
        let warc = msg
            .attachments()
            .find(|a| a.attachment_name() == Some(file_name.as_str()))
            .expect("evidence attached");
        assert_eq!(hex::encode(Sha256::digest(warc.contents())), sha);
    }

    // A forger who edits the page and recomputes every record digest makes a valid WARC,
    // but not the file whose digest the database recorded.
    let mut forged = records[2].record.clone();
    let at = forged.block.len() - 10;
    forged.block[at] ^= 1;
    let label = evidence::warc::sha256_label(&forged.block);
    for (name, value) in forged.headers.iter_mut() {
        if name == "WARC-Block-Digest" {
            *value = label.clone();
        }
        if name == "WARC-Payload-Digest" {
            *value =
                evidence::warc::sha256_label(evidence::warc::http_payload(&forged.block).unwrap());
        }
    }
    let mut file = bytes[..records[2].offset as usize].to_vec();
    file.extend(forged.to_gzip_member());
    file.extend(&bytes[records[3].offset as usize..]);
    let forged_path = env.root.join("forged").join(&file_name);
    std::fs::create_dir_all(forged_path.parent().unwrap()).unwrap();
    std::fs::write(&forged_path, &file).unwrap();
    assert!(
        copyhound(&["verify-evidence", forged_path.to_str().unwrap()])
            .status
            .success()
    );
    let out = env.run(&["verify-evidence", forged_path.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stdout(&out).contains(&format!(
            "recorded for match {id}: the file was replaced or altered"
        )),
        "{}",
        stdout(&out)
    );

    // The same page again: the match is known, nobody is alerted twice.
    let out = copyhound_blocking(&env.config, &["scan", &url]).await;
    assert!(out.status.success());
    assert_eq!(sink.messages().len(), 2);
    assert_eq!(env.alerts().len(), 2);
}
