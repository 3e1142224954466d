//! The examination stage: one page, however it arrived (the crawler, `scan`, a WARC
//! record of a web archive), is examined and recorded here by the same code.
//!
//! [`Detector`] holds what examination needs: the archive's index and boilerplate, the
//! detection thresholds, the outlet's own site and URLs (never matched against
//! themselves), the licensed and ignored site lists (config plus the reviewers' lists
//! from the store), a bounded cache of prepared originals, and the evidence stage's
//! settings. [`Detector::examine`] extracts a page, looks it up in the archive and
//! verifies each candidate original; [`record`] writes its matches, each new one with
//! its evidence file and its queued alerts, in one transaction
//! (`Store::record_matches_with`).
//!
//! Keeping this stage in one place is what makes a match mean the same thing whichever
//! way its page arrived: the same site lists, the same own-site exclusion, the same
//! one-transaction recording, the same counts.
//!
//! This module never fetches (its callers do) and never speaks SQL (the store does).
//! Crawled strings reach logs only through [`sanitize`].

pub mod prefilter;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::Utc;
use url::Url;

use crate::config::Settings;
use crate::crawl::fetch::Capture;
use crate::crawl::sanitize;
use crate::crawl::urls::{dedupe_key, host_key, normalize, DomainSet, UrlRules};
use crate::detect::{compare, Comparison, DetectParams, Document, Verdict};
use crate::evidence::{
    ArchiveFacts, ArchivedRecord, CopyFacts, MatchFacts, OriginalFacts, WarcInfo,
};
use crate::notify::report::EvidenceRef;
use crate::originals::{load_archive, Archive, IngestError};
use crate::store::{
    ArchiveRef, MatchEvidence, MatchOutcome, NewMatch, OriginalKey, SiteList, SiteListEntry, Store,
    StoreError,
};

/// Why the examination stage could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ExamineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Archive(#[from] IngestError),
}

/// Originals kept prepared (normalised, fingerprinted) in memory: the ones copied most
/// are looked up again and again, and preparing one costs as much as a page.
pub const ORIGINAL_CACHE_SIZE: usize = 512;

/// An original prepared for verification.
#[derive(Debug)]
pub struct Original {
    pub id: i64,
    /// The version prepared (the current one when it was loaded).
    pub version: i64,
    pub url: String,
    pub title: String,
    pub doc: Document,
}

/// A bounded map of prepared originals, least recently used out first.
struct OriginalCache {
    /// Its own connection: the crawl loop's store is busy writing, and readers do not
    /// block the writer in WAL mode.
    store: Store,
    entries: HashMap<i64, (Arc<Original>, u64)>,
    tick: u64,
}

impl OriginalCache {
    fn get(
        &mut self,
        id: i64,
        boilerplate: &crate::boilerplate::Boilerplate,
    ) -> Result<Option<Arc<Original>>, StoreError> {
        self.tick += 1;
        let tick = self.tick;
        if let Some((original, used)) = self.entries.get_mut(&id) {
            *used = tick;
            return Ok(Some(Arc::clone(original)));
        }
        let Some(record) = self.store.find_original(&OriginalKey::Id(id))? else {
            return Ok(None);
        };
        let doc = Document::new(record.title.clone(), record.text).with_boilerplate(boilerplate);
        let original = Arc::new(Original {
            id,
            version: record.version,
            url: record.url,
            title: record.title,
            doc,
        });
        if self.entries.len() >= ORIGINAL_CACHE_SIZE {
            if let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| *k)
            {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(id, (Arc::clone(&original), tick));
        Ok(Some(original))
    }
}

/// One candidate original compared with a page.
#[derive(Debug, Clone)]
pub struct Finding {
    pub original: Arc<Original>,
    pub comparison: Comparison,
}

/// What detection made of one page.
#[derive(Debug, Clone, Default)]
pub struct Examination {
    /// The page's extracted title.
    pub title: String,
    /// What a licence check needs of the page (its texts and links), gathered only
    /// for a page on a site some licence covers.
    pub licence_page: Option<crate::licences::CopyPage>,
    /// Every candidate compared, best first (copy before partial before unrelated, then
    /// by containment).
    pub findings: Vec<Finding>,
    /// The page rendered in the evidence browser (`[evidence] browser`), when it was
    /// rendered: its screenshots and print go into each new match's evidence file.
    pub rendering: Option<Arc<crate::evidence::browser::Rendering>>,
}

impl Examination {
    /// The best finding, if any candidate was compared.
    pub fn best(&self) -> Option<&Finding> {
        self.findings.first()
    }
}

/// The verdict as printed and stored.
pub fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Copy => "copy",
        Verdict::Partial => "partial",
        Verdict::Unrelated => "unrelated",
    }
}

