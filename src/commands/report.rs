//! `knudepunkt report submissions|show`: statutory report submissions by report, period
//! and state, and one submission with its log (B3.237).

use std::process::ExitCode;

use clap::Subcommand;
use knudepunkt_case::reporting::submissions::SubmissionFilter;

use super::emit;
use crate::setup::Context;

#[derive(Subcommand)]
pub enum ReportCommand {
    /// Submissions, newest first.
    Submissions {
        /// A report, e.g. serviceindikatorer-voksne.
        #[arg(long)]
        report: Option<String>,
        /// A period, YYYY-MM.
        #[arg(long)]
        period: Option<String>,
        /// draft, approved, underway, delivered, received, accepted or rejected.
        #[arg(long)]
        state: Option<String>,
    },
    /// One submission, its findings and its log.
    Show { id: String },
}

fn when(ms: i64) -> String {
    knudepunkt_engine::message::format_ms(ms)
}

pub async fn run(ctx: &Context, cmd: ReportCommand) -> anyhow::Result<ExitCode> {
    let engine = ctx.engine().await?;
    let core = ctx.case_core(&engine).await?;
    match cmd {
        ReportCommand::Submissions {
            report,
            period,
            state,
        } => {
            let found = core
                .submissions(&SubmissionFilter {
                    report,
                    period,
                    state,
                })
                .await?;
            emit(ctx.json, &found, || {
                println!(
                    "{:<36}  {:<26}  {:<7}  {:<9}  {:>7}  {:>8}  CREATED",
                    "SUBMISSION", "REPORT", "PERIOD", "STATE", "RECORDS", "FINDINGS"
                );
                for s in &found {
                    println!(
                        "{:<36}  {:<26}  {:<7}  {:<9}  {:>7}  {:>8}  {} by {}{}",
                        s.id,
                        s.report,
                        s.period,
                        s.state.as_str(),
                        s.records,
                        s.findings_total,
                        when(s.created_at),
                        s.created_by,
                        s.replaces
                            .as_deref()
                            .map(|r| format!(", replaces {r}"))
                            .unwrap_or_default()
                    );
                }
            });
        }
        ReportCommand::Show { id } => {
            let (s, log) = core.submission(&id).await?;
            let both = serde_json::json!({ "submission": s, "log": log });
            emit(ctx.json, &both, || {
                println!(
                    "{} {} for {}: {} ({} records, {} findings, SHA-256 {})",
                    s.id,
                    s.report,
                    s.period,
                    s.state.as_str(),
                    s.records,
                    s.findings_total,
                    s.sha256
                );
                if let Some(r) = &s.reason {
                    println!("rejected: {r}");
                }
                for f in &s.findings {
                    println!("  finding: {f}");
                }
                for e in &log {
                    println!(
                        "  {}  {:<9}  {}{}",
                        when(e.at),
                        e.state.as_str(),
                        e.by_user,
                        e.detail
                            .as_deref()
                            .map(|d| format!(": {d}"))
                            .unwrap_or_default()
                    );
                }
            });
        }
    }
    engine.journal().close().await;
    Ok(ExitCode::SUCCESS)
}
