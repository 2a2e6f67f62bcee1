//! `knudepunkt bench-cpr`: CPR lookups (SF1520 PersonLookup) against the sandbox's CPR,
//! each the case core's whole lookup: the STS token (cached), the signed OIO IDWS call,
//! the sandbox's checks and answer, reading it, and keeping it on the citizen with its
//! audit line. Prints the latency percentiles, the rate and the peak RSS.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use knudepunkt_engine::EngineOptions;
use serde::Serialize;

use super::rss::peak_rss_mb;
use super::stack::{Stack, fresh_sqlite};
use crate::setup::Context;

#[derive(clap::Args)]
pub struct Args {
    /// Lookups in all.
    #[arg(long, default_value_t = 5000)]
    pub lookups: usize,
    /// Lookups at once (caseworkers asking together).
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
}

#[derive(Serialize)]
struct Report {
    lookups: usize,
    concurrency: usize,
    seconds: f64,
    per_second: f64,
    p50_ms: f64,
    p95_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    failed: usize,
    peak_rss_mb: f64,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

pub async fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let db = fresh_sqlite("bench-cpr.db");
    let stack = Stack::start(ctx, &db, EngineOptions::default()).await?;
    let leder = stack
        .core
        .actor("leder1")
        .await?
        .ok_or_else(|| anyhow::anyhow!("no user leder1"))?;
    let leder = Arc::new(leder);
    // Citizens from the sandbox's population: a different one each lookup.
    let numbers: Vec<String> = (0..args.lookups)
        .map(|i| {
            format!(
                "{:02}{:02}{:02}{:04}",
                1 + i % 28,
                1 + (i / 28) % 12,
                40 + i % 60,
                1000 + i % 8000
            )
        })
        .collect();
    // One lookup first: the token is bought and the connection made.
    let warm = knudepunkt_case::Cpr::parse(&numbers[0])?;
    let ctx0 = knudepunkt_case::Ctx {
        actor: &leder,
        purpose: "bench-cpr",
    };
    stack.core.lookup_in_cpr(&ctx0, &warm).await?;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let numbers = Arc::new(numbers);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let (core, leder, next, numbers) = (
            stack.core.clone(),
            leder.clone(),
            next.clone(),
            numbers.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut took = Vec::new();
            let mut failed = 0;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(n) = numbers.get(i) else { break };
                let Ok(cpr) = knudepunkt_case::Cpr::parse(n) else {
                    failed += 1;
                    continue;
                };
                let ctx = knudepunkt_case::Ctx {
                    actor: &leder,
                    purpose: "bench-cpr",
                };
                let t = Instant::now();
                match core.lookup_in_cpr(&ctx, &cpr).await {
                    Ok(_) => took.push(t.elapsed()),
                    Err(_) => failed += 1,
                }
            }
            (took, failed)
        }));
    }
    let mut all = Vec::with_capacity(args.lookups);
    let mut failed = 0;
    for t in tasks {
        let (took, f) = t.await?;
        all.extend(took);
        failed += f;
    }
    let seconds = started.elapsed().as_secs_f64();
    all.sort();
    let report = Report {
        lookups: all.len(),
        concurrency: args.concurrency,
        seconds,
        per_second: all.len() as f64 / seconds,
        p50_ms: percentile(&all, 0.50),
        p95_ms: percentile(&all, 0.95),
        p99_ms: percentile(&all, 0.99),
        max_ms: all.last().map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0),
        failed,
        peak_rss_mb: peak_rss_mb(),
    };
    stack.stop().await;
    super::emit(ctx.json, &report, || {
        println!(
            "CPR lookups (SF1520 PersonLookup through the sandbox, kept on the citizen and audited): {} in {:.1} s at {} at once, {:.0}/s",
            report.lookups, report.seconds, report.concurrency, report.per_second
        );
        println!(
            "  latency p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} failed; peak RSS {:.0} MB",
            report.p50_ms,
            report.p95_ms,
            report.p99_ms,
            report.max_ms,
            report.failed,
            report.peak_rss_mb
        );
    });
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
