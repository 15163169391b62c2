//! Chunk jobs (the iOS background-session path) against a real tus server
//! (@tus/server + @tus/file-store) through the counting proxy: the queue
//! hands out one chunk at a time as a request plus a body file, this test
//! plays the host that sends it later, and relaunches are a queue dropped
//! and opened again on the same journal. The proxy, not the client,
//! counts the bytes that reached the server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use egocap_core::upload::{
    AuthProvider, Backoff, ChunkJob, ChunkJobFinished, FileState, HttpRequest, HttpResponse, JobOutcome, JobPlan,
    QueueConfig, RunOutcome, StopSignal, Timeouts, Transport, UploadQueue, UreqTransport,
};
use egocap_e2e::fault_proxy::{FaultAction, FaultProxy};
use egocap_e2e::tus_server::TusServer;
use egocap_e2e::upload::{test_config, tus_queue, Recordings, RotatingToken};

const SESSION: &str = "8899aabbccddeeff0011223344556677";
const CHUNK: usize = 64 * 1024;

struct Setup {
    dir: tempfile::TempDir,
    server: TusServer,
    proxy: FaultProxy,
    recordings: Recordings,
    auth: Arc<RotatingToken>,
}

fn setup(segments: usize, media_bytes: usize) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let server = TusServer::start(&dir.path().join("store")).unwrap();
    let proxy = FaultProxy::start(server.addr()).unwrap();
    let recordings = Recordings::create(&dir.path().join("recordings"), SESSION, segments, media_bytes).unwrap();
    Setup { dir, server, proxy, recordings, auth: Arc::new(RotatingToken::default()) }
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

