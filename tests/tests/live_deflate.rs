//! permessage-deflate on the live seat map, end to end against a real `boxoffice dev` server
//! over a raw TCP socket: the handshake's answer to each kind of offer, compressed frames (RSV1,
//! raw deflate without the sync tail, inflated here with flate2 by a fresh inflater per message
//! as `client_no_context_takeover` allows), control frames left uncompressed, and the same JSON
//! for viewers with and without the extension.

mod support;

use std::time::Duration;

use flate2::{Decompress, FlushDecompress};
use ingress::auth::{Claims, TokenKeys};
use serde_json::{Value, json};
use support::api::{SECRET, api_config, dev_server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const EXTENSION: &str =
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

async fn post(base: &str, path: &str, token: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

/// A show of 2 rows of 5 seats; returns its id and seat ids.
async fn create_show(base: &str) -> (String, Vec<String>) {
    let admin = TokenKeys::new(SECRET.as_bytes()).sign(&Claims {
        sub: uuid::Uuid::new_v4().to_string(),
        exp: chrono::Utc::now().timestamp() + 3600,
        roles: vec!["admin".into()],
        iat: None,
    });
    let venue = post(
        base,
        "/v1/admin/venues",
        &admin,
        json!({"name": "Deflate Hall", "city": "Zip", "sections": [{"sectionId": "A",
            "name": "Stalls", "priceCategory": "STANDARD", "price": 1000, "currency": "USD",
            "rows": [{"row": "R1", "seats": 5}, {"row": "R2", "seats": 5}]}]}),
    )
    .await;
    let event = post(
        base,
        "/v1/admin/events",
        &admin,
        json!({"title": "Deflate Night", "description": "x", "category": "theater",
            "city": "Zip", "venueId": venue["venueId"], "startDate": "2030-01-01",
            "endDate": "2030-01-02"}),
    )
    .await;
    let event_id = event["eventId"].as_str().unwrap();
    let show = post(
        base,
        &format!("/v1/admin/events/{event_id}/shows"),
        &admin,
        json!({"showTime": "2030-01-01T20:00:00Z"}),
    )
    .await;
    let show_id = show["showId"].as_str().unwrap().to_owned();
    let map: Value = reqwest::get(format!("{base}/v1/events/{event_id}/shows/{show_id}/seats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let seats = map["sections"]
        .as_array()
        .unwrap_or_else(|| panic!("seat map: {map}"))
        .iter()
        .flat_map(|s| s["seats"].as_array().unwrap().iter())
        .map(|s| s["seatId"].as_str().unwrap().to_owned())
        .collect();
    (show_id, seats)
}

/// A viewer on a raw socket: the handshake's response head, then frames as they come.
struct RawViewer {
    stream: TcpStream,
    buffer: Vec<u8>,
    head: String,
}

/// A frame from the server: first byte (FIN, RSV, opcode) and payload.
struct Frame {
    first: u8,
    payload: Vec<u8>,
}

impl RawViewer {
    async fn connect(base: &str, show: &str, offer: Option<&str>) -> RawViewer {
        let addr = base.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let extensions = offer
            .map(|o| format!("Sec-WebSocket-Extensions: {o}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "GET /v1/shows/{show}/seats/live HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n{extensions}\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut buffer = Vec::new();
        let end = loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            assert_ne!(stream.read_buf(&mut buffer).await.unwrap(), 0, "closed");
        };
        let head = String::from_utf8(buffer[..end].to_vec()).unwrap();
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        buffer.drain(..end);
        RawViewer {
            stream,
            buffer,
            head: head.to_ascii_lowercase(),
        }
    }

    /// The `Sec-WebSocket-Extensions` value of the response, if any.
    fn extensions(&self) -> Option<&str> {
        self.head
            .lines()
            .find_map(|l| l.strip_prefix("sec-websocket-extensions:"))
            .map(str::trim)
    }

    async fn frame(&mut self) -> Frame {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let b = &self.buffer;
                if b.len() >= 2 {
                    assert_eq!(b[1] & 0x80, 0, "server frames are unmasked");
                    let (at, len) = match b[1] & 0x7F {
                        126 if b.len() >= 4 => (4, usize::from(u16::from_be_bytes([b[2], b[3]]))),
                        127 if b.len() >= 10 => (
                            10,
                            u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize,
                        ),
                        126 | 127 => (usize::MAX, 0),
                        n => (2, usize::from(n)),
                    };
                    if at != usize::MAX && b.len() >= at + len {
                        let frame = Frame {
                            first: b[0],
                            payload: b[at..at + len].to_vec(),
                        };
                        self.buffer.drain(..at + len);
                        return frame;
                    }
                }
                assert_ne!(self.stream.read_buf(&mut self.buffer).await.unwrap(), 0);
            }
        })
        .await
        .expect("a frame within 10 s")
    }

    /// The next text message as JSON, and whether it came compressed.
    async fn message(&mut self) -> (Value, bool) {
        let frame = self.frame().await;
        assert_eq!(frame.first & 0x8F, 0x81, "a final text frame");
        assert_eq!(frame.first & 0x30, 0, "RSV2 and RSV3 stay clear");
        let compressed = frame.first & 0x40 != 0;
        let payload = if compressed {
            inflate(&frame.payload)
        } else {
            frame.payload
        };
        (serde_json::from_slice(&payload).unwrap(), compressed)
    }

    async fn send_masked(&mut self, first: u8, payload: &[u8]) {
        let mask = [1, 2, 3, 4];
        let mut out = vec![first, 0x80 | payload.len() as u8];
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&out).await.unwrap();
    }
}

/// RFC 7692 section 7.2.2: append `00 00 ff ff` and inflate with a fresh raw-deflate context.
fn inflate(compressed: &[u8]) -> Vec<u8> {
    assert!(
        !compressed.ends_with(&[0, 0, 0xFF, 0xFF]),
        "the sync tail is removed"
    );
    let mut input = compressed.to_vec();
    input.extend_from_slice(&[0, 0, 0xFF, 0xFF]);
    let mut inflater = Decompress::new(false);
    let mut out = Vec::with_capacity(64 * 1024);
    inflater
        .decompress_vec(&input, &mut out, FlushDecompress::Sync)
        .unwrap();
    assert_eq!(inflater.total_in() as usize, input.len(), "all inflated");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deflate_viewers_get_compressed_frames_and_others_the_same_json_plain() {
    let dir = std::env::temp_dir().join(format!("live-deflate-{}", uuid::Uuid::new_v4()));
    let server = dev_server(&dir, api_config(), None).await;
    let base = format!("http://{}", server.addr);
    let (show, seats) = create_show(&base).await;

    // Chromium's offer: accepted, answered with both no-context-takeover parameters.
    let mut deflate = RawViewer::connect(
        &base,
        &show,
        Some("permessage-deflate; client_max_window_bits"),
    )
    .await;
    assert_eq!(deflate.extensions(), Some(EXTENSION));
    // No offer, and an offer the server cannot meet (a smaller window): no extension.
    let mut plain = RawViewer::connect(&base, &show, None).await;
    assert_eq!(plain.extensions(), None);
    let mut declined = RawViewer::connect(
        &base,
        &show,
        Some("permessage-deflate; server_max_window_bits=9"),
    )
    .await;
    assert_eq!(declined.extensions(), None);

    let (snapshot, compressed) = deflate.message().await;
    assert!(compressed, "the snapshot is compressed");
    assert_eq!(snapshot["type"], "SNAPSHOT");
    assert_eq!(snapshot["seats"].as_array().unwrap().len(), 10);
    for viewer in [&mut plain, &mut declined] {
        assert_eq!(viewer.message().await, (snapshot.clone(), false));
    }

    let guest = reqwest::Client::new()
        .post(format!("{base}/v1/auth/guest"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let token = guest["token"]
        .as_str()
        .unwrap_or_else(|| panic!("guest token: {guest}"));
    post(
        &base,
        "/v1/bookings/hold",
        token,
        json!({"showId": show, "seatIds": [seats[3], seats[4]]}),
    )
    .await;
    let (update, compressed) = deflate.message().await;
    assert!(compressed, "updates are compressed");
    assert_eq!(update["type"], "SEAT_UPDATE");
    assert_eq!(update["fromVersion"], snapshot["version"]);
    let mut held: Vec<&str> = update["seats"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "HELD")
        .map(|s| s["seatId"].as_str().unwrap())
        .collect();
    held.sort_unstable();
    let mut expected = [seats[3].as_str(), seats[4].as_str()];
    expected.sort_unstable();
    assert_eq!(held, expected);
    assert_eq!(plain.message().await, (update.clone(), false));

    // Control frames are never compressed: a ping's pong comes back plain.
    deflate.send_masked(0x89, b"hello").await;
    let pong = deflate.frame().await;
    assert_eq!((pong.first, pong.payload.as_slice()), (0x8A, &b"hello"[..]));
    // A compressed data message is allowed on a deflate connection (it only proves life) ...
    deflate.send_masked(0xC1, &[0x02, 0x00]).await;
    deflate.send_masked(0x89, b"again").await;
    assert_eq!(deflate.frame().await.first, 0x8A);
    // ... but a compressed control frame is a protocol error (1002).
    deflate.send_masked(0xC9, b"x").await;
    let close = deflate.frame().await;
    assert_eq!(close.first, 0x88);
    assert_eq!(&close.payload[..2], &1002u16.to_be_bytes());

    server.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
