//! `egocap bench`: the figures the README quotes, measured in one run.
//!
//! - pipeline throughput (push → convert → encode → segment → write) beside
//!   bare OpenH264 on the same frames;
//! - achieved bitrate against the target;
//! - resident memory over a long recording, sampled each media minute;
//! - the share of pipeline CPU spent on signing and sealing.
//!
//! Run it pinned to one core (`taskset -c 0 egocap bench`) for the
//! one-core figures; it prints how many cores it may use.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use egocap_core::clock::ClockDomain;
use egocap_core::encoder::{OpenH264Encoder, VideoEncoder};
use egocap_core::frame::FrameFormat;
use egocap_core::session::{EncoderChoice, RecordingSession, SessionConfig};
use egocap_core::sink::PlaintextDirSink;
use egocap_core::source::synthetic::{SyntheticConfig, SyntheticSource};
use egocap_core::source::y4m::Y4mSource;
use egocap_core::source::{FrameSource, SourceItem};

use crate::record::push_item;

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: Option<BenchWhat>,
    /// Frames per throughput run.
    #[arg(long, default_value_t = 600)]
    frames: u64,
    #[arg(long, default_value_t = 1280)]
    width: u32,
    #[arg(long, default_value_t = 720)]
    height: u32,
    #[arg(long, default_value_t = 4_000_000)]
    bitrate: u32,
    /// Media minutes of the memory run (0 skips it).
    #[arg(long, default_value_t = 5)]
    memory_minutes: u64,
    /// A real clip (Y4M) to measure beside the synthetic one.
    #[arg(long)]
    y4m: Option<PathBuf>,
    /// Only the memory run (the bench runs it in a child process so the
    /// frames preloaded for throughput do not count).
    #[arg(long, hide = true)]
    memory_only: bool,
}

#[derive(clap::Subcommand, Debug)]
enum BenchWhat {
    /// Face blurring on a test clip (see scripts/bench-blur.sh).
    Blur(crate::bench_blur::BlurBenchArgs),
    /// Upload throughput and CPU per MB (see scripts/bench-upload.sh).
    Upload(crate::bench_upload::UploadBenchArgs),
}

