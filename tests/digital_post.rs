//! Digital Post end to end against the sandbox: a decision's letter is accepted, then
//! delivered by Beskedfordeler's status, and only then does the appeal deadline start;
//! "recipient not found" is permanent; timeouts are retried and the letter arrives once;
//! a failed status and an expired token; the status endpoint's answers; and every MeMo
//! sent validates against the official schema.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Backend;
use common::case::{SECRET, open_case};
use knudepunkt_adapters::digital_post::STATUS_PATH;
use knudepunkt_adapters::sandbox::{Fault, FaultKind};
use knudepunkt_case::CaseCore;
use knudepunkt_case::api::SignedTokens;
use knudepunkt_engine::Engine;
use knudepunkt_engine::message::MessageState;
use serde_json::{Value, json};

const ROUTE: &str = "test.digitalpost";

struct World {
    sandbox: common::Sandbox,
    engine: Engine,
    core: CaseCore,
    api: String,
    /// PostStatusBeskedModtag, served over mTLS.
    status_url: String,
}

/// An HTTP client with the sandbox Serviceplatformen's certificate: one the status
/// receiver lets in.
fn pusher() -> reqwest::Client {
    knudepunkt_adapters::sandbox::certs::SandboxCertificates::shared()
        .pusher()
        .unwrap()
}

async fn world(backend: Backend, name: &str, status_delay: Duration) -> World {
    world_with(backend, name, status_delay, "routes-digital-post").await
}

/// A world whose routes are `tests/fixtures/<routes>`.
async fn world_with(backend: Backend, name: &str, status_delay: Duration, routes: &str) -> World {
    let (sandbox, engine, core) = common::case::engine_with_core(backend, name, routes).await;
    let app = knudepunkt_case::api::router(core.clone(), Arc::new(SignedTokens::new(SECRET, true)))
        .merge(knudepunkt_engine::server::router(engine.clone()));
    let receiver = engine
        .routes()
        .environment
        .serviceplatformen
        .as_ref()
        .unwrap();
    let (status_addr, _) = knudepunkt_adapters::digital_post::status::serve_receiver(
        engine.clone(),
        receiver.status_receiver.as_ref().unwrap(),
    )
    .await
    .unwrap();
    let status_url = format!("https://{status_addr}{STATUS_PATH}");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    sandbox
        .handles
        .digital_post
        .push_statuses_to(&status_url, status_delay);
    World {
        sandbox,
        engine,
        core,
        api: format!("http://{addr}"),
        status_url,
    }
}

fn client(w: &World) -> common::case::As {
    as_user_at(&w.api, "leder1")
}

fn as_user_at(base: &str, user: &str) -> common::case::As {
    common::case::As::at(base, user)
}

async fn decide(c: &common::case::As, case_id: &str) -> Value {
    let (s, d) = c
        .post(
            &format!("/api/v1/cases/{case_id}/decisions"),
            json!({"outcome": "grant", "legal_basis": "SEL § 85", "decided_on": "2026-11-20", "reasoning": "Behov for støtte."}),
        )
        .await;
    assert_eq!(s, 201, "{d}");
    d
}

/// The messages of `route`, newest first.
async fn messages_of(w: &World, route: &str) -> Vec<knudepunkt_engine::message::JournalMessage> {
    common::messages_of(w.engine.journal(), route).await
}

