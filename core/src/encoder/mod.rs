//! H.264 encoding behind a trait, so a host can plug in its hardware
//! encoder (MediaCodec, VideoToolbox). OpenH264 is the default.
//!
//! Contract for implementations:
//! - Input frames arrive in presentation order, each with its timestamp.
//! - Output is Annex-B (start-code delimited NAL units), one access unit per
//!   [`EncodedFrame`], in decode order. Encoders with B-frames may return no
//!   output for a while and several frames later; [`VideoEncoder::flush`]
//!   drains what is held back.
//! - Every keyframe is an IDR access unit that carries its SPS and PPS (or
//!   the SPS/PPS were sent earlier in the stream: the segmenter remembers the
//!   last ones it saw).
//! - `force_keyframe` makes the next output an IDR: every segment starts with one.

mod openh264;

pub use self::openh264::OpenH264Encoder;

use thiserror::Error;

use crate::frame::I420Image;

/// What the session asks of any encoder.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EncoderSettings {
    pub width: u32,
    pub height: u32,
    /// Target average bitrate, bits per second.
    pub bitrate_bps: u32,
    /// Nominal frame rate, for rate control only (timestamps are real).
    pub frame_rate: f32,
    /// A keyframe at least every this many frames.
    pub keyframe_interval: u32,
    pub full_range: bool,
    pub bt709: bool,
}

/// One access unit in decode order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedFrame {
    /// Annex-B NAL units.
    pub annexb: Vec<u8>,
    /// Presentation time, nanoseconds on the session clock.
    pub pts_ns: i64,
    /// An IDR access unit.
    pub is_keyframe: bool,
}

#[derive(Debug, Error)]
pub enum EncoderError {
    #[error("encoder could not be configured for {width}x{height} at {bitrate_bps} bit/s: {reason}")]
    Configure { width: u32, height: u32, bitrate_bps: u32, reason: String },
    #[error("encoder failed on the frame at {pts_ns} ns: {reason}")]
    Encode { pts_ns: i64, reason: String },
    #[error("host encoder failed: {0}")]
    Host(String),
}

/// An H.264 encoder. Lives on the session's worker thread.
pub trait VideoEncoder: Send {
    /// A short name for reports, e.g. "openh264 2.6" or "MediaCodec c2.qti.avc.encoder".
    fn name(&self) -> String;

    /// Encodes one frame; returns the access units that became ready.
    fn encode(
        &mut self,
        image: &I420Image,
        pts_ns: i64,
        force_keyframe: bool,
    ) -> Result<Vec<EncodedFrame>, EncoderError>;

    /// Returns every access unit still held back (end of stream or pause).
    fn flush(&mut self) -> Result<Vec<EncodedFrame>, EncoderError>;
}
