//! What the STS clients of a process share when they have the same Serviceplatformen
//! profile: its configuration, the client certificate read and decrypted, and the TLS
//! setup made with it (the system's roots read and parsed again). Making those took about
//! 40 ms of CPU, and `knudepunkt serve` made them nine times at start.
//!
//! Each caller still gets a client of its own: an HTTP client's pooled connections belong
//! to the runtime that opened them, and a process may run several runtimes (the tests
//! do). A setup is taken again only for the same environment, the same profile and the
//! same certificate files as they are now (size and modification time, and the
//! password's variable): a renewed certificate makes a new one. The key is a digest; no
//! password is kept.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use knudepunkt_engine::environment::{ClientCertificate, ServiceplatformenProfile};
use sha2::{Digest, Sha256};

use crate::serviceplatformen::security::credentials::Credential;
use crate::sts::client::{StsClient, StsConfig};

/// What one profile's clients share.
#[derive(Clone)]
pub(crate) struct Setup {
    pub config: StsConfig,
    pub credential: Arc<Credential>,
    pub tls: native_tls::TlsConnector,
}

type Made = Mutex<HashMap<[u8; 32], Setup>>;

fn made() -> &'static Made {
    static MADE: std::sync::OnceLock<Made> = std::sync::OnceLock::new();
    MADE.get_or_init(Default::default)
}

/// A new client for `profile` in `environment`, on the setup made for it with its files
/// as they are now, or on the one `make` makes (kept if it succeeds).
pub(crate) fn client(
    profile: &ServiceplatformenProfile,
    environment: &str,
    make: impl FnOnce() -> Result<Setup, String>,
) -> Result<Arc<StsClient>, String> {
    let key = key(profile, environment);
    let known = made().lock().expect("never poisoned").get(&key).cloned();
    let setup = match known {
        Some(setup) => setup,
        None => {
            let setup = make()?;
            made()
                .lock()
                .expect("never poisoned")
                .insert(key, setup.clone());
            setup
        }
    };
    StsClient::with_tls(setup.config, setup.credential, setup.tls)
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

fn key(profile: &ServiceplatformenProfile, environment: &str) -> [u8; 32] {
    let mut digest = Sha256::new();
    digest.update(environment.as_bytes());
    digest.update([0]);
    digest.update(format!("{profile:?}").as_bytes());
    let mut files: Vec<&Path> = vec![&profile.sts_certificate];
    match &profile.client_certificate {
        ClientCertificate::Pkcs12 {
            path, password_env, ..
        } => {
            files.push(path);
            if let Some(var) = password_env {
                digest.update([1]);
                digest.update(std::env::var(var).unwrap_or_default().as_bytes());
            }
        }
        ClientCertificate::Pem { certificate, key } => {
            files.push(certificate);
            files.push(key);
        }
    }
    files.extend(profile.trust.iter().map(|p| p.as_path()));
    for file in files {
        digest.update([2]);
        digest.update(file.as_os_str().as_encoded_bytes());
        if let Ok(meta) = std::fs::metadata(file) {
            digest.update(meta.len().to_le_bytes());
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .unwrap_or_default();
            digest.update(modified.as_nanos().to_le_bytes());
        }
    }
    digest.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(dir: &Path) -> ServiceplatformenProfile {
        ServiceplatformenProfile {
            cvr: "64942212".into(),
            sts_url: "https://sts.example/".into(),
            access_token_url: "https://sts.example/token".into(),
            client_certificate: ClientCertificate::Pem {
                certificate: dir.join("client.pem"),
                key: dir.join("client-key.pem"),
            },
            client_certificate_line: 1,
            sts_certificate: dir.join("sts.pem"),
            sts_certificate_line: 2,
            warn_days: 30,
            trust: Vec::new(),
            status_receiver: None,
        }
    }

    #[test]
    fn the_same_profile_and_files_share_a_key_and_a_changed_file_does_not() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["client.pem", "client-key.pem", "sts.pem"] {
            std::fs::write(dir.path().join(f), "one").unwrap();
        }
        let p = profile(dir.path());
        assert_eq!(key(&p, "test"), key(&p, "test"));
        assert_ne!(key(&p, "test"), key(&p, "preprod"));
        let mut other = p.clone();
        other.cvr = "11111111".into();
        assert_ne!(key(&p, "test"), key(&other, "test"));
        let before = key(&p, "test");
        // A renewed certificate: another size.
        std::fs::write(dir.path().join("client.pem"), "renewed").unwrap();
        assert_ne!(before, key(&p, "test"));
    }

    #[test]
    fn a_setup_made_is_taken_again_for_a_client_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let p = profile(dir.path());
        let certs = crate::sandbox::certs::SandboxCertificates::shared();
        let mut made = 0;
        let mut make = || {
            made += 1;
            let config = StsConfig {
                environment: "test".into(),
                sts_url: p.sts_url.clone(),
                access_token_url: p.access_token_url.clone(),
                sts_certificate: certs.sts.certificate.clone(),
                refresh_margin: std::time::Duration::from_secs(60),
                timeout: std::time::Duration::from_secs(5),
                trust: Vec::new(),
            };
            let tls = StsClient::tls(&config, &certs.client).map_err(|e| e.to_string())?;
            Ok(Setup {
                config,
                credential: certs.client.clone(),
                tls,
            })
        };
        let first = client(&p, "a-setup-made-is-taken-again", &mut make).unwrap();
        let again = client(&p, "a-setup-made-is-taken-again", &mut make).unwrap();
        assert!(!Arc::ptr_eq(&first, &again));
        assert!(Arc::ptr_eq(first.credential(), again.credential()));
        assert_eq!(made, 1);
    }

    #[test]
    fn a_failure_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let p = profile(dir.path());
        let mut tries = 0;
        for _ in 0..2 {
            let made = client(&p, "a-failure-is-not-kept", || {
                tries += 1;
                Err("no certificate".into())
            });
            assert_eq!(made.err().as_deref(), Some("no certificate"));
        }
        assert_eq!(tries, 2);
    }
}
