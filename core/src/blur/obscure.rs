//! Irreversible obscuring of a face region in a YUV 4:2:0 frame, in place,
//! before encoding: inside an ellipse, every pixel becomes a box blur of a
//! mosaic (each cell replaced by its mean). The mosaic maps many pictures
//! to one — what a cell held beyond its mean is gone — so no deconvolution
//! brings a face back, unlike a plain Gaussian blur, which is invertible in
//! principle. The blur only hides the cell edges. Y, U and V are all
//! treated (chroma at half resolution), so no colour detail survives.

use super::detector::FaceBox;
use crate::frame::I420Image;

/// Mosaic cell side in luma pixels; chroma cells are half as wide.
pub const DEFAULT_CELL_PX: u32 = 16;

/// An axis-aligned ellipse in luma pixel coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ellipse {
    pub cx: f32,
    pub cy: f32,
    pub rx: f32,
    pub ry: f32,
}

impl Ellipse {
    /// The ellipse inscribed in `face` scaled by `dilation` about its
    /// centre and grown by `margin_px` on every side. From a dilation of
    /// √2 on it passes outside the face box's corners; a tracked face's box
    /// already carries slack (see the tracker), so 1.3 covers its corners.
    pub fn around(face: &FaceBox, dilation: f32, margin_px: f32) -> Self {
        Self {
            cx: face.x + face.width / 2.0,
            cy: face.y + face.height / 2.0,
            rx: face.width * dilation / 2.0 + margin_px,
            ry: face.height * dilation / 2.0 + margin_px,
        }
    }

    /// Whether the centre of pixel (x, y) lies inside.
    pub fn contains(&self, x: u32, y: u32) -> bool {
        let dx = (x as f32 + 0.5 - self.cx) / self.rx.max(f32::EPSILON);
        let dy = (y as f32 + 0.5 - self.cy) / self.ry.max(f32::EPSILON);
        dx * dx + dy * dy <= 1.0
    }

    fn scaled(&self, factor: f32) -> Self {
        Self { cx: self.cx * factor, cy: self.cy * factor, rx: self.rx * factor, ry: self.ry * factor }
    }
}

/// The cell side for an ellipse: at least `min_cell_px`, and large enough
/// that the region is only three cells across. A finer mosaic of a large
/// face still reads as a face: on scikit-image's astronaut our detector
/// still found it at 0.99 with 16-px cells and at 0.72 with five cells
/// across, and no longer at three (`core/tests/face_detector.rs`).
pub fn cell_for(ellipse: &Ellipse, min_cell_px: u32) -> u32 {
    const CELLS_ACROSS: f32 = 3.0;
    let across = (2.0 * ellipse.rx.min(ellipse.ry) / CELLS_ACROSS) as u32;
    across.max(min_cell_px).max(2)
}

/// Obscures `ellipse` in all three planes of `image` with cells of
/// `cell_px` (see [`cell_for`]).
pub fn obscure(image: &mut I420Image, ellipse: &Ellipse, cell_px: u32) {
    let (width, height) = (image.width, image.height);
    let (y, u, v) = image.planes_mut();
    let cell = cell_px.max(2);
    obscure_plane(Plane { data: y, width, height }, ellipse, cell);
    let chroma = ellipse.scaled(0.5);
    obscure_plane(Plane { data: u, width: width / 2, height: height / 2 }, &chroma, cell / 2);
    obscure_plane(Plane { data: v, width: width / 2, height: height / 2 }, &chroma, cell / 2);
}

struct Plane<'a> {
    data: &'a mut [u8],
    width: u32,
    height: u32,
}

/// The pixel rectangle `[x0, x1) × [y0, y1)` an ellipse covers, grown to
/// whole cells of the plane's grid and clamped to the plane.
fn cell_aligned_bounds(plane: &Plane<'_>, e: &Ellipse, cell: u32) -> Option<(u32, u32, u32, u32)> {
    let clamp = |v: f32, max: u32| (v.max(0.0) as u32).min(max);
    let (x0, x1) = (clamp(e.cx - e.rx, plane.width), clamp((e.cx + e.rx).ceil(), plane.width));
    let (y0, y1) = (clamp(e.cy - e.ry, plane.height), clamp((e.cy + e.ry).ceil(), plane.height));
    if x0 >= x1 || y0 >= y1 {
        return None;
    }
    let down = |v: u32| v / cell * cell;
    let up = |v: u32, max: u32| v.div_ceil(cell).saturating_mul(cell).min(max);
    Some((down(x0), down(y0), up(x1, plane.width), up(y1, plane.height)))
}

