//! Handlers that answer the same in every API version.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use knudepunkt_engine::problem::{ApiError, Problem};
use serde::Deserialize;

use super::ApiState;
use super::caller::{Authenticated, Caller};
use super::dto::{AccessGrant, EndGrant, StatusChange};
use super::problem::{JsonBody, problem};
use crate::access::Actor;
use crate::audit::AuditLine;
use crate::case_notes::{Deadline, NewDeadline, NewNote, Note};
use crate::catalogue::{Catalogue, NewCatalogue, NewService, Service, ServicePatch};
use crate::consents::{Consent, NewConsent};
use crate::correspondence::{NewCorrespondence, SentCorrespondence};
use crate::decisions::{Decision, NewDecision};
use crate::distribution::{NewDistribution, SentDistribution};
use crate::documents::{DocumentInfo, NewDocument};
use crate::grants::{Grant, GrantChange, NewGrant};
use crate::handover::{Handover, HandoverOutcome, HandoverTarget};
use crate::occupancy::Occupancy;
use crate::plans::{NewPlan, Plan};
use crate::reporting::submissions::{Submission, SubmissionFilter};
use crate::residential::{NewResidentialStay, ResidentialStay};
use crate::treatments::{NewTreatment, Treatment, TreatmentChange};

pub type ApiResult<T> = Result<T, ApiError>;

/// A CPR number in a request body (never in a URL).
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CprQuery {
    /// DDMMYY-SSSS.
    pub cpr: String,
}

pub(super) fn parse_cpr(q: &CprQuery, instance: &str) -> ApiResult<crate::Cpr> {
    crate::citizens::parse_cpr("cpr", &q.cpr).map_err(|e| problem(e, instance))
}

/// The caller, with their job roles.
#[utoipa::path(get, path = "/api/v1/me", tag = "access",
    responses((status = 200, body = Actor), (status = 401, body = Problem)))]
pub async fn me(Authenticated(actor): Authenticated) -> Json<Actor> {
    Json(actor)
}

/// Registers a stay at a shelter or hostel (SEL110) or a women's crisis centre (SEL109).
#[utoipa::path(post, path = "/api/v1/residential-stays", tag = "reports", request_body = NewResidentialStay,
    responses((status = 201, body = ResidentialStay), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn register_residential_stay(
    State(s): State<ApiState>,
    caller: Caller,
    JsonBody(new): JsonBody<NewResidentialStay>,
) -> ApiResult<(StatusCode, Json<ResidentialStay>)> {
    s.core
        .register_residential_stay(&caller.ctx(), &new)
        .await
        .map(|stay| (StatusCode::CREATED, Json(stay)))
        .map_err(|e| problem(e, "/api/v1/residential-stays"))
}

/// Ends a stay: the day the citizen left and where they went.
#[utoipa::path(post, path = "/api/v1/residential-stays/{id}/end", tag = "reports", request_body = StayEnd,
    params(("id" = String, Path, description = "stay id")),
    responses((status = 204), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn end_residential_stay(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(end): JsonBody<StayEnd>,
) -> ApiResult<StatusCode> {
    s.core
        .end_residential_stay(
            &caller.ctx(),
            &id,
            &end.departure,
            end.housing_after.as_deref(),
        )
        .await
        .map(|()| StatusCode::NO_CONTENT)
        .map_err(|e| problem(e, &format!("/api/v1/residential-stays/{id}/end")))
}

/// Registers a drug (SMDB) or alcohol (NAB) treatment course.
#[utoipa::path(post, path = "/api/v1/treatments", tag = "reports", request_body = NewTreatment,
    responses((status = 201, body = Treatment), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn register_treatment(
    State(s): State<ApiState>,
    caller: Caller,
    JsonBody(new): JsonBody<NewTreatment>,
) -> ApiResult<(StatusCode, Json<Treatment>)> {
    s.core
        .register_treatment(&caller.ctx(), &new)
        .await
        .map(|t| (StatusCode::CREATED, Json(t)))
        .map_err(|e| problem(e, "/api/v1/treatments"))
}

/// Records what happened next in a treatment course: offered, started, ended with its reason.
#[utoipa::path(post, path = "/api/v1/treatments/{id}/progress", tag = "reports", request_body = TreatmentChange,
    params(("id" = String, Path, description = "treatment course id")),
    responses((status = 200, body = Treatment), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn change_treatment(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(change): JsonBody<TreatmentChange>,
) -> ApiResult<Json<Treatment>> {
    s.core
        .change_treatment(&caller.ctx(), &id, &change)
        .await
        .map(Json)
        .map_err(|e| problem(e, &format!("/api/v1/treatments/{id}/progress")))
}

/// Occupancy per institution: stays, citizens, nights, average beds occupied, stays
/// running at the period's end.
#[utoipa::path(get, path = "/api/v1/residential-stays/occupancy", tag = "reports",
    params(OccupancyQuery),
    responses((status = 200, body = Vec<Occupancy>), (status = 422, body = Problem)))]
pub async fn occupancy(
    State(s): State<ApiState>,
    Authenticated(_): Authenticated,
    Query(q): Query<OccupancyQuery>,
) -> ApiResult<Json<Vec<Occupancy>>> {
    let instance = "/api/v1/residential-stays/occupancy";
    let period = crate::reporting::Period::parse(&q.period).ok_or_else(|| {
        problem(
            crate::error::CaseError::invalid("period", "a month, YYYY-MM, or a year, YYYY"),
            instance,
        )
    })?;
    s.core
        .occupancy(q.section.as_deref().unwrap_or("SEL110"), period)
        .await
        .map(Json)
        .map_err(|e| problem(e, instance))
}

/// Which stays' occupancy, and when.
#[derive(Clone, Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OccupancyQuery {
    /// A month (YYYY-MM) or a year (YYYY).
    pub period: String,
    /// SEL110 (the default) or SEL109.
    #[serde(default)]
    pub section: Option<String>,
}

/// The end of a residential stay.
#[derive(Clone, Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StayEnd {
    /// YYYY-MM-DD.
    pub departure: String,
    #[serde(default)]
    pub housing_after: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct HandoverFilter {
    /// `preparing`, `imported` or `refused`; all when left out.
    pub state: Option<String>,
}

/// Handovers from the children's authority (DUBU) at 18: the preparation tasks, and
/// what became of each. Every young person listed is audited as read.
#[utoipa::path(get, path = "/api/v1/handovers", tag = "handovers",
    params(HandoverFilter),
    responses((status = 200, body = Vec<Handover>), (status = 403, body = Problem)))]
