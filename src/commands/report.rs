//! `knudepunkt report submissions|show|prepare|approve|occupancy`: statutory report
//! submissions by report, period and state (B3.237), one with its log, a period's extract
//! prepared as a draft, a draft approved by a named user, and the occupancy per
//! institution of the shelters and crisis centres (B3.241).

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use knudepunkt_case::reporting::submissions::SubmissionFilter;
use knudepunkt_case::reporting::{Layout, Period};

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
    /// Extracts a report for a period from the case core, validates it and keeps it as
    /// a draft submission, with its diff against the last accepted period.
    Prepare {
        /// The report, as its folder under mappings/dst/ or mappings/sei2/ (serviceindikatorer-voksne, nab).
        report: String,
        /// The period, YYYY-MM.
        #[arg(long)]
        period: String,
        /// Who prepares it (a user of the case core).
        #[arg(long)]
        by: String,
        /// The rejected submission this one corrects.
        #[arg(long)]
        replaces: Option<String>,
    },
    /// Approves a draft without findings, and sends it.
    Approve {
        id: String,
        /// Who approves it (a user of the case core).
        #[arg(long)]
        by: String,
    },
    /// Occupancy per institution in a period: stays, citizens, nights, average beds
    /// occupied, and stays running at its end.
    Occupancy {
        /// A month (YYYY-MM) or a year (YYYY).
        #[arg(long)]
        period: String,
        /// SEL110 (shelters and hostels) or SEL109 (women's crisis centres).
        #[arg(long, default_value = "SEL110")]
        section: String,
    },
}

/// The case core's user `by`, who prepares or approves.
async fn user(
    core: &knudepunkt_case::CaseCore,
    by: &str,
) -> anyhow::Result<knudepunkt_case::access::Actor> {
    core.actor(by)
        .await?
        .with_context(|| format!("--by {by}: no such user"))
}

fn when(ms: i64) -> String {
    knudepunkt_engine::message::format_ms(ms)
}

pub async fn run(ctx: &Context, cmd: ReportCommand) -> anyhow::Result<ExitCode> {
    let engine = ctx.engine().await?;
    let core = ctx.case_core(&engine).await?;
    match cmd {
        ReportCommand::Occupancy { period, section } => {
            let span = Period::parse(&period)
                .with_context(|| format!("--period {period:?}: a month, YYYY-MM, or a year"))?;
            let found = core.occupancy(&section, span).await?;
            emit(ctx.json, &found, || {
                println!(
                    "{:<40}  {:>5}  {:>8}  {:>9}  {:>6}  {:>8}  {:>6}",
                    "INSTITUTION", "STAYS", "CITIZENS", "ANONYMOUS", "NIGHTS", "AVERAGE", "AT END"
                );
                for o in &found {
                    println!(
                        "{:<40}  {:>5}  {:>8}  {:>9}  {:>6}  {:>8.2}  {:>6}",
                        o.institution,
                        o.stays,
                        o.citizens,
                        o.anonymous,
                        o.nights,
                        o.average_occupied,
                        o.at_end
                    );
                }
            });
        }
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
        ReportCommand::Prepare {
            report,
            period,
            by,
            replaces,
        } => {
            let dir =
                knudepunkt_case::reporting::jobs::layout_dir(&ctx.root.join("mappings"), &report)
                    .with_context(|| {
                    format!("no layout for report {report:?} under mappings/dst or mappings/sei2")
                })?;
            let layout = Layout::load(&dir).map_err(|diags| {
                for d in &diags {
                    eprintln!("{d}");
                }
                anyhow::anyhow!("{} problem(s) in the layout of {report}", diags.len())
            })?;
            let span = Period::month(&period)
                .with_context(|| format!("--period {period:?}: a month, YYYY-MM"))?;
            let actor = user(&core, &by).await?;
            let who = knudepunkt_case::Ctx {
                actor: &actor,
                purpose: "statutory reporting",
            };
            let records = core.extract(&layout, span).await?;
            eprintln!("{report} {period}: {} record(s) extracted", records.len());
            let prepared = core
                .prepare_submission(&who, &layout, &period, records, replaces.as_deref())
                .await?;
            let s = &prepared.submission;
            emit(ctx.json, &prepared, || {
                println!(
                    "submission {} ({} records, {} findings){}",
                    s.id,
                    s.records,
                    s.findings_total,
                    if s.findings_total > 0 {
                        "; correct the data and prepare again"
                    } else {
                        "; approve it with `knudepunkt report approve`"
                    }
                );
                for f in &s.findings {
                    println!("  finding: {f}");
                }
                if let (Some(d), Some(against)) = (&prepared.diff, &prepared.against) {
                    println!(
                        "  against {against}: {} added, {} removed, {} changed, {} unchanged",
                        d.added.len(),
                        d.removed.len(),
                        d.changed.len(),
                        d.unchanged
                    );
                }
            });
        }
        ReportCommand::Approve { id, by } => {
            let actor = user(&core, &by).await?;
            let who = knudepunkt_case::Ctx {
                actor: &actor,
                purpose: "statutory reporting",
            };
            let s = core.approve_submission(&who, &id).await?;
            emit(ctx.json, &s, || {
                println!(
                    "submission {} approved by {by}; {} (message {})",
                    s.id,
                    s.state.as_str(),
                    s.message_id.as_deref().unwrap_or("-")
                )
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
