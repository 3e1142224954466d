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

/// An English article of several paragraphs.
fn english_article() -> String {
    [
        "The city council voted on Tuesday to extend the riverside tram line by four kilometres, after two years of public consultation and a heated final debate.",
        "Supporters said the extension would cut commuting times for thousands of residents in the eastern districts, while opponents questioned the cost.",
        "Construction is expected to begin next spring and to last about three years, according to the transport department's published schedule.",
    ]
    .map(|p| format!("<p>{p}</p>"))
    .concat()
}

#[test]
fn a_chinese_banner_does_not_become_the_text_of_an_english_page() {
    // A consent banner in dense CJK with full-width punctuation outweighs English prose
    // by raw punctuation counts; the page's own script decides.
    let banner = "我们使用Cookie来改善您的浏览体验、提供个性化内容并分析网站流量。继续使用本网站即表示您同意我们使用Cookie。您可以随时在设置中更改您的偏好，了解更多信息请阅读我们的隐私政策。我们尊重您的隐私，并承诺保护您的个人信息安全，不会将其出售给任何第三方。";
    let html = format!(
        "<html><head><title>Council extends the tram line</title></head><body>\
         <div class=\"notice-text\"><p>{banner}</p></div>\
         <div class=\"story\"><h1>Council extends the tram line</h1>{}</div></body></html>",
        english_article()
    );
    let out = extract(html.as_bytes(), Some("text/html; charset=utf-8"));
    assert!(out.text.contains("riverside tram line"), "{out:?}");
    assert!(!out.text.contains("Cookie"), "{out:?}");
}

#[test]
fn a_gbk_page_with_one_cut_character_is_still_gbk() {
    let page = format!(
        "<html><body><div class=\"content\"><p>{}</p></div></body></html>",
        "江城市今年新建公园十二座，市民休闲有了更多去处。".repeat(20)
    );
    let mut bytes = encoding_rs::GBK.encode(&page).0.into_owned();
    // A truncated capture: half of a two-byte character before the closing tags.
    let at = bytes.len() - 30;
    bytes.insert(at, 0xC7);
    let out = extract(&bytes, None);
    assert_eq!(out.encoding, "GBK", "{:?}", out.warnings);
    assert!(out.text.contains("新建公园"));
}

#[test]
fn a_learned_template_keeps_a_recurring_block_from_winning() {
    let promo = "Download our app today! Get breaking news, weather, traffic and live scores, all in one place, and join our community of readers. Subscribe now, and get your first month free, with no commitment at all.";
    let page = |article: &str| {
        format!(
            "<html><body><div class=\"main-content\"><p>{promo}</p><p>{promo} Again.</p><p>{promo} Once more.</p></div>\
             <table><tr><td>{article}</td></tr></table></body></html>"
        )
    };
    let article = "The mayor opened the new bridge on Monday.<br>It took three years to build.<br>Traffic will flow from next week.";
    let html = page(article);
    let plain = extract(html.as_bytes(), None);
    assert!(plain.text.contains("Download our app"), "{plain:?}");
    // Learn the template from five pages of the site, each with its own article.
    let docs: Vec<Vec<u64>> = (0..5)
        .map(|i| {
            let other = page(&format!(
                "Story number {i} happened today.<br>More on it soon."
            ));
            super::extract_with(other.as_bytes(), None, super::Options::default()).line_hashes
        })
        .collect();
    let mut counts = std::collections::HashMap::new();
    for hashes in &docs {
        for h in hashes {
            *counts.entry(*h).or_insert(0u32) += 1;
        }
    }
    let template = super::SiteTemplate::from_counts(5, counts).unwrap();
    let options = super::Options {
        template: Some(&template),
        rules: None,
    };
    let got = super::extract_with(html.as_bytes(), None, options).extracted;
    assert_eq!(got.method, super::Method::Template);
    assert!(got.text.contains("new bridge"), "{got:?}");
    assert!(!got.text.contains("Download our app"), "{got:?}");
}

