//! The flash-sale workloads: W-HOLD (holds stepped up to saturation), W-HOT (buyers of one hot
//! show who hold, think and confirm or walk away) and W-SPREAD (the same buyers over many shows).

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use uuid::Uuid;

use crate::cpu::{Snapshot, Watched, ticks_per_second};
use crate::schedule::OpenLoop;
use crate::stats::{Outcome, Sample, Summary};
use crate::target::{HoldAnswer, Show, Target, TargetError};

/// The processes whose CPU a run reports, the load generator itself among them.
#[derive(Clone, Debug)]
pub struct Watch {
    watched: Vec<Watched>,
    ticks_per_s: f64,
}

impl Watch {
    /// Watch `watched` and this process (as `loadgen`).
    pub fn new(mut watched: Vec<Watched>) -> Watch {
        watched.push(Watched {
            name: "loadgen".into(),
            pid: std::process::id(),
            tree: false,
        });
        Watch {
            watched,
            ticks_per_s: ticks_per_second(),
        }
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot::take(&self.watched)
    }

    /// Wait (at most `max`) until the system's processes are nearly idle: under 10% of a core
    /// over half a second. Setting up a show leaves work behind (PostgreSQL's autovacuum after
    /// 150,000 inserted rows, Cassandra's flushes and compactions) that no hold caused; a window
    /// opened before it ends would charge it to the holds.
    async fn settle(&self, max: Duration) {
        let started = Instant::now();
        while started.elapsed() < max {
            let before = self.snapshot();
            tokio::time::sleep(Duration::from_millis(500)).await;
            let used = before.seconds_until(&self.snapshot(), self.ticks_per_s);
            let busy: f64 = used
                .iter()
                .filter(|(name, _)| name.as_str() != "loadgen")
                .map(|(_, s)| s)
                .sum();
            if busy < 0.05 {
                return;
            }
        }
        eprintln!("the system did not settle within {max:?}; measuring anyway");
    }

    fn report(&self, before: &Snapshot, after: &Snapshot, ops: u64) -> CpuReport {
        let window_s = after.at.duration_since(before.at).as_secs_f64();
        CpuReport::new(before.seconds_until(after, self.ticks_per_s), ops, window_s)
    }
}

/// The longest wait for the system to go quiet after setting up a show.
const SETTLE_MAX: Duration = Duration::from_secs(30);

/// CPU of each watched process over a window, in seconds and in microseconds per operation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuReport {
    /// Operations the per-operation figures divide by.
    pub ops: u64,
    /// Wall-clock length of the window, seconds.
    pub window_s: f64,
    /// CPU seconds per process.
    pub seconds: BTreeMap<String, f64>,
    /// CPU microseconds per operation per process.
    pub us_per_op: BTreeMap<String, f64>,
    /// The system's own CPU per operation: every process but the load generator.
    pub system_us_per_op: f64,
}

impl CpuReport {
    fn new(seconds: BTreeMap<String, f64>, ops: u64, window_s: f64) -> CpuReport {
        let per_op = |s: f64| s * 1e6 / ops.max(1) as f64;
        let us_per_op: BTreeMap<String, f64> = seconds
            .iter()
            .map(|(n, s)| (n.clone(), per_op(*s)))
            .collect();
        let system_us_per_op = us_per_op
            .iter()
            .filter(|(n, _)| n.as_str() != "loadgen")
            .map(|(_, us)| us)
            // A fold from +0: an empty f64 sum is -0, which prints as "-0".
            .fold(0.0, |total, us| total + us);
        CpuReport {
            ops,
            window_s,
            seconds,
            us_per_op,
            system_us_per_op,
        }
    }
}

/// A progress bar on standard error (a line per tenth when it is not a terminal).
struct Progress {
    label: String,
    tty: bool,
    shown_tenths: u64,
}

impl Progress {
    fn new(label: String) -> Progress {
        Progress {
            label,
            tty: std::io::stderr().is_terminal(),
            shown_tenths: u64::MAX,
        }
    }

