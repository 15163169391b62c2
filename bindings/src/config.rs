//! How a recording is set up: frame format, clocks, camera geometry and
//! encoder settings, mirrored from `egocap-core` one-to-one.

use egocap_core::clock::ClockDomain;
use egocap_core::encoder::EncoderSettings;
use egocap_core::frame::{ColourMatrix, ColourRange, FrameFormat, PixelLayout};
use egocap_core::geometry::{CameraFacing, CameraGeometry, CameraIntrinsics};
use egocap_core::session as core;

use crate::error::{guarded, EgocapError};

/// How the chroma samples of a 4:2:0 frame are laid out.
#[uniffi::remote(Enum)]
pub enum PixelLayout {
    I420,
    Nv12,
    Nv21,
}

#[uniffi::remote(Enum)]
pub enum ColourRange {
    Limited,
    Full,
}

#[uniffi::remote(Enum)]
pub enum ColourMatrix {
    Bt601,
    Bt709,
}

/// What must stay the same for the whole session.
#[uniffi::remote(Record)]
pub struct FrameFormat {
    pub width: u32,
    pub height: u32,
    pub layout: PixelLayout,
    pub range: ColourRange,
    pub matrix: ColourMatrix,
}

/// The clock a stream's timestamps are read from (Android camera and
/// sensors: `BootTime`; iOS: `HostMonotonic`; `Unknown` is estimated).
#[uniffi::remote(Enum)]
pub enum ClockDomain {
    BootTime,
    HostMonotonic,
    Unknown,
}

#[uniffi::remote(Enum)]
pub enum CameraFacing {
    Back,
    Front,
    External,
}

/// Pinhole intrinsics in pixels of the recorded frame.
#[uniffi::remote(Record)]
pub struct CameraIntrinsics {
    pub focal_x: f64,
    pub focal_y: f64,
    pub principal_x: f64,
    pub principal_y: f64,
}

/// What the session asks of an encoder; a host encoder configures itself from it.
#[uniffi::remote(Record)]
pub struct EncoderSettings {
    pub width: u32,
    pub height: u32,
    pub bitrate_bps: u32,
    pub frame_rate: f32,
    pub keyframe_interval: u32,
    pub full_range: bool,
    pub bt709: bool,
}

/// Rotates IMU vectors into camera axes. Crosses as nine values, row-major;
/// any other count is an `InvalidSettings` error. The check runs while the
/// argument is lifted, so it returns the typed error (UniFFI hands a lift
/// error of the function's own error type back as that error, uniffi_core
/// 0.32 `LowerReturn for Result`): every export taking a config therefore
/// returns a `Result`. A separate input record would avoid this, but the
/// same `CameraGeometry` also comes back in `SegmentSummary.camera`.
type Rotation3 = egocap_core::imu::Rotation3;

uniffi::custom_type!(Rotation3, Vec<f64>, {
    remote,
    lower: |rotation| rotation.0.iter().flatten().copied().collect(),
    try_lift: |values| match values.as_slice() {
        [a, b, c, d, e, f, g, h, i] => Ok(egocap_core::imu::Rotation3([[*a, *b, *c], [*d, *e, *f], [*g, *h, *i]])),
        other => Err(EgocapError::InvalidSettings {
            reason: format!("imu_to_camera needs 9 values (row-major 3×3), got {}", other.len()),
        }
        .into()),
    },
});

/// The camera's geometry as the host declares it at start.
#[uniffi::remote(Record)]
pub struct CameraGeometry {
    /// Clockwise rotation for display: 0, 90, 180 or 270.
    pub display_rotation_degrees: u16,
    pub facing: CameraFacing,
    pub intrinsics: Option<CameraIntrinsics>,
    /// Identity when absent.
    pub imu_to_camera: Option<Rotation3>,
}

/// How a recording is set up; start from [`default_session_config`].
#[derive(Debug, Clone, uniffi::Record)]
pub struct SessionConfig {
    pub frame_format: FrameFormat,
    pub frame_clock: ClockDomain,
    /// `null`/`nil` when the host sends no IMU samples.
    pub imu_clock: Option<ClockDomain>,
    pub geometry: CameraGeometry,
    pub nominal_fps: f32,
    pub bitrate_bps: u32,
    pub keyframe_interval: u32,
    pub segment_duration_ns: i64,
    /// Frames that may wait for the encoder before live pushes start
    /// dropping, 1 to 120 (each is a full picture in memory).
    pub queue_frames: u32,
    pub imu_reorder_window_ns: i64,
    pub imu_max_lag_ns: i64,
}

/// 1280×720 NV21 at 30 fps on the boot-time clock, 5-second segments.
#[uniffi::export]
pub fn default_session_config() -> SessionConfig {
    core::SessionConfig::default().into()
}

/// The settings a host [`crate::VideoEncoder`] must encode with for
/// `config`. A `Result` like every call taking a config: a bad
/// `imu_to_camera` is an `InvalidSettings` error here too.
#[uniffi::export]
pub fn encoder_settings(config: SessionConfig) -> Result<EncoderSettings, EgocapError> {
    guarded(|| Ok(core::encoder_settings(&config.into())))
}

impl From<core::SessionConfig> for SessionConfig {
    fn from(c: core::SessionConfig) -> Self {
        Self {
            frame_format: c.frame_format,
            frame_clock: c.frame_clock,
            imu_clock: c.imu_clock,
            geometry: c.geometry,
            nominal_fps: c.nominal_fps,
            bitrate_bps: c.bitrate_bps,
            keyframe_interval: c.keyframe_interval,
            segment_duration_ns: c.segment_duration_ns,
            queue_frames: u32::try_from(c.queue_frames).unwrap_or(u32::MAX),
            imu_reorder_window_ns: c.imu_reorder_window_ns,
            imu_max_lag_ns: c.imu_max_lag_ns,
        }
    }
}

impl From<SessionConfig> for core::SessionConfig {
    fn from(c: SessionConfig) -> Self {
        Self {
            frame_format: c.frame_format,
            frame_clock: c.frame_clock,
            imu_clock: c.imu_clock,
            geometry: c.geometry,
            nominal_fps: c.nominal_fps,
            bitrate_bps: c.bitrate_bps,
            keyframe_interval: c.keyframe_interval,
            segment_duration_ns: c.segment_duration_ns,
            queue_frames: c.queue_frames as usize,
            imu_reorder_window_ns: c.imu_reorder_window_ns,
            imu_max_lag_ns: c.imu_max_lag_ns,
        }
    }
}
