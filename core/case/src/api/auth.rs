//! Who is calling. For now a signed bearer token (a JWT, HS256, whose `sub` names the
//! user) or, in the dev environment only, a header naming the user. Both sit behind
//! [`Authenticate`], so that STS Adgangsstyring / SAML login can replace them.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use thiserror::Error;

use axum::http::HeaderMap;

/// The user a request authenticated as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    /// How: `bearer`, `dev-header`, later `saml`.
    pub method: &'static str,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("no credentials: send Authorization: Bearer <token>")]
    Missing,
    #[error("the bearer token is malformed: {0}")]
    Malformed(&'static str),
    #[error("the bearer token's signature does not verify")]
    BadSignature,
    #[error("the bearer token expired")]
    Expired,
    #[error("the token uses algorithm {0:?}; only HS256 is accepted")]
    Algorithm(String),
}

/// Authenticates a request from its headers.
pub trait Authenticate: Send + Sync {
    fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, AuthError>;
}

/// The header naming the user in the dev environment.
pub const DEV_USER_HEADER: &str = "x-knudepunkt-user";

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
    #[serde(default)]
    iat: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct JoseHeader {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
}

/// Signed bearer tokens (JWT, HS256) with a secret held in memory only; optionally the
/// dev header too.
pub struct SignedTokens {
    key: Vec<u8>,
    allow_dev_header: bool,
}

impl std::fmt::Debug for SignedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedTokens")
            .field("key", &"<secret>")
            .field("allow_dev_header", &self.allow_dev_header)
            .finish()
    }
}

impl SignedTokens {
    pub fn new(secret: &[u8], allow_dev_header: bool) -> Self {
        SignedTokens {
            key: secret.to_vec(),
            allow_dev_header,
        }
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any length")
    }

    /// Issues a token for `user_id` valid for `ttl`.
    pub fn issue(&self, user_id: &str, ttl: std::time::Duration) -> String {
        let now = chrono::Utc::now().timestamp();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let claims = serde_json::to_vec(&Claims {
            sub: user_id.to_string(),
            exp: now + ttl.as_secs() as i64,
            iat: Some(now),
        })
        .expect("claims serialise");
        let signing_input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims));
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{sig}")
    }

    fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::Malformed("a JWT has three dot-separated parts"));
        };
        let header: JoseHeader = URL_SAFE_NO_PAD
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(AuthError::Malformed("the header is not base64url JSON"))?;
        if header.alg != "HS256" {
            return Err(AuthError::Algorithm(header.alg));
        }
        let sig = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| AuthError::Malformed("the signature is not base64url"))?;
        let mut mac = self.mac();
        mac.update(h.as_bytes());
        mac.update(b".");
        mac.update(c.as_bytes());
        mac.verify_slice(&sig)
            .map_err(|_| AuthError::BadSignature)?;
        let claims: Claims = URL_SAFE_NO_PAD
            .decode(c)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(AuthError::Malformed(
                "the claims are not base64url JSON with sub and exp",
            ))?;
        if claims.exp <= chrono::Utc::now().timestamp() {
            return Err(AuthError::Expired);
        }
        Ok(Principal {
            user_id: claims.sub,
            method: "bearer",
        })
    }
}

impl Authenticate for SignedTokens {
    fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, AuthError> {
        if let Some(auth) = headers.get(axum::http::header::AUTHORIZATION) {
            let value = auth
                .to_str()
                .map_err(|_| AuthError::Malformed("the Authorization header is not text"))?;
            let token = value.strip_prefix("Bearer ").ok_or(AuthError::Malformed(
                "expected Authorization: Bearer <token>",
            ))?;
            return self.verify(token.trim());
        }
        if self.allow_dev_header
            && let Some(user) = headers.get(DEV_USER_HEADER).and_then(|v| v.to_str().ok())
            && !user.trim().is_empty()
        {
            return Ok(Principal {
                user_id: user.trim().to_string(),
                method: "dev-header",
            });
        }
        Err(AuthError::Missing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn bearer(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        h
    }

    #[test]
    fn issued_tokens_verify_and_name_the_user() {
        let t = SignedTokens::new(b"a secret of reasonable length!!", false);
        let token = t.issue("aktoer1", std::time::Duration::from_secs(60));
        assert_eq!(
            t.authenticate(&bearer(&token)).unwrap(),
            Principal {
                user_id: "aktoer1".into(),
                method: "bearer"
            }
        );
    }

    #[test]
    fn tampered_foreign_and_expired_tokens_are_refused() {
        let t = SignedTokens::new(b"one secret", false);
        let other = SignedTokens::new(b"another secret", false);
        let token = other.issue("aktoer1", std::time::Duration::from_secs(60));
        assert_eq!(
            t.authenticate(&bearer(&token)),
            Err(AuthError::BadSignature)
        );
        let good = t.issue("aktoer1", std::time::Duration::from_secs(60));
        let mut parts: Vec<&str> = good.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(br#"{"sub":"leder1","exp":99999999999}"#);
        parts[1] = &forged;
        assert_eq!(
            t.authenticate(&bearer(&parts.join("."))),
            Err(AuthError::BadSignature)
        );
        let expired = t.issue("aktoer1", std::time::Duration::from_secs(0));
        assert_eq!(t.authenticate(&bearer(&expired)), Err(AuthError::Expired));
        let none_alg = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(br#"{"sub":"x","exp":99999999999}"#)
        );
        assert_eq!(
            t.authenticate(&bearer(&none_alg)),
            Err(AuthError::Algorithm("none".into()))
        );
    }

    #[test]
    fn the_dev_header_counts_only_where_allowed() {
        let mut h = HeaderMap::new();
        h.insert(DEV_USER_HEADER, HeaderValue::from_static("aktoer2"));
        assert_eq!(
            SignedTokens::new(b"k", true)
                .authenticate(&h)
                .unwrap()
                .user_id,
            "aktoer2"
        );
        assert_eq!(
            SignedTokens::new(b"k", false).authenticate(&h),
            Err(AuthError::Missing)
        );
    }
}
