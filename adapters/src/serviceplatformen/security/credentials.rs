//! Client credentials (FOCES/OCES): a private key and its certificate, read from PKCS#12
//! or PEM. The key lives in memory only: this type's Debug never shows it, it has no
//! Serialize, and nothing here writes it anywhere.

use openssl::pkcs12::Pkcs12;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum CredentialError {
    #[error("{what}: {source}")]
    Openssl {
        what: &'static str,
        source: openssl::error::ErrorStack,
    },
    #[error("the PKCS#12 bundle holds no {0}")]
    Missing(&'static str),
    #[error("the TLS library refused the credential: {0}")]
    Tls(String),
    #[error("the private key does not belong to the certificate ({subject})")]
    KeyMismatch { subject: String },
}

fn ossl(what: &'static str) -> impl FnOnce(openssl::error::ErrorStack) -> CredentialError {
    move |source| CredentialError::Openssl { what, source }
}

/// A private key with its certificate (and any intermediate certificates).
pub struct Credential {
    key: PKey<Private>,
    pub certificate: X509,
    pub chain: Vec<X509>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("subject", &self.subject())
            .field("not_after", &self.certificate.not_after().to_string())
            .field("key", &"<private key: in memory only>")
            .finish()
    }
}

impl Credential {
    /// From a PKCS#12 bundle (`.p12`/`.pfx`) and its password.
    pub fn from_pkcs12(der: &[u8], password: &str) -> Result<Self, CredentialError> {
        let parsed = Pkcs12::from_der(der)
            .map_err(ossl("reading the PKCS#12 bundle"))?
            .parse2(password)
            .map_err(ossl("opening the PKCS#12 bundle (wrong password?)"))?;
        let key = parsed.pkey.ok_or(CredentialError::Missing("private key"))?;
        let certificate = parsed.cert.ok_or(CredentialError::Missing("certificate"))?;
        let chain = parsed
            .ca
            .map(|stack| stack.into_iter().collect())
            .unwrap_or_default();
        Self::new(key, certificate, chain)
    }

    /// From PEM: the certificate (then any chain) and the private key.
    pub fn from_pem(certificates: &[u8], key: &[u8]) -> Result<Self, CredentialError> {
        let mut certs =
            X509::stack_from_pem(certificates).map_err(ossl("reading the certificate PEM"))?;
        if certs.is_empty() {
            return Err(CredentialError::Missing("certificate"));
        }
        let certificate = certs.remove(0);
        let key = PKey::private_key_from_pem(key).map_err(ossl("reading the private key PEM"))?;
        Self::new(key, certificate, certs)
    }

    /// From a key and certificate already in memory (the sandbox makes them so).
    pub fn new(
        key: PKey<Private>,
        certificate: X509,
        chain: Vec<X509>,
    ) -> Result<Self, CredentialError> {
        let public = certificate
            .public_key()
            .map_err(ossl("reading the certificate's key"))?;
        if !key.public_eq(&public) {
            return Err(CredentialError::KeyMismatch {
                subject: subject_of(&certificate),
            });
        }
        Ok(Credential {
            key,
            certificate,
            chain,
        })
    }

    /// The private key, for signing in this process; never to be written anywhere.
    pub(crate) fn key(&self) -> &PKey<Private> {
        &self.key
    }

    /// The credential as a TLS client identity (mTLS). The key's PEM exists only in this
    /// call's memory, handed to the TLS library and then overwritten.
    pub fn tls_identity(&self) -> Result<reqwest::Identity, CredentialError> {
        self.identity_from_pem(reqwest::Identity::from_pkcs8_pem)
    }

    /// The same for a TLS set-up made with native-tls directly (one several clients
    /// share, see `StsClient::tls`).
    pub fn native_tls_identity(&self) -> Result<native_tls::Identity, CredentialError> {
        self.identity_from_pem(native_tls::Identity::from_pkcs8)
    }

    /// `make` given the chain and the key as PEM; the key's copy is overwritten after.
    fn identity_from_pem<I, E: std::fmt::Display>(
        &self,
        make: impl FnOnce(&[u8], &[u8]) -> Result<I, E>,
    ) -> Result<I, CredentialError> {
        let (chain, mut key) = self.pkcs8_pem()?;
        let identity = make(&chain, &key);
        key.iter_mut().for_each(|b| *b = 0);
        identity.map_err(|e| CredentialError::Tls(e.to_string()))
    }

    /// The credential as a TLS client identity for a library that takes PEM (AMQP over
    /// TLS): the certificate chain and the PKCS#8 key, in memory only. The caller drops
    /// the key as soon as the handshake is done.
    pub(crate) fn pkcs8_pem(&self) -> Result<(Vec<u8>, Vec<u8>), CredentialError> {
        let mut chain = self
            .certificate
            .to_pem()
            .map_err(ossl("writing the certificate"))?;
        for c in &self.chain {
            chain.extend(c.to_pem().map_err(ossl("writing the chain"))?);
        }
        let key = self
            .key
            .private_key_to_pem_pkcs8()
            .map_err(ossl("preparing the key"))?;
        Ok((chain, key))
    }

    pub fn subject(&self) -> String {
        subject_of(&self.certificate)
    }

    /// The certificate in DER, base64: what a BinarySecurityToken carries.
    pub fn certificate_base64(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .encode(self.certificate.to_der().unwrap_or_default())
    }

    /// Days until the certificate expires (negative once it has).
    pub fn days_left(&self) -> i32 {
        let now = openssl::asn1::Asn1Time::days_from_now(0).expect("the current time");
        now.diff(self.certificate.not_after())
            .map(|d| d.days)
            .unwrap_or(i32::MIN)
    }
}

pub fn subject_of(cert: &X509) -> String {
    cert.subject_name()
        .entries()
        .map(|e| {
            format!(
                "{}={}",
                e.object().nid().short_name().unwrap_or("?"),
                e.data().to_string().unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_key() {
        let c = super::super::issuing::self_signed("Knudepunkt test", 30).unwrap();
        let pem = String::from_utf8(c.key().private_key_to_pem_pkcs8().unwrap()).unwrap();
        let body = pem.lines().nth(1).unwrap();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains(body) && shown.contains("in memory only"),
            "{shown}"
        );
        assert!((29..=30).contains(&c.days_left()));
    }

    #[test]
    fn pem_and_pkcs12_round_trip_and_mismatched_keys_are_refused() {
        let c = super::super::issuing::self_signed("A", 10).unwrap();
        let cert = c.certificate.to_pem().unwrap();
        let key = c.key().private_key_to_pem_pkcs8().unwrap();
        assert_eq!(
            Credential::from_pem(&cert, &key).unwrap().subject(),
            "C=DK, CN=A"
        );
        let p12 = openssl::pkcs12::Pkcs12::builder()
            .name("a")
            .pkey(c.key())
            .cert(&c.certificate)
            .build2("secret")
            .unwrap()
            .to_der()
            .unwrap();
        assert_eq!(
            Credential::from_pkcs12(&p12, "secret").unwrap().subject(),
            "C=DK, CN=A"
        );
        assert!(Credential::from_pkcs12(&p12, "wrong").is_err());
        let other = super::super::issuing::self_signed("B", 10).unwrap();
        let other_key = other.key().private_key_to_pem_pkcs8().unwrap();
        assert!(matches!(
            Credential::from_pem(&cert, &other_key),
            Err(CredentialError::KeyMismatch { .. })
        ));
    }
}
