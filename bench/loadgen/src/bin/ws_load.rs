//! Live seat-map load generator for `scripts/bench ws`: against a running boxoffice API it creates
//! a show, opens many WebSocket viewers on it, changes seats through the real API (holds of four
//! seats, releases, some confirms) at a target rate, and measures:
//! - latency from a change being committed (its HTTP answer: the pipeline answers after persisting
//!   and publishing) to the frame carrying it arriving, on a sample of viewers (p50/p99; a frame
//!   that beats the answer counts as 0), and from the request being sent as an upper bound;
//! - frames delivered per second over all viewers;
//! - the server's memory per connection while updates flow (`bytes_per_conn`): the peak RSS of
//!   `<server-pid>` during the change phase (sampled every [`RSS_SAMPLE_EVERY`]) minus its RSS
//!   with one viewer before any change, per further viewer. The baseline carries no load, so
//!   whatever the server grows by under load (write queues, catch-up batches, and in dev mode the
//!   embedded pipeline) is charged to the connections: an upper bound. Until this change it was
//!   taken with all viewers connected before any update flowed; that figure is still printed as
//!   `bytes_per_conn_idle`, a diagnostic;
//! - whether every viewer's final seats equal the seat map (viewers closed with 4001 reconnect);
//! - where the time goes: the changes' HTTP round trip, each frame's age on arrival from the
//!   stream time of its newest change, the fan-out's spread over the sampled viewers, and the CPU
//!   of the processes named in `WS_LOAD_PIDS` (`name:pid,...`).
//!
//! Viewers offer permessage-deflate (RFC 7692) as browsers do; `WS_LOAD_DEFLATE=0` turns the
//! offer off to compare. A compressed message is inflated once per distinct message (a fresh
//! inflater: the server agrees to no context takeover), the other viewers byte-compare their
//! compressed copy with it, so no connection keeps an inflate context.
//!
//! Prints one line of `key=value` pairs.
//!
//! Usage: `ws_load <base-url> <auth-secret> <viewers> <changes-per-s> <seconds> <server-pid>`

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use loadgen::target::post;
use loadgen::target::{Kind as ApiKind, Target as Api};
use rand::seq::SliceRandom;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

/// Seats of the benchmark show (a 2,000-seat theatre: 40 rows of 50).
const ROWS: usize = 40;
const SEATS_PER_ROW: usize = 50;
/// Seats per hold (a family of four): every operation changes this many seats.
const SEATS_PER_OP: usize = 4;
/// Operations in flight at most.
const OPS_IN_FLIGHT_MAX: usize = 512;
/// Handshakes in flight at most while connecting viewers.
const CONNECTS_IN_FLIGHT_MAX: usize = 128;
/// Viewers whose frame arrival times are recorded for latency.
const LATENCY_SAMPLE_VIEWERS: usize = 100;
/// One hold in this many is confirmed (paid) instead of released.
const CONFIRM_EVERY: u64 = 25;

const AVAILABLE: u8 = 0;
const HELD: u8 = 1;
const BOOKED: u8 = 2;
const BLOCKED: u8 = 3;

fn status_code(word: &[u8]) -> Option<u8> {
    match word {
        b"AVAILABLE" => Some(AVAILABLE),
        b"HELD" => Some(HELD),
        b"BOOKED" => Some(BOOKED),
        b"BLOCKED" => Some(BLOCKED),
        _ => None,
    }
}

/// The layout index a seat id carries in its last four bytes (`SeatId::derive`): the last
/// eight hex digits of the UUID text.
fn seat_index(uuid: &[u8]) -> Option<u32> {
    uuid.get(28..36)?.iter().try_fold(0u32, |n, c| {
        let digit = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        Some(n << 4 | u32::from(digit))
    })
}

/// A frame's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Snapshot { version: u64 },
    Update { from: u64, version: u64 },
}

/// Parse a frame into its kind and `(seat index, status)` pairs. Fast path for the server's exact
/// layout, serde_json for anything else.
fn parse(text: &[u8], seats: &mut Vec<(u32, u8)>) -> Option<Kind> {
    seats.clear();
    parse_fast(text, seats).or_else(|| {
        seats.clear();
        parse_json(std::str::from_utf8(text).ok()?, seats)
    })
}

/// A parsed message and its bytes as received (compressed ones compressed).
struct Parsed {
    kind: Kind,
    seats: Vec<(u32, u8)>,
    bytes: Vec<u8>,
    /// Length of the JSON text.
    json_len: usize,
    /// An update's `timestamp` in Unix ms.
    at_ms: Option<i64>,
}

impl Parsed {
    fn of(text: &[u8], bytes: Vec<u8>) -> Option<Parsed> {
        let mut seats = Vec::new();
        let kind = parse(text, &mut seats)?;
        Some(Parsed {
            kind,
            seats,
            bytes,
            json_len: text.len(),
            at_ms: frame_timestamp_ms(text),
        })
    }
}

/// A permessage-deflate message's JSON: the removed `00 00 ff ff` appended, raw-inflated with a
/// fresh context (RFC 7692 section 7.2.2).
fn inflate(compressed: &[u8]) -> Option<Vec<u8>> {
    let mut input = Vec::with_capacity(compressed.len() + 4);
    input.extend_from_slice(compressed);
    input.extend_from_slice(&[0, 0, 0xFF, 0xFF]);
    let mut inflater = flate2::Decompress::new(false);
    let mut out = Vec::with_capacity(compressed.len() * 4 + 64);
    loop {
        let consumed = inflater.total_in() as usize;
        inflater
            .decompress_vec(&input[consumed..], &mut out, flate2::FlushDecompress::Sync)
            .ok()?;
        if inflater.total_in() as usize == input.len() && out.len() < out.capacity() {
            return Some(out);
        }
        out.reserve(out.capacity());
    }
}

