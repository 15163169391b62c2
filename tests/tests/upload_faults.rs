//! The upload queue against a real tus server (@tus/server + @tus/file-store)
//! through a fault proxy that cuts, stalls, fails and refuses requests. Each
//! case ends with every file complete and byte-identical on the server; the
//! proxy, not the client, counts the bytes sent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use egocap_core::upload::{AuthProvider, FileState, RunOutcome, StopSignal, UploadEvent, UploadListener};
use egocap_e2e::fault_proxy::{FaultAction, FaultProxy};
use egocap_e2e::tus_server::TusServer;
use egocap_e2e::upload::{test_config, tus_queue, Recordings, RotatingToken};

const SESSION: &str = "00112233445566778899aabbccddeeff";
const CHUNK: usize = 64 * 1024;

struct Setup {
    dir: tempfile::TempDir,
    server: Arc<Mutex<TusServer>>,
    proxy: FaultProxy,
    recordings: Recordings,
}

fn setup(segments: usize, media_bytes: usize) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let server = TusServer::start(&dir.path().join("store")).unwrap();
    let proxy = FaultProxy::start(server.addr()).unwrap();
    let recordings = Recordings::create(&dir.path().join("recordings"), SESSION, segments, media_bytes).unwrap();
    Setup { dir, server: Arc::new(Mutex::new(server)), proxy, recordings }
}

impl Setup {
    fn run(&self, auth: Option<Arc<dyn AuthProvider>>, listener: Option<Arc<dyn UploadListener>>) -> RunOutcome {
        let mut queue = tus_queue(self.dir.path(), &self.proxy.endpoint(), auth, test_config(CHUNK)).unwrap();
        if let Some(listener) = listener {
            queue.set_listener(listener);
        }
        queue.enqueue_sessions(&self.recordings.root).unwrap();
        queue.run_until_empty(&StopSignal::new()).unwrap()
    }

    fn assert_complete(&self) {
        self.recordings.assert_all_on(&self.server.lock().unwrap()).unwrap();
    }

    fn resent_bytes(&self) -> u64 {
        self.proxy.patch_body_bytes_forwarded() - self.recordings.total_bytes().unwrap()
    }
}

#[test]
fn connections_cut_mid_patch_resend_at_most_one_chunk_each() {
    let setup = setup(3, 300_000);
    for cut_at in [10_000, 40_000, 63_000] {
        setup.proxy.push_fault("PATCH", FaultAction::CutAfterBodyBytes(cut_at));
    }
    assert_eq!(setup.run(None, None), RunOutcome::Empty);
    setup.assert_complete();
    assert_eq!(setup.proxy.pending_faults(), 0, "every cut happened");
    let resent = setup.resent_bytes();
    println!("3 cuts mid-PATCH (chunk {CHUNK}): {resent} bytes re-sent in all");
    assert!(resent <= 3 * CHUNK as u64, "{resent} bytes re-sent over 3 cuts");
}

#[test]
fn a_stalled_connection_times_out_and_the_upload_completes() {
    let setup = setup(1, 200_000);
    setup.proxy.push_fault("PATCH", FaultAction::Stall);
    assert_eq!(setup.run(None, None), RunOutcome::Empty);
    setup.assert_complete();
    assert!(setup.proxy.log().iter().any(|r| r.outcome == egocap_e2e::fault_proxy::RequestOutcome::Stalled));
}

#[test]
fn server_errors_are_retried_until_every_file_is_complete() {
    let setup = setup(2, 150_000);
    setup.proxy.push_fault("POST", FaultAction::Respond(503));
    setup.proxy.push_fault("PATCH", FaultAction::Respond(500));
    setup.proxy.push_fault("PATCH", FaultAction::Respond(503));
    setup.proxy.push_fault("HEAD", FaultAction::Respond(500));
    assert_eq!(setup.run(None, None), RunOutcome::Empty);
    setup.assert_complete();
    assert_eq!(setup.proxy.pending_faults(), 0, "the HEAD fault came with the resume after the failed PATCH");
    let statuses: Vec<u16> = setup.proxy.log().iter().filter_map(|r| r.status()).filter(|s| *s >= 500).collect();
    assert_eq!(statuses.len(), 4, "{statuses:?}");
}

#[test]
fn a_401_refreshes_the_token_once_and_a_second_401_pauses_the_queue() {
    let setup = setup(1, 100_000);
    setup.proxy.require_bearer(Some("t1".into()));
    let auth = Arc::new(RotatingToken(Mutex::new(0)));
    assert_eq!(setup.run(Some(auth.clone()), None), RunOutcome::Empty);
    setup.assert_complete();
    let refused = setup.proxy.log().iter().filter(|r| r.status() == Some(401)).count();
    assert_eq!(refused, 1, "one 401, then the refreshed token");

    let setup = self::setup(1, 100_000);
    setup.proxy.require_bearer(Some("never".into()));
    assert_eq!(setup.run(Some(Arc::new(RotatingToken(Mutex::new(0)))), None), RunOutcome::Unauthorized);
    let queue = tus_queue(setup.dir.path(), &setup.proxy.endpoint(), None, test_config(CHUNK)).unwrap();
    assert!(queue.status().unwrap().iter().all(|f| f.state == FileState::Pending), "nothing was given up");
}

