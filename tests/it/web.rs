//! The review desk's routes over real HTTP: the desk served in-process by
//! `copyhound::web::serve` on 127.0.0.1 (port 0), on a real store that `copyhound demo`
//! filled (3 matches: two unreviewed on 127.0.0.1, one licensed on 127.0.0.2), spoken to
//! with reqwest. Browser behaviour is in `browser`.

use std::path::PathBuf;

use argon2::{Argon2, PasswordHasher};
use copyhound::config::{Settings, WebUser};
use copyhound::store::Store;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

use crate::util::{copyhound, stderr};

const PASSWORD: &str = "correct horse battery";

/// A desk on a demo store, and a client that follows no redirects (the tests look at
/// each hop).
pub(crate) struct DeskFixture {
    /// The demo's folder, when the fixture made one.
    _dir: Option<tempfile::TempDir>,
    pub(crate) state: PathBuf,
    base: String,
    client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    /// The settings in force, for the reload test (the daemon's reload publishes new
    /// settings the same way); `None` when served by `web::serve`.
    reload: Option<tokio::sync::watch::Sender<std::sync::Arc<Settings>>>,
}

impl DeskFixture {
    /// The desk as `copyhound serve` runs it.
    pub(crate) async fn start() -> DeskFixture {
        DeskFixture::start_with(false).await
    }

    /// The desk as the daemon mounts it: its settings follow a channel.
    async fn start_reloadable() -> DeskFixture {
        DeskFixture::start_with(true).await
    }

    async fn start_with(reloadable: bool) -> DeskFixture {
        let dir = tempfile::tempdir().unwrap();
        let demo = dir.path().join("demo");
        let out = copyhound(&["demo", "--dir", demo.to_str().unwrap()]);
        assert!(out.status.success(), "demo failed: {}", stderr(&out));
        let mut desk = DeskFixture::serve(&demo.join("copyhound.toml"), reloadable).await;
        desk._dir = Some(dir);
        desk
    }

    /// The desk (as `copyhound serve` runs it) on another test's config and store.
    pub(crate) async fn on_config(config: &std::path::Path) -> DeskFixture {
        DeskFixture::serve(config, false).await
    }

    async fn serve(config: &std::path::Path, reloadable: bool) -> DeskFixture {
        let mut settings = Settings::load(config).unwrap();
        settings.web.users = vec![WebUser {
            name: "wang".into(),
            password_hash: Argon2::default()
                .hash_password(PASSWORD.as_bytes())
                .unwrap()
                .to_string(),
        }];
        let state = settings.storage.dir.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (server, reload) = if reloadable {
            let (tx, rx) = tokio::sync::watch::channel(std::sync::Arc::new(settings));
            let desk = copyhound::web::Desk::open(rx).unwrap();
            let app = copyhound::web::router(desk)
                .into_make_service_with_connect_info::<std::net::SocketAddr>();
            let server = tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
            (server, Some(tx))
        } else {
            let server = tokio::spawn(async move {
                copyhound::web::serve(settings, listener, async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            });
            (server, None)
        };
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        DeskFixture {
            _dir: None,
            state,
            base,
            client,
            stop: Some(stop),
            server: Some(server),
            reload,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) async fn get(&self, path: &str, cookie: Option<&str>) -> reqwest::Response {
        let mut r = self.client.get(self.url(path));
        if let Some(c) = cookie {
            r = r.header("cookie", c);
        }
        r.send().await.unwrap()
    }

    /// The body of the page at `path`, with the session cookie.
    pub(crate) async fn page(&self, path: &str, cookie: &str) -> String {
        self.get(path, Some(cookie)).await.text().await.unwrap()
    }

    /// Posts the queue's selection form.
    async fn bulk(&self, cookie: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.post("/matches/bulk", Some(cookie), form).await
    }

    pub(crate) async fn post(
        &self,
        path: &str,
        cookie: Option<&str>,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut r = self.client.post(self.url(path)).form(form);
        if let Some(c) = cookie {
            r = r.header("cookie", c);
        }
        r.send().await.unwrap()
    }

    /// The login form's cookie (`name=value`) and CSRF token.
    async fn login_form(&self) -> (String, String) {
        let r = self.get("/login", None).await;
        assert_eq!(r.status(), StatusCode::OK);
        let cookie = cookie_pair(r.headers(), "copyhound_login");
        let body = r.text().await.unwrap();
        (cookie, csrf_in(&body))
    }

    async fn try_login(&self, user: &str, password: &str) -> reqwest::Response {
        let (cookie, csrf) = self.login_form().await;
        self.post(
            "/login",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("user", user),
                ("password", password),
                ("next", "/matches/2"),
            ],
        )
        .await
    }

    /// Logs in; returns the session cookie (`name=value`) and the session's CSRF token.
    pub(crate) async fn login(&self) -> (String, String) {
        let r = self.try_login("wang", PASSWORD).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()[LOCATION], "/matches/2");
        let session = cookie_pair(r.headers(), "copyhound_session");
        let page = self.get("/matches", Some(&session)).await;
        assert_eq!(page.status(), StatusCode::OK);
        let csrf = csrf_in(&page.text().await.unwrap());
        (session, csrf)
    }

    pub(crate) fn store(&self) -> Store {
        Store::open_dir(&self.state).unwrap()
    }

    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap();
        }
    }
}

