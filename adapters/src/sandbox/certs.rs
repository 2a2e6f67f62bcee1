//! The sandbox's certificates: a CA standing in for the OCES CA, the STS's signing
//! certificate (also Serviceplatformen's when it pushes statuses), a client (FOCES-like)
//! certificate for Knudepunkt and a server one for its status receiver, all made at run
//! time with openssl. `knudepunkt sandbox certs` writes them to a folder (the client's
//! as a PKCS#12 bundle, as an operator would receive it) so that the sandbox and the
//! engine in separate processes share them; no key is ever committed.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use crate::serviceplatformen::security::credentials::{Credential, CredentialError};
use crate::serviceplatformen::security::issuing::CertificateAuthority;

pub const CA_CERT: &str = "ca.pem";
pub const CA_KEY: &str = "ca-key.pem";
pub const STS_CERT: &str = "sts.pem";
pub const STS_KEY: &str = "sts-key.pem";
pub const CLIENT_P12: &str = "client.p12";
pub const CLIENT_CERT: &str = "client.pem";
/// Knudepunkt's server certificate for its status receiver (PostStatusBeskedModtag).
pub const SERVER_P12: &str = "server.p12";

pub struct SandboxCertificates {
    pub ca: Arc<CertificateAuthority>,
    pub sts: Arc<Credential>,
    pub client: Arc<Credential>,
    /// Knudepunkt's TLS server certificate (127.0.0.1, localhost), for the mTLS listener
    /// Serviceplatformen pushes statuses to.
    pub server: Arc<Credential>,
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxCertError {
    #[error(transparent)]
    Credential(#[from] CredentialError),
    #[error("{file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("openssl: {0}")]
    Openssl(#[from] openssl::error::ErrorStack),
    #[error("TLS client: {0}")]
    Tls(String),
}

fn write(dir: &Path, name: &str, bytes: &[u8], secret: bool) -> Result<(), SandboxCertError> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(name);
    let io = |source| SandboxCertError::Io {
        file: path.display().to_string(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    if secret {
        options.mode(0o600);
    }
    use std::io::Write;
    options
        .open(&path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(io)
}

fn read(dir: &Path, name: &str) -> Result<Vec<u8>, SandboxCertError> {
    let path = dir.join(name);
    std::fs::read(&path).map_err(|source| SandboxCertError::Io {
        file: path.display().to_string(),
        source,
    })
}

/// Writes a sandbox credential as a password-protected PKCS#12 bundle (mode 0600), as
/// an operator receives a FOCES certificate. For sandbox credentials only.
pub fn write_pkcs12(
    credential: &Credential,
    path: &Path,
    password: &str,
) -> Result<(), SandboxCertError> {
    let p12 = openssl::pkcs12::Pkcs12::builder()
        .name("knudepunkt-sandbox")
        .pkey(credential.key())
        .cert(&credential.certificate)
        .build2(password)?
        .to_der()?;
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("client.p12");
    write(dir, name, &p12, true)
}

impl SandboxCertificates {
    /// New ones, valid for a year.
    pub fn generate() -> Result<Self, SandboxCertError> {
        Self::issued_by(CertificateAuthority::new("Knudepunkt sandbox CA", 365)?)
    }

    /// New ones issued by `ca` (a CA something else already trusts, such as a test
    /// broker's).
    pub fn issued_by(ca: CertificateAuthority) -> Result<Self, SandboxCertError> {
        let sts = ca.issue("Sandbox STS", "Knudepunkt sandbox", 365)?;
        let client = ca.issue(
            "Knudepunkt (sandbox FOCES)",
            "Københavns Kommune // CVR:64942212",
            365,
        )?;
        let server = ca.issue_server(&["127.0.0.1", "localhost"], 365)?;
        Ok(SandboxCertificates {
            ca: Arc::new(ca),
            sts: Arc::new(sts),
            client: Arc::new(client),
            server: Arc::new(server),
        })
    }

    /// One set per process, for simulators run in-process (tests, demo, bench).
    pub fn shared() -> &'static SandboxCertificates {
        static SHARED: OnceLock<SandboxCertificates> = OnceLock::new();
        SHARED.get_or_init(|| Self::generate().expect("the sandbox certificates are made"))
    }

    /// Writes them to `dir`; the client's as a PKCS#12 bundle under `password`.
    pub fn write(&self, dir: &Path, password: &str) -> Result<(), SandboxCertError> {
        std::fs::create_dir_all(dir).map_err(|source| SandboxCertError::Io {
            file: dir.display().to_string(),
            source,
        })?;
        write(
            dir,
            CA_CERT,
            &self.ca.credential.certificate.to_pem()?,
            false,
        )?;
        write(
            dir,
            CA_KEY,
            &self.ca.credential.key().private_key_to_pem_pkcs8()?,
            true,
        )?;
        write(dir, STS_CERT, &self.sts.certificate.to_pem()?, false)?;
        write(
            dir,
            STS_KEY,
            &self.sts.key().private_key_to_pem_pkcs8()?,
            true,
        )?;
        write(dir, CLIENT_CERT, &self.client.certificate.to_pem()?, false)?;
        write_pkcs12(&self.client, &dir.join(CLIENT_P12), password)?;
        write_pkcs12(&self.server, &dir.join(SERVER_P12), password)
    }

    /// Reads what [`write`](Self::write) wrote.
    pub fn read(dir: &Path, password: &str) -> Result<Self, SandboxCertError> {
        let ca = Credential::from_pem(&read(dir, CA_CERT)?, &read(dir, CA_KEY)?)?;
        let sts = Credential::from_pem(&read(dir, STS_CERT)?, &read(dir, STS_KEY)?)?;
        let client = Credential::from_pkcs12(&read(dir, CLIENT_P12)?, password)?;
        let server = Credential::from_pkcs12(&read(dir, SERVER_P12)?, password)?;
        Ok(SandboxCertificates {
            ca: Arc::new(CertificateAuthority { credential: ca }),
            sts: Arc::new(sts),
            client: Arc::new(client),
            server: Arc::new(server),
        })
    }

    /// How the sandbox's Serviceplatformen pushes statuses: with its own certificate (the
    /// STS's, as Serviceplatformen's) as the TLS client identity, trusting only the
    /// sandbox CA.
    pub fn pusher(&self) -> Result<reqwest::Client, SandboxCertError> {
        let identity = self.sts.tls_identity()?;
        let ca = reqwest::Certificate::from_der(&self.ca.credential.certificate.to_der()?)
            .map_err(|e| SandboxCertError::Tls(e.to_string()))?;
        reqwest::Client::builder()
            .identity(identity)
            .tls_certs_only([ca])
            .build()
            .map_err(|e| SandboxCertError::Tls(e.to_string()))
    }

    /// Whether `dir` holds a set.
    pub fn present(dir: &Path) -> bool {
        [CA_CERT, CA_KEY, STS_CERT, STS_KEY, CLIENT_P12, SERVER_P12]
            .iter()
            .all(|f| dir.join(f).is_file())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_certificates_read_back_and_keys_are_private_files() {
        let certs = SandboxCertificates::generate().unwrap();
        let dir = std::env::temp_dir().join(format!(
            "kp-sandbox-certs-{}",
            uuid::Uuid::now_v7().simple()
        ));
        certs.write(&dir, "sandbox").unwrap();
        assert!(SandboxCertificates::present(&dir));
        let back = SandboxCertificates::read(&dir, "sandbox").unwrap();
        assert_eq!(
            back.client.certificate.to_der().unwrap(),
            certs.client.certificate.to_der().unwrap()
        );
        assert!(back.ca.issued(&back.sts.certificate));
        use std::os::unix::fs::PermissionsExt;
        assert!(back.ca.issued(&back.server.certificate));
        for f in [CA_KEY, STS_KEY, CLIENT_P12, SERVER_P12] {
            let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{f}");
        }
        assert!(SandboxCertificates::read(&dir, "wrong").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