pub async fn list_handovers(
    State(s): State<ApiState>,
    caller: Caller,
    Query(filter): Query<HandoverFilter>,
) -> ApiResult<Json<Vec<Handover>>> {
    s.core
        .handovers(&caller.ctx(), filter.state.as_deref())
        .await
        .map(Json)
        .map_err(|e| problem(e, "/api/v1/handovers"))
}

/// Imports a young person's handover package from DUBU as an adult case at the given
/// unit, caseworker and KLE: the citizen, the documents, the plan as the starting plan,
/// the services noted. A damaged package is refused whole (422, and DUBU is told why);
/// the same package again changes nothing (200).
#[utoipa::path(post, path = "/api/v1/handovers/{id}/import", tag = "handovers", request_body = HandoverTarget,
    params(("id" = String, Path, description = "DUBU's handover id")),
    responses((status = 201, body = HandoverOutcome), (status = 200, body = HandoverOutcome),
        (status = 409, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)))]
pub async fn import_handover(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(target): JsonBody<HandoverTarget>,
) -> ApiResult<(StatusCode, Json<HandoverOutcome>)> {
    s.core
        .take_handover(&caller.ctx(), &id, &target)
        .await
        .map(|o| {
            let status = match o {
                HandoverOutcome::Imported { .. } => StatusCode::CREATED,
                HandoverOutcome::AlreadyImported { .. } => StatusCode::OK,
            };
            (status, Json(o))
        })
        .map_err(|e| problem(e, &format!("/api/v1/handovers/{id}/import")))
}

/// Statutory report submissions, newest first, by report, period and state.
#[utoipa::path(get, path = "/api/v1/reports/submissions", tag = "reports",
    params(SubmissionFilter),
    responses((status = 200, body = Vec<Submission>), (status = 422, body = Problem)))]
pub async fn list_submissions(
    State(s): State<ApiState>,
    Authenticated(_): Authenticated,
    Query(filter): Query<SubmissionFilter>,
) -> ApiResult<Json<Vec<Submission>>> {
    s.core
        .submissions(&filter)
        .await
        .map(Json)
        .map_err(|e| problem(e, "/api/v1/reports/submissions"))
}

/// One submission with its log (every change of state, by whom, when).
#[utoipa::path(get, path = "/api/v1/reports/submissions/{id}", tag = "reports",
    params(("id" = String, Path, description = "submission id")),
    responses((status = 200, body = Object), (status = 404, body = Problem)))]
