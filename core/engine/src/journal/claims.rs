//! Workers claim due messages under a lease and record each attempt's outcome.
//!
//! A claim is one UPDATE over the due index; on PostgreSQL its subquery takes
//! `FOR UPDATE SKIP LOCKED`, on SQLite the single writer serialises claims. An outcome
//! is written only while its claim token still holds, so a worker whose lease ran out
//! (and whose message another worker took) cannot overwrite the newer attempt.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{
    Backend, Journal, JournalError, Step, parse_direction, parse_external_ids, parse_id,
    parse_state,
};
use crate::ids::MessageId;
use crate::message::{Direction, ErrorKind, ExternalIds, MessageState};

/// A message a worker now holds.
#[derive(Clone, Debug)]
pub struct Claimed {
    pub id: MessageId,
    pub route: String,
    pub direction: Direction,
    pub correlation_id: Option<String>,
    pub idempotency_key: String,
    pub payload: Vec<u8>,
    pub content_type: String,
    pub checksum: String,
    /// This attempt's number, from 1.
    pub attempt: i64,
    pub claimed_from: MessageState,
    pub external_ids: ExternalIds,
    pub deadline_at: Option<i64>,
    pub created_at: i64,
    pub claim_token: String,
}

impl super::payloads::KeptApart for Claimed {
    fn id(&self) -> MessageId {
        self.id
    }
    fn payload_mut(&mut self) -> &mut Vec<u8> {
        &mut self.payload
    }
}

/// What became of one attempt.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub id: MessageId,
    pub claim_token: String,
    pub attempt: i64,
    pub state: MessageState,
    /// Next attempt for `retrying`; the confirmation deadline for `accepted`.
    pub due_at: Option<i64>,
    pub error: Option<(ErrorKind, String)>,
    pub external_ids: Option<ExternalIds>,
    pub route: String,
    pub correlation_id: Option<String>,
    /// Tell the initiator if this outcome is `dead`.
    pub notify_initiator: bool,
}

impl Recorded {
    /// The `due_at` and `deadline_at` to write: accepted falls due again at its
    /// confirmation deadline; a retry at its next attempt.
    fn due_and_deadline(&self) -> (Option<i64>, Option<i64>) {
        match self.state {
            MessageState::Accepted => (self.due_at, self.due_at),
            _ => (self.due_at, None),
        }
    }

    /// The history step's detail: `kind: error`.
    fn detail(&self) -> Option<String> {
        self.error
            .as_ref()
            .map(|(k, e)| format!("{}: {e}", k.as_str()))
    }

    /// The receiver's ids to keep, as the column holds them.
    fn external_ids_json(&self) -> Option<String> {
        self.external_ids
            .as_ref()
            .map(|ids| serde_json::to_string(ids).unwrap_or_else(|_| "{}".into()))
    }

    /// A dead letter its initiator is to hear of.
    fn tells_initiator(&self) -> bool {
        self.state == MessageState::Dead && self.notify_initiator
    }
}

/// What a claim returns of each message it took: the payload as its row holds it (on
/// SQLite a large one is read afterwards, see [`super::payloads::fill_kept_apart`]).
const RETURNING: &str = "RETURNING id, route, direction, correlation_id, idempotency_key, payload, content_type, checksum, \
     attempts, claimed_from, external_ids, deadline_at, created_at, updated_at";

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

fn claimed_from_row(row: &AnyRow, token: &str) -> Result<Claimed, JournalError> {
    let id: String = row.try_get("id")?;
    let direction: String = row.try_get("direction")?;
    let claimed_from: Option<String> = row.try_get("claimed_from")?;
    let external_ids: String = row.try_get("external_ids")?;
    Ok(Claimed {
        id: parse_id(&id)?,
        route: row.try_get("route")?,
        direction: parse_direction(&id, &direction)?,
        correlation_id: row.try_get("correlation_id")?,
        idempotency_key: row.try_get("idempotency_key")?,
        payload: row.try_get("payload")?,
        content_type: row.try_get("content_type")?,
        checksum: row.try_get("checksum")?,
        attempt: row.try_get("attempts")?,
        claimed_from: parse_state(&id, claimed_from.as_deref().unwrap_or("pending"))?,
        external_ids: parse_external_ids(&id, &external_ids)?,
        deadline_at: row.try_get("deadline_at")?,
        created_at: row.try_get("created_at")?,
        claim_token: token.to_string(),
    })
}

