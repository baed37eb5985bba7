//! Wire types that cross process boundaries: commands, events and replies with an explicit schema
//! version, serialized with rmp-serde.
//!
//! # Layout
//! The crate holds data only: no logic, no tokio. Other crates build on these types.
