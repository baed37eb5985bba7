//! The waiting room at library level over its real embedded log (redb), in virtual time: a flash
//! sale with 100,000 buyers, a restart in the middle, and the sold-out signal.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::future::join_all;
use queue::room::RoomConfig;
use queue::{
    Challenge, ChallengeNonce, ChallengeRefusal, Directory, JoinChallenge, QueueError, RoomShow,
    Status, UseRecord, WaitingRoom,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use schemas::{ShowId, UnixMs, UserId};
use uuid::Uuid;

/// A nonce for a challenge whose issuer ignores it (the plugged product challenge).
const NO_NONCE: ChallengeNonce = ChallengeNonce {
    window: 0,
    entry: None,
};

const SECRET: &[u8] = b"flash-sale-secret-0123456789abcdefgh";
const OPENS_AT: i64 = 1_000_000;
const WINDOW_MS: i64 = 60_000;

/// The show as the catalog and the seat state would report it, changed by the simulation.
struct SimDirectory {
    show: ShowId,
    state: Mutex<RoomShow>,
    available: Mutex<u32>,
}

#[async_trait]
impl Directory for SimDirectory {
    async fn show(&self, show: ShowId) -> Result<Option<RoomShow>, QueueError> {
        Ok((show == self.show).then(|| self.state.lock().unwrap().clone()))
    }

    async fn available_seats(&self, _show: ShowId) -> Result<u32, QueueError> {
        Ok(*self.available.lock().unwrap())
    }

    async fn switch_on(&self, _show: ShowId, admit_per_minute: u32) -> Result<(), QueueError> {
        let mut state = self.state.lock().unwrap();
        state.enabled = true;
        if state.admit_per_minute == 0 {
            state.admit_per_minute = admit_per_minute;
        }
        Ok(())
    }
}

impl SimDirectory {
    fn new(show: ShowId, seats: u32, admit_per_minute: u32) -> Arc<SimDirectory> {
        Arc::new(SimDirectory {
            show,
            state: Mutex::new(RoomShow {
                enabled: true,
                admit_per_minute,
                challenge_bits: None,
                sale_opens_at: Some(UnixMs(OPENS_AT)),
                show_time: UnixMs(OPENS_AT + 86_400_000),
            }),
            available: Mutex::new(seats),
        })
    }

    fn available(&self) -> u32 {
        *self.available.lock().unwrap()
    }

    fn add_available(&self, delta: i64) {
        let mut available = self.available.lock().unwrap();
        *available = (i64::from(*available) + delta) as u32;
    }
}

fn config() -> RoomConfig {
    RoomConfig {
        // The simulation changes seats between calls: always read them fresh.
        settings_ttl: std::time::Duration::ZERO,
        ..RoomConfig::new(WINDOW_MS)
    }
}

async fn open(path: &std::path::Path, directory: Arc<SimDirectory>) -> WaitingRoom {
    WaitingRoom::open_embedded(path, directory, SECRET, config())
        .await
        .unwrap()
}

fn user(n: u64) -> UserId {
    UserId(Uuid::from_u64_pair(0xb0b, n))
}

/// Join `users` concurrently at `now` (the log orders them; group commit stores them).
async fn join_chunk(room: &WaitingRoom, show: ShowId, users: &[UserId], now: i64) -> Vec<u32> {
    let joins = users
        .iter()
        .map(|u| room.join(show, *u, 0, None, UnixMs(now)));
    join_all(joins)
        .await
        .into_iter()
        .map(|joined| {
            let joined = joined.unwrap();
            assert!(joined.created);
            joined.entry.queue_number.unwrap_or(0)
        })
        .collect()
}

/// One buyer's hold: seats and when it is confirmed or expires.
struct Hold {
    due: i64,
    seats: u32,
    confirms: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hundred_thousand_buyers_are_admitted_fairly_and_never_far_ahead_of_the_seats() {
    let dir = tempfile::tempdir().unwrap();
    let show = ShowId(Uuid::new_v4());
    let seats = 8_000;
    let directory = SimDirectory::new(show, seats, 12_000);
    let room = open(&dir.path().join("wr.redb"), directory.clone()).await;
    let mut rng = StdRng::seed_from_u64(20_260_101);

    // 2,000 join before the opening, in chunks of 1,000 concurrent joins; 98,000 after it.
    const PRE: u64 = 2_000;
    const POST: u64 = 98_000;
    let pre: Vec<UserId> = (0..PRE).map(user).collect();
    for (i, chunk) in pre.chunks(1_000).enumerate() {
        let numbers = join_chunk(&room, show, chunk, OPENS_AT - 60_000 + i as i64).await;
        assert!(
            numbers.iter().all(|n| *n == 0),
            "no number before the opening"
        );
    }
    let early = room
        .entry(show, pre[0], UnixMs(OPENS_AT - 1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (early.status, early.queue_number, early.position),
        (Status::Waiting, None, None)
    );

    // The opening: the first round shuffles and numbers the early joiners.
    let mut now = OPENS_AT;
    let mut number_of: HashMap<UserId, u32> = HashMap::new();
    let mut user_of: HashMap<u32, UserId> = HashMap::new();
    let report = room.round(UnixMs(now)).await;
    assert_eq!(report.opened, 1);
    let audit = room.audit(show).unwrap();
    assert_eq!(audit.order.len() as u64, PRE);
    assert_eq!(
        audit.order.iter().collect::<HashSet<_>>(),
        pre.iter().collect::<HashSet<_>>(),
        "pre-opening joiners are a permutation of themselves"
    );
    assert_ne!(audit.order, pre, "and shuffled");
    for (i, u) in audit.order.iter().enumerate() {
        let entry = room.entry(show, *u, UnixMs(now)).await.unwrap().unwrap();
        assert_eq!(entry.queue_number, Some(i as u32 + 1));
        number_of.insert(*u, i as u32 + 1);
        user_of.insert(i as u32 + 1, *u);
    }

    // Then one virtual second per step: 2 chunks of post-opening joins while they last, an
    // admission round, buyers who were admitted hold, holds confirm or expire.
    let post: Vec<UserId> = (PRE..PRE + POST).map(user).collect();
    let mut chunk_of: HashMap<UserId, usize> = HashMap::new();
    let mut post_chunks = post.chunks(1_000).enumerate();
    let mut admitted_at: HashMap<UserId, i64> = HashMap::new();
    let mut unused: BTreeMap<UserId, i64> = BTreeMap::new(); // admitted, not held: window end
    let mut holds: Vec<Hold> = Vec::new();
    let watermark_at_opening = report.admitted as u32;
    assert!(
        watermark_at_opening > 0,
        "the opening round admits the first batch"
    );
    for n in 1..=watermark_at_opening {
        let u = user_of[&n];
        let entry = room.entry(show, u, UnixMs(now)).await.unwrap().unwrap();
        assert_eq!(entry.status, Status::Admitted);
        admitted_at.insert(u, -1);
        unused.insert(u, now + WINDOW_MS);
    }
    let mut watermark = watermark_at_opening;
    let (mut sold_out_seen, mut waiting_again_seen) = (false, false);
    let (mut taken_seats, mut takers) = (0u64, 0u64);
    let mut max_ratio = 0f64;
    for step in 0..400 {
        now += 1_000;
        for _ in 0..2 {
            if let Some((i, chunk)) = post_chunks.next() {
                let numbers = join_chunk(&room, show, chunk, now).await;
                for (u, n) in chunk.iter().zip(numbers) {
                    assert!(
                        n as u64 > PRE,
                        "post-opening joiners come after the shuffled"
                    );
                    chunk_of.insert(*u, i);
                    number_of.insert(*u, n);
                    user_of.insert(n, *u);
                }
            }
        }
        // Holds fall due: confirmed seats are gone, expired ones return.
        holds.retain(|hold| {
            if hold.due > now {
                return true;
            }
            if !hold.confirms {
                directory.add_available(i64::from(hold.seats));
            }
            false
        });
        unused.retain(|_, window_end| *window_end > now);

        let available_before = directory.available();
        let report = room.round(UnixMs(now)).await;
        let new_watermark = watermark + report.admitted as u32;
        if available_before == 0 {
            assert_eq!(
                report.admitted, 0,
                "nothing is admitted while nothing is available"
            );
        }
        // Everyone newly admitted sees ADMITTED with a token; the next in line see their place.
        for n in watermark + 1..=new_watermark {
            let u = user_of[&n];
            let entry = room.entry(show, u, UnixMs(now)).await.unwrap().unwrap();
            assert_eq!(entry.status, Status::Admitted, "number {n}");
            assert_eq!(entry.position, Some(0));
            admitted_at.insert(u, step);
            unused.insert(u, now + WINDOW_MS);
        }
        watermark = new_watermark;
        // Seats the outstanding admissions will ask for, at what buyers took so far.
        let per_buyer = if takers == 0 {
            2.0
        } else {
            taken_seats as f64 / takers as f64
        };
        let demand = unused.len() as f64 * per_buyer;
        if demand > 0.0 {
            max_ratio = max_ratio.max(demand / f64::from(available_before.max(1)));
        }
        assert!(
            demand <= f64::from(available_before) * 1.1 + 8.0,
            "step {step}: {} admissions outstanding ({demand:.0} seats) for {available_before} seats",
            unused.len()
        );
        for n in (watermark + 1..)
            .take(20)
            .filter(|n| user_of.contains_key(n))
        {
            let entry = room
                .entry(show, user_of[&n], UnixMs(now))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(entry.position, Some(n - watermark));
            match entry.status {
                Status::SoldOut => {
                    assert_eq!(directory.available(), 0);
                    assert!(entry.message.is_some());
                    sold_out_seen = true;
                }
                Status::Waiting => {
                    assert!(directory.available() > 0);
                    waiting_again_seen |= sold_out_seen;
                }
                Status::Admitted | Status::Expired => panic!("number {n} above the watermark"),
            }
        }
        // Admitted buyers act: 85% hold 1-4 seats with their token, the rest let it lapse.
        let acting: Vec<UserId> = unused.keys().copied().collect();
        for u in acting {
            if rng.random_bool(0.15) {
                continue;
            }
            let want = rng.random_range(1..=4u32).min(directory.available());
            if want == 0 {
                continue;
            }
            let entry = room.entry(show, u, UnixMs(now)).await.unwrap().unwrap();
            let token = entry
                .admission
                .expect("admitted entries carry a token")
                .token;
            room.check_admission(show, u, Some(&token), UnixMs(now))
                .await
                .unwrap();
            directory.add_available(-i64::from(want));
            room.note_used(show, u, want, UnixMs(now)).await;
            taken_seats += u64::from(want);
            takers += 1;
            unused.remove(&u);
            let confirms = rng.random_bool(0.7);
            holds.push(Hold {
                due: now + if confirms { 5_000 } else { 20_000 },
                seats: want,
                confirms,
            });
        }
        if post_chunks.len() == 0 && directory.available() == 0 && holds.is_empty() {
            break;
        }
    }
    assert!(sold_out_seen, "waiting buyers were told the show sold out");
    assert!(
        waiting_again_seen,
        "and back to waiting when seats returned"
    );
    assert_eq!(directory.available(), 0, "the sale sold every seat");
    println!("max outstanding demand / available seats: {max_ratio:.2}");

    // Zero inversions: a buyer whose join finished before another's began is admitted no later.
    let mut admitted_post: Vec<(usize, i64)> = admitted_at
        .iter()
        .filter_map(|(u, step)| chunk_of.get(u).map(|c| (*c, *step)))
        .collect();
    assert!(
        admitted_post.len() > 1_000,
        "post-opening buyers were admitted"
    );
    admitted_post.sort();
    let inversions = admitted_post.windows(2).filter(|w| w[0].1 > w[1].1).count();
    assert_eq!(inversions, 0);
    // Queue numbers follow join order chunk by chunk.
    let mut by_chunk: Vec<(usize, u32)> =
        chunk_of.iter().map(|(u, c)| (*c, number_of[u])).collect();
    by_chunk.sort();
    assert!(
        by_chunk
            .windows(2)
            .all(|w| w[0].0 == w[1].0 || w[0].1 < w[1].1)
    );
    // Every pre-opening buyer was admitted before every post-opening one.
    let last_pre = audit
        .order
        .iter()
        .filter_map(|u| admitted_at.get(u))
        .max()
        .unwrap();
    let first_post = admitted_post.iter().map(|(_, s)| s).min().unwrap();
    assert!(last_pre <= first_post);
}

#[tokio::test]
async fn a_restart_continues_positions_and_admissions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wr.redb");
    let show = ShowId(Uuid::new_v4());
    let directory = SimDirectory::new(show, 1_000, 600);
    let users: Vec<UserId> = (0..3_000).map(user).collect();
    let now = OPENS_AT + 1;
    let before: Vec<_> = {
        let room = open(&path, directory.clone()).await;
        for chunk in users[..1_500].chunks(500) {
            join_chunk(&room, show, chunk, OPENS_AT - 10).await;
        }
        room.round(UnixMs(OPENS_AT)).await;
        for chunk in users[1_500..].chunks(500) {
            join_chunk(&room, show, chunk, now).await;
        }
        let mut entries = Vec::new();
        for u in &users {
            entries.push(room.entry(show, *u, UnixMs(now)).await.unwrap().unwrap());
        }
        entries
    };
    assert_eq!(
        before
            .iter()
            .filter(|e| e.status == Status::Admitted)
            .count(),
        100
    );
    let room = open(&path, directory.clone()).await;
    for (u, was) in users.iter().zip(&before) {
        let entry = room.entry(show, *u, UnixMs(now)).await.unwrap().unwrap();
        assert_eq!(&entry, was, "the restarted room answers exactly as before");
    }
    // Joining again after the restart finds the same entry; admissions go on from the watermark.
    let again = room
        .join(show, users[2_999], 0, None, UnixMs(now))
        .await
        .unwrap();
    assert_eq!(again.entry.queue_number, before[2_999].queue_number);
    let report = room.round(UnixMs(now + 1_000)).await;
    assert_eq!(report.admitted, 10, "600/min refills 10 a second");
    let next = before.iter().filter(|e| e.position == Some(1)).count();
    assert_eq!(next, 1);
    let admitted = {
        let mut n = 0;
        for u in &users {
            let entry = room
                .entry(show, *u, UnixMs(now + 1_000))
                .await
                .unwrap()
                .unwrap();
            n += usize::from(entry.status == Status::Admitted);
        }
        n
    };
    assert_eq!(admitted, 110);
}

#[tokio::test]
async fn waiting_buyers_are_woken_when_the_show_sells_out_and_when_seats_return() {
    let dir = tempfile::tempdir().unwrap();
    let show = ShowId(Uuid::new_v4());
    let directory = SimDirectory::new(show, 1, 60);
    let room = open(&dir.path().join("wr.redb"), directory.clone()).await;
    let now = OPENS_AT + 5;
    join_chunk(&room, show, &[user(1), user(2), user(3)], now).await;
    room.round(UnixMs(now)).await;
    let mut live = room.subscribe(show);
    live.borrow_and_update();
    directory.add_available(-1);
    room.round(UnixMs(now + 1_000)).await;
    assert!(live.has_changed().unwrap(), "sold out wakes watchers");
    let entry = room
        .entry(show, user(3), UnixMs(now + 1_000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.status, Status::SoldOut);
    assert!(entry.message.unwrap().contains("sold"));
    live.borrow_and_update();
    directory.add_available(2);
    room.round(UnixMs(now + 2_000)).await;
    assert!(live.has_changed().unwrap(), "returned seats wake watchers");
    let entry = room
        .entry(show, user(3), UnixMs(now + 2_000))
        .await
        .unwrap()
        .unwrap();
    assert_ne!(entry.status, Status::SoldOut);
}

#[tokio::test]
async fn joins_need_a_solved_challenge_when_the_show_asks_for_one() {
    let dir = tempfile::tempdir().unwrap();
    let show = ShowId(Uuid::new_v4());
    let directory = SimDirectory::new(show, 10, 60);
    directory.state.lock().unwrap().challenge_bits = Some(16); // a wrong answer solves either accepted window by chance 1 in 32,768
    let room = open(&dir.path().join("wr.redb"), directory.clone()).await;
    let now = UnixMs(OPENS_AT + 5);
    let challenge = match room.join(show, user(1), 7, None, now).await {
        Err(queue::JoinError::ChallengeRequired {
            challenge,
            bits,
            refusal,
        }) => {
            assert_eq!(bits, 16);
            assert_eq!(refusal, ChallengeRefusal::Missing);
            challenge
        }
        other => panic!("expected a challenge, got {other:?}"),
    };
    let wrong = (0..)
        .map(|n: u32| format!("wrong-{n}"))
        .find(|nonce| !queue::token::solves(&challenge, nonce, 16))
        .unwrap();
    assert!(matches!(
        room.join(show, user(1), 7, Some(&wrong), now).await,
        Err(queue::JoinError::ChallengeRequired {
            refusal: ChallengeRefusal::Unsolved,
            ..
        })
    ));
    let nonce = queue::token::solve(&challenge, 16);
    let joined = room
        .join(show, user(1), 7, Some(&nonce), now)
        .await
        .unwrap();
    assert!(joined.created);
    // The entry exists: joining again needs no new proof and is not "created" by another tag.
    let again = room.join(show, user(1), 8, None, now).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.entry, joined.entry);
}

/// The challenge `user` is asked for when joining `show` at `now` without an answer.
async fn challenge_for(room: &WaitingRoom, show: ShowId, user: UserId, now: i64) -> String {
    match room.join(show, user, 1, None, UnixMs(now)).await {
        Err(queue::JoinError::ChallengeRequired { challenge, .. }) => challenge,
        other => panic!("expected a challenge, got {other:?}"),
    }
}

fn refused_as_unsolved(joined: Result<queue::Joined, queue::JoinError>) -> bool {
    matches!(
        joined,
        Err(queue::JoinError::ChallengeRequired {
            refusal: ChallengeRefusal::Unsolved,
            ..
        })
    )
}

#[tokio::test]
async fn a_solution_is_accepted_once_and_challenges_expire() {
    // A reused or late answer is refused unless it happens to solve the new challenge or the
    // previous window's: with 16 bits once in 32,768 runs (with 8, once in 128).
    const BITS: u8 = 16;
    let dir = tempfile::tempdir().unwrap();
    let show = ShowId(Uuid::new_v4());
    let directory = SimDirectory::new(show, 10, 60);
    directory.state.lock().unwrap().challenge_bits = Some(BITS);
    let room = open(&dir.path().join("wr.redb"), directory.clone()).await;
    let window = queue::room::CHALLENGE_WINDOW_MS;
    let now = OPENS_AT + 5;

    // Accepted once: the solution makes an entry; once that entry's admission has lapsed, the
    // same solution is no answer to the challenge of a new entry.
    let first = challenge_for(&room, show, user(1), now).await;
    let solution = queue::token::solve(&first, BITS);
    let joined = room
        .join(show, user(1), 7, Some(&solution), UnixMs(now))
        .await;
    assert!(joined.unwrap().created);
    room.round(UnixMs(now + 1_000)).await;
    let lapsed = now + 1_000 + WINDOW_MS + 1;
    let entry = room
        .entry(show, user(1), UnixMs(lapsed))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.status, Status::Expired);
    let replay = room
        .join(show, user(1), 9, Some(&solution), UnixMs(lapsed))
        .await;
    assert!(
        refused_as_unsolved(replay),
        "a second use of a solution was accepted"
    );
    let second = challenge_for(&room, show, user(1), lapsed).await;
    assert_ne!(second, first, "the next entry needs a new challenge");
    let again = room
        .join(
            show,
            user(1),
            9,
            Some(&queue::token::solve(&second, BITS)),
            UnixMs(lapsed),
        )
        .await;
    assert!(again.unwrap().created);

    // Expiry: answerable in the window of issue and the next one, not later.
    let issued_at = now - now.rem_euclid(window) + window - 1;
    let late = challenge_for(&room, show, user(2), issued_at).await;
    let answer = queue::token::solve(&late, BITS);
    let too_late = issued_at + window + 2;
    let refused = room
        .join(show, user(2), 3, Some(&answer), UnixMs(too_late))
        .await;
    assert!(
        refused_as_unsolved(refused),
        "an expired challenge was accepted"
    );
    let early = challenge_for(&room, show, user(3), issued_at).await;
    let in_time = room
        .join(
            show,
            user(3),
            4,
            Some(&queue::token::solve(&early, BITS)),
            UnixMs(issued_at + 2),
        )
        .await;
    assert!(
        in_time.unwrap().created,
        "a challenge of the previous window is still good"
    );
}

/// Another challenge than the built-in proof of work: multiply two numbers derived from show,
/// user and difficulty. Real verification, so a wrong product (or a proof-of-work nonce) fails.
struct Product;

impl Product {
    fn factors(challenge: &str) -> Option<(u64, u64)> {
        let (a, b) = challenge.strip_prefix("multiply:")?.split_once('x')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    }
}

impl JoinChallenge for Product {
    fn name(&self) -> &'static str {
        "product"
    }

    fn issue(&self, show: ShowId, user: UserId, bits: u8, _nonce: ChallengeNonce) -> Challenge {
        let a = (show.0.as_u128() % 1_000) as u64 + u64::from(bits);
        let b = (user.0.as_u128() % 1_000) as u64 + 7;
        Challenge {
            challenge: format!("multiply:{a}x{b}"),
            bits,
        }
    }

    fn verify(&self, challenge: &Challenge, answer: &str) -> Result<(), ChallengeRefusal> {
        let (a, b) = Product::factors(&challenge.challenge).ok_or(ChallengeRefusal::Malformed)?;
        let answer: u64 = answer.parse().map_err(|_| ChallengeRefusal::Malformed)?;
        if answer == a * b {
            Ok(())
        } else {
            Err(ChallengeRefusal::Unsolved)
        }
    }
}

