//! Viewers of the live seat map: one WebSocket per show on each ingress, connected from the
//! start of the sale to the read-back, folding the `SNAPSHOT` and every `SEAT_UPDATE` into the
//! map a browser would show. Once the run is quiet each folded map must equal the store (the
//! checker's `seat-map-matches-store`), so a delta the live channel lost or misapplied, a follower
//! that stopped following, or a snapshot taken before a change it then never sent, shows. On one
//! connection the server promises no gap (`fromVersion` is always the version the viewer holds);
//! a viewer whose connection drops (an ingress killed) connects again and starts from a fresh
//! snapshot, as a browser does.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use history::SeatStatus;
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use crate::shows::Show;

/// Pause before connecting again after a dropped or refused connection.
const RECONNECT_PAUSE: Duration = Duration::from_millis(500);

/// One viewer's map: the seats as of `version` on its current connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveMap {
    /// The version of the last frame on this connection (`None`: no snapshot yet).
    pub version: Option<u64>,
    /// Every seat's status as the frames say.
    pub seats: BTreeMap<Uuid, SeatStatus>,
}

impl LiveMap {
    /// Fold one frame in. A `SEAT_UPDATE` that does not apply on top of the version held (or
    /// arrives before any snapshot) is a gap: what it says is left out.
    pub fn apply(&mut self, frame: &Value) -> Result<(), String> {
        let version = frame["version"].as_u64();
        match frame["type"].as_str() {
            Some("SNAPSHOT") => {
                self.seats = seats(frame);
                self.version = version;
                Ok(())
            }
            Some("SEAT_UPDATE") => {
                let from = frame["fromVersion"].as_u64();
                if from.is_none() || from != self.version {
                    return Err(format!(
                        "an update from version {from:?} to {version:?} reached a viewer at {:?}",
                        self.version
                    ));
                }
                self.seats.extend(seats(frame));
                self.version = version;
                Ok(())
            }
            other => Err(format!("a frame of type {other:?}")),
        }
    }
}

fn seats(frame: &Value) -> BTreeMap<Uuid, SeatStatus> {
    frame["seats"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|seat| {
            let id = Uuid::parse_str(seat["seatId"].as_str()?).ok()?;
            Some((id, crate::readback::map_status(seat["status"].as_str()?)))
        })
        .collect()
}

/// What one viewer saw.
#[derive(Debug, Default)]
struct Seen {
    map: LiveMap,
    /// Gaps seen, each with the show and the ingress.
    gaps: Vec<String>,
}

/// One show's live map on one ingress, followed in the background.
struct Viewer {
    via: usize,
    show: Uuid,
    seen: Arc<Mutex<Seen>>,
    task: JoinHandle<()>,
}

/// Every viewer of a run.
pub struct Viewers {
    viewers: Vec<Viewer>,
}

impl Viewers {
    /// One viewer per show on each of `bases` (the ingresses' `http://host:port`).
    pub fn start(bases: &[String], shows: &[Show]) -> Viewers {
        let mut viewers = Vec::new();
        for (via, base) in bases.iter().enumerate() {
            for show in shows {
                let seen = Arc::new(Mutex::new(Seen::default()));
                let url = format!(
                    "{}/v1/shows/{}/seats/live",
                    base.replacen("http://", "ws://", 1),
                    show.show_id
                );
                let task = tokio::spawn(follow(url, via, show.show_id, seen.clone()));
                viewers.push(Viewer {
                    via,
                    show: show.show_id,
                    seen,
                    task,
                });
            }
        }
        Viewers { viewers }
    }

    /// Wait (at most `wait`) until every viewer holds a snapshot on its connection, then stop
    /// them all: each ingress's live map over every show, and every gap seen.
    pub async fn stop(
        self,
        wait: Duration,
    ) -> (Vec<(usize, BTreeMap<Uuid, SeatStatus>)>, Vec<String>) {
        let deadline = tokio::time::Instant::now() + wait;
        while tokio::time::Instant::now() < deadline
            && self
                .viewers
                .iter()
                .any(|v| lock(&v.seen).map.version.is_none())
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut maps: BTreeMap<usize, BTreeMap<Uuid, SeatStatus>> = BTreeMap::new();
        let mut gaps = Vec::new();
        for viewer in self.viewers {
            viewer.task.abort();
            let seen = lock(&viewer.seen);
            if seen.map.version.is_none() {
                gaps.push(format!(
                    "the viewer of show {} on ingress {} had no snapshot at the end",
                    viewer.show, viewer.via
                ));
            }
            maps.entry(viewer.via)
                .or_default()
                .extend(seen.map.seats.iter().map(|(k, v)| (*k, *v)));
            gaps.extend(seen.gaps.iter().cloned());
        }
        (maps.into_iter().collect(), gaps)
    }
}

fn lock(seen: &Mutex<Seen>) -> std::sync::MutexGuard<'_, Seen> {
    seen.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Follow `url` for good: connect, fold every frame, connect again after a drop or a gap.
async fn follow(url: String, via: usize, show: Uuid, seen: Arc<Mutex<Seen>>) {
    loop {
        if let Ok((mut ws, _)) = tokio_tungstenite::connect_async(&url).await {
            while let Some(Ok(message)) = ws.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                let frame: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
                let mut seen = lock(&seen);
                if let Err(gap) = seen.map.apply(&frame) {
                    seen.gaps
                        .push(format!("show {show} on ingress {via}: {gap}"));
                    break;
                }
            }
        }
        lock(&seen).map.version = None;
        tokio::time::sleep(RECONNECT_PAUSE).await;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn seat(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn snapshot() -> Value {
        json!({"type": "SNAPSHOT", "version": 4, "seats": [
            {"seatId": seat(1).to_string(), "status": "AVAILABLE"},
            {"seatId": seat(2).to_string(), "status": "HELD"}]})
    }

    #[test]
    fn updates_on_top_of_the_snapshot_fold_into_the_map() {
        let mut map = LiveMap::default();
        map.apply(&snapshot()).unwrap();
        map.apply(
            &json!({"type": "SEAT_UPDATE", "fromVersion": 4, "version": 7, "seats": [
            {"seatId": seat(1).to_string(), "status": "BOOKED"}]}),
        )
        .unwrap();
        assert_eq!(map.version, Some(7));
        assert_eq!(
            map.seats,
            BTreeMap::from([(seat(1), SeatStatus::Booked), (seat(2), SeatStatus::Held)])
        );
    }

    #[test]
    fn an_update_from_another_version_is_a_gap_and_changes_nothing() {
        let mut map = LiveMap::default();
        map.apply(&snapshot()).unwrap();
        let before = map.clone();
        let gap = map.apply(
            &json!({"type": "SEAT_UPDATE", "fromVersion": 5, "version": 7,
            "seats": [{"seatId": seat(1).to_string(), "status": "BOOKED"}]}),
        );
        assert!(gap.is_err());
        assert_eq!(map, before);
    }

    #[test]
    fn an_update_before_any_snapshot_is_a_gap() {
        let mut map = LiveMap::default();
        let update = json!({"type": "SEAT_UPDATE", "fromVersion": 0, "version": 1, "seats": []});
        assert!(map.apply(&update).is_err());
    }
}
