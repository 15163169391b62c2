//! Sealed sessions written through the real pipeline, then tampered with
//! on disk: `verify_dataset` must name the right reason for each change,
//! and nothing else.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use std::io::Write;

use egocap_core::age::{Identity, StreamEncryptor};
use egocap_core::clock::ClockDomain;
use egocap_core::provenance::consent::{
    ActiveConsent, ConsentRecord, ConsentTerms, ConsentWithdrawal, Controller, Notice,
};
use egocap_core::provenance::identity::{DeviceRegistration, RecipientSet, TrustedRecipientSet};
use egocap_core::provenance::keystore::{FileKeyStore, KeyStore};
use egocap_core::provenance::record::{RecordBody, SignedRecord};
use egocap_core::provenance::segment_record::{FileDigest, SegmentRecord};
use egocap_core::provenance::values::{Sha256Digest, UtcInstant};
use egocap_core::sealer::{SealingSetup, SealingSink};
use egocap_core::session::{EncoderChoice, RecordingSession, SessionConfig};
use egocap_core::verify::{verify_dataset, SegmentFailure, VerificationReport, VerifyOptions};
use support::{push, ManualClock, F};

const SEGMENTS: usize = 4;
/// `ManualClock`'s UTC is this plus its boot-time reading.
const UTC_BASE: i64 = 1_800_000_000_000_000_000;

struct Owner {
    key: FileKeyStore,
    identity: Identity,
    recipients: SignedRecord,
}

struct Device {
    key: Arc<FileKeyStore>,
    registration: SignedRecord,
    consent: SignedRecord,
}

fn owner() -> Owner {
    let key = FileKeyStore::ephemeral().unwrap();
    let identity = Identity::generate().unwrap();
    let recipients = RecipientSet::sign(&key, 1, &[identity.recipient()], UtcInstant(UTC_BASE)).unwrap();
    Owner { key, identity, recipients }
}

fn device() -> Device {
    let key = Arc::new(FileKeyStore::ephemeral().unwrap());
    let registration = DeviceRegistration::sign(key.as_ref(), "desktop", None, UtcInstant(UTC_BASE)).unwrap();
    let terms = ConsentTerms::egocentric_video(
        Controller { name: "Dataset Ltd".into(), contact: "https://example.org/privacy".into() },
        "DE",
        Notice::of_text("notice", "en"),
        "worker-0042",
    );
    let consent = ConsentRecord::give(key.as_ref(), terms, UtcInstant(UTC_BASE - 1_000_000_000)).unwrap();
    Device { key, registration, consent }
}

fn config() -> SessionConfig {
    // An IDR every second, so each 1 s segment is cut on time.
    SessionConfig { keyframe_interval: 30, imu_clock: None, ..support::config() }
}

/// Records `SEGMENTS` one-second segments into `<root>/<session id>/`.
fn record(root: &Path, owner: &Owner, device: &Device) -> PathBuf {
    let session_id = egocap_core::session::new_session_id();
    let setup = SealingSetup {
        keystore: device.key.clone(),
        device_registration: device.registration.clone(),
        recipients: TrustedRecipientSet::check(&owner.recipients, &owner.key.public_key().unwrap()).unwrap(),
        consent: ActiveConsent::check(&device.consent, &[], &device.key.public_key().unwrap()).unwrap(),
        clock_domain: ClockDomain::BootTime,
    };
    let sink = SealingSink::create(root, &session_id, setup).unwrap();
    let dir = sink.dir().to_path_buf();
    let clock = Arc::new(ManualClock::default());
    let session = RecordingSession::start_with_clock(
        config(),
        EncoderChoice::OpenH264,
        Box::new(sink),
        clock.clone(),
        session_id,
    )
    .unwrap();
    for i in 0..(SEGMENTS as i64 * 30) {
        clock.0.store(i * F, Ordering::SeqCst);
        push(&session, i * F).unwrap();
    }
    let summary = session.stop().unwrap();
    assert_eq!(summary.segments.len(), SEGMENTS);
    dir
}

