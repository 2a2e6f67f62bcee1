//! What operators do with the journal: look, list, replay and discard.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::confirmations::Settled;
use super::{
    Backend, Journal, JournalError, parse_direction, parse_external_ids, parse_id, parse_state,
};
use crate::checksum::Sha256Digest;
use crate::ids::MessageId;
use crate::message::{JournalMessage, MessageState, Transition};

/// Which messages to list; all fields optional.
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    pub route: Option<String>,
    pub state: Option<MessageState>,
    pub correlation_id: Option<String>,
    pub limit: i64,
}

/// Open work per route, for the backlog gauges.
#[derive(Clone, Debug, Serialize)]
pub struct RouteBacklog {
    pub route: String,
    pub state: MessageState,
    pub count: i64,
    pub oldest_created_at: i64,
}

/// One audited read of a message's content.
#[derive(Clone, Debug, Serialize)]
pub struct AuditedRead {
    pub at: i64,
    pub reader: String,
    pub channel: String,
    pub message_id: String,
    pub purpose: String,
}

/// A dead-letter event for the message's initiator.
#[derive(Clone, Debug, Serialize)]
pub struct Notification {
    pub id: i64,
    pub message_id: MessageId,
    pub route: String,
    pub correlation_id: Option<String>,
    pub kind: String,
    pub detail: Option<String>,
    pub created_at: i64,
}

/// Spliced into queries; made of constants only, so the statements stay safe.
fn columns(backend: Backend) -> String {
    format!(
        "id, route, direction, correlation_id, idempotency_key, {}, content_type, checksum, attempts, \
         due_at, deadline_at, state, last_error_kind, last_error, external_ids, created_at, updated_at",
        super::payloads::column(backend, "messages")
    )
}

