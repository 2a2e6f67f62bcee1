//! Crash safety: 2,000 messages, the engine process SIGKILLed at random moments at least
//! 20 times and restarted. At the end the receiver has every idempotency key exactly
//! once (after its deduplication) and nothing is left pending or in flight.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Backend, fresh_database, start_sandbox};
use knudepunkt_adapters::sandbox::{Fault, FaultKind};
use knudepunkt_engine::message::MessageState;
use knudepunkt_engine::{Journal, Outbound};
use rand::Rng;
use serde_json::json;

const MESSAGES: usize = 2000;
const KILLS: usize = 20;

fn spawn_engine(root: &std::path::Path, db: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_knudepunkt"))
        .args(["serve", "--listen", "127.0.0.1:0", "--root"])
        .arg(root)
        .env("KNUDEPUNKT_DATABASE_URL", db)
        .env("KNUDEPUNKT_LEASE_MS", "1500")
        .env("KNUDEPUNKT_POLL_MS", "50")
        .env("KNUDEPUNKT_CONCURRENCY", "8")
        .env("KNUDEPUNKT_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the knudepunkt binary starts")
}

fn sigkill(child: &mut Child) {
    // SAFETY: kill(2) on a child we own; no memory is touched.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
    }
    let _ = child.wait();
}

async fn crash_safety(backend: Backend) {
    let sandbox = start_sandbox().await;
    // Each delivery takes a while, so kills land while messages are in flight.
    sandbox.handles.generic.faults.push(Fault {
        kind: FaultKind::Latency { ms: 15 },
        count: 1_000_000,
    });
    let db = fresh_database(backend, "crash").await;
    let root = common::engine_root("crash-root", sandbox.addr);

    // The submitting side: a library caller with its own engine handle, no workers.
    let journal = Journal::open(&db).await.unwrap();
    let submitter = common::submitter(&journal, sandbox.addr);
    let submitting = tokio::spawn(async move {
        for batch in 0..(MESSAGES / 50) {
            let mut tx = submitter.journal().begin().await.unwrap();
            for k in 0..50 {
                let ev = json!({"id": format!("crash-{}", batch * 50 + k)});
                submitter
                    .submit(
                        &mut tx,
                        Outbound {
                            route: "test.bulk",
                            event: &ev,
                        },
                    )
                    .await
                    .unwrap();
            }
            tx.commit().await.unwrap();
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    });

    let mut child = spawn_engine(&root, &db);
    let mut kills = 0;
    while kills < KILLS {
        let wait = rand::rng().random_range(80..400);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        sigkill(&mut child);
        kills += 1;
        child = spawn_engine(&root, &db);
    }
    submitting.await.unwrap();

    let counts = common::wait_all_delivered(
        &journal,
        "test.bulk",
        MESSAGES as i64,
        Duration::from_secs(180),
    )
    .await;
    sigkill(&mut child);
    assert_eq!(
        counts,
        vec![(MessageState::Delivered, MESSAGES as i64)],
        "every message delivered, none left pending or in flight"
    );
    let recorder = &sandbox.handles.generic.recorder;
    let stats = recorder.stats();
    for k in 0..MESSAGES {
        assert!(
            recorder.has_key(&format!("crash-{k}")),
            "receiver is missing crash-{k}"
        );
    }
    assert_eq!(stats.unique, MESSAGES as u64, "deduplicated count");
    println!(
        "{backend:?}: {kills} SIGKILLs; receiver got {} requests, {} unique, absorbed {} duplicate attempts",
        stats.accepted, stats.unique, stats.duplicates
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_survives_sigkill() {
    crash_safety(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_survives_sigkill() {
    crash_safety(Backend::Postgres).await
}
