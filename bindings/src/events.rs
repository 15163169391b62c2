//! Progress for the app's UI. Segment events come from wrapping the
//! segment sink, the failed-closed alarm from the core's
//! `FailClosedListener`; counters come from polling `RecordingSession.stats()`.

use std::path::PathBuf;
use std::sync::Arc;

use egocap_core::blur::monitor::FailClosedAlarm;
use egocap_core::segment::{FinishedSegment, SegmentSummary};
use egocap_core::session::{FailClosedListener, SessionSummary};
use egocap_core::sink::{SegmentSink, SinkError};

use crate::error::EgocapError;

/// Receives progress. Called on the library's threads (worker, blur): hand
/// the event to the UI thread and return. An exception thrown here is
/// logged and the recording goes on.
#[uniffi::export(with_foreign)]
pub trait EventSink: Send + Sync {
    /// A segment file is complete on disk at `path`.
    fn segment_written(&self, segment: SegmentSummary, path: String) -> Result<(), EgocapError>;
    /// The session ended (normally or after a failure, see `summary.failure`).
    fn session_finished(&self, summary: SessionSummary) -> Result<(), EgocapError>;
    /// Too many frames failed closed (blurred whole or dropped) over the
    /// last minute: face detection is failing or too slow, e.g. on a phone
    /// that is overheating. At most once a minute while it lasts; tell the
    /// worker, since the footage is of little use.
    fn failed_closed_share_exceeded(&self, alarm: FailClosedAlarm) -> Result<(), EgocapError>;
}

/// The core's failed-closed alarm, passed on to the host.
pub(crate) struct AlarmToEventSink(pub Arc<dyn EventSink>);

impl FailClosedListener for AlarmToEventSink {
    fn failed_closed_share_exceeded(&self, alarm: FailClosedAlarm) {
        if let Err(e) = self.0.failed_closed_share_exceeded(alarm) {
            log::warn!("the host's event sink failed on failed_closed_share_exceeded: {e}");
        }
    }
}

/// A segment sink that tells the host what its inner sink wrote.
pub(crate) struct EventReportingSink {
    pub inner: Box<dyn SegmentSink>,
    pub events: Arc<dyn EventSink>,
}

impl SegmentSink for EventReportingSink {
    fn write_segment(&mut self, segment: FinishedSegment) -> Result<PathBuf, SinkError> {
        let summary = segment.summary.clone();
        let path = self.inner.write_segment(segment)?;
        if let Err(e) = self.events.segment_written(summary, path.display().to_string()) {
            log::warn!("the host's event sink failed on segment_written: {e}");
        }
        Ok(path)
    }

    fn finish_session(&mut self, summary: &SessionSummary) -> Result<(), SinkError> {
        let result = self.inner.finish_session(summary);
        if let Err(e) = self.events.session_finished(summary.clone()) {
            log::warn!("the host's event sink failed on session_finished: {e}");
        }
        result
    }
}
