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

use std::path::PathBuf;
use std::time::Instant;

use egocap_core::blur::detector::{DetectError, DetectorConfig, FaceBox, FaceDetector, RetinaFaceDetector};
use egocap_core::blur::obscure::{cell_for, obscure, Ellipse, DEFAULT_CELL_PX};
use egocap_core::frame::I420Image;

/// The astronaut's face in astronaut.png (512×512), measured by hand on a
/// 20-px grid: cheek to cheek x 175..275, hairline to chin y 78..180 — the
/// extent WIDER FACE-style boxes (which RetinaFace learnt) cover.
const ASTRONAUT_FACE: FaceBox = FaceBox { x: 175.0, y: 78.0, width: 100.0, height: 102.0, score: 1.0 };

#[test]
fn finds_the_astronauts_face_where_it_was_measured() {
    let mut detector = detector(DetectorConfig::default());
    let faces = detector.detect(&to_i420(&photo("astronaut.png"))).unwrap();
    println!("astronaut at 640x360: {faces:?}");
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
/// prior (16). Prints recall by face size at both scales; asserts that
/// the full-resolution pass finds the 40-px face.
#[test]
fn small_faces_in_a_720p_frame_at_half_and_full_resolution() {
    let mut half = detector(DetectorConfig::default());
    let full_config = DetectorConfig { input_width: 1280, input_height: 720, ..DetectorConfig::default() };
    let mut full = detector(full_config);
    let astronaut = photo("astronaut.png");
    println!("face px | 640x360 IoU/score | 1280x720 IoU/score");
    let mut found_40_at_full = false;
    for face_px in [24, 30, 36, 40, 48, 60] {
        let (frame, truth) = small_face_frame(&astronaut, face_px);
        let frame = to_i420(&frame);
        let half_hit = best_match(&half.detect(&frame).unwrap(), &truth);
        let full_hit = best_match(&full.detect(&frame).unwrap(), &truth);
        println!("{face_px:7} | {half_hit:?} | {full_hit:?}");
        if face_px == 40 {
            found_40_at_full = full_hit.is_some_and(|(iou, _)| iou >= 0.5);
        }
    }
    assert!(found_40_at_full, "the 40-px face is not found at full resolution");
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

// ---- fixtures -------------------------------------------------------------

fn detector(config: DetectorConfig) -> RetinaFaceDetector {
    RetinaFaceDetector::from_path(model_path(), config).unwrap()
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `$var` if set (relative to the repository root, as the scripts read it),
/// else `default` under the root.
fn fetched_dir(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var).map(|d| repo_root().join(d)).unwrap_or_else(|| repo_root().join(default))
}

fn model_path() -> PathBuf {
    let path = fetched_dir("EGOCAP_MODEL_DIR", "target/models").join("retinaface-tiny.onnx");
    assert!(path.is_file(), "face model {} is missing: run scripts/fetch-face-model.sh", path.display());
    path
}

fn photo(name: &str) -> Rgb {
    let path = fetched_dir("EGOCAP_TEST_FACES_DIR", "target/test-faces").join(name);
    assert!(path.is_file(), "test photo {} is missing: run scripts/fetch-test-faces.sh", path.display());
    let file = std::io::BufReader::new(std::fs::File::open(&path).unwrap());
    let mut decoder = png::Decoder::new(file);
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let px = buf[..info.buffer_size()]
        .chunks_exact(channels)
        .flat_map(|p| if channels >= 3 { [p[0], p[1], p[2]] } else { [p[0]; 3] })
        .collect();
    Rgb { width: info.width as usize, height: info.height as usize, px }
}

/// A grey-blue vertical gradient, a plain stand-in for a wall.
fn background(width: usize, height: usize) -> Rgb {
    let mut image = Rgb::filled(width, height, [0, 0, 0]);
    for (i, p) in image.px.chunks_exact_mut(3).enumerate() {
        let v = (90 + 100 * (i / width) / height) as u8;
        p.copy_from_slice(&[v, v, v.saturating_add(20)]);
    }
    image
}

/// The astronaut's head scaled so that her face is `face_px` wide, pasted
/// into a 1280×720 frame; returns the frame and the face's true box.
fn small_face_frame(astronaut: &Rgb, face_px: usize) -> (Rgb, FaceBox) {
    // A square of 1.8 face widths around the measured face.
    let (crop_x, crop_y, crop_side) = (135, 38, 180);
    let scale = face_px as f32 / ASTRONAUT_FACE.width;
    let side = (crop_side as f32 * scale).round() as usize;
    let head = astronaut.crop(crop_x, crop_y, crop_side, crop_side).resized(side, side);
    let (x, y) = (900, 420);
    let truth = FaceBox {
        x: x as f32 + (ASTRONAUT_FACE.x - crop_x as f32) * scale,
        y: y as f32 + (ASTRONAUT_FACE.y - crop_y as f32) * scale,
        width: ASTRONAUT_FACE.width * scale,
        height: ASTRONAUT_FACE.height * scale,
        score: 1.0,
    };
    (paste(&background(1280, 720), &head, x, y), truth)
}

/// IoU and score of the detection that best overlaps `truth`, if any does.
fn best_match(faces: &[FaceBox], truth: &FaceBox) -> Option<(f32, f32)> {
    faces.iter().map(|f| (f.iou(truth), f.score)).filter(|(iou, _)| *iou > 0.0).max_by(|a, b| a.0.total_cmp(&b.0))
}

fn paste(canvas: &Rgb, image: &Rgb, x: usize, y: usize) -> Rgb {
    let mut out = canvas.clone();
    for row in 0..image.height {
        let src = &image.px[row * image.width * 3..][..image.width * 3];
        out.px[((y + row) * canvas.width + x) * 3..][..image.width * 3].copy_from_slice(src);
    }
    out
}

/// Packed RGB, 8 bits per sample.
#[derive(Clone)]
struct Rgb {
    width: usize,
    height: usize,
    px: Vec<u8>,
}

impl Rgb {
    fn filled(width: usize, height: usize, colour: [u8; 3]) -> Self {
        Self { width, height, px: colour.repeat(width * height) }
    }

    fn crop(&self, x: usize, y: usize, width: usize, height: usize) -> Self {
        let mut px = Vec::with_capacity(width * height * 3);
        for row in y..y + height {
            px.extend_from_slice(&self.px[(row * self.width + x) * 3..][..width * 3]);
        }
        Self { width, height, px }
    }

    /// Area-average downscale (each output pixel the mean of the source
    /// pixels it covers), as a camera's optics and sensor would render a
    /// smaller face.
    fn resized(&self, width: usize, height: usize) -> Self {
        let mut px = Vec::with_capacity(width * height * 3);
        for oy in 0..height {
            let (y0, y1) =
                (oy * self.height / height, ((oy + 1) * self.height / height).max(oy * self.height / height + 1));
            for ox in 0..width {
                let (x0, x1) =
                    (ox * self.width / width, ((ox + 1) * self.width / width).max(ox * self.width / width + 1));
                let mut sum = [0u32; 3];
                for sy in y0..y1 {
                    for sx in x0..x1 {
                        for (c, s) in sum.iter_mut().enumerate() {
                            *s += u32::from(self.px[(sy * self.width + sx) * 3 + c]);
                        }
                    }
                }
                let n = ((y1 - y0) * (x1 - x0)) as u32;
                px.extend(sum.map(|s| ((s + n / 2) / n) as u8));
            }
        }
        Self { width, height, px }
    }
}

/// RGB → I420 in BT.709 limited range (the detector's default colour
/// encoding), chroma averaged over each 2×2 block. Odd sizes lose the last
/// row or column.
fn to_i420(image: &Rgb) -> I420Image {
    let (w, h) = (image.width & !1, image.height & !1);
    let (kr, kb) = (0.2126f32, 0.0722f32);
    let kg = 1.0 - kr - kb;
    let rgb = |x: usize, y: usize| {
        let p = &image.px[(y * image.width + x) * 3..][..3];
        (f32::from(p[0]), f32::from(p[1]), f32::from(p[2]))
    };
    let luma = |(r, g, b): (f32, f32, f32)| kr * r + kg * g + kb * b;
    let mut data = Vec::with_capacity(w * h * 3 / 2);
    for y in 0..h {
        data.extend((0..w).map(|x| (16.0 + 219.0 / 255.0 * luma(rgb(x, y))).round() as u8));
    }
    let mut u = Vec::with_capacity(w * h / 4);
    let mut v = Vec::with_capacity(w * h / 4);
    for y in (0..h).step_by(2) {
        for x in (0..w).step_by(2) {
            let (mut cb, mut cr) = (0.0, 0.0);
            for (px, py) in [(x, y), (x + 1, y), (x, y + 1), (x + 1, y + 1)] {
                let (r, g, b) = rgb(px, py);
                let l = luma((r, g, b));
                cb += (b - l) / (2.0 * (1.0 - kb)) / 4.0;
                cr += (r - l) / (2.0 * (1.0 - kr)) / 4.0;
            }
            u.push((128.0 + 224.0 / 255.0 * cb).round() as u8);
            v.push((128.0 + 224.0 / 255.0 * cr).round() as u8);
        }
    }
    data.extend(u);
    data.extend(v);
    I420Image { width: w as u32, height: h as u32, data }
}
