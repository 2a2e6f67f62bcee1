//! Endpoint profiles: `environments/{dev,test,preprod,prod}.yaml`.
//!
//! A profile names every endpoint routes deliver to. URLs may use `${VAR}` or
//! `${VAR:-default}` so that one file serves a machine whose ports differ. An endpoint may
//! state the tier its remote side belongs to; a test profile that points at a preprod or
//! prod system is refused (seed B3.214: test talks to test, preprod to preprod).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;
use thiserror::Error;

pub const ENVIRONMENTS: [&str; 4] = ["dev", "test", "preprod", "prod"];

#[derive(Debug, Error)]
pub enum EnvironmentError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        file: String,
        line: u64,
        column: u64,
        message: String,
    },
    #[error("{file}:{line}: {message}")]
    Invalid {
        file: String,
        line: u64,
        message: String,
    },
    #[error("unknown environment {0:?}: expected one of dev, test, preprod, prod")]
    Unknown(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvironmentFile {
    /// Must match the file name.
    name: Spanned<String>,
    /// Whether this profile points at the sandbox of simulated systems.
    #[serde(default)]
    sandbox: bool,
    endpoints: BTreeMap<String, Spanned<EndpointFile>>,
    /// The organisation's Serviceplatformen access: STS, certificates.
    #[serde(default)]
    serviceplatformen: Option<Spanned<ServiceplatformenFile>>,
    /// Link targets templates and pages use, by name (`case_page`, `sapa_case`, ...),
    /// with `{id}`-style placeholders the user fills in; `${VAR:-default}` expands.
    #[serde(default)]
    links: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceplatformenFile {
    /// The municipality's CVR, the claim in every token request.
    cvr: String,
    /// The STS's Issue endpoint.
    sts: String,
    /// The access-token service (REST services such as SF1601).
    access_token: String,
    client_certificate: Spanned<ClientCertificateFile>,
    /// PEM file with the certificate the STS signs assertions with.
    sts_certificate: Spanned<String>,
    /// Warn when a certificate expires within this many days.
    #[serde(default = "default_warn_days")]
    warn_days: u32,
    /// PEM bundles of the CAs this environment's servers are trusted by (TLS); empty:
    /// the system's trust store.
    #[serde(default)]
    trust: Vec<String>,
    /// Where Beskedfordeler pushes statuses (PostStatusBeskedModtag), over mTLS.
    #[serde(default)]
    status_receiver: Option<Spanned<StatusReceiverFile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusReceiverFile {
    /// The address to listen on.
    listen: String,
    /// The certificate the receiver presents (PKCS#12 or PEM, as a client certificate).
    server_certificate: Spanned<ClientCertificateFile>,
    /// PEM bundles of the CAs whose client certificates are let in (Serviceplatformen's).
    client_ca: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientCertificateFile {
    /// A PKCS#12 bundle (FOCES/OCES as issued).
    #[serde(default)]
    pkcs12: Option<String>,
    /// The variable holding the bundle's password (never the password itself).
    #[serde(default)]
    password_env: Option<String>,
    /// Or PEM files: the certificate (with its chain) and the private key.
    #[serde(default)]
    pem_certificate: Option<String>,
    #[serde(default)]
    pem_key: Option<String>,
}

fn default_warn_days() -> u32 {
    30
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointFile {
    url: String,
    #[serde(default = "default_timeout", deserialize_with = "de_duration")]
    timeout: Duration,
    /// The tier of the remote system: sandbox, test, preprod or prod.
    #[serde(default)]
    tier: Option<String>,
    /// A Serviceplatformen service's entity id (what tokens are asked for).
    #[serde(default)]
    entity_id: Option<String>,
    /// For an AMQP endpoint, the queue Knudepunkt consumes (its Beskedfordeler dueslag).
    #[serde(default)]
    queue: Option<String>,
}

fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s)
        .map_err(|e| serde::de::Error::custom(format!("{s:?} is not a duration: {e}")))
}

/// One resolved endpoint.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub name: String,
    pub url: String,
    pub timeout: Duration,
    pub tier: Option<String>,
    /// A Serviceplatformen service's entity id, for its tokens.
    pub entity_id: Option<String>,
    /// For an AMQP endpoint, the queue Knudepunkt consumes.
    pub queue: Option<String>,
}

/// Where the client certificate is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientCertificate {
    Pkcs12 {
        path: PathBuf,
        /// The variable holding the password.
        password_env: Option<String>,
        /// Used when that variable is unset: only in a sandbox profile, whose bundle
        /// `knudepunkt sandbox certs` made with the password "sandbox".
        sandbox_password: Option<String>,
    },
    Pem {
        certificate: PathBuf,
        key: PathBuf,
    },
}

/// A profile's Serviceplatformen settings, paths and URLs expanded; the certificates
/// themselves are read by the adapters (they hold the openssl side).
#[derive(Clone, Debug)]
pub struct ServiceplatformenProfile {
    pub cvr: String,
    pub sts_url: String,
    pub access_token_url: String,
    pub client_certificate: ClientCertificate,
    /// Line of `client_certificate` in the profile, for diagnostics.
    pub client_certificate_line: u64,
    pub sts_certificate: PathBuf,
    pub sts_certificate_line: u64,
    pub warn_days: u32,
    /// The environment's TLS trust store (PEM bundles).
    pub trust: Vec<PathBuf>,
    pub status_receiver: Option<StatusReceiver>,
}

/// The mTLS listener Beskedfordeler pushes Digital Post statuses to.
#[derive(Clone, Debug)]
pub struct StatusReceiver {
    pub listen: String,
    pub server_certificate: ClientCertificate,
    /// Line of `server_certificate` in the profile, for diagnostics.
    pub server_certificate_line: u64,
    /// PEM bundles of the CAs that issue the certificates statuses are pushed with.
    pub client_ca: Vec<PathBuf>,
}

/// A loaded endpoint profile.
#[derive(Clone, Debug)]
pub struct Environment {
    pub name: String,
    pub sandbox: bool,
    pub file: PathBuf,
    pub endpoints: BTreeMap<String, Endpoint>,
    pub serviceplatformen: Option<ServiceplatformenProfile>,
    /// Link targets by name, e.g. `case_page: https://knudepunkt.kk.dk/sag/{id}`.
    pub links: BTreeMap<String, String>,
}

impl Environment {
    pub fn load(dir: &Path, name: &str) -> Result<Self, EnvironmentError> {
        if !ENVIRONMENTS.contains(&name) {
            return Err(EnvironmentError::Unknown(name.to_string()));
        }
        let path = dir.join(format!("{name}.yaml"));
        let file = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|source| EnvironmentError::Read {
            file: file.clone(),
            source,
        })?;
        Self::parse(&text, &file, name, &path)
    }

    fn parse(text: &str, file: &str, name: &str, path: &Path) -> Result<Self, EnvironmentError> {
        let parsed: EnvironmentFile = serde_saphyr::from_str(text).map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((1, 1));
            EnvironmentError::Parse {
                file: file.to_string(),
                line,
                column,
                message: crate::route::plain_message(&e),
            }
        })?;
        if parsed.name.value != name {
            return Err(EnvironmentError::Invalid {
                file: file.to_string(),
                line: parsed.name.referenced.line(),
                message: format!(
                    "profile is named {:?} but the file is for {name:?}",
                    parsed.name.value
                ),
            });
        }
        let mut endpoints = BTreeMap::new();
        for (key, ep) in parsed.endpoints {
            let line = ep.referenced.line();
            let ep = ep.value;
            if let Some(tier) = &ep.tier {
                let allowed = match name {
                    "dev" => tier == "sandbox" || tier == "dev",
                    other => tier == other,
                };
                if !allowed {
                    return Err(EnvironmentError::Invalid {
                        file: file.to_string(),
                        line,
                        message: format!(
                            "endpoint {key:?} belongs to tier {tier:?}; the {name} profile may only reach {name} systems"
                        ),
                    });
                }
            }
            let url = expand_vars(&ep.url).map_err(|message| EnvironmentError::Invalid {
                file: file.to_string(),
                line,
                message: format!("endpoint {key:?}: {message}"),
            })?;
            endpoints.insert(
                key.clone(),
                Endpoint {
                    name: key,
                    url,
                    timeout: ep.timeout,
                    tier: ep.tier,
                    entity_id: ep.entity_id,
                    queue: ep.queue,
                },
            );
        }
        let serviceplatformen = parsed
            .serviceplatformen
            .map(|sp| serviceplatformen_profile(sp, file, path, parsed.sandbox))
            .transpose()?;
        let mut links = BTreeMap::new();
        for (key, link) in parsed.links {
            let url = expand_vars(&link.value).map_err(|message| EnvironmentError::Invalid {
                file: file.to_string(),
                line: link.referenced.line(),
                message: format!("link {key:?}: {message}"),
            })?;
            links.insert(key, url);
        }
        Ok(Environment {
            name: name.to_string(),
            sandbox: parsed.sandbox,
            file: path.to_path_buf(),
            endpoints,
            serviceplatformen,
            links,
        })
    }

    pub fn endpoint(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints.get(name)
    }
}