fn verify(root: &Path, owner: &Owner) -> VerificationReport {
    let identities = vec![Identity::parse(&owner.identity.to_secret_string()).unwrap()];
    verify_dataset(root, &VerifyOptions { identities, owner_key: owner.key.public_key().unwrap() }).unwrap()
}

/// Failures by segment name suffix (`seg-000001`), failed segments only.
fn failures(report: &VerificationReport) -> Vec<(String, Vec<SegmentFailure>)> {
    report
        .segments
        .iter()
        .filter(|s| !s.failures.is_empty())
        .map(|s| (s.name.rsplit('/').next().unwrap().to_owned(), s.failures.clone()))
        .collect()
}

fn flip_byte(path: &Path, at: usize) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at] ^= 0x01;
    fs::write(path, bytes).unwrap();
}

fn setup() -> (tempfile::TempDir, Owner, Device, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let (owner, device) = (owner(), device());
    let session = record(root.path(), &owner, &device);
    (root, owner, device, session)
}

#[test]
fn an_untouched_sealed_session_verifies_completely() {
    let (root, owner, _device, _session) = setup();
    let report = verify(root.path(), &owner);
    assert_eq!(report.segments.len(), SEGMENTS);
    assert_eq!(failures(&report), vec![]);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(report.is_ok());
    assert_eq!(report.sessions_closed, 1);
    assert_eq!(report.segments.iter().map(|s| s.frames).sum::<u64>(), SEGMENTS as u64 * 30);
}

#[test]
fn a_flipped_byte_in_a_sealed_file_is_a_hash_mismatch_for_that_segment_only() {
    let (root, owner, _device, session) = setup();
    let sealed = session.join("seg-000002.mp4.age");
    flip_byte(&sealed, fs::metadata(&sealed).unwrap().len() as usize / 2);
    assert_eq!(
        failures(&verify(root.path(), &owner)),
        vec![("seg-000002".into(), vec![SegmentFailure::SealedHashMismatch])]
    );
}

#[test]
fn a_flipped_byte_in_a_record_breaks_its_signature() {
    let (root, owner, _device, session) = setup();
    let path = session.join("seg-000001.record.json");
    let text = fs::read_to_string(&path).unwrap();
    // Inside the plaintext hash: still valid JSON, different content.
    let at = text.find("\"plaintext\":{\"bytes\":").unwrap() + 10;
    flip_byte(&path, at + text[at..].find("sha256\":\"").unwrap() + 12);
    let found = failures(&verify(root.path(), &owner));
    assert_eq!(found[0], ("seg-000001".into(), vec![SegmentFailure::BadSignature]));
}

#[test]
fn a_flipped_byte_in_a_signature_is_detected() {
    let (root, owner, _device, session) = setup();
    let path = session.join("seg-000003.record.json");
    let text = fs::read_to_string(&path).unwrap();
    let at = text.find("\"signature\":\"").unwrap() + 20;
    let mut bytes = text.into_bytes();
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    fs::write(&path, bytes).unwrap();
    assert_eq!(failures(&verify(root.path(), &owner)), vec![("seg-000003".into(), vec![SegmentFailure::BadSignature])]);
}

#[test]
fn a_reordered_pair_is_reported_as_reordered() {
    let (root, owner, _device, session) = setup();
    for suffix in [".record.json", ".mp4.age"] {
        let (a, b) = (session.join(format!("seg-000001{suffix}")), session.join(format!("seg-000002{suffix}")));
        let tmp = session.join("swap");
        fs::rename(&a, &tmp).unwrap();
        fs::rename(&b, &a).unwrap();
        fs::rename(&tmp, &b).unwrap();
    }
    let found = failures(&verify(root.path(), &owner));
    let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["seg-000001", "seg-000002"]);
    assert!(found[0].1.contains(&SegmentFailure::Reordered { found: 2, position: 1 }), "{found:?}");
    assert!(found[1].1.contains(&SegmentFailure::Reordered { found: 1, position: 2 }), "{found:?}");
}

