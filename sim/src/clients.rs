//! Buyers: each holds a few seats of a contended show, then confirms, releases or lets the hold
//! lapse, and sometimes cancels a booking. Every attempt of an operation carries the same command
//! id (the idempotency key), so a retry after a lost reply is answered with the first outcome.
//! Every operation goes into the [`History`] with what the buyer was told.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use history::{Action, Done, History, Outcome as Told};
use schemas::{
    Command, CommandEnvelope, CommandId, Event, HoldId, Outcome, Reply, ShowId, UnixMs, UserId,
};
use uuid::Uuid;

use processors::reader::ShowReader;

use crate::payments;
use crate::world::{Fault, World};

/// How long a buyer waits for one attempt's answer.
pub const REPLY_TIMEOUT: Duration = Duration::from_millis(2_000);

/// Attempts per operation before the buyer gives up (outcome unknown).
pub const ATTEMPTS: u32 = 3;

/// What the buyers do.
#[derive(Clone, Debug)]
pub struct Workload {
    /// The shows on sale.
    pub shows: Vec<ShowId>,
    /// Seats per show.
    pub seats: u32,
    /// Holds each buyer tries.
    pub holds_per_buyer: u64,
}

/// The shared record of operations.
pub type SharedHistory = Arc<Mutex<History>>;

