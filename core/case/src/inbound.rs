//! Mail that comes in for a case (Digital Post collected by the Afhentningssystem, and
//! later other channels). An inbound route renders what came in as an [`IncomingMail`]
//! and delivers it to the adapter `case-core`, which this module supplies: when the mail
//! names one of our cases, or answers one of our letters, and its sender is that case's
//! citizen, it is journalised on the case as documents (each file one document); else it
//! goes to the operator inbox with the reason. Delivering the same mail twice changes
//! nothing: its documents carry the mail's id.

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use knudepunkt_engine::{Adapter, Delivery, DeliveryOutcome, WeakEngine};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::audit::{self, AuditAction, AuditEntry, AuditOutcome};
use crate::cases::{self, CaseRecord};
use crate::documents::{self, DocumentInfo};
use crate::error::{CaseError, CaseResult};
use crate::events;
use crate::store::{CaseCore, Limits, new_id, now_ms};

/// The adapter name inbound routes deliver to (`deliver.adapter`).
pub const ADAPTER: &str = "case-core";
/// The operator-inbox kind of mail that found no case.
pub const UNMATCHED: &str = "mail.unmatched";
/// Who the case's audit log says journalised mail from `source`.
fn actor(source: &str) -> &'static str {
    match source {
        "MedCom" => "system:medcom",
        _ => "system:afhentning",
    }
}

/// What an inbound route hands the case core.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncomingMail {
    /// The channel, e.g. "Digital Post".
    pub source: String,
    /// The sender's id for the mail (MeMo messageUUID): it is journalised once.
    pub external_id: String,
    pub title: String,
    pub sender: Sender,
    /// Case ids the mail names, most specific first (a reply's caseID, then its own).
    #[serde(default)]
    pub case_refs: Vec<String>,
    /// Ids of our letters it answers (their MeMo messageUUIDs, or the idempotency keys
    /// of our MedCom letters).
    #[serde(default)]
    pub in_reply_to: Vec<String>,
    /// The citizen the mail is about, when its sender is someone else (a hospital's
    /// MedCom letter about its patient): it must be the case's citizen, and with no case
    /// named the citizen's one open case is found by it.
    #[serde(default)]
    pub about_cpr: Option<String>,
    /// The documents' type on the case (default "Indgående post").
    #[serde(default)]
    pub doc_type: Option<String>,
    /// What the mail says about the citizen's hospital stay (MedCom admission and
    /// discharge messages): it updates the stay, and a discharge is told to the case.
    #[serde(default)]
    pub hospital_stay: Option<crate::stays::StayReport>,
    #[serde(default)]
    pub received_at: Option<String>,
    #[serde(default)]
    pub sha256: Option<String>,
    pub files: Vec<IncomingFile>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sender {
    pub id: String,
    /// CPR, CVR, ...
    pub id_type: String,
    #[serde(default)]
    pub label: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncomingFile {
    pub filename: String,
    pub media_type: String,
    /// Base64.
    pub content: String,
    /// `main` or `additional`.
    #[serde(default)]
    pub role: Option<String>,
}

/// Where a mail went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filed {
    Journalised { case_id: String, documents: usize },
    AlreadyJournalised { case_id: String },
    InInbox { reason: String },
}

/// The adapter; it holds the engine weakly (the engine holds it).
pub struct CaseCoreAdapter {
    engine: WeakEngine,
    limits: Limits,
    documents: crate::document_files::DocumentStore,
}

impl CaseCore {
    /// Supplies the `case-core` adapter if the engine's registry kept a place for it.
    pub(crate) fn bind_inbound(&self) {
        self.engine.bind_adapter(Arc::new(CaseCoreAdapter {
            engine: self.engine.downgrade(),
            limits: self.limits.clone(),
            documents: self.documents.clone(),
        }));
    }

    /// Files one incoming mail: on its case, or in the operator inbox.
    pub async fn file_incoming(&self, mail: &IncomingMail, raw: &[u8]) -> CaseResult<Filed> {
        let case = match self.case_of(mail).await? {
            Ok(case) => case,
            Err(reason) => {
                self.journal()
                    .put_in_inbox(
                        UNMATCHED,
                        &mail.external_id,
                        &format!(
                            "{} {} \"{}\": {reason}",
                            mail.source, mail.external_id, mail.title
                        ),
                        raw,
                        "application/json",
                    )
                    .await?;
                tracing::info!(external_id = %mail.external_id, reason = %reason, "incoming mail is in the operator inbox");
                return Ok(Filed::InInbox { reason });
            }
        };
        self.journalise(mail, &case).await
    }

