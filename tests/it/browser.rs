//! The review desk end to end in a real headless Chromium, driven through WebDriver
//! (chromedriver): a reviewer logs in, opens matches, decides with buttons and keyboard
//! shortcuts; crawled markup stays text; POSTs without the CSRF token are refused; the
//! Content-Security-Policy holds while the desk's own script runs.
//!
//! Everything is real: `copyhound demo` leaves a store with three matches, `copyhound
//! serve` (the binary) serves the desk from it, and the browser talks to that process
//! over loopback. Without Chromium and chromedriver (Debian's `chromium` and
//! `chromium-driver`) the tests say they are skipped, unless `COPYHOUND_REQUIRE_BROWSER=1`
//! (set by `.ci/run`) makes that a failure.

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use fantoccini::actions::{
    Actions, InputSource, KeyAction, KeyActions, MouseActions, PointerAction, MOUSE_BUTTON_LEFT,
};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::util::{copyhound, copyhound_blocking, free_port, json, root, stderr};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The reviewer every test logs in as.
const USER: &str = "chen.xiao";
const PASSWORD: &str = "wetland-1260-mu";
/// How long a page, a process or an element may take to appear. Generous for a loaded
/// two-core machine; a passing run waits far less.
const PATIENCE: Duration = Duration::from_secs(20);

/// True (after saying so) when the browser is not installed and the test should return.
/// With `COPYHOUND_REQUIRE_BROWSER=1` a missing browser fails the test instead, so CI
/// cannot pass by skipping.
fn skip_without_browser(test: &str) -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).is_file())
        .collect();
    if missing.is_empty() {
        return false;
    }
    let required = std::env::var("COPYHOUND_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "{test}: COPYHOUND_REQUIRE_BROWSER=1 but {} missing (apt-get install chromium chromium-driver)",
        missing.join(" and ")
    );
    eprintln!(
        "skipping {test}: {} not installed (apt-get install chromium chromium-driver; CI installs them)",
        missing.join(" and ")
    );
    true
}

/// A client for the desk and chromedriver: loopback only, so no proxy from the
/// environment may step in.
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client")
}

/// Polls `url` until it answers 200, failing with `log()` after [`PATIENCE`] or as soon
/// as `exited()` says the process behind it is gone.
async fn wait_until_up(
    url: &str,
    what: &str,
    mut exited: impl FnMut() -> bool,
    log: impl Fn() -> String,
) {
    let client = http();
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Ok(r) = client.get(url).send().await {
            if r.status() == reqwest::StatusCode::OK {
                return;
            }
        }
        assert!(!exited(), "{what} exited before answering:\n{}", log());
        assert!(
            Instant::now() < deadline,
            "{what} did not answer {url} within {PATIENCE:?}:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// chromedriver on a free loopback port, in a process group of its own: Chromium runs
/// as its child, and a test that fails before closing its session must not leave a
/// browser behind, so dropping this kills the whole group.
struct Chromedriver {
    child: Child,
    port: u16,
}

impl Chromedriver {
    async fn start(dir: &Path) -> Chromedriver {
        let port = free_port();
        let log_path = dir.join("chromedriver.log");
        let log = std::fs::File::create(&log_path).expect("chromedriver log");
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("chromedriver runs");
        let mut driver = Chromedriver { child, port };
        let status = format!("http://127.0.0.1:{port}/status");
        let child = &mut driver.child;
        wait_until_up(
            &status,
            "chromedriver",
            || child.try_wait().is_ok_and(|s| s.is_some()),
            || std::fs::read_to_string(&log_path).unwrap_or_default(),
        )
        .await;
        driver
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The group id is chromedriver's pid (`process_group(0)`); Chromium and its
        // helpers inherited it.
        let group = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) on the process group of a child we spawned and have not reaped.
        unsafe { libc::kill(-group, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// A headless Chromium with a fresh profile, driven through its own chromedriver.
struct Browser {
    client: Client,
    // Field order is drop order: the session, then the driver (and the browser with
    // it), then the profile folder.
    _driver: Chromedriver,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn open() -> Browser {
        let profile = tempfile::tempdir().expect("profile folder");
        let driver = Chromedriver::start(profile.path()).await;
        let user_data = profile.path().join("chromium");
        // The machine may have no internet: without the background-networking switches
        // Chromium keeps trying to reach Google and logs refused connections.
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            format!("--user-data-dir={}", user_data.display()),
            "--window-size=1400,1000".into(),
        ];
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
            // The console (script errors, Content-Security-Policy violations, failed
            // loads), read back by `Browser::console`.
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("json! of an object literal is an object")
        };
        // chromedriver speaks plain HTTP on loopback: no TLS stack is needed.
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .unwrap_or_else(|e| {
                let log = std::fs::read_to_string(profile.path().join("chromedriver.log"));
                panic!("no browser session: {e}\n{}", log.unwrap_or_default())
            });
        Browser {
            client,
            _driver: driver,
            _profile: profile,
        }
    }

    /// Ends the session cleanly (Chromium exits), then stops chromedriver.
    async fn close(self) {
        let Browser {
            client,
            _driver,
            _profile,
        } = self;
        let _ = client.close().await;
    }

    async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
    }

    /// Waits for the element `css` on the current page.
    async fn find(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(e) => e,
            Err(e) => {
                let url = self.client.current_url().await.map(|u| u.to_string());
                let html = self.client.source().await.unwrap_or_default();
                panic!("no {css} on {url:?}: {e}\n{html}")
            }
        }
    }

    async fn find_all(&self, css: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
    }

    async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("element text")
    }

    async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Runs `script` in the page (a returned promise is awaited) and returns its value.
    async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// POSTs the urlencoded `body` to `path` from the page with `fetch`, as the page's own
    /// script could (same origin, the browser's cookies), and returns the status. A
    /// redirect is not followed: it shows as an opaque response, status 0.
    async fn post_status(&self, path: &str, body: &str) -> Value {
        let script = "return fetch(arguments[0], {method: 'POST', credentials: 'same-origin', \
                      redirect: 'manual', body: new URLSearchParams(arguments[1])}) \
                      .then(r => r.status)";
        self.client
            .execute(script, vec![json!(path), json!(body)])
            .await
            .unwrap_or_else(|e| panic!("POST {path} failed: {e}"))
    }

    /// Fails when the console has had anything to say since the last look: a script
    /// error, a blocked resource, a failed load.
    async fn assert_quiet_console(&self) {
        let console = self.console().await;
        assert!(console.is_empty(), "browser console: {console:#?}");
    }

    /// The console messages logged since the last call, as `LEVEL message` lines.
    async fn console(&self) -> Vec<String> {
        let entries = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .unwrap_or_else(|e| panic!("browser log: {e}"));
        let entries = entries.as_array().cloned().unwrap_or_default();
        entries
            .iter()
            .map(|e| format!("{} {}", e["level"].as_str().unwrap_or("?"), e["message"]))
            .collect()
    }

    /// Presses and releases `key` as a keyboard would, on whatever has the focus.
    async fn press(&self, key: char) {
        let keys = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: key })
            .then(KeyAction::Up { value: key });
        self.client
            .perform_actions(keys)
            .await
            .unwrap_or_else(|e| panic!("key {key}: {e}"));
    }

    /// Logs in through the form and waits for the queue.
    /// Clicks `css` with Shift held, as a reviewer ticks a range: the keyboard holds
    /// Shift down while the mouse moves to the element and clicks, tick by tick.
    async fn shift_click(&self, css: &str) {
        let element = self.find(css).await;
        let shift: char = fantoccini::key::Key::Shift.into();
        let zero = Duration::ZERO;
        let keys = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: shift })
            .pause(zero)
            .pause(zero)
            .pause(zero)
            .then(KeyAction::Up { value: shift });
        let mouse = MouseActions::new("mouse".into())
            .pause(zero)
            .then(PointerAction::MoveToElement {
                element,
                duration: None,
                x: 0.0,
                y: 0.0,
            })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            })
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_LEFT,
            })
            .pause(zero);
        self.client
            .perform_actions(Actions::from(keys).and(mouse))
            .await
            .unwrap_or_else(|e| panic!("shift-click on {css}: {e}"));
    }

    async fn login(&self, desk: &Desk) {
        self.goto(&desk.url("/login")).await;
        let user = self.find("#login-user").await;
        user.send_keys(USER).await.expect("type the user name");
        let password = self.find("#login-password").await;
        password
            .send_keys(PASSWORD)
            .await
            .expect("type the password");
        self.click("#login-submit").await;
        self.find("table#queue").await;
    }
}

