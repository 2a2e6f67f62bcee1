//! `knudepunkt schedule list|run`

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
    /// Runs a schedule's job now, showing its progress.
    Run {
        /// The schedule's id, e.g. digitalpost.afhentning.
        id: String,
    },
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
        ScheduleCommand::Run { id } => {
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
            let result = job.run(&progress).await;
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
            let summary = result
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("schedule {id}"))?;
            emit(ctx.json, &summary, || println!("{summary}"));
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
