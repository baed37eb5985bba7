//! `chaos`: the fault campaign on the real services (issue 15, part 4). Run by `scripts/chaos`,
//! which sets up the campaign's own NATS and Cassandra; see docs/CHAOS.md.
//!
//! Serve mode runs as real child processes (two processors over all partitions, two ingresses,
//! the ticket worker, the payments sandbox with seeded 5xx and lost answers); buyers hammer both
//! ingresses with a flash sale while a seeded schedule kills, freezes and restarts processes and
//! services and resets the processors' NATS connections. The run then goes quiet, the state is
//! read back from the store, the API and the payments sandbox, and the history checker judges
//! it. The last line is `CHAOS ops=<n> faults=<n> violations=<n> availability=<ratio>`.

mod buyers;
mod client;
mod faults;
mod fleet;
mod instance;
mod moves;
mod readback;
mod report;
mod shows;
mod viewers;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use rand::{Rng, SeedableRng};

use crate::buyers::{Buyer, Recorder};
use crate::client::{Api, now_ms};
use crate::faults::{Targets, Window};
use crate::fleet::{Fleet, Recipe, Role};
use crate::instance::Instance;

/// Auth secret of the campaign's ingresses and ticket worker (a test secret: the run is local).
const SECRET: &str = "chaos-campaign-secret-0123456789abcdef";

/// How long a hold lasts: short, so holds lapse within the run and after it.
const HOLD_TTL_S: u64 = 20;

/// How long the run stays quiet before it is read back: past the last hold's lapse and a few
/// expiry rounds, and the reconciler's settling of what the faults left open.
const QUIET: Duration = Duration::from_secs(30);

/// How long the live seat map viewers may take to hold a snapshot at the end (one reconnecting
/// after a late drop).
const LIVE_SETTLE: Duration = Duration::from_secs(10);

/// A hold may stay active this long past its lapse once the run is quiet.
const LAPSE_GRACE_MS: i64 = 15_000;

