//! What a sealed recording needs, as the app holds it: the device key, and
//! records as JSON text. Turned into the core's `SealingSetup` the way the
//! CLI loads its key directory (`cli/src/keys.rs::load_sealing_keys`): each
//! record parsed and its signatures checked, the recipient set checked
//! against the owner's pinned key, the consent against this device's key
//! and the withdrawals.

use std::sync::Arc;

use egocap_core::clock::ClockDomain;
use egocap_core::provenance::consent::ActiveConsent;
use egocap_core::provenance::identity::TrustedRecipientSet;
use egocap_core::provenance::keystore::{KeyStore as _, PublicKey};
use egocap_core::provenance::record::SignedRecord;
use egocap_core::sealer::SealingSetup;

use crate::error::{EgocapError, RecordRole};
use crate::keystore::{HostKeyStore, KeyStore};

/// How `RecordingSession.start` seals every segment (age encryption to the
/// owner's recipients, a signed record per segment chained to the last).
#[derive(Clone, uniffi::Record)]
pub struct SealingConfig {
    /// The device key that signs the segment records.
    pub keystore: Arc<dyn KeyStore>,
    /// From `registerDevice` with the same key store.
    pub device_registration_json: String,
    /// The dataset owner's signed recipient set (from the owner's configuration).
    pub recipient_set_json: String,
    /// The owner's Ed25519 key the app pins (64 hex digits); the recipient
    /// set must be signed by it.
    pub owner_key_hex: String,
    /// From `giveConsent` on this device (`ConsentReceipt.recordJson`).
    pub consent_json: String,
    /// Every withdrawal this device signed (`withdrawConsent`); a consent
    /// among them does not start a recording.
    pub withdrawals_json: Vec<String>,
}

impl SealingConfig {
    /// Checks everything; `clock_domain` is the session's frame clock.
    pub(crate) fn into_setup(self, clock_domain: ClockDomain) -> Result<SealingSetup, EgocapError> {
        let keystore = HostKeyStore(self.keystore);
        let device_key = keystore.public_key()?;
        let owner_key = PublicKey::from_hex(&self.owner_key_hex)?;
        let device_registration = parse(&self.device_registration_json, RecordRole::Other)?;
        let recipients =
            TrustedRecipientSet::check(&parse(&self.recipient_set_json, RecordRole::RecipientSet)?, &owner_key)
                .map_err(|e| EgocapError::from_record(RecordRole::RecipientSet, e))?;
        let withdrawals =
            self.withdrawals_json.iter().map(|json| parse(json, RecordRole::Other)).collect::<Result<Vec<_>, _>>()?;
        let consent = ActiveConsent::check(&parse(&self.consent_json, RecordRole::Consent)?, &withdrawals, &device_key)
            .map_err(|e| EgocapError::from_record(RecordRole::Consent, e))?;
        Ok(SealingSetup { keystore: Arc::new(keystore), device_registration, recipients, consent, clock_domain })
    }
}

fn parse(json: &str, role: RecordRole) -> Result<SignedRecord, EgocapError> {
    SignedRecord::parse(json.as_bytes()).map_err(|e| EgocapError::from_record(role, e))
}
