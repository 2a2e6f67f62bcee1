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

    // A typical envelope: the STS Issue request, seven signed parts, a certificate.
    let sts_url = "https://adgangsstyring.example/runtime/services/kombittrust/14/certificatemixed";
    let signed = request::signed(
        &TokenRequest {
            sts_url,
            entity_id: "http://stoettesystemerne.dk/service/organisation/3",
            cvr: "64942212",
            now: chrono::Utc::now(),
        },
        &credential,
    )?;
    let cert = credential.certificate.clone();
    eprintln!(
        "signing a {} byte envelope for {}s ...",
        signed.len(),
        d.as_secs_f64()
    );
    let signatures = rate(d, || {
        dsig::sign(&signed, &credential).expect("signs");
    });
    eprintln!("verifying ...");
    let verifications = rate(d, || {
        dsig::verify(&signed, KeySource::Certificate(&cert)).expect("verifies");
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
        },
        credential.clone(),
    );
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
        envelope_bytes: signed.len(),
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
            "envelope: {} bytes, 7 signed parts, RSA 2048",
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
            "cached token lookup: {:.0} ns",
            report.cached_token_lookup_ns
        );
    }
    Ok(ExitCode::SUCCESS)
}
