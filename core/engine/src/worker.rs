//! The workers: claim due messages, deliver them through their adapter, and hand each
//! outcome to the journal writer, which writes them in batches.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, oneshot};
use tracing::{Instrument, debug, info_span, warn};

use crate::checksum::Sha256Digest;
use crate::delivery::{Delivery, DeliveryOutcome, Reply};
use crate::engine::Inner;
use crate::ids::MessageId;
use crate::journal::{Claimed, Recorded};
use crate::message::{ErrorKind, ExternalIds, MessageState, now_ms};
use crate::metrics::Metrics;
use crate::route::Route;
use crate::writer::WriteJob;

/// Claims and dispatches until shutdown.
pub(crate) async fn run_claimer(inner: Arc<Inner>) {
    let permits = Arc::new(Semaphore::new(inner.options.concurrency));
    let mut shutdown = inner.shutdown.subscribe();
    let lease_ms = inner.options.lease.as_millis() as i64;
    let ordered = inner.routes.ordered();
    // Claim at least a quarter of the deliveries' room at a time (see below).
    let min_claim =
        (inner.options.concurrency as i64 / 4).clamp(1, inner.options.claim_batch.max(1));
    loop {
        if *shutdown.borrow() {
            break;
        }
        let free = permits.available_permits() as i64;
        if free < min_claim {
            // Busy: wait until a useful batch can be claimed, rather than claiming the
            // messages one at a time as each delivery finishes.
            tokio::select! {
                p = permits.acquire_many(min_claim as u32) => drop(p),
                _ = shutdown.changed() => {}
            }
            continue;
        }
        let claimed = {
            match inner
                .journal
                .claim_due_on(
                    free.min(inner.options.claim_batch),
                    inner.options.claim_bytes,
                    lease_ms,
                    now_ms(),
                    &ordered,
                    // With the broker, only the ordered routes' work is claimed here.
                    inner.options.amqp.is_some(),
                )
                .await
            {
                Ok(c) => c,
                Err(e) => {
                    warn!(error = %e, "claiming due messages failed; trying again");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            }
        };
        let got = claimed.len() as i64;
        for msg in claimed {
            let permit = permits
                .clone()
                .acquire_owned()
                .await
                .expect("semaphore never closes");
            let inner = inner.clone();
            tokio::spawn(async move {
                deliver_claimed(&inner, msg, None).await;
                drop(permit);
            });
        }
        if got > 0 {
            // There may be more due right now: the claim may have stopped at its count
            // or at its byte budget. An empty claim sends the claimer to sleep.
            continue;
        }
        tokio::select! {
            _ = inner.wake.notified() => {}
            _ = tokio::time::sleep(inner.options.poll_interval) => {}
            _ = shutdown.changed() => {}
        }
    }
    // Wait for every delivery in flight to hand over its outcome.
    let _ = permits.acquire_many(inner.options.concurrency as u32).await;
}

/// One claimed message, end to end. `told`, if given, hears the outcome's state once
/// the journal has committed it.
pub(crate) async fn deliver_claimed(
    inner: &Arc<Inner>,
    mut msg: Claimed,
    told: Option<oneshot::Sender<MessageState>>,
) {
    inner.live.began();
    deliver_traced(inner, &mut msg, told).await;
    inner.live.ended();
}

async fn deliver_traced(
    inner: &Arc<Inner>,
    msg: &mut Claimed,
    told: Option<oneshot::Sender<MessageState>>,
) {
    let span = info_span!("deliver", message_id = %msg.id, route = %msg.route, correlation_id = msg.correlation_id.as_deref().unwrap_or(""), attempt = msg.attempt);
    async {
        let Some(route) = inner.routes.get(&msg.route).cloned() else {
            let why = format!(
                "route {} is not configured in the {} environment",
                msg.route, inner.routes.environment.name
            );
            inner.metrics.dead.get_or_create(&Metrics::route(&msg.route)).inc();
            let rec = Recorded {
                notify_initiator: true,
                id: msg.id,
                claim_token: msg.claim_token.clone(),
                attempt: msg.attempt,
                state: MessageState::Dead,
                due_at: None,
                error: Some((ErrorKind::Permanent, why)),
                external_ids: None,
                route: msg.route.clone(),
                correlation_id: msg.correlation_id.clone(),
            };
            let _ = inner.writer.send(WriteJob::Outcome(rec, told));
            return;
        };
        if msg.claimed_from == MessageState::InFlight && !route.redelivery.may_retry((msg.attempt - 1) as u32) {
            // Taken over from a holder that never recorded an outcome, as many times as
            // the route allows attempts: the delivery itself keeps failing (a crash, a
            // panic, a process killed by its size). A poison message: dead, not again.
            let why = format!(
                "poison: {} attempts ended without an outcome (the delivery crashed or its instance was lost each time)",
                msg.attempt - 1
            );
            AttemptCtx::of_claimed(inner, &route, msg, told).record(MessageState::Dead, None, Some((ErrorKind::Permanent, why)), None);
            return;
        }
        if msg.claimed_from == MessageState::Accepted {
            // Accepted messages fall due only when their confirmation deadline passes:
            // sent again if the route says so and attempts are left, else dead.
            if route.redelivery.resend_unconfirmed && route.redelivery.may_retry(msg.attempt as u32) {
                msg.attempt += 1;
                debug!(attempt = msg.attempt, "no confirmation before the deadline; sending again");
                inner.metrics.retried.get_or_create(&Metrics::route(&route.id)).inc();
            } else {
                let why = if route.redelivery.resend_unconfirmed {
                    format!("no confirmation from the receiver before the deadline, after {} attempts", msg.attempt)
                } else {
                    "no confirmation from the receiver before the deadline".to_string()
                };
                AttemptCtx::of_claimed(inner, &route, msg, told).record(MessageState::Dead, None, Some((ErrorKind::Deadline, why)), None);
                return;
            }
        }
        let ctx = AttemptCtx::of_claimed(inner, &route, msg, told);
        match attempt(inner, &route, msg).await {
            Err(refused) => ctx.record(MessageState::Dead, None, Some(refused), None),
            Ok(DeliveryOutcome::Transient { error, retry_after }) => {
                let failed = msg.attempt as u32;
                if route.redelivery.may_retry(failed) {
                    let delay = route.redelivery.next_delay(failed, retry_after);
                    debug!(%error, delay_ms = delay.as_millis() as u64, "transient failure; will retry");
                    inner.metrics.retried.get_or_create(&Metrics::route(&route.id)).inc();
                    ctx.record(MessageState::Retrying, Some(now_ms() + delay.as_millis() as i64), Some((ErrorKind::Transient, error)), None);
                } else {
                    let why = format!("gave up after {} attempts; last error: {error}", msg.attempt);
                    ctx.record(MessageState::Dead, None, Some((ErrorKind::Transient, why)), None);
                }
            }
            Ok(other) => {
                ctx.finish(&msg.external_ids, other);
            }
        }
    }
    .instrument(span)
    .await
}

/// What the engine refused before any send: why, and how to file it.
pub(crate) type Refusal = (ErrorKind, String);

/// One attempt: integrity check, then the adapter within the endpoint's timeout. An
/// `Err` is a refusal by the engine itself; nothing was sent.
pub(crate) async fn attempt(
    inner: &Arc<Inner>,
    route: &Route,
    msg: &Claimed,
) -> Result<DeliveryOutcome, Refusal> {
    let integrity = Sha256Digest::parse_hex(&msg.checksum).and_then(|d| d.verify(&msg.payload));
    if let Err(e) = integrity {
        // A payload kept in a file that is gone reads as empty: say so.
        let gone = inner
            .journal
            .payload_files()
            .map(|f| f.path_of(msg.id))
            .filter(|p| msg.payload.is_empty() && !p.exists())
            .map(|p| format!("; its payload file {} is missing", p.display()))
            .unwrap_or_default();
        return Err((
            ErrorKind::Integrity,
            format!("message {} refused before sending: {e}{gone}", msg.id),
        ));
    }
    let Some(adapter) = inner.adapters.get(&route.adapter) else {
        return Err((
            ErrorKind::Permanent,
            format!("adapter {:?} is not in this build", route.adapter),
        ));
    };
    let delivery = Delivery {
        message_id: msg.id,
        route,
        endpoint: &route.endpoint,
        idempotency_key: &msg.idempotency_key,
        correlation_id: msg.correlation_id.as_deref(),
        payload: &msg.payload,
        content_type: &msg.content_type,
        attempt: msg.attempt,
        external_ids: &msg.external_ids,
    };
    let limit = route.endpoint.timeout + Duration::from_secs(1);
    Ok(
        match tokio::time::timeout(limit, adapter.deliver(&delivery)).await {
            Ok(outcome) => outcome,
            Err(_) => DeliveryOutcome::Transient {
                error: format!(
                    "no answer from {} within {}s",
                    route.endpoint.name,
                    limit.as_secs()
                ),
                retry_after: None,
            },
        },
    )
}

/// One attempt at one message, and where its outcome goes.
pub(crate) struct AttemptCtx<'a> {
    pub inner: &'a Arc<Inner>,
    pub route: &'a Route,
    pub id: MessageId,
    pub token: &'a str,
    pub attempt: i64,
    pub correlation_id: Option<&'a str>,
    /// When the message was journaled, for the latency histogram.
    pub created_at: i64,
    /// Hears the recorded state once it is committed.
    pub told: Option<oneshot::Sender<MessageState>>,
}

