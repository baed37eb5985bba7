//! The catalog over its embedded store: creation and validation, layouts and seat maps, search,
//! the availability projection, restarts, and the demo seed.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use catalog::{
    Catalog, CatalogError, Category, DeltaOutcome, EventQuery, NewShow, ShowStatus,
    ValidationError, WaitingRoom,
};
use chrono::{DateTime, Duration, TimeZone, Utc};
use common::{date, event, section, small_venue};
use schemas::{SCHEMA_VERSION, SeatChange, SeatDelta, SeatId, SeatStatus, ShowId, UnixMs};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
}

async fn open(dir: &tempfile::TempDir) -> Catalog {
    Catalog::open_embedded(dir.path())
        .await
        .expect("open catalog")
}

fn query() -> EventQuery {
    EventQuery {
        page: 1,
        limit: 20,
        ..EventQuery::default()
    }
}

fn invalid_field(result: Result<impl std::fmt::Debug, CatalogError>) -> String {
    match result {
        Err(CatalogError::Invalid(e)) => e.field().to_owned(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[tokio::test]
async fn venue_validation_names_the_offending_field() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = open(&dir).await;

    let mut mixed = small_venue("Pune");
    mixed.sections[1].currency = "INR".into();
    let err = catalog.create_venue(mixed).await.unwrap_err();
    assert!(
        matches!(&err, CatalogError::Invalid(ValidationError::MixedCurrency { field, .. }) if field == "sections[1].currency"),
        "{err:?}"
    );

    let mut dup = small_venue("Pune");
    dup.sections[1].section_id = "A".into();
    assert_eq!(
        invalid_field(catalog.create_venue(dup).await),
        "sections[1].sectionId"
    );

    let mut dup_row = small_venue("Pune");
    dup_row.sections[0].rows[1].row = "R1".into();
    assert_eq!(
        invalid_field(catalog.create_venue(dup_row).await),
        "sections[0].rows[1].row"
    );

    let mut zero = small_venue("Pune");
    zero.sections[0].rows[0].seats = 0;
    assert_eq!(
        invalid_field(catalog.create_venue(zero).await),
        "sections[0].rows[0].seats"
    );

    let mut blank = small_venue("Pune");
    blank.name = "  ".into();
    assert_eq!(invalid_field(catalog.create_venue(blank).await), "name");

    let mut bad_currency = small_venue("Pune");
    bad_currency.sections[0].currency = "usd".into();
    assert_eq!(
        invalid_field(catalog.create_venue(bad_currency).await),
        "sections[0].currency"
    );

    let mut negative = small_venue("Pune");
    negative.sections[0].price_minor = -1;
    assert_eq!(
        invalid_field(catalog.create_venue(negative).await),
        "sections[0].price"
    );

    let mut none = small_venue("Pune");
    none.sections.clear();
    assert_eq!(invalid_field(catalog.create_venue(none).await), "sections");

    // Nothing was stored by the refused requests.
    assert!(catalog.store().is_empty().await.unwrap());

    let venue = catalog.create_venue(small_venue("Pune")).await.unwrap();
    assert_eq!(venue.total_seats, 22);
    assert_eq!(catalog.venue(venue.venue_id).await.unwrap(), venue);
}

#[tokio::test]
async fn event_and_show_validation() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = open(&dir).await;
    let venue = catalog.create_venue(small_venue("Pune")).await.unwrap();

    let backwards = event(
        venue.venue_id,
        "Pune",
        "T",
        "D",
        Category::Movies,
        "2026-12-05",
        "2026-12-04",
    );
    assert_eq!(
        invalid_field(catalog.create_event(backwards).await),
        "endDate"
    );

    let mut poster = event(
        venue.venue_id,
        "Pune",
        "T",
        "D",
        Category::Movies,
        "2026-12-01",
        "2026-12-04",
    );
    poster.poster_url = Some("javascript:alert(1)".into());
    assert_eq!(
        invalid_field(catalog.create_event(poster).await),
        "posterUrl"
    );

    let unknown_venue = event(
        schemas::VenueId(uuid::Uuid::new_v4()),
        "Pune",
        "T",
        "D",
        Category::Movies,
        "2026-12-01",
        "2026-12-04",
    );
    assert!(matches!(
        catalog.create_event(unknown_venue).await,
        Err(CatalogError::VenueNotFound(_))
    ));

    let e = catalog
        .create_event(event(
            venue.venue_id,
            "Pune",
            "T",
            "D",
            Category::Movies,
            "2026-12-01",
            "2026-12-04",
        ))
        .await
        .unwrap();
    assert_eq!(e.venue_name, venue.name);

    let late_sale = NewShow {
        show_time: now(),
        sale_opens_at: Some(now() + Duration::hours(1)),
        waiting_room: None,
    };
    assert_eq!(
        invalid_field(catalog.create_show(e.event_id, late_sale).await),
        "showTime"
    );

    let bad_room = NewShow {
        show_time: now(),
        sale_opens_at: None,
        waiting_room: Some(WaitingRoom {
            enabled: true,
            admit_per_minute: 0,
            challenge_bits: None,
        }),
    };
    assert_eq!(
        invalid_field(catalog.create_show(e.event_id, bad_room).await),
        "waitingRoom.admitPerMinute"
    );

    let no_event = catalog
        .create_show(
            schemas::EventId(uuid::Uuid::new_v4()),
            NewShow {
                show_time: now(),
                sale_opens_at: None,
                waiting_room: None,
            },
        )
        .await;
    assert!(matches!(no_event, Err(CatalogError::EventNotFound(_))));
}

#[tokio::test]
async fn a_show_gets_a_stable_layout_and_an_indexed_seat_map() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = open(&dir).await;
    let venue = catalog.create_venue(small_venue("Pune")).await.unwrap();
    let e = catalog
        .create_event(event(
            venue.venue_id,
            "Pune",
            "T",
            "D",
            Category::Theater,
            "2026-12-01",
            "2026-12-04",
        ))
        .await
        .unwrap();
    let created = catalog
        .create_show(
            e.event_id,
            NewShow {
                show_time: now() + Duration::days(1),
                sale_opens_at: None,
                waiting_room: None,
            },
        )
        .await
        .unwrap();
    let show = &created.show;
    assert_eq!(show.total_seats, 22);
    assert_eq!(show.available_seats, 22);
    assert_eq!(show.min_price_minor, 2_500);
    assert_eq!(show.currency, "USD");
    assert_eq!(show.status(now()), ShowStatus::Open);

    // Layout: ids derive from (show, index) in layout order, numbers from 1, prices per section.
    let layout = &created.layout;
    assert_eq!(layout.currency, "USD");
    let mut index = 0u32;
    let mut positions = HashSet::new();
    for s in &layout.sections {
        for r in &s.rows {
            for (k, seat) in r.seats.iter().enumerate() {
                assert_eq!(seat.seat_id, SeatId::derive(show.show_id, index));
                assert_eq!(seat.number as usize, k + 1);
                assert!(seat.x >= 0 && seat.y >= 0);
                assert!(
                    positions.insert((seat.x, seat.y)),
                    "two seats drawn at one spot"
                );
                index += 1;
            }
        }
    }
    assert_eq!(index, 22);
    assert_eq!(layout.sections[0].price_minor, 5_000);
    assert_eq!(catalog.show_layout(show.show_id).await.unwrap(), *layout);

    // Seat map: every seat resolves back to its section, row and number.
    let map = catalog.seat_map(show.show_id).await.unwrap();
    assert_eq!(map.total_seats, 22);
    assert!(map.width > 0 && map.height > 0);
    for (i, section, seat) in map.seats() {
        let detail = map.seat(seat.seat_id).expect("seat resolves");
        assert_eq!(detail.index, i);
        assert_eq!(detail.section_id, section.section_id);
        assert_eq!(detail.row, section.row_of(seat));
        assert_eq!(detail.number, seat.number);
        assert!(seat.x < map.width && seat.y < map.height);
    }
    let last = map.seat(SeatId::derive(show.show_id, 21)).unwrap();
    assert_eq!(
        (last.section_id.as_str(), last.row.as_str(), last.number),
        ("B", "R3", 4)
    );
    assert_eq!(last.section_name, "Section B");
    assert_eq!(last.price_minor, 2_500);
    // Out of range and foreign ids are not seats of this show.
    assert_eq!(map.seat(SeatId::derive(show.show_id, 22)), None);
    assert_eq!(
        map.seat(SeatId::derive(ShowId(uuid::Uuid::new_v4()), 0)),
        None
    );
    let detail = catalog
        .seat_detail(show.show_id, SeatId::derive(show.show_id, 0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            detail.section_id.as_str(),
            detail.row.as_str(),
            detail.number
        ),
        ("A", "R1", 1)
    );

    // The cached map is shared, not rebuilt.
    let again = catalog.seat_map(show.show_id).await.unwrap();
    assert!(Arc::ptr_eq(&map, &again));

    // Event detail lists the show with the contract's fields.
    let detail = catalog.event_detail(e.event_id, now()).await.unwrap();
    assert_eq!(detail.shows.len(), 1);
    let json = serde_json::to_value(&detail).unwrap();
    for field in [
        "eventId",
        "title",
        "description",
        "category",
        "city",
        "venueId",
        "venueName",
        "startDate",
        "endDate",
        "posterUrl",
        "shows",
    ] {
        assert!(
            json.get(field).is_some(),
            "event detail lacks {field}: {json}"
        );
    }
    let show_json = &json["shows"][0];
    for field in [
        "showId",
        "eventId",
        "venueId",
        "showTime",
        "saleOpensAt",
        "totalSeats",
        "availableSeats",
        "status",
        "minPrice",
        "currency",
    ] {
        assert!(
            show_json.get(field).is_some(),
            "show lacks {field}: {show_json}"
        );
    }
    assert_eq!(show_json["status"], "OPEN");
    assert_eq!(json["startDate"], "2026-12-01");
}

