//! IMU samples: validation per sensor, rotation into camera axes, and the
//! merge of the three sensor streams into one time-ordered stream.
//!
//! Android batches sensor events per sensor, so gyroscope, accelerometer and
//! magnetometer arrive in separate bursts that overlap in time. The merger
//! holds samples in a reorder window and releases them in time order once no
//! earlier sample can still arrive; a sample older than what was already
//! released is counted as late and dropped (it cannot be placed in order).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// Which sensor a sample comes from; units follow Android's `SensorEvent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImuKind {
    /// Angular velocity, rad/s (CAMM type 2).
    Gyroscope,
    /// Acceleration including gravity, m/s² (CAMM type 3).
    Accelerometer,
    /// Magnetic field, µT (CAMM type 7).
    Magnetometer,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ImuSample {
    /// Nanoseconds on the IMU stream's declared clock.
    pub timestamp_ns: i64,
    pub kind: ImuKind,
    pub xyz: [f64; 3],
}

/// A 3×3 rotation, row-major, taking IMU-frame vectors into camera axes.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Rotation3(pub [[f64; 3]; 3]);

impl Rotation3 {
    pub const IDENTITY: Self = Self([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]);

    pub fn apply(&self, v: [f64; 3]) -> [f64; 3] {
        let m = &self.0;
        [
            m[0][0] * v[0] + m[0][1] * v[1] + m[0][2] * v[2],
            m[1][0] * v[0] + m[1][1] * v[1] + m[1][2] * v[2],
            m[2][0] * v[0] + m[2][1] * v[1] + m[2][2] * v[2],
        ]
    }

    /// True when the matrix is orthonormal with determinant +1 (within 1e-3),
    /// i.e. a rotation and not a reflection or a scale.
    pub fn is_rotation(&self) -> bool {
        let m = &self.0;
        let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
        let rows_unit = m.iter().all(|r| ((r[0] * r[0] + r[1] * r[1] + r[2] * r[2]) - 1.0).abs() < 1e-3);
        (det - 1.0).abs() < 1e-3 && rows_unit && m.iter().flatten().all(|x| x.is_finite())
    }
}

/// What happened to a sample offered to the merger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImuAdmission {
    Accepted,
    /// Not after the previous sample of the same sensor.
    NotIncreasing,
    /// Older than samples already released from the reorder window.
    TooLate,
    /// NaN or infinite values.
    NotFinite,
}

/// Merges per-sensor streams into one time-ordered stream.
#[derive(Debug)]
pub struct ImuMerger {
    window_ns: i64,
    heap: BinaryHeap<Reverse<Ordered>>,
    last_per_kind: HashMap<ImuKind, i64>,
    newest_ns: Option<i64>,
    released_up_to_ns: Option<i64>,
}

impl ImuMerger {
    pub fn new(window_ns: i64) -> Self {
        Self {
            window_ns: window_ns.max(0),
            heap: BinaryHeap::new(),
            last_per_kind: HashMap::new(),
            newest_ns: None,
            released_up_to_ns: None,
        }
    }

    /// Offers one sample (already on the session clock).
    pub fn offer(&mut self, sample: ImuSample) -> ImuAdmission {
        if !sample.xyz.iter().all(|v| v.is_finite()) {
            return ImuAdmission::NotFinite;
        }
        if self.last_per_kind.get(&sample.kind).is_some_and(|&last| sample.timestamp_ns <= last) {
            return ImuAdmission::NotIncreasing;
        }
        if self.released_up_to_ns.is_some_and(|released| sample.timestamp_ns < released) {
            return ImuAdmission::TooLate;
        }
        self.last_per_kind.insert(sample.kind, sample.timestamp_ns);
        self.newest_ns = Some(self.newest_ns.map_or(sample.timestamp_ns, |n| n.max(sample.timestamp_ns)));
        self.heap.push(Reverse(Ordered(sample)));
        ImuAdmission::Accepted
    }

    /// Time below which every sample has been released: nothing earlier can
    /// still be accepted. `None` before the first sample.
    pub fn watermark_ns(&self) -> Option<i64> {
        self.newest_ns.map(|n| n - self.window_ns)
    }

