//! Citizens filled from CPR (SF1520 PersonLookup, B3.249–B3.252): the case core asks its
//! [`PersonRegister`] (Serviceplatformen's CPR service, wired in by the binary) and keeps
//! what it gives: the name, the address (in Denmark or abroad) and its history, the
//! municipality, relations (spouse, children, parents, custody, guardian), address
//! protection and Digital Post registration. What CPR did not give is listed as
//! unavailable, never invented; foster children are never given by this service. The
//! lookup works for citizens outside the municipality too. Every lookup is audited
//! with its purpose, and a protected address is shown only to roles with the right.

use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use crate::audit::{self, AuditAction};
use crate::citizens::{Citizen, load};
use crate::cpr::Cpr;
use crate::error::{CaseError, CaseResult};
use crate::store::{CaseCore, Ctx, now_ms};

/// One relation of a citizen's, as CPR gives it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Relation {
    /// `spouse`, `child`, `mother`, `father`, `custody` (who has custody of the citizen)
    /// or `guardian`.
    pub kind: String,
    pub cpr: Option<String>,
    pub name: Option<String>,
    /// YYYY-MM-DD.
    pub since: Option<String>,
}

/// What CPR holds on a person, as the core takes it in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PersonRecord {
    pub cpr: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// CPR's status (1 resident, 80 emigrated, 90 dead, ...).
    pub status: Option<u32>,
    /// The address in one line: in Denmark, or abroad.
    pub address: Option<String>,
    pub municipality_code: Option<u32>,
    /// Earlier addresses, one line each with the dates.
    pub address_history: Vec<String>,
    pub address_protected: Option<bool>,
    pub digital_post: Option<bool>,
    pub relations: Vec<Relation>,
}

/// Why a lookup gave no person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegisterError {
    /// CPR does not know the number.
    NotFound,
    /// Asking again later may help.
    Transient(String),
    /// It will not.
    Permanent(String),
}

/// Where the core looks citizens up: CPR through Serviceplatformen.
#[async_trait::async_trait]
pub trait PersonRegister: Send + Sync {
    async fn person(&self, cpr: &Cpr) -> Result<PersonRecord, RegisterError>;
}

/// The register a core asks; shared by its clones.
pub(crate) type SharedRegister = Arc<RwLock<Option<Arc<dyn PersonRegister>>>>;

/// The fields a lookup may leave out, by name, and whether this one did.
fn unavailable(p: &PersonRecord) -> Vec<String> {
    let mut out: Vec<String> = [
        ("name", p.given_name.is_none() && p.family_name.is_none()),
        ("address", p.address.is_none()),
        ("municipality", p.municipality_code.is_none()),
        ("address_protection", p.address_protected.is_none()),
        ("digital_post", p.digital_post.is_none()),
        ("status", p.status.is_none()),
    ]
    .into_iter()
    .filter(|(_, missing)| *missing)
    .map(|(name, _)| name.to_string())
    .collect();
    // SF1520 has no foster children (plejebørn); they come from the municipality's own
    // records.
    out.push("foster_children".into());
    out
}

impl CaseCore {
    /// The register lookups go to from now on.
    pub fn set_person_register(&self, register: Arc<dyn PersonRegister>) {
        *self.person_register.write().expect("register") = Some(register);
    }

    fn person_register(&self) -> CaseResult<Arc<dyn PersonRegister>> {
        self.person_register
            .read()
            .expect("register")
            .clone()
            .ok_or_else(|| CaseError::Unavailable {
                system: "CPR".into(),
                detail: "no CPR service is configured in this environment".into(),
            })
    }

    /// Looks `cpr` up in CPR and keeps what it gives on the citizen (registering a
    /// citizen the core did not know); the citizen as the caller may see it. The lookup
    /// is audited with the caller's purpose, also when CPR does not answer.
    pub async fn lookup_in_cpr(&self, ctx: &Ctx<'_>, cpr: &Cpr) -> CaseResult<Citizen> {
        if ctx.actor.roles.is_empty() {
            return Err(self
                .refuse(
                    ctx,
                    AuditAction::Read,
                    "cpr-lookup".into(),
                    Some(cpr.expose()),
                    format!("user {} has no job role", ctx.actor.user_id),
                )
                .await);
        }
        let register = self.person_register()?;
        let answer = register.person(cpr).await;
        let now = now_ms();
        let mut tx = self.begin().await?;
        audit::allowed(
            &mut tx,
            ctx,
            AuditAction::Read,
            "cpr-lookup".into(),
            cpr.expose(),
            now,
        )
        .await?;
        let record = match answer {
            Ok(r) => r,
            Err(e) => {
                tx.commit().await?;
                return Err(match e {
                    RegisterError::NotFound => {
                        CaseError::not_found("person in CPR", cpr.to_string())
                    }
                    RegisterError::Transient(detail) => CaseError::Unavailable {
                        system: "CPR".into(),
                        detail,
                    },
                    RegisterError::Permanent(detail) => CaseError::Refused {
                        system: "CPR".into(),
                        detail,
                    },
                });
            }
        };
        store(&mut tx, cpr, &record, now).await?;
        let citizen = load(&mut tx, cpr)
            .await?
            .ok_or_else(|| CaseError::not_found("citizen", cpr.to_string()))?;
        tx.commit().await?;
        Ok(citizen.as_seen_by(ctx.actor))
    }