/// chromedriver's own command for the console log (WebDriver has none).
#[derive(Debug)]
struct BrowserLog;

impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _url: &url::Url) -> (axum::http::Method, Option<String>) {
        (
            axum::http::Method::POST,
            Some(json!({ "type": "browser" }).to_string()),
        )
    }
}

/// The PHC string of [`PASSWORD`], hashed once per test run (Argon2 is slow on purpose,
/// more so unoptimised).
fn password_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        use argon2::{Argon2, PasswordHasher};
        Argon2::default()
            .hash_password(PASSWORD.as_bytes())
            .expect("argon2 hashes")
            .to_string()
    })
}

/// A review desk: the demo's store served by `copyhound serve`, killed on drop.
struct Desk {
    child: Child,
    addr: String,
    config: PathBuf,
    dir: tempfile::TempDir,
}

impl Desk {
    /// Runs `copyhound demo` in a new folder (three matches: two unreviewed on
    /// 127.0.0.1, one licensed on 127.0.0.2), adds `[web]` with one reviewer to its
    /// config, and serves the desk from it.
    async fn demo() -> Desk {
        let dir = tempfile::tempdir().expect("temp dir");
        let demo_dir = dir.path().join("demo");
        let arg = demo_dir.to_str().expect("utf-8 temp path").to_string();
        let out = tokio::task::spawn_blocking(move || copyhound(&["demo", "--dir", &arg]))
            .await
            .expect("demo task");
        assert!(out.status.success(), "demo failed: {}", stderr(&out));
        let config = demo_dir.join("copyhound.toml");
        Desk::serve(dir, config).await
    }

    /// Adds `[web]` with one reviewer to `config` and serves the desk from it; `dir`
    /// (which holds it) lives as long as the desk.
    async fn serve(dir: tempfile::TempDir, config: PathBuf) -> Desk {
        let addr = format!("127.0.0.1:{}", free_port());
        let mut text = std::fs::read_to_string(&config).expect("demo config");
        text.push_str(&format!(
            "\n[web]\nlisten = \"{addr}\"\n\n[[web.users]]\nname = \"{USER}\"\npassword_hash = '{}'\n",
            password_hash()
        ));
        std::fs::write(&config, text).expect("config written");

        let log_path = dir.path().join("desk.log");
        let log = std::fs::File::create(&log_path).expect("desk log");
        let child = Command::new(env!("CARGO_BIN_EXE_copyhound"))
            .args(["serve", "--config", config.to_str().expect("utf-8 path")])
            .env_remove("COPYHOUND_CONFIG")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("copyhound serve runs");
        let mut desk = Desk {
            child,
            addr,
            config,
            dir,
        };
        let health = desk.url("/healthz");
        let child = &mut desk.child;
        wait_until_up(
            &health,
            "copyhound serve",
            || child.try_wait().is_ok_and(|s| s.is_some()),
            || std::fs::read_to_string(&log_path).unwrap_or_default(),
        )
        .await;
        desk
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Runs the binary with `args` and this desk's config.
    async fn run(&self, args: &[&str]) -> std::process::Output {
        copyhound_blocking(&self.config, args).await
    }

    /// The matches as `copyhound matches list --json` reports them.
    async fn matches(&self) -> Vec<Value> {
        let list = json(&self.run(&["matches", "list", "--json"]).await);
        list.as_array().expect("a JSON array").clone()
    }

    /// The match whose copy URL ends with `suffix`.
    async fn find_match(&self, suffix: &str) -> Value {
        self.matches()
            .await
            .into_iter()
            .find(|m| m["copy_url"].as_str().is_some_and(|u| u.ends_with(suffix)))
            .unwrap_or_else(|| panic!("no match of a copy at *{suffix}"))
    }

    /// Match `id`'s review status, read by the CLI (not through the desk under test).
    async fn status(&self, id: i64) -> String {
        let found = self.matches().await.into_iter().find(|m| m["id"] == id);
        let m = found.unwrap_or_else(|| panic!("no match #{id}"));
        m["status"].as_str().expect("a status").to_string()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("desk.log")).unwrap_or_default()
    }
}

