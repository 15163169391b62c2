//! Following faces back through the frames held before a detection, one
//! frame at a time, by their picture on the detection frame (`trace.rs`).
//!
//! A face is searched for on each held frame only where it could have come
//! from on the frame after — one frame's reach (a newly found face) or one
//! frame's room to stray along its line (a face seen at both detections)
//! from where it was there — and inside its bound on that frame (the region
//! the motion rules give it without tracing). The searches stay small, so
//! every face can be followed on every frame within the budget. Each is
//! made at the face's size on the frame after, and a zoom step smaller and
//! larger: a face walked towards or away from changes size as it goes.
//!
//! A match on another face's place is refused (it may be that face): its
//! place is where that face was found on the frame, else its bound. A
//! found region is never smaller than the face's region on the detection
//! frame (plus the match's margin).
//!
//! Only a match narrows the blur. A newly found face is blurred where it
//! was found on the frames where it was found, and within its whole bound
//! elsewhere; a face seen at both detections is blurred where it was found
//! only when found on every held frame ([`tightly_followed`]).

use super::coverage::{centred, grown, moved, reach_back_from, seen_at};
use super::detector::FaceBox;
use super::stage::BlurConfig;
use super::trace::FaceLook;
use super::tracker::Track;

/// Where a followed face was on one held frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Traced {
    pub id: u64,
    /// Where it was found, or else its bound.
    pub region: FaceBox,
    /// Found by its picture (else `region` is its bound).
    pub found: bool,
    /// The room the match leaves around the face (its sampling grid's).
    pub margin: f32,
}

/// Samples compared in all the searches after one detection: about 10–20 ms
/// on a desktop core; past it, the bounds.
const BUDGET_SAMPLES: usize = 20_000_000;
/// After this many frames in a row without a match a newly found face is no
/// longer searched for (where it could be keeps growing by its reach, and
/// so would the search). A face seen at both detections stops at its first
/// miss: it can no longer be followed tightly.
const MAX_MISSES: usize = 2;
/// A match this close to a followed face's line (pixels each way) is taken
/// as on it.
const SNAP_PX: f32 = 1.0;
/// A match with more than this share of its area on another followed
/// face's region may be that face: not taken. A share of the match's own
/// area, not IoU, as the other region may be far larger than a face.
const OTHER_FACE_SHARE: f32 = 0.3;

/// The held frames' luma planes (oldest first, the detection frame last), of
/// `size`, and how far the picture moved onto each (`motions[i]`, frame `i`).
pub(super) struct HeldFrames<'a> {
    pub lumas: Vec<&'a [u8]>,
    pub size: (usize, usize),
    pub motions: &'a [Option<(f32, f32)>],
}

/// A face to follow back from the detection frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct ToFollow {
    pub id: u64,
    /// Its region on the detection frame (its track's).
    pub region: FaceBox,
    /// The detector's box for it there, whose middle is its picture.
    pub detected: FaceBox,
    /// How it may have moved from one frame to the one before: `None` for a
    /// newly found face, anywhere within its reach; for a face seen at both
    /// detections, along the line its bounds follow, straying from it by at
    /// most this many pixels a frame.
    pub stray_per_frame: Option<f32>,
}

