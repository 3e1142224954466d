//! `copyhound run` as systemd runs it: the real binary against loopback fixture sites,
//! with a `NOTIFY_SOCKET` of the test's own, signals sent with `kill(2)`.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{header, StatusCode, Uri};
use axum::response::IntoResponse;

use crate::util::{copyhound, json, sample};

/// A site serving `pages` on `listener`, every response delayed by `delay`.
async fn serve(
    listener: std::net::TcpListener,
    pages: HashMap<String, Vec<u8>>,
    delay: Duration,
) -> SocketAddr {
    let pages = Arc::new(pages);
    let router = axum::Router::new().fallback(move |uri: Uri| {
        let pages = Arc::clone(&pages);
        async move {
            tokio::time::sleep(delay).await;
            match pages.get(uri.path()) {
                Some(body) => (
                    [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                    body.clone(),
                )
                    .into_response(),
                None => StatusCode::NOT_FOUND.into_response(),
            }
        }
    });
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    addr
}

/// The fixture: the sample originals in an archive folder, a mirror with the copies and
/// an unrelated page, a licensed partner on 127.0.0.2, and a config for them.
struct World {
    dir: tempfile::TempDir,
    config: PathBuf,
    web: SocketAddr,
    mirror: SocketAddr,
    partner: SocketAddr,
}

async fn world(delay: Duration, concurrency: usize) -> World {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    std::fs::create_dir_all(&archive).unwrap();
    for name in ["original-zh.html", "original-en.html"] {
        std::fs::copy(sample(name), archive.join(name)).unwrap();
    }
    let read = |name: &str| std::fs::read(sample(name)).unwrap();
    let mut mirror = HashMap::new();
    mirror.insert(
        "/".to_string(),
        b"<html><body><a href=\"/zh.html\">a</a> <a href=\"/en.html\">b</a> <a href=\"/other.html\">c</a></body></html>".to_vec(),
    );
    mirror.insert("/zh.html".into(), read("copy-zh-mirror.html"));
    mirror.insert("/en.html".into(), read("copy-en-excerpt.html"));
    mirror.insert("/other.html".into(), read("unrelated-en.html"));
    let mirror = serve(
        std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
        mirror,
        delay,
    )
    .await;
    let mut partner = HashMap::new();
    partner.insert("/".to_string(), read("copy-en-partner.html"));
    let partner = serve(
        std::net::TcpListener::bind("127.0.0.2:0").unwrap(),
        partner,
        delay,
    )
    .await;
    // A free port for the daemon's endpoint (released here, bound again by the daemon).
    let web = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = dir.path().join("copyhound.toml");
    let w = World {
        dir,
        config,
        web,
        mirror,
        partner,
    };
    w.write_config(&w.config_text(concurrency, "300ms"));
    w
}

impl World {
    fn config_text(&self, concurrency: usize, cycle_interval: &str) -> String {
        format!(
            r#"[outlet]
name = "Test Daily"
website = "https://www.jiangcheng-daily.example"
address = "1 Test Road"

[[contacts]]
role = "legal"
name = "Counsel"
email = "legal@test.example"

[[contacts]]
role = "licensing"
name = "Licensing"
email = "licensing@test.example"

[storage]
dir = "state"

[originals]
paths = ["archive"]
refresh = "1h"

[crawl]
seeds = ["http://{mirror}/", "http://{partner}/"]
licensed = ["127.0.0.2"]
max_depth = 2
per_host_delay = "0s"
concurrency = {concurrency}
allow_private_networks = true
timeout = "10s"
cycle_interval = "{cycle_interval}"

[daemon]
shutdown_timeout = "5s"

[web]
listen = "{web}"
"#,
            mirror = self.mirror,
            partner = self.partner,
            web = self.web
        )
    }

    fn write_config(&self, text: &str) {
        std::fs::write(&self.config, text).unwrap();
    }

    /// `alerts list --json` on this world's store.
    fn alerts(&self) -> Vec<serde_json::Value> {
        self.list("alerts")
    }

    /// `WHAT list --json` (`alerts`, `matches`) on this world's store.
    fn list(&self, what: &str) -> Vec<serde_json::Value> {
        json(&copyhound(&[
            what,
            "list",
            "--json",
            "--config",
            self.config.to_str().unwrap(),
        ]))
        .as_array()
        .unwrap()
        .clone()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("daemon.log")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Starts `copyhound run` with a notify socket of its own; returns once it sent
    /// `READY=1`, with every datagram it sent until then.
    async fn start(&self) -> (Reap, Notifications, Vec<String>) {
        let socket_path = self.dir.path().join(format!(
            "notify-{}.sock",
            Instant::now().elapsed().as_nanos()
        ));
        let _ = std::fs::remove_file(&socket_path);
        let socket = UnixDatagram::bind(&socket_path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_copyhound"))
            .args(["run", "--config", self.config.to_str().unwrap()])
            .env_remove("COPYHOUND_CONFIG")
            .env("RUST_LOG", "info")
            .env("NOTIFY_SOCKET", &socket_path)
            // As systemd sets it for `WatchdogSec=1s`: pings every half second.
            .env("WATCHDOG_USEC", "1000000")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let (socket, messages) = tokio::task::spawn_blocking(move || {
            let mut messages = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = socket.recv(&mut buf).expect("a notification within 30s");
                let m = String::from_utf8_lossy(&buf[..n]).into_owned();
                let ready = m.lines().any(|l| l == "READY=1");
                messages.push(m);
                if ready {
                    return (socket, messages);
                }
            }
        })
        .await
        .unwrap();
        // Like systemd, keep reading: the daemon's later notifications are collected.
        let later = Notifications::default();
        let sink = Arc::clone(&later.0);
        socket.set_read_timeout(None).unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = socket.recv(&mut buf) {
                sink.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        });
        (Reap(Some(child)), later, messages)
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let resp = reqwest::get(format!("http://{}{path}", self.web))
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    /// The value of one sample line of `/metrics` (`name{labels}`).
    async fn metric(&self, series: &str) -> f64 {
        let (_, text) = self.get("/metrics").await;
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    }

    /// Waits until `check` holds, failing with the daemon's log after `limit`.
    async fn wait_for<F, Fut>(&self, what: &str, limit: Duration, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let start = Instant::now();
        while !check().await {
            assert!(
                start.elapsed() < limit,
                "timed out waiting for {what}; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn matches(&self) -> Vec<serde_json::Value> {
        self.list("matches")
    }

    /// `(copy url, verdict, status)` of each match, and whether any repeats.
    fn match_set(&self) -> (BTreeSet<(String, String, String)>, usize) {
        let all = self.matches();
        let set: BTreeSet<_> = all
            .iter()
            .map(|m| {
                (
                    m["copy_url"].as_str().unwrap().to_string(),
                    m["verdict"].as_str().unwrap().to_string(),
                    m["status"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        (set, all.len())
    }

    /// The `.eml` files in the outbox and the distinct Message-IDs among them.
    fn outbox(&self) -> (usize, BTreeSet<String>) {
        let dir = state(self.dir.path()).join("outbox");
        let mut files = 0;
        let mut ids = BTreeSet::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten() {
            let path = entry.unwrap().path();
            // A message being written has a hidden temporary name until it is complete.
            if path.extension().is_none_or(|e| e != "eml") {
                continue;
            }
            let text = std::fs::read_to_string(path).unwrap();
            files += 1;
            let id = text
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("message-id")
                        .then(|| v.trim().to_string())
                })
                .expect("a Message-ID header");
            ids.insert(id);
        }
        (files, ids)
    }

    fn expected(&self) -> BTreeSet<(String, String, String)> {
        [
            (
                format!("http://{}/zh.html", self.mirror),
                "copy",
                "unreviewed",
            ),
            (
                format!("http://{}/en.html", self.mirror),
                "partial",
                "unreviewed",
            ),
            (format!("http://{}/", self.partner), "copy", "licensed"),
        ]
        .into_iter()
        .map(|(u, v, s)| (u, v.to_string(), s.to_string()))
        .collect()
    }
}

/// The notifications a daemon sent after `READY=1`.
#[derive(Default)]
struct Notifications(Arc<std::sync::Mutex<Vec<String>>>);

impl Notifications {
    fn contains(&self, line: &str) -> bool {
        self.0
            .lock()
            .unwrap()
            .iter()
            .any(|m| m.lines().any(|l| l == line))
    }
}

/// Kills the daemon when a test fails before stopping it, so no process outlives
/// the test.
struct Reap(Option<Child>);

impl Drop for Reap {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn signal(child: &Reap, sig: libc::c_int) {
    let pid = child.0.as_ref().expect("a running daemon").id();
    // SAFETY: kill(2) with the pid of a child we spawned and have not reaped.
    let rc = unsafe { libc::kill(pid as libc::pid_t, sig) };
    assert_eq!(rc, 0, "kill failed");
}

/// Waits for the child to exit, at most `limit`.
async fn exit_within(mut child: Reap, limit: Duration) -> (std::process::ExitStatus, Duration) {
    let start = Instant::now();
    let child = child.0.take().expect("a running daemon");
    tokio::task::spawn_blocking(move || {
        let mut child = child;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return (status, start.elapsed());
            }
            if start.elapsed() > limit {
                child.kill().ok();
                panic!("the daemon did not exit within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap()
}

fn state(dir: &Path) -> PathBuf {
    dir.join("state")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_runs_reloads_and_stops_cleanly() {
    let w = world(Duration::ZERO, 4).await;
    let (child, notes, messages) = w.start().await;
    let ready = messages.last().unwrap();
    assert!(ready.contains("STATUS="), "{ready}");
    assert!(state(w.dir.path()).join("copyhound.db").is_file());

    // It crawls: the planted copies are found, the licensed one as licensed, the
    // unrelated page not at all.
    w.wait_for("a crawl cycle", Duration::from_secs(30), || async {
        w.metric("copyhound_crawl_cycles_total").await >= 1.0
    })
    .await;
    let (set, count) = w.match_set();
    assert_eq!(set, w.expected());
    assert_eq!(count, set.len());
    // The outbox, rung as soon as the crawl queues alerts, writes while the crawl does:
    // both wait for the write lock instead of failing with "database is locked".
    assert!(!w.log().contains("crawl cycle failed"), "{}", w.log());

    let (status, body) = w.get("/healthz").await;
    assert_eq!(status, 200);
    assert!(body.starts_with("ok: ") && body.ends_with('\n') && body.lines().count() == 1);
    assert_eq!(
        w.metric("copyhound_matches{verdict=\"copy\"}").await,
        1.0,
        "mirror copy"
    );
    assert_eq!(
        w.metric("copyhound_matches{verdict=\"partial\"}").await,
        1.0
    );
    assert_eq!(
        w.metric("copyhound_matches{verdict=\"licensed\"}").await,
        1.0
    );
    assert_eq!(
        w.metric("copyhound_matches_by_status{status=\"unreviewed\"}")
            .await,
        2.0,
        "the review backlog"
    );
    assert_eq!(
        w.metric("copyhound_matches_by_status{status=\"licensed\"}")
            .await,
        1.0
    );
    assert_eq!(w.metric("copyhound_originals").await, 2.0);
    assert!(
        w.metric("copyhound_pages_fetched_total{outcome=\"fetched\"}")
            .await
            >= 5.0
    );
    assert!(
        w.metric("copyhound_index_entries{kind=\"fingerprint\"}")
            .await
            > 0.0
    );

    // The alerts go out through the outbox worker: two infringing copies to counsel and
    // licensing, the partner's licensed copy to licensing only.
    w.wait_for("the alerts", Duration::from_secs(30), || async {
        w.metric("copyhound_alerts_total{outcome=\"sent\"}").await >= 5.0
    })
    .await;
    assert_eq!(w.metric("copyhound_alerts_queued").await, 0.0);
    assert_eq!(
        w.metric("copyhound_alerts_total{outcome=\"failed\"}").await,
        0.0
    );
    let (files, ids) = w.outbox();
    assert_eq!((files, ids.len()), (5, 5));

    // Cycles go on, `cycle_interval` apart, and revisit pages without new matches.
    w.wait_for("a second cycle", Duration::from_secs(30), || async {
        w.metric("copyhound_crawl_cycles_total").await >= 2.0
    })
    .await;
    assert_eq!(w.match_set().1, 3);
    assert_eq!(w.outbox().0, 5, "a revisit alerted again");

    // SIGHUP with a valid config: applied.
    w.write_config(&w.config_text(4, "200ms"));
    signal(&child, libc::SIGHUP);
    w.wait_for("the reload", Duration::from_secs(10), || async {
        w.metric("copyhound_config_reloads_total{result=\"applied\"}")
            .await
            == 1.0
    })
    .await;
    assert!(w.log().contains("configuration reloaded"), "{}", w.log());
    assert!(notes.contains("RELOADING=1"));
    assert!(notes.contains("WATCHDOG=1"), "no watchdog pings");

    // SIGHUP with an invalid config: refused, named, the daemon goes on.
    w.write_config(&format!(
        "{}\n[bogus]\nx = 1\n",
        w.config_text(4, "200ms")
            .replace("cycle_interval = \"200ms\"", "cycle_interval = \"soon\"")
    ));
    signal(&child, libc::SIGHUP);
    w.wait_for("the refusal", Duration::from_secs(10), || async {
        w.metric("copyhound_config_reloads_total{result=\"refused\"}")
            .await
            == 1.0
    })
    .await;
    let log = w.log();
    assert!(log.contains("configuration reload refused"), "{log}");
    assert!(
        log.contains("crawl.cycle_interval") && log.contains("bogus"),
        "{log}"
    );
    let cycles = w.metric("copyhound_crawl_cycles_total").await;
    w.wait_for(
        "a cycle under the old config",
        Duration::from_secs(30),
        || async { w.metric("copyhound_crawl_cycles_total").await > cycles },
    )
    .await;
    assert_eq!(w.get("/healthz").await.0, 200);

    // SIGTERM: a clean exit, within the 5s deadline.
    signal(&child, libc::SIGTERM);
    let (status, took) = exit_within(child, Duration::from_secs(15)).await;
    assert!(status.success(), "{status:?}\n{}", w.log());
    assert!(took < Duration::from_secs(6), "took {took:?}");
    assert!(w.log().contains("stopped cleanly"), "{}", w.log());
    assert!(notes.contains("STOPPING=1"));
    w.write_config(&w.config_text(4, "200ms"));
    assert_eq!(w.match_set().0, w.expected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_cycle_stops_within_the_deadline() {
    // Every page takes 3s: the cycle is mid-flight when SIGTERM arrives.
    let w = world(Duration::from_secs(3), 1).await;
    let (child, _socket, _) = w.start().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    signal(&child, libc::SIGTERM);
    let (status, took) = exit_within(child, Duration::from_secs(15)).await;
    assert!(status.success(), "{status:?}\n{}", w.log());
    assert!(took < Duration::from_secs(6), "took {took:?}\n{}", w.log());
    let integrity = copyhound::store::Store::open_dir(&state(w.dir.path()))
        .unwrap()
        .integrity_ok()
        .unwrap();
    assert!(integrity);
}

/// `[email]` pointing at a relay without STARTTLS, `starttls` left at "required": the
/// daemon says so in its log when its outbox starts, and the alerts its crawl queues
/// fail at once with the same reason instead of being retried forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_without_starttls_is_named_in_the_log_at_start() {
    if !crate::util::python_has(
        "aiosmtpd",
        "a_relay_without_starttls_is_named_in_the_log_at_start",
    ) {
        return;
    }
    let w = world(Duration::ZERO, 4).await;
    let port = crate::util::free_port();
    let _sink = crate::util::SmtpSink::start(port, &w.dir.path().join("mail"), None);
    w.write_config(&format!(
        "{}\n[email]\nsmtp_url = \"smtp://127.0.0.1:{port}\"\nfrom = \"copyhound <c@test.example>\"\ntimeout = \"5s\"\n",
        w.config_text(4, "1h")
    ));
    let (child, _notes, _) = w.start().await;
    let reason = format!("smtp://127.0.0.1:{port} offers no STARTTLS");
    w.wait_for(
        "the mail check in the log",
        Duration::from_secs(20),
        || async {
            let log = w.log();
            log.contains(&reason)
                && log.contains("alert delivery cannot work with this [email] configuration")
        },
    )
    .await;
    // The crawl's alerts (two matches, the licensed one alerts licensing only) fail
    // with the reason, each after one attempt.
    let alerts = || w.alerts();
    // Once a crawl cycle has finished, every alert it owes is queued; then wait for all
    // of them to fail, and check the same listing that was seen to.
    w.wait_for("a crawl cycle", Duration::from_secs(30), || async {
        w.metric("copyhound_crawl_cycles_total").await >= 1.0
    })
    .await;
    let failed = std::cell::RefCell::new(Vec::new());
    w.wait_for("failed alerts", Duration::from_secs(30), || async {
        let all = alerts();
        let done = !all.is_empty() && all.iter().all(|a| a["state"] == "failed");
        *failed.borrow_mut() = all;
        done
    })
    .await;
    for a in failed.into_inner() {
        assert_eq!(a["attempts"], 1, "{a}");
        let why = a["last_error"].as_str().unwrap();
        assert!(
            why.contains(&reason) && why.contains("[email] starttls"),
            "{why}"
        );
    }
    signal(&child, libc::SIGTERM);
    let (status, _) = exit_within(child, Duration::from_secs(15)).await;
    assert!(status.success(), "{status:?}\n{}", w.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_daemon_restarts_without_losing_or_repeating_matches() {
    // Slow pages, one at a time: the kill lands mid-cycle.
    let w = world(Duration::from_millis(400), 1).await;
    let (child, _socket, _) = w.start().await;
    tokio::time::sleep(Duration::from_millis(1800)).await;
    signal(&child, libc::SIGKILL);
    drop(child);
    let (before, _) = w.match_set();
    assert!(before.len() < 3, "killed too late: {before:?}");
    assert!(before.is_subset(&w.expected()));

    let (child, _socket, _) = w.start().await;
    w.wait_for(
        "a full cycle after the restart",
        Duration::from_secs(60),
        || async { w.metric("copyhound_crawl_cycles_total").await >= 1.0 },
    )
    .await;
    w.wait_for("the alerts", Duration::from_secs(30), || async {
        w.outbox().1.len() >= 5 && w.metric("copyhound_alerts_queued").await == 0.0
    })
    .await;
    signal(&child, libc::SIGTERM);
    let (status, _) = exit_within(child, Duration::from_secs(15)).await;
    assert!(status.success(), "{}", w.log());
    let (set, count) = w.match_set();
    assert_eq!(set, w.expected());
    assert_eq!(count, 3, "a match was recorded twice");
    // Every match alerted, none twice. (Delivery is at-least-once by design: a kill
    // between the mail server's acceptance and the store's `sent` mark re-sends with the
    // same Message-ID; the kill here lands while pages are slow, far from that window.)
    let (files, ids) = w.outbox();
    assert_eq!(ids.len(), 5, "alerts missing");
    assert_eq!(files, 5, "an alert was sent twice");
}

#[test]
fn the_demo_finds_the_planted_copies_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let out = copyhound(&["demo", "--dir", dir.path().to_str().unwrap()]);
    let took = start.elapsed();
    let text = crate::util::stdout(&out);
    assert!(
        out.status.success(),
        "{text}\n{}",
        crate::util::stderr(&out)
    );
    assert!(took < Duration::from_secs(30), "the demo took {took:?}");
    assert!(text.contains("ingested 2 originals"), "{text}");
    assert!(text.contains("found 3 match(es)"), "{text}");
    assert!(text.contains("alerts: 5 email(s)"), "{text}");
    let outbox = dir.path().join("state/outbox");
    assert_eq!(std::fs::read_dir(&outbox).unwrap().count(), 5);
    assert_eq!(
        std::fs::read_dir(dir.path().join("state/evidence"))
            .unwrap()
            .count(),
        3
    );
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("  #")).collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines.iter().any(|l| l.contains("zh-mirror.html")
        && l.contains(" copy ")
        && l.contains("(infringing)")));
    assert!(lines.iter().any(|l| l.contains("en-excerpt.html")
        && l.contains(" partial ")
        && l.contains("(infringing)")));
    assert!(lines
        .iter()
        .any(|l| l.contains("127.0.0.2") && l.contains("(licensed partner)")));
    assert!(!text.contains("library-hours"), "{text}");
    // The state is left where the report says, and the normal commands can read it.
    let config = dir.path().join("copyhound.toml");
    assert!(text.contains(config.to_str().unwrap()), "{text}");
    let matches = json(&copyhound(&[
        "matches",
        "list",
        "--json",
        "--config",
        config.to_str().unwrap(),
    ]));
    assert_eq!(matches.as_array().unwrap().len(), 3);
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_copyhound"))
        .args([
            "--log-format",
            "json",
            "demo",
            "--dir",
            dir.path().to_str().unwrap(),
        ])
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.lines().count() >= 3, "{stderr}");
    for line in stderr.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["level"].is_string() && v["fields"].is_object(), "{line}");
    }
}

/// The daemon's outbox posts the crawl's alerts to a webhook, once each, signed; a
/// webhook whose secret is missing is named in the log at start (by its key, never its
/// URL) and its alerts fail with that reason without holding up the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_posts_crawl_alerts_to_webhooks() {
    let hooks = crate::webhooks::Hooks::start().await;
    let w = world(Duration::ZERO, 4).await;
    std::fs::write(w.dir.path().join("generic.url"), hooks.url("generic")).unwrap();
    std::fs::write(
        w.dir.path().join("generic.secret"),
        crate::webhooks::GENERIC_SECRET,
    )
    .unwrap();
    std::fs::write(w.dir.path().join("wecom.url"), hooks.url("wecom")).unwrap();
    w.write_config(&format!(
        "{}\npublic_url = \"https://desk.test.example/\"\n\n[notify]\nretry_initial = \"1s\"\nretry_max = \"2s\"\n\n[[notify.webhooks]]\nkind = \"generic\"\nurl_file = \"generic.url\"\nsecret_file = \"generic.secret\"\nroles = [\"legal\", \"licensing\"]\n\n[[notify.webhooks]]\nname = \"broken\"\nkind = \"dingtalk\"\nurl_file = \"wecom.url\"\nsecret_env = \"COPYHOUND_TEST_UNSET_SECRET\"\nroles = [\"legal\"]\n",
        w.config_text(4, "1h")
    ));
    let (_child, _notes, _) = w.start().await;
    w.wait_for("the webhook check in the log", Duration::from_secs(20), || async {
        w.log().contains(
            "notify.webhooks[1].secret_env: environment variable COPYHOUND_TEST_UNSET_SECRET is not set",
        )
    })
    .await;
    w.wait_for("a crawl cycle", Duration::from_secs(30), || async {
        w.metric("copyhound_crawl_cycles_total").await >= 1.0
    })
    .await;
    let alerts = || w.alerts();
    let settled = std::cell::RefCell::new(Vec::new());
    w.wait_for(
        "every alert delivered or failed",
        Duration::from_secs(30),
        || async {
            let all = alerts();
            let done = !all.is_empty()
                && all
                    .iter()
                    .all(|a| a["state"] == "sent" || a["state"] == "failed");
            *settled.borrow_mut() = all;
            done
        },
    )
    .await;
    let all = settled.into_inner();
    let generic: Vec<_> = all
        .iter()
        .filter(|a| a["channel"] == "webhook:generic")
        .collect();
    assert!(!generic.is_empty(), "{all:?}");
    assert!(generic.iter().all(|a| a["state"] == "sent"), "{all:?}");
    assert!(
        all.iter().any(|a| a["channel"] == "webhook:broken"),
        "{all:?}"
    );
    for a in all.iter().filter(|a| a["channel"] == "webhook:broken") {
        assert_eq!(a["state"], "failed", "{a}");
        assert!(
            a["last_error"]
                .as_str()
                .unwrap()
                .contains("COPYHOUND_TEST_UNSET_SECRET is not set"),
            "{a}"
        );
    }
    assert!(all
        .iter()
        .filter(|a| a["channel"] == "email")
        .all(|a| a["state"] == "sent"));
    // Each generic row was posted once, signed over its body.
    let hits = hooks.hits("generic");
    assert_eq!(hits.len(), generic.len(), "{all:?}");
    for h in &hits {
        let expected = format!(
            "sha256={}",
            hex::encode(crate::webhooks::hmac_sha256(
                crate::webhooks::GENERIC_SECRET.as_bytes(),
                &h.body
            ))
        );
        assert_eq!(h.header("x-copyhound-signature").unwrap(), expected);
        assert!(h.json()["desk_url"]
            .as_str()
            .unwrap()
            .starts_with("https://desk.test.example/matches/"));
    }
    let log = w.log();
    assert!(log.contains("webhook message sent"), "{log}");
    assert!(!log.contains(crate::webhooks::GENERIC_SECRET), "{log}");
    assert!(!log.contains("/generic/hook"), "{log}");
    assert!(!log.contains("/wecom/cgi-bin"), "{log}");
}
