//! Validation of the caller's tracks and their translation into what the
//! sample tables (ISO/IEC 14496-12 §8.6, §8.7) and edit lists (§8.6.6) say,
//! each in its track's media timescale. Nothing here writes bytes.

use super::avc::is_well_formed_avcc;
use super::camm::decode_camm_packet;
use super::{ImuTrack, Mp4Error, SegmentMovie, VideoTrack, IMU_TIMESCALE, VIDEO_TIMESCALE};

/// Movie timescale (`mvhd`): the least common multiple of the two media
/// timescales, so edit durations of both tracks convert exactly.
pub(crate) const MOVIE_TIMESCALE: u32 = 9_000_000;
const MOVIE_PER_VIDEO_TICK: i128 = (MOVIE_TIMESCALE / VIDEO_TIMESCALE) as i128;
const MOVIE_PER_IMU_TICK: i128 = (MOVIE_TIMESCALE / IMU_TIMESCALE) as i128;
/// Seconds from 1904-01-01 (the ISO BMFF epoch, §8.2.2.3) to 1970-01-01.
const UNIX_EPOCH_SINCE_1904: u64 = 2_082_844_800;

pub(crate) const VIDEO_TRACK_ID: u32 = 1;
pub(crate) const IMU_TRACK_ID: u32 = 2;

/// Movie-wide values every track needs.
pub(crate) struct SegmentTiming {
    pub creation_time_1904: u64,
    /// Segment duration in [`MOVIE_TIMESCALE`].
    pub duration_movie: u64,
}

impl SegmentTiming {
    pub fn new(movie: &SegmentMovie) -> Result<Self, Mp4Error> {
        let creation_time_1904 = movie
            .creation_time_unix_secs
            .checked_add(UNIX_EPOCH_SINCE_1904)
            .ok_or(Mp4Error::Overflow { what: "creation time" })?;
        let ns = u128::from(movie.duration_ns);
        let per_second = u128::from(MOVIE_TIMESCALE);
        let duration_movie = u64::try_from((ns * per_second + 500_000_000) / 1_000_000_000)
            .map_err(|_| Mp4Error::Overflow { what: "segment duration" })?;
        if duration_movie == 0 {
            return Err(Mp4Error::InvalidTiming { reason: "segment duration is zero" });
        }
        Ok(Self { creation_time_1904, duration_movie })
    }
}

pub(crate) enum TrackMedia<'a> {
    Video { width: u16, height: u16, rotation_degrees: u16, sps: &'a [u8], pps: &'a [u8] },
    CameraMotion,
}

/// One `elst` entry (§8.6.6): `media_time = -1` is an empty edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Edit {
    pub duration_movie: u64,
    pub media_time: i64,
}

/// A run of consecutive samples stored together (§8.7.4); `offset` is
/// relative to the start of the `mdat` payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Chunk {
    pub first_sample: usize,
    pub sample_count: usize,
    pub offset: u64,
}

pub(crate) struct TrackPlan<'a> {
    pub track_id: u32,
    pub media: TrackMedia<'a>,
    pub timescale: u32,
    pub samples: Vec<&'a [u8]>,
    /// Decode time of each sample relative to segment start, in movie units;
    /// used only to interleave chunks.
    pub sample_times_movie: Vec<i128>,
    /// Decode duration of each sample (`stts`).
    pub deltas: Vec<u32>,
    /// Composition minus decode time of each sample (`ctts` version 0), when any is non-zero.
    pub composition_offsets: Option<Vec<u32>>,
    /// 1-based numbers of sync samples (`stss`), when not every sample is one.
    pub sync_samples: Option<Vec<u32>>,
    pub edits: Vec<Edit>,
    /// Sum of `deltas`, for `mdhd`.
    pub media_duration: u64,
    /// Filled in by the layout.
    pub chunks: Vec<Chunk>,
}

impl TrackPlan<'_> {
    /// Track duration in movie units (`tkhd`): the sum of its edits.
    pub fn duration_movie(&self) -> u64 {
        self.edits.iter().fold(0u64, |sum, e| sum.saturating_add(e.duration_movie))
    }
}

