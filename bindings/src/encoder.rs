//! The host's hardware encoder (MediaCodec, VideoToolbox) as a foreign
//! trait, adapted to the core's `VideoEncoder`. The contract is the core's
//! (see `egocap_core::encoder`): Annex-B access units in decode order, an
//! IDR with SPS/PPS when `force_keyframe` is set.

use std::sync::Arc;

use egocap_core::encoder::{self as core, EncoderError};
use egocap_core::frame;

use crate::bulk_bytes::BulkBytes;
use crate::error::EgocapError;

/// A packed I420 picture: Y (width × height), then U and V (each a quarter).
#[derive(Debug, Clone, uniffi::Record)]
pub struct I420Image {
    pub width: u32,
    pub height: u32,
    pub data: BulkBytes,
}

/// One access unit in decode order.
#[derive(Debug, Clone, uniffi::Record)]
pub struct EncodedFrame {
    /// Annex-B NAL units.
    pub annexb: BulkBytes,
    /// Presentation time, nanoseconds on the session clock.
    pub pts_ns: i64,
    pub is_keyframe: bool,
}

/// An H.264 encoder the host provides. Called on the library's worker
/// thread, one call at a time; may block while the hardware works.
#[uniffi::export(with_foreign)]
pub trait VideoEncoder: Send + Sync {
    /// A short name for reports, e.g. "MediaCodec c2.qti.avc.encoder".
    fn name(&self) -> Result<String, EgocapError>;
    /// Encodes one frame; returns the access units that became ready.
    fn encode(&self, image: I420Image, pts_ns: i64, force_keyframe: bool) -> Result<Vec<EncodedFrame>, EgocapError>;
    /// Returns every access unit still held back (end of stream or pause).
    fn flush(&self) -> Result<Vec<EncodedFrame>, EgocapError>;
}

/// The host's encoder seen through the core's trait.
pub(crate) struct HostEncoder(pub Arc<dyn VideoEncoder>);

impl core::VideoEncoder for HostEncoder {
    fn name(&self) -> String {
        self.0.name().unwrap_or_else(|e| {
            log::warn!("the host encoder did not say its name: {e}");
            "host encoder".into()
        })
    }

    fn encode(
        &mut self,
        image: &frame::I420Image,
        pts_ns: i64,
        force_keyframe: bool,
    ) -> Result<Vec<core::EncodedFrame>, EncoderError> {
        // The host needs its own copy: the picture crosses into Kotlin/Swift memory.
        let image = I420Image { width: image.width, height: image.height, data: BulkBytes(image.data.clone()) };
        let frames = self.0.encode(image, pts_ns, force_keyframe).map_err(|e| EncoderError::Host(e.to_string()))?;
        Ok(frames.into_iter().map(Into::into).collect())
    }

    fn flush(&mut self) -> Result<Vec<core::EncodedFrame>, EncoderError> {
        let frames = self.0.flush().map_err(|e| EncoderError::Host(e.to_string()))?;
        Ok(frames.into_iter().map(Into::into).collect())
    }
}

impl From<core::EncodedFrame> for EncodedFrame {
    fn from(f: core::EncodedFrame) -> Self {
        Self { annexb: BulkBytes(f.annexb), pts_ns: f.pts_ns, is_keyframe: f.is_keyframe }
    }
}

impl From<EncodedFrame> for core::EncodedFrame {
    fn from(f: EncodedFrame) -> Self {
        Self { annexb: f.annexb.0, pts_ns: f.pts_ns, is_keyframe: f.is_keyframe }
    }
}
