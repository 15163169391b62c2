//! A live source faster than the encoder: frames that find the queue full
//! are dropped and listed, and the decoded segments hold exactly the pushed
//! frames minus the listed drops, in order (read back from their barcodes).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use egocap_core::session::{DropReason, EncoderChoice, PushOutcome, RecordingSession, SessionConfig};
use egocap_core::sink::PlaintextDirSink;
use egocap_core::source::synthetic::{SyntheticConfig, SyntheticSource};
use egocap_core::source::FrameSource;
use egocap_e2e::barcode::read_index;
use egocap_e2e::media::decode_grey_frames;

const W: u32 = 640;
const H: u32 = 360;
const FRAMES: u64 = 240;

#[test]
fn frames_dropped_at_a_full_queue_are_exactly_the_ones_missing_from_the_segments() {
    let out = tempfile::tempdir().unwrap();
    let mut source =
        SyntheticSource::new(SyntheticConfig { seed: 5, width: W, height: H, fps: 30, frame_count: FRAMES }).unwrap();
    let config = SessionConfig {
        frame_format: source.format(),
        frame_clock: source.frame_clock(),
        imu_clock: source.imu_clock(),
        queue_frames: 2,
        segment_duration_ns: 2_000_000_000,
        ..SessionConfig::default()
    };
    let session_id = egocap_core::session::new_session_id();
    let sink = PlaintextDirSink::create(out.path(), &session_id).unwrap();
    let dir = sink.dir().to_path_buf();
    let session = RecordingSession::start(config, EncoderChoice::OpenH264, Box::new(sink)).unwrap();

    // Pre-render so pushes come far faster than 640x360 encodes.
    let mut items = Vec::new();
    while let Some(item) = source.next_item().unwrap() {
        items.push(item);
    }
    let mut dropped_here = HashSet::new();
    for (index, item) in items.iter().enumerate() {
        session.push_imu(&item.imu).unwrap();
        let frame = item.image.as_frame(item.timestamp_ns, source.format().range, source.format().matrix);
        if session.push_frame(&frame).unwrap() == PushOutcome::DroppedQueueFull {
            dropped_here.insert(index as u64);
        }
    }
    let summary = session.stop().unwrap();
    assert!(!dropped_here.is_empty(), "the queue of 2 must have overflowed");
    assert_eq!(summary.frames_dropped as usize, dropped_here.len());
    assert!(summary.dropped_frames.iter().all(|d| d.reason == DropReason::QueueFull));
    let listed: HashSet<i64> = summary.dropped_frames.iter().map(|d| d.timestamp_ns).collect();
    let expected: Vec<u32> =
        (0..FRAMES).filter(|i| !listed.contains(&source.frame_timestamp_ns(*i))).map(|i| i as u32).collect();
    assert_eq!(expected.len() as u64, FRAMES - dropped_here.len() as u64);

    let mut seen = Vec::new();
    for segment in &summary.segments {
        for picture in decode_grey_frames(&dir.join(&segment.file), W as usize, H as usize).unwrap() {
            seen.push(read_index(&picture, W as usize, H as usize).expect("every frame carries its barcode"));
        }
    }
    assert_eq!(seen, expected);
}
