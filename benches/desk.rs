//! The review desk at a large outlet's scale: 100,000 matches on 1,000 sites against
//! 2,000 originals, served over real HTTP on loopback, a reviewer logged in.
//!
//! Each match's capture is the bundled traditional-character mirror page and its
//! passages are the real alignment of that page with the bundled original, so the match
//! page does the real work (re-extracting the copy, marking passages on both sides).
//!
//! Measured, median of `ROUNDS` requests each, with the bare HTTP round trip (`/healthz`
//! on the same server, same client) as the baseline run in the same process:
//! the unreviewed queue (first page, newest first), the queue by share copied, one
//! site's matches, a match page, the dashboard (`/`: the last 26 weeks' aggregates
//! and charts; the matches arrive over a year and 40% of them are decided; the 15,000
//! infringing ones open cases, and a quarter of those get a notice, most of those a
//! removal, half of those a closing), and a
//! decision (`POST /matches/ID/decide`, each on a
//! new match, recorded with its history row in one transaction with a full disk sync).
//!
//! Last line: `queue_p50_ms=<..> match_p50_ms=<..> dashboard_p50_ms=<..> decide_p50_ms=<..>
//! baseline_p50_ms=<..> queue_vs_baseline=<ratio>`.

use std::time::{Duration, Instant};

use argon2::{Argon2, PasswordHasher};
use chrono::Utc;
use copyhound::config::{Settings, WebUser};
use copyhound::crawl::fetch::{Capture, Validators};
use copyhound::detect::{compare, DetectParams, Document, Verdict};
use std::collections::HashMap;

use copyhound::cases::{CaseState, Outcome};
use copyhound::store::{
    CaseChange, NewArticle, NewCaseEvent, NewDecision, NewMatch, ReviewStatus, Store,
};
use sha2::{Digest, Sha256};

const MATCHES: usize = 100_000;
const SITES: usize = 1_000;
const ORIGINALS: usize = 2_000;
const BATCH: usize = 500;
const ROUNDS: usize = 40;
const PASSWORD: &str = "bench password";

fn sample(name: &str) -> Vec<u8> {
    let path = format!("{}/samples/{name}", env!("CARGO_MANIFEST_DIR"));
    match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => panic!("{path}: {e}"),
    }
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1000.0
}

fn capture(url: &str, body: &[u8]) -> Capture {
    let t = Utc::now();
    let url = url::Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
    Capture {
        requested_url: url.clone(),
        final_url: url,
        redirects: Vec::new(),
        remote_addr: Some("203.0.113.9:80".parse().unwrap_or_else(|e| panic!("{e}"))),
        request_head: b"GET / HTTP/1.1\r\nhost: bench.example\r\n".to_vec(),
        status: 200,
        response_head: b"HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\n".to_vec(),
        content_type: Some("text/html; charset=utf-8".into()),
        content_encoding: None,
        raw_body: body.to_vec(),
        decoded_body: None,
        body_sha256: hex::encode(Sha256::digest(body)),
        truncated: false,
        validators: Validators::default(),
        started_at: t,
        finished_at: t,
        network: Default::default(),
    }
}

