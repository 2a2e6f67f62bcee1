//! A case's whole life through the API: changes, status, catalogues, plans, grants,
//! consents and confidential access, each change with its event in the journal.

mod common;

use common::Backend;
use common::case::{CPR, World, actor, as_user, ctx, open_case, world};
use knudepunkt_case::Limits;
use knudepunkt_engine::message::MessageState;
use serde_json::json;

async fn events(w: &World, route: &str) -> i64 {
    w.engine
        .journal()
        .count_by_state(Some(route))
        .await
        .unwrap()
        .iter()
        .map(|(_, n)| *n)
        .sum()
}

async fn case_life(backend: Backend) {
    let w = world(backend, "case-life", Limits::default()).await;
    let leder = as_user(&w, "leder1");
    let case_id = open_case(&leder, false).await;

    // Changes and status.
    let (s, c) = leder
        .patch(
            &format!("/api/v1/cases/{case_id}"),
            json!({"title": "Støtte i eget hjem"}),
        )
        .await;
    assert_eq!(
        (s, c["title"].as_str()),
        (200, Some("Støtte i eget hjem")),
        "{c}"
    );
    let (s, c) = leder
        .post(
            &format!("/api/v1/cases/{case_id}/status"),
            json!({"status": "Oplyst"}),
        )
        .await;
    assert_eq!((s, c["status"].as_str()), (200, Some("Oplyst")), "{c}");
    let (s, p) = leder
        .post(
            &format!("/api/v1/cases/{case_id}/status"),
            json!({"status": "Opstaaet"}),
        )
        .await;
    assert_eq!((s, p["field"].as_str()), (409, Some("status")), "{p}");
    let (s, p) = leder
        .post(
            &format!("/api/v1/cases/{case_id}/status"),
            json!({"status": "Henlagt"}),
        )
        .await;
    assert_eq!((s, p["field"].as_str()), (422, Some("status")), "{p}");

    // Catalogues: only editors edit; services form a tree.
    let (s, _) = leder
        .post("/api/v1/catalogues", json!({"name": "Uautoriseret"}))
        .await;
    assert_eq!(s, 403);
    let ed = as_user(&w, "redaktoer");
    let (_, cat) = ed
        .post("/api/v1/catalogues", json!({"name": "Voksne"}))
        .await;
    let cat_id = cat["id"].as_str().unwrap();
    let (_, other) = ed
        .post("/api/v1/catalogues", json!({"name": "Andet"}))
        .await;
    let (_, general) = ed
        .post(&format!("/api/v1/catalogues/{cat_id}/services"),
              json!({"code": "SEL100", "name": "Merudgifter", "kle": "32.18.08", "legal_basis": "SEL § 100",
                     "price_ore": 0, "unit": "måned", "economic": true}))
        .await;
    let (s, specific) = ed
        .post(&format!("/api/v1/catalogues/{cat_id}/services"),
              json!({"code": "SEL100-BEKL", "parent_id": general["id"], "name": "Merudgifter til beklædning",
                     "kle": "32.18.08", "legal_basis": "SEL § 100", "price_ore": 25000, "unit": "måned", "economic": true}))
        .await;
    assert_eq!(s, 201, "{specific}");
    let (s, p) = ed
        .post(
            &format!(
                "/api/v1/catalogues/{}/services",
                other["id"].as_str().unwrap()
            ),
            json!({"code": "X", "parent_id": general["id"], "name": "x", "kle": "32.18.08",
                     "legal_basis": "SEL § 100", "price_ore": 1, "unit": "stk"}),
        )
        .await;
    assert_eq!((s, p["field"].as_str()), (422, Some("parent_id")), "{p}");
    let (s, svc) = ed
        .patch(
            &format!("/api/v1/services/{}", specific["id"].as_str().unwrap()),
            json!({"price_ore": 30000}),
        )
        .await;
    assert_eq!((s, svc["price_ore"].as_i64()), (200, Some(30000)));
    let (_, cats) = leder.get("/api/v1/catalogues").await;
    let voksne = cats
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Voksne")
        .unwrap();
    assert_eq!(
        voksne["services"].as_array().unwrap().len(),
        1,
        "one general service at the top"
    );
    assert_eq!(voksne["services"][0]["children"][0]["code"], "SEL100-BEKL");

    // A plan over two of the citizen's cases, with goals and subgoals.
    let (_, second) = leder
        .post("/api/v1/cases", json!({"cpr": CPR, "title": "Ledsagelse", "kle": "27.48.04", "action_facet": "G01",
                                      "case_type": "Voksenhandicap", "org_unit_id": "bch", "caseworker_id": "leder1"}))
        .await;
    let second_id = second["id"].as_str().unwrap();
    let (s, plan) = leder
        .post("/api/v1/plans", json!({"title": "Borgerens plan", "case_ids": [case_id, second_id],
            "goals": [{"text": "Klare egen husholdning", "subgoals": [{"text": "Handle ind selv"}]}]}))
        .await;
    assert_eq!(s, 201, "{plan}");
    let subgoal = plan["goals"][0]["subgoals"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, plans) = leder.get(&format!("/api/v1/cases/{second_id}/plans")).await;
    assert_eq!(
        plans[0]["goals"][0]["subgoals"][0]["text"],
        "Handle ind selv"
    );

    // Grants: linked to a goal, changed, ended.
    let (s, grant) = leder
        .post(&format!("/api/v1/cases/{case_id}/grants"),
              json!({"service_id": specific["id"], "period": {"from": "2026-01-01"}, "amount_ore": 30000,
                     "provider": "Udbetaling", "goal_ids": [subgoal]}))
        .await;
    assert_eq!(s, 201, "{grant}");
    assert!(grant["economic"].as_bool().unwrap());
    assert_eq!(grant["goal_ids"][0], subgoal.as_str());
    let gid = grant["id"].as_str().unwrap();
    let (s, g) = leder
        .patch(
            &format!("/api/v1/grants/{gid}"),
            json!({"period_to": "2026-12-31", "amount_ore": 32000}),
        )
        .await;
    assert_eq!(
        (s, g["period"]["to"].as_str(), g["amount_ore"].as_i64()),
        (200, Some("2026-12-31"), Some(32000)),
        "{g}"
    );
    let (s, g) = leder
        .post(
            &format!("/api/v1/grants/{gid}/end"),
            json!({"end_date": "2026-06-30"}),
        )
        .await;
    assert_eq!((s, g["status"].as_str()), (200, Some("ended")), "{g}");
    let (s, p) = leder
        .patch(
            &format!("/api/v1/grants/{gid}"),
            json!({"provider": "Andre"}),
        )
        .await;
    assert_eq!((s, p["field"].as_str()), (409, Some("grant_id")), "{p}");
    let (s, p) = leder
        .post(&format!("/api/v1/cases/{case_id}/grants"),
              json!({"service_id": specific["id"], "period": {"from": "2027-01-01"}, "provider": "Udbetaling"}))
        .await;
    assert_eq!((s, p["field"].as_str()), (422, Some("amount_ore")), "{p}");

    // Consents: given, checked, withdrawn.
    let kind = "send-admission-report-to-hospital";
    let (s, consent) = leder
        .post(
            &format!("/api/v1/cases/{case_id}/consents"),
            json!({"kind": kind, "given_by": "borgeren", "valid_from": "2026-01-01"}),
        )
        .await;
    assert_eq!(s, 201, "{consent}");
    let cpr = knudepunkt_case::Cpr::parse(CPR).unwrap();
    let today = chrono::Utc::now().date_naive();
    let mut conn = w.engine.journal().pool().acquire().await.unwrap();
    assert!(
        knudepunkt_case::consents::has_consent(&mut conn, &cpr, kind, today)
            .await
            .unwrap()
    );
    drop(conn);
    let withdraw = format!(
        "/api/v1/consents/{}/withdraw",
        consent["id"].as_str().unwrap()
    );
    let (s, c) = leder.post(&withdraw, json!({})).await;
    assert_eq!(s, 200, "{c}");
    assert!(c["withdrawn_at"].is_i64());
    let (s, _) = leder.post(&withdraw, json!({})).await;
    assert_eq!(s, 409);
    let mut conn = w.engine.journal().pool().acquire().await.unwrap();
    assert!(
        !knudepunkt_case::consents::has_consent(&mut conn, &cpr, kind, today)
            .await
            .unwrap()
    );
    drop(conn);
    let (_, listed) = leder
        .get(&format!("/api/v1/cases/{case_id}/consents"))
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);

    // A confidential case needs an explicit grant even for a matching role.
    let secret = open_case(&leder, true).await;
    let actor1 = as_user(&w, "aktoer1");
    assert_eq!(actor1.get(&format!("/api/v1/cases/{secret}")).await.0, 403);
    let (s, _) = leder
        .post(
            &format!("/api/v1/cases/{secret}/access"),
            json!({"user_id": "aktoer1"}),
        )
        .await;
    assert_eq!(s, 204);
    assert_eq!(actor1.get(&format!("/api/v1/cases/{secret}")).await.0, 200);

    // Closing.
    let (s, c) = leder
        .post(
            &format!("/api/v1/cases/{case_id}/status"),
            json!({"status": "Lukket", "note": "afsluttet"}),
        )
        .await;
    assert_eq!(
        (s, c["status_history"].as_array().unwrap().len()),
        (200, 3),
        "{c}"
    );

    // Every change wrote its event with it.
    for (route, n) in [
        ("test.case-created", 3),
        ("test.case-updated", 1),
        ("test.status-changed", 2),
        ("test.case-closed", 1),
        ("test.grant-created", 1),
        ("test.grant-changed", 1),
        ("test.grant-ended", 1),
        ("test.consent-given", 1),
        ("test.consent-withdrawn", 1),
    ] {
        assert_eq!(events(&w, route).await, n, "{route}");
    }
    let pending = w
        .engine
        .journal()
        .count_by_state(Some("test.grant-created"))
        .await
        .unwrap();
    assert_eq!(
        pending,
        vec![(MessageState::Pending, 1)],
        "journaled, not yet delivered (no workers)"
    );
}