impl Drop for Desk {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The demo desk and a browser, started side by side; `None` when the test is skipped.
async fn desk_and_browser(test: &str) -> Option<(Desk, Browser)> {
    if skip_without_browser(test) {
        return None;
    }
    Some(tokio::join!(Desk::demo(), Browser::open()))
}

fn id_of(m: &Value) -> i64 {
    m["id"].as_i64().expect("a match id")
}

/// Where screenshots go: `target/test-artifacts` (or under `CARGO_TARGET_DIR`), kept
/// after the run for a human to look at.
fn artifact(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root().join("target"), |d| root().join(d));
    let dir = target.join("test-artifacts");
    std::fs::create_dir_all(&dir).expect("artifacts folder");
    dir.join(name)
}

/// `(width, height)` from a PNG's header, checking the signature.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(
        png.len() > 24 && png.starts_with(b"\x89PNG\r\n\x1a\n") && &png[12..16] == b"IHDR",
        "not a PNG"
    );
    let be = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().expect("4 bytes"));
    (be(16), be(20))
}

/// The `data-passage` values of the marks under `css`.
async fn passages(browser: &Browser, css: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for mark in browser.find_all(css).await {
        let p = mark.attr("data-passage").await.expect("attribute");
        out.insert(p.unwrap_or_else(|| panic!("{css} without data-passage")));
    }
    out
}

/// A reviewer's path through the desk: log in, read the queue and its counts, open a
/// match and see the copied passages on both sides, mark it licensed adding its site to
/// the licensed list, see that list and the decision's history, then mark another
/// match a false positive with the `f` key alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_logs_in_reads_a_match_and_decides() {
    let Some((desk, browser)) =
        desk_and_browser("a_reviewer_logs_in_reads_a_match_and_decides").await
    else {
        return;
    };
    let mirror = desk.find_match("/news/zh-mirror.html").await;
    let excerpt = desk.find_match("/news/en-excerpt.html").await;
    let (mirror_id, excerpt_id) = (id_of(&mirror), id_of(&excerpt));

    browser.login(&desk).await;
    let mut rows = Vec::new();
    for row in browser.find_all("table#queue tr.match[data-id]").await {
        rows.push(
            row.attr("data-id")
                .await
                .expect("attribute")
                .unwrap_or_default(),
        );
    }
    rows.sort();
    let mut expected = vec![mirror_id.to_string(), excerpt_id.to_string()];
    expected.sort();
    assert_eq!(rows, expected, "the queue opens on the unreviewed matches");
    for (status, count) in [("unreviewed", "2"), ("licensed", "1"), ("all", "3")] {
        let css = format!("#status-tabs a[data-status=\"{status}\"] .count");
        assert_eq!(browser.text(&css).await, count, "{status} tab");
    }

    let queue_png = browser.client.screenshot().await.expect("screenshot");
    std::fs::write(artifact("review-queue.png"), &queue_png).expect("screenshot saved");

    browser
        .click(&format!("tr.match[data-id=\"{mirror_id}\"] a.match-link"))
        .await;
    assert_eq!(
        browser.find("#match").await.attr("data-id").await.unwrap(),
        Some(mirror_id.to_string())
    );
    let original = passages(&browser, "#original mark.copied").await;
    let copy = passages(&browser, "#copy mark.copied").await;
    assert!(!original.is_empty(), "no passage marked in the original");
    assert_eq!(original, copy, "both sides mark the same passages");
    let share = browser.text("#share").await;
    let number = share.strip_suffix('%').and_then(|n| n.parse::<f64>().ok());
    assert!(
        number.is_some_and(|n| n > 50.0 && n <= 100.0),
        "share copied: {share:?}"
    );

    let png = browser.client.screenshot().await.expect("screenshot");
    let (width, height) = png_size(&png);
    assert!(
        width >= 800 && height >= 600 && png.len() > 20_000,
        "a {width}x{height} screenshot of {} bytes is too small to show the page",
        png.len()
    );
    std::fs::write(artifact("review-match.png"), &png).expect("screenshot saved");

    browser.click("#add-licensed").await;
    browser.click("#mark-licensed").await;
    // The desk moves on to the next unreviewed match and says what was done.
    browser.find("#flash").await;
    assert_eq!(desk.status(mirror_id).await, "licensed");

    browser.goto(&desk.url("/sites")).await;
    let host = mirror["copy_host"].as_str().expect("copy host");
    let mut domains = Vec::new();
    for li in browser.find_all("#licensed li[data-domain]").await {
        domains.push(
            li.attr("data-domain")
                .await
                .expect("attribute")
                .unwrap_or_default(),
        );
    }
    assert_eq!(domains, [host], "the reviewers' licensed list");

    browser
        .goto(&desk.url(&format!("/matches/{mirror_id}")))
        .await;
    let decision = browser.find("#history li.decision").await;
    assert_eq!(
        decision.attr("data-status").await.unwrap().as_deref(),
        Some("licensed")
    );
    let said = decision.text().await.expect("history text");
    assert!(said.contains(USER), "history names the reviewer: {said}");

    // The keyboard path: on the other match, `f` alone marks it a false positive.
    browser
        .goto(&desk.url(&format!("/matches/{excerpt_id}")))
        .await;
    browser.find("#decide-form").await;
    browser.press('f').await;
    // No unreviewed match is left, so the desk returns to the queue with its message.
    browser.find("#flash").await;
    assert_eq!(desk.status(excerpt_id).await, "false-positive");
    browser
        .goto(&desk.url("/matches?status=false-positive"))
        .await;
    browser
        .find(&format!("tr.match[data-id=\"{excerpt_id}\"]"))
        .await;
    browser.assert_quiet_console().await;
    browser.close().await;
}

