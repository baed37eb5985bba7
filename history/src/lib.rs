//! The history checker: what clients were told, set against what the system ends up storing.
//!
//! A test or a fault campaign records every client operation ([`History::invoke`] before it is
//! sent, [`History::complete`] when its answer arrives, never completed = outcome unknown), reads
//! the final state back once the system is quiet ([`FinalState`]) and asks [`check`] whether the
//! promises held: no seat sold twice, nothing a client was told happened lost, nothing a client
//! was told did not happen applied anyway. The first broken promise comes back as a
//! [`Violation`] naming its [`Check`] and the operations involved.
//!
//! Pure code: no IO, no clock. Ids are plain UUIDs so any layer (the pipeline simulation, the HTTP
//! campaign) can feed it without sharing its types.

mod checks;
mod model;

pub use checks::{Check, Violation, check, check_one};
pub use model::{
    Action, Admission, BookingRecord, Cancellation, Done, FinalState, History, HoldEnd, HoldRecord,
    Ms, Op, OpId, Outcome, Payment, Rules, SeatStatus,
};
