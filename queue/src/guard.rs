//! The demand guard (pure, no IO, no clock): hold attempts and held seats counted per show per
//! source (one client address, or its network prefix), summed over every process that reports
//! them, and compared with the show's size. It needs no admin and is on by default: a source
//! that has taken more than its share of a show's seats, or whose hold attempts are mostly
//! refused (a script probing for free seats), must send a proof of work with each of its next
//! holds (one solution per identity and challenge window), which bounds how fast one machine can
//! take a house whatever number of identities it has.
//!
//! Counts go into buckets of [`BUCKET_S`] seconds with explicit times, so a test feeds them with
//! chosen timestamps and gets the same answer every time.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use schemas::{ShowId, UnixMs};
use serde::{Deserialize, Serialize};

/// Width of a counting bucket, in seconds.
pub const BUCKET_S: i64 = 10;

/// Most (show, source) pairs remembered; past it the oldest-looking half is forgotten (a guard
/// that forgets errs towards letting a source through, never towards refusing one).
pub const SOURCES_MAX: usize = 200_000;

/// Where hold attempts come from: an IPv6 network (IPv4 mapped into `::ffff:0:0/96`) and its
/// prefix length; an address is a network of one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Source {
    /// The network's first address, as a number.
    pub net: u128,
    /// Prefix length, 0..=128.
    pub len: u8,
}

impl Source {
    fn of(ip: IpAddr, v4_len: u8, v6_len: u8) -> Source {
        let (bits, len) = match ip.to_canonical() {
            IpAddr::V4(v4) => (u128::from(v4.to_ipv6_mapped()), 96 + v4_len),
            IpAddr::V6(v6) => (u128::from(v6), v6_len),
        };
        let mask = if len == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(len))
        };
        Source {
            net: bits & mask,
            len,
        }
    }

    /// One client address.
    pub fn address(ip: IpAddr) -> Source {
        Source::of(ip, 32, 128)
    }

    /// The client's network: its /24 (IPv4) or /56 (IPv6).
    pub fn prefix(ip: IpAddr) -> Source {
        Source::of(ip, 24, 56)
    }

    fn is_address(self) -> bool {
        self.len == 128
    }
}

/// One bucket's counts of one source on one show: what processes tell each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceCount {
    /// Show.
    pub show: ShowId,
    /// Address or prefix.
    pub source: Source,
    /// Bucket start, Unix seconds (a multiple of [`BUCKET_S`]).
    pub bucket: i64,
    /// Hold attempts answered.
    pub attempts: u32,
    /// Of those, refused (seats taken, limits, ...).
    pub refused: u32,
    /// Seats held by the accepted ones.
    pub seats: u32,
    /// Seats the source released again (a buyer changing their mind has not taken them).
    #[serde(default)]
    pub released: u32,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Bucket {
    start: i64,
    attempts: u32,
    refused: u32,
    seats: u32,
    released: u32,
}

/// The guard's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuardPolicy {
    /// Share of a show's seats one address may hold before its holds need a proof of work, in
    /// thousandths (0: no share rule for addresses).
    pub address_permille: u32,
    /// The same for one network prefix.
    pub prefix_permille: u32,
    /// Seats a source may always hold, whatever the show's size (a small venue's 1% is no group
    /// booking).
    pub seats_floor: u32,
    /// Share of refused hold attempts, in percent, above which a source's holds need a proof of
    /// work (0: no refusal rule).
    pub refused_pct: u32,
    /// Fewest attempts in [`GuardPolicy::attempts_window_s`] before the refusal rule applies.
    pub attempts_min: u32,
    /// Seconds the refusal rule looks back.
    pub attempts_window_s: i64,
    /// Seconds held seats are counted for (the hold TTL: a hold older than that has lapsed or
    /// became a booking, which takes the seats for good either way).
    pub seats_window_s: i64,
}

impl GuardPolicy {
    /// The defaults: 1% of a show per address and 2.5% per prefix (at least 24 seats each), and
    /// more than half of at least 20 attempts in a minute refused.
    pub fn defaults(seats_window_s: i64) -> GuardPolicy {
        GuardPolicy {
            address_permille: 10,
            prefix_permille: 25,
            seats_floor: 24,
            refused_pct: 50,
            attempts_min: 20,
            attempts_window_s: 60,
            seats_window_s,
        }
    }

