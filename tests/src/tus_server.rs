//! A real tus 1.0 server for the upload tests: `tests/tus/server.mjs`
//! (@tus/server with @tus/file-store, installed by
//! `scripts/install-tus-server.sh`) run under node, plus a reader of its
//! file store that does not go through the server.
//!
//! @tus/file-store keeps each upload as two files in the store directory:
//! `ID` (the bytes received so far; its size is the offset HEAD reports) and
//! `ID.json` (the declared length, the decoded metadata, the creation date).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use thiserror::Error;

use crate::{tools, workspace_root, Result};

/// How long node may take to load the packages and listen.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Error)]
pub enum TusServerError {
    #[error("the tus server packages are not installed in {dir}; run `bash scripts/install-tus-server.sh`")]
    NotInstalled { dir: String },
    #[error("`node` was not found on PATH; run `bash scripts/install-tus-server.sh` (Debian: apt-get install nodejs)")]
    NodeMissing,
    #[error("the tus server did not start: {reason}\nits stderr:\n{stderr}")]
    Startup { reason: String, stderr: String },
    #[error("tus file store {path}: {reason}")]
    Store { path: String, reason: String },
}

/// The node process serving tus at `http://127.0.0.1:PORT/files/`; killed on drop.
pub struct TusServer {
    child: Child,
    /// Held open: node exits when it closes (also when this process dies).
    _stdin: Option<ChildStdin>,
    addr: SocketAddr,
    store_dir: PathBuf,
}

/// One upload as file-store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredUpload {
    pub id: String,
    /// `Upload-Length`; `None` while deferred.
    pub declared_length: Option<u64>,
    /// Bytes on disk: the offset the server reports.
    pub stored_bytes: u64,
    /// `Upload-Metadata`, values decoded (a key sent without a value maps to "").
    pub metadata: BTreeMap<String, String>,
    pub data_path: PathBuf,
}

impl TusServer {
    /// Starts a server on a free port, storing in `store_dir` (created if
    /// missing); returns once it accepts connections.
    pub fn start(store_dir: &Path) -> Result<TusServer> {
        spawn(store_dir, 0)
    }

