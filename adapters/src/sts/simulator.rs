//! The sandbox STS and access-token service. The STS verifies the request's signature
//! against the client certificate it carries, accepts only certificates the sandbox CA
//! issued and that are registered and unexpired, and refuses everything else with the
//! WS-Security/WS-Trust fault a real STS sends. It issues SAML 2.0 holder-of-key
//! assertions signed by its own certificate, with a short lifetime so clients refresh.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use openssl::x509::X509;

use super::{CVR_CLAIM, WSA, WST};
use crate::serviceplatformen::security::credentials::Credential;
use crate::serviceplatformen::security::dom::Document;
use crate::serviceplatformen::security::dsig::{self, KeySource};
use crate::serviceplatformen::security::issuing::CertificateAuthority;
use crate::serviceplatformen::security::ns;

/// Where the sandbox serves them (the real STS path, under `/sts`).
pub const STS_PATH: &str = "/sts/runtime/services/kombittrust/14/certificatemixed";
pub const ACCESS_TOKEN_PATH: &str = "/sts/service/AccessTokenService_1/token";
pub const ISSUER: &str = "https://saml.adgangsstyring.sandbox.knudepunkt";

struct Inner {
    ca: Arc<CertificateAuthority>,
    signer: Arc<Credential>,
    registered: RwLock<HashSet<Vec<u8>>>,
    lifetime: RwLock<Duration>,
    issued: AtomicU64,
    /// Assertions issued, by the entity (service) they are for.
    issued_for: RwLock<std::collections::HashMap<String, u64>>,
    refused: AtomicU64,
    access_tokens: AtomicU64,
    /// Access tokens handed out, with their expiry, for the sandbox's REST services.
    valid_tokens: RwLock<std::collections::HashMap<String, DateTime<Utc>>>,
}

/// The STS and access-token simulators; cheap to clone.
#[derive(Clone)]
pub struct StsSimulator {
    inner: Arc<Inner>,
}

/// A refusal, as the STS words it.
struct Fault {
    subcode: &'static str,
    reason: String,
}

fn fault(subcode: &'static str, reason: impl Into<String>) -> Fault {
    Fault {
        subcode,
        reason: reason.into(),
    }
}

impl IntoResponse for Fault {
    fn into_response(self) -> Response {
        let body = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value xmlns:wsse="{wsse}" xmlns:wsu="{wsu}" xmlns:wst="{wst}">{sub}</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en">{reason}</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>"#,
            wsse = ns::WSSE,
            wsu = ns::WSU,
            wst = WST,
            sub = self.subcode,
            reason = quick_xml::escape::escape(&self.reason),
        );
        // SOAP 1.2 over HTTP: a Sender fault is a 400.
        (
            StatusCode::BAD_REQUEST,
            [("content-type", "application/soap+xml; charset=utf-8")],
            body,
        )
            .into_response()
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn first_text(doc: &Document, uri: &str, local: &str) -> Option<String> {
    doc.find(uri, local)
        .into_iter()
        .next()
        .and_then(|p| doc.at(&p).map(|e| e.text().trim().to_string()))
}

impl StsSimulator {
    /// An STS whose signing certificate `ca` issues.
    pub fn new(ca: Arc<CertificateAuthority>) -> Self {
        let signer = ca
            .issue("Sandbox STS", "Knudepunkt sandbox", 365)
            .expect("the sandbox CA issues the STS certificate");
        Self::with_signer(ca, Arc::new(signer))
    }

    /// An STS signing with `signer` (from `knudepunkt sandbox certs`).
    pub fn with_signer(ca: Arc<CertificateAuthority>, signer: Arc<Credential>) -> Self {
        StsSimulator {
            inner: Arc::new(Inner {
                ca,
                signer,
                registered: RwLock::new(HashSet::new()),
                lifetime: RwLock::new(Duration::from_secs(300)),
                issued: AtomicU64::new(0),
                issued_for: RwLock::new(std::collections::HashMap::new()),
                refused: AtomicU64::new(0),
                access_tokens: AtomicU64::new(0),
                valid_tokens: RwLock::new(std::collections::HashMap::new()),
            }),
        }
    }

    /// The certificate clients must trust for assertions.
    pub fn certificate(&self) -> X509 {
        self.inner.signer.certificate.clone()
    }

    /// Lets a client certificate in (as registering a system in the administration
    /// module does).
    pub fn register(&self, cert: &X509) {
        if let Ok(der) = cert.to_der() {
            self.inner.registered.write().expect("sts").insert(der);
        }
    }

