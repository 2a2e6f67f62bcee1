//! The case core end to end: outbox atomicity, the SAPA test case (Bilag 3D), audit of
//! reads, bad input, decision letters, and the two API versions side by side.

mod common;

use std::time::Duration;

use common::Backend;
use common::case::{CPR, World, actor, as_user, catalogue_service, ctx, open_case, world};
use knudepunkt_case::Limits;
use knudepunkt_case::cases::NewCase;
use knudepunkt_engine::message::MessageState;
use serde_json::json;
use sqlx::Row;

async fn count(w: &World, sql: &str) -> i64 {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(w.engine.journal().pool())
        .await
        .unwrap()
        .try_get::<i64, _>(0)
        .unwrap()
}

fn new_case(title: &str) -> NewCase {
    NewCase {
        cpr: CPR.into(),
        title: title.into(),
        kle: "27.36.12".into(),
        action_facet: "G01".into(),
        case_type: "Voksenhandicap".into(),
        org_unit_id: "bch".into(),
        caseworker_id: "leder1".into(),
        confidential: false,
    }
}

/// A change that rolls back leaves no message; one that commits leaves exactly one; a
/// crash between commit and delivery still delivers, once.
async fn outbox_atomicity(backend: Backend) {
    let w = world(backend, "case-outbox", Limits::default()).await;
    let leder = actor(&w.core, "leder1").await;
    let c = ctx(&leder);
    w.core
        .register_citizen(&c, &common::case::anna())
        .await
        .unwrap();

    // Rolled back: neither the case nor its event.
    let mut tx = w.engine.journal().begin().await.unwrap();
    w.core
        .create_case_in(&mut tx, &c, &new_case("rolled back"))
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(count(&w, "SELECT COUNT(*) FROM cases").await, 0);
    assert_eq!(count(&w, "SELECT COUNT(*) FROM messages").await, 0);

    // Committed: exactly one message, for the one route listening.
    let view = w
        .core
        .create_case(&c, &new_case("committed"))
        .await
        .unwrap();
    assert_eq!(count(&w, "SELECT COUNT(*) FROM cases").await, 1);
    let messages = w
        .engine
        .journal()
        .count_by_state(Some("test.case-created"))
        .await
        .unwrap();
    assert_eq!(messages, vec![(MessageState::Pending, 1)]);
    assert_eq!(count(&w, "SELECT COUNT(*) FROM messages").await, 1);

    // "Crash": the process goes away after the commit, before any worker ran.
    let db = w.db.clone();
    let sandbox = w.sandbox;
    drop(w.core);
    w.engine.journal().close().await;
    drop(w.engine);

    let engine = common::engine(&db, &sandbox).await;
    let workers = engine.start();
    let delivered = common::wait_all_delivered(
        engine.journal(),
        "test.case-created",
        1,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(delivered, vec![(MessageState::Delivered, 1)]);
    let key = format!("case-created-{}", view.case.id);
    assert!(sandbox.handles.generic.recorder.has_key(&key));
    assert_eq!(sandbox.handles.generic.recorder.stats().unique, 1);
    engine.shutdown(workers).await;
}

/// Bilag 3D: Actor 1's job role covers the case's KLE and org unit, so Actor 1 finds
/// the case, its document and its grant by CPR and can open /sag/{id}. Actor 2 has no
/// such role and sees nothing. A confidential case is seen by neither.
async fn sapa_test_case(backend: Backend) {
    let w = world(backend, "case-sapa", Limits::default()).await;
    let leder = as_user(&w, "leder1");
    let case_id = open_case(&leder, false).await;
    let secret_id = open_case(&leder, true).await;
    let (s, doc) = leder
        .post(
            &format!("/api/v1/cases/{case_id}/documents"),
            json!({"title": "Ansøgning", "doc_type": "Ansøgning", "content": "JVBERi0xLjQK"}),
        )
        .await;
    assert_eq!(s, 201, "{doc}");
    let service = catalogue_service(&w).await;
    let (s, grant) = leder
        .post(
            &format!("/api/v1/cases/{case_id}/grants"),
            json!({"service_id": service, "period": {"from": "2026-01-01", "to": "2026-12-31"},
                   "quantity": 5, "provider": "Bostøtten Nord"}),
        )
        .await;
    assert_eq!(s, 201, "{grant}");
    let (s, _) = leder
        .post(
            &format!("/api/v1/cases/{secret_id}/documents"),
            json!({"title": "Fortroligt notat", "doc_type": "Notat", "content": "aGVq"}),
        )
        .await;
    assert_eq!(s, 201);

    let actor1 = as_user(&w, "aktoer1");
    let (s, found) = actor1
        .post("/api/v1/cases/search", json!({"cpr": CPR}))
        .await;
    assert_eq!(s, 200, "{found}");
    let found = found.as_array().unwrap();
    assert_eq!(found.len(), 1, "Actor 1 sees the open case only: {found:?}");
    assert_eq!(found[0]["id"], case_id.as_str());
    assert_eq!(found[0]["documents"][0]["title"], "Ansøgning");
    assert_eq!(found[0]["grants"][0]["provider"], "Bostøtten Nord");
    let page = actor1
        .http
        .get(format!("{}/sag/{case_id}", actor1.base))
        .bearer_auth(&actor1.token)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Socialpædagogisk støtte") && html.contains("Ansøgning"),
        "{html}"
    );
    let page = actor1
        .http
        .get(format!("{}/sag/{secret_id}", actor1.base))
        .bearer_auth(&actor1.token)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 403);

    let actor2 = as_user(&w, "aktoer2");
    let (s, found) = actor2
        .post("/api/v1/cases/search", json!({"cpr": CPR}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(found, json!([]), "Actor 2 sees nothing");
    let (s, problem) = actor2.get(&format!("/api/v1/cases/{case_id}")).await;
    assert_eq!(s, 403, "{problem}");
    assert_eq!(problem["status"], 403);
    let page = actor2
        .http
        .get(format!("{}/sag/{case_id}", actor2.base))
        .bearer_auth(&actor2.token)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 403);
    let (s, _) = actor2
        .get(&format!(
            "/api/v1/documents/{}/content",
            doc["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(s, 403);

    // The refusals are in the audit log, with who and why.
    let denied = count(
        &w,
        "SELECT COUNT(*) FROM case_audit_log WHERE actor = 'aktoer2' AND outcome = 'denied'",
    )
    .await;
    assert_eq!(denied, 3, "case, page and document refusals are audited");
    let denied1 = count(
        &w,
        "SELECT COUNT(*) FROM case_audit_log WHERE actor = 'aktoer1' AND outcome = 'denied'",
    )
    .await;
    assert_eq!(denied1, 1, "Actor 1's refusal on the confidential case");
}

/// Every read of a citizen's data through the API appears in the audit log, with the
/// purpose the caller gave; reads without a purpose are refused.
async fn reads_are_audited(backend: Backend) {
    let w = world(backend, "case-audit", Limits::default()).await;
    let leder = as_user(&w, "leder1");
    let case_id = open_case(&leder, false).await;
    let (_, doc) = leder
        .post(
            &format!("/api/v1/cases/{case_id}/documents"),
            json!({"title": "Notat", "doc_type": "Notat", "content": "aGVq"}),
        )
        .await;
    let actor1 = as_user(&w, "aktoer1");
    let before = count(
        &w,
        "SELECT COUNT(*) FROM case_audit_log WHERE action = 'read'",
    )
    .await;
    let reads = [
        actor1
            .post("/api/v1/citizens/lookup", json!({"cpr": CPR}))
            .await,
        actor1
            .post("/api/v2/citizens/lookup", json!({"cpr": CPR}))
            .await,
        actor1
            .post("/api/v1/cases/search", json!({"cpr": CPR}))
            .await,
        actor1.get(&format!("/api/v1/cases/{case_id}")).await,
        actor1.get(&format!("/api/v2/cases/{case_id}")).await,
    ];
    for (s, body) in &reads {
        assert_eq!(*s, 200, "{body}");
    }
    let content = actor1
        .http
        .get(format!(
            "{}/api/v1/documents/{}/content",
            actor1.base,
            doc["id"].as_str().unwrap()
        ))
        .bearer_auth(&actor1.token)
        .header("x-knudepunkt-purpose", "læser notat")
        .send()
        .await
        .unwrap();
    assert_eq!(content.status(), 200);
    assert_eq!(content.bytes().await.unwrap().as_ref(), b"hej");
    let after = count(
        &w,
        "SELECT COUNT(*) FROM case_audit_log WHERE action = 'read'",
    )
    .await;
    // One line per read.
    assert_eq!(after - before, 6);
    let (s, lines) = actor1
        .post("/api/v1/citizens/audit", json!({"cpr": CPR}))
        .await;
    assert_eq!(s, 200, "{lines}");
    let lines = lines.as_array().unwrap();
    assert!(lines.iter().any(|l| l["actor"] == "aktoer1"
        && l["resource"].as_str().unwrap().starts_with("document/")
        && l["purpose"] == "læser notat"));
    assert!(
        lines
            .iter()
            .all(|l| l["purpose"].as_str().is_some_and(|p| !p.is_empty()))
    );

    // No purpose, no read.
    let resp = actor1
        .http
        .get(format!("{}/api/v1/cases/{case_id}", actor1.base))
        .bearer_auth(&actor1.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let problem: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(problem["field"], "X-Knudepunkt-Purpose");
}

/// Bad input is refused with a problem that names the field, and nothing is stored.
async fn bad_input_is_refused(backend: Backend) {
    let w = world(
        backend,
        "case-bad",
        Limits {
            max_document_bytes: 1024,
        },
    )
    .await;
    let leder = as_user(&w, "leder1");
    let case_id = open_case(&leder, false).await;
    let service = catalogue_service(&w).await;
    let (s, _) = leder
        .post(
            &format!("/api/v1/cases/{case_id}/grants"),
            json!({"service_id": service, "period": {"from": "2026-01-01", "to": "2026-06-30"},
                   "quantity": 3, "provider": "Bostøtten Nord"}),
        )
        .await;
    assert_eq!(s, 201);
    let tables = [
        "citizens",
        "cases",
        "documents",
        "grants",
        "messages",
        "case_status_history",
    ];
    let mut before = Vec::new();
    for t in tables {
        before.push(count(&w, &format!("SELECT COUNT(*) FROM {t}")).await);
    }

    let cases = [
        (
            "/api/v1/citizens",
            json!({"cpr": "320190-1234", "given_name": "X", "family_name": "Y"}),
            422,
            "cpr",
        ),
        (
            "/api/v1/cases",
            json!({"cpr": "0101901234", "title": "t", "kle": "27.99.99", "action_facet": "G01",
                   "case_type": "x", "org_unit_id": "bch", "caseworker_id": "leder1"}),
            422,
            "kle",
        ),
        (
            "/api/v1/cases",
            json!({"cpr": "0101901234", "title": "t", "kle": "27.36.12", "action_facet": "G01",
                   "case_type": "x", "org_unit_id": "bch", "caseworker_id": "leder1", "colour": "red"}),
            422,
            "colour",
        ),
        (
            "/api/v1/cases",
            json!({"cpr": "0101901234", "title": "t", "kle": "27.36.12", "action_facet": "G01",
                   "case_type": "x", "org_unit_id": "bch"}),
            422,
            "caseworker_id",
        ),
        (
            &*format!("/api/v1/cases/{case_id}/grants"),
            json!({"service_id": service, "period": {"from": "2026-06-01"}, "quantity": 2, "provider": "Andre"}),
            409,
            "period",
        ),
        (
            &*format!("/api/v1/cases/{case_id}/grants"),
            json!({"service_id": service, "period": {"from": "2027-02-30"}, "quantity": 2, "provider": "Andre"}),
            422,
            "period.from",
        ),
        (
            &*format!("/api/v1/cases/{case_id}/documents"),
            json!({"title": "stor", "doc_type": "Bilag", "content": base64_of(2048)}),
            413,
            "content",
        ),
    ];
    for (path, body, status, field) in cases {
        let (s, problem) = leder.post(path, body).await;
        assert_eq!(s, status, "{path}: {problem}");
        assert_eq!(problem["field"], field, "{path}: {problem}");
        assert!(
            problem["type"].as_str().unwrap().starts_with("https://"),
            "{problem}"
        );
    }
    // An unknown CPR (a valid number nobody registered) names the field too.
    let (s, problem) = leder
        .post(
            "/api/v1/cases",
            json!({"cpr": "020202-4321", "title": "t", "kle": "27.36.12", "action_facet": "G01",
                   "case_type": "x", "org_unit_id": "bch", "caseworker_id": "leder1"}),
        )
        .await;
    assert_eq!(
        (s, problem["field"].as_str()),
        (422, Some("cpr")),
        "{problem}"
    );
    // A body past the server's hard limit is refused before it is read whole.
    let (s, problem) = leder
        .post(
            &format!("/api/v1/cases/{case_id}/documents"),
            json!({"title": "enorm", "doc_type": "Bilag", "content": base64_of(200_000)}),
        )
        .await;
    assert_eq!(
        (s, problem["field"].as_str()),
        (413, Some("body")),
        "{problem}"
    );
    // Malformed JSON says where it broke. (A fresh connection: the server closes the
    // one whose oversize body it did not read, and a pooled client may not notice.)
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/cases", leder.base))
        .bearer_auth(&leder.token)
        .header("x-knudepunkt-purpose", "test")
        .header("content-type", "application/json")
        .body("{\"cpr\": \"0101901234\",\n \"title\": }")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let problem: serde_json::Value = resp.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("line 2"),
        "{problem}"
    );

    for (t, b) in tables.iter().zip(before) {
        assert_eq!(
            count(&w, &format!("SELECT COUNT(*) FROM {t}")).await,
            b,
            "{t} changed"
        );
    }
}

fn base64_of(n: usize) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(vec![7u8; n])
}

/// The appeal deadline runs from the letter's confirmed dispatch; a letter that dies
/// shows on the case.
async fn decision_letters(backend: Backend) {
    let w = world(backend, "case-letters", Limits::default()).await;
    let workers = w.engine.start();
    let leder = as_user(&w, "leder1");
    let case_id = open_case(&leder, false).await;
    let decision = json!({"outcome": "grant", "legal_basis": "SEL § 85", "decided_on": "2026-11-20",
                          "reasoning": "Behov for støtte i eget hjem."});
    let (s, d) = leder
        .post(
            &format!("/api/v1/cases/{case_id}/decisions"),
            decision.clone(),
        )
        .await;
    assert_eq!(s, 201, "{d}");
    assert_eq!(
        d["appeal_deadline"],
        serde_json::Value::Null,
        "not before dispatch"
    );
    let letter_key = format!("letter-{}", d["id"].as_str().unwrap());
    let until = std::time::Instant::now() + Duration::from_secs(20);
    let case = loop {
        w.core.reconcile().await.unwrap();
        let (_, case) = leder.get(&format!("/api/v1/cases/{case_id}")).await;
        if !case["decisions"][0]["appeal_deadline"].is_null() || std::time::Instant::now() > until {
            break case;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(w.sandbox.handles.generic.recorder.has_key(&letter_key));
    let dispatched = case["decisions"][0]["letter_dispatched_on"]
        .as_str()
        .unwrap();
    let deadline = case["decisions"][0]["appeal_deadline"].as_str().unwrap();
    let dispatched = chrono::NaiveDate::parse_from_str(dispatched, "%Y-%m-%d").unwrap();
    assert_eq!(
        deadline,
        (dispatched + chrono::Duration::weeks(4))
            .format("%Y-%m-%d")
            .to_string(),
        "four weeks from dispatch, not from the decision date"
    );
    assert_eq!(case["status"], "Afgjort");

    // The receiver refuses the next letter for good: the case says so.
    w.sandbox
        .handles
        .generic
        .faults
        .push(knudepunkt_adapters::sandbox::Fault {
            kind: knudepunkt_adapters::sandbox::FaultKind::Status {
                status: 404,
                retry_after: None,
            },
            count: 10,
        });
    let (s, _) = leder
        .post(&format!("/api/v1/cases/{case_id}/decisions"), decision)
        .await;
    assert_eq!(s, 201);
    let notices = common::case::notices_of_kind(&w.core, &leder, &case_id, "letter_failed").await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(
        notices[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("letter to citizen failed: ")
    );
    w.engine.shutdown(workers).await;
}

/// A route that dies for a case shows on the case; a dead letter about something else
/// is left for the operator.
async fn dead_routes_show_on_the_case(backend: Backend) {
    let w = world(backend, "case-dead", Limits::default()).await;
    let workers = w.engine.start();
    let leder = as_user(&w, "leder1");
    let case_id = open_case(&leder, false).await;
    let created = common::wait_all_delivered(
        w.engine.journal(),
        "test.case-created",
        1,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(created, vec![(MessageState::Delivered, 1)]);
    // The next two deliveries are refused for good.
    w.sandbox
        .handles
        .generic
        .faults
        .push(knudepunkt_adapters::sandbox::Fault {
            kind: knudepunkt_adapters::sandbox::FaultKind::Status {
                status: 400,
                retry_after: None,
            },
            count: 2,
        });
    let foreign = common::submit(
        &w.engine,
        "test.notify",
        json!({"id": "not-a-case", "case_id": "SAG-0001"}),
    )
    .await;
    let (s, _) = leder
        .post(
            &format!("/api/v1/cases/{case_id}/documents"),
            json!({"title": "Notat", "doc_type": "Notat", "content": "aGVq"}),
        )
        .await;
    assert_eq!(s, 201);
    let failed = common::case::notices_of_kind(&w.core, &leder, &case_id, "delivery_failed").await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("delivery through route test.document-added failed"),
        "{failed:?}"
    );
    common::expect_state(
        w.engine.journal(),
        foreign,
        MessageState::Dead,
        Duration::from_secs(10),
    )
    .await;
    w.core.reconcile().await.unwrap();
    let open = w.engine.journal().open_notifications(100).await.unwrap();
    assert_eq!(
        open.len(),
        1,
        "only the operator's own dead letter stays open: {open:?}"
    );
    assert_eq!(open[0].message_id, foreign);
    w.engine.shutdown(workers).await;
}

/// v1 keeps its shapes while v2 answers with the new ones; both OpenAPI documents are
/// served.
async fn api_versions(backend: Backend) {
    let w = world(backend, "case-versions", Limits::default()).await;
    let leder = as_user(&w, "leder1");
    let case_id = open_case(&leder, false).await;
    let (_, v1) = leder
        .post("/api/v1/citizens/lookup", json!({"cpr": CPR}))
        .await;
    let (_, v2) = leder
        .post("/api/v2/citizens/lookup", json!({"cpr": CPR}))
        .await;
    assert_eq!(v1["name"], "Anna Jensen");
    assert_eq!(v2["name"], json!({"given": "Anna", "family": "Jensen"}));
    let (_, v1) = leder.get(&format!("/api/v1/cases/{case_id}")).await;
    let (_, v2) = leder.get(&format!("/api/v2/cases/{case_id}")).await;
    assert_eq!(v1["status"], "Opstaaet");
    assert_eq!(v1["status_history"][0]["status"], "Opstaaet");
    assert_eq!(v2["status"]["current"], "Opstaaet");
    assert!(v2["status"]["since"].as_str().unwrap().ends_with('Z'));
    for v in ["v1", "v2"] {
        let (s, doc) = leder.get(&format!("/api/{v}/openapi.json")).await;
        assert_eq!(s, 200);
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        assert!(doc["paths"][format!("/api/{v}/cases/{{id}}")].is_object());
    }
}

on_both_backends!(
    outbox_atomicity,
    sapa_test_case,
    reads_are_audited,
    bad_input_is_refused,
    decision_letters,
    dead_routes_show_on_the_case,
    api_versions,
);
