//! Storage: every table of one copyhound installation (the archive of originals, the
//! crawler's state, matches with their captures, decisions, cases, the alert outbox,
//! desk sessions, archive-scan progress), in one of two engines: the SQLite file under
//! `[storage] dir` (the default), or the PostgreSQL database of `[storage]
//! database_url`, which several processes on several machines share.
//!
//! This is the only module that speaks SQL. Other modules call typed functions and get
//! typed rows. Schema changes are numbered migrations in [`MIGRATIONS`], applied in order
//! inside a transaction and recorded in `PRAGMA user_version` (SQLite) or the
//! `schema_version` table (PostgreSQL, where the same list is translated by
//! [`pg::ddl`]); a database newer than this copyhound is refused on both.
//!
//! One store, two engines: the queries are written once, in SQL both understand
//! (standard SQL, `ON CONFLICT` upserts, `CASE` sums, flags tested as booleans), and run
//! through [`sql::Connection`], which translates placeholders and maps values; the few
//! constructs that differ (date arithmetic, two-argument `MIN`) branch on
//! [`sql::Connection::is_postgres`]. Every store test runs on both engines
//! ([`testdb::on_both`]), so they cannot drift apart.
//!
//! Why the `postgres` crate (the synchronous face of `tokio-postgres`) and not `sqlx`:
//! the store's API is synchronous and its callers already move it off the async
//! threads (`spawn_blocking`, a `Mutex<Store>` in the desk), and the code is written
//! against rusqlite's shape (`query_row`, `execute`, `params!`), which the synchronous
//! client matches one for one; `sqlx` would make the whole store async or wrap every
//! call in a runtime, and its checked query macros need a live database (or a
//! prepared offline cache) at build time for both engines, while its `Any` driver
//! gives up typed values. `postgres` builds in seconds with no build-time database,
//! is MIT/Apache-2.0 like `sqlx`, is maintained with `tokio-postgres`, and takes
//! rustls through `tokio-postgres-rustls` (no OpenSSL). Its one hazard, that it
//! blocks on a runtime of its own, is contained in [`sql::blocking`].
//!
//! Durability: SQLite runs in WAL mode with `synchronous = FULL`; PostgreSQL with its
//! own write-ahead log. Every multi-row change (an article version with its segments)
//! is one transaction. A crash at any point leaves either the whole change or none of
//! it: an article is durable once [`Store::upsert_original`] returns.
//!
//! Many processes, one truth: a write transaction holds SQLite's one write lock
//! (`BEGIN IMMEDIATE`) or, on PostgreSQL, one advisory lock ([`sql::WRITE_LOCK`]), so
//! read-then-write steps (is this match known? is this decision an escalation?) see
//! every other process's committed work; uniqueness (`copy_url`, `original_id`) is
//! also a constraint; the outbox's claims are conditional updates with a lease.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use sql::{params, Connection, OptionalExtension, Transaction};

mod alerts;
mod cases;
mod crawl;
mod dashboard;
mod licences;
mod matches;
pub(crate) mod pg;
mod queue;
mod review;
pub(crate) mod sql;
#[doc(hidden)]
pub mod testdb;
mod timestamps;
mod warc;

pub(crate) use alerts::role_name;
pub use alerts::{enqueue_alerts_in, AlertRecord, AlertState, Channel, NewAlert};
pub use cases::{CaseChange, CaseEvent, CaseRecord, NewCaseEvent};
pub use crawl::{
    ContentChange, CrawlBatch, FetchRecord, FrontierCounts, FrontierItem, FrontierState,
    FrontierUrl, HostRecord,
};
pub use dashboard::{
    status_of, Backlog, CaseFigures, Infringement, Removal, RemovalTime, SiteActivity, WeekCount,
    Window, WindowFigures, BACKLOG_AGE_DAYS, MAX_REPORT_INFRINGEMENTS, MAX_REPORT_REMOVALS,
    TOP_SITES,
};
pub use licences::{LicenceCheck, LicenceCounts, NewLicenceCheck, StoredLicence};
pub use matches::{
    ArchiveRef, CaptureRecord, MatchArchive, MatchDetail, MatchEvidence, MatchOutcome,
    MatchSummary, NewMatch, StoredPassage,
};
pub use pg::PgTarget;
pub use queue::{Claim, QueueCounts, QueueEntry, QueueStatus};
pub use review::{
    DecideOutcome, Decided, Decision, ExportPage, ExportRow, ListAddition, MatchFilter, MatchPage,
    NewDecision, ReviewStatus, SessionRecord, SiteCount, SiteList, SiteListEntry, SiteOverview,
    SortKey, MAX_SEARCH_CHARS,
};
pub use timestamps::{EvidenceTimestamp, StampedToken};
pub use warc::WarcFileProgress;

/// Name of the database file inside the state directory.
pub const DATABASE_FILE: &str = "copyhound.db";

/// How long a writer waits for another process's lock before giving up (for example a
/// `copyhound originals list` run while the daemon ingests).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Begins a write transaction that takes the write lock at once (`BEGIN IMMEDIATE`).
///
/// A deferred transaction that reads first and writes later cannot wait for the lock:
/// in WAL mode, when another connection (the daemon's outbox, the desk, a CLI command)
/// has written since the read began, SQLite answers "database is locked" at once rather
/// than let the busy timeout run, and the whole crawl batch or decision fails. Taking the
/// lock up front lets [`BUSY_TIMEOUT`] apply instead.
pub(crate) fn begin_write(conn: &mut Connection) -> sql::Result<Transaction<'_>> {
    conn.transaction()
}

