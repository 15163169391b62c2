//! Chunk jobs (the iOS background-session path) against a real tus server
//! (@tus/server + @tus/file-store) through the counting proxy: the queue
//! hands out one chunk at a time as a request plus a body file, this test
//! plays the host that sends it later, and relaunches are a queue dropped
//! and opened again on the same journal. The proxy, not the client,
//! counts the bytes that reached the server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use egocap_core::upload::{
    AuthError, AuthProvider, ChunkJob, FileState, HttpRequest, HttpResponse, JobFinished, JobOutcome, JobPlan,
    RunOutcome, Timeouts, Transport, UploadQueue, UreqTransport,
};
use egocap_e2e::fault_proxy::{FaultAction, FaultProxy};
use egocap_e2e::tus_server::TusServer;
use egocap_e2e::upload::{test_config, tus_queue, Recordings};

const SESSION: &str = "8899aabbccddeeff0011223344556677";
const CHUNK: usize = 64 * 1024;

struct Setup {
    dir: tempfile::TempDir,
    server: TusServer,
    proxy: FaultProxy,
    recordings: Recordings,
    auth: Arc<CountingAuth>,
}

fn setup(segments: usize, media_bytes: usize) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let server = TusServer::start(&dir.path().join("store")).unwrap();
    let proxy = FaultProxy::start(server.addr()).unwrap();
    let recordings = Recordings::create(&dir.path().join("recordings"), SESSION, segments, media_bytes).unwrap();
    Setup { dir, server, proxy, recordings, auth: Arc::new(CountingAuth(Mutex::new(0))) }
}

impl Setup {
    /// The app (re)launched: a queue on the same journal, every finished file queued.
    fn launch(&self) -> UploadQueue {
        let auth = Some(self.auth.clone() as Arc<dyn AuthProvider>);
        let queue = tus_queue(self.dir.path(), &self.proxy.endpoint(), auth, test_config(CHUNK)).unwrap();
        queue.enqueue_sessions(&self.recordings.root).unwrap();
        queue
    }

    fn assert_complete(&self, queue: &UploadQueue) {
        self.recordings.assert_all_on(&self.server).unwrap();
        assert!(queue.status().unwrap().iter().all(|f| f.state == FileState::Complete));
    }

    fn resent_bytes(&self) -> u64 {
        self.proxy.patch_body_bytes_forwarded() - self.recordings.total_bytes().unwrap()
    }
}

/// Hands out `Bearer t<n>`; a refresh moves to the next token.
struct CountingAuth(Mutex<u32>);

impl AuthProvider for CountingAuth {
    fn headers(&self) -> Result<Vec<(String, String)>, AuthError> {
        Ok(vec![("Authorization".into(), format!("Bearer t{}", self.0.lock().unwrap()))])
    }
    fn refresh(&self) -> Result<(), AuthError> {
        *self.0.lock().unwrap() += 1;
        Ok(())
    }
}

/// The host's background session: sends the request with the body file
/// as its body, as URLSession's `uploadTask(with:fromFile:)` does.
fn send_job(job: &ChunkJob) -> JobOutcome {
    let body = std::fs::read(&job.body_path).unwrap();
    assert_eq!(body.len() as u64, job.length, "the body file holds exactly the chunk");
    let request = HttpRequest {
        method: job.request.method.clone(),
        url: job.request.url.clone(),
        headers: job.request.headers.clone(),
        body,
    };
    let timeouts = Timeouts { connect: Duration::from_secs(2), read: Duration::from_secs(5), ..Timeouts::default() };
    match UreqTransport::new(timeouts).send(&request) {
        Ok(response) => JobOutcome::Response(response),
        Err(error) => JobOutcome::Failed(error.to_string()),
    }
}

fn submitted(plan: JobPlan) -> ChunkJob {
    match plan {
        JobPlan::Submit(job) => job,
        other => panic!("expected a job, got {other:?}"),
    }
}

