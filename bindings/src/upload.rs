//! The upload queue as the app drives it: sealed sessions leave the device
//! resumably, records before media, to a tus 1.0 server or a local inbox
//! directory (`egocap_core::upload`).
//!
//! Threading: `runUntilEmpty` blocks for as long as there is something to
//! send; the app calls it from its own worker (WorkManager, a
//! BGProcessingTask) and `stop()` from any other thread ends it between
//! chunks. The other calls do not wait for a run: they go to the same
//! journal through a second connection (SQLite in WAL mode lets the two
//! share it), so the UI can poll `status()` and a finished recording can
//! be queued while a run sends. Settings changed during a run
//! (`setNetwork`, `setListener`) apply from the next run.
//!
//! An app whose uploads run in an iOS background `URLSession` drives the
//! queue with chunk jobs instead (`planChunkJob`, `finishChunkJob`,
//! `reconcileChunkJobs`): they go through the runner, like a run.

mod config;
mod host;
mod jobs;
mod status;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use egocap_core::upload::{
    self as core, ChunkJobFinished, InboxTarget, NetworkState, RunOutcome, StopSignal, TusTarget, UploadJournal,
    UploadTarget, UreqTransport,
};

use crate::error::{guarded, EgocapError, RecordRole};
use crate::identity::now;
use crate::keystore::{HostKeyStore, KeyStore};
pub use config::UploadQueueConfig;
use egocap_core::provenance::record::SignedRecord;
pub use host::{AuthProvider, HttpHeader, HttpRequest, HttpResponse, HttpTransport, TransportFailure, UploadListener};
use host::{HostAuth, HostTransport, HostUploadListener};
pub use jobs::{ChunkJob, ChunkJobOutcome, ChunkJobPlan};

pub use status::{QueuedUpload, UploadState};

/// The journal of what is queued, one target, and the loop that sends.
/// Thread-safe; see the module documentation for which calls block.
#[derive(uniffi::Object)]
pub struct UploadQueue {
    /// Sends; held for the whole of `run_until_empty`.
    runner: Mutex<core::UploadQueue>,
    /// The same journal through its own connection, for every call but
    /// the run, so none of them waits for a run to end.
    control: Mutex<core::UploadQueue>,
    /// The stop signal of the run in progress (a fresh one per run).
    run_stop: Mutex<Arc<StopSignal>>,
    /// What the host last reported, shared with the runner, which reads it between chunks.
    network: Arc<Mutex<NetworkState>>,
    listener: Mutex<Option<Arc<dyn core::UploadListener>>>,
}

#[uniffi::export]
impl UploadQueue {
    /// A queue that sends to a tus 1.0 server: `endpoint` is its creation
    /// URL (e.g. `https://host/files/`). `transport` is the host's HTTP
    /// stack, or `null` for the library's own (with the config's timeouts);
    /// `auth` adds credentials to every request, or `null` for none. Opens
    /// (or creates) the journal at `journal_path`; a journal that is not one
    /// is `UploadJournalCorrupt`, a path that cannot be created `Storage`.
    #[uniffi::constructor]
    pub fn open_tus(
        journal_path: String,
        endpoint: String,
        config: UploadQueueConfig,
        transport: Option<Arc<dyn HttpTransport>>,
        auth: Option<Arc<dyn AuthProvider>>,
    ) -> Result<Arc<Self>, EgocapError> {
        guarded(|| {
            let transport: Arc<dyn core::Transport> = match transport {
                Some(host) => Arc::new(HostTransport(host)),
                None => Arc::new(UreqTransport::new(config.timeouts())),
            };
            let auth = auth.map(|host| Arc::new(HostAuth(host)) as Arc<dyn core::AuthProvider>);
            let target = || Box::new(TusTarget::new(&endpoint, transport.clone(), auth.clone())) as _;
            Self::open(&journal_path, target, config)
        })
    }

    /// A queue that "uploads" into a local directory with the same chunk
    /// and resume semantics: each file ends up at `<inbox_dir>/<session>/<file>`.
    /// For desktop tools, tests, and an app without a server yet.
    #[uniffi::constructor]
    pub fn open_inbox(
        journal_path: String,
        inbox_dir: String,
        config: UploadQueueConfig,
    ) -> Result<Arc<Self>, EgocapError> {
        guarded(|| Self::open(&journal_path, || Box::new(InboxTarget::new(Path::new(&inbox_dir))) as _, config))
    }

