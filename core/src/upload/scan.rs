//! Finds what to upload in a recordings directory: the finished files of
//! every sealed session, each with its lane, size, SHA-256 and, for media,
//! the hash and consent of the record that cites it. A sealed segment
//! whose record is not written yet is still in progress and is left alone.
//! Files the journal holds already are skipped before they are read, so a
//! rescan costs a directory listing, not a hash of every queued byte.

use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use super::journal::NewFile;
use super::lane::Lane;
use crate::provenance::record::{RecordBody, SignedRecord};
use crate::provenance::values::{HashingWriter, Sha256Digest};
use crate::sealer::RECORD_SUFFIX;
use crate::sink::session_dirs;

/// The files to upload under `root` that are not in `queued`, in no
/// particular order (the journal orders them).
pub fn finished_session_files(root: &Path, queued: &HashSet<PathBuf>) -> io::Result<Vec<NewFile>> {
    let mut files = Vec::new();
    for session in session_dirs(root) {
        let session_name = session.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        let mut names: Vec<String> =
            std::fs::read_dir(&session)?.flatten().filter_map(|e| e.file_name().into_string().ok()).collect();
        names.sort();
        for name in &names {
            let Some(lane) = Lane::of_session_file(name) else { continue };
            let path = session.join(name);
            if queued.contains(&path) {
                continue;
            }
            let (record_sha256, consent_id) = match lane {
                Lane::Media => {
                    let record_name = format!("{}{RECORD_SUFFIX}", name.trim_end_matches(".mp4.age"));
                    // Only with its record in the same listing: a record written
                    // after it was taken is adopted on the next scan, with its medium.
                    if !names.contains(&record_name) {
                        continue;
                    }
                    match std::fs::read(session.join(&record_name)) {
                        Ok(record) => (Some(Sha256Digest::of(&record).to_hex()), consent_of(&record)),
                        // Sealed but not yet recorded: the segment in progress.
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(e),
                    }
                }
                Lane::SegmentRecord => (None, std::fs::read(&path).ok().and_then(|r| consent_of(&r))),
                _ => (None, None),
            };
            let (size, sha256) = hash_file(&path)?;
            files.push(NewFile {
                path,
                name: format!("{session_name}/{name}"),
                lane,
                size,
                sha256,
                record_sha256,
                consent_id,
            });
        }
    }
    Ok(files)
}

/// Any single file, queued by hand (the lane by its name, else media).
pub fn single_file(path: &Path, name: &str) -> io::Result<NewFile> {
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let lane = Lane::of_session_file(file_name).unwrap_or(Lane::Media);
    let (size, sha256) = hash_file(path)?;
    Ok(NewFile {
        path: path.to_path_buf(),
        name: name.to_owned(),
        lane,
        size,
        sha256,
        record_sha256: None,
        consent_id: None,
    })
}

fn consent_of(record: &[u8]) -> Option<String> {
    match SignedRecord::parse(record).ok()?.body() {
        RecordBody::Segment(segment) => Some(segment.consent_id.clone()),
        _ => None,
    }
}

fn hash_file(path: &Path) -> io::Result<(u64, String)> {
    let mut hashing = HashingWriter::new(io::sink());
    io::copy(&mut File::open(path)?, &mut hashing)?;
    let (_, digest, size) = hashing.finish();
    Ok((size, digest.to_hex()))
}
