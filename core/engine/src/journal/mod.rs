//! The journal: the SQL tables that are the source of truth for every message.
//!
//! SQLite (WAL) is the embedded default, PostgreSQL the production store; both go
//! through sqlx's `Any` driver with the same migrations and the same queries.

mod checkpointer;
mod claims;
mod confirmations;
pub mod migrations;
mod occupancy;
mod operator;
mod outbox;
mod payload_files;
mod payloads;
mod priority;
mod relay;
mod staging;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};
use thiserror::Error;

pub use claims::{Claimed, Recorded, placeholders, record_outcomes};
pub(crate) use confirmations::confirm_all_on;
pub use confirmations::{Confirmation, Settled};
pub use occupancy::WriterOccupancy;
pub use operator::{AuditedRead, InboxItem, ListFilter, Notification, RouteBacklog};
pub use outbox::{
    InsertOutcome, NewMessage, insert as outbox_insert, insert_many as outbox_insert_many,
};
pub use payload_files::{PayloadFileError, PayloadFiles};
pub use relay::{Handed, Instance, RELAY_HOLD_MS, RelayScope, Relayable, Taken};

use crate::checksum::ChecksumError;
use crate::ids::MessageId;
use crate::message::MessageState;

/// Where the embedded journal lives unless `KNUDEPUNKT_DATABASE_URL` says otherwise.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/knudepunkt.db";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Error)]
pub enum JournalError {
    #[error("journal database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration {version} ({name}) failed: {source}")]
    Migration {
        version: i64,
        name: &'static str,
        source: sqlx::Error,
    },
    #[error("unsupported database url {0:?}: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    #[error("cannot create the journal's directory {path}: {source}")]
    Directory {
        path: String,
        source: std::io::Error,
    },
    #[error("message {0} is not in the journal")]
    NotFound(MessageId),
    #[error("message {id} is {state}; only {expected} messages can be {action}")]
    WrongState {
        id: MessageId,
        state: MessageState,
        expected: &'static str,
        action: &'static str,
    },
    #[error("message {id} refused: {source}")]
    Integrity {
        id: MessageId,
        source: ChecksumError,
    },
    #[error("writing to the journal failed: {0}")]
    Write(String),
    #[error("journal row for message {id} is corrupt: {what}")]
    Corrupt { id: String, what: String },
    #[error(transparent)]
    PayloadFile(#[from] PayloadFileError),
    #[error("payload files under {path}: {source}")]
    PayloadDirectory {
        path: String,
        source: std::io::Error,
    },
}

/// A handle on the journal; cheap to clone.
#[derive(Clone, Debug)]
pub struct Journal {
    pool: AnyPool,
    /// For reads outside any transaction: on SQLite, connections of their own beside the
    /// one writer (WAL lets them read while it writes); on PostgreSQL, the same pool.
    reader: AnyPool,
    backend: Backend,
    /// On SQLite, how much of the time its one write connection is held.
    occupancy: Option<std::sync::Arc<occupancy::Occupancy>>,
    /// A SQLite file's large payloads (see [`PayloadFiles`]).
    files: Option<PayloadFiles>,
}

impl Journal {
    /// Connects to `url` and brings its schema up to date.
    pub async fn open(url: &str) -> Result<Self, JournalError> {
        let journal = Self::connect(url).await?;
        journal.migrate().await?;
        Ok(journal)
    }

