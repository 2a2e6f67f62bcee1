//! Taking messages from an AMQP queue into the engine: one consumer with manual acks and
//! a prefetch, reconnecting after a failure (waiting longer each time, up to a minute)
//! until it is told to stop. A message is acked only once it is taken (journaled, or in
//! the operator inbox); when it cannot be taken now it goes back to the queue.

use std::time::Duration;

use futures::StreamExt;
use knudepunkt_engine::Engine;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::FieldTable;

use crate::beskedfordeler::amqp::Broker;

/// Consumes `queue` at `broker`, handing each message's body to `take`, until `stop`
/// turns true. `what` names the queue in the log.
pub async fn run(
    engine: Engine,
    broker: Broker,
    queue: String,
    prefetch: u16,
    what: &'static str,
    mut stop: tokio::sync::watch::Receiver<bool>,
    take: impl AsyncFn(&Engine, &[u8]) -> Result<(), String>,
) {
    let mut wait = Duration::from_millis(500);
    loop {
        if *stop.borrow() {
            return;
        }
        match consume(&engine, &broker, &queue, prefetch, what, &mut stop, &take).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, queue = %queue, "{what} is out of reach; trying again in {wait:?}");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
        wait = (wait * 2).min(Duration::from_secs(60));
    }
}

async fn consume(
    engine: &Engine,
    broker: &Broker,
    queue: &str,
    prefetch: u16,
    what: &str,
    stop: &mut tokio::sync::watch::Receiver<bool>,
    take: &impl AsyncFn(&Engine, &[u8]) -> Result<(), String>,
) -> Result<(), String> {
    let conn = broker.connect().await?;
    let channel = conn.create_channel().await.map_err(|e| e.to_string())?;
    channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    let mut consumer = channel
        .basic_consume(
            queue.into(),
            "knudepunkt".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| format!("consuming {queue}: {e}"))?;
    tracing::info!(queue = %queue, broker = %broker.describe(), "taking messages from {what}");
    loop {
        let delivery = tokio::select! {
            d = consumer.next() => d,
            _ = stop.changed() => return Ok(()),
        };
        let Some(delivery) = delivery else {
            return Err("the broker closed the consumer".into());
        };
        let delivery = delivery.map_err(|e| e.to_string())?;
        match take(engine, &delivery.data).await {
            Ok(()) => {
                delivery
                    .ack(BasicAckOptions::default())
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Err(e) => {
                tracing::warn!(error = %e, queue = %queue, "a message could not be taken now; it goes back to the queue");
                delivery
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..Default::default()
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}