/// A copy page whose title and text carry markup: the original's paragraphs (the
/// demo's Chinese article) under the title `<script>window.__pwned=1</script>破坏`, with
/// escaped `<img onerror>` and `<b>` tags in the text. A crawler stores those as text;
/// the desk must show them as text.
fn hostile_copy() -> String {
    let original = std::fs::read(crate::util::sample("original-zh.html")).expect("sample");
    let text = copyhound::extract::extract(&original, None).text;
    let escape = |t: &str| {
        t.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut paragraphs: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(escape)
        .collect();
    assert!(paragraphs.len() >= 4, "the sample has paragraphs: {text}");
    paragraphs[1].insert_str(0, &escape("<img src=x onerror=\"window.__pwned=2\">"));
    paragraphs[2].push_str(&escape("<b>粗体</b>"));
    let title = escape("<script>window.__pwned=1</script>破坏");
    let body: String = paragraphs.iter().map(|p| format!("<p>{p}</p>\n")).collect();
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><div class=\"article\"><h1>{title}</h1>\n{body}</div></body></html>"
    )
}

/// Crawled titles and text are shown as text: a match whose copy's title is a script
/// tag and whose text holds an `<img onerror>` runs nothing and adds no element.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crawled_markup_stays_text() {
    let Some((desk, browser)) = desk_and_browser("crawled_markup_stays_text").await else {
        return;
    };
    let page = hostile_copy();
    let router = axum::Router::new().route(
        "/copy.html",
        axum::routing::get(move || {
            let page = page.clone();
            async move { ([("content-type", "text/html; charset=utf-8")], page) }
        }),
    );
    let site = crate::util::fixture::serve(router).await;
    let url = format!("http://{site}/copy.html");
    let out = desk.run(&["scan", &url]).await;
    assert!(out.status.success(), "scan failed: {}", stderr(&out));
    let hostile = desk.find_match("/copy.html").await;
    let title = hostile["copy_title"].as_str().expect("title");
    assert!(title.contains("<script>"), "stored title: {title}");
    let id = id_of(&hostile);

    browser.login(&desk).await;
    // The queue shows the title too.
    let listed = browser
        .text(&format!("tr.match[data-id=\"{id}\"] .copy-title"))
        .await;
    assert!(
        listed.contains("<script>window.__pwned=1</script>"),
        "{listed}"
    );

    browser.goto(&desk.url(&format!("/matches/{id}"))).await;
    let shown = browser.text("#copy-title").await;
    assert!(
        shown.contains("<script>window.__pwned=1</script>破坏"),
        "title shown as {shown:?}"
    );
    let copy_text = browser.text("#copy .text").await;
    assert!(
        copy_text.contains("<img src=x onerror=\"window.__pwned=2\">"),
        "copy text: {copy_text}"
    );
    assert!(copy_text.contains("<b>粗体</b>"), "copy text: {copy_text}");
    assert!(browser.find_all("#copy img, #copy b").await.is_empty());
    assert_eq!(
        browser.js("return typeof window.__pwned").await,
        "undefined"
    );
    // Nothing was even tried: the policy had no script or handler to block.
    browser.assert_quiet_console().await;
    browser.close().await;
}

/// The CSRF checks in a browser that is logged in: a decision POSTed without the
/// session's token is refused (as a fetch and as a submitted form) and changes nothing,
/// while the same POST with the token goes through; a login POSTed without the login
/// form's token is refused too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_without_the_csrf_token_are_refused() {
    let Some((desk, browser)) = desk_and_browser("posts_without_the_csrf_token_are_refused").await
    else {
        return;
    };
    let id = id_of(&desk.find_match("/news/zh-mirror.html").await);
    browser.login(&desk).await;
    browser.goto(&desk.url(&format!("/matches/{id}"))).await;
    browser.find("#decide-form").await;

    let decide = format!("/matches/{id}/decide");
    assert_eq!(browser.post_status(&decide, "status=infringing").await, 403);
    let forged = "status=infringing&csrf=0123456789abcdef";
    assert_eq!(browser.post_status(&decide, forged).await, 403);
    // A plain form submission, as a forged form would make it: the browser sends the
    // session cookie, but there is no token to send.
    browser
        .js(&format!(
            "const f = document.createElement('form'); f.method = 'post'; \
             f.action = '/matches/{id}/decide'; const s = document.createElement('input'); \
             s.name = 'status'; s.value = 'infringing'; f.appendChild(s); \
             document.body.appendChild(f); f.submit(); return null"
        ))
        .await;
    browser.find("#error-message").await;
    assert_eq!(desk.status(id).await, "unreviewed", "{}", desk.log());

    // With the token from the page the same request is accepted: the refusals above
    // were the token's doing.
    browser.goto(&desk.url(&format!("/matches/{id}"))).await;
    let token = browser
        .find("#decide-form input[name=csrf]")
        .await
        .attr("value")
        .await
        .expect("attribute")
        .expect("a token");
    let body = format!("status=false-positive&csrf={token}");
    assert_eq!(browser.post_status(&decide, &body).await, 0, "redirected");
    assert_eq!(desk.status(id).await, "false-positive");

    // Logged out, a login POST without the form's token is refused before the password
    // is looked at.
    browser.click("#logout").await;
    browser.find("#login-form").await;
    let login = format!("user={USER}&password={PASSWORD}&next=/matches");
    assert_eq!(browser.post_status("/login", &login).await, 403);
    browser.goto(&desk.url("/matches")).await;
    browser.find("#login-form").await;
    browser.close().await;
}

