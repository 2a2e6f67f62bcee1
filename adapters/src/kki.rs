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
fn sandbox_authorised(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(API_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|k| k == SANDBOX_KEY)
}

/// How KKI answers an error: `{"kode", "fejl"}`, the system's reason in its own words.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct Fejl {
    pub kode: String,
    pub fejl: String,
}

/// An error answer as KKI gives it.
pub fn error(
    status: axum::http::StatusCode,
    kode: &str,
    fejl: impl Into<String>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let body = Fejl {
        kode: kode.into(),
        fejl: fejl.into(),
    };
    (status, axum::Json(body)).into_response()
}

/// The reason in an error answer: KKI's `fejl` and `kode`, or the start of the answer.
pub fn reason(body: &[u8]) -> String {
    match serde_json::from_slice::<Fejl>(body) {
        Ok(f) => format!("{} ({})", f.fejl, f.kode),
        Err(_) => String::from_utf8_lossy(&body[..body.len().min(300)])
            .trim()
            .to_string(),
    }
}

/// The start of every endpoint of the sandbox's KKI: the request counted, an injected
/// fault carried out, the API key checked. `Some` is the answer to give instead.
pub async fn arrive(
    recorder: &crate::sandbox::Recorder,
    faults: &crate::sandbox::FaultPlan,
    headers: &axum::http::HeaderMap,
) -> Option<axum::response::Response> {
    if let Some(r) = crate::sandbox::faults::arrive(recorder, faults).await {
        return Some(r);
    }
    if !sandbox_authorised(headers) {
        recorder.count_invalid();
        return Some(error(
            axum::http::StatusCode::UNAUTHORIZED,
            "ADGANG_NAEGTET",
            "API-nøglen mangler eller er forkert",
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_the_systems_words() {
        assert_eq!(
            reason(br#"{"kode":"DOKUMENT_UDTJEKKET","fejl":"tjekket ud af X"}"#),
            "tjekket ud af X (DOKUMENT_UDTJEKKET)"
        );
        assert_eq!(reason(b"Bad gateway"), "Bad gateway");
    }
}
