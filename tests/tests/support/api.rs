//! Black-box HTTP test support: a real `boxoffice dev` instance (embedded pipeline, store, catalog,
//! sandbox payments) serving on a free loopback port with its own temporary data dir, and a thin
//! reqwest client. Everything goes over real HTTP.

use std::collections::HashMap;
use std::path::Path;

use application::config::DevConfig;
use application::dev::{self, DevServer};
use fulfilment::dev::DevSettings;
use ingress::auth::Claims;
use ingress::config::ApiConfig;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

/// The auth secret every test server uses (so tests can mint admin and forged tokens).
pub const SECRET: &str = "test-secret-0123456789abcdef-32bytes+";

/// Settings with limits off and contract defaults otherwise.
pub fn api_config() -> ApiConfig {
    ApiConfig {
        http_addr: "127.0.0.1:0".parse().unwrap(),
        auth_secret: Some(SECRET.to_owned()),
        guest_auth: true,
        guest_token_ttl_s: 3600,
        hold_ttl_s: 600,
        max_tickets_per_user: 6,
        max_holds_per_user: 3,
        rate_per_user: 0,
        rate_per_ip: 0,
        trusted_proxies: Vec::new(),
        guest_per_ip_per_min: 0,
        guest_per_prefix_per_min: 0,
        guard: false,
        guard_address_permille: 10,
        guard_prefix_permille: 25,
        guard_refused_pct: 50,
        guard_new_guest_s: 0,
        guard_bits: 18,
        metrics_addr: ingress::config::MetricsAddr(Some("127.0.0.1:0".parse().unwrap())),
        request_timeout_ms: 20_000,
        command_timeout_ms: 10_000,
        live: Default::default(),
    }
}

/// A client whose connections leave from `local` (any 127.0.0.0/8 address works on Linux's
/// loopback), so a test can speak as several client addresses.
pub fn client_from(local: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(local.parse::<std::net::IpAddr>().expect("an address"))
        .build()
        .expect("a client")
}

/// A running dev server and a client for it.
pub struct Api {
    /// The server.
    pub server: Option<DevServer>,
    /// Base URL (`http://127.0.0.1:port`).
    pub base: String,
    /// HTTP client.
    pub http: reqwest::Client,
    /// Data dir (kept alive as long as the test).
    pub dir: tempfile::TempDir,
    /// Settings used.
    pub config: ApiConfig,
}

/// An HTTP answer: status, headers and the JSON body (Null when empty or not JSON).
#[derive(Debug)]
pub struct Answer {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body as JSON.
    pub body: Value,
    /// Raw body text.
    pub text: String,
}

impl Answer {
    /// The problem `code` of an error answer.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    /// Assert this is a problem document with `status` and `code`.
    pub fn expect_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "{self:?}");
        assert_eq!(self.code(), code, "{self:?}");
        assert_eq!(
            self.headers["content-type"], "application/problem+json",
            "{self:?}"
        );
        for member in ["type", "title", "status", "detail", "code"] {
            assert!(!self.body[member].is_null(), "missing {member}: {self:?}");
        }
    }
}

/// Start `boxoffice dev` over `dir`: after-sale settings from the environment when `after_sale`
/// is `None` (what the binary does), else exactly those.
pub async fn dev_server(
    dir: &Path,
    config: ApiConfig,
    after_sale: Option<DevSettings>,
) -> DevServer {
    let config = DevConfig {
        api: config,
        data_dir: dir.to_path_buf(),
        bench_ref_mem: false,
    };
    match after_sale {
        None => dev::start(config).await,
        Some(after_sale) => dev::start_with(config, after_sale).await,
    }
    .expect("dev server starts")
}

impl Api {
    /// A client for the server at `base`; `server` is `None` when it runs elsewhere.
    pub fn over(
        server: Option<DevServer>,
        base: String,
        dir: tempfile::TempDir,
        config: ApiConfig,
    ) -> Api {
        Api {
            server,
            base,
            http: reqwest::Client::new(),
            dir,
            config,
        }
    }

    /// A fresh server with default test settings.
    pub async fn start() -> Api {
        Api::start_with(|_| {}).await
    }

    /// A fresh server with adjusted settings.
    pub async fn start_with(tweak: impl FnOnce(&mut ApiConfig)) -> Api {
        Api::start_dev(None, tweak).await
    }

