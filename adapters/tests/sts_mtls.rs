//! mTLS to the STS: the client presents its certificate (reqwest identity, the key in
//! memory) and trusts only its environment's CAs; the sandbox serves the STS over TLS
//! and turns away clients the sandbox CA did not issue.

use std::sync::Arc;
use std::time::Duration;

use knudepunkt_adapters::sandbox::certs::SandboxCertificates;
use knudepunkt_adapters::serviceplatformen::mtls::serve_mtls;
use knudepunkt_adapters::serviceplatformen::security::credentials::Credential;
use knudepunkt_adapters::serviceplatformen::security::issuing::{
    CertificateAuthority, self_signed,
};
use knudepunkt_adapters::sts::StsError;
use knudepunkt_adapters::sts::client::{StsClient, StsConfig};
use knudepunkt_adapters::sts::simulator::{ACCESS_TOKEN_PATH, STS_PATH, StsSimulator};

const ENTITY: &str = "http://stoettesystemerne.dk/service/organisation/3";

fn client(
    base: &str,
    sts: &StsSimulator,
    credential: Arc<Credential>,
    trust: &CertificateAuthority,
) -> StsClient {
    StsClient::new(
        StsConfig {
            environment: "test".into(),
            sts_url: format!("{base}{STS_PATH}"),
            access_token_url: format!("{base}{ACCESS_TOKEN_PATH}"),
            sts_certificate: sts.certificate(),
            refresh_margin: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            trust: vec![trust.credential.certificate.clone()],
        },
        credential,
    )
    .unwrap()
}

#[tokio::test]
async fn the_sts_over_mtls_takes_only_the_sandbox_cas_clients() {
    let certs = SandboxCertificates::generate().unwrap();
    let sts = StsSimulator::with_signer(certs.ca.clone(), certs.sts.clone());
    sts.register(&certs.client.certificate);
    let server = certs
        .ca
        .issue_server(&["127.0.0.1", "localhost"], 30)
        .unwrap();
    let (addr, _handle) = serve_mtls(
        "127.0.0.1:0",
        sts.router(),
        &server,
        std::slice::from_ref(&certs.ca.credential.certificate),
    )
    .await
    .unwrap();
    let base = format!("https://{addr}");

    let ok = client(&base, &sts, certs.client.clone(), &certs.ca);
    let token = ok.saml_token(ENTITY, "64942212").await.unwrap();
    assert_eq!(token.audience, ENTITY);

    // A client certificate the sandbox CA did not issue: the handshake is refused.
    let stranger = Arc::new(self_signed("Stranger", 5).unwrap());
    let err = client(&base, &sts, stranger, &certs.ca)
        .saml_token(ENTITY, "64942212")
        .await
        .unwrap_err();
    assert!(matches!(err, StsError::Transport { .. }), "{err}");

    // A client that trusts another CA does not accept the sandbox's server.
    let other = CertificateAuthority::new("Other CA", 5).unwrap();
    let err = client(&base, &sts, certs.client.clone(), &other)
        .saml_token(ENTITY, "64942212")
        .await
        .unwrap_err();
    assert!(matches!(err, StsError::Transport { .. }), "{err}");
    assert_eq!(sts.issued(), 1);
}
