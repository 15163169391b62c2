//! Camera motion between consecutive frames, measured from the pictures.
//!
//! A head-worn camera moves all the time, and that motion, not the
//! bystanders' own, is what can carry a face far between two detections.
//! Measured, it lets the blur stage follow a newly found face back along
//! the camera's path instead of covering everywhere a face could have been
//! at the fastest head turn.
//!
//! The model is a translation of the whole picture, found by block matching
//! (sum of absolute differences) on a luma pyramid: an exhaustive search
//! on the coarsest level, refined level by level down to a quarter of the
//! frame's resolution, so within about 4 px. It gives no answer when it
//! cannot vouch for one: a flat or repetitive picture (no clear best
//! match), a scene change (the best match is poor), motion at the edge of
//! the search (maybe beyond it), or a picture that did not move as one:
//! each textured one of 3×3 tiles (at least five) must find its own best
//! match within one cell of the whole picture's, so a roll of the head (the corners move, the centre
//! does not), strong parallax, or a large moving foreground (the worker's
//! hands, a passer-by filling half the view) gives no answer either.

/// The frame's luma at 1/4, 1/8 and 1/16 of its size, kept for matching
/// against the next frame.
#[derive(Debug, Clone)]
pub(crate) struct Pyramid {
    /// Finest first; each level half the previous one's size.
    levels: Vec<Plane>,
}

#[derive(Debug, Clone)]
struct Plane {
    width: usize,
    height: usize,
    px: Vec<u8>,
}

/// Scale of the finest level: a quarter of the frame.
const FINEST_SCALE: usize = 4;
const LEVELS: usize = 3;
/// The coarsest level searched is the smallest at least this size.
const MIN_SEARCH_WIDTH: usize = 32;
const MIN_SEARCH_HEIGHT: usize = 24;
/// Farthest the search looks, in frame pixels per frame: 120 px is a very
/// fast head turn at 720p (about 180°/s with a 65° lens).
const SEARCH_REACH_PX: usize = 120;
/// Confidence: the best match must stand out from the average offset by
/// this much (mean absolute luma difference per pixel)…
const MIN_DEPTH: f32 = 3.0;
/// …be clearly better than any match three or more cells away (a share of
/// that depth; repetitive texture has several equal minima)…
const MIN_UNIQUENESS: f32 = 0.2;
/// …and be good in absolute terms: above this share of the average, the
/// pictures do not match at any shift (a cut, a flash, a hand over the lens).
const MAX_BEST_SHARE: f32 = 0.6;
/// Tiles per side for the check that the picture moved as one.
const TILES: usize = 3;
/// Shifts each tile tries around the whole picture's, in finest cells.
const TILE_SEARCH: i32 = 2;
/// A tile with texture (mean absolute deviation of its luma above this)
/// votes; a flat one (a wall, the sky) cannot tell and abstains. At least
/// `MIN_VOTING_TILES` must vote, and every voter must find its best match
/// within one cell of the whole picture's in its ±2-cell search (a tile
/// whose own motion lies beyond the search finds its best towards it, at
/// the search's edge: it disagrees).
const MIN_TILE_TEXTURE: f32 = 2.0;
const MIN_VOTING_TILES: usize = 5;

impl Pyramid {
    /// The pyramid of an I420 frame's luma (`width` × `height` bytes first).
    pub(crate) fn of_luma(luma: &[u8], width: usize, height: usize) -> Self {
        let mut levels = Vec::with_capacity(LEVELS);
        let mut level = downscale(luma, width, height, FINEST_SCALE);
        for _ in 1..LEVELS {
            let next = downscale(&level.px, level.width, level.height, 2);
            levels.push(std::mem::replace(&mut level, next));
        }
        levels.push(level);
        Self { levels }
    }

    /// How far the picture moved from `previous` to `self`, in frame
    /// pixels (x right, y down), or `None` when the pictures do not say.
    pub(crate) fn motion_since(&self, previous: &Pyramid) -> Option<(f32, f32)> {
        let same_size = |a: &Plane, b: &Plane| a.width == b.width && a.height == b.height;
        if self.levels.len() != previous.levels.len()
            || !self.levels.iter().zip(&previous.levels).all(|(a, b)| same_size(a, b))
        {
            return None;
        }
        // The coarsest level still big enough to match on.
        let coarse = (0..self.levels.len()).rev().find(|&i| {
            let p = &self.levels[i];
            p.width >= MIN_SEARCH_WIDTH && p.height >= MIN_SEARCH_HEIGHT
        })?;
        let scale = FINEST_SCALE << coarse;
        let (now, before) = (&self.levels[coarse], &previous.levels[coarse]);
        let reach = (SEARCH_REACH_PX / scale).min(now.width / 6).min(now.height / 6) as i32;
        let mut shift = exhaustive_search(now, before, reach)?;
        for level in (0..coarse).rev() {
            shift = (shift.0 * 2, shift.1 * 2);
            shift = refine(&self.levels[level], &previous.levels[level], shift)?;
        }
        if !moved_as_one(&self.levels[0], &previous.levels[0], shift) {
            return None;
        }
        let finest = FINEST_SCALE as f32;
        Some((shift.0 as f32 * finest, shift.1 as f32 * finest))
    }
}

