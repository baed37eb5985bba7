//! Input checks for the catalog's create and search operations. Each check names the contract's
//! JSON path of the first offending value, so a client can fix its request.

use std::collections::HashSet;

use crate::error::ValidationError;
use crate::model::{EventQuery, NewEvent, NewShow, NewVenue, WaitingRoom};

/// Most seats a venue may have (a large stadium, with headroom).
pub const VENUE_SEATS_MAX: u32 = 150_000;
/// Most seats in one row.
pub const ROW_SEATS_MAX: u32 = 2_000;
/// Most sections per venue.
pub const SECTIONS_MAX: usize = 200;
/// Most rows per section.
pub const ROWS_PER_SECTION_MAX: usize = 1_000;
/// Longest operator-chosen short id (`sectionId`, `row`).
pub const SHORT_ID_CHARS_MAX: usize = 16;
/// Longest name or title.
pub const NAME_CHARS_MAX: usize = 200;
/// Longest description.
pub const DESCRIPTION_CHARS_MAX: usize = 10_000;
/// Largest price in minor units (ten billion of the major unit).
pub const PRICE_MINOR_MAX: i64 = 1_000_000_000_000;
/// Largest page size of a list.
pub const PAGE_LIMIT_MAX: u32 = 100;
/// Highest page number (keeps `page * limit` far from overflow and deep paging cheap enough).
pub const PAGE_MAX: u32 = 1_000_000;
/// Longest full-text query.
pub const QUERY_CHARS_MAX: usize = 500;
/// Fastest admission pace of a waiting room.
pub const ADMIT_PER_MINUTE_MAX: u32 = 1_000_000;
/// Hardest proof-of-work challenge.
pub const CHALLENGE_BITS_MAX: u8 = 32;

/// Checks a venue, including the one-currency rule.
pub fn venue(v: &NewVenue) -> Result<(), ValidationError> {
    text(&v.name, "name", NAME_CHARS_MAX)?;
    text(&v.city, "city", NAME_CHARS_MAX)?;
    if v.sections.is_empty() || v.sections.len() > SECTIONS_MAX {
        return Err(ValidationError::BadLength {
            field: "sections".into(),
            min: 1,
            max: SECTIONS_MAX,
        });
    }
    let mut section_ids = HashSet::new();
    let mut total: u64 = 0;
    for (i, s) in v.sections.iter().enumerate() {
        let at = |name: &str| format!("sections[{i}].{name}");
        text(&s.section_id, &at("sectionId"), SHORT_ID_CHARS_MAX)?;
        if !section_ids.insert(s.section_id.as_str()) {
            return Err(ValidationError::Duplicate {
                field: at("sectionId"),
                value: s.section_id.clone(),
            });
        }
        text(&s.name, &at("name"), NAME_CHARS_MAX)?;
        text(&s.price_category, &at("priceCategory"), NAME_CHARS_MAX)?;
        range(s.price_minor, 0, PRICE_MINOR_MAX, &at("price"))?;
        currency(&s.currency, &at("currency"))?;
        let first = &v.sections[0].currency;
        if &s.currency != first {
            return Err(ValidationError::MixedCurrency {
                field: at("currency"),
                expected: first.clone(),
                found: s.currency.clone(),
            });
        }
        total += section_rows(s, i)?;
    }
    if total > u64::from(VENUE_SEATS_MAX) {
        return Err(ValidationError::OutOfRange {
            field: "sections".into(),
            min: 1,
            max: i64::from(VENUE_SEATS_MAX),
        });
    }
    Ok(())
}

/// Checks the rows of section `i` and returns its seat count.
fn section_rows(s: &crate::model::VenueSection, i: usize) -> Result<u64, ValidationError> {
    if s.rows.is_empty() || s.rows.len() > ROWS_PER_SECTION_MAX {
        return Err(ValidationError::BadLength {
            field: format!("sections[{i}].rows"),
            min: 1,
            max: ROWS_PER_SECTION_MAX,
        });
    }
    let mut labels = HashSet::new();
    let mut seats = 0u64;
    for (j, r) in s.rows.iter().enumerate() {
        let at = |name: &str| format!("sections[{i}].rows[{j}].{name}");
        text(&r.row, &at("row"), SHORT_ID_CHARS_MAX)?;
        if !labels.insert(r.row.as_str()) {
            return Err(ValidationError::Duplicate {
                field: at("row"),
                value: r.row.clone(),
            });
        }
        range(
            i64::from(r.seats),
            1,
            i64::from(ROW_SEATS_MAX),
            &at("seats"),
        )?;
        seats += u64::from(r.seats);
    }
    Ok(seats)
}

