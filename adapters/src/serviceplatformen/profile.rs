//! A profile's Serviceplatformen settings made real: the client credential read from its
//! PKCS#12 or PEM files (the password from the variable the profile names), the STS
//! certificate to trust, and a report on every certificate's expiry for `route
//! validate` and the health endpoint.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use knudepunkt_engine::environment::{ClientCertificate, ServiceplatformenProfile, StatusReceiver};
use openssl::x509::X509;
use serde::Serialize;
use thiserror::Error;

use super::security::credentials::{Credential, CredentialError, subject_of};
use crate::sts::client::StsConfig;

#[derive(Debug, Error)]
pub enum ProfileError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: {source}")]
    Credential {
        file: String,
        source: CredentialError,
    },
    #[error("{file}: not a PEM certificate: {source}")]
    Certificate {
        file: String,
        source: openssl::error::ErrorStack,
    },
    #[error("the variable {0} with the certificate's password is not set")]
    Password(String),
}

fn read(path: &Path) -> Result<Vec<u8>, ProfileError> {
    std::fs::read(path).map_err(|source| ProfileError::Read {
        file: path.display().to_string(),
        source,
    })
}

/// The client credential the profile names. The key goes into memory only.
pub fn client_credential(profile: &ServiceplatformenProfile) -> Result<Credential, ProfileError> {
    credential(&profile.client_certificate)
}

/// The credential a profile's certificate setting names (PKCS#12 with its password from
/// the variable it names, or PEM files). The key goes into memory only.
pub fn credential(certificate: &ClientCertificate) -> Result<Credential, ProfileError> {
    match certificate {
        ClientCertificate::Pkcs12 {
            path,
            password_env,
            sandbox_password,
        } => {
            let password = match (password_env, sandbox_password) {
                (Some(var), fallback) => match (std::env::var(var), fallback) {
                    (Ok(p), _) => p,
                    (Err(_), Some(f)) => f.clone(),
                    (Err(_), None) => return Err(ProfileError::Password(var.clone())),
                },
                (None, _) => String::new(),
            };
            Credential::from_pkcs12(&read(path)?, &password).map_err(|source| {
                ProfileError::Credential {
                    file: path.display().to_string(),
                    source,
                }
            })
        }
        ClientCertificate::Pem { certificate, key } => {
            Credential::from_pem(&read(certificate)?, &read(key)?).map_err(|source| {
                ProfileError::Credential {
                    file: key.display().to_string(),
                    source,
                }
            })
        }
    }
}

pub fn sts_certificate(profile: &ServiceplatformenProfile) -> Result<X509, ProfileError> {
    X509::from_pem(&read(&profile.sts_certificate)?).map_err(|source| ProfileError::Certificate {
        file: profile.sts_certificate.display().to_string(),
        source,
    })
}

/// The environment's TLS trust store: every certificate in the PEM bundles it names.
pub fn trust_store(profile: &ServiceplatformenProfile) -> Result<Vec<X509>, ProfileError> {
    certificates(&profile.trust)
}

/// What the status receiver serves with: its certificate, and the CAs whose client
/// certificates it lets in.
pub fn status_receiver_tls(
    receiver: &StatusReceiver,
) -> Result<(Credential, Vec<X509>), ProfileError> {
    Ok((
        credential(&receiver.server_certificate)?,
        certificates(&receiver.client_ca)?,
    ))
}

/// Every certificate in the PEM bundles `paths`.
fn certificates(paths: &[PathBuf]) -> Result<Vec<X509>, ProfileError> {
    let mut out = Vec::new();
    for path in paths {
        out.extend(X509::stack_from_pem(&read(path)?).map_err(|source| {
            ProfileError::Certificate {
                file: path.display().to_string(),
                source,
            }
        })?);
    }
    Ok(out)
}

