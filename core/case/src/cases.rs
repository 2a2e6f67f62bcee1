//! Cases (Sag): KLE-classified, owned by an org unit, with a status history.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

use crate::access::{Scope, has_case_grant};
use crate::audit::{self, AuditAction};
use crate::cpr::Cpr;
use crate::decisions::{self, Decision};
use crate::documents::{self, DocumentInfo};
use crate::error::{CaseError, CaseResult};
use crate::events;
use crate::grants::{self, Grant};
use crate::kle::{ActionFacet, KleNumber};
use crate::letters::{self, Notice};
use crate::store::{CaseCore, Ctx, exists, flag, new_id, now_ms, required};

/// Where a case is in its life.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
pub enum CaseStatus {
    /// Opened.
    Opstaaet,
    /// Sufficiently informed to decide.
    Oplyst,
    /// Decided.
    Afgjort,
    /// Closed.
    Lukket,
}

impl CaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Opstaaet => "Opstaaet",
            CaseStatus::Oplyst => "Oplyst",
            CaseStatus::Afgjort => "Afgjort",
            CaseStatus::Lukket => "Lukket",
        }
    }
}

impl fmt::Display for CaseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CaseStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "Opstaaet" => Ok(CaseStatus::Opstaaet),
            "Oplyst" => Ok(CaseStatus::Oplyst),
            "Afgjort" => Ok(CaseStatus::Afgjort),
            "Lukket" => Ok(CaseStatus::Lukket),
            other => Err(format!(
                "{other:?} is not a case status (Opstaaet, Oplyst, Afgjort, Lukket)"
            )),
        }
    }
}

/// A case's own fields.
#[derive(Clone, Debug)]
pub struct CaseRecord {
    pub id: String,
    pub cpr: Cpr,
    pub title: String,
    pub kle: String,
    pub action_facet: String,
    pub case_type: String,
    pub org_unit_id: String,
    pub caseworker_id: String,
    pub status: CaseStatus,
    pub confidential: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl CaseRecord {
    pub(crate) fn scope(&self) -> Scope<'_> {
        Scope {
            org_unit_id: &self.org_unit_id,
            kle: &self.kle,
        }
    }

    /// The event body every case event starts from.
    pub(crate) fn event(&self) -> serde_json::Value {
        serde_json::json!({
            "case_id": self.id,
            "cpr": self.cpr.expose(),
            "title": self.title,
            "kle": self.kle,
            "action_facet": self.action_facet,
            "case_type": self.case_type,
            "org_unit_id": self.org_unit_id,
            "caseworker_id": self.caseworker_id,
            "status": self.status.as_str(),
            "confidential": self.confidential,
            "created_at": crate::index::instant(self.created_at),
            "at": crate::index::instant(self.updated_at),
        })
    }
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct StatusEntry {
    pub status: CaseStatus,
    /// Epoch milliseconds.
    pub at: i64,
    pub by_user: String,
    pub note: Option<String>,
}

/// A case with what a caseworker sees on it.
#[derive(Clone, Debug)]
pub struct CaseView {
    pub case: CaseRecord,
    pub status_history: Vec<StatusEntry>,
    pub documents: Vec<DocumentInfo>,
    pub decisions: Vec<Decision>,
    pub grants: Vec<Grant>,
    pub notices: Vec<Notice>,
    /// The citizen's hospital stays, latest first.
    pub hospital_stays: Vec<crate::stays::Stay>,
    pub notes: Vec<crate::case_notes::Note>,
    pub deadlines: Vec<crate::case_notes::Deadline>,
    /// The case in the records system (eDoc), once sent there.
    pub records: Option<crate::esdh::RecordsCase>,
}

/// A case to open.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCase {
    pub cpr: String,
    pub title: String,
    /// KLE subject number, e.g. 27.36.04.
    pub kle: String,
    /// KLE action facet, e.g. G01.
    pub action_facet: String,
    pub case_type: String,
    pub org_unit_id: String,
    pub caseworker_id: String,
    #[serde(default)]
    pub confidential: bool,
}

