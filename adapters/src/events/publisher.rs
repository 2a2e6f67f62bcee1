//! The `amqp-events` adapter: publishes a route's event document on the exchange
//! (`deliver.options.exchange`, default [`EXCHANGE`], declared topic and durable when
//! the channel opens), persistent, with the document's `type` as the routing key and
//! the message's idempotency key as the AMQP message id (a subscriber deduplicates by
//! it), the correlation id (the case) as the AMQP correlation id, and waits for the
//! broker's publisher confirm: an ack delivers; a nack or a lost connection is tried
//! again on a new connection.

use async_trait::async_trait;
use knudepunkt_engine::{Adapter, Delivery, DeliveryOutcome};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Confirmation, Connection, ExchangeKind};
use tokio::sync::Mutex;

use super::{ADAPTER, EXCHANGE, MESSAGE_ID};
use crate::beskedfordeler::amqp::Broker;
use crate::serviceplatformen::access::Access;

/// One connection and confirming channel, made when first needed and again after a
/// failure.
pub struct EventPublisher {
    access: Access,
    open: Mutex<Option<(String, Connection, Channel)>>,
}

impl EventPublisher {
    pub fn new(access: Access) -> Self {
        EventPublisher {
            access,
            open: Mutex::new(None),
        }
    }

    async fn channel(
        &self,
        endpoint: &knudepunkt_engine::environment::Endpoint,
        exchange: &str,
    ) -> Result<Channel, String> {
        let key = format!("{}#{exchange}", endpoint.url);
        let mut open = self.open.lock().await;
        if let Some((k, conn, ch)) = open.as_ref()
            && *k == key
            && conn.status().connected()
            && ch.status().connected()
        {
            return Ok(ch.clone());
        }
        let conn = Broker::of(endpoint, &self.access).connect().await?;
        let ch = conn
            .create_channel()
            .await
            .map_err(|e| format!("opening a channel: {e}"))?;
        ch.exchange_declare(
            exchange.into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(|e| format!("declaring the exchange {exchange}: {e}"))?;
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| format!("turning on publisher confirms: {e}"))?;
        *open = Some((key, conn, ch.clone()));
        Ok(ch)
    }

    async fn forget(&self) {
        self.open.lock().await.take();
    }
}

/// The routing key of an event document: its `type`, made of letters, digits, `.`,
/// `_` and `-`.
pub fn routing_key(payload: &[u8]) -> Result<String, String> {
    let doc: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| format!("not a JSON event document: {e}"))?;
    let kind = doc
        .get("type")
        .and_then(|t| t.as_str())
        .ok_or("the event document has no \"type\"")?;
    if kind.is_empty()
        || !kind
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(format!("type {kind:?} is not a routing key"));
    }
    Ok(kind.to_string())
}

#[async_trait]
impl Adapter for EventPublisher {
    fn name(&self) -> &'static str {
        ADAPTER
    }

    async fn deliver(&self, d: &Delivery<'_>) -> DeliveryOutcome {
        let key = match routing_key(d.payload) {
            Ok(k) => k,
            Err(e) => {
                return DeliveryOutcome::Permanent {
                    error: format!("message {}: {e}", d.message_id),
                    reply: None,
                };
            }
        };
        let exchange = d
            .route
            .adapter_options
            .get("exchange")
            .map(String::as_str)
            .unwrap_or(EXCHANGE);
        let transient = |error: String| DeliveryOutcome::Transient {
            error,
            retry_after: None,
        };
        let channel = match self.channel(d.endpoint, exchange).await {
            Ok(c) => c,
            Err(e) => return transient(format!("{}: {e}", d.endpoint.name)),
        };
        let mut properties = BasicProperties::default()
            .with_message_id(d.idempotency_key.into())
            .with_content_type("application/json".into())
            .with_type(key.as_str().into())
            .with_delivery_mode(2)
            .with_timestamp(chrono::Utc::now().timestamp() as u64);
        if let Some(c) = d.correlation_id {
            properties = properties.with_correlation_id(c.into());
        }
        let sent = channel
            .basic_publish(
                exchange.into(),
                key.as_str().into(),
                BasicPublishOptions::default(),
                d.payload,
                properties,
            )
            .await;
        let confirm = match sent {
            Ok(c) => c.await,
            Err(e) => Err(e),
        };
        match confirm {
            Ok(Confirmation::Ack(_)) => DeliveryOutcome::Delivered {
                reply: None,
                external_ids: [(MESSAGE_ID.to_string(), d.idempotency_key.to_string())]
                    .into_iter()
                    .collect(),
            },
            Ok(other) => {
                self.forget().await;
                transient(format!(
                    "{} did not confirm event {}: {other:?}",
                    d.endpoint.name, d.idempotency_key
                ))
            }
            Err(e) => {
                self.forget().await;
                transient(format!(
                    "{}: publishing event {} to {exchange}: {e}",
                    d.endpoint.name, d.idempotency_key
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_routing_key_is_the_type() {
        assert_eq!(
            routing_key(br#"{"type":"case.created"}"#).unwrap(),
            "case.created"
        );
        assert!(
            routing_key(br#"{"id":"x"}"#)
                .unwrap_err()
                .contains("no \"type\"")
        );
        assert!(
            routing_key(br#"{"type":"case created"}"#)
                .unwrap_err()
                .contains("routing key")
        );
        assert!(routing_key(b"<xml/>").unwrap_err().contains("JSON"));
    }
}
