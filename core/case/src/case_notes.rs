//! What a caseworker records on a case beside its documents: notes (Notat) and deadlines
//! (Frist: a follow-up, the appeal deadline a dispatched decision letter starts). Each
//! publishes an event (`case.note_added`, `case.deadline_set`) that the records system's
//! route journalises.

use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

use crate::audit::{self, AuditAction};
use crate::cases::CaseRecord;
use crate::error::{CaseError, CaseResult};
use crate::events;
use crate::store::{CaseCore, Ctx, new_id, now_ms, parse_date, required};

/// The longest note taken, in characters.
const MAX_NOTE: usize = 20_000;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Note {
    pub id: String,
    pub text: String,
    pub by_user: String,
    /// Epoch milliseconds.
    pub at: i64,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNote {
    pub text: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Deadline {
    pub id: String,
    /// `Opfølgning`, `Klagefrist`, ...
    pub kind: String,
    /// YYYY-MM-DD.
    pub due: String,
    pub text: String,
    pub by_user: String,
    pub at: i64,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDeadline {
    pub kind: String,
    /// YYYY-MM-DD.
    pub due: String,
    pub text: String,
}

/// The notes of a case, oldest first.
pub(crate) async fn notes_of(conn: &mut AnyConnection, case_id: &str) -> CaseResult<Vec<Note>> {
    sqlx::query("SELECT id, text, by_user, at FROM case_notes WHERE case_id = $1 ORDER BY at, id")
        .bind(case_id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            Ok(Note {
                id: r.try_get("id")?,
                text: r.try_get("text")?,
                by_user: r.try_get("by_user")?,
                at: r.try_get("at")?,
            })
        })
        .collect()
}

/// The deadlines of a case, soonest first.
pub(crate) async fn deadlines_of(
    conn: &mut AnyConnection,
    case_id: &str,
) -> CaseResult<Vec<Deadline>> {
    sqlx::query(
        "SELECT id, kind, due, text, by_user, at FROM case_deadlines WHERE case_id = $1 ORDER BY due, id",
    )
    .bind(case_id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(Deadline {
            id: r.try_get("id")?,
            kind: r.try_get("kind")?,
            due: r.try_get("due")?,
            text: r.try_get("text")?,
            by_user: r.try_get("by_user")?,
            at: r.try_get("at")?,
        })
    })
    .collect()
}

/// Writes a note on `case` and publishes `case.note_added`, on `conn`.
pub(crate) async fn insert_note(
    conn: &mut AnyConnection,
    engine: &knudepunkt_engine::Engine,
    case: &CaseRecord,
    text: &str,
    by_user: &str,
    now: i64,
) -> CaseResult<Note> {
    let note = Note {
        id: new_id(),
        text: text.trim().to_string(),
        by_user: by_user.to_string(),
        at: now,
    };
    sqlx::query(
        "INSERT INTO case_notes (id, case_id, text, by_user, at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&note.id)
    .bind(&case.id)
    .bind(&note.text)
    .bind(&note.by_user)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let mut body = case.event();
    body["note"] = serde_json::to_value(&note).unwrap_or_default();
    events::publish(engine, conn, events::CASE_NOTE_ADDED, body).await?;
    Ok(note)
}

/// Records deadline `id` on `case` (once: the same id again changes nothing) and
/// publishes `case.deadline_set`.
pub(crate) async fn set_deadline(
    conn: &mut AnyConnection,
    engine: &knudepunkt_engine::Engine,
    case: &CaseRecord,
    id: &str,
    new: &NewDeadline,
    by_user: &str,
    now: i64,
) -> CaseResult<Option<Deadline>> {
    if crate::store::exists(conn, "case_deadlines", "id", id).await? {
        return Ok(None);
    }
    let deadline = Deadline {
        id: id.to_string(),
        kind: new.kind.trim().to_string(),
        due: new.due.clone(),
        text: new.text.trim().to_string(),
        by_user: by_user.to_string(),
        at: now,
    };
    sqlx::query(
        "INSERT INTO case_deadlines (id, case_id, kind, due, text, by_user, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&deadline.id)
    .bind(&case.id)
    .bind(&deadline.kind)
    .bind(&deadline.due)
    .bind(&deadline.text)
    .bind(by_user)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let mut body = case.event();
    body["deadline"] = serde_json::to_value(&deadline).unwrap_or_default();
    events::publish(engine, conn, events::CASE_DEADLINE_SET, body).await?;
    Ok(Some(deadline))
}

impl CaseCore {
    /// A caseworker's note on a case; publishes `case.note_added`.
    pub async fn add_note(&self, ctx: &Ctx<'_>, case_id: &str, new: &NewNote) -> CaseResult<Note> {
        required("text", &new.text)?;
        if new.text.chars().count() > MAX_NOTE {
            return Err(CaseError::TooLarge {
                field: "text".into(),
                limit: MAX_NOTE,
                actual: new.text.chars().count(),
            });
        }
        let (mut tx, case) = self.begin_on_case(ctx, case_id, "notes").await?;
        let now = now_ms();
        let note = insert_note(
            &mut tx,
            &self.engine,
            &case,
            &new.text,
            &ctx.actor.user_id,
            now,
        )
        .await?;
        audit::allowed(
            &mut tx,
            ctx,
            AuditAction::Write,
            format!("case/{}/notes/{}", case.id, note.id),
            case.cpr.expose(),
            now,
        )
        .await?;
        tx.commit().await?;
        self.engine.wake();
        Ok(note)
    }

    /// A deadline a caseworker sets on a case; publishes `case.deadline_set`.
    pub async fn add_deadline(
        &self,
        ctx: &Ctx<'_>,
        case_id: &str,
        new: &NewDeadline,
    ) -> CaseResult<Deadline> {
        required("kind", &new.kind)?;
        required("text", &new.text)?;
        parse_date("due", &new.due)?;
        let (mut tx, case) = self.begin_on_case(ctx, case_id, "deadlines").await?;
        let now = now_ms();
        let id = new_id();
        let deadline = set_deadline(
            &mut tx,
            &self.engine,
            &case,
            &id,
            new,
            &ctx.actor.user_id,
            now,
        )
        .await?
        .ok_or_else(|| CaseError::Conflict {
            field: "id".into(),
            detail: format!("deadline {id} exists"),
        })?;
        audit::allowed(
            &mut tx,
            ctx,
            AuditAction::Write,
            format!("case/{}/deadlines/{id}", case.id),
            case.cpr.expose(),
            now,
        )
        .await?;
        tx.commit().await?;
        self.engine.wake();
        Ok(deadline)
    }
}