#[derive(Parser, Debug)]
#[command(about = "The fault campaign on the real services (issue 15); see docs/CHAOS.md")]
struct Args {
    /// Minutes of faults (the workload runs as long).
    #[arg(long, default_value_t = 2.5)]
    minutes: f64,
    /// Seed of the fault schedule, the workload's choices and the sandbox's payment faults.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Strike only the faults whose name contains this (`cassandra`, `kill-9 tickets`,
    /// `processor-0`, ...): to reproduce one finding quickly.
    #[arg(long)]
    only: Option<String>,
    /// Concurrent buyers.
    #[arg(long, default_value_t = 12)]
    buyers: u64,
    /// The `boxoffice` binary.
    #[arg(long, default_value = "target/debug/boxoffice")]
    binary: PathBuf,
    /// Where the processes' logs go.
    #[arg(long, default_value = ".run/chaos/logs")]
    logs: PathBuf,
    /// First of the loopback ports the campaign's HTTP processes use (ingresses at +0 and +1,
    /// the payments sandbox at +10).
    #[arg(long, env = "BOXOFFICE_CHAOS_HTTP_PORT", default_value_t = 26080)]
    http_port: u16,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(campaign(args)) {
        Ok(0) => std::process::ExitCode::SUCCESS,
        Ok(_) => std::process::ExitCode::from(1),
        Err(e) => {
            let mut text = format!("chaos: {e}");
            let mut source = std::error::Error::source(e.as_ref());
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            eprintln!("{text}");
            std::process::ExitCode::from(2)
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn say(started: i64, text: impl std::fmt::Display) {
    let at = (now_ms() - started) as f64 / 1000.0;
    println!("[chaos +{at:6.1}s] {text}");
}

/// The ports and URLs of one campaign's processes.
struct Layout {
    ingresses: Vec<String>,
    ingress_addrs: Vec<String>,
    payments_url: String,
    payments_addr: String,
}

impl Layout {
    fn new(http_port: u16) -> Layout {
        let addr = |offset: u16| format!("127.0.0.1:{}", http_port + offset);
        let ingress_addrs: Vec<String> = (0..faults::PAIR).map(|i| addr(u16::from(i))).collect();
        Layout {
            ingresses: ingress_addrs
                .iter()
                .map(|a| format!("http://{a}"))
                .collect(),
            ingress_addrs,
            payments_url: format!("http://{}", addr(10)),
            payments_addr: addr(10),
        }
    }
}

/// Everything a running campaign has started.
struct Stage {
    instance: Instance,
    proxies: Vec<boxoffice_tests::proxy::TcpProxy>,
    layout: Layout,
    fleet: Fleet,
    api: Arc<Api>,
}

async fn campaign(args: Args) -> Result<usize, BoxError> {
    let started = now_ms();
    let mut stage = bring_up(&args, started).await?;
    let show_time = show_time(args.seed);
    let shows = Arc::new(shows::create(&stage.api, 4, 10, 20, show_time).await?);
    say(
        started,
        format!(
            "{} shows of {} seats on sale; faults for {} min",
            shows.len(),
            shows[0].seats.len(),
            args.minutes
        ),
    );
    let live = viewers::Viewers::start(&stage.layout.ingresses, &shows);
    let recorder = Arc::new(Recorder::default());
    let moved = shows[(args.seed as usize) % shows.len()].show_id;
    let hot = moves::HotMove::new(&args.binary, &args.logs, moved);
    let windows = sale(&args, &mut stage, &recorder, &shows, &hot, started).await?;
    say(
        started,
        format!("buyers done; quiet for {} s", QUIET.as_secs()),
    );
    tokio::time::sleep(QUIET).await;
    let report = judge(&stage, &recorder, live, &shows, show_time, &windows, &hot).await?;
    report.print();
    Ok(report.violations.len())
}

/// The services, the schema, the proxies and every boxoffice process, ingresses ready.
async fn bring_up(args: &Args, started: i64) -> Result<Stage, BoxError> {
    let root = std::env::current_dir()?;
    let instance = Instance::from_env(&root);
    say(
        started,
        format!(
            "services: nats {} cql {}",
            instance.nats_url, instance.cql_nodes
        ),
    );
    instance.up()?;
    provision(&args.binary, &instance)?;
    std::fs::create_dir_all(&args.logs)?;
    let nats_addr = instance
        .nats_url
        .trim_start_matches("nats://")
        .parse::<std::net::SocketAddr>()?;
    let mut proxies = Vec::new();
    for _ in 0..faults::PAIR {
        proxies.push(boxoffice_tests::proxy::TcpProxy::start(nats_addr).await?);
    }
    let layout = Layout::new(args.http_port);
    let mut fleet = Fleet::new(&args.binary, &args.logs);
    start_fleet(&mut fleet, args, &instance, &layout, &proxies)?;
    let api = Api::new(layout.ingresses.clone(), SECRET);
    for base in &layout.ingresses {
        let ready = format!("{base}/readyz");
        if !fleet::wait_ready(api.http(), &ready, Duration::from_secs(90)).await {
            return Err(format!(
                "{base} never became ready (logs in {})",
                args.logs.display()
            )
            .into());
        }
    }
    Ok(Stage {
        instance,
        proxies,
        layout,
        fleet,
        api,
    })
}

/// The buyers for `args.minutes` while the seeded faults strike; the faults' windows once the
/// buyers are done.
async fn sale(
    args: &Args,
    stage: &mut Stage,
    recorder: &Arc<Recorder>,
    shows: &Arc<Vec<shows::Show>>,
    hot: &moves::HotMove,
    started: i64,
) -> Result<Vec<Window>, BoxError> {
    let until = now_ms() + (args.minutes * 60_000.0) as i64;
    let buyers: Vec<_> = (0..args.buyers)
        .map(|b| {
            let buyer = Buyer::new(
                b,
                args.seed,
                stage.api.clone(),
                recorder.clone(),
                shows.clone(),
            );
            tokio::spawn(buyer.run(until))
        })
        .collect();
    let schedule: Vec<_> = faults::schedule(args.seed, 200)
        .into_iter()
        .filter(|f| {
            args.only
                .as_ref()
                .is_none_or(|only| f.name().contains(only.as_str()))
        })
        .collect();
    let mut targets = Targets {
        fleet: &mut stage.fleet,
        instance: &stage.instance,
        proxies: &stage.proxies,
        http: stage.api.http(),
        ingresses: &stage.layout.ingresses,
        hot,
    };
    let windows = run_faults(&mut targets, schedule, args.seed, until, started).await?;
    for buyer in buyers {
        buyer.await?;
    }
    Ok(windows)
}

/// The show's start: 30 h, 10 h or 2 h away by seed, so cancellations fall in each refund tier
/// across seeds (the checker's refund rule needs one show time for the run).
fn show_time(seed: u64) -> i64 {
    let hours = [30, 10, 2][(seed % 3) as usize];
    now_ms() + hours * 3_600_000
}

fn provision(binary: &std::path::Path, instance: &Instance) -> Result<(), BoxError> {
    let status = std::process::Command::new(binary)
        .args([
            "provision",
            "--nats-url",
            &instance.nats_url,
            "--cql-nodes",
            &instance.cql_nodes,
        ])
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("boxoffice provision exited {status}").into())
    }
}

fn recipe(args: &[&str]) -> Recipe {
    Recipe {
        args: args.iter().map(|a| a.to_string()).collect(),
        env: Vec::new(),
    }
}

fn start_fleet(
    fleet: &mut Fleet,
    args: &Args,
    instance: &Instance,
    layout: &Layout,
    proxies: &[boxoffice_tests::proxy::TcpProxy],
) -> Result<(), BoxError> {
    let seed = args.seed.to_string();
    let payments_dir = args.logs.join("payments-data");
    let payments_dir = payments_dir.to_string_lossy();
    // Payment 5xx and lost answers (the effect happened, the answer timed out) all run long.
    fleet.start(
        Role::Payments,
        recipe(&[
            "payments-sandbox",
            "--addr",
            &layout.payments_addr,
            "--data-dir",
            &payments_dir,
            "--fault-seed",
            &seed,
            "--fault-error-rate",
            "0.03",
            "--fault-timeout-rate",
            "0.02",
            "--fault-timeout-ms",
            "1500",
        ]),
    )?;
    for (i, proxy) in proxies.iter().enumerate() {
        let nats = format!("nats://{}", proxy.addr());
        let id = format!("chaos-p{i}");
        fleet.start(
            Role::Processor(i as u8),
            recipe(&[
                "processor",
                "--nats-url",
                &nats,
                "--cql-nodes",
                &instance.cql_nodes,
                "--processor-id",
                &id,
                "--metrics-addr",
                "off",
            ]),
        )?;
    }
    fleet.start(
        Role::Tickets,
        recipe(&[
            "tickets",
            "--nats-url",
            &instance.nats_url,
            "--cql-nodes",
            &instance.cql_nodes,
            "--payments-url",
            &layout.payments_url,
            "--auth-secret",
            SECRET,
            "--reconcile-interval",
            "1",
        ]),
    )?;
    let ttl = HOLD_TTL_S.to_string();
    for (i, addr) in layout.ingress_addrs.iter().enumerate() {
        fleet.start(
            Role::Serve(i as u8),
            recipe(&[
                "serve",
                "--http-addr",
                addr,
                "--metrics-addr",
                "off",
                "--auth-secret",
                SECRET,
                "--nats-url",
                &instance.nats_url,
                "--cql-nodes",
                &instance.cql_nodes,
                "--payments-url",
                &layout.payments_url,
                "--hold-ttl",
                &ttl,
                "--rate-per-user",
                "0",
                "--rate-per-ip",
                "0",
                "--guard",
                "false",
                "--guest-per-ip-per-min",
                "0",
                "--guest-per-prefix-per-min",
                "0",
            ]),
        )?;
    }
    Ok(())
}

/// Strike the seeded schedule's faults one after another until `until`, with a pause of 3-8 s
/// after each; the windows they made.
async fn run_faults(
    targets: &mut Targets<'_>,
    schedule: Vec<faults::Fault>,
    seed: u64,
    until: i64,
    started: i64,
) -> Result<Vec<Window>, BoxError> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0xfa17);
    let mut windows = Vec::new();
    tokio::time::sleep(Duration::from_secs(5)).await;
    for fault in schedule {
        if now_ms() >= until {
            break;
        }
        let window = faults::strike(fault, targets).await?;
        say(
            started,
            format!(
                "{} (back after {:.1} s)",
                fault.name(),
                (window.to - window.from) as f64 / 1000.0
            ),
        );
        windows.push(window);
        for role in targets.fleet.exited() {
            say(started, format!("{role} exited on its own; restarting it"));
            targets.fleet.restart(role)?;
        }
        let pause = rng
            .random_range(3_000..8_000)
            .min((until - now_ms()).max(0));
        tokio::time::sleep(Duration::from_millis(pause as u64)).await;
    }
    for role in targets.fleet.exited() {
        say(started, format!("{role} exited on its own; restarting it"));
        targets.fleet.restart(role)?;
    }
    Ok(windows)
}

