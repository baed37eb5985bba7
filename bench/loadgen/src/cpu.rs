//! CPU time of the processes under test, read from `/proc`, so a report can say how many
//! microseconds of each process one operation cost.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

/// A process (or a process and all its descendants) to watch under a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watched {
    /// Name in reports (`cassandra`, `serve`, `postgres`, ...).
    pub name: String,
    /// The process id.
    pub pid: u32,
    /// Whether its descendants count too (PostgreSQL runs a process per connection).
    pub tree: bool,
}

/// A `--cpu` argument that is not `name=pid` or `name=tree:pid`.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {0:?} as name=pid or name=tree:pid")]
pub struct BadWatch(String);

impl FromStr for Watched {
    type Err = BadWatch;

    fn from_str(s: &str) -> Result<Watched, BadWatch> {
        let bad = || BadWatch(s.to_owned());
        let (name, pid) = s.split_once('=').ok_or_else(bad)?;
        let (tree, pid) = match pid.strip_prefix("tree:") {
            Some(pid) => (true, pid),
            None => (false, pid),
        };
        if name.is_empty() {
            return Err(bad());
        }
        Ok(Watched {
            name: name.to_owned(),
            pid: pid.parse().map_err(|_| bad())?,
            tree,
        })
    }
}

impl fmt::Display for Watched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tree = if self.tree { "tree:" } else { "" };
        write!(f, "{}={tree}{}", self.name, self.pid)
    }
}

/// `(utime + stime, parent pid)` of one process from the text of `/proc/<pid>/stat`.
fn parse_stat(stat: &str) -> Option<(u64, u32)> {
    // The command name is in parentheses and may contain spaces: read after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(0) ppid(1) ... utime(11) stime(12).
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime, ppid))
}

fn read_stat(pid: u32) -> Option<(u64, u32)> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Every live process's `(ticks, parent)`, for finding descendants.
fn all_processes() -> HashMap<u32, (u64, u32)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return HashMap::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, read_stat(pid)?)))
        .collect()
}

fn descendants(root: u32, all: &HashMap<u32, (u64, u32)>) -> Vec<u32> {
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            all.iter()
                .filter(|(_, (_, ppid))| *ppid == parent)
                .map(|(pid, _)| *pid),
        );
        i += 1;
    }
    found
}

/// Clock ticks of every watched process at one moment, per name and pid.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// When it was taken.
    pub at: std::time::Instant,
    ticks: BTreeMap<String, HashMap<u32, u64>>,
}

/// Ticks per second of `/proc`'s CPU times (`getconf CLK_TCK`; 100 on Linux in practice).
pub fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100.0)
}

impl Snapshot {
    /// Read the CPU time of every watched process now.
    pub fn take(watched: &[Watched]) -> Snapshot {
        let all = all_processes();
        let mut ticks = BTreeMap::new();
        for w in watched {
            let pids = if w.tree {
                descendants(w.pid, &all)
            } else {
                vec![w.pid]
            };
            let per_pid = pids
                .into_iter()
                .filter_map(|pid| Some((pid, all.get(&pid)?.0)))
                .collect();
            ticks.insert(w.name.clone(), per_pid);
        }
        Snapshot {
            at: std::time::Instant::now(),
            ticks,
        }
    }

    /// CPU seconds each watched name used between `self` (earlier) and `later`. A process that
    /// started in between counts in full; one that ended in between is lost (its time went to
    /// its parent's children counters, which `/proc/<pid>/stat` keeps apart).
    pub fn seconds_until(&self, later: &Snapshot, ticks_per_s: f64) -> BTreeMap<String, f64> {
        later
            .ticks
            .iter()
            .map(|(name, pids)| {
                let before = self.ticks.get(name);
                let used: u64 = pids
                    .iter()
                    .map(|(pid, t)| {
                        t.saturating_sub(before.and_then(|b| b.get(pid)).copied().unwrap_or(0))
                    })
                    .sum();
                (name.clone(), used as f64 / ticks_per_s)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watched_processes_parse_and_print_back() {
        let w: Watched = "postgres=tree:42".parse().unwrap();
        assert_eq!((w.name.as_str(), w.pid, w.tree), ("postgres", 42, true));
        assert_eq!(w.to_string(), "postgres=tree:42");
        let w: Watched = "serve=7".parse().unwrap();
        assert!(!w.tree);
        assert!("serve".parse::<Watched>().is_err());
        assert!("=7".parse::<Watched>().is_err());
        assert!("x=tree:y".parse::<Watched>().is_err());
    }

    #[test]
    fn stat_lines_with_spaces_in_the_name_parse() {
        let stat = "123 (tokio rt (w) 1) S 99 123 123 0 -1 4194560 10 0 0 0 250 50 0 0 20 0 8";
        assert_eq!(parse_stat(stat), Some((300, 99)));
    }

    #[test]
    fn this_process_burns_cpu_that_the_snapshots_see() {
        let me = Watched {
            name: "me".into(),
            pid: std::process::id(),
            tree: true,
        };
        let before = Snapshot::take(std::slice::from_ref(&me));
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while started.elapsed() < std::time::Duration::from_millis(300) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let after = Snapshot::take(&[me]);
        let used = before.seconds_until(&after, ticks_per_second())["me"];
        assert!(used >= 0.1, "{used}");
    }
}