/// Updates already parsed, by version. The server sends every viewer the same bytes, so an update
/// is parsed once and each other viewer compares its own bytes with the parsed one's (a memcmp)
/// instead of parsing 150 seats again: 10,000 viewers parsing every frame cost the client about a
/// third of a core, in the same box as the server it measures. A viewer whose bytes differ parses
/// its own.
#[derive(Default)]
struct FrameCache {
    updates: Mutex<HashMap<u64, Arc<Parsed>>>,
    /// Compressed messages (snapshots too) by [`compressed_key`], oldest first for eviction.
    compressed: Mutex<CompressedCache>,
    /// The last snapshot's size as received and as JSON.
    snapshot_bytes: Mutex<(usize, usize)>,
}

/// Parsed compressed messages by key, and the keys oldest first.
type CompressedCache = (HashMap<u64, Arc<Parsed>>, VecDeque<u64>);

/// A compressed message's cache key: its length and last 16 bytes (an update's end encodes its
/// millisecond timestamp, so two messages of the show rarely share it; a clash only costs a
/// parse, as the bytes are compared on every hit).
fn compressed_key(bytes: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bytes.len().hash(&mut hasher);
    bytes[bytes.len().saturating_sub(16)..].hash(&mut hasher);
    hasher.finish()
}

/// Versions kept in the cache: a frame reaches every viewer within well under this many frames.
const CACHED_VERSIONS: u64 = 128;

impl FrameCache {
    fn parse(&self, text: &[u8]) -> Option<Arc<Parsed>> {
        let key = update_version(text);
        if let Some(version) = key
            && let Some(hit) = self.updates.lock().unwrap().get(&version).cloned()
            && hit.bytes == text
        {
            return Some(hit);
        }
        let parsed = Arc::new(Parsed::of(text, text.to_vec())?);
        if let Some(version) = key {
            let mut updates = self.updates.lock().unwrap();
            updates.insert(version, parsed.clone());
            if updates.len() as u64 > 2 * CACHED_VERSIONS {
                updates.retain(|v, _| v + CACHED_VERSIONS >= version);
            }
        }
        Some(parsed)
    }

    /// A compressed message: inflated and parsed once, byte-compared for every other viewer.
    fn parse_compressed(&self, compressed: &[u8]) -> Option<Arc<Parsed>> {
        let key = compressed_key(compressed);
        if let Some(hit) = self.compressed.lock().unwrap().0.get(&key).cloned()
            && hit.bytes == compressed
        {
            return Some(hit);
        }
        let parsed = Arc::new(Parsed::of(&inflate(compressed)?, compressed.to_vec())?);
        let mut cache = self.compressed.lock().unwrap();
        let (by_key, order) = &mut *cache;
        if by_key.insert(key, parsed.clone()).is_none() {
            order.push_back(key);
        }
        while order.len() as u64 > 2 * CACHED_VERSIONS {
            let oldest = order.pop_front().expect("non-empty");
            by_key.remove(&oldest);
        }
        Some(parsed)
    }
}

/// An update's `version`, read from the server's exact layout (`None` for anything else).
fn update_version(b: &[u8]) -> Option<u64> {
    const UPDATE: &[u8] = b"{\"type\":\"SEAT_UPDATE\",\"fromVersion\":";
    if !b.starts_with(UPDATE) {
        return None;
    }
    let mut at = UPDATE.len();
    number(b, &mut at)?;
    expect(b, &mut at, b",\"version\":")?;
    number(b, &mut at)
}

