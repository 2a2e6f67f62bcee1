//! KKI, the municipality's integration platform: the REST/JSON front of its own systems
//! (KK-ORG2, eDoc). Every call carries KKI's API key in one header; the sandbox's KKI
//! takes `sandbox`.

/// The header KKI's API key goes in.
pub const API_KEY_HEADER: &str = "x-kki-api-key";
/// The variable holding the API key; the sandbox takes `sandbox`.
pub const API_KEY_ENV: &str = "KNUDEPUNKT_KKI_API_KEY";
/// The key the sandbox's KKI takes.
pub const SANDBOX_KEY: &str = "sandbox";

/// The API key for `endpoint`: from [`API_KEY_ENV`], or the sandbox's for an endpoint
/// whose tier is `sandbox`.
pub fn api_key(endpoint: &knudepunkt_engine::environment::Endpoint) -> Result<String, String> {
    match std::env::var(API_KEY_ENV) {
        Ok(k) => Ok(k),
        Err(_) if endpoint.tier.as_deref() == Some("sandbox") => Ok(SANDBOX_KEY.into()),
        Err(_) => Err(format!(
            "{API_KEY_ENV} is not set (KKI's API key for endpoint {})",
            endpoint.name
        )),
    }
}

/// Whether a request carries the sandbox's key.
pub fn sandbox_authorised(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(API_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|k| k == SANDBOX_KEY)
}
