//! Shared set-up for the end-to-end tests: journals on SQLite and PostgreSQL, the
//! in-process sandbox, and route sets pointing at it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use knudepunkt_adapters::sandbox::{self, SandboxHandles};
use knudepunkt_engine::message::MessageState;
use knudepunkt_engine::route::LoadOptions;
use knudepunkt_engine::{Engine, EngineOptions, Journal, MessageId, RouteSet};
use sqlx::Executor;

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("kp-test-{name}-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The PostgreSQL server scripts/test-all starts; tests fail, not skip, without it.
pub fn postgres_admin_url() -> String {
    std::env::var("KNUDEPUNKT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://knudepunkt:knudepunkt@127.0.0.1:5432/postgres".into())
}

/// A fresh, empty journal database; its URL.
pub async fn fresh_database(backend: Backend, name: &str) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}/journal.db", scratch(name).display()),
        Backend::Postgres => {
            let admin = postgres_admin_url();
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(&admin).await.unwrap_or_else(|e| {
                panic!("PostgreSQL at {admin} is needed for this test (scripts/test-all starts it): {e}")
            });
            let db = format!(
                "kp_{}_{}",
                name.replace('-', "_"),
                uuid::Uuid::now_v7().simple()
            );
            pool.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
                .await
                .unwrap();
            pool.close().await;
            let base = admin.rsplit_once('/').unwrap().0;
            format!("{base}/{db}")
        }
    }
}