fn parse_fast(b: &[u8], seats: &mut Vec<(u32, u8)>) -> Option<Kind> {
    const SNAPSHOT: &[u8] = b"{\"type\":\"SNAPSHOT\",\"version\":";
    const UPDATE: &[u8] = b"{\"type\":\"SEAT_UPDATE\",\"fromVersion\":";
    let (kind, mut at) = if b.starts_with(SNAPSHOT) {
        let mut at = SNAPSHOT.len();
        let version = number(b, &mut at)?;
        (Kind::Snapshot { version }, at)
    } else if b.starts_with(UPDATE) {
        let mut at = UPDATE.len();
        let from = number(b, &mut at)?;
        expect(b, &mut at, b",\"version\":")?;
        let version = number(b, &mut at)?;
        (Kind::Update { from, version }, at)
    } else {
        return None;
    };
    expect(b, &mut at, b",\"seats\":[")?;
    if b.get(at) == Some(&b']') {
        at += 1;
    } else {
        loop {
            expect(b, &mut at, b"{\"seatId\":\"")?;
            let index = seat_index(b.get(at..at + 36)?)?;
            at += 36;
            expect(b, &mut at, b"\",\"status\":\"")?;
            let end = at + b.get(at..)?.iter().position(|c| *c == b'"')?;
            let status = status_code(&b[at..end])?;
            at = end;
            expect(b, &mut at, b"\"}")?;
            seats.push((index, status));
            match b.get(at)? {
                b',' => at += 1,
                b']' => {
                    at += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    match kind {
        Kind::Snapshot { .. } => expect(b, &mut at, b"}")?,
        Kind::Update { .. } => expect(b, &mut at, b",\"timestamp\":\"")?,
    }
    Some(kind)
}

/// An update's `timestamp` (the stream time of its newest change) in Unix ms.
fn frame_timestamp_ms(b: &[u8]) -> Option<i64> {
    const KEY: &[u8] = b"\"timestamp\":\"";
    let start = b.windows(KEY.len()).rposition(|w| w == KEY)? + KEY.len();
    let len = b.get(start..)?.iter().position(|c| *c == b'"')?;
    let text = std::str::from_utf8(&b[start..start + len]).ok()?;
    Some(
        chrono::DateTime::parse_from_rfc3339(text)
            .ok()?
            .timestamp_millis(),
    )
}

fn expect(b: &[u8], at: &mut usize, literal: &[u8]) -> Option<()> {
    if b.get(*at..*at + literal.len())? == literal {
        *at += literal.len();
        Some(())
    } else {
        None
    }
}

fn number(b: &[u8], at: &mut usize) -> Option<u64> {
    let digits = b
        .get(*at..)?
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    let n = std::str::from_utf8(&b[*at..*at + digits])
        .ok()?
        .parse()
        .ok()?;
    *at += digits;
    Some(n)
}

fn parse_json(text: &str, seats: &mut Vec<(u32, u8)>) -> Option<Kind> {
    let frame: Value = serde_json::from_str(text).ok()?;
    for seat in frame["seats"].as_array()? {
        let index = seat_index(seat["seatId"].as_str()?.as_bytes())?;
        seats.push((index, status_code(seat["status"].as_str()?.as_bytes())?));
    }
    match frame["type"].as_str()? {
        "SNAPSHOT" => Some(Kind::Snapshot {
            version: frame["version"].as_u64()?,
        }),
        "SEAT_UPDATE" => Some(Kind::Update {
            from: frame["fromVersion"].as_u64()?,
            version: frame["version"].as_u64()?,
        }),
        _ => None,
    }
}

struct Show {
    event_id: String,
    show_id: String,
    /// Seat ids by layout index.
    seat_ids: Vec<String>,
}

async fn setup(http: &reqwest::Client, base: &str, secret: &str) -> Show {
    let api = Api::new(ApiKind::Boxoffice, base, secret, 8);
    let created = api
        .create_shows(1, (ROWS * SEATS_PER_ROW) as u32, SEATS_PER_ROW as u32)
        .await
        .expect("show set up")
        .remove(0);
    let (event_id, show_id) = (created.event_id, created.show_id.to_string());
    let (_, map) = seat_map(http, base, &event_id, &show_id).await;
    let mut seat_ids = vec![String::new(); map.len()];
    for (id, index, _) in map {
        seat_ids[index as usize] = id;
    }
    Show {
        event_id,
        show_id,
        seat_ids,
    }
}

/// The seat map: version and (seat id, index, status) per seat.
async fn seat_map(
    http: &reqwest::Client,
    base: &str,
    event: &str,
    show: &str,
) -> (u64, Vec<(String, u32, u8)>) {
    let map: Value = http
        .get(format!("{base}/v1/events/{event}/shows/{show}/seats"))
        .send()
        .await
        .expect("seat map")
        .json()
        .await
        .expect("seat map json");
    let seats = map["sections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["seats"].as_array().unwrap().iter())
        .map(|s| {
            let id = s["seatId"].as_str().unwrap().to_owned();
            let index = seat_index(id.as_bytes()).expect("derived seat id");
            let status = status_code(s["status"].as_str().unwrap().as_bytes()).unwrap();
            (id, index, status)
        })
        .collect();
    (map["version"].as_u64().unwrap(), seats)
}

/// CPU seconds (user + system) a process has used so far.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses and may contain spaces).
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name and state.
    (ticks(11) + ticks(12)) / CLOCK_TICKS_PER_S
}

/// `sysconf(_SC_CLK_TCK)` on Linux.
const CLOCK_TICKS_PER_S: f64 = 100.0;

/// How often the server's RSS is sampled during the change phase.
const RSS_SAMPLE_EVERY: Duration = Duration::from_millis(100);

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Run `work` and return its output with the peak RSS of `pid` seen while it ran (sampled every
/// [`RSS_SAMPLE_EVERY`], and once more at the end): memory is measured with updates flowing, when
/// connections hold queued frames and catch-up writes, not only while idle.
async fn peak_rss_during<T>(pid: u32, work: impl Future<Output = T>) -> (T, u64) {
    let mut peak = rss_bytes(pid);
    let mut tick = tokio::time::interval(RSS_SAMPLE_EVERY);
    let mut work = std::pin::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return (out, peak.max(rss_bytes(pid))),
            _ = tick.tick() => peak = peak.max(rss_bytes(pid)),
        }
    }
}

/// One viewer's state: its seats and counters, read by `main` at the end. Each viewer has its
/// own, so 10,000 viewers never contend for a lock or a counter.
#[derive(Default)]
struct Outcome {
    version: u64,
    statuses: Vec<u8>,
    gaps: u64,
    reconnects: u64,
    slow_closes: u64,
    /// (seat, status, arrival) of every change seen, for sampled viewers.
    arrivals: Vec<(u32, u8, Instant)>,
    /// (version, arrival, the frame's `timestamp` in Unix ms) of every update, for sampled
    /// viewers.
    frames: Vec<(u64, Instant, i64)>,
}

#[derive(Default)]
struct ViewerShared {
    version: AtomicU64,
    updates: AtomicU64,
    bytes: AtomicU64,
    json_bytes: AtomicU64,
    outcome: Mutex<Outcome>,
}

/// A lean WebSocket client for 10,000 viewers in one process sharing the machine with the
/// server: reads into a growing buffer (no zero-filling), takes frames as byte slices, answers
/// pings, and validates the server's framing (final unmasked text frames, continuations
/// reassembled, RSV1 only on a message's first frame once permessage-deflate was agreed). The
/// tests use tokio-tungstenite and browsers; this keeps the measuring cheap.
struct RawViewer {
    stream: tokio::net::TcpStream,
    buffer: BytesMut,
    /// The last complete text message: an unfragmented one is the received bytes themselves
    /// (no copy), fragments are joined.
    message: BytesMut,
    /// The server agreed to permessage-deflate.
    deflate: bool,
    /// The last message came compressed (RSV1 on its first frame).
    compressed: bool,
}

/// The offer a viewer makes (Chromium's).
const DEFLATE_OFFER: &str = "permessage-deflate; client_max_window_bits";

/// A message from the server.
enum Incoming {
    /// A complete text message (in `RawViewer::message`).
    Text,
    /// A close frame and its code.
    Close(Option<u16>),
}

impl RawViewer {
    async fn connect(addr: &str, path: &str, offer_deflate: bool) -> std::io::Result<RawViewer> {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let key = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            rand::random::<[u8; 16]>(),
        );
        let extensions = if offer_deflate {
            format!("Sec-WebSocket-Extensions: {DEFLATE_OFFER}\r\n")
        } else {
            String::new()
        };
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extensions}\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut buffer = BytesMut::with_capacity(8 * 1024);
        let end = loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            if stream.read_buf(&mut buffer).await? == 0 {
                return Err(std::io::Error::other("closed during the handshake"));
            }
        };
        let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
        let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
        if !head.starts_with("http/1.1 101")
            || !head.contains(&format!(
                "sec-websocket-accept: {}",
                accept.to_ascii_lowercase()
            ))
        {
            return Err(std::io::Error::other(format!("refused: {head}")));
        }
        let agreed = head
            .lines()
            .find_map(|l| l.strip_prefix("sec-websocket-extensions:"))
            .map(str::trim);
        let deflate =
            match agreed {
                None => false,
                Some(
                    "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
                ) if offer_deflate => true,
                Some(other) => {
                    return Err(std::io::Error::other(format!(
                        "unexpected extensions: {other}"
                    )));
                }
            };
        let _ = buffer.split_to(end);
        Ok(RawViewer {
            stream,
            buffer,
            message: BytesMut::new(),
            deflate,
            compressed: false,
        })
    }

    /// The next text message or close; `None` when the connection ended.
    async fn next(&mut self) -> std::io::Result<Option<Incoming>> {
        loop {
            while let Some((first, header, len)) = self.frame_bounds()? {
                let mut frame = self.buffer.split_to(header + len);
                let (fin, opcode) = (first & 0x80 != 0, first & 0x0F);
                if opcode == 0x1 {
                    self.compressed = first & 0x40 != 0;
                }
                if opcode == 0x1 && fin {
                    self.message = frame.split_off(header);
                    return Ok(Some(Incoming::Text));
                }
                let payload = &frame[header..];
                match opcode {
                    0x1 | 0x0 => {
                        if opcode == 0x1 {
                            self.message.clear();
                        }
                        self.message.extend_from_slice(payload);
                        if fin {
                            return Ok(Some(Incoming::Text));
                        }
                    }
                    0x8 => {
                        let code = (payload.len() >= 2)
                            .then(|| u16::from_be_bytes([payload[0], payload[1]]));
                        return Ok(Some(Incoming::Close(code)));
                    }
                    0x9 => self.pong(payload).await?,
                    0xA => {}
                    other => return Err(std::io::Error::other(format!("opcode {other}"))),
                }
            }
            if self.stream.read_buf(&mut self.buffer).await? == 0 {
                return Ok(None);
            }
        }
    }

    /// (first byte, header length, payload length) of a complete frame at the buffer's start.
    fn frame_bounds(&mut self) -> std::io::Result<Option<(u8, usize, usize)>> {
        let b = &self.buffer[..];
        if b.len() < 2 {
            return Ok(None);
        }
        let compressed_text = self.deflate && b[0] & 0x4F == 0x41;
        if b[1] & 0x80 != 0 || (b[0] & 0x70 != 0 && !compressed_text) {
            return Err(std::io::Error::other(
                "server frames are unmasked, RSV1 only on a compressed message's first frame",
            ));
        }
        let (header, len) = match b[1] & 0x7F {
            126 if b.len() >= 4 => (4, usize::from(u16::from_be_bytes([b[2], b[3]]))),
            127 if b.len() >= 10 => (
                10,
                u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize,
            ),
            126 | 127 => return Ok(None),
            n => (2, usize::from(n)),
        };
        if b.len() < header + len {
            self.buffer.reserve(header + len - b.len());
            return Ok(None);
        }
        Ok(Some((b[0], header, len)))
    }

    async fn pong(&mut self, payload: &[u8]) -> std::io::Result<()> {
        let mask: [u8; 4] = rand::random();
        let mut frame = vec![0x8A, 0x80 | payload.len() as u8];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame).await
    }
}