fn rank(v: Verdict) -> u8 {
    match v {
        Verdict::Copy => 2,
        Verdict::Partial => 1,
        Verdict::Unrelated => 0,
    }
}

/// Detection against the archive, shared by all page tasks.
pub struct Detector {
    archive: Archive,
    params: DetectParams,
    /// `[crawl] licensed` and the reviewers' licensed list, as they were when the
    /// detector was loaded (each scan and each crawl cycle loads its own, so a list
    /// changed on the desk applies from the next one).
    licensed: DomainSet,
    /// The sites reviewers ignore: matches there are recorded `ignored`, alerting nobody.
    ignored: DomainSet,
    /// `[[licences]]` and the desk's licences: a copy on a site one covers is checked
    /// against it (and a licence outside its validity makes the copy an ordinary match,
    /// whatever the licensed lists say).
    licences: crate::licences::LicenceBook,
    /// The outlet's own website (its host without `www.`): never matched against itself.
    own_site: DomainSet,
    /// Frontier keys of the originals' URLs: a syndicated path to one of our own
    /// articles is not a copy of it.
    own_urls: HashSet<String>,
    rules: UrlRules,
    /// `[crawl] max_depth`: the depth a live capture of an archived copy is queued at,
    /// so the crawler fetches the page without following its links.
    live_depth: u32,
    originals: Mutex<OriginalCache>,
    /// What the evidence stage and the alerts need when a new match is recorded.
    evidence: EvidenceStage,
}

/// The settings the evidence stage and the alert queue need, taken once.
struct EvidenceStage {
    /// Where evidence files go: opened at each write, so the stage holds no client
    /// (a bucket's is shared by the process, see `evidence::place::Place::open`).
    storage: crate::config::Storage,
    info: WarcInfo,
    email: crate::config::EmailSettings,
    contacts: Vec<crate::config::Contact>,
    webhooks: Vec<crate::config::WebhookSettings>,
}

impl Detector {
    /// Loads the archive (index and boilerplate), the originals' URLs and the
    /// reviewers' site lists from `store`.
    ///
    /// # Errors
    /// [`ExamineError`] when the store cannot be read.
    pub fn load(store: &Store, settings: &Settings) -> Result<Detector, ExamineError> {
        Detector::with_archive(store, settings, load_archive(store, settings)?)
    }

    /// [`Detector::load`] with the index mapped from the machine's shared index file
    /// (`[index] dir`, see [`crate::originals::mapped`]), built first when it is missing
    /// or out of date: what a `copyhound worker` does.
    ///
    /// # Errors
    /// [`ExamineError`] when the store cannot be read or the index file cannot be made.
    pub fn load_mapped(store: &Store, settings: &Settings) -> Result<Detector, ExamineError> {
        let dir = settings.index.mapped_dir(&settings.storage);
        let archive = crate::originals::mapped::load(store, settings, &dir)?;
        Detector::with_archive(store, settings, archive)
    }