pub async fn show_submission(
    State(s): State<ApiState>,
    Authenticated(_): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let (submission, log) = s
        .core
        .submission(&id)
        .await
        .map_err(|e| problem(e, &format!("/api/v1/reports/submissions/{id}")))?;
    Ok(Json(
        serde_json::json!({ "submission": submission, "log": log }),
    ))
}

/// Approves a draft with no findings, as the caller, and sends it on.
#[utoipa::path(post, path = "/api/v1/reports/submissions/{id}/approve", tag = "reports",
    params(("id" = String, Path, description = "submission id")),
    responses((status = 200, body = Submission), (status = 409, body = Problem), (status = 503, body = Problem)))]
pub async fn approve_submission(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Submission>> {
    s.core
        .approve_submission(&caller.ctx(), &id)
        .await
        .map(Json)
        .map_err(|e| problem(e, &format!("/api/v1/reports/submissions/{id}/approve")))
}

/// Where the case and document index's backfill stands (`knudepunkt index backfill`).
#[utoipa::path(get, path = "/api/v1/index/backfill", tag = "index",
    responses((status = 200, body = crate::index::BackfillProgress), (status = 404, body = Problem)))]
pub async fn backfill_progress(
    State(s): State<ApiState>,
    Authenticated(_): Authenticated,
) -> ApiResult<Json<crate::index::BackfillProgress>> {
    let instance = "/api/v1/index/backfill";
    match s.core.backfill_progress().await {
        Ok(Some(p)) => Ok(Json(p)),
        Ok(None) => Err(problem(
            crate::error::CaseError::not_found("backfill", "sagdokindeks"),
            instance,
        )),
        Err(e) => Err(problem(e, instance)),
    }
}

/// Registers a citizen, or refreshes a known one's name and address.
#[utoipa::path(post, path = "/api/v1/citizens", tag = "citizens", request_body = crate::citizens::NewCitizen,
    responses((status = 201, body = super::dto::CitizenV1), (status = 422, body = Problem)))]
pub async fn register_citizen(
    State(s): State<ApiState>,
    caller: Caller,
    JsonBody(new): JsonBody<crate::citizens::NewCitizen>,
) -> ApiResult<(StatusCode, Json<super::dto::CitizenV1>)> {
    let c = s
        .core
        .register_citizen(&caller.ctx(), &new)
        .await
        .map_err(|e| problem(e, "/api/v1/citizens"))?;
    Ok((StatusCode::CREATED, Json((&c).into())))
}

/// Every audit line about a citizen: who read or wrote what, when, and why.
#[utoipa::path(post, path = "/api/v1/citizens/audit", tag = "citizens", request_body = CprQuery,
    responses((status = 200, body = Vec<AuditLine>), (status = 403, body = Problem)))]
pub async fn citizen_audit(
    State(s): State<ApiState>,
    caller: Caller,
    JsonBody(q): JsonBody<CprQuery>,
) -> ApiResult<Json<Vec<AuditLine>>> {
    let at = "/api/v1/citizens/audit";
    let cpr = parse_cpr(&q, at)?;
    // Only someone who may see the citizen may see who else did.
    s.core
        .citizen(&caller.ctx(), &cpr)
        .await
        .map_err(|e| problem(e, at))?;
    s.core
        .audit_of_citizen(&caller.ctx(), &cpr)
        .await
        .map(Json)
        .map_err(|e| problem(e, at))
}

/// Moves a case forward: Opstaaet, Oplyst, Afgjort, Lukket.
#[utoipa::path(post, path = "/api/v1/cases/{id}/status", tag = "cases", request_body = StatusChange,
    params(("id" = String, Path, description = "case id")),
    responses((status = 200, body = super::dto::CaseV1), (status = 409, body = Problem)))]
pub async fn change_status(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(change): JsonBody<StatusChange>,
) -> ApiResult<Json<super::dto::CaseV1>> {
    s.core
        .change_status(&caller.ctx(), &id, change.status, change.note.as_deref())
        .await
        .map(|v| Json(v.into()))
        .map_err(|e| problem(e, &format!("/api/v1/cases/{id}/status")))
}

