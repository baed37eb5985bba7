//! The pure core: one show's queue as a fold over its log of [`QueueEvent`]s. No IO, no clock:
//! time arrives inside the events (and as `now` for reads), so every process that folds the same
//! log agrees on every queue number, admission and expiry.
//!
//! Numbers and positions: pre-opening joiners wait unnumbered; [`QueueEvent::Opened`] shuffles
//! them with the recorded seed ([`shuffled`]) and numbers them `1..=P`; later joiners get
//! `P+1, P+2, ...` in log order. Admission is in number order, so the admitted set is always the
//! prefix `1..=W` (the watermark). Every number above `W` belongs to a WAITING entry (a user only
//! gets a second number after the first was admitted and expired, i.e. below `W`), hence
//! `position = number - W`: O(1), whatever the queue length.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use schemas::{ShowId, UnixMs, UserId};
use serde::{Deserialize, Serialize};

use crate::demand::AutoSetting;

/// One change to one show's queue, as stored in the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum QueueEvent {
    /// A buyer asked to join (a duplicate of a live entry changes nothing).
    Joined {
        /// The buyer.
        user: UserId,
        /// 32 bits of the join's command id: a retry with the same Idempotency-Key is recognised
        /// as the request that created the entry.
        tag: u32,
        /// When the joining process accepted the request.
        at: UnixMs,
    },
    /// The sale opened: pre-opening joiners are shuffled with `seed` and numbered.
    Opened {
        /// When.
        at: UnixMs,
        /// ChaCha20 seed of the shuffle, recorded so the order can be audited.
        seed: [u8; 32],
    },
    /// Entries numbered up to `upto` were admitted at `at`, valid until `expires_at`.
    Admitted {
        /// New watermark (inclusive).
        upto: u32,
        /// When.
        at: UnixMs,
        /// When these admissions lapse.
        expires_at: UnixMs,
        /// Pacing allowance left after this batch, in thousandths of an admission.
        bucket_milli: u64,
    },
    /// An admitted buyer placed a hold with the admission (no longer pending demand).
    Used {
        /// The buyer.
        user: UserId,
        /// Seats in that hold (teaches admission how many seats a buyer takes).
        seats: u32,
        /// When.
        at: UnixMs,
    },
    /// Demand passed the show's threshold: its waiting room is on from now (appended by the one
    /// admitter that won the control position).
    AutoSwitchedOn {
        /// When.
        at: UnixMs,
        /// Average demand signals per second that set it off.
        demand_per_s: u64,
    },
    /// An admin changed the room (`PUT .../waiting-room`): their decision replaces any automatic
    /// switch-on, and `setting` says whether and when it may switch on automatically again.
    AutoSet {
        /// When.
        at: UnixMs,
        /// The show's automatic switch-on from now on.
        setting: AutoSetting,
    },
}

impl QueueEvent {
    /// Whether admitters compete on this event (appended only on the latest control position).
    pub fn is_control(&self) -> bool {
        match self {
            QueueEvent::Opened { .. }
            | QueueEvent::Admitted { .. }
            | QueueEvent::AutoSwitchedOn { .. }
            | QueueEvent::AutoSet { .. } => true,
            QueueEvent::Joined { .. } | QueueEvent::Used { .. } => false,
        }
    }
}

/// What applying a join did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinOutcome {
    /// A new entry (first join, or a rejoin after the previous admission expired).
    Created,
    /// The user already had a live entry; nothing changed.
    Existing,
}

/// Where one entry stands at a moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Joined before the opening; number and place are drawn at the opening.
    Unnumbered,
    /// Waiting with a number; `position` = WAITING entries ahead + 1.
    Waiting {
        /// Queue number.
        number: u32,
        /// Place in line.
        position: u32,
    },
    /// Admitted; may hold seats until `expires_at`.
    Admitted {
        /// Queue number.
        number: u32,
        /// End of the admission window.
        expires_at: UnixMs,
    },
    /// Admitted, and the window has passed.
    Expired {
        /// Queue number.
        number: u32,
    },
}

