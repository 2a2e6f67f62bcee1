//! Schedules (`schedules/*.yaml`): cron expressions in Europe/Copenhagen time that run a
//! named job (the Digital Post system-fetch, later reports and syncs). A job produces
//! messages into routes like any other source, so it gets redelivery and dead letters
//! from the engine. This is the scheduler's first part: parsing with file and line,
//! next fire times across daylight-saving changes, and a runner; a lease for several
//! instances and a run history come with the reporting jobs.
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
use chrono::{DateTime, Utc};
use chrono_tz::Europe::Copenhagen;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;
use tokio::sync::watch;

use crate::route::Diagnostic;

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
        self.parsed
            .after(&t.with_timezone(&Copenhagen))
            .next()
            .map(|d| d.with_timezone(&Utc))
    }
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

/// Work a schedule runs.
#[async_trait]
pub trait Job: Send + Sync {
    fn name(&self) -> &'static str;
    /// One run; a summary for the log (and the API), or why it failed.
    async fn run(&self, progress: &dyn Progress) -> Result<serde_json::Value, String>;
}

/// The jobs a build has, by name.
pub type Jobs = HashMap<String, Arc<dyn Job>>;

/// Runs every schedule until `shutdown` turns true. A job still running when its next
/// fire time comes is not started twice.
pub async fn run(schedules: Vec<Schedule>, jobs: Jobs, shutdown: watch::Receiver<bool>) {
    let mut tasks = Vec::new();
    for s in schedules {
        let Some(job) = jobs.get(&s.job).cloned() else {
            tracing::error!(schedule = %s.id, job = %s.job, "no such job; the schedule does not run");
            continue;
        };
        let mut shutdown = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            if s.missed == MissedRun::CatchUp {
                run_once(&s, job.as_ref()).await;
            }
            loop {
                let now = Utc::now();
                let Some(next) = s.next_after(now) else {
                    tracing::info!(schedule = %s.id, "the schedule fires no more");
                    return;
                };
                let wait = (next - now).to_std().unwrap_or_default();
                tokio::select! {
                    _ = tokio::time::sleep(wait) => run_once(&s, job.as_ref()).await,
                    _ = shutdown.changed() => return,
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

async fn run_once(s: &Schedule, job: &dyn Job) {
    let started = std::time::Instant::now();
    match job.run(&Quiet).await {
        Ok(summary) => {
            tracing::info!(schedule = %s.id, job = %s.job, ms = started.elapsed().as_millis() as u64, summary = %summary, "scheduled job ran")
        }
        Err(e) => {
            tracing::warn!(schedule = %s.id, job = %s.job, ms = started.elapsed().as_millis() as u64, error = %e, "scheduled job failed")
        }
    }
}

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
