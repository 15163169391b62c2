//! Watches the share of frames that failed closed over the last minute, so
//! the app can tell the worker (a phone that is overheating records footage
//! nobody can use) instead of finding out from the segment reports later.

use std::collections::VecDeque;

/// The failed-closed share over the last minute passed the threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FailClosedAlarm {
    /// Frames in the window (the last minute of frame time).
    pub window_frames: u64,
    pub failed_closed_frames: u64,
    /// `failed_closed_frames / window_frames`.
    pub share: f32,
}

/// A window of one minute of frame timestamps; raises at most one alarm per minute.
#[derive(Debug)]
pub struct FailClosedMonitor {
    threshold: f32,
    window_ns: i64,
    /// Too few frames say nothing about a minute; the first second is not judged.
    min_frames: usize,
    frames: VecDeque<(i64, bool)>,
    failed: u64,
    last_alarm_ns: Option<i64>,
}

const MINUTE_NS: i64 = 60_000_000_000;

impl FailClosedMonitor {
    /// `threshold` is the share (0..1) above which the alarm goes off.
    pub fn new(threshold: f32, nominal_fps: f32) -> Self {
        Self {
            threshold,
            window_ns: MINUTE_NS,
            min_frames: nominal_fps.max(1.0) as usize,
            frames: VecDeque::new(),
            failed: 0,
            last_alarm_ns: None,
        }
    }

    /// Counts one frame (by its timestamp) and says whether to alarm now.
    pub fn observe(&mut self, timestamp_ns: i64, failed_closed: bool) -> Option<FailClosedAlarm> {
        self.frames.push_back((timestamp_ns, failed_closed));
        self.failed += u64::from(failed_closed);
        while let Some(&(oldest, failed)) = self.frames.front() {
            if timestamp_ns.saturating_sub(oldest) < self.window_ns {
                break;
            }
            self.frames.pop_front();
            self.failed -= u64::from(failed);
        }
        let window_frames = self.frames.len() as u64;
        let share = self.failed as f32 / window_frames.max(1) as f32;
        let quiet = self.last_alarm_ns.is_none_or(|last| timestamp_ns.saturating_sub(last) >= self.window_ns);
        if self.frames.len() >= self.min_frames && share > self.threshold && quiet {
            self.last_alarm_ns = Some(timestamp_ns);
            return Some(FailClosedAlarm { window_frames, failed_closed_frames: self.failed, share });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME_NS: i64 = 33_333_333;

    #[test]
    fn alarms_once_a_minute_while_the_share_stays_high_and_never_below_it() {
        let mut monitor = FailClosedMonitor::new(0.05, 30.0);
        // Two minutes with 1 frame in 50 failed (2 %): no alarm.
        assert!((0..3600).all(|i| monitor.observe(i * FRAME_NS, i % 50 == 0).is_none()));
        // Then every frame fails for two minutes: an alarm as the share
        // crosses 5 %, and one more a minute later.
        let alarms: Vec<(i64, FailClosedAlarm)> =
            (3600..7200).filter_map(|i| monitor.observe(i * FRAME_NS, true).map(|alarm| (i, alarm))).collect();
        assert_eq!(alarms.len(), 2, "{alarms:?}");
        assert!(alarms[0].1.share > 0.05 && alarms[0].1.share < 0.06, "{alarms:?}");
        // 1800 intervals of 33 333 333 ns fall just short of a minute: the
        // next alarm comes one frame later, and the window holds 1801 frames.
        assert_eq!(alarms[1].0 - alarms[0].0, 1801);
        assert_eq!(alarms[1].1.window_frames, 1801);
    }

    #[test]
    fn the_first_frames_of_a_session_do_not_alarm_on_their_own() {
        let mut monitor = FailClosedMonitor::new(0.05, 30.0);
        assert!((0..29).all(|i| monitor.observe(i * FRAME_NS, true).is_none()));
        assert!(monitor.observe(29 * FRAME_NS, true).is_some());
    }
}
