//! Signed records: a JSON object whose `type` names the body, plus a
//! `signatures` list. Each signature is Ed25519 over
//! `"egocap-record-v1\n" || JCS(object without "signatures")`, where JCS is
//! RFC 8785 canonical JSON; the prefix keeps our signatures from meaning
//! anything in another protocol. A record's hash — what the next segment
//! record chains to, and what the upload journal names — is the SHA-256 of
//! the whole record's canonical bytes, signatures included; records are
//! stored as exactly those bytes.
//!
//! Signed fields hold no floating-point numbers, and every integer stays
//! within ±(2^53−1), so verifiers in JavaScript and Python read them
//! exactly; signing refuses anything else.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::consent::{ConsentRecord, ConsentWithdrawal, PurgeRecord};
use super::identity::{DeviceRegistration, KeyChange, RecipientSet};
use super::keystore::{KeyStore, PublicKey, SIGNATURE_LEN};
use super::segment_record::{SegmentRecord, SessionEnd};
use super::values::{decode_lower_hex, Sha256Digest};
use super::RecordError;
use crate::canonical_json::{canonicalize_str, to_canonical_bytes};

/// Prefix of every signed message (domain separation).
pub const SIGNING_CONTEXT: &[u8] = b"egocap-record-v1\n";
/// Version of the envelope and bodies below.
pub const RECORD_FORMAT_VERSION: u64 = 1;
/// The largest integer every JSON reader holds exactly (2^53 − 1).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// What a record says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RecordBody {
    DeviceRegistration(DeviceRegistration),
    KeyChange(KeyChange),
    RecipientSet(RecipientSet),
    Consent(Box<ConsentRecord>),
    ConsentWithdrawal(ConsentWithdrawal),
    Purge(PurgeRecord),
    Segment(Box<SegmentRecord>),
    SessionEnd(SessionEnd),
}

impl RecordBody {
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::DeviceRegistration(_) => "device_registration",
            Self::KeyChange(_) => "key_change",
            Self::RecipientSet(_) => "recipient_set",
            Self::Consent(_) => "consent",
            Self::ConsentWithdrawal(_) => "consent_withdrawal",
            Self::Purge(_) => "purge",
            Self::Segment(_) => "segment",
            Self::SessionEnd(_) => "session_end",
        }
    }
}

/// One signature in a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordSignature {
    pub public_key: PublicKey,
    /// 64 bytes as 128 hex digits.
    pub signature: String,
}

/// A record with its signatures and its canonical bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedRecord {
    body: RecordBody,
    signatures: Vec<RecordSignature>,
    canonical: Vec<u8>,
}

impl SignedRecord {
    /// Signs `body` with each of `signers`, in order.
    pub fn sign(body: RecordBody, signers: &[&dyn KeyStore]) -> Result<Self, RecordError> {
        let unsigned = unsigned_object(&body)?;
        check_numbers(&Value::Object(unsigned.clone()), "")?;
        let message = signing_message(&unsigned)?;
        let mut signatures = Vec::with_capacity(signers.len());
        for signer in signers {
            let public_key = signer.public_key()?;
            let signature = signer.sign(&message)?;
            // A host key store could return anything; check before we publish it.
            public_key.verify(&message, &signature).map_err(|_| RecordError::SignerMisbehaved)?;
            signatures.push(RecordSignature { public_key, signature: hex::encode(signature) });
        }
        let canonical = canonical_with_signatures(unsigned, &signatures)?;
        Ok(Self { body, signatures, canonical })
    }

