//! The flash-sale workload: buyers hold seats of contested shows, then confirm (paying through
//! the sandbox), release, or let the hold lapse; some cancel a booking and some scan a ticket at
//! two gates at once. Every operation is recorded in the [`History`] the checker judges, with its
//! invoke and complete times and what the client was told; an operation keeps one
//! `Idempotency-Key` across its attempts, as a real client's retry does.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use history::{Action, Done, History, Ms, OpId, Outcome};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::client::{Answer, Api, now_ms};
use crate::shows::Show;

/// How long a booking's tickets may take after its confirm answered (the contract's bound).
pub const TICKET_BOUND_MS: Ms = 5_000;

/// How long a watcher waits for a booking's tickets before it gives up.
const TICKET_WATCH: Duration = Duration::from_secs(60);

/// When a booking's tickets appeared.
#[derive(Clone, Copy, Debug)]
pub struct TicketWait {
    /// The booking.
    pub booking: Uuid,
    /// When its confirm was answered.
    pub confirmed: Ms,
    /// When the tickets were first listed (`None`: never, within the watch).
    pub issued: Option<Ms>,
}

/// What the buyers did, shared among them.
#[derive(Default)]
pub struct Recorder {
    history: Mutex<History>,
    tickets: Mutex<Vec<TicketWait>>,
}

impl Recorder {
    fn invoke(&self, client: u64, key: &str, action: Action) -> OpId {
        self.history
            .lock()
            .expect("history")
            .invoke(client, key, action, now_ms())
    }

    fn complete(&self, op: OpId, outcome: Outcome) {
        self.history
            .lock()
            .expect("history")
            .complete(op, now_ms(), outcome);
    }

    /// The history so far.
    pub fn history(&self) -> History {
        self.history.lock().expect("history").clone()
    }

    /// Ticket latencies of every booking the buyers were told of.
    pub fn ticket_waits(&self) -> Vec<TicketWait> {
        self.tickets.lock().expect("tickets").clone()
    }
}

/// The hold a hold request of `show` with `key` by `user` creates: the client knows it before any
/// answer (a hold of unknown outcome still has an id), derived as the ingress derives it (the
/// use cases' own functions, so the campaign follows any change of the scheme).
pub fn hold_id(show: Uuid, user: Uuid, key: &str) -> Uuid {
    let command = usecases::idempotency::command_id(schemas::UserId(user), Some(key));
    usecases::submit::hold_id(schemas::ShowId(show), command).0
}

/// The booking a hold becomes.
pub fn booking_id(hold: Uuid) -> Uuid {
    usecases::submit::booking_id(schemas::HoldId(hold)).0
}

/// The outcome a client records: told yes, told no (a 4xx with its code), or unknown.
fn outcome(answer: &Answer, ok: &[u16], done: impl FnOnce(&Value) -> Option<Done>) -> Outcome {
    match answer {
        Answer::Status(status, body) if ok.contains(status) => {
            done(body).map_or(Outcome::Unknown, Outcome::Ok)
        }
        a if a.unknown() => Outcome::Unknown,
        a => Outcome::Rejected(a.code()),
    }
}

fn parse_ms(value: &Value) -> Option<Ms> {
    chrono::DateTime::parse_from_rfc3339(value.as_str()?)
        .ok()
        .map(|t| t.timestamp_millis())
}

fn uuids(values: &Value) -> Vec<Uuid> {
    values
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().or_else(|| v["seatId"].as_str()))
        .filter_map(|s| Uuid::parse_str(s).ok())
        .collect()
}

/// One buyer: a fresh identity per purchase (the per-user limits never bind), its own seeded
/// choices, and the operations it performs until `until`.
pub struct Buyer {
    /// Which buyer (the history's client).
    pub id: u64,
    api: Arc<Api>,
    recorder: Arc<Recorder>,
    shows: Arc<Vec<Show>>,
    rng: ChaCha8Rng,
    staff: String,
    serial: u64,
}

/// A hold a buyer has.
struct Held {
    token: String,
    hold: Uuid,
    expires_at: Ms,
}

