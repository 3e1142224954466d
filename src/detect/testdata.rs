//! Test fixtures built from real text: People's Daily, January 1998, read at test time from
//! `../shared/data` and never copied into the repository. Tests that need it skip with a
//! message when it is absent.
//!
//! This module owns the copy generators (traditional conversion, inline pinyin, mojibake,
//! templates); it must never be compiled outside tests.

use std::collections::HashMap;
use std::sync::OnceLock;

use pinyin::ToPinyin;

const PEOPLES_DAILY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/peoples-daily-1998-01.txt"
);

/// The paragraphs of the People's Daily corpus, or `None` (with a message) when absent.
pub(crate) fn paragraphs() -> Option<&'static [String]> {
    static LINES: OnceLock<Option<Vec<String>>> = OnceLock::new();
    let lines = LINES.get_or_init(|| match std::fs::read_to_string(PEOPLES_DAILY) {
        Ok(text) => Some(text.lines().map(str::to_string).collect()),
        Err(err) => {
            eprintln!("skipping real-text test: cannot read {PEOPLES_DAILY}: {err}");
            None
        }
    });
    lines.as_deref()
}

/// Paragraphs `from..to` of the corpus as an article (one paragraph per line).
pub(crate) fn article(from: usize, to: usize) -> Option<String> {
    Some(paragraphs()?.get(from..to)?.join("\n"))
}

/// The first `count` articles of `size` consecutive paragraphs, skipping paragraphs of 20
/// characters or fewer (datelines and headings), so every article is real prose.
pub(crate) fn prose_articles(size: usize, count: usize) -> Option<Vec<String>> {
    let prose: Vec<&str> = paragraphs()?
        .iter()
        .map(String::as_str)
        .filter(|l| l.chars().count() > 20)
        .collect();
    Some(
        prose
            .chunks(size)
            .take(count)
            .map(|c| c.join("\n"))
            .collect(),
    )
}

/// Simplified to traditional, built by inverting fast2s over the CJK block (test-only; the
/// first traditional form of each simplified character wins).
pub(crate) fn to_traditional(text: &str) -> String {
    static MAP: OnceLock<HashMap<char, char>> = OnceLock::new();
    let map = MAP.get_or_init(|| {
        let all: String = (0x4E00u32..0xA000).filter_map(char::from_u32).collect();
        let mut map = HashMap::new();
        for (t, s) in all.chars().zip(fast2s::convert(&all).chars()) {
            if t != s {
                map.entry(s).or_insert(t);
            }
        }
        map
    });
    text.chars().map(|c| *map.get(&c).unwrap_or(&c)).collect()
}

/// Inserts tone-marked pinyin in parentheses after every `every`-th Han character.
pub(crate) fn add_pinyin(text: &str, every: usize) -> String {
    let mut out = String::new();
    let mut han = 0;
    for c in text.chars() {
        out.push(c);
        if let Some(p) = c.to_pinyin() {
            han += 1;
            if han % every == 0 {
                out.push('(');
                out.push_str(p.with_tone());
                out.push(')');
            }
        }
    }
    out
}

/// Text as it looks when its UTF-8 bytes are read as Windows-1252.
pub(crate) fn latin1_mojibake(text: &str) -> String {
    encoding_rs::WINDOWS_1252
        .decode_without_bom_handling(text.as_bytes())
        .0
        .into_owned()
}

/// A site template around a copied body: navigation, ads and a footer.
pub(crate) fn in_template(body: &str) -> String {
    format!(
        "首页 | 新闻 | 财经 | 娱乐 | 体育 | 登录 注册\n<div class=\"ad\">热门推荐：免费领取大礼包，点击进入&nbsp;&gt;&gt;</div>\n\
         来源：网络 编辑：小王 2024-01-01 10:00\n{body}\n责任编辑：张三\n\
         版权声明：本站部分内容来自互联网，如有侵权请联系删除。\n友情链接：新浪 网易 搜狐 腾讯"
    )
}

const NEWS_PAGES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/news-pages/pages.jsonl"
);

/// The human-checked main text of one page of the news-pages set, by id, or `None` (with a
/// message) when the set is absent.
pub(crate) fn news_page_text(id: &str) -> Option<String> {
    let jsonl = match std::fs::read_to_string(NEWS_PAGES) {
        Ok(jsonl) => jsonl,
        Err(err) => {
            eprintln!("skipping real-text test: cannot read {NEWS_PAGES}: {err}");
            return None;
        }
    };
    jsonl
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|v| {
            (v.get("id")?.as_str()? == id).then(|| v.get("text")?.as_str().map(str::to_string))?
        })
}

/// Text as it looks when its UTF-8 bytes are read as GBK (`璐ㄩ噺` for 质量).
pub(crate) fn gbk_mojibake(text: &str) -> String {
    encoding_rs::GBK
        .decode_without_bom_handling(text.as_bytes())
        .0
        .into_owned()
}
