//! The case and document index (STS SF1470) end to end against the sandbox: the Bilag 3D
//! test case (Actor 1 finds the citizen's case and document in SAPA and hops to the case;
//! Actor 2 finds nothing; a confidential case never appears); marking a case or document
//! confidential removes it, and unmarking brings it back whole; StatusKode 49 is tried
//! again in order and 40 goes to dead with the index's FejlbeskedTekst; and the backfill
//! resumes without journaling a batch twice.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::Backend;
use common::case::{As, CPR, SECRET};
use knudepunkt_adapters::sagdokindeks::simulator::{Role, SagDokIndeksSimulator};
use knudepunkt_adapters::sandbox::{Fault, FaultKind};
use knudepunkt_case::CaseCore;
use knudepunkt_case::api::SignedTokens;
use knudepunkt_engine::Engine;
use knudepunkt_engine::message::MessageState;
use serde_json::{Value, json};

const CPR_PLAIN: &str = "0101901234";

struct World {
    sandbox: common::Sandbox,
    engine: Engine,
    core: CaseCore,
    api: String,
    workers: tokio::task::JoinHandle<()>,
}

impl World {
    fn index(&self) -> &SagDokIndeksSimulator {
        &self.sandbox.handles.sagdokindeks
    }

    fn as_user(&self, user: &str) -> As {
        As::at(&self.api, user)
    }

    /// The job roles of a seeded user, as SAPA gets them from the user's token.
    async fn roles(&self, user: &str) -> Vec<Role> {
        let actor = self.core.actor(user).await.unwrap().unwrap();
        actor
            .roles
            .iter()
            .map(|r| Role {
                org_unit_id: r.org_unit_id.clone(),
                kle: r.kle.clone(),
            })
            .collect()
    }

    /// Waits until every message in the journal is settled.
    async fn idle(&self) {
        common::wait_all_settled(self.engine.journal()).await
    }

    async fn stop(self) {
        self.engine.shutdown(self.workers).await;
    }
}

async fn world(backend: Backend, name: &str) -> World {
    let (sandbox, engine, core) =
        common::case::engine_with_core(backend, name, "routes-sagdokindeks").await;
    let auth = Arc::new(SignedTokens::new(SECRET, true));
    let app = knudepunkt_case::api::router(core.clone(), auth);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let workers = engine.start();
    World {
        sandbox,
        engine,
        core,
        api,
        workers,
    }
}

async fn register_citizen(c: &As) {
    let (s, body) = c
        .post(
            "/api/v1/citizens",
            json!({"cpr": CPR, "given_name": "Anna", "family_name": "Jensen"}),
        )
        .await;
    assert!(s == 201 || s == 200, "{s} {body}");
}

async fn new_case(c: &As, title: &str, confidential: bool) -> String {
    c.create(
        "/api/v1/cases",
        json!({
            "cpr": CPR, "title": title, "kle": "27.36.12", "action_facet": "G01",
            "case_type": "Voksenhandicap", "org_unit_id": "bch",
            "caseworker_id": "aktoer1", "confidential": confidential,
        }),
    )
    .await
}

async fn new_document(c: &As, case: &str, title: &str) -> String {
    c.create(
        &format!("/api/v1/cases/{case}/documents"),
        json!({"title": title, "doc_type": "Ansøgning", "content": "JVBERi0xLjQK"}),
    )
    .await
}

/// An economic service in a new catalogue (as `redaktoer`); its id.
async fn economic_service(w: &World) -> String {
    let ed = w.as_user("redaktoer");
    let catalogue = ed
        .create(
            "/api/v1/catalogues",
            json!({"name": format!("Merudgifter {}", uuid::Uuid::now_v7())}),
        )
        .await;
    ed.create(
        &format!("/api/v1/catalogues/{catalogue}/services"),
        json!({"code": "SEL85-TILSKUD", "name": "Tilskud til socialpædagogisk støtte", "kle": "27.36.12",
               "legal_basis": "SEL § 85", "price_ore": 0, "unit": "kr./md.", "economic": true}),
    )
    .await
}

