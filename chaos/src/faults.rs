//! The seeded fault schedule and how each fault is done to the real processes.

use std::time::Duration;

use history::Ms;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::client::now_ms;
use crate::fleet::{Fleet, FleetError, Role};
use crate::instance::{Instance, InstanceError, Service};
use crate::moves::{HotMove, INGRESS_READY, MoveError};

/// Processors and ingresses of a campaign (each kind has two).
pub const PAIR: u8 = 2;

/// How long a frozen processor stays frozen: longer than its lease (3 s in streams.yaml), so the
/// other processor takes its partitions while it still believes it owns them.
pub const FREEZE: Duration = Duration::from_secs(6);

/// How long a killed process stays dead before it is started again.
pub const DEAD: Duration = Duration::from_secs(1);

/// One fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// `kill -9` a process, start it again a second later.
    Kill(Role),
    /// `SIGSTOP` a processor for [`FREEZE`], then `SIGCONT`.
    Freeze(Role),
    /// Reset every connection between a processor and NATS (its proxy cuts them; it reconnects).
    ResetNats(Role),
    /// Drop what NATS sends a processor for a while, then reset its connections (a half-dead
    /// link: deliveries lost in transit).
    Blackhole(Role),
    /// `kill -9` nats-server and start it again.
    RestartNats,
    /// `kill -9` Cassandra and start it again.
    RestartCassandra,
    /// Move a show to a partition of its own mid-sale (see [`crate::moves`]).
    MoveShow,
}

impl Fault {
    /// Short stable name, for the report.
    pub fn name(self) -> String {
        match self {
            Fault::Kill(role) => format!("kill-9 {role}"),
            Fault::Freeze(role) => format!("sigstop {role}"),
            Fault::ResetNats(role) => format!("tcp-reset {role}<->nats"),
            Fault::Blackhole(role) => format!("blackhole {role}<-nats"),
            Fault::RestartNats => "restart nats-server".into(),
            Fault::RestartCassandra => "restart cassandra".into(),
            Fault::MoveShow => "hot-show handover".into(),
        }
    }

    /// Whether the fault takes a backing service away (the ticket bound is not promised then).
    pub fn outage(self) -> bool {
        matches!(self, Fault::RestartNats | Fault::RestartCassandra)
    }
}

/// A fault as it happened: from its start until everything it broke was back.
#[derive(Clone, Debug)]
pub struct Window {
    /// Which.
    pub fault: Fault,
    /// When it struck.
    pub from: Ms,
    /// When what it broke was running again.
    pub to: Ms,
}

/// A fault that could not be done or undone.
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    /// A boxoffice process.
    #[error(transparent)]
    Fleet(#[from] FleetError),
    /// A backing service.
    #[error(transparent)]
    Instance(#[from] InstanceError),
    /// A step of a hot-show move.
    #[error(transparent)]
    Move(#[from] MoveError),
}

/// Every kind of fault once (so the shortest run still does each), then random ones, in a
/// seeded order.
pub fn schedule(seed: u64, count: usize) -> Vec<Fault> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut every = vec![
        Fault::RestartCassandra,
        Fault::RestartNats,
        Fault::Kill(Role::Tickets),
        Fault::MoveShow,
    ];
    for i in 0..PAIR {
        every.push(Fault::Kill(Role::Processor(i)));
        every.push(Fault::Kill(Role::Serve(i)));
        every.push(Fault::Freeze(Role::Processor(i)));
        every.push(Fault::ResetNats(Role::Processor(i)));
        every.push(Fault::Blackhole(Role::Processor(i)));
    }
    every.shuffle(&mut rng);
    while every.len() < count {
        let i = rng.random_range(0..PAIR);
        // Cassandra's restart takes most of a minute: others are drawn far more often.
        let fault = match rng.random_range(0..20) {
            0 => Fault::RestartCassandra,
            1..=2 => Fault::RestartNats,
            3..=5 => Fault::Kill(Role::Tickets),
            6..=8 => Fault::Kill(Role::Processor(i)),
            9..=11 => Fault::Kill(Role::Serve(i)),
            12..=14 => Fault::Freeze(Role::Processor(i)),
            15..=17 => Fault::ResetNats(Role::Processor(i)),
            _ => Fault::Blackhole(Role::Processor(i)),
        };
        every.push(fault);
    }
    every
}

/// What a fault acts on: the processes, the services, the processors' proxies to NATS.
pub struct Targets<'a> {
    /// The boxoffice processes.
    pub fleet: &'a mut Fleet,
    /// NATS and Cassandra.
    pub instance: &'a Instance,
    /// Each processor's proxy to NATS, by processor index.
    pub proxies: &'a [boxoffice_tests::proxy::TcpProxy],
    /// For readiness probes of restarted ingresses.
    pub http: &'a reqwest::Client,
    /// The ingresses' base URLs, by index.
    pub ingresses: &'a [String],
    /// The hot-show move.
    pub hot: &'a HotMove,
}