    /// The detector around an archive already loaded.
    fn with_archive(
        store: &Store,
        settings: &Settings,
        archive: Archive,
    ) -> Result<Detector, ExamineError> {
        // The binary's digest for the evidence's provenance, hashed before it is needed.
        crate::evidence::provenance::warm_up();
        let rules = UrlRules::from_settings(&settings.crawl);
        let own_urls = store
            .original_urls()?
            .iter()
            .filter_map(|u| Url::parse(u).ok())
            .filter_map(|u| normalize(&u, &rules).ok())
            .map(|u| dedupe_key(&u))
            .collect();
        let mut own_site = DomainSet::default();
        if let Some(host) = Url::parse(&settings.outlet.website)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
        {
            own_site.insert(host.strip_prefix("www.").unwrap_or(&host));
        }
        let licensed = reviewed_sites(
            settings.crawl.licensed.clone(),
            store.site_list(SiteList::Licensed)?,
        );
        let ignored = reviewed_sites(DomainSet::default(), store.site_list(SiteList::Ignored)?);
        let licences = licence_book(store, settings)?;
        Ok(Detector {
            archive,
            params: settings.detect.clone(),
            licensed,
            ignored,
            licences,
            own_site,
            own_urls,
            rules,
            live_depth: settings.crawl.max_depth,
            originals: Mutex::new(OriginalCache {
                store: store.location().open()?,
                entries: HashMap::new(),
                tick: 0,
            }),
            evidence: EvidenceStage {
                storage: settings.storage.clone(),
                info: WarcInfo::for_settings(settings),
                email: settings.email.clone(),
                contacts: settings.contacts.clone(),
                webhooks: settings.notify.webhooks.clone(),
            },
        })
    }

    /// The store's change counter as it was when this detector's archive was loaded
    /// (see [`Store::archive_generation`]).
    pub fn generation(&self) -> i64 {
        self.archive.generation
    }

    /// Segment fingerprints and anchor pairs in the archive's index.
    pub fn index_len(&self) -> (usize, usize) {
        self.archive.index.len()
    }

    /// The archive's boilerplate (learned frequent sentences and notice markers).
    pub fn boilerplate(&self) -> &crate::boilerplate::Boilerplate {
        &self.archive.boilerplate
    }

    /// Whether `url` is the outlet's own: on its website, or one of the originals' URLs.
    pub fn is_own(&self, url: &Url) -> bool {
        self.own_site.contains_url(url)
            || normalize(url, &self.rules).is_ok_and(|n| self.own_urls.contains(&dedupe_key(&n)))
    }

    /// Whether `url` is on a licensed partner's domain (or a subdomain).
    pub fn is_licensed(&self, url: &Url) -> bool {
        self.licensed.contains_url(url)
    }

    /// Whether `url` is on a site the reviewers ignore.
    pub fn is_ignored(&self, url: &Url) -> bool {
        self.ignored.contains_url(url)
    }

    /// Whether a page is worth examining at all: it shares an anchor with some original
    /// (see [`prefilter`]). Far cheaper than [`Detector::examine`]; a page rejected here
    /// would have no anchor candidate there.
    pub fn may_copy(&self, body: &[u8], content_type: Option<&str>) -> bool {
        prefilter::may_copy(&self.archive.index, body, content_type)
    }

    /// Extracts the page, looks it up and verifies each candidate original. CPU-bound:
    /// run it on the blocking pool.
    ///
    /// # Errors
    /// [`StoreError`] when an original cannot be read.
    pub fn examine(&self, capture: &Capture) -> Result<Examination, StoreError> {
        let licensed_site = self.licences.covers(&capture.final_url)
            || self.licences.covers(&capture.requested_url);
        let (extracted, licence_page) = if licensed_site {
            let (extracted, source) =
                crate::extract::extract_page(capture.body(), capture.content_type.as_deref());
            let page = copy_page(&extracted, &source, &capture.final_url, &self.rules);
            (extracted, Some(page))
        } else {
            let extracted =
                crate::extract::extract(capture.body(), capture.content_type.as_deref());
            (extracted, None)
        };
        let page = Document::new(extracted.title, extracted.text);
        let candidates = self.archive.index.lookup(&page.fingerprint);
        let mut findings = Vec::with_capacity(candidates.len());
        for c in candidates {
            let original = {
                // A panic while holding the lock leaves at worst a missing cache entry.
                let mut cache = self.originals.lock().unwrap_or_else(|e| e.into_inner());
                cache.get(i64::from(c.original), &self.archive.boilerplate)?
            };
            let Some(original) = original else { continue };
            let comparison = compare(&original.doc, &page, &self.params);
            findings.push(Finding {
                original,
                comparison,
            });
        }
        findings.sort_by(|a, b| {
            rank(b.comparison.verdict)
                .cmp(&rank(a.comparison.verdict))
                .then(
                    b.comparison
                        .containment
                        .total_cmp(&a.comparison.containment),
                )
                .then(a.original.id.cmp(&b.original.id))
        });
        Ok(Examination {
            title: page.title,
            licence_page,
            findings,
            rendering: None,
        })
    }

