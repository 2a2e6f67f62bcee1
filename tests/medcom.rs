//! MedCom end to end against the sandbox's network (a VANS access point with a hospital
//! and a GP behind it): MedCom's own windows-1252 correspondence example taken in with
//! its Danish letters intact and a receipt that validates sent back; correspondence
//! about a citizen with no open case in the inbox; a malformed message refused by a
//! negative receipt naming the schema error, with nothing kept; a duplicate taken once;
//! a caseworker's correspondence sent, confirmed by its receipt, and the reply threaded
//! onto the same case; a negative receipt making our letter dead on the case; and a
//! letter with no receipt in time sent again with the same identifiers.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Backend;
use common::case::{SECRET, open_case};
use knudepunkt_adapters::medcom::simulator::{GP_EAN, HOSPITAL_EAN, ReceiptMode};
use knudepunkt_adapters::medcom::{INBOUND_PATH, emessage};
use knudepunkt_case::CaseCore;
use knudepunkt_case::api::SignedTokens;
use knudepunkt_engine::Engine;
use knudepunkt_engine::message::{JournalMessage, MessageState};
use serde_json::{Value, json};

/// The municipality's EAN number in the sandbox (the XDIS91 template's default).
const OUR_EAN: &str = "5790001382438";
/// The citizen of MedCom's example correspondence.
const EXAMPLE_CPR: &str = "1502824933";

struct World {
    sandbox: common::Sandbox,
    engine: Engine,
    core: CaseCore,
    api: String,
}

