//! Consent withdrawal on the device: every file of that consent not yet
//! sent is removed (its unfinished upload abandoned at the target, the
//! local file deleted), and a signed purge record says what went. The
//! withdrawal and the purge record are queued in the identity lane, ahead
//! of any media, so the dataset learns of both first.

use std::fs;
use std::path::{Path, PathBuf};

use super::journal::{FileState, QueuedFile};
use super::queue::{now_ms, QueueError, UploadEvent, UploadQueue};
use super::target::RemoteOffset;
use crate::provenance::consent::{is_consent_id, PurgeRecord, PurgedFile};
use crate::provenance::keystore::KeyStore;
use crate::provenance::record::{RecordBody, SignedRecord};
use crate::provenance::values::{decode_lower_hex, Sha256Digest, UtcInstant};
use crate::sink::{DurableDir, SinkError};

/// Where the queue keeps the records it writes itself, under the recordings root.
pub const RECORDS_DIR: &str = "records";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeReport {
    pub consent_id: String,
    pub purged: Vec<PurgedFile>,
    /// The signed purge record, queued for upload.
    pub record_path: PathBuf,
}

impl UploadQueue {
    /// Applies `withdrawal` (a signed consent withdrawal) to the queue under
    /// `root` (the recordings directory): purges the consent's unsent files
    /// and queues the withdrawal and a purge record signed with `keystore`.
    /// Files already fully sent are not touched; the dataset owner deletes
    /// those on receiving the withdrawal.
    pub fn purge_consent(
        &mut self,
        root: &Path,
        withdrawal: &SignedRecord,
        keystore: &dyn KeyStore,
        at: UtcInstant,
    ) -> Result<PurgeReport, QueueError> {
        let RecordBody::ConsentWithdrawal(body) = withdrawal.body() else {
            return Err(QueueError::InvalidRecord(format!("{} is not a withdrawal", withdrawal.body().type_name())));
        };
        let device = keystore.public_key().map_err(|e| QueueError::InvalidRecord(e.to_string()))?;
        if !withdrawal.is_signed_by(&device) || body.device_key != device {
            return Err(QueueError::InvalidRecord("the withdrawal was not signed by this device".into()));
        }
        // The id names files below; only our own 32-hex-digit ids pass.
        if !is_consent_id(&body.consent_id) {
            return Err(QueueError::InvalidRecord("the withdrawal names no valid consent id".into()));
        }
        let consent_id = body.consent_id.clone();
        // Files on disk the journal has not seen yet must not escape the purge.
        self.enqueue_sessions(root)?;
        let unsent: Vec<QueuedFile> = self
            .status()?
            .into_iter()
            .filter(|f| f.consent_id.as_deref() == Some(consent_id.as_str()))
            .filter(|f| matches!(f.state, FileState::Pending | FileState::Refused))
            .collect();
        let mut purged = Vec::new();
        for file in unsent {
            if !self.purge_file(&file)? {
                continue;
            }
            let sha256 = decode_lower_hex(&file.sha256).map(Sha256Digest).unwrap_or_default();
            purged.push(PurgedFile { name: file.name.clone(), sha256, bytes: file.size });
        }
        let record = PurgeRecord::sign(keystore, withdrawal, purged.clone(), at)
            .map_err(|e| QueueError::InvalidRecord(format!("cannot sign the purge record: {e}")))?;
        let records = root.join(RECORDS_DIR);
        let withdrawal_name = format!("withdrawal-{consent_id}.json");
        let purge_name = format!("purge-{consent_id}-{}.json", now_ms());
        let withdrawal_path = write_durably(&records, &withdrawal_name, withdrawal.canonical_bytes())?;
        let record_path = write_durably(&records, &purge_name, record.canonical_bytes())?;
        self.enqueue_file(&withdrawal_path, &format!("{RECORDS_DIR}/{withdrawal_name}"))?;
        self.enqueue_file(&record_path, &format!("{RECORDS_DIR}/{purge_name}"))?;
        log::info!("purged {} unsent file(s) of withdrawn consent {consent_id}", purged.len());
        Ok(PurgeReport { consent_id, purged, record_path })
    }

    /// Removes one unsent file; false when it turns out the target holds
    /// all of it already (a finished upload is never terminated).
    fn purge_file(&mut self, file: &QueuedFile) -> Result<bool, QueueError> {
        // A chunk job's body is a copy of the file: it goes first. A task
        // still sending it meets the abandoned upload (404); its late report is `Unknown`.
        self.forget_jobs_of(file.id)?;
        if let Some(location) = &file.location {
            if self.target.offset(location) == Ok(RemoteOffset::At(file.size)) {
                self.journal.complete(file.id, now_ms())?;
                return Ok(false);
            }
            // A failure leaves a partial upload the server expires on its own.
            if let Err(e) = self.target.abandon(location) {
                log::warn!("could not abandon the upload of {} at the target: {e}", file.name);
            }
        }
        match fs::remove_file(&file.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(QueueError::Write { path: file.path.display().to_string(), source }),
        }
        self.journal.set_state(file.id, FileState::Purged, Some("purged after consent withdrawal"))?;
        self.emit(UploadEvent::Purged { name: file.name.clone() });
        Ok(true)
    }
}

/// Writes `name` under `dir` whole or not at all (also the chunk jobs' bodies).
pub(super) fn write_durably(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, QueueError> {
    DurableDir::open(dir).and_then(|records| records.write_file(name, bytes)).map_err(|error| match error {
        SinkError::CreateDir { path, source } | SinkError::Write { path, source } => {
            QueueError::Write { path: path.display().to_string(), source }
        }
        other => {
            QueueError::Write { path: dir.display().to_string(), source: std::io::Error::other(other.to_string()) }
        }
    })
}
