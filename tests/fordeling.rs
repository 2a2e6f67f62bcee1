//! The Fordelingskomponent (SF2900) end to end against the sandbox: a caseworker sends a
//! case document to another authority; the recipient is checked first (by KLE with
//! FordelingsmodtagerList, by system with FordelingsmodtagerValider), the document's file
//! goes to the sandbox SFTP server (scripts/sftp: OpenSSH on 127.0.0.1:2222), the
//! anmodning naming it validates at the service, and the receiving system's receipt at
//! FordelingskvitteringModtag settles the delivery — ACCEPTERET delivers, AFVIST is dead
//! with the receipt's reason and shows on the case. Recipients that cannot receive are
//! refused before anything is sent; injected faults are tried again (49) or dead (40);
//! a receipt twice changes nothing, and one for no distribution reaches the operator
//! inbox.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::Backend;
use common::case::{As, SECRET, open_case};
use knudepunkt_adapters::fordeling::simulator::{Behaviour, FordelingSimulator};
use knudepunkt_adapters::fordeling::wire::{Kode, Kvittering};
use knudepunkt_adapters::fordeling::{KVITTERING_PATH, TRANSACTION_ID, UNMATCHED};
use knudepunkt_adapters::sandbox::{Fault, FaultKind};
use knudepunkt_case::CaseCore;
use knudepunkt_case::api::SignedTokens;
use knudepunkt_engine::Engine;
use knudepunkt_engine::message::{JournalMessage, MessageState};
use serde_json::{Value, json};

const ROUTE: &str = "fordeling.dokument";
const FREDERIKSBERG: &str = "11259979";

struct World {
    sandbox: common::Sandbox,
    engine: Engine,
    core: CaseCore,
    api: String,
    receipts_url: String,
    workers: tokio::task::JoinHandle<()>,
}

impl World {
    fn fk(&self) -> &FordelingSimulator {
        &self.sandbox.handles.fordeling
    }

    fn as_user(&self, user: &str) -> As {
        As::at(&self.api, user)
    }

    /// The journal message of a distribution, once it is settled.
    async fn settled(&self, message_id: &str) -> JournalMessage {
        let id = message_id.parse().unwrap();
        let until = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let m = self.engine.journal().get(id).await.unwrap();
            if m.state.is_terminal() {
                return m;
            }
            assert!(
                std::time::Instant::now() < until,
                "{message_id} is still {}: {:?}",
                m.state,
                m.last_error
            );
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }

    async fn stop(self) {
        self.engine.shutdown(self.workers).await;
    }
}

