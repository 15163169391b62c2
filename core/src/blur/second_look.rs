//! A second look at the faces the small-face pass is unsure of. At 1:1 the
//! model scores a far bystander's soft 30–60 px face low: it needs about
//! twice those pixels to be sure. Scaling the whole frame up twice costs
//! four times the 1:1 pass; scaling up only a small square around each
//! doubtful candidate costs a few milliseconds a candidate, and what the
//! model finds there at its normal threshold is kept.

use super::detector::FaceBox;
use crate::frame::I420Image;

/// When and how the detector takes a second look.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SecondLook {
    /// Candidates of the small-face pass scoring above this (and not above
    /// the pass's own threshold) are looked at again.
    pub doubt_threshold: f32,
    /// Largest candidate side looked at again, frame pixels: larger faces
    /// have enough pixels at 1:1.
    pub max_face_px: f32,
    /// Side of the network's square input for a look. A crop of at most
    /// half this side is scaled into it, so every look is at least 2×.
    pub input_px: u32,
    /// At most this many looks a frame (1..=64), the likeliest candidates
    /// first: it bounds the cost (each is about 4 ms at 192 px on a desktop
    /// core, 3 % of the 1:1 pass).
    pub max_looks: usize,
}

impl Default for SecondLook {
    fn default() -> Self {
        Self { doubt_threshold: 0.05, max_face_px: 64.0, input_px: 192, max_looks: 8 }
    }
}

/// A square region of a frame, even-aligned so its chroma is whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Crop {
    pub x: u32,
    pub y: u32,
    pub side: u32,
}

/// Crops to look at again for the `doubtful` candidates, likeliest first:
/// none for a candidate too large, one mostly inside a `found` face, or one
/// an earlier crop holds with room around it (that look sees it too, with
/// the context the model needs).
pub(super) fn crops_for(doubtful: &[FaceBox], found: &[FaceBox], look: &SecondLook, frame: (u32, u32)) -> Vec<Crop> {
    let mut candidates: Vec<&FaceBox> = doubtful.iter().filter(|c| c.width.max(c.height) <= look.max_face_px).collect();
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut crops: Vec<Crop> = Vec::new();
    for candidate in candidates {
        if crops.len() >= look.max_looks {
            break;
        }
        if found.iter().any(|f| mostly_inside(candidate, f)) || crops.iter().any(|c| c.holds(candidate)) {
            continue;
        }
        if let Some(crop) = Crop::around(candidate, look.input_px / 2, frame) {
            crops.push(crop);
        }
    }
    crops
}

impl Crop {
    /// A square of three times the candidate's side (context the model
    /// needs), from 16 px to `max_side`, centred on it and moved inside the
    /// frame.
    fn around(candidate: &FaceBox, max_side: u32, (width, height): (u32, u32)) -> Option<Self> {
        let wanted = (3.0 * candidate.width.max(candidate.height)).ceil() as u32;
        let side = even(wanted.max(16).min(max_side).min(width).min(height));
        if side < 2 {
            return None;
        }
        let place = |centre: f32, limit: u32| {
            let start = (centre - side as f32 / 2.0).round().max(0.0) as u32;
            even(start.min(limit - side))
        };
        let (cx, cy) = (candidate.x + candidate.width / 2.0, candidate.y + candidate.height / 2.0);
        Some(Self { x: place(cx, width), y: place(cy, height), side })
    }

    /// Whether `b`, with half its side of context around it, is inside
    /// this crop.
    fn holds(&self, b: &FaceBox) -> bool {
        let room = b.width.max(b.height) / 2.0;
        let (x0, y0) = (self.x as f32, self.y as f32);
        let (x1, y1) = (x0 + self.side as f32, y0 + self.side as f32);
        b.x - room >= x0 && b.y - room >= y0 && b.x + b.width + room <= x1 && b.y + b.height + room <= y1
    }

    /// The crop's pixels as an I420 image of its own.
    pub fn cut(&self, frame: &I420Image) -> I420Image {
        let (fw, side) = (frame.width as usize, self.side as usize);
        let (x, y) = (self.x as usize, self.y as usize);
        let mut data = Vec::with_capacity(side * side * 3 / 2);
        for row in y..y + side {
            data.extend_from_slice(&frame.y()[row * fw + x..][..side]);
        }
        for plane in [frame.u(), frame.v()] {
            for row in y / 2..(y + side) / 2 {
                data.extend_from_slice(&plane[row * (fw / 2) + x / 2..][..side / 2]);
            }
        }
        I420Image { width: self.side, height: self.side, data }
    }

