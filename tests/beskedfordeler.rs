//! Beskedfordeler end to end on the local RabbitMQ (the sandbox's vhost `beskedfordeler`,
//! made by scripts/rabbitmq): a case event goes out as a Haendelsesbesked that validates
//! against Beskedkuvert.xsd and reaches a subscriber's dueslag; a CPR change placed in
//! Knudepunkt's dueslag refreshes the citizen once, even delivered twice; a type no
//! route takes, and a message that does not read, land in the operator inbox; and the
//! subscriptions follow the routes.

mod common;

use std::time::{Duration, Instant};

use common::Backend;
use common::case::{CPR, actor, anna, ctx};
use futures::StreamExt;
use knudepunkt_adapters::beskedfordeler::{self as bf, simulator::Abonnement, subscriptions};
use knudepunkt_case::cases::NewCase;
use knudepunkt_engine::message::MessageState;
use lapin::options::{BasicAckOptions, BasicConsumeOptions};
use lapin::types::FieldTable;

/// The queues are the broker's, shared by the tests of both backends: one at a time.
static BROKER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const DUESLAG: &str = "dueslag.knudepunkt";
const PARTNER: &str = "dueslag.test-partner";
const CPR_TYPE: &str = "4c1c266a-fb06-5e0c-a717-5c1258a7c556";

fn broker_url() -> String {
    std::env::var("KNUDEPUNKT_TEST_BESKEDFORDELER_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/beskedfordeler".into())
}

fn kuvert_xsd() -> std::path::PathBuf {
    knudepunkt_engine::schema_dir::locate()
        .expect("the schema directory (../shared/formats)")
        .path
        .join(bf::XSD)
}

fn new_case(confidential: bool) -> NewCase {
    NewCase {
        cpr: CPR.into(),
        title: if confidential {
            "Fortrolig"
        } else {
            "Bostøtte"
        }
        .into(),
        kle: "27.36.12".into(),
        action_facet: "G01".into(),
        case_type: "Voksenhandicap".into(),
        org_unit_id: "bch".into(),
        caseworker_id: "leder1".into(),
        confidential,
    }
}

/// A CPR change as another system puts it on Beskedfordeler.
fn cpr_change(besked_id: &str, beskedtype: &str, given: &str, address: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><b:Haendelsesbesked xmlns:b="urn:oio:besked:kuvert:1.0" xmlns="urn:oio:sagdok:3.0.0"><b:BeskedId><UUIDIdentifikator>{besked_id}</UUIDIdentifikator></b:BeskedId><b:BeskedVersion>1.0</b:BeskedVersion><b:Beskedkuvert><b:Filtreringsdata><b:Beskedtype><UUIDIdentifikator>{beskedtype}</UUIDIdentifikator></b:Beskedtype><b:TilladtModtager><URNIdentifikator>urn:oio:cvr-nr:64942212</URNIdentifikator></b:TilladtModtager><b:RelateretObjekt><b:ObjektId><URNIdentifikator>urn:oio:cpr-nr:0101901234</URNIdentifikator></b:ObjektId><b:ObjektType><UUIDIdentifikator>ce7fcf97-a8a2-447a-8690-d38aa0f6e23c</UUIDIdentifikator></b:ObjektType></b:RelateretObjekt></b:Filtreringsdata><b:Leveranceinformation><b:Dannelsestidspunkt><TidsstempelDatoTid>2026-11-27T10:00:00Z</TidsstempelDatoTid></b:Dannelsestidspunkt></b:Leveranceinformation></b:Beskedkuvert><b:Beskeddata><cpr:PersonAendret xmlns:cpr="urn:knudepunkt:cpr:haendelse:1"><cpr:Fornavn>{given}</cpr:Fornavn><cpr:Efternavn>Jensen</cpr:Efternavn><cpr:Adresse>{address}</cpr:Adresse></cpr:PersonAendret></b:Beskeddata></b:Haendelsesbesked>"#
    )
}

async fn idle(engine: &knudepunkt_engine::Engine) {
    common::wait_all_settled(engine.journal()).await
}

