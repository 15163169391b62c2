//! The checks on one session directory's segments.

use std::collections::BTreeMap;
use std::fs;

use super::index::{RecordIndex, SessionFiles};
use super::{SegmentFailure, SegmentVerdict, VerifyOptions};
use crate::age;
use crate::mp4::inspect::inspect;
use crate::provenance::keystore::PublicKey;
use crate::provenance::record::{RecordBody, SignedRecord};
use crate::provenance::segment_record::{SegmentRecord, SessionEnd};
use crate::provenance::values::Sha256Digest;
use crate::provenance::RecordError;

pub(super) fn verify_session(
    session: &SessionFiles,
    index: &RecordIndex,
    options: &VerifyOptions,
) -> Vec<SegmentVerdict> {
    // Sequence → hash of each readable record, for the chain; and the
    // session's first segment, whose consent and device every later
    // segment must share (the chain protects the first from replacement).
    let mut by_sequence: BTreeMap<u64, Vec<Sha256Digest>> = BTreeMap::new();
    let mut anchors: Vec<&SegmentRecord> = Vec::new();
    for (stem, parsed) in &session.records {
        if let Ok(record) = parsed {
            if let RecordBody::Segment(body) = record.body() {
                by_sequence.entry(body.sequence).or_default().push(record.hash());
                if stem == "seg-000000" && body.sequence == 0 && body.session_id == session.name {
                    anchors.push(body);
                }
            }
        }
    }
    // Exactly one first segment, where it belongs, of this session.
    let anchor = match anchors.as_slice() {
        [only] => Some(*only),
        _ => None,
    };
    session
        .records
        .iter()
        .map(|(stem, parsed)| {
            let name = format!("{}/{stem}", session.name);
            match parsed {
                Err(e) => unreadable(name, e),
                Ok(record) => {
                    let context = SessionContext { session, by_sequence: &by_sequence, anchor, index, options };
                    verify_segment(name, stem, record, &context)
                }
            }
        })
        .collect()
}

/// Whether the session's signed end record is there and matches its chain;
/// a mismatch (segments missing at the end, or a foreign end record) is an
/// error message.
pub(super) fn check_session_end(session: &SessionFiles, index: &RecordIndex) -> Result<bool, String> {
    let Some(end) = index.session_ends.get(&session.name) else { return Ok(false) };
    let mut present: BTreeMap<u64, (Sha256Digest, PublicKey)> = BTreeMap::new();
    for (_, parsed) in &session.records {
        if let Ok(record) = parsed {
            if let RecordBody::Segment(body) = record.body() {
                present.insert(body.sequence, (record.hash(), body.device_key));
            }
        }
    }
    check_end_against(&session.name, end, &present, index)?;
    Ok(true)
}

/// `present`: sequence → (record hash, device key) of the records found.
pub(super) fn check_end_against(
    name: &str,
    end: &SessionEnd,
    present: &BTreeMap<u64, (Sha256Digest, PublicKey)>,
    index: &RecordIndex,
) -> Result<(), String> {
    if let Some((_, (_, first_device))) = present.first_key_value() {
        if !index.keys_of_device(first_device).contains(&end.device_key) {
            return Err(format!("session {name}: its end record is signed by another device"));
        }
    }
    let failed = if end.failed { " (the recording failed)" } else { "" };
    match end.last_sequence {
        None if present.is_empty() => Ok(()),
        None => Err(format!("session {name}: its end record says no segment was written{failed}")),
        Some(last) if present.range(last + 1..).next().is_some() => {
            Err(format!("session {name}: segments after the last one its end record names ({last})"))
        }
        Some(last) if present.get(&last).map(|(hash, _)| *hash) != Some(end.last_record_sha256) => {
            Err(format!("session {name}: its last segment ({last}) is missing or differs from its end record{failed}"))
        }
        Some(_) if (present.len() as u64) < end.segments_written => Err(format!(
            "session {name}: {} of the {} segments its end record counts are missing{failed}",
            end.segments_written - present.len() as u64,
            end.segments_written
        )),
        Some(_) => Ok(()),
    }
}

fn unreadable(name: String, error: &RecordError) -> SegmentVerdict {
    let failure = match error {
        RecordError::BadSignature { .. } => SegmentFailure::BadSignature,
        other => SegmentFailure::RecordUnreadable(other.to_string()),
    };
    SegmentVerdict { name, sequence: None, frames: 0, duration_ns: 0, failures: vec![failure] }
}

