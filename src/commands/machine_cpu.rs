//! The whole machine's busy CPU time, from the first line of `/proc/stat`, for the
//! benchmarks' figures: what a run costs every process on the box, the journal's
//! database and the broker included. Steadier than a rate on a shared machine.

/// Busy CPU time used so far by every process, in seconds (user, nice, system, irq,
/// softirq and steal; idle and I/O wait left out). `None` where `/proc/stat` is not.
pub fn busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks = parse_busy_ticks(stat.lines().next()?)?;
    // SAFETY: sysconf reads a constant of the system; nothing is written.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (per_second > 0).then(|| ticks as f64 / per_second as f64)
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

/// Microseconds of busy machine CPU per message, between two readings.
pub fn micros_per_message(before: Option<f64>, after: Option<f64>, messages: usize) -> f64 {
    match (before, after) {
        (Some(b), Some(a)) if messages > 0 => (a - b) * 1e6 / messages as f64,
        _ => f64::NAN,
    }
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn this_machine_s_busy_time_is_read_and_never_goes_back() {
        let before = busy_seconds().expect("/proc/stat on Linux");
        let after = busy_seconds().expect("/proc/stat on Linux");
        assert!(after >= before);
        assert!(micros_per_message(Some(before), Some(after), 0).is_nan());
    }
}
