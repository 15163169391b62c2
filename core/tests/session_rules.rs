//! The capture rules for misbehaving devices, each driven through the public
//! session API: every rule gets its drop, its count or its typed error.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::Ordering;
use std::sync::Arc;

use egocap_core::clock::ClockDomain;
use egocap_core::encoder::{EncodedFrame, EncoderError, OpenH264Encoder, VideoEncoder};
use egocap_core::frame::{ColourMatrix, ColourRange, FrameRef, I420Image, PixelLayout, PlaneRef};
use egocap_core::imu::{ImuKind, ImuSample};
use egocap_core::session::{
    CaptureError, DropReason, EncoderChoice, PauseReason, PushOutcome, RecordingSession, SessionConfig,
};

mod support;

use support::ManualClock;

use support::{config, push_image as push, MemorySink, H, W};

const FRAME_NS: i64 = support::F;

fn start(config: SessionConfig) -> (RecordingSession, MemorySink) {
    let sink = MemorySink::default();
    let session = RecordingSession::start(config, EncoderChoice::OpenH264, Box::new(sink.clone())).unwrap();
    (session, sink)
}

fn frames(session: &RecordingSession, from: i64, count: i64) {
    let image = I420Image::grey(W, H);
    for i in 0..count {
        assert_eq!(push(session, &image, from + i * FRAME_NS).unwrap(), PushOutcome::Queued);
    }
}

#[test]
fn backwards_and_repeated_frame_timestamps_are_counted_drops() {
    let (session, sink) = start(config());
    let image = I420Image::grey(W, H);
    for t in [0, FRAME_NS, FRAME_NS, FRAME_NS / 2, 2 * FRAME_NS] {
        push(&session, &image, t).unwrap();
    }
    let summary = session.stop().unwrap();
    let reasons: Vec<_> = summary.dropped_frames.iter().map(|d| (d.timestamp_ns, d.reason)).collect();
    assert_eq!(
        reasons,
        vec![(FRAME_NS, DropReason::TimestampNotIncreasing), (FRAME_NS / 2, DropReason::TimestampNotIncreasing)]
    );
    assert_eq!(summary.frames_encoded, 3);
    let segments = sink.0.lock().unwrap();
    assert_eq!(segments[0].summary.frames_dropped_timestamp_not_increasing, 2);
}

#[test]
fn a_forward_gap_is_accepted_and_listed_in_the_segment_summary() {
    let (session, sink) = start(config());
    frames(&session, 0, 3);
    frames(&session, 2 * FRAME_NS + 200_000_000, 3);
    let summary = session.stop().unwrap();
    assert_eq!(summary.frames_encoded, 6);
    let segments = sink.0.lock().unwrap();
    let gaps = &segments[0].summary.gaps;
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0].after_ns, 2 * FRAME_NS);
    assert_eq!(gaps[0].interval_ns, 200_000_000);
}

#[test]
fn imu_kinds_merge_in_time_order_and_bad_samples_are_counted() {
    let (session, sink) = start(config());
    frames(&session, 0, 1);
    let sample = |t: i64, kind| ImuSample { timestamp_ns: t, kind, xyz: [t as f64, 1.0, 2.0] };
    let ms = 1_000_000;
    // Batched per sensor: gyro for 0..100 ms, then accel for the same span.
    let gyro: Vec<_> = (0..10).map(|i| sample(i * 10 * ms, ImuKind::Gyroscope)).collect();
    let accel: Vec<_> = (0..10).map(|i| sample(i * 10 * ms + 5 * ms, ImuKind::Accelerometer)).collect();
    session.push_imu(&gyro).unwrap();
    session.push_imu(&accel).unwrap();
    // A repeat and a step back for the gyro.
    session.push_imu(&[sample(90 * ms, ImuKind::Gyroscope), sample(50 * ms, ImuKind::Gyroscope)]).unwrap();
    // Move the window on: 600 ms, so samples before 400 ms are released.
    session.push_imu(&[sample(600 * ms, ImuKind::Gyroscope)]).unwrap();
    frames(&session, FRAME_NS, 20);
    // A magnetometer sample from 20 ms arrives far too late.
    session.push_imu(&[sample(20 * ms, ImuKind::Magnetometer)]).unwrap();
    let summary = session.stop().unwrap();
    assert_eq!(summary.imu_samples_late, 1);
    let segments = sink.0.lock().unwrap();
    let stats = &segments[0].summary;
    assert_eq!(stats.imu_rejected_not_increasing, 2);
    assert_eq!(stats.imu_rejected_too_late, 1);
    assert_eq!(stats.imu_gyroscope_count, 11);
    assert_eq!(stats.imu_accelerometer_count, 10);
    assert_eq!(stats.imu_magnetometer_count, 0);
}

