//! The OpenAPI documents, generated from the handlers' annotations. v2 is v1 with the
//! versioned resources swapped for their v2 shapes.

use axum::Json;
use utoipa::OpenApi;
use utoipa::openapi::OpenApi as Document;

use super::{handlers, versioned};

#[derive(OpenApi)]
#[openapi(
    info(title = "Knudepunkt case and benefit core", version = "1"),
    paths(
        handlers::me,
        handlers::backfill_progress,
        handlers::register_residential_stay,
        handlers::end_residential_stay,
        handlers::occupancy,
        handlers::register_treatment,
        handlers::change_treatment,
        handlers::list_handovers,
        handlers::import_handover,
        handlers::list_submissions,
        handlers::show_submission,
        handlers::approve_submission,
        handlers::register_citizen,
        handlers::citizen_audit,
        handlers::change_status,
        handlers::grant_access,
        handlers::add_note,
        handlers::add_deadline,
        handlers::add_document,
        handlers::send_correspondence,
        handlers::document_content,
        handlers::distribute_document,
        handlers::update_document,
        handlers::make_decision,
        handlers::create_grant,
        handlers::change_grant,
        handlers::end_grant,
        handlers::give_consent,
        handlers::consents_of_case,
        handlers::withdraw_consent,
        handlers::create_plan,
        handlers::plans_of_case,
        handlers::catalogues,
        handlers::create_catalogue,
        handlers::add_service,
        handlers::update_service,
        versioned::citizen_v1,
        versioned::cpr_lookup_v1,
        versioned::search_v1,
        versioned::case_v1,
        versioned::create_case_v1,
        versioned::update_case_v1,
    ),
    security(("bearer" = [])),
    modifiers(&Security)
)]
struct V1;

#[derive(OpenApi)]
#[openapi(paths(
    versioned::citizen_v2,
    versioned::cpr_lookup_v2,
    versioned::search_v2,
    versioned::case_v2,
    versioned::create_case_v2,
    versioned::update_case_v2,
))]
struct V2Changes;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, doc: &mut Document) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

pub fn v1_document() -> Document {
    V1::openapi()
}

pub fn v2_document() -> Document {
    let mut doc = V1::openapi();
    doc.info.version = "2".into();
    let changes = V2Changes::openapi();
    let mut paths = utoipa::openapi::Paths::new();
    for (path, item) in doc.paths.paths {
        let v2 = path.replacen("/api/v1/", "/api/v2/", 1);
        let item = changes.paths.paths.get(&v2).cloned().unwrap_or(item);
        paths.paths.insert(v2, item);
    }
    doc.paths = paths;
    if let (Some(mine), Some(theirs)) = (doc.components.as_mut(), changes.components) {
        mine.schemas.extend(theirs.schemas);
    }
    doc
}

pub async fn v1() -> Json<Document> {
    Json(v1_document())
}

pub async fn v2() -> Json<Document> {
    Json(v2_document())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_versions_document_every_path_and_differ_in_shape() {
        let v1 = serde_json::to_value(v1_document()).unwrap();
        let v2 = serde_json::to_value(v2_document()).unwrap();
        let p1 = v1["paths"].as_object().unwrap();
        let p2 = v2["paths"].as_object().unwrap();
        assert_eq!(p1.len(), p2.len());
        assert!(p1.contains_key("/api/v1/cases/{id}"));
        assert!(p2.contains_key("/api/v2/cases/{id}"));
        assert!(p2.keys().all(|k| k.starts_with("/api/v2/")));
        let schema = |doc: &serde_json::Value, path: &str| {
            doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert!(schema(&v1, "/api/v1/cases/{id}").ends_with("CaseV1"));
        assert!(schema(&v2, "/api/v2/cases/{id}").ends_with("CaseV2"));
        // CitizenV2 flattens in what CPR gave: its own properties are one of its parts.
        let citizen = &v2["components"]["schemas"]["CitizenV2"];
        let name_is_an_object = std::iter::once(citizen)
            .chain(citizen["allOf"].as_array().into_iter().flatten())
            .any(|part| part["properties"]["name"].is_object());
        assert!(name_is_an_object, "{citizen}");
    }
}
