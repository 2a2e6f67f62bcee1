//! `knudepunkt bench-case`: the case core at Copenhagen's size. Seeds 88,000 cases with
//! five documents each through the store layer's bulk import, prints the seeding time,
//! then the p50/p99 of "get case with documents" and "search cases by CPR" on that data,
//! on SQLite and on PostgreSQL.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use knudepunkt_case::cases::NewCase;
use knudepunkt_case::citizens::NewCitizen;
use knudepunkt_case::import::{ImportCase, ImportDocument};
use knudepunkt_case::{Cpr, Ctx};
use knudepunkt_engine::EngineOptions;
use rand::Rng;
use serde::Serialize;

use super::stack::Stack;
use crate::setup::Context;

#[derive(clap::Args)]
pub struct Args {
    /// Cases to seed (Copenhagen's adult social services hold 88,000).
    #[arg(long, default_value_t = 88_000)]
    pub cases: usize,
    /// Documents per case.
    #[arg(long, default_value_t = 5)]
    pub documents: usize,
    /// Bytes of content per document.
    #[arg(long, default_value_t = 512)]
    pub document_bytes: usize,
    /// Timed reads of each kind.
    #[arg(long, default_value_t = 2000)]
    pub reads: usize,
    /// Cases per import transaction.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    #[command(flatten)]
    pub journals: super::bench_journals::Journals,
}

#[derive(Serialize)]
struct Report {
    backend: String,
    cases: usize,
    documents: usize,
    citizens: usize,
    seed_seconds: f64,
    get_case_p50_ms: f64,
    get_case_p99_ms: f64,
    search_by_cpr_p50_ms: f64,
    search_by_cpr_p99_ms: f64,
}

