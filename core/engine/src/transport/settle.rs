//! Settling one channel's deliveries with the broker. A nack goes at once. Acks are
//! gathered: once every earlier delivery on the channel is settled, one ack with
//! `multiple` covers them all, which saves the broker (and this instance) a frame and a
//! queue command per message. An ack held back behind a slow earlier delivery is sent
//! on its own after [`HOLD_AT_MOST`], so that a slow receiver does not keep the
//! channel's prefetch window full.
//!
//! A `multiple` ack settles every unsettled delivery up to its tag, so it is only safe
//! when the settler has heard of every delivery below that tag. It hears of each one
//! as the consumer takes it ([`Settler::received`]), before anyone can settle it, and
//! the channel has one consumer, whose deliveries arrive in tag order.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use lapin::Channel;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::debug;

/// Longest an ack waits for an earlier delivery before it is sent on its own.
pub(super) const HOLD_AT_MOST: Duration = Duration::from_millis(50);

enum Settle {
    Received(u64),
    Ack(u64),
    Nack { tag: u64, requeue: bool },
}

/// Hands a channel's settlements to its settling task.
#[derive(Clone)]
pub(super) struct Settler(mpsc::UnboundedSender<Settle>);

impl Settler {
    /// Starts the task settling `channel`'s deliveries. It ends, having sent every ack
    /// it holds, once every `Settler` for it is dropped.
    pub(super) fn start(channel: Channel) -> (Settler, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(channel, rx));
        (Settler(tx), task)
    }

    /// The consumer took delivery `tag`: it must be settled before any later ack may
    /// cover it.
    pub(super) fn received(&self, tag: u64) {
        let _ = self.0.send(Settle::Received(tag));
    }

    pub(super) fn ack(&self, tag: u64) {
        let _ = self.0.send(Settle::Ack(tag));
    }

    /// Back to the queue (`requeue`) or to the dead-letter exchange.
    pub(super) fn nack(&self, tag: u64, requeue: bool) {
        let _ = self.0.send(Settle::Nack { tag, requeue });
    }
}

/// What the settling task knows: deliveries taken and not yet settled, and acks not yet
/// sent, with when they were asked for.
#[derive(Default)]
struct Book {
    open: BTreeSet<u64>,
    acked: BTreeMap<u64, Instant>,
}

/// What to send the broker next.
#[derive(Debug, PartialEq, Eq)]
enum Send {
    /// Every delivery up to and including this tag.
    AckUpTo(u64),
    Ack(u64),
    Nack {
        tag: u64,
        requeue: bool,
    },
}

impl Book {
    /// Takes in one settlement, asked for at `now`.
    fn take(&mut self, s: Settle, now: Instant, out: &mut Vec<Send>) {
        match s {
            Settle::Received(tag) => {
                self.open.insert(tag);
            }
            Settle::Ack(tag) => {
                if self.open.remove(&tag) {
                    self.acked.insert(tag, now);
                }
            }
            Settle::Nack { tag, requeue } => {
                if self.open.remove(&tag) {
                    out.push(Send::Nack { tag, requeue });
                }
            }
        }
    }

    /// When the longest-held ack will have waited `hold`: until then, only news can
    /// let an ack go.
    fn next_due(&self, hold: Duration) -> Option<Instant> {
        self.acked.values().min().map(|&at| at + hold)
    }

    /// The acks that may go now: one `multiple` for those below the oldest delivery
    /// still open, and on its own each one that has waited `hold` or longer (all, with
    /// a zero hold).
    fn due(&mut self, now: Instant, hold: Duration, out: &mut Vec<Send>) {
        let below = match self.open.first() {
            Some(&oldest) => self.acked.range(..oldest).next_back().map(|(&t, _)| t),
            None => self.acked.last_key_value().map(|(&t, _)| t),
        };
        if let Some(upto) = below {
            self.acked = self.acked.split_off(&(upto + 1));
            out.push(Send::AckUpTo(upto));
        }
        let waited: Vec<u64> = self
            .acked
            .iter()
            .filter(|(_, at)| now.duration_since(**at) >= hold)
            .map(|(&t, _)| t)
            .collect();
        for tag in waited {
            self.acked.remove(&tag);
            out.push(Send::Ack(tag));
        }
    }
}

async fn run(channel: Channel, mut rx: mpsc::UnboundedReceiver<Settle>) {
    let mut book = Book::default();
    let mut out = Vec::new();
    loop {
        let waited = match book.next_due(HOLD_AT_MOST) {
            None => Ok(rx.recv().await),
            Some(due) => tokio::time::timeout_at(due, rx.recv()).await,
        };
        let now = Instant::now();
        match waited {
            Ok(None) => break,
            Ok(Some(first)) => {
                book.take(first, now, &mut out);
                while let Ok(s) = rx.try_recv() {
                    book.take(s, now, &mut out);
                }
            }
            // Nothing new within the hold: only acks that waited long enough go.
            Err(_) => {}
        }
        // `out` holds the nacks first: an ack with `multiple` sent before them would
        // settle them too.
        book.due(now, HOLD_AT_MOST, &mut out);
        send(&channel, &mut out).await;
    }
    // Every settler is gone: what is acked goes now; what is open the broker requeues
    // when the channel closes.
    book.due(Instant::now(), Duration::ZERO, &mut out);
    send(&channel, &mut out).await;
}

