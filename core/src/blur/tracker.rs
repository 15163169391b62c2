//! Follows faces from frame to frame, so a face stays covered on the frames
//! where the detector missed it or did not run: detections are matched to
//! tracks by IoU against each track's prediction (carried by the camera's
//! measured motion, when known, plus its own constant velocity in the
//! scene); an unmatched track coasts for `keep_alive_frames` (from where
//! its face's picture was last followed to, if it was: `refresh`); a box
//! never shrinks by more than `max_shrink_per_frame`, so the blurred region
//! does not flicker when a detection comes back smaller.

use super::detector::FaceBox;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerConfig {
    /// Smallest IoU between a prediction and a detection that continues the track.
    pub match_iou: f32,
    /// Frames a track is kept (and blurred) after it was last seen: found
    /// by the detector, or followed by its picture on every frame since
    /// ([`FaceTracker::refresh`]).
    pub keep_alive_frames: u32,
    /// Largest share a box's width or height may lose in one frame.
    pub max_shrink_per_frame: f32,
    /// Weight of the newest motion in the velocity estimate (0..=1).
    pub velocity_smoothing: f32,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self { match_iou: 0.2, keep_alive_frames: 15, max_shrink_per_frame: 0.1, velocity_smoothing: 0.6 }
    }
}

/// One face being followed.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    pub id: u64,
    /// Where the face is (or is predicted to be) on the current frame.
    pub region: FaceBox,
    /// Centre motion per frame relative to the scene (the picture's motion
    /// taken out where it was measured), luma pixels.
    pub velocity: (f32, f32),
    /// How far the camera's motion carried the track since it was last seen.
    pub carried: (f32, f32),
    /// 0 on a frame where the detector found it, or its picture was
    /// followed to ([`FaceTracker::refresh`]).
    pub frames_since_seen: u32,
    /// Of those frames, the ones whose camera motion was not measured (the
    /// track was not carried with the picture there).
    pub unmeasured_since_seen: u32,
    /// How many detections the track has followed.
    pub detections: u32,
    /// Frames from the detection that last found it to the frame its
    /// picture was last followed to (0 unless refreshed since).
    pub followed_frames: u32,
    /// Of those, the ones whose camera motion was not measured.
    pub followed_unmeasured: u32,
    /// For a refreshed track, where it would be had it coasted on from its
    /// last detection, while such a track would still be kept. A follow may
    /// have drifted, so its region holds that one's too
    /// (`coverage::coasting_region`), its picture is searched for only
    /// there, a detection matched to it that the course would not have
    /// matched leaves the course coasting as a track of its own, and a
    /// detection no track matched that the course matches (best first) is
    /// taken by the course, as a track of its own, which ends this one's
    /// course (`FaceTracker::observe`).
    pub course: Option<Course>,
}

/// A track's course from its last detection: its region and velocity then,
/// moved on every frame as a coasting track is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Course {
    pub region: FaceBox,
    pub velocity: (f32, f32),
}

/// Whose course a course is, in [`FaceTracker::observe`].
#[derive(Debug, Clone, Copy, PartialEq)]
enum CourseOf {
    /// A refreshed track's, not found on this frame: still its course.
    Refreshed(u64),
    /// Left by a refreshed track that followed a detection off it
    /// ([`off_course`]): a track of its own from now on.
    Left,
}

impl Track {
    /// Frames since the detector last found it, refreshed or not.
    pub fn frames_since_detected(&self) -> u32 {
        self.frames_since_seen + self.followed_frames
    }
}

#[derive(Debug, Default)]
pub struct FaceTracker {
    config: TrackerConfig,
    tracks: Vec<Track>,
    next_id: u64,
}

impl FaceTracker {
    pub fn new(config: TrackerConfig) -> Self {
        Self { config, tracks: Vec::new(), next_id: 0 }
    }

    /// Advances one frame on which the detector ran and found `detections`;
    /// `camera` is how far the picture moved since the frame before, when
    /// measured.
    pub fn observe(&mut self, detections: &[FaceBox], camera: Option<(f32, f32)>) -> &[Track] {
        self.advance(camera);
        let regions: Vec<FaceBox> = self.tracks.iter().map(|t| t.region).collect();
        let mut unmatched: Vec<bool> = vec![true; detections.len()];
        let mut left_courses = Vec::new();
        for (track_index, detection_index) in greedy_matches(&regions, detections, &unmatched, self.config.match_iou) {
            unmatched[detection_index] = false;
            let config = self.config;
            let track = &mut self.tracks[track_index];
            left_courses.extend(off_course(track, &detections[detection_index], &config));
            follow(track, &detections[detection_index], &config);
        }
        self.take_on_courses(detections, &mut unmatched, left_courses);
        for (detection, _) in detections.iter().zip(&unmatched).filter(|(_, &new)| new) {
            self.add_tracks([Track {
                id: 0,
                region: with_slack(detection),
                velocity: (0.0, 0.0),
                carried: (0.0, 0.0),
                frames_since_seen: 0,
                unmeasured_since_seen: 0,
                detections: 1,
                followed_frames: 0,
                followed_unmeasured: 0,
                course: None,
            }]);
        }
        &self.tracks
    }

