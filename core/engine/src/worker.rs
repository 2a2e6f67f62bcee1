//! The workers: claim due messages, deliver them through their adapter, and hand each
//! outcome to the journal writer, which writes them in batches.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
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
    let min_claim = std::env::var("KP_MIN_CLAIM")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(
            (inner.options.concurrency as i64 / 4).clamp(1, inner.options.claim_batch.max(1)),
        );
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
                .claim_due(free.min(inner.options.claim_batch), lease_ms, now_ms())
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
                deliver_claimed(&inner, msg).await;
                drop(permit);
            });
        }
        if got > 0 && got == free.min(inner.options.claim_batch) {
            continue; // there may be more due right now
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

/// One claimed message, end to end.
async fn deliver_claimed(inner: &Arc<Inner>, msg: Claimed) {
    let span = info_span!("deliver", message_id = %msg.id, route = %msg.route, correlation_id = msg.correlation_id.as_deref().unwrap_or(""), attempt = msg.attempt);
    async {
        let Some(route) = inner.routes.get(&msg.route).cloned() else {
            let why = format!("route {} is not configured in the {} environment", msg.route, inner.routes.environment.name);
            record_raw(inner, &msg.route, msg.id, &msg.claim_token, msg.attempt, msg.correlation_id.as_deref(), true, MessageState::Dead, None, Some((ErrorKind::Permanent, why)), None);
            return;
        };
        if let Some(deadline) = msg.deadline_at
            && deadline < now_ms() && msg.claimed_from == MessageState::Accepted {
                record(inner, &route, msg.id, &msg.claim_token, msg.attempt, msg.correlation_id.as_deref(), MessageState::Dead, None, Some((ErrorKind::Deadline, "no confirmation before the deadline".into())), None, msg.created_at);
                return;
            }
        let outcome = attempt(inner, &route, &msg).await;
        match outcome {
            DeliveryOutcome::Transient { error, retry_after } => {
                let failed = msg.attempt as u32;
                if route.redelivery.may_retry(failed) {
                    let delay = route.redelivery.next_delay(failed, retry_after);
                    debug!(%error, delay_ms = delay.as_millis() as u64, "transient failure; will retry");
                    inner.metrics.retried.get_or_create(&Metrics::route(&route.id)).inc();
                    record(inner, &route, msg.id, &msg.claim_token, msg.attempt, msg.correlation_id.as_deref(), MessageState::Retrying, Some(now_ms() + delay.as_millis() as i64), Some((ErrorKind::Transient, error)), None, msg.created_at);
                } else {
                    let why = format!("gave up after {} attempts; last error: {error}", msg.attempt);
                    record(inner, &route, msg.id, &msg.claim_token, msg.attempt, msg.correlation_id.as_deref(), MessageState::Dead, None, Some((ErrorKind::Transient, why)), None, msg.created_at);
                }
            }
            other => {
                finish(inner, &route, msg.id, &msg.claim_token, msg.attempt, msg.correlation_id.as_deref(), &msg.external_ids, other, msg.created_at);
            }
        }
    }
    .instrument(span)
    .await
}

/// One attempt: integrity check, then the adapter within the endpoint's timeout.
pub(crate) async fn attempt(inner: &Arc<Inner>, route: &Route, msg: &Claimed) -> DeliveryOutcome {
    let integrity = Sha256Digest::parse_hex(&msg.checksum).and_then(|d| d.verify(&msg.payload));
    if let Err(e) = integrity {
        return DeliveryOutcome::Permanent {
            error: format!("integrity: message {} refused before sending: {e}", msg.id),
            reply: None,
        };
    }
    let Some(adapter) = inner.adapters.get(&route.adapter) else {
        return DeliveryOutcome::Permanent {
            error: format!("adapter {:?} is not in this build", route.adapter),
            reply: None,
        };
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
    }
}

/// Records a final or accepted outcome; returns the receiver's reply.
#[allow(clippy::too_many_arguments)]
pub(crate) fn finish(
    inner: &Arc<Inner>,
    route: &Route,
    id: MessageId,
    token: &str,
    attempt: i64,
    correlation_id: Option<&str>,
    known_ids: &ExternalIds,
    outcome: DeliveryOutcome,
    created_at: i64,
) -> Option<Reply> {
    match outcome {
        DeliveryOutcome::Delivered {
            reply,
            external_ids,
        } => {
            let mut ids = known_ids.clone();
            ids.extend(external_ids);
            record(
                inner,
                route,
                id,
                token,
                attempt,
                correlation_id,
                MessageState::Delivered,
                None,
                None,
                Some(ids),
                created_at,
            );
            reply
        }
        DeliveryOutcome::Accepted {
            reply,
            external_ids,
            confirm_within,
        } => {
            let mut ids = known_ids.clone();
            ids.extend(external_ids);
            let deadline = now_ms() + confirm_within.as_millis() as i64;
            record(
                inner,
                route,
                id,
                token,
                attempt,
                correlation_id,
                MessageState::Accepted,
                Some(deadline),
                None,
                Some(ids),
                created_at,
            );
            reply
        }
        DeliveryOutcome::Permanent { error, reply } => {
            let kind = if error.starts_with("integrity:") {
                ErrorKind::Integrity
            } else {
                ErrorKind::Permanent
            };
            record(
                inner,
                route,
                id,
                token,
                attempt,
                correlation_id,
                MessageState::Dead,
                None,
                Some((kind, error)),
                None,
                created_at,
            );
            reply
        }
        DeliveryOutcome::Transient { error, .. } => {
            record(
                inner,
                route,
                id,
                token,
                attempt,
                correlation_id,
                MessageState::Dead,
                None,
                Some((ErrorKind::Transient, error)),
                None,
                created_at,
            );
            None
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn record(
    inner: &Arc<Inner>,
    route: &Route,
    id: MessageId,
    token: &str,
    attempt: i64,
    correlation_id: Option<&str>,
    state: MessageState,
    due_at: Option<i64>,
    error: Option<(ErrorKind, String)>,
    external_ids: Option<ExternalIds>,
    created_at: i64,
) {
    let label = Metrics::route(&route.id);
    match state {
        MessageState::Delivered => {
            inner.metrics.delivered.get_or_create(&label).inc();
            let secs = (now_ms() - created_at).max(0) as f64 / 1000.0;
            inner.metrics.latency.get_or_create(&label).observe(secs);
        }
        MessageState::Accepted => {
            inner.metrics.accepted.get_or_create(&label).inc();
        }
        MessageState::Dead => {
            inner.metrics.dead.get_or_create(&label).inc();
            if let Some((kind, why)) = &error {
                warn!(message_id = %id, route = %route.id, kind = kind.as_str(), reason = %why, "message moved to the dead letter queue");
            }
        }
        _ => {}
    }
    if let (MessageState::Retrying, Some(due)) = (state, due_at) {
        // Wake the claimer when the retry is due rather than at its next poll.
        let inner = inner.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis((due - now_ms()).max(0) as u64)).await;
            inner.wake.notify_one();
        });
    }
    let notify = route.dead_letter.notify_initiator;
    record_raw(
        inner,
        &route.id,
        id,
        token,
        attempt,
        correlation_id,
        notify,
        state,
        due_at,
        error,
        external_ids,
    );
}

#[allow(clippy::too_many_arguments)]
fn record_raw(
    inner: &Arc<Inner>,
    route: &str,
    id: MessageId,
    token: &str,
    attempt: i64,
    correlation_id: Option<&str>,
    notify_initiator: bool,
    state: MessageState,
    due_at: Option<i64>,
    error: Option<(ErrorKind, String)>,
    external_ids: Option<ExternalIds>,
) {
    let _ = inner.writer.send(WriteJob::Outcome(Recorded {
        notify_initiator,
        id,
        claim_token: token.to_string(),
        attempt,
        state,
        due_at,
        error,
        external_ids,
        detail: None,
        route: route.to_string(),
        correlation_id: correlation_id.map(str::to_string),
    }));
}