/// Plans, sends and reports jobs until the queue is idle; returns the
/// names of the files in the order they completed.
fn drive(queue: &mut UploadQueue) -> (RunOutcome, Vec<String>) {
    let mut completed = Vec::new();
    loop {
        match queue.plan_chunk_job().unwrap() {
            JobPlan::Submit(job) => {
                let outcome = send_job(&job);
                if let JobFinished::Completed { name } = queue.finish_chunk_job(job.id, outcome).unwrap() {
                    completed.push(name);
                }
            }
            JobPlan::Wait { retry_in_ms } => std::thread::sleep(Duration::from_millis(retry_in_ms)),
            JobPlan::Idle(outcome) => return (outcome, completed),
            JobPlan::Busy { job_id } => panic!("job {job_id} is in flight with nobody sending it"),
        }
    }
}

#[test]
fn a_background_host_uploads_every_file_byte_identical_records_before_media() {
    let setup = setup(2, 150_000);
    let mut queue = setup.launch();
    let (outcome, completed) = drive(&mut queue);
    assert_eq!(outcome, RunOutcome::Empty);
    setup.assert_complete(&queue);
    assert_eq!(setup.resent_bytes(), 0);
    let position = |name: &str| completed.iter().position(|c| c == &format!("{SESSION}/{name}")).unwrap();
    for sequence in 0..2 {
        let record = position(&format!("seg-{sequence:06}.record.json"));
        assert!(record < position(&format!("seg-{sequence:06}.mp4.age")), "record after its medium: {completed:?}");
    }
    assert!(position("consent.json") < position("seg-000000.mp4.age"));
    let jobs_dir = setup.dir.path().join("upload-journal.db.jobs");
    assert_eq!(std::fs::read_dir(jobs_dir).unwrap().count(), 0, "every body file is removed once reported");
}

#[test]
fn a_job_that_landed_while_the_app_was_dead_is_acknowledged_on_reconcile_not_resent() {
    let setup = setup(1, 200_000);
    let mut queue = setup.launch();
    let mut job = submitted(queue.plan_chunk_job().unwrap());
    // Send the first chunk of the medium, to land mid-file.
    while !job.name.ends_with(".mp4.age") {
        let outcome = send_job(&job);
        queue.finish_chunk_job(job.id, outcome).unwrap();
        job = submitted(queue.plan_chunk_job().unwrap());
    }
    // The session sends it; the app is killed before hearing back.
    let landed = send_job(&job);
    drop(queue);

    let mut queue = setup.launch();
    assert_eq!(queue.plan_chunk_job().unwrap(), JobPlan::Busy { job_id: job.id });
    assert_eq!(queue.reconcile_chunk_jobs(&[]).unwrap(), 0);
    let medium = queue.status().unwrap().into_iter().find(|f| f.name == job.name).unwrap();
    assert_eq!(medium.acknowledged, job.offset + job.length, "HEAD showed the chunk landed");
    assert!(!job.body_path.exists());
    // The report that arrives late is harmless.
    assert_eq!(queue.finish_chunk_job(job.id, landed).unwrap(), JobFinished::Unknown);
    assert_eq!(drive(&mut queue).0, RunOutcome::Empty);
    setup.assert_complete(&queue);
    assert_eq!(setup.resent_bytes(), 0, "nothing the server held was sent again");
}

#[test]
fn a_live_job_stays_in_flight_and_a_lost_one_is_planned_again_from_the_same_offset() {
    let setup = setup(1, 100_000);
    let mut queue = setup.launch();
    let job = submitted(queue.plan_chunk_job().unwrap());
    drop(queue);

    let mut queue = setup.launch();
    assert_eq!(queue.reconcile_chunk_jobs(&[job.id]).unwrap(), 1, "the host still runs its task");
    assert_eq!(queue.plan_chunk_job().unwrap(), JobPlan::Busy { job_id: job.id });
    // A stray body file from a launch killed while writing one.
    let stray = job.body_path.with_file_name("999-0.chunk");
    std::fs::write(&stray, b"partial").unwrap();
    assert_eq!(queue.reconcile_chunk_jobs(&[]).unwrap(), 0, "the host lost it");
    assert!(!job.body_path.exists() && !stray.exists());
    let again = submitted(queue.plan_chunk_job().unwrap());
    assert_eq!((again.name.as_str(), again.offset, again.length), (job.name.as_str(), job.offset, job.length));
    assert_ne!(again.id, job.id);
    let outcome = send_job(&again);
    queue.finish_chunk_job(again.id, outcome).unwrap();
    assert_eq!(drive(&mut queue).0, RunOutcome::Empty);
    setup.assert_complete(&queue);
    assert_eq!(setup.resent_bytes(), 0);
}

