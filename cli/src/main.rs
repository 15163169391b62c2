//! `egocap`: record, inspect and benchmark egocap segments on a desktop.

mod bench;
mod record;

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
    /// The main job on its embedded default: a 12 s synthetic recording into ./egocap-demo.
    Demo {
        #[arg(long, default_value = "egocap-demo")]
        out: PathBuf,
    },
    /// Measure pipeline throughput, bitrate accuracy and memory.
    Bench(bench::BenchArgs),
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
        Command::Demo { out } => record::demo(&out),
        Command::Bench(args) => bench::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("egocap: {e:#}");
            ExitCode::FAILURE
        }
    }
}
