//! `egocap record` and `egocap demo`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use egocap_core::clock::ClockDomain;
use egocap_core::clock::SystemClock;
use egocap_core::frame::FrameFormat;
use egocap_core::imu::Rotation3;
use egocap_core::sealer::{SealingSetup, SealingSink};
use egocap_core::session::{EncoderChoice, RecordingSession, SessionConfig, SessionSummary, StartOptions};
use egocap_core::sink::{PlaintextDirSink, SegmentSink, WriteStepHook};
use egocap_core::upload::storage::{StorageLimits, StorageRefusal};

use crate::blur::{face_blur, BlurArgs};
use crate::keys::load_sealing_keys;
use egocap_core::source::synthetic::{SyntheticConfig, SyntheticSource};
use egocap_core::source::y4m::Y4mSource;
use egocap_core::source::{FrameSource, Pacing, SourceItem};

#[derive(Args, Debug, Clone)]
pub struct RecordArgs {
    /// `synthetic[:SEED]`, `y4m:PATH` or `camera`.
    #[arg(long, default_value = "synthetic")]
    pub source: String,
    /// How much to record, in media time: `20s`, `1500ms`, `5m`.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Parent directory; segments go to OUT/<session-id>/.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 5.0)]
    pub segment_seconds: f64,
    /// Synthetic source size and rate.
    #[arg(long, default_value_t = 1280)]
    pub width: u32,
    #[arg(long, default_value_t = 720)]
    pub height: u32,
    #[arg(long, default_value_t = 30)]
    pub fps: u32,
    #[arg(long, default_value_t = 4_000_000)]
    pub bitrate: u32,
    /// Keyframe interval in frames (segments always start with one).
    #[arg(long, default_value_t = 60)]
    pub keyframe_interval: u32,
    /// Display rotation written into the video track: 0, 90, 180, 270.
    #[arg(long, default_value_t = 0)]
    pub rotation: u16,
    /// IMU-to-camera rotation, 9 numbers row-major (e.g. `0,-1,0,1,0,0,0,0,1`).
    #[arg(long, value_parser = parse_rotation)]
    pub imu_to_camera: Option<Rotation3>,
    /// No progress line.
    #[arg(long)]
    pub quiet: bool,
    /// Key directory from `egocap keygen`: segments are sealed to its recipient set.
    #[arg(long)]
    pub keys: Option<PathBuf>,
    /// Consent record from `egocap consent give`; recording refuses to start without one.
    #[arg(long)]
    pub consent: Option<PathBuf>,
    /// Write unencrypted MP4 instead of sealing (desktop only; warns).
    #[arg(long, conflicts_with_all = ["keys", "consent"])]
    pub plaintext: bool,
    #[command(flatten)]
    pub blur: BlurArgs,
    /// Megabytes the session files under OUT may take; recording refuses to
    /// start at the quota, and stops cleanly when it reaches it.
    #[arg(long, default_value_t = 20_480.0)]
    pub quota_mb: f64,
    /// Megabytes that must stay free on OUT's volume (same rule).
    #[arg(long, default_value_t = 2_048.0)]
    pub free_floor_mb: f64,
}

impl RecordArgs {
    fn storage_limits(&self) -> Result<StorageLimits> {
        let bytes = |mb: f64, name: &str| {
            if mb.is_finite() && mb >= 0.0 {
                Ok((mb * 1e6) as u64)
            } else {
                bail!("--{name} must be a non-negative number of megabytes")
            }
        };
        Ok(StorageLimits {
            quota_bytes: bytes(self.quota_mb, "quota-mb")?,
            free_space_floor_bytes: bytes(self.free_floor_mb, "free-floor-mb")?,
        })
    }
}

pub fn parse_rotation(text: &str) -> Result<Rotation3, String> {
    let values: Vec<f64> = text
        .split(',')
        .map(|v| v.trim().parse::<f64>().map_err(|_| format!("not a number: {v:?}")))
        .collect::<Result<_, _>>()?;
    let [a, b, c, d, e, f, g, h, i] = values.as_slice() else {
        return Err(format!("a rotation needs 9 numbers, got {}", values.len()));
    };
    Ok(Rotation3([[*a, *b, *c], [*d, *e, *f], [*g, *h, *i]]))
}

pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| format!("not a duration: {text:?} (try 20s, 1500ms, 5m)"))?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        _ => return Err(format!("unknown unit {unit:?} in {text:?} (use ms, s or m)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text:?}: {e}"))
}

/// What a finished recording produced.
pub struct Recorded {
    pub dir: PathBuf,
    pub summary: SessionSummary,
    pub wall: Duration,
}

