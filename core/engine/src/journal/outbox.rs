//! Writing new messages into the journal, inside the caller's own transaction.

use sqlx::{AnyConnection, Row};

use super::{JournalError, Step, parse_id};
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
    /// `Some(size)`: the payload, `size` bytes, is in the journal's payload files already
    /// ([`super::Journal::stage`]) and `payload` has been let go; the row keeps only the
    /// size. `None` for a new message.
    pub payload_file: Option<i64>,
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
    let mut out = insert_many(conn, std::slice::from_ref(msg), now).await?;
    Ok(out.pop().expect("one outcome per message"))
}

/// Inserts many messages with a few multi-row statements; one outcome per message, in
/// order. Duplicates (by route and idempotency key) are reported, not raised.
pub async fn insert_many(
    conn: &mut AnyConnection,
    msgs: &[NewMessage],
    now: i64,
) -> Result<Vec<InsertOutcome>, JournalError> {
    let mut out = Vec::with_capacity(msgs.len());
    for chunk in msgs.chunks(200) {
        out.extend(insert_chunk(conn, chunk, now).await?);
    }
    Ok(out)
}

const MESSAGE_COLUMNS: usize = 18;

async fn insert_chunk(
    conn: &mut AnyConnection,
    msgs: &[NewMessage],
    now: i64,
) -> Result<Vec<InsertOutcome>, JournalError> {
    // Only placeholders are spliced in; every value is bound.
    let sql = format!(
        "INSERT INTO messages (id, route, direction, correlation_id, idempotency_key, payload, content_type, checksum, \
         attempts, due_at, deadline_at, state, claimed_from, claim_token, lease_until, external_ids, created_at, updated_at, payload_size) \
         SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, v.column7, v.column8, v.column9, \
         v.column10, v.column11, v.column12, v.column13, v.column14, v.column15, v.column16, v.column17, v.column17, v.column18 \
         FROM (VALUES {}) AS v WHERE true \
         ON CONFLICT (route, idempotency_key) DO NOTHING",
        super::claims::placeholders(conn, msgs.len(), MESSAGE_COLUMNS, 1)
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for msg in msgs {
        let (state, token, lease) = match &msg.claim {
            Some((token, lease_until)) => (
                MessageState::InFlight,
                Some(token.clone()),
                Some(*lease_until),
            ),
            None => (MessageState::Pending, None, None),
        };
        q = q
            .bind(msg.id.to_string())
            .bind(msg.route.clone())
            .bind(msg.direction.as_str())
            .bind(msg.correlation_id.clone())
            .bind(msg.idempotency_key.as_str().to_string())
            // Bound as a slice: the driver copies it once, as it must.
            .bind(
                if msg.payload_file.is_some() || super::payloads::kept_apart(conn, &msg.payload) {
                    &[][..]
                } else {
                    msg.payload.as_slice()
                },
            )
            .bind(msg.content_type.clone())
            .bind(msg.checksum.to_hex())
            .bind(if token.is_some() { 1i64 } else { 0 })
            .bind(lease.unwrap_or(now))
            .bind(msg.deadline_at)
            .bind(state.as_str())
            .bind(token.as_ref().map(|_| "pending"))
            .bind(token)
            .bind(lease)
            .bind(serde_json::to_string(&msg.external_ids).unwrap_or_else(|_| "{}".into()))
            .bind(now)
            .bind(msg.payload_file);
    }
    let written = q.execute(&mut *conn).await?.rows_affected() as usize;
    // Usually all were new; only otherwise find out which (rows are not returned, so
    // nothing crosses to the caller per message on the common path).
    let inserted: std::collections::HashSet<String> = if written == msgs.len() {
        msgs.iter().map(|m| m.id.to_string()).collect()
    } else {
        let sql = format!(
            "SELECT id FROM messages WHERE id IN ({})",
            (0..msgs.len())
                .map(|k| if conn.backend_name() == "SQLite" {
                    "?".to_string()
                } else {
                    format!("${}", k + 1)
                })
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for m in msgs {
            q = q.bind(m.id.to_string());
        }
        q.fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<Result<_, _>>()?
    };

    let apart: Vec<(String, &[u8])> = msgs
        .iter()
        .filter(|m| m.payload_file.is_none() && super::payloads::kept_apart(conn, &m.payload))
        .map(|m| (m.id.to_string(), m.payload.as_slice()))
        .filter(|(id, _)| inserted.contains(id))
        .collect();
    super::payloads::insert(conn, &apart).await?;

    // The history of each new message: received, pending (and in_flight if claimed).
    let mut steps = Vec::new();
    for msg in msgs.iter().filter(|m| inserted.contains(&m.id.to_string())) {
        let step = |from, to, attempt, detail| Step {
            id: msg.id.to_string(),
            from,
            to,
            attempt,
            detail,
        };
        steps.push(step(None, "received", 0, msg.origin.as_deref()));
        steps.push(step(Some("received"), "pending", 0, None));
        if msg.claim.is_some() {
            steps.push(step(
                Some("pending"),
                "in_flight",
                1,
                Some("claimed at ingress"),
            ));
        }
    }
    super::insert_transitions(conn, &steps, now).await?;

    let mut out = Vec::with_capacity(msgs.len());
    for msg in msgs {
        if inserted.contains(&msg.id.to_string()) {
            out.push(InsertOutcome::Inserted(msg.id));
        } else {
            let existing: String =
                sqlx::query("SELECT id FROM messages WHERE route = $1 AND idempotency_key = $2")
                    .bind(&msg.route)
                    .bind(msg.idempotency_key.as_str())
                    .fetch_optional(&mut *conn)
                    .await?
                    .map(|r| r.try_get("id"))
                    .transpose()?
                    // The same key twice in one batch: the first one won.
                    .or_else(|| {
                        msgs.iter()
                            .find(|m| {
                                m.route == msg.route
                                    && m.idempotency_key == msg.idempotency_key
                                    && inserted.contains(&m.id.to_string())
                            })
                            .map(|m| m.id.to_string())
                    })
                    .ok_or_else(|| JournalError::Corrupt {
                        id: msg.id.to_string(),
                        what: "neither inserted nor found by its idempotency key".into(),
                    })?;
            out.push(InsertOutcome::Duplicate(parse_id(&existing)?));
        }
    }
    Ok(out)
}
