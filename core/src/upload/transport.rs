//! One HTTP request at a time, behind a trait so the host can use its own
//! stack (OkHttp on Android). The default is `ureq` on rustls with `ring`,
//! with connect and read timeouts so a dead link fails instead of hanging.

use std::time::Duration;

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl HttpResponse {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TransportError {
    #[error("the request timed out: {0}")]
    Timeout(String),
    #[error("the connection failed: {0}")]
    Connection(String),
    #[error("the request is invalid: {0}")]
    InvalidRequest(String),
}

pub trait Transport: Send + Sync {
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError>;
}

/// Timeouts of the default transport.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    /// Between sending the body and the response's head, and between reads.
    pub read: Duration,
    /// Sending one request body (a chunk); bounds a link that accepts bytes
    /// slower than any useful upload.
    pub send_body: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self { connect: Duration::from_secs(10), read: Duration::from_secs(30), send_body: Duration::from_secs(120) }
    }
}

/// The default transport: `ureq` over rustls (ring provider).
pub struct UreqTransport {
    agent: ureq::Agent,
}

impl UreqTransport {
    pub fn new(timeouts: Timeouts) -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_connect(Some(timeouts.connect))
            .timeout_recv_response(Some(timeouts.read))
            .timeout_recv_body(Some(timeouts.read))
            .timeout_send_body(Some(timeouts.send_body))
            // Statuses are the tus client's to interpret, not errors.
            .http_status_as_error(false)
            // A redirect would carry the upload (and its credentials) elsewhere.
            .max_redirects(0)
            .build();
        Self { agent: config.into() }
    }
}

impl Transport for UreqTransport {
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let mut builder = ureq::http::Request::builder().method(request.method.as_str()).uri(&request.url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let http_request =
            builder.body(request.body.as_slice()).map_err(|e| TransportError::InvalidRequest(e.to_string()))?;
        let response = self.agent.run(http_request).map_err(map_ureq_error)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str().to_owned(), v.to_owned())))
            .collect();
        // Drain a small body so the connection can be reused; tus bodies are empty or short.
        let _ = response.into_body().with_config().limit(64 * 1024).read_to_vec();
        Ok(HttpResponse { status, headers })
    }
}

fn map_ureq_error(error: ureq::Error) -> TransportError {
    match error {
        ureq::Error::Timeout(_) => TransportError::Timeout(error.to_string()),
        ureq::Error::BadUri(_) | ureq::Error::Http(_) => TransportError::InvalidRequest(error.to_string()),
        _ => TransportError::Connection(error.to_string()),
    }
}
