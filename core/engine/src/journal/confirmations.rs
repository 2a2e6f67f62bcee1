//! Receivers' confirmations of accepted messages (a Beskedfordeler status, a MedCom
//! receipt): each makes its message delivered. A batch is written set-wise: one read of
//! the messages, one update and one insert of history, however many it holds, so that
//! SQLite's one writer is held for a few round trips, not three per confirmation.

use std::collections::HashMap;

use sqlx::Row;

use super::claims::placeholders;
use super::{Journal, JournalError, Step, parse_external_ids, parse_state};
use crate::ids::MessageId;
use crate::message::{ExternalIds, MessageState};

/// An accepted message a receiver's confirmation settled: which route, and since when.
#[derive(Clone, Debug)]
pub struct Settled {
    pub route: String,
    /// When it was journaled (ms since the epoch).
    pub created_at: i64,
}

impl Settled {
    pub(super) fn of(row: &sqlx::any::AnyRow) -> Result<Self, JournalError> {
        Ok(Settled {
            route: row.try_get("route")?,
            created_at: row.try_get("created_at")?,
        })
    }
}

/// A receiver's confirmation of an accepted message, as the journal writer batches them
/// with its outcomes (or [`Journal::confirm_many`] writes them alone).
#[derive(Clone, Debug)]
pub struct Confirmation {
    pub id: MessageId,
    pub detail: String,
    pub ids: ExternalIds,
}

/// Confirmations read and written per round of statements: well inside both backends'
/// parameter limits (six per history row).
const CHUNK: usize = 256;

impl Journal {
    /// The receiver confirmed an accepted message: it is delivered. `ids` are external
    /// ids the confirmation carried.
    pub async fn confirm(
        &self,
        id: MessageId,
        detail: &str,
        ids: &ExternalIds,
    ) -> Result<Settled, JournalError> {
        let one = Confirmation {
            id,
            detail: detail.to_string(),
            ids: ids.clone(),
        };
        let mut tx = self.pool.begin().await?;
        let settled = confirm_all_on(&mut tx, std::slice::from_ref(&one), now())
            .await?
            .pop()
            .expect("one outcome per confirmation")?;
        tx.commit().await?;
        Ok(settled)
    }

    /// Several confirmations in one transaction of their own: one outcome each, in
    /// order. A message not found or not accepted fails alone (nothing
    /// of it was written; a message confirmed twice in the batch is settled by the
    /// first); a database error fails them all, and none is applied.
    pub async fn confirm_many(
        &self,
        confirmations: &[Confirmation],
    ) -> Vec<Result<Settled, JournalError>> {
        let applied = async {
            let mut tx = self.pool.begin().await?;
            let out = confirm_all_on(&mut tx, confirmations, now()).await?;
            tx.commit().await?;
            Ok::<_, JournalError>(out)
        }
        .await;
        applied.unwrap_or_else(|e| {
            let text = e.to_string();
            confirmations
                .iter()
                .map(|_| Err(JournalError::Write(text.clone())))
                .collect()
        })
    }
}

fn now() -> i64 {
    crate::message::now_ms()
}

/// What a batch needs of a message's row.
struct Found {
    state: MessageState,
    external_ids: ExternalIds,
    attempts: i64,
    settled: Settled,
}

/// One confirmation to write: the message, its external ids merged, attempts, detail.
struct Write<'a> {
    id: String,
    external_ids: String,
    attempts: i64,
    detail: &'a str,
}

/// Applies `confirmations` on `conn` (inside the caller's transaction, as the journal
/// writer's with its batch's outcomes). The outer error is the database's; the inner
/// ones are each confirmation's own.
pub(crate) async fn confirm_all_on(
    conn: &mut sqlx::AnyConnection,
    confirmations: &[Confirmation],
    now: i64,
) -> Result<Vec<Result<Settled, JournalError>>, JournalError> {
    let mut out = Vec::with_capacity(confirmations.len());
    for chunk in confirmations.chunks(CHUNK) {
        let mut found = read(conn, chunk).await?;
        let mut writes = Vec::with_capacity(chunk.len());
        for c in chunk {
            out.push(settle(c, &mut found, &mut writes));
        }
        write(conn, &writes, now).await?;
    }
    Ok(out)
}

/// Checks one confirmation against its message as the batch has left it so far.
fn settle<'a>(
    c: &'a Confirmation,
    found: &mut HashMap<String, Found>,
    writes: &mut Vec<Write<'a>>,
) -> Result<Settled, JournalError> {
    let id = c.id.to_string();
    let Some(row) = found.get_mut(&id) else {
        return Err(JournalError::NotFound(c.id));
    };
    if row.state != MessageState::Accepted {
        return Err(JournalError::WrongState {
            id: c.id,
            state: row.state,
            expected: "accepted",
            action: "confirmed",
        });
    }
    row.state = MessageState::Delivered;
    row.external_ids.extend(c.ids.clone());
    writes.push(Write {
        external_ids: serde_json::to_string(&row.external_ids).unwrap_or_else(|_| "{}".into()),
        id,
        attempts: row.attempts,
        detail: &c.detail,
    });
    Ok(row.settled.clone())
}

/// The rows of the confirmed messages, by id; on PostgreSQL locked until the
/// transaction ends, so that another instance's confirmation waits for this one.
async fn read(
    conn: &mut sqlx::AnyConnection,
    chunk: &[Confirmation],
) -> Result<HashMap<String, Found>, JournalError> {
    let lock = if conn.backend_name() == "SQLite" {
        ""
    } else {
        " FOR UPDATE"
    };
    // Only placeholders are spliced in; the ids are bound.
    let sql = format!(
        "SELECT id, state, external_ids, attempts, route, created_at FROM messages WHERE id IN ({}){lock}",
        placeholders(conn, chunk.len(), 1, 1)
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for c in chunk {
        q = q.bind(c.id.to_string());
    }
    q.fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|row| {
            let id: String = row.try_get("id")?;
            let state: String = row.try_get("state")?;
            let external_ids: String = row.try_get("external_ids")?;
            let found = Found {
                state: parse_state(&id, &state)?,
                external_ids: parse_external_ids(&id, &external_ids)?,
                attempts: row.try_get("attempts")?,
                settled: Settled::of(row)?,
            };
            Ok((id, found))
        })
        .collect()
}

/// Marks the messages delivered with their merged external ids, and writes each one's
/// history step.
async fn write(
    conn: &mut sqlx::AnyConnection,
    writes: &[Write<'_>],
    now: i64,
) -> Result<(), JournalError> {
    if writes.is_empty() {
        return Ok(());
    }
    let numbered = conn.backend_name() != "SQLite";
    let sql = format!(
        "UPDATE messages SET state = 'delivered', due_at = NULL, external_ids = v.column2, updated_at = {} \
         FROM (VALUES {}) AS v WHERE messages.id = v.column1 AND messages.state = 'accepted'",
        if numbered { "$1" } else { "?" },
        placeholders(conn, writes.len(), 2, 2)
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now);
    for w in writes {
        q = q.bind(w.id.clone()).bind(w.external_ids.clone());
    }
    q.execute(&mut *conn).await?;
    let steps: Vec<Step> = writes
        .iter()
        .map(|w| Step {
            id: w.id.clone(),
            from: Some("accepted"),
            to: "delivered",
            attempt: w.attempts,
            detail: Some(w.detail),
        })
        .collect();
    super::insert_transitions(conn, &steps, now).await
}
