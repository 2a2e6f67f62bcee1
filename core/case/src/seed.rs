//! The small default organisation the demo and the tests run on, until master data
//! (STS Organisation and Klassifikation) fills these tables. Its KLE subjects are real
//! (KLE-Emneplan 2015); its people and units are made up.

use sqlx::AnyConnection;

use crate::error::CaseResult;
use crate::store::CaseCore;

/// KLE subjects of the adult social services area, with their official titles.
pub const KLE_SUBJECTS: &[(&str, &str)] = &[
    ("27.12.12", "Handleplaner, voksne"),
    ("27.36.04", "Personlig og praktisk hjælp"),
    (
        "27.36.12",
        "Socialpædagogisk bistand (hjælp, omsorg eller støtte samt genoptræning)",
    ),
    ("27.39.20", "Borgerstyret personlig assistance"),
    ("27.48.04", "Ledsageordning"),
    ("27.48.08", "Støtte- og kontaktperson"),
    (
        "27.54.08",
        "Aktivitets- og samværstilbud (væresteder, daghjem m.v.)",
    ),
    (
        "27.57.04",
        "Midlertidige botilbud efter servicelovens § 107",
    ),
    (
        "27.57.08",
        "Længerevarende botilbud efter servicelovens § 108",
    ),
    (
        "27.57.16",
        "Midlertidige botilbud efter servicelovens § 110 (forsorgshjem og herberger)",
    ),
    (
        "27.60.12",
        "Hjælpemidler (ikke kropsbårne eller mobilitetshjælpemidler)",
    ),
    ("29.24.04", "Alkoholbehandlingstilbud"),
    (
        "32.18.08",
        "Merudgifter for voksne med nedsat funktionsevne",
    ),
];

/// Org units: id, name, parent.
pub const ORG_UNITS: &[(&str, &str, Option<&str>)] = &[
    ("kk", "Københavns Kommune", None),
    ("sof", "Socialforvaltningen", Some("kk")),
    ("bch", "Borgercenter Handicap", Some("sof")),
    ("bcv", "Borgercenter Voksne", Some("sof")),
];

/// A job role: id, name, org unit, KLE grants, catalogue editor, sees protected
/// addresses.
pub type JobRoleSeed = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    bool,
    bool,
);

/// Job roles.
pub const JOB_ROLES: &[JobRoleSeed] = &[
    (
        "rolle-handicap",
        "Sagsbehandler, handicap",
        "bch",
        &[
            "27.12.12", "27.36", "27.39", "27.48", "27.57", "27.60", "32.18",
        ],
        false,
        false,
    ),
    (
        "rolle-voksne",
        "Sagsbehandler, udsatte voksne",
        "bcv",
        &["27.12.12", "27.36", "27.48", "27.54", "27.57", "29.24"],
        false,
        false,
    ),
    (
        "rolle-katalog",
        "Ydelseskatalog-redaktør",
        "sof",
        &[],
        true,
        false,
    ),
    (
        "rolle-adressebeskyttelse",
        "Adgang til beskyttede adresser",
        "bch",
        &[],
        false,
        true,
    ),
];

/// Users: id, name, org unit, roles.
pub const USERS: &[(&str, &str, &str, &[&str])] = &[
    (
        "aktoer1",
        "Aktør 1 (sagsbehandler, handicap)",
        "bch",
        &["rolle-handicap"],
    ),
    (
        "aktoer2",
        "Aktør 2 (sagsbehandler, udsatte voksne)",
        "bcv",
        &["rolle-voksne"],
    ),
    (
        "leder1",
        "Leder, handicap",
        "bch",
        &["rolle-handicap", "rolle-adressebeskyttelse"],
    ),
    ("redaktoer", "Katalogredaktør", "sof", &["rolle-katalog"]),
];

async fn run(
    conn: &mut AnyConnection,
    sql: &'static str,
    binds: &[Option<&str>],
) -> CaseResult<()> {
    let mut q = sqlx::query(sql);
    for b in binds {
        q = q.bind(*b);
    }
    q.execute(&mut *conn).await?;
    Ok(())
}

impl CaseCore {
    /// Seeds the default organisation, KLE subjects, users and job roles. Idempotent.
    pub async fn seed_default_org(&self) -> CaseResult<()> {
        let mut tx = self.begin().await?;
        for (number, title) in KLE_SUBJECTS {
            run(
                &mut tx,
                "INSERT INTO kle_subjects (number, title) VALUES ($1, $2) ON CONFLICT (number) DO NOTHING",
                &[Some(number), Some(title)],
            )
            .await?;
        }
        for (id, name, parent) in ORG_UNITS {
            run(
                &mut tx,
                "INSERT INTO org_units (id, name, parent_id) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
                &[Some(id), Some(name), *parent],
            )
            .await?;
        }
        for (id, name, unit, kle, editor, protected) in JOB_ROLES {
            sqlx::query(
                "INSERT INTO job_roles (id, name, org_unit_id, catalogue_editor, sees_protected_addresses) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
            )
            .bind(*id)
            .bind(*name)
            .bind(*unit)
            .bind(*editor as i64)
            .bind(*protected as i64)
            .execute(&mut *tx)
            .await?;
            for k in kle.iter() {
                run(
                    &mut tx,
                    "INSERT INTO job_role_kle (role_id, kle) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[Some(id), Some(k)],
                )
                .await?;
            }
        }
        for (id, name, unit, roles) in USERS {
            run(
                &mut tx,
                "INSERT INTO users (id, name, org_unit_id) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
                &[Some(id), Some(name), Some(unit)],
            )
            .await?;
            for r in roles.iter() {
                run(
                    &mut tx,
                    "INSERT INTO user_roles (user_id, role_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[Some(id), Some(r)],
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}