/// What every segment of one session is checked against.
struct SessionContext<'a> {
    session: &'a SessionFiles,
    by_sequence: &'a BTreeMap<u64, Vec<Sha256Digest>>,
    anchor: Option<&'a SegmentRecord>,
    index: &'a RecordIndex,
    options: &'a VerifyOptions,
}

fn verify_segment(name: String, stem: &str, record: &SignedRecord, context: &SessionContext<'_>) -> SegmentVerdict {
    let SessionContext { session, by_sequence, anchor, index, options } = *context;
    let RecordBody::Segment(body) = record.body() else {
        let failure =
            SegmentFailure::RecordUnreadable(format!("a {} record, not a segment", record.body().type_name()));
        return SegmentVerdict { name, sequence: None, frames: 0, duration_ns: 0, failures: vec![failure] };
    };
    let mut failures = Vec::new();
    check_place(body, stem, session, by_sequence, &mut failures);
    check_times(body, &mut failures);
    check_same_session_device(body, anchor, index, &mut failures);
    check_signer_and_consent(body, record, index, &mut failures);
    check_recipient_set(body, index, &mut failures);
    check_files(body, session, index, options, &mut failures);
    SegmentVerdict {
        name,
        sequence: Some(body.sequence),
        frames: body.counts.frames,
        duration_ns: body.end_ns.0.saturating_sub(body.start_ns.0),
        failures,
    }
}

/// Session, position and chain.
fn check_place(
    body: &SegmentRecord,
    stem: &str,
    session: &SessionFiles,
    by_sequence: &BTreeMap<u64, Vec<Sha256Digest>>,
    failures: &mut Vec<SegmentFailure>,
) {
    if body.session_id != session.name {
        failures
            .push(SegmentFailure::ForeignSession { found: body.session_id.clone(), expected: session.name.clone() });
    }
    let position = stem.strip_prefix("seg-").filter(|n| n.len() == 6).and_then(|n| n.parse::<u64>().ok());
    match position {
        Some(position) if position != body.sequence => {
            failures.push(SegmentFailure::Reordered { found: body.sequence, position })
        }
        Some(_) => {}
        None => failures.push(SegmentFailure::RecordUnreadable(format!("{stem}: not a seg-NNNNNN record name"))),
    }
    if by_sequence.get(&body.sequence).is_some_and(|hashes| hashes.len() > 1) {
        failures.push(SegmentFailure::Duplicate(body.sequence));
    }
    if body.sequence == 0 {
        if body.previous_record_sha256 != Sha256Digest::ZERO {
            failures.push(SegmentFailure::ChainBroken(0));
        }
        return;
    }
    match by_sequence.get(&(body.sequence - 1)) {
        Some(previous) if previous.contains(&body.previous_record_sha256) => {}
        Some(_) => failures.push(SegmentFailure::ChainBroken(body.sequence - 1)),
        None => {
            let from = by_sequence.range(..body.sequence).next_back().map_or(0, |(seq, _)| seq + 1);
            failures.push(SegmentFailure::Gap { from, to: body.sequence - 1 });
        }
    }
}

fn check_times(body: &SegmentRecord, failures: &mut Vec<SegmentFailure>) {
    match (body.start_utc, body.end_utc) {
        (Some(start), Some(end)) if end < start => {
            failures.push(SegmentFailure::TimesInvalid("ends before it starts (UTC)".into()))
        }
        (Some(_), Some(_)) => {}
        _ => failures.push(SegmentFailure::TimesInvalid("no UTC time to check the consent against".into())),
    }
    if body.end_ns < body.start_ns {
        failures.push(SegmentFailure::TimesInvalid("ends before it starts (session clock)".into()));
    }
}

fn check_same_session_device(
    body: &SegmentRecord,
    anchor: Option<&SegmentRecord>,
    index: &RecordIndex,
    failures: &mut Vec<SegmentFailure>,
) {
    let Some(anchor) = anchor else {
        failures.push(SegmentFailure::NoFirstSegment);
        return;
    };
    if body.consent_id != anchor.consent_id {
        failures.push(SegmentFailure::ConsentFromOtherDevice(body.consent_id.clone()));
    }
    if !index.keys_of_device(&anchor.device_key).contains(&body.device_key) {
        failures.push(SegmentFailure::NotSessionDevice(body.device_key.to_hex()));
    }
}