/// A caseworker's note on a case (it goes to the records system too).
#[utoipa::path(post, path = "/api/v1/cases/{id}/notes", tag = "cases", request_body = NewNote,
    params(("id" = String, Path, description = "case id")),
    responses((status = 201, body = Note), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn add_note(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(new): JsonBody<NewNote>,
) -> ApiResult<(StatusCode, Json<Note>)> {
    s.core
        .add_note(&caller.ctx(), &id, &new)
        .await
        .map(|n| (StatusCode::CREATED, Json(n)))
        .map_err(|e| problem(e, &format!("/api/v1/cases/{id}/notes")))
}

/// A deadline on a case, e.g. a follow-up (it goes to the records system too).
#[utoipa::path(post, path = "/api/v1/cases/{id}/deadlines", tag = "cases", request_body = NewDeadline,
    params(("id" = String, Path, description = "case id")),
    responses((status = 201, body = Deadline), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn add_deadline(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(new): JsonBody<NewDeadline>,
) -> ApiResult<(StatusCode, Json<Deadline>)> {
    s.core
        .add_deadline(&caller.ctx(), &id, &new)
        .await
        .map(|d| (StatusCode::CREATED, Json(d)))
        .map_err(|e| problem(e, &format!("/api/v1/cases/{id}/deadlines")))
}

/// Gives a user an explicit grant on a (confidential) case.
#[utoipa::path(post, path = "/api/v1/cases/{id}/access", tag = "access", request_body = AccessGrant,
    params(("id" = String, Path, description = "case id")),
    responses((status = 204), (status = 403, body = Problem)))]
pub async fn grant_access(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(g): JsonBody<AccessGrant>,
) -> ApiResult<StatusCode> {
    s.core
        .grant_case_access(&caller.ctx(), &id, &g.user_id)
        .await
        .map(|_| StatusCode::NO_CONTENT)
        .map_err(|e| problem(e, &format!("/api/v1/cases/{id}/access")))
}

/// Writes to a GP or hospital unit (MedCom XDIS91) about the case's citizen; the letter
/// is journalised on the case and sent through the VANS access point.
#[utoipa::path(post, path = "/api/v1/cases/{id}/correspondence", tag = "correspondence", request_body = NewCorrespondence,
    params(("id" = String, Path, description = "case id")),
    responses((status = 201, body = SentCorrespondence), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn send_correspondence(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(new): JsonBody<NewCorrespondence>,
) -> ApiResult<(StatusCode, Json<SentCorrespondence>)> {
    s.core
        .send_correspondence(&caller.ctx(), &id, &new)
        .await
        .map(|d| (StatusCode::CREATED, Json(d)))
        .map_err(|e| problem(e, &format!("/api/v1/cases/{id}/correspondence")))
}

/// Sends a document to another authority's system through the Fordelingskomponent
/// (SF2900); the receiving system's receipt settles the delivery.
#[utoipa::path(post, path = "/api/v1/documents/{id}/distribution", tag = "documents", request_body = NewDistribution,
    params(("id" = String, Path, description = "document id")),
    responses((status = 201, body = SentDistribution), (status = 403, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)))]
pub async fn distribute_document(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(new): JsonBody<NewDistribution>,
) -> ApiResult<(StatusCode, Json<SentDistribution>)> {
    s.core
        .distribute_document(&caller.ctx(), &id, &new)
        .await
        .map(|d| (StatusCode::CREATED, Json(d)))
        .map_err(|e| problem(e, &format!("/api/v1/documents/{id}/distribution")))
}

/// Adds a document (content in base64) to a case.
#[utoipa::path(post, path = "/api/v1/cases/{id}/documents", tag = "documents", request_body = NewDocument,
    params(("id" = String, Path, description = "case id")),
    responses((status = 201, body = DocumentInfo), (status = 413, body = Problem), (status = 422, body = Problem)))]
pub async fn add_document(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(new): JsonBody<NewDocument>,
) -> ApiResult<(StatusCode, Json<DocumentInfo>)> {
    s.core
        .add_document(&caller.ctx(), &id, &new)
        .await
        .map(|d| (StatusCode::CREATED, Json(d)))
        .map_err(|e| problem(e, &format!("/api/v1/cases/{id}/documents")))
}

/// What may change on a document.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentPatch {
    /// Confidential documents are shown only to users with a grant on the case, and are
    /// never in the case and document index.
    pub confidential: bool,
}

