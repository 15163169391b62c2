//! Where uploads go. A target keeps partial uploads by location, tells the
//! offset it holds, and appends chunks at that offset: the tus 1.0 server
//! ([`super::tus::TusTarget`]) and the local inbox directory
//! ([`super::inbox::InboxTarget`]) share these semantics, so the queue's
//! resume logic is the same for both.

use thiserror::Error;

/// Describes a file to the target when its upload is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadDescription {
    /// `<session>/<file>`: the name the dataset will know it by.
    pub name: String,
    pub length: u64,
    pub sha256: String,
    pub record_sha256: Option<String>,
}

/// What the target holds of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteOffset {
    /// It holds this many bytes of the upload.
    At(u64),
    /// The upload is unknown or expired (tus: 404, 410): create it anew.
    Gone,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TargetError {
    /// The link failed or the target is briefly unwell (5xx, timeout, reset): retry later.
    #[error("transient: {0}")]
    Transient(String),
    /// The target refused our credentials, even after one refresh.
    #[error("unauthorized: the server refused the credentials after a refresh")]
    Unauthorized,
    /// The upload is unknown or expired at the target.
    #[error("the upload is gone at the target (expired or unknown)")]
    Gone,
    /// The target holds a different offset than we appended at.
    #[error("the target holds {held} bytes, not the {sent} we appended at")]
    OffsetMismatch { sent: u64, held: u64 },
    /// The target refused the request for good (a 4xx other than the above).
    #[error("refused: {0}")]
    Refused(String),
}

pub trait UploadTarget: Send {
    /// Creates an upload for `file` and returns its location.
    fn create(&mut self, file: &UploadDescription) -> Result<String, TargetError>;
    /// How many bytes of the upload at `location` the target holds.
    fn offset(&mut self, location: &str) -> Result<RemoteOffset, TargetError>;
    /// Appends `chunk` at `offset`; returns the offset the target now holds.
    fn append(&mut self, location: &str, offset: u64, chunk: &[u8]) -> Result<u64, TargetError>;
    /// Abandons an unfinished upload (tus termination). Never called for a
    /// finished one: that would destroy footage the worker is paid for.
    fn abandon(&mut self, location: &str) -> Result<(), TargetError>;
}
