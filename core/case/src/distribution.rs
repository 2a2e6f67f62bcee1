//! Sending a case document to another authority's system through the
//! Fordelingskomponent (SF2900). The caseworker names the authority (its CVR) and either
//! the receiving system or the KLE emne it is routed by (default the case's); the core
//! publishes `document.distribution_requested` with the document and the distribution's
//! id, in one transaction with the audit record of the disclosure. The route checks the
//! recipient, sends, and the receiving system's receipt settles the delivery; a refusal
//! shows on the case as a failed delivery.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::access::has_case_grant;
use crate::audit::{self, AuditAction};
use crate::documents::DocumentInfo;
use crate::error::{CaseError, CaseResult};
use crate::events;
use crate::kle::{ActionFacet, KleNumber};
use crate::store::{CaseCore, Ctx, new_id, now_ms};

/// SF2900's Dokumenttype (DistributionServiceTypesV2.xsd).
pub const DOKUMENTTYPER: [&str; 8] = [
    "Faktura",
    "Brev",
    "Notat",
    "Rapport",
    "Dagsorden",
    "Refereat",
    "eMail",
    "Anden",
];

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDistribution {
    /// The receiving authority's CVR number (8 digits).
    pub to_cvr: String,
    /// The receiving system's UUID, when it is known; otherwise the authority's system
    /// for the KLE emne gets the document.
    #[serde(default)]
    pub recipient_system: Option<String>,
    /// The KLE emne to route by (default the case's).
    #[serde(default)]
    pub kle: Option<String>,
    /// The handling facet to route by (default the case's).
    #[serde(default)]
    pub action_facet: Option<String>,
    /// SF2900's Dokumenttype: Faktura, Brev, Notat, Rapport, Dagsorden, Refereat, eMail
    /// or Anden (the default).
    #[serde(default)]
    pub dokumenttype: Option<String>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SentDistribution {
    /// The distribution's id: its AnvenderTransaktionsID at the Fordelingskomponent.
    pub id: String,
    pub document: DocumentInfo,
    /// The journal message that carries it (its delivery can be followed there).
    pub message_id: Option<String>,
}

/// A request, checked and normalised.
#[derive(Debug)]
struct Checked {
    system: Option<String>,
    kle: Option<String>,
    facet: Option<String>,
    dokumenttype: String,
}

fn check(new: &NewDistribution) -> CaseResult<Checked> {
    if new.to_cvr.len() != 8 || !new.to_cvr.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CaseError::invalid("to_cvr", "a CVR number is 8 digits"));
    }
    let system = new
        .recipient_system
        .as_deref()
        .map(|s| {
            uuid::Uuid::parse_str(s.trim())
                .map(|u| u.to_string())
                .map_err(|_| CaseError::invalid("recipient_system", "not a UUID"))
        })
        .transpose()?;
    let kle = new
        .kle
        .as_deref()
        .map(|k| {
            KleNumber::parse(k)
                .map(|k| k.as_str().to_string())
                .map_err(|e| CaseError::invalid("kle", e.to_string()))
        })
        .transpose()?;
    let facet = new
        .action_facet
        .as_deref()
        .map(|f| {
            ActionFacet::parse(f)
                .map(|f| f.as_str().to_string())
                .map_err(|e| CaseError::invalid("action_facet", e.to_string()))
        })
        .transpose()?;
    let dokumenttype = new.dokumenttype.clone().unwrap_or_else(|| "Anden".into());
    if !DOKUMENTTYPER.contains(&dokumenttype.as_str()) {
        return Err(CaseError::invalid(
            "dokumenttype",
            format!("one of {}", DOKUMENTTYPER.join(", ")),
        ));
    }
    Ok(Checked {
        system,
        kle,
        facet,
        dokumenttype,
    })
}

/// The file name the document is known by on the SFTP server and at the receiver: the
/// distribution's id (names are unique there), its title made safe, and the extension
/// its media type has.
fn file_name(distribution: &str, doc: &DocumentInfo) -> String {
    let stem: String = doc
        .title
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    let ext = match doc.media_type.split(';').next().unwrap_or("").trim() {
        "application/pdf" => "pdf",
        "text/plain" => "txt",
        "text/html" => "html",
        "application/xml" | "text/xml" => "xml",
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/tiff" => "tif",
        _ => "bin",
    };
    format!("{distribution}_{}.{ext}", stem.trim())
}

