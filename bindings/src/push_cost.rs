//! The Rust half of the push-cost figure (bindings/bench.sh): pushes the
//! same 1280×720 NV21 frame a Kotlin app pushes, but from Rust, so that
//! the two figures measured in one process differ by the cost of the FFI
//! crossing alone. Exported (not test-only) so it can also be run on a
//! device; it records into `output_dir` and cleans nothing up.
//!
//! The protocol both sides follow (bindings/bench/PushCost.kt mirrors it):
//! a default session (1280×720 NV21, built-in OpenH264), frames in
//! CameraX's three-plane view (Y; U and V as overlapping views of one VU
//! buffer, pixel stride 2, row stride 1280), timestamps 33.3 ms apart from
//! 1 s. [`WARM_UP_FRAMES`] untimed frames first. Before each push the
//! encoder is let go idle (polling `stats()`, untimed), so a push never
//! competes with the encoder for the CPU and never finds the queue full;
//! only the `push_frame` call itself is timed.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use egocap_core::clock::SystemClock;
use egocap_core::frame::{FrameRef, PlaneRef};
use egocap_core::session::{self as core, EncoderChoice, PushOutcome};
use egocap_core::sink::PlaintextDirSink;

use crate::error::{guarded, EgocapError};

/// Untimed pushes before the timed ones, on both sides (JIT, caches, encoder start).
pub const WARM_UP_FRAMES: u32 = 100;

/// Wall-clock cost of one `push_frame` call on the calling thread.
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
pub struct PushCost {
    pub frames: u32,
    pub mean_us: f64,
    /// Nearest-rank 99th percentile.
    pub p99_us: f64,
}

/// Measures `frames` pushes of a 1280×720 NV21 frame from Rust (see the
/// module comment for the protocol). Blocking: it encodes every frame.
#[uniffi::export]
pub fn measure_rust_push_cost(output_dir: String, frames: u32) -> Result<PushCost, EgocapError> {
    guarded(|| {
        let config = core::SessionConfig::default();
        let (w, h) = (config.frame_format.width as usize, config.frame_format.height as usize);
        let format = config.frame_format;
        let id = core::new_session_id();
        let sink = PlaintextDirSink::create(Path::new(&output_dir), &id).map_err(core::CaptureError::from)?;
        let session = core::RecordingSession::start_with_clock(
            config,
            EncoderChoice::OpenH264,
            Box::new(sink),
            Arc::new(SystemClock),
            id,
        )?;
        let stride = w;
        let y: Vec<u8> = (0..stride * (h - 1) + w).map(|i| (i % 251) as u8).collect();
        let vu = vec![128u8; stride * (h / 2 - 1) + w];
        let mut samples = Vec::with_capacity(frames as usize);
        for i in 0..WARM_UP_FRAMES + frames {
            wait_until_idle(&session)?;
            let started = Instant::now();
            let frame = FrameRef {
                width: format.width,
                height: format.height,
                layout: format.layout,
                planes: vec![
                    PlaneRef { data: &y, row_stride: stride, pixel_stride: 1 },
                    PlaneRef { data: vu.get(1..).unwrap_or_default(), row_stride: stride, pixel_stride: 2 },
                    PlaneRef { data: vu.get(..vu.len() - 1).unwrap_or_default(), row_stride: stride, pixel_stride: 2 },
                ],
                range: format.range,
                matrix: format.matrix,
                timestamp_ns: 1_000_000_000 + i64::from(i) * 33_333_333,
            };
            let outcome = session.push_frame(&frame)?;
            let elapsed = started.elapsed();
            if outcome != PushOutcome::Queued {
                return Err(EgocapError::PipelineFailed { reason: format!("push {i} was not queued: {outcome:?}") });
            }
            if i >= WARM_UP_FRAMES {
                samples.push(elapsed);
            }
        }
        session.stop()?;
        Ok(PushCost::from_samples(&samples))
    })
}

impl PushCost {
    fn from_samples(samples: &[Duration]) -> Self {
        let mut micros: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e6).collect();
        micros.sort_by(f64::total_cmp);
        let n = micros.len();
        let mean_us = if n == 0 { 0.0 } else { micros.iter().sum::<f64>() / n as f64 };
        let p99_us = micros.get((n * 99).div_ceil(100).saturating_sub(1)).copied().unwrap_or(0.0);
        Self { frames: u32::try_from(n).unwrap_or(u32::MAX), mean_us, p99_us }
    }
}

/// Waits (untimed) until the worker has encoded every queued frame.
fn wait_until_idle(session: &core::RecordingSession) -> Result<(), EgocapError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = session.stats();
        if s.frames_encoded + s.frames_dropped >= s.frames_pushed {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(EgocapError::PipelineFailed { reason: "the encoder made no progress for 30 s".into() });
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p99_is_the_nearest_rank_value() {
        let samples: Vec<Duration> = (1..=1000).map(Duration::from_micros).collect();
        let cost = PushCost::from_samples(&samples);
        assert_eq!(cost.frames, 1000);
        assert!((cost.p99_us - 990.0).abs() < 1e-6, "{cost:?}");
        assert!((cost.mean_us - 500.5).abs() < 1e-6, "{cost:?}");
    }
}
