//! `knudepunkt bench-reports`: the statutory reports at the seed's yearly volume. Seeds
//! 20,000 citizens with 3,000,000 registrations (grants of services under the
//! Serviceindikatorer's sections, and stays at § 110 shelters) through the bulk import,
//! then extracts and validates the year's Serviceindikatorer – Voksne and § 110 reports,
//! streaming each record from the store through the validator into the report's file
//! (written to nowhere), and prints the elapsed time, records, findings and peak RSS of
//! that phase. Targets: under 30 s, RSS under 300 MB.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use knudepunkt_case::Ctx;
use knudepunkt_case::catalogue::{NewCatalogue, NewService};
use knudepunkt_case::import::ImportGrant;
use knudepunkt_case::reporting::{Layout, Period, Validator, file};
use knudepunkt_case::residential::NewResidentialStay;
use knudepunkt_engine::EngineOptions;
use serde::Serialize;

use super::bench_case::{cpr_of, progress};
use super::stack::{Stack, Tweaks};
use crate::setup::Context;

#[derive(clap::Args)]
pub struct Args {
    /// Citizens (the seed's yearly volume: 20,000).
    #[arg(long, default_value_t = 20_000)]
    pub citizens: usize,
    /// Registrations in all (the seed's: 3,000,000); a tenth are § 110 stays.
    #[arg(long, default_value_t = 3_000_000)]
    pub registrations: usize,
    #[command(flatten)]
    pub journals: super::bench_journals::Journals,
}

#[derive(Serialize)]
struct ReportFigures {
    report: String,
    records: u64,
    findings: u64,
    file_bytes: u64,
}

#[derive(Serialize)]
struct Figures {
    backend: String,
    citizens: usize,
    registrations: usize,
    seed_seconds: f64,
    extract_validate_seconds: f64,
    records_per_second: f64,
    peak_rss_mb: f64,
    reports: Vec<ReportFigures>,
}

const SECTIONS: [&str; 12] = [
    "SEL § 85",
    "SEL § 95",
    "SEL § 96",
    "SEL § 97",
    "SEL § 98",
    "SEL § 99",
    "SEL § 102",
    "SEL § 103",
    "SEL § 104",
    "SEL § 107",
    "SEL § 108",
    "ABL § 105",
];
const HOUSING: [&str; 5] = ["EGEN", "FAMILIE", "HJEMLOES", "INSTITUTION", "UKENDT"];

fn day(offset: usize) -> String {
    (chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("a date")
        + chrono::Duration::days(offset as i64))
    .format("%Y-%m-%d")
    .to_string()
}

async fn seed(core: &knudepunkt_case::CaseCore, args: &Args, backend: &str) -> anyhow::Result<()> {
    let leder = core
        .actor("leder1")
        .await?
        .context("the seeded user leder1")?;
    let editor = core
        .actor("redaktoer")
        .await?
        .context("the seeded user redaktoer")?;
    let cx = Ctx {
        actor: &leder,
        purpose: "benchmark",
    };
    let ed = Ctx {
        actor: &editor,
        purpose: "benchmark",
    };
    let catalogue = core
        .create_catalogue(
            &ed,
            &NewCatalogue {
                name: format!("Bench {}", uuid::Uuid::now_v7()),
            },
        )
        .await?;
    let mut services = Vec::new();
    for (i, basis) in SECTIONS.iter().enumerate() {
        let new: NewService = serde_json::from_value(serde_json::json!({
            "code": format!("Y{i}"), "name": basis, "kle": "27.36.12", "legal_basis": basis,
            "price_ore": 0, "unit": "time",
        }))?;
        services.push(core.add_service(&ed, &catalogue.id, &new).await?.id);
    }
    // The case core's bulk seeding: the citizens, two cases each (case i and case
    // i + n are citizen i's), no documents.
    let n = args.citizens.max(1);
    let case_ids = super::bench_case::seed(
        core,
        &cx,
        &super::bench_case::Seeding {
            cases: 2 * n,
            documents: 0,
            document_bytes: 0,
            batch: 500,
        },
        &format!("{backend}: cases"),
    )
    .await?;
    let stays = args.registrations / 10;
    let grants = args.registrations - stays;
    let per_case = grants.div_ceil(case_ids.len());
    let mut done = 0;
    let mut batch = Vec::with_capacity(5000);
    'grants: for (c, case) in case_ids.iter().enumerate() {
        for k in 0..per_case {
            if done == grants {
                break 'grants;
            }
            // Each section's grants one after the other, two days each, the citizen's
            // second case half a year on: no key twice.
            let start = (k / SECTIONS.len()) * 2 + (c / n) * 180;
            batch.push(ImportGrant {
                case_id: case.clone(),
                service_id: services[k % SECTIONS.len()].clone(),
                from: day(start),
                to: Some(day(start + 1)),
                quantity: Some(1 + (k % 10) as i64),
                provider: "Bench".into(),
                provider_type: Some(["kommunal", "regional", "privat"][(c + k) % 3].into()),
            });
            done += 1;
            if batch.len() == 5000 {
                core.import_grants(&cx, &batch).await?;
                batch.clear();
                progress(&format!("{backend}: grants"), done, grants);
            }
        }
    }
    core.import_grants(&cx, &batch).await?;
    progress(&format!("{backend}: grants"), done, grants);
    eprintln!();
    let per_citizen = stays.div_ceil(n);
    let mut done = 0;
    let mut batch = Vec::with_capacity(5000);
    'stays: for i in 0..n {
        for k in 0..per_citizen {
            if done == stays {
                break 'stays;
            }
            let arrival = k * (360 / per_citizen.max(1)).max(1);
            batch.push(NewResidentialStay {
                section: "SEL110".into(),
                institution: format!("Herberg {}", i % 40),
                cpr: Some(cpr_of(i)),
                arrival: day(arrival),
                departure: Some(day(arrival)),
                housing_before: Some(HOUSING[(i + k) % HOUSING.len()].into()),
                housing_after: Some(HOUSING[(i + k + 1) % HOUSING.len()].into()),
                children: None,
                offer: None,
            });
            done += 1;
            if batch.len() == 5000 {
                core.import_residential_stays(&cx, &batch).await?;
                batch.clear();
                progress(&format!("{backend}: stays"), done, stays);
            }
        }
    }
    core.import_residential_stays(&cx, &batch).await?;
    progress(&format!("{backend}: stays"), done, stays);
    eprintln!();
    Ok(())
}

