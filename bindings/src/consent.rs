//! The worker's consent and its withdrawal, signed by the device key. The
//! terms mirror `egocap_core::provenance::consent::ConsentTerms` (ISO/IEC
//! TS 27560 with W3C DPV terms), except that the app hands over the notice
//! text it showed and the record keeps its SHA-256.

use std::sync::Arc;

use egocap_core::provenance::consent::{self as core, ConsentRecord, ConsentWithdrawal, Controller, Processing};
use egocap_core::provenance::record::RecordBody;

use crate::error::{guarded, EgocapError};
use crate::identity::{now, record_json};
use crate::keystore::{HostKeyStore, KeyStore};

/// The dataset owner (an organisation).
#[uniffi::remote(Record)]
pub struct Controller {
    pub name: String,
    /// A URL or address for data-protection requests.
    pub contact: String,
}

#[uniffi::remote(Record)]
pub struct Processing {
    /// DPV processing operations, e.g. `dpv:Record`, `dpv:Store`, `dpv:Transfer`.
    pub operations: Vec<String>,
    /// Technical measures, e.g. `egocap:OnDeviceFaceBlurring`, `dpv:Encryption`.
    pub technical_measures: Vec<String>,
    pub retention_days: u32,
}

/// What the worker agrees to; start from [`egocentric_video_consent_terms`].
#[derive(Debug, Clone, uniffi::Record)]
pub struct ConsentTerms {
    pub controller: Controller,
    /// DPV purposes, e.g. `dpv:ResearchAndDevelopment`.
    pub purposes: Vec<String>,
    /// e.g. `egocap:EgocentricVideo`, `egocap:InertialMeasurements`.
    pub data_categories: Vec<String>,
    pub processing: Processing,
    /// Where consent is given, ISO 3166 (`DE`, `US-CA`, `IN`).
    pub jurisdiction: String,
    /// The notice the worker was shown, exactly; the record holds its SHA-256.
    pub notice_text: String,
    /// BCP 47 language tag of the notice (`en`, `de-DE`).
    pub notice_language: String,
    /// The worker's pseudonymous id in the owner's system: never a name,
    /// e-mail address or phone number (refused as `ConsentInvalid`).
    pub worker_pseudonym: String,
}

/// A consent as given: its id (withdrawals name it) and the signed record.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ConsentReceipt {
    pub consent_id: String,
    /// For `SealingConfig.consentJson` and the upload.
    pub record_json: String,
}

/// The defaults for egocentric chores footage (purposes, data categories,
/// processing, 365 days' retention); the app fills in the rest.
#[uniffi::export]
pub fn egocentric_video_consent_terms(
    controller: Controller,
    jurisdiction: String,
    notice_text: String,
    notice_language: String,
    worker_pseudonym: String,
) -> ConsentTerms {
    let notice = core::Notice::of_text(&notice_text, &notice_language);
    let terms = core::ConsentTerms::egocentric_video(controller, &jurisdiction, notice, &worker_pseudonym);
    ConsentTerms {
        controller: terms.controller,
        purposes: terms.purposes,
        data_categories: terms.data_categories,
        processing: terms.processing,
        jurisdiction: terms.jurisdiction,
        notice_text,
        notice_language: terms.notice.language,
        worker_pseudonym: terms.worker_pseudonym,
    }
}

/// Records the worker's consent, given now on this device.
#[uniffi::export]
pub fn give_consent(keystore: Arc<dyn KeyStore>, terms: ConsentTerms) -> Result<ConsentReceipt, EgocapError> {
    guarded(|| {
        let record = ConsentRecord::give(&HostKeyStore(keystore), terms.into(), now())?;
        let RecordBody::Consent(body) = record.body() else {
            return Err(EgocapError::InvalidRecord { reason: "a consent was signed as another record type".into() });
        };
        Ok(ConsentReceipt { consent_id: body.consent_id.clone(), record_json: record_json(&record)? })
    })
}

/// Withdraws consent `consent_id` from now on; signed by the device that
/// recorded it. Pass the record to `SealingConfig.withdrawalsJson` from then
/// on, and upload it: the dataset owner purges what it covers.
#[uniffi::export]
pub fn withdraw_consent(keystore: Arc<dyn KeyStore>, consent_id: String) -> Result<String, EgocapError> {
    guarded(|| record_json(&ConsentWithdrawal::sign(&HostKeyStore(keystore), &consent_id, now())?))
}

impl From<ConsentTerms> for core::ConsentTerms {
    fn from(t: ConsentTerms) -> Self {
        Self {
            controller: t.controller,
            purposes: t.purposes,
            data_categories: t.data_categories,
            processing: t.processing,
            jurisdiction: t.jurisdiction,
            notice: core::Notice::of_text(&t.notice_text, &t.notice_language),
            worker_pseudonym: t.worker_pseudonym,
        }
    }
}
