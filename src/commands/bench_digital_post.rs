//! `knudepunkt bench-digital-post`: letters with a 200 KB PDF main document, end to end
//! through the sandbox (MeMo rendered and validated, journaled, sent to KombiPostAfsend
//! with an access token, accepted, the status pushed back, delivered), and the process's
//! RSS as the letters go, to show it stays flat. With `--sandbox-process` Serviceplatformen
//! (its STS and KombiPostAfsend) runs in a process of its own, as the real one is, so that
//! the RSS is Knudepunkt's alone; the sandbox's own peak is shown beside it.

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use knudepunkt_engine::EngineOptions;
use knudepunkt_engine::message::MessageState;
use rand::Rng;
use serde::Serialize;

use knudepunkt_adapters::sandbox::Stats;

use super::rss::rss_mb;
use super::sandbox_process::{SandboxProcess, free_port, sandbox_process};
use super::stack::{Stack, Tweaks, fresh_sqlite};
use crate::setup::Context;

#[derive(clap::Args)]
pub struct Args {
    /// Letters to send.
    #[arg(long, default_value_t = 10_000)]
    pub letters: usize,
    /// Size of each letter's PDF.
    #[arg(long, default_value_t = 200 * 1024)]
    pub pdf_bytes: usize,
    /// Callers submitting letters at once, as caseworkers' requests do. One caller alone
    /// waits for each batch's payload files to reach the disk before its transaction.
    #[arg(long, default_value_t = 3)]
    pub producers: usize,
    /// Letters a producer renders and journals together. Few: each letter is alive in
    /// two copies (event and rendering) until its payload file is written.
    #[arg(long, default_value_t = 4)]
    pub letters_a_transaction: usize,
    /// Deliveries in flight at once (the engine's default if not given).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Letters claimed per round trip to the journal (the engine's default if not given).
    #[arg(long)]
    pub claim_batch: Option<i64>,
    /// Payload bytes claimed per round trip (the engine's default if not given).
    #[arg(long)]
    pub claim_bytes: Option<i64>,
    /// Run the sandbox's Serviceplatformen in a process of its own (as the real one is),
    /// so that the RSS is Knudepunkt's alone.
    #[arg(long)]
    pub sandbox_process: bool,
}

/// The letter-requested event of letter `i`, as the case core raises it.
fn letter(i: usize, pdf: &str) -> serde_json::Value {
    serde_json::json!({
        "case_id": format!("bench-case-{i}"), "title": "Afgørelse om støtte", "kle": "27.36.12",
        "action_facet": "G01", "letter_id": format!("bench-letter-{i}"),
        "decision": {"outcome": "grant", "legal_basis": "SEL § 85", "decided_on": "2026-11-20", "reasoning": "Bench.", "appeal_weeks": 4},
        "recipient": {"cpr": "0101901234", "given_name": "Anna", "family_name": "Jensen"},
        "pdf": pdf,
    })
}

/// Letters submitted so far, by every producer.
static SUBMITTED: AtomicUsize = AtomicUsize::new(0);

#[derive(Serialize)]
struct Report {
    letters: usize,
    pdf_bytes: usize,
    seconds: f64,
    letters_per_second: f64,
    /// Before the first letter (engine, case core, templates and schemas loaded).
    rss_mb_before: f64,
    rss_mb_at_quarters: Vec<f64>,
    peak_rss_mb: f64,
    /// The sandbox process's peak, when it runs apart.
    sandbox_peak_rss_mb: Option<f64>,
    /// The share of the run SQLite's one write connection was held (every write takes
    /// it in turn), and how many turns it was taken: where the rate is bounded when
    /// cores are left idle.
    writer_held_percent: Option<f64>,
    writer_turns: Option<u64>,
}

/// Where KombiPostAfsend runs: in this process (its recorder at hand) or apart.
enum Serviceplatformen {
    InProcess(std::sync::Arc<knudepunkt_adapters::sandbox::Recorder>),
    Apart(SandboxProcess),
}

impl Serviceplatformen {
    /// What the simulator has counted.
    async fn stats(&self) -> anyhow::Result<Stats> {
        match self {
            Serviceplatformen::InProcess(recorder) => Ok(recorder.stats()),
            Serviceplatformen::Apart(p) => Ok(knudepunkt_adapters::http::client()
                .get(format!("{}/digitalpost/_sandbox/stats", p.url))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?),
        }
    }
}

