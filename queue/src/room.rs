//! [`WaitingRoom`]: the service the ingress calls. It joins buyers through the log, answers where
//! they stand from this process's folds, runs the admission rounds, checks admission tokens on
//! holds, and wakes live watchers.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use schemas::{ShowId, UnixMs, UserId};
use tokio::sync::{Semaphore, watch};

use crate::challenge::{Challenge, ChallengeRefusal, JoinChallenge, ProofOfWork};
use crate::demand::{AutoPolicy, AutoSetting, DemandMeter};
use crate::embedded::EmbeddedLog;
use crate::error::QueueError;
use crate::fold::{Pace, QueueEvent, Standing};
use crate::folds::{Folds, ShowSlot};
use crate::guard::{GuardMeter, GuardPolicy, GuardReason, Source, SourceCount};
use crate::jetstream::{
    CountShare, DemandShare, JetStreamLog, StreamSpec, demand_subject, guard_subject,
};
use crate::log::{Appended, Expect, QueueLog};
use crate::token::{ChallengeNonce, RoomKeys, TokenRefusal};

/// What the waiting room needs to know about a show (the ingress reads it from the catalog).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomShow {
    /// Whether buyers must queue.
    pub enabled: bool,
    /// Admissions per minute.
    pub admit_per_minute: u32,
    /// Proof-of-work difficulty to join, if any.
    pub challenge_bits: Option<u8>,
    /// When sales open (`None`: open).
    pub sale_opens_at: Option<UnixMs>,
    /// When the show starts (nothing is sold from then on).
    pub show_time: UnixMs,
}

impl RoomShow {
    /// Whether sales are open at `now`.
    pub fn sale_open(&self, now: UnixMs) -> bool {
        self.sale_opens_at.is_none_or(|opens| now >= opens)
    }

    /// Whether the show has started at `now`.
    pub fn started(&self, now: UnixMs) -> bool {
        now >= self.show_time
    }
}

/// Where the waiting room reads show settings and seat counts.
#[async_trait]
pub trait Directory: Send + Sync {
    /// The show's settings, or `None` if unknown. Read on the first hold of a show in a process,
    /// then again in the background every [`RoomConfig::settings_ttl`] (holds meanwhile use what
    /// was read last, also while this fails).
    async fn show(&self, show: ShowId) -> Result<Option<RoomShow>, QueueError>;

    /// Seats AVAILABLE now. Must reflect every hold already answered (read it from the source
    /// of truth, not from a lagging projection): admission pacing relies on it. Read once per
    /// admission round of a show with buyers waiting.
    async fn available_seats(&self, show: ShowId) -> Result<u32, QueueError>;

    /// Record that demand switched `show`'s waiting room on, pacing it at `admit_per_minute`
    /// unless it has a pace already (so the show reads as queued everywhere). Called once per
    /// switch-on, by the process whose `AutoSwitchedOn` event won; the waiting room treats the
    /// show as queued from that event on whether or not this succeeds.
    async fn switch_on(&self, show: ShowId, admit_per_minute: u32) -> Result<(), QueueError>;
}

/// Settings of the service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomConfig {
    /// How long an admission stays valid, in milliseconds.
    pub window_ms: i64,
    /// How often admission rounds run.
    pub tick: Duration,
    /// How long show settings and seat counts are reused before reading them again (admission
    /// rounds always read seats afresh). Settings past it are still used while they are read
    /// again in the background; zero reads them on every call.
    pub settings_ttl: Duration,
    /// Automatic switch-on above a demand.
    pub auto: AutoPolicy,
    /// Most admission-use records ([`WaitingRoom::record_use`]) being written at once; more
    /// are dropped (and counted) rather than queued.
    pub uses_in_flight_max: usize,
    /// Length of a challenge window, in milliseconds: a join challenge is answerable in the
    /// window it was issued in and the next, so it expires one to two windows after issue.
    pub challenge_window_ms: i64,
    /// The demand guard ([`crate::guard`]); `None`: off.
    pub guard: Option<GuardPolicy>,
    /// Proof-of-work difficulty of the holds the guard challenges, in leading zero bits.
    pub guard_bits: u8,
}

/// Default of [`RoomConfig::guard_bits`]: about a quarter of a million hashes, well under a
/// second in a browser's worker, so a buyer the guard wrongly suspects waits a moment, while a
/// script pays that for every hold of every identity it has.
pub const GUARD_BITS: u8 = 18;

/// Default of [`RoomConfig::challenge_window_ms`]: two minutes, well above the seconds a
/// browser takes at the difficulties shows use (up to about 20 bits), so honest buyers rarely
/// see a challenge lapse, while a solution is worthless after at most four minutes.
pub const CHALLENGE_WINDOW_MS: i64 = 120_000;

/// Default of [`RoomConfig::uses_in_flight_max`]: enough for a log answering in 10 ms to
/// record 25,000 holds a second.
pub const USES_IN_FLIGHT_MAX: usize = 256;

impl RoomConfig {
    /// Admissions valid `window_ms`; rounds and settings refresh every second.
    pub fn new(window_ms: i64) -> RoomConfig {
        RoomConfig {
            window_ms,
            tick: Duration::from_secs(1),
            settings_ttl: Duration::from_secs(1),
            auto: AutoPolicy::OFF,
            uses_in_flight_max: USES_IN_FLIGHT_MAX,
            challenge_window_ms: CHALLENGE_WINDOW_MS,
            guard: Some(GuardPolicy::defaults(window_ms / 1000)),
            guard_bits: GUARD_BITS,
        }
    }
}

