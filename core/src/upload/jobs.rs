//! Chunk jobs: the upload driven by a host that sends each chunk outside
//! our process. An iOS background `URLSession` uploads only from files,
//! keeps going while the app is suspended or killed, and reports each
//! request's end later, possibly to a relaunched app. So the queue hands
//! out one chunk at a time as a job (the request, and a file holding
//! exactly its body), records it in the journal, and applies its outcome
//! when the host reports it. On launch the host reconciles the jobs the
//! journal holds with the tasks it still has; the target (tus `HEAD`)
//! says which landed.
//!
//! One job is in flight at a time, so records still go before the media
//! that cite them; an interruption re-sends at most that one chunk.

use std::path::{Path, PathBuf};

use super::digest::{read_chunk, SentDigest};
use super::journal::{FileState, QueuedFile};
use super::journal_jobs::{JobCredentials, JobRow};
use super::purge::write_durably;
use super::queue::{
    implausible, now_ms, open_as_queued, read_failure, whole_file_check, Attempt, QueueError, RunOutcome, UploadEvent,
    UploadQueue,
};
use super::schedule::{NetworkKind, NetworkState};
use super::target::{JobRequest, RemoteOffset, TargetError};
use super::transport::HttpResponse;

/// A chunk for the host to send: `request` with the whole of `body_path`
/// (exactly `length` bytes) as its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkJob {
    /// Reported back with the outcome; the host keeps it with its task.
    pub id: i64,
    /// The file's name at the target.
    pub name: String,
    pub request: JobRequest,
    pub body_path: PathBuf,
    /// Where the chunk starts in the file (the tus `Upload-Offset`).
    pub offset: u64,
    pub length: u64,
    /// The whole file's length.
    pub size: u64,
    /// Whether the task may run on a metered network (cellular): the
    /// policy holds for the whole time a task may wait in the system.
    pub allows_metered: bool,
    /// Whether the task must wait for the device to charge.
    pub requires_charging: bool,
}

/// What the host should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobPlan {
    /// Send this chunk.
    Submit(ChunkJob),
    /// A job is in flight: report its outcome (or reconcile after a relaunch) first.
    Busy { job_id: i64 },
    /// The next file waits out a backoff: plan again after this long.
    Wait { retry_in_ms: u64 },
    /// Nothing can be sent now, for the same reasons a run ends.
    Idle(RunOutcome),
}

/// How the host's request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// The server answered (whatever the status).
    Response(HttpResponse),
    /// No response: the connection failed, timed out, or the body file was unreadable.
    Failed(String),
}

/// What the outcome did to the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkJobFinished {
    /// The target holds this much of the file now.
    Acknowledged { name: String, acknowledged: u64, size: u64 },
    /// The target holds the whole file, and it is the file that was queued.
    Completed { name: String },
    /// Not sent; plan again after this long (0: at once).
    Retrying { name: String, retry_in_ms: u64 },
    /// The target or the check refused the file for good; it stays on the device.
    Refused { name: String, error: String },
    /// The file vanished from disk (or shrank) before it was all sent.
    Missing { name: String },
    /// The credentials were refused after a refresh: planning pauses until `retry_now`.
    Unauthorized,
    /// The journal has no such job (reconciled already, or its file purged).
    Unknown,
}

