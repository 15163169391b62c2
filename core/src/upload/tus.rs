//! A tus 1.0 client (core protocol + creation, with expiration handled as
//! "create anew"; termination only to abandon an unfinished upload), over
//! any [`Transport`]. Status codes follow tus 1.0 §3 (core) and §5.1
//! (creation); a 401 asks the [`AuthProvider`] to refresh once.

use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine as _;
use thiserror::Error;

use super::target::{JobRequest, RemoteOffset, TargetError, UploadDescription, UploadTarget};
use super::transport::{HttpRequest, HttpResponse, Transport, TransportError};

const TUS_VERSION: &str = "1.0.0";

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthError {
    #[error("the host could not provide credentials: {0}")]
    Unavailable(String),
}

/// Supplies the headers that authenticate a request (e.g. a bearer token);
/// implemented by the host app.
pub trait AuthProvider: Send + Sync {
    fn headers(&self) -> Result<Vec<(String, String)>, AuthError>;
    /// Called after a 401: renew the credentials. The request is retried once.
    fn refresh(&self) -> Result<(), AuthError>;
}

pub struct TusTarget {
    endpoint: String,
    transport: Arc<dyn Transport>,
    auth: Option<Arc<dyn AuthProvider>>,
    /// The request body's buffer, kept between chunks: a fresh multi-MB
    /// allocation per PATCH costs its page faults every time.
    body: Mutex<Vec<u8>>,
}

impl TusTarget {
    /// `endpoint` is the creation URL (e.g. `https://host/files/`).
    pub fn new(endpoint: &str, transport: Arc<dyn Transport>, auth: Option<Arc<dyn AuthProvider>>) -> Self {
        Self { endpoint: endpoint.to_owned(), transport, auth, body: Mutex::default() }
    }

    fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Result<HttpResponse, TargetError> {
        let response = self.send_once(method, url, headers, body)?;
        if response.status != 401 {
            return Ok(response);
        }
        let Some(auth) = &self.auth else { return Err(TargetError::Unauthorized) };
        // A host that cannot renew the credentials needs the worker (sign in
        // again): pause, do not retry for ever.
        if let Err(e) = auth.refresh() {
            log::warn!("the credentials were refused and could not be refreshed: {e}");
            return Err(TargetError::Unauthorized);
        }
        let retried = self.send_once(method, url, headers, body)?;
        if retried.status == 401 {
            return Err(TargetError::Unauthorized);
        }
        Ok(retried)
    }