#[test]
fn failed_and_refused_jobs_are_retried_a_cut_resends_at_most_its_chunk() {
    let setup = setup(1, 300_000);
    let mut queue = setup.launch();
    let job = submitted(queue.plan_chunk_job().unwrap());
    let retrying = queue.finish_chunk_job(job.id, JobOutcome::Failed("the connection was lost".into())).unwrap();
    assert!(matches!(retrying, JobFinished::Retrying { retry_in_ms, .. } if retry_in_ms > 0), "{retrying:?}");
    assert!(matches!(queue.plan_chunk_job().unwrap(), JobPlan::Wait { .. } | JobPlan::Submit(_)));
    queue.retry_now().unwrap();
    let _ = queue.reconcile_chunk_jobs(&[]).unwrap();

    setup.proxy.push_fault("PATCH", FaultAction::Respond(503));
    setup.proxy.push_fault("PATCH", FaultAction::CutAfterBodyBytes(20_000));
    assert_eq!(drive(&mut queue).0, RunOutcome::Empty);
    assert_eq!(setup.proxy.pending_faults(), 0);
    setup.assert_complete(&queue);
    let resent = setup.resent_bytes();
    println!("chunk jobs, one PATCH cut mid-body (chunk {CHUNK}): {resent} bytes re-sent");
    assert!(resent <= CHUNK as u64, "{resent} bytes re-sent after one cut");
}

#[test]
fn a_401_refreshes_once_then_jobs_pause_until_retry_now() {
    let setup = setup(1, 50_000);
    let mut queue = setup.launch();
    let unauthorized = || JobOutcome::Response(HttpResponse { status: 401, headers: vec![] });

    let job = submitted(queue.plan_chunk_job().unwrap());
    assert!(job.request.headers.contains(&("Authorization".into(), "Bearer t0".into())));
    assert!(matches!(
        queue.finish_chunk_job(job.id, unauthorized()).unwrap(),
        JobFinished::Retrying { retry_in_ms: 0, .. }
    ));
    let job = submitted(queue.plan_chunk_job().unwrap());
    assert!(job.request.headers.contains(&("Authorization".into(), "Bearer t1".into())), "refreshed");
    assert_eq!(queue.finish_chunk_job(job.id, unauthorized()).unwrap(), JobFinished::Unauthorized);
    assert_eq!(*setup.auth.0.lock().unwrap(), 1, "one refresh");
    assert_eq!(queue.plan_chunk_job().unwrap(), JobPlan::Idle(RunOutcome::Unauthorized));
    drop(queue);
    let mut queue = setup.launch();
    assert_eq!(
        queue.plan_chunk_job().unwrap(),
        JobPlan::Idle(RunOutcome::Unauthorized),
        "the pause survives a relaunch"
    );
    assert!(queue.status().unwrap().iter().all(|f| f.state == FileState::Pending), "nothing was given up");

    queue.retry_now().unwrap();
    assert_eq!(drive(&mut queue).0, RunOutcome::Empty);
    setup.assert_complete(&queue);
}

#[test]
fn a_file_changed_after_queueing_is_refused_not_completed() {
    let setup = setup(0, 0);
    let mut queue = setup.launch();
    let consent = setup.recordings.root.join(SESSION).join("consent.json");
    let mut job = submitted(queue.plan_chunk_job().unwrap());
    while !job.name.ends_with("consent.json") {
        let outcome = send_job(&job);
        queue.finish_chunk_job(job.id, outcome).unwrap();
        job = submitted(queue.plan_chunk_job().unwrap());
    }
    // Same length, other bytes: the staged chunk was read before the change,
    // so only the whole-file check at the end can notice.
    let mut bytes = std::fs::read(&consent).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&consent, &bytes).unwrap();
    let outcome = send_job(&job);
    let finished = queue.finish_chunk_job(job.id, outcome).unwrap();
    assert!(matches!(finished, JobFinished::Refused { .. }), "{finished:?}");
    let state = queue.status().unwrap().into_iter().find(|f| f.name == job.name).unwrap().state;
    assert_eq!(state, FileState::Refused);
    assert!(consent.exists(), "a refused file stays on the device");
}
