//! A hardware-style encoder with B-frames, through the `VideoEncoder` trait.
//!
//! libx264 (Debian's ffmpeg) makes an H.264 High stream with B-frames; a
//! replaying encoder hands its access units to the session in decode order,
//! late, with presentation timestamps, as MediaCodec would. The segments
//! must keep presentation order and timestamps and be cut at IDR frames.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use egocap_core::encoder::{EncodedFrame, EncoderError, VideoEncoder};
use egocap_core::frame::{ColourMatrix, ColourRange, FrameFormat, I420Image, PixelLayout};
use egocap_core::segment::FinishedSegment;
use egocap_core::session::{EncoderChoice, RecordingSession, SessionConfig, SessionSummary};
use egocap_core::sink::{SegmentSink, SinkError};

const FRAMES: usize = 150;
const W: u32 = 320;
const H: u32 = 240;

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?} ({e}); run scripts/install-test-deps.sh"));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// (annex-B access unit, display index, is IDR) in decode order.
fn x264_stream(dir: &Path) -> Vec<(Vec<u8>, i64, bool)> {
    let mp4 = dir.join("x264.mp4");
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc=size={W}x{H}:rate=30"))
        .args(["-frames:v", &FRAMES.to_string(), "-c:v", "libx264", "-profile:v", "high", "-bf", "3", "-g", "30"])
        .args(["-x264-params", "aud=1:scenecut=0", "-pix_fmt", "yuv420p"])
        .arg(&mp4));
    let packets = run(Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["packet=pts,flags", "-of", "csv=p=0"])
        .arg(&mp4));
    let raw = run(Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(&mp4).args([
        "-c:v",
        "copy",
        "-bsf:v",
        "h264_mp4toannexb",
        "-f",
        "h264",
        "-",
    ]));
    let units = split_access_units(&raw);
    let packets: Vec<(i64, bool)> = String::from_utf8_lossy(&packets)
        .lines()
        .map(|l| {
            let (pts, flags) = l.split_once(',').unwrap();
            (pts.parse().unwrap(), flags.contains('K'))
        })
        .collect();
    assert_eq!(units.len(), packets.len(), "one access unit per packet");
    // x264's mp4 time base is 1/15360 at 30 fps: 512 ticks a frame.
    let tick = packets.iter().map(|p| p.0).filter(|p| *p > 0).min().unwrap();
    units.into_iter().zip(packets).map(|(au, (pts, key))| (au, pts / tick, key)).collect()
}

