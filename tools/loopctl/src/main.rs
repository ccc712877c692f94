//! loopctl: operations CLI for Loop.

mod seed;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "loopctl",
    version,
    about = "Operate a Loop deployment",
    after_help = "Examples:\n  loopctl seed\n  loopctl seed --gateway http://127.0.0.1:8080 --creators 8 --videos-per-creator 6 --viewers 20"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create demo creators, sounds, videos, viewers, follows and likes through the gateway's public API.
    #[command(
        after_help = "Idempotent: existing demo accounts log in instead of signing up again.\n\nExample:\n  loopctl seed --gateway http://127.0.0.1:8080"
    )]
    Seed(seed::Args),
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Seed(args) => seed::run(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("loopctl: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
