//! Clocks: which clock a stream's timestamps come from, and how the session
//! puts frames and IMU samples on one time base.
//!
//! Android stamps camera frames and sensor events with `CLOCK_BOOTTIME`
//! (`SENSOR_INFO_TIMESTAMP_SOURCE_REALTIME`) or `CLOCK_MONOTONIC` (`UNKNOWN`
//! timestamp source); iOS stamps both with the host clock. Streams on one
//! declared clock are aligned as they are; a stream on an unknown clock is
//! mapped by the smallest observed (arrival − timestamp) delay, which tracks
//! the true offset to within the shortest delivery latency, and every segment
//! it touches is marked `clock_unverified`. A better estimate is slewed in
//! (at most 1 % of the stream time that passes), never stepped, so mapped
//! timestamps keep increasing whenever the source's do.

use std::time::{SystemTime, UNIX_EPOCH};

/// The clock a stream's timestamps are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockDomain {
    /// Monotonic, counting through suspend (Linux/Android `CLOCK_BOOTTIME`).
    BootTime,
    /// Monotonic, stopped in suspend (`CLOCK_MONOTONIC`, iOS host time).
    HostMonotonic,
    /// The source did not say; the session estimates the offset.
    Unknown,
}

/// A reading of the session clock and UTC taken at the same instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClockPair {
    pub monotonic_ns: i64,
    pub utc_unix_ns: i64,
}

/// Reads clocks. The system implementation is the default; tests inject
/// their own so nothing depends on wall time.
pub trait Clock: Send + Sync {
    /// Now on `domain`; `None` for [`ClockDomain::Unknown`] or an unsupported clock.
    fn now_ns(&self, domain: ClockDomain) -> Option<i64>;
    /// Now in UTC, nanoseconds since the Unix epoch.
    fn utc_unix_ns(&self) -> i64;
}

