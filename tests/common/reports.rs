//! The statutory reports' shared steps: a world with the DST and SEI2 routes whose
//! receivers push their status back, a month prepared, approved and followed to
//! acceptance, and a submission's file as the case core keeps it.

use std::time::Duration;

use knudepunkt_case::reporting::Layout;
use knudepunkt_case::reporting::submissions::State;

/// A submission's file as the case core keeps it.
pub async fn sqlx_file(engine: &knudepunkt_engine::Engine, id: &str) -> Vec<u8> {
    use sqlx::Row;
    sqlx::query("SELECT file FROM report_submissions WHERE id = $1")
        .bind(id)
        .fetch_one(engine.journal().pool())
        .await
        .unwrap()
        .try_get("file")
        .unwrap()
}

/// Prepares `period` of `layout` from the store as a draft (`replaces` the rejected
/// submission it corrects); the submission and its findings as text.
pub async fn draft(
    core: &knudepunkt_case::CaseCore,
    who: &knudepunkt_case::access::Actor,
    layout: &Layout,
    period: &str,
    replaces: Option<&str>,
) -> (
    knudepunkt_case::reporting::submissions::Submission,
    Vec<String>,
) {
    let span = knudepunkt_case::reporting::Period::month(period).unwrap();
    let records = core.extract(layout, span).await.unwrap();
    let s = core
        .prepare_submission(&super::case::ctx(who), layout, period, records, replaces)
        .await
        .unwrap()
        .submission;
    let findings = s.findings.iter().map(|f| f.to_string()).collect();
    (s, findings)
}

/// Prepares `period` of `layout` again from the store, approves it and waits (reconciling
/// as the server does) until DST has accepted it; the submission.
pub async fn send_and_settle(
    core: &knudepunkt_case::CaseCore,
    who: &knudepunkt_case::access::Actor,
    layout: &Layout,
    period: &str,
) -> knudepunkt_case::reporting::submissions::Submission {
    let (ready, _) = draft(core, who, layout, period, None).await;
    assert_eq!(ready.findings_total, 0, "{:?}", ready.findings);
    core.approve_submission(&super::case::ctx(who), &ready.id)
        .await
        .unwrap();
    settle(core, &ready.id, State::Accepted).await
}

/// Waits (reconciling as the server does) until submission `id` is `want`.
pub async fn settle(
    core: &knudepunkt_case::CaseCore,
    id: &str,
    want: State,
) -> knudepunkt_case::reporting::submissions::Submission {
    let until = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        core.reconcile().await.unwrap();
        let (s, _) = core.submission(id).await.unwrap();
        if s.state == want {
            return s;
        }
        assert!(
            std::time::Instant::now() < until,
            "{id} is {:?}, not {want:?}",
            s.state
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The sandbox, an engine with the DST and SEI2 routes, its server for DST's status
/// pushes, and the case core; the workers started.
pub async fn dst_world(
    backend: super::Backend,
    name: &str,
) -> (
    super::Sandbox,
    knudepunkt_engine::Engine,
    knudepunkt_case::CaseCore,
    tokio::task::JoinHandle<()>,
) {
    let (sandbox, engine, core) = super::case::engine_with_core(backend, name, "routes-dst").await;
    let app = knudepunkt_engine::server::router(engine.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    sandbox
        .handles
        .dst
        .status_to(&format!("{base}/in/dst/status"), Duration::from_millis(100));
    let workers = engine.start();
    (sandbox, engine, core, workers)
}
