//! One system's results, and the comparison of all systems of a run: tables, the BENCH line.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::workload::{BuyersRun, HoldRun, HoldStep};

/// The name of the baseline every ratio divides by.
pub const BASELINE: &str = "pg-lock";

/// Everything one system did in a run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SystemRun {
    /// `pg-lock`, `pg-lock-async`, `ref-mem`, `dev` or `serve`.
    pub system: String,
    /// How durable an answered write is in this system, in words.
    pub durability: String,
    /// W-HOLD.
    pub hold: Option<HoldRun>,
    /// W-HOT.
    pub hot: Option<BuyersRun>,
    /// W-SPREAD.
    pub spread: Option<BuyersRun>,
    /// W-VIEW.
    #[serde(default)]
    pub view: Option<BuyersRun>,
}

impl SystemRun {
    fn saturation(&self) -> Option<&HoldStep> {
        self.hold.as_ref()?.saturation_step()
    }

    /// The step this system ran at `rate` (the ladder is the same for every system), if it
    /// passed; else its saturation step. CPU per hold is compared at the same offered load.
    fn step_at(&self, rate: f64) -> Option<&HoldStep> {
        let hold = self.hold.as_ref()?;
        hold.steps
            .iter()
            .find(|s| s.passed && (s.rate - rate).abs() < 0.5)
            .or_else(|| hold.saturation_step())
    }

    fn runs(&self) -> impl Iterator<Item = &BuyersRun> {
        self.hot
            .iter()
            .chain(self.spread.iter())
            .chain(self.view.iter())
    }
}

/// The ratios of a run against the baseline.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Ratios {
    /// W-HOLD decided/s at saturation, serve over PG-LOCK.
    pub serve_vs_pg: Option<f64>,
    /// The same, dev.
    pub dev_vs_pg: Option<f64>,
    /// The same, REF-MEM.
    pub ref_vs_pg: Option<f64>,
    /// W-HOT hold p99, serve over PG-LOCK (same offered rate).
    pub serve_p99_vs_pg: Option<f64>,
    /// CPU per decided hold (services included) at PG-LOCK's saturation rate, serve over PG-LOCK.
    pub serve_cpu_vs_pg: Option<f64>,
    /// The same, dev.
    pub dev_cpu_vs_pg: Option<f64>,
    /// W-VIEW seat-map `GET` p99 in serve mode, milliseconds (absolute: the target is 50).
    #[serde(default)]
    pub serve_view_p99_ms: Option<f64>,
    /// W-VIEW seat-map `GET` p99, serve over PG-LOCK.
    #[serde(default)]
    pub serve_view_p99_vs_pg: Option<f64>,
    /// W-VIEW seat-map `GET`s serve answered from its store (the target is 0).
    #[serde(default)]
    pub serve_view_store_reads: Option<f64>,
    /// Seats sold twice or double-held, over every boxoffice run.
    pub oversold: u64,
    /// Errors in the measured windows (saturation steps and buyers runs), every system.
    pub errors: u64,
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// Compare every system with the baseline.
pub fn ratios(runs: &[SystemRun]) -> Ratios {
    let find = |name: &str| runs.iter().find(|r| r.system == name);
    let sat = |name: &str| Some(find(name)?.saturation()?.summary.decided_per_s);
    let hot_p99 = |name: &str| Some(find(name)?.hot.as_ref()?.holds.latency.p99_ms);
    let view_p99 = |name: &str| Some(find(name)?.view.as_ref()?.views.as_ref()?.latency.p99_ms);
    let pg_rate = find(BASELINE).and_then(|r| Some(r.saturation()?.rate));
    let cpu = |name: &str| Some(find(name)?.step_at(pg_rate?)?.cpu.system_us_per_op);
    let boxoffice = runs.iter().filter(|r| !r.system.starts_with("pg-lock"));
    let oversold = boxoffice
        .map(|r| {
            let held: u64 = r
                .hold
                .iter()
                .flat_map(|h| &h.steps)
                .map(|s| s.double_held)
                .sum();
            held + r
                .runs()
                .map(|b| b.readback.oversold + b.readback.lost)
                .sum::<u64>()
        })
        .sum();
    let errors = runs
        .iter()
        .map(|r| {
            let sat = r.saturation().map_or(0, |s| s.summary.errors);
            sat + r
                .runs()
                .map(|b| {
                    let views = b.views.as_ref().map_or(0, |v| v.errors);
                    b.holds.errors + b.confirms.errors + views
                })
                .sum::<u64>()
        })
        .sum();
    Ratios {
        serve_vs_pg: ratio(sat("serve"), sat(BASELINE)),
        dev_vs_pg: ratio(sat("dev"), sat(BASELINE)),
        ref_vs_pg: ratio(sat("ref-mem"), sat(BASELINE)),
        serve_p99_vs_pg: ratio(hot_p99("serve"), hot_p99(BASELINE)),
        serve_cpu_vs_pg: ratio(cpu("serve"), cpu(BASELINE)),
        dev_cpu_vs_pg: ratio(cpu("dev"), cpu(BASELINE)),
        serve_view_p99_ms: view_p99("serve"),
        serve_view_p99_vs_pg: ratio(view_p99("serve"), view_p99(BASELINE)),
        serve_view_store_reads: find("serve").and_then(|r| r.view.as_ref()?.views_from_store),
        oversold,
        errors,
    }
}

fn num(value: Option<f64>) -> String {
    value.map_or_else(|| "na".to_owned(), |v| format!("{v:.3}"))
}