/// The contract's QueueEntry `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// In line.
    Waiting,
    /// May hold seats with the admission token.
    Admitted,
    /// The admission window passed.
    Expired,
    /// In line, but nothing can be bought right now (back to `Waiting` if seats return).
    SoldOut,
}

impl Status {
    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Waiting => "WAITING",
            Status::Admitted => "ADMITTED",
            Status::Expired => "EXPIRED",
            Status::SoldOut => "SOLD_OUT",
        }
    }
}

/// An admission: the token for the `Admission-Token` header and when it lapses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admission {
    /// Signed token.
    pub token: String,
    /// End of the admission window.
    pub expires_at: UnixMs,
}

/// Where a buyer stands, as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueEntry {
    /// The show.
    pub show: ShowId,
    /// Status.
    pub status: Status,
    /// Place in the admission order; `None` until the opening for pre-opening joiners.
    pub queue_number: Option<u32>,
    /// WAITING entries ahead + 1 (0 once admitted); `None` until the opening.
    pub position: Option<u32>,
    /// Rough wait; `None` when unknown (sold out).
    pub estimated_wait_s: Option<u64>,
    /// Why the entry is in its status, for people.
    pub message: Option<String>,
    /// Present when `Admitted`.
    pub admission: Option<Admission>,
}

/// A join's answer: the entry, and whether this request created it (`201`) or found it (`200`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Joined {
    /// The entry.
    pub entry: QueueEntry,
    /// Whether this request (or an earlier try of it with the same tag) created the entry.
    pub created: bool,
}

/// Why a join was not taken.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// No such show.
    #[error("unknown show")]
    UnknownShow,
    /// The show has no active waiting room.
    #[error("this show has no active waiting room")]
    NoWaitingRoom,
    /// The show has started.
    #[error("the show has started")]
    SaleClosed,
    /// The show asks for a challenge to be answered (by default a proof of work) and no
    /// answer, or a wrong one, came with the request.
    #[error("solve the challenge to join")]
    ChallengeRequired {
        /// The challenge string.
        challenge: String,
        /// The difficulty asked for (leading zero bits for the proof of work).
        bits: u8,
        /// What was wrong with the answer.
        refusal: ChallengeRefusal,
    },
    /// The log or directory failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Why a hold may not proceed.
#[derive(Debug, thiserror::Error)]
pub enum AdmissionError {
    /// The show's waiting room is active and the token is missing or invalid.
    #[error(transparent)]
    Refused(#[from] TokenRefusal),
    /// Settings could not be read.
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// What [`WaitingRoom::record_use`] did with an admission's use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UseRecord {
    /// Nothing to record: no unused admission of the user for the show.
    NotAdmitted,
    /// Being written in the background.
    Started,
    /// Dropped: [`RoomConfig::uses_in_flight_max`] records were being written already.
    Dropped,
}

/// What one admission round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// Queues opened.
    pub opened: u32,
    /// Buyers admitted.
    pub admitted: u64,
    /// Admissions lost to another process's round.
    pub conflicts: u32,
    /// Waiting rooms switched on by demand.
    pub switched_on: u32,
}

/// The opening's audit record: seed and resulting order of the pre-opening joiners.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Audit {
    /// When the queue opened.
    pub opened_at: UnixMs,
    /// The shuffle seed.
    pub seed: [u8; 32],
    /// Pre-opening joiners in admission order.
    pub order: Vec<UserId>,
}

/// The meters shared with other processes (serve mode) or only within this one (dev mode).
struct Shared {
    demand: Arc<Mutex<DemandMeter>>,
    share: Option<DemandShare>,
    guard: Arc<Mutex<GuardMeter>>,
    guard_share: Option<CountShare<SourceCount>>,
}

/// Most shows whose settings are cached (then the cache starts over).
pub const SETTINGS_CACHE_MAX: usize = 100_000;

/// The waiting-room service. Cheap to clone.
#[derive(Clone)]
pub struct WaitingRoom {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for WaitingRoom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitingRoom").finish_non_exhaustive()
    }
}

type CachedShow = (Instant, Option<RoomShow>);

struct Inner {
    folds: Arc<Folds>,
    log: Arc<dyn QueueLog>,
    directory: Arc<dyn Directory>,
    keys: RoomKeys,
    config: RoomConfig,
    settings: Mutex<HashMap<ShowId, CachedShow>>,
    /// Shows whose settings are being read again in the background.
    refreshing: Mutex<HashSet<ShowId>>,
    seats: Mutex<HashMap<ShowId, (Instant, u32)>>,
    sold_out: Mutex<HashMap<ShowId, bool>>,
    closing: watch::Sender<bool>,
    /// Demand counted here since the last round.
    local: Mutex<DemandMeter>,
    /// Demand of every process (just this one in dev mode) over the switch-on window.
    demand: Arc<Mutex<DemandMeter>>,
    /// Where this process's counts go each round.
    share: Option<DemandShare>,
    /// Demand-guard counts taken here since the last round.
    guard_local: Mutex<GuardMeter>,
    /// Demand-guard counts of every process.
    guard: Arc<Mutex<GuardMeter>>,
    /// Where this process's guard counts go each round.
    guard_share: Option<CountShare<SourceCount>>,
    /// What joining a show that asks for a challenge takes ([`ProofOfWork`] unless replaced).
    challenge: RwLock<Arc<dyn JoinChallenge>>,
    /// Permits for admission-use records written in the background.
    uses_in_flight: Arc<Semaphore>,
}

