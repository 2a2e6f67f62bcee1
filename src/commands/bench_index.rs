//! `knudepunkt bench-index`: the case and document index's initial load at Copenhagen's
//! size. Seeds the store (88,000 cases with five documents each) with the index's live
//! routes off, as before the index was connected, then runs the backfill into the index
//! simulator, which runs in a sandbox process of its own so that this process's memory
//! is Knudepunkt's. Halfway it starts the run again, as after a crash, and checks that
//! it goes on where it stopped. Prints the elapsed time, calls per second and peak RSS.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use knudepunkt_case::Ctx;
use knudepunkt_engine::EngineOptions;
use serde::Serialize;

use super::bench_case::{Seeding, seed};
use super::rss::{peak_rss_mb, reset_peak};
use super::sandbox_process::sandbox_process;
use super::stack::{Stack, Tweaks};
use crate::setup::Context;

#[derive(clap::Args)]
pub struct Args {
    /// Cases to seed and load.
    #[arg(long, default_value_t = 88_000)]
    pub cases: usize,
    /// Documents per case.
    #[arg(long, default_value_t = 5)]
    pub documents: usize,
    /// Cases per importer call.
    #[arg(long, default_value_t = 10)]
    pub batch: usize,
    /// Deliveries in flight at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    #[command(flatten)]
    pub journals: super::bench_journals::Journals,
}

#[derive(Serialize)]
struct Report {
    backend: String,
    cases: usize,
    documents: usize,
    seed_seconds: f64,
    backfill_seconds: f64,
    calls: i64,
    calls_per_second: f64,
    objects_per_second: f64,
    /// The peak resident set during the backfill (engine and case core; the index
    /// simulator runs in its own process).
    peak_rss_mb: f64,
    resumed_after_cases: i64,
}

async fn index_counts(url: &str) -> anyhow::Result<(u64, u64)> {
    let v: serde_json::Value = knudepunkt_adapters::http::client()
        .get(format!("{url}/sagdokumentindeks/_sandbox/counts"))
        .send()
        .await?
        .json()
        .await?;
    Ok((
        v["cases"].as_u64().unwrap_or(0),
        v["documents"].as_u64().unwrap_or(0),
    ))
}

async fn one_backend(
    ctx: &Context,
    args: &Args,
    backend: &str,
    db: &str,
) -> anyhow::Result<Report> {
    let index = sandbox_process(&[]).await?;
    let options = EngineOptions {
        concurrency: args.concurrency,
        ..EngineOptions::default()
    };
    let stack = Stack::start_with(
        ctx,
        db,
        options,
        Tweaks {
            profile: vec![(
                "${KNUDEPUNKT_SANDBOX_URL:-http://127.0.0.1:8790}/sagdokumentindeks/6".into(),
                format!("{}/sagdokumentindeks/6", index.url),
            )],
            without_routes: vec!["sagdokindeks.sag", "sagdokindeks.dokument"],
            ..Tweaks::default()
        },
    )
    .await?;
    let actor = stack
        .core
        .actor("leder1")
        .await?
        .context("the seeded user leder1")?;
    let cx = Ctx {
        actor: &actor,
        purpose: "benchmark",
    };
    let started = Instant::now();
    seed(
        &stack.core,
        &cx,
        &Seeding {
            cases: args.cases,
            documents: args.documents,
            document_bytes: 512,
            batch: 500,
        },
        &format!("{backend}: seeding"),
    )
    .await?;
    let seed_seconds = started.elapsed().as_secs_f64();

    reset_peak();
    let started = Instant::now();
    // Half the store, then a new start as after a crash: the run goes on.
    let half = (args.cases / args.batch.max(1) / 2).max(1);
    stack.core.start_backfill(true).await?;
    for _ in 0..half {
        if stack.core.backfill_step(args.batch).await?.cases == 0 {
            break;
        }
    }
    let resumed = stack.core.start_backfill(false).await?;
    let (progress, deliveries) =
        super::index::backfill(&stack.core, &stack.engine, args.batch, 64, false, true).await?;
    let backfill_seconds = started.elapsed().as_secs_f64();
    let peak = peak_rss_mb();
    anyhow::ensure!(
        progress.run == resumed.run,
        "the backfill started a new run instead of going on"
    );
    anyhow::ensure!(deliveries.dead == 0, "{} batches are dead", deliveries.dead);
    let (cases, documents) = index_counts(&index.url).await?;
    anyhow::ensure!(
        cases == args.cases as u64 && documents == (args.cases * args.documents) as u64,
        "the index holds {cases} cases and {documents} documents, not {} and {}",
        args.cases,
        args.cases * args.documents
    );
    stack.stop().await;
    Ok(Report {
        backend: backend.into(),
        cases: args.cases,
        documents: args.cases * args.documents,
        seed_seconds,
        backfill_seconds,
        calls: progress.batches,
        calls_per_second: progress.batches as f64 / backfill_seconds,
        objects_per_second: (cases + documents) as f64 / backfill_seconds,
        peak_rss_mb: peak,
        resumed_after_cases: resumed.cases_done,
    })
}

pub async fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let reports = args
        .journals
        .each("bench-index.db", async |backend, db| {
            one_backend(ctx, &args, backend, db).await
        })
        .await?;
    for r in &reports {
        println!(
            "{}: backfilled {} cases and {} documents in {:.1} s: {} calls, {:.0} calls/s, {:.0} objects/s; peak RSS {:.0} MB (resumed after {} cases; seeding took {:.1} s)",
            r.backend,
            r.cases,
            r.documents,
            r.backfill_seconds,
            r.calls,
            r.calls_per_second,
            r.objects_per_second,
            r.peak_rss_mb,
            r.resumed_after_cases,
            r.seed_seconds
        );
    }
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    Ok(ExitCode::SUCCESS)
}