    /// How long issued assertions live.
    pub fn set_lifetime(&self, lifetime: Duration) {
        *self.inner.lifetime.write().expect("sts") = lifetime;
    }

    pub fn issued(&self) -> u64 {
        self.inner.issued.load(Ordering::SeqCst)
    }

    /// How many assertions were issued for the service `entity`.
    pub fn issued_for(&self, entity: &str) -> u64 {
        self.inner
            .issued_for
            .read()
            .expect("sts")
            .get(entity)
            .copied()
            .unwrap_or(0)
    }

    pub fn refused(&self) -> u64 {
        self.inner.refused.load(Ordering::SeqCst)
    }

    pub fn access_tokens(&self) -> u64 {
        self.inner.access_tokens.load(Ordering::SeqCst)
    }

    /// Whether `token` is an access token this service handed out and it has not expired.
    pub fn access_token_valid(&self, token: &str) -> bool {
        self.inner
            .valid_tokens
            .read()
            .expect("sts")
            .get(token)
            .is_some_and(|until| *until > Utc::now())
    }

    /// Lets every access token expire now (to test a service's 401).
    /// How a REST service of Serviceplatformen refuses a request without a valid
    /// Holder-of-key access token (its JSON error body); `None` lets it through.
    pub fn refuse_access_token(
        &self,
        headers: &axum::http::HeaderMap,
    ) -> Option<axum::response::Response> {
        let refuse = |code: &str, message: &str| {
            Some(crate::sandbox::rest_error(
                axum::http::StatusCode::UNAUTHORIZED,
                code,
                message,
            ))
        };
        match headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Holder-of-key "))
        {
            None => refuse("TOKEN_MISSING", "Holder-of-key access token mangler"),
            Some(t) if !self.access_token_valid(t.trim()) => {
                refuse("TOKEN_EXPIRED", "Adgangstoken er udløbet eller ukendt")
            }
            Some(_) => None,
        }
    }

    pub fn expire_access_tokens(&self) {
        self.inner.valid_tokens.write().expect("sts").clear();
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route(STS_PATH, post(issue))
            .route(ACCESS_TOKEN_PATH, post(access_token))
            .with_state(self.clone())
    }

    /// Checks an Issue request; what it asks for, or the fault to answer.
    fn check(&self, body: &str) -> Result<(X509, String, String, String), Fault> {
        let doc = Document::parse(body)
            .map_err(|e| fault("wst:InvalidRequest", format!("the request is not XML: {e}")))?;
        let verified = dsig::verify(body, KeySource::FromDocument).map_err(|e| {
            fault(
                "wsse:FailedCheck",
                format!("The signature or decryption was invalid: {e}"),
            )
        })?;
        let cert = verified
            .certificate
            .expect("a verified signature names its certificate");
        for (uri, local) in [
            (super::SOAP12, "Body"),
            (ns::WSU, "Timestamp"),
            (WSA, "To"),
            (WSA, "Action"),
        ] {
            let id = doc
                .find(uri, local)
                .into_iter()
                .next()
                .and_then(|p| doc.at(&p).and_then(|e| e.attr("Id").map(str::to_string)));
            if !id.is_some_and(|id| verified.signed_ids.contains(&id)) {
                return Err(fault(
                    "wsse:FailedCheck",
                    format!("the signature does not cover {local}"),
                ));
            }
        }
        if !self.inner.ca.issued(&cert) {
            return Err(fault(
                "wsse:FailedAuthentication",
                "the certificate is not issued by a trusted CA",
            ));
        }
        let now = openssl::asn1::Asn1Time::days_from_now(0).expect("now");
        if cert.not_after() < now {
            return Err(fault(
                "wsse:FailedAuthentication",
                "the certificate has expired",
            ));
        }
        let der = cert.to_der().unwrap_or_default();
        if !self.inner.registered.read().expect("sts").contains(&der) {
            return Err(fault(
                "wsse:FailedAuthentication",
                "the certificate is not registered for any system",
            ));
        }
        let expires = first_text(&doc, ns::WSU, "Expires")
            .and_then(|e| DateTime::parse_from_rfc3339(&e).ok())
            .ok_or_else(|| fault("wsse:InvalidSecurity", "the Timestamp has no Expires"))?;
        if expires < Utc::now() {
            return Err(fault("wsu:MessageExpired", "the message has expired"));
        }
        let use_key = doc
            .find(WST, "UseKey")
            .into_iter()
            .next()
            .and_then(|p| {
                doc.at(&p).and_then(|e| {
                    e.children_named("BinarySecurityToken")
                        .next()
                        .map(|(_, b)| b.text())
                })
            })
            .and_then(|b| {
                base64::engine::general_purpose::STANDARD
                    .decode(b.trim())
                    .ok()
            })
            .ok_or_else(|| fault("wst:InvalidRequest", "no UseKey certificate"))?;
        if use_key != der {
            return Err(fault(
                "wst:InvalidRequest",
                "UseKey is not the signing certificate",
            ));
        }
        let entity = first_text(&doc, WSA, "Address")
            .filter(|a| !a.contains("addressing/anonymous"))
            .or_else(|| {
                doc.find(WSA, "Address")
                    .into_iter()
                    .filter_map(|p| doc.at(&p).map(|e| e.text().trim().to_string()))
                    .find(|a| !a.contains("addressing/anonymous"))
            })
            .ok_or_else(|| fault("wst:InvalidRequest", "no AppliesTo address"))?;
        let cvr = doc
            .paths()
            .into_iter()
            .filter_map(|p| doc.at(&p))
            .find(|e| e.local == "ClaimType" && e.attr("Uri") == Some(CVR_CLAIM))
            .and_then(|e| {
                e.children_named("Value")
                    .next()
                    .map(|(_, v)| v.text().trim().to_string())
            })
            .filter(|c| c.len() == 8 && c.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| fault("wst:InvalidRequest", "no CVR claim of eight digits"))?;
        let message_id = first_text(&doc, WSA, "MessageID").unwrap_or_default();
        Ok((cert, entity, cvr, message_id))
    }

