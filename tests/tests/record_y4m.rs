//! `egocap record --source y4m:PATH`: a file source pushes back instead of
//! dropping, so every frame of the clip is in the segments, at its own rate.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use egocap_e2e::media::{decode_diagnostics, Probe};
use egocap_e2e::recording::Recording;

#[test]
fn a_y4m_clip_is_recorded_whole_without_drops_and_without_an_imu_track() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.y4m");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-frames:v", "90"])
        .args(["-pix_fmt", "yuv420p"])
        .arg(&clip)
        .status()
        .expect("ffmpeg must be installed (scripts/install-test-deps.sh)");
    assert!(status.success());

    let source = format!("y4m:{}", clip.display());
    let recording = Recording::record(&["--source", &source, "--segment-seconds", "1", "--duration", "60s"]).unwrap();
    assert_eq!(recording.frames_pushed().unwrap(), 90);
    assert_eq!(recording.frames_encoded().unwrap(), 90);
    assert!(recording.dropped_timestamps().unwrap().is_empty());
    let frames: i64 = recording.segments.iter().map(|s| s.frame_count).sum();
    assert_eq!(frames, 90);
    // 25 fps clip, 1 s segments: cuts at frames 25, 50, 75.
    let counts: Vec<i64> = recording.segments.iter().map(|s| s.frame_count).collect();
    assert_eq!(counts, vec![25, 25, 25, 15]);
    for segment in &recording.segments {
        assert_eq!(decode_diagnostics(&segment.mp4).unwrap(), "");
        let probe = Probe::of(&segment.mp4).unwrap();
        assert_eq!(probe.streams.len(), 1, "no IMU stream for a source without IMU");
        // 25 fps = 3600 ticks of 90 kHz per frame.
        assert_eq!(segment.end_ns - segment.start_ns, segment.frame_count * 40_000_000);
    }
}