/// Every desk page carries the strict Content-Security-Policy, the browser enforces it
/// (an inline script injected into the page does not run), and the desk's own script
/// from `/static/app.js` still does: its queue shortcuts (`j` selects, `o` opens) and
/// its match page shortcut (`n` steps through the passages) work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_holds_and_the_desk_script_runs() {
    let Some((desk, browser)) = desk_and_browser("the_policy_holds_and_the_desk_script_runs").await
    else {
        return;
    };
    browser.login(&desk).await;
    let first = browser.find("tr.match[data-id]").await;
    let id = first
        .attr("data-id")
        .await
        .expect("attribute")
        .expect("an id");
    browser.press('j').await;
    browser.find("tr.match.selected").await;
    browser.press('o').await;
    let opened = browser.find("#match").await;
    assert_eq!(opened.attr("data-id").await.unwrap(), Some(id.clone()));

    // The browser's session cookie, for a plain HTTP look at the headers.
    let cookie = browser
        .client
        .get_named_cookie(copyhound::web::auth::SESSION_COOKIE)
        .await
        .expect("a session cookie");
    let response = http()
        .get(desk.url(&format!("/matches/{id}")))
        .header("cookie", format!("{}={}", cookie.name(), cookie.value()))
        .send()
        .await
        .expect("match page");
    assert_eq!(response.status(), 200);
    let csp = response.headers().get("content-security-policy").cloned();
    assert_eq!(
        csp.as_ref().and_then(|v| v.to_str().ok()),
        Some(copyhound::web::CONTENT_SECURITY_POLICY)
    );
    let page = response.text().await.expect("page body");
    assert!(page.contains("<script src=\"/static/app.js\""), "{page}");
    let script = http()
        .get(desk.url("/static/app.js"))
        .send()
        .await
        .expect("script");
    assert_eq!(script.status(), 200);
    assert!(script.headers().contains_key("content-security-policy"));

    browser.find("#original mark.copied").await;
    let inline = "const s = document.createElement('script'); \
                  s.textContent = 'window.__inline = 1'; document.head.appendChild(s); \
                  return typeof window.__inline";
    assert_eq!(browser.js(inline).await, "undefined");
    let console = browser.console().await;
    assert!(
        console
            .iter()
            .any(|l| l.contains("Content Security Policy")),
        "the browser says the policy refused the script: {console:#?}"
    );

    assert!(browser.find_all("mark.copied.current").await.is_empty());
    browser.press('n').await;
    let current = browser.find_all("mark.copied.current").await;
    let mut sides = Vec::new();
    for mark in &current {
        sides.push(
            mark.attr("id")
                .await
                .expect("attribute")
                .unwrap_or_default(),
        );
    }
    sides.sort();
    assert_eq!(sides.len(), 2, "one passage lit on each side: {sides:?}");
    assert!(sides[0].starts_with("c-") && sides[1].starts_with("o-"));
    browser.close().await;
}

/// Ticking matches in the queue: a click ticks one box, a Shift-click ticks the range up
/// to it, the count follows; the ticked boxes (which belong to the selection form
/// through their `form` attribute) are what the bulk decision records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_ticks_a_range_with_shift_click_and_decides_it() {
    let Some((desk, browser)) =
        desk_and_browser("a_reviewer_ticks_a_range_with_shift_click_and_decides_it").await
    else {
        return;
    };
    browser.login(&desk).await;
    // Every match, newest first, so the range has a middle row.
    browser.goto(&desk.url("/matches?status=all")).await;
    browser.find("table#queue").await;
    let rows = browser
        .js("return Array.from(document.querySelectorAll('tr.match')).map((r) => r.dataset.id)")
        .await;
    let ids: Vec<String> = serde_json::from_value(rows).expect("row ids");
    assert_eq!(ids.len(), 3, "the demo's three matches");
    assert_eq!(browser.text("#picked-count").await, "0");
    let boxes = |id: &str| format!("tr.match[data-id=\"{id}\"] input.pick");

    browser.click(&boxes(&ids[0])).await;
    assert_eq!(browser.text("#picked-count").await, "1");
    browser.shift_click(&boxes(&ids[2])).await;
    assert_eq!(
        browser.text("#picked-count").await,
        "3",
        "the range is ticked"
    );
    let ticked = browser
        .js("return Array.from(document.querySelectorAll('input.pick')).map((b) => b.checked)")
        .await;
    assert_eq!(ticked, json!([true, true, true]), "every box of the range");
    // A plain click unticks one; Shift-click again unticks the range from there.
    browser.click(&boxes(&ids[1])).await;
    assert_eq!(browser.text("#picked-count").await, "2");
    browser.shift_click(&boxes(&ids[0])).await;
    assert_eq!(browser.text("#picked-count").await, "1");
    // Untick the last, tick the first two again (a range), and look at the queue.
    browser.click(&boxes(&ids[2])).await;
    assert_eq!(browser.text("#picked-count").await, "0");
    browser.click(&boxes(&ids[0])).await;
    browser.shift_click(&boxes(&ids[1])).await;
    assert_eq!(browser.text("#picked-count").await, "2");
    assert_eq!(browser.find_all("tr.match.picked").await.len(), 2);
    let png = browser.client.screenshot().await.expect("screenshot");
    let (width, height) = png_size(&png);
    assert!(width >= 800 && height >= 600, "{width}x{height}");
    std::fs::write(artifact("review-queue-selection.png"), &png).expect("screenshot saved");

    browser.click("#selection-note").await;
    browser
        .find("#selection-note")
        .await
        .send_keys("wire story")
        .await
        .expect("typed");
    browser.click("#selection-false-positive").await;
    browser.find("#flash").await;
    for (i, id) in ids.iter().enumerate() {
        let id: i64 = id.parse().expect("an id");
        let status = desk.status(id).await;
        if i < 2 {
            assert_eq!(status, "false-positive", "match {id}");
        } else {
            assert_ne!(status, "false-positive", "match {id} was not ticked");
        }
    }
    // The site's page, reached from a row's host: its matches, decisions and lists.
    browser
        .click(&format!("tr.match[data-id=\"{}\"] a.site-link", ids[0]))
        .await;
    browser.find("#site-decisions li.decision").await;
    let png = browser.client.screenshot().await.expect("screenshot");
    std::fs::write(artifact("review-site.png"), &png).expect("screenshot saved");
    browser.assert_quiet_console().await;
    browser.close().await;
}

