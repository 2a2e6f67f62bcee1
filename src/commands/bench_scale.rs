//! `knudepunkt bench-scale`: the same route (generic.notify) and the same simulator (a
//! sandbox process's generic receiver), four ways, in one run:
//!
//! 1. embedded: SQLite journal, in-process engine, the journal as the queue;
//! 2. one `knudepunkt serve` instance with RabbitMQ and PostgreSQL;
//! 3. two instances with RabbitMQ and PostgreSQL;
//! 4. raw lapin: publish with confirms and consume with acks, nothing else, at the size
//!    of what the transport puts on the broker (a message id) and at the route's
//!    payload size, after an unmeasured warm-up run.
//!
//! Each engine run submits through the outbox (500 per transaction) and ends when the
//! journal has every message delivered; the rate is messages over that time. Each run's
//! CPU is told apart by process: PostgreSQL, RabbitMQ, the instances, the simulator,
//! this process (the submitter, or the embedded engine) and the rest. After the
//! one-instance run, 200 messages meet a 503 with Retry-After on their first attempt:
//! how late their second attempt comes measures delayed retries on the broker transport.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures::StreamExt;
use knudepunkt_engine::message::MessageState;
use knudepunkt_engine::{AdapterRegistry, Engine, EngineOptions, Journal, RouteSet};
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions, QueuePurgeOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use serde_json::json;

use super::bench_journals::{drop_postgres, scratch_postgres};
use super::machine_cpu::{self, Processes};
use super::sandbox_process::{SandboxProcess, sandbox_process};
use super::stack::{Stack, Tweaks, fresh_sqlite};
use crate::setup::Context;

const ROUTE: &str = "generic.notify";

/// Messages in the raw broker's unmeasured warm-up run.
const RAW_WARM_UP: usize = 10_000;

/// One run's figures: its rate, the busy CPU of the whole machine per message, and
/// who used it.
struct Run {
    rate: f64,
    cpu_us: f64,
    /// Microseconds of CPU a message by group of processes ([`Who::group`]).
    split: Vec<(&'static str, f64)>,
}

impl Run {
    /// `n` messages in `elapsed`; the CPU from the readings `busy` and `procs` to now.
    fn measured(
        n: usize,
        elapsed: Duration,
        busy: Option<f64>,
        procs: &Processes,
        who: &Who,
    ) -> Run {
        Run {
            rate: n as f64 / elapsed.as_secs_f64(),
            cpu_us: machine_cpu::micros_per_message(busy, machine_cpu::busy_seconds(), n),
            split: procs
                .per_message_by_group(&Processes::read(), n, |pid, name| who.group(pid, name)),
        }
    }
}

/// The processes a run's CPU is told apart by.
struct Who {
    simulator: u32,
    instances: Vec<u32>,
}

impl Who {
    fn group(&self, pid: u32, name: &str) -> &'static str {
        if pid == std::process::id() {
            "this process"
        } else if pid == self.simulator {
            "simulator"
        } else if self.instances.contains(&pid) {
            "instances"
        } else if name == "postgres" {
            "PostgreSQL"
        } else if name.starts_with("beam")
            || name.starts_with("erl")
            || name == "epmd"
            || name == "inet_gethost"
        {
            "RabbitMQ"
        } else {
            "other"
        }
    }
}

#[derive(clap::Args)]
pub struct Args {
    /// Messages in each run.
    #[arg(long, default_value_t = 20_000)]
    pub messages: usize,
    /// Deliveries in flight per instance.
    #[arg(long, default_value_t = 128)]
    pub concurrency: usize,
    /// Unacked broker messages per consumer.
    #[arg(long, default_value_t = 256)]
    pub prefetch: u16,
    #[arg(
        long,
        env = "KNUDEPUNKT_TEST_POSTGRES_URL",
        default_value = "postgres://knudepunkt:knudepunkt@127.0.0.1:5432/postgres"
    )]
    pub postgres_admin_url: String,
    #[arg(
        long,
        env = "KNUDEPUNKT_TEST_AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    pub amqp_url: String,
}

fn progress(label: &str, done: i64, total: usize) {
    use std::io::Write;
    eprint!("\r{label}: {done}/{total}   ");
    let _ = std::io::stderr().flush();
}

