//! The blur stage following faces the detector lost forward by their
//! picture (`follow_forward.rs`), with the rig of `stage_tests.rs`.

use super::*;

/// The width of the widest region on each frame of [`regions_while_lost`].
fn widths_while_lost(follow_lost_faces: bool, hidden: &'static [u32]) -> Vec<f32> {
    regions_while_lost(follow_lost_faces, hidden).iter().map(|r| 2.0 * r.rx).collect()
}

/// A 40-px face walking right 3 px a frame, shown in the frames, detected
/// every 4th frame, with the detections on frames 8 and 12 missing it. With
/// `follow_lost_faces` as given and its picture flattened on the frames
/// `hidden`: the widest region on each frame.
fn regions_while_lost(follow_lost_faces: bool, hidden: &'static [u32]) -> Vec<Ellipse> {
    let truth = |i: u32| vec![face(60.0 + 3.0 * i as f32, 80.0, 40.0)];
    let frame = hidden_on(truth, face(0.0, 0.0, 0.0), &[]);
    let frame = move |i: u32| {
        let image = frame(i);
        if hidden.contains(&i) {
            flattened(image, &truth(i)[0])
        } else {
            image
        }
    };
    let config = BlurConfig { follow_lost_faces, ..config() };
    let mut rig = rig(Box::new(truth), 110_000_000, &[8, 12], &[], config);
    let released = run_frames(&mut rig.stage, frame, 17);
    assert_eq!(rig.runs.lock().unwrap().clone(), vec![0, 4, 8, 12, 16], "detections must come 4 frames apart");
    assert_faces_covered(&released, truth, (W, H));
    let widest = |frame: &ReleasedFrame<u32>| frame.blur.regions.iter().copied().max_by(|a, b| a.rx.total_cmp(&b.rx));
    released.iter().map(|frame| widest(frame).unwrap_or(Ellipse { cx: 0.0, cy: 0.0, rx: 0.0, ry: 0.0 })).collect()
}

/// Every point of `inner` lies in `outer` (within half a pixel): checked on
/// `inner`'s outline, which suffices for convex shapes.
fn ellipse_inside(inner: &Ellipse, outer: &Ellipse) -> bool {
    (0..64).all(|i| {
        let angle = i as f32 * std::f32::consts::TAU / 64.0;
        let (x, y) = (inner.cx + inner.rx * angle.cos(), inner.cy + inner.ry * angle.sin());
        let (dx, dy) = ((x - outer.cx) / (outer.rx + 0.5), (y - outer.cy) / (outer.ry + 0.5));
        dx * dx + dy * dy <= 1.0
    })
}

/// Lost after its detection on frame 4, its track coasts through frame 15
/// with its region growing by its room to stray on every frame; followed
/// by its picture, it is blurred where it was found, one size throughout
/// (where its coasting region is not the narrower), also after its track
/// was kept on frames 8 and 12 where its picture was followed to.
#[test]
fn a_face_the_detector_loses_is_blurred_where_its_picture_is_followed() {
    let (followed, coasting) = (widths_while_lost(true, &[]), widths_while_lost(false, &[]));
    assert!(followed[15] * 2.0 < coasting[15], "followed {followed:?}, coasting {coasting:?}");
    // On frame 5 its coasting region is the narrower.
    let lost = &followed[6..16];
    assert!(lost.iter().all(|&w| (w - lost[0]).abs() < 0.5), "the region changes size: {lost:?}");
    assert!(followed[5] <= lost[0], "{followed:?}");
}

/// Its picture flattened on frame 10 (turned away): followed through frame
/// 9, it keeps its coasting region from frame 10 on, even where its
/// picture is back. Its track was kept on frame 8 where its picture was
/// followed to, and coasts on from there, but with the room it would have
/// had coasting since its detection on frame 4: never narrower than
/// without following (a follow may have drifted).
#[test]
fn a_lost_face_not_found_on_one_frame_keeps_its_coasting_region_from_then_on() {
    let (followed, coasting) = (regions_while_lost(true, &[10]), regions_while_lost(false, &[]));
    assert!(followed[9].rx * 1.5 < coasting[9].rx, "followed {followed:?}, coasting {coasting:?}");
    for frame in 10..16 {
        let (followed, coasting) = (&followed[frame], &coasting[frame]);
        assert!(ellipse_inside(coasting, followed), "frame {frame}: followed {followed:?}, coasting {coasting:?}");
    }
}

