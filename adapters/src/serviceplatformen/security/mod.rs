//! WS-Security for Serviceplatformen: a small XML tree, exclusive canonicalization,
//! XML signatures (RSA-SHA256, SHA-256 digests, references by `wsu:Id`) and client
//! credentials, all on openssl and quick-xml.

pub mod c14n;
pub mod credentials;
pub mod dom;
pub mod dsig;
pub mod issuing;

/// Namespaces the signatures speak.
pub mod ns {
    pub const DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
    pub const WSSE: &str =
        "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
    pub const WSU: &str =
        "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
    pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
    pub const XML: &str = "http://www.w3.org/XML/1998/namespace";
    pub const SAML2: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
}
