//! Decisions (Afgørelse). The appeal deadline runs from the confirmed dispatch of the
//! decision letter, never from the decision date, so it is empty until then.

use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

use crate::audit::{self, AuditAction};
use crate::cases::CaseStatus;
use crate::error::{CaseError, CaseResult};
use crate::events;
use crate::letters;
use crate::store::{CaseCore, Ctx, new_id, now_ms, parse_date, required};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Grant,
    Refusal,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Grant => "grant",
            Outcome::Refusal => "refusal",
        }
    }
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Decision {
    pub id: String,
    pub case_id: String,
    pub outcome: Outcome,
    /// E.g. "SEL § 107".
    pub legal_basis: String,
    /// YYYY-MM-DD.
    pub decided_on: String,
    pub reasoning: String,
    pub appeal_weeks: i64,
    /// When the decision letter's dispatch was confirmed (YYYY-MM-DD), if it has been.
    pub letter_dispatched_on: Option<String>,
    /// The last day to appeal; set once the letter's dispatch is confirmed.
    pub appeal_deadline: Option<String>,
    pub created_by: String,
    pub created_at: i64,
}

/// A decision to make.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDecision {
    pub outcome: Outcome,
    pub legal_basis: String,
    /// YYYY-MM-DD.
    pub decided_on: String,
    pub reasoning: String,
    /// Weeks to appeal from the letter's dispatch (4 under the Social Services Act).
    #[serde(default = "default_appeal_weeks")]
    pub appeal_weeks: i64,
    /// Whether to send the decision letter to the citizen (`letter.requested`).
    #[serde(default = "default_true")]
    pub send_letter: bool,
}

fn default_appeal_weeks() -> i64 {
    4
}

fn default_true() -> bool {
    true
}

const COLUMNS: &str = "id, case_id, outcome, legal_basis, decided_on, reasoning, appeal_weeks, letter_dispatched_on, appeal_deadline, created_by, created_at";

fn from_row(r: &sqlx::any::AnyRow) -> CaseResult<Decision> {
    let outcome: String = r.try_get("outcome")?;
    Ok(Decision {
        id: r.try_get("id")?,
        case_id: r.try_get("case_id")?,
        outcome: match outcome.as_str() {
            "grant" => Outcome::Grant,
            "refusal" => Outcome::Refusal,
            other => {
                return Err(CaseError::Corrupt {
                    what: "decision outcome".into(),
                    detail: other.to_string(),
                });
            }
        },
        legal_basis: r.try_get("legal_basis")?,
        decided_on: r.try_get("decided_on")?,
        reasoning: r.try_get("reasoning")?,
        appeal_weeks: r.try_get("appeal_weeks")?,
        letter_dispatched_on: r.try_get("letter_dispatched_on")?,
        appeal_deadline: r.try_get("appeal_deadline")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
    })
}

pub(crate) async fn of_case(conn: &mut AnyConnection, case_id: &str) -> CaseResult<Vec<Decision>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM decisions WHERE case_id = $1 ORDER BY created_at, id"
    )))
    .bind(case_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Records the confirmed dispatch of a decision's letter and starts its appeal deadline.
pub(crate) async fn letter_dispatched(
    conn: &mut AnyConnection,
    decision_id: &str,
    on: chrono::NaiveDate,
) -> CaseResult<Option<String>> {
    let Some(row) = sqlx::query("SELECT appeal_weeks FROM decisions WHERE id = $1")
        .bind(decision_id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let weeks: i64 = row.try_get("appeal_weeks")?;
    let deadline = (on + chrono::Duration::weeks(weeks))
        .format("%Y-%m-%d")
        .to_string();
    sqlx::query(
        "UPDATE decisions SET letter_dispatched_on = $1, appeal_deadline = $2 WHERE id = $3 AND letter_dispatched_on IS NULL",
    )
    .bind(on.format("%Y-%m-%d").to_string())
    .bind(&deadline)
    .bind(decision_id)
    .execute(&mut *conn)
    .await?;
    Ok(Some(deadline))
}

impl CaseCore {
    /// Makes a decision on a case (moving it to Afgjort), publishes `decision.made` and,
    /// unless told not to, `letter.requested` for the decision letter.
    pub async fn make_decision(
        &self,
        ctx: &Ctx<'_>,
        case_id: &str,
        new: &NewDecision,
    ) -> CaseResult<Decision> {
        required("legal_basis", &new.legal_basis)?;
        required("reasoning", &new.reasoning)?;
        let decided_on = parse_date("decided_on", &new.decided_on)?;
        if !(1..=52).contains(&new.appeal_weeks) {
            return Err(CaseError::invalid("appeal_weeks", "must be 1 to 52 weeks"));
        }
        let (mut tx, mut case) = self.begin_on_case(ctx, case_id, "decisions").await?;
        if case.status == CaseStatus::Lukket {
            return Err(CaseError::Conflict {
                field: "case_id".into(),
                detail: format!("case {case_id} is closed"),
            });
        }
        let now = now_ms();
        let decision = Decision {
            id: new_id(),
            case_id: case.id.clone(),
            outcome: new.outcome,
            legal_basis: new.legal_basis.trim().to_string(),
            decided_on: decided_on.format("%Y-%m-%d").to_string(),
            reasoning: new.reasoning.trim().to_string(),
            appeal_weeks: new.appeal_weeks,
            letter_dispatched_on: None,
            appeal_deadline: None,
            created_by: ctx.actor.user_id.clone(),
            created_at: now,
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO decisions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL, $8, $9)"
        )))
        .bind(&decision.id)
        .bind(&decision.case_id)
        .bind(decision.outcome.as_str())
        .bind(&decision.legal_basis)
        .bind(&decision.decided_on)
        .bind(&decision.reasoning)
        .bind(decision.appeal_weeks)
        .bind(&decision.created_by)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        audit::allowed(
            &mut tx,
            ctx,
            AuditAction::Write,
            format!("decision/{}", decision.id),
            case.cpr.expose(),
            now,
        )
        .await?;
        let mut body = case.event();
        body["decision"] = serde_json::to_value(&decision).unwrap_or_default();
        events::publish(&self.engine, &mut tx, events::DECISION_MADE, body.clone()).await?;
        if new.send_letter {
            let citizen = crate::citizens::load(&mut tx, &case.cpr)
                .await?
                .ok_or_else(|| CaseError::not_found("citizen", case.cpr.to_string()))?;
            body["letter_id"] = decision.id.clone().into();
            body["sender_unit"] = crate::org_sync::sender_unit(&mut tx, &case.org_unit_id).await?;
            body["recipient"] = serde_json::json!({
                "cpr": case.cpr.expose(),
                "given_name": citizen.given_name,
                "family_name": citizen.family_name,
                "address": citizen.address,
            });
            let sent =
                events::publish(&self.engine, &mut tx, events::LETTER_REQUESTED, body).await?;
            letters::record(&mut tx, &case.id, Some(&decision.id), &sent, now).await?;
        }
        if case.status < CaseStatus::Afgjort {
            self.move_status(
                &mut tx,
                ctx,
                &mut case,
                CaseStatus::Afgjort,
                Some("decision made"),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        self.engine.wake();
        tracing::info!(case_id = %case.id, cpr = %case.cpr, decision_id = %decision.id, legal_basis = %decision.legal_basis, "decision made");
        Ok(decision)
    }
}