async fn a_case_event_reaches_a_subscriber_as_a_valid_haendelsesbesked(backend: Backend) {
    let _one = BROKER.lock().await;
    let (sandbox, engine, core) =
        common::case::engine_with_core(backend, "bf-publish", "routes-beskedfordeler").await;
    let sim = &sandbox.handles.beskedfordeler;
    sim.attach(&broker_url(), &[DUESLAG, PARTNER])
        .await
        .unwrap();
    let created = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        b"knudepunkt:beskedtype:case.created",
    )
    .to_string();
    assert!(sim.subscribe(Abonnement {
        dueslag: PARTNER.into(),
        beskedtype: created.clone(),
        beskrivelse: "a partner system takes new cases".into(),
    }));
    let workers = engine.start();
    let leder = actor(&core, "leder1").await;
    core.register_citizen(&ctx(&leder), &anna()).await.unwrap();
    let case = core
        .create_case(&ctx(&leder), &new_case(false))
        .await
        .unwrap();
    let secret = core
        .create_case(&ctx(&leder), &new_case(true))
        .await
        .unwrap();
    idle(&engine).await;
    let sent = common::messages_of(engine.journal(), "beskedfordeler.haendelse").await;
    assert_eq!(sent.len(), 1, "one event, the confidential case's none");
    assert_eq!(
        sent[0].state,
        MessageState::Delivered,
        "{:?}",
        sent[0].last_error
    );
    assert_eq!(
        sent[0].correlation_id.as_deref(),
        Some(case.case.id.as_str())
    );

    // The partner's dueslag receives it, and it validates against Beskedkuvert.xsd.
    let conn = bf::connect(&broker_url()).await.unwrap();
    let channel = conn.create_channel().await.unwrap();
    let mut partner = channel
        .basic_consume(
            PARTNER.into(),
            "test".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let delivery = tokio::time::timeout(Duration::from_secs(10), partner.next())
        .await
        .expect("the partner's dueslag got the message")
        .unwrap()
        .unwrap();
    delivery.ack(BasicAckOptions::default()).await.unwrap();
    knudepunkt_engine::transform::xsd::validate(&kuvert_xsd(), &delivery.data)
        .expect("the Haendelsesbesked validates against Beskedkuvert.xsd");
    let besked = bf::besked::parse(&delivery.data).unwrap();
    assert_eq!(besked.beskedtype, created);
    assert_eq!(besked.cprs, ["0101901234"]);
    assert_eq!(besked.kle, ["27.36.12"]);
    assert_eq!(besked.tilladte_modtagere, ["urn:oio:cvr-nr:64942212"]);
    assert_eq!(
        sent[0].external_ids.get(bf::publisher::BESKED_ID),
        Some(&besked.besked_id),
        "the BeskedId is the idempotency key"
    );
    assert_eq!(
        delivery
            .properties
            .message_id()
            .as_ref()
            .map(|m| m.as_str()),
        Some(besked.besked_id.as_str())
    );
    let text = String::from_utf8_lossy(&delivery.data);
    assert!(!text.contains(&secret.case.id));
    let stats = sim.recorder.stats();
    assert_eq!((stats.unique, stats.invalid), (1, 0));
    engine.shutdown(workers).await;
}

