//! `copyhound ingest` and `copyhound originals` against a real HTTP server on loopback
//! serving feeds, sitemaps and real article pages from `../shared/data`, plus a local
//! archive folder; and crash safety (the process killed mid-ingest).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::site::{ok, Resource, Site};
use crate::util::{copyhound, json, sample, shared_data, stderr, stdout};

/// Real pages (zh and en) with enough text to be articles: `(id, html bytes)`.
fn real_pages(data: &Path, count: usize) -> Vec<(String, Vec<u8>)> {
    let pages = copyhound::eval::load_pages(data).unwrap();
    pages
        .iter()
        .filter(|p| p.text.chars().count() >= 500)
        .take(count)
        .map(|p| {
            (
                p.id.clone(),
                std::fs::read(data.join("news-pages").join(&p.html)).unwrap(),
            )
        })
        .collect()
}

fn write_config(dir: &Path, originals: &str) -> PathBuf {
    let path = dir.join("copyhound.toml");
    std::fs::write(
        &path,
        format!(
            r#"[outlet]
name = "Test Daily"
website = "https://news.example.com"
address = "1 Test Road"

[storage]
dir = "state"

[originals]
{originals}
"#
        ),
    )
    .unwrap();
    path
}

fn ingest(config: &Path) -> String {
    let out = copyhound(&["ingest", "--config", config.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "ingest failed: {}\n{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

#[test]
fn feeds_sitemaps_and_folders_are_ingested_once() {
    let Some(data) = shared_data() else { return };
    let pages = real_pages(&data, 6);
    let mut site: HashMap<String, Resource> = HashMap::new();
    for (id, html) in &pages {
        site.insert(format!("/a/{id}.html"), ok("text/html", html.clone()));
    }
    // The feed lists the first four pages; the news sitemap (behind an index) lists the
    // last three, so one page is in both and must be fetched and stored once.
    let items: String = pages[..4]
        .iter()
        .map(|(id, _)| format!("<item><title>t</title><link>/a/{id}.html</link></item>"))
        .collect();
    site.insert(
        "/rss.xml".into(),
        ok("application/rss+xml", format!(r#"<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><link>/</link>{items}</channel></rss>"#)),
    );
    let urls: String = pages[3..]
        .iter()
        .map(|(id, _)| format!("<url><loc>/a/{id}.html</loc><news:news><news:publication_date>2026-11-20T08:30:00+08:00</news:publication_date><news:title>n</news:title></news:news></url>"))
        .collect();
    site.insert(
        "/sitemap-news.xml".into(),
        ok("application/xml", format!(r#"<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">{urls}</urlset>"#)),
    );
    site.insert(
        "/sitemap.xml".into(),
        ok("application/xml", r#"<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap><loc>/sitemap-news.xml</loc></sitemap></sitemapindex>"#),
    );
    site.insert(
        "/bad.xml".into(),
        ok("application/xml", "<rss><channel><item>"),
    );
    let site = Site::serve(site);

    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive/2026");
    std::fs::create_dir_all(&archive).unwrap();
    std::fs::copy(sample("original-zh.html"), archive.join("zh.html")).unwrap();
    std::fs::copy(sample("original-en.html"), archive.join("en.HTM")).unwrap();
    std::fs::write(
        archive.join("brief.txt"),
        "简讯标题\n市图书馆今起延长开放时间至晚上九点，周一闭馆。",
    )
    .unwrap();
    std::fs::write(archive.join("notes.md"), "not an article").unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "feeds = [\"{}\", \"{}\", \"{}\"]\nsitemaps = [\"{}\"]\npaths = [\"archive\"]\n",
            site.url("/rss.xml"),
            site.url("/missing.xml"),
            site.url("/bad.xml"),
            site.url("/sitemap.xml"),
        ),
    );

    let first = ingest(&config);
    assert!(
        first.starts_with("ingest: 9 new, 0 updated, 0 unchanged, 2 failed"),
        "{first}"
    );
    assert!(first.contains("/missing.xml: HTTP 404"), "{first}");
    assert!(first.contains("/bad.xml: not a feed"), "{first}");

    let list = json(&copyhound(&[
        "originals",
        "list",
        "--json",
        "--config",
        config.to_str().unwrap(),
    ]));
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 9);
    // Local pages with a canonical link are known by it; others by a file:// URL.
    let urls: Vec<&str> = list.iter().map(|o| o["url"].as_str().unwrap()).collect();
    assert!(
        urls.contains(&"https://www.jiangcheng-daily.example/news/2026-11/20/content_10086.html"),
        "{urls:?}"
    );
    assert!(
        urls.iter()
            .any(|u| u.starts_with("file://") && u.ends_with("brief.txt")),
        "{urls:?}"
    );

    let second = ingest(&config);
    assert!(
        second.starts_with("ingest: 0 new, 0 updated, 9 unchanged, 2 failed"),
        "{second}"
    );

    // A corrected article becomes version 2; version 1 is kept.
    std::fs::write(
        archive.join("brief.txt"),
        "简讯标题\n市图书馆今起延长开放时间至晚上十点，周一闭馆。",
    )
    .unwrap();
    let third = ingest(&config);
    assert!(
        third.starts_with("ingest: 0 new, 1 updated, 8 unchanged"),
        "{third}"
    );
    let brief = urls.iter().find(|u| u.ends_with("brief.txt")).unwrap();
    let shown = json(&copyhound(&[
        "originals",
        "show",
        brief,
        "--json",
        "--config",
        config.to_str().unwrap(),
    ]));
    assert_eq!(shown["version"], 2);
    assert_eq!(shown["versions"], 2);
    assert!(shown["text"].as_str().unwrap().contains("十点"));
    assert_eq!(shown["text_sha256"].as_str().unwrap().len(), 64);
    assert!(shown["segments"].as_u64().unwrap() >= 1);

    // The sitemap's publication date reached the archive.
    let zh = json(&copyhound(&[
        "originals",
        "show",
        "1",
        "--json",
        "--config",
        config.to_str().unwrap(),
    ]));
    assert!(zh["first_seen"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn unknown_original_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let out = copyhound(&[
        "originals",
        "show",
        "42",
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no original with id or URL 42"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn killing_ingest_midway_leaves_a_consistent_archive() {
    let Some(data) = shared_data() else { return };
    let corpus = std::fs::read_to_string(data.join("peoples-daily-1998-01.txt")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    std::fs::create_dir_all(&archive).unwrap();
    let paragraphs: Vec<&str> = corpus.lines().filter(|l| l.chars().count() > 20).collect();
    let articles: Vec<String> = paragraphs
        .chunks(10)
        .take(1500)
        .map(|c| c.join("\n"))
        .collect();
    let total = articles.len();
    assert!(total > 1000, "the corpus gives {total} articles");
    for (i, a) in articles.iter().enumerate() {
        std::fs::write(archive.join(format!("{i:05}.txt")), a).unwrap();
    }
    let config = write_config(dir.path(), "paths = [\"archive\"]\n");
    let db = dir.path().join("state/copyhound.db");

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_copyhound"))
        .args(["ingest", "--config", config.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once some, but not all, articles are in.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        std::thread::sleep(std::time::Duration::from_millis(50));
        if let Ok(store) = copyhound::store::Store::open(&db) {
            if store.original_count().unwrap_or(0) >= 100 {
                break;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "ingest made no progress"
        );
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let store = copyhound::store::Store::open(&db).unwrap();
    assert!(store.integrity_ok().unwrap());
    let stored = store.list_originals().unwrap();
    assert!(
        stored.len() >= 100 && stored.len() < total,
        "killed too late: {}",
        stored.len()
    );
    // Every stored original is whole: its current version and its segments are there.
    for o in &stored {
        let full = store
            .find_original(&copyhound::store::OriginalKey::Id(o.id))
            .unwrap()
            .unwrap();
        assert!(full.segments >= 1, "original {} has no segments", o.id);
    }
    drop(store);

    let out = ingest(&config);
    let done = stored.len();
    assert!(
        out.starts_with(&format!(
            "ingest: {} new, 0 updated, {} unchanged, 0 failed ({total} originals",
            total - done,
            done
        )),
        "{out}"
    );
}

/// A real Chinese article text per page, from the labelled pages: `(first line, text)`.
fn real_texts(data: &Path, count: usize) -> Vec<String> {
    copyhound::eval::load_pages(data)
        .unwrap()
        .into_iter()
        .filter(|p| p.lang == "zh" && (300..900).contains(&p.text.chars().count()))
        .take(count)
        .map(|p| p.text)
        .collect()
}

/// The outlet's app promotion, on every page of its site: long, full of punctuation, and
/// in a block named like an article body, so a generic extractor takes it for the text.
const PROMO: &str = "江城日报客户端全新上线！下载江城日报APP，第一时间获取本地新闻、政务信息、便民服务。我们提供天气、交通、医疗、教育等全方位资讯，欢迎广大读者朋友下载使用，并提出宝贵意见。扫描下方二维码即可关注江城日报官方微信公众号，参与互动赢取精美礼品，每周都有惊喜等着您！";

/// A page of the outlet's site: the promo in `main-content`, the article as `<br>`-split
/// text in a table cell, as old CMS templates print it.
fn templated_page(i: usize, text: &str) -> String {
    let body: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.replace('&', "&amp;").replace('<', "&lt;"))
        .collect();
    let promo: String = (0..4)
        .map(|k| {
            let cut = PROMO.char_indices().nth(k * 7).map_or(0, |(b, _)| b);
            format!("<p>{}{}</p>", &PROMO[cut..], &PROMO[..cut])
        })
        .collect();
    format!(
        "<html><head><title>第{i}篇_江城日报</title>\
         <link rel=\"canonical\" href=\"https://www.jiangcheng-daily.example/news/{i}.html\"></head><body>\
         <div class=\"top\"><a href=\"/\">首页</a> <a href=\"/n\">新闻</a></div>\
         <div class=\"main-content\">{promo}</div>\
         <table><tr><td>{}</td></tr></table>\
         <div class=\"bottom\">版权所有 江城日报社</div></body></html>",
        body.join("<br><br>")
    )
}

#[test]
fn a_site_template_keeps_a_recurring_promo_out_of_every_original() {
    let Some(data) = shared_data() else { return };
    let texts = real_texts(&data, 6);
    assert_eq!(texts.len(), 6);
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    std::fs::create_dir_all(&archive).unwrap();
    for (i, text) in texts.iter().enumerate() {
        std::fs::write(archive.join(format!("{i}.html")), templated_page(i, text)).unwrap();
    }
    // Without the template the promo wins: that is the failure the template fixes.
    let alone = json(&copyhound(&[
        "extract",
        "--json",
        archive.join("0.html").to_str().unwrap(),
    ]));
    assert_eq!(alone["method"], "container");
    assert!(alone["text"].as_str().unwrap().contains("江城日报客户端"));

    let config = write_config(dir.path(), "paths = [\"archive\"]\n");
    let out = ingest(&config);
    assert!(out.starts_with("ingest: 6 new"), "{out}");
    let cfg = config.to_str().unwrap();
    let list = json(&copyhound(&[
        "originals",
        "list",
        "--json",
        "--config",
        cfg,
    ]));
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 6);
    for o in list {
        // Every original, the first ones (read before the template existed) included.
        assert_eq!(o["extraction"], "template", "{o}");
        let shown = json(&copyhound(&[
            "originals",
            "show",
            &o["id"].to_string(),
            "--json",
            "--config",
            cfg,
        ]));
        let text = shown["text"].as_str().unwrap();
        assert!(!text.contains("江城日报客户端"), "promo kept: {text}");
        let i: usize = o["url"]
            .as_str()
            .unwrap()
            .trim_start_matches("https://www.jiangcheng-daily.example/news/")
            .trim_end_matches(".html")
            .parse()
            .unwrap();
        let first_line = texts[i].lines().find(|l| !l.trim().is_empty()).unwrap();
        let head: String = first_line.trim().chars().take(20).collect();
        assert!(text.contains(&head), "article {i} lost: {text}");
    }
    let shown = stdout(&copyhound(&["originals", "show", "1", "--config", cfg]));
    assert!(
        shown.contains("text found by: template")
            && shown.contains("learned from 6 pages of www.jiangcheng-daily.example"),
        "{shown}"
    );
    // A second pass counts no page twice and changes nothing.
    let again = ingest(&config);
    assert!(
        again.starts_with("ingest: 0 new, 0 updated, 6 unchanged"),
        "{again}"
    );
}

#[test]
fn host_selectors_feed_full_text_and_suspect_originals() {
    let Some(data) = shared_data() else { return };
    let texts = real_texts(&data, 7);
    let mut site: HashMap<String, Resource> = HashMap::new();
    // Page 0 shows a teaser only; its feed entry carries the whole article.
    let teaser: String = texts[0].chars().take(60).collect();
    site.insert(
        "/a/0.html".into(),
        ok(
            "text/html; charset=utf-8",
            format!("<html><body><div class=\"story\"><p>{teaser}……</p></div></body></html>"),
        ),
    );
    let full = texts[0]
        .lines()
        .map(|l| format!("<p>{l}</p>"))
        .collect::<String>();
    // Page 1 has its body in `.article-body` and an ad inside it that the outlet drops.
    site.insert(
        "/a/1.html".into(),
        ok(
            "text/html; charset=utf-8",
            format!(
                "<html><body><div class=\"article-body\"><p>{}</p><div class=\"ad-box\">广告：本周特价，全场五折，欢迎选购。</div></div>\
                 <div class=\"main\"><p>{PROMO}</p><p>{PROMO}</p><p>{PROMO}</p></div></body></html>",
                texts[1].lines().collect::<Vec<_>>().join("</p><p>")
            ),
        ),
    );
    let items = format!(
        "<item><title>t0</title><link>/a/0.html</link><content:encoded><![CDATA[{full}]]></content:encoded></item>\
         <item><title>t1</title><link>/a/1.html</link></item>"
    );
    site.insert(
        "/rss.xml".into(),
        ok(
            "application/rss+xml",
            format!(r#"<?xml version="1.0"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>T</title><link>/</link>{items}</channel></rss>"#),
        ),
    );
    let site = Site::serve(site);

    // A local export of the outlet's other articles, one of which lost its body: the
    // site's median length shows it.
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    std::fs::create_dir_all(&archive).unwrap();
    for (i, text) in texts[2..].iter().enumerate() {
        let paragraphs = text
            .lines()
            .map(|l| format!("<p>{l}</p>"))
            .collect::<String>();
        std::fs::write(
            archive.join(format!("{i}.html")),
            format!("<html><head><link rel=\"canonical\" href=\"https://www.jiangcheng-daily.example/n/{i}.html\"></head><body><article>{paragraphs}</article></body></html>"),
        )
        .unwrap();
    }
    std::fs::write(
        archive.join("cut.html"),
        "<html><head><link rel=\"canonical\" href=\"https://www.jiangcheng-daily.example/n/cut.html\"></head><body><article><p>本报讯（记者 王芳）昨日，市政府召开新闻发布会。</p></article></body></html>",
    )
    .unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "feeds = [\"{}\"]\npaths = [\"archive\"]\n\n[[originals.hosts]]\nhost = \"127.0.0.1\"\nbody = \".article-body\"\ndrop = [\".ad-box\"]\n",
            site.url("/rss.xml")
        ),
    );
    let out = ingest(&config);
    assert!(out.starts_with("ingest: 8 new"), "{out}");
    let cfg = config.to_str().unwrap();
    let list = json(&copyhound(&[
        "originals",
        "list",
        "--json",
        "--config",
        cfg,
    ]));
    let by_url = |suffix: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|o| o["url"].as_str().unwrap().ends_with(suffix))
            .unwrap_or_else(|| panic!("no original {suffix} in {list}"))
            .clone()
    };
    let feed = by_url("/a/0.html");
    assert_eq!(feed["extraction"], "feed");
    let selected = by_url("/a/1.html");
    assert_eq!(selected["extraction"], "selector");
    let show = |o: &serde_json::Value| {
        json(&copyhound(&[
            "originals",
            "show",
            &o["id"].to_string(),
            "--json",
            "--config",
            cfg,
        ]))
    };
    let feed_text = show(&feed)["text"].as_str().unwrap().to_string();
    let last_line = texts[0].lines().rfind(|l| !l.trim().is_empty()).unwrap();
    assert!(feed_text.contains(last_line.trim()), "{feed_text}");
    let selected_text = show(&selected)["text"].as_str().unwrap().to_string();
    assert!(!selected_text.contains("广告") && !selected_text.contains("江城日报客户端"));
    assert!(selected_text.contains(texts[1].lines().next().unwrap().trim()));

    let cut = by_url("/n/cut.html");
    assert!(cut["suspect"].as_str().unwrap().contains("median"), "{cut}");
    assert!(by_url("/n/0.html")["suspect"].is_null());
    let listed = stdout(&copyhound(&[
        "originals",
        "list",
        "--suspect",
        "--config",
        cfg,
    ]));
    assert!(listed.contains("/n/cut.html"), "{listed}");
    assert!(listed.contains("looks truncated:"), "{listed}");
    assert!(
        listed.trim_end().ends_with("1 suspect original(s)"),
        "{listed}"
    );
}
