//! The final state read back once the run is quiet: every show from the store, its seat map
//! from the projection a live reader keeps (after its quiet audit), in the checker's terms.

use engine::ShowState;
use history::{FinalState, HoldEnd, Ms};
use processors::log::LogEntry;
use processors::readback::seat_status;
use schemas::ShowId;

use crate::sink::audit;
use crate::store::stored;
use crate::world::World;

/// Read every show of the run back; a show the store holds but that does not restore (the
/// restore refuses, say, a seat claimed by two holds) is a violation of its own.
pub fn final_state(world: &World, shows: &[ShowId], show_time: Ms) -> Result<FinalState, String> {
    let mut state = FinalState {
        show_time,
        ..FinalState::default()
    };
    for show in shows {
        read_show(world, *show, &mut state)?;
    }
    Ok(state)
}

fn unreadable(show: ShowId, e: impl std::fmt::Display) -> String {
    format!("VIOLATION stored-state-restores: show {show} does not restore: {e}")
}

fn read_show(world: &World, show: ShowId, out: &mut FinalState) -> Result<(), String> {
    let Some(rows) = stored(world, show) else {
        return Ok(());
    };
    let engine = processors::rows::restore(show, &rows).map_err(|e| unreadable(show, e))?;
    // The payments come from the provider (`Money::read_back`), not the bookings' references.
    processors::readback::read_show(&engine, out);
    // Quiet now: the live map has audited the show against the store.
    audit(world, show);
    if let Some(map) = world.lock().seat_map.get(&show) {
        for (seat, s) in &map.seats {
            out.seat_map.insert(seat.0, seat_status(*s));
        }
    }
    Ok(())
}

/// Holds still active long after they lapsed, although the run has been quiet: expiry stopped
/// working (the checker cannot tell, as the seats agree with the hold).
pub fn lapsed_but_active(state: &FinalState, now: Ms, grace_ms: Ms) -> Option<String> {
    let stuck: Vec<String> = state
        .holds
        .iter()
        .filter(|h| h.end == HoldEnd::Active && h.expires_at + grace_ms < now)
        .map(|h| format!("{} (lapsed at {})", h.id, h.expires_at))
        .collect();
    (!stuck.is_empty()).then(|| {
        format!(
            "VIOLATION holds-lapse: {} hold(s) still active more than {grace_ms} ms after they lapsed, at {now}: {}",
            stuck.len(),
            stuck.join(", ")
        )
    })
}

/// Every command the log accepted must have been decided once the run is quiet (its outcome is
/// remembered by its show), whether or not anyone heard the answer. A client retry with the
/// same key can hide a lost command from the history (the retry applies it), so this reads the
/// log itself: an acknowledged delivery that was never applied (a cumulative ack past a lost
/// delivery, an ack before persist) shows here. `Expire` is left out: the loop drops a late one
/// by design and schedules another.
pub fn undecided(world: &World, now: Ms) -> Option<String> {
    let stream = world.lock().stream.clone();
    let mut shows: std::collections::BTreeMap<ShowId, Option<ShowState>> = Default::default();
    for msg in stream {
        let LogEntry::Command(envelope) = &msg.entry else {
            continue;
        };
        if matches!(envelope.command, schemas::Command::Expire) {
            continue;
        }
        let show = envelope.show_id;
        let engine = shows.entry(show).or_insert_with(|| {
            stored(world, show).and_then(|rows| processors::rows::restore(show, &rows).ok())
        });
        let decided = engine.as_ref().is_some_and(|e| {
            matches!(
                e.recall(envelope, msg.at, schemas::UnixMs(now)),
                engine::Recalled::Outcome(_)
            )
        });
        if !decided {
            return Some(format!(
                "VIOLATION logged-commands-decided: command {} ({}) logged as #{} at {} was never decided",
                envelope.command_id.0,
                command_name(&envelope.command),
                msg.seq,
                msg.at.0
            ));
        }
    }
    None
}

fn command_name(command: &schemas::Command) -> &'static str {
    match command {
        schemas::Command::CreateShow { .. } => "create",
        schemas::Command::Hold { .. } => "hold",
        schemas::Command::Release { .. } => "release",
        schemas::Command::Expire => "expire",
        schemas::Command::Confirm { .. } => "confirm",
        schemas::Command::Cancel { .. } => "cancel",
        schemas::Command::CheckIn { .. } => "check-in",
        schemas::Command::Block { .. } => "block",
        schemas::Command::Unblock { .. } => "unblock",
    }
}
