//! This process's memory, from /proc/self/status, for the benchmarks' figures.

/// A `/proc/self/status` field in MB: `VmRSS:` (now) or `VmHWM:` (the peak).
pub fn rss_mb(field: &str) -> f64 {
    status_mb("/proc/self/status", field)
}

/// A field of a process's status file (`/proc/<pid>/status`) in MB; NaN if not there.
pub fn status_mb(status: &str, field: &str) -> f64 {
    std::fs::read_to_string(status)
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with(field)).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// The peak resident set so far, in MB.
pub fn peak_rss_mb() -> f64 {
    rss_mb("VmHWM:")
}

/// Starts the peak over from what is resident now (Linux: `5` to clear_refs), so that
/// a phase's peak is measured apart from the set-up before it. False if refused.
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}
