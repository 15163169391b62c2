//! Chunk jobs for a host whose HTTP stack sends from files outside the
//! app's process (iOS background `URLSession`), mirrored from
//! `egocap_core::upload::jobs`. The app asks for a job, starts a background
//! upload task with the job's request and body file (and keeps the job id
//! with the task, e.g. in `taskDescription`), and reports the task's end
//! with `finishChunkJob`, perhaps after a relaunch.

use egocap_core::upload::{self as core, ChunkJobFinished, RunOutcome};

use super::host::{HttpHeader, HttpResponse};

/// One chunk to send: `method` to `url` with `headers` (credentials
/// included; set no `Content-Length`, the stack takes it from the file)
/// and the whole of `body_path` as the body.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ChunkJob {
    /// Report it back with `finishChunkJob`; random, never reused.
    pub id: i64,
    /// The file's name at the server: `<session>/<file>`.
    pub name: String,
    pub method: String,
    pub url: String,
    pub headers: Vec<HttpHeader>,
    /// Holds exactly `length` bytes; the library deletes it once the job is reported.
    pub body_path: String,
    /// Where the chunk starts in the file.
    pub offset: u64,
    pub length: u64,
    /// The whole file's length.
    pub size: u64,
    /// Whether the task may use a metered network (`allowsExpensiveNetworkAccess`):
    /// identity and segment records always; media and session-end records
    /// only when the config allows metered uploads.
    pub allows_metered: bool,
    /// Whether the config wants it sent only while charging. URLSession has
    /// no such switch: submit such a job only while the device charges.
    pub requires_charging: bool,
}

/// What to do next, from `planChunkJob`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum ChunkJobPlan {
    /// Start a background upload task for this job.
    Submit { job: ChunkJob },
    /// A job is in flight: wait for its task to end (after a relaunch, call
    /// `reconcileChunkJobs` first).
    Busy { job_id: i64 },
    /// The next file waits out a backoff: plan again after this long
    /// (e.g. a task's `earliestBeginDate`, or a scheduled background task).
    Wait { retry_in_ms: u64 },
    /// Nothing can be sent now, for the reasons `runUntilEmpty` gives.
    Idle { outcome: RunOutcome },
}

/// How the host's task ended.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum ChunkJobOutcome {
    /// The server answered, whatever the status.
    Response { response: HttpResponse },
    /// No response: the task failed (connection, timeout, cancelled).
    Failed { reason: String },
}

/// What the reported outcome did, from `finishChunkJob`.
#[uniffi::remote(Enum)]
pub enum ChunkJobFinished {
    /// The server holds `acknowledged` of `size` bytes: plan the next job.
    Acknowledged { name: String, acknowledged: u64, size: u64 },
    /// The server holds the whole file, and it is the file that was queued.
    Completed { name: String },
    /// Not sent: plan again after `retry_in_ms` (0: at once).
    Retrying { name: String, retry_in_ms: u64 },
    /// Refused for good (by the server, or the file changed since it was
    /// queued); it stays on the device until `retryNow`.
    Refused { name: String, error: String },
    /// The file vanished from the device before it was all sent.
    Missing { name: String },
    /// The server refused the credentials after a refresh: planning pauses until `retryNow`.
    Unauthorized,
    /// No such job in flight (reported twice, settled by `reconcileChunkJobs`,
    /// or its file since purged or re-created): nothing to do.
    Unknown,
}

impl From<core::ChunkJob> for ChunkJob {
    fn from(job: core::ChunkJob) -> Self {
        Self {
            id: job.id,
            name: job.name,
            method: job.request.method,
            url: job.request.url,
            headers: job.request.headers.into_iter().map(|(name, value)| HttpHeader { name, value }).collect(),
            body_path: job.body_path.display().to_string(),
            offset: job.offset,
            length: job.length,
            size: job.size,
            allows_metered: job.allows_metered,
            requires_charging: job.requires_charging,
        }
    }
}

impl From<core::JobPlan> for ChunkJobPlan {
    fn from(plan: core::JobPlan) -> Self {
        match plan {
            core::JobPlan::Submit(job) => Self::Submit { job: job.into() },
            core::JobPlan::Busy { job_id } => Self::Busy { job_id },
            core::JobPlan::Wait { retry_in_ms } => Self::Wait { retry_in_ms },
            core::JobPlan::Idle(outcome) => Self::Idle { outcome },
        }
    }
}

impl From<ChunkJobOutcome> for core::JobOutcome {
    fn from(outcome: ChunkJobOutcome) -> Self {
        match outcome {
            ChunkJobOutcome::Response { response } => Self::Response(response.into()),
            ChunkJobOutcome::Failed { reason } => Self::Failed(reason),
        }
    }
}