/// The schema, one migration per entry; entry `i` brings the database to version `i + 1`.
/// Never edit a released migration: add a new one.
const MIGRATIONS: &[&str] = &[
    // 1: the archive of originals.
    r#"
    CREATE TABLE originals (
        id INTEGER PRIMARY KEY,
        url TEXT NOT NULL UNIQUE,
        -- When copyhound first had this article (RFC 3339, UTC): the proof that we held
        -- the original before any copy was captured.
        first_seen TEXT NOT NULL,
        current_version INTEGER NOT NULL
    );
    CREATE TABLE original_versions (
        id INTEGER PRIMARY KEY,
        original_id INTEGER NOT NULL REFERENCES originals(id),
        version INTEGER NOT NULL,
        title TEXT NOT NULL,
        published TEXT,
        author TEXT,
        -- Where the article came from: a feed, sitemap or local path.
        source TEXT NOT NULL,
        text TEXT NOT NULL,
        text_sha256 TEXT NOT NULL,
        simhash INTEGER NOT NULL,
        -- Winnowed anchor hashes, packed as little-endian u64: one blob per version
        -- loads far faster at start-up than one row per anchor.
        anchors BLOB NOT NULL,
        fetched_at TEXT NOT NULL,
        UNIQUE (original_id, version)
    );
    CREATE TABLE segments (
        version_id INTEGER NOT NULL REFERENCES original_versions(id),
        ordinal INTEGER NOT NULL,
        start_char INTEGER NOT NULL,
        end_char INTEGER NOT NULL,
        simhash INTEGER NOT NULL,
        PRIMARY KEY (version_id, ordinal)
    ) WITHOUT ROWID;
    -- How many originals contain each normalised sentence: sentences found in many
    -- originals (the anti-infringement notice, bylines) are boilerplate.
    CREATE TABLE sentence_docs (
        hash INTEGER PRIMARY KEY,
        docs INTEGER NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 2: the crawler's frontier, per-host politeness state and fetch history.
    r#"
    CREATE TABLE crawl_frontier (
        id INTEGER PRIMARY KEY,
        -- The normalised URL to fetch.
        url TEXT NOT NULL,
        -- crawl::urls::dedupe_key of the URL: one row per page, however it was spelled.
        url_key TEXT NOT NULL UNIQUE,
        -- crawl::urls::host_key: politeness and budgets apply per host.
        host TEXT NOT NULL,
        -- Hops from a seed, sitemap or feed (0).
        depth INTEGER NOT NULL,
        -- The page whose link led here (NULL for seeds).
        discovered_from TEXT,
        -- queued: waiting; fetching: claimed by a running crawl (back to queued at
        -- start-up, see Store::requeue_interrupted); done; failed: permanently.
        state TEXT NOT NULL DEFAULT 'queued'
            CHECK (state IN ('queued', 'fetching', 'done', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        -- Not fetched before this time (RFC 3339, UTC).
        next_fetch_at TEXT NOT NULL,
        added_at TEXT NOT NULL,
        last_error TEXT
    );
    CREATE INDEX crawl_frontier_due ON crawl_frontier (state, next_fetch_at);
    CREATE INDEX crawl_frontier_host ON crawl_frontier (host, state);
    CREATE TABLE crawl_hosts (
        host TEXT PRIMARY KEY,
        -- No request to the host before this time (delay, Retry-After or backoff).
        next_allowed_at TEXT,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        -- End of the current failure backoff, if the host is backing off.
        backoff_until TEXT,
        updated_at TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE crawl_fetches (
        id INTEGER PRIMARY KEY,
        url_key TEXT NOT NULL,
        url TEXT NOT NULL,
        -- After redirects; NULL when the fetch produced no body (304, errors).
        final_url TEXT,
        fetched_at TEXT NOT NULL,
        -- HTTP status; 0 when no response arrived (timeout, refused).
        status INTEGER NOT NULL,
        etag TEXT,
        last_modified TEXT,
        -- Lower-case hex SHA-256 of the decoded body, for 2xx fetches.
        content_sha256 TEXT
    );
    CREATE INDEX crawl_fetches_key ON crawl_fetches (url_key, id);
    "#,
    // 3: matches, the captures that prove them, and search discovery's progress.
    r#"
    -- The raw evidence of one fetch that produced at least one match, kept byte for byte
    -- so that the evidence stage can write a WARC record from it.
    CREATE TABLE captures (
        id INTEGER PRIMARY KEY,
        requested_url TEXT NOT NULL,
        -- After redirects: the URL that answered with the body.
        final_url TEXT NOT NULL,
        -- The redirects followed, as a JSON array of {url, status, location, at}.
        redirects TEXT NOT NULL,
        -- IP address (without port) the body came from; NULL if unknown.
        remote_ip TEXT,
        remote_port INTEGER,
        -- Request line and headers as sent, CRLF-separated.
        request_head BLOB NOT NULL,
        status INTEGER NOT NULL,
        -- Status line and headers as received, CRLF-separated.
        response_head BLOB NOT NULL,
        content_type TEXT,
        content_encoding TEXT,
        -- The body as received on the wire (before content decoding).
        raw_body BLOB NOT NULL,
        -- Lower-case hex SHA-256 of raw_body.
        raw_body_sha256 TEXT NOT NULL,
        -- Lower-case hex SHA-256 of the decoded body (equal to the above when the body
        -- was not content-encoded).
        body_sha256 TEXT NOT NULL,
        -- First request sent and last body byte received (RFC 3339, UTC, milliseconds).
        started_at TEXT NOT NULL,
        finished_at TEXT NOT NULL
    );
    CREATE TABLE matches (
        id INTEGER PRIMARY KEY,
        -- The copy's page, normalised (crawl::urls::normalize of the final URL).
        copy_url TEXT NOT NULL,
        copy_host TEXT NOT NULL,
        original_id INTEGER NOT NULL REFERENCES originals(id),
        verdict TEXT NOT NULL CHECK (verdict IN ('copy', 'partial')),
        -- Share of the original found in the copy, 0..1.
        containment REAL NOT NULL,
        -- detect::Passage list as JSON: offsets into both texts and the copied text.
        passages TEXT NOT NULL,
        copy_title TEXT NOT NULL,
        -- The capture that first produced this match (the evidence).
        capture_id INTEGER NOT NULL REFERENCES captures(id),
        -- When that capture finished (RFC 3339, UTC).
        captured_at TEXT NOT NULL,
        remote_ip TEXT,
        -- Found on a [crawl] licensed domain: a partner's licensed copy.
        licensed INTEGER NOT NULL,
        -- new: to review; licensed: on a licensed domain. Later stages add review states.
        status TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        -- One page copying one original is one match, however often it is seen again.
        UNIQUE (copy_url, original_id)
    );
    CREATE INDEX matches_status ON matches (status, id);
    CREATE INDEX matches_original ON matches (original_id);
    -- Originals already searched for through [discovery] searxng_url.
    CREATE TABLE discovery_searches (
        original_id INTEGER PRIMARY KEY REFERENCES originals(id),
        searched_at TEXT NOT NULL,
        results INTEGER NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 4: the mail outbox (see store::alerts), and each match's evidence file.
    r#"
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        -- The match this alert is about (NULL for alerts queued without one).
        match_id INTEGER,
        role TEXT NOT NULL CHECK (role IN ('legal', 'licensing')),
        -- The match as JSON (evidence::MatchFacts): the message is rendered from it at
        -- sending time, so an alert needs nothing else to be sent after a restart.
        facts TEXT NOT NULL,
        -- File name under [storage] dir/evidence and its SHA-256 (hex).
        evidence_file TEXT,
        evidence_sha256 TEXT,
        -- queued: waiting; sending: claimed by a worker until next_attempt_at (its
        -- lease); sent: accepted by the server; failed: refused permanently.
        state TEXT NOT NULL DEFAULT 'queued'
            CHECK (state IN ('queued', 'sending', 'sent', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        created_at TEXT NOT NULL,
        sent_at TEXT,
        -- The Message-ID of the email that carried it (one email may carry a digest of
        -- many alerts); kept across retries so a duplicate is recognisable.
        message_id TEXT,
        last_error TEXT
    );
    CREATE INDEX alerts_due ON alerts (role, state, next_attempt_at);
    CREATE INDEX alerts_sent ON alerts (role, state, sent_at);
    ALTER TABLE matches ADD COLUMN evidence_file TEXT;
    ALTER TABLE matches ADD COLUMN evidence_sha256 TEXT;
    "#,
    // 5: the review desk (see store::review): decisions with who and when, the licensed
    // domains and ignored sites reviewers add, and login sessions. A match's `status`
    // is now its latest decision; 'new' becomes 'unreviewed'.
    r#"
    UPDATE matches SET status = 'unreviewed' WHERE status = 'new';
    CREATE TABLE decisions (
        id INTEGER PRIMARY KEY,
        match_id INTEGER NOT NULL REFERENCES matches(id),
        -- unreviewed, infringing, licensed, false-positive or ignored.
        status TEXT NOT NULL,
        previous_status TEXT NOT NULL,
        note TEXT NOT NULL,
        -- Who decided: a [[web.users]] name, or the Unix user behind the CLI.
        actor TEXT NOT NULL,
        -- web, web-bulk, cli.
        via TEXT NOT NULL,
        decided_at TEXT NOT NULL,
        -- The id of the escalation alert this decision queued, if any.
        alert_id INTEGER
    );
    CREATE INDEX decisions_match ON decisions (match_id, id);
    -- The desk's queue reads one page of a large table: each order it offers has an
    -- index that yields rows already sorted, with and without the status filter, so a
    -- page costs its 50 rows rather than a sort of every match. (copy_host, status)
    -- covers the per-site counts and the bulk actions.
    DROP INDEX matches_status;
    CREATE INDEX matches_status_date ON matches (status, captured_at, id);
    CREATE INDEX matches_status_share ON matches (status, containment, id);
    CREATE INDEX matches_date ON matches (captured_at, id);
    CREATE INDEX matches_share ON matches (containment, id);
    CREATE INDEX matches_host ON matches (copy_host, status);
    -- The version of the original the copy was compared with (passage offsets point into
    -- its text); NULL for matches recorded before this column existed.
    ALTER TABLE matches ADD COLUMN original_version INTEGER;
    -- Domains reviewers declared licensed (on top of [crawl] licensed), and sites they
    -- chose to ignore. Rows are never deleted: they are the record of those decisions.
    CREATE TABLE site_lists (
        list TEXT NOT NULL CHECK (list IN ('licensed', 'ignored')),
        domain TEXT NOT NULL,
        added_by TEXT NOT NULL,
        added_at TEXT NOT NULL,
        -- The match whose review added it.
        match_id INTEGER,
        PRIMARY KEY (list, domain)
    ) WITHOUT ROWID;
    -- Review desk logins. Only a SHA-256 of the cookie's token is kept, so a copy of the
    -- database does not hand out sessions.
    CREATE TABLE web_sessions (
        token_sha256 TEXT PRIMARY KEY,
        user_name TEXT NOT NULL,
        csrf_token TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 6: the verdict from both sides (detect::Comparison): the share of the copy's text
    // that is copied, and the copied passages' length in characters of the original.
    // NULL for matches recorded before they were measured (never guessed afterwards).
    r#"
    ALTER TABLE matches ADD COLUMN coverage REAL;
    ALTER TABLE matches ADD COLUMN copied_chars INTEGER;
    "#,
    // 7: how each original's text was found, and site templates. `extraction` is the
    // extract::Method (`container`, `template`, `readability`, `selector`, `feed`,
    // `plain-text`); `page_chars` the page's readable characters; `suspect` why the text
    // looks truncated (NULL when it does not). A site's template is the lines that recur
    // across its pages: `site_template_pages` counts each page once, and
    // `site_template_lines` on how many of them each line hash occurs.
    r#"
    ALTER TABLE original_versions ADD COLUMN extraction TEXT NOT NULL DEFAULT 'container';
    ALTER TABLE original_versions ADD COLUMN page_chars INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE original_versions ADD COLUMN suspect TEXT;
    CREATE TABLE site_template_pages (
        host TEXT NOT NULL,
        url TEXT NOT NULL,
        PRIMARY KEY (host, url)
    ) WITHOUT ROWID;
    CREATE TABLE site_template_lines (
        host TEXT NOT NULL,
        hash INTEGER NOT NULL,
        pages INTEGER NOT NULL,
        PRIMARY KEY (host, hash)
    ) WITHOUT ROWID;
    "#,
    // 8: matches found in web archives (`scan-warc`). Where the archived record is, so
    // anyone can fetch it again by range: the WARC file's name or URL, the byte offset of
    // its record (of the record's gzip member) and its length (NULL when the record
    // shares a gzip member), and its WARC-Record-ID. When the crawler later captures the
    // live page, that first-party capture becomes the match's primary evidence
    // (`capture_id`, `evidence_file`) and the archived one moves to `archive_capture_id`
    // and `archive_evidence_file`; `live_captured_at` says when.
    r#"
    ALTER TABLE matches ADD COLUMN archive_source TEXT;
    ALTER TABLE matches ADD COLUMN archive_offset INTEGER;
    ALTER TABLE matches ADD COLUMN archive_length INTEGER;
    ALTER TABLE matches ADD COLUMN archive_record_id TEXT;
    ALTER TABLE matches ADD COLUMN archive_capture_id INTEGER REFERENCES captures(id);
    ALTER TABLE matches ADD COLUMN archive_evidence_file TEXT;
    ALTER TABLE matches ADD COLUMN archive_evidence_sha256 TEXT;
    ALTER TABLE matches ADD COLUMN live_captured_at TEXT;
    "#,
    // 9: web archive files' progress (`scan-warc`), so a rerun skips finished files and
    // a killed run resumes a file instead of redoing it. `resume_offset` is the byte
    // offset in the file where reading can start again: the end of the last record whose
    // matches were recorded and that ended a gzip member of its own (0 for whole-file
    // gzip, which cannot be entered mid-way). `records` counts the records read up to it.
    r#"
    CREATE TABLE warc_files (
        source TEXT PRIMARY KEY,
        state TEXT NOT NULL CHECK (state IN ('scanning', 'done')),
        records INTEGER NOT NULL DEFAULT 0,
        resume_offset INTEGER NOT NULL DEFAULT 0,
        started_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        finished_at TEXT
    );
    "#,
    // 10: chat and webhook channels in the outbox. Each row is now one alert owed to one
    // role on one channel: `email` (every row queued before, so pending emails carry on
    // as they were) or `webhook:NAME` for the `[[notify.webhooks]]` entry named NAME.
    // Each row keeps its own claim, lease, attempts and state, so a channel that fails
    // never holds up another, and each is delivered once.
    r#"
    ALTER TABLE alerts ADD COLUMN channel TEXT NOT NULL DEFAULT 'email';
    CREATE INDEX alerts_channel_due ON alerts (channel, state, next_attempt_at);
    "#,
    // 11: cases (see store::cases): one per infringing match, opened with the decision
    // that marked it. `state` is the latest step (the history is `case_events`, never
    // deleted). `notice_*` are the latest notice's date, channel and recipient (the
    // deadline runs from `notice_at`); `reminded_notice_at` is the notice a deadline
    // reminder was queued for, so a reminder goes out once per notice. `next_recheck_at`
    // is NULL until the first re-check is scheduled (the first offset after
    // `opened_at`) and after the case closes (unless it closed as removed: the copy is
    // then watched for its return).
    r#"
    CREATE TABLE cases (
        id INTEGER PRIMARY KEY,
        match_id INTEGER NOT NULL REFERENCES matches(id),
        state TEXT NOT NULL CHECK (state IN ('escalated', 'notice-sent', 'removed',
            'still-online', 'changed', 'escalated-further', 'closed')),
        opened_at TEXT NOT NULL,
        state_since TEXT NOT NULL,
        notice_at TEXT,
        notice_channel TEXT,
        notice_recipient TEXT,
        outcome TEXT CHECK (outcome IN ('removed', 'licensed-after-the-fact', 'settled',
            'dropped')),
        next_recheck_at TEXT,
        last_recheck_at TEXT,
        last_recheck_result TEXT,
        reminded_notice_at TEXT
    );
    -- At most one open case per match.
    CREATE UNIQUE INDEX cases_open_match ON cases (match_id) WHERE state != 'closed';
    CREATE INDEX cases_state ON cases (state, state_since);
    CREATE TABLE case_events (
        id INTEGER PRIMARY KEY,
        case_id INTEGER NOT NULL REFERENCES cases(id),
        -- opened: the decision that opened it (decision_id); step: counsel recorded a
        -- state; counter-notice: the copier answered; recheck: a re-check's result;
        -- decision: the match's review status changed away from infringing.
        kind TEXT NOT NULL CHECK (kind IN ('opened', 'step', 'counter-notice', 'recheck',
            'decision')),
        -- The case's state before and after (equal when the event did not move it).
        previous_state TEXT NOT NULL,
        state TEXT NOT NULL,
        -- When it happened (a notice's own date), and when it was recorded.
        at TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        actor TEXT NOT NULL,
        -- cli, web, recheck, daemon.
        via TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        channel TEXT,
        recipient TEXT,
        outcome TEXT,
        decision_id INTEGER REFERENCES decisions(id),
        -- A re-check: its result, the final HTTP status (NULL when none came), the
        -- containment found (NULL when the page no longer copies the original), the
        -- final URL, the error when unreachable, and its own evidence file.
        result TEXT CHECK (result IN ('still-online', 'partly-removed', 'removed',
            'unreachable')),
        http_status INTEGER,
        containment REAL,
        final_url TEXT,
        error TEXT,
        evidence_file TEXT,
        evidence_sha256 TEXT,
        -- The alert this event queued (a deadline reminder, a reappearance).
        alert_id INTEGER
    );
    CREATE INDEX case_events_case ON case_events (case_id, id);
    "#,
    // 12: the dashboard's and the monthly
    // report's aggregates (store::dashboard) read only these indexes, and the outbox
    // carries monthly reports. `matches_verdict_first_seen` serves new matches per week
    // and verdict; `matches_status_first_seen` new matches per status, the backlog and
    // its age; `matches_host_original` the copying sites (distinct originals per host).
    // `first_decided_at` is when the match's first decision was taken (set by
    // Store::decide, filled here from `decisions`), indexed for the time to decision.
    // An alert's `kind` is `match` (an alert about a match, as before) or `report` (a monthly report, with no match);
    // `unique_key` (such as `report:2026-11`) makes queueing it twice a no-op.
    r#"
    CREATE INDEX matches_verdict_first_seen ON matches (verdict, first_seen);
    CREATE INDEX matches_status_first_seen ON matches (status, first_seen);
    CREATE INDEX matches_host_original
        ON matches (copy_host, original_id, first_seen, status, licensed);
    ALTER TABLE matches ADD COLUMN first_decided_at TEXT;
    UPDATE matches SET first_decided_at =
        (SELECT decided_at FROM decisions WHERE match_id = matches.id ORDER BY id LIMIT 1);
    CREATE INDEX matches_first_decided ON matches (first_decided_at, first_seen);
    ALTER TABLE alerts ADD COLUMN kind TEXT NOT NULL DEFAULT 'match'
        CHECK (kind IN ('match', 'report'));
    ALTER TABLE alerts ADD COLUMN unique_key TEXT;
    CREATE UNIQUE INDEX alerts_unique_key ON alerts (unique_key)
        WHERE unique_key IS NOT NULL;
    "#,
    // 13: cases on the dashboard and in the monthly report (store::dashboard).
    // `removed_at` is the case's first removal (its first event into `removed`, or its
    // closing as `removed`) and `first_notice_at` its first notice, both kept by
    // Store::change_case (filled here from `case_events`), so a window's removals and
    // their times are one range of `cases_removed`. A window's cases opened, notices
    // sent and cases closed are ranges of `case_events_state`, which holds every column
    // they read.
    r#"
    ALTER TABLE cases ADD COLUMN removed_at TEXT;
    ALTER TABLE cases ADD COLUMN first_notice_at TEXT;
    UPDATE cases SET
        removed_at = (SELECT MIN(at) FROM case_events WHERE case_id = cases.id
                      AND (state = 'removed' OR (state = 'closed' AND outcome = 'removed'))),
        first_notice_at = (SELECT MIN(at) FROM case_events WHERE case_id = cases.id
                           AND kind = 'step' AND state = 'notice-sent');
    CREATE INDEX cases_removed ON cases (removed_at, opened_at, first_notice_at);
    CREATE INDEX case_events_state
        ON case_events (state, at, kind, outcome, previous_state);
    "#,
    // Trusted timestamps (store::timestamps, evidence::stamping): one row per evidence
    // file, queued when the file is first seen in `matches` or `case_events` and kept
    // `pending` until a time-stamp authority's token for its SHA-256 is had and checked.
    // `written_at` is when the file was written (the time in its name), `delay_seconds`
    // the token's genTime minus that; `token` is the DER TimeStampResp, the same bytes
    // as the `<file>.tsr` beside it; `attempts`, `next_attempt_at` and `last_error` drive
    // and explain the retries. `IF NOT EXISTS`: a database rolled back to an earlier
    // version (as the cases migration's test does) re-runs this harmlessly.
    r#"
    CREATE TABLE IF NOT EXISTS evidence_timestamps (
        id INTEGER PRIMARY KEY,
        file_name TEXT NOT NULL UNIQUE,
        sha256 TEXT NOT NULL,
        written_at TEXT NOT NULL,
        queued_at TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        last_error TEXT,
        tsa_url TEXT,
        token BLOB,
        gen_time TEXT,
        serial TEXT,
        tsa_name TEXT,
        delay_seconds INTEGER,
        stamped_at TEXT
    );
    CREATE INDEX IF NOT EXISTS evidence_timestamps_due ON evidence_timestamps (state, next_attempt_at);
    "#,
    // 15: licences (see store::licences). `licences` holds those added on the desk
    // (the config's live in the file; a desk licence is ended, never deleted); domains
    // and attribution forms are JSON arrays.
    // `licence_checks` is each licensed-site match's latest compliance check against
    // the licence named by `licence` (`config:PARTNER` or `desk:ID`): the verdict, what
    // is missing (comma-separated), and when licensing staff were alerted of its
    // noncompliance (set once, in the transaction that queues that alert).
    r#"
    CREATE TABLE IF NOT EXISTS licences (
        id INTEGER PRIMARY KEY,
        partner TEXT NOT NULL,
        domains TEXT NOT NULL,
        valid_from TEXT NOT NULL,
        valid_to TEXT,
        attribution INTEGER NOT NULL,
        attribution_forms TEXT NOT NULL,
        link_back INTEGER NOT NULL,
        title_unchanged INTEGER NOT NULL,
        scope TEXT NOT NULL CHECK (scope IN ('full', 'excerpt')),
        excerpt_max_share REAL NOT NULL,
        added_by TEXT NOT NULL,
        added_at TEXT NOT NULL,
        -- Ended on the desk: who, when (valid_to was then set to the day before).
        ended_by TEXT,
        ended_at TEXT
    );
    CREATE TABLE IF NOT EXISTS licence_checks (
        match_id INTEGER PRIMARY KEY REFERENCES matches(id),
        licence TEXT NOT NULL,
        partner TEXT NOT NULL,
        verdict TEXT NOT NULL
            CHECK (verdict IN ('compliant', 'noncompliant', 'expired', 'not-yet-valid')),
        missing TEXT NOT NULL DEFAULT '',
        checked_at TEXT NOT NULL,
        alerted_at TEXT
    );
    CREATE INDEX IF NOT EXISTS licence_checks_licence ON licence_checks (licence, verdict, match_id);
    "#,
    // The queue of archive files that `copyhound worker` processes share out
    // (`scan-warc --enqueue`). A file is `queued`, `leased` to one worker until
    // `lease_until` (the worker renews it while it scans), `done`, or `failed` with a
    // `reason` after `attempts` tries. How far a file got stays in `warc_files`, so a
    // file whose worker died is resumed by the next one from its last checkpoint.
    r#"
    CREATE TABLE IF NOT EXISTS warc_queue (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL CHECK (state IN ('queued', 'leased', 'done', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        worker TEXT,
        lease_until TEXT,
        reason TEXT,
        enqueued_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        finished_at TEXT
    );
    CREATE INDEX IF NOT EXISTS warc_queue_state ON warc_queue (state, id);
    "#,
    // The archive's change counter: one row, whose `generation` goes up by one in the
    // same transaction as every change to what the index of originals is built from
    // (a new original, a new version of one). Processes that hold an index in memory
    // (`copyhound worker`) compare it between files and reload when it moved, so one
    // ingest serves every worker. Only its movement means anything, not its value.
    r#"
    CREATE TABLE IF NOT EXISTS archive_generation (
        singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
        generation INTEGER NOT NULL
    );
    INSERT INTO archive_generation (singleton, generation) VALUES (1, 0)
        ON CONFLICT (singleton) DO NOTHING;
    "#,
];

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: cannot create state directory: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Db {
        path: PathBuf,
        #[source]
        source: sql::Error,
    },
    /// The driver's error with its causes and a hint for certificate failures, in the
    /// message itself: its summary alone ("error performing TLS handshake") does not
    /// say what to fix.
    #[error("{url}: cannot connect to PostgreSQL: {}", pg::describe(.error))]
    Connect { url: String, error: postgres::Error },
    #[error("{path}: cannot use [storage] database_ca_file: {message}")]
    CaFile { path: PathBuf, message: String },
    #[error("{path}: cannot read [storage] database_password_file: {source}")]
    PasswordFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{url}: cannot set up TLS: {message}")]
    Tls { url: String, message: String },
    #[error("{path}: database schema version {found} is newer than this copyhound ({supported}); upgrade copyhound")]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: usize,
    },
}

/// Refuses a schema newer than this copyhound's migrations: its tables may mean what
/// this version does not know.
fn check_version(path: &Path, version: i64) -> Result<(), StoreError> {
    if version > MIGRATIONS.len() as i64 {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found: version,
            supported: MIGRATIONS.len(),
        });
    }
    Ok(())
}

/// An article as ingestion hands it over: extracted, normalised and fingerprinted.
#[derive(Debug, Clone, PartialEq)]
pub struct NewArticle {
    pub url: String,
    pub title: String,
    pub published: Option<DateTime<Utc>>,
    pub author: Option<String>,
    pub source: String,
    pub text: String,
    /// Lower-case hex SHA-256 of `text` (UTF-8).
    pub text_sha256: String,
    pub simhash: u64,
    pub segments: Vec<crate::fingerprint::Segment>,
    /// Winnowed anchor hashes (distinct).
    pub anchors: Vec<u64>,
    /// Hashes of the article's normalised sentences, for boilerplate learning.
    pub sentence_hashes: Vec<u64>,
    /// How the text was found (`extract::Method::as_str`).
    pub extraction: String,
    /// Readable characters of the page the text came from (0: not a page).
    pub page_chars: i64,
    /// Why the text looks truncated; `None` when it does not.
    pub suspect: Option<String>,
}

/// What [`Store::upsert_original`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    /// A new article: its first version.
    New { id: i64 },
    /// A known article whose text changed: a new version, the old one kept.
    Updated { id: i64, version: i64 },
    /// A known article with the same text: nothing written.
    Unchanged { id: i64 },
}

/// One original as listed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OriginalSummary {
    pub id: i64,
    pub url: String,
    pub title: String,
    pub published: Option<String>,
    pub first_seen: String,
    pub version: i64,
    pub chars: i64,
    /// How the text was found (`container`, `template`, `readability`, `selector`,
    /// `feed`, `plain-text`).
    pub extraction: String,
    /// Why the text looks truncated; `None` when it does not.
    pub suspect: Option<String>,
}

/// One original in full (its current version).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OriginalRecord {
    pub id: i64,
    pub url: String,
    pub title: String,
    pub published: Option<String>,
    pub author: Option<String>,
    pub source: String,
    pub first_seen: String,
    pub fetched_at: String,
    pub version: i64,
    pub versions: i64,
    pub text: String,
    pub text_sha256: String,
    pub simhash: String,
    pub segments: usize,
    /// How the text was found (see [`OriginalSummary::extraction`]).
    pub extraction: String,
    /// Readable characters of the page the text came from.
    pub page_chars: i64,
    /// Why the text looks truncated; `None` when it does not.
    pub suspect: Option<String>,
}

/// The SQLite database of one copyhound installation.
pub struct Store {
    conn: Connection,
    /// Where the store is, so another connection to it can be opened
    /// ([`Store::location`]).
    location: StoreLocation,
    /// Kept for error messages: every error names the database file.
    path: PathBuf,
}

/// Where a store is: enough to open another connection to it from any thread.
#[derive(Debug, Clone)]
pub enum StoreLocation {
    Sqlite(PathBuf),
    Postgres(PgTarget),
}

impl StoreLocation {
    /// Opens a new connection to the store.
    ///
    /// # Errors
    /// [`StoreError`] naming the file or URL.
    pub fn open(&self) -> Result<Store, StoreError> {
        match self {
            StoreLocation::Sqlite(path) => Store::open(path),
            StoreLocation::Postgres(target) => Store::open_postgres(target),
        }
    }
}

/// RFC 3339 in UTC with second precision: sortable as text, readable in reports.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl Store {
    /// Opens (creating if needed) the database in the state directory `dir`.
    ///
    /// # Errors
    /// [`StoreError`] naming the directory or database file.
    pub fn open_dir(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        Store::open(&dir.join(DATABASE_FILE))
    }

    /// Opens (creating if needed) the database file at `path` and migrates it.
    ///
    /// # Errors
    /// [`StoreError`] naming the file.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let err = |source: rusqlite::Error| StoreError::Db {
            path: path.to_path_buf(),
            source: source.into(),
        };
        let conn = rusqlite::Connection::open(path).map_err(err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
        // WAL lets readers (the review desk, `originals list`) run while the daemon
        // writes; FULL makes a committed transaction survive power loss, not only a crash
        // of the process.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(err)?;
        let mut store = Store {
            conn: Connection::sqlite(conn),
            location: StoreLocation::Sqlite(path.to_path_buf()),
            path: path.to_path_buf(),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Opens the PostgreSQL database `target` and migrates it.
    ///
    /// # Errors
    /// [`StoreError`] naming the URL (never with a password).
    pub fn open_postgres(target: &PgTarget) -> Result<Store, StoreError> {
        let client = pg::connect(target)?;
        let mut store = Store {
            conn: Connection::postgres(client),
            location: StoreLocation::Postgres(target.clone()),
            path: PathBuf::from(&target.url),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Opens the configured store: PostgreSQL when `[storage] database_url` is set,
    /// else the SQLite file in `[storage] dir`.
    ///
    /// # Errors
    /// [`StoreError`] naming the file or URL.
    pub fn open_storage(storage: &crate::config::Storage) -> Result<Store, StoreError> {
        match &storage.database {
            Some(db) => Store::open_postgres(&PgTarget::from_settings(db)?),
            None => Store::open_dir(&storage.dir),
        }
    }

    /// The database file, or the PostgreSQL URL (without a password).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where this store is: [`StoreLocation::open`] opens another connection to it
    /// (for a thread of its own).
    pub fn location(&self) -> StoreLocation {
        self.location.clone()
    }

    /// Whether this store is on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.conn.is_postgres()
    }

    fn err(&self, source: sql::Error) -> StoreError {
        StoreError::Db {
            path: self.path.clone(),
            source,
        }
    }

    /// The schema version the database is at (the number of migrations applied).
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        match self.conn.as_sqlite() {
            Some(c) => c
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .map_err(|e| self.err(e.into())),
            None => self
                .conn
                .query_row(
                    "SELECT COALESCE(MAX(version), 0) FROM schema_version",
                    params![],
                    |r| r.get(0),
                )
                .map_err(|e| self.err(e)),
        }
    }

    /// The schema version this copyhound knows (the same on both backends).
    pub fn supported_schema_version() -> i64 {
        MIGRATIONS.len() as i64
    }

    /// Applies the migrations the database lacks, each in a transaction; refuses a
    /// database whose schema is newer than this copyhound knows. On PostgreSQL, where
    /// several processes may start at once, the whole run is one transaction holding
    /// the store's write lock, so each migration runs once.
    fn migrate(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = |source| StoreError::Db {
            path: path.clone(),
            source,
        };
        if self.conn.is_postgres() {
            let tx = begin_write(&mut self.conn).map_err(err)?;
            tx.execute_batch(
                "CREATE TABLE IF NOT EXISTS schema_version (
                     version BIGINT NOT NULL,
                     applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
                 );",
            )
            .map_err(err)?;
            let version: i64 = tx
                .query_row(
                    "SELECT COALESCE(MAX(version), 0) FROM schema_version",
                    params![],
                    |r| r.get(0),
                )
                .map_err(err)?;
            check_version(&path, version)?;
            for (i, sqlite) in MIGRATIONS.iter().enumerate().skip(version as usize) {
                tx.execute_batch(&pg::ddl(sqlite)).map_err(err)?;
                tx.execute(
                    "INSERT INTO schema_version (version) VALUES (?1)",
                    params![(i + 1) as i64],
                )
                .map_err(err)?;
            }
            return tx.commit().map_err(err);
        }
        let version = self.schema_version()?;
        check_version(&path, version)?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = begin_write(&mut self.conn).map_err(err)?;
            tx.execute_batch(sql).map_err(err)?;
            tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))
                .map_err(err)?;
            tx.commit().map_err(err)?;
        }
        Ok(())
    }

    /// Records an article: a new original, a new version of a changed one, or nothing
    /// when the text is unchanged. One transaction: durable once this returns.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written.
    pub fn upsert_original(
        &mut self,
        article: &NewArticle,
        now: DateTime<Utc>,
    ) -> Result<Upsert, StoreError> {
        let mut outcomes = self.upsert_originals(std::slice::from_ref(article), now)?;
        // One article in, one outcome out: `upsert_originals` returns one per article.
        Ok(outcomes.pop().unwrap_or(Upsert::Unchanged { id: 0 }))
    }

    /// Records several articles in one transaction (all or none are durable once this
    /// returns): bulk loads pay one disk sync instead of one per article.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written; nothing is then recorded.
    pub fn upsert_originals(
        &mut self,
        articles: &[NewArticle],
        now: DateTime<Utc>,
    ) -> Result<Vec<Upsert>, StoreError> {
        let path = self.path.clone();
        let err = |source| StoreError::Db {
            path: path.clone(),
            source,
        };
        let tx = begin_write(&mut self.conn).map_err(err)?;
        let outcomes = articles
            .iter()
            .map(|a| upsert_in(&tx, a, now))
            .collect::<crate::store::sql::Result<Vec<_>>>()
            .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(outcomes)
    }

    /// Counts one page of `host` towards its site template: its distinct line hashes
    /// (`extract::template::page_line_hashes`). A page already counted (same URL) counts
    /// nothing, and a host stops learning after `max_pages` pages: by then its template
    /// is known, and the tables stay bounded. Returns whether the page was counted.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be written; nothing is then recorded.
    pub fn count_template_page(
        &mut self,
        host: &str,
        url: &str,
        line_hashes: &[u64],
        max_pages: u32,
    ) -> Result<bool, StoreError> {
        let path = self.path.clone();
        let err = |source| StoreError::Db {
            path: path.clone(),
            source,
        };
        let tx = begin_write(&mut self.conn).map_err(err)?;
        let pages: i64 = tx
            .query_row(
                "SELECT COUNT(*) FROM site_template_pages WHERE host = ?1",
                params![host],
                |r| r.get(0),
            )
            .map_err(err)?;
        if pages >= i64::from(max_pages) {
            return Ok(false);
        }
        let inserted = tx
            .execute(
                "INSERT INTO site_template_pages (host, url) VALUES (?1, ?2)
                 ON CONFLICT DO NOTHING",
                params![host, url],
            )
            .map_err(err)?;
        if inserted == 1 {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO site_template_lines (host, hash, pages) VALUES (?1, ?2, 1)
                     ON CONFLICT(host, hash) DO UPDATE SET pages = site_template_lines.pages + 1",
                )
                .map_err(err)?;
            for &h in line_hashes {
                stmt.execute(params![host, h as i64]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        Ok(inserted == 1)
    }

    /// The learned template of `host`; `None` while too few of its pages were counted.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn site_template(
        &self,
        host: &str,
    ) -> Result<Option<crate::extract::SiteTemplate>, StoreError> {
        let pages: i64 = self
            .conn
            .query_row(
                "SELECT COUNT(*) FROM site_template_pages WHERE host = ?1",
                params![host],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        let pages = u32::try_from(pages).unwrap_or(u32::MAX);
        if pages < crate::extract::template::MIN_PAGES {
            return Ok(None);
        }
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT hash, pages FROM site_template_lines WHERE host = ?1 AND pages >= ?2",
            )
            .map_err(|e| self.err(e))?;
        let floor = i64::from(crate::extract::template::MIN_RECURRING_PAGES);
        let counts = stmt
            .query_map(params![host, floor], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u32))
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        Ok(crate::extract::SiteTemplate::from_counts(pages, counts))
    }

    /// Number of originals in the archive.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn original_count(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM originals", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// Every original's URL, in no particular order: what detection needs to tell the
    /// outlet's own pages, without [`Store::list_originals`]'s join to the versions
    /// (which measures every text: seconds at a million originals).
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn original_urls(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT url FROM originals")
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// All originals, newest first by first-seen time.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn list_originals(&self) -> Result<Vec<OriginalSummary>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT o.id, o.url, v.title, v.published, o.first_seen, o.current_version,
                        length(v.text), v.extraction, v.suspect
                 FROM originals o JOIN original_versions v
                   ON v.original_id = o.id AND v.version = o.current_version
                 ORDER BY o.first_seen DESC, o.id DESC",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(OriginalSummary {
                    id: r.get(0)?,
                    url: r.get(1)?,
                    title: r.get(2)?,
                    published: r.get(3)?,
                    first_seen: r.get(4)?,
                    version: r.get(5)?,
                    chars: r.get(6)?,
                    extraction: r.get(7)?,
                    suspect: r.get(8)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// One original by id or by URL.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn find_original(&self, key: &OriginalKey) -> Result<Option<OriginalRecord>, StoreError> {
        self.find_original_at(key, None)
    }

    /// [`Store::find_original`] at version `version` (`None`: the current one); `None`
    /// when the original or that version does not exist. `version` of the record is the
    /// version returned.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn find_original_at(
        &self,
        key: &OriginalKey,
        version: Option<i64>,
    ) -> Result<Option<OriginalRecord>, StoreError> {
        let (clause, value): (&str, crate::store::sql::Value) = match key {
            OriginalKey::Id(id) => ("o.id = ?1", (*id).into()),
            OriginalKey::Url(url) => ("o.url = ?1", url.clone().into()),
        };
        let sql = format!(
            "SELECT o.id, o.url, v.title, v.published, v.author, v.source, o.first_seen,
                    v.fetched_at, v.version, v.text, v.text_sha256, v.simhash,
                    (SELECT COUNT(*) FROM segments s WHERE s.version_id = v.id),
                    (SELECT COUNT(*) FROM original_versions w WHERE w.original_id = o.id),
                    v.extraction, v.page_chars, v.suspect
             FROM originals o JOIN original_versions v
               ON v.original_id = o.id AND v.version = COALESCE(?2, o.current_version)
             WHERE {clause}"
        );
        self.conn
            .query_row(&sql, crate::store::sql::params![value, version], |r| {
                Ok(OriginalRecord {
                    id: r.get(0)?,
                    url: r.get(1)?,
                    title: r.get(2)?,
                    published: r.get(3)?,
                    author: r.get(4)?,
                    source: r.get(5)?,
                    first_seen: r.get(6)?,
                    fetched_at: r.get(7)?,
                    version: r.get(8)?,
                    text: r.get(9)?,
                    text_sha256: r.get(10)?,
                    simhash: format!("{:016x}", r.get::<_, i64>(11)? as u64),
                    segments: r.get::<_, i64>(12)? as usize,
                    versions: r.get(13)?,
                    extraction: r.get(14)?,
                    page_chars: r.get(15)?,
                    suspect: r.get(16)?,
                })
            })
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The segment fingerprints of every original's current version, as
    /// `(simhash, original id)`: what the Hamming index is built from at start-up.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn current_segment_fingerprints(&self) -> Result<Vec<(u64, i64)>, StoreError> {
        self.pairs(
            "SELECT s.simhash, o.id
             FROM originals o
             JOIN original_versions v ON v.original_id = o.id AND v.version = o.current_version
             JOIN segments s ON s.version_id = v.id",
        )
    }

    /// The archive's change counter: it moves with every new original or new version
    /// (in the transaction that makes the change), so a process holding an index built
    /// after reading generation `g` is current as long as this still returns `g`. One
    /// primary-key read, cheap enough to ask between every two files.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn archive_generation(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row(
                "SELECT generation FROM archive_generation WHERE singleton = 1",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// The whole-text SimHash of every original's current version, as `(simhash, id)`.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn current_whole_fingerprints(&self) -> Result<Vec<(u64, i64)>, StoreError> {
        self.pairs(
            "SELECT v.simhash, o.id
             FROM originals o
             JOIN original_versions v ON v.original_id = o.id AND v.version = o.current_version",
        )
    }

    /// The anchors of every original's current version, as `(anchor, original id)`.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn current_anchors(&self) -> Result<Vec<(u64, i64)>, StoreError> {
        // Unpacked row by row into one vector: the blobs are never all held at once.
        let mut out = Vec::new();
        let rows = self
            .conn
            .query_map(
                "SELECT v.anchors, o.id
                 FROM originals o
                 JOIN original_versions v ON v.original_id = o.id AND v.version = o.current_version",
                [],
                |row| {
                    let bytes: Vec<u8> = row.get(0)?;
                    let id: i64 = row.get(1)?;
                    out.extend(unpack_anchors(&bytes).map(|h| (h, id)));
                    Ok(())
                },
            )
            .map_err(|e| self.err(e))?;
        for row in rows {
            row.map_err(|e| self.err(e))?;
        }
        Ok(out)
    }

    /// Runs a query of `(INTEGER, INTEGER)` rows, the first read back as the `u64` it was
    /// stored from.
    fn pairs(&self, sql: &str) -> Result<Vec<(u64, i64)>, StoreError> {
        let mut stmt = self.conn.prepare(sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)?))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Sentence hashes that occur in at least `min_docs` originals: the archive's learned
    /// boilerplate.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub fn frequent_sentences(&self, min_docs: u32) -> Result<Vec<u64>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT hash FROM sentence_docs WHERE docs >= ?1")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![min_docs], |r| Ok(r.get::<_, i64>(0)? as u64))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Checks the database file's integrity (`PRAGMA integrity_check`): `Ok(true)` when
    /// SQLite finds nothing wrong.
    ///
    /// # Errors
    /// [`StoreError`] when the check cannot run.
    /// On PostgreSQL, which checks its own pages, it is whether the server answers.
    pub fn integrity_ok(&self) -> Result<bool, StoreError> {
        let sql = if self.conn.is_postgres() {
            "SELECT 'ok'"
        } else {
            "PRAGMA integrity_check"
        };
        let result: String = self
            .conn
            .query_row(sql, [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        Ok(result == "ok")
    }
}

/// How an original is looked up: by its numeric id or its canonical URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginalKey {
    Id(i64),
    Url(String),
}

