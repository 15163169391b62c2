//! One run of the face model at one input size: the network loaded and
//! optimised by tract for that size, its input buffer and its priors. The
//! detector holds one per pass (whole frame, small faces, second look).

use std::panic::{catch_unwind, AssertUnwindSafe};

use tract_onnx::prelude::*;

use super::detector::{DetectError, FaceBox};
use super::network_input::{Colour, Letterbox, NetworkInput};
use super::retinaface::{self, Prior};
use crate::frame::I420Image;

/// The network loaded for one input size, with its input buffer and priors.
#[derive(Debug)]
pub(super) struct Pass {
    state: TypedSimpleState,
    input: NetworkInput,
    width: usize,
    height: usize,
    priors: Vec<Prior>,
    /// Faces larger than this (network pixels) are not this pass's to find.
    max_face_px: Option<f32>,
}

/// Faces are few; this bounds the suppression's quadratic cost if a low
/// threshold lets thousands of priors through (the reference code uses 10 000).
const MAX_CANDIDATES: usize = 2000;

impl Pass {
    /// Loads and optimises the model for this input size, and runs it once
    /// on a blank input (at this threshold and overlap) to check its outputs.
    pub fn load(
        model: &[u8],
        width: u32,
        height: u32,
        max_face_px: Option<f32>,
        colour: Colour,
        (threshold, nms_iou): (f32, f32),
    ) -> Result<Self, DetectError> {
        let (width, height) = (width as usize, height as usize);
        // tract parses untrusted bytes; a panic deep in it must still be an error.
        let state = catch_unwind(AssertUnwindSafe(|| load(model, width, height)))
            .unwrap_or_else(|_| Err("the ONNX loader panicked".to_owned()))
            .map_err(|reason| DetectError::ModelInvalid { reason })?;
        let mut pass = Self {
            state,
            input: NetworkInput::new(width, height, width, height, colour),
            width,
            height,
            priors: retinaface::priors(width, height),
            max_face_px,
        };
        pass.run_network(threshold, nms_iou).map_err(|e| match e {
            DetectError::Inference { reason } => DetectError::ModelInvalid { reason },
            other => other,
        })?;
        Ok(pass)
    }

    /// Faces in `frame` that are this pass's to find, in frame pixels but
    /// not clipped to it, and how the frame was scaled.
    pub fn detect(
        &mut self,
        frame: &I420Image,
        threshold: f32,
        nms_iou: f32,
    ) -> Result<(Vec<FaceBox>, Letterbox), DetectError> {
        let letterbox = self.input.fill(frame);
        let max = self.max_face_px.unwrap_or(f32::INFINITY);
        let faces = self
            .run_network(threshold, nms_iou)?
            .into_iter()
            .filter(|f| f.width.max(f.height) <= max)
            .map(|f| unscaled(f, letterbox))
            .collect();
        Ok((faces, letterbox))
    }

    /// Runs the network on the current input and decodes faces above the
    /// threshold, in network pixels.
    fn run_network(&mut self, threshold: f32, nms_iou: f32) -> Result<Vec<FaceBox>, DetectError> {
        let shape = [1, 3, self.height, self.width];
        let state = &mut self.state;
        let data = self.input.data();
        let outputs = catch_unwind(AssertUnwindSafe(|| {
            let tensor = Tensor::from_shape(&shape, data)?;
            state.run(tvec!(tensor.into_tvalue()))
        }))
        .unwrap_or_else(|_| Err(TractError::msg("the network panicked")))
        .map_err(|e| DetectError::Inference { reason: format!("{e:#}") })?;
        let priors = self.priors.len();
        let bad = |reason: String| DetectError::ModelOutputs { priors, reason };
        let [loc, conf, landmarks] = outputs.as_slice() else {
            return Err(bad(format!("{} outputs", outputs.len())));
        };
        let mut views = Vec::with_capacity(3);
        for (name, value, per_prior) in [("loc", loc, 4), ("conf", conf, 2), ("landmarks", landmarks, 10)] {
            let view =
                value.try_as_plain_ram().and_then(|v| v.as_slice::<f32>()).map_err(|e| bad(format!("{name}: {e}")))?;
            if value.shape() != [1, priors, per_prior] {
                return Err(bad(format!("{name} has shape {:?}", value.shape())));
            }
            views.push(view);
        }
        let faces = retinaface::decode(&self.priors, views[0], views[1], threshold);
        Ok(retinaface::suppress_overlaps(faces, nms_iou, MAX_CANDIDATES))
    }
}

fn load(model: &[u8], width: usize, height: usize) -> Result<TypedSimpleState, String> {
    let run = || -> TractResult<TypedSimpleState> {
        tract_onnx::onnx()
            .model_for_read(&mut &model[..])?
            .with_input_fact(0, f32::fact([1, 3, height, width]).into())?
            .into_optimized()?
            .into_runnable()?
            .spawn()
    };
    run().map_err(|e| format!("{e:#}"))
}

/// A box from network to frame pixels.
pub(super) fn unscaled(face: FaceBox, letterbox: Letterbox) -> FaceBox {
    FaceBox {
        x: face.x / letterbox.scale_x,
        y: face.y / letterbox.scale_y,
        width: face.width / letterbox.scale_x,
        height: face.height / letterbox.scale_y,
        score: face.score,
    }
}

/// A box clipped to the frame; `None` if nothing of it is inside.
pub(super) fn clipped(face: FaceBox, frame: &I420Image) -> Option<FaceBox> {
    let (x0, y0) = (face.x.max(0.0), face.y.max(0.0));
    let x1 = (face.x + face.width).min(frame.width as f32);
    let y1 = (face.y + face.height).min(frame.height as f32);
    (x1 > x0 && y1 > y0).then_some(FaceBox { x: x0, y: y0, width: x1 - x0, height: y1 - y0, score: face.score })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_network_boxes_back_to_frame_pixels_and_clips_them() {
        let frame = I420Image::grey(1280, 720);
        let letterbox = Letterbox { scale_x: 0.5, scale_y: 0.5 };
        let inside = FaceBox { x: 10.0, y: 20.0, width: 30.0, height: 40.0, score: 0.9 };
        assert_eq!(
            clipped(unscaled(inside, letterbox), &frame),
            Some(FaceBox { x: 20.0, y: 40.0, width: 60.0, height: 80.0, score: 0.9 })
        );
        let overhanging = FaceBox { x: -10.0, y: 350.0, width: 30.0, height: 40.0, score: 0.9 };
        assert_eq!(
            clipped(unscaled(overhanging, letterbox), &frame),
            Some(FaceBox { x: 0.0, y: 700.0, width: 40.0, height: 20.0, score: 0.9 })
        );
        // In the letterbox padding, below the picture.
        assert_eq!(clipped(unscaled(FaceBox { y: 400.0, ..inside }, letterbox), &frame), None);
    }
}
