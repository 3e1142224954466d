//! The dashboard and the monthly report against a store whose contents the test knows:
//! the store's aggregates (exact numbers), the desk's `/` over real HTTP, `copyhound
//! report` (known numbers, self-contained, hostile strings escaped) and the daemon's
//! monthly email through a real SMTP server on loopback, sent once across a restart.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, TimeZone, Utc};
use copyhound::cases::{CaseState, Outcome};
use copyhound::crawl::fetch::{Capture, Validators};
use copyhound::detect::Verdict;
use copyhound::store::{
    CaseChange, NewArticle, NewCaseEvent, NewDecision, NewMatch, ReviewStatus, Store, Window,
};

use crate::util::{copyhound, stderr, stdout, OUTLET_CONFIG};
use crate::web::DeskFixture;

/// A copier's page title that tries to break out of HTML (and of an SVG `<title>`).
pub(crate) const HOSTILE_TITLE: &str = "</title></svg><script>alert(1)</script>\"'&";

fn capture(url: &str, at: DateTime<Utc>) -> Capture {
    let url: url::Url = url.parse().unwrap();
    Capture {
        requested_url: url.clone(),
        final_url: url,
        redirects: vec![],
        remote_addr: Some("203.0.113.7:80".parse().unwrap()),
        request_head: b"GET / HTTP/1.1\r\nhost: x\r\n".to_vec(),
        status: 200,
        response_head: b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\n".to_vec(),
        content_type: Some("text/html".into()),
        content_encoding: None,
        raw_body: b"<html><body><p>copy</p></body></html>".to_vec(),
        decoded_body: None,
        body_sha256: "0".repeat(64),
        truncated: false,
        validators: Validators::default(),
        started_at: at,
        finished_at: at,
        network: Default::default(),
    }
}

/// One match of the fixture: where, which original (1-based), verdict, first seen
/// (hours before the base time), licensed, and the decision taken (hours after it was
/// first seen).
struct Planted {
    url: &'static str,
    original: usize,
    verdict: Verdict,
    hours_before: i64,
    licensed: bool,
    decision: Option<(ReviewStatus, f64)>,
    title: &'static str,
}

const PLANTED: &[Planted] = &[
    // 1: infringing, decided a day after it was found.
    Planted {
        url: "http://mirror.example/a1",
        original: 1,
        verdict: Verdict::Copy,
        hours_before: 48,
        licensed: false,
        decision: Some((ReviewStatus::Infringing, 24.0)),
        title: HOSTILE_TITLE,
    },
    // 2: infringing, decided within half an hour.
    Planted {
        url: "http://mirror.example/a2",
        original: 2,
        verdict: Verdict::Copy,
        hours_before: 72,
        licensed: false,
        decision: Some((ReviewStatus::Infringing, 0.5)),
        title: "镜像站转载二",
    },
    // 3: unreviewed for 5 days.
    Planted {
        url: "http://mirror.example/a3",
        original: 2,
        verdict: Verdict::Partial,
        hours_before: 120,
        licensed: false,
        decision: None,
        title: "镜像站摘编",
    },
    // 4: unreviewed for an hour.
    Planted {
        url: "http://copier.example/b1",
        original: 3,
        verdict: Verdict::Partial,
        hours_before: 1,
        licensed: false,
        decision: None,
        title: "采集站一",
    },
    // 5: a false positive, decided after 12 hours.
    Planted {
        url: "http://copier.example/b2",
        original: 4,
        verdict: Verdict::Copy,
        hours_before: 480,
        licensed: false,
        decision: Some((ReviewStatus::FalsePositive, 12.0)),
        title: "采集站二",
    },
    // 6: a licensed partner's copy.
    Planted {
        url: "http://partner.example/p1",
        original: 5,
        verdict: Verdict::Copy,
        hours_before: 96,
        licensed: true,
        decision: None,
        title: "合作伙伴转载",
    },
    // 7: found 400 days before: outside any recent window, still in the backlog.
    Planted {
        url: "http://old.example/o1",
        original: 1,
        verdict: Verdict::Copy,
        hours_before: 400 * 24,
        licensed: false,
        decision: None,
        title: "旧站",
    },
];

/// The outlet's `i`-th article (as ingestion would hand it over; its text does not
/// matter here).
fn article(i: usize) -> NewArticle {
    NewArticle {
        url: format!("https://www.jiangcheng-daily.example/news/{i}.html"),
        title: format!("江城日报第 {i} 篇"),
        published: None,
        author: None,
        source: "test".into(),
        text: format!("正文 {i}"),
        text_sha256: format!("{i:064x}"),
        simhash: i as u64,
        segments: Vec::new(),
        anchors: Vec::new(),
        sentence_hashes: Vec::new(),
        extraction: "container".into(),
        page_chars: 0,
        suspect: None,
    }
}

