//! `egocap upload` and `egocap queue status`: the upload queue from a
//! desktop. The journal lives beside the recordings (`DIR/upload-journal.db`)
//! so a second run, after a crash or a kill, resumes where the first stopped.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use egocap_core::provenance::keystore::FileKeyStore;
use egocap_core::upload::{
    AuthError, AuthProvider, Backoff, InboxTarget, JournalError, QueueConfig, QueuedFile, RunOutcome, StopSignal,
    Timeouts, TusTarget, UploadEvent, UploadJournal, UploadListener, UploadQueue, UploadTarget, UreqTransport,
};

use crate::keys::{now, read_record, DEVICE_KEY};

pub const JOURNAL_FILE: &str = "upload-journal.db";

#[derive(Args, Debug, Clone)]
pub struct UploadArgs {
    /// The recordings directory (the session directories directly under it are sent).
    pub dir: PathBuf,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Bytes per PATCH; an interruption re-sends at most this much.
    #[arg(long, default_value_t = 4 << 20)]
    pub chunk_size: usize,
    /// Hours a fully uploaded file stays on disk before it is deleted.
    #[arg(long, default_value_t = 24.0)]
    pub retention_hours: f64,
    /// Average rate cap in bytes per second.
    #[arg(long)]
    pub max_rate: Option<u64>,
    /// Longest wait between retries, in milliseconds.
    #[arg(long, default_value_t = 60_000)]
    pub retry_cap_ms: u64,
    /// A file holding a bearer token, read before each request and re-read after a 401.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Read timeout in seconds (a stalled server fails after this long).
    #[arg(long, default_value_t = 30)]
    pub read_timeout: u64,
    /// Stop after this many seconds even if files are left (they resume on the next run).
    #[arg(long)]
    pub give_up_after: Option<u64>,
    /// If the journal is corrupt, keep it aside (`upload-journal.db.corrupt-<ms>`) and start a
    /// new one that adopts the files again (files already sent are sent again, as new uploads).
    #[arg(long)]
    pub reset_corrupt_journal: bool,
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Subcommand, Debug, Clone)]
pub enum QueueCommand {
    /// Every queued file: state, bytes acknowledged, last error.
    Status {
        /// The recordings directory given to `upload`.
        dir: PathBuf,
    },
    /// Apply a consent withdrawal (from `egocap consent withdraw`): delete the consent's unsent
    /// files, abandon their unfinished uploads, and queue the withdrawal and a signed purge record.
    Purge {
        /// The recordings directory.
        dir: PathBuf,
        /// The key directory holding the device key that signed the withdrawal.
        #[arg(long)]
        keys: PathBuf,
        /// The withdrawal record.
        #[arg(long)]
        withdrawal: PathBuf,
        /// Where unfinished uploads are abandoned.
        #[command(flatten)]
        target: TargetArgs,
    },
}

/// Where files go: a tus server or a local inbox (one of the two).
#[derive(Args, Debug, Clone)]
pub struct TargetArgs {
    /// A tus 1.0 creation endpoint, e.g. https://host/files/.
    #[arg(long, conflicts_with = "inbox", required_unless_present = "inbox")]
    pub server: Option<String>,
    /// A local inbox directory instead of a server (the embedded default).
    #[arg(long)]
    pub inbox: Option<PathBuf>,
}

impl TargetArgs {
    pub fn open(&self, timeouts: Timeouts, auth: Option<Arc<dyn AuthProvider>>) -> Result<Box<dyn UploadTarget>> {
        Ok(match (&self.server, &self.inbox) {
            (Some(endpoint), _) => Box::new(TusTarget::new(endpoint, Arc::new(UreqTransport::new(timeouts)), auth)),
            (None, Some(inbox)) => Box::new(InboxTarget::new(inbox)),
            (None, None) => bail!("give --server URL or --inbox DIR"),
        })
    }
}

pub fn run(args: &UploadArgs) -> Result<()> {
    let timeouts = Timeouts { read: Duration::from_secs(args.read_timeout), ..Timeouts::default() };
    let auth = args.token_file.clone().map(|path| Arc::new(TokenFile(path)) as Arc<dyn AuthProvider>);
    let target = args.target.open(timeouts, auth)?;
    if !(args.retention_hours >= 0.0 && args.retention_hours.is_finite()) {
        bail!("--retention-hours must be a non-negative number");
    }
    let config = QueueConfig {
        chunk_size: args.chunk_size,
        backoff: Backoff { first_ms: 500.min(args.retry_cap_ms), cap_ms: args.retry_cap_ms },
        retention: Duration::from_secs_f64(args.retention_hours * 3600.0),
        max_bytes_per_second: args.max_rate,
        ..QueueConfig::default()
    };
    let journal = args.dir.join(JOURNAL_FILE);
    if args.reset_corrupt_journal {
        set_aside_if_corrupt(&journal)?;
    }
    let stop = Arc::new(StopSignal::new());
    if let Some(seconds) = args.give_up_after {
        let stopper = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(seconds));
            stopper.stop();
        });
    }
    let outcome = upload(&args.dir, target, config, !args.quiet, &stop)?;
    match outcome {
        RunOutcome::Empty => Ok(()),
        RunOutcome::Unauthorized => bail!("the server refused the credentials after a refresh; nothing was lost"),
        RunOutcome::Stopped => {
            bail!("gave up after {} s; nothing was lost, run again to resume", args.give_up_after.unwrap_or(0))
        }
        RunOutcome::WaitingForNetwork => bail!("the network policy holds the remaining files back"),
        RunOutcome::WaitingForRecords => {
            bail!("media wait for records the server refused or that are missing; see `egocap queue status`")
        }
        RunOutcome::WaitingForChunkJob => {
            bail!("a background task of the app is sending the next file; run again later")
        }
    }
}

