//! A hot-show move mid-sale, as an operator makes it: the show's partition is asked to hand the
//! show over (a [`Handover`] logged in it), and the ingresses' routing switches to the new
//! partition up to 2 s before or after that request, as a rolling restart of ingresses with the
//! new topology would: commands logged in the new partition before the handover applies, and in
//! the old one after it, are forwarded to the show's owner of the moment.

use std::sync::Arc;
use std::time::Duration;

use processors::log::{Handover, LogEntry};
use processors::topology::PartitionId;
use schemas::ShowId;

use crate::world::{Fault, World};

/// Maybe (as the seed's intensity rolls) move one of `shows` to the next partition, between
/// 0.5 s and 8 s into the sale.
pub async fn move_a_show(world: Arc<World>, shows: Vec<ShowId>) {
    let (after, show, lead_ms) = {
        let mut s = world.lock();
        (
            s.pick(500..8_000),
            shows[s.pick(0..shows.len() as u64) as usize],
            s.pick(0..4_000) as i64 - 2_000,
        )
    };
    tokio::time::sleep(Duration::from_millis(after)).await;
    if !world.lock().roll(Fault::HotMove) {
        return;
    }
    let from = world.route(show);
    let to = (from + 1) % world.partitions;
    let handover = Handover {
        show_id: show,
        to: PartitionId(to.to_string()),
        request_id: world.lock().uuid(),
    };
    world.trace(format_args!(
        "move: show {show} from partition {from} to {to}, routing switching {lead_ms} ms after the request"
    ));
    let lead = Duration::from_millis(lead_ms.unsigned_abs());
    if lead_ms < 0 {
        switch_routing(&world, show, to);
        tokio::time::sleep(lead).await;
        request(&world, from, handover);
    } else {
        request(&world, from, handover);
        tokio::time::sleep(lead).await;
        switch_routing(&world, show, to);
    }
}

fn request(world: &World, from: u16, handover: Handover) {
    world
        .lock()
        .handed
        .insert(handover.show_id, handover.to.clone());
    world.append_to(from, LogEntry::Handover(handover), None);
}

fn switch_routing(world: &World, show: ShowId, to: u16) {
    world.lock().moved.insert(show, to);
}

/// `handover-applied`: once the run is quiet, every show asked to move lives where it was sent.
pub fn unapplied(world: &World) -> Option<String> {
    let s = world.lock();
    s.handed.iter().find_map(|(show, to)| {
        let fence = s.shows.get(show).and_then(|d| d.fence.as_ref());
        let named = fence.and_then(|f| f.partition.as_ref());
        (named != Some(to)).then(|| {
            format!(
                "VIOLATION handover-applied: show {show} was handed to partition {to}; once quiet its fence names {named:?}"
            )
        })
    })
}
