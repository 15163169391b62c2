//! How the host sets up the upload queue: the queue's settings and the
//! device's connection, mirrored from `egocap_core::upload`.

use std::time::Duration;

use egocap_core::upload::{Backoff, NetworkKind, NetworkPolicy, NetworkState, QueueConfig, Timeouts};

/// How the queue sends. Every setting is optional: `null`/`nil` takes the
/// library's default (Kotlin `UploadQueueConfig()`), so the defaults live
/// in one place, the core.
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct UploadQueueConfig {
    /// Bytes per request (default 4 MiB); an interruption re-sends at most
    /// this much. Zero is `InvalidSettings`.
    #[uniffi(default = None)]
    pub chunk_size: Option<u32>,
    /// Seconds a fully uploaded file stays on the device before it is
    /// deleted (default 24 hours).
    #[uniffi(default = None)]
    pub retention_seconds: Option<u64>,
    /// Media may upload on a metered network (default false; records always may).
    #[uniffi(default = None)]
    pub allow_metered: Option<bool>,
    /// Media uploads only while charging (default false).
    #[uniffi(default = None)]
    pub require_charging: Option<bool>,
    /// Average upload rate cap in bytes per second (default none).
    #[uniffi(default = None)]
    pub max_bytes_per_second: Option<u64>,
    /// The wait after a first failure (default 1 s); it doubles per failure,
    /// up to `backoff_cap_ms` (default 5 min), less a random part of up to half.
    #[uniffi(default = None)]
    pub backoff_first_ms: Option<u64>,
    #[uniffi(default = None)]
    pub backoff_cap_ms: Option<u64>,
    /// The library's own transport only (default 10 s).
    #[uniffi(default = None)]
    pub connect_timeout_ms: Option<u64>,
    /// The library's own transport only: waiting for a response or between
    /// reads (default 30 s).
    #[uniffi(default = None)]
    pub read_timeout_ms: Option<u64>,
    /// The library's own transport only: sending one chunk (default 2 min).
    #[uniffi(default = None)]
    pub send_body_timeout_ms: Option<u64>,
}

impl UploadQueueConfig {
    pub(super) fn timeouts(&self) -> Timeouts {
        let defaults = Timeouts::default();
        let ms = |value: Option<u64>, default| value.map_or(default, Duration::from_millis);
        Timeouts {
            connect: ms(self.connect_timeout_ms, defaults.connect),
            read: ms(self.read_timeout_ms, defaults.read),
            send_body: ms(self.send_body_timeout_ms, defaults.send_body),
        }
    }
}

/// The core's defaults, with the settings the host gave.
impl From<UploadQueueConfig> for QueueConfig {
    fn from(c: UploadQueueConfig) -> Self {
        let d = Self::default();
        Self {
            chunk_size: c.chunk_size.map_or(d.chunk_size, |size| size as usize),
            backoff: Backoff {
                first_ms: c.backoff_first_ms.unwrap_or(d.backoff.first_ms),
                cap_ms: c.backoff_cap_ms.unwrap_or(d.backoff.cap_ms),
            },
            retention: c.retention_seconds.map_or(d.retention, Duration::from_secs),
            policy: NetworkPolicy {
                allow_metered: c.allow_metered.unwrap_or(d.policy.allow_metered),
                require_charging: c.require_charging.unwrap_or(d.policy.require_charging),
            },
            max_bytes_per_second: c.max_bytes_per_second.or(d.max_bytes_per_second),
        }
    }
}

#[uniffi::remote(Enum)]
pub enum NetworkKind {
    Offline,
    /// Cellular or a metered hotspot: the worker may pay for every byte.
    Metered,
    Unmetered,
}

/// What the host reports about the device's connection (Android:
/// `ConnectivityManager` and `BatteryManager`). Until the first
/// `setNetwork` the queue assumes unmetered and charging.
#[uniffi::remote(Record)]
pub struct NetworkState {
    pub kind: NetworkKind,
    pub charging: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_settings_keep_the_cores_defaults_and_set_ones_replace_them() {
        let core = QueueConfig::default();
        let unset = QueueConfig::from(UploadQueueConfig::default());
        assert_eq!(
            (unset.chunk_size, unset.backoff, unset.retention, unset.policy, unset.max_bytes_per_second),
            (core.chunk_size, core.backoff, core.retention, core.policy, core.max_bytes_per_second)
        );
        assert_eq!(UploadQueueConfig::default().timeouts().read, Timeouts::default().read);
        let set = UploadQueueConfig {
            chunk_size: Some(1000),
            retention_seconds: Some(0),
            allow_metered: Some(true),
            backoff_cap_ms: Some(50),
            max_bytes_per_second: Some(10),
            read_timeout_ms: Some(1500),
            ..UploadQueueConfig::default()
        };
        let timeouts = set.timeouts();
        let config = QueueConfig::from(set);
        assert_eq!((config.chunk_size, config.retention), (1000, Duration::ZERO));
        assert_eq!(config.backoff, Backoff { first_ms: core.backoff.first_ms, cap_ms: 50 });
        assert!(config.policy.allow_metered && !config.policy.require_charging);
        assert_eq!(config.max_bytes_per_second, Some(10));
        assert_eq!((timeouts.read, timeouts.connect), (Duration::from_millis(1500), Timeouts::default().connect));
    }
}
