//! `knudepunkt bench`: throughput, latency and memory on the embedded default.
//!
//! Everything runs in this one process on loopback: the sandbox's generic receiver,
//! the engine with a fresh SQLite journal, and the load generators.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use knudepunkt_engine::{EngineOptions, Outbound};
use serde_json::json;

use super::machine_cpu::{Processes, split_json, split_text};
use super::rss::peak_rss_mb;
use super::stack::{Stack, fresh_sqlite};
use crate::setup::Context;

#[derive(clap::Args)]
pub struct Args {
    /// Messages in the throughput run.
    #[arg(long, default_value_t = 100_000)]
    pub messages: usize,
    /// Offered rate for the latency run, messages per second.
    #[arg(long, default_value_t = 1000)]
    pub rate: u64,
    /// Length of the latency run.
    #[arg(long, default_value_t = 10)]
    pub latency_seconds: u64,
    /// Requests in the synchronous run.
    #[arg(long, default_value_t = 50_000)]
    pub sync_requests: usize,
    /// Concurrent clients in the synchronous run.
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

/// CPU time this process has used (user + system), in microseconds: steadier than
/// wall-clock rates on a shared machine.
fn cpu_micros() -> f64 {
    // SAFETY: getrusage fills the struct we hand it; nothing else is touched.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn progress(label: &str, done: usize, total: usize) {
    use std::io::Write;
    eprint!("\r{label}: {done}/{total}   ");
    let _ = std::io::stderr().flush();
}

/// A thread of this process by what it does: SQLite's connection threads, the
/// runtime's workers (the engine, the receiver and the load generators' tasks), and the
/// main thread (which renders and submits the throughput run's batches).
fn thread_group(tid: u32, name: &str) -> &'static str {
    if name.starts_with("sqlx-sqlite") {
        "SQLite"
    } else if name.starts_with("tokio-rt-worker") {
        "runtime workers"
    } else if tid == std::process::id() {
        "main"
    } else {
        "other threads"
    }
}

/// The share of `wall` SQLite's one write connection was held since `before`, in per
/// cent (near 100 it, not the cores, bounds the rate), and in how many turns (each a
/// transaction or a statement of its own).
fn held_share(
    engine: &knudepunkt_engine::Engine,
    before: Option<knudepunkt_engine::journal::WriterOccupancy>,
    wall: Duration,
) -> Option<(f64, u64)> {
    let held = engine.journal().writer_occupancy()?.since(&before?);
    Some((held.percent_of(wall), held.turns))
}

