//! The upload journal: one SQLite row per queued file, in WAL mode, every
//! state change one transaction. It is the queue's memory across kills: the
//! upload location and the offset the target acknowledged survive, so a
//! restart resumes where the target says it stands instead of starting over.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, ErrorCode, OptionalExtension, Row};
use thiserror::Error;

use super::lane::Lane;

const SCHEMA_VERSION: i64 = 1;

#[derive(Debug, Error)]
pub enum JournalError {
    #[error("the upload journal {path} is corrupt or not a journal ({reason}); the queued files are untouched")]
    Corrupt { path: PathBuf, reason: String },
    #[error("the disk holding the upload journal {path} is full")]
    DiskFull { path: PathBuf },
    #[error(
        "the upload journal {path} was written by a newer egocap (schema {found}, this one reads {SCHEMA_VERSION})"
    )]
    NewerSchema { path: PathBuf, found: i64 },
    #[error("upload journal {path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
}

/// Where a queued file stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileState {
    /// Waiting for (or in the middle of) its upload.
    Pending,
    /// The target acknowledged every byte; the local file is kept until its retention ends.
    Complete,
    /// Complete and deleted locally after its retention period.
    Deleted,
    /// The file vanished from disk before the target had all of it.
    Missing,
    /// Removed unsent by a consent withdrawal.
    Purged,
    /// The target refused it for good (a 4xx); kept locally until "retry now".
    Refused,
}

impl FileState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Complete => "complete",
            Self::Deleted => "deleted",
            Self::Missing => "missing",
            Self::Purged => "purged",
            Self::Refused => "refused",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Complete, Self::Deleted, Self::Missing, Self::Purged, Self::Refused]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// A file as the journal knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedFile {
    pub id: i64,
    pub path: PathBuf,
    /// Its name at the target: `<session>/<file>`.
    pub name: String,
    pub lane: Lane,
    pub size: u64,
    pub sha256: String,
    /// SHA-256 of the record that cites this file (media only).
    pub record_sha256: Option<String>,
    /// The consent the file was recorded under, when its record says.
    pub consent_id: Option<String>,
    /// The upload's location at the target, once created.
    pub location: Option<String>,
    /// Bytes the target acknowledged.
    pub acknowledged: u64,
    pub attempts: u32,
    /// Milliseconds since the Unix epoch before which it is not retried.
    pub next_attempt_ms: u64,
    pub state: FileState,
    pub last_error: Option<String>,
    pub completed_ms: Option<u64>,
}

/// What `enqueue` needs to know about a new file.
#[derive(Debug, Clone)]
pub struct NewFile {
    pub path: PathBuf,
    pub name: String,
    pub lane: Lane,
    pub size: u64,
    pub sha256: String,
    pub record_sha256: Option<String>,
    pub consent_id: Option<String>,
}

pub struct UploadJournal {
    pub(super) connection: Connection,
    pub(super) path: PathBuf,
}

