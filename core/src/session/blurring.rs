//! The blur thread, between the push queue and the worker: frames leave it
//! only through the blur stage, so no picture reaches the encoder without
//! its faces obscured (or obscured whole). Running it on its own thread lets
//! detection and encoding use a core each.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

use super::Command;
use crate::blur::detector::FaceDetector;
use crate::blur::monitor::{FailClosedAlarm, FailClosedMonitor};
use crate::blur::stage::{BlurConfig, BlurStage, BudgetClock, ReleasedFrame, SystemBudgetClock};
use crate::segment::BlurModel;

/// Face blurring for a session: the detector and how the stage uses it.
pub struct FaceBlur {
    pub detector: Box<dyn FaceDetector>,
    pub config: BlurConfig,
    /// The budget's clock; tests pass a fake one.
    pub clock: Arc<dyn BudgetClock>,
    /// Share of failed-closed frames over a minute above which `listener` is told.
    pub alarm_share: f32,
    pub listener: Option<Arc<dyn FailClosedListener>>,
}

impl FaceBlur {
    /// Default settings on the real clock; alarms above 5 % per minute.
    pub fn new(detector: Box<dyn FaceDetector>) -> Self {
        Self {
            detector,
            config: BlurConfig::default(),
            clock: Arc::new(SystemBudgetClock::default()),
            alarm_share: 0.05,
            listener: None,
        }
    }
}

/// Hears when too many frames fail closed (see [`FailClosedMonitor`]).
/// Called on a thread of its own, so a slow handler, or one that stops the
/// session, never holds frames back.
pub trait FailClosedListener: Send + Sync {
    fn failed_closed_share_exceeded(&self, alarm: FailClosedAlarm);
}

/// What the stage did to a frame, as the worker counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BlurMark {
    pub new_faces: u32,
    pub obscured: bool,
    pub failed_closed: bool,
}

pub(super) struct BlurThread {
    pub stage: BlurStage<i64>,
    pub monitor: FailClosedMonitor,
    pub alarms: Option<Sender<FailClosedAlarm>>,
    pub input: Receiver<Command>,
    pub output: Sender<Command>,
}

/// Starts the thread that tells `listener` of alarms; returns where to send
/// them and the thread, which ends when the sender is dropped.
pub(super) fn spawn_notifier(
    listener: Arc<dyn FailClosedListener>,
) -> std::io::Result<(Sender<FailClosedAlarm>, JoinHandle<()>)> {
    let (sender, receiver) = crossbeam_channel::unbounded::<FailClosedAlarm>();
    let thread = std::thread::Builder::new().name("egocap-blur-alarm".into()).spawn(move || {
        for alarm in receiver {
            if catch_unwind(AssertUnwindSafe(|| listener.failed_closed_share_exceeded(alarm))).is_err() {
                log::warn!("the failed-closed alarm handler panicked");
            }
        }
    })?;
    Ok((sender, thread))
}

impl BlurThread {
    pub fn model(&self) -> BlurModel {
        BlurModel { name: self.stage.model_name().to_owned(), sha256: self.stage.model_sha256().to_owned() }
    }

    pub fn spawn(self) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new().name("egocap-blur".into()).spawn(move || self.run())
    }

    fn run(mut self) {
        let output = self.output.clone();
        if catch_unwind(AssertUnwindSafe(|| self.forward_until_stop())).is_err() {
            // Frames still in the stage are lost, never passed on unblurred.
            log::error!("face blurring failed: the blur thread panicked");
            // The worker ends the session as failed (segments so far are kept).
            let _ = output.send(Command::Failed("face blurring failed: internal error".into()));
        }
    }

    fn forward_until_stop(&mut self) {
        // Every push-side sender gone without Stop ends the loop too; the
        // worker then sees its channel close.
        while let Ok(command) = self.input.recv() {
            let forwarded = match command {
                // The worker counts the frame off the queue: a frame waiting
                // here or in the channel to it still counts toward the bound.
                Command::Frame { image, timestamp_ns, arrival_ns, .. } => {
                    let released = self.stage.push(image, timestamp_ns, arrival_ns);
                    self.forward(released)
                }
                // Frames before a pause or stop belong before it.
                command @ (Command::Pause(_) | Command::Stop) => {
                    let stopping = matches!(command, Command::Stop);
                    let released = self.stage.flush();
                    let sent = self.forward(released) && self.output.send(command).is_ok();
                    if stopping {
                        return;
                    }
                    sent
                }
                other => self.output.send(other).is_ok(),
            };
            if !forwarded {
                log::warn!("the recording worker ended; face blurring stops");
                return;
            }
        }
        let released = self.stage.flush();
        self.forward(released);
    }

    /// Sends released frames on; false once the worker is gone.
    fn forward(&mut self, released: Vec<ReleasedFrame<i64>>) -> bool {
        for frame in released {
            let failed_closed = frame.blur.failed_closed.is_some();
            if let Some(alarm) = self.monitor.observe(frame.timestamp_ns, failed_closed) {
                log::warn!(
                    "{} of the last {} frames failed closed (face detection failing or too slow)",
                    alarm.failed_closed_frames,
                    alarm.window_frames
                );
                if let Some(alarms) = &self.alarms {
                    // The notifier thread ends only with this sender.
                    let _ = alarms.send(alarm);
                }
            }
            let mark =
                BlurMark { new_faces: frame.blur.new_faces, obscured: !frame.blur.regions.is_empty(), failed_closed };
            let command = match frame.image {
                Some(image) => {
                    Command::Frame { image, timestamp_ns: frame.timestamp_ns, arrival_ns: frame.tag, blur: Some(mark) }
                }
                None => Command::FailedClosedDrop { timestamp_ns: frame.timestamp_ns, mark },
            };
            if self.output.send(command).is_err() {
                return false;
            }
        }
        true
    }
}