async fn world(backend: Backend, name: &str) -> World {
    let (sandbox, engine, core) =
        common::case::engine_with_core(backend, name, "routes-fordeling").await;
    let app = knudepunkt_case::api::router(core.clone(), Arc::new(SignedTokens::new(SECRET, true)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let profile = engine
        .routes()
        .environment
        .serviceplatformen
        .clone()
        .unwrap();
    let (receiver_addr, _) = knudepunkt_adapters::digital_post::status::serve_receiver(
        engine.clone(),
        profile.status_receiver.as_ref().unwrap(),
    )
    .await
    .unwrap();
    let receipts_url = format!("https://{receiver_addr}{KVITTERING_PATH}");
    sandbox
        .handles
        .fordeling
        .kvitteringer_to(&receipts_url, Duration::from_millis(100));
    let workers = engine.start();
    World {
        sandbox,
        engine,
        core,
        api,
        receipts_url,
        workers,
    }
}

async fn new_document(c: &As, case: &str, title: &str) -> String {
    c.create(
        &format!("/api/v1/cases/{case}/documents"),
        json!({"title": title, "doc_type": "Handleplan", "content": "JVBERi0xLjQK",
               "media_type": "application/pdf"}),
    )
    .await
}

/// Sends `document` with `body`; the answer.
async fn distribute(c: &As, document: &str, body: Value) -> (u16, Value) {
    c.post(&format!("/api/v1/documents/{document}/distribution"), body)
        .await
}

async fn case_and_document(w: &World) -> (As, String, String) {
    let c = w.as_user("leder1");
    let case = open_case(&c, false).await;
    let doc = new_document(&c, &case, "Handleplan 2027").await;
    (c, case, doc)
}

async fn sent_and_accepted(backend: Backend, name: &str) {
    let w = world(backend, name).await;
    let (c, case, doc) = case_and_document(&w).await;

    // By KLE: the case's emne, to Frederiksberg's social services.
    let (s, sent) = distribute(
        &c,
        &doc,
        json!({"to_cvr": FREDERIKSBERG, "dokumenttype": "Rapport"}),
    )
    .await;
    assert_eq!(s, 201, "{sent}");
    let id = sent["id"].as_str().unwrap();
    let m = w.settled(sent["message_id"].as_str().unwrap()).await;
    assert_eq!(m.state, MessageState::Delivered, "{:?}", m.last_error);
    let at_fk = w.fk().sent(id).expect("the service has the anmodning");
    let frederiksberg = &w.fk().receivers()[0];
    assert_eq!(at_fk.system, frederiksberg.uuid);
    assert_eq!(at_fk.objekt_id, doc);
    // The file went to the SFTP server under the name the anmodning gives, whole.
    assert_eq!(
        at_fk.fil_sha256.as_deref(),
        sent["document"]["sha256"].as_str(),
        "the file on the SFTP server is the document"
    );
    assert!(
        at_fk
            .context
            .dokument_fil_navn
            .as_deref()
            .is_some_and(|n| n.starts_with(id) && n.ends_with(".pdf")),
        "{:?}",
        at_fk.context.dokument_fil_navn
    );
    assert_eq!(at_fk.context.afsendende_myndighed, "64942212");
    assert_eq!(at_fk.kvitteringer, vec![Kode::Accepteret]);
    assert_eq!(
        m.external_ids.get(TRANSACTION_ID),
        at_fk.context.distribution_transaktions_id.as_ref(),
        "the service's DistributionTransktionsID is kept"
    );

    // The receipt again changes nothing.
    assert!(
        w.fk()
            .kvitter(
                id,
                Kvittering::new(Kode::Afvist, "Forretning", Some("for sent"))
            )
            .await
    );
    assert_eq!(
        w.engine.journal().get(m.id).await.unwrap().state,
        MessageState::Delivered
    );

    // By system: a named receiving system that refuses the document.
    let region = w.fk().receivers()[1].clone();
    w.fk().set_behaviour(
        &region.uuid,
        Behaviour::Refuse("Borgeren er ikke kendt i psykiatrien".into()),
    );
    let (s, sent) = distribute(
        &c,
        &doc,
        json!({"to_cvr": region.myndighed, "recipient_system": region.uuid}),
    )
    .await;
    assert_eq!(s, 201, "{sent}");
    let m = w.settled(sent["message_id"].as_str().unwrap()).await;
    assert_eq!(m.state, MessageState::Dead);
    let why = m.last_error.clone().unwrap();
    assert!(
        why.contains("AFVIST") && why.contains("Borgeren er ikke kendt i psykiatrien"),
        "{why}"
    );
    let notices = common::case::notices_of_kind(&w.core, &c, &case, "delivery_failed").await;
    assert!(
        notices.iter().any(|n| n["text"]
            .as_str()
            .unwrap()
            .contains("Borgeren er ikke kendt")),
        "{notices:?}"
    );
    // Every anmodning the service took validated against DistributionServiceMsg.xsd.
    assert_eq!(w.fk().recorder.stats().invalid, 0);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_document_is_sent_and_the_receipt_settles_it_sqlite() {
    sent_and_accepted(Backend::Sqlite, "fordeling_sent").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_document_is_sent_and_the_receipt_settles_it_postgres() {
    sent_and_accepted(Backend::Postgres, "fordeling_sent").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn recipients_that_cannot_receive_are_refused_before_sending() {
    let w = world(Backend::Sqlite, "fordeling_recipients").await;
    let (c, _, doc) = case_and_document(&w).await;
    let stranger = uuid::Uuid::new_v4().to_string();
    let (_, by_system) = distribute(
        &c,
        &doc,
        json!({"to_cvr": FREDERIKSBERG, "recipient_system": stranger}),
    )
    .await;
    let (_, by_kle) = distribute(&c, &doc, json!({"to_cvr": "12345678"})).await;
    let m = w.settled(by_system["message_id"].as_str().unwrap()).await;
    assert_eq!(m.state, MessageState::Dead);
    let why = m.last_error.unwrap();
    assert!(
        why.contains(&stranger) && why.contains("cannot receive"),
        "{why}"
    );
    let m = w.settled(by_kle["message_id"].as_str().unwrap()).await;
    assert_eq!(m.state, MessageState::Dead);
    let why = m.last_error.unwrap();
    assert!(
        why.contains("12345678") && why.contains("27.36.12"),
        "{why}"
    );
    assert_eq!(w.fk().count(), 0, "nothing was sent");

    // Bad requests name their field and journal nothing.
    for (body, field) in [
        (json!({"to_cvr": "1234"}), "to_cvr"),
        (
            json!({"to_cvr": FREDERIKSBERG, "recipient_system": "nope"}),
            "recipient_system",
        ),
        (json!({"to_cvr": FREDERIKSBERG, "kle": "27"}), "kle"),
        (
            json!({"to_cvr": FREDERIKSBERG, "dokumenttype": "Ansøgning"}),
            "dokumenttype",
        ),
    ] {
        let (s, p) = distribute(&c, &doc, body).await;
        assert_eq!(s, 422, "{p}");
        assert_eq!(p["field"], field, "{p}");
    }
    let (s, _) = distribute(&c, "no-such-document", json!({"to_cvr": FREDERIKSBERG})).await;
    assert_eq!(s, 404);
    assert_eq!(
        common::messages_of(w.engine.journal(), ROUTE).await.len(),
        2
    );
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faults_are_tried_again_or_dead_with_the_services_reason() {
    let w = world(Backend::Sqlite, "fordeling_faults").await;
    let (c, _, doc) = case_and_document(&w).await;
    // 49 on the recipient check: tried again, then sent.
    w.fk().faults.push(Fault {
        kind: FaultKind::StatusKode {
            code: 49,
            text: "Fordelingskomponenten er midlertidigt utilgængelig".into(),
        },
        count: 1,
    });
    let (_, sent) = distribute(&c, &doc, json!({"to_cvr": FREDERIKSBERG})).await;
    let m = w.settled(sent["message_id"].as_str().unwrap()).await;
    assert_eq!(m.state, MessageState::Delivered, "{:?}", m.last_error);
    assert_eq!(m.attempts, 2, "tried again after the Server fault");

    w.fk().faults.push(Fault {
        kind: FaultKind::StatusKode {
            code: 40,
            text: "Afsendende myndighed må ikke bruge fordelingen".into(),
        },
        count: 1,
    });
    let (_, sent) = distribute(&c, &doc, json!({"to_cvr": FREDERIKSBERG})).await;
    let m = w.settled(sent["message_id"].as_str().unwrap()).await;
    assert_eq!(m.state, MessageState::Dead);
    assert!(
        m.last_error
            .as_deref()
            .unwrap()
            .contains("Afsendende myndighed må ikke bruge fordelingen"),
        "{:?}",
        m.last_error
    );
    assert_eq!(m.attempts, 1);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn receipts_are_taken_over_mtls_and_unknown_ones_kept_for_an_operator() {
    let w = world(Backend::Sqlite, "fordeling_receipts").await;
    let (c, _, doc) = case_and_document(&w).await;
    // A system that answers only when it is told to.
    let frederiksberg = w.fk().receivers()[0].clone();
    w.fk().set_behaviour(&frederiksberg.uuid, Behaviour::Hold);
    let (_, sent) = distribute(&c, &doc, json!({"to_cvr": FREDERIKSBERG})).await;
    let id = sent["id"].as_str().unwrap().to_string();
    let message = sent["message_id"].as_str().unwrap().parse().unwrap();
    common::expect_state(
        w.engine.journal(),
        message,
        MessageState::Accepted,
        Duration::from_secs(10),
    )
    .await;
    // MODTAGET changes nothing; ACCEPTERET delivers.
    assert!(
        w.fk()
            .kvitter(&id, Kvittering::new(Kode::Modtaget, "Teknisk", None))
            .await
    );
    assert_eq!(
        w.engine.journal().get(message).await.unwrap().state,
        MessageState::Accepted
    );
    assert!(
        w.fk()
            .kvitter(&id, Kvittering::new(Kode::Accepteret, "Forretning", None))
            .await
    );
    assert_eq!(
        w.engine.journal().get(message).await.unwrap().state,
        MessageState::Delivered
    );

    // Pushed by hand, with the sandbox's client certificate: a receipt for a
    // distribution nobody sent is kept in the inbox; nonsense is refused as Client.
    let http = knudepunkt_adapters::sandbox::certs::SandboxCertificates::shared()
        .pusher()
        .unwrap();
    let mut ctx = w.fk().sent(&id).unwrap().context;
    ctx.anvender_transaktions_id = uuid::Uuid::new_v4().to_string();
    let receipt = format!(
        r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>{}</soap:Body></soap:Envelope>"#,
        knudepunkt_adapters::fordeling::wire::anvender_kvittering(
            &Kvittering::new(Kode::Accepteret, "Forretning", None),
            &ctx
        )
    );
    let r = http
        .post(&w.receipts_url)
        .body(receipt)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let inbox = w.engine.journal().inbox(false).await.unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].kind, UNMATCHED);
    let r = http
        .post(&w.receipts_url)
        .body("<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body><nonsense/></soap:Body></soap:Envelope>")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("soap:Client") && text.contains("TransportKvittering"),
        "{text}"
    );
    // Without a client certificate nobody gets through.
    let certs = knudepunkt_adapters::sandbox::certs::SandboxCertificates::shared();
    let ca =
        reqwest::Certificate::from_der(&certs.ca.credential.certificate.to_der().unwrap()).unwrap();
    let anonymous = reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .unwrap();
    assert!(anonymous.post(&w.receipts_url).send().await.is_err());
    w.stop().await;
}
