//! One set of migrations for both backends. Each file is portable SQL with a couple of
//! placeholders for the words SQLite and PostgreSQL spell differently.

use sqlx::{AnyConnection, Connection, Executor, Row};

use super::{Backend, JournalError};
use crate::message::now_ms;

/// One schema change. Other crates keep their own list and their own tracking table
/// (no crate reaches into another's tables) and apply it with [`run_set`].
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    /// Portable SQL, split at semicolons.
    pub sql: &'static str,
    /// Whole statements for SQLite only (trigger bodies hold semicolons), run after `sql`.
    pub sqlite: &'static [&'static str],
    /// Whole statements for PostgreSQL only, run after `sql`.
    pub postgres: &'static [&'static str],
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "journal",
        sql: include_str!("../../migrations/0001_journal.sql"),
        sqlite: &[],
        postgres: &[],
    },
    Migration {
        version: 2,
        name: "audit",
        sql: include_str!("../../migrations/0002_audit.sql"),
        sqlite: &[],
        postgres: &[],
    },
    Migration {
        version: 3,
        name: "operator inbox",
        sql: include_str!("../../migrations/0003_inbox.sql"),
        sqlite: &[],
        postgres: &[],
    },
    Migration {
        version: 4,
        name: "messages by route and state",
        sql: include_str!("../../migrations/0004_route_state.sql"),
        sqlite: &[],
        postgres: &[],
    },
    Migration {
        version: 5,
        name: "schedule runs",
        sql: include_str!("../../migrations/0005_schedule_runs.sql"),
        sqlite: &[],
        postgres: &[],
    },
    Migration {
        version: 6,
        name: "relay to the broker, engine instances",
        sql: include_str!("../../migrations/0006_relay.sql"),
        sqlite: &[],
        postgres: &[],
    },
    Migration {
        version: 7,
        name: "relay holds",
        sql: include_str!("../../migrations/0007_relay_hold.sql"),
        sqlite: &[],
        // Room on each page for a row's next version: a hold changes no indexed column,
        // so it can be written beside the row (a HOT update) without touching any index.
        postgres: &["ALTER TABLE messages SET (fillfactor = 80)"],
    },
    Migration {
        version: 8,
        name: "history without per-row reference checks",
        sql: include_str!("../../migrations/0008_history_unchecked.sql"),
        sqlite: &[],
        // Only the journal writes a message's history and notifications, always in
        // the statement or transaction that writes the message itself, and it never
        // deletes a message. On PostgreSQL each reference check was a trigger run per
        // history row, which looked up and share-locked the message: four per message
        // delivered, a fifth of the database's time on the broker transport.
        postgres: &[
            "ALTER TABLE message_transitions DROP CONSTRAINT message_transitions_message_id_fkey",
            "ALTER TABLE engine_notifications DROP CONSTRAINT engine_notifications_message_id_fkey",
        ],
    },
    Migration {
        version: 9,
        name: "payloads apart from their messages (SQLite)",
        sql: include_str!("../../migrations/0009_payloads_apart.sql"),
        sqlite: &[
            "CREATE TABLE message_payloads (id TEXT PRIMARY KEY, payload BLOB NOT NULL)",
            // Larger than payloads::INLINE_MAX.
            "INSERT INTO message_payloads (id, payload) SELECT id, payload FROM messages WHERE length(payload) > 2048",
            "UPDATE messages SET payload = X'' WHERE length(payload) > 2048",
        ],
        postgres: &[],
    },
    Migration {
        version: 10,
        name: "room on each page for a message's next version (PostgreSQL)",
        sql: include_str!("../../migrations/0010_room_for_new_versions.sql"),
        sqlite: &[],
        // Measured with `knudepunkt bench-scale`: the relay's holds went from about a
        // quarter written beside their rows to all of them, and the machine's CPU per
        // message on the broker transport fell from about 650 µs to 550.
        postgres: &["ALTER TABLE messages SET (fillfactor = 50)"],
    },
    Migration {
        version: 11,
        name: "payloads in files beside a SQLite journal",
        sql: include_str!("../../migrations/0011_payload_files.sql"),
        sqlite: &[],
        postgres: &[],
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

/// Applies every journal migration not yet applied, each in its own transaction.
pub(super) async fn run(conn: &mut AnyConnection, backend: Backend) -> Result<(), JournalError> {
    run_set(conn, backend, "knudepunkt_migrations", MIGRATIONS).await
}

/// Applies the migrations of `set` not yet recorded in `table` (created if missing),
/// each in its own transaction. `table` must be a plain SQL identifier.
pub async fn run_set(
    conn: &mut AnyConnection,
    backend: Backend,
    table: &'static str,
    set: &[Migration],
) -> Result<(), JournalError> {
    assert!(
        table.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
        "migration table name {table:?} must be a plain identifier"
    );
    if backend == Backend::Postgres {
        // Two instances starting at once must not both migrate, nor both create the
        // bookkeeping table (concurrent CREATE TABLE IF NOT EXISTS can fail on
        // PostgreSQL's catalogue): the lock comes first.
        conn.execute("SELECT pg_advisory_lock(72400001)").await?;
    }
    let result = async {
        conn.execute(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE IF NOT EXISTS {table} (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)"
        )))
        .await?;
        apply_pending(conn, backend, table, set).await
    }
    .await;
    if backend == Backend::Postgres {
        conn.execute("SELECT pg_advisory_unlock(72400001)").await?;
    }
    result
}

