//! Where uploads go. A target keeps partial uploads by location, tells the
//! offset it holds, and appends chunks at that offset: the tus 1.0 server
//! ([`super::tus::TusTarget`]) and the local inbox directory
//! ([`super::inbox::InboxTarget`]) share these semantics, so the queue's
//! resume logic is the same for both.

use thiserror::Error;

use super::transport::HttpResponse;

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

    /// Whether the target can hand out chunk jobs (see `append_request`).
    fn hands_out_jobs(&self) -> bool {
        false
    }

    /// The request that appends `length` bytes at `offset`, for a host that
    /// sends it later from a file (an iOS background session). Only HTTP
    /// targets can; the others refuse.
    fn append_request(&mut self, _location: &str, _offset: u64, _length: u64) -> Result<JobRequest, TargetError> {
        Err(TargetError::Refused("this target cannot hand out chunk jobs (it is not HTTP)".into()))
    }

    /// Reads the response to an [`UploadTarget::append_request`] as
    /// `append` reads its own: the offset the target now holds.
    fn append_response(&mut self, _offset: u64, _response: &HttpResponse) -> Result<u64, TargetError> {
        Err(TargetError::Refused("this target cannot hand out chunk jobs (it is not HTTP)".into()))
    }

    /// Renews the credentials after a 401 to a request sent by the host;
    /// false when there is nothing to renew or the renewal failed.
    fn refresh_credentials(&mut self) -> bool {
        false
    }
}

/// A request without its body, for the host to send with a file as the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRequest {
    pub method: String,
    pub url: String,
    /// Every header, credentials included, but `Content-Length`: the body file's length.
    pub headers: Vec<(String, String)>,
}
