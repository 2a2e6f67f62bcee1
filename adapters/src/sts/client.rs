//! The STS client: tokens per (entity id, CVR, environment), cached and refreshed before
//! they expire, one request for all concurrent callers, and one more try when a service
//! refuses a token.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use openssl::x509::X509;

use super::StsError;
use super::cache::{Expiring, TokenCache};
use super::request::{self, TokenRequest};
use super::token::{self, AccessToken, SamlToken};
use crate::serviceplatformen::security::credentials::Credential;

impl Expiring for SamlToken {
    fn expires_at(&self) -> DateTime<Utc> {
        self.not_on_or_after
    }
}

impl Expiring for AccessToken {
    fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }
}

/// Which token: the service, the organisation, the environment.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TokenKey {
    pub entity_id: String,
    pub cvr: String,
    pub environment: String,
}

/// Where the STS and the access-token service are, and whom to trust.
#[derive(Clone)]
pub struct StsConfig {
    pub environment: String,
    pub sts_url: String,
    pub access_token_url: String,
    /// The certificate the STS signs assertions with.
    pub sts_certificate: X509,
    /// How long before expiry a token is replaced.
    pub refresh_margin: Duration,
    pub timeout: Duration,
    /// The environment's trust store for TLS; empty: the system's.
    pub trust: Vec<X509>,
}

/// Whether a service call failed because of its token.
pub enum Attempt<T, E> {
    Done(Result<T, E>),
    /// The service refused the token (expired, revoked): fetch a new one and try again.
    TokenRefused(E),
}

pub struct StsClient {
    http: reqwest::Client,
    config: StsConfig,
    credential: Arc<Credential>,
    saml: TokenCache<TokenKey, SamlToken>,
    access: TokenCache<TokenKey, AccessToken>,
}

impl StsClient {
    /// A client presenting `credential` for mTLS and signing with it.
    pub fn new(config: StsConfig, credential: Arc<Credential>) -> Result<Self, StsError> {
        let tls = Self::tls(&config, &credential)?;
        Self::with_tls(config, credential, tls)
    }

    /// The TLS setup such a client uses: `credential` presented, the environment's trust
    /// store (or the system's roots) trusted. Making it reads and parses the system's
    /// roots; clients of one profile can share it (see `sts_clients`).
    pub fn tls(
        config: &StsConfig,
        credential: &Credential,
    ) -> Result<native_tls::TlsConnector, StsError> {
        let identity = credential
            .native_tls_identity()
            .map_err(|e| StsError::Response(format!("the client certificate for TLS: {e}")))?;
        let mut tls = native_tls::TlsConnector::builder();
        tls.identity(identity);
        if !config.trust.is_empty() {
            tls.disable_built_in_roots(true);
            for c in &config.trust {
                let der = c.to_der().map_err(|e| StsError::Response(e.to_string()))?;
                tls.add_root_certificate(
                    native_tls::Certificate::from_der(&der)
                        .map_err(|e| StsError::Response(e.to_string()))?,
                );
            }
        }
        tls.build()
            .map_err(|e| StsError::Response(format!("the TLS setup: {e}")))
    }

