//! What the upload queue reports: each queued file, why a run ended, and
//! the events it sends as it goes, mirrored from `egocap_core::upload`.

use egocap_core::upload::{FileState, Lane, QueuedFile, RunOutcome, UploadEvent};

/// A file as the queue knows it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct QueuedUpload {
    /// Its name at the target: `<session>/<file>`.
    pub name: String,
    /// The file on the device.
    pub path: String,
    pub lane: Lane,
    pub state: UploadState,
    pub size: u64,
    /// Bytes the target has acknowledged.
    pub acknowledged: u64,
    /// Failed attempts since the last acknowledged chunk.
    pub attempts: u32,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// Milliseconds since the Unix epoch before which it is not retried (0: now).
    pub next_attempt_ms: u64,
}

impl From<QueuedFile> for QueuedUpload {
    fn from(f: QueuedFile) -> Self {
        Self {
            name: f.name,
            path: f.path.display().to_string(),
            lane: f.lane,
            state: f.state.into(),
            size: f.size,
            acknowledged: f.acknowledged,
            attempts: f.attempts,
            last_error: f.last_error,
            next_attempt_ms: f.next_attempt_ms,
        }
    }
}

/// Where a queued file stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum UploadState {
    /// Waiting for (or in the middle of) its upload.
    Pending,
    /// The target holds every byte; the local file stays until its retention ends.
    Complete,
    /// Complete, and deleted from the device after its retention period.
    Deleted,
    /// The file vanished from the device before the target had all of it.
    Missing,
    /// Removed unsent by a consent withdrawal.
    Purged,
    /// The target refused it for good; kept on the device until `retryNow`.
    Refused,
}

impl From<FileState> for UploadState {
    fn from(state: FileState) -> Self {
        match state {
            FileState::Pending => Self::Pending,
            FileState::Complete => Self::Complete,
            FileState::Deleted => Self::Deleted,
            FileState::Missing => Self::Missing,
            FileState::Purged => Self::Purged,
            FileState::Refused => Self::Refused,
        }
    }
}

/// Upload order: each lane goes before the next.
#[uniffi::remote(Enum)]
pub enum Lane {
    /// Device registration, recipient set, consent, withdrawal and purge records.
    Identity,
    /// `seg-NNNNNN.record.json`: sent before the segment it describes.
    SegmentRecord,
    /// `seg-NNNNNN.mp4.age`, and any file queued with `enqueueFile`.
    Media,
    /// `session-end.json` and the session summary: after the last segment.
    SessionEnd,
}

/// Why `runUntilEmpty` returned.
#[uniffi::remote(Enum)]
pub enum RunOutcome {
    /// Nothing is left to send.
    Empty,
    /// `stop()` was called.
    Stopped,
    /// Files wait for a network the config allows them on.
    WaitingForNetwork,
    /// The server refused the credentials after a refresh; the files wait.
    Unauthorized,
    /// Media wait for their records, which the server refused or that are missing (see `status()`).
    WaitingForRecords,
    /// The next file is being sent by a chunk job's task (`planChunkJob`); it and what follows wait for its report.
    WaitingForChunkJob,
}

/// What the queue tells the app as it goes (to its `UploadListener`).
#[uniffi::remote(Enum)]
pub enum UploadEvent {
    /// The target acknowledged `acknowledged` of `size` bytes.
    Progress { name: String, acknowledged: u64, size: u64 },
    /// The target holds the whole file.
    Completed { name: String },
    /// A transient failure; the file is retried after `retry_in_ms`.
    Retrying { name: String, error: String, retry_in_ms: u64 },
    /// The target refused the file for good; it waits for `retryNow`.
    Refused { name: String, error: String },
    /// The file vanished from the device before it was sent.
    Missing { name: String },
    /// The local copy was deleted after its retention period.
    Deleted { name: String },
    /// Removed unsent after its consent was withdrawn.
    Purged { name: String },
    /// The server refused the credentials after a refresh: the run ends.
    Unauthorized,
}