    /// The case the mail belongs to, or why none.
    async fn case_of(&self, mail: &IncomingMail) -> CaseResult<Result<CaseRecord, String>> {
        let mut found = None;
        for id in &mail.case_refs {
            // A case id may come without its hyphens (MedCom's EpisodeOfCareIdentifier
            // has room for 35 characters, not 36).
            let id = uuid::Uuid::parse_str(id)
                .map(|u| u.hyphenated().to_string())
                .unwrap_or_else(|_| id.clone());
            match self.load_case(&id).await {
                Ok(case) => {
                    found = Some(case);
                    break;
                }
                Err(CaseError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        if found.is_none() {
            for uuid in &mail.in_reply_to {
                if let Some(case_id) = self.case_of_letter(uuid).await? {
                    found = Some(self.load_case(&case_id).await?);
                    break;
                }
            }
        }
        let about = match &mail.about_cpr {
            None => None,
            Some(c) => match crate::Cpr::parse(c) {
                Ok(cpr) => Some(cpr),
                Err(_) => {
                    return Ok(Err(
                        "the citizen it is about has no valid CPR number".to_string()
                    ));
                }
            },
        };
        if found.is_none()
            && let Some(cpr) = &about
        {
            let open = self.open_cases_of(cpr).await?;
            match open.len() {
                0 => {
                    return Ok(Err(format!(
                        "it names no case of ours, and the citizen {cpr} has no open case"
                    )));
                }
                1 => found = open.into_iter().next(),
                n => {
                    return Ok(Err(format!(
                        "it names no case of ours, and the citizen {cpr} has {n} open cases: an operator chooses"
                    )));
                }
            }
        }
        let Some(case) = found else {
            return Ok(Err(
                if mail.case_refs.is_empty() && mail.in_reply_to.is_empty() {
                    "it names no case and answers no letter".to_string()
                } else {
                    "it names no case of ours and answers no letter of ours".to_string()
                },
            ));
        };
        if let Some(cpr) = &about
            && *cpr != case.cpr
        {
            return Ok(Err(format!(
                "it refers to case {} but is about another citizen",
                case.id
            )));
        }
        if mail.sender.id_type.eq_ignore_ascii_case("CPR")
            && crate::Cpr::parse(&mail.sender.id)
                .map(|c| c != case.cpr)
                .unwrap_or(true)
        {
            return Ok(Err(format!(
                "it refers to case {} but its sender is not that case's citizen",
                case.id
            )));
        }
        Ok(Ok(case))
    }

    /// The citizen's cases that are not closed.
    async fn open_cases_of(&self, cpr: &crate::Cpr) -> CaseResult<Vec<CaseRecord>> {
        let mut conn = self.journal().reader().acquire().await?;
        cases::open_of(&mut conn, cpr).await
    }

    async fn load_case(&self, id: &str) -> CaseResult<CaseRecord> {
        let mut conn = self.journal().reader().acquire().await?;
        cases::load(&mut conn, id).await
    }

    /// The case of the letter whose MeMo messageUUID is `uuid` (its idempotency key on
    /// one of the routes the core's letters go by). No connection is held while the
    /// journal looks (SQLite's pool has one).
    async fn case_of_letter(&self, uuid: &str) -> CaseResult<Option<String>> {
        for route in self.engine.routes().for_event(events::LETTER_REQUESTED) {
            let Some(id) = self.journal().find_by_key(&route.id, uuid).await? else {
                continue;
            };
            let mut conn = self.journal().pool().acquire().await?;
            let case: Option<String> =
                sqlx::query("SELECT case_id FROM letters WHERE message_id = $1")
                    .bind(id.to_string())
                    .fetch_optional(&mut *conn)
                    .await?
                    .map(|r| r.try_get("case_id"))
                    .transpose()?;
            if case.is_some() {
                return Ok(case);
            }
        }
        Ok(None)
    }

    /// Updates the citizen's hospital stay; a discharge, or a discharge planned, is told
    /// to the unit owning the case (a notice) and published as `citizen.discharged`.
    async fn record_stay(
        &self,
        tx: &mut sqlx::AnyConnection,
        case: &CaseRecord,
        report: &crate::stays::StayReport,
        now: i64,
    ) -> CaseResult<()> {
        let applied = crate::stays::apply(tx, &case.cpr, report, now).await?;
        let stay = applied.stay;
        let hospital = stay
            .hospital
            .clone()
            .unwrap_or_else(|| stay.hospital_ean.clone());
        // Told once: when this report ended the stay.
        if let Some(at) = report.discharged_at.as_ref().filter(|_| applied.ended_now) {
            crate::letters::add_notice(
                tx,
                &case.id,
                "discharged",
                &format!("Udskrevet fra {hospital} {at} (enhed {})", case.org_unit_id),
                None,
                now,
            )
            .await?;
            let mut body = case.event();
            body["stay"] = serde_json::to_value(&stay).unwrap_or_default();
            events::publish(&self.engine, tx, events::CITIZEN_DISCHARGED, body).await?;
        } else if let Some(at) = report
            .planned_discharge
            .as_ref()
            .filter(|_| report.discharged_at.is_none())
        {
            crate::letters::add_notice(
                tx,
                &case.id,
                "discharge_planned",
                &format!(
                    "Færdigbehandlet på {hospital}; udskrivning planlagt {at} (enhed {})",
                    case.org_unit_id
                ),
                None,
                now,
            )
            .await?;
        }
        Ok(())
    }

    async fn journalise(&self, mail: &IncomingMail, case: &CaseRecord) -> CaseResult<Filed> {
        if mail.files.is_empty() {
            return Err(CaseError::invalid("files", "the mail has no files"));
        }
        let decoded: Vec<Vec<u8>> = mail
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| {
                base64::engine::general_purpose::STANDARD
                    .decode(f.content.trim())
                    .map_err(|e| {
                        CaseError::invalid(
                            &format!("files[{i}].content"),
                            format!("not base64: {e}"),
                        )
                    })
                    .and_then(|b| {
                        if b.len() > self.limits.max_document_bytes {
                            Err(CaseError::TooLarge {
                                field: format!("files[{i}].content"),
                                limit: self.limits.max_document_bytes,
                                actual: b.len(),
                            })
                        } else {
                            Ok(b)
                        }
                    })
            })
            .collect::<CaseResult<_>>()?;
        let mut tx = self.begin().await?;
        let now = now_ms();
        let today = chrono::Utc::now()
            .with_timezone(&chrono_tz::Europe::Copenhagen)
            .date_naive()
            .format("%Y-%m-%d")
            .to_string();
        let docs: Vec<(DocumentInfo, documents::Content<'_>, Option<String>)> = mail
            .files
            .iter()
            .zip(&decoded)
            .enumerate()
            .map(|(i, (file, content))| {
                let doc = DocumentInfo {
                    id: new_id(),
                    case_id: case.id.clone(),
                    title: if mail.files.len() == 1 {
                        mail.title.clone()
                    } else {
                        format!("{} ({})", mail.title, file.filename)
                    },
                    doc_type: mail
                        .doc_type
                        .clone()
                        .unwrap_or_else(|| "Indgående post".into()),
                    media_type: file.media_type.clone(),
                    size: content.len() as i64,
                    sha256: hex::encode(Sha256::digest(content)),
                    journal_date: today.clone(),
                    confidential: false,
                    created_by: actor(&mail.source).into(),
                    created_at: now,
                    checked_out: None,
                };
                let external_ref = format!("{}#{}", mail.external_id, i + 1);
                (doc, documents::Content::Bytes(content), Some(external_ref))
            })
            .collect();
        // One statement for the documents and one for their audit lines. A mail taken
        // before meets the documents' unique external reference: nothing is added.
        match documents::insert_many(&mut tx, &self.documents, &docs).await {
            Ok(()) => {}
            Err(CaseError::Store(sqlx::Error::Database(e))) if e.is_unique_violation() => {
                tx.rollback().await?;
                return Ok(Filed::AlreadyJournalised {
                    case_id: case.id.clone(),
                });
            }
            Err(e) => return Err(e),
        }
        let resources: Vec<String> = docs
            .iter()
            .map(|(doc, _, _)| format!("document/{}", doc.id))
            .collect();
        let entries: Vec<AuditEntry<'_>> = resources
            .iter()
            .map(|resource| AuditEntry {
                actor: actor(&mail.source),
                action: AuditAction::Write,
                resource: resource.clone(),
                cpr: Some(case.cpr.expose()),
                purpose: "journalising incoming mail",
                outcome: AuditOutcome::Allowed,
            })
            .collect();
        audit::append_many(&mut tx, &entries, now).await?;
        for ((doc, _, _), content) in docs.iter().zip(&decoded) {
            let mut body = case.event();
            body["document"] = serde_json::to_value(doc).unwrap_or_default();
            body["source"] = mail.source.clone().into();
            events::publish_document(&self.engine, &mut tx, body, Some(content)).await?;
        }
        let from = if mail.sender.id_type.eq_ignore_ascii_case("CPR") {
            "the citizen".to_string()
        } else {
            mail.sender
                .label
                .clone()
                .unwrap_or_else(|| mail.sender.id.clone())
        };
        crate::letters::add_notice(
            &mut tx,
            &case.id,
            "mail_received",
            &format!(
                "mail from {from} by {} journalised: \"{}\" ({} document(s))",
                mail.source,
                mail.title,
                mail.files.len()
            ),
            None,
            now,
        )
        .await?;
        if let Some(report) = &mail.hospital_stay {
            self.record_stay(&mut tx, case, report, now).await?;
        }
        tx.commit().await?;
        self.engine.wake();
        tracing::info!(case_id = %case.id, external_id = %mail.external_id, documents = mail.files.len(), "incoming mail journalised on its case");
        Ok(Filed::Journalised {
            case_id: case.id.clone(),
            documents: mail.files.len(),
        })
    }
}

#[async_trait]
impl Adapter for CaseCoreAdapter {
    fn name(&self) -> &'static str {
        ADAPTER
    }

    async fn deliver(&self, d: &Delivery<'_>) -> DeliveryOutcome {
        let Some(engine) = self.engine.upgrade() else {
            return DeliveryOutcome::Transient {
                error: "the engine is shutting down".into(),
                retry_after: None,
            };
        };
        let core = CaseCore::attached(engine, self.limits.clone(), self.documents.clone());
        match d.route.adapter_options.get("action").map(String::as_str) {
            None | Some("file") => {}
            Some("admission") => return admission(&core, d).await,
            Some("cpr_change") => return cpr_change(&core, d).await,
            Some("report_status") => return report_status(&core, d).await,
            Some("records_event") => return records_event(&core, d).await,
            Some(other) => {
                return DeliveryOutcome::Permanent {
                    error: format!(
                        "route {}: the case core has no action {other:?} (file, admission, cpr_change, report_status, records_event)",
                        d.route.id
                    ),
                    reply: None,
                };
            }
        }
        let mail: IncomingMail = match parse(d) {
            Ok(m) => m,
            Err(outcome) => return outcome,
        };
        let filed = core
            .file_incoming(&mail, d.payload)
            .await
            .map(|filed| match filed {
                Filed::Journalised { case_id, .. } | Filed::AlreadyJournalised { case_id } => {
                    ("case_id", case_id)
                }
                Filed::InInbox { .. } => ("operator_inbox", UNMATCHED.to_string()),
            });
        delivered(d, filed)
    }
}

/// The outcome of handling a delivery: delivered with what was done as an external id,
/// or refused for good (bad input), or to be tried again.
fn delivered(d: &Delivery<'_>, done: CaseResult<(&str, String)>) -> DeliveryOutcome {
    match done {
        Ok((key, value)) => DeliveryOutcome::Delivered {
            reply: None,
            external_ids: [(key.to_string(), value)].into_iter().collect(),
        },
        Err(e @ (CaseError::Invalid { .. } | CaseError::TooLarge { .. })) => {
            DeliveryOutcome::Permanent {
                error: format!("message {}: {e}", d.message_id),
                reply: None,
            }
        }
        Err(e) => DeliveryOutcome::Transient {
            error: e.to_string(),
            retry_after: None,
        },
    }
}

/// The route's payload as `T`, or a permanent failure naming where it is wrong.
fn parse<T: serde::de::DeserializeOwned>(d: &Delivery<'_>) -> Result<T, DeliveryOutcome> {
    let de = &mut serde_json::Deserializer::from_slice(d.payload);
    serde_path_to_error::deserialize(de).map_err(|e| DeliveryOutcome::Permanent {
        error: format!(
            "message {}: not what the case core takes at {}: {}",
            d.message_id,
            e.path(),
            e.inner()
        ),
        reply: None,
    })
}

/// A status for a report submission from its receiver. One that comes after a later one
/// (the receiver's messages crossing) changes nothing.
async fn report_status(core: &CaseCore, d: &Delivery<'_>) -> DeliveryOutcome {
    use crate::reporting::submissions::{ReceiverStatus, State};
    let status: ReceiverStatus = match parse(d) {
        Ok(s) => s,
        Err(outcome) => return outcome,
    };
    let Some(state) = State::parse(&status.state).filter(|s| *s >= State::Delivered) else {
        return DeliveryOutcome::Permanent {
            error: format!(
                "message {}: state {:?} is not one a receiver reports (delivered, received, accepted, rejected)",
                d.message_id, status.state
            ),
            reply: None,
        };
    };
    let done = core
        .record_submission_status(
            &status.submission_id,
            state,
            &status.by,
            status.receipt_id.as_deref(),
            status.reason.as_deref(),
        )
        .await;
    let done = match done {
        Ok(s) => Ok(("submission_state", s.state.as_str().to_string())),
        Err(CaseError::Conflict { detail, .. }) => {
            tracing::info!(submission = %status.submission_id, %detail, "a receiver's status came after a later one; nothing changed");
            Ok(("submission_state", "unchanged".to_string()))
        }
        Err(CaseError::NotFound { what, id }) => Err(CaseError::invalid(
            "submission_id",
            format!("no {what} {id}"),
        )),
        Err(e) => Err(e),
    };
    delivered(d, done)
}

/// What the records system (eDoc) tells: a document checked out, in or changed, a case
/// closed.
async fn records_event(core: &CaseCore, d: &Delivery<'_>) -> DeliveryOutcome {
    let event: crate::esdh::RecordsEvent = match parse(d) {
        Ok(e) => e,
        Err(outcome) => return outcome,
    };
    let done = core
        .apply_records_event(&event)
        .await
        .map(|what| ("records", what.to_string()));
    delivered(d, done)
}

/// A change to a citizen from CPR: the citizen refreshed, if ours.
async fn cpr_change(core: &CaseCore, d: &Delivery<'_>) -> DeliveryOutcome {
    use crate::citizen_changes::{CprChange, CprChangeOutcome};
    let change: CprChange = match parse(d) {
        Ok(c) => c,
        Err(outcome) => return outcome,
    };
    let done = core.apply_cpr_change(&change).await.map(|o| {
        let what = match o {
            CprChangeOutcome::Refreshed => "refreshed",
            CprChangeOutcome::NotOurs => "not_ours",
        };
        ("citizen", what.to_string())
    });
    delivered(d, done)
}

/// An admission notice: a report to the hospital, or a task for the caseworker.
async fn admission(core: &CaseCore, d: &Delivery<'_>) -> DeliveryOutcome {
    use crate::admission::{AdmissionNotice, AdmissionOutcome};
    let notice: AdmissionNotice = match parse(d) {
        Ok(n) => n,
        Err(outcome) => return outcome,
    };
    let taken = core
        .take_admission(&notice, d.payload)
        .await
        .map(|outcome| {
            let what = match outcome {
                AdmissionOutcome::ReportRequested { .. } => "report_requested",
                AdmissionOutcome::TaskRaised { .. } => "task_raised",
                AdmissionOutcome::AlreadyHandled => "already_handled",
                AdmissionOutcome::InInbox { .. } => "operator_inbox",
            };
            ("admission", what.to_string())
        });
    delivered(d, taken)
}
