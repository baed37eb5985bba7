//! Shared helpers for the integration and end-to-end tests.
//!
//! # Layout
//! `src/` holds helpers (service settings, unique names); `tests/` holds one file per suite.