    fn assertion(&self, client: &X509, entity: &str, cvr: &str) -> String {
        let now = Utc::now();
        let until = now
            + chrono::Duration::from_std(*self.inner.lifetime.read().expect("sts"))
                .unwrap_or_default();
        let id = format!("_{}", uuid::Uuid::new_v4());
        let client_b64 =
            base64::engine::general_purpose::STANDARD.encode(client.to_der().unwrap_or_default());
        let signer_b64 = base64::engine::general_purpose::STANDARD
            .encode(self.inner.signer.certificate.to_der().unwrap_or_default());
        let subject = crate::serviceplatformen::security::credentials::subject_of(client);
        let esc = |s: &str| quick_xml::escape::escape(s).into_owned();
        format!(
            r##"<Assertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" IssueInstant="{now}" Version="2.0"><Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">{ISSUER}</Issuer><Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo><CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><Reference URI="#{id}"><Transforms><Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></Transforms><DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><DigestValue></DigestValue></Reference></SignedInfo><SignatureValue></SignatureValue><KeyInfo><X509Data><X509Certificate>{signer_b64}</X509Certificate></X509Data></KeyInfo></Signature><Subject><NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName">{subject}</NameID><SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:holder-of-key"><SubjectConfirmationData xmlns:a="http://www.w3.org/2001/XMLSchema-instance" NotBefore="{now}" NotOnOrAfter="{until}" Recipient="{entity}" a:type="KeyInfoConfirmationDataType"><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>{client_b64}</X509Certificate></X509Data></KeyInfo></SubjectConfirmationData></SubjectConfirmation></Subject><Conditions NotBefore="{now}" NotOnOrAfter="{until}"><AudienceRestriction><Audience>{entity}</Audience></AudienceRestriction></Conditions><AttributeStatement><Attribute Name="{CVR_CLAIM}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic"><AttributeValue>{cvr}</AttributeValue></Attribute><Attribute Name="dk:gov:saml:attribute:AssuranceLevel" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic"><AttributeValue>3</AttributeValue></Attribute><Attribute Name="dk:gov:saml:attribute:SpecVer" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic"><AttributeValue>DK-SAML-2.0</AttributeValue></Attribute><Attribute Name="dk:gov:saml:attribute:KombitSpecVer" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic"><AttributeValue>1.0</AttributeValue></Attribute></AttributeStatement><AuthnStatement AuthnInstant="{now}"><AuthnContext><AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:X509</AuthnContextClassRef></AuthnContext></AuthnStatement></Assertion>"##,
            now = time(now),
            until = time(until),
            subject = esc(&subject),
            entity = esc(entity),
        )
    }