/// Changes to a case's own fields; absent fields stay as they are.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CasePatch {
    pub title: Option<String>,
    pub caseworker_id: Option<String>,
    pub confidential: Option<bool>,
}

pub(crate) const CASE_COLUMNS: &str = "id, cpr, title, kle, action_facet, case_type, org_unit_id, caseworker_id, status, confidential, created_at, updated_at";

pub(crate) fn case_from_row(r: &sqlx::any::AnyRow) -> CaseResult<CaseRecord> {
    let id: String = r.try_get("id")?;
    let corrupt = |what: &str, detail: String| CaseError::Corrupt {
        what: format!("case {id} {what}"),
        detail,
    };
    let cpr: String = r.try_get("cpr")?;
    let status: String = r.try_get("status")?;
    Ok(CaseRecord {
        cpr: Cpr::parse(&cpr).map_err(|e| corrupt("cpr", e.to_string()))?,
        status: status.parse().map_err(|e| corrupt("status", e))?,
        title: r.try_get("title")?,
        kle: r.try_get("kle")?,
        action_facet: r.try_get("action_facet")?,
        case_type: r.try_get("case_type")?,
        org_unit_id: r.try_get("org_unit_id")?,
        caseworker_id: r.try_get("caseworker_id")?,
        confidential: flag(r, "confidential")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        id,
    })
}

pub(crate) async fn load(conn: &mut AnyConnection, id: &str) -> CaseResult<CaseRecord> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CASE_COLUMNS} FROM cases WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| CaseError::not_found("case", id))?;
    case_from_row(&row)
}

/// The citizen's cases that are not closed, oldest first.
pub(crate) async fn open_of(conn: &mut AnyConnection, cpr: &Cpr) -> CaseResult<Vec<CaseRecord>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CASE_COLUMNS} FROM cases WHERE cpr = $1 AND status <> 'Lukket' ORDER BY created_at"
    )))
    .bind(cpr.expose())
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(case_from_row)
    .collect()
}

async fn status_history(conn: &mut AnyConnection, id: &str) -> CaseResult<Vec<StatusEntry>> {
    let rows = sqlx::query(
        "SELECT status, at, by_user, note FROM case_status_history WHERE case_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            let status: String = r.try_get("status")?;
            Ok(StatusEntry {
                status: status.parse().map_err(|e| CaseError::Corrupt {
                    what: format!("case {id} status history"),
                    detail: e,
                })?,
                at: r.try_get("at")?,
                by_user: r.try_get("by_user")?,
                note: r.try_get("note")?,
            })
        })
        .collect()
}