/// The closing line of `scripts/bench flash-sale`.
pub fn bench_line(ratios: &Ratios) -> String {
    format!(
        "BENCH flash-sale serve_vs_pg={} dev_vs_pg={} ref_vs_pg={} serve_p99_vs_pg={} serve_cpu_vs_pg={} dev_cpu_vs_pg={} serve_view_p99_ms={} serve_view_p99_vs_pg={} serve_view_store_reads={} oversold={} errors={}",
        num(ratios.serve_vs_pg),
        num(ratios.dev_vs_pg),
        num(ratios.ref_vs_pg),
        num(ratios.serve_p99_vs_pg),
        num(ratios.serve_cpu_vs_pg),
        num(ratios.dev_cpu_vs_pg),
        ratios
            .serve_view_p99_ms
            .map_or_else(|| "na".to_owned(), |v| format!("{v:.1}")),
        num(ratios.serve_view_p99_vs_pg),
        ratios
            .serve_view_store_reads
            .map_or_else(|| "na".to_owned(), |v| format!("{v:.0}")),
        ratios.oversold,
        ratios.errors
    )
}

fn buyers_cells(run: Option<&BuyersRun>) -> String {
    run.map_or_else(
        || "| - | - | - | - | - |".to_owned(),
        |b| {
            format!(
                "| {:.0} | {:.1} / {:.1} | {:.1} | {:.0} | {} / {} |",
                b.buyers.rate,
                b.holds.latency.p50_ms,
                b.holds.latency.p99_ms,
                b.confirms.latency.p99_ms,
                b.goodput_seats_per_s,
                b.readback.oversold,
                b.readback.lost
            )
        },
    )
}

/// The report's tables, in Markdown.
pub fn markdown(runs: &[SystemRun]) -> String {
    let mut out = String::new();
    let pg_rate = runs
        .iter()
        .find(|r| r.system == BASELINE)
        .and_then(|r| Some(r.saturation()?.rate));
    out.push_str("| system | durability | W-HOLD decided/s at saturation (accepted + rejected) | offered | p99 ms | errors | CPU us/hold at PG-LOCK's saturation rate |\n|---|---|---|---|---|---|---|\n");
    for r in runs {
        let sat = r.saturation();
        let cpu = pg_rate.and_then(|rate| r.step_at(rate));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.system,
            r.durability,
            sat.map_or("-".into(), |s| format!(
                "{:.0} ({:.0} + {:.0})",
                s.summary.decided_per_s, s.summary.accepted_per_s, s.summary.rejected_per_s
            )),
            sat.map_or("-".into(), |s| format!("{:.0}", s.rate)),
            sat.map_or("-".into(), |s| format!("{:.1}", s.summary.latency.p99_ms)),
            sat.map_or("-".into(), |s| s.summary.errors.to_string()),
            cpu.map_or("-".into(), |s| format!(
                "{:.0} (at {:.0}/s)",
                s.cpu.system_us_per_op, s.rate
            )),
        );
    }
    out.push_str("\n| system | W-HOT buyers/s | hold p50 / p99 ms | confirm p99 ms | goodput seats/s | oversold / lost | W-SPREAD buyers/s | hold p50 / p99 ms | confirm p99 ms | goodput seats/s | oversold / lost |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
    for r in runs {
        let _ = writeln!(
            out,
            "| {} {} {}",
            r.system,
            buyers_cells(r.hot.as_ref()),
            buyers_cells(r.spread.as_ref())
                .trim_start_matches('|')
                .trim_start()
        );
    }
    out.push_str(&view_table(runs));
    out.push_str(&cpu_table(runs, pg_rate));
    out
}

/// W-VIEW: viewers loading the seat map of a show on sale.
fn view_table(runs: &[SystemRun]) -> String {
    let mut out = String::from(
        "\n| system | W-VIEW buyers/s | seat-map GETs/s | GET p50 / p99 ms | GET errors | GETs answered from the store | hold p99 ms |\n|---|---|---|---|---|---|---|\n",
    );
    for r in runs {
        let Some((b, views)) = r.view.as_ref().and_then(|b| Some((b, b.views.as_ref()?))) else {
            continue;
        };
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.0} | {:.1} / {:.1} | {} | {} | {:.1} |",
            r.system,
            b.buyers.rate,
            b.buyers.views_per_s,
            views.latency.p50_ms,
            views.latency.p99_ms,
            views.errors,
            b.views_from_store
                .map_or_else(|| "-".to_owned(), |n| format!("{n:.0}")),
            b.holds.latency.p99_ms
        );
    }
    out
}

/// CPU microseconds per decided hold, per process, at PG-LOCK's saturation rate.
fn cpu_table(runs: &[SystemRun], pg_rate: Option<f64>) -> String {
    let steps: Vec<(&str, &HoldStep)> = runs
        .iter()
        .filter_map(|r| Some((r.system.as_str(), r.step_at(pg_rate?)?)))
        .collect();
    let processes: BTreeSet<&str> = steps
        .iter()
        .flat_map(|(_, s)| s.cpu.us_per_op.keys().map(String::as_str))
        .collect();
    let mut out = String::from(
        "\nCPU microseconds per decided hold, W-HOLD, per process (`loadgen` is the load generator, left out of the total):\n\n| system | offered/s |",
    );
    for p in &processes {
        let _ = write!(out, " {p} |");
    }
    out.push_str(" total |\n|---|---|");
    out.push_str(&"---|".repeat(processes.len() + 1));
    out.push('\n');
    for (system, step) in steps {
        let _ = write!(out, "| {system} | {:.0} |", step.rate);
        for p in &processes {
            let cell = step
                .cpu
                .us_per_op
                .get(*p)
                .map_or("-".into(), |us| format!("{us:.0}"));
            let _ = write!(out, " {cell} |");
        }
        let _ = writeln!(out, " {:.0} |", step.cpu.system_us_per_op);
    }
    out
}