#[test]
fn host_rules_select_the_body_and_drop_parts() {
    let rules = super::HostRules {
        body: Some(scraper::Selector::parse("div.article-body").unwrap()),
        drop: vec![scraper::Selector::parse(".ad").unwrap()],
    };
    let html = format!(
        "<html><body><div class=\"big\">{}</div><div class=\"article-body\"><p>Short but true.</p><div class=\"ad\">Buy now.</div><p>Second line.</p></div></body></html>",
        english_article()
    );
    let options = super::Options {
        template: None,
        rules: Some(&rules),
    };
    let got = super::extract_with(html.as_bytes(), None, options).extracted;
    assert_eq!(got.method, super::Method::Selector);
    assert_eq!(got.text, "Short but true.\nSecond line.");
    // A selector that matches nothing falls back to the usual extraction, with a warning.
    let none = super::HostRules {
        body: Some(scraper::Selector::parse("#missing").unwrap()),
        drop: Vec::new(),
    };
    let options = super::Options {
        template: None,
        rules: Some(&none),
    };
    let got = super::extract_with(html.as_bytes(), None, options).extracted;
    assert_eq!(got.method, super::Method::Container);
    assert!(got.text.contains("riverside tram line"));
    assert!(got.warnings.iter().any(|w| w.contains("body selector")));
}

#[test]
fn a_feed_fragment_gives_all_its_lines() {
    let text = super::fragment_text("<p>One.</p><script>x()</script><p>Two <b>bold</b>.</p>");
    assert_eq!(text, "One.\nTwo bold.");
}

#[test]
fn readability_text_stops_at_furniture_after_our_last_line() {
    use super::fallback::{article_lines, AltLine};
    let doc_html =
        "<html><body><div><p>Alpha paragraph of the article text here.</p></div></body></html>";
    let parsed = scraper::Html::parse_document(doc_html);
    let doc = super::dom::Doc::build(&parsed);
    let ours: Vec<&super::dom::Line> = doc.lines.iter().collect();
    let line = |t: &str, furniture| AltLine {
        text: t.to_string(),
        furniture,
    };
    let alternative = vec![
        line("A lead paragraph our container missed.", false),
        line("Alpha paragraph of the article text here.", false),
        line("A closing paragraph.", false),
        line("1 2 3 Next page", true),
        line("Teaser of another story with a date 2024-05-23.", false),
    ];
    let got = article_lines(&ours, alternative);
    assert_eq!(
        got,
        [
            "A lead paragraph our container missed.",
            "Alpha paragraph of the article text here.",
            "A closing paragraph."
        ]
    );
}

#[test]
fn an_unclosed_named_anchor_does_not_turn_a_post_into_links() {
    // Old forum software leaves `<a name=…>` open; the tree builder then carries the
    // anchor over the whole post. An anchor without `href` is not a link.
    let html = format!(
        "<html><head><title>主题</title></head><body>\
         <div class='floor'><a name=top1>楼层：第 1 楼</div>\
         <div class='post'><p>{PARA1}</p><p>{PARA2}</p></div></body></html>"
    );
    let out = extract(html.as_bytes(), None);
    assert!(
        out.text.contains(PARA1) && out.text.contains(PARA2),
        "{out:?}"
    );
    assert!(out.page_chars > 100, "{out:?}");
}

#[test]
fn a_thread_index_of_link_titles_and_dates_does_not_beat_the_post() {
    // A reply index: each line a linked title, a linked author, a date and counters.
    // Long lines, but they carry almost nothing outside their links.
    let mut index = String::new();
    for i in 0..40 {
        index.push_str(&format!(
            "<img src=f.gif><a href='t?id={i}'>回复标题第{i}条回复标题</a>【<a href='u?id={i}'>网友{i}</a>】\
             08-11 16:{i:02} 138字 [140/0]<br>\n"
        ));
    }
    let html = format!(
        "<html><head><title>导游为什么热衷购物</title></head><body>\
         <table><tr><td><p class=large>{PARA1}{PARA2}</p></td></tr></table>\
         <table><tr><td class=list>{index}</td></tr></table></body></html>"
    );
    let out = extract(html.as_bytes(), None);
    assert_eq!(out.text, format!("{PARA1}{PARA2}"), "{out:?}");
    assert_eq!(out.method, Method::Container);
}

