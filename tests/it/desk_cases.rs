//! Cases on the review desk over real HTTP (the desk of `web`, on the demo's store):
//! the list with its filters and overdue order, steps recorded from the case page's
//! forms (a refused illegal one, a POST without its CSRF token), a re-check's evidence
//! link, and `/cases.csv` read back with Python's csv module.

use copyhound::cases::CaseState;
use copyhound::store::{CaseChange, NewCaseEvent, Store};
use reqwest::header::LOCATION;
use reqwest::StatusCode;

use crate::web::{assert_security_headers, DeskFixture};

/// The `data-id`s of the case rows of a `/cases` page, in order, with `data-overdue`.
fn rows(body: &str) -> Vec<(i64, bool)> {
    let mut out = Vec::new();
    for part in body.split("<tr class=\"case").skip(1) {
        let id = part
            .split("data-id=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .and_then(|n| n.parse().ok())
            .expect("a case row with its id");
        let overdue = part.contains("data-overdue=\"true\"");
        out.push((id, overdue));
    }
    out
}

fn ids(body: &str) -> Vec<i64> {
    rows(body).into_iter().map(|(id, _)| id).collect()
}

fn events(store: &Store, case: i64) -> usize {
    store.case_events(case).unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cases_are_listed_filtered_stepped_and_exported_on_the_desk() {
    let desk = DeskFixture::start().await;
    let (session, csrf) = desk.login().await;
    let store = desk.store();
    let matches = store.list_matches().unwrap();
    assert_eq!(matches.len(), 3);
    // Every match marked infringing from the desk opens a case.
    for m in &matches {
        let r = desk
            .post(
                &format!("/matches/{}/decide", m.id),
                Some(&session),
                &[("csrf", &csrf), ("status", "infringing"), ("note", "")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }
    let case_of = |host: &str| -> Vec<i64> {
        store
            .list_cases(None)
            .unwrap()
            .into_iter()
            .filter(|c| c.copy_host.starts_with(host))
            .map(|c| c.id)
            .collect()
    };
    let local = case_of("127.0.0.1:");
    let other = case_of("127.0.0.2:");
    let local_host = store.find_case(local[0]).unwrap().unwrap().copy_host;
    let other_host = store.find_case(other[0]).unwrap().unwrap().copy_host;
    assert_eq!((local.len(), other.len()), (2, 1));
    let (late, fresh, quiet) = (local[0], other[0], local[1]);

    // The nav links to the cases; the match page to its case.
    let matches_page = desk.page("/matches", &session).await;
    assert!(matches_page.contains("href=\"/cases\""));
    let late_match = store.find_case(late).unwrap().unwrap().match_id;
    let page = desk.page(&format!("/matches/{late_match}"), &session).await;
    assert!(page.contains(&format!("href=\"/cases/{late}\"")), "{page}");

    // A notice sent ten days ago (past the 7-day deadline), with markup in its
    // recipient; one sent today, with a formula.
    let ten_days_ago = (chrono::Utc::now() - chrono::Duration::days(10))
        .format("%Y-%m-%d")
        .to_string();
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let hostile = "<b>abuse</b>@evil.example";
    let formula = "=HYPERLINK(\"http://evil.example\")";
    for (case, date, recipient) in [(late, &ten_days_ago, hostile), (fresh, &today, formula)] {
        let r = desk
            .post(
                &format!("/cases/{case}/step"),
                Some(&session),
                &[
                    ("csrf", &csrf),
                    ("step", "notice-sent"),
                    ("date", date),
                    ("channel", "email"),
                    ("recipient", recipient),
                    ("note", "<script>x()</script> 已发函"),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "notice on case {case}");
        let to = r.headers()[LOCATION].to_str().unwrap().to_string();
        assert!(to.starts_with(&format!("/cases/{case}?done=")), "{to}");
        let page = desk.page(&to, &session).await;
        assert!(page.contains("id=\"flash\""), "{page}");
    }
    let c = store.find_case(late).unwrap().unwrap();
    assert_eq!(c.state(), CaseState::NoticeSent);
    assert_eq!(c.notice_channel.as_deref(), Some("email"));
    assert_eq!(c.notice_recipient.as_deref(), Some(hostile));
    assert!(c.notice_at.unwrap().starts_with(&ten_days_ago));
    let last = store.case_events(late).unwrap().pop().unwrap();
    assert_eq!((last.via.as_str(), last.actor.as_str()), ("web", "wang"));

    // The list: open cases, the overdue one first.
    let r = desk.get("/cases", Some(&session)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_security_headers(r.headers());
    let body = r.text().await.unwrap();
    let listed = rows(&body);
    assert_eq!(listed.len(), 3, "{body}");
    assert_eq!(listed[0], (late, true), "overdue first: {listed:?}");
    assert!(listed[1..].iter().all(|(_, o)| !o));
    // Strangers' text is escaped.
    assert!(!body.contains("<b>abuse</b>") && !body.contains("<script>x()"));
    assert!(body.contains("evil.example"));

    // Filters: state, site, both.
    let page = desk.page("/cases?state=notice-sent", &session).await;
    let mut got = ids(&page);
    got.sort();
    let mut want = vec![late, fresh];
    want.sort();
    assert_eq!(got, want);
    let page = desk
        .page(&format!("/cases?site={other_host}"), &session)
        .await;
    assert_eq!(ids(&page), [fresh]);
    let page = desk
        .page(
            &format!("/cases?state=escalated&site={local_host}"),
            &session,
        )
        .await;
    assert_eq!(ids(&page), [quiet]);
    let encoded = local_host.replace(':', "%3A");
    assert!(
        page.contains(&format!(
            "href=\"/cases.csv?state=escalated&#38;site={encoded}\""
        )),
        "{page}"
    );
    let r = desk.get("/cases?state=bogus", Some(&session)).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // An illegal step shows the rule and changes nothing.
    let before = events(&store, quiet);
    let r = desk
        .post(
            &format!("/cases/{quiet}/step"),
            Some(&session),
            &[("csrf", &csrf), ("step", "removed"), ("note", "too early")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let page = r.text().await.unwrap();
    assert!(page.contains("id=\"step-error\""), "{page}");
    assert!(
        // In the desk's language (the demo's is zh-CN), with its names of the states.
        page.contains("无法从“已通知法律顾问”转为“已删除”（从“已通知法律顾问”可转为："),
        "{page}"
    );
    // A notice without its recipient is refused too.
    let r = desk
        .post(
            &format!("/cases/{quiet}/step"),
            Some(&session),
            &[
                ("csrf", &csrf),
                ("step", "notice-sent"),
                ("channel", "email"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("发送通知需填写收件人"));
    // Without the session's CSRF token: refused before anything is looked at.
    for token in [
        "",
        "0000000000000000000000000000000000000000000000000000000000000000",
    ] {
        let r = desk
            .post(
                &format!("/cases/{quiet}/step"),
                Some(&session),
                &[("csrf", token), ("step", "closed"), ("outcome", "dropped")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    // And without a session at all.
    let r = desk
        .post(
            &format!("/cases/{quiet}/step"),
            None,
            &[("csrf", &csrf), ("step", "closed"), ("outcome", "dropped")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(events(&store, quiet), before);
    assert_eq!(
        store.find_case(quiet).unwrap().unwrap().state(),
        CaseState::Escalated
    );

    // Closing with an outcome, and a counter-notice.
    let r = desk
        .post(
            &format!("/cases/{fresh}/step"),
            Some(&session),
            &[
                ("csrf", &csrf),
                ("step", "counter-notice"),
                ("note", "they object"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = desk
        .post(
            &format!("/cases/{fresh}/step"),
            Some(&session),
            &[
                ("csrf", &csrf),
                ("step", "closed"),
                ("outcome", "settled"),
                ("channel", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let closed = store.find_case(fresh).unwrap().unwrap();
    assert_eq!(closed.state(), CaseState::Closed);
    assert_eq!(closed.outcome.as_deref(), Some("settled"));
    assert!(!ids(&desk.page("/cases", &session).await).contains(&fresh));
    assert!(ids(&desk.page("/cases?state=all", &session).await).contains(&fresh));

    // A re-check with its evidence file: linked from the timeline, served like a
    // match's evidence.
    let evidence_dir = desk.state.join("evidence");
    std::fs::create_dir_all(&evidence_dir).unwrap();
    let file = "20261204T200000Z-case-recheck.warc.gz";
    std::fs::write(evidence_dir.join(file), b"WARC/1.1 test bytes").unwrap();
    let mut writer = desk.store();
    let recheck = writer
        .change_case(
            &CaseChange {
                case_id: late,
                expected_state: CaseState::NoticeSent,
                new_state: Some(CaseState::StillOnline),
                event: NewCaseEvent {
                    kind: "recheck",
                    actor: "copyhound",
                    via: "daemon",
                    result: Some("still-online"),
                    http_status: Some(200),
                    containment: Some(0.9),
                    evidence_file: Some(file),
                    evidence_sha256: Some("ab12"),
                    ..NewCaseEvent::default()
                },
                next_recheck_at: None,
                reminded_notice_at: None,
                alerts: Vec::new(),
            },
            chrono::Utc::now(),
        )
        .unwrap()
        .unwrap();
    let page = desk.page(&format!("/cases/{late}"), &session).await;
    let link = format!("/cases/{late}/evidence/{recheck}");
    assert!(page.contains(&format!("href=\"{link}\"")), "{page}");
    assert!(page.contains("data-result=\"still-online\""));
    assert!(page.contains("HTTP"));
    assert!(page.contains("90"), "the share found: {page}");
    assert!(page.contains(&format!("href=\"/matches/{late_match}\"")));
    assert!(!page.contains("<b>abuse</b>") && !page.contains("<script>x()"));
    let r = desk.get(&link, Some(&session)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-evidence-sha256"], "ab12");
    assert_eq!(&r.bytes().await.unwrap()[..], b"WARC/1.1 test bytes");
    // Another case's event, or an event without a file: not found.
    let r = desk
        .get(
            &format!("/cases/{quiet}/evidence/{recheck}"),
            Some(&session),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let opened = store.case_events(late).unwrap()[0].id;
    let r = desk
        .get(&format!("/cases/{late}/evidence/{opened}"), Some(&session))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // The export: every case (state=all), BOM, the formula defused, read back by
    // Python's csv module.
    let r = desk.get("/cases.csv?state=all", Some(&session)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("copyhound-cases-all-"));
    let bytes = r.bytes().await.unwrap();
    assert!(bytes.starts_with(b"\xef\xbb\xbfcase_id,match_id,copy_url,"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cases.csv");
    std::fs::write(&path, &bytes).unwrap();
    let read = crate::util::read_export("csv", &path);
    assert_eq!(read["bom"], true);
    let header: Vec<&str> = read["header"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(header, copyhound::export::CASE_COLUMNS);
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let table = read["rows"].as_array().unwrap();
    assert_eq!(table.len(), 3);
    let row_of = |case: i64| {
        table
            .iter()
            .find(|r| r[col("case_id")].as_str() == Some(case.to_string().as_str()))
            .unwrap_or_else(|| panic!("case {case} in the export"))
    };
    let r = row_of(late);
    assert_eq!(r[col("state")], "still-online");
    assert_eq!(r[col("notice_channel")], "email");
    assert_eq!(r[col("notice_recipient")], hostile);
    assert_eq!(r[col("last_recheck_result")], "still-online");
    assert_eq!(r[col("overdue")], "true");
    assert_eq!(r[col("match_id")], late_match.to_string());
    let r = row_of(fresh);
    assert_eq!(r[col("notice_recipient")], format!("'{formula}"));
    assert_eq!(r[col("outcome")], "settled");
    assert_eq!(r[col("state")], "closed");
    // The list's filters apply to the file.
    let r = desk
        .get(
            &format!("/cases.csv?site={local_host}&state=escalated"),
            Some(&session),
        )
        .await;
    let text = String::from_utf8(r.bytes().await.unwrap().to_vec()).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text
        .lines()
        .nth(1)
        .unwrap()
        .starts_with(&format!("{quiet},")));
    desk.stop().await;
}