    fn update(&mut self, done: u64, total: u64) {
        let tenths = done * 10 / total.max(1);
        let bar: String = (0..20)
            .map(|i| {
                if i < done * 20 / total.max(1) {
                    '#'
                } else {
                    '.'
                }
            })
            .collect();
        let line = format!("{} [{bar}] {done}/{total}", self.label);
        if self.tty {
            eprint!("\r{line}");
            if done == total {
                eprintln!();
            }
        } else if tenths != self.shown_tenths {
            eprintln!("{line}");
        }
        self.shown_tenths = tenths;
        let _ = std::io::stderr().flush();
    }
}

/// The W-HOLD ladder: rates from `start_rate`, times `factor` each step, a fresh show each step.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HoldLadder {
    /// First offered rate, holds per second.
    pub start_rate: f64,
    /// Each step offers this many times the previous rate.
    pub factor: f64,
    /// Most steps.
    pub steps_max: usize,
    /// Length of each step's window, seconds.
    pub step_s: f64,
    /// Seats of each step's show.
    pub seats: u32,
    /// Seats per row.
    pub row_len: u32,
    /// Most requests in flight.
    pub in_flight_max: usize,
    /// A request unanswered this long after its scheduled time is an error, seconds.
    pub deadline_s: f64,
}

/// One step of the ladder.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HoldStep {
    /// Offered holds per second.
    pub rate: f64,
    /// What came back.
    pub summary: Summary,
    /// CPU over the step's window, per decided hold.
    pub cpu: CpuReport,
    /// Seats that two accepted holds of the step both got (must be 0).
    pub double_held: u64,
    /// Whether the step counts toward saturation (see [`step_passes`]).
    pub passed: bool,
}

/// A W-HOLD run: the steps and which one is the saturation point.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HoldRun {
    /// The ladder that was run.
    pub ladder: HoldLadder,
    /// Every step run, in order.
    pub steps: Vec<HoldStep>,
    /// Index of the saturation step: the highest step whose decided/s rose by 5% or more over
    /// the previous step with p99 under 1 s and errors under 1%.
    pub saturation: Option<usize>,
}

impl HoldRun {
    /// The saturation step, if any step passed.
    pub fn saturation_step(&self) -> Option<&HoldStep> {
        self.steps.get(self.saturation?)
    }
}

/// Whether a step counts toward saturation: p99 under 1 s, errors under 1%, and decided/s up by
/// 5% or more on the previous step (the first step needs only the first two).
pub fn step_passes(step: &Summary, previous: Option<&Summary>) -> bool {
    let healthy = step.latency.p99_ms < 1000.0 && step.error_ratio < 0.01;
    healthy && previous.is_none_or(|p| step.decided_per_s >= 1.05 * p.decided_per_s)
}

fn random_seats(seats: &[Uuid]) -> Vec<Uuid> {
    let mut rng = rand::rng();
    let n = rng.random_range(1..=4usize).min(seats.len());
    rand::seq::index::sample(&mut rng, seats.len(), n)
        .into_iter()
        .map(|i| seats[i])
        .collect()
}