/// Checks an event's own fields (the venue's existence is checked by the catalog).
pub fn event(e: &NewEvent) -> Result<(), ValidationError> {
    text(&e.title, "title", NAME_CHARS_MAX)?;
    if e.description.chars().count() > DESCRIPTION_CHARS_MAX {
        return Err(ValidationError::TooLong {
            field: "description".into(),
            max: DESCRIPTION_CHARS_MAX,
        });
    }
    text(&e.city, "city", NAME_CHARS_MAX)?;
    if e.end_date < e.start_date {
        return Err(ValidationError::BadOrder {
            field: "endDate".into(),
            other: "startDate".into(),
        });
    }
    if let Some(url) = &e.poster_url {
        let lower = url.to_ascii_lowercase();
        let scheme_ok = lower.starts_with("http://") || lower.starts_with("https://");
        if !scheme_ok || url.len() > 2_000 || url.chars().any(char::is_whitespace) {
            return Err(ValidationError::BadUrl {
                field: "posterUrl".into(),
            });
        }
    }
    Ok(())
}

/// Checks a show's times and waiting room.
pub fn show(s: &NewShow) -> Result<(), ValidationError> {
    if let Some(opens) = s.sale_opens_at
        && opens > s.show_time
    {
        return Err(ValidationError::BadOrder {
            field: "showTime".into(),
            other: "saleOpensAt".into(),
        });
    }
    if let Some(room) = &s.waiting_room {
        waiting_room(room, "waitingRoom.")?;
    }
    Ok(())
}

/// Checks waiting-room settings; `prefix` is the JSON path of the object (`""` or
/// `"waitingRoom."`).
pub fn waiting_room(w: &WaitingRoom, prefix: &str) -> Result<(), ValidationError> {
    if w.enabled {
        range(
            i64::from(w.admit_per_minute),
            1,
            i64::from(ADMIT_PER_MINUTE_MAX),
            &format!("{prefix}admitPerMinute"),
        )?;
    }
    if let Some(bits) = w.challenge_bits {
        range(
            i64::from(bits),
            1,
            i64::from(CHALLENGE_BITS_MAX),
            &format!("{prefix}challengeBits"),
        )?;
    }
    Ok(())
}

/// Checks paging and the free-text query of a search.
pub fn query(q: &EventQuery) -> Result<(), ValidationError> {
    range(i64::from(q.page), 1, i64::from(PAGE_MAX), "page")?;
    range(i64::from(q.limit), 1, i64::from(PAGE_LIMIT_MAX), "limit")?;
    if let Some(text) = &q.query
        && text.chars().count() > QUERY_CHARS_MAX
    {
        return Err(ValidationError::TooLong {
            field: "query".into(),
            max: QUERY_CHARS_MAX,
        });
    }
    if let Some(city) = &q.city
        && city.chars().count() > NAME_CHARS_MAX
    {
        return Err(ValidationError::TooLong {
            field: "city".into(),
            max: NAME_CHARS_MAX,
        });
    }
    Ok(())
}

fn text(value: &str, field: &str, max: usize) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        return Err(ValidationError::Empty {
            field: field.into(),
        });
    }
    if value.chars().count() > max {
        return Err(ValidationError::TooLong {
            field: field.into(),
            max,
        });
    }
    if value.chars().any(char::is_control) {
        return Err(ValidationError::Unprintable {
            field: field.into(),
        });
    }
    Ok(())
}

fn range(value: i64, min: i64, max: i64, field: &str) -> Result<(), ValidationError> {
    if value < min || value > max {
        return Err(ValidationError::OutOfRange {
            field: field.into(),
            min,
            max,
        });
    }
    Ok(())
}

fn currency(code: &str, field: &str) -> Result<(), ValidationError> {
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(ValidationError::BadCurrency {
            field: field.into(),
        })
    }
}
