//! The recording session the app drives: start → push frames and IMU →
//! pause/resume → stop.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use egocap_core::clock::SystemClock;
use egocap_core::frame::FrameFormat;
use egocap_core::sealer::SealingSink;
use egocap_core::session::{
    self as core, EncoderChoice, FaceBlur, LiveStats, PauseReason, PushOutcome, SessionSummary, StartOptions,
};
use egocap_core::sink::{PlaintextDirSink, SegmentSink};

use crate::blur::FaceBlurConfig;
use crate::config::SessionConfig;
use crate::encoder::{HostEncoder, VideoEncoder};
use crate::error::{guarded, EgocapError};
use crate::events::{EventReportingSink, EventSink};
use crate::frame::Frame;
use crate::imu::ImuSample;
use crate::sealing::SealingConfig;

/// One recording. Thread-safe: frames may come from the camera thread and
/// IMU samples from the sensor thread at the same time.
///
/// Blocking calls: `start` (it loads the face model), `stop`, and releasing
/// a session that was not stopped (Kotlin `close()` or its cleaner after
/// GC, Swift `deinit`), which stops it and waits for the last segment. Call
/// them off the UI thread.
#[derive(uniffi::Object)]
pub struct RecordingSession {
    inner: core::RecordingSession,
    format: FrameFormat,
    segment_dir: PathBuf,
}

#[uniffi::export]
impl RecordingSession {
    /// Starts a sealed recording into `<output_dir>/<session id>/`: each
    /// segment is age-encrypted to the owner's recipients as it is written
    /// (`seg-NNNNNN.mp4.age`) with a signed record beside it
    /// (`seg-NNNNNN.record.json`); the identity records go beside them.
    /// Faces are blurred before encoding: a sealed recording is for the
    /// dataset and always blurs, so `face_blur` is required.
    /// Checks `sealing` first: a consent that is not this device's
    /// (`ConsentInvalid`) or was withdrawn (`ConsentWithdrawn`), a recipient
    /// set the owner's key did not sign (`RecipientSetUntrusted`), a record
    /// that does not parse (`InvalidRecord`) or a failing key store
    /// (`KeyStore`) start nothing; then loads the face model, and a missing
    /// or unusable one (`FaceModelInvalid`) starts nothing either. `encoder`
    /// is the host's hardware encoder, or `null` for the built-in OpenH264.
    /// Validates the configuration now, so bad settings fail here. Blocking
    /// (loads the model, creates the directory and sets up the encoder):
    /// call from a background thread.
    #[uniffi::constructor]
    pub fn start(
        config: SessionConfig,
        output_dir: String,
        sealing: SealingConfig,
        face_blur: FaceBlurConfig,
        encoder: Option<Arc<dyn VideoEncoder>>,
        events: Option<Arc<dyn EventSink>>,
    ) -> Result<Arc<Self>, EgocapError> {
        guarded(|| {
            let config: core::SessionConfig = config.into();
            let setup = sealing.into_setup(config.frame_clock)?;
            let face_blur = face_blur.load(&config.frame_format, events.clone(), true)?;
            // Bad settings must fail before the sink writes the identity records.
            core::validate(&config)?;
            core::validate_blur(&face_blur)?;
            let session_id = core::new_session_id();
            let sink =
                SealingSink::create(Path::new(&output_dir), &session_id, setup).map_err(core::CaptureError::from)?;
            let segment_dir = sink.dir().to_path_buf();
            Self::run(config, session_id, Box::new(sink), segment_dir, Some(face_blur), encoder, events)
        })
    }

