//! The face detector on real photographs, through the public API.
//!
//! Needs two fetched inputs (never fetched here, never silently skipped):
//! `scripts/fetch-face-model.sh` (the model, into target/models/ or
//! $EGOCAP_MODEL_DIR) and `scripts/fetch-test-faces.sh` (scikit-image's
//! astronaut.png, public domain, and camera.png, CC0, into
//! target/test-faces/ or $EGOCAP_TEST_FACES_DIR).
//!
//! Timings: `taskset -c 0 cargo test --release -p egocap-core --test
//! face_detector -- --ignored --nocapture`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use egocap_core::blur::detector::{
    DetectError, DetectorConfig, FaceBox, FaceDetector, RetinaFaceDetector, SmallFacePass,
};
use egocap_core::blur::obscure::{cell_for, obscure, Ellipse, DEFAULT_CELL_PX};

mod faces;

use faces::*;

#[test]
fn finds_the_astronauts_face_where_it_was_measured() {
    let mut detector = detector(DetectorConfig::default());
    let faces = detector.detect(&to_i420(&photo("astronaut.png"))).unwrap();
    println!("astronaut: {faces:?}");
    let best = faces.iter().map(|f| f.iou(&ASTRONAUT_FACE)).fold(0.0, f32::max);
    assert!(best >= 0.5, "best IoU with the measured face is {best}: {faces:?}");
    // Nothing else in the picture is a face (the flag, the shuttle, the badges).
    assert_eq!(faces.len(), 1, "{faces:?}");
    assert_eq!(detector.model_sha256(), RetinaFaceDetector::PINNED_MODEL_SHA256);
    assert_eq!(detector.model_name(), "retinaface-tiny");
}

#[test]
fn finds_the_face_in_a_720p_frame_at_any_aspect_of_the_network_input() {
    // The photo pasted into a wide frame: boxes must map back through the
    // letterbox whether the input is 16:9, 4:3 or taller than wide.
    let (x, y) = (600, 100);
    let frame = paste(&background(1280, 720), &photo("astronaut.png"), x, y);
    let truth = FaceBox { x: ASTRONAUT_FACE.x + x as f32, y: ASTRONAUT_FACE.y + y as f32, ..ASTRONAUT_FACE };
    for (w, h) in [(640, 360), (640, 480), (320, 480)] {
        let config = DetectorConfig { input_width: w, input_height: h, ..DetectorConfig::default() };
        let faces = detector(config).detect(&to_i420(&frame)).unwrap();
        let best = faces.iter().map(|f| f.iou(&truth)).fold(0.0, f32::max);
        assert!(best >= 0.5, "input {w}x{h}: best IoU {best}: {faces:?}");
    }
}

#[test]
fn the_obscured_astronaut_is_no_longer_a_face_to_the_detector() {
    let mut detector = detector(DetectorConfig::default());
    let mut frame = to_i420(&photo("astronaut.png"));
    let found = detector.detect(&frame).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    let ellipse = Ellipse::around(&found[0], 1.3, 4.0);
    obscure(&mut frame, &ellipse, cell_for(&ellipse, DEFAULT_CELL_PX));
    let after = detector.detect(&frame).unwrap();
    assert!(after.is_empty(), "still found after obscuring: {after:?}");
}

#[test]
fn finds_no_face_in_face_free_frames() {
    let mut detector = detector(DetectorConfig::default());
    let frames = [
        ("flat", Rgb::filled(1280, 720, [128, 128, 128])),
        ("gradient", background(1280, 720)),
        // camera.png right of the cameraman: sky, buildings, grass, the tripod.
        ("scene", photo("camera.png").crop(288, 0, 224, 512)),
    ];
    for (name, image) in &frames {
        let faces = detector.detect(&to_i420(image)).unwrap();
        assert!(faces.is_empty(), "{name}: {faces:?}");
    }
}

#[test]
fn rejects_missing_and_corrupt_models_with_typed_errors() {
    let config = DetectorConfig::default();
    let missing = RetinaFaceDetector::from_path("/nonexistent/retinaface.onnx", config);
    assert!(matches!(missing, Err(DetectError::ModelUnreadable { .. })), "{missing:?}");
    let garbage = RetinaFaceDetector::from_bytes(b"this is not an ONNX model", config);
    assert!(matches!(garbage, Err(DetectError::ModelInvalid { .. })), "{garbage:?}");
    let model = std::fs::read(model_path()).unwrap();
    let truncated = RetinaFaceDetector::from_bytes(&model[..model.len() / 2], config);
    assert!(matches!(truncated, Err(DetectError::ModelInvalid { .. })), "{truncated:?}");
    let empty = RetinaFaceDetector::from_bytes(&[], config);
    assert!(matches!(empty, Err(DetectError::ModelInvalid { .. })), "{empty:?}");
}