async fn record_status(
    conn: &mut AnyConnection,
    id: &str,
    status: CaseStatus,
    by: &str,
    note: Option<&str>,
    at: i64,
) -> CaseResult<()> {
    sqlx::query(
        "INSERT INTO case_status_history (case_id, status, at, by_user, note) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(status.as_str())
    .bind(at)
    .bind(by)
    .bind(note)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl CaseCore {
    /// Whether the actor may see (and work on) the case: a role covering its org unit
    /// and KLE, and for a confidential case an explicit grant too.
    pub(crate) async fn may_access(
        &self,
        conn: &mut AnyConnection,
        ctx: &Ctx<'_>,
        case: &CaseRecord,
    ) -> CaseResult<bool> {
        if !ctx.actor.covers(&case.scope()) {
            return Ok(false);
        }
        if case.confidential {
            return has_case_grant(conn, &case.id, &ctx.actor.user_id).await;
        }
        Ok(true)
    }

    /// Audits a refusal on `case` (call it once no connection is held) and returns the
    /// error for the caller.
    pub(crate) async fn refuse_case(
        &self,
        ctx: &Ctx<'_>,
        action: AuditAction,
        resource: String,
        case: &CaseRecord,
    ) -> CaseError {
        let why = format!(
            "user {} has no access to case {}",
            ctx.actor.user_id, case.id
        );
        self.refuse(ctx, action, resource, Some(case.cpr.expose()), why)
            .await
    }

    /// Begins a change on a case: the transaction and the case as it is in it. Without
    /// access the transaction is rolled back and the refusal audited on its own.
    pub(crate) async fn begin_on_case(
        &self,
        ctx: &Ctx<'_>,
        id: &str,
        what: &str,
    ) -> CaseResult<(sqlx::Transaction<'static, sqlx::Any>, CaseRecord)> {
        let mut tx = self.begin().await?;
        let case = load(&mut tx, id).await?;
        if !self.may_access(&mut tx, ctx, &case).await? {
            drop(tx);
            return Err(self
                .refuse_case(ctx, AuditAction::Write, format!("case/{id}/{what}"), &case)
                .await);
        }
        Ok((tx, case))
    }

    /// Opens a case and publishes `case.created` in the same transaction.
    pub async fn create_case(&self, ctx: &Ctx<'_>, new: &NewCase) -> CaseResult<CaseView> {
        let mut tx = self.begin().await?;
        let case = match self.create_case_in(&mut tx, ctx, new).await {
            Ok(case) => case,
            Err(CaseError::Forbidden(why)) => {
                // Roll back first: the refusal is audited on its own.
                drop(tx);
                let cpr = Cpr::parse(&new.cpr).ok();
                return Err(self
                    .refuse(
                        ctx,
                        AuditAction::Write,
                        "case".into(),
                        cpr.as_ref().map(Cpr::expose),
                        why,
                    )
                    .await);
            }
            Err(e) => return Err(e),
        };
        tx.commit().await?;
        self.engine.wake();
        tracing::info!(case_id = %case.id, cpr = %case.cpr, kle = %case.kle, by = %ctx.actor.user_id, "case opened");
        self.view(ctx, case).await
    }

    /// Opens a case on the caller's own transaction (the transactional client): if it
    /// rolls back, neither the case nor its `case.created` event exists. A refusal here
    /// is not audited: the caller's transaction is still open; [`CaseCore::create_case`]
    /// rolls back and audits it.
    pub async fn create_case_in(
        &self,
        tx: &mut AnyConnection,
        ctx: &Ctx<'_>,
        new: &NewCase,
    ) -> CaseResult<CaseRecord> {
        let checked = check_new_case(tx, new).await?;
        if !ctx.actor.covers(&checked.scope(new)) {
            return Err(CaseError::Forbidden(checked.refusal(ctx, new)));
        }
        let NewCaseChecked { cpr, kle, facet } = checked;
        let now = now_ms();
        let case = CaseRecord {
            id: new_id(),
            cpr,
            title: new.title.trim().to_string(),
            kle: kle.to_string(),
            action_facet: facet.as_str().to_string(),
            case_type: new.case_type.trim().to_string(),
            org_unit_id: new.org_unit_id.clone(),
            caseworker_id: new.caseworker_id.clone(),
            status: CaseStatus::Opstaaet,
            confidential: new.confidential,
            created_at: now,
            updated_at: now,
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO cases ({CASE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        )))
        .bind(&case.id)
        .bind(case.cpr.expose())
        .bind(&case.title)
        .bind(&case.kle)
        .bind(&case.action_facet)
        .bind(&case.case_type)
        .bind(&case.org_unit_id)
        .bind(&case.caseworker_id)
        .bind(case.status.as_str())
        .bind(case.confidential as i64)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        record_status(
            tx,
            &case.id,
            CaseStatus::Opstaaet,
            &ctx.actor.user_id,
            None,
            now,
        )
        .await?;
        if case.confidential {
            grant_confidential(tx, &case, ctx, now).await?;
        }
        audit::allowed(
            tx,
            ctx,
            AuditAction::Write,
            format!("case/{}", case.id),
            case.cpr.expose(),
            now,
        )
        .await?;
        // The index's first import carries the case whole.
        let body = crate::index::snapshots(tx, std::slice::from_ref(&case))
            .await?
            .pop()
            .unwrap_or_else(|| case.event());
        let sent = events::publish(&self.engine, tx, events::CASE_CREATED, body).await?;
        crate::esdh::requested(tx, &self.engine, &case.id, &sent, now).await?;
        Ok(case)
    }

    /// Changes a case's own fields; publishes `case.updated`.
    pub async fn update_case(
        &self,
        ctx: &Ctx<'_>,
        id: &str,
        patch: &CasePatch,
    ) -> CaseResult<CaseView> {
        let (mut tx, mut case) = self.begin_on_case(ctx, id, "update").await?;
        if let Some(title) = &patch.title {
            required("title", title)?;
            case.title = title.trim().to_string();
        }
        if let Some(user) = &patch.caseworker_id {
            if !exists(&mut tx, "users", "id", user).await? {
                return Err(CaseError::invalid(
                    "caseworker_id",
                    format!("{user:?} is not a known user"),
                ));
            }
            case.caseworker_id = user.clone();
        }
        let now = now_ms();
        let was_confidential = case.confidential;
        if let Some(confidential) = patch.confidential {
            if confidential && !case.confidential {
                grant_confidential(&mut tx, &case, ctx, now).await?;
            }
            case.confidential = confidential;
        }
        case.updated_at = now;
        sqlx::query(
            "UPDATE cases SET title = $1, caseworker_id = $2, confidential = $3, updated_at = $4 WHERE id = $5",
        )
        .bind(&case.title)
        .bind(&case.caseworker_id)
        .bind(case.confidential as i64)
        .bind(now)
        .bind(&case.id)
        .execute(&mut *tx)
        .await?;
        audit::allowed(
            &mut tx,
            ctx,
            AuditAction::Write,
            format!("case/{id}"),
            case.cpr.expose(),
            now,
        )
        .await?;
        // A case no longer confidential goes to the index whole, as a first import.
        let mut body = if was_confidential && !case.confidential {
            crate::index::snapshots(&mut tx, std::slice::from_ref(&case))
                .await?
                .pop()
                .unwrap_or_else(|| case.event())
        } else {
            case.event()
        };
        body["was_confidential"] = was_confidential.into();
        events::publish(&self.engine, &mut tx, events::CASE_UPDATED, body).await?;
        tx.commit().await?;
        self.engine.wake();
        self.view(ctx, case).await
    }

    /// Moves a case forward in its life; publishes `case.status_changed`, and
    /// `case.closed` when it is closed.
    pub async fn change_status(
        &self,
        ctx: &Ctx<'_>,
        id: &str,
        status: CaseStatus,
        note: Option<&str>,
    ) -> CaseResult<CaseView> {
        let (mut tx, mut case) = self.begin_on_case(ctx, id, "status").await?;
        if status <= case.status {
            return Err(CaseError::Conflict {
                field: "status".into(),
                detail: format!("case {id} is {}; it can only move forward", case.status),
            });
        }
        self.move_status(&mut tx, ctx, &mut case, status, note, now_ms())
            .await?;
        tx.commit().await?;
        self.engine.wake();
        tracing::info!(case_id = %case.id, cpr = %case.cpr, status = %status, by = %ctx.actor.user_id, "case status changed");
        self.view(ctx, case).await
    }

    /// Moves `case` to `status` on `conn` (the change's transaction): the row, its
    /// history, the audit line and the events.
    pub(crate) async fn move_status(
        &self,
        conn: &mut AnyConnection,
        ctx: &Ctx<'_>,
        case: &mut CaseRecord,
        status: CaseStatus,
        note: Option<&str>,
        now: i64,
    ) -> CaseResult<()> {
        self.move_status_from(conn, ctx, case, status, note, now, None)
            .await
    }

    /// [`Self::move_status`], for a change another system caused: its events carry
    /// `origin`, so that that system's route does not send it back.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn move_status_from(
        &self,
        conn: &mut AnyConnection,
        ctx: &Ctx<'_>,
        case: &mut CaseRecord,
        status: CaseStatus,
        note: Option<&str>,
        now: i64,
        origin: Option<&str>,
    ) -> CaseResult<()> {
        let previous = case.status;
        case.status = status;
        case.updated_at = now;
        sqlx::query("UPDATE cases SET status = $1, updated_at = $2 WHERE id = $3")
            .bind(status.as_str())
            .bind(now)
            .bind(&case.id)
            .execute(&mut *conn)
            .await?;
        record_status(conn, &case.id, status, &ctx.actor.user_id, note, now).await?;
        audit::allowed(
            conn,
            ctx,
            AuditAction::Write,
            format!("case/{}/status", case.id),
            case.cpr.expose(),
            now,
        )
        .await?;
        let mut body = case.event();
        body["previous_status"] = previous.as_str().into();
        body["note"] = note.into();
        if let Some(origin) = origin {
            body["origin"] = origin.into();
        }
        events::publish(&self.engine, conn, events::CASE_STATUS_CHANGED, body).await?;
        if status == CaseStatus::Lukket {
            let mut body = case.event();
            if let Some(origin) = origin {
                body["origin"] = origin.into();
            }
            events::publish(&self.engine, conn, events::CASE_CLOSED, body).await?;
        }
        Ok(())
    }

    /// Gives a user an explicit grant on a (confidential) case.
    pub async fn grant_case_access(&self, ctx: &Ctx<'_>, id: &str, user: &str) -> CaseResult<()> {
        let (mut tx, case) = self.begin_on_case(ctx, id, "access").await?;
        if !exists(&mut tx, "users", "id", user).await? {
            return Err(CaseError::invalid(
                "user_id",
                format!("{user:?} is not a known user"),
            ));
        }
        let now = now_ms();
        grant_access(&mut tx, id, user, &ctx.actor.user_id, now).await?;
        audit::allowed(
            &mut tx,
            ctx,
            AuditAction::Write,
            format!("case/{id}/access"),
            case.cpr.expose(),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A case with its documents, decisions, grants and notices, if the actor may see it.
    /// The read is audited, and so is a refusal.
    pub async fn case(&self, ctx: &Ctx<'_>, id: &str) -> CaseResult<CaseView> {
        let mut conn = self.journal().pool().acquire().await?;
        let case = load(&mut conn, id).await?;
        if !self.may_access(&mut conn, ctx, &case).await? {
            drop(conn);
            return Err(self
                .refuse_case(ctx, AuditAction::Read, format!("case/{id}"), &case)
                .await);
        }
        let view = self.view_on(&mut conn, ctx, case).await?;
        audit::allowed(
            &mut conn,
            ctx,
            AuditAction::Read,
            format!("case/{id}"),
            view.case.cpr.expose(),
            now_ms(),
        )
        .await?;
        Ok(view)
    }

    /// The citizen's cases the actor may see, each with what is on it. The search is
    /// audited whether or not anything is found.
    pub async fn cases_of_citizen(&self, ctx: &Ctx<'_>, cpr: &Cpr) -> CaseResult<Vec<CaseView>> {
        let mut conn = self.journal().pool().acquire().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CASE_COLUMNS} FROM cases WHERE cpr = $1 ORDER BY created_at"
        )))
        .bind(cpr.expose())
        .fetch_all(&mut *conn)
        .await?;
        let mut out = Vec::new();
        for row in &rows {
            let case = case_from_row(row)?;
            if self.may_access(&mut conn, ctx, &case).await? {
                out.push(self.view_on(&mut conn, ctx, case).await?);
            }
        }
        audit::allowed(
            &mut conn,
            ctx,
            AuditAction::Read,
            format!("citizen/cases ({} of {} shown)", out.len(), rows.len()),
            cpr.expose(),
            now_ms(),
        )
        .await?;
        Ok(out)
    }

    /// Whether the actor may see at least one of the citizen's cases (not audited: the
    /// caller audits its own read).
    pub(crate) async fn sees_citizen(
        &self,
        conn: &mut AnyConnection,
        ctx: &Ctx<'_>,
        cpr: &Cpr,
    ) -> CaseResult<bool> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CASE_COLUMNS} FROM cases WHERE cpr = $1"
        )))
        .bind(cpr.expose())
        .fetch_all(&mut *conn)
        .await?;
        for row in &rows {
            if self.may_access(conn, ctx, &case_from_row(row)?).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The case as the actor sees it after a change (not audited as a read: the change
    /// is).
    pub(crate) async fn view(&self, ctx: &Ctx<'_>, case: CaseRecord) -> CaseResult<CaseView> {
        let mut conn = self.journal().pool().acquire().await?;
        self.view_on(&mut conn, ctx, case).await
    }

    async fn view_on(
        &self,
        conn: &mut AnyConnection,
        ctx: &Ctx<'_>,
        case: CaseRecord,
    ) -> CaseResult<CaseView> {
        // Confidential documents need an explicit grant even on an open case.
        let sees_confidential = has_case_grant(conn, &case.id, &ctx.actor.user_id).await?;
        Ok(CaseView {
            status_history: status_history(conn, &case.id).await?,
            documents: documents::of_case(conn, &case.id, sees_confidential).await?,
            decisions: decisions::of_case(conn, &case.id).await?,
            grants: grants::of_case(conn, &case.id).await?,
            notices: letters::notices_of_case(conn, &case.id).await?,
            hospital_stays: crate::stays::of_citizen(conn, &case.cpr).await?,
            notes: crate::case_notes::notes_of(conn, &case.id).await?,
            deadlines: crate::case_notes::deadlines_of(conn, &case.id).await?,
            records: crate::esdh::of_case(conn, &case.id).await?,
            case,
        })
    }
}

/// A new case's input, checked.
struct NewCaseChecked {
    cpr: Cpr,
    kle: KleNumber,
    facet: ActionFacet,
}

impl NewCaseChecked {
    fn scope<'a>(&'a self, new: &'a NewCase) -> Scope<'a> {
        Scope {
            org_unit_id: &new.org_unit_id,
            kle: self.kle.as_str(),
        }
    }

    fn refusal(&self, ctx: &Ctx<'_>, new: &NewCase) -> String {
        format!(
            "user {} has no job role covering KLE {} in org unit {}",
            ctx.actor.user_id, self.kle, new.org_unit_id
        )
    }
}

/// Checks every field of a new case, naming the first one at fault.
async fn check_new_case(conn: &mut AnyConnection, new: &NewCase) -> CaseResult<NewCaseChecked> {
    let cpr = crate::citizens::parse_cpr("cpr", &new.cpr)?;
    required("title", &new.title)?;
    required("case_type", &new.case_type)?;
    let kle = KleNumber::parse(&new.kle).map_err(|e| CaseError::invalid("kle", e.to_string()))?;
    let facet = ActionFacet::parse(&new.action_facet)
        .map_err(|e| CaseError::invalid("action_facet", e.to_string()))?;
    let today = chrono::Utc::now().date_naive().to_string();
    if let Err(why) = crate::kle_sync::usable(conn, kle.as_str(), &today).await? {
        return Err(CaseError::invalid("kle", why));
    }
    if !exists(conn, "org_units", "id", &new.org_unit_id).await? {
        return Err(CaseError::invalid(
            "org_unit_id",
            format!("{:?} is not a known org unit", new.org_unit_id),
        ));
    }
    if !exists(conn, "users", "id", &new.caseworker_id).await? {
        return Err(CaseError::invalid(
            "caseworker_id",
            format!("{:?} is not a known user", new.caseworker_id),
        ));
    }
    if !exists(conn, "citizens", "cpr", cpr.expose()).await? {
        return Err(CaseError::invalid(
            "cpr",
            format!("no citizen with CPR {cpr} is registered"),
        ));
    }
    Ok(NewCaseChecked { cpr, kle, facet })
}

/// A case becoming confidential: the responsible caseworker and the one who made it so
/// must still be able to see it.
async fn grant_confidential(
    conn: &mut AnyConnection,
    case: &CaseRecord,
    ctx: &Ctx<'_>,
    at: i64,
) -> CaseResult<()> {
    for user in [&case.caseworker_id, &ctx.actor.user_id] {
        grant_access(conn, &case.id, user, &ctx.actor.user_id, at).await?;
    }
    Ok(())
}

async fn grant_access(
    conn: &mut AnyConnection,
    case_id: &str,
    user: &str,
    by: &str,
    at: i64,
) -> CaseResult<()> {
    sqlx::query(
        "INSERT INTO case_access_grants (case_id, user_id, granted_by, at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (case_id, user_id) DO NOTHING",
    )
    .bind(case_id)
    .bind(user)
    .bind(by)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
