//! The disk limits of `egocap record`: at the quota or under the free-space
//! floor it refuses to start and writes nothing; reaching the quota while
//! recording stops it cleanly, every segment until then whole.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Output, Stdio};

use egocap_e2e::egocap_command;
use egocap_e2e::media::{decode_diagnostics, Probe};

fn record(out: &Path, limits: &[&str]) -> Output {
    egocap_command()
        .unwrap()
        .args(["record", "--source", "synthetic:3", "--duration", "30s", "--segment-seconds", "1"])
        .args(["--width", "320", "--height", "240", "--plaintext", "--no-blur", "--quiet"])
        .args(["--bitrate", "2000000", "--out"])
        .arg(out)
        .args(limits)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn sessions(out: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(out).unwrap().flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect()
}

#[test]
fn recording_refuses_to_start_at_the_quota_or_under_the_floor() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("0123456789abcdef0123456789abcdef");
    std::fs::create_dir(&old).unwrap();
    std::fs::write(old.join("seg-000000.mp4.age"), vec![7u8; 2_000_000]).unwrap();

    let refused = record(dir.path(), &["--quota-mb", "1.5"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("refused to start") && stderr.contains("quota"), "{stderr}");
    let floor = record(dir.path(), &["--free-floor-mb", "1e12"]);
    assert!(String::from_utf8_lossy(&floor.stderr).contains("under the floor"));
    assert_eq!(sessions(dir.path()), std::slice::from_ref(&old), "nothing new was written");
    assert_eq!(std::fs::read(old.join("seg-000000.mp4.age")).unwrap().len(), 2_000_000, "nothing was removed");
}

#[test]
fn reaching_the_quota_stops_the_recording_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let stopped = record(dir.path(), &["--quota-mb", "1"]);
    let stderr = String::from_utf8_lossy(&stopped.stderr);
    assert!(!stopped.status.success() && stderr.contains("stopped early"), "{stderr}");
    let [session] = sessions(dir.path()).try_into().unwrap();
    let mut segments: Vec<_> = std::fs::read_dir(&session)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "mp4"))
        .collect();
    segments.sort();
    assert!(!segments.is_empty() && segments.len() < 30, "{} segments of 30 s", segments.len());
    for segment in &segments {
        assert_eq!(Probe::of(segment).unwrap().video().unwrap().width, Some(320));
        assert_eq!(decode_diagnostics(segment).unwrap(), "", "{} decodes cleanly", segment.display());
    }
    assert!(session.join("session.json").exists(), "the session was closed, not abandoned");
}
