//! The seat engine: a pure per-show state machine that decides holds, confirms, releases, expiries,
//! cancellations and check-ins.
//!
//! # Layout
//! No IO, no clock, no randomness: time and ids arrive inside commands so replay is deterministic.