#[test]
fn a_missing_middle_segment_is_a_gap() {
    let (root, owner, _device, session) = setup();
    fs::remove_file(session.join("seg-000001.record.json")).unwrap();
    fs::remove_file(session.join("seg-000001.mp4.age")).unwrap();
    assert_eq!(
        failures(&verify(root.path(), &owner)),
        vec![("seg-000002".into(), vec![SegmentFailure::Gap { from: 1, to: 1 }])]
    );
}

#[test]
fn a_segment_copied_from_another_session_is_foreign_and_breaks_the_chain() {
    let (root, owner, device, first) = setup();
    let second = record(root.path(), &owner, &device);
    for suffix in [".record.json", ".mp4.age"] {
        fs::copy(first.join(format!("seg-000001{suffix}")), second.join(format!("seg-000001{suffix}"))).unwrap();
    }
    let found = failures(&verify(root.path(), &owner));
    let first_id = first.file_name().unwrap().to_str().unwrap().to_owned();
    let second_id = second.file_name().unwrap().to_str().unwrap().to_owned();
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(
        found[0],
        (
            "seg-000001".into(),
            // It also chains to the other session's first segment, not this one's.
            vec![
                SegmentFailure::ForeignSession { found: first_id, expected: second_id },
                SegmentFailure::ChainBroken(0)
            ]
        )
    );
    assert_eq!(found[1], ("seg-000002".into(), vec![SegmentFailure::ChainBroken(1)]));
}

#[test]
fn a_record_re_signed_with_another_key_is_refused() {
    let (root, owner, device, session) = setup();
    let path = session.join("seg-000001.record.json");
    let record = SignedRecord::parse(&fs::read(&path).unwrap()).unwrap();
    let RecordBody::Segment(mut body) = record.body().clone() else { panic!("not a segment record") };
    let intruder = FileKeyStore::ephemeral().unwrap();
    body.device_key = intruder.public_key().unwrap();
    body.counts.frames_dropped_queue_full = 0;
    let forged = SignedRecord::sign(RecordBody::Segment(body), &[&intruder]).unwrap();
    fs::write(&path, forged.canonical_bytes()).unwrap();
    let found = failures(&verify(root.path(), &owner));
    let signer = intruder.public_key().unwrap().to_hex();
    let owner_device = device.key.public_key().unwrap().to_hex();
    assert_eq!(
        found[0],
        (
            "seg-000001".into(),
            vec![
                SegmentFailure::NotSessionDevice(signer.clone()),
                SegmentFailure::SignedByOtherKey { signer, device: owner_device }
            ]
        )
    );
    // The forged record hashes differently: the next link breaks too.
    assert_eq!(found[1], ("seg-000002".into(), vec![SegmentFailure::ChainBroken(1)]));
}

#[test]
fn segments_recorded_after_a_withdrawal_fail_and_earlier_ones_pass() {
    let (root, owner, device, session) = setup();
    let second = SignedRecord::parse(&fs::read(session.join("seg-000001.record.json")).unwrap()).unwrap();
    let RecordBody::Segment(second) = second.body() else { panic!() };
    let RecordBody::Consent(consent) = device.consent.body() else { panic!() };
    // Withdrawn the instant the second segment closed.
    let at = second.end_utc.unwrap();
    let withdrawal = ConsentWithdrawal::sign(device.key.as_ref(), &consent.consent_id, at).unwrap();
    fs::write(root.path().join("withdrawal.json"), withdrawal.canonical_bytes()).unwrap();
    let found = failures(&verify(root.path(), &owner));
    let withdrawn = SegmentFailure::ConsentWithdrawn { consent_id: consent.consent_id.clone(), at: at.to_rfc3339() };
    assert_eq!(found, vec![("seg-000002".into(), vec![withdrawn.clone()]), ("seg-000003".into(), vec![withdrawn])]);
}