impl UploadQueue {
    /// The next chunk to hand to the host, or why there is none. Asks the
    /// target where the file stands (tus `HEAD`, or creates the upload)
    /// and writes the chunk to its own file under the journal's
    /// `.jobs` directory before recording the job.
    pub fn plan_chunk_job(&mut self) -> Result<JobPlan, QueueError> {
        if !self.target.hands_out_jobs() {
            return Err(QueueError::InvalidConfig("chunk jobs need an HTTP (tus) target".into()));
        }
        if let Some(job) = self.journal.jobs()?.first() {
            return Ok(JobPlan::Busy { job_id: job.id });
        }
        if self.journal.job_credentials()? == JobCredentials::Refused {
            return Ok(JobPlan::Idle(RunOutcome::Unauthorized));
        }
        let mut recreated = 0;
        loop {
            self.delete_expired()?;
            let file = match self.next_file()? {
                Ok(file) => file,
                Err(outcome) => return Ok(JobPlan::Idle(outcome)),
            };
            let wait_ms = file.next_attempt_ms.saturating_sub(now_ms());
            if wait_ms > 0 {
                return Ok(JobPlan::Wait { retry_in_ms: wait_ms });
            }
            match self.stage_job(&file)? {
                Ok(job) => return Ok(JobPlan::Submit(job)),
                Err(attempt) => {
                    if let Some(outcome) = self.settle(&file, attempt, &mut recreated)? {
                        if outcome == RunOutcome::Unauthorized {
                            // Refused after the target's own refresh: pause like a job's second 401.
                            self.journal.set_job_credentials(JobCredentials::Refused)?;
                        }
                        return Ok(JobPlan::Idle(outcome));
                    }
                }
            }
        }
    }

    /// Applies the outcome the host reports for job `job_id`, then forgets
    /// the job and its body file. Reporting a job twice, or one that
    /// reconciliation settled, is harmless: `Unknown`.
    pub fn finish_chunk_job(&mut self, job_id: i64, outcome: JobOutcome) -> Result<ChunkJobFinished, QueueError> {
        let Some(job) = self.journal.job(job_id)? else {
            log::info!("chunk job {job_id} is not in the journal; its outcome is ignored");
            return Ok(ChunkJobFinished::Unknown);
        };
        self.forget_job(&job)?;
        // A file since completed, purged or re-created elsewhere: the outcome is about nothing we hold.
        let Some(file) = self.journal.file(job.file_id)?.filter(|f| is_current(f, &job)) else {
            return Ok(ChunkJobFinished::Unknown);
        };
        let appended = match outcome {
            JobOutcome::Response(response) => self.target.append_response(job.start, &response),
            JobOutcome::Failed(reason) => Err(TargetError::Transient(reason)),
        };
        let retry_now = || ChunkJobFinished::Retrying { name: file.name.clone(), retry_in_ms: 0 };
        match appended {
            Ok(held) if held > job.start && held <= job.start + job.length => {
                if self.journal.job_credentials()? != JobCredentials::Fresh {
                    self.journal.set_job_credentials(JobCredentials::Fresh)?;
                }
                self.take_acknowledged(&file, held)
            }
            Ok(held) => self.job_failed(&file, &implausible(held, job.start, job.length)),
            // Someone else's offset: the next plan asks HEAD, after a backoff
            // so a target that keeps answering 409 is not hammered.
            Err(error @ TargetError::OffsetMismatch { .. }) => self.job_failed(&file, &error),
            Err(TargetError::Unauthorized) => {
                if self.journal.job_credentials()? == JobCredentials::Fresh && self.target.refresh_credentials() {
                    self.journal.set_job_credentials(JobCredentials::Refreshed)?;
                    return Ok(retry_now());
                }
                self.journal.set_job_credentials(JobCredentials::Refused)?;
                self.emit(UploadEvent::Unauthorized);
                Ok(ChunkJobFinished::Unauthorized)
            }
            Err(TargetError::Gone) => {
                log::info!("upload of {} is gone at the target; it will be created anew", file.name);
                self.journal.set_location(file.id, None, 0)?;
                self.job_failed(&file, &TargetError::Gone)
            }
            Err(TargetError::Refused(error)) => {
                self.refuse(&file, error.clone())?;
                Ok(ChunkJobFinished::Refused { name: file.name.clone(), error })
            }
            Err(error) => self.job_failed(&file, &error),
        }
    }

