//! The handover of a young person from the children's authority (DUBU) to the adult
//! authority at 18. A scheduled job lists who turns 18 within six months and raises a
//! preparation task for each ([`CaseCore::raise_preparation_tasks`]); a caseworker (or
//! the operator) imports the handover package when it is time ([`CaseCore::take_handover`]):
//! the citizen is created or updated with the young person's master data and contacts,
//! the adult case is opened with the package's documents, the plan carried over as its
//! starting plan, and the current services with their legal basis noted — all in one
//! transaction. A package that does not match its manifest is refused whole and DUBU is
//! told why (`handover.refused`); the same package imported again changes nothing
//! (`handover.imported` is published once). The package is fetched through a
//! [`HandoverSource`] the binary supplies (DUBU through KKI), spooled to disk part by
//! part, and each document read back from its spool file when it is stored.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};

use crate::audit::{self, AuditAction, AuditEntry, AuditOutcome};
use crate::cases::NewCase;
use crate::citizens::parse_cpr;
use crate::document_files::{DocumentStore, digest_file};
use crate::documents::{self, DocumentInfo};
use crate::error::{CaseError, CaseResult};
use crate::events;
use crate::plans::{NewGoal, NewPlan};
use crate::store::{CaseCore, Ctx, new_id, now_ms};

/// The job that raises preparation tasks.
pub const PREPARE_JOB: &str = "dubu.forberedelse";
/// How far ahead preparation starts: six months.
pub const PREPARE_DAYS: i64 = 183;

/// A young person who turns 18 soon, as the children's system lists them.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct UpcomingChild {
    pub handover_id: String,
    pub cpr: String,
    pub given_name: String,
    pub family_name: String,
    /// YYYY-MM-DD.
    pub turns_18: String,
}

/// A handover package whose every part matched its manifest, spooled to disk.
#[derive(Debug)]
pub struct HandoverPackage {
    pub handover_id: String,
    pub package_id: String,
    /// Hex SHA-256 of the manifest: the package's identity.
    pub package_sha256: String,
    pub citizen: HandoverCitizen,
    pub plan: Option<HandoverPlan>,
    pub services: Vec<HandoverService>,
    pub documents: Vec<HandoverDocument>,
}

#[derive(Clone, Debug, Serialize)]
pub struct HandoverCitizen {
    pub cpr: String,
    pub given_name: String,
    pub family_name: String,
    pub address: Option<String>,
    /// Parents, guardian, the children's caseworker: `{role, name, phone}`.
    pub contacts: Vec<serde_json::Value>,
}

#[derive(Clone, Debug)]
pub struct HandoverPlan {
    /// `Handleplan: ...` or `Borgerens Plan: ...`.
    pub title: String,
    pub goals: Vec<NewGoal>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct HandoverService {
    pub name: String,
    pub legal_basis: String,
    pub from: String,
    pub to: Option<String>,
    pub provider: Option<String>,
}

#[derive(Clone, Debug)]
pub struct HandoverDocument {
    pub title: String,
    pub doc_type: String,
    pub media_type: String,
    pub size: u64,
    pub sha256: String,
    /// Its spool file.
    pub path: PathBuf,
}

/// A spooled document once it is checked and kept.
enum Spooled {
    /// Read, for the database.
    Read(Vec<u8>),
    /// Taken over by the document files; read too when a route wants the content.
    Adopted(Option<Vec<u8>>),
}

/// Why a package was not had.
#[derive(Debug)]
pub enum FetchFailure {
    /// It came and is refused whole; DUBU is told `reason`.
    Refused {
        package_id: Option<String>,
        reason: String,
    },
    /// Try again later.
    Transient(String),
    /// The source will not serve it (no such handover, no package yet).
    Permanent(String),
}

/// Where handovers come from: DUBU through KKI.
#[async_trait::async_trait]
pub trait HandoverSource: Send + Sync {
    /// Who turns 18 on or before `before`.
    async fn upcoming(&self, before: chrono::NaiveDate) -> Result<Vec<UpcomingChild>, String>;
    /// Handover `id`'s package, its parts spooled in `spool`.
    async fn fetch(&self, id: &str, spool: &Path) -> Result<HandoverPackage, FetchFailure>;
}

pub(crate) type SharedSource = Arc<RwLock<Option<Arc<dyn HandoverSource>>>>;

/// Where the adult case goes.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoverTarget {
    pub org_unit_id: String,
    pub caseworker_id: String,
    /// The adult case's KLE subject, e.g. 27.36.12.
    pub kle: String,
    pub action_facet: String,
    pub case_type: String,
}

