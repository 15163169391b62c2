//! Who signs and who may read: the device's registration, a change of
//! device key, and the dataset owner's recipient set.

use serde::{Deserialize, Serialize};

use super::keystore::{KeyStore, PublicKey};
use super::record::{RecordBody, SignedRecord};
use super::values::UtcInstant;
use super::RecordError;
use crate::age::Recipient;

/// Announces a device key. Self-signed; `attestation` carries the host's
/// platform proof (Android Key Attestation chain / iOS App Attest object)
/// as opaque bytes, base64 — verifying it is the dataset owner's business.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceRegistration {
    pub device_key: PublicKey,
    /// "android", "ios", "desktop" — what the host says it is; no serials.
    pub platform: String,
    pub attestation: Option<String>,
    pub registered_at: UtcInstant,
}

/// Moves a device to a new key; signed by both the old and the new key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyChange {
    pub old_key: PublicKey,
    pub new_key: PublicKey,
    pub changed_at: UtcInstant,
}

/// The age recipients footage is sealed to, versioned and signed by the
/// dataset owner's pinned key, so a tampered app configuration cannot
/// redirect footage to someone else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipientSet {
    pub version: u64,
    /// `age1…` X25519 recipients.
    pub recipients: Vec<String>,
    pub owner_key: PublicKey,
    pub issued_at: UtcInstant,
}

impl DeviceRegistration {
    pub fn sign(
        keystore: &dyn KeyStore,
        platform: &str,
        attestation: Option<&[u8]>,
        at: UtcInstant,
    ) -> Result<SignedRecord, RecordError> {
        use base64::Engine;
        let body = Self {
            device_key: keystore.public_key()?,
            platform: platform.to_owned(),
            attestation: attestation.map(|a| base64::engine::general_purpose::STANDARD.encode(a)),
            registered_at: at,
        };
        SignedRecord::sign(RecordBody::DeviceRegistration(body), &[keystore])
    }
}

impl KeyChange {
    pub fn sign(old: &dyn KeyStore, new: &dyn KeyStore, at: UtcInstant) -> Result<SignedRecord, RecordError> {
        let body = Self { old_key: old.public_key()?, new_key: new.public_key()?, changed_at: at };
        SignedRecord::sign(RecordBody::KeyChange(body), &[old, new])
    }
}

impl RecipientSet {
    /// The owner signs a set of recipients as `version`.
    pub fn sign(
        owner: &dyn KeyStore,
        version: u64,
        recipients: &[Recipient],
        at: UtcInstant,
    ) -> Result<SignedRecord, RecordError> {
        if recipients.is_empty() {
            return Err(RecordError::NoRecipients);
        }
        let body = Self {
            version,
            recipients: recipients.iter().map(ToString::to_string).collect(),
            owner_key: owner.public_key()?,
            issued_at: at,
        };
        SignedRecord::sign(RecordBody::RecipientSet(body), &[owner])
    }
}

/// A recipient set checked against the owner's pinned key.
#[derive(Debug, Clone)]
pub struct TrustedRecipientSet {
    version: u64,
    recipients: Vec<Recipient>,
    record: SignedRecord,
}

impl TrustedRecipientSet {
    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn recipients(&self) -> &[Recipient] {
        &self.recipients
    }

    pub fn record(&self) -> &SignedRecord {
        &self.record
    }

    /// Accepts `record` only if it is a recipient set signed by `owner_key`.
    pub fn check(record: &SignedRecord, owner_key: &PublicKey) -> Result<Self, RecordError> {
        let RecordBody::RecipientSet(set) = record.body() else {
            return Err(RecordError::WrongType { expected: "recipient_set", found: record.body().type_name() });
        };
        if set.owner_key != *owner_key || !record.is_signed_by(owner_key) {
            return Err(RecordError::RecipientSetNotFromOwner { version: set.version });
        }
        let recipients = set
            .recipients
            .iter()
            .map(|r| Recipient::parse(r).map_err(|_| RecordError::Malformed(format!("recipient {r:?}"))))
            .collect::<Result<Vec<_>, _>>()?;
        if recipients.is_empty() {
            return Err(RecordError::NoRecipients);
        }
        Ok(Self { version: set.version, recipients, record: record.clone() })
    }
}