/// The notice deadline the store tests pass (`[cases] deadline` in [`CASES_CONFIG`]).
const DEADLINE: std::time::Duration = std::time::Duration::from_secs(12 * 3600);
/// A config section giving the desk the same deadline.
const CASES_CONFIG: &str = "[cases]\ndeadline = \"12h\"\n";

/// Records one step of case `case_id` at `at` (as counsel's `cases mark` or a re-check
/// would).
fn case_step(
    store: &mut Store,
    case_id: i64,
    from: CaseState,
    to: CaseState,
    event: NewCaseEvent<'_>,
) {
    let change = CaseChange {
        case_id,
        expected_state: from,
        new_state: Some(to),
        event,
        next_recheck_at: None,
        reminded_notice_at: None,
        alerts: Vec::new(),
    };
    let at = change.event.at.unwrap();
    assert!(store.change_case(&change, at).unwrap().is_some());
}

/// A notice by email at `at`.
fn notice(at: DateTime<Utc>) -> NewCaseEvent<'static> {
    NewCaseEvent {
        kind: "step",
        at: Some(at),
        actor: "王律师",
        via: "cli",
        channel: Some("email"),
        recipient: Some("abuse@mirror.example"),
        ..NewCaseEvent::default()
    }
}

/// How many originals the fixture's archive holds.
const ORIGINALS: usize = 10;

/// Writes a config and fills its store with [`PLANTED`] around `base`: the matches
/// first seen at their times before it, their decisions after. Returns the config.
pub(crate) fn known_store(dir: &Path, base: DateTime<Utc>, extra_config: &str) -> PathBuf {
    let config = dir.join("copyhound.toml");
    std::fs::write(
        &config,
        format!("{OUTLET_CONFIG}\n[crawl]\nlicensed = [\"partner.example\"]\n{extra_config}"),
    )
    .unwrap();
    let mut store = Store::open_dir(&dir.join("state")).unwrap();
    let mut ids = Vec::new();
    for i in 1..=ORIGINALS {
        match store
            .upsert_original(&article(i), base - Duration::days(800))
            .unwrap()
        {
            copyhound::store::Upsert::New { id } => ids.push(id),
            other => panic!("{other:?}"),
        }
    }
    for p in PLANTED {
        let seen = base - Duration::hours(p.hours_before);
        let host = url::Url::parse(p.url)
            .unwrap()
            .host_str()
            .unwrap()
            .to_string();
        let m = NewMatch {
            copy_url: p.url.into(),
            copy_host: host,
            original_id: ids[p.original - 1],
            verdict: p.verdict,
            containment: 0.8,
            coverage: 0.9,
            copied_chars: 500,
            passages: Vec::new(),
            copy_title: p.title.into(),
            licensed: p.licensed,
            ignored: false,
            original_version: None,
            archive: None,
            licence_check: None,
        };
        let outcome = store
            .record_matches(&capture(p.url, seen), &[m], seen)
            .unwrap();
        let id = match outcome[0] {
            copyhound::store::MatchOutcome::New { id } => id,
            ref other => panic!("{other:?}"),
        };
        if let Some((status, after)) = p.decision {
            let at = seen + Duration::seconds((after * 3600.0) as i64);
            store
                .decide(
                    &[id],
                    &NewDecision {
                        status,
                        note: "核实",
                        actor: "wang",
                        via: "web",
                    },
                    &Default::default(),
                    &[],
                    at,
                )
                .unwrap();
        }
        ids.push(id);
    }
    // The two infringing matches opened cases with their decisions. Match 2's (opened
    // 71.5 hours before the base): a notice 70 hours before, found removed by a re-check
    // 22 hours before (49.5 hours after the opening, 48 after the notice), closed as
    // removed an hour later. Match 1's (opened 24 hours before): a notice 20 hours
    // before, the copy still online (past a 12-hour deadline).
    let case_of = |store: &Store, planted: usize| {
        store.cases_of_match(ids[ORIGINALS + planted - 1]).unwrap()[0].id
    };
    let (a, b) = (case_of(&store, 2), case_of(&store, 1));
    let h = |n: i64| base - Duration::hours(n);
    case_step(
        &mut store,
        a,
        CaseState::Escalated,
        CaseState::NoticeSent,
        notice(h(70)),
    );
    case_step(
        &mut store,
        a,
        CaseState::NoticeSent,
        CaseState::Removed,
        NewCaseEvent {
            kind: "recheck",
            at: Some(h(22)),
            actor: "copyhound",
            via: "recheck",
            result: Some("removed"),
            http_status: Some(404),
            ..NewCaseEvent::default()
        },
    );
    case_step(
        &mut store,
        a,
        CaseState::Removed,
        CaseState::Closed,
        NewCaseEvent {
            kind: "step",
            at: Some(h(21)),
            actor: "王律师",
            via: "cli",
            outcome: Some(Outcome::Removed),
            ..NewCaseEvent::default()
        },
    );
    case_step(
        &mut store,
        b,
        CaseState::Escalated,
        CaseState::NoticeSent,
        notice(h(20)),
    );
    config
}

