//! Citizens (Borger), identified by CPR.

use serde::Deserialize;
use sqlx::{AnyConnection, Row};

use crate::audit::{self, AuditAction};
use crate::cpr::Cpr;
use crate::error::{CaseError, CaseResult};
use crate::store::{CaseCore, Ctx, flag, now_ms, required};

/// A citizen as stored; what CPR gives is refreshed by lookups ([`crate::cpr_lookup`]).
#[derive(Clone, Debug)]
pub struct Citizen {
    pub cpr: Cpr,
    pub fictive: bool,
    pub given_name: String,
    pub family_name: String,
    pub address: Option<String>,
    pub relations: serde_json::Value,
    pub contacts: serde_json::Value,
    /// The municipality the citizen lives in (101 is Copenhagen), from CPR.
    pub municipality_code: Option<i64>,
    /// CPR's status (1 resident, 80 emigrated, 90 dead, ...).
    pub cpr_status: Option<String>,
    /// Name and address protection; `None` until CPR has said.
    pub address_protected: Option<bool>,
    pub digital_post: Option<bool>,
    /// Earlier addresses, one line each.
    pub address_history: serde_json::Value,
    /// What CPR did not give, by field.
    pub unavailable: Vec<String>,
    /// When CPR was last asked (ms).
    pub looked_up_at: Option<i64>,
    /// The address is protected and hidden from the one asking.
    pub address_hidden: bool,
}

impl Citizen {
    /// The citizen as `actor` may see them: a protected address (and its history) only
    /// to a role with the right to see one.
    pub fn as_seen_by(mut self, actor: &crate::access::Actor) -> Citizen {
        if self.address_protected == Some(true) && !actor.sees_protected_addresses() {
            self.address = None;
            self.address_history = serde_json::json!([]);
            self.address_hidden = true;
        }
        self
    }
}

/// A citizen to register.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCitizen {
    /// DDMMYY-SSSS; a day of 61–91 marks a fictive number for an unknown person.
    pub cpr: String,
    pub given_name: String,
    pub family_name: String,
    #[serde(default)]
    pub address: Option<String>,
}

pub(crate) fn parse_cpr(field: &str, value: &str) -> CaseResult<Cpr> {
    Cpr::parse(value).map_err(|e| CaseError::invalid(field, e.to_string()))
}

pub(crate) async fn load(conn: &mut AnyConnection, cpr: &Cpr) -> CaseResult<Option<Citizen>> {
    let Some(r) = sqlx::query(
        "SELECT cpr, fictive, given_name, family_name, address, relations, contacts, municipality_code, cpr_status, \
         address_protected, digital_post, address_history, unavailable, looked_up_at FROM citizens WHERE cpr = $1",
    )
    .bind(cpr.expose())
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let json = |c: &str| -> CaseResult<serde_json::Value> {
        let text: String = r.try_get(c)?;
        serde_json::from_str(&text).map_err(|e| CaseError::Corrupt {
            what: format!("citizen {cpr} {c}"),
            detail: e.to_string(),
        })
    };
    Ok(Some(Citizen {
        cpr: cpr.clone(),
        fictive: flag(&r, "fictive")?,
        given_name: r.try_get("given_name")?,
        family_name: r.try_get("family_name")?,
        address: r.try_get("address")?,
        relations: json("relations")?,
        contacts: json("contacts")?,
        municipality_code: r.try_get("municipality_code")?,
        cpr_status: r.try_get("cpr_status")?,
        address_protected: r
            .try_get::<Option<i64>, _>("address_protected")?
            .map(|v| v != 0),
        digital_post: r.try_get::<Option<i64>, _>("digital_post")?.map(|v| v != 0),
        address_history: json("address_history")?,
        unavailable: serde_json::from_value(json("unavailable")?).unwrap_or_default(),
        looked_up_at: r.try_get("looked_up_at")?,
        address_hidden: false,
    }))
}

impl CaseCore {
    /// Registers a citizen (or refreshes the name and address of a known one).
    pub async fn register_citizen(&self, ctx: &Ctx<'_>, new: &NewCitizen) -> CaseResult<Citizen> {
        let cpr = parse_cpr("cpr", &new.cpr)?;
        required("given_name", &new.given_name)?;
        required("family_name", &new.family_name)?;
        if ctx.actor.roles.is_empty() {
            return Err(self
                .refuse(
                    ctx,
                    AuditAction::Write,
                    "citizen".into(),
                    Some(cpr.expose()),
                    format!("user {} has no job role", ctx.actor.user_id),
                )
                .await);
        }
        let now = now_ms();
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO citizens (cpr, fictive, given_name, family_name, address, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (cpr) DO UPDATE SET given_name = $3, family_name = $4, \
             address = $5, updated_at = $6",
        )
        .bind(cpr.expose())
        .bind(cpr.is_fictive() as i64)
        .bind(new.given_name.trim())
        .bind(new.family_name.trim())
        .bind(new.address.as_deref())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        audit::allowed(
            &mut tx,
            ctx,
            AuditAction::Write,
            "citizen".into(),
            cpr.expose(),
            now,
        )
        .await?;
        let citizen = load(&mut tx, &cpr)
            .await?
            .ok_or_else(|| CaseError::not_found("citizen", cpr.to_string()))?;
        tx.commit().await?;
        Ok(citizen)
    }

    /// A citizen, to a user who may see at least one of the citizen's cases. The read
    /// is audited, and so is a refusal.
    pub async fn citizen(&self, ctx: &Ctx<'_>, cpr: &Cpr) -> CaseResult<Citizen> {
        let mut conn = self.journal().pool().acquire().await?;
        // Access first: whether a CPR is registered is itself not for everyone to learn.
        if !self.sees_citizen(&mut conn, ctx, cpr).await? {
            drop(conn);
            return Err(self
                .refuse(
                    ctx,
                    AuditAction::Read,
                    "citizen".into(),
                    Some(cpr.expose()),
                    format!(
                        "user {} has no job role covering any case of this citizen",
                        ctx.actor.user_id
                    ),
                )
                .await);
        }
        let citizen = load(&mut conn, cpr)
            .await?
            .ok_or_else(|| CaseError::not_found("citizen", cpr.to_string()))?;
        audit::allowed(
            &mut conn,
            ctx,
            AuditAction::Read,
            "citizen".into(),
            cpr.expose(),
            now_ms(),
        )
        .await?;
        Ok(citizen.as_seen_by(ctx.actor))
    }
}

impl crate::store::CaseCore {
    /// Whether the municipality serves the citizen `cpr` (it is registered here). For
    /// systems that refuse messages about others (MedCom's negative receipt). An
    /// unreadable number is not served.
    pub async fn serves_citizen(&self, cpr: &str) -> CaseResult<bool> {
        let Ok(cpr) = Cpr::parse(cpr) else {
            return Ok(false);
        };
        let mut conn = self.journal().reader().acquire().await?;
        Ok(load(&mut conn, &cpr).await?.is_some())
    }
}