/// A valid CPR per citizen index: distinct birth dates from 1940 on, serials 1000+.
pub fn cpr_of(i: usize) -> String {
    let born = chrono::NaiveDate::from_ymd_opt(1940, 1, 1).unwrap()
        + chrono::Duration::days((i % 20_000) as i64);
    format!("{}{:04}", born.format("%d%m%y"), 1000 + i / 20_000)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

pub fn progress(label: &str, done: usize, total: usize) {
    use std::io::Write;
    eprint!("\r{label}: {done}/{total}   ");
    let _ = std::io::stderr().flush();
}

/// What to seed: cases with their documents, half as many citizens.
pub struct Seeding {
    pub cases: usize,
    pub documents: usize,
    pub document_bytes: usize,
    /// Cases per import transaction.
    pub batch: usize,
}

/// Seeds the store through the bulk import with a progress line labelled `label`: the
/// cases' ids.
pub async fn seed(
    core: &knudepunkt_case::CaseCore,
    cx: &Ctx<'_>,
    s: &Seeding,
    label: &str,
) -> anyhow::Result<Vec<String>> {
    let citizens = (s.cases / 2).max(1);
    let kle = ["27.36.04", "27.36.12", "27.48.04", "27.57.04", "27.60.12"];
    let mut rng = rand::rng();
    let content: Vec<u8> = (0..s.document_bytes).map(|_| rng.random()).collect();
    for chunk in (0..citizens).collect::<Vec<_>>().chunks(2000) {
        let batch: Vec<NewCitizen> = chunk
            .iter()
            .map(|&i| NewCitizen {
                cpr: cpr_of(i),
                given_name: format!("Borger{i}"),
                family_name: "Testesen".into(),
                address: Some(format!("Testvej {}, 2300 København S", i % 300 + 1)),
            })
            .collect();
        core.import_citizens(cx, &batch).await?;
    }
    let mut case_ids = Vec::with_capacity(s.cases);
    let mut done = 0;
    while done < s.cases {
        let n = s.batch.min(s.cases - done);
        let batch: Vec<ImportCase> = (done..done + n)
            .map(|i| ImportCase {
                case: NewCase {
                    cpr: cpr_of(i % citizens),
                    title: format!("Sag {i}"),
                    kle: kle[i % kle.len()].into(),
                    action_facet: "G01".into(),
                    case_type: "Voksenhandicap".into(),
                    org_unit_id: "bch".into(),
                    caseworker_id: "leder1".into(),
                    confidential: false,
                },
                documents: (0..s.documents)
                    .map(|d| ImportDocument {
                        title: format!("Dokument {d}"),
                        doc_type: "Notat".into(),
                        media_type: "application/pdf".into(),
                        content: content.clone(),
                        journal_date: "2026-01-15".into(),
                        confidential: false,
                    })
                    .collect(),
            })
            .collect();
        case_ids.extend(core.import_cases(cx, &batch).await?);
        done += n;
        progress(label, done, s.cases);
    }
    eprintln!();
    Ok(case_ids)
}

async fn one_backend(
    ctx: &Context,
    args: &Args,
    backend: &str,
    db: &str,
) -> anyhow::Result<Report> {
    let stack = Stack::start(ctx, db, EngineOptions::default()).await?;
    let core = stack.core.clone();
    let actor = core
        .actor("leder1")
        .await?
        .context("the seeded user leder1")?;
    let cx = Ctx {
        actor: &actor,
        purpose: "benchmark",
    };
    let citizens = (args.cases / 2).max(1);
    let mut rng = rand::rng();
    let started = Instant::now();
    let case_ids = seed(
        &core,
        &cx,
        &Seeding {
            cases: args.cases,
            documents: args.documents,
            document_bytes: args.document_bytes,
            batch: args.batch,
        },
        &format!("{backend}: seeding"),
    )
    .await?;
    let seed_seconds = started.elapsed().as_secs_f64();

    let mut get_case: Vec<f64> = Vec::with_capacity(args.reads);
    for k in 0..args.reads {
        let id = &case_ids[rng.random_range(0..case_ids.len())];
        let t = Instant::now();
        let view = core.case(&cx, id).await?;
        get_case.push(t.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(
            view.documents.len() == args.documents,
            "case {id} lost documents"
        );
        if k % 200 == 0 {
            progress(&format!("{backend}: get case"), k, args.reads);
        }
    }
    eprintln!();
    let mut search: Vec<f64> = Vec::with_capacity(args.reads);
    for k in 0..args.reads {
        let cpr = Cpr::parse(&cpr_of(rng.random_range(0..citizens)))?;
        let t = Instant::now();
        let found = core.cases_of_citizen(&cx, &cpr).await?;
        search.push(t.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(!found.is_empty(), "no cases found for a seeded citizen");
        if k % 200 == 0 {
            progress(&format!("{backend}: search by CPR"), k, args.reads);
        }
    }
    eprintln!();
    get_case.sort_by(f64::total_cmp);
    search.sort_by(f64::total_cmp);
    stack.stop().await;
    Ok(Report {
        backend: backend.into(),
        cases: args.cases,
        documents: args.cases * args.documents,
        citizens,
        seed_seconds,
        get_case_p50_ms: percentile(&get_case, 0.5),
        get_case_p99_ms: percentile(&get_case, 0.99),
        search_by_cpr_p50_ms: percentile(&search, 0.5),
        search_by_cpr_p99_ms: percentile(&search, 0.99),
    })
}

pub async fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let reports = args
        .journals
        .each("bench-case.db", async |backend, url| {
            one_backend(ctx, &args, backend, url).await
        })
        .await?;
    for report in &reports {
        if !ctx.json {
            println!(
                "{}: seeded {} cases, {} documents, {} citizens in {:.1} s (target < 180 s)\n  get case with documents: p50 {:.2} ms, p99 {:.2} ms (target p99 < 10 ms)\n  search cases by CPR:     p50 {:.2} ms, p99 {:.2} ms (target p99 < 10 ms)",
                report.backend,
                report.cases,
                report.documents,
                report.citizens,
                report.seed_seconds,
                report.get_case_p50_ms,
                report.get_case_p99_ms,
                report.search_by_cpr_p50_ms,
                report.search_by_cpr_p99_ms
            );
        }
    }
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    Ok(ExitCode::SUCCESS)
}
