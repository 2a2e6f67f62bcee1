//! The `amqp-events` adapter: publishes a route's event document on the exchange
//! (`deliver.options.exchange`, default [`EXCHANGE`], declared topic and durable when
//! the channel opens), persistent, with the document's `type` as the routing key and
//! the message's idempotency key as the AMQP message id (a subscriber deduplicates by
//! it), the correlation id (the case) as the AMQP correlation id, and waits for the
//! broker's publisher confirm: an ack delivers; a nack or a lost connection is tried
//! again on a new connection.

use async_trait::async_trait;
use knudepunkt_engine::{Adapter, Delivery, DeliveryOutcome};
use lapin::{BasicProperties, ExchangeKind};

use super::{ADAPTER, EXCHANGE, MESSAGE_ID};
use crate::amqp_publish::ConfirmingChannel;
use crate::beskedfordeler::amqp::Broker;
use crate::serviceplatformen::access::Access;

pub struct EventPublisher {
    access: Access,
    channel: ConfirmingChannel,
}

impl EventPublisher {
    pub fn new(access: Access) -> Self {
        EventPublisher {
            access,
            channel: ConfirmingChannel::default(),
        }
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
        let broker = Broker::of(d.endpoint, &self.access);
        let key_of_channel = format!("{}#{exchange}", d.endpoint.url);
        let channel = match self
            .channel
            .get(
                &key_of_channel,
                &broker,
                Some((exchange, ExchangeKind::Topic)),
            )
            .await
        {
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
        match self
            .channel
            .publish(&channel, exchange, &key, d.payload, properties)
            .await
        {
            Ok(()) => DeliveryOutcome::Delivered {
                reply: None,
                external_ids: [(MESSAGE_ID.to_string(), d.idempotency_key.to_string())]
                    .into_iter()
                    .collect(),
            },
            Err(e) => transient(format!(
                "{}: event {}: {e}",
                d.endpoint.name, d.idempotency_key
            )),
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
