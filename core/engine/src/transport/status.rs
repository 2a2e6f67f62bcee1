//! What the broker says about the work queues, for `knudepunkt status`.

use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;

use super::{DEAD_QUEUE, TransportError, amqp, queue_for};
use crate::redact_url;

/// One queue as the broker reports it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct QueueDepth {
    pub queue: String,
    /// Ready messages (not counting those delivered and not yet acked).
    pub messages: u32,
    pub consumers: u32,
    /// False when the queue does not exist (no instance with this transport has run).
    pub exists: bool,
}

/// The depth and consumers of each route's queue and of the dead-letter queue.
pub async fn queue_depths(url: &str, routes: &[String]) -> Result<Vec<QueueDepth>, TransportError> {
    let conn = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
        .await
        .map_err(amqp(format!("connecting to {}", redact_url(url))))?;
    let mut out = Vec::new();
    let queues = routes
        .iter()
        .map(|r| queue_for(r))
        .chain(std::iter::once(DEAD_QUEUE.to_string()));
    let mut ch = conn
        .create_channel()
        .await
        .map_err(amqp("opening a channel"))?;
    for queue in queues {
        let passive = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        match ch
            .queue_declare(queue.as_str().into(), passive, FieldTable::default())
            .await
        {
            Ok(q) => out.push(QueueDepth {
                queue,
                messages: q.message_count(),
                consumers: q.consumer_count(),
                exists: true,
            }),
            Err(_) => {
                // A queue that is not there closes the channel.
                out.push(QueueDepth {
                    queue,
                    messages: 0,
                    consumers: 0,
                    exists: false,
                });
                ch = conn
                    .create_channel()
                    .await
                    .map_err(amqp("opening a channel"))?;
            }
        }
    }
    let _ = conn.close(200, "OK".into()).await;
    Ok(out)
}

/// The routes a transport consumes (all but the ordered), in order.
pub fn consumed_routes(routes: &crate::route::RouteSet) -> Vec<String> {
    super::consume::consumed_routes(routes)
}
