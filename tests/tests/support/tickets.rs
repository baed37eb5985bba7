//! Support for the ticket, check-in, cancellation and payment suites: dev servers with chosen
//! after-sale settings (ticket keys, reconciler period, payment faults), shows at chosen times,
//! booking and waiting for tickets over HTTP, QR decoding, the sandbox's journal read after a
//! server stopped, and `boxoffice dev` in a child process that can be killed with SIGKILL.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use fulfilment::FulfilmentConfig;
use fulfilment::dev::DevSettings;
use ingress::config::ApiConfig;
use payments::{FaultArgs, SandboxConfig, SandboxProvider};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use super::api::{Answer, Api, TestShow, api_config, dev_server};

/// After-sale settings for tests: a fast reconciler, no faults.
pub fn settings() -> DevSettings {
    DevSettings {
        fulfilment: FulfilmentConfig {
            reconcile_interval_s: 1,
            ..FulfilmentConfig::default()
        },
        payment_faults: FaultArgs::default(),
    }
}

/// A key ring entry `"<id>:<base64 of 32 bytes derived from seed>"`.
pub fn key_entry(id: &str, seed: u8) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    // 33 bytes (at least 32 are required) -> 44 base64 characters, no padding; every byte
    // equal to `seed` keeps this free of an encoder dependency.
    let bytes = [seed; 33];
    let mut text = String::new();
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16) | (u32::from(chunk[1]) << 8) | u32::from(chunk[2]);
        for shift in [18, 12, 6, 0] {
            text.push(ALPHABET[((n >> shift) & 63) as usize] as char);
        }
    }
    format!("{id}:{text}")
}

/// A fresh dev server with `after_sale` settings and adjusted API settings; its data dir is
/// `api.dir`.
pub async fn start(after_sale: DevSettings, tweak: impl FnOnce(&mut ApiConfig)) -> Api {
    Api::start_dev(Some(after_sale), tweak).await
}

/// Stop `api`'s server and start a new one over the same data dir with other settings.
pub async fn restart_with(api: &mut Api, after_sale: DevSettings) {
    api.restart_dev(Some(after_sale)).await;
}

