//! IMU samples as the host's sensor callbacks deliver them.

use egocap_core::imu::{self as core, ImuKind};

#[uniffi::remote(Enum)]
pub enum ImuKind {
    /// rad/s.
    Gyroscope,
    /// m/s².
    Accelerometer,
    /// µT.
    Magnetometer,
}

/// One sensor reading in the device's sensor axes (rotated into camera axes
/// with the geometry's `imu_to_camera`).
#[derive(Debug, Clone, Copy, uniffi::Record)]
pub struct ImuSample {
    /// Nanoseconds on the declared IMU clock.
    pub timestamp_ns: i64,
    pub kind: ImuKind,
    pub x: f64,
    pub y: f64,
    pub z: f64,
}

impl From<ImuSample> for core::ImuSample {
    fn from(s: ImuSample) -> Self {
        Self { timestamp_ns: s.timestamp_ns, kind: s.kind, xyz: [s.x, s.y, s.z] }
    }
}
