//! Provenance: the device's signing key, signed records (device
//! registration, key change, recipient set, consent, withdrawal, segment),
//! and the values they carry.

pub mod consent;
pub mod identity;
pub mod keystore;
pub mod record;
pub mod segment_record;
pub mod values;

use thiserror::Error;

use crate::canonical_json::CanonicalJsonError;
use keystore::{KeyStoreError, PublicKey};

#[derive(Debug, Error)]
pub enum RecordError {
    #[error("the record is not valid: {0}")]
    Malformed(String),
    #[error("the record is not in canonical form (RFC 8785)")]
    NotCanonical,
    #[error("the record has no signature")]
    Unsigned,
    #[error("unsupported record format version {0}")]
    UnsupportedVersion(String),
    #[error("a signature by {key} does not verify")]
    BadSignature { key: PublicKey },
    #[error("field {field} holds a number verifiers cannot read exactly ({reason})")]
    UnsafeNumber { field: String, reason: &'static str },
    #[error("expected a {expected} record, found {found}")]
    WrongType { expected: &'static str, found: &'static str },
    #[error("recipient set version {version} is not signed by the dataset owner's pinned key")]
    RecipientSetNotFromOwner { version: u64 },
    #[error("a recipient set needs at least one recipient")]
    NoRecipients,
    #[error("consent {consent_id} was given on another device")]
    ConsentFromOtherDevice { consent_id: String },
    #[error("consent {consent_id} was withdrawn at {at}")]
    ConsentWithdrawn { consent_id: String, at: String },
    #[error("the worker id must be a pseudonym, not a name, e-mail address or phone number")]
    NotPseudonymous,
    #[error("the key store returned a signature that does not verify")]
    SignerMisbehaved,
    #[error("the system random generator failed")]
    Random,
    #[error(transparent)]
    KeyStore(#[from] KeyStoreError),
    #[error(transparent)]
    Canonical(#[from] CanonicalJsonError),
}
