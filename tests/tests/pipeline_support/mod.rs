//! Shared helpers of the pipeline suites (`pipeline_*.rs`): a unique topology per test (streams,
//! subjects, lease bucket, keyspace), provisioning, an in-process processor, and command builders.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use processors::provision::{ProvisionTarget, provision};
use processors::serve::{ProcessorConfig, run_processor};
use processors::topology::Topology;
use schemas::{
    BookingId, Command, CommandEnvelope, CommandId, Fingerprint, HoldId, HoldLimits, RowLayout,
    SeatId, SeatLayout, SectionLayout, ShowId, ShowLayout, UnixMs, UserId,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Real service settings, or `None` when skipping (see `boxoffice_tests`).
pub struct Services {
    pub nats_url: String,
    pub cql_nodes: String,
}

pub fn services(test: &str) -> Option<Services> {
    let nats_url = boxoffice_tests::nats_url(test)?;
    let cql_nodes = boxoffice_tests::cql_nodes(test)?.join(",");
    Some(Services {
        nats_url,
        cql_nodes,
    })
}

/// The shipped topology with every name made unique to this test, 2 partitions and short lease
/// and pin timeouts.
pub fn topology(tag: &str) -> Topology {
    topology_named(&boxoffice_tests::unique_name(tag))
}

/// [`topology`] for a given unique name (a child process rebuilds its parent's topology).
pub fn topology_named(u: &str) -> Topology {
    let mut t = Topology::builtin();
    t.commands.stream = format!("CMD_{u}");
    t.commands.subject_prefix = format!("cmd_{u}");
    t.commands.partitions = 2;
    t.seat_events.stream = format!("SEATS_{u}");
    t.seat_events.subject_prefix = format!("seats_{u}");
    t.booking_events.stream = format!("BOOKINGS_{u}");
    t.booking_events.subject_prefix = format!("bookings_{u}");
    t.processor.lease_bucket = format!("leases_{u}");
    t.processor.lease_ttl_ms = 1500;
    t.processor.pin_timeout_ms = 2000;
    t.processor.batch_wait_ms = 20;
    t.cql.keyspace = format!("bo_{}", &u[u.len() - 16..]);
    t
}

pub async fn provision_all(services: &Services, topology: &Topology) -> String {
    let target = ProvisionTarget {
        nats_url: Some(services.nats_url.clone()),
        cql_nodes: Some(services.cql_nodes.clone()),
    };
    provision(topology, &target)
        .await
        .expect("provision")
        .to_string()
}

/// A processor running in this process; stop it with [`Processor::stop`].
pub struct Processor {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Processor {
    pub fn start(services: &Services, topology: &Topology, owner: &str) -> Processor {
        let config = ProcessorConfig {
            nats_url: services.nats_url.clone(),
            cql_nodes: services.cql_nodes.clone(),
            topology: topology.clone(),
            partitions: Vec::new(),
            owner: owner.to_string(),
            shows_cached_max: 64,
        };
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            run_processor(config, stop_rx).await.expect("processor");
        });
        Processor { stop, task }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("processor stops within 20 s")
            .expect("processor task");
    }
}

pub async fn bus(services: &Services, topology: &Topology) -> processors::bus::NatsBus {
    let client = processors::serve::connect(&services.nats_url)
        .await
        .expect("nats");
    processors::bus::NatsBus::new(client, Arc::new(topology.clone()), Duration::from_secs(10))
        .await
        .expect("bus")
}

pub fn new_show() -> ShowId {
    ShowId(Uuid::new_v4())
}

pub fn user(n: u128) -> UserId {
    UserId(Uuid::from_u128(0x7000 + n))
}

pub fn seat(show: ShowId, i: u32) -> SeatId {
    SeatId::derive(show, i)
}

pub fn envelope(show: ShowId, command: Command) -> CommandEnvelope {
    let command_id = CommandId(Uuid::new_v4());
    CommandEnvelope {
        schema: schemas::SCHEMA_VERSION,
        command_id,
        fingerprint: Fingerprint(*command_id.0.as_bytes()),
        show_id: show,
        issued_at: UnixMs(0),
        command,
    }
}

pub fn create(show: ShowId, seats: u32) -> CommandEnvelope {
    let layout = ShowLayout {
        currency: "EUR".into(),
        sections: vec![SectionLayout {
            section_id: "A".into(),
            name: "Stalls".into(),
            price_category: "standard".into(),
            price_minor: 1500,
            rows: vec![RowLayout {
                row: "1".into(),
                seats: (0..seats)
                    .map(|i| SeatLayout {
                        seat_id: seat(show, i),
                        number: i + 1,
                        x: i as i32,
                        y: 0,
                    })
                    .collect(),
            }],
        }],
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let show_time = UnixMs(now.as_millis() as i64 + 30 * 24 * 3600 * 1000);
    envelope(
        show,
        Command::CreateShow {
            layout,
            show_time,
            sale_opens_at: None,
        },
    )
}

pub fn hold(
    show: ShowId,
    hold_id: HoldId,
    who: UserId,
    seats: &[u32],
    ttl_ms: u64,
) -> CommandEnvelope {
    envelope(
        show,
        Command::Hold {
            hold_id,
            user: who,
            seats: seats.iter().map(|i| seat(show, *i)).collect(),
            ttl_ms,
            limits: HoldLimits {
                max_seats_per_hold: 10,
                max_tickets_per_user: 10_000,
                max_holds_per_user: 10_000,
            },
        },
    )
}

pub fn confirm(
    show: ShowId,
    hold_id: HoldId,
    who: UserId,
    booking_id: BookingId,
) -> CommandEnvelope {
    envelope(
        show,
        Command::Confirm {
            hold_id,
            user: who,
            booking_id,
            payment_ref: "pay".into(),
        },
    )
}

pub fn release(show: ShowId, hold_id: HoldId, who: UserId) -> CommandEnvelope {
    envelope(show, Command::Release { hold_id, user: who })
}

pub fn cancel(show: ShowId, booking_id: BookingId, who: UserId) -> CommandEnvelope {
    envelope(
        show,
        Command::Cancel {
            booking_id,
            user: who,
            reason: None,
        },
    )
}

pub fn new_hold() -> HoldId {
    HoldId(Uuid::new_v4())
}

pub fn new_booking() -> BookingId {
    BookingId(Uuid::new_v4())
}