impl Standing {
    /// Whether the entry still counts (joining again returns it rather than queueing anew).
    pub fn is_live(self) -> bool {
        match self {
            Standing::Unnumbered | Standing::Waiting { .. } | Standing::Admitted { .. } => true,
            Standing::Expired { .. } => false,
        }
    }
}

/// One entry: its number (0 = not numbered yet) with the used flag in the top bit, and the tag of
/// the join that created it. Eight bytes, so a million entries stay small.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    number_and_used: u32,
    tag: u32,
}

const USED: u32 = 1 << 31;

/// Seats a buyer is expected to take before any buyer of the show has held.
pub const PRIOR_SEATS_PER_BUYER: u64 = 2;

/// Weight of that expectation, in buyers.
pub const PRIOR_BUYERS: u64 = 4;

/// Largest queue number (the top bit of an entry is the used flag).
pub const NUMBER_MAX: u32 = USED - 1;

impl Entry {
    fn number(self) -> u32 {
        self.number_and_used & !USED
    }

    fn used(self) -> bool {
        self.number_and_used & USED != 0
    }
}

/// One admission batch: numbers `(previous upto, upto]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Batch {
    upto: u32,
    used: u32,
    at: UnixMs,
    expires_at: UnixMs,
}

/// Hasher for entry maps: a folded multiply keyed per process. User ids are server-minted UUIDs
/// (guest tokens) or come from tokens only this service signs, so the random key is enough to keep
/// anyone from steering entries into one bucket, at a fraction of SipHash's cost.
#[derive(Clone, Copy, Debug)]
pub struct KeyedIdHasher(u64);

impl Hasher for KeyedIdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            let product = u128::from(self.0 ^ u64::from_le_bytes(word)) * 0x9e37_79b9_7f4a_7c15;
            self.0 = (product as u64) ^ ((product >> 64) as u64);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Builds [`KeyedIdHasher`]s with one random key.
#[derive(Clone, Copy, Debug)]
pub struct KeyedIds(u64);

impl Default for KeyedIds {
    fn default() -> Self {
        KeyedIds(rand::random())
    }
}

impl BuildHasher for KeyedIds {
    type Hasher = KeyedIdHasher;

    fn build_hasher(&self) -> KeyedIdHasher {
        KeyedIdHasher(self.0)
    }
}

/// How fast and how far admission may go at one moment (from the show's settings and seats).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pace {
    /// Admissions per minute (`admitPerMinute`).
    pub admit_per_minute: u32,
    /// Seats AVAILABLE right now.
    pub available_seats: u32,
    /// How long an admission stays valid, in milliseconds.
    pub window_ms: i64,
    /// Admissions to count as outstanding at least: a count taken before `available_seats` was
    /// read. A buyer's use of an admission is recorded after the hold, so a use that arrives
    /// between the two reads would otherwise free demand whose seats the count still shows.
    pub outstanding_floor: u32,
}

impl Pace {
    /// Most admissions the pacing allowance may hold: ten seconds' worth, at least one (so the
    /// head of a slow queue is admitted at once when it may be).
    pub fn burst(&self) -> u64 {
        (u64::from(self.admit_per_minute) / 6).max(1)
    }
}

/// One show's queue.
#[derive(Clone, Debug)]
pub struct ShowQueue {
    show: ShowId,
    entries: HashMap<UserId, Entry, KeyedIds>,
    /// Pre-opening joiners: in join order until the opening, then in admission order.
    pre: Vec<UserId>,
    opened: Option<(UnixMs, [u8; 32])>,
    next_number: u32,
    watermark: u32,
    batches: Vec<Batch>,
    /// Pacing allowance after the last admission and when it was computed; `None` = full.
    bucket: Option<(u64, UnixMs)>,
    /// Seats held with first uses of admissions, and how many uses.
    used_seats: u64,
    uses: u64,
    control_rev: u64,
    events: u64,
    /// When demand switched the room on, and the demand per second then.
    auto_on: Option<(UnixMs, u64)>,
    auto: AutoSetting,
}

impl ShowQueue {
    /// An empty queue for `show`.
    pub fn new(show: ShowId) -> ShowQueue {
        ShowQueue {
            show,
            entries: HashMap::default(),
            pre: Vec::new(),
            opened: None,
            next_number: 1,
            watermark: 0,
            batches: Vec::new(),
            bucket: None,
            used_seats: 0,
            uses: 0,
            control_rev: 0,
            events: 0,
            auto_on: None,
            auto: AutoSetting::Default,
        }
    }

