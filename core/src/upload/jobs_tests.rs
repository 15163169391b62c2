use sha2::Digest as _;

use super::*;
use crate::provenance::consent::ConsentWithdrawal;
use crate::provenance::keystore::FileKeyStore;
use crate::provenance::values::UtcInstant;
use crate::upload::inbox::InboxTarget;
use crate::upload::journal::NewFile;
use crate::upload::lane::Lane;
use crate::upload::queue::QueueConfig;
use crate::upload::target::{UploadDescription, UploadTarget};

const SESSION: &str = "0123456789abcdef0123456789abcdef";

/// The inbox, handing out jobs as an HTTP target would: a job's URL is
/// the inbox location, and the "response" carries the offset it holds.
struct JobInbox(InboxTarget);

impl UploadTarget for JobInbox {
    fn create(&mut self, file: &UploadDescription) -> Result<String, TargetError> {
        self.0.create(file)
    }
    fn offset(&mut self, location: &str) -> Result<RemoteOffset, TargetError> {
        self.0.offset(location)
    }
    fn append(&mut self, location: &str, offset: u64, chunk: &[u8]) -> Result<u64, TargetError> {
        self.0.append(location, offset, chunk)
    }
    fn abandon(&mut self, location: &str) -> Result<(), TargetError> {
        self.0.abandon(location)
    }
    fn hands_out_jobs(&self) -> bool {
        true
    }
    fn append_request(&mut self, location: &str, _offset: u64, _length: u64) -> Result<JobRequest, TargetError> {
        Ok(JobRequest { method: "PATCH".into(), url: location.into(), headers: vec![] })
    }
    fn append_response(&mut self, _offset: u64, response: &HttpResponse) -> Result<u64, TargetError> {
        response.header("Upload-Offset").and_then(|v| v.parse().ok()).ok_or(TargetError::Gone)
    }
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }

    fn queue(&self) -> UploadQueue {
        let target = Box::new(JobInbox(InboxTarget::new(&self.dir.path().join("inbox"))));
        let config = QueueConfig { chunk_size: 4_096, ..QueueConfig::default() };
        UploadQueue::open(&self.dir.path().join("journal.db"), target, config).unwrap()
    }

    /// Queues a medium of 10 000 bytes recorded under `consent`.
    fn enqueue(&self, queue: &UploadQueue, name: &str, consent: &str) {
        let dir = self.dir.path().join("recordings").join(SESSION);
        std::fs::create_dir_all(&dir).unwrap();
        let bytes = vec![name.as_bytes()[0]; 10_000];
        std::fs::write(dir.join(name), &bytes).unwrap();
        let file = NewFile {
            path: dir.join(name),
            name: format!("{SESSION}/{name}"),
            lane: Lane::Media,
            size: 10_000,
            sha256: hex::encode(sha2::Sha256::digest(&bytes)),
            record_sha256: None,
            consent_id: Some(consent.into()),
        };
        queue.journal.enqueue(&file).unwrap();
    }

    /// Sends a job as the host would: its body, appended at the inbox.
    fn send(&self, job: &ChunkJob) -> JobOutcome {
        let body = std::fs::read(&job.body_path).unwrap();
        let mut inbox = InboxTarget::new(&self.dir.path().join("inbox"));
        let held = inbox.append(&job.request.url, job.offset, &body).unwrap();
        JobOutcome::Response(HttpResponse { status: 204, headers: vec![("Upload-Offset".into(), held.to_string())] })
    }
}

fn submitted(plan: JobPlan) -> ChunkJob {
    match plan {
        JobPlan::Submit(job) => job,
        other => panic!("expected a job, got {other:?}"),
    }
}

