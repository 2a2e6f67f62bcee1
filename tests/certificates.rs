//! Client certificates per environment: an expired one fails `route validate` with the
//! profile's file and line and turns `/healthz/certificates` to 503; one expiring soon
//! is a warning; a readable, valid one passes.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{repo, scratch};
use knudepunkt_adapters::sandbox::certs::{SandboxCertificates, write_pkcs12};

/// A project root whose test profile uses a client certificate valid for `days`.
fn root_with_client_certificate(certs: &SandboxCertificates, days: i64) -> std::path::PathBuf {
    let root = scratch("certs-root");
    std::fs::create_dir_all(root.join("routes")).unwrap();
    std::fs::create_dir_all(root.join("environments")).unwrap();
    std::fs::create_dir_all(root.join("certs")).unwrap();
    std::os::unix::fs::symlink(repo().join("mappings"), root.join("mappings")).unwrap();
    let client = certs
        .ca
        .issue("Knudepunkt test", "Københavns Kommune", days)
        .unwrap();
    write_pkcs12(&client, &root.join("certs/client.p12"), "s3cret").unwrap();
    std::fs::write(
        root.join("certs/sts.pem"),
        certs.sts.certificate.to_pem().unwrap(),
    )
    .unwrap();
    std::fs::write(
        root.join("environments/test.yaml"),
        "name: test\nendpoints: {}\nserviceplatformen:\n  cvr: \"64942212\"\n  sts: https://sts.test.example/\n  access_token: https://at.test.example/\n  client_certificate:\n    pkcs12: certs/client.p12\n    password_env: KP_TEST_CLIENT_PASSWORD\n  sts_certificate: certs/sts.pem\n  warn_days: 30\n",
    )
    .unwrap();
    root
}

fn validate(root: &Path) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_knudepunkt"))
        .args(["route", "validate", "--env", "test", "--root"])
        .arg(root)
        .env("KP_TEST_CLIENT_PASSWORD", "s3cret")
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn route_validate_reports_expired_and_expiring_certificates() {
    let certs = SandboxCertificates::generate().unwrap();

    let (ok, out) = validate(&root_with_client_certificate(&certs, -3));
    assert!(!ok, "{out}");
    assert!(
        out.contains("environments/test.yaml:8: client certificate expired"),
        "{out}"
    );

    let (ok, out) = validate(&root_with_client_certificate(&certs, 5));
    assert!(ok, "{out}");
    assert!(
        out.contains("warning:") && out.contains("client certificate expires in"),
        "{out}"
    );

    let (ok, out) = validate(&root_with_client_certificate(&certs, 400));
    assert!(ok && !out.contains("warning"), "{out}");
    assert!(out.contains("client certificate valid for"), "{out}");

    // A wrong password is a problem too, and says so.
    let root = root_with_client_certificate(&certs, 400);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_knudepunkt"))
        .args(["route", "validate", "--env", "test", "--root"])
        .arg(&root)
        .env("KP_TEST_CLIENT_PASSWORD", "wrong")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && text.contains("wrong password"),
        "{text}"
    );
}

#[tokio::test]
async fn the_health_endpoint_turns_503_on_an_expired_certificate() {
    let certs = SandboxCertificates::generate().unwrap();
    let root = root_with_client_certificate(&certs, -1);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_knudepunkt"))
        .args([
            "serve",
            "--env",
            "test",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--root",
        ])
        .arg(&root)
        .env(
            "KNUDEPUNKT_DATABASE_URL",
            format!("sqlite://{}/journal.db", root.display()),
        )
        .env(
            "KNUDEPUNKT_AUTH_SECRET",
            "a test secret that is long enough for the check",
        )
        .env("KP_TEST_CLIENT_PASSWORD", "s3cret")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/healthz/certificates");
    let until = Instant::now() + Duration::from_secs(30);
    let resp = loop {
        match knudepunkt_adapters::http::client().get(&url).send().await {
            Ok(r) => break r,
            Err(_) if Instant::now() < until => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("the server did not start: {e}"),
        }
    };
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, 503, "{body}");
    let client = &body["certificates"][0];
    assert_eq!(client["status"], "expired", "{body}");
    assert_eq!(body["certificates"][1]["status"], "valid", "{body}");
}
