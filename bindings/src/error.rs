//! The one error the app sees, and the one a host key store throws. Core
//! errors fold into a few cases an app can act on; the message says what
//! failed, never pixel data or secrets (no private key, no age identity).
//! (A host HTTP transport throws its own, `TransportFailure`, beside its
//! trait in `upload/host.rs`.)

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use egocap_core::age::AgeError;
use egocap_core::blur::detector::DetectError;
use egocap_core::provenance::keystore::{KeyStoreError, PublicKeyError};
use egocap_core::provenance::RecordError;
use egocap_core::session::CaptureError;
use egocap_core::sink::SinkError;
use egocap_core::upload::{JournalError, QueueError};
use egocap_core::verify::VerifyError;

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
    /// A segment or summary could not be written to storage, or a file
    /// to upload (or the upload journal) could not be read or written.
    #[error("storage: {reason}")]
    Storage { reason: String },
    /// The disk is full: the upload journal (or a record the queue writes)
    /// cannot take a change. Nothing queued is lost; free space and call again.
    #[error("{reason}")]
    StorageFull { reason: String },
    /// The upload journal cannot be used: it is not a journal, is damaged,
    /// or was written by a newer egocap. The queued files are untouched:
    /// `setAsideUploadJournal(path)` moves it aside, and a queue opened
    /// afterwards adopts the sessions on disk again (`enqueueSessions`).
    /// The reason (the core's message) already says which journal.
    #[error("{reason}")]
    UploadJournalCorrupt { reason: String },
    /// The recording pipeline failed; segments finished before it are kept.
    #[error("recording failed: {reason}")]
    PipelineFailed { reason: String },
    /// The session has already stopped.
    #[error("the session has stopped")]
    Stopped,
    /// A host callback threw an exception that is not an `EgocapError`.
    #[error("host callback failed: {reason}")]
    Callback { reason: String },
    /// The signing key failed: a key file could not be made or read, or the
    /// host's `KeyStore` threw or returned a key or signature that is not
    /// Ed25519 (wrong length, or a signature that does not verify).
    #[error("key store: {reason}")]
    KeyStore { reason: String },
    /// A record's JSON does not parse, is not signed, or a signature on it
    /// does not verify (device registration, withdrawal, recipient set).
    #[error("invalid record: {reason}")]
    InvalidRecord { reason: String },
    /// A key given as text is malformed: the owner's Ed25519 key (64 hex
    /// digits), an `age1…` recipient or an `AGE-SECRET-KEY-1…` identity.
    /// The message never repeats the key.
    #[error("invalid key: {reason}")]
    InvalidKey { reason: String },
    /// The consent cannot start a recording on this device: unreadable, not
    /// a consent record, given on another device (another key), or its
    /// worker id is not a pseudonym. Ask the worker for consent again.
    #[error("invalid consent: {reason}")]
    ConsentInvalid { reason: String },
    /// The consent was withdrawn (a signed withdrawal of it was given).
    #[error("consent {consent_id} was withdrawn at {withdrawn_at}")]
    ConsentWithdrawn { consent_id: String, withdrawn_at: String },
    /// The recipient set is not one the dataset owner's pinned key signed
    /// (or not a recipient set at all): footage is never sealed to it.
    #[error("untrusted recipient set: {reason}")]
    RecipientSetUntrusted { reason: String },
    /// `verifyDataset` found no segment records under the directory.
    #[error("nothing to verify: {reason}")]
    NothingToVerify { reason: String },
    /// The face model cannot be read or is not a usable face detector
    /// (missing file, corrupt or truncated bytes, another network). Nothing
    /// was recorded: a session never starts without working face blurring.
    /// The reason (the core's message) already starts with what failed.
    #[error("{reason}")]
    FaceModelInvalid { reason: String },
    /// A bug in the library: the call panicked on the caller's thread. The
    /// app keeps running; a session the call touched may be unusable.
    #[error("internal error: {reason}")]
    Internal { reason: String },
}

/// What a host `KeyStore` throws (Kotlin `KeyStoreFailure`, Swift
/// `KeyStoreFailure`; not `KeyStoreException`, which would read like
/// `java.security.KeyStoreException` in the same file). Any other exception
/// thrown there arrives as [`KeyStoreFailure::Callback`]. Either way the
/// call that needed the key fails with `EgocapError.KeyStore`.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum KeyStoreFailure {
    /// The platform key store could not give the key or the signature
    /// (locked, key invalidated, user not authenticated, hardware error).
    #[error("{reason}")]
    Failed { reason: String },
    /// The host threw an exception that is not a `KeyStoreFailure`.
    #[error("host callback failed: {reason}")]
    Callback { reason: String },
}

/// Runs one exported call, turning a panic on the caller's thread into
/// [`EgocapError::Internal`] (UniFFI would otherwise throw its untyped
/// `InternalException`), or into the call's own error type. Every exported
/// function that does work goes through here; panics on our worker threads
/// are caught by the core.
pub(crate) fn guarded<T, E: From<Panicked>>(call: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    // AssertUnwindSafe: after a panic the caller gets an error and any
    // session state it touched is behind the core's own poisoning checks.
    catch_unwind(AssertUnwindSafe(call)).unwrap_or_else(|payload| Err(Panicked(panic_message(&*payload)).into()))
}

