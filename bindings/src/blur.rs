//! Face blurring as the app sets it up: the model it ships, and what to do
//! with a frame detection cannot vouch for. Faces are obscured before a
//! frame reaches the encoder (`egocap_core::blur`); a sealed recording
//! always blurs, so `RecordingSession.start` requires a [`FaceBlurConfig`].

use std::sync::Arc;

use egocap_core::blur::detector::{DetectorConfig, FaceDetector, RetinaFaceDetector};
use egocap_core::blur::monitor::FailClosedAlarm;
use egocap_core::blur::stage::FailClosedMode;
use egocap_core::frame::FrameFormat;
use egocap_core::session::FaceBlur;

use crate::bulk_bytes::BulkBytes;
use crate::error::EgocapError;
use crate::events::{AlarmToEventSink, EventSink};

/// What to do with a frame the blur stage cannot vouch for (detection
/// failed, or fell too far behind its time budget).
#[uniffi::remote(Enum)]
pub enum FailClosedMode {
    /// Obscure the whole picture; the segment keeps its frame timing.
    BlurWhole,
    /// Leave the frame out (counted; listed with the `FailedClosed` drop reason).
    Drop,
}

/// The share of frames that failed closed over the last minute passed
/// `FaceBlurConfig.alarm_share_per_minute` (a phone that is overheating).
#[uniffi::remote(Record)]
pub struct FailClosedAlarm {
    /// Frames in the window (the last minute of frame time).
    pub window_frames: u64,
    pub failed_closed_frames: u64,
    /// `failed_closed_frames / window_frames`.
    pub share: f32,
}

/// Where the face model (`retinaface-tiny.onnx`, shipped with the library
/// package) comes from. The library never downloads it.
///
/// An enum rather than two nullable fields, so "exactly one" is the type's
/// rule and not a runtime error. Android reads AAR assets as a stream (an
/// asset is no file path): `FaceModel.Bytes(assets.open("retinaface-tiny.onnx")
/// .use { it.readBytes() })`. iOS resources are files in the bundle:
/// `.file(path: Bundle.main.path(forResource: "retinaface-tiny", ofType: "onnx")!)`.
#[derive(Clone, uniffi::Enum)]
pub enum FaceModel {
    /// A model file the app can read.
    File { path: String },
    /// The model's bytes (about 1.7 MB; crosses the FFI in one copy).
    Bytes { data: BulkBytes },
}

/// How a session blurs faces. Only the model is required; a `null`/`nil`
/// setting takes the library's default (Kotlin `FaceBlurConfig(model)`,
/// Swift `FaceBlurConfig(model: …)`), so the defaults live in one place,
/// the core, and an app that sets nothing follows them when they change.
#[derive(Clone, uniffi::Record)]
pub struct FaceBlurConfig {
    pub model: FaceModel,
    /// Default: blur whole.
    #[uniffi(default = None)]
    pub fail_closed: Option<FailClosedMode>,
    /// Largest detection interval k, 1 to 30 (default 8). Detection runs
    /// every k-th frame when the time budget demands it, and up to k frames
    /// wait (in memory) for it; outside 1..=30 is `InvalidSettings` at start.
    #[uniffi(default = None)]
    pub max_detection_interval: Option<u32>,
    /// Share (0 to 1) of failed-closed frames over a minute above which
    /// `EventSink.failedClosedShareExceeded` is called (default 0.05).
    #[uniffi(default = None)]
    pub alarm_share_per_minute: Option<f32>,
}

impl FaceBlurConfig {
    /// Loads the model for frames of `format` and sets up blurring with
    /// the failed-closed alarm going to `events`. A missing or unusable
    /// model is `FaceModelInvalid`; call before anything is written.
    /// `pinned_only`: refuse any model but the pinned one (sealed recordings).
    pub(crate) fn load(
        self,
        format: &FrameFormat,
        events: Option<Arc<dyn EventSink>>,
        pinned_only: bool,
    ) -> Result<FaceBlur, EgocapError> {
        let mut detector = self.load_detector(format)?;
        if pinned_only {
            detector = detector.require_pinned()?;
        }
        Ok(self.with_detector(Box::new(detector), events))
    }

