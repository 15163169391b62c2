//! The upload queue: the journal, one target, and the loop that sends
//! every pending file in lane order, a chunk at a time, recording each
//! acknowledged offset before sending the next chunk.
//!
//! Resume: a file with a location asks the target for its offset first
//! (tus HEAD) and continues from there, so an interruption re-sends at most
//! the chunk that was in flight. Deletion: only after the target holds the
//! full length and the retention period has passed, or by a purge.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use thiserror::Error;

use super::digest::{read_chunk, SentDigest};
use super::journal::{FileState, JournalError, QueuedFile, UploadJournal};
use super::journal_jobs::JobCredentials;
use super::lane::Lane;
use super::scan;
use super::schedule::{Backoff, NetworkPolicy, NetworkState, StopSignal};
use super::target::{RemoteOffset, TargetError, UploadDescription, UploadTarget};
use crate::sealer::RECORD_SUFFIX;

/// How many times one pass re-creates an upload the target lost before
/// giving the file a backoff instead.
const MAX_RECREATES_PER_PASS: u32 = 3;

#[derive(Debug, Error)]
pub enum QueueError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
    #[error("the settings are invalid: {0}")]
    InvalidConfig(String),
    #[error("the record cannot be used: {0}")]
    InvalidRecord(String),
}

#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// Bytes per PATCH; at most this much is re-sent after an interruption.
    pub chunk_size: usize,
    pub backoff: Backoff,
    /// How long a fully acknowledged file stays on the device.
    pub retention: Duration,
    pub policy: NetworkPolicy,
    /// Average upload rate cap in bytes per second.
    pub max_bytes_per_second: Option<u64>,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            chunk_size: 4 << 20,
            backoff: Backoff::default(),
            retention: Duration::from_secs(24 * 3600),
            policy: NetworkPolicy::default(),
            max_bytes_per_second: None,
        }
    }
}

/// What the queue tells the app as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadEvent {
    Progress {
        name: String,
        acknowledged: u64,
        size: u64,
    },
    Completed {
        name: String,
    },
    /// A transient failure; the file is retried after `retry_in_ms`.
    Retrying {
        name: String,
        error: String,
        retry_in_ms: u64,
    },
    Refused {
        name: String,
        error: String,
    },
    Missing {
        name: String,
    },
    Deleted {
        name: String,
    },
    /// Removed unsent after its consent was withdrawn.
    Purged {
        name: String,
    },
    /// Credentials were refused after a refresh: the queue paused.
    Unauthorized,
}

pub trait UploadListener: Send + Sync {
    fn on_upload_event(&self, event: UploadEvent);
}

/// Why `run_until_empty` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// Nothing is left to send.
    Empty,
    Stopped,
    /// Files wait for a network the policy allows them on.
    WaitingForNetwork,
    /// The target refused the credentials after a refresh.
    Unauthorized,
    /// Media wait for records the target refused or that are missing (see `status`).
    WaitingForRecords,
    /// The next file is a chunk job's, which the host's task is sending (see `jobs`).
    WaitingForChunkJob,
}

pub struct UploadQueue {
    pub(super) journal: UploadJournal,
    pub(super) target: Box<dyn UploadTarget>,
    pub(super) config: QueueConfig,
    network: Arc<Mutex<NetworkState>>,
    listener: Option<Arc<dyn UploadListener>>,
    /// Chunk jobs this queue handed out since it opened (see `jobs`).
    pub(super) jobs_planned_here: HashSet<i64>,
}

/// How one file's attempt ended.
pub(super) enum Attempt {
    Done,
    Stopped,
    Failed(TargetError),
    Vanished,
    /// The file may no longer be the one to send (the network changed, or
    /// it was purged meanwhile): the loop picks again.
    PickAgain,
    /// The file is not what was queued (size or hash); it is kept, never deleted.
    Changed(String),
}

