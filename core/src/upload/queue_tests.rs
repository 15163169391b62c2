use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Mutex;

use sha2::Digest as _;

use super::*;
use crate::upload::inbox::InboxTarget;
use crate::upload::lane::Lane;
use crate::upload::schedule::NetworkKind;

const SESSION: &str = "0123456789abcdef0123456789abcdef";

/// The inbox, with failures injected before chosen appends, counting the
/// bytes it was handed.
struct FlakyInbox {
    inbox: InboxTarget,
    failures: Arc<Mutex<VecDeque<(usize, TargetError)>>>,
    appends: Arc<Mutex<usize>>,
    bytes_sent: Arc<Mutex<u64>>,
}

impl UploadTarget for FlakyInbox {
    fn create(&mut self, file: &UploadDescription) -> Result<String, TargetError> {
        self.inbox.create(file)
    }
    fn offset(&mut self, location: &str) -> Result<RemoteOffset, TargetError> {
        self.inbox.offset(location)
    }
    fn append(&mut self, location: &str, offset: u64, chunk: &[u8]) -> Result<u64, TargetError> {
        let mut appends = self.appends.lock().unwrap();
        *appends += 1;
        *self.bytes_sent.lock().unwrap() += chunk.len() as u64;
        let mut failures = self.failures.lock().unwrap();
        if failures.front().is_some_and(|(at, _)| *at == *appends) {
            let (_, error) = failures.pop_front().unwrap();
            // Half the chunk reached the target before the link broke.
            let _ = self.inbox.append(location, offset, &chunk[..chunk.len() / 2]);
            return Err(error);
        }
        self.inbox.append(location, offset, chunk)
    }
    fn abandon(&mut self, location: &str) -> Result<(), TargetError> {
        self.inbox.abandon(location)
    }
}

#[derive(Default)]
struct Events(Mutex<Vec<UploadEvent>>);

impl UploadListener for Events {
    fn on_upload_event(&self, event: UploadEvent) {
        self.0.lock().unwrap().push(event);
    }
}

impl Events {
    fn completed(&self) -> Vec<String> {
        let events = self.0.lock().unwrap();
        events
            .iter()
            .filter_map(|e| if let UploadEvent::Completed { name } = e { Some(name.clone()) } else { None })
            .collect()
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    failures: Arc<Mutex<VecDeque<(usize, TargetError)>>>,
    bytes_sent: Arc<Mutex<u64>>,
    appends: Arc<Mutex<usize>>,
}

impl Fixture {
    /// A sealed session: identity records, two recorded segments, one in progress, the end record.
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let session = dir.path().join("recordings").join(SESSION);
        std::fs::create_dir_all(&session).unwrap();
        for (name, size) in [
            ("device.json", 300),
            ("recipients.json", 400),
            ("consent.json", 500),
            ("seg-000000.mp4.age", 25_000),
            ("seg-000000.record.json", 900),
            ("seg-000001.mp4.age", 17_001),
            ("seg-000001.record.json", 901),
            // The segment in progress: sealed, its record not yet written.
            ("seg-000002.mp4.age", 5_000),
            ("session-end.json", 200),
        ] {
            let bytes: Vec<u8> = (0..size).map(|i| (i * 7 + name.len()) as u8).collect();
            std::fs::write(session.join(name), bytes).unwrap();
        }
        Self { dir, failures: Arc::default(), bytes_sent: Arc::default(), appends: Arc::default() }
    }

    fn recordings(&self) -> PathBuf {
        self.dir.path().join("recordings")
    }

    fn inbox(&self) -> PathBuf {
        self.dir.path().join("inbox")
    }

    fn queue(&self, config: QueueConfig) -> UploadQueue {
        let target = FlakyInbox {
            inbox: InboxTarget::new(&self.inbox()),
            failures: self.failures.clone(),
            appends: self.appends.clone(),
            bytes_sent: self.bytes_sent.clone(),
        };
        UploadQueue::open(&self.dir.path().join("journal.db"), Box::new(target), config).unwrap()
    }