/// A handover as the core keeps it: a preparation task until it is imported.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Handover {
    pub id: String,
    pub cpr: String,
    pub given_name: String,
    pub family_name: String,
    pub turns_18: String,
    /// `preparing`, `imported` or `refused`.
    pub state: String,
    pub package_id: Option<String>,
    pub case_id: Option<String>,
    pub plan_id: Option<String>,
    pub services: Vec<HandoverService>,
    /// Why the last package was refused.
    pub detail: Option<String>,
}

/// What an import did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum HandoverOutcome {
    Imported { case_id: String, documents: usize },
    AlreadyImported { case_id: String },
}

const COLUMNS: &str = "id, cpr, given_name, family_name, turns_18, state, package_id, case_id, plan_id, services, detail";

fn from_row(r: &sqlx::any::AnyRow) -> CaseResult<Handover> {
    let services: String = r.try_get("services")?;
    Ok(Handover {
        id: r.try_get("id")?,
        cpr: r.try_get("cpr")?,
        given_name: r.try_get("given_name")?,
        family_name: r.try_get("family_name")?,
        turns_18: r.try_get("turns_18")?,
        state: r.try_get("state")?,
        package_id: r.try_get("package_id")?,
        case_id: r.try_get("case_id")?,
        plan_id: r.try_get("plan_id")?,
        services: serde_json::from_str(&services).unwrap_or_default(),
        detail: r.try_get("detail")?,
    })
}

async fn load(
    conn: &mut AnyConnection,
    id: &str,
) -> CaseResult<Option<(Handover, Option<String>)>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS}, package_sha256 FROM handovers WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| Ok((from_row(&r)?, r.try_get("package_sha256")?)))
        .transpose()
}

