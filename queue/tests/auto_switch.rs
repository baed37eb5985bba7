//! Automatic switch-on at library level over the real embedded log, in virtual time: demand
//! signals with explicit timestamps go in, the admission round decides, holds are refused
//! without a token from then on, an admin's decision wins, and the switch-on survives a restart.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use queue::room::RoomConfig;
use queue::{
    AdmissionError, AutoPolicy, AutoSetting, Directory, QueueError, RoomShow, Status, TokenRefusal,
    WaitingRoom,
};
use schemas::{ShowId, UnixMs, UserId};
use uuid::Uuid;

const SECRET: &[u8] = b"auto-switch-secret-0123456789abcdef";
const T0: i64 = 1_800_000_000_000;

/// The catalog's view of one show, changed by `switch_on` and by the test (as an admin would).
struct Catalog {
    show: ShowId,
    state: Mutex<RoomShow>,
    switched_on: Mutex<u32>,
}

#[async_trait]
impl Directory for Catalog {
    async fn show(&self, show: ShowId) -> Result<Option<RoomShow>, QueueError> {
        Ok((show == self.show).then(|| self.state.lock().unwrap().clone()))
    }

    async fn available_seats(&self, _show: ShowId) -> Result<u32, QueueError> {
        Ok(100)
    }

    async fn switch_on(&self, _show: ShowId, admit_per_minute: u32) -> Result<(), QueueError> {
        let mut state = self.state.lock().unwrap();
        state.enabled = true;
        if state.admit_per_minute == 0 {
            state.admit_per_minute = admit_per_minute;
        }
        *self.switched_on.lock().unwrap() += 1;
        Ok(())
    }
}

impl Catalog {
    fn new(show: ShowId) -> Arc<Catalog> {
        Arc::new(Catalog {
            show,
            state: Mutex::new(RoomShow {
                enabled: false,
                admit_per_minute: 0,
                challenge_bits: None,
                sale_opens_at: None,
                show_time: UnixMs(T0 + 86_400_000),
            }),
            switched_on: Mutex::new(0),
        })
    }

    fn set_enabled(&self, enabled: bool) {
        self.state.lock().unwrap().enabled = enabled;
    }

    fn enabled(&self) -> bool {
        self.state.lock().unwrap().enabled
    }
}

fn config(above_per_s: Option<u32>) -> RoomConfig {
    RoomConfig {
        settings_ttl: std::time::Duration::ZERO,
        auto: AutoPolicy {
            above_per_s,
            window_s: 2,
            admit_per_minute: 120,
        },
        ..RoomConfig::new(60_000)
    }
}

async fn open(path: &std::path::Path, catalog: Arc<Catalog>, above: Option<u32>) -> WaitingRoom {
    WaitingRoom::open_embedded(path, catalog, SECRET, config(above))
        .await
        .unwrap()
}

fn at(ms: i64) -> UnixMs {
    UnixMs(T0 + ms)
}

fn user(n: u64) -> UserId {
    UserId(Uuid::from_u64_pair(0xa070, n))
}

/// `n` hold attempts spread evenly over `[from_ms, from_ms + 1000)`.
fn attempts(room: &WaitingRoom, show: ShowId, from_ms: i64, n: i64) {
    for i in 0..n {
        room.note_demand(show, at(from_ms + i * 1000 / n));
    }
}

async fn needs_token(room: &WaitingRoom, show: ShowId, now: UnixMs) -> bool {
    match room.check_admission(show, user(999), None, now).await {
        Ok(()) => false,
        Err(AdmissionError::Refused(TokenRefusal::Missing)) => true,
        Err(e) => panic!("unexpected {e:?}"),
    }
}

