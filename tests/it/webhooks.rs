//! Chat and webhook alerts against real HTTP servers on loopback (axum on 127.0.0.1,
//! port 0) that record every request and answer as each platform does. Each platform's
//! body format and signature are checked as the platform documents them, with the
//! HMACs recomputed here from the documented recipe. Alerts are queued through the
//! library as the pipeline queues them (or by a real `scan`) and delivered by the real
//! binary (`copyhound alerts send`).

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use chrono::Utc;
use copyhound::config::Settings;
use copyhound::evidence::MatchFacts;
use copyhound::notify;
use copyhound::store::Store;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::util::{copyhound_cmd, free_port, python_has, stderr, stdout, SmtpSink, OUTLET_CONFIG};

/// The tokens and secrets of the test webhooks: none may ever be printed.
const WECOM_KEY: &str = "wecomkey-0a1b2c3d4e5f";
const DING_TOKEN: &str = "dingtoken-9f8e7d6c5b4a";
const DING_SECRET: &str = "SECding-secret-5544332211";
const FEISHU_HOOK: &str = "feishuhook-77665544aabb";
const FEISHU_SECRET: &str = "feishu-secret-1122334455";
const SLACK_PATH: &str = "T0001/B0002/slacktoken-abcdef123456";
pub(crate) const GENERIC_SECRET: &str = "generic-secret-99887766";
const SECRETS: [&str; 7] = [
    WECOM_KEY,
    DING_TOKEN,
    DING_SECRET,
    FEISHU_HOOK,
    FEISHU_SECRET,
    "slacktoken-abcdef123456",
    GENERIC_SECRET,
];

const DESK: &str = "https://desk.jiangcheng-daily.example/review";

/// A hostile original title: markup of every platform, a mention, a line break.
const HOSTILE_TITLE: &str = "江城大桥通车 [点我](http://evil.example) <!channel> **粗体**\n# 标题 <font color=\"red\">红</font>";

/// One request a hook server received.
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    path: String,
    query: String,
    headers: HeaderMap,
    pub(crate) body: Vec<u8>,
    at: Instant,
}

impl Hit {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

/// A scripted answer: status, body, Retry-After, or a stall longer than the client's
/// timeout.
#[derive(Debug, Clone)]
enum Reply {
    Answer(u16, &'static str, Option<&'static str>),
    Stall(Duration),
}

#[derive(Default)]
struct HookState {
    hits: Mutex<Vec<Hit>>,
    /// Answers to give, per platform (the first path segment), before the default.
    script: Mutex<HashMap<String, VecDeque<Reply>>>,
}

/// One loopback server standing in for all five platforms, each under its own path:
/// `/wecom/cgi-bin/webhook/send?key=`, `/dingtalk/robot/send?access_token=`,
/// `/feishu/open-apis/bot/v2/hook/ID`, `/slack/services/T/B/X`, `/generic/hook`.
#[derive(Clone)]
pub(crate) struct Hooks {
    addr: std::net::SocketAddr,
    state: Arc<HookState>,
}

impl Hooks {
    pub(crate) async fn start() -> Hooks {
        let state = Arc::new(HookState::default());
        let router = axum::Router::new()
            .fallback(answer)
            .with_state(Arc::clone(&state));
        let addr = crate::util::fixture::serve(router).await;
        Hooks { addr, state }
    }

    fn script(&self, platform: &str, replies: &[Reply]) {
        self.state
            .script
            .lock()
            .unwrap()
            .entry(platform.to_string())
            .or_default()
            .extend(replies.iter().cloned());
    }

    pub(crate) fn hits(&self, platform: &str) -> Vec<Hit> {
        let prefix = format!("/{platform}/");
        self.state
            .hits
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h.path.starts_with(&prefix))
            .cloned()
            .collect()
    }

    pub(crate) fn url(&self, platform: &str) -> String {
        let a = self.addr;
        match platform {
            "wecom" => format!("http://{a}/wecom/cgi-bin/webhook/send?key={WECOM_KEY}"),
            "dingtalk" => format!("http://{a}/dingtalk/robot/send?access_token={DING_TOKEN}"),
            "feishu" => format!("http://{a}/feishu/open-apis/bot/v2/hook/{FEISHU_HOOK}"),
            "slack" => format!("http://{a}/slack/services/{SLACK_PATH}"),
            _ => format!("http://{a}/generic/hook"),
        }
    }
}

