//! The whole machine's busy CPU time, from the first line of `/proc/stat`, for the
//! benchmarks' figures: what a run costs every process on the box, the journal's
//! database and the broker included. Steadier than a rate on a shared machine. And
//! each process's CPU time, from `/proc/PID/stat`, to say who used it.

use std::collections::HashMap;

/// Busy CPU time used so far by every process, in seconds (user, nice, system, irq,
/// softirq and steal; idle and I/O wait left out). `None` where `/proc/stat` is not.
pub fn busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks = parse_busy_ticks(stat.lines().next()?)?;
    Some(ticks as f64 / ticks_per_second()?)
}

/// The clock ticks in a second that `/proc` counts CPU time in.
fn ticks_per_second() -> Option<f64> {
    // SAFETY: sysconf reads a constant of the system; nothing is written.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (per_second > 0).then_some(per_second as f64)
}

/// The busy ticks of a `cpu  user nice system idle iowait irq softirq steal ...` line.
fn parse_busy_ticks(line: &str) -> Option<u64> {
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let n: Vec<u64> = fields
        .take(8)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let [user, nice, system, _idle, _iowait, irq, softirq, steal] = n.try_into().ok()?;
    Some(user + nice + system + irq + softirq + steal)
}

/// Every process's CPU time so far (user and system, in ticks), by pid, with its name:
/// read twice, it says which of the processes sharing the machine used its CPU. A
/// process that ends between the readings is left out; one that starts is counted whole.
/// [`Processes::threads`] reads this process's threads the same way.
pub struct Processes(HashMap<u32, (String, u64)>);

impl Processes {
    /// The processes `/proc` shows now; none where there is no `/proc`.
    pub fn read() -> Processes {
        Processes::read_in("/proc")
    }

    /// This process's threads, by thread id and name.
    pub fn threads() -> Processes {
        Processes::read_in("/proc/self/task")
    }

    fn read_in(root: &str) -> Processes {
        let mut found = HashMap::new();
        let Ok(dir) = std::fs::read_dir(root) else {
            return Processes(found);
        };
        for entry in dir.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            // Gone since the listing: nothing to count.
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            if let Some((name, ticks)) = parse_process_ticks(&stat) {
                found.insert(pid, (name.to_string(), ticks));
            }
        }
        Processes(found)
    }

    /// Microseconds of CPU per message from this reading to `later`, summed by the
    /// group `group_of` gives each process (by pid and name); the largest first, the
    /// groups that used none left out.
    pub fn per_message_by_group(
        &self,
        later: &Processes,
        messages: usize,
        group_of: impl Fn(u32, &str) -> &'static str,
    ) -> Vec<(&'static str, f64)> {
        let Some(per_second) = ticks_per_second().filter(|_| messages > 0) else {
            return Vec::new();
        };
        let mut by_group: HashMap<&'static str, u64> = HashMap::new();
        for (pid, (name, ticks)) in &later.0 {
            let before = self.0.get(pid).map_or(0, |(_, t)| *t);
            *by_group.entry(group_of(*pid, name)).or_default() += ticks.saturating_sub(before);
        }
        let mut split: Vec<(&'static str, f64)> = by_group
            .into_iter()
            .filter(|(_, ticks)| *ticks > 0)
            .map(|(group, ticks)| {
                let seconds = ticks as f64 / per_second;
                (group, seconds * 1e6 / messages as f64)
            })
            .collect();
        split.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
        split
    }
}

/// A split from [`Processes::per_message_by_group`] as text: `PostgreSQL 127, instances 99`.
pub fn split_text(split: &[(&str, f64)]) -> String {
    let parts: Vec<String> = split.iter().map(|(g, us)| format!("{g} {us:.0}")).collect();
    parts.join(", ")
}