/// Plans, sends and reports jobs until the next one is of a file whose
/// name ends with `suffix`; returns that job, unsent. Checks on the way
/// that only media (and what follows them) keep off metered networks.
fn send_jobs_until(queue: &mut UploadQueue, suffix: &str) -> ChunkJob {
    loop {
        let job = submitted(queue.plan_chunk_job().unwrap());
        let media_rules = job.name.ends_with(".mp4.age") || job.name.ends_with("session-end.json");
        assert_eq!(job.allows_metered, !media_rules, "{}", job.name);
        if job.name.ends_with(suffix) {
            return job;
        }
        let outcome = send_job(&job);
        queue.finish_chunk_job(job.id, outcome).unwrap();
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
                if let ChunkJobFinished::Completed { name } = queue.finish_chunk_job(job.id, outcome).unwrap() {
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
    let job = send_jobs_until(&mut queue, ".mp4.age");
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
    assert_eq!(queue.finish_chunk_job(job.id, landed).unwrap(), ChunkJobFinished::Unknown);
    assert_eq!(drive(&mut queue).0, RunOutcome::Empty);
    setup.assert_complete(&queue);
    assert_eq!(setup.resent_bytes(), 0, "nothing the server held was sent again");
}

#[test]
fn a_live_job_stays_in_flight_and_a_lost_one_is_planned_again_from_the_same_offset() {
    let setup = setup(1, 100_000);
    let mut queue = setup.launch();
    let job = submitted(queue.plan_chunk_job().unwrap());
    // A task started since launch may not be in the host's list yet: kept.
    assert_eq!(queue.reconcile_chunk_jobs(&[]).unwrap(), 1, "a job of this launch stays");
    assert!(job.body_path.exists());
    drop(queue);

    let mut queue = setup.launch();
    assert_eq!(queue.reconcile_chunk_jobs(&[job.id]).unwrap(), 1, "the host still runs its task");
    assert_eq!(queue.plan_chunk_job().unwrap(), JobPlan::Busy { job_id: job.id });
    // A stray body file from a launch killed while writing one.
    let stray = job.body_path.with_file_name("999.chunk");
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
fn a_chunk_that_partly_landed_stays_with_its_live_task_and_resumes_where_the_server_stands_once_lost() {
    // A chunk large enough that the server keeps part of a body cut at 400 kB
    // (node drops up to ~110 kB it had buffered; see tus_harness).
    const BIG_CHUNK: usize = 512 * 1024;
    let setup = setup(1, 1_200_000);
    let auth = Some(setup.auth.clone() as Arc<dyn AuthProvider>);
    let queue_at =
        |dir: &std::path::Path| tus_queue(dir, &setup.proxy.endpoint(), auth.clone(), test_config(BIG_CHUNK));
    let mut queue = queue_at(setup.dir.path()).unwrap();
    queue.enqueue_sessions(&setup.recordings.root).unwrap();
    let job = send_jobs_until(&mut queue, ".mp4.age");
    assert_eq!((job.offset, job.length), (0, BIG_CHUNK as u64));
    setup.proxy.push_fault("PATCH", FaultAction::CutAfterBodyBytes(400_000));
    assert!(matches!(send_job(&job), JobOutcome::Failed(_)), "the link broke mid-body");
    drop(queue);

    let mut queue = queue_at(setup.dir.path()).unwrap();
    assert_eq!(queue.reconcile_chunk_jobs(&[job.id]).unwrap(), 1, "part of a live task's chunk is not its end");
    assert!(job.body_path.exists());
    assert_eq!(queue.reconcile_chunk_jobs(&[]).unwrap(), 0);
    let medium = queue.status().unwrap().into_iter().find(|f| f.name == job.name).unwrap();
    println!("the server kept {} of the {} bytes forwarded before the cut", medium.acknowledged, 400_000);
    assert!(medium.acknowledged > 0 && medium.acknowledged < job.length, "{} bytes acknowledged", medium.acknowledged);
    // The server may still have been writing the cut body at the HEAD above.
    let next = submitted(queue.plan_chunk_job().unwrap());
    assert!(next.offset >= medium.acknowledged && next.offset < job.length, "next job at {}", next.offset);
    let outcome = send_job(&next);
    queue.finish_chunk_job(next.id, outcome).unwrap();
    assert_eq!(drive(&mut queue).0, RunOutcome::Empty);
    setup.assert_complete(&queue);
    let resent = setup.resent_bytes();
    println!("chunk jobs, one PATCH cut mid-body (chunk {BIG_CHUNK}): {resent} bytes re-sent");
    assert!(resent <= BIG_CHUNK as u64, "{resent} bytes re-sent after one cut");
}

#[test]
fn failures_back_off_refusals_wait_for_retry_now_and_a_lost_upload_is_created_anew() {
    let setup = setup(1, 300_000);
    let config = QueueConfig { backoff: Backoff { first_ms: 60_000, cap_ms: 60_000 }, ..test_config(CHUNK) };
    let auth = Some(setup.auth.clone() as Arc<dyn AuthProvider>);
    let mut queue = tus_queue(setup.dir.path(), &setup.proxy.endpoint(), auth, config).unwrap();
    queue.enqueue_sessions(&setup.recordings.root).unwrap();
    let response = |status| JobOutcome::Response(HttpResponse { status, headers: vec![] });

    let job = submitted(queue.plan_chunk_job().unwrap());
    let failed = queue.finish_chunk_job(job.id, JobOutcome::Failed("the connection was lost".into())).unwrap();
    assert!(matches!(failed, ChunkJobFinished::Retrying { retry_in_ms, .. } if retry_in_ms >= 30_000), "{failed:?}");
    assert!(matches!(queue.plan_chunk_job().unwrap(), JobPlan::Wait { retry_in_ms } if retry_in_ms > 1_000));
    queue.retry_now().unwrap();

    // Someone else's offset (409) is a failure with a backoff, not a tight loop.
    let job = submitted(queue.plan_chunk_job().unwrap());
    let conflict = queue.finish_chunk_job(job.id, response(409)).unwrap();
    assert!(matches!(conflict, ChunkJobFinished::Retrying { retry_in_ms, .. } if retry_in_ms > 0), "{conflict:?}");
    queue.retry_now().unwrap();

    // The upload expired: created anew at the next plan.
    let job = submitted(queue.plan_chunk_job().unwrap());
    assert!(matches!(queue.finish_chunk_job(job.id, response(404)).unwrap(), ChunkJobFinished::Retrying { .. }));
    let file = queue.status().unwrap().into_iter().find(|f| f.name == job.name).unwrap();
    assert_eq!(file.location, None);
    queue.retry_now().unwrap();
    let anew = submitted(queue.plan_chunk_job().unwrap());
    assert_ne!(anew.request.url, job.request.url);

    // A 4xx is a refusal: the file stays, waits for retry now.
    let refused = queue.finish_chunk_job(anew.id, response(403)).unwrap();
    assert!(matches!(refused, ChunkJobFinished::Refused { .. }), "{refused:?}");
    let file = queue.status().unwrap().into_iter().find(|f| f.name == anew.name).unwrap();
    assert_eq!(file.state, FileState::Refused);
    queue.retry_now().unwrap();

    setup.proxy.push_fault("PATCH", FaultAction::Respond(503));
    let job = submitted(queue.plan_chunk_job().unwrap());
    let outcome = send_job(&job);
    assert!(matches!(queue.finish_chunk_job(job.id, outcome).unwrap(), ChunkJobFinished::Retrying { .. }));
    queue.retry_now().unwrap();
    assert_eq!(drive(&mut queue).0, RunOutcome::Empty);
    setup.assert_complete(&queue);
}

#[test]
fn a_foreground_run_leaves_a_file_with_a_job_in_flight_to_its_task() {
    let setup = setup(1, 100_000);
    let mut queue = setup.launch();
    let job = send_jobs_until(&mut queue, ".mp4.age");
    let before = setup.proxy.patch_body_bytes_forwarded();
    // The medium is its task's; the session's end, after it, waits too.
    assert_eq!(queue.run_until_empty(&StopSignal::new()).unwrap(), RunOutcome::WaitingForChunkJob);
    assert_eq!(setup.proxy.patch_body_bytes_forwarded(), before, "the run sent nothing");
    let outcome = send_job(&job);
    assert!(matches!(queue.finish_chunk_job(job.id, outcome).unwrap(), ChunkJobFinished::Acknowledged { .. }));
    assert_eq!(queue.run_until_empty(&StopSignal::new()).unwrap(), RunOutcome::Empty);
    setup.assert_complete(&queue);
    assert_eq!(setup.resent_bytes(), 0);
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
        ChunkJobFinished::Retrying { retry_in_ms: 0, .. }
    ));
    let job = submitted(queue.plan_chunk_job().unwrap());
    assert!(job.request.headers.contains(&("Authorization".into(), "Bearer t1".into())), "refreshed");
    assert_eq!(queue.finish_chunk_job(job.id, unauthorized()).unwrap(), ChunkJobFinished::Unauthorized);
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
fn a_401_while_planning_pauses_planning_without_more_requests() {
    let setup = setup(0, 0);
    setup.proxy.require_bearer(Some("never".into()));
    let mut queue = setup.launch();
    assert_eq!(queue.plan_chunk_job().unwrap(), JobPlan::Idle(RunOutcome::Unauthorized));
    let requests = setup.proxy.log().len();
    assert_eq!(queue.plan_chunk_job().unwrap(), JobPlan::Idle(RunOutcome::Unauthorized));
    assert_eq!(setup.proxy.log().len(), requests, "paused: no request, no refresh");
    setup.proxy.require_bearer(None);
    queue.retry_now().unwrap();
    assert_eq!(drive(&mut queue).0, RunOutcome::Empty);
    setup.assert_complete(&queue);
}

#[test]
fn a_file_changed_after_queueing_is_refused_not_completed() {
    let setup = setup(0, 0);
    let mut queue = setup.launch();
    let consent = setup.recordings.root.join(SESSION).join("consent.json");
    let job = send_jobs_until(&mut queue, "consent.json");
    // Same length, other bytes: the staged chunk was read before the change,
    // so only the whole-file check at the end can notice.
    let mut bytes = std::fs::read(&consent).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&consent, &bytes).unwrap();
    let outcome = send_job(&job);
    let finished = queue.finish_chunk_job(job.id, outcome).unwrap();
    assert!(matches!(finished, ChunkJobFinished::Refused { .. }), "{finished:?}");
    let state = queue.status().unwrap().into_iter().find(|f| f.name == job.name).unwrap().state;
    assert_eq!(state, FileState::Refused);
    assert!(consent.exists(), "a refused file stays on the device");
}
