//! The core's handle: the shared store (the engine's database, so that events commit
//! with the change), the engine to publish through, and the limits inputs must keep.

use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use knudepunkt_engine::journal::migrations::{Migration, run_set};
use knudepunkt_engine::{Engine, Journal};
use sqlx::{AnyConnection, Row};

use crate::access::Actor;
use crate::audit::{self, AuditAction, AuditEntry, AuditOutcome};
use crate::document_files::DocumentStore;
use crate::error::{CaseError, CaseResult};

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "case core",
        sql: include_str!("../migrations/0001_case.sql"),
        sqlite: &[],
        postgres: &[],
    },
    // The audit log is append-only in the database too, not only by convention.
    Migration {
        version: 2,
        name: "append-only audit log",
        sql: "",
        sqlite: &[
            "CREATE TRIGGER case_audit_log_no_update BEFORE UPDATE ON case_audit_log \
             BEGIN SELECT RAISE(ABORT, 'case_audit_log is append-only'); END",
            "CREATE TRIGGER case_audit_log_no_delete BEFORE DELETE ON case_audit_log \
             BEGIN SELECT RAISE(ABORT, 'case_audit_log is append-only'); END",
        ],
        postgres: &[
            "CREATE FUNCTION case_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'case_audit_log is append-only'; END $$",
            "CREATE TRIGGER case_audit_log_append_only BEFORE UPDATE OR DELETE ON case_audit_log \
             FOR EACH ROW EXECUTE FUNCTION case_audit_log_append_only()",
        ],
    },
    // Documents that came in by mail carry the mail's id, so they are journalised once.
    Migration {
        version: 3,
        name: "documents from incoming mail",
        sql: "ALTER TABLE documents ADD COLUMN external_ref TEXT;\n\
              CREATE UNIQUE INDEX documents_external_ref ON documents (external_ref);",
        sqlite: &[],
        postgres: &[],
    },
    // Hospital stays the health service reports (MedCom admissions and discharges).
    Migration {
        version: 4,
        name: "hospital stays",
        sql: "CREATE TABLE hospital_stays (\n\
                id                TEXT PRIMARY KEY,\n\
                cpr               TEXT NOT NULL REFERENCES citizens (cpr),\n\
                hospital_ean      TEXT NOT NULL,\n\
                hospital          TEXT,\n\
                admitted_at       TEXT,\n\
                end_of_treatment  TEXT,\n\
                planned_discharge TEXT,\n\
                discharged_at     TEXT,\n\
                created_at        BIGINT NOT NULL,\n\
                updated_at        BIGINT NOT NULL\n\
              );\n\
              CREATE INDEX hospital_stays_cpr ON hospital_stays (cpr);\n\
              CREATE UNIQUE INDEX hospital_stays_open ON hospital_stays (cpr, hospital_ean) WHERE discharged_at IS NULL;",
        sqlite: &[],
        postgres: &[],
    },
    Migration {
        version: 5,
        name: "index backfill checkpoint",
        sql: "CREATE TABLE index_backfill (\n\
                id              TEXT PRIMARY KEY,\n\
                run             BIGINT NOT NULL,\n\
                total_cases     BIGINT NOT NULL,\n\
                cases_done      BIGINT NOT NULL,\n\
                documents_done  BIGINT NOT NULL,\n\
                batches         BIGINT NOT NULL,\n\
                last_case_id    TEXT,\n\
                started_at      BIGINT NOT NULL,\n\
                updated_at      BIGINT NOT NULL,\n\
                finished_at     BIGINT\n\
              );",
        sqlite: &[],
        postgres: &[],
    },
    Migration {
        version: 6,
        name: "report submissions",
        sql: include_str!("../migrations/0006_report_submissions.sql"),
        sqlite: &[],
        postgres: &[],
    },
    // The statutory reports tell municipal, regional and private providers apart.
    Migration {
        version: 7,
        name: "grant provider type",
        sql: "ALTER TABLE grants ADD COLUMN provider_type TEXT;",
        sqlite: &[],
        postgres: &[],
    },
    // Stays at shelters and hostels (SEL § 110) and women's crisis centres (§ 109).
    Migration {
        version: 8,
        name: "residential stays",
        sql: "CREATE TABLE residential_stays (\n\
                id              TEXT PRIMARY KEY,\n\
                section         TEXT NOT NULL,\n\
                institution     TEXT NOT NULL,\n\
                cpr             TEXT REFERENCES citizens (cpr),\n\
                arrival         TEXT NOT NULL,\n\
                departure       TEXT,\n\
                housing_before  TEXT,\n\
                housing_after   TEXT,\n\
                children        BIGINT,\n\
                created_by      TEXT NOT NULL,\n\
                created_at      BIGINT NOT NULL,\n\
                updated_at      BIGINT NOT NULL\n\
              );\n\
              CREATE INDEX residential_stays_arrival ON residential_stays (section, arrival);",
        sqlite: &[],
        postgres: &[],
    },
    // Crisis centres' ambulant offers beside their stays; drug (SMDB, SEL § 101) and
    // alcohol (NAB, SUL § 141) treatment courses; a submission whose receiver takes
    // its records one by one keeps its file's separator to read them back.
    Migration {
        version: 9,
        name: "ambulant offers and treatment courses",
        sql: "ALTER TABLE residential_stays ADD COLUMN offer TEXT NOT NULL DEFAULT 'OPHOLD';\n\
              CREATE TABLE treatments (\n\
                id              TEXT PRIMARY KEY,\n\
                register        TEXT NOT NULL,\n\
                cpr             TEXT NOT NULL REFERENCES citizens (cpr),\n\
                provider        TEXT NOT NULL,\n\
                referred        TEXT NOT NULL,\n\
                offered         TEXT,\n\
                started         TEXT,\n\
                form            TEXT NOT NULL,\n\
                substance       TEXT,\n\
                units_per_week  BIGINT,\n\
                ended           TEXT,\n\
                end_reason      TEXT,\n\
                withdrawn       TEXT,\n\
                created_by      TEXT NOT NULL,\n\
                created_at      BIGINT NOT NULL,\n\
                updated_at      BIGINT NOT NULL\n\
              );\n\
              CREATE INDEX treatments_register ON treatments (register, referred);\n\
              ALTER TABLE report_submissions ADD COLUMN record_separator TEXT;",
        sqlite: &[],
        postgres: &[],
    },
    // What CPR gives on a citizen beyond the name and address (SF1520 PersonLookup),
    // and the job roles that may see a protected address.
    Migration {
        version: 10,
        name: "citizens from CPR",
        sql: "ALTER TABLE citizens ADD COLUMN municipality_code BIGINT;\n\
              ALTER TABLE citizens ADD COLUMN cpr_status TEXT;\n\
              ALTER TABLE citizens ADD COLUMN address_protected BIGINT;\n\
              ALTER TABLE citizens ADD COLUMN digital_post BIGINT;\n\
              ALTER TABLE citizens ADD COLUMN address_history TEXT NOT NULL DEFAULT '[]';\n\
              ALTER TABLE citizens ADD COLUMN unavailable TEXT NOT NULL DEFAULT '[]';\n\
              ALTER TABLE citizens ADD COLUMN looked_up_at BIGINT;\n\
              ALTER TABLE job_roles ADD COLUMN sees_protected_addresses BIGINT NOT NULL DEFAULT 0;",
        sqlite: &[],
        postgres: &[],
    },
    // KLE as STS Klassifikation gives it: level, parent and validity.
    Migration {
        version: 11,
        name: "KLE from Klassifikation",
        sql: "ALTER TABLE kle_subjects ADD COLUMN level TEXT;\n\
              ALTER TABLE kle_subjects ADD COLUMN parent TEXT;\n\
              ALTER TABLE kle_subjects ADD COLUMN valid_from TEXT;\n\
              ALTER TABLE kle_subjects ADD COLUMN valid_to TEXT;\n\
              ALTER TABLE kle_subjects ADD COLUMN replaced_by TEXT;\n\
              ALTER TABLE kle_subjects ADD COLUMN synced_at BIGINT;",
        sqlite: &[],
        postgres: &[],
    },
    // The organisation from its authoritative source: validity (Virkning), P-number,
    // address, manager, substitutes, and where each source's changes stand.
    Migration {
        version: 12,
        name: "organisation from its source",
        sql: "ALTER TABLE org_units ADD COLUMN p_number TEXT;\n\
              ALTER TABLE org_units ADD COLUMN address TEXT;\n\
              ALTER TABLE org_units ADD COLUMN manager_id TEXT;\n\
              ALTER TABLE org_units ADD COLUMN valid_from TEXT;\n\
              ALTER TABLE org_units ADD COLUMN valid_to TEXT;\n\
              ALTER TABLE org_units ADD COLUMN source TEXT;\n\
              ALTER TABLE org_units ADD COLUMN synced_at BIGINT;\n\
              ALTER TABLE users ADD COLUMN uuid TEXT;\n\
              ALTER TABLE users ADD COLUMN valid_from TEXT;\n\
              ALTER TABLE users ADD COLUMN valid_to TEXT;\n\
              ALTER TABLE users ADD COLUMN source TEXT;\n\
              ALTER TABLE users ADD COLUMN synced_at BIGINT;\n\
              CREATE TABLE user_substitutes (\n\
                user_id        TEXT NOT NULL,\n\
                substitute_id  TEXT NOT NULL,\n\
                PRIMARY KEY (user_id, substitute_id)\n\
              );\n\
              CREATE INDEX user_substitutes_by ON user_substitutes (substitute_id);\n\
              CREATE TABLE org_sync_state (\n\
                source     TEXT PRIMARY KEY,\n\
                cursor     TEXT,\n\
                synced_at  BIGINT NOT NULL\n\
              );",
        sqlite: &[],
        postgres: &[],
    },
    // The records system (eDoc through KKI): each case's ESDH case number and the
    // person eDoc made responsible; caseworkers' notes and deadlines, which go there
    // too; documents checked out in eDoc (read-only here) and the version eDoc has.
    Migration {
        version: 13,
        name: "records system",
        sql: "CREATE TABLE esdh_cases (\n\
                case_id         TEXT PRIMARY KEY REFERENCES cases (id),\n\
                message_id      TEXT NOT NULL,\n\
                state           TEXT NOT NULL,\n\
                sagsnummer      TEXT,\n\
                ansvarlig       TEXT,\n\
                ansvarlig_navn  TEXT,\n\
                detail          TEXT,\n\
                requested_at    BIGINT NOT NULL,\n\
                settled_at      BIGINT\n\
              );\n\
              CREATE INDEX esdh_cases_state ON esdh_cases (state);\n\
              CREATE TABLE case_notes (\n\
                id          TEXT PRIMARY KEY,\n\
                case_id     TEXT NOT NULL REFERENCES cases (id),\n\
                text        TEXT NOT NULL,\n\
                by_user     TEXT NOT NULL,\n\
                at          BIGINT NOT NULL\n\
              );\n\
              CREATE INDEX case_notes_case ON case_notes (case_id);\n\
              CREATE TABLE case_deadlines (\n\
                id          TEXT PRIMARY KEY,\n\
                case_id     TEXT NOT NULL REFERENCES cases (id),\n\
                kind        TEXT NOT NULL,\n\
                due         TEXT NOT NULL,\n\
                text        TEXT NOT NULL,\n\
                by_user     TEXT NOT NULL,\n\
                at          BIGINT NOT NULL\n\
              );\n\
              CREATE INDEX case_deadlines_case ON case_deadlines (case_id);\n\
              ALTER TABLE documents ADD COLUMN checked_out_by TEXT;\n\
              ALTER TABLE documents ADD COLUMN checked_out_name TEXT;\n\
              ALTER TABLE documents ADD COLUMN checked_out_at BIGINT;\n\
              ALTER TABLE documents ADD COLUMN esdh_version BIGINT;",
        sqlite: &[],
        postgres: &[],
    },
    // Handovers from the children's authority (DUBU) at 18: a preparation task for
    // each young person turning 18 within six months, until the package is imported.
    Migration {
        version: 14,
        name: "handovers at 18",
        sql: "CREATE TABLE handovers (\n\
                id              TEXT PRIMARY KEY,\n\
                cpr             TEXT NOT NULL,\n\
                given_name      TEXT NOT NULL,\n\
                family_name     TEXT NOT NULL,\n\
                turns_18        TEXT NOT NULL,\n\
                state           TEXT NOT NULL,\n\
                package_id      TEXT,\n\
                package_sha256  TEXT,\n\
                case_id         TEXT,\n\
                plan_id         TEXT,\n\
                services        TEXT NOT NULL DEFAULT '[]',\n\
                detail          TEXT,\n\
                task_raised_at  BIGINT NOT NULL,\n\
                updated_at      BIGINT NOT NULL\n\
              );\n\
              CREATE INDEX handovers_state ON handovers (state, turns_18);",
        sqlite: &[],
        postgres: &[],
    },
    // Document files are mostly compressed already (PDF, images): PostgreSQL stores
    // them out of line without trying to compress them again.
    Migration {
        version: 15,
        name: "document files stored uncompressed",
        sql: "",
        sqlite: &[],
        postgres: &["ALTER TABLE documents ALTER COLUMN content SET STORAGE EXTERNAL"],
    },
    // A document's content may be kept as a file named by its SHA-256
    // (`document_files`); the sweep asks whether any document names a file.
    Migration {
        version: 16,
        name: "document contents in files",
        sql: "ALTER TABLE documents ADD COLUMN content_in_files BIGINT NOT NULL DEFAULT 0;
              CREATE INDEX documents_file ON documents (sha256) WHERE content_in_files = 1;",
        sqlite: &[],
        postgres: &[],
    },
];