    fn assert_inbox_holds_every_finished_file(&self) {
        let session = self.recordings().join(SESSION);
        for name in ["device.json", "consent.json", "seg-000000.mp4.age", "seg-000001.record.json", "session-end.json"]
        {
            let sent = std::fs::read(self.inbox().join(SESSION).join(name)).unwrap();
            assert_eq!(sent, std::fs::read(session.join(name)).unwrap(), "{name}");
        }
        assert!(!self.inbox().join(SESSION).join("seg-000002.mp4.age").exists(), "in progress, not sent");
    }
}

fn small_chunks() -> QueueConfig {
    QueueConfig { chunk_size: 4_096, backoff: Backoff { first_ms: 1, cap_ms: 4 }, ..QueueConfig::default() }
}

#[test]
fn sends_records_before_media_and_keeps_files_through_retention() {
    let fixture = Fixture::new();
    let mut queue = fixture.queue(small_chunks());
    let events = Arc::new(Events::default());
    queue.set_listener(events.clone());
    assert_eq!(queue.enqueue_sessions(&fixture.recordings()).unwrap(), 8);
    assert_eq!(queue.enqueue_sessions(&fixture.recordings()).unwrap(), 0, "adopting twice adds nothing");
    assert_eq!(queue.run_until_empty(&StopSignal::new()).unwrap(), RunOutcome::Empty);
    fixture.assert_inbox_holds_every_finished_file();
    let order: Vec<Lane> = events
        .completed()
        .iter()
        .map(|name| Lane::of_session_file(name.rsplit('/').next().unwrap()).unwrap())
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted, "records first, then media, then the end");
    assert_eq!(*fixture.bytes_sent.lock().unwrap(), 300 + 400 + 500 + 25_000 + 900 + 17_001 + 901 + 200);
    assert!(queue.status().unwrap().iter().all(|f| f.state == FileState::Complete && f.path.exists()));
}

#[test]
fn files_are_deleted_only_when_complete_and_retention_has_passed() {
    let fixture = Fixture::new();
    let mut queue = fixture.queue(QueueConfig { retention: Duration::ZERO, ..small_chunks() });
    queue.enqueue_sessions(&fixture.recordings()).unwrap();
    fixture.failures.lock().unwrap().push_back((3, TargetError::Refused("413".into())));
    queue.run_until_empty(&StopSignal::new()).unwrap();
    let status = queue.status().unwrap();
    let refused: Vec<_> = status.iter().filter(|f| f.state == FileState::Refused).collect();
    assert_eq!(refused.len(), 1);
    assert!(refused[0].path.exists(), "a refused file stays on the device");
    for file in status.iter().filter(|f| f.state == FileState::Deleted) {
        assert!(!file.path.exists());
        assert_eq!(std::fs::metadata(fixture.inbox().join(&file.name)).unwrap().len(), file.size);
    }
    queue.retry_now().unwrap();
    assert_eq!(queue.run_until_empty(&StopSignal::new()).unwrap(), RunOutcome::Empty);
    assert!(queue.status().unwrap().iter().all(|f| f.state == FileState::Deleted));
}

#[test]
fn a_broken_link_resends_at_most_the_chunk_in_flight() {
    let fixture = Fixture::new();
    let mut queue = fixture.queue(small_chunks());
    queue.enqueue_sessions(&fixture.recordings()).unwrap();
    for at in [5, 9, 10, 14] {
        fixture.failures.lock().unwrap().push_back((at, TargetError::Transient("connection reset".into())));
    }
    assert_eq!(queue.run_until_empty(&StopSignal::new()).unwrap(), RunOutcome::Empty);
    fixture.assert_inbox_holds_every_finished_file();
    let total: u64 = queue.status().unwrap().iter().map(|f| f.size).sum();
    let resent = *fixture.bytes_sent.lock().unwrap() - total;
    assert!(resent <= 4 * 4_096, "{resent} bytes re-sent over 4 interruptions");
}

