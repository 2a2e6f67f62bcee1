//! Where a message's payload is kept. PostgreSQL keeps it in `messages.payload`: a large
//! value is stored out of line, and a change to the row's other columns leaves it be.
//! SQLite stores a row as one record, and the columns after the payload sit behind it:
//! once the record outgrows its page, each change of state rewrote the whole payload
//! (a 270 KB letter three times on its way). So on SQLite a payload larger than
//! [`INLINE_MAX`] is kept apart, and `messages.payload` is left empty; a smaller one
//! stays in the row, where it costs nothing extra. Apart means in a file of its own
//! beside a file journal if it is 64 KB or more (see `payload_files`; the row keeps its
//! size in `payload_size`), else in `message_payloads` (migration 9): there too for a
//! journal in memory, for messages journaled before payload files, and for those
//! inserted without staging.

use sqlx::{AnyConnection, Row};

use super::{Backend, JournalError, PayloadFiles};
use crate::ids::MessageId;

/// The largest payload SQLite keeps in its message's row: with the other columns it
/// still fits on the row's page (4 KB).
pub(super) const INLINE_MAX: usize = 2048;

/// The payload of the `messages` row named `messages` (or its alias), as a select or
/// RETURNING expression named `payload`.
pub(super) fn column(backend: Backend, messages: &str) -> String {
    match backend {
        Backend::Postgres => format!("{messages}.payload AS payload"),
        Backend::Sqlite => format!(
            "CASE WHEN length({messages}.payload) > 0 THEN {messages}.payload ELSE \
             COALESCE((SELECT p.payload FROM message_payloads p WHERE p.id = {messages}.id), {messages}.payload) END AS payload"
        ),
    }
}

/// Somewhere to put a payload read from where it was kept apart.
pub(super) trait KeptApart {
    fn id(&self) -> MessageId;
    fn payload_mut(&mut self) -> &mut Vec<u8>;
}

/// Reads the payloads kept apart of the messages whose rows held none: from their files,
/// or on `reader` from `message_payloads`. A claim returns only what the row holds,
/// since it holds SQLite's one writer, and reading a batch of large letters there kept
/// every other write waiting. A message with an empty payload of its own has neither
/// and stays empty. PostgreSQL keeps every payload in its row: nothing to do.
pub(super) async fn fill_kept_apart<T: KeptApart>(
    backend: Backend,
    reader: &sqlx::AnyPool,
    files: Option<&PayloadFiles>,
    messages: &mut [T],
) -> Result<(), JournalError> {
    if backend == Backend::Postgres {
        return Ok(());
    }
    let mut wanted: Vec<usize> = (0..messages.len())
        .filter(|&i| messages[i].payload_mut().is_empty())
        .collect();
    if let Some(files) = files.filter(|_| !wanted.is_empty()) {
        let (files, ids) = (
            files.clone(),
            wanted.iter().map(|&i| messages[i].id()).collect::<Vec<_>>(),
        );
        let read = tokio::task::spawn_blocking(move || {
            ids.into_iter()
                .map(|id| files.read(id))
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .map_err(|e| JournalError::Write(format!("reading payload files: {e}")))??;
        let mut in_table = Vec::new();
        for (i, payload) in wanted.into_iter().zip(read) {
            match payload {
                Some(p) => *messages[i].payload_mut() = p,
                None => in_table.push(i),
            }
        }
        wanted = in_table;
    }
    for chunk in wanted.chunks(200) {
        let sql = format!(
            "SELECT id, payload FROM message_payloads WHERE id IN ({})",
            vec!["?"; chunk.len()].join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for &i in chunk {
            q = q.bind(messages[i].id().to_string());
        }
        let mut by_id: std::collections::HashMap<String, Vec<u8>> = q
            .fetch_all(reader)
            .await?
            .iter()
            .map(|row| Ok((row.try_get("id")?, row.try_get("payload")?)))
            .collect::<Result<_, sqlx::Error>>()?;
        for &i in chunk {
            if let Some(payload) = by_id.remove(&messages[i].id().to_string()) {
                *messages[i].payload_mut() = payload;
            }
        }
    }
    Ok(())
}

/// The payload's size in bytes. SQLite reads a BLOB's length from its record's
/// header, not from the content.
pub(super) fn size(backend: Backend, messages: &str) -> String {
    match backend {
        Backend::Postgres => format!("octet_length({messages}.payload)"),
        Backend::Sqlite => format!(
            "CASE WHEN length({messages}.payload) > 0 THEN length({messages}.payload) \
             WHEN {messages}.payload_size IS NOT NULL THEN {messages}.payload_size ELSE \
             COALESCE((SELECT length(p.payload) FROM message_payloads p WHERE p.id = {messages}.id), 0) END"
        ),
    }
}

/// Whether this payload goes into `message_payloads` on this connection's backend.
pub(super) fn kept_apart(conn: &AnyConnection, payload: &[u8]) -> bool {
    payload.len() > INLINE_MAX && conn.backend_name() == "SQLite"
}

/// Writes the payloads kept apart of newly inserted messages, in the caller's
/// transaction.
pub(super) async fn insert(
    conn: &mut AnyConnection,
    payloads: &[(String, &[u8])],
) -> Result<(), JournalError> {
    for chunk in payloads.chunks(200) {
        let sql = format!(
            "INSERT INTO message_payloads (id, payload) VALUES {}",
            super::claims::placeholders(conn, chunk.len(), 2, 1)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, payload) in chunk {
            // A slice: the driver makes its one copy; an owned Vec would be a second.
            q = q.bind(id.clone()).bind(*payload);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}
