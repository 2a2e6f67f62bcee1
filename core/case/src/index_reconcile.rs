//! Reconciliation of the case and document index with the case core: every case and
//! document is looked up in the index (read back through [`IndexView`]); a case that
//! should be there and is not, is there with another status, or lacks one of its
//! documents, is imported again whole; a confidential case that is there is removed
//! (with its documents), and so is a confidential document of a case that is shown. The
//! repairs go out through the index's routes like any change; the run reports what it
//! found.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use serde_json::json;
use sqlx::Row;

use knudepunkt_engine::schedule::Progress;

use crate::cases::{CASE_COLUMNS, CaseRecord, CaseStatus, case_from_row};
use crate::error::{CaseError, CaseResult};
use crate::events;
use crate::store::{CaseCore, now_ms};

/// The index read back: of these case ids, those it holds, with each one's current
/// status (its Fremdrift: Opstaaet ... Afsluttet).
#[async_trait::async_trait]
pub trait IndexView: Send + Sync {
    async fn statuses(&self, case_ids: &[String]) -> Result<HashMap<String, String>, String>;
    /// Of these document ids, those the index holds.
    async fn documents(&self, document_ids: &[String]) -> Result<HashSet<String>, String>;
}

/// What a reconciliation found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct IndexReconciliation {
    pub checked: usize,
    pub in_order: usize,
    /// Cases that should be in the index and are not.
    pub missing: usize,
    /// Cases in the index with another status than the core's.
    pub wrong_status: usize,
    /// Confidential cases found in the index.
    pub confidential_in_index: usize,
    /// Documents checked; those of shown cases missing from the index; confidential
    /// documents of shown cases found in it.
    pub documents_checked: usize,
    pub documents_missing: usize,
    pub confidential_documents_in_index: usize,
    /// Cases journaled to be imported again, and to be removed; documents to be removed.
    pub reimported: usize,
    pub removed: usize,
    pub documents_removed: usize,
}

/// The status the index holds for a case in `status`.
fn indexed_status(status: CaseStatus) -> &'static str {
    match status {
        CaseStatus::Lukket => "Afsluttet",
        other => other.as_str(),
    }
}

impl CaseCore {
    /// How many cases there are, for a reconciliation's progress.
    pub async fn case_count(&self) -> CaseResult<u64> {
        let mut conn = self.journal().reader().acquire().await?;
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM cases")
            .fetch_one(&mut *conn)
            .await?
            .try_get("n")?;
        Ok(n as u64)
    }

