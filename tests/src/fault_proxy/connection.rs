//! One client connection of the fault proxy: reads requests one after the
//! other (keep-alive), applies the bearer check and the queued faults, and
//! forwards the rest over its own upstream connection.

use std::io::{self, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::http1::{self, Framing, Head, Http1Error};
use super::{FaultAction, RequestOutcome, SeenRequest, Shared};

/// Largest piece of a body moved at once.
const CHUNK: usize = 16 * 1024;

/// Serves `client` until it closes, a fault ends it, or the proxy stops.
pub(super) fn serve(shared: &Shared, client: TcpStream) {
    let id = shared.register(&client);
    if let Ok(reader) = client.try_clone() {
        let mut connection = Connection { shared, reader: BufReader::new(reader), client, upstream: None };
        while !shared.stopping() {
            match connection.next_request() {
                Ok(Next::KeepAlive) => {}
                Ok(Next::Close) | Err(_) => break,
            }
        }
        connection.close();
    }
    shared.unregister(id);
}

enum Next {
    KeepAlive,
    Close,
}

/// Which side failed while a request body was moving.
enum BodyError {
    Client,
    Upstream,
}

struct Connection<'a> {
    shared: &'a Shared,
    reader: BufReader<TcpStream>,
    client: TcpStream,
    upstream: Option<Upstream>,
}

struct Upstream {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    id: Option<u64>,
}

/// A request head with what the proxy needs from it.
struct Request {
    head: Head,
    method: String,
    body_len: u64,
    expects_continue: bool,
    wants_close: bool,
    seen: SeenRequest,
}

