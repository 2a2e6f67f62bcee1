//! The records system (ESDH — eDoc, through KKI) as the case core sees it. A case is
//! journalised there when it is created: the routes delivering through the adapter
//! [`ADAPTER`] carry the case, its documents, notes and deadlines, and the core follows
//! the create call in the journal until eDoc's answer gives the ESDH case number and the
//! person eDoc made responsible, which the case then shows. What eDoc tells back
//! ([`RecordsEvent`], rendered by an inbound route) updates the core: a document checked
//! out there is read-only here, with who holds it, until it is checked in; a new version
//! made there replaces the content here; a case closed there is closed here. Changes the
//! records system caused carry `origin: "records"` in their events, so that its route
//! does not send them back.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};

use knudepunkt_engine::MessageId;
use knudepunkt_engine::message::MessageState;

use crate::access::Actor;
use crate::audit::{self, AuditAction};
use crate::cases::CaseStatus;
use crate::error::{CaseError, CaseResult};
use crate::letters::add_notice;
use crate::store::{CaseCore, Ctx, now_ms};

/// The adapter the records system's routes deliver through.
pub const ADAPTER: &str = "kki";
/// The `origin` of events the records system caused.
pub const ORIGIN: &str = "records";
/// The external ids eDoc's answer to the create call is kept as (the route's `keep`).
const CASE_NUMBER: &str = "esdh_sagsnummer";
const RESPONSIBLE: &str = "esdh_ansvarlig";
const RESPONSIBLE_NAME: &str = "esdh_ansvarlig_navn";

/// A case's place in the records system.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RecordsCase {
    /// `requested` (sent, no answer yet), `journalised`, or `failed`.
    pub state: String,
    /// eDoc's case number.
    pub case_number: Option<String>,
    /// The user eDoc made responsible, and their name.
    pub responsible: Option<String>,
    pub responsible_name: Option<String>,
    /// Why it failed.
    pub detail: Option<String>,
}

/// Who holds a document checked out in the records system; it is read-only here.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct CheckedOut {
    pub by: String,
    pub by_name: String,
    /// Epoch milliseconds.
    pub since: i64,
}

/// Notes which of the messages a new case's `case.created` made go to the records
/// system, to be followed until its answer.
pub(crate) async fn requested(
    conn: &mut AnyConnection,
    engine: &knudepunkt_engine::Engine,
    case_id: &str,
    published: &[(String, MessageId)],
    now: i64,
) -> CaseResult<()> {
    let Some((_, message)) = published.iter().find(|(route, _)| {
        engine
            .routes()
            .get(route)
            .is_some_and(|r| r.adapter == ADAPTER)
    }) else {
        return Ok(());
    };
    sqlx::query(
        "INSERT INTO esdh_cases (case_id, message_id, state, requested_at) VALUES ($1, $2, 'requested', $3) \
         ON CONFLICT (case_id) DO NOTHING",
    )
    .bind(case_id)
    .bind(message.to_string())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The case's place in the records system, if it was sent there.
pub(crate) async fn of_case(
    conn: &mut AnyConnection,
    case_id: &str,
) -> CaseResult<Option<RecordsCase>> {
    let row = sqlx::query(
        "SELECT state, sagsnummer, ansvarlig, ansvarlig_navn, detail FROM esdh_cases WHERE case_id = $1",
    )
    .bind(case_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        Ok(RecordsCase {
            state: r.try_get("state")?,
            case_number: r.try_get("sagsnummer")?,
            responsible: r.try_get("ansvarlig")?,
            responsible_name: r.try_get("ansvarlig_navn")?,
            detail: r.try_get("detail")?,
        })
    })
    .transpose()
}

/// Who holds document `id` checked out, if anyone.
pub(crate) fn checked_out_from_row(r: &sqlx::any::AnyRow) -> CaseResult<Option<CheckedOut>> {
    let by: Option<String> = r.try_get("checked_out_by")?;
    Ok(match by {
        Some(by) => Some(CheckedOut {
            by,
            by_name: r
                .try_get::<Option<String>, _>("checked_out_name")?
                .unwrap_or_default(),
            since: r
                .try_get::<Option<i64>, _>("checked_out_at")?
                .unwrap_or_default(),
        }),
        None => None,
    })
}