    /// Compares every case with the index, `page` cases at a time, and journals the
    /// repairs (unless not `repair`: a dry run that only reports).
    pub async fn reconcile_index(
        &self,
        index: &dyn IndexView,
        progress: &dyn Progress,
        page: usize,
        repair: bool,
    ) -> CaseResult<IndexReconciliation> {
        progress.total(self.case_count().await?);
        let mut report = IndexReconciliation::default();
        let mut after = String::new();
        loop {
            let cases: Vec<CaseRecord> = {
                let mut conn = self.journal().reader().acquire().await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {CASE_COLUMNS} FROM cases WHERE id > $1 ORDER BY id LIMIT $2"
                )))
                .bind(&after)
                .bind(page.max(1) as i64)
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(case_from_row)
                .collect::<CaseResult<_>>()?
            };
            let Some(last) = cases.last() else { break };
            let first = std::mem::replace(&mut after, last.id.clone());
            let ids: Vec<String> = cases.iter().map(|c| c.id.clone()).collect();
            let unavailable = |detail| CaseError::Unavailable {
                system: "Sags- og dokumentindeks".into(),
                detail,
            };
            let held = index.statuses(&ids).await.map_err(unavailable)?;
            // The page's documents: those of its cases (case ids after the last page's).
            let documents = self.documents_between(&first, &after).await?;
            let document_ids: Vec<String> = documents.iter().map(|d| d.0.clone()).collect();
            let held_documents = index.documents(&document_ids).await.map_err(unavailable)?;
            report.documents_checked += documents.len();
            let mut by_case: HashMap<&str, Vec<&(String, String, bool)>> = HashMap::new();
            for d in &documents {
                by_case.entry(d.1.as_str()).or_default().push(d);
            }
            let mut import = Vec::new();
            let mut remove = Vec::new();
            let mut remove_documents = Vec::new();
            for case in cases {
                report.checked += 1;
                progress.advance(&case.id);
                let of_case = by_case.get(case.id.as_str()).into_iter().flatten();
                let lacking = if case.confidential {
                    0
                } else {
                    of_case
                        .clone()
                        .filter(|d| !d.2 && !held_documents.contains(&d.0))
                        .count()
                };
                report.documents_missing += lacking;
                let case_held = held.get(&case.id);
                if !case.confidential {
                    for d in of_case.filter(|d| d.2 && held_documents.contains(&d.0)) {
                        report.confidential_documents_in_index += 1;
                        remove_documents.push(d.0.clone());
                    }
                }
                match (case.confidential, case_held) {
                    (true, Some(_)) => {
                        report.confidential_in_index += 1;
                        remove.push(case.id);
                    }
                    (true, None) => report.in_order += 1,
                    (false, None) => {
                        report.missing += 1;
                        import.push(case);
                    }
                    (false, Some(status)) if status != indexed_status(case.status) => {
                        report.wrong_status += 1;
                        import.push(case);
                    }
                    (false, Some(_)) if lacking > 0 => import.push(case),
                    (false, Some(_)) => report.in_order += 1,
                }
            }
            report.reimported += import.len();
            report.removed += remove.len();
            report.documents_removed += remove_documents.len();
            if repair {
                self.journal_index_repairs(&import, &remove, &remove_documents)
                    .await?;
            }
        }
        if repair && report.reimported + report.removed + report.documents_removed > 0 {
            tracing::warn!(
                ?report,
                "the case and document index had drifted; repairs are on their way"
            );
        }
        Ok(report)
    }

    /// The documents of the cases with ids in (`after`, `last`]: (id, case id,
    /// confidential).
    async fn documents_between(
        &self,
        after: &str,
        last: &str,
    ) -> CaseResult<Vec<(String, String, bool)>> {
        let mut conn = self.journal().reader().acquire().await?;
        sqlx::query(
            "SELECT id, case_id, confidential FROM documents WHERE case_id > $1 AND case_id <= $2 ORDER BY case_id, id",
        )
        .bind(after)
        .bind(last)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("id")?,
                r.try_get("case_id")?,
                crate::store::flag(r, "confidential")?,
            ))
        })
        .collect()
    }

    /// Journals the repairs of one page: the cases to import again as one batch (the
    /// backfill's event, a run of its own), the confidential ones to remove, and the
    /// confidential documents of shown cases to remove.
    async fn journal_index_repairs(
        &self,
        import: &[CaseRecord],
        remove: &[String],
        remove_documents: &[String],
    ) -> CaseResult<()> {
        if import.is_empty() && remove.is_empty() && remove_documents.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        let now = now_ms();
        if let Some(first) = import.first() {
            let snapshots = crate::index::snapshots(&mut tx, import).await?;
            let benefits: usize = snapshots
                .iter()
                .map(|s| s["grants"].as_array().map_or(0, Vec::len))
                .sum();
            let body = json!({
                "run": format!("repair-{now}"),
                "first_case_id": first.id,
                "last_case_id": import.last().map(|c| c.id.clone()),
                "benefits": benefits,
                "cases": snapshots,
            });
            events::publish(&self.engine, &mut tx, events::INDEX_BACKFILL, body).await?;
        }
        if !remove.is_empty() {
            events::publish(
                &self.engine,
                &mut tx,
                events::INDEX_REMOVE,
                json!({ "case_ids": remove }),
            )
            .await?;
        }
        if !remove_documents.is_empty() {
            events::publish(
                &self.engine,
                &mut tx,
                events::INDEX_REMOVE,
                json!({ "case_ids": [], "document_ids": remove_documents }),
            )
            .await?;
        }
        tx.commit().await?;
        self.engine.wake();
        Ok(())
    }
}