async fn a_cpr_change_refreshes_the_citizen_once(backend: Backend) {
    let _one = BROKER.lock().await;
    let (sandbox, engine, core) =
        common::case::engine_with_core(backend, "bf-receive", "routes-beskedfordeler").await;
    let sim = &sandbox.handles.beskedfordeler;
    sim.attach(&broker_url(), &[DUESLAG]).await.unwrap();

    // The subscriptions follow the routes: the CPR route's type is added, then kept.
    let service = format!("http://{}/beskedfordeler/abonnementer", sandbox.addr);
    let http = reqwest::Client::new();
    sim.subscribe(Abonnement {
        dueslag: DUESLAG.into(),
        beskedtype: uuid::Uuid::new_v4().to_string(),
        beskrivelse: "left over".into(),
    });
    let wanted = subscriptions::desired(engine.routes(), DUESLAG);
    assert_eq!(wanted.len(), 1, "{wanted:?}");
    assert_eq!(wanted[0].beskedtype, CPR_TYPE);
    let done = subscriptions::reconcile(&http, &service, DUESLAG, &wanted, false)
        .await
        .unwrap();
    assert_eq!(
        (done.added.len(), done.removed.len(), done.kept.len()),
        (1, 1, 0)
    );
    let again = subscriptions::reconcile(&http, &service, DUESLAG, &wanted, false)
        .await
        .unwrap();
    assert_eq!(
        (again.added.len(), again.removed.len(), again.kept.len()),
        (0, 0, 1)
    );
    assert_eq!(sim.dueslag_for(CPR_TYPE), [DUESLAG]);

    let workers = engine.start();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let consumer = tokio::spawn(bf::dueslag::run(
        engine.clone(),
        bf::amqp::Broker::plain(&broker_url()),
        DUESLAG.into(),
        stopped,
    ));
    let leder = actor(&core, "leder1").await;
    core.register_citizen(&ctx(&leder), &anna()).await.unwrap();
    core.create_case(&ctx(&leder), &new_case(false))
        .await
        .unwrap();

    // The same change twice (Beskedfordeler delivers at least once).
    let id = uuid::Uuid::new_v4().to_string();
    let change = cpr_change(&id, CPR_TYPE, "Anne", "Nyvej 2, 2300 København S");
    knudepunkt_engine::transform::xsd::validate(&kuvert_xsd(), change.as_bytes()).unwrap();
    sim.put_in_dueslag(DUESLAG, change.as_bytes())
        .await
        .unwrap();
    sim.put_in_dueslag(DUESLAG, change.as_bytes())
        .await
        .unwrap();
    // A type no route takes, and a message that does not read.
    let stranger = cpr_change(
        &uuid::Uuid::new_v4().to_string(),
        &uuid::Uuid::new_v4().to_string(),
        "X",
        "Y",
    );
    sim.put_in_dueslag(DUESLAG, stranger.as_bytes())
        .await
        .unwrap();
    sim.put_in_dueslag(DUESLAG, b"<not-a-besked/>")
        .await
        .unwrap();

    let until = Instant::now() + Duration::from_secs(20);
    let inbox = loop {
        let inbox = engine.journal().inbox(false).await.unwrap();
        if inbox.len() >= 2 || Instant::now() > until {
            break inbox;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    idle(&engine).await;
    let taken = common::messages_of(engine.journal(), "beskedfordeler.cpr").await;
    assert_eq!(taken.len(), 1, "taken once though delivered twice");
    assert_eq!(
        taken[0].state,
        MessageState::Delivered,
        "{:?}",
        taken[0].last_error
    );
    assert_eq!(taken[0].idempotency_key, id);
    let citizen = core
        .citizen(&ctx(&leder), &knudepunkt_case::Cpr::parse(CPR).unwrap())
        .await
        .unwrap();
    assert_eq!(citizen.given_name, "Anne");
    assert_eq!(
        citizen.address.as_deref(),
        Some("Nyvej 2, 2300 København S")
    );
    let kinds: Vec<&str> = inbox.iter().map(|i| i.kind.as_str()).collect();
    assert!(kinds.contains(&bf::UNROUTED), "{kinds:?}");
    assert!(kinds.contains(&bf::dueslag::INVALID), "{kinds:?}");

    // Pushed instead (ModtagBeskedInput, as Beskedfordeler pushes over mTLS): taken the
    // same way, answered with StatusKode 20, a repeat too, and 40 for what does not read.
    let push = knudepunkt_adapters::digital_post::status::router(engine.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}{}",
        listener.local_addr().unwrap(),
        bf::MODTAG_PATH
    );
    tokio::spawn(async move { axum::serve(listener, push).await.unwrap() });
    let pushed = cpr_change(
        &uuid::Uuid::new_v4().to_string(),
        CPR_TYPE,
        "Annie",
        "Nyvej 2, 2300 København S",
    );
    let input = format!(
        r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><sts:ModtagBeskedInput xmlns:sts="urn:oio:sts:1.0.0">{}</sts:ModtagBeskedInput></soap:Body></soap:Envelope>"#,
        pushed.trim_start_matches(r#"<?xml version="1.0" encoding="UTF-8"?>"#)
    );
    for _ in 0..2 {
        let answer = http.post(&url).body(input.clone()).send().await.unwrap();
        assert_eq!(answer.status(), 200);
        assert!(
            answer
                .text()
                .await
                .unwrap()
                .contains("<sd:StatusKode>20</sd:StatusKode>")
        );
    }
    let refused = http.post(&url).body("<nothing/>").send().await.unwrap();
    assert_eq!(refused.status(), 400);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("<sd:StatusKode>40</sd:StatusKode>")
    );
    idle(&engine).await;
    assert_eq!(
        common::messages_of(engine.journal(), "beskedfordeler.cpr")
            .await
            .len(),
        2
    );
    let citizen = core
        .citizen(&ctx(&leder), &knudepunkt_case::Cpr::parse(CPR).unwrap())
        .await
        .unwrap();
    assert_eq!(citizen.given_name, "Annie");

    let _ = stop.send(true);
    let _ = consumer.await;
    engine.shutdown(workers).await;
}

on_both_backends!(
    a_case_event_reaches_a_subscriber_as_a_valid_haendelsesbesked,
    a_cpr_change_refreshes_the_citizen_once,
);

/// Where scripts/rabbitmq keeps the TLS listener's test CA (its certificate and key).
fn broker_ca_dir() -> std::path::PathBuf {
    std::env::var_os("KNUDEPUNKT_TEST_AMQPS_CA_DIR")
        .map(Into::into)
        .unwrap_or_else(|| "/etc/rabbitmq/knudepunkt-tls".into())
}

/// The real Beskedfordeler's way in, against the local RabbitMQ's TLS listener (5671,
/// client certificate required, SASL EXTERNAL): the profile's endpoints are `amqps` with
/// the services' entity ids, so Knudepunkt gets a SAML assertion for each from the STS
/// and logs in with it over TLS with its client certificate. A case event goes out and a
/// CPR change comes in that way.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_real_services_way_in_tls_with_a_saml_token() {
    use knudepunkt_adapters::sandbox::certs::SandboxCertificates;
    use knudepunkt_adapters::serviceplatformen::security::credentials::Credential;
    use knudepunkt_adapters::serviceplatformen::security::issuing::CertificateAuthority;
    let _one = BROKER.lock().await;
    let dir = broker_ca_dir();
    let read = |f: &str| {
        std::fs::read(dir.join(f)).unwrap_or_else(|e| {
            panic!(
                "the test broker's CA ({}): {e}; scripts/rabbitmq makes it",
                dir.join(f).display()
            )
        })
    };
    let ca = CertificateAuthority {
        credential: Credential::from_pem(&read("ca.pem"), &read("ca.key")).unwrap(),
    };
    // The sandbox's certificates, from the CA the broker trusts: the client certificate
    // is the one the STS knows and the broker takes.
    let certs = SandboxCertificates::issued_by(ca).unwrap();
    let (router, handles) = knudepunkt_adapters::sandbox::router_with(&certs);
    let (addr, _) = knudepunkt_adapters::sandbox::serve("127.0.0.1:0", router)
        .await
        .unwrap();
    let env = common::dev_environment_with(addr, &certs);
    let profile = env.join("dev.yaml");
    let plain =
        "\"${KNUDEPUNKT_BESKEDFORDELER_URL:-amqp://guest:guest@127.0.0.1:5672/beskedfordeler}\"";
    let yaml = std::fs::read_to_string(&profile)
        .unwrap()
        .replacen(
            &format!("  beskedfordeler:\n    url: {plain}"),
            "  beskedfordeler:\n    url: \"amqps://localhost:5671/beskedfordeler\"\n    entity_id: \"http://entityid.kombit.dk/service/bfo_afsend/2\"",
            1,
        )
        .replacen(
            &format!("  beskedfordeler-dueslag:\n    url: {plain}"),
            "  beskedfordeler-dueslag:\n    url: \"amqps://localhost:5671/beskedfordeler\"\n    entity_id: \"http://entityid.kombit.dk/service/bfo_modtag/2\"",
            1,
        )
        .replacen(
            "serviceplatformen:\n",
            &format!(
                "serviceplatformen:\n  trust: [\"{}\"]\n",
                env.join("certs/ca.pem").display()
            ),
            1,
        );
    assert_eq!(yaml.matches("url: \"amqps://").count(), 2, "{yaml}");
    std::fs::write(&profile, yaml).unwrap();
    let (engine, core) =
        common::case::engine_with_core_on(&env, Backend::Sqlite, "bf-tls", "routes-beskedfordeler")
            .await;
    let sim = &handles.beskedfordeler;
    sim.attach(&broker_url(), &[DUESLAG]).await.unwrap();
    sim.subscribe(Abonnement {
        dueslag: DUESLAG.into(),
        beskedtype: CPR_TYPE.into(),
        beskrivelse: "CPR changes".into(),
    });
    let before = sim.recorder.stats().unique;
    let workers = engine.start();
    let environment = &engine.routes().environment;
    let endpoint = environment.endpoint(bf::DUESLAG_ENDPOINT).unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let consumer = tokio::spawn(bf::dueslag::run(
        engine.clone(),
        bf::amqp::Broker::of(endpoint, &knudepunkt_adapters::access_for(environment)),
        DUESLAG.into(),
        stopped,
    ));

    // Out: a case event, published over TLS.
    let leder = actor(&core, "leder1").await;
    core.register_citizen(&ctx(&leder), &anna()).await.unwrap();
    core.create_case(&ctx(&leder), &new_case(false))
        .await
        .unwrap();
    idle(&engine).await;
    let sent = common::messages_of(engine.journal(), "beskedfordeler.haendelse").await;
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].state,
        MessageState::Delivered,
        "{:?}",
        sent[0].last_error
    );
    let until = Instant::now() + Duration::from_secs(10);
    while sim.recorder.stats().unique == before && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        sim.recorder.stats().unique,
        before + 1,
        "the distributor has it"
    );

    // In: a CPR change from the dueslag, taken over TLS.
    let change = cpr_change(
        &uuid::Uuid::new_v4().to_string(),
        CPR_TYPE,
        "Anne",
        "Tlsvej 5, 2300 København S",
    );
    sim.put_in_dueslag(DUESLAG, change.as_bytes())
        .await
        .unwrap();
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let citizen = core
            .citizen(&ctx(&leder), &knudepunkt_case::Cpr::parse(CPR).unwrap())
            .await
            .unwrap();
        if citizen.address.as_deref() == Some("Tlsvej 5, 2300 København S") {
            break;
        }
        assert!(Instant::now() < until, "the change did not arrive over TLS");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Each way in had its own token, for its own service.
    assert!(
        handles
            .sts
            .issued_for("http://entityid.kombit.dk/service/bfo_afsend/2")
            >= 1
    );
    assert!(
        handles
            .sts
            .issued_for("http://entityid.kombit.dk/service/bfo_modtag/2")
            >= 1
    );

    // Without a client certificate the broker lets nobody in.
    let anonymous = lapin::Connection::connect_with_config(
        "amqps://localhost:5671/beskedfordeler?auth_mechanism=external",
        lapin::ConnectionProperties::default(),
        lapin::tcp::OwnedTLSConfig {
            identity: None,
            cert_chain: Some(
                String::from_utf8(certs.ca.credential.certificate.to_pem().unwrap()).unwrap(),
            ),
        },
        lapin::runtime::default_runtime().unwrap(),
    )
    .await;
    assert!(anonymous.is_err(), "connected without a client certificate");

    let _ = stop.send(true);
    let _ = consumer.await;
    engine.shutdown(workers).await;
}