async fn apply_pending(
    conn: &mut AnyConnection,
    backend: Backend,
    table: &str,
    set: &[Migration],
) -> Result<(), JournalError> {
    for m in set {
        let applied: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) AS n FROM {table} WHERE version = $1"
        )))
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
        let own = match backend {
            Backend::Sqlite => m.sqlite,
            Backend::Postgres => m.postgres,
        };
        let statements = sql
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .chain(own.iter().map(|s| s.to_string()));
        for body in statements {
            tx.execute(sqlx::AssertSqlSafe(body))
                .await
                .map_err(|e| JournalError::Migration {
                    version: m.version,
                    name: m.name,
                    source: e,
                })?;
        }
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {table} (version, name, applied_at) VALUES ($1, $2, $3)"
        )))
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

    #[test]
    fn sqlite_moves_the_payloads_it_keeps_apart() {
        let moves = MIGRATIONS.iter().find(|m| m.version == 9).unwrap().sqlite;
        let bound = format!("length(payload) > {}", super::super::payloads::INLINE_MAX);
        assert_eq!(moves.iter().filter(|s| s.contains(&bound)).count(), 2);
    }

    /// A journal written before migration 9 keeps every payload: the large ones move to
    /// `message_payloads`, and the journal reads each back as it was.
    #[tokio::test]
    async fn an_older_sqlite_journal_keeps_its_payloads() {
        sqlx::any::install_default_drivers();
        let path = std::env::temp_dir().join(format!("kp-mig9-{}.db", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let mut conn = AnyConnection::connect(&url).await.unwrap();
        let before: Vec<Migration> = MIGRATIONS
            .iter()
            .copied()
            .filter(|m| m.version < 9)
            .collect();
        run_set(&mut conn, Backend::Sqlite, "knudepunkt_migrations", &before)
            .await
            .unwrap();
        let large = vec![7u8; 100_000];
        let mut ids = Vec::new();
        for payload in [large.clone(), b"<small/>".to_vec()] {
            let id = crate::ids::MessageId::new().to_string();
            sqlx::query(
                "INSERT INTO messages (id, route, direction, idempotency_key, payload, content_type, checksum, \
                 state, created_at, updated_at) VALUES ($1, 'r', 'outbound', $1, $2, 'x', 'c', 'delivered', 0, 0)",
            )
            .bind(id.clone())
            .bind(payload)
            .execute(&mut conn)
            .await
            .unwrap();
            ids.push(id);
        }
        drop(conn);
        let journal = super::super::Journal::open(&url).await.unwrap();
        let apart: i64 = sqlx::query("SELECT COUNT(*) AS n FROM message_payloads")
            .fetch_one(journal.pool())
            .await
            .unwrap()
            .get("n");
        assert_eq!(apart, 1, "only the large payload moves");
        let read = |i: usize| journal.get(ids[i].parse().unwrap());
        assert_eq!(read(0).await.unwrap().payload, large);
        assert_eq!(read(1).await.unwrap().payload, b"<small/>");
        drop(journal);
        super::super::remove_sqlite_database(&path.display().to_string());
    }
}