    /// Gives the detections no track matched (`unmatched`) to the courses
    /// that match them, best IoU first, as the tracks coasting from their
    /// last detections would have been matched without a refresh (a
    /// picture may have drifted off the face now found): the courses of
    /// refreshed tracks not found here, and `left` ones, of tracks that
    /// followed a detection off their course ([`off_course`]). A course
    /// that takes a detection follows it as a track of its own; a refreshed
    /// track whose course was taken coasts on without it. A left course
    /// that takes none coasts on as a track.
    fn take_on_courses(&mut self, detections: &[FaceBox], unmatched: &mut [bool], left: Vec<Track>) {
        // A track matched here has no course left ([`follow`] ends it).
        let refreshed = self.tracks.iter().filter_map(|t| Some((CourseOf::Refreshed(t.id), course_track(t)?)));
        let mut courses: Vec<(CourseOf, Track)> = refreshed.collect();
        courses.extend(left.into_iter().map(|course| (CourseOf::Left, course)));
        let regions: Vec<FaceBox> = courses.iter().map(|(_, c)| c.region).collect();
        let mut taken = vec![false; courses.len()];
        for (course_index, detection_index) in greedy_matches(&regions, detections, unmatched, self.config.match_iou) {
            unmatched[detection_index] = false;
            taken[course_index] = true;
            let (of, course) = &mut courses[course_index];
            if let CourseOf::Refreshed(id) = *of {
                if let Some(track) = self.tracks.iter_mut().find(|t| t.id == id) {
                    track.course = None;
                }
            }
            follow(course, &detections[detection_index], &self.config);
        }
        let mut kept = Vec::new();
        for ((of, course), taken) in courses.into_iter().zip(taken) {
            if taken || of == CourseOf::Left {
                kept.push(course);
            }
        }
        self.add_tracks(kept);
    }

    /// Advances one frame on which the detector did not run: every track
    /// moves with the picture (when its motion was measured) and its own
    /// velocity.
    pub fn coast(&mut self, camera: Option<(f32, f32)>) -> &[Track] {
        self.advance(camera);
        &self.tracks
    }

    /// Joins the track `new`, opened on this frame for `detection`, to the
    /// coasting track `lost`, found to be one face by its picture: the
    /// detection came too far from the lost track's course to be matched (a
    /// face found only now and then drifts further than its size between
    /// detections). `lost` follows the detection and `new` is dropped. False,
    /// and nothing changed, unless `new` was opened on this frame and `lost`
    /// is coasting.
    pub fn join(&mut self, lost: u64, new: u64, detection: &FaceBox) -> bool {
        let opened_now = |t: &Track| t.id == new && t.detections == 1 && t.frames_since_seen == 0;
        let Some(new_index) = self.tracks.iter().position(opened_now) else { return false };
        let Some(lost_index) = self.tracks.iter().position(|t| t.id == lost && t.frames_since_seen > 0) else {
            return false;
        };
        follow(&mut self.tracks[lost_index], detection, &self.config);
        self.tracks.remove(new_index);
        true
    }

    /// Adds `tracks` under new ids.
    fn add_tracks(&mut self, tracks: impl IntoIterator<Item = Track>) {
        for track in tracks {
            self.tracks.push(Track { id: self.next_id, ..track });
            self.next_id += 1;
        }
    }

