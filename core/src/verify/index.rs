//! Loads every record under a root: identity records into lookup tables,
//! segment records grouped by the session directory they sit in.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use super::VerifyError;
use crate::provenance::consent::ConsentRecord;
use crate::provenance::keystore::PublicKey;
use crate::provenance::record::{RecordBody, SignedRecord};
use crate::provenance::segment_record::SessionEnd;
use crate::provenance::values::{Sha256Digest, UtcInstant};
use crate::provenance::RecordError;
use crate::sealer::RECORD_SUFFIX;

/// Deep enough for `root/<owner>/<session>/…`; deeper trees are not ours.
const MAX_DEPTH: usize = 4;
const SESSION_SUMMARY_FILE: &str = "session.json";
/// Records are a few KiB; anything this big is not one of ours.
const MAX_RECORD_BYTES: u64 = 1 << 20;

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
    /// Consent id → the consents claiming it (one per device, normally one).
    pub consents: HashMap<String, Vec<ConsentRecord>>,
    /// consent id → (signing device, withdrawn at).
    pub withdrawals: HashMap<String, Vec<(PublicKey, UtcInstant)>>,
    pub session_ends: HashMap<String, SessionEnd>,
    /// `<session>/<file>` names purged unsent → the (signing device, consent id) of each purge record.
    pub purged: HashMap<String, Vec<(PublicKey, String)>>,
    pub problems: Vec<String>,
}

impl RecordIndex {
    pub fn load(root: &Path, owner_key: &PublicKey) -> Result<Self, VerifyError> {
        let mut files = Vec::new();
        let mut index = Self::default();
        collect_json(root, 0, &mut files, &mut index.problems)?;
        files.sort();
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
                let known = self.consents.entry(consent.consent_id.clone()).or_default();
                if known.iter().any(|k| k.device_key == consent.device_key && k != consent.as_ref()) {
                    self.problems.push(format!(
                        "{}: conflicting records for consent {}",
                        path.display(),
                        consent.consent_id
                    ));
                } else if !known.contains(consent.as_ref()) {
                    // Another device claiming the same id does not displace this one.
                    known.push(consent.as_ref().clone());
                }
            }
            RecordBody::ConsentWithdrawal(w) if record.is_signed_by(&w.device_key) => {
                self.withdrawals.entry(w.consent_id.clone()).or_default().push((w.device_key, w.withdrawn_at));
            }
            RecordBody::Purge(purge) if record.is_signed_by(&purge.device_key) => {
                for file in &purge.purged {
                    self.purged
                        .entry(file.name.clone())
                        .or_default()
                        .push((purge.device_key, purge.consent_id.clone()));
                }
            }
            RecordBody::SessionEnd(end) if record.is_signed_by(&end.device_key) => {
                match self.session_ends.get(&end.session_id) {
                    Some(known) if known != end => self.problems.push(format!(
                        "{}: a second, different end record for session {}",
                        path.display(),
                        end.session_id
                    )),
                    _ => {
                        self.session_ends.insert(end.session_id.clone(), end.clone());
                    }
                }
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

    /// The consent `id` given on the device that holds `key`, else any claiming `id`.
    pub fn consent_for(&self, id: &str, key: &PublicKey) -> Option<&ConsentRecord> {
        let claims = self.consents.get(id)?;
        claims.iter().find(|c| self.keys_of_device(&c.device_key).contains(key)).or_else(|| claims.first())
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

/// Regular `.json` files up to `MAX_DEPTH` below `dir`. Symlinks, pipes,
/// oversized files and deeper directories are reported, never followed or
/// read, so a crafted dataset cannot hang or exhaust the verifier.
fn collect_json(
    dir: &Path,
    depth: usize,
    out: &mut Vec<PathBuf>,
    problems: &mut Vec<String>,
) -> Result<(), VerifyError> {
    let entries = fs::read_dir(dir).map_err(|source| VerifyError::Read { path: dir.to_path_buf(), source })?;
    for entry in entries {
        let entry = entry.map_err(|source| VerifyError::Read { path: dir.to_path_buf(), source })?;
        let path = entry.path();
        let metadata =
            fs::symlink_metadata(&path).map_err(|source| VerifyError::Read { path: path.clone(), source })?;
        let file_type = metadata.file_type();
        if file_type.is_dir() {
            if depth < MAX_DEPTH {
                collect_json(&path, depth + 1, out, problems)?;
            } else {
                problems.push(format!("{}: deeper than {MAX_DEPTH} levels, not read", path.display()));
            }
        } else if path.extension().is_some_and(|e| e == "json") {
            if !file_type.is_file() {
                problems.push(format!("{}: not a regular file, not read", path.display()));
            } else if metadata.len() > MAX_RECORD_BYTES {
                problems.push(format!(
                    "{}: larger than any record ({} bytes), not read",
                    path.display(),
                    metadata.len()
                ));
            } else {
                out.push(path);
            }
        } else if file_type.is_symlink() {
            problems.push(format!("{}: a symlink, not followed", path.display()));
        }
    }
    Ok(())
}