fn set_aside_if_corrupt(journal: &Path) -> Result<()> {
    match UploadJournal::open(journal) {
        Err(JournalError::Corrupt { .. }) => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
            let aside = UploadJournal::set_aside(journal, u64::try_from(now).unwrap_or(u64::MAX))?;
            eprintln!("egocap: the corrupt journal is kept as {}; starting a new one", aside.display());
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(other) => Err(other.into()),
    }
}

/// Queues every finished file under `dir` and sends until nothing is left (or `stop`).
pub fn upload(
    dir: &Path,
    target: Box<dyn UploadTarget>,
    config: QueueConfig,
    verbose: bool,
    stop: &StopSignal,
) -> Result<RunOutcome> {
    let mut queue = UploadQueue::open(&dir.join(JOURNAL_FILE), target, config)
        .with_context(|| format!("opening the upload queue of {}", dir.display()))?;
    if verbose {
        queue.set_listener(Arc::new(PrintEvents));
    }
    let added = queue.enqueue_sessions(dir)?;
    if verbose {
        println!("queued    {added} new file(s) from {}", dir.display());
    }
    let outcome = queue.run_until_empty(stop)?;
    let problems: Vec<QueuedFile> = queue.status()?.into_iter().filter(|f| f.last_error.is_some()).collect();
    for file in &problems {
        eprintln!("egocap: {} {:?}: {}", file.name, file.state, file.last_error.as_deref().unwrap_or_default());
    }
    Ok(outcome)
}

pub fn queue(command: &QueueCommand) -> Result<()> {
    match command {
        QueueCommand::Status { dir } => status(dir),
        QueueCommand::Purge { dir, keys, withdrawal, target } => {
            let target = target.open(Timeouts::default(), None)?;
            let device = FileKeyStore::open(&keys.join(DEVICE_KEY))?;
            let withdrawal = read_record(withdrawal)?;
            let mut queue = UploadQueue::open(&dir.join(JOURNAL_FILE), target, QueueConfig::default())?;
            let report = queue.purge_consent(dir, &withdrawal, &device, now())?;
            for file in &report.purged {
                println!("purged    {} ({} bytes)", file.name, file.bytes);
            }
            println!("queued    {} (signed purge record) and the withdrawal", report.record_path.display());
            Ok(())
        }
    }
}

fn status(dir: &Path) -> Result<()> {
    let journal = dir.join(JOURNAL_FILE);
    if !journal.exists() {
        bail!("{} has no upload journal; nothing was queued there", dir.display());
    }
    let files = UploadJournal::open(&journal)?.files()?;
    println!("{:<10} {:>12} {:>12}  name", "state", "acknowledged", "size");
    for file in &files {
        let state = format!("{:?}", file.state).to_lowercase();
        println!("{state:<10} {:>12} {:>12}  {}", file.acknowledged, file.size, file.name);
        if let Some(error) = &file.last_error {
            println!("{:<10} last error: {error}", "");
        }
    }
    Ok(())
}

/// A bearer token from a file; a refresh re-reads it.
struct TokenFile(PathBuf);

impl AuthProvider for TokenFile {
    fn headers(&self) -> Result<Vec<(String, String)>, AuthError> {
        let token = std::fs::read_to_string(&self.0)
            .map_err(|e| AuthError::Unavailable(format!("{}: {e}", self.0.display())))?;
        Ok(vec![("Authorization".into(), format!("Bearer {}", token.trim()))])
    }

    fn refresh(&self) -> Result<(), AuthError> {
        Ok(())
    }
}

struct PrintEvents;

impl UploadListener for PrintEvents {
    fn on_upload_event(&self, event: UploadEvent) {
        match event {
            UploadEvent::Completed { name } => println!("uploaded  {name}"),
            UploadEvent::Retrying { name, error, retry_in_ms } => {
                println!("retrying  {name} in {retry_in_ms} ms ({error})")
            }
            UploadEvent::Refused { name, error } => println!("refused   {name}: {error}"),
            UploadEvent::Missing { name } => println!("missing   {name}"),
            UploadEvent::Deleted { name } => println!("deleted   {name} (uploaded, retention over)"),
            UploadEvent::Purged { name } => println!("purged    {name} (consent withdrawn)"),
            UploadEvent::Unauthorized => println!("paused    the server refused the credentials"),
            UploadEvent::Progress { .. } => {}
        }
    }
}
