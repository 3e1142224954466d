//! Web archive files' progress (migration 9): which files `scan-warc` finished, and how
//! far it got in the others, so a rerun skips the first and resumes the second.

use crate::store::sql::{params, OptionalExtension};
use chrono::{DateTime, Utc};

use super::{timestamp, Store, StoreError};

/// How far a scan of one file got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarcFileProgress {
    /// Scanned to its end.
    pub done: bool,
    /// Records read up to `resume_offset`.
    pub records: u64,
    /// Byte offset in the file where reading can start again.
    pub resume_offset: u64,
}

impl Store {
    /// The progress recorded for `source` (a file's path or URL as given), if any.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn warc_file_progress(&self, source: &str) -> Result<Option<WarcFileProgress>, StoreError> {
        self.conn
            .query_row(
                "SELECT state, records, resume_offset FROM warc_files WHERE source = ?1",
                params![source],
                |r| {
                    Ok(WarcFileProgress {
                        done: r.get::<_, String>(0)? == "done",
                        records: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                        resume_offset: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                    })
                },
            )
            .optional()
            .map_err(|source| self.sqlite_error(source))
    }

    /// Records that `source` is being scanned from `resume_offset` with `records` read
    /// before it (a new scan: 0 and 0; a rescan of a finished file starts over).
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written.
    pub fn warc_file_checkpoint(
        &mut self,
        source: &str,
        records: u64,
        resume_offset: u64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let now = timestamp(now);
        self.conn
            .execute(
                "INSERT INTO warc_files (source, state, records, resume_offset, started_at, updated_at)
                 VALUES (?1, 'scanning', ?2, ?3, ?4, ?4)
                 ON CONFLICT (source) DO UPDATE SET state = 'scanning', records = ?2,
                   resume_offset = ?3, updated_at = ?4, finished_at = NULL",
                params![
                    source,
                    i64::try_from(records).unwrap_or(i64::MAX),
                    i64::try_from(resume_offset).unwrap_or(i64::MAX),
                    now
                ],
            )
            .map(|_| ())
            .map_err(|source| self.sqlite_error(source))
    }

    /// Records that `source` was scanned to its end, `records` records in all.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written.
    pub fn warc_file_done(
        &mut self,
        source: &str,
        records: u64,
        end: u64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let now = timestamp(now);
        self.conn
            .execute(
                "INSERT INTO warc_files (source, state, records, resume_offset, started_at, updated_at, finished_at)
                 VALUES (?1, 'done', ?2, ?3, ?4, ?4, ?4)
                 ON CONFLICT (source) DO UPDATE SET state = 'done', records = ?2,
                   resume_offset = ?3, updated_at = ?4, finished_at = ?4",
                params![
                    source,
                    i64::try_from(records).unwrap_or(i64::MAX),
                    i64::try_from(end).unwrap_or(i64::MAX),
                    now
                ],
            )
            .map(|_| ())
            .map_err(|source| self.sqlite_error(source))
    }

    pub(super) fn sqlite_error(&self, source: crate::store::sql::Error) -> StoreError {
        StoreError::Db {
            path: self.path.clone(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_moves_forward_and_a_rescan_starts_over() {
        crate::store::testdb::on_both(|| {
            let dir = tempfile::tempdir().unwrap();
            let mut store = crate::store::testdb::open(dir.path()).unwrap();
            let now = Utc::now();
            assert_eq!(store.warc_file_progress("a.warc.gz").unwrap(), None);
            store
                .warc_file_checkpoint("a.warc.gz", 10, 4096, now)
                .unwrap();
            assert_eq!(
                store.warc_file_progress("a.warc.gz").unwrap(),
                Some(WarcFileProgress {
                    done: false,
                    records: 10,
                    resume_offset: 4096
                })
            );
            store.warc_file_done("a.warc.gz", 25, 9000, now).unwrap();
            assert!(store.warc_file_progress("a.warc.gz").unwrap().unwrap().done);
            store.warc_file_checkpoint("a.warc.gz", 0, 0, now).unwrap();
            let p = store.warc_file_progress("a.warc.gz").unwrap().unwrap();
            assert!(!p.done && p.records == 0 && p.resume_offset == 0);
        });
    }
}
