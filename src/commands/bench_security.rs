//! `knudepunkt bench-security`: WS-Security signing and verification of a typical SOAP
//! envelope with a 2048-bit key, the cached STS token lookup, and, in the same run,
//! `openssl speed`'s rsa2048 sign rate on one core to compare with.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use knudepunkt_adapters::serviceplatformen::security::dsig::{self, KeySource};
use knudepunkt_adapters::serviceplatformen::security::issuing::CertificateAuthority;
use knudepunkt_adapters::sts::client::{StsClient, StsConfig};
use knudepunkt_adapters::sts::request::{self, TokenRequest};
use knudepunkt_adapters::sts::simulator::{ACCESS_TOKEN_PATH, STS_PATH, StsSimulator};
use serde::Serialize;

use crate::setup::Context;

#[derive(clap::Args)]
pub struct Args {
    /// How long each timed loop runs.
    #[arg(long, default_value = "5s")]
    pub duration: humantime::Duration,
}

#[derive(Serialize)]
struct Report {
    envelope_bytes: usize,
    sts_request_bytes: usize,
    sts_requests_per_second: f64,
    signatures_per_second: f64,
    verifications_per_second: f64,
    openssl_rsa2048_signs_per_second: Option<f64>,
    ratio_to_openssl: Option<f64>,
    cached_token_lookup_ns: f64,
}

