//! Shared by the upload tests: a recordings directory of fake sealed
//! sessions (random bytes under real session file names), a queue that
//! talks to a tus server through the fault proxy, and the check that the
//! server holds every file whole.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use egocap_core::upload::{
    AuthError, AuthProvider, Backoff, QueueConfig, Timeouts, TusTarget, UploadQueue, UreqTransport,
};

use crate::tools::sha256_hex;
use crate::tus_server::TusServer;
use crate::{HarnessError, Result};

/// A recordings directory: one session of identity records, `segments`
/// records and sealed media of `media_bytes` each, and an end record.
pub struct Recordings {
    pub root: PathBuf,
    /// `<session>/<file>` → SHA-256 of the local file.
    pub files: BTreeMap<String, String>,
}

impl Recordings {
    pub fn create(root: &Path, session: &str, segments: usize, media_bytes: usize) -> Result<Self> {
        let dir = root.join(session);
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, &e))?;
        let mut names: Vec<(String, usize)> =
            ["device.json", "recipients.json", "consent.json"].iter().map(|n| ((*n).to_owned(), 700)).collect();
        for sequence in 0..segments {
            names.push((format!("seg-{sequence:06}.record.json"), 1_200));
            names.push((format!("seg-{sequence:06}.mp4.age"), media_bytes + sequence * 977));
        }
        names.push(("session-end.json".to_owned(), 400));
        let mut files = BTreeMap::new();
        let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ session.len() as u64;
        for (name, size) in names {
            let bytes: Vec<u8> = (0..size)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            let path = dir.join(&name);
            std::fs::write(&path, &bytes).map_err(|e| io(&path, &e))?;
            files.insert(format!("{session}/{name}"), sha256_hex(&path)?);
        }
        Ok(Self { root: root.to_path_buf(), files })
    }

    pub fn total_bytes(&self) -> Result<u64> {
        let mut total = 0;
        for name in self.files.keys() {
            let path = self.root.join(name);
            total += std::fs::metadata(&path).map_err(|e| io(&path, &e))?.len();
        }
        Ok(total)
    }

    /// Every file is held complete and byte-identical by the server (an
    /// abandoned duplicate upload beside it does not count against it).
    pub fn assert_all_on(&self, server: &TusServer) -> Result<()> {
        let uploads = server.uploads()?;
        for (name, sha256) in &self.files {
            let mut found = false;
            for upload in uploads.iter().filter(|u| u.metadata.get("filename") == Some(name) && u.is_complete()) {
                found |= upload.sha256_hex()? == *sha256;
            }
            if !found {
                return Err(HarnessError::Layout(format!("the server holds no complete, identical copy of {name}")));
            }
        }
        Ok(())
    }
}

/// Queue settings for tests: small chunks, short backoff.
pub fn test_config(chunk_size: usize) -> QueueConfig {
    QueueConfig {
        chunk_size,
        backoff: Backoff { first_ms: 20, cap_ms: 200 },
        retention: Duration::from_secs(3600),
        ..QueueConfig::default()
    }
}

/// A queue with its journal in `journal_dir`, sending to `endpoint` with
/// the default transport and a short read timeout.
pub fn tus_queue(
    journal_dir: &Path,
    endpoint: &str,
    auth: Option<Arc<dyn AuthProvider>>,
    config: QueueConfig,
) -> Result<UploadQueue> {
    let timeouts =
        Timeouts { connect: Duration::from_secs(2), read: Duration::from_secs(2), send_body: Duration::from_secs(10) };
    let target = TusTarget::new(endpoint, Arc::new(UreqTransport::new(timeouts)), auth);
    UploadQueue::open(&journal_dir.join("upload-journal.db"), Box::new(target), config)
        .map_err(|e| HarnessError::Layout(format!("opening the upload queue: {e}")))
}

/// Hands out `Bearer t<n>`, starting at `t0`; a refresh moves to the next
/// token, so the number is also how many refreshes there were.
#[derive(Default)]
pub struct RotatingToken(pub Mutex<u32>);

impl AuthProvider for RotatingToken {
    fn headers(&self) -> std::result::Result<Vec<(String, String)>, AuthError> {
        let n = *self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(vec![("Authorization".into(), format!("Bearer t{n}"))])
    }
    fn refresh(&self) -> std::result::Result<(), AuthError> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        Ok(())
    }
}

fn io(path: &Path, error: &std::io::Error) -> HarnessError {
    HarnessError::Io { path: path.display().to_string(), reason: error.to_string() }
}