/// Averages `factor`×`factor` blocks; a partial block at the edge is left out.
fn downscale(px: &[u8], width: usize, height: usize, factor: usize) -> Plane {
    let (w, h) = (width / factor, height / factor);
    if w == 0 || h == 0 || px.len() < width * height {
        // Too small to match on: an empty level gives no answer.
        return Plane { width: 0, height: 0, px: Vec::new() };
    }
    let mut sums = vec![0u32; w];
    let mut out = Vec::with_capacity(w * h);
    for row in 0..h {
        sums.fill(0);
        for line in px.chunks_exact(width).skip(row * factor).take(factor) {
            for (sum, block) in sums.iter_mut().zip(line.chunks_exact(factor)) {
                *sum += block.iter().map(|&v| u32::from(v)).sum::<u32>();
            }
        }
        let area = (factor * factor) as u32;
        out.extend(sums.iter().map(|&s| (s / area) as u8));
    }
    Plane { width: w, height: h, px: out }
}

/// A rectangle of cells: columns `x`, rows `y`.
#[derive(Debug, Clone)]
struct Window {
    x: std::ops::Range<usize>,
    y: std::ops::Range<usize>,
}

impl Window {
    /// The plane less `margin` cells on every side; `None` if nothing is left.
    fn inset(plane: &Plane, margin: usize) -> Option<Window> {
        let fits = |side: usize| side > 2 * margin;
        (fits(plane.width) && fits(plane.height))
            .then(|| Window { x: margin..plane.width - margin, y: margin..plane.height - margin })
    }
}

/// Mean absolute difference per pixel between `now` and `before` moved by
/// `shift`, over `window`, which lies at least |shift| cells inside the
/// edges (so every shift compares the same pixels of `now`).
fn mean_difference(now: &Plane, before: &Plane, shift: (i32, i32), window: &Window) -> f32 {
    let w = now.width;
    let mut total = 0u64;
    for y in window.y.clone() {
        let from_y = (y as i32 - shift.1) as usize;
        let a = &now.px[y * w..][window.x.clone()];
        let from_x = (window.x.start as i32 - shift.0) as usize;
        let b = &before.px[from_y * w + from_x..][..a.len()];
        total += a.iter().zip(b).map(|(&p, &q)| u64::from(p.abs_diff(q))).sum::<u64>();
    }
    total as f32 / (window.x.len() * window.y.len()).max(1) as f32
}

/// Every shift within `reach` cells; the best if it is trustworthy (see
/// the confidence constants) and not on the edge of the search.
fn exhaustive_search(now: &Plane, before: &Plane, reach: i32) -> Option<(i32, i32)> {
    if reach < 2 {
        return None;
    }
    let window = Window::inset(now, reach as usize)?;
    let side = 2 * reach + 1;
    let mut costs = Vec::with_capacity((side * side) as usize);
    for dy in -reach..=reach {
        for dx in -reach..=reach {
            costs.push(((dx, dy), mean_difference(now, before, (dx, dy), &window)));
        }
    }
    let &(best, best_cost) = costs.iter().min_by(|a, b| a.1.total_cmp(&b.1))?;
    let mean = costs.iter().map(|c| c.1).sum::<f32>() / costs.len() as f32;
    let far = |s: (i32, i32)| (s.0 - best.0).abs().max((s.1 - best.1).abs()) >= 3;
    let runner_up = costs.iter().filter(|c| far(c.0)).map(|c| c.1).fold(f32::INFINITY, f32::min);
    let depth = mean - best_cost;
    let trustworthy =
        depth >= MIN_DEPTH && runner_up - best_cost >= MIN_UNIQUENESS * depth && best_cost <= MAX_BEST_SHARE * mean;
    let on_edge = best.0.abs() == reach || best.1.abs() == reach;
    (trustworthy && !on_edge).then_some(best)
}

/// The best shift within one cell of `guess` on a finer level; `None` if
/// the window does not fit.
fn refine(now: &Plane, before: &Plane, guess: (i32, i32)) -> Option<(i32, i32)> {
    let margin = (guess.0.abs().max(guess.1.abs()) + 1) as usize;
    if 2 * margin + 8 > now.width.min(now.height) {
        return None;
    }
    let window = Window::inset(now, margin)?;
    Some(best_shift_near(now, before, guess, 1, &window))
}

