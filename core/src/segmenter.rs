//! Cuts the encoded stream and the IMU stream into self-contained segments.
//!
//! A segment starts at an IDR access unit and ends where the next segment
//! starts: the first IDR at least `segment_ns` after its start (hardware
//! encoders honour a keyframe request late, so the cut follows the IDR, not
//! the clock). Segment k's end is exactly segment k+1's first presentation
//! time, so segments join without gap or overlap. IMU samples go to the
//! segment whose [start, end) holds their timestamp; a closed segment waits
//! until the IMU stream has moved past its end (Android batches sensor
//! events), or until the video is `imu_max_lag_ns` ahead.

use std::collections::VecDeque;

use thiserror::Error;

use crate::encoder::EncodedFrame;
use crate::imu::ImuSample;
use crate::mp4::{annexb_to_avcc, Mp4Error, IMU_TIMESCALE};
use crate::segment::ticks;

/// What is known about a segment's video once it is closed.
#[derive(Debug, Clone)]
pub struct ClosedSegment {
    pub sequence: u64,
    /// First presentation time (session clock, ns).
    pub start_ns: i64,
    /// Exclusive end: the next segment's start, or the estimated end of the
    /// last frame when recording paused or stopped.
    pub end_ns: i64,
    pub end_reason: SegmentEnd,
    /// Access units in decode order, AVCC (length-prefixed) payloads.
    pub frames: Vec<CodedPicture>,
    pub sps: Vec<u8>,
    pub pps: Vec<u8>,
    /// IMU samples in time order, all within [start_ns, end_ns).
    pub imu: Vec<ImuSample>,
    /// Counters the session keeps while the segment is open.
    pub stats: SegmentStats,
}

/// What the session counted while a segment was open.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SegmentStats {
    pub frames_dropped_queue_full: u64,
    pub frames_dropped_timestamp_not_increasing: u64,
    /// Pushed while the recording was paused (counted toward the next segment).
    pub frames_dropped_paused: u64,
    pub imu_rejected_not_increasing: u64,
    pub imu_rejected_too_late: u64,
    pub imu_rejected_not_finite: u64,
    /// Forward jumps in frame time longer than 1.5 nominal intervals.
    pub gaps: Vec<FrameGap>,
    pub clock_unverified: bool,
    pub start_clock: Option<crate::clock::ClockPair>,
    pub blur: BlurCounts,
}

/// What face blurring did to a segment's frames.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlurCounts {
    /// Faces seen for the first time (new tracks), not one per frame.
    pub faces_found: u64,
    /// Frames with at least one face region obscured.
    pub frames_blurred: u64,
    /// Frames obscured whole or dropped because detection failed or fell behind.
    pub frames_failed_closed: u64,
    /// Of those, the frames dropped (in drop mode); they are not in the segment.
    pub frames_dropped: u64,
}

impl BlurCounts {
    fn absorb(&mut self, other: BlurCounts) {
        self.faces_found += other.faces_found;
        self.frames_blurred += other.frames_blurred;
        self.frames_failed_closed += other.frames_failed_closed;
        self.frames_dropped += other.frames_dropped;
    }
}

impl SegmentStats {
    /// Adds counts carried from before the segment opened.
    pub fn absorb(&mut self, other: SegmentStats) {
        self.frames_dropped_queue_full += other.frames_dropped_queue_full;
        self.frames_dropped_timestamp_not_increasing += other.frames_dropped_timestamp_not_increasing;
        self.frames_dropped_paused += other.frames_dropped_paused;
        self.imu_rejected_not_increasing += other.imu_rejected_not_increasing;
        self.imu_rejected_too_late += other.imu_rejected_too_late;
        self.imu_rejected_not_finite += other.imu_rejected_not_finite;
        self.gaps.extend(other.gaps);
        self.clock_unverified |= other.clock_unverified;
        self.blur.absorb(other.blur);
    }
}

/// A forward jump in frame timestamps: accepted, and listed in the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FrameGap {
    /// Timestamp of the frame before the gap.
    pub after_ns: i64,
    /// Time from that frame to the next.
    pub interval_ns: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodedPicture {
    pub avcc: Vec<u8>,
    pub pts_ns: i64,
    pub is_keyframe: bool,
}

