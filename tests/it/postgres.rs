//! PostgreSQL as the shared store: several processes on one database (a throwaway
//! cluster, see `copyhound::store::testdb`), with a real SMTP sink (aiosmtpd).
//! Skipped when PostgreSQL is not installed, failed then under CI or
//! `COPYHOUND_REQUIRE_TOOLS=1`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use chrono::Utc;
use copyhound::config::Settings;
use copyhound::notify;
use copyhound::store::{testdb, AlertState, Store};
use mail_parser::MessageParser;

use crate::util::{copyhound, free_port, python_needs, stderr, stdout, SmtpSink, OUTLET_CONFIG};

/// A config on a new database of the shared cluster; `None` when PostgreSQL is absent.
struct PgEnv {
    _dir: tempfile::TempDir,
    root: PathBuf,
    config: PathBuf,
}

impl PgEnv {
    fn new(extra: &str) -> Option<PgEnv> {
        let cluster = testdb::cluster()?;
        let target = cluster.target(&testdb::new_database());
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let config = root.join("copyhound.toml");
        std::fs::write(
            &config,
            format!("{OUTLET_CONFIG}database_url = \"{}\"\n{extra}", target.url),
        )
        .unwrap();
        Some(PgEnv {
            _dir: dir,
            root,
            config,
        })
    }

    fn settings(&self) -> Settings {
        Settings::load(&self.config).unwrap()
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut all = args.to_vec();
        all.extend(["--config", self.config.to_str().unwrap()]);
        copyhound(&all)
    }
}

/// An original in `store`: its id.
fn seed_original(store: &mut Store, url: &str) -> i64 {
    let article = copyhound::store::NewArticle {
        url: url.into(),
        title: "江城新闻".into(),
        published: None,
        author: None,
        source: "test".into(),
        text: "江城日报的原创报道正文".into(),
        text_sha256: url.into(),
        simhash: 1,
        segments: Vec::new(),
        anchors: Vec::new(),
        sentence_hashes: Vec::new(),
        extraction: "container".into(),
        page_chars: 0,
        suspect: None,
    };
    match store.upsert_original(&article, Utc::now()).unwrap() {
        copyhound::store::Upsert::New { id } => id,
        other => panic!("{other:?}"),
    }
}

/// A copy of original `original_id` found at `copy_url`.
fn copy_of(original_id: i64, copy_url: &str) -> copyhound::store::NewMatch {
    copyhound::store::NewMatch {
        copy_url: copy_url.into(),
        copy_host: "copier.example".into(),
        original_id,
        verdict: copyhound::detect::Verdict::Copy,
        containment: 0.9,
        coverage: 0.8,
        copied_chars: 10,
        passages: Vec::new(),
        copy_title: "抄来的".into(),
        licensed: false,
        ignored: false,
        original_version: Some(1),
        archive: None,
        licence_check: None,
    }
}

#[test]
fn migrate_reports_the_version_and_a_newer_schema_is_refused() {
    let Some(env) = PgEnv::new("") else { return };
    let out = env.run(&["migrate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let known = Store::supported_schema_version();
    assert!(
        stdout(&out).contains(&format!(
            "schema version {known} (this copyhound knows {known})"
        )),
        "{}",
        stdout(&out)
    );
    // Another copyhound, newer, migrated the database further: this one refuses it.
    let store = Store::open_storage(&env.settings().storage).unwrap();
    drop(store);
    let target = env.settings().storage.database.unwrap();
    let mut client = postgres::Client::connect(&target.url, postgres::NoTls).unwrap();
    client
        .execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&(known + 5)],
        )
        .unwrap();
    for args in [&["migrate"][..], &["originals", "list"][..]] {
        let out = env.run(args);
        assert!(!out.status.success(), "{args:?} ran against a newer schema");
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "schema version {} is newer than this copyhound ({known})",
                known + 5
            )),
            "{err}"
        );
    }
}

#[test]
fn a_password_in_the_database_url_is_refused_and_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("copyhound.toml");
    std::fs::write(
        &config,
        format!(
            "{OUTLET_CONFIG}database_url = \"postgres://copyhound:s3cret-pw@127.0.0.1:5432/ch\"\n"
        ),
    )
    .unwrap();
    let out = copyhound(&["check-config", "--config", config.to_str().unwrap()]);
    assert!(!out.status.success());
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        all.contains("storage.database_url: must not contain a password"),
        "{all}"
    );
    assert!(!all.contains("s3cret-pw"), "{all}");
}

