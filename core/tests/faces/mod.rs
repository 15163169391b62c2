//! Real photographs and the face model for the detector and blur tests.
//!
//! Needs two fetched inputs (never fetched here, never silently skipped):
//! `scripts/fetch-face-model.sh` (the model, into target/models/ or
//! $EGOCAP_MODEL_DIR) and `scripts/fetch-test-faces.sh` (scikit-image's
//! astronaut.png, public domain, and camera.png, CC0, into
//! target/test-faces/ or $EGOCAP_TEST_FACES_DIR).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use egocap_core::blur::detector::{DetectorConfig, FaceBox, RetinaFaceDetector};
use egocap_core::frame::I420Image;

/// The astronaut's face in astronaut.png (512×512), measured by hand on a
/// 20-px grid: cheek to cheek x 175..275, hairline to chin y 78..180 — the
/// extent WIDER FACE-style boxes (which RetinaFace learnt) cover.
pub const ASTRONAUT_FACE: FaceBox = FaceBox { x: 175.0, y: 78.0, width: 100.0, height: 102.0, score: 1.0 };

pub fn detector(config: DetectorConfig) -> RetinaFaceDetector {
    RetinaFaceDetector::from_path(model_path(), config).unwrap()
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `$var` if set (relative to the repository root, as the scripts read it),
/// else `default` under the root.
pub fn fetched_dir(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var).map(|d| repo_root().join(d)).unwrap_or_else(|| repo_root().join(default))
}

pub fn model_path() -> PathBuf {
    let path = fetched_dir("EGOCAP_MODEL_DIR", "target/models").join("retinaface-tiny.onnx");
    assert!(path.is_file(), "face model {} is missing: run scripts/fetch-face-model.sh", path.display());
    path
}

pub fn photo(name: &str) -> Rgb {
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
pub fn background(width: usize, height: usize) -> Rgb {
    let mut image = Rgb::filled(width, height, [0, 0, 0]);
    for (i, p) in image.px.chunks_exact_mut(3).enumerate() {
        let v = (90 + 100 * (i / width) / height) as u8;
        p.copy_from_slice(&[v, v, v.saturating_add(20)]);
    }
    image
}

/// The astronaut's head scaled so that her face is `face_px` wide, pasted
/// into a 1280×720 frame; returns the frame and the face's true box.
pub fn small_face_frame(astronaut: &Rgb, face_px: usize) -> (Rgb, FaceBox) {
    // A square of 1.8 face widths around the measured face.
    let (crop_x, crop_y, crop_side) = (135, 38, 180);
    let scale = face_px as f32 / ASTRONAUT_FACE.width;
    let side = (crop_side as f32 * scale).round() as usize;
    let head = astronaut.crop(crop_x, crop_y, crop_side, crop_side).resized(side, side);
    // Low right, as far in as the head needs to fit.
    let (x, y) = (900.min(1280 - side), 420.min(720 - side));
    let truth = FaceBox {
        x: x as f32 + (ASTRONAUT_FACE.x - crop_x as f32) * scale,
        y: y as f32 + (ASTRONAUT_FACE.y - crop_y as f32) * scale,
        width: ASTRONAUT_FACE.width * scale,
        height: ASTRONAUT_FACE.height * scale,
        score: 1.0,
    };
    (paste(&background(1280, 720), &head, x, y), truth)
}

/// `image` with each pixel the mean of the (2r+1)² around it (clamped at
/// the edges): a face out of focus, or enlarged from few pixels.
pub fn box_blurred(image: &Rgb, r: usize) -> Rgb {
    let mut out = image.clone();
    let (w, h) = (image.width, image.height);
    for y in 0..h {
        for x in 0..w {
            let mut sum = [0u32; 3];
            let mut n = 0;
            for sy in y.saturating_sub(r)..(y + r + 1).min(h) {
                for sx in x.saturating_sub(r)..(x + r + 1).min(w) {
                    for (c, s) in sum.iter_mut().enumerate() {
                        *s += u32::from(image.px[(sy * w + sx) * 3 + c]);
                    }
                    n += 1;
                }
            }
            out.px[(y * w + x) * 3..][..3].copy_from_slice(&sum.map(|s| ((s + n / 2) / n) as u8));
        }
    }
    out
}

/// IoU and score of the detection that best overlaps `truth`, if any does.
pub fn best_match(faces: &[FaceBox], truth: &FaceBox) -> Option<(f32, f32)> {
    faces.iter().map(|f| (f.iou(truth), f.score)).filter(|(iou, _)| *iou > 0.0).max_by(|a, b| a.0.total_cmp(&b.0))
}

pub fn paste(canvas: &Rgb, image: &Rgb, x: usize, y: usize) -> Rgb {
    let mut out = canvas.clone();
    for row in 0..image.height {
        let src = &image.px[row * image.width * 3..][..image.width * 3];
        out.px[((y + row) * canvas.width + x) * 3..][..image.width * 3].copy_from_slice(src);
    }
    out
}

/// Packed RGB, 8 bits per sample.
#[derive(Clone)]
pub struct Rgb {
    pub width: usize,
    pub height: usize,
    pub px: Vec<u8>,
}

impl Rgb {
    pub fn filled(width: usize, height: usize, colour: [u8; 3]) -> Self {
        Self { width, height, px: colour.repeat(width * height) }
    }

    pub fn crop(&self, x: usize, y: usize, width: usize, height: usize) -> Self {
        let mut px = Vec::with_capacity(width * height * 3);
        for row in y..y + height {
            px.extend_from_slice(&self.px[(row * self.width + x) * 3..][..width * 3]);
        }
        Self { width, height, px }
    }

    /// Each pixel the mean of its three channels.
    pub fn grey(&self) -> Self {
        let px = self
            .px
            .chunks_exact(3)
            .flat_map(|p| [((u16::from(p[0]) + u16::from(p[1]) + u16::from(p[2])) / 3) as u8; 3]);
        Self { width: self.width, height: self.height, px: px.collect() }
    }

    /// Area-average downscale (each output pixel the mean of the source
    /// pixels it covers), as a camera's optics and sensor would render a
    /// smaller face.
    pub fn resized(&self, width: usize, height: usize) -> Self {
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
pub fn to_i420(image: &Rgb) -> I420Image {
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
