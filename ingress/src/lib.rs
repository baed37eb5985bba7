//! The HTTP front of boxoffice (axum), implementing the public contract in `docs/API.md`
//! (machine-readable: the served `/openapi.json`, checked in as `docs/openapi.json`).
//!
//! # Layout
//! - [`config`]: clap-derived settings of the API ([`config::ApiConfig`]); the modes that embed
//!   them, and the choice of log, store and payment provider behind [`state::Backends`], are the
//!   `application` crate's.
//! - [`app`]: the router: routes, problem+json 404/405 fallbacks, middleware stack, OpenAPI.
//! - [`middleware`]: request metrics, body-size guard, request timeout, rate limits.
//! - [`ratelimit`]: per-IP and per-user governor limiters with a janitor bounding their memory,
//!   and the per-address and per-prefix limits of guest-token issuance.
//! - [`client`]: the client address (the socket peer, or behind trusted proxies the right-most
//!   forwarded hop that is not one) and its network prefix.
//! - [`auth`]: JWT HS256 tokens, the [`auth::Caller`] and [`auth::Admin`] extractors.
//! - [`extract`]: JSON body, path id, query and `Idempotency-Key` extractors with field-naming
//!   `400 invalid-request` errors.
//! - [`error`]: [`error::ApiError`], the single mapping from failures to problem documents.
//! - [`contract`]: the contract's spelling of hold statuses.
//! - [`routes`]: handlers per contract section: parse, call a use case (the `usecases` crate), answer
//!   (the live seat-map fan-out is the `live` crate).
//! - [`state`]: [`state::AppState`], what handlers share.
//! - [`telemetry`]: Prometheus registry, tracing.
//! - [`web`]: the web front end (`web/`), embedded at build time, at `/` and `/assets/`.
//!
//! A request flows: request id -> trace span -> metrics -> body-size guard -> timeout -> rate
//! limits (IP, then the user of a valid bearer token) -> route -> extractors (auth first, then path,
//! query, body) -> handler -> [`error::ApiError`] or a JSON response.

pub mod app;
pub mod auth;
pub mod client;
pub mod config;
pub mod contract;
pub mod error;
pub mod extract;
pub mod middleware;
pub mod openapi;
pub mod ratelimit;
pub mod routes;
pub mod seatmap;
pub mod state;
pub mod telemetry;
pub mod web;
