//! What the RabbitMQ transport asks of the journal: the committed messages still to be
//! handed to the broker (the outbox relay), marked as handed over only once the
//! broker's confirm arrives; and the register of engine instances sharing the journal.
//!
//! A round's hold keeps other rounds off the messages it took, from the take until
//! well after the confirm; the mark that hands a message over for good may therefore
//! come later, and it only writes the messages no worker has claimed meanwhile (a claim
//! clears the hold). The relay marks a round some seconds after its confirms, when most
//! of its messages are claimed already: on PostgreSQL a mark of a waiting message is a
//! whole new row version, with every index written again.

use sqlx::Row;

use super::claims::numbered;
use super::{Backend, Journal, JournalError, parse_id};
use crate::ids::MessageId;

/// A message the relay is to publish.
#[derive(Clone, Debug)]
pub struct Relayable {
    pub id: MessageId,
    pub route: String,
}

/// Which messages a relay round takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelayScope {
    /// Due and never handed over (or put back in line since: a retry, a confirmation
    /// deadline, a replay).
    Due,
    /// The same, due at or after `due_at`: a relay working through a backlog goes on
    /// where its last round ended instead of walking again past the messages its
    /// earlier rounds hold (a round that started from the beginning finds whatever was
    /// committed late, with an earlier due time).
    DueFrom { due_at: i64 },
    /// Handed over before `stale_before` and still waiting (their broker message was
    /// lost: a queue purged or deleted), or in flight under a lease that ran out.
    Stale { stale_before: i64 },
}

/// What a relay round took, under a hold until `hold`.
#[derive(Clone, Debug)]
pub struct Taken {
    pub messages: Vec<Relayable>,
    pub hold: i64,
    /// The latest due time among them: where the next round may go on from.
    pub last_due: Option<i64>,
}

/// What a relay round handed to the broker: the messages it confirmed, which stay
/// under the round's hold (until `hold`) until they are marked.
#[derive(Clone, Debug)]
pub struct Handed {
    pub confirmed: Vec<MessageId>,
    pub hold: i64,
}

/// One engine instance as the register shows it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Instance {
    pub id: String,
    pub host: String,
    pub pid: i64,
    pub transport: String,
    pub connected: bool,
    pub consumers: i64,
    pub in_flight: i64,
    /// Messages this instance has finished with since it started.
    pub handled: i64,
    pub started_at: i64,
    pub seen_at: i64,
}

/// How long a relay round holds the messages it took while the broker confirms them;
/// a message whose confirm never came (a nack, no queue bound, the instance gone) is
/// taken again once its hold runs out.
pub const RELAY_HOLD_MS: i64 = 30_000;

impl Journal {
    /// Releases a round's hold on `ids` at once (their broker is gone): the next
    /// round takes them without waiting for the hold to run out.
    pub async fn release_holds(&self, ids: &[MessageId], hold: i64) -> Result<(), JournalError> {
        self.settle_holds(ids, hold, None).await
    }

    /// Marks a round's confirmed messages as handed over at `at`, those still under its
    /// hold: a message a worker claimed meanwhile is passed over (its outcome decides
    /// what comes next), and so is one a later round holds.
    pub async fn mark_handed_over(&self, handed: &Handed, at: i64) -> Result<(), JournalError> {
        self.settle_holds(&handed.confirmed, handed.hold, Some(at))
            .await
    }

