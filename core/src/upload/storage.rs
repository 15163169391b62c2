//! Disk limits for what waits on the device: a byte quota on the session
//! files kept under the recordings root and a floor of free space left on
//! its volume. Below either, recording must not start (or must stop
//! cleanly), instead of filling the phone.

use std::path::Path;

use thiserror::Error;

use crate::sink::session_dirs;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageLimits {
    /// Bytes the session files under the root may take in all.
    pub quota_bytes: u64,
    /// Free bytes the volume must keep for the rest of the phone.
    pub free_space_floor_bytes: u64,
}

impl Default for StorageLimits {
    fn default() -> Self {
        Self { quota_bytes: 20 << 30, free_space_floor_bytes: 2 << 30 }
    }
}

/// What the recordings take and what the volume has left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageUse {
    pub used_bytes: u64,
    pub free_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StorageRefusal {
    #[error("the recordings take {used_bytes} bytes, over the quota of {quota_bytes}")]
    QuotaReached { used_bytes: u64, quota_bytes: u64 },
    #[error("only {free_bytes} bytes are free, under the floor of {floor_bytes}")]
    BelowFreeSpaceFloor { free_bytes: u64, floor_bytes: u64 },
    #[error("cannot measure the storage of {path}: {reason}")]
    Unmeasurable { path: String, reason: String },
}

impl StorageLimits {
    /// Measures `root` (the recordings directory) against the limits.
    pub fn check(&self, root: &Path) -> Result<StorageUse, StorageRefusal> {
        let usage = measure(root)?;
        if usage.used_bytes >= self.quota_bytes {
            return Err(StorageRefusal::QuotaReached { used_bytes: usage.used_bytes, quota_bytes: self.quota_bytes });
        }
        if usage.free_bytes < self.free_space_floor_bytes {
            return Err(StorageRefusal::BelowFreeSpaceFloor {
                free_bytes: usage.free_bytes,
                floor_bytes: self.free_space_floor_bytes,
            });
        }
        Ok(usage)
    }
}

/// The bytes of the files in the session directories under `root`, and
/// the bytes free to an unprivileged writer on its volume.
pub fn measure(root: &Path) -> Result<StorageUse, StorageRefusal> {
    let unmeasurable = |reason: String| StorageRefusal::Unmeasurable { path: root.display().to_string(), reason };
    let stats = rustix::fs::statvfs(root).map_err(|e| unmeasurable(e.to_string()))?;
    let free_bytes = stats.f_bavail.saturating_mul(stats.f_frsize);
    let mut used_bytes = 0u64;
    for session in session_dirs(root) {
        let entries = std::fs::read_dir(&session).map_err(|e| unmeasurable(e.to_string()))?;
        for entry in entries.flatten() {
            // A file deleted while we count is simply not counted.
            match entry.metadata() {
                Ok(meta) if meta.is_file() => used_bytes += meta.len(),
                _ => {}
            }
        }
    }
    Ok(StorageUse { used_bytes, free_bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quota_counts_session_files_and_the_floor_the_free_space() {
        let dir = tempfile::tempdir().unwrap();
        let session = dir.path().join("0123456789abcdef0123456789abcdef");
        std::fs::create_dir(&session).unwrap();
        std::fs::write(session.join("seg-000000.mp4.age"), vec![0u8; 10_000]).unwrap();
        std::fs::write(dir.path().join("not-a-session.bin"), vec![0u8; 50_000]).unwrap();
        let usage = measure(dir.path()).unwrap();
        assert_eq!(usage.used_bytes, 10_000);
        assert!(usage.free_bytes > 0);

        // The free bytes are the whole volume's, which other tests write to
        // at the same time: only the session files' count is fixed.
        let roomy = StorageLimits { quota_bytes: 10_001, free_space_floor_bytes: 0 };
        assert!(matches!(roomy.check(dir.path()), Ok(StorageUse { used_bytes: 10_000, .. })));
        let full = StorageLimits { quota_bytes: 10_000, free_space_floor_bytes: 0 };
        assert!(matches!(full.check(dir.path()), Err(StorageRefusal::QuotaReached { used_bytes: 10_000, .. })));
        let floor = StorageLimits { quota_bytes: u64::MAX, free_space_floor_bytes: u64::MAX };
        assert!(matches!(floor.check(dir.path()), Err(StorageRefusal::BelowFreeSpaceFloor { .. })));
        let missing = StorageLimits::default().check(&dir.path().join("missing"));
        assert!(matches!(missing, Err(StorageRefusal::Unmeasurable { .. })));
    }
}
