//! Shared by the session tests: an in-memory sink, a small session config
//! and a push of a grey I420 frame.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use egocap_core::clock::{Clock, ClockDomain};

use egocap_core::frame::{ColourMatrix, ColourRange, FrameFormat, I420Image, PixelLayout};
use egocap_core::segment::FinishedSegment;
use egocap_core::session::{CaptureError, PushOutcome, RecordingSession, SessionConfig, SessionSummary};
use egocap_core::sink::{SegmentSink, SinkError};

pub const W: u32 = 64;
pub const H: u32 = 48;
/// One frame interval at 30 fps.
pub const F: i64 = 33_333_333;
pub const MS: i64 = 1_000_000;

/// Keeps segments in memory so tests can look at them.
#[derive(Clone, Default)]
pub struct MemorySink(pub Arc<Mutex<Vec<FinishedSegment>>>);

impl SegmentSink for MemorySink {
    fn write_segment(&mut self, segment: FinishedSegment) -> Result<PathBuf, SinkError> {
        let name = PathBuf::from(&segment.summary.file);
        self.0.lock().unwrap().push(segment);
        Ok(name)
    }
    fn finish_session(&mut self, _summary: &SessionSummary) -> Result<(), SinkError> {
        Ok(())
    }
}

/// 64×48 I420 with 1 s segments, IMU declared on boot time.
pub fn config() -> SessionConfig {
    SessionConfig {
        frame_format: FrameFormat {
            width: W,
            height: H,
            layout: PixelLayout::I420,
            range: ColourRange::Limited,
            matrix: ColourMatrix::Bt709,
        },
        segment_duration_ns: 1_000_000_000,
        ..SessionConfig::default()
    }
}

/// Pushes `image` at `t`, waiting for room (a file source).
pub fn push_image(session: &RecordingSession, image: &I420Image, t: i64) -> Result<PushOutcome, CaptureError> {
    session.push_frame_waiting(&image.as_frame(t, ColourRange::Limited, ColourMatrix::Bt709))
}

/// Pushes a grey frame of the session's size at `t`.
pub fn push(session: &RecordingSession, t: i64) -> Result<PushOutcome, CaptureError> {
    push_image(session, &I420Image::grey(W, H), t)
}

/// A boot-time clock the test moves by hand.
#[derive(Default)]
pub struct ManualClock(pub AtomicI64);

impl Clock for ManualClock {
    fn now_ns(&self, domain: ClockDomain) -> Option<i64> {
        (domain != ClockDomain::Unknown).then(|| self.0.load(Ordering::SeqCst))
    }
    fn utc_unix_ns(&self) -> i64 {
        1_800_000_000_000_000_000 + self.0.load(Ordering::SeqCst)
    }
}