#[test]
fn segments_sealed_under_a_recipient_set_the_owner_did_not_sign_fail() {
    // An app whose configuration pins an impostor's key as the owner's: the
    // impostor's set is accepted on the device, but not by the real owner.
    let root = tempfile::tempdir().unwrap();
    let owner = owner();
    let impostor_key = FileKeyStore::ephemeral().unwrap();
    let impostor_set =
        RecipientSet::sign(&impostor_key, 1, &[owner.identity.recipient()], UtcInstant(UTC_BASE)).unwrap();
    let identity = Identity::parse(&owner.identity.to_secret_string()).unwrap();
    let impostor = Owner { key: impostor_key, identity, recipients: impostor_set };
    // The owner's own set of the same version is there too: a version number alone must not pass.
    fs::write(root.path().join("recipients-v1.json"), owner.recipients.canonical_bytes()).unwrap();
    record(root.path(), &impostor, &device());
    let found = failures(&verify(root.path(), &owner));
    assert_eq!(found.len(), SEGMENTS);
    assert!(found.iter().all(|(_, f)| f == &vec![SegmentFailure::RecipientSetNotFromOwner(1)]), "{found:?}");
}

#[test]
fn a_segment_naming_an_unknown_recipient_set_version_fails() {
    let (root, owner, _device, session) = setup();
    let other_version = RecipientSet::sign(&owner.key, 2, &[owner.identity.recipient()], UtcInstant(UTC_BASE)).unwrap();
    fs::write(session.join("recipients.json"), other_version.canonical_bytes()).unwrap();
    let found = failures(&verify(root.path(), &owner));
    assert_eq!(found.len(), SEGMENTS);
    assert!(found.iter().all(|(_, f)| f == &vec![SegmentFailure::RecipientSetUnknown(1)]), "{found:?}");
}

#[test]
fn the_wrong_identity_cannot_decrypt_and_says_so() {
    let (root, owner, _device, _session) = setup();
    let stranger = Identity::generate().unwrap();
    let options = VerifyOptions { identities: vec![stranger], owner_key: owner.key.public_key().unwrap() };
    let report = verify_dataset(root.path(), &options).unwrap();
    assert_eq!(report.failed(), SEGMENTS);
    assert!(report.segments.iter().all(|s| matches!(s.failures.as_slice(), [SegmentFailure::DecryptFailed(_)])));
}

#[test]
fn python_rfc8785_canonicalises_our_records_to_the_same_bytes() {
    let (_root, _owner, _device, session) = setup();
    let mut files: Vec<PathBuf> = fs::read_dir(&session)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json") && !p.ends_with("session.json"))
        .collect();
    files.sort();
    // Device, recipients, consent, the segments, the session end.
    assert_eq!(files.len(), SEGMENTS + 4, "{files:?}");
    let script = "import sys, json, rfc8785\n\
                  for path in sys.argv[1:]:\n\
                  \x20   sys.stdout.buffer.write(rfc8785.dumps(json.load(open(path, encoding='utf-8'))) + b'\\n')\n";
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(&files)
        .stderr(Stdio::inherit())
        .output()
        .expect("python3 with rfc8785 is needed: run scripts/install-test-deps.sh");
    assert!(output.status.success(), "python rfc8785 failed: run scripts/install-test-deps.sh");
    let theirs: Vec<&[u8]> = output.stdout.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
    assert_eq!(theirs.len(), files.len());
    for (path, theirs) in files.iter().zip(theirs) {
        assert_eq!(fs::read(path).unwrap(), theirs, "{}", path.display());
    }
}