impl Buyer {
    /// Buyer `id` of a run seeded with `seed`.
    pub fn new(
        id: u64,
        seed: u64,
        api: Arc<Api>,
        recorder: Arc<Recorder>,
        shows: Arc<Vec<Show>>,
    ) -> Buyer {
        let staff = api.token(Uuid::new_v4(), &["staff"]);
        Buyer {
            id,
            api,
            recorder,
            shows,
            rng: ChaCha8Rng::seed_from_u64(seed.wrapping_mul(1_000_003).wrapping_add(id)),
            staff,
            serial: 0,
        }
    }

    /// Buy until `until` (ms on the recorder's clock).
    pub async fn run(mut self, until: Ms) {
        while now_ms() < until {
            if let Some(held) = self.hold().await {
                self.after_hold(held).await;
            }
            let pause = self.rng.random_range(50..400);
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
    }

    fn key(&mut self, what: &str) -> String {
        self.serial += 1;
        format!("{what}-{}-{}", self.id, self.serial)
    }

    fn via(&mut self) -> usize {
        self.rng.random_range(0..2)
    }

    async fn hold(&mut self) -> Option<Held> {
        let show = self.shows[self.rng.random_range(0..self.shows.len())].clone();
        let count = self.rng.random_range(1..=2);
        let mut seats = Vec::new();
        while seats.len() < count {
            let seat = show.seats[self.rng.random_range(0..show.seats.len())];
            if !seats.contains(&seat) {
                seats.push(seat);
            }
        }
        let user = Uuid::new_v4();
        let token = self.api.token(user, &[]);
        let key = self.key("hold");
        let hold = hold_id(show.show_id, user, &key);
        let op = self.recorder.invoke(
            self.id,
            &key,
            Action::Hold {
                hold,
                seats: seats.clone(),
            },
        );
        let body = json!({"showId": show.show_id, "seatIds": seats});
        let via = self.via();
        let answer = self
            .api
            .call(
                via,
                Method::POST,
                "/v1/bookings/hold",
                &token,
                Some(&key),
                Some(&body),
            )
            .await;
        let mut expires_at = None;
        let told = outcome(&answer, &[201], |b| {
            expires_at = parse_ms(&b["expiresAt"]);
            expires_at.map(|expires_at| Done::Held { expires_at })
        });
        let held = matches!(told, Outcome::Ok(_));
        self.recorder.complete(op, told);
        held.then(|| Held {
            token,
            hold,
            expires_at: expires_at.unwrap_or_default(),
        })
    }

    async fn after_hold(&mut self, held: Held) {
        let roll = self.rng.random_range(0..100);
        if roll < 70 {
            if let Some(booking) = self.confirm(&held).await {
                self.after_booking(&held, booking).await;
            }
        } else if roll < 85 {
            self.release(&held).await;
        }
        // else: the hold lapses on its own.
    }

    async fn confirm(&mut self, held: &Held) -> Option<Uuid> {
        let key = self.key("confirm");
        let booking = booking_id(held.hold);
        let op = self.recorder.invoke(
            self.id,
            &key,
            Action::Confirm {
                hold: held.hold,
                booking,
            },
        );
        let body = json!({"holdId": held.hold, "paymentMethodId": "pm_card_visa"});
        let via = self.via();
        let answer = self
            .api
            .call(
                via,
                Method::POST,
                "/v1/bookings/confirm",
                &held.token,
                Some(&key),
                Some(&body),
            )
            .await;
        let told = outcome(&answer, &[200, 201], |b| {
            Some(Done::Booked {
                seats: uuids(&b["seats"]),
                amount: b["totalAmount"].as_u64()?,
            })
        });
        let booked = matches!(told, Outcome::Ok(_));
        self.recorder.complete(op, told);
        if !booked {
            return None;
        }
        tokio::spawn(watch_tickets(
            self.api.clone(),
            self.recorder.clone(),
            booking,
            held.token.clone(),
            now_ms(),
        ));
        Some(booking)
    }

    async fn release(&mut self, held: &Held) {
        let key = self.key("release");
        let op = self
            .recorder
            .invoke(self.id, &key, Action::Release { hold: held.hold });
        let via = self.via();
        let answer = self
            .api
            .call(
                via,
                Method::DELETE,
                &format!("/v1/bookings/holds/{}", held.hold),
                &held.token,
                Some(&key),
                None,
            )
            .await;
        // A 204 also answers the release of a hold that lapsed meanwhile ("nothing to do"): after
        // the lapse the client cannot tell which, so it records no definite outcome.
        let lapsed = now_ms() >= held.expires_at;
        let told = outcome(&answer, &[204], |_| (!lapsed).then_some(Done::Released));
        self.recorder.complete(op, told);
    }

    async fn after_booking(&mut self, held: &Held, booking: Uuid) {
        let roll = self.rng.random_range(0..100);
        if roll < 25 {
            self.cancel(held, booking).await;
        } else if roll < 50 {
            self.check_in(held, booking).await;
        }
    }

    async fn cancel(&mut self, held: &Held, booking: Uuid) {
        let key = self.key("cancel");
        let op = self
            .recorder
            .invoke(self.id, &key, Action::Cancel { booking });
        let via = self.via();
        let answer = self
            .api
            .call(
                via,
                Method::DELETE,
                &format!("/v1/bookings/{booking}"),
                &held.token,
                Some(&key),
                None,
            )
            .await;
        let told = outcome(&answer, &[200], |b| {
            Some(Done::Cancelled {
                refund: b["refundAmount"].as_u64()?,
            })
        });
        self.recorder.complete(op, told);
    }

    /// Scan the booking's first ticket, at two gates at once one time in three.
    async fn check_in(&mut self, held: &Held, booking: Uuid) {
        let Some((ticket, code)) = first_ticket(&self.api, booking, &held.token).await else {
            return;
        };
        let gates = if self.rng.random_range(0..3) == 0 {
            2
        } else {
            1
        };
        let mut scans = Vec::new();
        for gate in 0..gates {
            let key = self.key("checkin");
            let op = self
                .recorder
                .invoke(self.id, &key, Action::CheckIn { ticket, booking });
            let (api, recorder, staff) =
                (self.api.clone(), self.recorder.clone(), self.staff.clone());
            let body = json!({"code": code, "gate": format!("Gate {gate}")});
            let via = self.via();
            scans.push(tokio::spawn(async move {
                let answer = api
                    .call(
                        via,
                        Method::POST,
                        "/v1/checkin",
                        &staff,
                        Some(&key),
                        Some(&body),
                    )
                    .await;
                recorder.complete(op, outcome(&answer, &[200], |_| Some(Done::Admitted)));
            }));
        }
        for scan in scans {
            let _ = scan.await;
        }
    }
}

/// The booking's tickets as ingress `via` lists them (empty while not issued, `None` when
/// unreadable). Readers alternate between the ingresses: a watcher stuck on a killed ingress
/// would blame the ticket worker for the ingress's absence.
async fn tickets_of(api: &Api, via: usize, booking: Uuid, token: &str) -> Option<Vec<Value>> {
    let path = format!("/v1/bookings/{booking}");
    match api.once(via, Method::GET, &path, token, None, None).await {
        Answer::Status(200, body) => Some(body["tickets"].as_array().cloned().unwrap_or_default()),
        _ => None,
    }
}

/// The booking's first ticket id and code, waiting up to 10 s for it to be issued.
async fn first_ticket(api: &Api, booking: Uuid, token: &str) -> Option<(Uuid, String)> {
    for poll in 0..50 {
        if let Some(ticket) = tickets_of(api, poll, booking, token)
            .await
            .and_then(|t| t.into_iter().next())
        {
            let id = Uuid::parse_str(ticket["ticketId"].as_str()?).ok()?;
            return Some((id, ticket["code"].as_str()?.to_owned()));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

/// Record when `booking`'s tickets are first listed (polling every 200 ms).
async fn watch_tickets(
    api: Arc<Api>,
    recorder: Arc<Recorder>,
    booking: Uuid,
    token: String,
    confirmed: Ms,
) {
    let mut issued = None;
    let mut poll = 0;
    while now_ms() - confirmed < TICKET_WATCH.as_millis() as Ms {
        poll += 1;
        if tickets_of(&api, poll, booking, &token)
            .await
            .is_some_and(|t| !t.is_empty())
        {
            issued = Some(now_ms());
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    recorder.tickets.lock().expect("tickets").push(TicketWait {
        booking,
        confirmed,
        issued,
    });
}
