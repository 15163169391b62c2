//! Encryption throughput of our age implementation against the `age` CLI, on
//! the same 100 MB file in the same run.
//!
//! ```text
//! taskset -c 0 cargo run --release -p egocap-core --example age_throughput [MEGABYTES]
//! ```
//!
//! Writes random bytes to a temporary file, then times, best of 3 (wall
//! clock): `age -e -r <recipient> -o /dev/null FILE`, and our
//! `StreamEncryptor` reading the same file into a sink. Both read the file
//! from the page cache (it was just written and is read once before timing).
//! Prints MB/s (10^6 bytes) for both and the ratio; asserts nothing.

use std::error::Error;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use egocap_core::age::{Identity, Recipient, StreamEncryptor};
use ring::rand::{SecureRandom, SystemRandom};

const RUNS: usize = 3;
const DEFAULT_MEGABYTES: usize = 100;
/// The read size for our side: one STREAM chunk, so each read fills one.
const READ_LEN: usize = 64 * 1024;

fn main() -> Result<(), Box<dyn Error>> {
    let megabytes = match std::env::args().nth(1) {
        Some(arg) => arg.parse()?,
        None => DEFAULT_MEGABYTES,
    };
    let len = megabytes * 1_000_000;
    let dir = tempfile::tempdir()?;
    let input = dir.path().join("input.bin");
    write_random_file(&input, len)?;
    let recipient = Identity::generate()?.recipient();
    // Warm the page cache, as both sides will find it.
    io::copy(&mut File::open(&input)?, &mut io::sink())?;

    let cli = best_of(RUNS, || time_age_cli(&input, &recipient))?;
    let ours = best_of(RUNS, || time_ours(&input, &recipient))?;

    let rate = |elapsed: Duration| len as f64 / 1e6 / elapsed.as_secs_f64();
    println!("input: {megabytes} MB of random bytes, best of {RUNS} runs, wall clock");
    println!("age CLI ({}): {:8.1} MB/s ({:.3} s)", age_version()?, rate(cli), cli.as_secs_f64());
    println!("egocap age:      {:8.1} MB/s ({:.3} s)", rate(ours), ours.as_secs_f64());
    println!("ratio ours/CLI:  {:8.2}", rate(ours) / rate(cli));
    Ok(())
}

fn write_random_file(path: &Path, len: usize) -> Result<(), Box<dyn Error>> {
    let rng = SystemRandom::new();
    let mut file = io::BufWriter::new(File::create(path)?);
    let mut block = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(block.len());
        rng.fill(&mut block[..n]).map_err(|_| "random number generator failed")?;
        file.write_all(&block[..n])?;
        left -= n;
    }
    file.flush()?;
    Ok(())
}

fn time_age_cli(input: &Path, recipient: &Recipient) -> Result<Duration, Box<dyn Error>> {
    let start = Instant::now();
    let status = Command::new("age")
        .args(["-e", "-r", &recipient.to_string(), "-o", "/dev/null"])
        .arg(input)
        .status()
        .map_err(|e| format!("cannot run `age` ({e}); run scripts/install-test-deps.sh"))?;
    let elapsed = start.elapsed();
    if !status.success() {
        return Err(format!("age -e failed: {status}").into());
    }
    Ok(elapsed)
}

fn time_ours(input: &Path, recipient: &Recipient) -> Result<Duration, Box<dyn Error>> {
    let start = Instant::now();
    let mut file = File::open(input)?;
    let mut encryptor = StreamEncryptor::new(io::sink(), std::slice::from_ref(recipient))?;
    let mut buffer = vec![0u8; READ_LEN];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        encryptor.write_all(&buffer[..n])?;
    }
    encryptor.finish()?;
    Ok(start.elapsed())
}

fn best_of(
    runs: usize,
    mut measure: impl FnMut() -> Result<Duration, Box<dyn Error>>,
) -> Result<Duration, Box<dyn Error>> {
    let mut best = Duration::MAX;
    for _ in 0..runs {
        best = best.min(measure()?);
    }
    Ok(best)
}

fn age_version() -> Result<String, Box<dyn Error>> {
    let output = Command::new("age").arg("--version").output()?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}