/// Where viewers connect and whether they offer permessage-deflate.
struct Target {
    addr: String,
    path: String,
    offer_deflate: bool,
}

/// Follow the show until aborted, reconnecting after a close (4001 included) or a gap.
async fn viewer(
    target: Arc<Target>,
    sample: bool,
    shared: Arc<ViewerShared>,
    snapshots: Arc<AtomicUsize>,
    connects: Arc<Semaphore>,
    cache: Arc<FrameCache>,
) {
    let mut first = true;
    'connection: loop {
        let permit = connects.acquire().await.expect("semaphore");
        let connected = RawViewer::connect(&target.addr, &target.path, target.offer_deflate).await;
        drop(permit);
        let mut ws = match connected {
            Ok(ws) => ws,
            Err(e) => {
                eprintln!("viewer connect failed: {e}");
                shared.outcome.lock().unwrap().reconnects += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let mut have_snapshot = false;
        loop {
            match ws.next().await {
                Ok(Some(Incoming::Text)) => {}
                Ok(Some(Incoming::Close(code))) => {
                    let mut out = shared.outcome.lock().unwrap();
                    if code == Some(4001) {
                        out.slow_closes += 1;
                    }
                    out.reconnects += 1;
                    continue 'connection;
                }
                Ok(None) | Err(_) => break,
            }
            let arrived = Instant::now();
            let text = &ws.message;
            let parsed = if ws.compressed {
                cache.parse_compressed(text)
            } else {
                cache.parse(text)
            };
            let parsed = parsed.unwrap_or_else(|| {
                panic!(
                    "unparseable frame: {}",
                    String::from_utf8_lossy(&text[..text.len().min(200)])
                )
            });
            let mut out = shared.outcome.lock().unwrap();
            match parsed.kind {
                Kind::Snapshot { version } => {
                    *cache.snapshot_bytes.lock().unwrap() = (text.len(), parsed.json_len);
                    out.statuses.fill(AVAILABLE);
                    for (index, status) in &parsed.seats {
                        out.statuses[*index as usize] = *status;
                    }
                    out.version = version;
                    have_snapshot = true;
                    if first {
                        first = false;
                        snapshots.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Kind::Update { from, version } => {
                    if !have_snapshot || from != out.version {
                        out.gaps += 1;
                        continue 'connection;
                    }
                    for (index, status) in &parsed.seats {
                        out.statuses[*index as usize] = *status;
                        if sample {
                            out.arrivals.push((*index, *status, arrived));
                        }
                    }
                    if sample && let Some(at) = parsed.at_ms {
                        out.frames.push((version, arrived, at));
                    }
                    out.version = version;
                    shared.updates.fetch_add(1, Ordering::Relaxed);
                    shared.bytes.fetch_add(text.len() as u64, Ordering::Relaxed);
                    shared
                        .json_bytes
                        .fetch_add(parsed.json_len as u64, Ordering::Relaxed);
                }
            }
            shared.version.store(out.version, Ordering::Release);
        }
        shared.outcome.lock().unwrap().reconnects += 1;
    }
}

/// One committed seat change as the writer saw it.
#[derive(Clone, Copy)]
struct Change {
    seat: u32,
    status: u8,
    sent: Instant,
    answered: Instant,
}

/// The writer's view of the show: free seats, active holds.
struct Pool {
    free: VecDeque<u32>,
    /// (hold id, seats, user, whether it ends confirmed)
    holds: VecDeque<(String, Vec<u32>, usize, bool)>,
    holds_issued: u64,
}

#[derive(Clone)]
struct Writer {
    http: reqwest::Client,
    base: String,
    show: Arc<Show>,
    tokens: Arc<Vec<String>>,
    pool: Arc<Mutex<Pool>>,
    log: Arc<Mutex<Vec<Change>>>,
    errors: Arc<AtomicUsize>,
}

impl Writer {
    fn record(&self, seats: &[u32], status: u8, sent: Instant) {
        let answered = Instant::now();
        let mut log = self.log.lock().unwrap();
        for seat in seats {
            log.push(Change {
                seat: *seat,
                status,
                sent,
                answered,
            });
        }
    }

    fn failed(&self, what: &str, status: u16, body: &Value) {
        if self.errors.fetch_add(1, Ordering::Relaxed) < 5 {
            eprintln!("{what} failed: {status} {body}");
        }
    }

    /// One operation: hold [`SEATS_PER_OP`] free seats while fewer than `target_holds` holds are active,
    /// otherwise end the oldest hold (release, or confirm one in [`CONFIRM_EVERY`]).
    async fn step(self, target_holds: usize) {
        enum Op {
            Hold(Vec<u32>, usize, bool),
            End(String, Vec<u32>, usize, bool),
        }
        let op = {
            let mut pool = self.pool.lock().unwrap();
            if pool.holds.len() < target_holds && pool.free.len() >= SEATS_PER_OP {
                let seats: Vec<u32> = pool.free.drain(..SEATS_PER_OP).collect();
                pool.holds_issued += 1;
                let user = pool.holds_issued as usize % self.tokens.len();
                Op::Hold(seats, user, pool.holds_issued.is_multiple_of(CONFIRM_EVERY))
            } else if let Some((hold, seats, user, confirm)) = pool.holds.pop_front() {
                Op::End(hold, seats, user, confirm)
            } else {
                return;
            }
        };
        let sent = Instant::now();
        match op {
            Op::Hold(seats, user, confirm) => {
                let ids: Vec<&str> = seats
                    .iter()
                    .map(|s| self.show.seat_ids[*s as usize].as_str())
                    .collect();
                let (status, body) = post(
                    &self.http,
                    format!("{}/v1/bookings/hold", self.base),
                    &self.tokens[user],
                    json!({"showId": self.show.show_id, "seatIds": ids}),
                )
                .await;
                let mut pool = self.pool.lock().unwrap();
                if status == 201 {
                    self.record(&seats, HELD, sent);
                    let hold = body["holdId"].as_str().unwrap_or_default().to_owned();
                    pool.holds.push_back((hold, seats, user, confirm));
                } else {
                    pool.free.extend(seats);
                    drop(pool);
                    self.failed("hold", status, &body);
                }
            }
            Op::End(hold, seats, user, confirm) => {
                let token = &self.tokens[user];
                let (status, body, after) = if confirm {
                    let (status, body) = post(
                        &self.http,
                        format!("{}/v1/bookings/confirm", self.base),
                        token,
                        json!({"holdId": hold, "paymentMethodId": "pm_card_visa"}),
                    )
                    .await;
                    (status, body, BOOKED)
                } else {
                    let response = self
                        .http
                        .delete(format!("{}/v1/bookings/holds/{hold}", self.base))
                        .bearer_auth(token)
                        .send()
                        .await;
                    match response {
                        Ok(r) => (r.status().as_u16(), Value::Null, AVAILABLE),
                        Err(e) => (0, json!(e.to_string()), AVAILABLE),
                    }
                };
                if (200..300).contains(&status) {
                    self.record(&seats, after, sent);
                    if after == AVAILABLE {
                        self.pool.lock().unwrap().free.extend(seats);
                    }
                } else {
                    self.failed(if confirm { "confirm" } else { "release" }, status, &body);
                }
            }
        }
    }
}

/// Drive `changes_per_s` seat changes for `seconds`; returns how many operations were issued.
async fn write_changes(
    writer: Writer,
    changes_per_s: f64,
    seconds: f64,
    target_holds: usize,
) -> u64 {
    let ops_per_s = changes_per_s / SEATS_PER_OP as f64;
    let in_flight = Arc::new(Semaphore::new(OPS_IN_FLIGHT_MAX));
    let started = Instant::now();
    let mut issued = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    while started.elapsed().as_secs_f64() < seconds {
        tick.tick().await;
        let due = (started.elapsed().as_secs_f64() * ops_per_s) as u64;
        while issued < due {
            let permit = in_flight.clone().acquire_owned().await.expect("semaphore");
            let writer = writer.clone();
            tokio::spawn(async move {
                writer.step(target_holds).await;
                drop(permit);
            });
            issued += 1;
        }
    }
    let _ = in_flight.acquire_many(OPS_IN_FLIGHT_MAX as u32).await;
    issued
}

/// Latencies (ms) from each change's answer (and from its request) to its arrival at each
/// sampled viewer, and how many changes a viewer never saw as such (coalesced away: a seat held
/// and released within one window shows only as available).
///
/// Per seat, what a viewer sees is the seat's change sequence with coalesced changes left out,
/// so the two sequences are matched in order.
fn latencies(changes: &[Change], samples: &[&Outcome]) -> (Vec<f64>, Vec<f64>, usize) {
    let mut by_seat: HashMap<u32, Vec<Change>> = HashMap::new();
    for change in changes {
        by_seat.entry(change.seat).or_default().push(*change);
    }
    for list in by_seat.values_mut() {
        list.sort_by_key(|c| c.sent);
    }
    let (mut from_answer, mut from_request, mut unseen) = (Vec::new(), Vec::new(), 0);
    for viewer in samples {
        let mut seen: HashMap<u32, Vec<(u8, Instant)>> = HashMap::new();
        for (seat, status, at) in &viewer.arrivals {
            seen.entry(*seat).or_default().push((*status, *at));
        }
        for (seat, list) in &by_seat {
            let arrivals = seen.get(seat).map_or(&[][..], Vec::as_slice);
            let mut next = 0;
            for change in list {
                match arrivals.get(next) {
                    Some((status, at)) if *status == change.status && *at >= change.sent => {
                        from_answer.push(
                            at.saturating_duration_since(change.answered).as_secs_f64() * 1e3,
                        );
                        from_request.push(at.duration_since(change.sent).as_secs_f64() * 1e3);
                        next += 1;
                    }
                    _ => unseen += 1,
                }
            }
        }
    }
    (from_answer, from_request, unseen)
}

/// Where the time goes, in ms, each list sorted: the change's HTTP round trip (request to
/// answer: the command logged, decided, persisted, answered), a frame's age on arrival (from the
/// stream time of its newest change, in wall-clock time) and how much later than the first
/// sampled viewer each sampled viewer got a frame (the fan-out's spread).
struct Breakdown {
    answer: Vec<f64>,
    frame_age: Vec<f64>,
    spread: Vec<f64>,
}

fn breakdown(changes: &[Change], samples: &[&Outcome], clock: (Instant, i64)) -> Breakdown {
    let wall_ms = |at: Instant| clock.1 as f64 + at.duration_since(clock.0).as_secs_f64() * 1e3;
    let mut answer: Vec<f64> = changes
        .iter()
        .map(|c| c.answered.duration_since(c.sent).as_secs_f64() * 1e3)
        .collect();
    let mut first: HashMap<u64, Instant> = HashMap::new();
    let mut frame_age = Vec::new();
    for viewer in samples {
        for (version, arrived, at) in &viewer.frames {
            frame_age.push(wall_ms(*arrived) - *at as f64);
            let earliest = first.entry(*version).or_insert(*arrived);
            *earliest = (*earliest).min(*arrived);
        }
    }
    let mut spread: Vec<f64> = samples
        .iter()
        .flat_map(|v| v.frames.iter())
        .map(|(version, arrived, _)| arrived.duration_since(first[version]).as_secs_f64() * 1e3)
        .collect();
    for list in [&mut answer, &mut frame_age, &mut spread] {
        list.sort_by(f64::total_cmp);
    }
    Breakdown {
        answer,
        frame_age,
        spread,
    }
}

/// CPU seconds of the processes named in `WS_LOAD_PIDS` (`name:pid,...`, e.g. the processor,
/// NATS and Cassandra), so the report shows who shared the cores.
fn other_cpu_seconds() -> Vec<(String, f64)> {
    std::env::var("WS_LOAD_PIDS")
        .unwrap_or_default()
        .split(',')
        .filter_map(|entry| entry.split_once(':'))
        .map(|(name, pid)| (name.to_owned(), cpu_seconds(pid)))
        .collect()
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 * q).ceil() as usize).saturating_sub(1))
        .copied()
        .unwrap_or(0.0)
}

