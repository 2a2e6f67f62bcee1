//! A route fed by an AMQP queue that another system fills, against the local RabbitMQ
//! that scripts/rabbitmq starts: each JSON message is journaled and delivered, a message
//! delivered twice (the same id) is one delivery, a message that is not JSON is in the
//! operator inbox with the reason, and the queue is left empty (every message acked).

mod common;

use std::time::Duration;

use common::Backend;
use lapin::options::{BasicPublishOptions, QueueDeclareOptions, QueuePurgeOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, options::ConfirmSelectOptions};

const QUEUE: &str = "knudepunkt.test.indgaaende";

fn broker_url() -> String {
    std::env::var("KNUDEPUNKT_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_route_takes_what_another_system_puts_on_a_queue() {
    let conn = knudepunkt_adapters::beskedfordeler::connect(&broker_url())
        .await
        .expect("the RabbitMQ that scripts/rabbitmq starts");
    let channel = conn.create_channel().await.unwrap();
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .queue_declare(QUEUE.into(), durable, FieldTable::default())
        .await
        .unwrap();
    channel
        .queue_purge(QUEUE.into(), QueuePurgeOptions::default())
        .await
        .unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let bodies: [&[u8]; 4] = [
        br#"{"id": "n-1", "text": "Borgeren er flyttet", "case_id": "c-1"}"#,
        br#"{"id": "n-2", "text": "Ny henvendelse", "case_id": "c-2"}"#,
        br#"{"id": "n-1", "text": "Borgeren er flyttet", "case_id": "c-1"}"#,
        b"<not-json/>",
    ];
    for body in bodies {
        channel
            .basic_publish(
                "".into(),
                QUEUE.into(),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }

    let (sandbox, engine, _core) =
        common::case::engine_with_core(Backend::Sqlite, "amqp_source", "routes-amqp-source").await;
    let workers = engine.start();
    let (stop, consumers) =
        knudepunkt_adapters::amqp_source::start(&engine).expect("a route with an amqp source");
    let receiver = &sandbox.handles.generic.recorder;
    let until = std::time::Instant::now() + Duration::from_secs(20);
    while receiver.stats().unique < 2 || engine.journal().inbox(false).await.unwrap().is_empty() {
        assert!(std::time::Instant::now() < until, "{:?}", receiver.stats());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    common::wait_all_settled(engine.journal()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.stats().unique,
        2,
        "the message sent twice is one delivery"
    );
    assert_eq!(receiver.stats().duplicates, 0, "{:?}", receiver.stats());
    let inbox = engine.journal().inbox(false).await.unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].kind, knudepunkt_adapters::amqp_source::INVALID);
    assert!(
        inbox[0].detail.contains("is not JSON"),
        "{}",
        inbox[0].detail
    );
    let left = channel
        .queue_declare(
            QUEUE.into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    assert_eq!(left.message_count(), 0, "every message acked");
    let _ = stop.send(true);
    for c in consumers {
        c.await.unwrap();
    }
    engine.shutdown(workers).await;
}