fn check_signer_and_consent(
    body: &SegmentRecord,
    record: &SignedRecord,
    index: &RecordIndex,
    failures: &mut Vec<SegmentFailure>,
) {
    let Some(consent) = index.consent_for(&body.consent_id, &body.device_key) else {
        failures.push(SegmentFailure::ConsentMissing(body.consent_id.clone()));
        return;
    };
    let device_keys = index.keys_of_device(&consent.device_key);
    if !device_keys.contains(&body.device_key) || !record.is_signed_by(&body.device_key) {
        let signer = record.signers().next().map_or_else(String::new, |k| k.to_hex());
        failures.push(SegmentFailure::SignedByOtherKey { signer, device: consent.device_key.to_hex() });
    }
    if !index.registered_devices.contains(&consent.device_key) {
        failures.push(SegmentFailure::DeviceNotRegistered(consent.device_key.to_hex()));
    }
    let Some(start) = body.start_utc else { return };
    let end = body.end_utc.unwrap_or(start);
    if start < consent.given_at {
        failures.push(SegmentFailure::BeforeConsent(body.consent_id.clone()));
    }
    let withdrawn = index
        .withdrawals
        .get(&body.consent_id)
        .into_iter()
        .flatten()
        .filter(|(key, _)| device_keys.contains(key))
        .map(|(_, at)| *at)
        .min();
    // Any footage after the withdrawal fails, even mid-segment.
    if let Some(at) = withdrawn.filter(|at| *at < end) {
        failures.push(SegmentFailure::ConsentWithdrawn { consent_id: body.consent_id.clone(), at: at.to_rfc3339() });
    }
}

/// The set is named by hash and version; both must match one the owner signed.
fn check_recipient_set(body: &SegmentRecord, index: &RecordIndex, failures: &mut Vec<SegmentFailure>) {
    let version = body.recipient_set_version;
    match index.recipient_sets.get(&body.recipient_set_sha256) {
        Some(&(found, true)) if found == version => {}
        Some(&(_, false)) => failures.push(SegmentFailure::RecipientSetNotFromOwner(version)),
        _ => failures.push(SegmentFailure::RecipientSetUnknown(version)),
    }
}

/// Sealed file → decryption → plaintext → MP4.
fn check_files(
    body: &SegmentRecord,
    session: &SessionFiles,
    index: &RecordIndex,
    options: &VerifyOptions,
    failures: &mut Vec<SegmentFailure>,
) {
    let file_name = &body.sealed.file;
    if file_name.contains(['/', '\\']) || file_name.starts_with('.') {
        failures.push(SegmentFailure::SealedFileMissing(file_name.clone()));
        return;
    }
    // A regular file of the recorded size, before reading it: a pipe or a
    // link to a device must not hang or exhaust the verifier.
    let path = session.dir.join(file_name);
    let Ok(metadata) = fs::symlink_metadata(&path).map(|m| (m.file_type().is_file(), m.len())) else {
        // Missing for a signed reason: the recording device purged it after a withdrawal.
        let purges = index.purged.get(&format!("{}/{file_name}", session.name)).into_iter().flatten();
        let by_device = |(device, consent): &&(PublicKey, String)| {
            *consent == body.consent_id && index.keys_of_device(device).contains(&body.device_key)
        };
        match purges.into_iter().find(by_device) {
            Some((_, consent)) => failures.push(SegmentFailure::Purged(consent.clone())),
            None => failures.push(SegmentFailure::SealedFileMissing(file_name.clone())),
        }
        return;
    };
    if metadata != (true, body.sealed.bytes) {
        failures.push(SegmentFailure::SealedHashMismatch);
        return;
    }
    let Ok(sealed) = fs::read(&path) else {
        failures.push(SegmentFailure::SealedFileMissing(file_name.clone()));
        return;
    };
    if Sha256Digest::of(&sealed) != body.sealed.sha256 || sealed.len() as u64 != body.sealed.bytes {
        failures.push(SegmentFailure::SealedHashMismatch);
        return;
    }
    // The plaintext is never longer than its sealed file; the record's claim is not trusted here.
    let mut plaintext = Vec::with_capacity(sealed.len());
    if let Err(e) = age::decrypt(sealed.as_slice(), &options.identities, &mut plaintext) {
        failures.push(SegmentFailure::DecryptFailed(e.to_string()));
        return;
    }
    if Sha256Digest::of(&plaintext) != body.plaintext.sha256 {
        failures.push(SegmentFailure::PlaintextHashMismatch);
        return;
    }
    match inspect(&plaintext) {
        Err(e) => failures.push(SegmentFailure::Mp4Invalid(e.to_string())),
        Ok(outline) => {
            let frames = outline.video_samples().unwrap_or(0);
            if frames != body.counts.frames {
                failures.push(SegmentFailure::FrameCountMismatch { record: body.counts.frames, file: frames });
            }
        }
    }
}
