//! Loads every record under a root: identity records into lookup tables,
//! segment records grouped by the session directory they sit in.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use super::VerifyError;
use crate::provenance::consent::ConsentRecord;
use crate::provenance::keystore::PublicKey;
use crate::provenance::record::{RecordBody, SignedRecord};
use crate::provenance::values::{Sha256Digest, UtcInstant};
use crate::provenance::RecordError;
use crate::sealer::RECORD_SUFFIX;

/// Deep enough for `root/<owner>/<session>/…`; deeper trees are not ours.
const MAX_DEPTH: usize = 4;
const SESSION_SUMMARY_FILE: &str = "session.json";

/// `(file stem "seg-NNNNNN", parsed record)`.
pub(super) type StoredRecord = (String, Result<SignedRecord, RecordError>);

pub(super) struct SessionFiles {
    pub dir: PathBuf,
    pub name: String,
    /// Sorted by file name.
    pub records: Vec<StoredRecord>,
}

#[derive(Default)]
pub(super) struct RecordIndex {
    pub sessions: Vec<SessionFiles>,
    pub registered_devices: BTreeSet<PublicKey>,
    /// old key → new key, each change signed by both.
    pub key_changes: Vec<(PublicKey, PublicKey)>,
    /// Recipient-set record hash → (version, signed by the owner's pinned key).
    pub recipient_sets: HashMap<Sha256Digest, (u64, bool)>,
    pub consents: HashMap<String, ConsentRecord>,
    /// consent id → (signing device, withdrawn at).
    pub withdrawals: HashMap<String, Vec<(PublicKey, UtcInstant)>>,
    /// Session id → (segments, last record hash, signing device).
    pub session_ends: HashMap<String, (u64, Sha256Digest, PublicKey)>,
    pub problems: Vec<String>,
}

impl RecordIndex {
    pub fn load(root: &Path, owner_key: &PublicKey) -> Result<Self, VerifyError> {
        let mut files = Vec::new();
        collect_json(root, 0, &mut files)?;
        files.sort();
        let mut index = Self::default();
        let mut sessions: BTreeMap<PathBuf, Vec<StoredRecord>> = BTreeMap::new();
        for path in files {
            let bytes = fs::read(&path).map_err(|source| VerifyError::Read { path: path.clone(), source })?;
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
            if let Some(stem) = name.strip_suffix(RECORD_SUFFIX) {
                let dir = path.parent().unwrap_or(root).to_path_buf();
                sessions.entry(dir).or_default().push((stem.to_owned(), SignedRecord::parse(&bytes)));
                continue;
            }
            if name == SESSION_SUMMARY_FILE {
                continue;
            }
            match SignedRecord::parse(&bytes) {
                Ok(record) => index.add_identity_record(&record, owner_key, &path),
                Err(e) => index.problems.push(format!("{}: {e}", path.display())),
            }
        }
        index.sessions = sessions
            .into_iter()
            .map(|(dir, records)| {
                let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
                SessionFiles { dir, name, records }
            })
            .collect();
        Ok(index)
    }

    fn add_identity_record(&mut self, record: &SignedRecord, owner_key: &PublicKey, path: &Path) {
        match record.body() {
            RecordBody::DeviceRegistration(r) if record.is_signed_by(&r.device_key) => {
                self.registered_devices.insert(r.device_key);
            }
            RecordBody::KeyChange(c) if record.is_signed_by(&c.old_key) && record.is_signed_by(&c.new_key) => {
                self.key_changes.push((c.old_key, c.new_key));
            }
            RecordBody::RecipientSet(set) => {
                let trusted = set.owner_key == *owner_key && record.is_signed_by(owner_key);
                let clash = self.recipient_sets.iter().any(|(hash, (version, by_owner))| {
                    trusted && *by_owner && *version == set.version && *hash != record.hash()
                });
                if clash {
                    self.problems.push(format!(
                        "{}: the owner signed two different recipient sets as version {}",
                        path.display(),
                        set.version
                    ));
                }
                self.recipient_sets.insert(record.hash(), (set.version, trusted));
            }
            RecordBody::Consent(consent) if record.is_signed_by(&consent.device_key) => {
                match self.consents.get(&consent.consent_id) {
                    Some(known) if known != consent.as_ref() => self.problems.push(format!(
                        "{}: conflicting records for consent {}",
                        path.display(),
                        consent.consent_id
                    )),
                    Some(_) => {}
                    None => {
                        self.consents.insert(consent.consent_id.clone(), consent.as_ref().clone());
                    }
                }
            }
            RecordBody::ConsentWithdrawal(w) if record.is_signed_by(&w.device_key) => {
                self.withdrawals.entry(w.consent_id.clone()).or_default().push((w.device_key, w.withdrawn_at));
            }
            RecordBody::SessionEnd(end) if record.is_signed_by(&end.device_key) => {
                self.session_ends
                    .insert(end.session_id.clone(), (end.segments, end.last_record_sha256, end.device_key));
            }
            RecordBody::Segment(_) => {
                self.problems.push(format!("{}: a segment record outside a seg-*.record.json file", path.display()))
            }
            other => self.problems.push(format!(
                "{}: {} record not signed by its subject",
                path.display(),
                other.type_name()
            )),
        }
    }

    /// The keys `device` may sign with: itself and its successors by key change.
    pub fn keys_of_device(&self, device: &PublicKey) -> BTreeSet<PublicKey> {
        let mut keys = BTreeSet::from([*device]);
        loop {
            let next: Vec<PublicKey> = self
                .key_changes
                .iter()
                .filter(|(old, new)| keys.contains(old) && !keys.contains(new))
                .map(|c| c.1)
                .collect();
            if next.is_empty() {
                return keys;
            }
            keys.extend(next);
        }
    }
}

fn collect_json(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), VerifyError> {
    let entries = fs::read_dir(dir).map_err(|source| VerifyError::Read { path: dir.to_path_buf(), source })?;
    for entry in entries {
        let path = entry.map_err(|source| VerifyError::Read { path: dir.to_path_buf(), source })?.path();
        if path.is_dir() {
            if depth < MAX_DEPTH {
                collect_json(&path, depth + 1, out)?;
            }
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    Ok(())
}
