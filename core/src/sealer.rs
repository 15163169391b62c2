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
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::age::StreamEncryptor;
use crate::clock::ClockDomain;
use crate::provenance::consent::ActiveConsent;
use crate::provenance::identity::TrustedRecipientSet;
use crate::provenance::keystore::{KeyStore, PublicKey};
use crate::provenance::record::{RecordBody, SignedRecord};
use crate::provenance::segment_record::{BlurReport, FileDigest, SealedFile, SealingFacts, SegmentRecord, SessionEnd};
use crate::provenance::values::{HashingWriter, Sha256Digest, UtcInstant};
use crate::segment::FinishedSegment;
use crate::session::SessionSummary;
use crate::sink::{
    is_session_file_name, session_dirs, write_session_summary, DurableDir, SegmentSink, SinkError, WriteStepHook,
};

pub const SEALED_SUFFIX: &str = ".age";
pub const RECORD_SUFFIX: &str = ".record.json";
pub const DEVICE_RECORD_FILE: &str = "device.json";
pub const RECIPIENTS_RECORD_FILE: &str = "recipients.json";
pub const CONSENT_RECORD_FILE: &str = "consent.json";
pub const SESSION_END_FILE: &str = "session-end.json";

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
    segments_written: u64,
    last_sequence: Option<u64>,
    /// Read from the key store once, at start (a host key store is a call across the FFI).
    device_key: PublicKey,
}

impl SealingSink {
    /// Creates the session directory with the identity records in it.
    /// Refuses a registration of another key, and a key store that cannot
    /// sign, now rather than at the first segment.
    pub fn create(root: &Path, session_id: &str, setup: SealingSetup) -> Result<Self, SinkError> {
        let device_key = check_device(&setup)?;
        let files = DurableDir::create(root, session_id)?;
        remove_unrecorded_sealed_files(root);
        files.write_file(DEVICE_RECORD_FILE, setup.device_registration.canonical_bytes())?;
        files.write_file(RECIPIENTS_RECORD_FILE, setup.recipients.record().canonical_bytes())?;
        files.write_file(CONSENT_RECORD_FILE, setup.consent.record().canonical_bytes())?;
        Ok(Self {
            files,
            setup,
            previous_record: Sha256Digest::ZERO,
            segments_written: 0,
            last_sequence: None,
            device_key,
        })
    }

    pub fn with_hook(mut self, hook: WriteStepHook) -> Self {
        self.files.set_hook(hook);
        self
    }

    pub fn dir(&self) -> &Path {
        self.files.dir()
    }