impl WaitingRoom {
    /// A room over `log` (which keeps `folds` current) reading shows from `directory`, with keys
    /// derived from the auth `secret`.
    pub fn new(
        log: Arc<dyn QueueLog>,
        folds: Arc<Folds>,
        directory: Arc<dyn Directory>,
        secret: &[u8],
        config: RoomConfig,
    ) -> WaitingRoom {
        let demand = Arc::new(Mutex::new(DemandMeter::new(config.auto.window_s)));
        let shared = Shared {
            demand,
            share: None,
            guard: Arc::default(),
            guard_share: None,
        };
        WaitingRoom::build(log, folds, directory, secret, config, shared)
    }

    fn build(
        log: Arc<dyn QueueLog>,
        folds: Arc<Folds>,
        directory: Arc<dyn Directory>,
        secret: &[u8],
        config: RoomConfig,
        shared: Shared,
    ) -> WaitingRoom {
        let Shared {
            demand,
            share,
            guard,
            guard_share,
        } = shared;
        let keys = RoomKeys::new(secret);
        WaitingRoom {
            inner: Arc::new(Inner {
                folds,
                log,
                directory,
                challenge: RwLock::new(Arc::new(ProofOfWork::new(keys.clone()))),
                uses_in_flight: Arc::new(Semaphore::new(config.uses_in_flight_max)),
                keys,
                local: Mutex::new(DemandMeter::new(config.auto.window_s)),
                config,
                settings: Mutex::new(HashMap::new()),
                refreshing: Mutex::default(),
                seats: Mutex::new(HashMap::new()),
                sold_out: Mutex::new(HashMap::new()),
                closing: watch::Sender::new(false),
                demand,
                share,
                guard_local: Mutex::default(),
                guard,
                guard_share,
            }),
        }
    }

    /// Dev mode: the log in a redb file at `path`.
    pub async fn open_embedded(
        path: &Path,
        directory: Arc<dyn Directory>,
        secret: &[u8],
        config: RoomConfig,
    ) -> Result<WaitingRoom, QueueError> {
        let folds = Arc::new(Folds::default());
        let log = EmbeddedLog::open(path, folds.clone()).await?;
        Ok(WaitingRoom::new(
            Arc::new(log),
            folds,
            directory,
            secret,
            config,
        ))
    }

    /// Serve mode: the log in the JetStream stream `spec`, shared with every other ingress, and
    /// demand counts shared with them over core NATS ([`demand_subject`]).
    pub async fn open_jetstream(
        client: async_nats::Client,
        spec: StreamSpec,
        directory: Arc<dyn Directory>,
        secret: &[u8],
        config: RoomConfig,
        confirm_timeout: Duration,
    ) -> Result<WaitingRoom, QueueError> {
        let folds = Arc::new(Folds::default());
        let demand = Arc::new(Mutex::new(DemandMeter::new(config.auto.window_s)));
        let subject = demand_subject(&spec.subject_prefix);
        let share = DemandShare::start_demand(client.clone(), subject, demand.clone()).await?;
        let guard: Arc<Mutex<GuardMeter>> = Arc::default();
        let guard_share = {
            let guard = guard.clone();
            CountShare::start(
                client.clone(),
                guard_subject(&spec.subject_prefix),
                move |counts: Vec<SourceCount>| {
                    let mut meter = lock(&guard);
                    for count in counts {
                        meter.add(count);
                    }
                },
            )
            .await?
        };
        let log = JetStreamLog::open(client, spec, folds.clone(), confirm_timeout).await?;
        let shared = Shared {
            demand,
            share: Some(share),
            guard,
            guard_share: Some(guard_share),
        };
        Ok(WaitingRoom::build(
            Arc::new(log),
            folds,
            directory,
            secret,
            config,
            shared,
        ))
    }

    /// Stop: live watchers are told to close ([`WaitingRoom::closing`]) and the log is closed
    /// (later writes fail; the dev-mode file is released for a restart in this process).
    pub async fn shutdown(&self) {
        self.inner.closing.send_replace(true);
        self.inner.log.close().await;
    }

