//! Where the faces are on the frames between two detections, from the
//! tracks at both ends and the camera's measured motion: the regions the
//! blur stage obscures on the frames it held back.

use super::detector::FaceBox;
use super::stage::BlurConfig;
use super::tracker::Track;

/// Boxes for a frame `step` frames after the previous detection, with the
/// next detection `span` frames after it; `motions[i]` is the picture's
/// motion on frame `i + 1` of the interval.
pub(super) fn in_between(
    before: &[Track],
    coasted: &[Track],
    after: &[Track],
    (step, span): (usize, usize),
    motions: &[Option<(f32, f32)>],
    config: &BlurConfig,
) -> Vec<FaceBox> {
    let mut boxes = Vec::new();
    let path = CameraPath::between_detections(motions, step, config);
    for track in coasted {
        let seen_again = seen_at(after, track.id);
        let start = seen_at(before, track.id);
        match (seen_again, start) {
            // Seen at both detections: between the two places, with room
            // for straying from the straight line. The line is drawn in the
            // scene and carried along the camera's path (a glance away and
            // back moves the face far off the line between its two places
            // in the picture), with room for the path's uncertainty.
            (Some(end), Some(start)) => {
                let t = step as f32 / span as f32;
                let in_scene = lerp(&start.region, &moved(&end.region, path.by_end, -1.0), t);
                boxes.push(grown(&moved(&in_scene, path.by_now, 1.0), stray(config, span) + path.uncertainty));
            }
            // Not seen again: where its motion takes it.
            (None, _) => boxes.push(track.region),
            // Coasting at the previous detection and matched now: the match
            // may be another face that came in, so cover both readings.
            (Some(_), None) => boxes.push(track.region),
        }
    }
    // Found at the next detection for the first time, or matched to a track
    // that was only coasting: it may have been anywhere within reach of
    // there on the frames before.
    let uncertain = |t: &&Track| t.frames_since_seen == 0 && seen_at(before, t.id).is_none();
    for track in after.iter().filter(uncertain) {
        boxes.push(reach_back(&track.region, &motions[step..], config));
    }
    boxes
}

/// How far the camera's motion moved the picture between the previous
/// detection and a frame `step` of `span` frames later, as measured, and by
/// how much that can be wrong.
struct CameraPath {
    /// By this frame, and by the next detection frame.
    by_now: (f32, f32),
    by_end: (f32, f32),
    /// The most a face carried along this path can be off for the path's
    /// sake: the place on this frame is `start + by_now + t·(end − by_end −
    /// start)`, so an error `e_i` on frame `i` counts `(1 − t)·e_i` up to
    /// this frame and `t·e_i` after it. An unmeasured frame counts as
    /// nothing moved, off by at most the fastest head turn's reach. (A
    /// measured frame's error is in [`stray`], the same on every frame.)
    uncertainty: f32,
}

/// The motion measurement's error per frame (its finest level has 4-px
/// cells). Summed as above over an interval of `span` frames it is at most
/// `MEASURED_ERROR_PX · span / 2`.
const MEASURED_ERROR_PX: f32 = 2.0;

impl CameraPath {
    fn between_detections(motions: &[Option<(f32, f32)>], step: usize, config: &BlurConfig) -> Self {
        let t = step as f32 / motions.len() as f32;
        let (mut by_now, mut by_end, mut uncertainty) = ((0.0, 0.0), (0.0, 0.0), 0.0);
        for (index, motion) in motions.iter().enumerate() {
            let (shift, error) = match motion {
                Some(m) => (*m, 0.0),
                None => ((0.0, 0.0), config.max_motion_px_per_frame),
            };
            by_end = (by_end.0 + shift.0, by_end.1 + shift.1);
            if index < step {
                by_now = (by_now.0 + shift.0, by_now.1 + shift.1);
                uncertainty += (1.0 - t) * error;
            } else {
                uncertainty += t * error;
            }
        }
        Self { by_now, by_end, uncertainty }
    }
}

/// `b` moved by `sign` × `by`.
fn moved(b: &FaceBox, by: (f32, f32), sign: f32) -> FaceBox {
    FaceBox { x: b.x + sign * by.0, y: b.y + sign * by.1, ..*b }
}

/// Where a face found at `region` may have been the given frames earlier:
/// moved back along the camera's measured path, and grown by the face's
/// own reach on each frame — or by the fastest head turn's on a frame
/// whose motion is unknown.
fn reach_back(region: &FaceBox, motions: &[Option<(f32, f32)>], config: &BlurConfig) -> FaceBox {
    let own = config.face_motion_share_per_frame * region.width.max(region.height) + config.face_motion_px_per_frame;
    let own = own.min(config.max_motion_px_per_frame);
    let (mut dx, mut dy, mut reach) = (0.0, 0.0, 0.0);
    for motion in motions {
        match motion {
            Some((x, y)) => {
                (dx, dy) = (dx + x, dy + y);
                reach += own;
            }
            None => reach += config.max_motion_px_per_frame,
        }
    }
    grown(&moved(region, (dx, dy), -1.0), reach)
}

/// Room for a face followed across two detections to stray from the
/// straight line between them: the most it can stray midway, used on every
/// frame of the interval and on the detection frame too, so the region of a
/// face that stands still does not change size (no flicker).
pub(super) fn stray(config: &BlurConfig, span: usize) -> f32 {
    config.max_deviation_px_per_frame * (span / 2) as f32 + MEASURED_ERROR_PX * span as f32 / 2.0
}

/// The track `id` if the detector found it on that detection frame.
pub(super) fn seen_at(tracks: &[Track], id: u64) -> Option<&Track> {
    tracks.iter().find(|t| t.id == id && t.frames_since_seen == 0)
}

/// `b` grown by `by` pixels on every side.
pub(super) fn grown(b: &FaceBox, by: f32) -> FaceBox {
    FaceBox { x: b.x - by, y: b.y - by, width: b.width + 2.0 * by, height: b.height + 2.0 * by, score: b.score }
}

fn lerp(a: &FaceBox, b: &FaceBox, t: f32) -> FaceBox {
    let mix = |p: f32, q: f32| p + (q - p) * t;
    // The larger size of the two, so an approaching face is not under-covered.
    FaceBox {
        x: mix(a.x + a.width / 2.0, b.x + b.width / 2.0) - a.width.max(b.width) / 2.0,
        y: mix(a.y + a.height / 2.0, b.y + b.height / 2.0) - a.height.max(b.height) / 2.0,
        width: a.width.max(b.width),
        height: a.height.max(b.height),
        score: a.score.min(b.score),
    }
}
