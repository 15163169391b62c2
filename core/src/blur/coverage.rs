//! Where the faces are on the frames between two detections, from the
//! tracks at both ends and the camera's measured motion: the regions the
//! blur stage obscures on the frames it held back.

use super::detector::FaceBox;
use super::stage::BlurConfig;
use super::tracker::Track;

/// Boxes for a frame `step` frames after the previous detection, with the
/// next detection `span` frames after it, for the faces tracked since the
/// previous detection, each with its track id (the newly found ones:
/// [`reached_back`]);
/// `motions[i]` is the picture's motion on frame `i + 1` of the interval.
pub(super) fn in_between(
    before: &[Track],
    coasted: &[Track],
    after: &[Track],
    (step, span): (usize, usize),
    motions: &[Option<(f32, f32)>],
    config: &BlurConfig,
) -> Vec<(u64, FaceBox)> {
    let mut boxes = Vec::new();
    let path = CameraPath::between_detections(motions, step);
    for track in coasted {
        let seen_again = seen_at(after, track.id);
        let start = seen_at(before, track.id);
        match (seen_again, start) {
            // Seen at both detections: between the two places, with room
            // for straying from the straight line. Where the camera's motion
            // is known on every frame, the line is drawn in the scene and
            // carried along the camera's path (a glance away and back moves
            // the face far off the line between its two places in the
            // picture); else it is drawn in the picture.
            (Some(end), Some(start)) => {
                let t = step as f32 / span as f32;
                let place = match &path {
                    Some(path) => {
                        let in_scene = lerp(&start.region, &moved(&end.region, path.by_end, -1.0), t);
                        moved(&in_scene, path.by_now, 1.0)
                    }
                    None => lerp(&start.region, &end.region, t),
                };
                boxes.push((track.id, grown(&place, stray(config, span, &start.region, &end.region, path.is_some()))));
            }
            // Not seen again: where its motion takes it. Coasting at the
            // previous detection and matched now: the match may be another
            // face that came in, so cover both readings (the match's by
            // `reached_back`). Either way with room for straying from its
            // coasted course on every frame since it was last seen.
            (None, _) | (Some(_), None) => boxes.push((track.id, coasting_region(track, config))),
        }
    }
    boxes
}

/// Faces found at the next detection for the first time, or matched to a
/// track that was only coasting: each may have been anywhere within reach
/// of where it was found on the frames before. Its track id and that
/// region on the frame `step` frames after the previous detection.
pub(super) fn reached_back(
    before: &[Track],
    after: &[Track],
    step: usize,
    motions: &[Option<(f32, f32)>],
    config: &BlurConfig,
) -> Vec<(u64, FaceBox)> {
    let newly_found = |t: &&Track| t.frames_since_seen == 0 && seen_at(before, t.id).is_none();
    after.iter().filter(newly_found).map(|t| (t.id, reach_back(&t.region, &motions[step..], config))).collect()
}

/// How far the camera's motion moved the picture between the previous
/// detection and a frame `step` frames later, when measured on every frame.
struct CameraPath {
    /// By this frame, and by the next detection frame.
    by_now: (f32, f32),
    by_end: (f32, f32),
}

/// The motion measurement's error per frame: its finest level has 4-px
/// cells, and a motion counts as measured when every textured tile agrees
/// within one cell, so a part of the picture (a small roll) may move up to
/// 4 px a frame more than the whole. A face carried along the path is
/// placed at `start + by_now + t·(end − by_end − start)`, so an error on
/// frame `i` counts `(1 − t)` times up to this frame and `t` times after
/// it: at most `MEASURED_ERROR_PX · span / 2` in all, which [`stray`] adds.
const MEASURED_ERROR_PX: f32 = 4.0;

impl CameraPath {
    fn between_detections(motions: &[Option<(f32, f32)>], step: usize) -> Option<Self> {
        let sum = |motions: &[Option<(f32, f32)>]| {
            motions.iter().try_fold((0.0, 0.0), |(x, y), m| m.map(|(dx, dy)| (x + dx, y + dy)))
        };
        Some(Self { by_now: sum(&motions[..step])?, by_end: sum(motions)? })
    }
}

