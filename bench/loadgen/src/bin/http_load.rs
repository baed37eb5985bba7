//! HTTP load generator for `scripts/bench http`: against a running boxoffice API it creates a
//! venue, event and show through the admin API, then runs concurrent buyers that each take a guest
//! token, hold one seat and confirm it with `pm_card_visa`. Prints one line:
//! `ops=<n> errors=<n> holds_per_s=<n> p50_ms=<n> p99_ms=<n> ok_p50_ms=<n> ok_p99_ms=<n>` where
//! one op is hold + confirm, `ops` and `holds_per_s` count the ops that succeeded and `errors`
//! the ones that failed.
//!
//! Latency is hold + confirm (the guest token before it is not timed). `p50_ms`/`p99_ms` are over
//! EVERY op: a failed op counts as the run's worst latency (the slowest op, failed ones timed
//! until they failed), so failures can only push the quantiles up; a server that answers `503`
//! fast cannot look faster than one that answers. Before this change failed ops were left out.
//! `ok_p50_ms`/`ok_p99_ms` are over the successful ops only (the old definition), to compare.
//!
//! Usage: `http_load <base-url> <auth-secret> <clients> <ops>`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use loadgen::target::{boxoffice_show, hold_and_confirm};
use serde_json::Value;

async fn guest(http: &reqwest::Client, base: &str) -> Result<String, String> {
    let guest: Value = http
        .post(format!("{base}/v1/auth/guest"))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    Ok(guest["token"].as_str().ok_or("no token")?.to_owned())
}

/// One op: its latency (hold + confirm; for a failure, the time until it failed, from the guest
/// request when that failed) and the error if it failed.
async fn buy(
    http: &reqwest::Client,
    base: &str,
    show: &str,
    seat: &str,
) -> (Duration, Option<String>) {
    let begun = Instant::now();
    let token = match guest(http, base).await {
        Ok(token) => token,
        Err(e) => return (begun.elapsed(), Some(e)),
    };
    let started = Instant::now();
    let result = hold_and_confirm(http, base, &token, show, &[seat.to_owned()])
        .await
        .map(|_| ());
    (started.elapsed(), result.err())
}

/// Latencies of every op, sorted, failed ones (flagged `true`) counted as the worst latency of
/// the run: at least as slow as any op that succeeded and as the failure's own time.
fn with_failures_as_worst(mut ops: Vec<(Duration, bool)>) -> Vec<Duration> {
    let worst = ops.iter().map(|(d, _)| *d).max().unwrap_or_default();
    for (latency, failed) in &mut ops {
        if *failed {
            *latency = worst;
        }
    }
    let mut all: Vec<Duration> = ops.into_iter().map(|(d, _)| d).collect();
    all.sort();
    all
}

fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 * q).ceil() as usize).saturating_sub(1))
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
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
    let http = reqwest::Client::new();
    let (show, seats) = boxoffice_show(base, secret, ops).await;
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
                let (latency, error) = buy(&http, &base, &show, &seats[i]).await;
                if let Some(e) = &error
                    && errors.fetch_add(1, Ordering::Relaxed) < 5
                {
                    eprintln!("op failed: {e}");
                }
                latencies.push((latency, error.is_some()));
            }
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("client task"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut ok: Vec<Duration> = latencies
        .iter()
        .filter(|(_, failed)| !failed)
        .map(|(d, _)| *d)
        .collect();
    ok.sort();
    let all = with_failures_as_worst(latencies);
    println!(
        "ops={} errors={} holds_per_s={:.1} p50_ms={:.1} p99_ms={:.1} ok_p50_ms={:.1} ok_p99_ms={:.1}",
        ok.len(),
        errors.load(Ordering::Relaxed),
        ok.len() as f64 / elapsed,
        quantile_ms(&all, 0.50),
        quantile_ms(&all, 0.99),
        quantile_ms(&ok, 0.50),
        quantile_ms(&ok, 0.99)
    );
}