pub(crate) fn video_track<'a>(track: &'a VideoTrack, segment: &SegmentTiming) -> Result<TrackPlan<'a>, Mp4Error> {
    let samples = &track.samples;
    let (Some(first), Some(_)) = (samples.first(), samples.last()) else {
        return Err(Mp4Error::EmptyTrack { track: "video" });
    };
    if track.sps.len() < 4 || track.sps[0] & 0x1f != 7 {
        return Err(Mp4Error::MissingParameterSet { which: "SPS" });
    }
    if track.pps.first().is_none_or(|h| h & 0x1f != 8) {
        return Err(Mp4Error::MissingParameterSet { which: "PPS" });
    }
    let dims = (u16::try_from(track.width), u16::try_from(track.height));
    let (Ok(width @ 1..), Ok(height @ 1..)) = dims else {
        return Err(Mp4Error::InvalidDimensions { width: track.width, height: track.height });
    };
    if !matches!(track.rotation_degrees, 0 | 90 | 180 | 270) {
        return Err(Mp4Error::InvalidRotation { degrees: track.rotation_degrees });
    }
    u32::try_from(samples.len()).map_err(|_| Mp4Error::Overflow { what: "video sample count" })?;
    if !first.is_sync {
        return Err(Mp4Error::InvalidVideoSample { index: 0, reason: "the first sample is not a sync (IDR) sample" });
    }
    if first.decode_ticks > 0 {
        return Err(Mp4Error::InvalidVideoSample { index: 0, reason: "decoding starts after the segment start" });
    }

    let segment_end = i128::from(segment.duration_movie);
    let mut min_presentation = i64::MAX;
    let mut offsets = Vec::with_capacity(samples.len());
    for (index, (sample, next)) in samples.iter().zip(samples.iter().skip(1).map(Some).chain([None])).enumerate() {
        let bad = |reason| Mp4Error::InvalidVideoSample { index, reason };
        if !is_well_formed_avcc(&sample.data) {
            return Err(bad("data is not 4-byte length-prefixed NAL units"));
        }
        u32::try_from(sample.data.len()).map_err(|_| bad("larger than 4 GiB"))?;
        if sample.duration_ticks == 0 {
            return Err(bad("zero duration"));
        }
        if let Some(next) = next {
            if sample.decode_ticks.checked_add(i64::from(sample.duration_ticks)) != Some(next.decode_ticks) {
                return Err(bad("decode time plus duration is not the next sample's decode time"));
            }
        }
        let offset = sample.presentation_ticks.checked_sub(sample.decode_ticks).ok_or(bad("time out of range"))?;
        let offset = u32::try_from(offset).map_err(|_| bad("presented before decoded, or 13 hours after"))?;
        if i128::from(sample.presentation_ticks) * MOVIE_PER_VIDEO_TICK >= segment_end {
            return Err(bad("presented at or after the segment end"));
        }
        min_presentation = min_presentation.min(sample.presentation_ticks);
        offsets.push(offset);
    }
    if min_presentation != 0 {
        return Err(Mp4Error::InvalidTiming { reason: "the first presented video frame is not at time 0" });
    }

    let deltas: Vec<u32> = samples.iter().map(|s| s.duration_ticks).collect();
    let sync: Vec<u32> = (1u32..).zip(samples).filter(|(_, s)| s.is_sync).map(|(n, _)| n).collect();
    Ok(TrackPlan {
        track_id: VIDEO_TRACK_ID,
        media: TrackMedia::Video {
            width,
            height,
            rotation_degrees: track.rotation_degrees,
            sps: &track.sps,
            pps: &track.pps,
        },
        timescale: VIDEO_TIMESCALE,
        samples: samples.iter().map(|s| s.data.as_slice()).collect(),
        sample_times_movie: samples.iter().map(|s| i128::from(s.decode_ticks) * MOVIE_PER_VIDEO_TICK).collect(),
        media_duration: deltas.iter().map(|&d| u64::from(d)).sum(),
        deltas,
        composition_offsets: offsets.iter().any(|&o| o != 0).then_some(offsets),
        sync_samples: (sync.len() != samples.len()).then_some(sync),
        // The media starts at the first decode time; the first presented
        // frame sits `-decode_ticks` later in the media timeline (§8.6.6).
        edits: vec![Edit { duration_movie: segment.duration_movie, media_time: -first.decode_ticks }],
        chunks: Vec::new(),
    })
}