impl OriginalKey {
    /// `42` is an id, anything else a URL.
    pub fn parse(text: &str) -> OriginalKey {
        match text.trim().parse::<i64>() {
            Ok(id) => OriginalKey::Id(id),
            Err(_) => OriginalKey::Url(text.trim().to_string()),
        }
    }
}

/// Anchors as stored: little-endian `u64`s back to back.
fn pack_anchors(anchors: &[u64]) -> Vec<u8> {
    anchors.iter().flat_map(|h| h.to_le_bytes()).collect()
}

/// The inverse of [`pack_anchors`]; a trailing partial value (a damaged blob) is ignored.
fn unpack_anchors(bytes: &[u8]) -> impl Iterator<Item = u64> + '_ {
    bytes.chunks_exact(8).map(|c| {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        u64::from_le_bytes(b)
    })
}

fn upsert_in(
    tx: &Transaction<'_>,
    article: &NewArticle,
    now: DateTime<Utc>,
) -> crate::store::sql::Result<Upsert> {
    let existing: Option<(i64, i64, String)> = tx
        .query_row(
            "SELECT o.id, o.current_version, v.text_sha256
             FROM originals o JOIN original_versions v
               ON v.original_id = o.id AND v.version = o.current_version
             WHERE o.url = ?1",
            params![article.url],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let outcome = match existing {
        Some((id, version, sha)) if sha == article.text_sha256 => {
            // The same text, but the judgement of it may have moved (the site's other
            // articles are now known): keep the current version's flags current.
            tx.execute(
                "UPDATE original_versions SET extraction = ?1, page_chars = ?2, suspect = ?3
                 WHERE original_id = ?4 AND version = ?5",
                params![
                    article.extraction,
                    article.page_chars,
                    article.suspect,
                    id,
                    version
                ],
            )?;
            Upsert::Unchanged { id }
        }
        Some((id, version, _)) => {
            let version = version + 1;
            insert_version(tx, id, version, article, now)?;
            tx.execute(
                "UPDATE originals SET current_version = ?1 WHERE id = ?2",
                params![version, id],
            )?;
            Upsert::Updated { id, version }
        }
        None => {
            let id = tx.insert_id(
                "INSERT INTO originals (url, first_seen, current_version) VALUES (?1, ?2, 1)",
                params![article.url, timestamp(now)],
            )?;
            insert_version(tx, id, 1, article, now)?;
            // Boilerplate statistics count each original once, at its first version: a
            // corrected article must not double the weight of its notice.
            let mut hashes = article.sentence_hashes.clone();
            hashes.sort_unstable();
            hashes.dedup();
            let mut stmt = tx.prepare_cached(
                "INSERT INTO sentence_docs (hash, docs) VALUES (?1, 1)
                 ON CONFLICT(hash) DO UPDATE SET docs = sentence_docs.docs + 1",
            )?;
            for h in hashes {
                stmt.execute(params![h as i64])?;
            }
            Upsert::New { id }
        }
    };
    if !matches!(outcome, Upsert::Unchanged { .. }) {
        bump_generation(tx)?;
    }
    Ok(outcome)
}

/// Moves the archive's change counter (see the `archive_generation` migration). Called
/// in the transaction that changes the originals, so a reader that sees the new
/// generation also sees the change, and one that saw the change before it committed
/// cannot exist.
fn bump_generation(tx: &Transaction<'_>) -> crate::store::sql::Result<()> {
    tx.execute(
        "UPDATE archive_generation SET generation = generation + 1 WHERE singleton = 1",
        params![],
    )?;
    Ok(())
}

fn insert_version(
    tx: &Transaction<'_>,
    original_id: i64,
    version: i64,
    a: &NewArticle,
    now: DateTime<Utc>,
) -> crate::store::sql::Result<()> {
    let version_id = tx.insert_id(
        "INSERT INTO original_versions
           (original_id, version, title, published, author, source, text, text_sha256,
            simhash, anchors, fetched_at, extraction, page_chars, suspect)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        params![
            original_id,
            version,
            a.title,
            a.published.map(timestamp),
            a.author,
            a.source,
            a.text,
            a.text_sha256,
            a.simhash as i64,
            pack_anchors(&a.anchors),
            timestamp(now),
            a.extraction,
            a.page_chars,
            a.suspect,
        ],
    )?;
    let mut stmt = tx.prepare_cached(
        "INSERT INTO segments (version_id, ordinal, start_char, end_char, simhash)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (i, s) in a.segments.iter().enumerate() {
        stmt.execute(params![
            version_id,
            i as i64,
            s.start,
            s.end,
            s.simhash as i64
        ])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::Segment;

    fn article(url: &str, text: &str) -> NewArticle {
        NewArticle {
            url: url.into(),
            title: "t".into(),
            published: None,
            author: Some("记者 陈晓".into()),
            source: "test".into(),
            text: text.into(),
            text_sha256: format!("{:x}", text.len()),
            simhash: u64::MAX,
            segments: vec![Segment {
                start: 0,
                end: 3,
                simhash: 0x8000_0000_0000_0001,
            }],
            anchors: vec![3, u64::MAX],
            sentence_hashes: vec![7, 7, 9],
            extraction: "container".into(),
            page_chars: 0,
            suspect: None,
        }
    }

    #[test]
    fn new_unchanged_updated() {
        crate::store::testdb::on_both(|| {
            let dir = tempfile::tempdir().unwrap();
            let mut store = crate::store::testdb::open(dir.path()).unwrap();
            let now = Utc::now();
            let a = article("https://x.example/1", "abc");
            assert_eq!(
                store.upsert_original(&a, now).unwrap(),
                Upsert::New { id: 1 }
            );
            assert_eq!(
                store.upsert_original(&a, now).unwrap(),
                Upsert::Unchanged { id: 1 }
            );
            let b = article("https://x.example/1", "abcd");
            assert_eq!(
                store.upsert_original(&b, now).unwrap(),
                Upsert::Updated { id: 1, version: 2 }
            );
            let rec = store
                .find_original(&OriginalKey::parse("1"))
                .unwrap()
                .unwrap();
            assert_eq!(rec.text, "abcd");
            assert_eq!(rec.versions, 2);
            assert_eq!(rec.simhash, "ffffffffffffffff");
            let by_url = store
                .find_original(&OriginalKey::parse("https://x.example/1"))
                .unwrap()
                .unwrap();
            assert_eq!(by_url.id, 1);
            // Only the current version's segments feed the index; u64 survives the i64 column.
            assert_eq!(
                store.current_segment_fingerprints().unwrap(),
                vec![(0x8000_0000_0000_0001, 1)]
            );
            assert_eq!(
                store.current_whole_fingerprints().unwrap(),
                vec![(u64::MAX, 1)]
            );
            let mut anchors = store.current_anchors().unwrap();
            anchors.sort_unstable();
            assert_eq!(anchors, vec![(3, 1), (u64::MAX, 1)]);
            // Sentences count once per original, and not again for a new version.
            store
                .upsert_original(&article("https://x.example/2", "z"), now)
                .unwrap();
            assert_eq!(store.frequent_sentences(2).unwrap().len(), 2);
            assert!(store.frequent_sentences(3).unwrap().is_empty());
        });
    }

    /// The change counter moves with every change the index is built from, and with
    /// nothing else.
    #[test]
    fn the_archive_generation_moves_with_every_change_to_the_originals() {
        crate::store::testdb::on_both(|| {
            let dir = tempfile::tempdir().unwrap();
            let mut store = crate::store::testdb::open(dir.path()).unwrap();
            let now = Utc::now();
            let start = store.archive_generation().unwrap();
            let a = article("https://x.example/1", "abc");
            store.upsert_original(&a, now).unwrap();
            assert_eq!(store.archive_generation().unwrap(), start + 1, "new");
            store.upsert_original(&a, now).unwrap();
            assert_eq!(store.archive_generation().unwrap(), start + 1, "unchanged");
            store
                .upsert_original(&article("https://x.example/1", "abcd"), now)
                .unwrap();
            assert_eq!(
                store.archive_generation().unwrap(),
                start + 2,
                "new version"
            );
            // A batch is one transaction: two new originals, two moves.
            store
                .upsert_originals(
                    &[
                        article("https://x.example/2", "x"),
                        article("https://x.example/3", "y"),
                    ],
                    now,
                )
                .unwrap();
            assert_eq!(store.archive_generation().unwrap(), start + 4, "batch");
            let mut urls = store.original_urls().unwrap();
            urls.sort();
            assert_eq!(
                urls,
                [
                    "https://x.example/1",
                    "https://x.example/2",
                    "https://x.example/3"
                ]
            );
            // Another process sees the same counter.
            let other = store.location().open().unwrap();
            assert_eq!(other.archive_generation().unwrap(), start + 4);
        });
    }

    #[test]
    fn reopening_keeps_data_and_schema() {
        crate::store::testdb::on_both(|| {
            let dir = tempfile::tempdir().unwrap();
            {
                let mut store = crate::store::testdb::open(dir.path()).unwrap();
                store
                    .upsert_original(&article("u", "abc"), Utc::now())
                    .unwrap();
            }
            let store = crate::store::testdb::open(dir.path()).unwrap();
            assert_eq!(store.original_count().unwrap(), 1);
            assert!(store.integrity_ok().unwrap());
        });
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DATABASE_FILE);
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.pragma_update(None, "user_version", 99).unwrap();
        }
        let err = Store::open(&path).err().unwrap();
        assert!(err.to_string().contains("schema version 99"), "{err}");
    }
}
