//! The organisation from KK-ORG2 through KKI (Knudepunkt's model of its REST/JSON
//! contract) on SQLite and PostgreSQL: a full load brings every unit and employee in,
//! with managers, substitutes, P-numbers and validity (a unit valid from next month is
//! stored but not in force today); a second full load changes nothing; a reorganisation
//! comes as a delta: a unit ends (kept, not deleted), its staff move, a caseworker moves
//! to another centre, and access control follows at once; a unit the register no longer
//! has is ended by the next full load; a wrong API key is a clear, permanent error.

mod common;

use common::Backend;
use common::case::{actor, ctx};
use knudepunkt_adapters::kkorg::KkOrgClient;
use knudepunkt_case::error::CaseError;
use sqlx::Row;

async fn the_organisation_comes_from_kk_org2(backend: Backend) {
    let (sandbox, engine, core) =
        common::case::engine_with_core(backend, "org", "routes-dst").await;
    let kkorg = &sandbox.handles.kkorg;
    kkorg.set_staff(2);
    let client = KkOrgClient::for_environment(&engine.routes().environment).unwrap();
    let today = chrono::Utc::now().date_naive().to_string();
    let org = kkorg.organisation();

    // Before: aktoer2 (Borgercenter Voksne, role on bcv) opens a case there.
    let aktoer2 = actor(&core, "aktoer2").await;
    core.register_citizen(&ctx(&aktoer2), &common::case::anna())
        .await
        .unwrap();
    let case: knudepunkt_case::cases::NewCase = serde_json::from_value(serde_json::json!({
        "cpr": "0101901234", "title": "Bostøtte", "kle": "27.36.12", "action_facet": "G01",
        "case_type": "Udsatte voksne", "org_unit_id": "bcv", "caseworker_id": "aktoer2",
        "confidential": false,
    }))
    .unwrap();
    let case = core
        .create_case(&ctx(&aktoer2), &case)
        .await
        .unwrap()
        .case
        .id;

    let heard = std::sync::Mutex::new(0usize);
    let first = common::org_source::full(&core, &client, &today, &|n| *heard.lock().unwrap() = n)
        .await
        .unwrap();
    assert_eq!(first.units, org.enheder.len());
    assert_eq!(first.users, org.medarbejdere.len());
    assert_eq!(*heard.lock().unwrap(), first.units + first.users);
    // The demo's four units and four users were there; everything else is new.
    assert_eq!(first.added_units, org.enheder.len() - 4, "{first:?}");
    assert_eq!(first.added_users, org.medarbejdere.len() - 4, "{first:?}");
    let pool = engine.journal().pool();
    let unit = sqlx::query(
        "SELECT name, parent_id, p_number, manager_id FROM org_units WHERE id = 'bch-01'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(unit.try_get::<String, _>("parent_id").unwrap(), "bch");
    assert!(
        unit.try_get::<String, _>("name")
            .unwrap()
            .contains("Borgercenter Handicap")
    );
    assert!(
        unit.try_get::<Option<String>, _>("p_number")
            .unwrap()
            .is_some()
    );
    let manager: String = unit.try_get("manager_id").unwrap();
    let substitutes: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM user_substitutes WHERE user_id = $1")
            .bind(&manager)
            .fetch_one(pool)
            .await
            .unwrap()
            .try_get("n")
            .unwrap();
    assert_eq!(
        substitutes, 1,
        "the team's second substitutes for its manager"
    );
    // The unit of next month is stored, not in force.
    let tree = core.org_tree(&today).await.unwrap();
    assert!(tree.iter().any(|(id, _, _)| id == "bcv-11"));
    assert!(!tree.iter().any(|(id, _, _)| id == "bcv-ny"));
    let later = sqlx::query("SELECT valid_from FROM org_units WHERE id = 'bcv-ny'")
        .fetch_one(pool)
        .await
        .unwrap()
        .try_get::<String, _>("valid_from")
        .unwrap();
    assert!(later > today, "{later}");

    // Aktør 1 is Leder 1's substitute: they hold Leder 1's roles too, as Leder 1 holds
    // them, and so see a protected address.
    let substitute = actor(&core, "aktoer1").await;
    let acting: Vec<(&str, Option<&str>)> = substitute
        .roles
        .iter()
        .map(|r| (r.role_id.as_str(), r.acting_for.as_deref()))
        .collect();
    assert_eq!(
        acting,
        [
            ("rolle-handicap", None),
            ("rolle-adressebeskyttelse", Some("leder1"))
        ]
    );
    assert!(substitute.sees_protected_addresses());

    // Again: nothing changes.
    let again = common::org_source::full(&core, &client, &today, &|_| {})
        .await
        .unwrap();
    assert_eq!(
        (
            again.added_units,
            again.changed_units,
            again.ended_units,
            again.added_users,
            again.changed_users,
            again.ended_users
        ),
        (0, 0, 0, 0, 0, 0),
        "{again:?}"
    );

    // A reorganisation, as the day's delta: bcv-12 ends and its staff move to bcv-11;
    // aktoer2 moves to Borgercenter Handicap.
    let staff_12: Vec<String> = org
        .medarbejdere
        .iter()
        .filter(|m| m.engagementer.iter().any(|e| e.enhed == "bcv-12"))
        .map(|m| m.id.clone())
        .collect();
    assert!(!staff_12.is_empty());
    kkorg.reorganise(&today, "bcv-12", "bcv-11", "aktoer2", "bch");
    let delta = common::org_source::delta(&core, &client, &today)
        .await
        .unwrap();
    assert_eq!(delta.units, 1, "{delta:?}");
    assert_eq!(delta.changed_units, 1);
    assert_eq!(delta.moved_users, staff_12.len() + 1, "{delta:?}");
    let unit_of = |user: String| async move {
        sqlx::query("SELECT org_unit_id FROM users WHERE id = $1")
            .bind(user)
            .fetch_one(pool)
            .await
            .unwrap()
            .try_get::<String, _>("org_unit_id")
            .unwrap()
    };
    assert_eq!(unit_of(staff_12[0].clone()).await, "bcv-11");
    assert_eq!(unit_of("aktoer2".into()).await, "bch");
    let tree = core.org_tree(&today).await.unwrap();
    assert!(!tree.iter().any(|(id, _, _)| id == "bcv-12"), "ended today");
    let kept: i64 = sqlx::query("SELECT COUNT(*) AS n FROM org_units WHERE id = 'bcv-12'")
        .fetch_one(pool)
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
    assert_eq!(kept, 1, "ended, not deleted");
    // Access follows at once: aktoer2's role is on Borgercenter Voksne, where aktoer2 no
    // longer works.
    let moved = actor(&core, "aktoer2").await;
    assert!(moved.roles.is_empty(), "{:?}", moved.roles);
    match core.case(&ctx(&moved), &case).await {
        Err(CaseError::Forbidden(_)) => {}
        other => panic!("aktoer2 still sees the case: {other:?}"),
    }
    // Nothing more changed: the next delta is empty.
    let quiet = common::org_source::delta(&core, &client, &today)
        .await
        .unwrap();
    assert_eq!((quiet.units, quiet.users), (0, 0));

    // A unit the register no longer has is ended by the next full load.
    kkorg.forget_unit("bcv-ny");
    let gone = common::org_source::full(&core, &client, &today, &|_| {})
        .await
        .unwrap();
    assert_eq!(gone.ended_units, 1, "{gone:?}");
    let ended: Option<String> = sqlx::query("SELECT valid_to FROM org_units WHERE id = 'bcv-ny'")
        .fetch_one(pool)
        .await
        .unwrap()
        .try_get("valid_to")
        .unwrap();
    assert_eq!(ended.as_deref(), Some(today.as_str()));

    // A wrong API key: a permanent error that says so.
    let e = reqwest::Client::new()
        .get(format!(
            "http://{}{}/enheder",
            sandbox.addr,
            knudepunkt_adapters::kkorg::PATH
        ))
        .header(knudepunkt_adapters::kkorg::API_KEY_HEADER, "forkert")
        .send()
        .await
        .unwrap();
    assert_eq!(e.status(), 401);
    assert!(e.text().await.unwrap().contains("API-nøglen"));
}

/// What a core holds of the organisation: units in force (id, name, parent, P-number,
/// manager), users (id, name, unit, validity) and substitutes.
async fn holdings(engine: &knudepunkt_engine::Engine) -> (Vec<String>, Vec<String>, Vec<String>) {
    let pool = engine.journal().pool();
    let rows = |sql: &'static str| async move {
        sqlx::query(sql)
            .fetch_all(pool)
            .await
            .unwrap()
            .iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| {
                        r.try_get::<Option<String>, _>(i)
                            .unwrap()
                            .unwrap_or_default()
                    })
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .collect::<Vec<String>>()
    };
    (
        rows("SELECT id, name, parent_id, p_number, manager_id, valid_from, valid_to FROM org_units ORDER BY id").await,
        rows("SELECT id, name, org_unit_id, valid_from, valid_to FROM users ORDER BY id").await,
        rows("SELECT user_id, substitute_id FROM user_substitutes ORDER BY user_id, substitute_id").await,
    )
}

