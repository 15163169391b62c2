//! The host's side of uploading, as foreign traits adapted to the core's:
//! [`HttpTransport`] performs one HTTP request (OkHttp, URLSession),
//! [`AuthProvider`] authenticates requests, [`UploadListener`] hears
//! progress. All three are called on the thread running
//! `UploadQueue.runUntilEmpty` (the listener also on the thread calling
//! `deleteExpired`), one call at a time.
//!
//! An exception thrown in any of them arrives here as a typed error (never
//! a panic): the transport's is a failed request, retried later; the auth
//! provider's leaves the file to be retried; the listener's is logged.

use std::sync::Arc;

use egocap_core::upload::{self as core, AuthError, TransportError, UploadEvent};

use crate::bulk_bytes::BulkBytes;
use crate::error::EgocapError;

/// One HTTP header; a request or response may repeat a name.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpHeader {
    pub name: String,
    pub value: String,
}

/// A request for the host to send as it is: the tus client has set every
/// header (`Tus-Resumable`, `Upload-Offset`, `Content-Type`, the auth
/// provider's). Methods are `POST`, `HEAD`, `PATCH` and `DELETE`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<HttpHeader>,
    /// Empty except for `PATCH` (one chunk, up to `UploadQueueConfig.chunkSize`).
    pub body: BulkBytes,
}

/// The response's status and headers; the tus client reads no body.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<HttpHeader>,
}

/// What a host [`HttpTransport`] throws when a request gets no response
/// (Kotlin `TransportFailure`). Any other exception thrown there arrives as
/// [`TransportFailure::Callback`] and counts as a failed connection. A
/// response with an error status is no failure: return it.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum TransportFailure {
    /// No response in time; the file is retried later.
    #[error("{reason}")]
    Timeout { reason: String },
    /// The connection failed or broke; the file is retried later.
    #[error("{reason}")]
    Connection { reason: String },
    /// The request cannot be sent (e.g. a malformed URL); the file is refused
    /// until `retryNow`.
    #[error("{reason}")]
    InvalidRequest { reason: String },
    /// The host threw an exception that is not a `TransportFailure`.
    #[error("host callback failed: {reason}")]
    Callback { reason: String },
}

/// Performs one HTTP request and returns the response's status and headers,
/// whatever the status. Must apply its own timeouts (connect, read, and
/// sending a body), so a dead link fails instead of hanging: the queue
/// stops only between requests. The library's own transport (pass `null`)
/// is a Rust HTTP client on rustls.
#[uniffi::export(with_foreign)]
pub trait HttpTransport: Send + Sync {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportFailure>;
}

/// Authenticates requests to the upload server, e.g. with a bearer token.
/// On a 401 the library calls `refresh` once and retries the request; a
/// second 401 pauses the queue (`RunOutcome.UNAUTHORIZED`). An exception
/// thrown here (e.g. the token endpoint is unreachable) leaves the file to
/// be retried later.
#[uniffi::export(with_foreign)]
pub trait AuthProvider: Send + Sync {
    /// The headers to add to every request, e.g. `Authorization: Bearer …`.
    fn headers(&self) -> Result<Vec<HttpHeader>, EgocapError>;
    /// Renews the credentials after the server refused them.
    fn refresh(&self) -> Result<(), EgocapError>;
}

/// Hears the queue's progress; hand the event to the UI and return. Do not
/// call `runUntilEmpty` from here. An exception thrown here is logged and
/// the upload goes on.
#[uniffi::export(with_foreign)]
pub trait UploadListener: Send + Sync {
    fn on_upload_event(&self, event: UploadEvent) -> Result<(), EgocapError>;
}

/// The host's transport seen through the core's trait.
pub(crate) struct HostTransport(pub Arc<dyn HttpTransport>);

impl core::Transport for HostTransport {
    fn send(&self, request: &core::HttpRequest) -> Result<core::HttpResponse, TransportError> {
        Ok(self.0.send(request.into())?.into())
    }
}

/// The host's auth provider seen through the core's trait.
pub(crate) struct HostAuth(pub Arc<dyn AuthProvider>);

impl core::AuthProvider for HostAuth {
    fn headers(&self) -> Result<Vec<(String, String)>, AuthError> {
        let headers = self.0.headers().map_err(|e| AuthError::Unavailable(e.to_string()))?;
        Ok(headers.into_iter().map(|h| (h.name, h.value)).collect())
    }

