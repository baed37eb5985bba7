//! Wiring of the waiting room ([`queue::WaitingRoom`]) into the API: where it reads shows (the
//! catalog), where it keeps its log (redb under the data dir in dev mode, a JetStream stream next
//! to the command stream in serve mode), and its settings.
//!
//! Admissions stay valid for the hold TTL (`BOXOFFICE_HOLD_TTL`): an admitted buyer gets as long
//! to pick seats as a hold then lasts.
//!
//! Automatic switch-on ([`AutoSwitchSettings`]) is off unless the deployment sets a default
//! threshold (`BOXOFFICE_QUEUE_AUTO_ABOVE_PER_S`) or an admin gives a show one
//! (`autoAbovePerSecond` in `PUT /v1/admin/shows/{id}/waiting-room`).

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use catalog::{Catalog, CatalogError};
use processors::reader::ShowReader;
use processors::topology::Topology;
use queue::guard::GuardPolicy;
use queue::jetstream::StreamSpec;
use queue::{AutoPolicy, Directory, QueueError, RoomConfig, RoomShow, WaitingRoom};
use schemas::{ShowId, UnixMs};

use ingress::config::ApiConfig;

/// File of the dev-mode waiting-room log under the data dir.
pub const LOG_FILE: &str = "waiting-room.redb";

/// Shows as the waiting room needs them: settings from the catalog (what holds check), AVAILABLE
/// seats from the source of truth (read by admission rounds only: the catalog's projection lags
/// the holds a moment, and admission pacing must see every hold already answered).
#[derive(Clone)]
pub struct CatalogDirectory {
    catalog: Arc<Catalog>,
    reader: Arc<dyn ShowReader>,
}

impl std::fmt::Debug for CatalogDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogDirectory").finish_non_exhaustive()
    }
}

impl CatalogDirectory {
    /// A directory over `catalog` and the seat state behind `reader`.
    pub fn new(catalog: Arc<Catalog>, reader: Arc<dyn ShowReader>) -> CatalogDirectory {
        CatalogDirectory { catalog, reader }
    }
}

#[async_trait]
impl Directory for CatalogDirectory {
    async fn show(&self, show: ShowId) -> Result<Option<RoomShow>, QueueError> {
        let stored = match self.catalog.show(show).await {
            Ok(stored) => stored,
            Err(CatalogError::ShowNotFound(_)) => return Ok(None),
            Err(e) => return Err(QueueError::Unavailable(e.to_string())),
        };
        Ok(Some(RoomShow {
            enabled: stored.waiting_room.enabled,
            admit_per_minute: stored.waiting_room.admit_per_minute,
            challenge_bits: stored.waiting_room.challenge_bits,
            sale_opens_at: stored.sale_opens_at.map(|t| UnixMs(t.timestamp_millis())),
            show_time: UnixMs(stored.show_time.timestamp_millis()),
        }))
    }

    async fn available_seats(&self, show: ShowId) -> Result<u32, QueueError> {
        let seats = self
            .reader
            .show(show)
            .await
            .map_err(|e| QueueError::Unavailable(e.to_string()))?;
        // Seats not created in the pipeline yet: nothing is sellable until they are.
        Ok(seats.map_or(0, |s| s.state.available_seats()))
    }

