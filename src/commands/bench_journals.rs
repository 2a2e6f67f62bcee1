//! The journals a bench runs on: SQLite (a fresh file under `data/`, removed after), a
//! scratch PostgreSQL database (created and dropped), or both, one after the other.

use anyhow::Context as _;
use sqlx::Executor;

use super::stack::fresh_sqlite;

#[derive(clap::Args)]
pub struct Journals {
    /// The journal: sqlite, postgres or both.
    #[arg(long, default_value = "both")]
    pub backend: String,
    /// A PostgreSQL server where a scratch database may be created (and dropped).
    #[arg(
        long,
        env = "KNUDEPUNKT_TEST_POSTGRES_URL",
        default_value = "postgres://knudepunkt:knudepunkt@127.0.0.1:5432/postgres"
    )]
    pub postgres_admin_url: String,
}

impl Journals {
    /// Runs `run(backend, database_url)` on each journal asked for; the results in order.
    pub async fn each<R>(
        &self,
        sqlite_file: &str,
        mut run: impl AsyncFnMut(&str, &str) -> anyhow::Result<R>,
    ) -> anyhow::Result<Vec<R>> {
        let backends: Vec<&str> = match self.backend.as_str() {
            "both" => vec!["sqlite", "postgres"],
            "sqlite" => vec!["sqlite"],
            "postgres" => vec!["postgres"],
            other => anyhow::bail!("--backend {other:?}: use sqlite, postgres or both"),
        };
        let mut out = Vec::new();
        for backend in backends {
            let result = if backend == "sqlite" {
                let db = fresh_sqlite(sqlite_file);
                let r = run(backend, &db).await;
                // Gigabytes at full size: not worth keeping, unless asked to (to study
                // the journal's transitions afterwards).
                if std::env::var_os("KNUDEPUNKT_BENCH_KEEP").is_none() {
                    knudepunkt_engine::journal::remove_sqlite_database(&db);
                }
                r
            } else {
                let (url, name) = scratch_postgres(&self.postgres_admin_url).await?;
                let r = run(backend, &url).await;
                drop_postgres(&self.postgres_admin_url, &name).await?;
                r
            };
            out.push(result?);
        }
        Ok(out)
    }
}

pub(super) async fn scratch_postgres(admin: &str) -> anyhow::Result<(String, String)> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(admin).await.with_context(|| {
        format!(
            "connecting to PostgreSQL at {}",
            crate::setup::redact_url(admin)
        )
    })?;
    let name = format!("kp_bench_{}", uuid::Uuid::now_v7().simple());
    pool.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await?;
    pool.close().await;
    let base = admin
        .rsplit_once('/')
        .context("a database URL ends in /DBNAME")?
        .0;
    Ok((format!("{base}/{name}"), name))
}

pub(super) async fn drop_postgres(admin: &str, name: &str) -> anyhow::Result<()> {
    let pool = sqlx::AnyPool::connect(admin).await?;
    pool.execute(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .await?;
    pool.close().await;
    Ok(())
}
