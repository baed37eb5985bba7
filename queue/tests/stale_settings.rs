//! A hold's admission check does not wait for, or fail with, the show directory (the catalog
//! store) once the show's settings are known: past their reuse time they are read again in the
//! background, and while the directory cannot answer the last settings read stay in force.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use queue::room::RoomConfig;
use queue::{AdmissionError, Directory, QueueError, RoomShow, TokenRefusal, WaitingRoom};
use schemas::{ShowId, UnixMs, UserId};
use uuid::Uuid;

const SECRET: &[u8] = b"stale-settings-secret-0123456789";
const T0: i64 = 1_800_000_000_000;

/// One show behind an active waiting room; `down` makes every read fail as an unreachable store
/// does; `enabled` is what an admin set.
struct FlakyCatalog {
    show: ShowId,
    down: AtomicBool,
    enabled: AtomicBool,
    reads: AtomicUsize,
}

#[async_trait]
impl Directory for FlakyCatalog {
    async fn show(&self, show: ShowId) -> Result<Option<RoomShow>, QueueError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(QueueError::Unavailable("catalog store unavailable".into()));
        }
        Ok((show == self.show).then(|| RoomShow {
            enabled: self.enabled.load(Ordering::SeqCst),
            admit_per_minute: 60,
            challenge_bits: None,
            sale_opens_at: None,
            show_time: UnixMs(T0 + 86_400_000),
        }))
    }

    async fn available_seats(&self, _show: ShowId) -> Result<u32, QueueError> {
        Ok(100)
    }

    async fn switch_on(&self, _show: ShowId, _admit_per_minute: u32) -> Result<(), QueueError> {
        Ok(())
    }
}

async fn needs_token(room: &WaitingRoom, show: ShowId) -> Result<bool, AdmissionError> {
    let user = UserId(Uuid::from_u128(7));
    match room.check_admission(show, user, None, UnixMs(T0)).await {
        Ok(()) => Ok(false),
        Err(AdmissionError::Refused(TokenRefusal::Missing)) => Ok(true),
        Err(e) => Err(e),
    }
}

#[tokio::test]
async fn known_settings_outlive_a_directory_outage_and_refresh_off_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let show = ShowId(Uuid::new_v4());
    let catalog = Arc::new(FlakyCatalog {
        show,
        down: AtomicBool::new(false),
        enabled: AtomicBool::new(true),
        reads: AtomicUsize::new(0),
    });
    let config = RoomConfig {
        settings_ttl: Duration::from_millis(50),
        ..RoomConfig::new(60_000)
    };
    let room =
        WaitingRoom::open_embedded(&dir.path().join("q.redb"), catalog.clone(), SECRET, config)
            .await
            .unwrap();

    // An unknown show with the directory down is an error: nothing is known to go on.
    catalog.down.store(true, Ordering::SeqCst);
    assert!(matches!(
        needs_token(&room, show).await,
        Err(AdmissionError::Queue(QueueError::Unavailable(_)))
    ));
    catalog.down.store(false, Ordering::SeqCst);
    assert!(needs_token(&room, show).await.unwrap());

    // The directory goes down: past the reuse time, holds still get the room's answer.
    catalog.down.store(true, Ordering::SeqCst);
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(needs_token(&room, show).await.unwrap());
    }
    let reads_while_down = catalog.reads.load(Ordering::SeqCst);
    assert!(
        reads_while_down >= 3,
        "{reads_while_down} reads: no background refresh"
    );

    // Back up, with the room switched off meanwhile: seen after a refresh, with no hold waiting
    // for the read.
    catalog.enabled.store(false, Ordering::SeqCst);
    catalog.down.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(60)).await;
    let mut open = false;
    for _ in 0..50 {
        if !needs_token(&room, show).await.unwrap() {
            open = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(open, "the switched-off room was never seen");
}
