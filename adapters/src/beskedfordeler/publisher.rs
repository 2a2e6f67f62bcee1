//! The `beskedfordeler` adapter (SF1462, AfsendBesked): publishes a route's
//! Haendelsesbesked on the Beskedfordeler's exchange over AMQP, persistent, with the
//! BeskedId as the AMQP message id and the Beskedtype as the routing key, and waits for
//! the broker's publisher confirm: an ack delivers (the Beskedfordeler has it); a nack
//! or a lost connection is tried again. The endpoint is the broker ([`super::amqp`]:
//! over TLS with a token for the real service, the sandbox's vhost plainly);
//! `deliver.options.exchange` overrides the exchange.

use async_trait::async_trait;
use knudepunkt_engine::{Adapter, Delivery, DeliveryOutcome};
use lapin::Confirmation;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, Connection};
use tokio::sync::Mutex;

use super::amqp::Broker;
use super::{AFSEND_EXCHANGE, besked};
use crate::serviceplatformen::access::Access;

pub const ADAPTER: &str = "beskedfordeler";
/// The external id the BeskedId is kept under.
pub const BESKED_ID: &str = "beskedfordeler_besked_id";

/// One connection and confirming channel, made when first needed and again after a
/// failure.
pub struct BeskedfordelerAdapter {
    access: Access,
    open: Mutex<Option<(String, Connection, Channel)>>,
}

impl BeskedfordelerAdapter {
    pub fn new(access: Access) -> Self {
        BeskedfordelerAdapter {
            access,
            open: Mutex::new(None),
        }
    }

    async fn channel(
        &self,
        endpoint: &knudepunkt_engine::environment::Endpoint,
    ) -> Result<Channel, String> {
        let url = endpoint.url.as_str();
        let mut open = self.open.lock().await;
        if let Some((u, conn, ch)) = open.as_ref()
            && u == url
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
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| format!("turning on publisher confirms: {e}"))?;
        *open = Some((url.to_string(), conn, ch.clone()));
        Ok(ch)
    }

    async fn forget(&self) {
        self.open.lock().await.take();
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
        let channel = match self.channel(d.endpoint).await {
            Ok(c) => c,
            Err(e) => return transient(format!("Beskedfordeler: {e}")),
        };
        let properties = BasicProperties::default()
            .with_message_id(besked.besked_id.as_str().into())
            .with_content_type("application/xml".into())
            .with_delivery_mode(2);
        let sent = channel
            .basic_publish(
                exchange.into(),
                besked.beskedtype.as_str().into(),
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
                external_ids: [(BESKED_ID.to_string(), besked.besked_id)]
                    .into_iter()
                    .collect(),
            },
            Ok(other) => {
                self.forget().await;
                transient(format!(
                    "Beskedfordeler did not confirm BeskedId {}: {other:?}",
                    besked.besked_id
                ))
            }
            Err(e) => {
                self.forget().await;
                transient(format!(
                    "Beskedfordeler: publishing BeskedId {} to {exchange}: {e}",
                    besked.besked_id
                ))
            }
        }
    }
}
