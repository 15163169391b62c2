//! Edge cases found in review: IMU at segment boundaries and after the
//! camera stops, a sink that fails once, pauses, and a camera clock whose
//! delivery delay shrinks. Each must end with every good frame and sample
//! kept and every count honest.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use egocap_core::clock::ClockDomain;
use egocap_core::imu::{ImuKind, ImuSample};
use egocap_core::segment::FinishedSegment;
use egocap_core::session::{
    CaptureError, DropReason, EncoderChoice, PauseReason, PushOutcome, RecordingSession, SessionSummary,
};
use egocap_core::sink::{SegmentSink, SinkError};

mod support;

use support::ManualClock;

use support::{config, push, MemorySink, F, MS};

fn start() -> (RecordingSession, MemorySink) {
    let sink = MemorySink::default();
    (RecordingSession::start(config(), EncoderChoice::OpenH264, Box::new(sink.clone())).unwrap(), sink)
}

fn gyro(t: i64) -> ImuSample {
    ImuSample { timestamp_ns: t, kind: ImuKind::Gyroscope, xyz: [0.1, 0.2, 0.3] }
}

fn imu_in_segments(sink: &MemorySink) -> u64 {
    sink.0.lock().unwrap().iter().map(|s| s.summary.imu_sample_count).sum()
}

#[test]
fn imu_running_on_after_the_camera_stops_is_not_kept_and_the_segment_is() {
    for pause_first in [false, true] {
        let (session, sink) = start();
        for i in 0..20 {
            session.push_imu(&[gyro(i * F + MS)]).unwrap();
            push(&session, i * F).unwrap();
        }
        // The camera stalls (app in background); the gyro goes on for 1 s.
        let batch: Vec<_> = (1..200).map(|k| gyro(19 * F + 2 * MS + k * 5 * MS)).collect();
        session.push_imu(&batch).unwrap();
        if pause_first {
            session.pause(PauseReason::Background).unwrap();
        }
        let summary = session.stop().unwrap();
        let segments = sink.0.lock().unwrap();
        assert_eq!(segments.len(), 1);
        assert_eq!(segments[0].summary.frame_count, 20);
        // Segment ends at frame 19 + one interval: gyro at 19F+1ms and 19F+7ms fit.
        assert_eq!(segments[0].summary.imu_sample_count, 20 + 6);
        assert_eq!(summary.imu_samples_outside_segments, 199 - 6);
    }
}

#[test]
fn imu_delivered_ahead_of_the_frames_lands_in_the_next_segment() {
    let (session, sink) = start();
    // The sensors run 300 ms ahead of the camera pipeline: more than the reorder window.
    for i in 0..60 {
        let t = i * F;
        session.push_imu(&[gyro(t + 300 * MS)]).unwrap();
        push(&session, t).unwrap();
    }
    let summary = session.stop().unwrap();
    let segments = sink.0.lock().unwrap();
    assert_eq!(segments.len(), 2);
    for s in segments.iter() {
        let imu = &s.summary;
        assert!(imu.imu_sample_count > 0);
    }
    // Samples within [first frame, end of last segment) are all kept.
    let end = segments[1].summary.end_ns;
    let expected = (0..60).filter(|i| i * F + 300 * MS < end).count() as u64;
    assert_eq!(imu_in_segments_locked(&segments), expected);
    assert_eq!(summary.imu_samples_written, expected);
}

fn imu_in_segments_locked(segments: &[FinishedSegment]) -> u64 {
    segments.iter().map(|s| s.summary.imu_sample_count).sum()
}

#[test]
fn an_imu_sample_a_fraction_of_a_tick_before_a_cut_stays_whole() {
    let (session, sink) = start();
    // 1 s segments at 30 fps: frame 31 (1.033 s) is the first at or after 1 s.
    let cut = 31 * F;
    for i in 0..60 {
        let t = i * F;
        let mut batch = vec![gyro(t + 100)];
        if t + F == cut {
            batch.push(gyro(cut - 100));
        }
        session.push_imu(&batch).unwrap();
        push(&session, t).unwrap();
    }
    session.push_imu(&[gyro(3_000 * MS)]).unwrap();
    let summary = session.stop().unwrap();
    assert_eq!(summary.segments.len(), 2);
    assert_eq!(summary.segments[0].end_ns, cut);
    // 61 samples at or before the last frame, one at 3 s after the end.
    assert_eq!(imu_in_segments(&sink), 61);
}

