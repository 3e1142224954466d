//! The review desk from the command line, driving the real binary: `matches mark`
//! (escalation to counsel, the licensed and ignored site lists), `matches list` filters,
//! `matches show` with the decision history, and `hash-password`. Copies of the bundled
//! Chinese sample are served by real HTTP sites on loopback and found by `scan`; alerts
//! are written as `.eml` files to the outbox (no SMTP server needed) and parsed with a
//! real MIME parser.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Output, Stdio};

use argon2::PasswordVerifier;
use mail_parser::{MessageParser, MimeHeaders};

use crate::util::{copyhound_cmd, json, stderr, stdout, OUTLET_CONFIG};

/// The Unix user the tests decide as (`USER`; `SUDO_USER` removed).
const REVIEWER: &str = "reviewer-wang";

/// Subject of an escalation email, as the zh-CN report renders it.
const CONFIRMED: &str = "经审核确认侵权";

struct Env {
    _dir: tempfile::TempDir,
    root: PathBuf,
    config: PathBuf,
}

impl Env {
    /// A config with both contacts, no SMTP server (alerts become `.eml` files in
    /// state/outbox), the bundled Chinese original in the archive, and crawling of
    /// loopback allowed; the archive is ingested.
    fn new() -> Env {
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
"
            ),
        )
        .unwrap();
        crate::util::archive_zh_original(&root);
        let env = Env {
            _dir: dir,
            root,
            config,
        };
        let out = env.run(&["ingest"]);
        assert!(
            stdout(&out).starts_with("ingest: 1 new"),
            "{}{}",
            stdout(&out),
            stderr(&out)
        );
        env
    }

    /// Runs the binary with `args` and this config, as [`REVIEWER`].
    fn run(&self, args: &[&str]) -> Output {
        let mut all = args.to_vec();
        all.extend(["--config", self.config.to_str().unwrap()]);
        copyhound_cmd(&all)
            .env("USER", REVIEWER)
            .env_remove("SUDO_USER")
            .output()
            .expect("the copyhound binary runs")
    }

    /// [`Env::run`] off the async runtime (the fixture sites run on it).
    async fn run_async(&self, args: &[&str]) -> Output {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend(["--config".to_string(), self.config.display().to_string()]);
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = all.iter().map(String::as_str).collect();
            copyhound_cmd(&refs)
                .env("USER", REVIEWER)
                .env_remove("SUDO_USER")
                .output()
                .expect("the copyhound binary runs")
        })
        .await
        .unwrap()
    }

    /// `matches mark ID` with `args`.
    async fn mark(&self, id: i64, args: &[&str]) -> Output {
        let id = id.to_string();
        let mut all = vec!["matches", "mark", id.as_str()];
        all.extend(args);
        let out = self.run_async(&all).await;
        assert!(out.status.success(), "{}", stderr(&out));
        out
    }

    /// Scans `urls` and returns the ids of their matches, in the order given.
    async fn scan(&self, urls: &[String]) -> Vec<i64> {
        let mut args = vec!["scan"];
        args.extend(urls.iter().map(String::as_str));
        let out = self.run_async(&args).await;
        assert!(out.status.success(), "{}", stderr(&out));
        for line in stdout(&out).lines() {
            assert!(line.contains("\tcopy\t"), "{}", stdout(&out));
        }
        let all = self.list(&[]);
        urls.iter()
            .map(|u| {
                all.iter()
                    .find(|m| m["copy_url"] == u.as_str())
                    .unwrap_or_else(|| panic!("no match for {u}: {all:?}"))["id"]
                    .as_i64()
                    .unwrap()
            })
            .collect()
    }

    /// `matches list --json` with `filters`.
    fn list(&self, filters: &[&str]) -> Vec<serde_json::Value> {
        let mut args = vec!["matches", "list", "--json"];
        args.extend(filters);
        json(&self.run(&args)).as_array().unwrap().clone()
    }

    /// The ids `matches list --json` gives with `filters`, sorted.
    fn ids(&self, filters: &[&str]) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .list(filters)
            .iter()
            .map(|m| m["id"].as_i64().unwrap())
            .collect();
        ids.sort_unstable();
        ids
    }

    fn show(&self, id: i64) -> serde_json::Value {
        json(&self.run(&["matches", "show", &id.to_string(), "--json"]))
    }

    /// The alerts of match `id`: (role, state).
    fn alerts_of(&self, id: i64) -> Vec<(String, String)> {
        json(&self.run(&["alerts", "list", "--json"]))
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["match_id"] == id)
            .map(|a| {
                (
                    a["role"].as_str().unwrap().to_string(),
                    a["state"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// The raw `.eml` files in the outbox, by name.
    fn outbox(&self) -> Vec<Vec<u8>> {
        let dir = self.root.join("state/outbox");
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        paths.retain(|p| p.extension().is_some_and(|e| e == "eml"));
        paths.sort();
        paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
    }

    /// The outbox's escalation emails.
    fn escalations(&self) -> Vec<Vec<u8>> {
        self.outbox()
            .into_iter()
            .filter(|raw| {
                let msg = MessageParser::default().parse(raw).unwrap();
                msg.subject().unwrap_or_default().contains(CONFIRMED)
            })
            .collect()
    }
}

/// A site on loopback serving a copy of the bundled Chinese sample at each of `paths`.
async fn copy_site(paths: &[&str]) -> SocketAddr {
    let copy = std::fs::read(crate::util::sample("copy-zh-mirror.html")).unwrap();
    let mut router = axum::Router::new();
    for path in paths {
        router = router.route(path, crate::util::fixture::html(copy.clone()));
    }
    crate::util::fixture::serve(router).await
}

fn url(site: SocketAddr, path: &str) -> String {
    format!("http://{site}{path}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marking_infringing_escalates_to_counsel_once() {
    let env = Env::new();
    let site = copy_site(&["/news/copy.html"]).await;
    let [id] = env.scan(&[url(site, "/news/copy.html")]).await[..] else {
        panic!("one match expected")
    };
    // The new match alerted both roles (and `scan` delivered them).
    assert_eq!(env.outbox().len(), 2);
    assert!(env.escalations().is_empty());

    let note = "无授权记录，已核实 <script>alert(1)</script>";
    let out = env
        .mark(id, &["--status", "infringing", "--note", note])
        .await;
    assert_eq!(
        stdout(&out),
        format!("match {id}: unreviewed -> infringing (escalation queued for legal)\n")
    );
    assert!(
        stderr(&out).contains("alerts: 1 sent in 1 email(s), 0 failed, 0 still queued"),
        "{}",
        stderr(&out)
    );

    // Exactly one escalation, to counsel, with the note, the reviewer, the evidence file
    // and the draft notice.
    let escalations = env.escalations();
    assert_eq!(escalations.len(), 1);
    let msg = MessageParser::default().parse(&escalations[0]).unwrap();
    assert!(msg
        .subject()
        .unwrap()
        .starts_with("[copyhound] 经审核确认侵权："));
    let to = msg.to().unwrap().first().unwrap().address().unwrap();
    assert_eq!(to, "legal@jiangcheng-daily.example");
    let text = msg.body_text(0).unwrap();
    for needle in [
        note,
        &format!("确认人: {REVIEWER}"),
        "删除通知书（草稿）",
        &format!("匹配编号（审阅页面）: {id}"),
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    let html = msg.body_html(0).unwrap();
    assert!(!html.contains("<script>"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    let detail = env.show(id);
    let evidence_file = detail["evidence_file"].as_str().unwrap();
    assert!(msg
        .attachments()
        .any(|a| a.attachment_name() == Some(evidence_file)));
    let roles = env.alerts_of(id);
    assert_eq!(
        roles.iter().filter(|(role, _)| role == "legal").count(),
        2,
        "the new match's alert and the escalation: {roles:?}"
    );
    assert!(roles.iter().all(|(_, state)| state == "sent"), "{roles:?}");

    // Marked infringing again: a second decision, no second escalation.
    let out = env.mark(id, &["--status", "infringing"]).await;
    assert!(
        stdout(&out)
            .contains("infringing -> infringing (already infringing: no second escalation)"),
        "{}",
        stdout(&out)
    );
    assert_eq!(env.alerts_of(id).len(), 3);
    assert_eq!(env.escalations().len(), 1);

    // The history, in JSON and as text.
    let detail = env.show(id);
    assert_eq!(detail["status"], "infringing");
    let decisions = detail["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 2);
    assert!(decisions
        .iter()
        .all(|d| d["actor"] == REVIEWER && d["via"] == "cli"));
    assert_eq!(decisions[0]["previous_status"], "unreviewed");
    assert_eq!(decisions[0]["note"], note);
    assert!(decisions[0]["alert_id"].is_i64());
    assert!(decisions[1]["alert_id"].is_null());
    let out = env.run(&["matches", "show", &id.to_string()]);
    let text = stdout(&out);
    assert!(text.contains("decisions: 2\n"), "{text}");
    assert!(
        text.contains(&format!(
            " {REVIEWER} via cli: unreviewed -> infringing: 无授权记录"
        )),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn site_lists_apply_to_later_copies() {
    let env = Env::new();
    let partner = copy_site(&["/a.html", "/b.html"]).await;
    let ignored = copy_site(&["/a.html", "/b.html", "/c.html", "/d.html"]).await;
    let other = copy_site(&["/a.html"]).await;
    let first = env
        .scan(&[
            url(partner, "/a.html"),
            url(ignored, "/a.html"),
            url(ignored, "/b.html"),
            url(other, "/a.html"),
        ])
        .await;
    let [p1, i1, i2, o1] = first[..] else {
        panic!("{first:?}")
    };

    // Licensed, with the site added to the list: a later copy there is licensed, and
    // counsel hears nothing about it (licensing staff still do).
    let out = env
        .mark(
            p1,
            &[
                "--status",
                "licensed",
                "--add-licensed-domain",
                "--note",
                "合作协议 2026-017",
            ],
        )
        .await;
    assert_eq!(
        stdout(&out),
        format!(
            "match {p1}: unreviewed -> licensed\nlicensed sites: added {partner} (later matches there are recorded as licensed)\n"
        )
    );
    let [p2] = env.scan(&[url(partner, "/b.html")]).await[..] else {
        panic!()
    };
    let m = env.show(p2);
    assert_eq!(m["status"], "licensed");
    assert_eq!(m["licensed"], true);
    let roles: Vec<String> = env.alerts_of(p2).into_iter().map(|(r, _)| r).collect();
    assert_eq!(roles, vec!["licensing"]);

    // Ignoring the site marks its other unreviewed match too; a later copy there is
    // recorded ignored, with its evidence file, and alerts nobody.
    let out = env
        .mark(i1, &["--status", "ignored", "--ignore-site"])
        .await;
    assert_eq!(
        stdout(&out),
        format!(
            "match {i1}: unreviewed -> ignored\nmatch {i2}: unreviewed -> ignored (same site)\nignored sites: added {ignored} (later matches there are recorded as ignored and alert nobody)\n"
        )
    );
    let mails = env.outbox().len();
    let [i3] = env.scan(&[url(ignored, "/c.html")]).await[..] else {
        panic!()
    };
    let m = env.show(i3);
    assert_eq!(m["status"], "ignored");
    assert!(m["evidence_file"].is_string(), "{m}");
    assert!(env.alerts_of(i3).is_empty());
    assert_eq!(env.outbox().len(), mails);
    assert!(env.escalations().is_empty());

    // A crawl cycle (the daemon's path) reads the lists too. `[crawl]` is the config's
    // last table, so a line appended to the file belongs to it.
    let mut config = std::fs::read_to_string(&env.config).unwrap();
    config.push_str(&format!("seeds = [\"{}\"]\n", url(ignored, "/d.html")));
    std::fs::write(&env.config, config).unwrap();
    let out = env.run_async(&["crawl", "--once"]).await;
    assert!(
        stdout(&out).contains(" 1 matches (0 copy, 0 partial, 0 licensed), frontier ")
            && stdout(&out).trim_end().ends_with(", 1 on ignored sites"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let crawled = env.list(&["--site", &ignored.to_string(), "--limit", "1"]);
    assert_eq!(crawled[0]["copy_url"], url(ignored, "/d.html"));
    assert_eq!(crawled[0]["status"], "ignored");
    let i4 = crawled[0]["id"].as_i64().unwrap();
    assert!(env.alerts_of(i4).is_empty());
    assert_eq!(env.outbox().len(), mails);

    // The filters.
    assert_eq!(env.ids(&["--status", "ignored"]), vec![i1, i2, i3, i4]);
    assert_eq!(env.ids(&["--status", "licensed"]), vec![p1, p2]);
    assert_eq!(env.ids(&["--status", "unreviewed"]), vec![o1]);
    assert!(env.ids(&["--status", "false-positive"]).is_empty());
    assert_eq!(
        env.ids(&["--site", &ignored.to_string(), "--verdict", "copy"]),
        vec![i1, i2, i3, i4]
    );
    assert!(env.ids(&["--verdict", "partial"]).is_empty());
    let newest = env.list(&["--limit", "1"]);
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0]["id"], i4, "newest first by default");
    for field in [
        "id",
        "copy_url",
        "original_url",
        "verdict",
        "containment",
        "status",
    ] {
        assert!(
            newest[0].get(field).is_some(),
            "no {field} in {}",
            newest[0]
        );
    }
    let by_share = env.list(&["--sort", "share", "--status", "ignored"]);
    assert_eq!(by_share.len(), 4);
    let out = env.run(&["matches", "list", "--status", "ignored", "--limit", "2"]);
    assert!(
        stdout(&out).ends_with("2 of 4 match(es)\n"),
        "{}",
        stdout(&out)
    );
    let out = env.run(&["matches", "list", "--status", "bogus"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(
            "[possible values: unreviewed, infringing, licensed, licensed-noncompliant, false-positive, ignored]"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn mark_refuses_unknown_ids_statuses_and_option_mixes() {
    let env = Env::new();
    let out = env.run(&["matches", "mark", "999", "--status", "infringing"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no match with id 999"),
        "{}",
        stderr(&out)
    );
    let out = env.run(&["matches", "show", "999"]);
    assert_eq!(out.status.code(), Some(1));
    // Usage errors: clap's exit status 2 and a message naming what is allowed.
    for (args, message) in [
        (
            &["--status", "stolen"][..],
            "[possible values: infringing, licensed, false-positive, ignored]",
        ),
        (&["--status", "unreviewed"], "[possible values: infringing,"),
        (
            &["--status", "infringing", "--add-licensed-domain"],
            "--add-licensed-domain goes only with --status licensed",
        ),
        (
            &["--status", "licensed", "--ignore-site"],
            "--ignore-site goes only with --status ignored",
        ),
    ] {
        let mut all = vec!["matches", "mark", "1"];
        all.extend(args);
        let out = env.run(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
    }
}

/// Runs `hash-password` with `input` on standard input.
fn hash_password(input: &[u8]) -> Output {
    let mut child = copyhound_cmd(&["hash-password"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the copyhound binary runs");
    // A refused (overlong) input may close the pipe before all of it is written.
    let _ = child.stdin.take().unwrap().write_all(input);
    child.wait_with_output().unwrap()
}

#[test]
fn hash_password_output_logs_in_and_is_accepted_by_check_config() {
    let out = hash_password("correct horse 电池\r\n".as_bytes());
    assert!(out.status.success(), "{}", stderr(&out));
    let phc = stdout(&out).trim_end().to_string();
    assert!(phc.starts_with("$argon2id$"), "{phc}");
    let argon2 = argon2::Argon2::default();
    assert!(argon2
        .verify_password("correct horse 电池".as_bytes(), phc.as_str())
        .is_ok());
    assert!(argon2
        .verify_password(b"correct horse", phc.as_str())
        .is_err());

    let env = Env::new();
    let mut config = std::fs::read_to_string(&env.config).unwrap();
    config.push_str(&format!(
        "\n[web]\n\n[[web.users]]\nname = \"wang\"\npassword_hash = \"{phc}\"\n"
    ));
    std::fs::write(&env.config, config).unwrap();
    let out = env.run(&["check-config"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));

    for refused in [&b""[..], b"\n", b"\r\n", &[b'x'; 1025], b"\xff\xfe\n"] {
        let out = hash_password(refused);
        assert_eq!(out.status.code(), Some(1), "{refused:?}");
        assert!(stdout(&out).is_empty());
    }
    assert!(stderr(&hash_password(b"\n")).contains("empty password"));
}

/// A match whose evidence file could not be written (here the evidence folder's name is
/// taken by a file, as a full or read-only disk would fail it) is still recorded and
/// alerted; once writing works again, `rebuild-evidence` writes the file from the stored
/// capture, it verifies, and an escalation then carries it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_evidence_is_rebuilt_from_the_capture() {
    let env = Env::new();
    let site = copy_site(&["/a.html", "/b.html"]).await;
    let blocker = env.root.join("state/evidence");
    std::fs::create_dir_all(env.root.join("state")).unwrap();
    std::fs::write(&blocker, b"not a folder").unwrap();
    let ids = env
        .scan(&[url(site, "/a.html"), url(site, "/b.html")])
        .await;
    for id in &ids {
        assert!(env.show(*id)["evidence_file"].is_null(), "no file yet");
    }
    // Still failing: named, exit 1, nothing recorded.
    let out = env.run_async(&["rebuild-evidence"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains(&format!("match {}", ids[0])),
        "{}",
        stderr(&out)
    );
    assert!(env.show(ids[0])["evidence_file"].is_null());

    std::fs::remove_file(&blocker).unwrap();
    // Escalating writes the missing file first, so counsel gets the evidence.
    env.mark(ids[0], &["--status", "infringing"]).await;
    let first = env.show(ids[0]);
    let file = first["evidence_file"]
        .as_str()
        .expect("written at escalation");
    let mails = env.escalations();
    assert_eq!(mails.len(), 1);
    let msg = MessageParser::default().parse(&mails[0]).unwrap();
    assert!(
        msg.attachments().any(|a| a.attachment_name() == Some(file)),
        "the escalation carries the evidence file"
    );
    // The other one by the command; a second run has nothing left to do.
    let out = env.run_async(&["rebuild-evidence"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).ends_with("rebuild-evidence: 1 written, 0 failed\n"),
        "{}",
        stdout(&out)
    );
    let second = env.show(ids[1]);
    let path = env
        .root
        .join("state/evidence")
        .join(second["evidence_file"].as_str().unwrap());
    // The rebuilt file verifies, and its digest is the one recorded with the match.
    let out = env
        .run_async(&["verify-evidence", path.to_str().unwrap(), "--json"])
        .await;
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let verified: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verified["sha256"], second["evidence_sha256"]);
    let out = env
        .run_async(&["rebuild-evidence", &ids[1].to_string()])
        .await;
    assert!(stdout(&out).contains("already has its evidence file"));
    assert!(stdout(&out).ends_with("rebuild-evidence: 0 written, 0 failed\n"));
}

/// A copy reached through a redirect (a short link, a link on another site) is recorded
/// under its final URL, and the way it was reached is kept: in the evidence file's
/// metadata record, in the alerts, in the escalation email counsel receives, and on the
/// desk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redirect_chain_to_a_copy_is_kept() {
    let env = Env::new();
    let copy = std::fs::read(crate::util::sample("copy-zh-mirror.html")).unwrap();
    let router = axum::Router::new()
        .route(
            "/s/abc",
            axum::routing::get(|| async {
                (
                    axum::http::StatusCode::FOUND,
                    [("location", "/news/copy.html")],
                )
            }),
        )
        .route(
            "/news/copy.html",
            axum::routing::get(move || {
                let copy = copy.clone();
                async move { ([("content-type", "text/html; charset=utf-8")], copy) }
            }),
        );
    let site = crate::util::fixture::serve(router).await;
    let short = url(site, "/s/abc");
    let out = env.run_async(&["scan", &short]).await;
    assert!(stdout(&out).contains("\tcopy\t"), "{}", stdout(&out));
    let listed = env.list(&[]);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["copy_url"], url(site, "/news/copy.html"));
    let id = listed[0]["id"].as_i64().unwrap();

    // The evidence file's metadata record names the hop.
    let shown = env.show(id);
    let path = env
        .root
        .join("state/evidence")
        .join(shown["evidence_file"].as_str().unwrap());
    let bytes = std::fs::read(path).unwrap();
    let (records, problems) = copyhound::evidence::warc::check_all(&bytes[..]);
    assert!(problems.is_empty(), "{problems:?}");
    let metadata: serde_json::Value = serde_json::from_slice(&records[3].record.block).unwrap();
    let hops = metadata["copy"]["redirects"].as_array().unwrap();
    assert_eq!(hops.len(), 1);
    assert_eq!(hops[0]["url"], short);
    assert_eq!(hops[0]["status"], 302);
    assert_eq!(hops[0]["location"], "/news/copy.html");

    // The alerts and the escalation show the chain.
    let chain = format!("{short} (302) → {}", url(site, "/news/copy.html"));
    env.mark(id, &["--status", "infringing"]).await;
    let mut seen = 0;
    for raw in env.outbox() {
        let msg = MessageParser::default().parse(&raw).unwrap();
        let body = msg.body_text(0).unwrap_or_default().into_owned();
        if body.contains("重定向经过") {
            assert!(body.contains(&chain), "{body}");
            seen += 1;
        }
    }
    assert!(seen >= 2, "the alerts and the escalation list the redirect");

    // The desk's match page lists the hop, as a link.
    let desk = crate::web::DeskFixture::on_config(&env.config).await;
    let (session, _) = desk.login().await;
    let page = desk
        .get(&format!("/matches/{id}"), Some(&session))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!(
            "<a href=\"{short}\" rel=\"noreferrer noopener\" target=\"_blank\">{short}</a> (302)"
        )),
        "{page}"
    );
    desk.stop().await;
}

/// An original corrected after a copy was found gets a new version; the match keeps the
/// version it was compared with, so the desk highlights the passages in that text (the
/// offsets point into it), not in the correction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrected_original_keeps_the_compared_version_on_the_desk() {
    let env = Env::new();
    let site = copy_site(&["/a.html"]).await;
    let ids = env.scan(&[url(site, "/a.html")]).await;
    let correction = "更正启事：本报此前报道中的数据有误，现予更正。";
    let original = env.root.join("archive/original-zh.html");
    let html = std::fs::read_to_string(&original).unwrap();
    let corrected = html.replacen("<p>", &format!("<p>{correction}</p>\n<p>"), 1);
    assert_ne!(html, corrected);
    std::fs::write(&original, corrected).unwrap();
    let out = env.run_async(&["ingest"]).await;
    assert!(
        stdout(&out).starts_with("ingest: 0 new, 1 updated"),
        "{}",
        stdout(&out)
    );

    let desk = crate::web::DeskFixture::on_config(&env.config).await;
    let (session, _) = desk.login().await;
    let page = desk
        .get(&format!("/matches/{}", ids[0]), Some(&session))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !page.contains(correction),
        "the desk shows the compared version"
    );
    // The first passage starts the compared text: the article's first sentence.
    let first = page.find("id=\"o-0\">").expect("a marked passage") + "id=\"o-0\">".len();
    assert!(
        page[first..].starts_with("11月19日，历时三年的滨江湿地公园"),
        "{}",
        &page[first..first + 200.min(page.len() - first)]
    );
    desk.stop().await;
}