    /// Takes up to `limit` messages of `scope` (not on the `excluded` routes, whose work
    /// stays with the journal's own claims) under a hold until `now` +
    /// [`RELAY_HOLD_MS`], in id order, for the relay to publish. Another round, here or
    /// in another instance, passes them over until the hold runs out: the broker's
    /// confirmed ones are marked by [`Journal::mark_handed_over`] (or claimed by a
    /// worker first, which clears the hold), the others are taken again. Taking is one
    /// statement: no row stays locked while the broker confirms, so a worker claiming
    /// a message that arrived before its confirm does not wait.
    pub async fn take_for_relay(
        &self,
        scope: RelayScope,
        limit: i64,
        now: i64,
        excluded: &[String],
    ) -> Result<Taken, JournalError> {
        let hold = now + RELAY_HOLD_MS;
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        // $1 the hold, $2 now, $3 the limit, then the scope's own and the routes left out.
        let (which, next) = match scope {
            RelayScope::Due => (
                "relayed_at IS NULL AND state IN ('pending', 'retrying', 'accepted') AND due_at <= $2",
                4,
            ),
            RelayScope::DueFrom { .. } => (
                "relayed_at IS NULL AND state IN ('pending', 'retrying', 'accepted') AND due_at <= $2 AND due_at >= $4",
                5,
            ),
            RelayScope::Stale { .. } => (
                "state IN ('pending', 'retrying', 'in_flight', 'accepted') AND due_at <= $2 AND \
                 ((state IN ('pending', 'retrying') AND relayed_at < $4) OR \
                 (state = 'in_flight' AND lease_until < $2 AND (relayed_at IS NULL OR relayed_at < lease_until)))",
                5,
            ),
        };
        let not_excluded = if excluded.is_empty() {
            String::new()
        } else {
            format!(" AND route NOT IN ({})", numbered(next, excluded.len()))
        };
        // Only placeholders and constants are spliced in.
        let sql = format!(
            "UPDATE messages SET relay_until = $1 WHERE id IN (SELECT id FROM messages WHERE {which}{not_excluded} \
             AND (relay_until IS NULL OR relay_until < $2) ORDER BY due_at LIMIT $3{lock}) RETURNING id, route, due_at"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(hold)
            .bind(now)
            .bind(limit);
        match scope {
            RelayScope::Due => {}
            RelayScope::DueFrom { due_at } => q = q.bind(due_at),
            RelayScope::Stale { stale_before } => q = q.bind(stale_before),
        }
        for route in excluded {
            q = q.bind(route);
        }
        let rows = match self.backend {
            Backend::Sqlite => q.fetch_all(&self.pool).await?,
            // The due messages are read in due order along the relay's own index, and
            // the scan stops at the round's limit. Left to choose, the planner reads a
            // bitmap of every message waiting and sorts it whenever its statistics say
            // few wait (a fresh journal, or a sudden flood of submissions): the whole
            // backlog read again for each round.
            Backend::Postgres => {
                let mut tx = self.pool.begin().await?;
                sqlx::query("SET LOCAL enable_bitmapscan = off")
                    .execute(&mut *tx)
                    .await?;
                let rows = q.fetch_all(&mut *tx).await?;
                tx.commit().await?;
                rows
            }
        };
        let mut last_due: Option<i64> = None;
        let mut messages = rows
            .iter()
            .map(|r| {
                let due: Option<i64> = r.try_get("due_at")?;
                last_due = last_due.max(due);
                let id: String = r.try_get("id")?;
                Ok(Relayable {
                    id: parse_id(&id)?,
                    route: r.try_get("route")?,
                })
            })
            .collect::<Result<Vec<_>, JournalError>>()?;
        messages.sort_by_key(|m| m.id);
        Ok(Taken {
            messages,
            hold,
            last_due,
        })
    }

    /// Ends this round's hold on `ids`: with `relayed_at`, the broker confirmed them and
    /// they are handed over; without, they are released to the next round. Only rows
    /// still under this hold change (a worker's claim has cleared the hold of those it
    /// took; a row a claim is writing is passed over, never waited for).
    async fn settle_holds(
        &self,
        ids: &[MessageId],
        hold: i64,
        relayed_at: Option<i64>,
    ) -> Result<(), JournalError> {
        if ids.is_empty() {
            return Ok(());
        }
        match self.backend {
            // One parameter for the list (ids never hold a comma): one statement shape.
            Backend::Postgres => {
                sqlx::query(
                    "UPDATE messages SET relayed_at = COALESCE($1, relayed_at), relay_until = NULL WHERE id IN \
                     (SELECT id FROM messages WHERE relay_until = $2 AND id = ANY(string_to_array($3, ',')) \
                     FOR UPDATE SKIP LOCKED)",
                )
                .bind(relayed_at)
                .bind(hold)
                .bind(
                    ids.iter()
                        .map(|id| id.to_string())
                        .collect::<Vec<_>>()
                        .join(","),
                )
                .execute(&self.pool)
                .await?;
            }
            Backend::Sqlite => {
                for chunk in ids.chunks(256) {
                    let sql = format!(
                        "UPDATE messages SET relayed_at = COALESCE($1, relayed_at), relay_until = NULL \
                         WHERE relay_until = $2 AND id IN ({})",
                        numbered(3, chunk.len())
                    );
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(relayed_at)
                        .bind(hold);
                    for id in chunk {
                        q = q.bind(id.to_string());
                    }
                    q.execute(&self.pool).await?;
                }
            }
        }
        Ok(())
    }

    /// Records this instance's heartbeat (inserting it the first time).
    pub async fn heartbeat(&self, me: &Instance) -> Result<(), JournalError> {
        sqlx::query(
            "INSERT INTO engine_instances (id, host, pid, transport, connected, consumers, in_flight, handled, started_at, seen_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO UPDATE SET \
             transport = excluded.transport, connected = excluded.connected, consumers = excluded.consumers, \
             in_flight = excluded.in_flight, handled = excluded.handled, seen_at = excluded.seen_at",
        )
        .bind(&me.id)
        .bind(&me.host)
        .bind(me.pid)
        .bind(&me.transport)
        .bind(me.connected as i64)
        .bind(me.consumers)
        .bind(me.in_flight)
        .bind(me.handled)
        .bind(me.started_at)
        .bind(me.seen_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The instance left cleanly: it is no longer listed.
    pub async fn forget_instance(&self, id: &str) -> Result<(), JournalError> {
        sqlx::query("DELETE FROM engine_instances WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The instances heard from since `since`, and (to be tidied away) those not heard
    /// from for a day are dropped.
    pub async fn instances(&self, since: i64) -> Result<Vec<Instance>, JournalError> {
        sqlx::query("DELETE FROM engine_instances WHERE seen_at < $1")
            .bind(since - 86_400_000)
            .execute(&self.pool)
            .await?;
        let rows = sqlx::query(
            "SELECT id, host, pid, transport, connected, consumers, in_flight, handled, started_at, seen_at \
             FROM engine_instances WHERE seen_at >= $1 ORDER BY started_at, id",
        )
        .bind(since)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Instance {
                    id: r.try_get("id")?,
                    host: r.try_get("host")?,
                    pid: r.try_get("pid")?,
                    transport: r.try_get("transport")?,
                    connected: r.try_get::<i64, _>("connected")? != 0,
                    consumers: r.try_get("consumers")?,
                    in_flight: r.try_get("in_flight")?,
                    handled: r.try_get("handled")?,
                    started_at: r.try_get("started_at")?,
                    seen_at: r.try_get("seen_at")?,
                })
            })
            .collect()
    }

    /// Per route, the open messages not yet finished and the age of the oldest one that
    /// is due: the lag an operator watches.
    pub async fn lag(&self, now: i64) -> Result<Vec<(String, i64, i64)>, JournalError> {
        let rows = sqlx::query(
            "SELECT route, COUNT(*) AS n, MIN(due_at) AS oldest FROM messages \
             WHERE state IN ('pending', 'retrying', 'in_flight') AND due_at <= $1 GROUP BY route ORDER BY route",
        )
        .bind(now)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                let oldest: Option<i64> = r.try_get("oldest")?;
                Ok((
                    r.try_get("route")?,
                    r.try_get("n")?,
                    oldest.map_or(0, |o| (now - o).max(0)),
                ))
            })
            .collect()
    }
}