/// When the holder of `cpr` turns 18 (YYYY-MM-DD; one born on 29 February on the 28th).
fn eighteenth_birthday(cpr: &crate::cpr::Cpr) -> String {
    cpr.birth_date()
        .ok()
        .and_then(|d| d.checked_add_months(chrono::Months::new(18 * 12)))
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// The text of the services handed over, for the case's note.
fn services_note(services: &[HandoverService]) -> String {
    let lines: Vec<String> = services
        .iter()
        .map(|s| {
            format!(
                "{} ({}) fra {}{}{}",
                s.name,
                s.legal_basis,
                s.from,
                s.to.as_deref()
                    .map(|t| format!(" til {t}"))
                    .unwrap_or_default(),
                s.provider
                    .as_deref()
                    .map(|p| format!(", {p}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    format!(
        "Ydelser fra børne- og ungeområdet ved overdragelsen:\n{}",
        lines.join("\n")
    )
}

impl CaseCore {
    /// Where handovers are fetched from from now on.
    pub fn set_handover_source(&self, source: Arc<dyn HandoverSource>) {
        *self.handover_source.write().expect("handover source") = Some(source);
    }

    fn handover_source(&self) -> CaseResult<Arc<dyn HandoverSource>> {
        self.handover_source
            .read()
            .expect("handover source")
            .clone()
            .ok_or_else(|| CaseError::Unavailable {
                system: "DUBU".into(),
                detail: "no DUBU is configured in this environment".into(),
            })
    }

    /// Checks the `i`th document's spool file against its SHA-256 and size once more and
    /// keeps it: read for the database, or taken over by the document files (read as it
    /// is checked only when a route wants `document.stored`, else hashed as it streams).
    async fn take_spooled(&self, i: usize, d: &HandoverDocument) -> CaseResult<Spooled> {
        let spool_error = |e: std::io::Error| CaseError::Unavailable {
            system: "spool".into(),
            detail: format!("document {:?}: {e}", d.title),
        };
        let files = match &self.documents {
            DocumentStore::Files(files) => Some(files),
            DocumentStore::Database => None,
        };
        let (sha, size, bytes) = if files.is_none() || events::wants_document_content(&self.engine)
        {
            let content = tokio::fs::read(&d.path).await.map_err(spool_error)?;
            let sha = hex::encode(Sha256::digest(&content));
            (sha, content.len() as u64, Some(content))
        } else {
            let (sha, size) = digest_file(&d.path).await.map_err(spool_error)?;
            (sha, size, None)
        };
        if sha != d.sha256 || size != d.size {
            return Err(CaseError::invalid(
                &format!("documents[{i}]"),
                format!("{:?} no longer matches its SHA-256 and size", d.title),
            ));
        }
        match (files, bytes) {
            (Some(files), bytes) => {
                files.adopt(&d.sha256, &d.path).await?;
                Ok(Spooled::Adopted(bytes))
            }
            (None, Some(bytes)) => Ok(Spooled::Read(bytes)),
            (None, None) => unreachable!("the content is read when the database keeps it"),
        }
    }

    /// Raises a preparation task for each young person not already known; returns how
    /// many were new.
    pub async fn raise_preparation_tasks(&self, children: &[UpcomingChild]) -> CaseResult<usize> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let mut raised = Vec::new();
        for c in children {
            let cpr = parse_cpr("cpr", &c.cpr)?;
            let new = sqlx::query(
                "INSERT INTO handovers (id, cpr, given_name, family_name, turns_18, state, services, task_raised_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, 'preparing', '[]', $6, $6) ON CONFLICT (id) DO NOTHING",
            )
            .bind(&c.handover_id)
            .bind(cpr.expose())
            .bind(&c.given_name)
            .bind(&c.family_name)
            .bind(&c.turns_18)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if new == 1 {
                raised.push((format!("handover/{}", c.handover_id), cpr));
            }
        }
        let entries: Vec<AuditEntry<'_>> = raised
            .iter()
            .map(|(resource, cpr)| AuditEntry {
                actor: "knudepunkt-scheduler",
                action: AuditAction::Write,
                resource: resource.clone(),
                cpr: Some(cpr.expose()),
                purpose: "preparing the handover at 18",
                outcome: AuditOutcome::Allowed,
            })
            .collect();
        for chunk in entries.chunks(500) {
            audit::append_many(&mut tx, chunk, now).await?;
        }
        tx.commit().await?;
        Ok(raised.len())
    }

    /// Handovers in `state` (all when `None`), soonest 18th birthday first. A caseworker's
    /// worklist: the caller needs a job role; the listing is audited.
    pub async fn handovers(&self, ctx: &Ctx<'_>, state: Option<&str>) -> CaseResult<Vec<Handover>> {
        if ctx.actor.roles.is_empty() {
            return Err(self
                .refuse(
                    ctx,
                    AuditAction::Read,
                    "handovers".into(),
                    None,
                    format!("user {} has no job role", ctx.actor.user_id),
                )
                .await);
        }
        let mut conn = self.journal().pool().acquire().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM handovers WHERE ($1 IS NULL OR state = $1) ORDER BY turns_18, id"
        )))
        .bind(state)
        .fetch_all(&mut *conn)
        .await?;
        let list: Vec<Handover> = rows.iter().map(from_row).collect::<CaseResult<_>>()?;
        // Each young person shown is a read of their data.
        let entries: Vec<AuditEntry<'_>> = list
            .iter()
            .map(|h| AuditEntry {
                actor: &ctx.actor.user_id,
                action: AuditAction::Read,
                resource: format!("handover/{}", h.id),
                cpr: Some(&h.cpr),
                purpose: ctx.purpose,
                outcome: AuditOutcome::Allowed,
            })
            .collect();
        for chunk in entries.chunks(500) {
            audit::append_many(&mut conn, chunk, now_ms()).await?;
        }
        Ok(list)
    }

    /// Fetches handover `id`'s package and imports it as an adult case at `target`, as
    /// the caller. A damaged package is refused whole (DUBU is told, and the caller gets
    /// the reason); the same package again changes nothing.
    pub async fn take_handover(
        &self,
        ctx: &Ctx<'_>,
        id: &str,
        target: &HandoverTarget,
    ) -> CaseResult<HandoverOutcome> {
        let source = self.handover_source()?;
        let spool = tempfile::Builder::new()
            .prefix("knudepunkt-handover-")
            .tempdir_in(self.documents.spool_dir())
            .map_err(|e| CaseError::Unavailable {
                system: "spool".into(),
                detail: format!("no spool directory for the package: {e}"),
            })?;
        match source.fetch(id, spool.path()).await {
            Ok(package) => self.import_handover(ctx, &package, target).await,
            Err(FetchFailure::Refused { package_id, reason }) => {
                self.refuse_handover(id, package_id.as_deref(), &reason)
                    .await?;
                Err(CaseError::invalid(
                    "package",
                    format!("handover {id}: the package is refused: {reason}"),
                ))
            }
            Err(FetchFailure::Transient(why)) => Err(CaseError::Unavailable {
                system: "DUBU".into(),
                detail: why,
            }),
            Err(FetchFailure::Permanent(why)) => Err(CaseError::invalid("handover", why)),
        }
    }

    /// Marks handover `id` refused for `reason` (unless it was imported) and tells DUBU
    /// (`handover.refused`).
    pub async fn refuse_handover(
        &self,
        id: &str,
        package_id: Option<&str>,
        reason: &str,
    ) -> CaseResult<()> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let changed = sqlx::query(
            "UPDATE handovers SET state = 'refused', detail = $1, updated_at = $2 WHERE id = $3 AND state <> 'imported'",
        )
        .bind(reason)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let body = serde_json::json!({
            "handover_id": id,
            "package_id": package_id,
            "reason": reason,
            "known": changed == 1,
        });
        events::publish(&self.engine, &mut tx, events::HANDOVER_REFUSED, body).await?;
        tx.commit().await?;
        self.engine.wake();
        tracing::warn!(handover = %id, %reason, "a handover package was refused");
        Ok(())
    }

    /// Imports `package` as an adult case at `target`, as the caller, in one transaction.
    pub async fn import_handover(
        &self,
        ctx: &Ctx<'_>,
        package: &HandoverPackage,
        target: &HandoverTarget,
    ) -> CaseResult<HandoverOutcome> {
        let cpr = parse_cpr("citizen.cpr", &package.citizen.cpr)?;
        let now = now_ms();
        let mut tx = self.begin().await?;
        let existing = load(&mut tx, &package.handover_id).await?;
        if let Some((h, digest)) = &existing {
            if h.state == "imported" {
                let case_id = h.case_id.clone().unwrap_or_default();
                return if digest.as_deref() == Some(package.package_sha256.as_str()) {
                    Ok(HandoverOutcome::AlreadyImported { case_id })
                } else {
                    Err(CaseError::Conflict {
                        field: "package".into(),
                        detail: format!(
                            "handover {} was imported from package {} into case {case_id}; package {} differs",
                            h.id,
                            h.package_id.as_deref().unwrap_or("?"),
                            package.package_id
                        ),
                    })
                };
            }
            if h.cpr != cpr.expose() {
                return Err(CaseError::invalid(
                    "citizen.cpr",
                    format!(
                        "handover {}: the package is another person's than the handover's",
                        h.id
                    ),
                ));
            }
        }
        let c = &package.citizen;
        sqlx::query(
            "INSERT INTO citizens (cpr, fictive, given_name, family_name, address, contacts, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (cpr) DO UPDATE SET given_name = $3, family_name = $4, \
             address = COALESCE($5, citizens.address), contacts = $6, updated_at = $7",
        )
        .bind(cpr.expose())
        .bind(cpr.is_fictive() as i64)
        .bind(c.given_name.trim())
        .bind(c.family_name.trim())
        .bind(c.address.as_deref())
        .bind(serde_json::to_string(&c.contacts).unwrap_or_else(|_| "[]".into()))
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
        let case = self
            .create_case_in(
                &mut tx,
                ctx,
                &NewCase {
                    cpr: cpr.expose().to_string(),
                    title: format!(
                        "Overdragelse fra børne- og ungeområdet: {} {}",
                        c.given_name, c.family_name
                    ),
                    kle: target.kle.clone(),
                    action_facet: target.action_facet.clone(),
                    case_type: target.case_type.clone(),
                    org_unit_id: target.org_unit_id.clone(),
                    caseworker_id: target.caseworker_id.clone(),
                    confidential: false,
                },
            )
            .await?;
        let journal_date = chrono::Utc::now()
            .with_timezone(&chrono_tz::Europe::Copenhagen)
            .format("%Y-%m-%d")
            .to_string();
        for (i, d) in package.documents.iter().enumerate() {
            if d.size as usize > self.limits.max_document_bytes {
                return Err(CaseError::TooLarge {
                    field: format!("documents[{i}]"),
                    limit: self.limits.max_document_bytes,
                    actual: d.size as usize,
                });
            }
            let spooled = self.take_spooled(i, d).await?;
            let doc = DocumentInfo {
                id: new_id(),
                case_id: case.id.clone(),
                title: d.title.clone(),
                doc_type: d.doc_type.clone(),
                media_type: d.media_type.clone(),
                size: d.size as i64,
                sha256: d.sha256.clone(),
                journal_date: journal_date.clone(),
                confidential: false,
                created_by: ctx.actor.user_id.clone(),
                created_at: now,
                checked_out: None,
            };
            let external = format!("dubu:{}#{i}", package.package_id);
            let content = match &spooled {
                Spooled::Read(bytes) => documents::Content::Bytes(bytes),
                Spooled::Adopted(_) => documents::Content::InFiles,
            };
            documents::insert(&mut tx, &self.documents, &doc, content, Some(&external)).await?;
            audit::allowed(
                &mut tx,
                ctx,
                AuditAction::Write,
                format!("document/{}", doc.id),
                cpr.expose(),
                now,
            )
            .await?;
            let mut body = case.event();
            body["document"] = serde_json::to_value(&doc).unwrap_or_default();
            body["source"] = "DUBU".into();
            let content = match spooled {
                Spooled::Read(bytes) | Spooled::Adopted(Some(bytes)) => Some(bytes),
                Spooled::Adopted(None) => None,
            };
            events::publish_document(&self.engine, &mut tx, body, content.as_deref()).await?;
        }
        let plan_id = match &package.plan {
            Some(p) => {
                let plan = crate::plans::insert_plan(
                    &mut tx,
                    cpr.expose(),
                    &NewPlan {
                        title: p.title.clone(),
                        case_ids: vec![case.id.clone()],
                        goals: p.goals.clone(),
                    },
                    now,
                )
                .await?;
                audit::allowed(
                    &mut tx,
                    ctx,
                    AuditAction::Write,
                    format!("plan/{}", plan.id),
                    cpr.expose(),
                    now,
                )
                .await?;
                Some(plan.id)
            }
            None => None,
        };
        if !package.services.is_empty() {
            crate::case_notes::insert_note(
                &mut tx,
                &self.engine,
                &case,
                &services_note(&package.services),
                &ctx.actor.user_id,
                now,
            )
            .await?;
        }
        let services = serde_json::to_string(&package.services).unwrap_or_else(|_| "[]".into());
        sqlx::query(
            "INSERT INTO handovers (id, cpr, given_name, family_name, turns_18, state, package_id, package_sha256, case_id, plan_id, services, detail, task_raised_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'imported', $6, $7, $8, $9, $10, NULL, $11, $11) \
             ON CONFLICT (id) DO UPDATE SET state = 'imported', package_id = $6, package_sha256 = $7, case_id = $8, plan_id = $9, \
             services = $10, detail = NULL, updated_at = $11",
        )
        .bind(&package.handover_id)
        .bind(cpr.expose())
        .bind(c.given_name.trim())
        .bind(c.family_name.trim())
        .bind(eighteenth_birthday(&cpr))
        .bind(&package.package_id)
        .bind(&package.package_sha256)
        .bind(&case.id)
        .bind(&plan_id)
        .bind(&services)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let body = serde_json::json!({
            "handover_id": package.handover_id,
            "package_id": package.package_id,
            "case_id": case.id,
            "cpr": cpr.expose(),
        });
        events::publish(&self.engine, &mut tx, events::HANDOVER_IMPORTED, body).await?;
        tx.commit().await?;
        self.engine.wake();
        tracing::info!(handover = %package.handover_id, case_id = %case.id, cpr = %cpr, documents = package.documents.len(), "a handover imported as an adult case");
        Ok(HandoverOutcome::Imported {
            case_id: case.id,
            documents: package.documents.len(),
        })
    }
}

/// The job `dubu.forberedelse`: who turns 18 within six months gets a preparation task.
pub struct PrepareHandovers {
    pub core: CaseCore,
}

#[async_trait::async_trait]
impl knudepunkt_engine::schedule::Job for PrepareHandovers {
    fn name(&self) -> &'static str {
        PREPARE_JOB
    }

    async fn run(
        &self,
        request: &knudepunkt_engine::schedule::RunRequest,
        progress: &dyn knudepunkt_engine::schedule::Progress,
    ) -> Result<serde_json::Value, String> {
        let source = self.core.handover_source().map_err(|e| e.to_string())?;
        let before = chrono::Utc::now().date_naive() + chrono::Duration::days(PREPARE_DAYS);
        let children = source.upcoming(before).await?;
        progress.total(children.len() as u64);
        let raised = if request.dry_run {
            0
        } else {
            self.core
                .raise_preparation_tasks(&children)
                .await
                .map_err(|e| e.to_string())?
        };
        for c in &children {
            progress.advance(&c.handover_id);
        }
        Ok(serde_json::json!({
            "turning_18_before": before.format("%Y-%m-%d").to_string(),
            "listed": children.len(),
            "tasks_raised": raised,
            "dry_run": request.dry_run,
        }))
    }
}