    /// Connects without migrating.
    pub async fn connect(url: &str) -> Result<Self, JournalError> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(JournalError::UnsupportedUrl(url.to_string()));
        };
        let url = match backend {
            Backend::Sqlite => sqlite_url(url)?,
            Backend::Postgres => url.to_string(),
        };
        let options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(30));
        let held = std::sync::Arc::new(occupancy::Occupancy::default());
        let (taken, returned) = (held.clone(), held.clone());
        let (pool, reader) = match backend {
            Backend::Sqlite => {
                // SQLite has one writer; with one connection, writers queue in the pool
                // (in order, without sleeping on the file lock) instead of contending.
                // A connection to a file of this process's own cannot hang up: no ping
                // before each use (one round trip to the driver's thread, with every
                // other writer waiting behind it).
                let pool = options
                    .max_connections(1)
                    .test_before_acquire(false)
                    .before_acquire(move |_, _| {
                        taken.taken();
                        Box::pin(async { Ok(true) })
                    })
                    .after_release(move |_, _| {
                        returned.returned();
                        Box::pin(async { Ok(true) })
                    })
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // Checkpoints run beside the writer (see checkpointer); the
                            // automatic one is only a safety net. A 16 MB page cache keeps
                            // the indexes' hot pages in memory. A new journal gets 16 KB
                            // pages: a 270 KB letter is 17 overflow pages, not 67 (a
                            // journal made before keeps its page size).
                            conn.execute(
                                "PRAGMA page_size = 16384; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000; \
                                 PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 20000; PRAGMA cache_size = -16000; \
                                 PRAGMA temp_store = MEMORY;",
                            )
                            .await?;
                            priority::favour_sqlite_threads();
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await?;
                checkpointer::spawn(&url, pool.clone()).await?;
                // A database in memory is one connection's own: nobody else can read it.
                let reader = if url.contains(":memory:") {
                    pool.clone()
                } else {
                    AnyPoolOptions::new()
                        .acquire_timeout(Duration::from_secs(30))
                        .max_connections(4)
                        .test_before_acquire(false)
                        .after_connect(|conn, _| {
                            Box::pin(async move {
                                conn.execute(
                                    "PRAGMA busy_timeout = 10000; PRAGMA query_only = ON; PRAGMA cache_size = -2000;",
                                )
                                .await?;
                                priority::favour_sqlite_threads();
                                Ok(())
                            })
                        })
                        .connect(&url)
                        .await?
                };
                (pool, reader)
            }
            Backend::Postgres => {
                let pool = options.max_connections(16).connect(&url).await?;
                (pool.clone(), pool)
            }
        };
        Ok(Journal {
            pool,
            reader,
            backend,
            occupancy: (backend == Backend::Sqlite).then_some(held),
            files: sqlite_file(&url).map(|db| PayloadFiles::beside(&db)),
        })
    }

    pub async fn migrate(&self) -> Result<(), JournalError> {
        let mut conn = self.pool.acquire().await?;
        migrations::run(&mut conn, self.backend).await
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Connections for reads outside any transaction, which on SQLite do not wait for the
    /// writer. What they read is what was committed when the read began.
    pub fn reader(&self) -> &AnyPool {
        &self.reader
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// On SQLite, how long its one write connection has been held so far, and how many
    /// times it was taken (every write takes it in turn: when it is held nearly all the
    /// time, it limits throughput). PostgreSQL has a pool of writers: `None`.
    pub fn writer_occupancy(&self) -> Option<WriterOccupancy> {
        self.occupancy.as_ref().map(|o| o.reading())
    }

    /// Where a SQLite file journal keeps its large payloads; `None` for a journal in
    /// memory and for PostgreSQL, which keep them in their tables.
    pub fn payload_files(&self) -> Option<&PayloadFiles> {
        self.files.as_ref()
    }

    /// Starts a transaction in which callers can write their own rows and submit
    /// messages (the transactional outbox).
    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, JournalError> {
        Ok(self.pool.begin().await?)
    }

    pub async fn close(&self) {
        self.reader.close().await;
        self.pool.close().await;
    }
}

/// Makes sure the SQLite file's directory exists and the file is created on first use.
fn sqlite_url(url: &str) -> Result<String, JournalError> {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path != ":memory:"
        && !path.is_empty()
        && let Some(dir) = Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).map_err(|source| JournalError::Directory {
            path: dir.display().to_string(),
            source,
        })?;
    }
    let mut params: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    if !params.iter().any(|p| p.starts_with("mode=")) {
        params.push("mode=rwc");
    }
    Ok(format!("sqlite://{path}?{}", params.join("&")))
}

/// Removes the SQLite journal at `path` (a file path or a `sqlite://` url): the database,
/// its WAL and shared memory, and its payload files. What is not there is no error.
pub fn remove_sqlite_database(path: &str) {
    let path = path.trim_start_matches("sqlite://");
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{path}{suffix}"));
    }
    let _ = std::fs::remove_dir_all(PayloadFiles::beside(Path::new(path)).dir());
}

/// The database file of a SQLite url made by [`sqlite_url`]; `None` in memory.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite://")?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let in_memory =
        path.is_empty() || path == ":memory:" || query.split('&').any(|p| p == "mode=memory");
    (!in_memory).then(|| std::path::PathBuf::from(path))
}

/// One history row on `conn` (usually inside a transaction).
pub(crate) async fn insert_transition(
    conn: &mut sqlx::AnyConnection,
    id: MessageId,
    from: &str,
    to: &str,
    at: i64,
    attempt: i64,
    detail: Option<&str>,
) -> Result<(), JournalError> {
    let step = Step {
        id: id.to_string(),
        from: Some(from),
        to,
        attempt,
        detail,
    };
    insert_transitions(conn, std::slice::from_ref(&step), at).await
}

