//! The outbox relay: hands committed messages to the broker. A round takes the due
//! messages not yet handed over, publishes their ids (persistent, mandatory) and, some
//! seconds later, marks as handed over those the broker confirmed and no worker has
//! claimed yet (until then the round's hold keeps them from being taken again); every
//! 10 s a round also takes what was handed over long ago and is still waiting, and what
//! is in flight under a lease that ran out. Another instance's relay passes over the
//! rows this one holds.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::FuturesOrdered;
use futures::{FutureExt as _, StreamExt as _};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, Confirmation, Connection, PublisherConfirm};
use tracing::{info, warn};

use super::{TransportError, WORK_EXCHANGE, amqp};
use crate::engine::Inner;
use crate::ids::MessageId;
use crate::journal::{Handed, RELAY_HOLD_MS, RelayScope, Relayable, Taken};
use crate::message::now_ms;

/// Messages per round (and per transaction).
const ROUND: i64 = 512;
/// Rounds whose confirms may be awaited at once: the relay takes and publishes the next
/// round while the broker confirms the last.
const ROUNDS_UNDER_WAY: usize = 2;
/// How long the relay may go on from where its last round ended before a round starts
/// from the beginning again (for messages committed late, with an earlier due time).
const FROM_THE_START_EVERY: Duration = Duration::from_secs(1);
const SWEEP_EVERY: Duration = Duration::from_secs(10);
/// How long after its confirms a round's messages are marked as handed over. Most are
/// claimed by then, and their mark writes nothing; the rest are marked well inside the
/// round's hold, so that no other round takes them meanwhile.
const MARK_AFTER: Duration = Duration::from_millis(RELAY_HOLD_MS as u64 / 3);

/// Confirmed rounds waiting for their mark, oldest first, with when their confirms
/// came (the time the mark records).
#[derive(Default)]
struct Unmarked(VecDeque<(tokio::time::Instant, i64, Handed)>);

impl Unmarked {
    fn push(&mut self, handed: Handed) {
        if !handed.confirmed.is_empty() {
            self.0
                .push_back((tokio::time::Instant::now(), now_ms(), handed));
        }
    }

    /// Marks the rounds confirmed at least `after` ago (all of them with zero); a
    /// round the journal cannot mark now stays for the next try.
    async fn mark(&mut self, inner: &Inner, after: Duration) {
        while let Some((confirmed, at, handed)) = self.0.front() {
            if confirmed.elapsed() < after {
                return;
            }
            if let Err(e) = inner.journal.mark_handed_over(handed, *at).await {
                warn!(error = %e, "the relay cannot mark messages as handed over; trying again");
                return;
            }
            self.0.pop_front();
        }
    }
}

pub(super) async fn run(inner: &Arc<Inner>, conn: &Connection) -> Result<(), TransportError> {
    let ch = conn
        .create_channel()
        .await
        .map_err(amqp("opening the relay's channel"))?;
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(amqp("turning on publisher confirms"))?;
    // Ordered routes are claimed from the journal, not consumed from the broker.
    let excluded = inner.routes.ordered();
    let stale_after = inner
        .options
        .amqp
        .as_ref()
        .map_or(Duration::from_secs(300), |o| o.stale_after);
    let mut shutdown = inner.shutdown.subscribe();
    // The first round sweeps: what an instance lost before this one started.
    let mut last_sweep: Option<tokio::time::Instant> = None;
    // Working through a backlog, a round goes on from where the last full one ended;
    // a round that is not full, and one each second, starts from the beginning.
    let mut from_due: Option<i64> = None;
    let mut from_the_start = tokio::time::Instant::now();
    let mut unmarked = Unmarked::default();
    let mut under_way = FuturesOrdered::new();
    let ended: Result<(), TransportError> = async {
        loop {
            if *shutdown.borrow() {
                return Ok(());
            }
            while let Some(Some(confirmed)) = under_way.next().now_or_never() {
                settle(inner, &mut unmarked, confirmed)?;
            }
            if under_way.len() >= ROUNDS_UNDER_WAY {
                if let Some(confirmed) = under_way.next().await {
                    settle(inner, &mut unmarked, confirmed)?;
                }
                continue;
            }
            unmarked.mark(inner, MARK_AFTER).await;
            let now = now_ms();
            let sweeping = last_sweep.is_none_or(|t| t.elapsed() >= SWEEP_EVERY);
            let scope = if sweeping {
                last_sweep = Some(tokio::time::Instant::now());
                RelayScope::Stale {
                    stale_before: now - stale_after.as_millis() as i64,
                }
            } else {
                match from_due {
                    Some(due_at) if from_the_start.elapsed() < FROM_THE_START_EVERY => {
                        RelayScope::DueFrom { due_at }
                    }
                    _ => {
                        from_the_start = tokio::time::Instant::now();
                        RelayScope::Due
                    }
                }
            };
            let taken = match inner
                .journal
                .take_for_relay(scope, ROUND, now, &excluded)
                .await
            {
                Ok(taken) => taken,
                Err(e) => {
                    warn!(error = %e, "the relay cannot read the journal; trying again");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    continue;
                }
            };
            let n = taken.messages.len() as i64;
            if !sweeping {
                from_due = taken.last_due.filter(|_| n == ROUND);
            }
            if n > 0 {
                under_way.push_back(publish(inner.clone(), &ch, taken).await);
            }
            if sweeping {
                if n > 0 {
                    info!(
                        messages = n,
                        "handed to the broker again: waiting too long, or in flight under a lease that ran out"
                    );
                }
                continue;
            }
            if n == ROUND {
                continue;
            }
            // Nothing more is due: the rounds under way are seen through while the
            // relay waits for more work.
            tokio::select! {
                _ = inner.relay_wake.notified() => {}
                _ = tokio::time::sleep(inner.options.poll_interval) => {}
                _ = shutdown.changed() => {}
                Some(confirmed) = under_way.next() => settle(inner, &mut unmarked, confirmed)?,
            }
        }
    }
    .await;
    // The rounds under way end (their holds released if the broker is gone), and what
    // the broker confirmed is marked before the relay stops or its session starts
    // again, so that nothing waits for its hold to run out to be sent again.
    while let Some(confirmed) = under_way.next().await {
        // A failed round has released its holds; the session's end is told already.
        let _ = settle(inner, &mut unmarked, confirmed);
    }
    unmarked.mark(inner, Duration::ZERO).await;
    ended
}

