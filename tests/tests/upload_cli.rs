//! `egocap upload` and `egocap queue status` as a desktop user runs them:
//! to a local inbox, with a corrupt journal, and with no server listening.
//! Each bad case is a clear error that loses nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Output, Stdio};

use egocap_e2e::egocap_command;
use egocap_e2e::tools::sha256_hex;
use egocap_e2e::tus_server::TusServer;
use egocap_e2e::upload::Recordings;

const SESSION: &str = "abcdefabcdefabcdefabcdefabcdef01";

fn egocap(args: &[&str], dir: &Path) -> Output {
    egocap_command().unwrap().args(args).arg(dir).stdin(Stdio::null()).output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_all_local(recordings: &Recordings) {
    for (name, sha256) in &recordings.files {
        assert_eq!(sha256_hex(&recordings.root.join(name)).unwrap(), *sha256, "{name} is still on disk, unchanged");
    }
}

#[test]
fn an_inbox_upload_lands_every_file_and_the_status_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let recordings = Recordings::create(&dir.path().join("rec"), SESSION, 2, 100_000).unwrap();
    let inbox = dir.path().join("inbox");
    let sent =
        egocap(&["upload", "--quiet", "--chunk-size", "30000", "--inbox", inbox.to_str().unwrap()], &recordings.root);
    assert!(sent.status.success(), "{}", stderr(&sent));
    for (name, sha256) in &recordings.files {
        assert_eq!(sha256_hex(&inbox.join(name)).unwrap(), *sha256, "{name}");
    }
    let status = egocap(&["queue", "status"], &recordings.root);
    let text = String::from_utf8_lossy(&status.stdout);
    assert_eq!(text.lines().filter(|l| l.starts_with("complete")).count(), recordings.files.len(), "{text}");
}

#[test]
fn a_corrupt_journal_is_a_clear_error_and_can_be_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let recordings = Recordings::create(&dir.path().join("rec"), SESSION, 1, 50_000).unwrap();
    let journal = recordings.root.join("upload-journal.db");
    std::fs::write(&journal, vec![0xa5; 4096]).unwrap();
    let inbox = dir.path().join("inbox");
    let args = ["upload", "--quiet", "--inbox", inbox.to_str().unwrap()];
    let refused = egocap(&args, &recordings.root);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("corrupt"), "{}", stderr(&refused));
    assert_all_local(&recordings);
    assert_eq!(std::fs::read(&journal).unwrap(), vec![0xa5; 4096], "the journal is left for inspection");

    let reset = egocap(&[&args[..], &["--reset-corrupt-journal"]].concat(), &recordings.root);
    assert!(reset.status.success(), "{}", stderr(&reset));
    let kept: Vec<_> = std::fs::read_dir(&recordings.root)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("upload-journal.db.corrupt-"))
        .collect();
    assert_eq!(kept.len(), 1);
    for (name, sha256) in &recordings.files {
        assert_eq!(sha256_hex(&inbox.join(name)).unwrap(), *sha256, "{name}");
    }
}

#[test]
fn a_dead_server_keeps_everything_and_the_next_run_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let recordings = Recordings::create(&dir.path().join("rec"), SESSION, 2, 80_000).unwrap();
    // A port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dead = format!("http://127.0.0.1:{port}/files/");
    let failed = egocap(
        &[
            "upload",
            "--quiet",
            "--server",
            &dead,
            "--give-up-after",
            "2",
            "--retry-cap-ms",
            "300",
            "--retention-hours",
            "0",
        ],
        &recordings.root,
    );
    assert!(!failed.status.success());
    assert!(stderr(&failed).contains("gave up") && stderr(&failed).contains("nothing was lost"), "{}", stderr(&failed));
    assert_all_local(&recordings);
    let status = String::from_utf8_lossy(&egocap(&["queue", "status"], &recordings.root).stdout).into_owned();
    assert!(status.contains("pending") && status.contains("last error"), "{status}");

    let server = TusServer::start(&dir.path().join("store")).unwrap();
    let sent =
        egocap(&["upload", "--quiet", "--server", &server.endpoint(), "--retention-hours", "0"], &recordings.root);
    assert!(sent.status.success(), "{}", stderr(&sent));
    recordings.assert_all_on(&server).unwrap();
    for name in recordings.files.keys() {
        assert!(!recordings.root.join(name).exists(), "{name}: sent whole, retention 0, so deleted");
    }
}

#[test]
fn a_withdrawal_purges_the_unsent_segments_and_sends_the_records_first() {
    let dir = tempfile::tempdir().unwrap();
    let (keys, consent) = egocap_e2e::keys_and_consent(dir.path()).unwrap();
    let rec = dir.path().join("rec");
    let recorded = egocap_command()
        .unwrap()
        .args(["record", "--source", "synthetic:5", "--duration", "3s", "--segment-seconds", "1"])
        .args(["--width", "320", "--height", "240", "--quiet", "--keys"])
        .arg(&keys)
        .arg("--consent")
        .arg(&consent)
        .arg("--out")
        .arg(&rec)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(recorded.status.success(), "{}", stderr(&recorded));
    let withdrawn = egocap_command()
        .unwrap()
        .args(["consent", "withdraw", "--keys"])
        .arg(&keys)
        .arg("--consent")
        .arg(&consent)
        .output()
        .unwrap();
    assert!(withdrawn.status.success(), "{}", stderr(&withdrawn));
    let withdrawal = String::from_utf8_lossy(&withdrawn.stdout).trim().to_owned();

    let inbox = dir.path().join("inbox");
    let purge = egocap(
        &[
            "queue",
            "purge",
            "--keys",
            keys.to_str().unwrap(),
            "--withdrawal",
            &withdrawal,
            "--inbox",
            inbox.to_str().unwrap(),
        ],
        &rec,
    );
    assert!(purge.status.success(), "{}", stderr(&purge));
    let purged = String::from_utf8_lossy(&purge.stdout).lines().filter(|l| l.starts_with("purged")).count();
    assert_eq!(purged, 6, "3 segments and their records: {}", String::from_utf8_lossy(&purge.stdout));
    let session = std::fs::read_dir(&rec)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir() && !p.ends_with("records"))
        .unwrap();
    let left: Vec<String> =
        std::fs::read_dir(&session).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert!(left.iter().all(|name| !name.starts_with("seg-")), "no segment is left on the device: {left:?}");

    let sent = egocap(&["upload", "--quiet", "--inbox", inbox.to_str().unwrap()], &rec);
    assert!(sent.status.success(), "{}", stderr(&sent));
    let records: Vec<String> = std::fs::read_dir(inbox.join("records"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        records.iter().any(|n| n.starts_with("withdrawal-")) && records.iter().any(|n| n.starts_with("purge-")),
        "{records:?}"
    );
    let session_name = session.file_name().unwrap();
    assert!(!inbox.join(session_name).join("seg-000000.mp4.age").exists(), "no purged footage reached the inbox");
}
