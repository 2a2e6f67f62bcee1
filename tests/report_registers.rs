//! The statutory reports on crisis-centre stays (SEL § 109), drug treatment (SMDB) and
//! alcohol treatment (NAB through SEI2), on SQLite and PostgreSQL, each end to end on
//! generated data: extracted for a month, broken records caught by name, corrected,
//! approved by a named user, sent through the route, and followed to the receiver's
//! acceptance. NAB's first submission is rejected by SEI2 with its reason; the
//! correction names it and is accepted; a course withdrawn is cancelled at SEI2.

mod common;

use common::Backend;
use common::case::{As, SECRET, actor, citizens, ctx};
use common::reports::draft;
use knudepunkt_case::error::CaseError;
use knudepunkt_case::reporting::Layout;
use knudepunkt_case::reporting::submissions::State;

fn field_of(e: CaseError) -> String {
    match e {
        CaseError::Invalid { field, .. } => field,
        other => format!("{other:?}"),
    }
}

fn layout(path: &str) -> Layout {
    Layout::load(&common::repo().join("mappings").join(path)).unwrap()
}

/// Kvindekrisecentre (§ 109): a known woman's stay with her children, an anonymous
/// stay counted without CPR, an ambulant course; a stay ended without where she went is
/// caught by name, corrected, and the month is accepted by DST.
async fn the_crisis_centre_stays_count_anonymous_women(backend: Backend) {
    use knudepunkt_case::residential::NewResidentialStay;
    let (sandbox, engine, core, workers) = common::reports::dst_world(backend, "reports-109").await;
    let leder = actor(&core, "leder1").await;
    citizens(&core, &leder, &["0101901234", "0202801234"]).await;
    let stay = |v: serde_json::Value| -> NewResidentialStay { serde_json::from_value(v).unwrap() };
    let known = core
        .register_residential_stay(
            &ctx(&leder),
            &stay(serde_json::json!({
                "section": "SEL109", "institution": "Kvindehuset", "cpr": "0101901234",
                "arrival": "2026-10-03", "housing_before": "EGEN", "children": 2,
            })),
        )
        .await
        .unwrap();
    core.end_residential_stay(&ctx(&leder), &known.id, "2026-10-20", None)
        .await
        .unwrap();
    let anonymous = core
        .register_residential_stay(
            &ctx(&leder),
            &stay(serde_json::json!({
                "section": "SEL109", "institution": "Kvindehuset",
                "arrival": "2026-09-28", "housing_before": "FAMILIE", "children": 1,
            })),
        )
        .await
        .unwrap();
    core.register_residential_stay(
        &ctx(&leder),
        &stay(serde_json::json!({
            "section": "SEL109", "institution": "Kvindehuset", "cpr": "0202801234",
            "arrival": "2026-10-10", "offer": "AMBULANT",
        })),
    )
    .await
    .unwrap();
    // Ambulant offers are the crisis centres'; a § 110 stay is never anonymous.
    let e = core
        .register_residential_stay(
            &ctx(&leder),
            &stay(serde_json::json!({
                "section": "SEL110", "institution": "Herberget", "cpr": "0202801234",
                "arrival": "2026-10-10", "offer": "AMBULANT", "housing_before": "EGEN",
            })),
        )
        .await
        .unwrap_err();
    assert_eq!(field_of(e), "offer");

    let l = layout("dst/kvindekrisecentre-109");
    let (first, findings) = draft(&core, &leder, &l, "2026-10", None).await;
    assert_eq!(first.records, 3);
    assert_eq!(
        findings,
        [
            "row 2, citizen 010190-****: BOLIG_EFTER (bolig-efter-ved-udskrivning): BOLIG_EFTER skal angives, når opholdet er afsluttet"
        ]
    );
    assert!(
        core.approve_submission(&ctx(&leder), &first.id)
            .await
            .is_err()
    );
    core.end_residential_stay(&ctx(&leder), &known.id, "2026-10-20", Some("FAMILIE"))
        .await
        .unwrap();
    let ready = common::reports::send_and_settle(&core, &leder, &l, "2026-10").await;
    assert_eq!(ready.approved_by.as_deref(), Some("leder1"));
    let at_dst = sandbox.handles.dst.upload(&ready.id).unwrap();
    assert_eq!(at_dst.report, "kvindekrisecentre-109");
    assert_eq!(at_dst.records, 3);
    let file = String::from_utf8(common::reports::sqlx_file(&engine, &ready.id).await).unwrap();
    let records = knudepunkt_case::reporting::file::read(&l, &file).unwrap();
    let anon = records
        .iter()
        .find(|r| r["OPHOLD_ID"] == anonymous.id)
        .unwrap();
    assert_eq!(anon["ANONYM"], "J");
    assert!(!anon.contains_key("CPR"), "{anon:?}");
    assert_eq!(anon["ANTAL_BOERN"], "1");
    let with_cpr = records.iter().find(|r| r["OPHOLD_ID"] == known.id).unwrap();
    assert_eq!(with_cpr["ANONYM"], "N");
    assert_eq!(with_cpr["CPR"], "0101901234");
    assert_eq!(with_cpr["ANTAL_BOERN"], "2");
    assert_eq!(with_cpr["BOLIG_EFTER"], "FAMILIE");
    let ambulant = records.iter().find(|r| r["TILBUD"] == "AMBULANT").unwrap();
    assert_eq!(ambulant["ANTAL_BOERN"], "0");
    assert!(!ambulant.contains_key("BOLIG_FOER"));
    engine.shutdown(workers).await;
}

