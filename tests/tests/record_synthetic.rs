//! `egocap record --source synthetic` end to end: the segments on disk are
//! checked with ffmpeg/ffprobe and independent readers against what the
//! deterministic synthetic source pushed.

use std::collections::HashSet;
use std::error::Error;
use std::path::Path;
use std::sync::OnceLock;

use egocap_core::imu::{ImuKind, ImuSample};
use egocap_core::source::synthetic::{SyntheticConfig, SyntheticSource};
use egocap_e2e::camm::{self, CammPacket};
use egocap_e2e::media::{self, Probe};
use egocap_e2e::recording::Recording;
use egocap_e2e::{barcode, HarnessError};

type TestResult = Result<(), Box<dyn Error>>;

const SEED: u64 = 11;
const WIDTH: u32 = 320;
const HEIGHT: u32 = 240;
const FPS: u32 = 30;
const SECONDS: i64 = 12;
/// 90° about z: the device's x axis is the camera's y axis.
const IMU_TO_CAMERA: &str = "0,-1,0,1,0,0,0,0,1";

/// The same rotation, written out by hand: camera = (-y, x, z).
fn in_camera_axes([x, y, z]: [f64; 3]) -> [f64; 3] {
    [-y, x, z]
}

/// One recording shared by the tests of this file (recording is the slow
/// part); made on first use.
fn recording() -> Result<&'static Recording, String> {
    static RECORDING: OnceLock<Result<Recording, String>> = OnceLock::new();
    RECORDING
        .get_or_init(|| {
            let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("record_synthetic");
            let (source, width, height, fps) =
                (format!("synthetic:{SEED}"), WIDTH.to_string(), HEIGHT.to_string(), FPS.to_string());
            #[rustfmt::skip]
            let args = [
                "--source", &source, "--duration", "12s", "--segment-seconds", "5",
                "--width", &width, "--height", &height, "--fps", &fps, "--bitrate", "600000",
                "--imu-to-camera", IMU_TO_CAMERA,
            ];
            Recording::record_into(&out, &args).map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

fn source(frames: i64) -> Result<SyntheticSource, Box<dyn Error>> {
    let frame_count = u64::try_from(frames)?;
    Ok(SyntheticSource::new(SyntheticConfig { seed: SEED, width: WIDTH, height: HEIGHT, fps: FPS, frame_count })?)
}

/// Indices of the pushed frames that the session did not drop, in order.
fn kept_indices(rec: &Recording, src: &SyntheticSource) -> Result<Vec<u64>, Box<dyn Error>> {
    let pushed = u64::try_from(rec.frames_pushed()?)?;
    let dropped: HashSet<i64> = rec.dropped_timestamps()?.into_iter().collect();
    Ok((0..pushed).filter(|&i| !dropped.contains(&src.frame_timestamp_ns(i))).collect())
}

/// Whether `ticks` of `time_base` after `start_ns` is within half a tick of
/// `expected_ns`, compared exactly in integers.
fn within_half_tick(start_ns: i64, ticks: i64, time_base: (i64, i64), expected_ns: i64) -> bool {
    let (num, den) = (i128::from(time_base.0), i128::from(time_base.1));
    let offset_scaled = i128::from(ticks) * num * 1_000_000_000;
    let want_scaled = i128::from(expected_ns - start_ns) * den;
    2 * (offset_scaled - want_scaled).abs() <= num * 1_000_000_000
}

#[test]
fn every_pushed_frame_appears_once_in_order_across_segments() -> TestResult {
    let rec = recording()?;
    let pushed = rec.frames_pushed()?;
    assert!((SECONDS * i64::from(FPS) - 1..=SECONDS * i64::from(FPS) + 1).contains(&pushed), "pushed {pushed}");
    assert!(rec.segments.len() >= 3, "12 s in 5 s segments: {} segments", rec.segments.len());
    let src = source(pushed)?;
    let expected = kept_indices(rec, &src)?;

    let mut seen = Vec::new();
    for seg in &rec.segments {
        let probe = Probe::of(&seg.mp4)?;
        let video = probe.video()?;
        let (w, h) = (video.width.unwrap_or(0), video.height.unwrap_or(0));
        assert_eq!((w, h), (WIDTH as usize, HEIGHT as usize), "{}", seg.mp4.display());
        let frames = media::decode_grey_frames(&seg.mp4, w, h)?;
        assert_eq!(i64::try_from(frames.len())?, seg.frame_count, "decoded frames of segment {}", seg.sequence);
        for (k, frame) in frames.iter().enumerate() {
            let index = barcode::read_index(frame, w, h).ok_or_else(|| {
                HarnessError::Layout(format!("segment {} frame {k}: barcode unreadable", seg.sequence))
            })?;
            seen.push(u64::from(index));
        }
    }
    if let Some(at) = seen.iter().zip(&expected).position(|(a, b)| a != b) {
        let window = |v: &[u64]| v[at.saturating_sub(3)..(at + 4).min(v.len())].to_vec();
        panic!("frame {at} differs: decoded {:?}, pushed {:?}", window(&seen), window(&expected));
    }
    assert_eq!(seen.len(), expected.len(), "decoded {} frames, expected {}", seen.len(), expected.len());
    assert_eq!(rec.frames_encoded()?, i64::try_from(expected.len())?);
    Ok(())
}

#[test]
fn frame_timestamps_match_pushed_within_half_a_tick() -> TestResult {
    let rec = recording()?;
    let src = source(rec.frames_pushed()?)?;
    let mut expected = kept_indices(rec, &src)?.into_iter();
    for (k, seg) in rec.segments.iter().enumerate() {
        let probe = Probe::of(&seg.mp4)?;
        let video = probe.video()?;
        let packets = media::packet_times(&seg.mp4, video.index)?;
        assert_eq!(i64::try_from(packets.len())?, seg.frame_count, "segment {k} packets");
        for (n, packet) in packets.iter().enumerate() {
            let index = expected.next().ok_or("more frames in the files than pushed")?;
            let want = src.frame_timestamp_ns(index);
            assert!(
                within_half_tick(seg.start_ns, packet.pts, video.time_base, want),
                "segment {k} frame {n} (pushed #{index}): pts {} in {:?} after start {} is {} ns, pushed {want}",
                packet.pts,
                video.time_base,
                seg.start_ns,
                seg.start_ns + media::ticks_to_ns(packet.pts, video.time_base),
            );
        }
        let last = packets.last().ok_or("a segment without frames")?;
        let duration = last.duration.ok_or_else(|| format!("segment {k}: the last frame has no duration"))?;
        assert!(
            within_half_tick(seg.start_ns, last.pts + duration, video.time_base, seg.end_ns),
            "segment {k}: last pts {} + duration {duration} does not reach end_ns {} (start {})",
            last.pts,
            seg.end_ns,
            seg.start_ns
        );
        if let Some(next) = rec.segments.get(k + 1) {
            assert_eq!(seg.end_ns, next.start_ns, "segment {k} must end where segment {} starts", k + 1);
        }
    }
    assert_eq!(expected.next(), None, "pushed frames missing from the files");
    Ok(())
}

#[test]
fn segments_decode_cleanly_with_two_streams_and_no_location() -> TestResult {
    let rec = recording()?;
    for seg in &rec.segments {
        let name = seg.mp4.display();
        let diagnostics = media::decode_diagnostics(&seg.mp4)?;
        assert!(diagnostics.trim().is_empty(), "{name}: ffmpeg reports:\n{diagnostics}");
        let probe = Probe::of(&seg.mp4)?;
        assert_eq!(probe.streams.len(), 2, "{name}: streams {:?}", probe.streams);
        let video = probe.video()?;
        assert_eq!(video.codec_name.as_deref(), Some("h264"), "{name}");
        let camm = probe.camm()?;
        assert_eq!(camm.codec_type, "data", "{name}");
        let mut tag_sets = vec![("format", &probe.format_tags)];
        tag_sets.extend(probe.streams.iter().map(|s| ("stream", &s.tags)));
        for (whose, tags) in tag_sets {
            if let Some(map) = tags.as_object() {
                let found: Vec<&String> = map.keys().filter(|k| k.to_ascii_lowercase().contains("location")).collect();
                assert!(found.is_empty(), "{name}: {whose} tags carry a location: {found:?}");
            }
        }
    }
    Ok(())
}

fn as_f32(xyz: [f64; 3]) -> [f32; 3] {
    xyz.map(|v| v as f32)
}

fn expected_packet(sample: &ImuSample) -> CammPacket {
    let xyz = as_f32(in_camera_axes(sample.xyz));
    match sample.kind {
        ImuKind::Gyroscope => CammPacket::Gyroscope(xyz),
        ImuKind::Accelerometer => CammPacket::Accelerometer(xyz),
        ImuKind::Magnetometer => CammPacket::MagneticField(xyz),
    }
}

/// The synthetic IMU samples that fall inside the recorded segments.
fn imu_in_segments(rec: &Recording) -> Result<Vec<ImuSample>, Box<dyn Error>> {
    let src = source(rec.frames_pushed()?)?;
    let (first, last) = (rec.segments.first().ok_or("no segments")?, rec.segments.last().ok_or("no segments")?);
    let pushed = src.all_imu_delivered(u64::try_from(rec.frames_pushed()?)?);
    Ok(pushed.into_iter().filter(|s| (first.start_ns..last.end_ns).contains(&s.timestamp_ns)).collect())
}

#[test]
fn camm_samples_equal_pushed_imu_in_camera_axes() -> TestResult {
    let rec = recording()?;
    let mut written = Vec::new();
    for seg in &rec.segments {
        let probe = Probe::of(&seg.mp4)?;
        let packets = camm::parse(&media::stream_bytes(&seg.mp4, probe.camm()?.index)?)?;
        assert_eq!(i64::try_from(packets.len())?, seg.imu_sample_count, "segment {} CAMM packets", seg.sequence);
        written.extend(packets);
    }
    let other: Vec<u16> = written.iter().map(CammPacket::type_code).filter(|t| ![2, 3, 7].contains(t)).collect();
    assert!(other.is_empty(), "only gyroscope, accelerometer and magnetometer packets; found types {other:?}");
    let expected: Vec<CammPacket> = imu_in_segments(rec)?.iter().map(expected_packet).collect();
    if let Some(at) = written.iter().zip(&expected).position(|(a, b)| a != b) {
        panic!("IMU packet {at} differs: written {:?}, pushed {:?}", written[at], expected[at]);
    }
    assert_eq!(
        written.len(),
        expected.len(),
        "written {} IMU packets, pushed {} inside the segments",
        written.len(),
        expected.len()
    );
    Ok(())
}

#[test]
fn camm_sample_times_match_imu_timestamps_within_half_a_tick() -> TestResult {
    let rec = recording()?;
    let mut expected = imu_in_segments(rec)?.into_iter();
    for seg in &rec.segments {
        let probe = Probe::of(&seg.mp4)?;
        let camm = probe.camm()?;
        for (n, packet) in media::packet_times(&seg.mp4, camm.index)?.iter().enumerate() {
            let sample = expected.next().ok_or("more CAMM samples than IMU samples pushed")?;
            assert!(
                within_half_tick(seg.start_ns, packet.pts, camm.time_base, sample.timestamp_ns),
                "segment {} CAMM sample {n}: pts {} in {:?} after start {}, pushed at {}",
                seg.sequence,
                packet.pts,
                camm.time_base,
                seg.start_ns,
                sample.timestamp_ns
            );
        }
    }
    assert!(expected.next().is_none(), "pushed IMU samples missing from the files");
    Ok(())
}