async fn answer(
    State(state): State<Arc<HookState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let platform = path.split('/').nth(1).unwrap_or("").to_string();
    state.hits.lock().unwrap().push(Hit {
        path: path.clone(),
        query: uri.query().unwrap_or("").to_string(),
        headers,
        body: body.to_vec(),
        at: Instant::now(),
    });
    let scripted = state
        .script
        .lock()
        .unwrap()
        .get_mut(&platform)
        .and_then(VecDeque::pop_front);
    let reply = scripted.unwrap_or(match platform.as_str() {
        "wecom" | "dingtalk" => Reply::Answer(200, r#"{"errcode":0,"errmsg":"ok"}"#, None),
        "feishu" => Reply::Answer(200, r#"{"code":0,"msg":"success","data":{}}"#, None),
        "slack" => Reply::Answer(200, "ok", None),
        _ => Reply::Answer(200, "{}", None),
    });
    match reply {
        Reply::Answer(status, body, retry_after) => {
            let mut response =
                (StatusCode::from_u16(status).unwrap(), body.to_string()).into_response();
            if let Some(r) = retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", r.parse().unwrap());
            }
            response
        }
        Reply::Stall(d) => {
            tokio::time::sleep(d).await;
            (StatusCode::OK, "{}").into_response()
        }
    }
}

pub(crate) fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A test environment: config, secret files, state, and the environment variables the
/// binary runs with.
struct Env {
    _dir: tempfile::TempDir,
    root: PathBuf,
    config: PathBuf,
    vars: Vec<(String, String)>,
}

impl Env {
    /// A config with `email` as its `[email]` section and `hooks` as its
    /// `[[notify.webhooks]]` entries (written with [`hook`]).
    fn new(email: &str, hooks: &[String], vars: Vec<(String, String)>) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let config = root.join("copyhound.toml");
        std::fs::write(
            &config,
            format!(
                "{OUTLET_CONFIG}\n[email]\n{email}\n\n[web]\npublic_url = \"{DESK}\"\n\n[notify]\ntimeout = \"2s\"\nretry_initial = \"1s\"\nretry_max = \"4s\"\n\n{}",
                hooks.join("\n")
            ),
        )
        .unwrap();
        Env {
            _dir: dir,
            root,
            config,
            vars,
        }
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.root.join(name), text).unwrap();
    }

    fn settings(&self) -> Settings {
        Settings::load(&self.config).unwrap()
    }

    async fn run(&self, args: &[&str]) -> std::process::Output {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend(["--config".into(), self.config.display().to_string()]);
        let vars = self.vars.clone();
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = all.iter().map(String::as_str).collect();
            let mut cmd = copyhound_cmd(&refs);
            for (k, v) in vars {
                cmd.env(k, v);
            }
            cmd.output().expect("the copyhound binary runs")
        })
        .await
        .unwrap()
    }

    /// `alerts send --wait WAIT`, checked; returns stdout and stderr.
    async fn send(&self, wait: &str) -> String {
        let out = self.run(&["alerts", "send", "--wait", wait]).await;
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(out.status.success(), "{all}");
        all
    }

    async fn alerts(&self) -> Vec<serde_json::Value> {
        let out = self.run(&["alerts", "list", "--json"]).await;
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    /// Queues match `n`'s alerts on every channel, as the pipeline does when it records
    /// the match.
    fn new_match(&self, n: i64, containment: f64) -> MatchFacts {
        let settings = self.settings();
        let facts = facts(n, containment);
        let alerts = notify::new_match_alerts(
            &facts,
            None,
            &settings.email,
            &settings.contacts,
            &settings.notify.webhooks,
        )
        .unwrap();
        let mut store = Store::open_dir(&settings.storage.dir).unwrap();
        store.enqueue_alerts(&alerts, Utc::now()).unwrap();
        facts
    }
}

/// A `[[notify.webhooks]]` entry of `platform` serving `roles`, its URL (and secret)
/// written to files in the environment's folder by [`write_secrets`].
fn hook(platform: &str, roles: &str, extra: &str) -> String {
    let secret = match platform {
        "dingtalk" => "secret_file = \"dingtalk.secret\"\n",
        "feishu" => "secret_env = \"TEST_FEISHU_SECRET\"\n",
        "generic" => "secret_file = \"generic.secret\"\n",
        _ => "",
    };
    let url = match platform {
        // One entry reads its URL from the environment, the others from files.
        "feishu" => "url_env = \"TEST_FEISHU_URL\"\n".to_string(),
        _ => format!("url_file = \"{platform}.url\"\n"),
    };
    format!("[[notify.webhooks]]\nkind = \"{platform}\"\n{url}{secret}roles = {roles}\n{extra}\n")
}

