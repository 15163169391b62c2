//! `egocap verify`: one line per segment, a summary, non-zero exit on any failure.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use egocap_core::age::parse_identity_file;
use egocap_core::verify::{verify_dataset, VerificationReport, VerifyOptions};

use crate::keys::{read_owner_key, OWNER_PUB};

#[derive(Args, Debug, Clone)]
pub struct VerifyArgs {
    /// A session directory, or any directory above sessions and records.
    pub dir: PathBuf,
    /// The owner's age identity file (`AGE-SECRET-KEY-1…`).
    #[arg(long)]
    pub identity: PathBuf,
    /// The owner's pinned Ed25519 public key (hex); defaults to `owner.pub`
    /// beside the identity file.
    #[arg(long)]
    pub owner_key: Option<PathBuf>,
}

/// Returns whether everything verified.
pub fn run(args: &VerifyArgs) -> Result<bool> {
    let report = verify(&args.dir, &args.identity, args.owner_key.as_deref())?;
    print_report(&report);
    Ok(report.is_ok())
}

pub fn verify(dir: &Path, identity: &Path, owner_key: Option<&Path>) -> Result<VerificationReport> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(identity).with_context(|| format!("reading identity {}", identity.display()))?,
    );
    let identities = parse_identity_file(&text).with_context(|| format!("identity {}", identity.display()))?;
    let owner_path = match owner_key {
        Some(path) => path.to_path_buf(),
        None => identity.parent().unwrap_or(Path::new(".")).join(OWNER_PUB),
    };
    let options = VerifyOptions { identities, owner_key: read_owner_key(&owner_path)? };
    Ok(verify_dataset(dir, &options)?)
}

pub fn print_report(report: &VerificationReport) {
    for segment in &report.segments {
        if segment.failures.is_empty() {
            println!("ok    {}  {} frames  {:.2} s", segment.name, segment.frames, segment.duration_ns as f64 / 1e9);
        } else {
            let reasons: Vec<String> = segment.failures.iter().map(ToString::to_string).collect();
            println!("FAIL  {}  {}", segment.name, reasons.join("; "));
        }
    }
    for problem in &report.problems {
        println!("FAIL  {problem}");
    }
    println!(
        "{} segments in {} sessions ({} closed, {} interrupted or without an end record): {} verified, {} failed, {} other problems",
        report.segments.len(),
        report.sessions,
        report.sessions_closed,
        report.sessions - report.sessions_closed,
        report.segments.len() - report.failed(),
        report.failed(),
        report.problems.len()
    );
}
