//! One set of migrations for both backends. Each file is portable SQL with a couple of
//! placeholders for the words SQLite and PostgreSQL spell differently.

use sqlx::{AnyConnection, Connection, Executor, Row};

use super::{Backend, JournalError};
use crate::message::now_ms;

struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "journal",
        sql: include_str!("../../migrations/0001_journal.sql"),
    },
    Migration {
        version: 2,
        name: "audit",
        sql: include_str!("../../migrations/0002_audit.sql"),
    },
];

fn dialect(sql: &str, backend: Backend) -> String {
    let (blob, serial) = match backend {
        Backend::Sqlite => ("BLOB", "INTEGER PRIMARY KEY AUTOINCREMENT"),
        Backend::Postgres => ("BYTEA", "BIGSERIAL PRIMARY KEY"),
    };
    sql.replace("{{BLOB}}", blob)
        .replace("{{SERIAL_PK}}", serial)
}

/// Applies every migration not yet applied, each in its own transaction.
pub(super) async fn run(conn: &mut AnyConnection, backend: Backend) -> Result<(), JournalError> {
    conn.execute(
        "CREATE TABLE IF NOT EXISTS knudepunkt_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .await?;
    if backend == Backend::Postgres {
        // Two engines starting at once must not both migrate.
        conn.execute("SELECT pg_advisory_lock(72400001)").await?;
    }
    let result = apply_pending(conn, backend).await;
    if backend == Backend::Postgres {
        conn.execute("SELECT pg_advisory_unlock(72400001)").await?;
    }
    result
}

async fn apply_pending(conn: &mut AnyConnection, backend: Backend) -> Result<(), JournalError> {
    for m in MIGRATIONS {
        let applied: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM knudepunkt_migrations WHERE version = $1")
                .bind(m.version)
                .fetch_one(&mut *conn)
                .await?
                .try_get("n")?;
        if applied > 0 {
            continue;
        }
        let mut tx = conn.begin().await?;
        // Comments go first: they may hold semicolons.
        let sql: String = dialect(m.sql, backend)
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n");
        for statement in sql.split(';') {
            let body = statement.trim().to_string();
            if body.is_empty() {
                continue;
            }
            tx.execute(sqlx::AssertSqlSafe(body))
                .await
                .map_err(|e| JournalError::Migration {
                    version: m.version,
                    name: m.name,
                    source: e,
                })?;
        }
        sqlx::query(
            "INSERT INTO knudepunkt_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialects_differ_only_in_placeholders() {
        let sqlite = dialect(MIGRATIONS[0].sql, Backend::Sqlite);
        let pg = dialect(MIGRATIONS[0].sql, Backend::Postgres);
        assert!(sqlite.contains("payload          BLOB"));
        assert!(pg.contains("payload          BYTEA"));
        assert!(!pg.contains("{{"));
        assert!(!sqlite.contains("{{"));
    }
}