    /// Desktop tools and tests only: writes **unencrypted** MP4 segments
    /// into `<output_dir>/<session id>/`, with no consent and no signed
    /// records, and logs a warning saying so. Faces are blurred when
    /// `face_blur` is given (a missing or unusable model is
    /// `FaceModelInvalid`, nothing written). Apps call `start`.
    #[uniffi::constructor]
    pub fn start_unencrypted(
        config: SessionConfig,
        output_dir: String,
        face_blur: Option<FaceBlurConfig>,
        encoder: Option<Arc<dyn VideoEncoder>>,
        events: Option<Arc<dyn EventSink>>,
    ) -> Result<Arc<Self>, EgocapError> {
        guarded(|| {
            let config: core::SessionConfig = config.into();
            let face_blur = face_blur.map(|blur| blur.load(&config.frame_format, events.clone(), false)).transpose()?;
            core::validate(&config)?;
            if let Some(blur) = &face_blur {
                core::validate_blur(blur)?;
            }
            let session_id = core::new_session_id();
            // The core's sink logs the warning ("writing unencrypted segments to …").
            let sink =
                PlaintextDirSink::create(Path::new(&output_dir), &session_id).map_err(core::CaptureError::from)?;
            let segment_dir = sink.dir().to_path_buf();
            Self::run(config, session_id, Box::new(sink), segment_dir, face_blur, encoder, events)
        })
    }

    /// 128 random bits as hex; says nothing about the device.
    pub fn session_id(&self) -> String {
        self.inner.session_id().to_owned()
    }

    /// Where this session's segments and summaries are written.
    pub fn segment_dir(&self) -> String {
        self.segment_dir.display().to_string()
    }

    /// Pushes a live camera frame: copied once, queued, and dropped (and
    /// counted) when the encoder is behind. Never blocks for long.
    pub fn push_frame(&self, frame: Frame) -> Result<PushOutcome, EgocapError> {
        guarded(|| Ok(self.inner.push_frame(&frame.as_core(self.format))?))
    }

    /// Pushes a frame from a file or generator: waits for room instead of
    /// dropping. Blocking: call from a background thread.
    pub fn push_frame_waiting(&self, frame: Frame) -> Result<PushOutcome, EgocapError> {
        guarded(|| Ok(self.inner.push_frame_waiting(&frame.as_core(self.format))?))
    }

    /// Pushes a batch of IMU samples (any mix of sensors, as delivered).
    pub fn push_imu(&self, samples: Vec<ImuSample>) -> Result<(), EgocapError> {
        guarded(|| {
            let samples: Vec<_> = samples.into_iter().map(Into::into).collect();
            Ok(self.inner.push_imu(&samples)?)
        })
    }

    /// Closes the open segment; frames pushed while paused are not recorded.
    pub fn pause(&self, reason: PauseReason) -> Result<(), EgocapError> {
        guarded(|| Ok(self.inner.pause(reason)?))
    }

    pub fn resume(&self) -> Result<(), EgocapError> {
        guarded(|| Ok(self.inner.resume()?))
    }

    /// Counters for a progress display; cheap (a few atomic reads), poll freely.
    pub fn stats(&self) -> LiveStats {
        self.inner.stats()
    }

    /// Finishes the recording and returns its summary. Blocking (it waits
    /// for the last segment to be encoded and written): call from a
    /// background thread. After a pipeline failure it throws
    /// `PipelineFailed`; segments finished before the failure stay on disk.
    pub fn stop(&self) -> Result<SessionSummary, EgocapError> {
        guarded(|| Ok(self.inner.stop()?))
    }
}

impl RecordingSession {
    pub(crate) fn run(
        config: core::SessionConfig,
        session_id: String,
        sink: Box<dyn SegmentSink>,
        segment_dir: PathBuf,
        face_blur: Option<FaceBlur>,
        encoder: Option<Arc<dyn VideoEncoder>>,
        events: Option<Arc<dyn EventSink>>,
    ) -> Result<Arc<Self>, EgocapError> {
        let format = config.frame_format;
        let sink: Box<dyn SegmentSink> = match events {
            Some(events) => Box::new(EventReportingSink { inner: sink, events }),
            None => sink,
        };
        let encoder = match encoder {
            Some(host) => EncoderChoice::Host(Box::new(HostEncoder(host))),
            None => EncoderChoice::OpenH264,
        };
        let options = StartOptions { clock: Arc::new(SystemClock), session_id, face_blur };
        let inner = core::RecordingSession::start_with(config, encoder, sink, options)?;
        Ok(Arc::new(Self { inner, format, segment_dir }))
    }
}