/// A panic caught by [`guarded`], with its message.
pub(crate) struct Panicked(String);

impl From<Panicked> for EgocapError {
    fn from(panic: Panicked) -> Self {
        Self::Internal { reason: panic.0 }
    }
}

impl From<Panicked> for KeyStoreFailure {
    fn from(panic: Panicked) -> Self {
        Self::Failed { reason: panic.0 }
    }
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
            CaptureError::Sink(SinkError::DeviceIdentity(reason)) => Self::KeyStore { reason },
            e @ CaptureError::Sink(_) => Self::Storage { reason: e.to_string() },
            e @ (CaptureError::Segment(_) | CaptureError::Build(_)) => Self::PipelineFailed { reason: e.to_string() },
            CaptureError::PipelineFailed(reason) => Self::PipelineFailed { reason },
            CaptureError::Stopped => Self::Stopped,
        }
    }
}

/// Which record a [`RecordError`] came from: the same core error asks the
/// app for a different action depending on the record (a consent that does
/// not check out means asking the worker again; a recipient set that does
/// not, fixing the app's configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordRole {
    Consent,
    RecipientSet,
    Other,
}

impl EgocapError {
    pub(crate) fn from_record(role: RecordRole, error: RecordError) -> Self {
        use RecordError as E;
        match (role, error) {
            (_, E::KeyStore(e)) => e.into(),
            (_, e @ (E::SignerMisbehaved | E::Random)) => Self::KeyStore { reason: e.to_string() },
            (_, E::ConsentWithdrawn { consent_id, at }) => Self::ConsentWithdrawn { consent_id, withdrawn_at: at },
            (RecordRole::Consent, e) => Self::ConsentInvalid { reason: e.to_string() },
            (_, e @ (E::ConsentFromOtherDevice { .. } | E::NotPseudonymous)) => {
                Self::ConsentInvalid { reason: e.to_string() }
            }
            (_, e @ E::RecipientSetNotFromOwner { .. }) => Self::RecipientSetUntrusted { reason: e.to_string() },
            (
                RecordRole::RecipientSet,
                e @ (E::WrongType { .. } | E::NoRecipients | E::BadSignature { .. } | E::Unsigned),
            ) => Self::RecipientSetUntrusted { reason: e.to_string() },
            (_, e) => Self::InvalidRecord { reason: e.to_string() },
        }
    }
}

/// A record error outside the start-up checks (signing a record).
impl From<RecordError> for EgocapError {
    fn from(error: RecordError) -> Self {
        Self::from_record(RecordRole::Other, error)
    }
}

/// The host's own words for a host failure; the core's message otherwise
/// (paths and modes, never key bytes).
impl From<KeyStoreError> for EgocapError {
    fn from(error: KeyStoreError) -> Self {
        match error {
            KeyStoreError::Host(reason) => Self::KeyStore { reason },
            e => Self::KeyStore { reason: e.to_string() },
        }
    }
}

impl From<PublicKeyError> for EgocapError {
    fn from(error: PublicKeyError) -> Self {
        Self::InvalidKey { reason: error.to_string() }
    }
}

/// age errors reach the app only from key parsing (recipients, identities)
/// and identity generation; their messages name the rule broken, not the key.
impl From<AgeError> for EgocapError {
    fn from(error: AgeError) -> Self {
        match error {
            e @ (AgeError::Randomness | AgeError::Internal { .. }) => Self::KeyStore { reason: e.to_string() },
            e => Self::InvalidKey { reason: e.to_string() },
        }
    }
}

impl From<VerifyError> for EgocapError {
    fn from(error: VerifyError) -> Self {
        match error {
            e @ VerifyError::Read { .. } => Self::Storage { reason: e.to_string() },
            e @ VerifyError::NothingToVerify(_) => Self::NothingToVerify { reason: e.to_string() },
            e @ VerifyError::NoIdentity => Self::InvalidKey { reason: e.to_string() },
        }
    }
}

/// Upload queue errors: the journal's, reading or deleting a queued file, the settings.
/// (A failing upload is no error: the queue retries it and reports it in
/// `UploadEvent`s and `QueuedUpload.lastError`.)
impl From<QueueError> for EgocapError {
    fn from(error: QueueError) -> Self {
        match error {
            QueueError::Journal(e) => e.into(),
            e @ (QueueError::Read { .. } | QueueError::Write { .. }) if is_storage_full(&e) => {
                Self::StorageFull { reason: e.to_string() }
            }
            e @ (QueueError::Read { .. } | QueueError::Write { .. }) => Self::Storage { reason: e.to_string() },
            QueueError::InvalidConfig(reason) => Self::InvalidSettings { reason },
            QueueError::InvalidRecord(reason) => Self::InvalidRecord { reason },
        }
    }
}