/// Two processes send one outbox on one PostgreSQL database at the same time: every
/// alert is claimed by one of them and arrives once.
#[test]
fn two_processes_deliver_each_alert_once() {
    if !python_needs("aiosmtpd", "two_processes_deliver_each_alert_once") {
        return;
    }
    let port = free_port();
    let Some(env) = PgEnv::new(&format!(
        "\n[email]\nsmtp_url = \"smtp://127.0.0.1:{port}\"\nstarttls = \"opportunistic\"\nfrom = \"copyhound <copyhound@jiangcheng-daily.example>\"\nretry_initial = \"1s\"\nretry_max = \"2s\"\ntimeout = \"5s\"\ndigest_after = 1000\n"
    )) else {
        return;
    };
    let sink = SmtpSink::start(port, &env.root.join("mail"), None);
    let settings = env.settings();
    let mut store = Store::open_storage(&settings.storage).unwrap();
    for n in 1..=12 {
        let facts = crate::alerts::facts(n, "转载的标题");
        let alerts = notify::new_alerts(&facts, None, &settings.email, &settings.contacts).unwrap();
        store.enqueue_alerts(&alerts, Utc::now()).unwrap();
    }
    let queued = store.list_alerts(1000).unwrap();
    assert_eq!(queued.len(), 24);

    let config = env.config.to_str().unwrap().to_string();
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_copyhound"))
            .args(["alerts", "send", "--wait", "20s", "--config", &config])
            .env_remove("COPYHOUND_CONFIG")
            .output()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(spawn);
        let b = s.spawn(spawn);
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    assert!(a.status.success(), "{}", stderr(&a));
    assert!(b.status.success(), "{}", stderr(&b));

    let alerts = store.list_alerts(1000).unwrap();
    assert!(
        alerts.iter().all(|a| a.state == AlertState::Sent),
        "{alerts:?}"
    );
    let recorded: BTreeSet<String> = alerts.iter().filter_map(|a| a.message_id.clone()).collect();
    let received: Vec<String> = sink
        .messages()
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
    let distinct: BTreeSet<String> = received.iter().cloned().collect();
    assert_eq!(
        received.len(),
        distinct.len(),
        "a message arrived twice: {received:?}"
    );
    let recorded: BTreeSet<String> = recorded
        .into_iter()
        .map(|id| id.trim_matches(['<', '>']).to_string())
        .collect();
    assert_eq!(distinct, recorded);
}

/// Two desks on one PostgreSQL database: a decision made through one is what the other
/// shows, with its escalation recorded in the same transaction; the login session made
/// on one is valid on the other (sessions live in the database too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desk_decision_on_one_node_is_seen_on_the_other() {
    let Some(env) = PgEnv::new("") else { return };
    let settings = env.settings();
    let storage = settings.storage.clone();
    let id = tokio::task::spawn_blocking(move || {
        let mut store = Store::open_storage(&storage).unwrap();
        let original_id = seed_original(&mut store, "https://www.jiangcheng-daily.example/a/1");
        let m = copy_of(original_id, "http://copier.example/a");
        let capture = crate::alerts::capture(1);
        store
            .record_matches(&capture, std::slice::from_ref(&m), Utc::now())
            .unwrap();
        // Recorded again (another process saw the same page): still one match.
        store.record_matches(&capture, &[m], Utc::now()).unwrap();
        let matches = store.list_matches().unwrap();
        assert_eq!(matches.len(), 1);
        matches[0].id
    })
    .await
    .unwrap();

    let a = crate::web::DeskFixture::on_config(&env.config).await;
    let b = crate::web::DeskFixture::on_config(&env.config).await;
    let (session, csrf) = a.login().await;
    let r = a
        .post(
            &format!("/matches/{id}/decide"),
            Some(&session),
            &[
                ("csrf", &csrf),
                ("status", "infringing"),
                ("note", "node a"),
            ],
        )
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    // Node b, with node a's session: the decision is there.
    let page = b.page(&format!("/matches/{id}"), &session).await;
    assert!(page.contains("node a"), "{page}");
    let storage = settings.storage.clone();
    tokio::task::spawn_blocking(move || {
        let store = Store::open_storage(&storage).unwrap();
        let decisions = store.decisions(id).unwrap();
        assert_eq!(decisions.len(), 1);
        let alert = decisions[0].alert_id.expect("escalated");
        assert!(store.find_alert(alert).unwrap().is_some());
    })
    .await
    .unwrap();
    a.stop().await;
    b.stop().await;
}

