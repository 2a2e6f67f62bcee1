//! `knudepunkt bench-kle`: the whole KLE classification read from the sandbox's STS
//! Klassifikation (soeg and list over OIO IDWS, every call signed) and brought into the
//! case core, first into an empty core and then again unchanged. Prints the time of
//! each and the peak RSS; the target is under 3 s for the load.

use std::process::ExitCode;
use std::time::Instant;

use knudepunkt_adapters::klassifikation::KlassifikationClient;
use knudepunkt_engine::EngineOptions;
use serde::Serialize;

use super::rss::peak_rss_mb;
use super::stack::{Stack, fresh_sqlite};
use crate::setup::Context;

#[derive(clap::Args)]
pub struct Args {}

#[derive(Serialize)]
struct Report {
    classes: usize,
    load_seconds: f64,
    added: usize,
    again_seconds: f64,
    unchanged: usize,
    peak_rss_mb: f64,
}

pub async fn run(ctx: &Context, _args: Args) -> anyhow::Result<ExitCode> {
    let db = fresh_sqlite("bench-kle.db");
    let stack = Stack::start(ctx, &db, EngineOptions::default()).await?;
    let client = KlassifikationClient::for_environment(&stack.engine.routes().environment)
        .map_err(anyhow::Error::msg)?;
    let started = Instant::now();
    let first = crate::kle_source::sync(&stack.core, &client, &|_, _| {})
        .await
        .map_err(anyhow::Error::msg)?;
    let load_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let again = crate::kle_source::sync(&stack.core, &client, &|_, _| {})
        .await
        .map_err(anyhow::Error::msg)?;
    let report = Report {
        classes: first.total,
        load_seconds,
        added: first.added + first.changed,
        again_seconds: started.elapsed().as_secs_f64(),
        unchanged: again.unchanged,
        peak_rss_mb: peak_rss_mb(),
    };
    stack.stop().await;
    super::emit(ctx.json, &report, || {
        println!(
            "KLE from STS Klassifikation (soeg + list through the sandbox, into the case core): {} classes loaded in {:.2} s (target 3 s); again, {} unchanged, in {:.2} s; peak RSS {:.0} MB",
            report.classes,
            report.load_seconds,
            report.unchanged,
            report.again_seconds,
            report.peak_rss_mb
        );
    });
    Ok(if report.classes > 0 && report.added == report.classes {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