    /// Queues every finished file of the sealed sessions directly under
    /// `root` (the recording's output directory) that is not queued yet;
    /// returns how many were added. A segment still being written is left
    /// for a later call.
    pub fn enqueue_sessions(&self, root: String) -> Result<u32, EgocapError> {
        guarded(|| Ok(count(lock(&self.control).enqueue_sessions(Path::new(&root))?)))
    }

    /// Queues one file under `name` at the target (`<session>/<file>`);
    /// false if that path is queued already.
    pub fn enqueue_file(&self, path: String, name: String) -> Result<bool, EgocapError> {
        guarded(|| Ok(lock(&self.control).enqueue_file(Path::new(&path), &name)?))
    }

    /// Every file the journal knows, in upload order (records before the
    /// media that cite them).
    pub fn status(&self) -> Result<Vec<QueuedUpload>, EgocapError> {
        guarded(|| Ok(lock(&self.control).status()?.into_iter().map(Into::into).collect()))
    }

    /// Makes every waiting or refused file due now (the app's "retry now").
    pub fn retry_now(&self) -> Result<(), EgocapError> {
        guarded(|| Ok(lock(&self.control).retry_now()?))
    }

    /// What the device is connected to; media waits for a network the
    /// config allows, records go on any. Until the app says, the queue
    /// assumes a metered network (records only). A run in progress reads it
    /// between chunks: a switch to cellular holds media back at once.
    pub fn set_network(&self, network: NetworkState) {
        *lock(&self.network) = network;
    }

    /// Receives the queue's events from now on (from the next run for a
    /// run in progress), replacing any listener set before.
    pub fn set_listener(&self, listener: Arc<dyn UploadListener>) {
        let listener: Arc<dyn core::UploadListener> = Arc::new(HostUploadListener(listener));
        lock(&self.control).set_listener(listener.clone());
        *lock(&self.listener) = Some(listener);
    }

    /// Sends until nothing is pending (`EMPTY`), the network the host set
    /// allows nothing more (`WAITING_FOR_NETWORK`), the server refuses the
    /// credentials after a refresh (`UNAUTHORIZED`), or `stop()` is called
    /// (`STOPPED`). Failed requests are retried with backoff within the
    /// run. Blocking, for as long as that takes: call it from a worker
    /// thread. A second call waits for the first to end.
    pub fn run_until_empty(&self) -> Result<RunOutcome, EgocapError> {
        guarded(|| {
            let mut runner = lock(&self.runner);
            let stop = Arc::new(StopSignal::new());
            *lock(&self.run_stop) = stop.clone();
            if let Some(listener) = lock(&self.listener).clone() {
                runner.set_listener(listener);
            }
            Ok(runner.run_until_empty(&stop)?)
        })
    }

    /// Ends the run in progress between two chunks (at once if it waits to
    /// retry): its `runUntilEmpty` returns `STOPPED`, at most one chunk
    /// having been sent in vain. Does nothing when no run is going; a later
    /// run sends again. Returns at once; call it from any thread.
    pub fn stop(&self) {
        lock(&self.run_stop).stop();
    }

    /// For a host that uploads from files in a background session (iOS):
    /// the next chunk to send as a job, or why there is none. Does what a
    /// run does before a chunk (asks the server where the file stands, or
    /// creates its upload: blocking network calls) and writes the chunk to
    /// its own body file beside the journal. One job is in flight at a
    /// time (`BUSY` until it is reported). Needs a tus queue (`openTus`);
    /// an inbox queue is `InvalidSettings`. A `runUntilEmpty` leaves a
    /// file alone while a job of it is in flight. A 401 while planning
    /// (after the provider's one refresh) pauses planning like a job's
    /// second 401: `IDLE(UNAUTHORIZED)` until `retryNow`.
    pub fn plan_chunk_job(&self) -> Result<ChunkJobPlan, EgocapError> {
        guarded(|| Ok(self.job_runner().plan_chunk_job()?.into()))
    }

    /// Reports how job `job_id`'s task ended (`finishChunkJob` after a
    /// relaunch is fine: the journal kept the job). Progress and completion
    /// also reach the listener. Then plan the next job.
    pub fn finish_chunk_job(&self, job_id: i64, outcome: ChunkJobOutcome) -> Result<ChunkJobFinished, EgocapError> {
        guarded(|| Ok(self.job_runner().finish_chunk_job(job_id, outcome.into())?))
    }