    /// The show.
    pub fn show(&self) -> ShowId {
        self.show
    }

    /// Log position of the last applied control event (admitters append only on top of it).
    pub fn control_rev(&self) -> u64 {
        self.control_rev
    }

    /// Events applied so far (bumps on every change; watchers compare it).
    pub fn events(&self) -> u64 {
        self.events
    }

    /// When the sale opened for this queue, with the shuffle seed.
    pub fn opening(&self) -> Option<(UnixMs, [u8; 32])> {
        self.opened
    }

    /// Entries ever numbered or waiting for a number (rejoins count again).
    pub fn joined(&self) -> u64 {
        u64::from(self.next_number - 1)
            + if self.opened.is_none() {
                self.pre.len() as u64
            } else {
                0
            }
    }

    /// Numbered entries not admitted yet, plus unnumbered ones.
    pub fn waiting(&self) -> u32 {
        let unnumbered = if self.opened.is_none() {
            self.pre.len() as u32
        } else {
            0
        };
        self.next_number - 1 - self.watermark + unnumbered
    }

    /// The admission watermark: every number up to it was admitted.
    pub fn admitted(&self) -> u32 {
        self.watermark
    }

    /// When demand switched the room on (and the demand per second then), unless an admin has
    /// decided since.
    pub fn auto_on(&self) -> Option<(UnixMs, u64)> {
        self.auto_on
    }

    /// The show's automatic switch-on setting.
    pub fn auto_setting(&self) -> AutoSetting {
        self.auto
    }

    /// Pre-opening joiners in admission order (after the opening) or join order (before).
    pub fn pre_opening_order(&self) -> &[UserId] {
        &self.pre
    }

    /// Apply one event at log position `rev`. Returns the join outcome for joins.
    pub fn apply(&mut self, event: &QueueEvent, rev: u64) -> Option<JoinOutcome> {
        self.events += 1;
        if event.is_control() {
            self.control_rev = rev;
        }
        match *event {
            QueueEvent::Joined { user, tag, at } => Some(self.join(user, tag, at)),
            QueueEvent::Opened { at, seed } => {
                self.open(at, seed);
                None
            }
            QueueEvent::Admitted {
                upto,
                at,
                expires_at,
                bucket_milli,
            } => {
                self.admit(upto, at, expires_at, bucket_milli);
                None
            }
            QueueEvent::Used { user, seats, at } => {
                self.mark_used(user, seats, at);
                None
            }
            QueueEvent::AutoSwitchedOn { at, demand_per_s } => {
                self.auto_on.get_or_insert((at, demand_per_s));
                None
            }
            QueueEvent::AutoSet { setting, .. } => {
                self.auto = setting;
                self.auto_on = None;
                None
            }
        }
    }

    fn join(&mut self, user: UserId, tag: u32, at: UnixMs) -> JoinOutcome {
        if let Some(entry) = self.entries.get(&user)
            && self.is_live(*entry, at)
        {
            return JoinOutcome::Existing;
        }
        let number = if self.opened.is_some() && self.next_number <= NUMBER_MAX {
            self.next_number += 1;
            self.next_number - 1
        } else if self.opened.is_some() {
            // The number space is exhausted (2^31 joins): keep the old entry rather than wrap.
            return JoinOutcome::Existing;
        } else {
            self.pre.push(user);
            0
        };
        self.entries.insert(
            user,
            Entry {
                number_and_used: number,
                tag,
            },
        );
        JoinOutcome::Created
    }

    fn open(&mut self, at: UnixMs, seed: [u8; 32]) {
        if self.opened.is_some() {
            return;
        }
        self.opened = Some((at, seed));
        shuffle(&mut self.pre, seed);
        let pre = self.pre.len().min(NUMBER_MAX as usize) as u32;
        for (user, number) in self.pre.iter().zip(1..=pre) {
            if let Some(entry) = self.entries.get_mut(user) {
                entry.number_and_used = number;
            }
        }
        self.next_number = pre + 1;
    }