/// A show is stored lazily on its first hold in boxoffice: hold its last seat (left out of the
/// workload) until that answers, so no step measures the show's creation.
async fn warm_up(target: &Target, show: &Show) -> Result<Vec<Uuid>, TargetError> {
    let mut seats = show.seats();
    let last = seats.pop().expect("a show has seats");
    for attempt in 0.. {
        match target
            .hold(&target.buyer_token(), show.show_id, &[last])
            .await
        {
            HoldAnswer::Held(_) | HoldAnswer::Unavailable => break,
            HoldAnswer::Failed(status) if attempt >= 30 => {
                return Err(TargetError::Refused {
                    what: format!("warm-up hold on {}", show.show_id),
                    status,
                    body: "no answer after 30 tries".into(),
                });
            }
            HoldAnswer::Failed(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    Ok(seats)
}

fn double_held(holds: &[Vec<Uuid>]) -> u64 {
    let mut count: HashMap<Uuid, u32> = HashMap::new();
    for seat in holds.iter().flatten() {
        *count.entry(*seat).or_default() += 1;
    }
    count.values().filter(|n| **n > 1).count() as u64
}

/// Run the W-HOLD ladder against `target`, labelled `system` in progress lines.
pub async fn w_hold(
    target: &Target,
    ladder: &HoldLadder,
    watch: &Watch,
    system: &str,
) -> Result<HoldRun, TargetError> {
    let mut steps: Vec<HoldStep> = Vec::new();
    let mut saturation = None;
    let mut rate = ladder.start_rate;
    for index in 0..ladder.steps_max {
        let setup = Instant::now();
        let show = target
            .create_shows(1, ladder.seats, ladder.row_len)
            .await?
            .remove(0);
        let seats = Arc::new(warm_up(target, &show).await?);
        watch.settle(SETTLE_MAX).await;
        let setup_s = setup.elapsed().as_secs_f64();
        let step = hold_step(target, ladder, watch, system, rate, show.show_id, seats).await;
        let passed = step_passes(&step.summary, steps.last().map(|s| &s.summary));
        eprintln!(
            "{system} W-HOLD {rate:.0}/s: decided {:.0}/s (accepted {:.0}, rejected {:.0}), p99 {:.1} ms, errors {}, {:.0} us CPU/hold{} [setup {setup_s:.1} s, step {:.1} s]",
            step.summary.decided_per_s,
            step.summary.accepted_per_s,
            step.summary.rejected_per_s,
            step.summary.latency.p99_ms,
            step.summary.errors,
            step.cpu.system_us_per_op,
            if passed { "" } else { " (saturated)" },
            setup.elapsed().as_secs_f64() - setup_s
        );
        steps.push(HoldStep { passed, ..step });
        if !passed {
            break;
        }
        saturation = Some(index);
        rate *= ladder.factor;
    }
    Ok(HoldRun {
        ladder: ladder.clone(),
        steps,
        saturation,
    })
}

async fn hold_step(
    target: &Target,
    ladder: &HoldLadder,
    watch: &Watch,
    system: &str,
    rate: f64,
    show: Uuid,
    seats: Arc<Vec<Uuid>>,
) -> HoldStep {
    let window = Duration::from_secs_f64(ladder.step_s);
    let schedule = OpenLoop {
        rate_per_s: rate,
        duration: window,
        in_flight_max: ladder.in_flight_max,
        deadline: Duration::from_secs_f64(ladder.deadline_s),
    };
    let held: Arc<Mutex<Vec<Vec<Uuid>>>> = Arc::default();
    let (op_target, op_held) = (target.clone(), held.clone());
    let op = move |_| {
        let (target, held, seats) = (op_target.clone(), op_held.clone(), seats.clone());
        async move {
            let wanted = random_seats(&seats);
            let answer = target.hold(&target.buyer_token(), show, &wanted).await;
            if matches!(answer, HoldAnswer::Held(_)) {
                held.lock().expect("holds lock").push(wanted);
            }
            answer.outcome()
        }
    };
    let before = watch.snapshot();
    let at_window_end = {
        let watch = watch.clone();
        tokio::spawn(async move {
            tokio::time::sleep(window).await;
            watch.snapshot()
        })
    };
    let mut bar = Progress::new(format!("{system} W-HOLD {rate:.0}/s"));
    let samples = schedule
        .run(op, |done| bar.update(done, schedule.arrivals()))
        .await;
    let after = at_window_end.await.expect("snapshot task");
    let summary = Summary::of(&samples, ladder.step_s);
    let decided_in_window = (summary.decided_per_s * ladder.step_s).round() as u64;
    let holds = held.lock().expect("holds lock");
    HoldStep {
        rate,
        cpu: watch.report(&before, &after, decided_in_window),
        double_held: double_held(&holds),
        summary,
        passed: false,
    }
}

/// W-HOT and W-SPREAD: buyers arrive at `rate`, hold 1-4 adjacent seats of a random show, and
/// `confirm_ratio` of those who got seats confirm after thinking, the rest walk away.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Buyers {
    /// Workload name in reports (`W-HOT`, `W-SPREAD`).
    pub name: String,
    /// Buyers arriving per second.
    pub rate: f64,
    /// How long buyers arrive, seconds.
    pub duration_s: f64,
    /// Shows the buyers spread over.
    pub shows: usize,
    /// Seats per show.
    pub seats_per_show: u32,
    /// Seats per row.
    pub row_len: u32,
    /// Share of successful holders who confirm.
    pub confirm_ratio: f64,
    /// Think time before confirming, seconds: uniform in this range.
    pub think_s: (f64, f64),
    /// Most requests in flight.
    pub in_flight_max: usize,
    /// A request unanswered this long after its scheduled time is an error, seconds.
    pub deadline_s: f64,
    /// Seat-map `GET`s of the first show per second while the buyers arrive (W-VIEW; 0: none).
    #[serde(default)]
    pub views_per_s: f64,
}

/// The counter of seat-map `GET`s that read the store (boxoffice).
pub const STORE_READS: &str = "boxoffice_seat_map_store_reads_total";

/// What the final state says about the sale.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Readback {
    /// Confirms answered `201`.
    pub confirmed_bookings: u64,
    /// Seats those bookings hold.
    pub confirmed_seats: u64,
    /// Seats in two or more confirmed bookings: sold twice. Must be 0.
    pub oversold: u64,
    /// Seats of confirmed bookings that the final seat map does not show `BOOKED`. Must be 0.
    pub lost: u64,
    /// Seats the final seat maps show `BOOKED` (more than confirmed when a confirm's answer was
    /// lost to a timeout but the booking went through).
    pub booked_on_maps: u64,
}

/// A buyers run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BuyersRun {
    /// The workload as run.
    pub buyers: Buyers,
    /// Hold requests.
    pub holds: Summary,
    /// Confirm requests (latency from the end of the think time).
    pub confirms: Summary,
    /// Confirmed seats per second of arrivals: the goodput.
    pub goodput_seats_per_s: f64,
    /// CPU from the first arrival to the last confirm, per decided hold.
    pub cpu: CpuReport,
    /// The final state read back.
    pub readback: Readback,
    /// Seat-map `GET`s, when the run had viewers.
    #[serde(default)]
    pub views: Option<Summary>,
    /// Of those, how many the server answered from its store ([`STORE_READS`]; boxoffice only).
    #[serde(default)]
    pub views_from_store: Option<f64>,
}

