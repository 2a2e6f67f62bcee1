//! A full sandbox run, sandbox and engine as separate processes at debug level: the
//! engine loads its client certificate (PKCS#12), buys an STS token with it, and a
//! caseworker's decision letter (with the citizen's CPR) goes through the journal to
//! the sandbox. Then the logs of both and the journal are searched for the private
//! keys' PEM bodies and for unmasked CPR numbers, and hold neither.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{repo, scratch};
use serde_json::json;
use sqlx::Row;

const CPR: &str = "0101901234";
const CPR_DASHED: &str = "010190-1234";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(args: &[&str], envs: &[(&str, String)], log: &std::path::Path) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_knudepunkt"));
    cmd.args(args)
        .current_dir(repo())
        .env("KNUDEPUNKT_LOG", "debug,hyper=info,h2=info")
        .env_remove("KNUDEPUNKT_CLIENT_CERT_PASSWORD")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

fn stop(mut child: Child) {
    // SAFETY: kill(2) on a child we own.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let _ = child.wait();
}

/// The base64 lines of a PEM body (each long enough not to match by chance).
fn pem_body_lines(pem: &str) -> Vec<String> {
    pem.lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 40)
        .map(str::to_string)
        .collect()
}

async fn wait_ok(url: &str) {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = knudepunkt_adapters::http::client().get(url).send().await
            && r.status().is_success()
        {
            return;
        }
        assert!(Instant::now() < until, "{url} did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_private_key_and_no_whole_cpr_in_logs_or_journal() {
    let dir = scratch("secrets");
    let certs = dir.join("certs");
    common::make_sandbox_certs(&certs);
    // The private keys of the PKCS#12 bundles (Knudepunkt's client and server ones).
    let mut secrets = Vec::new();
    for bundle in ["client.p12", "server.p12"] {
        let key = Command::new("openssl")
            .args([
                "pkcs12",
                "-nocerts",
                "-nodes",
                "-passin",
                "pass:sandbox",
                "-in",
            ])
            .arg(certs.join(bundle))
            .output()
            .expect("the openssl command (scripts/install-deps installs it)");
        assert!(
            key.status.success(),
            "{bundle}: {}",
            String::from_utf8_lossy(&key.stderr)
        );
        let lines = pem_body_lines(&String::from_utf8_lossy(&key.stdout));
        assert!(lines.len() > 10, "{bundle}: the key's PEM body was read");
        secrets.extend(lines);
    }
    for f in ["sts-key.pem", "ca-key.pem"] {
        secrets.extend(pem_body_lines(
            &std::fs::read_to_string(certs.join(f)).unwrap(),
        ));
    }

    let (sandbox_port, engine_port, status_port) = (free_port(), free_port(), free_port());
    let sandbox_url = format!("http://127.0.0.1:{sandbox_port}");
    let db_path = dir.join("journal.db");
    let sandbox = spawn(
        &[
            "sandbox",
            "--listen",
            &format!("127.0.0.1:{sandbox_port}"),
            "--certs",
            certs.to_str().unwrap(),
        ],
        &[(
            "KNUDEPUNKT_STATUS_URL",
            format!("https://127.0.0.1:{status_port}/beskedfordeler/PostStatusBeskedModtag"),
        )],
        &dir.join("sandbox.log"),
    );
    let engine = spawn(
        &["serve", "--listen", &format!("127.0.0.1:{engine_port}")],
        &[
            ("KNUDEPUNKT_SANDBOX_URL", sandbox_url.clone()),
            ("KNUDEPUNKT_SANDBOX_CERTS", certs.display().to_string()),
            (
                "KNUDEPUNKT_STATUS_LISTEN",
                format!("127.0.0.1:{status_port}"),
            ),
            (
                "KNUDEPUNKT_DATABASE_URL",
                format!("sqlite://{}", db_path.display()),
            ),
        ],
        &dir.join("engine.log"),
    );
    let base = format!("http://127.0.0.1:{engine_port}");
    wait_ok(&format!("{sandbox_url}/generic/_sandbox/stats")).await;
    wait_ok(&format!("{base}/healthz")).await;

    // A token bought with the client certificate.
    let sts: serde_json::Value = knudepunkt_adapters::http::client()
        .get(format!("{base}/healthz/sts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(sts["assertion_id"].is_string(), "{sts}");

    // A caseworker's day, with the CPR in bodies, a letter and a mistake or two.
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, body: serde_json::Value| {
        http.request(method, format!("{base}{path}"))
            .header("x-knudepunkt-user", "leder1")
            .header("x-knudepunkt-purpose", "secrets test")
            .json(&body)
            .send()
    };
    let post = reqwest::Method::POST;
    assert_eq!(
        call(
            post.clone(),
            "/api/v1/citizens",
            json!({"cpr": CPR_DASHED, "given_name": "Anna", "family_name": "Jensen"})
        )
        .await
        .unwrap()
        .status(),
        201
    );
    let case: serde_json::Value = call(post.clone(), "/api/v1/cases", json!({"cpr": CPR, "title": "Støtte", "kle": "27.36.12", "action_facet": "G01", "case_type": "Voksenhandicap", "org_unit_id": "bch", "caseworker_id": "leder1"}))
        .await.unwrap().json().await.unwrap();
    let id = case["id"].as_str().unwrap().to_string();
    assert_eq!(call(post.clone(), &format!("/api/v1/cases/{id}/decisions"), json!({"outcome": "grant", "legal_basis": "SEL § 85", "decided_on": "2026-11-20", "reasoning": format!("Borger {CPR_DASHED} har behov.")})).await.unwrap().status(), 201);
    call(post.clone(), "/api/v1/cases", json!({"cpr": "0202024321", "title": "x", "kle": "27.36.12", "action_facet": "G01", "case_type": "x", "org_unit_id": "bch", "caseworker_id": "leder1"})).await.unwrap();
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let case: serde_json::Value = call(
            reqwest::Method::GET,
            &format!("/api/v1/cases/{id}"),
            json!({}),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        if !case["decisions"][0]["appeal_deadline"].is_null() {
            break;
        }
        assert!(
            Instant::now() < until,
            "the decision letter was not dispatched: {case}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop(engine);
    stop(sandbox);

    // The logs.
    for name in ["engine.log", "sandbox.log"] {
        let log = std::fs::read_to_string(dir.join(name)).unwrap();
        assert!(!log.trim().is_empty(), "{name} has content");
        for s in &secrets {
            assert!(!log.contains(s.as_str()), "{name} holds a private key line");
        }
        for whole in [CPR, CPR_DASHED, "0202024321"] {
            assert!(
                !log.contains(whole),
                "{name} holds an unmasked CPR:\n{}",
                log.lines()
                    .filter(|l| l.contains(whole))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
    let engine_log = std::fs::read_to_string(dir.join("engine.log")).unwrap();
    assert!(
        engine_log.contains("STS issued a token"),
        "the run used the STS"
    );

    // The journal: no key anywhere in its files; CPRs only inside message payloads
    // (a MeMo letter must name its recipient), never in errors, history or notes.
    let mut bytes = std::fs::read(&db_path).unwrap();
    if let Ok(wal) = std::fs::read(format!("{}-wal", db_path.display())) {
        bytes.extend(wal);
    }
    let raw = String::from_utf8_lossy(&bytes);
    for s in &secrets {
        assert!(
            !raw.contains(s.as_str()),
            "the journal holds a private key line"
        );
    }
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&format!("sqlite://{}", db_path.display()))
        .await
        .unwrap();
    for sql in [
        "SELECT COALESCE(last_error, '') || ' ' || external_ids || ' ' || idempotency_key || ' ' || COALESCE(correlation_id, '') FROM messages",
        "SELECT COALESCE(detail, '') FROM message_transitions",
        "SELECT COALESCE(detail, '') FROM engine_notifications",
        "SELECT reader || ' ' || message_id || ' ' || purpose FROM audit_reads",
    ] {
        for row in sqlx::query(sql).fetch_all(&pool).await.unwrap() {
            let text: String = row.try_get(0).unwrap();
            assert!(
                !text.contains(CPR) && !text.contains(CPR_DASHED),
                "{sql}: {text}"
            );
        }
    }
    let letters: i64 = sqlx::query(
        "SELECT COUNT(*) FROM messages WHERE route = 'digitalpost.letter' AND state = 'delivered'",
    )
    .fetch_one(&pool)
    .await
    .unwrap()
    .try_get(0)
    .unwrap();
    assert_eq!(letters, 1, "the letter went through the journal");
    pool.close().await;
}