/// What the records system tells (the inbound route renders eDoc's event as this).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordsEvent {
    /// The records system's id for the event.
    pub event_id: String,
    /// `document_checked_out`, `document_checked_in`, `document_changed`, `case_closed`.
    pub kind: String,
    /// RFC 3339.
    pub at: String,
    pub case_id: String,
    pub case_number: String,
    #[serde(default)]
    pub document_id: Option<String>,
    pub user: RecordsUser,
    /// The new version, for `document_changed`.
    #[serde(default)]
    pub version: Option<RecordsVersion>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordsUser {
    pub id: String,
    pub name: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordsVersion {
    pub number: i64,
    pub title: String,
    pub media_type: String,
    /// Base64.
    pub content: String,
    pub sha256: String,
}

impl CaseCore {
    /// Follows cases sent to the records system until eDoc's answer: its case number
    /// and responsible person are kept, or the failure. Returns how many settled.
    pub(crate) async fn follow_records(&self) -> CaseResult<usize> {
        let open: Vec<(String, String)> = {
            let mut conn = self.journal().pool().acquire().await?;
            sqlx::query(
                "SELECT case_id, message_id FROM esdh_cases WHERE state = 'requested' ORDER BY requested_at LIMIT 500",
            )
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("case_id")?, r.try_get("message_id")?)))
            .collect::<CaseResult<_>>()?
        };
        let mut settled = 0;
        for (case_id, message_id) in open {
            let Ok(id) = message_id.parse::<MessageId>() else {
                continue;
            };
            let msg = match self.journal().get(id).await {
                Ok(m) => m,
                Err(knudepunkt_engine::JournalError::NotFound(_)) => continue,
                Err(e) => return Err(e.into()),
            };
            let now = now_ms();
            let mut tx = self.begin().await?;
            match msg.state {
                MessageState::Delivered | MessageState::Accepted => {
                    let number = msg.external_ids.get(CASE_NUMBER).cloned();
                    let who = msg.external_ids.get(RESPONSIBLE).cloned();
                    let name = msg.external_ids.get(RESPONSIBLE_NAME).cloned();
                    sqlx::query(
                        "UPDATE esdh_cases SET state = 'journalised', sagsnummer = $1, ansvarlig = $2, ansvarlig_navn = $3, settled_at = $4 WHERE case_id = $5",
                    )
                    .bind(&number)
                    .bind(&who)
                    .bind(&name)
                    .bind(now)
                    .bind(&case_id)
                    .execute(&mut *tx)
                    .await?;
                    let text = format!(
                        "journalised in the records system as {}, responsible {}",
                        number.as_deref().unwrap_or("(no case number given)"),
                        name.or(who).as_deref().unwrap_or("(not given)")
                    );
                    add_notice(
                        &mut tx,
                        &case_id,
                        "records_journalised",
                        &text,
                        Some(&message_id),
                        now,
                    )
                    .await?;
                }
                MessageState::Dead | MessageState::Discarded => {
                    let why = msg
                        .last_error
                        .clone()
                        .unwrap_or_else(|| format!("{} by an operator", msg.state));
                    sqlx::query(
                        "UPDATE esdh_cases SET state = 'failed', detail = $1, settled_at = $2 WHERE case_id = $3",
                    )
                    .bind(&why)
                    .bind(now)
                    .bind(&case_id)
                    .execute(&mut *tx)
                    .await?;
                }
                _ => continue,
            }
            tx.commit().await?;
            settled += 1;
        }
        Ok(settled)
    }

    /// Applies what the records system tells. Returns what was done (`checked_out`,
    /// `checked_in`, `changed`, `closed`, `unchanged`); an event for no case or document
    /// of ours, or a version whose content does not match its SHA-256, is refused.
    pub async fn apply_records_event(&self, e: &RecordsEvent) -> CaseResult<&'static str> {
        let now = now_ms();
        let actor = Actor::system("system:edoc", "eDoc (the records system)");
        let ctx = Ctx {
            actor: &actor,
            purpose: "the records system's event",
        };
        let mut tx = self.begin().await?;
        let mut case = match crate::cases::load(&mut tx, &e.case_id).await {
            Ok(c) => c,
            Err(CaseError::NotFound { .. }) => {
                return Err(CaseError::invalid(
                    "case_id",
                    format!("event {}: no case {} here", e.event_id, e.case_id),
                ));
            }
            Err(other) => return Err(other),
        };
        let document = || {
            e.document_id.clone().ok_or_else(|| {
                CaseError::invalid(
                    "document_id",
                    format!("event {} ({}) names no document", e.event_id, e.kind),
                )
            })
        };
        let done = match e.kind.as_str() {
            "document_checked_out" | "document_checked_in" => {
                let doc = document()?;
                let out = e.kind == "document_checked_out";
                let changed = sqlx::query(
                    "UPDATE documents SET checked_out_by = $1, checked_out_name = $2, checked_out_at = $3 WHERE id = $4 AND case_id = $5",
                )
                .bind(out.then_some(e.user.id.as_str()))
                .bind(out.then_some(e.user.name.as_str()))
                .bind(out.then_some(now))
                .bind(&doc)
                .bind(&case.id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if changed == 0 {
                    return Err(CaseError::invalid(
                        "document_id",
                        format!(
                            "event {}: case {} has no document {doc}",
                            e.event_id, case.id
                        ),
                    ));
                }
                let text = if out {
                    format!(
                        "document {doc} checked out in the records system by {} ({}); read-only here until it is checked in",
                        e.user.name, e.user.id
                    )
                } else {
                    format!(
                        "document {doc} checked in in the records system by {} ({})",
                        e.user.name, e.user.id
                    )
                };
                add_notice(&mut tx, &case.id, "records_document", &text, None, now).await?;
                if out { "checked_out" } else { "checked_in" }
            }
            "document_changed" => {
                let doc = document()?;
                let v = e.version.as_ref().ok_or_else(|| {
                    CaseError::invalid(
                        "version",
                        format!("event {} (document_changed) carries no version", e.event_id),
                    )
                })?;
                let content =
                    crate::documents::decode_content(&v.content, self.limits.max_document_bytes)
                        .map_err(|err| match err {
                            CaseError::Invalid { detail, .. } => {
                                CaseError::invalid("version.content", detail)
                            }
                            other => other,
                        })?;
                let sha = hex::encode(Sha256::digest(&content));
                if sha != v.sha256 {
                    return Err(CaseError::invalid(
                        "version.sha256",
                        format!(
                            "event {}: the content's SHA-256 is {sha}, the event says {}",
                            e.event_id, v.sha256
                        ),
                    ));
                }
                let (kept, in_files) = self.documents.keep(&sha, &content).await?;
                let changed = sqlx::query(
                    "UPDATE documents SET title = $1, media_type = $2, content = $3, size = $4, sha256 = $5, esdh_version = $6, content_in_files = $10 \
                     WHERE id = $7 AND case_id = $8 AND (esdh_version IS NULL OR esdh_version < $9)",
                )
                .bind(v.title.trim())
                .bind(&v.media_type)
                .bind(kept)
                .bind(content.len() as i64)
                .bind(&sha)
                .bind(v.number)
                .bind(&doc)
                .bind(&case.id)
                .bind(v.number)
                .bind(in_files)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if changed == 0 {
                    if !crate::store::exists(&mut tx, "documents", "id", &doc).await? {
                        return Err(CaseError::invalid(
                            "document_id",
                            format!(
                                "event {}: case {} has no document {doc}",
                                e.event_id, case.id
                            ),
                        ));
                    }
                    "unchanged"
                } else {
                    audit::allowed(
                        &mut tx,
                        &ctx,
                        AuditAction::Write,
                        format!("document/{doc}"),
                        case.cpr.expose(),
                        now,
                    )
                    .await?;
                    let text = format!(
                        "document {doc} changed in the records system by {} ({}): version {}, \"{}\"",
                        e.user.name, e.user.id, v.number, v.title
                    );
                    add_notice(&mut tx, &case.id, "records_document", &text, None, now).await?;
                    "changed"
                }
            }
            "case_closed" => {
                if case.status == CaseStatus::Lukket {
                    "unchanged"
                } else {
                    let note = format!(
                        "closed in the records system ({}) by {} ({})",
                        e.case_number, e.user.name, e.user.id
                    );
                    self.move_status_from(
                        &mut tx,
                        &ctx,
                        &mut case,
                        CaseStatus::Lukket,
                        Some(&note),
                        now,
                        Some(ORIGIN),
                    )
                    .await?;
                    "closed"
                }
            }
            other => {
                return Err(CaseError::invalid(
                    "kind",
                    format!(
                        "event {}: {other:?} is not an event the core takes (document_checked_out, document_checked_in, document_changed, case_closed)",
                        e.event_id
                    ),
                ));
            }
        };
        tx.commit().await?;
        self.engine.wake();
        tracing::info!(case_id = %e.case_id, event = %e.event_id, kind = %e.kind, done, "the records system's event applied");
        Ok(done)
    }
}