    async fn switch_on(&self, show: ShowId, admit_per_minute: u32) -> Result<(), QueueError> {
        let unavailable = |e: CatalogError| QueueError::Unavailable(e.to_string());
        let stored = self.catalog.show(show).await.map_err(unavailable)?;
        let mut room = stored.waiting_room;
        room.enabled = true;
        if room.admit_per_minute == 0 {
            room.admit_per_minute = admit_per_minute;
        }
        self.catalog
            .set_waiting_room(show, room)
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

/// Environment variable: default threshold of automatic switch-on, in hold attempts per second
/// per show (unset or 0: only shows with a threshold of their own switch on automatically).
pub const AUTO_ABOVE_PER_S: &str = "BOXOFFICE_QUEUE_AUTO_ABOVE_PER_S";
/// Environment variable: seconds the demand is averaged over (1..=300, default 5).
pub const AUTO_WINDOW_S: &str = "BOXOFFICE_QUEUE_AUTO_WINDOW_S";
/// Environment variable: admissions per minute of an automatically switched-on room whose show
/// has no pace set (1..=1,000,000, default 600).
pub const AUTO_ADMIT_PER_MINUTE: &str = "BOXOFFICE_QUEUE_AUTO_ADMIT_PER_MINUTE";

/// The deployment's automatic switch-on settings, read from the environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AutoSwitchSettings(pub AutoPolicy);

impl AutoSwitchSettings {
    /// From the process environment.
    pub fn from_env() -> Result<AutoSwitchSettings, QueueError> {
        AutoSwitchSettings::from_lookup(|name| std::env::var(name).ok())
    }

    /// From `lookup` of each variable (`None`: unset); a value out of range is an error naming
    /// the variable.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<AutoSwitchSettings, QueueError> {
        let number = |name: &str, default: u32, range: std::ops::RangeInclusive<u32>| {
            let Some(text) = lookup(name).filter(|t| !t.trim().is_empty()) else {
                return Ok(default);
            };
            text.trim()
                .parse::<u32>()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(|| {
                    QueueError::Misconfigured(format!(
                        "{name}={text:?}: expected a whole number in {}..={}",
                        range.start(),
                        range.end()
                    ))
                })
        };
        let above = number(AUTO_ABOVE_PER_S, 0, 0..=u32::MAX)?;
        Ok(AutoSwitchSettings(AutoPolicy {
            above_per_s: (above > 0).then_some(above),
            window_s: number(AUTO_WINDOW_S, AutoPolicy::OFF.window_s, 1..=300)?,
            admit_per_minute: number(
                AUTO_ADMIT_PER_MINUTE,
                AutoPolicy::OFF.admit_per_minute,
                1..=1_000_000,
            )?,
        }))
    }
}

/// The service settings for `api`, with automatic switch-on from the environment.
pub fn room_config(api: &ApiConfig) -> Result<RoomConfig, QueueError> {
    let defaults = RoomConfig::new(api.hold_ttl().as_millis() as i64);
    let guard = defaults
        .guard
        .filter(|_| api.guard)
        .map(|policy| GuardPolicy {
            address_permille: api.guard_address_permille,
            prefix_permille: api.guard_prefix_permille,
            refused_pct: api.guard_refused_pct,
            ..policy
        });
    Ok(RoomConfig {
        auto: AutoSwitchSettings::from_env()?.0,
        guard,
        guard_bits: api.guard_bits,
        ..defaults
    })
}

/// Dev mode: the log in `<data_dir>/waiting-room.redb`, replayed at start.
pub async fn open_dev(
    api: &ApiConfig,
    directory: CatalogDirectory,
    secret: &[u8],
    data_dir: &Path,
) -> Result<WaitingRoom, QueueError> {
    WaitingRoom::open_embedded(
        &data_dir.join(LOG_FILE),
        Arc::new(directory),
        secret,
        room_config(api)?,
    )
    .await
}

/// The stream of the serve-mode log as streams.yaml declares it (section `waiting_room`; by
/// default named after the command stream, so a topology with its own names, a test's for
/// example, gets its own waiting rooms too).
pub fn stream_spec(topology: &Topology) -> StreamSpec {
    StreamSpec {
        stream: topology.waiting_room_stream(),
        subject_prefix: topology.waiting_room_subject_prefix(),
    }
}

/// Serve mode: the log in JetStream, shared by every ingress; returns once replayed. The stream
/// must have been created by `boxoffice provision` ([`QueueError::Misconfigured`] otherwise).
pub async fn open_serve(
    api: &ApiConfig,
    client: async_nats::Client,
    topology: &Topology,
    directory: CatalogDirectory,
    secret: &[u8],
) -> Result<WaitingRoom, QueueError> {
    WaitingRoom::open_jetstream(
        client,
        stream_spec(topology),
        Arc::new(directory),
        secret,
        room_config(api)?,
        api.command_timeout(),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<AutoSwitchSettings, QueueError> {
        AutoSwitchSettings::from_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn automatic_switch_on_is_off_unless_configured() {
        assert_eq!(settings(&[]).unwrap().0, AutoPolicy::OFF);
        assert_eq!(
            settings(&[(AUTO_ABOVE_PER_S, "0")]).unwrap().0,
            AutoPolicy::OFF
        );
    }

    #[test]
    fn automatic_switch_on_settings_are_read_and_checked() {
        let s = settings(&[
            (AUTO_ABOVE_PER_S, "500"),
            (AUTO_WINDOW_S, " 10 "),
            (AUTO_ADMIT_PER_MINUTE, "1200"),
        ])
        .unwrap()
        .0;
        assert_eq!(
            s,
            AutoPolicy {
                above_per_s: Some(500),
                window_s: 10,
                admit_per_minute: 1200
            }
        );
        for bad in [
            (AUTO_ABOVE_PER_S, "lots"),
            (AUTO_WINDOW_S, "0"),
            (AUTO_ADMIT_PER_MINUTE, "0"),
        ] {
            let e = settings(&[bad]).unwrap_err().to_string();
            assert!(e.contains(bad.0), "{e}");
        }
    }
}