/// Send `envelope` until it is answered or the attempts run out.
async fn submit(world: &World, envelope: &CommandEnvelope) -> Option<Reply> {
    for _ in 0..ATTEMPTS {
        let (to, answer) = world.lock().wait_for_reply();
        let (lost, unacked) = {
            let mut s = world.lock();
            (
                s.roll(Fault::ClientPublishLost),
                s.roll(Fault::ClientAckLost),
            )
        };
        if lost {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        world.append(envelope.clone(), Some(to));
        if unacked {
            // The stream stored it but the buyer heard nothing: it tries again.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        if let Ok(Ok(reply)) = tokio::time::timeout(REPLY_TIMEOUT, answer).await {
            return Some(reply);
        }
    }
    None
}

/// Perform one operation and record it: invoke, attempts, what the buyer was told.
async fn perform(
    world: &World,
    history: &SharedHistory,
    buyer: u64,
    key: String,
    envelope: CommandEnvelope,
    action: Action,
) -> Answer {
    let now = || world.clock.now().0;
    let op = history
        .lock()
        .expect("history")
        .invoke(buyer, key, action, now());
    let (told, answer) = match submit(world, &envelope).await {
        None => (Told::Unknown, Answer::Unknown),
        Some(reply) => match reply.outcome {
            Outcome::Accepted(events) => match done(&envelope.command, &events) {
                Some(done) => (Told::Ok(done), Answer::Accepted(events)),
                None => (Told::Unknown, Answer::Unknown),
            },
            Outcome::Rejected(why) => (Told::Rejected(format!("{why:?}")), Answer::Rejected),
        },
    };
    history.lock().expect("history").complete(op, now(), told);
    answer
}

/// What a buyer heard.
enum Answer {
    /// Accepted, with the decision's events.
    Accepted(Vec<Event>),
    /// Refused.
    Rejected,
    /// Nothing definite.
    Unknown,
}

impl Answer {
    fn accepted(self) -> Option<Vec<Event>> {
        match self {
            Answer::Accepted(events) => Some(events),
            Answer::Rejected | Answer::Unknown => None,
        }
    }
}

/// The result an accepted command reports to its buyer.
fn done(command: &Command, events: &[Event]) -> Option<Done> {
    events.iter().find_map(|event| match (command, event) {
        (Command::Hold { .. }, Event::Held { expires_at, .. }) => Some(Done::Held {
            expires_at: expires_at.0,
        }),
        (
            Command::Confirm { .. },
            Event::Confirmed {
                seats, total_minor, ..
            },
        ) => Some(Done::Booked {
            seats: seats.iter().map(|s| s.0).collect(),
            amount: *total_minor as u64,
        }),
        (Command::Release { .. }, Event::Released { .. }) => Some(Done::Released),
        (Command::CheckIn { .. }, Event::CheckedIn { .. }) => Some(Done::Admitted),
        (Command::Cancel { .. }, Event::Cancelled { refund_minor, .. }) => Some(Done::Cancelled {
            refund: *refund_minor as u64,
        }),
        _ => None,
    })
}

fn envelope(world: &World, show: ShowId, command: Command) -> CommandEnvelope {
    let id = world.lock().uuid();
    processors::fixtures::envelope_with(show, CommandId(id), command)
}

async fn think(world: &World, ms: std::ops::Range<u64>) {
    let ms = world.lock().pick(ms);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// One buyer's session.
pub async fn buyer(
    world: Arc<World>,
    history: SharedHistory,
    money: Arc<payments::Money>,
    reader: Arc<dyn ShowReader>,
    buyer: u64,
    work: Workload,
) {
    let user = UserId(Uuid::from_u128(0x7000 + u128::from(buyer)));
    for step in 0..work.holds_per_buyer {
        think(&world, 0..2_000).await;
        let (show, seats, hold_id, ttl_ms) = {
            let mut s = world.lock();
            let show = work.shows[s.pick(0..work.shows.len() as u64) as usize];
            let count = 1 + s.pick(0..3);
            let mut seats: Vec<u32> = Vec::new();
            while seats.len() < count as usize {
                let seat = s.pick(0..u64::from(work.seats)) as u32;
                if !seats.contains(&seat) {
                    seats.push(seat);
                }
            }
            (
                show,
                seats,
                HoldId::for_show(show, &s.uuid()),
                1_500 + s.pick(0..3_500),
            )
        };
        let command = processors::fixtures::hold_command(
            show,
            hold_id,
            user,
            &seats,
            ttl_ms,
            processors::fixtures::limits(1_000),
        );
        let action = Action::Hold {
            hold: hold_id.0,
            seats: seats
                .iter()
                .map(|i| processors::fixtures::seat(show, *i).0)
                .collect(),
        };
        let hold = envelope(&world, show, command);
        let key = format!("b{buyer}-{step}-hold");
        let held = perform(&world, &history, buyer, key, hold, action).await;
        let Some(total) = held.accepted().and_then(|events| {
            events.iter().find_map(|e| match e {
                Event::Held { total_minor, .. } => Some(*total_minor),
                _ => None,
            })
        }) else {
            continue;
        };
        read_own(&world, &*reader, Own::Hold(hold_id)).await;
        think(&world, 0..ttl_ms * 13 / 10).await;
        let choice = world.lock().pick(0..10);
        let session = Session {
            world: &world,
            history: &history,
            money: &money,
            reader: &*reader,
            buyer,
            step,
            show,
            user,
            hold_id,
            total,
        };
        match choice {
            0..7 => session.confirm_and_maybe_cancel().await,
            7..9 => session.release().await,
            _ => {} // let it lapse
        }
    }
}

/// Something a buyer was told it now has.
#[derive(Clone, Copy, Debug)]
enum Own {
    Hold(HoldId),
    Booking(schemas::BookingId),
}

/// Read-your-writes: a buyer told its hold or booking exists reads it back at once through the
/// reader the ingress uses (index rows are written before any reply). A store outage is waited
/// out; not finding it is a violation.
async fn read_own(world: &World, reader: &dyn ShowReader, own: Own) {
    loop {
        let found = match own {
            Own::Hold(id) => reader.hold(id).await.map(|f| f.is_some()),
            Own::Booking(id) => reader.booking(id).await.map(|f| f.is_some()),
        };
        match found {
            Ok(true) => return,
            Ok(false) => {
                let failure = format!(
                    "VIOLATION read-your-writes: {own:?} was acknowledged but the reader does not find it"
                );
                world.lock().failures.push(failure);
                return;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// One hold's follow-up.
struct Session<'a> {
    world: &'a World,
    history: &'a SharedHistory,
    money: &'a payments::Money,
    reader: &'a dyn ShowReader,
    buyer: u64,
    step: u64,
    show: ShowId,
    user: UserId,
    hold_id: HoldId,
    /// The hold's price, minor units.
    total: i64,
}

impl Session<'_> {
    /// As the ingress confirms: authorize (key = the command id), confirm with the
    /// authorization as the payment reference, then capture if booked or void if refused; an
    /// unknown outcome is left to the reconciler.
    async fn confirm_and_maybe_cancel(&self) {
        let booking_id = payments::booking_of(self.hold_id);
        let action = Action::Confirm {
            hold: self.hold_id.0,
            booking: booking_id.0,
        };
        let key = format!("b{}-{}-confirm", self.buyer, self.step);
        let command_id = CommandId(self.world.lock().uuid());
        let pay_key = format!("confirm-{}", command_id.0);
        let money = self.money;
        let Some(authorization) = money.authorize(&pay_key, self.hold_id, self.total).await else {
            let mut history = self.history.lock().expect("history");
            let now = self.world.clock.now().0;
            let op = history.invoke(self.buyer, key, action, now);
            history.complete(op, now, Told::Rejected("PaymentNotAuthorized".into()));
            return;
        };
        let command = Command::Confirm {
            hold_id: self.hold_id,
            user: self.user,
            booking_id,
            payment_ref: authorization.to_string(),
        };
        let confirm = processors::fixtures::envelope_with(self.show, command_id, command);
        let answer = perform(self.world, self.history, self.buyer, key, confirm, action).await;
        let seats = match answer {
            Answer::Accepted(events) => events.into_iter().find_map(|e| match e {
                Event::Confirmed { seats, .. } => Some(seats),
                _ => None,
            }),
            Answer::Rejected => None,
            Answer::Unknown => return,
        };
        money
            .settle_confirm(&pay_key, authorization, seats.is_some())
            .await;
        let Some(seats) = seats else {
            return;
        };
        read_own(self.world, self.reader, Own::Booking(booking_id)).await;
        let next = self.world.lock().pick(0..20);
        think(self.world, 0..3_000).await;
        match next {
            0..5 => self.cancel(booking_id).await,
            5..12 => self.check_in_at_two_gates(booking_id, seats[0]).await,
            _ => {}
        }
    }

    /// The same ticket scanned at two gates at once: one must admit it, the other refuse.
    async fn check_in_at_two_gates(&self, booking_id: schemas::BookingId, seat: schemas::SeatId) {
        let ticket_id = engine::ticket_id(booking_id, seat);
        let gate = |name: &'static str| {
            let command = Command::CheckIn {
                ticket_id,
                booking_id,
                seat_id: seat,
                gate: Some(name.into()),
            };
            let action = Action::CheckIn {
                ticket: ticket_id.0,
                booking: booking_id.0,
            };
            let key = format!("b{}-{}-checkin-{name}", self.buyer, self.step);
            let scan = envelope(self.world, self.show, command);
            perform(self.world, self.history, self.buyer, key, scan, action)
        };
        tokio::join!(gate("A"), gate("B"));
    }

    async fn cancel(&self, booking_id: schemas::BookingId) {
        let command = Command::Cancel {
            booking_id,
            user: self.user,
            reason: None,
        };
        let action = Action::Cancel {
            booking: booking_id.0,
        };
        let key = format!("b{}-{}-cancel", self.buyer, self.step);
        let cancel = envelope(self.world, self.show, command);
        let answer = perform(self.world, self.history, self.buyer, key, cancel, action).await;
        let owed = answer.accepted().and_then(|events| {
            let at = UnixMs(self.world.clock.now().0);
            events
                .iter()
                .find_map(|e| payments::refund_owed(self.show, at, e))
        });
        if let Some(due) = owed {
            self.money.refund(due).await;
        }
    }

    async fn release(&self) {
        let command = Command::Release {
            hold_id: self.hold_id,
            user: self.user,
        };
        let action = Action::Release {
            hold: self.hold_id.0,
        };
        let key = format!("b{}-{}-release", self.buyer, self.step);
        let release = envelope(self.world, self.show, command);
        perform(self.world, self.history, self.buyer, key, release, action).await;
    }
}

/// Create `show` (before faults start), asking until it is answered.
pub async fn create_show(world: &World, show: ShowId, seats: u32, show_time: schemas::UnixMs) {
    let command = processors::fixtures::create_command(show, seats, show_time);
    let create = envelope(world, show, command);
    while submit(world, &create).await.is_none() {}
}
