//! Unit tests of extraction on small hand-written pages.

use super::*;

const PARA1: &str = "新华社北京5月9日电，中共中央政治局常委、国务院总理李强在新疆调研。他强调，要深入贯彻习近平总书记的重要讲话精神，推动高质量发展。";
const PARA2: &str = "调研期间，李强来到乌鲁木齐市的企业、园区和社区，了解产业发展、对外开放和民生保障等情况，并同当地干部群众亲切交流。";
const PARA3: &str = "The minister said on Tuesday that the new rules, which take effect next month, will make it easier for small firms to export goods.";

fn busy_page(article: &str) -> String {
    format!(
        r##"<!doctype html><html><head><meta charset="utf-8">
<title>李强在新疆调研 - 新华网</title>
<style>.x {{ color: red }} body::after {{ content: "样式文字不应出现" }}</style>
<script>var secret = "脚本文字不应出现，绝对不应出现。";</script>
</head><body>
<header><div class="logo">新华网</div></header>
<nav><ul><li><a href="/">首页</a></li><li><a href="/p">时政</a></li><li><a href="/w">国际</a></li></ul></nav>
<div class="wrap">
  <div class="main">
    <h1>李强在新疆调研</h1>
    <div class="share-bar"><a href="#">分享到微博</a> <a href="#">分享到微信</a></div>
    <div id="detail" class="article-content">{article}</div>
    <div class="related"><h3>相关新闻</h3><ul>
      <li><a href="/1">相关新闻标题一相关新闻标题一相关新闻标题一</a></li>
      <li><a href="/2">相关新闻标题二相关新闻标题二相关新闻标题二</a></li>
    </ul></div>
  </div>
  <div class="sidebar"><h3>热门排行</h3><ol><li><a href="/h">热门文章标题，热门文章标题。</a></li></ol></div>
</div>
<!-- 注释文字不应出现，注释文字不应出现。 -->
<footer><p>Copyright © 2024 新华网版权所有。未经许可，不得转载。</p></footer>
<script>document.write("另一段脚本文字，不应出现。")</script>
</body></html>"##
    )
}

#[test]
fn empty_input_gives_empty_text() {
    let out = extract(b"", None);
    assert!(out.text.is_empty());
    assert!(!out.warnings.is_empty());
}

#[test]
fn keeps_paragraphs_drops_furniture() {
    let article = format!("<p>{PARA1}</p><p>{PARA2}</p><p>{PARA3}</p>");
    let out = extract(busy_page(&article).as_bytes(), None);
    assert_eq!(out.text, format!("{PARA1}\n{PARA2}\n{PARA3}"), "{out:?}");
    assert_eq!(out.title, "李强在新疆调研");
    assert_eq!(out.encoding, "UTF-8");
}

#[test]
fn script_style_and_comment_text_never_appear() {
    let article = format!("<p>{PARA1}<script>var a='脚本内联文字';</script></p><p>{PARA2}</p>");
    let out = extract(busy_page(&article).as_bytes(), None);
    for banned in [
        "脚本",
        "样式",
        "注释",
        "secret",
        "首页",
        "分享",
        "相关新闻",
        "热门",
        "Copyright",
    ] {
        assert!(!out.text.contains(banned), "{banned} in {:?}", out.text);
    }
    assert!(out.text.contains(PARA2));
}

#[test]
fn br_separated_text_becomes_lines() {
    let article = format!("{PARA1}<br><br>{PARA2}<br/>{PARA3}");
    let out = extract(busy_page(&article).as_bytes(), None);
    assert_eq!(out.text, format!("{PARA1}\n{PARA2}\n{PARA3}"), "{out:?}");
}

#[test]
fn gbk_page_decodes_and_extracts() {
    let html = busy_page(&format!("<p>{PARA1}</p><p>{PARA2}</p>")).replace("utf-8", "gb2312");
    let (bytes, _, _) = encoding_rs::GBK.encode(&html);
    let out = extract(&bytes, None);
    assert_eq!(out.encoding, "GBK");
    assert_eq!(out.text, format!("{PARA1}\n{PARA2}"));
}

#[test]
fn wrong_label_is_reported() {
    let html = busy_page(&format!("<p>{PARA1}</p>")).replace("utf-8", "gb2312");
    let out = extract(html.as_bytes(), None);
    assert_eq!(out.encoding, "UTF-8");
    assert_eq!(out.text, PARA1);
    assert!(
        out.warnings
            .iter()
            .any(|w| w.to_lowercase().contains("gbk")),
        "{:?}",
        out.warnings
    );
}

#[test]
fn short_article_beats_longer_recommendation() {
    let long: String = (0..8).map(|_| format!("<p>{PARA2}</p>")).collect();
    let html = format!(
        r#"<html><head><title>美官员否认事故存在谋杀行为_快资讯</title></head><body>
<div class="detail"><h1>美官员否认事故存在谋杀行为</h1><div class="content"><p>{PARA1}</p></div></div>
<div class="recommend-list"><h2>外婆的澎湖湾原唱者的故事</h2><div>{long}</div></div></body></html>"#
    );
    let out = extract(html.as_bytes(), None);
    assert_eq!(out.text, PARA1);
}

#[test]
fn hostile_deep_nesting_does_not_blow_the_stack() {
    let depth = 100_000;
    let mut html = String::with_capacity(depth * 12);
    html.push_str("<html><body>");
    for _ in 0..depth {
        html.push_str("<div><span>");
    }
    html.push_str(PARA1);
    for _ in 0..depth {
        html.push_str("</span></div>");
    }
    html.push_str("</body></html>");
    let out = extract(html.as_bytes(), None);
    assert!(out.text.contains("新华社"), "{:?}", out.warnings);
}

#[test]
fn garbage_bytes_do_not_panic() {
    let junk: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let out = extract(&junk, Some("text/html; charset=utf-8"));
    assert!(!out.encoding.is_empty());
    let _ = extract(b"<html><body><p>unclosed <div><table><td>x", None);
    let _ = extract(b"<<<>>><p><</p>", Some("garbage"));
}

#[test]
fn title_strips_site_name() {
    assert_eq!(
        strip_site_name("The hard sell for British food | BBC News"),
        "The hard sell for British food"
    );
    assert_eq!(
        strip_site_name("巴以冲突，困住中国外贸人_凤凰网"),
        "巴以冲突，困住中国外贸人"
    );
    assert_eq!(strip_site_name("Plain title"), "Plain title");
}

#[test]
fn text_files_are_taken_as_is_with_the_first_line_as_title() {
    let gbk = encoding_rs::GBK
        .encode("\n  简讯标题  \n市图书馆今起延长开放时间。")
        .0;
    let got = super::from_text(&gbk);
    assert_eq!(got.title, "简讯标题");
    assert_eq!(got.text, "\n  简讯标题  \n市图书馆今起延长开放时间。");
    assert_eq!(super::from_text(b"").title, "");
}