#[test]
fn store_aggregates_are_exact() {
    let dir = tempfile::tempdir().unwrap();
    let now = Utc::now();
    known_store(dir.path(), now, "");
    let store = Store::open_dir(&dir.path().join("state")).unwrap();
    let window = copyhound::dashboard::recent_window(now);
    let f = store.window_figures(window, now, DEADLINE).unwrap();
    assert_eq!(f.originals, 10);
    let status: Vec<(&str, i64)> = f.by_status.iter().map(|(s, n)| (s.as_str(), *n)).collect();
    assert_eq!(
        status,
        [
            ("unreviewed", 2),
            ("infringing", 2),
            ("licensed", 1),
            ("licensed-noncompliant", 0),
            ("false-positive", 1),
            ("ignored", 0)
        ]
    );
    // 26 weeks; the old match is outside.
    assert_eq!(f.weeks.len(), 26);
    assert_eq!(f.weeks.iter().map(|w| w.copy).sum::<i64>(), 4);
    assert_eq!(f.weeks.iter().map(|w| w.partial).sum::<i64>(), 2);
    // The backlog is today's: the two recent unreviewed matches and the old one.
    assert_eq!(f.backlog.by_age, [1, 1, 0, 0, 1]);
    let sites: Vec<(&str, i64, i64, i64, i64)> = f
        .sites
        .iter()
        .map(|s| {
            (
                s.host.as_str(),
                s.matches,
                s.originals,
                s.infringing,
                s.licensed,
            )
        })
        .collect();
    assert_eq!(
        sites,
        [
            ("mirror.example", 3, 2, 2, 0),
            ("copier.example", 1, 1, 0, 0),
            ("partner.example", 1, 1, 0, 1),
        ]
    );
    let mut delays = f.decision_seconds.clone();
    delays.sort_by(f64::total_cmp);
    assert_eq!(delays, [1800.0, 43200.0, 86400.0]);
    assert_known_cases(&f.cases);

    // A past month: its own matches and decisions, and the backlog as it was then.
    let base = Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap();
    let dir = tempfile::tempdir().unwrap();
    known_store(dir.path(), base, "");
    let store = Store::open_dir(&dir.path().join("state")).unwrap();
    let november = Window {
        from: Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
        to: Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap(),
    };
    let f = store
        .window_figures(november, Utc::now(), DEADLINE)
        .unwrap();
    // Match 5 was found on 10-31 12:00 (480 hours before): October's.
    assert_eq!(f.by_status.iter().map(|(_, n)| n).sum::<i64>(), 5);
    // November 2026 starts on a Sunday: weeks of 10-26 (one day of it), 11-02, ... 11-30.
    let weeks: Vec<(String, i64, i64)> = f
        .weeks
        .iter()
        .map(|w| (w.start.to_string(), w.copy, w.partial))
        .collect();
    assert_eq!(weeks.len(), 6);
    assert_eq!(weeks[0].0, "2026-10-26");
    assert_eq!(weeks.iter().map(|w| w.1 + w.2).sum::<i64>(), 5);
    // Matches 3 and 4 (15 and 10 days old at the month's end), and the old one.
    assert_eq!(f.backlog.by_age, [0, 0, 2, 0, 1]);
    // Match 5's decision came 12 hours after it was found: at midnight, November's.
    assert_eq!(f.decision_seconds.len(), 3);
    let (list, total) = store.infringements(november, 100).unwrap();
    assert_eq!(total, 2);
    assert_eq!(list[0].copy_url, "http://mirror.example/a2");
    assert_eq!(list[1].copy_title, HOSTILE_TITLE);
    let licensed = store.licensed_activity(november).unwrap();
    assert_eq!(licensed.len(), 1);
    assert_eq!(
        (licensed[0].host.as_str(), licensed[0].matches),
        ("partner.example", 1)
    );
    // November's cases as they stood at its end, whatever came after: match 1's copy
    // goes on 3 December.
    assert_known_cases(&f.cases);
    let mut store = store;
    let b = store
        .list_cases(None)
        .unwrap()
        .into_iter()
        .find(|c| c.copy_url == "http://mirror.example/a1")
        .unwrap()
        .id;
    let dec3 = Utc.with_ymd_and_hms(2026, 12, 3, 9, 0, 0).unwrap();
    case_step(
        &mut store,
        b,
        CaseState::NoticeSent,
        CaseState::Removed,
        NewCaseEvent {
            kind: "step",
            at: Some(dec3),
            actor: "王律师",
            via: "cli",
            ..NewCaseEvent::default()
        },
    );
    let f = store
        .window_figures(november, Utc::now(), DEADLINE)
        .unwrap();
    assert_known_cases(&f.cases);
    let (list, total) = store.removals(november, 100).unwrap();
    assert_eq!(total, 1);
    assert_eq!(list[0].copy_url, "http://mirror.example/a2");
    assert_eq!(list[0].removed_at, "2026-11-19T14:00:00Z");
    assert_eq!(list[0].notice_at.as_deref(), Some("2026-11-17T14:00:00Z"));
    assert_eq!(list[0].time.from_opening, 178_200.0);
    // December: the removal, and match 1's case open as `removed`; nothing overdue.
    let december = Window {
        from: Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap(),
        to: Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap(),
    };
    let d = store
        .window_figures(december, dec3 + Duration::days(1), DEADLINE)
        .unwrap()
        .cases;
    assert_eq!((d.opened, d.notices, d.overdue), (0, 0, 0));
    assert_eq!(d.removals.len(), 1);
    // 16 December 09:00 minus 19 November 12:00, and minus the notice at 16:00.
    assert_eq!(d.removals[0].from_opening, (14.0 * 24.0 - 3.0) * 3600.0);
    assert_eq!(
        d.removals[0].from_notice,
        Some((14.0 * 24.0 - 7.0) * 3600.0)
    );
    assert_eq!(open_of(&d), [0, 0, 1, 0, 0, 0]);
}

