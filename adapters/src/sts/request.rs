//! The signed WS-Trust 1.3 Issue request, shaped as KOMBIT's own template
//! (`sts-token/SAMLTokenSoapTemplate.xml`): WS-Addressing headers, a Timestamp, the
//! client certificate as BinarySecurityToken, AppliesTo the service's entity id, the CVR
//! claim and UseKey, with a signature over all of them.

use base64::Engine as _;
use chrono::{DateTime, Utc};

use super::StsError;
use crate::serviceplatformen::security::credentials::Credential;
use crate::serviceplatformen::security::dsig;

/// What one token request asks for.
#[derive(Clone, Debug)]
pub struct TokenRequest<'a> {
    /// The STS endpoint (the request's `wsa:To`).
    pub sts_url: &'a str,
    /// The service the token is for, e.g. `http://stoettesystemerne.dk/service/organisation/3`.
    pub entity_id: &'a str,
    /// The organisation the call is made for.
    pub cvr: &'a str,
    pub now: DateTime<Utc>,
}

fn esc(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

const REFERENCES: [&str; 7] = [
    "timestamp_id",
    "body_id",
    "to_id",
    "reply_id",
    "message_id_id",
    "action_id",
    "security_token_id",
];

/// The request, signed with `credential`.
pub fn signed(req: &TokenRequest<'_>, credential: &Credential) -> Result<String, StsError> {
    let cert = base64::engine::general_purpose::STANDARD.encode(
        credential
            .certificate
            .to_der()
            .map_err(|e| StsError::Response(e.to_string()))?,
    );
    let created = req.now.format("%Y-%m-%dT%H:%M:%S%.3fZ");
    let expires = (req.now + chrono::Duration::minutes(5)).format("%Y-%m-%dT%H:%M:%S%.3fZ");
    let message_id = uuid::Uuid::new_v4();
    let wsu = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
    let wsse = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
    let x509 =
        "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3";
    let b64 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary";
    let references: String = REFERENCES
        .iter()
        .map(|id| {
            format!(
                r##"<ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue></ds:DigestValue></ds:Reference>"##
            )
        })
        .collect();
    let unsigned = format!(
        r##"<?xml version="1.0" encoding="UTF-8"?>
<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Header><Action xmlns="http://www.w3.org/2005/08/addressing" xmlns:wsu="{wsu}" wsu:Id="action_id">http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue</Action><MessageID xmlns="http://www.w3.org/2005/08/addressing" xmlns:wsu="{wsu}" wsu:Id="message_id_id">urn:uuid:{message_id}</MessageID><To xmlns="http://www.w3.org/2005/08/addressing" xmlns:wsu="{wsu}" wsu:Id="to_id">{to}</To><ReplyTo xmlns="http://www.w3.org/2005/08/addressing" xmlns:wsu="{wsu}" wsu:Id="reply_id"><Address>http://www.w3.org/2005/08/addressing/anonymous</Address></ReplyTo><wsse:Security xmlns:wsse="{wsse}" xmlns:wsu="{wsu}" soap:mustUnderstand="true"><wsu:Timestamp wsu:Id="timestamp_id"><wsu:Created>{created}</wsu:Created><wsu:Expires>{expires}</wsu:Expires></wsu:Timestamp><wsse:BinarySecurityToken xmlns:wsse="{wsse}" EncodingType="{b64}" ValueType="{x509}" wsu:Id="security_token_id">{cert}</wsse:BinarySecurityToken><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="signature_id"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>{references}</ds:SignedInfo><ds:SignatureValue></ds:SignatureValue><ds:KeyInfo Id="key_info_id"><wsse:SecurityTokenReference xmlns:wsse="{wsse}" xmlns:wsu="{wsu}" wsu:Id="security_token_reference_id"><wsse:Reference URI="#security_token_id" ValueType="{x509}"/></wsse:SecurityTokenReference></ds:KeyInfo></ds:Signature></wsse:Security></soap:Header><soap:Body xmlns:wsu="{wsu}" wsu:Id="body_id"><wst:RequestSecurityToken xmlns:wst="http://docs.oasis-open.org/ws-sx/ws-trust/200512"><wst:RequestType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue</wst:RequestType><wsp:AppliesTo xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy"><wsa:EndpointReference xmlns:wsa="http://www.w3.org/2005/08/addressing"><wsa:Address>{entity}</wsa:Address></wsa:EndpointReference></wsp:AppliesTo><Claims xmlns="http://docs.oasis-open.org/ws-sx/ws-trust/200512" Dialect="http://docs.oasis-open.org/wsfed/authorization/200706/authclaims"><ClaimType xmlns="http://docs.oasis-open.org/wsfed/authorization/200706" Uri="dk:gov:saml:attribute:CvrNumberIdentifier"><Value xmlns="http://docs.oasis-open.org/wsfed/authorization/200706">{cvr}</Value></ClaimType></Claims><wst:TokenType>http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV2.0</wst:TokenType><wst:KeyType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/PublicKey</wst:KeyType><wst:UseKey><wsse:BinarySecurityToken xmlns:wsse="{wsse}" EncodingType="{b64}" ValueType="{x509}">{cert}</wsse:BinarySecurityToken></wst:UseKey></wst:RequestSecurityToken></soap:Body></soap:Envelope>"##,
        to = esc(req.sts_url),
        entity = esc(req.entity_id),
        cvr = esc(req.cvr),
    );
    dsig::sign(&unsigned, credential).map_err(StsError::Signing)
}
