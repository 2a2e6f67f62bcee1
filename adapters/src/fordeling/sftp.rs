//! The document's file to Serviceplatformen's SFTP server. SF2900 moves documents by
//! SFTP, since they can be large, and the anmodning refers to the file by name
//! (DokumentFilNavn). The route's `sftp_endpoint` names the server as
//! `sftp://user@host:port/folder`, with `?host_key=SHA256:...` pinning the server's host
//! key (as `ssh-keygen -l` prints it). Only a sandbox-tier endpoint may leave the pin out
//! (its key is logged). Knudepunkt logs in with the key of its client certificate, held
//! in memory, and writes `name.part` before it renames it to `name`, so that nobody reads
//! half a file. libssh2 blocks, so the transfer runs on a blocking thread.

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;

use crate::serviceplatformen::security::credentials::Credential;

/// Where files go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub user: String,
    pub host: String,
    pub port: u16,
    pub folder: String,
    /// `SHA256:<base64>`, as `ssh-keygen -l` prints it.
    pub host_key: Option<String>,
    /// A sandbox server may go unpinned.
    pub sandbox: bool,
}

/// Why a file did not get there.
#[derive(Debug, PartialEq, Eq)]
pub enum UploadError {
    /// The network, the server: trying again may help.
    Transient(String),
    /// The configuration, the key, the host key: it will not until someone fixes it.
    Permanent(String),
}

impl Target {
    /// Reads an endpoint's `sftp://user@host:port/folder?host_key=SHA256:...`.
    pub fn of(endpoint: &knudepunkt_engine::Endpoint) -> Result<Target, String> {
        let bad = |why: &str| format!("endpoint {}: {why} ({})", endpoint.name, endpoint.url);
        let rest = endpoint
            .url
            .strip_prefix("sftp://")
            .ok_or_else(|| bad("not an sftp:// URL"))?;
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (user, rest) = rest
            .split_once('@')
            .ok_or_else(|| bad("names no user (sftp://user@host/...)"))?;
        let (authority, folder) = match rest.split_once('/') {
            Some((a, f)) => (a, format!("/{f}")),
            None => (rest, "/".to_string()),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                p.parse::<u16>()
                    .map_err(|_| bad("the port is not a number"))?,
            ),
            None => (authority.to_string(), 22),
        };
        let host_key = query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .filter_map(|kv| kv.strip_prefix("host_key="))
            .find(|v| !v.is_empty())
            .map(str::to_string);
        if let Some(k) = &host_key
            && !k.starts_with("SHA256:")
        {
            return Err(bad(
                "host_key is SHA256:<base64>, as ssh-keygen -l prints it",
            ));
        }
        let sandbox = endpoint.tier.as_deref() == Some("sandbox");
        if host_key.is_none() && !sandbox {
            return Err(bad(
                "pins no host key (?host_key=SHA256:...); only a sandbox server may go without",
            ));
        }
        if user.is_empty() || host.is_empty() {
            return Err(bad("names no user or host"));
        }
        Ok(Target {
            user: user.to_string(),
            host,
            port,
            folder,
            host_key,
            sandbox,
        })
    }
}

/// The key's OpenSSH public key line (`ssh-rsa AAAA... comment`), for a server's
/// authorized keys.
pub fn openssh_public_key(credential: &Credential, comment: &str) -> Result<String, String> {
    let rsa = credential
        .certificate
        .public_key()
        .and_then(|k| k.rsa())
        .map_err(|e| format!("the certificate's key is not RSA: {e}"))?;
    fn string(out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        out.extend_from_slice(bytes);
    }
    fn mpint(out: &mut Vec<u8>, bytes: &[u8]) {
        if bytes.first().is_some_and(|b| b & 0x80 != 0) {
            let mut padded = vec![0];
            padded.extend_from_slice(bytes);
            string(out, &padded);
        } else {
            string(out, bytes);
        }
    }
    let mut blob = Vec::new();
    string(&mut blob, b"ssh-rsa");
    mpint(&mut blob, &rsa.e().to_vec());
    mpint(&mut blob, &rsa.n().to_vec());
    Ok(format!(
        "ssh-rsa {} {comment}",
        base64::engine::general_purpose::STANDARD.encode(blob)
    ))
}

/// Whether the server answers on its port within two seconds.
pub async fn reachable(target: &Target) -> bool {
    matches!(
        tokio::time::timeout(
            Duration::from_secs(2),
            tokio::net::TcpStream::connect((target.host.as_str(), target.port)),
        )
        .await,
        Ok(Ok(_))
    )
}

fn fingerprint(hash: &[u8]) -> String {
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(hash)
    )
}

/// Writes `content` as `name` in the target's folder.
pub async fn upload(
    target: &Target,
    credential: Arc<Credential>,
    name: &str,
    content: Vec<u8>,
    timeout: Duration,
) -> Result<(), UploadError> {
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return Err(UploadError::Permanent(format!(
            "{name:?} is not a file name to write"
        )));
    }
    let target = target.clone();
    let name = name.to_string();
    tokio::task::spawn_blocking(move || put(&target, &credential, &name, &content, timeout))
        .await
        .map_err(|e| UploadError::Transient(format!("the transfer stopped: {e}")))?
}

