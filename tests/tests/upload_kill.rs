//! `egocap upload` killed with SIGKILL at random instants, 50 times, against
//! a real tus server behind a throttling proxy. After each kill the next
//! run resumes; the proxy counts the PATCH bytes it forwarded and the
//! server's store shows what was kept, so the bytes re-sent per interruption
//! are measured outside the client. Prints their distribution (the README's
//! figure); asserts each is at most one chunk, that no file is deleted
//! locally before the server holds all of it, and that nothing is lost.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use egocap_e2e::egocap_command;
use egocap_e2e::fault_proxy::FaultProxy;
use egocap_e2e::tus_server::TusServer;
use egocap_e2e::upload::Recordings;

const KILLS: usize = 50;
const CHUNK: u64 = 256 * 1024;
const RATE: u64 = 1_000_000;

fn start_upload(recordings: &std::path::Path, endpoint: &str) -> Child {
    egocap_command()
        .unwrap()
        .args(["upload", "--server", endpoint, "--chunk-size", &CHUNK.to_string()])
        .args(["--retention-hours", "0", "--retry-cap-ms", "200", "--quiet"])
        .arg(recordings)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

fn session_id(n: usize) -> String {
    format!("{n:032x}")
}

fn stored_bytes(server: &TusServer) -> u64 {
    server.uploads().unwrap().iter().map(|u| u.stored_bytes).sum()
}

/// Waits until the proxy has forwarded everything the killed client had
/// already handed to the kernel, and the server has written it.
fn settle(proxy: &FaultProxy) {
    let mut last = proxy.patch_body_bytes_forwarded();
    loop {
        std::thread::sleep(Duration::from_millis(150));
        let now = proxy.patch_body_bytes_forwarded();
        if now == last {
            return;
        }
        last = now;
    }
}

#[test]
fn uploads_resume_after_sigkill_without_resending_more_than_a_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let server = TusServer::start(&dir.path().join("store")).unwrap();
    let proxy = FaultProxy::start(server.addr()).unwrap();
    proxy.set_upstream_rate(Some(RATE));
    let root = dir.path().join("recordings");
    let mut recordings = Recordings::create(&root, &session_id(0), 4, 5_000_000).unwrap();
    let mut seed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    println!("kill instants seeded with {seed}");

    let mut resent_per_kill = Vec::new();
    let started = Instant::now();
    while resent_per_kill.len() < KILLS {
        let (forwarded_before, stored_before) = (proxy.patch_body_bytes_forwarded(), stored_bytes(&server));
        let mut child = start_upload(&recordings.root, &proxy.endpoint());
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(60 + seed % 400));
        if let Some(status) = child.try_wait().unwrap() {
            // Everything was sent before this kill: record another session.
            assert!(status.success(), "{status}");
            let more = Recordings::create(&root, &session_id(resent_per_kill.len() + 1), 4, 5_000_000).unwrap();
            recordings.files.extend(more.files);
            continue;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        settle(&proxy);
        let forwarded = proxy.patch_body_bytes_forwarded() - forwarded_before;
        let kept = stored_bytes(&server) - stored_before;
        resent_per_kill.push(forwarded.saturating_sub(kept));
        // Nothing is deleted locally before the server holds all of it.
        let uploads = server.uploads().unwrap();
        for (name, sha256) in &recordings.files {
            if !recordings.root.join(name).exists() {
                let held = uploads.iter().any(|u| {
                    u.metadata.get("filename") == Some(name) && u.is_complete() && u.sha256_hex().unwrap() == *sha256
                });
                assert!(held, "{name} was deleted locally before the server held all of it");
            }
        }
    }
    // The last run goes to the end.
    proxy.set_upstream_rate(None);
    let status = start_upload(&recordings.root, &proxy.endpoint()).wait().unwrap();
    assert!(status.success());
    recordings.assert_all_on(&server).unwrap();

    resent_per_kill.sort_unstable();
    let at = |q: usize| resent_per_kill[(resent_per_kill.len() - 1) * q / 100];
    println!(
        "{KILLS} SIGKILLs in {:.1} s; bytes re-sent per interruption (chunk {CHUNK}): min {} median {} p90 {} max {}; \
         {} of {KILLS} re-sent nothing",
        started.elapsed().as_secs_f64(),
        at(0),
        at(50),
        at(90),
        at(100),
        resent_per_kill.iter().filter(|r| **r == 0).count()
    );
    assert!(at(100) <= CHUNK, "an interruption re-sent {} bytes, more than one chunk", at(100));
}