impl UploadQueue {
    /// Opens the journal and reconciles it with the disk: pending files
    /// that vanished are marked missing (and reported), nothing is deleted.
    pub fn open(journal: &Path, target: Box<dyn UploadTarget>, config: QueueConfig) -> Result<Self, QueueError> {
        if config.chunk_size == 0 {
            return Err(QueueError::InvalidConfig("chunk_size must be positive".into()));
        }
        let queue = Self {
            journal: UploadJournal::open(journal)?,
            target,
            config,
            network: Arc::new(Mutex::new(NetworkState::WIRED)),
            listener: None,
            jobs_planned_here: HashSet::new(),
        };
        queue.mark_missing()?;
        Ok(queue)
    }

    pub fn set_listener(&mut self, listener: Arc<dyn UploadListener>) {
        self.listener = Some(listener);
    }

    pub fn set_network(&mut self, network: NetworkState) {
        *self.network.lock().unwrap_or_else(PoisonError::into_inner) = network;
    }

    /// The network state a run reads between chunks; the host may update it
    /// through this handle while a run holds the queue.
    pub fn network_handle(&self) -> Arc<Mutex<NetworkState>> {
        self.network.clone()
    }

    fn network(&self) -> NetworkState {
        *self.network.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adopts every finished file of the sealed sessions under `root` that
    /// the journal does not know yet; returns how many were added.
    pub fn enqueue_sessions(&self, root: &Path) -> Result<usize, QueueError> {
        let queued: HashSet<PathBuf> = self.journal.files()?.into_iter().map(|f| f.path).collect();
        let files = scan::finished_session_files(root, &queued)
            .map_err(|source| QueueError::Read { path: root.display().to_string(), source })?;
        let mut added = 0;
        for file in files {
            if self.journal.enqueue(&file)? {
                added += 1;
            }
        }
        Ok(added)
    }

    /// Queues one file under `name` at the target; false if it was queued already.
    pub fn enqueue_file(&self, path: &Path, name: &str) -> Result<bool, QueueError> {
        let file = scan::single_file(path, name)
            .map_err(|source| QueueError::Read { path: path.display().to_string(), source })?;
        Ok(self.journal.enqueue(&file)?)
    }

    /// Every file the journal knows, in upload order.
    pub fn status(&self) -> Result<Vec<QueuedFile>, QueueError> {
        Ok(self.journal.files()?)
    }

    /// Makes every waiting or refused file due now.
    pub fn retry_now(&self) -> Result<(), QueueError> {
        // Chunk jobs paused on refused credentials may go again too.
        self.journal.set_job_credentials(JobCredentials::Fresh)?;
        Ok(self.journal.retry_all_now()?)
    }

    /// Sends until nothing is pending, the policy forbids the rest, the
    /// credentials fail, or `stop` is set (checked between chunks; waits
    /// for backoff wake at once on stop).
    pub fn run_until_empty(&mut self, stop: &StopSignal) -> Result<RunOutcome, QueueError> {
        // Again here, now that the app's listener hears it.
        self.mark_missing()?;
        let mut recreated = 0;
        loop {
            self.delete_expired()?;
            if stop.is_stopped() {
                return Ok(RunOutcome::Stopped);
            }
            let file = match self.next_file()? {
                Ok(file) => file,
                Err(outcome) => return Ok(outcome),
            };
            let wait_ms = file.next_attempt_ms.saturating_sub(now_ms());
            if wait_ms > 0 {
                if stop.wait(Duration::from_millis(wait_ms)) {
                    return Ok(RunOutcome::Stopped);
                }
                continue;
            }
            let attempt = self.send_file(&file, stop)?;
            if let Some(outcome) = self.settle(&file, attempt, &mut recreated)? {
                return Ok(outcome);
            }
        }
    }

    /// The file to send next, in strict order: the first one the network
    /// allows, and a medium only once the target holds the record that cites it.
    pub(super) fn next_file(&self) -> Result<Result<QueuedFile, RunOutcome>, QueueError> {
        let pending = self.journal.pending()?;
        if pending.is_empty() {
            return Ok(Err(RunOutcome::Empty));
        }
        let network = self.network();
        let allowed: Vec<QueuedFile> =
            pending.into_iter().filter(|f| self.config.policy.allows(network, f.lane)).collect();
        if allowed.is_empty() {
            return Ok(Err(RunOutcome::WaitingForNetwork));
        }
        for file in allowed {
            if !self.record_is_sent(&file)? {
                continue;
            }
            // A file a host task is sending (a chunk job) is the host's until it
            // reports; what follows it waits too, so the order holds.
            if self.journal.job_of_file(file.id)?.is_some() {
                return Ok(Err(RunOutcome::WaitingForChunkJob));
            }
            return Ok(Ok(file));
        }
        Ok(Err(RunOutcome::WaitingForRecords))
    }

    /// Applies how an attempt at `file` ended to the journal; `Some` when
    /// the run must end with that outcome.
    pub(super) fn settle(
        &mut self,
        file: &QueuedFile,
        attempt: Attempt,
        recreated: &mut u32,
    ) -> Result<Option<RunOutcome>, QueueError> {
        match attempt {
            Attempt::Done => self.finish(file)?,
            Attempt::Stopped => return Ok(Some(RunOutcome::Stopped)),
            // The loop decides what may go now.
            Attempt::PickAgain => {}
            Attempt::Changed(error) => {
                log::warn!("{} changed on disk since it was queued: {error}", file.name);
                self.refuse(file, error)?;
            }
            Attempt::Vanished => self.report_missing(file)?,
            Attempt::Failed(TargetError::Unauthorized) => {
                self.emit(UploadEvent::Unauthorized);
                return Ok(Some(RunOutcome::Unauthorized));
            }
            Attempt::Failed(TargetError::Gone) if *recreated < MAX_RECREATES_PER_PASS => {
                *recreated += 1;
                log::info!("upload of {} expired at the target; creating it anew", file.name);
                self.journal.set_location(file.id, None, 0)?;
            }
            Attempt::Failed(TargetError::Refused(error)) => {
                log::warn!("the target refused {}: {error}", file.name);
                self.refuse(file, error)?;
            }
            Attempt::Failed(error) => {
                self.schedule_retry(file, &error)?;
            }
        }
        Ok(None)
    }

    fn send_file(&mut self, file: &QueuedFile, stop: &StopSignal) -> Result<Attempt, QueueError> {
        let mut source = match open_as_queued(file)? {
            Ok(source) => source,
            Err(attempt) => return Ok(attempt),
        };
        let (location, mut offset) = match self.resume_point(file)? {
            Ok(point) => point,
            Err(error) => return Ok(Attempt::Failed(error)),
        };
        let pace = Pace::start(self.config.max_bytes_per_second);
        let mut sent = 0u64;
        let mut chunk = Vec::with_capacity(self.config.chunk_size);
        let mut digest = SentDigest::default();
        while offset < file.size {
            if stop.is_stopped() {
                return Ok(Attempt::Stopped);
            }
            if !self.config.policy.allows(self.network(), file.lane) {
                return Ok(Attempt::PickAgain);
            }
            let length = (file.size - offset).min(self.config.chunk_size as u64);
            if let Err(source) =
                digest.catch_up(&mut source, offset).and_then(|()| read_chunk(&mut source, offset, length, &mut chunk))
            {
                return read_failure(file, source);
            }
            let target = &mut self.target;
            let appended = digest.hash_while(&chunk, || target.append(&location, offset, &chunk));
            let held = match appended {
                // Progress, and no more than we sent: anything else is a confused target.
                Ok(held) if held > offset && held <= offset + length => held,
                Ok(held) => return Ok(Attempt::Failed(implausible(held, offset, length))),
                // Someone else's offset: ask the target where it stands.
                Err(TargetError::OffsetMismatch { .. }) => match self.target.offset(&location) {
                    Ok(RemoteOffset::At(held)) if held != offset && held <= file.size => held,
                    Ok(RemoteOffset::At(held)) => return Ok(Attempt::Failed(implausible(held, offset, length))),
                    Ok(RemoteOffset::Gone) => return Ok(Attempt::Failed(TargetError::Gone)),
                    Err(error) => return Ok(Attempt::Failed(error)),
                },
                Err(error) => return Ok(Attempt::Failed(error)),
            };
            offset = held;
            self.journal.acknowledge(file.id, offset)?;
            self.emit(UploadEvent::Progress { name: file.name.clone(), acknowledged: offset, size: file.size });
            sent += length;
            if pace.wait(sent, stop) {
                return Ok(Attempt::Stopped);
            }
        }
        // The bytes the target holds are the file as queued, or it is not sent.
        whole_file_check(file, digest, &mut source)
    }

    /// Whether the record that cites `file` (a medium) is held by the target already.
    fn record_is_sent(&self, file: &QueuedFile) -> Result<bool, QueueError> {
        if file.lane != Lane::Media || file.record_sha256.is_none() {
            return Ok(true);
        }
        let record_name = format!("{}{RECORD_SUFFIX}", file.name.trim_end_matches(".mp4.age"));
        Ok(self.journal.state_of(&record_name)?.is_some_and(|s| matches!(s, FileState::Complete | FileState::Deleted)))
    }

    /// The location to append to and the offset the target holds there,
    /// creating the upload if it has none (or lost it).
    pub(super) fn resume_point(&mut self, file: &QueuedFile) -> Result<Result<(String, u64), TargetError>, QueueError> {
        if let Some(location) = &file.location {
            match self.target.offset(location) {
                Ok(RemoteOffset::At(held)) if held <= file.size => {
                    // Not a success of the upload: the failure count stays.
                    self.journal.record_offset(file.id, held)?;
                    return Ok(Ok((location.clone(), held)));
                }
                Ok(RemoteOffset::At(held)) => {
                    return Ok(Err(TargetError::Refused(format!("the target holds {held} bytes of {}", file.size))))
                }
                Ok(RemoteOffset::Gone) => log::info!("upload of {} is gone at the target; creating it anew", file.name),
                Err(error) => return Ok(Err(error)),
            }
        }
        let description = UploadDescription {
            name: file.name.clone(),
            length: file.size,
            sha256: file.sha256.clone(),
            record_sha256: file.record_sha256.clone(),
        };
        match self.target.create(&description) {
            Ok(location) => {
                self.journal.set_location(file.id, Some(&location), 0)?;
                Ok(Ok((location, 0)))
            }
            Err(error) => Ok(Err(error)),
        }
    }

    pub(super) fn finish(&self, file: &QueuedFile) -> Result<(), QueueError> {
        self.journal.complete(file.id, now_ms())?;
        log::info!("uploaded {} ({} bytes)", file.name, file.size);
        self.emit(UploadEvent::Completed { name: file.name.clone() });
        Ok(())
    }

    /// Counts a failure and returns the delay before the next attempt.
    pub(super) fn schedule_retry(&self, file: &QueuedFile, error: &TargetError) -> Result<u64, QueueError> {
        let delay = self.config.backoff.random_delay_ms(file.attempts.saturating_add(1));
        log::warn!("upload of {} failed ({error}); retrying in {delay} ms", file.name);
        self.journal.failed_attempt(file.id, &error.to_string(), now_ms() + delay)?;
        self.emit(UploadEvent::Retrying { name: file.name.clone(), error: error.to_string(), retry_in_ms: delay });
        Ok(delay)
    }

    /// Deletes the local copies of files fully acknowledged longer ago than the retention.
    pub fn delete_expired(&self) -> Result<usize, QueueError> {
        let retention_ms = u64::try_from(self.config.retention.as_millis()).unwrap_or(u64::MAX);
        let now = now_ms();
        let mut deleted = 0;
        for file in self.journal.complete_files()? {
            if file.completed_ms.is_none_or(|done| now < done.saturating_add(retention_ms)) {
                continue;
            }
            match std::fs::remove_file(&file.path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(QueueError::Read { path: file.path.display().to_string(), source }),
            }
            self.journal.set_state(file.id, FileState::Deleted, None)?;
            self.emit(UploadEvent::Deleted { name: file.name.clone() });
            deleted += 1;
        }
        Ok(deleted)
    }

    fn mark_missing(&self) -> Result<(), QueueError> {
        for file in self.journal.pending()?.iter().filter(|f| !f.path.exists()) {
            log::warn!("{} is queued but missing from disk", file.path.display());
            self.report_missing(file)?;
        }
        Ok(())
    }

    pub(super) fn report_missing(&self, file: &QueuedFile) -> Result<(), QueueError> {
        self.journal.set_state(file.id, FileState::Missing, Some("the file vanished from disk"))?;
        self.emit(UploadEvent::Missing { name: file.name.clone() });
        Ok(())
    }

    /// Kept on the device, never retried on its own (the app's "retry now" does).
    pub(super) fn refuse(&self, file: &QueuedFile, error: String) -> Result<(), QueueError> {
        self.journal.set_state(file.id, FileState::Refused, Some(&error))?;
        self.emit(UploadEvent::Refused { name: file.name.clone(), error });
        Ok(())
    }

    pub(super) fn emit(&self, event: UploadEvent) {
        if let Some(listener) = &self.listener {
            listener.on_upload_event(event);
        }
    }
}

/// The queued file, open for reading, or why it cannot be sent: gone,
/// or not the size it was queued with.
pub(super) fn open_as_queued(file: &QueuedFile) -> Result<Result<File, Attempt>, QueueError> {
    let source = match File::open(&file.path) {
        Ok(source) => source,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Err(Attempt::Vanished)),
        Err(source) => return Err(QueueError::Read { path: file.path.display().to_string(), source }),
    };
    let on_disk =
        source.metadata().map_err(|e| QueueError::Read { path: file.path.display().to_string(), source: e })?;
    if on_disk.len() != file.size {
        return Ok(Err(Attempt::Changed(format!("{} bytes on disk, {} when queued", on_disk.len(), file.size))));
    }
    Ok(Ok(source))
}