fn obscure_plane(plane: Plane<'_>, ellipse: &Ellipse, cell: u32) {
    let cell = cell.max(1);
    let Some((x0, y0, x1, y1)) = cell_aligned_bounds(&plane, ellipse, cell) else { return };
    let (w, h) = ((x1 - x0) as usize, (y1 - y0) as usize);
    let stride = plane.width as usize;
    // The whole rectangle is mosaicked in a copy, so what the blur reads
    // depends on cell means alone, inside the ellipse and around it.
    let mut mosaic = vec![0u8; w * h];
    for cy in (0..h).step_by(cell as usize) {
        for cx in (0..w).step_by(cell as usize) {
            let (cw, ch) = ((cell as usize).min(w - cx), (cell as usize).min(h - cy));
            let mut sum = 0u32;
            for row in 0..ch {
                let start = (y0 as usize + cy + row) * stride + x0 as usize + cx;
                sum += plane.data[start..start + cw].iter().map(|&p| u32::from(p)).sum::<u32>();
            }
            let mean = ((sum + (cw * ch) as u32 / 2) / (cw * ch) as u32) as u8;
            for row in 0..ch {
                let start = (cy + row) * w + cx;
                mosaic[start..start + cw].fill(mean);
            }
        }
    }
    let blurred = box_blur(&mosaic, w, h, (cell as usize / 2).max(1));
    for row in 0..h {
        for col in 0..w {
            let (x, y) = (x0 + col as u32, y0 + row as u32);
            if ellipse.contains(x, y) {
                plane.data[y as usize * stride + x as usize] = blurred[row * w + col];
            }
        }
    }
}