#[tokio::test]
async fn a_50000_seat_map_builds_quickly_and_resolves_every_seat() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = open(&dir).await;
    let stadium = catalog::NewVenue {
        name: "Stadium".into(),
        city: "Mumbai".into(),
        sections: (0..5)
            .map(|i| section(&format!("S{i}"), 1_000 * (i + 1), "INR", 50, 200))
            .collect(),
    };
    let venue = catalog.create_venue(stadium).await.unwrap();
    assert_eq!(venue.total_seats, 50_000);
    let e = catalog
        .create_event(event(
            venue.venue_id,
            "Mumbai",
            "Final",
            "Cricket final",
            Category::Sports,
            "2026-12-01",
            "2026-12-01",
        ))
        .await
        .unwrap();
    let created = catalog
        .create_show(
            e.event_id,
            NewShow {
                show_time: now() + Duration::hours(6),
                sale_opens_at: None,
                waiting_room: None,
            },
        )
        .await
        .unwrap();
    let show_id = created.show.show_id;
    let map = catalog.seat_map(show_id).await.unwrap();
    assert_eq!(map.seats().count(), 50_000);
    for index in [0u32, 9_999, 10_000, 25_123, 49_999] {
        let detail = map.seat(SeatId::derive(show_id, index)).unwrap();
        assert_eq!(detail.index, index);
        assert_eq!(detail.section_id, format!("S{}", index / 10_000));
        assert_eq!(detail.number, index % 200 + 1);
    }
}