#[test]
fn malformed_frames_are_typed_errors_and_the_session_goes_on() {
    let (session, sink) = start(config());
    let image = I420Image::grey(W, H);
    let w = W as usize;
    let short = vec![0u8; 10];
    let bad = |planes: Vec<PlaneRef<'_>>, width, height, layout| {
        let frame = FrameRef {
            width,
            height,
            layout,
            planes,
            range: ColourRange::Limited,
            matrix: ColourMatrix::Bt709,
            timestamp_ns: 0,
        };
        session.push_frame(&frame)
    };
    let y = PlaneRef { data: image.y(), row_stride: w, pixel_stride: 1 };
    let u = PlaneRef { data: image.u(), row_stride: w / 2, pixel_stride: 1 };
    let v = PlaneRef { data: image.v(), row_stride: w / 2, pixel_stride: 1 };
    let too_small = PlaneRef { data: &short, row_stride: w / 2, pixel_stride: 1 };
    assert!(matches!(bad(vec![y, too_small, v], W, H, PixelLayout::I420), Err(CaptureError::Frame(_))));
    assert!(matches!(bad(vec![y, u, v], W - 1, H, PixelLayout::I420), Err(CaptureError::FormatChanged { .. })));
    let uv = PlaneRef { data: image.u(), row_stride: w, pixel_stride: 2 };
    assert!(matches!(bad(vec![y, uv], W, H, PixelLayout::Nv12), Err(CaptureError::FormatChanged { .. })));
    frames(&session, 0, 2);
    assert_eq!(session.stop().unwrap().frames_encoded, 2);
    assert_eq!(sink.0.lock().unwrap().len(), 1);
}

#[test]
fn odd_dimensions_and_bad_settings_fail_at_start() {
    let mut odd = config();
    odd.frame_format.width = 63;
    let err = RecordingSession::start(odd, EncoderChoice::OpenH264, Box::new(MemorySink::default())).err();
    assert!(matches!(err, Some(CaptureError::Frame(_))), "{err:?}");
    let mut rotation = config();
    rotation.geometry.display_rotation_degrees = 45;
    let err = RecordingSession::start(rotation, EncoderChoice::OpenH264, Box::new(MemorySink::default())).err();
    assert!(matches!(err, Some(CaptureError::Geometry(_))), "{err:?}");
}

#[test]
fn pause_closes_the_segment_and_records_the_gap() {
    let (session, sink) = start(config());
    frames(&session, 0, 10);
    session.pause(PauseReason::PhoneCall).unwrap();
    let image = I420Image::grey(W, H);
    assert_eq!(push(&session, &image, 10 * FRAME_NS).unwrap(), PushOutcome::DroppedPaused);
    session.resume().unwrap();
    frames(&session, 100 * FRAME_NS, 10);
    let summary = session.stop().unwrap();
    let segments = sink.0.lock().unwrap();
    assert_eq!(segments.len(), 2);
    assert_eq!(segments[0].summary.frame_count, 10);
    assert_eq!(segments[0].summary.end_ns, 10 * FRAME_NS);
    assert_eq!(segments[1].summary.start_ns, 100 * FRAME_NS);
    assert_eq!(summary.pauses.len(), 1);
    assert_eq!(summary.pauses[0].reason, PauseReason::PhoneCall);
    assert_eq!(summary.pauses[0].paused_at_ns, Some(10 * FRAME_NS));
    assert_eq!(summary.pauses[0].resumed_at_ns, Some(100 * FRAME_NS));
}

/// An encoder that waits until the test lets it go, so the queue fills.
struct GatedEncoder {
    inner: OpenH264Encoder,
    gate: crossbeam_channel::Receiver<()>,
}

impl VideoEncoder for GatedEncoder {
    fn name(&self) -> String {
        "gated".into()
    }
    fn encode(&mut self, image: &I420Image, pts_ns: i64, key: bool) -> Result<Vec<EncodedFrame>, EncoderError> {
        let _ = self.gate.recv();
        self.inner.encode(image, pts_ns, key)
    }
    fn flush(&mut self) -> Result<Vec<EncodedFrame>, EncoderError> {
        Ok(Vec::new())
    }
}

