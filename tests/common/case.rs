//! Set-up for the case core's tests: a core on a fresh journal, the API served on
//! loopback, and a client that speaks as one of the seeded users.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use knudepunkt_case::api::SignedTokens;
use knudepunkt_case::document_files::DocumentStore;
use knudepunkt_case::{Actor, CaseCore, Ctx, Limits};
use knudepunkt_engine::Engine;
use serde_json::{Value, json};

use super::{Backend, Sandbox, engine, fresh_database, start_sandbox};

pub const CPR: &str = "010190-1234";
pub const SECRET: &[u8] = b"a test secret that is long enough";

pub struct World {
    pub sandbox: Sandbox,
    pub engine: Engine,
    pub core: CaseCore,
    pub api: SocketAddr,
    pub db: String,
}

pub async fn world(backend: Backend, name: &str, limits: Limits) -> World {
    let sandbox = start_sandbox().await;
    let db = fresh_database(backend, name).await;
    let engine = engine(&db, &sandbox).await;
    let core = CaseCore::open(engine.clone(), limits).await.unwrap();
    core.seed_default_org().await.unwrap();
    let auth = Arc::new(SignedTokens::new(SECRET, true));
    let app = knudepunkt_case::api::router(core.clone(), auth);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    World {
        sandbox,
        engine,
        core,
        api,
        db,
    }
}

/// The test citizen, as the store layer takes it.
pub fn anna() -> knudepunkt_case::citizens::NewCitizen {
    knudepunkt_case::citizens::NewCitizen {
        cpr: CPR.into(),
        given_name: "Anna".into(),
        family_name: "Jensen".into(),
        address: None,
    }
}

/// Registers `cprs` as citizens (Borger Jensen), as `who`.
pub async fn citizens(core: &CaseCore, who: &Actor, cprs: &[&str]) {
    for cpr in cprs {
        core.register_citizen(
            &ctx(who),
            &knudepunkt_case::citizens::NewCitizen {
                cpr: (*cpr).into(),
                given_name: "Borger".into(),
                family_name: "Jensen".into(),
                address: None,
            },
        )
        .await
        .unwrap();
    }
}

pub async fn actor(core: &CaseCore, user: &str) -> Actor {
    core.actor(user).await.unwrap().expect("seeded user")
}

pub fn ctx<'a>(actor: &'a Actor) -> Ctx<'a> {
    Ctx {
        actor,
        purpose: "test",
    }
}

/// A client speaking as `user` with a signed bearer token.
pub struct As {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

pub fn as_user(w: &World, user: &str) -> As {
    As::at(&format!("http://{}", w.api), user)
}

impl As {
    /// `user` at the API under `base` (`http://host:port`), with a token for ten minutes.
    pub fn at(base: &str, user: &str) -> As {
        As {
            // The shared TLS set-up: a client a call, without the roots read again.
            http: knudepunkt_adapters::http::client(),
            base: base.to_string(),
            token: SignedTokens::new(SECRET, false)
                .issue(user, std::time::Duration::from_secs(600)),
        }
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("x-knudepunkt-purpose", "sagsbehandling (test)");
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    /// POSTs `body` to `path`, which must answer 201; the new resource's id.
    pub async fn create(&self, path: &str, body: Value) -> String {
        let (s, created) = self.post(path, body).await;
        assert_eq!(s, 201, "POST {path}: {created}");
        created["id"].as_str().expect("an id").to_string()
    }

    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PATCH, path, Some(body)).await
    }
}

