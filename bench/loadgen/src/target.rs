//! The booking API as the load generator speaks it, to boxoffice (`dev`, `serve`, REF-MEM) and
//! to the PG-LOCK baseline. Both answer holds and confirms with the same paths, bodies and
//! statuses; only setting up a show differs (boxoffice's catalog wants a venue and an event).

use std::collections::HashMap;
use std::time::Duration;

use ingress::auth::{Claims, TokenKeys};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::stats::Outcome;

/// Which API a target speaks for setting up shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, Deserialize)]
pub enum Kind {
    /// boxoffice: venue, event and shows through `/v1/admin/...`.
    Boxoffice,
    /// PG-LOCK: one call, `POST /v1/admin/shows`.
    PgLock,
}

/// A setup or read-back call failed (the measured calls report outcomes instead).
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The request did not get an answer.
    #[error("{what}: {source}")]
    Transport {
        /// The call.
        what: String,
        /// Why.
        source: reqwest::Error,
    },
    /// The server answered with an unexpected status or body.
    #[error("{what}: HTTP {status}: {body}")]
    Refused {
        /// The call.
        what: String,
        /// The status.
        status: u16,
        /// The body (truncated).
        body: String,
    },
}

/// A show as the load generator uses it: its ids and its seats, row by row in layout order.
#[derive(Clone, Debug)]
pub struct Show {
    /// Event (part of the seat-map path).
    pub event_id: String,
    /// Show.
    pub show_id: Uuid,
    /// Seat ids per row, in seat-number order.
    pub rows: Vec<Vec<Uuid>>,
}

impl Show {
    /// Every seat, row after row.
    pub fn seats(&self) -> Vec<Uuid> {
        self.rows.iter().flatten().copied().collect()
    }
}

/// The answer to a hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HoldAnswer {
    /// `201`: the hold's id.
    Held(Uuid),
    /// `409`: some seat is taken.
    Unavailable,
    /// Anything else (status 0 for no answer).
    Failed(u16),
}

impl HoldAnswer {
    /// The outcome class of this answer.
    pub fn outcome(&self) -> Outcome {
        match self {
            HoldAnswer::Held(_) => Outcome::Accepted,
            HoldAnswer::Unavailable => Outcome::Rejected,
            HoldAnswer::Failed(_) => Outcome::Error,
        }
    }
}