fn serviceplatformen_profile(
    sp: Spanned<ServiceplatformenFile>,
    file: &str,
    profile: &Path,
    sandbox: bool,
) -> Result<ServiceplatformenProfile, EnvironmentError> {
    let line = sp.referenced.line();
    let sp = sp.value;
    let invalid = |line: u64, message: String| EnvironmentError::Invalid {
        file: file.to_string(),
        line,
        message,
    };
    let expand = |line: u64, what: &str, v: &str| {
        expand_vars(v).map_err(|m| invalid(line, format!("serviceplatformen {what}: {m}")))
    };
    // Relative paths are relative to the project root (the profile's parent folder).
    let root = profile
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| Path::new("."));
    let path = |line: u64, what: &str, v: &str| -> Result<PathBuf, EnvironmentError> {
        let p = PathBuf::from(expand(line, what, v)?);
        Ok(if p.is_absolute() { p } else { root.join(p) })
    };
    if sp.cvr.len() != 8 || !sp.cvr.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            line,
            format!("serviceplatformen cvr {:?} is not eight digits", sp.cvr),
        ));
    }
    let certificate = |cc: Spanned<ClientCertificateFile>, what: &str| {
        let cc_line = cc.referenced.line();
        let cc = cc.value;
        match (cc.pkcs12, cc.pem_certificate, cc.pem_key) {
            (Some(p12), None, None) => Ok(ClientCertificate::Pkcs12 {
                path: path(cc_line, &format!("{what}.pkcs12"), &p12)?,
                password_env: cc.password_env,
                sandbox_password: sandbox.then(|| "sandbox".to_string()),
            }),
            (None, Some(cert), Some(key)) if cc.password_env.is_none() => {
                Ok(ClientCertificate::Pem {
                    certificate: path(cc_line, &format!("{what}.pem_certificate"), &cert)?,
                    key: path(cc_line, &format!("{what}.pem_key"), &key)?,
                })
            }
            _ => Err(invalid(
                cc_line,
                format!(
                    "{what} needs either pkcs12 (with password_env) or pem_certificate and pem_key"
                ),
            )),
        }
    };
    let cc_line = sp.client_certificate.referenced.line();
    let client_certificate = certificate(sp.client_certificate, "client_certificate")?;
    let status_receiver = match sp.status_receiver {
        None => None,
        Some(r) => {
            let r_line = r.referenced.line();
            let r = r.value;
            if r.client_ca.is_empty() {
                return Err(invalid(
                    r_line,
                    "status_receiver.client_ca must name at least one CA: without it no pusher is trusted".into(),
                ));
            }
            Some(StatusReceiver {
                listen: expand(r_line, "status_receiver.listen", &r.listen)?,
                server_certificate_line: r.server_certificate.referenced.line(),
                server_certificate: certificate(
                    r.server_certificate,
                    "status_receiver.server_certificate",
                )?,
                client_ca: r
                    .client_ca
                    .iter()
                    .map(|c| path(r_line, "status_receiver.client_ca", c))
                    .collect::<Result<Vec<_>, _>>()?,
            })
        }
    };
    let sts_line = sp.sts_certificate.referenced.line();
    let trust = sp
        .trust
        .iter()
        .map(|t| path(line, "trust", t))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ServiceplatformenProfile {
        trust,
        cvr: sp.cvr,
        sts_url: expand(line, "sts", &sp.sts)?,
        access_token_url: expand(line, "access_token", &sp.access_token)?,
        client_certificate,
        client_certificate_line: cc_line,
        sts_certificate: path(sts_line, "sts_certificate", &sp.sts_certificate.value)?,
        sts_certificate_line: sts_line,
        warn_days: sp.warn_days,
        status_receiver,
    })
}