struct Sale {
    target: Target,
    shows: Vec<Show>,
    buyers: Buyers,
    start: Instant,
    confirms: Mutex<Vec<Sample>>,
    confirm_tasks: Mutex<Vec<JoinHandle<()>>>,
    confirmed: Mutex<Vec<(usize, Vec<Uuid>)>>,
}

/// 1-4 adjacent seats of a random row of a random show (fewer if the row is shorter).
fn adjacent_seats(shows: &[Show]) -> (usize, Vec<Uuid>) {
    let mut rng = rand::rng();
    let show = rng.random_range(0..shows.len());
    let rows = &shows[show].rows;
    let row = &rows[rng.random_range(0..rows.len())];
    let n = rng.random_range(1..=4usize).min(row.len());
    let first = rng.random_range(0..=row.len() - n);
    (show, row[first..first + n].to_vec())
}

impl Sale {
    async fn buyer(self: Arc<Sale>) -> Outcome {
        let (show, seats) = adjacent_seats(&self.shows);
        let token = self.target.buyer_token();
        let answer = self
            .target
            .hold(&token, self.shows[show].show_id, &seats)
            .await;
        if let HoldAnswer::Held(hold) = answer {
            let (confirms, think) = {
                let mut rng = rand::rng();
                let (lo, hi) = self.buyers.think_s;
                (
                    rng.random_bool(self.buyers.confirm_ratio),
                    rng.random_range(lo..=hi),
                )
            };
            if confirms {
                let sale = self.clone();
                let task = tokio::spawn(async move {
                    sale.confirm(token, hold, show, seats, think).await;
                });
                self.confirm_tasks.lock().expect("tasks lock").push(task);
            }
        }
        answer.outcome()
    }

    async fn confirm(&self, token: String, hold: Uuid, show: usize, seats: Vec<Uuid>, think: f64) {
        let due = Instant::now() + Duration::from_secs_f64(think);
        tokio::time::sleep_until(due).await;
        let deadline = due + Duration::from_secs_f64(self.buyers.deadline_s);
        let outcome = tokio::time::timeout_at(deadline, self.target.confirm(&token, hold))
            .await
            .unwrap_or(Outcome::Error);
        if outcome == Outcome::Accepted {
            self.confirmed
                .lock()
                .expect("confirmed lock")
                .push((show, seats));
        }
        self.confirms.lock().expect("confirms lock").push(Sample {
            scheduled_us: (due - self.start).as_micros() as u64,
            latency_us: due.elapsed().as_micros() as u64,
            outcome,
        });
    }
}