    fn admit(&mut self, upto: u32, at: UnixMs, expires_at: UnixMs, bucket_milli: u64) {
        let upto = upto.min(self.next_number - 1);
        let at = self.batches.last().map_or(at, |b| b.at.max(at));
        self.bucket = Some((bucket_milli, at));
        if upto <= self.watermark {
            return;
        }
        self.watermark = upto;
        self.batches.push(Batch {
            upto,
            used: 0,
            at,
            expires_at,
        });
    }

    fn mark_used(&mut self, user: UserId, seats: u32, at: UnixMs) {
        let Some(entry) = self.entries.get(&user).copied() else {
            return;
        };
        let number = entry.number();
        if entry.used() || number == 0 || number > self.watermark {
            return;
        }
        let index = self.batch_index(number);
        let batch = &mut self.batches[index];
        if at >= batch.expires_at {
            return;
        }
        batch.used += 1;
        self.uses += 1;
        self.used_seats += u64::from(seats.max(1));
        if let Some(entry) = self.entries.get_mut(&user) {
            entry.number_and_used |= USED;
        }
    }

    /// Index of the batch that admitted `number` (which must be at most the watermark).
    fn batch_index(&self, number: u32) -> usize {
        self.batches.partition_point(|b| b.upto < number)
    }

    fn is_live(&self, entry: Entry, now: UnixMs) -> bool {
        self.standing_of(entry, now).is_live()
    }

    fn standing_of(&self, entry: Entry, now: UnixMs) -> Standing {
        let number = entry.number();
        if number == 0 {
            Standing::Unnumbered
        } else if number > self.watermark {
            Standing::Waiting {
                number,
                position: number - self.watermark,
            }
        } else {
            let expires_at = self.batches[self.batch_index(number)].expires_at;
            if now < expires_at {
                Standing::Admitted { number, expires_at }
            } else {
                Standing::Expired { number }
            }
        }
    }

    /// Where `user` stands at `now`, with the tag of the join that created the entry.
    pub fn standing(&self, user: UserId, now: UnixMs) -> Option<(Standing, u32)> {
        let entry = *self.entries.get(&user)?;
        Some((self.standing_of(entry, now), entry.tag))
    }

    /// Whether `user` holds an admission at `now` that has not been marked used yet.
    pub fn unused_admission(&self, user: UserId, now: UnixMs) -> bool {
        self.entries.get(&user).is_some_and(|entry| {
            !entry.used() && matches!(self.standing_of(*entry, now), Standing::Admitted { .. })
        })
    }

    /// Admitted entries whose window is still open and who have not used it yet at `now`: demand
    /// that may still turn into holds.
    pub fn outstanding(&self, now: UnixMs) -> u32 {
        let mut previous = 0;
        let mut outstanding = 0;
        for batch in &self.batches {
            if now < batch.expires_at {
                outstanding += batch.upto - previous - batch.used;
            }
            previous = batch.upto;
        }
        outstanding
    }

    /// Seats one admitted buyer takes, in thousandths: the mean over first holds made with an
    /// admission, starting from a prior of [`PRIOR_SEATS_PER_BUYER`] that fades as buyers hold.
    pub fn seats_per_buyer_milli(&self) -> u64 {
        let seats = self.used_seats + PRIOR_SEATS_PER_BUYER * PRIOR_BUYERS;
        (seats * 1000 / (self.uses + PRIOR_BUYERS)).max(1000)
    }

    /// How many more buyers the AVAILABLE seats can serve: seats over seats per buyer (rounded
    /// up, so the last seat still finds a buyer), minus admissions still outstanding (at least
    /// `outstanding_floor`).
    pub fn capacity(&self, now: UnixMs, available_seats: u32, outstanding_floor: u32) -> u32 {
        let buyers = (u64::from(available_seats) * 1000).div_ceil(self.seats_per_buyer_milli());
        let outstanding = self.outstanding(now).max(outstanding_floor);
        (buyers as u32).saturating_sub(outstanding)
    }