    /// The creation endpoint: `http://127.0.0.1:PORT/files/`.
    pub fn endpoint(&self) -> String {
        format!("http://{}/files/", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Kills the server and starts it again on the same port and store, as
    /// a server restarted mid-upload.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        // The port is free again at once (libuv binds with SO_REUSEADDR);
        // retry briefly anyway, in case the kernel is slow to release it.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match spawn(&self.store_dir, self.addr.port()) {
                Ok(server) => {
                    *self = server;
                    return Ok(());
                }
                Err(e) if Instant::now() < deadline && e.to_string().contains("EADDRINUSE") => {
                    thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Every upload in the store, oldest first.
    pub fn uploads(&self) -> Result<Vec<StoredUpload>> {
        let entries = std::fs::read_dir(&self.store_dir).map_err(|e| store_error(&self.store_dir, e))?;
        let mut uploads = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| store_error(&self.store_dir, e))?.path();
            if path.extension().is_some_and(|ext| ext == "json") {
                uploads.push(read_upload(&path)?);
            }
        }
        uploads.sort_by(|a, b| (&a.1, &a.0.id).cmp(&(&b.1, &b.0.id)));
        Ok(uploads.into_iter().map(|(upload, _)| upload).collect())
    }

    /// Removes an upload's bytes and record, as file-store's own expiry
    /// (`deleteExpired` → `remove`) does: the server then answers 404.
    pub fn expire(&self, id: &str) -> Result<()> {
        if id.is_empty() || id.contains(['/', '\\', '.']) {
            return Err(TusServerError::Store { path: id.into(), reason: "not an upload id".into() }.into());
        }
        let record = self.store_dir.join(format!("{id}.json"));
        std::fs::remove_file(&record).map_err(|e| store_error(&record, e))?;
        let data = self.store_dir.join(id);
        match std::fs::remove_file(&data) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(store_error(&data, e)),
            _ => Ok(()),
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TusServer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl StoredUpload {
    /// Have all declared bytes arrived?
    pub fn is_complete(&self) -> bool {
        self.declared_length == Some(self.stored_bytes)
    }

    /// SHA-256 of the stored bytes, lowercase hex.
    pub fn sha256_hex(&self) -> Result<String> {
        tools::sha256_hex(&self.data_path)
    }
}

/// Where the install script puts the packages: `$EGOCAP_TOOLS_DIR/tus`, else
/// `<target>/tools/tus` (as bindings/paths.sh).
pub fn tus_modules_dir() -> PathBuf {
    let tools = std::env::var_os("EGOCAP_TOOLS_DIR").map(PathBuf::from).unwrap_or_else(|| {
        let target =
            std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace_root().join("target"), PathBuf::from);
        target.join("tools")
    });
    tools.join("tus")
}

fn spawn(store_dir: &Path, port: u16) -> Result<TusServer> {
    let modules = tus_modules_dir();
    for package in ["server", "file-store"] {
        if !modules.join("node_modules/@tus").join(package).join("package.json").is_file() {
            return Err(TusServerError::NotInstalled { dir: modules.display().to_string() }.into());
        }
    }
    std::fs::create_dir_all(store_dir).map_err(|e| store_error(store_dir, e))?;
    let script = workspace_root().join("tests/tus/server.mjs");
    let mut child = Command::new("node")
        .arg(&script)
        .arg("--modules")
        .arg(&modules)
        .arg("--store")
        .arg(store_dir)
        .arg("--port")
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => TusServerError::NodeMissing,
            _ => TusServerError::Startup { reason: format!("cannot run node: {e}"), stderr: String::new() },
        })?;
    let stderr = drain(child.stderr.take());
    let first_line = first_line(child.stdout.take());
    let fail = |child: &mut Child, reason: String| {
        let _ = child.kill();
        let _ = child.wait();
        let stderr = stderr.lock().unwrap_or_else(PoisonError::into_inner).clone();
        TusServerError::Startup { reason, stderr }
    };
    let line = match first_line.recv_timeout(STARTUP_TIMEOUT) {
        Ok(line) => line,
        Err(_) => return Err(fail(&mut child, format!("no `listening` line within {STARTUP_TIMEOUT:?}")).into()),
    };
    let addr = line.trim().strip_prefix("listening ").and_then(|a| a.parse::<SocketAddr>().ok());
    let Some(addr) = addr else {
        return Err(fail(&mut child, format!("unexpected first line {line:?}")).into());
    };
    if TcpStream::connect_timeout(&addr, Duration::from_secs(5)).is_err() {
        return Err(fail(&mut child, format!("nothing accepts connections at {addr}")).into());
    }
    let stdin = child.stdin.take();
    Ok(TusServer { child, _stdin: stdin, addr, store_dir: store_dir.to_path_buf() })
}

/// Sends the first stdout line, then keeps reading so node never blocks on a full pipe.
fn first_line(stdout: Option<impl Read + Send + 'static>) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    if let Some(stdout) = stdout {
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            if reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                let _ = sender.send(line);
            }
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
    }
    receiver
}

/// Collects stderr (shown when the server fails to start).
fn drain(stderr: Option<impl Read + Send + 'static>) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    if let Some(mut stderr) = stderr {
        let sink = Arc::clone(&text);
        thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n @ 1..) = stderr.read(&mut buffer) {
                sink.lock().unwrap_or_else(PoisonError::into_inner).push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        });
    }
    text
}

/// Reads `ID.json` and the size of `ID`; returns the upload and its creation date.
fn read_upload(record: &Path) -> Result<(StoredUpload, String)> {
    let text = std::fs::read_to_string(record).map_err(|e| store_error(record, e))?;
    let json: Value = serde_json::from_str(&text).map_err(|e| store_error(record, e))?;
    let id = tools::json_str(&json, "id")?.to_string();
    let data_path = record.with_file_name(&id);
    let stored_bytes = match std::fs::metadata(&data_path) {
        Ok(meta) => meta.len(),
        Err(e) if e.kind() == ErrorKind::NotFound => 0,
        Err(e) => return Err(store_error(&data_path, e)),
    };
    let metadata = json
        .get("metadata")
        .and_then(Value::as_object)
        .map(|object| object.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default();
    let created = json.get("creation_date").and_then(Value::as_str).unwrap_or_default().to_string();
    let upload = StoredUpload {
        id,
        declared_length: json.get("size").and_then(Value::as_u64),
        stored_bytes,
        metadata,
        data_path,
    };
    Ok((upload, created))
}

fn store_error(path: &Path, reason: impl std::fmt::Display) -> crate::HarnessError {
    TusServerError::Store { path: path.display().to_string(), reason: reason.to_string() }.into()
}