#[test]
fn a_target_that_is_not_http_refuses_to_plan_and_leaves_the_files_pending() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("consent.json");
    std::fs::write(&file, b"{}").unwrap();
    let target = Box::new(InboxTarget::new(&dir.path().join("inbox")));
    let mut queue = UploadQueue::open(&dir.path().join("journal.db"), target, QueueConfig::default()).unwrap();
    queue.enqueue_file(&file, "s/consent.json").unwrap();
    assert!(matches!(queue.plan_chunk_job(), Err(QueueError::InvalidConfig(_))));
    assert_eq!(queue.status().unwrap()[0].state, FileState::Pending);
}

#[test]
fn a_purge_takes_the_job_and_its_body_with_the_file_and_its_late_report_is_unknown() {
    let fixture = Fixture::new();
    let mut queue = fixture.queue();
    let consent = "33".repeat(16);
    fixture.enqueue(&queue, "a.bin", &consent);
    let job = submitted(queue.plan_chunk_job().unwrap());
    let first = fixture.send(&job);
    assert!(matches!(queue.finish_chunk_job(job.id, first).unwrap(), ChunkJobFinished::Acknowledged { .. }));
    let job = submitted(queue.plan_chunk_job().unwrap());
    assert!(job.body_path.exists());

    let device = FileKeyStore::ephemeral().unwrap();
    let withdrawal = ConsentWithdrawal::sign(&device, &consent, UtcInstant(1_000)).unwrap();
    let recordings = fixture.dir.path().join("recordings");
    let report = queue.purge_consent(&recordings, &withdrawal, &device, UtcInstant(2_000)).unwrap();
    assert_eq!(report.purged.len(), 1);
    assert!(!job.body_path.exists(), "the body, a copy of withdrawn footage, went with the file");
    assert_eq!(
        queue.finish_chunk_job(job.id, JobOutcome::Failed("cancelled".into())).unwrap(),
        ChunkJobFinished::Unknown
    );
    // What is planned next is the withdrawal and its purge record.
    let next = submitted(queue.plan_chunk_job().unwrap());
    assert!(next.name.starts_with("records/"), "{}", next.name);
}

#[test]
fn an_outcome_for_an_upload_since_created_anew_is_ignored() {
    let fixture = Fixture::new();
    let mut queue = fixture.queue();
    fixture.enqueue(&queue, "a.bin", &"44".repeat(16));
    let job = submitted(queue.plan_chunk_job().unwrap());
    let landed = fixture.send(&job);
    let file = queue.status().unwrap().remove(0);
    // Meanwhile the upload was lost and created anew elsewhere.
    queue.journal.set_location(file.id, Some("elsewhere"), 0).unwrap();
    assert_eq!(queue.finish_chunk_job(job.id, landed).unwrap(), ChunkJobFinished::Unknown);
    assert_eq!(queue.status().unwrap()[0].acknowledged, 0, "nothing acknowledged for the new upload");
}

#[test]
fn reconcile_acknowledges_a_landed_job_and_forgets_a_lost_upload() {
    let fixture = Fixture::new();
    let mut queue = fixture.queue();
    fixture.enqueue(&queue, "a.bin", &"55".repeat(16));
    fixture.enqueue(&queue, "b.bin", &"55".repeat(16));
    let job = submitted(queue.plan_chunk_job().unwrap());
    let _unreported = fixture.send(&job);
    drop(queue);
    let mut queue = fixture.queue();
    assert_eq!(queue.reconcile_chunk_jobs(&[job.id]).unwrap(), 0, "landed whole: settled even though live");
    assert_eq!(queue.status().unwrap()[0].acknowledged, job.length);

    let job = submitted(queue.plan_chunk_job().unwrap());
    drop(queue);
    let mut inbox = InboxTarget::new(&fixture.dir.path().join("inbox"));
    inbox.abandon(&job.request.url).unwrap();
    let mut queue = fixture.queue();
    assert_eq!(queue.reconcile_chunk_jobs(&[job.id]).unwrap(), 0, "the upload is gone at the target");
    let file = queue.status().unwrap().remove(0);
    assert_eq!((file.location, file.acknowledged), (None, 0), "created anew at the next plan");
    assert_eq!(submitted(queue.plan_chunk_job().unwrap()).offset, 0);
}
