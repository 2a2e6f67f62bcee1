//! `knudepunkt bench-medcom`: MedCom through the sandbox's network, with XSD validation
//! on. Inbound: correspondence envelopes posted by the network's hospital to Knudepunkt's
//! access point, each parsed, validated, journaled and acknowledged (answered, its
//! receipt queued); then until every receipt has reached the network and every letter
//! is on its case. Outbound: correspondence rendered, validated, sent through the VANS
//! access point, and confirmed by its receipt.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use knudepunkt_adapters::medcom::simulator::{GP_EAN, HOSPITAL_EAN, correspondence};
use knudepunkt_engine::EngineOptions;
use knudepunkt_engine::metrics::Metrics;
use serde::Serialize;

use super::stack::Stack;
use crate::setup::Context;

/// The municipality's EAN number in the sandbox.
const OUR_EAN: &str = "5790001382438";
const CPR: &str = "0101901234";

#[derive(clap::Args)]
pub struct Args {
    /// Messages each way.
    #[arg(long, default_value_t = 10_000)]
    pub messages: usize,
    /// Senders posting at once (inbound).
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// Deliveries in flight at once (the engine's default if not given).
    #[arg(long)]
    pub concurrency: Option<usize>,
    #[command(flatten)]
    pub journals: super::bench_journals::Journals,
}

#[derive(Serialize)]
struct Report {
    backend: String,
    messages: usize,
    inbound_acknowledged_per_second: f64,
    inbound_settled_per_second: f64,
    xdis16_sent_per_second: f64,
    xdis16_confirmed_per_second: f64,
    xdis91_sent_per_second: f64,
    xdis91_confirmed_per_second: f64,
}

fn delivered(stack: &Stack, route: &str) -> u64 {
    stack
        .engine
        .metrics()
        .delivered
        .get_or_create(&Metrics::route(route))
        .get()
}

fn accepted(stack: &Stack, route: &str) -> u64 {
    stack
        .engine
        .metrics()
        .accepted
        .get_or_create(&Metrics::route(route))
        .get()
}