pub fn run(args: &BenchArgs) -> Result<()> {
    match &args.what {
        Some(BenchWhat::Blur(blur)) => return crate::bench_blur::run(blur),
        Some(BenchWhat::Upload(upload)) => return crate::bench_upload::run(upload),
        None => {}
    }
    if args.memory_only {
        return memory(args);
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("egocap bench: {}x{}, target {} bit/s, {} usable core(s)", args.width, args.height, args.bitrate, cores);
    let synthetic = synthetic_source(args, args.frames)?;
    let traits = SourceTraits::of(synthetic.as_ref());
    let frames = preload(synthetic, args.frames)?;
    throughput("synthetic", &frames, traits, args)?;
    let out = tempfile_dir("sealing")?;
    crate::bench_sealing::sealing_share(&frames, &session_config(traits, args), &out)?;
    let _ = std::fs::remove_dir_all(&out);
    if let Some(path) = &args.y4m {
        let clip = Y4mSource::open(path)?;
        let traits = SourceTraits::of(&clip);
        let frames = preload(Box::new(clip), args.frames)?;
        throughput(&format!("clip {} at {} fps", path.display(), traits.fps), &frames, traits, args)?;
    }
    if args.memory_minutes > 0 {
        memory_in_child(args)?;
    }
    Ok(())
}

fn memory_in_child(args: &BenchArgs) -> Result<()> {
    let exe = std::env::current_exe().context("finding the egocap binary")?;
    let status = std::process::Command::new(exe)
        .args(["bench", "--memory-only", "--memory-minutes", &args.memory_minutes.to_string()])
        .args(["--width", &args.width.to_string(), "--height", &args.height.to_string()])
        .args(["--bitrate", &args.bitrate.to_string()])
        .status()
        .context("starting the memory run")?;
    anyhow::ensure!(status.success(), "the memory run failed: {status}");
    Ok(())
}

fn synthetic_source(args: &BenchArgs, frame_count: u64) -> Result<Box<dyn FrameSource>> {
    let config = SyntheticConfig { seed: 7, width: args.width, height: args.height, fps: 30, frame_count };
    Ok(Box::new(SyntheticSource::new(config)?))
}

/// Renders the frames up front so neither run pays for generating them.
fn preload(mut source: Box<dyn FrameSource>, count: u64) -> Result<Vec<SourceItem>> {
    let mut items = Vec::new();
    while (items.len() as u64) < count {
        match source.next_item()? {
            Some(item) => items.push(item),
            None => break,
        }
    }
    anyhow::ensure!(!items.is_empty(), "the source gave no frames");
    Ok(items)
}

/// What a session needs to know of a source, kept after the source is consumed.
#[derive(Clone, Copy)]
struct SourceTraits {
    fps: f32,
    imu_clock: Option<ClockDomain>,
    format: FrameFormat,
}

impl SourceTraits {
    fn of(source: &dyn FrameSource) -> Self {
        Self { fps: source.nominal_fps(), imu_clock: source.imu_clock(), format: source.format() }
    }
}

fn session_config(source: SourceTraits, args: &BenchArgs) -> SessionConfig {
    SessionConfig {
        frame_format: source.format,
        bitrate_bps: args.bitrate,
        nominal_fps: source.fps,
        imu_clock: source.imu_clock,
        ..SessionConfig::default()
    }
}

fn throughput(label: &str, items: &[SourceItem], source: SourceTraits, args: &BenchArgs) -> Result<()> {
    let config = session_config(source, args);

    let bare_fps = bare_encode(items, &config)?;

    let out = tempfile_dir("throughput")?;
    let session_id = egocap_core::session::new_session_id();
    let sink = PlaintextDirSink::create(&out, &session_id)?;
    let session = RecordingSession::start(config, EncoderChoice::OpenH264, Box::new(sink))?;
    let started = Instant::now();
    for item in items {
        push_item(&session, item, source.format, true)?;
    }
    let summary = session.stop()?;
    let pipeline_secs = started.elapsed().as_secs_f64();
    let pipeline_fps = summary.frames_encoded as f64 / pipeline_secs;
    let video_bits: f64 =
        summary.segments.iter().map(|s| s.video_bitrate_bps as f64 * (s.end_ns - s.start_ns) as f64 / 1e9).sum();
    let media_secs: f64 = summary.segments.iter().map(|s| (s.end_ns - s.start_ns) as f64 / 1e9).sum();
    let achieved = video_bits / media_secs.max(1e-9);
    let _ = std::fs::remove_dir_all(&out);

    println!("[{label}] {} frames", items.len());
    println!("  bare OpenH264 encode : {bare_fps:7.1} fps");
    println!(
        "  whole pipeline       : {pipeline_fps:7.1} fps  ({:.0} % of bare; goal >= 60 fps and >= 70 %)",
        100.0 * pipeline_fps / bare_fps
    );
    println!(
        "  bitrate              : {:.0} kbit/s achieved vs {} kbit/s target ({:+.1} %; goal within 10 %)",
        achieved / 1000.0,
        args.bitrate / 1000,
        100.0 * (achieved - f64::from(args.bitrate)) / f64::from(args.bitrate)
    );
    Ok(())
}

fn bare_encode(items: &[SourceItem], config: &SessionConfig) -> Result<f64> {
    let mut encoder = OpenH264Encoder::new(egocap_core::session::encoder_settings(config))?;
    let started = Instant::now();
    for (i, item) in items.iter().enumerate() {
        let force = i == 0;
        encoder.encode(&item.image, item.timestamp_ns, force)?;
    }
    Ok(items.len() as f64 / started.elapsed().as_secs_f64())
}

fn memory(args: &BenchArgs) -> Result<()> {
    let fps = 30u64;
    let total = args.memory_minutes * 60 * fps;
    let mut source = synthetic_source(args, total)?;
    let format = source.format();
    let config = SessionConfig {
        frame_format: source.format(),
        frame_clock: source.frame_clock(),
        imu_clock: source.imu_clock(),
        bitrate_bps: args.bitrate,
        ..SessionConfig::default()
    };
    let out = tempfile_dir("memory")?;
    let sink = PlaintextDirSink::create(&out, &egocap_core::session::new_session_id())?;
    let session = RecordingSession::start(config, EncoderChoice::OpenH264, Box::new(sink))?;
    let started = Instant::now();
    let mut samples = Vec::new();
    let mut index = 0u64;
    while let Some(item) = source.next_item()? {
        push_item(&session, &item, format, true)?;
        index += 1;
        if index.is_multiple_of(60 * fps) {
            samples.push((index / (60 * fps), resident_kib("VmRSS")?));
        }
    }
    let summary = session.stop()?;
    let peak = resident_kib("VmHWM")?;
    let _ = std::fs::remove_dir_all(&out);
    println!(
        "[memory] {} media minutes of 720p30 + IMU, {} frames, {} segments in {:.0} s",
        args.memory_minutes,
        summary.frames_encoded,
        summary.segments.len(),
        started.elapsed().as_secs_f64()
    );
    for (minute, kib) in &samples {
        println!("  resident after minute {minute}: {:6.1} MB", *kib as f64 / 1024.0);
    }
    if let (Some((_, first)), Some((_, last))) = (samples.first(), samples.last()) {
        println!(
            "  change minute 1 -> {}: {:+.1} MB (goal: flat)",
            samples.len(),
            (*last as f64 - *first as f64) / 1024.0
        );
    }
    println!("  peak resident (VmHWM): {:.1} MB (goal <= 150 MB)", peak as f64 / 1024.0);
    Ok(())
}

fn resident_kib(field: &str) -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.trim_start_matches(':').split_whitespace().next()?.parse().ok())
        .with_context(|| format!("{field} not in /proc/self/status"))
}

fn tempfile_dir(what: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("egocap-bench-{what}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}