async fn new_grant(c: &As, case: &str, service: &str) -> String {
    c.create(
        &format!("/api/v1/cases/{case}/grants"),
        json!({"service_id": service, "period": {"from": "2026-12-01"}, "amount_ore": 123450,
               "provider": "Københavns Kommune"}),
    )
    .await
}

async fn bilag_3d_end_to_end(backend: Backend) {
    let w = world(backend, "index-bilag3d").await;
    let service = economic_service(&w).await;
    let actor1 = w.as_user("aktoer1");
    register_citizen(&actor1).await;
    let case = new_case(&actor1, "Socialpædagogisk støtte", false).await;
    let document = new_document(&actor1, &case, "Ansøgning om støtte").await;
    let grant = new_grant(&actor1, &case, &service).await;
    let secret = new_case(&actor1, "Fortrolig sag", true).await;
    let secret_doc = new_document(&actor1, &secret, "Fortroligt notat").await;
    let secret_grant = new_grant(&actor1, &secret, &service).await;
    w.idle().await;

    // Actor 1 searches the citizen in SAPA and finds the case and the document.
    let found = w.index().search(CPR_PLAIN, &w.roles("aktoer1").await);
    let cases: Vec<&str> = found.cases.iter().map(|c| c.uuid.as_str()).collect();
    assert_eq!(cases, [case.as_str()], "{found:?}");
    assert_eq!(found.cases[0].status.as_deref(), Some("Opstaaet"));
    assert_eq!(found.cases[0].kle.as_deref(), Some("27.36.12"));
    let documents: Vec<&str> = found.documents.iter().map(|d| d.uuid.as_str()).collect();
    assert_eq!(documents, [document.as_str()]);
    assert_eq!(found.documents[0].case_uuid, case);
    // And the grant, from the Ydelsesindeks.
    let benefits: Vec<&str> = found.benefits.iter().map(|b| b.uuid.as_str()).collect();
    assert_eq!(benefits, [grant.as_str()]);
    assert_eq!(found.benefits[0].status.as_deref(), Some("Bevilget"));
    let indexed = w.sandbox.handles.ydelsesindeks.benefit(&grant).unwrap();
    let bevilling = indexed.grants.values().next().unwrap();
    assert_eq!(bevilling.amount.as_deref(), Some("1234.50"));
    assert_eq!(bevilling.from.as_deref(), Some("2026-12-01"));

    // SAPA's search over HTTP gives the same, with the hop to the case.
    let http = reqwest::Client::new();
    let sapa: Value = http
        .post(format!("http://{}/sapa/soeg", w.sandbox.addr))
        .json(&json!({"cpr": CPR_PLAIN, "roles": w.roles("aktoer1").await}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let link = sapa["cases"][0]["link"].as_str().unwrap().to_string();
    assert!(link.ends_with(&format!("/sag/{case}")), "{link}");
    // The hop: the link's path on the case core opens the case for Actor 1 only.
    let path = &link[link.find("/sag/").unwrap()..];
    let (s, page) = actor1.get(path).await;
    assert_eq!(s, 200, "{page}");
    // (Tera's HTML escaping writes / as &#x2F;.)
    let page = page.as_str().unwrap().replace("&#x2F;", "/");
    assert!(page.contains("Socialpædagogisk støtte"));
    // The case page links to SAPA's view of the same case (the profile's sapa_case).
    let sapa_link = format!("http://{}/sapa/sag/{case}", w.sandbox.addr);
    assert!(page.contains(&sapa_link), "{page}");
    let (s, _) = w.as_user("aktoer2").get(path).await;
    assert_eq!(s, 403, "Actor 2 may not open the case");
    // And SAPA's own page for the case links back.
    let sapa_page = http
        .get(&sapa_link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(sapa_page.contains(&link), "{sapa_page}");

    // Actor 2 (another unit) sees none of it.
    let found = w.index().search(CPR_PLAIN, &w.roles("aktoer2").await);
    assert!(
        found.cases.is_empty() && found.documents.is_empty() && found.benefits.is_empty(),
        "{found:?}"
    );

    // The confidential case, its document and its grant were never sent.
    assert!(w.index().case(&secret).is_none());
    assert!(w.index().document(&secret_doc).is_none());
    assert!(
        w.sandbox
            .handles
            .ydelsesindeks
            .benefit(&secret_grant)
            .is_none()
    );
    assert_eq!(w.sandbox.handles.ydelsesindeks.count(), 1);
    for r in w.index().desk.recorder.received(200) {
        assert!(
            !r.body.contains(&secret),
            "a confidential case reached the index"
        );
        assert!(!r.body.contains(&secret_doc));
    }
    for route in ["sagdokindeks.sag", "sagdokindeks.dokument"] {
        for m in common::messages_of(w.engine.journal(), route).await {
            assert_eq!(
                m.state,
                MessageState::Delivered,
                "{route}: {:?}",
                m.last_error
            );
            assert_ne!(m.correlation_id.as_deref(), Some(secret.as_str()));
        }
    }
    w.stop().await;
}

async fn marking_removes_and_unmarking_restores(backend: Backend) {
    let w = world(backend, "index-marking").await;
    let service = economic_service(&w).await;
    let c = w.as_user("aktoer1");
    register_citizen(&c).await;
    let case = new_case(&c, "Bostøtte", false).await;
    let document = new_document(&c, &case, "Ansøgning").await;
    let grant = new_grant(&c, &case, &service).await;
    let benefits = &w.sandbox.handles.ydelsesindeks;
    let (s, body) = c
        .post(
            &format!("/api/v1/cases/{case}/status"),
            json!({"status": "Oplyst"}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    w.idle().await;
    let indexed = w.index().case(&case).expect("indexed");
    let statuses: Vec<(&str, bool)> = indexed
        .history
        .iter()
        .map(|p| (p.status.as_str(), p.to.is_some()))
        .collect();
    assert_eq!(statuses, [("Opstaaet", true), ("Oplyst", false)]);
    assert!(indexed.journal.contains_key(&document));
    assert!(w.index().document(&document).is_some());
    assert!(benefits.benefit(&grant).is_some());

    // Marked confidential: the case leaves the index with its document, and its benefit
    // leaves the Ydelsesindeks (fjern with FjernOgsaaYdelse).
    let (s, body) = c
        .patch(
            &format!("/api/v1/cases/{case}"),
            json!({"confidential": true}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    w.idle().await;
    assert!(w.index().case(&case).is_none());
    assert!(w.index().document(&document).is_none());
    assert!(benefits.benefit(&grant).is_none());
    let found = w.index().search(CPR_PLAIN, &w.roles("aktoer1").await);
    assert!(found.cases.is_empty() && found.documents.is_empty() && found.benefits.is_empty());

    // Changes while confidential are not sent.
    let (s, _) = c
        .post(
            &format!("/api/v1/cases/{case}/status"),
            json!({"status": "Afgjort"}),
        )
        .await;
    assert_eq!(s, 200);
    w.idle().await;
    assert!(w.index().case(&case).is_none());

    // No longer confidential: imported whole again, its whole history and document.
    let (s, body) = c
        .patch(
            &format!("/api/v1/cases/{case}"),
            json!({"confidential": false}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    w.idle().await;
    let back = w.index().case(&case).expect("back in the index");
    let statuses: Vec<&str> = back.history.iter().map(|p| p.status.as_str()).collect();
    assert_eq!(statuses, ["Opstaaet", "Oplyst", "Afgjort"]);
    assert_eq!(back.status(), Some("Afgjort"));
    assert!(w.index().document(&document).is_some());
    assert!(
        benefits.benefit(&grant).is_some(),
        "the benefit is back too"
    );

    // The grant ends: its BevillingIndeks says so.
    let (s, body) = c
        .post(
            &format!("/api/v1/grants/{grant}/end"),
            json!({"end_date": "2027-03-31"}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    w.idle().await;
    let ended = benefits.benefit(&grant).unwrap();
    let bevilling = ended.grants.values().next().unwrap();
    assert_eq!(bevilling.status.as_deref(), Some("Ophoert"), "{ended:?}");

    // A document marked confidential leaves; unmarked, it comes back.
    let (s, body) = c
        .patch(
            &format!("/api/v1/documents/{document}"),
            json!({"confidential": true}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    w.idle().await;
    assert!(w.index().document(&document).is_none());
    assert!(w.index().case(&case).is_some(), "the case stays");
    let (s, _) = c
        .patch(
            &format!("/api/v1/documents/{document}"),
            json!({"confidential": false}),
        )
        .await;
    assert_eq!(s, 200);
    w.idle().await;
    assert!(w.index().document(&document).is_some());
    for route in ["sagdokindeks.sag", "sagdokindeks.dokument"] {
        for m in common::messages_of(w.engine.journal(), route).await {
            assert_eq!(
                m.state,
                MessageState::Delivered,
                "{route}: {:?}",
                m.last_error
            );
        }
    }
    w.stop().await;
}

async fn status_kode_49_is_retried_in_order_and_40_is_dead(backend: Backend) {
    let w = world(backend, "index-faults").await;
    let c = w.as_user("aktoer1");
    register_citizen(&c).await;
    w.index().desk.faults.push(Fault {
        kind: FaultKind::StatusKode {
            code: 49,
            text: "Intern fejl i indekset".into(),
        },
        count: 2,
    });
    let case = new_case(&c, "Ledsagelse", false).await;
    let (s, _) = c
        .post(
            &format!("/api/v1/cases/{case}/status"),
            json!({"status": "Oplyst"}),
        )
        .await;
    assert_eq!(s, 200);
    w.idle().await;
    let mut sent = common::messages_of(w.engine.journal(), "sagdokindeks.sag").await;
    sent.reverse();
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|m| m.state == MessageState::Delivered));
    assert_eq!(sent[0].attempts, 3, "two StatusKode 49, then 20");
    assert_eq!(sent[1].attempts, 1, "the update waited for the import");
    assert_eq!(w.index().case(&case).unwrap().status(), Some("Oplyst"));

    w.index().desk.faults.push(Fault {
        kind: FaultKind::StatusKode {
            code: 40,
            text: "Sagsklasse er ukendt".into(),
        },
        count: 1,
    });
    let refused = new_case(&c, "Afvist af indekset", false).await;
    w.idle().await;
    let dead = common::messages_of(w.engine.journal(), "sagdokindeks.sag")
        .await
        .into_iter()
        .find(|m| m.correlation_id.as_deref() == Some(refused.as_str()))
        .unwrap();
    assert_eq!(dead.state, MessageState::Dead);
    assert_eq!(dead.attempts, 1, "StatusKode 40 is not tried again");
    let reason = dead.last_error.unwrap_or_default();
    assert!(
        reason.contains("StatusKode 40: Sagsklasse er ukendt"),
        "{reason}"
    );
    w.stop().await;
}

async fn backfill_resumes_without_sending_twice(backend: Backend) {
    use knudepunkt_case::cases::NewCase;
    use knudepunkt_case::import::{ImportCase, ImportDocument};

    let w = world(backend, "index-backfill").await;
    let actor = w.core.actor("aktoer1").await.unwrap().unwrap();
    let cx = knudepunkt_case::Ctx {
        actor: &actor,
        purpose: "test",
    };
    w.core
        .import_citizens(&cx, &[common::case::anna()])
        .await
        .unwrap();
    let cases: Vec<ImportCase> = (0..25)
        .map(|i| ImportCase {
            case: NewCase {
                cpr: CPR.into(),
                title: format!("Sag {i}"),
                kle: "27.36.12".into(),
                action_facet: "G01".into(),
                case_type: "Voksenhandicap".into(),
                org_unit_id: "bch".into(),
                caseworker_id: "aktoer1".into(),
                confidential: i == 7,
            },
            documents: (0..2)
                .map(|d| ImportDocument {
                    title: format!("Dokument {d}"),
                    doc_type: "Notat".into(),
                    media_type: "text/plain".into(),
                    content: b"hej".to_vec(),
                    journal_date: "2026-01-15".into(),
                    confidential: d == 1 && i == 3,
                })
                .collect(),
        })
        .collect();
    let ids = w.core.import_cases(&cx, &cases).await.unwrap();
    let service = economic_service(&w).await;
    let grant = new_grant(&w.as_user("aktoer1"), &ids[4], &service).await;
    w.idle().await;

    let started = w.core.start_backfill(false).await.unwrap();
    assert_eq!(started.total_cases, 24, "the confidential case is left out");
    assert_eq!(w.core.backfill_step(10).await.unwrap().cases, 10);
    // A crash here, and a start again: the same run goes on where it stopped.
    let again = w.core.start_backfill(false).await.unwrap();
    assert_eq!((again.run, again.cases_done), (started.run, 10));
    loop {
        let step = w.core.backfill_step(10).await.unwrap();
        if step.cases == 0 {
            assert!(step.progress.finished_at.is_some());
            break;
        }
    }
    let done = w.core.backfill_progress().await.unwrap().unwrap();
    assert_eq!(
        (done.cases_done, done.documents_done, done.batches),
        (24, 47, 3)
    );
    // The API reports the same.
    let (s, body) = w.as_user("aktoer1").get("/api/v1/index/backfill").await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["cases_done"], 24);
    assert!(body["finished_at"].is_i64());
    // Stepping a finished run journals nothing.
    assert_eq!(w.core.backfill_step(10).await.unwrap().cases, 0);
    let batches = common::settled(
        w.engine.journal(),
        "sagdokindeks.backfill",
        3,
        Duration::from_secs(20),
    )
    .await;
    assert!(batches.iter().all(|m| m.state == MessageState::Delivered));
    let keys: std::collections::HashSet<_> =
        batches.iter().map(|m| m.idempotency_key.clone()).collect();
    assert_eq!(keys.len(), 3);
    assert_eq!(w.index().counts(), (24, 47));
    // The one batch with a benefit also went to the Ydelsesindeks.
    let benefit_batches = common::settled(
        w.engine.journal(),
        "ydelsesindeks.backfill",
        1,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(benefit_batches[0].state, MessageState::Delivered);
    assert!(w.sandbox.handles.ydelsesindeks.benefit(&grant).is_some());
    w.stop().await;
}

/// The index read back by fremsoeg, as the scheduled job wires it.
struct Fremsoeg(knudepunkt_adapters::sagdokindeks::reader::IndexReader);

#[async_trait::async_trait]
impl knudepunkt_case::index_reconcile::IndexView for Fremsoeg {
    async fn statuses(
        &self,
        case_ids: &[String],
    ) -> Result<std::collections::HashMap<String, String>, String> {
        self.0.statuses(case_ids).await
    }

    async fn documents(
        &self,
        document_ids: &[String],
    ) -> Result<std::collections::HashSet<String>, String> {
        self.0.documents(document_ids).await
    }
}

async fn reconciliation_repairs_drift(backend: Backend) {
    use knudepunkt_adapters::sagdokindeks::model::{IndexedCase, IndexedDocument, Period};
    use knudepunkt_case::index_reconcile::IndexReconciliation;

    let w = world(backend, "index-reconcile").await;
    let c = w.as_user("aktoer1");
    register_citizen(&c).await;
    let lost = new_case(&c, "Mistet i indekset", false).await;
    let stale = new_case(&c, "Forældet status", false).await;
    let fine = new_case(&c, "I orden", false).await;
    let secret = new_case(&c, "Fortrolig", true).await;
    let (s, _) = c
        .post(
            &format!("/api/v1/cases/{stale}/status"),
            json!({"status": "Oplyst"}),
        )
        .await;
    assert_eq!(s, 200);
    let kept = new_document(&c, &fine, "Bliver").await;
    let dropped = new_document(&c, &fine, "Tabt i indekset").await;
    let hidden = new_document(&c, &fine, "Fortroligt notat").await;
    let (s, _) = c
        .patch(
            &format!("/api/v1/documents/{hidden}"),
            json!({"confidential": true}),
        )
        .await;
    assert_eq!(s, 200);
    w.idle().await;
    assert_eq!(w.index().case(&stale).unwrap().status(), Some("Oplyst"));
    assert!(w.index().document(&hidden).is_none());

    // Drift behind Knudepunkt's back: a case lost, an update lost, a confidential case
    // that got in.
    assert!(w.index().forget_case(&lost));
    let mut old = w.index().case(&stale).unwrap();
    old.history.truncate(1);
    old.history[0].to = None;
    w.index().plant_case(old);
    w.index().plant_case(IndexedCase {
        uuid: secret.clone(),
        history: vec![Period {
            status: "Opstaaet".into(),
            from: None,
            to: None,
        }],
        ..Default::default()
    });

    // And a document lost, and a confidential one that got in.
    assert!(w.index().forget_document(&dropped));
    w.index().plant_document(IndexedDocument {
        uuid: hidden.clone(),
        key: Some(hidden.clone()),
        title: Some("Fortroligt notat".into()),
        ..Default::default()
    });

    let reader = knudepunkt_adapters::sagdokindeks::reader::IndexReader::for_environment(
        &w.engine.routes().environment,
    )
    .unwrap();
    let view = Fremsoeg(reader);
    let quiet = knudepunkt_engine::schedule::Quiet;
    // A dry run finds the same and repairs nothing.
    let dry = w
        .core
        .reconcile_index(&view, &quiet, 2, false)
        .await
        .unwrap();
    w.idle().await;
    assert!(w.index().case(&lost).is_none() && w.index().case(&secret).is_some());
    let report = w
        .core
        .reconcile_index(&view, &quiet, 2, true)
        .await
        .unwrap();
    assert_eq!(dry, report);
    assert_eq!(
        report,
        IndexReconciliation {
            checked: 4,
            in_order: 0,
            missing: 1,
            wrong_status: 1,
            confidential_in_index: 1,
            documents_checked: 3,
            documents_missing: 1,
            confidential_documents_in_index: 1,
            reimported: 3,
            removed: 1,
            documents_removed: 1,
        }
    );
    w.idle().await;
    assert_eq!(w.index().case(&lost).unwrap().status(), Some("Opstaaet"));
    assert_eq!(w.index().case(&stale).unwrap().status(), Some("Oplyst"));
    assert!(w.index().case(&secret).is_none());
    assert!(w.index().case(&fine).is_some());
    assert!(w.index().document(&dropped).is_some(), "imported again");
    assert!(w.index().document(&kept).is_some());
    assert!(w.index().document(&hidden).is_none(), "removed again");

    // Run again: nothing left to repair.
    let again = w
        .core
        .reconcile_index(&view, &quiet, 100, true)
        .await
        .unwrap();
    assert_eq!((again.checked, again.in_order), (4, 4));
    assert_eq!((again.documents_checked, again.documents_missing), (3, 0));
    assert_eq!(
        again.reimported + again.removed + again.documents_removed,
        0
    );
    w.stop().await;
}

on_both_backends!(
    reconciliation_repairs_drift,
    bilag_3d_end_to_end,
    marking_removes_and_unmarking_restores,
    status_kode_49_is_retried_in_order_and_40_is_dead,
    backfill_resumes_without_sending_twice,
);