/// Splits an Annex-B stream into access units: a unit begins at an AUD or
/// SPS (ffmpeg puts SPS/PPS before the AUD of keyframes), once the current
/// unit holds a slice.
fn split_access_units(stream: &[u8]) -> Vec<Vec<u8>> {
    let mut nal_starts = Vec::new();
    let mut i = 0;
    while i + 3 < stream.len() {
        if stream[i..i + 3] == [0, 0, 1] {
            let begin = if i > 0 && stream[i - 1] == 0 { i - 1 } else { i };
            nal_starts.push((begin, stream[i + 3] & 0x1f));
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut units = Vec::new();
    let mut unit_start = 0;
    let mut has_slice = false;
    for (begin, nal_type) in nal_starts {
        if matches!(nal_type, 9 | 7) && has_slice {
            units.push(stream[unit_start..begin].to_vec());
            unit_start = begin;
            has_slice = false;
        }
        has_slice |= matches!(nal_type, 1 | 5);
    }
    units.push(stream[unit_start..].to_vec());
    units
}

fn timestamp(display_index: i64) -> i64 {
    // Real cameras jitter: ±1 ms around 30 fps.
    5_000_000_000 + display_index * 33_333_333 + (display_index * 7919 % 13 - 6) * 150_000
}

/// Emits each access unit once every frame it may depend on was input.
struct ReplayEncoder {
    units: Vec<(Vec<u8>, i64, bool)>,
    next: usize,
    inputs: i64,
}

impl VideoEncoder for ReplayEncoder {
    fn name(&self) -> String {
        "x264 replay".into()
    }
    fn encode(&mut self, _image: &I420Image, _pts: i64, _key: bool) -> Result<Vec<EncodedFrame>, EncoderError> {
        self.inputs += 1;
        let mut out = Vec::new();
        while let Some((au, display, key)) = self.units.get(self.next) {
            let needed = self.units[..=self.next].iter().map(|u| u.1).max().unwrap_or(0);
            if needed >= self.inputs {
                break;
            }
            out.push(EncodedFrame { annexb: au.clone(), pts_ns: timestamp(*display), is_keyframe: *key });
            self.next += 1;
        }
        Ok(out)
    }
    fn flush(&mut self) -> Result<Vec<EncodedFrame>, EncoderError> {
        let rest = self.units[self.next..]
            .iter()
            .map(|(au, display, key)| EncodedFrame {
                annexb: au.clone(),
                pts_ns: timestamp(*display),
                is_keyframe: *key,
            })
            .collect();
        self.next = self.units.len();
        Ok(rest)
    }
}

#[derive(Clone)]
struct DirSink(PathBuf, Arc<Mutex<Vec<egocap_core::segment::SegmentSummary>>>);

impl SegmentSink for DirSink {
    fn write_segment(&mut self, segment: FinishedSegment) -> Result<PathBuf, SinkError> {
        let path = self.0.join(&segment.summary.file);
        std::fs::write(&path, &segment.mp4).unwrap();
        self.1.lock().unwrap().push(segment.summary);
        Ok(path)
    }
    fn finish_session(&mut self, _summary: &SessionSummary) -> Result<(), SinkError> {
        Ok(())
    }
}

#[test]
fn b_frame_stream_keeps_presentation_order_and_timestamps_and_cuts_at_idrs() {
    let dir = tempfile::tempdir().unwrap();
    let units = x264_stream(dir.path());
    let reordered = units.iter().zip(units.iter().skip(1)).any(|(a, b)| b.1 < a.1);
    assert!(reordered, "libx264 must have produced B-frames");

    let config = SessionConfig {
        frame_format: FrameFormat {
            width: W,
            height: H,
            layout: PixelLayout::I420,
            range: ColourRange::Limited,
            matrix: ColourMatrix::Bt709,
        },
        imu_clock: None,
        // 1.5 s: the IDRs come every 1 s, so every cut waits for the second one.
        segment_duration_ns: 1_500_000_000,
        ..SessionConfig::default()
    };
    let summaries = Arc::new(Mutex::new(Vec::new()));
    let sink = DirSink(dir.path().to_path_buf(), summaries.clone());
    let encoder = ReplayEncoder { units: units.clone(), next: 0, inputs: 0 };
    let session = RecordingSession::start(config, EncoderChoice::Host(Box::new(encoder)), Box::new(sink)).unwrap();
    let image = I420Image::grey(W, H);
    for i in 0..FRAMES as i64 {
        session.push_frame_waiting(&image.as_frame(timestamp(i), ColourRange::Limited, ColourMatrix::Bt709)).unwrap();
    }
    let summary = session.stop().unwrap();
    assert_eq!(summary.frames_encoded as usize, FRAMES);

    let summaries = summaries.lock().unwrap();
    // IDRs at display 0, 30, 60, 90, 120; cuts need ≥ 1.5 s → at 60 and 120.
    let starts: Vec<i64> = summaries.iter().map(|s| s.start_ns).collect();
    assert_eq!(starts, vec![timestamp(0), timestamp(60), timestamp(120)]);
    for pair in summaries.windows(2) {
        assert_eq!(pair[0].end_ns, pair[1].start_ns, "segments join without gap");
    }

    let mut presented = Vec::new();
    let mut our_md5 = Vec::new();
    for s in summaries.iter() {
        let path = dir.path().join(&s.file);
        let errors = run(Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(&path).args(["-f", "null", "-"]));
        assert!(errors.is_empty());
        let stderr =
            Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(&path).args(["-f", "null", "-"]).output().unwrap();
        assert!(stderr.stderr.is_empty(), "{}", String::from_utf8_lossy(&stderr.stderr));
        let frames = run(Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
            .args(["frame=pts", "-of", "csv=p=0"])
            .arg(&path));
        for line in String::from_utf8_lossy(&frames).lines().filter(|l| !l.trim().is_empty()) {
            let pts: i64 = line.trim_end_matches(',').parse().unwrap();
            presented.push(s.start_ns + pts * 1_000_000_000 / 90_000);
        }
        our_md5.extend(frame_md5s(&path));
    }
    assert_eq!(presented.len(), FRAMES);
    for (i, t) in presented.iter().enumerate() {
        let expected = timestamp(i as i64);
        assert!((t - expected).abs() <= 5_556, "frame {i}: presented at {t}, pushed at {expected}");
    }
    // The decoded pictures are x264's, in the same order.
    assert_eq!(our_md5, frame_md5s(&dir.path().join("x264.mp4")));
}

fn frame_md5s(path: &Path) -> Vec<String> {
    let out =
        run(Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(path).args(["-map", "0:v", "-f", "framemd5", "-"]));
    String::from_utf8_lossy(&out)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit(',').next().map(|s| s.trim().to_string()))
        .collect()
}
