//! The signed record of one sealed segment: what it holds, how it was
//! captured, the hashes that bind it to its bytes, and the hash of the
//! previous record in its session (the chain).

use serde::{Deserialize, Serialize};

use super::keystore::PublicKey;
use super::values::{Nanos, Sha256Digest, UtcInstant};
use crate::clock::ClockDomain;
use crate::segment::SegmentSummary;
use crate::segmenter::SegmentEnd;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentRecord {
    pub session_id: String,
    pub sequence: u64,
    /// Session clock (the frames' declared clock), ns.
    pub start_ns: Nanos,
    /// Exclusive end, ns.
    pub end_ns: Nanos,
    /// Wall clock when the segment opened (its first frame reached the
    /// encoder) and when it closed. A source's frame times need not be on
    /// a clock this device can read (a file, a synthetic source), so these
    /// are readings, not mappings; `clock.pairs` relate the two when they are.
    pub start_utc: Option<UtcInstant>,
    pub end_utc: Option<UtcInstant>,
    pub end_reason: SegmentEnd,
    pub clock: ClockReport,
    pub counts: SegmentCounts,
    pub plaintext: FileDigest,
    pub sealed: SealedFile,
    /// SHA-256 of the previous segment record of this session; zeros for the first.
    pub previous_record_sha256: Sha256Digest,
    pub consent_id: String,
    pub recipient_set_version: u64,
    /// SHA-256 of the recipient-set record: a version number alone could be
    /// claimed by a set someone else signed.
    pub recipient_set_sha256: Sha256Digest,
    /// `None` when no face blurring ran on this segment.
    pub blur: Option<BlurReport>,
    pub quality: QualityReport,
    pub device_key: PublicKey,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockReport {
    pub domain: ClockDomain,
    /// An input was on an unknown clock: the alignment is estimated.
    pub unverified: bool,
    /// (monotonic ns, UTC) read together when the segment opened and closed.
    pub pairs: Vec<ClockPairReport>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockPairReport {
    pub monotonic_ns: Nanos,
    pub utc: UtcInstant,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentCounts {
    pub frames: u64,
    pub keyframes: u64,
    pub frame_gaps: u64,
    pub imu_samples: u64,
    pub imu_gyroscope: u64,
    pub imu_accelerometer: u64,
    pub imu_magnetometer: u64,
    pub frames_dropped_queue_full: u64,
    pub frames_dropped_timestamp_not_increasing: u64,
    pub frames_dropped_paused: u64,
    pub imu_rejected_not_increasing: u64,
    pub imu_rejected_too_late: u64,
    pub imu_rejected_not_finite: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDigest {
    pub sha256: Sha256Digest,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedFile {
    /// File name beside the record (`seg-000000.mp4.age`).
    pub file: String,
    pub sha256: Sha256Digest,
    pub bytes: u64,
}

/// What face blurring did to the segment (see the blur module).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlurReport {
    pub model_name: String,
    pub model_sha256: Sha256Digest,
    pub faces_found: u64,
    pub frames_blurred: u64,
    pub frames_failed_closed: u64,
    /// Of the failed-closed frames, those dropped (not in the file).
    pub frames_dropped: u64,
}

impl BlurReport {
    /// From a segment's blur summary; `None` when the model digest is not
    /// SHA-256 hex (a detector that misreports its model).
    pub fn from_summary(blur: &crate::segment::BlurSummary) -> Option<Self> {
        Some(Self {
            model_name: blur.model_name.clone(),
            model_sha256: Sha256Digest(super::values::decode_lower_hex(&blur.model_sha256)?),
            faces_found: blur.faces_found,
            frames_blurred: blur.frames_blurred,
            frames_failed_closed: blur.frames_failed_closed,
            frames_dropped: blur.frames_dropped_failed_closed,
        })
    }
}

/// Fixed-point figures only: signed fields hold no floats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualityReport {
    pub width: u32,
    pub height: u32,
    pub rotation_degrees: u16,
    pub encoder: String,
    pub target_bitrate_bps: u64,
    pub video_bitrate_bps: u64,
    pub frame_interval_min_ns: i64,
    pub frame_interval_max_ns: i64,
    pub frame_interval_mean_ns: i64,
    /// IMU samples per second × 1000 over the segment.
    pub imu_rate_millihertz: u64,
}

/// Closes a session's chain: how many segments it wrote and the hash of the
/// last one's record, so a verifier notices segments missing at the end.
/// Absent when the recording was killed; signed by the session's device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionEnd {
    pub session_id: String,
    /// Segments sealed and recorded; fewer than `last_sequence + 1` when a
    /// write failed mid-session (the worker goes on with later segments).
    pub segments_written: u64,
    /// Sequence of the last segment written; `None` when there was none.
    pub last_sequence: Option<u64>,
    /// That segment's record hash; zeros when there was none.
    pub last_record_sha256: Sha256Digest,
    pub ended_at: UtcInstant,
    /// The pipeline failed; segments before the failure are kept.
    pub failed: bool,
    pub device_key: PublicKey,
}

/// What the sealer knows beyond the segment summary.
#[derive(Debug, Clone)]
pub struct SealingFacts {
    pub clock_domain: ClockDomain,
    pub plaintext: FileDigest,
    pub sealed: SealedFile,
    pub previous_record_sha256: Sha256Digest,
    pub consent_id: String,
    pub recipient_set_version: u64,
    pub recipient_set_sha256: Sha256Digest,
    pub blur: Option<BlurReport>,
    pub device_key: PublicKey,
}

impl SegmentRecord {
    pub fn new(summary: &SegmentSummary, facts: SealingFacts) -> Self {
        let pairs = [summary.start_clock, summary.end_clock]
            .into_iter()
            .flatten()
            .map(|p| ClockPairReport { monotonic_ns: Nanos(p.monotonic_ns), utc: UtcInstant(p.utc_unix_ns) })
            .collect();
        let duration_ns = u64::try_from(summary.end_ns.saturating_sub(summary.start_ns)).unwrap_or(0);
        let imu_rate_millihertz = if duration_ns == 0 {
            0
        } else {
            // Clamped so a wild rate cannot make the record unsignable.
            u64::try_from(u128::from(summary.imu_sample_count) * 1_000_000_000_000 / u128::from(duration_ns))
                .unwrap_or(u64::MAX)
                .min(super::record::MAX_SAFE_INTEGER)
        };
        Self {
            session_id: summary.session_id.clone(),
            sequence: summary.sequence,
            start_ns: Nanos(summary.start_ns),
            end_ns: Nanos(summary.end_ns),
            start_utc: summary.start_clock.map(|p| UtcInstant(p.utc_unix_ns)),
            end_utc: summary.end_clock.map(|p| UtcInstant(p.utc_unix_ns)),
            end_reason: summary.end_reason,
            clock: ClockReport { domain: facts.clock_domain, unverified: summary.clock_unverified, pairs },
            counts: SegmentCounts {
                frames: summary.frame_count,
                keyframes: summary.keyframe_count,
                frame_gaps: summary.gaps.len() as u64,
                imu_samples: summary.imu_sample_count,
                imu_gyroscope: summary.imu_gyroscope_count,
                imu_accelerometer: summary.imu_accelerometer_count,
                imu_magnetometer: summary.imu_magnetometer_count,
                frames_dropped_queue_full: summary.frames_dropped_queue_full,
                frames_dropped_timestamp_not_increasing: summary.frames_dropped_timestamp_not_increasing,
                frames_dropped_paused: summary.frames_dropped_paused,
                imu_rejected_not_increasing: summary.imu_rejected_not_increasing,
                imu_rejected_too_late: summary.imu_rejected_too_late,
                imu_rejected_not_finite: summary.imu_rejected_not_finite,
            },
            plaintext: facts.plaintext,
            sealed: facts.sealed,
            previous_record_sha256: facts.previous_record_sha256,
            consent_id: facts.consent_id,
            recipient_set_version: facts.recipient_set_version,
            recipient_set_sha256: facts.recipient_set_sha256,
            blur: facts.blur,
            quality: QualityReport {
                width: summary.width,
                height: summary.height,
                rotation_degrees: summary.rotation_degrees,
                encoder: summary.encoder.clone(),
                target_bitrate_bps: u64::from(summary.target_bitrate_bps),
                video_bitrate_bps: summary.video_bitrate_bps,
                frame_interval_min_ns: summary.frame_interval_ns.min,
                frame_interval_max_ns: summary.frame_interval_ns.max,
                frame_interval_mean_ns: summary.frame_interval_ns.mean,
                imu_rate_millihertz,
            },
            device_key: facts.device_key,
        }
    }
}