/// A bulk import is all or nothing, and its errors name the item.
async fn import_names_the_item(backend: Backend) {
    use knudepunkt_case::cases::NewCase;
    use knudepunkt_case::import::ImportCase;
    let w = world(backend, "case-import", Limits::default()).await;
    let leder = actor(&w.core, "leder1").await;
    let c = ctx(&leder);
    w.core
        .import_citizens(&c, &[common::case::anna()])
        .await
        .unwrap();
    let case = |kle: &str| ImportCase {
        case: NewCase {
            cpr: CPR.into(),
            title: "Importeret".into(),
            kle: kle.into(),
            action_facet: "G01".into(),
            case_type: "Voksenhandicap".into(),
            org_unit_id: "bch".into(),
            caseworker_id: "leder1".into(),
            confidential: false,
        },
        documents: vec![],
    };
    let err = w
        .core
        .import_cases(&c, &[case("27.36.12"), case("27.99.99")])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, knudepunkt_case::CaseError::Invalid { field, .. } if field == "cases[1].kle"),
        "{err}"
    );
    assert_eq!(
        w.core
            .cases_of_citizen(&c, &knudepunkt_case::Cpr::parse(CPR).unwrap())
            .await
            .unwrap()
            .len(),
        0
    );
    let ids = w
        .core
        .import_cases(&c, &[case("27.36.12"), case("27.48.04")])
        .await
        .unwrap();
    assert_eq!(ids.len(), 2);
    assert_eq!(events(&w, "test.case-created").await, 2);
}