/// A still 40-px face, shown on every frame, found by the detector on
/// frames 0 and 4 and missed on every detection after: its track coasts
/// for 15 frames (`TrackerConfig::keep_alive_frames`) and is dropped.
/// Followed by its picture on every frame, it is seen where followed, so
/// its track is kept and it stays blurred, narrowly, to the end.
#[test]
fn a_lost_face_followed_on_every_frame_is_kept_past_its_tracks_keep_alive() {
    let truth = |_: u32| vec![face(100.0, 80.0, 40.0)];
    let missed: Vec<u32> = (5..60).collect();
    let frames = |follow_lost_faces: bool| {
        let config = BlurConfig { follow_lost_faces, ..config() };
        let mut rig = rig(Box::new(truth), 110_000_000, &missed, &[], config);
        let released = run_frames(&mut rig.stage, |i| showing(&truth(i), i), 41);
        assert_eq!(rig.runs.lock().unwrap()[..4], [0, 4, 8, 12], "detections must come 4 frames apart");
        released
    };
    let (followed, coasting) = (frames(true), frames(false));
    assert!(coasting[4 + 16..].iter().all(|f| f.blur.regions.is_empty()), "dropped after 15 frames");
    for frame in &followed {
        assert!(covered(&truth(frame.tag)[0], &frame.blur.regions), "frame {} leaks", frame.tag);
    }
    let widths: Vec<f32> = followed.iter().map(widest_region).collect();
    assert!(widths[40] <= widths[8] + 0.5, "{widths:?}");
}

/// A 40-px face walking 7 px a frame, detected on frame 0 only once (so
/// its track has no velocity yet), is 28 px away by the detection on frame
/// 4: too far for its track's region to match (IoU 0.19). Followed there by its
/// picture, its track takes the detection; otherwise a new track opens and
/// the old one coasts on beside it, both blurred.
#[test]
fn a_face_found_again_too_far_from_its_track_is_joined_to_it_by_its_picture() {
    let truth = |i: u32| vec![face(40.0 + 7.0 * i as f32, 80.0, 40.0)];
    let frames = |follow_lost_faces: bool| {
        let config = BlurConfig { follow_lost_faces, ..config() };
        let mut rig = rig(Box::new(truth), 110_000_000, &[], &[], config);
        let released = run_frames(&mut rig.stage, |i| showing(&truth(i), i), 9);
        assert_eq!(rig.runs.lock().unwrap().clone(), vec![0, 4, 8], "detections must come 4 frames apart");
        assert_faces_covered(&released, truth, (W, H));
        released
    };
    let (joined, apart) = (frames(true), frames(false));
    assert_eq!((joined[4].blur.new_faces, joined[4].blur.regions.len()), (0, 1), "{:?}", joined[4].blur);
    assert_eq!((apart[4].blur.new_faces, apart[4].blur.regions.len()), (1, 2), "{:?}", apart[4].blur);
    // On the held frames it keeps both readings, as the tracker could not
    // match it: its coasting region and its reach back from frame 4 (not
    // the line between its two places).
    for frame in &joined[1..4] {
        assert_eq!(frame.blur.regions.len(), 2, "frame {}: {:?}", frame.tag, frame.blur.regions);
    }
}

