//! When to try again and on which networks: exponential backoff with
//! jitter and a cap, the network policy the host sets, and a stop signal
//! that wakes any wait at once.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use super::lane::Lane;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first_ms: u64,
    pub cap_ms: u64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { first_ms: 1_000, cap_ms: 5 * 60_000 }
    }
}

impl Backoff {
    /// The wait before attempt `failures + 1`: `first · 2^(failures-1)`,
    /// capped, of which a random half is taken off ("equal jitter") so
    /// phones that lost the same link do not come back in step.
    /// `unit` is a uniform random number in [0, 1).
    pub fn delay_ms(&self, failures: u32, unit: f64) -> u64 {
        let doublings = failures.saturating_sub(1).min(32);
        let full = self.first_ms.saturating_mul(1u64 << doublings).min(self.cap_ms);
        let half = full / 2;
        // Float only for the jitter; the result is a whole number of ms.
        half + (half as f64 * unit.clamp(0.0, 1.0)) as u64
    }

    /// `delay_ms` with a fresh random unit.
    pub fn random_delay_ms(&self, failures: u32) -> u64 {
        let mut bytes = [0u8; 4];
        let unit = match getrandom::fill(&mut bytes) {
            Ok(()) => f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0),
            Err(_) => 0.5,
        };
        self.delay_ms(failures, unit)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkKind {
    Offline,
    /// Cellular or a metered hotspot: the worker may pay for every byte.
    Metered,
    Unmetered,
}

/// What the host reports about the device's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkState {
    pub kind: NetworkKind,
    pub charging: bool,
}

impl NetworkState {
    /// A desktop: always on, never metered.
    pub const WIRED: Self = Self { kind: NetworkKind::Unmetered, charging: true };
}

/// When media (and the session-end records that follow them) may upload;
/// by default unmetered, charging or not. Identity and segment records (a
/// few KB each) go on any connection, so a dataset learns of consent and
/// withdrawals as soon as possible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NetworkPolicy {
    pub allow_metered: bool,
    pub require_charging: bool,
}

impl NetworkPolicy {
    pub fn allows(&self, network: NetworkState, lane: Lane) -> bool {
        match network.kind {
            NetworkKind::Offline => false,
            // The session's end follows its media, so it waits with them.
            _ if !matches!(lane, Lane::Media | Lane::SessionEnd) => true,
            NetworkKind::Metered if !self.allow_metered => false,
            _ => network.charging || !self.require_charging,
        }
    }
}

/// Asks a running queue to stop; wakes its waits (backoff, bandwidth cap) at once.
#[derive(Debug, Default)]
pub struct StopSignal {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl StopSignal {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn stop(&self) {
        *self.stopped.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.wake.notify_all();
    }

    pub fn is_stopped(&self) -> bool {
        *self.stopped.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits up to `duration`; returns true when stopped.
    pub fn wait(&self, duration: Duration) -> bool {
        let guard = self.stopped.lock().unwrap_or_else(|p| p.into_inner());
        let (guard, _) =
            self.wake.wait_timeout_while(guard, duration, |stopped| !*stopped).unwrap_or_else(|p| p.into_inner());
        *guard
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_jitters_within_half_and_caps() {
        let backoff = Backoff { first_ms: 1_000, cap_ms: 60_000 };
        assert_eq!(backoff.delay_ms(1, 0.0), 500);
        assert_eq!(backoff.delay_ms(1, 0.999_999), 999);
        assert_eq!(backoff.delay_ms(3, 0.0), 2_000);
        assert_eq!(backoff.delay_ms(40, 0.0), 30_000);
        assert_eq!(backoff.delay_ms(u32::MAX, 1.0), 60_000);
        for failures in 1..20 {
            let d = backoff.random_delay_ms(failures);
            assert!(d >= backoff.delay_ms(failures, 0.0) && d <= backoff.delay_ms(failures, 1.0));
        }
    }

    #[test]
    fn media_follows_the_policy_and_records_go_on_any_connection() {
        let policy = NetworkPolicy { allow_metered: false, require_charging: true };
        let metered = NetworkState { kind: NetworkKind::Metered, charging: true };
        let wifi_on_battery = NetworkState { kind: NetworkKind::Unmetered, charging: false };
        let offline = NetworkState { kind: NetworkKind::Offline, charging: true };
        assert!(!policy.allows(metered, Lane::Media));
        assert!(policy.allows(metered, Lane::Identity) && policy.allows(metered, Lane::SegmentRecord));
        assert!(!policy.allows(metered, Lane::SessionEnd), "the end waits with the media it follows");
        assert!(!policy.allows(wifi_on_battery, Lane::Media));
        assert!(policy.allows(NetworkState::WIRED, Lane::Media));
        assert!(!policy.allows(offline, Lane::Identity));
        let permissive = NetworkPolicy { allow_metered: true, require_charging: false };
        assert!(permissive.allows(NetworkState { kind: NetworkKind::Metered, charging: false }, Lane::Media));
    }

    #[test]
    fn stop_wakes_a_long_wait() {
        let stop = std::sync::Arc::new(StopSignal::new());
        let stopper = stop.clone();
        let thread = std::thread::spawn(move || stopper.wait(Duration::from_secs(600)));
        std::thread::sleep(Duration::from_millis(20));
        stop.stop();
        assert!(thread.join().unwrap());
        assert!(!StopSignal::new().wait(Duration::from_millis(1)));
    }
}
