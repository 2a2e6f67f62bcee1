//! eDoc (the records system) through KKI end to end against the sandbox: a case is
//! journalised with its documents, KLE, note and deadline, and eDoc's case number and
//! responsible person come back onto it; twenty updates whose deliveries fail and are
//! retried still reach eDoc in order; a document checked out in eDoc is read-only in the
//! core (a change is refused with who holds it) and a change eDoc refuses (423) is not
//! overwritten but shows on the case; eDoc's events (a new version, a case closed) update
//! the core once, are not sent back, and a version that does not match its SHA-256 is
//! refused.

mod common;

use std::time::Duration;

use common::Backend;
use common::case::{add_document, notices_of_kind, open_case};
use knudepunkt_adapters::edoc::model::Bruger;
use knudepunkt_adapters::edoc::simulator::{EdocSag, EdocSimulator};
use knudepunkt_adapters::sandbox::{Fault, FaultKind};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The API world, and where eDoc's events come in (the engine's inbound route).
struct World {
    base: common::case::ApiWorld,
    inbound: String,
}

impl std::ops::Deref for World {
    type Target = common::case::ApiWorld;
    fn deref(&self) -> &Self::Target {
        &self.base
    }
}

impl World {
    fn edoc(&self) -> &EdocSimulator {
        &self.sandbox.handles.edoc
    }

