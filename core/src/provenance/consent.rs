//! Consent records, shaped after ISO/IEC TS 27560 consent records with
//! W3C DPV terms (`dpv:` purposes, processing and technical measures), and
//! their withdrawal. The worker appears only by a pseudonymous id: no
//! names, e-mail addresses or phone numbers in any record.

use serde::{Deserialize, Serialize};

use super::keystore::{KeyStore, PublicKey};
use super::record::{RecordBody, SignedRecord};
use super::values::{Sha256Digest, UtcInstant};
use super::RecordError;

/// What the worker agrees to: everything in the record except who signed
/// it and when. The app fills it from the dataset owner's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentTerms {
    /// The dataset owner (an organisation).
    pub controller: Controller,
    /// DPV purposes, e.g. `dpv:ResearchAndDevelopment`.
    pub purposes: Vec<String>,
    /// Data categories, e.g. `egocap:EgocentricVideo`, `egocap:InertialMeasurements`.
    pub data_categories: Vec<String>,
    pub processing: Processing,
    /// Where the consent is given, ISO 3166 (`DE`, `US-CA`, `IN`).
    pub jurisdiction: String,
    /// The notice text the worker was shown.
    pub notice: Notice,
    /// The worker's pseudonymous id in the owner's system.
    pub worker_pseudonym: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Controller {
    pub name: String,
    /// A URL or address for data-protection requests.
    pub contact: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Processing {
    /// DPV processing operations, e.g. `dpv:Record`, `dpv:Store`, `dpv:Transfer`.
    pub operations: Vec<String>,
    /// Technical measures, e.g. `egocap:OnDeviceFaceBlurring`, `dpv:Encryption`.
    pub technical_measures: Vec<String>,
    pub retention_days: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notice {
    pub sha256: Sha256Digest,
    /// BCP 47 language tag of the text shown.
    pub language: String,
}

/// A worker's consent, signed by the device it was given on. (serde cannot
/// deny unknown fields beside `flatten`; the signature covers them anyway.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    /// 128 random bits, hex.
    pub consent_id: String,
    #[serde(flatten)]
    pub terms: ConsentTerms,
    pub given_at: UtcInstant,
    pub device_key: PublicKey,
}

/// Withdraws a consent from `withdrawn_at` on; signed by the same device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentWithdrawal {
    pub consent_id: String,
    pub withdrawn_at: UtcInstant,
    pub device_key: PublicKey,
}

/// What a consent withdrawal removed from the device before it was sent:
/// the unsent files recorded under that consent. Signed by the device and
/// uploaded like the withdrawal, so the dataset learns why they never came.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurgeRecord {
    pub consent_id: String,
    /// The withdrawal record that ordered the purge.
    pub withdrawal_sha256: Sha256Digest,
    pub purged: Vec<PurgedFile>,
    pub purged_at: UtcInstant,
    pub device_key: PublicKey,
}

/// One removed file, by its name in the dataset (`<session>/<file>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurgedFile {
    pub name: String,
    pub sha256: Sha256Digest,
    pub bytes: u64,
}

impl PurgeRecord {
    /// Signs the purge that `withdrawal` (a consent withdrawal record) ordered.
    pub fn sign(
        keystore: &dyn KeyStore,
        withdrawal: &SignedRecord,
        purged: Vec<PurgedFile>,
        at: UtcInstant,
    ) -> Result<SignedRecord, RecordError> {
        let RecordBody::ConsentWithdrawal(w) = withdrawal.body() else {
            return Err(RecordError::Malformed(format!(
                "a purge follows a withdrawal, not a {}",
                withdrawal.body().type_name()
            )));
        };
        let body = Self {
            consent_id: w.consent_id.clone(),
            withdrawal_sha256: withdrawal.hash(),
            purged,
            purged_at: at,
            device_key: keystore.public_key()?,
        };
        SignedRecord::sign(RecordBody::Purge(body), &[keystore])
    }
}

