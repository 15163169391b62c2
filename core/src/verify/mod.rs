//! `verify`: what a dataset owner runs on what arrived. For every segment
//! record under a directory it checks the signature, the chain within the
//! session, the consent and recipient set it names, the sealed file's hash,
//! that the owner's identity decrypts it, the plaintext hash, and that the
//! MP4 inside is whole and holds the frames the record claims.
//!
//! A session is a directory named by its session id holding
//! `seg-NNNNNN.record.json` + `seg-NNNNNN.mp4.age` pairs; identity records
//! (device registrations, key changes, recipient sets, consents,
//! withdrawals) are found anywhere under the root.

mod index;
mod session;

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::age::Identity;
use crate::provenance::keystore::PublicKey;
use index::RecordIndex;

/// Who verifies: the owner's age identities and pinned signing key.
pub struct VerifyOptions {
    pub identities: Vec<Identity>,
    pub owner_key: PublicKey,
}

#[derive(Debug, Error)]
pub enum VerifyError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("no segment records under {0}")]
    NothingToVerify(PathBuf),
    #[error("no age identity given")]
    NoIdentity,
}

/// The outcome for one segment record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentVerdict {
    /// `<session dir name>/seg-NNNNNN`.
    pub name: String,
    pub sequence: Option<u64>,
    pub frames: u64,
    pub duration_ns: i64,
    /// Empty when the segment verified.
    pub failures: Vec<SegmentFailure>,
}

/// Why a segment failed; each names the check.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SegmentFailure {
    #[error("record unreadable: {0}")]
    RecordUnreadable(String),
    #[error("record signature does not verify")]
    BadSignature,
    #[error("record signed by {signer}, not by the consent's device {device}")]
    SignedByOtherKey { signer: String, device: String },
    #[error("device {0} has no registration record")]
    DeviceNotRegistered(String),
    #[error("record from session {found} in session directory {expected}")]
    ForeignSession { found: String, expected: String },
    #[error("record for sequence {found} stored as segment {position}: reordered")]
    Reordered { found: u64, position: u64 },
    #[error("sequence {0} appears more than once")]
    Duplicate(u64),
    #[error("segments {from}..={to} are missing before this one")]
    Gap { from: u64, to: u64 },
    #[error("chain broken: previous-record hash does not match segment {0}")]
    ChainBroken(u64),
    #[error("consent {0} not found")]
    ConsentMissing(String),
    #[error("consent {0} is not the consent this session started under")]
    ConsentFromOtherDevice(String),
    #[error("signed by device {0}, not the device that recorded this session's first segment")]
    NotSessionDevice(String),
    #[error("times: {0}")]
    TimesInvalid(String),
    #[error("the session has no single first segment (seg-000000) to anchor its consent and device")]
    NoFirstSegment,
    #[error("recorded before consent {0} was given")]
    BeforeConsent(String),
    #[error("recorded after consent {consent_id} was withdrawn at {at}")]
    ConsentWithdrawn { consent_id: String, at: String },
    #[error("recipient set version {0} is unknown")]
    RecipientSetUnknown(u64),
    #[error("recipient set version {0} is not signed by the owner's pinned key")]
    RecipientSetNotFromOwner(u64),
    #[error("sealed file {0} is missing")]
    SealedFileMissing(String),
    /// The device removed it unsent after the worker withdrew consent {0},
    /// and said so in a signed purge record.
    #[error("purged on the device after consent {0} was withdrawn")]
    Purged(String),
    #[error("sealed file hash does not match the record")]
    SealedHashMismatch,
    #[error("cannot decrypt: {0}")]
    DecryptFailed(String),
    #[error("plaintext hash does not match the record")]
    PlaintextHashMismatch,
    #[error("MP4 does not parse: {0}")]
    Mp4Invalid(String),
    #[error("MP4 holds {file} frames, the record says {record}")]
    FrameCountMismatch { record: u64, file: u64 },
}

#[derive(Debug, Clone, Default)]
pub struct VerificationReport {
    pub segments: Vec<SegmentVerdict>,
    /// Records outside segments that failed to parse or verify.
    pub problems: Vec<String>,
    pub sessions: usize,
    /// Sessions whose signed end record was found and matches (the others
    /// were interrupted, or their end is missing).
    pub sessions_closed: usize,
}

impl VerificationReport {
    pub fn failed(&self) -> usize {
        self.segments.iter().filter(|s| !s.failures.is_empty()).count()
    }

    pub fn is_ok(&self) -> bool {
        self.failed() == 0 && self.problems.is_empty()
    }
}

/// Withdrawals signed by a device other than the consent's: they withdraw
/// nothing, and the worker who made them must hear so.
fn foreign_withdrawals(index: &RecordIndex) -> Vec<String> {
    let mut problems = Vec::new();
    for (consent_id, withdrawals) in &index.withdrawals {
        let Some(consents) = index.consents.get(consent_id) else { continue };
        for (key, _) in withdrawals {
            if !consents.iter().any(|c| index.keys_of_device(&c.device_key).contains(key)) {
                problems
                    .push(format!("a withdrawal of consent {consent_id} is signed by {key}, not the consent's device"));
            }
        }
    }
    problems.sort();
    problems
}

/// Verifies every segment under `root`.
pub fn verify_dataset(root: &Path, options: &VerifyOptions) -> Result<VerificationReport, VerifyError> {
    if options.identities.is_empty() {
        return Err(VerifyError::NoIdentity);
    }
    let index = RecordIndex::load(root, &options.owner_key)?;
    if index.sessions.is_empty() {
        return Err(VerifyError::NothingToVerify(root.to_path_buf()));
    }
    let mut report = VerificationReport {
        segments: Vec::new(),
        problems: index.problems.clone(),
        sessions: index.sessions.len(),
        sessions_closed: 0,
    };
    for session in &index.sessions {
        report.segments.extend(session::verify_session(session, &index, options));
        match session::check_session_end(session, &index) {
            Ok(true) => report.sessions_closed += 1,
            Ok(false) => {}
            Err(problem) => report.problems.push(problem),
        }
    }
    // End records of sessions whose segment records are all gone (or have
    // not arrived yet) are not silently passed over.
    for (id, end) in &index.session_ends {
        if !index.sessions.iter().any(|s| &s.name == id) {
            if let Err(problem) = session::check_end_against(id, end, &Default::default(), &index) {
                report.problems.push(problem);
            }
        }
    }
    report.problems.extend(foreign_withdrawals(&index));
    Ok(report)
}