/// A round the broker has answered: its confirmed messages wait for their mark; a
/// broken session ends the relay's run (the round's holds are released already).
fn settle(
    inner: &Inner,
    unmarked: &mut Unmarked,
    confirmed: Result<Handed, TransportError>,
) -> Result<(), TransportError> {
    let handed = confirmed?;
    inner.metrics.relayed.inc_by(handed.confirmed.len() as u64);
    unmarked.push(handed);
    Ok(())
}

/// Publishes every message of a round; the round's confirms, to be waited for while
/// the relay takes the next round. Should the broker fail, the round's holds are
/// released at once, for the next session.
async fn publish(
    inner: Arc<Inner>,
    ch: &Channel,
    taken: Taken,
) -> impl Future<Output = Result<Handed, TransportError>> + use<> {
    let Taken { messages, hold, .. } = taken;
    let mut pending = Vec::with_capacity(messages.len());
    let mut failed = None;
    for m in &messages {
        let id = m.id.to_string();
        let sent = ch
            .basic_publish(
                WORK_EXCHANGE.into(),
                m.route.as_str().into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                id.as_bytes(),
                BasicProperties::default()
                    .with_message_id(id.as_str().into())
                    .with_content_type("text/plain".into())
                    .with_app_id("knudepunkt".into())
                    .with_delivery_mode(2),
            )
            .await
            .map_err(amqp(format!("publishing message {id}")));
        match sent {
            Ok(confirm) => pending.push(confirm),
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    async move {
        let confirmed = match failed {
            Some(e) => Err(e),
            None => confirmations(&messages, pending).await,
        };
        match confirmed {
            Ok(confirmed) => Ok(Handed { confirmed, hold }),
            Err(e) => {
                let ids: Vec<MessageId> = messages.iter().map(|m| m.id).collect();
                if let Err(je) = inner.journal.release_holds(&ids, hold).await {
                    warn!(error = %je, "the relay cannot release its hold; the messages wait for it to run out");
                }
                Err(e)
            }
        }
    }
}

/// Waits for a round's confirms; the confirmed ids.
async fn confirmations(
    messages: &[Relayable],
    pending: Vec<PublisherConfirm>,
) -> Result<Vec<MessageId>, TransportError> {
    let mut confirmed = Vec::with_capacity(pending.len());
    for (m, confirm) in messages.iter().zip(pending) {
        match confirm
            .await
            .map_err(amqp(format!("the confirm of message {}", m.id)))?
        {
            Confirmation::Ack(None) => confirmed.push(m.id),
            Confirmation::Ack(Some(_)) => {
                warn!(message_id = %m.id, route = %m.route, "no queue is bound for the route; the message stays in the journal")
            }
            Confirmation::Nack(_) | Confirmation::NotRequested => {
                warn!(message_id = %m.id, route = %m.route, "the broker did not confirm the message; it is handed over again")
            }
        }
    }
    Ok(confirmed)
}
