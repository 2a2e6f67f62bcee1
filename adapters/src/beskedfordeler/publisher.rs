//! The `beskedfordeler` adapter (SF1462, AfsendBesked): publishes a route's
//! Haendelsesbesked on the Beskedfordeler's exchange over AMQP, persistent, with the
//! BeskedId as the AMQP message id and the Beskedtype as the routing key, and waits for
//! the broker's publisher confirm: an ack delivers (the Beskedfordeler has it); a nack
//! or a lost connection is tried again. The endpoint is the broker ([`super::amqp`]:
//! over TLS with a token for the real service, the sandbox's vhost plainly);
//! `deliver.options.exchange` overrides the exchange.

use async_trait::async_trait;
use knudepunkt_engine::{Adapter, Delivery, DeliveryOutcome};
use lapin::BasicProperties;

use super::amqp::Broker;
use super::{AFSEND_EXCHANGE, besked};
use crate::amqp_publish::ConfirmingChannel;
use crate::serviceplatformen::access::Access;

pub const ADAPTER: &str = "beskedfordeler";
/// The external id the BeskedId is kept under.
pub const BESKED_ID: &str = "beskedfordeler_besked_id";

pub struct BeskedfordelerAdapter {
    access: Access,
    channel: ConfirmingChannel,
}

impl BeskedfordelerAdapter {
    pub fn new(access: Access) -> Self {
        BeskedfordelerAdapter {
            access,
            channel: ConfirmingChannel::default(),
        }
    }
}

#[async_trait]
impl Adapter for BeskedfordelerAdapter {
    fn name(&self) -> &'static str {
        ADAPTER
    }

    async fn deliver(&self, d: &Delivery<'_>) -> DeliveryOutcome {
        let besked = match besked::parse(d.payload) {
            Ok(b) => b,
            Err(e) => {
                return DeliveryOutcome::Permanent {
                    error: format!("not a Haendelsesbesked to send: {e}"),
                    reply: None,
                };
            }
        };
        let exchange = d
            .route
            .adapter_options
            .get("exchange")
            .map(String::as_str)
            .unwrap_or(AFSEND_EXCHANGE);
        let transient = |error: String| DeliveryOutcome::Transient {
            error,
            retry_after: None,
        };
        let broker = Broker::of(d.endpoint, &self.access);
        let channel = match self.channel.get(&d.endpoint.url, &broker, None).await {
            Ok(c) => c,
            Err(e) => return transient(format!("Beskedfordeler: {e}")),
        };
        let properties = BasicProperties::default()
            .with_message_id(besked.besked_id.as_str().into())
            .with_content_type("application/xml".into())
            .with_delivery_mode(2);
        match self
            .channel
            .publish(
                &channel,
                exchange,
                &besked.beskedtype,
                d.payload,
                properties,
            )
            .await
        {
            Ok(()) => DeliveryOutcome::Delivered {
                reply: None,
                external_ids: [(BESKED_ID.to_string(), besked.besked_id)]
                    .into_iter()
                    .collect(),
            },
            Err(e) => transient(format!(
                "Beskedfordeler: BeskedId {}: {e}",
                besked.besked_id
            )),
        }
    }
}
