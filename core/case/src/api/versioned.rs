//! Handlers whose answers differ between API versions: citizens (v2 splits the name)
//! and cases (v2 gives the status as one object).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use knudepunkt_engine::problem::Problem;

use super::ApiState;
use super::caller::Caller;
use super::dto::{CaseV1, CaseV2, CitizenV1, CitizenV2};
use super::handlers::{ApiResult, CprQuery, parse_cpr};
use super::problem::{JsonBody, problem};
use crate::cases::{CasePatch, CaseView, NewCase};
use crate::citizens::Citizen;

async fn lookup(s: &ApiState, caller: &Caller, q: &CprQuery, at: &str) -> ApiResult<Citizen> {
    let cpr = parse_cpr(q, at)?;
    s.core
        .citizen(&caller.ctx(), &cpr)
        .await
        .map_err(|e| problem(e, at))
}

/// A citizen, to a user who may see one of the citizen's cases.
#[utoipa::path(post, path = "/api/v1/citizens/lookup", tag = "citizens", request_body = CprQuery,
    responses((status = 200, body = CitizenV1), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn citizen_v1(
    State(s): State<ApiState>,
    caller: Caller,
    JsonBody(q): JsonBody<CprQuery>,
) -> ApiResult<Json<CitizenV1>> {
    let c = lookup(&s, &caller, &q, "/api/v1/citizens/lookup").await?;
    Ok(Json((&c).into()))
}

/// A citizen, with the name in its parts.
#[utoipa::path(post, path = "/api/v2/citizens/lookup", tag = "citizens", request_body = CprQuery,
    responses((status = 200, body = CitizenV2), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn citizen_v2(
    State(s): State<ApiState>,
    caller: Caller,
    JsonBody(q): JsonBody<CprQuery>,
) -> ApiResult<Json<CitizenV2>> {
    let c = lookup(&s, &caller, &q, "/api/v2/citizens/lookup").await?;
    Ok(Json((&c).into()))
}

async fn from_cpr(s: &ApiState, caller: &Caller, q: &CprQuery, at: &str) -> ApiResult<Citizen> {
    let cpr = parse_cpr(q, at)?;
    s.core
        .lookup_in_cpr(&caller.ctx(), &cpr)
        .await
        .map_err(|e| problem(e, at))
}

/// Looks a citizen up in CPR (SF1520) and keeps what it gives; the citizen, a protected
/// address left out for a caller without the right. Audited with the caller's purpose.
#[utoipa::path(post, path = "/api/v1/citizens/cpr-lookup", tag = "citizens", request_body = CprQuery,
    responses((status = 200, body = CitizenV1), (status = 404, body = Problem), (status = 502, body = Problem), (status = 503, body = Problem)))]
pub async fn cpr_lookup_v1(
    State(s): State<ApiState>,
    caller: Caller,
    JsonBody(q): JsonBody<CprQuery>,
) -> ApiResult<Json<CitizenV1>> {
    let c = from_cpr(&s, &caller, &q, "/api/v1/citizens/cpr-lookup").await?;
    Ok(Json((&c).into()))
}

#[utoipa::path(post, path = "/api/v2/citizens/cpr-lookup", tag = "citizens", request_body = CprQuery,
    responses((status = 200, body = CitizenV2), (status = 404, body = Problem), (status = 502, body = Problem), (status = 503, body = Problem)))]
pub async fn cpr_lookup_v2(
    State(s): State<ApiState>,
    caller: Caller,
    JsonBody(q): JsonBody<CprQuery>,
) -> ApiResult<Json<CitizenV2>> {
    let c = from_cpr(&s, &caller, &q, "/api/v2/citizens/cpr-lookup").await?;
    Ok(Json((&c).into()))
}

async fn search(s: &ApiState, caller: &Caller, q: &CprQuery, at: &str) -> ApiResult<Vec<CaseView>> {
    let cpr = parse_cpr(q, at)?;
    s.core
        .cases_of_citizen(&caller.ctx(), &cpr)
        .await
        .map_err(|e| problem(e, at))
}

/// The citizen's cases the caller may see, with their documents, decisions and grants.
#[utoipa::path(post, path = "/api/v1/cases/search", tag = "cases", request_body = CprQuery,
    responses((status = 200, body = Vec<CaseV1>), (status = 422, body = Problem)))]