/// The URL and secret files and variables of `hooks` for an environment.
fn write_secrets(env: &Env, hooks: &Hooks) {
    for p in ["wecom", "dingtalk", "slack", "generic"] {
        env.write(&format!("{p}.url"), &format!("{}\n", hooks.url(p)));
    }
    env.write("dingtalk.secret", &format!("{DING_SECRET}\n"));
    env.write("generic.secret", GENERIC_SECRET);
}

fn vars(hooks: &Hooks) -> Vec<(String, String)> {
    vec![
        ("TEST_FEISHU_URL".into(), hooks.url("feishu")),
        ("TEST_FEISHU_SECRET".into(), FEISHU_SECRET.into()),
    ]
}

/// The email tests' match `n`, with a hostile original title and `containment`.
fn facts(n: i64, containment: f64) -> MatchFacts {
    let mut f = crate::alerts::facts(n, "转载 <script>alert(1)</script>");
    f.original.title = HOSTILE_TITLE.into();
    f.containment = containment;
    f
}

/// An `[email]` section for the SMTP sink on `port`.
fn smtp_email(port: u16) -> String {
    format!("smtp_url = \"smtp://127.0.0.1:{port}\"\nstarttls = \"opportunistic\"\nfrom = \"copyhound <copyhound@jiangcheng-daily.example>\"\ntimeout = \"5s\"")
}

fn state(a: &serde_json::Value) -> &str {
    a["state"].as_str().unwrap()
}

fn assert_no_secret(text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "a secret ({s}) was printed: {text}");
    }
}

const ALL_ROLES: &str = "[\"legal\", \"licensing\"]";

