//! HTTP load generator for `scripts/bench http`: against a running boxoffice API it creates a
//! venue, event and show through the admin API, then runs concurrent buyers that each take a guest
//! token, hold one seat and confirm it with `pm_card_visa`. Prints one line:
//! `ops=<n> errors=<n> holds_per_s=<n> p50_ms=<n> p99_ms=<n>` where one op is hold + confirm.
//!
//! Usage: `http_load <base-url> <auth-secret> <clients> <ops>`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ingress::auth::{Claims, TokenKeys};
use serde_json::{Value, json};

async fn post(http: &reqwest::Client, url: String, token: &str, body: Value) -> (u16, Value) {
    match http.post(url).bearer_auth(token).json(&body).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.json().await.unwrap_or(Value::Null))
        }
        Err(e) => (0, json!({"error": e.to_string()})),
    }
}

async fn setup(
    http: &reqwest::Client,
    base: &str,
    admin: &str,
    seats: usize,
) -> (String, Vec<String>) {
    let rows = seats.div_ceil(50);
    let (status, venue) = post(http, format!("{base}/v1/admin/venues"), admin, json!({
        "name": "Bench Arena", "city": "Benchville",
        "sections": [{"sectionId": "A", "name": "Floor", "priceCategory": "STANDARD", "price": 2500,
            "currency": "USD",
            "rows": (0..rows).map(|r| json!({"row": format!("R{r}"), "seats": 50})).collect::<Vec<_>>()}]
    })).await;
    assert_eq!(status, 201, "venue: {venue}");
    let (status, event) = post(http, format!("{base}/v1/admin/events"), admin, json!({
        "title": "Bench Night", "description": "Load", "category": "concerts", "city": "Benchville",
        "venueId": venue["venueId"], "startDate": "2030-01-01", "endDate": "2030-01-02"
    })).await;
    assert_eq!(status, 201, "event: {event}");
    let event_id = event["eventId"].as_str().unwrap().to_owned();
    let (status, show) = post(
        http,
        format!("{base}/v1/admin/events/{event_id}/shows"),
        admin,
        json!({"showTime": "2030-01-01T20:00:00Z"}),
    )
    .await;
    assert_eq!(status, 201, "show: {show}");
    let show_id = show["showId"].as_str().unwrap().to_owned();
    let map: Value = http
        .get(format!("{base}/v1/events/{event_id}/shows/{show_id}/seats"))
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
        .map(|s| s["seatId"].as_str().unwrap().to_owned())
        .collect();
    (show_id, seats)
}

async fn buy(
    http: &reqwest::Client,
    base: &str,
    show: &str,
    seat: &str,
) -> Result<Duration, String> {
    let guest: Value = http
        .post(format!("{base}/v1/auth/guest"))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let token = guest["token"].as_str().ok_or("no token")?.to_owned();
    let started = Instant::now();
    let (status, hold) = post(
        http,
        format!("{base}/v1/bookings/hold"),
        &token,
        json!({"showId": show, "seatIds": [seat]}),
    )
    .await;
    if status != 201 {
        return Err(format!("hold {status}: {hold}"));
    }
    let (status, booking) = post(
        http,
        format!("{base}/v1/bookings/confirm"),
        &token,
        json!({"holdId": hold["holdId"], "paymentMethodId": "pm_card_visa"}),
    )
    .await;
    if status != 201 {
        return Err(format!("confirm {status}: {booking}"));
    }
    Ok(started.elapsed())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, base, secret, clients, ops] = args.as_slice() else {
        eprintln!("usage: http_load <base-url> <auth-secret> <clients> <ops>");
        std::process::exit(2);
    };
    let clients: usize = clients.parse().expect("clients");
    let ops: usize = ops.parse().expect("ops");
    let admin = TokenKeys::new(secret.as_bytes()).sign(&Claims {
        sub: uuid::Uuid::new_v4().to_string(),
        exp: chrono::Utc::now().timestamp() + 3600,
        roles: vec!["admin".into()],
    });
    let http = reqwest::Client::new();
    let (show, seats) = setup(&http, base, &admin, ops).await;
    let seats = Arc::new(seats);
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, base, show) = (http.clone(), base.clone(), show.clone());
        let (seats, next, errors) = (seats.clone(), next.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= ops {
                    return latencies;
                }
                match buy(&http, &base, &show, &seats[i]).await {
                    Ok(latency) => latencies.push(latency),
                    Err(e) => {
                        if errors.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("op failed: {e}");
                        }
                    }
                }
            }
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("client task"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let quantile = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "ops={} errors={} holds_per_s={:.1} p50_ms={:.1} p99_ms={:.1}",
        latencies.len(),
        errors.load(Ordering::Relaxed),
        latencies.len() as f64 / elapsed,
        quantile(0.50),
        quantile(0.99)
    );
}