fn events(prefix: &str, from: usize, to: usize, body: &str) -> Vec<serde_json::Value> {
    (from..to)
        .map(|k| json!({"id": format!("{prefix}-{k}"), "case_id": format!("SAG-{}", k % 88_000), "text": body}))
        .collect()
}

/// Submits `n` events to the route (500 to a transaction, as a busy caller would) and
/// waits until the journal has them all delivered; the run's figures. The simulator's
/// count of distinct messages is watched meanwhile: counting the open messages costs the
/// journal a scan of them, which on PostgreSQL took a tenth of a core at five a second,
/// so the journal is asked only every 2 s, and once the simulator has everything.
async fn submit_and_wait(
    engine: &Engine,
    sandbox_url: &str,
    prefix: &str,
    n: usize,
    body: &str,
    label: &str,
    who: &Who,
) -> anyhow::Result<Run> {
    let http = knudepunkt_adapters::http::client();
    let stats_url = format!("{sandbox_url}/generic/_sandbox/stats");
    let received = || async {
        let stats: knudepunkt_adapters::sandbox::Stats = http
            .get(&stats_url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok::<u64, anyhow::Error>(stats.unique)
    };
    let before = received().await?;
    let started = Instant::now();
    let busy = machine_cpu::busy_seconds();
    let procs = Processes::read();
    for from in (0..n).step_by(500) {
        let evs = events(prefix, from, (from + 500).min(n), body);
        let mut tx = engine.journal().begin().await?;
        engine.submit_many(&mut tx, ROUTE, &evs).await?;
        tx.commit().await?;
        engine.wake();
    }
    let until = Instant::now() + Duration::from_secs(900);
    let mut asked = Instant::now();
    loop {
        let got = received().await?.saturating_sub(before);
        progress(label, got as i64, n);
        if got as usize >= n || asked.elapsed() >= Duration::from_secs(2) {
            asked = Instant::now();
            // The open messages are counted on the journal's partial due index.
            let open: i64 = engine
                .journal()
                .backlog()
                .await?
                .iter()
                .filter(|b| b.route == ROUTE)
                .map(|b| b.count)
                .sum();
            if open == 0 {
                let elapsed = started.elapsed();
                eprintln!();
                // Every message is delivered in the journal, so each is at the simulator.
                let got = received().await?.saturating_sub(before);
                if got as usize != n {
                    bail!(
                        "{label}: the journal has every message delivered, but the simulator counts {got} new distinct messages of {n}"
                    );
                }
                let counts = engine.journal().count_by_state(Some(ROUTE)).await?;
                if let Some((s, k)) = counts
                    .iter()
                    .find(|(s, k)| *s != MessageState::Delivered && *k > 0)
                {
                    bail!("{label}: nothing is open, but {k} messages are {s}: {counts:?}");
                }
                return Ok(Run::measured(n, elapsed, busy, &procs, who));
            }
            if Instant::now() > until {
                bail!("{label}: {open} still open after 15 minutes");
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Empties the route's queue of what an earlier run left (ids of another journal).
async fn purge_route_queue(url: &str) -> anyhow::Result<()> {
    let conn = Connection::connect(url, ConnectionProperties::default()).await?;
    knudepunkt_engine::transport::declare(&conn, &[ROUTE.to_string()]).await?;
    let ch = conn.create_channel().await?;
    let queue = knudepunkt_engine::transport::queue_for(ROUTE);
    ch.queue_purge(queue.as_str().into(), QueuePurgeOptions::default())
        .await?;
    let _ = conn.close(200, "OK".into()).await;
    Ok(())
}

struct Instances(Vec<std::process::Child>);

impl Drop for Instances {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// How late delayed retries come on the RabbitMQ transport, where a retry waits in the
/// journal and the relay hands it to the broker when it falls due.
#[derive(Debug)]
struct RetryLateness {
    retried: usize,
    p50_ms: i64,
    p99_ms: i64,
    max_ms: i64,
}

/// The wait the simulator asks for (Retry-After) when it answers 503.
const RETRY_AFTER_S: u64 = 1;
/// Messages whose first attempt is answered 503.
const RETRY_SAMPLE: usize = 200;

/// Makes the simulator answer the next [`RETRY_SAMPLE`] requests 503 with Retry-After,
/// sends as many messages, and compares each one's second attempt with the time it was
/// due. The due time is counted from the start of the first attempt (the journal keeps
/// when an attempt was claimed), so the figures are an upper bound on the lateness.
async fn retry_lateness(
    submitter: &Engine,
    sandbox_url: &str,
    body: &str,
    who: &Who,
) -> anyhow::Result<RetryLateness> {
    use knudepunkt_adapters::sandbox::{Fault, FaultKind};
    use sqlx::Row as _;
    let fault = Fault {
        kind: FaultKind::Status {
            status: 503,
            retry_after: Some(RETRY_AFTER_S),
        },
        count: RETRY_SAMPLE as u32,
    };
    let url = format!("{sandbox_url}/generic/_sandbox/faults");
    let answer = knudepunkt_adapters::http::client()
        .post(&url)
        .json(&fault)
        .send()
        .await?;
    if !answer.status().is_success() {
        bail!(
            "the simulator refused the fault at {url}: {}",
            answer.status()
        );
    }
    submit_and_wait(
        submitter,
        sandbox_url,
        "retry",
        RETRY_SAMPLE,
        body,
        "delayed retries",
        who,
    )
    .await?;
    let rows = sqlx::query(
        "SELECT t.message_id, t.attempt, MIN(t.at) AS at FROM message_transitions t \
         JOIN messages m ON m.id = t.message_id \
         WHERE m.route = $1 AND m.idempotency_key LIKE 'notification-retry-%' \
         AND t.to_state = 'in_flight' AND t.attempt IN (1, 2) GROUP BY t.message_id, t.attempt",
    )
    .bind(ROUTE)
    .fetch_all(submitter.journal().pool())
    .await?;
    let mut attempts: std::collections::HashMap<String, [Option<i64>; 2]> = Default::default();
    for r in &rows {
        let id: String = r.try_get("message_id")?;
        let attempt: i64 = r.try_get("attempt")?;
        let at: i64 = r.try_get("at")?;
        attempts.entry(id).or_default()[(attempt - 1) as usize] = Some(at);
    }
    let due_after = (RETRY_AFTER_S * 1000) as i64;
    let mut late: Vec<i64> = attempts
        .values()
        .filter_map(|a| Some(a[1]? - a[0]? - due_after))
        .collect();
    if late.is_empty() {
        bail!("none of the {RETRY_SAMPLE} messages was tried a second time");
    }
    late.sort_unstable();
    let at = |q: usize| late[(late.len() * q / 100).min(late.len() - 1)];
    Ok(RetryLateness {
        retried: late.len(),
        p50_ms: at(50),
        p99_ms: at(99),
        max_ms: *late.last().expect("not empty"),
    })
}

/// `k` engine instances with RabbitMQ and PostgreSQL; the rate, and (if `probe_retries`)
/// how late delayed retries come afterwards.
async fn scaled_out(
    ctx: &Context,
    args: &Args,
    routes: &Arc<RouteSet>,
    sandbox: &SandboxProcess,
    k: usize,
    body: &str,
    probe_retries: bool,
) -> anyhow::Result<(Run, Option<RetryLateness>)> {
    let sandbox_url = sandbox.url.as_str();
    let (db, name) = scratch_postgres(&args.postgres_admin_url).await?;
    let result = async {
        let journal = Journal::open(&db).await?;
        purge_route_queue(&args.amqp_url).await?;
        let mut children = Instances(Vec::new());
        let logs: Vec<std::path::PathBuf> = (0..k)
            .map(|i| {
                std::env::temp_dir().join(format!(
                    "knudepunkt-bench-scale-{}-{i}.log",
                    std::process::id()
                ))
            })
            .collect();
        for log in &logs {
            children.0.push(
                std::process::Command::new(std::env::current_exe()?)
                    .args(["serve", "--listen", "127.0.0.1:0", "--root"])
                    .arg(&ctx.root)
                    .env("KNUDEPUNKT_DATABASE_URL", &db)
                    .env("KNUDEPUNKT_AMQP_URL", &args.amqp_url)
                    .env("KNUDEPUNKT_AMQP_PREFETCH", args.prefetch.to_string())
                    .env("KNUDEPUNKT_CONCURRENCY", args.concurrency.to_string())
                    .env("KNUDEPUNKT_SANDBOX_URL", sandbox_url)
                    .env("KNUDEPUNKT_STATUS_LISTEN", "127.0.0.1:0")
                    .env("KNUDEPUNKT_LOG", "warn")
                    .stdout(std::process::Stdio::null())
                    .stderr(std::fs::File::create(log)?)
                    .spawn()
                    .context("starting an engine instance")?,
            );
        }
        // Every instance registered and connected to the broker before the clock starts.
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let up = journal
                .instances(knudepunkt_engine::message::now_ms() - 15_000)
                .await?
                .iter()
                .filter(|i| i.connected && i.consumers > 0)
                .count();
            if up == k {
                break;
            }
            if Instant::now() > until {
                for log in &logs {
                    eprintln!("--- {}", log.display());
                    eprintln!("{}", std::fs::read_to_string(log).unwrap_or_default());
                }
                bail!("{k} instance(s) did not connect to the broker within 60 s ({up} did)");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let submitter = Engine::new(
            journal.clone(),
            routes.clone(),
            AdapterRegistry::new(),
            EngineOptions::default(),
        );
        let who = Who {
            simulator: sandbox.pid(),
            instances: children.0.iter().map(|c| c.id()).collect(),
        };
        let rate = submit_and_wait(
            &submitter,
            sandbox_url,
            // Keys of their own: another run's keys would all count as duplicates at the
            // simulator, and its count of distinct messages would show nothing of this run.
            &format!("scale-{k}"),
            args.messages,
            body,
            &format!("{k} instance(s), RabbitMQ + PostgreSQL"),
            &who,
        )
        .await?;
        let retries = if probe_retries {
            Some(retry_lateness(&submitter, sandbox_url, body, &who).await?)
        } else {
            None
        };
        for c in &children.0 {
            // SAFETY: kill(2) on a child we own; no memory is touched.
            unsafe {
                libc::kill(c.id() as i32, libc::SIGTERM);
            }
        }
        for c in &mut children.0 {
            let _ = c.wait();
        }
        journal.close().await;
        for log in &logs {
            let _ = std::fs::remove_file(log);
        }
        Ok::<_, anyhow::Error>((rate, retries))
    }
    .await;
    drop_postgres(&args.postgres_admin_url, &name).await?;
    result
}

/// Publish with confirms (windows of 512, as the relay does) and consume with acks
/// (the same prefetch), concurrently, on a quorum queue of its own; messages per second
/// from the first publish to the last ack.
async fn raw_lapin(
    url: &str,
    n: usize,
    size: usize,
    prefetch: u16,
    who: &Who,
) -> anyhow::Result<Run> {
    let conn = Connection::connect(url, ConnectionProperties::default()).await?;
    let queue = "knudepunkt.bench.raw";
    let setup = conn.create_channel().await?;
    let _ = setup
        .queue_delete(queue.into(), QueueDeleteOptions::default())
        .await;
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    setup
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            args,
        )
        .await?;
    let consumer_ch = conn.create_channel().await?;
    consumer_ch
        .basic_qos(prefetch, BasicQosOptions::default())
        .await?;
    let mut consumer = consumer_ch
        .basic_consume(
            queue.into(),
            "bench".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let publisher = conn.create_channel().await?;
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let body = vec![b'x'; size];
    let started = Instant::now();
    let busy = machine_cpu::busy_seconds();
    let procs = Processes::read();
    let consuming = tokio::spawn(async move {
        let mut got = 0;
        while got < n {
            let Some(d) = consumer.next().await else {
                bail!("the consumer closed after {got}");
            };
            d?.ack(BasicAckOptions::default()).await?;
            got += 1;
        }
        Ok::<_, anyhow::Error>(())
    });
    for from in (0..n).step_by(512) {
        let mut confirms = Vec::new();
        for _ in from..(from + 512).min(n) {
            confirms.push(
                publisher
                    .basic_publish(
                        "".into(),
                        queue.into(),
                        BasicPublishOptions::default(),
                        &body,
                        BasicProperties::default().with_delivery_mode(2),
                    )
                    .await?,
            );
        }
        for c in confirms {
            c.await?;
        }
    }
    consuming.await??;
    let measured = Run::measured(n, started.elapsed(), busy, &procs, who);
    let _ = setup
        .queue_delete(queue.into(), QueueDeleteOptions::default())
        .await;
    let _ = conn.close(200, "OK".into()).await;
    Ok(measured)
}

pub async fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let sandbox = sandbox_process(&[]).await?;
    let body = "Bevillingen af ledsageordning efter servicelovens § 97 er truffet. ".repeat(3);

    // 1. Embedded.
    let db = fresh_sqlite("bench-scale.db");
    let stack = Stack::start_with(
        ctx,
        &db,
        EngineOptions {
            concurrency: args.concurrency,
            ..EngineOptions::default()
        },
        Tweaks {
            profile: vec![(
                "${KNUDEPUNKT_SANDBOX_URL:-http://127.0.0.1:8790}/generic/receive".into(),
                format!("{}/generic/receive", sandbox.url),
            )],
            ..Tweaks::default()
        },
    )
    .await?;
    let routes = stack.engine.routes().clone();
    let payload_size = {
        let route = routes
            .get(ROUTE)
            .context("the bench needs route generic.notify")?;
        routes
            .render(
                route,
                &events("scale", 0, 1, &body)[0],
                knudepunkt_engine::MessageId::new(),
                "2026-01-01T00:00:00Z",
            )?
            .context("generic.notify filtered the bench's event")?
            .payload
            .len()
    };
    // The embedded run and the broker alone: no instances to tell apart.
    let no_instances = Who {
        simulator: sandbox.pid(),
        instances: Vec::new(),
    };
    let embedded_run = submit_and_wait(
        &stack.engine,
        &sandbox.url,
        "embedded",
        args.messages,
        &body,
        "embedded (SQLite)",
        &no_instances,
    )
    .await?;
    stack.stop().await;
    knudepunkt_engine::journal::remove_sqlite_database(&db);

    // 2 and 3. One and two instances with RabbitMQ and PostgreSQL.
    let (one_run, retries) = scaled_out(ctx, &args, &routes, &sandbox, 1, &body, true).await?;
    let retries = retries.context("the one-instance run measures delayed retries")?;
    let (two_run, _) = scaled_out(ctx, &args, &routes, &sandbox, 2, &body, false).await?;

    // 4. The broker alone.
    let wire_size = knudepunkt_engine::MessageId::new().to_string().len();
    // Unmeasured first: right after the engine runs the broker is still busy with their
    // queues, and the first raw run read 10-25 % slower than the same run again.
    raw_lapin(
        &args.amqp_url,
        RAW_WARM_UP.min(args.messages),
        wire_size,
        args.prefetch,
        &no_instances,
    )
    .await?;
    let raw_wire_run = raw_lapin(
        &args.amqp_url,
        args.messages,
        wire_size,
        args.prefetch,
        &no_instances,
    )
    .await?;
    let raw_payload_run = raw_lapin(
        &args.amqp_url,
        args.messages,
        payload_size,
        args.prefetch,
        &no_instances,
    )
    .await?;
    let [embedded, one, two, raw_wire, raw_payload] = [
        &embedded_run,
        &one_run,
        &two_run,
        &raw_wire_run,
        &raw_payload_run,
    ]
    .map(|r| r.rate);

    let best = one.max(two);
    let report = json!({
        "messages": args.messages,
        "route": ROUTE,
        "payload_bytes": payload_size,
        "broker_message_bytes": wire_size,
        "embedded_sqlite_msgs_per_s": embedded.round(),
        "rabbitmq_postgres_1_instance_msgs_per_s": one.round(),
        "rabbitmq_postgres_2_instances_msgs_per_s": two.round(),
        "raw_lapin_msgs_per_s_at_broker_message_size": raw_wire.round(),
        "raw_lapin_msgs_per_s_at_payload_size": raw_payload.round(),
        "ratio_1_instance_to_raw": (one / raw_wire * 100.0).round() / 100.0,
        "ratio_2_instances_to_raw": (two / raw_wire * 100.0).round() / 100.0,
        "ratio_1_instance_to_raw_at_payload_size": (one / raw_payload * 100.0).round() / 100.0,
        "ratio_2_instances_to_raw_at_payload_size": (two / raw_payload * 100.0).round() / 100.0,
        "ratio_2_to_1_instances": (two / one * 100.0).round() / 100.0,
        "ratio_1_instance_to_embedded": (one / embedded * 100.0).round() / 100.0,
        "machine_cpu_us_per_message": {
            "embedded_sqlite": embedded_run.cpu_us.round(),
            "rabbitmq_postgres_1_instance": one_run.cpu_us.round(),
            "rabbitmq_postgres_2_instances": two_run.cpu_us.round(),
            "raw_lapin_at_broker_message_size": raw_wire_run.cpu_us.round(),
            "raw_lapin_at_payload_size": raw_payload_run.cpu_us.round(),
        },
        "cpu_us_per_message_by_process": {
            "embedded_sqlite": machine_cpu::split_json(&embedded_run.split),
            "rabbitmq_postgres_1_instance": machine_cpu::split_json(&one_run.split),
            "rabbitmq_postgres_2_instances": machine_cpu::split_json(&two_run.split),
            "raw_lapin_at_broker_message_size": machine_cpu::split_json(&raw_wire_run.split),
        },
        "delayed_retries": {
            "retry_after_s": RETRY_AFTER_S,
            "retried": retries.retried,
            "late_p50_ms": retries.p50_ms,
            "late_p99_ms": retries.p99_ms,
            "late_max_ms": retries.max_ms,
        },
        "target_3000_met": best >= 3000.0,
        "target_ratio_0_3_met": best / raw_wire >= 0.3,
    });
    super::emit(ctx.json, &report, || {
        println!(
            "knudepunkt bench-scale: {} messages on {ROUTE} ({payload_size}-byte payloads) to one sandbox process",
            args.messages
        );
        let cpu = |r: &Run| format!("{:>5.0} µs of machine CPU a message", r.cpu_us);
        let by_process = |r: &Run| {
            println!(
                "      by process: {} µs a message",
                machine_cpu::split_text(&r.split)
            )
        };
        println!(
            "  embedded (SQLite, in-process)        {embedded:>8.0} msg/s   {}",
            cpu(&embedded_run)
        );
        by_process(&embedded_run);
        println!(
            "  1 instance, RabbitMQ + PostgreSQL    {one:>8.0} msg/s   {}",
            cpu(&one_run)
        );
        by_process(&one_run);
        println!(
            "  2 instances, RabbitMQ + PostgreSQL   {two:>8.0} msg/s   {}",
            cpu(&two_run)
        );
        by_process(&two_run);
        println!(
            "  raw lapin, confirms + acks           {raw_wire:>8.0} msg/s   {} at {wire_size} bytes (what the transport publishes: the id); {raw_payload:.0} msg/s, {:.0} µs at {payload_size} bytes",
            cpu(&raw_wire_run),
            raw_payload_run.cpu_us
        );
        by_process(&raw_wire_run);
        println!(
            "  delayed retries (503 with Retry-After: {RETRY_AFTER_S} s, waiting in the journal, relayed when due): {} re-attempted, at most p50 {} ms, p99 {} ms, max {} ms after their due time",
            retries.retried, retries.p50_ms, retries.p99_ms, retries.max_ms
        );
        println!(
            "  ratios: 1 instance / raw {:.2} ({:.2} at {payload_size} bytes), 2 instances / raw {:.2} ({:.2}), 2 / 1 instances {:.2}, 1 instance / embedded {:.2}",
            one / raw_wire,
            one / raw_payload,
            two / raw_wire,
            two / raw_payload,
            two / one,
            one / embedded
        );
        println!(
            "  targets: >= 3,000 msg/s with RabbitMQ + PostgreSQL: {}; >= 0.3 of the raw broker rate: {}",
            if best >= 3000.0 { "met" } else { "NOT met" },
            if best / raw_wire >= 0.3 {
                "met"
            } else {
                "NOT met"
            }
        );
    });
    drop(sandbox);
    Ok(ExitCode::SUCCESS)
}