    /// Settles the jobs a previous launch handed out, given the ids of the
    /// tasks the host still has (`live`): a job whose bytes the target
    /// holds is acknowledged; a live one it does not hold yet stays in
    /// flight; any other is forgotten and its chunk planned again. Body
    /// files without a job are removed. Returns how many jobs stay in flight.
    pub fn reconcile_chunk_jobs(&mut self, live: &[i64]) -> Result<usize, QueueError> {
        let mut in_flight = 0;
        for job in self.journal.jobs()? {
            // Planned by this queue since it opened: its task may not be in the host's list yet.
            if self.jobs_planned_here.contains(&job.id) {
                in_flight += 1;
                continue;
            }
            let Some(file) = self.journal.file(job.file_id)?.filter(|f| is_current(f, &job)) else {
                self.forget_job(&job)?;
                continue;
            };
            let is_live = live.contains(&job.id);
            let end = job.start + job.length;
            match self.target.offset(&job.location) {
                // A live task may still be sending: only all of its chunk is its end.
                Ok(RemoteOffset::At(held)) if held > job.start && held <= end && (held == end || !is_live) => {
                    self.forget_job(&job)?;
                    log::info!("chunk job {} of {} landed ({held} bytes held)", job.id, file.name);
                    self.take_acknowledged(&file, held)?;
                }
                Ok(RemoteOffset::Gone) => {
                    self.forget_job(&job)?;
                    self.journal.set_location(file.id, None, 0)?;
                }
                // Not landed, or the target cannot say now: a live task may yet land it.
                _ if is_live => in_flight += 1,
                _ => self.forget_job(&job)?,
            }
        }
        self.remove_orphan_bodies()?;
        Ok(in_flight)
    }

    /// Forgets the job of `file_id`, if any, and its body (a purge).
    pub(super) fn forget_jobs_of(&mut self, file_id: i64) -> Result<(), QueueError> {
        if let Some(job) = self.journal.job_of_file(file_id)? {
            self.forget_job(&job)?;
        }
        Ok(())
    }

    /// Resumes `file` at the target and writes its next chunk to a body file.
    fn stage_job(&mut self, file: &QueuedFile) -> Result<Result<ChunkJob, Attempt>, QueueError> {
        let mut source = match open_as_queued(file)? {
            Ok(source) => source,
            Err(attempt) => return Ok(Err(attempt)),
        };
        let (location, offset) = match self.resume_point(file)? {
            Ok(point) => point,
            Err(error) => return Ok(Err(Attempt::Failed(error))),
        };
        if offset == file.size {
            // The last job landed but its report never came.
            return Ok(Err(whole_file_check(file, SentDigest::default(), &mut source)?));
        }
        let length = (file.size - offset).min(self.config.chunk_size as u64);
        let request = match self.target.append_request(&location, offset, length) {
            Ok(request) => request,
            Err(error) => return Ok(Err(Attempt::Failed(error))),
        };
        let mut chunk = Vec::with_capacity(self.config.chunk_size);
        if let Err(error) = read_chunk(&mut source, offset, length, &mut chunk) {
            return read_failure(file, error).map(Err);
        }
        // The row goes in only once its body is durable: a job in the
        // journal always has one. A body without a row is swept on reconcile.
        let id = new_job_id()?;
        let body_name = format!("{id}.chunk");
        let body_path = write_durably(&self.jobs_dir(), &body_name, &chunk)?;
        let row = JobRow { id, file_id: file.id, location, start: offset, length, body_name };
        // Purged (through another connection) while we asked the target: no job for it.
        if !self.journal.file(file.id)?.is_some_and(|now| is_current(&now, &row)) {
            remove_if_present(&body_path)?;
            return Ok(Err(Attempt::PickAgain));
        }
        self.journal.insert_job(&row, now_ms())?;
        self.jobs_planned_here.insert(id);
        log::debug!("chunk job {id}: {length} bytes of {} at {offset}", file.name);
        // Asked of the policy itself, so the job follows the same rules as a run.
        let policy = self.config.policy;
        let on_metered = NetworkState { kind: NetworkKind::Metered, charging: true };
        let unplugged = NetworkState { kind: NetworkKind::Unmetered, charging: false };
        Ok(Ok(ChunkJob {
            id,
            name: file.name.clone(),
            request,
            body_path,
            offset,
            length,
            size: file.size,
            allows_metered: policy.allows(on_metered, file.lane),
            requires_charging: !policy.allows(unplugged, file.lane),
        }))
    }

