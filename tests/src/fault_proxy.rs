//! A fault-injecting HTTP/1.1 proxy between an upload client and the tus
//! server. It counts what really reaches the server, independently of the
//! client (PATCH body bytes, every request and the answer it got), and
//! injects the failures a phone sees: connections cut mid-body, servers that
//! never answer, error statuses, expired tokens, slow links.
//!
//! Requests are forwarded with their head unchanged (Host included, so the
//! absolute `Location` URLs @tus/server builds from Host point back at the
//! proxy), except `Expect: 100-continue`, which the proxy answers itself.
//! Each client connection gets its own upstream connection, reused across
//! keep-alive requests. Chunked request bodies are refused (501).

mod connection;
mod http1;

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum FaultProxyError {
    #[error("fault proxy: cannot listen on 127.0.0.1: {0}")]
    Bind(io::Error),
}

/// What the proxy does to the next request with a given method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAction {
    /// Forward this many body bytes upstream, then close both connections
    /// abruptly. When the body is no longer than that, the whole request
    /// reaches the server and its response is read and dropped: the server
    /// committed, the client never learns.
    CutAfterBodyBytes(u64),
    /// Read the request, forward nothing, never answer; the client's
    /// connection stays open until the proxy is dropped.
    Stall,
    /// Answer this status with an empty body without contacting upstream.
    Respond(u16),
}

/// One request as the proxy saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest {
    pub method: String,
    /// The request target, e.g. `/files/0f3a…`.
    pub path: String,
    pub upload_metadata: Option<String>,
    pub upload_offset: Option<u64>,
    /// Body bytes written to the upstream for this request.
    pub body_bytes_forwarded: u64,
    pub outcome: RequestOutcome,
}

/// What became of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    /// This status went back to the client (from upstream or from the proxy:
    /// an injected status, 401, 501 for a chunked body, 502 when the server
    /// is unreachable or fails mid-response).
    Status(u16),
    /// `CutAfterBodyBytes` closed the connections.
    Cut,
    /// `Stall` holds the connection.
    Stalled,
    /// The client went away (or broke framing) before the request was whole.
    ClientGone,
}

impl SeenRequest {
    /// The status the client got, if it got one.
    pub fn status(&self) -> Option<u16> {
        match self.outcome {
            RequestOutcome::Status(status) => Some(status),
            _ => None,
        }
    }
}

/// The proxy; its threads stop when it is dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Listens on a free port of 127.0.0.1 in front of `upstream`.
    pub fn start(upstream: SocketAddr) -> Result<FaultProxy, FaultProxyError> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(FaultProxyError::Bind)?;
        let addr = listener.local_addr().map_err(FaultProxyError::Bind)?;
        let shared = Arc::new(Shared::new(upstream));
        let accepting = Arc::clone(&shared);
        let acceptor = std::thread::spawn(move || accept_loop(&listener, &accepting));
        Ok(FaultProxy { addr, shared, acceptor: Some(acceptor) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The tus creation endpoint through the proxy: `http://127.0.0.1:PORT/files/`.
    pub fn endpoint(&self) -> String {
        format!("http://{}/files/", self.addr)
    }

    /// Queues `action` for the first later request whose method is `method`
    /// (case-insensitive). Faults apply after the bearer check: a request
    /// refused with 401 does not consume one.
    pub fn push_fault(&self, method: &str, action: FaultAction) {
        lock(&self.shared.faults).push_back((method.to_ascii_uppercase(), action));
    }

    /// Faults queued and not yet consumed.
    pub fn pending_faults(&self) -> usize {
        lock(&self.shared.faults).len()
    }

    /// When `Some`, requests without `Authorization: Bearer <token>` get 401
    /// without reaching the server.
    pub fn require_bearer(&self, token: Option<String>) {
        *lock(&self.shared.bearer) = token;
    }

    /// Paces forwarded request body bytes to this rate (`None`: full speed).
    /// Takes effect within a chunk, also for a request already under way.
    /// A client killed meanwhile has usually handed its whole body to the
    /// kernel already (socket buffers hold megabytes on loopback): those
    /// bytes still reach the server; only the client's own progress stops.
    pub fn set_upstream_rate(&self, bytes_per_sec: Option<u64>) {
        self.shared.rate.store(bytes_per_sec.unwrap_or(0), Ordering::SeqCst);
    }

    /// PATCH body bytes written to the server's socket so far, whether the
    /// server kept them or not (a 409 PATCH counts; a cut one counts what was
    /// sent, of which file-store may keep only a prefix).
    pub fn patch_body_bytes_forwarded(&self) -> u64 {
        self.shared.patch_bytes.load(Ordering::SeqCst)
    }

    /// Every finished (or cut, or stalled) request so far, in that order.
    pub fn log(&self) -> Vec<SeenRequest> {
        lock(&self.shared.log).clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept; it sees the stop flag and returns.
        drop(TcpStream::connect(self.addr));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        // Unblock every connection thread (reads fail, stalls see the flag).
        for stream in lock(&self.shared.sockets).values() {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// State shared by the proxy handle and its threads.
struct Shared {
    upstream: SocketAddr,
    stop: AtomicBool,
    faults: Mutex<VecDeque<(String, FaultAction)>>,
    bearer: Mutex<Option<String>>,
    /// Bytes per second; 0 means unlimited.
    rate: AtomicU64,
    patch_bytes: AtomicU64,
    log: Mutex<Vec<SeenRequest>>,
    /// Clones of every open socket, so that Drop can shut them down.
    sockets: Mutex<HashMap<u64, TcpStream>>,
    next_socket: AtomicU64,
}

impl Shared {
    fn new(upstream: SocketAddr) -> Shared {
        Shared {
            upstream,
            stop: AtomicBool::new(false),
            faults: Mutex::new(VecDeque::new()),
            bearer: Mutex::new(None),
            rate: AtomicU64::new(0),
            patch_bytes: AtomicU64::new(0),
            log: Mutex::new(Vec::new()),
            sockets: Mutex::new(HashMap::new()),
            next_socket: AtomicU64::new(0),
        }
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Takes the first queued fault for `method`.
    fn take_fault(&self, method: &str) -> Option<FaultAction> {
        let mut faults = lock(&self.faults);
        let index = faults.iter().position(|(m, _)| m.eq_ignore_ascii_case(method))?;
        faults.remove(index).map(|(_, action)| action)
    }

    fn record(&self, seen: SeenRequest) {
        lock(&self.log).push(seen);
    }

    /// Remembers a socket for Drop; the id unregisters it.
    fn register(&self, stream: &TcpStream) -> Option<u64> {
        let clone = stream.try_clone().ok()?;
        if self.stopping() {
            let _ = clone.shutdown(std::net::Shutdown::Both);
        }
        let id = self.next_socket.fetch_add(1, Ordering::SeqCst);
        lock(&self.sockets).insert(id, clone);
        Some(id)
    }

    fn unregister(&self, id: Option<u64>) {
        if let Some(id) = id {
            lock(&self.sockets).remove(&id);
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stopping() {
            return;
        }
        let Ok(client) = client else { continue };
        let shared = Arc::clone(shared);
        std::thread::spawn(move || connection::serve(&shared, client));
    }
}

/// A poisoned lock only means another proxy thread panicked; the data is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
