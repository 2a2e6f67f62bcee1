//! OIO IDWS service calls: signed with the holder-of-key, checked by the service side
//! (and by xmlsec1), refused when changed, signed by someone else, meant for another
//! service, or carrying another STS's assertion.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use knudepunkt_adapters::serviceplatformen::idws::{self, CallRefused, ServiceCall};
use knudepunkt_adapters::serviceplatformen::security::dsig::DsigError;
use knudepunkt_adapters::serviceplatformen::security::issuing::CertificateAuthority;
use knudepunkt_adapters::sts::client::{StsClient, StsConfig};
use knudepunkt_adapters::sts::simulator::{ACCESS_TOKEN_PATH, STS_PATH, StsSimulator};

const SERVICE: &str = "http://organisation.serviceplatformen.dk/service/organisation/5";

fn call(body: &str) -> ServiceCall<'_> {
    ServiceCall {
        action: "http://serviceplatformen.dk/xml/wsdl/soap11/Organisation/OrganisationEnhed/5/soeg",
        to: "https://exttest.serviceplatformen.dk/service/Organisation/OrganisationEnhed/5",
        body,
        transaction: uuid::Uuid::new_v4(),
        now: chrono::Utc::now(),
        soap: idws::Soap::V11,
    }
}

const BODY: &str = r#"<ns5:SoegInput xmlns:ns5="urn:oio:sts:organisation:organisationenhed:1.1.3.0"><ns5:FoersteResultatReference>0</ns5:FoersteResultatReference><ns5:MaksimalAntalKvantitet>10</ns5:MaksimalAntalKvantitet></ns5:SoegInput>"#;

#[tokio::test]
async fn a_signed_call_is_accepted_and_any_change_refused() {
    let ca = Arc::new(CertificateAuthority::new("Sandbox CA", 5).unwrap());
    let sts = StsSimulator::new(ca.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = sts.router();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let credential = Arc::new(ca.issue("Knudepunkt", "Københavns Kommune", 5).unwrap());
    sts.register(&credential.certificate);
    let client = StsClient::new(
        StsConfig {
            environment: "dev".into(),
            sts_url: format!("{base}{STS_PATH}"),
            access_token_url: format!("{base}{ACCESS_TOKEN_PATH}"),
            sts_certificate: sts.certificate(),
            refresh_margin: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            trust: vec![],
        },
        credential.clone(),
    )
    .unwrap();
    let token = client.saml_token(SERVICE, "64942212").await.unwrap();
    let c = call(BODY);
    let signed = idws::signed_call(&c, &token, &credential).unwrap();

    let accepted = idws::verify_call(&signed, &sts.certificate(), SERVICE).unwrap();
    assert_eq!(accepted.transaction, c.transaction.to_string());
    assert_eq!(accepted.token.cvr, "64942212");

    // The same call in SOAP 1.2 (as Ydelsesindeks takes it) is signed and checked alike.
    let v12 = ServiceCall {
        soap: idws::Soap::V12,
        ..c.clone()
    };
    let signed12 = idws::signed_call(&v12, &token, &credential).unwrap();
    assert!(signed12.contains(&format!("xmlns:soap=\"{}\"", idws::SOAP12)));
    let accepted12 = idws::verify_call(&signed12, &sts.certificate(), SERVICE).unwrap();
    assert_eq!(accepted12.transaction, c.transaction.to_string());

    // xmlsec1 agrees, given the signer's certificate and the Id attributes.
    let dir = std::env::temp_dir().join(format!("kp-idws-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("call.xml"), &signed).unwrap();
    std::fs::write(
        dir.join("cert.pem"),
        credential.certificate.to_pem().unwrap(),
    )
    .unwrap();
    let wsa = "http://www.w3.org/2005/08/addressing";
    let wsu = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
    let mut args: Vec<String> = vec!["--verify".into()];
    for (attr, node) in [
        ("Id", format!("{wsa}:Action")),
        ("Id", format!("{wsa}:MessageID")),
        ("Id", format!("{wsa}:To")),
        ("Id", format!("{wsa}:ReplyTo")),
        ("Id", format!("{wsu}:Timestamp")),
        ("Id", "urn:liberty:sb:2006-08:Framework".to_string()),
        (
            "Id",
            "http://schemas.xmlsoap.org/soap/envelope/:Body".to_string(),
        ),
        (
            "ID",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion".to_string(),
        ),
    ] {
        args.push(format!("--id-attr:{attr}"));
        args.push(node);
    }
    // The message's own signature is the second in document order (the assertion's is first).
    args.extend([
        "--pubkey-cert-pem".into(),
        "cert.pem".into(),
        "--node-xpath".into(),
        "//*[local-name()='Security']/*[local-name()='Signature']".into(),
        "call.xml".into(),
    ]);
    let out = Command::new("xmlsec1")
        .args(&args)
        .current_dir(&dir)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.contains("OK"),
        "xmlsec1:\n{said}"
    );
    let _ = std::fs::remove_dir_all(&dir);

    // A changed body.
    let changed = signed.replace(
        "<ns5:MaksimalAntalKvantitet>10<",
        "<ns5:MaksimalAntalKvantitet>99<",
    );
    assert!(matches!(
        idws::verify_call(&changed, &sts.certificate(), SERVICE),
        Err(CallRefused::Signature(DsigError::DigestMismatch(_)))
    ));

    // Signed by a key that is not the assertion's holder-of-key.
    let thief = ca.issue("Someone else", "Anden Kommune", 5).unwrap();
    let stolen = idws::signed_call(&call(BODY), &token, &thief).unwrap();
    assert!(matches!(
        idws::verify_call(&stolen, &sts.certificate(), SERVICE),
        Err(CallRefused::Signature(DsigError::BadSignature))
    ));

    // Meant for another service.
    assert!(matches!(
        idws::verify_call(
            &signed,
            &sts.certificate(),
            "http://stoettesystemerne.dk/service/klassifikation/7"
        ),
        Err(CallRefused::Audience { .. })
    ));

    // An assertion this service's STS did not issue.
    let other = StsSimulator::new(Arc::new(CertificateAuthority::new("Other CA", 5).unwrap()));
    assert!(matches!(
        idws::verify_call(&signed, &other.certificate(), SERVICE),
        Err(CallRefused::Assertion(_))
    ));
}
