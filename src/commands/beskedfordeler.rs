//! `knudepunkt beskedfordeler abonnementer`: makes Beskedfordeler's subscriptions for
//! Knudepunkt's dueslag agree with what the routes declare, and says what it added,
//! removed and kept.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use knudepunkt_adapters::beskedfordeler::{self as bf, subscriptions};

use super::emit;
use crate::setup::Context;

#[derive(Subcommand)]
pub enum BeskedfordelerCommand {
    /// Reconcile the subscriptions with the routes' `match.beskedtype` declarations.
    Abonnementer {
        /// Say what would change, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn run(ctx: &Context, cmd: BeskedfordelerCommand) -> anyhow::Result<ExitCode> {
    let routes = match ctx.load_routes() {
        Ok(r) => r,
        Err(diags) => {
            for d in &diags {
                eprintln!("{d}");
            }
            bail!("{} problem(s) in the route configuration", diags.len());
        }
    };
    let BeskedfordelerCommand::Abonnementer { dry_run } = cmd;
    let env = &routes.environment;
    let (_, dueslag) = bf::dueslag_of(env).with_context(|| {
        format!(
            "the {} profile names no {} endpoint with a queue (the dueslag)",
            env.name,
            bf::ENDPOINT
        )
    })?;
    let service = env.endpoint(bf::SUBSCRIPTION_ENDPOINT).with_context(|| {
        format!(
            "the {} profile has no {} endpoint",
            env.name,
            bf::SUBSCRIPTION_ENDPOINT
        )
    })?;
    let wanted = subscriptions::desired(&routes, &dueslag);
    let done = subscriptions::reconcile(
        &knudepunkt_adapters::http::client(),
        &service.url,
        &dueslag,
        &wanted,
        dry_run,
    )
    .await
    .map_err(anyhow::Error::msg)?;
    emit(ctx.json, &done, || {
        let verb = if dry_run { "would add" } else { "added" };
        for a in &done.added {
            println!("{verb:<11} {}  {}", a.beskedtype, a.beskrivelse);
        }
        let verb = if dry_run { "would remove" } else { "removed" };
        for a in &done.removed {
            println!("{verb:<11} {}  {}", a.beskedtype, a.beskrivelse);
        }
        for a in &done.kept {
            println!("{:<11} {}  {}", "kept", a.beskedtype, a.beskrivelse);
        }
        println!(
            "dueslag {dueslag}: {} added, {} removed, {} kept{}",
            done.added.len(),
            done.removed.len(),
            done.kept.len(),
            if dry_run { " (dry run)" } else { "" }
        );
    });
    Ok(ExitCode::SUCCESS)
}
