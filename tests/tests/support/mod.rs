//! Support shared by the suites in `tests/` (each suite says `mod support;` and uses what it
//! needs; the rest is compiled but unused there, hence `dead_code` is allowed).
//!
//! # Layout
//! - [`api`]: a real `boxoffice dev` (or `serve`) instance on a free loopback port and a thin
//!   reqwest client over it ([`api::Api`]); shows created through the admin API.
//! - [`tickets`]: the after-sale suites' extras: dev servers with chosen ticket, reconciler and
//!   payment-fault settings, booking and waiting for tickets, QR decoding, a killable child server.
//! - [`live`]: a WebSocket seat-map viewer that checks the version chain as it applies frames.
//! - [`pipeline`]: real NATS and Cassandra for the serve-mode suites: a unique topology per test,
//!   provisioning, an in-process processor, and command envelopes (built by `processors`'
//!   fixtures).
//! - [`serve`]: a serve-mode back end (provisioned topology, processor, payments sandbox) and
//!   `boxoffice serve` ingresses over it.

#![allow(dead_code)]

pub mod api;
pub mod live;
pub mod pipeline;
pub mod serve;
pub mod tickets;