/// The dev profile's base URL of the sandbox.
const SANDBOX_URL: &str = "${KNUDEPUNKT_SANDBOX_URL:-http://127.0.0.1:8790}";

pub async fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let db = fresh_sqlite("bench-digital-post.db");
    let mut options = EngineOptions::default();
    if let Some(c) = args.concurrency {
        options.concurrency = c;
    }
    if let Some(b) = args.claim_batch {
        options.claim_batch = b;
    }
    if let Some(b) = args.claim_bytes {
        options.claim_bytes = b;
    }
    let (apart, tweaks) = if args.sandbox_process {
        // Statuses come back to the status receiver, so it listens where the sandbox
        // process is told to push.
        let status_port = free_port()?;
        let process = sandbox_process(&[
            (
                "KNUDEPUNKT_STATUS_URL",
                format!(
                    "https://127.0.0.1:{status_port}{}",
                    knudepunkt_adapters::digital_post::STATUS_PATH
                ),
            ),
            ("KNUDEPUNKT_STATUS_DELAY_MS", "100".into()),
        ])
        .await?;
        let profile = ["/digitalpost/", "/sts/"]
            .iter()
            .map(|path| {
                (
                    format!("{SANDBOX_URL}{path}"),
                    format!("{}{path}", process.url),
                )
            })
            .chain([(
                "${KNUDEPUNKT_STATUS_LISTEN:-127.0.0.1:8701}".to_string(),
                format!("127.0.0.1:{status_port}"),
            )])
            .collect();
        (
            Some(process),
            Tweaks {
                profile,
                ..Tweaks::default()
            },
        )
    } else {
        (None, Tweaks::default())
    };
    let stack = Stack::start_with(ctx, &db, options, tweaks).await?;
    let serviceplatformen = match apart {
        Some(process) => Serviceplatformen::Apart(process),
        None => Serviceplatformen::InProcess(stack.sandbox.digital_post.recorder.clone()),
    };
    let engine = stack.engine.clone();
    let mut rng = rand::rng();
    let pdf: Vec<u8> = (0..args.pdf_bytes).map(|_| rng.random()).collect();
    let pdf = base64::engine::general_purpose::STANDARD.encode(pdf);
    let route = "digitalpost.letter";
    anyhow::ensure!(
        engine.routes().get(route).is_some(),
        "the dev profile has no {route} route"
    );

    let label = knudepunkt_engine::metrics::Metrics::route(route);
    let rss_before = rss_mb("VmRSS:");
    let started = Instant::now();
    let held_before = engine.journal().writer_occupancy();
    let producers = args.producers.max(1);
    let pdf = std::sync::Arc::new(pdf);
    let mut tasks = tokio::task::JoinSet::new();
    for producer in 0..producers {
        let (engine, pdf, label) = (engine.clone(), pdf.clone(), label.clone());
        let (letters, batch) = (args.letters, args.letters_a_transaction.max(1));
        tasks.spawn(async move {
            // This producer's letters: every `producers`th one.
            let mine: Vec<usize> = (producer..letters).step_by(producers).collect();
            // Rendered, validated and staged before the transaction begins: it holds
            // the journal's one SQLite connection only while writing its rows. On the blocking pool,
            // as a caller doing such CPU work should, so that the runtime's threads stay
            // free for the deliveries and the journal's round trips. The next chunk is
            // rendered while this one is written, as callers' requests overlap.
            let render = |chunk: &[usize]| {
                let events: Vec<serde_json::Value> =
                    chunk.iter().map(|&i| letter(i, &pdf)).collect();
                let engine = engine.clone();
                tokio::task::spawn_blocking(move || {
                    let mut prepared = engine.prepare_many(route, &events)?;
                    drop(events);
                    // The letters to disk before the transaction, not in it.
                    engine.stage_prepared(&mut prepared)?;
                    Ok::<_, knudepunkt_engine::EngineError>(prepared)
                })
            };
            let chunks: Vec<&[usize]> = mine.chunks(batch).collect();
            let mut next = chunks.first().map(|c| render(c));
            for (n, chunk) in chunks.iter().enumerate() {
                let Some(rendering) = next.take() else { break };
                let prepared = rendering.await??;
                next = chunks.get(n + 1).map(|c| render(c));
                let mut tx = engine.journal().begin().await?;
                engine.submit_prepared(&mut tx, prepared).await?;
                tx.commit().await?;
                engine.wake();
                SUBMITTED.fetch_add(chunk.len(), Ordering::Relaxed);
                // Do not run far ahead of the workers: keep the backlog (letters not
                // yet accepted by KombiPostAfsend) bounded.
                while SUBMITTED
                    .load(Ordering::Relaxed)
                    .saturating_sub(engine.metrics().accepted.get_or_create(&label).get() as usize)
                    > 500
                {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            anyhow::Ok(())
        });
    }
    let mut quarters = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(1800);
    let mut shown = (usize::MAX, -1);
    loop {
        let submitted = SUBMITTED.load(Ordering::Relaxed);
        // The engine's own count (a journal query would scan every letter's row).
        let delivered = engine.metrics().delivered.get_or_create(&label).get() as i64;
        if (submitted, delivered) != shown {
            eprint!(
                "\rsubmitted {submitted}/{n}, delivered {delivered}/{n}   ",
                n = args.letters
            );
            shown = (submitted, delivered);
        }
        while quarters.len() < 3 && delivered as usize >= args.letters * (quarters.len() + 1) / 4 {
            quarters.push(rss_mb("VmRSS:"));
        }
        if delivered as usize >= args.letters {
            break;
        }
        // A producer that failed stops the bench with its error.
        while let Some(done) = tasks.try_join_next() {
            done??;
        }
        if Instant::now() > deadline {
            let counts = engine.journal().count_by_state(Some(route)).await?;
            anyhow::bail!("not all letters delivered: {counts:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    eprintln!();
    let seconds = started.elapsed().as_secs_f64();
    let writer_held = engine
        .journal()
        .writer_occupancy()
        .zip(held_before)
        .map(|(now, before)| now.since(&before));
    // The journal agrees.
    let counts = engine.journal().count_by_state(Some(route)).await?;
    anyhow::ensure!(
        counts == vec![(MessageState::Delivered, args.letters as i64)],
        "the journal's count differs: {counts:?}"
    );
    quarters.push(rss_mb("VmRSS:"));
    let stats = serviceplatformen.stats().await?;
    anyhow::ensure!(
        stats.invalid == 0,
        "the sandbox refused {} letters as invalid",
        stats.invalid
    );
    let report = Report {
        letters: args.letters,
        pdf_bytes: args.pdf_bytes,
        seconds,
        letters_per_second: args.letters as f64 / seconds,
        rss_mb_before: rss_before,
        rss_mb_at_quarters: quarters,
        peak_rss_mb: rss_mb("VmHWM:"),
        sandbox_peak_rss_mb: match &serviceplatformen {
            Serviceplatformen::Apart(p) => Some(p.peak_rss_mb()),
            Serviceplatformen::InProcess(_) => None,
        },
        writer_held_percent: writer_held.map(|h| h.percent_of(Duration::from_secs_f64(seconds))),
        writer_turns: writer_held.map(|h| h.turns),
    };
    stack.stop().await;
    if std::env::var_os("KNUDEPUNKT_BENCH_KEEP").is_none() {
        knudepunkt_engine::journal::remove_sqlite_database(&db);
    }
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} letters with a {} KB PDF, accepted and delivered (status confirmed) in {:.1} s: {:.0} letters/s (target >= 500)",
            report.letters,
            report.pdf_bytes / 1024,
            report.seconds,
            report.letters_per_second
        );
        println!(
            "RSS before the first letter {:.0} MB, at each quarter {:?} MB; peak {:.0} MB (target < 200, flat)",
            report.rss_mb_before,
            report
                .rss_mb_at_quarters
                .iter()
                .map(|m| m.round())
                .collect::<Vec<_>>(),
            report.peak_rss_mb
        );
        match report.sandbox_peak_rss_mb {
            Some(mb) => println!(
                "(the sandbox's Serviceplatformen ran in a process of its own: its peak {mb:.0} MB is not in these figures)"
            ),
            None => println!("(the sandbox ran in this process: its memory is in these figures)"),
        }
        if let (Some(percent), Some(turns)) = (report.writer_held_percent, report.writer_turns) {
            println!(
                "the journal's one write connection was held {percent:.0} % of the run, in {turns} turns"
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
