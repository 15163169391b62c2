//! The blur stage with a scripted detector on a fake clock: which frames
//! are covered, which fail closed, and the cadence, with no real timing.

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use super::*;
use crate::blur::detector::DetectError;

const W: u32 = 320;
const H: u32 = 240;
const BUDGET_NS: i64 = 33_000_000;

#[derive(Default)]
struct FakeClock(AtomicI64);

impl BudgetClock for FakeClock {
    fn now_ns(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Where the faces truly are on frame `i`.
type Truth = Box<dyn Fn(u32) -> Vec<FaceBox> + Send>;

/// Finds exactly the true faces (read from the frame number written into
/// the frame) unless told to miss or fail on that frame; each run advances
/// the fake clock by the current cost.
struct ScriptedDetector {
    truth: Truth,
    missed: HashSet<u32>,
    failing: HashSet<u32>,
    cost_ns: Arc<Mutex<Vec<(u32, i64)>>>,
    clock: Arc<FakeClock>,
    runs: Arc<Mutex<Vec<u32>>>,
}

impl FaceDetector for ScriptedDetector {
    fn detect(&mut self, frame: &I420Image) -> Result<Vec<FaceBox>, DetectError> {
        let index = frame_number(frame);
        self.runs.lock().unwrap().push(index);
        // The cost that applies from the latest listed frame on.
        let cost = self.cost_ns.lock().unwrap().iter().rev().find(|(from, _)| *from <= index).map_or(0, |c| c.1);
        self.clock.0.fetch_add(cost, Ordering::SeqCst);
        if self.failing.contains(&index) {
            return Err(DetectError::Inference { reason: "scripted failure".into() });
        }
        Ok(if self.missed.contains(&index) { Vec::new() } else { (self.truth)(index) })
    }

    fn model_name(&self) -> &str {
        "scripted"
    }

    fn model_sha256(&self) -> &str {
        "00"
    }
}

struct Rig {
    stage: BlurStage<u32>,
    runs: Arc<Mutex<Vec<u32>>>,
    cost_ns: Arc<Mutex<Vec<(u32, i64)>>>,
}

fn rig(truth: Truth, cost_ns: i64, missed: &[u32], failing: &[u32], config: BlurConfig) -> Rig {
    let clock = Arc::new(FakeClock::default());
    let runs = Arc::new(Mutex::new(Vec::new()));
    let cost = Arc::new(Mutex::new(vec![(0, cost_ns)]));
    let detector = ScriptedDetector {
        truth,
        missed: missed.iter().copied().collect(),
        failing: failing.iter().copied().collect(),
        cost_ns: cost.clone(),
        clock: clock.clone(),
        runs: runs.clone(),
    };
    let stage = BlurStage::new(Box::new(detector), config, clock).unwrap();
    Rig { stage, runs, cost_ns: cost }
}

fn config() -> BlurConfig {
    BlurConfig { frame_budget_ns: Some(BUDGET_NS), ..BlurConfig::default() }
}

/// Textured noise with the frame number in the first four luma bytes.
fn input(index: u32) -> I420Image {
    let mut image = I420Image::grey(W, H);
    let mut state = 0x9e37_79b9u32;
    for p in &mut image.data {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        *p = (state >> 24) as u8;
    }
    image.data[..4].copy_from_slice(&index.to_le_bytes());
    image
}

fn frame_number(image: &I420Image) -> u32 {
    u32::from_le_bytes([image.data[0], image.data[1], image.data[2], image.data[3]])
}

/// Pushes frames `0..count` and flushes; every frame comes back once, in order.
fn run(stage: &mut BlurStage<u32>, count: u32) -> Vec<ReleasedFrame<u32>> {
    let mut out = Vec::new();
    for i in 0..count {
        out.extend(stage.push(input(i), i64::from(i) * BUDGET_NS, i));
        assert!(stage.buffered() <= stage.config.max_detection_interval as usize);
    }
    out.extend(stage.flush());
    assert_eq!(out.iter().map(|f| f.tag).collect::<Vec<_>>(), (0..count).collect::<Vec<_>>());
    out
}

/// Pushes `frame(i)` for `i` in `0..count`, then flushes.
fn run_frames(stage: &mut BlurStage<u32>, frame: impl Fn(u32) -> I420Image, count: u32) -> Vec<ReleasedFrame<u32>> {
    let mut out = Vec::new();
    for i in 0..count {
        out.extend(stage.push(frame(i), i64::from(i) * BUDGET_NS, i));
    }
    out.extend(stage.flush());
    out
}

/// Every true face of every released frame is covered.
fn assert_faces_covered(released: &[ReleasedFrame<u32>], truth: impl Fn(u32) -> Vec<FaceBox>, size: (u32, u32)) {
    for frame in released {
        for face in truth(frame.tag) {
            let regions = &frame.blur.regions;
            assert!(covered_in(&face, regions, size), "frame {} leaks {face:?}: {regions:?}", frame.tag);
        }
    }
}

fn face(x: f32, y: f32, size: f32) -> FaceBox {
    FaceBox { x, y, width: size, height: size, score: 0.9 }
}

/// Every pixel of the face's inscribed ellipse lies in some region.
fn covered(truth: &FaceBox, regions: &[Ellipse]) -> bool {
    covered_in(truth, regions, (W, H))
}

/// [`covered`] in a frame of another size.
fn covered_in(truth: &FaceBox, regions: &[Ellipse], (w, h): (u32, u32)) -> bool {
    let inscribed = Ellipse {
        cx: truth.x + truth.width / 2.0,
        cy: truth.y + truth.height / 2.0,
        rx: truth.width / 2.0,
        ry: truth.height / 2.0,
    };
    let (x0, y0) = (truth.x.max(0.0) as u32, truth.y.max(0.0) as u32);
    let (x1, y1) = (((truth.x + truth.width) as u32).min(w), ((truth.y + truth.height) as u32).min(h));
    (y0..y1).all(|y| (x0..x1).all(|x| !inscribed.contains(x, y) || regions.iter().any(|r| r.contains(x, y))))
}

#[test]
fn frames_without_faces_pass_through_unchanged() {
    let mut rig = rig(Box::new(|_| Vec::new()), 70_000_000, &[], &[], config());
    for released in run(&mut rig.stage, 20) {
        assert_eq!(released.image.as_ref().unwrap().data, input(released.tag).data, "frame {}", released.tag);
        assert!(released.blur.regions.is_empty() && released.blur.failed_closed.is_none());
    }
}

#[test]
fn a_static_face_with_detector_jitter_keeps_one_region_so_the_blur_does_not_flicker() {
    // The detector's box wobbles by up to 3 px around a face that stands still.
    let jitter = |i: u32| [0.0, 3.0, -2.0, 1.0, -3.0, 2.0][i as usize % 6];
    let truth = move |i: u32| {
        vec![FaceBox {
            x: 100.0 + jitter(i),
            y: 80.0 - jitter(i + 2),
            width: 52.0 + jitter(i + 1),
            height: 52.0,
            score: 0.9,
        }]
    };
    let mut rig = rig(Box::new(truth), 70_000_000, &[], &[], config());
    let released = run(&mut rig.stage, 40);
    // Once the cadence has settled (k = 3 from frame 1), one region throughout.
    let settled = &released[4].blur.regions;
    assert_eq!(settled.len(), 1);
    for frame in &released[4..] {
        assert_eq!(&frame.blur.regions, settled, "frame {} flickers", frame.tag);
        assert!(covered(&truth(frame.tag)[0], &frame.blur.regions), "frame {}", frame.tag);
    }
    // Identical pixels too, apart from the frame number.
    let pixels = |f: &ReleasedFrame<u32>| f.image.as_ref().unwrap().data[4..].to_vec();
    assert!(released[4..].iter().all(|f| pixels(f) == pixels(&released[4])));
}

/// A face seen at both detections that zig-zags between them (the
/// wearer's head jiggles the picture) instead of moving in a straight line
/// stays covered. On flat frames the jiggle cannot be measured, so the
/// room is the wearer's jiggle, 12 px a frame: 24 px midway at k = 4. No
/// dilation or margin, so the room alone must cover the 22 px.
#[test]
fn a_face_zigzagging_between_detections_stays_covered() {
    let zig = |i: u32| [0.0, 10.0, 22.0, 10.0][i as usize % 4];
    let truth = move |i: u32| vec![face(100.0 + zig(i), 100.0, 40.0)];
    let bare = BlurConfig { dilation: 1.0, margin_px: 0.0, ..config() };
    let mut rig = rig(Box::new(truth), 110_000_000, &[], &[], bare);
    for frame in run_frames(&mut rig.stage, flat, 24) {
        assert!(covered(&truth(frame.tag)[0], &frame.blur.regions), "frame {}: {:?}", frame.tag, frame.blur.regions);
    }
    assert_eq!(rig.stage.detection_interval(), 4);
}

/// The camera stands still and is measured so (textured frames): the
/// jiggle is on the path, and a face's room to stray is its own, a tenth
/// of its size a frame, plus the measurement's error: for a 40-px face at
/// k = 4, 2 × 4 + 4 × 4 / 2 = 16 px midway. Zig-zagging 14 px off the line
/// it stays covered with no dilation or margin (without its own share it
/// would not), in a region narrower than where the motion is unknown. The
/// frames do not show the face (its box holds still background), so it is
/// not followed by its picture: the room to stray alone is tested.
#[test]
fn with_the_camera_measured_a_face_strays_by_its_own_share_of_its_size() {
    let zig = |i: u32| [0.0, 7.0, 14.0, 7.0][i as usize % 4];
    let truth = move |i: u32| vec![face(100.0 + zig(i), 100.0, 40.0)];
    let bare = BlurConfig { dilation: 1.0, margin_px: 0.0, trace_followed_faces: false, ..config() };
    let widest = |frame: fn(u32) -> I420Image| {
        let mut rig = rig(Box::new(truth), 110_000_000, &[], &[], bare);
        let released = run_frames(&mut rig.stage, frame, 24);
        assert_eq!(rig.stage.detection_interval(), 4);
        for frame in &released {
            assert!(covered(&truth(frame.tag)[0], &frame.blur.regions), "frame {}", frame.tag);
        }
        released[8..].iter().flat_map(|f| f.blur.regions.iter().map(|r| 2.0 * r.rx)).fold(0.0, f32::max)
    };
    let (measured, unknown) = (widest(input), widest(flat));
    // 16 px of room midway against 24 px of jiggle, on both sides.
    assert!(measured + 12.0 <= unknown, "measured: {measured} px wide; unknown: {unknown} px");
}

/// A flat grey frame (its motion cannot be measured) with the frame
/// number in the first four luma bytes.
fn flat(index: u32) -> I420Image {
    let mut image = I420Image::grey(W, H);
    image.data[..4].copy_from_slice(&index.to_le_bytes());
    image
}

/// Face A leaves; face B enters close to where A's track coasts, and is
/// matched to it: B must still be blurred back as a newly found face, by
/// its reach or, traced (the frames show the faces), where B was found.
#[test]
fn a_new_face_matched_to_a_lost_track_is_blurred_back_too() {
    let truth = |i: u32| match i {
        0..=3 => vec![face(100.0, 100.0, 50.0)],
        4..=6 => Vec::new(),
        // B walks in from the left, reaching A's old place at frame 12.
        _ => vec![face(100.0 - 20.0 * (12 - i.min(12)) as f32, 104.0, 50.0)],
    };
    for trace_new_faces in [false, true] {
        let mut rig = rig(Box::new(truth), 110_000_000, &[], &[], BlurConfig { trace_new_faces, ..config() });
        for frame in run_frames(&mut rig.stage, |i| showing(&truth(i), i), 20) {
            for face in truth(frame.tag).iter().filter(|f| f.x >= 0.0) {
                let regions = &frame.blur.regions;
                assert!(covered(face, regions), "frame {} leaks {face:?}: {regions:?}", frame.tag);
            }
        }
    }
}

#[test]
fn the_cadence_follows_the_detection_cost_and_the_budget() {
    for (cost_ms, k) in [(10, 1), (40, 2), (70, 3), (1000, 8)] {
        // A long lag limit: this test is about the cadence alone.
        let config = BlurConfig { max_lag_ns: i64::MAX, ..config() };
        let mut rig = rig(Box::new(|_| Vec::new()), cost_ms * 1_000_000, &[], &[], config);
        run(&mut rig.stage, 30);
        assert_eq!(rig.stage.detection_interval(), k, "detection at {cost_ms} ms");
        let runs = rig.runs.lock().unwrap().clone();
        let gaps: Vec<u32> = runs.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps[1..gaps.len() - 1].iter().all(|&g| g == k), "{cost_ms} ms: detections on {runs:?}");
    }
}

#[test]
fn a_face_appearing_between_detections_is_blurred_back_to_the_previous_one() {
    // 70 ms detections: every third frame. The face enters on frame 7 and
    // moves 30 px per frame, below the 40 px reach. The frames show it
    // (a textured patch over the still background), so tracing it back by
    // its picture finds it where it is.
    let truth = |i: u32| if i >= 7 { vec![face(20.0 + 30.0 * (i - 7) as f32, 100.0, 40.0)] } else { Vec::new() };
    for trace_new_faces in [true, false] {
        let mut rig = rig(Box::new(truth), 70_000_000, &[], &[], BlurConfig { trace_new_faces, ..config() });
        let released = run_frames(&mut rig.stage, |i| showing(&truth(i), i), 14);
        let runs = rig.runs.lock().unwrap().clone();
        assert!(!runs.contains(&7), "the test needs a face first seen after its first frame: {runs:?}");
        assert_faces_covered(&released, truth, (W, H));
    }
}

/// A still face, then one moving 6 px a frame to the right over the still
/// textured background, both appearing four frames before a detection and
/// shown in the frames: traced back by their pictures, each is covered on
/// every frame in a region far narrower than its reach (a newly found
/// 40-px face may have moved 28 px a frame).
#[test]
fn a_newly_found_face_is_traced_back_by_its_picture() {
    for speed in [0.0, 6.0] {
        let truth =
            move |i: u32| if i >= 4 { vec![face(60.0 + speed * (i - 4) as f32, 80.0, 40.0)] } else { Vec::new() };
        let widest_before_found = |trace_new_faces: bool| {
            let mut rig = rig(Box::new(truth), 250_000_000, &[], &[], BlurConfig { trace_new_faces, ..config() });
            let released = run_frames(&mut rig.stage, |i| showing(&truth(i), i), 9);
            assert_eq!(rig.runs.lock().unwrap().clone(), vec![0, 8], "detections must come 8 frames apart");
            assert_faces_covered(&released, truth, (W, H));
            let before_found = released.iter().filter(|f| (4..8).contains(&f.tag));
            before_found.flat_map(|f| f.blur.regions.iter().map(|r| 2.0 * r.rx)).fold(0.0, f32::max)
        };
        let (traced, reached) = (widest_before_found(true), widest_before_found(false));
        assert!(traced * 2.0 < reached, "{speed} px/frame: traced {traced} px wide, reached {reached} px");
    }
}

/// A still face appears on frame 1, seven frames before a detection, and
/// on frame 3 its picture cannot be matched (a flat patch stands in for
/// it). Followed back frame by frame: on frame 3 it keeps its whole reach
/// (nothing was found there), and the search goes on from one frame's reach
/// of where it was on frame 4, so on frames 1 and 2 it is found again.
#[test]
fn a_face_lost_on_one_held_frame_keeps_its_reach_there_and_is_found_again() {
    let at = face(120.0, 80.0, 40.0);
    let truth = move |i: u32| if i >= 1 { vec![at] } else { Vec::new() };
    let frame = hidden_on(truth, at, &[3]);
    let widths = |trace_new_faces: bool| {
        let mut rig = rig(Box::new(truth), 250_000_000, &[], &[], BlurConfig { trace_new_faces, ..config() });
        let released = run_frames(&mut rig.stage, &frame, 9);
        assert_eq!(rig.runs.lock().unwrap().clone(), vec![0, 8], "detections must come 8 frames apart");
        assert_faces_covered(&released, truth, (W, H));
        released.iter().map(widest_region).collect::<Vec<f32>>()
    };
    let (traced, reached) = (widths(true), widths(false));
    let found = traced[4..8].iter().copied().fold(0.0, f32::max);
    assert!(found * 2.0 < reached[4], "found: traced {found} px wide, reached {} px", reached[4]);
    assert_eq!(traced[3], reached[3], "the lost frame keeps its whole reach");
    assert!(traced[1] <= found && traced[2] <= found, "found again before the lost frame: {traced:?}");
}

/// A face seen at the detections on frames 0 and 8, still or moving 3 px
/// a frame, and shown in the frames: followed by its picture, it is
/// blurred where it was found, far narrower than its room to stray; a
/// still face keeps one region through the interval (no flicker).
#[test]
fn a_face_seen_at_both_detections_is_blurred_where_its_picture_is_found() {
    for speed in [0.0, 3.0] {
        let truth = move |i: u32| vec![face(60.0 + speed * i as f32, 80.0, 40.0)];
        let widths = |trace_followed_faces: bool| {
            let config = BlurConfig { trace_followed_faces, ..config() };
            let mut rig = rig(Box::new(truth), 250_000_000, &[], &[], config);
            let released = run_frames(&mut rig.stage, |i| showing(&truth(i), i), 9);
            assert_eq!(rig.runs.lock().unwrap().clone(), vec![0, 8], "detections must come 8 frames apart");
            assert_faces_covered(&released, truth, (W, H));
            released[1..].iter().map(|f| 2.0 * f.blur.regions[0].rx).collect::<Vec<f32>>()
        };
        let (traced, bounded) = (widths(true), widths(false));
        let widest = |w: &[f32]| w.iter().copied().fold(0.0, f32::max);
        assert!(widest(&traced) * 1.5 < widest(&bounded), "{speed} px/frame: traced {traced:?}, bounded {bounded:?}");
        if speed == 0.0 {
            let narrowest = traced.iter().copied().fold(f32::INFINITY, f32::min);
            assert!(widest(&traced) - narrowest < 0.5, "a still face flickers: {traced:?}");
        }
    }
}

/// A face walked towards, 3 % larger every frame, centred where it was
/// (its picture grows with it): followed by its picture at its size on each
/// frame, it is blurred where it was found, narrower than its room to stray.
#[test]
fn an_approaching_face_is_followed_by_its_picture_as_it_grows() {
    let truth = |i: u32| {
        let side = 40.0 * 1.03_f32.powi(i as i32);
        vec![face(140.0 - side / 2.0, 110.0 - side / 2.0, side)]
    };
    let widest = |trace_followed_faces: bool| {
        let mut rig = rig(Box::new(truth), 250_000_000, &[], &[], BlurConfig { trace_followed_faces, ..config() });
        let released = run_frames(&mut rig.stage, |i| showing(&truth(i), i), 9);
        assert_eq!(rig.runs.lock().unwrap().clone(), vec![0, 8], "detections must come 8 frames apart");
        assert_faces_covered(&released, truth, (W, H));
        released[1..].iter().map(|f| 2.0 * f.blur.regions[0].rx).fold(0.0, f32::max)
    };
    let (traced, bounded) = (widest(true), widest(false));
    assert!(traced * 1.2 < bounded, "traced: {traced} px wide; bounded: {bounded} px");
}

/// A face walked towards that comes into view after a detection: followed
/// back by its picture as it shrinks, it is blurred on every held frame at
/// no less than its region on the detection frame (the size a match was
/// found at may drift on a smooth face).
#[test]
fn a_newly_found_approaching_face_is_blurred_at_least_at_its_detected_size() {
    let truth = |i: u32| {
        let side = 40.0 * 1.03_f32.powi(i as i32);
        if i >= 1 {
            vec![face(140.0 - side / 2.0, 110.0 - side / 2.0, side)]
        } else {
            Vec::new()
        }
    };
    let mut rig = rig(Box::new(truth), 250_000_000, &[], &[], config());
    let released = run_frames(&mut rig.stage, |i| showing(&truth(i), i), 9);
    assert_eq!(rig.runs.lock().unwrap().clone(), vec![0, 8], "detections must come 8 frames apart");
    assert_faces_covered(&released, truth, (W, H));
    let detected = widest_region(&released[8]);
    let held: Vec<f32> = released[1..8].iter().map(widest_region).collect();
    assert!(held.iter().all(|&w| w >= detected - 0.01), "held {held:?}, detection frame {detected}");
    assert!(held.iter().any(|&w| w < detected * 1.5), "never followed by its picture: {held:?}");
}

/// The zig-zag of the test above, with the face shown in the frames: it is
/// followed by its picture and covered on every frame with no dilation or
/// margin, in a region narrower than its room to stray.
#[test]
fn a_zigzagging_face_shown_in_the_frames_is_followed_by_its_picture() {
    let zig = |i: u32| [0.0, 7.0, 14.0, 7.0][i as usize % 4];
    let truth = move |i: u32| vec![face(100.0 + zig(i), 100.0, 40.0)];
    let widest = |trace_followed_faces: bool| {
        let bare = BlurConfig { dilation: 1.0, margin_px: 0.0, trace_followed_faces, ..config() };
        let mut rig = rig(Box::new(truth), 110_000_000, &[], &[], bare);
        let released = run_frames(&mut rig.stage, |i| showing(&truth(i), i), 24);
        assert_eq!(rig.stage.detection_interval(), 4);
        assert_faces_covered(&released, truth, (W, H));
        released[8..].iter().flat_map(|f| f.blur.regions.iter().map(|r| 2.0 * r.rx)).fold(0.0, f32::max)
    };
    let (traced, bounded) = (widest(true), widest(false));
    assert!(traced + 12.0 <= bounded, "traced: {traced} px wide; bounded: {bounded} px");
}

/// Two faces with the same picture side by side: B from the start, A from
/// frame 1, found at the detection on frame 8. On frames 3 and 4 A's
/// picture is hidden (a flat patch) while A is there, so the only match
/// within A's reach is B's picture: refused, as it lies on B's region, A
/// keeps its reach there and stays covered.
#[test]
fn a_match_on_a_neighbour_that_looks_alike_is_refused() {
    let (a, b) = (face(100.0, 80.0, 40.0), face(144.0, 80.0, 40.0));
    let truth = move |i: u32| if i >= 1 { vec![a, b] } else { vec![b] };
    let frame = hidden_on(truth, a, &[3, 4]);
    let mut rig = rig(Box::new(truth), 250_000_000, &[], &[], config());
    let released = run_frames(&mut rig.stage, &frame, 9);
    assert_eq!(rig.runs.lock().unwrap().clone(), vec![0, 8], "detections must come 8 frames apart");
    assert_faces_covered(&released, truth, (W, H));
}

/// The same still face, its picture unmatchable on frame 4 (a flat patch
/// stands in for it): not found on every held frame, it keeps its room to
/// stray on all of them and on the detection frame, one size throughout.
#[test]
fn a_followed_face_lost_on_one_frame_keeps_its_room_to_stray_for_the_interval() {
    let at = face(60.0, 80.0, 40.0);
    let truth = move |_: u32| vec![at];
    let frame = hidden_on(truth, at, &[4]);
    let widths = |trace_followed_faces: bool| {
        let mut rig = rig(Box::new(truth), 250_000_000, &[], &[], BlurConfig { trace_followed_faces, ..config() });
        let released = run_frames(&mut rig.stage, &frame, 9);
        assert_faces_covered(&released, truth, (W, H));
        released[1..].iter().map(|f| 2.0 * f.blur.regions[0].rx).collect::<Vec<f32>>()
    };
    assert_eq!(widths(true), widths(false));
}

/// [`input`] with a face's picture (a textured patch unlike the
/// background, fixed to the face) in each of `faces`.
fn showing(faces: &[FaceBox], index: u32) -> I420Image {
    drawn(input(index), faces, index)
}

/// The frames [`showing`] the faces of `truth`, with `hidden`'s picture
/// [`flattened`] on the frames `on`.
fn hidden_on(truth: impl Fn(u32) -> Vec<FaceBox>, hidden: FaceBox, on: &'static [u32]) -> impl Fn(u32) -> I420Image {
    move |i| {
        let image = showing(&truth(i), i);
        if on.contains(&i) {
            flattened(image, &hidden)
        } else {
            image
        }
    }
}

/// The width of the widest region blurred on `frame`.
fn widest_region(frame: &ReleasedFrame<u32>) -> f32 {
    frame.blur.regions.iter().map(|r| 2.0 * r.rx).fold(0.0, f32::max)
}

/// `image` with the face `f`'s pixels flat grey: a picture no match finds.
fn flattened(mut image: I420Image, f: &FaceBox) -> I420Image {
    let (x0, x1) = (f.x as usize, (f.x + f.width) as usize);
    for y in f.y as u32..(f.y + f.height) as u32 {
        image.data[(y * image.width) as usize..][x0..x1].fill(128);
    }
    image
}

/// `image` with a face's picture in each of `faces`, numbered `index`.
fn drawn(mut image: I420Image, faces: &[FaceBox], index: u32) -> I420Image {
    let (w, h) = (image.width, image.height);
    for f in faces {
        let (x0, y0) = (f.x.max(0.0) as u32, f.y.max(0.0) as u32);
        let (x1, y1) = (((f.x + f.width) as u32).min(w), ((f.y + f.height) as u32).min(h));
        for y in y0..y1 {
            for x in x0..x1 {
                // Stripes and rings in the face's own coordinates, scaled
                // with it (as drawn 40 px wide).
                let scale = 40.0 / f.width;
                let (u, v) = ((x as f32 - f.x) * scale, (y as f32 - f.y) * scale);
                let shade =
                    128.0 + 60.0 * (u * 0.7).sin() * (v * 0.45).cos() + 30.0 * ((u * u + v * v).sqrt() * 0.5).sin();
                image.data[(y * w + x) as usize] = shade as u8;
            }
        }
    }
    image.data[..4].copy_from_slice(&index.to_le_bytes());
    image
}

#[test]
fn a_moving_face_is_covered_on_every_frame_between_detections() {
    let truth = |i: u32| vec![face(10.0 + 12.0 * i as f32, 60.0 + 3.0 * i as f32, 48.0)];
    let mut rig = rig(Box::new(truth), 110_000_000, &[], &[], config());
    for frame in run(&mut rig.stage, 20) {
        assert!(covered(&truth(frame.tag)[0], &frame.blur.regions), "frame {}: {:?}", frame.tag, frame.blur.regions);
    }
    assert_eq!(rig.stage.detection_interval(), 4);
}

#[test]
fn a_face_the_detector_misses_for_a_few_frames_stays_blurred() {
    let truth = |i: u32| vec![face(40.0 + 4.0 * i as f32, 50.0, 60.0)];
    let missed: Vec<u32> = (10..16).collect();
    let mut rig = rig(Box::new(truth), 10_000_000, &missed, &[], config());
    for frame in run(&mut rig.stage, 24) {
        assert!(covered(&truth(frame.tag)[0], &frame.blur.regions), "frame {}: {:?}", frame.tag, frame.blur.regions);
    }
    assert!(missed.iter().all(|i| rig.runs.lock().unwrap().contains(i)), "the misses must be real detector runs");
}

#[test]
fn a_face_that_stops_while_the_detector_misses_it_stays_blurred_as_its_track_coasts_on() {
    // Walking right at 6 px a frame, it stops on frame 10 just as the
    // detector loses it for eight frames: its track coasts on at 6 px a
    // frame, 42 px past the face by the last miss (its region's ellipse
    // covers 19 px of that). Detected on every frame (each is a detection
    // frame), and on every 4th (frames held between).
    let truth = |i: u32| vec![face(40.0 + 6.0 * i.min(10) as f32, 50.0, 60.0)];
    let missed: Vec<u32> = (10..18).collect();
    for (cost_ns, interval) in [(10_000_000, 1), (110_000_000, 4)] {
        let mut rig = rig(Box::new(truth), cost_ns, &missed, &[], config());
        for frame in run(&mut rig.stage, 24) {
            let regions = &frame.blur.regions;
            assert!(covered(&truth(frame.tag)[0], regions), "k = {interval}, frame {}: {regions:?}", frame.tag);
        }
        assert_eq!(rig.stage.detection_interval(), interval);
        assert!(rig.runs.lock().unwrap().iter().filter(|i| missed.contains(i)).count() >= 2, "no misses ran");
    }
}

#[test]
fn a_detector_error_fails_the_frames_it_should_have_covered_closed_and_detection_resumes() {
    let truth = |_| vec![face(100.0, 80.0, 50.0)];
    // Every other frame is detected (40 ms); the run on frame 10 fails.
    let mut rig = rig(Box::new(truth), 40_000_000, &[], &[10], config());
    let released = run(&mut rig.stage, 20);
    let failed: Vec<u32> = released.iter().filter(|f| f.blur.failed_closed.is_some()).map(|f| f.tag).collect();
    assert_eq!(failed, vec![9, 10]);
    for frame in &released {
        let image = frame.image.as_ref().unwrap();
        if failed.contains(&frame.tag) {
            assert_eq!(frame.blur.failed_closed, Some(FailCause::DetectorFailed));
            assert!(frame.blur.regions.is_empty());
            // Obscured whole: even a corner far from the face changed.
            assert_ne!(image.data[W as usize * 200 + 300], input(frame.tag).data[W as usize * 200 + 300]);
        } else {
            assert!(covered(&truth(frame.tag)[0], &frame.blur.regions), "frame {}", frame.tag);
        }
    }
    // Retried on the very next frame.
    assert!(rig.runs.lock().unwrap().contains(&11));
}

#[test]
fn falling_behind_the_budget_fails_frames_closed_until_caught_up() {
    let truth = |_| vec![face(100.0, 80.0, 50.0)];
    let mut rig = rig(Box::new(truth), 10_000_000, &[], &[], config());
    // From frame 10 on, detection takes 2 s (a phone throttling hard), then
    // recovers from frame 40.
    rig.cost_ns.lock().unwrap().extend([(10, 2_000_000_000), (40, 10_000_000)]);
    let released = run(&mut rig.stage, 120);
    let over: Vec<u32> =
        released.iter().filter(|f| f.blur.failed_closed == Some(FailCause::OverBudget)).map(|f| f.tag).collect();
    // Frame 10 took 2 s: 1.97 s behind, paid back at 33 ms per failed frame.
    assert_eq!(over.first(), Some(&11), "{over:?}");
    assert!(over.len() >= 55 && over.len() <= 62, "{} frames failed closed: {over:?}", over.len());
    assert!(over.windows(2).all(|w| w[1] == w[0] + 1), "one run of failed frames: {over:?}");
    // The detector did not run while the stage was behind, and runs after.
    let runs = rig.runs.lock().unwrap().clone();
    assert!(runs.iter().all(|r| !over.contains(r)), "{runs:?}");
    let last = *over.last().unwrap();
    assert!(runs.iter().any(|&r| r > last));
    for frame in released.iter().filter(|f| f.blur.failed_closed.is_none()) {
        assert!(covered(&truth(frame.tag)[0], &frame.blur.regions), "frame {}", frame.tag);
    }
}

#[test]
fn in_drop_mode_failed_frames_come_back_without_a_picture() {
    let config = BlurConfig { fail_closed: FailClosedMode::Drop, ..config() };
    let mut rig = rig(Box::new(|_| Vec::new()), 10_000_000, &[], &[3], config);
    let released = run(&mut rig.stage, 6);
    let dropped: Vec<u32> = released.iter().filter(|f| f.image.is_none()).map(|f| f.tag).collect();
    assert_eq!(dropped, vec![3]);
    assert_eq!(released[3].blur.failed_closed, Some(FailCause::DetectorFailed));
}

#[test]
fn a_panicking_detector_fails_closed_instead_of_taking_the_session_down() {
    struct Panics;
    impl FaceDetector for Panics {
        fn detect(&mut self, _: &I420Image) -> Result<Vec<FaceBox>, DetectError> {
            panic!("inside the model")
        }
        fn model_name(&self) -> &str {
            "panics"
        }
        fn model_sha256(&self) -> &str {
            "00"
        }
    }
    let mut stage = BlurStage::new(Box::new(Panics), config(), Arc::new(FakeClock::default())).unwrap();
    let released = run(&mut stage, 3);
    assert!(released.iter().all(|f| f.blur.failed_closed == Some(FailCause::DetectorFailed)));
}

#[test]
fn rejects_configs_that_could_leak_or_stall() {
    let detector = || -> Box<dyn FaceDetector> {
        Box::new(ScriptedDetector {
            truth: Box::new(|_| Vec::new()),
            missed: HashSet::new(),
            failing: HashSet::new(),
            cost_ns: Arc::default(),
            clock: Arc::default(),
            runs: Arc::default(),
        })
    };
    let clock: Arc<dyn BudgetClock> = Arc::new(FakeClock::default());
    for bad in [
        BlurConfig { dilation: 0.9, ..config() },
        BlurConfig { margin_px: f32::NAN, ..config() },
        BlurConfig { max_detection_interval: 0, ..config() },
        BlurConfig { frame_budget_ns: Some(0), ..config() },
        BlurConfig { face_motion_px_per_frame: 0.0, ..config() },
        BlurConfig { face_motion_share_per_frame: -0.1, ..config() },
        BlurConfig { face_deviation_share_per_frame: f32::INFINITY, ..config() },
        BlurConfig { max_motion_px_per_frame: 2.0, ..config() },
    ] {
        assert!(BlurStage::<u32>::new(detector(), bad, clock.clone()).is_err(), "{bad:?}");
    }
}

/// The camera pans: the 720p picture moves 64 px a frame to the left, and
/// with it a bystander standing still, 24 px wide, who appears three
/// frames before a detection (a door opens). The stage measures the pan
/// and follows the face back along it: the face's own reach (about 22 px a
/// frame) alone would lose it, and the fastest turn's reach (80 px a frame,
/// used when motion is not measured) covers far more than the face.
#[test]
fn a_face_appearing_during_a_pan_is_followed_back_along_the_measured_motion() {
    let (w, h) = (1280u32, 720u32);
    let world_width = 1900;
    let world = crate::blur::motion::test_scene::scene(world_width, h as usize);
    let pan = |i: u32| camera_view(&world, world_width, 64 * i as usize, i);
    let truth = |i: u32| if i >= 5 { vec![face(900.0 - 64.0 * (i - 5) as f32, 300.0, 24.0)] } else { Vec::new() };
    let widest_before_found = |config: BlurConfig| {
        let mut rig = rig(Box::new(truth), 110_000_000, &[], &[], config);
        let released = run_frames(&mut rig.stage, pan, 9);
        let runs = rig.runs.lock().unwrap().clone();
        let first_seen = *runs.iter().find(|&&r| r >= 5).unwrap();
        assert_eq!(first_seen, 8, "the face must appear three frames before a detection: {runs:?}");
        assert_faces_covered(&released, truth, (w, h));
        let before_found = released.iter().filter(|f| (5..first_seen).contains(&f.tag));
        before_found.flat_map(|f| f.blur.regions.iter().map(|r| 2.0 * r.rx)).fold(0.0, f32::max)
    };
    let followed = widest_before_found(config());
    let unmeasured = widest_before_found(BlurConfig { measure_camera_motion: false, ..config() });
    assert!(followed < unmeasured / 2.0, "followed back: {followed} px wide; within the fastest turn: {unmeasured} px");
}

/// The 720p view of `world` (a test scene 720 rows high) from column `x`,
/// numbered `i`.
fn camera_view(world: &[u8], world_width: usize, x: usize, i: u32) -> I420Image {
    let (w, h) = (1280, 720);
    let luma = crate::blur::motion::test_scene::view(world, world_width, x, 0, w, h);
    let mut image = I420Image::grey(w as u32, h as u32);
    image.data[..luma.len()].copy_from_slice(&luma);
    image.data[..4].copy_from_slice(&i.to_le_bytes());
    image
}

/// The worker glances aside and partly back between two detections (40 px
/// a frame for four frames, then 20 px a frame back): a bystander standing
/// still is 80 px apart at the two detections but 160 px off midway. The
/// stage follows the camera's measured path, and its track with it (with
/// 1 px a frame of room for the face's own straying, so an error in the
/// path shows). Without the measurement the track is lost (80 px for a
/// 40-px face) and the face is covered as a new one, within the fastest
/// turn's reach: far wider.
#[test]
fn a_face_seen_at_both_detections_is_followed_through_a_glance_aside() {
    let world_width = 1600;
    let world = crate::blur::motion::test_scene::scene(world_width, 720);
    let glance = |i: u32| if i <= 4 { 40 * i } else { 160 - 20 * (i - 4) } as usize;
    let frame = |i: u32| camera_view(&world, world_width, 100 + glance(i), i);
    let truth = move |i: u32| vec![face(900.0 - glance(i) as f32, 300.0, 40.0)];
    let widest_between = |config: BlurConfig| {
        let config = BlurConfig { max_deviation_px_per_frame: 1.0, ..config };
        let mut rig = rig(Box::new(truth), 260_000_000, &[], &[], config);
        let released = run_frames(&mut rig.stage, frame, 9);
        assert_eq!(rig.runs.lock().unwrap().clone(), vec![0, 8], "detections must come 8 frames apart");
        assert_faces_covered(&released, truth, (1280, 720));
        let between = released.iter().filter(|f| (1..8).contains(&f.tag));
        between.flat_map(|f| f.blur.regions.iter().map(|r| 2.0 * r.rx)).fold(0.0, f32::max)
    };
    let followed = widest_between(config());
    let unmeasured = widest_between(BlurConfig { measure_camera_motion: false, ..config() });
    assert!(followed < unmeasured / 3.0, "followed: {followed} px wide; unmeasured: {unmeasured} px");
    // The scene is too smooth for a face's box to hold a picture to follow,
    // so that was the room to stray. With the face drawn in, it is followed
    // by its picture, each search moved along the camera's path (40 px a
    // frame, eight times the room to stray a frame): narrower still.
    let shown = |i: u32| drawn(frame(i), &truth(i), i);
    let widest_shown = |trace_followed_faces: bool| {
        let config = BlurConfig { max_deviation_px_per_frame: 1.0, trace_followed_faces, ..config() };
        let mut rig = rig(Box::new(truth), 260_000_000, &[], &[], config);
        let released = run_frames(&mut rig.stage, shown, 9);
        assert_faces_covered(&released, truth, (1280, 720));
        let between = released.iter().filter(|f| (1..8).contains(&f.tag));
        between.flat_map(|f| f.blur.regions.iter().map(|r| 2.0 * r.rx)).fold(0.0, f32::max)
    };
    let (traced, untraced) = (widest_shown(true), widest_shown(false));
    assert!(traced + 20.0 < untraced, "traced: {traced} px wide; untraced: {untraced} px");
}

/// On flat frames the motion cannot be measured: a face appearing between
/// detections and moving 60 px a frame (far beyond its own reach) is still
/// covered, by the fastest head turn's reach.
#[test]
fn where_the_motion_cannot_be_measured_the_fastest_turn_is_assumed() {
    let truth = |i: u32| if i >= 5 { vec![face(20.0 + 60.0 * (i - 5) as f32, 100.0, 24.0)] } else { Vec::new() };
    let mut rig = rig(Box::new(truth), 110_000_000, &[], &[], config());
    let released = run_frames(&mut rig.stage, flat, 9);
    let runs = rig.runs.lock().unwrap().clone();
    assert!(!runs.contains(&5) && !runs.contains(&6), "the face must appear between detections: {runs:?}");
    assert_faces_covered(&released, truth, (W, H));
}

#[path = "stage_follow_tests.rs"]
mod follow_lost;
