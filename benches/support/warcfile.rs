//! CC-NEWS-shaped WARC files built from the real pages of `../shared/data`, shared by
//! the `warc` and `workers` benchmarks (its own file, so benchmarks that do not build
//! WARC files do not include it).

use std::io::Write;
use std::path::Path;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;")
}

/// An original's text in a copier's template.
pub fn copier_page(title: &str, text: &str) -> Vec<u8> {
    let body: String = text
        .lines()
        .map(|p| format!("<p>{}</p>\n", escape(p)))
        .collect();
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{t}</title></head><body>\
         <div class=\"nav\"><a href=\"/\">首页</a> <a href=\"/s/0.html\">要闻</a></div>\
         <div class=\"article\"><h1>{t}</h1>\n{body}</div>\
         <div class=\"footer\">转载网 版权所有</div></body></html>",
        t = escape(title)
    )
    .into_bytes()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip")
}

/// One record, a gzip member of its own; `file` and `n` make its record id unique.
fn record(warc_type: &str, uri: &str, file: u16, n: usize, extra: &str, block: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "WARC/1.0\r\nWARC-Type: {warc_type}\r\nWARC-Date: 2024-05-01T10:00:00Z\r\n\
         WARC-Record-ID: <urn:uuid:00000000-0000-4000-{:04x}-{n:012}>\r\n\
         Content-Length: {}\r\n{extra}WARC-Target-URI: {uri}\r\n\r\n",
        0x8000 + u32::from(file),
        block.len()
    )
    .into_bytes();
    r.extend_from_slice(block);
    r.extend_from_slice(b"\r\n\r\n");
    gzip(&r)
}

/// Every real HTML page of the test data under `data`.
pub fn real_pages(data: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for dir in [
        "news-pages/html",
        "zh-news-pages-unlabelled",
        "dev-extraction/html",
    ] {
        let Ok(entries) = std::fs::read_dir(data.join(dir)) else {
            continue;
        };
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            if p.extension().is_some_and(|e| e == "html" || e == "htm") {
                if let Ok(bytes) = std::fs::read(&p) {
                    out.push(bytes);
                }
            }
        }
    }
    out
}

/// File number `file` of a set: a warcinfo record, then `responses` pages (each a
/// request, a response and a metadata record), the real `pages` in turn starting at
/// `file`'s share of them, with a copy of each of `copies` (texts whose first line is
/// the title) spread evenly through it. Its bytes and number of records.
pub fn build_warc(
    pages: &[Vec<u8>],
    copies: &[String],
    responses: usize,
    file: u16,
) -> (Vec<u8>, usize) {
    let info = b"software: StormCrawler\r\nformat: WARC File Format 1.1\r\n";
    let mut out = record("warcinfo", "", file, 0, "", info);
    let mut records = 1;
    // A planted copy every `every` responses.
    let every = (responses / copies.len().max(1)).max(1);
    // Files of a set start at different pages, so they are not one file repeated.
    let offset = usize::from(file) * responses;
    // The first file's URLs are those of the single-file benchmark before sets existed.
    let prefix = if file == 0 {
        String::new()
    } else {
        format!("f{file}/")
    };
    let mut n = 1;
    for i in 0..responses {
        let (url, html) = if i % every == 0 && i / every < copies.len() {
            let text = &copies[i / every];
            let title: String = text.lines().next().unwrap_or("").chars().take(30).collect();
            (
                format!("https://copier{}.example/{prefix}a/{i}.html", i % 7),
                copier_page(&title, text),
            )
        } else {
            (
                format!("https://site{}.example/{prefix}news/{i}.html", i % 97),
                pages[(offset + i) % pages.len()].clone(),
            )
        };
        out.extend(record(
            "request",
            &url,
            file,
            n,
            "Content-Type: application/http; msgtype=request\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        ));
        let mut block = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n",
            html.len()
        )
        .into_bytes();
        block.extend_from_slice(&html);
        out.extend(record(
            "response",
            &url,
            file,
            n + 1,
            "Content-Type: application/http; msgtype=response\r\n",
            &block,
        ));
        out.extend(record(
            "metadata",
            &url,
            file,
            n + 2,
            "Content-Type: application/warc-fields\r\n",
            b"fetchTimeMs: 120\r\n",
        ));
        n += 3;
        records += 3;
    }
    (out, records)
}
