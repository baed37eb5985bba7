//! Ticket load generator for `scripts/bench tickets`: against a running boxoffice API it creates a
//! show through the admin API, then runs concurrent buyers that each take a guest token, hold
//! `seats_per_booking` seats and confirm them with `pm_card_visa`, and then poll (every 10 ms) for
//! the QR PNG of the booking's last ticket (ticket ids are derived, so no listing is needed). The
//! latency measured is from the confirm's `201` to the first `200` of that file. After the timed
//! phase every booking is read once to check it lists all its tickets and to collect the codes,
//! and then gate staff scan every ticket once, concurrently.
//!
//! Prints one line:
//! `bookings=<n> tickets=<n> errors=<n> p50_ms=<x> p99_ms=<x> max_ms=<x> bookings_per_s=<x>
//!  tickets_per_s=<x> scans=<n> scans_per_s=<x> scan_p50_ms=<x> scan_p99_ms=<x>`
//!
//! Usage: `tickets_load <base-url> <auth-secret> <clients> <bookings> <seats-per-booking>`

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ingress::auth::{Claims, TokenKeys};
use loadgen::target::{boxoffice_show, hold_and_confirm, post};
use serde_json::{Value, json};

/// How often a buyer looks for its tickets.
const POLL_EVERY: Duration = Duration::from_millis(10);

/// The JSON body of `request`'s answer, whatever its status.
async fn json_of(request: reqwest::RequestBuilder) -> Result<Value, String> {
    let response = request.send().await.map_err(|e| e.to_string())?;
    response.json().await.map_err(|e| e.to_string())
}

fn sign(secret: &str, roles: &[&str]) -> String {
    TokenKeys::new(secret.as_bytes()).sign(&Claims {
        sub: uuid::Uuid::new_v4().to_string(),
        exp: chrono::Utc::now().timestamp() + 3600,
        roles: roles.iter().map(|r| r.to_string()).collect(),
        iat: None,
    })
}

/// One buyer: hold + confirm, then wait for the tickets. Returns the wait, the buyer's token and
/// the booking id.
async fn buy(
    http: &reqwest::Client,
    base: &str,
    show: &str,
    seats: &[String],
) -> Result<(Duration, String, String), String> {
    let guest = json_of(http.post(format!("{base}/v1/auth/guest"))).await?;
    let token = guest["token"].as_str().ok_or("no token")?.to_owned();
    let booking = hold_and_confirm(http, base, &token, show, seats).await?;
    let confirmed = Instant::now();
    // A ticket's id is derived (engine::ticket_id), so its files can be asked for at once; the
    // last seat's PNG being served means the worker stored the whole booking (one upsert).
    let booking_id = booking["bookingId"].as_str().unwrap_or("");
    let booking_uuid = uuid::Uuid::parse_str(booking_id).map_err(|e| e.to_string())?;
    let last_seat =
        uuid::Uuid::parse_str(seats.last().ok_or("no seats")?).map_err(|e| e.to_string())?;
    let ticket = engine::ticket_id(schemas::BookingId(booking_uuid), schemas::SeatId(last_seat));
    let png = format!("{base}/v1/tickets/{ticket}/qr.png");
    loop {
        let status = http
            .get(&png)
            .bearer_auth(&token)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .status();
        if status == 200 {
            break;
        }
        if confirmed.elapsed() > Duration::from_secs(30) {
            return Err(format!("no ticket after 30 s: {status}"));
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    Ok((confirmed.elapsed(), token, booking_id.to_owned()))
}

/// The codes of a booking's tickets (read after the timed phase, so the listing reads of the
/// source of truth do not load the servers while latencies are measured).
async fn codes_of(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    booking: &str,
    expected: usize,
) -> Result<Vec<String>, String> {
    let read = json_of(
        http.get(format!("{base}/v1/bookings/{booking}"))
            .bearer_auth(token),
    )
    .await?;
    let tickets = read["tickets"].as_array().cloned().unwrap_or_default();
    if tickets.len() != expected {
        return Err(format!(
            "booking lists {} of {expected} tickets",
            tickets.len()
        ));
    }
    Ok(tickets
        .iter()
        .map(|t| t["code"].as_str().unwrap_or("").to_owned())
        .collect())
}

fn quantile(sorted: &[Duration], q: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 * q).ceil() as usize).saturating_sub(1))
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Runs `job(worker, index)` for every index in `0..count` on `workers` concurrent tasks, each
/// taking the next index until none is left. Returns every `Ok`, in no particular order; an `Err`
/// bumps `errors`, and the first five are printed after `what`.
async fn pool<T, F, Fut>(
    workers: usize,
    count: usize,
    errors: &Arc<AtomicUsize>,
    what: &'static str,
    job: F,
) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize, usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<T, String>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let (job, next, errors) = (job.clone(), next.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut done = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= count {
                    return done;
                }
                match job(worker, index).await {
                    Ok(result) => done.push(result),
                    Err(e) => {
                        if errors.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("{what}: {e}");
                        }
                    }
                }
            }
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("worker task"));
    }
    all
}

