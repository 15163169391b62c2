//! A deterministic synthetic scene with a head-worn IMU, for tests and
//! benchmarks: everything it produces is a pure function of the seed, so a
//! test can recompute exactly what was pushed and compare it with what came
//! out of the pipeline.
//!
//! - Frame timestamps are `BASE_NS + round(i * 1e9 / fps) + jitter(i)`, with
//!   a jitter of up to ±1.5 ms, so they are real timestamps and not a
//!   constant rate (a muxer that assumes a constant rate gets them wrong).
//! - Each frame carries its index in a barcode (see [`super::barcode`]).
//! - IMU samples sit exactly on per-sensor grids: gyroscope and
//!   accelerometer at 200 Hz (the accelerometer 1.7 ms after the gyroscope),
//!   magnetometer at 50 Hz. They are delivered with the frame that follows
//!   them, batched per sensor as Android delivers them, so the session's
//!   reorder window has work to do.

use std::f64::consts::TAU;

use crate::clock::ClockDomain;
use crate::frame::{ColourMatrix, ColourRange, FrameFormat, I420Image, PixelLayout};
use crate::imu::{ImuKind, ImuSample};

use super::{barcode, FrameSource, Pacing, SourceError, SourceItem};

/// Timestamp of frame 0 before jitter: 1000 s after boot.
pub const BASE_NS: i64 = 1_000_000_000_000;
/// Largest jitter added to a frame timestamp, either way.
pub const MAX_JITTER_NS: i64 = 1_500_000;
/// How far before frame 0 the IMU delivered with frame 0 reaches.
pub const IMU_LEAD_NS: i64 = 100_000_000;

const GYRO_PERIOD_NS: i64 = 5_000_000;
const ACCEL_OFFSET_NS: i64 = 1_700_000;
const MAG_PERIOD_NS: i64 = 20_000_000;
/// Keeps the magnetometer grid off the other two (0 and 1.7 ms mod 5 ms).
const MAG_OFFSET_NS: i64 = 3_100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntheticConfig {
    pub seed: u64,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub frame_count: u64,
}

/// The synthetic source; see the module documentation.
#[derive(Debug, Clone)]
pub struct SyntheticSource {
    config: SyntheticConfig,
    next_index: u64,
    /// Start of the grids: the gyroscope fires at `gyro_phase + k * 5 ms`.
    gyro_phase_ns: i64,
    mag_phase_ns: i64,
    /// Per-axis phases of the motion sinusoids, from the seed.
    phases: [f64; 9],
    /// One horizontal luma ramp, twice the period long, copied row by row.
    ramp: Vec<u8>,
}

impl SyntheticSource {
    /// Checks the settings: even dimensions, at least 320 wide (for the
    /// barcode) and 16 tall, 1..=300 fps (so the jitter never reorders frames).
    pub fn new(config: SyntheticConfig) -> Result<Self, SourceError> {
        let SyntheticConfig { width, height, fps, .. } = config;
        if !width.is_multiple_of(2)
            || !height.is_multiple_of(2)
            || width < barcode::MIN_WIDTH
            || height < barcode::bar_height(height)
        {
            return Err(SourceError::Settings(format!(
                "synthetic frames must have even dimensions, at least {}x16; got {width}x{height}",
                barcode::MIN_WIDTH
            )));
        }
        if !(1..=300).contains(&fps) {
            return Err(SourceError::Settings(format!("synthetic fps must be 1..=300, got {fps}")));
        }
        let gyro_phase_ns = (splitmix64(config.seed) % GYRO_PERIOD_NS as u64) as i64;
        let mag_phase_ns =
            gyro_phase_ns + MAG_OFFSET_NS + GYRO_PERIOD_NS * (splitmix64(config.seed ^ 0x6d61_6700) % 4) as i64;
        let mut phases = [0.0; 9];
        for (i, p) in phases.iter_mut().enumerate() {
            *p = unit_interval(splitmix64(config.seed.wrapping_add(0x100 + i as u64))) * TAU;
        }
        // Limited-range ramp 16..=235 and back, so the edge moves smoothly.
        let ramp = (0..RAMP_PERIOD * 2)
            .map(|i| {
                let x = i % RAMP_PERIOD;
                let tri = if x < RAMP_PERIOD / 2 { x } else { RAMP_PERIOD - x };
                (16 + tri * 219 / (RAMP_PERIOD / 2)) as u8
            })
            .collect();
        Ok(Self { config, next_index: 0, gyro_phase_ns, mag_phase_ns, phases, ramp })
    }

