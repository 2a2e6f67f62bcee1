//! `knudepunkt bench-digital-post`: letters with a 200 KB PDF main document, end to end
//! through the sandbox (MeMo rendered and validated, journaled, sent to KombiPostAfsend
//! with an access token, accepted, the status pushed back, delivered), and the process's
//! RSS as the letters go, to show it stays flat.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use base64::Engine as _;
use knudepunkt_engine::EngineOptions;
use knudepunkt_engine::message::MessageState;
use rand::Rng;
use serde::Serialize;

use super::stack::{Stack, fresh_sqlite};
use crate::setup::Context;

#[derive(clap::Args)]
pub struct Args {
    /// Letters to send.
    #[arg(long, default_value_t = 10_000)]
    pub letters: usize,
    /// Size of each letter's PDF.
    #[arg(long, default_value_t = 200 * 1024)]
    pub pdf_bytes: usize,
}

#[derive(Serialize)]
struct Report {
    letters: usize,
    pdf_bytes: usize,
    seconds: f64,
    letters_per_second: f64,
    rss_mb_at_quarters: Vec<f64>,
    peak_rss_mb: f64,
}

fn rss_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with(field)).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

pub async fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let db = fresh_sqlite("bench-digital-post.db");
    let stack = Stack::start(ctx, &db, EngineOptions::default()).await?;
    let engine = stack.engine.clone();
    let mut rng = rand::rng();
    let pdf: Vec<u8> = (0..args.pdf_bytes).map(|_| rng.random()).collect();
    let pdf = base64::engine::general_purpose::STANDARD.encode(pdf);
    let route = "digitalpost.letter";
    anyhow::ensure!(
        engine.routes().get(route).is_some(),
        "the dev profile has no {route} route"
    );

    let started = Instant::now();
    let mut quarters = Vec::new();
    let batch = 25;
    let mut sent = 0;
    while sent < args.letters {
        let n = batch.min(args.letters - sent);
        let events: Vec<serde_json::Value> = (sent..sent + n)
            .map(|i| {
                serde_json::json!({
                    "case_id": format!("bench-case-{i}"), "title": "Afgørelse om støtte", "kle": "27.36.12",
                    "action_facet": "G01", "letter_id": format!("bench-letter-{i}"),
                    "decision": {"outcome": "grant", "legal_basis": "SEL § 85", "decided_on": "2026-11-20", "reasoning": "Bench.", "appeal_weeks": 4},
                    "recipient": {"cpr": "0101901234", "given_name": "Anna", "family_name": "Jensen"},
                    "pdf": pdf,
                })
            })
            .collect();
        let mut tx = engine.journal().begin().await?;
        engine.submit_many(&mut tx, route, &events).await?;
        tx.commit().await?;
        engine.wake();
        sent += n;
        // Do not run far ahead of the workers: keep the backlog bounded.
        loop {
            let delivered = stack.sandbox.digital_post.recorder.stats().unique as usize;
            if sent - delivered <= 500 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if quarters.len() < 3 && sent >= args.letters * (quarters.len() + 1) / 4 {
            quarters.push(rss_mb("VmRSS:"));
        }
        eprint!("\rsubmitted {sent}/{}   ", args.letters);
    }
    eprintln!();
    let deadline = Instant::now() + Duration::from_secs(1800);
    let mut shown = -1;
    loop {
        let counts = engine.journal().count_by_state(Some(route)).await?;
        let delivered = counts
            .iter()
            .find(|(s, _)| *s == MessageState::Delivered)
            .map(|(_, n)| *n)
            .unwrap_or(0);
        if delivered != shown {
            eprint!("\rdelivered {delivered}/{}   ", args.letters);
            shown = delivered;
        }
        if delivered as usize >= args.letters {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "not all letters delivered: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!();
    let seconds = started.elapsed().as_secs_f64();
    quarters.push(rss_mb("VmRSS:"));
    let stats = stack.sandbox.digital_post.recorder.stats();
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
        rss_mb_at_quarters: quarters,
        peak_rss_mb: rss_mb("VmHWM:"),
    };
    stack.stop().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.trim_start_matches("sqlite://")));
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
            "RSS at each quarter: {:?} MB; peak {:.0} MB (target < 200, flat)",
            report
                .rss_mb_at_quarters
                .iter()
                .map(|m| m.round())
                .collect::<Vec<_>>(),
            report.peak_rss_mb
        );
    }
    Ok(ExitCode::SUCCESS)
}
