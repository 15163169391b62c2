//! The one error the app sees. Core errors fold into a few cases an app can
//! act on; the message says what failed, never pixel data or secrets.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use egocap_core::session::CaptureError;

/// Thrown by every fallible call (Kotlin `EgocapException`, Swift `EgocapError`).
/// Hosts may also throw it from a foreign-trait method; any other exception
/// thrown there arrives in Rust as [`EgocapError::Callback`].
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum EgocapError {
    /// A pushed frame does not match the session's format, strides or sizes.
    #[error("invalid frame: {reason}")]
    InvalidFrame { reason: String },
    /// The configuration (or a call that needs a setting, e.g. IMU) is not usable.
    #[error("invalid settings: {reason}")]
    InvalidSettings { reason: String },
    /// The encoder (OpenH264 or the host's) could not be set up or failed.
    #[error("encoder: {reason}")]
    Encoder { reason: String },
    /// A segment or summary could not be written to storage.
    #[error("storage: {reason}")]
    Storage { reason: String },
    /// The recording pipeline failed; segments finished before it are kept.
    #[error("recording failed: {reason}")]
    PipelineFailed { reason: String },
    /// The session has already stopped.
    #[error("the session has stopped")]
    Stopped,
    /// A host callback threw an exception that is not an `EgocapError`.
    #[error("host callback failed: {reason}")]
    Callback { reason: String },
    /// A bug in the library: the call panicked on the caller's thread. The
    /// app keeps running; a session the call touched may be unusable.
    #[error("internal error: {reason}")]
    Internal { reason: String },
}

/// Runs one exported call, turning a panic on the caller's thread into
/// [`EgocapError::Internal`] (UniFFI would otherwise throw its untyped
/// `InternalException`). Every exported function that does work goes
/// through here; panics on our worker threads are caught by the core.
pub(crate) fn guarded<T>(call: impl FnOnce() -> Result<T, EgocapError>) -> Result<T, EgocapError> {
    // AssertUnwindSafe: after a panic the caller gets an error and any
    // session state it touched is behind the core's own poisoning checks.
    catch_unwind(AssertUnwindSafe(call))
        .unwrap_or_else(|payload| Err(EgocapError::Internal { reason: panic_message(&*payload) }))
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    format!("panic: {text}")
}

/// The one place core errors become FFI errors. The reason is the core's
/// message without the prefix the FFI case's own message already says.
impl From<CaptureError> for EgocapError {
    fn from(error: CaptureError) -> Self {
        match error {
            CaptureError::Frame(e) => Self::InvalidFrame { reason: e.to_string() },
            e @ CaptureError::FormatChanged { .. } => Self::InvalidFrame { reason: e.to_string() },
            e @ CaptureError::Geometry(_) => Self::InvalidSettings { reason: e.to_string() },
            CaptureError::Settings(reason) => Self::InvalidSettings { reason },
            CaptureError::Encoder(e) => Self::Encoder { reason: e.to_string() },
            e @ CaptureError::Sink(_) => Self::Storage { reason: e.to_string() },
            e @ (CaptureError::Segment(_) | CaptureError::Build(_)) => Self::PipelineFailed { reason: e.to_string() },
            CaptureError::PipelineFailed(reason) => Self::PipelineFailed { reason },
            CaptureError::Stopped => Self::Stopped,
        }
    }
}

/// An exception of another type thrown inside a host callback.
impl From<uniffi::UnexpectedUniFFICallbackError> for EgocapError {
    fn from(error: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Callback { reason: error.reason }
    }
}

#[cfg(test)]
mod tests {
    use egocap_core::frame::FrameError;

    use super::*;

    #[test]
    fn messages_say_their_prefix_once() {
        let frame: EgocapError = CaptureError::Frame(FrameError::BadDimensions { width: 3, height: 3 }).into();
        assert_eq!(frame.to_string().matches("invalid frame").count(), 1, "{frame}");
        let failed: EgocapError = CaptureError::PipelineFailed("encoder panicked".into()).into();
        assert_eq!(failed.to_string(), "recording failed: encoder panicked");
        let settings: EgocapError = CaptureError::Settings("queue too large".into()).into();
        assert_eq!(settings.to_string(), "invalid settings: queue too large");
    }

    #[test]
    fn a_panic_in_a_guarded_call_is_an_internal_error() {
        let result: Result<(), _> = guarded(|| panic!("boom"));
        assert!(matches!(result, Err(EgocapError::Internal { reason }) if reason == "panic: boom"));
    }
}