    fn share_limit(&self, source: Source, show_seats: u32) -> Option<u64> {
        let permille = if source.is_address() {
            self.address_permille
        } else {
            self.prefix_permille
        };
        (permille > 0).then(|| {
            (u64::from(show_seats) * u64::from(permille) / 1000).max(u64::from(self.seats_floor))
        })
    }
}

/// Why a source's holds need a proof of work (the problem's `detail`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GuardReason {
    /// The source took more than its share of the show's seats within the hold TTL.
    #[error(
        "this {kind} has held {seats} seats of this show recently, over its share of {limit}: \
         each further hold needs a proof of work",
        kind = kind(*from)
    )]
    Share {
        /// Address or prefix.
        from: Source,
        /// Seats it held in the window.
        seats: u64,
        /// Its share.
        limit: u64,
    },
    /// The caller's identity (a guest token) was issued moments ago: a deployment may ask fresh
    /// identities for a proof of work before they hold ([`new_identity`]).
    #[error(
        "this guest identity is {age_s} s old; holds of identities younger than {min_s} s need a \
         proof of work"
    )]
    NewIdentity {
        /// Seconds since the token was issued.
        age_s: u64,
        /// The deployment's minimum age.
        min_s: u64,
    },
    /// Most of the source's recent hold attempts were refused.
    #[error(
        "{refused} of this {kind}'s last {attempts} hold attempts on this show were refused: \
         each further hold needs a proof of work",
        kind = kind(*from)
    )]
    MostlyRefused {
        /// Address or prefix.
        from: Source,
        /// Refused attempts in the window.
        refused: u64,
        /// Attempts in the window.
        attempts: u64,
    },
}

/// Whether a caller whose token was issued at `issued_at_s` (none: not said, e.g. another
/// issuer's token) is younger at `now_s` than `min_age_s` (0: the rule is off).
pub fn new_identity(issued_at_s: Option<i64>, now_s: i64, min_age_s: u64) -> Option<GuardReason> {
    let issued = issued_at_s.filter(|_| min_age_s > 0)?;
    let age_s = u64::try_from(now_s.saturating_sub(issued)).unwrap_or(0);
    (age_s < min_age_s).then_some(GuardReason::NewIdentity {
        age_s,
        min_s: min_age_s,
    })
}

fn kind(source: Source) -> &'static str {
    if source.is_address() {
        "address"
    } else {
        "network"
    }
}

fn bucket_of(at: UnixMs) -> i64 {
    at.0.div_euclid(1000 * BUCKET_S) * BUCKET_S
}

/// Counts per show and source.
#[derive(Debug, Default)]
pub struct GuardMeter {
    sources: HashMap<(ShowId, Source), VecDeque<Bucket>>,
}

impl GuardMeter {
    /// Add a count (from this process or another).
    pub fn add(&mut self, count: SourceCount) {
        if self.sources.len() >= SOURCES_MAX
            && !self.sources.contains_key(&(count.show, count.source))
        {
            self.forget_half();
        }
        let buckets = self.sources.entry((count.show, count.source)).or_default();
        let bucket = match buckets.iter().rposition(|b| b.start <= count.bucket) {
            Some(i) if buckets[i].start == count.bucket => &mut buckets[i],
            Some(i) => {
                buckets.insert(
                    i + 1,
                    Bucket {
                        start: count.bucket,
                        ..Bucket::default()
                    },
                );
                &mut buckets[i + 1]
            }
            None => {
                buckets.push_front(Bucket {
                    start: count.bucket,
                    ..Bucket::default()
                });
                &mut buckets[0]
            }
        };
        bucket.attempts = bucket.attempts.saturating_add(count.attempts);
        bucket.refused = bucket.refused.saturating_add(count.refused);
        bucket.seats = bucket.seats.saturating_add(count.seats);
        bucket.released = bucket.released.saturating_add(count.released);
    }

    /// Count one answered hold attempt of `source` on `show` at `at`: `seats` held, or refused.
    pub fn record(&mut self, show: ShowId, source: Source, at: UnixMs, held: Option<u32>) {
        self.add(SourceCount {
            show,
            source,
            bucket: bucket_of(at),
            attempts: 1,
            refused: u32::from(held.is_none()),
            seats: held.unwrap_or(0),
            released: 0,
        });
    }

