//! `knudepunkt bench-dubu`: the handover at 18 at Copenhagen's yearly volume — 2,200
//! young people's packages of five documents of 1 MB each. Every package is fetched from
//! the sandbox's DUBU as a stream, checked part by part against its manifest while it is
//! spooled to disk, and imported as an adult case (the citizen, the documents read back
//! one at a time, the plan, the services) in one transaction; DUBU's receipts go out
//! through the engine meanwhile. Prints the elapsed time, the rate and the peak RSS of
//! the import. Targets: under 2 minutes, RSS below 250 MB. The records system's route
//! (`edoc.sag`) is left out: it journals every file once more for eDoc, and is measured
//! on its own.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use knudepunkt_case::Ctx;
use knudepunkt_case::document_files::{DocumentFiles, DocumentStore};
use knudepunkt_case::handover::{HandoverOutcome, HandoverSource, HandoverTarget};
use knudepunkt_engine::EngineOptions;
use serde::Serialize;
use sqlx::Row;

use super::rss::{peak_rss_mb, reset_peak};
use super::stack::{Stack, TempDir, Tweaks};
use crate::setup::Context;

#[derive(clap::Args)]
pub struct Args {
    /// Handover packages (Copenhagen's yearly volume: about 2,200).
    #[arg(long, default_value_t = 2200)]
    pub packages: usize,
    /// The size of each of a package's five documents, in KB.
    #[arg(long, default_value_t = 1024)]
    pub document_kb: u64,
    /// Packages imported at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Run the sandbox's DUBU in a process of its own (as the real one is), so that the
    /// peak RSS is Knudepunkt's alone.
    #[arg(long)]
    pub sandbox_process: bool,
    /// Where the documents' contents are kept: `files` (document files in a directory
    /// of their own beside the journal, as KNUDEPUNKT_DOCUMENT_FILES sets up) or
    /// `database` (the `documents` table).
    #[arg(long, value_enum, default_value_t = Contents::Files)]
    pub contents: Contents,
    #[command(flatten)]
    pub journals: super::bench_journals::Journals,
}

#[derive(Clone, Copy, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Contents {
    Files,
    Database,
}

#[derive(Serialize)]
struct Report {
    backend: String,
    contents: Contents,
    packages: usize,
    documents: i64,
    megabytes: f64,
    seconds: f64,
    packages_per_second: f64,
    megabytes_per_second: f64,
    refused: usize,
    peak_rss_mb: f64,
    sandbox: &'static str,
}