impl UploadJournal {
    /// Opens (or creates) the journal at `path`. A file that is not a
    /// journal is `Corrupt`: it is left where it is for the caller to move
    /// aside (see [`UploadJournal::set_aside`]).
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        let connection = Connection::open(path).map_err(|e| classify(path, e))?;
        let journal = Self { connection, path: path.to_path_buf() };
        journal.prepare()?;
        Ok(journal)
    }

    /// Renames a corrupt journal to `<name>.corrupt-<ms>` (its `-wal` and
    /// `-shm` beside it, renamed alike) so a fresh one can be opened, which
    /// adopts the files on disk again; returns the new name.
    pub fn set_aside(path: &Path, now_ms: u64) -> Result<PathBuf, JournalError> {
        let with_suffix = |suffix: &str| {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        };
        let aside = with_suffix(&format!(".corrupt-{now_ms}"));
        let io_error = |e: std::io::Error| JournalError::Corrupt { path: path.to_path_buf(), reason: e.to_string() };
        std::fs::rename(path, &aside).map_err(io_error)?;
        for side in ["-wal", "-shm"] {
            // Kept with the database they belong to; a missing one is normal.
            let _ = std::fs::rename(with_suffix(side), with_suffix(&format!(".corrupt-{now_ms}{side}")));
        }
        Ok(aside)
    }

    fn prepare(&self) -> Result<(), JournalError> {
        let c = &self.connection;
        // WAL: a writer never blocks a reader, and a commit is one append,
        // durable at the next checkpoint or fsync (synchronous=FULL: every commit).
        let mode: String =
            c.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0)).map_err(|e| classify(&self.path, e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            log::warn!("upload journal {} is in {mode} mode, not WAL", self.path.display());
        }
        c.execute_batch(
            "PRAGMA synchronous=FULL;
             PRAGMA busy_timeout=5000;
             CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS files (
                 id INTEGER PRIMARY KEY,
                 path TEXT NOT NULL UNIQUE,
                 name TEXT NOT NULL,
                 lane INTEGER NOT NULL,
                 size INTEGER NOT NULL,
                 sha256 TEXT NOT NULL,
                 record_sha256 TEXT,
                 consent_id TEXT,
                 location TEXT,
                 acknowledged INTEGER NOT NULL DEFAULT 0,
                 attempts INTEGER NOT NULL DEFAULT 0,
                 next_attempt_ms INTEGER NOT NULL DEFAULT 0,
                 state TEXT NOT NULL,
                 last_error TEXT,
                 completed_ms INTEGER
             );
             CREATE TABLE IF NOT EXISTS jobs (
                 id INTEGER PRIMARY KEY,
                 file_id INTEGER NOT NULL UNIQUE,
                 location TEXT NOT NULL,
                 start INTEGER NOT NULL,
                 length INTEGER NOT NULL,
                 body_name TEXT NOT NULL,
                 created_ms INTEGER NOT NULL
             );
             INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', 1);",
        )
        .map_err(|e| classify(&self.path, e))?;
        let schema: i64 = c
            .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |row| row.get(0))
            .map_err(|e| classify(&self.path, e))?;
        if schema > SCHEMA_VERSION {
            return Err(JournalError::NewerSchema { path: self.path.clone(), found: schema });
        }
        Ok(())
    }

    /// Adds a file as pending; a path already in the journal is left as it
    /// is and `false` returned.
    pub fn enqueue(&self, file: &NewFile) -> Result<bool, JournalError> {
        let inserted = self
            .connection
            .execute(
                "INSERT OR IGNORE INTO files (path, name, lane, size, sha256, record_sha256, consent_id, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending')",
                params![
                    path_text(&file.path),
                    file.name,
                    file.lane.rank(),
                    to_i64(file.size),
                    file.sha256,
                    file.record_sha256,
                    file.consent_id
                ],
            )
            .map_err(|e| classify(&self.path, e))?;
        Ok(inserted == 1)
    }

    /// Every file, in upload order (lane, then enqueue order).
    pub fn files(&self) -> Result<Vec<QueuedFile>, JournalError> {
        self.select("SELECT * FROM files ORDER BY lane, id", [])
    }

    /// The files the target holds whole and that are still on the device.
    pub fn complete_files(&self) -> Result<Vec<QueuedFile>, JournalError> {
        self.select("SELECT * FROM files WHERE state = 'complete' ORDER BY id", [])
    }

    /// The file with this id.
    pub fn file(&self, id: i64) -> Result<Option<QueuedFile>, JournalError> {
        Ok(self.select("SELECT * FROM files WHERE id = ?1", [id])?.pop())
    }

    /// The pending files in upload order.
    pub fn pending(&self) -> Result<Vec<QueuedFile>, JournalError> {
        self.select("SELECT * FROM files WHERE state = 'pending' ORDER BY lane, id", [])
    }

    pub fn set_location(&self, id: i64, location: Option<&str>, acknowledged: u64) -> Result<(), JournalError> {
        self.update(
            "UPDATE files SET location = ?2, acknowledged = ?3 WHERE id = ?1",
            params![id, location, to_i64(acknowledged)],
        )
    }

    /// Records the target's acknowledged offset; a success clears the error count.
    ///
    /// Without an fsync of its own (WAL, `synchronous=NORMAL` for this one
    /// commit): it survives a killed process, and the next state change's
    /// fsync makes it durable. The offset is progress for the app to show;
    /// a resume asks the target for the real one, so a power cut that loses
    /// it costs nothing, while an fsync per chunk cost measurable throughput.
    pub fn acknowledge(&self, id: i64, acknowledged: u64) -> Result<(), JournalError> {
        self.connection.execute_batch("PRAGMA synchronous=NORMAL").map_err(|e| classify(&self.path, e))?;
        let updated = self.update(
            "UPDATE files SET acknowledged = ?2, attempts = 0, last_error = NULL WHERE id = ?1",
            params![id, to_i64(acknowledged)],
        );
        self.connection.execute_batch("PRAGMA synchronous=FULL").map_err(|e| classify(&self.path, e))?;
        updated
    }

    /// The offset the target reported on resume; unlike `acknowledge` it
    /// leaves the failure count alone (a HEAD that works is not an upload that does).
    pub fn record_offset(&self, id: i64, held: u64) -> Result<(), JournalError> {
        self.update("UPDATE files SET acknowledged = ?2 WHERE id = ?1", params![id, to_i64(held)])
    }

    /// The state of the file queued under `name` at the target, if any.
    pub fn state_of(&self, name: &str) -> Result<Option<FileState>, JournalError> {
        let state: Option<String> = self
            .connection
            .query_row("SELECT state FROM files WHERE name = ?1 ORDER BY id DESC LIMIT 1", [name], |row| row.get(0))
            .optional()
            .map_err(|e| classify(&self.path, e))?;
        Ok(state.as_deref().and_then(FileState::parse))
    }

    /// Only a pending file completes: one purged meanwhile (through another
    /// connection to this journal) stays purged.
    pub fn complete(&self, id: i64, now_ms: u64) -> Result<(), JournalError> {
        self.update(
            "UPDATE files SET state = 'complete', acknowledged = size, completed_ms = ?2, last_error = NULL
             WHERE id = ?1 AND state = 'pending'",
            params![id, to_i64(now_ms)],
        )
    }

    pub fn failed_attempt(&self, id: i64, error: &str, next_attempt_ms: u64) -> Result<(), JournalError> {
        self.update(
            "UPDATE files SET attempts = attempts + 1, last_error = ?2, next_attempt_ms = ?3 WHERE id = ?1",
            params![id, error, to_i64(next_attempt_ms)],
        )
    }

    /// Makes every pending or refused file due now (the app's "retry now").
    pub fn retry_all_now(&self) -> Result<(), JournalError> {
        self.update(
            "UPDATE files SET next_attempt_ms = 0, attempts = 0, state = 'pending'
             WHERE state IN ('pending', 'refused')",
            [],
        )
    }

    pub fn set_state(&self, id: i64, state: FileState, error: Option<&str>) -> Result<(), JournalError> {
        self.update("UPDATE files SET state = ?2, last_error = ?3 WHERE id = ?1", params![id, state.as_str(), error])
    }

    pub(super) fn update(&self, sql: &str, params: impl rusqlite::Params) -> Result<(), JournalError> {
        // One statement is one implicit transaction: it commits whole or not at all.
        self.connection.execute(sql, params).map(drop).map_err(|e| classify(&self.path, e))
    }

    fn select(&self, sql: &str, params: impl rusqlite::Params) -> Result<Vec<QueuedFile>, JournalError> {
        let mut statement = self.connection.prepare_cached(sql).map_err(|e| classify(&self.path, e))?;
        let rows = statement.query_map(params, read_row).map_err(|e| classify(&self.path, e))?;
        let mut files = Vec::new();
        for row in rows {
            match row.map_err(|e| classify(&self.path, e))? {
                Ok(file) => files.push(file),
                Err(reason) => return Err(JournalError::Corrupt { path: self.path.clone(), reason }),
            }
        }
        Ok(files)
    }
}