/// Why a segment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SegmentEnd {
    /// Cut at an IDR after the segment length; the next segment follows at once.
    Cut,
    /// The host paused the recording.
    Pause,
    /// The recording stopped.
    Stop,
}

#[derive(Debug, Error)]
pub enum SegmentError {
    #[error("the first frame of a segment (at {pts_ns} ns) is not an IDR frame")]
    NoKeyframeAtStart { pts_ns: i64 },
    #[error("no SPS/PPS seen before the IDR frame at {pts_ns} ns")]
    MissingParameterSets { pts_ns: i64 },
    #[error("access unit at {pts_ns} ns is not valid H.264 Annex-B: {source}")]
    Bitstream { pts_ns: i64, source: Mp4Error },
}

/// Where IMU samples went that did not land in a segment.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImuPlacement {
    /// Samples before the first frame or inside a pause.
    pub outside_segments: u64,
    /// Samples for a segment already written.
    pub after_segment_written: u64,
}

pub struct Segmenter {
    segment_ns: i64,
    imu_max_lag_ns: i64,
    expects_imu: bool,
    next_sequence: u64,
    open: Option<ClosedSegment>,
    waiting: VecDeque<ClosedSegment>,
    sps: Option<Vec<u8>>,
    pps: Option<Vec<u8>>,
    /// End of the newest segment handed out; IMU before it is too late.
    written_up_to_ns: Option<i64>,
    newest_video_ns: i64,
    pub imu_placement: ImuPlacement,
}

impl Segmenter {
    pub fn new(segment_ns: i64, imu_max_lag_ns: i64, expects_imu: bool) -> Self {
        Self {
            segment_ns,
            imu_max_lag_ns,
            expects_imu,
            next_sequence: 0,
            open: None,
            waiting: VecDeque::new(),
            sps: None,
            pps: None,
            written_up_to_ns: None,
            newest_video_ns: i64::MIN,
            imu_placement: ImuPlacement::default(),
        }
    }

    /// Whether the next frame should be forced to an IDR: a segment is due.
    pub fn wants_keyframe(&self, next_pts_ns: i64) -> bool {
        self.open.as_ref().is_none_or(|s| next_pts_ns - s.start_ns >= self.segment_ns)
    }

    /// Takes one access unit in decode order.
    pub fn push_video(&mut self, frame: EncodedFrame) -> Result<(), SegmentError> {
        let unit =
            annexb_to_avcc(&frame.annexb).map_err(|source| SegmentError::Bitstream { pts_ns: frame.pts_ns, source })?;
        if let Some(sps) = unit.sps.into_iter().next() {
            self.sps = Some(sps);
        }
        if let Some(pps) = unit.pps.into_iter().next() {
            self.pps = Some(pps);
        }
        // Only an IDR can start a self-contained segment, whatever the host's
        // keyframe flag says (MediaCodec flags non-IDR sync frames too).
        let is_keyframe = unit.is_idr;
        let cut_due = self.wants_keyframe(frame.pts_ns);
        let mut carried_imu = Vec::new();
        if is_keyframe && cut_due {
            if let Some(mut segment) = self.open.take() {
                segment.end_ns = frame.pts_ns;
                segment.end_reason = SegmentEnd::Cut;
                // IMU that arrived ahead of this frame belongs to the next segment.
                carried_imu = split_off_after_end(&mut segment);
                self.waiting.push_back(segment);
            }
        }
        self.newest_video_ns = self.newest_video_ns.max(frame.pts_ns);
        let picture = CodedPicture { avcc: unit.data, pts_ns: frame.pts_ns, is_keyframe };
        match &mut self.open {
            Some(segment) => {
                segment.start_ns = segment.start_ns.min(frame.pts_ns);
                segment.frames.push(picture);
            }
            None => {
                if !is_keyframe {
                    return Err(SegmentError::NoKeyframeAtStart { pts_ns: frame.pts_ns });
                }
                let (Some(sps), Some(pps)) = (self.sps.clone(), self.pps.clone()) else {
                    return Err(SegmentError::MissingParameterSets { pts_ns: frame.pts_ns });
                };
                self.open = Some(ClosedSegment {
                    sequence: self.next_sequence,
                    start_ns: frame.pts_ns,
                    end_ns: frame.pts_ns,
                    end_reason: SegmentEnd::Cut,
                    frames: vec![picture],
                    sps,
                    pps,
                    imu: carried_imu,
                    stats: SegmentStats::default(),
                });
                self.next_sequence += 1;
            }
        }
        Ok(())
    }