/// A sink that fails once, as a momentarily full disk would.
#[derive(Clone, Default)]
struct FailOnceSink(Arc<Mutex<Vec<u64>>>);

impl SegmentSink for FailOnceSink {
    fn write_segment(&mut self, segment: FinishedSegment) -> Result<PathBuf, SinkError> {
        if segment.summary.sequence == 3 {
            return Err(SinkError::Write { path: "seg-000003.mp4".into(), source: std::io::Error::other("ENOSPC") });
        }
        self.0.lock().unwrap().push(segment.summary.sequence);
        Ok(PathBuf::from(&segment.summary.file))
    }
    fn finish_session(&mut self, _summary: &SessionSummary) -> Result<(), SinkError> {
        Ok(())
    }
}

#[test]
fn one_failed_segment_write_does_not_lose_the_segments_after_it() {
    let sink = FailOnceSink::default();
    let session = RecordingSession::start(config(), EncoderChoice::OpenH264, Box::new(sink.clone())).unwrap();
    // IMU declared but silent: closed segments wait for it and are written together.
    for i in 0..(6 * 30) {
        if push(&session, i * F).is_err() {
            break;
        }
    }
    let result = session.stop();
    assert!(matches!(result, Err(CaptureError::PipelineFailed(ref m)) if m.contains("ENOSPC")), "{result:?}");
    assert_eq!(*sink.0.lock().unwrap(), vec![0, 1, 2, 4, 5]);
}

#[test]
fn frames_pushed_while_paused_are_counted_and_the_pause_is_not_a_gap() {
    let (session, sink) = start();
    for i in 0..10 {
        push(&session, i * F).unwrap();
    }
    session.pause(PauseReason::Background).unwrap();
    for i in 10..20 {
        assert_eq!(push(&session, i * F).unwrap(), PushOutcome::DroppedPaused);
    }
    session.resume().unwrap();
    push(&session, 600_000 * MS).unwrap();
    push(&session, 600_000 * MS + F).unwrap();
    let summary = session.stop().unwrap();
    assert_eq!(summary.frames_pushed, 22);
    assert_eq!(summary.frames_encoded, 12);
    assert_eq!(summary.frames_dropped, 10);
    assert!(summary.dropped_frames.iter().all(|d| d.reason == DropReason::Paused));
    let segments = sink.0.lock().unwrap();
    assert_eq!(segments.len(), 2);
    assert!(segments[1].summary.gaps.is_empty(), "{:?}", segments[1].summary.gaps);
    assert_eq!(segments[1].summary.end_ns - segments[1].summary.start_ns, 2 * F);
    // Counted in whichever segment was open when the worker saw them.
    let paused: u64 = segments.iter().map(|s| s.summary.frames_dropped_paused).sum();
    assert_eq!(paused, 10);
    assert_eq!(summary.pauses[0].paused_at_ns, Some(10 * F));
}

#[test]
fn a_shrinking_delivery_delay_on_an_unknown_clock_drops_no_frame() {
    let mut config = config();
    config.frame_clock = ClockDomain::Unknown;
    config.imu_clock = None;
    let clock = Arc::new(ManualClock::default());
    let session = RecordingSession::start_with_clock(
        config,
        EncoderChoice::OpenH264,
        Box::new(MemorySink::default()),
        clock.clone(),
        "shrinking-delay".into(),
    )
    .unwrap();
    // Camera start-up delivers the first frame 100 ms late, the rest 5 ms late.
    for (i, delay) in [100, 5, 5, 5, 5, 5].iter().enumerate() {
        let captured = 7_000_000_000 + i as i64 * F;
        clock.0.store(50_000_000_000 + i as i64 * F + delay * MS, Ordering::SeqCst);
        push(&session, captured).unwrap();
    }
    let summary = session.stop().unwrap();
    assert_eq!(summary.frames_encoded, 6, "{:?}", summary.dropped_frames);
    assert!(summary.clock_unverified);
}
