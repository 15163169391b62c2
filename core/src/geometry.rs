//! The camera's geometry as the host declares it at start.

use thiserror::Error;

use crate::imu::Rotation3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraFacing {
    Back,
    Front,
    External,
}

/// Pinhole intrinsics in pixels of the recorded frame (Android
/// `LENS_INTRINSIC_CALIBRATION`, iOS `cameraCalibrationData`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CameraIntrinsics {
    pub focal_x: f64,
    pub focal_y: f64,
    pub principal_x: f64,
    pub principal_y: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CameraGeometry {
    /// Clockwise rotation to apply for display: 0, 90, 180 or 270. Written
    /// into the track header; pixels are never rotated.
    pub display_rotation_degrees: u16,
    pub facing: CameraFacing,
    pub intrinsics: Option<CameraIntrinsics>,
    /// Rotates IMU vectors into camera axes; identity when absent.
    pub imu_to_camera: Option<Rotation3>,
}

impl Default for CameraGeometry {
    fn default() -> Self {
        Self { display_rotation_degrees: 0, facing: CameraFacing::Back, intrinsics: None, imu_to_camera: None }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum GeometryError {
    #[error("display rotation must be 0, 90, 180 or 270 degrees, got {0}")]
    Rotation(u16),
    #[error("the IMU-to-camera matrix is not a rotation (orthonormal, determinant +1)")]
    NotARotation,
    #[error("camera intrinsics must be finite and positive")]
    Intrinsics,
}

impl CameraGeometry {
    pub fn validate(&self) -> Result<(), GeometryError> {
        if ![0, 90, 180, 270].contains(&self.display_rotation_degrees) {
            return Err(GeometryError::Rotation(self.display_rotation_degrees));
        }
        if self.imu_to_camera.is_some_and(|r| !r.is_rotation()) {
            return Err(GeometryError::NotARotation);
        }
        if let Some(k) = self.intrinsics {
            let values = [k.focal_x, k.focal_y, k.principal_x, k.principal_y];
            if !values.iter().all(|v| v.is_finite() && *v > 0.0) {
                return Err(GeometryError::Intrinsics);
            }
        }
        Ok(())
    }

    pub fn imu_rotation(&self) -> Rotation3 {
        self.imu_to_camera.unwrap_or(Rotation3::IDENTITY)
    }
}
