//! The session's worker thread: align → validate → encode → segment → write.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::Receiver;

use super::blurring::BlurMark;
use super::{CaptureError, Command, PauseReason, SessionConfig, SessionSummary, Shared};
use crate::clock::{Clock, ClockDomain, ClockPair, StreamAligner};
use crate::encoder::{EncodedFrame, VideoEncoder};
use crate::frame::I420Image;
use crate::imu::{ImuAdmission, ImuMerger, ImuSample, Rotation3};
use crate::segment::{build_segment, BlurModel, SegmentContext, SegmentSummary};
use crate::segmenter::{ClosedSegment, FrameGap, SegmentEnd, SegmentStats, Segmenter};
use crate::sink::SegmentSink;

/// A frame that was pushed but will not appear in any segment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DroppedFrame {
    /// As pushed, on the frame stream's clock.
    pub timestamp_ns: i64,
    pub reason: DropReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    QueueFull,
    TimestampNotIncreasing,
    Paused,
    /// Face blurring could not vouch for it (drop mode).
    FailedClosed,
}

/// A pause: the segment before it ended at `paused_at_ns`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PauseRecord {
    pub reason: PauseReason,
    /// End of the last segment before the pause; `None` if no frame came before it.
    pub paused_at_ns: Option<i64>,
    /// First frame after the pause; `None` if the session stopped while paused.
    pub resumed_at_ns: Option<i64>,
}

/// One tick of the 90 kHz video track clock, rounded up.
const MIN_FRAME_INTERVAL_NS: i64 = 11_112;

pub(super) struct WorkerSetup {
    pub config: SessionConfig,
    pub session_id: String,
    pub clock: Arc<dyn Clock>,
    pub reference: ClockDomain,
    pub encoder: Box<dyn VideoEncoder>,
    pub sink: Box<dyn SegmentSink>,
    pub receiver: Receiver<Command>,
    pub blur_model: Option<BlurModel>,
    pub shared: Arc<Shared>,
}

pub(super) fn spawn(setup: WorkerSetup) -> std::io::Result<JoinHandle<SessionSummary>> {
    std::thread::Builder::new().name("egocap-recorder".into()).spawn(move || run(setup))
}

fn run(setup: WorkerSetup) -> SessionSummary {
    let shared = setup.shared.clone();
    let mut worker = Worker::new(setup);
    let outcome = catch_unwind(AssertUnwindSafe(|| worker.run_until_stop()));
    let failure = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(panic) => Some(format!("internal error in the recording worker: {}", panic_message(&panic))),
    };
    if let Some(reason) = &failure {
        log::error!("session {} failed: {reason}", worker.session_id);
        worker.salvage();
        if let Ok(mut slot) = shared.failure.lock() {
            *slot = Some(reason.clone());
        }
    }
    let summary = worker.summary(failure);
    if let Err(e) = worker.sink.finish_session(&summary) {
        log::error!("could not write the session summary: {e}");
    }
    summary
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

struct Worker {
    config: SessionConfig,
    session_id: String,
    clock: Arc<dyn Clock>,
    reference: ClockDomain,
    encoder: Box<dyn VideoEncoder>,
    sink: Box<dyn SegmentSink>,
    receiver: Receiver<Command>,
    shared: Arc<Shared>,
    /// What the blur stage did to each frame handed to the encoder, by
    /// timestamp, until the encoder returns it (an encoder may hold frames).
    blur_marks: std::collections::VecDeque<(i64, BlurMark)>,
    context: SegmentContext,
    frame_aligner: StreamAligner,
    imu_aligner: Option<StreamAligner>,
    imu_rotation: Rotation3,
    merger: ImuMerger,
    segmenter: Segmenter,
    /// Counts made while no segment was open; they go to the next one.
    carry: SegmentStats,
    started: ClockPair,
    last_frame_ns: Option<i64>,
    last_interval_ns: i64,
    paused: bool,
    /// The next frame is the first after a pause.
    resuming: bool,
    keyframe_needed: bool,
    queue_drops_seen: u64,
    dropped: Vec<DroppedFrame>,
    frames_dropped_total: u64,
    pauses: Vec<PauseRecord>,
    imu_pushed: u64,
    imu_late: u64,
    segments: Vec<SegmentSummary>,
}

