//! The archive index shared by every `copyhound worker` on a machine: built once per
//! change of the originals into a file, then memory-mapped by each worker, so ten
//! workers cost one index in the page cache and one load from the store, not ten.
//!
//! The file for store generation `g` (the change counter, [`Store::archive_generation`])
//! is `archive-k<max distance>-g<g>.idx` in `[index] dir`. A worker that finds it maps
//! it; one that does not takes an exclusive `flock` on `archive.lock` in that folder,
//! looks again (another worker may have built it while it waited), and otherwise loads
//! the index from the store as [`super::load_archive`] does, writes it under a temporary
//! name, syncs it and renames it into place, removes the files of older generations, and
//! maps the new file. A file that fails validation ([`crate::index::image::read`]:
//! truncated, damaged, another format) is refused with a warning naming it and why, and
//! rebuilt in its place.
//!
//! Architecture invariant: a published file is never written again. It appears whole by
//! `rename`, and goes only by `rename` over it or `unlink`, both of which leave a map of
//! the old file intact; so a worker's map never changes under it.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{load_archive, Archive, IngestError};
use crate::boilerplate::Boilerplate;
use crate::config::Settings;
use crate::index::archive::ArchiveIndex;
use crate::index::image::{self, ImageError};
use crate::index::SharedBytes;
use crate::store::Store;

