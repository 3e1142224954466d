//! The archive of originals: reading the outlet's feeds, sitemaps and local archive
//! exports, turning each article into a fingerprinted record, and storing it.
//!
//! One pass ([`ingest`]) visits every configured source. A source that fails (404, bad
//! XML, unreadable folder) is reported and skipped; the others go on. Each article is
//! stored in its own transaction, so an interrupted pass loses at most the article in
//! flight, and the next pass picks up where it stopped (unchanged articles are no-ops).

pub mod mapped;
pub mod meta;
pub mod prepare;
pub mod sources;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use chrono::Utc;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use url::Url;

use crate::boilerplate::Boilerplate;
use crate::config::Settings;
use crate::detect::Document;
use crate::extract;
use crate::fetch::{FetchLimits, Fetcher};
use crate::index::archive::ArchiveIndex;
use crate::store::{NewArticle, Store, StoreError, Upsert};
use prepare::{PageInput, Prepared, Preparer};
use sources::{ArticleLink, Sitemap};

/// Sitemaps read per pass at most (indexes included): a sitemap index pointing at itself
/// or at thousands of sitemaps must end.
const MAX_SITEMAPS: usize = 1000;

/// How deep sitemap indexes may nest.
const MAX_SITEMAP_DEPTH: usize = 3;

/// Article pages fetched at the same time. The sources are the outlet's own servers, so
/// this stays small and polite.
const FETCH_CONCURRENCY: usize = 4;

/// Local files larger than this are skipped: an article page is far smaller.
const MAX_LOCAL_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Sitemaps may legitimately be up to 50 MB (the sitemaps.org limit).
const MAX_SITEMAP_BYTES: usize = 50 * 1024 * 1024;

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct IngestSummary {
    pub new: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// `(source or article, reason)` of everything that failed.
    pub failed: Vec<(String, String)>,
}

impl IngestSummary {
    fn record(&mut self, outcome: Upsert) {
        match outcome {
            Upsert::New { .. } => self.new += 1,
            Upsert::Updated { .. } => self.updated += 1,
            Upsert::Unchanged { .. } => self.unchanged += 1,
        }
    }

    fn fail(&mut self, what: impl Into<String>, why: impl ToString) {
        let (what, why) = (what.into(), why.to_string());
        // Info, not warn: the pass's summary lists every failure for the operator.
        tracing::info!(source = %crate::cli::printable(&what), reason = %why, "ingest failed");
        self.failed.push((what, why));
    }
}

/// Progress reporting of a pass (a terminal progress bar in the CLI; nothing in tests).
pub trait Progress {
    /// `n` more items to do.
    fn add_work(&self, n: u64);
    /// One item done; `label` names it.
    fn done(&self, label: &str);
}

/// A progress sink that shows nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn add_work(&self, _n: u64) {}
    fn done(&self, _label: &str) {}
}

