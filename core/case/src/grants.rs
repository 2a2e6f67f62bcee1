//! Grants (Bevilling) of services from a catalogue: a period, an amount or quantity, a
//! provider (Udfører), linked to the case and to goals in the citizen's plan.

use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

use crate::audit::{self, AuditAction};
use crate::catalogue;
use crate::error::{CaseError, CaseResult};
use crate::events;
use crate::store::{CaseCore, Ctx, new_id, now_ms, parse_date, required};

#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Period {
    /// YYYY-MM-DD, inclusive.
    pub from: String,
    /// YYYY-MM-DD, inclusive; open-ended if absent.
    #[serde(default)]
    pub to: Option<String>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Grant {
    pub id: String,
    pub case_id: String,
    pub service_id: String,
    pub service_code: String,
    pub service_name: String,
    /// An economic benefit (reported to the Ydelsesindeks).
    pub economic: bool,
    pub period: Period,
    pub amount_ore: Option<i64>,
    pub quantity: Option<i64>,
    /// The provider (Udfører).
    pub provider: String,
    /// Whether the provider is municipal, regional or private (`kommunal`, `regional`,
    /// `privat`), as the statutory reports ask.
    pub provider_type: Option<String>,
    /// `active` or `ended`.
    pub status: String,
    pub goal_ids: Vec<String>,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGrant {
    pub service_id: String,
    pub period: Period,
    #[serde(default)]
    pub amount_ore: Option<i64>,
    #[serde(default)]
    pub quantity: Option<i64>,
    pub provider: String,
    /// `kommunal`, `regional` or `privat`.
    #[serde(default)]
    pub provider_type: Option<String>,
    #[serde(default)]
    pub goal_ids: Vec<String>,
}

/// The kinds of provider the statutory reports distinguish.
pub const PROVIDER_TYPES: [&str; 3] = ["kommunal", "regional", "privat"];

fn check_provider_type(t: &str) -> CaseResult<()> {
    if PROVIDER_TYPES.contains(&t) {
        Ok(())
    } else {
        Err(CaseError::invalid(
            "provider_type",
            "kommunal, regional or privat",
        ))
    }
}

/// Changes to a grant; absent fields stay as they are.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantChange {
    /// A new end date (YYYY-MM-DD).
    pub period_to: Option<String>,
    pub amount_ore: Option<i64>,
    pub quantity: Option<i64>,
    pub provider: Option<String>,
    /// `kommunal`, `regional` or `privat`.
    pub provider_type: Option<String>,
}

const COLUMNS: &str = "g.id, g.case_id, g.service_id, s.code, s.name, s.economic, g.period_from, g.period_to, \
     g.amount_ore, g.quantity, g.provider, g.provider_type, g.status";

async fn goals_of(conn: &mut AnyConnection, grant_id: &str) -> CaseResult<Vec<String>> {
    sqlx::query("SELECT goal_id FROM grant_goals WHERE grant_id = $1 ORDER BY goal_id")
        .bind(grant_id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| Ok(r.try_get("goal_id")?))
        .collect()
}

async fn fetch(
    conn: &mut AnyConnection,
    filter: &'static str,
    value: &str,
) -> CaseResult<Vec<Grant>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM grants g JOIN services s ON s.id = g.service_id WHERE {filter} = $1 ORDER BY g.period_from, g.id"
    )))
    .bind(value)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let id: String = r.try_get("id")?;
        out.push(Grant {
            goal_ids: goals_of(conn, &id).await?,
            case_id: r.try_get("case_id")?,
            service_id: r.try_get("service_id")?,
            service_code: r.try_get("code")?,
            service_name: r.try_get("name")?,
            economic: r.try_get::<i64, _>("economic")? != 0,
            period: Period {
                from: r.try_get("period_from")?,
                to: r.try_get("period_to")?,
            },
            amount_ore: r.try_get("amount_ore")?,
            quantity: r.try_get("quantity")?,
            provider: r.try_get("provider")?,
            provider_type: r.try_get("provider_type")?,
            status: r.try_get("status")?,
            id,
        });
    }
    Ok(out)
}