    fn refresh(&self) -> Result<(), AuthError> {
        self.0.refresh().map_err(|e| AuthError::Unavailable(e.to_string()))
    }
}

/// The host's listener seen through the core's trait.
pub(crate) struct HostUploadListener(pub Arc<dyn UploadListener>);

impl core::UploadListener for HostUploadListener {
    fn on_upload_event(&self, event: UploadEvent) {
        if let Err(e) = self.0.on_upload_event(event) {
            log::warn!("the host's upload listener failed: {e}");
        }
    }
}

impl From<&core::HttpRequest> for HttpRequest {
    fn from(r: &core::HttpRequest) -> Self {
        Self {
            method: r.method.clone(),
            url: r.url.clone(),
            headers: r
                .headers
                .iter()
                .map(|(name, value)| HttpHeader { name: name.clone(), value: value.clone() })
                .collect(),
            body: BulkBytes(r.body.clone()),
        }
    }
}

impl From<HttpResponse> for core::HttpResponse {
    fn from(r: HttpResponse) -> Self {
        Self { status: r.status, headers: r.headers.into_iter().map(|h| (h.name, h.value)).collect() }
    }
}

/// A host's failure as the core sees it: an exception of another type is
/// most likely the HTTP stack's I/O error, so a failed connection (retried).
impl From<TransportFailure> for TransportError {
    fn from(failure: TransportFailure) -> Self {
        match failure {
            TransportFailure::Timeout { reason } => Self::Timeout(reason),
            TransportFailure::Connection { reason } => Self::Connection(reason),
            TransportFailure::InvalidRequest { reason } => Self::InvalidRequest(reason),
            e @ TransportFailure::Callback { .. } => Self::Connection(e.to_string()),
        }
    }
}

impl From<uniffi::UnexpectedUniFFICallbackError> for TransportFailure {
    fn from(error: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Callback { reason: error.reason }
    }
}

#[cfg(test)]
mod tests {
    use egocap_core::upload::{AuthProvider as _, Transport as _, UploadListener as _};

    use super::*;

    /// Echoes the request's headers back, or fails as told.
    struct Echo(Option<fn() -> TransportFailure>);

    impl HttpTransport for Echo {
        fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportFailure> {
            match self.0 {
                Some(failure) => Err(failure()),
                None => Ok(HttpResponse { status: 204, headers: request.headers }),
            }
        }
    }

    #[test]
    fn a_request_crosses_whole_and_host_failures_become_transport_errors() {
        let request = core::HttpRequest {
            method: "PATCH".into(),
            url: "https://h.example/files/1".into(),
            headers: vec![("Upload-Offset".into(), "0".into()), ("Upload-Offset".into(), "dup".into())],
            body: vec![7; 3],
        };
        let response = HostTransport(Arc::new(Echo(None))).send(&request).unwrap();
        assert_eq!((response.status, response.headers), (204, request.headers.clone()));
        let cases: [(fn() -> TransportFailure, TransportError); 3] = [
            (|| TransportFailure::Timeout { reason: "t".into() }, TransportError::Timeout("t".into())),
            (|| TransportFailure::InvalidRequest { reason: "u".into() }, TransportError::InvalidRequest("u".into())),
            (
                || uniffi::UnexpectedUniFFICallbackError::new("java.io.IOException: reset").into(),
                TransportError::Connection("host callback failed: java.io.IOException: reset".into()),
            ),
        ];
        for (failure, expected) in cases {
            assert_eq!(HostTransport(Arc::new(Echo(Some(failure)))).send(&request), Err(expected));
        }
    }

    struct Refusing;

    impl AuthProvider for Refusing {
        fn headers(&self) -> Result<Vec<HttpHeader>, EgocapError> {
            Err(EgocapError::Callback { reason: "no token".into() })
        }
        fn refresh(&self) -> Result<(), EgocapError> {
            Ok(())
        }
    }

    impl UploadListener for Refusing {
        fn on_upload_event(&self, _event: UploadEvent) -> Result<(), EgocapError> {
            Err(EgocapError::Callback { reason: "the UI is gone".into() })
        }
    }

    #[test]
    fn host_auth_and_listener_failures_stay_errors() {
        let auth = HostAuth(Arc::new(Refusing));
        assert_eq!(auth.headers(), Err(AuthError::Unavailable("host callback failed: no token".into())));
        assert_eq!(auth.refresh(), Ok(()));
        // Logged, not raised: the upload goes on.
        HostUploadListener(Arc::new(Refusing)).on_upload_event(UploadEvent::Unauthorized);
    }
}
