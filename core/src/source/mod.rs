//! Desktop frame sources: a synthetic scene, a Y4M file, a camera. On a
//! phone the host app is the source and pushes into the session itself.

pub mod barcode;
#[cfg(feature = "camera")]
pub mod camera;
pub mod synthetic;
pub mod y4m;

use thiserror::Error;

use crate::clock::ClockDomain;
use crate::frame::{FrameFormat, I420Image};
use crate::imu::ImuSample;

/// One step of a source: a frame and the IMU samples that arrived with it.
#[derive(Debug, Clone)]
pub struct SourceItem {
    pub image: I420Image,
    pub timestamp_ns: i64,
    /// IMU samples delivered since the previous item, in delivery order
    /// (batched per sensor, as Android delivers them).
    pub imu: Vec<ImuSample>,
}

/// Whether a source can wait for the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// A camera: frames that find the queue full are dropped and counted.
    Live,
    /// A file or a generator: the push waits for room instead of dropping.
    PushBack,
}

pub trait FrameSource: Send {
    fn format(&self) -> FrameFormat;
    fn frame_clock(&self) -> ClockDomain;
    /// `None` when the source has no IMU.
    fn imu_clock(&self) -> Option<ClockDomain>;
    /// Nominal frames per second (for rate control and gap detection).
    fn nominal_fps(&self) -> f32;
    fn pacing(&self) -> Pacing;
    /// The next frame, or `None` at the end of the source.
    fn next_item(&mut self) -> Result<Option<SourceItem>, SourceError>;
}

#[derive(Debug, Error)]
pub enum SourceError {
    #[error("cannot read {path}: {reason}")]
    Io { path: String, reason: String },
    #[error("{path} is not a usable Y4M file: {reason}")]
    Y4m { path: String, reason: String },
    #[error("no camera found: {0}")]
    NoCamera(String),
    #[error("camera failed: {0}")]
    Camera(String),
    #[error("this build has no camera support; rebuild with `--features camera`")]
    CameraNotBuilt,
    #[error("invalid source settings: {0}")]
    Settings(String),
}
