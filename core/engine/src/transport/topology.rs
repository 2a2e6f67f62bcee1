//! The exchanges and queues the transport works on, declared (idempotently) each time
//! it connects.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Connection, ExchangeKind};

use super::{DEAD_EXCHANGE, DEAD_QUEUE, TransportError, WORK_EXCHANGE, amqp, queue_for};

/// The broker's own last resort: a message delivered this many times without being
/// acked goes to the dead-letter exchange even if no instance ever records an outcome.
/// The journal's redelivery budget (a route's `max_attempts`) normally decides first.
pub const DELIVERY_LIMIT: i64 = 100;

fn quorum(extra: &[(&str, AMQPValue)]) -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    for (k, v) in extra {
        args.insert((*k).into(), v.clone());
    }
    args
}

/// Declares the exchanges, the dead-letter queue and the queues of `routes` (as the
/// transport does each time it connects).
pub async fn declare(conn: &Connection, routes: &[String]) -> Result<(), TransportError> {
    let ch = conn
        .create_channel()
        .await
        .map_err(amqp("opening a channel"))?;
    let durable_exchange = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    for exchange in [WORK_EXCHANGE, DEAD_EXCHANGE] {
        ch.exchange_declare(
            exchange.into(),
            ExchangeKind::Topic,
            durable_exchange,
            FieldTable::default(),
        )
        .await
        .map_err(amqp(format!("declaring the exchange {exchange}")))?;
    }
    ch.queue_declare(
        DEAD_QUEUE.into(),
        durable,
        quorum(&[("x-max-length", AMQPValue::LongLongInt(100_000))]),
    )
    .await
    .map_err(amqp(format!("declaring the queue {DEAD_QUEUE}")))?;
    ch.queue_bind(
        DEAD_QUEUE.into(),
        DEAD_EXCHANGE.into(),
        "#".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .map_err(amqp(format!("binding {DEAD_QUEUE}")))?;
    for route in routes {
        let queue = queue_for(route);
        ch.queue_declare(
            queue.as_str().into(),
            durable,
            quorum(&[
                (
                    "x-dead-letter-exchange",
                    AMQPValue::LongString(DEAD_EXCHANGE.into()),
                ),
                ("x-delivery-limit", AMQPValue::LongLongInt(DELIVERY_LIMIT)),
            ]),
        )
        .await
        .map_err(amqp(format!("declaring the queue {queue}")))?;
        ch.queue_bind(
            queue.as_str().into(),
            WORK_EXCHANGE.into(),
            route.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(amqp(format!("binding {queue}")))?;
    }
    let _ = ch.close(200, "OK".into()).await;
    Ok(())
}