/// A still 40-px face, shown on every frame, missed by the detection on
/// frame 8 and found again on frame 12. Followed to frame 8 by its picture,
/// its track is kept there, but the detector did not find it there: found
/// on frame 12, it keeps both readings on the frames between, its coasting
/// region and its reach back from frame 12, as a coasting track matched
/// does (the detection may be another face come in beside where the
/// picture led), not the line between its two places.
#[test]
fn a_face_followed_to_a_detection_frame_and_found_on_the_next_keeps_both_readings_between() {
    let truth = |_: u32| vec![face(100.0, 80.0, 40.0)];
    let mut rig = rig(Box::new(truth), 110_000_000, &[8], &[], config());
    let mut released = Vec::new();
    for i in 0..13 {
        released.extend(rig.stage.push(showing(&truth(i), i), i64::from(i) * BUDGET_NS, i));
        if i == 8 {
            // Refreshed on frame 8, not detected there.
            let track = &rig.stage.tracker.tracks()[0];
            assert_eq!((track.frames_since_seen, track.followed_frames), (0, 4), "{track:?}");
        }
    }
    released.extend(rig.stage.flush());
    assert_eq!(rig.runs.lock().unwrap().clone(), vec![0, 4, 8, 12], "detections must come 4 frames apart");
    assert_faces_covered(&released, truth, (W, H));
    for frame in &released[5..8] {
        assert_eq!(frame.blur.regions.len(), 1, "frame {}: seen on 4 and followed to 8", frame.tag);
    }
    for frame in &released[9..12] {
        assert_eq!(frame.blur.regions.len(), 2, "frame {}: {:?}", frame.tag, frame.blur.regions);
    }
}

/// A still 40-px face, shown in the frames, detected on frame 4, then not
/// found again (`missed` from frame 9 on): with following as given, the
/// widest region on each frame, where `frames` pushes the frames.
fn widths_of_a_still_face(
    follow_lost_faces: bool,
    failing: &[u32],
    push: impl Fn(&mut BlurStage<u32>, &dyn Fn(u32) -> I420Image) -> Vec<ReleasedFrame<u32>>,
) -> Vec<f32> {
    let truth = |_: u32| vec![face(100.0, 80.0, 40.0)];
    let missed: Vec<u32> = (9..40).collect();
    let config = BlurConfig { follow_lost_faces, ..config() };
    let mut rig = rig(Box::new(truth), 110_000_000, &missed, failing, config);
    let released = push(&mut rig.stage, &|i| showing(&truth(i), i));
    // The face was seen on frame 4, and the frames compared were released
    // by detections that missed it.
    assert!(rig.runs.lock().unwrap().starts_with(&[0, 4]), "{:?}", rig.runs.lock().unwrap());
    assert!(released[9..].iter().all(|f| f.blur.failed_closed.is_none() && !f.blur.regions.is_empty()));
    for frame in released.iter().filter(|f| f.blur.failed_closed.is_none()) {
        assert!(covered(&truth(frame.tag)[0], &frame.blur.regions), "frame {} leaks", frame.tag);
    }
    released.iter().map(widest_region).collect()
}

/// The detection on frame 8 fails and frames 5–8 are blurred whole: the
/// face's picture from frame 4 is not followed on, as it was not searched
/// for on those frames.
#[test]
fn after_frames_fail_closed_a_lost_face_is_not_followed_by_an_older_picture() {
    let run_all = |stage: &mut BlurStage<u32>, frame: &dyn Fn(u32) -> I420Image| run_frames(stage, frame, 16);
    let (followed, coasting) =
        (widths_of_a_still_face(true, &[8], run_all), widths_of_a_still_face(false, &[8], run_all));
    assert_eq!(followed[9..], coasting[9..]);
}

/// The recording pauses after frame 5 (the stage is flushed, the newest
/// frame detected on): after the pause the next frame may show anything,
/// so no face is followed into it by its picture.
#[test]
fn after_a_pause_a_lost_face_is_not_followed_by_a_picture_from_before_it() {
    let paused = |stage: &mut BlurStage<u32>, frame: &dyn Fn(u32) -> I420Image| {
        let mut out = Vec::new();
        for i in 0..16 {
            out.extend(stage.push(frame(i), i64::from(i) * BUDGET_NS, i));
            if i == 5 {
                out.extend(stage.flush());
            }
        }
        out.extend(stage.flush());
        out
    };
    let (followed, coasting) = (widths_of_a_still_face(true, &[], paused), widths_of_a_still_face(false, &[], paused));
    assert_eq!(followed[6..], coasting[6..]);
}
