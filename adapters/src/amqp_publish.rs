//! Publishing with the broker's confirms, for the adapters that send over AMQP
//! (Beskedfordeler, the published events): one connection and confirming channel, made
//! when first needed and again after a failure; a message counts as sent only when the
//! broker acks it.

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Confirmation, Connection, ExchangeKind};
use tokio::sync::Mutex;

use crate::beskedfordeler::amqp::Broker;

#[derive(Default)]
pub struct ConfirmingChannel {
    open: Mutex<Option<(String, Connection, Channel)>>,
}

impl ConfirmingChannel {
    /// The channel for `key` (the broker and what was declared on it), opened with
    /// `broker` and, first, `declare` (an exchange and its kind, durable) when asked.
    pub async fn get(
        &self,
        key: &str,
        broker: &Broker,
        declare: Option<(&str, ExchangeKind)>,
    ) -> Result<Channel, String> {
        let mut open = self.open.lock().await;
        if let Some((k, conn, ch)) = open.as_ref()
            && k == key
            && conn.status().connected()
            && ch.status().connected()
        {
            return Ok(ch.clone());
        }
        let conn = broker.connect().await?;
        let ch = conn
            .create_channel()
            .await
            .map_err(|e| format!("opening a channel: {e}"))?;
        if let Some((exchange, kind)) = declare {
            ch.exchange_declare(
                exchange.into(),
                kind,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|e| format!("declaring the exchange {exchange}: {e}"))?;
        }
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| format!("turning on publisher confirms: {e}"))?;
        *open = Some((key.to_string(), conn, ch.clone()));
        Ok(ch)
    }

    /// Publishes `payload` on `channel` and waits for the confirm. A nack or a failure
    /// drops the connection (the next message opens a new one) and says what happened.
    pub async fn publish(
        &self,
        channel: &Channel,
        exchange: &str,
        routing_key: &str,
        payload: &[u8],
        properties: BasicProperties,
    ) -> Result<(), String> {
        let sent = channel
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                BasicPublishOptions::default(),
                payload,
                properties,
            )
            .await;
        let confirm = match sent {
            Ok(c) => c.await,
            Err(e) => Err(e),
        };
        match confirm {
            Ok(Confirmation::Ack(_)) => Ok(()),
            Ok(other) => {
                self.open.lock().await.take();
                Err(format!("the broker did not confirm it: {other:?}"))
            }
            Err(e) => {
                self.open.lock().await.take();
                Err(format!("publishing to {exchange}: {e}"))
            }
        }
    }
}
