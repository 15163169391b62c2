//! Where finished segments go. The segmenter hands each segment's bytes
//! forward-only to a [`SegmentSink`], so a sink that encrypts as a stream
//! (the sealer) fits the same slot as this plaintext directory sink.
//!
//! Durability: each file is written under a `.partial` name, fsynced,
//! renamed, and the directory fsynced, so after a crash at any instant a
//! segment is either whole under its final name or only a `.partial`
//! leftover, which the next start removes.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::segment::FinishedSegment;
use crate::session::SessionSummary;

const PARTIAL_SUFFIX: &str = ".partial";

pub trait SegmentSink: Send {
    /// Takes one finished segment; returns where it now lives.
    fn write_segment(&mut self, segment: FinishedSegment) -> Result<PathBuf, SinkError>;
    /// Called once when the session ends, even after a failure.
    fn finish_session(&mut self, summary: &SessionSummary) -> Result<(), SinkError>;
}

#[derive(Debug, Error)]
pub enum SinkError {
    #[error("cannot create segment directory {path}: {source}")]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot seal the segment: {0}")]
    Seal(String),
    #[error("the device identity cannot seal: {0}")]
    DeviceIdentity(String),
    #[error("cannot encode the summary of {what}: {source}")]
    Summary { what: String, source: serde_json::Error },
}

/// The steps of a durable write, for crash tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteStep {
    AfterWrite,
    AfterFsync,
    AfterRename,
}

/// Called at each step of each file written; tests use it to die there.
pub type WriteStepHook = Box<dyn Fn(&Path, WriteStep) + Send>;

/// A session directory whose files appear whole or not at all.
pub struct DurableDir {
    dir: PathBuf,
    hook: Option<WriteStepHook>,
}

impl DurableDir {
    /// Creates `<root>/<session_id>/` and removes leftovers of earlier
    /// crashed sessions (`*.partial`) under `root`.
    pub fn create(root: &Path, session_id: &str) -> Result<Self, SinkError> {
        let dir = root.join(session_id);
        fs::create_dir_all(&dir).map_err(|source| SinkError::CreateDir { path: dir.clone(), source })?;
        remove_leftovers(root);
        Ok(Self { dir, hook: None })
    }

    /// Any directory (created if missing), without the session clean-up of
    /// `create`: for records written beside the sessions, not in one.
    pub fn open(dir: &Path) -> Result<Self, SinkError> {
        fs::create_dir_all(dir).map_err(|source| SinkError::CreateDir { path: dir.to_path_buf(), source })?;
        Ok(Self { dir: dir.to_path_buf(), hook: None })
    }

