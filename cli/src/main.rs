//! `egocap`: record, inspect and benchmark egocap segments on a desktop.

mod bench;
mod bench_blur;
mod bench_sealing;
mod bench_upload;
mod blur;
mod demo;
mod keys;
mod record;
mod upload;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "egocap", version, about = "Record egocentric video with IMU into self-contained MP4 segments")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Record a source into segments.
    Record(record::RecordArgs),
    /// The main job on its embedded default: keys, consent, a 12 s synthetic recording
    /// sealed into ./egocap-demo, and its verification.
    Demo {
        #[arg(long, default_value = "egocap-demo")]
        out: PathBuf,
    },
    /// Measure pipeline throughput, bitrate accuracy and memory.
    Bench(bench::BenchArgs),
    /// Make a key directory: device key, owner key, age recipient, signed recipient set.
    Keygen(keys::KeygenArgs),
    /// Give or withdraw a worker's consent on this device.
    #[command(subcommand)]
    Consent(keys::ConsentCommand),
    /// Decrypt and check every segment, record, signature and chain under a directory.
    Verify(verify::VerifyArgs),
    /// Send every finished file of the sessions under a directory to a tus server or an inbox,
    /// resumably (a second run continues where a killed one stopped).
    Upload(upload::UploadArgs),
    /// Inspect the upload queue.
    #[command(subcommand)]
    Queue(upload::QueueCommand),
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Record(args) => record::run(&args).map(|recorded| {
            if !args.quiet {
                record::report(&recorded);
            }
        }),
        Command::Demo { out } => demo::run(&out),
        Command::Bench(args) => bench::run(&args),
        Command::Keygen(args) => keys::keygen(&args),
        Command::Consent(command) => keys::consent(&command),
        Command::Upload(args) => upload::run(&args),
        Command::Queue(command) => upload::queue(&command),
        Command::Verify(args) => match verify::run(&args) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("egocap: {e:#}");
            ExitCode::FAILURE
        }
    }
}