    /// Becomes `true` when the service shuts down (live connections end on it).
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.inner.closing.subscribe()
    }

    /// The keys (for tests and tools that mint or check tokens).
    pub fn keys(&self) -> &RoomKeys {
        &self.inner.keys
    }

    /// The service settings.
    pub fn config(&self) -> &RoomConfig {
        &self.inner.config
    }

    /// Replace the challenge joins of shows with `challengeBits` must answer (the built-in
    /// [`ProofOfWork`] by default), for this room and its clones. Every process sharing a log
    /// should use the same one, or a buyer challenged by one ingress fails at another.
    pub fn set_challenge(&self, challenge: Arc<dyn JoinChallenge>) {
        *self
            .inner
            .challenge
            .write()
            .unwrap_or_else(PoisonError::into_inner) = challenge;
    }

    /// The challenge joins must answer now.
    fn join_challenge(&self) -> Arc<dyn JoinChallenge> {
        self.inner
            .challenge
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The server nonces `user`'s answer to `show`'s challenge may be for at `now`, current
    /// first: this window's and the previous one's (a challenge issued just before the window
    /// turned stays answerable), both with the buyer's last entry as every process folds it.
    fn challenge_nonces(&self, slot: &ShowSlot, user: UserId, now: UnixMs) -> [ChallengeNonce; 2] {
        let window_ms = self.inner.config.challenge_window_ms.max(1);
        let window = now.0.div_euclid(window_ms);
        let entry = slot.read(|q| q.standing(user, now)).map(|(standing, tag)| {
            let number = match standing {
                Standing::Unnumbered => u32::MAX,
                Standing::Waiting { number, .. }
                | Standing::Admitted { number, .. }
                | Standing::Expired { number } => number,
            };
            (tag, number)
        });
        [
            ChallengeNonce { window, entry },
            ChallengeNonce {
                window: window - 1,
                entry,
            },
        ]
    }

    /// Whether `user` may join `show` given its challenge setting and their `solution`. A
    /// refusal carries the current challenge; an answer to an older one (expired, or already
    /// used for an entry) is `Unsolved`.
    fn check_challenge(
        &self,
        show: ShowId,
        user: UserId,
        info: &RoomShow,
        slot: &ShowSlot,
        solution: Option<&str>,
        now: UnixMs,
    ) -> Result<(), JoinError> {
        let Some(bits) = info.challenge_bits.filter(|b| *b > 0) else {
            return Ok(());
        };
        let kind = self.join_challenge();
        let [current, previous] = self.challenge_nonces(slot, user, now);
        let issued = kind.issue(show, user, bits, current);
        let verdict = solution.map_or(Err(ChallengeRefusal::Missing), |answer| {
            kind.verify(&issued, answer).or_else(|refusal| {
                let earlier = kind.issue(show, user, bits, previous);
                match refusal {
                    ChallengeRefusal::Unsolved => kind.verify(&earlier, answer),
                    other => Err(other),
                }
            })
        });
        verdict.map_err(|refusal| {
            metrics::counter!(
                "boxoffice_queue_challenge_refused_total",
                "challenge" => kind.name(),
                "reason" => refusal.as_str()
            )
            .increment(1);
            JoinError::ChallengeRequired {
                challenge: issued.challenge,
                bits: issued.bits,
                refusal,
            }
        })
    }

    /// The show's settings and seats, reused for [`RoomConfig::settings_ttl`].
    pub async fn show(&self, show: ShowId) -> Result<Option<RoomShow>, QueueError> {
        let ttl = self.inner.config.settings_ttl;
        let cached = lock(&self.inner.settings)
            .get(&show)
            .map(|(at, cached)| (at.elapsed() < ttl, cached.clone()));
        match cached {
            Some((true, cached)) => Ok(self.with_auto(show, cached)),
            // No reuse configured: always the directory's current answer.
            Some(_) if ttl.is_zero() => self.show_fresh(show).await,
            // Expired: answer with what is cached and read it again in the background, so the
            // directory (the catalog store) is never on a hold's path once a show is known, and
            // a directory that cannot answer does not stop holds. The settings only change
            // through it (an admin's switch, seen a refresh later) or through the room's own
            // log (automatic switch-on, applied by `with_auto` at once).
            Some((false, stale)) => {
                self.refresh_in_background(show);
                Ok(self.with_auto(show, stale))
            }
            None => self.show_fresh(show).await,
        }
    }

    /// Read `show`'s settings again off the caller's path (one refresh per show at a time). A
    /// failed read keeps the cached settings and is counted
    /// (`boxoffice_queue_settings_stale_total`); the next call after the TTL tries again.
    fn refresh_in_background(&self, show: ShowId) {
        if !lock(&self.inner.refreshing).insert(show) {
            return;
        }
        let room = self.clone();
        tokio::spawn(async move {
            if let Err(e) = room.show_fresh(show).await {
                metrics::counter!("boxoffice_queue_settings_stale_total").increment(1);
                tracing::warn!(%show, error = %e, "waiting-room settings kept: directory unavailable");
                if let Some(entry) = lock(&room.inner.settings).get_mut(&show) {
                    entry.0 = Instant::now();
                }
            }
            lock(&room.inner.refreshing).remove(&show);
        });
    }

    /// `info` with an automatic switch-on applied: the room is on from the `AutoSwitchedOn`
    /// event (in every process, as soon as it folds it), paced at the deployment's default when
    /// the show has no pace of its own.
    fn with_auto(&self, show: ShowId, info: Option<RoomShow>) -> Option<RoomShow> {
        let mut info = info?;
        if !info.enabled
            && let Some(slot) = self.inner.folds.slot(show)
            && slot.read(|q| q.auto_on().is_some())
        {
            info.enabled = true;
            if info.admit_per_minute == 0 {
                info.admit_per_minute = self.inner.config.auto.admit_per_minute;
            }
        }
        Some(info)
    }

    /// The show's settings and seats read now (and remembered for later reads).
    pub async fn show_fresh(&self, show: ShowId) -> Result<Option<RoomShow>, QueueError> {
        let fresh = self.inner.directory.show(show).await?;
        let mut cache = lock(&self.inner.settings);
        if cache.len() >= SETTINGS_CACHE_MAX {
            cache.clear();
        }
        cache.insert(show, (Instant::now(), fresh.clone()));
        drop(cache);
        Ok(self.with_auto(show, fresh))
    }

    /// Seats AVAILABLE in `show`, reused for [`RoomConfig::settings_ttl`].
    async fn seats(&self, show: ShowId) -> Result<u32, QueueError> {
        if let Some((at, seats)) = lock(&self.inner.seats).get(&show)
            && at.elapsed() < self.inner.config.settings_ttl
        {
            return Ok(*seats);
        }
        self.seats_fresh(show).await
    }

    /// Seats AVAILABLE in `show` read now (and remembered for later reads).
    async fn seats_fresh(&self, show: ShowId) -> Result<u32, QueueError> {
        let seats = self.inner.directory.available_seats(show).await?;
        let mut cache = lock(&self.inner.seats);
        if cache.len() >= SETTINGS_CACHE_MAX {
            cache.clear();
        }
        cache.insert(show, (Instant::now(), seats));
        Ok(seats)
    }

    /// Whether buyers waiting for `show` must be told nothing can be bought now: the show has
    /// started, or the sale is open and no seat is AVAILABLE.
    async fn sold_out(
        &self,
        show: ShowId,
        info: &RoomShow,
        now: UnixMs,
    ) -> Result<bool, QueueError> {
        if info.started(now) {
            return Ok(true);
        }
        if !info.sale_open(now) {
            return Ok(false);
        }
        Ok(self.seats(show).await? == 0)
    }

    /// The entry as the API shows it (reading seats only for numbered WAITING entries).
    async fn present(
        &self,
        show: ShowId,
        info: &RoomShow,
        user: UserId,
        standing: Standing,
        now: UnixMs,
    ) -> Result<QueueEntry, QueueError> {
        let sold_out = match standing {
            Standing::Waiting { .. } if info.enabled => self.sold_out(show, info, now).await?,
            Standing::Unnumbered
            | Standing::Waiting { .. }
            | Standing::Admitted { .. }
            | Standing::Expired { .. } => false,
        };
        Ok(self.view(show, info, user, standing, sold_out, now))
    }

    /// Forget the cached settings of `show` (they just changed here).
    pub fn forget_show(&self, show: ShowId) {
        lock(&self.inner.settings).remove(&show);
        if let Some(slot) = self.inner.folds.slot(show) {
            slot.notify();
        }
    }

    /// Join `user` to `show`'s queue. `tag` identifies the request (from its command id), so a
    /// retry with the same Idempotency-Key is told it created the entry. A show asking for a
    /// proof of work needs `solution` for a new entry.
    pub async fn join(
        &self,
        show: ShowId,
        user: UserId,
        tag: u32,
        solution: Option<&str>,
        now: UnixMs,
    ) -> Result<Joined, JoinError> {
        let info = self.show(show).await?.ok_or(JoinError::UnknownShow)?;
        if !info.enabled {
            return Err(JoinError::NoWaitingRoom);
        }
        if info.started(now) {
            return Err(JoinError::SaleClosed);
        }
        let slot = self.inner.folds.slot_or_new(show);
        if let Some((standing, entry_tag)) = slot.read(|q| q.standing(user, now))
            && standing.is_live()
        {
            return Ok(Joined {
                entry: self.present(show, &info, user, standing, now).await?,
                created: entry_tag == tag,
            });
        }
        self.check_challenge(show, user, &info, &slot, solution, now)?;
        // Open first when due, so nobody joining after the opening lands among the shuffled.
        self.open_if_due(show, &slot, &info, now).await?;
        let event = QueueEvent::Joined { user, tag, at: now };
        self.inner.log.append(show, event, Expect::Any).await?;
        metrics::counter!("boxoffice_queue_joins_total").increment(1);
        let (standing, entry_tag) = slot
            .read(|q| q.standing(user, now))
            .ok_or_else(|| QueueError::Unavailable("the join was not applied".into()))?;
        Ok(Joined {
            entry: self.present(show, &info, user, standing, now).await?,
            created: entry_tag == tag,
        })
    }

    /// Where `user` stands in `show`'s queue; `Ok(None)` for an unknown show or no entry.
    pub async fn entry(
        &self,
        show: ShowId,
        user: UserId,
        now: UnixMs,
    ) -> Result<Option<QueueEntry>, QueueError> {
        let Some(info) = self.show(show).await? else {
            return Ok(None);
        };
        let Some(slot) = self.inner.folds.slot(show) else {
            return Ok(None);
        };
        let Some((standing, _)) = slot.read(|q| q.standing(user, now)) else {
            return Ok(None);
        };
        self.present(show, &info, user, standing, now)
            .await
            .map(Some)
    }

    /// Entry as the API shows it.
    fn view(
        &self,
        show: ShowId,
        info: &RoomShow,
        user: UserId,
        standing: Standing,
        sold_out: bool,
        now: UnixMs,
    ) -> QueueEntry {
        let entry = |status, queue_number, position| QueueEntry {
            show,
            status,
            queue_number,
            position,
            estimated_wait_s: None,
            message: None,
            admission: None,
        };
        if !info.enabled && standing.is_live() {
            // The room was switched off: holds need no token now, so nobody waits any more.
            let expires_at = UnixMs(now.0 + self.inner.config.window_ms);
            return QueueEntry {
                estimated_wait_s: Some(0),
                message: Some("The waiting room is closed: pick your seats now.".into()),
                admission: Some(self.admission(show, user, expires_at)),
                ..entry(Status::Admitted, number_of(standing), Some(0))
            };
        }
        match standing {
            Standing::Unnumbered => QueueEntry {
                estimated_wait_s: info
                    .sale_opens_at
                    .map(|opens| u64::try_from((opens.0 - now.0 + 999) / 1000).unwrap_or(0)),
                message: Some(
                    "You are in. When the sale opens, everyone who joined before then gets a \
                     random place in line."
                        .into(),
                ),
                ..entry(Status::Waiting, None, None)
            },
            Standing::Waiting { number, position } if sold_out => QueueEntry {
                message: Some(sold_out_message(info, now).into()),
                ..entry(Status::SoldOut, Some(number), Some(position))
            },
            Standing::Waiting { number, position } => QueueEntry {
                estimated_wait_s: Some(estimate_s(position, info.admit_per_minute)),
                ..entry(Status::Waiting, Some(number), Some(position))
            },
            Standing::Admitted { number, expires_at } => QueueEntry {
                estimated_wait_s: Some(0),
                admission: Some(self.admission(show, user, expires_at)),
                ..entry(Status::Admitted, Some(number), Some(0))
            },
            Standing::Expired { number } => QueueEntry {
                message: Some("Your admission window has passed. Join again to queue anew.".into()),
                ..entry(Status::Expired, Some(number), Some(0))
            },
        }
    }

    fn admission(&self, show: ShowId, user: UserId, expires_at: UnixMs) -> Admission {
        Admission {
            token: self.inner.keys.admission_token(show, user, expires_at),
            expires_at,
        }
    }

    /// Whether a hold of `user` on `show` may proceed: always when the show has no active
    /// waiting room, otherwise only with a valid admission `token` for this show and user.
    pub async fn check_admission(
        &self,
        show: ShowId,
        user: UserId,
        token: Option<&str>,
        now: UnixMs,
    ) -> Result<(), AdmissionError> {
        match self.show(show).await? {
            Some(info) if info.enabled => {
                let token = token.ok_or(TokenRefusal::Missing)?;
                self.inner.keys.verify_admission(token, show, user, now)?;
                Ok(())
            }
            Some(_) | None => Ok(()),
        }
    }

    /// Count a demand signal for `show` at `now` (a hold attempt): what automatic switch-on
    /// compares with the threshold. Cheap; the count reaches the other processes with the next
    /// admission round.
    pub fn note_demand(&self, show: ShowId, now: UnixMs) {
        lock(&self.inner.local).record(show, now);
    }

    /// Count an answered hold attempt of client `ip` on `show` for the demand guard: `held`
    /// seats, or `None` when refused. Cheap; the count reaches the other processes with the next
    /// admission round.
    pub fn note_hold(&self, show: ShowId, ip: IpAddr, now: UnixMs, held: Option<u32>) {
        if self.inner.config.guard.is_none() {
            return;
        }
        let mut local = lock(&self.inner.guard_local);
        local.record(show, Source::address(ip), now, held);
        local.record(show, Source::prefix(ip), now, held);
    }

    /// Count `seats` that client `ip` released on `show` for the demand guard.
    pub fn note_release(&self, show: ShowId, ip: IpAddr, now: UnixMs, seats: u32) {
        if self.inner.config.guard.is_none() {
            return;
        }
        let mut local = lock(&self.inner.guard_local);
        local.record_release(show, Source::address(ip), now, seats);
        local.record_release(show, Source::prefix(ip), now, seats);
    }

    /// Whether client `ip`'s next hold on `show` (of `show_seats` seats) must answer a proof of
    /// work, and why: its address first, then its network.
    pub fn guard_verdict(
        &self,
        show: ShowId,
        ip: IpAddr,
        show_seats: u32,
        now: UnixMs,
    ) -> Option<GuardReason> {
        let policy = self.inner.config.guard?;
        let meter = lock(&self.inner.guard);
        [Source::address(ip), Source::prefix(ip)]
            .into_iter()
            .find_map(|source| meter.verdict(&policy, show, source, show_seats, now))
    }

    /// Check `solution` to the guard's proof of work for a hold of `user` on `show` at `now`
    /// (this challenge window's or the previous one's); on refusal, the challenge to answer.
    pub fn check_hold_challenge(
        &self,
        show: ShowId,
        user: UserId,
        solution: Option<&str>,
        now: UnixMs,
    ) -> Result<(), Challenge> {
        let bits = self.inner.config.guard_bits;
        let window = now
            .0
            .div_euclid(self.inner.config.challenge_window_ms.max(1));
        let keys = &self.inner.keys;
        let current = keys.hold_challenge(show, user, bits, window);
        let solved = solution.is_some_and(|answer| {
            crate::token::solves(&current, answer, bits)
                || crate::token::solves(
                    &keys.hold_challenge(show, user, bits, window - 1),
                    answer,
                    bits,
                )
        });
        if solved {
            return Ok(());
        }
        metrics::counter!("boxoffice_guard_challenges_total", "answered" => if solution.is_some() { "wrong" } else { "no" }).increment(1);
        Err(Challenge {
            challenge: current,
            bits,
        })
    }

    /// Share this process's guard counts and forget what left the window.
    async fn guard_round(&self, now: UnixMs) {
        let Some(policy) = self.inner.config.guard else {
            return;
        };
        let counts = lock(&self.inner.guard_local).drain();
        match &self.inner.guard_share {
            Some(share) => {
                if let Err(e) = share.publish(&counts).await {
                    tracing::warn!(error = %e, "could not share demand-guard counts");
                }
            }
            None => {
                let mut meter = lock(&self.inner.guard);
                for count in counts {
                    meter.add(count);
                }
            }
        }
        let window_s = policy.seats_window_s.max(policy.attempts_window_s);
        let mut meter = lock(&self.inner.guard);
        meter.prune(now, window_s);
        metrics::gauge!("boxoffice_guard_sources").set(meter.len() as f64);
    }

    /// An admin's decision about `show`'s room (they just switched it on or off, or set its
    /// automatic threshold): it replaces any automatic switch-on, and `setting` governs
    /// automatic switch-on from now on.
    pub async fn set_auto(
        &self,
        show: ShowId,
        setting: AutoSetting,
        now: UnixMs,
    ) -> Result<(), QueueError> {
        let event = QueueEvent::AutoSet { at: now, setting };
        self.inner.log.append(show, event, Expect::Any).await?;
        self.forget_show(show);
        Ok(())
    }

    /// The show's automatic switch-on: its setting and, if demand switched it on, when and at
    /// what demand per second.
    pub fn auto_state(&self, show: ShowId) -> (AutoSetting, Option<(UnixMs, u64)>) {
        self.inner
            .folds
            .slot(show)
            .map_or((AutoSetting::Default, None), |slot| {
                slot.read(|q| (q.auto_setting(), q.auto_on()))
            })
    }

    /// Record that `user` used the admission (placed a hold of `seats`), so it stops counting as
    /// demand that may still arrive. Once per admission; a failure only makes pacing more
    /// cautious.
    pub async fn note_used(&self, show: ShowId, user: UserId, seats: u32, now: UnixMs) {
        let Some(slot) = self.inner.folds.slot(show) else {
            return;
        };
        if !slot.read(|q| q.unused_admission(user, now)) {
            return;
        }
        let event = QueueEvent::Used {
            user,
            seats,
            at: now,
        };
        if let Err(e) = self.inner.log.append(show, event, Expect::Any).await {
            tracing::warn!(error = %e, %show, "could not record an admission's use");
        }
    }

    /// [`WaitingRoom::note_used`] in the background, for callers that must not wait for it (a
    /// hold that has already succeeded). At most [`RoomConfig::uses_in_flight_max`] records are
    /// written at once; beyond that the record is dropped and counted
    /// (`boxoffice_queue_use_records_dropped_total`) instead of queued or awaited: a lost record
    /// only keeps the admission counted as outstanding until its window ends (pacing admits a
    /// little more cautiously), while waiting or queueing without bound would turn a slow log
    /// into slow holds or unbounded memory during exactly the rush the room exists for.
    pub fn record_use(&self, show: ShowId, user: UserId, seats: u32, now: UnixMs) -> UseRecord {
        let admitted = self
            .inner
            .folds
            .slot(show)
            .is_some_and(|slot| slot.read(|q| q.unused_admission(user, now)));
        if !admitted {
            return UseRecord::NotAdmitted;
        }
        let Ok(permit) = self.inner.uses_in_flight.clone().try_acquire_owned() else {
            metrics::counter!("boxoffice_queue_use_records_dropped_total").increment(1);
            return UseRecord::Dropped;
        };
        let room = self.clone();
        tokio::spawn(async move {
            room.note_used(show, user, seats, now).await;
            drop(permit);
        });
        UseRecord::Started
    }

    /// A receiver that wakes when anything `show`'s buyers see may have changed.
    pub fn subscribe(&self, show: ShowId) -> watch::Receiver<u64> {
        self.inner.folds.slot_or_new(show).subscribe()
    }

    /// The opening's seed and the order it produced, once the queue has opened.
    pub fn audit(&self, show: ShowId) -> Option<Audit> {
        self.inner.folds.slot(show)?.read(|q| {
            q.opening().map(|(opened_at, seed)| Audit {
                opened_at,
                seed,
                order: q.pre_opening_order().to_vec(),
            })
        })
    }

    /// Waiting entries over all shows (for the readiness of a flash sale and metrics).
    pub fn waiting(&self) -> u64 {
        self.inner
            .folds
            .shows()
            .into_iter()
            .filter_map(|show| self.inner.folds.slot(show))
            .map(|slot| u64::from(slot.read(|q| q.waiting())))
            .sum()
    }

    async fn open_if_due(
        &self,
        show: ShowId,
        slot: &ShowSlot,
        info: &RoomShow,
        now: UnixMs,
    ) -> Result<u32, QueueError> {
        let (opened, rev) = slot.read(|q| (q.opening().is_some(), q.control_rev()));
        if opened || !info.sale_open(now) {
            return Ok(0);
        }
        let event = QueueEvent::Opened {
            at: now,
            seed: self.inner.keys.opening_seed(show),
        };
        // A conflict means another process's control event came first; its opening (if that
        // was one) is already in the log ahead of anything appended from here on.
        match self
            .inner
            .log
            .append(show, event, Expect::ControlAt(rev))
            .await?
        {
            Appended::Applied { .. } => Ok(1),
            Appended::Conflict => Ok(0),
        }
    }

    /// One admission round over every show with a queue: open queues whose sale opened, admit
    /// the next batch where pacing and sellable seats allow, and wake watchers whose show sold
    /// out or got seats back.
    pub async fn round(&self, now: UnixMs) -> RoundReport {
        let mut report = RoundReport::default();
        self.auto_round(now, &mut report).await;
        for show in self.inner.folds.shows() {
            match self.round_show(show, now, &mut report).await {
                Ok(()) => {}
                Err(e) => tracing::warn!(error = %e, %show, "admission round failed"),
            }
        }
        report
    }

    async fn round_show(
        &self,
        show: ShowId,
        now: UnixMs,
        report: &mut RoundReport,
    ) -> Result<(), QueueError> {
        let Some(slot) = self.inner.folds.slot(show) else {
            return Ok(());
        };
        if slot.read(|q| q.waiting()) == 0 {
            // Nobody waits: nothing to open, admit or tell.
            return Ok(());
        }
        let Some(info) = self.show_fresh(show).await? else {
            return Ok(());
        };
        if !info.enabled {
            return Ok(());
        }
        if info.started(now) {
            self.note_sold_out(show, &slot, true);
            return Ok(());
        }
        report.opened += self.open_if_due(show, &slot, &info, now).await?;
        if !info.sale_open(now) {
            return Ok(());
        }
        // Outstanding admissions first, seats second: see `Pace::outstanding_floor`.
        let outstanding_floor = slot.read(|q| q.outstanding(now));
        let available_seats = self.seats_fresh(show).await?;
        self.note_sold_out(show, &slot, available_seats == 0);
        let pace = Pace {
            admit_per_minute: info.admit_per_minute,
            available_seats,
            window_ms: self.inner.config.window_ms,
            outstanding_floor,
        };
        let (plan, rev, before) =
            slot.read(|q| (q.plan_admission(now, pace), q.control_rev(), q.admitted()));
        let Some(event) = plan else {
            return Ok(());
        };
        let QueueEvent::Admitted { upto, .. } = event else {
            return Ok(());
        };
        match self
            .inner
            .log
            .append(show, event, Expect::ControlAt(rev))
            .await?
        {
            Appended::Applied { .. } => {
                let admitted = u64::from(upto - before);
                report.admitted += admitted;
                metrics::counter!("boxoffice_queue_admitted_total").increment(admitted);
            }
            Appended::Conflict => report.conflicts += 1,
        }
        Ok(())
    }

    /// Share this process's demand counts, then switch on every room whose demand (of every
    /// process) reached its threshold.
    async fn auto_round(&self, now: UnixMs, report: &mut RoundReport) {
        self.guard_round(now).await;
        let counts = lock(&self.inner.local).drain();
        match &self.inner.share {
            Some(share) => {
                if let Err(e) = share.publish(&counts).await {
                    tracing::warn!(error = %e, "could not share demand counts");
                }
            }
            None => {
                let mut demand = lock(&self.inner.demand);
                for c in counts {
                    demand.add(c.show, c.second, c.count);
                }
            }
        }
        let over = {
            let mut demand = lock(&self.inner.demand);
            demand.prune(now);
            demand.over(now, |show| {
                let (setting, on) = self.auto_state(show);
                match on {
                    Some(_) => None,
                    None => self.inner.config.auto.threshold(setting),
                }
            })
        };
        for (show, demand_per_s) in over {
            match self.auto_switch(show, demand_per_s, now).await {
                Ok(true) => report.switched_on += 1,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, %show, "automatic switch-on failed"),
            }
        }
    }

    /// Switch `show`'s room on for `demand_per_s` unless it is on already or over; `true` if
    /// this process's event won.
    async fn auto_switch(
        &self,
        show: ShowId,
        demand_per_s: u64,
        now: UnixMs,
    ) -> Result<bool, QueueError> {
        let slot = self.inner.folds.slot_or_new(show);
        let rev = slot.read(|q| q.control_rev());
        let Some(info) = self.show_fresh(show).await? else {
            return Ok(false);
        };
        if info.enabled || info.started(now) {
            return Ok(false);
        }
        let event = QueueEvent::AutoSwitchedOn {
            at: now,
            demand_per_s,
        };
        match self
            .inner
            .log
            .append(show, event, Expect::ControlAt(rev))
            .await?
        {
            Appended::Applied { .. } => {}
            Appended::Conflict => return Ok(false),
        }
        metrics::counter!("boxoffice_queue_auto_switched_on_total").increment(1);
        tracing::info!(%show, demand_per_s, "waiting room switched on by demand");
        self.forget_show(show);
        // An admin may have decided in between; then their decision stands.
        if slot.read(|q| q.auto_on().is_some()) {
            let pace = self.inner.config.auto.admit_per_minute;
            if let Err(e) = self.inner.directory.switch_on(show, pace).await {
                tracing::warn!(error = %e, %show, "could not record the automatic switch-on in the catalog");
            }
        }
        Ok(true)
    }

    fn note_sold_out(&self, show: ShowId, slot: &ShowSlot, sold_out: bool) {
        let before = lock(&self.inner.sold_out).insert(show, sold_out);
        if before.is_some_and(|b| b != sold_out) {
            slot.notify();
        }
    }

    /// Run [`WaitingRoom::round`] every [`RoomConfig::tick`] until the task is aborted.
    pub fn spawn_admitter(&self) -> tokio::task::JoinHandle<()> {
        let room = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(room.inner.config.tick);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                room.round(wall_now()).await;
                metrics::gauge!("boxoffice_queue_waiting").set(room.waiting() as f64);
            }
        })
    }
}

fn number_of(standing: Standing) -> Option<u32> {
    match standing {
        Standing::Unnumbered => None,
        Standing::Waiting { number, .. }
        | Standing::Admitted { number, .. }
        | Standing::Expired { number } => Some(number),
    }
}

fn sold_out_message(info: &RoomShow, now: UnixMs) -> &'static str {
    if info.started(now) {
        "The show has started; sales are closed."
    } else {
        "All seats are sold or held right now. You keep your place: if seats are released, the \
         queue moves on."
    }
}

/// Seconds until `position` is admitted at `admit_per_minute` (plus one admission round).
fn estimate_s(position: u32, admit_per_minute: u32) -> u64 {
    let rate = u64::from(admit_per_minute.max(1));
    let ahead = u64::from(position.saturating_sub(1));
    (ahead * 60).div_ceil(rate) + 1
}

/// The wall clock in the log's unit.
pub fn wall_now() -> UnixMs {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    UnixMs(ms)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