/// Limits on what callers may store.
#[derive(Clone, Debug)]
pub struct Limits {
    /// The largest document content accepted, in bytes.
    pub max_document_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_document_bytes: 20 * 1024 * 1024,
        }
    }
}

/// Who is asking, and why: every call that touches a citizen's data carries one.
#[derive(Clone, Debug)]
pub struct Ctx<'a> {
    pub actor: &'a Actor,
    pub purpose: &'a str,
}

/// The case core; cheap to clone.
#[derive(Clone)]
pub struct CaseCore {
    pub(crate) engine: Engine,
    pub(crate) limits: Limits,
    /// Where documents' contents are kept.
    pub(crate) documents: DocumentStore,
    /// The last engine notification looked at (those not about cases stay open).
    pub(crate) notification_cursor: Arc<AtomicI64>,
    pub(crate) person_register: crate::cpr_lookup::SharedRegister,
    pub(crate) handover_source: crate::handover::SharedSource,
}

impl CaseCore {
    /// Brings the core's tables up to date on the engine's database; documents'
    /// contents are kept in the database.
    pub async fn open(engine: Engine, limits: Limits) -> CaseResult<Self> {
        Self::open_with(engine, limits, DocumentStore::Database).await
    }

    /// As [`CaseCore::open`], with documents' contents kept where `documents` says.
    pub async fn open_with(
        engine: Engine,
        limits: Limits,
        documents: DocumentStore,
    ) -> CaseResult<Self> {
        let journal = engine.journal().clone();
        let mut conn = journal.pool().acquire().await?;
        run_set(&mut conn, journal.backend(), "case_migrations", MIGRATIONS).await?;
        let core = CaseCore::attached(engine, limits, documents);
        core.bind_inbound();
        Ok(core)
    }