#[test]
fn a_segment_appended_by_another_device_to_a_session_fails() {
    let (root, owner, _device, session) = setup();
    // A stranger with their own registration and consent continues the
    // chain of a real session with a segment of their own.
    let stranger = device();
    let other_root = tempfile::tempdir().unwrap();
    let theirs = record(other_root.path(), &owner, &stranger);
    let last = SignedRecord::parse(&fs::read(session.join("seg-000003.record.json")).unwrap()).unwrap();
    let their_first = SignedRecord::parse(&fs::read(theirs.join("seg-000000.record.json")).unwrap()).unwrap();
    let RecordBody::Segment(mut body) = their_first.body().clone() else { panic!() };
    body.session_id = session.file_name().unwrap().to_str().unwrap().to_owned();
    body.sequence = SEGMENTS as u64;
    body.sealed.file = "seg-000004.mp4.age".into();
    body.previous_record_sha256 = last.hash();
    let forged = SignedRecord::sign(RecordBody::Segment(body), &[stranger.key.as_ref()]).unwrap();
    fs::write(session.join("seg-000004.record.json"), forged.canonical_bytes()).unwrap();
    fs::copy(theirs.join("seg-000000.mp4.age"), session.join("seg-000004.mp4.age")).unwrap();
    for (name, record) in
        [("stranger-device.json", &stranger.registration), ("stranger-consent.json", &stranger.consent)]
    {
        fs::write(root.path().join(name), record.canonical_bytes()).unwrap();
    }
    let found = failures(&verify(root.path(), &owner));
    let RecordBody::Consent(their_consent) = stranger.consent.body() else { panic!() };
    assert_eq!(
        found,
        vec![(
            "seg-000004".into(),
            vec![
                SegmentFailure::ConsentFromOtherDevice(their_consent.consent_id.clone()),
                SegmentFailure::NotSessionDevice(stranger.key.public_key().unwrap().to_hex())
            ]
        )]
    );
}

#[test]
fn a_re_signed_record_that_misstates_its_content_fails_the_file_checks() {
    let (root, owner, device, session) = setup();
    // The last segment, so no later link breaks.
    resign(&session, &device, "seg-000003.record.json", |b| b.counts.frames += 1);
    let frames = failures(&verify(root.path(), &owner));
    assert!(
        matches!(frames.as_slice(), [(n, f)] if n == "seg-000003" && matches!(f.as_slice(), [SegmentFailure::FrameCountMismatch { .. }])),
        "{frames:?}"
    );
    resign(&session, &device, "seg-000003.record.json", |b| {
        b.counts.frames -= 1;
        b.plaintext.sha256 = Sha256Digest::of(b"other");
    });
    let found = failures(&verify(root.path(), &owner));
    assert_eq!(found, vec![("seg-000003".into(), vec![SegmentFailure::PlaintextHashMismatch])]);
    fs::remove_file(session.join("seg-000003.mp4.age")).unwrap();
    let found = failures(&verify(root.path(), &owner));
    assert_eq!(
        found,
        vec![("seg-000003".into(), vec![SegmentFailure::SealedFileMissing("seg-000003.mp4.age".into())])]
    );
}

#[test]
fn a_record_in_another_byte_form_is_unreadable_not_silently_rehashed() {
    let (root, owner, _device, session) = setup();
    let path = session.join("seg-000001.record.json");
    let text = fs::read_to_string(&path).unwrap();
    // Re-casing the (unsigned) signature hex would change the record's hash without a key.
    let at = text.find("\"signature\":\"").unwrap() + 13;
    let end = at + 128;
    let recased = format!("{}{}{}", &text[..at], text[at..end].to_uppercase(), &text[end..]);
    fs::write(&path, recased).unwrap();
    let found = failures(&verify(root.path(), &owner));
    assert!(matches!(found[0].1.as_slice(), [SegmentFailure::RecordUnreadable(_)]), "{found:?}");
}

/// Re-signs a segment record with the device's own key after `change`.
fn resign(session: &Path, device: &Device, name: &str, change: impl Fn(&mut SegmentRecord)) {
    let path = session.join(name);
    let record = SignedRecord::parse(&fs::read(&path).unwrap()).unwrap();
    let RecordBody::Segment(mut body) = record.body().clone() else { panic!("not a segment record") };
    change(&mut body);
    let signed = SignedRecord::sign(RecordBody::Segment(body), &[device.key.as_ref()]).unwrap();
    fs::write(&path, signed.canonical_bytes()).unwrap();
}