/// Why a pass could not run at all (individual source failures are in the summary).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Fetch(#[from] crate::fetch::FetchError),
    #[error(transparent)]
    Index(#[from] crate::index::IndexError),
    #[error("index file {0}")]
    Mapped(#[from] mapped::MappedError),
    #[error("original id {id} does not fit the in-memory index (ids up to 4294967294)")]
    IdOutOfRange { id: i64 },
}

/// The user agent of copyhound's own requests, with the outlet's site as contact.
pub fn user_agent(settings: &Settings) -> String {
    let contact = if settings.outlet.website.is_empty() {
        String::new()
    } else {
        format!(" (+{})", settings.outlet.website)
    };
    format!("copyhound/{}{contact}", env!("CARGO_PKG_VERSION"))
}

/// One pass over every configured source.
///
/// # Errors
/// [`IngestError`] only when nothing can proceed (the database cannot be written, the
/// HTTP client cannot start); a failing source is recorded in the summary instead.
pub async fn ingest(
    settings: &Settings,
    store: &mut Store,
    mut index: Option<&mut ArchiveIndex>,
    progress: &(dyn Progress + Sync),
) -> Result<IngestSummary, IngestError> {
    let mut summary = IngestSummary::default();
    let mut recorder = Recorder {
        store,
        index: index.take(),
    };
    let fetcher = Fetcher::new(&user_agent(settings), FetchLimits::default())?;
    let sitemap_fetcher = Fetcher::new(
        &user_agent(settings),
        FetchLimits {
            max_body_bytes: MAX_SITEMAP_BYTES,
            ..FetchLimits::default()
        },
    )?;

    let mut preparer = Preparer::new(&settings.originals, recorder.store)?;

    // Local archive exports first: they need no network and are usually the bulk.
    for dir in &settings.originals.paths {
        ingest_dir(dir, &mut recorder, &mut preparer, progress, &mut summary)?;
    }

    let mut links: Vec<(ArticleLink, String)> = Vec::new();
    for feed in &settings.originals.feeds {
        match fetcher.get(feed).await {
            Ok(page) => match sources::parse_feed(&page.body, &page.url) {
                Ok(found) => links.extend(found.into_iter().map(|l| (l, feed.to_string()))),
                Err(e) => summary.fail(feed.as_str(), e),
            },
            Err(e) => summary.fail(feed.as_str(), e),
        }
    }
    let mut queue: Vec<(Url, usize)> = settings
        .originals
        .sitemaps
        .iter()
        .map(|u| (u.clone(), 0))
        .collect();
    let mut seen_sitemaps = HashSet::new();
    while let Some((sitemap, depth)) = queue.pop() {
        if !seen_sitemaps.insert(sitemap.to_string()) {
            continue;
        }
        if seen_sitemaps.len() > MAX_SITEMAPS {
            summary.fail(
                sitemap.as_str(),
                format!("more than {MAX_SITEMAPS} sitemaps"),
            );
            break;
        }
        match sitemap_fetcher.get(&sitemap).await {
            Ok(page) => match sources::parse_sitemap(&page.body, &page.url) {
                Ok(Sitemap::Index(children)) if depth < MAX_SITEMAP_DEPTH => {
                    queue.extend(children.into_iter().map(|c| (c, depth + 1)));
                }
                Ok(Sitemap::Index(_)) => summary.fail(
                    sitemap.as_str(),
                    format!("sitemap indexes nested deeper than {MAX_SITEMAP_DEPTH}"),
                ),
                Ok(Sitemap::Pages(found)) => {
                    links.extend(found.into_iter().map(|l| (l, sitemap.to_string())))
                }
                Err(e) => summary.fail(sitemap.as_str(), e),
            },
            Err(e) => summary.fail(sitemap.as_str(), e),
        }
    }

    // The same article is often in a feed and a sitemap: fetch it once.
    let mut seen = HashSet::new();
    links.retain(|(l, _)| seen.insert(l.url.to_string()));
    progress.add_work(links.len() as u64);

    let mut pages = futures::stream::iter(links.into_iter().map(|(link, source)| {
        let fetcher = &fetcher;
        async move {
            let result = fetcher.get(&link.url).await;
            (link, source, result)
        }
    }))
    .buffer_unordered(FETCH_CONCURRENCY);
    while let Some((link, source, result)) = pages.next().await {
        progress.done(link.url.as_str());
        let page = match result {
            Ok(page) => page,
            Err(e) => {
                summary.fail(link.url.as_str(), e);
                continue;
            }
        };
        let input = PageInput {
            url: link.url.clone(),
            bytes: page.body,
            content_type: page.content_type,
            source,
            link: Some(link),
        };
        let ready = preparer.page(recorder.store, input)?;
        recorder.record_all(ready, &mut summary)?;
    }
    let rest = preparer.finish();
    recorder.record_all(rest, &mut summary)?;
    Ok(summary)
}

/// Ingests every `.html`/`.htm`/`.txt` file under `dir`, recursively.
fn ingest_dir(
    dir: &Path,
    recorder: &mut Recorder<'_>,
    preparer: &mut Preparer<'_>,
    progress: &(dyn Progress + Sync),
    summary: &mut IngestSummary,
) -> Result<(), IngestError> {
    if !dir.is_dir() {
        summary.fail(dir.display().to_string(), "not a readable directory");
        return Ok(());
    }
    let files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_map(|entry| match entry {
            Ok(e) => Some(e),
            Err(err) => {
                summary.fail(dir.display().to_string(), err);
                None
            }
        })
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .filter(|p| local_kind(p).is_some())
        .collect();
    progress.add_work(files.len() as u64);
    for path in files {
        progress.done(&path.display().to_string());
        match read_local(&path) {
            Ok(Local::Page(input)) => {
                let ready = preparer.page(recorder.store, input)?;
                recorder.record_all(ready, summary)?;
            }
            Ok(Local::Text(Some(article))) => summary.record(recorder.record(&article)?),
            Ok(Local::Text(None)) => {
                summary.fail(path.display().to_string(), "no article text found")
            }
            Err(e) => summary.fail(path.display().to_string(), e),
        }
    }
    Ok(())
}

/// Stores articles and keeps a live index in step.
struct Recorder<'a> {
    store: &'a mut Store,
    index: Option<&'a mut ArchiveIndex>,
}

