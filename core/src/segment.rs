//! A closed segment becomes an MP4 file and its summary.
//!
//! Timing: presentation times are each frame's real timestamp relative to
//! the segment start, rounded to the 90 kHz track clock. Decode times for a
//! stream with B-frames follow ISO/IEC 14496-12 §8.6.1: the i-th decode time
//! is the i-th smallest presentation time, shifted earlier by the largest
//! reorder delay so that every composition offset is non-negative (§8.6.1.3);
//! the edit list then starts presentation at the first frame.

use thiserror::Error;

use crate::clock::ClockPair;
use crate::geometry::CameraGeometry;
use crate::imu::{ImuKind, ImuSample};
use crate::mp4::{
    self, encode_camm_packet, CammKind, ImuTrack, Mp4Error, SegmentMovie, VideoSample, VideoTrack, IMU_TIMESCALE,
    VIDEO_TIMESCALE,
};
use crate::segmenter::{ClosedSegment, FrameGap, SegmentEnd, SegmentStats};

/// Version of the summary layout below.
pub const SUMMARY_FORMAT_VERSION: u32 = 1;

/// What a segment holds, written beside it and listed in the session summary.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SegmentSummary {
    pub format_version: u32,
    pub session_id: String,
    pub sequence: u64,
    pub file: String,
    /// First presentation time, session clock, ns.
    pub start_ns: i64,
    /// Exclusive end: the next segment's start when `end_reason` is `cut`.
    pub end_ns: i64,
    pub end_reason: SegmentEnd,
    /// (monotonic, UTC) read when the segment opened and when it closed.
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
    /// An input stream was on an unknown clock: the alignment is estimated.
    pub clock_unverified: bool,
    pub width: u32,
    pub height: u32,
    pub rotation_degrees: u16,
    /// Facing, intrinsics and the IMU-to-camera rotation applied to the CAMM track.
    pub camera: CameraGeometry,
    pub encoder: String,
    pub target_bitrate_bps: u32,
    /// H.264 payload bits over the segment's duration.
    pub video_bitrate_bps: u64,
    pub file_bytes: u64,
    /// `None` when the session did not blur faces.
    #[serde(default)]
    pub blur: Option<BlurSummary>,
}

/// Frame-to-frame intervals: constant frame rate is reported, never faked.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IntervalStats {
    pub min: i64,
    pub max: i64,
    pub mean: i64,
}

#[derive(Debug, Error)]
pub enum SegmentBuildError {
    #[error("segment {sequence} has no frames")]
    Empty { sequence: u64 },
    #[error("segment {sequence} could not be written as MP4: {source}")]
    Mp4 { sequence: u64, source: Mp4Error },
}

/// Everything about the recording that is fixed for its segments.
#[derive(Debug, Clone)]
pub struct SegmentContext {
    pub session_id: String,
    pub geometry: CameraGeometry,
    pub width: u32,
    pub height: u32,
    pub encoder_name: String,
    pub target_bitrate_bps: u32,
    /// The face model, when the session blurs faces.
    pub blur_model: Option<BlurModel>,
}

/// Which face model blurred a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlurModel {
    pub name: String,
    /// Lowercase hex.
    pub sha256: String,
}

/// What face blurring did to one segment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlurSummary {
    pub model_name: String,
    /// SHA-256 of the model bytes, lowercase hex.
    pub model_sha256: String,
    /// Faces seen for the first time in this segment (new tracks).
    pub faces_found: u64,
    /// Frames with at least one face region obscured.
    pub frames_blurred: u64,
    /// Frames obscured whole or dropped because detection failed or fell behind.
    pub frames_failed_closed: u64,
    /// Of those, the frames dropped; they are not in the file.
    pub frames_dropped_failed_closed: u64,
}

/// A segment ready for a sink: MP4 bytes plus its summary.
#[derive(Debug, Clone)]
pub struct FinishedSegment {
    pub summary: SegmentSummary,
    pub mp4: Vec<u8>,
}