impl Worker {
    fn new(setup: WorkerSetup) -> Self {
        let config = setup.config;
        let clock = setup.clock;
        let frame_aligner = StreamAligner::new(clock.as_ref(), setup.reference, config.frame_clock);
        let imu_aligner = config.imu_clock.map(|c| StreamAligner::new(clock.as_ref(), setup.reference, c));
        let context = SegmentContext {
            session_id: setup.session_id.clone(),
            geometry: config.geometry,
            width: config.frame_format.width,
            height: config.frame_format.height,
            encoder_name: setup.encoder.name(),
            target_bitrate_bps: config.bitrate_bps,
            blur_model: setup.blur_model,
        };
        let started = now_pair(clock.as_ref(), setup.reference);
        Self {
            imu_rotation: config.geometry.imu_rotation(),
            merger: ImuMerger::new(config.imu_reorder_window_ns),
            segmenter: Segmenter::new(config.segment_duration_ns, config.imu_max_lag_ns, config.imu_clock.is_some()),
            last_interval_ns: (1e9 / f64::from(config.nominal_fps)) as i64,
            config,
            session_id: setup.session_id,
            clock,
            reference: setup.reference,
            encoder: setup.encoder,
            sink: setup.sink,
            receiver: setup.receiver,
            blur_marks: std::collections::VecDeque::new(),
            shared: setup.shared,
            context,
            frame_aligner,
            imu_aligner,
            carry: SegmentStats::default(),
            started,
            last_frame_ns: None,
            paused: false,
            resuming: false,
            keyframe_needed: true,
            queue_drops_seen: 0,
            dropped: Vec::new(),
            frames_dropped_total: 0,
            pauses: Vec::new(),
            imu_pushed: 0,
            imu_late: 0,
            segments: Vec::new(),
        }
    }

    fn run_until_stop(&mut self) -> Result<(), CaptureError> {
        // Every sender gone without Stop (the session was leaked) ends the loop too.
        while let Ok(command) = self.receiver.recv() {
            match command {
                Command::Frame { image, timestamp_ns, arrival_ns, blur } => {
                    self.shared.frames_queued.fetch_sub(1, Ordering::AcqRel);
                    self.on_frame(&image, timestamp_ns, arrival_ns, blur)?;
                }
                Command::FailedClosedDrop { timestamp_ns, mark } => {
                    self.shared.frames_queued.fetch_sub(1, Ordering::AcqRel);
                    self.collect_queue_drops();
                    self.count_blur(mark);
                    self.stats().blur.frames_dropped += 1;
                    self.drop_frame(timestamp_ns, DropReason::FailedClosed);
                }
                Command::Imu { samples, arrival_ns } => self.on_imu(&samples, arrival_ns)?,
                Command::Pause(reason) => self.on_pause(reason)?,
                Command::Resume => {
                    self.resuming = self.paused;
                    self.paused = false;
                }
                Command::Stop => break,
                Command::Failed(reason) => return Err(CaptureError::PipelineFailed(reason)),
            }
        }
        self.finish()
    }

    fn on_frame(
        &mut self,
        image: &I420Image,
        timestamp_ns: i64,
        arrival_ns: i64,
        blur: Option<BlurMark>,
    ) -> Result<(), CaptureError> {
        self.collect_queue_drops();
        if self.paused {
            self.drop_frame(timestamp_ns, DropReason::Paused);
            self.stats().frames_dropped_paused += 1;
            return Ok(());
        }
        let t = self.frame_aligner.map(timestamp_ns, arrival_ns);
        if let Some(last) = self.last_frame_ns {
            // Closer than one 90 kHz tick cannot be told apart in the file either.
            if t - last < MIN_FRAME_INTERVAL_NS {
                self.drop_frame(timestamp_ns, DropReason::TimestampNotIncreasing);
                self.stats().frames_dropped_timestamp_not_increasing += 1;
                return Ok(());
            }
            // The first frame after a pause is not a gap: the pause is recorded as such.
            if !self.resuming {
                let interval = t - last;
                let nominal = (1e9 / f64::from(self.config.nominal_fps)) as i64;
                if interval * 2 > nominal * 3 {
                    self.stats().gaps.push(FrameGap { after_ns: last, interval_ns: interval });
                }
                self.last_interval_ns = interval;
            }
        }
        if self.resuming {
            self.resuming = false;
            if let Some(pause) = self.pauses.last_mut() {
                pause.resumed_at_ns = Some(t);
            }
        }
        let force = self.keyframe_needed || self.segmenter.wants_keyframe(t);
        if let Some(mark) = blur {
            self.blur_marks.push_back((t, mark));
        }
        let encoded = self.encoder.encode(image, t, force)?;
        self.keyframe_needed = false;
        self.last_frame_ns = Some(t);
        self.push_encoded(encoded)?;
        self.write_ready(false)
    }

