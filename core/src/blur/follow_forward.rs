//! Following the faces the detector lost forward, frame by frame, by their
//! picture on the detection frame they were last seen on (`trace.rs`).
//!
//! A track the detector no longer finds coasts (`coverage.rs`): its course
//! is a guess, so its region grows on every frame by its room to stray, and
//! over the frames a track is kept (`TrackerConfig::keep_alive_frames`,
//! 15) that region grows to several times the face. Most faces the detector loses for a while are still
//! there — smaller, softer or turned a little — and still look as they did.
//! So each lost face is searched for on each frame along its course (its
//! track's velocity, then the motion it was found with), within one
//! frame's room to stray of where it was on the frame before, and inside
//! its coasting region; while it is found, it is blurred where it was found
//! with that room around it, instead of across the coasting region. From
//! its first miss on it keeps its coasting region for as long as its track
//! lives: the search would have to grow as the region does, and a wrong
//! match must not narrow a frame after a face was lost sight of. A face
//! followed on every frame up to the next detection frame is seen there:
//! its track is kept and coasts on from where it was found
//! (`FaceTracker::refresh`), so a face the detector no longer finds stays
//! blurred for as long as its picture is followed, not only for the frames
//! a track is kept. While a track coasting from its last detection would
//! still be kept, a follow may have drifted, so the rest stays as without
//! the refresh (`Track::course`): the face is searched for only inside that
//! track's region, its region after a miss also holds that track's, and a
//! detection no track matched that matches that track's region is taken by
//! it.
//!
//! As in `trace_back.rs`, a match on another face's place is refused, and
//! only a match narrows the blur, never past the coasting region.
//!
//! The stage also uses the pictures to join tracks: a face followed onto a
//! detection no track was matched to is that face, come too far from its
//! track's course for the tracker to match it (`stage_lost.rs`) — unless the
//! match's middle lies in two such detections, or another lost face ended on
//! the same one ([`joins`]).

use super::coverage::{grown, holds_middle, moved, stray_per_frame};
use super::detector::FaceBox;
use super::stage::BlurConfig;
use super::trace::FaceLook;
use super::trace_back::{no_smaller_than, on_another_place, HeldFrames, Traced};
use super::tracker::Track;

/// A face's picture and where it was on the newest detection frame: found
/// there by the detector, or followed there by its picture since.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Sighting {
    pub id: u64,
    look: FaceLook,
    /// Its track's region on the frame its picture was taken from: the
    /// least it is blurred at where found.
    region: FaceBox,
    /// Where it was on the newest detection frame (cut by its bound there,
    /// if it was followed there), and the middle of where its picture was.
    at: FaceBox,
    centre: (f32, f32),
    /// Its size there as a share of its picture's.
    scale: f32,
    /// Its motion per frame relative to the scene, luma pixels: its track's
    /// velocity when it was seen (none for a face seen once), then the
    /// motion it was found with.
    velocity: (f32, f32),
}

impl Sighting {
    /// The picture of `track`'s face on a detection frame where the
    /// detector found it (its box: `detected`); `None` when too small or
    /// flat to be found again.
    pub fn take(luma: &[u8], size: (usize, usize), track: &Track, detected: &FaceBox) -> Option<Self> {
        let look = FaceLook::take_of(luma, size, &track.region, detected)?;
        let (id, region, velocity) = (track.id, track.region, track.velocity);
        Some(Self { id, look, region, at: region, centre: region.centre(), scale: 1.0, velocity })
    }

    /// Its track's region where its picture was found on the newest
    /// detection frame: the region it was taken with, at the size the
    /// picture was found at, centred where it was found, with the match's
    /// margin (its place is known to the sampling grid's step). Not `at`,
    /// which is cut by the bound it was searched within: a refresh places
    /// the track on the whole face found.
    pub fn found_region(&self) -> FaceBox {
        let size = (self.region.width * self.scale, self.region.height * self.scale);
        let region = FaceBox::around(self.centre, size, self.region.score);
        grown(&region, self.look.margin_at(self.scale))
    }
}

/// Samples compared in the searches of one call of [`follow_forward`]
/// (about 5–10 ms on a desktop core; the stage makes at most two after a
/// detection, one to join tracks); past it, the coasting regions.
const BUDGET_SAMPLES: usize = 10_000_000;