/// Each platform receives one message per alert in its documented format, signed as it
/// documents; the generic body carries every documented field and its signature header.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_posts_its_documented_format_and_signature() {
    let hooks = Hooks::start().await;
    let entries: Vec<String> = ["wecom", "dingtalk", "feishu", "slack", "generic"]
        .iter()
        .map(|p| hook(p, "[\"legal\"]", ""))
        .collect();
    let env = Env::new("", &entries, vars(&hooks));
    write_secrets(&env, &hooks);
    env.new_match(7, 0.9);
    let before = Utc::now();
    let out = env.send("5s").await;
    let after = Utc::now();
    assert!(out.contains("and 5 webhook message(s)"), "{out}");
    assert_no_secret(&out);
    let link = format!("{DESK}/matches/7");

    // WeCom: markdown, content within 4096 bytes, the key as given.
    let wecom = hooks.hits("wecom");
    assert_eq!(wecom.len(), 1);
    assert_eq!(wecom[0].query, format!("key={WECOM_KEY}"));
    assert!(wecom[0]
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let b = wecom[0].json();
    assert_eq!(b["msgtype"], "markdown");
    let content = b["markdown"]["content"].as_str().unwrap();
    assert!(content.len() <= 4096);
    assert!(
        content.starts_with("**[copyhound] 发现疑似侵权转载**"),
        "{content}"
    );
    for expected in [
        "原文: 江城大桥通车 ［点我］（http://evil.example） ＜！channel＞ ＊＊粗体＊＊ ＃ 标题 ＜font color=\"red\"＞红＜/font＞",
        "转载网站: copier.example",
        "复制比例: 90% (全文转载)",
        "匹配编号: #7",
    ] {
        assert!(content.contains(expected), "{expected}\n{content}");
    }
    assert!(
        content.ends_with(&format!("[在审核台查看]({link})")),
        "{content}"
    );
    assert_eq!(content.matches("](").count(), 1, "one link: {content}");

    // DingTalk: timestamp (ms) and sign = urlencode(base64(HMAC-SHA256(secret,
    // "{timestamp}\n{secret}"))) added to the URL.
    let ding = hooks.hits("dingtalk");
    assert_eq!(ding.len(), 1);
    let q: HashMap<String, String> = url::form_urlencoded::parse(ding[0].query.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(q["access_token"], DING_TOKEN);
    let ts: i64 = q["timestamp"].parse().unwrap();
    assert!(
        ts >= before.timestamp_millis() - 1000 && ts <= after.timestamp_millis(),
        "{ts}"
    );
    let expected = b64(&hmac_sha256(
        DING_SECRET.as_bytes(),
        format!("{ts}\n{DING_SECRET}").as_bytes(),
    ));
    assert_eq!(q["sign"], expected);
    let raw_sign = ding[0].query.split("sign=").nth(1).unwrap();
    assert!(
        !raw_sign.contains(['+', '/', '=']),
        "the signature is URL-encoded: {raw_sign}"
    );
    let b = ding[0].json();
    assert_eq!(b["msgtype"], "markdown");
    assert_eq!(b["markdown"]["title"], "[copyhound] 发现疑似侵权转载");
    let text = b["markdown"]["text"].as_str().unwrap();
    assert!(text.contains("复制比例: 90% (全文转载)"), "{text}");
    assert!(text.contains(&format!("[在审核台查看]({link})")), "{text}");
    assert!(!text.contains("[点我]"), "{text}");

    // Feishu: timestamp (s, a string) and sign = base64(HMAC-SHA256(key =
    // "{timestamp}\n{secret}", message = "")) in the body; a rich-text post.
    let feishu = hooks.hits("feishu");
    assert_eq!(feishu.len(), 1);
    assert_eq!(
        feishu[0].path,
        format!("/feishu/open-apis/bot/v2/hook/{FEISHU_HOOK}")
    );
    let b = feishu[0].json();
    let ts_text = b["timestamp"].as_str().expect("timestamp is a string");
    let ts: i64 = ts_text.parse().unwrap();
    assert!(
        ts >= before.timestamp() - 1 && ts <= after.timestamp(),
        "{ts}"
    );
    let expected = b64(&hmac_sha256(
        format!("{ts}\n{FEISHU_SECRET}").as_bytes(),
        b"",
    ));
    assert_eq!(b["sign"], expected);
    assert_eq!(b["msg_type"], "post");
    let post = &b["content"]["post"]["zh_cn"];
    assert_eq!(post["title"], "[copyhound] 发现疑似侵权转载");
    let rows = post["content"].as_array().unwrap();
    assert_eq!(rows[0][0]["tag"], "text");
    assert!(rows[0][0]["text"]
        .as_str()
        .unwrap()
        .starts_with("原文: 江城大桥通车 [点我](http://evil.example) <!channel>"));
    let last = &rows.last().unwrap()[0];
    assert_eq!(last["tag"], "a");
    assert_eq!(last["href"], link.as_str());
    assert_eq!(last["text"], "在审核台查看");

    // Slack: mrkdwn text with &, < and > escaped; the desk link is the only <...>.
    let slack = hooks.hits("slack");
    assert_eq!(slack.len(), 1);
    assert_eq!(slack[0].path, format!("/slack/services/{SLACK_PATH}"));
    let b = slack[0].json();
    let text = b["text"].as_str().unwrap();
    assert!(text.starts_with("*[copyhound] 发现疑似侵权转载*"), "{text}");
    assert!(text.contains("&lt;!channel&gt;"), "{text}");
    assert!(text.contains("&lt;font color=\"red\"&gt;"), "{text}");
    assert!(text.ends_with(&format!("<{link}|在审核台查看>")), "{text}");
    assert_eq!(text.matches('<').count(), 1, "{text}");

    // Generic: the documented body, signed over its exact bytes.
    let generic = hooks.hits("generic");
    assert_eq!(generic.len(), 1);
    let g = &generic[0];
    let expected = format!(
        "sha256={}",
        hex::encode(hmac_sha256(GENERIC_SECRET.as_bytes(), &g.body))
    );
    assert_eq!(g.header("x-copyhound-signature").unwrap(), expected);
    assert_eq!(g.header("x-copyhound-event").unwrap(), "match.found");
    let b = g.json();
    let alert_id = b["alert_id"].as_i64().unwrap();
    assert_eq!(
        g.header("x-copyhound-delivery").unwrap(),
        format!("alert-{alert_id}")
    );
    assert_eq!(b["version"], 1);
    assert_eq!(b["event"], "match.found");
    assert_eq!(b["delivery_id"], format!("alert-{alert_id}"));
    assert_eq!(b["role"], "legal");
    assert_eq!(b["match_id"], 7);
    assert_eq!(b["verdict"], "copy");
    assert_eq!(b["share_copied"], 0.9);
    assert_eq!(b["coverage"], 0.8);
    assert_eq!(b["licensed"], false);
    assert_eq!(b["copy"]["url"], "http://copier.example/news/7");
    assert_eq!(b["copy"]["host"], "copier.example");
    assert_eq!(b["copy"]["title"], "转载 <script>alert(1)</script>");
    assert_eq!(b["copy"]["captured_at"], "2026-03-01T10:00:00Z");
    assert_eq!(b["original"]["id"], 107);
    assert_eq!(
        b["original"]["url"],
        "https://www.jiangcheng-daily.example/news/7.html"
    );
    assert!(b["original"]["title"]
        .as_str()
        .unwrap()
        .starts_with("江城大桥通车 [点我]"));
    assert_eq!(b["desk_url"], link.as_str());
    assert_eq!(b["language"], "zh-CN");
    assert!(b["escalation"].is_null());
    assert!(b["sent_at"].as_str().unwrap().ends_with('Z'));

    // No message carries the draft notice or the passages.
    for p in ["wecom", "dingtalk", "feishu", "slack", "generic"] {
        for h in hooks.hits(p) {
            let body = String::from_utf8_lossy(&h.body).into_owned();
            assert!(!body.contains("删除通知"), "{p}: {body}");
            assert!(!body.contains("江城新闻正文"), "{p}: {body}");
        }
    }

    // `alerts list` names each channel, never its URL or secret.
    let alerts = env.alerts().await;
    let mut channels: Vec<String> = alerts
        .iter()
        .map(|a| a["channel"].as_str().unwrap().to_string())
        .collect();
    channels.sort();
    assert_eq!(
        channels,
        [
            "email",
            "email",
            "webhook:dingtalk",
            "webhook:feishu",
            "webhook:generic",
            "webhook:slack",
            "webhook:wecom"
        ]
    );
    assert!(alerts.iter().all(|a| state(a) == "sent"), "{alerts:?}");
    for args in [
        &["alerts", "list"][..],
        &["alerts", "list", "--json"][..],
        &["check-config"][..],
    ] {
        let out = env.run(args).await;
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert_no_secret(&format!("{}{}", stdout(&out), stderr(&out)));
    }
    let listed = stdout(&env.run(&["alerts", "list"]).await);
    assert!(listed.contains("webhook:wecom"), "{listed}");
}

/// 5xx, 429 (with Retry-After), a platform's rate-limit code and a timeout are retried
/// with backoff until the post goes through, and each alert is then delivered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_until_delivered_once() {
    let hooks = Hooks::start().await;
    hooks.script(
        "wecom",
        &[
            Reply::Answer(500, "busy", None),
            Reply::Answer(429, "slow down", Some("3")),
            Reply::Answer(
                200,
                r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#,
                None,
            ),
        ],
    );
    hooks.script("generic", &[Reply::Stall(Duration::from_secs(4))]);
    hooks.script("slack", &[Reply::Answer(503, "", None)]);
    let entries = vec![
        hook("wecom", "[\"legal\"]", ""),
        hook("generic", "[\"legal\"]", ""),
        hook("slack", "[\"legal\"]", ""),
    ];
    // Every log line at debug level, ours and the HTTP stack's, is checked for secrets.
    let mut vars = vars(&hooks);
    vars.push(("RUST_LOG".into(), "debug".into()));
    let env = Env::new("", &entries, vars);
    write_secrets(&env, &hooks);
    env.new_match(1, 0.9);
    // One pass: each webhook fails once and stays queued with its reason.
    let out = env.send("0s").await;
    assert_no_secret(&out);
    let alerts = env.alerts().await;
    let by = |c: &str| {
        alerts
            .iter()
            .find(|a| a["channel"] == c)
            .unwrap_or_else(|| panic!("{c}: {alerts:?}"))
            .clone()
    };
    let w = by("webhook:wecom");
    assert_eq!((state(&w), w["attempts"].as_i64()), ("queued", Some(1)));
    assert!(
        w["last_error"].as_str().unwrap().contains("HTTP 500"),
        "{w}"
    );
    let g = by("webhook:generic");
    assert_eq!(state(&g), "queued");
    assert!(
        g["last_error"].as_str().unwrap().contains("timed out"),
        "{g}"
    );
    let s = by("webhook:slack");
    assert!(
        s["last_error"].as_str().unwrap().contains("HTTP 503"),
        "{s}"
    );
    for a in &alerts {
        assert_no_secret(&a.to_string());
    }
    // The email went out in the same pass, untouched by the failing webhooks.
    assert!(alerts
        .iter()
        .filter(|a| a["channel"] == "email")
        .all(|a| state(a) == "sent"));

    // Retried with backoff until each goes through.
    let out = env.send("30s").await;
    assert!(out.contains("0 still queued"), "{out}");
    assert!(
        out.contains("webhook message sent"),
        "debug logs are on: {out}"
    );
    assert_no_secret(&out);
    let wecom = hooks.hits("wecom");
    assert_eq!(wecom.len(), 4, "500, 429, 45009, then accepted");
    // The 429's Retry-After (3s) was honoured over the 2s the backoff asked for. (Due
    // times are stored to the second, so a 3s pause is at least 2s and the 200ms the
    // worker waits past it.)
    assert!(
        wecom[2].at.duration_since(wecom[1].at) >= Duration::from_millis(2150),
        "{:?}",
        wecom[2].at.duration_since(wecom[1].at)
    );
    assert_eq!(hooks.hits("generic").len(), 2, "timed out, then accepted");
    assert_eq!(hooks.hits("slack").len(), 2, "503, then accepted");
    let alerts = env.alerts().await;
    assert!(alerts.iter().all(|a| state(a) == "sent"), "{alerts:?}");
    let w = alerts
        .iter()
        .find(|a| a["channel"] == "webhook:wecom")
        .unwrap();
    assert_eq!(w["attempts"], 4);
    assert!(w["last_error"].is_null());
    // The generic endpoint saw the same delivery id both times: a receiver can tell a
    // re-post from a new alert.
    let ids: Vec<String> = hooks
        .hits("generic")
        .iter()
        .map(|h| h.header("x-copyhound-delivery").unwrap())
        .collect();
    assert_eq!(ids[0], ids[1]);
    // Nothing more is owed: another pass posts nothing.
    env.send("0s").await;
    assert_eq!(hooks.hits("wecom").len(), 4);
    assert_eq!(hooks.hits("generic").len(), 2);
}