    pub(crate) fn load_detector(&self, format: &FrameFormat) -> Result<RetinaFaceDetector, EgocapError> {
        // The detector converts frames to RGB: it must know their encoding.
        let config = DetectorConfig { range: format.range, matrix: format.matrix, ..DetectorConfig::default() };
        let detector = match &self.model {
            FaceModel::File { path } => RetinaFaceDetector::from_path(path, config),
            FaceModel::Bytes { data } => RetinaFaceDetector::from_bytes(&data.0, config),
        };
        Ok(detector?)
    }

    /// The core's defaults, with the settings the host gave.
    pub(crate) fn with_detector(self, detector: Box<dyn FaceDetector>, events: Option<Arc<dyn EventSink>>) -> FaceBlur {
        let mut blur = FaceBlur::new(detector);
        if let Some(mode) = self.fail_closed {
            blur.config.fail_closed = mode;
        }
        if let Some(interval) = self.max_detection_interval {
            blur.config.max_detection_interval = interval;
        }
        if let Some(share) = self.alarm_share_per_minute {
            blur.alarm_share = share;
        }
        blur.listener = events.map(|events| Arc::new(AlarmToEventSink(events)) as _);
        blur
    }
}

#[cfg(test)]
mod tests {
    use egocap_core::blur::detector::{DetectError, FaceBox};
    use egocap_core::frame::I420Image;
    use egocap_core::session::SessionConfig;

    use super::*;

    struct NoFaces;

    impl FaceDetector for NoFaces {
        fn detect(&mut self, _frame: &I420Image) -> Result<Vec<FaceBox>, DetectError> {
            Ok(Vec::new())
        }

        fn model_name(&self) -> &str {
            "no faces"
        }

        fn model_sha256(&self) -> &str {
            ""
        }
    }

    fn config(model: FaceModel) -> FaceBlurConfig {
        FaceBlurConfig { model, fail_closed: None, max_detection_interval: None, alarm_share_per_minute: None }
    }

    #[test]
    fn unset_settings_keep_the_cores_defaults_and_set_ones_replace_them() {
        let core = FaceBlur::new(Box::new(NoFaces));
        let unset = config(FaceModel::File { path: "unused".into() });
        let blur = unset.clone().with_detector(Box::new(NoFaces), None);
        assert_eq!((blur.config, blur.alarm_share), (core.config, core.alarm_share));
        assert!(blur.listener.is_none());

        let set = FaceBlurConfig {
            fail_closed: Some(FailClosedMode::Drop),
            max_detection_interval: Some(2),
            alarm_share_per_minute: Some(0.25),
            ..unset
        };
        let blur = set.with_detector(Box::new(NoFaces), None);
        assert_eq!(blur.config.fail_closed, FailClosedMode::Drop);
        assert_eq!(blur.config.max_detection_interval, 2);
        assert_eq!(blur.alarm_share, 0.25);
        assert_eq!(blur.config.frame_budget_ns, core.config.frame_budget_ns, "untouched settings stay the core's");
    }

    #[test]
    fn a_missing_or_corrupt_model_is_face_model_invalid() {
        let format = SessionConfig::default().frame_format;
        let missing = config(FaceModel::File { path: "/nonexistent/retinaface-tiny.onnx".into() });
        let error = missing.load_detector(&format).unwrap_err();
        assert!(
            matches!(&error, EgocapError::FaceModelInvalid { reason } if reason.contains("/nonexistent/retinaface-tiny.onnx")),
            "{error}"
        );
        assert!(error.to_string().starts_with("cannot read face model"), "{error}");
        let noise = config(FaceModel::Bytes { data: BulkBytes((0..4096).map(|i| (i * 7919 % 251) as u8).collect()) });
        let error = noise.load_detector(&format).unwrap_err();
        assert!(matches!(error, EgocapError::FaceModelInvalid { .. }), "{error}");
    }
}