    /// The licences in force for this detector (config and desk).
    pub fn licences(&self) -> &crate::licences::LicenceBook {
        &self.licences
    }

    /// The check of a copy at `url`, captured on `captured_on`, of `original` (holding
    /// `share` of it) against the licence covering the site, if one does.
    pub fn licence_check(
        &self,
        url: &Url,
        page: &crate::licences::CopyPage,
        original: (&str, &str),
        share: f64,
        captured_on: chrono::NaiveDate,
    ) -> Option<(crate::store::NewLicenceCheck, crate::licences::Verdict)> {
        licence_check(
            &self.licences,
            &self.rules,
            url,
            page,
            original,
            share,
            captured_on,
        )
    }

    /// Whether recording `exam` would write a new evidence file (a new match, or the
    /// live capture an archived match waits for): only then is the page worth
    /// rendering in the evidence browser. Reads the store; run it on the blocking pool.
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot be read.
    pub fn wants_evidence(
        &self,
        capture: &Capture,
        exam: &Examination,
    ) -> Result<bool, StoreError> {
        let matches = self.matches(capture, exam);
        if matches.is_empty() {
            return Ok(false);
        }
        // The cache's connection: the crawl loop's is busy writing.
        let cache = self.originals.lock().unwrap_or_else(|e| e.into_inner());
        for m in &matches {
            if cache
                .store
                .match_wants_evidence(&m.copy_url, m.original_id)?
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The matches (copy or partial) of an examined page, ready to record.
    pub fn matches(&self, capture: &Capture, exam: &Examination) -> Vec<NewMatch> {
        let copy = normalize(&capture.final_url, &self.rules)
            .unwrap_or_else(|_| capture.final_url.clone());
        let listed =
            self.is_licensed(&capture.final_url) || self.is_licensed(&capture.requested_url);
        let ignored =
            self.is_ignored(&capture.final_url) || self.is_ignored(&capture.requested_url);
        let captured_on = capture.finished_at.date_naive();
        exam.findings
            .iter()
            .filter(|f| f.comparison.verdict != Verdict::Unrelated)
            .map(|f| {
                let check = exam.licence_page.as_ref().and_then(|page| {
                    let page = crate::licences::CopyPage {
                        title: exam.title.clone(),
                        ..page.clone()
                    };
                    self.licence_check(
                        &capture.final_url,
                        &page,
                        (&f.original.url, &f.original.title),
                        f.comparison.containment,
                        captured_on,
                    )
                });
                // A licence decides: within its validity the copy is the partner's;
                // outside it an ordinary match. Without one, the licensed lists do.
                let licensed = match &check {
                    Some((_, verdict)) => verdict.within_validity(),
                    None => listed,
                };
                (f, licensed, check.map(|(c, _)| c))
            })
            .map(|(f, licensed, licence_check)| NewMatch {
                copy_url: copy.to_string(),
                copy_host: host_key(&copy),
                original_id: f.original.id,
                verdict: f.comparison.verdict,
                containment: f.comparison.containment,
                coverage: f.comparison.coverage,
                copied_chars: f.comparison.copied_chars as u64,
                passages: f.comparison.passages.clone(),
                copy_title: exam.title.clone(),
                licensed,
                ignored,
                original_version: Some(f.original.version),
                archive: None,
                licence_check,
            })
            .collect()
    }
}

/// What an alert states of a licence check.
pub fn licence_facts(c: &crate::store::NewLicenceCheck) -> crate::evidence::LicenceFacts {
    crate::evidence::LicenceFacts {
        partner: c.partner.clone(),
        licence: c.licence.clone(),
        verdict: c.verdict.clone(),
        missing: c.missing.clone(),
    }
}

/// The config's and the desk's licences, with the outlet's default attributions.
///
/// # Errors
/// [`StoreError`] when the desk's licences cannot be read.
pub fn licence_book(
    store: &Store,
    settings: &Settings,
) -> Result<crate::licences::LicenceBook, StoreError> {
    let mut all = settings.licences.clone();
    all.extend(store.desk_licences()?.into_iter().map(|l| l.licence));
    Ok(crate::licences::LicenceBook::new(
        all,
        &settings.outlet.name,
    ))
}

/// What a licence check needs of a page: its main text, its whole text (tags
/// stripped) and its anchors normalised as the originals' URLs are.
pub fn copy_page(
    extracted: &crate::extract::Extracted,
    source: &str,
    final_url: &Url,
    rules: &UrlRules,
) -> crate::licences::CopyPage {
    crate::licences::CopyPage {
        main_text: extracted.text.clone(),
        page_text: prefilter::strip_tags(source),
        title: extracted.title.clone(),
        link_keys: crate::crawl::links::anchor_urls(source, final_url)
            .iter()
            .filter_map(|u| normalize(u, rules).ok())
            .map(|u| dedupe_key(&u))
            .collect(),
    }
}

/// [`Detector::licence_check`] on its parts, for callers without a detector
/// (`licences check` re-judges recorded captures).
pub fn licence_check(
    book: &crate::licences::LicenceBook,
    rules: &UrlRules,
    url: &Url,
    page: &crate::licences::CopyPage,
    (original_url, original_title): (&str, &str),
    share: f64,
    captured_on: chrono::NaiveDate,
) -> Option<(crate::store::NewLicenceCheck, crate::licences::Verdict)> {
    let licence = book.for_url(url, captured_on)?;
    let key = Url::parse(original_url)
        .ok()
        .and_then(|u| normalize(&u, rules).ok())
        .map(|u| dedupe_key(&u))
        .unwrap_or_default();
    let verdict = book.check(
        licence,
        page,
        crate::licences::Original {
            title: original_title,
            url_key: &key,
        },
        share,
        captured_on,
    );
    let check = crate::store::NewLicenceCheck {
        licence: licence.key(),
        partner: licence.partner.clone(),
        verdict: verdict.as_str().to_string(),
        missing: verdict
            .missing()
            .iter()
            .map(|m| m.as_str().to_string())
            .collect(),
    };
    Some((check, verdict))
}

/// `base` with the domains of a reviewers' site list added. The desk records a site as
/// its matches' `copy_host`, so an entry may carry a port (see
/// [`DomainSet::insert_host_key`]); otherwise it covers subdomains like the config's.
fn reviewed_sites(mut base: DomainSet, entries: Vec<SiteListEntry>) -> DomainSet {
    for entry in entries {
        base.insert_host_key(&entry.domain);
    }
    base
}

/// New matches recorded, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct MatchCounts {
    pub copy: usize,
    pub partial: usize,
    pub licensed: usize,
    /// On sites the reviewers ignore (counted here only, even when also licensed).
    pub ignored: usize,
    /// Alerts queued for these matches (one per role told), so the caller knows when
    /// to wake its outbox.
    #[serde(skip)]
    pub alerts: usize,
    /// Matches found in a web archive whose live capture (this page, fetched by
    /// copyhound) became their primary evidence.
    #[serde(skip)]
    pub live: usize,
}

impl MatchCounts {
    pub fn total(&self) -> usize {
        self.copy + self.partial + self.licensed + self.ignored
    }
}

/// Records the matches of an examined page and logs the new ones, counting them in
/// `counts`. Each new match's evidence file is written and its alerts queued in the
/// transaction that records it.
///
/// # Errors
/// [`StoreError`] when the store cannot be written; nothing of the page is recorded then.
pub fn record(
    store: &mut Store,
    detector: &Detector,
    capture: &Capture,
    exam: &Examination,
    counts: &mut MatchCounts,
) -> Result<(), StoreError> {
    record_from(store, detector, capture, exam, counts, None).map(|_| ())
}

/// [`record`] for a page that may come from a third party's web archive (`archived`):
/// its matches then carry where the record is, their evidence files keep the record
/// byte for byte, and a live capture of the page is queued in the crawler's frontier
/// (fetched through the guarded crawler by the next crawl cycle; when the page is still
/// online, that capture becomes the match's primary evidence). A first-party capture of
/// a page already matched from an archive is recorded as that live capture. Returns the
/// frontier key of the live capture queued, if one was (`scan-warc` fetches those at
/// its end unless told `--no-live`).
///
/// # Errors
/// As [`record`].
pub fn record_from(
    store: &mut Store,
    detector: &Detector,
    capture: &Capture,
    exam: &Examination,
    counts: &mut MatchCounts,
    archived: Option<&ArchivedRecord<'_>>,
) -> Result<Option<String>, StoreError> {
    let mut matches = detector.matches(capture, exam);
    if matches.is_empty() {
        return Ok(None);
    }
    let archive_ref = archived.map(|a| ArchiveRef {
        source: a.source.to_string(),
        offset: a.offset,
        length: a.length,
        record_id: a.record_id.map(str::to_string),
    });
    for m in &mut matches {
        m.archive.clone_from(&archive_ref);
    }
    // The facts each report and evidence file states, read before the transaction (the
    // originals' metadata comes from the store).
    let mut facts = matches
        .iter()
        .map(|m| match_facts(store, capture, m))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(a) = &archive_ref {
        for f in facts.iter_mut().flatten() {
            f.copy.archive = Some(ArchiveFacts {
                source: a.source.clone(),
                offset: a.offset,
                length: a.length,
                record_id: a.record_id.clone(),
                live_captured_at: None,
                archive_evidence_file: None,
            });
        }
    }
    // Every new match gets its evidence file; the alerts of one on an ignored site are
    // dropped by the store, which owns that rule (and so are not counted here).
    let mut alerts = 0;
    let outcomes = store.record_matches_with(capture, &matches, Utc::now(), &mut |i, id| {
        let evidence = match facts.get_mut(i).and_then(Option::as_mut) {
            Some(f) => {
                detector
                    .evidence
                    .for_new_match(capture, f, id, archived, exam.rendering.as_deref())
            }
            None => MatchEvidence::default(),
        };
        if matches.get(i).is_some_and(|m| !m.ignored) {
            alerts += evidence.alerts.len();
        }
        evidence
    })?;
    counts.alerts += alerts;
    let mut live_wanted = false;
    for (m, outcome) in matches.iter().zip(outcomes) {
        match outcome {
            MatchOutcome::New { id } => {
                live_wanted |= archived.is_some();
                if m.ignored {
                    counts.ignored += 1;
                } else if m.licensed {
                    counts.licensed += 1;
                } else if m.verdict == Verdict::Copy {
                    counts.copy += 1;
                } else {
                    counts.partial += 1;
                }
                tracing::info!(
                    id,
                    url = %sanitize(&m.copy_url),
                    original = m.original_id,
                    verdict = ?m.verdict,
                    containment = m.containment,
                    coverage = m.coverage,
                    copied_chars = m.copied_chars,
                    licensed = m.licensed,
                    ignored = m.ignored,
                    archived = archived.is_some(),
                    "match found"
                );
            }
            MatchOutcome::LiveCaptured { id } => {
                counts.live += 1;
                tracing::info!(id, url = %sanitize(&m.copy_url), "live capture of an archived copy is now its primary evidence");
            }
            // Seen again in an archive: the live capture may still be owed (a crash
            // after the match was recorded, or the page was down last time).
            MatchOutcome::Seen { .. } => live_wanted |= archived.is_some(),
            MatchOutcome::Ignored => {}
        }
    }
    if live_wanted {
        // Queued after the match's transaction: a crash in between leaves the match
        // with its archived evidence, and the next scan of the file queues it again.
        if let Some(entry) = crate::crawl::frontier::entry(
            &capture.final_url,
            detector.live_depth,
            None,
            &detector.rules,
        ) {
            store.enqueue_urls(std::slice::from_ref(&entry), Utc::now())?;
            return Ok(Some(entry.url_key));
        }
    }
    Ok(None)
}

/// What a report on `m` states, or `None` when its original vanished from the store.
fn match_facts(
    store: &Store,
    capture: &Capture,
    m: &NewMatch,
) -> Result<Option<MatchFacts>, StoreError> {
    // The version compared: the passages' offsets point into its text.
    let Some(original) =
        store.find_original_at(&OriginalKey::Id(m.original_id), m.original_version)?
    else {
        return Ok(None);
    };
    let (passages, passages_omitted) = MatchFacts::passages_from(&original.text, &m.passages);
    Ok(Some(MatchFacts {
        match_id: None,
        original: OriginalFacts::from(original),
        copy: CopyFacts {
            url: capture.final_url.to_string(),
            host: capture.final_url.host_str().unwrap_or_default().to_string(),
            ip: capture.remote_addr.map(|a| a.ip().to_string()),
            captured_at: crate::evidence::utc(capture.finished_at),
            title: m.copy_title.clone(),
            redirects: crate::evidence::RedirectFacts::of(capture),
            archive: None,
        },
        verdict: verdict_name(m.verdict).to_string(),
        containment: m.containment,
        coverage: Some(m.coverage),
        copied_chars: Some(m.copied_chars),
        licensed: m.licensed,
        passages,
        passages_omitted,
        escalation: None,
        case: None,
        licence: m.licence_check.as_ref().map(licence_facts),
    }))
}

impl EvidenceStage {
    /// Writes the evidence file of new match `id` and lists its alerts. A file that
    /// cannot be written is logged and the match recorded without it (the capture's
    /// bytes stay in the database); its alerts are still owed.
    fn for_new_match(
        &self,
        capture: &Capture,
        facts: &mut MatchFacts,
        id: i64,
        archived: Option<&ArchivedRecord<'_>>,
        rendering: Option<&crate::evidence::browser::Rendering>,
    ) -> MatchEvidence {
        facts.match_id = Some(id);
        let written = crate::evidence::place::Place::open(&self.storage)
            .map_err(crate::evidence::EvidenceError::from)
            .and_then(|place| {
                crate::evidence::write_bundle_with(
                    &place,
                    &self.info,
                    capture,
                    facts,
                    Utc::now(),
                    archived,
                    rendering,
                )
            });
        let file = match written {
            Ok(file) => Some(file),
            Err(e) => {
                tracing::error!(id, error = %e, "evidence file not written");
                None
            }
        };
        let evidence = file.as_ref().map(|f| EvidenceRef {
            file_name: f.file_name.clone(),
            sha256: f.sha256.clone(),
        });
        let alerts = match crate::notify::new_match_alerts(
            facts,
            evidence.as_ref(),
            &self.email,
            &self.contacts,
            &self.webhooks,
        ) {
            Ok(alerts) => alerts,
            Err(e) => {
                // Serialising plain strings and numbers does not fail; should it
                // ever, the match is still recorded and `matches list` shows it.
                tracing::error!(id, error = %e, "alerts not queued");
                Vec::new()
            }
        };
        MatchEvidence {
            evidence_file: file.as_ref().map(|f| f.file_name.clone()),
            evidence_sha256: file.map(|f| f.sha256),
            alerts,
        }
    }
}