/// Do `fault` and undo it; its window.
pub async fn strike(fault: Fault, t: &mut Targets<'_>) -> Result<Window, FaultError> {
    let from = now_ms();
    match fault {
        Fault::Kill(role) => {
            t.fleet.kill9(role)?;
            tokio::time::sleep(DEAD).await;
            t.fleet.restart(role)?;
            if let Role::Serve(i) = role {
                let ready = format!("{}/readyz", t.ingresses[usize::from(i)]);
                crate::fleet::wait_ready(t.http, &ready, Duration::from_secs(60)).await;
            }
        }
        Fault::Freeze(role) => {
            t.fleet.signal(role, "STOP")?;
            tokio::time::sleep(FREEZE).await;
            t.fleet.signal(role, "CONT")?;
        }
        Fault::ResetNats(role) => proxy(t, role).cut_connections(),
        Fault::Blackhole(role) => {
            let proxy = proxy(t, role);
            proxy.set_blackhole(true);
            tokio::time::sleep(Duration::from_secs(2)).await;
            proxy.cut_connections();
            proxy.set_blackhole(false);
        }
        Fault::RestartNats => restart(t.instance, Service::Nats).await?,
        Fault::RestartCassandra => restart(t.instance, Service::Cassandra).await?,
        Fault::MoveShow => move_show(t).await?,
    }
    Ok(Window {
        fault,
        from,
        to: now_ms(),
    })
}

/// The move as [`crate::moves`] rolls it out: one ingress switches before the handover, the
/// other after it.
async fn move_show(t: &mut Targets<'_>) -> Result<(), FaultError> {
    t.hot.provision(t.instance).await?;
    t.hot.start_processor(t.fleet, t.instance)?;
    switch(t, 0).await?;
    t.hot.hand_over(t.instance).await?;
    switch(t, 1).await?;
    Ok(())
}

async fn switch(t: &mut Targets<'_>, ingress: u8) -> Result<(), FaultError> {
    t.hot.switch_ingress(t.fleet, Role::Serve(ingress))?;
    let ready = format!("{}/readyz", t.ingresses[usize::from(ingress)]);
    crate::fleet::wait_ready(t.http, &ready, INGRESS_READY).await;
    Ok(())
}

fn proxy<'a>(t: &'a Targets<'_>, role: Role) -> &'a boxoffice_tests::proxy::TcpProxy {
    let Role::Processor(i) = role else {
        unreachable!("only processors talk to NATS through a proxy")
    };
    &t.proxies[usize::from(i)]
}

async fn restart(instance: &Instance, service: Service) -> Result<(), InstanceError> {
    instance.kill9(service)?;
    tokio::time::sleep(DEAD).await;
    // `scripts/services up` blocks until the service is ready: off the runtime's threads.
    let instance = instance.clone();
    tokio::task::spawn_blocking(move || instance.up())
        .await
        .unwrap_or_else(|e| {
            Err(InstanceError::Run {
                what: "scripts/services up".into(),
                source: std::io::Error::other(e),
            })
        })
}
