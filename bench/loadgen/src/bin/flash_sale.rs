//! `flash-sale`: the load generator of `scripts/bench flash-sale`.
//!
//! `flash-sale run` drives one running system through the workloads and writes its results as
//! JSON; `flash-sale report` compares every system of a run with the PG-LOCK baseline, writes the
//! Markdown tables and the plots, and prints the BENCH line. The script starts and stops the
//! systems; this program only measures them.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use loadgen::cpu::Watched;
use loadgen::report::{SystemRun, bench_line, markdown, ratios};
use loadgen::target::{Kind, Target};
use loadgen::workload::{Buyers, HoldLadder, Watch, w_buyers, w_hold};

/// Open-loop flash-sale load against boxoffice and the PG-LOCK baseline.
#[derive(Parser, Debug)]
#[command(name = "flash-sale")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run workloads against one system and write its results.
    Run(Box<RunArgs>),
    /// Compare the systems' results and print the BENCH line.
    Report(ReportArgs),
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Name of the system in the report (pg-lock, pg-lock-async, ref-mem, dev, serve).
    #[arg(long)]
    system: String,
    /// Which API sets up shows.
    #[arg(long, value_enum)]
    kind: Kind,
    /// Base URL of the system's HTTP API.
    #[arg(long)]
    url: String,
    /// Base URL of boxoffice's metrics address (`BOXOFFICE_METRICS_ADDR`), for the store-read
    /// counter of W-VIEW.
    #[arg(long)]
    metrics_url: Option<String>,
    /// The HS256 secret the system verifies tokens with (buyer and admin tokens are signed here).
    #[arg(long, env = "FLASH_SECRET")]
    secret: String,
    /// How durable an answered write is, in words, for the report.
    #[arg(long)]
    durability: String,
    /// Processes to measure: name=pid, or name=tree:pid for a process and its descendants.
    #[arg(long = "cpu")]
    cpu: Vec<Watched>,
    /// Workloads to run, of hold, hot, spread and view.
    #[arg(long, value_delimiter = ',', default_value = "hold,hot")]
    workloads: Vec<String>,
    /// Buyers per second for W-HOT and W-SPREAD.
    #[arg(long, conflicts_with = "hot_rate_from")]
    hot_rate: Option<f64>,
    /// Take the buyers' rate as 80% of the W-HOLD saturation throughput in this results file
    /// (the baseline's), or of this run's own W-HOLD when the file is this run's output.
    #[arg(long)]
    hot_rate_from: Option<PathBuf>,
    /// Where to write the results (JSON).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    knobs: Knobs,
}

#[derive(Args, Debug)]
struct Knobs {
    /// W-HOLD: first offered rate.
    #[arg(long, env = "FLASH_START_RATE", default_value_t = 1000.0)]
    start_rate: f64,
    /// W-HOLD: rate factor between steps.
    #[arg(long, env = "FLASH_FACTOR", default_value_t = 1.5)]
    factor: f64,
    /// W-HOLD: most steps.
    #[arg(long, env = "FLASH_STEPS_MAX", default_value_t = 12)]
    steps_max: usize,
    /// W-HOLD: seconds per step.
    #[arg(long, env = "FLASH_STEP_S", default_value_t = 5.0)]
    step_s: f64,
    /// W-HOLD: seats of each step's show.
    #[arg(long, env = "FLASH_HOLD_SEATS", default_value_t = 150_000)]
    hold_seats: u32,
    /// W-HOT: seconds of arrivals.
    #[arg(long, env = "FLASH_HOT_S", default_value_t = 15.0)]
    hot_s: f64,
    /// W-HOT: seats of the hot show.
    #[arg(long, env = "FLASH_HOT_SEATS", default_value_t = 50_000)]
    hot_seats: u32,
    /// W-VIEW: seats of its show (W-HOT's buyers, and viewers loading its seat map).
    #[arg(long, env = "FLASH_VIEW_SEATS", default_value_t = 5_000)]
    view_seats: u32,
    /// W-VIEW: seat-map `GET`s per second.
    #[arg(long, env = "FLASH_VIEWS", default_value_t = 1_000.0)]
    views: f64,
    /// W-SPREAD: shows.
    #[arg(long, env = "FLASH_SPREAD_SHOWS", default_value_t = 64)]
    spread_shows: usize,
    /// W-SPREAD: seats per show (64 x 800 = 51,200, about W-HOT's one show).
    #[arg(long, env = "FLASH_SPREAD_SEATS", default_value_t = 800)]
    spread_seats: u32,
    /// Seats per row in every show.
    #[arg(long, env = "FLASH_ROW_LEN", default_value_t = 100)]
    row_len: u32,
    /// Most requests in flight (the client's connections).
    #[arg(long, env = "FLASH_IN_FLIGHT", default_value_t = 256)]
    in_flight: usize,
    /// Seconds after its scheduled time at which an unanswered request is an error.
    #[arg(long, env = "FLASH_DEADLINE_S", default_value_t = 10.0)]
    deadline_s: f64,
}

