//! The upload queue: sealed files and their records leave the device in
//! order (records first), resumably, a chunk at a time, to a tus 1.0
//! server or a local inbox directory; nothing is deleted locally before the
//! target holds all of it. The journal (SQLite, WAL) survives kills.

mod digest;
pub mod inbox;
pub mod jobs;
pub mod journal;
pub mod journal_jobs;
pub mod lane;
pub mod purge;
pub mod queue;
pub mod scan;
pub mod schedule;
pub mod storage;
pub mod target;
pub mod transport;
pub mod tus;

pub use inbox::InboxTarget;
pub use jobs::{ChunkJob, ChunkJobFinished, JobOutcome, JobPlan};
pub use journal::{FileState, JournalError, QueuedFile, UploadJournal};
pub use lane::Lane;
pub use purge::PurgeReport;
pub use queue::{QueueConfig, QueueError, RunOutcome, UploadEvent, UploadListener, UploadQueue};
pub use schedule::{Backoff, NetworkKind, NetworkPolicy, NetworkState, StopSignal};
pub use storage::{StorageLimits, StorageRefusal, StorageUse};
pub use target::{JobRequest, RemoteOffset, TargetError, UploadDescription, UploadTarget};
pub use transport::{HttpRequest, HttpResponse, Timeouts, Transport, TransportError, UreqTransport};
pub use tus::{AuthError, AuthProvider, TusTarget};
