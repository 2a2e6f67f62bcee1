//! XML signatures as WS-Security uses them: a `ds:Signature` template whose references
//! point at elements by `wsu:Id`, exclusive canonicalization, SHA-256 digests and
//! RSA-SHA256 signature values. [`sign`] fills a template in; [`verify`] checks every
//! reference and the signature value, with the key from the caller or from the
//! document's KeyInfo (a BinarySecurityToken, a SAML assertion's holder-of-key
//! certificate, or X509Data).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKeyRef, Public};
use openssl::sign::{Signer, Verifier};
use openssl::x509::X509;
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::c14n::{self, Options};
use super::credentials::Credential;
use super::dom::{Document, Element, Path, XmlError};
use super::ns;

pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
pub const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
pub const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const SAML_ID: &str = "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLID";

#[derive(Debug, Error)]
pub enum DsigError {
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("the document has no ds:Signature")]
    NoSignature,
    #[error("the signature has no {0}")]
    Missing(&'static str),
    #[error("reference {0:?}: no element has that Id")]
    UnknownReference(String),
    #[error("unsupported algorithm {0:?}")]
    Algorithm(String),
    #[error("reference {0:?}: the digest does not match; the element was changed after signing")]
    DigestMismatch(String),
    #[error("the signature value does not verify with the signer's key")]
    BadSignature,
    #[error("no key to verify with: {0}")]
    NoKey(String),
    #[error("the {0} is not valid base64")]
    Base64(&'static str),
    #[error("openssl: {0}")]
    Openssl(#[from] openssl::error::ErrorStack),
}

/// Where the verifying key comes from.
pub enum KeySource<'a> {
    /// A certificate the caller already trusts for this signer.
    Certificate(&'a X509),
    /// The document's own KeyInfo; the caller then decides whether to trust the
    /// certificate it names (returned in [`Verified`]).
    FromDocument,
}

/// What a verification established.
#[derive(Debug)]
pub struct Verified {
    /// The certificate whose key verified the signature.
    pub certificate: Option<X509>,
    /// The Ids of the elements the signature covers.
    pub signed_ids: Vec<String>,
}

fn child<'a>(el: &'a Element, local: &'a str) -> Option<(usize, &'a Element)> {
    el.children_named(local).next()
}

fn base64(text: &str, what: &'static str) -> Result<Vec<u8>, DsigError> {
    let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(clean).map_err(|_| DsigError::Base64(what))
}

/// The `ds:Signature` a caller means: the one directly in a `wsse:Security` header if
/// there is one, else the first in the document.
pub fn signature_path(doc: &Document) -> Result<Path, DsigError> {
    let all = doc.find(ns::DSIG, "Signature");
    let in_security = all.iter().find(|p| {
        !p.is_empty() && {
            let parent = doc
                .at(&p[..p.len() - 1])
                .expect("parent of a found element");
            parent.local == "Security"
                && doc
                    .namespace_at(&p[..p.len() - 1], parent.prefix.as_deref())
                    .as_deref()
                    == Some(ns::WSSE)
        }
    });
    in_security
        .or(all.first())
        .cloned()
        .ok_or(DsigError::NoSignature)
}

fn algorithm(el: &Element, local: &'static str) -> Result<String, DsigError> {
    child(el, local)
        .and_then(|(_, m)| m.attr("Algorithm"))
        .map(str::to_string)
        .ok_or(DsigError::Missing(local))
}

/// The canonical bytes a reference's digest is taken over, and the Id it points at.
fn referenced(
    doc: &Document,
    sig: &[usize],
    reference: &Element,
) -> Result<(String, String), DsigError> {
    let uri = reference.attr("URI").unwrap_or("");
    let target: Path = match uri.strip_prefix('#') {
        Some(id) => doc
            .by_id(id)
            .ok_or_else(|| DsigError::UnknownReference(uri.to_string()))?,
        None if uri.is_empty() => Vec::new(),
        None => return Err(DsigError::Algorithm(format!("reference URI {uri}"))),
    };
    let mut exclude = None;
    let mut prefixes = Vec::new();
    let mut canonical = false;
    if let Some((_, transforms)) = child(reference, "Transforms") {
        for (_, t) in transforms.children_named("Transform") {
            match t.attr("Algorithm").unwrap_or("") {
                ENVELOPED => exclude = Some(sig.to_vec()),
                ns::EXC_C14N => {
                    canonical = true;
                    if let Some((_, inc)) = child(t, "InclusiveNamespaces") {
                        prefixes = inc
                            .attr("PrefixList")
                            .unwrap_or("")
                            .split_whitespace()
                            .map(str::to_string)
                            .collect();
                    }
                }
                other => return Err(DsigError::Algorithm(other.to_string())),
            }
        }
    }
    if !canonical {
        return Err(DsigError::Algorithm(format!(
            "reference {uri} without exclusive canonicalization"
        )));
    }
    let digest_method = algorithm(reference, "DigestMethod")?;
    if digest_method != SHA256 {
        return Err(DsigError::Algorithm(digest_method));
    }
    let opts = Options {
        inclusive_prefixes: &prefixes,
        exclude: exclude.as_deref(),
    };
    Ok((
        c14n::subtree(doc, &target, &opts)?,
        uri.trim_start_matches('#').to_string(),
    ))
}

fn signed_info_c14n(doc: &Document, signed_info: &[usize]) -> Result<String, DsigError> {
    let si = doc
        .at(signed_info)
        .ok_or(DsigError::Missing("SignedInfo"))?;
    let (_, method) =
        child(si, "CanonicalizationMethod").ok_or(DsigError::Missing("CanonicalizationMethod"))?;
    if method.attr("Algorithm") != Some(ns::EXC_C14N) {
        return Err(DsigError::Algorithm(
            method.attr("Algorithm").unwrap_or("").to_string(),
        ));
    }
    let prefixes: Vec<String> = child(method, "InclusiveNamespaces")
        .and_then(|(_, inc)| inc.attr("PrefixList"))
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let signature_method = algorithm(si, "SignatureMethod")?;
    if signature_method != RSA_SHA256 {
        return Err(DsigError::Algorithm(signature_method));
    }
    Ok(c14n::subtree(
        doc,
        signed_info,
        &Options {
            inclusive_prefixes: &prefixes,
            exclude: None,
        },
    )?)
}

/// Fills in the digest and signature values of the document's signature template.
pub fn sign(xml: &str, credential: &Credential) -> Result<String, DsigError> {
    let mut doc = Document::parse(xml)?;
    sign_document(&mut doc, credential)?;
    Ok(doc.to_xml())
}

/// [`sign`] on a parsed document.
pub fn sign_document(doc: &mut Document, credential: &Credential) -> Result<(), DsigError> {
    let sig = signature_path(doc)?;
    let sig_el = doc.at(&sig).expect("found above");
    let (si_index, si) = child(sig_el, "SignedInfo").ok_or(DsigError::Missing("SignedInfo"))?;
    let mut signed_info = sig.clone();
    signed_info.push(si_index);
    let mut digests = Vec::new();
    for (ri, reference) in si.children_named("Reference") {
        let (canonical, _) = referenced(doc, &sig, reference)?;
        let (di, _) = child(reference, "DigestValue").ok_or(DsigError::Missing("DigestValue"))?;
        let mut at = signed_info.clone();
        at.extend([ri, di]);
        digests.push((at, STANDARD.encode(Sha256::digest(canonical.as_bytes()))));
    }
    if digests.is_empty() {
        return Err(DsigError::Missing("Reference"));
    }
    for (at, value) in digests {
        doc.at_mut(&at)
            .expect("a DigestValue found above")
            .set_text(&value);
    }
    let canonical = signed_info_c14n(doc, &signed_info)?;
    let mut signer = Signer::new(MessageDigest::sha256(), credential.key())?;
    signer.update(canonical.as_bytes())?;
    let value = STANDARD.encode(signer.sign_to_vec()?);
    let (vi, _) = child(doc.at(&sig).expect("found above"), "SignatureValue")
        .ok_or(DsigError::Missing("SignatureValue"))?;
    let mut at = sig;
    at.push(vi);
    doc.at_mut(&at).expect("found above").set_text(&value);
    Ok(())
}

/// Checks every reference's digest and the signature value.
pub fn verify(xml: &str, key: KeySource<'_>) -> Result<Verified, DsigError> {
    let doc = Document::parse(xml)?;
    let sig = signature_path(&doc)?;
    verify_signature(&doc, &sig, key)
}

/// [`verify`] for the signature at `sig` in a parsed document.
pub fn verify_signature(
    doc: &Document,
    sig: &[usize],
    key: KeySource<'_>,
) -> Result<Verified, DsigError> {
    let sig_el = doc.at(sig).ok_or(DsigError::NoSignature)?;
    let (si_index, si) = child(sig_el, "SignedInfo").ok_or(DsigError::Missing("SignedInfo"))?;
    let mut signed_ids = Vec::new();
    for (_, reference) in si.children_named("Reference") {
        let (canonical, id) = referenced(doc, sig, reference)?;
        let (_, stated) =
            child(reference, "DigestValue").ok_or(DsigError::Missing("DigestValue"))?;
        let stated = base64(&stated.text(), "DigestValue")?;
        if stated[..] != Sha256::digest(canonical.as_bytes())[..] {
            return Err(DsigError::DigestMismatch(format!("#{id}")));
        }
        signed_ids.push(id);
    }
    if signed_ids.is_empty() {
        return Err(DsigError::Missing("Reference"));
    }
    let mut signed_info = sig.to_vec();
    signed_info.push(si_index);
    let canonical = signed_info_c14n(doc, &signed_info)?;
    let (_, value) = child(sig_el, "SignatureValue").ok_or(DsigError::Missing("SignatureValue"))?;
    let value = base64(&value.text(), "SignatureValue")?;
    let certificate = match key {
        KeySource::Certificate(c) => c.clone(),
        KeySource::FromDocument => key_info_certificate(doc, sig)?,
    };
    let public = certificate.public_key()?;
    if !rsa_sha256_verifies(&public, canonical.as_bytes(), &value)? {
        return Err(DsigError::BadSignature);
    }
    Ok(Verified {
        certificate: Some(certificate),
        signed_ids,
    })
}

fn rsa_sha256_verifies(
    key: &PKeyRef<Public>,
    data: &[u8],
    signature: &[u8],
) -> Result<bool, DsigError> {
    let mut v = Verifier::new(MessageDigest::sha256(), key)?;
    v.update(data)?;
    Ok(v.verify(signature).unwrap_or(false))
}

fn certificate_from(el: &Element, what: &'static str) -> Result<X509, DsigError> {
    Ok(X509::from_der(&base64(&el.text(), what)?)?)
}

/// The certificate a signature's KeyInfo names.
pub fn key_info_certificate(doc: &Document, sig: &[usize]) -> Result<X509, DsigError> {
    let sig_el = doc.at(sig).ok_or(DsigError::NoSignature)?;
    let (_, key_info) = child(sig_el, "KeyInfo").ok_or(DsigError::NoKey("no KeyInfo".into()))?;
    if let Some((_, data)) = child(key_info, "X509Data")
        && let Some((_, cert)) = child(data, "X509Certificate")
    {
        return certificate_from(cert, "X509Certificate");
    }
    let Some((_, str_el)) = child(key_info, "SecurityTokenReference") else {
        return Err(DsigError::NoKey(
            "KeyInfo has neither X509Data nor a SecurityTokenReference".into(),
        ));
    };
    if let Some((_, r)) = child(str_el, "Reference") {
        let uri = r.attr("URI").unwrap_or("");
        let id = uri.trim_start_matches('#');
        let token = doc
            .by_id(id)
            .and_then(|p| doc.at(&p))
            .ok_or_else(|| DsigError::NoKey(format!("no token with Id {id:?}")))?;
        return certificate_from(token, "BinarySecurityToken");
    }
    if let Some((_, k)) = child(str_el, "KeyIdentifier")
        && k.attr("ValueType") == Some(SAML_ID)
    {
        let id = k.text();
        let assertion = doc
            .by_id(id.trim())
            .ok_or_else(|| DsigError::NoKey(format!("no SAML assertion with ID {id:?}")))?;
        // The holder-of-key certificate sits in the assertion's SubjectConfirmationData.
        let cert = doc
            .find(ns::DSIG, "X509Certificate")
            .into_iter()
            .filter(|p| p.starts_with(&assertion))
            .find(|p| {
                doc.lineage(p)
                    .iter()
                    .any(|e| e.local == "SubjectConfirmationData")
            })
            .ok_or_else(|| {
                DsigError::NoKey(format!(
                    "assertion {id:?} names no holder-of-key certificate"
                ))
            })?;
        return certificate_from(doc.at(&cert).expect("found above"), "X509Certificate");
    }
    Err(DsigError::NoKey(
        "the SecurityTokenReference names no token this verifier knows".into(),
    ))
}