    fn send_once(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Result<HttpResponse, TargetError> {
        let mut buffer = std::mem::take(&mut *self.body.lock().unwrap_or_else(PoisonError::into_inner));
        buffer.clear();
        buffer.extend_from_slice(body);
        let request = HttpRequest {
            method: method.to_owned(),
            url: url.to_owned(),
            headers: self.headers(headers)?,
            body: buffer,
        };
        let response = self.transport.send(&request);
        *self.body.lock().unwrap_or_else(PoisonError::into_inner) = request.body;
        response.map_err(|e| match e {
            TransportError::InvalidRequest(reason) => TargetError::Refused(reason),
            other => TargetError::Transient(other.to_string()),
        })
    }

    /// `Tus-Resumable`, then `extra`, then the auth provider's headers.
    fn headers(&self, extra: &[(&str, String)]) -> Result<Vec<(String, String)>, TargetError> {
        let mut headers = vec![("Tus-Resumable".to_owned(), TUS_VERSION.to_owned())];
        headers.extend(extra.iter().map(|(n, v)| ((*n).to_owned(), v.clone())));
        if let Some(auth) = &self.auth {
            headers.extend(auth.headers().map_err(|e| TargetError::Transient(e.to_string()))?);
        }
        Ok(headers)
    }

    /// Resolves a `Location` header against the endpoint (RFC 9110 §10.2.2).
    /// An upload placed on another origin is refused: every request to it
    /// would carry our credentials and the worker's footage elsewhere.
    fn resolve(&self, location: &str) -> Result<String, TargetError> {
        let origin = origin_of(&self.endpoint);
        let resolved = if location.starts_with("http://") || location.starts_with("https://") {
            location.to_owned()
        } else if location.starts_with('/') {
            format!("{origin}{location}")
        } else {
            format!("{}/{location}", self.endpoint.trim_end_matches('/'))
        };
        if !origin_of(&resolved).eq_ignore_ascii_case(origin) {
            return Err(TargetError::Refused(format!("the server placed the upload on another origin ({resolved})")));
        }
        Ok(resolved)
    }
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> &str {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    match url[authority_start..].find(['/', '?', '#']) {
        Some(end) => &url[..authority_start + end],
        None => url,
    }
}

impl UploadTarget for TusTarget {
    fn create(&mut self, file: &UploadDescription) -> Result<String, TargetError> {
        let headers = [("Upload-Length", file.length.to_string()), ("Upload-Metadata", upload_metadata(file))];
        let response = self.send("POST", &self.endpoint, &headers, &[])?;
        if response.status != 201 {
            return Err(status_error("creation", &response));
        }
        let location = response
            .header("Location")
            .ok_or_else(|| TargetError::Transient("the creation response has no Location".into()))?;
        self.resolve(location)
    }

    fn offset(&mut self, location: &str) -> Result<RemoteOffset, TargetError> {
        let response = self.send("HEAD", location, &[], &[])?;
        match response.status {
            200 | 204 => parse_offset(&response).map(RemoteOffset::At),
            404 | 410 => Ok(RemoteOffset::Gone),
            _ => Err(status_error("HEAD", &response)),
        }
    }

    fn append(&mut self, location: &str, offset: u64, chunk: &[u8]) -> Result<u64, TargetError> {
        let response = self.send("PATCH", location, &patch_headers(offset), chunk)?;
        append_result(offset, &response)
    }

    fn abandon(&mut self, location: &str) -> Result<(), TargetError> {
        let response = self.send("DELETE", location, &[], &[])?;
        match response.status {
            204 | 200 | 404 | 410 => Ok(()),
            _ => Err(status_error("DELETE", &response)),
        }
    }

    fn hands_out_jobs(&self) -> bool {
        true
    }

    fn append_request(&mut self, location: &str, offset: u64, _length: u64) -> Result<JobRequest, TargetError> {
        // No Content-Length: the host's stack sets it from the body file
        // (URLSession treats it as reserved).
        Ok(JobRequest {
            method: "PATCH".into(),
            url: location.to_owned(),
            headers: self.headers(&patch_headers(offset))?,
        })
    }

    fn append_response(&mut self, offset: u64, response: &HttpResponse) -> Result<u64, TargetError> {
        if response.status == 401 {
            return Err(TargetError::Unauthorized);
        }
        append_result(offset, response)
    }

    fn refresh_credentials(&mut self) -> bool {
        match &self.auth {
            Some(auth) => auth.refresh().map_err(|e| log::warn!("the credentials could not be refreshed: {e}")).is_ok(),
            None => false,
        }
    }
}

fn patch_headers(offset: u64) -> [(&'static str, String); 2] {
    [("Upload-Offset", offset.to_string()), ("Content-Type", "application/offset+octet-stream".to_owned())]
}

/// What a PATCH's response says: the offset the target now holds, or why not.
fn append_result(offset: u64, response: &HttpResponse) -> Result<u64, TargetError> {
    match response.status {
        204 | 200 => parse_offset(response),
        // tus 1.0 §3.2: the offsets do not match; the caller asks HEAD.
        409 => Err(TargetError::OffsetMismatch { sent: offset, held: offset }),
        404 | 410 => Err(TargetError::Gone),
        _ => Err(status_error("PATCH", response)),
    }
}

/// `Upload-Metadata` (tus 1.0 §5.1.3): comma-separated `key base64(value)`.
fn upload_metadata(file: &UploadDescription) -> String {
    let encode = |v: &str| base64::engine::general_purpose::STANDARD.encode(v);
    let mut pairs = vec![format!("filename {}", encode(&file.name)), format!("sha256 {}", encode(&file.sha256))];
    if let Some(record) = &file.record_sha256 {
        pairs.push(format!("record_sha256 {}", encode(record)));
    }
    pairs.join(",")
}

/// A success without `Upload-Offset` is not from a tus server (a captive
/// portal's page, say): worth retrying later, not a refusal.
fn parse_offset(response: &HttpResponse) -> Result<u64, TargetError> {
    response
        .header("Upload-Offset")
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| TargetError::Transient(format!("status {} without a valid Upload-Offset", response.status)))
}

fn status_error(what: &str, response: &HttpResponse) -> TargetError {
    let message = format!("{what} answered {}", response.status);
    match response.status {
        // Redirects are not followed (they would drop or leak credentials);
        // like a captive portal they pass, so they are retried.
        300..=399 | 408 | 423 | 429 | 500..=599 => TargetError::Transient(message),
        _ => TargetError::Refused(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Answers from a script and keeps the requests it saw.
    struct ScriptedTransport {
        responses: Mutex<Vec<HttpResponse>>,
        seen: Mutex<Vec<HttpRequest>>,
    }

    impl Transport for ScriptedTransport {
        fn send(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
            self.seen.lock().unwrap().push(request.clone());
            Ok(self.responses.lock().unwrap().remove(0))
        }
    }

    struct CountingAuth(Mutex<u32>);

    impl AuthProvider for CountingAuth {
        fn headers(&self) -> Result<Vec<(String, String)>, AuthError> {
            Ok(vec![("Authorization".into(), format!("Bearer t{}", self.0.lock().unwrap()))])
        }
        fn refresh(&self) -> Result<(), AuthError> {
            *self.0.lock().unwrap() += 1;
            Ok(())
        }
    }

    fn response(status: u16, headers: &[(&str, &str)]) -> HttpResponse {
        HttpResponse { status, headers: headers.iter().map(|(n, v)| ((*n).into(), (*v).into())).collect() }
    }

    fn target(
        responses: Vec<HttpResponse>,
        auth: Option<Arc<dyn AuthProvider>>,
    ) -> (TusTarget, Arc<ScriptedTransport>) {
        let transport = Arc::new(ScriptedTransport { responses: Mutex::new(responses), seen: Mutex::new(vec![]) });
        (TusTarget::new("https://h.example/files/", transport.clone(), auth), transport)
    }

    #[test]
    fn creation_sends_length_and_metadata_and_resolves_the_location() {
        let (mut tus, seen) = target(vec![response(201, &[("Location", "/files/abc")])], None);
        let file = UploadDescription { name: "s/a".into(), length: 5, sha256: "00".into(), record_sha256: None };
        assert_eq!(tus.create(&file).unwrap(), "https://h.example/files/abc");
        let request = &seen.seen.lock().unwrap()[0];
        assert_eq!(request.method, "POST");
        assert!(request.headers.contains(&("Upload-Length".into(), "5".into())));
        assert!(request.headers.contains(&("Upload-Metadata".into(), "filename cy9h,sha256 MDA=".into())));
        assert!(request.headers.contains(&("Tus-Resumable".into(), "1.0.0".into())));
    }

    #[test]
    fn an_upload_placed_on_another_origin_is_refused() {
        let (mut tus, _) = target(
            vec![
                response(201, &[("Location", "https://elsewhere.example/files/abc")]),
                response(201, &[("Location", "http://h.example/files/x")]),
            ],
            None,
        );
        let file = UploadDescription { name: "s/a".into(), length: 5, sha256: "00".into(), record_sha256: None };
        assert!(matches!(tus.create(&file), Err(TargetError::Refused(_))));
        assert!(matches!(tus.create(&file), Err(TargetError::Refused(_))), "a downgrade to http is another origin");
    }

    #[test]
    fn statuses_map_to_what_the_queue_does_next() {
        let (mut tus, _) = target(
            vec![response(410, &[]), response(204, &[("Upload-Offset", "7")]), response(409, &[]), response(503, &[])],
            None,
        );
        assert_eq!(tus.offset("u").unwrap(), RemoteOffset::Gone);
        assert_eq!(tus.append("u", 0, b"1234567").unwrap(), 7);
        assert!(matches!(tus.append("u", 3, b"x"), Err(TargetError::OffsetMismatch { .. })));
        assert!(matches!(tus.append("u", 7, b"x"), Err(TargetError::Transient(_))));
    }

    #[test]
    fn a_401_refreshes_once_then_is_unauthorized() {
        let auth = Arc::new(CountingAuth(Mutex::new(0)));
        let (mut tus, seen) =
            target(vec![response(401, &[]), response(204, &[("Upload-Offset", "1")])], Some(auth.clone()));
        assert_eq!(tus.append("u", 0, b"x").unwrap(), 1);
        let tokens: Vec<_> = seen.seen.lock().unwrap().iter().map(|r| r.headers[3].1.clone()).collect();
        assert_eq!(tokens, ["Bearer t0", "Bearer t1"]);
        let (mut tus, _) = target(vec![response(401, &[]), response(401, &[])], Some(auth));
        assert_eq!(tus.offset("u"), Err(TargetError::Unauthorized));
    }

    struct SignedOut;

    impl AuthProvider for SignedOut {
        fn headers(&self) -> Result<Vec<(String, String)>, AuthError> {
            Ok(vec![("Authorization".into(), "Bearer old".into())])
        }
        fn refresh(&self) -> Result<(), AuthError> {
            Err(AuthError::Unavailable("signed out".into()))
        }
    }

    #[test]
    fn a_refresh_that_fails_pauses_as_unauthorized() {
        let (mut tus, seen) = target(vec![response(401, &[])], Some(Arc::new(SignedOut)));
        assert_eq!(tus.offset("u"), Err(TargetError::Unauthorized));
        assert_eq!(seen.seen.lock().unwrap().len(), 1, "no second request without new credentials");
    }
}
