//! The extractors that say who is calling and why.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use knudepunkt_engine::problem::{ApiError, Problem};

use super::ApiState;
use crate::access::Actor;

/// Why the caller reads or writes a citizen's data; required, and audited.
pub const PURPOSE_HEADER: &str = "x-knudepunkt-purpose";

/// An authenticated user with their job roles.
pub struct Authenticated(pub Actor);

/// An authenticated user and the stated purpose of the call.
pub struct Caller {
    pub actor: Actor,
    pub purpose: String,
}

impl Caller {
    pub fn ctx(&self) -> crate::Ctx<'_> {
        crate::Ctx {
            actor: &self.actor,
            purpose: &self.purpose,
        }
    }
}

fn original_path(parts: &Parts) -> String {
    super::problem::original_path(&parts.extensions, &parts.uri)
}

impl FromRequestParts<ApiState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let path = original_path(parts);
        let principal = state.auth.authenticate(&parts.headers).map_err(|e| {
            ApiError::from(
                Problem::new(StatusCode::UNAUTHORIZED, "unauthenticated", e.to_string())
                    .with_instance(&path),
            )
        })?;
        let actor = state
            .core
            .actor(&principal.user_id)
            .await
            .map_err(|e| super::problem::problem(e, &path))?
            .ok_or_else(|| {
                ApiError::from(
                    Problem::new(
                        StatusCode::UNAUTHORIZED,
                        "unknown-user",
                        format!("user {:?} is not known here", principal.user_id),
                    )
                    .with_instance(&path),
                )
            })?;
        Ok(Authenticated(actor))
    }
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let Authenticated(actor) = Authenticated::from_request_parts(parts, state).await?;
        let purpose = parts
            .headers
            .get(PURPOSE_HEADER)
            // Purposes are written in Danish: take UTF-8, not only ASCII.
            .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .ok_or_else(|| {
                ApiError::from(
                    Problem::new(
                        StatusCode::BAD_REQUEST,
                        "purpose-required",
                        "X-Knudepunkt-Purpose must say why citizen data is read or written: it is audited",
                    )
                    .with_field("X-Knudepunkt-Purpose")
                    .with_instance(original_path(parts)),
                )
            })?
            .to_string();
        Ok(Caller { actor, purpose })
    }
}