/// The shift within `radius` cells of `guess` that matches best over `window`.
fn best_shift_near(now: &Plane, before: &Plane, guess: (i32, i32), radius: i32, window: &Window) -> (i32, i32) {
    let mut best = (guess, f32::INFINITY);
    for dy in -radius..=radius {
        for dx in -radius..=radius {
            let shift = (guess.0 + dx, guess.1 + dy);
            let cost = mean_difference(now, before, shift, window);
            if cost < best.1 {
                best = (shift, cost);
            }
        }
    }
    best.0
}

/// Mean absolute deviation of the luma in `window` from its mean.
fn texture(plane: &Plane, window: &Window) -> f32 {
    let rows = window.y.clone().map(|y| &plane.px[y * plane.width..][window.x.clone()]);
    mean_abs_deviation(rows.flatten(), window.x.len() * window.y.len())
}

/// Mean absolute deviation from their mean of `count` luma values (how
/// much texture there is to match): two passes over `values`.
pub(super) fn mean_abs_deviation<'a>(values: impl Iterator<Item = &'a u8> + Clone, count: usize) -> f32 {
    let count = count.max(1) as f32;
    let mean = values.clone().map(|&v| f32::from(v)).sum::<f32>() / count;
    values.map(|&v| (f32::from(v) - mean).abs()).sum::<f32>() / count
}

/// Each textured one of 3×3 tiles of the finest level, searched around
/// `shift`, finds its best match within one cell of it (flat tiles abstain,
/// and enough must vote).
fn moved_as_one(now: &Plane, before: &Plane, shift: (i32, i32)) -> bool {
    let margin = (shift.0.abs().max(shift.1.abs()) + TILE_SEARCH) as usize;
    let Some(inner) = Window::inset(now, margin) else { return false };
    let (tile_w, tile_h) = (inner.x.len() / TILES, inner.y.len() / TILES);
    if tile_w < 4 || tile_h < 4 {
        return false;
    }
    let mut voters = 0;
    for row in 0..TILES {
        for col in 0..TILES {
            let x0 = inner.x.start + col * tile_w;
            let y0 = inner.y.start + row * tile_h;
            let tile = Window { x: x0..x0 + tile_w, y: y0..y0 + tile_h };
            if texture(now, &tile) < MIN_TILE_TEXTURE {
                continue;
            }
            let best = best_shift_near(now, before, shift, TILE_SEARCH, &tile);
            if (best.0 - shift.0).abs() > 1 || (best.1 - shift.1).abs() > 1 {
                return false;
            }
            voters += 1;
        }
    }
    voters >= MIN_VOTING_TILES
}

/// Test pictures with texture like a real scene's, for the motion tests
/// here and the blur stage's.
#[cfg(test)]
pub(crate) mod test_scene {
    /// Smooth random texture, like a real scene at low resolution: a sum of
    /// blobs, so the block matching has a single clear minimum.
    pub(crate) fn scene(width: usize, height: usize) -> Vec<u8> {
        let mut state = 0x2545_f491_u32;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        let blobs: Vec<(f32, f32, f32, f32)> = (0..60)
            .map(|_| {
                let x = (next() % width as u32) as f32;
                let y = (next() % height as u32) as f32;
                let r = 10.0 + (next() % 60) as f32;
                let v = (next() % 160) as f32 - 80.0;
                (x, y, r, v)
            })
            .collect();
        let mut px = vec![0u8; width * height];
        for y in 0..height {
            for x in 0..width {
                let mut v = 128.0;
                for &(bx, by, r, a) in &blobs {
                    let d2 = ((x as f32 - bx).powi(2) + (y as f32 - by).powi(2)) / (r * r);
                    v += a * (-d2).exp();
                }
                px[y * width + x] = v.clamp(0.0, 255.0) as u8;
            }
        }
        px
    }

    /// A `width`×`height` view of `world` centred on (cx, cy), turned by
    /// `angle` radians about its centre (a roll of the head).
    pub(crate) fn rolled_view(
        world: &[u8],
        world_width: usize,
        centre: (f32, f32),
        size: (usize, usize),
        angle: f32,
    ) -> Vec<u8> {
        let (width, height) = size;
        let (sin, cos) = angle.sin_cos();
        let mut px = Vec::with_capacity(width * height);
        for y in 0..height {
            for x in 0..width {
                let (dx, dy) = (x as f32 - width as f32 / 2.0, y as f32 - height as f32 / 2.0);
                let wx = (centre.0 + dx * cos - dy * sin).round() as usize;
                let wy = (centre.1 + dx * sin + dy * cos).round() as usize;
                px.push(world[wy * world_width + wx]);
            }
        }
        px
    }

