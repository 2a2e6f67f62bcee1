//! CPR lookups (SF1520 PersonLookup) on SQLite and PostgreSQL, against the sandbox's CPR
//! over OIO IDWS: a lookup fills the citizen (name, address and its history,
//! municipality, relations, protection, Digital Post) and lists what CPR did not give;
//! a protected address is shown only to a role with the right; citizens outside the
//! municipality and abroad are looked up too; an unknown number is a clear 404 with the
//! number masked; the service's errors are classified; every lookup is audited with its
//! purpose; the nightly refresh looks the due citizens up again.

mod common;

use std::sync::Arc;

use common::Backend;
use common::case::{As, SECRET, actor};
use knudepunkt_adapters::cpr::CprClient;
use knudepunkt_adapters::cpr::person::{Address, Guardian, Name, PastAddress, Person, Relative};
use knudepunkt_adapters::sandbox::{Fault, FaultKind};
use knudepunkt_engine::schedule::Quiet;
use sqlx::Row;

fn protected_person() -> Person {
    Person {
        cpr: "0101901234".into(),
        name: Some(Name {
            addressing: "Østergaard,Åse Marie".into(),
            given: Some("Åse".into()),
            middle: Some("Marie".into()),
            family: Some("Østergaard".into()),
        }),
        birth_date: Some("1990-01-01".into()),
        status: Some(1),
        address: Some(Address {
            municipality_code: Some(101),
            street: Some("Nørrebrogade".into()),
            house_number: Some("12".into()),
            floor: Some("3".into()),
            door: Some("tv".into()),
            postcode: Some("2200".into()),
            city: Some("København N".into()),
            moved_in: Some("2019-03-01".into()),
        }),
        address_history: vec![PastAddress {
            municipality_code: Some(147),
            street: Some("Gammel Kongevej".into()),
            house_number: Some("7".into()),
            postcode: Some("1850".into()),
            city: Some("Frederiksberg C".into()),
            moved_in: Some("2012-08-01".into()),
            moved_out: Some("2019-03-01".into()),
        }],
        address_protected: Some(true),
        digital_post: Some(true),
        spouse: Some(Relative {
            cpr: Some("0202891234".into()),
            ..Default::default()
        }),
        children: vec!["0303151234".into()],
        guardian: Some(Guardian {
            cpr: Some("0606651234".into()),
            name: Some("Advokat Hansen".into()),
            since: Some("2021-06-01".into()),
        }),
        ..Default::default()
    }
}