/// A 4xx or a platform's error code fails the alert at once (listed with the reason,
/// retried by hand), and never holds up the email or the other webhooks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_failures_are_listed_and_do_not_block_other_channels() {
    if !python_has(
        "aiosmtpd",
        "permanent_failures_are_listed_and_do_not_block_other_channels",
    ) {
        return;
    }
    let hooks = Hooks::start().await;
    hooks.script("slack", &[Reply::Answer(400, "invalid_payload", None)]);
    hooks.script(
        "dingtalk",
        &[Reply::Answer(
            200,
            r#"{"errcode":310000,"errmsg":"sign not match"}"#,
            None,
        )],
    );
    hooks.script(
        "feishu",
        &[Reply::Answer(
            200,
            r#"{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time","data":{}}"#,
            None,
        )],
    );
    let port = free_port();
    let entries = vec![
        hook("slack", "[\"legal\"]", ""),
        hook("dingtalk", "[\"legal\"]", ""),
        hook("feishu", "[\"legal\"]", ""),
        hook("wecom", "[\"legal\"]", ""),
    ];
    let env = Env::new(&smtp_email(port), &entries, vars(&hooks));
    write_secrets(&env, &hooks);
    let sink = SmtpSink::start(port, &env.root.join("mail"), None);
    env.new_match(1, 0.9);
    let out = env.send("5s").await;
    assert!(out.contains("3 failed"), "{out}");
    assert_eq!(sink.messages().len(), 2, "both emails went out");
    assert_eq!(hooks.hits("wecom").len(), 1, "the working webhook posted");
    let alerts = env.alerts().await;
    let by = |c: &str| alerts.iter().find(|a| a["channel"] == c).unwrap().clone();
    for (c, reason) in [
        ("webhook:slack", "HTTP 400: invalid_payload"),
        ("webhook:dingtalk", "errcode 310000: sign not match"),
        ("webhook:feishu", "code 19021: sign match fail"),
    ] {
        let a = by(c);
        assert_eq!(
            (state(&a), a["attempts"].as_i64()),
            ("failed", Some(1)),
            "{a}"
        );
        assert!(a["last_error"].as_str().unwrap().contains(reason), "{a}");
    }
    let listed = env.run(&["alerts", "list"]).await;
    let listed = stdout(&listed);
    assert!(listed.contains("3 failed"), "{listed}");
    assert!(listed.contains("invalid_payload"), "{listed}");
    assert_no_secret(&listed);
    // Not retried by later passes…
    env.send("2s").await;
    assert_eq!(hooks.hits("slack").len(), 1);
    // …until someone fixes the cause and retries the alert.
    let slack_id = by("webhook:slack")["id"].to_string();
    assert!(env
        .run(&["alerts", "retry", &slack_id])
        .await
        .status
        .success());
    env.send("5s").await;
    assert_eq!(hooks.hits("slack").len(), 2);
    assert_eq!(
        state(
            &env.alerts()
                .await
                .iter()
                .find(|a| a["channel"] == "webhook:slack")
                .unwrap()
                .clone()
        ),
        "sent"
    );
    assert_eq!(sink.messages().len(), 2);
}

