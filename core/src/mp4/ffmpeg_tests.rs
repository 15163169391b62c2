//! Segments written here are opened by the real ffprobe and ffmpeg: real
//! H.264 from libx264 (with and without B-frames), jittered timestamps, and
//! a CAMM track. These tests fail, loudly, when the tools are missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use super::*;

const FRAMES: usize = 60;
const FPS: i64 = 30;
const FRAME_TICKS: i64 = VIDEO_TIMESCALE as i64 / FPS;

#[test]
fn baseline_segment_plays_with_exact_timestamps_and_camm_track() {
    let dir = tempfile::tempdir().unwrap();
    let stream = encode_h264(dir.path(), false);
    assert!(stream.pts_frames == stream.dts_frames, "a baseline stream has no reordering");
    let movie = jittered_movie(&stream, 0, Some(imu_track_fixture(true)));
    let path = write(dir.path(), "seg.mp4", &movie);

    assert_streams(&path, true);
    assert_video_packets(&path, &movie.video);
    assert_decodes_cleanly(&path, &movie.video);
    assert_camm_packets(&path, movie.imu.as_ref().unwrap());
    assert_eq!(rotation_of(&path), None);
    assert_no_location(&path);
}

#[test]
fn b_frame_segment_keeps_presentation_order_and_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let stream = encode_h264(dir.path(), true);
    assert!(stream.pts_frames != stream.dts_frames, "the fixture must reorder frames");
    assert!(stream.dts_frames[0] < 0, "the fixture must start decoding before presentation");
    let movie = jittered_movie(&stream, 90, Some(imu_track_fixture(false)));
    assert!(movie.video.samples[0].decode_ticks < 0);
    let path = write(dir.path(), "seg.mp4", &movie);

    assert_streams(&path, true);
    assert_video_packets(&path, &movie.video);
    assert_decodes_cleanly(&path, &movie.video);
    assert_camm_packets(&path, movie.imu.as_ref().unwrap());
    // ffprobe reports the display matrix counter-clockwise: a 90° clockwise turn is -90.
    assert_eq!(rotation_of(&path), Some(-90));
    assert_no_location(&path);
}

#[test]
fn segment_without_imu_has_only_the_video_stream() {
    let dir = tempfile::tempdir().unwrap();
    let stream = encode_h264(dir.path(), false);
    let movie = jittered_movie(&stream, 270, None);
    let path = write(dir.path(), "seg.mp4", &movie);
    assert_streams(&path, false);
    assert_video_packets(&path, &movie.video);
    assert_decodes_cleanly(&path, &movie.video);
    assert_eq!(rotation_of(&path), Some(90));
}

/// An encoded clip: access units in decode order with their frame numbers.
struct EncodedStream {
    units: Vec<AvccAccessUnit>,
    sps: Vec<u8>,
    pps: Vec<u8>,
    pts_frames: Vec<i64>,
    dts_frames: Vec<i64>,
}

/// Encodes the test pattern once into MP4 (for ffmpeg's own pts/dts), then
/// copies the same packets out as Annex-B and splits them at the AUDs.
fn encode_h264(dir: &Path, b_frames: bool) -> EncodedStream {
    let reference = dir.join(if b_frames { "ref-b.mp4" } else { "ref.mp4" });
    let annexb = reference.with_extension("h264");
    let source = format!("testsrc=size=320x240:rate={FPS}");
    let frames = FRAMES.to_string();
    let (params, profile) =
        if b_frames { ("aud=1:bframes=2:keyint=30", "high") } else { ("aud=1:bframes=0:keyint=30", "baseline") };
    #[rustfmt::skip]
    ffmpeg(&["-f", "lavfi", "-i", &source, "-frames:v", &frames, "-pix_fmt", "yuv420p", "-c:v", "libx264",
        "-x264-params", params, "-profile:v", profile, s(&reference)]);
    ffmpeg(&["-i", s(&reference), "-c:v", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "h264", s(&annexb)]);

    let probe =
        ffprobe_json(&reference, &["-select_streams", "v:0", "-show_entries", "stream=time_base:packet=pts,dts"]);
    let time_base = probe["streams"][0]["time_base"].as_str().unwrap().to_owned();
    let (num, den) = time_base.split_once('/').unwrap();
    let (num, den): (i64, i64) = (num.parse().unwrap(), den.parse().unwrap());
    let to_frame = |v: &Value| {
        let t = v.as_i64().unwrap() * num * FPS;
        assert_eq!(t % den, 0, "reference timestamps fall on frame boundaries");
        t / den
    };
    let packets = probe["packets"].as_array().unwrap();
    let pts_frames: Vec<i64> = packets.iter().map(|p| to_frame(&p["pts"])).collect();
    let dts_frames: Vec<i64> = packets.iter().map(|p| to_frame(&p["dts"])).collect();

    let bytes = std::fs::read(&annexb).unwrap();
    let units: Vec<AvccAccessUnit> = split_at_auds(&bytes).iter().map(|au| annexb_to_avcc(au).unwrap()).collect();
    assert_eq!(units.len(), FRAMES);
    assert_eq!(pts_frames.len(), FRAMES);
    let sps = units.iter().flat_map(|u| u.sps.clone()).next().expect("an SPS before the first IDR");
    let pps = units.iter().flat_map(|u| u.pps.clone()).next().expect("a PPS before the first IDR");
    EncodedStream { units, sps, pps, pts_frames, dts_frames }
}