/// File name of segment `sequence`.
pub fn segment_file_name(sequence: u64) -> String {
    format!("seg-{sequence:06}.mp4")
}

pub fn build_segment(
    closed: ClosedSegment,
    context: &SegmentContext,
    end_clock: Option<ClockPair>,
) -> Result<FinishedSegment, SegmentBuildError> {
    let sequence = closed.sequence;
    if closed.frames.is_empty() {
        return Err(SegmentBuildError::Empty { sequence });
    }
    let video = video_track(&closed, context);
    let video_bytes: u64 = video.samples.iter().map(|s| s.data.len() as u64).sum();
    let duration_ns = u64::try_from(closed.end_ns - closed.start_ns).unwrap_or(0);
    let imu = (!closed.imu.is_empty()).then(|| imu_track(&closed));
    let creation_time_unix_secs =
        closed.stats.start_clock.map_or(0, |c| u64::try_from(c.utc_unix_ns / 1_000_000_000).unwrap_or(0));
    let movie = SegmentMovie { creation_time_unix_secs, duration_ns, video, imu };
    let mp4 = mp4::write_segment(&movie).map_err(|source| SegmentBuildError::Mp4 { sequence, source })?;
    let summary = summarise(&closed, context, end_clock, video_bytes, mp4.len() as u64);
    Ok(FinishedSegment { summary, mp4 })
}

/// `ns` in ticks of `timescale`, rounded to nearest.
pub fn ticks(ns: i64, timescale: u32) -> i64 {
    // Round to nearest; i128 so hours of nanoseconds cannot overflow.
    let scaled = i128::from(ns) * i128::from(timescale);
    let rounded = (scaled + 500_000_000 * i128::from(ns.signum())) / 1_000_000_000;
    i64::try_from(rounded).unwrap_or(i64::MAX)
}

fn video_track(closed: &ClosedSegment, context: &SegmentContext) -> VideoTrack {
    let start = closed.start_ns;
    let pts: Vec<i64> = closed.frames.iter().map(|f| ticks(f.pts_ns - start, VIDEO_TIMESCALE)).collect();
    let mut sorted = pts.clone();
    sorted.sort_unstable();
    // Reorder delay: how far a frame's decode must precede its presentation.
    let delay = pts.iter().zip(&sorted).map(|(p, d)| d - p).max().unwrap_or(0).max(0);
    let end = ticks(closed.end_ns - start, VIDEO_TIMESCALE);
    let samples = closed
        .frames
        .iter()
        .enumerate()
        .map(|(i, frame)| {
            // The last sample runs to the segment end plus the reorder delay, so
            // the media lasts until the last picture's composition time ends.
            let next_decode = sorted.get(i + 1).copied().unwrap_or(end + delay);
            VideoSample {
                data: frame.avcc.clone(),
                decode_ticks: sorted[i] - delay,
                presentation_ticks: pts[i],
                duration_ticks: u32::try_from((next_decode - sorted[i]).max(0)).unwrap_or(u32::MAX),
                is_sync: frame.is_keyframe,
            }
        })
        .collect();
    VideoTrack {
        width: context.width,
        height: context.height,
        rotation_degrees: context.geometry.display_rotation_degrees,
        sps: closed.sps.clone(),
        pps: closed.pps.clone(),
        samples,
    }
}

fn imu_track(closed: &ClosedSegment) -> ImuTrack {
    let samples = closed
        .imu
        .iter()
        .map(|s| mp4::ImuSample {
            // A sample up to half a tick before the start rounds to -1; it is at 0.
            time_ticks: ticks(s.timestamp_ns - closed.start_ns, IMU_TIMESCALE).max(0),
            payload: camm_payload(s),
        })
        .collect();
    ImuTrack { samples, end_ticks: ticks(closed.end_ns - closed.start_ns, IMU_TIMESCALE) }
}