impl<'a> AttemptCtx<'a> {
    fn of_claimed(
        inner: &'a Arc<Inner>,
        route: &'a Route,
        msg: &'a Claimed,
        told: Option<oneshot::Sender<MessageState>>,
    ) -> Self {
        AttemptCtx {
            inner,
            route,
            id: msg.id,
            token: &msg.claim_token,
            attempt: msg.attempt,
            correlation_id: msg.correlation_id.as_deref(),
            created_at: msg.created_at,
            told,
        }
    }

    /// Records a final or accepted outcome; returns the receiver's reply.
    pub(crate) fn finish(self, known_ids: &ExternalIds, outcome: DeliveryOutcome) -> Option<Reply> {
        let merged = |ids: ExternalIds| {
            let mut all = known_ids.clone();
            all.extend(ids);
            Some(all)
        };
        match outcome {
            DeliveryOutcome::Delivered {
                reply,
                external_ids,
            } => {
                self.record(MessageState::Delivered, None, None, merged(external_ids));
                reply
            }
            DeliveryOutcome::Accepted {
                reply,
                external_ids,
                confirm_within,
            } => {
                let deadline = now_ms() + confirm_within.as_millis() as i64;
                self.record(
                    MessageState::Accepted,
                    Some(deadline),
                    None,
                    merged(external_ids),
                );
                reply
            }
            DeliveryOutcome::Permanent { error, reply } => {
                self.record(
                    MessageState::Dead,
                    None,
                    Some((ErrorKind::Permanent, error)),
                    None,
                );
                reply
            }
            DeliveryOutcome::Transient { error, .. } => {
                self.record(
                    MessageState::Dead,
                    None,
                    Some((ErrorKind::Transient, error)),
                    None,
                );
                None
            }
        }
    }