/// Registers the test citizen and opens a case on it as `leder1` (Borgercenter
/// Handicap); returns the case id.
pub async fn open_case(c: &As, confidential: bool) -> String {
    let (s, body) = c
        .post(
            "/api/v1/citizens",
            json!({"cpr": CPR, "given_name": "Anna", "family_name": "Jensen", "address": "Testvej 1, 2300 København S"}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let (s, body) = c
        .post(
            "/api/v1/cases",
            json!({
                "cpr": CPR,
                "title": if confidential { "Fortrolig sag" } else { "Socialpædagogisk støtte" },
                "kle": "27.36.12",
                "action_facet": "G01",
                "case_type": "Voksenhandicap",
                "org_unit_id": "bch",
                "caseworker_id": "leder1",
                "confidential": confidential,
            }),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    body["id"].as_str().unwrap().to_string()
}

/// Adds a document (an application) with `content` to `case` as `c`; its id.
pub async fn add_document(c: &As, case: &str, title: &str, content: &[u8]) -> String {
    use base64::Engine as _;
    c.create(
        &format!("/api/v1/cases/{case}/documents"),
        json!({"title": title, "doc_type": "Ansøgning",
               "content": base64::engine::general_purpose::STANDARD.encode(content)}),
    )
    .await
}

/// A catalogue with one general and one specific service (as `redaktoer`); the
/// specific service's id.
pub async fn catalogue_service(w: &World) -> String {
    let ed = as_user(w, "redaktoer");
    let (s, cat) = ed
        .post(
            "/api/v1/catalogues",
            json!({"name": format!("Voksenhandicap {}", uuid::Uuid::now_v7())}),
        )
        .await;
    assert_eq!(s, 201, "{cat}");
    let cat_id = cat["id"].as_str().unwrap();
    let (s, general) = ed
        .post(
            &format!("/api/v1/catalogues/{cat_id}/services"),
            json!({"code": "SEL85", "name": "Socialpædagogisk støtte", "kle": "27.36.12",
                   "legal_basis": "SEL § 85", "price_ore": 0, "unit": "time"}),
        )
        .await;
    assert_eq!(s, 201, "{general}");
    let (s, specific) = ed
        .post(
            &format!("/api/v1/catalogues/{cat_id}/services"),
            json!({"code": "SEL85-HJEM", "parent_id": general["id"], "name": "Støtte i eget hjem",
                   "kle": "27.36.12", "legal_basis": "SEL § 85", "price_ore": 45000, "unit": "time",
                   "description": "Op til 5 timer om ugen"}),
        )
        .await;
    assert_eq!(s, 201, "{specific}");
    specific["id"].as_str().unwrap().to_string()
}

/// Reconciles until the case shows notices of `kind` (or 20 s pass); those notices.
pub async fn notices_of_kind(core: &CaseCore, c: &As, case_id: &str, kind: &str) -> Vec<Value> {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        core.reconcile().await.unwrap();
        let (_, case) = c.get(&format!("/api/v1/cases/{case_id}")).await;
        let found: Vec<Value> = case["notices"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["kind"] == kind)
            .cloned()
            .collect();
        if !found.is_empty() || std::time::Instant::now() > until {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The sandbox, an engine on a fresh journal whose routes are `tests/fixtures/<routes>`
/// (the project's mappings, the dev profile pointed at the sandbox, the case core's
/// adapter in its registry), and the case core opened on it with the default
/// organisation.
pub async fn engine_with_core(
    backend: super::Backend,
    name: &str,
    routes: &str,
) -> (super::Sandbox, knudepunkt_engine::Engine, CaseCore) {
    let sandbox = super::start_sandbox().await;
    let env = super::dev_environment(sandbox.addr);
    let (engine, core) = engine_with_core_on(&env, backend, name, routes).await;
    (sandbox, engine, core)
}

/// [`engine_with_core`] on the environments directory `env` (its dev profile), for a
/// sandbox the caller started.
pub async fn engine_with_core_on(
    env: &std::path::Path,
    backend: super::Backend,
    name: &str,
    routes: &str,
) -> (knudepunkt_engine::Engine, CaseCore) {
    engine_with_core_storing(env, backend, name, routes, DocumentStore::Database).await
}

/// [`engine_with_core_on`], with documents' contents kept where `documents` says.
pub async fn engine_with_core_storing(
    env: &std::path::Path,
    backend: super::Backend,
    name: &str,
    routes: &str,
    documents: DocumentStore,
) -> (knudepunkt_engine::Engine, CaseCore) {
    let db = super::fresh_database(backend, name).await;
    let opts = knudepunkt_engine::route::LoadOptions {
        routes_dir: super::repo().join("tests/fixtures").join(routes),
        mappings_dir: super::repo().join("mappings"),
        environments_dir: env.to_path_buf(),
        environment: "dev".into(),
        schema_dir: knudepunkt_engine::schema_dir::locate(),
        adapters: {
            let mut names = knudepunkt_adapters::registry().names();
            names.push(knudepunkt_case::inbound::ADAPTER.into());
            names
        },
    };
    let routes =
        Arc::new(knudepunkt_engine::RouteSet::load(&opts).unwrap_or_else(|d| panic!("{d:?}")));
    let mut adapters = knudepunkt_adapters::registry_for(&routes.environment);
    adapters.defer(knudepunkt_case::inbound::ADAPTER);
    let engine = knudepunkt_engine::Engine::new(
        knudepunkt_engine::Journal::open(&db).await.unwrap(),
        routes,
        adapters,
        super::quick_options(),
    );
    let core = CaseCore::open_with(
        engine.clone(),
        knudepunkt_case::Limits::default(),
        documents,
    )
    .await
    .unwrap();
    core.seed_default_org().await.unwrap();
    (engine, core)
}

/// A core on the sandbox with routes `tests/fixtures/<routes>`, its API served on
/// loopback, and the engine's workers running.
pub struct ApiWorld {
    pub sandbox: super::Sandbox,
    pub engine: knudepunkt_engine::Engine,
    pub core: CaseCore,
    /// `http://host:port`.
    pub api: String,
    pub workers: tokio::task::JoinHandle<()>,
}

impl ApiWorld {
    pub async fn start(backend: super::Backend, name: &str, routes: &str) -> ApiWorld {
        Self::start_storing(backend, name, routes, DocumentStore::Database).await
    }

    /// [`ApiWorld::start`], with documents' contents kept where `documents` says.
    pub async fn start_storing(
        backend: super::Backend,
        name: &str,
        routes: &str,
        documents: DocumentStore,
    ) -> ApiWorld {
        let sandbox = super::start_sandbox().await;
        let env = super::dev_environment(sandbox.addr);
        let (engine, core) = engine_with_core_storing(&env, backend, name, routes, documents).await;
        let auth = Arc::new(SignedTokens::new(SECRET, true));
        let app = knudepunkt_case::api::router(core.clone(), auth);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let workers = engine.start();
        ApiWorld {
            sandbox,
            engine,
            core,
            api,
            workers,
        }
    }

    pub fn as_user(&self, user: &str) -> As {
        As::at(&self.api, user)
    }

    /// Waits until every message in the journal is settled.
    pub async fn idle(&self) {
        super::wait_all_settled(self.engine.journal()).await
    }

    pub async fn stop(self) {
        self.engine.shutdown(self.workers).await;
    }
}
