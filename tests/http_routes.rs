//! Inbound HTTP routes (synchronous and asynchronous), problem+json errors back to the
//! caller, the operator API, /metrics and /readyz, over real loopback HTTP.

mod common;

use std::time::Duration;

use common::{Backend, engine, fresh_database, start_sandbox, wait_state};
use knudepunkt_adapters::sandbox::{Fault, FaultKind};
use knudepunkt_engine::message::MessageState;
use serde_json::{Value, json};

struct Server {
    base: String,
    engine: knudepunkt_engine::Engine,
    sandbox: common::Sandbox,
    client: reqwest::Client,
}

async fn server() -> Server {
    let sandbox = start_sandbox().await;
    let db = fresh_database(Backend::Sqlite, "http").await;
    let engine = engine(&db, &sandbox).await;
    let _workers = engine.start();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = knudepunkt_engine::server::router(engine.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server {
        base: format!("http://{addr}"),
        engine,
        sandbox,
        client: reqwest::Client::new(),
    }
}

impl Server {
    async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    /// The generic receiver answers `status` to the next `count` requests.
    fn fail_next(&self, status: u16, count: u32) {
        self.sandbox.handles.generic.faults.push(Fault {
            kind: FaultKind::Status {
                status,
                retry_after: None,
            },
            count,
        });
    }
}

async fn problem(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    assert_eq!(
        resp.headers().get("content-type").unwrap(),
        "application/problem+json",
        "errors are RFC 9457 problems"
    );
    (status, resp.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sync_route_answers_with_the_receivers_reply() {
    let s = server().await;
    let resp = s
        .post("/in/test/sync", &json!({"id": "s-1", "text": "hej"}))
        .await;
    assert_eq!(resp.status(), 200);
    let id = resp
        .headers()
        .get("x-knudepunkt-message-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["received"], "s-1",
        "the receiver's own answer is passed back"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let msg = s.engine.journal().get(id.parse().unwrap()).await.unwrap();
    assert_eq!(msg.state, MessageState::Delivered, "journaled as delivered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sync_route_retries_within_its_deadline_then_gives_a_problem() {
    let s = server().await;
    // Two 503s are absorbed within the deadline.
    s.fail_next(503, 2);
    let resp = s.post("/in/test/sync", &json!({"id": "s-2"})).await;
    assert_eq!(resp.status(), 200);

    // A receiver that keeps failing exhausts the 1.5 s deadline: 504, message dead.
    s.fail_next(503, 1000);
    let started = std::time::Instant::now();
    let resp = s.post("/in/test/sync", &json!({"id": "s-3"})).await;
    let (status, p) = problem(resp).await;
    assert_eq!(status, 504);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered near its deadline"
    );
    assert!(p["detail"].as_str().unwrap().contains("deadline"), "{p}");
    let id = p["message_id"].as_str().unwrap().parse().unwrap();
    let msg = s.engine.journal().get(id).await.unwrap();
    assert!(msg.attempts >= 3, "{}", msg.attempts);
    common::expect_state(
        s.engine.journal(),
        id,
        MessageState::Dead,
        Duration::from_secs(2),
    )
    .await;
    s.sandbox.handles.generic.faults.clear();

    // A refusal (400) is passed back as 502 naming the receiver's answer.
    s.fail_next(400, 1);
    let resp = s.post("/in/test/sync", &json!({"id": "s-4"})).await;
    let (status, p) = problem(resp).await;
    assert_eq!(status, 502);
    assert!(
        p["detail"].as_str().unwrap().contains("answered 400"),
        "{p}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn async_route_answers_202_and_delivers() {
    let s = server().await;
    let resp = s.post("/in/test/async", &json!({"id": "a-1"})).await;
    assert_eq!(resp.status(), 202);
    let body: Value = resp.json().await.unwrap();
    let id = body["id"].as_str().unwrap().parse().unwrap();
    common::expect_state(
        s.engine.journal(),
        id,
        MessageState::Delivered,
        Duration::from_secs(5),
    )
    .await;
    // The same event again is recognised, not sent twice.
    let resp = s.post("/in/test/async", &json!({"id": "a-1"})).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["duplicate"], true);

    // The operator API shows it with its history.
    let resp = s.get(&format!("/api/v1/messages/{id}")).await;
    assert_eq!(problem(resp).await.0, 400, "reads must say who and why");
    let shown: Value = s
        .client
        .get(format!("{}/api/v1/messages/{id}", s.base))
        .header("x-knudepunkt-user", "caseworker-17")
        .header("x-knudepunkt-purpose", "SAG-2026-0042 complaint")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let reads = s.engine.journal().reads_of(id).await.unwrap();
    assert_eq!(reads.len(), 1, "one audited read");
    assert_eq!(
        (reads[0].reader.as_str(), reads[0].channel.as_str()),
        ("caseworker-17", "api")
    );
    assert_eq!(reads[0].purpose, "SAG-2026-0042 complaint");
    assert_eq!(shown["message"]["state"], "delivered");
    let states: Vec<&str> = shown["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["to_state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["received", "pending", "in_flight", "delivered"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_gets_a_clear_problem() {
    let s = server().await;
    let resp = s
        .client
        .post(format!("{}/in/test/async", s.base))
        .header("content-type", "application/json")
        .body("{\"id\": \"x\",\n \"text\": }")
        .send()
        .await
        .unwrap();
    let (status, p) = problem(resp).await;
    assert_eq!(status, 400);
    assert!(p["detail"].as_str().unwrap().contains("line 2"), "{p}");

    let big = json!({"id": "big", "text": "x".repeat(4096)});
    let resp = s
        .client
        .post(format!("{}/in/test/sync", s.base))
        .json(&big)
        .send()
        .await
        .unwrap();
    let (status, p) = problem(resp).await;
    assert_eq!(status, 413);
    assert!(p["detail"].as_str().unwrap().contains("2048 bytes"), "{p}");

    let resp = s.post("/in/nowhere", &json!({})).await;
    let (status, _) = problem(resp).await;
    assert_eq!(status, 404);

    // An event the template cannot render: 422, and nothing journaled.
    let resp = s.post("/in/test/async", &json!({"text": "no id"})).await;
    let (status, p) = problem(resp).await;
    assert_eq!(status, 422);
    assert!(p["detail"].as_str().unwrap().contains("event.id"), "{p}");
    assert!(
        s.engine
            .journal()
            .count_by_state(None)
            .await
            .unwrap()
            .is_empty()
    );

    let resp = s.get("/api/v1/messages/not-a-uuid").await;
    assert_eq!(problem(resp).await.0, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_health_and_dlq_api() {
    let s = server().await;
    s.fail_next(422, 1);
    let resp = s.post("/in/test/async", &json!({"id": "m-1"})).await;
    let id: knudepunkt_engine::MessageId = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    wait_state(
        s.engine.journal(),
        id,
        MessageState::Dead,
        Duration::from_secs(5),
    )
    .await;
    s.post("/in/test/async", &json!({"id": "m-2"})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let notes: Value = s.get("/api/v1/notifications").await.json().await.unwrap();
    assert_eq!(
        notes.as_array().unwrap().len(),
        1,
        "the initiator is told: {notes}"
    );
    assert_eq!(notes[0]["message_id"], id.to_string());
    let note_id = notes[0]["id"].as_i64().unwrap();
    let resp = s
        .post("/api/v1/notifications/ack", &json!({"ids": [note_id]}))
        .await;
    assert_eq!(resp.status(), 204);
    let notes: Value = s.get("/api/v1/notifications").await.json().await.unwrap();
    assert!(notes.as_array().unwrap().is_empty());

    let dlq: Value = s.get("/api/v1/dlq").await.json().await.unwrap();
    assert_eq!(dlq.as_array().unwrap().len(), 1);
    let resp = s
        .post(&format!("/api/v1/dlq/{id}/discard"), &json!({}))
        .await;
    assert_eq!(problem(resp).await.0, 400, "discarding needs a reason");
    let resp = s
        .post(
            &format!("/api/v1/dlq/{id}/replay"),
            &json!({"by": "operator"}),
        )
        .await;
    assert_eq!(resp.status(), 202);
    common::expect_state(
        s.engine.journal(),
        id,
        MessageState::Delivered,
        Duration::from_secs(5),
    )
    .await;
    let resp = s
        .client
        .post(format!("{}/api/v1/dlq/{id}/replay", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(resp).await.0, 409, "only dead messages replay");

    let metrics = s.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("knudepunkt_messages_delivered_total{route=\"test.async\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("knudepunkt_messages_dead_total{route=\"test.async\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("knudepunkt_delivery_latency_seconds_bucket"),
        "{metrics}"
    );
    assert!(metrics.contains("knudepunkt_backlog_messages"), "{metrics}");

    assert_eq!(s.get("/healthz").await.status(), 200);
    let ready: Value = s.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["journal"], "ok");
    assert!(
        ready["schemas"].as_str().unwrap().contains("OFF"),
        "tests load routes without schemas: {ready}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_receiver_cannot_hold_a_sync_caller_past_its_deadline() {
    let s = server().await;
    s.sandbox.handles.generic.faults.push(Fault {
        kind: FaultKind::Latency { ms: 5000 },
        count: 100,
    });
    let started = std::time::Instant::now();
    let resp = s.post("/in/test/sync", &json!({"id": "slow-1"})).await;
    let (status, p) = problem(resp).await;
    assert_eq!(status, 504);
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "answered at its 1.5 s deadline, not after the receiver's 5 s: {:?}",
        started.elapsed()
    );
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("before the caller's deadline"),
        "{p}"
    );
    let id = p["message_id"].as_str().unwrap().parse().unwrap();
    let m = s.engine.journal().get(id).await.unwrap();
    common::expect_state(
        s.engine.journal(),
        id,
        MessageState::Dead,
        Duration::from_secs(2),
    )
    .await;
    // The first attempt hits the endpoint's 1 s timeout and is retried; the second is
    // cut off by the caller's 1.5 s deadline.
    assert_eq!(m.attempts, 2);
}
