//! No CPR number appears unmasked in the application log. The real binary serves the
//! case API at debug level while a caseworker registers a citizen, opens a case, adds a
//! document, decides (which sends a letter with the CPR in it through the engine),
//! searches and trips over bad input; then the captured log is grepped.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{dev_environment, repo, scratch, start_sandbox};
use serde_json::json;

const CPR_DIGITS: &str = "0101901234";
const CPR_DASHED: &str = "010190-1234";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_log_never_shows_a_whole_cpr() {
    let sandbox = start_sandbox().await;
    let root = scratch("case-logs");
    for dir in ["routes", "mappings"] {
        std::os::unix::fs::symlink(repo().join(dir), root.join(dir)).unwrap();
    }
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (port, status_port) = (free_port(), free_port());
    // The status receiver (mTLS) on a port known here, so the sandbox can push to it.
    let environments = dev_environment(sandbox.addr);
    let dev = std::fs::read_to_string(environments.join("dev.yaml")).unwrap();
    std::fs::write(
        environments.join("dev.yaml"),
        dev.replace(
            "listen: \"127.0.0.1:0\"",
            &format!("listen: \"127.0.0.1:{status_port}\""),
        ),
    )
    .unwrap();
    std::os::unix::fs::symlink(environments, root.join("environments")).unwrap();
    let log_path = root.join("knudepunkt.log");
    sandbox.handles.digital_post.push_statuses_to(
        &format!(
            "https://127.0.0.1:{status_port}{}",
            knudepunkt_adapters::digital_post::STATUS_PATH
        ),
        Duration::from_millis(100),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_knudepunkt"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--root"])
        .arg(&root)
        .current_dir(repo())
        .env(
            "KNUDEPUNKT_DATABASE_URL",
            format!("sqlite://{}/journal.db", root.display()),
        )
        .env(
            "KNUDEPUNKT_LOG",
            "debug,sqlx=debug,hyper=info,h2=info,reqwest=debug",
        )
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();

    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let until = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < until, "the server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let call = |method: reqwest::Method, path: &str, body: serde_json::Value| {
        http.request(method, format!("{base}{path}"))
            .header("x-knudepunkt-user", "leder1")
            .header("x-knudepunkt-purpose", "log test")
            .json(&body)
            .send()
    };
    let post = reqwest::Method::POST;
    let r = call(
        post.clone(),
        "/api/v1/citizens",
        json!({"cpr": CPR_DASHED, "given_name": "Anna", "family_name": "Jensen"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let case: serde_json::Value = call(
        post.clone(),
        "/api/v1/cases",
        json!({"cpr": CPR_DIGITS, "title": "Støtte", "kle": "27.36.12", "action_facet": "G01",
               "case_type": "Voksenhandicap", "org_unit_id": "bch", "caseworker_id": "leder1"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let id = case["id"].as_str().unwrap();
    call(
        post.clone(),
        &format!("/api/v1/cases/{id}/documents"),
        json!({"title": format!("Notat om {CPR_DASHED}"), "doc_type": "Notat", "content": "aGVq"}),
    )
    .await
    .unwrap();
    let r = call(
        post.clone(),
        &format!("/api/v1/cases/{id}/decisions"),
        json!({"outcome": "grant", "legal_basis": "SEL § 85", "decided_on": "2026-11-20", "reasoning": format!("Borger {CPR_DIGITS} har behov.")}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    call(
        post.clone(),
        "/api/v1/cases/search",
        json!({"cpr": CPR_DIGITS}),
    )
    .await
    .unwrap();
    call(
        post.clone(),
        "/api/v1/cases/search",
        json!({"cpr": 101901234}),
    )
    .await
    .unwrap();
    call(
        post.clone(),
        "/api/v1/citizens/lookup",
        json!({"cpr": "0202024321"}),
    )
    .await
    .unwrap();
    call(post.clone(), "/api/v1/cases", json!({"cpr": "0202024321", "title": "t", "kle": "27.36.12", "action_facet": "G01", "case_type": "x", "org_unit_id": "bch", "caseworker_id": "leder1"})).await.unwrap();

    // The letter (with the CPR in its MeMo) reaches the receiver.
    let until = Instant::now() + Duration::from_secs(30);
    while sandbox.handles.digital_post.recorder.stats().unique < 1 {
        assert!(
            Instant::now() < until,
            "the decision letter was not delivered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let received = sandbox.handles.digital_post.recorder.received(10);
    assert!(
        received.iter().any(|r| r.body.contains(CPR_DIGITS)),
        "the letter carries the CPR"
    );

    // SAFETY: kill(2) on a child we own.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let _ = child.wait();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.lines().count() > 20, "the log has content:\n{log}");
    assert!(
        log.contains("case opened") && log.contains("010190-****"),
        "the CPR is logged masked:\n{log}"
    );
    for whole in [CPR_DIGITS, CPR_DASHED, "0202024321", "020202-4321"] {
        let hits: Vec<&str> = log.lines().filter(|l| l.contains(whole)).collect();
        assert!(
            hits.is_empty(),
            "{whole} appears unmasked in the log:\n{}",
            hits.join("\n")
        );
    }
}