pub async fn search_v1(
    State(s): State<ApiState>,
    caller: Caller,
    JsonBody(q): JsonBody<CprQuery>,
) -> ApiResult<Json<Vec<CaseV1>>> {
    let found = search(&s, &caller, &q, "/api/v1/cases/search").await?;
    Ok(Json(found.into_iter().map(Into::into).collect()))
}

#[utoipa::path(post, path = "/api/v2/cases/search", tag = "cases", request_body = CprQuery,
    responses((status = 200, body = Vec<CaseV2>), (status = 422, body = Problem)))]
pub async fn search_v2(
    State(s): State<ApiState>,
    caller: Caller,
    JsonBody(q): JsonBody<CprQuery>,
) -> ApiResult<Json<Vec<CaseV2>>> {
    let found = search(&s, &caller, &q, "/api/v2/cases/search").await?;
    Ok(Json(found.into_iter().map(Into::into).collect()))
}

/// A case with its documents, decisions, grants and notices.
#[utoipa::path(get, path = "/api/v1/cases/{id}", tag = "cases",
    params(("id" = String, Path, description = "case id")),
    responses((status = 200, body = CaseV1), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn case_v1(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<CaseV1>> {
    s.core
        .case(&caller.ctx(), &id)
        .await
        .map(|v| Json(v.into()))
        .map_err(|e| problem(e, &format!("/api/v1/cases/{id}")))
}

#[utoipa::path(get, path = "/api/v2/cases/{id}", tag = "cases",
    params(("id" = String, Path, description = "case id")),
    responses((status = 200, body = CaseV2), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn case_v2(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<CaseV2>> {
    s.core
        .case(&caller.ctx(), &id)
        .await
        .map(|v| Json(v.into()))
        .map_err(|e| problem(e, &format!("/api/v2/cases/{id}")))
}

/// Opens a case for a registered citizen.
#[utoipa::path(post, path = "/api/v1/cases", tag = "cases", request_body = NewCase,
    responses((status = 201, body = CaseV1), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_case_v1(
    State(s): State<ApiState>,
    caller: Caller,
    JsonBody(new): JsonBody<NewCase>,
) -> ApiResult<(StatusCode, Json<CaseV1>)> {
    s.core
        .create_case(&caller.ctx(), &new)
        .await
        .map(|v| (StatusCode::CREATED, Json(v.into())))
        .map_err(|e| problem(e, "/api/v1/cases"))
}

#[utoipa::path(post, path = "/api/v2/cases", tag = "cases", request_body = NewCase,
    responses((status = 201, body = CaseV2), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_case_v2(
    State(s): State<ApiState>,
    caller: Caller,
    JsonBody(new): JsonBody<NewCase>,
) -> ApiResult<(StatusCode, Json<CaseV2>)> {
    s.core
        .create_case(&caller.ctx(), &new)
        .await
        .map(|v| (StatusCode::CREATED, Json(v.into())))
        .map_err(|e| problem(e, "/api/v2/cases"))
}

/// Changes a case's title, caseworker or confidentiality.
#[utoipa::path(patch, path = "/api/v1/cases/{id}", tag = "cases", request_body = CasePatch,
    params(("id" = String, Path, description = "case id")),
    responses((status = 200, body = CaseV1), (status = 403, body = Problem)))]
pub async fn update_case_v1(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<CasePatch>,
) -> ApiResult<Json<CaseV1>> {
    s.core
        .update_case(&caller.ctx(), &id, &patch)
        .await
        .map(|v| Json(v.into()))
        .map_err(|e| problem(e, &format!("/api/v1/cases/{id}")))
}

#[utoipa::path(patch, path = "/api/v2/cases/{id}", tag = "cases", request_body = CasePatch,
    params(("id" = String, Path, description = "case id")),
    responses((status = 200, body = CaseV2), (status = 403, body = Problem)))]
pub async fn update_case_v2(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<CasePatch>,
) -> ApiResult<Json<CaseV2>> {
    s.core
        .update_case(&caller.ctx(), &id, &patch)
        .await
        .map(|v| Json(v.into()))
        .map_err(|e| problem(e, &format!("/api/v2/cases/{id}")))
}