    pub fn config(&self) -> SyntheticConfig {
        self.config
    }

    /// Capture time of frame `index` (defined for any index, delivered or not).
    pub fn frame_timestamp_ns(&self, index: u64) -> i64 {
        let fps = i128::from(self.config.fps.max(1));
        let nominal = (i128::from(index) * 2_000_000_000 + fps) / (2 * fps);
        let span = (2 * MAX_JITTER_NS + 1) as u64;
        let jitter = (splitmix64(self.config.seed ^ splitmix64(index)) % span) as i64 - MAX_JITTER_NS;
        BASE_NS.saturating_add(i64::try_from(nominal).unwrap_or(i64::MAX)).saturating_add(jitter)
    }

    /// Every IMU sample with a timestamp in `[from_ns, to_ns)`, sorted by
    /// time (ties, which the grids avoid, by sensor).
    pub fn imu_samples_between(&self, from_ns: i64, to_ns: i64) -> Vec<ImuSample> {
        let mut out = self.batched_between(from_ns, to_ns);
        out.sort_by_key(|s| (s.timestamp_ns, s.kind));
        out
    }

    /// The IMU samples pushed with the first `frames` frames, in time order:
    /// those in `[ts(0) - 100 ms, ts(frames - 1))`.
    pub fn all_imu_delivered(&self, frames: u64) -> Vec<ImuSample> {
        match frames {
            0 => Vec::new(),
            n => self.imu_samples_between(self.frame_timestamp_ns(0) - IMU_LEAD_NS, self.frame_timestamp_ns(n - 1)),
        }
    }

    /// Renders frame `index` (defined for any index).
    pub fn render(&self, index: u64) -> Result<I420Image, SourceError> {
        let (w, h) = (self.config.width as usize, self.config.height as usize);
        let mut image =
            I420Image { width: self.config.width, height: self.config.height, data: vec![0; w * h * 3 / 2] };
        let t = index as usize;
        let (y, u, v) = image.planes_mut();

        // A diagonal ramp drifting right: each row is a slice of the ramp.
        for (row, out) in y.chunks_exact_mut(w).enumerate() {
            let mut x = 0;
            while x < w {
                let start = (row + RAMP_PERIOD * 4 - (t * 3) % RAMP_PERIOD + x) % RAMP_PERIOD;
                let n = (w - x).min(RAMP_PERIOD * 2 - start);
                out[x..x + n].copy_from_slice(&self.ramp[start..start + n]);
                x += n;
            }
        }
        // A box bouncing across the picture.
        let (box_w, box_h) = ((w / 6) & !1, (h / 5) & !1);
        let bx = bounce(t * 7, w - box_w) & !1;
        let by = bounce(t * 5, h - box_h) & !1;
        for out in y.chunks_exact_mut(w).skip(by).take(box_h) {
            out[bx..bx + box_w].fill(200);
        }
        // Chroma: slowly cycling tint with vertical bands, box in blue.
        let cw = w / 2;
        for (row, (ur, vr)) in u.chunks_exact_mut(cw).zip(v.chunks_exact_mut(cw)).enumerate() {
            ur.fill(96 + ((row + t) % 64) as u8);
            vr.fill(160 - ((row * 2 + t) % 64) as u8);
        }
        for (ur, vr) in u.chunks_exact_mut(cw).zip(v.chunks_exact_mut(cw)).skip(by / 2).take(box_h / 2) {
            ur[bx / 2..(bx + box_w) / 2].fill(200);
            vr[bx / 2..(bx + box_w) / 2].fill(90);
        }
        let stamp = u32::try_from(index)
            .map_err(|_| SourceError::Settings(format!("frame index {index} exceeds the barcode")))?;
        barcode::stamp(&mut image, stamp).map_err(|e| SourceError::Settings(e.to_string()))?;
        Ok(image)
    }