fn put(
    target: &Target,
    credential: &Credential,
    name: &str,
    content: &[u8],
    timeout: Duration,
) -> Result<(), UploadError> {
    let at = format!("{}@{}:{}", target.user, target.host, target.port);
    let transient = |what: &str, e: &dyn std::fmt::Display| {
        UploadError::Transient(format!("SFTP {at}: {what}: {e}"))
    };
    let permanent = |what: &str, e: &dyn std::fmt::Display| {
        UploadError::Permanent(format!("SFTP {at}: {what}: {e}"))
    };
    let addr = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| transient("resolving the host", &e))?
        .next()
        .ok_or_else(|| transient("resolving the host", &"no address"))?;
    let tcp =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| transient("connecting", &e))?;
    let mut session = ssh2::Session::new().map_err(|e| transient("starting SSH", &e))?;
    session.set_timeout(timeout.as_millis().min(u32::MAX as u128) as u32);
    session.set_tcp_stream(tcp);
    session
        .handshake()
        .map_err(|e| transient("the SSH handshake", &e))?;
    let seen = session
        .host_key_hash(ssh2::HashType::Sha256)
        .map(fingerprint)
        .ok_or_else(|| permanent("the host key", &"the server showed none"))?;
    match &target.host_key {
        Some(pinned) if *pinned != seen => {
            return Err(permanent(
                "the host key",
                &format!("the server's is {seen}, the profile pins {pinned}"),
            ));
        }
        Some(_) => {}
        None => {
            tracing::info!(host_key = %seen, server = %at, "a sandbox SFTP server, its host key not pinned")
        }
    }
    let rsa = credential
        .key()
        .rsa()
        .map_err(|e| permanent("the client key", &e))?;
    let mut pem = rsa
        .private_key_to_pem()
        .map_err(|e| permanent("the client key", &e))?;
    let login = std::str::from_utf8(&pem)
        .map_err(|e| permanent("the client key", &e))
        .and_then(|pem| {
            session
                .userauth_pubkey_memory(&target.user, None, pem, None)
                .map_err(|e| permanent("logging in with the client certificate's key", &e))
        });
    pem.iter_mut().for_each(|b| *b = 0);
    login?;
    let sftp = session.sftp().map_err(|e| transient("opening SFTP", &e))?;
    let folder = Path::new(&target.folder);
    let part = folder.join(format!("{name}.part"));
    let whole = folder.join(name);
    let mut file = sftp
        .create(&part)
        .map_err(|e| permanent(&format!("writing {}", part.display()), &e))?;
    file.write_all(content)
        .and_then(|()| file.flush())
        .map_err(|e| transient(&format!("writing {}", part.display()), &e))?;
    drop(file);
    // SFTP 3 renames only onto nothing: a file from an earlier attempt goes first.
    let _ = sftp.unlink(&whole);
    sftp.rename(&part, &whole, None)
        .map_err(|e| transient(&format!("renaming to {}", whole.display()), &e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(url: &str, tier: Option<&str>) -> knudepunkt_engine::Endpoint {
        knudepunkt_engine::Endpoint {
            name: "fordeling-sftp".into(),
            url: url.into(),
            timeout: Duration::from_secs(5),
            tier: tier.map(str::to_string),
            entity_id: None,
            queue: None,
        }
    }

    #[test]
    fn the_url_names_user_host_port_folder_and_pin() {
        let t = Target::of(&endpoint(
            "sftp://fordeling@sftp.example:2222/upload/in?host_key=SHA256:abc",
            None,
        ))
        .unwrap();
        assert_eq!(
            t,
            Target {
                user: "fordeling".into(),
                host: "sftp.example".into(),
                port: 2222,
                folder: "/upload/in".into(),
                host_key: Some("SHA256:abc".into()),
                sandbox: false,
            }
        );
        let e = Target::of(&endpoint("sftp://fordeling@sftp.example/upload", None)).unwrap_err();
        assert!(e.contains("pins no host key"), "{e}");
        let t = Target::of(&endpoint(
            "sftp://fordeling@127.0.0.1/upload?host_key=",
            Some("sandbox"),
        ))
        .unwrap();
        assert_eq!((t.port, t.host_key), (22, None));
        assert!(Target::of(&endpoint("https://x", None)).is_err());
        assert!(Target::of(&endpoint("sftp://host/x?host_key=SHA256:a", None)).is_err());
        assert!(Target::of(&endpoint("sftp://u@h/x?host_key=MD5:a", None)).is_err());
    }

    #[test]
    fn the_public_key_is_in_openssh_form() {
        let c = crate::serviceplatformen::security::issuing::self_signed("Test", 1).unwrap();
        let line = openssh_public_key(&c, "knudepunkt").unwrap();
        assert!(line.starts_with("ssh-rsa AAAAB3NzaC1yc2E"), "{line}");
        assert!(line.ends_with(" knudepunkt"));
    }
}