pub async fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let reports = args
        .journals
        .each("bench-dubu.db", async |backend, db| {
            one(ctx, &args, backend, db).await
        })
        .await?;
    let mut ok = true;
    for r in &reports {
        ok &= r.refused == 0 && r.documents == 5 * r.packages as i64;
        super::emit(ctx.json, r, || {
            println!(
                "DUBU handover ({}, contents in {}): {} packages, {} documents, {:.0} MB imported in {:.1} s (target 120 s): {:.1} packages/s, {:.0} MB/s; refused {}; peak RSS {:.0} MB (target 250 MB; the sandbox {})",
                r.backend,
                match r.contents {
                    Contents::Files => "document files",
                    Contents::Database => "the database",
                },
                r.packages,
                r.documents,
                r.megabytes,
                r.seconds,
                r.packages_per_second,
                r.megabytes_per_second,
                r.refused,
                r.peak_rss_mb,
                r.sandbox
            );
        });
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn one(ctx: &Context, args: &Args, backend: &str, db: &str) -> anyhow::Result<Report> {
    let doc_bytes = args.document_kb * 1024;
    let external = if args.sandbox_process {
        Some(
            super::sandbox_process::sandbox_process(&[
                ("KNUDEPUNKT_SANDBOX_DUBU_COHORT", args.packages.to_string()),
                (
                    "KNUDEPUNKT_SANDBOX_DUBU_DOCUMENT_BYTES",
                    doc_bytes.to_string(),
                ),
            ])
            .await?,
        )
    } else {
        None
    };
    let files_dir = TempDir(
        std::env::temp_dir().join(format!("knudepunkt-bench-files-{}", uuid::Uuid::now_v7())),
    );
    let documents = match args.contents {
        Contents::Files => DocumentStore::Files(Arc::new(DocumentFiles::open(&files_dir.0)?)),
        Contents::Database => DocumentStore::Database,
    };
    let mut tweaks = Tweaks {
        profile: Vec::new(),
        without_routes: vec!["edoc.sag"],
        documents,
    };
    if let Some(p) = &external {
        tweaks.profile.push((
            "${KNUDEPUNKT_SANDBOX_URL:-http://127.0.0.1:8790}/kki/dubu/v1\"".into(),
            format!("{}/kki/dubu/v1\"", p.url),
        ));
    }
    let stack = Stack::start_with(ctx, db, EngineOptions::default(), tweaks).await?;
    // DUBU makes its packages before they are fetched; not part of the import's time.
    match &external {
        Some(p) => {
            knudepunkt_adapters::http::client()
                .post(format!("{}/kki/dubu/_sandbox/prepare", p.url))
                .send()
                .await?
                .error_for_status()?;
        }
        None => {
            stack.sandbox.dubu.set_cohort(args.packages, doc_bytes);
            let dubu = stack.sandbox.dubu.clone();
            tokio::task::spawn_blocking(move || dubu.prepare_packages()).await?;
        }
    }
    let client =
        knudepunkt_adapters::dubu::DubuClient::for_environment(&stack.engine.routes().environment)
            .map_err(anyhow::Error::msg)?;
    let children = crate::dubu_source::DubuSource(client)
        .upcoming(chrono::Utc::now().date_naive() + chrono::Duration::days(400))
        .await
        .map_err(anyhow::Error::msg)?;
    stack.core.raise_preparation_tasks(&children).await?;
    let leder = Arc::new(
        stack
            .core
            .actor("leder1")
            .await?
            .ok_or_else(|| anyhow::anyhow!("no user leder1"))?,
    );
    let target = HandoverTarget {
        org_unit_id: "bch".into(),
        caseworker_id: "leder1".into(),
        kle: "27.36.12".into(),
        action_facet: "G01".into(),
        case_type: "Voksenhandicap".into(),
    };
    reset_peak();
    let started = Instant::now();
    let total = children.len();
    let mut done = 0usize;
    let mut refused = 0usize;
    let mut results = futures::stream::iter(children.iter().map(|c| {
        let core = stack.core.clone();
        let leder = leder.clone();
        let target = target.clone();
        let id = c.handover_id.clone();
        async move {
            let ctx = Ctx {
                actor: &leder,
                purpose: "bench: the handover at 18",
            };
            core.take_handover(&ctx, &id, &target).await
        }
    }))
    .buffer_unordered(args.concurrency.max(1));
    while let Some(r) = results.next().await {
        match r {
            Ok(HandoverOutcome::Imported { .. } | HandoverOutcome::AlreadyImported { .. }) => {}
            Err(e) => {
                refused += 1;
                eprintln!("\n{e}");
            }
        }
        done += 1;
        if done.is_multiple_of(20) || done == total {
            use std::io::Write as _;
            eprint!(
                "\r{backend}: {done}/{total} packages imported ({:.0} s)   ",
                started.elapsed().as_secs_f64()
            );
            let _ = std::io::stderr().flush();
        }
    }
    drop(results);
    eprintln!();
    let seconds = started.elapsed().as_secs_f64();
    let peak = peak_rss_mb();
    let documents: i64 = {
        let mut conn = stack.engine.journal().pool().acquire().await?;
        sqlx::query("SELECT COUNT(*) AS n FROM documents")
            .fetch_one(&mut *conn)
            .await?
            .try_get("n")?
    };
    let megabytes = (documents as u64 * doc_bytes) as f64 / 1_048_576.0;
    stack.stop().await;
    drop(external);
    drop(files_dir);
    Ok(Report {
        backend: backend.into(),
        contents: args.contents,
        packages: total,
        documents,
        megabytes,
        seconds,
        packages_per_second: total as f64 / seconds,
        megabytes_per_second: megabytes / seconds,
        refused,
        peak_rss_mb: peak,
        sandbox: if args.sandbox_process {
            "in a process of its own"
        } else {
            "in this process"
        },
    })
}