/// Waits until `done()` reaches `n`, showing progress; the seconds since `started`.
async fn wait_for(
    what: &str,
    n: usize,
    started: Instant,
    done: impl Fn() -> u64,
) -> anyhow::Result<f64> {
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let d = done() as usize;
        eprint!("\r{what} {d}/{n}   ");
        if d >= n {
            eprintln!();
            return Ok(started.elapsed().as_secs_f64());
        }
        anyhow::ensure!(Instant::now() < deadline, "{what}: only {d} of {n}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Registers the citizen and opens a case through the API (as the demo's caseworker).
async fn open_case(stack: &Stack) -> anyhow::Result<String> {
    let http = knudepunkt_adapters::http::client();
    let base = format!("http://{}/api/v1", stack.server_addr);
    let post = |path: &str, body: serde_json::Value| {
        http.post(format!("{base}{path}"))
            .header("x-knudepunkt-user", "leder1")
            .header("x-knudepunkt-purpose", "bench")
            .json(&body)
            .send()
    };
    let r = post(
        "/citizens",
        serde_json::json!({"cpr": CPR, "given_name": "Anna", "family_name": "Jensen"}),
    )
    .await?;
    anyhow::ensure!(r.status().is_success(), "citizen: {}", r.text().await?);
    let r = post(
        "/cases",
        serde_json::json!({"cpr": CPR, "title": "Hjemmepleje", "kle": "27.36.12", "action_facet": "G01",
                           "case_type": "Voksenhandicap", "org_unit_id": "bch", "caseworker_id": "leder1"}),
    )
    .await?;
    let case: serde_json::Value = r.json().await?;
    case["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("no case was opened: {case}"))
}

/// Submits `n` events made by `event` to `route` in batches (rendered and validated
/// before each transaction); the seconds until all are sent, and until all are confirmed.
async fn outbound(
    stack: &Stack,
    route: &str,
    n: usize,
    event: impl Fn(usize) -> serde_json::Value,
) -> anyhow::Result<(f64, f64)> {
    let started = Instant::now();
    let mut sent = 0;
    while sent < n {
        let batch = 50.min(n - sent);
        let events: Vec<serde_json::Value> = (sent..sent + batch).map(&event).collect();
        let prepared = stack.engine.prepare_many(route, &events)?;
        let mut tx = stack.engine.journal().begin().await?;
        stack.engine.submit_prepared(&mut tx, prepared).await?;
        tx.commit().await?;
        stack.engine.wake();
        sent += batch;
        // Keep the backlog bounded.
        while sent as u64 - accepted(stack, route) > 2000 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let sent_seconds = wait_for(&format!("{route} sent"), n, started, || {
        accepted(stack, route)
    })
    .await?;
    let confirmed_seconds = wait_for(&format!("{route} confirmed by receipt"), n, started, || {
        delivered(stack, route)
    })
    .await?;
    Ok((sent_seconds, confirmed_seconds))
}

pub async fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let reports = args
        .journals
        .each("bench-medcom.db", async |backend, url| {
            run_on(ctx, &args, backend, url).await
        })
        .await?;
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        for report in &reports {
            println!(
                "MedCom on {}, {} messages each way, XSD validation on (targets >= 1000/s each):\n  inbound  {:.0}/s parsed, validated, journaled and answered; {:.0}/s until on the case and receipted\n  outbound {:.0}/s XDIS16 built, validated and sent; {:.0}/s until confirmed by receipt\n           {:.0}/s XDIS91 built, validated and sent; {:.0}/s until confirmed by receipt",
                report.backend,
                report.messages,
                report.inbound_acknowledged_per_second,
                report.inbound_settled_per_second,
                report.xdis16_sent_per_second,
                report.xdis16_confirmed_per_second,
                report.xdis91_sent_per_second,
                report.xdis91_confirmed_per_second
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One run on the journal at `db`.
async fn run_on(ctx: &Context, args: &Args, backend: &str, db: &str) -> anyhow::Result<Report> {
    let mut options = EngineOptions::default();
    if let Some(c) = args.concurrency {
        options.concurrency = c;
    }
    let stack = Stack::start(ctx, db, options).await?;
    for route in ["medcom.inbound", "medcom.receipt", "medcom.correspondence"] {
        anyhow::ensure!(
            stack.engine.routes().get(route).is_some(),
            "the dev profile has no {route} route"
        );
    }
    // The citizen the letters are about, with one open case for them to land on.
    let case_id = open_case(&stack).await?;
    let n = args.messages;

    // Inbound: the hospital's letters, posted by `clients` senders at once.
    let letters: Arc<Vec<String>> = Arc::new(
        (0..n)
            .map(|i| {
                correspondence(
                    HOSPITAL_EAN,
                    OUR_EAN,
                    CPR,
                    "Udskrivelse",
                    &format!("Brev {i}\nPatienten udskrives i morgen."),
                    None,
                )
            })
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..args.clients.max(1) {
        let (net, letters, next, acknowledged) = (
            stack.sandbox.medcom.clone(),
            letters.clone(),
            next.clone(),
            acknowledged.clone(),
        );
        senders.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(letter) = letters.get(i) else {
                    return anyhow::Ok(());
                };
                let (status, answer) = net
                    .send(HOSPITAL_EAN, OUR_EAN, letter.as_bytes())
                    .await
                    .map_err(anyhow::Error::msg)?;
                anyhow::ensure!(
                    status == 200 && answer.contains("positive"),
                    "letter {i}: {status} {answer}"
                );
                acknowledged.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    let ack_seconds = wait_for("acknowledged", n, started, || {
        acknowledged.load(Ordering::Relaxed) as u64
    })
    .await?;
    while let Some(done) = senders.join_next().await {
        done??;
    }
    let settled_seconds = wait_for("on the case and receipted", 2 * n, started, || {
        delivered(&stack, "medcom.inbound") + delivered(&stack, "medcom.receipt")
    })
    .await?;

    // Outbound: admission reports (XDIS16) built from the case core's data, rendered,
    // validated, sent and receipted; then correspondence (XDIS91) the same way.
    let xdis16 = outbound(&stack, "medcom.admission_report", n, |i| {
        serde_json::json!({
            "case_id": case_id,
            "notice": {"external_id": format!("bench/{i}"), "admitted_at": "2026-11-27T08:15", "notification_id": format!("ST{i}")},
            "hospital": {"ean": HOSPITAL_EAN, "organisation": "HILLERØD SYGEHUS", "department": null},
            "patient": {"cpr": CPR, "given_name": "Anna", "family_name": "Jensen", "address": "Testvej 1, 2300 København S"},
            "grants": [
                {"service": "Personlig pleje og praktisk hjælp", "unit": "time", "quantity": 5, "provider": "Hjemmeplejen", "from": "2026-01-01", "to": null},
                {"service": "Socialpædagogisk støtte", "unit": "time", "quantity": 3, "provider": "Bostøtten", "from": "2026-03-01", "to": "2026-12-31"}
            ],
            "functional_notes": ["Funktionsvurdering: Går med rollator.\nBrug for hjælp til bad."],
            "signed_by": "Lene Leder",
        })
    })
    .await?;
    let xdis91 = outbound(&stack, "medcom.correspondence", n, |i| {
        serde_json::json!({
            "case_id": case_id,
            "correspondence": {
                "letter_ref": format!("bench-{i}"), "to_ean": GP_EAN, "subject": "Spørgsmål om medicin",
                "text": format!("Kære læge\nBrev {i}."), "priority": "rutine",
                "case_ref": case_id.replace('-', ""),
            },
            "patient": {"cpr": CPR, "given_name": "Anna", "family_name": "Jensen"},
        })
    })
    .await?;
    let invalid = stack.sandbox.medcom.recorder.stats().invalid;
    anyhow::ensure!(
        invalid == 0,
        "the network refused {invalid} messages as invalid"
    );
    let report = Report {
        backend: backend.to_string(),
        messages: n,
        inbound_acknowledged_per_second: n as f64 / ack_seconds,
        inbound_settled_per_second: n as f64 / settled_seconds,
        xdis16_sent_per_second: n as f64 / xdis16.0,
        xdis16_confirmed_per_second: n as f64 / xdis16.1,
        xdis91_sent_per_second: n as f64 / xdis91.0,
        xdis91_confirmed_per_second: n as f64 / xdis91.1,
    };
    stack.stop().await;
    Ok(report)
}