async fn one_backend(
    ctx: &Context,
    args: &Args,
    backend: &str,
    db: &str,
) -> anyhow::Result<Figures> {
    // Only the case core is measured: the routes the seeding's events would feed (the
    // indexes, Beskedfordeler) are left out, so that no deliveries share the machine.
    let stack = Stack::start_with(
        ctx,
        db,
        EngineOptions::default(),
        Tweaks {
            without_routes: vec![
                "sagdokindeks.sag",
                "sagdokindeks.dokument",
                "ydelsesindeks.ydelse",
                "beskedfordeler.haendelse",
            ],
            ..Tweaks::default()
        },
    )
    .await?;
    let core = stack.core.clone();
    let started = Instant::now();
    seed(&core, args, backend).await?;
    let seed_seconds = started.elapsed().as_secs_f64();
    let year = Period::parse("2026").expect("a year");
    let dir = ctx.root.join("mappings/dst");
    super::rss::reset_peak();
    let started = Instant::now();
    let mut reports = Vec::new();
    for report in ["serviceindikatorer-voksne", "boformer-110"] {
        let layout =
            Layout::load(&dir.join(report)).map_err(|d| anyhow::anyhow!("{report}: {}", d[0]))?;
        let mut validator = Validator::new(&layout, year);
        let (mut findings, mut bytes) = (0u64, file::header(&layout).len() as u64 + 1);
        let label = format!("{backend}: {report}");
        let mut seen = 0u64;
        let records = core
            .extract_each(&layout, year, &mut |r| {
                findings += validator.check(&r).len() as u64;
                bytes += file::line(&layout, &r).len() as u64 + 1;
                seen += 1;
                if seen.is_multiple_of(100_000) {
                    eprint!("\r{label}: {seen} records   ");
                }
            })
            .await?;
        eprintln!();
        reports.push(ReportFigures {
            report: report.into(),
            records,
            findings,
            file_bytes: bytes,
        });
    }
    let elapsed = started.elapsed().as_secs_f64();
    let peak = super::rss::peak_rss_mb();
    let total: u64 = reports.iter().map(|r| r.records).sum();
    stack.stop().await;
    Ok(Figures {
        backend: backend.into(),
        citizens: args.citizens,
        registrations: args.registrations,
        seed_seconds,
        extract_validate_seconds: elapsed,
        records_per_second: total as f64 / elapsed.max(1e-9),
        peak_rss_mb: peak,
        reports,
    })
}

pub async fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let figures = args
        .journals
        .each("bench-reports.db", async |backend, db| {
            one_backend(ctx, &args, backend, db).await
        })
        .await?;
    super::emit(ctx.json, &figures, || {
        for f in &figures {
            println!(
                "{}: {} citizens, {} registrations seeded in {:.1} s; extract + validate of the year's reports: {:.1} s ({:.0} records/s), peak RSS {:.0} MB (targets 30 s, 300 MB)",
                f.backend,
                f.citizens,
                f.registrations,
                f.seed_seconds,
                f.extract_validate_seconds,
                f.records_per_second,
                f.peak_rss_mb
            );
            for r in &f.reports {
                println!(
                    "  {}: {} records, {} findings, a file of {:.1} MB",
                    r.report,
                    r.records,
                    r.findings,
                    r.file_bytes as f64 / 1e6
                );
            }
        }
    });
    Ok(ExitCode::SUCCESS)
}