/// Expands `${VAR}` and `${VAR:-default}` from the process environment.
pub fn expand_vars(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed ${{ in {s:?}"))?;
        let expr = &after[..end];
        let (var, default) = match expr.split_once(":-") {
            Some((v, d)) => (v, Some(d)),
            None => (expr, None),
        };
        match (std::env::var(var).ok().filter(|v| !v.is_empty()), default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => {
                return Err(format!(
                    "environment variable {var} is not set and has no default"
                ));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_defaults() {
        assert_eq!(
            expand_vars("http://${KP_SURELY_UNSET_VAR:-127.0.0.1:9}/x").unwrap(),
            "http://127.0.0.1:9/x"
        );
        assert!(
            expand_vars("${KP_SURELY_UNSET_VAR}")
                .unwrap_err()
                .contains("KP_SURELY_UNSET_VAR")
        );
    }

    #[test]
    fn test_profile_cannot_reach_prod() {
        let text =
            "name: test\nendpoints:\n  sf1601:\n    url: https://prod.example/\n    tier: prod\n";
        let err =
            Environment::parse(text, "test.yaml", "test", Path::new("test.yaml")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "test.yaml:4: endpoint \"sf1601\" belongs to tier \"prod\"; the test profile may only reach test systems"
        );
    }

    #[test]
    fn serviceplatformen_needs_one_kind_of_client_certificate() {
        let base = "name: test\nendpoints: {}\nserviceplatformen:\n  cvr: \"64942212\"\n  sts: https://sts/\n  access_token: https://at/\n  sts_certificate: certs/sts.pem\n";
        let ok = format!(
            "{base}  client_certificate:\n    pkcs12: certs/client.p12\n    password_env: KP_PW\n"
        );
        let env = Environment::parse(
            &ok,
            "test.yaml",
            "test",
            Path::new("/srv/kp/environments/test.yaml"),
        )
        .unwrap();
        let sp = env.serviceplatformen.unwrap();
        assert_eq!(
            sp.client_certificate,
            ClientCertificate::Pkcs12 {
                path: PathBuf::from("/srv/kp/certs/client.p12"),
                password_env: Some("KP_PW".into()),
                sandbox_password: None,
            }
        );
        assert_eq!(sp.sts_certificate, PathBuf::from("/srv/kp/certs/sts.pem"));
        let both = format!("{base}  client_certificate:\n    pkcs12: a.p12\n    pem_key: k.pem\n");
        let err =
            Environment::parse(&both, "test.yaml", "test", Path::new("test.yaml")).unwrap_err();
        assert!(err.to_string().starts_with("test.yaml:9:"), "{err}");
    }

    #[test]
    fn a_status_receiver_needs_a_server_certificate_and_a_client_ca() {
        let base = "name: test\nendpoints: {}\nserviceplatformen:\n  cvr: \"64942212\"\n  sts: https://sts/\n  access_token: https://at/\n  sts_certificate: certs/sts.pem\n  client_certificate:\n    pkcs12: certs/client.p12\n";
        let ok = format!(
            "{base}  status_receiver:\n    listen: \"${{KP_SURELY_UNSET_LISTEN:-0.0.0.0:8701}}\"\n    server_certificate:\n      pem_certificate: certs/server.pem\n      pem_key: certs/server-key.pem\n    client_ca: [certs/sp-ca.pem]\n"
        );
        let env = Environment::parse(
            &ok,
            "test.yaml",
            "test",
            Path::new("/srv/kp/environments/test.yaml"),
        )
        .unwrap();
        let r = env.serviceplatformen.unwrap().status_receiver.unwrap();
        assert_eq!(r.listen, "0.0.0.0:8701");
        assert_eq!(
            r.server_certificate,
            ClientCertificate::Pem {
                certificate: PathBuf::from("/srv/kp/certs/server.pem"),
                key: PathBuf::from("/srv/kp/certs/server-key.pem"),
            }
        );
        assert_eq!(r.server_certificate_line, 13);
        assert_eq!(r.client_ca, vec![PathBuf::from("/srv/kp/certs/sp-ca.pem")]);
        let no_ca = ok.replace("client_ca: [certs/sp-ca.pem]", "client_ca: []");
        let err =
            Environment::parse(&no_ca, "test.yaml", "test", Path::new("test.yaml")).unwrap_err();
        assert!(
            err.to_string().starts_with("test.yaml:11:") && err.to_string().contains("client_ca"),
            "{err}"
        );
        let no_key = ok.replace("      pem_key: certs/server-key.pem\n", "");
        let err =
            Environment::parse(&no_key, "test.yaml", "test", Path::new("test.yaml")).unwrap_err();
        assert!(
            err.to_string().starts_with("test.yaml:13:")
                && err
                    .to_string()
                    .contains("status_receiver.server_certificate"),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_name_the_line() {
        let text = "name: dev\nendpoints:\n  a:\n    url: http://x/\n    tiemout: 5s\n";
        let err = Environment::parse(text, "dev.yaml", "dev", Path::new("dev.yaml")).unwrap_err();
        assert!(err.to_string().starts_with("dev.yaml:5:"), "{err}");
    }
}