impl CaseCore {
    /// Sends document `document_id` to another authority through the
    /// Fordelingskomponent. Refused when no route in this environment distributes
    /// documents (nothing is written then).
    pub async fn distribute_document(
        &self,
        ctx: &Ctx<'_>,
        document_id: &str,
        new: &NewDistribution,
    ) -> CaseResult<SentDistribution> {
        let Checked {
            system,
            kle,
            facet,
            dokumenttype,
        } = check(new)?;
        let case_id = {
            let mut conn = self.journal().pool().acquire().await?;
            sqlx::query("SELECT case_id FROM documents WHERE id = $1")
                .bind(document_id)
                .fetch_optional(&mut *conn)
                .await?
                .ok_or_else(|| CaseError::not_found("document", document_id))?
                .try_get::<String, _>("case_id")?
        };
        let (mut tx, case) = self.begin_on_case(ctx, &case_id, "distribution").await?;
        let doc = crate::documents::of_case(&mut tx, &case.id, true)
            .await?
            .into_iter()
            .find(|d| d.id == document_id)
            .ok_or_else(|| CaseError::not_found("document", document_id))?;
        if (doc.confidential || case.confidential)
            && !has_case_grant(&mut tx, &case.id, &ctx.actor.user_id).await?
        {
            drop(tx);
            return Err(self
                .refuse(
                    ctx,
                    AuditAction::Read,
                    format!("document/{document_id}"),
                    Some(case.cpr.expose()),
                    format!(
                        "user {} has no access to document {document_id}",
                        ctx.actor.user_id
                    ),
                )
                .await);
        }
        let row =
            sqlx::query("SELECT content, content_in_files, sha256 FROM documents WHERE id = $1")
                .bind(document_id)
                .fetch_one(&mut *tx)
                .await?;
        let content = self.documents.load(document_id, &row).await?;
        let now = now_ms();
        let id = new_id();
        // The document leaves the municipality: a read of it, for the audit trail.
        audit::allowed(
            &mut tx,
            ctx,
            AuditAction::Read,
            format!("document/{document_id}/distribution/{id}"),
            case.cpr.expose(),
            now,
        )
        .await?;
        let mut body = case.event();
        body["document"] = serde_json::to_value(&doc).unwrap_or_default();
        body["distribution"] = serde_json::json!({
            "id": id,
            "to_cvr": new.to_cvr,
            "recipient_system": system,
            "kle": kle.unwrap_or_else(|| case.kle.clone()),
            "action_facet": facet.unwrap_or_else(|| case.action_facet.clone()),
            "dokumenttype": dokumenttype,
            "file_name": file_name(&id, &doc),
            "sent_by": ctx.actor.user_id,
        });
        // The file itself: the route writes it to the Fordelingskomponent's SFTP server.
        body["file"] = serde_json::json!({
            "content": base64::engine::general_purpose::STANDARD.encode(&content),
        });
        let sent =
            events::publish(&self.engine, &mut tx, events::DISTRIBUTION_REQUESTED, body).await?;
        if sent.is_empty() {
            drop(tx);
            return Err(CaseError::Unavailable {
                system: "Fordelingskomponent".into(),
                detail: "no route sends documents to other authorities in this environment".into(),
            });
        }
        tx.commit().await?;
        self.engine.wake();
        tracing::info!(case_id = %case.id, document_id, distribution_id = %id, to_cvr = %new.to_cvr, by = %ctx.actor.user_id, "document sent to another authority");
        Ok(SentDistribution {
            id,
            document: doc,
            message_id: sent.first().map(|(_, m)| m.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(cvr: &str) -> NewDistribution {
        NewDistribution {
            to_cvr: cvr.into(),
            recipient_system: None,
            kle: None,
            action_facet: None,
            dokumenttype: None,
        }
    }

    fn field_of(e: CaseError) -> String {
        match e {
            CaseError::Invalid { field, .. } => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn each_field_is_checked_and_named() {
        assert!(check(&new("11259979")).is_ok());
        assert_eq!(field_of(check(&new("1125997")).unwrap_err()), "to_cvr");
        let mut n = new("11259979");
        n.recipient_system = Some("not-a-uuid".into());
        assert_eq!(field_of(check(&n).unwrap_err()), "recipient_system");
        let mut n = new("11259979");
        n.kle = Some("27.36".into());
        assert_eq!(field_of(check(&n).unwrap_err()), "kle");
        let mut n = new("11259979");
        n.dokumenttype = Some("Ansøgning".into());
        assert_eq!(field_of(check(&n).unwrap_err()), "dokumenttype");
        let mut n = new("11259979");
        n.action_facet = Some("g1".into());
        assert_eq!(field_of(check(&n).unwrap_err()), "action_facet");
    }

    #[test]
    fn the_file_name_is_the_title_made_safe() {
        let doc = DocumentInfo {
            id: "d".into(),
            case_id: "c".into(),
            title: "Handleplan 2026/27: udkast".into(),
            doc_type: "Notat".into(),
            media_type: "application/pdf".into(),
            size: 1,
            sha256: String::new(),
            journal_date: "2026-11-27".into(),
            confidential: false,
            created_by: "u".into(),
            created_at: 0,
            checked_out: None,
        };
        assert_eq!(file_name("d1", &doc), "d1_Handleplan 2026_27_ udkast.pdf");
    }
}