    fn push_encoded(&mut self, encoded: Vec<EncodedFrame>) -> Result<(), CaptureError> {
        for frame in encoded {
            let pts = frame.pts_ns;
            self.segmenter.push_video(frame)?;
            self.shared.frames_encoded.fetch_add(1, Ordering::Relaxed);
            // Counted in the segment that took the frame.
            if let Some(index) = self.blur_marks.iter().position(|(t, _)| *t == pts) {
                if let Some((_, mark)) = self.blur_marks.remove(index) {
                    self.count_blur(mark);
                }
            }
            // Only the first frame of a segment opens it: read the clocks and
            // hand over the carried counts then, not on every frame.
            if self.segmenter.open_stats().is_some_and(|stats| stats.start_clock.is_none()) {
                let unverified =
                    self.frame_aligner.is_estimated() || self.imu_aligner.as_ref().is_some_and(|a| a.is_estimated());
                let opened = now_pair(self.clock.as_ref(), self.reference);
                let carry = std::mem::take(&mut self.carry);
                if let Some(stats) = self.segmenter.open_stats() {
                    stats.start_clock = Some(opened);
                    stats.clock_unverified = unverified;
                    stats.absorb(carry);
                }
            }
        }
        Ok(())
    }

    /// Counts toward the open segment (or the next one, when none is open).
    fn count_blur(&mut self, mark: BlurMark) {
        let counts = &mut self.stats().blur;
        counts.faces_found += u64::from(mark.new_faces);
        counts.frames_blurred += u64::from(mark.obscured);
        counts.frames_failed_closed += u64::from(mark.failed_closed);
    }

    fn on_imu(&mut self, samples: &[ImuSample], arrival_ns: i64) -> Result<(), CaptureError> {
        let Some(aligner) = self.imu_aligner.as_mut() else { return Ok(()) };
        self.imu_pushed += samples.len() as u64;
        for sample in samples {
            let mapped = ImuSample {
                timestamp_ns: aligner.map(sample.timestamp_ns, arrival_ns),
                kind: sample.kind,
                xyz: self.imu_rotation.apply(sample.xyz),
            };
            let admission = self.merger.offer(mapped);
            let stats = match self.segmenter.open_stats() {
                Some(stats) => stats,
                None => &mut self.carry,
            };
            match admission {
                ImuAdmission::Accepted => {}
                ImuAdmission::NotIncreasing => stats.imu_rejected_not_increasing += 1,
                ImuAdmission::TooLate => stats.imu_rejected_too_late += 1,
                ImuAdmission::NotFinite => stats.imu_rejected_not_finite += 1,
            }
            if admission == ImuAdmission::TooLate {
                self.imu_late += 1;
            }
        }
        let mut released = Vec::new();
        self.merger.release_ready(&mut released);
        self.segmenter.push_imu(released);
        self.write_ready(false)
    }

    fn on_pause(&mut self, reason: PauseReason) -> Result<(), CaptureError> {
        if self.paused {
            return Ok(());
        }
        let end = self.close_open_segment(SegmentEnd::Pause)?;
        self.paused = true;
        self.keyframe_needed = true;
        log::info!("session {} paused ({reason:?})", self.session_id);
        self.pauses.push(PauseRecord { reason, paused_at_ns: end, resumed_at_ns: None });
        Ok(())
    }

    /// Drains the encoder, ends the open segment one frame interval after its
    /// last frame, and writes everything closed (IMU flushed first).
    fn close_open_segment(&mut self, reason: SegmentEnd) -> Result<Option<i64>, CaptureError> {
        let held = self.encoder.flush()?;
        self.push_encoded(held)?;
        let end = self.last_frame_ns.map(|t| t + self.last_interval_ns);
        if let Some(end) = end {
            self.segmenter.close(end, reason);
        }
        let mut released = Vec::new();
        self.merger.release_all(&mut released);
        self.segmenter.push_imu(released);
        self.write_ready(true)?;
        Ok(end)
    }