/// Follows each of `faces` back through the held frames, in the order
/// given (when the budget runs out, the later ones are not traced), each
/// from the newest frame to the oldest. `bounds[i]` holds, for frame `i`,
/// the region each face must lie in; `tracked[i]` the regions of the faces
/// followed on that frame, whose places a match may not take. Per held
/// frame, the faces traced there.
pub(super) fn trace_back(
    frames: &HeldFrames,
    faces: &[ToFollow],
    bounds: &[Vec<(u64, FaceBox)>],
    tracked: &[Vec<(u64, FaceBox)>],
    config: &BlurConfig,
) -> Vec<Vec<Traced>> {
    let mut traced: Vec<Vec<Traced>> = vec![Vec::new(); bounds.len()];
    let Some(newest) = frames.lumas.last() else { return traced };
    let mut budget = BUDGET_SAMPLES;
    for face in faces {
        let Some(look) = FaceLook::take_of(newest, frames.size, &face.region, &face.detected) else { continue };
        let side = face.region.width.max(face.region.height);
        // Where it is known to be on the frame after the one searched, and
        // its bound there.
        let (mut known, mut bound_after) = (face.region, face.region);
        let mut misses = 0;
        // Its size on the frame after, as a share of its picture's.
        let mut scale = 1.0;
        for (index, bounds) in bounds.iter().enumerate().rev() {
            let Some(held) = frames.lumas.get(index) else { break };
            let Some(&(_, bound)) = bounds.iter().find(|(id, _)| *id == face.id) else { break };
            let could_be = match face.stray_per_frame {
                None => {
                    let onto_next = frames.motions.get(index + 1..index + 2).unwrap_or_default();
                    reach_back_from(&known, side, onto_next, config)
                }
                Some(stray) => {
                    // Along its line: as far as its bound moved.
                    let ((from_x, from_y), (to_x, to_y)) = (bound_after.centre(), bound.centre());
                    grown(&moved(&known, (to_x - from_x, to_y - from_y), 1.0), stray)
                }
            }
            .intersection(&bound);
            // Another face's place: where it was found on this frame (the
            // faces seen at both detections are traced first), else its bound.
            let others = tracked[index].iter().filter(|(other, _)| *other != face.id);
            let place = |&(other, bound): &(u64, FaceBox)| {
                traced[index].iter().find(|t| t.id == other && t.found).map_or(bound, |t| t.region)
            };
            let on_another = |b: &FaceBox| on_another_place(b, others.clone().map(place));
            let max_misses = if face.stray_per_frame.is_some() { 1 } else { MAX_MISSES };
            let found = if misses < max_misses {
                look.find_scaled(held, frames.size, &could_be, scale, &mut budget).filter(|(b, _)| !on_another(b))
            } else {
                None
            };
            misses = if found.is_some() { 0 } else { misses + 1 };
            let margin = look.margin_at(found.map_or(scale, |(_, at)| at));
            // Blurred never smaller than on the detection frame.
            let found = found.map(|(region, at)| {
                scale = at;
                no_smaller_than(&region, &face.region, margin, &could_be)
            });
            // The next search starts from here; the answer for this frame is
            // the match, or the whole bound (a wrong match earlier on must
            // not narrow a frame where nothing was found).
            (known, bound_after) = (found.unwrap_or(could_be), bound);
            let region = found.unwrap_or(bound);
            traced[index].push(Traced { id: face.id, region, found: found.is_some(), margin });
        }
    }
    traced
}

/// A match's region (`found`) for a face whose region was `face` where its
/// picture was taken: never smaller than that region with the match's
/// `margin` around it (the size a match is found at may drift a step a frame
/// on a smooth face), centred where found, inside `within`.
pub(super) fn no_smaller_than(found: &FaceBox, face: &FaceBox, margin: f32, within: &FaceBox) -> FaceBox {
    let least = (face.width + 2.0 * margin, face.height + 2.0 * margin);
    centred(found, (found.width.max(least.0), found.height.max(least.1))).intersection(within)
}

/// Whether a match at `b` may be another face: more than
/// [`OTHER_FACE_SHARE`] of it lies on one of the other faces' `places`.
pub(super) fn on_another_place(b: &FaceBox, mut places: impl Iterator<Item = FaceBox>) -> bool {
    places.any(|place| share_on(b, &place) > OTHER_FACE_SHARE)
}

/// The share of `b`'s area that lies on `other`.
fn share_on(b: &FaceBox, other: &FaceBox) -> f32 {
    b.intersection(other).area() / b.area().max(1.0)
}

/// A face seen at both detections and found by its picture on every frame
/// held between them: on each of those frames (and on the detection frame)
/// it is blurred where it was found, at the larger of its two sizes, with
/// the match's margin, instead of wherever its room to stray allows. Only
/// when found on every frame, so within an interval the region of a face
/// keeps one size (no flicker).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct TightlyFollowed {
    pub id: u64,
    /// The larger of its widths and heights at the two detections.
    pub size: (f32, f32),
    pub margin: f32,
}

/// The faces of `followed` (seen at both detections, `before` and `after`)
/// that `traced` found on every held frame; none when no frame was held.
pub(super) fn tightly_followed(
    before: &[Track],
    after: &[Track],
    followed: &[u64],
    traced: &[Vec<Traced>],
) -> Vec<TightlyFollowed> {
    if traced.is_empty() {
        return Vec::new();
    }
    let found_on_every_frame = |id: u64| {
        traced.iter().try_fold(0.0_f32, |margin, frame| {
            frame.iter().find(|t| t.id == id && t.found).map(|t| margin.max(t.margin))
        })
    };
    followed
        .iter()
        .filter_map(|&id| {
            let (start, end) = (seen_at(before, id)?, seen_at(after, id)?);
            let margin = found_on_every_frame(id)?;
            let size = (start.region.width.max(end.region.width), start.region.height.max(end.region.height));
            Some(TightlyFollowed { id, size, margin })
        })
        .collect()
}

impl TightlyFollowed {
    /// Its region on a held frame: its size and margin where it was found
    /// there (`traced`: that frame's), kept inside its `bound`.
    pub(super) fn on_held_frame(&self, traced: &[Traced], bound: FaceBox) -> FaceBox {
        match traced.iter().find(|t| t.id == self.id) {
            Some(found) => self.at(&found.region, &bound),
            None => bound,
        }
    }

