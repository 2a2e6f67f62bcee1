//! Consents (Samtykke): what the citizen agreed to, by whom, for which period, and
//! whether withdrawn. Routes check them (MedCom XDIS16 is only sent with consent).

use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

use crate::audit::{self, AuditAction};
use crate::cpr::Cpr;
use crate::error::{CaseError, CaseResult};
use crate::events;
use crate::store::{CaseCore, Ctx, new_id, now_ms, parse_date, required};

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Consent {
    pub id: String,
    pub case_id: String,
    /// E.g. `send-admission-report-to-hospital`.
    pub kind: String,
    /// Who gave it: the citizen, or a guardian or proxy by name.
    pub given_by: String,
    pub valid_from: String,
    pub valid_to: Option<String>,
    /// Epoch milliseconds, if withdrawn.
    pub withdrawn_at: Option<i64>,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConsent {
    pub kind: String,
    pub given_by: String,
    /// YYYY-MM-DD.
    pub valid_from: String,
    #[serde(default)]
    pub valid_to: Option<String>,
}

const COLUMNS: &str = "id, case_id, kind, given_by, valid_from, valid_to, withdrawn_at";

fn from_row(r: &sqlx::any::AnyRow) -> CaseResult<Consent> {
    Ok(Consent {
        id: r.try_get("id")?,
        case_id: r.try_get("case_id")?,
        kind: r.try_get("kind")?,
        given_by: r.try_get("given_by")?,
        valid_from: r.try_get("valid_from")?,
        valid_to: r.try_get("valid_to")?,
        withdrawn_at: r.try_get("withdrawn_at")?,
    })
}

/// Whether the citizen holds a consent of `kind` valid on `on` and not withdrawn. For
/// routes deciding whether they may send.
pub async fn has_consent(
    conn: &mut AnyConnection,
    cpr: &Cpr,
    kind: &str,
    on: chrono::NaiveDate,
) -> CaseResult<bool> {
    let day = on.format("%Y-%m-%d").to_string();
    Ok(sqlx::query(
        "SELECT 1 AS one FROM consents WHERE cpr = $1 AND kind = $2 AND withdrawn_at IS NULL \
         AND valid_from <= $3 AND (valid_to IS NULL OR valid_to >= $3)",
    )
    .bind(cpr.expose())
    .bind(kind)
    .bind(day)
    .fetch_optional(&mut *conn)
    .await?
    .is_some())
}

impl CaseCore {
    /// Records a consent on a case; publishes `consent.given`.
    pub async fn give_consent(
        &self,
        ctx: &Ctx<'_>,
        case_id: &str,
        new: &NewConsent,
    ) -> CaseResult<Consent> {
        required("kind", &new.kind)?;
        required("given_by", &new.given_by)?;
        let from = parse_date("valid_from", &new.valid_from)?;
        let to = new
            .valid_to
            .as_deref()
            .map(|t| parse_date("valid_to", t))
            .transpose()?;
        if to.is_some_and(|t| t < from) {
            return Err(CaseError::invalid(
                "valid_to",
                "must not be before valid_from",
            ));
        }
        let (mut tx, case) = self.begin_on_case(ctx, case_id, "consents").await?;
        let now = now_ms();
        let consent = Consent {
            id: new_id(),
            case_id: case.id.clone(),
            kind: new.kind.trim().to_string(),
            given_by: new.given_by.trim().to_string(),
            valid_from: from.format("%Y-%m-%d").to_string(),
            valid_to: to.map(|t| t.format("%Y-%m-%d").to_string()),
            withdrawn_at: None,
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO consents ({COLUMNS}, cpr, created_at) VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $8)"
        )))
        .bind(&consent.id)
        .bind(&consent.case_id)
        .bind(&consent.kind)
        .bind(&consent.given_by)
        .bind(&consent.valid_from)
        .bind(consent.valid_to.as_deref())
        .bind(case.cpr.expose())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        self.finish_consent(&mut tx, ctx, &case, &consent, events::CONSENT_GIVEN, now)
            .await?;
        tx.commit().await?;
        self.engine.wake();
        Ok(consent)
    }

    /// Withdraws a consent; publishes `consent.withdrawn`.
    pub async fn withdraw_consent(&self, ctx: &Ctx<'_>, id: &str) -> CaseResult<Consent> {
        let case_id: String = {
            let mut conn = self.journal().pool().acquire().await?;
            sqlx::query("SELECT case_id FROM consents WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?
                .ok_or_else(|| CaseError::not_found("consent", id))?
                .try_get("case_id")?
        };
        let (mut tx, case) = self.begin_on_case(ctx, &case_id, "consents").await?;
        let now = now_ms();
        let changed = sqlx::query(
            "UPDATE consents SET withdrawn_at = $1 WHERE id = $2 AND withdrawn_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(CaseError::Conflict {
                field: "consent_id".into(),
                detail: format!("consent {id} is already withdrawn"),
            });
        }
        let consent = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM consents WHERE id = $1"
        )))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let consent = from_row(&consent)?;
        self.finish_consent(
            &mut tx,
            ctx,
            &case,
            &consent,
            events::CONSENT_WITHDRAWN,
            now,
        )
        .await?;
        tx.commit().await?;
        self.engine.wake();
        Ok(consent)
    }

    /// The consents recorded on a case.
    pub async fn consents_of_case(&self, ctx: &Ctx<'_>, case_id: &str) -> CaseResult<Vec<Consent>> {
        // Reading the case checks access and audits the read.
        self.case(ctx, case_id).await?;
        let mut conn = self.journal().pool().acquire().await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM consents WHERE case_id = $1 ORDER BY created_at"
        )))
        .bind(case_id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(from_row)
        .collect()
    }

    async fn finish_consent(
        &self,
        conn: &mut AnyConnection,
        ctx: &Ctx<'_>,
        case: &crate::cases::CaseRecord,
        consent: &Consent,
        event: &str,
        now: i64,
    ) -> CaseResult<()> {
        audit::allowed(
            conn,
            ctx,
            AuditAction::Write,
            format!("consent/{}", consent.id),
            case.cpr.expose(),
            now,
        )
        .await?;
        let mut body = case.event();
        body["consent"] = serde_json::to_value(consent).unwrap_or_default();
        events::publish(&self.engine, conn, event, body).await?;
        Ok(())
    }
}
