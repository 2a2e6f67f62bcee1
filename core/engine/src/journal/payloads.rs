//! Where a message's payload is kept. PostgreSQL keeps it in `messages.payload`: a large
//! value is stored out of line, and a change to the row's other columns leaves it be.
//! SQLite stores a row as one record, and the columns after the payload sit behind it:
//! once the record outgrows its page, each change of state rewrote the whole payload
//! (a 270 KB letter three times on its way). So on SQLite a payload larger than
//! [`INLINE_MAX`] is kept in `message_payloads` (migration 9), and `messages.payload`
//! is left empty; a smaller one stays in the row, where it costs nothing extra.

use sqlx::AnyConnection;

use super::{Backend, JournalError};

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

/// The payload's size in bytes. SQLite reads a BLOB's length from its record's
/// header, not from the content.
pub(super) fn size(backend: Backend, messages: &str) -> String {
    match backend {
        Backend::Postgres => format!("octet_length({messages}.payload)"),
        Backend::Sqlite => format!(
            "CASE WHEN length({messages}.payload) > 0 THEN length({messages}.payload) ELSE \
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
            q = q.bind(id.clone()).bind(payload.to_vec());
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}