#[test]
fn a_new_process_resumes_from_the_journal_and_the_targets_offset() {
    let fixture = Fixture::new();
    {
        let mut queue = fixture.queue(small_chunks());
        queue.enqueue_sessions(&fixture.recordings()).unwrap();
        fixture.failures.lock().unwrap().push_back((6, TargetError::Transient("killed".into())));
        // Stop as soon as the failure is scheduled for a retry.
        let stop = Arc::new(StopSignal::new());
        queue.set_listener(Arc::new(StopOnRetry(stop.clone())));
        assert_eq!(queue.run_until_empty(&stop).unwrap(), RunOutcome::Stopped);
    }
    let sent_before = *fixture.bytes_sent.lock().unwrap();
    let mut queue = fixture.queue(QueueConfig { backoff: Backoff { first_ms: 0, cap_ms: 0 }, ..small_chunks() });
    queue.retry_now().unwrap();
    assert_eq!(queue.run_until_empty(&StopSignal::new()).unwrap(), RunOutcome::Empty);
    fixture.assert_inbox_holds_every_finished_file();
    let total: u64 = queue.status().unwrap().iter().map(|f| f.size).sum();
    assert!(sent_before > 0);
    assert!(*fixture.bytes_sent.lock().unwrap() - total <= 4_096);
}

struct StopOnRetry(Arc<StopSignal>);

impl UploadListener for StopOnRetry {
    fn on_upload_event(&self, event: UploadEvent) {
        if matches!(event, UploadEvent::Retrying { .. }) {
            self.0.stop();
        }
    }
}

#[test]
fn an_expired_upload_is_created_anew() {
    let fixture = Fixture::new();
    let mut queue = fixture.queue(small_chunks());
    queue.enqueue_sessions(&fixture.recordings()).unwrap();
    fixture.failures.lock().unwrap().push_back((8, TargetError::Transient("reset".into())));
    let stop = Arc::new(StopSignal::new());
    queue.set_listener(Arc::new(StopOnRetry(stop.clone())));
    // Send a few chunks, then lose every partial upload at the target.
    assert_eq!(queue.run_until_empty(&stop).unwrap(), RunOutcome::Stopped);
    let in_progress = queue.status().unwrap().into_iter().find(|f| f.state == FileState::Pending).unwrap();
    assert!(in_progress.acknowledged > 0 && in_progress.location.is_some());
    std::fs::remove_dir_all(fixture.inbox().join(".uploads")).unwrap();
    let mut queue = fixture.queue(small_chunks());
    assert_eq!(queue.run_until_empty(&StopSignal::new()).unwrap(), RunOutcome::Empty);
    fixture.assert_inbox_holds_every_finished_file();
}

#[test]
fn a_missing_file_is_reported_and_the_rest_is_sent() {
    let fixture = Fixture::new();
    let queue = fixture.queue(small_chunks());
    queue.enqueue_sessions(&fixture.recordings()).unwrap();
    drop(queue);
    std::fs::remove_file(fixture.recordings().join(SESSION).join("seg-000001.mp4.age")).unwrap();
    let mut queue = fixture.queue(small_chunks());
    assert_eq!(queue.run_until_empty(&StopSignal::new()).unwrap(), RunOutcome::Empty);
    let status = queue.status().unwrap();
    let missing: Vec<_> = status.iter().filter(|f| f.state == FileState::Missing).map(|f| f.name.as_str()).collect();
    assert_eq!(missing, [format!("{SESSION}/seg-000001.mp4.age")]);
    assert_eq!(status.iter().filter(|f| f.state == FileState::Complete).count(), 7);
}

#[test]
fn unauthorized_pauses_and_metered_networks_hold_media_back() {
    let fixture = Fixture::new();
    let mut queue = fixture.queue(small_chunks());
    queue.enqueue_sessions(&fixture.recordings()).unwrap();
    queue.set_network(NetworkState { kind: NetworkKind::Metered, charging: false });
    assert_eq!(queue.run_until_empty(&StopSignal::new()).unwrap(), RunOutcome::WaitingForNetwork);
    let status = queue.status().unwrap();
    let waits = |lane: Lane| matches!(lane, Lane::Media | Lane::SessionEnd);
    assert!(status.iter().all(|f| (f.state == FileState::Complete) != waits(f.lane)), "{status:?}");
    queue.set_network(NetworkState::WIRED);
    fixture.failures.lock().unwrap().push_back((*fixture.appends.lock().unwrap() + 1, TargetError::Unauthorized));
    assert_eq!(queue.run_until_empty(&StopSignal::new()).unwrap(), RunOutcome::Unauthorized);
    assert_eq!(queue.run_until_empty(&StopSignal::new()).unwrap(), RunOutcome::Empty);
    fixture.assert_inbox_holds_every_finished_file();
}

