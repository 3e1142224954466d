//! Cases, driving the real binary against real loopback sites and a real SMTP server
//! (aiosmtpd): the whole life of a case from the match found to its closing, the copy's
//! return, and the refusal of illegal steps.
//!
//! Time: the notice's deadline is passed honestly, by recording the notice with the
//! date it was sent (`cases mark --date`, ten days ago), and `cases recheck ID` re-checks
//! a case now whatever its schedule, so nothing here moves a clock.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use mail_parser::MessageParser;

use crate::util::{
    copyhound_cmd, free_port, json, python_has, stderr, stdout, SmtpSink, OUTLET_CONFIG,
};

struct Env {
    _dir: tempfile::TempDir,
    root: PathBuf,
    config: PathBuf,
    /// `[web] listen`'s port, for the daemon's `/metrics`.
    web: u16,
}

impl Env {
    /// The bundled Chinese original in the archive, crawling of loopback allowed, alerts
    /// through the SMTP server on `port`.
    fn new(port: u16) -> Env {
        let web = free_port();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let config = root.join("copyhound.toml");
        std::fs::write(
            &config,
            format!(
                "{OUTLET_CONFIG}
[originals]
paths = [\"archive\"]

[crawl]
allow_private_networks = true
per_host_delay = \"0s\"
timeout = \"10s\"
cycle_interval = \"1s\"

[web]
listen = \"127.0.0.1:{web}\"

[email]
smtp_url = \"smtp://127.0.0.1:{port}\"
starttls = \"opportunistic\"
from = \"copyhound <copyhound@jiangcheng-daily.example>\"
retry_initial = \"1s\"
retry_max = \"2s\"
timeout = \"5s\"

[cases]
deadline = \"7days\"
"
            ),
        )
        .unwrap();
        crate::util::archive_zh_original(&root);
        let env = Env {
            _dir: dir,
            root,
            config,
            web,
        };
        let out = env.run_sync(&["ingest"]);
        assert!(
            stdout(&out).starts_with("ingest: 1 new"),
            "{}",
            stderr(&out)
        );
        env
    }

    fn run_sync(&self, args: &[&str]) -> Output {
        let mut all = args.to_vec();
        all.extend(["--config", self.config.to_str().unwrap()]);
        copyhound_cmd(&all)
            .env("USER", "counsel-wang")
            .env_remove("SUDO_USER")
            .output()
            .expect("the copyhound binary runs")
    }

    /// Runs off the async runtime (the fixture site runs on it).
    async fn run(&self, args: &[&str]) -> Output {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend(["--config".to_string(), self.config.display().to_string()]);
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = all.iter().map(String::as_str).collect();
            copyhound_cmd(&refs)
                .env("USER", "counsel-wang")
                .env_remove("SUDO_USER")
                .output()
                .expect("the copyhound binary runs")
        })
        .await
        .unwrap()
    }

    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            out.status.success(),
            "{args:?} failed: {}{}",
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    }

    async fn mark_infringing(&self, match_id: i64) {
        self.ok(&[
            "matches",
            "mark",
            &match_id.to_string(),
            "--status",
            "infringing",
        ])
        .await;
    }

    async fn case(&self, id: i64) -> serde_json::Value {
        json(
            &self
                .run(&["cases", "show", &id.to_string(), "--json"])
                .await,
        )
    }
}

/// A site on loopback serving a copy of the bundled Chinese sample at `/news/copy.html`
/// while `online` is set, and 404 otherwise.
async fn copy_site(online: Arc<AtomicBool>) -> SocketAddr {
    let copy = std::fs::read(crate::util::sample("copy-zh-mirror.html")).unwrap();
    let router = axum::Router::new().route(
        "/news/copy.html",
        axum::routing::get(move || {
            let copy = copy.clone();
            let online = online.load(Ordering::SeqCst);
            async move {
                if online {
                    (
                        axum::http::StatusCode::OK,
                        [("content-type", "text/html; charset=utf-8")],
                        copy,
                    )
                } else {
                    (
                        axum::http::StatusCode::NOT_FOUND,
                        [("content-type", "text/html; charset=utf-8")],
                        "<html><body><h1>404</h1><p>页面不存在</p></body></html>"
                            .as_bytes()
                            .to_vec(),
                    )
                }
            }
        }),
    );
    crate::util::fixture::serve(router).await
}