#[test]
fn a_full_queue_drops_live_frames_and_counts_them() {
    let mut config = config();
    config.queue_frames = 2;
    let (gate_open, gate) = crossbeam_channel::unbounded();
    let inner = OpenH264Encoder::new(egocap_core::session::encoder_settings(&config)).unwrap();
    let sink = MemorySink::default();
    let encoder = EncoderChoice::Host(Box::new(GatedEncoder { inner, gate }));
    let session = RecordingSession::start(config, encoder, Box::new(sink.clone())).unwrap();
    let image = I420Image::grey(W, H);
    let live = |t| session.push_frame(&image.as_frame(t, ColourRange::Limited, ColourMatrix::Bt709)).unwrap();
    // The worker takes frame 0 and blocks in the encoder; frames 1 and 2
    // fill the queue; at most one more may fit while the worker dequeues.
    let outcomes: Vec<PushOutcome> = (0..10).map(|i| live(i * FRAME_NS)).collect();
    let dropped = outcomes.iter().filter(|o| **o == PushOutcome::DroppedQueueFull).count();
    assert!(dropped >= 6, "{outcomes:?}");
    for _ in 0..10 {
        gate_open.send(()).unwrap();
    }
    let summary = session.stop().unwrap();
    assert_eq!(summary.frames_encoded as usize, 10 - dropped);
    let listed = summary.dropped_frames.iter().filter(|d| d.reason == DropReason::QueueFull).count();
    assert_eq!(listed, dropped);
    let in_segments: u64 = sink.0.lock().unwrap().iter().map(|s| s.summary.frames_dropped_queue_full).sum();
    assert_eq!(in_segments as usize, dropped);
}

#[test]
fn an_unknown_frame_clock_is_aligned_by_the_shortest_delay_and_marked_unverified() {
    let mut config = config();
    config.frame_clock = ClockDomain::Unknown;
    config.imu_clock = None;
    let clock = Arc::new(ManualClock::default());
    let sink = MemorySink::default();
    let session = RecordingSession::start_with_clock(
        config,
        EncoderChoice::OpenH264,
        Box::new(sink.clone()),
        clock.clone(),
        "unknown-clock".into(),
    )
    .unwrap();
    let image = I420Image::grey(W, H);
    // The camera's own clock starts at 7 s; frames arrive 5 to 9 ms after capture on boot time 50 s.
    let delays_ms = [9, 7, 5, 8, 6];
    for (i, delay) in delays_ms.iter().enumerate() {
        let captured = 7_000_000_000 + i as i64 * FRAME_NS;
        clock.0.store(50_000_000_000 + i as i64 * FRAME_NS + delay * 1_000_000, Ordering::SeqCst);
        push(&session, &image, captured).unwrap();
    }
    let summary = session.stop().unwrap();
    assert!(summary.clock_unverified);
    let segments = sink.0.lock().unwrap();
    assert!(segments[0].summary.clock_unverified);
    // The first frame is mapped with the only delay known then (9 ms).
    assert_eq!(segments[0].summary.start_ns, 50_009_000_000);
    assert_eq!(summary.frames_encoded, 5);
}

/// A host encoder that panics on its 40th frame.
struct PanickingEncoder {
    inner: OpenH264Encoder,
    count: u32,
}

impl VideoEncoder for PanickingEncoder {
    fn name(&self) -> String {
        "panicking".into()
    }
    fn encode(&mut self, image: &I420Image, pts_ns: i64, key: bool) -> Result<Vec<EncodedFrame>, EncoderError> {
        self.count += 1;
        if self.count == 40 {
            panic!("injected encoder panic");
        }
        self.inner.encode(image, pts_ns, key)
    }
    fn flush(&mut self) -> Result<Vec<EncodedFrame>, EncoderError> {
        Ok(Vec::new())
    }
}

#[test]
fn a_panic_in_the_worker_ends_the_session_with_a_typed_error_and_keeps_finished_segments() {
    let config = config();
    let inner = OpenH264Encoder::new(egocap_core::session::encoder_settings(&config)).unwrap();
    let sink = MemorySink::default();
    let encoder = EncoderChoice::Host(Box::new(PanickingEncoder { inner, count: 0 }));
    let session = RecordingSession::start(config, encoder, Box::new(sink.clone())).unwrap();
    let image = I420Image::grey(W, H);
    let mut push_error = None;
    for i in 0..60 {
        if let Err(e) = push(&session, &image, i * FRAME_NS) {
            push_error = Some(e);
            break;
        }
    }
    let stop = session.stop();
    assert!(
        matches!(stop, Err(CaptureError::PipelineFailed(ref m)) if m.contains("injected encoder panic")),
        "{stop:?}"
    );
    if let Some(e) = push_error {
        assert!(matches!(e, CaptureError::PipelineFailed(_)), "{e:?}");
    }
    // Every frame encoded before the panic is kept: the first second (frame
    // 30 is at 999.99 ms, still inside it) as a whole segment, the 8 frames
    // after it as a shorter one.
    let segments = sink.0.lock().unwrap();
    let counts: Vec<u64> = segments.iter().map(|s| s.summary.frame_count).collect();
    assert_eq!(counts, vec![31, 8]);
}