/// Makes the sandbox's certificates in `dir` with `knudepunkt sandbox certs`.
pub fn make_sandbox_certs(dir: &Path) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_knudepunkt"))
        .args(["sandbox", "certs", "--certs"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub struct Sandbox {
    pub handles: SandboxHandles,
    pub addr: SocketAddr,
}

pub async fn start_sandbox() -> Sandbox {
    let (router, handles) = sandbox::router();
    let (addr, _) = sandbox::serve("127.0.0.1:0", router).await.unwrap();
    Sandbox { handles, addr }
}

/// An environments directory whose dev profile points at `addr`.
pub fn dev_environment(addr: SocketAddr) -> PathBuf {
    dev_environment_with(
        addr,
        knudepunkt_adapters::sandbox::certs::SandboxCertificates::shared(),
    )
}

/// [`dev_environment`] with the sandbox's certificates `sandbox_certs`.
pub fn dev_environment_with(
    addr: SocketAddr,
    sandbox_certs: &knudepunkt_adapters::sandbox::certs::SandboxCertificates,
) -> PathBuf {
    let dir = scratch("env");
    // The in-process sandbox's certificates, where the profile looks for them.
    let certs = dir.join("certs");
    sandbox_certs.write(&certs, "sandbox").unwrap();
    let dev = std::fs::read_to_string(repo().join("environments/dev.yaml")).unwrap();
    std::fs::write(
        dir.join("dev.yaml"),
        dev.replace(
            "${KNUDEPUNKT_SANDBOX_URL:-http://127.0.0.1:8790}",
            &format!("http://{addr}"),
        )
        .replace("${KNUDEPUNKT_STATUS_LISTEN:-127.0.0.1:8701}", "127.0.0.1:0")
        .replace(
            "${KNUDEPUNKT_SANDBOX_CERTS:-data/sandbox-certs}",
            &certs.display().to_string(),
        )
        .replace(
            "password_env: KNUDEPUNKT_CLIENT_CERT_PASSWORD",
            "password_env: KNUDEPUNKT_TEST_UNSET_PASSWORD",
        )
        // Short, so that timeouts are tested in a second, not ten.
        .replace("timeout: 10s", "timeout: 1s"),
    )
    .unwrap();
    dir
}

/// A root for `knudepunkt serve` processes: the engine test routes, the mappings, and a
/// dev profile pointing at the sandbox at `addr`.
pub fn engine_root(name: &str, addr: SocketAddr) -> PathBuf {
    let root = scratch(name);
    std::fs::create_dir_all(root.join("routes")).unwrap();
    std::fs::copy(
        repo().join("tests/fixtures/routes/engine.yaml"),
        root.join("routes/engine.yaml"),
    )
    .unwrap();
    std::os::unix::fs::symlink(repo().join("mappings"), root.join("mappings")).unwrap();
    std::os::unix::fs::symlink(dev_environment(addr), root.join("environments")).unwrap();
    root
}

pub fn test_routes(addr: SocketAddr) -> Arc<RouteSet> {
    let opts = LoadOptions {
        routes_dir: repo().join("tests/fixtures/routes"),
        mappings_dir: repo().join("mappings"),
        environments_dir: dev_environment(addr),
        environment: "dev".into(),
        schema_dir: None,
        adapters: knudepunkt_adapters::registry().names(),
    };
    Arc::new(RouteSet::load(&opts).unwrap_or_else(|d| panic!("test routes do not load: {d:?}")))
}

pub fn quick_options() -> EngineOptions {
    EngineOptions {
        concurrency: 16,
        claim_batch: 64,
        claim_bytes: 4 * 1024 * 1024,
        lease: Duration::from_secs(30),
        poll_interval: Duration::from_millis(50),
        amqp: None,
    }
}

/// A library caller's engine handle on `journal` (as the case core's): it submits through
/// the outbox and has no workers of its own.
pub fn submitter(journal: &Journal, addr: SocketAddr) -> Engine {
    Engine::new(
        journal.clone(),
        test_routes(addr),
        knudepunkt_adapters::registry(),
        quick_options(),
    )
}

pub async fn engine(db: &str, sandbox: &Sandbox) -> Engine {
    engine_at(db, sandbox.addr).await
}

/// [`engine`] for a receiver of the test's own at `addr` (serving `/generic/receive`).
pub async fn engine_at(db: &str, addr: SocketAddr) -> Engine {
    let journal = Journal::open(db).await.unwrap();
    Engine::new(
        journal,
        test_routes(addr),
        knudepunkt_adapters::registry(),
        quick_options(),
    )
}

pub async fn wait_state(
    journal: &Journal,
    id: MessageId,
    want: MessageState,
    within: Duration,
) -> MessageState {
    let until = Instant::now() + within;
    loop {
        let s = journal.get(id).await.unwrap().state;
        if s == want || Instant::now() > until {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Submits `event` on `route` outside any transaction; the new message's id.
pub async fn submit(engine: &Engine, route: &str, event: serde_json::Value) -> MessageId {
    engine
        .submit_now(knudepunkt_engine::Outbound {
            route,
            event: &event,
        })
        .await
        .unwrap()
        .id()
        .expect("journaled, not filtered")
}

/// Alters a message's payload behind the engine's back, as a corrupted disk or a
/// careless hand in the database would.
/// On SQLite a payload over 2 KB is kept apart, in a file beside the journal or in
/// `message_payloads`, and the row's own is empty: it is altered where it is.
pub async fn tamper(engine: &Engine, id: MessageId, payload: &[u8]) {
    if let Some(path) = engine
        .journal()
        .payload_files()
        .map(|f| f.path_of(id))
        .filter(|p| p.is_file())
    {
        std::fs::write(path, payload).unwrap();
        return;
    }
    for where_it_is in [
        "UPDATE messages SET payload = $1 WHERE id = $2 AND length(payload) > 0",
        "UPDATE message_payloads SET payload = $1 WHERE id = $2",
    ] {
        let altered = sqlx::query(where_it_is)
            .bind(payload.to_vec())
            .bind(id.to_string())
            .execute(engine.journal().pool())
            .await
            .unwrap()
            .rows_affected();
        if altered == 1 {
            return;
        }
    }
    panic!("message {id} has no payload to alter");
}

/// Waits for message `id` to reach `want`, and fails the test if it does not.
pub async fn expect_state(journal: &Journal, id: MessageId, want: MessageState, within: Duration) {
    assert_eq!(
        wait_state(journal, id, want, within).await,
        want,
        "message {id}"
    );
}

/// Waits until every message of `route` is delivered and there are `n` of them; returns
/// the counts per state as they ended up.
pub async fn wait_all_delivered(
    journal: &Journal,
    route: &str,
    n: i64,
    within: Duration,
) -> Vec<(MessageState, i64)> {
    let until = Instant::now() + within;
    loop {
        let counts = journal.count_by_state(Some(route)).await.unwrap();
        if counts == vec![(MessageState::Delivered, n)] || Instant::now() > until {
            return counts;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (up to 20 s) until every message in the journal is settled.
pub async fn wait_all_settled(journal: &Journal) {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let counts = journal.count_by_state(None).await.unwrap();
        if counts.iter().all(|(s, _)| s.is_terminal()) {
            return;
        }
        assert!(
            Instant::now() < until,
            "the journal did not settle: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

/// The messages of `route` (up to 100), newest first.
pub async fn messages_of(
    journal: &Journal,
    route: &str,
) -> Vec<knudepunkt_engine::message::JournalMessage> {
    journal
        .list(&knudepunkt_engine::journal::ListFilter {
            route: Some(route.into()),
            state: None,
            correlation_id: None,
            limit: 100,
        })
        .await
        .unwrap()
}

/// Waits (up to `within`) until `route` has `n` messages and all are settled; them.
pub async fn settled(
    journal: &Journal,
    route: &str,
    n: usize,
    within: Duration,
) -> Vec<knudepunkt_engine::message::JournalMessage> {
    let until = Instant::now() + within;
    loop {
        let all = messages_of(journal, route).await;
        if all.len() == n && all.iter().all(|m| m.state.is_terminal()) {
            return all;
        }
        assert!(
            Instant::now() < until,
            "{route} not settled: {:?}",
            all.iter()
                .map(|m| (m.state, m.last_error.clone()))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

/// Runs the knudepunkt binary; returns (exit ok, stdout, stderr).
pub fn cli(args: &[&str], db: &str, root: &Path) -> (bool, String, String) {
    cli_with(args, db, root, &[])
}

/// [`cli`] with more environment (`KNUDEPUNKT_AMQP_URL`, say).
pub fn cli_with(
    args: &[&str],
    db: &str,
    root: &Path,
    env: &[(&str, &str)],
) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_knudepunkt"))
        .args(args)
        .env("KNUDEPUNKT_DATABASE_URL", db)
        .env("KNUDEPUNKT_ROOT", root)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Generates one test per backend from an async fn taking a Backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() { super::$name(super::common::Backend::Sqlite).await }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() { super::$name(super::common::Backend::Postgres).await }
            )*
        }
    };
}
pub mod case;
/// The binary's CPR register, as the case core is given it.
#[path = "../../src/cpr_register.rs"]
pub mod cpr_register;
/// The binary's source of handovers from DUBU.
#[path = "../../src/dubu_source.rs"]
pub mod dubu_source;
/// The binary's way from STS Klassifikation into the case core.
#[path = "../../src/kle_source.rs"]
pub mod kle_source;
/// The binary's way from KK-ORG2 into the case core.
#[path = "../../src/org_source.rs"]
pub mod org_source;
pub mod reports;