    /// A fresh server over a new data dir (`api.dir`) with adjusted settings and `after_sale`
    /// settings (`None`: from the environment).
    pub async fn start_dev(
        after_sale: Option<DevSettings>,
        tweak: impl FnOnce(&mut ApiConfig),
    ) -> Api {
        let mut config = api_config();
        tweak(&mut config);
        let dir = tempfile::tempdir().unwrap();
        let server = dev_server(dir.path(), config.clone(), after_sale).await;
        Api::serving(server, dir, config)
    }

    /// A client for `server`, which serves over `dir` with `config`.
    fn serving(server: DevServer, dir: tempfile::TempDir, config: ApiConfig) -> Api {
        let base = format!("http://{}", server.addr);
        Api::over(Some(server), base, dir, config)
    }

    /// A `boxoffice serve` instance over real NATS and Cassandra with `topology` (already
    /// provisioned, processors running) and payments at `payments_url`.
    pub async fn start_serve(
        nats_url: &str,
        cql_nodes: &str,
        topology: processors::topology::Topology,
        payments_url: String,
        tweak: impl FnOnce(&mut ApiConfig),
    ) -> Api {
        let mut config = api_config();
        tweak(&mut config);
        let serve = application::config::ServeConfig {
            api: config.clone(),
            nats_url: nats_url.to_owned(),
            cql_nodes: cql_nodes.split(',').map(str::to_owned).collect(),
            streams: None,
            payments_url,
        };
        let server = application::serve::start_with(serve, topology)
            .await
            .expect("serve starts");
        Api::serving(server, tempfile::tempdir().unwrap(), config)
    }

    /// Stop the server and start a new one over the same data dir (the port changes), with
    /// `after_sale` settings (`None`: from the environment).
    pub async fn restart_dev(&mut self, after_sale: Option<DevSettings>) {
        if let Some(server) = self.server.take() {
            server.stop().await.expect("clean stop");
        }
        let server = dev_server(self.dir.path(), self.config.clone(), after_sale).await;
        self.base = format!("http://{}", server.addr);
        self.server = Some(server);
    }

    /// Stop the server and start a new one over the same data dir (the port changes).
    pub async fn restart(&mut self) {
        self.restart_dev(None).await;
    }