    /// The next admission batch at `now`, if any may go: at most what the pacing allowance has
    /// accumulated, and never more buyers than the AVAILABLE seats can serve after the
    /// admissions already outstanding ([`ShowQueue::capacity`]). `None` before the opening or
    /// when nobody waits.
    pub fn plan_admission(&self, now: UnixMs, pace: Pace) -> Option<QueueEvent> {
        self.opened?;
        let waiting = self.next_number - 1 - self.watermark;
        if waiting == 0 || pace.admit_per_minute == 0 {
            return None;
        }
        let allowance = self.allowance_milli(now, pace);
        let capacity = self.capacity(now, pace.available_seats, pace.outstanding_floor);
        let count = u64::from(waiting)
            .min(u64::from(capacity))
            .min(allowance / 1000) as u32;
        if count == 0 {
            return None;
        }
        Some(QueueEvent::Admitted {
            upto: self.watermark + count,
            at: now,
            expires_at: UnixMs(now.0.saturating_add(pace.window_ms)),
            bucket_milli: allowance - u64::from(count) * 1000,
        })
    }

    /// Pacing allowance at `now` in thousandths of an admission (token bucket refilled at
    /// `admit_per_minute`, capped at [`Pace::burst`]).
    fn allowance_milli(&self, now: UnixMs, pace: Pace) -> u64 {
        let cap = pace.burst() * 1000;
        match self.bucket {
            None => cap,
            Some((left, since)) => {
                let elapsed_ms = u64::try_from(now.0.saturating_sub(since.0)).unwrap_or(0);
                // per ms: admit_per_minute * 1000 milli / 60_000 ms
                let refill = elapsed_ms.saturating_mul(u64::from(pace.admit_per_minute)) / 60;
                left.saturating_add(refill).min(cap)
            }
        }
    }
}

/// `users` in the order the seed draws: a Fisher-Yates shuffle driven by ChaCha20 with unbiased
/// bounded draws, written out here (not a library shuffle) so the order depends only on the seed
/// and this code, and an audit can replay it years later.
pub fn shuffled(users: &[UserId], seed: [u8; 32]) -> Vec<UserId> {
    let mut out = users.to_vec();
    shuffle(&mut out, seed);
    out
}

fn shuffle(users: &mut [UserId], seed: [u8; 32]) {
    let mut rng = ChaCha20Rng::from_seed(seed);
    for i in (1..users.len()).rev() {
        let j = below(&mut rng, i as u64 + 1) as usize;
        users.swap(i, j);
    }
}