    pub fn set_hook(&mut self, hook: WriteStepHook) {
        self.hook = Some(hook);
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `bytes` as `name`, durably.
    pub fn write_file(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, SinkError> {
        self.write_streamed(name, |file| file.write_all(bytes)).map(|(path, ())| path)
    }

    /// Lets `fill` write `name` forward-only, then makes it durable: written
    /// under a `.partial` name, fsynced, renamed, directory fsynced.
    pub fn write_streamed<T>(
        &self,
        name: &str,
        fill: impl FnOnce(&mut File) -> std::io::Result<T>,
    ) -> Result<(PathBuf, T), SinkError> {
        let final_path = self.dir.join(name);
        let partial = self.dir.join(format!("{name}{PARTIAL_SUFFIX}"));
        let write_error = |source| SinkError::Write { path: final_path.clone(), source };
        let mut file =
            OpenOptions::new().write(true).create(true).truncate(true).open(&partial).map_err(write_error)?;
        let filled = fill(&mut file).map_err(write_error)?;
        self.step(&final_path, WriteStep::AfterWrite);
        file.sync_all().map_err(write_error)?;
        drop(file);
        self.step(&final_path, WriteStep::AfterFsync);
        fs::rename(&partial, &final_path).map_err(write_error)?;
        self.step(&final_path, WriteStep::AfterRename);
        File::open(&self.dir).and_then(|d| d.sync_all()).map_err(write_error)?;
        Ok((final_path, filled))
    }

    fn step(&self, path: &Path, step: WriteStep) {
        if let Some(hook) = &self.hook {
            hook(path, step);
        }
    }
}

/// Writes plaintext MP4 segments and JSON summaries into
/// `<root>/<session_id>/`. Desktop only, and it says so in the log: on a
/// phone, segments are sealed.
pub struct PlaintextDirSink {
    files: DurableDir,
}

impl PlaintextDirSink {
    pub fn create(root: &Path, session_id: &str) -> Result<Self, SinkError> {
        let files = DurableDir::create(root, session_id)?;
        log::warn!("writing unencrypted segments to {}", files.dir().display());
        Ok(Self { files })
    }

    pub fn with_hook(mut self, hook: WriteStepHook) -> Self {
        self.files.set_hook(hook);
        self
    }

    pub fn dir(&self) -> &Path {
        self.files.dir()
    }
}

impl SegmentSink for PlaintextDirSink {
    fn write_segment(&mut self, segment: FinishedSegment) -> Result<PathBuf, SinkError> {
        let summary_json = serde_json::to_vec_pretty(&segment.summary)
            .map_err(|source| SinkError::Summary { what: segment.summary.file.clone(), source })?;
        let path = self.files.write_file(&segment.summary.file, &segment.mp4)?;
        let summary_name = segment.summary.file.replace(".mp4", ".json");
        self.files.write_file(&summary_name, &summary_json)?;
        Ok(path)
    }

    fn finish_session(&mut self, summary: &SessionSummary) -> Result<(), SinkError> {
        write_session_summary(&self.files, summary)
    }
}

/// `session.json`: the session's counts and drops, for both sinks.
pub fn write_session_summary(files: &DurableDir, summary: &SessionSummary) -> Result<(), SinkError> {
    let json =
        serde_json::to_vec_pretty(summary).map_err(|source| SinkError::Summary { what: "session".into(), source })?;
    files.write_file("session.json", &json).map(|_| ())
}

/// The exact names our sessions write. Only these (and their `.partial`
/// forms), inside directories named like our session ids, are ever removed,
/// so an output directory shared with other files loses nothing of theirs.
/// (One recorder per output root: a second one recording at the same time
/// would see the first one's files in progress as leftovers.)
pub fn is_session_file_name(name: &str) -> bool {
    const SEGMENT_SUFFIXES: [&str; 4] = [".mp4", ".json", ".mp4.age", ".record.json"];
    let segment = name.strip_prefix("seg-").is_some_and(|rest| {
        rest.len() > 6 && rest.as_bytes()[..6].iter().all(u8::is_ascii_digit) && SEGMENT_SUFFIXES.contains(&&rest[6..])
    });
    segment || ["session.json", "session-end.json", "device.json", "recipients.json", "consent.json"].contains(&name)
}

/// Our session ids: 32 lowercase hex digits (see `session::new_session_id`).
pub fn is_session_dir_name(name: &str) -> bool {
    name.len() == 32 && name.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The session directories directly under `root` (never `root` itself, never through a symlink).
pub fn session_dirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(root) else { return Vec::new() };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| e.file_name().to_str().is_some_and(is_session_dir_name))
        .map(|e| e.path())
        .collect()
}

fn remove_leftovers(root: &Path) {
    for dir in session_dirs(root) {
        remove_leftovers_in(&dir);
    }
}

fn remove_leftovers_in(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.strip_suffix(PARTIAL_SUFFIX).is_some_and(is_session_file_name) {
            match fs::remove_file(&path) {
                Ok(()) => log::info!("removed leftover {} from an interrupted session", path.display()),
                Err(e) => log::warn!("could not remove leftover {}: {e}", path.display()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftovers_of_a_crashed_session_are_removed_and_whole_files_kept() {
        let root = tempfile::tempdir().unwrap();
        let old = root.path().join("0123456789abcdef0123456789abcdef");
        fs::create_dir_all(&old).unwrap();
        fs::write(old.join("seg-000001.mp4.partial"), b"half").unwrap();
        fs::write(old.join("seg-000000.mp4"), b"whole").unwrap();
        let others = root.path().join("Videos");
        fs::create_dir_all(&others).unwrap();
        let theirs = ["draft.partial", "seg-000001.ts.partial", "session.json.partial"];
        for name in theirs {
            fs::write(others.join(name), b"someone else's").unwrap();
        }
        fs::write(root.path().join("seg-000000.m4s.partial"), b"someone else's").unwrap();
        let sink = PlaintextDirSink::create(root.path(), "new-session").unwrap();
        assert!(!old.join("seg-000001.mp4.partial").exists());
        assert!(old.join("seg-000000.mp4").exists());
        assert!(theirs.iter().all(|name| others.join(name).exists()));
        assert!(root.path().join("seg-000000.m4s.partial").exists());
        let written = sink.files.write_file("x.bin", b"abc").unwrap();
        assert_eq!(fs::read(written).unwrap(), b"abc");
        assert!(!sink.dir().join("x.bin.partial").exists());
    }
}
