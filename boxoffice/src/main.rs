//! The `boxoffice` executable: a thin bootstrap over the library crates.

use clap::{Parser, Subcommand};

/// boxoffice: a ticket-booking platform built as a stream-processing pipeline.
#[derive(Parser, Debug)]
#[command(name = "boxoffice", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// What to run.
#[derive(Subcommand, Debug)]
enum Command {
    /// Print the version of this build.
    Version,
    /// Run the sandbox payment provider as an HTTP service (serve mode's BOXOFFICE_PAYMENTS_URL).
    PaymentsSandbox(payments::sandbox_server::SandboxArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => println!("boxoffice {}", env!("CARGO_PKG_VERSION")),
        Command::PaymentsSandbox(args) => tokio::runtime::Runtime::new()?
            .block_on(payments::sandbox_server::run(args.config()))?,
    }
    Ok(())
}
