//! What the dataset owner runs on what arrived (`egocap verify` in the
//! CLI): every segment record under a directory, checked for signature,
//! chain, consent, recipient set, sealed and plaintext hashes and frames.
//! Owner side: tools and tests; an app only records.

use std::path::Path;

use egocap_core::age::Identity;
use egocap_core::provenance::keystore::PublicKey;
use egocap_core::verify::{self as core, VerifyOptions};

use crate::error::{guarded, EgocapError};

/// What `verifyDataset` found.
#[derive(Debug, Clone, uniffi::Record)]
pub struct VerificationReport {
    /// Every segment verified and no other record had a problem.
    pub all_verified: bool,
    pub segments: Vec<SegmentVerdict>,
    /// Records outside segments that failed to parse or verify, and
    /// sessions whose end record shows segments missing at the end.
    pub problems: Vec<String>,
    pub sessions: u64,
    /// Sessions with a matching signed end record; the rest were interrupted.
    pub sessions_closed: u64,
}

/// The outcome for one segment record.
#[derive(Debug, Clone, uniffi::Record)]
pub struct SegmentVerdict {
    /// `<session dir name>/seg-NNNNNN`.
    pub name: String,
    /// `null` when the record could not be read.
    pub sequence: Option<u64>,
    pub frames: u64,
    pub duration_ns: i64,
    /// Empty when the segment verified.
    pub failures: Vec<SegmentFailure>,
}

/// One failed check: which, and the reason in words.
#[derive(Debug, Clone, uniffi::Record)]
pub struct SegmentFailure {
    pub kind: SegmentFailureKind,
    pub reason: String,
}

/// The check that failed, one per `egocap_core::verify::SegmentFailure` case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SegmentFailureKind {
    RecordUnreadable,
    BadSignature,
    SignedByOtherKey,
    DeviceNotRegistered,
    ForeignSession,
    Reordered,
    Duplicate,
    Gap,
    ChainBroken,
    ConsentMissing,
    ConsentFromOtherDevice,
    NotSessionDevice,
    TimesInvalid,
    NoFirstSegment,
    BeforeConsent,
    ConsentWithdrawn,
    RecipientSetUnknown,
    RecipientSetNotFromOwner,
    SealedFileMissing,
    /// Removed unsent on the device after the worker withdrew consent (a signed purge record says so).
    Purged,
    SealedHashMismatch,
    DecryptFailed,
    PlaintextHashMismatch,
    Mp4Invalid,
    FrameCountMismatch,
}

/// Verifies every segment under `dir` (a session directory or any
/// directory above sessions and records) with the owner's age identities
/// (`AGE-SECRET-KEY-1…`) and pinned Ed25519 key (64 hex digits). A failed
/// segment is a verdict in the report, not an error; errors are for
/// malformed keys (`InvalidKey`), an unreadable directory (`Storage`) and a
/// directory without segment records (`NothingToVerify`). Blocking (reads
/// and decrypts everything): call from a background thread.
#[uniffi::export]
pub fn verify_dataset(
    dir: String,
    identities: Vec<String>,
    owner_key_hex: String,
) -> Result<VerificationReport, EgocapError> {
    guarded(|| {
        let identities = identities.iter().map(|text| Identity::parse(text)).collect::<Result<Vec<_>, _>>()?;
        let options = VerifyOptions { identities, owner_key: PublicKey::from_hex(&owner_key_hex)? };
        Ok(core::verify_dataset(Path::new(&dir), &options)?.into())
    })
}

impl From<core::VerificationReport> for VerificationReport {
    fn from(report: core::VerificationReport) -> Self {
        Self {
            all_verified: report.is_ok(),
            sessions: report.sessions as u64,
            sessions_closed: report.sessions_closed as u64,
            problems: report.problems,
            segments: report.segments.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<core::SegmentVerdict> for SegmentVerdict {
    fn from(v: core::SegmentVerdict) -> Self {
        Self {
            name: v.name,
            sequence: v.sequence,
            frames: v.frames,
            duration_ns: v.duration_ns,
            failures: v.failures.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<core::SegmentFailure> for SegmentFailure {
    fn from(failure: core::SegmentFailure) -> Self {
        Self { kind: (&failure).into(), reason: failure.to_string() }
    }
}

impl From<&core::SegmentFailure> for SegmentFailureKind {
    fn from(failure: &core::SegmentFailure) -> Self {
        use core::SegmentFailure as F;
        match failure {
            F::RecordUnreadable(_) => Self::RecordUnreadable,
            F::BadSignature => Self::BadSignature,
            F::SignedByOtherKey { .. } => Self::SignedByOtherKey,
            F::DeviceNotRegistered(_) => Self::DeviceNotRegistered,
            F::ForeignSession { .. } => Self::ForeignSession,
            F::Reordered { .. } => Self::Reordered,
            F::Duplicate(_) => Self::Duplicate,
            F::Gap { .. } => Self::Gap,
            F::ChainBroken(_) => Self::ChainBroken,
            F::ConsentMissing(_) => Self::ConsentMissing,
            F::ConsentFromOtherDevice(_) => Self::ConsentFromOtherDevice,
            F::NotSessionDevice(_) => Self::NotSessionDevice,
            F::TimesInvalid(_) => Self::TimesInvalid,
            F::NoFirstSegment => Self::NoFirstSegment,
            F::BeforeConsent(_) => Self::BeforeConsent,
            F::ConsentWithdrawn { .. } => Self::ConsentWithdrawn,
            F::RecipientSetUnknown(_) => Self::RecipientSetUnknown,
            F::RecipientSetNotFromOwner(_) => Self::RecipientSetNotFromOwner,
            F::SealedFileMissing(_) => Self::SealedFileMissing,
            F::Purged(_) => Self::Purged,
            F::SealedHashMismatch => Self::SealedHashMismatch,
            F::DecryptFailed(_) => Self::DecryptFailed,
            F::PlaintextHashMismatch => Self::PlaintextHashMismatch,
            F::Mp4Invalid(_) => Self::Mp4Invalid,
            F::FrameCountMismatch { .. } => Self::FrameCountMismatch,
        }
    }
}
