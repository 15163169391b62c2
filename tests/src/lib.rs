//! Harness for the end-to-end tests: finds the `egocap` binary, runs it and
//! the real ffmpeg/ffprobe, and reads back what a recording contains with
//! readers written independently of `egocap-core` (barcode, CAMM), so a bug
//! shared by writer and reader cannot hide. For uploads: a real tus server
//! (`tus_server`) behind a proxy that counts and injects faults (`fault_proxy`).
//!
//! Every failure is an error with a message saying what to do; nothing here
//! skips a test because a tool is missing.

pub mod barcode;
pub mod camm;
pub mod fault_proxy;
pub mod media;
pub mod recording;
pub mod tools;
pub mod tus_server;
pub mod upload;

use std::path::{Path, PathBuf};
use std::process::Command;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum HarnessError {
    #[error("the egocap binary is not at {path}; run `cargo build -p egocap-cli` first (or set EGOCAP_BIN)")]
    BinaryMissing { path: String },
    #[error(
        "`{tool}` was not found on PATH; run `sudo scripts/install-test-deps.sh` (Debian: apt-get install {package})"
    )]
    ToolMissing { tool: String, package: String },
    #[error("`{command}` failed ({status}):\n{stderr}")]
    ToolFailed { command: String, status: String, stderr: String },
    #[error("cannot read {path}: {reason}")]
    Io { path: String, reason: String },
    #[error("{what}: {reason}")]
    Json { what: String, reason: String },
    #[error("recording layout: {0}")]
    Layout(String),
    #[error(transparent)]
    Camm(#[from] camm::CammError),
    #[error(transparent)]
    TusServer(#[from] tus_server::TusServerError),
    #[error(transparent)]
    FaultProxy(#[from] fault_proxy::FaultProxyError),
}

pub type Result<T, E = HarnessError> = std::result::Result<T, E>;

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().map_or_else(|| here.to_path_buf(), Path::to_path_buf)
}

/// The `egocap` binary: `$EGOCAP_BIN`, else `<workspace>/target/debug/egocap`
/// (or under `$CARGO_TARGET_DIR` when that is set).
pub fn egocap_bin() -> Result<PathBuf> {
    let path = match std::env::var_os("EGOCAP_BIN") {
        Some(p) => PathBuf::from(p),
        None => {
            let target =
                std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace_root().join("target"), PathBuf::from);
            target.join("debug").join(format!("egocap{}", std::env::consts::EXE_SUFFIX))
        }
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(HarnessError::BinaryMissing { path: path.display().to_string() })
    }
}

/// The face model `scripts/fetch-face-model.sh` puts in the workspace
/// (`$EGOCAP_MODEL_DIR` when set, as in the script).
pub fn face_model_path() -> PathBuf {
    let dir = std::env::var_os("EGOCAP_MODEL_DIR")
        .map_or_else(|| workspace_root().join("target").join("models"), PathBuf::from);
    dir.join("retinaface-tiny.onnx")
}

/// `egocap` ready to run from any directory: it finds the face model through
/// `$EGOCAP_FACE_MODEL` (unless the caller's environment sets it already).
pub fn egocap_command() -> Result<Command> {
    let mut command = Command::new(egocap_bin()?);
    if std::env::var_os("EGOCAP_FACE_MODEL").is_none() {
        command.env("EGOCAP_FACE_MODEL", face_model_path());
    }
    Ok(command)
}

/// Runs `egocap ARGS…` to completion; an error carries its stderr.
pub fn run_egocap<I, S>(args: I) -> Result<std::process::Output>
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut command = egocap_command()?;
    command.args(args);
    tools::run_checked(&mut command)
}

/// `egocap keygen` into ROOT/keys and `egocap consent give` for a test
/// worker; returns (keys dir, consent file).
pub fn keys_and_consent(root: &Path) -> Result<(PathBuf, PathBuf)> {
    let keys = root.join("keys");
    run_egocap([&"keygen".as_ref(), &"--out".as_ref(), &keys.as_os_str()])?;
    let notice = root.join("notice.txt");
    std::fs::write(&notice, "You film your chores; faces are blurred; the owner decrypts.")
        .map_err(|e| HarnessError::Io { path: notice.display().to_string(), reason: e.to_string() })?;
    let out = run_egocap([
        "consent".as_ref(),
        "give".as_ref(),
        "--keys".as_ref(),
        keys.as_os_str(),
        "--worker".as_ref(),
        "worker-0007".as_ref(),
        "--notice".as_ref(),
        notice.as_os_str(),
    ])?;
    let consent = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if !consent.is_file() {
        return Err(HarnessError::Layout(format!("consent give printed {}, not a file", consent.display())));
    }
    Ok((keys, consent))
}