    /// Records that the target holds `held` bytes of `file`; completes it
    /// when that is all of it and the bytes are the file that was queued.
    fn take_acknowledged(&mut self, file: &QueuedFile, held: u64) -> Result<ChunkJobFinished, QueueError> {
        self.journal.acknowledge(file.id, held)?;
        self.emit(UploadEvent::Progress { name: file.name.clone(), acknowledged: held, size: file.size });
        if held < file.size {
            return Ok(ChunkJobFinished::Acknowledged { name: file.name.clone(), acknowledged: held, size: file.size });
        }
        let attempt = match open_as_queued(file)? {
            Ok(mut source) => whole_file_check(file, SentDigest::default(), &mut source)?,
            Err(attempt) => attempt,
        };
        let finished = match &attempt {
            Attempt::Done => ChunkJobFinished::Completed { name: file.name.clone() },
            Attempt::Changed(error) => ChunkJobFinished::Refused { name: file.name.clone(), error: error.clone() },
            _ => ChunkJobFinished::Missing { name: file.name.clone() },
        };
        self.settle(file, attempt, &mut 0)?;
        Ok(finished)
    }

    fn job_failed(&self, file: &QueuedFile, error: &TargetError) -> Result<ChunkJobFinished, QueueError> {
        let retry_in_ms = self.schedule_retry(file, error)?;
        Ok(ChunkJobFinished::Retrying { name: file.name.clone(), retry_in_ms })
    }

    fn forget_job(&mut self, job: &JobRow) -> Result<(), QueueError> {
        self.jobs_planned_here.remove(&job.id);
        self.journal.remove_job(job.id)?;
        remove_if_present(&self.jobs_dir().join(&job.body_name))
    }

    /// `<journal>.jobs`: the body files of the jobs in flight.
    fn jobs_dir(&self) -> PathBuf {
        let mut name = self.journal.path.as_os_str().to_owned();
        name.push(".jobs");
        PathBuf::from(name)
    }

    fn remove_orphan_bodies(&self) -> Result<(), QueueError> {
        let dir = self.jobs_dir();
        let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(()) };
        let bodies: Vec<String> = self.journal.jobs()?.into_iter().map(|j| j.body_name).collect();
        for entry in entries.flatten() {
            let is_body = entry.file_name().to_str().is_some_and(|name| bodies.iter().any(|b| b == name));
            // Leftovers only cost space: one that cannot go must not stop the uploads.
            if !is_body && entry.file_type().is_ok_and(|t| t.is_file()) {
                if let Err(e) = remove_if_present(&entry.path()) {
                    log::warn!("could not remove a leftover chunk body: {e}");
                }
            }
        }
        Ok(())
    }
}

/// Whether `file` is still the upload `job` was planned for: pending, at the same location.
fn is_current(file: &QueuedFile, job: &JobRow) -> bool {
    file.state == FileState::Pending && file.location.as_deref() == Some(job.location.as_str())
}

/// Random, so an id is not reused even by a fresh journal (one set aside
/// as corrupt): a late report of an old job cannot be taken for a new one.
fn new_job_id() -> Result<i64, QueueError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| QueueError::InvalidConfig(format!("no randomness for a job id: {e}")))?;
    // 62 bits, positive: any host language holds it as a signed 64-bit integer.
    Ok(i64::from_le_bytes(bytes) & (i64::MAX >> 1) | 1)
}

fn remove_if_present(path: &Path) -> Result<(), QueueError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(QueueError::Write { path: path.display().to_string(), source }),
    }
}

#[cfg(test)]
#[path = "jobs_tests.rs"]
mod tests;
