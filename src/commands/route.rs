//! `knudepunkt route list|validate|test`

use std::process::ExitCode;

use clap::Subcommand;
use knudepunkt_engine::route::examples::{self, Verdict};
use knudepunkt_engine::schema_dir;

use knudepunkt_adapters::serviceplatformen::profile::{self, CertificateReport, CertificateStatus};

use super::emit;
use crate::setup::Context;

/// In the sandbox profile a missing certificate has one cure.
fn sandbox_hint(ctx: &Context, c: &CertificateReport) -> &'static str {
    if ctx.environment == "dev" && c.status == CertificateStatus::Unreadable {
        " (run `knudepunkt sandbox certs` to make the sandbox's)"
    } else {
        ""
    }
}

#[derive(Subcommand)]
pub enum RouteCommand {
    /// The routes of the selected environment.
    List,
    /// Check every route file, template, XSD and endpoint; exits non-zero on problems.
    Validate,
    /// Render every example under mappings/ and compare it to its expected output.
    Test {
        /// Write what an example renders to its expected output file when that file does
        /// not exist yet (read it before you commit it).
        #[arg(long)]
        write_missing: bool,
    },
}

pub async fn run(ctx: &Context, cmd: RouteCommand) -> anyhow::Result<ExitCode> {
    let loaded = ctx.load_routes();
    let routes = match loaded {
        Ok(r) => r,
        Err(diags) => {
            emit(
                ctx.json,
                &serde_json::json!({"valid": false, "problems": diags}),
                || {
                    for d in &diags {
                        println!("{d}");
                    }
                    println!("{} problem(s) found", diags.len());
                },
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    match cmd {
        RouteCommand::List => {
            let list: Vec<_> = routes.routes().map(|r| r.as_ref()).collect();
            emit(ctx.json, &list, || {
                println!(
                    "{:<24}  {:<40}  {:<8}  {:<20}  TEMPLATE",
                    "ROUTE", "SOURCE", "ADAPTER", "ENDPOINT"
                );
                for r in &list {
                    let source = match &r.source {
                        knudepunkt_engine::route::SourceConfig::Event { name, matches } => {
                            let wanted: Vec<String> =
                                matches.iter().map(|(k, v)| format!("{k}={v}")).collect();
                            if wanted.is_empty() {
                                format!("event {name}")
                            } else {
                                format!("event {name} [{}]", wanted.join(", "))
                            }
                        }
                        knudepunkt_engine::route::SourceConfig::Http(h) => {
                            format!("http {} ({:?})", h.path, h.mode).to_lowercase()
                        }
                        knudepunkt_engine::route::SourceConfig::Amqp(a) => {
                            format!("amqp {} at {}", a.queue, a.endpoint)
                        }
                    };
                    println!(
                        "{:<24}  {:<40}  {:<8}  {:<20}  {}",
                        r.id, source, r.adapter, r.endpoint_name, r.template
                    );
                }
            });
        }
        RouteCommand::Validate => {
            let schemas = schema_dir::describe(&routes.schema_dir);
            let certificates = routes
                .environment
                .serviceplatformen
                .as_ref()
                .map(profile::check)
                .unwrap_or_default();
            let file = routes.environment.file.display().to_string();
            let (schedules, schedule_problems) = match crate::jobs::schedules(ctx) {
                Ok(s) => (s.len(), Vec::new()),
                Err(diags) => (0, diags.iter().map(|d| d.to_string()).collect()),
            };
            let problems: Vec<String> = certificates
                .iter()
                .filter(|c| {
                    matches!(
                        c.status,
                        CertificateStatus::Expired | CertificateStatus::Unreadable
                    )
                })
                .map(|c| format!("{file}:{}: {}{}", c.line, c.detail, sandbox_hint(ctx, c)))
                .chain(schedule_problems)
                .collect();
            let warnings: Vec<String> = certificates
                .iter()
                .filter(|c| c.status == CertificateStatus::ExpiresSoon)
                .map(|c| format!("{file}:{}: {}", c.line, c.detail))
                .collect();
            emit(
                ctx.json,
                &serde_json::json!({"valid": problems.is_empty(), "routes": routes.routes().count(), "schedules": schedules, "environment": routes.environment.name, "schemas": schemas, "warnings": routes.warnings, "certificates": certificates, "problems": problems}),
                || {
                    for w in &routes.warnings {
                        println!("warning: {w}");
                    }
                    for w in &warnings {
                        println!("warning: {w}");
                    }
                    for p in &problems {
                        println!("{p}");
                    }
                    for c in certificates
                        .iter()
                        .filter(|c| c.status == CertificateStatus::Valid)
                    {
                        println!(
                            "{} ({}): {}",
                            c.what,
                            c.subject.as_deref().unwrap_or(""),
                            c.detail
                        );
                    }
                    if problems.is_empty() {
                        println!(
                            "{} route(s) and {schedules} schedule(s) valid for the {} environment; {schemas}",
                            routes.routes().count(),
                            routes.environment.name
                        );
                    } else {
                        println!("{} problem(s) found", problems.len());
                    }
                },
            );
            if !problems.is_empty() {
                return Ok(ExitCode::FAILURE);
            }
        }
        RouteCommand::Test { write_missing } => {
            let report = examples::run_with(&routes, &ctx.root.join("mappings"), write_missing);
            emit(ctx.json, &report, || {
                for r in &report.results {
                    let mark = match r.verdict {
                        Verdict::Passed => "ok  ",
                        _ => "FAIL",
                    };
                    println!("{mark} {} {}", r.file, r.message.as_deref().unwrap_or(""));
                }
                println!("{} passed, {} failed", report.passed(), report.failed());
            });
            if report.failed() > 0 {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