/// Follows each face of `sightings` (where it was on the previous detection
/// frame, from a picture taken there or on an earlier one)
/// that is lost on the first of `frames` forward through them (the held
/// frames and the detection frame, oldest first; `frames.motions[i]` is the
/// picture's motion onto frame `i`). `lost[i]` holds the lost faces' bounds
/// on frame `i` (their coasting regions, or a refreshed track's course's:
/// `coverage::search_bound`): a face is followed while it has one.
/// `places[i]` holds every face's region on frame `i`, where a match for
/// another face is refused. Returns, per frame, the faces found there,
/// and the sightings of the faces found on every frame, the last included
/// (to follow on after the next detection).
pub(super) fn follow_forward(
    frames: &HeldFrames,
    sightings: &[Sighting],
    lost: &[Vec<(u64, FaceBox)>],
    places: &[Vec<(u64, FaceBox)>],
    config: &BlurConfig,
) -> (Vec<Vec<Traced>>, Vec<Sighting>) {
    let mut found: Vec<Vec<Traced>> = vec![Vec::new(); lost.len()];
    let mut carried = Vec::new();
    let mut budget = BUDGET_SAMPLES;
    for sighting in sightings {
        let id = sighting.id;
        let (mut known, mut scale, mut velocity) = (sighting.at, sighting.scale, sighting.velocity);
        let mut centre = sighting.centre;
        let mut to_the_end = !lost.is_empty();
        for (index, lost) in lost.iter().enumerate() {
            let bound = lost.iter().find(|(lost_id, _)| *lost_id == id).map(|&(_, b)| b);
            let (Some(luma), Some(bound)) = (frames.lumas.get(index), bound) else {
                to_the_end = false;
                break;
            };
            let motion = frames.motions.get(index).copied().flatten();
            let camera = motion.unwrap_or_default();
            // Along its course, straying from it as a face followed across
            // two detections may: its coasting region grows as fast, so a
            // wider search would only find it outside that region.
            let stray = stray_per_frame(config, &sighting.region, &sighting.region, motion.is_some());
            let ahead = (camera.0 + velocity.0, camera.1 + velocity.1);
            let could_be = grown(&moved(&known, ahead, 1.0), stray).intersection(&bound);
            // Another face's place: where it was found on this frame (the
            // faces followed before this one), else its region.
            let place = |&(other, region): &(u64, FaceBox)| {
                found[index].iter().find(|t| t.id == other).map_or(region, |t| t.region)
            };
            let places = places.get(index).map(Vec::as_slice).unwrap_or_default();
            let others = places.iter().filter(|(other, _)| *other != id);
            let on_another = |b: &FaceBox| on_another_place(b, others.clone().map(place));
            let Some((region, at)) = sighting
                .look
                .find_scaled(luma, frames.size, &could_be, scale, &mut budget)
                .filter(|(b, _)| !on_another(b))
            else {
                to_the_end = false;
                break;
            };
            scale = at;
            let ((from_x, from_y), (to_x, to_y)) = (centre, region.centre());
            (velocity, centre) = ((to_x - from_x - camera.0, to_y - from_y - camera.1), (to_x, to_y));
            let margin = sighting.look.margin_at(at);
            // Blurred never smaller than where it was last seen.
            known = no_smaller_than(&region, &sighting.region, margin, &could_be);
            found[index].push(Traced { id, region: grown(&known, stray).intersection(&bound), found: true, margin });
        }
        if to_the_end {
            carried.push(Sighting { at: known, centre, scale, velocity, ..sighting.clone() });
        }
    }
    (found, carried)
}

/// The (lost, new) pairs of one face: a lost face followed onto the
/// detection frame (`found` there), the middle of its region there inside
/// exactly one new face's detection (`new`), on which no other lost face
/// ended. Any doubt leaves the tracks apart, which is safe: each keeps its
/// own region.
pub(super) fn joins(found: &[Traced], new: &[(u64, FaceBox)]) -> Vec<(u64, u64)> {
    let onto = |t: &Traced| {
        let mut on = new.iter().filter(|(_, detected)| holds_middle(detected, &t.region));
        match (on.next(), on.next()) {
            (Some(&(id, _)), None) => Some((t.id, id)),
            _ => None,
        }
    };
    // Alone: counted over every lost face that ended there, also those
    // that ended on two new faces at once.
    let alone = |detected: &FaceBox| found.iter().filter(|t| holds_middle(detected, &t.region)).count() == 1;
    let alone_on = |&(_, id): &(u64, u64)| new.iter().any(|(new, detected)| *new == id && alone(detected));
    found.iter().filter_map(onto).filter(alone_on).collect()
}

#[cfg(test)]
mod tests {
    use super::super::trace::tests::{b, face_patch, scene, with_face, H, W};
    use super::*;

