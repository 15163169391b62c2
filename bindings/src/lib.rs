//! Kotlin and Swift bindings for `egocap-core`, through UniFFI procedural
//! macros. A thin facade: records and enums mirroring the core's types, the
//! [`RecordingSession`] object, one error enum, and the host's hooks as
//! foreign traits ([`VideoEncoder`], [`LogSink`], [`EventSink`]). No
//! capture logic lives here.
//!
//! Threading: every call blocks its caller only briefly except
//! [`RecordingSession::stop`], which waits for the last segment to be
//! encoded and written; apps call it from a background thread (Kotlin:
//! `Dispatchers.IO`, Swift: a `Task.detached` or a serial queue). Foreign
//! trait methods run on the library's worker thread and must return quickly.

uniffi::setup_scaffolding!();

mod bulk_bytes;
mod config;
mod encoder;
mod error;
mod events;
#[cfg(feature = "fault-injection")]
mod fault_injection;
mod frame;
mod imu;
mod logging;
mod session;
mod summary;

pub use bulk_bytes::BulkBytes;
pub use config::SessionConfig;
pub use encoder::VideoEncoder;
pub use error::EgocapError;
pub use events::EventSink;
pub use frame::{Frame, Plane};
pub use imu::ImuSample;
pub use logging::{LogLevel, LogRecord, LogSink};
pub use session::RecordingSession;
