//! Route handlers, one module per section of the public contract.

pub mod admin;
pub mod auth;
pub mod bookings;
pub mod cancel;
pub mod checkin;
pub mod holds;
pub mod live;
pub mod ops;
pub mod queue;
pub mod shows;
pub mod tickets;
pub mod views;
