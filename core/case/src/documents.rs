//! Documents (Dokument) on a case: content bytes with their SHA-256.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};

use crate::access::has_case_grant;
use crate::audit::{self, AuditAction};
use crate::document_files::DocumentStore;
use crate::error::{CaseError, CaseResult};
use crate::events;
use crate::store::{CaseCore, Ctx, flag, new_id, now_ms, parse_date, required};

/// A document's metadata (its content is fetched on its own).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DocumentInfo {
    pub id: String,
    pub case_id: String,
    pub title: String,
    pub doc_type: String,
    pub media_type: String,
    pub size: i64,
    /// Hex SHA-256 of the content, taken when it was added.
    pub sha256: String,
    /// YYYY-MM-DD.
    pub journal_date: String,
    pub confidential: bool,
    pub created_by: String,
    pub created_at: i64,
    /// Checked out in the records system: read-only here until it is checked in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked_out: Option<crate::esdh::CheckedOut>,
}

/// A document to add. `content` is base64.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDocument {
    pub title: String,
    pub doc_type: String,
    #[serde(default = "default_media_type")]
    pub media_type: String,
    pub content: String,
    /// YYYY-MM-DD; today if absent.
    #[serde(default)]
    pub journal_date: Option<String>,
    #[serde(default)]
    pub confidential: bool,
}

fn default_media_type() -> String {
    "application/pdf".into()
}

/// The columns a new document is written with.
const NEW_COLUMNS: &str = "id, case_id, title, doc_type, media_type, size, sha256, journal_date, confidential, created_by, created_at";
/// The columns a document's metadata is read from: those, and who holds it checked out.
const INFO_COLUMNS: &str = "id, case_id, title, doc_type, media_type, size, sha256, journal_date, confidential, created_by, created_at, checked_out_by, checked_out_name, checked_out_at";

fn info_from_row(r: &sqlx::any::AnyRow) -> CaseResult<DocumentInfo> {
    Ok(DocumentInfo {
        id: r.try_get("id")?,
        case_id: r.try_get("case_id")?,
        title: r.try_get("title")?,
        doc_type: r.try_get("doc_type")?,
        media_type: r.try_get("media_type")?,
        size: r.try_get("size")?,
        sha256: r.try_get("sha256")?,
        journal_date: r.try_get("journal_date")?,
        confidential: flag(r, "confidential")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        checked_out: crate::esdh::checked_out_from_row(r)?,
    })
}

/// The documents of a case, without the confidential ones unless `confidential`.
pub(crate) async fn of_case(
    conn: &mut AnyConnection,
    case_id: &str,
    confidential: bool,
) -> CaseResult<Vec<DocumentInfo>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {INFO_COLUMNS} FROM documents WHERE case_id = $1 ORDER BY created_at, id"
    )))
    .bind(case_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(info_from_row)
        .filter(|d| confidential || d.as_ref().map(|d| !d.confidential).unwrap_or(true))
        .collect()
}

