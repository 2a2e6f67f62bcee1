//! Errors as RFC 9457 problems that name the field, and a JSON body extractor whose
//! errors do too.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use knudepunkt_engine::problem::{ApiError, Problem};
use serde::de::DeserializeOwned;

use crate::error::CaseError;

pub fn problem(e: CaseError, instance: &str) -> ApiError {
    let p = match e {
        CaseError::Invalid { field, detail } => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-field",
            format!("{field}: {detail}"),
        )
        .with_field(field),
        CaseError::Conflict { field, detail } => Problem::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("{field}: {detail}"),
        )
        .with_field(field),
        e @ CaseError::TooLarge { .. } => {
            let CaseError::TooLarge { field, .. } = &e else {
                unreachable!()
            };
            let field = field.clone();
            Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "too-large", e.to_string())
                .with_field(field)
        }
        e @ CaseError::NotFound { .. } => {
            Problem::new(StatusCode::NOT_FOUND, "not-found", e.to_string())
        }
        CaseError::Forbidden(why) => Problem::new(StatusCode::FORBIDDEN, "forbidden", why),
        e @ CaseError::Unavailable { .. } => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            e.to_string(),
        ),
        e @ CaseError::Refused { .. } => {
            Problem::new(StatusCode::BAD_GATEWAY, "refused", e.to_string())
        }
        e => {
            tracing::error!(error = %e, instance, "case core failed");
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the case core failed; the error is logged",
            )
        }
    };
    p.with_instance(instance).into()
}

/// A JSON request body. Its errors name the field (`period.from`), or the line and
/// column where the JSON broke.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let path = original_path(req.extensions(), req.uri());
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            let status = e.status();
            let p = Problem::new(status, "bad-body", e.body_text()).with_instance(&path);
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                p.with_field("body").into()
            } else {
                ApiError::from(p)
            }
        })?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(de)
            .map(JsonBody)
            .map_err(|e| {
                let inner_text = e.inner().to_string();
                let at = e.path().to_string();
                let field = match named_field(&inner_text) {
                    Some(name) if at == "." => name.to_string(),
                    // An unknown field's path already ends in its name.
                    Some(name) if at == name || at.ends_with(&format!(".{name}")) => at,
                    Some(name) => format!("{at}.{name}"),
                    None => at,
                };
                let inner = e.into_inner();
                let p = Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-body",
                    if field == "." {
                        format!("the body is not the expected JSON: {inner}")
                    } else {
                        format!("{field}: {inner}")
                    },
                )
                .with_instance(&path);
                ApiError::from(if field == "." { p } else { p.with_field(field) })
            })
    }
}

/// The field serde names in "missing field `x`" and "unknown field `x`".
fn named_field(message: &str) -> Option<&str> {
    let rest = message
        .strip_prefix("missing field `")
        .or_else(|| message.strip_prefix("unknown field `"))?;
    rest.split('`').next()
}

/// The path as the client sent it (nested routers strip their prefix from the URI).
pub(super) fn original_path(extensions: &axum::http::Extensions, uri: &axum::http::Uri) -> String {
    extensions
        .get::<axum::extract::OriginalUri>()
        .map(|u| u.path().to_string())
        .unwrap_or_else(|| uri.path().to_string())
}
