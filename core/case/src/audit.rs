//! The audit log: every read or write of a citizen's data records who, what, when and
//! why. Rows are only ever inserted.

use serde::Serialize;
use sqlx::{AnyConnection, Row};

use crate::error::CaseResult;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditAction {
    Read,
    Write,
}

impl AuditAction {
    fn as_str(self) -> &'static str {
        match self {
            AuditAction::Read => "read",
            AuditAction::Write => "write",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditOutcome {
    Allowed,
    /// The actor's roles did not cover the resource.
    Denied,
}

/// One line to write.
#[derive(Clone, Debug)]
pub struct AuditEntry<'a> {
    pub actor: &'a str,
    pub action: AuditAction,
    /// What was touched, e.g. `case/0193...`, `citizen/search`.
    pub resource: String,
    /// The citizen whose data it was, when known.
    pub cpr: Option<&'a str>,
    pub purpose: &'a str,
    pub outcome: AuditOutcome,
}

/// Appends `entry` on `conn` (inside the change's own transaction for writes).
pub async fn append(conn: &mut AnyConnection, entry: &AuditEntry<'_>, at: i64) -> CaseResult<()> {
    sqlx::query(
        "INSERT INTO case_audit_log (at, actor, action, resource, cpr, purpose, outcome) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(at)
    .bind(entry.actor)
    .bind(entry.action.as_str())
    .bind(entry.resource.as_str())
    .bind(entry.cpr)
    .bind(entry.purpose)
    .bind(match entry.outcome {
        AuditOutcome::Allowed => "allowed",
        AuditOutcome::Denied => "denied",
    })
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Appends several entries in one statement.
pub async fn append_many(
    conn: &mut AnyConnection,
    entries: &[AuditEntry<'_>],
    at: i64,
) -> CaseResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let rows: Vec<String> = (0..entries.len())
        .map(|r| {
            let cols: Vec<String> = (1..=7).map(|c| format!("${}", r * 7 + c)).collect();
            format!("({})", cols.join(", "))
        })
        .collect();
    let sql = format!(
        "INSERT INTO case_audit_log (at, actor, action, resource, cpr, purpose, outcome) VALUES {}",
        rows.join(", ")
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for entry in entries {
        q = q
            .bind(at)
            .bind(entry.actor)
            .bind(entry.action.as_str())
            .bind(entry.resource.as_str())
            .bind(entry.cpr)
            .bind(entry.purpose)
            .bind(match entry.outcome {
                AuditOutcome::Allowed => "allowed",
                AuditOutcome::Denied => "denied",
            });
    }
    q.execute(&mut *conn).await?;
    Ok(())
}

/// Appends an allowed read or write by the caller in `ctx`.
pub(crate) async fn allowed(
    conn: &mut AnyConnection,
    ctx: &crate::Ctx<'_>,
    action: AuditAction,
    resource: String,
    cpr: &str,
    at: i64,
) -> CaseResult<()> {
    append(
        conn,
        &AuditEntry {
            actor: &ctx.actor.user_id,
            action,
            resource,
            cpr: Some(cpr),
            purpose: ctx.purpose,
            outcome: AuditOutcome::Allowed,
        },
        at,
    )
    .await
}

/// A stored audit line, as an auditor reads it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AuditLine {
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub resource: String,
    pub purpose: String,
    pub outcome: String,
}

/// Every audit line about one citizen, oldest first.
pub async fn of_citizen(conn: &mut AnyConnection, cpr: &str) -> CaseResult<Vec<AuditLine>> {
    let rows = sqlx::query(
        "SELECT at, actor, action, resource, purpose, outcome FROM case_audit_log WHERE cpr = $1 ORDER BY id",
    )
    .bind(cpr)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(AuditLine {
                at: r.try_get("at")?,
                actor: r.try_get("actor")?,
                action: r.try_get("action")?,
                resource: r.try_get("resource")?,
                purpose: r.try_get("purpose")?,
                outcome: r.try_get("outcome")?,
            })
        })
        .collect()
}

/// The case core's audit log, for adapters that read citizen data (CPR lookups).
#[async_trait::async_trait]
impl knudepunkt_engine::audit::CitizenAuditLog for crate::CaseCore {
    async fn record(
        &self,
        access: knudepunkt_engine::audit::CitizenAccess<'_>,
    ) -> Result<(), knudepunkt_engine::audit::AuditError> {
        let refuse =
            |e: &dyn std::fmt::Display| knudepunkt_engine::audit::AuditError(e.to_string());
        let mut conn = self
            .journal()
            .pool()
            .acquire()
            .await
            .map_err(|e| refuse(&e))?;
        append(
            &mut conn,
            &AuditEntry {
                actor: access.actor,
                action: match access.kind {
                    knudepunkt_engine::audit::AccessKind::Read => AuditAction::Read,
                    knudepunkt_engine::audit::AccessKind::Write => AuditAction::Write,
                },
                resource: access.resource.to_string(),
                cpr: Some(access.cpr),
                purpose: access.purpose,
                outcome: AuditOutcome::Allowed,
            },
            crate::store::now_ms(),
        )
        .await
        .map_err(|e| refuse(&e))
    }
}
