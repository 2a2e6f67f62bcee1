//! Schedules (`schedules/*.yaml`): cron expressions in Europe/Copenhagen time that run a
//! named job (the Digital Post system-fetch, reports, reconciliations). A job produces
//! messages into routes like any other source, so it gets redelivery and dead letters
//! from the engine. This module reads the schedules (problems with file and line) and
//! reckons fire times in Copenhagen wall-clock time: a time the autumn change repeats
//! fires once (at its first occurrence), and a time the spring change skips fires once,
//! as the clock jumps. [`runner`] runs them, each fire time claimed by one instance
//! only, and [`history`] keeps every run with its duration and outcome.
//!
//! ```yaml
//! schedules:
//!   - id: digitalpost.afhentning
//!     description: Collect the municipality's Digital Post.
//!     cron: "0 */5 * * * *"      # sec min hour day-of-month month day-of-week
//!     job: digitalpost.afhentning
//!     missed: skip               # or catch_up: run once at start if a fire was missed
//!     enabled_in: [dev]
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Timelike as _, Utc};
use chrono_tz::Europe::Copenhagen;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::route::Diagnostic;

pub mod history;
pub mod runner;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleFile {
    schedules: Vec<ScheduleConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleConfig {
    id: Spanned<String>,
    #[serde(default)]
    description: String,
    cron: Spanned<String>,
    job: Spanned<String>,
    #[serde(default)]
    missed: MissedRun,
    #[serde(default)]
    enabled_in: Option<Vec<String>>,
}

/// What to do about fire times that passed while no instance ran.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MissedRun {
    /// Wait for the next fire time.
    #[default]
    Skip,
    /// Run once at start, then keep to the schedule.
    CatchUp,
}

/// A schedule, checked.
#[derive(Clone, Debug, Serialize)]
pub struct Schedule {
    pub id: String,
    pub description: String,
    pub cron: String,
    pub job: String,
    pub missed: MissedRun,
    pub file: PathBuf,
    pub line: u64,
    #[serde(skip)]
    parsed: cron::Schedule,
}

impl Schedule {
    /// The first fire time after `t`, reckoned in Copenhagen wall-clock time.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // The cron expression is read on the wall clock (naive local time, stepped as if
        // it had no daylight-saving changes) and each wall-clock time is then placed.
        let mut local = t.with_timezone(&Copenhagen).naive_local().and_utc();
        for _ in 0..4 {
            let wall = self.parsed.after(&local).next()?.naive_utc();
            if let Some(at) = place(wall)
                && at > t
            {
                return Some(at);
            }
            // Already passed (the repeated hour's second pass): the next one.
            local = wall.and_utc();
        }
        None
    }
}

/// The instant of a Copenhagen wall-clock time: the first of the two when the autumn
/// change repeats it, and the moment the clock jumps to when the spring change skips it.
fn place(wall: chrono::NaiveDateTime) -> Option<DateTime<Utc>> {
    use chrono::LocalResult;
    use chrono::TimeZone as _;
    let mut probe = wall;
    for _ in 0..=180 {
        match Copenhagen.from_local_datetime(&probe) {
            LocalResult::Single(at) => return Some(at.with_timezone(&Utc)),
            LocalResult::Ambiguous(first, _) => return Some(first.with_timezone(&Utc)),
            LocalResult::None => {
                // In the gap: try the next whole minute, where the clock has jumped to.
                probe = (probe + chrono::Duration::minutes(1))
                    .with_second(0)
                    .unwrap_or(probe);
            }
        }
    }
    None
}