    /// The face (30 px) at `(60, 40)` on the detection frame, then at
    /// `places[i]` on frame `i` of the next interval (`None`: its picture
    /// gone), its bound the whole frame on `bounded` frames. Where it was
    /// found on each frame, and whether it was carried on.
    fn follow(places: &[Option<(usize, usize)>], bounded: usize, others: &[FaceBox]) -> (Vec<Option<FaceBox>>, bool) {
        let (background, face) = (scene(7), face_patch());
        let seen = with_face(background.clone(), &face, 60, 40);
        let region = b(60.0, 40.0, 30.0, 30.0);
        let track = Track {
            id: 1,
            region,
            velocity: (0.0, 0.0),
            carried: (0.0, 0.0),
            frames_since_seen: 0,
            unmeasured_since_seen: 0,
            detections: 2,
            followed_frames: 0,
            followed_unmeasured: 0,
            course: None,
        };
        let sighting = Sighting::take(&seen, (W, H), &track, &region).unwrap();
        let frames: Vec<Vec<u8>> = places
            .iter()
            .map(|at| at.map_or(background.clone(), |(x, y)| with_face(background.clone(), &face, x, y)))
            .collect();
        let held = HeldFrames {
            lumas: frames.iter().map(Vec::as_slice).collect(),
            size: (W, H),
            motions: &vec![Some((0.0, 0.0)); places.len()],
        };
        let everywhere = b(0.0, 0.0, W as f32, H as f32);
        let lost: Vec<Vec<(u64, FaceBox)>> =
            (0..places.len()).map(|i| if i < bounded { vec![(1, everywhere)] } else { Vec::new() }).collect();
        let mut places: Vec<Vec<(u64, FaceBox)>> = lost.clone();
        for frame in &mut places {
            frame.extend(others.iter().map(|&o| (2, o)));
        }
        let (found, carried) = follow_forward(&held, &[sighting], &lost, &places, &BlurConfig::default());
        let found = found.iter().map(|frame| frame.iter().find(|t| t.id == 1).map(|t| t.region)).collect();
        (found, carried.iter().any(|s| s.id == 1))
    }

    fn holds(region: &FaceBox, (x, y): (usize, usize)) -> bool {
        let (x, y) = (x as f32, y as f32);
        region.x <= x && region.y <= y && region.x + region.width >= x + 30.0 && region.y + region.height >= y + 30.0
    }

    #[test]
    fn a_lost_face_is_found_where_it_walked_on_every_frame_and_followed_on() {
        let walk: Vec<Option<(usize, usize)>> = (1..=4).map(|i| Some((60 + 5 * i, 40 + 2 * i))).collect();
        let (found, carried) = follow(&walk, 4, &[]);
        for (frame, (region, at)) in found.iter().zip(&walk).enumerate() {
            let (region, at) = (region.unwrap_or_else(|| panic!("frame {frame}: not found")), at.unwrap());
            assert!(holds(&region, at), "frame {frame}: {region:?} misses the face at {at:?}");
            // The face with the match's margin and a frame's room to stray
            // (3 + 4 px) on each side, in a bound of the whole frame.
            assert!(region.width <= 52.0, "frame {frame}: {region:?} is not narrow");
        }
        assert!(carried);
    }

    #[test]
    fn from_its_first_miss_on_a_lost_face_is_no_longer_followed() {
        // Its picture is gone on frame 1 (turned away), back on frame 2.
        let (found, carried) = follow(&[Some((62, 40)), None, Some((64, 40))], 3, &[]);
        assert_eq!(found.iter().map(Option::is_some).collect::<Vec<_>>(), [true, false, false]);
        assert!(!carried);
    }

    #[test]
    fn a_face_no_longer_lost_on_the_last_frame_is_not_carried_on() {
        // Found by the detector on the detection frame (no bound there): it
        // is seen there anyway, and its picture is taken anew.
        let (found, carried) = follow(&[Some((60, 40)), Some((60, 40))], 1, &[]);
        assert_eq!(found.iter().map(Option::is_some).collect::<Vec<_>>(), [true, false]);
        assert!(!carried);
    }

    #[test]
    fn a_match_on_another_faces_place_is_refused() {
        let (found, carried) = follow(&[Some((60, 40))], 1, &[b(55.0, 35.0, 40.0, 40.0)]);
        assert_eq!(found, [None]);
        assert!(!carried);
        // Beside it, not on it: found.
        let (found, _) = follow(&[Some((60, 40))], 1, &[b(100.0, 35.0, 40.0, 40.0)]);
        assert!(found[0].is_some());
    }

    fn found(id: u64, x: f32) -> Traced {
        Traced { id, region: b(x, 40.0, 30.0, 30.0), found: true, margin: 3.0 }
    }

    #[test]
    fn a_lost_face_is_joined_only_to_the_one_new_face_it_ended_on_alone() {
        let new = [(7, b(58.0, 38.0, 34.0, 34.0)), (8, b(150.0, 38.0, 34.0, 34.0))];
        assert_eq!(joins(&[found(1, 60.0)], &new), [(1, 7)]);
        // Its middle on no new face, or on two.
        assert_eq!(joins(&[found(1, 100.0)], &new), []);
        let overlapping = [(7, b(58.0, 38.0, 34.0, 34.0)), (8, b(62.0, 40.0, 34.0, 34.0))];
        assert_eq!(joins(&[found(1, 60.0)], &overlapping), []);
        // Two lost faces on one new face: neither, also when the other one
        // ended on two new faces at once.
        assert_eq!(joins(&[found(1, 60.0), found(2, 62.0), found(3, 152.0)], &new), [(3, 8)]);
        assert_eq!(joins(&[found(1, 45.0), found(2, 60.0)], &overlapping), []);
    }
}
