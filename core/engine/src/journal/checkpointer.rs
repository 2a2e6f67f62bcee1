//! SQLite's WAL is copied back into the database by a connection of its own, a few times
//! a second, so that the writer never stops mid-commit for a large checkpoint (which
//! would show as a latency spike). A passive checkpoint does not block the writer.

use std::time::Duration;

use sqlx::{AnyConnection, AnyPool, Connection, Executor};
use tracing::warn;

use super::JournalError;

const EVERY: Duration = Duration::from_millis(250);

/// Starts the checkpointer for the journal at `url`; it stops when `pool` is closed.
pub(super) async fn spawn(url: &str, pool: AnyPool) -> Result<(), JournalError> {
    let mut conn = AnyConnection::connect(url).await?;
    conn.execute("PRAGMA busy_timeout = 10000").await?;
    super::priority::favour_sqlite_threads();
    tokio::spawn(async move {
        while !pool.is_closed() {
            tokio::time::sleep(EVERY).await;
            if let Err(e) = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").await {
                warn!(error = %e, "checkpointing the journal's WAL failed; trying again");
            }
        }
        let _ = conn.close().await;
    });
    Ok(())
}
