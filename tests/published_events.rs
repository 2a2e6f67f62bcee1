//! The events Knudepunkt publishes for other systems (B3.199), against the local
//! RabbitMQ that scripts/rabbitmq starts: a plain lapin consumer binds a queue of its own
//! to the exchange `knudepunkt.events` and receives what happens to a case — created,
//! a document added, moved on — as Knudepunkt's event document with the case id and
//! the type as routing key, the message id a subscriber deduplicates by, the case as
//! correlation id; never the citizen's CPR, and nothing of a confidential case.

mod common;

use std::time::Duration;

use common::Backend;
use common::case::open_case;
use futures::StreamExt;
use knudepunkt_adapters::events::EXCHANGE;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use serde_json::{Value, json};

fn broker_url() -> String {
    std::env::var("KNUDEPUNKT_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_external_consumer_receives_published_case_events() {
    // The subscriber: a queue of its own, bound to case events and added documents.
    let conn = knudepunkt_adapters::beskedfordeler::connect(&broker_url())
        .await
        .expect("the RabbitMQ that scripts/rabbitmq starts");
    let channel = conn.create_channel().await.unwrap();
    channel
        .exchange_declare(
            EXCHANGE.into(),
            lapin::ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let queue = channel
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    for key in ["case.#", "document.added"] {
        channel
            .queue_bind(
                queue.name().clone(),
                EXCHANGE.into(),
                key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
    }
    let mut consumer = channel
        .basic_consume(
            queue.name().clone(),
            "test-subscriber".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();

    let w =
        common::case::ApiWorld::start(Backend::Sqlite, "published_events", "routes-events").await;
    let c = w.as_user("leder1");
    let secret = open_case(&c, true).await;
    let case = open_case(&c, false).await;
    c.create(
        &format!("/api/v1/cases/{case}/documents"),
        json!({"title": "Ansøgning", "doc_type": "Ansøgning", "content": "JVBERi0xLjQK"}),
    )
    .await;
    let (s, _) = c
        .post(
            &format!("/api/v1/cases/{case}/status"),
            json!({"status": "Oplyst"}),
        )
        .await;
    assert_eq!(s, 200);
    w.idle().await;

    // Every message on the queue until it has been quiet for a while.
    let mut got: Vec<(lapin::message::Delivery, Value)> = Vec::new();
    while let Ok(Some(Ok(d))) = tokio::time::timeout(Duration::from_secs(3), consumer.next()).await
    {
        d.ack(BasicAckOptions::default()).await.unwrap();
        let body: Value = serde_json::from_slice(&d.data).unwrap();
        got.push((d, body));
    }
    let ours: Vec<&(lapin::message::Delivery, Value)> = got
        .iter()
        .filter(|(_, b)| b["case"]["id"] == case.as_str())
        .collect();
    let types: Vec<&str> = ours
        .iter()
        .map(|(_, b)| b["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["case.created", "document.added", "case.status_changed"],
        "{got:?}"
    );
    let (created, body) = ours[0];
    assert_eq!(created.routing_key.as_str(), "case.created");
    assert_eq!(
        created
            .properties
            .message_id()
            .as_ref()
            .map(|m| m.as_str().to_string()),
        Some(format!("event-{}", body["id"].as_str().unwrap()))
    );
    assert_eq!(
        created
            .properties
            .correlation_id()
            .as_ref()
            .map(|m| m.as_str()),
        Some(case.as_str())
    );
    assert_eq!(*created.properties.delivery_mode(), Some(2));
    assert_eq!(body["case"]["kle"], "27.36.12");
    assert_eq!(ours[2].1["previous_status"], "Opstaaet");
    for (d, _) in &got {
        let text = String::from_utf8_lossy(&d.data);
        assert!(!text.contains("0101901234"), "no CPR on the broker: {text}");
        assert!(
            !text.contains(&secret),
            "nothing of the confidential case: {text}"
        );
    }
    w.stop().await;
}