#[test]
fn a_stopped_queue_sends_nothing_more() {
    let fixture = Fixture::new();
    let mut queue = fixture.queue(small_chunks());
    queue.enqueue_sessions(&fixture.recordings()).unwrap();
    let stop = StopSignal::new();
    stop.stop();
    assert_eq!(queue.run_until_empty(&stop).unwrap(), RunOutcome::Stopped);
    assert_eq!(*fixture.bytes_sent.lock().unwrap(), 0);
}

#[test]
fn a_withdrawal_purges_the_unsent_files_of_its_consent_and_queues_a_signed_record() {
    use crate::provenance::consent::ConsentWithdrawal;
    use crate::provenance::keystore::{FileKeyStore, KeyStore as _};
    use crate::provenance::values::UtcInstant;
    use crate::upload::journal::NewFile;

    let fixture = Fixture::new();
    let mut queue = fixture.queue(small_chunks());
    let dir = fixture.recordings().join(SESSION);
    let (c1, c2) = ("11".repeat(16), "22".repeat(16));
    for (name, consent) in [("a.bin", &c1), ("b.bin", &c2), ("c.bin", &c1)] {
        std::fs::write(dir.join(name), vec![name.as_bytes()[0]; 10_000]).unwrap();
        let file = NewFile {
            path: dir.join(name),
            name: format!("{SESSION}/{name}"),
            lane: Lane::Media,
            size: 10_000,
            sha256: hex::encode(sha2::Sha256::digest(vec![name.as_bytes()[0]; 10_000])),
            record_sha256: None,
            consent_id: Some(consent.clone()),
        };
        queue.journal.enqueue(&file).unwrap();
    }
    // a.bin is sent whole, b.bin half, c.bin not at all.
    fixture.failures.lock().unwrap().push_back((5, TargetError::Transient("link lost".into())));
    let stop = Arc::new(StopSignal::new());
    queue.set_listener(Arc::new(StopOnRetry(stop.clone())));
    assert_eq!(queue.run_until_empty(&stop).unwrap(), RunOutcome::Stopped);
    let b_location = queue.status().unwrap().iter().find(|f| f.name.ends_with("b.bin")).unwrap().location.clone();

    let device = FileKeyStore::ephemeral().unwrap();
    let withdrawal = ConsentWithdrawal::sign(&device, &c2, UtcInstant(1_000)).unwrap();
    let report = queue.purge_consent(&fixture.recordings(), &withdrawal, &device, UtcInstant(2_000)).unwrap();
    assert_eq!(report.purged.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), [format!("{SESSION}/b.bin")]);
    assert!(!dir.join("b.bin").exists(), "the unsent file is gone from the device");
    let mut inbox = InboxTarget::new(&fixture.inbox());
    assert_eq!(inbox.offset(&b_location.unwrap()).unwrap(), RemoteOffset::Gone, "its partial upload was abandoned");

    let withdrawal = ConsentWithdrawal::sign(&device, &c1, UtcInstant(3_000)).unwrap();
    let report = queue.purge_consent(&fixture.recordings(), &withdrawal, &device, UtcInstant(4_000)).unwrap();
    assert_eq!(report.purged.len(), 1, "a.bin was sent already and stays: {report:?}");
    assert!(dir.join("a.bin").exists() && !dir.join("c.bin").exists());

    let record = crate::provenance::record::SignedRecord::parse(&std::fs::read(&report.record_path).unwrap()).unwrap();
    let crate::provenance::record::RecordBody::Purge(purge) = record.body() else { panic!("{record:?}") };
    assert_eq!(purge.consent_id, c1);
    assert_eq!(purge.withdrawal_sha256, withdrawal.hash());
    assert_eq!(purge.purged[0].bytes, 10_000);
    assert!(record.is_signed_by(&device.public_key().unwrap()));

    // The records go out first, then what is left.
    let events = Arc::new(Events::default());
    queue.set_listener(events.clone());
    queue.retry_now().unwrap();
    assert_eq!(queue.run_until_empty(&StopSignal::new()).unwrap(), RunOutcome::Empty);
    let completed = events.completed();
    let position = |prefix: &str| completed.iter().position(|name| name.starts_with(prefix)).unwrap();
    let first_media = position(&format!("{SESSION}/seg-"));
    assert!(position(&format!("records/withdrawal-{c2}")) < first_media, "{completed:?}");
    assert!(position(&format!("records/purge-{c2}")) < first_media, "{completed:?}");
    assert!(fixture.inbox().join("records").join(report.record_path.file_name().unwrap()).exists());
    assert!(
        !fixture.inbox().join(SESSION).join("b.bin").exists() && !fixture.inbox().join(SESSION).join("c.bin").exists()
    );
}