/// Bystanders are often small: a 40-px face in a 720p frame. Downscaling
/// the frame to 640×360 leaves it 20 network pixels, near the smallest
/// prior (16), and the model needs about 28; so the default detector adds
/// a 1:1 pass for small faces to its whole-frame pass (320×180). Prints
/// what each finds; asserts that the default finds every face from 30 px
/// up, through the hand-over between the passes (the 1:1 pass keeps faces
/// up to 160 px, the whole-frame pass finds them from about 112).
#[test]
fn small_faces_in_a_720p_frame_need_the_small_face_pass() {
    let half_config =
        DetectorConfig { input_width: 640, input_height: 360, small_faces: None, ..DetectorConfig::default() };
    let mut half = detector(half_config);
    let mut default = detector(DetectorConfig::default());
    let astronaut = photo("astronaut.png");
    println!("face px | 640x360 only IoU/score | default (with the 1:1 pass) IoU/score");
    let mut missed = Vec::new();
    for face_px in [24, 30, 36, 40, 48, 60, 100, 120, 140, 160, 170, 200, 260] {
        let (frame, truth) = small_face_frame(&astronaut, face_px);
        let frame = to_i420(&frame);
        let half_hit = best_match(&half.detect(&frame).unwrap(), &truth);
        let default_hit = best_match(&default.detect(&frame).unwrap(), &truth);
        println!("{face_px:7} | {half_hit:?} | {default_hit:?}");
        if face_px >= 30 && !default_hit.is_some_and(|(iou, _)| iou >= 0.5) {
            missed.push(face_px);
        }
    }
    assert!(missed.is_empty(), "the default detector misses faces of {missed:?} px");
}

/// Far bystanders are often soft: a face a few sensor pixels wide,
/// enlarged. Here the astronaut's face cropped brow to chin, in grey,
/// shrunk to 25 px and enlarged to 30–60 px (as the evaluation's LFW
/// crops). At 1:1 the model scores such faces low; the second look at 2×
/// finds them. Prints what each finds; asserts the default finds them from
/// 34 px and that without the second look some are missed (else this test
/// would show nothing). At 30 px the 1:1 pass leaves not even a doubtful
/// candidate, so there is nothing to look at again: the limit of this
/// design (measured 2026-12-04), printed, not asserted.
#[test]
fn soft_small_faces_are_found_by_the_second_look() {
    let without = DetectorConfig::default().small_faces.map(|pass| SmallFacePass { second_look: None, ..pass });
    let mut one_look = detector(DetectorConfig { small_faces: without, ..DetectorConfig::default() });
    let mut default = detector(DetectorConfig::default());
    let face = photo("astronaut.png").crop(176, 82, 94, 99).grey().resized(25, 25);
    println!("face px | 1:1 pass alone IoU/score | with the second look IoU/score");
    let (mut missed, mut missed_alone) = (Vec::new(), 0);
    for face_px in [30, 34, 38, 42, 46, 50, 54, 58] {
        let soft = box_blurred(&face.resized(face_px, face_px), face_px / 25);
        let (x, y) = (700, 300);
        let frame = to_i420(&paste(&background(1280, 720), &soft, x, y));
        let side = face_px as f32;
        let truth = FaceBox { x: x as f32, y: y as f32, width: side, height: side, score: 1.0 };
        let alone = best_match(&one_look.detect(&frame).unwrap(), &truth);
        let looked = best_match(&default.detect(&frame).unwrap(), &truth);
        println!("{face_px:7} | {alone:?} | {looked:?}");
        if face_px >= 34 && !looked.is_some_and(|(iou, _)| iou >= 0.5) {
            missed.push(face_px);
        }
        if face_px >= 34 && !alone.is_some_and(|(iou, _)| iou >= 0.5) {
            missed_alone += 1;
        }
    }
    assert!(missed.is_empty(), "the default detector misses soft faces of {missed:?} px");
    assert!(missed_alone > 0, "the 1:1 pass alone finds every soft face: the test shows nothing");
}

/// A face of 130 px, which both passes find, is found once: the two
/// passes' boxes are merged, not doubled.
#[test]
fn a_face_both_passes_find_is_found_once() {
    // The photo's top-left quarter holds the face; 256 px become 333.
    let (side, at) = (333, (200, 40));
    let head = photo("astronaut.png").crop(0, 0, 256, 256).resized(side, side);
    let frame = paste(&background(1280, 720), &head, at.0, at.1);
    let scale = side as f32 / 256.0;
    let truth = FaceBox {
        x: at.0 as f32 + ASTRONAUT_FACE.x * scale,
        y: at.1 as f32 + ASTRONAUT_FACE.y * scale,
        width: ASTRONAUT_FACE.width * scale,
        height: ASTRONAUT_FACE.height * scale,
        score: 1.0,
    };
    let faces = detector(DetectorConfig::default()).detect(&to_i420(&frame)).unwrap();
    let overlapping: Vec<&FaceBox> = faces.iter().filter(|f| f.iou(&truth) > 0.0).collect();
    assert_eq!(overlapping.len(), 1, "{faces:?}");
    assert!(overlapping[0].iou(&truth) >= 0.5, "{faces:?} vs {truth:?}");
}

#[test]
#[ignore = "timing figures; run in release on one core, see the file header"]
fn measures_detector_milliseconds_per_frame() {
    let frame = to_i420(&paste(&background(1280, 720), &photo("astronaut.png"), 600, 100));
    for (w, h) in [(320, 240), (640, 360), (640, 480), (1280, 720)] {
        let config = DetectorConfig { input_width: w, input_height: h, ..DetectorConfig::default() };
        let mut detector = detector(config);
        detector.detect(&frame).unwrap();
        let runs = if w > 640 { 5 } else { 20 };
        let start = Instant::now();
        for _ in 0..runs {
            detector.detect(&frame).unwrap();
        }
        let ms = start.elapsed().as_secs_f64() * 1000.0 / runs as f64;
        println!("detector {w}x{h} input, 1280x720 frame: {ms:.1} ms/frame");
    }
}
