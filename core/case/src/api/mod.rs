//! The case core's HTTP API: JSON under `/api/v1` and `/api/v2` (both served at once),
//! an OpenAPI document per version generated from the handlers, and the deep link
//! `/sag/{id}` that SAPA hops to.
//!
//! A CPR number never appears in a URL (URLs end up in access logs): lookups by CPR are
//! POSTs with the number in the body.

pub mod auth;
mod caller;
mod deep_link;
pub mod dto;
mod handlers;
mod openapi;
pub mod problem;
mod versioned;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, patch, post};

pub use auth::{AuthError, Authenticate, Principal, SignedTokens};
pub use caller::PURPOSE_HEADER;

use crate::store::CaseCore;

/// What every handler gets.
#[derive(Clone)]
pub struct ApiState {
    pub core: CaseCore,
    pub auth: Arc<dyn Authenticate>,
    pages: Arc<tera::Tera>,
}

/// The case API's routes, ready to merge with the engine's.
pub fn router(core: CaseCore, auth: Arc<dyn Authenticate>) -> Router {
    // Base64 makes a document a third larger; JSON adds a little.
    let body_limit = core.limits().max_document_bytes / 3 * 4 + 64 * 1024;
    let state = ApiState {
        core,
        auth,
        pages: Arc::new(deep_link::pages()),
    };
    let shared = Router::new()
        .route("/me", get(handlers::me))
        .route("/index/backfill", get(handlers::backfill_progress))
        .route(
            "/residential-stays",
            post(handlers::register_residential_stay),
        )
        .route("/residential-stays/occupancy", get(handlers::occupancy))
        .route(
            "/residential-stays/{id}/end",
            post(handlers::end_residential_stay),
        )
        .route("/treatments", post(handlers::register_treatment))
        .route(
            "/treatments/{id}/progress",
            post(handlers::change_treatment),
        )
        .route("/handovers", get(handlers::list_handovers))
        .route("/handovers/{id}/import", post(handlers::import_handover))
        .route("/reports/submissions", get(handlers::list_submissions))
        .route("/reports/submissions/{id}", get(handlers::show_submission))
        .route(
            "/reports/submissions/{id}/approve",
            post(handlers::approve_submission),
        )
        .route("/citizens", post(handlers::register_citizen))
        .route("/citizens/audit", post(handlers::citizen_audit))
        .route("/cases/{id}/status", post(handlers::change_status))
        .route("/cases/{id}/access", post(handlers::grant_access))
        .route("/cases/{id}/notes", post(handlers::add_note))
        .route("/cases/{id}/deadlines", post(handlers::add_deadline))
        .route("/cases/{id}/documents", post(handlers::add_document))
        .route(
            "/cases/{id}/correspondence",
            post(handlers::send_correspondence),
        )
        .route("/documents/{id}/content", get(handlers::document_content))
        .route(
            "/documents/{id}/distribution",
            post(handlers::distribute_document),
        )
        .route("/documents/{id}", patch(handlers::update_document))
        .route("/cases/{id}/decisions", post(handlers::make_decision))
        .route("/cases/{id}/grants", post(handlers::create_grant))
        .route("/grants/{id}", patch(handlers::change_grant))
        .route("/grants/{id}/end", post(handlers::end_grant))
        .route(
            "/cases/{id}/consents",
            post(handlers::give_consent).get(handlers::consents_of_case),
        )
        .route("/consents/{id}/withdraw", post(handlers::withdraw_consent))
        .route("/plans", post(handlers::create_plan))
        .route("/cases/{id}/plans", get(handlers::plans_of_case))
        .route(
            "/catalogues",
            get(handlers::catalogues).post(handlers::create_catalogue),
        )
        .route("/catalogues/{id}/services", post(handlers::add_service))
        .route("/services/{id}", patch(handlers::update_service));
    let v1 = shared
        .clone()
        .route("/openapi.json", get(openapi::v1))
        .route("/citizens/lookup", post(versioned::citizen_v1))
        .route("/citizens/cpr-lookup", post(versioned::cpr_lookup_v1))
        .route("/cases", post(versioned::create_case_v1))
        .route("/cases/search", post(versioned::search_v1))
        .route(
            "/cases/{id}",
            get(versioned::case_v1).patch(versioned::update_case_v1),
        );
    let v2 = shared
        .route("/openapi.json", get(openapi::v2))
        .route("/citizens/lookup", post(versioned::citizen_v2))
        .route("/citizens/cpr-lookup", post(versioned::cpr_lookup_v2))
        .route("/cases", post(versioned::create_case_v2))
        .route("/cases/search", post(versioned::search_v2))
        .route(
            "/cases/{id}",
            get(versioned::case_v2).patch(versioned::update_case_v2),
        );
    Router::new()
        .nest("/api/v1", v1)
        .nest("/api/v2", v2)
        .route("/sag/{id}", get(deep_link::sag))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}
