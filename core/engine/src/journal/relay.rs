//! What the RabbitMQ transport asks of the journal: the committed messages still to be
//! handed to the broker (the outbox relay), marked as handed over only once the
//! broker's confirm arrives; and the register of engine instances sharing the journal.

use sqlx::Row;

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
    /// Handed over before `stale_before` and still waiting (their broker message was
    /// lost: a queue purged or deleted), or in flight under a lease that ran out.
    Stale { stale_before: i64 },
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

impl Journal {
    /// Takes up to `limit` messages of `scope` (not on the `excluded` routes, whose work
    /// stays with the journal's own claims), hands them to `publish`, and marks those it
    /// says the broker confirmed as handed over, in one transaction. On PostgreSQL the
    /// rows stay locked meanwhile (another instance's relay passes them over, a worker
    /// claiming one waits); on SQLite the one writer serialises. Returns how many were
    /// taken, or `publish`'s error, with nothing marked.
    pub async fn relay<E>(
        &self,
        scope: RelayScope,
        limit: i64,
        now: i64,
        excluded: &[String],
        publish: impl AsyncFnOnce(Vec<Relayable>) -> Result<Vec<MessageId>, E>,
    ) -> Result<Result<usize, E>, JournalError> {
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let not_excluded = if excluded.is_empty() {
            String::new()
        } else {
            let list = (0..excluded.len())
                .map(|k| format!("${}", 4 + k))
                .collect::<Vec<_>>()
                .join(", ");
            format!(" AND route NOT IN ({list})")
        };
        let which = match scope {
            RelayScope::Due => {
                "relayed_at IS NULL AND state IN ('pending', 'retrying', 'accepted') AND due_at <= $1 AND $3 = 0"
            }
            RelayScope::Stale { .. } => {
                "state IN ('pending', 'retrying', 'in_flight', 'accepted') AND due_at <= $1 AND \
                 ((state IN ('pending', 'retrying') AND relayed_at < $3) OR \
                 (state = 'in_flight' AND lease_until < $1 AND (relayed_at IS NULL OR relayed_at < lease_until)))"
            }
        };
        // Only placeholders and constants are spliced in.
        let sql = format!(
            "SELECT id, route FROM messages WHERE {which}{not_excluded} ORDER BY due_at LIMIT $2{lock}"
        );
        let mut tx = self.pool.begin().await?;
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(limit)
            .bind(match scope {
                RelayScope::Due => 0,
                RelayScope::Stale { stale_before } => stale_before,
            });
        for route in excluded {
            q = q.bind(route);
        }
        let rows = q.fetch_all(&mut *tx).await?;
        if rows.is_empty() {
            tx.rollback().await?;
            return Ok(Ok(0));
        }
        let taken: Vec<Relayable> = rows
            .iter()
            .map(|r| {
                let id: String = r.try_get("id")?;
                Ok(Relayable {
                    id: parse_id(&id)?,
                    route: r.try_get("route")?,
                })
            })
            .collect::<Result<_, JournalError>>()?;
        let n = taken.len();
        let confirmed = match publish(taken).await {
            Ok(c) => c,
            Err(e) => {
                tx.rollback().await?;
                return Ok(Err(e));
            }
        };
        for chunk in confirmed.chunks(256) {
            let sql = format!(
                "UPDATE messages SET relayed_at = $1 WHERE id IN ({})",
                (0..chunk.len())
                    .map(|k| format!("${}", 2 + k))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now);
            for id in chunk {
                q = q.bind(id.to_string());
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(Ok(n))
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