    fn respond(&self, body: &str) -> Result<String, Fault> {
        let (client, entity, cvr, message_id) = self.check(body)?;
        let assertion = self.assertion(&client, &entity, &cvr);
        let mut doc =
            Document::parse(&assertion).map_err(|e| fault("wst:RequestFailed", e.to_string()))?;
        dsig::sign_document(&mut doc, &self.inner.signer)
            .map_err(|e| fault("wst:RequestFailed", e.to_string()))?;
        let mut signed = String::new();
        dom_to_fragment(&doc, &mut signed);
        let now = Utc::now();
        let until = now
            + chrono::Duration::from_std(*self.inner.lifetime.read().expect("sts"))
                .unwrap_or_default();
        self.inner.issued.fetch_add(1, Ordering::SeqCst);
        *self
            .inner
            .issued_for
            .write()
            .expect("sts")
            .entry(entity.clone())
            .or_default() += 1;
        Ok(format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="{WSA}"><s:Header><a:Action>http://docs.oasis-open.org/ws-sx/ws-trust/200512/RSTRC/IssueFinal</a:Action><a:RelatesTo>{rel}</a:RelatesTo></s:Header><s:Body><trust:RequestSecurityTokenResponseCollection xmlns:trust="{WST}"><trust:RequestSecurityTokenResponse><trust:Lifetime><wsu:Created xmlns:wsu="{wsu}">{created}</wsu:Created><wsu:Expires xmlns:wsu="{wsu}">{expires}</wsu:Expires></trust:Lifetime><wsp:AppliesTo xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy"><wsa:EndpointReference xmlns:wsa="{WSA}"><wsa:Address>{entity}</wsa:Address></wsa:EndpointReference></wsp:AppliesTo><trust:RequestedSecurityToken>{signed}</trust:RequestedSecurityToken><trust:TokenType>http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV2.0</trust:TokenType><trust:RequestType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue</trust:RequestType><trust:KeyType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/PublicKey</trust:KeyType></trust:RequestSecurityTokenResponse></trust:RequestSecurityTokenResponseCollection></s:Body></s:Envelope>"#,
            rel = quick_xml::escape::escape(&message_id),
            wsu = ns::WSU,
            created = time(now),
            expires = time(until),
            entity = quick_xml::escape::escape(&entity),
        ))
    }
}

/// The document's root element as a fragment (no XML declaration).
fn dom_to_fragment(doc: &Document, out: &mut String) {
    let full = doc.to_xml();
    let start = full.find("?>").map(|i| i + 2).unwrap_or(0);
    out.push_str(full[start..].trim_start());
}

async fn issue(State(sts): State<StsSimulator>, body: String) -> Response {
    match sts.respond(&body) {
        Ok(xml) => (
            StatusCode::OK,
            [("content-type", "application/soap+xml; charset=utf-8")],
            xml,
        )
            .into_response(),
        Err(f) => {
            sts.inner.refused.fetch_add(1, Ordering::SeqCst);
            tracing::info!(subcode = f.subcode, reason = %f.reason, "sandbox STS refused a token request");
            f.into_response()
        }
    }
}

#[derive(serde::Deserialize)]
struct Exchange {
    #[serde(rename = "saml-token")]
    saml_token: String,
}

async fn access_token(State(sts): State<StsSimulator>, Form(form): Form<Exchange>) -> Response {
    let refuse = |why: String| {
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({"error": "invalid_grant", "error_description": why})),
        )
            .into_response()
    };
    let doc = match Document::parse(&form.saml_token) {
        Ok(d) => d,
        Err(e) => return refuse(format!("the saml-token is not XML: {e}")),
    };
    let token = match super::token::read_assertion(&doc, &[], &sts.inner.signer.certificate) {
        Ok(t) => t,
        Err(e) => return refuse(e.to_string()),
    };
    let left = (token.not_on_or_after - Utc::now()).num_seconds();
    if left <= 0 {
        return refuse("the assertion has expired".into());
    }
    sts.inner.access_tokens.fetch_add(1, Ordering::SeqCst);
    let value =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes());
    let lifetime = left.min(3600);
    sts.inner.valid_tokens.write().expect("sts").insert(
        value.clone(),
        Utc::now() + chrono::Duration::seconds(lifetime),
    );
    axum::Json(serde_json::json!({
        "access_token": value,
        "token_type": "Holder-of-key",
        "expires_in": lifetime,
    }))
    .into_response()
}
