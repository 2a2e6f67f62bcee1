//! Every fault the sandbox injects, set through its HTTP control API, is classified by
//! the HTTP adapter as transient: the engine redelivers and the message arrives once.

mod common;

use std::time::Duration;

use common::{Backend, engine, fresh_database, start_sandbox, wait_state};
use knudepunkt_adapters::sandbox::Stats;
use knudepunkt_engine::message::MessageState;
use serde_json::{Value, json};

async fn through_fault(fault: Value, expect_in_error: &str) {
    let sandbox = start_sandbox().await;
    let db = fresh_database(Backend::Sqlite, "faults").await;
    let engine = engine(&db, &sandbox).await;
    let workers = engine.start();
    let control = format!("http://{}/generic/_sandbox", sandbox.addr);
    let client = reqwest::Client::new();
    let resp = client
        .post(format!("{control}/faults"))
        .json(&fault)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{fault}");
    let pending: Value = client
        .get(format!("{control}/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pending.as_array().unwrap().len(), 1);

    let id = common::submit(&engine, "test.notify", json!({"id": "f-1", "text": "hej"})).await;
    let state = wait_state(
        engine.journal(),
        id,
        MessageState::Delivered,
        Duration::from_secs(15),
    )
    .await;
    assert_eq!(state, MessageState::Delivered, "{fault}");
    let history = engine.journal().history(id).await.unwrap();
    let failure = history
        .iter()
        .find(|t| t.to_state == MessageState::Retrying)
        .and_then(|t| t.detail.clone())
        .unwrap_or_default();
    assert!(failure.starts_with("transient:"), "{fault}: {failure}");
    assert!(
        failure.contains(expect_in_error),
        "{fault}: expected {expect_in_error:?} in {failure:?}"
    );
    assert_eq!(engine.journal().get(id).await.unwrap().attempts, 2);

    let stats: Stats = client
        .get(format!("{control}/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (stats.faulted, stats.unique, stats.duplicates),
        (1, 1, 0),
        "{fault}"
    );
    let received: Value = client
        .get(format!("{control}/received"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(received[0]["key"], "f-1");
    assert!(
        received[0]["body"]
            .as_str()
            .unwrap()
            .contains("<Text>hej</Text>")
    );
    engine.shutdown(workers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn server_error_with_retry_after() {
    through_fault(
        json!({"kind": "status", "status": 503, "retry_after": 1}),
        "answered 503",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn soap_server_fault() {
    through_fault(
        json!({"kind": "soap_fault", "code": "Server", "reason": "database locked"}),
        "database locked",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dropped_connection() {
    through_fault(json!({"kind": "drop"}), "connection closed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn truncated_body() {
    through_fault(json!({"kind": "truncate"}), "cut short").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn timeout() {
    through_fault(json!({"kind": "timeout", "ms": 3000}), "timed out").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn latency_alone_is_not_a_failure() {
    let sandbox = start_sandbox().await;
    let db = fresh_database(Backend::Sqlite, "latency").await;
    let engine = engine(&db, &sandbox).await;
    let workers = engine.start();
    let client = reqwest::Client::new();
    let control = format!("http://{}/generic/_sandbox", sandbox.addr);
    client
        .post(format!("{control}/faults"))
        .json(&json!({"kind": "latency", "ms": 300}))
        .send()
        .await
        .unwrap();
    let bad = client
        .post(format!("{control}/faults"))
        .body("{\"kind\": \"meteor\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400, "unknown faults are refused");
    let started = std::time::Instant::now();
    let id = common::submit(&engine, "test.notify", json!({"id": "slow"})).await;
    common::expect_state(
        engine.journal(),
        id,
        MessageState::Delivered,
        Duration::from_secs(5),
    )
    .await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(engine.journal().get(id).await.unwrap().attempts, 1);
    engine.shutdown(workers).await;
}