    /// A handle on a core already opened on `engine`'s database.
    pub(crate) fn attached(engine: Engine, limits: Limits, documents: DocumentStore) -> Self {
        CaseCore {
            engine,
            limits,
            documents,
            notification_cursor: Arc::new(AtomicI64::new(0)),
            person_register: Default::default(),
            handover_source: Default::default(),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub(crate) fn journal(&self) -> &Journal {
        self.engine.journal()
    }

    /// The environment profile's link `name` for an object, `{id}` filled in (e.g.
    /// `sapa_case`, SAPA's view of a case); `None` when the profile names none.
    pub fn link(&self, name: &str, id: &str) -> Option<String> {
        self.engine
            .routes()
            .environment
            .links
            .get(name)
            .map(|l| l.replace("{id}", id))
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub(crate) async fn begin(&self) -> CaseResult<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(self.journal().begin().await?)
    }

    /// Loads the user a request authenticated as; `None` if unknown.
    pub async fn actor(&self, user_id: &str) -> CaseResult<Option<Actor>> {
        let mut conn = self.journal().pool().acquire().await?;
        Actor::load(&mut conn, user_id).await
    }

    /// Audits a refusal (in its own transaction: the refused change is not made) and
    /// returns the error to give the caller.
    pub(crate) async fn refuse(
        &self,
        ctx: &Ctx<'_>,
        action: AuditAction,
        resource: String,
        cpr: Option<&str>,
        why: String,
    ) -> CaseError {
        let entry = AuditEntry {
            actor: &ctx.actor.user_id,
            action,
            resource,
            cpr,
            purpose: ctx.purpose,
            outcome: AuditOutcome::Denied,
        };
        match self.journal().pool().acquire().await {
            Ok(mut conn) => {
                if let Err(e) = audit::append(&mut conn, &entry, now_ms()).await {
                    return e;
                }
            }
            Err(e) => return e.into(),
        }
        CaseError::Forbidden(why)
    }

    /// Every audit line about a citizen (for auditors; itself audited).
    pub async fn audit_of_citizen(
        &self,
        ctx: &Ctx<'_>,
        cpr: &crate::Cpr,
    ) -> CaseResult<Vec<audit::AuditLine>> {
        let mut tx = self.begin().await?;
        let lines = audit::of_citizen(&mut tx, cpr.expose()).await?;
        audit::allowed(
            &mut tx,
            ctx,
            AuditAction::Read,
            "audit".into(),
            cpr.expose(),
            now_ms(),
        )
        .await?;
        tx.commit().await?;
        Ok(lines)
    }
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub(crate) fn flag(row: &sqlx::any::AnyRow, column: &str) -> CaseResult<bool> {
    Ok(row.try_get::<i64, _>(column)? != 0)
}

/// Whether a row with `id` exists in `table` (a fixed identifier from this crate).
pub(crate) async fn exists(
    conn: &mut AnyConnection,
    table: &'static str,
    column: &'static str,
    id: &str,
) -> CaseResult<bool> {
    Ok(sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT 1 AS one FROM {table} WHERE {column} = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .is_some())
}

/// Parses an ISO date (YYYY-MM-DD), naming `field` when it is not one.
pub(crate) fn parse_date(field: &str, value: &str) -> CaseResult<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| CaseError::invalid(field, format!("{value:?} is not a date (YYYY-MM-DD)")))
}

/// Refuses an empty text field.
pub(crate) fn required(field: &str, value: &str) -> CaseResult<()> {
    if value.trim().is_empty() {
        Err(CaseError::invalid(field, "must not be empty"))
    } else {
        Ok(())
    }
}