#[test]
fn missing_consent_or_registration_fails_every_segment() {
    let (root, owner, device, session) = setup();
    fs::remove_file(session.join("consent.json")).unwrap();
    let RecordBody::Consent(consent) = device.consent.body() else { panic!() };
    let found = failures(&verify(root.path(), &owner));
    assert_eq!(found.len(), SEGMENTS);
    assert!(found.iter().all(|(_, f)| f == &vec![SegmentFailure::ConsentMissing(consent.consent_id.clone())]));
    fs::write(session.join("consent.json"), device.consent.canonical_bytes()).unwrap();
    fs::remove_file(session.join("device.json")).unwrap();
    let device_hex = device.key.public_key().unwrap().to_hex();
    let found = failures(&verify(root.path(), &owner));
    assert_eq!(found.len(), SEGMENTS);
    assert!(found.iter().all(|(_, f)| f == &vec![SegmentFailure::DeviceNotRegistered(device_hex.clone())]));
}

#[test]
fn times_before_consent_or_missing_are_refused() {
    let (root, owner, device, session) = setup();
    let RecordBody::Consent(consent) = device.consent.body() else { panic!() };
    let given = consent.given_at;
    resign(&session, &device, "seg-000003.record.json", |b| b.start_utc = Some(UtcInstant(given.0 - 1)));
    let found = failures(&verify(root.path(), &owner));
    assert_eq!(found, vec![("seg-000003".into(), vec![SegmentFailure::BeforeConsent(consent.consent_id.clone())])]);
    resign(&session, &device, "seg-000003.record.json", |b| b.end_utc = None);
    let found = failures(&verify(root.path(), &owner));
    assert!(matches!(found[0].1.as_slice(), [SegmentFailure::TimesInvalid(_), SegmentFailure::BeforeConsent(_)]));
}

#[test]
fn a_duplicated_record_is_reported_on_both_copies() {
    let (root, owner, _device, session) = setup();
    let last = format!("seg-{:06}", SEGMENTS - 1);
    let next = format!("seg-{SEGMENTS:06}");
    fs::copy(session.join(format!("{last}.record.json")), session.join(format!("{next}.record.json"))).unwrap();
    let found = failures(&verify(root.path(), &owner));
    let sequence = SEGMENTS as u64 - 1;
    assert_eq!(
        found,
        vec![
            (last, vec![SegmentFailure::Duplicate(sequence)]),
            (
                next,
                vec![
                    SegmentFailure::Reordered { found: sequence, position: SEGMENTS as u64 },
                    SegmentFailure::Duplicate(sequence)
                ]
            ),
        ]
    );
}

#[test]
fn a_sealed_file_that_is_not_an_mp4_fails_the_mp4_check() {
    let (root, owner, device, session) = setup();
    let name = "seg-000003";
    let plaintext = b"not an mp4 at all".to_vec();
    let mut sealed = Vec::new();
    let mut encryptor = StreamEncryptor::new(&mut sealed, &[owner.identity.recipient()]).unwrap();
    encryptor.write_all(&plaintext).unwrap();
    encryptor.finish().unwrap();
    fs::write(session.join(format!("{name}.mp4.age")), &sealed).unwrap();
    resign(&session, &device, &format!("{name}.record.json"), |b| {
        b.plaintext = FileDigest { sha256: Sha256Digest::of(&plaintext), bytes: plaintext.len() as u64 };
        b.sealed.sha256 = Sha256Digest::of(&sealed);
        b.sealed.bytes = sealed.len() as u64;
    });
    let found = failures(&verify(root.path(), &owner));
    assert!(
        matches!(found.as_slice(), [(n, f)] if n == name && matches!(f.as_slice(), [SegmentFailure::Mp4Invalid(_)])),
        "{found:?}"
    );
}

