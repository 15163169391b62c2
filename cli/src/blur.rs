//! Face blurring options shared by `record`, `demo` and `bench`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use egocap_core::blur::detector::{DetectorConfig, RetinaFaceDetector};
use egocap_core::blur::stage::FailClosedMode;
use egocap_core::frame::FrameFormat;
use egocap_core::session::FaceBlur;

#[derive(Args, Debug, Clone, Default)]
pub struct BlurArgs {
    /// Face detector model (ONNX). Default: $EGOCAP_FACE_MODEL, else
    /// target/models/retinaface-tiny.onnx (`bash scripts/fetch-face-model.sh` puts it there).
    #[arg(long)]
    pub face_model: Option<PathBuf>,
    /// Record faces unblurred (only with --plaintext, for desktop tests).
    #[arg(long, requires = "plaintext")]
    pub no_blur: bool,
    /// What happens to a frame detection cannot vouch for.
    #[arg(long, value_enum, default_value_t = FailClosedArg::BlurWhole)]
    pub fail_closed: FailClosedArg,
}

#[derive(ValueEnum, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FailClosedArg {
    /// Obscure the whole frame.
    #[default]
    BlurWhole,
    /// Leave the frame out.
    Drop,
}

/// Where the model is when no path is given.
pub fn default_model_path() -> PathBuf {
    match std::env::var_os("EGOCAP_FACE_MODEL") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from("target/models/retinaface-tiny.onnx"),
    }
}

/// The detector for frames of `format`, or an error that says how to get the model.
/// `tune` may change the default settings (the benchmark's flags).
pub fn load_detector(
    args: &BlurArgs,
    format: FrameFormat,
    tune: impl FnOnce(&mut DetectorConfig),
) -> Result<RetinaFaceDetector> {
    let path = args.face_model.clone().unwrap_or_else(default_model_path);
    if !path.exists() {
        bail!(
            "face model not found at {}: run `bash scripts/fetch-face-model.sh` or pass --face-model PATH",
            path.display()
        );
    }
    let mut config = DetectorConfig { range: format.range, matrix: format.matrix, ..DetectorConfig::default() };
    tune(&mut config);
    RetinaFaceDetector::from_path(&path, config).with_context(|| format!("face model {}", path.display()))
}

/// Face blurring for a session, or `None` when turned off. `live`: the
/// source cannot wait (a camera); a file or generator waits for the
/// pipeline instead, so falling behind the frame budget there is no reason
/// to fail frames closed (a detector error still is).
/// `sealed`: only the pinned model is accepted.
pub fn face_blur(args: &BlurArgs, format: FrameFormat, live: bool, sealed: bool) -> Result<Option<FaceBlur>> {
    if args.no_blur {
        eprintln!("egocap: WARNING: --no-blur records faces unblurred");
        return Ok(None);
    }
    let mut detector = load_detector(args, format, |_| ())?;
    if sealed {
        detector = detector.require_pinned()?;
    }
    let mut blur = FaceBlur::new(Box::new(detector));
    blur.config.fail_closed = match args.fail_closed {
        FailClosedArg::BlurWhole => FailClosedMode::BlurWhole,
        FailClosedArg::Drop => FailClosedMode::Drop,
    };
    if !live {
        blur.config.max_lag_ns = i64::MAX;
    }
    Ok(Some(blur))
}
