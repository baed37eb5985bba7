//! A live seat-map viewer over a real WebSocket (tokio-tungstenite): reads the SNAPSHOT, applies
//! every SEAT_UPDATE and checks the version chain as it goes, the way a browser viewer must.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The live URL of a show on the server at `base` (`http://host:port`).
pub fn live_url(base: &str, show_id: &str) -> String {
    format!(
        "{}/v1/shows/{show_id}/seats/live",
        base.replacen("http://", "ws://", 1)
    )
}

/// One connected viewer and the seat map it has built from its frames.
pub struct Viewer {
    /// The socket.
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Version of the last frame applied.
    pub version: u64,
    /// Seat id -> status.
    pub seats: HashMap<String, String>,
    /// SEAT_UPDATE frames applied.
    pub updates: usize,
}

/// How a viewer's stream ended.
#[derive(Debug)]
pub enum Closed {
    /// A close frame (code, reason).
    Frame(Option<CloseFrame>),
    /// The connection ended without one.
    Abrupt(String),
}

impl Viewer {
    /// Connect and read the snapshot.
    pub async fn connect(base: &str, show_id: &str) -> Viewer {
        let (ws, response) = tokio_tungstenite::connect_async(live_url(base, show_id))
            .await
            .expect("live seats upgrade");
        assert_eq!(response.status().as_u16(), 101);
        let mut viewer = Viewer {
            ws,
            version: 0,
            seats: HashMap::new(),
            updates: 0,
        };
        let snapshot = viewer
            .next_frame(Duration::from_secs(10))
            .await
            .expect("a snapshot frame");
        viewer.apply_snapshot(&snapshot);
        viewer
    }

    fn apply_snapshot(&mut self, frame: &Value) {
        assert_eq!(frame["type"], "SNAPSHOT", "first frame: {frame}");
        self.version = frame["version"].as_u64().expect("snapshot version");
        self.seats = frame["seats"]
            .as_array()
            .expect("snapshot seats")
            .iter()
            .map(|s| {
                (
                    s["seatId"].as_str().unwrap().to_owned(),
                    s["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
    }

    /// Next text frame as JSON, answering nothing (pings are answered by the library);
    /// `None` on timeout. Panics on close or error.
    pub async fn next_frame(&mut self, timeout: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let message = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()?;
            match message {
                Some(Ok(Message::Text(text))) => {
                    return Some(serde_json::from_str(&text).expect("frames are JSON"));
                }
                Some(Ok(Message::Close(frame))) => panic!("viewer closed by server: {frame:?}"),
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("viewer socket failed: {e}"),
                None => panic!("viewer stream ended"),
            }
        }
    }

    /// Apply one SEAT_UPDATE, checking that it continues this viewer's version.
    pub fn apply_update(&mut self, frame: &Value) {
        assert_eq!(frame["type"], "SEAT_UPDATE", "{frame}");
        let from = frame["fromVersion"].as_u64().expect("fromVersion");
        let to = frame["version"].as_u64().expect("version");
        assert_eq!(
            from, self.version,
            "update does not continue my version: {frame}"
        );
        assert!(to > from, "version must grow: {frame}");
        let timestamp = frame["timestamp"].as_str().expect("timestamp");
        assert!(
            timestamp.ends_with('Z') && timestamp.contains('T'),
            "RFC 3339 UTC: {timestamp}"
        );
        for seat in frame["seats"].as_array().expect("seats") {
            let id = seat["seatId"].as_str().unwrap();
            assert!(self.seats.contains_key(id), "unknown seat {id}");
            self.seats
                .insert(id.to_owned(), seat["status"].as_str().unwrap().to_owned());
        }
        self.version = to;
        self.updates += 1;
    }

    /// Apply updates until `seat` has `status`; returns how long that took, or `None` after
    /// `timeout`.
    pub async fn until_seat(
        &mut self,
        seat: &str,
        status: &str,
        timeout: Duration,
    ) -> Option<Duration> {
        let started = Instant::now();
        while self.seats.get(seat).map(String::as_str) != Some(status) {
            let left = timeout.checked_sub(started.elapsed())?;
            let frame = self.next_frame(left).await?;
            self.apply_update(&frame);
        }
        Some(started.elapsed())
    }

    /// Apply updates until this viewer is at `version` (or `timeout`); whether it got there.
    pub async fn until_version(&mut self, version: u64, timeout: Duration) -> bool {
        let started = Instant::now();
        while self.version < version {
            let Some(left) = timeout.checked_sub(started.elapsed()) else {
                return false;
            };
            let Some(frame) = self.next_frame(left).await else {
                return false;
            };
            self.apply_update(&frame);
        }
        self.version == version
    }

    /// Read everything until the connection ends; how it ended and how many frames came first.
    pub async fn drain_until_closed(&mut self, timeout: Duration) -> (Closed, usize) {
        let mut frames = 0;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return (Closed::Abrupt("timed out".into()), frames),
                Ok(Some(Ok(Message::Close(frame)))) => return (Closed::Frame(frame), frames),
                Ok(Some(Ok(Message::Text(_)))) => frames += 1,
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(e))) => return (Closed::Abrupt(e.to_string()), frames),
                Ok(None) => return (Closed::Abrupt("stream ended".into()), frames),
            }
        }
    }
}