/// Builds the store: originals, then matches in large transactions.
fn fill(store: &mut Store) -> Duration {
    let started = Instant::now();
    let original_html = sample("original-zh.html");
    let copy_html = sample("copy-zh-mirror.html");
    let original = copyhound::extract::extract(&original_html, Some("text/html"));
    let copy = copyhound::extract::extract(&copy_html, Some("text/html"));
    let comparison = compare(
        &Document::new(original.title.clone(), original.text.clone()),
        &Document::new(copy.title.clone(), copy.text.clone()),
        &DetectParams::default(),
    );
    assert_ne!(comparison.verdict, Verdict::Unrelated, "the samples match");
    let mut ids = Vec::with_capacity(ORIGINALS);
    let articles: Vec<NewArticle> = (0..ORIGINALS)
        .map(|i| NewArticle {
            url: format!("https://www.jiangcheng-daily.example/a/{i}"),
            title: format!("{} ({i})", original.title),
            published: None,
            author: None,
            source: "bench".into(),
            text: original.text.clone(),
            text_sha256: format!("{i:064x}"),
            simhash: i as u64,
            segments: Vec::new(),
            anchors: Vec::new(),
            sentence_hashes: Vec::new(),
            extraction: "container".into(),
            page_chars: 0,
            suspect: None,
        })
        .collect();
    for a in &articles {
        match store.upsert_original(a, Utc::now()) {
            Ok(copyhound::store::Upsert::New { id }) => ids.push(id),
            other => panic!("{other:?}"),
        }
    }
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    // Matches arrive over a year (the dashboard's six months hold about half of them),
    // a batch every 1.8 days.
    let start = Utc::now() - chrono::Duration::days(360);
    let day =
        |batch: usize| start + chrono::Duration::minutes((batch as f64 * 1.8 * 1440.0) as i64);
    for batch in 0..MATCHES / BATCH {
        let at = day(batch);
        let c = capture(&format!("http://site0.example/{batch}"), &copy_html);
        let matches: Vec<NewMatch> = (0..BATCH)
            .map(|j| {
                let i = batch * BATCH + j;
                let host = format!("site{}.example", i % SITES);
                NewMatch {
                    copy_url: format!("http://{host}/news/{i}.html"),
                    copy_host: host,
                    original_id: ids[i % ORIGINALS],
                    verdict: if i % 3 == 0 {
                        Verdict::Partial
                    } else {
                        Verdict::Copy
                    },
                    containment: (next() % 1000) as f64 / 1000.0,
                    coverage: comparison.coverage,
                    copied_chars: comparison.copied_chars as u64,
                    passages: comparison.passages.clone(),
                    copy_title: copy.title.clone(),
                    licensed: false,
                    ignored: false,
                    original_version: None,
                    archive: None,
                    licence_check: None,
                }
            })
            .collect();
        let outcomes = match store.record_matches(&c, &matches, at) {
            Ok(o) => o,
            Err(e) => panic!("record: {e}"),
        };
        // Reviewers decide 40% of each batch (but the last two weeks' matches) a few
        // hours to days after it arrived: infringing, false positive, licensed, ignored.
        if at > Utc::now() - chrono::Duration::days(14) {
            continue;
        }
        let ids: Vec<i64> = outcomes
            .iter()
            .filter_map(|o| match o {
                copyhound::store::MatchOutcome::New { id } => Some(*id),
                _ => None,
            })
            .collect();
        let decided = ids.len() * 2 / 5;
        for (k, (status, share)) in [
            (ReviewStatus::Infringing, 15),
            (ReviewStatus::FalsePositive, 15),
            (ReviewStatus::Licensed, 5),
            (ReviewStatus::Ignored, 5),
        ]
        .into_iter()
        .enumerate()
        {
            let from = decided * [0, 15, 30, 35][k] / 40;
            let to = from + decided * share / 40;
            let when = at + chrono::Duration::hours(3 + 20 * k as i64);
            if let Err(e) = store.decide(
                &ids[from..to],
                &NewDecision {
                    status,
                    note: "",
                    actor: "bench",
                    via: "cli",
                },
                &HashMap::new(),
                &[],
                when,
            ) {
                panic!("decide: {e}");
            }
        }
    }
    cases(store);
    started.elapsed()
}

