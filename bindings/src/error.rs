//! The one error the app sees. Core errors fold into a few cases an app can
//! act on; the message says what failed, never pixel data or secrets.

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
}

/// The one place core errors become FFI errors.
impl From<CaptureError> for EgocapError {
    fn from(error: CaptureError) -> Self {
        let reason = error.to_string();
        match error {
            CaptureError::Frame(_) | CaptureError::FormatChanged { .. } => Self::InvalidFrame { reason },
            CaptureError::Geometry(_) | CaptureError::Settings(_) => Self::InvalidSettings { reason },
            CaptureError::Encoder(_) => Self::Encoder { reason },
            CaptureError::Sink(_) => Self::Storage { reason },
            CaptureError::Segment(_) | CaptureError::Build(_) | CaptureError::PipelineFailed(_) => {
                Self::PipelineFailed { reason }
            }
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