    /// Reads a record and checks every signature on it. Which keys *should*
    /// have signed is the caller's question: see [`SignedRecord::signers`].
    ///
    /// Strict: the bytes must already be canonical (as we store them), so a
    /// record has exactly one byte form and one hash, and duplicate member
    /// names are refused (RFC 7493 §2.3).
    pub fn parse(bytes: &[u8]) -> Result<Self, RecordError> {
        let text = std::str::from_utf8(bytes).map_err(|_| RecordError::Malformed("not UTF-8".into()))?;
        if canonicalize_str(text)? != bytes {
            return Err(RecordError::NotCanonical);
        }
        let value: Value = serde_json::from_slice(bytes).map_err(|e| RecordError::Malformed(e.to_string()))?;
        let Value::Object(mut object) = value else {
            return Err(RecordError::Malformed("a record is a JSON object".into()));
        };
        let signatures_value = object.remove("signatures").ok_or(RecordError::Unsigned)?;
        let signatures: Vec<RecordSignature> =
            serde_json::from_value(signatures_value).map_err(|e| RecordError::Malformed(e.to_string()))?;
        if signatures.is_empty() {
            return Err(RecordError::Unsigned);
        }
        match object.get("format_version").and_then(Value::as_u64) {
            Some(RECORD_FORMAT_VERSION) => {}
            other => {
                return Err(RecordError::UnsupportedVersion(other.map_or_else(|| "none".into(), |v| v.to_string())))
            }
        }
        check_numbers(&Value::Object(object.clone()), "")?;
        let message = signing_message(&object)?;
        for signature in &signatures {
            let bytes: [u8; SIGNATURE_LEN] = decode_lower_hex(&signature.signature)
                .ok_or_else(|| RecordError::Malformed("a signature is 128 lowercase hex digits".into()))?;
            signature
                .public_key
                .verify(&message, &bytes)
                .map_err(|_| RecordError::BadSignature { key: signature.public_key })?;
        }
        let mut body_object = object.clone();
        body_object.remove("format_version");
        let body: RecordBody =
            serde_json::from_value(Value::Object(body_object)).map_err(|e| RecordError::Malformed(e.to_string()))?;
        let canonical = canonical_with_signatures(object, &signatures)?;
        Ok(Self { body, signatures, canonical })
    }

    pub fn body(&self) -> &RecordBody {
        &self.body
    }

    /// The keys whose signatures verified.
    pub fn signers(&self) -> impl Iterator<Item = PublicKey> + '_ {
        self.signatures.iter().map(|s| s.public_key)
    }

    pub fn is_signed_by(&self, key: &PublicKey) -> bool {
        self.signers().any(|k| k == *key)
    }

    /// The bytes to store and send: canonical JSON of the whole record.
    pub fn canonical_bytes(&self) -> &[u8] {
        &self.canonical
    }

    /// What the next record in a chain, and the upload journal, refer to.
    pub fn hash(&self) -> Sha256Digest {
        Sha256Digest::of(&self.canonical)
    }
}

fn unsigned_object(body: &RecordBody) -> Result<Map<String, Value>, RecordError> {
    let Value::Object(mut object) = serde_json::to_value(body).map_err(|e| RecordError::Malformed(e.to_string()))?
    else {
        return Err(RecordError::Malformed("a record body is a JSON object".into()));
    };
    object.insert("format_version".into(), Value::from(RECORD_FORMAT_VERSION));
    Ok(object)
}

fn signing_message(unsigned: &Map<String, Value>) -> Result<Vec<u8>, RecordError> {
    let canonical = to_canonical_bytes(&Value::Object(unsigned.clone()))?;
    let mut message = Vec::with_capacity(SIGNING_CONTEXT.len() + canonical.len());
    message.extend_from_slice(SIGNING_CONTEXT);
    message.extend_from_slice(&canonical);
    Ok(message)
}

fn canonical_with_signatures(
    mut object: Map<String, Value>,
    signatures: &[RecordSignature],
) -> Result<Vec<u8>, RecordError> {
    let list = serde_json::to_value(signatures).map_err(|e| RecordError::Malformed(e.to_string()))?;
    object.insert("signatures".into(), list);
    Ok(to_canonical_bytes(&Value::Object(object))?)
}