/// Open cases per open state, in `CaseState::ALL` order.
fn open_of(c: &copyhound::store::CaseFigures) -> Vec<i64> {
    c.open.iter().map(|(_, n)| *n).collect()
}

/// The cases [`known_store`] plants, seen from a window holding all of them.
fn assert_known_cases(c: &copyhound::store::CaseFigures) {
    assert_eq!(open_of(c), [0, 1, 0, 0, 0, 0]);
    assert_eq!((c.opened, c.notices, c.overdue), (2, 2, 1));
    assert_eq!(c.removals.len(), 1);
    assert_eq!(c.removals[0].from_opening, 49.5 * 3600.0);
    assert_eq!(c.removals[0].from_notice, Some(48.0 * 3600.0));
    let closed: Vec<(&str, i64)> = c.closed.iter().map(|(o, n)| (o.as_str(), *n)).collect();
    assert_eq!(
        closed,
        [
            ("removed", 1),
            ("licensed-after-the-fact", 0),
            ("settled", 0),
            ("dropped", 0)
        ]
    );
}

/// The `<tr>` of a table whose header cell is `first`, as its cells' texts.
fn row_of(section: &str, first: &str) -> Vec<String> {
    let marker = format!("<th scope=\"row\">{first}</th>");
    let at = section
        .find(&marker)
        .unwrap_or_else(|| panic!("no row {first}"));
    let end = section[at..].find("</tr>").unwrap() + at;
    let mut cells = vec![first.to_string()];
    let mut rest = &section[at + marker.len()..end];
    while let Some(s) = rest.find("<td>") {
        let e = rest[s..].find("</td>").unwrap() + s;
        cells.push(rest[s + 4..e].to_string());
        rest = &rest[e..];
    }
    cells
}