/// Decodes and checks a new document's content against the size limit.
pub(crate) fn decode_content(content: &str, limit: usize) -> CaseResult<Vec<u8>> {
    // Base64 is 4 characters per 3 bytes: refuse before decoding what cannot fit.
    let estimate = content.len() / 4 * 3;
    if estimate > limit + 3 {
        return Err(CaseError::TooLarge {
            field: "content".into(),
            limit,
            actual: estimate,
        });
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(content.trim())
        .map_err(|e| CaseError::invalid("content", format!("not base64: {e}")))?;
    if bytes.len() > limit {
        return Err(CaseError::TooLarge {
            field: "content".into(),
            limit,
            actual: bytes.len(),
        });
    }
    if bytes.is_empty() {
        return Err(CaseError::invalid("content", "must not be empty"));
    }
    Ok(bytes)
}

impl CaseCore {
    /// Adds a document to a case; publishes `document.added` (without the content).
    pub async fn add_document(
        &self,
        ctx: &Ctx<'_>,
        case_id: &str,
        new: &NewDocument,
    ) -> CaseResult<DocumentInfo> {
        required("title", &new.title)?;
        required("doc_type", &new.doc_type)?;
        required("media_type", &new.media_type)?;
        let content = decode_content(&new.content, self.limits.max_document_bytes)?;
        let journal_date = match &new.journal_date {
            Some(d) => parse_date("journal_date", d)?,
            None => chrono::Utc::now().date_naive(),
        };
        let (mut tx, case) = self.begin_on_case(ctx, case_id, "documents").await?;
        let now = now_ms();
        let doc = DocumentInfo {
            id: new_id(),
            case_id: case.id.clone(),
            title: new.title.trim().to_string(),
            doc_type: new.doc_type.trim().to_string(),
            media_type: new.media_type.trim().to_string(),
            size: content.len() as i64,
            sha256: hex::encode(Sha256::digest(&content)),
            journal_date: journal_date.format("%Y-%m-%d").to_string(),
            confidential: new.confidential,
            created_by: ctx.actor.user_id.clone(),
            created_at: now,
            checked_out: None,
        };
        insert(
            &mut tx,
            &self.documents,
            &doc,
            Content::Bytes(&content),
            None,
        )
        .await?;
        audit::allowed(
            &mut tx,
            ctx,
            AuditAction::Write,
            format!("document/{}", doc.id),
            case.cpr.expose(),
            now,
        )
        .await?;
        let mut body = case.event();
        body["confidential"] = (case.confidential || doc.confidential).into();
        body["document"] = serde_json::to_value(&doc).unwrap_or_default();
        events::publish_document(&self.engine, &mut tx, body, Some(&content)).await?;
        tx.commit().await?;
        self.engine.wake();
        Ok(doc)
    }

    /// Marks a document confidential, or no longer; publishes `document.updated` with
    /// `was_confidential`, so that the index drops it or takes it.
    pub async fn set_document_confidential(
        &self,
        ctx: &Ctx<'_>,
        id: &str,
        confidential: bool,
    ) -> CaseResult<DocumentInfo> {
        let case_id = {
            let mut conn = self.journal().pool().acquire().await?;
            sqlx::query("SELECT case_id FROM documents WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?
                .ok_or_else(|| CaseError::not_found("document", id))?
                .try_get::<String, _>("case_id")?
        };
        let (mut tx, case) = self.begin_on_case(ctx, &case_id, "documents").await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INFO_COLUMNS} FROM documents WHERE id = $1"
        )))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let mut doc = info_from_row(&row)?;
        if let Some(held) = &doc.checked_out {
            return Err(CaseError::Conflict {
                field: "document".into(),
                detail: format!(
                    "document {id} is checked out in the records system by {} ({}); it is read-only until it is checked in",
                    held.by_name, held.by
                ),
            });
        }
        let was_confidential = doc.confidential;
        if was_confidential && !has_case_grant(&mut tx, &case.id, &ctx.actor.user_id).await? {
            drop(tx);
            return Err(self
                .refuse(
                    ctx,
                    AuditAction::Write,
                    format!("document/{id}"),
                    Some(case.cpr.expose()),
                    format!("user {} has no access to document {id}", ctx.actor.user_id),
                )
                .await);
        }
        doc.confidential = confidential;
        let now = now_ms();
        sqlx::query("UPDATE documents SET confidential = $1 WHERE id = $2")
            .bind(confidential as i64)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        audit::allowed(
            &mut tx,
            ctx,
            AuditAction::Write,
            format!("document/{id}"),
            case.cpr.expose(),
            now,
        )
        .await?;
        let mut body = case.event();
        body["confidential"] = (case.confidential || doc.confidential).into();
        body["was_confidential"] = (case.confidential || was_confidential).into();
        body["document"] = serde_json::to_value(&doc).unwrap_or_default();
        events::publish(&self.engine, &mut tx, events::DOCUMENT_UPDATED, body).await?;
        tx.commit().await?;
        self.engine.wake();
        Ok(doc)
    }

    /// A document's content, checked against its SHA-256 before it is handed out.
    pub async fn document_content(
        &self,
        ctx: &Ctx<'_>,
        id: &str,
    ) -> CaseResult<(DocumentInfo, Vec<u8>)> {
        let mut conn = self.journal().pool().acquire().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INFO_COLUMNS}, content, content_in_files FROM documents WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| CaseError::not_found("document", id))?;
        let info = info_from_row(&row)?;
        let case = crate::cases::load(&mut conn, &info.case_id).await?;
        let allowed = self.may_access(&mut conn, ctx, &case).await?
            && (!info.confidential
                || has_case_grant(&mut conn, &case.id, &ctx.actor.user_id).await?);
        if !allowed {
            drop(conn);
            return Err(self
                .refuse(
                    ctx,
                    AuditAction::Read,
                    format!("document/{id}"),
                    Some(case.cpr.expose()),
                    format!("user {} has no access to document {id}", ctx.actor.user_id),
                )
                .await);
        }
        let content = self.documents.load(id, &row).await?;
        audit::allowed(
            &mut conn,
            ctx,
            AuditAction::Read,
            format!("document/{id}"),
            case.cpr.expose(),
            now_ms(),
        )
        .await?;
        Ok((info, content))
    }
}