    /// Send a request.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        answer(request.send().await.expect("request sent")).await
    }

    /// Send a bodiless request through `http` (a client bound to another local address, say)
    /// with extra `headers`.
    pub async fn send_via(
        &self,
        http: &reqwest::Client,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        answer(request.send().await.expect("request sent")).await
    }

    /// A hold of `seats` on `show` through `http` (a client bound to some local address) as
    /// `token`, with extra `headers`.
    pub async fn hold_via(
        &self,
        http: &reqwest::Client,
        token: &str,
        show: &str,
        seats: &[String],
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = http
            .post(format!("{}/v1/bookings/hold", self.base))
            .bearer_auth(token)
            .json(&json!({"showId": show, "seatIds": seats}));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        answer(request.send().await.expect("hold sent")).await
    }

    /// Send raw bytes as the body.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Vec<u8>,
    ) -> Answer {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        answer(request.send().await.expect("request sent")).await
    }

    /// GET.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.call(Method::GET, path, token, None, None).await
    }

    /// POST JSON.
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.call(Method::POST, path, token, None, Some(body)).await
    }

    /// A new guest: (token, user id).
    pub async fn guest(&self) -> (String, String) {
        let answer = self
            .call(Method::POST, "/v1/auth/guest", None, None, None)
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
        (
            answer.body["token"].as_str().unwrap().to_owned(),
            answer.body["userId"].as_str().unwrap().to_owned(),
        )
    }

    /// A token for `user` with `roles`, signed with the server's secret.
    pub fn token(&self, user: Uuid, roles: &[&str], exp_in_s: i64) -> String {
        let keys = ingress::auth::TokenKeys::new(SECRET.as_bytes());
        keys.sign(&Claims {
            sub: user.to_string(),
            exp: chrono_now() + exp_in_s,
            roles: roles.iter().map(|r| r.to_string()).collect(),
            iat: None,
        })
    }

    /// An admin token.
    pub fn admin(&self) -> String {
        self.token(Uuid::new_v4(), &["admin"], 3600)
    }

    /// Create a venue of `sections` x `rows` x `seats_per_row`, an event and a show on sale now
    /// (or at `sale_opens_at`); returns the show's ids and seat ids in layout order.
    pub async fn create_show(
        &self,
        sections: usize,
        rows: usize,
        seats_per_row: u32,
        sale_opens_at: Option<String>,
    ) -> TestShow {
        let sections: Vec<Value> = (0..sections)
            .map(|s| {
                json!({
                    "sectionId": format!("S{s}"),
                    "name": format!("Section {s}"),
                    "priceCategory": if s == 0 { "PREMIUM" } else { "STANDARD" },
                    "price": 1500 + 500 * s as i64,
                    "currency": "USD",
                    "rows": (0..rows).map(|r| json!({"row": format!("R{r}"), "seats": seats_per_row})).collect::<Vec<_>>()
                })
            })
            .collect();
        let mut show = json!({"showTime": "2030-01-15T19:30:00Z"});
        if let Some(opens) = sale_opens_at {
            show["saleOpensAt"] = json!(opens);
        }
        self.create_show_from(
            json!({"name": "Test Hall", "city": "Testville", "sections": sections}),
            json!({"title": "Test Concert", "description": "A concert for tests",
                   "category": "concerts", "city": "Testville",
                   "startDate": "2030-01-01", "endDate": "2030-01-31"}),
            show,
        )
        .await
    }

    /// Create the venue `venue`, the event `event` there (its `venueId` is filled in) and the
    /// show `show` of it, as an admin; returns the show's ids and seat ids in layout order.
    pub async fn create_show_from(&self, venue: Value, mut event: Value, show: Value) -> TestShow {
        let admin = self.admin();
        let venue = self.post("/v1/admin/venues", Some(&admin), venue).await;
        assert_eq!(venue.status, StatusCode::CREATED, "{venue:?}");
        let venue_id = venue.body["venueId"].as_str().unwrap().to_owned();
        event["venueId"] = json!(venue_id);
        let event = self.post("/v1/admin/events", Some(&admin), event).await;
        assert_eq!(event.status, StatusCode::CREATED, "{event:?}");
        let event_id = event.body["eventId"].as_str().unwrap().to_owned();
        let show = self
            .post(
                &format!("/v1/admin/events/{event_id}/shows"),
                Some(&admin),
                show,
            )
            .await;
        assert_eq!(show.status, StatusCode::CREATED, "{show:?}");
        let show_id = show.body["showId"].as_str().unwrap().to_owned();
        let map = self.seat_map(&event_id, &show_id).await;
        let seats = seats_of(&map)
            .map(|s| s["seatId"].as_str().unwrap().to_owned())
            .collect();
        TestShow {
            event_id,
            show_id,
            venue_id,
            seats,
        }
    }

    /// The Prometheus text of the server's metrics address (not the API's: `/metrics` is served
    /// apart from it).
    pub async fn metrics_text(&self) -> String {
        let addr = self
            .server
            .as_ref()
            .and_then(|s| s.metrics_addr)
            .expect("a server of this test with metrics on");
        let answer = self
            .http
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .expect("GET /metrics");
        assert_eq!(answer.status(), StatusCode::OK);
        answer.text().await.expect("metrics text")
    }

    /// `name`'s value in the Prometheus text of `/metrics`, summed over its labels (0 when
    /// absent).
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self.metrics_text().await;
        text.lines()
            .filter(|l| l.starts_with(name) && !l.starts_with('#'))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// The seat map of a show.
    pub async fn seat_map(&self, event_id: &str, show_id: &str) -> Value {
        let map = self
            .get(
                &format!("/v1/events/{event_id}/shows/{show_id}/seats"),
                None,
            )
            .await;
        assert_eq!(map.status, StatusCode::OK, "{map:?}");
        map.body
    }

    /// Seat statuses by id from the seat map.
    pub async fn seat_statuses(&self, show: &TestShow) -> HashMap<String, String> {
        let map = self.seat_map(&show.event_id, &show.show_id).await;
        seats_of(&map)
            .map(|s| {
                (
                    s["seatId"].as_str().unwrap().to_owned(),
                    s["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    /// Asserts that exactly the seats in `held` (seat id -> hold id) are HELD and every other
    /// seat is AVAILABLE; returns the statuses.
    pub async fn assert_held_exactly(
        &self,
        show: &TestShow,
        held: &HashMap<String, String>,
    ) -> HashMap<String, String> {
        let statuses = self.seat_statuses(show).await;
        for (seat, status) in &statuses {
            let expected = if held.contains_key(seat) {
                "HELD"
            } else {
                "AVAILABLE"
            };
            assert_eq!(status, expected, "seat {seat}");
        }
        statuses
    }

    /// The show's entry in its event's detail (`GET /v1/events/{id}`: `availableSeats`,
    /// `status`, ...).
    pub async fn show_entry(&self, show: &TestShow) -> Value {
        let event = self
            .get(&format!("/v1/events/{}", show.event_id), None)
            .await;
        assert_eq!(event.status, StatusCode::OK, "{event:?}");
        event.body["shows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["showId"] == show.show_id.as_str())
            .cloned()
            .expect("the show is listed")
    }

    /// `availableSeats` of a show as the event detail reports it.
    pub async fn available_seats(&self, show: &TestShow) -> u64 {
        self.show_entry(show).await["availableSeats"]
            .as_u64()
            .unwrap()
    }

    /// `availableSeats` once it reads `expected`, or the last value read when the contract's
    /// 1 s for listings to reflect a seat change (plus scheduling slack) has passed.
    pub async fn available_seats_settled(&self, show: &TestShow, expected: u64) -> u64 {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(1_500);
        loop {
            let seen = self.available_seats(show).await;
            if seen == expected || tokio::time::Instant::now() >= deadline {
                return seen;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Hold `seats` of `show` for `token`.
    pub async fn hold(
        &self,
        token: &str,
        show: &TestShow,
        seats: &[&str],
        key: Option<&str>,
    ) -> Answer {
        self.call(
            Method::POST,
            "/v1/bookings/hold",
            Some(token),
            key,
            Some(json!({"showId": show.show_id, "seatIds": seats})),
        )
        .await
    }

    /// Send a hold of `seats` of `show` for `token` on a task of its own (so that many race);
    /// the task ends with the answer.
    pub fn spawn_hold(
        &self,
        token: String,
        show: &TestShow,
        seats: Vec<String>,
    ) -> tokio::task::JoinHandle<Answer> {
        let request = self
            .http
            .post(format!("{}/v1/bookings/hold", self.base))
            .bearer_auth(token)
            .json(&json!({"showId": show.show_id, "seatIds": seats}));
        tokio::spawn(async move { answer(request.send().await.expect("request sent")).await })
    }

    /// Hold `seats` of `show` for `token`, expecting `201`; the hold id.
    pub async fn held(&self, token: &str, show: &TestShow, seats: &[&str]) -> String {
        let hold = self.hold(token, show, seats, None).await;
        assert_eq!(hold.status, StatusCode::CREATED, "{hold:?}");
        hold.body["holdId"].as_str().unwrap().to_owned()
    }

    /// The seat map version of `show`.
    pub async fn version_of(&self, show: &TestShow) -> u64 {
        self.seat_map(&show.event_id, &show.show_id).await["version"]
            .as_u64()
            .unwrap()
    }

    /// Confirm `hold` with `method`.
    pub async fn confirm(
        &self,
        token: &str,
        hold: &str,
        method: &str,
        key: Option<&str>,
    ) -> Answer {
        self.call(
            Method::POST,
            "/v1/bookings/confirm",
            Some(token),
            key,
            Some(json!({"holdId": hold, "paymentMethodId": method})),
        )
        .await
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        // Tests stop servers explicitly when they care; dropping aborts the serving task.
        if let Some(server) = self.server.take() {
            drop(server);
        }
    }
}

/// A show created for a test.
#[derive(Debug, Clone)]
pub struct TestShow {
    /// Event id.
    pub event_id: String,
    /// Show id.
    pub show_id: String,
    /// Venue id.
    pub venue_id: String,
    /// Seat ids in layout order.
    pub seats: Vec<String>,
}

/// Every seat of a seat map, in layout order.
pub fn seats_of(map: &Value) -> impl Iterator<Item = &Value> {
    map["sections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["seats"].as_array().unwrap().iter())
}

/// Unix seconds now.
pub fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
        text,
    }
}