pub fn open_source(args: &RecordArgs) -> Result<Box<dyn FrameSource>> {
    let spec = args.source.as_str();
    if spec == "camera" {
        return open_camera();
    }
    if let Some(path) = spec.strip_prefix("y4m:") {
        return Ok(Box::new(Y4mSource::open(path)?));
    }
    let seed = match spec.strip_prefix("synthetic") {
        Some("") => 1,
        Some(rest) => rest.strip_prefix(':').and_then(|s| s.parse().ok()).context("synthetic seed must be a number")?,
        None => bail!("unknown source {spec:?}: use synthetic[:SEED], y4m:PATH or camera"),
    };
    let frame_count = (args.duration.as_secs_f64() * f64::from(args.fps)).ceil() as u64;
    let config = SyntheticConfig { seed, width: args.width, height: args.height, fps: args.fps, frame_count };
    Ok(Box::new(SyntheticSource::new(config)?))
}

#[cfg(feature = "camera")]
fn open_camera() -> Result<Box<dyn FrameSource>> {
    Ok(Box::new(egocap_core::source::camera::CameraSource::open_first()?))
}

#[cfg(not(feature = "camera"))]
fn open_camera() -> Result<Box<dyn FrameSource>> {
    Err(egocap_core::source::SourceError::CameraNotBuilt.into())
}

pub fn session_config(source: &dyn FrameSource, args: &RecordArgs) -> SessionConfig {
    let mut config = SessionConfig {
        frame_format: source.format(),
        frame_clock: source.frame_clock(),
        imu_clock: source.imu_clock(),
        nominal_fps: source.nominal_fps(),
        bitrate_bps: args.bitrate,
        keyframe_interval: args.keyframe_interval,
        segment_duration_ns: (args.segment_seconds * 1e9) as i64,
        ..SessionConfig::default()
    };
    config.geometry.display_rotation_degrees = args.rotation;
    config.geometry.imu_to_camera = args.imu_to_camera;
    config
}

pub fn run(args: &RecordArgs) -> Result<Recorded> {
    let limits = args.storage_limits()?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    limits.check(&args.out).context("recording refused to start")?;
    let mut source = open_source(args)?;
    let config = session_config(source.as_ref(), args);
    let session_id = egocap_core::session::new_session_id();
    // The model is checked before anything is written.
    let live = source.pacing() == Pacing::Live;
    let face_blur = face_blur(&args.blur, config.frame_format, live, !args.plaintext)?;
    let (sink, dir) = open_sink(args, &session_id, config.frame_clock)?;
    let options = StartOptions { clock: Arc::new(SystemClock), session_id, face_blur };
    let session = RecordingSession::start_with(config, EncoderChoice::OpenH264, sink, options)?;
    let started = Instant::now();
    let outcome = feed(&session, source.as_mut(), args, started, &limits);
    if !args.quiet {
        eprintln!();
    }
    let summary = session.stop().context("recording failed")?;
    if let Some(refusal) = outcome? {
        bail!("recording stopped early ({refusal}); every segment until then is sealed in {}", dir.display());
    }
    Ok(Recorded { dir, summary, wall: started.elapsed() })
}

/// The sealing sink, or plaintext when asked for explicitly.
fn open_sink(
    args: &RecordArgs,
    session_id: &str,
    clock_domain: ClockDomain,
) -> Result<(Box<dyn SegmentSink>, PathBuf)> {
    let hook = kill_hook_from_env()?;
    if args.plaintext {
        eprintln!("egocap: WARNING: --plaintext writes unencrypted video to disk; use it only on a desktop");
        let mut sink = PlaintextDirSink::create(&args.out, session_id)?;
        if let Some(hook) = hook {
            sink = sink.with_hook(hook);
        }
        let dir = sink.dir().to_path_buf();
        return Ok((Box::new(sink), dir));
    }
    let (Some(keys_dir), Some(consent)) = (&args.keys, &args.consent) else {
        bail!(
            "record seals every segment: give --keys DIR (from `egocap keygen`) and --consent FILE (from \
             `egocap consent give`), or --plaintext for unencrypted desktop output"
        );
    };
    let keys = load_sealing_keys(keys_dir, consent)?;
    let setup = SealingSetup {
        keystore: Arc::new(keys.device),
        device_registration: keys.registration,
        recipients: keys.recipients,
        consent: keys.consent,
        clock_domain,
    };
    let mut sink = SealingSink::create(&args.out, session_id, setup)?;
    if let Some(hook) = hook {
        sink = sink.with_hook(hook);
    }
    let dir = sink.dir().to_path_buf();
    Ok((Box::new(sink), dir))
}

