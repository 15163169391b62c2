//! The Rust side of the push-cost figure: the same 1280×720 NV21 frame the
//! Kotlin test pushes (CameraX's three-plane view, rows padded to 1280),
//! pushed straight into the core with an encoder that keeps nothing, so the
//! difference to the Kotlin figure is the cost of the crossing.
//!
//! `cargo run --release -p egocap-ffi --example push_cost`

use std::time::Instant;

use egocap_core::encoder::{EncodedFrame, EncoderError, VideoEncoder};
use egocap_core::frame::{ColourMatrix, ColourRange, FrameFormat, FrameRef, I420Image, PixelLayout, PlaneRef};
use egocap_core::session::{EncoderChoice, RecordingSession, SessionConfig};
use egocap_core::sink::PlaintextDirSink;

struct Idle;

impl VideoEncoder for Idle {
    fn name(&self) -> String {
        "idle".into()
    }
    fn encode(&mut self, _: &I420Image, _: i64, _: bool) -> Result<Vec<EncodedFrame>, EncoderError> {
        Ok(Vec::new())
    }
    fn flush(&mut self) -> Result<Vec<EncodedFrame>, EncoderError> {
        Ok(Vec::new())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (w, h, stride) = (1280usize, 720usize, 1280usize);
    let y = vec![90u8; stride * (h - 1) + w];
    let vu = vec![128u8; stride * (h / 2 - 1) + w];
    let format = FrameFormat {
        width: w as u32,
        height: h as u32,
        layout: PixelLayout::Nv21,
        range: ColourRange::Limited,
        matrix: ColourMatrix::Bt709,
    };
    let config = SessionConfig { frame_format: format, queue_frames: 64, ..SessionConfig::default() };
    let dir = std::env::temp_dir().join("egocap-push-cost");
    let id = egocap_core::session::new_session_id();
    let sink = PlaintextDirSink::create(&dir, &id)?;
    let session = RecordingSession::start_with_clock(
        config,
        EncoderChoice::Host(Box::new(Idle)),
        Box::new(sink),
        std::sync::Arc::new(egocap_core::clock::SystemClock),
        id,
    )?;
    let mut samples = Vec::with_capacity(1000);
    for i in 0..1200i64 {
        let frame = FrameRef {
            width: w as u32,
            height: h as u32,
            layout: PixelLayout::Nv21,
            planes: vec![
                PlaneRef { data: &y, row_stride: stride, pixel_stride: 1 },
                PlaneRef { data: &vu[1..], row_stride: stride, pixel_stride: 2 },
                PlaneRef { data: &vu[..vu.len() - 1], row_stride: stride, pixel_stride: 2 },
            ],
            range: format.range,
            matrix: format.matrix,
            timestamp_ns: 1_000_000_000 + i * 33_333_333,
        };
        let started = Instant::now();
        session.push_frame_waiting(&frame)?;
        if i >= 200 {
            samples.push(started.elapsed().as_nanos() as u64);
        }
    }
    let _ = session.stop();
    samples.sort_unstable();
    let mean = samples.iter().sum::<u64>() as f64 / samples.len() as f64 / 1000.0;
    let p99 = samples[samples.len() * 99 / 100 - 1] as f64 / 1000.0;
    println!("push cost 1280x720 NV21 from Rust: mean {mean:.0} µs, p99 {p99:.0} µs over {} frames", samples.len());
    Ok(())
}
