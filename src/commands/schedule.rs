//! `knudepunkt schedule list|run|history`

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context as _, bail};
use clap::Subcommand;
use knudepunkt_engine::schedule::Progress;

use super::emit;
use crate::setup::Context;

#[derive(Subcommand)]
pub enum ScheduleCommand {
    /// The schedules of the selected environment and when each fires next.
    List,
    /// Runs a schedule's job now, showing its progress; the run is recorded in the
    /// history like a scheduled one.
    Run {
        /// The schedule's id, e.g. digitalpost.afhentning.
        id: String,
        /// The period to run for, as YYYY-MM (jobs that report by period).
        #[arg(long)]
        period: Option<String>,
        /// Show what the run would do, and do nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// The runs of one schedule, or of all, newest first: when, how long, how it went.
    History {
        /// A schedule's id; all schedules without one.
        id: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
}

/// A period as YYYY-MM, checked.
fn period(text: &str) -> anyhow::Result<String> {
    chrono::NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d")
        .map(|_| text.to_string())
        .map_err(|_| anyhow::anyhow!("--period {text:?}: a period is a month, YYYY-MM (2026-10)"))
}

/// Progress on the terminal: "digitalpost.afhentning: 3/5".
struct Terminal {
    job: String,
    total: AtomicU64,
    done: AtomicU64,
}

impl Progress for Terminal {
    fn total(&self, items: u64) {
        self.total.store(items, Ordering::Relaxed);
        eprint!("{}: 0/{items}", self.job);
    }

    fn advance(&self, _item: &str) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        eprint!(
            "\r{}: {done}/{}",
            self.job,
            self.total.load(Ordering::Relaxed)
        );
        let _ = std::io::stderr().flush();
    }
}

pub async fn run(ctx: &Context, cmd: ScheduleCommand) -> anyhow::Result<ExitCode> {
    let schedules = crate::jobs::schedules_checked(ctx)?;
    match cmd {
        ScheduleCommand::List => {
            let now = chrono::Utc::now();
            let rows: Vec<serde_json::Value> = schedules
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "id": s.id,
                        "cron": s.cron,
                        "job": s.job,
                        "missed": s.missed,
                        "next": s.next_after(now).map(|t| t.with_timezone(&chrono_tz::Europe::Copenhagen).to_rfc3339()),
                        "description": s.description,
                    })
                })
                .collect();
            emit(ctx.json, &rows, || {
                println!(
                    "{:<28}  {:<16}  {:<27}  JOB",
                    "SCHEDULE", "CRON", "NEXT (Copenhagen)"
                );
                for r in &rows {
                    println!(
                        "{:<28}  {:<16}  {:<27}  {}",
                        r["id"].as_str().unwrap_or(""),
                        r["cron"].as_str().unwrap_or(""),
                        r["next"].as_str().unwrap_or("never"),
                        r["job"].as_str().unwrap_or("")
                    );
                }
            });
        }
        ScheduleCommand::Run {
            id,
            period: asked,
            dry_run,
        } => {
            let request = knudepunkt_engine::schedule::RunRequest {
                period: asked.as_deref().map(period).transpose()?,
                dry_run,
            };
            let Some(s) = schedules.iter().find(|s| s.id == id) else {
                bail!(
                    "no schedule {id} in the {} environment (see `knudepunkt schedule list`)",
                    ctx.environment
                );
            };
            let engine = ctx.engine().await?;
            let core = ctx.case_core(&engine).await?;
            let (jobs, missing) = crate::jobs::build(&engine, &core);
            let Some(job) = jobs.get(&s.job) else {
                let why = missing
                    .iter()
                    .find(|(j, _)| *j == s.job)
                    .map(|(_, w)| w.as_str())
                    .unwrap_or("not built");
                bail!("job {} cannot run: {why}", s.job);
            };
            let workers = engine.start();
            let progress = Terminal {
                job: s.job.clone(),
                total: AtomicU64::new(0),
                done: AtomicU64::new(0),
            };
            let result = knudepunkt_engine::schedule::runner::run_now(
                engine.journal(),
                s,
                job.as_ref(),
                &request,
                &progress,
            )
            .await;
            eprintln!();
            // What the job journaled is delivered (or waits for its next attempt) before
            // the command ends.
            engine.flush().await;
            let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while std::time::Instant::now() < until && busy(&engine).await? {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            engine.shutdown(workers).await;
            engine.journal().close().await;
            let (run, summary) = result
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("schedule {id}"))?;
            emit(
                ctx.json,
                &serde_json::json!({"run": run, "summary": summary}),
                || println!("run {run}: {summary}"),
            );
        }
        ScheduleCommand::History { id, limit } => {
            let engine = ctx.engine().await?;
            let runs = engine
                .journal()
                .schedule_runs(id.as_deref(), limit.max(1))
                .await?;
            engine.journal().close().await;
            emit(ctx.json, &runs, || {
                println!(
                    "{:>5}  {:<28}  {:<25}  {:>8}  {:<9}  DETAIL",
                    "RUN", "SCHEDULE", "STARTED (Copenhagen)", "MS", "OUTCOME"
                );
                for r in &runs {
                    let started = chrono::DateTime::from_timestamp_millis(r.started_at)
                        .map(|t| {
                            t.with_timezone(&chrono_tz::Europe::Copenhagen)
                                .format("%Y-%m-%d %H:%M:%S")
                                .to_string()
                        })
                        .unwrap_or_default();
                    let how = match (&r.fire_at, r.dry_run) {
                        (None, true) => " (by hand, dry run)",
                        (None, false) => " (by hand)",
                        _ => "",
                    };
                    let detail: String = r
                        .detail
                        .as_deref()
                        .unwrap_or("")
                        .chars()
                        .take(100)
                        .collect();
                    println!(
                        "{:>5}  {:<28}  {:<25}  {:>8}  {:<9}  {detail}{how}",
                        r.id,
                        r.schedule_id,
                        started,
                        r.duration_ms
                            .map(|d| d.to_string())
                            .unwrap_or_else(|| "-".into()),
                        r.outcome,
                    );
                }
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether messages are waiting for their first attempt or in flight.
async fn busy(engine: &knudepunkt_engine::Engine) -> anyhow::Result<bool> {
    use knudepunkt_engine::MessageState;
    Ok(engine
        .journal()
        .count_by_state(None)
        .await?
        .iter()
        .any(|(s, n)| *n > 0 && matches!(s, MessageState::Pending | MessageState::InFlight)))
}