    /// Marks the coasting track `lost` as seen on this frame where its
    /// face's picture was followed to, on every frame since the detector
    /// lost it (`follow_forward.rs`): it is kept while it is followed, not
    /// only for `keep_alive_frames`, and coasts on from there, never
    /// smaller; its course from its last detection is kept beside
    /// ([`Track::course`]). `region`: its region there, sized as a track's
    /// (the face plus slack; the match's margin may add to it). Its
    /// velocity is measured as for a detection; its detection count is not
    /// raised. False, and nothing changed, unless `lost` is coasting.
    pub fn refresh(&mut self, lost: u64, region: &FaceBox) -> bool {
        let Some(track) = self.tracks.iter_mut().find(|t| t.id == lost && t.frames_since_seen > 0) else {
            return false;
        };
        let first_motion = never_moved(track);
        // Its first refresh since the detection: its course from there.
        if track.followed_frames == 0 {
            track.course = Some(Course { region: track.region, velocity: track.velocity });
        }
        track.followed_frames += track.frames_since_seen;
        track.followed_unmeasured += track.unmeasured_since_seen;
        let at_least = centred_on(region, (track.region.width, track.region.height));
        place(track, &without_slack(&at_least), first_motion, &self.config);
        true
    }

    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// Moves every track with the picture (where its motion was measured)
    /// and by its velocity, and drops the ones unseen for too long.
    fn advance(&mut self, motion: Option<(f32, f32)>) {
        let keep = self.config.keep_alive_frames;
        let camera = motion.unwrap_or((0.0, 0.0));
        self.tracks.retain_mut(|track| {
            track.unmeasured_since_seen += u32::from(motion.is_none());
            track.region.x += track.velocity.0 + camera.0;
            track.region.y += track.velocity.1 + camera.1;
            track.carried = (track.carried.0 + camera.0, track.carried.1 + camera.1);
            track.frames_since_seen += 1;
            if let Some(course) = &mut track.course {
                course.region.x += course.velocity.0 + camera.0;
                course.region.y += course.velocity.1 + camera.1;
            }
            if track.frames_since_detected() > keep {
                track.course = None;
            }
            track.frames_since_seen <= keep
        });
    }
}

/// (region, detection) pairs of IoU at least `match_iou`, best first, each
/// region and each detection (of the ones `open`) used once.
fn greedy_matches(regions: &[FaceBox], detections: &[FaceBox], open: &[bool], match_iou: f32) -> Vec<(usize, usize)> {
    debug_assert_eq!(open.len(), detections.len());
    let mut candidates: Vec<(f32, usize, usize)> = Vec::new();
    for (r, region) in regions.iter().enumerate() {
        for (d, detection) in detections.iter().enumerate().filter(|(d, _)| open[*d]) {
            let iou = region.iou(detection);
            if iou >= match_iou {
                candidates.push((iou, r, d));
            }
        }
    }
    candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut used_regions, mut used_detections) = (vec![false; regions.len()], vec![false; detections.len()]);
    let mut matches = Vec::new();
    for (_, r, d) in candidates {
        if !used_regions[r] && !used_detections[d] {
            used_regions[r] = true;
            used_detections[d] = true;
            matches.push((r, d));
        }
    }
    matches
}

/// Moves `track` onto `detection`, updating its velocity and limiting shrink.
/// A face that barely moved and still lies inside the track's region keeps
/// that region: detector jitter does not redraw the blur (no flicker). The
/// region is the detection plus a little slack, so jitter stays inside it.
fn follow(track: &mut Track, detection: &FaceBox, config: &TrackerConfig) {
    let first_motion = never_moved(track);
    track.detections += 1;
    (track.followed_frames, track.followed_unmeasured, track.course) = (0, 0, None);
    place(track, detection, first_motion, config);
}

/// For a refreshed track about to follow `detection` that its course from
/// its last detection would not have matched (the follow may have drifted
/// onto another face, and its own may still be on that course), a track
/// coasting on that course ([`course_track`]). (A join is by the picture
/// searched for on the course, as without the refresh: `stage_lost.rs`.)
fn off_course(track: &Track, detection: &FaceBox, config: &TrackerConfig) -> Option<Track> {
    course_track(track).filter(|on_course| on_course.region.iou(detection) < config.match_iou)
}

/// A refreshed track's course from its last detection as a track: where,
/// how fast and how long it would be coasting without the refresh (kept
/// as long); `None` unless refreshed, or once its course ended.
fn course_track(track: &Track) -> Option<Track> {
    let course = track.course?;
    Some(Track {
        region: course.region,
        velocity: course.velocity,
        carried: (0.0, 0.0),
        frames_since_seen: track.frames_since_detected(),
        unmeasured_since_seen: track.unmeasured_since_seen + track.followed_unmeasured,
        followed_frames: 0,
        followed_unmeasured: 0,
        course: None,
        ..track.clone()
    })
}

/// No motion of `track` was measured yet: detected once, never refreshed.
fn never_moved(track: &Track) -> bool {
    track.detections == 1 && track.followed_frames == 0
}