    /// Refreshes from CPR up to `limit` citizens with open cases not looked up since
    /// `before` (ms), oldest first (a CPR change event makes a citizen due at once);
    /// how many were refreshed, and the failures (CPR masked). With `dry_run` only the
    /// due are counted. The daily refresh ([`CprRefresh`]).
    pub async fn refresh_from_cpr(
        &self,
        before: i64,
        limit: i64,
        dry_run: bool,
        progress: &dyn knudepunkt_engine::schedule::Progress,
    ) -> CaseResult<(usize, Vec<String>)> {
        use sqlx::Row;
        let register = self.person_register()?;
        let due: Vec<String> = {
            let mut conn = self.journal().reader().acquire().await?;
            sqlx::query(
                "SELECT c.cpr FROM citizens c WHERE c.fictive = 0 AND (c.looked_up_at IS NULL OR c.looked_up_at < $1) \
                 AND EXISTS (SELECT 1 FROM cases k WHERE k.cpr = c.cpr AND k.status <> 'Lukket') \
                 ORDER BY COALESCE(c.looked_up_at, 0), c.cpr LIMIT $2",
            )
            .bind(before)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| r.try_get("cpr"))
            .collect::<Result<_, _>>()?
        };
        progress.total(due.len() as u64);
        if dry_run {
            return Ok((due.len(), Vec::new()));
        }
        let mut refreshed = 0;
        let mut failed = Vec::new();
        for text in due {
            progress.advance("citizens");
            let Ok(cpr) = Cpr::parse(&text) else { continue };
            match register.person(&cpr).await {
                Ok(record) => {
                    let now = now_ms();
                    let mut tx = self.begin().await?;
                    store(&mut tx, &cpr, &record, now).await?;
                    audit::append(
                        &mut tx,
                        &audit::AuditEntry {
                            actor: "system:cpr-refresh",
                            action: AuditAction::Read,
                            resource: "cpr-lookup".into(),
                            cpr: Some(cpr.expose()),
                            purpose: "daily refresh of master data from CPR",
                            outcome: audit::AuditOutcome::Allowed,
                        },
                        now,
                    )
                    .await?;
                    tx.commit().await?;
                    refreshed += 1;
                }
                Err(e) => failed.push(format!("{cpr}: {e:?}")),
            }
        }
        Ok((refreshed, failed))
    }
}

/// The job `cpr.opdatering`: citizens with open cases not looked up for a day are
/// looked up again (at most 20,000 a run).
pub struct CprRefresh {
    pub core: CaseCore,
}

pub const REFRESH_JOB: &str = "cpr.opdatering";

#[async_trait::async_trait]
impl knudepunkt_engine::schedule::Job for CprRefresh {
    fn name(&self) -> &'static str {
        REFRESH_JOB
    }

    async fn run(
        &self,
        request: &knudepunkt_engine::schedule::RunRequest,
        progress: &dyn knudepunkt_engine::schedule::Progress,
    ) -> Result<serde_json::Value, String> {
        let day_ago = now_ms() - 24 * 3600 * 1000;
        let (n, failed) = self
            .core
            .refresh_from_cpr(day_ago, 20_000, request.dry_run, progress)
            .await
            .map_err(|e| e.to_string())?;
        Ok(serde_json::json!({
            "refreshed": if request.dry_run { 0 } else { n },
            "due": if request.dry_run { n } else { n + failed.len() },
            "failed": failed,
            "dry_run": request.dry_run,
        }))
    }
}

/// Keeps `record` on citizen `cpr`: inserted when new, refreshed when known.
async fn store(
    conn: &mut sqlx::AnyConnection,
    cpr: &Cpr,
    record: &PersonRecord,
    now: i64,
) -> CaseResult<()> {
    let flag = |b: Option<bool>| b.map(i64::from);
    sqlx::query(
        "INSERT INTO citizens (cpr, fictive, given_name, family_name, address, relations, municipality_code, cpr_status, \
         address_protected, digital_post, address_history, unavailable, looked_up_at, created_at, updated_at) \
         VALUES ($1, 0, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $12) \
         ON CONFLICT (cpr) DO UPDATE SET given_name = COALESCE($13, citizens.given_name), \
         family_name = COALESCE($14, citizens.family_name), address = $4, relations = $5, municipality_code = $6, \
         cpr_status = $7, address_protected = $8, digital_post = $9, address_history = $10, unavailable = $11, \
         looked_up_at = $12, updated_at = $12",
    )
    .bind(cpr.expose())
    .bind(record.given_name.as_deref().unwrap_or(""))
    .bind(record.family_name.as_deref().unwrap_or(""))
    .bind(record.address.as_deref())
    .bind(json(&record.relations))
    .bind(record.municipality_code.map(i64::from))
    .bind(record.status.map(|s| s.to_string()))
    .bind(flag(record.address_protected))
    .bind(flag(record.digital_post))
    .bind(json(&record.address_history))
    .bind(json(&unavailable(record)))
    .bind(now)
    .bind(record.given_name.as_deref())
    .bind(record.family_name.as_deref())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A value stored as JSON text.
fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_cpr_left_out_is_listed_and_foster_children_always_are() {
        let full = PersonRecord {
            cpr: "0101901234".into(),
            given_name: Some("Anne".into()),
            family_name: Some("Jensen".into()),
            status: Some(1),
            address: Some("Nørrebrogade 12, 2200 København N".into()),
            municipality_code: Some(101),
            address_history: vec![],
            address_protected: Some(false),
            digital_post: Some(true),
            relations: vec![],
        };
        assert_eq!(unavailable(&full), ["foster_children"]);
        let abroad = PersonRecord {
            municipality_code: None,
            digital_post: None,
            ..full
        };
        assert_eq!(
            unavailable(&abroad),
            ["municipality", "digital_post", "foster_children"]
        );
    }
}