/// The STS client's settings for `environment`.
pub fn sts_config(
    profile: &ServiceplatformenProfile,
    environment: &str,
) -> Result<StsConfig, ProfileError> {
    Ok(StsConfig {
        environment: environment.to_string(),
        sts_url: profile.sts_url.clone(),
        access_token_url: profile.access_token_url.clone(),
        sts_certificate: sts_certificate(profile)?,
        refresh_margin: Duration::from_secs(120),
        timeout: Duration::from_secs(30),
        trust: trust_store(profile)?,
    })
}

/// Everything the STS client needs.
pub fn load(
    profile: &ServiceplatformenProfile,
    environment: &str,
) -> Result<(StsConfig, Arc<Credential>), ProfileError> {
    Ok((
        sts_config(profile, environment)?,
        Arc::new(client_credential(profile)?),
    ))
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateStatus {
    Valid,
    ExpiresSoon,
    Expired,
    Unreadable,
}

/// One certificate's state, for operators.
#[derive(Clone, Debug, Serialize)]
pub struct CertificateReport {
    pub what: &'static str,
    pub file: PathBuf,
    /// The line in the environment profile that names it.
    pub line: u64,
    pub subject: Option<String>,
    pub days_left: Option<i32>,
    pub status: CertificateStatus,
    pub detail: String,
}

pub fn days_left(cert: &X509) -> i32 {
    let now = openssl::asn1::Asn1Time::days_from_now(0).expect("the current time");
    match now.diff(cert.not_after()) {
        Ok(d) if d.days == 0 && d.secs < 0 => -1,
        Ok(d) => d.days,
        Err(_) => i32::MIN,
    }
}

fn report(
    what: &'static str,
    file: &Path,
    line: u64,
    cert: Result<X509, ProfileError>,
    warn_days: u32,
) -> CertificateReport {
    match cert {
        Ok(cert) => {
            let days = days_left(&cert);
            let expired =
                cert.not_after() < openssl::asn1::Asn1Time::days_from_now(0).expect("now");
            let (status, detail) = if expired {
                (
                    CertificateStatus::Expired,
                    format!("{what} expired {} day(s) ago", -days.min(0)),
                )
            } else if days < warn_days as i32 {
                (
                    CertificateStatus::ExpiresSoon,
                    format!("{what} expires in {days} day(s) (warning from {warn_days})"),
                )
            } else {
                (
                    CertificateStatus::Valid,
                    format!("{what} valid for {days} more day(s)"),
                )
            };
            CertificateReport {
                what,
                file: file.to_path_buf(),
                line,
                subject: Some(subject_of(&cert)),
                days_left: Some(days),
                status,
                detail,
            }
        }
        Err(e) => CertificateReport {
            what,
            file: file.to_path_buf(),
            line,
            subject: None,
            days_left: None,
            status: CertificateStatus::Unreadable,
            detail: format!("{what}: {e}"),
        },
    }
}

/// The state of the profile's client and STS certificates.
pub fn check(profile: &ServiceplatformenProfile) -> Vec<CertificateReport> {
    let file_of = |c: &ClientCertificate| match c {
        ClientCertificate::Pkcs12 { path, .. } => path.clone(),
        ClientCertificate::Pem { certificate, .. } => certificate.clone(),
    };
    let mut reports = vec![
        report(
            "client certificate",
            &file_of(&profile.client_certificate),
            profile.client_certificate_line,
            client_credential(profile).map(|c| c.certificate),
            profile.warn_days,
        ),
        report(
            "STS certificate",
            &profile.sts_certificate,
            profile.sts_certificate_line,
            sts_certificate(profile),
            profile.warn_days,
        ),
    ];
    if let Some(r) = &profile.status_receiver {
        reports.push(report(
            "status receiver certificate",
            &file_of(&r.server_certificate),
            r.server_certificate_line,
            credential(&r.server_certificate).map(|c| c.certificate),
            profile.warn_days,
        ));
    }
    reports
}