/// Access units of an Annex-B stream, each beginning at its AUD (NAL type 9).
fn split_at_auds(stream: &[u8]) -> Vec<&[u8]> {
    let mut starts: Vec<usize> = (0..stream.len().saturating_sub(3))
        .filter(|&i| stream[i..i + 3] == [0, 0, 1] && stream[i + 3] & 0x1f == 9)
        .collect();
    starts[0] = 0;
    starts.iter().zip(starts.iter().skip(1).chain([&stream.len()])).map(|(&a, &b)| &stream[a..b]).collect()
}

/// Frame `k` of the clip on a wobbly 30 fps clock: ±600 ticks of jitter and
/// a dropped-frame gap after frame 40. Strictly increasing; `frame_time(0) == 0`.
fn frame_time(k: i64) -> i64 {
    let jitter = |k: i64| ((k * 7919 + 13).rem_euclid(1201)) - 600;
    let gap = if k > 40 { FRAME_TICKS } else { 0 };
    k * FRAME_TICKS + jitter(k) - jitter(0) + gap
}

fn jittered_movie(stream: &EncodedStream, rotation_degrees: u16, imu: Option<ImuTrack>) -> SegmentMovie {
    let n = stream.units.len();
    let samples = (0..n)
        .map(|i| {
            let dts = stream.dts_frames[i];
            let next_dts = stream.dts_frames.get(i + 1).copied().unwrap_or(dts + 1);
            VideoSample {
                data: stream.units[i].data.clone(),
                decode_ticks: frame_time(dts),
                presentation_ticks: frame_time(stream.pts_frames[i]),
                duration_ticks: u32::try_from(frame_time(next_dts) - frame_time(dts)).unwrap(),
                is_sync: stream.units[i].is_idr,
            }
        })
        .collect();
    let end_ticks = frame_time(FRAMES as i64);
    SegmentMovie {
        creation_time_unix_secs: 1_700_000_000,
        duration_ns: u64::try_from(end_ticks).unwrap() * 1_000_000_000 / u64::from(VIDEO_TIMESCALE),
        video: VideoTrack {
            width: 320,
            height: 240,
            rotation_degrees,
            sps: stream.sps.clone(),
            pps: stream.pps.clone(),
            samples,
        },
        imu,
    }
}

/// Gyroscope at ~200 Hz, accelerometer at 100 Hz sharing every other
/// gyroscope time (zero-duration samples), magnetometer at 50 Hz.
fn imu_track_fixture(late_start: bool) -> ImuTrack {
    let first = if late_start { 1_234 } else { 0 };
    let end_ticks = frame_time(FRAMES as i64) * i64::from(IMU_TIMESCALE) / i64::from(VIDEO_TIMESCALE);
    let mut samples = Vec::new();
    let mut t = first;
    let mut i = 0;
    while t < end_ticks {
        let v = i as f32 * 0.01;
        samples
            .push(ImuSample { time_ticks: t, payload: encode_camm_packet(CammKind::Gyroscope, [v, -v, 0.5]).to_vec() });
        if i % 2 == 0 {
            let packet = encode_camm_packet(CammKind::Accelerometer, [0.1, 9.81, v]);
            samples.push(ImuSample { time_ticks: t, payload: packet.to_vec() });
        }
        if i % 4 == 1 && t + 1_000 < end_ticks {
            let packet = encode_camm_packet(CammKind::MagneticField, [22.0, -5.5, 40.0 + v]);
            samples.push(ImuSample { time_ticks: t + 1_000, payload: packet.to_vec() });
        }
        t += 5_000 + (i % 3) * 37;
        i += 1;
    }
    samples.sort_by_key(|s| s.time_ticks);
    ImuTrack { samples, end_ticks }
}

fn write(dir: &Path, name: &str, movie: &SegmentMovie) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, write_segment(movie).unwrap()).unwrap();
    path
}

