//! Identity records as JSON text: the device's registration, a change of
//! device key, and the dataset owner's recipient set; and the owner's age
//! identity for tools and tests. A record crosses as its canonical bytes
//! (RFC 8785) as UTF-8: the exact bytes to store and upload, and what
//! `RecordingSession.start` takes back.

use std::sync::Arc;

use egocap_core::age::{Identity, Recipient};
use egocap_core::clock::{Clock, SystemClock};
use egocap_core::provenance::identity::{DeviceRegistration, KeyChange, RecipientSet};
use egocap_core::provenance::record::SignedRecord;
use egocap_core::provenance::values::UtcInstant;

use crate::error::{guarded, EgocapError};
use crate::keystore::{HostKeyStore, KeyStore};

/// An age X25519 key pair of the dataset owner.
#[derive(Debug, Clone, uniffi::Record)]
pub struct AgeIdentity {
    /// `age1…`: what footage is sealed to; goes into a recipient set.
    pub recipient: String,
    /// `AGE-SECRET-KEY-1…`: decrypts footage; give it to `verifyDataset`
    /// or the `age` tool. A secret: never log it, never ship it in an app.
    pub secret_key: String,
}

/// Signs this device's registration (its public key, the platform name,
/// e.g. "android", and the platform's attestation of the key, if any, as
/// opaque bytes). Upload it before the first segment; a sealed session also
/// keeps a copy. The host stores it for `SealingConfig.deviceRegistrationJson`.
#[uniffi::export]
pub fn register_device(
    keystore: Arc<dyn KeyStore>,
    platform: String,
    attestation: Option<Vec<u8>>,
) -> Result<String, EgocapError> {
    guarded(|| {
        let record = DeviceRegistration::sign(&HostKeyStore(keystore), &platform, attestation.as_deref(), now())?;
        record_json(&record)
    })
}

/// Signs a move of this device from `old` to `new` (both sign): after a key
/// was rotated, the dataset owner still attributes earlier footage.
#[uniffi::export]
pub fn change_device_key(old: Arc<dyn KeyStore>, new: Arc<dyn KeyStore>) -> Result<String, EgocapError> {
    guarded(|| record_json(&KeyChange::sign(&HostKeyStore(old), &HostKeyStore(new), now())?))
}

/// Owner side (tools and tests; an app receives the signed set from the
/// owner's configuration): signs `recipients` (`age1…`) as the set
/// `version` with the owner's key.
#[uniffi::export]
pub fn sign_recipient_set(
    owner_keystore: Arc<dyn KeyStore>,
    version: u64,
    recipients: Vec<String>,
) -> Result<String, EgocapError> {
    guarded(|| {
        let recipients = recipients.iter().map(|r| Recipient::parse(r)).collect::<Result<Vec<_>, _>>()?;
        record_json(&RecipientSet::sign(&HostKeyStore(owner_keystore), version, &recipients, now())?)
    })
}

/// Owner side (tools and tests; apps never need it: they only seal to
/// recipients): a fresh age identity from the system's CSPRNG.
#[uniffi::export]
pub fn generate_age_identity() -> Result<AgeIdentity, EgocapError> {
    guarded(|| {
        let identity = Identity::generate()?;
        Ok(AgeIdentity {
            recipient: identity.recipient().to_string(),
            secret_key: identity.to_secret_string().as_str().to_owned(),
        })
    })
}

/// A record as it crosses: its canonical bytes, which are UTF-8 JSON.
pub(crate) fn record_json(record: &SignedRecord) -> Result<String, EgocapError> {
    String::from_utf8(record.canonical_bytes().to_vec())
        .map_err(|_| EgocapError::InvalidRecord { reason: "canonical JSON is not UTF-8".into() })
}

/// What "now" is in a record signed on this device.
pub(crate) fn now() -> UtcInstant {
    UtcInstant(SystemClock.utc_unix_ns())
}