/// Feeds the source until its end or the duration; stops early, and says
/// why, when the storage limits are reached (checked once a media second).
fn feed(
    session: &RecordingSession,
    source: &mut dyn FrameSource,
    args: &RecordArgs,
    started: Instant,
    limits: &StorageLimits,
) -> Result<Option<StorageRefusal>> {
    let limit_ns = i64::try_from(args.duration.as_nanos()).unwrap_or(i64::MAX);
    let wait = source.pacing() == Pacing::PushBack;
    let format = source.format();
    let mut first_ns = None;
    let mut last_progress = Instant::now();
    let mut last_storage_check_ns = None;
    while let Some(item) = source.next_item()? {
        let first = *first_ns.get_or_insert(item.timestamp_ns);
        if item.timestamp_ns - first >= limit_ns {
            break;
        }
        if item.timestamp_ns - *last_storage_check_ns.get_or_insert(first) >= 1_000_000_000 {
            last_storage_check_ns = Some(item.timestamp_ns);
            if let Err(refusal) = limits.check(&args.out) {
                log::warn!("stopping the recording: {refusal}");
                return Ok(Some(refusal));
            }
        }
        push_item(session, &item, format, wait)?;
        if !args.quiet && last_progress.elapsed() >= Duration::from_millis(500) {
            last_progress = Instant::now();
            print_progress(session, started);
        }
    }
    if !args.quiet {
        print_progress(session, started);
    }
    Ok(None)
}

/// Pushes one source item the way a host app would: IMU batch, then the frame.
pub fn push_item(session: &RecordingSession, item: &SourceItem, format: FrameFormat, wait: bool) -> Result<()> {
    if !item.imu.is_empty() {
        session.push_imu(&item.imu)?;
    }
    let frame = item.image.as_frame(item.timestamp_ns, format.range, format.matrix);
    if wait {
        session.push_frame_waiting(&frame)?;
    } else {
        session.push_frame(&frame)?;
    }
    Ok(())
}

fn print_progress(session: &RecordingSession, started: Instant) {
    let stats = session.stats();
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    eprint!(
        "\rframes {:>6} | {:>6.1} fps | segments {:>3} | dropped {:>4}",
        stats.frames_encoded,
        stats.frames_encoded as f64 / secs,
        stats.segments_written,
        stats.frames_dropped
    );
}

pub fn report(recorded: &Recorded) {
    let s = &recorded.summary;
    println!(
        "recorded {} frames ({} dropped) and {} IMU samples into {} segments in {:.1} s",
        s.frames_encoded,
        s.dropped_frames.len(),
        s.imu_samples_written,
        s.segments.len(),
        recorded.wall.as_secs_f64()
    );
    println!("segments: {}", recorded.dir.display());
    for segment in &s.segments {
        println!(
            "  {}  {:.2} s  {} frames  {} IMU samples  {} kbit/s",
            segment.file,
            (segment.end_ns - segment.start_ns) as f64 / 1e9,
            segment.frame_count,
            segment.imu_sample_count,
            segment.video_bitrate_bps / 1000
        );
        match &segment.blur {
            Some(b) => println!(
                "      faces: {} found, {} frames blurred, {} failed closed ({} dropped)",
                b.faces_found, b.frames_blurred, b.frames_failed_closed, b.frames_dropped_failed_closed
            ),
            None => println!("      faces: NOT blurred"),
        }
    }
    if let Some(first) = s.segments.first() {
        let plain = recorded.dir.join(&first.file);
        if plain.exists() {
            println!("play one:  ffplay {}", plain.display());
        } else {
            let sealed = recorded.dir.join(format!("{}.age", first.file));
            println!("play one:  age -d -i KEYS/recipient.age {} | ffplay -", sealed.display());
        }
    }
}

/// Test hook: `EGOCAP_TEST_KILL_AT=after_write|after_fsync|after_rename:N`
/// kills this process with SIGKILL at that step of the N-th file written
/// (counting from 0), so crash tests reach the instants between the steps.
/// Debug builds only: a release binary never dies on an environment variable.
#[cfg(not(debug_assertions))]
fn kill_hook_from_env() -> Result<Option<WriteStepHook>> {
    Ok(None)
}

#[cfg(debug_assertions)]
fn kill_hook_from_env() -> Result<Option<WriteStepHook>> {
    use egocap_core::sink::WriteStep;
    let Ok(spec) = std::env::var("EGOCAP_TEST_KILL_AT") else { return Ok(None) };
    let (step, index) = spec.split_once(':').unwrap_or((spec.as_str(), "0"));
    let step = match step {
        "after_write" => WriteStep::AfterWrite,
        "after_fsync" => WriteStep::AfterFsync,
        "after_rename" => WriteStep::AfterRename,
        other => bail!("EGOCAP_TEST_KILL_AT: unknown step {other:?}"),
    };
    let target: usize = index.parse().context("EGOCAP_TEST_KILL_AT: file index must be a number")?;
    let seen = std::sync::atomic::AtomicUsize::new(0);
    Ok(Some(Box::new(move |_path, at| {
        if at == step && seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == target {
            let me = std::process::id().to_string();
            let _ = std::process::Command::new("kill").args(["-KILL", &me]).status();
            std::thread::sleep(Duration::from_secs(10));
        }
    })))
}