    /// Takes IMU samples released in time order by the merger.
    pub fn push_imu(&mut self, samples: impl IntoIterator<Item = ImuSample>) {
        for sample in samples {
            let t = sample.timestamp_ns;
            let in_waiting = self.waiting.iter_mut().find(|s| imu_offset(s, t) >= 0 && before_end(s, t));
            // The open segment's end is not known yet: it takes everything after its start.
            let target = match in_waiting {
                Some(segment) => Some(segment),
                None => self.open.as_mut().filter(|s| imu_offset(s, t) >= 0),
            };
            match target {
                Some(segment) => segment.imu.push(sample),
                None if self.written_up_to_ns.is_some_and(|w| t < w) => self.imu_placement.after_segment_written += 1,
                None => self.imu_placement.outside_segments += 1,
            }
        }
    }

    /// Closes the open segment at `end_ns` (pause or stop). IMU samples after
    /// the end (the sensors ran on after the camera stopped) are not kept.
    pub fn close(&mut self, end_ns: i64, reason: SegmentEnd) {
        if let Some(mut segment) = self.open.take() {
            segment.end_ns = end_ns.max(segment.start_ns + 1);
            segment.end_reason = reason;
            let after_end = split_off_after_end(&mut segment);
            self.imu_placement.outside_segments += after_end.len() as u64;
            self.waiting.push_back(segment);
        }
    }

    /// Segments whose IMU is complete: the IMU watermark passed their end, the
    /// video is far enough ahead, or there is no IMU stream.
    pub fn take_ready(&mut self, imu_watermark_ns: Option<i64>) -> Vec<ClosedSegment> {
        let mut ready = Vec::new();
        while let Some(front) = self.waiting.front() {
            let imu_done = !self.expects_imu
                || imu_watermark_ns.is_some_and(|w| w >= front.end_ns)
                || self.newest_video_ns.saturating_sub(front.end_ns) >= self.imu_max_lag_ns;
            if !imu_done {
                break;
            }
            if let Some(segment) = self.waiting.pop_front() {
                self.written_up_to_ns = Some(segment.end_ns);
                ready.push(segment);
            }
        }
        ready
    }

    /// Every closed segment, regardless of IMU (end of recording).
    pub fn take_all(&mut self) -> Vec<ClosedSegment> {
        let ready: Vec<ClosedSegment> = self.waiting.drain(..).collect();
        if let Some(last) = ready.last() {
            self.written_up_to_ns = Some(last.end_ns);
        }
        ready
    }

    /// Counters of the open segment, if one is open.
    pub fn open_stats(&mut self) -> Option<&mut SegmentStats> {
        self.open.as_mut().map(|s| &mut s.stats)
    }
}

/// A sample's offset in the segment, in IMU track ticks as the file will hold it.
fn imu_offset(segment: &ClosedSegment, t: i64) -> i64 {
    ticks(t - segment.start_ns, IMU_TIMESCALE)
}

/// Whether a sample's tick falls before the segment's end tick: membership
/// is decided on the rounded times the file holds, so a sample a fraction of
/// a tick before the end never lands on the end itself.
fn before_end(segment: &ClosedSegment, t: i64) -> bool {
    imu_offset(segment, t) < ticks(segment.end_ns - segment.start_ns, IMU_TIMESCALE)
}

/// Removes and returns the samples at or after the segment's end.
fn split_off_after_end(segment: &mut ClosedSegment) -> Vec<ImuSample> {
    let keep = segment.imu.iter().take_while(|s| before_end(segment, s.timestamp_ns)).count();
    segment.imu.split_off(keep)
}
