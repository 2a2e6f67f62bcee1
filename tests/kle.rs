//! KLE from STS Klassifikation (SF1510) on SQLite and PostgreSQL: the sandbox's
//! Klassifikation, seeded with KL's published emneplan, is read whole through soeg and
//! list over OIO IDWS; every main group, group and subject arrives with its title (æøå
//! intact), parent and validity; a second sync changes nothing; a class that expires is
//! ended (not deleted) and no longer takes new cases, naming what replaced it; the
//! numbers in use that need attention are reported.

mod common;

use common::Backend;
use common::case::{actor, ctx};
use knudepunkt_adapters::klassifikation::{KlassifikationClient, KleClass, Level};
use sqlx::Row;

async fn the_whole_emneplan_loads_and_stays_in_step(backend: Backend) {
    let (sandbox, engine, core) =
        common::case::engine_with_core(backend, "kle", "routes-dst").await;
    let client = KlassifikationClient::for_environment(&engine.routes().environment).unwrap();
    let sim = &sandbox.handles.klassifikation;
    assert_eq!(sim.count(), 41 + 691 + 3457);

    let heard = std::sync::Mutex::new(Vec::new());
    let first = common::kle_source::sync(&core, &client, &|read, total| {
        heard.lock().unwrap().push((read, total))
    })
    .await
    .unwrap();
    assert_eq!(first.total, 4189);
    // The seeded subjects were there already (same titles; now with level and validity).
    assert_eq!(first.added + first.changed, 4189, "{first:?}");
    assert_eq!(first.ended, 0);
    assert_eq!(heard.lock().unwrap().last(), Some(&(4189, 4189)));
    let pool = engine.journal().pool();
    let count = |level: &'static str| async move {
        sqlx::query("SELECT COUNT(*) AS n FROM kle_subjects WHERE level = $1")
            .bind(level)
            .fetch_one(pool)
            .await
            .unwrap()
            .try_get::<i64, _>("n")
            .unwrap()
    };
    assert_eq!(count("emne").await, 3457);
    assert_eq!(count("gruppe").await, 691);
    assert_eq!(count("hovedgruppe").await, 41);
    let row =
        sqlx::query("SELECT title, parent, valid_from FROM kle_subjects WHERE number = '27.36.12'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(
        row.try_get::<String, _>("title").unwrap(),
        "Socialpædagogisk bistand (hjælp, omsorg eller støtte samt genoptræning)"
    );
    assert_eq!(row.try_get::<String, _>("parent").unwrap(), "27.36");
    let moved =
        sqlx::query("SELECT valid_to, replaced_by FROM kle_subjects WHERE number = '00.10'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(
        moved.try_get::<String, _>("valid_to").unwrap(),
        "2014-11-01"
    );
    assert_eq!(moved.try_get::<String, _>("replaced_by").unwrap(), "15.40");

    // Again: nothing changes.
    let again = common::kle_source::sync(&core, &client, &|_, _| {})
        .await
        .unwrap();
    assert_eq!(
        (again.unchanged, again.added, again.changed, again.ended),
        (4189, 0, 0, 0)
    );

    // A case on 27.36.12; then KLE moves the subject: it expires, replaced by a new one.
    let leder = actor(&core, "leder1").await;
    core.register_citizen(&ctx(&leder), &common::case::anna())
        .await
        .unwrap();
    let new_case = |kle: &str| -> knudepunkt_case::cases::NewCase {
        serde_json::from_value(serde_json::json!({
            "cpr": "0101901234", "title": "Støtte", "kle": kle, "action_facet": "G01",
            "case_type": "Voksenhandicap", "org_unit_id": "bch", "caseworker_id": "leder1",
            "confidential": false,
        }))
        .unwrap()
    };
    core.create_case(&ctx(&leder), &new_case("27.36.12"))
        .await
        .unwrap();
    let yesterday = (chrono::Utc::now().date_naive() - chrono::Duration::days(1)).to_string();
    let mut old = sim.class("27.36.12").unwrap();
    old.expired = Some(yesterday.clone());
    old.replaced_by = Some("27.36.14".into());
    sim.put(old);
    sim.put(KleClass {
        number: "27.36.14".into(),
        title: "Socialpædagogisk støtte efter § 85".into(),
        level: Level::Emne,
        parent: Some("27.36".into()),
        created: Some(yesterday.clone()),
        expired: None,
        replaced_by: None,
    });
    let moved = common::kle_source::sync(&core, &client, &|_, _| {})
        .await
        .unwrap();
    assert_eq!(
        (moved.added, moved.changed, moved.ended),
        (1, 1, 0),
        "{moved:?}"
    );
    let refused = core
        .create_case(&ctx(&leder), &new_case("27.36.12"))
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("expired") && refused.to_string().contains("27.36.14"),
        "{refused}"
    );
    core.create_case(&ctx(&leder), &new_case("27.36.14"))
        .await
        .unwrap();
    // The open case on the expired subject is reported, with its replacement; and so
    // are the job roles that grant it.
    let today = chrono::Utc::now().date_naive().to_string();
    let findings = core.kle_check(&today, &today).await.unwrap();
    let case_finding = findings
        .iter()
        .find(|f| f.number == "27.36.12" && f.used_by == "case")
        .unwrap();
    assert_eq!(case_finding.problem, "expired");
    assert_eq!(case_finding.uses, 1);
    assert_eq!(case_finding.replaced_by.as_deref(), Some("27.36.14"));
    // The source dropping a class ends it, not deletes it; old cases keep theirs.
    let cases: i64 = sqlx::query("SELECT COUNT(*) AS n FROM cases WHERE kle = '27.36.12'")
        .fetch_one(pool)
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
    assert_eq!(cases, 1);
    sim.remove("27.36.14");
    let dropped = common::kle_source::sync(&core, &client, &|_, _| {})
        .await
        .unwrap();
    assert_eq!((dropped.total, dropped.ended), (4189, 1), "{dropped:?}");
    let ended: String = sqlx::query("SELECT valid_to FROM kle_subjects WHERE number = '27.36.14'")
        .fetch_one(pool)
        .await
        .unwrap()
        .try_get("valid_to")
        .unwrap();
    assert_eq!(ended, today);
    let in_use = core.kle_check(&today, &today).await.unwrap();
    assert!(
        in_use
            .iter()
            .any(|f| f.number == "27.36.14" && f.problem == "expired"),
        "{in_use:?}"
    );
    assert!(
        sandbox
            .handles
            .sts
            .issued_for(knudepunkt_adapters::klassifikation::ENTITY_ID)
            >= 1
    );
}

