//! Self-contained MP4 (ISO BMFF, ISO/IEC 14496-12) segments built in memory:
//! one H.264 video track and, optionally, one Google CAMM track of IMU samples.
//!
//! The whole segment is known before the first byte is written, so `moov`
//! goes before `mdat` and every chunk offset is exact: the file plays from
//! its first byte, without a second pass and without fragments.
//!
//! Time: each track keeps its own media timescale (video 90 kHz, IMU µs);
//! the movie timescale is their least common multiple, so every edit-list
//! duration of either track is exact. Edit lists (§8.6.6) put the first
//! presented frame at movie time 0, whatever the decode delay of B-frames,
//! and place a late first IMU sample at its exact time with an empty edit.

mod avc;
mod boxes;
mod camm;
pub mod inspect;
mod layout;
mod movie;
mod plan;

#[cfg(test)]
mod ffmpeg_tests;

pub use avc::{annexb_to_avcc, AvccAccessUnit};
pub use camm::{decode_camm_packet, encode_camm_packet, CammKind, CAMM_PACKET_LEN};

use thiserror::Error;

/// Video media timescale: ticks per second.
pub const VIDEO_TIMESCALE: u32 = 90_000;
/// IMU media timescale: microseconds.
pub const IMU_TIMESCALE: u32 = 1_000_000;

/// One coded picture, in decode order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoSample {
    /// AVCC: NAL units each prefixed by a 4-byte big-endian length; no SPS, PPS or AUD inside.
    pub data: Vec<u8>,
    /// Decode time in [`VIDEO_TIMESCALE`], relative to segment start; negative for the
    /// first samples of a stream with B-frames.
    pub decode_ticks: i64,
    /// Presentation time relative to segment start; the first presented frame is at 0.
    pub presentation_ticks: i64,
    /// Time to the next sample's decode time; the last sample's runs to the segment end.
    pub duration_ticks: u32,
    /// An IDR picture.
    pub is_sync: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoTrack {
    pub width: u32,
    pub height: u32,
    /// Clockwise rotation a player applies for display: 0, 90, 180 or 270.
    pub rotation_degrees: u16,
    /// Raw SPS NAL unit, no start code.
    pub sps: Vec<u8>,
    /// Raw PPS NAL unit, no start code.
    pub pps: Vec<u8>,
    pub samples: Vec<VideoSample>,
}

/// One CAMM packet (already encoded, see [`encode_camm_packet`]) at its time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImuSample {
    /// In [`IMU_TIMESCALE`], relative to segment start, `>= 0`, non-decreasing.
    pub time_ticks: i64,
    pub payload: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImuTrack {
    pub samples: Vec<ImuSample>,
    /// Segment end in [`IMU_TIMESCALE`]; later than the last sample's time.
    pub end_ticks: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentMovie {
    /// Written into `mvhd`, `tkhd` and `mdhd` as seconds since 1904.
    pub creation_time_unix_secs: u64,
    /// First presented frame to segment end.
    pub duration_ns: u64,
    pub video: VideoTrack,
    pub imu: Option<ImuTrack>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum Mp4Error {
    #[error("the {track} track has no samples")]
    EmptyTrack { track: &'static str },
    #[error("the video track has no usable {which} (expected a raw NAL unit of that type)")]
    MissingParameterSet { which: &'static str },
    #[error("the SPS cannot be parsed: {reason}")]
    InvalidSps { reason: &'static str },
    #[error("video size {width}x{height} is out of range (1..=65535 each)")]
    InvalidDimensions { width: u32, height: u32 },
    #[error("rotation {degrees} degrees is not one of 0, 90, 180, 270")]
    InvalidRotation { degrees: u16 },
    #[error("video sample {index}: {reason}")]
    InvalidVideoSample { index: usize, reason: &'static str },
    #[error("IMU sample {index}: {reason}")]
    InvalidImuSample { index: usize, reason: &'static str },
    #[error("segment timing: {reason}")]
    InvalidTiming { reason: &'static str },
    #[error("{what} does not fit its field in the file")]
    Overflow { what: &'static str },
    #[error("Annex-B input: {reason}")]
    MalformedAnnexB { reason: &'static str },
    #[error("CAMM packet: {reason}")]
    InvalidCammPacket { reason: &'static str },
}

/// Builds a complete MP4 segment: `ftyp`, `moov`, then one `mdat`.
pub fn write_segment(movie: &SegmentMovie) -> Result<Vec<u8>, Mp4Error> {
    let segment = plan::SegmentTiming::new(movie)?;
    let mut tracks = vec![plan::video_track(&movie.video, &segment)?];
    if let Some(imu) = &movie.imu {
        tracks.push(plan::imu_track(imu)?);
    }
    let media = layout::interleave(&mut tracks)?;
    let header = movie::MovieHeader { creation_time_1904: segment.creation_time_1904 };

    let ftyp = movie::ftyp()?;
    let mdat_header = boxes::mdat_header(media.payload_len)?;
    // Box sizes do not depend on the offset values, only on their width, so
    // one dry run per width gives the final position of the mdat payload.
    let mut wide = false;
    let mut moov = movie::moov(&header, &tracks, 0, wide)?;
    let mut base = payload_start(&ftyp, &moov, &mdat_header)?;
    if base.checked_add(media.last_chunk_offset).is_none_or(|end| end > u64::from(u32::MAX)) {
        wide = true;
        moov = movie::moov(&header, &tracks, 0, wide)?;
        base = payload_start(&ftyp, &moov, &mdat_header)?;
    }
    let moov = movie::moov(&header, &tracks, base, wide)?;

    let total = payload_start(&ftyp, &moov, &mdat_header)?
        .checked_add(media.payload_len)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or(Mp4Error::Overflow { what: "segment size" })?;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&ftyp);
    out.extend_from_slice(&moov);
    out.extend_from_slice(&mdat_header);
    layout::write_payload(&tracks, &media, &mut out);
    Ok(out)
}

fn payload_start(ftyp: &[u8], moov: &[u8], mdat_header: &[u8]) -> Result<u64, Mp4Error> {
    let n = ftyp.len() + moov.len() + mdat_header.len();
    u64::try_from(n).map_err(|_| Mp4Error::Overflow { what: "moov size" })
}
