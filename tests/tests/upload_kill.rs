//! `egocap upload` killed with SIGKILL at random instants, 50 times, against
//! a real tus server behind a throttling proxy. After each kill the next
//! run resumes. Re-sent bytes are counted outside the client, from the
//! proxy's log of what it forwarded: PATCH bytes below the high-water mark
//! of their upload, and every byte sent to a second upload of one file (a
//! client that forgot its place would re-create). Prints their distribution
//! (the README's figure); asserts each interruption re-sent at most one
//! chunk, that each file has one upload, that no file is deleted locally
//! before the server holds all of it, and that nothing is lost.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
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

/// Re-sent bytes by the proxy's log (see the module comment).
#[derive(Default)]
struct ResendLedger {
    entries_seen: usize,
    /// Upload id → the end of the furthest PATCH forwarded to it.
    high_water: HashMap<String, u64>,
    /// File name → its first upload id.
    first_upload: HashMap<String, String>,
}

impl ResendLedger {
    /// The re-sent bytes in the log entries since the last call.
    fn account(&mut self, proxy: &FaultProxy, server: &TusServer) -> u64 {
        let log = proxy.log();
        let names: HashMap<String, String> = server
            .uploads()
            .unwrap()
            .into_iter()
            .map(|u| (u.id.clone(), u.metadata.get("filename").cloned().unwrap_or_default()))
            .collect();
        let mut resent = 0;
        for request in &log[self.entries_seen..] {
            let Some(offset) = request.upload_offset.filter(|_| request.method == "PATCH") else { continue };
            let sent = request.body_bytes_forwarded;
            let id = request.path.rsplit('/').next().unwrap_or_default().to_owned();
            if sent == 0 {
                continue;
            }
            let name = names.get(&id).cloned().unwrap_or_default();
            if *self.first_upload.entry(name).or_insert_with(|| id.clone()) != id {
                resent += sent;
                continue;
            }
            let mark = self.high_water.entry(id).or_default();
            resent += (*mark).min(offset + sent).saturating_sub(offset);
            *mark = (*mark).max(offset + sent);
        }
        self.entries_seen = log.len();
        resent
    }
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
    let mut ledger = ResendLedger::default();
    let started = Instant::now();
    while resent_per_kill.len() < KILLS {
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
        resent_per_kill.push(ledger.account(&proxy, &server));
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
    let resent_at_the_end = ledger.account(&proxy, &server);
    assert!(resent_at_the_end <= CHUNK, "the last run re-sent {resent_at_the_end} bytes");
    let mut uploads_per_file: HashMap<String, usize> = HashMap::new();
    for upload in server.uploads().unwrap().iter().filter(|u| u.stored_bytes > 0) {
        *uploads_per_file.entry(upload.metadata.get("filename").cloned().unwrap_or_default()).or_default() += 1;
    }
    assert!(uploads_per_file.values().all(|n| *n == 1), "a file was uploaded twice: {uploads_per_file:?}");

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