impl Connection<'_> {
    fn next_request(&mut self) -> Result<Next, Http1Error> {
        let Some(head) = http1::read_head(&mut self.reader)? else { return Ok(Next::Close) };
        let (method, target) = head.method_and_target()?;
        let seen = SeenRequest {
            method: method.to_string(),
            path: target.to_string(),
            upload_metadata: head.header("upload-metadata").map(str::to_string),
            upload_offset: head.header("upload-offset").and_then(|v| v.trim().parse().ok()),
            body_bytes_forwarded: 0,
            outcome: RequestOutcome::ClientGone,
        };
        let mut request = Request {
            method: method.to_string(),
            body_len: head.content_length()?.unwrap_or(0),
            expects_continue: head.has_token("expect", "100-continue"),
            wants_close: head.has_token("connection", "close"),
            head,
            seen,
        };
        if request.head.header("transfer-encoding").is_some() {
            // The body's end is unknown without decoding it: answer and close.
            request.expects_continue = true;
            return self.refuse(request, 501, "fault proxy: chunked request bodies are not supported\n");
        }
        let bearer = super::lock(&self.shared.bearer).clone();
        if let Some(token) = bearer {
            if request.head.header("authorization") != Some(format!("Bearer {token}").as_str()) {
                return self.refuse(request, 401, "");
            }
        }
        match self.shared.take_fault(&request.method) {
            Some(FaultAction::Respond(status)) => self.refuse(request, status, ""),
            Some(FaultAction::Stall) => self.stall(request),
            Some(FaultAction::CutAfterBodyBytes(n)) => self.forward(request, Some(n)),
            None => self.forward(request, None),
        }
    }

    /// Answers `status` itself. The body is read and dropped first so the
    /// connection stays usable, unless the client waits for `100 Continue`:
    /// then it never sends the body, and the connection closes.
    fn refuse(&mut self, mut request: Request, status: u16, body: &str) -> Result<Next, Http1Error> {
        let close = request.wants_close || (request.expects_continue && request.body_len > 0);
        if !close {
            http1::discard(&mut self.reader, request.body_len)?;
        }
        let mut head = format!("HTTP/1.1 {status} {}\r\nContent-Length: {}\r\n", reason(status), body.len());
        if status == 401 {
            head.push_str("WWW-Authenticate: Bearer\r\n");
        }
        if close {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        head.push_str(body);
        request.seen.outcome = RequestOutcome::Status(status);
        self.shared.record(request.seen);
        self.client.write_all(head.as_bytes())?;
        self.client.flush()?;
        Ok(if close { Next::Close } else { Next::KeepAlive })
    }

    /// Reads the request and never answers; holds the connection until the proxy stops.
    fn stall(&mut self, mut request: Request) -> Result<Next, Http1Error> {
        request.seen.outcome = RequestOutcome::Stalled;
        self.shared.record(request.seen);
        // Without `100 Continue` a waiting client sends its body late or not at all.
        if !request.expects_continue {
            let _ = http1::discard(&mut self.reader, request.body_len);
        }
        while !self.shared.stopping() {
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Next::Close)
    }

    /// Forwards the request upstream and relays the response; with `cut`,
    /// closes both connections after that many body bytes instead.
    fn forward(&mut self, mut request: Request, cut: Option<u64>) -> Result<Next, Http1Error> {
        let sent_head = match self.upstream() {
            Ok(upstream) => request.head.write_to(&mut upstream.writer, &["expect"]),
            Err(e) => Err(e),
        };
        if sent_head.is_err() {
            self.drop_upstream();
            request.expects_continue = true;
            return self.refuse(request, 502, "fault proxy: the server is unreachable\n");
        }
        if request.expects_continue && request.body_len > 0 {
            self.client.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
            self.client.flush()?;
        }
        let limit = cut.map_or(request.body_len, |n| n.min(request.body_len));
        let mut early_answer = false;
        match self.copy_body(&mut request, limit) {
            Ok(()) => {}
            Err(BodyError::Client) => {
                // The client died mid-body: end both sides.
                self.record_and_close(request.seen);
                return Ok(Next::Close);
            }
            // The server stopped reading, e.g. after answering 409 with
            // `Connection: close`: relay that answer, then close.
            Err(BodyError::Upstream) => early_answer = true,
        }
        if cut.is_some_and(|n| n < request.body_len) {
            request.seen.outcome = RequestOutcome::Cut;
            self.record_and_close(request.seen);
            return Ok(Next::Close);
        }
        let response = self.read_response(&request.method);
        let Ok((head, framing)) = response else {
            self.drop_upstream();
            request.expects_continue = true;
            return self.refuse(request, 502, "fault proxy: the server failed mid-response\n");
        };
        if cut.is_some() {
            // The whole request went through: the response is lost.
            let _ = self.upstream_reader().map(|r| http1::relay_body(r, &mut io::sink(), framing));
            request.seen.outcome = RequestOutcome::Cut;
            self.record_and_close(request.seen);
            return Ok(Next::Close);
        }
        request.seen.outcome = RequestOutcome::Status(head.status()?);
        // Recorded before the client can have the answer: a test that reads
        // the log as soon as its request returned must find the request there.
        self.shared.record(request.seen);
        self.relay_response(&head, framing)?;
        let close = early_answer
            || request.wants_close
            || framing == Framing::UntilClose
            || head.has_token("connection", "close");
        if close {
            self.drop_upstream();
        }
        Ok(if close { Next::Close } else { Next::KeepAlive })
    }

    /// Moves `limit` body bytes from the client upstream, paced by the rate.
    fn copy_body(&mut self, request: &mut Request, limit: u64) -> Result<(), BodyError> {
        let is_patch = request.method.eq_ignore_ascii_case("PATCH");
        let mut buffer = vec![0u8; CHUNK];
        let mut left = limit;
        let upstream = self.upstream.as_mut().ok_or(BodyError::Upstream)?;
        while left > 0 {
            if self.shared.stopping() {
                return Err(BodyError::Client);
            }
            let rate = self.shared.rate.load(Ordering::SeqCst);
            let piece = if rate == 0 { CHUNK } else { (rate / 20).clamp(1, CHUNK as u64) as usize };
            let want = piece.min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = self.reader.read(&mut buffer[..want]).map_err(|_| BodyError::Client)?;
            if n == 0 {
                return Err(BodyError::Client);
            }
            upstream.writer.write_all(&buffer[..n]).map_err(|_| BodyError::Upstream)?;
            left -= n as u64;
            request.seen.body_bytes_forwarded += n as u64;
            if is_patch {
                self.shared.patch_bytes.fetch_add(n as u64, Ordering::SeqCst);
            }
            if rate > 0 {
                std::thread::sleep(Duration::from_secs_f64(n as f64 / rate as f64));
            }
        }
        upstream.writer.flush().map_err(|_| BodyError::Upstream)
    }

    /// The final response head (interim 1xx responses are dropped: the proxy
    /// answered `Expect` itself).
    fn read_response(&mut self, method: &str) -> Result<(Head, Framing), Http1Error> {
        let reader = self.upstream_reader()?;
        loop {
            let head = http1::read_head(reader)?
                .ok_or_else(|| Http1Error::Malformed("the server closed without answering".into()))?;
            if !(100..200).contains(&head.status()?) {
                let framing = head.response_framing(method)?;
                return Ok((head, framing));
            }
        }
    }

    fn relay_response(&mut self, head: &Head, framing: Framing) -> Result<(), Http1Error> {
        head.write_to(&mut self.client, &[])?;
        let upstream = self.upstream.as_mut().ok_or_else(not_connected)?;
        http1::relay_body(&mut upstream.reader, &mut self.client, framing)
    }

    /// The upstream connection, (re)connected when missing or closed by the
    /// server (node closes idle keep-alive connections after 5 s).
    fn upstream(&mut self) -> io::Result<&mut Upstream> {
        if self.upstream.as_ref().is_some_and(|u| !is_open(&u.writer) || !u.reader.buffer().is_empty()) {
            self.drop_upstream();
        }
        if self.upstream.is_none() {
            let writer = TcpStream::connect(self.shared.upstream)?;
            let reader = BufReader::new(writer.try_clone()?);
            let id = self.shared.register(&writer);
            self.upstream = Some(Upstream { reader, writer, id });
        }
        self.upstream.as_mut().ok_or_else(not_connected)
    }

    fn upstream_reader(&mut self) -> io::Result<&mut BufReader<TcpStream>> {
        Ok(&mut self.upstream.as_mut().ok_or_else(not_connected)?.reader)
    }

    fn drop_upstream(&mut self) {
        if let Some(upstream) = self.upstream.take() {
            // FIN, not RST: the server keeps every byte forwarded so far.
            let _ = upstream.writer.shutdown(Shutdown::Write);
            self.shared.unregister(upstream.id);
        }
    }

    fn record_and_close(&mut self, seen: SeenRequest) {
        self.shared.record(seen);
        self.close();
    }

    fn close(&mut self) {
        self.drop_upstream();
        let _ = self.client.shutdown(Shutdown::Both);
    }
}

fn not_connected() -> io::Error {
    io::Error::new(ErrorKind::NotConnected, "no upstream connection")
}

/// Is the server's side of `stream` still open (no EOF or error pending)?
fn is_open(stream: &TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return false;
    }
    let mut byte = [0u8; 1];
    let open = matches!(stream.peek(&mut byte), Err(e) if e.kind() == ErrorKind::WouldBlock);
    stream.set_nonblocking(false).is_ok() && open
}

fn reason(status: u16) -> &'static str {
    match status {
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        410 => "Gone",
        423 => "Locked",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Injected",
    }
}