fn section<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page
        .find(&format!("-section\" id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no section {id}"));
    let end = page[start..].find("</section>").unwrap() + start;
    &page[start..end]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_known_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let config = known_store(dir.path(), Utc::now(), CASES_CONFIG);
    let desk = DeskFixture::on_config(&config).await;
    let (session, _) = desk.login().await;
    let r = desk.get("/", Some(&session)).await;
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(csp, copyhound::web::CONTENT_SECURITY_POLICY);
    let page = r.text().await.unwrap();
    // Behind the login like everything else.
    let anonymous = desk.get("/", None).await;
    assert_eq!(anonymous.status(), reqwest::StatusCode::SEE_OTHER);

    assert!(page.contains("<span class=\"figure-value\">6</span> <span class=\"figure-label\">新发现的转载</span>"), "{page}");
    assert!(page.contains(
        "<span class=\"figure-value\">3</span> <span class=\"figure-label\">待审核</span>"
    ));
    let weekly = section(&page, "weekly");
    assert!(
        weekly.contains("共 6 条：全文转载 4，部分转载 2。"),
        "{weekly}"
    );
    assert_eq!(weekly.matches("<tr><th scope=\"row\">").count(), 26);
    let backlog = section(&page, "backlog");
    assert_eq!(row_of(backlog, "1 天内"), ["1 天内", "1"]);
    assert_eq!(row_of(backlog, "1–7 天"), ["1–7 天", "1"]);
    assert_eq!(row_of(backlog, "90 天以上"), ["90 天以上", "1"]);
    assert!(
        backlog.contains("3 条待审核，最久的已等待 400.0 天。"),
        "{backlog}"
    );
    let status = section(&page, "status");
    assert_eq!(row_of(status, "待审核"), ["待审核", "2", "33.3%"]);
    assert_eq!(row_of(status, "侵权"), ["侵权", "2", "33.3%"]);
    assert_eq!(row_of(status, "已授权"), ["已授权", "1", "16.7%"]);
    assert_eq!(row_of(status, "误报"), ["误报", "1", "16.7%"]);
    let sites = section(&page, "sites");
    assert_eq!(
        row_of(sites, "mirror.example"),
        ["mirror.example", "3", "2", "20.0%", "2", "0"]
    );
    assert_eq!(
        row_of(sites, "partner.example"),
        ["partner.example", "1", "1", "10.0%", "0", "1"]
    );
    assert!(!sites.contains("old.example"));
    let decisions = section(&page, "decisions");
    assert_eq!(row_of(decisions, "1 小时内"), ["1 小时内", "1"]);
    assert_eq!(row_of(decisions, "1–24 小时"), ["1–24 小时", "1"]);
    assert_eq!(row_of(decisions, "1–3 天"), ["1–3 天", "1"]);
    assert!(decisions.contains("中位数 12.0 小时"), "{decisions}");
    // Time to removal: one copy, 49.5 hours after its case opened, 48 after the notice.
    let removal = section(&page, "removal");
    assert_eq!(row_of(removal, "1–3 天"), ["1–3 天", "1", "1"]);
    assert_eq!(row_of(removal, "1 天内"), ["1 天内", "0", "0"]);
    assert!(
        removal.contains("本期 1 处转载被删除；自立案起中位数 2.1 天，90% 在 2.1 天 内。"),
        "{removal}"
    );
    assert!(
        removal.contains("其中 1 处在发出通知后删除：自首次通知起中位数 2.0 天。"),
        "{removal}"
    );
    assert!(page.contains(
        "<span class=\"figure-value\">2.1 天</span> <span class=\"figure-label\">删除用时中位数</span>"
    ));
    let cases = section(&page, "cases");
    assert_eq!(row_of(cases, "已上报法务"), ["已上报法务", "0"]);
    assert_eq!(row_of(cases, "已发通知"), ["已发通知", "1"]);
    assert_eq!(row_of(cases, "逾期仍在线"), ["逾期仍在线", "1"]);
    assert_eq!(row_of(cases, "结案：已删除"), ["结案：已删除", "1"]);
    assert_eq!(row_of(cases, "结案：撤销"), ["结案：撤销", "0"]);
    assert!(
        cases.contains("本期立案 2 起，发出通知 2 份，转载被删除 1 处，结案 1 起。"),
        "{cases}"
    );
    assert!(
        cases.contains("期末未结案件 1 起，其中 1 起通知已过期限仍在线。"),
        "{cases}"
    );
    // Every chart is an accessible inline SVG with CJK fonts and no style attribute
    // (the CSP allows no inline style), and the page loads no script of its own.
    assert_eq!(page.matches("<svg ").count(), 7);
    assert_eq!(page.matches("role=\"img\"").count(), 7);
    assert!(page.contains("Noto Sans CJK SC"));
    assert!(!page.contains("style="));
    assert!(!page.contains("<script>"));
    // The queue keeps its URL, and the nav links both.
    assert!(page.contains("href=\"/matches\""));
    assert_eq!(
        desk.get("/matches", Some(&session)).await.status(),
        reqwest::StatusCode::OK
    );
    desk.stop().await;
}

/// Runs `copyhound report` on `config`.
fn report(config: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["report", "--config", config.to_str().unwrap()];
    all.extend(args);
    copyhound(&all)
}