/// Stops the run at the `n`-th retry, keeping every retry delay.
struct StopAtRetry(Arc<StopSignal>, usize, Mutex<Vec<u64>>);

impl UploadListener for StopAtRetry {
    fn on_upload_event(&self, event: UploadEvent) {
        if let UploadEvent::Retrying { retry_in_ms, .. } = event {
            let mut delays = self.2.lock().unwrap();
            delays.push(retry_in_ms);
            if delays.len() == self.1 {
                self.0.stop();
            }
        }
    }
}

#[test]
fn backoff_keeps_growing_while_resumes_work_and_chunks_fail() {
    let fixture = Fixture::new();
    let config = QueueConfig { backoff: Backoff { first_ms: 2, cap_ms: 10_000 }, ..small_chunks() };
    let mut queue = fixture.queue(config);
    queue.enqueue_sessions(&fixture.recordings()).unwrap();
    for at in 1..=5 {
        fixture.failures.lock().unwrap().push_back((at, TargetError::Transient("503".into())));
    }
    let stop = Arc::new(StopSignal::new());
    let listener = Arc::new(StopAtRetry(stop.clone(), 5, Mutex::new(vec![])));
    queue.set_listener(listener.clone());
    assert_eq!(queue.run_until_empty(&stop).unwrap(), RunOutcome::Stopped);
    let delays = listener.2.lock().unwrap().clone();
    // Equal jitter: attempt k waits at least first · 2^(k-1) / 2.
    for (k, delay) in delays.iter().enumerate() {
        assert!(*delay >= 2 << k >> 1, "attempt {}: {delay} ms in {delays:?}", k + 1);
    }
    assert_eq!(queue.status().unwrap()[0].attempts, 5, "a HEAD that works does not reset the count");
}

#[test]
fn a_refused_record_holds_its_medium_back() {
    let fixture = Fixture::new();
    let mut queue = fixture.queue(small_chunks());
    queue.enqueue_sessions(&fixture.recordings()).unwrap();
    // Appends 1-3 are the identity records, 4 is seg-000000.record.json.
    fixture.failures.lock().unwrap().push_back((4, TargetError::Refused("403".into())));
    assert_eq!(queue.run_until_empty(&StopSignal::new()).unwrap(), RunOutcome::WaitingForRecords);
    let status = queue.status().unwrap();
    let held = status.iter().find(|f| f.name.ends_with("seg-000000.mp4.age")).unwrap();
    assert_eq!((held.state, held.location.as_deref()), (FileState::Pending, None), "never created at the target");
    let other = status.iter().find(|f| f.name.ends_with("seg-000001.mp4.age")).unwrap();
    assert_eq!(other.state, FileState::Complete, "a medium whose record arrived goes on");
    queue.retry_now().unwrap();
    assert_eq!(queue.run_until_empty(&StopSignal::new()).unwrap(), RunOutcome::Empty);
    fixture.assert_inbox_holds_every_finished_file();
}

#[test]
fn a_file_changed_on_disk_after_queueing_is_kept_and_never_called_sent() {
    let fixture = Fixture::new();
    let config = QueueConfig { retention: Duration::ZERO, ..small_chunks() };
    let mut queue = fixture.queue(config);
    queue.enqueue_sessions(&fixture.recordings()).unwrap();
    let grown = fixture.recordings().join(SESSION).join("seg-000001.mp4.age");
    let mut bytes = std::fs::read(&grown).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&grown, &bytes).unwrap();
    assert_eq!(queue.run_until_empty(&StopSignal::new()).unwrap(), RunOutcome::Empty);
    let changed = queue.status().unwrap().into_iter().find(|f| f.name.ends_with("seg-000001.mp4.age")).unwrap();
    assert_eq!(changed.state, FileState::Refused, "{changed:?}");
    assert!(changed.last_error.unwrap().contains("SHA-256"));
    assert_eq!(std::fs::read(&grown).unwrap(), bytes, "kept on the device");
}