#[derive(Args, Debug)]
struct ReportArgs {
    /// Directory holding the systems' results (`*.json`); the report and plots go there too.
    #[arg(long)]
    dir: PathBuf,
    /// TrueType font for the plots' labels.
    #[arg(
        long,
        default_value = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    )]
    font: PathBuf,
}

fn load(path: &PathBuf) -> anyhow::Result<SystemRun> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

fn buyers(knobs: &Knobs, name: &str, rate: f64, shows: usize, seats: u32) -> Buyers {
    Buyers {
        name: name.into(),
        rate,
        duration_s: knobs.hot_s,
        shows,
        seats_per_show: seats,
        row_len: knobs.row_len,
        confirm_ratio: 0.7,
        think_s: (2.0, 5.0),
        in_flight_max: knobs.in_flight,
        deadline_s: knobs.deadline_s,
        views_per_s: 0.0,
    }
}

/// 80% of the W-HOLD saturation throughput recorded in `run`.
fn hot_rate_of(run: &SystemRun) -> anyhow::Result<f64> {
    let step = run
        .hold
        .as_ref()
        .and_then(|h| h.saturation_step())
        .with_context(|| format!("{} has no W-HOLD saturation step", run.system))?;
    Ok(0.8 * step.summary.decided_per_s)
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let target = Target::new(args.kind, &args.url, &args.secret, args.knobs.in_flight)
        .with_metrics(args.metrics_url.as_deref());
    let watch = Watch::new(args.cpu.clone());
    let knobs = &args.knobs;
    let wants = |w: &str| args.workloads.iter().any(|x| x == w);
    let mut result = SystemRun {
        system: args.system.clone(),
        durability: args.durability.clone(),
        hold: None,
        hot: None,
        spread: None,
        view: None,
    };
    if wants("hold") {
        let ladder = HoldLadder {
            start_rate: knobs.start_rate,
            factor: knobs.factor,
            steps_max: knobs.steps_max,
            step_s: knobs.step_s,
            seats: knobs.hold_seats,
            row_len: knobs.row_len,
            in_flight_max: knobs.in_flight,
            deadline_s: knobs.deadline_s,
        };
        result.hold = Some(w_hold(&target, &ladder, &watch, &args.system).await?);
    }
    if wants("hot") || wants("spread") || wants("view") {
        let rate = match (&args.hot_rate, &args.hot_rate_from) {
            (Some(rate), _) => *rate,
            (None, Some(path)) if *path == args.out => hot_rate_of(&result)?,
            (None, Some(path)) => hot_rate_of(&load(path)?)?,
            (None, None) => anyhow::bail!("W-HOT and W-SPREAD need --hot-rate or --hot-rate-from"),
        };
        if wants("hot") {
            let b = buyers(knobs, "W-HOT", rate, 1, knobs.hot_seats);
            result.hot = Some(w_buyers(&target, &b, &watch, &args.system).await?);
        }
        if wants("spread") {
            let b = buyers(
                knobs,
                "W-SPREAD",
                rate,
                knobs.spread_shows,
                knobs.spread_seats,
            );
            result.spread = Some(w_buyers(&target, &b, &watch, &args.system).await?);
        }
        if wants("view") {
            let b = Buyers {
                views_per_s: knobs.views,
                ..buyers(knobs, "W-VIEW", rate, 1, knobs.view_seats)
            };
            result.view = Some(w_buyers(&target, &b, &watch, &args.system).await?);
        }
    }
    let json = serde_json::to_string_pretty(&result)?;
    std::fs::write(&args.out, json).with_context(|| format!("writing {}", args.out.display()))?;
    Ok(())
}

fn report(args: ReportArgs) -> anyhow::Result<()> {
    let order = ["pg-lock", "pg-lock-async", "ref-mem", "dev", "serve"];
    let mut runs = Vec::new();
    for entry in std::fs::read_dir(&args.dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            runs.push(load(&path)?);
        }
    }
    runs.sort_by_key(|r| {
        order
            .iter()
            .position(|o| *o == r.system)
            .unwrap_or(order.len())
    });
    let table = markdown(&runs);
    std::fs::write(args.dir.join("report.md"), &table)?;
    eprintln!("{table}");
    loadgen::plot::register_font(&args.font)?;
    loadgen::plot::throughput(&runs, &args.dir.join("throughput.png"))?;
    loadgen::plot::latency(&runs, &args.dir.join("latency.png"))?;
    println!("{}", bench_line(&ratios(&runs)));
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Run(args) => run(*args).await,
        Command::Report(args) => report(args),
    }
}
