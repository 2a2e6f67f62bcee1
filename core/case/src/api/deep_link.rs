//! `/sag/{id}`: the case as a page, the target of SAPA's hop (B3.254). A user without
//! access gets 403 and the refusal is audited.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use super::ApiState;
use super::caller::{Authenticated, PURPOSE_HEADER};
use super::dto::CaseV1;
use crate::error::CaseError;

pub(super) fn pages() -> tera::Tera {
    let mut t = tera::Tera::default();
    t.add_raw_template("sag.html", include_str!("../../templates/sag.html.tera"))
        .expect("the case page template parses");
    t.autoescape_on(vec!["sag.html"]);
    t
}

/// Opening a case from a link says why by default; a header may say more.
const DEFAULT_PURPOSE: &str = "opened case from link (SAPA)";

pub async fn sag(
    State(s): State<ApiState>,
    Authenticated(actor): Authenticated,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let purpose = headers
        .get(PURPOSE_HEADER)
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
        .filter(|p| !p.trim().is_empty())
        .unwrap_or(DEFAULT_PURPOSE)
        .to_string();
    let ctx = crate::Ctx {
        actor: &actor,
        purpose: &purpose,
    };
    let mut page = tera::Context::new();
    let status = match s.core.case(&ctx, &id).await {
        Ok(view) => {
            // The hop the other way: SAPA's view of the same case, from the profile.
            if let Some(link) = s.core.link("sapa_case", &view.case.id) {
                page.insert("sapa_case", &link);
            }
            page.insert("case", &CaseV1::from(view));
            StatusCode::OK
        }
        Err(CaseError::Forbidden(why)) => {
            page.insert("reason", &why);
            StatusCode::FORBIDDEN
        }
        Err(e @ CaseError::NotFound { .. }) => {
            page.insert("reason", &e.to_string());
            StatusCode::NOT_FOUND
        }
        Err(e) => {
            return super::problem::problem(e, &format!("/sag/{id}")).into_response();
        }
    };
    match s.pages.render("sag.html", &page) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering the case page failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