impl ConsentTerms {
    /// The defaults for egocentric chores footage; the app sets the
    /// controller, jurisdiction, notice and worker.
    pub fn egocentric_video(
        controller: Controller,
        jurisdiction: &str,
        notice: Notice,
        worker_pseudonym: &str,
    ) -> Self {
        Self {
            controller,
            purposes: vec!["dpv:ResearchAndDevelopment".into(), "dpv:DevelopNewProducts".into()],
            data_categories: vec!["egocap:EgocentricVideo".into(), "egocap:InertialMeasurements".into()],
            processing: Processing {
                operations: vec!["dpv:Record".into(), "dpv:Store".into(), "dpv:Transfer".into()],
                technical_measures: vec!["egocap:OnDeviceFaceBlurring".into(), "dpv:Encryption".into()],
                retention_days: 365,
            },
            jurisdiction: jurisdiction.to_owned(),
            notice,
            worker_pseudonym: worker_pseudonym.to_owned(),
        }
    }
}

impl Notice {
    pub fn of_text(text: &str, language: &str) -> Self {
        Self { sha256: Sha256Digest::of(text.as_bytes()), language: language.to_owned() }
    }
}

impl ConsentRecord {
    /// Records consent given now on this device.
    pub fn give(keystore: &dyn KeyStore, terms: ConsentTerms, at: UtcInstant) -> Result<SignedRecord, RecordError> {
        check_pseudonym(&terms.worker_pseudonym)?;
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|_| RecordError::Random)?;
        let body = Self { consent_id: hex::encode(id), terms, given_at: at, device_key: keystore.public_key()? };
        SignedRecord::sign(RecordBody::Consent(Box::new(body)), &[keystore])
    }
}

impl ConsentWithdrawal {
    pub fn sign(keystore: &dyn KeyStore, consent_id: &str, at: UtcInstant) -> Result<SignedRecord, RecordError> {
        let body = Self { consent_id: consent_id.to_owned(), withdrawn_at: at, device_key: keystore.public_key()? };
        SignedRecord::sign(RecordBody::ConsentWithdrawal(body), &[keystore])
    }
}

/// A consent that is valid for recording on this device now.
#[derive(Debug, Clone)]
pub struct ActiveConsent {
    consent_id: String,
    record: SignedRecord,
}

impl ActiveConsent {
    pub fn consent_id(&self) -> &str {
        &self.consent_id
    }

    pub fn record(&self) -> &SignedRecord {
        &self.record
    }

    /// Checks that `consent` is a consent signed by `device_key` and that
    /// none of `withdrawals` (signed by the same device) withdraws it.
    pub fn check(
        consent: &SignedRecord,
        withdrawals: &[SignedRecord],
        device_key: &PublicKey,
    ) -> Result<Self, RecordError> {
        let RecordBody::Consent(body) = consent.body() else {
            return Err(RecordError::WrongType { expected: "consent", found: consent.body().type_name() });
        };
        if !is_consent_id(&body.consent_id) {
            return Err(RecordError::Malformed("a consent id is 32 lowercase hex digits".into()));
        }
        if body.device_key != *device_key || !consent.is_signed_by(device_key) {
            return Err(RecordError::ConsentFromOtherDevice { consent_id: body.consent_id.clone() });
        }
        let withdrawn = withdrawals.iter().find_map(|w| match w.body() {
            RecordBody::ConsentWithdrawal(wb)
                if wb.consent_id == body.consent_id
                    && w.is_signed_by(&wb.device_key)
                    && wb.device_key == *device_key =>
            {
                Some(wb.withdrawn_at)
            }
            _ => None,
        });
        if let Some(at) = withdrawn {
            return Err(RecordError::ConsentWithdrawn { consent_id: body.consent_id.clone(), at: at.to_rfc3339() });
        }
        Ok(Self { consent_id: body.consent_id.clone(), record: consent.clone() })
    }
}

/// Consent ids are 128 random bits as 32 lowercase hex digits; they end up
/// in file names, so nothing else is accepted.
pub fn is_consent_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A pseudonym must not be an e-mail address or a phone number.
fn check_pseudonym(pseudonym: &str) -> Result<(), RecordError> {
    let digits = pseudonym.chars().filter(char::is_ascii_digit).count();
    let phone_like = digits >= 7 && pseudonym.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if pseudonym.trim().is_empty() || pseudonym.contains('@') || phone_like {
        return Err(RecordError::NotPseudonymous);
    }
    Ok(())
}