async fn world(backend: Backend, name: &str) -> World {
    let (sandbox, engine, core) =
        common::case::engine_with_core(backend, name, "routes-medcom").await;
    let app = knudepunkt_case::api::router(core.clone(), Arc::new(SignedTokens::new(SECRET, true)))
        .merge(knudepunkt_engine::server::router(engine.clone()))
        .merge(knudepunkt_adapters::medcom::access_point::router_with(
            engine.clone(),
            Some({
                let core = core.clone();
                Arc::new(move |cpr: String| {
                    let core = core.clone();
                    Box::pin(
                        async move { core.serves_citizen(&cpr).await.map_err(|e| e.to_string()) },
                    )
                })
            }),
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    sandbox
        .handles
        .medcom
        .deliver_to(&format!("http://{addr}{INBOUND_PATH}"));
    World {
        sandbox,
        engine,
        core,
        api: format!("http://{addr}"),
    }
}

fn client(w: &World) -> common::case::As {
    common::case::As::at(&w.api, "leder1")
}

fn example() -> Vec<u8> {
    std::fs::read(
        knudepunkt_engine::schema_dir::locate()
            .expect("the shared formats")
            .path
            .join("medcom/examples/DIS91_1.xml"),
    )
    .unwrap()
}

async fn messages_of(w: &World, route: &str) -> Vec<JournalMessage> {
    common::messages_of(w.engine.journal(), route).await
}

/// Waits until `route` has `n` messages and all are settled; them.
async fn settled(w: &World, route: &str, n: usize) -> Vec<JournalMessage> {
    common::settled(w.engine.journal(), route, n, Duration::from_secs(15)).await
}

/// The receipts the network received from us, parsed, once each.
async fn receipts_received(w: &World, n: usize) -> Vec<emessage::Letter> {
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        let got: Vec<emessage::Letter> = w
            .sandbox
            .handles
            .medcom
            .recorder
            .received(100)
            .into_iter()
            .filter(|r| !r.duplicate)
            .filter_map(|r| emessage::parse(r.body.as_bytes()).ok())
            .flat_map(|m| m.letters)
            .filter(|l| l.is_receipt())
            .collect();
        if got.len() >= n {
            assert_eq!(got.len(), n, "{got:?}");
            return got;
        }
        assert!(Instant::now() < until, "{n} receipt(s) expected, {got:?}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

/// Registers `cpr` and opens a case on it; the case id.
async fn case_for(c: &common::case::As, cpr: &str, given: &str, family: &str) -> String {
    let (s, body) = c
        .post(
            "/api/v1/citizens",
            json!({"cpr": cpr, "given_name": given, "family_name": family}),
        )
        .await;
    assert!(s == 201 || s == 409, "{body}");
    let (s, body) = c
        .post(
            "/api/v1/cases",
            json!({"cpr": cpr, "title": "Hjemmepleje", "kle": "27.36.12", "action_facet": "G01",
                   "case_type": "Voksenhandicap", "org_unit_id": "bch", "caseworker_id": "leder1"}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    body["id"].as_str().unwrap().to_string()
}

/// The documents of `doc_type` on the case.
async fn documents_of(c: &common::case::As, case_id: &str, doc_type: &str) -> Vec<Value> {
    let (_, case) = c.get(&format!("/api/v1/cases/{case_id}")).await;
    case["documents"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["doc_type"] == doc_type)
        .cloned()
        .collect()
}

async fn content(c: &common::case::As, document_id: &str) -> Vec<u8> {
    let resp = c
        .http
        .get(format!("{}/api/v1/documents/{document_id}/content", c.base))
        .bearer_auth(&c.token)
        .header("x-knudepunkt-purpose", "test")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.bytes().await.unwrap().to_vec()
}

async fn example_is_taken_with_its_danish_letters(backend: Backend) {
    let w = world(backend, "medcom-example").await;
    let workers = w.engine.start();
    let c = client(&w);
    let case_id = case_for(&c, EXAMPLE_CPR, "Knut Odvar", "Mosebryggersen").await;
    let bytes = example();
    let (status, answer) = w
        .sandbox
        .handles
        .medcom
        .send(HOSPITAL_EAN, OUR_EAN, &bytes)
        .await
        .unwrap();
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("positive"), "{answer}");
    let inbound = settled(&w, "medcom.inbound", 1).await;
    assert_eq!(inbound[0].state, MessageState::Delivered);
    let docs = documents_of(&c, &case_id, "MedCom XDIS91").await;
    assert_eq!(
        docs.len(),
        3,
        "the message, its fields and its text: {docs:?}"
    );
    assert!(
        docs.iter()
            .any(|d| d["title"] == "Forundersøgelse (HILLERØD SYGEHUS) (XDIS91-BrevNr00129.txt)"),
        "{docs:?}"
    );
    for d in &docs {
        let body = content(&c, d["id"].as_str().unwrap()).await;
        if d["media_type"] == "application/xml" {
            assert_eq!(
                body, bytes,
                "the message is kept byte for byte (windows-1252)"
            );
        } else {
            let text = String::from_utf8(body).unwrap();
            assert!(text.contains("Røntgen af hofte i to planer."), "{text}");
            assert!(text.contains("overlæge K. Petersen"), "{text}");
        }
    }
    // The receipt went back, validated by the network against the official schema.
    let receipts = receipts_received(&w, 1).await;
    assert_eq!(receipts[0].statistical_code, "XCTL03");
    let original = receipts[0].original.as_ref().unwrap();
    assert_eq!(original.envelope_id, "KuvertNr012234");
    assert_eq!(original.letter_ids, vec!["BrevNr00129".to_string()]);
    assert_eq!(w.sandbox.handles.medcom.recorder.stats().invalid, 0);
    settled(&w, "medcom.receipt", 1).await;

    // The same message again: acknowledged, not applied twice, one receipt.
    let (status, _) = w
        .sandbox
        .handles
        .medcom
        .send(HOSPITAL_EAN, OUR_EAN, &bytes)
        .await
        .unwrap();
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(settled(&w, "medcom.inbound", 1).await.len(), 1);
    assert_eq!(settled(&w, "medcom.receipt", 1).await.len(), 1);
    assert_eq!(documents_of(&c, &case_id, "MedCom XDIS91").await.len(), 3);
    w.engine.shutdown(workers).await;
}

async fn no_open_case_goes_to_the_inbox(backend: Backend) {
    let w = world(backend, "medcom-inbox").await;
    let workers = w.engine.start();
    // A citizen of the municipality, but with no open case.
    let (s, body) = client(&w)
        .post(
            "/api/v1/citizens",
            json!({"cpr": EXAMPLE_CPR, "given_name": "Knut Odvar", "family_name": "Mosebryggersen"}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let (status, _) = w
        .sandbox
        .handles
        .medcom
        .send(HOSPITAL_EAN, OUR_EAN, &example())
        .await
        .unwrap();
    assert_eq!(status, 200);
    settled(&w, "medcom.inbound", 1).await;
    let inbox = w.engine.journal().inbox(false).await.unwrap();
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0].kind, knudepunkt_case::inbound::UNMATCHED);
    assert!(
        inbox[0].detail.contains("no open case"),
        "{}",
        inbox[0].detail
    );
    assert!(
        !inbox[0].detail.contains(EXAMPLE_CPR),
        "the CPR is masked: {}",
        inbox[0].detail
    );
    receipts_received(&w, 1).await;
    w.engine.shutdown(workers).await;
}

/// A letter about someone who is not a citizen of the municipality is refused by a
/// negative receipt, and nothing of it is kept.
async fn an_unknown_patient_gets_a_negative_receipt(backend: Backend) {
    let w = world(backend, "medcom-unknown-patient").await;
    let workers = w.engine.start();
    let (status, answer) = w
        .sandbox
        .handles
        .medcom
        .send(HOSPITAL_EAN, OUR_EAN, &example())
        .await
        .unwrap();
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("negative"), "{answer}");
    let receipts = receipts_received(&w, 1).await;
    assert_eq!(receipts[0].kind, "NegativeReceipt");
    let text = receipts[0]
        .original
        .as_ref()
        .unwrap()
        .refuse_text
        .clone()
        .unwrap_or_default();
    assert!(text.contains("ikke borger i kommunen"), "{text}");
    assert!(!text.contains(EXAMPLE_CPR), "{text}");
    assert!(
        messages_of(&w, "medcom.inbound").await.is_empty(),
        "nothing kept"
    );
    assert!(w.engine.journal().inbox(false).await.unwrap().is_empty());
    w.engine.shutdown(workers).await;
}

async fn a_malformed_message_gets_a_negative_receipt_and_nothing_is_kept(backend: Backend) {
    let w = world(backend, "medcom-malformed").await;
    let workers = w.engine.start();
    let bad: Vec<u8> = String::from_utf8_lossy(&example())
        .replace(
            "<CivilRegistrationNumber>1502824933</CivilRegistrationNumber>",
            "",
        )
        .replace("windows-1252", "UTF-8")
        .into_bytes();
    let (status, answer) = w
        .sandbox
        .handles
        .medcom
        .send(HOSPITAL_EAN, OUR_EAN, &bad)
        .await
        .unwrap();
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("negative"), "{answer}");
    let receipts = receipts_received(&w, 1).await;
    assert_eq!(receipts[0].kind, "NegativeReceipt");
    let original = receipts[0].original.as_ref().unwrap();
    assert_eq!(original.refuse_code.as_deref(), Some("syntaksfejl"));
    let text = original.refuse_text.as_deref().unwrap_or_default();
    assert!(
        text.contains("PersonSurnameName") || text.contains("CivilRegistrationNumber"),
        "{text}"
    );
    assert!(
        messages_of(&w, "medcom.inbound").await.is_empty(),
        "nothing kept"
    );
    assert_eq!(
        w.sandbox.handles.medcom.recorder.stats().invalid,
        0,
        "the receipt itself validates"
    );
    w.engine.shutdown(workers).await;
}

/// Writes correspondence from the case; the letter's journal message.
async fn correspondence(
    w: &World,
    c: &common::case::As,
    case_id: &str,
) -> knudepunkt_engine::MessageId {
    let (s, sent) = c
        .post(
            &format!("/api/v1/cases/{case_id}/correspondence"),
            json!({"to_ean": GP_EAN, "subject": "Spørgsmål om medicin", "text": "Kære læge\nBorgeren ønsker hjælp til medicindosering.\nVenlig hilsen\nKøbenhavns Kommune"}),
        )
        .await;
    assert_eq!(s, 201, "{sent}");
    assert_eq!(sent["document"]["doc_type"], "MedCom XDIS91 (udgående)");
    let _ = w;
    sent["message_id"].as_str().unwrap().parse().unwrap()
}

async fn correspondence_goes_out_and_the_reply_threads_onto_its_case(backend: Backend) {
    let w = world(backend, "medcom-thread").await;
    let workers = w.engine.start();
    let c = client(&w);
    let case_id = open_case(&c, false).await;
    // A second open case for the citizen: only the case reference can pick the first.
    let (s, other) = c
        .post(
            "/api/v1/cases",
            json!({"cpr": common::case::CPR, "title": "Anden sag", "kle": "27.36.12", "action_facet": "G01",
                   "case_type": "Voksenhandicap", "org_unit_id": "bch", "caseworker_id": "leder1"}),
        )
        .await;
    assert_eq!(s, 201, "{other}");
    let id = correspondence(&w, &c, &case_id).await;
    common::expect_state(
        w.engine.journal(),
        id,
        MessageState::Delivered,
        Duration::from_secs(10),
    )
    .await;
    let m = w.engine.journal().get(id).await.unwrap();
    assert_eq!(m.attempts, 1);
    assert!(m.external_ids.contains_key("medcom_envelope_id"), "{m:?}");
    let sent = w.sandbox.handles.medcom.recorder.received(10);
    assert_eq!(
        w.sandbox.handles.medcom.recorder.stats().invalid,
        0,
        "the XDIS91 validates"
    );
    let letter = emessage::parse(sent[0].body.as_bytes()).unwrap();
    let episode = letter.letters[0].episode_of_care.clone().unwrap();
    assert_eq!(episode, case_id.replace('-', ""));
    assert_eq!(letter.letters[0].receiver.ean, GP_EAN);

    // The GP answers, keeping the case reference.
    let (status, _) = w
        .sandbox
        .handles
        .medcom
        .send_correspondence(
            OUR_EAN,
            &common::case::CPR.replace('-', ""),
            "Svar om medicin",
            "Dosering aftalt med hjemmeplejen.",
            Some(&episode),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    settled(&w, "medcom.inbound", 1).await;
    let replies = documents_of(&c, &case_id, "MedCom XDIS91").await;
    assert_eq!(replies.len(), 3, "{replies:?}");
    assert_eq!(
        documents_of(&c, &case_id, "MedCom XDIS91 (udgående)")
            .await
            .len(),
        1
    );
    assert!(w.engine.journal().inbox(false).await.unwrap().is_empty());
    // Without the reference, two open cases leave the choice to an operator.
    w.sandbox
        .handles
        .medcom
        .send_correspondence(
            OUR_EAN,
            &common::case::CPR.replace('-', ""),
            "Ny henvendelse",
            "Tekst",
            None,
        )
        .await
        .unwrap();
    settled(&w, "medcom.inbound", 2).await;
    let inbox = w.engine.journal().inbox(false).await.unwrap();
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert!(
        inbox[0].detail.contains("2 open cases"),
        "{}",
        inbox[0].detail
    );
    w.engine.shutdown(workers).await;
}

async fn a_negative_receipt_makes_our_letter_dead_on_the_case(backend: Backend) {
    let w = world(backend, "medcom-negative").await;
    let workers = w.engine.start();
    w.sandbox.handles.medcom.answer_with(ReceiptMode::Negative {
        code: "ukendt_lokationsnummer".into(),
        text: "Lokationsnummeret kendes ikke".into(),
    });
    let c = client(&w);
    let case_id = open_case(&c, false).await;
    let id = correspondence(&w, &c, &case_id).await;
    common::expect_state(
        w.engine.journal(),
        id,
        MessageState::Dead,
        Duration::from_secs(10),
    )
    .await;
    let m = w.engine.journal().get(id).await.unwrap();
    let error = m.last_error.unwrap_or_default();
    assert!(
        error.contains("ukendt_lokationsnummer: Lokationsnummeret kendes ikke"),
        "{error}"
    );
    let notices = common::case::notices_of_kind(&w.core, &c, &case_id, "delivery_failed").await;
    assert!(
        notices[0]["text"]
            .as_str()
            .unwrap()
            .contains("Lokationsnummeret kendes ikke"),
        "{notices:?}"
    );
    w.engine.shutdown(workers).await;
}

async fn no_receipt_in_time_sends_again_with_the_same_identifiers(backend: Backend) {
    let w = world(backend, "medcom-resend").await;
    let workers = w.engine.start();
    w.sandbox.handles.medcom.answer_with(ReceiptMode::Silent);
    let c = client(&w);
    let case_id = open_case(&c, false).await;
    let id = correspondence(&w, &c, &case_id).await;
    common::expect_state(
        w.engine.journal(),
        id,
        MessageState::Accepted,
        Duration::from_secs(10),
    )
    .await;
    // The receipt is lost; the next time it comes.
    w.sandbox.handles.medcom.answer_with(ReceiptMode::Positive);
    common::expect_state(
        w.engine.journal(),
        id,
        MessageState::Delivered,
        Duration::from_secs(10),
    )
    .await;
    let m = w.engine.journal().get(id).await.unwrap();
    assert_eq!(m.attempts, 2, "sent again once");
    let stats = w.sandbox.handles.medcom.recorder.stats();
    assert_eq!(
        (stats.unique, stats.duplicates),
        (1, 1),
        "the same identifiers: {stats:?}"
    );
    w.engine.shutdown(workers).await;
}

fn as_user(w: &World, user: &str) -> common::case::As {
    common::case::As::at(&w.api, user)
}

/// A grant of home help on the case, and a functional assessment in a document.
async fn services_and_notes(w: &World, c: &common::case::As, case_id: &str) {
    let ed = as_user(w, "redaktoer");
    let (s, cat) = ed
        .post(
            "/api/v1/catalogues",
            json!({"name": format!("Hjemmepleje {}", uuid::Uuid::now_v7())}),
        )
        .await;
    assert_eq!(s, 201, "{cat}");
    let (s, service) = ed
        .post(
            &format!(
                "/api/v1/catalogues/{}/services",
                cat["id"].as_str().unwrap()
            ),
            json!({"code": "SEL83", "name": "Personlig pleje og praktisk hjælp", "kle": "27.36.12",
                   "legal_basis": "SEL § 83", "price_ore": 0, "unit": "time"}),
        )
        .await;
    assert_eq!(s, 201, "{service}");
    let (s, grant) = c
        .post(
            &format!("/api/v1/cases/{case_id}/grants"),
            json!({"service_id": service["id"], "period": {"from": "2026-01-01"}, "quantity": 5, "provider": "Hjemmeplejen Nørrebro"}),
        )
        .await;
    assert_eq!(s, 201, "{grant}");
    use base64::Engine as _;
    let (s, doc) = c
        .post(
            &format!("/api/v1/cases/{case_id}/documents"),
            json!({"title": "Funktionsvurdering 2026", "doc_type": "Funktionsvurdering", "media_type": "text/plain",
                   "content": base64::engine::general_purpose::STANDARD.encode("Går med rollator.\nBrug for hjælp til bad.")}),
        )
        .await;
    assert_eq!(s, 201, "{doc}");
}

async fn an_admission_with_consent_is_answered_by_a_report(backend: Backend) {
    let w = world(backend, "medcom-admission").await;
    let workers = w.engine.start();
    let c = client(&w);
    let case_id = open_case(&c, false).await;
    services_and_notes(&w, &c, &case_id).await;
    let (s, consent) = c
        .post(
            &format!("/api/v1/cases/{case_id}/consents"),
            json!({"kind": knudepunkt_case::admission::CONSENT_KIND, "given_by": "borgeren", "valid_from": "2026-01-01"}),
        )
        .await;
    assert_eq!(s, 201, "{consent}");
    let cpr = common::case::CPR.replace('-', "");
    let (status, answer) = w
        .sandbox
        .handles
        .medcom
        .send_admission(OUR_EAN, &cpr, "2026-11-27", "08:15")
        .await
        .unwrap();
    assert_eq!(status, 200, "{answer}");
    let reports = settled(&w, "medcom.admission_report", 1).await;
    assert_eq!(
        reports[0].state,
        MessageState::Delivered,
        "confirmed by its receipt"
    );
    let report = w
        .sandbox
        .handles
        .medcom
        .recorder
        .received(20)
        .into_iter()
        .find(|r| r.body.contains("<ReportOfAdmission>"))
        .expect("the hospital received the report");
    assert_eq!(
        w.sandbox.handles.medcom.recorder.stats().invalid,
        0,
        "the XDIS16 validates"
    );
    for expected in [
        "<StatisticalCode>XDIS16</StatisticalCode>",
        "<PersonSurnameName>Jensen</PersonSurnameName>",
        "<ServiceHeadline>Personlig pleje og praktisk hjælp</ServiceHeadline>",
        "Hjemmeplejen Nørrebro",
        "Går med rollator.<Break/>Brug for hjælp til bad.",
        &format!("<EANIdentifier>{HOSPITAL_EAN}</EANIdentifier>"),
    ] {
        assert!(
            report.body.contains(expected),
            "{expected} in {}",
            report.body
        );
    }
    let notices = common::case::notices_of_kind(
        &w.core,
        &c,
        &case_id,
        knudepunkt_case::admission::REPORT_REQUESTED,
    )
    .await;
    assert!(
        notices[0]["text"]
            .as_str()
            .unwrap()
            .contains("HILLERØD SYGEHUS"),
        "{notices:?}"
    );
    // The notice itself is on the case as a document too.
    assert_eq!(documents_of(&c, &case_id, "MedCom XDIS20").await.len(), 2);
    w.engine.shutdown(workers).await;
}

async fn an_admission_without_consent_raises_a_task(backend: Backend) {
    let w = world(backend, "medcom-no-consent").await;
    let workers = w.engine.start();
    let c = client(&w);
    let case_id = open_case(&c, false).await;
    let cpr = common::case::CPR.replace('-', "");
    let (status, _) = w
        .sandbox
        .handles
        .medcom
        .send_admission(OUR_EAN, &cpr, "2026-11-27", "08:15")
        .await
        .unwrap();
    assert_eq!(status, 200);
    let taken = settled(&w, "medcom.admission", 1).await;
    assert_eq!(taken[0].external_ids["admission"], "task_raised");
    let tasks = common::case::notices_of_kind(
        &w.core,
        &c,
        &case_id,
        knudepunkt_case::admission::TASK_NO_CONSENT,
    )
    .await;
    assert!(
        tasks[0]["text"].as_str().unwrap().contains("samtykke"),
        "{tasks:?}"
    );
    assert!(
        messages_of(&w, "medcom.admission_report").await.is_empty(),
        "no report without consent"
    );
    assert!(
        !w.sandbox
            .handles
            .medcom
            .recorder
            .received(20)
            .iter()
            .any(|r| r.body.contains("<ReportOfAdmission>"))
    );
    w.engine.shutdown(workers).await;
}

/// Admission, completion of treatment and discharge: each lands on the case with its
/// structured fields, the hospital stay follows them, and the discharge is told to the
/// unit that owns the case.
async fn discharge_messages_land_on_the_case_and_update_the_stay(backend: Backend) {
    use knudepunkt_adapters::medcom::simulator::{
        completion_notice, discharge_notice, discharge_report,
    };
    let w = world(backend, "medcom-discharge").await;
    let workers = w.engine.start();
    let c = client(&w);
    let case_id = open_case(&c, false).await;
    let cpr = common::case::CPR.replace('-', "");
    let net = &w.sandbox.handles.medcom;
    net.send_admission(OUR_EAN, &cpr, "2026-11-27", "08:15")
        .await
        .unwrap();
    settled(&w, "medcom.inbound", 1).await;
    let completion = completion_notice(
        HOSPITAL_EAN,
        OUR_EAN,
        &cpr,
        ("2026-11-27", "08:15"),
        ("2026-11-30", "12:00"),
        ("2026-12-02", "10:00"),
    );
    let (status, answer) = net
        .send(HOSPITAL_EAN, OUR_EAN, completion.as_bytes())
        .await
        .unwrap();
    assert_eq!(status, 200, "{answer}");
    settled(&w, "medcom.inbound", 2).await;
    let planned = common::case::notices_of_kind(&w.core, &c, &case_id, "discharge_planned").await;
    assert!(
        planned[0]["text"]
            .as_str()
            .unwrap()
            .contains("2026-12-02T10:00"),
        "{planned:?}"
    );
    let discharge = discharge_notice(HOSPITAL_EAN, OUR_EAN, &cpr, "2026-12-02", "11:30");
    net.send(HOSPITAL_EAN, OUR_EAN, discharge.as_bytes())
        .await
        .unwrap();
    settled(&w, "medcom.inbound", 3).await;
    let told = common::case::notices_of_kind(&w.core, &c, &case_id, "discharged").await;
    let text = told[0]["text"].as_str().unwrap();
    assert!(
        text.contains("2026-12-02T11:30")
            && text.contains("HILLERØD SYGEHUS")
            && text.contains("enhed bch"),
        "{text}"
    );
    // The discharge report after the notice: the same stay, and its text on the case.
    let report = discharge_report(
        HOSPITAL_EAN,
        OUR_EAN,
        &cpr,
        ("2026-11-27", "08:15"),
        ("2026-12-02", "11:30"),
        "Udskrives til eget hjem.\nHjemmepleje genoptages.",
    );
    net.send(HOSPITAL_EAN, OUR_EAN, report.as_bytes())
        .await
        .unwrap();
    settled(&w, "medcom.inbound", 4).await;
    let texts = documents_of(&c, &case_id, "MedCom XDIS18").await;
    let text = texts
        .iter()
        .find(|d| d["media_type"] == "text/plain; charset=utf-8")
        .expect("the report's text");
    let text = String::from_utf8(content(&c, text["id"].as_str().unwrap()).await).unwrap();
    assert!(text.contains("Hjemmepleje genoptages."), "{text}");
    let told = common::case::notices_of_kind(&w.core, &c, &case_id, "discharged").await;
    assert_eq!(told.len(), 1, "the discharge is told once: {told:?}");
    let (_, case) = c.get(&format!("/api/v1/cases/{case_id}")).await;
    let stays = case["hospital_stays"].as_array().unwrap();
    assert_eq!(stays.len(), 1, "one stay, followed through: {stays:?}");
    assert_eq!(stays[0]["admitted_at"], "2026-11-27T08:15");
    assert_eq!(stays[0]["end_of_treatment"], "2026-11-30T12:00");
    assert_eq!(stays[0]["planned_discharge"], "2026-12-02T10:00");
    assert_eq!(stays[0]["discharged_at"], "2026-12-02T11:30");
    for code in ["XDIS19", "XDIS17", "XDIS18"] {
        let docs = documents_of(&c, &case_id, &format!("MedCom {code}")).await;
        let fields = docs
            .iter()
            .find(|d| d["media_type"] == "application/json")
            .expect("structured fields");
        let fields: Value =
            serde_json::from_slice(&content(&c, fields["id"].as_str().unwrap()).await).unwrap();
        assert_eq!(fields["statistical_code"], code, "{fields}");
    }
    assert_eq!(w.sandbox.handles.medcom.recorder.stats().invalid, 0);
    w.engine.shutdown(workers).await;
}

/// A care plan (XDIS21, the project's own model, as MedCom publishes no schema) is
/// validated against that model, filed with its sections, and its planned discharge
/// updates the stay; one that breaks the model gets a negative receipt.
async fn a_care_plan_is_filed_with_its_sections(backend: Backend) {
    use knudepunkt_adapters::medcom::simulator::care_plan;
    let w = world(backend, "medcom-careplan").await;
    let workers = w.engine.start();
    let c = client(&w);
    let case_id = open_case(&c, false).await;
    let cpr = common::case::CPR.replace('-', "");
    let plan = care_plan(
        HOSPITAL_EAN,
        OUR_EAN,
        &cpr,
        ("2026-12-02", "10:00"),
        &[
            ("Pleje", "Hjælp til bad hver morgen.\nTryksårsforebyggelse."),
            ("Medicin", "Dosisdispenseret medicin fra apoteket."),
        ],
    );
    let (status, answer) = w
        .sandbox
        .handles
        .medcom
        .send(HOSPITAL_EAN, OUR_EAN, plan.as_bytes())
        .await
        .unwrap();
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("positive"), "{answer}");
    settled(&w, "medcom.inbound", 1).await;
    let docs = documents_of(&c, &case_id, "MedCom XDIS21").await;
    assert_eq!(docs.len(), 3, "{docs:?}");
    let text = docs
        .iter()
        .find(|d| d["media_type"] == "text/plain; charset=utf-8")
        .unwrap();
    let text = String::from_utf8(content(&c, text["id"].as_str().unwrap()).await).unwrap();
    assert!(
        text.contains("Pleje\nHjælp til bad hver morgen.\nTryksårsforebyggelse."),
        "{text}"
    );
    assert!(text.contains("Medicin\nDosisdispenseret"), "{text}");
    let (_, case) = c.get(&format!("/api/v1/cases/{case_id}")).await;
    assert_eq!(
        case["hospital_stays"][0]["planned_discharge"], "2026-12-02T10:00",
        "{case}"
    );
    // Against the model: a section without its headline is refused.
    let broken = plan.replace("<Headline>Medicin</Headline>", "");
    let (_, answer) = w
        .sandbox
        .handles
        .medcom
        .send(HOSPITAL_EAN, OUR_EAN, broken.as_bytes())
        .await
        .unwrap();
    assert!(
        answer.contains("negative") && answer.contains("SectionText"),
        "{answer}"
    );
    w.engine.shutdown(workers).await;
}

/// The case core files a mail delivered twice (an at-least-once redelivery) once: the
/// second time the documents' unique reference stops it and nothing is added.
async fn a_mail_filed_twice_is_filed_once(backend: Backend) {
    use knudepunkt_case::inbound::{Filed, IncomingMail};
    let w = world(backend, "medcom-twice").await;
    let c = client(&w);
    let case_id = open_case(&c, false).await;
    let raw = json!({
        "source": "MedCom", "external_id": "5790000120400/K1/B1", "title": "Svar (HILLERØD SYGEHUS)",
        "sender": {"id": HOSPITAL_EAN, "id_type": "EAN", "label": "HILLERØD SYGEHUS"},
        "case_refs": [case_id.replace('-', "")], "about_cpr": common::case::CPR.replace('-', ""),
        "doc_type": "MedCom XDIS91",
        "files": [{"filename": "a.txt", "media_type": "text/plain", "content": "aGVq"},
                  {"filename": "b.txt", "media_type": "text/plain", "content": "aGVq"}]
    });
    let mail: IncomingMail = serde_json::from_value(raw.clone()).unwrap();
    let bytes = raw.to_string().into_bytes();
    let first = w.core.file_incoming(&mail, &bytes).await.unwrap();
    assert!(
        matches!(first, Filed::Journalised { documents: 2, .. }),
        "{first:?}"
    );
    let second = w.core.file_incoming(&mail, &bytes).await.unwrap();
    assert_eq!(
        second,
        Filed::AlreadyJournalised {
            case_id: case_id.clone()
        }
    );
    assert_eq!(documents_of(&c, &case_id, "MedCom XDIS91").await.len(), 2);
}

on_both_backends!(
    a_mail_filed_twice_is_filed_once,
    a_care_plan_is_filed_with_its_sections,
    discharge_messages_land_on_the_case_and_update_the_stay,
    an_unknown_patient_gets_a_negative_receipt,
    an_admission_with_consent_is_answered_by_a_report,
    an_admission_without_consent_raises_a_task,
    example_is_taken_with_its_danish_letters,
    no_open_case_goes_to_the_inbox,
    a_malformed_message_gets_a_negative_receipt_and_nothing_is_kept,
    correspondence_goes_out_and_the_reply_threads_onto_its_case,
    a_negative_receipt_makes_our_letter_dead_on_the_case,
    no_receipt_in_time_sends_again_with_the_same_identifiers,
);
