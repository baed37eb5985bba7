//! The partition loop: consumes a partition's commands in order, decides them with the seat engine,
//! persists one conditional batch per show, then publishes, replies and acks.
//!
//! # Layout
//! Filled in by the pipeline work (issue 4).