    /// Call at every launch, before planning, with the ids of the jobs
    /// whose tasks the background session still has (`getAllTasks`): a job
    /// whose chunk the server holds whole is acknowledged (`HEAD`); a live
    /// one stays in flight (even if part of it arrived: its task may still
    /// be sending); any other is forgotten (what part of it arrived is
    /// acknowledged) and its chunk planned again. Jobs this queue planned
    /// since it opened always stay. Returns how many jobs stay in flight.
    pub fn reconcile_chunk_jobs(&self, live_job_ids: Vec<i64>) -> Result<u32, EgocapError> {
        guarded(|| Ok(count(self.job_runner().reconcile_chunk_jobs(&live_job_ids)?)))
    }

    /// Applies a consent withdrawal (the JSON `withdrawConsent` returned,
    /// signed by `keystore`'s device) to the files under `recordings_root`:
    /// every unsent file of that consent is deleted and its unfinished upload
    /// abandoned, and the withdrawal and a signed purge record listing them
    /// are queued ahead of any media. Returns the purged files' names.
    /// Files the server already holds are left to the dataset owner, who
    /// receives the withdrawal.
    pub fn purge_consent(
        &self,
        recordings_root: String,
        withdrawal_json: String,
        keystore: Arc<dyn KeyStore>,
    ) -> Result<Vec<String>, EgocapError> {
        guarded(|| {
            let withdrawal = SignedRecord::parse(withdrawal_json.as_bytes())
                .map_err(|e| EgocapError::from_record(RecordRole::Other, e))?;
            let report = lock(&self.control).purge_consent(
                Path::new(&recordings_root),
                &withdrawal,
                &HostKeyStore(keystore),
                now(),
            )?;
            Ok(report.purged.into_iter().map(|f| f.name).collect())
        })
    }

    /// Deletes the local copies of files the target has held in full for
    /// longer than the retention period; returns how many. Each run does
    /// this too.
    pub fn delete_expired(&self) -> Result<u32, EgocapError> {
        guarded(|| Ok(count(lock(&self.control).delete_expired()?)))
    }
}

impl UploadQueue {
    /// The runner, set up as a run would set it up (the listener the app set),
    /// for the chunk-job calls, which send as a run does.
    fn job_runner(&self) -> MutexGuard<'_, core::UploadQueue> {
        let mut runner = lock(&self.runner);
        if let Some(listener) = lock(&self.listener).clone() {
            runner.set_listener(listener);
        }
        runner
    }

    /// Opens the journal twice (runner and control), each with its own target.
    fn open(
        journal_path: &str,
        target: impl Fn() -> Box<dyn UploadTarget>,
        config: UploadQueueConfig,
    ) -> Result<Arc<Self>, EgocapError> {
        let config = core::QueueConfig::from(config);
        let journal = Path::new(journal_path);
        let runner = core::UploadQueue::open(journal, target(), config.clone())?;
        let control = core::UploadQueue::open(journal, target(), config)?;
        let network = runner.network_handle();
        // Unknown is metered: nothing but records until the app says otherwise.
        *lock(&network) = NetworkState { kind: core::NetworkKind::Metered, charging: false };
        Ok(Arc::new(Self {
            runner: Mutex::new(runner),
            control: Mutex::new(control),
            run_stop: Mutex::new(Arc::new(StopSignal::new())),
            network,
            listener: Mutex::new(None),
        }))
    }
}

/// Moves a journal that `UploadQueue.open…` found corrupt to
/// `<journal_path>.corrupt-<ms>` (kept for inspection; its write-ahead log
/// is removed with it), so a fresh journal can be opened at the same path.
/// Returns the new name.
#[uniffi::export]
pub fn set_aside_upload_journal(journal_path: String) -> Result<String, EgocapError> {
    guarded(|| {
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let aside = UploadJournal::set_aside(Path::new(&journal_path), u64::try_from(now_ms).unwrap_or(u64::MAX))?;
        Ok(aside.display().to_string())
    })
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic inside a call (turned into `Internal` by `guarded`) leaves
    // nothing half-done: the journal commits every change whole.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_while_no_run_is_going_does_not_stop_the_next_run() {
        let dir = std::env::temp_dir().join(format!("egocap-ffi-upload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let journal = dir.join("journal.db").display().to_string();
        let queue =
            UploadQueue::open_inbox(journal, dir.join("inbox").display().to_string(), UploadQueueConfig::default())
                .unwrap();
        queue.stop();
        std::fs::write(dir.join("consent.json"), b"{}").unwrap();
        assert!(queue.enqueue_file(dir.join("consent.json").display().to_string(), "s/consent.json".into()).unwrap());
        assert_eq!(queue.run_until_empty().unwrap(), RunOutcome::Empty);
        assert_eq!(std::fs::read(dir.join("inbox/s/consent.json")).unwrap(), b"{}");
        assert_eq!(queue.status().unwrap()[0].state, UploadState::Complete);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