/// Marks a document confidential, or no longer.
#[utoipa::path(patch, path = "/api/v1/documents/{id}", tag = "documents", request_body = DocumentPatch,
    params(("id" = String, Path, description = "document id")),
    responses((status = 200, body = DocumentInfo), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn update_document(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<DocumentPatch>,
) -> ApiResult<Json<DocumentInfo>> {
    s.core
        .set_document_confidential(&caller.ctx(), &id, patch.confidential)
        .await
        .map(Json)
        .map_err(|e| problem(e, &format!("/api/v1/documents/{id}")))
}

/// A document's content, checked against its SHA-256 (sent back in `Digest`).
#[utoipa::path(get, path = "/api/v1/documents/{id}/content", tag = "documents",
    params(("id" = String, Path, description = "document id")),
    responses((status = 200, description = "the content, in its media type"), (status = 403, body = Problem)))]
pub async fn document_content(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let (info, content) = s
        .core
        .document_content(&caller.ctx(), &id)
        .await
        .map_err(|e| problem(e, &format!("/api/v1/documents/{id}/content")))?;
    let mut resp = content.into_response();
    if let Ok(v) = HeaderValue::from_str(&info.media_type) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("sha-256={}", info.sha256)) {
        resp.headers_mut().insert("x-content-sha256", v);
    }
    Ok(resp)
}

/// Makes a decision; the decision letter is requested unless `send_letter` is false.
#[utoipa::path(post, path = "/api/v1/cases/{id}/decisions", tag = "decisions", request_body = NewDecision,
    params(("id" = String, Path, description = "case id")),
    responses((status = 201, body = Decision), (status = 422, body = Problem)))]
pub async fn make_decision(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(new): JsonBody<NewDecision>,
) -> ApiResult<(StatusCode, Json<Decision>)> {
    s.core
        .make_decision(&caller.ctx(), &id, &new)
        .await
        .map(|d| (StatusCode::CREATED, Json(d)))
        .map_err(|e| problem(e, &format!("/api/v1/cases/{id}/decisions")))
}

/// Grants a service from a catalogue on a case.
#[utoipa::path(post, path = "/api/v1/cases/{id}/grants", tag = "grants", request_body = NewGrant,
    params(("id" = String, Path, description = "case id")),
    responses((status = 201, body = Grant), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_grant(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(new): JsonBody<NewGrant>,
) -> ApiResult<(StatusCode, Json<Grant>)> {
    s.core
        .create_grant(&caller.ctx(), &id, &new)
        .await
        .map(|g| (StatusCode::CREATED, Json(g)))
        .map_err(|e| problem(e, &format!("/api/v1/cases/{id}/grants")))
}

/// Changes a grant's end date, amount, quantity or provider.
#[utoipa::path(patch, path = "/api/v1/grants/{id}", tag = "grants", request_body = GrantChange,
    params(("id" = String, Path, description = "grant id")),
    responses((status = 200, body = Grant), (status = 409, body = Problem)))]
pub async fn change_grant(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(change): JsonBody<GrantChange>,
) -> ApiResult<Json<Grant>> {
    s.core
        .change_grant(&caller.ctx(), &id, &change)
        .await
        .map(Json)
        .map_err(|e| problem(e, &format!("/api/v1/grants/{id}")))
}

/// Ends a grant on a date.
#[utoipa::path(post, path = "/api/v1/grants/{id}/end", tag = "grants", request_body = EndGrant,
    params(("id" = String, Path, description = "grant id")),
    responses((status = 200, body = Grant), (status = 409, body = Problem)))]
pub async fn end_grant(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(end): JsonBody<EndGrant>,
) -> ApiResult<Json<Grant>> {
    s.core
        .end_grant(&caller.ctx(), &id, &end.end_date)
        .await
        .map(Json)
        .map_err(|e| problem(e, &format!("/api/v1/grants/{id}/end")))
}

/// Records a consent on a case.
#[utoipa::path(post, path = "/api/v1/cases/{id}/consents", tag = "consents", request_body = NewConsent,
    params(("id" = String, Path, description = "case id")),
    responses((status = 201, body = Consent), (status = 422, body = Problem)))]
pub async fn give_consent(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(new): JsonBody<NewConsent>,
) -> ApiResult<(StatusCode, Json<Consent>)> {
    s.core
        .give_consent(&caller.ctx(), &id, &new)
        .await
        .map(|c| (StatusCode::CREATED, Json(c)))
        .map_err(|e| problem(e, &format!("/api/v1/cases/{id}/consents")))
}

/// The consents recorded on a case.
#[utoipa::path(get, path = "/api/v1/cases/{id}/consents", tag = "consents",
    params(("id" = String, Path, description = "case id")),
    responses((status = 200, body = Vec<Consent>), (status = 403, body = Problem)))]