impl Recorder<'_> {
    /// Records what the preparer made ready, and the failures in the summary.
    fn record_all(
        &mut self,
        ready: Vec<Prepared>,
        summary: &mut IngestSummary,
    ) -> Result<(), IngestError> {
        for prepared in ready {
            match prepared {
                Prepared::Article(article) => summary.record(self.record(&article)?),
                Prepared::Failed(what, why) => summary.fail(what, why),
            }
        }
        Ok(())
    }

    /// Stores the article, then adds a new or changed one to the live index. A changed
    /// article's previous fingerprints stay in the live index until the next load: they
    /// can only bring an extra candidate, and verification reads the current text.
    fn record(&mut self, article: &NewArticle) -> Result<Upsert, IngestError> {
        let outcome = self.store.upsert_original(article, Utc::now())?;
        if let (Some(index), Upsert::New { id } | Upsert::Updated { id, .. }) =
            (self.index.as_deref_mut(), outcome)
        {
            let fingerprint = crate::fingerprint::Fingerprint {
                whole: article.simhash,
                segments: article.segments.clone(),
                anchors: article.anchors.clone(),
            };
            index.insert(index_id(id)?, &fingerprint)?;
        }
        Ok(outcome)
    }
}

/// The archive as detection needs it in memory.
#[derive(Debug)]
pub struct Archive {
    /// Candidate lookup over every original's current version.
    pub index: ArchiveIndex,
    /// Sentences learned as boilerplate, plus the built-in notice markers.
    pub boilerplate: Boilerplate,
    /// The store's change counter ([`Store::archive_generation`]) read before the index
    /// was: when the store's has moved past it, the index may lack originals.
    pub generation: i64,
}

/// Loads the index and the learned boilerplate from the store (start-up of `scan`, the
/// crawler and the daemon).
///
/// # Errors
/// [`IngestError`] when the store cannot be read or holds ids the index cannot address.
pub fn load_archive(store: &Store, settings: &Settings) -> Result<Archive, IngestError> {
    // Read first: a change committed while the rows below are read moves the counter
    // past this value, so it costs one extra reload later, never a missed one.
    let generation = store.archive_generation()?;
    let mut segments = store.current_whole_fingerprints()?;
    segments.extend(store.current_segment_fingerprints()?);
    let segments = segments
        .into_iter()
        .map(|(h, id)| Ok((h, index_id(id)?)))
        .collect::<Result<Vec<_>, IngestError>>()?;
    let anchors = store
        .current_anchors()?
        .into_iter()
        .map(|(h, id)| Ok((h, index_id(id)?)))
        .collect::<Result<Vec<_>, IngestError>>()?;
    let index = ArchiveIndex::build(settings.index.max_distance, segments, anchors)?;
    let boilerplate =
        Boilerplate::new(store.frequent_sentences(settings.originals.boilerplate_min_originals)?);
    Ok(Archive {
        index,
        boilerplate,
        generation,
    })
}