#[tokio::test]
async fn demand_above_the_deployment_threshold_switches_the_room_on_once() {
    let dir = tempfile::tempdir().unwrap();
    let show = ShowId(Uuid::new_v4());
    let catalog = Catalog::new(show);
    let room = open(&dir.path().join("q.redb"), catalog.clone(), Some(10)).await;

    // 19 attempts over the 2 s window: an average of 9.5 per second stays below 10.
    attempts(&room, show, 0, 10);
    attempts(&room, show, 1000, 9);
    assert_eq!(room.round(at(1999)).await.switched_on, 0);
    assert!(!needs_token(&room, show, at(1999)).await);

    // The 20th reaches it.
    attempts(&room, show, 1999, 1);
    assert_eq!(room.round(at(1999)).await.switched_on, 1);
    assert!(needs_token(&room, show, at(2000)).await);
    assert!(
        catalog.enabled(),
        "the catalog is told, so the show reads QUEUE"
    );
    assert_eq!(catalog.state.lock().unwrap().admit_per_minute, 120);
    let (setting, on) = room.auto_state(show);
    assert_eq!((setting, on), (AutoSetting::Default, Some((at(1999), 10))));

    // More demand does not switch it on again.
    attempts(&room, show, 2000, 50);
    assert_eq!(room.round(at(2500)).await.switched_on, 0);
    assert_eq!(*catalog.switched_on.lock().unwrap(), 1);

    // Buyers now queue and are admitted at the automatic pace.
    let joined = room.join(show, user(1), 1, None, at(3000)).await.unwrap();
    assert_eq!(joined.entry.status, Status::Waiting);
    assert_eq!(joined.entry.position, Some(1));
    room.round(at(3000)).await;
    let entry = room.entry(show, user(1), at(3001)).await.unwrap().unwrap();
    assert_eq!(entry.status, Status::Admitted);
    let token = entry.admission.unwrap().token;
    room.check_admission(show, user(1), Some(&token), at(3002))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_admin_switch_off_wins_over_demand_until_rearmed() {
    let dir = tempfile::tempdir().unwrap();
    let show = ShowId(Uuid::new_v4());
    let catalog = Catalog::new(show);
    let room = open(&dir.path().join("q.redb"), catalog.clone(), Some(5)).await;
    attempts(&room, show, 0, 10);
    attempts(&room, show, 1000, 10);
    assert_eq!(room.round(at(1500)).await.switched_on, 1);

    // The admin switches it off: catalog off, and their decision recorded in the log.
    catalog.set_enabled(false);
    room.set_auto(show, AutoSetting::Never, at(1600))
        .await
        .unwrap();
    assert!(!needs_token(&room, show, at(1700)).await);
    attempts(&room, show, 2000, 100);
    assert_eq!(room.round(at(2500)).await.switched_on, 0);
    assert!(!needs_token(&room, show, at(2600)).await);

    // Re-armed with a threshold of its own, it switches on again.
    room.set_auto(show, AutoSetting::Above(20), at(2700))
        .await
        .unwrap();
    attempts(&room, show, 3000, 30);
    assert_eq!(room.round(at(3500)).await.switched_on, 1);
    assert!(needs_token(&room, show, at(3600)).await);
}

#[tokio::test]
async fn a_show_threshold_works_without_a_deployment_default() {
    let dir = tempfile::tempdir().unwrap();
    let show = ShowId(Uuid::new_v4());
    let other = ShowId(Uuid::new_v4());
    let catalog = Catalog::new(show);
    let room = open(&dir.path().join("q.redb"), catalog.clone(), None).await;
    attempts(&room, show, 0, 1000);
    attempts(&room, other, 0, 1000);
    assert_eq!(
        room.round(at(900)).await.switched_on,
        0,
        "no threshold, no switch-on"
    );

    room.set_auto(show, AutoSetting::Above(3), at(950))
        .await
        .unwrap();
    attempts(&room, show, 1000, 6);
    assert_eq!(room.round(at(1900)).await.switched_on, 1);
    assert!(needs_token(&room, show, at(2000)).await);
}

#[tokio::test]
async fn the_switch_on_survives_a_restart_even_if_the_catalog_missed_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.redb");
    let show = ShowId(Uuid::new_v4());
    let catalog = Catalog::new(show);
    let room = open(&path, catalog.clone(), Some(1)).await;
    attempts(&room, show, 0, 2);
    attempts(&room, show, 1000, 2);
    assert_eq!(room.round(at(1500)).await.switched_on, 1);
    room.shutdown().await;

    // As if the catalog write had been lost: the log alone keeps the room on.
    catalog.set_enabled(false);
    let room = open(&path, catalog.clone(), Some(1)).await;
    assert!(needs_token(&room, show, at(5000)).await);
    assert_eq!(room.auto_state(show).1, Some((at(1500), 2)));
}
