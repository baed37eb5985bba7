//! Which shows need an `Expire` command, and when. The loop appends `Expire` to its own log rather
//! than expiring on a timer, so expiry is ordered with confirms and replays identically.

use std::collections::HashMap;
use std::time::Duration;

use schemas::{Command, CommandEnvelope, CommandId, Fingerprint, ShowId, UnixMs};
use uuid::Uuid;

/// Due times per show plus a per-show resend guard.
#[derive(Debug, Default)]
pub struct ExpirySchedule {
    shows: HashMap<ShowId, Entry>,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    due: UnixMs,
    /// An `Expire` was sent; do not send another before this instant.
    not_before: UnixMs,
}

impl ExpirySchedule {
    /// Set (or with `None`, clear) when `show` next has a hold due.
    pub fn set(&mut self, show: ShowId, due: Option<UnixMs>) {
        match due {
            Some(due) => {
                let entry = self.shows.entry(show).or_insert(Entry {
                    due,
                    not_before: UnixMs(0),
                });
                entry.due = due;
            }
            None => {
                self.shows.remove(&show);
            }
        }
    }

    /// Number of shows with a pending expiry.
    pub fn len(&self) -> usize {
        self.shows.len()
    }

    /// Whether no show has a pending expiry.
    pub fn is_empty(&self) -> bool {
        self.shows.is_empty()
    }

    /// Shows whose expiry is due at `now`; each is then guarded for `resend_after` so a slow
    /// `Expire` is not sent again on every loop iteration.
    pub fn take_due(&mut self, now: UnixMs, resend_after: Duration) -> Vec<ShowId> {
        let guard = UnixMs(now.0 + resend_after.as_millis() as i64);
        let mut due = Vec::new();
        for (show, entry) in &mut self.shows {
            if entry.due <= now && entry.not_before <= now {
                entry.not_before = guard;
                due.push(*show);
            }
        }
        due.sort();
        due
    }

    /// Time from `now` until the next show becomes due (zero if one is due already).
    pub fn time_until_next(&self, now: UnixMs) -> Option<Duration> {
        let next = self.shows.values().map(|e| e.due.max(e.not_before)).min()?;
        Some(Duration::from_millis((next.0 - now.0).max(0) as u64))
    }
}

/// An `Expire` command for `show` sent at wall time `now`. Its id is derived from both, so every
/// attempt is a distinct command (a repeat after clock skew still acts) and a replay of the log
/// sees the same id.
pub fn expire_command(show: ShowId, now: UnixMs) -> CommandEnvelope {
    let id = Uuid::new_v5(&show.0, format!("boxoffice/expire/{}", now.0).as_bytes());
    CommandEnvelope {
        schema: schemas::SCHEMA_VERSION,
        command_id: CommandId(id),
        fingerprint: Fingerprint(*id.as_bytes()),
        show_id: show,
        issued_at: now,
        command: Command::Expire,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_shows_are_sent_once_per_guard_period() {
        let mut s = ExpirySchedule::default();
        let a = ShowId(Uuid::from_u128(1));
        let b = ShowId(Uuid::from_u128(2));
        s.set(a, Some(UnixMs(100)));
        s.set(b, Some(UnixMs(500)));
        let guard = Duration::from_millis(1000);
        assert_eq!(s.take_due(UnixMs(99), guard), vec![]);
        assert_eq!(
            s.time_until_next(UnixMs(90)),
            Some(Duration::from_millis(10))
        );
        assert_eq!(s.take_due(UnixMs(100), guard), vec![a]);
        assert_eq!(s.take_due(UnixMs(600), guard), vec![b]);
        // a is still due (its Expire has not been applied) but guarded until 1100.
        assert_eq!(s.take_due(UnixMs(1099), guard), vec![]);
        assert_eq!(s.take_due(UnixMs(1100), guard), vec![a]);
        s.set(a, None);
        s.set(b, Some(UnixMs(5000)));
        assert_eq!(s.take_due(UnixMs(4000), guard), vec![]);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn expire_commands_differ_per_attempt() {
        let show = ShowId(Uuid::from_u128(1));
        let first = expire_command(show, UnixMs(1));
        assert_eq!(first, expire_command(show, UnixMs(1)));
        assert_ne!(first.command_id, expire_command(show, UnixMs(2)).command_id);
    }
}