async fn wait_delivered(stack: &Stack, want: u64, label: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let got = stack.sandbox.generic.recorder.stats().unique;
        progress(label, got as usize, want as usize);
        if got >= want {
            // Delivered means recorded in the journal, not just received.
            let open = stack
                .engine
                .journal()
                .backlog()
                .await?
                .iter()
                .map(|b| b.count)
                .sum::<i64>();
            if open == 0 {
                eprintln!();
                return Ok(());
            }
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{label}: not delivered within 10 minutes ({got}/{want})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let db = fresh_sqlite("bench.db");
    let stack = Stack::start(ctx, &db, EngineOptions::default()).await?;
    let engine = stack.engine.clone();
    let receiver = format!("http://{}/generic/receive", stack.sandbox_addr);
    let body = "Bevillingen af ledsageordning efter servicelovens § 97 er truffet. ".repeat(3);

    // 1. The bare client: the same POSTs with nothing durable in between.
    let bare_n = args.messages.clamp(1000, 50_000);
    let client = knudepunkt_adapters::http::builder()
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        .build()?;
    // The very payloads the engine sends: rendered by the same route, beforehand.
    let route = engine
        .routes()
        .get("generic.notify")
        .ok_or_else(|| {
            anyhow::anyhow!("the bench needs route generic.notify (routes/generic.yaml)")
        })?
        .clone();
    let now = chrono::Utc::now().to_rfc3339();
    let samples: Arc<Vec<bytes::Bytes>> = Arc::new(
        (0..256)
            .map(|k| {
                let ev =
                    json!({"id": format!("bare-{k}"), "case_id": format!("SAG-{k}"), "text": body});
                let rendered = engine
                    .routes()
                    .render(&route, &ev, knudepunkt_engine::MessageId::new(), &now)?
                    .ok_or_else(|| anyhow::anyhow!("generic.notify filtered the bench's event"))?;
                Ok(bytes::Bytes::from(rendered.payload))
            })
            .collect::<anyhow::Result<_>>()?,
    );
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let cpu = cpu_micros();
    let failed = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (client, next, url, samples, failed) = (
            client.clone(),
            next.clone(),
            receiver.clone(),
            samples.clone(),
            failed.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= bare_n {
                    break;
                }
                let r = client
                    .post(&url)
                    .header("content-type", "application/xml")
                    .header("idempotency-key", format!("bare-{i}"))
                    .body(samples[i % samples.len()].clone())
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let bare_rate = bare_n as f64 / started.elapsed().as_secs_f64();
    anyhow::ensure!(
        failed.load(Ordering::Relaxed) == 0,
        "the bare client's POSTs were refused {} times",
        failed.load(Ordering::Relaxed)
    );
    let bare_cpu = (cpu_micros() - cpu) / bare_n as f64;
    eprintln!("bare client: {bare_n} POSTs at {bare_rate:.0}/s");
    stack.sandbox.generic.recorder.reset();

    // 2. Throughput: submit through the outbox, 500 per transaction, deliver everything.
    let n = args.messages;
    let started = Instant::now();
    let cpu = cpu_micros();
    let held_before = engine.journal().writer_occupancy();
    let threads = Processes::threads();
    let mut i = 0;
    while i < n {
        let end = (i + 500).min(n);
        let events: Vec<_> = (i..end)
            .map(|k| json!({"id": format!("t-{k}"), "case_id": format!("SAG-{}", k % 88_000), "text": body}))
            .collect();
        // Rendered before the transaction begins, as a caller does: SQLite has one
        // writer, and a transaction that renders holds it from the workers meanwhile.
        let prepared = engine.prepare_many("generic.notify", &events)?;
        let mut tx = engine.journal().begin().await?;
        engine.submit_prepared(&mut tx, prepared).await?;
        tx.commit().await?;
        engine.wake();
        i = end;
        progress("submitted", i, n);
    }
    eprintln!(" in {:.2}s", started.elapsed().as_secs_f64());
    wait_delivered(&stack, n as u64, "delivered").await?;
    let throughput = n as f64 / started.elapsed().as_secs_f64();
    let throughput_cpu = (cpu_micros() - cpu) / n as f64;
    let throughput_held = held_share(&engine, held_before, started.elapsed());
    let throughput_threads = threads.per_message_by_group(&Processes::threads(), n, thread_group);
    stack.sandbox.generic.recorder.reset();

    // 3. Latency at an offered rate: one message at a time, as a case core would.
    let total = (args.rate * args.latency_seconds) as usize;
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / args.rate.max(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    for k in 0..total {
        ticker.tick().await;
        let engine = engine.clone();
        let body = body.clone();
        tokio::spawn(async move {
            let ev = json!({"id": format!("l-{k}"), "case_id": "SAG-LATENCY", "text": body});
            let _ = engine
                .submit_now(Outbound {
                    route: "generic.notify",
                    event: &ev,
                })
                .await;
        });
        if k % 500 == 0 {
            progress("latency run", k, total);
        }
    }
    let offered = total as f64 / started.elapsed().as_secs_f64();
    wait_delivered(&stack, total as u64, "latency run delivered").await?;
    let mut lat: Vec<f64> = engine
        .journal()
        .delivery_latencies("generic.notify", Some("SAG-LATENCY"))
        .await?
        .into_iter()
        .map(|ms| ms as f64)
        .collect();
    lat.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));

    // 4. Synchronous: 16 clients POST JSON; each answer waits for the receiver's 2xx.
    let url = format!("http://{}/in/generic/letter", stack.server_addr);
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let sync_n = args.sync_requests;
    let started = Instant::now();
    let cpu = cpu_micros();
    let held_before = engine.journal().writer_occupancy();
    let sync_threads_before = Processes::threads();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (client, next, url, failures, body) = (
            client.clone(),
            next.clone(),
            url.clone(),
            failures.clone(),
            body.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= sync_n {
                    break;
                }
                let ev = json!({"letter_id": format!("s-{i}"), "case_id": "SAG-2", "title": "Afgørelse", "sender_cvr": "64942212", "recipient_cpr": "0101901234", "body": body});
                let t = Instant::now();
                match client.post(&url).json(&ev).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        lat.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    _ => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            lat
        }));
    }
    let mut sync_lat = Vec::new();
    for t in tasks {
        sync_lat.extend(t.await?);
    }
    let sync_rate = sync_lat.len() as f64 / started.elapsed().as_secs_f64();
    let sync_cpu = (cpu_micros() - cpu) / sync_n.max(1) as f64;
    let sync_held = held_share(&engine, held_before, started.elapsed());
    let sync_threads =
        sync_threads_before.per_message_by_group(&Processes::threads(), sync_n, thread_group);
    sync_lat.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let rss = peak_rss_mb();
    stack.stop().await;

    let report = json!({
        "messages": n,
        "throughput_msgs_per_s": throughput.round(),
        "bare_client_posts_per_s": bare_rate.round(),
        "ratio": (throughput / bare_rate * 100.0).round() / 100.0,
        "latency_offered_per_s": offered.round(),
        "latency_messages": lat.len(),
        "latency_p50_ms": percentile(&lat, 0.50),
        "latency_p99_ms": percentile(&lat, 0.99),
        "sync_clients": args.clients,
        "sync_requests_ok": sync_lat.len(),
        "sync_failures": failures.load(Ordering::Relaxed),
        "sync_req_per_s": sync_rate.round(),
        "sync_p50_ms": (percentile(&sync_lat, 0.50) * 100.0).round() / 100.0,
        "sync_p99_ms": (percentile(&sync_lat, 0.99) * 100.0).round() / 100.0,
        "peak_rss_mb": rss.round(),
        "cpu_us_per_message": throughput_cpu.round(),
        "cpu_us_per_bare_post": bare_cpu.round(),
        "cpu_us_per_sync_request": sync_cpu.round(),
        "writer_held_percent_throughput": throughput_held.map(|h| h.0.round()),
        "writer_turns_throughput": throughput_held.map(|h| h.1),
        "writer_held_percent_sync": sync_held.map(|h| h.0.round()),
        "writer_turns_sync": sync_held.map(|h| h.1),
        "cpu_us_by_thread_throughput": split_json(&throughput_threads),
        "cpu_us_by_thread_sync": split_json(&sync_threads),
    });
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("knudepunkt bench (embedded SQLite journal, loopback HTTP, one process)");
        println!(
            "  throughput          {throughput:>8.0} msg/s   ({n} messages, outbox -> XML -> HTTP -> delivered)"
        );
        println!("  bare client         {bare_rate:>8.0} POST/s  (same receiver, nothing durable)");
        println!("  ratio               {:>8.2}", throughput / bare_rate);
        println!(
            "  latency @ {offered:.0}/s    p50 {:.0} ms, p99 {:.0} ms  (submit -> delivered, {} messages)",
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            lat.len()
        );
        println!(
            "  sync, {} clients    {sync_rate:>8.0} req/s   p50 {:.2} ms, p99 {:.2} ms, {} failed",
            args.clients,
            percentile(&sync_lat, 0.5),
            percentile(&sync_lat, 0.99),
            failures.load(Ordering::Relaxed)
        );
        println!(
            "  CPU per item        {throughput_cpu:>8.0} us/msg, bare {bare_cpu:.0} us/POST, sync {sync_cpu:.0} us/req (both cores; includes receiver and load generator)"
        );
        println!(
            "  CPU by thread       throughput: {} us/msg; sync: {} us/req",
            split_text(&throughput_threads),
            split_text(&sync_threads)
        );
        if let (Some((t, t_turns)), Some((s, s_turns))) = (throughput_held, sync_held) {
            println!(
                "  journal writer held {t:>8.0} %      of the throughput run, {s:.0} % of the sync run (SQLite's one write connection)"
            );
            let per = |items: usize, turns: u64| items as f64 / turns.max(1) as f64;
            println!(
                "  writer turns        {t_turns:>8}        in the throughput run ({:.1} messages a turn), {s_turns} in the sync run ({:.1} requests a turn)",
                per(n, t_turns),
                per(sync_lat.len(), s_turns)
            );
        }
        println!("  peak RSS            {rss:>8.0} MB     (engine + sandbox + load generators)");
    }
    let ok = failures.load(Ordering::Relaxed) == 0 && lat.len() == total;
    if !ok {
        eprintln!(
            "bench failed: {} synchronous requests failed; {} of {} latency-run messages delivered",
            failures.load(Ordering::Relaxed),
            lat.len(),
            total
        );
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
