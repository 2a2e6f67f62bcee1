//! `knudepunkt index backfill|status`: the case and document index's initial load. The
//! case core journals the store in batches of whole cases, each with its checkpoint;
//! this process's engine delivers them. Stopped at any point, `index backfill` goes on
//! where it stopped and sends nothing twice.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Subcommand;
use knudepunkt_case::CaseCore;
use knudepunkt_case::index::BackfillProgress;
use knudepunkt_engine::Engine;
use knudepunkt_engine::message::MessageState;

use super::emit;
use crate::setup::Context;

#[derive(Subcommand)]
pub enum IndexCommand {
    /// Load every case and document that is not confidential into the case and
    /// document index (STS SF1470), with a progress line; resumes an unfinished run.
    Backfill {
        /// Cases per importer call (each with its documents).
        #[arg(long, default_value_t = 10)]
        batch: usize,
        /// Batches journaled ahead of delivery at most.
        #[arg(long, default_value_t = 64)]
        window: i64,
        /// Start a new run even if one is unfinished (everything is sent again).
        #[arg(long)]
        restart: bool,
    },
    /// Where the backfill stands.
    Status,
}

/// The backfill route's messages: delivered, still open, dead.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Deliveries {
    pub delivered: i64,
    pub open: i64,
    pub dead: i64,
}

async fn deliveries(engine: &Engine, route: &str) -> anyhow::Result<Deliveries> {
    let mut d = Deliveries::default();
    for (state, n) in engine.journal().count_by_state(Some(route)).await? {
        match state {
            MessageState::Delivered => d.delivered += n,
            MessageState::Dead | MessageState::Discarded => d.dead += n,
            _ => d.open += n,
        }
    }
    Ok(d)
}

fn show(p: &BackfillProgress, d: &Deliveries) {
    eprint!(
        "\rindex backfill: {}/{} cases, {} documents journaled in {} batches; delivered {}, open {}, dead {}   ",
        p.cases_done, p.total_cases, p.documents_done, p.batches, d.delivered, d.open, d.dead
    );
    let _ = std::io::stderr().flush();
}

/// Runs (or resumes) the backfill to its end and waits until its batches are delivered
/// or dead: at most `window` batches are journaled ahead of delivery. With `terminal`,
/// a progress line. What it did, and how its route's messages ended.
pub async fn backfill(
    core: &CaseCore,
    engine: &Engine,
    batch: usize,
    window: i64,
    restart: bool,
    terminal: bool,
) -> anyhow::Result<(BackfillProgress, Deliveries)> {
    let route = engine
        .routes()
        .for_event(knudepunkt_case::events::INDEX_BACKFILL)
        .first()
        .map(|r| r.id.clone())
        .context("no route takes index.backfill in this environment (routes/sagdokindeks.yaml)")?;
    let started = core.start_backfill(restart).await?;
    if terminal && started.cases_done > 0 {
        eprintln!(
            "resuming the run of {} after case {} ({} of {} cases journaled)",
            knudepunkt_engine::message::format_ms(started.run),
            started.last_case_id.as_deref().unwrap_or("-"),
            started.cases_done,
            started.total_cases
        );
    }
    let mut last_shown = std::time::Instant::now();
    // Delivery is looked at every few batches, not before each.
    let check_every = (window / 4).max(1);
    let mut steps = 0i64;
    let mut d = deliveries(engine, &route).await?;
    let progress = loop {
        if steps % check_every == 0 {
            d = deliveries(engine, &route).await?;
            if d.open >= window.max(1) {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        }
        steps += 1;
        let step = core.backfill_step(batch).await?;
        if terminal && last_shown.elapsed() > Duration::from_millis(200) {
            show(&step.progress, &d);
            last_shown = std::time::Instant::now();
        }
        if step.cases == 0 {
            break step.progress;
        }
    };
    loop {
        let d = deliveries(engine, &route).await?;
        if terminal {
            show(&progress, &d);
        }
        if d.open == 0 {
            if terminal {
                eprintln!();
            }
            return Ok((progress, d));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn run(ctx: &Context, cmd: IndexCommand) -> anyhow::Result<ExitCode> {
    let engine = ctx.engine().await?;
    let core = ctx.case_core(&engine).await?;
    match cmd {
        IndexCommand::Status => {
            let p = core.backfill_progress().await?;
            emit(ctx.json, &p, || match &p {
                None => println!("no backfill has been started"),
                Some(p) => println!(
                    "run of {}: {}/{} cases and {} documents journaled in {} batches; {}",
                    knudepunkt_engine::message::format_ms(p.run),
                    p.cases_done,
                    p.total_cases,
                    p.documents_done,
                    p.batches,
                    match p.finished_at {
                        Some(t) => format!("finished {}", knudepunkt_engine::message::format_ms(t)),
                        None => "unfinished: `knudepunkt index backfill` goes on".into(),
                    }
                ),
            });
            Ok(ExitCode::SUCCESS)
        }
        IndexCommand::Backfill {
            batch,
            window,
            restart,
        } => {
            let workers = engine.start();
            let result = backfill(&core, &engine, batch, window, restart, !ctx.json).await;
            engine.shutdown(workers).await;
            let (progress, d) = result?;
            emit(
                ctx.json,
                &serde_json::json!({"progress": progress, "deliveries": d}),
                || {
                    println!(
                        "index backfill finished: {} cases and {} documents in {} batches",
                        progress.cases_done, progress.documents_done, progress.batches
                    )
                },
            );
            if d.dead > 0 {
                eprintln!(
                    "{} batch(es) are dead: see `knudepunkt dlq list`, and replay them when the index is back",
                    d.dead
                );
                return Ok(ExitCode::FAILURE);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