/// Viewers of the sale's first show, open loop beside the buyers (none unless
/// [`Buyers::views_per_s`]). The read-back's own seat-map reads come after and are not counted.
async fn view(sale: &Arc<Sale>) -> Option<Vec<Sample>> {
    let buyers = &sale.buyers;
    if buyers.views_per_s <= 0.0 {
        return None;
    }
    let schedule = OpenLoop {
        rate_per_s: buyers.views_per_s,
        duration: Duration::from_secs_f64(buyers.duration_s),
        in_flight_max: buyers.in_flight_max,
        deadline: Duration::from_secs_f64(buyers.deadline_s),
    };
    let viewer = sale.clone();
    let op = move |_| {
        let sale = viewer.clone();
        async move { sale.target.view(&sale.shows[0]).await }
    };
    Some(schedule.run(op, |_| {}).await)
}

/// Run a buyers workload against `target`.
pub async fn w_buyers(
    target: &Target,
    buyers: &Buyers,
    watch: &Watch,
    system: &str,
) -> Result<BuyersRun, TargetError> {
    let began = Instant::now();
    let shows = target
        .create_shows(buyers.shows, buyers.seats_per_show, buyers.row_len)
        .await?;
    for show in &shows {
        warm_up(target, show).await?;
    }
    watch.settle(SETTLE_MAX).await;
    let sale = Arc::new(Sale {
        target: target.clone(),
        shows,
        buyers: buyers.clone(),
        start: Instant::now(),
        confirms: Mutex::default(),
        confirm_tasks: Mutex::default(),
        confirmed: Mutex::default(),
    });
    let schedule = OpenLoop {
        rate_per_s: buyers.rate,
        duration: Duration::from_secs_f64(buyers.duration_s),
        in_flight_max: buyers.in_flight_max,
        deadline: Duration::from_secs_f64(buyers.deadline_s),
    };
    let reads_before = target.counter(STORE_READS).await;
    let before = watch.snapshot();
    let op_sale = sale.clone();
    let mut bar = Progress::new(format!("{system} {} {:.0}/s", buyers.name, buyers.rate));
    let buying = schedule.run(
        move |_| op_sale.clone().buyer(),
        |done| bar.update(done, schedule.arrivals()),
    );
    let (holds, views) = tokio::join!(buying, view(&sale));
    let tasks = std::mem::take(&mut *sale.confirm_tasks.lock().expect("tasks lock"));
    for task in tasks {
        let _ = task.await;
    }
    let after = watch.snapshot();
    let holds = Summary::of(&holds, buyers.duration_s);
    let confirm_samples = sale.confirms.lock().expect("confirms lock").clone();
    let confirms = Summary::of(&confirm_samples, buyers.duration_s + buyers.think_s.1);
    let confirmed = sale.confirmed.lock().expect("confirmed lock").clone();
    let readback = read_back(target, &sale.shows, &confirmed).await?;
    let reads_after = target.counter(STORE_READS).await;
    let decided = holds.accepted + holds.rejected;
    let run = BuyersRun {
        goodput_seats_per_s: readback.confirmed_seats as f64 / buyers.duration_s,
        cpu: watch.report(&before, &after, decided),
        buyers: buyers.clone(),
        holds,
        confirms,
        readback,
        views: views.map(|v| Summary::of(&v, buyers.duration_s)),
        views_from_store: reads_before.zip(reads_after).map(|(b, a)| a - b),
    };
    if let Some(views) = &run.views {
        eprintln!(
            "{system} {} viewers {:.0}/s: seat map p50 {:.1} ms, p99 {:.1} ms, errors {}, from the store {}",
            buyers.name,
            buyers.views_per_s,
            views.latency.p50_ms,
            views.latency.p99_ms,
            views.errors,
            run.views_from_store
                .map_or_else(|| "-".to_owned(), |n| format!("{n:.0}"))
        );
    }
    eprintln!(
        "{system} {} {:.0}/s [{:.0} s]: holds p99 {:.1} ms (errors {}), confirms {} (errors {}), goodput {:.0} seats/s, oversold {}, lost {}, {:.0} us CPU/hold",
        buyers.name,
        buyers.rate,
        began.elapsed().as_secs_f64(),
        run.holds.latency.p99_ms,
        run.holds.errors,
        run.confirms.accepted,
        run.confirms.errors,
        run.goodput_seats_per_s,
        run.readback.oversold,
        run.readback.lost,
        run.cpu.system_us_per_op
    );
    Ok(run)
}

