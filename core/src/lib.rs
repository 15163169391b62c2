//! egocap core: capture, encode and segment egocentric video with its IMU
//! stream, on the device. No FFI types here; `bindings/` wraps this API.

pub mod age;
pub mod blur;
pub mod canonical_json;
pub mod clock;
pub mod encoder;
pub mod frame;
pub mod geometry;
pub mod imu;
pub mod mp4;
pub mod provenance;
pub mod sealer;
pub mod segment;
pub mod segmenter;
pub mod session;
pub mod sink;
pub mod source;
pub mod upload;
pub mod verify;