    fn seal(&self, name: &str, plaintext: &[u8]) -> Result<(PathBuf, Sha256Digest, u64), SinkError> {
        let recipients = self.setup.recipients.recipients();
        let (path, (digest, bytes)) = self.files.write_streamed(name, |file| {
            let hashing = HashingWriter::new(file);
            let mut encryptor = StreamEncryptor::new(hashing, recipients).map_err(std::io::Error::other)?;
            encryptor.write_all(plaintext)?;
            let hashing = encryptor.finish().map_err(std::io::Error::other)?;
            let (file, digest, bytes) = hashing.finish();
            file.flush()?;
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
        // A blurred segment must say so: a report that cannot be written is
        // an error, never a record that claims no blurring.
        let blur = match &summary.blur {
            None => None,
            Some(blur) => Some(BlurReport::from_summary(blur).ok_or_else(|| {
                SinkError::Seal(format!("face model digest {:?} is not SHA-256 hex", blur.model_sha256))
            })?),
        };
        let (path, sealed_sha256, sealed_bytes) = self.seal(&sealed_name, &segment.mp4)?;
        drop(segment.mp4);
        let facts = SealingFacts {
            clock_domain: self.setup.clock_domain,
            plaintext,
            sealed: SealedFile { file: sealed_name, sha256: sealed_sha256, bytes: sealed_bytes },
            previous_record_sha256: self.previous_record,
            consent_id: self.setup.consent.consent_id().to_owned(),
            recipient_set_version: self.setup.recipients.version(),
            recipient_set_sha256: self.setup.recipients.record().hash(),
            blur,
            device_key: self.device_key,
        };
        let record = SegmentRecord::new(summary, facts);
        let signed = SignedRecord::sign(RecordBody::Segment(Box::new(record)), &[self.setup.keystore.as_ref()])
            .map_err(|e| SinkError::Seal(e.to_string()))?;
        self.files.write_file(&record_file_name(summary.sequence), signed.canonical_bytes())?;
        self.previous_record = signed.hash();
        self.segments_written += 1;
        self.last_sequence = Some(summary.sequence);
        Ok(path)
    }

    fn finish_session(&mut self, summary: &SessionSummary) -> Result<(), SinkError> {
        let end = SessionEnd {
            session_id: summary.session_id.clone(),
            segments_written: self.segments_written,
            last_sequence: self.last_sequence,
            last_record_sha256: self.previous_record,
            ended_at: UtcInstant(summary.stopped.utc_unix_ns),
            failed: summary.failure.is_some(),
            device_key: self.device_key,
        };
        let signed = SignedRecord::sign(RecordBody::SessionEnd(end), &[self.setup.keystore.as_ref()])
            .map_err(|e| SinkError::Seal(e.to_string()))?;
        self.files.write_file(SESSION_END_FILE, signed.canonical_bytes())?;
        write_session_summary(&self.files, summary)
    }
}

/// The device's public key, once the setup is known to belong to it.
fn check_device(setup: &SealingSetup) -> Result<PublicKey, SinkError> {
    let refuse = |what: String| Err::<PublicKey, _>(SinkError::DeviceIdentity(what));
    let key = match setup.keystore.public_key() {
        Ok(key) => key,
        Err(e) => return refuse(e.to_string()),
    };
    match setup.device_registration.body() {
        RecordBody::DeviceRegistration(r) if r.device_key == key && setup.device_registration.is_signed_by(&key) => {}
        _ => return refuse(format!("the device registration is not one of key {key}")),
    }
    if !setup.consent.record().is_signed_by(&key) {
        return refuse(format!("the consent was not given on key {key}"));
    }
    const PROBE: &[u8] = b"egocap-keystore-probe";
    match setup.keystore.sign(PROBE) {
        Ok(signature) if key.verify(PROBE, &signature).is_ok() => Ok(key),
        Ok(_) => refuse(format!("key store signatures do not verify under {key}")),
        Err(e) => refuse(e.to_string()),
    }
}

pub fn record_file_name(sequence: u64) -> String {
    format!("{}{RECORD_SUFFIX}", crate::segment::segment_file_name(sequence).trim_end_matches(".mp4"))
}

/// Removes `seg-NNNNNN.mp4.age` files that have no record beside them, in
/// the sealed session directories (those holding `recipients.json`) under
/// `root`; nothing else is touched.
fn remove_unrecorded_sealed_files(root: &Path) {
    let is_sealed_session = |dir: &PathBuf| {
        fs::read(dir.join(RECIPIENTS_RECORD_FILE))
            .ok()
            .and_then(|bytes| SignedRecord::parse(&bytes).ok())
            .is_some_and(|r| matches!(r.body(), RecordBody::RecipientSet(_)))
    };
    for session in session_dirs(root).into_iter().filter(is_sealed_session) {
        let Ok(entries) = fs::read_dir(&session) else { continue };
        for path in entries.flatten().map(|e| e.path()) {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
            let Some(stem) = name.strip_suffix(".mp4.age").filter(|s| is_session_file_name(name) && !s.contains('.'))
            else {
                continue;
            };
            if !session.join(format!("{stem}{RECORD_SUFFIX}")).exists() {
                match fs::remove_file(&path) {
                    Ok(()) => log::info!("removed {} (sealed, but its record was never written)", path.display()),
                    Err(e) => log::warn!("could not remove unrecorded {}: {e}", path.display()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::age::Identity;
    use crate::provenance::consent::{ConsentRecord, ConsentTerms, Controller, Notice};
    use crate::provenance::identity::{DeviceRegistration, RecipientSet};
    use crate::provenance::keystore::{FileKeyStore, KeyStoreError, PublicKey};
    use crate::provenance::values::UtcInstant;

    /// Hands out a public key but cannot sign (a locked platform key store).
    struct LockedKeyStore(FileKeyStore);

    impl KeyStore for LockedKeyStore {
        fn public_key(&self) -> Result<PublicKey, KeyStoreError> {
            self.0.public_key()
        }
        fn sign(&self, _message: &[u8]) -> Result<Vec<u8>, KeyStoreError> {
            Err(KeyStoreError::Host("user not authenticated".into()))
        }
    }

    fn setup(keystore: Arc<dyn KeyStore>, registered: &dyn KeyStore) -> SealingSetup {
        let owner = FileKeyStore::ephemeral().unwrap();
        let set = RecipientSet::sign(&owner, 1, &[Identity::generate().unwrap().recipient()], UtcInstant(0)).unwrap();
        let terms = ConsentTerms::egocentric_video(
            Controller { name: "D".into(), contact: "c".into() },
            "DE",
            Notice::of_text("n", "en"),
            "worker-1",
        );
        let consent = ConsentRecord::give(registered, terms, UtcInstant(0)).unwrap();
        SealingSetup {
            device_registration: DeviceRegistration::sign(registered, "desktop", None, UtcInstant(0)).unwrap(),
            recipients: TrustedRecipientSet::check(&set, &owner.public_key().unwrap()).unwrap(),
            consent: ActiveConsent::check(&consent, &[], &registered.public_key().unwrap()).unwrap(),
            keystore,
            clock_domain: ClockDomain::BootTime,
        }
    }

    #[test]
    fn a_registration_of_another_key_or_a_key_store_that_cannot_sign_is_refused_before_anything_is_written() {
        let root = tempfile::tempdir().unwrap();
        let other = FileKeyStore::ephemeral().unwrap();
        let refused =
            SealingSink::create(root.path(), "s1", setup(Arc::new(FileKeyStore::ephemeral().unwrap()), &other));
        assert!(matches!(refused, Err(SinkError::DeviceIdentity(_))));
        // The same key twice: one instance signs the records, the other is locked.
        let key_file = root.path().join("device.key");
        let registered = FileKeyStore::generate(&key_file).unwrap();
        let locked = LockedKeyStore(FileKeyStore::open(&key_file).unwrap());
        fs::remove_file(&key_file).unwrap();
        let setup_locked = setup(Arc::new(locked), &registered);
        let refused = SealingSink::create(root.path(), "s2", setup_locked);
        assert!(matches!(refused, Err(SinkError::DeviceIdentity(reason)) if reason.contains("not authenticated")));
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 0);
    }
}