    /// Its region on the detection frame, where it was detected (`region`),
    /// kept inside its room to stray there: built as on the held frames, so
    /// a face that stands still keeps exactly one region.
    pub(super) fn on_detection_frame(&self, region: &FaceBox, room: f32) -> FaceBox {
        self.at(&grown(region, self.margin), &grown(region, room))
    }

    /// Its size with its margin, centred on `found` (the face's region
    /// moved to where its picture matched, with the margin), inside `bound`.
    /// A match within a pixel of the line (`bound`'s centre) is taken as on
    /// it, so noise moving the match by a pixel does not move the region of
    /// a face that stands still (the margin has room for that pixel).
    fn at(&self, found: &FaceBox, bound: &FaceBox) -> FaceBox {
        let width = found.width.max(self.size.0 + 2.0 * self.margin);
        let height = found.height.max(self.size.1 + 2.0 * self.margin);
        let (on, line) = (found.centre(), bound.centre());
        let near_line = (on.0 - line.0).abs() <= SNAP_PX && (on.1 - line.1).abs() <= SNAP_PX;
        let around = if near_line { bound } else { found };
        centred(around, (width, height)).intersection(bound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: usize = 200;
    const H: usize = 120;

    /// Smooth noise: textured everywhere, never repeating.
    fn noise(seed: u32) -> Vec<u8> {
        let mut state = seed;
        let coarse: Vec<u8> = (0..(W / 4 + 1) * (H / 4 + 1))
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state >> 24) as u8
            })
            .collect();
        (0..W * H).map(|i| coarse[(i / W / 4) * (W / 4 + 1) + (i % W) / 4]).collect()
    }

    /// A still scene with two faces' pictures (each its own noise) pasted
    /// at `a` and `b`, 30 px square.
    fn scene(a: (usize, usize), b: (usize, usize)) -> Vec<u8> {
        let mut scene = noise(7);
        for ((x, y), seed) in [(a, 11), (b, 12)] {
            let face = noise(seed);
            for row in 0..30 {
                scene[(y + row) * W + x..][..30].copy_from_slice(&face[row * W..][..30]);
            }
        }
        scene
    }

    fn square(x: f32, y: f32, side: f32) -> FaceBox {
        FaceBox { x, y, width: side, height: side, score: 0.9 }
    }

    /// Face `b` (id 1, newly found, its bound 20 px around it) traced back
    /// over two held frames of a still scene in which face `a` (id 0) has
    /// the room `a_room` on each held frame; `a_traced` also follows `a`
    /// (seen at both detections) first. Whether `b` was found on each.
    fn b_found(a: FaceBox, b: FaceBox, a_room: FaceBox, a_traced: bool) -> Vec<bool> {
        let luma = scene((a.x as usize, a.y as usize), (b.x as usize, b.y as usize));
        let frames = HeldFrames { lumas: vec![&luma; 3], size: (W, H), motions: &[Some((0.0, 0.0)); 3] };
        let new = ToFollow { id: 1, region: b, detected: b, stray_per_frame: None };
        let followed = ToFollow { id: 0, region: a, detected: a, stray_per_frame: Some(2.0) };
        let faces = if a_traced { vec![followed, new] } else { vec![new] };
        let bounds = vec![vec![(1, grown(&b, 20.0)), (0, a_room)]; 2];
        let tracked = vec![vec![(0, a_room)]; 2];
        let traced = trace_back(&frames, &faces, &bounds, &tracked, &BlurConfig::default());
        traced.iter().map(|frame| frame.iter().any(|t| t.id == 1 && t.found)).collect()
    }

    #[test]
    fn a_face_found_on_the_place_where_another_was_found_is_refused() {
        // b's box lies on a's on the detection frame (a second box on one
        // face, or a face half hidden behind a, whose picture is then
        // mostly a's): found on a's place, it may be following a's picture
        // while its own face is elsewhere, so it keeps its bound.
        let (a, b) = (square(60.0, 40.0, 70.0), square(80.0, 55.0, 30.0));
        assert_eq!(b_found(a, b, grown(&a, 10.0), true), [false, false]);
        // Apart from a's place, it is found.
        let b = square(150.0, 55.0, 30.0);
        assert_eq!(b_found(a, b, grown(&a, 10.0), true), [true, true]);
    }

    #[test]
    fn another_face_found_where_it_was_leaves_the_rest_of_its_room_free() {
        // Face a is found where it was; its room to stray (centred on it,
        // as it stood still) also covers most of face b, 20 px away, which
        // was apart from it on the detection frame.
        let (a, b) = (square(20.0, 40.0, 30.0), square(70.0, 45.0, 30.0));
        let room = grown(&a, 60.0);
        assert_eq!(b_found(a, b, room, true), [true, true]);
        // Not followed by its picture, a may be anywhere in its room: a
        // match there may be a, and is refused.
        assert_eq!(b_found(a, b, room, false), [false, false]);
    }
}