/// The dashboard in a real browser on a store that looks like half a year of use: the
/// charts are drawn (inline SVG, no CSP violation, no script error), Chinese labels
/// render, the tables of numbers open, and screenshots are saved as
/// `target/test-artifacts/dashboard.png` (the top) and `dashboard-removal.png` (the time
/// to removal and the cases) for a human to look at.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_draws_its_charts_in_chromium() {
    if skip_without_browser("the_dashboard_draws_its_charts_in_chromium") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().to_path_buf();
    let config = tokio::task::spawn_blocking(move || {
        crate::dashboard::realistic_store(&path, chrono::Utc::now(), "")
    })
    .await
    .expect("store built");
    let (desk, browser) = tokio::join!(Desk::serve(dir, config), Browser::open());
    browser.login(&desk).await;
    browser.goto(&desk.url("/")).await;
    browser.find("svg#chart-weekly").await;
    assert_eq!(browser.find_all("svg.chart").await.len(), 7);
    // The charts have room: every bar chart is drawn at its full width.
    let width = browser
        .js("return document.querySelector('#chart-sites').getBoundingClientRect().width")
        .await;
    assert!(width.as_f64().unwrap_or(0.0) >= 600.0, "{width}");
    // Chinese text is laid out with a real font: a label of four Han characters is
    // wider than four of the last-resort boxes would be narrow.
    let title = browser.text("#weekly h2").await;
    assert!(title.contains("每周新发现的转载"), "{title}");
    let bars = browser.find_all("#chart-weekly rect").await;
    assert!(bars.len() > 26, "{} bars", bars.len());
    // Time to removal and the cases are drawn from the store's cases.
    let title = browser.text("#removal h2").await;
    assert!(title.contains("转载被删除"), "{title}");
    assert!(browser.find_all("#chart-removal rect").await.len() > 3);
    assert!(browser.find_all("#chart-cases rect").await.len() >= 11);
    browser.assert_quiet_console().await;
    let png = browser.client.screenshot().await.expect("screenshot");
    let (w, h) = png_size(&png);
    assert!(w >= 1000 && h >= 600, "{w}x{h}");
    std::fs::write(artifact("dashboard.png"), &png).expect("screenshot saved");
    // The time to removal and the cases, further down the page.
    browser
        .js("document.querySelector('#decisions').scrollIntoView(); return 0")
        .await;
    let png = browser.client.screenshot().await.expect("screenshot");
    std::fs::write(artifact("dashboard-removal.png"), &png).expect("screenshot saved");
    // Opening the numbers of a chart shows its table.
    browser.click("#status details summary").await;
    let table = browser.text("#status table").await;
    assert!(table.contains("侵权"), "{table}");
    browser.close().await;
}

/// Counsel's cases in Chromium: the mirror's match marked infringing and its notice
/// recorded ten days ago (overdue), the excerpt's marked too; `/cases` lists the overdue
/// case first, the case page shows its timeline, and a step recorded from its form
/// appears in it. Screenshots `cases.png` and `case.png` are saved for a human to look
/// at; the console stays quiet (the policy holds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cases_view_and_a_case_page_in_chromium() {
    let Some((desk, browser)) =
        desk_and_browser("the_cases_view_and_a_case_page_in_chromium").await
    else {
        return;
    };
    // Logged in while the queue still has its unreviewed matches to show.
    browser.login(&desk).await;
    let mirror = id_of(&desk.find_match("/news/zh-mirror.html").await);
    let excerpt = id_of(&desk.find_match("/news/en-excerpt.html").await);
    for id in [excerpt, mirror] {
        let out = desk
            .run(&["matches", "mark", &id.to_string(), "--status", "infringing"])
            .await;
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let cases = json(&desk.run(&["cases", "list", "--json"]).await);
    let case_of = |match_id: i64| {
        cases
            .as_array()
            .expect("a JSON array")
            .iter()
            .find(|c| c["match_id"] == match_id)
            .and_then(|c| c["id"].as_i64())
            .expect("a case for the match")
    };
    let (late, other) = (case_of(mirror), case_of(excerpt));
    let date = (chrono::Utc::now() - chrono::Duration::days(10))
        .format("%Y-%m-%d")
        .to_string();
    let out = desk
        .run(&[
            "cases",
            "mark",
            &late.to_string(),
            "--state",
            "notice-sent",
            "--channel",
            "platform-form",
            "--recipient",
            "<i>版权投诉</i> abuse@mirror.example",
            "--date",
            &date,
            "--note",
            "已通过平台表单提交删除通知",
        ])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));

    browser.click("#nav-cases").await;
    let rows = browser.find_all("table#cases tr.case[data-id]").await;
    let mut order = Vec::new();
    for row in rows {
        order.push(
            row.attr("data-id")
                .await
                .expect("attribute")
                .unwrap_or_default(),
        );
    }
    assert_eq!(
        order,
        [late.to_string(), other.to_string()],
        "overdue first"
    );
    browser
        .find(&format!(
            "tr.case.overdue[data-id=\"{late}\"] .overdue-badge"
        ))
        .await;
    let png = browser.client.screenshot().await.expect("screenshot");
    let (w, h) = png_size(&png);
    assert!(w >= 800 && h >= 600, "{w}x{h}");
    std::fs::write(artifact("cases.png"), &png).expect("screenshot saved");

    browser
        .click(&format!("tr.case[data-id=\"{late}\"] a.case-link"))
        .await;
    assert_eq!(
        browser.find("#case").await.attr("data-id").await.unwrap(),
        Some(late.to_string())
    );
    // The recipient's markup is text.
    let notice = browser.text("#notice").await;
    assert!(notice.contains("<i>版权投诉</i>"), "{notice}");
    assert!(browser.find_all("#notice i").await.is_empty());
    // A step from the form: the copy is still online.
    browser
        .js("document.querySelector('#step-select').value = 'still-online'; return true")
        .await;
    browser
        .find("#step-note")
        .await
        .send_keys("复查后仍在线")
        .await
        .expect("type the note");
    browser.click("#record-step").await;
    browser.find("#flash").await;
    assert_eq!(
        browser
            .find("#case")
            .await
            .attr("data-state")
            .await
            .unwrap(),
        Some("still-online".to_string())
    );
    let kinds = browser.find_all("#timeline li.event").await;
    assert_eq!(kinds.len(), 3, "opened, notice, still online");
    browser.assert_quiet_console().await;
    // An illegal one is refused with the rule, on the same page (a 400: the console
    // says so, and nothing else).
    browser
        .js("document.querySelector('#step-select').value = 'escalated'; return true")
        .await;
    browser.click("#record-step").await;
    let error = browser.text("#step-error").await;
    assert!(
        error.contains("无法从“仍在线”转为“已通知法律顾问”"),
        "{error}"
    );
    let console = browser.console().await;
    assert!(
        console
            .iter()
            .all(|line| line.contains("400 (Bad Request)")),
        "{console:?}"
    );
    let png = browser.client.screenshot().await.expect("screenshot");
    std::fs::write(artifact("case.png"), &png).expect("screenshot saved");
    // The match page links to its case.
    browser.goto(&desk.url(&format!("/matches/{mirror}"))).await;
    browser
        .click(&format!("#cases a[data-case=\"{late}\"]"))
        .await;
    browser.find("#timeline").await;
    browser.close().await;
}