/// Refuses floats and integers a double cannot hold exactly.
fn check_numbers(value: &Value, path: &str) -> Result<(), RecordError> {
    match value {
        Value::Number(n) => {
            let safe = n
                .as_u64()
                .map(|v| v <= MAX_SAFE_INTEGER)
                .or_else(|| n.as_i64().map(|v| v.unsigned_abs() <= MAX_SAFE_INTEGER));
            match safe {
                Some(true) => Ok(()),
                Some(false) => Err(RecordError::UnsafeNumber { field: path.to_owned(), reason: "beyond ±(2^53−1)" }),
                None => Err(RecordError::UnsafeNumber { field: path.to_owned(), reason: "floating point" }),
            }
        }
        Value::Array(items) => {
            items.iter().enumerate().try_for_each(|(i, item)| check_numbers(item, &format!("{path}[{i}]")))
        }
        Value::Object(map) => map.iter().try_for_each(|(k, v)| check_numbers(v, &format!("{path}.{k}"))),
        Value::Null | Value::Bool(_) | Value::String(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provenance::consent::{
        ActiveConsent, ConsentRecord, ConsentTerms, ConsentWithdrawal, Controller, Notice,
    };
    use crate::provenance::identity::KeyChange;
    use crate::provenance::keystore::FileKeyStore;
    use crate::provenance::values::UtcInstant;

    fn consent(key: &FileKeyStore) -> SignedRecord {
        let terms = ConsentTerms::egocentric_video(
            Controller { name: "Dataset Ltd".into(), contact: "https://example.org".into() },
            "DE",
            Notice::of_text("Du filmst dich beim Abwaschen.", "de"),
            "worker-ä-😀",
        );
        ConsentRecord::give(key, terms, UtcInstant(1_763_911_449_123_456_789)).unwrap()
    }

    /// Writes a JSON object's members in reverse order, recursively.
    fn reversed(value: &Value) -> String {
        match value {
            Value::Object(map) => {
                let members: Vec<String> =
                    map.iter().rev().map(|(k, v)| format!("{}: {}", Value::from(k.as_str()), reversed(v))).collect();
                format!("{{ {} }}", members.join(", "))
            }
            Value::Array(items) => format!("[{}]", items.iter().map(reversed).collect::<Vec<_>>().join(", ")),
            other => other.to_string(),
        }
    }

    #[test]
    fn key_order_and_whitespace_in_the_input_change_neither_signature_nor_hash() {
        let key = FileKeyStore::ephemeral().unwrap();
        let record = consent(&key);
        let value: Value = serde_json::from_slice(record.canonical_bytes()).unwrap();
        let shuffled = reversed(&value);
        assert_ne!(shuffled.as_bytes(), record.canonical_bytes());
        // Stored records must be canonical; any other byte form is refused...
        assert!(matches!(SignedRecord::parse(shuffled.as_bytes()), Err(RecordError::NotCanonical)));
        // ...and canonicalising it gives back the signed bytes.
        let canonical = canonicalize_str(&shuffled).unwrap();
        let parsed = SignedRecord::parse(&canonical).unwrap();
        assert_eq!(parsed.hash(), record.hash());
        assert_eq!(parsed.canonical_bytes(), record.canonical_bytes());
        assert_eq!(parsed.body(), record.body());
    }

    #[test]
    fn records_round_trip_and_changed_content_fails_its_signature() {
        let key = FileKeyStore::ephemeral().unwrap();
        let record = consent(&key);
        assert!(record.is_signed_by(&key.public_key().unwrap()));
        let text = String::from_utf8(record.canonical_bytes().to_vec()).unwrap();
        let changed = text.replace("\"DE\"", "\"FR\"");
        assert!(matches!(SignedRecord::parse(changed.as_bytes()), Err(RecordError::BadSignature { .. })));
        let unsigned = text.replace("\"signatures\"", "\"signatureZ\"");
        assert!(matches!(SignedRecord::parse(unsigned.as_bytes()), Err(RecordError::Unsigned)));
    }

    #[test]
    fn floats_and_integers_beyond_2_pow_53_are_refused_when_signing_and_reading() {
        let key = FileKeyStore::ephemeral().unwrap();
        let mut object = unsigned_object(consent(&key).body()).unwrap();
        object.insert("x".into(), Value::from(1.5));
        assert!(matches!(check_numbers(&Value::Object(object.clone()), ""), Err(RecordError::UnsafeNumber { .. })));
        object.insert("x".into(), Value::from(MAX_SAFE_INTEGER + 1));
        assert!(matches!(check_numbers(&Value::Object(object.clone()), ""), Err(RecordError::UnsafeNumber { .. })));
        object.insert("x".into(), Value::from(-(MAX_SAFE_INTEGER as i64)));
        assert!(check_numbers(&Value::Object(object), "").is_ok());
    }

    #[test]
    fn a_key_change_carries_both_signatures() {
        let (old, new) = (FileKeyStore::ephemeral().unwrap(), FileKeyStore::ephemeral().unwrap());
        let record = KeyChange::sign(&old, &new, UtcInstant(1)).unwrap();
        let parsed = SignedRecord::parse(record.canonical_bytes()).unwrap();
        assert!(parsed.is_signed_by(&old.public_key().unwrap()));
        assert!(parsed.is_signed_by(&new.public_key().unwrap()));
    }

    #[test]
    fn recording_needs_an_unwithdrawn_consent_from_this_device() {
        let device = FileKeyStore::ephemeral().unwrap();
        let other = FileKeyStore::ephemeral().unwrap();
        let given = consent(&device);
        let device_key = device.public_key().unwrap();
        assert!(ActiveConsent::check(&given, &[], &device_key).is_ok());
        assert!(matches!(
            ActiveConsent::check(&given, &[], &other.public_key().unwrap()),
            Err(RecordError::ConsentFromOtherDevice { .. })
        ));
        let RecordBody::Consent(body) = given.body() else { panic!() };
        let withdrawal = ConsentWithdrawal::sign(&device, &body.consent_id, UtcInstant(2)).unwrap();
        assert!(matches!(
            ActiveConsent::check(&given, &[withdrawal], &device_key),
            Err(RecordError::ConsentWithdrawn { .. })
        ));
        // A withdrawal signed by another device does not count.
        let foreign = ConsentWithdrawal::sign(&other, &body.consent_id, UtcInstant(2)).unwrap();
        assert!(ActiveConsent::check(&given, &[foreign], &device_key).is_ok());
        let not_consent = KeyChange::sign(&device, &other, UtcInstant(3)).unwrap();
        assert!(matches!(ActiveConsent::check(&not_consent, &[], &device_key), Err(RecordError::WrongType { .. })));
    }

    #[test]
    fn worker_ids_that_look_like_contact_details_are_refused() {
        let key = FileKeyStore::ephemeral().unwrap();
        for id in ["ana@example.org", "+49 170 1234567", " "] {
            let terms = ConsentTerms::egocentric_video(
                Controller { name: "D".into(), contact: "c".into() },
                "DE",
                Notice::of_text("n", "en"),
                id,
            );
            assert!(
                matches!(ConsentRecord::give(&key, terms, UtcInstant(0)), Err(RecordError::NotPseudonymous)),
                "{id}"
            );
        }
    }

    #[test]
    fn every_truncation_of_a_record_is_an_error() {
        let key = FileKeyStore::ephemeral().unwrap();
        let bytes = consent(&key).canonical_bytes().to_vec();
        for end in 0..bytes.len() {
            assert!(SignedRecord::parse(&bytes[..end]).is_err(), "prefix of {end} bytes parsed");
        }
        assert!(SignedRecord::parse(&bytes).is_ok());
    }

    proptest::proptest! {
        #[test]
        fn garbage_never_panics_the_record_parser(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = SignedRecord::parse(&bytes);
        }

        #[test]
        fn json_shaped_garbage_is_refused_not_panicked_on(
            members in proptest::collection::btree_map("[a-z_]{1,12}", proptest::prelude::any::<i64>(), 0..12)
        ) {
            let value = Value::Object(members.into_iter().map(|(k, v)| (k, Value::from(v))).collect());
            let canonical = to_canonical_bytes(&value).unwrap();
            proptest::prop_assert!(SignedRecord::parse(&canonical).is_err());
        }
    }
}