fn assert_streams(path: &Path, with_imu: bool) {
    let probe = ffprobe_json(path, &["-show_streams"]);
    let streams = probe["streams"].as_array().unwrap();
    assert_eq!(streams.len(), if with_imu { 2 } else { 1 }, "{probe}");
    assert_eq!(streams[0]["codec_name"], "h264");
    assert_eq!(streams[0]["width"], 320);
    assert_eq!(streams[0]["height"], 240);
    assert_eq!(streams[0]["time_base"], "1/90000");
    if with_imu {
        assert_eq!(streams[1]["codec_type"], "data");
        assert_eq!(streams[1]["codec_tag_string"], "camm");
        assert_eq!(streams[1]["time_base"], "1/1000000");
    }
}

fn assert_video_packets(path: &Path, video: &VideoTrack) {
    let probe = ffprobe_json(path, &["-select_streams", "v:0", "-show_entries", "packet=pts,dts,flags"]);
    let packets = probe["packets"].as_array().unwrap();
    assert_eq!(packets.len(), video.samples.len());
    for (i, (packet, sample)) in packets.iter().zip(&video.samples).enumerate() {
        assert_eq!(packet["pts"].as_i64(), Some(sample.presentation_ticks), "pts of packet {i}");
        assert_eq!(packet["dts"].as_i64(), Some(sample.decode_ticks), "dts of packet {i}");
        assert_eq!(packet["flags"].as_str().unwrap().starts_with('K'), sample.is_sync, "key flag of packet {i}");
    }
}

fn assert_decodes_cleanly(path: &Path, video: &VideoTrack) {
    let out = ffmpeg(&["-i", s(path), "-f", "null", "-"]);
    assert!(out.stderr.is_empty(), "ffmpeg complained: {}", String::from_utf8_lossy(&out.stderr));

    let probe = ffprobe_json(path, &["-select_streams", "v:0", "-show_entries", "frame=pts"]);
    let decoded: Vec<i64> = probe["frames"].as_array().unwrap().iter().map(|f| f["pts"].as_i64().unwrap()).collect();
    let mut expected: Vec<i64> = video.samples.iter().map(|s| s.presentation_ticks).collect();
    expected.sort_unstable();
    assert_eq!(decoded, expected, "decoded frames, in output order, carry the presentation times");
}

fn assert_camm_packets(path: &Path, imu: &ImuTrack) {
    let out = ffmpeg(&["-i", s(path), "-map", "0:1", "-c", "copy", "-f", "data", "-"]);
    let written: Vec<u8> = imu.samples.iter().flat_map(|s| s.payload.clone()).collect();
    assert!(out.stdout == written, "CAMM bytes out ({}) differ from bytes in ({})", out.stdout.len(), written.len());

    let probe = ffprobe_json(path, &["-select_streams", "d:0", "-show_entries", "packet=pts"]);
    let pts: Vec<i64> = probe["packets"].as_array().unwrap().iter().map(|p| p["pts"].as_i64().unwrap()).collect();
    let expected: Vec<i64> = imu.samples.iter().map(|s| s.time_ticks).collect();
    assert_eq!(pts, expected, "IMU packet times");
}

fn rotation_of(path: &Path) -> Option<i64> {
    let probe = ffprobe_json(path, &["-select_streams", "v:0", "-show_entries", "stream_side_data"]);
    let side_data = probe["streams"][0]["side_data_list"].as_array()?;
    side_data.iter().find_map(|d| d["rotation"].as_i64())
}

fn assert_no_location(path: &Path) {
    let probe = ffprobe_json(path, &["-show_format", "-show_streams"]);
    let mut tag_sets = vec![&probe["format"]["tags"]];
    tag_sets.extend(probe["streams"].as_array().unwrap().iter().map(|s| &s["tags"]));
    for tags in tag_sets {
        let keys: Vec<&String> = tags.as_object().map(|t| t.keys().collect()).unwrap_or_default();
        assert!(!keys.iter().any(|k| k.contains("location") || k.contains("xyz")), "{keys:?}");
    }
    let bytes = std::fs::read(path).unwrap();
    for forbidden in [&b"udta"[..], b"\xa9xyz", b"loci"] {
        assert!(!bytes.windows(forbidden.len()).any(|w| w == forbidden), "found {forbidden:?}");
    }
}

fn ffprobe_json(path: &Path, args: &[&str]) -> Value {
    let mut all = vec!["-v", "error", "-of", "json"];
    all.extend_from_slice(args);
    all.push(s(path));
    let out = run("ffprobe", &all);
    serde_json::from_slice(&out.stdout).unwrap()
}

fn ffmpeg(args: &[&str]) -> Output {
    let mut all = vec!["-hide_banner", "-nostdin", "-y", "-v", "error"];
    all.extend_from_slice(args);
    run("ffmpeg", &all)
}

fn run(program: &str, args: &[&str]) -> Output {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run `{program}` ({e}): the MP4 tests need ffmpeg and ffprobe on PATH (the setup script installs them)")
    });
    assert!(out.status.success(), "{program} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}