    /// A box in the crop's pixels, moved into the frame's.
    pub fn into_frame(self, b: FaceBox) -> FaceBox {
        FaceBox { x: b.x + self.x as f32, y: b.y + self.y as f32, ..b }
    }
}

/// Whether at least 70 % of `b` lies in `region` (a candidate only
/// partly inside a found face may be another face beside it).
fn mostly_inside(b: &FaceBox, region: &FaceBox) -> bool {
    b.intersection(region).area() >= 0.7 * b.area()
}

fn even(v: u32) -> u32 {
    v & !1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(x: f32, y: f32, size: f32, score: f32) -> FaceBox {
        FaceBox { x, y, width: size, height: size, score }
    }

    #[test]
    fn a_crop_is_three_faces_wide_even_aligned_and_inside_the_frame() {
        let look = SecondLook::default();
        let crops = crops_for(&[candidate(501.0, 301.0, 30.0, 0.2)], &[], &look, (1280, 720));
        assert_eq!(crops, vec![Crop { x: 470, y: 270, side: 90 }]);
        // At the bottom-right corner, larger than half the network input.
        let crops = crops_for(&[candidate(1250.0, 700.0, 50.0, 0.2)], &[], &look, (1280, 720));
        assert_eq!(crops, vec![Crop { x: 1184, y: 624, side: 96 }]);
    }

    #[test]
    fn skips_large_found_and_already_held_candidates_and_stops_at_the_limit() {
        let look = SecondLook { max_looks: 3, ..SecondLook::default() };
        let found = [candidate(100.0, 100.0, 40.0, 0.9)];
        let doubtful = [
            candidate(105.0, 105.0, 30.0, 0.25), // a found face's
            candidate(125.0, 100.0, 30.0, 0.2),  // half beside it: maybe a face of its own
            candidate(600.0, 100.0, 90.0, 0.2),  // large enough at 1:1
            candidate(300.0, 300.0, 20.0, 0.1),
            candidate(310.0, 305.0, 20.0, 0.15), // the likelier: its crop holds the other
            candidate(900.0, 500.0, 20.0, 0.06),
            candidate(1100.0, 500.0, 20.0, 0.07),
        ];
        let crops = crops_for(&doubtful, &found, &look, (1280, 720));
        let expected = [(94, 70, 90), (290, 284, 60), (1080, 480, 60)].map(|(x, y, side)| Crop { x, y, side });
        assert_eq!(crops, expected);
    }

    #[test]
    fn cuts_the_planes_of_the_crop_and_maps_boxes_back() {
        // Each sample says where it is: column + 2 × row (luma), column +
        // 3 × row (U), 100 + column + 3 × row (V).
        let mut frame = I420Image::grey(64, 32);
        let (y, u, v) = frame.planes_mut();
        y.iter_mut().enumerate().for_each(|(i, p)| *p = (i % 64 + 2 * (i / 64)) as u8);
        u.iter_mut().enumerate().for_each(|(i, p)| *p = (i % 32 + 3 * (i / 32)) as u8);
        v.iter_mut().enumerate().for_each(|(i, p)| *p = (100 + i % 32 + 3 * (i / 32)) as u8);
        let crop = Crop { x: 10, y: 4, side: 8 };
        let image = crop.cut(&frame);
        assert_eq!((image.width, image.height, image.data.len()), (8, 8, 96));
        assert_eq!(&image.y()[..8], &[18, 19, 20, 21, 22, 23, 24, 25]);
        assert_eq!(&image.y()[56..], &[32, 33, 34, 35, 36, 37, 38, 39]);
        assert_eq!(&image.u()[..4], &[11, 12, 13, 14]);
        assert_eq!(&image.u()[12..], &[20, 21, 22, 23]);
        assert_eq!(&image.v()[..4], &[111, 112, 113, 114]);
        let b = crop.into_frame(candidate(1.0, 2.0, 3.0, 0.8));
        assert_eq!((b.x, b.y, b.width), (11.0, 6.0, 3.0));
    }
}