    /// Counts the outcome and hands it to the journal writer.
    pub(crate) fn record(
        self,
        state: MessageState,
        due_at: Option<i64>,
        error: Option<(ErrorKind, String)>,
        external_ids: Option<ExternalIds>,
    ) {
        let (inner, route) = (self.inner, self.route);
        let label = Metrics::route(&route.id);
        match state {
            MessageState::Delivered => {
                inner.metrics.delivered.get_or_create(&label).inc();
                let secs = (now_ms() - self.created_at).max(0) as f64 / 1000.0;
                inner.metrics.latency.get_or_create(&label).observe(secs);
            }
            MessageState::Accepted => {
                inner.metrics.accepted.get_or_create(&label).inc();
            }
            MessageState::Dead => {
                inner.metrics.dead.get_or_create(&label).inc();
                if let Some((kind, why)) = &error {
                    warn!(message_id = %self.id, route = %route.id, kind = kind.as_str(), reason = %why, "message moved to the dead letter queue");
                }
            }
            _ => {}
        }
        if let (MessageState::Retrying, Some(due)) = (state, due_at) {
            // Wake the claimer when the retry is due rather than at its next poll.
            let inner = inner.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis((due - now_ms()).max(0) as u64)).await;
                inner.wake_workers();
            });
        }
        let _ = inner.writer.send(WriteJob::Outcome(
            Recorded {
                notify_initiator: route.dead_letter.notify_initiator,
                id: self.id,
                claim_token: self.token.to_string(),
                attempt: self.attempt,
                state,
                due_at,
                error,
                external_ids,
                route: route.id.clone(),
                correlation_id: self.correlation_id.map(str::to_string),
            },
            self.told,
        ));
    }
}
