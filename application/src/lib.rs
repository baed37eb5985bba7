//! Assembles boxoffice's modes from the library crates; `boxoffice/src/main.rs` dispatches to
//! them. The HTTP front (`ingress`) knows the seams it is handed ([`usecases::Backends`]),
//! not which log, store or payment provider stands behind them: that choice is made here.
//!
//! # Layout
//! - [`config`]: clap-derived settings per mode ([`config::DevConfig`], [`config::ServeConfig`]).
//! - [`dev`]: `boxoffice dev`: the embedded pipeline, redb stores, sandbox payments, the ticket
//!   worker and the API in one process.
//! - [`serve`]: `boxoffice serve`: the API over NATS JetStream, ScyllaDB/Cassandra and the
//!   payments service.
//! - [`server`]: serving with graceful shutdown, the metrics listener, start-up errors.
//! - [`idempotency`]: the stores of the `Idempotency-Key` index (redb, NATS KV).
//! - [`sync`]: demo seed, start-up reconciliation, the seat-delta follower for `availableSeats`.
//! - [`waitroom`]: wiring of the waiting room (`queue` crate): catalog directory, dev and serve logs.

pub mod config;
pub mod dev;
pub mod idempotency;
pub mod serve;
pub mod server;
pub mod sync;
pub mod waitroom;
