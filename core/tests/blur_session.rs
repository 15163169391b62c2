//! Face blurring inside a recording session, through the public API, with a
//! scripted detector on a fake budget clock: the counts each segment
//! reports, failing closed (blur whole or drop), the per-minute alarm, and
//! frames waiting in the look-ahead across a pause.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use egocap_core::blur::detector::{DetectError, FaceBox, FaceDetector};
use egocap_core::blur::monitor::FailClosedAlarm;
use egocap_core::blur::stage::{BlurConfig, BudgetClock, FailClosedMode};
use egocap_core::encoder::{EncodedFrame, EncoderError, OpenH264Encoder, VideoEncoder};
use egocap_core::frame::I420Image;
use egocap_core::segment::BlurSummary;
use egocap_core::session::{
    encoder_settings, DropReason, EncoderChoice, FaceBlur, FailClosedListener, PauseReason, RecordingSession,
    SessionSummary, StartOptions,
};

mod support;

use support::{config, push_image, MemorySink, F, H, W};

const MODEL_SHA256: &str = "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e";

#[derive(Default)]
struct FakeClock(AtomicI64);

impl BudgetClock for FakeClock {
    fn now_ns(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// One face in the middle of every frame; fails on the listed frames; each
/// run costs `cost_ns(frame)` on the fake clock.
struct Scripted {
    failing: HashSet<u32>,
    cost_ns: fn(u32) -> i64,
    clock: Arc<FakeClock>,
}

impl FaceDetector for Scripted {
    fn detect(&mut self, frame: &I420Image) -> Result<Vec<FaceBox>, DetectError> {
        let index = frame_number(frame);
        self.clock.0.fetch_add((self.cost_ns)(index), Ordering::SeqCst);
        if self.failing.contains(&index) {
            return Err(DetectError::Inference { reason: "scripted".into() });
        }
        Ok(vec![FaceBox { x: 24.0, y: 16.0, width: 16.0, height: 16.0, score: 0.9 }])
    }
    fn model_name(&self) -> &str {
        "scripted"
    }
    fn model_sha256(&self) -> &str {
        MODEL_SHA256
    }
}

#[derive(Default)]
struct Alarms(Mutex<Vec<FailClosedAlarm>>);

impl FailClosedListener for Alarms {
    fn failed_closed_share_exceeded(&self, alarm: FailClosedAlarm) {
        self.0.lock().unwrap().push(alarm);
    }
}

/// Grey with the frame number in the first four luma bytes (outside the face).
fn frame(index: u32) -> I420Image {
    let mut image = I420Image::grey(W, H);
    image.data[..4].copy_from_slice(&index.to_le_bytes());
    image
}

fn frame_number(image: &I420Image) -> u32 {
    u32::from_le_bytes([image.data[0], image.data[1], image.data[2], image.data[3]])
}

struct Run {
    summary: SessionSummary,
    alarms: Vec<FailClosedAlarm>,
}

fn record(frames: u32, failing: &[u32], cost_ns: fn(u32) -> i64, mode: FailClosedMode) -> Run {
    record_with(frames, failing, cost_ns, mode, EncoderChoice::OpenH264)
}

fn record_with(
    frames: u32,
    failing: &[u32],
    cost_ns: fn(u32) -> i64,
    mode: FailClosedMode,
    encoder: EncoderChoice,
) -> Run {
    let clock = Arc::new(FakeClock::default());
    let detector = Scripted { failing: failing.iter().copied().collect(), cost_ns, clock: clock.clone() };
    let alarms = Arc::new(Alarms::default());
    let blur = FaceBlur {
        detector: Box::new(detector),
        config: BlurConfig { fail_closed: mode, ..BlurConfig::default() },
        clock,
        alarm_share: 0.05,
        listener: Some(alarms.clone()),
    };
    let options = StartOptions { face_blur: Some(blur), ..StartOptions::default() };
    let session = RecordingSession::start_with(config(), encoder, Box::new(MemorySink::default()), options).unwrap();
    for i in 0..frames {
        push_image(&session, &frame(i), i64::from(i) * F).unwrap();
    }
    let summary = session.stop().unwrap();
    let alarms = alarms.0.lock().unwrap().clone();
    Run { summary, alarms }
}

fn blur_of(summary: &SessionSummary) -> Vec<BlurSummary> {
    summary.segments.iter().map(|s| s.blur.clone().expect("every segment of a blurred session has a report")).collect()
}

#[test]
fn each_segment_reports_the_model_the_faces_and_the_frames_blurred() {
    let run = record(60, &[], |_| 5_000_000, FailClosedMode::BlurWhole);
    let blur = blur_of(&run.summary);
    assert_eq!(blur.len(), 2);
    for (report, segment) in blur.iter().zip(&run.summary.segments) {
        assert_eq!((report.model_name.as_str(), report.model_sha256.as_str()), ("scripted", MODEL_SHA256));
        assert_eq!((report.frames_blurred, report.frames_failed_closed), (segment.frame_count, 0), "{report:?}");
    }
    // One face, followed across the cut: found once.
    assert_eq!((blur[0].faces_found, blur[1].faces_found), (1, 0));
    assert_eq!(run.summary.frames_encoded, 60);
    assert!(run.alarms.is_empty());
}

/// A host encoder that hands access units back two frames late, as
/// hardware encoders do.
struct Late {
    inner: OpenH264Encoder,
    held: VecDeque<EncodedFrame>,
}

impl VideoEncoder for Late {
    fn name(&self) -> String {
        "late".into()
    }
    fn encode(&mut self, image: &I420Image, pts_ns: i64, force: bool) -> Result<Vec<EncodedFrame>, EncoderError> {
        self.held.extend(self.inner.encode(image, pts_ns, force)?);
        let ready = self.held.len().saturating_sub(2);
        Ok(self.held.drain(..ready).collect())
    }
    fn flush(&mut self) -> Result<Vec<EncodedFrame>, EncoderError> {
        self.held.extend(self.inner.flush()?);
        Ok(self.held.drain(..).collect())
    }
}

#[test]
fn frames_count_in_the_segment_that_holds_them_when_the_encoder_returns_them_late() {
    let inner = OpenH264Encoder::new(encoder_settings(&config())).unwrap();
    let late = EncoderChoice::Host(Box::new(Late { inner, held: VecDeque::new() }));
    let run = record_with(75, &[], |_| 5_000_000, FailClosedMode::BlurWhole, late);
    assert!(run.summary.segments.len() >= 2);
    for (report, segment) in blur_of(&run.summary).iter().zip(&run.summary.segments) {
        assert_eq!(report.frames_blurred, segment.frame_count, "segment {}: {report:?}", segment.sequence);
    }
}

#[test]
fn a_detector_error_blurs_the_frames_whole_and_the_report_counts_them() {
    let run = record(60, &[40, 41], |_| 5_000_000, FailClosedMode::BlurWhole);
    let blur = blur_of(&run.summary);
    let second = run.summary.segments[1].frame_count;
    assert_eq!((blur[0].frames_blurred, blur[0].frames_failed_closed), (run.summary.segments[0].frame_count, 0));
    assert_eq!(
        (blur[1].frames_blurred, blur[1].frames_failed_closed, blur[1].frames_dropped_failed_closed),
        (second - 2, 2, 0)
    );
    assert_eq!(run.summary.frames_encoded, 60);
    assert!(run.summary.dropped_frames.is_empty());
}

#[test]
fn in_drop_mode_failed_frames_are_left_out_and_listed_as_failed_closed_drops() {
    let run = record(60, &[40], |_| 5_000_000, FailClosedMode::Drop);
    assert_eq!(run.summary.frames_encoded, 59);
    assert_eq!(run.summary.frames_dropped, 1);
    assert_eq!(run.summary.dropped_frames.len(), 1);
    assert_eq!(run.summary.dropped_frames[0].reason, DropReason::FailedClosed);
    assert_eq!(run.summary.dropped_frames[0].timestamp_ns, 40 * F);
    let blur = blur_of(&run.summary);
    let failed: u64 = blur.iter().map(|b| b.frames_failed_closed).sum();
    let dropped: u64 = blur.iter().map(|b| b.frames_dropped_failed_closed).sum();
    assert_eq!((failed, dropped), (1, 1));
}

#[test]
fn a_budget_overrun_fails_frames_closed_counts_them_and_raises_the_alarm() {
    // Frame 10's detection takes 2 s on the budget clock (a throttled
    // phone): about 60 frames fail closed while the stage catches up.
    let run = record(150, &[], |i| if i == 10 { 2_000_000_000 } else { 5_000_000 }, FailClosedMode::BlurWhole);
    let blur = blur_of(&run.summary);
    let failed: u64 = blur.iter().map(|b| b.frames_failed_closed).sum();
    let blurred: u64 = blur.iter().map(|b| b.frames_blurred).sum();
    assert!((55..=62).contains(&failed), "{failed} frames failed closed: {blur:?}");
    assert_eq!(failed + blurred, 150, "every frame is either blurred or failed closed: {blur:?}");
    assert_eq!(run.summary.frames_encoded, 150);
    assert_eq!(run.alarms.len(), 1, "{:?}", run.alarms);
    assert!(run.alarms[0].share > 0.05);
}

#[test]
fn frames_waiting_for_a_detection_are_released_before_a_pause() {
    // 100 ms detections: every fourth frame is detected, so up to three
    // frames wait when the pause comes.
    let clock = Arc::new(FakeClock::default());
    let detector = Scripted { failing: HashSet::new(), cost_ns: |_| 100_000_000, clock: clock.clone() };
    let blur = FaceBlur { detector: Box::new(detector), clock, ..FaceBlur::new(Box::new(NoFaces)) };
    let options = StartOptions { face_blur: Some(blur), ..StartOptions::default() };
    let sink = MemorySink::default();
    let session =
        RecordingSession::start_with(config(), EncoderChoice::OpenH264, Box::new(sink.clone()), options).unwrap();
    for i in 0..10 {
        push_image(&session, &frame(i), i64::from(i) * F).unwrap();
    }
    session.pause(PauseReason::UserRequest).unwrap();
    session.resume().unwrap();
    for i in 10..20 {
        push_image(&session, &frame(i), i64::from(i) * F + 1_000_000_000).unwrap();
    }
    let summary = session.stop().unwrap();
    let counts: Vec<u64> = summary.segments.iter().map(|s| s.frame_count).collect();
    assert_eq!(counts, vec![10, 10]);
    assert!(blur_of(&summary).iter().all(|b| b.frames_blurred == 10 && b.frames_failed_closed == 0));
}

/// Stands in where `FaceBlur::new` needs a detector that is then replaced.
struct NoFaces;

impl FaceDetector for NoFaces {
    fn detect(&mut self, _: &I420Image) -> Result<Vec<FaceBox>, DetectError> {
        Ok(Vec::new())
    }
    fn model_name(&self) -> &str {
        "none"
    }
    fn model_sha256(&self) -> &str {
        MODEL_SHA256
    }
}

/// An app that stops the recording when the alarm comes (natural: the phone
/// is overheating) must not hang the session.
#[test]
fn stopping_the_session_from_the_alarm_handler_does_not_hang() {
    struct StopOnAlarm(Mutex<Option<Arc<RecordingSession>>>);
    impl FailClosedListener for StopOnAlarm {
        fn failed_closed_share_exceeded(&self, _alarm: FailClosedAlarm) {
            if let Some(session) = self.0.lock().unwrap().take() {
                // The worker's summary is what a later stop() would return; here it is only logged.
                let _ = session.stop();
            }
        }
    }
    let clock = Arc::new(FakeClock::default());
    // Every detection fails: every frame fails closed, the alarm comes after 30 frames.
    let detector = Scripted { failing: (0..1000).collect(), cost_ns: |_| 5_000_000, clock: clock.clone() };
    let listener = Arc::new(StopOnAlarm(Mutex::new(None)));
    let blur = FaceBlur {
        detector: Box::new(detector),
        clock,
        listener: Some(listener.clone()),
        ..FaceBlur::new(Box::new(NoFaces))
    };
    let options = StartOptions { face_blur: Some(blur), ..StartOptions::default() };
    let session = Arc::new(
        RecordingSession::start_with(config(), EncoderChoice::OpenH264, Box::new(MemorySink::default()), options)
            .unwrap(),
    );
    *listener.0.lock().unwrap() = Some(session.clone());
    let mut pushed = 0;
    while pushed < 1000 && push_image(&session, &frame(pushed), i64::from(pushed) * F).is_ok() {
        pushed += 1;
    }
    assert!(pushed < 1000, "the handler's stop() never took effect");
    // Stopped by the handler: a second stop says so instead of hanging.
    assert!(session.stop().is_err());
}