    /// The case in eDoc once `done` holds for it.
    async fn in_edoc(&self, case: &str, done: impl Fn(&EdocSag) -> bool) -> EdocSag {
        let until = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = self.edoc().sag(case)
                && done(&s)
            {
                return s;
            }
            assert!(
                std::time::Instant::now() < until,
                "eDoc never got there: {:?}",
                self.edoc().sag(case)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The case as the API shows it once `done` holds.
    async fn case_when(&self, case: &str, done: impl Fn(&Value) -> bool) -> Value {
        let c = self.as_user("aktoer1");
        let until = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            self.core.reconcile().await.unwrap();
            let (_, v) = c.get(&format!("/api/v1/cases/{case}")).await;
            if done(&v) {
                return v;
            }
            assert!(
                std::time::Instant::now() < until,
                "the case never got there: {v}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stop(self) {
        self.base.stop().await;
    }
}

async fn world(backend: Backend, name: &str) -> World {
    let base = common::case::ApiWorld::start(backend, name, "routes-edoc").await;
    let inbound_app = knudepunkt_engine::server::router(base.engine.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let inbound = format!(
        "http://{}/in/edoc/haendelser",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, inbound_app).await.unwrap() });
    base.sandbox.handles.edoc.events_to(&inbound);
    World { base, inbound }
}

fn jens() -> Bruger {
    Bruger {
        bruger_id: "JDOE".into(),
        navn: "Jens Doe".into(),
    }
}

async fn journalised_case_with_documents_kle_notes_and_deadlines(backend: Backend, name: &str) {
    let w = world(backend, name).await;
    let c = w.as_user("aktoer1");
    let case = open_case(&c, false).await;
    let pdf = b"%PDF-1.4 ansoegning om stoette";
    let doc = add_document(&c, &case, "Ansøgning", pdf).await;
    let (s, note) = c
        .post(
            &format!("/api/v1/cases/{case}/notes"),
            json!({"text": "Borgeren ringede; møde aftalt."}),
        )
        .await;
    assert_eq!(s, 201, "{note}");
    let (s, deadline) = c
        .post(
            &format!("/api/v1/cases/{case}/deadlines"),
            json!({"kind": "Opfølgning", "due": "2027-02-01", "text": "Opfølgning på indsatsen"}),
        )
        .await;
    assert_eq!(s, 201, "{deadline}");
    let (s, bad) = c
        .post(
            &format!("/api/v1/cases/{case}/deadlines"),
            json!({"kind": "Opfølgning", "due": "1. februar", "text": "x"}),
        )
        .await;
    assert_eq!(s, 422, "{bad}");
    assert!(bad.to_string().contains("due"), "{bad}");
    let (s, _) = c
        .post(
            &format!("/api/v1/cases/{case}/status"),
            json!({"status": "Oplyst", "note": "Sagen er oplyst"}),
        )
        .await;
    assert_eq!(s, 200);
    w.idle().await;

    let sag = w
        .in_edoc(&case, |s| !s.noter.is_empty() && !s.frister.is_empty())
        .await;
    assert_eq!(sag.sag.kle, "27.36.12");
    assert_eq!(sag.sag.handlingsfacet, "G01");
    assert_eq!(sag.sag.parter[0].cpr, "0101901234");
    assert_eq!(sag.sag.ansvarlig_enhed, "bch");
    assert_eq!(sag.sag.status, "Oplyst");
    let d = &sag.dokumenter[&doc];
    assert_eq!(d.sha256, hex::encode(Sha256::digest(pdf)));
    assert_eq!(d.stoerrelse, pdf.len() as u64);
    assert_eq!(d.titel, "Ansøgning");
    let n = &sag.noter[note["id"].as_str().unwrap()];
    assert_eq!(n.tekst, "Borgeren ringede; møde aftalt.");
    let f = &sag.frister[deadline["id"].as_str().unwrap()];
    assert_eq!(
        (f.frist_type.as_str(), f.dato.as_str()),
        ("Opfølgning", "2027-02-01")
    );
    assert!(
        sag.aendringer
            .iter()
            .any(|a| a.hvad.contains("notat=Sagen er oplyst")),
        "{:?}",
        sag.aendringer
    );

    // eDoc's case number and responsible person are on the case.
    let v = w
        .case_when(&case, |v| v["records"]["state"] == "journalised")
        .await;
    assert_eq!(v["records"]["case_number"], sag.esdh_sagsnummer.as_str());
    assert_eq!(v["records"]["responsible"], "LEDER1");
    assert_eq!(v["notes"][0]["text"], "Borgeren ringede; møde aftalt.");
    assert_eq!(v["deadlines"][0]["due"], "2027-02-01");
    let notice = notices_of_kind(&w.core, &c, &case, "records_journalised").await;
    assert!(
        notice[0]["text"]
            .as_str()
            .unwrap()
            .contains(&sag.esdh_sagsnummer),
        "{notice:?}"
    );
    w.stop().await;
}

#[tokio::test]
async fn a_journalised_case_reaches_edoc_whole_sqlite() {
    journalised_case_with_documents_kle_notes_and_deadlines(Backend::Sqlite, "edoc_whole").await;
}

#[tokio::test]
async fn a_journalised_case_reaches_edoc_whole_postgres() {
    journalised_case_with_documents_kle_notes_and_deadlines(Backend::Postgres, "edoc_whole").await;
}

#[tokio::test]
async fn twenty_updates_retried_out_of_order_are_applied_in_order() {
    let w = world(Backend::Sqlite, "edoc_order").await;
    let c = w.as_user("aktoer1");
    let case = open_case(&c, false).await;
    w.in_edoc(&case, |_| true).await;
    // The next calls fail (unavailable, a dropped connection, unavailable again) and are
    // tried again; later changes must wait for them.
    for kind in [
        FaultKind::Status {
            status: 503,
            retry_after: None,
        },
        FaultKind::Drop,
        FaultKind::Status {
            status: 502,
            retry_after: None,
        },
    ] {
        w.edoc().faults.push(Fault { kind, count: 2 });
    }
    for i in 1..=20 {
        let (s, body) = c
            .patch(
                &format!("/api/v1/cases/{case}"),
                json!({"title": format!("Titel {i}")}),
            )
            .await;
        assert_eq!(s, 200, "{body}");
    }
    w.idle().await;
    assert!(w.edoc().recorder.stats().faulted >= 6);
    let sag = w.in_edoc(&case, |s| s.sag.titel == "Titel 20").await;
    let titles: Vec<&str> = sag
        .aendringer
        .iter()
        .filter_map(|a| a.hvad.strip_prefix("sag titel="))
        .map(|t| t.split(" sagsbehandler=").next().unwrap())
        .collect();
    let want: Vec<String> = (1..=20).map(|i| format!("Titel {i}")).collect();
    assert_eq!(titles, want, "{:?}", sag.aendringer);
    // Each applied once, however often it was sent.
    assert_eq!(titles.len(), 20);
    w.stop().await;
}

#[tokio::test]
async fn a_checked_out_document_is_read_only_and_never_overwritten() {
    let w = world(Backend::Sqlite, "edoc_checkout").await;
    let c = w.as_user("aktoer1");
    let case = open_case(&c, false).await;
    let doc = add_document(&c, &case, "Handleplan", b"%PDF-1.4 handleplan").await;
    w.in_edoc(&case, |s| s.dokumenter.contains_key(&doc)).await;

    // eDoc tells: checked out by Jens Doe. The core shows it read-only and refuses a change.
    w.edoc().check_out(&case, &doc, jens()).unwrap();
    let v = w
        .case_when(&case, |v| !v["documents"][0]["checked_out"].is_null())
        .await;
    assert_eq!(v["documents"][0]["checked_out"]["by_name"], "Jens Doe");
    let (s, refused) = c
        .patch(
            &format!("/api/v1/documents/{doc}"),
            json!({"confidential": true}),
        )
        .await;
    assert_eq!(s, 409, "{refused}");
    assert!(
        refused
            .to_string()
            .contains("checked out in the records system by Jens Doe"),
        "{refused}"
    );

    // Checked in: the change goes through, to eDoc too.
    w.edoc().check_in(&case, &doc, jens()).unwrap();
    w.case_when(&case, |v| v["documents"][0].get("checked_out").is_none())
        .await;
    let (s, _) = c
        .patch(
            &format!("/api/v1/documents/{doc}"),
            json!({"confidential": true}),
        )
        .await;
    assert_eq!(s, 200);
    w.in_edoc(&case, |s| s.dokumenter[&doc].fortrolig).await;

    // Checked out while its event is still on the way: eDoc refuses the core's change
    // (423), keeps its document as it was, and the case says why.
    w.edoc().events_to("http://127.0.0.1:9/in/edoc/haendelser");
    let doc2 = add_document(&c, &case, "Statusnotat", b"%PDF-1.4 status").await;
    w.in_edoc(&case, |s| s.dokumenter.contains_key(&doc2)).await;
    w.idle().await;
    w.edoc().check_out(&case, &doc2, jens()).unwrap();
    let (s, _) = c
        .patch(
            &format!("/api/v1/documents/{doc2}"),
            json!({"confidential": true}),
        )
        .await;
    assert_eq!(s, 200);
    w.idle().await;
    let failed = notices_of_kind(&w.core, &c, &case, "delivery_failed").await;
    let text = failed[0]["text"].as_str().unwrap();
    assert!(
        text.contains("tjekket ud af Jens Doe") && text.contains("423"),
        "{text}"
    );
    assert!(!w.edoc().sag(&case).unwrap().dokumenter[&doc2].fortrolig);
    w.edoc().events_to(&w.inbound);
    w.stop().await;
}

#[tokio::test]
async fn edoc_events_update_the_core_once_and_are_not_sent_back() {
    let w = world(Backend::Sqlite, "edoc_events").await;
    let c = w.as_user("aktoer1");
    let case = open_case(&c, false).await;
    let doc = add_document(&c, &case, "Udkast", b"%PDF-1.4 udkast").await;
    w.in_edoc(&case, |s| s.dokumenter.contains_key(&doc)).await;
    w.idle().await;

    // A new version made in eDoc replaces the content here.
    let new = b"%PDF-1.4 endelig version";
    let event = w
        .edoc()
        .change_document(&case, &doc, jens(), "Endelig", new)
        .unwrap();
    let v = w
        .case_when(&case, |v| v["documents"][0]["title"] == "Endelig")
        .await;
    assert_eq!(
        v["documents"][0]["sha256"],
        hex::encode(Sha256::digest(new))
    );
    assert_eq!(v["documents"][0]["size"], new.len());

    // The same event again changes nothing; a version whose content does not match its
    // SHA-256 is refused, naming the field.
    let http = reqwest::Client::new();
    let again = http.post(&w.inbound).json(&event).send().await.unwrap();
    assert!(again.status().is_success());
    let mut tampered = serde_json::to_value(&event).unwrap();
    tampered["haendelseId"] = "d0c0ffee-0000-5000-8000-000000000001".into();
    tampered["dokument"]["version"] = 3.into();
    tampered["dokument"]["sha256"] = "00".repeat(32).into();
    http.post(&w.inbound).json(&tampered).send().await.unwrap();
    w.idle().await;
    let failed = notices_of_kind(&w.core, &c, &case, "delivery_failed").await;
    assert!(
        failed[0]["text"]
            .as_str()
            .unwrap()
            .contains("version.sha256"),
        "{failed:?}"
    );
    let changed = notices_of_kind(&w.core, &c, &case, "records_document").await;
    assert_eq!(changed.len(), 1, "{changed:?}");

    // A case closed in eDoc is closed here, and the closing is not sent back.
    let before = w.edoc().sag(&case).unwrap().aendringer.len();
    w.edoc().close(&case, jens()).unwrap();
    let v = w.case_when(&case, |v| v["status"] == "Lukket").await;
    let last = v["status_history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert!(
        last["note"].as_str().unwrap().contains("Jens Doe"),
        "{last}"
    );
    w.idle().await;
    let after = w.edoc().sag(&case).unwrap();
    assert_eq!(after.aendringer.len(), before + 1, "{:?}", after.aendringer);
    assert_eq!(after.aendringer.last().unwrap().hvad, "sag afsluttet");
    w.stop().await;
}

#[tokio::test]
async fn imported_cases_are_journalised_and_followed_too() {
    let w = world(Backend::Sqlite, "edoc_import").await;
    let leder = w.core.actor("leder1").await.unwrap().unwrap();
    let ctx = common::case::ctx(&leder);
    w.core
        .register_citizen(&ctx, &common::case::anna())
        .await
        .unwrap();
    let case = knudepunkt_case::cases::NewCase {
        cpr: common::case::CPR.into(),
        title: "Fra det gamle system".into(),
        kle: "27.36.12".into(),
        action_facet: "G01".into(),
        case_type: "Voksenhandicap".into(),
        org_unit_id: "bch".into(),
        caseworker_id: "leder1".into(),
        confidential: false,
    };
    let ids = w
        .core
        .import_cases(
            &ctx,
            &[knudepunkt_case::import::ImportCase {
                case,
                documents: Vec::new(),
            }],
        )
        .await
        .unwrap();
    let v = w
        .case_when(&ids[0], |v| v["records"]["state"] == "journalised")
        .await;
    let held = w.in_edoc(&ids[0], |_| true).await;
    assert_eq!(v["records"]["case_number"], held.esdh_sagsnummer.as_str());
    w.stop().await;
}