#[tokio::test]
async fn another_join_challenge_plugs_in_in_place_of_the_proof_of_work() {
    let dir = tempfile::tempdir().unwrap();
    let show = ShowId(Uuid::from_u128(0x5150_0000_0000_0000_0000_0000_0000_0123));
    let directory = SimDirectory::new(show, 10, 60);
    directory.state.lock().unwrap().challenge_bits = Some(4);
    let room = open(&dir.path().join("wr.redb"), directory.clone()).await;
    room.set_challenge(Arc::new(Product));
    let now = UnixMs(OPENS_AT + 5);
    let buyer = user(1);
    let (challenge, bits) = match room.join(show, buyer, 7, None, now).await {
        Err(queue::JoinError::ChallengeRequired {
            challenge,
            bits,
            refusal: ChallengeRefusal::Missing,
        }) => (challenge, bits),
        other => panic!("expected the product challenge, got {other:?}"),
    };
    assert_eq!(
        Challenge {
            challenge: challenge.clone(),
            bits
        },
        Product.issue(show, buyer, 4, NO_NONCE),
        "the plugged challenge was issued"
    );
    let (a, b) = Product::factors(&challenge).unwrap();
    // The built-in's answer is no answer here (a small nonce, checked not to be the product),
    // nor is a wrong product or something that is not a number.
    let pow = queue::token::solve(&room.keys().challenge(show, buyer, 4, NO_NONCE), 4);
    assert_ne!(pow.parse::<u64>().ok(), Some(a * b));
    for (answer, refusal) in [
        (pow.as_str(), ChallengeRefusal::Unsolved),
        ("12", ChallengeRefusal::Unsolved),
        ("twelve", ChallengeRefusal::Malformed),
    ] {
        match room.join(show, buyer, 7, Some(answer), now).await {
            Err(queue::JoinError::ChallengeRequired { refusal: r, .. }) => {
                assert_eq!(r, refusal, "{answer}");
            }
            other => panic!("{answer:?} should not join: {other:?}"),
        }
    }
    let joined = room
        .join(show, buyer, 7, Some(&(a * b).to_string()), now)
        .await
        .unwrap();
    assert!(joined.created);
    assert_eq!(joined.entry.status, Status::Waiting);
}

