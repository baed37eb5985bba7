//! Tickets over real HTTP against a real `boxoffice dev`: they fill in within 5 s of a confirm
//! (one per seat, contract fields), the QR PNG decodes back to the ticket's code, the SVG and PDF
//! are served to the owner only, and key rotation keeps old tickets admissible.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use support::api::Api;
use support::tickets::*;

fn field<'a>(ticket: &'a Value, name: &str) -> &'a str {
    ticket[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: {ticket}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_fill_in_within_five_seconds_one_per_seat_with_contract_fields() {
    let api = start(settings(), |_| {}).await;
    let show = create_show(&api, 2, 5).await;
    let (token, _) = api.guest().await;
    let confirm = book(
        &api,
        &token,
        &show,
        &[&show.seats[0], &show.seats[1], &show.seats[7]],
        "pm_card_visa",
    )
    .await;
    assert_eq!(confirm.status, StatusCode::CREATED, "{confirm:?}");
    let booking = confirm.body["bookingId"].as_str().unwrap();
    let (tickets, waited) = wait_tickets(&api, &token, booking, 3).await;
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    assert_eq!(tickets.len(), 3);
    let seats: Vec<&str> = tickets.iter().map(|t| field(t, "seatId")).collect();
    assert_eq!(seats, vec![&show.seats[0], &show.seats[1], &show.seats[7]]);
    for ticket in &tickets {
        let id = field(ticket, "ticketId");
        assert_eq!(field(ticket, "bookingId"), booking);
        assert_eq!(field(ticket, "section"), "A");
        assert!(field(ticket, "row").starts_with('R'));
        assert!(ticket["number"].as_u64().unwrap() >= 1);
        assert_eq!(field(ticket, "status"), "VALID");
        assert_eq!(
            field(ticket, "qrPngUrl"),
            format!("/v1/tickets/{id}/qr.png")
        );
        assert_eq!(
            field(ticket, "qrSvgUrl"),
            format!("/v1/tickets/{id}/qr.svg")
        );
        assert_eq!(
            field(ticket, "pdfUrl"),
            format!("/v1/tickets/{id}/ticket.pdf")
        );
        let code = field(ticket, "code");
        assert!(
            code.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        );
    }
    assert_eq!(tickets[7 - 7]["row"], "R0");
    assert_eq!(tickets[2]["row"], "R1");
    assert_eq!(tickets[2]["number"], 3);
    // The list carries the same tickets.
    let list = api.get("/v1/bookings", Some(&token)).await;
    assert_eq!(list.body["items"][0]["tickets"], Value::Array(tickets));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_images_decode_to_the_code_and_files_are_served_to_the_owner_only() {
    let api = start(settings(), |_| {}).await;
    let show = create_show(&api, 1, 4).await;
    let (token, _) = api.guest().await;
    let booking = booked(&api, &token, &show, &[&show.seats[2]]).await;
    let (tickets, _) = wait_tickets(&api, &token, &booking, 1).await;
    let ticket = &tickets[0];
    let code = field(ticket, "code");

    let (status, kind, png) = get_bytes(&api, field(ticket, "qrPngUrl"), &token).await;
    assert_eq!((status, kind.as_str()), (StatusCode::OK, "image/png"));
    assert_eq!(decode_png_qr(&png), vec![code.to_owned()]);

    let (status, kind, svg) = get_bytes(&api, field(ticket, "qrSvgUrl"), &token).await;
    assert_eq!((status, kind.as_str()), (StatusCode::OK, "image/svg+xml"));
    let svg = String::from_utf8(svg).unwrap();
    assert!(svg.contains("<svg") && svg.contains("</svg>"), "{svg}");

    let (status, kind, pdf) = get_bytes(&api, field(ticket, "pdfUrl"), &token).await;
    assert_eq!((status, kind.as_str()), (StatusCode::OK, "application/pdf"));
    let document = lopdf::Document::load_mem(&pdf).expect("a PDF");
    assert_eq!(document.get_pages().len(), 1);
    let text = document.extract_text(&[1]).unwrap();
    for printed in ["Ticket Night", "Gate Hall", "Stalls"] {
        assert!(text.contains(printed), "{printed} missing from {text:?}");
    }

    // Another user, no token, an unknown ticket.
    let (stranger, _) = api.guest().await;
    for url in ["qrPngUrl", "qrSvgUrl", "pdfUrl"] {
        let path = field(ticket, url);
        let other = api.get(path, Some(&stranger)).await;
        other.expect_problem(404, "not-found");
        api.get(path, None)
            .await
            .expect_problem(401, "unauthenticated");
    }
    api.get(
        &format!("/v1/tickets/{}/qr.png", uuid::Uuid::new_v4()),
        Some(&token),
    )
    .await
    .expect_problem(404, "not-found");
    api.get("/v1/tickets/not-a-uuid/qr.png", Some(&token))
        .await
        .expect_problem(400, "invalid-request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_keeps_old_tickets_admissible_until_their_key_is_removed() {
    let k1 = key_entry("k1", 1);
    let k2 = key_entry("k2", 2);
    let with_keys = |keys: String| {
        let mut s = settings();
        s.fulfilment.ticket_keys = Some(keys);
        s
    };
    let mut api = start(with_keys(k1.clone()), |_| {}).await;
    let show = create_show(&api, 1, 6).await;
    let (token, _) = api.guest().await;
    let old_booking = booked(&api, &token, &show, &[&show.seats[0]]).await;
    let (old, _) = wait_tickets(&api, &token, &old_booking, 1).await;
    let old_code = field(&old[0], "code").to_owned();
    let late_booking = booked(&api, &token, &show, &[&show.seats[1]]).await;
    let (late, _) = wait_tickets(&api, &token, &late_booking, 1).await;
    let late_code = field(&late[0], "code").to_owned();

    // Rotate: k2 signs from now on, k1 still verifies.
    restart_with(&mut api, with_keys(format!("{k2},{k1}"))).await;
    let new_booking = booked(&api, &token, &show, &[&show.seats[2]]).await;
    let (new, _) = wait_tickets(&api, &token, &new_booking, 1).await;
    let new_code = field(&new[0], "code").to_owned();
    assert_ne!(
        new_code[..8],
        old_code[..8],
        "the key id inside the code changed"
    );
    let gate = staff(&api);
    let admitted = check_in(&api, &gate, &old_code, Some("East")).await;
    assert_eq!(admitted.status, StatusCode::OK, "{admitted:?}");
    assert_eq!(admitted.body["result"], "ADMITTED");
    let admitted = check_in(&api, &gate, &new_code, Some("East")).await;
    assert_eq!(admitted.status, StatusCode::OK, "{admitted:?}");

    // Retire k1: its tickets are no longer valid; k2's still are.
    restart_with(&mut api, with_keys(k2.clone())).await;
    check_in(&api, &gate, &late_code, None)
        .await
        .expect_problem(422, "invalid-ticket");
    check_in(&api, &gate, &new_code, None)
        .await
        .expect_problem(409, "already-checked-in");
    drop(api);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_tickets_and_their_files() {
    let mut api: Api = start(settings(), |_| {}).await;
    let show = create_show(&api, 1, 3).await;
    let (token, _) = api.guest().await;
    let booking = booked(&api, &token, &show, &[&show.seats[0], &show.seats[1]]).await;
    let (before, _) = wait_tickets(&api, &token, &booking, 2).await;
    restart_with(&mut api, settings()).await;
    let (after, _) = wait_tickets(&api, &token, &booking, 2).await;
    assert_eq!(before, after);
    let (status, _, png) = get_bytes(&api, field(&after[1], "qrPngUrl"), &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        decode_png_qr(&png),
        vec![field(&after[1], "code").to_owned()]
    );
    // The generated dev key was kept: the old code still checks in.
    let admitted = check_in(&api, &staff(&api), field(&after[0], "code"), None).await;
    assert_eq!(admitted.status, StatusCode::OK, "{admitted:?}");
}