pub(crate) async fn of_case(conn: &mut AnyConnection, case_id: &str) -> CaseResult<Vec<Grant>> {
    fetch(conn, "g.case_id", case_id).await
}

/// Checks a period and returns it normalised.
fn check_period(from: &str, to: Option<&str>) -> CaseResult<Period> {
    let f = parse_date("period.from", from)?;
    let t = to.map(|t| parse_date("period.to", t)).transpose()?;
    if let Some(t) = t
        && t < f
    {
        return Err(CaseError::invalid(
            "period.to",
            "must not be before period.from",
        ));
    }
    Ok(Period {
        from: f.format("%Y-%m-%d").to_string(),
        to: t.map(|t| t.format("%Y-%m-%d").to_string()),
    })
}

/// Whether two inclusive periods (open ends run forever) share a day. ISO dates compare
/// as text.
fn overlaps(a: &Period, b: &Period) -> bool {
    let a_starts_before_b_ends = b.to.as_deref().is_none_or(|bt| a.from.as_str() <= bt);
    let b_starts_before_a_ends = a.to.as_deref().is_none_or(|at| b.from.as_str() <= at);
    a_starts_before_b_ends && b_starts_before_a_ends
}

/// Refuses a period that overlaps another grant of the same service on the same case.
async fn refuse_overlap(
    conn: &mut AnyConnection,
    case_id: &str,
    service_id: &str,
    period: &Period,
    except: Option<&str>,
) -> CaseResult<()> {
    for other in of_case(conn, case_id).await? {
        if other.service_id == service_id
            && Some(other.id.as_str()) != except
            && overlaps(&other.period, period)
        {
            return Err(CaseError::Conflict {
                field: "period".into(),
                detail: format!(
                    "overlaps grant {} of the same service ({} to {})",
                    other.id,
                    other.period.from,
                    other.period.to.as_deref().unwrap_or("open end")
                ),
            });
        }
    }
    Ok(())
}

fn check_amounts(amount: Option<i64>, quantity: Option<i64>) -> CaseResult<()> {
    if amount.is_none() && quantity.is_none() {
        return Err(CaseError::invalid(
            "amount_ore",
            "a grant needs an amount or a quantity",
        ));
    }
    if amount.is_some_and(|a| a < 0) {
        return Err(CaseError::invalid("amount_ore", "must not be negative"));
    }
    if quantity.is_some_and(|q| q <= 0) {
        return Err(CaseError::invalid("quantity", "must be positive"));
    }
    Ok(())
}

