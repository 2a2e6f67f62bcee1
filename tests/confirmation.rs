//! Accepted is not delivered: a receiver that confirms later (Digital Post, MedCom)
//! leaves the message open until its confirmation arrives or its deadline passes.

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::{Backend, fresh_database, start_sandbox};
use knudepunkt_engine::journal::Confirmation;
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

/// An engine on a fresh journal named `name` whose deliveries are all accepted, to be
/// confirmed later; and the sandbox its routes point at (kept alive by the caller).
async fn confirming_later(backend: Backend, name: &str) -> (common::Sandbox, Engine) {
    let sandbox = start_sandbox().await;
    let db = fresh_database(backend, name).await;
    let mut adapters = AdapterRegistry::new();
    adapters.register(Arc::new(ConfirmsLater));
    let engine = Engine::new(
        Journal::open(&db).await.unwrap(),
        common::test_routes(sandbox.addr),
        adapters,
        common::quick_options(),
    );
    (sandbox, engine)
}

async fn accepted_waits_for_its_confirmation(backend: Backend) {
    let (_sandbox, engine) = confirming_later(backend, "confirm").await;
    let workers = engine.start();

    let ids = accepted(&engine, &[("k-1", "SAG-3"), ("k-2", "SAG-4")]).await;
    let (confirmed, forgotten) = (ids[0], ids[1]);
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

/// Messages sent on test.notify, by (id, case id), each once the receiver has accepted it.
async fn accepted(engine: &Engine, messages: &[(&str, &str)]) -> Vec<knudepunkt_engine::MessageId> {
    let mut ids = Vec::new();
    for (id, case) in messages {
        let id = common::submit(engine, "test.notify", json!({"id": id, "case_id": case})).await;
        common::expect_state(
            engine.journal(),
            id,
            MessageState::Accepted,
            Duration::from_secs(5),
        )
        .await;
        ids.push(id);
    }
    ids
}

/// Confirmations that arrive together are written together by the journal writer, yet
/// each gets its own answer: one for an unknown message or one already settled fails
/// alone, and the others are applied whole.
async fn confirmations_together_are_answered_each(backend: Backend) {
    let (_sandbox, engine) = confirming_later(backend, "confirm-many").await;
    let workers = engine.start();
    let ids = accepted(
        &engine,
        &[
            ("m-0", "SAG-9"),
            ("m-1", "SAG-9"),
            ("m-2", "SAG-9"),
            ("m-3", "SAG-9"),
        ],
    )
    .await;
    // The last is settled before the burst.
    engine
        .confirm(ids[3], "first receipt", &Default::default())
        .await
        .unwrap();
    let unknown = knudepunkt_engine::MessageId::new();
    let receipts: Vec<knudepunkt_engine::message::ExternalIds> = (0..5)
        .map(|k| [("receipt_id".to_string(), format!("R-{k}"))].into())
        .collect();
    let (a, b, c, again, missing) = tokio::join!(
        engine.confirm(ids[0], "receipt", &receipts[0]),
        engine.confirm(ids[1], "receipt", &receipts[1]),
        engine.confirm(ids[2], "receipt", &receipts[2]),
        engine.confirm(ids[3], "second receipt", &receipts[3]),
        engine.confirm(unknown, "receipt", &receipts[4]),
    );
    for r in [a, b, c] {
        r.unwrap();
    }
    let again = again.unwrap_err().to_string();
    assert!(
        again.contains("only accepted messages can be confirmed"),
        "{again}"
    );
    let missing = missing.unwrap_err().to_string();
    assert!(missing.contains(&unknown.to_string()), "{missing}");
    for (k, id) in ids.iter().enumerate().take(3) {
        let m = engine.journal().get(*id).await.unwrap();
        assert_eq!(m.state, MessageState::Delivered);
        assert_eq!(
            m.external_ids.get("receipt_id").map(String::as_str),
            Some(format!("R-{k}").as_str())
        );
        assert_eq!(
            m.external_ids.get("envelope_id").map(String::as_str),
            Some(format!("ENV-m-{k}").as_str()),
            "the ids it was accepted with are kept"
        );
    }
    let settled = engine.journal().get(ids[3]).await.unwrap();
    assert!(
        !settled.external_ids.contains_key("receipt_id"),
        "a second receipt for a delivered message changes nothing"
    );
    engine.shutdown(workers).await;
}

/// One batch naming a message twice: the first settles it, the second is told it is
/// delivered already, and the history has one step.
async fn a_batch_confirming_twice_settles_once(backend: Backend) {
    let (_sandbox, engine) = confirming_later(backend, "confirm-twice").await;
    let workers = engine.start();
    let ids = accepted(&engine, &[("t-0", "SAG-10"), ("t-1", "SAG-10")]).await;
    let confirmation = |id, receipt: &str| Confirmation {
        id,
        detail: format!("receipt {receipt}"),
        ids: [("receipt_id".to_string(), receipt.to_string())].into(),
    };
    let results = engine
        .journal()
        .confirm_many(&[
            confirmation(ids[0], "R-1"),
            confirmation(ids[0], "R-2"),
            confirmation(ids[1], "R-3"),
        ])
        .await;
    assert_eq!(results.len(), 3);
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    let twice = results[1].as_ref().unwrap_err().to_string();
    assert!(twice.contains("is delivered"), "{twice}");
    let first = engine.journal().get(ids[0]).await.unwrap();
    assert_eq!(first.state, MessageState::Delivered);
    assert_eq!(
        first.external_ids.get("receipt_id").map(String::as_str),
        Some("R-1"),
        "the second confirmation changed nothing"
    );
    let steps = engine.journal().history(ids[0]).await.unwrap();
    let delivered: Vec<_> = steps
        .iter()
        .filter(|t| t.to_state == MessageState::Delivered)
        .collect();
    assert_eq!(delivered.len(), 1, "{steps:?}");
    assert_eq!(delivered[0].detail.as_deref(), Some("receipt R-1"));
    engine.shutdown(workers).await;
}

on_both_backends!(
    accepted_waits_for_its_confirmation,
    confirmations_together_are_answered_each,
    a_batch_confirming_twice_settles_once
);