/// A running system under test.
#[derive(Clone, Debug)]
pub struct Target {
    kind: Kind,
    base: String,
    /// Base URL of the metrics address (boxoffice serves `/metrics` apart from its API).
    metrics: Option<String>,
    http: reqwest::Client,
    keys: TokenKeys,
    admin: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MapBody {
    sections: Vec<MapSection>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MapSection {
    seats: Vec<MapSeat>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MapSeat {
    seat_id: Uuid,
    row: String,
    status: String,
}

fn short(body: &str) -> String {
    body.chars().take(300).collect()
}

impl Target {
    /// A target at `base` (no trailing slash) whose tokens are signed with `secret`; at most
    /// `connections` idle connections are kept.
    pub fn new(kind: Kind, base: &str, secret: &str, connections: usize) -> Target {
        let keys = TokenKeys::new(secret.as_bytes());
        let admin = keys.sign(&Claims {
            sub: Uuid::new_v4().to_string(),
            exp: chrono::Utc::now().timestamp() + 24 * 3600,
            roles: vec!["admin".into()],
            iat: None,
        });
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(connections)
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(120))
            .build()
            .expect("an HTTP client with no TLS builds");
        Target {
            kind,
            base: base.trim_end_matches('/').to_owned(),
            metrics: None,
            http,
            keys,
            admin,
        }
    }

    /// Read counters from the metrics address at `base` (`http://ip:port`).
    pub fn with_metrics(mut self, base: Option<&str>) -> Target {
        self.metrics = base.map(|b| b.trim_end_matches('/').to_owned());
        self
    }

    /// A token for a new buyer: every buyer is a user of their own, as in a real on-sale, so
    /// per-user limits never bind.
    pub fn buyer_token(&self) -> String {
        self.keys.sign(&Claims {
            sub: Uuid::new_v4().to_string(),
            exp: chrono::Utc::now().timestamp() + 24 * 3600,
            roles: Vec::new(),
            iat: None,
        })
    }

    /// Send `request` and read its answer as JSON, which must come with `expected`.
    async fn answer<T: serde::de::DeserializeOwned>(
        what: String,
        request: reqwest::RequestBuilder,
        expected: u16,
    ) -> Result<T, TargetError> {
        let response = request
            .send()
            .await
            .map_err(|source| TargetError::Transport {
                what: what.clone(),
                source,
            })?;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        if status != expected {
            return Err(TargetError::Refused {
                what,
                status,
                body: short(&text),
            });
        }
        serde_json::from_str(&text).map_err(|e| TargetError::Refused {
            what,
            status,
            body: format!("{e}: {}", short(&text)),
        })
    }

    async fn admin_post(&self, path: &str, body: Value) -> Result<Value, TargetError> {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.admin)
            .json(&body);
        Target::answer(format!("POST {path}"), request, 201).await
    }

    /// Create `count` shows of `seats` seats each, in rows of `row_len`, and read their maps.
    pub async fn create_shows(
        &self,
        count: usize,
        seats: u32,
        row_len: u32,
    ) -> Result<Vec<Show>, TargetError> {
        let ids = match self.kind {
            Kind::Boxoffice => self.boxoffice_shows(count, seats, row_len).await?,
            Kind::PgLock => self.pg_lock_shows(count, seats, row_len).await?,
        };
        let mut shows = Vec::with_capacity(count);
        for (event_id, show_id) in ids {
            let rows = self.seat_rows(&event_id, show_id).await?;
            shows.push(Show {
                event_id,
                show_id,
                rows,
            });
        }
        Ok(shows)
    }

    async fn boxoffice_shows(
        &self,
        count: usize,
        seats: u32,
        row_len: u32,
    ) -> Result<Vec<(String, Uuid)>, TargetError> {
        // The catalog takes at most 1,000 rows a section: cut the rows into sections of 500.
        let rows: Vec<Value> = (0..seats.div_ceil(row_len))
            .map(|r| json!({"row": format!("R{r}"), "seats": row_len.min(seats - r * row_len)}))
            .collect();
        let sections: Vec<Value> = rows
            .chunks(500)
            .enumerate()
            .map(|(i, rows)| {
                json!({"sectionId": format!("S{i}"), "name": format!("Block {i}"),
                    "priceCategory": "STANDARD", "price": 2500, "currency": "USD", "rows": rows})
            })
            .collect();
        let venue = self
            .admin_post(
                "/v1/admin/venues",
                json!({"name": "Flash Sale Arena", "city": "Benchville", "sections": sections}),
            )
            .await?;
        let event = self
            .admin_post("/v1/admin/events", json!({
                "title": "Flash Sale", "description": "Benchmark on-sale", "category": "concerts",
                "city": "Benchville", "venueId": venue["venueId"],
                "startDate": "2030-01-01", "endDate": "2030-12-31"
            }))
            .await?;
        let event_id = event["eventId"].as_str().unwrap_or_default().to_owned();
        let mut ids = Vec::with_capacity(count);
        for i in 0..count {
            let time = chrono::DateTime::from_timestamp(1_893_528_000 + 3600 * i as i64, 0)
                .expect("a time in 2030")
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let show = self
                .admin_post(
                    &format!("/v1/admin/events/{event_id}/shows"),
                    json!({"showTime": time}),
                )
                .await?;
            ids.push((event_id.clone(), uuid_field(&show, "showId")?));
        }
        Ok(ids)
    }

    async fn pg_lock_shows(
        &self,
        count: usize,
        seats: u32,
        row_len: u32,
    ) -> Result<Vec<(String, Uuid)>, TargetError> {
        let mut ids = Vec::with_capacity(count);
        for _ in 0..count {
            let show = self
                .admin_post(
                    "/v1/admin/shows",
                    json!({"seats": seats, "rowLength": row_len, "price": 2500, "currency": "USD"}),
                )
                .await?;
            let event = show["eventId"].as_str().unwrap_or_default().to_owned();
            ids.push((event, uuid_field(&show, "showId")?));
        }
        Ok(ids)
    }

    async fn seat_map(&self, event_id: &str, show: Uuid) -> Result<MapBody, TargetError> {
        let request = self.http.get(format!(
            "{}/v1/events/{event_id}/shows/{show}/seats",
            self.base
        ));
        Target::answer(format!("GET seat map of {show}"), request, 200).await
    }

    async fn seat_rows(&self, event_id: &str, show: Uuid) -> Result<Vec<Vec<Uuid>>, TargetError> {
        let map = self.seat_map(event_id, show).await?;
        let mut rows: Vec<Vec<Uuid>> = Vec::new();
        let mut current: Option<String> = None;
        for seat in map.sections.into_iter().flat_map(|s| s.seats) {
            if current.as_deref() != Some(seat.row.as_str()) {
                rows.push(Vec::new());
                current = Some(seat.row);
            }
            rows.last_mut()
                .expect("a row was pushed")
                .push(seat.seat_id);
        }
        Ok(rows)
    }

    /// `GET` the seat map as a browser does (gzip accepted) and read it whole: a viewer.
    pub async fn view(&self, show: &Show) -> Outcome {
        let sent = self
            .http
            .get(format!(
                "{}/v1/events/{}/shows/{}/seats",
                self.base, show.event_id, show.show_id
            ))
            .header(reqwest::header::ACCEPT_ENCODING, "gzip")
            .send()
            .await;
        let Ok(response) = sent else {
            return Outcome::Error;
        };
        let ok = response.status().as_u16() == 200;
        match (ok, response.bytes().await) {
            (true, Ok(_)) => Outcome::Accepted,
            _ => Outcome::Error,
        }
    }

    /// A counter of boxoffice's `/metrics` summed over its labels (`None` for PG-LOCK, without
    /// a metrics address, or when it cannot be read).
    pub async fn counter(&self, name: &str) -> Option<f64> {
        if self.kind != Kind::Boxoffice {
            return None;
        }
        let metrics = self.metrics.as_ref()?;
        let text = self
            .http
            .get(format!("{metrics}/metrics"))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        Some(
            text.lines()
                .filter(|l| l.starts_with(name) && !l.starts_with('#'))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum(),
        )
    }

    /// Every seat's status (`AVAILABLE`, `HELD`, `BOOKED`, ...) as the seat map shows it now.
    pub async fn seat_statuses(&self, show: &Show) -> Result<HashMap<Uuid, String>, TargetError> {
        let map = self.seat_map(&show.event_id, show.show_id).await?;
        Ok(map
            .sections
            .into_iter()
            .flat_map(|s| s.seats)
            .map(|s| (s.seat_id, s.status))
            .collect())
    }

    /// `POST /v1/bookings/hold`.
    pub async fn hold(&self, token: &str, show: Uuid, seats: &[Uuid]) -> HoldAnswer {
        let sent = self
            .http
            .post(format!("{}/v1/bookings/hold", self.base))
            .bearer_auth(token)
            .json(&json!({"showId": show, "seatIds": seats}))
            .send()
            .await;
        let Ok(response) = sent else {
            return HoldAnswer::Failed(0);
        };
        match response.status().as_u16() {
            201 => match response.json::<Value>().await {
                Ok(body) => {
                    uuid_field(&body, "holdId").map_or(HoldAnswer::Failed(201), HoldAnswer::Held)
                }
                Err(_) => HoldAnswer::Failed(201),
            },
            409 => {
                // Read the body so the connection goes back to the pool.
                let _ = response.bytes().await;
                HoldAnswer::Unavailable
            }
            status => {
                let _ = response.bytes().await;
                HoldAnswer::Failed(status)
            }
        }
    }

    /// `POST /v1/bookings/confirm` with the sandbox card that always pays. `410` (the hold lapsed
    /// first) is a decided rejection.
    pub async fn confirm(&self, token: &str, hold: Uuid) -> Outcome {
        let sent = self
            .http
            .post(format!("{}/v1/bookings/confirm", self.base))
            .bearer_auth(token)
            .json(&json!({"holdId": hold, "paymentMethodId": "pm_card_visa"}))
            .send()
            .await;
        let Ok(response) = sent else {
            return Outcome::Error;
        };
        let status = response.status().as_u16();
        let _ = response.bytes().await;
        match status {
            201 => Outcome::Accepted,
            410 => Outcome::Rejected,
            _ => Outcome::Error,
        }
    }
}

/// One boxoffice show of `seats` seats in rows of 50, set up through the admin API with tokens
/// signed by `secret`: its id and its seat ids in layout order. Panics when the set-up fails (for
/// tools whose whole run depends on it).
pub async fn boxoffice_show(base: &str, secret: &str, seats: usize) -> (String, Vec<String>) {
    let target = Target::new(Kind::Boxoffice, base, secret, 8);
    let seats = u32::try_from(seats).expect("seats fit in u32");
    let show = target
        .create_shows(1, seats, 50)
        .await
        .expect("show set up")
        .remove(0);
    let ids = show.seats().iter().map(Uuid::to_string).collect();
    (show.show_id.to_string(), ids)
}

/// `POST` `body` as JSON with `token` and read the answer as JSON, whatever its status (status 0
/// and the error text when no answer came): for tools that judge answers themselves.
pub async fn post(http: &reqwest::Client, url: String, token: &str, body: Value) -> (u16, Value) {
    match http.post(url).bearer_auth(token).json(&body).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.json().await.unwrap_or(Value::Null))
        }
        Err(e) => (0, json!({"error": e.to_string()})),
    }
}

/// Hold `seats` of `show` and confirm the hold with `pm_card_visa`, as the buyer of `token`: the
/// confirm's answer (a booking) or the step and status that refused.
pub async fn hold_and_confirm(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    show: &str,
    seats: &[String],
) -> Result<Value, String> {
    let (status, hold) = post(
        http,
        format!("{base}/v1/bookings/hold"),
        token,
        json!({"showId": show, "seatIds": seats}),
    )
    .await;
    if status != 201 {
        return Err(format!("hold {status}: {hold}"));
    }
    let (status, booking) = post(
        http,
        format!("{base}/v1/bookings/confirm"),
        token,
        json!({"holdId": hold["holdId"], "paymentMethodId": "pm_card_visa"}),
    )
    .await;
    if status != 201 {
        return Err(format!("confirm {status}: {booking}"));
    }
    Ok(booking)
}

fn uuid_field(body: &Value, field: &str) -> Result<Uuid, TargetError> {
    body[field]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| TargetError::Refused {
            what: format!("reading {field}"),
            status: 0,
            body: short(&body.to_string()),
        })
}
