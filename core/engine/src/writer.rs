//! The journal writer: one task that writes new standalone messages (HTTP routes,
//! inbound messages, `submit_now`), delivery outcomes and receivers' confirmations,
//! many per transaction (group commit). Callers outside a transaction wait for their
//! message's commit; workers hand over outcomes and go on.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tracing::warn;

use crate::journal::{
    self, Confirmation, InsertOutcome, Journal, JournalError, NewMessage, Recorded, Settled,
};
use crate::message::{MessageState, now_ms};

/// Largest number of jobs written in one transaction.
const BATCH: usize = 512;

/// How many times the writer yields before it drains its queue.
const LINGER_YIELDS: usize = 2;

pub(crate) enum WriteJob {
    Insert(
        NewMessage,
        oneshot::Sender<Result<InsertOutcome, JournalError>>,
    ),
    /// An attempt's outcome; the sender, if any, hears the state once it is committed.
    Outcome(Recorded, Option<oneshot::Sender<MessageState>>),
    /// A receiver's confirmation of an accepted message; the sender hears how it went.
    /// Written after the batch's outcomes, so an acceptance handed over before it counts.
    Confirm(Confirmation, oneshot::Sender<Result<Settled, JournalError>>),
    /// Answered once everything sent before it is written.
    Flush(oneshot::Sender<()>),
}

/// What a batch's transaction wrote for those who wait on it.
#[derive(Default)]
struct Written {
    inserted: Vec<InsertOutcome>,
    confirmed: Vec<Result<Settled, JournalError>>,
}

async fn write(
    journal: &Journal,
    inserts: &[NewMessage],
    outcomes: &[Recorded],
    confirmations: &[Confirmation],
) -> Result<Written, JournalError> {
    let now = now_ms();
    if inserts.is_empty() && confirmations.is_empty() {
        journal.record_outcomes_alone(outcomes, now).await?;
        return Ok(Written::default());
    }
    let mut tx = journal.begin().await?;
    let inserted = journal::outbox_insert_many(&mut tx, inserts, now).await?;
    journal::record_outcomes(&mut tx, outcomes, now).await?;
    // After the outcomes: an acceptance handed over before its confirmation counts.
    let confirmed = journal::confirm_all_on(&mut tx, confirmations, now).await?;
    tx.commit().await?;
    Ok(Written {
        inserted,
        confirmed,
    })
}

pub(crate) async fn run(journal: Journal, mut rx: mpsc::UnboundedReceiver<WriteJob>) {
    let mut jobs = Vec::with_capacity(BATCH);
    while let Some(job) = rx.recv().await {
        jobs.push(job);
        // Let the tasks that are ready run first: what they hand over joins this
        // transaction instead of costing a commit of its own.
        for _ in 0..LINGER_YIELDS {
            tokio::task::yield_now().await;
        }
        while jobs.len() < BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let mut inserts = Vec::new();
        let mut waiting = Vec::new();
        let mut outcomes = Vec::new();
        let mut committed = Vec::new();
        let mut flushes = Vec::new();
        let (mut confirmations, mut confirmed) = (Vec::new(), Vec::new());
        for job in jobs.drain(..) {
            match job {
                WriteJob::Insert(msg, reply) => {
                    inserts.push(msg);
                    waiting.push(reply);
                }
                WriteJob::Outcome(r, told) => {
                    if let Some(told) = told {
                        committed.push((told, r.state));
                    }
                    outcomes.push(r);
                }
                WriteJob::Confirm(c, reply) => {
                    confirmations.push(c);
                    confirmed.push(reply);
                }
                WriteJob::Flush(reply) => flushes.push(reply),
            }
        }
        if !inserts.is_empty() || !outcomes.is_empty() || !confirmations.is_empty() {
            match write(&journal, &inserts, &outcomes, &confirmations).await {
                Ok(written) => {
                    for (reply, outcome) in waiting.into_iter().zip(written.inserted) {
                        let _ = reply.send(Ok(outcome));
                    }
                    for (reply, result) in confirmed.into_iter().zip(written.confirmed) {
                        let _ = reply.send(result);
                    }
                }
                Err(e) => {
                    // The callers hear of it at once; outcomes are kept until written,
                    // since a lost outcome would only mean a redelivery after the lease.
                    let text = e.to_string();
                    for reply in waiting {
                        let _ = reply.send(Err(JournalError::Write(text.clone())));
                    }
                    for reply in confirmed {
                        let _ = reply.send(Err(JournalError::Write(text.clone())));
                    }
                    let mut delay = Duration::from_millis(50);
                    while let Err(e) = write(&journal, &[], &outcomes, &[]).await {
                        warn!(error = %e, pending = outcomes.len(), "recording outcomes failed; trying again");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(5));
                    }
                }
            }
        }
        for (told, state) in committed {
            let _ = told.send(state);
        }
        for reply in flushes {
            let _ = reply.send(());
        }
    }
}
