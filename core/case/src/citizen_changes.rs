//! A change to a citizen's master data from CPR, as a Beskedfordeler event brings it
//! (route beskedfordeler.cpr): the citizen's name and address are refreshed, if the
//! municipality knows the citizen. The engine takes each message once (its BeskedId is
//! the route's idempotency key); the change itself is idempotent too.

use serde::Deserialize;

use crate::audit::{self, AuditAction, AuditEntry, AuditOutcome};
use crate::citizens::parse_cpr;
use crate::error::CaseResult;
use crate::store::{CaseCore, now_ms};

/// What CPR says changed. Absent fields stay as they are.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CprChange {
    /// The Beskedfordeler message it came in.
    pub besked_id: String,
    pub cpr: String,
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub family_name: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
}

/// What a change did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CprChangeOutcome {
    Refreshed,
    /// The municipality has no such citizen: nothing to refresh.
    NotOurs,
}

impl CaseCore {
    pub async fn apply_cpr_change(&self, change: &CprChange) -> CaseResult<CprChangeOutcome> {
        let cpr = parse_cpr("cpr", &change.cpr)?;
        let mut tx = self.begin().await?;
        let now = now_ms();
        let updated = sqlx::query(
            "UPDATE citizens SET given_name = COALESCE($1, given_name), family_name = COALESCE($2, family_name), \
             address = COALESCE($3, address), looked_up_at = NULL, updated_at = $4 WHERE cpr = $5",
        )
        .bind(change.given_name.as_deref().map(str::trim))
        .bind(change.family_name.as_deref().map(str::trim))
        .bind(change.address.as_deref().map(str::trim))
        .bind(now)
        .bind(cpr.expose())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            return Ok(CprChangeOutcome::NotOurs);
        }
        let purpose = format!("CPR change (Beskedfordeler {})", change.besked_id);
        audit::append_many(
            &mut tx,
            &[AuditEntry {
                actor: "system:beskedfordeler",
                action: AuditAction::Write,
                resource: "citizen".into(),
                cpr: Some(cpr.expose()),
                purpose: &purpose,
                outcome: AuditOutcome::Allowed,
            }],
            now,
        )
        .await?;
        tx.commit().await?;
        tracing::info!(cpr = %cpr, besked_id = %change.besked_id, "a citizen was refreshed from a CPR change");
        Ok(CprChangeOutcome::Refreshed)
    }
}