/// The licences page in Chromium: the demo's partner is licensed by list only; a
/// reviewer adds a licence for it with its terms through the form (refused first for a
/// date in the wrong order, the form kept), checks the recorded copies again, and finds
/// the partner's copy noncompliant (no link back, title changed), linked from the page
/// to its match, whose page shows the check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_licences_page_adds_a_licence_and_shows_compliance_in_chromium() {
    let Some((desk, browser)) =
        desk_and_browser("the_licences_page_adds_a_licence_and_shows_compliance_in_chromium").await
    else {
        return;
    };
    browser.login(&desk).await;
    let partner = desk.find_match("/syndication/wetland.html").await;
    let partner_id = id_of(&partner);
    let partner_ip = url::Url::parse(partner["copy_url"].as_str().unwrap())
        .unwrap()
        .host_str()
        .unwrap()
        .to_string();
    browser.click("#nav-licences").await;
    browser.find("#no-licences").await;
    let legacy = browser.text("#legacy").await;
    assert!(legacy.contains(&partner_ip), "{legacy}");

    // Markup in the partner's name stays text; dates are set as a date picker sets them.
    let fill = |from: &'static str, to: &'static str| {
        format!(
            "document.querySelector('#licence-from').value = '{from}'; \
             document.querySelector('#licence-to').value = '{to}'; return true"
        )
    };
    browser
        .find("#licence-partner")
        .await
        .send_keys("Valley <b>Partner</b> News")
        .await
        .expect("type the partner");
    browser
        .find("#licence-domains")
        .await
        .send_keys(&partner_ip)
        .await
        .expect("type the domain");
    browser
        .find("#licence-forms")
        .await
        .send_keys("Republished under licence from The Riverton Courier")
        .await
        .expect("type the attribution");
    browser.js(&fill("2026-01-01", "2020-01-01")).await;
    browser.click("#add-licence-submit").await;
    let error = browser.text("#licence-error").await;
    assert!(error.contains("截止日期早于生效日期"), "{error}");
    assert_eq!(
        browser
            .find("#licence-partner")
            .await
            .prop("value")
            .await
            .unwrap(),
        Some("Valley <b>Partner</b> News".to_string()),
        "the refused form is kept"
    );
    let _ = browser.console().await;
    browser.js(&fill("2020-01-01", "")).await;
    browser.click("#add-licence-submit").await;
    let flash = browser.text("#flash").await;
    assert!(
        flash.contains("已添加授权：Valley <b>Partner</b> News"),
        "{flash}"
    );
    let row = browser.find("tr.licence[data-source=\"desk\"]").await;
    assert_eq!(row.attr("data-state").await.unwrap(), Some("valid".into()));
    assert!(browser
        .find_all("tr.licence td.partner b b")
        .await
        .is_empty());
    let source = browser.text("tr.licence .source").await;
    assert!(source.contains(USER), "{source}");
    browser.assert_quiet_console().await;

    // Check the recorded copies against it: the partner's copy breaks two terms.
    browser.click("#check-again").await;
    // The page before the click has a flash of its own: wait for the new one.
    let deadline = Instant::now() + PATIENCE;
    let flash = loop {
        // Read by script, not by element: the old page's element may go stale mid-read.
        let flash = browser
            .js("const f = document.querySelector('#flash'); return f ? f.textContent : ''")
            .await
            .as_str()
            .unwrap_or_default()
            .to_string();
        if flash.starts_with("已重新检查") || Instant::now() > deadline {
            break flash;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(flash.ends_with("1 / 1"), "{flash}");
    let rate = browser.text("tr.licence td.rate").await;
    assert_eq!(rate, "0.0%");
    browser
        .click(&format!("a.noncompliant-match[data-id=\"{partner_id}\"]"))
        .await;
    let check = browser.find("#licence-check").await;
    assert_eq!(
        check.attr("data-verdict").await.unwrap(),
        Some("noncompliant".into())
    );
    let line = check.text().await.unwrap();
    assert!(
        line.contains("无原文链接") && line.contains("标题被改动") && !line.contains("未注明来源"),
        "{line}"
    );
    assert_eq!(browser.text("#status").await, "授权未合规");
    // The draft request to the partner, as licensing staff got it by email.
    let draft = browser
        .js("return fetch(document.querySelector('#licence-request-download').href).then(r => r.text())")
        .await;
    let draft = draft.as_str().expect("the draft's text");
    assert!(
        draft.starts_with("Valley <b>Partner</b> News：") && draft.contains("未附原文链接"),
        "{draft}"
    );
    assert_eq!(desk.status(partner_id).await, "licensed-noncompliant");
    let png = browser.client.screenshot().await.expect("screenshot");
    std::fs::write(artifact("licence-match.png"), &png).expect("screenshot saved");
    browser.click("#nav-licences").await;
    browser.find("tr.licence").await;
    let png = browser.client.screenshot().await.expect("screenshot");
    std::fs::write(artifact("licences.png"), &png).expect("screenshot saved");
    browser.assert_quiet_console().await;
    browser.close().await;

    // The CLI sees the desk's licence and where it comes from.
    let list = json(&desk.run(&["licences", "list", "--json"]).await);
    assert_eq!(list[0]["source"]["kind"], "desk");
    assert_eq!(list[0]["added_by"], USER);
    assert_eq!(list[0]["counts"]["noncompliant"], 1);
}

/// Counsel's evidence report in Chromium: `evidence-report` on a demo match, opened
/// from a file as counsel would open an attachment. It renders (headings, the
/// passages side by side, the digests) and loads nothing at all: the browser's
/// resource timing lists no request (styles are inline, images are `data:` URIs) and
/// the console stays quiet. A screenshot is saved as `evidence-report.png`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_evidence_report_opens_offline_in_chromium() {
    let Some((desk, browser)) =
        desk_and_browser("the_evidence_report_opens_offline_in_chromium").await
    else {
        return;
    };
    let id = id_of(&desk.matches().await[0]).to_string();
    let file = desk.dir.path().join("evidence-report.html");
    let out = desk
        .run(&[
            "evidence-report",
            &id,
            "--lang",
            "en",
            "--out",
            file.to_str().unwrap(),
        ])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    browser.goto(&format!("file://{}", file.display())).await;
    let h1 = browser.text("h1").await;
    assert_eq!(h1, format!("Evidence report: match #{id}"));
    assert!(!browser.find_all("#match mark").await.is_empty());
    assert!(
        browser
            .find_all("#files table.records tbody tr")
            .await
            .len()
            >= 4
    );
    let requests = browser
        .js("return performance.getEntriesByType('resource').map(e => e.name)")
        .await;
    assert_eq!(requests, json!([]), "the report loaded something");
    browser.assert_quiet_console().await;
    let png = browser.client.screenshot().await.expect("screenshot");
    std::fs::write(artifact("evidence-report.png"), &png).expect("screenshot saved");
    browser.close().await;
}

