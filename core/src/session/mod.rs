//! The recording session the host feeds: frames and IMU samples in, sealed
//! (for now: plaintext) segments out.
//!
//! Push calls run on the host's camera and sensor threads and return
//! quickly: they validate, copy the frame once into an owned I420 image and
//! hand it to a worker thread through a bounded queue. When the queue is
//! full a live frame is dropped and counted, never queued without bound and
//! never blocking the camera. The worker aligns clocks, merges IMU, encodes,
//! segments and writes; a failure there (an error or a panic) ends the
//! session with a typed error while every finished segment stays on disk.

mod blurring;
mod worker;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Sender, TrySendError};
use thiserror::Error;

use crate::blur::monitor::FailClosedMonitor;
use crate::blur::stage::BlurStage;
use crate::clock::{Clock, ClockDomain, ClockPair, SystemClock};
use crate::encoder::{EncoderError, EncoderSettings, OpenH264Encoder, VideoEncoder};
use crate::frame::{FrameError, FrameFormat, FrameRef, I420Image};
use crate::geometry::{CameraGeometry, GeometryError};
use crate::imu::ImuSample;
use crate::segment::{SegmentBuildError, SegmentSummary};
use crate::segmenter::SegmentError;
use crate::sink::{SegmentSink, SinkError};

pub use blurring::{FaceBlur, FailClosedListener};
pub use worker::{DropReason, DroppedFrame, PauseRecord};

/// Frames that may wait for the worker, at most (a few seconds of video).
pub const MAX_QUEUE_FRAMES: usize = 120;

/// Dropped frames listed by timestamp in the summary; more are only counted.
const MAX_LISTED_DROPS: usize = 10_000;

/// How a recording is set up. `Default` gives 1280×720 NV21 at 30 fps.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionConfig {
    /// Frames must keep this format for the whole session.
    pub frame_format: FrameFormat,
    pub frame_clock: ClockDomain,
    /// `None` when the host sends no IMU samples (then no IMU track).
    pub imu_clock: Option<ClockDomain>,
    pub geometry: CameraGeometry,
    pub nominal_fps: f32,
    pub bitrate_bps: u32,
    /// Keyframe at least every this many frames (besides segment starts).
    pub keyframe_interval: u32,
    pub segment_duration_ns: i64,
    /// Frames that may wait for the worker before pushes start dropping.
    pub queue_frames: usize,
    pub imu_reorder_window_ns: i64,
    /// A closed segment waits at most this long (video time) for late IMU.
    pub imu_max_lag_ns: i64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            frame_format: FrameFormat {
                width: 1280,
                height: 720,
                layout: crate::frame::PixelLayout::Nv21,
                range: crate::frame::ColourRange::Limited,
                matrix: crate::frame::ColourMatrix::Bt709,
            },
            frame_clock: ClockDomain::BootTime,
            imu_clock: Some(ClockDomain::BootTime),
            geometry: CameraGeometry::default(),
            nominal_fps: 30.0,
            bitrate_bps: 4_000_000,
            keyframe_interval: 60,
            segment_duration_ns: 5_000_000_000,
            queue_frames: 8,
            imu_reorder_window_ns: 200_000_000,
            imu_max_lag_ns: 3_000_000_000,
        }
    }
}

/// Why the host paused the recording.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PauseReason {
    PhoneCall,
    Background,
    UserRequest,
    Other(String),
}

/// What happened to one pushed frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    Queued,
    /// The worker is behind; the frame was dropped and counted.
    DroppedQueueFull,
    /// The session is paused; frames are not recorded.
    DroppedPaused,
}

/// A snapshot for a progress display.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveStats {
    pub frames_pushed: u64,
    pub frames_encoded: u64,
    pub frames_dropped: u64,
    pub segments_written: u64,
}

/// What a stopped session did.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SessionSummary {
    pub session_id: String,
    pub started: ClockPair,
    pub stopped: ClockPair,
    pub frames_pushed: u64,
    pub frames_encoded: u64,
    /// Every frame pushed but not recorded (frames_pushed = frames_encoded + frames_dropped).
    pub frames_dropped: u64,
    /// The dropped frames by timestamp and reason (the first 10 000).
    pub dropped_frames: Vec<DroppedFrame>,
    pub imu_samples_pushed: u64,
    pub imu_samples_written: u64,
    pub imu_samples_outside_segments: u64,
    pub imu_samples_late: u64,
    pub pauses: Vec<PauseRecord>,
    pub clock_unverified: bool,
    pub segments: Vec<SegmentSummary>,
    /// Set when the session ended because the pipeline failed.
    pub failure: Option<String>,
}