async fn send(channel: &Channel, out: &mut Vec<Send>) {
    for s in out.drain(..) {
        let sent = match s {
            Send::AckUpTo(tag) => {
                channel
                    .basic_ack(tag, BasicAckOptions { multiple: true })
                    .await
            }
            Send::Ack(tag) => channel.basic_ack(tag, BasicAckOptions::default()).await,
            Send::Nack { tag, requeue } => {
                channel
                    .basic_nack(
                        tag,
                        BasicNackOptions {
                            requeue,
                            ..Default::default()
                        },
                    )
                    .await
            }
        };
        if let Err(e) = sent {
            debug!(error = %e, "a settlement did not reach the broker; its message will come again and be skipped");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settle(book: &mut Book, steps: Vec<Settle>, now: Instant, hold: Duration) -> Vec<Send> {
        let mut out = Vec::new();
        for s in steps {
            book.take(s, now, &mut out);
        }
        book.due(now, hold, &mut out);
        out
    }

    #[test]
    fn acks_in_order_go_as_one() {
        let mut book = Book::default();
        let now = Instant::now();
        let hold = Duration::from_secs(60);
        let received = (1..=4).map(Settle::Received).collect();
        assert!(settle(&mut book, received, now, hold).is_empty());
        let out = settle(&mut book, vec![Settle::Ack(2), Settle::Ack(1)], now, hold);
        assert_eq!(out, vec![Send::AckUpTo(2)]);
        let out = settle(&mut book, vec![Settle::Ack(4), Settle::Ack(3)], now, hold);
        assert_eq!(out, vec![Send::AckUpTo(4)]);
    }

    #[test]
    fn an_ack_waits_for_an_open_earlier_delivery_then_goes_alone() {
        let mut book = Book::default();
        let now = Instant::now();
        let hold = Duration::from_millis(50);
        let steps = vec![
            Settle::Received(1),
            Settle::Received(2),
            Settle::Received(3),
            Settle::Ack(2),
            Settle::Ack(3),
        ];
        // Delivery 1 is still open: neither 2 nor 3 may be covered by a multiple ack.
        assert!(settle(&mut book, steps, now, hold).is_empty());
        let later = now + hold;
        assert_eq!(
            settle(&mut book, vec![], later, hold),
            vec![Send::Ack(2), Send::Ack(3)]
        );
        // 1 settles later on its own; nothing is sent twice.
        assert_eq!(
            settle(&mut book, vec![Settle::Ack(1)], later, hold),
            vec![Send::AckUpTo(1)]
        );
    }

    #[test]
    fn the_next_ack_due_is_the_one_held_longest() {
        let mut book = Book::default();
        let now = Instant::now();
        let hold = Duration::from_millis(50);
        assert_eq!(book.next_due(hold), None);
        let steps = (1..=3).map(Settle::Received).collect();
        settle(&mut book, steps, now, hold);
        settle(&mut book, vec![Settle::Ack(3)], now, hold);
        let later = now + Duration::from_millis(20);
        settle(&mut book, vec![Settle::Ack(2)], later, hold);
        assert_eq!(book.next_due(hold), Some(now + hold));
    }

    #[test]
    fn a_nack_goes_at_once_and_before_an_ack_that_would_cover_it() {
        let mut book = Book::default();
        let now = Instant::now();
        let hold = Duration::from_secs(60);
        let steps = vec![
            Settle::Received(7),
            Settle::Received(8),
            Settle::Received(9),
            Settle::Nack {
                tag: 7,
                requeue: false,
            },
            Settle::Ack(9),
        ];
        assert_eq!(
            settle(&mut book, steps, now, hold),
            vec![Send::Nack {
                tag: 7,
                requeue: false
            }]
        );
        assert_eq!(
            settle(&mut book, vec![Settle::Ack(8)], now, hold),
            vec![Send::AckUpTo(9)]
        );
    }

    #[test]
    fn at_the_end_every_ack_goes() {
        let mut book = Book::default();
        let now = Instant::now();
        let steps = vec![Settle::Received(1), Settle::Received(2), Settle::Ack(2)];
        assert!(settle(&mut book, steps, now, Duration::from_secs(60)).is_empty());
        assert_eq!(
            settle(&mut book, vec![], now, Duration::ZERO),
            vec![Send::Ack(2)]
        );
    }

    #[test]
    fn a_settlement_of_an_unknown_or_settled_delivery_sends_nothing() {
        let mut book = Book::default();
        let now = Instant::now();
        let hold = Duration::ZERO;
        let out = settle(
            &mut book,
            vec![
                Settle::Received(1),
                Settle::Ack(1),
                Settle::Ack(1),
                Settle::Ack(5),
            ],
            now,
            hold,
        );
        assert_eq!(out, vec![Send::AckUpTo(1)]);
        let out = settle(
            &mut book,
            vec![Settle::Nack {
                tag: 1,
                requeue: true,
            }],
            now,
            hold,
        );
        assert!(out.is_empty());
    }
}
