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
    /// Apply streams.yaml to NATS and the CQL schema to ScyllaDB/Cassandra (idempotent).
    Provision(processors::cli::ProvisionArgs),
    /// Apply the booking commands of some or all partitions (serve mode's pipeline).
    Processor(processors::cli::ProcessorArgs),
    /// Move a show's commands to another partition, through the partition that applies them now
    /// (serve mode): its processor applies every command logged before the request first.
    Handover(processors::cli::HandoverArgs),
    /// Run all of boxoffice in one process with no external services (embedded pipeline, store,
    /// catalog with demo data, sandbox payments, ticket worker) and serve the HTTP API.
    Dev {
        /// API and data dir.
        #[command(flatten)]
        config: application::config::DevConfig,
        /// Tickets, reconciliation and payment fault injection.
        #[command(flatten)]
        after_sale: fulfilment::dev::DevSettings,
    },
    /// Serve the HTTP API over NATS JetStream, ScyllaDB/Cassandra and the payments service.
    Serve {
        /// API and backing services.
        #[command(flatten)]
        config: application::config::ServeConfig,
        /// Ticket keys (check-in verifies codes).
        #[command(flatten)]
        after_sale: fulfilment::FulfilmentConfig,
    },
    /// Issue tickets from the booking facts (durable JetStream consumer) and run the payments
    /// reconciler (serve mode).
    Tickets(fulfilment::TicketsArgs),
    /// Run the sandbox payment provider as an HTTP service (serve mode's BOXOFFICE_PAYMENTS_URL).
    PaymentsSandbox(payments::sandbox_server::SandboxArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => println!("boxoffice {}", env!("CARGO_PKG_VERSION")),
        Command::Provision(args) => {
            ingress::telemetry::init_tracing();
            let report = tokio::runtime::Runtime::new()?
                .block_on(processors::cli::provision_command(args))?;
            print!("{report}");
        }
        Command::Processor(args) => {
            ingress::telemetry::init_tracing();
            tokio::runtime::Runtime::new()?.block_on(processors::cli::processor_command(args))?
        }
        Command::Handover(args) => {
            ingress::telemetry::init_tracing();
            let done = tokio::runtime::Runtime::new()?
                .block_on(processors::cli::handover_command(args))?;
            println!("{done}");
        }
        Command::Dev { config, after_sale } => {
            ingress::telemetry::init_tracing();
            tokio::runtime::Runtime::new()?.block_on(application::dev::run(config, after_sale))?
        }
        Command::Serve { config, after_sale } => {
            ingress::telemetry::init_tracing();
            tokio::runtime::Runtime::new()?.block_on(application::serve::run(config, after_sale))?
        }
        Command::Tickets(args) => {
            ingress::telemetry::init_tracing();
            tokio::runtime::Runtime::new()?.block_on(fulfilment::serve::run_tickets(args))?
        }
        Command::PaymentsSandbox(args) => tokio::runtime::Runtime::new()?
            .block_on(payments::sandbox_server::run(args.config()))?,
    }
    Ok(())
}
