//! The embedded default target: a local inbox directory with tus's chunk
//! and resume semantics, so the whole path runs without a server.
//!
//! An upload `inbox:<id>` is `.uploads/<id>.json` (its description) and
//! `.uploads/<id>.part` (the bytes held so far, fsynced after every chunk).
//! When the last byte arrives the part file is renamed to `<name>` under
//! the inbox and the description marked finished; a finished upload keeps
//! answering its full length, as a tus server does.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::target::{RemoteOffset, TargetError, UploadDescription, UploadTarget};
use crate::sink::DurableDir;

const LOCATION_PREFIX: &str = "inbox:";

pub struct InboxTarget {
    root: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct InboxUpload {
    name: String,
    length: u64,
    sha256: String,
    finished: bool,
}

impl InboxTarget {
    pub fn new(root: &Path) -> Self {
        Self { root: root.to_path_buf() }
    }

    fn uploads(&self) -> PathBuf {
        self.root.join(".uploads")
    }

    fn paths(&self, location: &str) -> Result<(PathBuf, PathBuf), TargetError> {
        let id = location
            .strip_prefix(LOCATION_PREFIX)
            .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| TargetError::Refused(format!("{location:?} is not an inbox location")))?;
        Ok((self.uploads().join(format!("{id}.json")), self.uploads().join(format!("{id}.part"))))
    }

    fn read_description(&self, path: &Path) -> Result<Option<InboxUpload>, TargetError> {
        match fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| TargetError::Refused(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(path, &e)),
        }
    }

    /// Marks the upload finished, then moves its bytes into place. A kill
    /// between the two is finished by the next `offset` (see `move_into_place`),
    /// so a finished upload never looks gone and is never sent again.
    fn finish(&self, description_path: &Path, part: &Path, mut upload: InboxUpload) -> Result<(), TargetError> {
        upload.finished = true;
        write_durably(description_path, &upload)?;
        self.move_into_place(part, &upload)
    }

    fn move_into_place(&self, part: &Path, upload: &InboxUpload) -> Result<(), TargetError> {
        let destination = self.root.join(safe_relative(&upload.name)?);
        if let Some(parent) = destination.parent() {
            fs::create_dir_all(parent).map_err(|e| io_error(parent, &e))?;
        }
        fs::rename(part, &destination).map_err(|e| io_error(&destination, &e))?;
        sync_dir(destination.parent().unwrap_or(&self.root))
    }
}

impl UploadTarget for InboxTarget {
    fn create(&mut self, file: &UploadDescription) -> Result<String, TargetError> {
        safe_relative(&file.name)?;
        fs::create_dir_all(self.uploads()).map_err(|e| io_error(&self.uploads(), &e))?;
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|e| TargetError::Transient(e.to_string()))?;
        let location = format!("{LOCATION_PREFIX}{}", hex::encode(id));
        let (description_path, part) = self.paths(&location)?;
        File::create(&part).map_err(|e| io_error(&part, &e))?;
        let upload =
            InboxUpload { name: file.name.clone(), length: file.length, sha256: file.sha256.clone(), finished: false };
        write_durably(&description_path, &upload)?;
        if file.length == 0 {
            self.finish(&description_path, &part, upload)?;
        }
        Ok(location)
    }

    fn offset(&mut self, location: &str) -> Result<RemoteOffset, TargetError> {
        let (description_path, part) = self.paths(location)?;
        let Some(upload) = self.read_description(&description_path)? else { return Ok(RemoteOffset::Gone) };
        if upload.finished {
            if part.exists() {
                self.move_into_place(&part, &upload)?;
            }
            return Ok(RemoteOffset::At(upload.length));
        }
        match fs::metadata(&part) {
            Ok(meta) => Ok(RemoteOffset::At(meta.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RemoteOffset::Gone),
            Err(e) => Err(io_error(&part, &e)),
        }
    }

    fn append(&mut self, location: &str, offset: u64, chunk: &[u8]) -> Result<u64, TargetError> {
        let (description_path, part) = self.paths(location)?;
        let Some(upload) = self.read_description(&description_path)? else { return Err(TargetError::Gone) };
        if upload.finished {
            return Err(TargetError::OffsetMismatch { sent: offset, held: upload.length });
        }
        let mut file = OpenOptions::new().append(true).open(&part).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => TargetError::Gone,
            _ => io_error(&part, &e),
        })?;
        let held = file.metadata().map_err(|e| io_error(&part, &e))?.len();
        if held != offset {
            return Err(TargetError::OffsetMismatch { sent: offset, held });
        }
        let end = offset + chunk.len() as u64;
        if end > upload.length {
            return Err(TargetError::Refused(format!("{end} bytes exceed the declared length {}", upload.length)));
        }
        file.write_all(chunk).and_then(|()| file.sync_data()).map_err(|e| io_error(&part, &e))?;
        if end == upload.length {
            self.finish(&description_path, &part, upload)?;
        }
        Ok(end)
    }

    fn abandon(&mut self, location: &str) -> Result<(), TargetError> {
        let (description_path, part) = self.paths(location)?;
        if self.read_description(&description_path)?.is_some_and(|u| u.finished) {
            return Err(TargetError::Refused("a finished upload is never abandoned".into()));
        }
        for path in [part, description_path] {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error(&path, &e)),
            }
        }
        Ok(())
    }
}

