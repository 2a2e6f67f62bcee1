//! HTTP clients that present no certificate of their own. Each TLS setup reqwest makes
//! (an OpenSSL context through native-tls) reads the system's trusted roots from disk and
//! parses every one of them, twice: about 40 ms of CPU. With a client built per adapter,
//! endpoint and registry, `knudepunkt serve` made twenty at start (most of its second of
//! start-up) and every CLI command that loads the routes five. These clients share one
//! setup, made the first time one is built.
//!
//! A client of its own is still built each time: a client's pooled connections belong to
//! the runtime that opened them, and a process may run several runtimes (the tests do).
//! Clients with a certificate of their own (the STS, Serviceplatformen) build their own
//! setup.

use std::sync::OnceLock;

/// The shared setup: the system's roots, the host name checked.
fn system_roots() -> Result<native_tls::TlsConnector, String> {
    static SHARED: OnceLock<Result<native_tls::TlsConnector, String>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            native_tls::TlsConnector::new()
                .map_err(|e| format!("setting up TLS with the system's roots: {e}"))
        })
        .clone()
}

/// A builder whose clients trust the system's roots through the shared setup, and do
/// not follow redirects. Its own TLS settings (roots, identity) would be ignored: a
/// client that needs them starts from `reqwest::Client::builder()` (and sets
/// [`no_redirects`] itself).
pub fn builder() -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder().redirect(no_redirects());
    match system_roots() {
        Ok(tls) => builder.tls_backend_preconfigured(tls),
        // reqwest makes its own, and reports the same failure when it is built.
        Err(_) => builder,
    }
}

/// A receiver's redirect is its answer, not a place to deliver to. Followed, a 301, 302 or
/// 303 to a POST became a GET without the body, and the GET's 200 counted as delivered.
pub fn no_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::none()
}

/// A client with reqwest's defaults (redirects aside) on the shared setup.
pub fn client() -> reqwest::Client {
    builder()
        .build()
        .expect("a client on a TLS setup already made always builds")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_share_one_setup_and_build() {
        // Built twice: the second takes the setup the first made. A native-tls that is
        // not reqwest's own (another version) would make `build` fail here.
        for _ in 0..2 {
            builder()
                .timeout(std::time::Duration::from_secs(1))
                .build()
                .expect("a client on the shared setup");
        }
        assert!(system_roots().is_ok());
    }

    #[tokio::test]
    async fn a_shared_setup_client_speaks_plain_http() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route("/", axum::routing::get(|| async { "hej" }));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let body = client()
            .get(format!("http://{addr}/"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, "hej");
    }

    #[tokio::test]
    async fn a_shared_setup_client_checks_the_servers_certificate() {
        // The sandbox's server certificate: its CA is none of the system's roots.
        let certs = crate::sandbox::certs::SandboxCertificates::shared();
        let app = axum::Router::new().route("/", axum::routing::get(|| async { "hej" }));
        let (addr, _server) = crate::serviceplatformen::mtls::serve_mtls(
            "127.0.0.1:0",
            app,
            &certs.server,
            std::slice::from_ref(&certs.ca.credential.certificate),
        )
        .await
        .unwrap();
        let err = client()
            .get(format!("https://localhost:{}/", addr.port()))
            .send()
            .await
            .expect_err("a server no system root vouches for is refused");
        let mut chain = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(e) = source {
            chain.push_str(&format!(": {e}"));
            source = e.source();
        }
        assert!(chain.contains("certificate verify failed"), "{chain}");
    }
}