/// Moves `track` onto where its face was seen (`at`), as [`follow`]
/// describes; `first_motion`: no motion of it was measured before, so this
/// one is its whole velocity.
fn place(track: &mut Track, at: &FaceBox, first_motion: bool, config: &TrackerConfig) {
    // The track was advanced by its velocity and the camera already: undo
    // that to find where it was last seen, and measure its own motion in the
    // scene since then, per frame.
    let frames = track.frames_since_seen.max(1) as f32;
    let (vx, vy) = track.velocity;
    let (cx, cy) = std::mem::take(&mut track.carried);
    let (x, y) = track.region.centre();
    let previous = (x - vx * frames - cx, y - vy * frames - cy);
    let now = at.centre();
    let measured = ((now.0 - previous.0 - cx) / frames, (now.1 - previous.1 - cy) / frames);
    track.frames_since_seen = 0;
    track.unmeasured_since_seen = 0;
    let still = measured.0.hypot(measured.1) < STILL_SHARE_PER_FRAME * at.width.max(at.height);
    if still && holds(&track.region, at) {
        track.velocity = (0.0, 0.0);
        return;
    }
    // The first motion measured is the whole estimate; later ones are blended.
    let a = if first_motion { 1.0 } else { config.velocity_smoothing.clamp(0.0, 1.0) };
    track.velocity = (a * measured.0 + (1.0 - a) * vx, a * measured.1 + (1.0 - a) * vy);
    // Frames since it was last seen, each of which it may shrink by as much.
    let keep = (1.0 - config.max_shrink_per_frame.clamp(0.0, 1.0)).powf(frames);
    let width = (at.width * (1.0 + 2.0 * SLACK)).max(track.region.width * keep);
    let height = (at.height * (1.0 + 2.0 * SLACK)).max(track.region.height * keep);
    track.region = FaceBox::around(now, (width, height), at.score);
}

fn with_slack(b: &FaceBox) -> FaceBox {
    let (dx, dy) = (b.width * SLACK, b.height * SLACK);
    FaceBox { x: b.x - dx, y: b.y - dy, width: b.width + 2.0 * dx, height: b.height + 2.0 * dy, score: b.score }
}

/// `region`, grown to at least `least` (width, height) about its centre.
fn centred_on(region: &FaceBox, least: (f32, f32)) -> FaceBox {
    let size = (region.width.max(least.0), region.height.max(least.1));
    FaceBox::around(region.centre(), size, region.score)
}

fn without_slack(region: &FaceBox) -> FaceBox {
    let size = (region.width / (1.0 + 2.0 * SLACK), region.height / (1.0 + 2.0 * SLACK));
    FaceBox::around(region.centre(), size, region.score)
}

/// Motion per frame, as a share of the face's size, below which a face counts as standing still.
const STILL_SHARE_PER_FRAME: f32 = 0.05;
/// Slack around a detection in a track's region, per side, as a share of its size.
const SLACK: f32 = 0.08;