#[tokio::test]
async fn admission_uses_are_recorded_in_the_background_and_dropped_beyond_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let show = ShowId(Uuid::new_v4());
    let directory = SimDirectory::new(show, 100, 6_000);
    let config = RoomConfig {
        uses_in_flight_max: 1,
        ..config()
    };
    let room = WaitingRoom::open_embedded(&dir.path().join("wr.redb"), directory, SECRET, config)
        .await
        .unwrap();
    let now = OPENS_AT + 5;
    join_chunk(&room, show, &[user(1), user(2)], now).await;
    room.round(UnixMs(now + 1_000)).await;
    let now = UnixMs(now + 1_000);
    for u in [user(1), user(2)] {
        let entry = room.entry(show, u, now).await.unwrap().unwrap();
        assert_eq!(entry.status, Status::Admitted);
    }
    // Nobody to record for a buyer who was never admitted.
    assert_eq!(
        room.record_use(show, user(3), 2, now),
        UseRecord::NotAdmitted
    );
    // One record in flight at a time: the second, started before the first could run, is
    // dropped rather than queued or awaited.
    assert_eq!(room.record_use(show, user(1), 2, now), UseRecord::Started);
    assert_eq!(room.record_use(show, user(2), 2, now), UseRecord::Dropped);
    // The first is written: its admission stops counting as unused, and a permit is free again.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while room.record_use(show, user(1), 2, now) != UseRecord::NotAdmitted {
        assert!(
            std::time::Instant::now() < deadline,
            "the use was never recorded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(room.record_use(show, user(2), 2, now), UseRecord::Started);
}