#[tokio::test]
async fn search_filters_ranks_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = open(&dir).await;
    let mumbai = catalog.create_venue(small_venue("Mumbai")).await.unwrap();
    let london = catalog.create_venue(small_venue("London")).await.unwrap();
    let jazz = catalog
        .create_event(event(
            london.venue_id,
            "London",
            "Jazz Night",
            "Late sets by a quartet",
            Category::Concerts,
            "2026-12-01",
            "2026-12-03",
        ))
        .await
        .unwrap();
    let rock = catalog
        .create_event(event(
            london.venue_id,
            "London",
            "Rock Anthems",
            "Guitar concerts with a jazz encore",
            Category::Concerts,
            "2026-12-05",
            "2026-12-05",
        ))
        .await
        .unwrap();
    let film = catalog
        .create_event(event(
            mumbai.venue_id,
            "Mumbai",
            "Monsoon Letters",
            "A postman delivers letters in the rain",
            Category::Movies,
            "2026-12-02",
            "2026-12-10",
        ))
        .await
        .unwrap();
    let play = catalog
        .create_event(event(
            mumbai.venue_id,
            "Mumbai",
            "Another Play",
            "Comedy",
            Category::Theater,
            "2026-12-02",
            "2026-12-02",
        ))
        .await
        .unwrap();

    // No text: ordered by start date, then title.
    let all = catalog.search(&query()).await.unwrap();
    assert_eq!(all.total, 4);
    let titles: Vec<&str> = all.items.iter().map(|e| e.title.as_str()).collect();
    assert_eq!(
        titles,
        [
            "Jazz Night",
            "Another Play",
            "Monsoon Letters",
            "Rock Anthems"
        ]
    );

    // City is case-insensitive and exact.
    let in_mumbai = catalog
        .search(&EventQuery {
            city: Some("mUMBAI".into()),
            ..query()
        })
        .await
        .unwrap();
    assert_eq!(in_mumbai.total, 2);
    assert!(in_mumbai.items.iter().all(|e| e.city == "Mumbai"));
    let nowhere = catalog
        .search(&EventQuery {
            city: Some("Mum".into()),
            ..query()
        })
        .await
        .unwrap();
    assert_eq!(nowhere.total, 0);

    // Category.
    let concerts = catalog
        .search(&EventQuery {
            category: Some(Category::Concerts),
            ..query()
        })
        .await
        .unwrap();
    let ids: Vec<_> = concerts.items.iter().map(|e| e.event_id).collect();
    assert_eq!(ids, [jazz.event_id, rock.event_id]);

    // Date: events running on it, both ends inclusive.
    for (day, expected) in [
        ("2026-12-01", vec![jazz.event_id]),
        (
            "2026-12-02",
            vec![jazz.event_id, play.event_id, film.event_id],
        ),
        ("2026-12-03", vec![jazz.event_id, film.event_id]),
        ("2026-12-05", vec![film.event_id, rock.event_id]),
        ("2026-12-11", vec![]),
    ] {
        let found = catalog
            .search(&EventQuery {
                date: Some(date(day)),
                ..query()
            })
            .await
            .unwrap();
        let ids: Vec<_> = found.items.iter().map(|e| e.event_id).collect();
        assert_eq!(ids, expected, "date {day}");
    }

    // Full text: stemmed, case-insensitive, title matches ranked above description matches.
    let found = catalog
        .search(&EventQuery {
            query: Some("JAZZ".into()),
            ..query()
        })
        .await
        .unwrap();
    let ids: Vec<_> = found.items.iter().map(|e| e.event_id).collect();
    assert_eq!(ids, [jazz.event_id, rock.event_id]);
    let stemmed = catalog
        .search(&EventQuery {
            query: Some("concert".into()),
            ..query()
        })
        .await
        .unwrap();
    assert_eq!(
        stemmed.items.iter().map(|e| e.event_id).collect::<Vec<_>>(),
        [rock.event_id]
    );
    let stemmed = catalog
        .search(&EventQuery {
            query: Some("delivering letter".into()),
            ..query()
        })
        .await
        .unwrap();
    assert_eq!(stemmed.items[0].event_id, film.event_id);
    // Text and filters combine.
    let combined = catalog
        .search(&EventQuery {
            query: Some("jazz".into()),
            date: Some(date("2026-12-05")),
            ..query()
        })
        .await
        .unwrap();
    assert_eq!(
        combined
            .items
            .iter()
            .map(|e| e.event_id)
            .collect::<Vec<_>>(),
        [rock.event_id]
    );
    // Query syntax a buyer might type by accident is not an error.
    let odd = catalog
        .search(&EventQuery {
            query: Some("jazz\" AND (:".into()),
            ..query()
        })
        .await
        .unwrap();
    assert!(odd.items.iter().any(|e| e.event_id == jazz.event_id));

    // Paging.
    let page2 = catalog
        .search(&EventQuery {
            page: 2,
            limit: 3,
            ..query()
        })
        .await
        .unwrap();
    assert_eq!(
        (page2.total, page2.page, page2.limit, page2.items.len()),
        (4, 2, 3, 1)
    );
    assert_eq!(page2.items[0].title, "Rock Anthems");
    let beyond = catalog
        .search(&EventQuery {
            page: 9,
            limit: 3,
            ..query()
        })
        .await
        .unwrap();
    assert!(beyond.items.is_empty());
    assert_eq!(beyond.total, 4);

    for (page, limit, field) in [(0, 20, "page"), (1, 0, "limit"), (1, 101, "limit")] {
        let result = catalog
            .search(&EventQuery {
                page,
                limit,
                ..query()
            })
            .await;
        assert_eq!(invalid_field(result), field);
    }

    // Summaries carry the contract's fields.
    let json = serde_json::to_value(&all).unwrap();
    assert_eq!(json["total"], 4);
    let item = &json["items"][0];
    for field in [
        "eventId",
        "title",
        "category",
        "city",
        "venueId",
        "venueName",
        "startDate",
        "endDate",
        "posterUrl",
    ] {
        assert!(item.get(field).is_some(), "summary lacks {field}");
    }
    assert!(item.get("description").is_none());
    assert_eq!(item["category"], "concerts");
}