/// Counsel's work on every fourth case (the cases opened with the infringing
/// decisions): a notice a day after the opening, then the copy removed (a re-check)
/// after 1 to 20 days for 70% of them, still online for 20%, taken further for 10%;
/// half the removed cases closed a day later.
fn cases(store: &mut Store) {
    let now = Utc::now();
    let all = store.list_cases(None).unwrap_or_else(|e| panic!("{e}"));
    let mut step = |id: i64, from: CaseState, to: CaseState, event: NewCaseEvent<'_>| {
        let at = event.at.unwrap_or(now);
        let change = CaseChange {
            case_id: id,
            expected_state: from,
            new_state: Some(to),
            event,
            next_recheck_at: None,
            reminded_notice_at: None,
            alerts: Vec::new(),
        };
        match store.change_case(&change, at) {
            Ok(Some(_)) => {}
            other => panic!("case {id}: {other:?}"),
        }
    };
    for (k, case) in all.iter().enumerate().filter(|(k, _)| k % 4 == 0) {
        let opened = chrono::DateTime::parse_from_rfc3339(&case.opened_at)
            .unwrap_or_else(|e| panic!("{e}"))
            .with_timezone(&Utc);
        let notice = opened + chrono::Duration::days(1);
        let after = notice + chrono::Duration::days(1 + (k as i64 / 4) % 20);
        if after >= now {
            continue;
        }
        let event = |kind, at, channel, result, outcome| NewCaseEvent {
            kind,
            at: Some(at),
            actor: "bench",
            via: "cli",
            channel,
            recipient: channel.map(|_| "abuse@site.example"),
            result,
            outcome,
            ..NewCaseEvent::default()
        };
        let (from, notice_sent) = (CaseState::Escalated, CaseState::NoticeSent);
        step(
            case.id,
            from,
            notice_sent,
            event("step", notice, Some("email"), None, None),
        );
        let (to, e) = match (k / 4) % 10 {
            0..=6 => (
                CaseState::Removed,
                event("recheck", after, None, Some("removed"), None),
            ),
            7 | 8 => (
                CaseState::StillOnline,
                event("recheck", after, None, Some("still-online"), None),
            ),
            _ => (
                CaseState::EscalatedFurther,
                event("step", after, Some("platform-complaint"), None, None),
            ),
        };
        step(case.id, notice_sent, to, e);
        if to == CaseState::Removed && k % 8 == 0 {
            let closed = after + chrono::Duration::days(1);
            let e = event("step", closed, None, None, Some(Outcome::Removed));
            step(case.id, CaseState::Removed, CaseState::Closed, e);
        }
    }
}