/// A uniform draw from `0..n` (`n >= 1`) by rejection, so no value is favoured.
fn below(rng: &mut ChaCha20Rng, n: u64) -> u64 {
    let zone = u64::MAX - (u64::MAX - n + 1) % n;
    loop {
        let x = rng.next_u64();
        if x <= zone {
            return x % n;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};

    use proptest::prelude::*;
    use uuid::Uuid;

    use super::*;

    const WINDOW_MS: i64 = 10_000;

    fn user(n: u128) -> UserId {
        UserId(Uuid::from_u128(n + 1))
    }

    fn show() -> ShowId {
        ShowId(Uuid::from_u128(7))
    }

    #[test]
    fn demand_switches_on_until_an_admin_decides() {
        let mut q = ShowQueue::new(show());
        assert_eq!(
            (q.auto_on(), q.auto_setting()),
            (None, AutoSetting::Default)
        );
        let on = QueueEvent::AutoSwitchedOn {
            at: UnixMs(5),
            demand_per_s: 40,
        };
        q.apply(&on, 3);
        assert_eq!(q.auto_on(), Some((UnixMs(5), 40)));
        assert_eq!(q.control_rev(), 3);
        // A second switch-on (a replayed duplicate) keeps the first.
        q.apply(
            &QueueEvent::AutoSwitchedOn {
                at: UnixMs(9),
                demand_per_s: 90,
            },
            4,
        );
        assert_eq!(q.auto_on(), Some((UnixMs(5), 40)));
        let admin = QueueEvent::AutoSet {
            at: UnixMs(10),
            setting: AutoSetting::Never,
        };
        q.apply(&admin, 6);
        assert_eq!((q.auto_on(), q.auto_setting()), (None, AutoSetting::Never));
        assert_eq!(q.control_rev(), 6);
        let bytes = rmp_serde::to_vec(&admin).unwrap();
        assert_eq!(rmp_serde::from_slice::<QueueEvent>(&bytes).unwrap(), admin);
    }

    fn joined(q: &mut ShowQueue, u: u128, at: i64) -> JoinOutcome {
        let event = QueueEvent::Joined {
            user: user(u),
            tag: u as u32,
            at: UnixMs(at),
        };
        q.apply(&event, 0).expect("joins report an outcome")
    }

    fn admit(q: &mut ShowQueue, upto: u32, at: i64) {
        let event = QueueEvent::Admitted {
            upto,
            at: UnixMs(at),
            expires_at: UnixMs(at + WINDOW_MS),
            bucket_milli: 0,
        };
        q.apply(&event, 1);
    }

    fn open(q: &mut ShowQueue, at: i64, seed: u8) {
        q.apply(
            &QueueEvent::Opened {
                at: UnixMs(at),
                seed: [seed; 32],
            },
            1,
        );
    }

    #[test]
    fn post_opening_joiners_are_numbered_in_join_order_and_positions_follow_the_watermark() {
        let mut q = ShowQueue::new(show());
        open(&mut q, 0, 1);
        for u in 0..100 {
            assert_eq!(joined(&mut q, u, 10), JoinOutcome::Created);
        }
        assert_eq!(joined(&mut q, 5, 11), JoinOutcome::Existing);
        admit(&mut q, 30, 20);
        for u in 0..100u128 {
            let number = u as u32 + 1;
            let (standing, tag) = q.standing(user(u), UnixMs(21)).unwrap();
            assert_eq!(tag, u as u32);
            if number <= 30 {
                assert_eq!(
                    standing,
                    Standing::Admitted {
                        number,
                        expires_at: UnixMs(20 + WINDOW_MS)
                    }
                );
            } else {
                assert_eq!(
                    standing,
                    Standing::Waiting {
                        number,
                        position: number - 30
                    }
                );
            }
        }
        assert_eq!(q.waiting(), 70);
        assert_eq!(q.outstanding(UnixMs(21)), 30);
        assert_eq!(q.outstanding(UnixMs(20 + WINDOW_MS)), 0);
    }

    #[test]
    fn pre_opening_joiners_are_a_seeded_permutation_numbered_first() {
        let mut q = ShowQueue::new(show());
        for u in 0..1000 {
            joined(&mut q, u, 5);
        }
        assert_eq!(
            q.standing(user(3), UnixMs(6)).unwrap().0,
            Standing::Unnumbered
        );
        let join_order: Vec<UserId> = (0..1000).map(user).collect();
        open(&mut q, 10, 42);
        joined(&mut q, 5000, 11);
        let order = q.pre_opening_order().to_vec();
        assert_eq!(
            order,
            shuffled(&join_order, [42; 32]),
            "the audit replays the order"
        );
        assert_ne!(order, join_order);
        let distinct: HashSet<_> = order.iter().collect();
        assert_eq!(distinct.len(), 1000);
        for (i, u) in order.iter().enumerate() {
            let (standing, _) = q.standing(*u, UnixMs(12)).unwrap();
            let number = i as u32 + 1;
            assert_eq!(
                standing,
                Standing::Waiting {
                    number,
                    position: number
                }
            );
        }
        let late = q.standing(user(5000), UnixMs(12)).unwrap().0;
        assert_eq!(
            late,
            Standing::Waiting {
                number: 1001,
                position: 1001
            }
        );
        assert_ne!(
            shuffled(&join_order, [43; 32]),
            order,
            "another seed, another order"
        );
    }

    #[test]
    fn the_shuffle_favours_no_place() {
        // 3 users, 6 orders: each should come up about 1/6 of 60,000 seeds.
        let users: Vec<UserId> = (0..3).map(user).collect();
        let mut counts: BTreeMap<Vec<UserId>, u32> = BTreeMap::new();
        for s in 0..60_000u32 {
            let mut seed = [0u8; 32];
            seed[..4].copy_from_slice(&s.to_le_bytes());
            *counts.entry(shuffled(&users, seed)).or_default() += 1;
        }
        assert_eq!(counts.len(), 6);
        for (order, n) in counts {
            assert!((9_400..10_600).contains(&n), "{order:?} came {n} times");
        }
    }

    #[test]
    fn an_expired_entry_rejoins_at_the_back_and_a_live_one_does_not() {
        let mut q = ShowQueue::new(show());
        open(&mut q, 0, 1);
        for u in 0..3 {
            joined(&mut q, u, 1);
        }
        admit(&mut q, 1, 2);
        assert_eq!(
            joined(&mut q, 0, 3),
            JoinOutcome::Existing,
            "admitted is live"
        );
        let expired = 2 + WINDOW_MS;
        assert_eq!(
            q.standing(user(0), UnixMs(expired)).unwrap().0,
            Standing::Expired { number: 1 }
        );
        assert_eq!(joined(&mut q, 0, expired), JoinOutcome::Created);
        assert_eq!(
            q.standing(user(0), UnixMs(expired)).unwrap().0,
            Standing::Waiting {
                number: 4,
                position: 3
            }
        );
    }

    #[test]
    fn admissions_wait_for_the_opening_and_stay_within_seats_and_pace() {
        let mut q = ShowQueue::new(show());
        let pace = |available| Pace {
            admit_per_minute: 60,
            available_seats: available,
            window_ms: WINDOW_MS,
            outstanding_floor: 0,
        };
        joined(&mut q, 0, 0);
        assert_eq!(q.plan_admission(UnixMs(1), pace(100)), None, "not opened");
        open(&mut q, 1, 9);
        for u in 1..50 {
            joined(&mut q, u, 2);
        }
        // Burst: ten seconds' worth at 60/min = 10.
        let Some(QueueEvent::Admitted { upto, .. }) = q.plan_admission(UnixMs(3), pace(100)) else {
            panic!("expected a batch")
        };
        assert_eq!(upto, 10);
        // Six seats at the prior two seats a buyer: three admissions at most.
        let Some(QueueEvent::Admitted { upto, .. }) = q.plan_admission(UnixMs(3), pace(6)) else {
            panic!("expected a batch")
        };
        assert_eq!(upto, 3);
        let event = q.plan_admission(UnixMs(3), pace(6)).unwrap();
        q.apply(&event, 2);
        assert_eq!(
            q.plan_admission(UnixMs(4), pace(6)),
            None,
            "all seats promised"
        );
        assert_eq!(q.plan_admission(UnixMs(4), pace(0)), None, "sold out");
        // One used its admission and held 4 seats: buyers take (8 + 4) / 5 = 2.4 seats now, so 2
        // seats left serve 1 buyer, and 2 are outstanding -> nothing.
        q.apply(
            &QueueEvent::Used {
                user: q.pre_opening_order()[0],
                seats: 4,
                at: UnixMs(5),
            },
            3,
        );
        assert_eq!(q.outstanding(UnixMs(5)), 2);
        assert_eq!(q.seats_per_buyer_milli(), 2_400);
        assert_eq!(q.capacity(UnixMs(5), 2, 0), 0);
        assert_eq!(q.capacity(UnixMs(5), 100, 50), 0, "the floor counts");
        assert_eq!(q.plan_admission(UnixMs(5), pace(2)), None);
        // The last seat still finds a buyer once nobody is outstanding.
        assert_eq!(q.capacity(UnixMs(3 + WINDOW_MS), 1, 0), 1);
        // Seats come back: the allowance left (7) limits the batch.
        let Some(QueueEvent::Admitted { upto, .. }) = q.plan_admission(UnixMs(6), pace(100)) else {
            panic!("expected a batch")
        };
        assert_eq!(upto, 3 + 7);
        // After the window the three expire and no longer count; the allowance refills at 1/s.
        let later = 3 + WINDOW_MS;
        assert_eq!(q.outstanding(UnixMs(later)), 0);
        let event = q.plan_admission(UnixMs(later), pace(100)).unwrap();
        q.apply(&event, 4);
        assert_eq!(q.plan_admission(UnixMs(later + 999), pace(100)), None);
        let Some(QueueEvent::Admitted { upto, .. }) =
            q.plan_admission(UnixMs(later + 1000), pace(100))
        else {
            panic!("expected one more after a second")
        };
        assert_eq!(upto, q.admitted() + 1);
    }

    #[derive(Clone, Debug)]
    enum Op {
        Join(u128),
        Open(u8),
        Admit(u32),
        Use(u128),
        Wait(i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u128..24).prop_map(Op::Join),
            1 => any::<u8>().prop_map(Op::Open),
            2 => (0u32..6).prop_map(Op::Admit),
            1 => (0u128..24).prop_map(Op::Use),
            2 => (0i64..6_000).prop_map(Op::Wait),
        ]
    }

    /// The naive model: every entry with its number, admission expiry and use.
    #[derive(Default)]
    struct Model {
        pre: Vec<UserId>,
        opened: bool,
        entries: BTreeMap<UserId, (u32, Option<i64>, bool)>,
        next: u32,
        watermark: u32,
        now: i64,
    }

    impl Model {
        fn live(&self, u: UserId) -> bool {
            self.entries
                .get(&u)
                .is_some_and(|(_, expiry, _)| expiry.is_none_or(|e| self.now < e))
        }

        fn standing(&self, u: UserId) -> Option<Standing> {
            let (number, expiry, _) = *self.entries.get(&u)?;
            Some(match expiry {
                None if number == 0 => Standing::Unnumbered,
                None => {
                    let ahead = self
                        .entries
                        .values()
                        .filter(|(n, e, _)| e.is_none() && *n != 0 && *n < number)
                        .count() as u32;
                    Standing::Waiting {
                        number,
                        position: ahead + 1,
                    }
                }
                Some(expires) if self.now < expires => Standing::Admitted {
                    number,
                    expires_at: UnixMs(expires),
                },
                Some(_) => Standing::Expired { number },
            })
        }

        fn outstanding(&self) -> u32 {
            self.entries
                .values()
                .filter(|(_, e, used)| e.is_some_and(|e| self.now < e) && !used)
                .count() as u32
        }
    }

    proptest! {
        #[test]
        fn the_fold_agrees_with_a_naive_model(ops in proptest::collection::vec(op(), 1..120)) {
            let mut q = ShowQueue::new(show());
            let mut m = Model { next: 1, ..Model::default() };
            for op in ops {
                match op {
                    Op::Join(u) => {
                        let live = m.live(user(u));
                        let outcome = joined(&mut q, u, m.now);
                        prop_assert_eq!(outcome == JoinOutcome::Existing, live);
                        if !live {
                            let number = if m.opened { m.next += 1; m.next - 1 } else { m.pre.push(user(u)); 0 };
                            m.entries.insert(user(u), (number, None, false));
                        }
                    }
                    Op::Open(seed) => {
                        open(&mut q, m.now, seed);
                        if !m.opened {
                            m.opened = true;
                            for (i, u) in shuffled(&m.pre, [seed; 32]).into_iter().enumerate() {
                                m.entries.get_mut(&u).unwrap().0 = i as u32 + 1;
                            }
                            m.next = m.pre.len() as u32 + 1;
                        }
                    }
                    Op::Admit(k) => {
                        let upto = (m.watermark + k).min(m.next - 1);
                        admit(&mut q, upto, m.now);
                        if upto > m.watermark {
                            for entry in m.entries.values_mut() {
                                if entry.0 > m.watermark && entry.0 <= upto {
                                    entry.1 = Some(m.now + WINDOW_MS);
                                }
                            }
                            m.watermark = upto;
                        }
                    }
                    Op::Use(u) => {
                        q.apply(&QueueEvent::Used { user: user(u), seats: 1, at: UnixMs(m.now) }, 0);
                        if matches!(m.standing(user(u)), Some(Standing::Admitted { .. })) {
                            m.entries.get_mut(&user(u)).unwrap().2 = true;
                        }
                    }
                    Op::Wait(ms) => m.now += ms,
                }
                for u in 0..24 {
                    prop_assert_eq!(q.standing(user(u), UnixMs(m.now)).map(|s| s.0), m.standing(user(u)));
                }
                prop_assert_eq!(q.outstanding(UnixMs(m.now)), m.outstanding());
            }
        }
    }
}