#[test]
fn an_article_shipped_only_inside_noscript_is_found() {
    // Blogger renders the post from a script template and keeps a copy for readers
    // without scripts inside `<noscript>`, which the parser holds as raw text.
    let body = format!("<p>{PARA3}</p><p>{PARA3} {PARA3}</p><p>{PARA3}</p>");
    let html = format!(
        "<html><head><title>A post</title></head><body><h2>A post</h2>\
         <div class='post-body'><script type='text/template'>{body}</script>\
         <NoScript>{body}</noscript></div><div>Share this post</div></body></html>"
    );
    let out = extract(html.as_bytes(), None);
    assert!(out.text.starts_with(PARA3), "{out:?}");
    assert!(out.text.len() > 3 * PARA3.len(), "{out:?}");
    // A page whose article is visible keeps it as it is: the noscript pixel adds nothing.
    let visible = busy_page(&format!(
        "<p>{PARA1}</p><noscript><img src=pixel.gif></noscript><p>{PARA2}</p>"
    ));
    assert_eq!(
        extract(visible.as_bytes(), None).text,
        format!("{PARA1}\n{PARA2}")
    );
}

#[test]
fn unwrapping_noscript_keeps_everything_else() {
    assert_eq!(
        super::unwrap_noscript("a<noscript>b</NOSCRIPT>c<noscripts>d<noscript\n x=1>e</noscript >"),
        "abc<noscripts>de"
    );
    assert_eq!(
        super::unwrap_noscript("中文<noscript>文</noscript"),
        "中文文</noscript"
    );
}

/// A forum thread: every post a record with its author box and its message.
fn thread_page(posts: &[&str], linked_headings: bool) -> String {
    let mut body = String::new();
    for (i, post) in posts.iter().enumerate() {
        let heading = if linked_headings {
            format!("<h3><a href='/story/{i}'>另一篇报道的标题第{i}篇</a></h3>")
        } else {
            format!("<h3><a href='#p{i}'>回复：交通规划</a></h3>")
        };
        body.push_str(&format!(
            "<div id='post_{i}'><table class='plhin'><tr>\
             <td class='pls'><a href='/u/{i}'>用户{i}</a><br>积分 {i}</td>\
             <td class='plc'>{heading}<div class='pti'>发表于 2023-5-{i} 10:20</div>\
             <div class='t_f'>{post}</div>\
             <div class='po'><a href='/reply/{i}'>回复</a> <a href='/report/{i}'>举报</a></div></td>\
             </tr></table></div>"
        ));
    }
    format!(
        "<html><head><title>交通规划讨论</title></head><body>\
         <div class='nav'><a href='/'>首页</a> <a href='/f'>论坛</a></div>\
         <h1>交通规划讨论</h1><div id='postlist'>{body}</div>\
         <div class='footer'>Powered by Discuz!</div></body></html>"
    )
}

#[test]
fn every_post_of_a_thread_is_content() {
    let posts = [
        PARA1,
        "同意楼上的看法。",
        PARA2,
        "顶一下，说得很好。",
        "补充一点：公交线路也要调整。",
    ];
    let out = extract(thread_page(&posts, false).as_bytes(), None);
    assert_eq!(out.text, posts.join("\n"), "{out:?}");
}

#[test]
fn a_list_of_teasers_for_other_stories_is_not_a_thread() {
    // The same records, each headed by a link to another story: a "more stories" list,
    // of which only the winning block is taken.
    let posts = [
        PARA1,
        "同意楼上的看法，说得很对。",
        PARA2,
        "顶一下，说得很好，非常好。",
        "补充一点：公交线路也要调整。",
    ];
    let out = extract(thread_page(&posts, true).as_bytes(), None);
    assert!(!out.text.contains("同意楼上"), "{out:?}");
}