/// Email and two webhooks for the same matches, with a worker that died holding a claim
/// and two delivery processes racing: every alert reaches every channel exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_and_two_webhooks_are_each_delivered_exactly_once() {
    if !python_has(
        "aiosmtpd",
        "email_and_two_webhooks_are_each_delivered_exactly_once",
    ) {
        return;
    }
    let hooks = Hooks::start().await;
    let port = free_port();
    let entries = vec![hook("wecom", ALL_ROLES, ""), hook("generic", ALL_ROLES, "")];
    let env = Env::new(&smtp_email(port), &entries, vars(&hooks));
    write_secrets(&env, &hooks);
    let sink = SmtpSink::start(port, &env.root.join("mail"), None);
    for n in 1..=3 {
        env.new_match(n, 0.9);
    }
    // 3 matches × 2 roles × 3 channels.
    let alerts = env.alerts().await;
    assert_eq!(alerts.len(), 18);
    // A worker claimed one webhook row and died before posting: the row stays
    // `sending` until its lease ends (here at once), then is posted by the next pass.
    let dead = alerts
        .iter()
        .find(|a| a["channel"] == "webhook:generic")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    {
        let settings = env.settings();
        let mut store = Store::open_dir(&settings.storage.dir).unwrap();
        let now = Utc::now();
        assert_eq!(
            store
                .claim_alerts(&[dead], &format!("alert-{dead}"), now, now)
                .unwrap(),
            vec![dead]
        );
    }
    // Two delivery processes at once: claims keep them from sending anything twice.
    let (a, b) = tokio::join!(env.send("10s"), env.send("10s"));
    assert_no_secret(&a);
    assert_no_secret(&b);
    env.send("0s").await;
    let alerts = env.alerts().await;
    assert!(alerts.iter().all(|a| state(a) == "sent"), "{alerts:?}");
    let resent = alerts.iter().find(|a| a["id"] == dead).unwrap();
    assert_eq!(resent["attempts"], 2, "claimed once by the dead worker");
    assert_eq!(sink.messages().len(), 6, "one email per match and role");
    assert_eq!(
        hooks.hits("wecom").len(),
        6,
        "one WeCom message per match and role"
    );
    let generic = hooks.hits("generic");
    assert_eq!(generic.len(), 6);
    let mut pairs: Vec<(i64, String)> = generic
        .iter()
        .map(|h| {
            let b = h.json();
            (
                b["match_id"].as_i64().unwrap(),
                b["role"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    pairs.sort();
    pairs.dedup();
    assert_eq!(pairs.len(), 6, "every (match, role) once: {pairs:?}");
}

/// `check-config` names the file and key of each bad entry, reads the secrets as the
/// outbox will, and never prints a URL or secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_names_bad_webhook_entries() {
    let hooks = Hooks::start().await;
    let bad = vec![
        "[[notify.webhooks]]\nkind = \"teams\"\nurl_file = \"x.url\"\nroles = [\"legal\"]\n".to_string(),
        "[[notify.webhooks]]\nkind = \"dingtalk\"\nurl_file = \"dingtalk.url\"\nroles = [\"legal\"]\n".to_string(),
        "[[notify.webhooks]]\nname = \"fs\"\nkind = \"feishu\"\nurl_env = \"TEST_FEISHU_URL\"\nroles = [\"legal\"]\n".to_string(),
        "[[notify.webhooks]]\nname = \"s2\"\nkind = \"slack\"\nurl_file = \"slack.url\"\nroles = [\"counsel\"]\n".to_string(),
    ];
    let env = Env::new("", &bad, vars(&hooks));
    write_secrets(&env, &hooks);
    let out = env.run(&["check-config"]).await;
    assert!(!out.status.success());
    let err = stderr(&out);
    let file = env.config.display().to_string();
    for expected in [
        "notify.webhooks[0].kind: must be \"wecom\", \"dingtalk\", \"feishu\", \"slack\" or \"generic\", got \"teams\"",
        "notify.webhooks[1].secret_file: missing: a dingtalk robot signs every message",
        "notify.webhooks[2].secret_file: missing: a feishu robot signs every message",
        "notify.webhooks[3].roles[0]: must be \"legal\" or \"licensing\", got \"counsel\"",
    ] {
        assert!(
            err.contains(&format!("{file}: {expected}")),
            "{expected}\n{err}"
        );
    }
    assert!(err.contains("4 problem(s) found"), "{err}");

    // A valid config whose secret file and variable are missing: named, not printed.
    let good = vec![
        hook("dingtalk", ALL_ROLES, ""),
        hook("feishu", ALL_ROLES, ""),
        format!(
            "[[notify.webhooks]]\nname = \"inline\"\nkind = \"slack\"\nurl = \"{}\"\nroles = [\"licensing\"]\n",
            hooks.url("slack")
        ),
    ];
    let env = Env::new(
        "",
        &good,
        vec![("TEST_FEISHU_URL".into(), hooks.url("feishu"))],
    );
    env.write("dingtalk.url", &hooks.url("dingtalk"));
    let file = env.config.display().to_string();
    let out = env.run(&["check-config"]).await;
    // A warning, not a failure: the service still starts, and only that webhook's
    // alerts fail.
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "warning: {file}: notify.webhooks[0].secret_file: {}",
            env.root.join("dingtalk.secret").display()
        )),
        "{err}"
    );
    assert!(
        err.contains(
            "notify.webhooks[1].secret_env: environment variable TEST_FEISHU_SECRET is not set"
        ),
        "{err}"
    );
    assert_no_secret(&format!("{}{err}", stdout(&out)));
    // Fixed: ok, naming the webhooks by name and kind only.
    let env = Env::new("", &good, vars(&hooks));
    write_secrets(&env, &hooks);
    let out = env.run(&["check-config"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("webhooks: dingtalk (dingtalk), feishu (feishu), inline (slack)"),
        "{text}"
    );
    assert_no_secret(&format!("{text}{}", stderr(&out)));
}