fn camm_payload(sample: &ImuSample) -> Vec<u8> {
    let kind = match sample.kind {
        ImuKind::Gyroscope => CammKind::Gyroscope,
        ImuKind::Accelerometer => CammKind::Accelerometer,
        ImuKind::Magnetometer => CammKind::MagneticField,
    };
    let [x, y, z] = sample.xyz;
    encode_camm_packet(kind, [x as f32, y as f32, z as f32]).to_vec()
}

fn summarise(
    closed: &ClosedSegment,
    context: &SegmentContext,
    end_clock: Option<ClockPair>,
    video_bytes: u64,
    file_bytes: u64,
) -> SegmentSummary {
    let SegmentStats {
        frames_dropped_queue_full,
        frames_dropped_timestamp_not_increasing,
        frames_dropped_paused,
        imu_rejected_not_increasing,
        imu_rejected_too_late,
        imu_rejected_not_finite,
        gaps,
        clock_unverified,
        start_clock,
        blur,
    } = closed.stats.clone();
    let count_kind = |kind| closed.imu.iter().filter(|s| s.kind == kind).count() as u64;
    let duration_ns = (closed.end_ns - closed.start_ns).max(1);
    SegmentSummary {
        format_version: SUMMARY_FORMAT_VERSION,
        session_id: context.session_id.clone(),
        sequence: closed.sequence,
        file: segment_file_name(closed.sequence),
        start_ns: closed.start_ns,
        end_ns: closed.end_ns,
        end_reason: closed.end_reason,
        start_clock,
        end_clock,
        frame_count: closed.frames.len() as u64,
        keyframe_count: closed.frames.iter().filter(|f| f.is_keyframe).count() as u64,
        frame_interval_ns: interval_stats(closed),
        gaps,
        imu_sample_count: closed.imu.len() as u64,
        imu_gyroscope_count: count_kind(ImuKind::Gyroscope),
        imu_accelerometer_count: count_kind(ImuKind::Accelerometer),
        imu_magnetometer_count: count_kind(ImuKind::Magnetometer),
        frames_dropped_queue_full,
        frames_dropped_timestamp_not_increasing,
        frames_dropped_paused,
        imu_rejected_not_increasing,
        imu_rejected_too_late,
        imu_rejected_not_finite,
        clock_unverified,
        width: context.width,
        height: context.height,
        rotation_degrees: context.geometry.display_rotation_degrees,
        camera: context.geometry,
        encoder: context.encoder_name.clone(),
        target_bitrate_bps: context.target_bitrate_bps,
        video_bitrate_bps: u64::try_from(i128::from(video_bytes) * 8 * 1_000_000_000 / i128::from(duration_ns))
            .unwrap_or(u64::MAX),
        file_bytes,
        blur: context.blur_model.as_ref().map(|model| BlurSummary {
            model_name: model.name.clone(),
            model_sha256: model.sha256.clone(),
            faces_found: blur.faces_found,
            frames_blurred: blur.frames_blurred,
            frames_failed_closed: blur.frames_failed_closed,
            frames_dropped_failed_closed: blur.frames_dropped,
        }),
    }
}

fn interval_stats(closed: &ClosedSegment) -> IntervalStats {
    let mut pts: Vec<i64> = closed.frames.iter().map(|f| f.pts_ns).collect();
    pts.sort_unstable();
    pts.push(closed.end_ns);
    let intervals: Vec<i64> = pts.windows(2).map(|w| w[1] - w[0]).collect();
    let (Some(&min), Some(&max)) = (intervals.iter().min(), intervals.iter().max()) else {
        return IntervalStats::default();
    };
    let mean = intervals.iter().sum::<i64>() / intervals.len() as i64;
    IntervalStats { min, max, mean }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_round_to_nearest_in_both_directions() {
        assert_eq!(ticks(33_333_333, VIDEO_TIMESCALE), 3000);
        assert_eq!(ticks(5_555, VIDEO_TIMESCALE), 0);
        assert_eq!(ticks(5_556, VIDEO_TIMESCALE), 1);
        assert_eq!(ticks(-5_556, VIDEO_TIMESCALE), -1);
        assert_eq!(ticks(1_500, IMU_TIMESCALE), 2);
    }
}