fn delta(show: ShowId, from: u64, to: u64, changes: &[(u32, SeatStatus)]) -> SeatDelta {
    SeatDelta {
        schema: SCHEMA_VERSION,
        show_id: show,
        from_version: from,
        version: to,
        changes: changes
            .iter()
            .map(|(i, status)| SeatChange {
                seat_id: SeatId::derive(show, *i),
                status: *status,
            })
            .collect(),
        at: UnixMs(0),
    }
}

#[tokio::test]
async fn availability_follows_seat_deltas_idempotently_and_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (show_id, event_id) = {
        let catalog = open(&dir).await;
        let venue = catalog.create_venue(small_venue("Pune")).await.unwrap();
        let e = catalog
            .create_event(event(
                venue.venue_id,
                "Pune",
                "T",
                "D",
                Category::Movies,
                "2026-12-01",
                "2026-12-04",
            ))
            .await
            .unwrap();
        let show = catalog
            .create_show(
                e.event_id,
                NewShow {
                    show_time: now() + Duration::days(1),
                    sale_opens_at: None,
                    waiting_room: None,
                },
            )
            .await
            .unwrap()
            .show;
        let id = show.show_id;

        let held = delta(
            id,
            0,
            1,
            &[
                (0, SeatStatus::Held),
                (1, SeatStatus::Held),
                (2, SeatStatus::Blocked),
            ],
        );
        assert_eq!(
            catalog.apply_seat_delta(&held),
            DeltaOutcome::Applied {
                available_seats: 19
            }
        );
        // Redelivered: ignored.
        assert_eq!(catalog.apply_seat_delta(&held), DeltaOutcome::Stale);
        // Held -> Booked does not change the count; Held -> Available gives one back.
        let booked = delta(
            id,
            1,
            2,
            &[(0, SeatStatus::Booked), (1, SeatStatus::Available)],
        );
        assert_eq!(
            catalog.apply_seat_delta(&booked),
            DeltaOutcome::Applied {
                available_seats: 20
            }
        );
        // A gap asks for a snapshot and changes nothing.
        let gap = delta(id, 5, 6, &[(3, SeatStatus::Held)]);
        assert_eq!(
            catalog.apply_seat_delta(&gap),
            DeltaOutcome::NeedsSnapshot {
                known_version: Some(2)
            }
        );
        assert_eq!(catalog.show(id).await.unwrap().available_seats, 20);
        assert_eq!(
            catalog.event_detail(e.event_id, now()).await.unwrap().shows[0].available_seats,
            20
        );

        // A snapshot resets it; an older snapshot afterwards is ignored.
        let mut statuses = vec![SeatStatus::Available; 22];
        statuses[..10].fill(SeatStatus::Booked);
        assert_eq!(catalog.sync_seats(id, 6, statuses.clone()), 12);
        assert_eq!(
            catalog.sync_seats(id, 3, vec![SeatStatus::Available; 22]),
            12
        );
        assert_eq!(catalog.flush_availability().await.unwrap(), 1);
        assert_eq!(catalog.flush_availability().await.unwrap(), 0);
        (id, e.event_id)
    };

    // A restarted process serves the stored count and needs a snapshot before new deltas.
    let catalog = open(&dir).await;
    let show = catalog.show(show_id).await.unwrap();
    assert_eq!((show.available_seats, show.seats_version), (12, 6));
    assert_eq!(
        catalog.apply_seat_delta(&delta(show_id, 6, 7, &[(20, SeatStatus::Held)])),
        DeltaOutcome::NeedsSnapshot {
            known_version: None
        }
    );
    // Counts computed elsewhere keep the higher version.
    catalog.set_available(show_id, 3, 4).await.unwrap();
    assert_eq!(catalog.show(show_id).await.unwrap().available_seats, 12);
    catalog.set_available(show_id, 0, 9).await.unwrap();
    let sold = catalog.show(show_id).await.unwrap();
    assert_eq!(sold.available_seats, 0);
    assert_eq!(sold.status(now()), ShowStatus::SoldOut);
    assert_eq!(catalog.shows_of_event(event_id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_catalog_and_its_search_index_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (event_id, show_id) = {
        let catalog = open(&dir).await;
        let venue = catalog
            .create_venue(small_venue("Bengaluru"))
            .await
            .unwrap();
        let e = catalog
            .create_event(event(
                venue.venue_id,
                "Bengaluru",
                "Paper Kings",
                "A comedy about printing",
                Category::Theater,
                "2026-12-01",
                "2026-12-04",
            ))
            .await
            .unwrap();
        let show = catalog
            .create_show(
                e.event_id,
                NewShow {
                    show_time: now() + Duration::days(2),
                    sale_opens_at: Some(now() + Duration::days(1)),
                    waiting_room: None,
                },
            )
            .await
            .unwrap()
            .show;
        (e.event_id, show.show_id)
    };
    let catalog = open(&dir).await;
    let found = catalog
        .search(&EventQuery {
            query: Some("printed".into()),
            ..query()
        })
        .await
        .unwrap();
    assert_eq!(
        found.items.iter().map(|e| e.event_id).collect::<Vec<_>>(),
        [event_id]
    );
    let show = catalog.show(show_id).await.unwrap();
    assert_eq!(show.status(now()), ShowStatus::Scheduled);
    assert_eq!(show.status(now() + Duration::days(1)), ShowStatus::Open);
    assert_eq!(catalog.all_shows().await.unwrap().len(), 1);

    // Waiting room switched on: QUEUE, persisted.
    let room = WaitingRoom {
        enabled: true,
        admit_per_minute: 120,
        challenge_bits: Some(12),
    };
    let updated = catalog.set_waiting_room(show_id, room).await.unwrap();
    assert_eq!(updated.waiting_room, room);
    assert_eq!(updated.status(now() + Duration::days(1)), ShowStatus::Queue);
    let bad = WaitingRoom {
        enabled: true,
        admit_per_minute: 10,
        challenge_bits: Some(99),
    };
    assert_eq!(
        invalid_field(catalog.set_waiting_room(show_id, bad).await),
        "challengeBits"
    );
    drop(catalog);
    let catalog = open(&dir).await;
    assert_eq!(catalog.show(show_id).await.unwrap().waiting_room, room);
    assert!(matches!(
        catalog.show(ShowId(uuid::Uuid::new_v4())).await,
        Err(CatalogError::ShowNotFound(_))
    ));
}

#[tokio::test]
async fn the_demo_seed_runs_once_and_is_searchable() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = open(&dir).await;
    let now = Utc::now();
    let shows = catalog::seed::demo(&catalog, now).await.unwrap();
    assert!(shows.len() >= 30, "{} shows", shows.len());
    let sizes: HashSet<u32> = shows.iter().map(|s| s.show.total_seats).collect();
    assert!(sizes.contains(&100) && sizes.contains(&50_000), "{sizes:?}");
    // Every layout matches its show.
    for created in &shows {
        let seats: usize = created
            .layout
            .sections
            .iter()
            .flat_map(|s| &s.rows)
            .map(|r| r.seats.len())
            .sum();
        assert_eq!(seats as u32, created.show.total_seats);
        assert!(created.show.show_time > now);
    }
    // Shows today and in the coming weeks.
    assert!(
        shows
            .iter()
            .any(|s| s.show.show_time < now + Duration::hours(5))
    );
    assert!(
        shows
            .iter()
            .any(|s| s.show.show_time > now + Duration::days(14))
    );
    assert!(
        shows
            .iter()
            .any(|s| s.show.status(now) == ShowStatus::Scheduled)
    );

    // Cities and categories.
    for city in ["Mumbai", "Bengaluru", "London", "New York"] {
        let page = catalog
            .search(&EventQuery {
                city: Some(city.into()),
                ..query()
            })
            .await
            .unwrap();
        assert!(page.total > 0, "no events in {city}");
    }
    for category in Category::ALL {
        let page = catalog
            .search(&EventQuery {
                category: Some(category),
                ..query()
            })
            .await
            .unwrap();
        assert!(page.total > 0, "no {category:?}");
    }
    let today = catalog
        .search(&EventQuery {
            date: Some(now.date_naive()),
            ..query()
        })
        .await
        .unwrap();
    assert!(today.total > 0);
    let jazz = catalog
        .search(&EventQuery {
            query: Some("jazz".into()),
            ..query()
        })
        .await
        .unwrap();
    assert!(jazz.items[0].title.contains("Jazz"));

    // Idempotent: a second run (or a restart) adds nothing.
    assert!(catalog::seed::demo(&catalog, now).await.unwrap().is_empty());
    drop(catalog);
    let catalog = open(&dir).await;
    assert!(catalog::seed::demo(&catalog, now).await.unwrap().is_empty());
    assert_eq!(catalog.all_shows().await.unwrap().len(), shows.len());
}

#[tokio::test]
async fn events_created_by_another_process_become_searchable_on_refresh() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn catalog::CatalogStore> =
        Arc::new(catalog::EmbeddedStore::open(dir.path()).unwrap());
    let reader = Arc::new(Catalog::open(Arc::clone(&store)).await.unwrap());
    let writer = Catalog::open(Arc::clone(&store)).await.unwrap();
    let venue = writer.create_venue(small_venue("London")).await.unwrap();
    writer
        .create_event(event(
            venue.venue_id,
            "London",
            "Harbour Lights",
            "A musical",
            Category::Theater,
            "2026-12-01",
            "2026-12-02",
        ))
        .await
        .unwrap();
    assert_eq!(reader.search(&query()).await.unwrap().total, 0);
    let refresher = reader.spawn_search_refresher(std::time::Duration::from_millis(20));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while reader.search(&query()).await.unwrap().total == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "refresh never picked the event up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    refresher.abort();
}