/// A case's timeline in Chromium shows its re-check with the evidence link and a
/// thumbnail of the re-check's own viewport screenshot (the copy re-rendered by the
/// evidence browser), which loads (`naturalWidth` 1280), is scaled down by the style
/// sheet and links to the full page; the screenshot is served only to a logged-in
/// reviewer and only for a kind of artefact the file holds. `case-thumbnail.png` is
/// saved for a human to look at.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_timeline_shows_the_rechecks_screenshot() {
    if skip_without_browser("a_case_timeline_shows_the_rechecks_screenshot") {
        return;
    }
    let (dir, config) = crate::capture::env("60s");
    let site = crate::capture::copy_site().await;
    let url = format!("http://{site}/news/copy.html");
    for args in [&["ingest"][..], &["scan", &url]] {
        let out = copyhound_blocking(&config, args).await;
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    let (desk, browser) = tokio::join!(Desk::serve(dir, config), Browser::open());
    // Logged in while the queue still has its unreviewed match to show.
    browser.login(&desk).await;
    let out = desk
        .run(&["matches", "mark", "1", "--status", "infringing"])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = desk.run(&["cases", "recheck", "1"]).await;
    let text = crate::util::stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(text.contains("with screenshots"), "{text}");

    browser.goto(&desk.url("/cases/1")).await;
    browser.find("#timeline img.recheck-thumb").await;
    let thumbs = browser.find_all("#timeline img.recheck-thumb").await;
    assert_eq!(thumbs.len(), 1, "one re-check, one thumbnail");
    let event = browser
        .find("#timeline li.event[data-kind=\"recheck\"]")
        .await
        .attr("data-id")
        .await
        .expect("attribute")
        .expect("the re-check's id");
    let src = thumbs[0].attr("src").await.expect("attribute");
    let base = format!("/cases/1/evidence/{event}");
    assert_eq!(src.as_deref(), Some(format!("{base}/view").as_str()));
    // The evidence link beside it, and the thumbnail opening the full page.
    browser
        .find(&format!("#timeline a.evidence-link[href=\"{base}\"]"))
        .await;
    browser
        .find(&format!(
            "#timeline a.recheck-shot[href=\"{base}/fullPage\"]"
        ))
        .await;
    // The image loads: decoded, its natural size the viewport's, drawn smaller.
    let script = "const i = document.querySelector('#timeline img.recheck-thumb'); \
                  i.scrollIntoView(); \
                  return [i.complete, i.naturalWidth, i.naturalHeight, i.getBoundingClientRect().width]";
    let deadline = Instant::now() + PATIENCE;
    let size = loop {
        let v = browser.js(script).await;
        if v[0] == true && v[1].as_u64().unwrap_or(0) > 0 {
            break v;
        }
        assert!(Instant::now() < deadline, "the thumbnail did not load: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        (size[1].as_u64(), size[2].as_u64()),
        (Some(1280), Some(800))
    );
    let drawn = size[3].as_f64().unwrap_or(0.0);
    assert!(drawn > 100.0 && drawn <= 320.0, "drawn {drawn}px wide");
    browser.assert_quiet_console().await;
    let png = browser.client.screenshot().await.expect("screenshot");
    std::fs::write(artifact("case-thumbnail.png"), &png).expect("screenshot saved");
    // Same origin and session: the PDF is a download, an unknown kind or another
    // case's event is not found.
    let fetch = |path: String| {
        let script = "return fetch(arguments[0], {credentials: 'same-origin'}) \
                      .then(r => [r.status, r.headers.get('content-type'), r.headers.get('content-disposition')])";
        let client = browser.client.clone();
        async move {
            client
                .execute(script, vec![json!(path)])
                .await
                .unwrap_or_else(|e| panic!("fetch {path}: {e}"))
        }
    };
    let pdf = fetch(format!("{base}/pdf")).await;
    assert_eq!(pdf[0], 200, "{pdf}");
    assert_eq!(pdf[1], "application/pdf", "{pdf}");
    assert!(
        pdf[2].as_str().unwrap_or("").starts_with("attachment;"),
        "{pdf}"
    );
    assert_eq!(fetch(format!("{base}/nope")).await[0], 404);
    assert_eq!(
        fetch(format!("/cases/2/evidence/{event}/view")).await[0],
        404
    );
    browser.close().await;
    // Without a session the screenshot is not served: the desk sends to the login.
    let r = http()
        .get(desk.url(&format!("{base}/view")))
        .send()
        .await
        .expect("the desk answers");
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    let to = r.headers()[reqwest::header::LOCATION]
        .to_str()
        .unwrap_or("");
    assert!(to.starts_with("/login?next="), "{to}");
}
