//! The default [`SegmentSink`]: every segment is encrypted to the dataset
//! owner's recipients (age v1) as it is written, and described by a signed
//! segment record chained to the one before. The plaintext MP4 never
//! reaches disk; peak memory is the segment plus one 64 KiB chunk.
//!
//! Files in `<root>/<session_id>/`: `device.json`, `recipients.json` and
//! `consent.json` (copies of the records the session relies on, so the
//! directory verifies on its own), then per segment `seg-NNNNNN.mp4.age`
//! and `seg-NNNNNN.record.json`, and `session.json` at stop.
//!
//! Crash safety: the sealed file is made durable first, then its record.
//! A sealed file without a record belongs to the segment in progress when
//! the process died; the next start removes it with the `.partial` files.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::age::StreamEncryptor;
use crate::clock::ClockDomain;
use crate::provenance::consent::ActiveConsent;
use crate::provenance::identity::TrustedRecipientSet;
use crate::provenance::keystore::KeyStore;
use crate::provenance::record::{RecordBody, SignedRecord};
use crate::provenance::segment_record::{FileDigest, SealedFile, SealingFacts, SegmentRecord};
use crate::provenance::values::{HashingWriter, Sha256Digest};
use crate::segment::FinishedSegment;
use crate::session::SessionSummary;
use crate::sink::{write_session_summary, DurableDir, SegmentSink, SinkError, WriteStepHook};

pub const SEALED_SUFFIX: &str = ".age";
pub const RECORD_SUFFIX: &str = ".record.json";
pub const DEVICE_RECORD_FILE: &str = "device.json";
pub const RECIPIENTS_RECORD_FILE: &str = "recipients.json";
pub const CONSENT_RECORD_FILE: &str = "consent.json";

/// What a sealed session needs; each part has been checked by its type.
pub struct SealingSetup {
    pub keystore: Arc<dyn KeyStore>,
    /// The device's registration record, copied beside the segments.
    pub device_registration: SignedRecord,
    pub recipients: TrustedRecipientSet,
    pub consent: ActiveConsent,
    /// The clock the session's frames are stamped with.
    pub clock_domain: ClockDomain,
}

pub struct SealingSink {
    files: DurableDir,
    setup: SealingSetup,
    previous_record: Sha256Digest,
}

impl SealingSink {
    /// Creates the session directory with the identity records in it.
    pub fn create(root: &Path, session_id: &str, setup: SealingSetup) -> Result<Self, SinkError> {
        let files = DurableDir::create(root, session_id)?;
        remove_unrecorded_sealed_files(root);
        files.write_file(DEVICE_RECORD_FILE, setup.device_registration.canonical_bytes())?;
        files.write_file(RECIPIENTS_RECORD_FILE, setup.recipients.record.canonical_bytes())?;
        files.write_file(CONSENT_RECORD_FILE, setup.consent.record.canonical_bytes())?;
        Ok(Self { files, setup, previous_record: Sha256Digest::ZERO })
    }

    pub fn with_hook(mut self, hook: WriteStepHook) -> Self {
        self.files.set_hook(hook);
        self
    }

    pub fn dir(&self) -> &Path {
        self.files.dir()
    }

    fn seal(&self, name: &str, plaintext: &[u8]) -> Result<(PathBuf, Sha256Digest, u64), SinkError> {
        let recipients = &self.setup.recipients.recipients;
        let (path, (digest, bytes)) = self.files.write_streamed(name, |file| {
            let hashing = HashingWriter::new(BufWriter::with_capacity(1 << 16, file));
            let mut encryptor = StreamEncryptor::new(hashing, recipients).map_err(std::io::Error::other)?;
            encryptor.write_all(plaintext)?;
            let hashing = encryptor.finish().map_err(std::io::Error::other)?;
            let (mut buffered, digest, bytes) = hashing.finish();
            buffered.flush()?;
            Ok((digest, bytes))
        })?;
        Ok((path, digest, bytes))
    }
}

impl SegmentSink for SealingSink {
    fn write_segment(&mut self, segment: FinishedSegment) -> Result<PathBuf, SinkError> {
        let summary = &segment.summary;
        let plaintext = FileDigest { sha256: Sha256Digest::of(&segment.mp4), bytes: segment.mp4.len() as u64 };
        let sealed_name = format!("{}{SEALED_SUFFIX}", summary.file);
        let (path, sealed_sha256, sealed_bytes) = self.seal(&sealed_name, &segment.mp4)?;
        drop(segment.mp4);
        let facts = SealingFacts {
            clock_domain: self.setup.clock_domain,
            plaintext,
            sealed: SealedFile { file: sealed_name, sha256: sealed_sha256, bytes: sealed_bytes },
            previous_record_sha256: self.previous_record,
            consent_id: self.setup.consent.consent_id.clone(),
            recipient_set_version: self.setup.recipients.version,
            blur: None,
            device_key: self.setup.keystore.public_key().map_err(|e| SinkError::Seal(e.to_string()))?,
        };
        let record = SegmentRecord::new(summary, facts);
        let signed = SignedRecord::sign(RecordBody::Segment(Box::new(record)), &[self.setup.keystore.as_ref()])
            .map_err(|e| SinkError::Seal(e.to_string()))?;
        self.files.write_file(&record_file_name(summary.sequence), signed.canonical_bytes())?;
        self.previous_record = signed.hash();
        Ok(path)
    }

    fn finish_session(&mut self, summary: &SessionSummary) -> Result<(), SinkError> {
        write_session_summary(&self.files, summary)
    }
}

pub fn record_file_name(sequence: u64) -> String {
    format!("{}{RECORD_SUFFIX}", crate::segment::segment_file_name(sequence).trim_end_matches(".mp4"))
}

/// Removes `seg-*.mp4.age` files that have no record beside them, in the
/// session directories under `root`.
fn remove_unrecorded_sealed_files(root: &Path) {
    let Ok(sessions) = fs::read_dir(root) else { return };
    for session in sessions.flatten().map(|e| e.path()).filter(|p| p.is_dir()) {
        let Ok(entries) = fs::read_dir(&session) else { continue };
        for path in entries.flatten().map(|e| e.path()) {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
            let Some(stem) = name.strip_suffix(".mp4.age") else { continue };
            if !session.join(format!("{stem}{RECORD_SUFFIX}")).exists() {
                match fs::remove_file(&path) {
                    Ok(()) => log::info!("removed {} (sealed, but its record was never written)", path.display()),
                    Err(e) => log::warn!("could not remove unrecorded {}: {e}", path.display()),
                }
            }
        }
    }
}