#[test]
fn segments_missing_at_the_end_are_caught_by_the_signed_session_end() {
    let (root, owner, _device, session) = setup();
    let last = format!("seg-{:06}", SEGMENTS - 1);
    fs::remove_file(session.join(format!("{last}.record.json"))).unwrap();
    fs::remove_file(session.join(format!("{last}.mp4.age"))).unwrap();
    let report = verify(root.path(), &owner);
    // Every remaining segment is fine on its own; the session is not.
    assert_eq!(failures(&report), vec![]);
    assert_eq!(report.sessions_closed, 0);
    assert!(!report.is_ok());
    assert!(matches!(report.problems.as_slice(), [p] if p.contains("missing")), "{:?}", report.problems);
}

#[test]
fn every_truncation_of_a_real_segment_fails_the_mp4_check() {
    let (_root, owner, _device, session) = setup();
    let sealed = fs::read(session.join("seg-000000.mp4.age")).unwrap();
    let mut mp4 = Vec::new();
    egocap_core::age::decrypt(sealed.as_slice(), std::slice::from_ref(&owner.identity), &mut mp4).unwrap();
    let outline = egocap_core::mp4::inspect::inspect(&mp4).unwrap();
    assert!(outline.video_samples().is_some_and(|n| n > 0), "{outline:?}");
    for end in (0..mp4.len()).step_by(7) {
        assert!(egocap_core::mp4::inspect::inspect(&mp4[..end]).is_err(), "a {end}-byte prefix passed");
    }
}

#[test]
fn an_end_record_whose_segments_are_all_gone_is_reported() {
    let (root, owner, _device, session) = setup();
    for entry in fs::read_dir(&session).unwrap().flatten() {
        if entry.file_name().to_string_lossy().starts_with("seg-") {
            fs::remove_file(entry.path()).unwrap();
        }
    }
    // Keep the end record (and the identity records) one level up, as if the media never arrived.
    let moved = root.path().join("arrived");
    fs::create_dir_all(&moved).unwrap();
    for name in ["session-end.json", "device.json", "consent.json", "recipients.json"] {
        fs::rename(session.join(name), moved.join(name)).unwrap();
    }
    fs::remove_dir_all(&session).unwrap();
    // A second, untouched session so there is something to verify.
    record(root.path(), &owner, &device());
    let report = verify(root.path(), &owner);
    assert_eq!(failures(&report), vec![]);
    assert!(
        matches!(report.problems.as_slice(), [p] if p.contains("last segment (3) is missing")),
        "{:?}",
        report.problems
    );
}

#[test]
fn a_session_without_its_first_segment_cannot_anchor_the_rest() {
    let (root, owner, _device, session) = setup();
    fs::remove_file(session.join("seg-000000.record.json")).unwrap();
    fs::remove_file(session.join("seg-000000.mp4.age")).unwrap();
    let found = failures(&verify(root.path(), &owner));
    assert_eq!(found.len(), SEGMENTS - 1);
    assert!(found.iter().all(|(_, f)| f.contains(&SegmentFailure::NoFirstSegment)), "{found:?}");
    assert!(found[0].1.contains(&SegmentFailure::Gap { from: 0, to: 0 }));
}

#[test]
fn a_withdrawal_signed_by_another_device_is_reported_and_withdraws_nothing() {
    let (root, owner, device, _session) = setup();
    let RecordBody::Consent(consent) = device.consent.body() else { panic!() };
    let stranger = FileKeyStore::ephemeral().unwrap();
    let foreign = ConsentWithdrawal::sign(&stranger, &consent.consent_id, UtcInstant(UTC_BASE)).unwrap();
    fs::write(root.path().join("withdrawal.json"), foreign.canonical_bytes()).unwrap();
    let report = verify(root.path(), &owner);
    assert_eq!(failures(&report), vec![]);
    assert!(
        matches!(report.problems.as_slice(), [p] if p.contains("not the consent's device")),
        "{:?}",
        report.problems
    );
}