pub async fn consents_of_case(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Consent>>> {
    s.core
        .consents_of_case(&caller.ctx(), &id)
        .await
        .map(Json)
        .map_err(|e| problem(e, &format!("/api/v1/cases/{id}/consents")))
}

/// Withdraws a consent.
#[utoipa::path(post, path = "/api/v1/consents/{id}/withdraw", tag = "consents",
    params(("id" = String, Path, description = "consent id")),
    responses((status = 200, body = Consent), (status = 409, body = Problem)))]
pub async fn withdraw_consent(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Consent>> {
    s.core
        .withdraw_consent(&caller.ctx(), &id)
        .await
        .map(Json)
        .map_err(|e| problem(e, &format!("/api/v1/consents/{id}/withdraw")))
}

/// Creates a plan across one or more of a citizen's cases.
#[utoipa::path(post, path = "/api/v1/plans", tag = "plans", request_body = NewPlan,
    responses((status = 201, body = Plan), (status = 422, body = Problem)))]
pub async fn create_plan(
    State(s): State<ApiState>,
    caller: Caller,
    JsonBody(new): JsonBody<NewPlan>,
) -> ApiResult<(StatusCode, Json<Plan>)> {
    s.core
        .create_plan(&caller.ctx(), &new)
        .await
        .map(|p| (StatusCode::CREATED, Json(p)))
        .map_err(|e| problem(e, "/api/v1/plans"))
}

/// The plans a case is part of.
#[utoipa::path(get, path = "/api/v1/cases/{id}/plans", tag = "plans",
    params(("id" = String, Path, description = "case id")),
    responses((status = 200, body = Vec<Plan>), (status = 403, body = Problem)))]
pub async fn plans_of_case(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Plan>>> {
    s.core
        .plans_of_case(&caller.ctx(), &id)
        .await
        .map(Json)
        .map_err(|e| problem(e, &format!("/api/v1/cases/{id}/plans")))
}

/// Every service catalogue with its service tree.
#[utoipa::path(get, path = "/api/v1/catalogues", tag = "catalogues",
    responses((status = 200, body = Vec<Catalogue>)))]
pub async fn catalogues(
    State(s): State<ApiState>,
    _who: Authenticated,
) -> ApiResult<Json<Vec<Catalogue>>> {
    s.core
        .catalogues()
        .await
        .map(Json)
        .map_err(|e| problem(e, "/api/v1/catalogues"))
}

/// Creates a catalogue (catalogue editors only).
#[utoipa::path(post, path = "/api/v1/catalogues", tag = "catalogues", request_body = NewCatalogue,
    responses((status = 201, body = Catalogue), (status = 403, body = Problem)))]
pub async fn create_catalogue(
    State(s): State<ApiState>,
    caller: Caller,
    JsonBody(new): JsonBody<NewCatalogue>,
) -> ApiResult<(StatusCode, Json<Catalogue>)> {
    s.core
        .create_catalogue(&caller.ctx(), &new)
        .await
        .map(|c| (StatusCode::CREATED, Json(c)))
        .map_err(|e| problem(e, "/api/v1/catalogues"))
}

/// Adds a service to a catalogue, under a more general one if `parent_id` is given.
#[utoipa::path(post, path = "/api/v1/catalogues/{id}/services", tag = "catalogues", request_body = NewService,
    params(("id" = String, Path, description = "catalogue id")),
    responses((status = 201, body = Service), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn add_service(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(new): JsonBody<NewService>,
) -> ApiResult<(StatusCode, Json<Service>)> {
    s.core
        .add_service(&caller.ctx(), &id, &new)
        .await
        .map(|svc| (StatusCode::CREATED, Json(svc)))
        .map_err(|e| problem(e, &format!("/api/v1/catalogues/{id}/services")))
}

/// Changes a service's name, legal basis, price, description or economic flag.
#[utoipa::path(patch, path = "/api/v1/services/{id}", tag = "catalogues", request_body = ServicePatch,
    params(("id" = String, Path, description = "service id")),
    responses((status = 200, body = Service), (status = 403, body = Problem)))]
pub async fn update_service(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<ServicePatch>,
) -> ApiResult<Json<Service>> {
    s.core
        .update_service(&caller.ctx(), &id, &patch)
        .await
        .map(Json)
        .map_err(|e| problem(e, &format!("/api/v1/services/{id}")))
}