/// An original's current version, ready for verification against candidates.
///
/// # Errors
/// [`IngestError`] when the store cannot be read.
pub fn original_document(
    store: &Store,
    id: i64,
    boilerplate: &Boilerplate,
) -> Result<Option<(crate::store::OriginalRecord, Document)>, IngestError> {
    Ok(store
        .find_original(&crate::store::OriginalKey::Id(id))?
        .map(|record| {
            let doc = Document::new(record.title.clone(), record.text.clone())
                .with_boilerplate(boilerplate);
            (record, doc)
        }))
}

/// Store ids address the in-memory index as `u32`; the marker value `u32::MAX` is kept
/// out of range.
fn index_id(id: i64) -> Result<u32, IngestError> {
    u32::try_from(id)
        .ok()
        .filter(|&v| v < u32::MAX)
        .ok_or(IngestError::IdOutOfRange { id })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LocalKind {
    Html,
    Text,
}

fn local_kind(path: &Path) -> Option<LocalKind> {
    match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "html" | "htm" => Some(LocalKind::Html),
        "txt" => Some(LocalKind::Text),
        _ => None,
    }
}

/// A local file: an HTML page for the preparer, or a plain-text article.
enum Local {
    Page(PageInput),
    /// `None` when the file holds no text.
    Text(Option<NewArticle>),
}

/// Reads one local file.
fn read_local(path: &Path) -> Result<Local, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.len() > MAX_LOCAL_FILE_BYTES {
        return Err(format!("larger than {MAX_LOCAL_FILE_BYTES} bytes"));
    }
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let absolute = std::fs::canonicalize(path).map_err(|e| e.to_string())?;
    let file_url = Url::from_file_path(&absolute)
        .map_err(|()| format!("cannot make a file:// URL of {}", absolute.display()))?;
    let source = path.display().to_string();
    Ok(match local_kind(path) {
        Some(LocalKind::Html) => Local::Page(PageInput {
            url: file_url,
            bytes,
            content_type: None,
            source,
            link: None,
        }),
        _ => {
            let extracted = extract::from_text(&bytes);
            Local::Text(build_article(
                file_url,
                source,
                extracted,
                meta::PageMeta::default(),
                None,
            ))
        }
    })
}

/// Lower-case hex SHA-256 of a text's UTF-8 bytes.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Turns an extracted page into a fingerprinted article; `None` when it has no text.
pub fn build_article(
    url: Url,
    source: String,
    extracted: extract::Extracted,
    page_meta: meta::PageMeta,
    link: Option<&ArticleLink>,
) -> Option<NewArticle> {
    if extracted.text.trim().is_empty() {
        return None;
    }
    let title = if extracted.title.trim().is_empty() {
        link.and_then(|l| l.title.clone()).unwrap_or_default()
    } else {
        extracted.title
    };
    let extraction = extracted.method.as_str().to_string();
    let page_chars = i64::try_from(extracted.page_chars).unwrap_or(i64::MAX);
    let doc = Document::new(title, extracted.text);
    Some(NewArticle {
        extraction,
        page_chars,
        suspect: None,
        url: url.to_string(),
        published: page_meta.published.or(link.and_then(|l| l.published)),
        author: page_meta.author.or(link.and_then(|l| l.author.clone())),
        source,
        text_sha256: sha256_hex(&doc.text),
        simhash: doc.fingerprint.whole,
        segments: doc.fingerprint.segments.clone(),
        anchors: doc.fingerprint.anchors.clone(),
        sentence_hashes: crate::boilerplate::sentences(&doc.text)
            .into_iter()
            .map(|s| s.hash)
            .collect(),
        title: doc.title,
        text: doc.text,
    })
}