/// The municipality's own classification: a service of the catalogue and its local
/// variant are kept in STS Klassifikation as they are added and changed (Klasse import
/// through the route klassifikation.ydelse, validated against the official schema).
async fn the_catalogue_is_kept_in_klassifikation(backend: Backend) {
    use knudepunkt_case::catalogue::{NewCatalogue, NewService, ServicePatch};
    use knudepunkt_engine::message::MessageState;
    let (sandbox, engine, core) =
        common::case::engine_with_core(backend, "kle-local", "routes-dst").await;
    let workers = engine.start();
    let editor = actor(&core, "redaktoer").await;
    let catalogue = core
        .create_catalogue(
            &ctx(&editor),
            &NewCatalogue {
                name: "Voksne 2026".into(),
            },
        )
        .await
        .unwrap();
    let service = |code: &str, name: &str, parent: Option<&str>| -> NewService {
        serde_json::from_value(serde_json::json!({
            "code": code, "name": name, "kle": "27.36.12", "legal_basis": "SEL § 85",
            "price_ore": 54000, "unit": "time", "parent_id": parent,
        }))
        .unwrap()
    };
    let base = core
        .add_service(
            &ctx(&editor),
            &catalogue.id,
            &service("SEL85-HJEM", "Socialpædagogisk støtte", None),
        )
        .await
        .unwrap();
    let variant = core
        .add_service(
            &ctx(&editor),
            &catalogue.id,
            &service(
                "SEL85-HJEM-NAT",
                "Socialpædagogisk støtte, nat og weekend",
                Some(&base.id),
            ),
        )
        .await
        .unwrap();
    core.update_service(
        &ctx(&editor),
        &variant.id,
        &ServicePatch {
            name: Some("Socialpædagogisk støtte, nat, weekend og helligdage".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let m = common::settled(
        engine.journal(),
        "klassifikation.ydelse",
        3,
        std::time::Duration::from_secs(20),
    )
    .await;
    assert!(
        m.iter().all(|m| m.state == MessageState::Delivered),
        "{m:?}"
    );
    let sim = &sandbox.handles.klassifikation;
    let local = sim.local_class(&variant.id).unwrap();
    assert_eq!(local.key, "SEL85-HJEM-NAT");
    assert_eq!(
        local.title,
        "Socialpædagogisk støtte, nat, weekend og helligdage"
    );
    assert_eq!(local.parent.as_deref(), Some(base.id.as_str()));
    assert_eq!(local.imports, 2);
    assert_eq!(sim.local_class(&base.id).unwrap().key, "SEL85-HJEM");
    engine.shutdown(workers).await;
}

on_both_backends!(
    the_whole_emneplan_loads_and_stays_in_step,
    the_catalogue_is_kept_in_klassifikation,
);