impl Journal {
    /// Claims up to `limit` due messages (pending or retrying whose time has come, in
    /// flight whose lease ran out, accepted whose confirmation deadline passed) for
    /// `lease_ms`. On the `ordered` routes a message is passed over while an earlier
    /// message of its correlation id on the same route is still open.
    pub async fn claim_due(
        &self,
        limit: i64,
        max_bytes: i64,
        lease_ms: i64,
        now: i64,
        ordered: &[String],
    ) -> Result<Vec<Claimed>, JournalError> {
        self.claim_due_on(limit, max_bytes, lease_ms, now, ordered, false)
            .await
    }

    /// [`Journal::claim_due`], on the `ordered` routes alone when `only_ordered` (the
    /// broker carries the others' work).
    pub async fn claim_due_on(
        &self,
        limit: i64,
        max_bytes: i64,
        lease_ms: i64,
        now: i64,
        ordered: &[String],
        only_ordered: bool,
    ) -> Result<Vec<Claimed>, JournalError> {
        if only_ordered && ordered.is_empty() {
            return Ok(Vec::new());
        }
        let token = uuid::Uuid::now_v7().to_string();
        let skip_locked = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let size = super::payloads::size(self.backend, "m");
        // Route ids are bound, never spliced: only their placeholders are.
        let in_order = if ordered.is_empty() {
            String::new()
        } else {
            let list = numbered(6, ordered.len());
            let only = if only_ordered {
                format!(" AND m.route IN ({list})")
            } else {
                String::new()
            };
            format!(
                "{only} AND (m.correlation_id IS NULL OR m.route NOT IN ({list}) OR NOT EXISTS (\
                 SELECT 1 FROM messages p WHERE p.correlation_id = m.correlation_id AND p.route = m.route \
                 AND p.id < m.id AND p.state IN ('pending', 'retrying', 'in_flight', 'accepted')))"
            )
        };
        // The due messages, oldest first, up to `limit` and until their payloads reach
        // `max_bytes` (always at least one): a batch of large letters is not read whole.
        let sql = format!(
            "UPDATE messages SET claimed_from = state, state = 'in_flight', \
             attempts = attempts + CASE WHEN state = 'accepted' THEN 0 ELSE 1 END, claim_token = $1, \
             lease_until = $2, due_at = $2, updated_at = $3 \
             WHERE id IN (SELECT id FROM (SELECT id, SUM(size) OVER (ORDER BY due_at, id ROWS UNBOUNDED PRECEDING) - size AS before \
             FROM (SELECT m.id, m.due_at, {size} AS size FROM messages m \
             WHERE m.state IN ('pending', 'retrying', 'in_flight', 'accepted') AND m.due_at <= $3{in_order} \
             ORDER BY m.due_at LIMIT $4{skip_locked}) AS due) AS running WHERE before < $5) {RETURNING}"
        );
        // Only constants are spliced into this statement.
        let sql = self.claim_sql(sql, 5 + ordered.len());
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token.clone())
            .bind(now + lease_ms)
            .bind(now)
            .bind(limit)
            .bind(max_bytes);
        for route in ordered {
            q = q.bind(route.clone());
        }
        self.run_claim(q, &token, now, None).await
    }

    /// A claim's UPDATE … RETURNING (`params` parameters, `$3` the time) as run on this
    /// backend: on PostgreSQL one statement that also writes each claim's history step
    /// (a data-modifying CTE; the step's detail is the next parameter), so a claim is one
    /// round trip; on SQLite the UPDATE alone, the steps written after it in the same
    /// transaction.
    fn claim_sql(&self, update: String, params: usize) -> String {
        match self.backend {
            Backend::Postgres => format!(
                "WITH c AS ({update}), t AS (INSERT INTO message_transitions \
                 (message_id, from_state, to_state, at, attempt, detail) \
                 SELECT id, COALESCE(claimed_from, 'pending'), 'in_flight', updated_at, attempts, ${} FROM c) \
                 SELECT * FROM c",
                params + 1
            ),
            Backend::Sqlite => update,
        }
    }

    /// Runs a claim made by [`Journal::claim_sql`]; `by` is the history steps' detail.
    async fn run_claim(
        &self,
        q: AnyQuery<'_>,
        token: &str,
        now: i64,
        by: Option<&str>,
    ) -> Result<Vec<Claimed>, JournalError> {
        let parse = |rows: Vec<AnyRow>| -> Result<Vec<Claimed>, JournalError> {
            rows.iter().map(|r| claimed_from_row(r, token)).collect()
        };
        match self.backend {
            Backend::Postgres => {
                let rows = q.bind(by.map(str::to_string)).fetch_all(&self.pool).await?;
                parse(rows)
            }
            Backend::Sqlite => {
                let mut tx = self.pool.begin().await?;
                let rows = q.fetch_all(&mut *tx).await?;
                if rows.is_empty() {
                    tx.rollback().await?;
                    return Ok(Vec::new());
                }
                let mut claimed = parse(rows)?;
                insert_claim_transitions(&mut tx, &claimed, now, by).await?;
                tx.commit().await?;
                // The large payloads, read once the writer is free again. Should this
                // fail, the claims stand and their leases run out: they are taken again.
                super::payloads::fill_kept_apart(
                    self.backend,
                    &self.reader,
                    self.files.as_ref(),
                    &mut claimed,
                )
                .await?;
                Ok(claimed)
            }
        }
    }

    /// Claims the messages the broker handed this instance, by id, for `lease_ms`: those
    /// due (pending, retrying, accepted past its deadline), and those in flight whose
    /// lease ran out or that the broker delivered again (`redelivered`: their holder's
    /// channel is gone). The others are done or held and come back empty: the journal
    /// decides what is done, and their broker message is acked and skipped.
    /// `by` (the instance) is noted on each claim's history step.
    pub async fn claim_ids(
        &self,
        ids: &[(MessageId, bool)],
        lease_ms: i64,
        now: i64,
        by: &str,
    ) -> Result<Vec<Claimed>, JournalError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let token = uuid::Uuid::now_v7().to_string();
        let again: Vec<String> = ids
            .iter()
            .filter(|(_, r)| *r)
            .map(|(id, _)| id.to_string())
            .collect();
        let ids: Vec<String> = ids.iter().map(|(id, _)| id.to_string()).collect();
        // On PostgreSQL each list is one parameter (ids never hold a comma): one statement
        // whatever the batch, prepared once per connection; SQLite lists placeholders.
        let (among, taken_over, params) = match self.backend {
            Backend::Postgres => (
                "id = ANY(string_to_array($4, ','))".to_string(),
                if again.is_empty() {
                    String::new()
                } else {
                    " OR id = ANY(string_to_array($5, ','))".to_string()
                },
                3 + 1 + usize::from(!again.is_empty()),
            ),
            Backend::Sqlite => (
                format!("id IN ({})", numbered(4, ids.len())),
                if again.is_empty() {
                    String::new()
                } else {
                    format!(" OR id IN ({})", numbered(4 + ids.len(), again.len()))
                },
                3 + ids.len() + again.len(),
            ),
        };
        // The relay's hold is cleared: its mark, should the confirm come after this,
        // passes the message over. The rows are found by id alone: whether each may be
        // claimed is asked as one CASE, which no index can answer. (Asked as an OR of
        // state conditions, PostgreSQL's planner, misled by a young table's statistics,
        // ANDed the ids with bitmaps of every due and every in-flight message, a cost
        // that grows with the backlog rather than with the batch.)
        let sql = format!(
            "UPDATE messages SET claimed_from = state, state = 'in_flight', \
             attempts = attempts + CASE WHEN state = 'accepted' THEN 0 ELSE 1 END, claim_token = $1, \
             lease_until = $2, due_at = $2, updated_at = $3, relay_until = NULL \
             WHERE {among} AND CASE WHEN state IN ('pending', 'retrying', 'accepted') THEN due_at <= $3 \
             WHEN state = 'in_flight' THEN (lease_until < $3{taken_over}) ELSE FALSE END {RETURNING}"
        );
        let sql = self.claim_sql(sql, params);
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token.clone())
            .bind(now + lease_ms)
            .bind(now);
        match self.backend {
            Backend::Postgres => {
                q = q.bind(ids.join(","));
                if !again.is_empty() {
                    q = q.bind(again.join(","));
                }
            }
            Backend::Sqlite => {
                for id in ids.into_iter().chain(again) {
                    q = q.bind(id);
                }
            }
        }
        self.run_claim(q, &token, now, Some(by)).await
    }

    /// A synchronous delivery failed transiently and will try again itself: count the
    /// attempt and keep the claim.
    pub async fn retry_in_place(
        &self,
        id: MessageId,
        token: &str,
        attempt: i64,
        error: &str,
        lease_until: i64,
    ) -> Result<(), JournalError> {
        let now = crate::message::now_ms();
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE messages SET attempts = $1, last_error_kind = 'transient', last_error = $2, lease_until = $3, \
             due_at = $3, updated_at = $4 WHERE id = $5 AND claim_token = $6",
        )
        .bind(attempt + 1)
        .bind(error)
        .bind(lease_until)
        .bind(now)
        .bind(id.to_string())
        .bind(token)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 1 {
            for (from, to, n, detail) in [
                (
                    "in_flight",
                    "retrying",
                    attempt,
                    Some(format!("transient: {error}")),
                ),
                ("retrying", "in_flight", attempt + 1, None),
            ] {
                super::insert_transition(&mut tx, id, from, to, now, n, detail.as_deref()).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

impl Journal {
    /// Writes a batch of outcomes with nothing else: on PostgreSQL the batch is one
    /// statement, atomic without a transaction of its own.
    pub async fn record_outcomes_alone(
        &self,
        outcomes: &[Recorded],
        now: i64,
    ) -> Result<usize, JournalError> {
        if self.backend == Backend::Postgres {
            let mut conn = self.pool.acquire().await?;
            return record_outcomes(&mut conn, outcomes, now).await;
        }
        let mut tx = self.pool.begin().await?;
        let applied = record_outcomes(&mut tx, outcomes, now).await?;
        tx.commit().await?;
        Ok(applied)
    }
}

/// The `in_flight` step of each message just claimed.
async fn insert_claim_transitions(
    tx: &mut sqlx::AnyConnection,
    claimed: &[Claimed],
    now: i64,
    detail: Option<&str>,
) -> Result<(), JournalError> {
    let steps: Vec<Step> = claimed
        .iter()
        .map(|c| Step {
            id: c.id.to_string(),
            from: Some(c.claimed_from.as_str()),
            to: "in_flight",
            attempt: c.attempt,
            detail,
        })
        .collect();
    super::insert_transitions(tx, &steps, now).await
}

/// Writes a batch of outcomes on `conn` (inside the caller's transaction; on PostgreSQL
/// the batch is one statement, atomic alone): on SQLite one UPDATE and one INSERT of
/// transitions per 256. Returns how many still held their claim (the others were taken
/// over after their lease ran out and are left alone).
pub async fn record_outcomes(
    conn: &mut sqlx::AnyConnection,
    outcomes: &[Recorded],
    now: i64,
) -> Result<usize, JournalError> {
    if outcomes.is_empty() {
        return Ok(0);
    }
    if conn.backend_name() != "SQLite" {
        return record_chunk_in_one(conn, outcomes, now).await;
    }
    let mut applied = 0;
    // Keep each statement well inside both backends' parameter limits.
    for chunk in outcomes.chunks(256) {
        applied += record_chunk(conn, chunk, now).await?;
    }
    Ok(applied)
}

/// The `VALUES` rows of a multi-row statement: `(?, ?), (?, ?)` on SQLite (sqlx resolves
/// numbered names there in quadratic time), `($1, $2), ($3, $4)` on PostgreSQL,
/// numbering from `first`.
pub fn placeholders(
    conn: &sqlx::AnyConnection,
    rows: usize,
    per_row: usize,
    first: usize,
) -> String {
    let numbered = conn.backend_name() != "SQLite";
    (0..rows)
        .map(|r| {
            let cols: Vec<String> = (0..per_row)
                .map(|c| {
                    if numbered {
                        format!("${}", first + r * per_row + c)
                    } else {
                        "?".to_string()
                    }
                })
                .collect();
            format!("({})", cols.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

async fn record_chunk(
    conn: &mut sqlx::AnyConnection,
    outcomes: &[Recorded],
    now: i64,
) -> Result<usize, JournalError> {
    if outcomes.is_empty() {
        return Ok(0);
    }
    // History and notifications first, for the outcomes whose claim still holds; then
    // the update, which releases the claims. Neither returns rows, so nothing crosses
    // to the caller per message. Only placeholders are spliced in; values are bound.
    let sql = format!(
        "INSERT INTO message_transitions (message_id, from_state, to_state, at, attempt, detail) \
         SELECT v.column1, 'in_flight', v.column3, ?, v.column4, v.column5 FROM (VALUES {}) AS v \
         JOIN messages ON messages.id = v.column1 AND messages.claim_token = v.column2",
        placeholders(conn, outcomes.len(), 5, 2)
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now);
    for o in outcomes {
        q = q
            .bind(o.id.to_string())
            .bind(o.claim_token.clone())
            .bind(o.state.as_str())
            .bind(o.attempt)
            .bind(o.detail());
    }
    q.execute(&mut *conn).await?;
    for o in outcomes.iter().filter(|o| o.tells_initiator()) {
        sqlx::query(
            "INSERT INTO engine_notifications (message_id, route, correlation_id, kind, detail, created_at) \
             SELECT id, route, correlation_id, 'dead_letter', $1, $2 FROM messages WHERE id = $3 AND claim_token = $4",
        )
        .bind(o.error.as_ref().map(|(_, e)| e.clone()))
        .bind(now)
        .bind(o.id.to_string())
        .bind(o.claim_token.clone())
        .execute(&mut *conn)
        .await?;
    }
    let sql = format!(
        "UPDATE messages SET state = v.column3, due_at = v.column4, deadline_at = COALESCE(v.column5, messages.deadline_at), \
         last_error_kind = v.column6, last_error = v.column7, external_ids = COALESCE(v.column8, messages.external_ids), \
         attempts = v.column9, claim_token = NULL, lease_until = NULL, relayed_at = NULL, updated_at = ? \
         FROM (VALUES {}) AS v WHERE messages.id = v.column1 AND messages.claim_token = v.column2",
        placeholders(conn, outcomes.len(), 9, 2)
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now);
    for o in outcomes {
        let (due, deadline) = o.due_and_deadline();
        q = q
            .bind(o.id.to_string())
            .bind(o.claim_token.clone())
            .bind(o.state.as_str())
            .bind(due)
            .bind(deadline)
            .bind(o.error.as_ref().map(|(k, _)| k.as_str()))
            .bind(o.error.as_ref().map(|(_, e)| e.clone()))
            .bind(o.external_ids_json())
            .bind(o.attempt);
    }
    Ok(q.execute(&mut *conn).await?.rows_affected() as usize)
}

/// One outcome as a row of the JSON array the PostgreSQL statement reads.
fn outcome_row(o: &Recorded) -> serde_json::Value {
    let (due, deadline) = o.due_and_deadline();
    serde_json::json!({
        "id": o.id.to_string(),
        "token": o.claim_token,
        "state": o.state.as_str(),
        "due": due,
        "deadline": deadline,
        "kind": o.error.as_ref().map(|(k, _)| k.as_str()),
        "error": o.error.as_ref().map(|(_, e)| e),
        "external_ids": o.external_ids_json(),
        "attempt": o.attempt,
        "detail": o.detail(),
        "notify": o.tells_initiator(),
    })
}

/// PostgreSQL: the history steps, the initiators' notifications and the update in one
/// statement (data-modifying CTEs all see the rows as they were, claim tokens
/// included), so a batch of outcomes needs no transaction of its own. The batch is one
/// JSON parameter: one statement shape whatever its size, prepared once per connection.
async fn record_chunk_in_one(
    conn: &mut sqlx::AnyConnection,
    outcomes: &[Recorded],
    now: i64,
) -> Result<usize, JournalError> {
    let rows = serde_json::Value::Array(outcomes.iter().map(outcome_row).collect());
    let n: i64 = sqlx::query(
        "WITH v AS (SELECT * FROM json_to_recordset($2::json) AS r(id text, token text, state text, \
           due bigint, deadline bigint, kind text, error text, external_ids text, attempt bigint, \
           detail text, notify boolean)), \
         held AS (SELECT v.*, m.route, m.correlation_id FROM v JOIN messages m ON m.id = v.id AND m.claim_token = v.token), \
         steps AS (INSERT INTO message_transitions (message_id, from_state, to_state, at, attempt, detail) \
           SELECT id, 'in_flight', state, $1, attempt, detail FROM held), \
         told AS (INSERT INTO engine_notifications (message_id, route, correlation_id, kind, detail, created_at) \
           SELECT id, route, correlation_id, 'dead_letter', error, $1 FROM held WHERE notify), \
         done AS (UPDATE messages SET state = held.state, due_at = held.due, \
           deadline_at = COALESCE(held.deadline, messages.deadline_at), last_error_kind = held.kind, \
           last_error = held.error, external_ids = COALESCE(held.external_ids, messages.external_ids), \
           attempts = held.attempt, claim_token = NULL, lease_until = NULL, relayed_at = NULL, updated_at = $1 \
           FROM held WHERE messages.id = held.id RETURNING 1) \
         SELECT COUNT(*) AS n FROM done",
    )
    .bind(now)
    .bind(rows.to_string())
    .fetch_one(&mut *conn)
    .await?
    .try_get("n")?;
    Ok(n as usize)
}

/// `$first, $first+1, ...`: `n` numbered placeholders.
pub(super) fn numbered(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|k| format!("${k}"))
        .collect::<Vec<_>>()
        .join(", ")
}
