//! Service catalogues (Ydelseskatalog, B3.36–B3.38): several catalogues, each a
//! hierarchy of services from general to specific, maintained by catalogue editors.

use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

use crate::error::{CaseError, CaseResult};
use crate::kle::KleNumber;
use crate::store::{CaseCore, Ctx, exists, flag, new_id, now_ms, required};

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Catalogue {
    pub id: String,
    pub name: String,
    /// The top-level services, each with its more specific ones beneath.
    pub services: Vec<Service>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Service {
    pub id: String,
    pub catalogue_id: String,
    pub parent_id: Option<String>,
    pub code: String,
    pub name: String,
    pub kle: String,
    pub legal_basis: String,
    /// Price per unit in øre.
    pub price_ore: i64,
    pub unit: String,
    pub description: String,
    /// An economic benefit: its grants must reach the Ydelsesindeks.
    pub economic: bool,
    #[schema(no_recursion)]
    pub children: Vec<Service>,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCatalogue {
    pub name: String,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewService {
    pub code: String,
    /// The more general service this one specialises.
    #[serde(default)]
    pub parent_id: Option<String>,
    pub name: String,
    pub kle: String,
    pub legal_basis: String,
    pub price_ore: i64,
    pub unit: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub economic: bool,
}

/// Changes to a service; absent fields stay as they are.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServicePatch {
    pub name: Option<String>,
    pub legal_basis: Option<String>,
    pub price_ore: Option<i64>,
    pub description: Option<String>,
    pub economic: Option<bool>,
}

const COLUMNS: &str = "id, catalogue_id, parent_id, code, name, kle, legal_basis, price_ore, unit, description, economic";

fn service_from_row(r: &sqlx::any::AnyRow) -> CaseResult<Service> {
    Ok(Service {
        id: r.try_get("id")?,
        catalogue_id: r.try_get("catalogue_id")?,
        parent_id: r.try_get("parent_id")?,
        code: r.try_get("code")?,
        name: r.try_get("name")?,
        kle: r.try_get("kle")?,
        legal_basis: r.try_get("legal_basis")?,
        price_ore: r.try_get("price_ore")?,
        unit: r.try_get("unit")?,
        description: r.try_get("description")?,
        economic: flag(r, "economic")?,
        children: Vec::new(),
    })
}

pub(crate) async fn service(conn: &mut AnyConnection, id: &str) -> CaseResult<Option<Service>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM services WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(service_from_row)
    .transpose()
}

/// Builds the tree under `parent` from a flat list.
fn tree(all: &[Service], parent: Option<&str>) -> Vec<Service> {
    all.iter()
        .filter(|s| s.parent_id.as_deref() == parent)
        .map(|s| Service {
            children: tree(all, Some(&s.id)),
            ..s.clone()
        })
        .collect()
}

impl CaseCore {
    pub async fn create_catalogue(
        &self,
        ctx: &Ctx<'_>,
        new: &NewCatalogue,
    ) -> CaseResult<Catalogue> {
        ctx.actor.require_catalogue_editor()?;
        required("name", &new.name)?;
        let mut tx = self.begin().await?;
        if exists(&mut tx, "service_catalogues", "name", new.name.trim()).await? {
            return Err(CaseError::Conflict {
                field: "name".into(),
                detail: format!("a catalogue named {:?} exists", new.name.trim()),
            });
        }
        let id = new_id();
        sqlx::query("INSERT INTO service_catalogues (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(&id)
            .bind(new.name.trim())
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Catalogue {
            id,
            name: new.name.trim().to_string(),
            services: Vec::new(),
        })
    }

    pub async fn add_service(
        &self,
        ctx: &Ctx<'_>,
        catalogue_id: &str,
        new: &NewService,
    ) -> CaseResult<Service> {
        ctx.actor.require_catalogue_editor()?;
        required("code", &new.code)?;
        required("name", &new.name)?;
        required("legal_basis", &new.legal_basis)?;
        required("unit", &new.unit)?;
        let kle =
            KleNumber::parse(&new.kle).map_err(|e| CaseError::invalid("kle", e.to_string()))?;
        if new.price_ore < 0 {
            return Err(CaseError::invalid("price_ore", "must not be negative"));
        }
        let mut tx = self.begin().await?;
        if !exists(&mut tx, "service_catalogues", "id", catalogue_id).await? {
            return Err(CaseError::not_found("catalogue", catalogue_id));
        }
        let today = chrono::Utc::now().date_naive().to_string();
        if let Err(why) = crate::kle_sync::usable(&mut tx, kle.as_str(), &today).await? {
            return Err(CaseError::invalid("kle", why));
        }
        if let Some(parent) = &new.parent_id {
            match service(&mut tx, parent).await? {
                Some(p) if p.catalogue_id == catalogue_id => {}
                _ => {
                    return Err(CaseError::invalid(
                        "parent_id",
                        format!("{parent:?} is not a service in this catalogue"),
                    ));
                }
            }
        }
        let code_taken =
            sqlx::query("SELECT 1 AS one FROM services WHERE catalogue_id = $1 AND code = $2")
                .bind(catalogue_id)
                .bind(new.code.trim())
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
        if code_taken {
            return Err(CaseError::Conflict {
                field: "code".into(),
                detail: format!("the catalogue already has a service {:?}", new.code.trim()),
            });
        }
        let svc = Service {
            id: new_id(),
            catalogue_id: catalogue_id.to_string(),
            parent_id: new.parent_id.clone(),
            code: new.code.trim().to_string(),
            name: new.name.trim().to_string(),
            kle: kle.to_string(),
            legal_basis: new.legal_basis.trim().to_string(),
            price_ore: new.price_ore,
            unit: new.unit.trim().to_string(),
            description: new.description.clone(),
            economic: new.economic,
            children: Vec::new(),
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO services ({COLUMNS}, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        )))
        .bind(&svc.id)
        .bind(&svc.catalogue_id)
        .bind(svc.parent_id.as_deref())
        .bind(&svc.code)
        .bind(&svc.name)
        .bind(&svc.kle)
        .bind(&svc.legal_basis)
        .bind(svc.price_ore)
        .bind(&svc.unit)
        .bind(&svc.description)
        .bind(svc.economic as i64)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        publish_service(&self.engine, &mut tx, &svc, true).await?;
        tx.commit().await?;
        self.engine.wake();
        Ok(svc)
    }

    pub async fn update_service(
        &self,
        ctx: &Ctx<'_>,
        id: &str,
        patch: &ServicePatch,
    ) -> CaseResult<Service> {
        ctx.actor.require_catalogue_editor()?;
        let mut tx = self.begin().await?;
        let mut svc = service(&mut tx, id)
            .await?
            .ok_or_else(|| CaseError::not_found("service", id))?;
        if let Some(name) = &patch.name {
            required("name", name)?;
            svc.name = name.trim().to_string();
        }
        if let Some(basis) = &patch.legal_basis {
            required("legal_basis", basis)?;
            svc.legal_basis = basis.trim().to_string();
        }
        if let Some(price) = patch.price_ore {
            if price < 0 {
                return Err(CaseError::invalid("price_ore", "must not be negative"));
            }
            svc.price_ore = price;
        }
        if let Some(d) = &patch.description {
            svc.description = d.clone();
        }
        if let Some(e) = patch.economic {
            svc.economic = e;
        }
        sqlx::query(
            "UPDATE services SET name = $1, legal_basis = $2, price_ore = $3, description = $4, economic = $5 WHERE id = $6",
        )
        .bind(&svc.name)
        .bind(&svc.legal_basis)
        .bind(svc.price_ore)
        .bind(&svc.description)
        .bind(svc.economic as i64)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        publish_service(&self.engine, &mut tx, &svc, false).await?;
        tx.commit().await?;
        self.engine.wake();
        Ok(svc)
    }

    /// Every catalogue with its service tree (catalogues hold no citizen data).
    pub async fn catalogues(&self) -> CaseResult<Vec<Catalogue>> {
        let mut conn = self.journal().pool().acquire().await?;
        let cats = sqlx::query("SELECT id, name FROM service_catalogues ORDER BY name")
            .fetch_all(&mut *conn)
            .await?;
        let services = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM services ORDER BY code"
        )))
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(service_from_row)
        .collect::<CaseResult<Vec<_>>>()?;
        cats.iter()
            .map(|c| {
                let id: String = c.try_get("id")?;
                let mine: Vec<Service> = services
                    .iter()
                    .filter(|s| s.catalogue_id == id)
                    .cloned()
                    .collect();
                Ok(Catalogue {
                    name: c.try_get("name")?,
                    services: tree(&mine, None),
                    id,
                })
            })
            .collect()
    }
}

/// Tells the routes (`catalogue.service_changed`) that `svc` was added or changed.
async fn publish_service(
    engine: &knudepunkt_engine::Engine,
    conn: &mut AnyConnection,
    svc: &Service,
    added: bool,
) -> CaseResult<()> {
    crate::events::publish(
        engine,
        conn,
        crate::events::SERVICE_CHANGED,
        serde_json::json!({
            "service": svc,
            "added": added,
            "at": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
        }),
    )
    .await?;
    Ok(())
}