/// The same as a JSON object, microseconds rounded.
pub fn split_json(split: &[(&str, f64)]) -> serde_json::Value {
    split
        .iter()
        .map(|(g, us)| (g.to_string(), serde_json::json!(us.round())))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// The name and CPU ticks (user + system) of a `/proc/PID/stat` line. The name stands
/// between the first `(` and the last `)`, and may hold spaces and parentheses.
fn parse_process_ticks(stat: &str) -> Option<(&str, u64)> {
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let name = stat.get(open + 1..close)?;
    // After the name: state, ppid, pgrp, session, tty_nr, tpgid, flags, minflt,
    // cminflt, majflt, cmajflt, utime, stime.
    let mut fields = stat.get(close + 1..)?.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((name, user + system))
}

/// Microseconds of busy machine CPU per message, between two readings.
pub fn micros_per_message(before: Option<f64>, after: Option<f64>, messages: usize) -> f64 {
    match (before, after) {
        (Some(b), Some(a)) if messages > 0 => (a - b) * 1e6 / messages as f64,
        _ => f64::NAN,
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn busy_ticks_leave_out_idle_and_io_wait() {
        let line = "cpu  100 2 30 5000 40 5 6 7 0 0";
        assert_eq!(parse_busy_ticks(line), Some(100 + 2 + 30 + 5 + 6 + 7));
    }

    #[test]
    fn a_line_that_is_not_the_total_is_refused() {
        assert_eq!(parse_busy_ticks("cpu0 1 2 3 4 5 6 7 8"), None);
        assert_eq!(parse_busy_ticks("cpu  1 2 x 4 5 6 7 8"), None);
        assert_eq!(parse_busy_ticks("cpu  1 2 3"), None);
    }

    /// Busy until the process or thread whose stat file is `stat` has used `ticks` more
    /// CPU ticks, however loaded the machine (at most a minute).
    fn spin_until_used(stat: &str, ticks: u64) {
        let used = || {
            parse_process_ticks(&std::fs::read_to_string(stat).expect("/proc on Linux"))
                .expect("a stat line")
                .1
        };
        let (start, deadline) = (used(), Instant::now() + Duration::from_secs(60));
        let mut spin = 0u64;
        while used() < start + ticks && Instant::now() < deadline {
            let slice = Instant::now();
            while slice.elapsed() < Duration::from_millis(5) {
                spin = std::hint::black_box(spin.wrapping_add(1));
            }
        }
    }

    #[test]
    fn a_process_s_ticks_are_user_and_system_whatever_its_name() {
        let stat = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 900 0 3 0 120 35 0 0 20 0 9 0";
        assert_eq!(parse_process_ticks(stat), Some(("tokio (rt) x", 155)));
        assert_eq!(parse_process_ticks("4242 (short) S 1 2"), None);
        assert_eq!(parse_process_ticks("no name here"), None);
    }

    #[test]
    fn this_process_s_cpu_is_found_under_its_group() {
        let me = std::process::id();
        let per_second = ticks_per_second().expect("sysconf on Linux") as u64;
        let before = Processes::read();
        // Busy until this process has used a quarter of a second, however loaded the
        // machine (other tests run beside this one).
        spin_until_used("/proc/self/stat", per_second / 4);
        let after = Processes::read();
        let split = before.per_message_by_group(&after, 1000, |pid, _| {
            if pid == me { "this test" } else { "the others" }
        });
        let mine = split
            .iter()
            .find(|(g, _)| *g == "this test")
            .map(|(_, us)| *us);
        // A quarter of a second over 1,000 messages: at least 250 µs a message.
        assert!(mine.is_some_and(|us| us >= 249.0), "{split:?}");
        assert!(
            before
                .per_message_by_group(&after, 0, |_, _| "any")
                .is_empty()
        );
    }

    #[test]
    fn this_process_s_threads_are_read_by_their_names() {
        let name = "kp-cpu-probe";
        let before = Processes::threads();
        let probe = std::thread::Builder::new()
            .name(name.into())
            .spawn(|| spin_until_used("/proc/thread-self/stat", 5))
            .expect("a thread");
        // Read while the probe still runs: a thread that has ended is gone from /proc.
        let mut during = Processes::threads();
        while !probe.is_finished() {
            during = Processes::threads();
            std::thread::sleep(Duration::from_millis(2));
        }
        probe.join().expect("the probe");
        let split = before
            .per_message_by_group(&during, 1, |_, n| if n == name { "probe" } else { "rest" });
        assert!(
            split.iter().any(|(g, us)| *g == "probe" && *us > 0.0),
            "{split:?}"
        );
    }

    #[test]
    fn this_machine_s_busy_time_is_read_and_never_goes_back() {
        let before = busy_seconds().expect("/proc/stat on Linux");
        let after = busy_seconds().expect("/proc/stat on Linux");
        assert!(after >= before);
        assert!(micros_per_message(Some(before), Some(after), 0).is_nan());
    }
}
