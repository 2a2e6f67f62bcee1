//! Writing new messages into the journal, inside the caller's own transaction.

use sqlx::{AnyConnection, Row};

use super::{JournalError, parse_id};
use crate::checksum::Sha256Digest;
use crate::ids::{IdempotencyKey, MessageId};
use crate::message::{Direction, ExternalIds, MessageState};

/// A message about to enter the journal.
#[derive(Clone, Debug)]
pub struct NewMessage {
    pub id: MessageId,
    pub route: String,
    pub direction: Direction,
    pub correlation_id: Option<String>,
    pub idempotency_key: IdempotencyKey,
    pub payload: Vec<u8>,
    pub content_type: String,
    /// Taken at ingress, before the payload is stored.
    pub checksum: Sha256Digest,
    pub external_ids: ExternalIds,
    pub deadline_at: Option<i64>,
    /// Claimed at once by the inserting worker (a synchronous route) instead of queued.
    pub claim: Option<(String, i64)>,
    /// A note on the `received` transition, e.g. where it came from.
    pub origin: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsertOutcome {
    Inserted(MessageId),
    /// The route already holds a message with this idempotency key; nothing was written.
    Duplicate(MessageId),
}

impl InsertOutcome {
    pub fn id(&self) -> MessageId {
        match self {
            InsertOutcome::Inserted(id) | InsertOutcome::Duplicate(id) => *id,
        }
    }
}

/// Inserts `msg` on `conn`, which may be inside the caller's transaction. A duplicate
/// idempotency key is reported, not raised, so the caller's transaction stays usable.
pub async fn insert(
    conn: &mut AnyConnection,
    msg: &NewMessage,
    now: i64,
) -> Result<InsertOutcome, JournalError> {
    let id = msg.id.to_string();
    let (state, token, lease) = match &msg.claim {
        Some((token, lease_until)) => (MessageState::InFlight, Some(token.as_str()), Some(*lease_until)),
        None => (MessageState::Pending, None, None),
    };
    let external_ids = serde_json::to_string(&msg.external_ids).unwrap_or_else(|_| "{}".into());
    let inserted = sqlx::query(
        "INSERT INTO messages (id, route, direction, correlation_id, idempotency_key, payload, content_type, checksum, \
         attempts, due_at, deadline_at, state, claimed_from, claim_token, lease_until, external_ids, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17) \
         ON CONFLICT (route, idempotency_key) DO NOTHING",
    )
    .bind(&id)
    .bind(&msg.route)
    .bind(msg.direction.as_str())
    .bind(msg.correlation_id.as_deref())
    .bind(msg.idempotency_key.as_str())
    .bind(&msg.payload)
    .bind(&msg.content_type)
    .bind(msg.checksum.to_hex())
    .bind(if token.is_some() { 1i64 } else { 0 })
    .bind(lease.unwrap_or(now))
    .bind(msg.deadline_at)
    .bind(state.as_str())
    .bind(token.map(|_| "pending"))
    .bind(token)
    .bind(lease)
    .bind(external_ids)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        let existing: String = sqlx::query("SELECT id FROM messages WHERE route = $1 AND idempotency_key = $2")
            .bind(&msg.route)
            .bind(msg.idempotency_key.as_str())
            .fetch_one(&mut *conn)
            .await?
            .try_get("id")?;
        return Ok(InsertOutcome::Duplicate(parse_id(&existing)?));
    }
    let mut steps = vec![
        (None, MessageState::Received, 0i64, msg.origin.as_deref()),
        (Some("received"), MessageState::Pending, 0, None),
    ];
    if token.is_some() {
        steps.push((Some("pending"), MessageState::InFlight, 1, Some("claimed at ingress")));
    }
    for (from, to, attempt, detail) in steps {
        sqlx::query(
            "INSERT INTO message_transitions (message_id, from_state, to_state, at, attempt, detail) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(from)
        .bind(to.as_str())
        .bind(now)
        .bind(attempt)
        .bind(detail)
        .execute(&mut *conn)
        .await?;
    }
    Ok(InsertOutcome::Inserted(msg.id))
}
