//! What the STS answers: a SAML 2.0 holder-of-key assertion with its lifetime, or a
//! SOAP fault; and the access token REST services take instead.

use chrono::{DateTime, Utc};
use openssl::x509::X509;

use super::{CVR_CLAIM, SOAP12, StsError, WST};
use crate::serviceplatformen::security::c14n::{self, Options};
use crate::serviceplatformen::security::dom::Document;
use crate::serviceplatformen::security::dsig::{self, KeySource};
use crate::serviceplatformen::security::ns;

/// A SAML assertion for one service and organisation.
#[derive(Clone, Debug)]
pub struct SamlToken {
    /// The assertion, canonical (exclusive c14n): standalone, and its signature still
    /// verifies wherever it is embedded.
    pub assertion: String,
    pub id: String,
    pub audience: String,
    pub cvr: String,
    pub not_on_or_after: DateTime<Utc>,
}

/// A Holder-of-key access token for a REST service (SF1601).
#[derive(Clone, Debug)]
pub struct AccessToken {
    pub token_type: String,
    pub value: String,
    pub expires_at: DateTime<Utc>,
}

impl AccessToken {
    /// The `Authorization` header value.
    pub fn header(&self) -> String {
        format!("{} {}", self.token_type, self.value)
    }
}

fn instant(s: &str) -> Result<DateTime<Utc>, StsError> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StsError::Response(format!("{s:?} is not a time: {e}")))
}

/// The fault a SOAP 1.2 answer carries, if it is one: (subcode or code, reason).
pub fn soap_fault(doc: &Document) -> Option<(String, String)> {
    let fault = doc.find(SOAP12, "Fault").into_iter().next()?;
    let f = doc.at(&fault)?;
    let code = f.children_named("Code").next().map(|(_, c)| c)?;
    let value = code
        .children_named("Subcode")
        .next()
        .and_then(|(_, s)| s.children_named("Value").next())
        .or_else(|| code.children_named("Value").next())
        .map(|(_, v)| v.text().trim().to_string())
        .unwrap_or_default();
    let reason = f
        .children_named("Reason")
        .next()
        .and_then(|(_, r)| r.children_named("Text").next())
        .map(|(_, t)| t.text().trim().to_string())
        .unwrap_or_default();
    Some((value, reason))
}

/// Reads an RSTR (or RSTRC): the assertion, checked against the STS certificate.
pub fn from_response(xml: &str, sts_certificate: &X509) -> Result<SamlToken, StsError> {
    let doc = Document::parse(xml).map_err(|e| StsError::Response(e.to_string()))?;
    if let Some((subcode, reason)) = soap_fault(&doc) {
        return Err(StsError::Fault { subcode, reason });
    }
    if doc.find(WST, "RequestedSecurityToken").is_empty() {
        return Err(StsError::Response("no wst:RequestedSecurityToken".into()));
    }
    let assertion_path = doc
        .find(ns::SAML2, "Assertion")
        .into_iter()
        .next()
        .ok_or_else(|| StsError::Response("no saml:Assertion".into()))?;
    read_assertion(&doc, &assertion_path, sts_certificate)
}

/// Checks and reads the assertion at `path` (its own enveloped signature, by the STS).
pub fn read_assertion(
    doc: &Document,
    path: &[usize],
    sts_certificate: &X509,
) -> Result<SamlToken, StsError> {
    let assertion = doc.at(path).expect("a found element");
    let signature = doc
        .find(ns::DSIG, "Signature")
        .into_iter()
        .find(|p| p.len() == path.len() + 1 && p.starts_with(path))
        .ok_or_else(|| StsError::Response("the assertion is not signed".into()))?;
    let verified = dsig::verify_signature(doc, &signature, KeySource::Certificate(sts_certificate))
        .map_err(StsError::Untrusted)?;
    let id = assertion
        .attr("ID")
        .ok_or_else(|| StsError::Response("the assertion has no ID".into()))?
        .to_string();
    if !verified.signed_ids.contains(&id) {
        return Err(StsError::Response(
            "the STS's signature does not cover the assertion".into(),
        ));
    }
    let text_of = |local: &str| {
        doc.find(ns::SAML2, local)
            .into_iter()
            .find(|p| p.starts_with(path))
            .and_then(|p| doc.at(&p).map(|e| e.text().trim().to_string()))
    };
    let conditions = doc
        .find(ns::SAML2, "Conditions")
        .into_iter()
        .find(|p| p.starts_with(path))
        .and_then(|p| doc.at(&p))
        .ok_or_else(|| StsError::Response("the assertion has no Conditions".into()))?;
    let not_on_or_after = instant(
        conditions
            .attr("NotOnOrAfter")
            .ok_or_else(|| StsError::Response("Conditions without NotOnOrAfter".into()))?,
    )?;
    let cvr = doc
        .find(ns::SAML2, "Attribute")
        .into_iter()
        .filter(|p| p.starts_with(path))
        .filter_map(|p| doc.at(&p))
        .find(|a| a.attr("Name") == Some(CVR_CLAIM))
        .and_then(|a| {
            a.children_named("AttributeValue")
                .next()
                .map(|(_, v)| v.text().trim().to_string())
        })
        .unwrap_or_default();
    Ok(SamlToken {
        assertion: c14n::subtree(doc, path, &Options::default())
            .map_err(|e| StsError::Response(e.to_string()))?,
        id,
        audience: text_of("Audience").unwrap_or_default(),
        cvr,
        not_on_or_after,
    })
}