#[derive(Debug, Error)]
pub enum CaptureError {
    #[error("invalid frame: {0}")]
    Frame(#[from] FrameError),
    #[error("frame format changed mid-session: started as {started:?}, now {now:?}")]
    FormatChanged { started: FrameFormat, now: FrameFormat },
    #[error("invalid camera geometry: {0}")]
    Geometry(#[from] GeometryError),
    #[error("invalid session settings: {0}")]
    Settings(String),
    #[error("encoder: {0}")]
    Encoder(#[from] EncoderError),
    #[error("segmenting: {0}")]
    Segment(#[from] SegmentError),
    #[error("building segment: {0}")]
    Build(#[from] SegmentBuildError),
    #[error("writing segment: {0}")]
    Sink(#[from] SinkError),
    #[error("the recording pipeline failed: {0}")]
    PipelineFailed(String),
    #[error("the session has already stopped")]
    Stopped,
}

/// Wraps the host's encoder choice.
pub enum EncoderChoice {
    OpenH264,
    Host(Box<dyn VideoEncoder>),
}

enum Command {
    /// `blur` says what the blur thread did; `None` when the session does not blur.
    Frame {
        image: I420Image,
        timestamp_ns: i64,
        arrival_ns: i64,
        blur: Option<blurring::BlurMark>,
    },
    /// A frame the blur stage failed closed in drop mode.
    FailedClosedDrop {
        timestamp_ns: i64,
        mark: blurring::BlurMark,
    },
    /// The blur thread failed; the worker ends the session with this reason.
    Failed(String),
    Imu {
        samples: Vec<ImuSample>,
        arrival_ns: i64,
    },
    Pause(PauseReason),
    Resume,
    Stop,
}

/// State the push side and the worker share.
struct Shared {
    frames_pushed: AtomicU64,
    frames_queued: AtomicUsize,
    frames_dropped_queue_full: AtomicU64,
    /// Frames dropped on the push side (queue full, paused), for the summary;
    /// the worker drains it, so it stays small.
    push_side_drops: Mutex<Vec<DroppedFrame>>,
    /// Set once stop() began: pushes fail instead of queueing behind Stop.
    stopped: AtomicBool,
    frames_encoded: AtomicU64,
    segments_written: AtomicU64,
    paused: AtomicBool,
    failure: Mutex<Option<String>>,
}

/// A recording in progress.
///
/// Threading: `push_frame` never blocks for long (a copy and a queue slot).
/// `push_imu`, `pause` and `resume` wait only when 1 024 commands are
/// already queued (the worker is stuck). `start` sets up the encoder and the
/// output directory, and `stop` — also run when the session is dropped —
/// drains the queue, encodes and writes the last segment: call both from a
/// background thread, never the UI thread.
pub struct RecordingSession {
    config: SessionConfig,
    session_id: String,
    clock: Arc<dyn Clock>,
    reference: ClockDomain,
    commands: Sender<Command>,
    shared: Arc<Shared>,
    worker: Mutex<Option<JoinHandle<SessionSummary>>>,
    blur_thread: Mutex<Option<JoinHandle<()>>>,
    alarm_thread: Mutex<Option<JoinHandle<()>>>,
    /// Frames that may be pushed and not yet taken by the worker.
    queue_limit: usize,
}

/// How [`RecordingSession::start_with`] starts a session beyond its config.
pub struct StartOptions {
    pub clock: Arc<dyn Clock>,
    pub session_id: String,
    /// Faces are blurred before encoding when set.
    pub face_blur: Option<FaceBlur>,
}

impl Default for StartOptions {
    fn default() -> Self {
        Self { clock: Arc::new(SystemClock), session_id: new_session_id(), face_blur: None }
    }
}

impl RecordingSession {
    /// Starts a session writing into `sink`. Validates everything it can
    /// now, so a bad setting fails here and not minutes later.
    pub fn start(
        config: SessionConfig,
        encoder: EncoderChoice,
        sink: Box<dyn SegmentSink>,
    ) -> Result<Self, CaptureError> {
        Self::start_with_clock(config, encoder, sink, Arc::new(SystemClock), new_session_id())
    }

    pub fn start_with_clock(
        config: SessionConfig,
        encoder: EncoderChoice,
        sink: Box<dyn SegmentSink>,
        clock: Arc<dyn Clock>,
        session_id: String,
    ) -> Result<Self, CaptureError> {
        Self::start_with(config, encoder, sink, StartOptions { clock, session_id, face_blur: None })
    }

    /// Starts a session with every option, face blurring among them.
    pub fn start_with(
        config: SessionConfig,
        encoder: EncoderChoice,
        sink: Box<dyn SegmentSink>,
        options: StartOptions,
    ) -> Result<Self, CaptureError> {
        let StartOptions { clock, session_id, face_blur } = options;
        validate(&config)?;
        let encoder: Box<dyn VideoEncoder> = match encoder {
            EncoderChoice::OpenH264 => Box::new(OpenH264Encoder::new(encoder_settings(&config))?),
            EncoderChoice::Host(encoder) => encoder,
        };
        // Frames on a declared clock define the session clock; otherwise use boot time.
        let reference = match config.frame_clock {
            ClockDomain::Unknown => ClockDomain::BootTime,
            declared => declared,
        };
        let shared = Arc::new(Shared {
            frames_pushed: AtomicU64::new(0),
            frames_queued: AtomicUsize::new(0),
            frames_dropped_queue_full: AtomicU64::new(0),
            push_side_drops: Mutex::new(Vec::new()),
            stopped: AtomicBool::new(false),
            frames_encoded: AtomicU64::new(0),
            segments_written: AtomicU64::new(0),
            paused: AtomicBool::new(false),
            failure: Mutex::new(None),
        });
        // Room for the frames plus IMU batches and control messages.
        let (commands, receiver) = crossbeam_channel::bounded(config.queue_frames + 1024);
        let mut alarm_thread = None;
        let (blur_thread, receiver, blur_model) = match face_blur {
            None => (None, receiver, None),
            Some(blur) => {
                validate_blur(&blur)?;
                let mut blur_config = blur.config;
                blur_config.frame_budget_ns =
                    blur_config.frame_budget_ns.or(Some((1e9 / f64::from(config.nominal_fps)) as i64));
                let stage = BlurStage::new(blur.detector, blur_config, blur.clock)
                    .map_err(|e| CaptureError::Settings(e.to_string()))?;
                // A few blurred frames may wait for the encoder; the push
                // queue in front is the one that drops when all are full.
                let (output, worker_input) = crossbeam_channel::bounded(4 + 1024);
                let thread = blurring::BlurThread {
                    stage,
                    monitor: FailClosedMonitor::new(blur.alarm_share, config.nominal_fps),
                    alarms: match blur.listener {
                        None => None,
                        Some(listener) => {
                            let (sender, thread) = blurring::spawn_notifier(listener).map_err(|e| {
                                CaptureError::PipelineFailed(format!("cannot start the alarm thread: {e}"))
                            })?;
                            alarm_thread = Some(thread);
                            Some(sender)
                        }
                    },
                    input: receiver,
                    output,
                };
                let model = thread.model();
                (Some(thread), worker_input, Some(model))
            }
        };
        // Frames in the blur stage's look-ahead count toward the queue bound.
        let queue_limit = config.queue_frames + blur_thread.as_ref().map_or(0, |t| t.stage.max_buffered());
        let worker = worker::spawn(worker::WorkerSetup {
            config: config.clone(),
            session_id: session_id.clone(),
            clock: clock.clone(),
            reference,
            encoder,
            sink,
            receiver,
            blur_model,
            shared: shared.clone(),
        })
        .map_err(|e| CaptureError::PipelineFailed(format!("cannot start the worker thread: {e}")))?;
        let blur_thread = match blur_thread.map(blurring::BlurThread::spawn).transpose() {
            Ok(handle) => handle,
            Err(e) => {
                // The worker ends when its channel closes (the thread object is gone).
                let _ = worker.join();
                return Err(CaptureError::PipelineFailed(format!("cannot start the blur thread: {e}")));
            }
        };
        log::info!("recording session {session_id} started");
        Ok(Self {
            config,
            session_id,
            clock,
            reference,
            commands,
            shared,
            worker: Mutex::new(Some(worker)),
            blur_thread: Mutex::new(blur_thread),
            alarm_thread: Mutex::new(alarm_thread),
            queue_limit,
        })
    }

    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// Pushes a live frame: dropped (and counted) when the worker is behind.
    pub fn push_frame(&self, frame: &FrameRef<'_>) -> Result<PushOutcome, CaptureError> {
        self.push(frame, false)
    }

    /// Pushes a frame from a file or generator: waits for room instead of dropping.
    pub fn push_frame_waiting(&self, frame: &FrameRef<'_>) -> Result<PushOutcome, CaptureError> {
        self.push(frame, true)
    }

    fn push(&self, frame: &FrameRef<'_>, wait: bool) -> Result<PushOutcome, CaptureError> {
        self.check_running()?;
        if frame.format() != self.config.frame_format {
            return Err(CaptureError::FormatChanged { started: self.config.frame_format, now: frame.format() });
        }
        let image = frame.to_i420()?;
        self.shared.frames_pushed.fetch_add(1, Ordering::Relaxed);
        if self.shared.paused.load(Ordering::Acquire) {
            self.record_push_side_drop(frame.timestamp_ns, DropReason::Paused);
            return Ok(PushOutcome::DroppedPaused);
        }
        while self.shared.frames_queued.load(Ordering::Acquire) >= self.queue_limit {
            if !wait {
                self.shared.frames_dropped_queue_full.fetch_add(1, Ordering::Relaxed);
                self.record_push_side_drop(frame.timestamp_ns, DropReason::QueueFull);
                return Ok(PushOutcome::DroppedQueueFull);
            }
            self.check_running()?;
            std::thread::sleep(Duration::from_micros(200));
        }
        let arrival_ns = self.clock.now_ns(self.reference).unwrap_or(frame.timestamp_ns);
        self.shared.frames_queued.fetch_add(1, Ordering::AcqRel);
        let command = Command::Frame { image, timestamp_ns: frame.timestamp_ns, arrival_ns, blur: None };
        let sent = if wait {
            self.commands.send(command).map_err(|_| CaptureError::Stopped)
        } else {
            match self.commands.try_send(command) {
                Ok(()) => Ok(()),
                // IMU batches filled the channel: a live frame is dropped, not an error.
                Err(TrySendError::Full(_)) => {
                    self.shared.frames_queued.fetch_sub(1, Ordering::AcqRel);
                    self.shared.frames_dropped_queue_full.fetch_add(1, Ordering::Relaxed);
                    self.record_push_side_drop(frame.timestamp_ns, DropReason::QueueFull);
                    return Ok(PushOutcome::DroppedQueueFull);
                }
                Err(TrySendError::Disconnected(_)) => Err(CaptureError::Stopped),
            }
        };
        sent.map(|()| PushOutcome::Queued).map_err(|e| {
            self.shared.frames_queued.fetch_sub(1, Ordering::AcqRel);
            self.check_running().err().unwrap_or(e)
        })
    }

    fn record_push_side_drop(&self, timestamp_ns: i64, reason: DropReason) {
        if let Ok(mut drops) = self.shared.push_side_drops.lock() {
            if drops.len() < MAX_LISTED_DROPS {
                drops.push(DroppedFrame { timestamp_ns, reason });
            }
        }
    }

    /// Pushes a batch of IMU samples (any mix of sensors, as delivered).
    pub fn push_imu(&self, samples: &[ImuSample]) -> Result<(), CaptureError> {
        self.check_running()?;
        if self.config.imu_clock.is_none() {
            return Err(CaptureError::Settings("this session was started without an IMU stream".into()));
        }
        if samples.is_empty() {
            return Ok(());
        }
        let arrival_ns = self.clock.now_ns(self.reference).unwrap_or(0);
        self.send(Command::Imu { samples: samples.to_vec(), arrival_ns })
    }

    /// Closes the open segment cleanly; frames pushed while paused are not recorded.
    pub fn pause(&self, reason: PauseReason) -> Result<(), CaptureError> {
        self.check_running()?;
        self.shared.paused.store(true, Ordering::Release);
        self.send(Command::Pause(reason))
    }

    pub fn resume(&self) -> Result<(), CaptureError> {
        self.check_running()?;
        self.send(Command::Resume)?;
        self.shared.paused.store(false, Ordering::Release);
        Ok(())
    }

    pub fn stats(&self) -> LiveStats {
        let s = &self.shared;
        LiveStats {
            frames_pushed: s.frames_pushed.load(Ordering::Relaxed),
            frames_encoded: s.frames_encoded.load(Ordering::Relaxed),
            frames_dropped: s.frames_dropped_queue_full.load(Ordering::Relaxed),
            segments_written: s.segments_written.load(Ordering::Relaxed),
        }
    }

    /// Finishes the recording: drains the queue, writes the last segment and
    /// returns the summary. After a pipeline failure the error says why; the
    /// segments finished before it stay on disk.
    pub fn stop(&self) -> Result<SessionSummary, CaptureError> {
        self.shared.stopped.store(true, Ordering::Release);
        let handle = self.worker.lock().map_err(|_| CaptureError::Stopped)?.take().ok_or(CaptureError::Stopped)?;
        // The worker may already have ended after a failure; a closed channel is fine then.
        let _ = self.commands.send(Command::Stop);
        let summary =
            handle.join().map_err(|_| CaptureError::PipelineFailed("the worker thread ended abnormally".into()))?;
        // The blur thread forwarded Stop before the worker could end.
        if let Some(blur) = self.blur_thread.lock().ok().and_then(|mut slot| slot.take()) {
            let _ = blur.join();
        }
        // Alarms raised before the end are delivered before stop returns;
        // unless the alarm handler itself called stop (it would wait on itself).
        if let Some(alarms) = self.alarm_thread.lock().ok().and_then(|mut slot| slot.take()) {
            if alarms.thread().id() != std::thread::current().id() {
                let _ = alarms.join();
            }
        }
        match &summary.failure {
            Some(reason) => Err(CaptureError::PipelineFailed(reason.clone())),
            None => Ok(summary),
        }
    }

    fn check_running(&self) -> Result<(), CaptureError> {
        if self.shared.stopped.load(Ordering::Acquire) {
            return Err(CaptureError::Stopped);
        }
        if let Ok(failure) = self.shared.failure.lock() {
            if let Some(reason) = failure.as_ref() {
                return Err(CaptureError::PipelineFailed(reason.clone()));
            }
        }
        Ok(())
    }

    /// Sends a control or IMU command; waits if IMU batches filled the channel.
    fn send(&self, command: Command) -> Result<(), CaptureError> {
        self.commands.send(command).map_err(|_| self.check_running().err().unwrap_or(CaptureError::Stopped))
    }
}

impl Drop for RecordingSession {
    fn drop(&mut self) {
        // A session dropped without stop() still finishes its last segment.
        let running = self.worker.lock().map(|w| w.is_some()).unwrap_or(false);
        if running {
            if let Err(e) = self.stop() {
                log::warn!("session {} ended with an error when dropped: {e}", self.session_id);
            }
        }
    }
}

/// Checks face-blurring settings; `start_with` does too, but a caller
/// that writes files before starting can check first.
pub fn validate_blur(blur: &FaceBlur) -> Result<(), CaptureError> {
    blur.config.validate().map_err(|e| CaptureError::Settings(e.to_string()))?;
    if !(blur.alarm_share > 0.0 && blur.alarm_share <= 1.0) {
        return Err(CaptureError::Settings(format!(
            "the failed-closed alarm share must be within 0..=1 (0 excluded), not {}",
            blur.alarm_share
        )));
    }
    Ok(())
}

/// Checks a session config; `start_with` does too, but a caller that
/// writes files before starting (a sealing sink) can check first.
pub fn validate(config: &SessionConfig) -> Result<(), CaptureError> {
    config.geometry.validate()?;
    let f = config.frame_format;
    let max = crate::frame::MAX_SIDE as u32;
    if !f.width.is_multiple_of(2)
        || !f.height.is_multiple_of(2)
        || f.width < 16
        || f.height < 16
        || f.width > max
        || f.height > max
    {
        return Err(FrameError::BadDimensions { width: f.width, height: f.height }.into());
    }
    // Each queued frame is a full picture: the queue is the memory budget.
    if config.queue_frames > MAX_QUEUE_FRAMES {
        return Err(CaptureError::Settings(format!(
            "queue of {} frames is too large (at most {MAX_QUEUE_FRAMES})",
            config.queue_frames
        )));
    }
    let positive = config.nominal_fps > 0.0
        && config.nominal_fps.is_finite()
        && config.bitrate_bps > 0
        && config.keyframe_interval > 0
        && config.segment_duration_ns > 0
        && config.queue_frames > 0
        && config.imu_reorder_window_ns >= 0
        && config.imu_max_lag_ns >= 0;
    if !positive {
        return Err(CaptureError::Settings(
            "frame rate, bitrate, keyframe interval, segment duration and queue size must be positive".into(),
        ));
    }
    Ok(())
}

pub fn encoder_settings(config: &SessionConfig) -> EncoderSettings {
    EncoderSettings {
        width: config.frame_format.width,
        height: config.frame_format.height,
        bitrate_bps: config.bitrate_bps,
        frame_rate: config.nominal_fps,
        keyframe_interval: config.keyframe_interval,
        full_range: config.frame_format.range == crate::frame::ColourRange::Full,
        bt709: config.frame_format.matrix == crate::frame::ColourMatrix::Bt709,
    }
}

/// 128 random bits as hex: names the session without saying anything about the device.
pub fn new_session_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: fall back to the clock, still unique per device.
        let now = SystemClock.utc_unix_ns().to_le_bytes();
        bytes[..8].copy_from_slice(&now);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
