//! OIO IDWS SOAP calls to Serviceplatformen services, shaped as the reference call
//! (`sts-token/oioidws-signed-request-example.xml`): SOAP 1.1 with the Liberty
//! `sbf:Framework` header, WS-Addressing headers, the RequestHeader's TransactionUUID,
//! and a WS-Security header holding a Timestamp, the STS's holder-of-key assertion and a
//! signature by the holder's key over the Body, the Timestamp, the addressing headers,
//! the Framework header and the assertion, with the key named by the assertion's ID.
//! The service side ([`verify_call`]) is what the sandbox's services use.

use chrono::{DateTime, Utc};
use openssl::x509::X509;
use thiserror::Error;

use super::security::credentials::Credential;
use super::security::dom::Document;
use super::security::dsig::{self, DsigError, KeySource};
use super::security::ns;
use crate::sts::token::{self, SamlToken};
use crate::sts::{StsError, WSA};

pub const SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";

/// The SOAP version a service speaks (most Serviceplatformen services 1.1; some STS
/// services, such as Ydelsesindeks, 1.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Soap {
    #[default]
    V11,
    V12,
}

impl Soap {
    pub fn namespace(self) -> &'static str {
        match self {
            Soap::V11 => SOAP11,
            Soap::V12 => SOAP12,
        }
    }

    /// The HTTP headers that carry the action: SOAP 1.1's `SOAPAction`, or SOAP 1.2's
    /// `action` parameter of the content type.
    pub fn headers(self, action: &str) -> Vec<(&'static str, String)> {
        match self {
            Soap::V11 => vec![
                ("content-type", "text/xml; charset=utf-8".into()),
                ("SOAPAction", format!("\"{action}\"")),
            ],
            Soap::V12 => vec![(
                "content-type",
                format!("application/soap+xml; charset=utf-8; action=\"{action}\""),
            )],
        }
    }
}

/// One call to a service.
#[derive(Clone, Debug)]
pub struct ServiceCall<'a> {
    /// The SOAP action (`wsa:Action`).
    pub action: &'a str,
    /// The service endpoint (`wsa:To`).
    pub to: &'a str,
    /// The Body's content: one element, in its own namespace.
    pub body: &'a str,
    /// Serviceplatformen's TransactionUUID: one per business transaction.
    pub transaction: uuid::Uuid,
    pub now: DateTime<Utc>,
    pub soap: Soap,
}

fn id() -> String {
    format!("_{}", uuid::Uuid::new_v4())
}

fn reference(id: &str, prefixes: &str) -> String {
    let inclusive = if prefixes.is_empty() {
        String::new()
    } else {
        format!(
            r#"<ec:InclusiveNamespaces xmlns:ec="http://www.w3.org/2001/10/xml-exc-c14n#" PrefixList="{prefixes}"/>"#
        )
    };
    format!(
        r##"<ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#">{inclusive}</ds:Transform></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue></ds:DigestValue></ds:Reference>"##
    )
}

/// The call, signed with the holder-of-key `credential` the `token` was issued to.
pub fn signed_call(
    call: &ServiceCall<'_>,
    token: &SamlToken,
    credential: &Credential,
) -> Result<String, DsigError> {
    let esc = |s: &str| quick_xml::escape::escape(s).into_owned();
    let (framework, action, message_id, to, reply_to, timestamp, body) =
        (id(), id(), id(), id(), id(), id(), id());
    let str_id = format!("STR-{}", uuid::Uuid::new_v4());
    let created = call.now.format("%Y-%m-%dT%H:%M:%S%.3fZ");
    let expires = (call.now + chrono::Duration::minutes(5)).format("%Y-%m-%dT%H:%M:%S%.3fZ");
    let references = [
        reference(&timestamp, "wsse soap"),
        reference(&body, ""),
        reference(&message_id, "soap"),
        reference(&action, "soap"),
        reference(&to, "soap"),
        reference(&reply_to, "soap"),
        reference(&framework, "soap"),
        reference(&token.id, "wsse wsu soap"),
    ]
    .concat();
    let wsu = ns::WSU;
    let wsse = ns::WSSE;
    let saml_token = "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV2.0";
    let saml_id = "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLID";
    let xml = format!(
        r##"<?xml version="1.0" encoding="UTF-8"?>
<soap:Envelope xmlns:soap="{soap_ns}"><soap:Header><sbf:Framework xmlns:ns1="urn:liberty:sb:profile" xmlns:sbf="urn:liberty:sb:2006-08" xmlns:wsu="{wsu}" ns1:profile="urn:liberty:sb:profile:basic" version="2.0" wsu:Id="{framework}"/><Action xmlns="{WSA}" xmlns:wsu="{wsu}" wsu:Id="{action}">{action_value}</Action><MessageID xmlns="{WSA}" xmlns:wsu="{wsu}" wsu:Id="{message_id}">urn:uuid:{mid}</MessageID><To xmlns="{WSA}" xmlns:wsu="{wsu}" wsu:Id="{to}">{to_value}</To><ReplyTo xmlns="{WSA}" xmlns:wsu="{wsu}" wsu:Id="{reply_to}"><Address>http://www.w3.org/2005/08/addressing/anonymous</Address></ReplyTo><RequestHeader xmlns="http://kombit.dk/xml/schemas/RequestHeader/1/"><TransactionUUID>{transaction}</TransactionUUID></RequestHeader><wsse:Security xmlns:wsse="{wsse}" xmlns:wsu="{wsu}" soap:mustUnderstand="1"><wsu:Timestamp wsu:Id="{timestamp}"><wsu:Created>{created}</wsu:Created><wsu:Expires>{expires}</wsu:Expires></wsu:Timestamp>{assertion}<wsse:SecurityTokenReference xmlns:wsse11="http://docs.oasis-open.org/wss/oasis-wss-wssecurity-secext-1.1.xsd" wsse11:TokenType="{saml_token}" wsu:Id="{str_id}"><wsse:KeyIdentifier ValueType="{saml_id}">{assertion_id}</wsse:KeyIdentifier></wsse:SecurityTokenReference><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="SIG-{sig}"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"><ec:InclusiveNamespaces xmlns:ec="http://www.w3.org/2001/10/xml-exc-c14n#" PrefixList="soap"/></ds:CanonicalizationMethod><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>{references}</ds:SignedInfo><ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><wsse:SecurityTokenReference xmlns:wsse11="http://docs.oasis-open.org/wss/oasis-wss-wssecurity-secext-1.1.xsd" wsse11:TokenType="{saml_token}"><wsse:KeyIdentifier ValueType="{saml_id}">{assertion_id}</wsse:KeyIdentifier></wsse:SecurityTokenReference></ds:KeyInfo></ds:Signature></wsse:Security></soap:Header><soap:Body xmlns:wsu="{wsu}" wsu:Id="{body}">{body_xml}</soap:Body></soap:Envelope>"##,
        action_value = esc(call.action),
        mid = uuid::Uuid::new_v4(),
        to_value = esc(call.to),
        transaction = call.transaction,
        assertion = token.assertion,
        assertion_id = esc(&token.id),
        sig = uuid::Uuid::new_v4(),
        body_xml = call.body,
        soap_ns = call.soap.namespace(),
    );
    dsig::sign(&xml, credential)
}