/// The fire time as the wall clock shows it: what a fire is known by, so that each is
/// run once (`2026-10-25T02:30:00`).
pub fn fire_key(at: DateTime<Utc>) -> String {
    at.with_timezone(&Copenhagen)
        .naive_local()
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

/// Loads the schedules of `environment` from `dir`; `jobs` are the job names this
/// build has. Every problem is reported with its file and line.
pub fn load(
    dir: &Path,
    environment: &str,
    jobs: &[String],
) -> Result<Vec<Schedule>, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let mut out: Vec<Schedule> = Vec::new();
    let at = |file: &Path, line: u64, message: String| Diagnostic {
        file: file.display().to_string(),
        line,
        column: 0,
        message,
    };
    for file in crate::route::yaml_files(dir) {
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                diags.push(at(&file, 0, format!("cannot read: {e}")));
                continue;
            }
        };
        let parsed: ScheduleFile = match serde_saphyr::from_str(&text) {
            Ok(p) => p,
            Err(e) => {
                diags.push(crate::route::yaml_diagnostic(&file, &e));
                continue;
            }
        };
        for sc in parsed.schedules {
            let line = sc.id.referenced.line();
            if let Some(envs) = &sc.enabled_in
                && !envs.iter().any(|e| e == environment)
            {
                continue;
            }
            if let Some(other) = out.iter().find(|s| s.id == sc.id.value) {
                diags.push(at(
                    &file,
                    line,
                    format!(
                        "schedule {} is declared twice (also {}:{})",
                        sc.id.value,
                        other.file.display(),
                        other.line
                    ),
                ));
                continue;
            }
            if !jobs.contains(&sc.job.value) {
                diags.push(at(
                    &file,
                    sc.job.referenced.line(),
                    format!(
                        "schedule {}: unknown job {:?} (known: {})",
                        sc.id.value,
                        sc.job.value,
                        jobs.join(", ")
                    ),
                ));
                continue;
            }
            let parsed = match cron::Schedule::from_str(&sc.cron.value) {
                Ok(p) => p,
                Err(e) => {
                    diags.push(at(
                        &file,
                        sc.cron.referenced.line(),
                        format!(
                            "schedule {}: bad cron expression {:?}: {e} (six fields: sec min hour day-of-month month day-of-week)",
                            sc.id.value, sc.cron.value
                        ),
                    ));
                    continue;
                }
            };
            out.push(Schedule {
                id: sc.id.value,
                description: sc.description,
                cron: sc.cron.value,
                job: sc.job.value,
                missed: sc.missed,
                file: file.clone(),
                line,
                parsed,
            });
        }
    }
    if diags.is_empty() {
        Ok(out)
    } else {
        Err(diags)
    }
}

/// How far a run has come, for a terminal or the API.
pub trait Progress: Send + Sync {
    /// How many items the run has.
    fn total(&self, _items: u64) {}
    /// One more item done.
    fn advance(&self, _item: &str) {}
}

/// No one is watching.
pub struct Quiet;

impl Progress for Quiet {}

/// What one run is asked to do: the period it is for (`2026-10`, when the job reports
/// by period; otherwise the job's own choice), and whether it only shows what it would
/// do.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RunRequest {
    pub period: Option<String>,
    pub dry_run: bool,
}

/// Work a schedule runs.
#[async_trait]
pub trait Job: Send + Sync {
    fn name(&self) -> &'static str;
    /// One run; a summary for the log (and the API), or why it failed.
    async fn run(
        &self,
        request: &RunRequest,
        progress: &dyn Progress,
    ) -> Result<serde_json::Value, String>;
}

/// The jobs a build has, by name.
pub type Jobs = HashMap<String, Arc<dyn Job>>;

