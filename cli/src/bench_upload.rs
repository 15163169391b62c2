//! `egocap bench upload`: throughput of the upload queue to a tus server
//! (or an inbox) and its CPU time per MB, on one file sent whole through
//! the journal, chunk by chunk, as a phone would. `scripts/bench-upload.sh`
//! runs it beside `curl` sending the same file to the same server.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use egocap_core::upload::{QueueConfig, RunOutcome, StopSignal, Timeouts, UploadQueue};
use rustix::time::{clock_gettime, ClockId};

use crate::upload::TargetArgs;

#[derive(Args, Debug)]
pub struct UploadBenchArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// The file to send (default: a fresh random file of --size-mb).
    #[arg(long)]
    file: Option<PathBuf>,
    #[arg(long, default_value_t = 256)]
    size_mb: u64,
    #[arg(long, default_value_t = 4)]
    chunk_mb: usize,
    #[arg(long, default_value_t = 3)]
    runs: u32,
}

pub fn run(args: &UploadBenchArgs) -> Result<()> {
    let work = tempfile_dir()?;
    let file = match &args.file {
        Some(path) => path.clone(),
        None => random_file(&work.join("payload.bin"), args.size_mb)?,
    };
    let size = std::fs::metadata(&file).with_context(|| format!("reading {}", file.display()))?.len();
    let megabytes = size as f64 / 1e6;
    println!("upload bench: {megabytes:.1} MB in {} MiB chunks, {} run(s)", args.chunk_mb, args.runs);
    let mut rates = Vec::new();
    for run in 0..args.runs {
        let config = QueueConfig { chunk_size: args.chunk_mb << 20, ..QueueConfig::default() };
        let mut queue = UploadQueue::open(
            &work.join(format!("journal-{run}.db")),
            args.target.open(Timeouts::default(), None)?,
            config,
        )?;
        queue.enqueue_file(&file, &format!("bench/run-{run}-{}.bin", std::process::id()))?;
        let (wall_start, cpu_start) = (Instant::now(), cpu_time());
        let outcome = queue.run_until_empty(&StopSignal::new())?;
        let (wall, cpu) = (wall_start.elapsed(), cpu_time().saturating_sub(cpu_start));
        if outcome != RunOutcome::Empty {
            bail!("run {run} stopped: {outcome:?}");
        }
        let rate = megabytes / wall.as_secs_f64();
        println!(
            "run {run}: {:.2} s, {rate:.1} MB/s, CPU {:.2} ms per MB",
            wall.as_secs_f64(),
            cpu.as_secs_f64() * 1e3 / megabytes
        );
        rates.push(rate);
    }
    rates.sort_by(f64::total_cmp);
    if let Some(median) = rates.get(rates.len() / 2) {
        println!("egocap median: {median:.1} MB/s");
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

/// Incompressible bytes, like sealed media (xorshift64; not for secrets).
fn random_file(path: &std::path::Path, megabytes: u64) -> Result<PathBuf> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut state = u64::from(std::process::id()) | 1;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..megabytes {
        for word in block.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        out.write_all(&block)?;
    }
    out.flush()?;
    Ok(path.to_path_buf())
}

fn cpu_time() -> Duration {
    let t = clock_gettime(ClockId::ProcessCPUTime);
    Duration::new(u64::try_from(t.tv_sec).unwrap_or(0), u32::try_from(t.tv_nsec).unwrap_or(0))
}

fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("egocap-bench-upload-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
