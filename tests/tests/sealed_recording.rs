//! The sealed path as a desktop user drives it: `keygen`, `consent give`,
//! `record`, then the real `age` tool and `egocap verify` on the output.
//! Plaintext is only ever read through `age -d` pipes, never written.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use egocap_e2e::{egocap_command, keys_and_consent, run_egocap};

fn egocap(args: &[&std::ffi::OsStr]) -> Output {
    egocap_command().unwrap().args(args).stdin(Stdio::null()).output().unwrap()
}

fn record_args<'a>(keys: &'a Path, consent: &'a Path, out: &'a Path) -> Vec<&'a std::ffi::OsStr> {
    const FIXED: [&str; 12] = [
        "record",
        "--source",
        "synthetic:11",
        "--duration",
        "3s",
        "--segment-seconds",
        "1",
        "--width",
        "320",
        "--height",
        "240",
        "--quiet",
    ];
    let mut args: Vec<&std::ffi::OsStr> = FIXED.iter().map(|s| s.as_ref()).collect();
    args.extend([
        "--keys".as_ref(),
        keys.as_os_str(),
        "--consent".as_ref(),
        consent.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    args
}

fn sealed_files(out: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for session in fs::read_dir(out).unwrap().flatten().filter(|e| e.path().is_dir()) {
        for file in fs::read_dir(session.path()).unwrap().flatten() {
            let name = file.file_name().to_string_lossy().into_owned();
            assert!(!name.ends_with(".mp4"), "plaintext on disk: {name}");
            if name.ends_with(".mp4.age") {
                files.push(file.path());
            }
        }
    }
    files.sort();
    files
}

/// `age -d -i IDENTITY FILE | ffprobe -`: the number of video frames.
fn frames_through_age(identity: &Path, sealed: &Path) -> u64 {
    let mut age = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(identity)
        .arg(sealed)
        .stdout(Stdio::piped())
        .spawn()
        .expect("the age tool is needed: run scripts/install-test-deps.sh");
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", "-"])
        .stdin(age.stdout.take().unwrap())
        .output()
        .unwrap();
    assert!(age.wait().unwrap().success(), "age -d failed on {}", sealed.display());
    assert!(probe.status.success(), "ffprobe: {}", String::from_utf8_lossy(&probe.stderr));
    String::from_utf8(probe.stdout).unwrap().trim().parse().unwrap()
}

#[test]
fn a_sealed_recording_decrypts_with_age_and_verifies_and_tampering_fails_verify() {
    let root = tempfile::tempdir().unwrap();
    let (keys, consent) = keys_and_consent(root.path()).unwrap();
    let out = root.path().join("out");
    let recorded = egocap(&record_args(&keys, &consent, &out));
    assert!(recorded.status.success(), "{}", String::from_utf8_lossy(&recorded.stderr));

    let sealed = sealed_files(&out);
    assert_eq!(sealed.len(), 3, "{sealed:?}");
    let identity = keys.join("recipient.age");
    let frames: u64 = sealed.iter().map(|file| frames_through_age(&identity, file)).sum();
    assert_eq!(frames, 90);

    let verify =
        |dir: &Path| egocap(&["verify".as_ref(), dir.as_os_str(), "--identity".as_ref(), identity.as_os_str()]);
    let ok = verify(&out);
    let stdout = String::from_utf8_lossy(&ok.stdout).into_owned();
    assert!(ok.status.success(), "{stdout}{}", String::from_utf8_lossy(&ok.stderr));
    assert_eq!(stdout.lines().filter(|l| l.starts_with("ok ")).count(), 3, "{stdout}");
    assert!(stdout.contains("3 verified, 0 failed"), "{stdout}");

    let mut bytes = fs::read(&sealed[1]).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x80;
    fs::write(&sealed[1], bytes).unwrap();
    let failed = verify(&out);
    let stdout = String::from_utf8_lossy(&failed.stdout).into_owned();
    assert_eq!(failed.status.code(), Some(1), "{stdout}");
    assert!(stdout
        .lines()
        .any(|l| l.starts_with("FAIL") && l.contains("seg-000001") && l.contains("sealed file hash")));
    assert!(stdout.contains("2 verified, 1 failed"), "{stdout}");
}

#[test]
fn recording_refuses_to_start_without_keys_or_after_the_consent_is_withdrawn() {
    let root = tempfile::tempdir().unwrap();
    let (keys, consent) = keys_and_consent(root.path()).unwrap();
    let out = root.path().join("out");

    let bare = egocap(&["record".as_ref(), "--out".as_ref(), out.as_os_str(), "--quiet".as_ref()]);
    assert!(!bare.status.success());
    assert!(String::from_utf8_lossy(&bare.stderr).contains("--plaintext"));

    run_egocap([
        "consent".as_ref(),
        "withdraw".as_ref(),
        "--keys".as_ref(),
        keys.as_os_str(),
        "--consent".as_ref(),
        consent.as_os_str(),
    ])
    .unwrap();
    let refused = egocap(&record_args(&keys, &consent, &out));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("withdrawn"), "{stderr}");
    assert!(!out.exists() || sealed_files(&out).is_empty());
}

#[test]
fn kills_while_sealing_leave_only_whole_verifiable_segments() {
    let root = tempfile::tempdir().unwrap();
    let (keys, consent) = keys_and_consent(root.path()).unwrap();
    let out = root.path().join("out");
    // The hook counts the files written after the session's identity
    // records: segment k's sealed file is file 2k, its record file 2k + 1.
    let kills = [("after_write", 0), ("after_fsync", 1), ("after_rename", 2), ("after_write", 3), ("after_rename", 1)];
    for (step, file) in kills {
        let status = egocap_command()
            .unwrap()
            .args(record_args(&keys, &consent, &out))
            .env("EGOCAP_TEST_KILL_AT", format!("{step}:{file}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(!status.success(), "the kill at {step}:{file} did not happen");
    }
    // A clean run removes the leftovers of the killed ones.
    let clean = egocap(&record_args(&keys, &consent, &out));
    assert!(clean.status.success(), "{}", String::from_utf8_lossy(&clean.stderr));
    let leftovers: Vec<PathBuf> = fs::read_dir(&out)
        .unwrap()
        .flatten()
        .flat_map(|s| fs::read_dir(s.path()).unwrap().flatten().map(|f| f.path()))
        .filter(|p| p.to_string_lossy().ends_with(".partial"))
        .collect();
    assert_eq!(leftovers, Vec::<PathBuf>::new());
    let identity = keys.join("recipient.age");
    let verify = egocap(&["verify".as_ref(), out.as_os_str(), "--identity".as_ref(), identity.as_os_str()]);
    let stdout = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{stdout}");
    // The killed sessions keep the segments whose records were written
    // (0 + 0 + 1 + 1 + 1), besides the clean run's 3; sealed files whose
    // record never landed were removed.
    assert!(stdout.contains("6 verified, 0 failed"), "{stdout}");
    let records = fs::read_dir(&out)
        .unwrap()
        .flatten()
        .flat_map(|s| fs::read_dir(s.path()).unwrap().flatten().map(|f| f.path()))
        .filter(|p| p.to_string_lossy().ends_with(".record.json"))
        .count();
    assert_eq!(sealed_files(&out).len(), records);
}