#[test]
fn the_monthly_report_is_self_contained_with_the_known_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let base = Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap();
    let config = known_store(dir.path(), base, "");
    let out = report(&config, &["--month", "2026-11"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let html = stdout(&out);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<html lang=\"zh-CN\">"));
    // Self-contained: no external resource of any kind, no script.
    for bad in [
        "src=\"http",
        "href=\"http",
        "<script",
        "<link",
        "@import",
        "url(",
    ] {
        assert!(!html.contains(bad), "{bad} in the report");
    }
    // The month's figures: 5 new matches (the 6th was found in October).
    assert!(
        html.contains("<span class=\"figure-value\">5</span>"),
        "{html}"
    );
    let status = section(&html, "status");
    assert_eq!(row_of(status, "侵权"), ["侵权", "2", "40.0%"]);
    // The backlog as it was at the end of November.
    let backlog = section(&html, "backlog");
    assert!(backlog.contains("3 条待审核"), "{backlog}");
    // Confirmed infringements, with the hostile title escaped.
    let inf = section(&html, "infringements");
    assert!(inf.contains("http://mirror.example/a2"));
    assert!(
        inf.contains("&#60;/title&#62;&#60;/svg&#62;&#60;script&#62;alert(1)&#60;/script&#62;&#34;&#39;&#38;"),
        "{inf}"
    );
    assert!(!html.contains("<script>alert(1)"));
    assert!(inf.contains("2 条"), "{inf}");
    // The month's cases and its removal (the report's deadline is the default 7 days:
    // match 1's notice of 19 November was 11 days old at the month's end).
    let cases = section(&html, "removals");
    assert!(
        cases.contains("本月立案 2 起，发出通知 2 份；1 处转载被删除，自立案起用时中位数 2.1 天。"),
        "{cases}"
    );
    assert!(
        cases.contains("月末仍未结案 1 起，其中 1 起通知已过期限仍在线。"),
        "{cases}"
    );
    let removal = row_of(cases, "#2");
    assert_eq!(removal[1..3], ["2026-11-19", "mirror.example"]);
    assert!(
        removal[3].contains("http://mirror.example/a2"),
        "{removal:?}"
    );
    assert_eq!(
        removal[4..],
        ["2026-11-17", "2026-11-17", "2.1 天", "2.0 天"]
    );
    assert_eq!(cases.matches("<tr><th scope=\"row\">").count(), 1);
    assert!(section(&html, "removal").contains("1–3 天"));
    // Licences: the partner's copies this month.
    let licences = section(&html, "licences");
    assert_eq!(
        row_of(licences, "partner.example"),
        ["partner.example", "[crawl] licensed", "1", "1", "0"]
    );

    // English, to a file.
    let file = dir.path().join("report-2026-11.html");
    let out = report(
        &config,
        &[
            "--month",
            "2026-11",
            "--lang",
            "en",
            "--out",
            file.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    let html = std::fs::read_to_string(&file).unwrap();
    assert!(html.contains("<html lang=\"en\">"));
    assert!(section(&html, "status").contains("infringing"));

    // A bad month is a usage error naming the format.
    let out = report(&config, &["--month", "2026-13"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("YYYY-MM"), "{}", stderr(&out));
}

/// `copyhound run` on `config` with the report scheduler's clock set to `clock`, its
/// log appended to `log`.
fn start_daemon(config: &Path, clock: &str, log: &Path) -> std::process::Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_copyhound"))
        .args(["run", "--config", config.to_str().unwrap()])
        .env_remove("COPYHOUND_CONFIG")
        .env_remove("NOTIFY_SOCKET")
        .env("RUST_LOG", "info")
        .env(copyhound::notify::monthly::CLOCK_ENV, clock)
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// SIGTERM, then waits for a clean exit.
fn stop_daemon(mut child: std::process::Child) {
    // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "daemon exit {status}");
            return;
        }
        assert!(std::time::Instant::now() < deadline, "daemon did not stop");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn the_daemon_emails_the_monthly_report_once_across_a_restart() {
    let test = "the_daemon_emails_the_monthly_report_once_across_a_restart";
    if !crate::util::python_has("aiosmtpd", test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = crate::util::free_port();
    let sink = crate::util::SmtpSink::start(port, &dir.path().join("sink"), None);
    let web = crate::util::free_port();
    let base = Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap();
    // With a browser, the email carries the report printed to PDF too.
    let chromium = Path::new("/usr/bin/chromium");
    let with_pdf = chromium.exists();
    assert!(
        with_pdf || std::env::var_os("COPYHOUND_REQUIRE_BROWSER").is_none(),
        "chromium is missing and this run requires it"
    );
    let pdf_key = if with_pdf {
        "chromium = \"/usr/bin/chromium\"\n"
    } else {
        eprintln!("{test}: no /usr/bin/chromium, the PDF attachment is not checked");
        ""
    };
    let config = known_store(
        dir.path(),
        base,
        &format!(
            "[email]\nsmtp_url = \"smtp://127.0.0.1:{port}\"\nstarttls = \"opportunistic\"\nfrom = \"copyhound <copyhound@jiangcheng-daily.example>\"\nretry_initial = \"1s\"\nretry_max = \"2s\"\ntimeout = \"5s\"\n\n[report]\n{pdf_key}to = [\"director@jiangcheng-daily.example\", \"licensing@jiangcheng-daily.example\"]\n\n[daemon]\nshutdown_timeout = \"5s\"\n\n[web]\nlisten = \"127.0.0.1:{web}\"\n"
        ),
    );
    let log = dir.path().join("daemon.log");
    // Five minutes into December: November's report is owed.
    let clock = "2026-12-01T00:05:00Z";
    let wait_for = |n: usize| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while sink.messages().len() < n {
            assert!(
                std::time::Instant::now() < deadline,
                "no report email; log: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    let daemon = start_daemon(&config, clock, &log);
    wait_for(1);
    stop_daemon(daemon);
    // A restart on the same day (and a later one in the month) sends nothing more.
    for (run, clock) in [clock, "2026-12-15T09:00:00Z"].into_iter().enumerate() {
        let daemon = start_daemon(&config, clock, &log);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::fs::read_to_string(&log)
            .unwrap_or_default()
            .matches("monthly report scheduler runs on a set clock")
            .count()
            < run + 2
        {
            assert!(std::time::Instant::now() < deadline, "daemon did not start");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        // Its first scheduler pass and an outbox pass.
        std::thread::sleep(std::time::Duration::from_secs(2));
        stop_daemon(daemon);
    }
    let messages = sink.messages();
    assert_eq!(messages.len(), 1, "sent once");
    let (raw, rcpt) = &messages[0];
    let mut rcpt = rcpt.clone();
    rcpt.sort();
    assert_eq!(
        rcpt,
        [
            "director@jiangcheng-daily.example",
            "licensing@jiangcheng-daily.example"
        ]
    );
    let parsed = mail_parser::MessageParser::default().parse(raw).unwrap();
    assert_eq!(
        parsed.subject().unwrap(),
        "[copyhound] 江城日报社 版权监测月报：2026-11"
    );
    let html = parsed.body_html(0).unwrap();
    assert!(html.contains("本月确认侵权 2 条。"), "{html}");
    assert!(html.contains("<svg "));
    assert!(!html.contains("<script>alert(1)"));
    let attachment = parsed.attachment(0).unwrap();
    assert_eq!(
        mail_parser::MimeHeaders::attachment_name(attachment),
        Some("copyhound-report-2026-11.html")
    );
    if with_pdf {
        let pdf = parsed.attachment(1).expect("a PDF attachment");
        assert_eq!(
            mail_parser::MimeHeaders::attachment_name(pdf),
            Some("copyhound-report-2026-11.pdf")
        );
        assert!(pdf.contents().starts_with(b"%PDF-"), "not a PDF");
    } else {
        assert!(parsed.attachment(1).is_none());
    }
    // The outbox shows it once, sent.
    let out = copyhound(&[
        "alerts",
        "list",
        "--json",
        "--config",
        config.to_str().unwrap(),
    ]);
    let alerts: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sent: Vec<_> = alerts
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["state"] == "sent")
        .collect();
    assert_eq!(sent.len(), 1, "{alerts}");
    assert_eq!(sent[0]["kind"], "report");
    let out = copyhound(&["alerts", "list", "--config", config.to_str().unwrap()]);
    assert!(stdout(&out).contains("report"), "{}", stdout(&out));
}

/// A store that looks like a year of real use (for the browser test's screenshot and
/// the README's): 800 originals, about 1,700 matches over the last 26 weeks on 40 sites
/// (a few copying much, most a little), more found each month, 70% whole copies, the
/// older ones decided a few hours to days after they were found. Synthetic: every name
/// is made up. Returns the config.
pub(crate) fn realistic_store(dir: &Path, now: DateTime<Utc>, extra_config: &str) -> PathBuf {
    let config = dir.join("copyhound.toml");
    std::fs::write(
        &config,
        format!("{OUTLET_CONFIG}\n[crawl]\nlicensed = [\"partner-news.example\"]\n{extra_config}"),
    )
    .unwrap();
    let mut store = Store::open_dir(&dir.join("state")).unwrap();
    let articles: Vec<NewArticle> = (1..=800).map(article).collect();
    let ids: Vec<i64> = store
        .upsert_originals(&articles, now - Duration::days(400))
        .unwrap()
        .into_iter()
        .map(|u| match u {
            copyhound::store::Upsert::New { id } => id,
            other => panic!("{other:?}"),
        })
        .collect();
    let sites = [
        "kuaixun-mirror.example",
        "www.daily-reposts.example",
        "news.aggregator-cn.example",
        "partner-news.example",
        "m.toutiao-copy.example",
        "jiangcheng-info.example",
        "www.shishi-caiji.example",
        "bbs.riverside-forum.example",
        "caijing-digest.example",
        "www.wenzhai365.example",
        "portal.xinwen-hub.example",
        "blog.media-watch.example",
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut rand = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let days = 26 * 7;
    let mut n = 0;
    for day in (0..days).rev() {
        // More copies found as the crawl widens: 4 a day half a year ago, 14 now.
        let count = 4 + (days - day) / 18 + rand(4) as i64;
        let seen = now - Duration::days(day) - Duration::hours(rand(20) as i64);
        let mut matches = Vec::new();
        for _ in 0..count {
            n += 1;
            // A skewed choice: the first sites copy much more than the last.
            let site_n = sites.len() as u64 + 28;
            let pick = rand(site_n).min(rand(site_n)) as usize;
            let host = if pick < sites.len() {
                sites[pick].to_string()
            } else {
                format!("site{}.example", pick - sites.len())
            };
            matches.push(NewMatch {
                copy_url: format!("http://{host}/a/{n}.html"),
                copy_host: host.clone(),
                original_id: ids[rand(ids.len() as u64) as usize],
                verdict: if rand(10) < 7 {
                    Verdict::Copy
                } else {
                    Verdict::Partial
                },
                containment: 0.3 + rand(70) as f64 / 100.0,
                coverage: 0.8,
                copied_chars: 900,
                passages: Vec::new(),
                copy_title: format!("转载稿件 {n}"),
                licensed: host == "partner-news.example",
                ignored: false,
                original_version: None,
                archive: None,
                licence_check: None,
            });
        }
        let outcomes = store
            .record_matches(
                &capture(&format!("http://x.example/{day}"), seen),
                &matches,
                seen,
            )
            .unwrap();
        if day < 3 {
            continue;
        }
        for (o, m) in outcomes.iter().zip(&matches) {
            let copyhound::store::MatchOutcome::New { id } = *o else {
                continue;
            };
            if m.licensed || rand(100) < 12 {
                continue;
            }
            let status = match rand(10) {
                0..=5 => ReviewStatus::Infringing,
                6..=8 => ReviewStatus::FalsePositive,
                _ => ReviewStatus::Ignored,
            };
            let after = Duration::minutes(20 + rand(60 * 24 * 6) as i64);
            store
                .decide(
                    &[id],
                    &NewDecision {
                        status,
                        note: "",
                        actor: "wang",
                        via: "web",
                    },
                    &Default::default(),
                    &[],
                    (seen + after).min(now),
                )
                .unwrap();
        }
    }
    // Counsel sends a notice for most cases a day or few after they open; most copies
    // go within days to weeks of it, a few stay online, some are taken further.
    for case in store.list_cases(None).unwrap() {
        let opened = chrono::DateTime::parse_from_rfc3339(&case.opened_at)
            .unwrap()
            .with_timezone(&Utc);
        let noticed = opened + Duration::hours(6 + rand(72) as i64);
        if rand(10) < 2 || noticed >= now {
            continue;
        }
        case_step(
            &mut store,
            case.id,
            CaseState::Escalated,
            CaseState::NoticeSent,
            notice(noticed),
        );
        let gone = noticed + Duration::hours(2 + rand(24 * 6) as i64 + rand(24 * 6) as i64);
        if gone >= now {
            continue;
        }
        let (to, kind, result) = match rand(10) {
            0..=6 => (CaseState::Removed, "recheck", Some("removed")),
            7 => (CaseState::EscalatedFurther, "step", None),
            8 => (CaseState::StillOnline, "recheck", Some("still-online")),
            _ => continue,
        };
        case_step(
            &mut store,
            case.id,
            CaseState::NoticeSent,
            to,
            NewCaseEvent {
                kind,
                at: Some(gone),
                actor: "copyhound",
                via: "recheck",
                result,
                channel: (to == CaseState::EscalatedFurther).then_some("platform-complaint"),
                ..NewCaseEvent::default()
            },
        );
        let closed = gone + Duration::days(1 + rand(5) as i64);
        if to == CaseState::Removed && closed < now && rand(2) == 0 {
            case_step(
                &mut store,
                case.id,
                CaseState::Removed,
                CaseState::Closed,
                NewCaseEvent {
                    kind: "step",
                    at: Some(closed),
                    actor: "王律师",
                    via: "cli",
                    outcome: Some(Outcome::Removed),
                    ..NewCaseEvent::default()
                },
            );
        }
    }
    config
}

#[test]
fn the_report_prints_to_pdf_with_the_configured_chromium() {
    let chromium = Path::new("/usr/bin/chromium");
    if !chromium.exists() {
        assert!(
            !crate::util::tools_required(),
            "chromium is missing and this run requires it"
        );
        eprintln!(
            "skipping the_report_prints_to_pdf_with_the_configured_chromium: no /usr/bin/chromium"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let base = Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap();
    let pdf = dir.path().join("report.pdf");
    // Without a browser configured, --pdf says which key to set.
    let config = known_store(dir.path(), base, "");
    let args = [
        "--month",
        "2026-11",
        "--out",
        "/dev/null",
        "--pdf",
        pdf.to_str().unwrap(),
    ];
    let out = report(&config, &args);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("[report] chromium"),
        "{}",
        stderr(&out)
    );
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{text}\n[report]\nchromium = \"/usr/bin/chromium\"\n"),
    )
    .unwrap();
    let out = report(&config, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(bytes.starts_with(b"%PDF-"), "not a PDF");
    assert!(bytes.len() > 10_000, "{} bytes", bytes.len());
}