/// `region` contains `detection` and is at most a third larger each way.
fn holds(region: &FaceBox, detection: &FaceBox) -> bool {
    let inside = detection.x >= region.x
        && detection.y >= region.y
        && detection.x + detection.width <= region.x + region.width
        && detection.y + detection.height <= region.y + region.height;
    inside && region.width <= detection.width * 1.33 && region.height <= detection.height * 1.33
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, y: f32, size: f32) -> FaceBox {
        FaceBox { x, y, width: size, height: size, score: 0.9 }
    }

    /// The picture did not move (measured).
    const STILL: Option<(f32, f32)> = Some((0.0, 0.0));

    #[test]
    fn a_track_moves_with_the_measured_camera_motion_and_keeps_its_own_velocity() {
        let mut tracker = FaceTracker::new(TrackerConfig::default());
        // A face walking 5 px a frame to the right while the camera pans: the
        // picture moves 30 px a frame to the left. Detected on every 4th frame.
        let truth = |frame: u32| face(600.0 + (5.0 - 30.0) * frame as f32, 200.0, 40.0);
        tracker.observe(&[truth(0)], STILL);
        for frame in 1..=12u32 {
            let tracks = if frame % 4 == 0 {
                tracker.observe(&[truth(frame)], Some((-30.0, 0.0)))
            } else {
                tracker.coast(Some((-30.0, 0.0)))
            };
            assert_eq!(tracks.len(), 1, "frame {frame}: {tracks:?}");
            assert_eq!(tracks[0].id, 0, "frame {frame}: the face must keep its track");
            if frame >= 4 {
                assert!((tracks[0].velocity.0 - 5.0).abs() < 1e-3, "frame {frame}: {:?}", tracks[0].velocity);
                assert!(tracks[0].region.iou(&truth(frame)) > 0.6, "frame {frame}: {:?}", tracks[0].region);
            }
        }
    }

    #[test]
    fn a_moving_face_keeps_one_track_and_its_prediction_covers_missed_frames() {
        let mut tracker = FaceTracker::new(TrackerConfig::default());
        // 12 px per frame to the right; the detector runs on every third frame only.
        for frame in 0..30u32 {
            let truth = face(100.0 + 12.0 * frame as f32, 200.0, 60.0);
            let tracks = if frame % 3 == 0 { tracker.observe(&[truth], STILL) } else { tracker.coast(STILL) };
            assert_eq!(tracks.len(), 1, "frame {frame}: {tracks:?}");
            assert_eq!(tracks[0].id, 0);
            if frame >= 3 {
                // The region carries 8 % slack per side: 0.74 is a perfect prediction.
                let iou = tracks[0].region.iou(&truth);
                assert!(iou > 0.65, "frame {frame}: prediction IoU {iou} ({:?} vs {truth:?})", tracks[0].region);
            }
        }
    }

    #[test]
    fn a_lost_face_is_kept_for_keep_alive_frames_then_dropped() {
        let config = TrackerConfig { keep_alive_frames: 5, ..TrackerConfig::default() };
        let mut tracker = FaceTracker::new(config);
        tracker.observe(&[face(10.0, 10.0, 40.0)], STILL);
        for frame in 1..=5 {
            assert_eq!(tracker.observe(&[], STILL).len(), 1, "dropped early, after {frame} frames");
        }
        assert!(tracker.observe(&[], STILL).is_empty());
    }

    #[test]
    fn boxes_shrink_slowly_so_the_blur_does_not_flicker() {
        let mut tracker = FaceTracker::new(TrackerConfig::default());
        tracker.observe(&[face(100.0, 100.0, 100.0)], STILL);
        let tracks = tracker.observe(&[face(120.0, 120.0, 60.0)], STILL);
        // 116 px with slack, less 10 %.
        assert!((tracks[0].region.width - 104.4).abs() < 1e-3, "{:?}", tracks[0].region);
        // Centred on the new detection.
        assert!((tracks[0].region.x + tracks[0].region.width / 2.0 - 150.0).abs() < 1e-3);
    }

    #[test]
    fn a_face_walked_away_from_keeps_its_track_when_detected_every_eighth_frame() {
        // 3 % smaller every frame (a zoom out), its centre still: the region
        // may shrink by its limit on every frame since the last detection,
        // not once a detection, or it soon no longer matches the face.
        let mut tracker = FaceTracker::new(TrackerConfig::default());
        let truth = |frame: u32| {
            let side = 240.0 * 0.97_f32.powi(frame as i32);
            face(640.0 - side / 2.0, 360.0 - side / 2.0, side)
        };
        for frame in 0..=48u32 {
            let tracks = if frame % 8 == 0 { tracker.observe(&[truth(frame)], STILL) } else { tracker.coast(STILL) };
            assert_eq!(tracks.len(), 1, "frame {frame}: {tracks:?}");
            assert_eq!(tracks[0].id, 0, "frame {frame}: the face must keep its track");
        }
        let (region, face) = (tracker.tracks()[0].region, truth(48));
        assert!(region.width < face.width * 1.2, "{region:?} around {face:?}");
    }

    #[test]
    fn two_faces_keep_their_own_tracks_and_a_new_one_gets_a_new_id() {
        let mut tracker = FaceTracker::new(TrackerConfig::default());
        tracker.observe(&[face(0.0, 0.0, 50.0), face(300.0, 0.0, 50.0)], STILL);
        let tracks = tracker.observe(&[face(305.0, 0.0, 50.0), face(5.0, 0.0, 50.0), face(600.0, 300.0, 40.0)], STILL);
        let by_id = |id: u64| tracks.iter().find(|t| t.id == id).map(|t| t.region.x + t.region.width / 2.0);
        assert_eq!(tracks.len(), 3);
        // Centres.
        assert!((by_id(0).unwrap() - 30.0).abs() < 1e-3);
        assert!((by_id(1).unwrap() - 330.0).abs() < 1e-3);
        assert!((by_id(2).unwrap() - 620.0).abs() < 1e-3);
    }

    #[test]
    fn a_coasting_track_counts_the_frames_its_motion_was_not_measured_until_seen_again() {
        let mut tracker = FaceTracker::new(TrackerConfig::default());
        tracker.observe(&[face(10.0, 10.0, 40.0)], STILL);
        tracker.coast(None);
        tracker.coast(STILL);
        let track = &tracker.coast(None)[0];
        assert_eq!((track.frames_since_seen, track.unmeasured_since_seen), (3, 2));
        let track = &tracker.observe(&[face(10.0, 10.0, 40.0)], None)[0];
        assert_eq!((track.frames_since_seen, track.unmeasured_since_seen), (0, 0));
    }

    #[test]
    fn a_track_opened_beside_a_lost_one_is_joined_to_it_only_when_new_and_lost() {
        let mut tracker = FaceTracker::new(TrackerConfig::default());
        tracker.observe(&[face(10.0, 10.0, 40.0), face(300.0, 10.0, 40.0)], STILL);
        tracker.coast(STILL);
        // Track 0 lost, 1 seen; 2 opened 60 px on from track 0.
        let detection = face(70.0, 10.0, 40.0);
        tracker.observe(&[face(300.0, 10.0, 40.0), detection], STILL);
        assert!(!tracker.join(1, 2, &detection), "track 1 is not lost");
        assert!(!tracker.join(0, 1, &detection), "track 1 was not opened on this frame");
        assert!(tracker.join(0, 2, &detection));
        let ids: Vec<u64> = tracker.tracks().iter().map(|t| t.id).collect();
        assert_eq!(ids, [0, 1]);
        let joined = &tracker.tracks()[0];
        assert_eq!((joined.frames_since_seen, joined.detections), (0, 2));
        assert_eq!(joined.region.centre(), detection.centre());
        // 60 px over the two frames since it was seen.
        assert!((joined.velocity.0 - 30.0).abs() < 1e-3, "{:?}", joined.velocity);
    }

    #[test]
    fn a_lost_track_refreshed_where_its_picture_was_followed_is_kept_and_coasts_on_from_there() {
        let config = TrackerConfig { keep_alive_frames: 5, ..TrackerConfig::default() };
        let mut tracker = FaceTracker::new(config);
        tracker.observe(&[face(10.0, 10.0, 40.0), face(300.0, 10.0, 40.0)], STILL);
        for _ in 0..3 {
            tracker.coast(STILL);
        }
        // Track 1 seen again; track 0 lost, its picture followed 24 px on.
        tracker.observe(&[face(300.0, 10.0, 40.0)], STILL);
        let followed = with_slack(&face(34.0, 10.0, 40.0));
        assert!(!tracker.refresh(1, &followed), "track 1 is not lost");
        assert!(!tracker.refresh(7, &followed), "no track 7");
        let coasted = tracker.tracks()[0].region;
        assert!(tracker.refresh(0, &followed));
        let track = tracker.tracks()[0].clone();
        // Its course from the detection kept beside, while a track coasting
        // from there would be kept (one more frame).
        assert_eq!(track.course, Some(Course { region: coasted, velocity: (0.0, 0.0) }));
        assert_eq!((track.frames_since_seen, track.detections), (0, 1), "seen, but not detected");
        // Its coasting room still counts the four frames since it was detected.
        assert_eq!((track.followed_frames, track.followed_unmeasured), (4, 0));
        // Its region where followed, no larger: slack is not added twice.
        assert!(track.region.iou(&followed) > 0.99, "{:?} vs {followed:?}", track.region);
        // 24 px over the four frames since it was seen.
        assert!((track.velocity.0 - 6.0).abs() < 1e-3, "{:?}", track.velocity);
        // Kept for keep_alive_frames from here, coasting on its velocity.
        for frame in 1..=5 {
            let tracks = tracker.coast(STILL);
            assert!(tracks.iter().any(|t| t.id == 0), "dropped {frame} frames after it was followed");
            assert_eq!(tracks[0].course.is_some(), frame < 2, "frame {frame}");
        }
        assert!((tracker.tracks()[0].region.centre().0 - (34.0 + 20.0 + 30.0)).abs() < 1e-3);
        assert_eq!(tracker.tracks()[0].frames_since_seen, 5, "dropped on the next frame");
        // Refreshed again, on a smaller match: never smaller; no new course
        // (its detection is too long ago). Then detected: the count starts
        // over.
        assert!(tracker.refresh(0, &with_slack(&face(65.0, 15.0, 30.0))));
        let track = &tracker.tracks()[0];
        assert_eq!((track.followed_frames, track.course), (4 + 5, None));
        assert_eq!((track.region.width, track.region.centre()), (followed.width, (80.0, 30.0)));
        let track = &tracker.observe(&[face(62.0, 10.0, 40.0)], STILL)[0];
        assert_eq!((track.followed_frames, track.detections), (0, 2));
    }

    /// A face walking 5 px a frame, detected on frames 0 and 2 (so it has
    /// that velocity), then lost while the camera pans 3 px a frame; on
    /// frame 4 followed to `off` px further on than its course, then
    /// coasting to frame 6 (keep-alive: 6 frames). Its course on frame 4,
    /// and the track on frame 6.
    fn refreshed_off_its_course(off: f32) -> (FaceTracker, FaceBox, Track) {
        refreshed_off_its_course_beside(off, None)
    }

    /// [`refreshed_off_its_course`], with `other` face standing still
    /// beside it (track 1), seen on frames 0 and 2 too.
    fn refreshed_off_its_course_beside(off: f32, other: Option<FaceBox>) -> (FaceTracker, FaceBox, Track) {
        let mut tracker = FaceTracker::new(TrackerConfig { keep_alive_frames: 6, ..TrackerConfig::default() });
        let seen = |x: f32| [Some(face(x, 100.0, 40.0)), other].into_iter().flatten().collect::<Vec<_>>();
        tracker.observe(&seen(0.0), STILL);
        tracker.coast(STILL);
        tracker.observe(&seen(10.0), STILL);
        tracker.coast(Some((3.0, 0.0)));
        tracker.coast(Some((3.0, 0.0)));
        let on_course = tracker.tracks()[0].region;
        assert!(tracker.refresh(0, &FaceBox { x: on_course.x + off, ..on_course }));
        tracker.coast(Some((3.0, 0.0)));
        let track = tracker.coast(None)[0].clone();
        (tracker, on_course, track)
    }

    #[test]
    fn a_refreshed_tracks_course_coasts_and_is_left_coasting_by_a_detection_it_would_not_have_matched() {
        let (mut tracker, on_course, track) = refreshed_off_its_course(40.0);
        let course = track.course.expect("kept for 6 frames from frame 2");
        // Frame 6: its course moved 5 px a frame of its own, and with the
        // camera where it was measured.
        assert!((course.region.x - (on_course.x + 2.0 * 5.0 + 3.0)).abs() < 1e-3, "{course:?}");
        // Matched on frame 7 by a detection beside where its picture led,
        // which its course would not have matched: its course is left
        // coasting as a track of its own, 5 frames from its detection (1
        // not measured), and dropped when the track would have been without
        // the refresh (after frame 8).
        let tracks = tracker.observe(&[beside_refreshed(&track)], STILL);
        assert_eq!(tracks.len(), 2, "{tracks:?}");
        let coasting = &tracks[1];
        assert_eq!((coasting.id, coasting.frames_since_seen, coasting.unmeasured_since_seen), (1, 5, 1));
        assert_eq!(coasting.course, None);
        assert!((coasting.region.x - (course.region.x + 5.0)).abs() < 1e-3, "{coasting:?}");
        assert_eq!(tracker.coast(STILL).len(), 2);
        assert_eq!(tracker.coast(STILL).len(), 1);
    }

    #[test]
    fn a_detection_on_a_refreshed_tracks_course_is_taken_by_the_course_with_its_velocity() {
        // The refreshed track does not match it: its course takes it, as
        // the track coasting from its detection would have; the refreshed
        // one coasts on, its course ended.
        let (mut tracker, _, track) = refreshed_off_its_course(40.0);
        let on_course = on_course_next(&track, 0.0);
        assert!(refreshed_next(&track).iou(&on_course) < 0.2, "the refreshed track must not match it");
        let tracks = tracker.observe(&[on_course], STILL).to_vec();
        assert_eq!(tracks.len(), 2, "{tracks:?}");
        assert_eq!((tracks[0].id, tracks[0].frames_since_seen, tracks[0].course), (0, 3, None));
        taken_by_the_course(&tracks[1]);
    }

    #[test]
    fn a_course_left_by_a_refreshed_track_that_followed_another_detection_takes_the_detection_on_it() {
        // The refreshed track follows a detection beside where its picture
        // led (onto another face, say): the course it leaves takes the one
        // on it, as the track would have without the refresh, rather than a
        // new track opening beside a coasting one.
        let (mut tracker, _, track) = refreshed_off_its_course(40.0);
        let (beside, on_course) = (beside_refreshed(&track), on_course_next(&track, 0.0));
        assert!(course_next(&track).iou(&beside) < 0.2, "its course must not match the one beside");
        assert!(refreshed_next(&track).iou(&on_course) < 0.2, "the refreshed track must not match the one on it");
        let tracks = tracker.observe(&[beside, on_course], STILL);
        assert_eq!(tracks.len(), 2, "{tracks:?}");
        assert_eq!((tracks[0].id, tracks[0].frames_since_seen, tracks[0].detections), (0, 0, 3));
        taken_by_the_course(&tracks[1]);
    }

    #[test]
    fn a_refreshed_tracks_course_takes_no_detection_another_track_matched_and_adds_no_track_untaken() {
        // Another face, standing still, seen with it on frames 0 and 2,
        // whose place on frame 7 the course overlaps.
        let (mut tracker, _, track) = refreshed_off_its_course(40.0);
        let other_next = FaceBox { y: 125.0, ..on_course_next(&track, 0.0) };
        // Carried 9 px by the camera since frame 2.
        let other = FaceBox { x: other_next.x - 9.0, ..other_next };
        let (mut with_other, _, beside) = refreshed_off_its_course_beside(40.0, Some(other));
        assert_eq!((beside.course, with_other.tracks().len()), (track.course, 2), "as without the other face");
        assert!(course_next(&track).iou(&other_next) >= 0.2, "the course must overlap the other face");
        let tracks = with_other.observe(&[other_next], STILL);
        assert_eq!(tracks.len(), 2, "{tracks:?}");
        assert_eq!((tracks[1].id, tracks[1].frames_since_seen, tracks[1].detections), (1, 0, 3));
        assert_eq!((tracks[0].frames_since_seen, tracks[0].course.is_some()), (3, true), "{tracks:?}");
        // No detection: the course stays the refreshed track's.
        let tracks = tracker.observe(&[], STILL);
        assert_eq!((tracks.len(), tracks[0].course.is_some()), (1, true), "{tracks:?}");
    }

    #[test]
    fn of_two_detections_on_a_refreshed_tracks_course_the_better_match_is_taken_and_the_other_is_a_new_face() {
        let (mut tracker, _, track) = refreshed_off_its_course(40.0);
        let (worse, better) = (on_course_next(&track, 14.0), on_course_next(&track, 0.0));
        let course = course_next(&track);
        assert!(course.iou(&worse) >= 0.2 && course.iou(&worse) < course.iou(&better));
        let refreshed = refreshed_next(&track);
        assert!(refreshed.iou(&worse) < 0.2 && refreshed.iou(&better) < 0.2, "the refreshed track must match neither");
        // The worse match first in the detector's order.
        let tracks = tracker.observe(&[worse, better], STILL);
        assert_eq!(tracks.len(), 3, "{tracks:?}");
        let taken = tracks.iter().find(|t| t.detections == 3).expect("the course took one");
        let opened = tracks.iter().find(|t| t.detections == 1).expect("the other opened a track");
        assert!(holds(&taken.region, &better) && holds(&opened.region, &worse), "{tracks:?}");
    }

    /// The region of the track of [`refreshed_off_its_course`] on the next
    /// frame (the picture still), and its course's.
    fn refreshed_next(track: &Track) -> FaceBox {
        FaceBox { x: track.region.x + track.velocity.0, ..track.region }
    }

    fn course_next(track: &Track) -> FaceBox {
        let course = track.course.expect("refreshed");
        FaceBox { x: course.region.x + course.velocity.0, ..course.region }
    }

    /// `taken` is the course of the track of [`refreshed_off_its_course`]
    /// (its next id), following a detection on this frame as that track
    /// coasting from its detection would have: its third, at its velocity.
    fn taken_by_the_course(taken: &Track) {
        assert_eq!((taken.id, taken.frames_since_seen, taken.detections), (1, 0, 3));
        assert!((taken.velocity.0 - 5.0).abs() < 1e-3, "{taken:?}");
    }

    /// Beside where the track of [`refreshed_off_its_course`] coasts to on
    /// the next frame, off its course.
    fn beside_refreshed(track: &Track) -> FaceBox {
        FaceBox { x: track.region.x + 5.0, ..face(0.0, 100.0, 40.0) }
    }

    /// On the course of the track of [`refreshed_off_its_course`] on the
    /// next frame, `down` px lower.
    fn on_course_next(track: &Track, down: f32) -> FaceBox {
        let course = track.course.expect("refreshed");
        face(course.region.x + course.velocity.0 + 3.2, 100.0 + down, 40.0)
    }

    #[test]
    fn a_refreshed_track_matched_by_a_detection_its_course_would_have_matched_too_leaves_no_other_track() {
        // Followed to 10 px off its course; halfway between the two on frame 7.
        let (mut tracker, _, track) = refreshed_off_its_course(10.0);
        let course = track.course.unwrap();
        let (course, refreshed) = (course.region.x + course.velocity.0, track.region.x + track.velocity.0);
        let on_its_course = face((course + refreshed) / 2.0 + 3.2, track.region.y + 3.2, 40.0);
        let at = |x: f32| FaceBox { x, ..track.region };
        assert!(at(refreshed).iou(&on_its_course) >= 0.2, "the refreshed track must match it");
        assert!(at(course).iou(&on_its_course) >= 0.2, "its course would have matched it");
        assert_eq!(tracker.observe(&[on_its_course], STILL).len(), 1);
    }
}