/// Why the index file could not be used or made.
#[derive(Debug, thiserror::Error)]
pub enum MappedError {
    /// Reading, writing, locking or mapping failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The file is not a valid index image.
    #[error("{}: refused: {source}", path.display())]
    Image {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: ImageError,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MappedError + '_ {
    move |source| MappedError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The file name for generation `generation` at maximum distance `k`.
pub fn file_name(k: u32, generation: i64) -> String {
    format!("archive-k{k}-g{generation}.idx")
}

/// Maps the index file at `path` and validates it: the index (its arrays viewing the
/// map) and the generation it was built at.
///
/// # Errors
/// [`MappedError::Io`] when the file cannot be opened or mapped (`NotFound` when it does
/// not exist); [`MappedError::Image`] when its contents are not a valid index.
pub fn open(path: &Path) -> Result<(ArchiveIndex, i64), MappedError> {
    let file = File::open(path).map_err(io(path))?;
    // SAFETY: the map is read-only, and the file is never written after it is published
    // (see the module's invariant): it is renamed into place whole and only ever
    // replaced by another rename or removed, neither of which changes mapped pages. A
    // person editing the file in place would break that; the checksum then refuses it at
    // the next start, but a running worker could read torn data (wrong candidates, never
    // memory unsafety beyond the map: every index into it is bounds-checked).
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io(path))?;
    let bytes: SharedBytes = Arc::new(map);
    image::read(&bytes).map_err(|source| MappedError::Image {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `index` as the file for `generation` in `dir` (under a temporary name, synced,
/// then renamed into place) and returns its path. The caller holds the folder's lock.
///
/// # Errors
/// [`MappedError::Io`] when the folder cannot be written.
pub fn publish(
    dir: &Path,
    index: &mut ArchiveIndex,
    k: u32,
    generation: i64,
) -> Result<PathBuf, MappedError> {
    let path = dir.join(file_name(k, generation));
    let temp = dir.join(format!(
        "{}.tmp.{}",
        file_name(k, generation),
        std::process::id()
    ));
    let file = File::create(&temp).map_err(io(&temp))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    image::write(index, generation, &mut out).map_err(|e| match e {
        ImageError::Write(source) => MappedError::Io {
            path: temp.clone(),
            source,
        },
        source => MappedError::Image {
            path: temp.clone(),
            source,
        },
    })?;
    let file = out.into_inner().map_err(|e| MappedError::Io {
        path: temp.clone(),
        source: e.into_error(),
    })?;
    file.sync_all().map_err(io(&temp))?;
    drop(file);
    std::fs::rename(&temp, &path).map_err(io(&path))?;
    // The rename is durable once the folder is synced; a crash before then loses only
    // the new file, which the next worker rebuilds.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(path)
}

/// Removes the files of other generations at distance `k` (older ones, and temporary
/// files left by a builder that died), keeping `keep`. Workers still mapping a removed
/// file keep their map. The caller holds the folder's lock.
fn remove_stale(dir: &Path, k: u32, keep: &Path) {
    let prefix = format!("archive-k{k}-g");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&prefix) && path != keep {
            if let Err(err) = std::fs::remove_file(&path) {
                tracing::warn!(file = %path.display(), error = %err, "cannot remove an old index file");
            }
        }
    }
}

/// An exclusive `flock` on `dir/archive.lock`, held until dropped.
struct FolderLock {
    _file: File,
}

impl FolderLock {
    fn take(dir: &Path) -> Result<FolderLock, MappedError> {
        let path = dir.join("archive.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        use std::os::fd::AsRawFd;
        loop {
            // SAFETY: flock(2) on a descriptor this function owns for the lock's lifetime.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if rc == 0 {
                return Ok(FolderLock { _file: file });
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(MappedError::Io { path, source: err });
            }
        }
    }
}

/// The archive with its index mapped from the machine's shared file (see the module
/// header), building the file first when no valid one exists for the store's current
/// generation.
///
/// # Errors
/// [`IngestError`] when the store cannot be read or the folder cannot be written.
pub fn load(store: &Store, settings: &Settings, dir: &Path) -> Result<Archive, IngestError> {
    std::fs::create_dir_all(dir).map_err(|e| IngestError::Mapped(io(dir)(e)))?;
    let k = settings.index.max_distance;
    let generation = store.archive_generation()?;
    let path = dir.join(file_name(k, generation));
    let (index, generation) = match open_current(&path, generation) {
        Some(found) => found,
        None => {
            let _lock = FolderLock::take(dir)?;
            match open_current(&path, generation) {
                // Built by another worker while this one waited for the lock.
                Some(found) => found,
                None => build(store, settings, dir)?,
            }
        }
    };
    let boilerplate =
        Boilerplate::new(store.frequent_sentences(settings.originals.boilerplate_min_originals)?);
    Ok(Archive {
        index,
        boilerplate,
        generation,
    })
}

/// The file at `path` when it exists, is valid and is stamped `generation`; a file that
/// exists but is refused is logged (the caller then rebuilds it).
fn open_current(path: &Path, generation: i64) -> Option<(ArchiveIndex, i64)> {
    match open(path) {
        Ok((index, stamped)) if stamped == generation => Some((index, stamped)),
        Ok((_, stamped)) => {
            tracing::warn!(file = %path.display(), stamped, generation, "index file stamped with another generation; rebuilding it");
            None
        }
        Err(MappedError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            None
        }
        Err(err) => {
            tracing::warn!(error = %err, "index file refused; rebuilding it");
            None
        }
    }
}

/// Loads the index from the store, publishes it, and maps the published file.
fn build(
    store: &Store,
    settings: &Settings,
    dir: &Path,
) -> Result<(ArchiveIndex, i64), IngestError> {
    let started = std::time::Instant::now();
    let mut archive = load_archive(store, settings)?;
    let k = settings.index.max_distance;
    let path = publish(dir, &mut archive.index, k, archive.generation)?;
    drop(archive.index);
    remove_stale(dir, k, &path);
    let mapped = open(&path)?;
    tracing::info!(
        file = %path.display(),
        generation = mapped.1,
        seconds = started.elapsed().as_secs_f64(),
        "index file built"
    );
    Ok(mapped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Document;
    use crate::fingerprint::Fingerprint;

    /// Articles of ten paragraphs from the shared corpus, or `None` (skipped) without it.
    fn corpus(count: usize) -> Option<Vec<Fingerprint>> {
        let articles = crate::detect::testdata::prose_articles(10, count)?;
        Some(
            articles
                .into_iter()
                .map(|text| Document::new(String::new(), text).fingerprint)
                .collect(),
        )
    }

    fn built(articles: &[Fingerprint]) -> ArchiveIndex {
        let mut segments = Vec::new();
        let mut anchors = Vec::new();
        for (i, fp) in articles.iter().enumerate() {
            let id = i as u32 + 1;
            segments.extend(crate::index::archive::fingerprint_rows(fp).map(|(h, _)| (h, id)));
            anchors.extend(fp.anchors.iter().map(|&a| (a, id)));
            // A common anchor in every original, collapsed by the index.
            anchors.push((7, id));
        }
        ArchiveIndex::build(3, segments, anchors).unwrap()
    }

    /// A query that is a lightly edited excerpt of `fp`'s text is not available here, so
    /// queries are the articles' own fingerprints with bits flipped: within and beyond
    /// the radius.
    fn queries(articles: &[Fingerprint]) -> Vec<Fingerprint> {
        articles
            .iter()
            .enumerate()
            .map(|(i, fp)| {
                let mut q = fp.clone();
                for (j, s) in q.segments.iter_mut().enumerate() {
                    s.simhash ^= (1u64 << ((i + j) % 64)) | (1u64 << ((i * 7 + j) % 64));
                }
                q.anchors.truncate(q.anchors.len() / 2);
                q
            })
            .collect()
    }

    #[test]
    fn the_mapped_index_answers_as_the_in_memory_one() {
        let Some(articles) = corpus(400) else { return };
        let dir = tempfile::tempdir().unwrap();
        let mut memory = built(&articles);
        // Incremental inserts too, so `publish` must fold them in.
        let extra = corpus(420).unwrap().split_off(400);
        for (i, fp) in extra.iter().enumerate() {
            memory.insert(1000 + i as u32, fp).unwrap();
        }
        let mut to_write = built(&articles);
        for (i, fp) in extra.iter().enumerate() {
            to_write.insert(1000 + i as u32, fp).unwrap();
        }
        let path = publish(dir.path(), &mut to_write, 3, 41).unwrap();
        assert_eq!(path.file_name().unwrap(), "archive-k3-g41.idx");
        let (mut mapped, generation) = open(&path).unwrap();
        assert_eq!(generation, 41);
        assert_eq!(mapped.len(), memory.len());
        assert!(mapped.memory_bytes() < memory.memory_bytes() / 10);
        let all: Vec<Fingerprint> = articles.iter().chain(&extra).cloned().collect();
        let mut found = 0;
        for q in all.iter().chain(&queries(&all)) {
            let a = memory.lookup(q);
            assert_eq!(mapped.lookup(q), a);
            assert_eq!(mapped.any_anchor(&q.anchors), memory.any_anchor(&q.anchors));
            found += usize::from(!a.is_empty());
        }
        assert!(found > all.len(), "the queries find their originals");
        // A mapped index still takes inserts (copying what it changes), and a compaction
        // rewrites its mapped tables into memory of its own.
        let late = &extra[0];
        mapped.insert(5000, late).unwrap();
        memory.insert(5000, late).unwrap();
        mapped.compact();
        memory.compact();
        assert_eq!(mapped.lookup(late), memory.lookup(late));
        assert!(mapped.lookup(late).iter().any(|c| c.original == 5000));
    }

    #[test]
    fn a_damaged_or_truncated_file_is_refused_by_name() {
        let Some(articles) = corpus(50) else { return };
        let dir = tempfile::tempdir().unwrap();
        let path = publish(dir.path(), &mut built(&articles), 3, 9).unwrap();
        let good = std::fs::read(&path).unwrap();
        let refused = |bytes: &[u8]| {
            std::fs::write(&path, bytes).unwrap();
            match open(&path) {
                Err(e @ MappedError::Image { .. }) => e.to_string(),
                Err(e) => panic!("not an image error: {e}"),
                Ok(_) => panic!("accepted a bad file"),
            }
        };
        let name = path.display().to_string();
        let cut = refused(&good[..good.len() - 100]);
        assert!(
            cut.starts_with(&format!("{name}: refused: truncated: ")),
            "{cut}"
        );
        assert!(refused(&good[..10]).contains("truncated: 10 bytes where 64"));
        assert!(refused(&[]).contains("truncated: 0 bytes"));
        let mut flipped = good.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x10;
        assert!(refused(&flipped).ends_with("checksum mismatch: the file is damaged"));
        let mut longer = good.clone();
        longer.extend([0u8; 8]);
        assert!(refused(&longer).contains("where the header says"));
        let mut magic = good.clone();
        magic[0] = b'X';
        assert!(refused(&magic).ends_with("not a copyhound index file (bad magic)"));
        let mut version = good.clone();
        version[8] = 99;
        assert!(
            refused(&version).ends_with("index format version 99, this copyhound reads version 1")
        );
        // A bad layout behind a valid checksum: the header is not summed, so change the
        // table count alone.
        let mut layout = good.clone();
        layout[20] = 0;
        assert!(
            refused(&layout).contains("invalid layout"),
            "{}",
            refused(&layout)
        );
        std::fs::write(&path, &good).unwrap();
        assert!(open(&path).is_ok());
    }

    #[test]
    fn workers_build_the_file_once_and_rebuild_a_damaged_one() {
        let dir = tempfile::tempdir().unwrap();
        let settings = crate::config::Settings::parse(
            "[outlet]\nname = \"T\"\nwebsite = \"https://news.example.com\"\naddress = \"A\"\n[storage]\ndir = \"state\"\n",
            dir.path(),
        )
        .unwrap();
        let mut store = Store::open_dir(&settings.storage.dir).unwrap();
        let doc = Document::new(
            "t".into(),
            "滨江湿地公园生态修复工程通过竣工验收，修复后的湿地面积达到一千二百六十亩，比工程开工前扩大近四成。".into(),
        );
        let article = crate::store::NewArticle {
            url: "https://news.example.com/a".into(),
            title: doc.title.clone(),
            published: None,
            author: None,
            source: "test".into(),
            text_sha256: super::super::sha256_hex(&doc.text),
            text: doc.text.clone(),
            simhash: doc.fingerprint.whole,
            segments: doc.fingerprint.segments.clone(),
            anchors: doc.fingerprint.anchors.clone(),
            sentence_hashes: Vec::new(),
            extraction: "plain-text".into(),
            page_chars: 0,
            suspect: None,
        };
        store.upsert_original(&article, chrono::Utc::now()).unwrap();
        let folder = dir.path().join("index");
        let first = load(&store, &settings, &folder).unwrap();
        let path = folder.join(file_name(3, first.generation));
        let built = std::fs::metadata(&path).unwrap().modified().unwrap();
        assert!(first.index.lookup(&doc.fingerprint)[0].original == 1);
        // A second worker maps the same file: nothing is rebuilt.
        let second = load(&store, &settings, &folder).unwrap();
        assert_eq!(second.generation, first.generation);
        assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), built);
        // A damaged file is refused and rebuilt in its place.
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let third = load(&store, &settings, &folder).unwrap();
        assert_eq!(third.index.lookup(&doc.fingerprint)[0].original, 1);
        assert!(open(&path).is_ok());
        // A change to the originals makes a new file and removes the old one.
        let mut changed = article.clone();
        changed.url = "https://news.example.com/b".into();
        store.upsert_original(&changed, chrono::Utc::now()).unwrap();
        let fourth = load(&store, &settings, &folder).unwrap();
        assert_eq!(fourth.generation, first.generation + 1);
        assert!(!path.exists());
        assert!(folder.join(file_name(3, fourth.generation)).exists());
    }
}