#[derive(Debug, Error)]
pub enum CallRefused {
    #[error("the message signature: {0}")]
    Signature(#[source] DsigError),
    #[error("the assertion: {0}")]
    Assertion(#[source] StsError),
    #[error("the signature does not cover {0}")]
    Uncovered(&'static str),
    #[error("the assertion is for {audience}, not this service ({service})")]
    Audience { audience: String, service: String },
    #[error("the assertion expired at {0}")]
    Expired(DateTime<Utc>),
    #[error("the message has no {0}")]
    Missing(&'static str),
}

/// What a service learns from a call it accepted.
#[derive(Debug)]
pub struct AcceptedCall {
    pub token: SamlToken,
    pub transaction: String,
    pub action: String,
}

/// The service side: the assertion is the STS's and for this service, the message is
/// signed by the assertion's holder-of-key, and the signature covers what it must.
pub fn verify_call(
    xml: &str,
    sts_certificate: &X509,
    service_entity_id: &str,
) -> Result<AcceptedCall, CallRefused> {
    let doc = Document::parse(xml).map_err(|e| CallRefused::Signature(DsigError::Xml(e)))?;
    let sig = dsig::signature_path(&doc).map_err(CallRefused::Signature)?;
    // The key is the holder-of-key certificate the assertion names.
    let verified = dsig::verify_signature(&doc, &sig, KeySource::FromDocument)
        .map_err(CallRefused::Signature)?;
    let assertion = doc
        .find(ns::SAML2, "Assertion")
        .into_iter()
        .next()
        .ok_or(CallRefused::Missing("SAML assertion"))?;
    let token =
        token::read_assertion(&doc, &assertion, sts_certificate).map_err(CallRefused::Assertion)?;
    if token.audience != service_entity_id {
        return Err(CallRefused::Audience {
            audience: token.audience,
            service: service_entity_id.to_string(),
        });
    }
    if token.not_on_or_after <= Utc::now() {
        return Err(CallRefused::Expired(token.not_on_or_after));
    }
    let id_of = |uri: &str, local: &'static str| -> Result<String, CallRefused> {
        doc.find(uri, local)
            .into_iter()
            .next()
            .and_then(|p| doc.at(&p).and_then(|e| e.attr("Id").map(str::to_string)))
            .ok_or(CallRefused::Missing(local))
    };
    let soap = [SOAP11, SOAP12]
        .into_iter()
        .find(|ns| !doc.find(ns, "Body").is_empty())
        .ok_or(CallRefused::Missing("Body"))?;
    for (uri, local) in [
        (soap, "Body"),
        (ns::WSU, "Timestamp"),
        (WSA, "Action"),
        (WSA, "MessageID"),
        (WSA, "To"),
        (WSA, "ReplyTo"),
    ] {
        if !verified.signed_ids.contains(&id_of(uri, local)?) {
            return Err(CallRefused::Uncovered(local));
        }
    }
    let text = |uri: &str, local: &'static str| {
        doc.find(uri, local)
            .into_iter()
            .next()
            .and_then(|p| doc.at(&p).map(|e| e.text().trim().to_string()))
            .ok_or(CallRefused::Missing(local))
    };
    Ok(AcceptedCall {
        transaction: text(
            "http://kombit.dk/xml/schemas/RequestHeader/1/",
            "TransactionUUID",
        )?,
        action: text(WSA, "Action")?,
        token,
    })
}
