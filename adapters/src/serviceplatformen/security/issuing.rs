//! Certificates made at run time with openssl: the sandbox's CA and the client and
//! service certificates it issues, and throwaway self-signed ones for tests. No private
//! key is ever committed; these live in memory unless a caller writes them.

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::x509::extension::{BasicConstraints, KeyUsage};
use openssl::x509::{X509, X509Builder, X509Name, X509NameBuilder};

use super::credentials::{Credential, CredentialError};

fn ossl(what: &'static str) -> impl FnOnce(openssl::error::ErrorStack) -> CredentialError {
    move |source| CredentialError::Openssl { what, source }
}

fn name(cn: &str, org: Option<&str>) -> Result<X509Name, CredentialError> {
    let mut n = X509NameBuilder::new().map_err(ossl("naming"))?;
    n.append_entry_by_text("C", "DK").map_err(ossl("naming"))?;
    if let Some(o) = org {
        n.append_entry_by_text("O", o).map_err(ossl("naming"))?;
    }
    n.append_entry_by_text("CN", cn).map_err(ossl("naming"))?;
    Ok(n.build())
}

fn builder(
    subject: &X509Name,
    issuer: &X509Name,
    key: &PKey<openssl::pkey::Private>,
    days: u32,
) -> Result<X509Builder, CredentialError> {
    let mut b = X509::builder().map_err(ossl("building a certificate"))?;
    b.set_version(2).map_err(ossl("building a certificate"))?;
    let mut serial = BigNum::new().map_err(ossl("a serial number"))?;
    serial
        .rand(96, MsbOption::MAYBE_ZERO, false)
        .map_err(ossl("a serial number"))?;
    let serial = serial.to_asn1_integer().map_err(ossl("a serial number"))?;
    b.set_serial_number(&serial)
        .map_err(ossl("a serial number"))?;
    b.set_subject_name(subject)
        .map_err(ossl("building a certificate"))?;
    b.set_issuer_name(issuer)
        .map_err(ossl("building a certificate"))?;
    b.set_pubkey(key).map_err(ossl("building a certificate"))?;
    // Valid from a minute ago, so clocks a little apart agree.
    let start =
        Asn1Time::from_unix(chrono::Utc::now().timestamp() - 60).map_err(ossl("validity"))?;
    b.set_not_before(&start).map_err(ossl("validity"))?;
    let end = Asn1Time::days_from_now(days).map_err(ossl("validity"))?;
    b.set_not_after(&end).map_err(ossl("validity"))?;
    Ok(b)
}

fn rsa_key() -> Result<PKey<openssl::pkey::Private>, CredentialError> {
    PKey::from_rsa(Rsa::generate(2048).map_err(ossl("generating a key"))?)
        .map_err(ossl("generating a key"))
}

/// A self-signed certificate and its key, valid for `days`.
pub fn self_signed(cn: &str, days: u32) -> Result<Credential, CredentialError> {
    let key = rsa_key()?;
    let n = name(cn, None)?;
    let mut b = builder(&n, &n, &key, days)?;
    b.sign(&key, MessageDigest::sha256())
        .map_err(ossl("signing a certificate"))?;
    Credential::new(key, b.build(), vec![])
}

/// A certificate authority that issues certificates (the sandbox's stand-in for the
/// OCES CA).
pub struct CertificateAuthority {
    pub credential: Credential,
}

