//! Our XML signatures against xmlsec1's, on the real STS token request template: what
//! we sign, `xmlsec1 --verify` accepts; what `xmlsec1 --sign` signs, we verify; a
//! one-byte change to a signed element or to a digest is refused by both.
//!
//! The key is made here, at run time, and written only to this test's scratch folder
//! because xmlsec1 reads keys from files.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use knudepunkt_adapters::serviceplatformen::security::credentials::Credential;
use knudepunkt_adapters::serviceplatformen::security::dsig::{self, DsigError, KeySource};
use openssl::asn1::Asn1Time;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::x509::{X509, X509NameBuilder};

const WSA: &str = "http://www.w3.org/2005/08/addressing";
const WSU: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
const WSSE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
const SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";

struct Keys {
    dir: PathBuf,
    credential: Credential,
}

fn make_keys() -> Keys {
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "Knudepunkt interop test")
        .unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    let cert = b.build();
    let dir = std::env::temp_dir().join(format!("kp-xmlsec-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let key_pem = key.private_key_to_pem_pkcs8().unwrap();
    let cert_pem = cert.to_pem().unwrap();
    std::fs::write(dir.join("key.pem"), &key_pem).unwrap();
    std::fs::write(dir.join("cert.pem"), &cert_pem).unwrap();
    Keys {
        credential: Credential::from_pem(&cert_pem, &key_pem).unwrap(),
        dir,
    }
}

/// The official template with its blanks filled in, as the STS client will fill them.
fn request(credential: &Credential) -> String {
    let template = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/formats/sts-token/SAMLTokenSoapTemplate.xml"),
    )
    .unwrap();
    let now = chrono::Utc::now();
    let cert =
        base64::engine::general_purpose::STANDARD.encode(credential.certificate.to_der().unwrap());
    template
        .replace("urn:uuid:another_unique_id", &format!("urn:uuid:{}", uuid::Uuid::new_v4()))
        .replace(r#"wsu:Id="to_id"></To>"#, r#"wsu:Id="to_id">https://adgangsstyring.eksterntest-stoettesystemerne.dk/runtime/services/kombittrust/14/certificatemixed</To>"#)
        .replace("<wsu:Created></wsu:Created>", &format!("<wsu:Created>{}</wsu:Created>", now.format("%Y-%m-%dT%H:%M:%SZ")))
        .replace("<wsu:Expires></wsu:Expires>", &format!("<wsu:Expires>{}</wsu:Expires>", (now + chrono::Duration::minutes(5)).format("%Y-%m-%dT%H:%M:%SZ")))
        .replace("X509v3\" wsu:Id=\"security_token_id\"></wsse:BinarySecurityToken>", &format!("X509v3\" wsu:Id=\"security_token_id\">{cert}</wsse:BinarySecurityToken>"))
        .replace("#X509v3\"></wsse:BinarySecurityToken>", &format!("#X509v3\">{cert}</wsse:BinarySecurityToken>"))
        .replace(r#"<Value xmlns="http://docs.oasis-open.org/wsfed/authorization/200706"></Value>"#, r#"<Value xmlns="http://docs.oasis-open.org/wsfed/authorization/200706">64942212</Value>"#)
}

fn id_attrs() -> Vec<String> {
    let mut args = Vec::new();
    for (ns, name) in [
        (WSA, "Action"),
        (WSA, "MessageID"),
        (WSA, "To"),
        (WSA, "ReplyTo"),
        (WSU, "Timestamp"),
        (WSSE, "BinarySecurityToken"),
        (SOAP12, "Body"),
    ] {
        args.push("--id-attr:Id".to_string());
        args.push(format!("{ns}:{name}"));
    }
    args
}

fn xmlsec1(command: &str, args: &[&str], dir: &Path) -> (bool, String) {
    // Options before the file: xmlsec1 reads the last argument as the document.
    let out = Command::new("xmlsec1")
        .arg(command)
        .args(id_attrs())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("xmlsec1 is installed (scripts/install-deps)");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Whether xmlsec1 refuses the document as a verification failure (not as a usage error).
fn xmlsec1_refuses(keys: &Keys, signed: &str) -> bool {
    let (ok, out) = xmlsec1_verifies(keys, signed);
    assert!(
        !out.contains("invalid parameters"),
        "xmlsec1 was called wrongly:\n{out}"
    );
    !ok && out.contains("FAIL")
}

fn xmlsec1_verifies(keys: &Keys, signed: &str) -> (bool, String) {
    std::fs::write(keys.dir.join("signed.xml"), signed).unwrap();
    xmlsec1(
        "--verify",
        &["--pubkey-cert-pem", "cert.pem", "signed.xml"],
        &keys.dir,
    )
}

/// Changes one byte inside the first occurrence of `inside`.
fn one_byte_changed(xml: &str, inside: &str) -> String {
    let at = xml
        .find(inside)
        .unwrap_or_else(|| panic!("{inside} not in the document"))
        + inside.len() / 2;
    let mut bytes = xml.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

#[test]
fn xmlsec1_accepts_what_we_sign() {
    let keys = make_keys();
    let signed = dsig::sign(&request(&keys.credential), &keys.credential).unwrap();
    let (ok, out) = xmlsec1_verifies(&keys, &signed);
    assert!(ok, "xmlsec1 refused our signature:\n{out}");
    assert!(out.contains("SignedInfo References (ok/all): 7/7"), "{out}");
    // And we accept it too, with the key from the BinarySecurityToken.
    let v = dsig::verify(&signed, KeySource::FromDocument).unwrap();
    assert_eq!(v.signed_ids.len(), 7);
}

#[test]
fn we_verify_what_xmlsec1_signs() {
    let keys = make_keys();
    std::fs::write(keys.dir.join("template.xml"), request(&keys.credential)).unwrap();
    let (ok, out) = xmlsec1(
        "--sign",
        &[
            "--privkey-pem",
            "key.pem,cert.pem",
            "--output",
            "by-xmlsec1.xml",
            "template.xml",
        ],
        &keys.dir,
    );
    assert!(ok, "xmlsec1 --sign failed:\n{out}");
    let signed = std::fs::read_to_string(keys.dir.join("by-xmlsec1.xml")).unwrap();
    let v = dsig::verify(
        &signed,
        KeySource::Certificate(&keys.credential.certificate),
    )
    .unwrap();
    let mut ids = v.signed_ids.clone();
    ids.sort();
    assert_eq!(
        ids,
        [
            "action_id",
            "body_id",
            "message_id_id",
            "reply_id",
            "security_token_id",
            "timestamp_id",
            "to_id"
        ]
    );
    dsig::verify(&signed, KeySource::FromDocument).unwrap();
}

#[test]
fn a_one_byte_change_is_refused_by_both() {
    let keys = make_keys();
    let signed = dsig::sign(&request(&keys.credential), &keys.credential).unwrap();
    assert!(
        xmlsec1_verifies(&keys, &signed).0,
        "the untouched document verifies"
    );

    // In a signed element: the body's AppliesTo address.
    let changed = one_byte_changed(&signed, "stoettesystemerne.dk/service/organisation/3");
    assert!(
        xmlsec1_refuses(&keys, &changed),
        "xmlsec1 accepted a changed body"
    );
    assert!(matches!(
        dsig::verify(&changed, KeySource::FromDocument),
        Err(DsigError::DigestMismatch(id)) if id == "#body_id"
    ));

    // In a digest value.
    let digest_at = signed.find("<ds:DigestValue>").unwrap() + "<ds:DigestValue>".len();
    let mut bytes = signed.clone().into_bytes();
    bytes[digest_at + 3] = if bytes[digest_at + 3] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let changed = String::from_utf8(bytes).unwrap();
    assert!(
        xmlsec1_refuses(&keys, &changed),
        "xmlsec1 accepted a changed digest"
    );
    assert!(dsig::verify(&changed, KeySource::FromDocument).is_err());

    // In the signature value.
    let sig_at = signed.find("<ds:SignatureValue>").unwrap() + "<ds:SignatureValue>".len() + 10;
    let mut bytes = signed.clone().into_bytes();
    bytes[sig_at] = if bytes[sig_at] == b'A' { b'B' } else { b'A' };
    let changed = String::from_utf8(bytes).unwrap();
    assert!(
        xmlsec1_refuses(&keys, &changed),
        "xmlsec1 accepted a changed signature value"
    );
    assert!(matches!(
        dsig::verify(&changed, KeySource::FromDocument),
        Err(DsigError::BadSignature)
    ));

    // Someone else's certificate does not verify it.
    let other = make_keys();
    assert!(matches!(
        dsig::verify(
            &signed,
            KeySource::Certificate(&other.credential.certificate)
        ),
        Err(DsigError::BadSignature)
    ));
    let _ = std::fs::remove_dir_all(&keys.dir);
}
