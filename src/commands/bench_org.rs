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
    /// kk-org2, sts-organisation or both (each into a core of its own).
    #[arg(long, default_value = "both")]
    pub source: String,
    /// Run the sandbox's registers in a process of their own (as the real ones are), so
    /// that the peak RSS is Knudepunkt's alone.
    #[arg(long)]
    pub sandbox_process: bool,
}

#[derive(Serialize)]
struct Report {
    source: String,
    rows: usize,
    units: usize,
    users: usize,
    full_seconds: f64,
    again_seconds: f64,
    unchanged_again: bool,
    peak_rss_mb: f64,
}

pub async fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let sources: Vec<&str> = match args.source.as_str() {
        "both" => vec!["kk-org2", "sts-organisation"],
        "kk-org2" => vec!["kk-org2"],
        "sts-organisation" => vec!["sts-organisation"],
        other => anyhow::bail!("--source {other:?}: kk-org2, sts-organisation or both"),
    };
    let mut ok = true;
    let mut reports = Vec::new();
    for source in sources {
        let report = one(ctx, &args, source).await?;
        ok &= report.unchanged_again;
        super::emit(ctx.json, &report, || {
            println!(
                "organisation from {} into the case core: {} ({} units, {} employees) in {:.1} s (target 20 s); again in {:.1} s, unchanged: {}; peak RSS {:.0} MB (target 200 MB)",
                report.source,
                if report.rows > 0 {
                    format!("{} rows, the register in this process", report.rows)
                } else {
                    "the register in a process of its own".to_string()
                },
                report.units,
                report.users,
                report.full_seconds,
                report.again_seconds,
                report.unchanged_again,
                report.peak_rss_mb
            );
        });
        reports.push(report);
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// One source into a fresh core; the peak RSS measured from after the set-up.
async fn one(ctx: &Context, args: &Args, source: &str) -> anyhow::Result<Report> {
    let db = fresh_sqlite(&format!("bench-org-{source}.db"));
    let external = if args.sandbox_process {
        Some(
            super::sandbox_process::sandbox_process(&[(
                "KNUDEPUNKT_SANDBOX_ORG_STAFF",
                args.staff.to_string(),
            )])
            .await?,
        )
    } else {
        None
    };
    let tweaks = match &external {
        Some(p) => super::stack::Tweaks {
            profile: ["kki/org2/v1", "organisation"]
                .iter()
                .map(|path| {
                    (
                        format!("${{KNUDEPUNKT_SANDBOX_URL:-http://127.0.0.1:8790}}/{path}\""),
                        format!("{}/{path}\"", p.url),
                    )
                })
                .collect(),
            ..Default::default()
        },
        None => super::stack::Tweaks::default(),
    };
    let stack = Stack::start_with(ctx, &db, EngineOptions::default(), tweaks).await?;
    stack.sandbox.kkorg.set_staff(args.staff);
    // The rows the register holds (counted here only when it is in this process).
    let rows = if external.is_some() {
        0
    } else {
        stack.sandbox.kkorg.rows()
    };
    super::rss::reset_peak();
    let env = &stack.engine.routes().environment;
    let today = chrono::Utc::now().date_naive().to_string();
    let tick = |n: usize| {
        use std::io::Write as _;
        eprint!("\r{source}: {n} read   ");
        let _ = std::io::stderr().flush();
    };
    let run = |quiet: bool| {
        let stack = &stack;
        let today = today.clone();
        let tick = &tick;
        async move {
            let progress: &(dyn Fn(usize) + Sync) = if quiet { &|_| {} } else { tick };
            if source == "kk-org2" {
                let client = KkOrgClient::for_environment(env).map_err(anyhow::Error::msg)?;
                crate::org_source::full(&stack.core, &client, &today, progress)
                    .await
                    .map_err(anyhow::Error::msg)
            } else {
                let client =
                    knudepunkt_adapters::sts_organisation::StsOrganisationClient::for_environment(
                        env,
                    )
                    .map_err(anyhow::Error::msg)?;
                crate::org_source::full_from_sts(&stack.core, &client, &today, progress)
                    .await
                    .map_err(anyhow::Error::msg)
            }
        }
    };
    let started = Instant::now();
    let first = run(false).await?;
    eprintln!();
    let full_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let again = run(true).await?;
    let report = Report {
        source: source.into(),
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
    drop(external);
    Ok(report)
}