/// `name` as a path under the inbox: relative, no `..`, no empty parts.
fn safe_relative(name: &str) -> Result<PathBuf, TargetError> {
    let path = Path::new(name);
    let normal = path.components().all(|c| matches!(c, Component::Normal(_)));
    if name.is_empty() || !normal || name.contains('\\') {
        return Err(TargetError::Refused(format!("{name:?} is not a safe name inside the inbox")));
    }
    Ok(path.to_path_buf())
}

/// Replaces the description at `path` whole or not at all.
fn write_durably(path: &Path, upload: &InboxUpload) -> Result<(), TargetError> {
    let bytes = serde_json::to_vec(upload).map_err(|e| TargetError::Refused(e.to_string()))?;
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Err(TargetError::Refused(format!("{} is not a description file", path.display())));
    };
    DurableDir::open(dir)
        .and_then(|uploads| uploads.write_file(name, &bytes))
        .map(drop)
        .map_err(|e| TargetError::Transient(format!("inbox: {e}")))
}

fn sync_dir(dir: &Path) -> Result<(), TargetError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io_error(dir, &e))
}

/// A local disk error is worth retrying (space may be freed); it is not the upload's fault.
fn io_error(path: &Path, error: &std::io::Error) -> TargetError {
    TargetError::Transient(format!("inbox {}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn description(name: &str, length: u64) -> UploadDescription {
        UploadDescription { name: name.into(), length, sha256: "00".into(), record_sha256: None }
    }

    #[test]
    fn chunks_resume_at_the_held_offset_and_finish_under_the_name() {
        let dir = tempfile::tempdir().unwrap();
        let mut inbox = InboxTarget::new(dir.path());
        let location = inbox.create(&description("s1/seg-000000.mp4.age", 6)).unwrap();
        assert_eq!(inbox.append(&location, 0, b"abc").unwrap(), 3);
        // A fresh target (a restarted process) sees what the first one wrote.
        let mut inbox = InboxTarget::new(dir.path());
        assert_eq!(inbox.offset(&location).unwrap(), RemoteOffset::At(3));
        assert_eq!(inbox.append(&location, 1, b"zz"), Err(TargetError::OffsetMismatch { sent: 1, held: 3 }));
        assert_eq!(inbox.append(&location, 3, b"def").unwrap(), 6);
        assert_eq!(fs::read(dir.path().join("s1/seg-000000.mp4.age")).unwrap(), b"abcdef");
        assert_eq!(inbox.offset(&location).unwrap(), RemoteOffset::At(6));
        assert!(matches!(inbox.abandon(&location), Err(TargetError::Refused(_))), "finished uploads stay");
    }

    #[test]
    fn a_kill_between_marking_finished_and_moving_into_place_is_finished_on_resume() {
        let dir = tempfile::tempdir().unwrap();
        let mut inbox = InboxTarget::new(dir.path());
        let location = inbox.create(&description("s1/a", 3)).unwrap();
        let (description_path, part) = inbox.paths(&location).unwrap();
        std::fs::write(&part, b"abc").unwrap();
        let upload = InboxUpload { name: "s1/a".into(), length: 3, sha256: "00".into(), finished: true };
        write_durably(&description_path, &upload).unwrap();
        // Killed here: marked finished, bytes not yet in place.
        assert_eq!(inbox.offset(&location).unwrap(), RemoteOffset::At(3));
        assert_eq!(fs::read(dir.path().join("s1/a")).unwrap(), b"abc");
    }

    #[test]
    fn unsafe_names_and_unknown_locations_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut inbox = InboxTarget::new(dir.path());
        for name in ["../escape", "/abs", "", "a/../b"] {
            assert!(matches!(inbox.create(&description(name, 1)), Err(TargetError::Refused(_))), "{name}");
        }
        assert_eq!(inbox.offset("inbox:00ff").unwrap(), RemoteOffset::Gone);
        assert!(matches!(inbox.offset("inbox:../x"), Err(TargetError::Refused(_))));
        let location = inbox.create(&description("s/x", 4)).unwrap();
        inbox.abandon(&location).unwrap();
        assert_eq!(inbox.offset(&location).unwrap(), RemoteOffset::Gone);
    }
}
