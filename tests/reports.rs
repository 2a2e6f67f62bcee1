//! A statutory report submission's lifecycle on SQLite and PostgreSQL: an extract with
//! broken records is caught by name and cannot be approved; the corrected one is
//! approved by a named user, sent through its upload route and followed to the
//! receiver's rejection, with the reason; the correction names the rejected submission,
//! is accepted, and the next period's preview shows what changed. Every change is in
//! the log, and the submissions can be queried over the API.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::Backend;
use common::case::{As, SECRET, actor, ctx};
use knudepunkt_case::api::SignedTokens;
use knudepunkt_case::reporting::submissions::{State, SubmissionFilter};
use knudepunkt_case::reporting::{Layout, Record};
use knudepunkt_engine::message::MessageState;

fn record(cpr: &str, paragraf: &str, start: &str, slut: &str) -> Record {
    [
        ("CPR", cpr),
        ("PARAGRAF", paragraf),
        ("STARTDATO", start),
        ("SLUTDATO", slut),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn layout() -> Layout {
    Layout::load(&common::repo().join("tests/fixtures/dst/test-report")).unwrap()
}

async fn a_submission_from_extract_to_acceptance(backend: Backend) {
    let (sandbox, engine, core) =
        common::case::engine_with_core(backend, "reports", "routes-reports").await;
    let workers = engine.start();
    let leder = actor(&core, "leder1").await;
    let l = layout();

    // Broken records are caught by name, and the draft cannot be approved.
    let broken = vec![
        record("0101901234", "85", "2026-10-01", ""),
        record("0202901234", "99", "2026-10-03", "2026-09-30"),
        record("0101901234", "85", "2026-10-01", ""),
    ];
    let draft = core
        .prepare_submission(&ctx(&leder), &l, "2026-10", broken, None)
        .await
        .unwrap();
    let findings: Vec<String> = draft
        .submission
        .findings
        .iter()
        .map(|f| f.to_string())
        .collect();
    assert_eq!(draft.submission.findings_total, 3, "{findings:?}");
    assert!(
        findings
            .iter()
            .any(|f| f.contains("citizen 020290-****") && f.contains("PARAGRAF (code)")),
        "{findings:?}"
    );
    assert!(findings.iter().any(|f| f.contains("slut-efter-start")));
    assert!(
        findings
            .iter()
            .any(|f| f.contains("row 3") && f.contains("duplicate"))
    );
    assert!(
        findings.iter().all(|f| !f.contains("0202901234")),
        "CPR masked"
    );
    let refused = core
        .approve_submission(&ctx(&leder), &draft.submission.id)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("3 finding(s)"), "{refused}");

    // The corrected extract: approved by a named user and sent on.
    let good = vec![
        record("0101901234", "85", "2026-10-01", ""),
        record("0202901234", "107", "2026-10-03", "2026-10-20"),
    ];
    let first = core
        .prepare_submission(&ctx(&leder), &l, "2026-10", good.clone(), None)
        .await
        .unwrap();
    assert_eq!(first.submission.findings_total, 0);
    assert!(first.diff.is_none(), "nothing accepted before");
    let sent = core
        .approve_submission(&ctx(&leder), &first.submission.id)
        .await
        .unwrap();
    assert_eq!(sent.state, State::Underway);
    assert_eq!(sent.approved_by.as_deref(), Some("leder1"));
    let message = sent.message_id.clone().unwrap().parse().unwrap();
    common::expect_state(
        engine.journal(),
        message,
        MessageState::Delivered,
        Duration::from_secs(10),
    )
    .await;
    assert!(sandbox.handles.generic.recorder.stats().unique >= 1);
    // Approved once only.
    assert!(
        core.approve_submission(&ctx(&leder), &first.submission.id)
            .await
            .is_err()
    );

    // The receiver's answers: delivered, received with its receipt, rejected with its
    // reason; states only move forward, a rejection needs its reason.
    let id = first.submission.id.clone();
    core.record_submission_status(&id, State::Delivered, "upload", None, None)
        .await
        .unwrap();
    core.record_submission_status(&id, State::Received, "dst", Some("DST-4711"), None)
        .await
        .unwrap();
    assert!(
        core.record_submission_status(&id, State::Delivered, "dst", None, None)
            .await
            .is_err()
    );
    assert!(
        core.record_submission_status(&id, State::Rejected, "dst", None, None)
            .await
            .is_err()
    );
    let rejected = core
        .record_submission_status(
            &id,
            State::Rejected,
            "dst",
            None,
            Some("PARAGRAF 107 forventes ikke for denne borger"),
        )
        .await
        .unwrap();
    assert_eq!(rejected.receipt_id.as_deref(), Some("DST-4711"));
    assert_eq!(
        rejected.reason.as_deref(),
        Some("PARAGRAF 107 forventes ikke for denne borger")
    );

    // The correction names the rejected one, and is accepted.
    let corrected = vec![
        record("0101901234", "85", "2026-10-01", ""),
        record("0202901234", "85", "2026-10-03", "2026-10-20"),
    ];
    assert!(
        core.prepare_submission(&ctx(&leder), &l, "2026-11", corrected.clone(), Some(&id))
            .await
            .is_err(),
        "a correction is for the same period"
    );
    let second = core
        .prepare_submission(&ctx(&leder), &l, "2026-10", corrected.clone(), Some(&id))
        .await
        .unwrap();
    assert_eq!(second.submission.replaces.as_deref(), Some(id.as_str()));
    let second_id = second.submission.id.clone();
    core.approve_submission(&ctx(&leder), &second_id)
        .await
        .unwrap();
    for state in [State::Delivered, State::Received, State::Accepted] {
        core.record_submission_status(&second_id, state, "dst", Some("DST-4712"), None)
            .await
            .unwrap();
    }

    // The next period's preview: what changed against the accepted one.
    let next = vec![
        record("0101901234", "85", "2026-10-01", "2026-11-15"),
        record("0303901234", "107", "2026-11-02", ""),
    ];
    let preview = core
        .prepare_submission(&ctx(&leder), &l, "2026-11", next, None)
        .await
        .unwrap();
    assert_eq!(preview.against.as_deref(), Some(second_id.as_str()));
    let diff = preview.diff.unwrap();
    assert_eq!(diff.added, ["0303901234|107|2026-11-02"]);
    assert_eq!(diff.removed, ["0202901234|85|2026-10-03"]);
    assert_eq!(
        diff.changed,
        [(
            "0101901234|85|2026-10-01".to_string(),
            vec!["SLUTDATO".to_string()]
        )]
    );

    // The log and the query, in the core and over the API.
    let (_, log) = core.submission(&second_id).await.unwrap();
    let states: Vec<State> = log.iter().map(|e| e.state).collect();
    assert_eq!(
        states,
        [
            State::Draft,
            State::Approved,
            State::Underway,
            State::Delivered,
            State::Received,
            State::Accepted
        ]
    );
    assert_eq!(log[1].by_user, "leder1");
    let october = core
        .submissions(&SubmissionFilter {
            report: Some("test-report".into()),
            period: Some("2026-10".into()),
            state: None,
        })
        .await
        .unwrap();
    assert_eq!(october.len(), 3);
    let app = knudepunkt_case::api::router(core.clone(), Arc::new(SignedTokens::new(SECRET, true)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let c = As::at(&base, "leder1");
    let (s, rejected) = c
        .get("/api/v1/reports/submissions?report=test-report&state=rejected")
        .await;
    assert_eq!(s, 200, "{rejected}");
    assert_eq!(rejected.as_array().unwrap().len(), 1);
    assert_eq!(rejected[0]["id"], id.as_str());
    let (s, shown) = c
        .get(&format!("/api/v1/reports/submissions/{second_id}"))
        .await;
    assert_eq!(s, 200);
    assert_eq!(shown["submission"]["replaces"], id.as_str());
    assert_eq!(shown["log"].as_array().unwrap().len(), 6);
    // Stays are registered over the API too, and bad ones name their field.
    let (s, stay) = c
        .post(
            "/api/v1/residential-stays",
            serde_json::json!({"section": "SEL109", "institution": "Kvindehuset",
                               "arrival": "2026-10-04", "children": 2}),
        )
        .await;
    assert_eq!(s, 201, "{stay}");
    assert!(stay["cpr"].is_null(), "an anonymous crisis-centre stay");
    let (s, ended) = c
        .post(
            &format!(
                "/api/v1/residential-stays/{}/end",
                stay["id"].as_str().unwrap()
            ),
            serde_json::json!({"departure": "2026-10-01"}),
        )
        .await;
    assert_eq!(s, 422, "{ended}");
    assert_eq!(ended["field"], "departure");
    let (s, bad) = c
        .post(
            "/api/v1/residential-stays",
            serde_json::json!({"section": "SEL999", "institution": "X", "arrival": "2026-10-04"}),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(bad["field"], "section");
    let (s, occupancy) = c
        .get("/api/v1/residential-stays/occupancy?section=SEL109&period=2026-10")
        .await;
    assert_eq!(s, 200, "{occupancy}");
    assert_eq!(occupancy[0]["institution"], "Kvindehuset");
    assert_eq!(occupancy[0]["anonymous"], 1);
    assert_eq!(occupancy[0]["nights"], 28);
    let (s, bad) = c
        .get("/api/v1/residential-stays/occupancy?period=oktober")
        .await;
    assert_eq!(s, 422, "{bad}");
    assert_eq!(bad["field"], "period");
    let (s, bad) = c.get("/api/v1/reports/submissions?state=sent").await;
    assert_eq!(s, 422, "{bad}");
    assert_eq!(bad["field"], "state");
    let (s, again) = c
        .post(
            &format!(
                "/api/v1/reports/submissions/{}/approve",
                draft.submission.id
            ),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(s, 409, "{again}");
    engine.shutdown(workers).await;
}

/// Through Danmarks Statistik's intake (the sandbox's): uploaded, its receipt kept, and
/// DST's status pushed back settles it, a rejection with DST's reason; the corrected
/// submission is accepted; the same file under another submission is refused.
async fn a_report_goes_to_dst_and_its_status_comes_back(backend: Backend) {
    let (sandbox, engine, core) =
        common::case::engine_with_core(backend, "reports-dst", "routes-dst").await;
    let app = knudepunkt_engine::server::router(engine.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let dst = &sandbox.handles.dst;
    dst.status_to(&format!("{base}/in/dst/status"), Duration::from_millis(100));
    let workers = engine.start();
    let leder = actor(&core, "leder1").await;
    let l = layout();
    let settled = |id: String, want: State| {
        let core = core.clone();
        async move { common::reports::settle(&core, &id, want).await }
    };

    dst.reject_next("PARAGRAF 107 forventes ikke for denne borger");
    let records = vec![
        record("0101901234", "85", "2026-10-01", ""),
        record("0202901234", "107", "2026-10-03", "2026-10-20"),
    ];
    let first = core
        .prepare_submission(&ctx(&leder), &l, "2026-10", records, None)
        .await
        .unwrap()
        .submission;
    core.approve_submission(&ctx(&leder), &first.id)
        .await
        .unwrap();
    let rejected = settled(first.id.clone(), State::Rejected).await;
    let at_dst = dst.upload(&first.id).expect("DST has the file");
    assert_eq!(at_dst.records, 2);
    assert_eq!(at_dst.sha256, first.sha256);
    assert_eq!(
        rejected.receipt_id.as_deref(),
        Some(at_dst.kvittering.as_str())
    );
    assert_eq!(
        rejected.reason.as_deref(),
        Some("PARAGRAF 107 forventes ikke for denne borger")
    );
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
    assert_eq!(log[5].by_user, "Danmarks Statistik");

    // The correction is accepted.
    let corrected = vec![
        record("0101901234", "85", "2026-10-01", ""),
        record("0202901234", "85", "2026-10-03", "2026-10-20"),
    ];
    let second = core
        .prepare_submission(
            &ctx(&leder),
            &l,
            "2026-10",
            corrected.clone(),
            Some(&first.id),
        )
        .await
        .unwrap()
        .submission;
    core.approve_submission(&ctx(&leder), &second.id)
        .await
        .unwrap();
    let accepted = settled(second.id.clone(), State::Accepted).await;
    assert_eq!(accepted.replaces.as_deref(), Some(first.id.as_str()));

    // The same file again, under another submission: the intake refuses it; the upload
    // is dead with DST's words and the submission stays underway for an operator.
    let again = core
        .prepare_submission(&ctx(&leder), &l, "2026-10", corrected, None)
        .await
        .unwrap()
        .submission;
    let sent = core
        .approve_submission(&ctx(&leder), &again.id)
        .await
        .unwrap();
    let m = common::settled(engine.journal(), "dst.upload", 3, Duration::from_secs(20)).await;
    let dead = m
        .iter()
        .find(|m| Some(m.id.to_string()) == sent.message_id)
        .unwrap();
    assert_eq!(dead.state, MessageState::Dead);
    assert!(
        dead.last_error
            .as_deref()
            .unwrap()
            .contains("den samme fil er allerede indberettet"),
        "{:?}",
        dead.last_error
    );
    assert_eq!(
        core.submission(&again.id).await.unwrap().0.state,
        State::Underway
    );
    engine.shutdown(workers).await;
}

/// De Kommunale Serviceindikatorer – Voksne from the grants: extracted for a month
/// (services under the report's sections, active in it), a grant without its provider
/// type caught by name, corrected, then approved, sent to DST and accepted.
async fn the_service_indicators_come_from_the_grants(backend: Backend) {
    use knudepunkt_case::cases::NewCase;
    use knudepunkt_case::catalogue::{NewCatalogue, NewService};
    use knudepunkt_case::citizens::NewCitizen;
    use knudepunkt_case::grants::{GrantChange, NewGrant};
    let (sandbox, engine, core, workers) = common::reports::dst_world(backend, "reports-si").await;
    let editor = actor(&core, "redaktoer").await;
    let leder = actor(&core, "leder1").await;
    let catalogue = core
        .create_catalogue(
            &ctx(&editor),
            &NewCatalogue {
                name: "Voksne 2026".into(),
            },
        )
        .await
        .unwrap();
    let service = |code: &str, basis: &str| -> NewService {
        serde_json::from_value(serde_json::json!({
            "code": code, "name": code, "kle": "27.36.12", "legal_basis": basis,
            "price_ore": 0, "unit": "time",
        }))
        .unwrap()
    };
    let mut ids = Vec::new();
    for (code, basis) in [
        ("SEL85-HJEM", "SEL § 85"),
        ("SEL107-MIDL", "Serviceloven § 107, stk. 1"),
        ("BL32", "Barnets lov § 32"),
    ] {
        ids.push(
            core.add_service(&ctx(&editor), &catalogue.id, &service(code, basis))
                .await
                .unwrap()
                .id,
        );
    }
    let mut cases = Vec::new();
    for (cpr, given) in [("0101901234", "Anna"), ("0202801234", "Bo")] {
        core.register_citizen(
            &ctx(&leder),
            &NewCitizen {
                cpr: cpr.into(),
                given_name: given.into(),
                family_name: "Jensen".into(),
                address: None,
            },
        )
        .await
        .unwrap();
        let case: NewCase = serde_json::from_value(serde_json::json!({
            "cpr": cpr, "title": "Støtte", "kle": "27.36.12", "action_facet": "G01",
            "case_type": "Voksenhandicap", "org_unit_id": "bch", "caseworker_id": "leder1",
            "confidential": false,
        }))
        .unwrap();
        cases.push(core.create_case(&ctx(&leder), &case).await.unwrap().case.id);
    }
    let grant = |service: &str,
                 from: &str,
                 to: Option<&str>,
                 quantity: Option<i64>,
                 kind: Option<&str>|
     -> NewGrant {
        serde_json::from_value(serde_json::json!({
            "service_id": service, "period": {"from": from, "to": to},
            "quantity": quantity, "provider": "Botilbuddet Lærkehøj", "provider_type": kind,
        }))
        .unwrap()
    };
    let g = |case: usize, new: NewGrant| {
        let core = core.clone();
        let leder = leder.clone();
        let case = cases[case].clone();
        async move { core.create_grant(&ctx(&leder), &case, &new).await.unwrap() }
    };
    // Anna: § 85 ongoing, § 107 within October, § 85 ended in August (not October's),
    // and a service outside the report. Bo: § 85 without its provider type.
    g(
        0,
        grant(&ids[0], "2026-09-15", None, Some(5), Some("kommunal")),
    )
    .await;
    g(
        0,
        grant(
            &ids[1],
            "2026-10-05",
            Some("2026-10-20"),
            Some(15),
            Some("privat"),
        ),
    )
    .await;
    g(
        0,
        grant(&ids[2], "2026-10-01", None, Some(1), Some("kommunal")),
    )
    .await;
    g(
        0,
        grant(
            &ids[0],
            "2026-06-01",
            Some("2026-08-31"),
            Some(2),
            Some("kommunal"),
        ),
    )
    .await;
    let bo = g(1, grant(&ids[0], "2026-10-10", None, Some(3), None)).await;

    // The scheduled jobs: the month prepared as a draft once, and a reminder while it
    // is not approved.
    use knudepunkt_case::reporting::jobs::{NOT_APPROVED, PrepareReports, RemindReports};
    use knudepunkt_engine::schedule::{Job, Quiet, RunRequest};
    let dir = common::repo().join("mappings/dst");
    let prepare = PrepareReports {
        core: core.clone(),
        job: knudepunkt_case::reporting::jobs::PREPARE_JOB,
        dir: dir.clone(),
    };
    let remind = RemindReports {
        core: core.clone(),
        dir,
    };
    let for_october = RunRequest {
        period: Some("2026-10".into()),
        dry_run: false,
    };
    let first = prepare.run(&for_october, &Quiet).await.unwrap();
    assert_eq!(first["reports"][0]["report"], "serviceindikatorer-voksne");
    assert_eq!(first["reports"][0]["prepared"], true, "{first}");
    assert_eq!(first["reports"][0]["records"], 3);
    assert_eq!(first["reports"][0]["findings"], 1);
    assert_eq!(first["reports"][1]["report"], "boformer-110");
    assert_eq!(first["reports"][1]["records"], 0);
    let again = prepare.run(&for_october, &Quiet).await.unwrap();
    assert_eq!(again["reports"][0]["prepared"], false, "{again}");
    let reminded = remind.run(&for_october, &Quiet).await.unwrap();
    assert_eq!(reminded["not_approved"][0], "serviceindikatorer-voksne");
    let inbox = engine.journal().inbox(false).await.unwrap();
    assert!(
        inbox
            .iter()
            .any(|i| i.kind == NOT_APPROVED && i.reference == "serviceindikatorer-voksne/2026-10"),
        "{inbox:?}"
    );

    let l = Layout::load(&common::repo().join("mappings/dst/serviceindikatorer-voksne")).unwrap();
    let (draft, findings) = common::reports::draft(&core, &leder, &l, "2026-10", None).await;
    assert_eq!(draft.records, 3);
    assert_eq!(draft.findings_total, 1);
    assert_eq!(
        findings[0],
        "row 3, citizen 020280-****: LEVERANDOERTYPE (required): is required and missing"
    );
    // The caseworker records the provider type; the month is prepared again.
    core.change_grant(
        &ctx(&leder),
        &bo.id,
        &GrantChange {
            provider_type: Some("regional".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let ready = common::reports::send_and_settle(&core, &leder, &l, "2026-10").await;
    let settled_now = remind.run(&for_october, &Quiet).await.unwrap();
    // The service indicators are approved; the other DST reports (nothing this month)
    // are still to approve.
    assert_eq!(
        settled_now["not_approved"],
        serde_json::json!(["boformer-110", "kvindekrisecentre-109", "smdb"])
    );
    let at_dst = sandbox.handles.dst.upload(&ready.id).unwrap();
    assert_eq!(at_dst.records, 3);
    assert_eq!(at_dst.report, "serviceindikatorer-voksne");
    let file = knudepunkt_case::reporting::file::read(
        &l,
        &String::from_utf8(common::reports::sqlx_file(&engine, &ready.id).await).unwrap(),
    )
    .unwrap();
    assert_eq!(file[0]["KOMMUNE"], "101");
    assert_eq!(file[0]["PARAGRAF"], "SEL85");
    assert_eq!(file[0]["LEVERANDOERTYPE"], "KOMMUNAL");
    assert_eq!(file[1]["PARAGRAF"], "SEL107");
    assert_eq!(file[1]["SLUTDATO"], "2026-10-20");
    assert_eq!(file[2]["LEVERANDOERTYPE"], "REGIONAL");
    engine.shutdown(workers).await;
}

/// Borgere på boformer efter § 110 from the registered stays: the month's stays (one
/// that ended before it left out), a stay ended without where the citizen went caught
/// by name, corrected, approved and accepted; bad stays refused, naming the field.
async fn the_shelter_stays_come_from_the_register(backend: Backend) {
    use knudepunkt_case::residential::NewResidentialStay;
    let (_sandbox, engine, core, workers) =
        common::reports::dst_world(backend, "reports-110").await;
    let leder = actor(&core, "leder1").await;
    common::case::citizens(&core, &leder, &["0101901234", "0202801234", "0303701234"]).await;
    let stay = |cpr: Option<&str>,
                arrival: &str,
                departure: Option<&str>,
                before: &str|
     -> NewResidentialStay {
        serde_json::from_value(serde_json::json!({
            "section": "SEL110", "institution": "Herberget Lærkevej", "cpr": cpr,
            "arrival": arrival, "departure": departure, "housing_before": before,
        }))
        .unwrap()
    };
    core.register_residential_stay(
        &ctx(&leder),
        &stay(Some("0101901234"), "2026-09-20", None, "HJEMLOES"),
    )
    .await
    .unwrap();
    let ended = core
        .register_residential_stay(
            &ctx(&leder),
            &stay(Some("0202801234"), "2026-10-02", None, "FAMILIE"),
        )
        .await
        .unwrap();
    core.end_residential_stay(&ctx(&leder), &ended.id, "2026-10-15", None)
        .await
        .unwrap();
    core.register_residential_stay(
        &ctx(&leder),
        &stay(Some("0303701234"), "2026-08-01", Some("2026-09-01"), "EGEN"),
    )
    .await
    .unwrap();
    // Refused, naming the field: anonymous § 110, unknown citizen, an unknown code.
    let field_of = |e: knudepunkt_case::error::CaseError| match e {
        knudepunkt_case::error::CaseError::Invalid { field, .. } => field,
        other => format!("{other:?}"),
    };
    let e = core
        .register_residential_stay(&ctx(&leder), &stay(None, "2026-10-01", None, "EGEN"))
        .await
        .unwrap_err();
    assert_eq!(field_of(e), "cpr");
    let e = core
        .register_residential_stay(
            &ctx(&leder),
            &stay(Some("0404601234"), "2026-10-01", None, "EGEN"),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("citizen"), "{e}");
    let e = core
        .register_residential_stay(
            &ctx(&leder),
            &stay(Some("0101901234"), "2026-10-01", None, "SLOT"),
        )
        .await
        .unwrap_err();
    assert_eq!(field_of(e), "housing_before");

    let l = Layout::load(&common::repo().join("mappings/dst/boformer-110")).unwrap();
    let october = knudepunkt_case::reporting::Period::month("2026-10").unwrap();
    let (draft, findings) = common::reports::draft(&core, &leder, &l, "2026-10", None).await;
    assert_eq!(draft.records, 2);
    assert_eq!(draft.findings_total, 1);
    assert_eq!(
        findings[0],
        "row 2, citizen 020280-****: BOLIG_EFTER (bolig-efter-ved-udskrivning): BOLIG_EFTER skal angives, når opholdet er afsluttet"
    );
    core.end_residential_stay(&ctx(&leder), &ended.id, "2026-10-15", Some("EGEN"))
        .await
        .unwrap();
    let ready = common::reports::send_and_settle(&core, &leder, &l, "2026-10").await;
    let file = String::from_utf8(common::reports::sqlx_file(&engine, &ready.id).await).unwrap();
    assert!(
        file.starts_with(
            "KOMMUNE;CPR;INSTITUTION;INDSKRIVNINGSDATO;UDSKRIVNINGSDATO;BOLIG_FOER;BOLIG_EFTER\n"
        ),
        "{file}"
    );
    assert!(
        file.contains("101;0202801234;Herberget Lærkevej;2026-10-02;2026-10-15;FAMILIE;EGEN"),
        "{file}"
    );
    // Occupancy per institution: two stays, 31 and 13 nights in October, one running
    // at its end.
    let occupancy = core.occupancy("SEL110", october).await.unwrap();
    assert_eq!(
        occupancy,
        [knudepunkt_case::occupancy::Occupancy {
            institution: "Herberget Lærkevej".into(),
            stays: 2,
            citizens: 2,
            anonymous: 0,
            nights: 44,
            average_occupied: 1.42,
            at_end: 1,
        }]
    );
    assert!(core.occupancy("SEL999", october).await.is_err());
    engine.shutdown(workers).await;
}

on_both_backends!(
    a_submission_from_extract_to_acceptance,
    a_report_goes_to_dst_and_its_status_comes_back,
    the_service_indicators_come_from_the_grants,
    the_shelter_stays_come_from_the_register,
);