impl CertificateAuthority {
    pub fn new(cn: &str, days: u32) -> Result<Self, CredentialError> {
        let key = rsa_key()?;
        let n = name(cn, Some("Knudepunkt sandbox"))?;
        let mut b = builder(&n, &n, &key, days)?;
        b.append_extension(
            BasicConstraints::new()
                .critical()
                .ca()
                .build()
                .map_err(ossl("CA constraints"))?,
        )
        .map_err(ossl("CA constraints"))?;
        b.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()
                .map_err(ossl("CA key usage"))?,
        )
        .map_err(ossl("CA key usage"))?;
        b.sign(&key, MessageDigest::sha256())
            .map_err(ossl("signing the CA certificate"))?;
        Ok(CertificateAuthority {
            credential: Credential::new(key, b.build(), vec![])?,
        })
    }

    /// Issues a certificate for `cn` (an organisation's system, a service) valid for
    /// `days` (negative: already expired, for tests of expiry).
    pub fn issue(&self, cn: &str, org: &str, days: i64) -> Result<Credential, CredentialError> {
        let key = rsa_key()?;
        let subject = name(cn, Some(org))?;
        let mut b = builder(&subject, &self.issuer()?, &key, days.max(0) as u32)?;
        if days < 0 {
            let from = Asn1Time::from_unix(chrono::Utc::now().timestamp() + days * 86_400 - 86_400)
                .map_err(ossl("validity"))?;
            let to = Asn1Time::from_unix(chrono::Utc::now().timestamp() + days * 86_400)
                .map_err(ossl("validity"))?;
            b.set_not_before(&from).map_err(ossl("validity"))?;
            b.set_not_after(&to).map_err(ossl("validity"))?;
        }
        b.append_extension(
            KeyUsage::new()
                .critical()
                .digital_signature()
                .key_encipherment()
                .build()
                .map_err(ossl("key usage"))?,
        )
        .map_err(ossl("key usage"))?;
        self.sign(b, key)
    }

    /// Signs a built certificate as this CA; the credential with its chain.
    fn sign(
        &self,
        mut b: X509Builder,
        key: PKey<openssl::pkey::Private>,
    ) -> Result<Credential, CredentialError> {
        b.sign(self.credential.key(), MessageDigest::sha256())
            .map_err(ossl("signing a certificate"))?;
        Credential::new(key, b.build(), vec![self.credential.certificate.clone()])
    }

    /// The CA's name, as issuer of what it signs.
    fn issuer(&self) -> Result<X509Name, CredentialError> {
        self.credential
            .certificate
            .subject_name()
            .to_owned()
            .map_err(ossl("naming"))
    }

    /// Issues a TLS server certificate for `hosts` (DNS names or IP addresses).
    pub fn issue_server(&self, hosts: &[&str], days: u32) -> Result<Credential, CredentialError> {
        use openssl::x509::extension::{ExtendedKeyUsage, SubjectAlternativeName};
        let key = rsa_key()?;
        let subject = name(
            hosts.first().copied().unwrap_or("localhost"),
            Some("Knudepunkt sandbox"),
        )?;
        let mut b = builder(&subject, &self.issuer()?, &key, days)?;
        let mut san = SubjectAlternativeName::new();
        for h in hosts {
            if h.parse::<std::net::IpAddr>().is_ok() {
                san.ip(h);
            } else {
                san.dns(h);
            }
        }
        let ctx = b.x509v3_context(Some(&self.credential.certificate), None);
        let san = san.build(&ctx).map_err(ossl("subject alternative names"))?;
        b.append_extension(san)
            .map_err(ossl("subject alternative names"))?;
        b.append_extension(
            ExtendedKeyUsage::new()
                .server_auth()
                .build()
                .map_err(ossl("key usage"))?,
        )
        .map_err(ossl("key usage"))?;
        self.sign(b, key)
    }

    /// Whether `cert` was issued by this CA (its signature verifies with the CA's key).
    pub fn issued(&self, cert: &X509) -> bool {
        self.credential
            .certificate
            .public_key()
            .and_then(|k| cert.verify(&k))
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_issues_and_recognises_its_certificates() {
        let ca = CertificateAuthority::new("Sandbox CA", 10).unwrap();
        let client = ca.issue("Knudepunkt", "Københavns Kommune", 5).unwrap();
        assert!(ca.issued(&client.certificate));
        let stranger = self_signed("Stranger", 5).unwrap();
        assert!(!ca.issued(&stranger.certificate));
        let expired = ca.issue("Old", "Københavns Kommune", -3).unwrap();
        assert!(expired.days_left() < 0, "{}", expired.days_left());
        assert!(client.subject().contains("CN=Knudepunkt"));
    }
}
