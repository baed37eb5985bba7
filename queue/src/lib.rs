//! The fair virtual waiting room: a per-show queue in front of the seat map for flash sales.
//!
//! # Layout
//! - [`fold`] (pure, no IO, no clock): [`fold::ShowQueue`], one show's queue folded from its log
//!   of [`fold::QueueEvent`]s (`Joined`, `Opened`, `Admitted`, `Used`); the seeded opening shuffle
//!   ([`fold::shuffled`]); admission planning ([`fold::ShowQueue::plan_admission`]) paced by
//!   `admitPerMinute` and capped by AVAILABLE seats minus admissions still outstanding.
//! - [`demand`] (pure): automatic switch-on: [`demand::DemandMeter`] counts hold attempts per
//!   show per second (summed over every ingress), [`demand::AutoPolicy`] and the show's
//!   [`demand::AutoSetting`] give the threshold; the admitter appends `AutoSwitchedOn` once.
//! - [`challenge`]: the [`challenge::JoinChallenge`] seam for joining shows that ask for one
//!   (`challengeBits`), with the contract's proof of work ([`challenge::ProofOfWork`]) as the
//!   built-in default.
//! - [`token`]: keys derived from the auth secret: admission tokens (HMAC over show, user,
//!   expiry), proof-of-work challenges (HMAC, no storage) and the opening seed.
//! - [`folds`]: every show's queue in this process, change signals for live pushes, the applied
//!   log position for read-your-write waits.
//! - [`log`]: the [`log::QueueLog`] seam (append, with a compare-on-control condition for
//!   admitters); [`embedded`]: dev mode, a redb table with one group-committing writer;
//!   [`jetstream`]: serve mode, one JetStream stream every ingress appends to and follows.
//! - [`room`]: [`room::WaitingRoom`], the service the ingress calls: join, where do I stand,
//!   check an admission token on a hold, note its use, admission rounds, live subscriptions.
//! - [`error`]: the one error boundary, [`error::QueueError`].
//!
//! ## State, restarts and several ingress processes
//! The log is the state. Every process folds the whole log into memory and answers reads from
//! it; writes go through the log and return once applied locally. Dev mode keeps the log in
//! `<data dir>/waiting-room.redb` and replays it at start. Serve mode keeps it in a JetStream
//! stream (subjects `<prefix>.<show>.join|used|control`): its total order is the queue order,
//! so every ingress computes the same numbers; admission rounds run in every ingress and
//! append control events with `Nats-Expected-Last-Subject-Sequence`, so exactly one wins each
//! step. A restarted process replays the stream and continues where the log is.
//!
//! ## Automatic switch-on
//! Every hold attempt is a demand signal ([`room::WaitingRoom::note_demand`]). Each admission
//! round, a process hands what it counted to every process (dev mode: to itself; serve mode:
//! core NATS on `<prefix>_demand`, see [`jetstream::DemandShare`]), and each compares the total
//! per show over the window with the show's threshold ([`demand`]). The first process whose
//! `AutoSwitchedOn` control event is stored switches the room on for all of them (the others'
//! appends conflict) and records it in the catalog so the show reads `QUEUE`; holds without a
//! token are refused from then on, while holds already made stay. An admin's PUT appends
//! `AutoSet`, which replaces the automatic decision. The stream itself is created by
//! `boxoffice provision` (streams.yaml `waiting_room`); serve mode only checks it exists.
//!
//! ## Demand guard
//! Every answered hold attempt is also counted per source, the client's address and its /24 or
//! /56 network ([`room::WaitingRoom::note_hold`], releases with
//! [`room::WaitingRoom::note_release`]), shared the same way (`<prefix>_guard`) and judged by
//! [`guard::GuardMeter::verdict`]: a source over its share of a show's seats, or with most
//! attempts refused, must send a proof of work with each hold
//! ([`room::WaitingRoom::check_hold_challenge`], a key of its own, per show and user, the
//! challenge window as its server nonce: one solution per identity and window). No admin step: on by default ([`room::RoomConfig::guard`]).
//!
//! ## A request flows
//! join: ingress -> [`room::WaitingRoom::join`] -> settings (catalog, cached 1 s) -> live entry?
//! answer it -> the show's challenge (proof of work by default) -> open the queue if the sale opened -> append `Joined` -> read the
//! entry back from the fold. Admission: every second [`room::WaitingRoom::round`] plans a batch
//! per show and appends `Admitted`; buyers see `ADMITTED` with a token on their next read or
//! live push; the hold route checks the token ([`room::WaitingRoom::check_admission`]) and then
//! appends `Used`.

pub mod challenge;
pub mod demand;
pub mod embedded;
pub mod error;
pub mod fold;
pub mod folds;
pub mod guard;
pub mod jetstream;
pub mod log;
pub mod room;
pub mod token;

pub use challenge::{Challenge, ChallengeRefusal, JoinChallenge, ProofOfWork};
pub use demand::{AutoPolicy, AutoSetting, DemandMeter};
pub use error::QueueError;
pub use fold::{Pace, QueueEvent, ShowQueue, Standing};
pub use room::{
    Admission, AdmissionError, Directory, JoinError, Joined, QueueEntry, RoomConfig, RoomShow,
    Status, UseRecord, WaitingRoom,
};
pub use token::{ChallengeNonce, RoomKeys, TokenRefusal};