#[tokio::main]
async fn main() {
    let clock = (Instant::now(), chrono::Utc::now().timestamp_millis());
    let args: Vec<String> = std::env::args().collect();
    let [_, base, secret, viewers, rate, seconds, pid] = args.as_slice() else {
        eprintln!(
            "usage: ws_load <base-url> <auth-secret> <viewers> <changes-per-s> <seconds> <server-pid>"
        );
        std::process::exit(2);
    };
    let viewers: usize = viewers.parse().expect("viewers");
    let rate: f64 = rate.parse().expect("changes per second");
    let seconds: f64 = seconds.parse().expect("seconds");
    let pid: u32 = pid.parse().expect("server pid");
    let offer_deflate = std::env::var("WS_LOAD_DEFLATE").map_or(true, |v| v != "0");
    let http = reqwest::Client::new();
    let show = Arc::new(setup(&http, base, secret).await);
    let seats = show.seat_ids.len();
    let addr = base.trim_start_matches("http://").to_owned();
    let path = format!("/v1/shows/{}/seats/live", show.show_id);

    // Connect: one viewer first (the show's follower, its snapshot), then the rest.
    let snapshots = Arc::new(AtomicUsize::new(0));
    let connects = Arc::new(Semaphore::new(CONNECTS_IN_FLIGHT_MAX));
    let cache = Arc::new(FrameCache::default());
    let sample_every = (viewers / LATENCY_SAMPLE_VIEWERS).max(1);
    let shared: Vec<Arc<ViewerShared>> = (0..viewers)
        .map(|_| {
            Arc::new(ViewerShared {
                outcome: Mutex::new(Outcome {
                    statuses: vec![AVAILABLE; seats],
                    ..Outcome::default()
                }),
                ..ViewerShared::default()
            })
        })
        .collect();
    let target = Arc::new(Target {
        addr: addr.clone(),
        path: path.clone(),
        offer_deflate,
    });
    let spawn_viewer = |i: usize| {
        tokio::spawn(viewer(
            target.clone(),
            i.is_multiple_of(sample_every),
            shared[i].clone(),
            snapshots.clone(),
            connects.clone(),
            cache.clone(),
        ))
    };
    let mut tasks = vec![spawn_viewer(0)];
    while snapshots.load(Ordering::Relaxed) < 1 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_one = rss_bytes(pid);
    let connecting = Instant::now();
    tasks.extend((1..viewers).map(spawn_viewer));
    while snapshots.load(Ordering::Relaxed) < viewers {
        if connecting.elapsed() > Duration::from_secs(300) {
            panic!(
                "only {} of {viewers} viewers got a snapshot in 300 s",
                snapshots.load(Ordering::Relaxed)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let connect_s = connecting.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_all = rss_bytes(pid);
    let per_conn = |rss: u64| rss.saturating_sub(rss_one) / (viewers.max(2) - 1) as u64;
    let bytes_per_conn_idle = per_conn(rss_all);
    eprintln!(
        "{viewers} viewers connected in {connect_s:.1} s; server RSS {} MiB with one viewer, {} MiB with all ({bytes_per_conn_idle} B per connection before any update)",
        rss_one >> 20,
        rss_all >> 20
    );
    let sum = |counter: fn(&ViewerShared) -> &AtomicU64| -> u64 {
        shared
            .iter()
            .map(|v| counter(v).load(Ordering::Relaxed))
            .sum()
    };

    // Change seats at the target rate through the real API.
    let mut tokens = Vec::new();
    for _ in 0..64 {
        let guest: Value = http
            .post(format!("{base}/v1/auth/guest"))
            .send()
            .await
            .expect("guest")
            .json()
            .await
            .expect("guest json");
        tokens.push(guest["token"].as_str().expect("token").to_owned());
    }
    let mut free: Vec<u32> = (0..seats as u32).collect();
    free.shuffle(&mut rand::rng());
    let writer = Writer {
        http: http.clone(),
        base: base.clone(),
        show: show.clone(),
        tokens: Arc::new(tokens),
        pool: Arc::new(Mutex::new(Pool {
            free: free.into(),
            holds: VecDeque::new(),
            holds_issued: 0,
        })),
        log: Arc::new(Mutex::new(Vec::new())),
        errors: Arc::new(AtomicUsize::new(0)),
    };
    let updates_before = sum(|v| &v.updates);
    let bytes_before = sum(|v| &v.bytes);
    let json_bytes_before = sum(|v| &v.json_bytes);
    let (server_cpu_before, own_cpu_before) = (cpu_seconds(&pid.to_string()), cpu_seconds("self"));
    let others_before = other_cpu_seconds();
    let started = Instant::now();
    let target_holds = seats / SEATS_PER_OP / 4;
    let (ops, rss_peak) = peak_rss_during(
        pid,
        write_changes(writer.clone(), rate, seconds, target_holds),
    )
    .await;
    let bytes_per_conn = per_conn(rss_peak);
    let elapsed = started.elapsed().as_secs_f64();
    let updates = sum(|v| &v.updates) - updates_before;
    let bytes = sum(|v| &v.bytes) - bytes_before;
    let json_bytes = sum(|v| &v.json_bytes) - json_bytes_before;
    let changes = writer.log.lock().unwrap().clone();
    let snapshot_bytes = *cache.snapshot_bytes.lock().unwrap();
    let server_cpu = cpu_seconds(&pid.to_string()) - server_cpu_before;
    let own_cpu = cpu_seconds("self") - own_cpu_before;
    let others: String = other_cpu_seconds()
        .iter()
        .zip(&others_before)
        .map(|((name, after), (_, before))| {
            format!(" cpu_{name}_pct={:.0}", (after - before) / elapsed * 100.0)
        })
        .collect();

    // Settle, then every viewer must reach the seat map's version with the same seats.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (version, truth) = seat_map(&http, base, &show.event_id, &show.show_id).await;
    let mut truth_by_index = vec![AVAILABLE; seats];
    for (_, index, status) in &truth {
        truth_by_index[*index as usize] = *status;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while shared
        .iter()
        .any(|v| v.version.load(Ordering::Acquire) < version)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for task in &tasks {
        task.abort();
    }
    let outcomes: Vec<Outcome> = shared
        .iter()
        .map(|v| std::mem::take(&mut *v.outcome.lock().unwrap()))
        .collect();
    let converged = outcomes
        .iter()
        .filter(|o| o.version == version && o.statuses == truth_by_index)
        .count();
    let gaps: u64 = outcomes.iter().map(|o| o.gaps).sum();
    let slow: u64 = outcomes.iter().map(|o| o.slow_closes).sum();
    let reconnects: u64 = outcomes.iter().map(|o| o.reconnects).sum();
    let samples: Vec<&Outcome> = outcomes.iter().filter(|o| !o.arrivals.is_empty()).collect();
    let (mut from_answer, mut from_request, unseen) = latencies(&changes, &samples);
    from_answer.sort_by(f64::total_cmp);
    from_request.sort_by(f64::total_cmp);
    let parts = breakdown(&changes, &samples, clock);
    let booked = truth_by_index.iter().filter(|s| **s == BOOKED).count();
    println!(
        "viewers={viewers} seats={seats} connect_s={connect_s:.1} ops={ops} changes={} \
         changes_per_s={:.0} errors={} frames_per_s={:.0} mb_per_s={:.1} deflate={} \
         frame_bytes_avg={} json_bytes_avg={} json_mb_per_s={:.1} snapshot_bytes={} \
         snapshot_json_bytes={} \
         p50_ms={:.1} p99_ms={:.1} max_ms={:.1} p99_from_request_ms={:.1} latency_samples={} \
         unseen={unseen} rss_one_viewer_mb={} rss_all_viewers_mb={} rss_peak_mb={} \
         bytes_per_conn={bytes_per_conn} bytes_per_conn_idle={bytes_per_conn_idle} gaps={gaps} slow_closes={slow} reconnects={reconnects} \
         server_cpu_pct={:.0} client_cpu_pct={:.0} server_cpu_us_per_frame={:.1} \
         answer_p50_ms={:.1} answer_p99_ms={:.1} frame_age_p50_ms={:.1} frame_age_p99_ms={:.1} \
         spread_p50_ms={:.1} spread_p99_ms={:.1}{others} \
         booked={booked} version={version} converged={converged}/{viewers}",
        changes.len(),
        changes.len() as f64 / elapsed,
        writer.errors.load(Ordering::Relaxed),
        updates as f64 / elapsed,
        bytes as f64 / elapsed / 1e6,
        if offer_deflate { "on" } else { "off" },
        bytes / updates.max(1),
        json_bytes / updates.max(1),
        json_bytes as f64 / elapsed / 1e6,
        snapshot_bytes.0,
        snapshot_bytes.1,
        quantile(&from_answer, 0.50),
        quantile(&from_answer, 0.99),
        from_answer.last().copied().unwrap_or(0.0),
        quantile(&from_request, 0.99),
        from_answer.len(),
        rss_one >> 20,
        rss_all >> 20,
        rss_peak >> 20,
        server_cpu / elapsed * 100.0,
        own_cpu / elapsed * 100.0,
        server_cpu * 1e6 / (updates.max(1)) as f64,
        quantile(&parts.answer, 0.50),
        quantile(&parts.answer, 0.99),
        quantile(&parts.frame_age, 0.50),
        quantile(&parts.frame_age, 0.99),
        quantile(&parts.spread, 0.50),
        quantile(&parts.spread, 0.99),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frame_cache_reuses_a_parse_only_for_identical_bytes() {
        let seat = "0a1b2c3d-0000-8000-8000-00000000002a";
        let frame = |status: &str| {
            format!(
                "{{\"type\":\"SEAT_UPDATE\",\"fromVersion\":4,\"version\":5,\"seats\":[{{\"seatId\":\"{seat}\",\"status\":\"{status}\"}}],\"timestamp\":\"2030-01-01T00:00:00.250Z\"}}"
            )
        };
        let cache = FrameCache::default();
        let held = cache.parse(frame("HELD").as_bytes()).unwrap();
        let again = cache.parse(frame("HELD").as_bytes()).unwrap();
        assert!(Arc::ptr_eq(&held, &again), "same bytes: parsed once");
        let other = cache.parse(frame("BOOKED").as_bytes()).unwrap();
        assert_eq!(
            other.seats,
            vec![(42, BOOKED)],
            "same version, other bytes: own parse"
        );
        assert_eq!(
            frame_timestamp_ms(frame("HELD").as_bytes()),
            Some(1_893_456_000_250)
        );
    }

    /// `text` as the server sends it under permessage-deflate.
    fn deflated(text: &[u8]) -> Vec<u8> {
        let mut compressor = flate2::Compress::new(flate2::Compression::default(), false);
        let mut out = Vec::with_capacity(text.len() + 64);
        compressor
            .compress_vec(text, &mut out, flate2::FlushCompress::Sync)
            .unwrap();
        assert!(out.ends_with(&[0, 0, 0xFF, 0xFF]));
        out.truncate(out.len() - 4);
        out
    }

    #[test]
    fn compressed_messages_are_inflated_once_and_compared_byte_for_byte() {
        let seat = "0a1b2c3d-0000-8000-8000-00000000002a";
        let frame = |status: &str, ms: u32| {
            format!(
                "{{\"type\":\"SEAT_UPDATE\",\"fromVersion\":4,\"version\":5,\"seats\":[{{\"seatId\":\"{seat}\",\"status\":\"{status}\"}}],\"timestamp\":\"2030-01-01T00:00:00.{ms:03}Z\"}}"
            )
        };
        let cache = FrameCache::default();
        let held = deflated(frame("HELD", 250).as_bytes());
        let first = cache.parse_compressed(&held).unwrap();
        assert_eq!(first.seats, vec![(42, HELD)]);
        assert_eq!(first.at_ms, Some(1_893_456_000_250));
        assert_eq!(first.json_len, frame("HELD", 250).len());
        let again = cache.parse_compressed(&held.clone()).unwrap();
        assert!(Arc::ptr_eq(&first, &again), "same bytes: inflated once");
        let booked = cache
            .parse_compressed(&deflated(frame("BOOKED", 251).as_bytes()))
            .unwrap();
        assert_eq!(booked.seats, vec![(42, BOOKED)]);
        let snapshot = format!(
            "{{\"type\":\"SNAPSHOT\",\"version\":3,\"seats\":[{{\"seatId\":\"{seat}\",\"status\":\"HELD\"}}]}}"
        );
        let parsed = cache
            .parse_compressed(&deflated(snapshot.as_bytes()))
            .unwrap();
        assert_eq!(parsed.kind, Kind::Snapshot { version: 3 });
        assert!(
            cache.parse_compressed(b"\xff\xff\xff").is_none(),
            "not deflate"
        );
    }

    #[test]
    fn the_fast_parser_reads_the_server_frames_and_agrees_with_json() {
        let seat = "0a1b2c3d-0000-8000-8000-00000000002a";
        let snapshot = format!(
            "{{\"type\":\"SNAPSHOT\",\"version\":12,\"seats\":[{{\"seatId\":\"{seat}\",\"status\":\"HELD\"}}]}}"
        );
        let update = format!(
            "{{\"type\":\"SEAT_UPDATE\",\"fromVersion\":12,\"version\":15,\"seats\":[{{\"seatId\":\"{seat}\",\"status\":\"BOOKED\"}},{{\"seatId\":\"{seat}\",\"status\":\"AVAILABLE\"}}],\"timestamp\":\"2030-01-01T00:00:00.000Z\"}}"
        );
        let empty = "{\"type\":\"SEAT_UPDATE\",\"fromVersion\":15,\"version\":16,\"seats\":[],\"timestamp\":\"2030-01-01T00:00:00.000Z\"}";
        for (text, kind, seats) in [
            (
                snapshot.as_str(),
                Kind::Snapshot { version: 12 },
                vec![(42, HELD)],
            ),
            (
                update.as_str(),
                Kind::Update {
                    from: 12,
                    version: 15,
                },
                vec![(42, BOOKED), (42, AVAILABLE)],
            ),
            (
                empty,
                Kind::Update {
                    from: 15,
                    version: 16,
                },
                vec![],
            ),
        ] {
            let mut fast = Vec::new();
            assert_eq!(parse_fast(text.as_bytes(), &mut fast), Some(kind), "{text}");
            assert_eq!(fast, seats);
            let mut slow = Vec::new();
            parse_json(text, &mut slow).unwrap();
            assert_eq!(slow, seats);
        }
        let mut seats = Vec::new();
        let spaced = "{ \"type\": \"SNAPSHOT\", \"version\": 3, \"seats\": [] }";
        assert_eq!(
            parse(spaced.as_bytes(), &mut seats),
            Some(Kind::Snapshot { version: 3 })
        );
    }
}
