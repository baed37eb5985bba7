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
    /// When the show's next hold lapses, in log time.
    due: UnixMs,
    /// An `Expire` was sent; do not send another before this instant of the loop's OWN clock.
    /// Not log time: the loop's reading of the log's time jumps when it first sees a command
    /// (a fresh loop whose clock is a minute ahead sends an `Expire` at once, learns from it that
    /// the log is a minute behind, and a guard set in its first reading would hold the show's
    /// expiry back by that minute).
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

    /// Shows whose expiry is due at log time `now`; each is then guarded for `resend_after` of
    /// the loop's own clock (reading `own` now) so a slow `Expire` is not sent again on every
    /// loop iteration.
    pub fn take_due(&mut self, now: UnixMs, own: UnixMs, resend_after: Duration) -> Vec<ShowId> {
        let guard = UnixMs(own.0 + resend_after.as_millis() as i64);
        let mut due = Vec::new();
        for (show, entry) in &mut self.shows {
            if entry.due <= now && entry.not_before <= own {
                entry.not_before = guard;
                due.push(*show);
            }
        }
        due.sort();
        due
    }

    /// The show due first, whenever that is, among those not guarded (then guarded like
    /// [`ExpirySchedule::take_due`]; `None` if every show is guarded). A loop that cannot read
    /// the log's time yet sends it an `Expire` early to learn it (see [`LogTime::is_known`]); if
    /// that one never comes back (its show moved to another partition), the next call takes the
    /// next show instead of waiting on the same one.
    pub fn take_earliest(&mut self, own: UnixMs, resend_after: Duration) -> Option<ShowId> {
        let (show, entry) = self
            .shows
            .iter_mut()
            .filter(|(_, entry)| entry.not_before <= own)
            .min_by_key(|(show, entry)| (entry.due, **show))?;
        entry.not_before = UnixMs(own.0 + resend_after.as_millis() as i64);
        Some(*show)
    }

    /// Time until the next show becomes due (zero if one is due already), at log time `now`
    /// and own time `own`.
    pub fn time_until_next(&self, now: UnixMs, own: UnixMs) -> Option<Duration> {
        self.shows
            .values()
            .map(|e| (e.due.0 - now.0).max(e.not_before.0 - own.0).max(0))
            .min()
            .map(|ms| Duration::from_millis(ms as u64))
    }
}

/// The loop's reading of the log's clock: its own clock plus the offset seen between a command's
/// log time and its own clock when the command arrived. Expiry is due in log time (the engine
/// sweeps with the log times commands carry), so scheduling `Expire` by the processor's own clock
/// would send it early when that clock is ahead (an `Expire` per show per second, each a
/// conditional write, until the log catches up) and late when it is behind (seats held past
/// their TTL).
///
/// Delivery delay makes each observation read the log slightly behind, so the estimate keeps the
/// highest recent offset, letting it fall back by a tenth of the time since (a clock corrected
/// backward is followed within seconds).
#[derive(Clone, Copy, Debug, Default)]
pub struct LogTime {
    /// Log time minus own clock, and when (own clock) it was last raised.
    offset: Option<(i64, UnixMs)>,
}

impl LogTime {
    /// A command logged at `at` arrived when the loop's clock read `now`.
    pub fn observe(&mut self, at: UnixMs, now: UnixMs) {
        let seen = at.0 - now.0;
        let offset = match self.offset {
            Some((previous, since)) => seen.max(previous - (now.0 - since.0).max(0) / 10),
            None => seen,
        };
        self.offset = Some((offset, now));
    }

    /// Whether a command has been seen, so [`LogTime::now`] follows the log's clock rather than
    /// only the loop's own.
    pub fn is_known(&self) -> bool {
        self.offset.is_some()
    }

    /// The log's current time when the loop's clock reads `now` (its own clock until a command
    /// has been seen).
    pub fn now(&self, now: UnixMs) -> UnixMs {
        UnixMs(now.0 + self.offset.map_or(0, |(offset, _)| offset))
    }
}