impl From<JournalError> for EgocapError {
    fn from(error: JournalError) -> Self {
        match error {
            e @ (JournalError::Corrupt { .. } | JournalError::NewerSchema { .. }) => {
                Self::UploadJournalCorrupt { reason: e.to_string() }
            }
            e @ JournalError::DiskFull { .. } => Self::StorageFull { reason: e.to_string() },
            e @ JournalError::Sqlite { .. } => Self::Storage { reason: e.to_string() },
        }
    }
}

fn is_storage_full(error: &QueueError) -> bool {
    matches!(error, QueueError::Read { source, .. } | QueueError::Write { source, .. }
        if source.kind() == std::io::ErrorKind::StorageFull)
}

/// Detector errors reach the app only from loading the model at start (a
/// failure on a frame mid-session fails that frame closed instead).
impl From<DetectError> for EgocapError {
    fn from(error: DetectError) -> Self {
        match error {
            e @ DetectError::Config(_) => Self::InvalidSettings { reason: e.to_string() },
            e => Self::FaceModelInvalid { reason: e.to_string() },
        }
    }
}

/// A `KeyStoreFailure` from the host, or from our own `FileKeyStore`
/// reached through the host's side of the trait, as the core sees it.
impl From<KeyStoreFailure> for KeyStoreError {
    fn from(failure: KeyStoreFailure) -> Self {
        Self::Host(failure.to_string())
    }
}

/// A core key store error thrown back out of our `FileKeyStore`'s side of
/// the exported `KeyStore` trait.
impl From<KeyStoreError> for KeyStoreFailure {
    fn from(error: KeyStoreError) -> Self {
        match error {
            KeyStoreError::Host(reason) => Self::Failed { reason },
            e => Self::Failed { reason: e.to_string() },
        }
    }
}

/// An exception of another type thrown inside a host callback.
impl From<uniffi::UnexpectedUniFFICallbackError> for EgocapError {
    fn from(error: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Callback { reason: error.reason }
    }
}

impl From<uniffi::UnexpectedUniFFICallbackError> for KeyStoreFailure {
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
    fn a_record_error_maps_to_the_case_of_the_record_it_came_from() {
        let wrong_type = || RecordError::WrongType { expected: "consent", found: "segment" };
        let consent = EgocapError::from_record(RecordRole::Consent, wrong_type());
        assert!(matches!(consent, EgocapError::ConsentInvalid { .. }), "{consent}");
        let set = EgocapError::from_record(RecordRole::RecipientSet, wrong_type());
        assert!(matches!(set, EgocapError::RecipientSetUntrusted { .. }), "{set}");
        let other: EgocapError = wrong_type().into();
        assert!(matches!(other, EgocapError::InvalidRecord { .. }), "{other}");
        let withdrawn: EgocapError =
            RecordError::ConsentWithdrawn { consent_id: "ab12".into(), at: "2026-11-23T15:00:00Z".into() }.into();
        assert_eq!(withdrawn.to_string(), "consent ab12 was withdrawn at 2026-11-23T15:00:00Z");
        let host: EgocapError = RecordError::KeyStore(KeyStoreError::Host("keystore locked".into())).into();
        assert_eq!(host.to_string(), "key store: keystore locked");
        let thrown: KeyStoreError = KeyStoreFailure::Failed { reason: "keystore locked".into() }.into();
        assert_eq!(EgocapError::from(thrown).to_string(), "key store: keystore locked");
    }

    #[test]
    fn upload_queue_errors_map_to_what_the_app_can_do() {
        let corrupt: EgocapError =
            QueueError::from(JournalError::Corrupt { path: "/q/journal.db".into(), reason: "not a database".into() })
                .into();
        assert!(
            matches!(&corrupt, EgocapError::UploadJournalCorrupt { reason } if reason.starts_with("the upload journal /q/journal.db")),
            "{corrupt}"
        );
        let newer: EgocapError = JournalError::NewerSchema { path: "/q/journal.db".into(), found: 9 }.into();
        assert!(matches!(newer, EgocapError::UploadJournalCorrupt { .. }), "{newer}");
        let full: EgocapError = JournalError::DiskFull { path: "/q/journal.db".into() }.into();
        assert_eq!(full.to_string(), "the disk holding the upload journal /q/journal.db is full");
        let no_space = std::io::Error::from(std::io::ErrorKind::StorageFull);
        let full: EgocapError = QueueError::Write { path: "/q/a".into(), source: no_space }.into();
        assert!(matches!(full, EgocapError::StorageFull { .. }), "{full}");
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        let read: EgocapError = QueueError::Read { path: "/q/a".into(), source: missing }.into();
        assert!(matches!(read, EgocapError::Storage { .. }), "{read}");
        let settings: EgocapError = QueueError::InvalidConfig("chunk_size must be positive".into()).into();
        assert_eq!(settings.to_string(), "invalid settings: chunk_size must be positive");
    }

    #[test]
    fn a_panic_in_a_guarded_call_is_an_internal_error() {
        let result: Result<(), _> = guarded(|| panic!("boom"));
        assert!(matches!(result, Err(EgocapError::Internal { reason }) if reason == "panic: boom"));
    }
}
