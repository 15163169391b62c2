//! The journal's record of chunk jobs in flight: chunks handed to a host
//! that sends them outside our process (an iOS background `URLSession`)
//! and reports the outcome later, perhaps after a relaunch. One job per
//! file at a time; a row lives from the hand-out until its outcome is
//! applied or reconciliation finds it done or lost.

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
    /// The body file's name in the queue's jobs directory (not a path: an
    /// iOS app's container moves between launches).
    pub body_name: String,
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
const COLUMNS: &str = "id, file_id, location, start, length, body_name";

impl UploadJournal {
    /// Records job `job.id`; fails if the id is taken or the file has a job in flight.
    pub fn insert_job(&self, job: &JobRow, now_ms: u64) -> Result<(), JournalError> {
        self.update(
            "INSERT INTO jobs (id, file_id, location, start, length, body_name, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                job.id,
                job.file_id,
                job.location,
                to_i64(job.start),
                to_i64(job.length),
                job.body_name,
                to_i64(now_ms)
            ],
        )
    }

    pub fn jobs(&self) -> Result<Vec<JobRow>, JournalError> {
        let sql = format!("SELECT {COLUMNS} FROM jobs ORDER BY created_ms, id");
        let mut statement = self.connection.prepare_cached(&sql).map_err(|e| classify(&self.path, e))?;
        let rows = statement.query_map([], read_job).map_err(|e| classify(&self.path, e))?;
        rows.collect::<Result<_, _>>().map_err(|e| classify(&self.path, e))
    }

    pub fn job(&self, id: i64) -> Result<Option<JobRow>, JournalError> {
        self.connection
            .query_row(&format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"), [id], read_job)
            .optional()
            .map_err(|e| classify(&self.path, e))
    }

    pub fn job_of_file(&self, file_id: i64) -> Result<Option<JobRow>, JournalError> {
        self.connection
            .query_row(&format!("SELECT {COLUMNS} FROM jobs WHERE file_id = ?1"), [file_id], read_job)
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
    Ok(JobRow {
        id: row.get(0)?,
        file_id: row.get(1)?,
        location: row.get(2)?,
        start: to_u64(row.get(3)?),
        length: to_u64(row.get(4)?),
        body_name: row.get(5)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: i64, file_id: i64, start: u64) -> JobRow {
        JobRow { id, file_id, location: "http://x/files/1".into(), start, length: 50, body_name: format!("{id}.chunk") }
    }

    #[test]
    fn jobs_and_the_credentials_state_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        {
            let journal = UploadJournal::open(&path).unwrap();
            journal.insert_job(&job(41, 7, 100), 1).unwrap();
            assert!(journal.insert_job(&job(42, 7, 150), 2).is_err(), "one job per file");
            assert!(journal.insert_job(&job(41, 8, 0), 2).is_err(), "one job per id");
            journal.set_job_credentials(JobCredentials::Refused).unwrap();
        }
        let journal = UploadJournal::open(&path).unwrap();
        assert_eq!(journal.job(41).unwrap(), Some(job(41, 7, 100)));
        assert_eq!(journal.job_of_file(7).unwrap(), Some(job(41, 7, 100)));
        assert_eq!(journal.jobs().unwrap(), [job(41, 7, 100)]);
        assert_eq!(journal.job_credentials().unwrap(), JobCredentials::Refused);
        journal.remove_job(41).unwrap();
        assert!(journal.job(41).unwrap().is_none());
    }
}