    fn finish(&mut self) -> Result<(), CaptureError> {
        self.collect_queue_drops();
        self.close_open_segment(SegmentEnd::Stop).map(|_| ())
    }

    /// After a failure: writes the segments whose frames were all encoded,
    /// without touching the encoder again. Best effort; errors are logged.
    fn salvage(&mut self) {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            if let Some(last) = self.last_frame_ns {
                self.segmenter.close(last + self.last_interval_ns, SegmentEnd::Stop);
            }
            self.write_ready(true)
        }));
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => log::error!("could not save the segments before the failure: {e}"),
            Err(_) => log::error!("could not save the segments before the failure: panic"),
        }
    }

    fn write_ready(&mut self, everything: bool) -> Result<(), CaptureError> {
        let ready =
            if everything { self.segmenter.take_all() } else { self.segmenter.take_ready(self.merger.watermark_ns()) };
        // One segment that cannot be written must not take the others with it:
        // write every one, then report the first failure.
        let mut first_error = None;
        for closed in ready {
            if let Err(e) = self.write_segment(closed) {
                log::error!("session {}: {e}", self.session_id);
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn write_segment(&mut self, closed: ClosedSegment) -> Result<(), CaptureError> {
        let end_clock = now_pair(self.clock.as_ref(), self.reference);
        let finished = build_segment(closed, &self.context, Some(end_clock))?;
        let summary = finished.summary.clone();
        let path = self.sink.write_segment(finished)?;
        log::info!("segment {} written: {} frames, {}", summary.sequence, summary.frame_count, path.display());
        self.segments.push(summary);
        self.shared.segments_written.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn stats(&mut self) -> &mut SegmentStats {
        match self.segmenter.open_stats() {
            Some(stats) => stats,
            None => &mut self.carry,
        }
    }

    fn drop_frame(&mut self, timestamp_ns: i64, reason: super::DropReason) {
        self.frames_dropped_total += 1;
        if self.dropped.len() < super::MAX_LISTED_DROPS {
            self.dropped.push(DroppedFrame { timestamp_ns, reason });
        }
    }

    fn collect_queue_drops(&mut self) {
        let total = self.shared.frames_dropped_queue_full.load(Ordering::Relaxed);
        let new = total - self.queue_drops_seen;
        self.queue_drops_seen = total;
        self.stats().frames_dropped_queue_full += new;
        let pushed_side: Vec<DroppedFrame> = match self.shared.push_side_drops.lock() {
            Ok(mut drops) => drops.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        for drop in pushed_side {
            if drop.reason == DropReason::Paused {
                self.stats().frames_dropped_paused += 1;
            }
            self.drop_frame(drop.timestamp_ns, drop.reason);
        }
    }

    fn summary(&self, failure: Option<String>) -> SessionSummary {
        let imu_written = self.segments.iter().map(|s| s.imu_sample_count).sum();
        let placement = self.segmenter.imu_placement;
        SessionSummary {
            session_id: self.session_id.clone(),
            started: self.started,
            stopped: now_pair(self.clock.as_ref(), self.reference),
            frames_pushed: self.shared.frames_pushed.load(Ordering::Relaxed),
            frames_encoded: self.shared.frames_encoded.load(Ordering::Relaxed),
            frames_dropped: self.frames_dropped_total,
            dropped_frames: self.dropped.clone(),
            imu_samples_pushed: self.imu_pushed,
            imu_samples_written: imu_written,
            imu_samples_outside_segments: placement.outside_segments,
            imu_samples_late: self.imu_late + placement.after_segment_written,
            pauses: self.pauses.clone(),
            clock_unverified: self.segments.iter().any(|s| s.clock_unverified),
            segments: self.segments.clone(),
            failure,
        }
    }
}

fn now_pair(clock: &dyn Clock, reference: ClockDomain) -> ClockPair {
    ClockPair { monotonic_ns: clock.now_ns(reference).unwrap_or(0), utc_unix_ns: clock.utc_unix_ns() }
}