impl CaseCore {
    /// Grants a service on a case; publishes `grant.created`.
    pub async fn create_grant(
        &self,
        ctx: &Ctx<'_>,
        case_id: &str,
        new: &NewGrant,
    ) -> CaseResult<Grant> {
        required("provider", &new.provider)?;
        if let Some(t) = &new.provider_type {
            check_provider_type(t)?;
        }
        check_amounts(new.amount_ore, new.quantity)?;
        let period = check_period(&new.period.from, new.period.to.as_deref())?;
        let (mut tx, case) = self.begin_on_case(ctx, case_id, "grants").await?;
        let Some(service) = catalogue::service(&mut tx, &new.service_id).await? else {
            return Err(CaseError::invalid(
                "service_id",
                format!("{:?} is not a service in any catalogue", new.service_id),
            ));
        };
        for goal in &new.goal_ids {
            let of_citizen = sqlx::query(
                "SELECT 1 AS one FROM goals g JOIN plans p ON p.id = g.plan_id WHERE g.id = $1 AND p.cpr = $2",
            )
            .bind(goal)
            .bind(case.cpr.expose())
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
            if !of_citizen {
                return Err(CaseError::invalid(
                    "goal_ids",
                    format!("{goal:?} is not a goal in this citizen's plans"),
                ));
            }
        }
        refuse_overlap(&mut tx, case_id, &service.id, &period, None).await?;
        let now = now_ms();
        let id = new_id();
        sqlx::query(
            "INSERT INTO grants (id, case_id, service_id, period_from, period_to, amount_ore, quantity, provider, provider_type, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $10, 'active', $9, $9)",
        )
        .bind(&id)
        .bind(case_id)
        .bind(&service.id)
        .bind(&period.from)
        .bind(period.to.as_deref())
        .bind(new.amount_ore)
        .bind(new.quantity)
        .bind(new.provider.trim())
        .bind(now)
        .bind(new.provider_type.as_deref())
        .execute(&mut *tx)
        .await?;
        for goal in &new.goal_ids {
            sqlx::query("INSERT INTO grant_goals (grant_id, goal_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(&id)
                .bind(goal)
                .execute(&mut *tx)
                .await?;
        }
        let grant = self
            .finish_grant_change(&mut tx, ctx, &case, &id, events::GRANT_CREATED, now)
            .await?;
        tx.commit().await?;
        self.engine.wake();
        Ok(grant)
    }

    /// Changes a grant's end, amount, quantity or provider; publishes `grant.changed`.
    pub async fn change_grant(
        &self,
        ctx: &Ctx<'_>,
        grant_id: &str,
        change: &GrantChange,
    ) -> CaseResult<Grant> {
        let (mut tx, case, mut grant) = self.begin_on_grant(ctx, grant_id).await?;
        if grant.status != "active" {
            return Err(CaseError::Conflict {
                field: "grant_id".into(),
                detail: format!("grant {grant_id} has ended"),
            });
        }
        if let Some(to) = &change.period_to {
            grant.period = check_period(&grant.period.from, Some(to))?;
            refuse_overlap(
                &mut tx,
                &case.id,
                &grant.service_id,
                &grant.period,
                Some(grant_id),
            )
            .await?;
        }
        if let Some(p) = &change.provider {
            required("provider", p)?;
            grant.provider = p.trim().to_string();
        }
        if let Some(t) = &change.provider_type {
            check_provider_type(t)?;
            grant.provider_type = Some(t.clone());
        }
        grant.amount_ore = change.amount_ore.or(grant.amount_ore);
        grant.quantity = change.quantity.or(grant.quantity);
        check_amounts(grant.amount_ore, grant.quantity)?;
        let now = now_ms();
        sqlx::query(
            "UPDATE grants SET period_to = $1, amount_ore = $2, quantity = $3, provider = $4, updated_at = $5, provider_type = $7 WHERE id = $6",
        )
        .bind(grant.period.to.as_deref())
        .bind(grant.amount_ore)
        .bind(grant.quantity)
        .bind(&grant.provider)
        .bind(now)
        .bind(grant_id)
        .bind(grant.provider_type.as_deref())
        .execute(&mut *tx)
        .await?;
        let grant = self
            .finish_grant_change(&mut tx, ctx, &case, grant_id, events::GRANT_CHANGED, now)
            .await?;
        tx.commit().await?;
        self.engine.wake();
        Ok(grant)
    }

    /// Ends a grant on `on` (YYYY-MM-DD); publishes `grant.ended`.
    pub async fn end_grant(&self, ctx: &Ctx<'_>, grant_id: &str, on: &str) -> CaseResult<Grant> {
        let (mut tx, case, grant) = self.begin_on_grant(ctx, grant_id).await?;
        if grant.status != "active" {
            return Err(CaseError::Conflict {
                field: "grant_id".into(),
                detail: format!("grant {grant_id} has already ended"),
            });
        }
        let period = check_period(&grant.period.from, Some(on)).map_err(|e| match e {
            CaseError::Invalid { detail, .. } => CaseError::invalid("end_date", detail),
            other => other,
        })?;
        let now = now_ms();
        sqlx::query(
            "UPDATE grants SET period_to = $1, status = 'ended', updated_at = $2 WHERE id = $3",
        )
        .bind(period.to.as_deref())
        .bind(now)
        .bind(grant_id)
        .execute(&mut *tx)
        .await?;
        let grant = self
            .finish_grant_change(&mut tx, ctx, &case, grant_id, events::GRANT_ENDED, now)
            .await?;
        tx.commit().await?;
        self.engine.wake();
        Ok(grant)
    }

    async fn begin_on_grant(
        &self,
        ctx: &Ctx<'_>,
        grant_id: &str,
    ) -> CaseResult<(
        sqlx::Transaction<'static, sqlx::Any>,
        crate::cases::CaseRecord,
        Grant,
    )> {
        let case_id: String = {
            let mut conn = self.journal().pool().acquire().await?;
            sqlx::query("SELECT case_id FROM grants WHERE id = $1")
                .bind(grant_id)
                .fetch_optional(&mut *conn)
                .await?
                .ok_or_else(|| CaseError::not_found("grant", grant_id))?
                .try_get("case_id")?
        };
        let (mut tx, case) = self.begin_on_case(ctx, &case_id, "grants").await?;
        let grant = fetch(&mut tx, "g.id", grant_id)
            .await?
            .pop()
            .ok_or_else(|| CaseError::not_found("grant", grant_id))?;
        Ok((tx, case, grant))
    }

    /// Audits a grant change and publishes its event; returns the grant as stored.
    async fn finish_grant_change(
        &self,
        conn: &mut AnyConnection,
        ctx: &Ctx<'_>,
        case: &crate::cases::CaseRecord,
        grant_id: &str,
        event: &str,
        now: i64,
    ) -> CaseResult<Grant> {
        let grant = fetch(conn, "g.id", grant_id)
            .await?
            .pop()
            .ok_or_else(|| CaseError::not_found("grant", grant_id))?;
        audit::allowed(
            conn,
            ctx,
            AuditAction::Write,
            format!("grant/{grant_id}"),
            case.cpr.expose(),
            now,
        )
        .await?;
        let service = catalogue::service(conn, &grant.service_id).await?;
        let mut body = case.event();
        body["grant"] = serde_json::to_value(&grant).unwrap_or_default();
        body["service"] = service
            .map(|s| {
                serde_json::json!({
                    "code": s.code, "name": s.name, "kle": s.kle, "legal_basis": s.legal_basis,
                    "unit": s.unit, "price_ore": s.price_ore, "economic": s.economic,
                })
            })
            .unwrap_or_default();
        events::publish(&self.engine, conn, event, body).await?;
        Ok(grant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(from: &str, to: Option<&str>) -> Period {
        Period {
            from: from.into(),
            to: to.map(Into::into),
        }
    }

    #[test]
    fn periods_overlap_when_they_share_a_day() {
        assert!(overlaps(
            &p("2026-01-01", Some("2026-06-30")),
            &p("2026-06-30", None)
        ));
        assert!(!overlaps(
            &p("2026-01-01", Some("2026-06-29")),
            &p("2026-06-30", None)
        ));
        assert!(overlaps(
            &p("2026-01-01", None),
            &p("2030-01-01", Some("2030-02-01"))
        ));
        assert!(!overlaps(
            &p("2026-03-01", Some("2026-03-31")),
            &p("2026-01-01", Some("2026-02-28"))
        ));
    }

    #[test]
    fn a_period_must_not_end_before_it_starts() {
        assert!(matches!(
            check_period("2026-02-01", Some("2026-01-01")),
            Err(CaseError::Invalid { field, .. }) if field == "period.to"
        ));
        assert!(matches!(
            check_period("2026-13-01", None),
            Err(CaseError::Invalid { field, .. }) if field == "period.from"
        ));
    }
}