/// Every code scanned once by `clients` concurrent gates (gate `G<n>`, a staff token each);
/// returns scan latencies, the time, and how many scans were refused.
async fn scan_all(
    http: &reqwest::Client,
    base: &str,
    secret: &str,
    clients: usize,
    codes: Vec<String>,
) -> (Vec<Duration>, Duration, usize) {
    let staff: Arc<Vec<String>> =
        Arc::new((0..clients).map(|_| sign(secret, &["staff"])).collect());
    let (count, codes) = (codes.len(), Arc::new(codes));
    let refused = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let (http, base) = (http.clone(), base.to_owned());
    let latencies = pool(clients, count, &refused, "scan refused", move |gate, i| {
        let (http, base, codes, staff) = (http.clone(), base.clone(), codes.clone(), staff.clone());
        async move {
            let at = Instant::now();
            let (status, body) = post(
                &http,
                format!("{base}/v1/checkin"),
                &staff[gate],
                json!({"code": codes[i], "gate": format!("G{gate}")}),
            )
            .await;
            match status {
                200 => Ok(at.elapsed()),
                _ => Err(format!("{status}: {body}")),
            }
        }
    })
    .await;
    (
        latencies,
        started.elapsed(),
        refused.load(Ordering::Relaxed),
    )
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, base, secret, clients, bookings, per_booking] = args.as_slice() else {
        eprintln!(
            "usage: tickets_load <base-url> <auth-secret> <clients> <bookings> <seats-per-booking>"
        );
        std::process::exit(2);
    };
    let clients: usize = clients.parse().expect("clients");
    let bookings: usize = bookings.parse().expect("bookings");
    let per_booking: usize = per_booking.parse().expect("seats per booking");
    let http = reqwest::Client::new();
    let (show, seats) = boxoffice_show(base, secret, bookings * per_booking).await;
    let seats = Arc::new(seats);
    let errors = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let buyers = {
        let (http, base, show) = (http.clone(), base.clone(), show.clone());
        move |_, i: usize| {
            let (http, base, show, seats) =
                (http.clone(), base.clone(), show.clone(), seats.clone());
            async move {
                let mine = &seats[i * per_booking..(i + 1) * per_booking];
                buy(&http, &base, &show, mine).await
            }
        }
    };
    let done = pool(clients, bookings, &errors, "booking failed", buyers).await;
    let elapsed = started.elapsed().as_secs_f64();
    let (mut waits, booked): (Vec<Duration>, Vec<(String, String)>) = done
        .into_iter()
        .map(|(wait, token, booking)| (wait, (token, booking)))
        .unzip();
    waits.sort();
    let (count, booked) = (booked.len(), Arc::new(booked));
    let readers = {
        let (http, base) = (http.clone(), base.clone());
        move |_, i: usize| {
            let (http, base, booked) = (http.clone(), base.clone(), booked.clone());
            async move {
                let (token, booking) = &booked[i];
                codes_of(&http, &base, token, booking, per_booking).await
            }
        }
    };
    let read = pool(clients, count, &errors, "booking read failed", readers).await;
    let codes: Vec<String> = read.into_iter().flatten().collect();
    let tickets = waits.len() * per_booking;
    let (mut scans, scan_time, refused) = scan_all(&http, base, secret, clients, codes).await;
    scans.sort();
    println!(
        "bookings={} tickets={} errors={} p50_ms={:.1} p99_ms={:.1} max_ms={:.1} \
         bookings_per_s={:.1} tickets_per_s={:.1} scans={} scans_refused={} scans_per_s={:.1} \
         scan_p50_ms={:.1} scan_p99_ms={:.1}",
        waits.len(),
        tickets,
        errors.load(Ordering::Relaxed),
        quantile(&waits, 0.50),
        quantile(&waits, 0.99),
        quantile(&waits, 1.0),
        waits.len() as f64 / elapsed,
        tickets as f64 / elapsed,
        scans.len(),
        refused,
        scans.len() as f64 / scan_time.as_secs_f64(),
        quantile(&scans, 0.50),
        quantile(&scans, 0.99),
    );
}