/// Stofmisbrugsdatabasen: courses registered over the API, their waiting time counted;
/// a course without its main substance caught by name, corrected, accepted by DST; bad
/// courses refused naming the field.
async fn drug_treatment_goes_to_smdb_with_its_waiting_time(backend: Backend) {
    let (sandbox, engine, core, workers) =
        common::reports::dst_world(backend, "reports-smdb").await;
    let leder = actor(&core, "leder1").await;
    citizens(&core, &leder, &["0101901234", "0202801234", "0303701234"]).await;
    let app = knudepunkt_case::api::router(
        core.clone(),
        std::sync::Arc::new(knudepunkt_case::api::SignedTokens::new(SECRET, true)),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let c = As::at(&base, "leder1");
    let course = |cpr: &str, referred: &str, substance: Option<&str>| {
        serde_json::json!({"register": "SMDB", "cpr": cpr, "provider": "Rusmiddelcenter Nord",
                           "referred": referred, "form": "AMBULANT", "substance": substance})
    };
    // Started after 11 days; still waiting; ended in September (not October's); and one
    // without its main substance.
    let (s, started) = c
        .post(
            "/api/v1/treatments",
            course("0101901234", "2026-10-01", Some("KOKAIN")),
        )
        .await;
    assert_eq!(s, 201, "{started}");
    let id = started["id"].as_str().unwrap().to_string();
    let (s, progressed) = c
        .post(
            &format!("/api/v1/treatments/{id}/progress"),
            serde_json::json!({"offered": "2026-10-05", "started": "2026-10-12"}),
        )
        .await;
    assert_eq!(s, 200, "{progressed}");
    let (s, _) = c
        .post(
            "/api/v1/treatments",
            course("0202801234", "2026-10-20", Some("CANNABIS")),
        )
        .await;
    assert_eq!(s, 201);
    let (_, old) = c
        .post(
            "/api/v1/treatments",
            course("0303701234", "2026-06-01", Some("HEROIN")),
        )
        .await;
    let (s, _) = c
        .post(
            &format!("/api/v1/treatments/{}/progress", old["id"].as_str().unwrap()),
            serde_json::json!({"started": "2026-06-10", "ended": "2026-09-15", "end_reason": "OVERFOERT"}),
        )
        .await;
    assert_eq!(s, 200);
    let (_, unnamed) = c
        .post(
            "/api/v1/treatments",
            course("0303701234", "2026-10-07", None),
        )
        .await;
    // Refused, naming the field.
    for (body, field) in [
        (
            serde_json::json!({"register": "SMDB", "cpr": "0101901234", "provider": "X",
                               "referred": "2026-10-01", "started": "2026-09-01", "form": "DAG"}),
            "started",
        ),
        (
            serde_json::json!({"register": "SMDX", "cpr": "0101901234", "provider": "X",
                               "referred": "2026-10-01", "form": "DAG"}),
            "register",
        ),
        (
            serde_json::json!({"register": "SMDB", "cpr": "0101901234", "provider": "X",
                               "referred": "2026-10-01", "form": "SOFA"}),
            "form",
        ),
    ] {
        let (s, bad) = c.post("/api/v1/treatments", body).await;
        assert_eq!(s, 422, "{bad}");
        assert_eq!(bad["field"], field, "{bad}");
    }
    let (s, bad) = c
        .post(
            &format!("/api/v1/treatments/{id}/progress"),
            serde_json::json!({"ended": "2026-10-30"}),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(bad["field"], "end_reason");
    let (s, _) = c
        .post(
            "/api/v1/treatments",
            course("0404601234", "2026-10-01", Some("KOKAIN")),
        )
        .await;
    assert_eq!(s, 404, "an unknown citizen");

    let l = layout("dst/smdb");
    let (first, findings) = draft(&core, &leder, &l, "2026-10", None).await;
    assert_eq!(first.records, 3);
    assert_eq!(
        findings,
        ["row 2, citizen 030370-****: HOVEDSTOF (required): is required and missing"]
    );
    core.change_treatment(
        &ctx(&leder),
        unnamed["id"].as_str().unwrap(),
        &knudepunkt_case::treatments::TreatmentChange {
            substance: Some("AMFETAMIN".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let ready = common::reports::send_and_settle(&core, &leder, &l, "2026-10").await;
    assert_eq!(
        sandbox.handles.dst.upload(&ready.id).unwrap().report,
        "smdb"
    );
    let file = String::from_utf8(common::reports::sqlx_file(&engine, &ready.id).await).unwrap();
    let records = knudepunkt_case::reporting::file::read(&l, &file).unwrap();
    assert_eq!(records[0]["CPR"], "0101901234");
    assert_eq!(records[0]["VENTETID"], "11");
    assert_eq!(records[0]["TILBUDSDATO"], "2026-10-05");
    assert_eq!(records[1]["HOVEDSTOF"], "AMFETAMIN");
    assert!(!records[2].contains_key("VENTETID"), "still waiting");
    engine.shutdown(workers).await;
}

/// NAB through SEI2: a course without its consumption caught by name; SEI2 rejects the
/// first submission with its reason; the correction names it and every schema is
/// accepted (one reported again gets its receipt again); a course withdrawn next month
/// is cancelled at SEI2. SEI2 takes only calls signed under the STS's token.
async fn alcohol_treatment_goes_to_nab_through_sei2(backend: Backend) {
    use knudepunkt_case::treatments::{NewTreatment, TreatmentChange};
    let (sandbox, engine, core, workers) = common::reports::dst_world(backend, "reports-nab").await;
    let leder = actor(&core, "leder1").await;
    citizens(&core, &leder, &["0101901234", "0202801234"]).await;
    let course = |cpr: &str, units: Option<i64>| -> NewTreatment {
        serde_json::from_value(serde_json::json!({
            "register": "NAB", "cpr": cpr, "provider": "Alkoholbehandlingen Nørrebro",
            "referred": "2026-10-01", "offered": "2026-10-04", "started": "2026-10-08",
            "form": "AMBULANT", "units_per_week": units,
        }))
        .unwrap()
    };
    let anna = core
        .register_treatment(&ctx(&leder), &course("0101901234", Some(40)))
        .await
        .unwrap();
    let bo = core
        .register_treatment(&ctx(&leder), &course("0202801234", None))
        .await
        .unwrap();
    assert_eq!(anna.substance.as_deref(), Some("ALKOHOL"));

    let l = layout("sei2/nab");
    assert!(l.send_records);
    let (broken, findings) = draft(&core, &leder, &l, "2026-10", None).await;
    assert_eq!(broken.findings_total, 1, "{findings:?}");
    assert!(
        findings[0].contains("citizen 020280-****: GENSTANDE_PR_UGE (forbrug-ved-start)"),
        "{findings:?}"
    );
    core.change_treatment(
        &ctx(&leder),
        &bo.id,
        &TreatmentChange {
            units_per_week: Some(25),
            ..Default::default()
        },
    )
    .await
    .unwrap();

    // SEI2 rejects the first schema it is sent: the submission is rejected with SEI2's
    // reason, naming the schema.
    let sei2 = &sandbox.handles.sei2;
    sei2.reject_next(
        "Behandlingssted",
        "Behandlingsstedet kendes ikke i Sundhedsvæsenets Organisationsregister",
    );
    let (first, findings) = draft(&core, &leder, &l, "2026-10", None).await;
    assert!(findings.is_empty(), "{findings:?}");
    core.approve_submission(&ctx(&leder), &first.id)
        .await
        .unwrap();
    let rejected = common::reports::settle(&core, &first.id, State::Rejected).await;
    let reason = rejected.reason.clone().unwrap();
    assert!(
        reason.contains(&format!(
            "skema {}: Behandlingssted: Behandlingsstedet kendes ikke",
            anna.id
        )),
        "{reason}"
    );
    assert!(rejected.receipt_id.as_deref().unwrap().starts_with("SEI2-"));
    assert!(sei2.schema(&anna.id).is_none());
    assert_eq!(sei2.schema(&bo.id).unwrap().version, 1);
    let (_, log) = core.submission(&first.id).await.unwrap();
    let states: Vec<State> = log.iter().map(|e| e.state).collect();
    assert_eq!(
        states,
        [
            State::Draft,
            State::Approved,
            State::Underway,
            State::Delivered,
            State::Received,
            State::Rejected
        ]
    );

    // The correction names the rejected submission; every schema is accepted, and the
    // one SEI2 had already is the same schema with the same receipt.
    let bo_receipt = sei2.schema(&bo.id).unwrap().receipt;
    let (second, _) = draft(&core, &leder, &l, "2026-10", Some(&first.id)).await;
    assert_eq!(second.replaces.as_deref(), Some(first.id.as_str()));
    core.approve_submission(&ctx(&leder), &second.id)
        .await
        .unwrap();
    common::reports::settle(&core, &second.id, State::Accepted).await;
    assert_eq!(sei2.active(), 2);
    assert_eq!(sei2.schema(&anna.id).unwrap().cpr, "0101901234");
    let again = sei2.schema(&bo.id).unwrap();
    assert_eq!((again.version, again.receipt), (1, bo_receipt));
    assert!(
        sandbox
            .handles
            .sts
            .issued_for(knudepunkt_adapters::sei2::ENTITY_ID)
            >= 1
    );

    // Bo's course was registered in error: withdrawn in November, it is cancelled at
    // SEI2; Anna's is reported again unchanged.
    core.change_treatment(
        &ctx(&leder),
        &bo.id,
        &TreatmentChange {
            withdrawn: Some("2026-11-05".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let november = common::reports::send_and_settle(&core, &leder, &l, "2026-11").await;
    assert_eq!(november.records, 2);
    assert!(sei2.schema(&bo.id).unwrap().cancelled);
    assert_eq!(sei2.active(), 1);

    // A call that is not signed under an STS token is refused.
    let resp = reqwest::Client::new()
        .post(format!(
            "http://{}{}",
            sandbox.addr,
            knudepunkt_adapters::sei2::PATH
        ))
        .header("content-type", "text/xml")
        .body(r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body/></soap:Envelope>"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    let text = resp.text().await.unwrap();
    assert!(text.contains("token or assertion was refused"), "{text}");
    engine.shutdown(workers).await;
}

on_both_backends!(
    the_crisis_centre_stays_count_anonymous_women,
    drug_treatment_goes_to_smdb_with_its_waiting_time,
    alcohol_treatment_goes_to_nab_through_sei2,
);