/// RFC 3339 of `now + offset`.
pub fn in_from_now(offset: chrono::Duration) -> String {
    (Utc::now() + offset).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A venue of one section with `rows` x `seats_per_row` at 1000 USD cents each, an event, and a
/// show at `show_time` on sale now.
pub async fn create_show_at(
    api: &Api,
    show_time: &str,
    rows: usize,
    seats_per_row: u32,
) -> TestShow {
    let rows: Vec<Value> = (0..rows)
        .map(|r| json!({"row": format!("R{r}"), "seats": seats_per_row}))
        .collect();
    api.create_show_from(
        json!({"name": "Gate Hall", "city": "Gateville", "sections": [
            {"sectionId": "A", "name": "Stalls", "priceCategory": "STANDARD",
             "price": 1000, "currency": "USD", "rows": rows}]}),
        json!({"title": "Ticket Night", "description": "Tickets for tests",
               "category": "concerts", "city": "Gateville",
               "startDate": "2026-01-01", "endDate": "2035-12-31"}),
        json!({"showTime": show_time}),
    )
    .await
}

/// A show a week from now.
pub async fn create_show(api: &Api, rows: usize, seats_per_row: u32) -> TestShow {
    create_show_at(
        api,
        &in_from_now(chrono::Duration::days(7)),
        rows,
        seats_per_row,
    )
    .await
}

/// Hold `seats` and confirm with `method`; returns the confirm answer.
pub async fn book(api: &Api, token: &str, show: &TestShow, seats: &[&str], method: &str) -> Answer {
    let hold = api.held(token, show, seats).await;
    api.confirm(token, &hold, method, None).await
}

/// Book and expect success; returns the booking id.
pub async fn booked(api: &Api, token: &str, show: &TestShow, seats: &[&str]) -> String {
    let confirm = book(api, token, show, seats, "pm_card_visa").await;
    assert_eq!(confirm.status, StatusCode::CREATED, "{confirm:?}");
    confirm.body["bookingId"].as_str().unwrap().to_owned()
}

/// Poll the booking until it lists `count` tickets; returns them and how long it took.
pub async fn wait_tickets(
    api: &Api,
    token: &str,
    booking: &str,
    count: usize,
) -> (Vec<Value>, Duration) {
    let started = Instant::now();
    loop {
        let answer = api
            .get(&format!("/v1/bookings/{booking}"), Some(token))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
        let tickets = answer.body["tickets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if tickets.len() >= count {
            return (tickets, started.elapsed());
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "tickets not issued within 5 s: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A token with the `staff` role.
pub fn staff(api: &Api) -> String {
    api.token(Uuid::new_v4(), &["staff"], 3600)
}

/// POST /v1/checkin.
pub async fn check_in(api: &Api, token: &str, code: &str, gate: Option<&str>) -> Answer {
    let mut body = json!({ "code": code });
    if let Some(gate) = gate {
        body["gate"] = json!(gate);
    }
    api.post("/v1/checkin", Some(token), body).await
}

/// DELETE /v1/bookings/{id}.
pub async fn cancel(api: &Api, token: &str, booking: &str, key: Option<&str>) -> Answer {
    api.call(
        Method::DELETE,
        &format!("/v1/bookings/{booking}"),
        Some(token),
        key,
        None,
    )
    .await
}

/// GET raw bytes (status, content type, body).
pub async fn get_bytes(api: &Api, path: &str, token: &str) -> (StatusCode, String, Vec<u8>) {
    let response = api
        .http
        .get(format!("{}{path}", api.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("request sent");
    let status = response.status();
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, kind, response.bytes().await.unwrap().to_vec())
}

/// The contents of every QR symbol in a PNG.
pub fn decode_png_qr(png_bytes: &[u8]) -> Vec<String> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().expect("PNG header");
    let mut buffer = vec![0u8; reader.output_buffer_size().expect("size")];
    let frame = reader.next_frame(&mut buffer).expect("PNG frame");
    let (width, height) = (frame.width as usize, frame.height as usize);
    let channels = frame.buffer_size() / (width * height);
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| {
        buffer[(y * width + x) * channels]
    });
    image
        .detect_grids()
        .into_iter()
        .map(|grid| grid.decode().expect("QR decodes").1)
        .collect()
}

/// The sandbox provider over a stopped server's journal (`<data dir>/payments`), waiting for the
/// stopped server to let go of the file.
pub async fn payments_of(data_dir: &Path) -> SandboxProvider {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match SandboxProvider::open(&SandboxConfig {
            data_dir: Some(data_dir.join("payments")),
            ..SandboxConfig::default()
        }) {
            Ok(provider) => return provider,
            Err(e) => {
                assert!(
                    Instant::now() < deadline,
                    "payments journal stays busy: {e}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Environment variable naming a child's data dir (and telling the entry point it is a child).
pub const CHILD_DIR_ENV: &str = "BOXOFFICE_TEST_CHILD_DIR";

/// A `boxoffice dev` instance in a child process (the test binary's ignored entry point), with
/// its own environment, so it can be killed with SIGKILL at any moment.
pub struct DevChild {
    /// The process.
    pub child: std::process::Child,
    /// Base URL.
    pub base: String,
}

impl DevChild {
    /// Start the entry point `entry` of this test binary over `dir` with `env` (settings as
    /// `BOXOFFICE_*` variables) and wait until it serves.
    pub async fn spawn(entry: &str, dir: &Path, env: &[(&str, String)]) -> DevChild {
        let addr_file = dir.join("child-addr");
        let _ = std::fs::remove_file(&addr_file);
        let mut command = std::process::Command::new(std::env::current_exe().unwrap());
        command
            .args(["--ignored", "--exact", entry, "--nocapture"])
            .env(CHILD_DIR_ENV, dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().expect("spawn dev child");
        let deadline = Instant::now() + Duration::from_secs(60);
        let base = loop {
            if let Ok(addr) = std::fs::read_to_string(&addr_file)
                && addr.ends_with('\n')
            {
                break format!("http://{}", addr.trim());
            }
            assert!(Instant::now() < deadline, "dev child did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        DevChild { child, base }
    }

    /// An API client for the child (the `Api` has no server of its own).
    pub fn api(&self, config: ApiConfig) -> Api {
        Api::over(
            None,
            self.base.clone(),
            tempfile::tempdir().unwrap(),
            config,
        )
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reaped");
    }
}

impl Drop for DevChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Body of a child entry point: serve `boxoffice dev` over the directory in
/// [`CHILD_DIR_ENV`] with settings from the environment until killed.
pub async fn run_child() {
    let dir = PathBuf::from(std::env::var(CHILD_DIR_ENV).expect("run as a child"));
    let mut config = api_config();
    if let Ok(ttl) = std::env::var("BOXOFFICE_HOLD_TTL") {
        config.hold_ttl_s = ttl.parse().expect("hold ttl");
    }
    let server = dev_server(&dir, config, None).await;
    let tmp = dir.join("child-addr.tmp");
    std::fs::write(&tmp, format!("{}\n", server.addr)).unwrap();
    std::fs::rename(&tmp, dir.join("child-addr")).unwrap();
    tokio::time::sleep(Duration::from_secs(600)).await;
    let _ = server.stop().await;
}

/// Wall time now plus a duration, as a chrono instant.
pub fn at(offset: chrono::Duration) -> DateTime<Utc> {
    Utc::now() + offset
}
