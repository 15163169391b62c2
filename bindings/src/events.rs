//! Progress for the app's UI. The core has no event hook yet, so segment
//! events come from wrapping the segment sink; counters come from polling
//! `RecordingSession.stats()`.

use std::path::PathBuf;
use std::sync::Arc;

use egocap_core::segment::{FinishedSegment, SegmentSummary};
use egocap_core::session::SessionSummary;
use egocap_core::sink::{SegmentSink, SinkError};

use crate::error::EgocapError;

/// Receives progress. Called on the library's worker thread: hand the event
/// to the UI thread and return. An exception thrown here is logged and the
/// recording goes on.
#[uniffi::export(with_foreign)]
pub trait EventSink: Send + Sync {
    /// A segment file is complete on disk at `path`.
    fn segment_written(&self, segment: SegmentSummary, path: String) -> Result<(), EgocapError>;
    /// The session ended (normally or after a failure, see `summary.failure`).
    fn session_finished(&self, summary: SessionSummary) -> Result<(), EgocapError>;
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