/// Separable box blur with radius `r`, edges clamped: a running sum along
/// each line, so the cost does not grow with the radius (a face-sized
/// region has radii of tens of pixels).
fn box_blur(src: &[u8], w: usize, h: usize, r: usize) -> Vec<u8> {
    let pass = |input: &[u8], len: usize, lines: usize, at: &dyn Fn(usize, usize) -> usize| {
        let mut out = vec![0u8; input.len()];
        for line in 0..lines {
            let value = |j: usize| u32::from(input[at(line, j)]);
            // The window [i - r, i + r] clipped to the line.
            let mut sum: u32 = (0..=r.min(len - 1)).map(value).sum();
            for i in 0..len {
                let (lo, hi) = (i.saturating_sub(r), (i + r).min(len - 1));
                let count = (hi - lo + 1) as u32;
                out[at(line, i)] = ((sum + count / 2) / count) as u8;
                // Slide: add the pixel entering at the right, drop the one leaving at the left.
                if i + r + 1 < len {
                    sum += value(i + r + 1);
                }
                if i >= r {
                    sum -= value(i - r);
                }
            }
        }
        out
    };
    let horizontal = pass(src, w, h, &|line, i| line * w + i);
    pass(&horizontal, h, w, &|line, i| i * w + line)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic noise: every pixel different from its neighbours.
    fn noise(width: u32, height: u32, seed: u32) -> I420Image {
        let mut image = I420Image::grey(width, height);
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        for p in &mut image.data {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            *p = (state >> 24) as u8;
        }
        image
    }

    /// Flips every `cell`-wide cell of a plane left to right: the same cell
    /// means, a different picture.
    fn flip_cells(data: &mut [u8], width: usize, cell: usize) {
        for row in data.chunks_mut(width) {
            for chunk in row.chunks_mut(cell) {
                chunk.reverse();
            }
        }
    }

    const FACE: FaceBox = FaceBox { x: 100.0, y: 60.0, width: 80.0, height: 96.0, score: 1.0 };

    #[test]
    fn pixels_outside_the_ellipse_are_untouched_and_inside_all_planes_change() {
        let original = noise(320, 240, 1);
        let mut image = original.clone();
        let ellipse = Ellipse::around(&FACE, 1.5, 4.0);
        obscure(&mut image, &ellipse, DEFAULT_CELL_PX);
        let (w, h) = (320usize, 240usize);
        let mut changed = 0;
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                if ellipse.contains(x as u32, y as u32) {
                    changed += usize::from(image.data[i] != original.data[i]);
                } else {
                    assert_eq!(image.data[i], original.data[i], "luma ({x}, {y}) outside the ellipse changed");
                }
            }
        }
        assert!(changed > 5000, "only {changed} luma pixels changed");
        assert_ne!(image.u(), original.u());
        assert_ne!(image.v(), original.v());
        // From a dilation of √2, the face box itself is covered corner to corner.
        for (x, y) in [(100, 60), (179, 60), (100, 155), (179, 155)] {
            assert!(ellipse.contains(x, y), "corner ({x}, {y}) not covered");
        }
    }

    #[test]
    fn pictures_with_the_same_cell_means_become_identical_so_nothing_can_be_recovered() {
        let a = noise(320, 240, 7);
        let mut b = a.clone();
        {
            let (y, u, v) = b.planes_mut();
            flip_cells(y, 320, DEFAULT_CELL_PX as usize);
            flip_cells(u, 160, DEFAULT_CELL_PX as usize / 2);
            flip_cells(v, 160, DEFAULT_CELL_PX as usize / 2);
        }
        assert_ne!(a.data, b.data);
        let ellipse = Ellipse::around(&FACE, 1.3, 4.0);
        let (mut a_out, mut b_out) = (a.clone(), b.clone());
        obscure(&mut a_out, &ellipse, DEFAULT_CELL_PX);
        obscure(&mut b_out, &ellipse, DEFAULT_CELL_PX);
        let inside_luma: Vec<usize> = (0..240u32)
            .flat_map(|y| (0..320u32).map(move |x| (x, y)))
            .filter(|&(x, y)| ellipse.contains(x, y))
            .map(|(x, y)| (y * 320 + x) as usize)
            .collect();
        assert!(
            inside_luma.iter().all(|&i| a_out.data[i] == b_out.data[i]),
            "the obscured face still depends on more than cell means"
        );
    }

    /// The sliding sum equals the direct sum over the clipped window.
    #[test]
    fn the_running_box_blur_equals_the_direct_one() {
        let direct = |src: &[u8], w: usize, h: usize, r: usize| {
            let pass = |input: &[u8], len: usize, lines: usize, at: &dyn Fn(usize, usize) -> usize| {
                let mut out = vec![0u8; input.len()];
                for line in 0..lines {
                    for i in 0..len {
                        let (lo, hi) = (i.saturating_sub(r), (i + r).min(len - 1));
                        let sum: u32 = (lo..=hi).map(|j| u32::from(input[at(line, j)])).sum();
                        out[at(line, i)] = ((sum + (hi - lo + 1) as u32 / 2) / (hi - lo + 1) as u32) as u8;
                    }
                }
                out
            };
            let horizontal = pass(src, w, h, &|line, i| line * w + i);
            pass(&horizontal, h, w, &|line, i| i * w + line)
        };
        let image = noise(37, 23, 5);
        let src = &image.data[..37 * 23];
        for r in [1, 2, 5, 18, 36, 60] {
            assert_eq!(box_blur(src, 37, 23, r), direct(src, 37, 23, r), "radius {r}");
        }
    }

    #[test]
    fn an_ellipse_off_the_frame_or_at_its_edge_is_clipped_not_a_panic() {
        let mut image = noise(64, 48, 3);
        for face in [
            FaceBox { x: -50.0, y: -50.0, width: 40.0, height: 40.0, score: 1.0 },
            FaceBox { x: 50.0, y: 40.0, width: 40.0, height: 40.0, score: 1.0 },
            FaceBox { x: 1000.0, y: 1000.0, width: 10.0, height: 10.0, score: 1.0 },
            FaceBox { x: 0.0, y: 0.0, width: 64.0, height: 48.0, score: 1.0 },
        ] {
            obscure(&mut image, &Ellipse::around(&face, 1.3, 4.0), DEFAULT_CELL_PX);
        }
    }
}
