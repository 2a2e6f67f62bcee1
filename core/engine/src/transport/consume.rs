//! The workers' side: one consumer per route queue, each on a channel of its own, with
//! manual acks and a prefetch. Deliveries are claimed in the journal by id, a batch at a
//! time; each claimed message is delivered through its adapter and acked once its
//! outcome is committed (rejected to the dead-letter exchange when that outcome is
//! `dead`). What the journal has as done, or another instance holds, is acked and
//! skipped. Acks go through the channel's [`Settler`], which gathers them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tracing::{debug, warn};

use super::settle::Settler;
use super::{AmqpOptions, TransportError, amqp, queue_for};
use crate::engine::Inner;
use crate::ids::MessageId;
use crate::message::{MessageState, now_ms};
use crate::route::RouteSet;

/// Deliveries claimed per round trip to the journal.
const CLAIM_BATCH: usize = 128;

/// Claims under way at once: the next batch gathers while one is in the journal.
const CLAIMS_AT_ONCE: usize = 2;

/// How many times the consumer yields after a claim's first delivery before it takes
/// the rest of the batch.
const LINGER_YIELDS: usize = 2;

/// The routes whose work comes through the broker: all but the ordered ones.
pub(super) fn consumed_routes(routes: &RouteSet) -> Vec<String> {
    let ordered = routes.ordered();
    let mut ids: Vec<String> = routes
        .routes()
        .map(|r| r.id.clone())
        .filter(|id| !ordered.contains(id))
        .collect();
    ids.sort();
    ids
}

pub(super) async fn run(
    inner: &Arc<Inner>,
    conn: &Connection,
    opts: &AmqpOptions,
    permits: &Arc<Semaphore>,
    routes: &[String],
) -> Result<(), TransportError> {
    // A channel for each consumer: its deliveries come in tag order, which gathering
    // its acks needs (see `settle`).
    let mut streams = Vec::with_capacity(routes.len());
    let mut consumers: Vec<(Channel, String)> = Vec::with_capacity(routes.len());
    let mut settling = Vec::with_capacity(routes.len());
    for route in routes {
        let ch = conn
            .create_channel()
            .await
            .map_err(amqp("opening a workers' channel"))?;
        ch.basic_qos(opts.prefetch, BasicQosOptions::default())
            .await
            .map_err(amqp("setting the prefetch"))?;
        let queue = queue_for(route);
        let tag = format!("{}/{route}", inner.live.instance_id);
        let consumer = ch
            .basic_consume(
                queue.as_str().into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(amqp(format!("consuming {queue}")))?;
        let (settler, task) = Settler::start(ch.clone());
        streams.push(consumer.map(move |d| (d, settler.clone())));
        consumers.push((ch, tag));
        settling.push(task);
    }
    inner.live.set_connected(true, routes.len());
    let mut all = futures::stream::select_all(streams);
    let mut shutdown = inner.shutdown.subscribe();
    let lease_ms = inner.options.lease.as_millis() as i64;
    let claims = Arc::new(Semaphore::new(CLAIMS_AT_ONCE));
    loop {
        let claim = tokio::select! {
            c = claims.clone().acquire_owned() => c.expect("the semaphore is never closed"),
            _ = shutdown.changed() => break,
        };
        // A free delivery slot first: nothing is claimed before it can be sent.
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            _ = shutdown.changed() => break,
        };
        let first = tokio::select! {
            d = all.next() => d,
            _ = shutdown.changed() => break,
        };
        let first = first.ok_or_else(|| TransportError::Closed("the workers' consumers".into()))?;
        let mut batch = vec![taken(first, permit)?];
        // Let what the connection has in hand arrive first: it joins this claim rather
        // than costing a statement of its own.
        for _ in 0..LINGER_YIELDS {
            tokio::task::yield_now().await;
        }
        while batch.len() < CLAIM_BATCH {
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                break;
            };
            match all.next().now_or_never() {
                Some(Some(d)) => batch.push(taken(d, permit)?),
                Some(None) => {
                    return Err(TransportError::Closed("the workers' consumers".into()));
                }
                None => break,
            }
        }
        let inner = inner.clone();
        tokio::spawn(async move {
            take(&inner, batch, lease_ms).await;
            drop(claim);
        });
    }
    // Shutting down: no new deliveries, what was prefetched goes back to the queue, and
    // what is in flight finishes and is acked before the channel closes.
    for (ch, tag) in &consumers {
        let _ = ch
            .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
            .await;
    }
    while let Some(Some((Ok(d), settler))) = all.next().now_or_never() {
        settler.received(d.delivery_tag);
        settler.nack(d.delivery_tag, true);
    }
    let all_permits = permits
        .acquire_many(inner.options.concurrency as u32)
        .await
        .expect("the semaphore is never closed");
    drop(all_permits);
    // Every delivery is settled: the settlers send what they hold, then the channels close.
    drop(all);
    for task in settling {
        let _ = task.await;
    }
    for (ch, _) in &consumers {
        let _ = ch.close(200, "OK".into()).await;
    }
    Ok(())
}