fn read_row(row: &Row<'_>) -> rusqlite::Result<Result<QueuedFile, String>> {
    let state: String = row.get("state")?;
    let lane: i64 = row.get("lane")?;
    let (Some(state), Some(lane)) = (FileState::parse(&state), Lane::from_rank(lane)) else {
        return Ok(Err(format!("row {} has state {state:?} and lane {lane}", row.get::<_, i64>("id")?)));
    };
    let path: String = row.get("path")?;
    Ok(Ok(QueuedFile {
        id: row.get("id")?,
        path: PathBuf::from(path),
        name: row.get("name")?,
        lane,
        size: to_u64(row.get("size")?),
        sha256: row.get("sha256")?,
        record_sha256: row.get("record_sha256")?,
        consent_id: row.get("consent_id")?,
        location: row.get("location")?,
        acknowledged: to_u64(row.get("acknowledged")?),
        attempts: u32::try_from(row.get::<_, i64>("attempts")?).unwrap_or(u32::MAX),
        next_attempt_ms: to_u64(row.get("next_attempt_ms")?),
        state,
        last_error: row.get("last_error")?,
        completed_ms: row.get::<_, Option<i64>>("completed_ms")?.map(to_u64),
    }))
}

pub(super) fn classify(path: &Path, error: rusqlite::Error) -> JournalError {
    let path = path.to_path_buf();
    match error.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => JournalError::DiskFull { path },
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            JournalError::Corrupt { path, reason: error.to_string() }
        }
        _ => JournalError::Sqlite { path, source: error },
    }
}

fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

// SQLite integers are i64; sizes and times here are far below 2^63.
pub(super) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(super) fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_file(dir: &Path, name: &str, lane: Lane) -> NewFile {
        NewFile {
            path: dir.join(name),
            name: format!("s/{name}"),
            lane,
            size: 10,
            sha256: "ab".repeat(32),
            record_sha256: None,
            consent_id: Some("c1".into()),
        }
    }

    #[test]
    fn state_survives_reopening_and_orders_by_lane() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        {
            let journal = UploadJournal::open(&path).unwrap();
            assert!(journal.enqueue(&new_file(dir.path(), "seg-000000.mp4.age", Lane::Media)).unwrap());
            assert!(journal.enqueue(&new_file(dir.path(), "consent.json", Lane::Identity)).unwrap());
            assert!(!journal.enqueue(&new_file(dir.path(), "consent.json", Lane::Identity)).unwrap());
            let media = journal.files().unwrap()[1].id;
            journal.set_location(media, Some("http://x/files/1"), 0).unwrap();
            journal.acknowledge(media, 7).unwrap();
        }
        let journal = UploadJournal::open(&path).unwrap();
        let files = journal.files().unwrap();
        assert_eq!(files.iter().map(|f| f.lane).collect::<Vec<_>>(), [Lane::Identity, Lane::Media]);
        assert_eq!(files[1].location.as_deref(), Some("http://x/files/1"));
        assert_eq!(files[1].acknowledged, 7);
    }

    #[test]
    fn a_file_that_is_not_a_journal_is_corrupt_and_can_be_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        std::fs::write(&path, vec![0x5a; 8192]).unwrap();
        let error = UploadJournal::open(&path).err().unwrap();
        assert!(matches!(error, JournalError::Corrupt { .. }), "{error:?}");
        let aside = UploadJournal::set_aside(&path, 42).unwrap();
        assert_eq!(std::fs::read(&aside).unwrap(), vec![0x5a; 8192], "the corrupt journal is kept for inspection");
        assert!(UploadJournal::open(&path).unwrap().files().unwrap().is_empty());
    }

    #[test]
    fn a_full_disk_fails_the_enqueue_and_keeps_what_was_there() {
        let dir = tempfile::tempdir().unwrap();
        let journal = UploadJournal::open(&dir.path().join("journal.db")).unwrap();
        journal.enqueue(&new_file(dir.path(), "consent.json", Lane::Identity)).unwrap();
        // SQLite's own "database or disk is full" path: no page may be added.
        let pages: i64 = journal.connection.query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap();
        journal.connection.query_row(&format!("PRAGMA max_page_count={pages}"), [], |_| Ok(())).unwrap();
        let mut failed = None;
        for i in 0..200 {
            let mut file = new_file(dir.path(), &format!("seg-{i:06}.mp4.age"), Lane::Media);
            file.name = "n".repeat(500);
            if let Err(e) = journal.enqueue(&file) {
                failed = Some(e);
                break;
            }
        }
        assert!(matches!(failed, Some(JournalError::DiskFull { .. })), "{failed:?}");
        assert_eq!(journal.files().unwrap()[0].name, "s/consent.json");
    }
}
