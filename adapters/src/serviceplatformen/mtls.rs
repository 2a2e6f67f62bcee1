//! Serving over TLS with client certificates required (mTLS), as Serviceplatformen
//! does both ways: the server presents its certificate and lets in only clients whose
//! certificate one of the trusted CAs issued. Knudepunkt's PostStatusBeskedModtag is
//! served so, and the sandbox serves its simulators so in tests.

use std::net::SocketAddr;
use std::pin::Pin;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use openssl::ssl::{Ssl, SslAcceptor, SslMethod, SslVerifyMode};
use openssl::x509::store::X509StoreBuilder;

use openssl::x509::X509;

use super::security::credentials::Credential;

/// Serves `router` on `addr` over TLS as `server`, requiring a client certificate that
/// one of `clients` (CA certificates) issued. Returns the bound address.
pub async fn serve_mtls(
    addr: &str,
    router: Router,
    server: &Credential,
    clients: &[X509],
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let mut acceptor =
        SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).map_err(std::io::Error::other)?;
    acceptor
        .set_private_key(server.key())
        .map_err(std::io::Error::other)?;
    acceptor
        .set_certificate(&server.certificate)
        .map_err(std::io::Error::other)?;
    for c in &server.chain {
        acceptor
            .add_extra_chain_cert(c.clone())
            .map_err(std::io::Error::other)?;
    }
    if clients.is_empty() {
        return Err(std::io::Error::other(
            "no CA is trusted for client certificates: nobody could connect",
        ));
    }
    let mut store = X509StoreBuilder::new().map_err(std::io::Error::other)?;
    for ca in clients {
        store.add_cert(ca.clone()).map_err(std::io::Error::other)?;
    }
    acceptor
        .set_verify_cert_store(store.build())
        .map_err(std::io::Error::other)?;
    acceptor.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
    let acceptor = acceptor.build();
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let handle = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let (acceptor, router) = (acceptor.clone(), router.clone());
            tokio::spawn(async move {
                let Ok(ssl) = Ssl::new(acceptor.context()) else {
                    return;
                };
                let Ok(mut tls) = tokio_openssl::SslStream::new(ssl, tcp) else {
                    return;
                };
                if let Err(e) = Pin::new(&mut tls).accept().await {
                    tracing::info!(error = %e, "mTLS: a client was turned away");
                    return;
                }
                let service = TowerToHyperService::new(router);
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    Ok((local, handle))
}
