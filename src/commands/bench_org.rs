//! `knudepunkt bench-org`: the full organisation sync of Copenhagen's size (about
//! 100,000 rows: units, employees, engagements) from the sandbox's KK-ORG2 through KKI
//! into the case core, then the same again (nothing changes). Prints the time of each
//! and the peak RSS; the targets are under 20 s and 200 MB.

use std::process::ExitCode;
use std::time::Instant;

use knudepunkt_adapters::kkorg::KkOrgClient;
use knudepunkt_engine::EngineOptions;
use serde::Serialize;

use super::rss::peak_rss_mb;
use super::stack::{Stack, fresh_sqlite};
use crate::setup::Context;

#[derive(clap::Args)]
pub struct Args {
    /// Employees a team in the generated organisation (18: about 100,000 rows).
    #[arg(long, default_value_t = 18)]
    pub staff: usize,
}

#[derive(Serialize)]
struct Report {
    rows: usize,
    units: usize,
    users: usize,
    full_seconds: f64,
    again_seconds: f64,
    unchanged_again: bool,
    peak_rss_mb: f64,
}

pub async fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let db = fresh_sqlite("bench-org.db");
    let stack = Stack::start(ctx, &db, EngineOptions::default()).await?;
    stack.sandbox.kkorg.set_staff(args.staff);
    let rows = stack.sandbox.kkorg.rows();
    let client = KkOrgClient::for_environment(&stack.engine.routes().environment)
        .map_err(anyhow::Error::msg)?;
    let today = chrono::Utc::now().date_naive().to_string();
    let started = Instant::now();
    let first = crate::org_source::full(&stack.core, &client, &today, &|n| {
        use std::io::Write as _;
        eprint!("\rKK-ORG2: {n} units and employees read   ");
        let _ = std::io::stderr().flush();
    })
    .await
    .map_err(anyhow::Error::msg)?;
    eprintln!();
    let full_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let again = crate::org_source::full(&stack.core, &client, &today, &|_| {})
        .await
        .map_err(anyhow::Error::msg)?;
    let report = Report {
        rows,
        units: first.units,
        users: first.users,
        full_seconds,
        again_seconds: started.elapsed().as_secs_f64(),
        unchanged_again: again.added_units
            + again.changed_units
            + again.added_users
            + again.changed_users
            == 0,
        peak_rss_mb: peak_rss_mb(),
    };
    stack.stop().await;
    super::emit(ctx.json, &report, || {
        println!(
            "organisation from KK-ORG2 through KKI into the case core: {} rows ({} units, {} employees) in {:.1} s (target 20 s); again in {:.1} s, unchanged: {}; peak RSS {:.0} MB (target 200 MB)",
            report.rows,
            report.units,
            report.users,
            report.full_seconds,
            report.again_seconds,
            report.unchanged_again,
            report.peak_rss_mb
        );
    });
    Ok(if report.unchanged_again {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
