use super::*;
use crate::upload::inbox::InboxTarget;
use crate::upload::queue::QueueConfig;

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