async fn a_lookup_fills_the_citizen(backend: Backend) {
    let (sandbox, engine, core) =
        common::case::engine_with_core(backend, "cpr", "routes-dst").await;
    let client = CprClient::for_environment(&engine.routes().environment).unwrap();
    core.set_person_register(Arc::new(common::cpr_register::CprRegister(client)));
    let cpr = &sandbox.handles.cpr;
    cpr.put(protected_person());
    let app = knudepunkt_case::api::router(
        core.clone(),
        Arc::new(knudepunkt_case::api::SignedTokens::new(SECRET, true)),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let leder = As::at(&base, "leder1");
    let aktoer = As::at(&base, "aktoer1");

    // A role with the right to see protected addresses sees it all.
    let (s, c) = leder
        .post(
            "/api/v1/citizens/cpr-lookup",
            serde_json::json!({"cpr": "010190-1234"}),
        )
        .await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["name"], "Åse Marie Østergaard");
    assert_eq!(c["address"], "Nørrebrogade 12, 3. tv., 2200 København N");
    assert_eq!(c["municipality_code"], 101);
    assert_eq!(c["address_protected"], true);
    assert_eq!(c["address_hidden"], false);
    assert_eq!(c["digital_post"], true);
    assert_eq!(c["cpr_status"], "1");
    assert_eq!(
        c["address_history"][0],
        "Gammel Kongevej 7 1850 Frederiksberg C (2012-08-01 – 2019-03-01)"
    );
    let kinds: Vec<&str> = c["relations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["spouse", "child", "guardian"]);
    assert_eq!(c["relations"][2]["name"], "Advokat Hansen");
    assert_eq!(c["unavailable"], serde_json::json!(["foster_children"]));
    // A role without the right never sees the protected address.
    let (s, hidden) = aktoer
        .post(
            "/api/v2/citizens/cpr-lookup",
            serde_json::json!({"cpr": "010190-1234"}),
        )
        .await;
    assert_eq!(s, 200, "{hidden}");
    assert_eq!(hidden["name"]["given"], "Åse Marie");
    assert!(hidden["address"].is_null(), "{hidden}");
    assert_eq!(hidden["address_history"], serde_json::json!([]));
    assert_eq!(hidden["address_hidden"], true);
    assert!(!hidden.to_string().contains("Nørrebrogade"), "{hidden}");

    // Citizens who live elsewhere, and abroad, are looked up too.
    let elsewhere = (0..500)
        .map(|i| format!("1203{:02}{:04}", 60 + i % 30, 1000 + i))
        .find(|n| {
            cpr.person(n).is_some_and(|p| {
                p.address
                    .as_ref()
                    .is_some_and(|a| a.municipality_code != Some(101))
                    && p.address_protected == Some(false)
            })
        })
        .unwrap();
    let (s, other) = leder
        .post(
            "/api/v1/citizens/cpr-lookup",
            serde_json::json!({"cpr": elsewhere}),
        )
        .await;
    assert_eq!(s, 200, "{other}");
    assert_ne!(other["municipality_code"], 101);
    assert!(other["address"].is_string());
    let abroad = (0..2000)
        .map(|i| format!("1505{:02}{:04}", 50 + i % 40, 1000 + i))
        .find(|n| cpr.person(n).is_some_and(|p| p.abroad.is_some()))
        .unwrap();
    let (s, away) = leder
        .post(
            "/api/v1/citizens/cpr-lookup",
            serde_json::json!({"cpr": abroad}),
        )
        .await;
    assert_eq!(s, 200, "{away}");
    assert_eq!(away["cpr_status"], "80");
    assert!(away["address"].as_str().unwrap().contains("Malmö"));
    assert_eq!(
        away["unavailable"],
        serde_json::json!(["municipality", "foster_children"])
    );

    // An unknown number: a clear 404, the number masked.
    let (s, unknown) = leder
        .post(
            "/api/v1/citizens/cpr-lookup",
            serde_json::json!({"cpr": "0101909912"}),
        )
        .await;
    assert_eq!(s, 404, "{unknown}");
    assert!(
        unknown["detail"].as_str().unwrap().contains("010190-****"),
        "{unknown}"
    );
    assert!(!unknown.to_string().contains("9912"));

    // The service's errors, classified: its 503 is transient (503), a refusal of the
    // caller's permanent (502).
    cpr.faults.push(Fault {
        kind: FaultKind::Status {
            status: 503,
            retry_after: None,
        },
        count: 1,
    });
    let (s, busy) = leder
        .post(
            "/api/v1/citizens/cpr-lookup",
            serde_json::json!({"cpr": "0101901234"}),
        )
        .await;
    assert_eq!(s, 503, "{busy}");
    cpr.faults.push(Fault {
        kind: FaultKind::SoapFault {
            code: "Client".into(),
            reason: "ugyldig forespørgsel".into(),
        },
        count: 1,
    });
    let (s, refused) = leder
        .post(
            "/api/v1/citizens/cpr-lookup",
            serde_json::json!({"cpr": "0101901234"}),
        )
        .await;
    assert_eq!(s, 502, "{refused}");
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("ugyldig forespørgsel")
    );
    let (s, bad) = leder
        .post(
            "/api/v1/citizens/cpr-lookup",
            serde_json::json!({"cpr": "01019"}),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(bad["field"], "cpr");

    // Every lookup is audited with its purpose, failed ones too.
    let audited: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM case_audit_log WHERE resource = 'cpr-lookup' AND cpr = '0101901234' AND purpose <> ''",
    )
    .fetch_one(engine.journal().pool())
    .await
    .unwrap()
    .try_get("n")
    .unwrap();
    assert_eq!(audited, 4);

    // The nightly refresh looks the citizens with open cases up again; a CPR change
    // event makes one due at once.
    let leder_actor = actor(&core, "leder1").await;
    let case: knudepunkt_case::cases::NewCase = serde_json::from_value(serde_json::json!({
        "cpr": "0101901234", "title": "Støtte", "kle": "27.36.12", "action_facet": "G01",
        "case_type": "Voksenhandicap", "org_unit_id": "bch", "caseworker_id": "leder1",
        "confidential": false,
    }))
    .unwrap();
    core.create_case(&common::case::ctx(&leder_actor), &case)
        .await
        .unwrap();
    let day_ago = knudepunkt_engine::message::now_ms() - 24 * 3600 * 1000;
    let (due, _) = core
        .refresh_from_cpr(day_ago, 100, true, &Quiet)
        .await
        .unwrap();
    assert_eq!(due, 0, "looked up just now");
    core.apply_cpr_change(&knudepunkt_case::citizen_changes::CprChange {
        besked_id: "b-1".into(),
        cpr: "0101901234".into(),
        given_name: None,
        family_name: Some("Østergaard-Hansen".into()),
        address: None,
    })
    .await
    .unwrap();
    let mut changed = protected_person();
    changed.name.as_mut().unwrap().family = Some("Østergaard-Hansen".into());
    changed.digital_post = Some(false);
    cpr.put(changed);
    let (refreshed, failed) = core
        .refresh_from_cpr(day_ago, 100, false, &Quiet)
        .await
        .unwrap();
    assert_eq!((refreshed, failed.len()), (1, 0));
    let (_, now) = leder
        .post(
            "/api/v1/citizens/lookup",
            serde_json::json!({"cpr": "0101901234"}),
        )
        .await;
    assert_eq!(now["name"], "Åse Marie Østergaard-Hansen");
    assert_eq!(now["digital_post"], false);
    assert!(
        sandbox
            .handles
            .sts
            .issued_for(knudepunkt_adapters::cpr::ENTITY_ID)
            >= 1
    );
}

on_both_backends!(a_lookup_fills_the_citizen);