/// A long read cut into sections, each in a box with a hashed id (org-mode's export,
/// page builders' widgets): one section is much longer than the others.
fn sectioned_page(teasers: bool) -> String {
    // Three sections, too few to read as a thread of records.
    let long = [PARA3; 12].join(" ");
    let sections = [
        ("orgea1d19b", "Background", "Advice came to the language in the summer of 1994, when a module shipped with the nineteenth release of the editor."),
        ("orgd7109ad", "The trick", long.as_str()),
        ("org3f00c21", "Decorators", "Decorators in other languages enable you to modify a function without touching its definition, and the idea is the same."),
    ];
    let mut body = String::new();
    for (i, (id, heading, text)) in sections.iter().enumerate() {
        body.push_str(&format!(
            "<div id='outline-container-{id}' class='outline-2'><h2 id='{id}'>{heading}</h2>\
             <div id='text-{i}' class='outline-text-2'><p>{text}</p></div></div>"
        ));
    }
    let stream = if teasers {
        (0..6)
            .map(|i| {
                format!(
                    "<div class='item-{i}'><h3><a href='/story/{i}'>Another story about the city council number {i}</a></h3>\
                     <p>The council met again on Tuesday to discuss the budget for the coming year, story {i}.</p></div>"
                )
            })
            .collect::<String>()
    } else {
        String::new()
    };
    format!(
        "<html><head><title>Meta-programming with advice</title></head><body>\
         <div class='menu'><ul><li><a href='/a'>Home</a></li><li><a href='/b'>Archive</a></li>\
         <li><a href='/c'>About this blog and its author</a></li></ul></div>\
         <div class='columns'><div class='main-column'>\
         <h1>Meta-programming with advice</h1>\
         <div class='post-wrapper'><div id='content'>{body}</div>{stream}</div></div>\
         <div class='side-column'><ul><li><a href='/x'>Blog archive for 2019 and the years before</a></li>\
         <li><a href='/y'>Followers of this blog and their profiles</a></li></ul></div></div>\
         </body></html>"
    )
}

#[test]
fn an_article_cut_into_sections_is_found_whole() {
    // The long section alone outscores each short one; the collapse safeguard widens the
    // selection to the box that holds every section, since that box adds only prose.
    let out = extract(sectioned_page(false).as_bytes(), None);
    for needle in ["Advice came", "Decorators in other", PARA3] {
        assert!(out.text.contains(needle), "{needle} missing: {out:?}");
    }
    assert!(!out.text.contains("Followers"), "{out:?}");
    // Found by our own container, widened, not by readability's second opinion.
    assert_eq!(out.method, Method::Container, "{out:?}");
}

#[test]
fn widening_stops_at_a_stream_of_teasers() {
    let out = extract(sectioned_page(true).as_bytes(), None);
    assert!(out.text.contains("Decorators in other"), "{out:?}");
    assert!(!out.text.contains("The council met"), "{out:?}");
}

#[test]
fn ruby_annotations_and_soft_hyphens_are_not_text() {
    let page = "<html><body><div class='article'>\
        <p><ruby>子<rp>(</rp><rt>こ</rt><rp>)</rp></ruby>どもへの<ruby>体罰<rt>たいばつ</rt></ruby>を\
        禁止する法律ができて、親が子どもをたたくことは許されなくなりました。</p>\
        <p>En réac\u{ad}tion à la can\u{ad}di\u{ad}da\u{ad}ture, plus de 2500 chercheurs ont signé une tribune collective.</p>\
        </div></body></html>";
    let out = extract(page.as_bytes(), None);
    assert!(out.text.contains("子どもへの体罰を"), "{out:?}");
    assert!(out.text.contains("En réaction à la candidature"), "{out:?}");
}