pub use runner::run;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn write(dir: &Path, text: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("s.yaml"), text).unwrap();
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("kp-sched-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn fire_times_keep_to_copenhagen_across_daylight_saving() {
        let dir = scratch("dst");
        write(
            &dir,
            "schedules:\n  - id: morning\n    cron: \"0 0 6 * * *\"\n    job: j\n",
        );
        let s = load(&dir, "dev", &["j".into()]).unwrap().remove(0);
        // Saturday 24 October 2026 is summer time (UTC+2), Monday 26 October winter (UTC+1).
        let before = Utc.with_ymd_and_hms(2026, 10, 24, 12, 0, 0).unwrap();
        let first = s.next_after(before).unwrap();
        assert_eq!(first, Utc.with_ymd_and_hms(2026, 10, 25, 5, 0, 0).unwrap());
        let second = s.next_after(first).unwrap();
        assert_eq!(second, Utc.with_ymd_and_hms(2026, 10, 26, 5, 0, 0).unwrap());
        let summer = s
            .next_after(Utc.with_ymd_and_hms(2026, 7, 1, 12, 0, 0).unwrap())
            .unwrap();
        assert_eq!(summer, Utc.with_ymd_and_hms(2026, 7, 2, 4, 0, 0).unwrap());
    }

    #[test]
    fn a_time_the_clock_repeats_or_skips_fires_once() {
        let dir = scratch("dst-once");
        write(
            &dir,
            "schedules:\n  - id: night\n    cron: \"0 30 2 * * *\"\n    job: j\n",
        );
        let s = load(&dir, "dev", &["j".into()]).unwrap().remove(0);
        let fires = |from: DateTime<Utc>, n: usize| {
            let mut out = Vec::new();
            let mut t = from;
            for _ in 0..n {
                t = s.next_after(t).unwrap();
                out.push(t);
            }
            out
        };
        // Autumn: 02:30 comes twice on 25 October 2026; it fires at the first.
        let autumn = fires(Utc.with_ymd_and_hms(2026, 10, 24, 12, 0, 0).unwrap(), 3);
        assert_eq!(
            autumn,
            [
                Utc.with_ymd_and_hms(2026, 10, 25, 0, 30, 0).unwrap(),
                Utc.with_ymd_and_hms(2026, 10, 26, 1, 30, 0).unwrap(),
                Utc.with_ymd_and_hms(2026, 10, 27, 1, 30, 0).unwrap(),
            ]
        );
        // From inside the repeated hour, the day's run is behind.
        assert_eq!(
            s.next_after(Utc.with_ymd_and_hms(2026, 10, 25, 1, 15, 0).unwrap()),
            Some(Utc.with_ymd_and_hms(2026, 10, 26, 1, 30, 0).unwrap())
        );
        // Spring: 02:30 does not come on 29 March 2026; it fires as the clock jumps to
        // 03:00.
        let spring = fires(Utc.with_ymd_and_hms(2026, 3, 28, 12, 0, 0).unwrap(), 3);
        assert_eq!(
            spring,
            [
                Utc.with_ymd_and_hms(2026, 3, 29, 1, 0, 0).unwrap(),
                Utc.with_ymd_and_hms(2026, 3, 30, 0, 30, 0).unwrap(),
                Utc.with_ymd_and_hms(2026, 3, 31, 0, 30, 0).unwrap(),
            ]
        );
        assert_eq!(fire_key(spring[0]), "2026-03-29T03:00:00");
        assert_eq!(fire_key(autumn[0]), "2026-10-25T02:30:00");
    }

    #[test]
    fn bad_schedules_are_named_with_file_and_line() {
        let dir = scratch("bad");
        write(
            &dir,
            "schedules:\n  - id: a\n    cron: \"every tuesday\"\n    job: j\n  - id: b\n    cron: \"0 0 6 * * *\"\n    job: nope\n",
        );
        let diags = load(&dir, "dev", &["j".into()]).unwrap_err();
        let text: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
        assert_eq!(diags.len(), 2, "{text:?}");
        assert!(
            text[0].contains("s.yaml:3") && text[0].contains("bad cron expression"),
            "{text:?}"
        );
        assert!(
            text[1].contains("s.yaml:7") && text[1].contains("unknown job \"nope\""),
            "{text:?}"
        );
        write(&dir, "schedules:\n  - id: a\n    crn: x\n");
        assert!(
            load(&dir, "dev", &[]).unwrap_err()[0]
                .message
                .contains("crn")
        );
    }

    #[test]
    fn schedules_of_other_environments_are_left_out() {
        let dir = scratch("env");
        write(
            &dir,
            "schedules:\n  - id: a\n    cron: \"0 0 6 * * *\"\n    job: j\n    enabled_in: [prod]\n",
        );
        assert!(load(&dir, "dev", &["j".into()]).unwrap().is_empty());
        assert_eq!(load(&dir, "prod", &["j".into()]).unwrap().len(), 1);
    }
}
