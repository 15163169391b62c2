//! Kotlin and Swift bindings for `egocap-core`, through UniFFI procedural
//! macros. A thin facade: records and enums mirroring the core's types, the
//! [`RecordingSession`] object (sealed and face-blurred by default, see
//! [`FaceBlurConfig`]), signed records as JSON text (device registration,
//! consent, withdrawal, recipient set, key change), [`verify_dataset`] for
//! the owner's side, the [`UploadQueue`] that sends sealed sessions to a
//! tus server or a local inbox, one error enum, and the host's hooks as
//! foreign traits ([`VideoEncoder`], [`KeyStore`], [`LogSink`],
//! [`EventSink`], [`HttpTransport`], [`AuthProvider`], [`UploadListener`]).
//! No capture, blurring, provenance or upload logic lives here.
//!
//! Threading: `RecordingSession::start` (model, encoder and directory set-up),
//! `stop` (waits for the last segment to be encoded and written) and
//! releasing a session that was never stopped (which stops it) block; apps
//! call them from a background thread (Kotlin: `Dispatchers.IO`, Swift: a
//! `Task.detached` or a serial queue). Pushes return quickly. Foreign trait
//! methods run on the library's worker thread and must return quickly.
//! `UploadQueue.runUntilEmpty` blocks while it sends (the app's upload
//! worker calls it); the upload hooks run on that thread.
//!
//! Errors: every call that does work returns `Result<_, EgocapError>` and
//! runs inside [`error::guarded`], so even a panic on the caller's thread
//! reaches the app as a typed `EgocapError::Internal`.

// The test-only exports make the library panic on purpose: they must never
// ship. A release build (no debug assertions) with them refuses to compile.
#[cfg(all(feature = "fault-injection", not(debug_assertions)))]
compile_error!("the `fault-injection` feature is for debug test builds only, never a release");

uniffi::setup_scaffolding!();

mod blur;
mod bulk_bytes;
mod config;
mod consent;
mod encoder;
mod error;
mod events;
#[cfg(feature = "fault-injection")]
mod fault_injection;
mod frame;
mod identity;
mod imu;
mod keystore;
mod logging;
mod push_cost;
mod sealing;
mod session;
mod summary;
mod upload;
mod verify;

pub use blur::{FaceBlurConfig, FaceModel};
pub use bulk_bytes::BulkBytes;
pub use config::SessionConfig;
pub use consent::{ConsentReceipt, ConsentTerms};
pub use encoder::VideoEncoder;
pub use error::{EgocapError, KeyStoreFailure};
pub use events::EventSink;
pub use frame::{Frame, Plane};
pub use identity::AgeIdentity;
pub use imu::ImuSample;
pub use keystore::{FileKeyStore, KeyStore};
pub use logging::{LogLevel, LogRecord, LogSink};
pub use push_cost::PushCost;
pub use sealing::SealingConfig;
pub use session::RecordingSession;
pub use upload::{
    set_aside_upload_journal, AuthProvider, ChunkJob, ChunkJobOutcome, ChunkJobPlan, HttpHeader, HttpRequest,
    HttpResponse, HttpTransport, QueuedUpload, TransportFailure, UploadListener, UploadQueue, UploadQueueConfig,
    UploadState,
};
pub use verify::{verify_dataset, SegmentFailure, SegmentFailureKind, SegmentVerdict, VerificationReport};
