//! The shows on sale in a campaign, created through the admin API before the faults start.

use std::time::Duration;

use history::Ms;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::client::{Answer, Api};

/// One show on sale.
#[derive(Clone, Debug)]
pub struct Show {
    /// Its event.
    pub event_id: String,
    /// The show.
    pub show_id: Uuid,
    /// Its seats, in layout order.
    pub seats: Vec<Uuid>,
}

/// A show that could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("setting up the shows: {step} answered {answer:?}")]
pub struct SetupError {
    step: &'static str,
    answer: Answer,
}

/// Post `body` as an admin until the answer is definite (the services may still be warming up).
async fn admin_post(api: &Api, admin: &str, path: &str, body: Value) -> Answer {
    let mut answer = Answer::Transport;
    for _ in 0..20 {
        answer = api
            .once(0, Method::POST, path, admin, None, Some(&body))
            .await;
        if !answer.unknown() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    answer
}

fn created(step: &'static str, answer: Answer, id: &str) -> Result<String, SetupError> {
    match &answer {
        Answer::Status(201, body) if body[id].is_string() => {
            Ok(body[id].as_str().unwrap_or_default().to_owned())
        }
        _ => Err(SetupError { step, answer }),
    }
}

/// Create `count` shows of `rows` x `per_row` seats starting at `show_time` (one venue, one
/// event); their ids and seats.
pub async fn create(
    api: &Api,
    count: usize,
    rows: usize,
    per_row: u32,
    show_time: Ms,
) -> Result<Vec<Show>, SetupError> {
    let admin = api.token(Uuid::new_v4(), &["admin"]);
    let rows: Vec<Value> = (0..rows)
        .map(|r| json!({"row": format!("R{r}"), "seats": per_row}))
        .collect();
    let venue = admin_post(
        api,
        &admin,
        "/v1/admin/venues",
        json!({"name": "Chaos Hall", "city": "Faultville", "sections": [
            {"sectionId": "A", "name": "Stalls", "priceCategory": "STANDARD",
             "price": 1000, "currency": "USD", "rows": rows}]}),
    )
    .await;
    let venue_id = created("venue", venue, "venueId")?;
    let event = admin_post(
        api,
        &admin,
        "/v1/admin/events",
        json!({"title": "Flash Sale", "description": "A fault campaign's sale",
               "category": "concerts", "city": "Faultville", "venueId": venue_id,
               "startDate": "2026-01-01", "endDate": "2035-12-31"}),
    )
    .await;
    let event_id = created("event", event, "eventId")?;
    let at = chrono::DateTime::from_timestamp_millis(show_time)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut shows = Vec::new();
    for _ in 0..count {
        let show = admin_post(
            api,
            &admin,
            &format!("/v1/admin/events/{event_id}/shows"),
            json!({ "showTime": at }),
        )
        .await;
        let show_id = created("show", show, "showId")?;
        let seats = seat_map(api, &event_id, &show_id, &admin).await?;
        shows.push(Show {
            event_id: event_id.clone(),
            show_id: Uuid::parse_str(&show_id).unwrap_or_default(),
            seats: seats.keys().copied().collect(),
        });
    }
    Ok(shows)
}

/// A show's seat statuses as ingress `via` serves them (`AVAILABLE`, `HELD`, ...). Always that
/// ingress (each keeps its own projection of the stream), retried while it is not answering.
pub async fn seat_map_via(
    api: &Api,
    via: usize,
    event_id: &str,
    show_id: &str,
    token: &str,
) -> Result<std::collections::BTreeMap<Uuid, String>, SetupError> {
    let path = format!("/v1/events/{event_id}/shows/{show_id}/seats");
    let mut answer = Answer::Transport;
    for _ in 0..20 {
        answer = api.once(via, Method::GET, &path, token, None, None).await;
        if !answer.unknown() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let Answer::Status(200, body) = &answer else {
        return Err(SetupError {
            step: "seat map",
            answer,
        });
    };
    let mut seats = std::collections::BTreeMap::new();
    for section in body["sections"].as_array().into_iter().flatten() {
        for seat in section["seats"].as_array().into_iter().flatten() {
            if let (Some(id), Some(status)) = (seat["seatId"].as_str(), seat["status"].as_str()) {
                seats.insert(Uuid::parse_str(id).unwrap_or_default(), status.to_owned());
            }
        }
    }
    Ok(seats)
}

async fn seat_map(
    api: &Api,
    event_id: &str,
    show_id: &str,
    token: &str,
) -> Result<std::collections::BTreeMap<Uuid, String>, SetupError> {
    seat_map_via(api, 0, event_id, show_id, token).await
}