    /// Count `seats` that `source` released on `show` at `at`.
    pub fn record_release(&mut self, show: ShowId, source: Source, at: UnixMs, seats: u32) {
        self.add(SourceCount {
            show,
            source,
            bucket: bucket_of(at),
            attempts: 0,
            refused: 0,
            seats: 0,
            released: seats,
        });
    }

    /// Why `source`'s next hold on `show` (of `show_seats` seats) needs a proof of work at `now`,
    /// if it does.
    pub fn verdict(
        &self,
        policy: &GuardPolicy,
        show: ShowId,
        source: Source,
        show_seats: u32,
        now: UnixMs,
    ) -> Option<GuardReason> {
        let buckets = self.sources.get(&(show, source))?;
        let last = bucket_of(now);
        let since = |window_s: i64| buckets.iter().filter(move |b| b.start > last - window_s);
        let (taken, released) = since(policy.seats_window_s).fold((0u64, 0u64), |(t, r), b| {
            (t + u64::from(b.seats), r + u64::from(b.released))
        });
        let seats = taken.saturating_sub(released);
        if let Some(limit) = policy.share_limit(source, show_seats)
            && seats > limit
        {
            return Some(GuardReason::Share {
                from: source,
                seats,
                limit,
            });
        }
        let (attempts, refused) = since(policy.attempts_window_s)
            .fold((0u64, 0u64), |(a, r), b| {
                (a + u64::from(b.attempts), r + u64::from(b.refused))
            });
        let mostly = policy.refused_pct > 0
            && attempts >= u64::from(policy.attempts_min)
            && refused * 100 > attempts * u64::from(policy.refused_pct);
        mostly.then_some(GuardReason::MostlyRefused {
            from: source,
            refused,
            attempts,
        })
    }

    /// Forget buckets older than `window_s` at `now`.
    pub fn prune(&mut self, now: UnixMs, window_s: i64) {
        let first = bucket_of(now) - window_s;
        self.sources.retain(|_, buckets| {
            while buckets.front().is_some_and(|b| b.start <= first) {
                buckets.pop_front();
            }
            !buckets.is_empty()
        });
    }

    /// Take every count out (what this process reports to the others).
    pub fn drain(&mut self) -> Vec<SourceCount> {
        self.sources
            .drain()
            .flat_map(|((show, source), buckets)| {
                buckets.into_iter().map(move |b| SourceCount {
                    show,
                    source,
                    bucket: b.start,
                    attempts: b.attempts,
                    refused: b.refused,
                    seats: b.seats,
                    released: b.released,
                })
            })
            .collect()
    }