/// Read every show's final seat map and compare it with the confirms that were answered `201`.
async fn read_back(
    target: &Target,
    shows: &[Show],
    confirmed: &[(usize, Vec<Uuid>)],
) -> Result<Readback, TargetError> {
    let mut readback = Readback {
        confirmed_bookings: confirmed.len() as u64,
        ..Readback::default()
    };
    for (index, show) in shows.iter().enumerate() {
        let statuses = target.seat_statuses(show).await?;
        let mut sold: HashMap<Uuid, u32> = HashMap::new();
        for seat in confirmed
            .iter()
            .filter(|(s, _)| *s == index)
            .flat_map(|(_, seats)| seats)
        {
            *sold.entry(*seat).or_default() += 1;
        }
        readback.confirmed_seats += sold.values().map(|n| u64::from(*n)).sum::<u64>();
        readback.oversold += sold.values().filter(|n| **n > 1).count() as u64;
        readback.lost += sold
            .keys()
            .filter(|seat| statuses.get(seat).map(String::as_str) != Some("BOOKED"))
            .count() as u64;
        readback.booked_on_maps += statuses.values().filter(|s| *s == "BOOKED").count() as u64;
    }
    Ok(readback)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Latency;

    fn summary(decided_per_s: f64, p99_ms: f64, error_ratio: f64) -> Summary {
        Summary {
            decided_per_s,
            error_ratio,
            latency: Latency {
                p99_ms,
                ..Latency::default()
            },
            ..Summary::default()
        }
    }

    #[test]
    fn saturation_needs_a_five_percent_rise_a_sub_second_p99_and_few_errors() {
        let first = summary(1000.0, 20.0, 0.0);
        assert!(step_passes(&first, None));
        assert!(step_passes(&summary(1050.0, 20.0, 0.0), Some(&first)));
        assert!(!step_passes(&summary(1049.0, 20.0, 0.0), Some(&first)));
        assert!(!step_passes(&summary(1500.0, 1000.0, 0.0), Some(&first)));
        assert!(!step_passes(&summary(1500.0, 20.0, 0.01), Some(&first)));
        assert!(!step_passes(&summary(1000.0, 1500.0, 0.0), None));
    }

    #[test]
    fn a_seat_in_two_holds_is_counted_once() {
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(double_held(&[vec![a, b], vec![c]]), 0);
        assert_eq!(double_held(&[vec![a, b], vec![b, c], vec![b]]), 1);
    }

    #[test]
    fn adjacent_seats_stay_in_one_row() {
        let row = |n| (0..n).map(|_| Uuid::new_v4()).collect::<Vec<_>>();
        let show = Show {
            event_id: "e".into(),
            show_id: Uuid::new_v4(),
            rows: vec![row(50), row(3)],
        };
        for _ in 0..500 {
            let (index, seats) = adjacent_seats(std::slice::from_ref(&show));
            assert_eq!(index, 0);
            assert!((1..=4).contains(&seats.len()));
            let in_row = show.rows.iter().find(|r| r.contains(&seats[0])).unwrap();
            let at = in_row.iter().position(|s| *s == seats[0]).unwrap();
            assert_eq!(&in_row[at..at + seats.len()], seats.as_slice());
        }
    }

    #[test]
    fn cpu_per_operation_leaves_the_load_generator_out_of_the_system_total() {
        let seconds = BTreeMap::from([
            ("serve".to_owned(), 0.5),
            ("cassandra".to_owned(), 1.0),
            ("loadgen".to_owned(), 2.0),
        ]);
        let cpu = CpuReport::new(seconds, 10_000, 1.0);
        assert_eq!(cpu.us_per_op["serve"], 50.0);
        assert_eq!(cpu.system_us_per_op, 150.0);
    }
}
