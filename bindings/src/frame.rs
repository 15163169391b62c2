//! Frames cross the FFI as one byte buffer per plane plus its strides: a
//! few large copies per frame, never one call per row.

use egocap_core::frame::{FrameFormat, FrameRef, PixelLayout, PlaneRef};
use egocap_core::session::PushOutcome;

use crate::bulk_bytes::BulkBytes;

/// One plane as the camera hands it over (Android `Image.Plane`, iOS
/// `CVPixelBufferGetBaseAddressOfPlane`), copied into a byte array.
#[derive(Debug, Clone, uniffi::Record)]
pub struct Plane {
    pub data: BulkBytes,
    /// Bytes from the start of one row to the start of the next.
    pub row_stride: u32,
    /// Bytes from one sample to the next within a row (1 planar, 2 interleaved).
    pub pixel_stride: u32,
}

/// One camera frame as it arrived. Its size and layout must match the
/// session's `frame_format`; a frame of another size (the camera switched
/// resolution) is an `InvalidFrame` error, never cropped or padded. Planes:
/// I420 `[Y, U, V]`; NV12/NV21 `[Y, UV]` or Android's three-plane view
/// `[Y, U, V]` with pixel stride 2.
#[derive(Debug, Clone, uniffi::Record)]
pub struct Frame {
    /// Android `ImageProxy.width`, iOS `CVPixelBufferGetWidth`.
    pub width: u32,
    pub height: u32,
    pub layout: PixelLayout,
    pub planes: Vec<Plane>,
    /// Capture time, nanoseconds on the declared frame clock.
    pub timestamp_ns: i64,
}

/// What happened to one pushed frame.
#[uniffi::remote(Enum)]
pub enum PushOutcome {
    Queued,
    /// The encoder is behind; the frame was dropped and counted.
    DroppedQueueFull,
    /// The session is paused; the frame is not recorded.
    DroppedPaused,
}

impl Frame {
    /// Borrows this frame as the core's view. Range and matrix are not
    /// per-frame facts a camera API reports, so they come from the
    /// session's `format`; size and layout are the frame's own, so the
    /// core can reject a frame that does not match.
    pub(crate) fn as_core(&self, format: FrameFormat) -> FrameRef<'_> {
        FrameRef {
            width: self.width,
            height: self.height,
            layout: self.layout,
            planes: self
                .planes
                .iter()
                .map(|p| PlaneRef {
                    data: &p.data.0,
                    row_stride: p.row_stride as usize,
                    pixel_stride: p.pixel_stride as usize,
                })
                .collect(),
            range: format.range,
            matrix: format.matrix,
            timestamp_ns: self.timestamp_ns,
        }
    }
}
