//! The flash-sale race over real HTTP: 200 concurrent clients hold overlapping seat sets on one
//! show. No seat may appear in two successful holds, and afterwards the seat map and
//! `availableSeats` must agree with the holds.

mod support;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use reqwest::StatusCode;
use support::api::Api;

const CLIENTS: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_overlapping_holds_never_share_a_seat() {
    let api = Api::start().await;
    // 60 seats, 200 clients each wanting 3 adjacent-ish seats: heavy overlap.
    let show = api.create_show(1, 6, 10, None).await;
    let mut tokens = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        tokens.push(api.guest().await.0);
    }
    let mut tasks = Vec::with_capacity(CLIENTS);
    for (i, token) in tokens.into_iter().enumerate() {
        let wanted: Vec<String> = (0..3)
            .map(|k| show.seats[(i * 7 + k * 5) % show.seats.len()].clone())
            .collect();
        tasks.push((api.spawn_hold(token, &show, wanted.clone()), wanted));
    }
    let mut held: HashMap<String, String> = HashMap::new();
    let mut winners = 0;
    for (task, wanted) in tasks {
        let answer = task.await.unwrap();
        let body = answer.body;
        match answer.status {
            StatusCode::CREATED => {
                winners += 1;
                let hold_id = body["holdId"].as_str().unwrap().to_owned();
                let seats: Vec<String> = body["seats"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_str().unwrap().to_owned())
                    .collect();
                assert_eq!(seats, wanted);
                for seat in seats {
                    if let Some(previous) = held.insert(seat.clone(), hold_id.clone()) {
                        panic!("seat {seat} in holds {previous} and {hold_id}");
                    }
                }
            }
            StatusCode::CONFLICT => {
                assert_eq!(body["code"], "seats-unavailable");
                let unavailable: HashSet<&str> = body["unavailableSeatIds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_str().unwrap())
                    .collect();
                assert!(!unavailable.is_empty());
                assert!(unavailable.iter().all(|s| wanted.iter().any(|w| w == s)));
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(winners > 0);

    let statuses = api.assert_held_exactly(&show, &held).await;
    let available = statuses.values().filter(|s| *s == "AVAILABLE").count() as u64;
    // availableSeats follows the seat stream within a second.
    let mut reported = 0;
    for _ in 0..20 {
        reported = api.available_seats(&show).await;
        if reported == available {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(reported, available, "availableSeats vs seat map");
}