fn message_from_row(row: &AnyRow) -> Result<JournalMessage, JournalError> {
    let id: String = row.try_get("id")?;
    let state: String = row.try_get("state")?;
    let state = parse_state(&id, &state)?;
    let direction: String = row.try_get("direction")?;
    let payload: Vec<u8> = row.try_get("payload")?;
    let external_ids: String = row.try_get("external_ids")?;
    let due_at: Option<i64> = row.try_get("due_at")?;
    Ok(JournalMessage {
        id: parse_id(&id)?,
        route: row.try_get("route")?,
        direction: parse_direction(&id, &direction)?,
        correlation_id: row.try_get("correlation_id")?,
        idempotency_key: row.try_get("idempotency_key")?,
        payload_size: payload.len(),
        payload,
        content_type: row.try_get("content_type")?,
        checksum: row.try_get("checksum")?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: due_at
            .filter(|_| matches!(state, MessageState::Pending | MessageState::Retrying)),
        deadline_at: row.try_get("deadline_at")?,
        state,
        last_error_kind: row.try_get("last_error_kind")?,
        last_error: row.try_get("last_error")?,
        external_ids: parse_external_ids(&id, &external_ids)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl super::payloads::KeptApart for JournalMessage {
    fn id(&self) -> MessageId {
        self.id
    }
    fn payload_mut(&mut self) -> &mut Vec<u8> {
        &mut self.payload
    }
}

impl Journal {
    pub async fn get(&self, id: MessageId) -> Result<JournalMessage, JournalError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM messages WHERE id = $1",
            columns(self.backend)
        )))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(JournalError::NotFound(id))?;
        let mut msg = [message_from_row(&row)?];
        self.fill_payloads(&mut msg).await?;
        let [msg] = msg;
        Ok(msg)
    }

    /// The payloads kept apart of messages read from their rows.
    async fn fill_payloads(&self, msgs: &mut [JournalMessage]) -> Result<(), JournalError> {
        super::payloads::fill_kept_apart(self.backend, &self.reader, self.files.as_ref(), msgs)
            .await?;
        for m in msgs {
            m.payload_size = m.payload.len();
        }
        Ok(())
    }

    pub async fn history(&self, id: MessageId) -> Result<Vec<Transition>, JournalError> {
        let rows = sqlx::query(
            "SELECT from_state, to_state, at, attempt, detail FROM message_transitions WHERE message_id = $1 ORDER BY id",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let to: String = r.try_get("to_state")?;
                Ok(Transition {
                    from_state: r.try_get("from_state")?,
                    to_state: parse_state(&id.to_string(), &to)?,
                    at: r.try_get("at")?,
                    attempt: r.try_get("attempt")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
    }

    /// Newest first.
    pub async fn list(&self, filter: &ListFilter) -> Result<Vec<JournalMessage>, JournalError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM messages WHERE ($1 IS NULL OR route = $1) AND ($2 IS NULL OR state = $2) \
             AND ($3 IS NULL OR correlation_id = $3) ORDER BY id DESC LIMIT $4",
            columns(self.backend)
        )))
        .bind(filter.route.as_deref())
        .bind(filter.state.map(|s| s.as_str()))
        .bind(filter.correlation_id.as_deref())
        .bind(if filter.limit > 0 { filter.limit } else { 100 })
        .fetch_all(&self.pool)
        .await?;
        let mut msgs = rows
            .iter()
            .map(message_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        self.fill_payloads(&mut msgs).await?;
        Ok(msgs)
    }

    /// Counts per state, for tests and the demo.
    pub async fn count_by_state(
        &self,
        route: Option<&str>,
    ) -> Result<Vec<(MessageState, i64)>, JournalError> {
        let rows = sqlx::query(
            "SELECT state, COUNT(*) AS n FROM messages WHERE ($1 IS NULL OR route = $1) GROUP BY state ORDER BY state",
        )
        .bind(route)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let s: String = r.try_get("state")?;
                Ok((parse_state("-", &s)?, r.try_get("n")?))
            })
            .collect()
    }

    /// Milliseconds from journaling to delivery of delivered messages on `route` (of one
    /// correlation id, if given), in no particular order: for latency reports.
    pub async fn delivery_latencies(
        &self,
        route: &str,
        correlation_id: Option<&str>,
    ) -> Result<Vec<i64>, JournalError> {
        let rows = sqlx::query(
            "SELECT updated_at - created_at AS ms FROM messages WHERE route = $1 AND state = 'delivered' \
             AND ($2 IS NULL OR correlation_id = $2)",
        )
        .bind(route)
        .bind(correlation_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("ms")?)).collect()
    }

    /// Open messages per route and state, with the oldest one's age. (Messages are
    /// journaled pending, so none rests in `received`; the condition matches the partial
    /// due index, which keeps this cheap on a large journal.)
    pub async fn backlog(&self) -> Result<Vec<RouteBacklog>, JournalError> {
        let rows = sqlx::query(
            "SELECT route, state, COUNT(*) AS n, MIN(created_at) AS oldest FROM messages \
             WHERE state IN ('pending', 'retrying', 'in_flight', 'accepted') GROUP BY route, state",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let s: String = r.try_get("state")?;
                Ok(RouteBacklog {
                    route: r.try_get("route")?,
                    state: parse_state("-", &s)?,
                    count: r.try_get("n")?,
                    oldest_created_at: r.try_get("oldest")?,
                })
            })
            .collect()
    }

    /// Puts a dead message back in line, after checking its payload still matches the
    /// checksum taken at ingress. Its redelivery budget starts afresh.
    pub async fn replay(&self, id: MessageId, by: &str) -> Result<(), JournalError> {
        let msg = self.get(id).await?;
        if msg.state != MessageState::Dead {
            return Err(JournalError::WrongState {
                id,
                state: msg.state,
                expected: "dead",
                action: "replayed",
            });
        }
        let digest = Sha256Digest::parse_hex(&msg.checksum)
            .map_err(|source| JournalError::Integrity { id, source })?;
        digest
            .verify(&msg.payload)
            .map_err(|source| JournalError::Integrity { id, source })?;
        self.operator_transition(
            id,
            MessageState::Dead,
            MessageState::Pending,
            &format!("replayed by {by}"),
            true,
        )
        .await
    }

    /// A negative confirmation for an accepted message (a failed Digital Post status, a
    /// negative receipt): it goes to the dead letter queue with `reason` as its error,
    /// and the initiator is told.
    pub async fn reject(&self, id: MessageId, reason: &str) -> Result<Settled, JournalError> {
        let now = crate::message::now_ms();
        let mut tx = self.pool.begin().await?;
        let row = accepted_row(&mut tx, id, "rejected").await?;
        let settled = Settled::of(&row)?;
        let attempts: i64 = row.try_get("attempts")?;
        sqlx::query(
            "UPDATE messages SET state = 'dead', due_at = NULL, last_error_kind = 'permanent', last_error = $1, updated_at = $2 \
             WHERE id = $3 AND state = 'accepted'",
        )
        .bind(reason)
        .bind(now)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        super::insert_transition(&mut tx, id, "accepted", "dead", now, attempts, Some(reason))
            .await?;
        sqlx::query(
            "INSERT INTO engine_notifications (message_id, route, correlation_id, kind, detail, created_at) \
             SELECT id, route, correlation_id, 'dead_letter', $1, $2 FROM messages WHERE id = $3",
        )
        .bind(reason)
        .bind(now)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(settled)
    }

    /// The message a route journaled under `key` (its idempotency key), if any.
    pub async fn find_by_key(
        &self,
        route: &str,
        key: &str,
    ) -> Result<Option<MessageId>, JournalError> {
        let row = sqlx::query("SELECT id FROM messages WHERE route = $1 AND idempotency_key = $2")
            .bind(route)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            let id: String = r.try_get("id")?;
            parse_id(&id)
        })
        .transpose()
    }

    /// The message one of `routes` journaled under `key`, if any (the first route listed
    /// wins when several did): one query however many routes.
    pub async fn find_by_key_on(
        &self,
        routes: &[String],
        key: &str,
    ) -> Result<Option<MessageId>, JournalError> {
        if routes.is_empty() {
            return Ok(None);
        }
        let list: Vec<String> = (0..routes.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT id, route FROM messages WHERE idempotency_key = $1 AND route IN ({})",
            list.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(key);
        for r in routes {
            q = q.bind(r);
        }
        // A reader: the message was journaled before anyone could answer it.
        let rows = q.fetch_all(&self.reader).await?;
        let first = routes.iter().find_map(|want| {
            rows.iter().find(|r| {
                r.try_get::<String, _>("route")
                    .is_ok_and(|route| &route == want)
            })
        });
        first
            .map(|r| {
                let id: String = r.try_get("id")?;
                parse_id(&id)
            })
            .transpose()
    }

    /// Takes a dead message out of the dead letter queue for good.
    pub async fn discard(&self, id: MessageId, by: &str, reason: &str) -> Result<(), JournalError> {
        let msg = self.get(id).await?;
        if msg.state != MessageState::Dead {
            return Err(JournalError::WrongState {
                id,
                state: msg.state,
                expected: "dead",
                action: "discarded",
            });
        }
        self.operator_transition(
            id,
            MessageState::Dead,
            MessageState::Discarded,
            &format!("discarded by {by}: {reason}"),
            false,
        )
        .await
    }

    async fn operator_transition(
        &self,
        id: MessageId,
        from: MessageState,
        to: MessageState,
        detail: &str,
        reset_attempts: bool,
    ) -> Result<(), JournalError> {
        let now = crate::message::now_ms();
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE messages SET state = $1, due_at = $2, updated_at = $2, relayed_at = NULL, \
             attempts = CASE WHEN $3 = 1 THEN 0 ELSE attempts END WHERE id = $4 AND state = $5",
        )
        .bind(to.as_str())
        .bind(now)
        .bind(reset_attempts as i64)
        .bind(id.to_string())
        .bind(from.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            let state: String = sqlx::query("SELECT state FROM messages WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(JournalError::NotFound(id))?
                .try_get("state")?;
            let state = parse_state(&id.to_string(), &state)?;
            return Err(JournalError::WrongState {
                id,
                state,
                expected: "dead",
                action: "changed by an operator",
            });
        }
        super::insert_transition(
            &mut tx,
            id,
            from.as_str(),
            to.as_str(),
            now,
            0,
            Some(detail),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records that `reader` read message `id`'s content through `channel` (api, cli), and why.
    pub async fn audit_read(
        &self,
        reader: &str,
        channel: &str,
        id: MessageId,
        purpose: &str,
    ) -> Result<(), JournalError> {
        sqlx::query("INSERT INTO audit_reads (at, reader, channel, message_id, purpose) VALUES ($1, $2, $3, $4, $5)")
            .bind(crate::message::now_ms())
            .bind(reader)
            .bind(channel)
            .bind(id.to_string())
            .bind(purpose)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The audited reads of one message, oldest first.
    pub async fn reads_of(&self, id: MessageId) -> Result<Vec<AuditedRead>, JournalError> {
        let rows = sqlx::query("SELECT at, reader, channel, message_id, purpose FROM audit_reads WHERE message_id = $1 ORDER BY id")
            .bind(id.to_string())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditedRead {
                    at: r.try_get("at")?,
                    reader: r.try_get("reader")?,
                    channel: r.try_get("channel")?,
                    message_id: r.try_get("message_id")?,
                    purpose: r.try_get("purpose")?,
                })
            })
            .collect()
    }

    /// Dead-letter events not yet taken by their initiator, oldest first.
    pub async fn open_notifications(&self, limit: i64) -> Result<Vec<Notification>, JournalError> {
        self.open_notifications_after(0, limit).await
    }

    /// Open notifications with an id above `after`, oldest first: for an initiator that
    /// pages past the ones that are not its own.
    pub async fn open_notifications_after(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Notification>, JournalError> {
        let rows = sqlx::query(
            "SELECT id, message_id, route, correlation_id, kind, detail, created_at FROM engine_notifications \
             WHERE consumed_at IS NULL AND id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let mid: String = r.try_get("message_id")?;
                Ok(Notification {
                    id: r.try_get("id")?,
                    message_id: parse_id(&mid)?,
                    route: r.try_get("route")?,
                    correlation_id: r.try_get("correlation_id")?,
                    kind: r.try_get("kind")?,
                    detail: r.try_get("detail")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Marks notifications as taken by their initiator.
    pub async fn consume_notifications(&self, ids: &[i64]) -> Result<(), JournalError> {
        let now = crate::message::now_ms();
        for id in ids {
            sqlx::query("UPDATE engine_notifications SET consumed_at = $1 WHERE id = $2")
                .bind(now)
                .bind(id)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }
}

/// Something an operator must look at.
#[derive(Clone, Debug, Serialize)]
pub struct InboxItem {
    pub id: i64,
    pub kind: String,
    /// The sender's id for it (a messageUUID, a BeskedId).
    pub reference: String,
    pub detail: String,
    pub content_type: String,
    pub payload_size: usize,
    pub received_at: i64,
    pub resolved_at: Option<i64>,
    pub resolved_by: Option<String>,
    pub resolution: Option<String>,
}

impl Journal {
    /// Keeps `payload` for an operator; once per (kind, reference). Whether it was new.
    pub async fn put_in_inbox(
        &self,
        kind: &str,
        reference: &str,
        detail: &str,
        payload: &[u8],
        content_type: &str,
    ) -> Result<bool, JournalError> {
        let written = sqlx::query(
            "INSERT INTO operator_inbox (kind, reference, detail, payload, content_type, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kind, reference) DO NOTHING",
        )
        .bind(kind)
        .bind(reference)
        .bind(detail)
        .bind(payload.to_vec())
        .bind(content_type)
        .bind(crate::message::now_ms())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(written == 1)
    }

    /// The inbox, oldest first; only what is still open unless `all`.
    pub async fn inbox(&self, all: bool) -> Result<Vec<InboxItem>, JournalError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, kind, reference, detail, content_type, CAST(LENGTH(payload) AS BIGINT) AS size, received_at, resolved_at, resolved_by, resolution \
             FROM operator_inbox {} ORDER BY id",
            if all { "" } else { "WHERE resolved_at IS NULL" }
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(InboxItem {
                    id: r.try_get("id")?,
                    kind: r.try_get("kind")?,
                    reference: r.try_get("reference")?,
                    detail: r.try_get("detail")?,
                    content_type: r.try_get("content_type")?,
                    payload_size: r.try_get::<i64, _>("size")? as usize,
                    received_at: r.try_get("received_at")?,
                    resolved_at: r.try_get("resolved_at")?,
                    resolved_by: r.try_get("resolved_by")?,
                    resolution: r.try_get("resolution")?,
                })
            })
            .collect()
    }

    /// Marks an inbox item dealt with; false if there is no open item `id`.
    pub async fn resolve_inbox(
        &self,
        id: i64,
        by: &str,
        resolution: &str,
    ) -> Result<bool, JournalError> {
        let changed = sqlx::query(
            "UPDATE operator_inbox SET resolved_at = $1, resolved_by = $2, resolution = $3 WHERE id = $4 AND resolved_at IS NULL",
        )
        .bind(crate::message::now_ms())
        .bind(by)
        .bind(resolution)
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(changed == 1)
    }
}

/// The row of message `id` if it is `accepted`; otherwise why `action` cannot be done.
async fn accepted_row(
    conn: &mut sqlx::AnyConnection,
    id: MessageId,
    action: &'static str,
) -> Result<sqlx::any::AnyRow, JournalError> {
    let row = sqlx::query(
        "SELECT state, external_ids, attempts, route, created_at FROM messages WHERE id = $1",
    )
    .bind(id.to_string())
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(JournalError::NotFound(id))?;
    let state: String = row.try_get("state")?;
    let state = parse_state(&id.to_string(), &state)?;
    if state != MessageState::Accepted {
        return Err(JournalError::WrongState {
            id,
            state,
            expected: "accepted",
            action,
        });
    }
    Ok(row)
}