pub(crate) fn imu_track(track: &ImuTrack) -> Result<TrackPlan<'_>, Mp4Error> {
    let samples = &track.samples;
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        return Err(Mp4Error::EmptyTrack { track: "IMU" });
    };
    u32::try_from(samples.len()).map_err(|_| Mp4Error::Overflow { what: "IMU sample count" })?;
    if first.time_ticks < 0 {
        return Err(Mp4Error::InvalidImuSample { index: 0, reason: "time before the segment start" });
    }
    if track.end_ticks <= last.time_ticks {
        return Err(Mp4Error::InvalidTiming { reason: "IMU end time is not after the last IMU sample" });
    }
    let mut deltas = Vec::with_capacity(samples.len());
    for (index, sample) in samples.iter().enumerate() {
        let bad = |reason| Mp4Error::InvalidImuSample { index, reason };
        decode_camm_packet(&sample.payload).map_err(|e| match e {
            Mp4Error::InvalidCammPacket { reason } => bad(reason),
            other => other,
        })?;
        let next = samples.get(index + 1).map_or(track.end_ticks, |s| s.time_ticks);
        // Readings of several sensors may share a time: a zero delta (§8.6.1.2).
        let delta = next.checked_sub(sample.time_ticks).ok_or(bad("time out of range"))?;
        deltas.push(u32::try_from(delta).map_err(|_| bad("earlier than the previous sample, or 71 minutes after it"))?);
    }

    let start = first.time_ticks;
    let media_duration = u64::try_from(track.end_ticks - start).unwrap_or(0);
    let to_movie = |ticks: i64| {
        u64::try_from(i128::from(ticks) * MOVIE_PER_IMU_TICK).map_err(|_| Mp4Error::Overflow { what: "IMU duration" })
    };
    let mut edits = Vec::with_capacity(2);
    if start > 0 {
        // An empty edit holds the track back until its first reading (§8.6.6).
        edits.push(Edit { duration_movie: to_movie(start)?, media_time: -1 });
    }
    edits.push(Edit { duration_movie: to_movie(track.end_ticks - start)?, media_time: 0 });
    Ok(TrackPlan {
        track_id: IMU_TRACK_ID,
        media: TrackMedia::CameraMotion,
        timescale: IMU_TIMESCALE,
        samples: samples.iter().map(|s| s.payload.as_slice()).collect(),
        sample_times_movie: samples.iter().map(|s| i128::from(s.time_ticks) * MOVIE_PER_IMU_TICK).collect(),
        deltas,
        composition_offsets: None,
        sync_samples: None,
        edits,
        media_duration,
        chunks: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mp4::{encode_camm_packet, write_segment, CammKind, ImuSample, VideoSample};

    const SPS: [u8; 5] = [0x67, 66, 0xc0, 30, 0xda];
    const PPS: [u8; 3] = [0x68, 0xce, 0x3c];

    fn sample(decode_ticks: i64, presentation_ticks: i64, is_sync: bool) -> VideoSample {
        VideoSample {
            data: vec![0, 0, 0, 2, 0x65, 0x88],
            decode_ticks,
            presentation_ticks,
            duration_ticks: 3000,
            is_sync,
        }
    }

    fn movie() -> SegmentMovie {
        let gyro = encode_camm_packet(CammKind::Gyroscope, [0.0; 3]).to_vec();
        SegmentMovie {
            creation_time_unix_secs: 1_700_000_000,
            duration_ns: 100_000_000,
            video: VideoTrack {
                width: 64,
                height: 48,
                rotation_degrees: 0,
                sps: SPS.to_vec(),
                pps: PPS.to_vec(),
                samples: vec![sample(0, 0, true), sample(3000, 3000, false), sample(6000, 6000, false)],
            },
            imu: Some(ImuTrack {
                samples: vec![
                    ImuSample { time_ticks: 10, payload: gyro.clone() },
                    ImuSample { time_ticks: 10, payload: gyro.clone() },
                    ImuSample { time_ticks: 5_000, payload: gyro },
                ],
                end_ticks: 100_000,
            }),
        }
    }

    fn video_error(edit: impl FnOnce(&mut VideoTrack)) -> Mp4Error {
        let mut m = movie();
        edit(&mut m.video);
        let segment = SegmentTiming::new(&m).unwrap_or_else(|e| panic!("{e}"));
        video_track(&m.video, &segment).err().unwrap_or_else(|| panic!("accepted"))
    }

    fn imu_error(edit: impl FnOnce(&mut ImuTrack)) -> Mp4Error {
        let mut track = movie().imu.unwrap_or_else(|| panic!("fixture has IMU"));
        edit(&mut track);
        imu_track(&track).err().unwrap_or_else(|| panic!("accepted"))
    }

    #[test]
    fn valid_movie_gives_exact_tables_and_edits() -> Result<(), Mp4Error> {
        let m = movie();
        let segment = SegmentTiming::new(&m)?;
        assert_eq!(segment.duration_movie, 900_000);
        assert_eq!(segment.creation_time_1904, 1_700_000_000 + UNIX_EPOCH_SINCE_1904);
        let video = video_track(&m.video, &segment)?;
        assert_eq!(video.deltas, [3000; 3]);
        assert_eq!(video.composition_offsets, None);
        assert_eq!(video.sync_samples, Some(vec![1]));
        assert_eq!(video.edits, [Edit { duration_movie: 900_000, media_time: 0 }]);
        let imu = imu_track(m.imu.as_ref().ok_or(Mp4Error::EmptyTrack { track: "IMU" })?)?;
        assert_eq!(imu.deltas, [0, 4_990, 95_000]);
        assert_eq!(imu.media_duration, 99_990);
        assert_eq!(
            imu.edits,
            [Edit { duration_movie: 90, media_time: -1 }, Edit { duration_movie: 899_910, media_time: 0 }]
        );
        Ok(())
    }

    #[test]
    fn b_frames_get_offsets_and_an_edit_past_the_decode_delay() -> Result<(), Mp4Error> {
        let mut m = movie();
        // Decode order I P B: presentation 0, 6000, 3000; decoding starts one frame early.
        m.video.samples = vec![sample(-3000, 0, true), sample(0, 6000, false), sample(3000, 3000, false)];
        let video = video_track(&m.video, &SegmentTiming::new(&m)?)?;
        assert_eq!(video.composition_offsets, Some(vec![3000, 6000, 0]));
        assert_eq!(video.edits[0].media_time, 3000);
        Ok(())
    }

    #[test]
    fn empty_tracks_are_refused() {
        assert_eq!(video_error(|v| v.samples.clear()), Mp4Error::EmptyTrack { track: "video" });
        assert_eq!(imu_error(|t| t.samples.clear()), Mp4Error::EmptyTrack { track: "IMU" });
        let mut m = movie();
        m.video.samples.clear();
        assert_eq!(write_segment(&m), Err(Mp4Error::EmptyTrack { track: "video" }));
    }

    #[test]
    fn missing_or_wrong_parameter_sets_are_refused() {
        assert_eq!(video_error(|v| v.sps.clear()), Mp4Error::MissingParameterSet { which: "SPS" });
        assert_eq!(video_error(|v| v.sps = PPS.to_vec()), Mp4Error::MissingParameterSet { which: "SPS" });
        assert_eq!(video_error(|v| v.pps.clear()), Mp4Error::MissingParameterSet { which: "PPS" });
        assert_eq!(video_error(|v| v.pps = SPS.to_vec()), Mp4Error::MissingParameterSet { which: "PPS" });
    }

    #[test]
    fn bad_geometry_is_refused() {
        assert!(matches!(video_error(|v| v.width = 0), Mp4Error::InvalidDimensions { .. }));
        assert!(matches!(video_error(|v| v.height = 70_000), Mp4Error::InvalidDimensions { .. }));
        assert_eq!(video_error(|v| v.rotation_degrees = 45), Mp4Error::InvalidRotation { degrees: 45 });
    }

    #[test]
    fn inconsistent_video_timing_is_refused() {
        let sample_error = |e: Mp4Error| match e {
            Mp4Error::InvalidVideoSample { index, .. } => Some(index),
            _ => None,
        };
        assert_eq!(sample_error(video_error(|v| v.samples[0].is_sync = false)), Some(0));
        assert_eq!(sample_error(video_error(|v| v.samples[1].duration_ticks = 0)), Some(1));
        assert_eq!(sample_error(video_error(|v| v.samples[0].duration_ticks = 2999)), Some(0));
        assert_eq!(sample_error(video_error(|v| v.samples[2].presentation_ticks = 5999)), Some(2));
        assert_eq!(sample_error(video_error(|v| v.samples[1].data = vec![0, 0, 1, 0x41])), Some(1));
        // Presented at the segment end (100 ms = 9000 ticks) or later.
        assert_eq!(sample_error(video_error(|v| v.samples[2].presentation_ticks = 9000)), Some(2));
        assert!(matches!(
            video_error(|v| v.samples.iter_mut().for_each(|s| s.presentation_ticks += 10)),
            Mp4Error::InvalidTiming { .. }
        ));
        assert!(matches!(
            video_error(|v| {
                for s in &mut v.samples {
                    s.decode_ticks += 10;
                    s.presentation_ticks += 10;
                }
            }),
            Mp4Error::InvalidVideoSample { index: 0, .. }
        ));
        let mut m = movie();
        m.video.samples[0].decode_ticks = i64::MIN;
        assert!(write_segment(&m).is_err());
        m = movie();
        m.duration_ns = 0;
        assert!(matches!(write_segment(&m), Err(Mp4Error::InvalidTiming { .. })));
    }

    #[test]
    fn bad_imu_samples_are_refused() {
        assert!(matches!(imu_error(|t| t.samples[0].time_ticks = -1), Mp4Error::InvalidImuSample { index: 0, .. }));
        assert!(matches!(imu_error(|t| t.samples[2].time_ticks = 5), Mp4Error::InvalidImuSample { index: 1, .. }));
        assert!(matches!(imu_error(|t| t.end_ticks = 5_000), Mp4Error::InvalidTiming { .. }));
        assert!(matches!(imu_error(|t| t.end_ticks = i64::MAX), Mp4Error::InvalidImuSample { index: 2, .. }));
        let mut location = encode_camm_packet(CammKind::Gyroscope, [0.0; 3]);
        location[2] = 5;
        assert!(matches!(
            imu_error(|t| t.samples[1].payload = location.to_vec()),
            Mp4Error::InvalidImuSample { index: 1, .. }
        ));
    }

    #[test]
    fn written_file_is_ftyp_moov_mdat_with_every_sample_inside() -> Result<(), Mp4Error> {
        let m = movie();
        let bytes = write_segment(&m)?;
        let mut kinds = Vec::new();
        let mut rest = bytes.as_slice();
        while let Some((size, tail)) = rest.split_first_chunk::<4>() {
            let size = u32::from_be_bytes(*size) as usize;
            kinds.push(String::from_utf8_lossy(&tail[..4]).into_owned());
            rest = &rest[size..];
        }
        assert_eq!(kinds, ["ftyp", "moov", "mdat"]);
        let media: usize = m.video.samples.iter().map(|s| s.data.len()).sum::<usize>() + 3 * 16;
        // Chunks in time order: the video chunk starts at 0, the IMU chunk at 10 µs.
        let last_imu = m.imu.as_ref().map(|t| t.samples[2].payload.clone()).unwrap_or_default();
        assert!(bytes.ends_with(&last_imu));
        let mdat_size = bytes.windows(4).position(|w| w == b"mdat").map(|at| bytes.len() - at + 4);
        assert_eq!(mdat_size, Some(media + 8));
        let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
        assert!(contains(b"stco") && !contains(b"co64") && !contains(b"ctts"));
        Ok(())
    }

    #[test]
    fn wide_offsets_use_co64() -> Result<(), Mp4Error> {
        let m = movie();
        let segment = SegmentTiming::new(&m)?;
        let mut tracks = vec![video_track(&m.video, &segment)?];
        crate::mp4::layout::interleave(&mut tracks)?;
        let header = crate::mp4::movie::MovieHeader { creation_time_1904: 0 };
        let narrow = crate::mp4::movie::moov(&header, &tracks, 0, false)?;
        let wide = crate::mp4::movie::moov(&header, &tracks, 1 << 33, true)?;
        assert!(wide.windows(4).any(|w| w == b"co64"));
        assert!(wide.windows(8).any(|w| w == (1u64 << 33).to_be_bytes()));
        assert_eq!(wide.len(), narrow.len() + 4 * tracks[0].chunks.len());
        assert!(crate::mp4::movie::moov(&header, &tracks, 1 << 33, false).is_err());
        Ok(())
    }
}
