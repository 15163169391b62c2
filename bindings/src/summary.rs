//! What a session reports: live statistics, per-segment and per-session
//! summaries, exposed as the core's own types.

use egocap_core::clock::ClockPair;
use egocap_core::geometry::CameraGeometry;
use egocap_core::segment::{BlurSummary, IntervalStats, SegmentSummary};
use egocap_core::segmenter::{FrameGap, SegmentEnd};
use egocap_core::session::{DropReason, DroppedFrame, LiveStats, PauseReason, PauseRecord, SessionSummary};

/// A reading of the session clock and UTC taken at the same instant.
#[uniffi::remote(Record)]
pub struct ClockPair {
    pub monotonic_ns: i64,
    pub utc_unix_ns: i64,
}

/// A snapshot for a progress display; poll it with `RecordingSession.stats()`.
#[uniffi::remote(Record)]
pub struct LiveStats {
    pub frames_pushed: u64,
    pub frames_encoded: u64,
    pub frames_dropped: u64,
    pub segments_written: u64,
}

/// Why the host paused the recording.
#[uniffi::remote(Enum)]
pub enum PauseReason {
    PhoneCall,
    Background,
    UserRequest,
    Other(String),
}

#[uniffi::remote(Enum)]
pub enum DropReason {
    QueueFull,
    TimestampNotIncreasing,
    Paused,
    /// Face blurring could not vouch for the frame (fail-closed drop mode).
    FailedClosed,
}

/// A frame that was pushed but is in no segment.
#[uniffi::remote(Record)]
pub struct DroppedFrame {
    pub timestamp_ns: i64,
    pub reason: DropReason,
}

#[uniffi::remote(Record)]
pub struct PauseRecord {
    pub reason: PauseReason,
    /// End of the last segment before the pause; `null` if no frame came before it.
    pub paused_at_ns: Option<i64>,
    pub resumed_at_ns: Option<i64>,
}

/// Why a segment ended.
#[uniffi::remote(Enum)]
pub enum SegmentEnd {
    Cut,
    Pause,
    Stop,
}

#[uniffi::remote(Record)]
pub struct IntervalStats {
    pub min: i64,
    pub max: i64,
    pub mean: i64,
}

/// A forward jump in frame timestamps.
#[uniffi::remote(Record)]
pub struct FrameGap {
    pub after_ns: i64,
    pub interval_ns: i64,
}

/// What one segment file holds (also written beside it as JSON).
#[uniffi::remote(Record)]
pub struct SegmentSummary {
    pub format_version: u32,
    pub session_id: String,
    pub sequence: u64,
    /// File name inside `RecordingSession.segment_dir()`; a sealed session
    /// writes it as `<file>.age` (the path `EventSink.segment_written` gets).
    pub file: String,
    pub start_ns: i64,
    pub end_ns: i64,
    pub end_reason: SegmentEnd,
    pub start_clock: Option<ClockPair>,
    pub end_clock: Option<ClockPair>,
    pub frame_count: u64,
    pub keyframe_count: u64,
    pub frame_interval_ns: IntervalStats,
    pub gaps: Vec<FrameGap>,
    pub imu_sample_count: u64,
    pub imu_gyroscope_count: u64,
    pub imu_accelerometer_count: u64,
    pub imu_magnetometer_count: u64,
    pub frames_dropped_queue_full: u64,
    pub frames_dropped_timestamp_not_increasing: u64,
    pub frames_dropped_paused: u64,
    pub imu_rejected_not_increasing: u64,
    pub imu_rejected_too_late: u64,
    pub imu_rejected_not_finite: u64,
    pub clock_unverified: bool,
    pub width: u32,
    pub height: u32,
    pub rotation_degrees: u16,
    /// Facing, intrinsics and the IMU-to-camera rotation applied to the CAMM track.
    pub camera: CameraGeometry,
    pub encoder: String,
    pub target_bitrate_bps: u32,
    pub video_bitrate_bps: u64,
    pub file_bytes: u64,
    /// What face blurring did; `None` when the session did not blur faces.
    pub blur: Option<BlurSummary>,
}

/// What face blurring did to one segment.
#[uniffi::remote(Record)]
pub struct BlurSummary {
    pub model_name: String,
    /// SHA-256 of the model bytes, lowercase hex.
    pub model_sha256: String,
    /// Faces seen for the first time in this segment.
    pub faces_found: u64,
    /// Frames with at least one face region obscured.
    pub frames_blurred: u64,
    /// Frames obscured whole or dropped because detection failed or fell behind.
    pub frames_failed_closed: u64,
    /// Of those, the frames dropped; they are not in the file.
    pub frames_dropped_failed_closed: u64,
}

/// What a stopped session did.
#[uniffi::remote(Record)]
pub struct SessionSummary {
    pub session_id: String,
    pub started: ClockPair,
    pub stopped: ClockPair,
    pub frames_pushed: u64,
    pub frames_encoded: u64,
    /// Every frame pushed but not recorded (pushed = encoded + dropped).
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