/// Acts once, on the first progress of a medium, halfway through it.
struct OnMediaProgress<F: Fn() + Send + Sync>(Mutex<Option<F>>);

impl<F: Fn() + Send + Sync> UploadListener for OnMediaProgress<F> {
    fn on_upload_event(&self, event: UploadEvent) {
        if let UploadEvent::Progress { name, acknowledged, size } = event {
            if name.ends_with(".mp4.age") && acknowledged * 2 >= size {
                if let Some(action) = self.0.lock().unwrap().take() {
                    action();
                }
            }
        }
    }
}

#[test]
fn a_server_restarted_mid_upload_is_resumed_from_its_stored_offset() {
    let setup = setup(2, 400_000);
    let server = setup.server.clone();
    let restart = move || server.lock().unwrap().restart().unwrap();
    assert_eq!(setup.run(None, Some(Arc::new(OnMediaProgress(Mutex::new(Some(restart)))))), RunOutcome::Empty);
    setup.assert_complete();
    let resent = setup.resent_bytes();
    assert!(resent <= CHUNK as u64, "{resent} bytes re-sent across the restart");
}

#[test]
fn an_expired_upload_is_created_anew_and_completes() {
    let setup = setup(1, 400_000);
    let server = setup.server.clone();
    let expire = move || {
        let server = server.lock().unwrap();
        let partial = server.uploads().unwrap().into_iter().find(|u| !u.is_complete()).unwrap();
        server.expire(&partial.id).unwrap();
    };
    assert_eq!(setup.run(None, Some(Arc::new(OnMediaProgress(Mutex::new(Some(expire)))))), RunOutcome::Empty);
    setup.assert_complete();
    let statuses: Vec<_> = setup.proxy.log().iter().filter_map(|r| r.status()).collect();
    assert!(statuses.contains(&404) || statuses.contains(&410), "{statuses:?}");
}

#[test]
fn a_file_missing_from_disk_is_reported_and_the_rest_arrives() {
    let setup = setup(2, 50_000);
    let queue = tus_queue(setup.dir.path(), &setup.proxy.endpoint(), None, test_config(CHUNK)).unwrap();
    queue.enqueue_sessions(&setup.recordings.root).unwrap();
    drop(queue);
    let gone = format!("{SESSION}/seg-000001.mp4.age");
    std::fs::remove_file(setup.recordings.root.join(&gone)).unwrap();
    assert_eq!(setup.run(None, None), RunOutcome::Empty);
    let queue = tus_queue(setup.dir.path(), &setup.proxy.endpoint(), None, test_config(CHUNK)).unwrap();
    for file in queue.status().unwrap() {
        let expected = if file.name == gone { FileState::Missing } else { FileState::Complete };
        assert_eq!(file.state, expected, "{}", file.name);
    }
    let mut rest = setup.recordings.files.clone();
    rest.remove(&gone);
    Recordings { root: setup.recordings.root.clone(), files: rest }
        .assert_all_on(&setup.server.lock().unwrap())
        .unwrap();
}

#[test]
fn records_reach_the_server_before_the_media_that_cite_them() {
    let setup = setup(3, 100_000);
    assert_eq!(setup.run(None, None), RunOutcome::Empty);
    setup.assert_complete();
    // Creation order, from the proxy's log (Upload-Metadata names each file).
    let created: Vec<String> = setup
        .proxy
        .log()
        .iter()
        .filter(|r| r.method == "POST")
        .filter_map(|r| r.upload_metadata.as_deref().and_then(filename_of))
        .collect();
    let position = |name: &str| created.iter().position(|c| c.ends_with(name)).unwrap();
    let first_media = (0..3).map(|s| position(&format!("seg-{s:06}.mp4.age"))).min().unwrap();
    for record in ["device.json", "recipients.json", "consent.json"] {
        assert!(position(record) < first_media, "{record} after media: {created:?}");
    }
    for sequence in 0..3 {
        assert!(position(&format!("seg-{sequence:06}.record.json")) < position(&format!("seg-{sequence:06}.mp4.age")));
    }
    assert_eq!(position("session-end.json"), created.len() - 1);
}

fn filename_of(metadata: &str) -> Option<String> {
    use base64::Engine as _;
    let value = metadata.split(',').find_map(|pair| pair.trim().strip_prefix("filename "))?;
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(value).ok()?).ok()
}