/// Four connections (as four processes would) record the same copy of the same
/// original at once: one match, seen again by the others.
#[test]
fn a_match_found_by_many_processes_at_once_is_recorded_once() {
    let Some(env) = PgEnv::new("") else { return };
    let storage = env.settings().storage;
    let mut store = Store::open_storage(&storage).unwrap();
    let original_id = seed_original(&mut store, "https://www.jiangcheng-daily.example/a/2");
    let m = copy_of(original_id, "http://copier.example/b");
    let barrier = std::sync::Barrier::new(4);
    let outcomes: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let mut store = Store::open_storage(&storage).unwrap();
                    barrier.wait();
                    store
                        .record_matches(
                            &crate::alerts::capture(2),
                            std::slice::from_ref(&m),
                            Utc::now(),
                        )
                        .unwrap()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let new = outcomes
        .iter()
        .filter(|o| matches!(o, copyhound::store::MatchOutcome::New { .. }))
        .count();
    assert_eq!(new, 1, "{outcomes:?}");
    assert_eq!(store.list_matches().unwrap().len(), 1);
}

/// Kills a child process when dropped, so a failing test leaves no server behind.
struct Reap(std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Two `copyhound serve` processes on one PostgreSQL database, each with its own desk
/// port and its own alert outbox worker, deliver each queued alert exactly once.
#[test]
fn two_serve_processes_deliver_each_alert_once() {
    if !python_needs("aiosmtpd", "two_serve_processes_deliver_each_alert_once") {
        return;
    }
    let port = free_port();
    let email = format!(
        "\n[email]\nsmtp_url = \"smtp://127.0.0.1:{port}\"\nstarttls = \"opportunistic\"\nfrom = \"copyhound <copyhound@jiangcheng-daily.example>\"\nretry_initial = \"1s\"\nretry_max = \"2s\"\ntimeout = \"5s\"\ndigest_after = 1000\n"
    );
    let Some(env) = PgEnv::new(&email) else {
        return;
    };
    let sink = SmtpSink::start(port, &env.root.join("mail"), None);
    let settings = env.settings();
    let mut store = Store::open_storage(&settings.storage).unwrap();
    for n in 1..=10 {
        let facts = crate::alerts::facts(n, "转载的标题");
        let alerts = notify::new_alerts(&facts, None, &settings.email, &settings.contacts).unwrap();
        store.enqueue_alerts(&alerts, Utc::now()).unwrap();
    }
    let base = std::fs::read_to_string(&env.config).unwrap();
    let nodes: Vec<Reap> = (0..2)
        .map(|i| {
            let config = env.root.join(format!("node{i}.toml"));
            std::fs::write(
                &config,
                format!("{base}\n[web]\nlisten = \"127.0.0.1:{}\"\n", free_port()),
            )
            .unwrap();
            let log = std::fs::File::create(env.root.join(format!("node{i}.log"))).unwrap();
            Reap(
                Command::new(env!("CARGO_BIN_EXE_copyhound"))
                    .args(["serve", "--config", config.to_str().unwrap()])
                    .env_remove("COPYHOUND_CONFIG")
                    .env("RUST_LOG", "info")
                    .stdout(std::process::Stdio::null())
                    .stderr(log)
                    .spawn()
                    .unwrap(),
            )
        })
        .collect();
    let logs = || {
        (0..2)
            .map(|i| {
                std::fs::read_to_string(env.root.join(format!("node{i}.log"))).unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("\n----\n")
    };
    let start = std::time::Instant::now();
    loop {
        let alerts = store.list_alerts(1000).unwrap();
        if alerts.iter().all(|a| a.state == AlertState::Sent) {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "alerts not all sent: {alerts:?}\n{}",
            logs()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // A little longer: a second send of anything would arrive now.
    std::thread::sleep(std::time::Duration::from_secs(2));
    drop(nodes);
    let recorded: BTreeSet<String> = store
        .list_alerts(1000)
        .unwrap()
        .iter()
        .filter_map(|a| a.message_id.clone())
        .map(|id| id.trim_matches(['<', '>']).to_string())
        .collect();
    let received: Vec<String> = sink
        .messages()
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
    let distinct: BTreeSet<String> = received.iter().cloned().collect();
    assert_eq!(
        received.len(),
        distinct.len(),
        "a message arrived twice: {received:?}\n{}",
        logs()
    );
    assert_eq!(distinct, recorded);
}

/// TLS to a real server with a private CA: a throwaway cluster with `ssl = on` and a
/// server certificate (with an intermediate) made by `openssl` for `localhost`.
/// `verify-full` with the CA in `[storage] database_ca_file` connects, and the server
/// sees the connection encrypted (`pg_stat_ssl`); a wrong host name, another CA, or no
/// CA file (the public roots) is refused with an error that says which; `verify-ca`
/// and `require` with the CA check the chain but not the name.
#[test]
fn tls_to_a_server_of_a_private_ca_is_checked_and_encrypted() {
    let test = "tls_to_a_server_of_a_private_ca_is_checked_and_encrypted";
    if !crate::tsa::openssl_available(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (pki, other) = (dir.path().join("pki"), dir.path().join("other"));
    for d in [&pki, &other] {
        std::fs::create_dir(d).unwrap();
        crate::capture::test_pki(d);
    }
    let read = |name: &str| std::fs::read(pki.join(name)).unwrap();
    // The server presents its certificate and the intermediate; clients hold the root.
    let chain = [read("leaf.pem"), read("int.pem")].concat();
    let key = read("leaf.key");
    let Some(cluster) = testdb::own_cluster(
        test,
        &[
            ("ssl", "on"),
            ("ssl_cert_file", "server.crt"),
            ("ssl_key_file", "server.key"),
        ],
        &[
            ("server.crt", chain.as_slice()),
            ("server.key", key.as_slice()),
        ],
    ) else {
        return;
    };
    let database = cluster.new_database();
    let port = cluster.port;
    let admin = format!("host=127.0.0.1 port={port} user=copyhound dbname={database}");
    let mut admin = postgres::Client::connect(&admin, postgres::NoTls).unwrap();

    // Opens the store through the config, as every command does; the store (kept open
    // for pg_stat_ssl) or the error's message.
    let open = |host: &str, mode: &str, ca: Option<&std::path::Path>| {
        let app = format!("tls-{mode}-{}", host.replace('.', "-"));
        let mut config = format!(
            "{OUTLET_CONFIG}database_url = \"postgres://copyhound@{host}:{port}/{database}?sslmode={mode}&application_name={app}\"\n"
        );
        if let Some(ca) = ca {
            config.push_str(&format!("database_ca_file = \"{}\"\n", ca.display()));
        }
        let path = dir.path().join("copyhound.toml");
        std::fs::write(&path, config).unwrap();
        let settings = Settings::load(&path).unwrap();
        Store::open_storage(&settings.storage)
            .map(|store| (store, app))
            .map_err(|e| e.to_string())
    };
    // (ssl, version) of the connection named `app`, as the server sees it.
    let mut seen = |app: &str| -> (bool, Option<String>) {
        let row = admin
            .query_one(
                "SELECT s.ssl, s.version FROM pg_stat_ssl s
                 JOIN pg_stat_activity a ON a.pid = s.pid WHERE a.application_name = $1",
                &[&app],
            )
            .unwrap();
        (row.get(0), row.get(1))
    };

    let ca = pki.join("ca.pem");
    for (host, mode) in [
        ("localhost", "verify-full"),
        ("127.0.0.1", "verify-ca"),
        ("127.0.0.1", "require"),
    ] {
        let (store, app) = open(host, mode, Some(&ca)).unwrap_or_else(|e| panic!("{mode}: {e}"));
        let (ssl, version) = seen(&app);
        assert!(ssl, "{mode}: the server sees no TLS");
        assert!(
            version.as_deref().is_some_and(|v| v.starts_with("TLSv1.")),
            "{version:?}"
        );
        assert_eq!(store.original_count().unwrap(), 0);
    }
    // The check above can fail: without TLS the server says so.
    let (_plain, app) = open("127.0.0.1", "disable", None).unwrap();
    assert_eq!(seen(&app), (false, None));

    let wrong_name = open("127.0.0.1", "verify-full", Some(&ca)).err().unwrap();
    assert!(
        wrong_name.contains("not for the host named in database_url"),
        "{wrong_name}"
    );
    let wrong_ca = open("localhost", "verify-full", Some(&other.join("ca.pem")))
        .err()
        .unwrap();
    assert!(
        wrong_ca.contains("not signed by a CA copyhound trusts"),
        "{wrong_ca}"
    );
    let public_roots = open("localhost", "require", None).err().unwrap();
    assert!(
        public_roots.contains("not signed by a CA copyhound trusts")
            && public_roots.contains("UnknownIssuer"),
        "{public_roots}"
    );
    // A refused connection names the URL and never a password.
    assert!(
        wrong_ca.starts_with("postgres://copyhound@localhost:"),
        "{wrong_ca}"
    );

    // A CA file that holds no certificate is a config error naming the key.
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        format!(
            "{OUTLET_CONFIG}database_url = \"postgres://copyhound@localhost:{port}/{database}?sslmode=verify-full\"\ndatabase_ca_file = \"{}\"\n",
            empty.display()
        ),
    )
    .unwrap();
    let err = Settings::load(&config).unwrap_err().to_string();
    assert!(
        err.contains("storage.database_ca_file") && err.contains("no PEM certificate"),
        "{err}"
    );
}