    /// Samples of `[from, to)` as delivered: all gyroscope, then accelerometer,
    /// then magnetometer, each in time order.
    fn batched_between(&self, from_ns: i64, to_ns: i64) -> Vec<ImuSample> {
        let mut out = Vec::new();
        let grids = [
            (ImuKind::Gyroscope, self.gyro_phase_ns, GYRO_PERIOD_NS),
            (ImuKind::Accelerometer, self.gyro_phase_ns + ACCEL_OFFSET_NS, GYRO_PERIOD_NS),
            (ImuKind::Magnetometer, self.mag_phase_ns, MAG_PERIOD_NS),
        ];
        for (kind, phase, period) in grids {
            let mut t = phase + (from_ns - phase).div_euclid(period) * period;
            if t < from_ns {
                t += period;
            }
            while t < to_ns {
                out.push(ImuSample { timestamp_ns: t, kind, xyz: self.imu_value(kind, t) });
                t += period;
            }
        }
        out
    }

    /// A plausible head-worn reading at `t_ns`: slow head turns on the
    /// gyroscope, gravity mostly on −y plus motion on the accelerometer, and
    /// a ~45 µT field turning with the head on the magnetometer.
    fn imu_value(&self, kind: ImuKind, t_ns: i64) -> [f64; 3] {
        let t = (t_ns - BASE_NS) as f64 * 1e-9;
        let p = &self.phases;
        match kind {
            ImuKind::Gyroscope => [
                (TAU * 0.31 * t + p[0]).sin(),
                0.8 * (TAU * 0.17 * t + p[1]).sin(),
                0.5 * (TAU * 0.23 * t + p[2]).sin(),
            ],
            ImuKind::Accelerometer => [
                0.6 * (TAU * 1.1 * t + p[3]).sin(),
                -9.81 + 0.4 * (TAU * 1.9 * t + p[4]).sin(),
                0.5 * (TAU * 0.7 * t + p[5]).sin(),
            ],
            ImuKind::Magnetometer => {
                let yaw = 0.8 * (TAU * 0.05 * t + p[6]).sin();
                let dip = 1.1 + 0.1 * (TAU * 0.09 * t + p[7]).sin();
                [45.0 * dip.cos() * yaw.cos(), -45.0 * dip.sin(), 45.0 * dip.cos() * yaw.sin()]
            }
        }
    }
}

impl FrameSource for SyntheticSource {
    fn format(&self) -> FrameFormat {
        FrameFormat {
            width: self.config.width,
            height: self.config.height,
            layout: PixelLayout::I420,
            range: ColourRange::Limited,
            matrix: ColourMatrix::Bt709,
        }
    }

    fn frame_clock(&self) -> ClockDomain {
        ClockDomain::BootTime
    }

    fn imu_clock(&self) -> Option<ClockDomain> {
        Some(ClockDomain::BootTime)
    }

    fn nominal_fps(&self) -> f32 {
        self.config.fps as f32
    }

    fn pacing(&self) -> Pacing {
        Pacing::PushBack
    }

    fn next_item(&mut self) -> Result<Option<SourceItem>, SourceError> {
        let index = self.next_index;
        if index >= self.config.frame_count {
            return Ok(None);
        }
        let timestamp_ns = self.frame_timestamp_ns(index);
        let from_ns = match index {
            0 => timestamp_ns - IMU_LEAD_NS,
            i => self.frame_timestamp_ns(i - 1),
        };
        let item =
            SourceItem { image: self.render(index)?, timestamp_ns, imu: self.batched_between(from_ns, timestamp_ns) };
        self.next_index += 1;
        Ok(Some(item))
    }
}

/// Length in pixels of one ramp cycle.
const RAMP_PERIOD: usize = 256;

/// A position bouncing between 0 and `span` as `t` grows.
fn bounce(t: usize, span: usize) -> usize {
    if span == 0 {
        return 0;
    }
    let x = t % (2 * span);
    if x < span {
        x
    } else {
        2 * span - x
    }
}