    /// A `width`×`height` view of `world` with its top-left corner at (x, y).
    pub(crate) fn view(world: &[u8], world_width: usize, x: usize, y: usize, width: usize, height: usize) -> Vec<u8> {
        (0..height).flat_map(|row| world[(y + row) * world_width + x..][..width].to_vec()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::test_scene::{rolled_view, scene, view};
    use super::*;

    #[test]
    fn measures_a_pan_within_the_finest_level() {
        let (ww, wh) = (1600, 900);
        let world = scene(ww, wh);
        let (w, h) = (1280, 720);
        let before = Pyramid::of_luma(&view(&world, ww, 150, 90, w, h), w, h);
        // The camera turns left and up: the picture moves right and down.
        for (dx, dy) in [(0i32, 0i32), (37, 0), (-52, 21), (8, -64), (96, 40)] {
            let now = view(&world, ww, (150 - dx) as usize, (90 - dy) as usize, w, h);
            let motion = Pyramid::of_luma(&now, w, h).motion_since(&before);
            let (mx, my) = motion.unwrap_or_else(|| panic!("no answer for ({dx}, {dy})"));
            assert!(
                (mx - dx as f32).abs() <= 4.0 && (my - dy as f32).abs() <= 4.0,
                "({dx}, {dy}) measured as ({mx}, {my})"
            );
        }
    }

    #[test]
    fn gives_no_answer_for_flat_or_unrelated_pictures_or_motion_beyond_reach() {
        let (w, h) = (640, 360);
        let flat = Pyramid::of_luma(&vec![90u8; w * h], w, h);
        assert_eq!(flat.motion_since(&flat), None, "a flat picture matches at every shift");
        let world = scene(2400, 900);
        let a = Pyramid::of_luma(&view(&world, 2400, 0, 0, w, h), w, h);
        let b = Pyramid::of_luma(&view(&world, 2400, 1500, 400, w, h), w, h);
        assert_eq!(b.motion_since(&a), None, "two different places of the scene");
        let far = Pyramid::of_luma(&view(&world, 2400, 300, 0, w, h), w, h);
        assert_eq!(far.motion_since(&a), None, "300 px in one frame is beyond the search");
        let other_size = Pyramid::of_luma(&view(&world, 2400, 0, 0, 320, 240), 320, 240);
        assert_eq!(other_size.motion_since(&a), None);
    }

    #[test]
    fn a_roll_of_the_head_gives_no_answer() {
        // 2° in one frame: 25 px at the corners of 720p, nothing at the centre.
        let world = scene(1600, 1200);
        let (w, h) = (1280, 720);
        let level = rolled_view(&world, 1600, (800.0, 600.0), (w, h), 0.0);
        let rolled = rolled_view(&world, 1600, (800.0, 600.0), (w, h), 2f32.to_radians());
        let before = Pyramid::of_luma(&level, w, h);
        assert_eq!(Pyramid::of_luma(&rolled, w, h).motion_since(&before), None);
        assert_eq!(Pyramid::of_luma(&level, w, h).motion_since(&before), Some((0.0, 0.0)));
    }

    #[test]
    fn a_large_moving_foreground_gives_no_answer() {
        // The left half (the worker's arm) moves 40 px right; the scene behind stands still.
        let world = scene(1800, 900);
        let (w, h) = (1280, 720);
        let arm = |x: usize| view(&world, 1800, x, 100, w, h);
        let with_arm = |x: usize| {
            let (mut picture, arm) = (view(&world, 1800, 300, 0, w, h), arm(x));
            for row in 0..h {
                picture[row * w..][..w / 2].copy_from_slice(&arm[row * w..][..w / 2]);
            }
            picture
        };
        let before = Pyramid::of_luma(&with_arm(440), w, h);
        assert_eq!(Pyramid::of_luma(&with_arm(400), w, h).motion_since(&before), None);
    }

    #[test]
    fn frames_too_small_to_match_give_no_answer() {
        for (w, h) in [(2, 2), (6, 4), (40, 30)] {
            let a = Pyramid::of_luma(&vec![128u8; w * h], w, h);
            assert_eq!(a.motion_since(&a), None, "{w}x{h}");
        }
    }

    #[test]
    fn repetitive_texture_gives_no_answer() {
        // Stripes every 16 px: a shift by one period matches as well.
        let (w, h) = (640, 360);
        let stripes: Vec<u8> = (0..w * h).map(|i| if (i % w) % 16 < 8 { 40 } else { 200 }).collect();
        let moved: Vec<u8> = (0..w * h).map(|i| if (i % w + 4) % 16 < 8 { 40 } else { 200 }).collect();
        let a = Pyramid::of_luma(&stripes, w, h);
        assert_eq!(Pyramid::of_luma(&moved, w, h).motion_since(&a), None);
    }
}
