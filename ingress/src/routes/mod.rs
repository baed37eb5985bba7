//! Route handlers, one module per section of the public contract.

pub mod auth;
pub mod ops;