async fn judge(
    stage: &Stage,
    recorder: &Recorder,
    live: viewers::Viewers,
    shows: &[shows::Show],
    show_time: i64,
    windows: &[Window],
    hot: &moves::HotMove,
) -> Result<report::Report, BoxError> {
    let (instance, api, layout) = (&stage.instance, &stage.api, &stage.layout);
    let store = processors::cql::CqlStore::connect(&instance.cql_nodes, "boxoffice").await?;
    let payments = payments::HttpPaymentProvider::new(payments::ClientConfig::new(
        layout.payments_url.clone(),
    ))?;
    let history = recorder.history();
    let mut violations = Vec::new();
    match readback::final_state(&store, api, &payments, shows, show_time).await {
        Ok(readback::ReadBack { state, unpaid }) => {
            violations.extend(report::history_violations(&history, &state));
            violations.extend(unpaid);
            for via in 1..api.ingresses() {
                let map = readback::seat_map(api, via, shows).await?;
                let whose = format!("ingress {via}");
                violations.extend(report::seat_map_violation(&whose, &history, &state, map));
            }
            let (maps, gaps) = live.stop(LIVE_SETTLE).await;
            for (via, map) in maps {
                let whose = format!("live map on ingress {via}");
                violations.extend(report::seat_map_violation(&whose, &history, &state, map));
            }
            violations.extend(report::live_gaps(&gaps));
            violations.extend(readback::lapsed_but_active(
                &state,
                now_ms(),
                LAPSE_GRACE_MS,
            ));
        }
        Err(
            e @ (readback::ReadbackError::Restore { .. } | readback::ReadbackError::Missing(_)),
        ) => violations.push(e.to_string()),
        Err(e) => return Err(e.into()),
    }
    violations.extend(report::open_payments(&payments).await);
    violations.extend(report::late_tickets(&recorder.ticket_waits(), windows));
    violations.extend(report::slow_resumes(&api.attempts(), windows));
    if windows.iter().any(|w| w.fault == faults::Fault::MoveShow) {
        violations.extend(hot.unapplied(&store).await);
    }
    Ok(report::Report::new(
        history,
        windows.to_vec(),
        api.attempts(),
        recorder.ticket_waits(),
        violations,
    ))
}
