//! KLE kept in step with STS Klassifikation: the main groups, groups and subjects with
//! their titles, parents and validity. A sync is idempotent and changes only what
//! changed; a class the source no longer has is ended (its `valid_to` set), never
//! deleted, so that old cases keep their history. `kle_check` reports every KLE number
//! the core uses (open cases, the service catalogue, job roles) that KLE does not know,
//! that has expired, or that expires soon, with what replaced it.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::Row;

use crate::error::CaseResult;
use crate::import::{Value, insert_rows};
use crate::store::{CaseCore, now_ms};

/// One class as the source gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KleEntry {
    pub number: String,
    pub title: String,
    /// `hovedgruppe`, `gruppe` or `emne`.
    pub level: String,
    pub parent: Option<String>,
    /// YYYY-MM-DD.
    pub valid_from: Option<String>,
    pub valid_to: Option<String>,
    pub replaced_by: Option<String>,
}

/// What a sync did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KleSyncReport {
    /// Classes the source gave.
    pub total: usize,
    pub added: usize,
    pub changed: usize,
    pub unchanged: usize,
    /// Classes the source no longer gives, ended today.
    pub ended: usize,
}

/// A KLE number in use that needs attention.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct KleFinding {
    pub number: String,
    /// Where it is used: `case`, `service` or `job_role`, with how many.
    pub used_by: String,
    pub uses: i64,
    /// `unknown`, `expired` or `expiring`.
    pub problem: String,
    pub valid_to: Option<String>,
    pub replaced_by: Option<String>,
}

type Stored = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

impl CaseCore {
    /// Brings the core's KLE in step with `entries` (the whole plan); `today` ends what
    /// the source no longer gives.
    pub async fn sync_kle(&self, entries: &[KleEntry], today: &str) -> CaseResult<KleSyncReport> {
        let mut tx = self.begin().await?;
        let stored: HashMap<String, Stored> = sqlx::query(
            "SELECT number, title, level, parent, valid_from, valid_to, replaced_by FROM kle_subjects",
        )
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("number")?,
                (
                    r.try_get("title")?,
                    r.try_get("level")?,
                    r.try_get("parent")?,
                    r.try_get("valid_from")?,
                    r.try_get("valid_to")?,
                    r.try_get("replaced_by")?,
                ),
            ))
        })
        .collect::<CaseResult<_>>()?;
        let now = now_ms();
        let mut report = KleSyncReport {
            total: entries.len(),
            ..Default::default()
        };
        let mut rows = Vec::new();
        for e in entries {
            let wanted: Stored = (
                e.title.clone(),
                Some(e.level.clone()),
                e.parent.clone(),
                e.valid_from.clone(),
                e.valid_to.clone(),
                e.replaced_by.clone(),
            );
            match stored.get(&e.number) {
                Some(s) if *s == wanted => {
                    report.unchanged += 1;
                    continue;
                }
                Some(_) => report.changed += 1,
                None => report.added += 1,
            }
            rows.push(vec![
                Value::Text(e.number.clone()),
                Value::Text(e.title.clone()),
                Value::Text(e.level.clone()),
                Value::OptText(e.parent.clone()),
                Value::OptText(e.valid_from.clone()),
                Value::OptText(e.valid_to.clone()),
                Value::OptText(e.replaced_by.clone()),
                Value::Int(now),
            ]);
        }
        insert_rows(
            &mut tx,
            "INSERT INTO kle_subjects (number, title, level, parent, valid_from, valid_to, replaced_by, synced_at)",
            8,
            &rows,
            "ON CONFLICT (number) DO UPDATE SET title = excluded.title, level = excluded.level, parent = excluded.parent, \
             valid_from = excluded.valid_from, valid_to = excluded.valid_to, replaced_by = excluded.replaced_by, \
             synced_at = excluded.synced_at",
        )
        .await?;
        let given: std::collections::HashSet<&str> =
            entries.iter().map(|e| e.number.as_str()).collect();
        for (number, s) in &stored {
            if !given.contains(number.as_str()) && s.4.is_none() {
                sqlx::query(
                    "UPDATE kle_subjects SET valid_to = $1, synced_at = $2 WHERE number = $3",
                )
                .bind(today)
                .bind(now)
                .bind(number)
                .execute(&mut *tx)
                .await?;
                report.ended += 1;
            }
        }
        tx.commit().await?;
        tracing::info!(
            total = report.total,
            added = report.added,
            changed = report.changed,
            ended = report.ended,
            "KLE in step with Klassifikation"
        );
        Ok(report)
    }

    /// Every KLE number in use that KLE does not know, that expired by `today`, or that
    /// expires by `soon` (both YYYY-MM-DD).
    pub async fn kle_check(&self, today: &str, soon: &str) -> CaseResult<Vec<KleFinding>> {
        let mut conn = self.journal().reader().acquire().await?;
        let rows = sqlx::query(
            "SELECT u.number, u.used_by, COUNT(*) AS uses, k.number AS known, k.valid_to, k.replaced_by FROM ( \
               SELECT kle AS number, 'case' AS used_by FROM cases WHERE status <> 'Lukket' \
               UNION ALL SELECT kle, 'service' FROM services \
               UNION ALL SELECT kle, 'job_role' FROM job_role_kle \
             ) u LEFT JOIN kle_subjects k ON k.number = u.number \
             WHERE k.number IS NULL OR (k.valid_to IS NOT NULL AND k.valid_to <= $1) \
             GROUP BY u.number, u.used_by, k.number, k.valid_to, k.replaced_by ORDER BY u.number, u.used_by",
        )
        .bind(soon)
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|r| {
                let known: Option<String> = r.try_get("known")?;
                let valid_to: Option<String> = r.try_get("valid_to")?;
                let problem = match (&known, &valid_to) {
                    (None, _) => "unknown",
                    (Some(_), Some(to)) if to.as_str() <= today => "expired",
                    _ => "expiring",
                };
                Ok(KleFinding {
                    number: r.try_get("number")?,
                    used_by: r.try_get("used_by")?,
                    uses: r.try_get("uses")?,
                    problem: problem.into(),
                    valid_to,
                    replaced_by: r.try_get("replaced_by")?,
                })
            })
            .collect()
    }
}

/// Whether KLE number `kle` may be used for something new on `today`: known, and not
/// expired. The error names the replacement when there is one.
pub(crate) async fn usable(
    conn: &mut sqlx::AnyConnection,
    kle: &str,
    today: &str,
) -> CaseResult<Result<(), String>> {
    let row = sqlx::query("SELECT valid_to, replaced_by FROM kle_subjects WHERE number = $1")
        .bind(kle)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else {
        return Ok(Err(format!("{kle} is not a known KLE subject")));
    };
    let valid_to: Option<String> = row.try_get("valid_to")?;
    let replaced_by: Option<String> = row.try_get("replaced_by")?;
    Ok(match valid_to {
        Some(to) if to.as_str() <= today => Err(format!(
            "{kle} expired on {to}{}",
            replaced_by
                .map(|r| format!("; it was replaced by {r}"))
                .unwrap_or_default()
        )),
        _ => Ok(()),
    })
}
