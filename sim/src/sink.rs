//! [`SimSink`]: where an incarnation's events go, and the seat map a live reader projects from
//! them: a delta applies on top of its `from_version`; any other version means something was
//! missed, and the reader reloads the show from the store, as a live seat map does.

use std::sync::Arc;

use async_trait::async_trait;
use processors::events::{EventBatch, EventError, EventSink};
use schemas::{SeatDelta, ShowId};

use fulfilment::store::TicketStore;

use crate::payments::{SimTickets, refund_owed};
use crate::store::stored;
use crate::world::{Fault, Incarnation, Projection, World};

/// Events of one incarnation.
pub struct SimSink {
    world: Arc<World>,
    life: Arc<Incarnation>,
    tickets: Arc<SimTickets>,
}

impl SimSink {
    /// The sink as `life` sees it.
    pub fn new(world: Arc<World>, life: Arc<Incarnation>, tickets: Arc<SimTickets>) -> SimSink {
        SimSink {
            world,
            life,
            tickets,
        }
    }
}

#[async_trait]
impl EventSink for SimSink {
    async fn publish(&self, batch: &EventBatch) -> Result<(), EventError> {
        self.life.boundary(&self.world, Fault::CrashAtPublish).await;
        if self.world.lock().roll(Fault::PublishUnavailable) {
            return Err(EventError::Unavailable("simulated outage".into()));
        }
        for delta in &batch.seat_deltas {
            project(&self.world, delta);
        }
        // The ticket worker records the refund a cancellation owes (idempotent by booking).
        for keyed in &batch.show_events {
            let fact = &keyed.event;
            if let Some(due) = refund_owed(fact.show_id, fact.at, &fact.event) {
                let _ = self.tickets.put_refund_due(&due).await;
            }
        }
        Ok(())
    }
}

/// Apply one delta to the seat map.
pub fn project(world: &World, delta: &SeatDelta) {
    let mut s = world.lock();
    let Some(map) = s.seat_map.get_mut(&delta.show_id) else {
        // A reader's first view of a show starts from the store.
        drop(s);
        return reload(world, delta.show_id);
    };
    if delta.version <= map.version {
        return;
    }
    if delta.from_version == map.version {
        map.version = delta.version;
        for change in &delta.changes {
            map.seats.insert(change.seat_id, change.status);
        }
        return;
    }
    drop(s);
    reload(world, delta.show_id);
}

/// A live seat map's quiet audit (the ingress reads the show when its feed has been quiet a
/// while): a store read NEWER than what the map knows replaces it; an older or equal one
/// changes nothing, so a map that went wrong at its own version stays wrong and is caught.
pub fn audit(world: &World, show: ShowId) {
    let known = world.lock().seat_map.get(&show).map(|p| p.version);
    let stored = stored(world, show).map(|s| s.version);
    if known.is_none() || stored > known {
        reload(world, show);
    }
}

/// The seat map of `show` read again from the store.
pub fn reload(world: &World, show: ShowId) {
    let Some(show_rows) = stored(world, show) else {
        return;
    };
    let Ok(state) = processors::rows::restore(show, &show_rows) else {
        return;
    };
    let projection = Projection {
        version: show_rows.version,
        seats: state.seat_statuses().collect(),
    };
    world.lock().seat_map.insert(show, projection);
}