/// The subjects of the messages the sink received.
fn subjects(sink: &SmtpSink) -> Vec<String> {
    sink.messages()
        .iter()
        .map(|(raw, _)| {
            MessageParser::default()
                .parse(raw)
                .and_then(|m| m.subject().map(str::to_string))
                .unwrap_or_default()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_lives_from_the_match_to_its_closing_and_reopens_when_the_copy_returns() {
    if !python_has("aiosmtpd", "a_case_lives_from_the_match_to_its_closing") {
        return;
    }
    let port = free_port();
    let env = Env::new(port);
    let sink = SmtpSink::start(port, &env.root.join("mail"), None);
    let online = Arc::new(AtomicBool::new(true));
    let site = copy_site(Arc::clone(&online)).await;
    let url = format!("http://{site}/news/copy.html");

    // Found.
    env.ok(&["scan", &url]).await;
    let matches = json(&env.run(&["matches", "list", "--json"]).await);
    let match_id = matches[0]["id"].as_i64().unwrap();
    assert!(json(&env.run(&["cases", "list", "--json"]).await)
        .as_array()
        .unwrap()
        .is_empty());

    // Marked infringing: the case opens with the decision.
    env.mark_infringing(match_id).await;
    let cases = json(&env.run(&["cases", "list", "--json"]).await);
    assert_eq!(cases.as_array().unwrap().len(), 1);
    assert_eq!(cases[0]["state"], "escalated");
    assert_eq!(cases[0]["match_id"], match_id);
    let id = cases[0]["id"].as_i64().unwrap();
    let ids = id.to_string();

    // Its first scheduled re-check is a day away: nothing is due yet.
    let out = env.ok(&["cases", "recheck"]).await;
    assert_eq!(out, "recheck: 0 case(s)\n");

    // An illegal step is refused with the reason and the steps allowed.
    let out = env
        .run(&["cases", "mark", &ids, "--state", "removed"])
        .await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!(
            "case {id}: cannot go from escalated to removed (from escalated: notice-sent, escalated-further, closed)"
        )),
        "{}",
        stderr(&out)
    );
    let out = env
        .run(&["cases", "mark", &ids, "--state", "notice-sent"])
        .await;
    assert!(
        stderr(&out).contains("notice-sent needs --channel"),
        "{}",
        stderr(&out)
    );

    // Notice sent ten days ago: the 7-day deadline has passed.
    let sent = (chrono::Utc::now() - chrono::Duration::days(10))
        .format("%Y-%m-%d")
        .to_string();
    let out = env
        .ok(&[
            "cases",
            "mark",
            &ids,
            "--state",
            "notice-sent",
            "--channel",
            "email",
            "--recipient",
            "abuse@copier.example",
            "--date",
            &sent,
            "--note",
            "第一次通知",
        ])
        .await;
    assert_eq!(out, format!("case {id}: escalated -> notice-sent\n"));
    let overdue = json(&env.run(&["cases", "list", "--overdue", "--json"]).await);
    assert_eq!(overdue.as_array().unwrap().len(), 1);
    assert_eq!(overdue[0]["overdue"], true);

    // The notice's deadline has ended, so the case is due (before its next offset):
    // `cases recheck` without ids, which picks the due cases as the daemon does, takes
    // it. Still online past the deadline -> one reminder to counsel, by SMTP.
    let mails_before = sink.messages().len();
    let out = env.ok(&["cases", "recheck"]).await;
    assert!(out.ends_with("recheck: 1 case(s)\n"), "{out}");
    assert!(
        out.contains(&format!("case {id}: still-online (HTTP 200")),
        "{out}"
    );
    assert!(out.contains("notice-sent -> still-online"), "{out}");
    assert!(out.contains("deadline reminder queued for legal"), "{out}");
    let messages = sink.messages();
    assert_eq!(messages.len(), mails_before + 1, "{:?}", subjects(&sink));
    let (raw, rcpt) = messages.last().unwrap();
    assert_eq!(rcpt, &vec!["legal@jiangcheng-daily.example".to_string()]);
    let msg = MessageParser::default().parse(raw).unwrap();
    assert!(
        msg.subject()
            .unwrap()
            .starts_with("[copyhound] 删除期限已过，转载仍在线："),
        "{:?}",
        msg.subject()
    );
    let text = msg.body_text(0).unwrap();
    for needle in [
        &format!("案件编号: {id}"),
        "abuse@copier.example",
        "复查结果: still-online (HTTP 200",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }

    // The next re-check is scheduled from the opening again (a day after it).
    let next = env.case(id).await["next_recheck_at"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        next.as_str() > chrono::Utc::now().to_rfc3339().as_str(),
        "{next}"
    );

    // A second re-check past the same deadline sends no second reminder.
    let out = env.ok(&["cases", "recheck", &ids]).await;
    assert!(!out.contains("reminder"), "{out}");
    assert_eq!(sink.messages().len(), mails_before + 1);

    // The page is removed: the re-check says so with its own evidence of the 404.
    online.store(false, Ordering::SeqCst);
    let out = env.ok(&["cases", "recheck", &ids]).await;
    assert!(
        out.contains(&format!("case {id}: removed (HTTP 404)")),
        "{out}"
    );
    assert!(out.contains("still-online -> removed"), "{out}");
    let case = env.case(id).await;
    assert_eq!(case["state"], "removed");
    let removal = case["events"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["kind"] == "recheck")
        .unwrap()
        .clone();
    assert_eq!(removal["result"], "removed");
    assert_eq!(removal["http_status"], 404);
    let evidence = removal["evidence_file"].as_str().unwrap();
    let path = env.root.join("state/evidence").join(evidence);
    let out = env.run(&["verify-evidence", path.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));

    // Closed as removed.
    let out = env
        .ok(&[
            "cases",
            "mark",
            &ids,
            "--state",
            "closed",
            "--outcome",
            "removed",
        ])
        .await;
    assert_eq!(out, format!("case {id}: removed -> closed\n"));
    assert_eq!(env.case(id).await["outcome"], "removed");

    // The copy comes back: the case reopens and counsel is alerted.
    online.store(true, Ordering::SeqCst);
    let out = env.ok(&["cases", "recheck", &ids]).await;
    assert!(out.contains("closed -> still-online"), "{out}");
    assert!(out.contains("the copy is back"), "{out}");
    let last = subjects(&sink).last().cloned().unwrap();
    assert!(
        last.starts_with("[copyhound] 已删除的转载重新出现："),
        "{last}"
    );
    let case = env.case(id).await;
    assert_eq!(case["state"], "still-online");
    assert!(case["outcome"].is_null());

    // Every step is a row, in order.
    let kinds: Vec<(String, String)> = case["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want = [
        ("opened", "escalated"),
        ("step", "notice-sent"),
        ("recheck", "still-online"),
        ("recheck", "still-online"),
        ("recheck", "removed"),
        ("step", "closed"),
        ("recheck", "still-online"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(k, s)| (k.to_string(), s.to_string()))
        .collect();
    assert_eq!(kinds, want);

    // A counter-notice is recorded as such and leaves the state.
    let out = env
        .ok(&[
            "cases",
            "mark",
            &ids,
            "--state",
            "counter-notice",
            "--note",
            "对方称已获授权",
        ])
        .await;
    assert_eq!(
        out,
        format!("case {id}: counter-notice recorded (state still-online)\n")
    );

    // The text view shows the timeline.
    let out = env.ok(&["cases", "show", &ids]).await;
    assert!(out.contains("state: still-online"), "{out}");
    assert!(
        out.contains("channel email, to abuse@copier.example"),
        "{out}"
    );
    assert!(out.contains("对方称已获授权"), "{out}");
}

/// A daemon killed when the test ends, however it ends.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_rechecks_due_cases_and_reminds_counsel_once() {
    if !python_has(
        "aiosmtpd",
        "the_daemon_rechecks_due_cases_and_reminds_counsel_once",
    ) {
        return;
    }
    let port = free_port();
    let env = Env::new(port);
    let sink = SmtpSink::start(port, &env.root.join("mail"), None);
    let site = copy_site(Arc::new(AtomicBool::new(true))).await;
    let url = format!("http://{site}/news/copy.html");
    env.ok(&["scan", &url]).await;
    let match_id = json(&env.run(&["matches", "list", "--json"]).await)[0]["id"]
        .as_i64()
        .unwrap();
    env.mark_infringing(match_id).await;
    let id = json(&env.run(&["cases", "list", "--json"]).await)[0]["id"]
        .as_i64()
        .unwrap();
    let sent = (chrono::Utc::now() - chrono::Duration::days(10))
        .format("%Y-%m-%d")
        .to_string();
    env.ok(&[
        "cases",
        "mark",
        &id.to_string(),
        "--state",
        "notice-sent",
        "--channel",
        "platform-form",
        "--recipient",
        "https://copier.example/report",
        "--date",
        &sent,
    ])
    .await;
    let mails_before = sink.messages().len();

    let log = std::fs::File::create(env.root.join("daemon.log")).unwrap();
    let _daemon = Daemon(
        copyhound_cmd(&["run", "--config", env.config.to_str().unwrap()])
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    // The deadline has ended, so the first cycle re-checks the case and reminds counsel.
    let start = std::time::Instant::now();
    loop {
        let case = env.case(id).await;
        if case["state"] == "still-online" && sink.messages().len() > mails_before {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "no re-check by the daemon; case {case}\nlog:\n{}",
            std::fs::read_to_string(env.root.join("daemon.log")).unwrap_or_default()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let last = subjects(&sink).last().cloned().unwrap();
    assert!(
        last.starts_with("[copyhound] 删除期限已过，转载仍在线："),
        "{last}"
    );
    let case = env.case(id).await;
    let recheck = case["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "recheck")
        .unwrap()
        .clone();
    assert_eq!(recheck["actor"], "copyhound");
    assert_eq!(recheck["result"], "still-online");
    assert!(recheck["alert_id"].is_i64());

    // /metrics counts the open case by state and the re-check by result.
    let metrics = format!("http://127.0.0.1:{}/metrics", env.web);
    let start = std::time::Instant::now();
    loop {
        let text = reqwest::get(&metrics).await.unwrap().text().await.unwrap();
        if text.contains("copyhound_cases_open{state=\"still-online\"} 1\n")
            && text.contains("copyhound_case_rechecks_total{result=\"still-online\"} 1\n")
        {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "metrics:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // Later cycles find the case not due (its next offset is a day after the opening)
    // and remind nobody again.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(
        sink.messages().len(),
        mails_before + 1,
        "{:?}",
        subjects(&sink)
    );
}