/// The operating system's clocks.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ns(&self, domain: ClockDomain) -> Option<i64> {
        read_os_clock(domain)
    }

    fn utc_unix_ns(&self) -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn read_os_clock(domain: ClockDomain) -> Option<i64> {
    use rustix::time::{clock_gettime, clock_gettime_dynamic, ClockId, DynamicClockId};
    let ts = match domain {
        ClockDomain::BootTime => clock_gettime_dynamic(DynamicClockId::Boottime).ok()?,
        ClockDomain::HostMonotonic => clock_gettime(ClockId::Monotonic),
        ClockDomain::Unknown => return None,
    };
    Some(ts.tv_sec.saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn read_os_clock(domain: ClockDomain) -> Option<i64> {
    use rustix::time::{clock_gettime, ClockId};
    // Apple platforms: mach continuous/absolute time back CLOCK_MONOTONIC(_RAW);
    // boot time and host time are the same clock for our purposes.
    let ts = match domain {
        ClockDomain::BootTime | ClockDomain::HostMonotonic => clock_gettime(ClockId::Monotonic),
        ClockDomain::Unknown => return None,
    };
    Some(ts.tv_sec.saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec))
}

/// Maps one stream's timestamps onto the session's reference clock.
#[derive(Debug, Clone)]
pub struct StreamAligner {
    mapping: Mapping,
}

#[derive(Debug, Clone)]
enum Mapping {
    /// Fixed offset (zero when the stream is on the reference clock).
    Fixed(i64),
    /// Estimated from the smallest (arrival − timestamp) seen so far.
    Estimated(Option<Estimate>),
}

#[derive(Debug, Clone, Copy)]
struct Estimate {
    /// Smallest delay observed.
    best: i64,
    /// Offset in use; moves toward `best` by at most 1 % of elapsed stream time.
    applied: i64,
    last_timestamp: i64,
}

/// Slew limit: one part in this many of the elapsed stream time.
const SLEW_DIVISOR: i64 = 100;

impl StreamAligner {
    /// `reference` is the session's clock; `stream` the clock the host declared.
    pub fn new(clock: &dyn Clock, reference: ClockDomain, stream: ClockDomain) -> Self {
        let mapping = if stream == reference {
            Mapping::Fixed(0)
        } else {
            match (clock.now_ns(reference), clock.now_ns(stream)) {
                (Some(r), Some(s)) => Mapping::Fixed(r - s),
                _ => Mapping::Estimated(None),
            }
        };
        Self { mapping }
    }

    /// Whether the mapping is an estimate (segments are then `clock_unverified`).
    pub fn is_estimated(&self) -> bool {
        matches!(self.mapping, Mapping::Estimated(_))
    }

    /// Maps `timestamp_ns`, observed to arrive at `arrival_ns` on the reference clock.
    pub fn map(&mut self, timestamp_ns: i64, arrival_ns: i64) -> i64 {
        match &mut self.mapping {
            Mapping::Fixed(offset) => timestamp_ns.saturating_add(*offset),
            Mapping::Estimated(state) => {
                let delay = arrival_ns.saturating_sub(timestamp_ns);
                let next = match *state {
                    None => Estimate { best: delay, applied: delay, last_timestamp: timestamp_ns },
                    Some(e) => {
                        let best = e.best.min(delay);
                        let elapsed = timestamp_ns.saturating_sub(e.last_timestamp).max(0);
                        let applied = e.applied.saturating_sub(elapsed / SLEW_DIVISOR).max(best);
                        Estimate { best, applied, last_timestamp: timestamp_ns.max(e.last_timestamp) }
                    }
                };
                *state = Some(next);
                timestamp_ns.saturating_add(next.applied)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct FixedClock;
    impl Clock for FixedClock {
        fn now_ns(&self, domain: ClockDomain) -> Option<i64> {
            match domain {
                ClockDomain::BootTime => Some(5_000),
                ClockDomain::HostMonotonic => Some(3_000),
                ClockDomain::Unknown => None,
            }
        }
        fn utc_unix_ns(&self) -> i64 {
            0
        }
    }

    #[test]
    fn same_clock_is_identity_and_declared_clocks_are_offset() {
        let mut same = StreamAligner::new(&FixedClock, ClockDomain::BootTime, ClockDomain::BootTime);
        assert_eq!(same.map(123, 999), 123);
        let mut mono = StreamAligner::new(&FixedClock, ClockDomain::BootTime, ClockDomain::HostMonotonic);
        assert!(!mono.is_estimated());
        assert_eq!(mono.map(3_100, 0), 5_100);
    }

    #[test]
    fn unknown_clock_offset_slews_toward_the_smallest_delivery_delay() {
        let ms = 1_000_000;
        let mut a = StreamAligner::new(&FixedClock, ClockDomain::BootTime, ClockDomain::Unknown);
        assert!(a.is_estimated());
        // First frame: delay 100 ms is all we know.
        assert_eq!(a.map(0, 100 * ms), 100 * ms);
        // Then 5 ms delays: the offset moves by at most 1 % of 33 ms per frame,
        // so mapped times keep increasing instead of jumping back 95 ms.
        let mut last = 100 * ms;
        for i in 1..400 {
            let t = i * 33 * ms;
            let mapped = a.map(t, t + 5 * ms);
            assert!(mapped > last, "frame {i}: {mapped} after {last}");
            last = mapped;
        }
        // After 13 s of stream time the 95 ms excess has been slewed out.
        assert_eq!(a.map(400 * 33 * ms, 400 * 33 * ms + 7 * ms), 400 * 33 * ms + 5 * ms);
    }

    #[test]
    fn system_clock_reads_both_monotonic_clocks() {
        let c = SystemClock;
        assert!(c.now_ns(ClockDomain::BootTime).is_some());
        assert!(c.now_ns(ClockDomain::HostMonotonic).is_some());
        assert!(c.now_ns(ClockDomain::Unknown).is_none());
        assert!(c.utc_unix_ns() > 1_600_000_000_000_000_000);
    }
}