/// An `Expire` command for `show` sent at log time `now`. Its id is derived from both, so every
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
        // Here the loop's own clock agrees with the log's.
        let at = |t| (UnixMs(t), UnixMs(t));
        let take = |s: &mut ExpirySchedule, t| {
            let (now, own) = at(t);
            s.take_due(now, own, guard)
        };
        assert_eq!(take(&mut s, 99), vec![]);
        assert_eq!(
            s.time_until_next(UnixMs(90), UnixMs(90)),
            Some(Duration::from_millis(10))
        );
        assert_eq!(take(&mut s, 100), vec![a]);
        assert_eq!(take(&mut s, 600), vec![b]);
        // a is still due (its Expire has not been applied) but guarded until 1100.
        assert_eq!(take(&mut s, 1099), vec![]);
        assert_eq!(take(&mut s, 1100), vec![a]);
        s.set(a, None);
        s.set(b, Some(UnixMs(5000)));
        assert_eq!(take(&mut s, 4000), vec![]);
        assert_eq!(s.len(), 1);
    }

    /// Found by the simulation (seed 26): a loop whose clock ran a minute ahead sent an `Expire`
    /// at once, learned the log's time from it, and then sent none for a minute.
    #[test]
    fn the_resend_guard_runs_on_the_loops_own_clock_not_its_reading_of_the_log() {
        let mut s = ExpirySchedule::default();
        let a = ShowId(Uuid::from_u128(1));
        let guard = Duration::from_millis(1000);
        s.set(a, Some(UnixMs(10_000)));
        // Own clock 60 s ahead, no command seen yet: log time is read as 65 s; the show is due.
        assert_eq!(s.take_due(UnixMs(65_000), UnixMs(65_000), guard), vec![a]);
        // The Expire comes back stamped 5 s: log time is now read correctly, the hold is still
        // not due, and once it is, the guard (1 s of own time, long past) does not hold it back.
        assert_eq!(s.take_due(UnixMs(5_200), UnixMs(65_200), guard), vec![]);
        assert_eq!(
            s.time_until_next(UnixMs(5_200), UnixMs(65_200)),
            Some(Duration::from_millis(4_800))
        );
        assert_eq!(s.take_due(UnixMs(10_000), UnixMs(70_000), guard), vec![a]);
    }

    #[test]
    fn log_time_follows_the_log_not_the_loops_clock() {
        let mut log = LogTime::default();
        assert_eq!(log.now(UnixMs(5_000)), UnixMs(5_000));
        // The log's clock is 60 s ahead of ours; deliveries take 5-40 ms.
        log.observe(UnixMs(65_000 - 40), UnixMs(5_000));
        log.observe(UnixMs(66_000 - 5), UnixMs(6_000));
        assert_eq!(log.now(UnixMs(6_000)), UnixMs(65_995));
        // A slow delivery later does not drag the estimate back by its delay...
        log.observe(UnixMs(67_000 - 500), UnixMs(7_000));
        assert_eq!(log.now(UnixMs(7_000)), UnixMs(66_895));
        // ...and a log clock set back is followed, a tenth of the time since per observation.
        log.observe(UnixMs(8_000), UnixMs(8_000));
        assert_eq!(log.now(UnixMs(8_000)), UnixMs(8_000 + 59_795));
        for t in (9_000..1_000_000).step_by(1_000) {
            log.observe(UnixMs(t), UnixMs(t));
        }
        assert_eq!(log.now(UnixMs(1_000_000)), UnixMs(1_000_000));
    }

    #[test]
    fn the_earliest_unguarded_show_can_be_taken_early() {
        let mut s = ExpirySchedule::default();
        let guard = Duration::from_millis(1000);
        assert_eq!(s.take_earliest(UnixMs(0), guard), None);
        let (a, b) = (ShowId(Uuid::from_u128(1)), ShowId(Uuid::from_u128(2)));
        s.set(a, Some(UnixMs(90_000)));
        s.set(b, Some(UnixMs(70_000)));
        assert_eq!(s.take_earliest(UnixMs(5_000), guard), Some(b));
        // b is guarded: the next show is taken, then none until the guards pass.
        assert_eq!(s.take_earliest(UnixMs(5_100), guard), Some(a));
        assert_eq!(s.take_earliest(UnixMs(5_999), guard), None);
        assert_eq!(s.take_earliest(UnixMs(6_000), guard), Some(b));
        assert!(!LogTime::default().is_known());
    }

    #[test]
    fn expire_commands_differ_per_attempt() {
        let show = ShowId(Uuid::from_u128(1));
        let first = expire_command(show, UnixMs(1));
        assert_eq!(first, expire_command(show, UnixMs(1)));
        assert_ne!(first.command_id, expire_command(show, UnixMs(2)).command_id);
    }
}