#[test]
fn a_block_in_another_script_at_the_edge_of_the_column_is_trimmed() {
    // A Chinese consent notice opens the English article's column, and a Chinese quote
    // sits inside the article: the notice goes, the quote stays.
    let quote = "他说：“这是我们城市交通发展的重要一步，我们会认真落实。”";
    let page = format!(
        "<html><head><title>Council approves transport budget</title></head><body>\
         <div class='col-main'>\
         <div class='notice'>我们使用Cookie来改善您的浏览体验，继续浏览即表示您同意我们使用Cookie。了解更多信息，请阅读我们的隐私政策和使用条款。</div>\
         <h1>Council approves transport budget</h1>\
         <div><p>{PARA3}</p><p>{quote}</p><p>{PARA3}</p><p>{PARA3}</p></div>\
         </div></body></html>"
    );
    let out = extract(page.as_bytes(), None);
    assert!(!out.text.contains("Cookie"), "{out:?}");
    assert!(out.text.contains(quote), "{out:?}");
    assert!(out.text.contains(PARA3), "{out:?}");
}

#[test]
fn closing_calls_to_action_are_not_the_article() {
    let page = |last: &str| {
        format!(
            "<html><head><title>Council approves transport budget</title></head><body>\
             <div class='article'><p>{PARA3}</p><p>{PARA3}</p><p>{last}</p>\
             <p>Subscribe now to our e-edition for the full story.</p>\
             <p>Follow The Daily Example on Twitter and Instagram @dailyexample.</p></div>\
             </body></html>"
        )
    };
    let closing =
        "Following the vote, the council will publish a progress report every six months.";
    let out = extract(page(closing).as_bytes(), None);
    assert!(out.text.ends_with(closing), "{out:?}");
    assert!(!out.text.contains("Subscribe"), "{out:?}");
    // A sentence inside the article that begins like a call stays.
    let out = extract(
        page("Read more about the plan in the council's report, published on Monday.").as_bytes(),
        None,
    );
    assert!(out.text.contains("Read more about the plan"), "{out:?}");
}

#[test]
fn the_headline_is_the_title_not_the_first_line_of_the_text() {
    let page = format!(
        "<html><head><title>Council approves transport budget - The Daily Example</title></head>\
         <body><div class='article'><h1>Council approves transport budget</h1>\
         <p>{PARA3}</p><p>{PARA3}</p></div></body></html>"
    );
    let out = extract(page.as_bytes(), None);
    assert_eq!(out.title, "Council approves transport budget");
    assert_eq!(out.text, format!("{PARA3}\n{PARA3}"), "{out:?}");
}

#[test]
fn replies_under_a_long_first_post_are_content_without_their_metadata() {
    // The first post alone outscores every short reply, and the replies have another
    // shape than the post, so they are no records of it: widening reaches them through
    // the poster's name (a short link, neutral) and leaves each reply's name and time out.
    let replies = [
        "Same here. Rolled back to the previous version and it works again.",
        "Did you try resetting the network settings? That fixed it for me.",
        "Thanks, that worked!",
        "No luck for me, still draining overnight.",
        "Support told me a patch is coming next week.",
    ];
    let items: String = replies
        .iter()
        .cycle()
        .take(15)
        .enumerate()
        .map(|(i, r)| {
            format!(
                "<div class='reply-item'><div class='reply-user'><a href='/u/{i}'>user{i}</a>\
                 <span class='time'>2024-05-20 09:{:02}</span></div><div class='reply-text'>{r}</div></div>",
                10 + i
            )
        })
        .collect();
    let page = format!(
        "<html><head><title>Battery drain after update</title></head><body>\
         <div class='nav'><a href='/'>Home</a> <a href='/forum'>Forum</a></div>\
         <div class='thread'><h1>Battery drain after update</h1>\
         <div class='main-post'><div class='post-user'><a href='/u/0'>starter</a></div>\
         <div class='post-text'><p>{PARA3} {PARA3} {PARA3}</p></div></div>\
         <div class='reply-list'>{items}</div></div></body></html>"
    );
    let out = extract(page.as_bytes(), None);
    for reply in replies {
        assert!(out.text.contains(reply), "{reply} missing: {out:?}");
    }
    assert!(!out.text.contains("09:1"), "{out:?}");
}