/// `b` moved by `sign` × `by`.
pub(super) fn moved(b: &FaceBox, by: (f32, f32), sign: f32) -> FaceBox {
    FaceBox { x: b.x + sign * by.0, y: b.y + sign * by.1, ..*b }
}

/// Where a face found at `region` may have been the given frames earlier:
/// moved back along the camera's measured path, and grown by the face's
/// own reach on each frame — or by the fastest head turn's on a frame
/// whose motion is unknown.
fn reach_back(region: &FaceBox, motions: &[Option<(f32, f32)>], config: &BlurConfig) -> FaceBox {
    reach_back_from(region, region.width.max(region.height), motions, config)
}

/// [`reach_back`] from a region that may be larger than the face (a face
/// known only to lie somewhere in it), for a face of side `face_side`: its
/// own reach per frame follows from its size, not the region's.
pub(super) fn reach_back_from(
    region: &FaceBox,
    face_side: f32,
    motions: &[Option<(f32, f32)>],
    config: &BlurConfig,
) -> FaceBox {
    let own = config.face_motion_share_per_frame * face_side + config.face_motion_px_per_frame;
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

/// Room for a face followed across two detections (at `start` and `end`)
/// to stray from the straight line between them: the most it can stray
/// midway, used on every frame of the interval and on the detection frame
/// too, so within an interval the region of a face that stands still does
/// not change size (no flicker). With the camera's path measured on every
/// frame: the face's own straying (a share of its size, at most the
/// wearer's jiggle) and the measurement's error; else the wearer's jiggle
/// alone, as the line is then drawn in the picture. So the region grows
/// for an interval in which the measurement drops out, and shrinks back
/// after it.
pub(super) fn stray(config: &BlurConfig, span: usize, start: &FaceBox, end: &FaceBox, path_measured: bool) -> f32 {
    let midway = (span / 2) as f32;
    if !path_measured {
        return config.max_deviation_px_per_frame * midway;
    }
    own_stray(config, start, end) * midway + MEASURED_ERROR_PX * span as f32 / 2.0
}

/// How much farther from the straight line a face followed across two
/// detections may be on one frame than on the next: the rate [`stray`]
/// allows, with the measurement's error counted on every frame. Also the
/// rate a coasting track's room grows by ([`coasting_region`]).
pub(super) fn stray_per_frame(config: &BlurConfig, start: &FaceBox, end: &FaceBox, path_measured: bool) -> f32 {
    if !path_measured {
        return config.max_deviation_px_per_frame;
    }
    own_stray(config, start, end) + MEASURED_ERROR_PX
}

/// A face's own straying per frame: a share of its size, at most the
/// wearer's jiggle.
fn own_stray(config: &BlurConfig, start: &FaceBox, end: &FaceBox) -> f32 {
    let size = start.width.max(start.height).max(end.width).max(end.height);
    (config.face_deviation_share_per_frame * size).min(config.max_deviation_px_per_frame)
}

/// A coasting track's region (a face the detector no longer finds): its
/// region grown by [`coasting_room`], holding its course's for a refreshed
/// track ([`with_course`]).
pub(super) fn coasting_region(track: &Track, config: &BlurConfig) -> FaceBox {
    with_course(track, grown(&track.region, coasting_room(track, config)), config)
}

/// `region`, a refreshed track's, holding also where it would be coasting
/// from its last detection ([`Track::course`]): a follow may have drifted,
/// so its region is never less than it would have been without the refresh.
pub(super) fn with_course(track: &Track, region: FaceBox, config: &BlurConfig) -> FaceBox {
    course_region(track, config).map_or(region, |course| region.union(&course))
}

/// Where a lost face `id` (one of `tracks`, on one frame) is searched for
/// by its picture, with `region` its coasting region: for a track refreshed
/// since its last detection, only its course's region ([`course_region`]),
/// as it would have been searched for without the refresh. A match outside
/// it would narrow a frame the course covered, and a follow may have
/// drifted.
pub(super) fn search_bound(tracks: &[Track], id: u64, region: FaceBox, config: &BlurConfig) -> FaceBox {
    let track = tracks.iter().find(|t| t.id == id);
    track.and_then(|t| course_region(t, config)).unwrap_or(region)
}

/// A refreshed track's region had it coasted on from its last detection,
/// while such a track would be kept ([`Track::course`]): where its face is
/// searched for by its picture, as it was before the refresh.
pub(super) fn course_region(track: &Track, config: &BlurConfig) -> Option<FaceBox> {
    let course = track.course?;
    let frames = track.frames_since_detected();
    let unmeasured = track.unmeasured_since_seen + track.followed_unmeasured;
    Some(grown(&course.region, room_over(&course.region, frames, unmeasured, config)))
}

/// How far a coasting track's face may be from its coasted region: the
/// room to stray per frame of a face followed across two detections, on
/// every frame since it was last seen (the wearer's jiggle on the frames
/// whose camera motion was not measured). Its course is a guess from the
/// detections before, and a face turns, stops or speeds up; a region that
/// kept its size covered such faces only in part (most of the evaluation
/// clips' partial leaks before 2026-12-04: README, "Face blurring figures").
///
/// Not covered: a head turn on frames whose motion was not measured (the
/// track is not carried with the picture there, and its room grows by the
/// jiggle, not by the fastest turn's reach, which would blur most of the
/// frame on every such frame); and a velocity learnt across detections
/// whose interval was not measured, which holds the camera's motion too.
pub(super) fn coasting_room(track: &Track, config: &BlurConfig) -> f32 {
    debug_assert!(track.unmeasured_since_seen <= track.frames_since_seen);
    room_over(&track.region, track.frames_since_seen, track.unmeasured_since_seen, config)
}

/// The room to stray of a face of `region`'s size over `frames` frames,
/// `unmeasured` of them (at most all) without the camera's motion measured.
fn room_over(region: &FaceBox, frames: u32, unmeasured: u32, config: &BlurConfig) -> f32 {
    let rate = |measured| stray_per_frame(config, region, region, measured);
    let unmeasured = unmeasured.min(frames);
    rate(true) * (frames - unmeasured) as f32 + rate(false) * unmeasured as f32
}

/// [`coasting_room`] on a detection frame `span` frames after the previous
/// one, for a track seen there at `start` or not: never less than the room
/// to stray of a face seen at both detections (with the interval's motion
/// measured in part, the jiggle over half of it can be the more).
pub(super) fn coasting_room_on_detection_frame(
    track: &Track,
    start: Option<&Track>,
    span: usize,
    path_measured: bool,
    config: &BlurConfig,
) -> f32 {
    let room = coasting_room(track, config);
    start.map_or(room, |start| room.max(stray(config, span, &start.region, &track.region, path_measured)))
}

/// The track `id` if the detector found it on that detection frame.
pub(super) fn seen_at(tracks: &[Track], id: u64) -> Option<&Track> {
    // Not a track refreshed there (`FaceTracker::refresh`): its picture was
    // followed there, but the detector did not find it, so a detection
    // matched to it next may be another face come in beside where the
    // picture led; it keeps its coasting region and its reach back.
    tracks.iter().find(|t| t.id == id && t.frames_since_seen == 0 && t.followed_frames == 0)
}

/// The middle of `inner` lies in `outer`.
pub(super) fn holds_middle(outer: &FaceBox, inner: &FaceBox) -> bool {
    let (x, y) = inner.centre();
    outer.x <= x && x <= outer.x + outer.width && outer.y <= y && y <= outer.y + outer.height
}

/// `b` grown by `by` pixels on every side.
pub(super) fn grown(b: &FaceBox, by: f32) -> FaceBox {
    FaceBox { x: b.x - by, y: b.y - by, width: b.width + 2.0 * by, height: b.height + 2.0 * by, score: b.score }
}

/// A box of `size` (width, height) with `b`'s centre.
pub(super) fn centred(b: &FaceBox, size: (f32, f32)) -> FaceBox {
    FaceBox::around(b.centre(), size, b.score)
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

#[cfg(test)]
mod tests {
    use super::super::tracker::Course;
    use super::*;

    const REGION: FaceBox = FaceBox { x: 100.0, y: 100.0, width: 50.0, height: 50.0, score: 0.9 };

    /// A 50-px face's track, last seen `frames` ago, `unmeasured` of them
    /// without the camera's motion.
    fn track(frames: u32, unmeasured: u32) -> Track {
        Track {
            id: 1,
            region: REGION,
            velocity: (0.0, 0.0),
            carried: (0.0, 0.0),
            frames_since_seen: frames,
            unmeasured_since_seen: unmeasured,
            followed_frames: 0,
            followed_unmeasured: 0,
            course: None,
            detections: 2,
        }
    }

    #[test]
    fn a_coasting_region_grows_by_the_room_to_stray_of_each_frame_since_it_was_seen() {
        let config = BlurConfig::default();
        // Measured: a tenth of its size and the measurement's 4 px; not
        // measured: the wearer's jiggle, 12 px.
        let own = config.face_deviation_share_per_frame * 50.0;
        let room = 3.0 * (own + MEASURED_ERROR_PX) + config.max_deviation_px_per_frame;
        assert_eq!(coasting_region(&track(4, 1), &config), grown(&REGION, room));
        assert_eq!(coasting_region(&track(0, 0), &config), REGION);
    }

    #[test]
    fn on_a_detection_frame_a_track_lost_since_the_previous_one_keeps_at_least_its_room_to_stray() {
        // Lost for the whole interval of 8 frames, one of them not measured,
        // and no straying of its own: 7 × 4 + 12 px coasting, against the
        // jiggle over half the interval, 4 × 12 px.
        let (start, lost) = (track(0, 0), track(8, 1));
        let config = BlurConfig { face_deviation_share_per_frame: 0.0, ..BlurConfig::default() };
        assert_eq!(coasting_room(&lost, &config), 40.0);
        assert_eq!(coasting_room_on_detection_frame(&lost, Some(&start), 8, false, &config), 48.0);
        assert_eq!(coasting_room_on_detection_frame(&lost, None, 8, false, &config), 40.0);
    }

    #[test]
    fn a_refreshed_tracks_region_holds_where_it_would_be_coasting_from_its_detection() {
        // Detected, then followed for 8 frames (2 not measured) and refreshed
        // 100 px to the right of its course, then coasting 3 frames (1 not
        // measured).
        let config = BlurConfig { face_deviation_share_per_frame: 0.0, ..BlurConfig::default() };
        let course = Course { region: REGION, velocity: (0.0, 0.0) };
        let refreshed = Track {
            region: FaceBox { x: REGION.x + 100.0, ..REGION },
            followed_frames: 8,
            followed_unmeasured: 2,
            course: Some(course),
            ..track(3, 1)
        };
        // Its own room counts from the refresh (2 × 4 + 12 px); its course's
        // from the detection, all 11 frames (8 × 4 + 3 × 12 px).
        let own = grown(&refreshed.region, 2.0 * 4.0 + 12.0);
        let from_the_detection = grown(&REGION, 8.0 * 4.0 + 3.0 * 12.0);
        let region = coasting_region(&refreshed, &config);
        assert_eq!(region, own.union(&from_the_detection));
        // From the course's left edge to its own right edge.
        assert_eq!((region.x, region.width), (REGION.x - 68.0, 68.0 + 100.0 + 50.0 + 20.0));
        // Without a course: its own region only.
        assert_eq!(coasting_region(&Track { course: None, ..refreshed.clone() }, &config), own);
        // Its picture is searched for only where its course is: a match
        // beside it would narrow a frame the course covers.
        let tracks = [refreshed.clone(), Track { id: 2, course: None, ..refreshed }];
        let everywhere = FaceBox { x: 0.0, y: 0.0, width: 1280.0, height: 720.0, score: 1.0 };
        assert_eq!(search_bound(&tracks, 1, everywhere, &config), from_the_detection);
        assert_eq!(search_bound(&tracks, 2, everywhere, &config), everywhere);
        assert_eq!(search_bound(&tracks, 3, everywhere, &config), everywhere);
    }
}