/// Writes a document; `external_ref` is the id of what it came in as (a mail's id and
/// the file's number), unique, so that it is journalised once.
pub(crate) async fn insert(
    conn: &mut AnyConnection,
    store: &DocumentStore,
    doc: &DocumentInfo,
    content: Content<'_>,
    external_ref: Option<&str>,
) -> CaseResult<()> {
    insert_many(
        conn,
        store,
        &[(doc.clone(), content, external_ref.map(str::to_string))],
    )
    .await
}

/// A new document's content: its bytes, or a file already kept in the document files
/// under the document's SHA-256.
#[derive(Clone, Copy)]
pub(crate) enum Content<'a> {
    Bytes(&'a [u8]),
    InFiles,
}

/// Inserts several documents in one statement (an incoming mail's files); their
/// contents are kept where `store` keeps them first.
pub(crate) async fn insert_many(
    conn: &mut AnyConnection,
    store: &DocumentStore,
    docs: &[(DocumentInfo, Content<'_>, Option<String>)],
) -> CaseResult<()> {
    if docs.is_empty() {
        return Ok(());
    }
    let mut kept = Vec::with_capacity(docs.len());
    for (doc, content, _) in docs {
        kept.push(match content {
            Content::Bytes(b) => store.keep(&doc.sha256, b).await?,
            Content::InFiles => (Vec::new(), 1),
        });
    }
    let rows: Vec<String> = (0..docs.len())
        .map(|r| {
            let cols: Vec<String> = (1..=14).map(|c| format!("${}", r * 14 + c)).collect();
            format!("({})", cols.join(", "))
        })
        .collect();
    let sql = format!(
        "INSERT INTO documents ({NEW_COLUMNS}, content, content_in_files, external_ref) VALUES {}",
        rows.join(", ")
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for ((doc, _, external_ref), (content, in_files)) in docs.iter().zip(kept) {
        q = q
            .bind(&doc.id)
            .bind(&doc.case_id)
            .bind(&doc.title)
            .bind(&doc.doc_type)
            .bind(&doc.media_type)
            .bind(doc.size)
            .bind(&doc.sha256)
            .bind(&doc.journal_date)
            .bind(doc.confidential as i64)
            .bind(&doc.created_by)
            .bind(doc.created_at)
            .bind(content)
            .bind(in_files)
            .bind(external_ref.clone());
    }
    q.execute(&mut *conn).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_must_be_base64_within_the_limit() {
        assert_eq!(decode_content("aGVq", 10).unwrap(), b"hej");
        assert!(matches!(
            decode_content("aGVq", 2),
            Err(CaseError::TooLarge { field, .. }) if field == "content"
        ));
        assert!(matches!(
            decode_content(&"A".repeat(4000), 100),
            Err(CaseError::TooLarge { .. })
        ));
        assert!(
            matches!(decode_content("***", 10), Err(CaseError::Invalid { field, .. }) if field == "content")
        );
    }
}