/// The whole path through the binary: `scan` finds a copy on a loopback site, queues
/// the webhook alerts in the match's transaction and posts them before it exits, with
/// the desk link of the recorded match; a reviewer's escalation reaches counsel's chat;
/// scanning again posts nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_and_escalation_post_to_webhooks_once() {
    let hooks = Hooks::start().await;
    let site = crate::util::fixture::zh_copy_site("/news/copy.html").await;
    let entries = vec![
        hook("generic", "[\"legal\"]", ""),
        hook("wecom", "[\"licensing\"]", ""),
    ];
    let env = Env::new("", &entries, vars(&hooks));
    write_secrets(&env, &hooks);
    let mut config = std::fs::read_to_string(&env.config).unwrap();
    config.push_str("\n[originals]\npaths = [\"archive\"]\n\n[crawl]\nallow_private_networks = true\nper_host_delay = \"0s\"\n");
    std::fs::write(&env.config, config).unwrap();
    crate::util::archive_zh_original(&env.root);
    assert!(env.run(&["ingest"]).await.status.success());
    let url = format!("http://{site}/news/copy.html");
    let out = env.run(&["scan", &url]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "alerts: 4 sent in 2 email(s) and 2 webhook message(s), 0 failed, 0 still queued"
        ),
        "{}",
        stderr(&out)
    );
    let matches: serde_json::Value =
        serde_json::from_slice(&env.run(&["matches", "list", "--json"]).await.stdout).unwrap();
    let id = matches[0]["id"].as_i64().unwrap();
    let generic = hooks.hits("generic");
    assert_eq!(generic.len(), 1);
    let b = generic[0].json();
    assert_eq!(b["match_id"], id);
    assert_eq!(b["copy"]["url"], url.as_str());
    assert_eq!(b["desk_url"], format!("{DESK}/matches/{id}"));
    let wecom = hooks.hits("wecom");
    assert_eq!(wecom.len(), 1);
    assert!(wecom[0].json()["markdown"]["content"]
        .as_str()
        .unwrap()
        .contains(&format!("[在审核台查看]({DESK}/matches/{id})")));

    // Scanning again: the match is known, nobody is told twice.
    assert!(env.run(&["scan", &url]).await.status.success());
    assert_eq!(hooks.hits("generic").len(), 1);
    assert_eq!(hooks.hits("wecom").len(), 1);

    // A reviewer confirms the copy: counsel's channel hears it (licensing's does not).
    let out = env
        .run(&[
            "matches",
            "mark",
            &id.to_string(),
            "--status",
            "infringing",
            "--note",
            "整篇转载，未获授权",
        ])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let generic = hooks.hits("generic");
    assert_eq!(generic.len(), 2, "{}", stderr(&out));
    let b = generic[1].json();
    assert_eq!(b["event"], "match.escalated");
    assert_eq!(
        generic[1].header("x-copyhound-event").unwrap(),
        "match.escalated"
    );
    assert_eq!(b["escalation"]["note"], "整篇转载，未获授权");
    assert_eq!(hooks.hits("wecom").len(), 1);
}