/// Runs `f` repeatedly for `d` on this thread; operations per second.
fn rate(d: Duration, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < d {
        f();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// `openssl speed`'s rsa2048 sign rate, one process (one core).
fn openssl_speed(seconds: u64) -> Option<f64> {
    let out = std::process::Command::new("openssl")
        .args(["speed", "-seconds", &seconds.to_string(), "rsa2048"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("rsa") && l.contains("2048 bits"))?;
    // rsa 2048 bits 0.000245s 0.000016s   4087.3  61506.5
    line.split_whitespace().rev().nth(1)?.parse().ok()
}

pub async fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let d: Duration = args.duration.into();
    let ca = Arc::new(CertificateAuthority::new("Bench CA", 2)?);
    let credential = Arc::new(ca.issue("Knudepunkt bench", "Københavns Kommune", 2)?);

    // A typical envelope of about 4 KB: SOAP 1.1, WS-Addressing headers, a Timestamp,
    // the certificate as BinarySecurityToken, six signed parts, a small body.
    let envelope = typical_envelope(&credential)?;
    let cert = credential.certificate.clone();
    eprintln!(
        "signing a {} byte envelope for {}s ...",
        envelope.len(),
        d.as_secs_f64()
    );
    let signatures = rate(d, || {
        dsig::sign(&envelope, &credential).expect("signs");
    });
    let signed = dsig::sign(&envelope, &credential)?;
    eprintln!("verifying ...");
    let verifications = rate(d, || {
        dsig::verify(&signed, KeySource::Certificate(&cert)).expect("verifies");
    });
    // The STS's own Issue request, larger (two certificates, seven parts).
    let sts_request = |now| {
        request::signed(
            &TokenRequest {
                sts_url: "https://adgangsstyring.example/runtime/services/kombittrust/14/certificatemixed",
                entity_id: "http://stoettesystemerne.dk/service/organisation/3",
                cvr: "64942212",
                now,
            },
            &credential,
        )
    };
    let sts_size = sts_request(chrono::Utc::now())?.len();
    let sts_requests = rate(d / 2, || {
        sts_request(chrono::Utc::now()).expect("signs");
    });

    eprintln!("cached token lookups ...");
    let sts = StsSimulator::new(ca.clone());
    sts.register(&credential.certificate);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let app = sts.router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let client = StsClient::new(
        StsConfig {
            environment: "bench".into(),
            sts_url: format!("{base}{STS_PATH}"),
            access_token_url: format!("{base}{ACCESS_TOKEN_PATH}"),
            sts_certificate: sts.certificate(),
            refresh_margin: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            trust: vec![],
        },
        credential.clone(),
    )?;
    let entity = "http://stoettesystemerne.dk/service/organisation/3";
    client
        .saml_token(entity, "64942212")
        .await
        .context("fetching the first token")?;
    let lookups = 1_000_000u32;
    let start = Instant::now();
    for _ in 0..lookups {
        let t = client.saml_token(entity, "64942212").await?;
        std::hint::black_box(t);
    }
    let lookup_ns = start.elapsed().as_nanos() as f64 / lookups as f64;
    anyhow::ensure!(sts.issued() == 1, "the lookups went to the STS");

    eprintln!("openssl speed rsa2048 ...");
    let openssl = openssl_speed(d.as_secs().max(1));
    let report = Report {
        envelope_bytes: envelope.len(),
        sts_request_bytes: sts_size,
        sts_requests_per_second: sts_requests,
        signatures_per_second: signatures,
        verifications_per_second: verifications,
        openssl_rsa2048_signs_per_second: openssl,
        ratio_to_openssl: openssl.map(|o| signatures / o),
        cached_token_lookup_ns: lookup_ns,
    };
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "envelope: {} bytes, 6 signed parts, RSA 2048",
            report.envelope_bytes
        );
        println!(
            "signatures:    {:>8.0} /s on one core",
            report.signatures_per_second
        );
        println!(
            "verifications: {:>8.0} /s on one core",
            report.verifications_per_second
        );
        match (
            report.openssl_rsa2048_signs_per_second,
            report.ratio_to_openssl,
        ) {
            (Some(o), Some(r)) => println!(
                "openssl speed rsa2048: {o:.0} signs/s on one core; ours is {r:.2} of it (target >= 0.8)"
            ),
            _ => println!("openssl speed rsa2048: not available"),
        }
        println!(
            "STS Issue request ({} bytes, two certificates, 7 signed parts), built and signed: {:.0} /s",
            report.sts_request_bytes, report.sts_requests_per_second
        );
        println!(
            "cached token lookup: {:.0} ns",
            report.cached_token_lookup_ns
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A SOAP 1.1 call of about 4 KB signed with an X.509 token.
fn typical_envelope(
    credential: &knudepunkt_adapters::serviceplatformen::security::credentials::Credential,
) -> anyhow::Result<String> {
    let wsu = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
    let wsse = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
    let reference = |id: &str| {
        format!(
            r##"<ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue></ds:DigestValue></ds:Reference>"##
        )
    };
    let refs: String = ["ts", "body", "action", "mid", "to", "reply"]
        .iter()
        .map(|id| reference(id))
        .collect();
    let now = chrono::Utc::now();
    Ok(format!(
        r##"<?xml version="1.0" encoding="UTF-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header><Action xmlns="http://www.w3.org/2005/08/addressing" xmlns:wsu="{wsu}" wsu:Id="action">http://serviceplatformen.dk/xml/wsdl/soap11/Organisation/OrganisationEnhed/5/soeg</Action><MessageID xmlns="http://www.w3.org/2005/08/addressing" xmlns:wsu="{wsu}" wsu:Id="mid">urn:uuid:{mid}</MessageID><To xmlns="http://www.w3.org/2005/08/addressing" xmlns:wsu="{wsu}" wsu:Id="to">https://exttest.serviceplatformen.dk/service/Organisation/OrganisationEnhed/5</To><ReplyTo xmlns="http://www.w3.org/2005/08/addressing" xmlns:wsu="{wsu}" wsu:Id="reply"><Address>http://www.w3.org/2005/08/addressing/anonymous</Address></ReplyTo><wsse:Security xmlns:wsse="{wsse}" xmlns:wsu="{wsu}" soap:mustUnderstand="1"><wsu:Timestamp wsu:Id="ts"><wsu:Created>{created}</wsu:Created><wsu:Expires>{expires}</wsu:Expires></wsu:Timestamp><wsse:BinarySecurityToken EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary" ValueType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3" wsu:Id="bst">{cert}</wsse:BinarySecurityToken><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>{refs}</ds:SignedInfo><ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><wsse:SecurityTokenReference><wsse:Reference URI="#bst" ValueType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"/></wsse:SecurityTokenReference></ds:KeyInfo></ds:Signature></wsse:Security></soap:Header><soap:Body xmlns:wsu="{wsu}" wsu:Id="body"><ns5:SoegInput xmlns:ns5="urn:oio:sts:organisation:organisationenhed:1.1.3.0"><ns5:AttributListe><ns5:Egenskab><ns5:EnhedNavn>Borgercenter Handicap</ns5:EnhedNavn></ns5:Egenskab></ns5:AttributListe><ns5:FoersteResultatReference>0</ns5:FoersteResultatReference><ns5:MaksimalAntalKvantitet>100</ns5:MaksimalAntalKvantitet></ns5:SoegInput></soap:Body></soap:Envelope>"##,
        mid = uuid::Uuid::new_v4(),
        created = now.format("%Y-%m-%dT%H:%M:%SZ"),
        expires = (now + chrono::Duration::minutes(5)).format("%Y-%m-%dT%H:%M:%SZ"),
        cert = credential.certificate_base64(),
    ))
}
