//! `knudepunkt kle sync|check`: KLE brought in step with STS Klassifikation now (with a
//! progress line), and the KLE numbers in use that KLE does not know, that have expired,
//! or that expire within `--days`.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;

use super::emit;
use crate::setup::Context;

#[derive(Subcommand)]
pub enum KleCommand {
    /// Reads KLE from STS Klassifikation and brings the case core in step.
    Sync,
    /// The KLE numbers in use (open cases, services, job roles) that need attention.
    Check {
        /// Report numbers that expire within this many days too.
        #[arg(long, default_value_t = 90)]
        days: i64,
    },
}

pub async fn run(ctx: &Context, cmd: KleCommand) -> anyhow::Result<ExitCode> {
    let engine = ctx.engine().await?;
    let core = ctx.case_core(&engine).await?;
    match cmd {
        KleCommand::Sync => {
            let client =
                knudepunkt_adapters::klassifikation::KlassifikationClient::for_environment(
                    &engine.routes().environment,
                )
                .map_err(anyhow::Error::msg)?;
            let started = std::time::Instant::now();
            let report = crate::kle_source::sync(&core, &client, &|read, total| {
                eprint!("\rKLE from Klassifikation: {read}/{total} classes   ");
                let _ = std::io::stderr().flush();
            })
            .await
            .map_err(anyhow::Error::msg)
            .context("KLE sync")?;
            eprintln!();
            emit(ctx.json, &report, || {
                println!(
                    "{} classes in {:.1} s: {} added, {} changed, {} unchanged, {} ended",
                    report.total,
                    started.elapsed().as_secs_f64(),
                    report.added,
                    report.changed,
                    report.unchanged,
                    report.ended
                );
            });
            Ok(ExitCode::SUCCESS)
        }
        KleCommand::Check { days } => {
            let today = chrono::Utc::now().date_naive();
            let soon = today + chrono::Duration::days(days);
            let found = core
                .kle_check(&today.to_string(), &soon.to_string())
                .await?;
            emit(ctx.json, &found, || {
                if found.is_empty() {
                    println!("every KLE number in use is known and valid for {days} more days");
                }
                for f in &found {
                    println!(
                        "{:<9} {:<9} used by {} {}(s){}{}",
                        f.number,
                        f.problem,
                        f.uses,
                        f.used_by,
                        f.valid_to
                            .as_deref()
                            .map(|t| format!(", valid to {t}"))
                            .unwrap_or_default(),
                        f.replaced_by
                            .as_deref()
                            .map(|r| format!(", replaced by {r}"))
                            .unwrap_or_default()
                    );
                }
            });
            Ok(if found.iter().any(|f| f.problem != "expiring") {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}