    /// Releases, in time order, the samples older than the watermark.
    pub fn release_ready(&mut self, out: &mut Vec<ImuSample>) {
        if let Some(watermark) = self.watermark_ns() {
            self.release_before(watermark, out);
        }
    }

    /// Releases every held sample (end of recording or pause).
    pub fn release_all(&mut self, out: &mut Vec<ImuSample>) {
        self.release_before(i64::MAX, out);
    }

    fn release_before(&mut self, limit_ns: i64, out: &mut Vec<ImuSample>) {
        while let Some(Reverse(Ordered(sample))) = self.heap.peek() {
            if sample.timestamp_ns >= limit_ns {
                break;
            }
            let sample = *sample;
            self.heap.pop();
            self.released_up_to_ns = Some(sample.timestamp_ns);
            out.push(sample);
        }
    }
}

/// Orders samples by time, then by sensor, so equal timestamps merge stably.
#[derive(Debug, Clone, Copy)]
struct Ordered(ImuSample);

impl PartialEq for Ordered {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Ordered {}
impl PartialOrd for Ordered {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ordered {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.0.timestamp_ns, self.0.kind).cmp(&(other.0.timestamp_ns, other.0.kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: i64, kind: ImuKind) -> ImuSample {
        ImuSample { timestamp_ns: t, kind, xyz: [t as f64, 0.0, 0.0] }
    }

    const MS: i64 = 1_000_000;

    #[test]
    fn merges_batched_sensors_in_time_order() {
        let mut m = ImuMerger::new(200 * MS);
        // A gyro batch, then an accelerometer batch covering the same time.
        for t in [0, 10, 20, 30] {
            assert_eq!(m.offer(s(t * MS, ImuKind::Gyroscope)), ImuAdmission::Accepted);
        }
        for t in [5, 15, 25] {
            assert_eq!(m.offer(s(t * MS, ImuKind::Accelerometer)), ImuAdmission::Accepted);
        }
        let mut out = Vec::new();
        m.release_ready(&mut out);
        assert!(out.is_empty(), "nothing is older than the window yet");
        m.release_all(&mut out);
        let times: Vec<i64> = out.iter().map(|x| x.timestamp_ns / MS).collect();
        assert_eq!(times, vec![0, 5, 10, 15, 20, 25, 30]);
    }

    #[test]
    fn counts_repeats_backwards_and_late_samples() {
        let mut m = ImuMerger::new(200 * MS);
        assert_eq!(m.offer(s(100 * MS, ImuKind::Gyroscope)), ImuAdmission::Accepted);
        assert_eq!(m.offer(s(100 * MS, ImuKind::Gyroscope)), ImuAdmission::NotIncreasing);
        assert_eq!(m.offer(s(90 * MS, ImuKind::Gyroscope)), ImuAdmission::NotIncreasing);
        assert_eq!(m.offer(s(600 * MS, ImuKind::Gyroscope)), ImuAdmission::Accepted);
        let mut out = Vec::new();
        m.release_ready(&mut out);
        assert_eq!(out.len(), 1, "the 100 ms sample is past the 400 ms watermark");
        // An accelerometer sample from 50 ms arrives after 100 ms was released.
        assert_eq!(m.offer(s(50 * MS, ImuKind::Accelerometer)), ImuAdmission::TooLate);
        // One at 450 ms is still inside the window.
        assert_eq!(m.offer(s(450 * MS, ImuKind::Accelerometer)), ImuAdmission::Accepted);
        let nan = ImuSample { timestamp_ns: 700 * MS, kind: ImuKind::Magnetometer, xyz: [f64::NAN, 0.0, 0.0] };
        assert_eq!(m.offer(nan), ImuAdmission::NotFinite);
    }

    #[test]
    fn rotation_maps_device_axes_to_camera_axes() {
        // 90° about z: device x becomes camera y.
        let r = Rotation3([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]);
        assert!(r.is_rotation());
        assert_eq!(r.apply([1.0, 0.0, 0.0]), [0.0, 1.0, 0.0]);
        let mirror = Rotation3([[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]);
        assert!(!mirror.is_rotation());
    }
}