/// splitmix64 (Steele, Lea, Flood 2014): a tiny, well-mixed hash of a u64.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Maps a hash to [0, 1).
fn unit_interval(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(seed: u64, frame_count: u64) -> SyntheticSource {
        SyntheticSource::new(SyntheticConfig { seed, width: 320, height: 240, fps: 30, frame_count }).unwrap()
    }

    #[test]
    fn timestamps_are_deterministic_increasing_and_jittered() {
        let a = source(7, 0);
        let b = source(7, 0);
        let ts: Vec<i64> = (0..300).map(|i| a.frame_timestamp_ns(i)).collect();
        assert_eq!(ts, (0..300).map(|i| b.frame_timestamp_ns(i)).collect::<Vec<_>>());
        assert!(ts.windows(2).all(|w| w[1] > w[0]));
        let mut deltas: Vec<i64> = ts.windows(2).map(|w| w[1] - w[0]).collect();
        deltas.sort_unstable();
        deltas.dedup();
        assert!(deltas.len() > 100, "deltas vary: {}", deltas.len());
        for (i, &t) in ts.iter().enumerate() {
            let nominal = BASE_NS + (i as i64 * 1_000_000_000 + 15) / 30;
            assert!((t - nominal).abs() <= MAX_JITTER_NS, "frame {i}");
        }
        assert_ne!(source(8, 0).frame_timestamp_ns(5), a.frame_timestamp_ns(5));
    }

    #[test]
    fn frames_carry_their_index_and_the_scene_moves() {
        let mut s = source(1, 3);
        let f0 = s.next_item().unwrap().unwrap();
        let f1 = s.next_item().unwrap().unwrap();
        assert_eq!(barcode::read(f0.image.y(), 320, 240), Some(0));
        assert_eq!(barcode::read(f1.image.y(), 320, 240), Some(1));
        let below = 320 * 16;
        assert_ne!(f0.image.y()[below..], f1.image.y()[below..]);
        assert_eq!(f0.timestamp_ns, s.frame_timestamp_ns(0));
        assert!(s.next_item().unwrap().is_some());
        assert!(s.next_item().unwrap().is_none());
        assert!(s.next_item().unwrap().is_none());
    }

    #[test]
    fn imu_is_on_exact_grids_batched_per_sensor_and_all_accounted_for() {
        let mut s = source(42, 20);
        let mut delivered = Vec::new();
        while let Some(item) = s.next_item().unwrap() {
            // Within one delivery, kinds come in gyro, accel, mag order.
            let kinds: Vec<ImuKind> = item.imu.iter().map(|x| x.kind).collect();
            let mut sorted = kinds.clone();
            sorted.sort();
            assert_eq!(kinds, sorted);
            assert!(item.imu.iter().all(|x| x.timestamp_ns < item.timestamp_ns));
            delivered.extend(item.imu);
        }
        delivered.sort_by_key(|x| (x.timestamp_ns, x.kind));
        assert_eq!(delivered, s.all_imu_delivered(20));
        let of = |k| delivered.iter().filter(|x| x.kind == k).map(|x| x.timestamp_ns).collect::<Vec<_>>();
        let (gyro, accel, mag) = (of(ImuKind::Gyroscope), of(ImuKind::Accelerometer), of(ImuKind::Magnetometer));
        assert!(gyro.windows(2).all(|w| w[1] - w[0] == 5_000_000));
        assert!(accel.windows(2).all(|w| w[1] - w[0] == 5_000_000));
        assert!(mag.windows(2).all(|w| w[1] - w[0] == 20_000_000));
        assert_eq!((accel[0] - gyro[0]).rem_euclid(5_000_000), 1_700_000);
        // ~(100 ms + 19 frames at 30 fps) of data.
        assert!((144..=149).contains(&gyro.len()), "{}", gyro.len());
        for x in &delivered {
            let norm = x.xyz.iter().map(|v| v * v).sum::<f64>().sqrt();
            match x.kind {
                ImuKind::Gyroscope => assert!(x.xyz.iter().all(|v| v.abs() <= 1.0)),
                ImuKind::Accelerometer => assert!((8.5..11.0).contains(&norm), "{norm}"),
                ImuKind::Magnetometer => assert!((norm - 45.0).abs() < 1e-9),
            }
        }
    }

    #[test]
    fn rejects_unusable_settings() {
        let bad =
            |width, height, fps| SyntheticSource::new(SyntheticConfig { seed: 0, width, height, fps, frame_count: 1 });
        assert!(matches!(bad(318, 240, 30), Err(SourceError::Settings(_))));
        assert!(matches!(bad(320, 241, 30), Err(SourceError::Settings(_))));
        assert!(matches!(bad(320, 240, 0), Err(SourceError::Settings(_))));
        assert!(bad(1280, 720, 30).is_ok());
    }
}
