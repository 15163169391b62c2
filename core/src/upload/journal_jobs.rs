//! The journal's record of chunk jobs in flight: chunks handed to a host
//! that sends them outside our process (an iOS background `URLSession`)
//! and reports the outcome later, perhaps after a relaunch. One job per
//! file at a time; a row lives from the hand-out until its outcome is
//! applied or reconciliation finds it done or lost.

use std::path::PathBuf;

use rusqlite::{params, OptionalExtension, Row};

use super::journal::{classify, to_i64, to_u64, JournalError, UploadJournal};

/// A chunk handed to the host, as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRow {
    pub id: i64,
    pub file_id: i64,
    pub location: String,
    /// The upload offset the chunk starts at.
    pub start: u64,
    pub length: u64,
    /// The file holding exactly the chunk's bytes, which the host sends as the body.
    pub body_path: PathBuf,
}

/// Where the credentials stand for chunk jobs, whose 401s arrive one
/// outcome at a time: refresh once, then pause until "retry now".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobCredentials {
    Fresh,
    /// Refreshed after a 401; another 401 before any success pauses.
    Refreshed,
    /// Refused after a refresh: no jobs until the app retries.
    Refused,
}

const CREDENTIALS_KEY: &str = "job_credentials";

impl UploadJournal {
    /// Records a job handed out for `file_id`; fails if that file has one in flight.
    pub fn insert_job(
        &self,
        file_id: i64,
        location: &str,
        start: u64,
        length: u64,
        body_path: &std::path::Path,
        now_ms: u64,
    ) -> Result<i64, JournalError> {
        self.connection
            .execute(
                "INSERT INTO jobs (file_id, location, start, length, body_path, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![file_id, location, to_i64(start), to_i64(length), body_path.to_string_lossy(), to_i64(now_ms)],
            )
            .map_err(|e| classify(&self.path, e))?;
        Ok(self.connection.last_insert_rowid())
    }

    pub fn jobs(&self) -> Result<Vec<JobRow>, JournalError> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT id, file_id, location, start, length, body_path FROM jobs ORDER BY id")
            .map_err(|e| classify(&self.path, e))?;
        let rows = statement.query_map([], read_job).map_err(|e| classify(&self.path, e))?;
        rows.collect::<Result<_, _>>().map_err(|e| classify(&self.path, e))
    }

    pub fn job(&self, id: i64) -> Result<Option<JobRow>, JournalError> {
        self.connection
            .query_row("SELECT id, file_id, location, start, length, body_path FROM jobs WHERE id = ?1", [id], read_job)
            .optional()
            .map_err(|e| classify(&self.path, e))
    }

    pub fn remove_job(&self, id: i64) -> Result<(), JournalError> {
        self.update("DELETE FROM jobs WHERE id = ?1", [id])
    }

    pub fn job_credentials(&self) -> Result<JobCredentials, JournalError> {
        let value: Option<i64> = self
            .connection
            .query_row("SELECT value FROM meta WHERE key = ?1", [CREDENTIALS_KEY], |row| row.get(0))
            .optional()
            .map_err(|e| classify(&self.path, e))?;
        Ok(match value {
            Some(1) => JobCredentials::Refreshed,
            Some(2) => JobCredentials::Refused,
            _ => JobCredentials::Fresh,
        })
    }

    pub fn set_job_credentials(&self, state: JobCredentials) -> Result<(), JournalError> {
        let value = match state {
            JobCredentials::Fresh => 0,
            JobCredentials::Refreshed => 1,
            JobCredentials::Refused => 2,
        };
        self.update("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", params![CREDENTIALS_KEY, value])
    }
}

fn read_job(row: &Row<'_>) -> rusqlite::Result<JobRow> {
    let body_path: String = row.get(5)?;
    Ok(JobRow {
        id: row.get(0)?,
        file_id: row.get(1)?,
        location: row.get(2)?,
        start: to_u64(row.get(3)?),
        length: to_u64(row.get(4)?),
        body_path: PathBuf::from(body_path),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_and_the_credentials_state_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let id = {
            let journal = UploadJournal::open(&path).unwrap();
            let id = journal.insert_job(7, "http://x/files/1", 100, 50, &dir.path().join("j1"), 1).unwrap();
            assert!(journal.insert_job(7, "http://x/files/1", 150, 50, &dir.path().join("j2"), 2).is_err());
            journal.set_job_credentials(JobCredentials::Refused).unwrap();
            id
        };
        let journal = UploadJournal::open(&path).unwrap();
        let job = journal.job(id).unwrap().unwrap();
        assert_eq!((job.file_id, job.start, job.length), (7, 100, 50));
        assert_eq!(journal.jobs().unwrap(), [job]);
        assert_eq!(journal.job_credentials().unwrap(), JobCredentials::Refused);
        journal.remove_job(id).unwrap();
        assert!(journal.job(id).unwrap().is_none());
        let next = journal.insert_job(7, "http://x/files/1", 150, 50, &dir.path().join("j2"), 3).unwrap();
        assert_ne!(next, id, "a job id is never reused: a late report must not hit a new job");
    }
}
