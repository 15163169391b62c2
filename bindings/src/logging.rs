//! Forwards the library's `log` records to the host (Logcat, OSLog).

use std::cell::Cell;
use std::sync::{Arc, OnceLock, RwLock};

use crate::error::{guarded, EgocapError};

/// Receives log records. Called on whichever thread logged (often the
/// library's worker): write the line and return. An exception thrown here
/// is dropped; logging never fails the recording.
#[uniffi::export(with_foreign)]
pub trait LogSink: Send + Sync {
    fn log(&self, record: LogRecord) -> Result<(), EgocapError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct LogRecord {
    pub level: LogLevel,
    /// The Rust module that logged, e.g. "egocap_core::session".
    pub target: String,
    pub message: String,
}

/// Sends records at `max_level` and above to `sink`, replacing any sink
/// installed before. Fails with `InvalidSettings`, on this and every later
/// call, when another `log` logger owns the process.
#[uniffi::export]
pub fn install_log_sink(sink: Arc<dyn LogSink>, max_level: LogLevel) -> Result<(), EgocapError> {
    // `log` takes one logger per process, once; remember whether it is ours.
    static OURS: OnceLock<bool> = OnceLock::new();
    guarded(|| {
        if !*OURS.get_or_init(|| log::set_logger(&FORWARDER).is_ok()) {
            return Err(EgocapError::InvalidSettings {
                reason: "another logger is already installed in this process".into(),
            });
        }
        if let Ok(mut slot) = SINK.write() {
            *slot = Some(sink);
        }
        log::set_max_level(max_level.into());
        Ok(())
    })
}

/// Stops forwarding log records.
#[uniffi::export]
pub fn remove_log_sink() {
    log::set_max_level(log::LevelFilter::Off);
    if let Ok(mut slot) = SINK.write() {
        *slot = None;
    }
}

static SINK: RwLock<Option<Arc<dyn LogSink>>> = RwLock::new(None);
static FORWARDER: Forwarder = Forwarder;

thread_local! {
    /// Set while this thread is inside the host's sink, so a record logged
    /// from within it (through a call back into us) is dropped, not looped.
    static FORWARDING: Cell<bool> = const { Cell::new(false) };
}

struct Forwarder;

impl log::Log for Forwarder {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) || FORWARDING.with(Cell::get) {
            return;
        }
        let Some(sink) = SINK.read().ok().and_then(|s| s.clone()) else { return };
        FORWARDING.with(|f| f.set(true));
        let _ = sink.log(LogRecord {
            level: record.level().into(),
            target: record.target().to_owned(),
            message: record.args().to_string(),
        });
        FORWARDING.with(|f| f.set(false));
    }

    fn flush(&self) {}
}

impl From<log::Level> for LogLevel {
    fn from(level: log::Level) -> Self {
        match level {
            log::Level::Error => Self::Error,
            log::Level::Warn => Self::Warn,
            log::Level::Info => Self::Info,
            log::Level::Debug => Self::Debug,
            log::Level::Trace => Self::Trace,
        }
    }
}

impl From<LogLevel> for log::LevelFilter {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Error => Self::Error,
            LogLevel::Warn => Self::Warn,
            LogLevel::Info => Self::Info,
            LogLevel::Debug => Self::Debug,
            LogLevel::Trace => Self::Trace,
        }
    }
}
