//! Scale-out: engine instances (`knudepunkt serve` processes) sharing one PostgreSQL
//! journal and distributing work through RabbitMQ (`KNUDEPUNKT_AMQP_URL`), against the
//! real servers scripts/test-all starts. Every message must reach the receiver exactly
//! once after its deduplication, with nothing left in the journal or the queue: with
//! two instances at work, with one SIGKILLed or stopped with SIGTERM mid-run, with
//! RabbitMQ or PostgreSQL restarted mid-run. A poison message is dead-lettered, not
//! requeued forever.
//!
//! The tests stop and start the shared servers, so they run one at a time; each has a
//! RabbitMQ virtual host and a database of its own.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use common::{Backend, Sandbox, fresh_database, repo, start_sandbox};
use futures::StreamExt;
use knudepunkt_adapters::sandbox::{Fault, FaultKind};
use knudepunkt_engine::message::MessageState;
use knudepunkt_engine::transport::{self, AmqpOptions};
use knudepunkt_engine::{
    Adapter, Delivery, DeliveryOutcome, Engine, EngineOptions, Journal, Outbound,
};
use lapin::types::AMQPValue;
use serde_json::json;
use sqlx::Row;

/// One test at a time: they restart the servers the others use.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn amqp_base() -> String {
    std::env::var("KNUDEPUNKT_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// Runs an administration command as root (scripts/test-all runs as root; else sudo).
fn admin(cmd: &str, args: &[&str]) -> std::process::Output {
    let root = unsafe { libc::geteuid() } == 0;
    let mut c = if root {
        Command::new(cmd)
    } else {
        let mut c = Command::new("sudo");
        c.arg(cmd);
        c
    };
    c.args(args).output().unwrap_or_else(|e| {
        panic!("{cmd} is needed for this test (scripts/test-all installs it): {e}")
    })
}

/// A fresh virtual host for guest; the broker URL on it.
fn fresh_vhost(name: &str) -> String {
    let vhost = format!("kp_{name}_{}", uuid::Uuid::now_v7().simple());
    let out = admin("rabbitmqctl", &["-q", "add_vhost", &vhost]);
    assert!(
        out.status.success(),
        "rabbitmqctl add_vhost: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = admin(
        "rabbitmqctl",
        &[
            "-q",
            "set_permissions",
            "-p",
            &vhost,
            "guest",
            ".*",
            ".*",
            ".*",
        ],
    );
    assert!(out.status.success());
    let base = amqp_base();
    format!("{}/{vhost}", base.rsplit_once('/').unwrap().0)
}

fn drop_vhost(url: &str) {
    let vhost = url.rsplit_once('/').unwrap().1;
    let _ = admin("rabbitmqctl", &["-q", "delete_vhost", vhost]);
}

struct Instance {
    child: Child,
    log: PathBuf,
}

impl Instance {
    fn spawn(root: &Path, db: &str, amqp: &str, n: usize) -> Instance {
        let log = root.join(format!("instance-{n}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_knudepunkt"))
            .args(["serve", "--listen", "127.0.0.1:0", "--root"])
            .arg(root)
            .env("KNUDEPUNKT_DATABASE_URL", db)
            .env("KNUDEPUNKT_AMQP_URL", amqp)
            .env("KNUDEPUNKT_AMQP_PREFETCH", "32")
            // A broker message lost is handed over again after this (5 minutes in
            // production): within the test's time.
            .env("KNUDEPUNKT_AMQP_STALE_MS", "15000")
            .env("KNUDEPUNKT_LEASE_MS", "5000")
            .env("KNUDEPUNKT_CONCURRENCY", "32")
            .env("KNUDEPUNKT_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("the knudepunkt binary starts");
        Instance { child, log }
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on a child we own; no memory is touched.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    fn sigkill(mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.child.wait();
    }

    /// SIGTERM, and a successful exit within `within` (the log is shown otherwise).
    async fn sigterm(mut self, within: Duration) {
        self.signal(libc::SIGTERM);
        let until = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                assert!(
                    status.success(),
                    "exit status after SIGTERM: {status}; the instance's log:\n{log}"
                );
                return;
            }
            if Instant::now() > until {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                self.sigkill();
                panic!("the instance did not stop within {within:?} of SIGTERM; its log:\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.signal(libc::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

/// The servers and the submitting side of one test.
struct Run {
    sandbox: Sandbox,
    db: String,
    amqp: String,
    root: PathBuf,
    journal: Journal,
    submitter: Engine,
}

impl Run {
    async fn new(name: &str, latency_ms: u64) -> Run {
        let sandbox = start_sandbox().await;
        if latency_ms > 0 {
            // Deliveries take a while, so that what happens mid-run finds work in flight.
            sandbox.handles.generic.faults.push(Fault {
                kind: FaultKind::Latency { ms: latency_ms },
                count: 1_000_000,
            });
        }
        let db = fresh_database(Backend::Postgres, name).await;
        let amqp = fresh_vhost(name);
        let root = common::engine_root("scale-root", sandbox.addr);
        let journal = Journal::open(&db).await.unwrap();
        let submitter = common::submitter(&journal, sandbox.addr);
        Run {
            sandbox,
            db,
            amqp,
            root,
            journal,
            submitter,
        }
    }

    /// Starts instance `n` and waits until it serves (its log is shown if it exits).
    async fn instance(&self, n: usize) -> Instance {
        let mut instance = Instance::spawn(&self.root, &self.db, &self.amqp, n);
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let log = std::fs::read_to_string(&instance.log).unwrap_or_default();
            if log.contains("knudepunkt serving on") {
                return instance;
            }
            if let Some(status) = instance.child.try_wait().unwrap() {
                panic!("instance {n} exited ({status}) before serving; its log:\n{log}");
            }
            assert!(
                Instant::now() < until,
                "instance {n} did not serve within a minute; its log:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Journals `n` messages on test.bulk through the outbox, 500 per transaction.
    async fn submit(&self, prefix: &str, n: usize) {
        for start in (0..n).step_by(500) {
            let events: Vec<_> = (start..(start + 500).min(n))
                .map(
                    |k| json!({"id": format!("{prefix}-{k}"), "text": "Bevilling af hjælpemiddel"}),
                )
                .collect();
            let mut tx = self.journal.begin().await.unwrap();
            self.submitter
                .submit_many(&mut tx, "test.bulk", &events)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
    }

    /// Waits until the receiver has `at_least` distinct messages.
    async fn wait_received(&self, at_least: u64, within: Duration) {
        let until = Instant::now() + within;
        while self.sandbox.handles.generic.recorder.stats().unique < at_least {
            assert!(
                Instant::now() < until,
                "the receiver got only {} of {at_least} within {within:?}",
                self.sandbox.handles.generic.recorder.stats().unique
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until all `n` messages are delivered in the journal, then checks that the
    /// receiver has each exactly once and that the route's queue is empty.
    async fn expect_exactly_once(&self, prefix: &str, n: usize, within: Duration, logs: &[&Path]) {
        let counts = common::wait_all_delivered(&self.journal, "test.bulk", n as i64, within).await;
        if counts != vec![(MessageState::Delivered, n as i64)] {
            for log in logs {
                eprintln!(
                    "--- {}\n{}",
                    log.display(),
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            panic!("not every message was delivered: {counts:?}");
        }
        let recorder = &self.sandbox.handles.generic.recorder;
        for k in 0..n {
            assert!(
                recorder.has_key(&format!("{prefix}-{k}")),
                "the receiver is missing {prefix}-{k}"
            );
        }
        let stats = recorder.stats();
        assert_eq!(stats.unique, n as u64, "distinct messages at the receiver");
        // Acks travel after the outcome is committed: the queue empties shortly after.
        let until = Instant::now() + Duration::from_secs(15);
        loop {
            let depths = transport::status::queue_depths(&self.amqp, &["test.bulk".into()])
                .await
                .unwrap();
            if depths[0].messages == 0 {
                break;
            }
            assert!(
                Instant::now() < until,
                "messages left in the queue: {depths:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// How many claims each instance made (the history notes who claimed).
    async fn claims_by_instance(&self) -> Vec<(String, i64)> {
        sqlx::query(
            "SELECT detail, COUNT(*) AS n FROM message_transitions WHERE to_state = 'in_flight' \
             AND detail IS NOT NULL GROUP BY detail ORDER BY detail",
        )
        .fetch_all(self.journal.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| (r.try_get("detail").unwrap(), r.try_get("n").unwrap()))
        .collect()
    }

    fn finish(self) {
        drop_vhost(&self.amqp);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_share_ten_thousand_messages() {
    let _serial = SERIAL.lock().await;
    const N: usize = 10_000;
    let run = Run::new("share", 2).await;
    let (a, b) = tokio::join!(run.instance(1), run.instance(2));
    run.submit("share", N).await;
    run.wait_received(N as u64 / 2, Duration::from_secs(120))
        .await;

    // Mid-run, `knudepunkt status` lists both instances and the queue's two consumers.
    let (ok, out, err) = common::cli_with(
        &["--json", "status"],
        &run.db,
        &run.root,
        &[("KNUDEPUNKT_AMQP_URL", &run.amqp)],
    );
    assert!(ok, "{err}");
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    let instances = status["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 2, "{status:#}");
    assert!(instances.iter().all(|i| i["transport"] == "rabbitmq"));
    let bulk = status["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "knudepunkt.route.test.bulk")
        .expect("the route's queue is listed");
    assert_eq!(bulk["consumers"], 2, "{status:#}");

    run.expect_exactly_once("share", N, Duration::from_secs(180), &[&a.log, &b.log])
        .await;
    let claims = run.claims_by_instance().await;
    assert_eq!(claims.len(), 2, "both instances claimed work: {claims:?}");
    for (instance, n) in &claims {
        assert!(
            *n >= N as i64 / 10,
            "instance {instance} did only {n} of {N}: {claims:?}"
        );
    }
    // Both stop cleanly on SIGTERM and leave the register.
    a.sigterm(Duration::from_secs(30)).await;
    b.sigterm(Duration::from_secs(30)).await;
    let left = run.journal.instances(0).await.unwrap();
    assert!(left.is_empty(), "instances still registered: {left:?}");
    // Every delivery was acked (gathered into acks with `multiple`, or one by one): an
    // unacked one would come back to the queue once the instances' channels closed.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let depths = transport::status::queue_depths(&run.amqp, &["test.bulk".into()])
            .await
            .unwrap();
        assert_eq!(depths[0].messages, 0, "back in the queue: {depths:?}");
    }
    println!("claims per instance: {claims:?}");
    run.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_instance_killed_mid_run_loses_and_duplicates_nothing() {
    let _serial = SERIAL.lock().await;
    const N: usize = 4_000;
    let run = Run::new("sigkill", 10).await;
    let (a, b) = tokio::join!(run.instance(1), run.instance(2));
    run.submit("kill", N).await;
    run.wait_received(N as u64 / 3, Duration::from_secs(120))
        .await;
    let log_a = a.log.clone();
    a.sigkill();
    run.expect_exactly_once("kill", N, Duration::from_secs(180), &[&log_a, &b.log])
        .await;
    let stats = run.sandbox.handles.generic.recorder.stats();
    println!(
        "SIGKILL: the receiver got {} requests, {} distinct, absorbed {} duplicate attempts",
        stats.accepted, stats.unique, stats.duplicates
    );
    drop(b);
    run.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_finishes_in_flight_work_and_hands_back_the_rest() {
    let _serial = SERIAL.lock().await;
    const N: usize = 3_000;
    let run = Run::new("sigterm", 10).await;
    let (a, b) = tokio::join!(run.instance(1), run.instance(2));
    run.submit("term", N).await;
    run.wait_received(N as u64 / 3, Duration::from_secs(120))
        .await;
    a.sigterm(Duration::from_secs(30)).await;
    run.expect_exactly_once("term", N, Duration::from_secs(180), &[&b.log])
        .await;
    // What was in flight finished and was acked; what was prefetched went back
    // unclaimed: nothing was sent twice.
    let stats = run.sandbox.handles.generic.recorder.stats();
    assert_eq!(
        stats.duplicates, 0,
        "a graceful stop sends nothing twice: {stats:?}"
    );
    drop(b);
    run.finish();
}

/// The pid of the running RabbitMQ node.
fn rabbitmq_pid() -> i32 {
    let dir = std::fs::read_dir("/var/lib/rabbitmq/mnesia").expect("RabbitMQ's data directory");
    for entry in dir.flatten() {
        if entry.path().extension().is_some_and(|e| e == "pid") {
            return std::fs::read_to_string(entry.path())
                .unwrap()
                .trim()
                .parse()
                .unwrap();
        }
    }
    panic!("RabbitMQ is not running (no pid file)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broker_restart_mid_run_loses_and_duplicates_nothing() {
    let _serial = SERIAL.lock().await;
    const N: usize = 4_000;
    let run = Run::new("broker", 10).await;
    let (a, b) = tokio::join!(run.instance(1), run.instance(2));
    run.submit("broker", N).await;
    run.wait_received(N as u64 / 3, Duration::from_secs(120))
        .await;
    // Stop the broker by its pid, wait until it is gone, and start it again.
    let pid = rabbitmq_pid();
    // SAFETY: kill(2) with a pid; no memory is touched.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let until = Instant::now() + Duration::from_secs(60);
    while unsafe { libc::kill(pid, 0) } == 0 {
        assert!(Instant::now() < until, "RabbitMQ did not stop");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let during = run.sandbox.handles.generic.recorder.stats().unique;
    let out = Command::new("bash")
        .arg(repo().join("scripts/rabbitmq"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scripts/rabbitmq: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    run.expect_exactly_once("broker", N, Duration::from_secs(240), &[&a.log, &b.log])
        .await;
    let claims = run.claims_by_instance().await;
    println!("broker restart after {during} of {N}; claims per instance: {claims:?}");
    drop((a, b));
    run.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_restart_mid_run_loses_and_duplicates_nothing() {
    let _serial = SERIAL.lock().await;
    const N: usize = 4_000;
    let run = Run::new("pgrestart", 10).await;
    let (a, b) = tokio::join!(run.instance(1), run.instance(2));
    run.submit("pg", N).await;
    run.wait_received(N as u64 / 3, Duration::from_secs(120))
        .await;
    let version = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed")
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .max_by_key(|v| v.parse::<u32>().unwrap_or(0))
        .unwrap();
    let out = admin(
        "pg_ctlcluster",
        &[
            "--skip-systemctl-redirect",
            &version,
            "main",
            "restart",
            "-m",
            "fast",
        ],
    );
    assert!(
        out.status.success(),
        "pg_ctlcluster restart: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    run.expect_exactly_once("pg", N, Duration::from_secs(240), &[&a.log, &b.log])
        .await;
    drop((a, b));
    run.finish();
}

/// The HTTP adapter, except that a message whose payload says POISON crashes it.
struct Crashing(Arc<dyn Adapter>);

#[async_trait]
impl Adapter for Crashing {
    fn name(&self) -> &'static str {
        "http"
    }

    async fn deliver(&self, delivery: &Delivery<'_>) -> DeliveryOutcome {
        if String::from_utf8_lossy(delivery.payload).contains("POISON") {
            panic!("the adapter cannot handle message {}", delivery.message_id);
        }
        self.0.deliver(delivery).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_poison_message_is_dead_lettered_not_requeued_forever() {
    let _serial = SERIAL.lock().await;
    let sandbox = start_sandbox().await;
    let db = fresh_database(Backend::Postgres, "poison").await;
    let amqp = fresh_vhost("poison");
    let journal = Journal::open(&db).await.unwrap();
    let mut adapters = knudepunkt_adapters::registry();
    let http = adapters.get("http").unwrap().clone();
    adapters.register(Arc::new(Crashing(http)));
    let engine = Engine::new(
        journal.clone(),
        common::test_routes(sandbox.addr),
        adapters,
        EngineOptions {
            amqp: Some(AmqpOptions {
                url: amqp.clone(),
                prefetch: 8,
                stale_after: Duration::from_secs(300),
            }),
            ..common::quick_options()
        },
    );
    let workers = engine.start();

    // An operator's queue on the dead-letter exchange, bound before anything dies.
    let conn = lapin::Connection::connect(&amqp, lapin::ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    ch.exchange_declare(
        transport::DEAD_EXCHANGE.into(),
        lapin::ExchangeKind::Topic,
        lapin::options::ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        },
        Default::default(),
    )
    .await
    .unwrap();
    let watch = ch
        .queue_declare(
            "".into(),
            lapin::options::QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .unwrap();
    ch.queue_bind(
        watch.name().clone(),
        transport::DEAD_EXCHANGE.into(),
        "#".into(),
        Default::default(),
        Default::default(),
    )
    .await
    .unwrap();
    let mut dead = ch
        .basic_consume(
            watch.name().clone(),
            "test".into(),
            lapin::options::BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .unwrap();

    let poison = engine
        .submit_now(Outbound {
            route: "test.notify",
            event: &json!({"id": "poison-1", "text": "POISON"}),
        })
        .await
        .unwrap()
        .id()
        .unwrap();
    let good = engine
        .submit_now(Outbound {
            route: "test.notify",
            event: &json!({"id": "good-1", "text": "Afgørelse"}),
        })
        .await
        .unwrap()
        .id()
        .unwrap();
    common::expect_state(
        &journal,
        good,
        MessageState::Delivered,
        Duration::from_secs(30),
    )
    .await;
    common::expect_state(
        &journal,
        poison,
        MessageState::Dead,
        Duration::from_secs(60),
    )
    .await;
    let m = journal.get(poison).await.unwrap();
    let why = m.last_error.clone().unwrap_or_default();
    assert!(why.starts_with("poison: 6 attempts"), "{why}");
    assert_eq!(
        m.attempts, 7,
        "six crashed attempts, then dead at the seventh claim"
    );

    // The broker message went to the dead-letter exchange, rejected, with the id.
    let d = tokio::time::timeout(Duration::from_secs(10), dead.next())
        .await
        .expect("a message on the dead-letter exchange")
        .unwrap()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&d.data), poison.to_string());
    let headers = d.properties.headers().clone().unwrap_or_default();
    let (reason, queue) = match headers.inner().get("x-death") {
        Some(AMQPValue::FieldArray(deaths)) => match deaths.as_slice().first() {
            Some(AMQPValue::FieldTable(death)) => {
                let text = |k: &str| match death.inner().get(k) {
                    Some(AMQPValue::LongString(s)) => s.to_string(),
                    other => format!("{other:?}"),
                };
                (text("reason"), text("queue"))
            }
            other => panic!("x-death holds {other:?}"),
        },
        other => panic!("no x-death header: {other:?}"),
    };
    assert_eq!(reason, "rejected");
    assert_eq!(queue, "knudepunkt.route.test.notify");
    // And it stays there: nothing comes back to the route's queue.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let depths = transport::status::queue_depths(&amqp, &["test.notify".into()])
        .await
        .unwrap();
    assert_eq!(depths[0].messages, 0, "{depths:?}");
    assert!(sandbox.handles.generic.recorder.has_key("good-1"));
    assert!(!sandbox.handles.generic.recorder.has_key("poison-1"));

    engine.shutdown(workers).await;
    let _ = conn.close(200, "OK".into()).await;
    drop_vhost(&amqp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_starting_together_on_a_fresh_database_all_start() {
    // Instances started at once (a deployment's replicas) migrate one at a time; none
    // fails on the other's half-made tables.
    for round in 0..10 {
        let db = fresh_database(Backend::Postgres, &format!("together{round}")).await;
        let opened = futures::future::join_all((0..8).map(|_| Journal::open(&db))).await;
        for (i, j) in opened.into_iter().enumerate() {
            let journal = j.unwrap_or_else(|e| panic!("instance {i} of round {round}: {e}"));
            journal.close().await;
        }
    }
}
