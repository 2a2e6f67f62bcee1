//! The scheduler: each schedule waits for its next fire time, claims it in the journal
//! (so that of several engine instances only one runs it), and runs its job while a
//! heartbeat keeps the claim alive; a schedule whose job is still running somewhere is
//! not started again. A schedule with `missed: catch_up` runs once at start for the
//! latest fire time that passed while no instance ran. Runs by hand go through
//! [`run_now`] and are recorded the same way.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use super::history::Claim;
use super::{Job, Jobs, MissedRun, Progress, Quiet, RunRequest, Schedule, fire_key};
use crate::journal::Journal;

/// How often a running job renews its claim, and how old a claim may grow before another
/// instance takes the job as stopped.
const HEARTBEAT: Duration = Duration::from_secs(20);
const LEASE: Duration = Duration::from_secs(120);

/// This process among the engine instances: host, process id and a random part.
pub fn instance_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into());
    format!(
        "{host}/{}/{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// How a fire went.
#[derive(Debug, PartialEq, Eq)]
pub enum Fired {
    /// It ran here; the run's id and whether the job succeeded.
    Ran { run: i64, ok: bool },
    /// Another instance has this fire time.
    Taken,
    /// A run of the schedule is still going on.
    Busy,
}

/// Runs the schedules on `journal` until `shutdown` turns true.
pub async fn run(
    journal: Journal,
    schedules: Vec<Schedule>,
    jobs: Jobs,
    shutdown: watch::Receiver<bool>,
) {
    let instance = instance_name();
    let mut tasks = Vec::new();
    for s in schedules {
        let Some(job) = jobs.get(&s.job).cloned() else {
            tracing::error!(schedule = %s.id, job = %s.job, "no such job; the schedule does not run");
            continue;
        };
        let mut shutdown = shutdown.clone();
        let journal = journal.clone();
        let instance = instance.clone();
        tasks.push(tokio::spawn(async move {
            if s.missed == MissedRun::CatchUp {
                catch_up(&journal, &instance, &s, job.as_ref()).await;
            }
            loop {
                let now = Utc::now();
                let Some(next) = s.next_after(now) else {
                    tracing::info!(schedule = %s.id, "the schedule fires no more");
                    return;
                };
                let wait = (next - now).to_std().unwrap_or_default();
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {
                        fire(&journal, &instance, &s, job.as_ref(), next).await;
                    }
                    _ = shutdown.changed() => return,
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// The latest fire time in (`after`, `now`], if any passed.
pub fn missed_fire(
    s: &Schedule,
    after: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let mut last = None;
    let mut t = after;
    // A minutely schedule down for a week is some 10,000 steps.
    for _ in 0..200_000 {
        match s.next_after(t) {
            Some(next) if next <= now => {
                last = Some(next);
                t = next;
            }
            _ => break,
        }
    }
    last
}

/// Runs once for the latest fire time missed since the last one claimed, if any.
pub async fn catch_up(
    journal: &Journal,
    instance: &str,
    s: &Schedule,
    job: &dyn Job,
) -> Option<Fired> {
    let last = match journal.last_schedule_fire(&s.id).await {
        Ok(Some(ms)) => DateTime::<Utc>::from_timestamp_millis(ms)?,
        // Never ran: nothing was missed.
        Ok(None) => return None,
        Err(e) => {
            tracing::warn!(schedule = %s.id, error = %e, "could not read the schedule's history; no catch-up");
            return None;
        }
    };
    let missed = missed_fire(s, last, Utc::now())?;
    tracing::info!(schedule = %s.id, fire = %fire_key(missed), "a run was missed while no instance ran; catching up once");
    Some(fire(journal, instance, s, job, missed).await)
}

/// One fire time: claimed, then run here, unless another instance has it or a run of
/// the schedule is still going on.
pub async fn fire(
    journal: &Journal,
    instance: &str,
    s: &Schedule,
    job: &dyn Job,
    at: DateTime<Utc>,
) -> Fired {
    match journal
        .schedule_running(&s.id, LEASE.as_millis() as i64)
        .await
    {
        Ok(true) => {
            tracing::warn!(schedule = %s.id, fire = %fire_key(at), "the schedule's last run is still going on; this fire is skipped");
            return Fired::Busy;
        }
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(schedule = %s.id, error = %e, "the journal did not answer; this fire is skipped");
            return Fired::Busy;
        }
    }
    let key = fire_key(at);
    let claim = Claim {
        schedule_id: &s.id,
        job: &s.job,
        fire_key: &key,
        fire_at: Some(at.timestamp_millis()),
        period: None,
        dry_run: false,
        instance,
    };
    match journal.claim_schedule_run(&claim).await {
        Ok(Some(run)) => {
            let ok = execute(journal, s, job, run, &RunRequest::default(), &Quiet)
                .await
                .is_ok();
            Fired::Ran { run, ok }
        }
        Ok(None) => {
            tracing::debug!(schedule = %s.id, fire = %key, "another instance has this fire");
            Fired::Taken
        }
        Err(e) => {
            tracing::warn!(schedule = %s.id, error = %e, "the fire could not be claimed; skipped");
            Fired::Busy
        }
    }
}

/// A run by hand (`knudepunkt schedule run`), recorded like any run: its id and the job's
/// summary, or why it failed. Refused while a run of the schedule is going on.
pub async fn run_now(
    journal: &Journal,
    s: &Schedule,
    job: &dyn Job,
    request: &RunRequest,
    progress: &dyn Progress,
) -> Result<(i64, serde_json::Value), String> {
    if journal
        .schedule_running(&s.id, LEASE.as_millis() as i64)
        .await
        .map_err(|e| e.to_string())?
    {
        return Err(format!(
            "a run of {} is going on; try again when it has finished (knudepunkt schedule history {})",
            s.id, s.id
        ));
    }
    let key = format!("manual-{}", uuid::Uuid::now_v7());
    let instance = instance_name();
    let claim = Claim {
        schedule_id: &s.id,
        job: &s.job,
        fire_key: &key,
        fire_at: None,
        period: request.period.as_deref(),
        dry_run: request.dry_run,
        instance: &instance,
    };
    let run = journal
        .claim_schedule_run(&claim)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the run could not be recorded")?;
    execute(journal, s, job, run, request, progress)
        .await
        .map(|summary| (run, summary))
}

/// Runs the job with a heartbeat on its claim, and records the outcome.
async fn execute(
    journal: &Journal,
    s: &Schedule,
    job: &dyn Job,
    run: i64,
    request: &RunRequest,
    progress: &dyn Progress,
) -> Result<serde_json::Value, String> {
    let started = std::time::Instant::now();
    let beat = {
        let journal = journal.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(HEARTBEAT).await;
                if let Err(e) = journal.schedule_heartbeat(run).await {
                    tracing::warn!(run, error = %e, "the schedule run's heartbeat failed");
                }
            }
        })
    };
    let result = job.run(request, progress).await;
    beat.abort();
    let ms = started.elapsed().as_millis() as u64;
    let (ok, detail) = match &result {
        Ok(summary) => {
            tracing::info!(schedule = %s.id, job = %s.job, run, ms, summary = %summary, "scheduled job ran");
            (true, summary.to_string())
        }
        Err(e) => {
            tracing::warn!(schedule = %s.id, job = %s.job, run, ms, error = %e, "scheduled job failed");
            (false, e.clone())
        }
    };
    if let Err(e) = journal.finish_schedule_run(run, ok, &detail).await {
        tracing::warn!(run, error = %e, "the schedule run's outcome could not be recorded");
    }
    result
}
