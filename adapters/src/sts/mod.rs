//! The STS (Security Token Service) of the municipal support systems: a signed WS-Trust
//! 1.3 Issue request buys a SAML 2.0 holder-of-key assertion for one service (its entity
//! id) on behalf of one organisation (its CVR); REST services take it in exchange for a
//! Holder-of-key access token. The client caches tokens; the simulator plays the STS and
//! the access-token service in the sandbox.

pub mod cache;
pub mod client;
pub mod request;
pub mod simulator;
pub mod token;

use thiserror::Error;

use crate::serviceplatformen::security::dsig::DsigError;

/// The WS-Trust namespace.
pub const WST: &str = "http://docs.oasis-open.org/ws-sx/ws-trust/200512";
pub const SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";
pub const WSA: &str = "http://www.w3.org/2005/08/addressing";
pub const CVR_CLAIM: &str = "dk:gov:saml:attribute:CvrNumberIdentifier";

#[derive(Debug, Error)]
pub enum StsError {
    #[error("signing the token request: {0}")]
    Signing(#[source] DsigError),
    #[error("the STS refused the request: {subcode}: {reason}")]
    Fault { subcode: String, reason: String },
    #[error("the STS answered HTTP {status} without a SOAP fault: {body}")]
    Http { status: u16, body: String },
    #[error("calling the STS at {url}: {source}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the STS's answer is not usable: {0}")]
    Response(String),
    #[error("the assertion's signature does not verify against the STS certificate: {0}")]
    Untrusted(#[source] DsigError),
    #[error("the access-token service refused the assertion: HTTP {status}: {body}")]
    AccessToken { status: u16, body: String },
}

impl StsError {
    /// Whether trying again later may help (the STS or the network was down).
    pub fn is_transient(&self) -> bool {
        match self {
            StsError::Transport { .. } => true,
            StsError::Http { status, .. } | StsError::AccessToken { status, .. } => *status >= 500,
            _ => false,
        }
    }
}
