//! Accepted is not delivered: a receiver that confirms later (Digital Post, MedCom)
//! leaves the message open until its confirmation arrives or its deadline passes.

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::{Backend, fresh_database, start_sandbox};
use knudepunkt_engine::message::MessageState;
use knudepunkt_engine::{Adapter, AdapterRegistry, Delivery, DeliveryOutcome, Engine, Journal};
use serde_json::json;

/// Takes every message and promises a receipt within 400 ms.
struct ConfirmsLater;

#[async_trait]
impl Adapter for ConfirmsLater {
    fn name(&self) -> &'static str {
        "http"
    }

    async fn deliver(&self, d: &Delivery<'_>) -> DeliveryOutcome {
        DeliveryOutcome::Accepted {
            reply: None,
            external_ids: [(
                "envelope_id".to_string(),
                format!("ENV-{}", d.idempotency_key),
            )]
            .into(),
            confirm_within: Duration::from_millis(400),
        }
    }
}

async fn accepted_waits_for_its_confirmation(backend: Backend) {
    let sandbox = start_sandbox().await;
    let db = fresh_database(backend, "confirm").await;
    let mut adapters = AdapterRegistry::new();
    adapters.register(Arc::new(ConfirmsLater));
    let engine = Engine::new(
        Journal::open(&db).await.unwrap(),
        common::test_routes(sandbox.addr),
        adapters,
        common::quick_options(),
    );
    let workers = engine.start();

    let confirmed = common::submit(
        &engine,
        "test.notify",
        json!({"id": "k-1", "case_id": "SAG-3"}),
    )
    .await;
    let forgotten = common::submit(
        &engine,
        "test.notify",
        json!({"id": "k-2", "case_id": "SAG-4"}),
    )
    .await;
    for id in [confirmed, forgotten] {
        common::expect_state(
            engine.journal(),
            id,
            MessageState::Accepted,
            Duration::from_secs(5),
        )
        .await;
    }
    let receipt = [("receipt_id".to_string(), "R-1".to_string())].into();
    engine
        .journal()
        .confirm(confirmed, "positive receipt", &receipt)
        .await
        .unwrap();
    let m = engine.journal().get(confirmed).await.unwrap();
    assert_eq!(m.state, MessageState::Delivered);
    assert_eq!(
        m.external_ids.get("envelope_id").map(String::as_str),
        Some("ENV-k-1")
    );
    assert_eq!(
        m.external_ids.get("receipt_id").map(String::as_str),
        Some("R-1")
    );

    // No receipt: dead once the deadline passes, and the initiator is told.
    common::expect_state(
        engine.journal(),
        forgotten,
        MessageState::Dead,
        Duration::from_secs(5),
    )
    .await;
    let m = engine.journal().get(forgotten).await.unwrap();
    assert_eq!(m.last_error_kind.as_deref(), Some("deadline"));
    assert_eq!(
        m.attempts, 1,
        "the deadline is not a new attempt at the receiver"
    );
    let notes = engine.journal().open_notifications(10).await.unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n.message_id == forgotten && n.correlation_id.as_deref() == Some("SAG-4"))
    );
    // A late receipt for a dead message is refused, not applied.
    let err = engine
        .journal()
        .confirm(forgotten, "late receipt", &Default::default())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("only accepted messages can be confirmed"),
        "{err}"
    );
    engine.shutdown(workers).await;
}

on_both_backends!(accepted_waits_for_its_confirmation);