#[test]
fn two_different_owner_signed_sets_of_one_version_are_reported() {
    let (root, owner, _device, _session) = setup();
    let other =
        RecipientSet::sign(&owner.key, 1, &[Identity::generate().unwrap().recipient()], UtcInstant(UTC_BASE)).unwrap();
    fs::write(root.path().join("recipients-again.json"), other.canonical_bytes()).unwrap();
    let report = verify(root.path(), &owner);
    assert!(matches!(report.problems.as_slice(), [p] if p.contains("version 1")), "{:?}", report.problems);
}

#[test]
fn extreme_times_in_a_signed_record_are_refused_without_a_panic() {
    let (root, owner, device, session) = setup();
    resign(&session, &device, "seg-000003.record.json", |b| {
        b.start_ns = egocap_core::provenance::values::Nanos(i64::MAX);
        b.end_ns = egocap_core::provenance::values::Nanos(i64::MIN);
    });
    let found = failures(&verify(root.path(), &owner));
    assert!(
        matches!(found.as_slice(), [(n, f)] if n == "seg-000003" && f.iter().any(|x| matches!(x, SegmentFailure::TimesInvalid(_)))),
        "{found:?}"
    );
}

#[cfg(unix)]
#[test]
fn pipes_and_symlinks_in_a_dataset_are_reported_not_read() {
    let (root, owner, _device, session) = setup();
    let fifo = root.path().join("evil.json");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    std::os::unix::fs::symlink("/dev/zero", root.path().join("zero.json")).unwrap();
    let sealed = session.join("seg-000002.mp4.age");
    fs::remove_file(&sealed).unwrap();
    assert!(Command::new("mkfifo").arg(&sealed).status().unwrap().success());
    let report = verify(root.path(), &owner);
    assert_eq!(failures(&report), vec![("seg-000002".into(), vec![SegmentFailure::SealedHashMismatch])]);
    assert_eq!(report.problems.len(), 2, "{:?}", report.problems);
}

#[test]
fn a_segment_purged_after_a_withdrawal_is_reported_as_purged_only_with_the_devices_signature() {
    use egocap_core::provenance::consent::{PurgeRecord, PurgedFile};
    let (root, owner, device, session) = setup();
    let session_name = session.file_name().unwrap().to_str().unwrap().to_owned();
    let RecordBody::Consent(consent) = device.consent.body() else { panic!() };
    let sealed = session.join("seg-000003.mp4.age");
    let purged = vec![PurgedFile {
        name: format!("{session_name}/seg-000003.mp4.age"),
        sha256: Sha256Digest::of(&fs::read(&sealed).unwrap()),
        bytes: fs::metadata(&sealed).unwrap().len(),
    }];
    fs::remove_file(&sealed).unwrap();
    let later = UtcInstant(UTC_BASE + 3_600_000_000_000);
    let records = root.path().join("records");
    fs::create_dir(&records).unwrap();
    let write = |name: &str, record: &SignedRecord| fs::write(records.join(name), record.canonical_bytes()).unwrap();

    // Signed by a stranger, the purge explains nothing.
    let stranger = FileKeyStore::ephemeral().unwrap();
    let foreign_withdrawal = ConsentWithdrawal::sign(&stranger, &consent.consent_id, later).unwrap();
    write("purge-foreign.json", &PurgeRecord::sign(&stranger, &foreign_withdrawal, purged.clone(), later).unwrap());
    let found = failures(&verify(root.path(), &owner));
    assert_eq!(
        found,
        vec![("seg-000003".into(), vec![SegmentFailure::SealedFileMissing("seg-000003.mp4.age".into())])]
    );

    let withdrawal = ConsentWithdrawal::sign(device.key.as_ref(), &consent.consent_id, later).unwrap();
    write("withdrawal.json", &withdrawal);
    write("purge.json", &PurgeRecord::sign(device.key.as_ref(), &withdrawal, purged, later).unwrap());
    let found = failures(&verify(root.path(), &owner));
    assert_eq!(found, vec![("seg-000003".into(), vec![SegmentFailure::Purged(consent.consent_id.clone())])]);
}
