//! The demo catalog `boxoffice dev` starts with: four cities, all four categories, venues from 100
//! to 50,000 seats, shows from today over the coming weeks. Titles and descriptions are invented
//! but read like real listings, so search has something to find.

use chrono::{DateTime, Duration, NaiveTime, Timelike, Utc};

use crate::model::{Category, NewEvent, NewShow, NewVenue, VenueRow, VenueSection};
use crate::{Catalog, CatalogError, CreatedShow};

/// One priced block: id, name, category label, price (minor units), row count, seats per row.
type Block = (&'static str, &'static str, &'static str, i64, u32, u32);

struct DemoVenue {
    name: &'static str,
    city: &'static str,
    currency: &'static str,
    blocks: &'static [Block],
}

struct DemoEvent {
    venue: usize,
    title: &'static str,
    description: &'static str,
    category: Category,
    /// Days from today of each show; the first (0) is a few hours from `now`.
    show_days: &'static [i64],
    /// Sales open this many hours from `now` (`None`: on sale at once).
    sale_opens_in_hours: Option<i64>,
}

const VENUES: &[DemoVenue] = &[
    DemoVenue {
        name: "Regal Screen 3, Colaba",
        city: "Mumbai",
        currency: "INR",
        blocks: &[
            ("RCL", "Recliners", "RECLINER", 65_000, 2, 10),
            ("PRM", "Prime", "PRIME", 35_000, 8, 10),
        ],
    },
    DemoVenue {
        name: "Harbourfront Arena",
        city: "Mumbai",
        currency: "INR",
        blocks: &[
            ("FLR", "Floor", "PLATINUM", 650_000, 20, 50),
            ("LWR", "Lower Tier", "GOLD", 350_000, 30, 80),
            ("UPR", "Upper Tier", "SILVER", 150_000, 20, 75),
        ],
    },
    DemoVenue {
        name: "Marine Drive Cricket Stadium",
        city: "Mumbai",
        currency: "INR",
        blocks: &[
            ("N", "North Stand", "GENERAL", 80_000, 50, 200),
            ("E", "East Pavilion", "PAVILION", 250_000, 50, 200),
            ("S", "South Stand", "GENERAL", 80_000, 50, 200),
            ("W", "West Pavilion", "PAVILION", 250_000, 50, 200),
            ("C", "Club House", "CLUB", 900_000, 50, 200),
        ],
    },
    DemoVenue {
        name: "Lalbagh Picture Palace",
        city: "Bengaluru",
        currency: "INR",
        blocks: &[
            ("GLD", "Gold Class", "GOLD", 55_000, 3, 12),
            ("STD", "Standard", "STANDARD", 25_000, 12, 14),
        ],
    },
    DemoVenue {
        name: "Cubbon Playhouse",
        city: "Bengaluru",
        currency: "INR",
        blocks: &[
            ("STL", "Stalls", "STALLS", 90_000, 14, 16),
            ("BAL", "Balcony", "BALCONY", 60_000, 6, 16),
        ],
    },
    DemoVenue {
        name: "Southbank Music Hall",
        city: "London",
        currency: "GBP",
        blocks: &[
            ("STL", "Stalls", "BAND A", 8_500, 30, 40),
            ("CIR", "Circle", "BAND B", 6_000, 15, 40),
            ("GAL", "Gallery", "BAND C", 3_500, 10, 40),
        ],
    },
    DemoVenue {
        name: "Old Vic Lane Theatre",
        city: "London",
        currency: "GBP",
        blocks: &[
            ("STL", "Stalls", "PREMIUM", 12_500, 20, 30),
            ("DRC", "Dress Circle", "STANDARD", 7_500, 10, 30),
            ("UPC", "Upper Circle", "RESTRICTED", 2_500, 8, 30),
        ],
    },
    DemoVenue {
        name: "Hudson Yards Cinema 7",
        city: "New York",
        currency: "USD",
        blocks: &[
            ("LUX", "Luxury Recliners", "LUXURY", 2_400, 4, 16),
            ("REG", "Regular", "REGULAR", 1_700, 14, 20),
        ],
    },
    DemoVenue {
        name: "Empire Court Arena",
        city: "New York",
        currency: "USD",
        blocks: &[
            ("CRT", "Courtside", "COURTSIDE", 95_000, 4, 50),
            ("LWR", "Lower Bowl", "LOWER", 22_000, 40, 100),
            ("UPR", "Upper Bowl", "UPPER", 8_500, 60, 100),
        ],
    },
    DemoVenue {
        name: "Broadway Lantern Theatre",
        city: "New York",
        currency: "USD",
        blocks: &[
            ("ORC", "Orchestra", "ORCHESTRA", 18_900, 25, 32),
            ("MEZ", "Mezzanine", "MEZZANINE", 12_900, 12, 32),
        ],
    },
];

const EVENTS: &[DemoEvent] = &[
    DemoEvent {
        venue: 0,
        title: "Monsoon Letters",
        description: "A postman in 1970s Bombay delivers the letters nobody else will. A tender romantic drama with songs that stay with you, in Hindi with English subtitles.",
        category: Category::Movies,
        show_days: &[0, 1, 2, 5],
        sale_opens_in_hours: None,
    },
    DemoEvent {
        venue: 0,
        title: "Orbital Drift",
        description: "Science fiction thriller: a stranded crew races to repair their orbiting station before the next solar storm. Shot for the big screen, best seen in the recliners.",
        category: Category::Movies,
        show_days: &[0, 3, 7],
        sale_opens_in_hours: None,
    },
    DemoEvent {
        venue: 1,
        title: "Arijit Nights: Live in Concert",
        description: "An evening of soulful Bollywood ballads and unplugged favourites with a full live orchestra. Gates open two hours before the concert.",
        category: Category::Concerts,
        show_days: &[0, 14],
        sale_opens_in_hours: None,
    },
    DemoEvent {
        venue: 1,
        title: "Bandra Beats Electronic Festival",
        description: "Two stages of house, techno and electronic dance music from India's best DJs, with a closing set at midnight.",
        category: Category::Concerts,
        show_days: &[10],
        sale_opens_in_hours: Some(24),
    },
    DemoEvent {
        venue: 2,
        title: "Mumbai Mariners vs Chennai Chargers",
        description: "T20 cricket league match under lights. The Mariners defend their home record against last season's champions.",
        category: Category::Sports,
        show_days: &[0, 12],
        sale_opens_in_hours: None,
    },
    DemoEvent {
        venue: 3,
        title: "Orbital Drift",
        description: "Science fiction thriller: a stranded crew races to repair their orbiting station before the next solar storm.",
        category: Category::Movies,
        show_days: &[0, 1, 4],
        sale_opens_in_hours: None,
    },
    DemoEvent {
        venue: 4,
        title: "Girish and the Paper Kings",
        description: "A Kannada comedy play about a printing press, an election and three brothers who cannot keep a secret. English surtitles at every show.",
        category: Category::Theater,
        show_days: &[0, 2, 9],
        sale_opens_in_hours: None,
    },
    DemoEvent {
        venue: 4,
        title: "Stand-up Sundays",
        description: "Five rising comedians, one microphone: an evening of observational stand-up comedy about life in Bengaluru traffic and tech offices.",
        category: Category::Theater,
        show_days: &[6, 13, 20],
        sale_opens_in_hours: None,
    },
    DemoEvent {
        venue: 5,
        title: "London Jazz Orchestra: Kind of Blue at 65",
        description: "The London Jazz Orchestra plays the classic modal jazz album in full, followed by a set of new arrangements. Late-night jazz at its finest.",
        category: Category::Concerts,
        show_days: &[0, 8],
        sale_opens_in_hours: None,
    },
    DemoEvent {
        venue: 5,
        title: "Symphony of Storms",
        description: "A symphony orchestra performs Vivaldi's Four Seasons alongside a new climate-inspired symphonic commission.",
        category: Category::Concerts,
        show_days: &[3, 17],
        sale_opens_in_hours: None,
    },
    DemoEvent {
        venue: 6,
        title: "The Lighthouse Keeper's Daughter",
        description: "A new West End drama: a storm, a shipwreck and a family secret on the Cornish coast. Running time two hours thirty minutes including an interval.",
        category: Category::Theater,
        show_days: &[0, 1, 2, 3, 4],
        sale_opens_in_hours: None,
    },
    DemoEvent {
        venue: 7,
        title: "Orbital Drift",
        description: "Science fiction thriller: a stranded crew races to repair their orbiting station before the next solar storm. IMAX laser projection.",
        category: Category::Movies,
        show_days: &[0, 1, 2],
        sale_opens_in_hours: None,
    },
    DemoEvent {
        venue: 7,
        title: "The Last Bodega",
        description: "A warm comedy about a corner shop in Queens, its regulars, and the developer who wants the block. Family friendly.",
        category: Category::Movies,
        show_days: &[0, 5],
        sale_opens_in_hours: None,
    },
    DemoEvent {
        venue: 8,
        title: "New York Knights vs Boston Harbor",
        description: "Professional basketball rivalry game. Doors open ninety minutes before tip-off.",
        category: Category::Sports,
        show_days: &[0, 7],
        sale_opens_in_hours: None,
    },
    DemoEvent {
        venue: 8,
        title: "Neon Skyline World Tour",
        description: "The synth-pop arena tour of the year: lasers, confetti and every hit single, live in concert.",
        category: Category::Concerts,
        show_days: &[15],
        sale_opens_in_hours: Some(48),
    },
    DemoEvent {
        venue: 9,
        title: "Harbor Lights: A New Musical",
        description: "A Broadway musical about immigrant dockworkers in 1900s Manhattan, with a soaring score and a twelve-piece orchestra.",
        category: Category::Theater,
        show_days: &[0, 1, 2, 6, 13],
        sale_opens_in_hours: None,
    },
];

/// Seeds the demo catalog if the catalog has no venue yet; returns the shows created (empty when
/// the catalog already had data). The caller sends each layout to the pipeline as
/// `Command::CreateShow`.
pub async fn demo(catalog: &Catalog, now: DateTime<Utc>) -> Result<Vec<CreatedShow>, CatalogError> {
    if !catalog.store().is_empty().await? {
        return Ok(Vec::new());
    }
    let mut venues = Vec::with_capacity(VENUES.len());
    for v in VENUES {
        venues.push(catalog.create_venue(new_venue(v)).await?);
    }
    let today = now.date_naive();
    let mut created = Vec::new();
    for e in EVENTS {
        let venue = &venues[e.venue];
        let last_day = e.show_days.iter().copied().max().unwrap_or(0);
        let event = catalog
            .create_event(NewEvent {
                title: e.title.to_owned(),
                description: e.description.to_owned(),
                category: e.category,
                city: venue.city.clone(),
                venue_id: venue.venue_id,
                start_date: today,
                end_date: today + Duration::days(last_day.max(1)),
                poster_url: None,
            })
            .await?;
        for day in e.show_days {
            let show = NewShow {
                show_time: show_time(now, *day),
                sale_opens_at: e.sale_opens_in_hours.map(|h| now + Duration::hours(h)),
                waiting_room: None,
            };
            created.push(catalog.create_show(event.event_id, show).await?);
        }
    }
    Ok(created)
}

fn new_venue(v: &DemoVenue) -> NewVenue {
    NewVenue {
        name: v.name.to_owned(),
        city: v.city.to_owned(),
        sections: v
            .blocks
            .iter()
            .map(|(id, name, category, price, rows, seats)| VenueSection {
                section_id: (*id).to_owned(),
                name: (*name).to_owned(),
                price_category: (*category).to_owned(),
                price_minor: *price,
                currency: v.currency.to_owned(),
                rows: (0..*rows)
                    .map(|r| VenueRow {
                        row: row_label(r),
                        seats: *seats,
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// Rows are lettered A..Z, then AA, AB, ... like theatres do.
fn row_label(index: u32) -> String {
    let letter = |i: u32| char::from(b'A' + u8::try_from(i % 26).unwrap_or(0));
    if index < 26 {
        letter(index).to_string()
    } else {
        format!("{}{}", letter(index / 26 - 1), letter(index))
    }
}

/// Day 0: a few hours from now, on the half hour, so "today" has a show still on sale. Later
/// days: 19:30 UTC.
fn show_time(now: DateTime<Utc>, day: i64) -> DateTime<Utc> {
    if day == 0 {
        let later = now + Duration::hours(3);
        let minute = if later.minute() < 30 { 30 } else { 60 };
        let hour_start = later
            .with_minute(0)
            .and_then(|t| t.with_second(0))
            .and_then(|t| t.with_nanosecond(0))
            .unwrap_or(later);
        hour_start + Duration::minutes(i64::from(minute))
    } else {
        let date = now.date_naive() + Duration::days(day);
        let evening = NaiveTime::from_hms_opt(19, 30, 0).unwrap_or_default();
        date.and_time(evening).and_utc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_labels_run_past_z() {
        assert_eq!(row_label(0), "A");
        assert_eq!(row_label(25), "Z");
        assert_eq!(row_label(26), "AA");
        assert_eq!(row_label(27), "AB");
        assert_eq!(row_label(51), "AZ");
        assert_eq!(row_label(52), "BA");
    }

    #[test]
    fn demo_venues_span_100_to_50000_seats() {
        let sizes: Vec<u32> = VENUES
            .iter()
            .map(|v| v.blocks.iter().map(|b| b.4 * b.5).sum())
            .collect();
        assert_eq!(sizes.iter().min(), Some(&100));
        assert_eq!(sizes.iter().max(), Some(&50_000));
    }
}