/// The message id of the letter journaled for `case_id`.
async fn letter_of(w: &World, case_id: &str) -> knudepunkt_engine::MessageId {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let letters = messages_of(w, ROUTE).await;
        if let Some(m) = letters
            .iter()
            .find(|m| m.correlation_id.as_deref() == Some(case_id))
        {
            return m.id;
        }
        assert!(
            Instant::now() < until,
            "no letter was journaled for {case_id}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts the workers, opens a case and decides on it; the letter's message.
async fn a_letter(
    w: &World,
) -> (
    tokio::task::JoinHandle<()>,
    common::case::As,
    String,
    knudepunkt_engine::MessageId,
) {
    let workers = w.engine.start();
    let c = client(w);
    let case_id = open_case(&c, false).await;
    decide(&c, &case_id).await;
    let id = letter_of(w, &case_id).await;
    (workers, c, case_id, id)
}

/// Reconciles until the case shows a notice of `kind`; the case as it then is.
async fn notice(w: &World, c: &common::case::As, case_id: &str, kind: &str) -> Value {
    let found = common::case::notices_of_kind(&w.core, c, case_id, kind).await;
    let (_, case) = c.get(&format!("/api/v1/cases/{case_id}")).await;
    assert!(!found.is_empty(), "no {kind} notice: {case}");
    case
}

fn every_memo_validates(w: &World) {
    let xsd = knudepunkt_engine::schema_dir::locate()
        .expect("the official schemas")
        .path
        .join("memo/Version1.2/MeMo_core.xsd");
    let received = w.sandbox.handles.digital_post.recorder.received(1000);
    assert!(!received.is_empty());
    for r in received {
        knudepunkt_engine::transform::xsd::validate(&xsd, r.body.as_bytes())
            .unwrap_or_else(|e| panic!("a MeMo we sent does not validate: {e}"));
    }
    assert_eq!(w.sandbox.handles.digital_post.recorder.stats().invalid, 0);
}

async fn accepted_then_delivered_then_the_deadline(backend: Backend) {
    let w = world(backend, "dp-delivered", Duration::from_millis(1500)).await;
    let (workers, c, case_id, id) = a_letter(&w).await;
    common::expect_state(
        w.engine.journal(),
        id,
        MessageState::Accepted,
        Duration::from_secs(10),
    )
    .await;
    w.core.reconcile().await.unwrap();
    let (_, case) = c.get(&format!("/api/v1/cases/{case_id}")).await;
    assert!(
        case["decisions"][0]["appeal_deadline"].is_null(),
        "no deadline while only accepted: {case}"
    );
    let m = w.engine.journal().get(id).await.unwrap();
    assert!(
        m.external_ids.contains_key("memo_message_uuid")
            && m.external_ids
                .contains_key("serviceplatformen_transaction_id")
    );

    common::expect_state(
        w.engine.journal(),
        id,
        MessageState::Delivered,
        Duration::from_secs(10),
    )
    .await;
    let case = notice(&w, &c, &case_id, "letter_dispatched").await;
    assert!(
        case["decisions"][0]["appeal_deadline"].is_string(),
        "{case}"
    );
    every_memo_validates(&w);
    w.engine.shutdown(workers).await;
}

async fn recipient_not_found_is_permanent(backend: Backend) {
    let w = world(backend, "dp-unknown", Duration::from_millis(100)).await;
    w.sandbox
        .handles
        .digital_post
        .unknown_recipient("0101901234");
    let (workers, c, case_id, id) = a_letter(&w).await;
    common::expect_state(
        w.engine.journal(),
        id,
        MessageState::Dead,
        Duration::from_secs(10),
    )
    .await;
    let m = w.engine.journal().get(id).await.unwrap();
    assert_eq!(m.attempts, 1, "no retry");
    let case = notice(&w, &c, &case_id, "letter_failed").await;
    let text = case["notices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["kind"] == "letter_failed")
        .unwrap()["text"]
        .clone();
    assert!(
        text.as_str()
            .unwrap()
            .contains("RECIPIENT_NOT_FOUND: Modtager findes ikke"),
        "{text}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        w.sandbox.handles.digital_post.recorder.stats().raw_requests,
        1,
        "no retry"
    );
    w.engine.shutdown(workers).await;
}

async fn three_timeouts_then_exactly_once(backend: Backend) {
    let w = world(backend, "dp-timeouts", Duration::from_millis(100)).await;
    w.sandbox.handles.digital_post.faults.push(Fault {
        kind: FaultKind::Timeout { ms: 1500 },
        count: 3,
    });
    let (workers, _, _, id) = a_letter(&w).await;
    common::expect_state(
        w.engine.journal(),
        id,
        MessageState::Delivered,
        Duration::from_secs(30),
    )
    .await;
    let stats = w.sandbox.handles.digital_post.recorder.stats();
    assert_eq!(
        (stats.raw_requests, stats.unique, stats.faulted),
        (4, 1, 3),
        "{stats:?}"
    );
    assert_eq!(w.engine.journal().get(id).await.unwrap().attempts, 4);
    every_memo_validates(&w);
    w.engine.shutdown(workers).await;
}

async fn a_failed_status_and_an_expired_token(backend: Backend) {
    let w = world(backend, "dp-failed", Duration::from_millis(100)).await;
    w.sandbox
        .handles
        .digital_post
        .failing_recipient("0101901234");
    let (workers, c, case_id, id) = a_letter(&w).await;
    common::expect_state(
        w.engine.journal(),
        id,
        MessageState::Dead,
        Duration::from_secs(10),
    )
    .await;
    let case = notice(&w, &c, &case_id, "letter_failed").await;
    assert!(
        case.to_string()
            .contains("letter to citizen failed: Modtagers digitale postkasse er lukket"),
        "{case}"
    );

    // Every access token expires: the next letter gets a 401, buys a new token, goes out.
    w.sandbox.handles.sts.expire_access_tokens();
    let tokens_before = w.sandbox.handles.sts.access_tokens();
    decide(&c, &case_id).await;
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        let unique = w.sandbox.handles.digital_post.recorder.stats().unique;
        if unique == 2 {
            break;
        }
        assert!(Instant::now() < until, "the second letter did not arrive");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        w.sandbox.handles.sts.access_tokens() > tokens_before,
        "a new access token was bought"
    );
    w.engine.shutdown(workers).await;
}

async fn the_status_endpoint_answers_20_and_40(backend: Backend) {
    let w = world(backend, "dp-status", Duration::from_millis(100)).await;
    let unmatched = knudepunkt_adapters::digital_post::status::status_message(
        "no-such-letter",
        "t",
        true,
        None,
    );
    // Over mTLS only: a pusher without a client certificate, or with one no trusted CA
    // issued, does not get through, and nothing it sent is kept.
    let certs = knudepunkt_adapters::sandbox::certs::SandboxCertificates::shared();
    let ca =
        reqwest::Certificate::from_der(&certs.ca.credential.certificate.to_der().unwrap()).unwrap();
    let anonymous = reqwest::Client::builder()
        .tls_certs_only([ca.clone()])
        .build()
        .unwrap();
    let stranger_cert =
        knudepunkt_adapters::serviceplatformen::security::issuing::self_signed("Stranger", 5)
            .unwrap();
    let stranger = reqwest::Client::builder()
        .identity(stranger_cert.tls_identity().unwrap())
        .tls_certs_only([ca])
        .build()
        .unwrap();
    for turned_away in [&anonymous, &stranger] {
        let e = turned_away
            .post(&w.status_url)
            .body(unmatched.clone())
            .send()
            .await;
        assert!(e.is_err(), "{e:?}");
    }
    assert!(w.engine.journal().inbox(false).await.unwrap().is_empty());
    let plain = reqwest::Client::new()
        .post(format!("{}{STATUS_PATH}", w.api))
        .body(unmatched.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 404, "not served without TLS");

    let http = pusher();
    let url = w.status_url.clone();
    let bad = http.post(&url).body("<nonsense/>").send().await.unwrap();
    assert_eq!(bad.status(), 400);
    let text = bad.text().await.unwrap();
    assert!(
        text.contains("<sd:StatusKode>40</sd:StatusKode>") && text.contains("Haendelsesbesked"),
        "{text}"
    );
    // A status for no letter is kept for an operator, once, and can be resolved.
    for _ in 0..2 {
        let ok = http
            .post(&url)
            .body(unmatched.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        assert!(
            ok.text()
                .await
                .unwrap()
                .contains("<sd:StatusKode>20</sd:StatusKode>")
        );
    }
    // The operator sees it over the API, and says how it was dealt with.
    let api = reqwest::Client::new();
    let inbox: Value = api
        .get(format!("{}/api/v1/inbox", w.api))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = inbox.as_array().unwrap();
    assert_eq!(items.len(), 1, "{inbox}");
    assert_eq!(
        items[0]["kind"],
        knudepunkt_adapters::digital_post::status::UNMATCHED
    );
    assert_eq!(items[0]["reference"], "no-such-letter");
    let resolve = format!("{}/api/v1/inbox/{}/resolve", w.api, items[0]["id"]);
    let r = api
        .post(&resolve)
        .json(&json!({"by": "operator", "resolution": "a test status"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let again = api
        .post(&resolve)
        .json(&json!({"by": "operator", "resolution": "twice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
    assert!(w.engine.journal().inbox(false).await.unwrap().is_empty());
    assert_eq!(
        w.engine.journal().inbox(true).await.unwrap()[0]
            .resolution
            .as_deref(),
        Some("a test status")
    );
}

/// Waits until every message of `route` is settled; their states.
async fn settled(
    w: &World,
    route: &str,
    count: usize,
) -> Vec<knudepunkt_engine::message::JournalMessage> {
    common::settled(w.engine.journal(), route, count, Duration::from_secs(20)).await
}

/// Inbound (Afhentningssystem): the three official example memos and two replies are
/// fetched; the citizen's reply to our letter is journalised on its case, the rest go
/// to the operator inbox (a reply naming our case from someone else among them); a
/// memo whose acknowledgement was lost comes again and is taken once.
async fn inbound_memos_are_journalised_or_inboxed_once(backend: Backend) {
    use knudepunkt_adapters::digital_post::{afhentning::Afhentning, memo};
    let w = world(backend, "dp-inbound", Duration::from_millis(100)).await;
    let (workers, c, case_id, id) = a_letter(&w).await;
    let letter_uuid = w.engine.journal().get(id).await.unwrap().idempotency_key;
    let mailbox = &w.sandbox.handles.mailbox;
    let examples = knudepunkt_engine::schema_dir::locate()
        .expect("the official schemas")
        .path
        .join("memo/examples");
    let mut example_uuids = Vec::new();
    for name in [
        "MeMo_Minimum_Example.xml",
        "MeMo_NemSMS.xml",
        "MeMo_with_attachment.xml",
    ] {
        let xml = std::fs::read(examples.join(name)).unwrap();
        example_uuids.push(
            mailbox
                .deliver(&xml)
                .unwrap_or_else(|e| panic!("{name}: {e}")),
        );
    }
    let reply = memo::reply_to(
        letter_uuid.as_str(),
        &case_id,
        &common::case::CPR.replace('-', ""),
        "Anna Jensen",
        "64942212",
        "Tak for brevet.",
    );
    let reply_uuid = mailbox.deliver(reply.as_bytes()).unwrap();
    let stranger = memo::reply_to(
        letter_uuid.as_str(),
        &case_id,
        "0202802345",
        "Bo Hansen",
        "64942212",
        "Også mig?",
    );
    let stranger_uuid = mailbox.deliver(stranger.as_bytes()).unwrap();
    // Digital Post lets only valid MeMo in.
    assert!(
        mailbox
            .deliver(b"<memo:Message xmlns:memo=\"https://DigitalPost.dk/MeMo-1\"/>")
            .is_err()
    );
    mailbox.lose_acknowledgement_of(&reply_uuid);

    let afhentning = Afhentning::new(w.engine.clone()).unwrap();
    let first = afhentning
        .system_fetch(&knudepunkt_engine::schedule::Quiet)
        .await
        .unwrap();
    assert_eq!(
        (
            first.listed,
            first.taken,
            first.duplicates,
            first.acknowledged
        ),
        (5, 5, 0, 4),
        "{first:?}"
    );
    assert_eq!(first.failed.len(), 1, "{first:?}");
    assert_eq!(first.failed[0].0, reply_uuid);
    let second = afhentning
        .system_fetch(&knudepunkt_engine::schedule::Quiet)
        .await
        .unwrap();
    assert_eq!(
        (
            second.listed,
            second.taken,
            second.duplicates,
            second.acknowledged
        ),
        (1, 0, 1, 1),
        "{second:?}"
    );
    let stats = mailbox.stats();
    assert_eq!(
        (
            stats.waiting,
            stats.acknowledged,
            stats.failed_acknowledgements
        ),
        (0, 5, 1)
    );

    let inbound = settled(&w, "test.digitalpost.inbound", 5).await;
    assert!(
        inbound.iter().all(|m| m.state == MessageState::Delivered),
        "{inbound:?}"
    );
    // The reply is on its case, once, with its text.
    let case = notice(&w, &c, &case_id, "mail_received").await;
    let docs: Vec<&Value> = case["documents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["doc_type"] == "Indgående post")
        .collect();
    assert_eq!(docs.len(), 1, "{case}");
    assert_eq!(docs[0]["title"], "Svar: afgørelse");
    let (s, content) = c
        .get(&format!(
            "/api/v1/documents/{}/content",
            docs[0]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!((s, content), (200, Value::String("Tak for brevet.".into())));
    // The rest wait for an operator, each once, saying why.
    let inbox = w.engine.journal().inbox(false).await.unwrap();
    let mut refs: Vec<&str> = inbox.iter().map(|i| i.reference.as_str()).collect();
    refs.sort();
    let mut expected: Vec<&str> = example_uuids
        .iter()
        .map(String::as_str)
        .chain([stranger_uuid.as_str()])
        .collect();
    expected.sort();
    assert_eq!(refs, expected);
    assert!(
        inbox
            .iter()
            .all(|i| i.kind == knudepunkt_case::inbound::UNMATCHED)
    );
    let stranger_item = inbox.iter().find(|i| i.reference == stranger_uuid).unwrap();
    assert!(
        stranger_item.detail.contains("not that case's citizen"),
        "{}",
        stranger_item.detail
    );
    w.engine.shutdown(workers).await;
}

/// A status that names the transaction but not the messageUUID still finds its letter.
async fn a_status_found_by_its_transaction_id(backend: Backend) {
    let w = world(backend, "dp-transaction", Duration::from_secs(600)).await;
    let (workers, _, _, id) = a_letter(&w).await;
    common::expect_state(
        w.engine.journal(),
        id,
        MessageState::Accepted,
        Duration::from_secs(10),
    )
    .await;
    let transaction =
        w.engine.journal().get(id).await.unwrap().external_ids["serviceplatformen_transaction_id"]
            .clone();
    assert_eq!(transaction, id.to_string());
    let status = knudepunkt_adapters::digital_post::status::status_message(
        "not-the-uuid",
        &transaction,
        true,
        None,
    );
    let r = pusher()
        .post(&w.status_url)
        .body(status)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    common::expect_state(
        w.engine.journal(),
        id,
        MessageState::Delivered,
        Duration::from_secs(5),
    )
    .await;
    assert!(w.engine.journal().inbox(false).await.unwrap().is_empty());
    w.engine.shutdown(workers).await;
}

/// The same letter through SF1600 PrintService, chosen by the route alone: signed with
/// the STS's holder-of-key assertion, valid against the SF1600 schema, accepted, then
/// delivered by its status; "recipient not found" is a SOAP fault and permanent.
async fn printservice_is_a_route_setting(backend: Backend) {
    let w = world_with(
        backend,
        "dp-sf1600",
        Duration::from_millis(300),
        "routes-sf1600",
    )
    .await;
    let (workers, c, case_id, id) = a_letter(&w).await;
    common::expect_state(
        w.engine.journal(),
        id,
        MessageState::Delivered,
        Duration::from_secs(10),
    )
    .await;
    let m = w.engine.journal().get(id).await.unwrap();
    assert_eq!(
        m.external_ids["memo_message_uuid"],
        m.idempotency_key.as_str()
    );
    notice(&w, &c, &case_id, "letter_dispatched").await;
    let print = &w.sandbox.handles.print;
    let stats = print.recorder.stats();
    assert_eq!((stats.unique, stats.invalid), (1, 0), "{stats:?}");
    assert_eq!(
        w.sandbox.handles.digital_post.recorder.stats().raw_requests,
        0
    );
    let xsd = knudepunkt_engine::schema_dir::locate()
        .unwrap()
        .path
        .join("sf1600/PrintServiceMsg.xsd");
    for r in print.recorder.received(10) {
        knudepunkt_engine::transform::xsd::validate(&xsd, r.body.as_bytes()).unwrap();
        // The schema is really applied (SF1600 spreads its namespaces over many files).
        let wrong = r.body.replace(">A</", ">X</");
        let e = knudepunkt_engine::transform::xsd::validate(&xsd, wrong.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("Kanalvalg"), "{e}");
    }
    // A recipient the service does not know: permanent, no retry.
    w.sandbox
        .handles
        .digital_post
        .unknown_recipient("0101901234");
    let case2 = open_case(&c, false).await;
    decide(&c, &case2).await;
    let second = letter_of(&w, &case2).await;
    common::expect_state(
        w.engine.journal(),
        second,
        MessageState::Dead,
        Duration::from_secs(10),
    )
    .await;
    let dead = w.engine.journal().get(second).await.unwrap();
    assert_eq!(dead.attempts, 1);
    assert!(
        dead.last_error
            .as_deref()
            .unwrap_or("")
            .contains("Modtager findes ikke"),
        "{:?}",
        dead.last_error
    );
    w.engine.shutdown(workers).await;
}

/// A reply that names no case, only the letter it answers (ReplyData messageUUID), is
/// journalised on that letter's case.
async fn a_reply_found_by_its_letter_alone(backend: Backend) {
    use knudepunkt_adapters::digital_post::{afhentning::Afhentning, memo};
    let w = world(backend, "dp-reply-letter", Duration::from_millis(100)).await;
    let (workers, c, case_id, id) = a_letter(&w).await;
    let letter_uuid = w.engine.journal().get(id).await.unwrap().idempotency_key;
    let reply = memo::reply_to(
        letter_uuid.as_str(),
        &case_id,
        &common::case::CPR.replace('-', ""),
        "Anna Jensen",
        "64942212",
        "Svar uden sagsnummer.",
    );
    // Without ContentData and ReplyData/caseID: only the letter's messageUUID is left.
    let start = reply.find("<memo:ContentData>").unwrap();
    let end = reply.find("</memo:ContentData>").unwrap() + "</memo:ContentData>".len();
    let reply = format!("{}{}", &reply[..start], &reply[end..])
        .replace(&format!("<memo:caseID>{case_id}</memo:caseID>"), "");
    assert!(!reply.contains(&case_id));
    w.sandbox.handles.mailbox.deliver(reply.as_bytes()).unwrap();
    let report = Afhentning::new(w.engine.clone())
        .unwrap()
        .system_fetch(&knudepunkt_engine::schedule::Quiet)
        .await
        .unwrap();
    assert_eq!((report.taken, report.acknowledged), (1, 1), "{report:?}");
    settled(&w, "test.digitalpost.inbound", 1).await;
    let case = notice(&w, &c, &case_id, "mail_received").await;
    assert!(case.to_string().contains("Indgående post"), "{case}");
    assert!(w.engine.journal().inbox(false).await.unwrap().is_empty());
    w.engine.shutdown(workers).await;
}

/// A route that asks PostForespoerg first records the answer on the letter; with
/// KombiValgKode "Digital Post" a recipient who is not registered cannot be reached, so
/// the letter fails at once and KombiPostAfsend never sees it.
async fn postforespoerg_is_asked_and_its_answer_recorded(backend: Backend) {
    let w = world_with(
        backend,
        "dp-forespoerg",
        Duration::from_millis(100),
        "routes-postforespoerg-digital",
    )
    .await;
    let (workers, c, _case_id, id) = a_letter(&w).await;
    common::expect_state(
        w.engine.journal(),
        id,
        MessageState::Delivered,
        Duration::from_secs(10),
    )
    .await;
    let m = w.engine.journal().get(id).await.unwrap();
    assert_eq!(m.external_ids["digitalpost_tilmeldt"], "true", "{m:?}");
    let asked = w.sandbox.handles.forespoerg.stats();
    assert_eq!((asked.asked, asked.registered), (1, 1), "{asked:?}");

    w.sandbox
        .handles
        .forespoerg
        .not_registered(&common::case::CPR.replace('-', ""));
    let case2 = open_case(&c, false).await;
    decide(&c, &case2).await;
    let second = letter_of(&w, &case2).await;
    common::expect_state(
        w.engine.journal(),
        second,
        MessageState::Dead,
        Duration::from_secs(10),
    )
    .await;
    let dead = w.engine.journal().get(second).await.unwrap();
    let error = dead.last_error.unwrap_or_default();
    assert!(
        error.contains("citizen (CPR) is not registered for Digital Post"),
        "{error}"
    );
    assert!(
        !error.contains(&common::case::CPR.replace('-', "")),
        "{error}"
    );
    assert_eq!(dead.attempts, 1, "no retry");
    notice(&w, &c, &case2, "letter_failed").await;
    let kombi = w.sandbox.handles.digital_post.recorder.stats();
    assert_eq!(
        kombi.raw_requests, 1,
        "only the first letter was sent: {kombi:?}"
    );
    w.engine.shutdown(workers).await;
}

/// With "Automatisk Valg" a recipient who is not registered still gets the letter
/// (Serviceplatformen prints it); the answer "false" is on the message.
async fn an_unregistered_recipient_is_sent_to_with_automatic_choice(backend: Backend) {
    let w = world_with(
        backend,
        "dp-forespoerg-auto",
        Duration::from_millis(100),
        "routes-postforespoerg-auto",
    )
    .await;
    w.sandbox
        .handles
        .forespoerg
        .not_registered(&common::case::CPR.replace('-', ""));
    let (workers, _c, _case_id, id) = a_letter(&w).await;
    common::expect_state(
        w.engine.journal(),
        id,
        MessageState::Delivered,
        Duration::from_secs(10),
    )
    .await;
    let m = w.engine.journal().get(id).await.unwrap();
    assert_eq!(m.external_ids["digitalpost_tilmeldt"], "false", "{m:?}");
    assert_eq!(w.sandbox.handles.forespoerg.stats().not_registered, 1);
    every_memo_validates(&w);
    w.engine.shutdown(workers).await;
}

on_both_backends!(
    postforespoerg_is_asked_and_its_answer_recorded,
    an_unregistered_recipient_is_sent_to_with_automatic_choice,
    a_reply_found_by_its_letter_alone,
    printservice_is_a_route_setting,
    a_status_found_by_its_transaction_id,
    inbound_memos_are_journalised_or_inboxed_once,
    accepted_then_delivered_then_the_deadline,
    recipient_not_found_is_permanent,
    three_timeouts_then_exactly_once,
    a_failed_status_and_an_expired_token,
    the_status_endpoint_answers_20_and_40,
);