fn main() {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("tempdir: {e}"),
    };
    let source = format!(
        "[outlet]\nname = \"江城日报社\"\nwebsite = \"https://www.jiangcheng-daily.example\"\naddress = \"江城市\"\n[[contacts]]\nrole = \"legal\"\nname = \"L\"\nemail = \"legal@jiangcheng-daily.example\"\n[[contacts]]\nrole = \"licensing\"\nname = \"K\"\nemail = \"k@jiangcheng-daily.example\"\n[storage]\ndir = \"{}\"\n",
        dir.path().join("state").display()
    );
    let mut settings = match Settings::parse(&source, dir.path()) {
        Ok(s) => s,
        Err(e) => panic!("bench config: {e}"),
    };
    let hash = match Argon2::default().hash_password(PASSWORD.as_bytes()) {
        Ok(h) => h.to_string(),
        Err(e) => panic!("{e}"),
    };
    settings.web.users = vec![WebUser {
        name: "bench".into(),
        password_hash: hash,
    }];
    let mut store = match Store::open_dir(&settings.storage.dir) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let filled = fill(&mut store);
    println!(
        "store: {MATCHES} matches on {SITES} sites, {ORIGINALS} originals, built in {:.1}s",
        filled.as_secs_f64()
    );
    // The dashboard's store queries alone, without HTTP or rendering.
    let mut times = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let now = Utc::now();
        let started = Instant::now();
        match store.window_figures(
            copyhound::dashboard::recent_window(now),
            now,
            std::time::Duration::from_secs(7 * 86400),
        ) {
            Ok(f) => assert_eq!(f.weeks.len(), 26),
            Err(e) => panic!("{e}"),
        }
        times.push(started.elapsed());
    }
    println!(
        "{:<34} p50 {:8.2} ms",
        "dashboard figures (store only)",
        median(times)
    );
    let deadline = std::time::Duration::from_secs(7 * 86400);
    match store.window_figures(
        copyhound::dashboard::recent_window(Utc::now()),
        Utc::now(),
        deadline,
    ) {
        Ok(f) => println!(
            "cases in the window: {} opened, {} notices, {} removed, {} open, {} overdue",
            f.cases.opened,
            f.cases.notices,
            f.cases.removals.len(),
            f.cases.open.iter().map(|(_, n)| n).sum::<i64>(),
            f.cases.overdue
        ),
        Err(e) => panic!("{e}"),
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let base = format!("http://{}", listener.local_addr().unwrap_or_else(|e| panic!("{e}")));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(copyhound::web::serve(settings, listener, async move {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        // Wait for the server, then log in like a browser.
        let login = loop {
            if let Ok(r) = client.get(format!("{base}/login")).send().await {
                break r;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let cookie_of = |r: &reqwest::Response, name: &str| -> String {
            r.headers()
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find(|v| v.starts_with(name))
                .and_then(|v| v.split(';').next())
                .unwrap_or_else(|| panic!("no {name} cookie"))
                .to_string()
        };
        let token_of = |body: &str| -> String {
            let marker = "name=\"csrf\" value=\"";
            let at = body.find(marker).unwrap_or_else(|| panic!("no csrf")) + marker.len();
            body[at..at + 64].to_string()
        };
        let login_cookie = cookie_of(&login, "copyhound_login");
        let login_token = token_of(&login.text().await.unwrap_or_default());
        let r = client
            .post(format!("{base}/login"))
            .header("cookie", login_cookie)
            .form(&[("csrf", login_token.as_str()), ("user", "bench"), ("password", PASSWORD)])
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let session = cookie_of(&r, "copyhound_session");
        let get = |path: String| {
            let client = client.clone();
            let session = session.clone();
            let base = base.clone();
            async move {
                let started = Instant::now();
                let r = client
                    .get(format!("{base}{path}"))
                    .header("cookie", session)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                assert!(r.status().is_success(), "{path}: {}", r.status());
                let body = r.text().await.unwrap_or_default();
                (started.elapsed(), body)
            }
        };
        let (_, queue_body) = get("/matches".into()).await;
        let csrf = token_of(&queue_body);

        let mut results = Vec::new();
        for (name, path) in [
            ("baseline /healthz", "/healthz".to_string()),
            ("queue (unreviewed, newest first)", "/matches".to_string()),
            ("queue by share", "/matches?status=all&sort=share".to_string()),
            ("one site", "/matches?status=all&site=site7.example".to_string()),
            ("match page", "/matches/77777".to_string()),
            ("dashboard (26 weeks)", "/".to_string()),
        ] {
            let mut times = Vec::with_capacity(ROUNDS);
            for _ in 0..ROUNDS {
                times.push(get(path.clone()).await.0);
            }
            let ms = median(times);
            println!("{name:<34} p50 {ms:8.2} ms");
            results.push(ms);
        }
        let mut decide = Vec::with_capacity(ROUNDS);
        for i in 0..ROUNDS {
            let started = Instant::now();
            let r = client
                .post(format!("{base}/matches/{}/decide", 1000 + i))
                .header("cookie", session.clone())
                .form(&[("csrf", csrf.as_str()), ("status", "false-positive")])
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
            decide.push(started.elapsed());
        }
        let decide_ms = median(decide);
        println!("{:<34} p50 {decide_ms:8.2} ms", "decision (POST, synced)");
        let _ = stop.send(());
        let _ = server.await;
        println!(
            "queue_p50_ms={:.2} match_p50_ms={:.2} dashboard_p50_ms={:.2} decide_p50_ms={decide_ms:.2} baseline_p50_ms={:.2} queue_vs_baseline={:.1}",
            results[1],
            results[4],
            results[5],
            results[0],
            results[1] / results[0]
        );
    });
}