    /// Pairs remembered.
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    fn forget_half(&mut self) {
        let mut latest: Vec<i64> = self
            .sources
            .values()
            .filter_map(|b| b.back().map(|b| b.start))
            .collect();
        latest.sort_unstable();
        let cut = latest[latest.len() / 2];
        self.sources
            .retain(|_, b| b.back().is_some_and(|b| b.start > cut));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000_000;

    fn at(s: i64) -> UnixMs {
        UnixMs(T0 + s * 1000)
    }

    fn show() -> ShowId {
        ShowId(uuid::Uuid::from_u128(1))
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn sources_are_addresses_and_slash_24_or_slash_56_networks() {
        assert_eq!(Source::address(ip("127.2.0.1")).len, 128);
        assert_eq!(
            Source::prefix(ip("127.2.0.1")),
            Source::prefix(ip("127.2.0.200"))
        );
        assert_ne!(
            Source::prefix(ip("127.2.0.1")),
            Source::prefix(ip("127.2.1.1"))
        );
        assert_eq!(
            Source::prefix(ip("::ffff:127.2.0.9")),
            Source::prefix(ip("127.2.0.1"))
        );
        assert_eq!(
            Source::prefix(ip("2001:db8:1:2ff::1")),
            Source::prefix(ip("2001:db8:1:200::9"))
        );
        assert_ne!(
            Source::address(ip("127.2.0.1")),
            Source::address(ip("127.2.0.2"))
        );
    }

    #[test]
    fn a_source_over_its_share_of_the_show_is_challenged_and_others_are_not() {
        let policy = GuardPolicy::defaults(600);
        let mut meter = GuardMeter::default();
        let addr = Source::address(ip("127.2.0.1"));
        // 1% of 50,000 is 500 seats; 83 holds of 6 is 498.
        for i in 0..83 {
            meter.record(show(), addr, at(i), Some(6));
        }
        assert_eq!(meter.verdict(&policy, show(), addr, 50_000, at(83)), None);
        meter.record(show(), addr, at(83), Some(6));
        assert_eq!(
            meter.verdict(&policy, show(), addr, 50_000, at(84)),
            Some(GuardReason::Share {
                from: addr,
                seats: 504,
                limit: 500
            })
        );
        // Seats released again do not count.
        let mut churn = GuardMeter::default();
        for i in 0..200 {
            churn.record(show(), addr, at(i), Some(6));
            churn.record_release(show(), addr, at(i), 6);
        }
        assert_eq!(churn.verdict(&policy, show(), addr, 50_000, at(200)), None);
        let neighbour = Source::address(ip("127.2.0.2"));
        assert_eq!(
            meter.verdict(&policy, show(), neighbour, 50_000, at(84)),
            None
        );
        // A small venue still lets a group of 24 through.
        let mut small = GuardMeter::default();
        for i in 0..4 {
            small.record(show(), addr, at(i), Some(6));
        }
        assert_eq!(small.verdict(&policy, show(), addr, 200, at(5)), None);
        // The seats count for the hold TTL only.
        assert_eq!(meter.verdict(&policy, show(), addr, 50_000, at(700)), None);
    }

    #[test]
    fn mostly_refused_attempts_are_challenged_once_there_are_enough() {
        let policy = GuardPolicy::defaults(600);
        let mut meter = GuardMeter::default();
        let net = Source::prefix(ip("127.2.0.1"));
        for i in 0..19 {
            meter.record(show(), net, at(i), None);
        }
        assert_eq!(
            meter.verdict(&policy, show(), net, 50_000, at(19)),
            None,
            "too few to judge"
        );
        meter.record(show(), net, at(19), Some(2));
        assert_eq!(
            meter.verdict(&policy, show(), net, 50_000, at(20)),
            Some(GuardReason::MostlyRefused {
                from: net,
                refused: 19,
                attempts: 20
            })
        );
        // A minute later the refusals have left the window.
        assert_eq!(meter.verdict(&policy, show(), net, 50_000, at(90)), None);
        let text = meter
            .verdict(&policy, show(), net, 50_000, at(20))
            .unwrap()
            .to_string();
        assert!(text.contains("network"), "{text}");
    }

    #[test]
    fn identities_younger_than_the_minimum_age_are_challenged_when_asked() {
        assert_eq!(
            new_identity(Some(100), 103, 10),
            Some(GuardReason::NewIdentity {
                age_s: 3,
                min_s: 10
            })
        );
        assert_eq!(new_identity(Some(100), 110, 10), None);
        assert_eq!(new_identity(Some(100), 103, 0), None, "off");
        assert_eq!(
            new_identity(None, 103, 10),
            None,
            "a token that does not say"
        );
        // A token from the future (clock skew) counts as brand new.
        assert_eq!(
            new_identity(Some(200), 103, 10),
            Some(GuardReason::NewIdentity {
                age_s: 0,
                min_s: 10
            })
        );
    }

    #[test]
    fn reports_of_several_processes_add_up_and_drain_once() {
        let policy = GuardPolicy::defaults(600);
        let mut mine = GuardMeter::default();
        let mut total = GuardMeter::default();
        let addr = Source::address(ip("10.0.0.1"));
        for i in 0..60 {
            mine.record(show(), addr, at(i), Some(5));
        }
        for count in mine.drain() {
            total.add(count);
            total.add(count); // a second process counted as much
        }
        assert!(mine.is_empty());
        assert_eq!(
            total.verdict(&policy, show(), addr, 50_000, at(60)),
            Some(GuardReason::Share {
                from: addr,
                seats: 600,
                limit: 500
            })
        );
        total.prune(at(1_000), 600);
        assert!(total.is_empty());
    }
}
