//! What the case and document index (STS Sags- og dokumentindeks, SF1470) is told about
//! cases. A case's index snapshot holds its fields, its whole status history (as
//! periods) and the documents that may be shown; a first import carries it. The
//! backfill loads the whole store into the index in batches, each journaled in one
//! transaction with its checkpoint, so a run that stops resumes where it stopped and
//! sends nothing twice.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{AnyConnection, Connection, Row};

use knudepunkt_engine::journal::placeholders;

use crate::cases::{CASE_COLUMNS, CaseRecord, case_from_row};
use crate::error::CaseResult;
use crate::events;
use crate::store::{CaseCore, now_ms};

/// The one backfill the core keeps a checkpoint for.
const BACKFILL: &str = "sagdokindeks";

/// An epoch-millisecond instant as the index writes it (RFC 3339, UTC).
pub(crate) fn instant(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// `(?, ?, ...)` or `($1, $2, ...)`: an IN list of `n` bound values.
fn in_list(conn: &AnyConnection, n: usize) -> String {
    placeholders(conn, n, 1, 1).replace(['(', ')'], "")
}

/// The index snapshots of `cases`: each case's event body with its status history as
/// periods (`from`, and `to` unless current), its documents that are not confidential
/// (without content), and its economic benefits (`grants`, each `{grant, service}`).
pub(crate) async fn snapshots(
    conn: &mut AnyConnection,
    cases: &[CaseRecord],
) -> CaseResult<Vec<Value>> {
    if cases.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = cases.iter().map(|c| c.id.as_str()).collect();
    let mut history: HashMap<String, Vec<(String, i64)>> = HashMap::new();
    let mut documents: HashMap<String, Vec<Value>> = HashMap::new();
    let mut grants: HashMap<String, Vec<Value>> = HashMap::new();
    for chunk in ids.chunks(200) {
        let sql = format!(
            "SELECT case_id, status, at FROM case_status_history WHERE case_id IN ({}) ORDER BY id",
            in_list(conn, chunk.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&mut *conn).await? {
            history
                .entry(r.try_get("case_id")?)
                .or_default()
                .push((r.try_get("status")?, r.try_get("at")?));
        }
        let sql = format!(
            "SELECT id, case_id, title, doc_type, journal_date, created_at FROM documents \
             WHERE case_id IN ({}) AND confidential = 0 ORDER BY created_at, id",
            in_list(conn, chunk.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&mut *conn).await? {
            let created_at: i64 = r.try_get("created_at")?;
            documents
                .entry(r.try_get("case_id")?)
                .or_default()
                .push(json!({
                    "id": r.try_get::<String, _>("id")?,
                    "title": r.try_get::<String, _>("title")?,
                    "doc_type": r.try_get::<String, _>("doc_type")?,
                    "journal_date": r.try_get::<String, _>("journal_date")?,
                    "created_at": instant(created_at),
                }));
        }
        // Economic benefits, for the Ydelsesindeks; shaped as the grant events are.
        let sql = format!(
            "SELECT g.id, g.case_id, g.period_from, g.period_to, g.amount_ore, g.quantity, g.provider, g.status, \
             s.code, s.name, s.kle, s.legal_basis, s.unit FROM grants g JOIN services s ON s.id = g.service_id \
             WHERE g.case_id IN ({}) AND s.economic = 1 ORDER BY g.period_from, g.id",
            in_list(conn, chunk.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&mut *conn).await? {
            grants
                .entry(r.try_get("case_id")?)
                .or_default()
                .push(json!({
                    "grant": {
                        "id": r.try_get::<String, _>("id")?,
                        "period": {
                            "from": r.try_get::<String, _>("period_from")?,
                            "to": r.try_get::<Option<String>, _>("period_to")?,
                        },
                        "amount_ore": r.try_get::<Option<i64>, _>("amount_ore")?,
                        "quantity": r.try_get::<Option<i64>, _>("quantity")?,
                        "provider": r.try_get::<String, _>("provider")?,
                        "status": r.try_get::<String, _>("status")?,
                        "economic": true,
                    },
                    "service": {
                        "code": r.try_get::<String, _>("code")?,
                        "name": r.try_get::<String, _>("name")?,
                        "kle": r.try_get::<String, _>("kle")?,
                        "legal_basis": r.try_get::<String, _>("legal_basis")?,
                        "unit": r.try_get::<String, _>("unit")?,
                    },
                }));
        }
    }
    Ok(cases
        .iter()
        .map(|case| {
            let mut body = case.event();
            let steps = history.remove(&case.id).unwrap_or_default();
            body["history"] = periods(&steps);
            body["documents"] = Value::Array(documents.remove(&case.id).unwrap_or_default());
            body["grants"] = Value::Array(grants.remove(&case.id).unwrap_or_default());
            body
        })
        .collect())
}

/// A status history as periods: each status from when it was set until the next.
fn periods(steps: &[(String, i64)]) -> Value {
    Value::Array(
        steps
            .iter()
            .enumerate()
            .map(|(k, (status, at))| {
                let mut p = json!({"status": status, "from": instant(*at)});
                if let Some((_, next)) = steps.get(k + 1) {
                    p["to"] = instant(*next).into();
                }
                p
            })
            .collect(),
    )
}

/// Where a backfill stands.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct BackfillProgress {
    /// The run, by the instant it started (epoch ms); part of every batch's key.
    pub run: i64,
    /// Cases in the store that are not confidential, counted when the run started.
    pub total_cases: i64,
    pub cases_done: i64,
    pub documents_done: i64,
    pub batches: i64,
    /// The last case (by id) journaled; the next batch starts after it.
    pub last_case_id: Option<String>,
    pub started_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

/// What one backfill step did.
#[derive(Clone, Debug)]
pub struct BackfillStep {
    pub progress: BackfillProgress,
    /// Cases in this step's batch; 0 once the store is exhausted.
    pub cases: usize,
}

fn progress_from(r: &sqlx::any::AnyRow) -> CaseResult<BackfillProgress> {
    Ok(BackfillProgress {
        run: r.try_get("run")?,
        total_cases: r.try_get("total_cases")?,
        cases_done: r.try_get("cases_done")?,
        documents_done: r.try_get("documents_done")?,
        batches: r.try_get("batches")?,
        last_case_id: r.try_get("last_case_id")?,
        started_at: r.try_get("started_at")?,
        updated_at: r.try_get("updated_at")?,
        finished_at: r.try_get("finished_at")?,
    })
}

async fn read_progress(conn: &mut AnyConnection) -> CaseResult<Option<BackfillProgress>> {
    sqlx::query(
        "SELECT run, total_cases, cases_done, documents_done, batches, last_case_id, started_at, \
         updated_at, finished_at FROM index_backfill WHERE id = $1",
    )
    .bind(BACKFILL)
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(progress_from)
    .transpose()
}

impl CaseCore {
    /// Where the index backfill stands, if one was ever started.
    pub async fn backfill_progress(&self) -> CaseResult<Option<BackfillProgress>> {
        let mut conn = self.journal().pool().acquire().await?;
        read_progress(&mut conn).await
    }

    /// Starts a backfill, or returns the one under way. `restart` starts a new run
    /// even over an unfinished one (its batches get new keys, so all is sent again).
    pub async fn start_backfill(&self, restart: bool) -> CaseResult<BackfillProgress> {
        let mut conn = self.journal().pool().acquire().await?;
        let mut tx = conn.begin().await?;
        if let Some(p) = read_progress(&mut tx).await?
            && !restart
            && p.finished_at.is_none()
        {
            return Ok(p);
        }
        let total: i64 = sqlx::query("SELECT COUNT(*) AS n FROM cases WHERE confidential = 0")
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        let now = now_ms();
        sqlx::query("DELETE FROM index_backfill WHERE id = $1")
            .bind(BACKFILL)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO index_backfill (id, run, total_cases, cases_done, documents_done, batches, \
             last_case_id, started_at, updated_at, finished_at) VALUES ($1, $2, $3, 0, 0, 0, NULL, $2, $2, NULL)",
        )
        .bind(BACKFILL)
        .bind(now)
        .bind(total)
        .execute(&mut *tx)
        .await?;
        let p = read_progress(&mut tx).await?.expect("just written");
        tx.commit().await?;
        Ok(p)
    }

    /// Journals the next batch of up to `cases` cases (those after the checkpoint, by
    /// id, that are not confidential) as one `index.backfill` event, and moves the
    /// checkpoint, in one transaction. With nothing left it marks the run finished.
    pub async fn backfill_step(&self, cases: usize) -> CaseResult<BackfillStep> {
        let mut conn = self.journal().pool().acquire().await?;
        let mut tx = conn.begin().await?;
        let Some(mut p) = read_progress(&mut tx).await? else {
            return Err(crate::error::CaseError::Conflict {
                field: "backfill".into(),
                detail: "no backfill was started".into(),
            });
        };
        if p.finished_at.is_some() {
            return Ok(BackfillStep {
                progress: p,
                cases: 0,
            });
        }
        let sql = format!(
            "SELECT {CASE_COLUMNS} FROM cases WHERE confidential = 0 AND id > $1 ORDER BY id LIMIT $2"
        );
        let batch: Vec<CaseRecord> = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(p.last_case_id.clone().unwrap_or_default())
            .bind(cases.max(1) as i64)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(case_from_row)
            .collect::<CaseResult<_>>()?;
        let now = now_ms();
        if batch.is_empty() {
            p.finished_at = Some(now);
            p.updated_at = now;
            sqlx::query(
                "UPDATE index_backfill SET finished_at = $1, updated_at = $1 WHERE id = $2",
            )
            .bind(now)
            .bind(BACKFILL)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(BackfillStep {
                progress: p,
                cases: 0,
            });
        }
        let snapshots = snapshots(&mut tx, &batch).await?;
        let count = |key: &str| -> usize {
            snapshots
                .iter()
                .map(|s| s[key].as_array().map_or(0, Vec::len))
                .sum()
        };
        let (documents, benefits) = (count("documents"), count("grants"));
        let first = batch.first().map(|c| c.id.clone()).unwrap_or_default();
        let last = batch.last().map(|c| c.id.clone()).unwrap_or_default();
        let body = json!({
            "run": p.run,
            "first_case_id": first,
            "last_case_id": last,
            "benefits": benefits,
            "cases": snapshots,
        });
        events::publish(&self.engine, &mut tx, events::INDEX_BACKFILL, body).await?;
        p.cases_done += batch.len() as i64;
        p.documents_done += documents as i64;
        p.batches += 1;
        p.last_case_id = Some(last);
        p.updated_at = now;
        sqlx::query(
            "UPDATE index_backfill SET cases_done = $1, documents_done = $2, batches = $3, \
             last_case_id = $4, updated_at = $5 WHERE id = $6",
        )
        .bind(p.cases_done)
        .bind(p.documents_done)
        .bind(p.batches)
        .bind(&p.last_case_id)
        .bind(now)
        .bind(BACKFILL)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.engine.wake();
        Ok(BackfillStep {
            progress: p,
            cases: batch.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_history_becomes_periods_that_meet() {
        let p = periods(&[("Opstaaet".into(), 0), ("Oplyst".into(), 1_000)]);
        assert_eq!(p[0]["status"], "Opstaaet");
        assert_eq!(p[0]["from"], "1970-01-01T00:00:00.000Z");
        assert_eq!(p[0]["to"], p[1]["from"]);
        assert!(p[1].get("to").is_none(), "the current status has no end");
    }
}