/// A read of a queued file that failed: gone or cut short (it vanished
/// or shrank), or an I/O error the caller reports.
pub(super) fn read_failure(file: &QueuedFile, source: std::io::Error) -> Result<Attempt, QueueError> {
    match source.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::UnexpectedEof => Ok(Attempt::Vanished),
        _ => Err(QueueError::Read { path: file.path.display().to_string(), source }),
    }
}

/// `Done` when `digest`, brought to cover the whole file, is the SHA-256
/// the file was queued with; `Changed` when not.
pub(super) fn whole_file_check(
    file: &QueuedFile,
    mut digest: SentDigest,
    source: &mut File,
) -> Result<Attempt, QueueError> {
    if let Err(error) = digest.catch_up(source, file.size) {
        return read_failure(file, error);
    }
    if digest.finish_hex().as_deref() != Some(file.sha256.as_str()) {
        return Ok(Attempt::Changed("its SHA-256 differs from the one queued".into()));
    }
    Ok(Attempt::Done)
}

pub(super) fn implausible(held: u64, offset: u64, length: u64) -> TargetError {
    TargetError::Transient(format!("the target claims {held} bytes after {length} were sent at {offset}"))
}

/// Keeps the average rate under a cap by waiting after each chunk.
struct Pace {
    started: Instant,
    bytes_per_second: Option<u64>,
}

impl Pace {
    fn start(bytes_per_second: Option<u64>) -> Self {
        Self { started: Instant::now(), bytes_per_second }
    }

    /// Waits until `sent` bytes are within the cap; true when stopped.
    fn wait(&self, sent: u64, stop: &StopSignal) -> bool {
        let Some(rate) = self.bytes_per_second.filter(|r| *r > 0) else { return false };
        let due = Duration::from_secs_f64(sent as f64 / rate as f64);
        match due.checked_sub(self.started.elapsed()) {
            Some(ahead) => stop.wait(ahead),
            None => false,
        }
    }
}

pub(super) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
#[path = "queue_tests.rs"]
mod tests;