/// One step of a message's history, for [`insert_transitions`].
pub(crate) struct Step<'a> {
    pub id: String,
    pub from: Option<&'a str>,
    pub to: &'a str,
    pub attempt: i64,
    pub detail: Option<&'a str>,
}

/// Writes history steps taken at `at` with one multi-row statement per 256.
pub(crate) async fn insert_transitions(
    conn: &mut sqlx::AnyConnection,
    steps: &[Step<'_>],
    at: i64,
) -> Result<(), JournalError> {
    for chunk in steps.chunks(256) {
        let sql = format!(
            "INSERT INTO message_transitions (message_id, from_state, to_state, at, attempt, detail) VALUES {}",
            claims::placeholders(conn, chunk.len(), 6, 1)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for step in chunk {
            q = q
                .bind(step.id.as_str())
                .bind(step.from)
                .bind(step.to)
                .bind(at)
                .bind(step.attempt)
                .bind(step.detail);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

pub(crate) fn parse_direction(
    id: &str,
    s: &str,
) -> Result<crate::message::Direction, JournalError> {
    crate::message::Direction::parse(s).ok_or_else(|| JournalError::Corrupt {
        id: id.to_string(),
        what: format!("direction {s:?}"),
    })
}

pub(crate) fn parse_external_ids(
    id: &str,
    s: &str,
) -> Result<crate::message::ExternalIds, JournalError> {
    serde_json::from_str(s).map_err(|e| JournalError::Corrupt {
        id: id.to_string(),
        what: format!("external_ids: {e}"),
    })
}

pub(crate) fn parse_state(id: &str, s: &str) -> Result<MessageState, JournalError> {
    MessageState::from_str(s).map_err(|e| JournalError::Corrupt {
        id: id.to_string(),
        what: e.to_string(),
    })
}

pub(crate) fn parse_id(s: &str) -> Result<MessageId, JournalError> {
    MessageId::from_str(s).map_err(|e| JournalError::Corrupt {
        id: s.to_string(),
        what: format!("id is not a UUID: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_get_create_mode() {
        let dir = std::env::temp_dir().join(format!("kp-url-{}", std::process::id()));
        let url = format!("sqlite://{}/j.db", dir.display());
        assert_eq!(sqlite_url(&url).unwrap(), format!("{url}?mode=rwc"));
        assert!(dir.is_dir());
        assert_eq!(
            sqlite_url("sqlite::memory:").unwrap(),
            "sqlite://:memory:?mode=rwc"
        );
    }

    #[test]
    fn only_a_sqlite_file_has_payload_files() {
        assert_eq!(
            sqlite_file("sqlite://data/j.db?mode=rwc"),
            Some("data/j.db".into())
        );
        assert_eq!(sqlite_file("sqlite://:memory:?mode=rwc"), None);
        assert_eq!(sqlite_file("sqlite://x?mode=memory&cache=shared"), None);
        assert_eq!(sqlite_file("postgres://localhost/k"), None);
    }

    #[tokio::test]
    async fn the_sqlite_writers_time_held_is_counted_from_hand_out_to_return() {
        let dir = std::env::temp_dir().join(format!("kp-held-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let url = format!("sqlite://{}/j.db", dir.display());
        let journal = Journal::connect(&url).await.unwrap();
        // The pool takes a connection back in a task of its own: let the first turn
        // (which opens the connection) be back before the reading.
        journal.begin().await.unwrap().commit().await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let before = journal.writer_occupancy().unwrap();
        let tx = journal.begin().await.unwrap();
        tokio::time::sleep(Duration::from_millis(40)).await;
        tx.commit().await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Reads beside the writer do not take it.
        sqlx::query("SELECT 1")
            .fetch_one(journal.reader())
            .await
            .unwrap();
        let turn = journal.writer_occupancy().unwrap().since(&before);
        assert_eq!(turn.turns, 1, "{turn:?}");
        assert!(turn.held >= Duration::from_millis(40), "{turn:?}");
        assert!(turn.held < Duration::from_secs(5), "{turn:?}");
        journal.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn rejects_unknown_backends() {
        let err = Journal::connect("mysql://x").await.unwrap_err();
        assert!(err.to_string().contains("unsupported database url"));
    }
}