/// Adapters that read citizen data audit it through the engine's trait, into the same
/// log an auditor reads.
async fn adapters_audit_through_the_case_core(backend: Backend) {
    use knudepunkt_engine::audit::{AccessKind, CitizenAccess, CitizenAuditLog};
    let w = world(backend, "case-adapter-audit", Limits::default()).await;
    let leder = as_user(&w, "leder1");
    open_case(&leder, false).await;
    let log: std::sync::Arc<dyn CitizenAuditLog> = std::sync::Arc::new(w.core.clone());
    log.record(CitizenAccess {
        actor: "adapter:cpr",
        kind: AccessKind::Read,
        resource: "cpr/PersonBaseDataExtended",
        cpr: "0101901234",
        purpose: "refresh of name and address",
    })
    .await
    .unwrap();
    let (s, lines) = leder
        .post("/api/v1/citizens/audit", json!({"cpr": CPR}))
        .await;
    assert_eq!(s, 200, "{lines}");
    assert!(
        lines
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["actor"] == "adapter:cpr"
                && l["resource"] == "cpr/PersonBaseDataExtended"
                && l["purpose"] == "refresh of name and address"),
        "{lines}"
    );
}

on_both_backends!(
    case_life,
    import_names_the_item,
    adapters_audit_through_the_case_core
);
