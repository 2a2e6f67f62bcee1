//! Schedule runs in the journal (`schedule_runs`): the claim on a fire time (one
//! instance's row goes in, the others' do not), the heartbeat that keeps a running job's
//! lease, and the record of every run with its duration and outcome.

use serde::Serialize;
use sqlx::Row;

use crate::journal::{Journal, JournalError};
use crate::message::now_ms;

/// One run, as recorded.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct RunRecord {
    pub id: i64,
    pub schedule_id: String,
    pub job: String,
    /// The fire time on the Copenhagen wall clock, or `manual-<uuid>`.
    pub fire_key: String,
    /// The fire time (epoch ms), none for a run by hand.
    pub fire_at: Option<i64>,
    pub period: Option<String>,
    pub dry_run: bool,
    pub instance: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    /// Milliseconds, once finished.
    pub duration_ms: Option<i64>,
    /// `running`, `ok`, `failed`, or `abandoned` (its instance stopped beating).
    pub outcome: String,
    /// The summary of a run that went well, or why it failed.
    pub detail: Option<String>,
}

/// What a claim is for.
pub struct Claim<'a> {
    pub schedule_id: &'a str,
    pub job: &'a str,
    pub fire_key: &'a str,
    pub fire_at: Option<i64>,
    pub period: Option<&'a str>,
    pub dry_run: bool,
    pub instance: &'a str,
}

const COLUMNS: &str = "id, schedule_id, job, fire_key, fire_at, period, dry_run, instance, started_at, finished_at, outcome, detail";

fn record(r: &sqlx::any::AnyRow) -> Result<RunRecord, JournalError> {
    let started_at: i64 = r.try_get("started_at")?;
    let finished_at: Option<i64> = r.try_get("finished_at")?;
    Ok(RunRecord {
        id: r.try_get("id")?,
        schedule_id: r.try_get("schedule_id")?,
        job: r.try_get("job")?,
        fire_key: r.try_get("fire_key")?,
        fire_at: r.try_get("fire_at")?,
        period: r.try_get("period")?,
        dry_run: r.try_get::<i64, _>("dry_run")? != 0,
        instance: r.try_get("instance")?,
        started_at,
        finished_at,
        duration_ms: finished_at.map(|f| f - started_at),
        outcome: r.try_get("outcome")?,
        detail: r.try_get("detail")?,
    })
}

impl Journal {
    /// Claims a fire time: the run's id, or `None` when another instance has it.
    pub async fn claim_schedule_run(&self, c: &Claim<'_>) -> Result<Option<i64>, JournalError> {
        let now = now_ms();
        let row = sqlx::query(
            "INSERT INTO schedule_runs (schedule_id, job, fire_key, fire_at, period, dry_run, instance, started_at, heartbeat_at, outcome) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, 'running') \
             ON CONFLICT (schedule_id, fire_key) DO NOTHING RETURNING id",
        )
        .bind(c.schedule_id)
        .bind(c.job)
        .bind(c.fire_key)
        .bind(c.fire_at)
        .bind(c.period)
        .bind(c.dry_run as i64)
        .bind(c.instance)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some(r) => Some(r.try_get("id")?),
            None => None,
        })
    }

    /// Whether a run of `schedule_id` is going on somewhere: running, with a heartbeat
    /// newer than `lease_ms`. Older ones are marked abandoned.
    pub async fn schedule_running(
        &self,
        schedule_id: &str,
        lease_ms: i64,
    ) -> Result<bool, JournalError> {
        let stale = now_ms() - lease_ms;
        sqlx::query(
            "UPDATE schedule_runs SET outcome = 'abandoned', detail = 'its instance stopped before it finished' \
             WHERE schedule_id = $1 AND outcome = 'running' AND heartbeat_at <= $2",
        )
        .bind(schedule_id)
        .bind(stale)
        .execute(self.pool())
        .await?;
        let live = sqlx::query(
            "SELECT id FROM schedule_runs WHERE schedule_id = $1 AND outcome = 'running' LIMIT 1",
        )
        .bind(schedule_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(live.is_some())
    }

    /// Keeps a running job's lease.
    pub async fn schedule_heartbeat(&self, run: i64) -> Result<(), JournalError> {
        sqlx::query(
            "UPDATE schedule_runs SET heartbeat_at = $1 WHERE id = $2 AND outcome = 'running'",
        )
        .bind(now_ms())
        .bind(run)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Records how a run ended.
    pub async fn finish_schedule_run(
        &self,
        run: i64,
        ok: bool,
        detail: &str,
    ) -> Result<(), JournalError> {
        let now = now_ms();
        sqlx::query(
            "UPDATE schedule_runs SET finished_at = $1, heartbeat_at = $1, outcome = $2, detail = $3 WHERE id = $4",
        )
        .bind(now)
        .bind(if ok { "ok" } else { "failed" })
        .bind(detail)
        .bind(run)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The latest fire time of `schedule_id` that was claimed (epoch ms).
    pub async fn last_schedule_fire(&self, schedule_id: &str) -> Result<Option<i64>, JournalError> {
        let row = sqlx::query(
            "SELECT MAX(fire_at) AS last FROM schedule_runs WHERE schedule_id = $1 AND fire_at IS NOT NULL",
        )
        .bind(schedule_id)
        .fetch_one(self.reader())
        .await?;
        Ok(row.try_get("last")?)
    }

    /// The runs, newest first: of one schedule, or of all.
    pub async fn schedule_runs(
        &self,
        schedule_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RunRecord>, JournalError> {
        let rows = match schedule_id {
            Some(id) => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM schedule_runs WHERE schedule_id = $1 ORDER BY started_at DESC, id DESC LIMIT $2"
                )))
                .bind(id)
                .bind(limit)
                .fetch_all(self.reader())
                .await?
            }
            None => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM schedule_runs ORDER BY started_at DESC, id DESC LIMIT $1"
                )))
                .bind(limit)
                .fetch_all(self.reader())
                .await?
            }
        };
        rows.iter().map(record).collect()
    }
}