/// The same organisation from each source gives the same tree, people and substitutes;
/// switching a core from KK-ORG2 to STS Organisation changes nothing and keeps the
/// addresses STS Organisation does not give; STS Organisation takes only signed calls.
async fn both_sources_give_the_same_organisation(backend: Backend) {
    use knudepunkt_adapters::sts_organisation::StsOrganisationClient;
    let (sandbox, kk_engine, kk_core) =
        common::case::engine_with_core(backend, "org-kk", "routes-dst").await;
    sandbox.handles.kkorg.set_staff(2);
    let env = common::dev_environment(sandbox.addr);
    let (sts_engine, sts_core) =
        common::case::engine_with_core_on(&env, backend, "org-sts", "routes-dst").await;
    let today = chrono::Utc::now().date_naive().to_string();
    let kk = KkOrgClient::for_environment(&kk_engine.routes().environment).unwrap();
    let sts = StsOrganisationClient::for_environment(&sts_engine.routes().environment).unwrap();
    // A reorganisation first, so that ended engagements and units are compared too.
    sandbox
        .handles
        .kkorg
        .reorganise(&today, "bcv-12", "bcv-11", "aktoer2", "bch");
    let from_kk = common::org_source::full(&kk_core, &kk, &today, &|_| {})
        .await
        .unwrap();
    let from_sts = common::org_source::full_from_sts(&sts_core, &sts, &today, &|_| {})
        .await
        .unwrap();
    assert_eq!(
        (from_kk.units, from_kk.users),
        (from_sts.units, from_sts.users)
    );
    let (a, b) = (holdings(&kk_engine).await, holdings(&sts_engine).await);
    assert_eq!(a.0.len(), b.0.len());
    for (x, y) in a.0.iter().zip(&b.0) {
        assert_eq!(x, y);
    }
    assert_eq!(a.1, b.1, "the same people, in the same units");
    assert_eq!(a.2, b.2, "the same substitutes");
    assert!(!a.2.is_empty());
    assert_eq!(
        kk_core.org_tree(&today).await.unwrap(),
        sts_core.org_tree(&today).await.unwrap()
    );
    // A switch of sources in one core: nothing changes, the addresses stay.
    let switched = common::org_source::full_from_sts(&kk_core, &sts, &today, &|_| {})
        .await
        .unwrap();
    assert_eq!(
        (
            switched.added_units,
            switched.changed_units,
            switched.ended_units,
            switched.added_users,
            switched.changed_users,
            switched.ended_users
        ),
        (0, 0, 0, 0, 0, 0),
        "{switched:?}"
    );
    let address: Option<String> = sqlx::query("SELECT address FROM org_units WHERE id = 'bch-01'")
        .fetch_one(kk_engine.journal().pool())
        .await
        .unwrap()
        .try_get("address")
        .unwrap();
    assert!(address.is_some());
    assert!(
        sandbox
            .handles
            .sts
            .issued_for(knudepunkt_adapters::sts_organisation::ENTITY_ID)
            >= 1
    );
}

on_both_backends!(
    the_organisation_comes_from_kk_org2,
    both_sources_give_the_same_organisation,
);