/// `name=value` of a `Set-Cookie` header.
fn cookie_pair(headers: &HeaderMap, name: &str) -> String {
    set_cookie(headers, name)
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

fn set_cookie(headers: &HeaderMap, name: &str) -> String {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie in {headers:?}"))
}

/// The first CSRF token in a page's forms.
fn csrf_in(body: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = body.find(marker).expect("a form with a CSRF token") + marker.len();
    body[start..start + 64].to_string()
}

pub(crate) fn assert_security_headers(headers: &HeaderMap) {
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
}

fn status_of(store: &Store, id: i64) -> String {
    store.find_match(id).unwrap().unwrap().summary.status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_sessions_and_access() {
    let desk = DeskFixture::start().await;

    // Public: static files, health and metrics. Everything else needs a login.
    let js = desk.get("/static/app.js", None).await;
    assert_eq!(js.status(), StatusCode::OK);
    assert!(js.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    let css = desk.get("/static/app.css", None).await;
    assert!(css.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    assert_eq!(desk.get("/healthz", None).await.status(), StatusCode::OK);
    let metrics = desk.get("/metrics", None).await.text().await.unwrap();
    assert!(metrics.contains("copyhound_"), "{metrics}");
    let r = desk.get("/matches?status=all", None).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()[LOCATION],
        "/login?next=%2Fmatches%3Fstatus%3Dall"
    );
    assert_security_headers(r.headers());
    for path in [
        "/",
        "/matches/1",
        "/matches/1/evidence",
        "/matches/1/notice.txt",
        "/sites",
    ] {
        let r = desk.get(path, None).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
    }
    // A POST without a session is refused, saying the login has ended.
    for path in ["/matches/1/decide", "/sites/decide", "/logout"] {
        let r = desk.post(path, None, &[("status", "infringing")]).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert!(r.text().await.unwrap().contains("登录已失效"));
    }
    // A forged session cookie is no session.
    let forged = format!("copyhound_session={}", "ab".repeat(32));
    assert_eq!(
        desk.get("/matches", Some(&forged)).await.status(),
        StatusCode::SEE_OTHER
    );

    // The login form: its cookie is HttpOnly, SameSite=Strict, scoped to /login.
    let r = desk.get("/login", None).await;
    let login_cookie = set_cookie(r.headers(), "copyhound_login");
    assert!(login_cookie.contains("HttpOnly") && login_cookie.contains("SameSite=Strict"));
    assert!(login_cookie.contains("Path=/login") && !login_cookie.contains("Secure"));
    assert_security_headers(r.headers());

    // A login POST without the form's token (or with another) is refused outright.
    let r = desk
        .post("/login", None, &[("user", "wang"), ("password", PASSWORD)])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (cookie, _) = desk.login_form().await;
    let r = desk
        .post(
            "/login",
            Some(&cookie),
            &[
                ("csrf", &"0".repeat(64)),
                ("user", "wang"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Wrong password: 401 and a message; unknown user: the same.
    let r = desk.try_login("wang", "wrong").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.unwrap().contains("id=\"login-error\""));
    assert_eq!(
        desk.try_login("nobody", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // A good login: a session cookie with the right attributes, then the page asked for.
    let r = desk.try_login("wang", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let session_cookie = set_cookie(r.headers(), "copyhound_session");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(session_cookie.contains(attr), "{session_cookie}");
    }
    assert!(!session_cookie.contains("Secure"));
    let session = cookie_pair(r.headers(), "copyhound_session");
    // `/` is the dashboard; the queue keeps its own URL.
    let home = desk.get("/", Some(&session)).await;
    assert_eq!(home.status(), StatusCode::OK);
    assert!(home.text().await.unwrap().contains("id=\"chart-weekly\""));
    let page = desk.get("/matches", Some(&session)).await;
    assert_eq!(page.status(), StatusCode::OK);
    let body = page.text().await.unwrap();
    assert!(body.contains("<b id=\"user-name\">wang</b>"));
    // The database keeps a digest of the token, never the token.
    let token = session.split_once('=').unwrap().1;
    let digest = hex::encode(Sha256::digest(token.as_bytes()));
    let store = desk.store();
    assert!(store
        .find_session(&digest, chrono::Utc::now())
        .unwrap()
        .is_some());
    assert!(store
        .find_session(token, chrono::Utc::now())
        .unwrap()
        .is_none());

    // Behind a TLS proxy the cookie is Secure.
    let (cookie, csrf) = desk.login_form().await;
    let r = desk
        .client
        .post(desk.url("/login"))
        .header("cookie", cookie)
        .header("x-forwarded-proto", "https")
        .form(&[
            ("csrf", csrf.as_str()),
            ("user", "wang"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert!(set_cookie(r.headers(), "copyhound_session").contains("; Secure"));

    // Logout needs the CSRF token, then ends the session.
    let csrf = csrf_in(&body);
    let r = desk.post("/logout", Some(&session), &[]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = desk
        .post("/logout", Some(&session), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/login");
    assert!(set_cookie(r.headers(), "copyhound_session").contains("Max-Age=0"));
    assert_eq!(
        desk.get("/matches", Some(&session)).await.status(),
        StatusCode::SEE_OTHER
    );
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_rate_limited() {
    let desk = DeskFixture::start().await;
    for _ in 0..5 {
        assert_eq!(
            desk.try_login("wang", "guess").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // Past the limit even the right password is refused, without a session.
    let r = desk.try_login("wang", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .all(|c| !c.to_str().unwrap().starts_with("copyhound_session")));
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_filters_sorts_and_pages() {
    let desk = DeskFixture::start().await;
    let (session, _) = desk.login().await;
    let page = |path: &'static str| {
        let session = session.clone();
        let desk = &desk;
        async move {
            let r = desk.get(path, Some(&session)).await;
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            assert_security_headers(r.headers());
            assert_eq!(r.headers()["cache-control"], "no-store");
            r.text().await.unwrap()
        }
    };
    let rows = |body: &str| -> Vec<i64> {
        body.match_indices("<tr class=\"match\" data-id=\"")
            .map(|(i, m)| {
                let rest = &body[i + m.len()..];
                rest[..rest.find('"').unwrap()].parse().unwrap()
            })
            .collect()
    };
    // The default view is the unreviewed inbox, with counts per status.
    let inbox = page("/matches").await;
    assert_eq!(rows(&inbox).len(), 2);
    assert!(inbox.contains("data-status=\"unreviewed\">未审核 <span class=\"count\">2</span>"));
    assert!(inbox.contains("data-status=\"licensed\">已授权 <span class=\"count\">1</span>"));
    assert!(inbox.contains("data-status=\"all\">全部 <span class=\"count\">3</span>"));
    let all = page("/matches?status=all").await;
    assert_eq!(rows(&all).len(), 3);
    let licensed = page("/matches?status=licensed").await;
    assert_eq!(rows(&licensed).len(), 1);
    // Share order: the store agrees with the page.
    let store = desk.store();
    let mut by_share = store.list_matches().unwrap();
    by_share.sort_by(|a, b| b.containment.total_cmp(&a.containment));
    let expected: Vec<i64> = by_share.iter().map(|m| m.id).collect();
    assert_eq!(
        rows(&page("/matches?status=all&sort=share").await),
        expected
    );
    // Rows carry the queue they were listed in, and the match page hands it on to its
    // decision form and its way back.
    let share_page = page("/matches?status=all&sort=share").await;
    let row_href = format!(
        "href=\"/matches/{}?q=status%3Dall%26sort%3Dshare\"",
        expected[0]
    );
    assert!(share_page.contains(&row_href), "{share_page}");
    let match_path: &'static str = Box::leak(
        format!("/matches/{}?q=status%3Dall%26sort%3Dshare", expected[0]).into_boxed_str(),
    );
    let match_page = page(match_path).await;
    assert!(
        match_page.contains("name=\"q\" value=\"status=all&#38;sort=share\"")
            || match_page.contains("name=\"q\" value=\"status=all&amp;sort=share\""),
        "{match_page}"
    );
    assert!(match_page.contains("id=\"back-to-queue\""));
    let mut ascending = expected.clone();
    ascending.reverse();
    assert_eq!(
        rows(&page("/matches?status=all&sort=share&order=asc").await),
        ascending
    );
    // Site and verdict filters, and the bulk form that a site filter brings.
    let host = by_share
        .iter()
        .find(|m| !m.licensed)
        .map(|m| m.copy_host.clone())
        .unwrap();
    let site_path: &'static str =
        Box::leak(format!("/matches?status=all&site={host}").into_boxed_str());
    let site = page(site_path).await;
    assert_eq!(rows(&site).len(), 2);
    assert!(site.contains("id=\"bulk-form\""));
    assert!(!all.contains("id=\"bulk-form\""));
    let partial = page("/matches?status=all&verdict=partial").await;
    let partial_ids = rows(&partial);
    assert!(partial_ids
        .iter()
        .all(|id| store.find_match(*id).unwrap().unwrap().summary.verdict == "partial"));
    assert!(rows(&page("/matches?status=all&from=2999-01-01").await).is_empty());
    assert_eq!(
        rows(&page("/matches?status=all&to=2999-01-01").await).len(),
        3
    );
    // Paging past the end is an empty page, not an error.
    assert!(rows(&page("/matches?status=all&page=2").await).is_empty());
    // Bad parameters are named.
    for bad in [
        "/matches?status=bogus",
        "/matches?from=26.11.2026",
        "/matches?page=0",
    ] {
        let r = desk.get(bad, Some(&session)).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert!(r.text().await.unwrap().contains("id=\"error-message\""));
    }
    let r = desk.get("/no/such/page", Some(&session)).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn match_page_downloads_and_site_list() {
    let desk = DeskFixture::start().await;
    let (session, _) = desk.login().await;
    let store = desk.store();
    let m = store
        .list_matches()
        .unwrap()
        .into_iter()
        .find(|m| !m.licensed)
        .unwrap();
    let detail = store.find_match(m.id).unwrap().unwrap();

    let r = desk
        .get(&format!("/matches/{}", m.id), Some(&session))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_security_headers(r.headers());
    let body = r.text().await.unwrap();
    // Both sides carry every passage, paired by number.
    for i in 0..detail.passages.len() {
        assert!(
            body.contains(&format!("id=\"o-{i}\"")),
            "original passage {i}"
        );
        assert!(body.contains(&format!("id=\"c-{i}\"")), "copy passage {i}");
    }
    assert!(!detail.passages.is_empty());
    // The verdict's three figures: containment, coverage and the copied length.
    let copied = detail.summary.copied_chars.unwrap();
    assert!(body.contains("<dd id=\"share\">"), "share shown");
    assert!(body.contains("<dd id=\"coverage\">"), "coverage shown");
    assert!(
        body.contains(&format!("<dd id=\"copied-chars\">{copied} ")),
        "copied length shown"
    );
    let sha = detail.evidence_sha256.clone().unwrap();
    assert!(body.contains(&sha));
    assert!(body.contains(&format!("/matches/{}/notice.txt", m.id)));
    assert!(body.contains("<script src=\"/static/app.js\" defer></script>"));
    // No inline script or style anywhere: the CSP would block them.
    assert_eq!(body.matches("<script").count(), 1);
    assert!(!body.contains("style=\""));

    // The evidence download is the file whose digest the database holds.
    let r = desk
        .get(&format!("/matches/{}/evidence", m.id), Some(&session))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/warc");
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    assert_eq!(r.headers()["x-evidence-sha256"], sha.as_str());
    let bytes = r.bytes().await.unwrap();
    assert_eq!(hex::encode(Sha256::digest(&bytes)), sha);

    // The draft notice, as text, in the outlet's language (zh-CN in the demo).
    let r = desk
        .get(&format!("/matches/{}/notice.txt", m.id), Some(&session))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    let notice = r.text().await.unwrap();
    assert!(notice.contains("信息网络传播权保护条例"), "{notice}");
    assert!(notice.contains(&detail.capture.final_url), "{notice}");
    assert!(notice.contains(&sha), "{notice}");

    for missing in [
        "/matches/9999",
        "/matches/abc",
        "/matches/9999/evidence",
        "/matches/0/notice.txt",
    ] {
        let r = desk.get(missing, Some(&session)).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{missing}");
    }

    // The site lists show the config's licensed domain.
    let r = desk.get("/sites", Some(&session)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.text().await.unwrap();
    assert!(body.contains("<li>127.0.0.2</li>"), "{body}");

    archive_provenance_is_shown_and_escaped(&desk, &session, m.id, &sha).await;
    desk.stop().await;
}

/// Match `id` as if found in a web archive (`scan-warc`) whose source and record id are
/// hostile: the page states the provenance in the outlet's language (zh-CN in the
/// demo), escapes the stranger's strings, links the source only when it is http(s), and
/// once the live capture is primary offers both evidence files.
async fn archive_provenance_is_shown_and_escaped(
    desk: &DeskFixture,
    session: &str,
    id: i64,
    sha: &str,
) {
    let conn = rusqlite::Connection::open(desk.state.join("copyhound.db")).unwrap();
    let hostile_source = "javascript:alert(1)//<img src=x onerror=alert(2)>";
    let hostile_id = "<urn:uuid:1\"><script>alert(3)</script>>";
    conn.execute(
        "UPDATE matches SET archive_source = ?2, archive_offset = 1234, archive_length = 567,
           archive_record_id = ?3 WHERE id = ?1",
        rusqlite::params![id, hostile_source, hostile_id],
    )
    .unwrap();
    let body = desk.page(&format!("/matches/{id}"), session).await;
    assert!(body.contains("发现于网页存档"), "{body}");
    assert!(
        body.contains("记录位于第 1234 字节，长度 567 字节"),
        "{body}"
    );
    assert!(
        body.contains("javascript:alert(1)//&#60;img src=x onerror=alert(2)&#62;")
            || body.contains("javascript:alert(1)//&lt;img src=x onerror=alert(2)&gt;"),
        "{body}"
    );
    assert!(!body.contains("<img src=x"), "{body}");
    assert!(!body.contains("href=\"javascript:"), "{body}");
    assert!(!body.contains("id=\"archive-source-link\""), "{body}");
    assert!(!body.contains("<script>alert(3)"), "{body}");
    assert!(body.contains("alert(3)"), "the record id is shown, escaped");
    assert_eq!(body.matches("<script").count(), 1);
    assert!(
        body.contains("data-primary=\"archived\">第三方网页存档取证；本系统实时取证待进行"),
        "{body}"
    );
    assert!(body.contains(&format!(
        "href=\"/matches/{id}/evidence\" id=\"archived-evidence-download\""
    )));
    assert!(
        body.contains("<dd id=\"live-evidence\">待取证</dd>"),
        "{body}"
    );

    // The live capture became primary: the archived file is offered on its own route.
    let live_sha = "0".repeat(64);
    conn.execute(
        "UPDATE matches SET archive_source = 'https://data.commoncrawl.org/a.warc.gz',
           archive_evidence_file = evidence_file, archive_evidence_sha256 = evidence_sha256,
           evidence_sha256 = ?2, live_captured_at = '2026-12-04T20:00:00Z' WHERE id = ?1",
        rusqlite::params![id, live_sha],
    )
    .unwrap();
    let body = desk.page(&format!("/matches/{id}"), session).await;
    assert!(
        body.contains("href=\"https://data.commoncrawl.org/a.warc.gz\" rel=\"noreferrer noopener\" target=\"_blank\" id=\"archive-source-link\""),
        "{body}"
    );
    assert!(
        body.contains("data-primary=\"live\">本系统于 2026-12-04 20:00 UTC 实时取证"),
        "{body}"
    );
    assert!(body.contains(&format!("href=\"/matches/{id}/evidence/archived\"")));
    assert!(body.contains("id=\"live-evidence-download\""));
    let r = desk
        .get(&format!("/matches/{id}/evidence/archived"), Some(session))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-evidence-sha256"], sha);
    let bytes = r.bytes().await.unwrap();
    assert_eq!(hex::encode(Sha256::digest(&bytes)), sha);
    // A match found by the crawler has no archived file.
    let r = desk
        .get(
            &format!("/matches/{}/evidence/archived", id + 1),
            Some(session),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// `matches list --json` on the desk's store, with `filters`.
async fn listed(desk: &DeskFixture, filters: &[&str]) -> Vec<serde_json::Value> {
    let config = desk.state.parent().unwrap().join("copyhound.toml");
    let mut args = vec!["matches", "list", "--json"];
    args.extend(filters);
    let out = crate::util::copyhound_blocking(&config, &args).await;
    crate::util::json(&out).as_array().unwrap().clone()
}

/// The queue's export links: the queue's filters (every page), as CSV and XLSX files
/// that read back with Python's csv module and openpyxl, behind the login.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_exports_follow_the_filters() {
    let desk = DeskFixture::start().await;
    // Not without a session: a GET goes to the login page, and no file is served.
    let r = desk.get("/matches.csv?status=all", None).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(r.headers()[LOCATION]
        .to_str()
        .unwrap()
        .starts_with("/login?next="));
    let (session, _) = desk.login().await;

    // The queue links to its own filters as files.
    let r = desk
        .get(
            "/matches?status=all&verdict=copy&sort=share&page=1",
            Some(&session),
        )
        .await;
    let body = r.text().await.unwrap();
    // askama escapes the ampersands of the query as `&#38;`.
    let link = "/matches.csv?status=all&#38;verdict=copy&#38;sort=share";
    assert!(body.contains(&format!("href=\"{link}\"")), "{body}");
    assert!(body.contains("href=\"/matches.xlsx?status=all&#38;verdict=copy&#38;sort=share\""));

    let r = desk.get(&link.replace("&#38;", "&"), Some(&session)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_security_headers(r.headers());
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        disposition.starts_with("attachment; filename=\"copyhound-matches-all-")
            && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    assert_eq!(r.headers()["x-copyhound-export-total"], "2");
    let bytes = r.bytes().await.unwrap();
    assert!(bytes.starts_with(b"\xef\xbb\xbfid,"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("queue.csv");
    std::fs::write(&file, &bytes).unwrap();
    let want = listed(&desk, &["--verdict", "copy", "--sort", "share"]).await;
    let rows = crate::exports::check_rows(&crate::util::read_export("csv", &file), &want, true);
    assert_eq!(rows.len(), 2);

    // The default queue (unreviewed) as a workbook.
    let r = desk.get("/matches.xlsx", Some(&session)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("copyhound-matches-unreviewed-"));
    let bytes = r.bytes().await.unwrap();
    assert!(bytes.starts_with(b"PK"));
    if crate::util::python_needs("openpyxl", "queue_exports_follow_the_filters") {
        let file = dir.path().join("queue.xlsx");
        std::fs::write(&file, &bytes).unwrap();
        let want = listed(&desk, &["--status", "unreviewed"]).await;
        let read = crate::util::read_export("xlsx", &file);
        assert_eq!(read["freeze_panes"], "A2");
        crate::exports::check_rows(&read, &want, false);
    }

    // A bad filter is refused as on the queue.
    let r = desk.get("/matches.csv?status=bogus", Some(&session)).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_escalate_once_and_respect_csrf() {
    let desk = DeskFixture::start().await;
    let (session, csrf) = desk.login().await;
    let store = desk.store();
    let unreviewed: Vec<i64> = store
        .list_matches()
        .unwrap()
        .into_iter()
        .filter(|m| m.status == "unreviewed")
        .map(|m| m.id)
        .collect();
    assert_eq!(unreviewed.len(), 2);
    let (first, second) = (unreviewed[0], unreviewed[1]);
    let host = store.find_match(second).unwrap().unwrap().summary.copy_host;
    let alerts_before = store.list_alerts(100).unwrap().len();
    let path = format!("/matches/{first}/decide");

    // Without the token, or with another one: refused and nothing changes.
    for form in [
        vec![("status", "infringing")],
        vec![("status", "infringing"), ("csrf", "")],
        vec![("status", "infringing"), ("csrf", &*"f".repeat(64))],
    ] {
        let r = desk.post(&path, Some(&session), &form).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    assert_eq!(status_of(&store, first), "unreviewed");
    assert!(store.decisions(first).unwrap().is_empty());

    // An unknown status is a bad request.
    let r = desk
        .post(
            &path,
            Some(&session),
            &[("csrf", &csrf), ("status", "deleted")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Infringing: recorded with who, escalated to counsel once, on to the next match.
    let note = "未获授权 <b>转载</b>";
    let r = desk
        .post(
            &path,
            Some(&session),
            &[("csrf", &csrf), ("status", "infringing"), ("note", note)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()[LOCATION].to_str().unwrap().to_string();
    // With no queue given, the next match is the default queue's first unreviewed one.
    assert!(
        location.starts_with(&format!(
            "/matches/{second}?q=status%3Dunreviewed&done={first}&st=infringing"
        )),
        "{location}"
    );
    assert!(location.contains("esc=1"), "{location}");
    assert_eq!(status_of(&store, first), "infringing");
    let history = store.decisions(first).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].actor, "wang");
    assert_eq!(history[0].via, "web");
    assert_eq!(history[0].note, note);
    let alerts = store.list_alerts(100).unwrap();
    assert_eq!(alerts.len(), alerts_before + 1);
    let escalation = alerts
        .iter()
        .find(|a| a.id == history[0].alert_id.unwrap())
        .unwrap();
    assert_eq!(escalation.role, "legal");
    assert_eq!(escalation.match_id, Some(first));
    assert!(escalation.facts_json.contains("\"escalation\""));
    // The next page says what happened, and shows the note escaped in the history.
    let next = desk
        .get(&location, Some(&session))
        .await
        .text()
        .await
        .unwrap();
    assert!(next.contains("id=\"flash\""), "{next}");
    let page = desk
        .get(&format!("/matches/{first}"), Some(&session))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("未获授权 &#60;b&#62;转载&#60;/b&#62;")
            || page.contains("未获授权 &lt;b&gt;转载&lt;/b&gt;"),
        "{page}"
    );
    assert!(page.contains("class=\"decision\" data-status=\"infringing\""));
    // `serve` runs the outbox: the escalation goes out (here to an .eml file, the demo
    // has no SMTP server) and the history says so.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let page = desk
            .get(&format!("/matches/{first}"), Some(&session))
            .await
            .text()
            .await
            .unwrap();
        if page.contains("已通知法律顾问: 邮件已发送") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "escalation not delivered: {page}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let sent = store
        .find_alert(history[0].alert_id.unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(sent.state, copyhound::store::AlertState::Sent);
    let emails: Vec<String> = std::fs::read_dir(desk.state.join("outbox"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    let escalation_mail = emails
        .iter()
        .filter(|m| m.contains(sent.message_id.as_deref().unwrap()))
        .count();
    assert_eq!(escalation_mail, 1, "one escalation email");

    // Marked infringing again: a second decision, no second escalation.
    let r = desk
        .post(
            &path,
            Some(&session),
            &[("csrf", &csrf), ("status", "infringing")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(store.decisions(first).unwrap().len(), 2);
    assert_eq!(store.list_alerts(100).unwrap().len(), alerts_before + 1);

    // Licensed with the domain: the reviewers' list grows and /sites shows it.
    let r = desk
        .post(
            &format!("/matches/{second}/decide"),
            Some(&session),
            &[
                ("csrf", &csrf),
                ("status", "licensed"),
                ("add_licensed", "1"),
                ("q", &format!("status=all&site={host}&sort=share")),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // Nothing unreviewed is left in that reviewer's queue (one site, by share): back to
    // it, filters kept.
    let location = r.headers()[LOCATION].to_str().unwrap();
    assert!(
        location.starts_with(&format!(
            "/matches?status=all&site={}&sort=share&done={second}&st=licensed",
            host.replace(':', "%3A")
        )),
        "{location}"
    );
    let list = store
        .site_list(copyhound::store::SiteList::Licensed)
        .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].domain, host);
    assert_eq!(list[0].added_by, "wang");
    let sites = desk
        .get("/sites", Some(&session))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        sites.contains(&format!("data-domain=\"{host}\"")),
        "{sites}"
    );
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_actions_cover_a_site() {
    let desk = DeskFixture::start().await;
    let (session, csrf) = desk.login().await;
    let store = desk.store();
    let host = store
        .list_matches()
        .unwrap()
        .into_iter()
        .find(|m| m.status == "unreviewed")
        .unwrap()
        .copy_host;
    let r = desk
        .post(
            "/sites/decide",
            Some(&session),
            &[("host", &host), ("status", "ignore-site")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = desk
        .post(
            "/sites/decide",
            Some(&session),
            &[
                ("csrf", &csrf),
                ("host", &host),
                ("status", "ignore-site"),
                ("note", "aggregator"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()[LOCATION].to_str().unwrap();
    assert!(
        location.starts_with("/matches?status=all&site="),
        "{location}"
    );
    assert!(location.contains("&n=2&"), "{location}");
    for m in store.list_matches().unwrap() {
        if m.copy_host == host {
            assert_eq!(m.status, "ignored");
            assert_eq!(store.decisions(m.id).unwrap()[0].via, "web-bulk");
        } else {
            assert_eq!(m.status, "licensed");
        }
    }
    let ignored = store
        .site_list(copyhound::store::SiteList::Ignored)
        .unwrap();
    assert_eq!(ignored[0].domain, host);
    // Nothing left to decide on that site: a clear refusal, not a silent no-op.
    let r = desk
        .post(
            "/sites/decide",
            Some(&session),
            &[("csrf", &csrf), ("host", &host), ("status", "licensed")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_removes_a_user_ends_their_session() {
    let desk = DeskFixture::start_reloadable().await;
    let (session, _) = desk.login().await;
    // Browsers' icon requests get "no content", not an error page.
    let icon = desk.get("/favicon.ico", None).await;
    assert_eq!(icon.status(), StatusCode::NO_CONTENT);
    let reload = desk.reload.as_ref().unwrap();
    // A reload that keeps the user keeps the session; one that drops them ends it.
    let mut same = (**reload.borrow()).clone();
    same.outlet.language = copyhound::config::Language::En;
    reload.send_replace(std::sync::Arc::new(same.clone()));
    let page = desk.get("/matches", Some(&session)).await;
    assert_eq!(page.status(), StatusCode::OK);
    let body = page.text().await.unwrap();
    assert!(
        body.contains("<html lang=\"en\">"),
        "the language follows the reload"
    );
    assert!(body.contains(">Unreviewed <span class=\"count\">2</span>"));
    let mut without = same;
    without.web.users.clear();
    reload.send_replace(std::sync::Arc::new(without));
    let r = desk.get("/matches", Some(&session)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let login = desk.get("/login", None).await.text().await.unwrap();
    assert!(login.contains("id=\"no-users\""), "{login}");
    desk.stop().await;
}

/// `copyhound demo --serve` as a newcomer runs it: the binary prints the desk's URL
/// and a demo reviewer's password once; both work over HTTP; Ctrl-C (SIGINT) stops it
/// cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_serve_prints_a_login_that_works() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let mut child =
        crate::util::copyhound_cmd(&["demo", "--serve", "--dir", demo.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
    /// Kills the desk if the test fails before stopping it.
    struct Reap(Option<std::process::Child>);
    impl Drop for Reap {
        fn drop(&mut self) {
            if let Some(mut c) = self.0.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
    let stdout = child.stdout.take().unwrap();
    let mut child = Reap(Some(child));
    // The URL and password lines, read as they are printed (the desk keeps running).
    let (url, password, printed) = tokio::task::spawn_blocking(move || {
        let mut lines = std::io::BufReader::new(stdout).lines();
        let (mut url, mut printed) = (None, String::new());
        for line in lines.by_ref() {
            let line = line.unwrap();
            printed.push_str(&line);
            printed.push('\n');
            if let Some(u) = line.strip_prefix("review desk: ") {
                url = Some(u.trim_end_matches('/').to_string());
            }
            if let Some(p) = line.trim().strip_prefix("password: ") {
                return (url.expect("the URL first"), p.to_string(), printed);
            }
        }
        panic!("no password printed:\n{printed}");
    })
    .await
    .unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{printed}");
    assert!(printed.contains("user:     demo"), "{printed}");
    assert_eq!(password.len(), 20, "{printed}");
    // Only the hash is kept.
    let config = std::fs::read_to_string(demo.join("copyhound.toml")).unwrap();
    assert!(!config.contains(&password));
    assert!(config.contains("name = \"demo\""));

    let desk = DeskFixture {
        _dir: None,
        state: demo.join("state"),
        base: url,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        stop: None,
        server: None,
        reload: None,
    };
    // The desk waits for the login; a wrong password is refused, the printed one works.
    let r = desk.try_login("demo", "not the password").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = desk.try_login("demo", &password).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let session = cookie_pair(r.headers(), "copyhound_session");
    let r = desk.get("/matches?status=all", Some(&session)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.text().await.unwrap();
    assert!(body.contains("<span id=\"total\">3</span>"), "{body}");

    let pid = child.0.as_ref().unwrap().id();
    // SAFETY: kill(2) with the pid of a child this test spawned and has not reaped.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) }, 0);
    let mut c = child.0.take().unwrap();
    let status = tokio::task::spawn_blocking(move || {
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = c.try_wait().unwrap() {
                return status;
            }
            if start.elapsed() > std::time::Duration::from_secs(15) {
                let _ = c.kill();
                panic!("demo --serve did not stop on SIGINT");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    assert!(status.success(), "{status:?}");
}

/// The queue's selection form: picked matches or every match of the filter, decided at
/// once through the same path as one decision (each recorded with `via = "web-bulk"`,
/// each moving into `infringing` escalated once), CSRF-checked and bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selections_are_decided_per_match_and_escalate_once() {
    let desk = DeskFixture::start().await;
    let (session, csrf) = desk.login().await;
    let store = desk.store();
    let unreviewed = ids_in(&store, "unreviewed");
    assert_eq!(unreviewed.len(), 2);
    let (a, b) = (unreviewed[0].to_string(), unreviewed[1].to_string());
    let alerts_before = store.list_alerts(100).unwrap().len();

    // The queue's rows carry checkboxes that belong to the selection form (so they
    // submit without the script), and "all matching" says how many that is.
    let page = desk.page("/matches", &session).await;
    assert!(page.contains(&format!(
        "class=\"pick\" name=\"id\" value=\"{a}\" form=\"select-form\""
    )));
    assert!(page.contains("name=\"all\" value=\"2\" id=\"select-all-matching\""));
    assert!(page.contains("<b id=\"matching-count\">2</b>"), "{page}");

    // Without the session's token, or with another one: refused, nothing recorded.
    for token in ["", &*"f".repeat(64)] {
        let r = desk
            .bulk(
                &session,
                &[
                    ("csrf", token),
                    ("id", &a),
                    ("id", &b),
                    ("status", "infringing"),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    assert!(store.decisions(unreviewed[0]).unwrap().is_empty());
    // Nothing picked, an unknown status, too many: refused.
    for form in [
        vec![("csrf", &*csrf), ("status", "infringing")],
        vec![("csrf", &*csrf), ("id", &*a), ("status", "deleted")],
        vec![("csrf", &*csrf), ("id", "x"), ("status", "licensed")],
    ] {
        let r = desk.bulk(&session, &form).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
    let many: Vec<String> = (1..=copyhound::web::MAX_BULK_DECISION + 1)
        .map(|i| i.to_string())
        .collect();
    let mut form = vec![("csrf", csrf.as_str()), ("status", "licensed")];
    form.extend(many.iter().map(|i| ("id", i.as_str())));
    let r = desk.bulk(&session, &form).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = desk
        .bulk(
            &session,
            &[("csrf", &csrf), ("id", "999999"), ("status", "licensed")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(store.decisions(unreviewed[0]).unwrap().is_empty());

    // Both picked, infringing: one decision each with the note, one escalation each,
    // and back to the queue the reviewer was on.
    let note = "整站转载 <i>批量</i>";
    let r = desk
        .bulk(
            &session,
            &[
                ("csrf", &csrf),
                ("q", "status=unreviewed&sort=share"),
                ("id", &a),
                ("id", &b),
                ("id", &a),
                ("status", "infringing"),
                ("note", note),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()[LOCATION].to_str().unwrap().to_string();
    assert!(
        location.starts_with("/matches?status=unreviewed&sort=share&done="),
        "{location}"
    );
    assert!(
        location.contains("&n=2&") && location.contains("&esc=2&"),
        "{location}"
    );
    let alerts = store.list_alerts(100).unwrap();
    assert_eq!(alerts.len(), alerts_before + 2);
    for id in &unreviewed {
        assert_eq!(status_of(&store, *id), "infringing");
        let history = store.decisions(*id).unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(
            (history[0].via.as_str(), history[0].note.as_str()),
            ("web-bulk", note)
        );
        let alert = alerts
            .iter()
            .find(|x| Some(x.id) == history[0].alert_id)
            .unwrap();
        assert_eq!(alert.role, "legal");
        assert_eq!(alert.match_id, Some(*id));
    }
    let after = desk.page(&location, &session).await;
    assert!(after.contains("id=\"flash\""), "{after}");

    // Picked again as infringing: recorded, not escalated again.
    let r = desk
        .bulk(
            &session,
            &[
                ("csrf", &csrf),
                ("id", &a),
                ("id", &b),
                ("status", "infringing"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(r.headers()[LOCATION].to_str().unwrap().contains("&esc=0&"));
    assert_eq!(store.list_alerts(100).unwrap().len(), alerts_before + 2);
    assert_eq!(store.decisions(unreviewed[0]).unwrap().len(), 2);

    // "All matching the filter": the server selects the filter's matches itself (no ids
    // are sent), and only when the count the reviewer saw still holds; a filter that
    // does not parse is refused, never read as the default queue.
    for (q, all, says) in [
        ("status=infringing", "3", "now selects 2 matches, not 3"),
        ("status=bogus", "2", "unknown status"),
    ] {
        let form = [
            ("csrf", csrf.as_str()),
            ("q", q),
            ("all", all),
            ("status", "false-positive"),
        ];
        let r = desk.bulk(&session, &form).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let body = r.text().await.unwrap();
        assert!(body.contains(says), "{body}");
    }
    assert_eq!(status_of(&store, unreviewed[0]), "infringing");
    let r = desk
        .bulk(
            &session,
            &[
                ("csrf", &csrf),
                ("q", "status=infringing"),
                ("all", "2"),
                ("status", "false-positive"),
                ("note", "wire story"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    for m in store.list_matches().unwrap() {
        if unreviewed.contains(&m.id) {
            assert_eq!(m.status, "false-positive");
            let last = store.decisions(m.id).unwrap().pop().unwrap();
            assert_eq!(
                (last.via.as_str(), last.note.as_str()),
                ("web-bulk", "wire story")
            );
        } else {
            // The licensed partner's copy is outside the filter and untouched.
            assert_eq!(m.status, "licensed");
            assert!(store.decisions(m.id).unwrap().is_empty());
        }
    }
    assert_eq!(store.list_alerts(100).unwrap().len(), alerts_before + 2);
    desk.stop().await;
}

/// The search box: copy URL, copy title and original title, any case, with the other
/// filters; the same selection in the queue, the export and `matches list --search`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_filters_the_queue_exports_and_cli_alike() {
    let desk = DeskFixture::start().await;
    let (session, _) = desk.login().await;
    let all = desk.store().list_matches().unwrap();
    // A fragment of one copy's URL path, upper-cased: ASCII letters fold.
    let target = &all[0];
    let path = url::Url::parse(&target.copy_url)
        .unwrap()
        .path()
        .to_string();
    let needle = path
        .trim_matches('/')
        .rsplit('/')
        .next()
        .unwrap()
        .to_uppercase();
    assert!(!needle.is_empty(), "{path}");
    let folded = needle.to_lowercase();
    let want: Vec<i64> = all
        .iter()
        .filter(|m| {
            [&m.copy_url, &m.copy_title, &m.original_title]
                .iter()
                .any(|s| s.to_lowercase().contains(&folded))
        })
        .map(|m| m.id)
        .collect();
    assert!(want.contains(&target.id));
    let query = format!("status=all&search={}", urlencode(&needle));
    let page = desk.page(&format!("/matches?{query}"), &session).await;
    assert!(
        page.contains(&format!("<span id=\"total\">{}</span>", want.len())),
        "{page}"
    );
    for m in &all {
        assert_eq!(
            page.contains(&format!("data-id=\"{}\"", m.id)),
            want.contains(&m.id),
            "match {}",
            m.id
        );
    }
    // The search box keeps the text; the export links and the paging carry it.
    assert!(page.contains(&format!(
        "name=\"search\" id=\"filter-search\" value=\"{needle}\""
    )));
    assert!(page.contains(&format!(
        "/matches.csv?status=all&#38;search={}",
        urlencode(&needle)
    )));
    let r = desk
        .get(&format!("/matches.csv?{query}"), Some(&session))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["x-copyhound-export-total"],
        want.len().to_string().as_str()
    );
    let listed_ids: Vec<i64> = listed(&desk, &["--search", &needle])
        .await
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    let mut sorted = listed_ids.clone();
    sorted.sort_unstable();
    let mut expected = want.clone();
    expected.sort_unstable();
    assert_eq!(sorted, expected);
    // Combined with a status: the licensed copy is not unreviewed.
    let licensed = all.iter().find(|m| m.status == "licensed").unwrap();
    let host_query = format!("search={}", urlencode(&licensed.copy_host));
    let page = desk.page(&format!("/matches?{host_query}"), &session).await;
    assert!(!page.contains(&format!("data-id=\"{}\"", licensed.id)));
    let page = desk
        .get(
            &format!("/matches?status=licensed&{host_query}"),
            Some(&session),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(&format!("data-id=\"{}\"", licensed.id)));
    // Markup and wildcards are text: escaped back, matching nothing.
    let hostile = "<script>\"%_";
    let page = desk
        .get(
            &format!("/matches?status=all&search={}", urlencode(hostile)),
            Some(&session),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("<script>\""), "{page}");
    assert!(page.contains("<span id=\"total\">0</span>"), "{page}");
    // Bounded.
    let long = "长".repeat(copyhound::store::MAX_SEARCH_CHARS + 1);
    let r = desk
        .get(
            &format!("/matches?search={}", urlencode(&long)),
            Some(&session),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let config = desk.state.parent().unwrap().join("copyhound.toml");
    let out =
        crate::util::copyhound_blocking(&config, &["matches", "list", "--search", &long]).await;
    assert!(!out.status.success());
    desk.stop().await;
}

/// The ids of the matches in `status`, oldest first.
fn ids_in(store: &Store, status: &str) -> Vec<i64> {
    let all = store.list_matches().unwrap();
    all.into_iter()
        .filter(|m| m.status == status)
        .map(|m| m.id)
        .collect()
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `/sites/HOST`: the site's matches with their status, first and last seen, the
/// decisions on them and its list state; linked from the queue's site filter and the
/// match page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn site_pages_show_matches_decisions_and_lists() {
    let desk = DeskFixture::start().await;
    let (session, csrf) = desk.login().await;
    let store = desk.store();
    let all = store.list_matches().unwrap();
    let copier = all.iter().find(|m| m.status == "unreviewed").unwrap();
    let host = copier.copy_host.clone();
    let partner = all.iter().find(|m| m.status == "licensed").unwrap();

    // Linked from the queue's site filter and from the match page.
    let queue = desk
        .get(
            &format!("/matches?site={}", urlencode(&host)),
            Some(&session),
        )
        .await
        .text()
        .await
        .unwrap();
    let href = format!("/sites/{host}");
    assert!(
        queue.contains(&format!("href=\"{href}\" id=\"site-page\"")),
        "{queue}"
    );
    let page = desk
        .page(&format!("/matches/{}", copier.id), &session)
        .await;
    assert!(
        page.contains(&format!("href=\"{href}\" id=\"site-link\"")),
        "{page}"
    );

    // One decision by hand, then the page.
    let r = desk
        .post(
            &format!("/matches/{}/decide", copier.id),
            Some(&session),
            &[
                ("csrf", &csrf),
                ("status", "false-positive"),
                ("note", "<quote>"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = desk.get(&href, Some(&session)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_security_headers(r.headers());
    let page = r.text().await.unwrap();
    assert!(
        page.contains(&format!("<h1 id=\"site-host\">{host}</h1>")),
        "{page}"
    );
    let mine: Vec<_> = all.iter().filter(|m| m.copy_host == host).collect();
    for m in &mine {
        assert!(page.contains(&format!("data-id=\"{}\"", m.id)), "{page}");
    }
    assert!(!page.contains(&format!("data-id=\"{}\"", partner.id)));
    let first = mine.iter().map(|m| m.first_seen.as_str()).min().unwrap();
    assert!(
        page.contains(&format!(
            "<dd id=\"first-seen\">{} UTC",
            &first[..16].replacen('T', " ", 1)
        )),
        "{page}"
    );
    assert!(page.contains("id=\"last-seen\""));
    // Its counts per status, the decision (escaped) and its list state (none).
    assert!(
        page.contains("data-status=\"false-positive\">误报 <span class=\"count\">1</span>"),
        "{page}"
    );
    assert!(page.contains(&format!("data-match=\"{}\"", copier.id)));
    assert!(page.contains("&#60;quote&#62;") || page.contains("&lt;quote&gt;"));
    assert!(
        page.contains("<dd id=\"licensed-state\">不在名单上</dd>"),
        "{page}"
    );
    assert!(
        page.contains("<dd id=\"ignored-state\">不在名单上</dd>"),
        "{page}"
    );

    // The partner's site is licensed by the config.
    let page = desk
        .page(&format!("/sites/{}", partner.copy_host), &session)
        .await;
    assert!(page.contains("配置文件 [crawl] licensed"), "{page}");

    // "Ignore site" on a selection of one: the page says who added it to the ignored
    // list.
    let id = copier.id.to_string();
    let r = desk
        .bulk(
            &session,
            &[("csrf", &csrf), ("id", &id), ("status", "ignore-site")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = desk.page(&href, &session).await;
    assert!(
        page.contains(&format!(
            "<dd id=\"ignored-state\"><ul><li data-domain=\"{host}\">"
        )),
        "{page}"
    );
    assert!(page.contains("web-bulk"));

    // An unknown site, and no page without a login.
    let r = desk.get("/sites/nowhere.example", Some(&session)).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = desk.get(&href, None).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    desk.stop().await;
}

/// `copyhound serve`'s `/metrics` shows the archive file queue as `run`'s does, read
/// from the store while it serves: files enqueued, claimed and failed after the desk
/// started appear within the refresh interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_metrics_show_the_archive_file_queue() {
    let desk = DeskFixture::start().await;
    let sample = |text: &str, state: &str| -> Option<u64> {
        let name = format!("copyhound_warc_queue_files{{state=\"{state}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(name.as_str()))
            .and_then(|v| v.trim().parse().ok())
    };
    let first = desk.get("/metrics", None).await.text().await.unwrap();
    assert!(
        first.contains("# TYPE copyhound_warc_queue_files gauge"),
        "{first}"
    );

    let mut store = Store::open_dir(&desk.state).unwrap();
    let now = chrono::Utc::now();
    let files: Vec<String> = (0..4)
        .map(|i| format!("/data/CC-NEWS-{i}.warc.gz"))
        .collect();
    assert_eq!(store.enqueue_warc(&files, now).unwrap(), 4);
    let lease = now + chrono::Duration::minutes(5);
    let done = store.claim_warc("w1", lease, 1, now).unwrap().unwrap();
    assert!(store.finish_warc(&done.source, "w1", None, 1, now).unwrap());
    let failed = store.claim_warc("w1", lease, 1, now).unwrap().unwrap();
    assert!(store
        .finish_warc(&failed.source, "w1", Some("unreadable"), 1, now)
        .unwrap());
    store.claim_warc("w2", lease, 1, now).unwrap().unwrap();

    let want = [
        ("queued", 1),
        ("in_progress", 1),
        ("done", 1),
        ("failed", 1),
    ];
    let deadline = std::time::Instant::now()
        + copyhound::daemon::SERVE_GAUGE_INTERVAL * 3
        + std::time::Duration::from_secs(5);
    loop {
        let text = desk.get("/metrics", None).await.text().await.unwrap();
        if want.iter().all(|(s, n)| sample(&text, s) == Some(*n)) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the queue never showed {want:?}:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