    /// A client on a TLS setup made by [`StsClient::tls`] for the same config and
    /// credential. Its HTTP client (and its pooled connections) is its own.
    pub fn with_tls(
        config: StsConfig,
        credential: Arc<Credential>,
        tls: native_tls::TlsConnector,
    ) -> Result<Self, StsError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .redirect(crate::http::no_redirects())
            .tls_backend_preconfigured(tls)
            .build()
            .map_err(|e| StsError::Response(format!("the HTTP client: {e}")))?;
        Ok(StsClient {
            http,
            saml: TokenCache::new(config.refresh_margin),
            access: TokenCache::new(config.refresh_margin),
            config,
            credential,
        })
    }

    /// The holder-of-key credential: what service calls are signed with.
    pub fn credential(&self) -> &Arc<Credential> {
        &self.credential
    }

    /// The environment's trust store as one PEM bundle; `None`: the system's.
    pub fn trust_pem(&self) -> Option<String> {
        if self.config.trust.is_empty() {
            return None;
        }
        let mut pem = String::new();
        for c in &self.config.trust {
            pem.push_str(&String::from_utf8_lossy(&c.to_pem().ok()?));
        }
        Some(pem)
    }

    /// The HTTP client with this environment's identity and trust store, for the
    /// services the tokens are for (mTLS with the same certificate).
    pub fn http_client(&self) -> reqwest::Client {
        self.http.clone()
    }

    fn key(&self, entity_id: &str, cvr: &str) -> TokenKey {
        TokenKey {
            entity_id: entity_id.to_string(),
            cvr: cvr.to_string(),
            environment: self.config.environment.clone(),
        }
    }

    /// A SAML assertion for `entity_id` on behalf of `cvr`.
    pub async fn saml_token(&self, entity_id: &str, cvr: &str) -> Result<Arc<SamlToken>, StsError> {
        let key = self.key(entity_id, cvr);
        self.saml.get(&key, || self.issue(entity_id, cvr)).await
    }

    /// The cached assertion, if fresh (no request).
    pub fn cached_saml_token(&self, entity_id: &str, cvr: &str) -> Option<Arc<SamlToken>> {
        self.saml.cached(&self.key(entity_id, cvr))
    }

    async fn issue(&self, entity_id: &str, cvr: &str) -> Result<SamlToken, StsError> {
        let body = request::signed(
            &TokenRequest {
                sts_url: &self.config.sts_url,
                entity_id,
                cvr,
                now: Utc::now(),
            },
            &self.credential,
        )?;
        let url = &self.config.sts_url;
        let (status, text) = send(
            url,
            self.http
                .post(url)
                .header("content-type", "application/soap+xml; charset=utf-8")
                .body(body),
        )
        .await?;
        match token::from_response(&text, &self.config.sts_certificate) {
            Err(StsError::Response(_)) if status >= 400 => Err(StsError::Http {
                status,
                body: text.chars().take(500).collect(),
            }),
            other => {
                let t = other?;
                tracing::debug!(entity_id, assertion_id = %t.id, expires = %t.not_on_or_after, "STS issued a token");
                Ok(t)
            }
        }
    }

    /// A Holder-of-key access token for a REST service (SF1601), bought with an assertion.
    pub async fn access_token(
        &self,
        entity_id: &str,
        cvr: &str,
    ) -> Result<Arc<AccessToken>, StsError> {
        let key = self.key(entity_id, cvr);
        self.access
            .get(&key, || async {
                let saml = self.saml_token(entity_id, cvr).await?;
                self.exchange(&saml).await
            })
            .await
    }

    async fn exchange(&self, saml: &SamlToken) -> Result<AccessToken, StsError> {
        let url = &self.config.access_token_url;
        let (status, text) = send(
            url,
            self.http
                .post(url)
                .form(&[("saml-token", saml.assertion.as_str())]),
        )
        .await?;
        if status != 200 {
            return Err(StsError::AccessToken {
                status,
                body: text.chars().take(500).collect(),
            });
        }
        #[derive(serde::Deserialize)]
        struct Answer {
            access_token: String,
            token_type: String,
            expires_in: i64,
        }
        let a: Answer = serde_json::from_str(&text)
            .map_err(|e| StsError::Response(format!("the access-token answer: {e}")))?;
        Ok(AccessToken {
            token_type: a.token_type,
            value: a.access_token,
            expires_at: Utc::now() + chrono::Duration::seconds(a.expires_in),
        })
    }

    /// Drops the cached access token (the service answered 401): the next call buys a
    /// new one.
    pub fn invalidate_access_token(&self, entity_id: &str, cvr: &str) {
        let key = self.key(entity_id, cvr);
        if let Some(t) = self.access.cached(&key) {
            self.access.invalidate(&key, &t);
        }
    }

    /// Calls a service with a SAML token; if the service refuses the token, drops it and
    /// tries once more with a new one.
    pub async fn with_saml_token<T, E, F, Fut>(
        &self,
        entity_id: &str,
        cvr: &str,
        call: F,
    ) -> Result<T, E>
    where
        E: From<StsError>,
        F: Fn(Arc<SamlToken>) -> Fut,
        Fut: Future<Output = Attempt<T, E>>,
    {
        let key = self.key(entity_id, cvr);
        let token = self.saml_token(entity_id, cvr).await?;
        match call(token.clone()).await {
            Attempt::Done(r) => r,
            Attempt::TokenRefused(_) => {
                self.saml.invalidate(&key, &token);
                let token = self.saml_token(entity_id, cvr).await?;
                match call(token).await {
                    Attempt::Done(r) => r,
                    Attempt::TokenRefused(e) => Err(e),
                }
            }
        }
    }
}

/// Sends `request` to `url`; the status and the body as text.
async fn send(url: &str, request: reqwest::RequestBuilder) -> Result<(u16, String), StsError> {
    let transport = |source| StsError::Transport {
        url: url.to_string(),
        source,
    };
    let resp = request.send().await.map_err(transport)?;
    let status = resp.status().as_u16();
    let text = resp.text().await.map_err(transport)?;
    Ok((status, text))
}