/// A delivery the consumer took, told to its channel's settler before anything else
/// can settle it.
type Taken = (Delivery, Settler, OwnedSemaphorePermit);

fn taken(
    (d, settler): (Result<Delivery, lapin::Error>, Settler),
    permit: OwnedSemaphorePermit,
) -> Result<Taken, TransportError> {
    let d = d.map_err(amqp("receiving work"))?;
    settler.received(d.delivery_tag);
    Ok((d, settler, permit))
}

/// Claims a batch of deliveries and sets each claimed one going.
async fn take(inner: &Arc<Inner>, batch: Vec<Taken>, lease_ms: i64) {
    let mut ids = Vec::with_capacity(batch.len());
    let mut good = Vec::with_capacity(batch.len());
    for (d, settler, permit) in batch {
        let id = std::str::from_utf8(&d.data)
            .ok()
            .and_then(|s| s.trim().parse::<MessageId>().ok());
        match id {
            Some(id) => {
                ids.push((id, d.redelivered));
                good.push((id, d, settler, permit));
            }
            None => {
                warn!(routing_key = %d.routing_key, bytes = d.data.len(), "a work message that is not a journal message id; it goes to the dead-letter exchange");
                settler.nack(d.delivery_tag, false);
            }
        }
    }
    // The journal may be out of reach (restarting): the deliveries are held, unacked,
    // and the claim tried again, waiting longer each time.
    let mut wait = Duration::from_millis(100);
    let claimed = loop {
        match inner
            .journal
            .claim_ids(&ids, lease_ms, now_ms(), &inner.live.instance_id)
            .await
        {
            Ok(c) => break c,
            Err(e) => {
                warn!(error = %e, messages = ids.len(), "claiming in the journal failed; holding the messages and trying again");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        }
    };
    let mut claimed: HashMap<MessageId, _> = claimed.into_iter().map(|c| (c.id, c)).collect();
    for (id, d, settler, permit) in good {
        match claimed.remove(&id) {
            None => {
                // Done already, not due, or held by a live claim elsewhere.
                debug!(message_id = %id, "the journal has it as done or held; acked and skipped");
                inner.metrics.skipped.inc();
                settler.ack(d.delivery_tag);
                drop(permit);
            }
            Some(msg) => {
                // Only the tag goes on: the broker message's body is let go here.
                let (inner, tag) = (inner.clone(), d.delivery_tag);
                tokio::spawn(async move {
                    deliver(&inner, msg, tag, &settler).await;
                    drop(permit);
                });
            }
        }
    }
}

/// Delivers one claimed message and settles its broker message by the committed outcome.
async fn deliver(inner: &Arc<Inner>, msg: crate::journal::Claimed, tag: u64, settler: &Settler) {
    let id = msg.id;
    let (told, heard) = oneshot::channel();
    let worker = {
        let inner = inner.clone();
        tokio::spawn(async move { crate::worker::deliver_claimed(&inner, msg, Some(told)).await })
    };
    let outcome = match worker.await {
        Err(e) if e.is_panic() => {
            warn!(message_id = %id, "the delivery panicked; the message goes back to the queue");
            None
        }
        _ => heard.await.ok(),
    };
    match outcome {
        Some(MessageState::Dead) => settler.nack(tag, false),
        Some(_) => settler.ack(tag),
        None => settler.nack(tag, true),
    }
}
