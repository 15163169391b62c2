//! Test-only hooks (cargo feature `fault-injection`, never in a release):
//! ways for the foreign-language tests to make the library fail from the
//! inside, which no host input can do.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use egocap_core::blur::detector::{DetectError, FaceBox, FaceDetector};
use egocap_core::blur::stage::BudgetClock;
use egocap_core::encoder::{OpenH264Encoder, VideoEncoder as _};
use egocap_core::frame;
use egocap_core::session as core;
use egocap_core::sink::PlaintextDirSink;

use crate::blur::FaceBlurConfig;
use crate::config::SessionConfig;
use crate::encoder::{EncodedFrame, I420Image, VideoEncoder};
use crate::error::{guarded, EgocapError};
use crate::events::EventSink;
use crate::session::RecordingSession;

/// OpenH264 for `config`, except that `encode` panics on frame
/// `panic_at_frame` (1-based) on the library's worker thread: the session
/// must end with a typed `PipelineFailed`, keep its finished segments, and
/// not abort the app.
#[uniffi::export]
pub fn fault_injection_panicking_encoder(
    config: SessionConfig,
    panic_at_frame: u32,
) -> Result<Arc<dyn VideoEncoder>, EgocapError> {
    let settings = core::encoder_settings(&config.into());
    let inner = OpenH264Encoder::new(settings).map_err(core::CaptureError::from)?;
    Ok(Arc::new(PanickingEncoder { inner: Mutex::new((inner, 0)), panic_at_frame }))
}

struct PanickingEncoder {
    inner: Mutex<(OpenH264Encoder, u32)>,
    panic_at_frame: u32,
}

impl VideoEncoder for PanickingEncoder {
    fn name(&self) -> Result<String, EgocapError> {
        Ok("panicking test encoder".into())
    }

    fn encode(&self, image: I420Image, pts_ns: i64, force_keyframe: bool) -> Result<Vec<EncodedFrame>, EgocapError> {
        let mut guard = self.inner.lock().map_err(|_| EgocapError::Encoder { reason: "poisoned".into() })?;
        let (encoder, frames) = &mut *guard;
        *frames += 1;
        if *frames == self.panic_at_frame {
            panic!("injected panic in the encoder");
        }
        let image = frame::I420Image { width: image.width, height: image.height, data: image.data.0 };
        let encoded = encoder.encode(&image, pts_ns, force_keyframe).map_err(core::CaptureError::from)?;
        Ok(encoded.into_iter().map(Into::into).collect())
    }

    fn flush(&self) -> Result<Vec<EncodedFrame>, EgocapError> {
        let mut guard = self.inner.lock().map_err(|_| EgocapError::Encoder { reason: "poisoned".into() })?;
        let flushed = guard.0.flush().map_err(core::CaptureError::from)?;
        Ok(flushed.into_iter().map(Into::into).collect())
    }
}

/// Panics on the caller's thread inside a guarded call, as a bug in an
/// exported function would: the app must get a typed `Internal` error.
#[uniffi::export]
pub fn fault_injection_panic_on_calling_thread() -> Result<(), EgocapError> {
    guarded(|| panic!("injected panic on the calling thread"))
}

/// `RecordingSession.startUnencrypted` with face blurring whose detector
/// (the real model of `face_blur`) fails on the frames numbered in
/// `failing_frames` (1-based), as a model erroring mid-session does.
///
/// The blur stage's budget clock is frozen: detection costs nothing by it,
/// so the detector runs on every frame (frame n is detection n) and no
/// frame fails closed for lack of time. What the tests count then depends
/// on the frames alone, not on the machine's speed or load.
#[uniffi::export]
pub fn fault_injection_start_blurring(
    config: SessionConfig,
    output_dir: String,
    face_blur: FaceBlurConfig,
    failing_frames: Vec<u64>,
    events: Option<Arc<dyn EventSink>>,
) -> Result<Arc<RecordingSession>, EgocapError> {
    guarded(|| {
        let config: core::SessionConfig = config.into();
        let detector = face_blur.load_detector(&config.frame_format)?;
        let failing =
            FailingDetector { inner: Box::new(detector), detections: 0, failing: failing_frames.into_iter().collect() };
        let mut blur = face_blur.with_detector(Box::new(failing), events.clone());
        blur.clock = Arc::new(FrozenClock);
        let session_id = core::new_session_id();
        let sink = PlaintextDirSink::create(Path::new(&output_dir), &session_id).map_err(core::CaptureError::from)?;
        let segment_dir = sink.dir().to_path_buf();
        RecordingSession::run(config, session_id, Box::new(sink), segment_dir, Some(blur), None, events)
    })
}

struct FailingDetector {
    inner: Box<dyn FaceDetector>,
    detections: u64,
    failing: BTreeSet<u64>,
}

impl FaceDetector for FailingDetector {
    fn detect(&mut self, image: &frame::I420Image) -> Result<Vec<FaceBox>, DetectError> {
        self.detections += 1;
        if self.failing.contains(&self.detections) {
            return Err(DetectError::Inference {
                reason: format!("injected failure on detection {}", self.detections),
            });
        }
        self.inner.detect(image)
    }

    fn model_name(&self) -> &str {
        self.inner.model_name()
    }

    fn model_sha256(&self) -> &str {
        self.inner.model_sha256()
    }
}

/// A budget clock that never advances.
struct FrozenClock;

impl BudgetClock for FrozenClock {
    fn now_ns(&self) -> i64 {
        0
    }
}
