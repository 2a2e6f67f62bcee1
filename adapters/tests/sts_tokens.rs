//! The STS client against the sandbox STS: one fetch for many callers, refresh at
//! expiry, faults for tampered, unknown and expired requests, the access-token exchange,
//! and one more try when a service refuses a token.

use std::sync::Arc;
use std::time::Duration;

use knudepunkt_adapters::serviceplatformen::security::credentials::Credential;
use knudepunkt_adapters::serviceplatformen::security::issuing::CertificateAuthority;
use knudepunkt_adapters::sts::StsError;
use knudepunkt_adapters::sts::client::{Attempt, StsClient, StsConfig};
use knudepunkt_adapters::sts::request::{self, TokenRequest};
use knudepunkt_adapters::sts::simulator::{ACCESS_TOKEN_PATH, STS_PATH, StsSimulator};

const ORGANISATION: &str = "http://stoettesystemerne.dk/service/organisation/3";
const CVR: &str = "64942212";

struct Sandbox {
    ca: Arc<CertificateAuthority>,
    sts: StsSimulator,
    base: String,
}

async fn sandbox() -> Sandbox {
    let ca = Arc::new(CertificateAuthority::new("Sandbox CA", 30).unwrap());
    let sts = StsSimulator::new(ca.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = sts.router();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Sandbox { ca, sts, base }
}

fn client(s: &Sandbox, credential: Credential, margin: Duration) -> StsClient {
    StsClient::new(
        StsConfig {
            environment: "dev".into(),
            sts_url: format!("{}{STS_PATH}", s.base),
            access_token_url: format!("{}{ACCESS_TOKEN_PATH}", s.base),
            sts_certificate: s.sts.certificate(),
            refresh_margin: margin,
            timeout: Duration::from_secs(10),
            trust: vec![],
        },
        Arc::new(credential),
    )
    .unwrap()
}

fn registered(s: &Sandbox) -> Credential {
    let c = s.ca.issue("Knudepunkt", "Københavns Kommune", 30).unwrap();
    s.sts.register(&c.certificate);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_token_serves_a_thousand_callers_and_is_refreshed_at_expiry() {
    let s = sandbox().await;
    s.sts.set_lifetime(Duration::from_secs(3));
    let c = Arc::new(client(&s, registered(&s), Duration::from_secs(1)));

    let first = c.saml_token(ORGANISATION, CVR).await.unwrap();
    assert_eq!(s.sts.issued(), 1, "the first call fetches a token");
    assert_eq!(first.audience, ORGANISATION);
    assert_eq!(first.cvr, CVR);

    let mut calls = Vec::new();
    for _ in 0..1000 {
        let c = c.clone();
        calls.push(tokio::spawn(async move {
            c.saml_token(ORGANISATION, CVR).await.unwrap().id.clone()
        }));
    }
    for call in calls {
        assert_eq!(call.await.unwrap(), first.id);
    }
    assert_eq!(
        s.sts.issued(),
        1,
        "the next 1,000 concurrent calls share it"
    );

    // Another service or organisation is another token.
    c.saml_token("http://stoettesystemerne.dk/service/klassifikation/7", CVR)
        .await
        .unwrap();
    assert_eq!(s.sts.issued(), 2);

    // Within a second of its expiry the token is replaced.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let later = c.saml_token(ORGANISATION, CVR).await.unwrap();
    assert_ne!(later.id, first.id);
    assert_eq!(s.sts.issued(), 3, "a call after expiry fetches a new one");
}

#[tokio::test]
async fn a_tampered_request_is_refused_with_the_sts_fault() {
    let s = sandbox().await;
    let credential = registered(&s);
    let url = format!("{}{STS_PATH}", s.base);
    let signed = request::signed(
        &TokenRequest {
            sts_url: &url,
            entity_id: ORGANISATION,
            cvr: CVR,
            now: chrono::Utc::now(),
        },
        &credential,
    )
    .unwrap();
    let tampered = signed.replace("organisation/3", "organisation/4");
    let http = reqwest::Client::new();
    for (body, want) in [(&signed, 200), (&tampered, 400)] {
        let resp = http.post(&url).body(body.clone()).send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        assert_eq!(status, want, "{text}");
        if want == 400 {
            assert!(
                text.contains("<s:Fault>") && text.contains("wsse:FailedCheck"),
                "{text}"
            );
            assert!(
                text.contains("The signature or decryption was invalid"),
                "{text}"
            );
        }
    }
    assert_eq!((s.sts.issued(), s.sts.refused()), (1, 1));
}

#[tokio::test]
async fn unknown_unregistered_and_expired_certificates_are_refused() {
    let s = sandbox().await;
    let stranger =
        knudepunkt_adapters::serviceplatformen::security::issuing::self_signed("Stranger", 5)
            .unwrap();
    let unregistered =
        s.ca.issue("Not registered", "Københavns Kommune", 5)
            .unwrap();
    let expired = s.ca.issue("Expired", "Københavns Kommune", -2).unwrap();
    s.sts.register(&expired.certificate);
    for (credential, reason) in [
        (stranger, "not issued by a trusted CA"),
        (unregistered, "not registered"),
        (expired, "expired"),
    ] {
        let err = client(&s, credential, Duration::from_secs(1))
            .saml_token(ORGANISATION, CVR)
            .await
            .unwrap_err();
        match err {
            StsError::Fault {
                subcode,
                reason: said,
            } => {
                assert_eq!(subcode, "wsse:FailedAuthentication");
                assert!(said.contains(reason), "{said}");
            }
            other => panic!("expected a fault, got {other}"),
        }
    }
    assert_eq!(s.sts.issued(), 0);
}

#[tokio::test]
async fn an_assertion_from_another_sts_is_not_trusted() {
    let s = sandbox().await;
    let other = StsSimulator::new(Arc::new(CertificateAuthority::new("Other CA", 5).unwrap()));
    // Trust the other STS's certificate instead of the one that answers.
    let config_client = StsClient::new(
        StsConfig {
            environment: "dev".into(),
            sts_url: format!("{}{STS_PATH}", s.base),
            access_token_url: format!("{}{ACCESS_TOKEN_PATH}", s.base),
            sts_certificate: other.certificate(),
            refresh_margin: Duration::from_secs(1),
            timeout: Duration::from_secs(5),
            trust: vec![],
        },
        Arc::new(registered(&s)),
    )
    .unwrap();
    let err = config_client
        .saml_token(ORGANISATION, CVR)
        .await
        .unwrap_err();
    assert!(matches!(err, StsError::Untrusted(_)), "{err}");
}

#[tokio::test]
async fn rest_services_get_a_holder_of_key_access_token() {
    let s = sandbox().await;
    let c = client(&s, registered(&s), Duration::from_secs(1));
    let entity = "http://entityid.kombit.dk/service/kombipostafsend/1";
    let t = c.access_token(entity, CVR).await.unwrap();
    assert!(t.header().starts_with("Holder-of-key "), "{}", t.header());
    let again = c.access_token(entity, CVR).await.unwrap();
    assert_eq!(again.value, t.value);
    assert_eq!((s.sts.issued(), s.sts.access_tokens()), (1, 1));
}

#[tokio::test]
async fn a_refused_token_is_dropped_and_fetched_once_more() {
    let s = sandbox().await;
    let c = client(&s, registered(&s), Duration::from_secs(1));
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let seen = std::sync::Mutex::new(Vec::new());
    let result: Result<&str, StsError> = c
        .with_saml_token(ORGANISATION, CVR, |token| {
            let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            seen.lock().unwrap().push(token.id.clone());
            async move {
                if n == 0 {
                    Attempt::TokenRefused(StsError::Response(
                        "the service refused the token".into(),
                    ))
                } else {
                    Attempt::Done(Ok("answered"))
                }
            }
        })
        .await;
    assert_eq!(result.unwrap(), "answered");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert_ne!(seen[0], seen[1], "the second try has a new token");
    assert_eq!(s.sts.issued(), 2);
}
