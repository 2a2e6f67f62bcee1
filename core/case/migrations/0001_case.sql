-- The case and benefit core. Portable SQL for SQLite and PostgreSQL; {{BLOB}} and
-- {{SERIAL_PK}} are filled in per backend. Dates are ISO 'YYYY-MM-DD' text (they sort),
-- instants are epoch milliseconds, money is in øre.

-- Master data (filled from STS Organisation and Klassifikation in a later issue; seeded
-- with a small default org for the demo).
CREATE TABLE org_units (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    parent_id   TEXT REFERENCES org_units (id)
);

CREATE TABLE kle_subjects (
    number      TEXT PRIMARY KEY,
    title       TEXT NOT NULL
);

CREATE TABLE users (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    org_unit_id TEXT NOT NULL REFERENCES org_units (id)
);

-- A job role grants KLE numbers within one org unit; confidential cases need a grant of
-- their own (case_access_grants) on top of a matching role.
CREATE TABLE job_roles (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    org_unit_id        TEXT NOT NULL REFERENCES org_units (id),
    catalogue_editor   BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE job_role_kle (
    role_id     TEXT NOT NULL REFERENCES job_roles (id),
    kle         TEXT NOT NULL,
    PRIMARY KEY (role_id, kle)
);
CREATE TABLE user_roles (
    user_id     TEXT NOT NULL REFERENCES users (id),
    role_id     TEXT NOT NULL REFERENCES job_roles (id),
    PRIMARY KEY (user_id, role_id)
);

CREATE TABLE citizens (
    cpr          TEXT PRIMARY KEY,
    fictive      BIGINT NOT NULL,
    given_name   TEXT NOT NULL,
    family_name  TEXT NOT NULL,
    address      TEXT,
    relations    TEXT NOT NULL DEFAULT '[]',
    contacts     TEXT NOT NULL DEFAULT '[]',
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE cases (
    id              TEXT PRIMARY KEY,
    cpr             TEXT NOT NULL REFERENCES citizens (cpr),
    title           TEXT NOT NULL,
    kle             TEXT NOT NULL REFERENCES kle_subjects (number),
    action_facet    TEXT NOT NULL,
    case_type       TEXT NOT NULL,
    org_unit_id     TEXT NOT NULL REFERENCES org_units (id),
    caseworker_id   TEXT NOT NULL REFERENCES users (id),
    status          TEXT NOT NULL,
    confidential    BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX cases_cpr ON cases (cpr);

CREATE TABLE case_status_history (
    id          {{SERIAL_PK}},
    case_id     TEXT NOT NULL REFERENCES cases (id),
    status      TEXT NOT NULL,
    at          BIGINT NOT NULL,
    by_user     TEXT NOT NULL,
    note        TEXT
);
CREATE INDEX case_status_history_case ON case_status_history (case_id);

CREATE TABLE case_access_grants (
    case_id     TEXT NOT NULL REFERENCES cases (id),
    user_id     TEXT NOT NULL REFERENCES users (id),
    granted_by  TEXT NOT NULL,
    at          BIGINT NOT NULL,
    PRIMARY KEY (case_id, user_id)
);

CREATE TABLE documents (
    id            TEXT PRIMARY KEY,
    case_id       TEXT NOT NULL REFERENCES cases (id),
    title         TEXT NOT NULL,
    doc_type      TEXT NOT NULL,
    media_type    TEXT NOT NULL,
    content       {{BLOB}} NOT NULL,
    size          BIGINT NOT NULL,
    sha256        TEXT NOT NULL,
    journal_date  TEXT NOT NULL,
    confidential  BIGINT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX documents_case ON documents (case_id);

-- The appeal deadline is set only once the decision letter's dispatch is confirmed.
CREATE TABLE decisions (
    id                     TEXT PRIMARY KEY,
    case_id                TEXT NOT NULL REFERENCES cases (id),
    outcome                TEXT NOT NULL,
    legal_basis            TEXT NOT NULL,
    decided_on             TEXT NOT NULL,
    reasoning              TEXT NOT NULL,
    appeal_weeks           BIGINT NOT NULL,
    letter_dispatched_on   TEXT,
    appeal_deadline        TEXT,
    created_by             TEXT NOT NULL,
    created_at             BIGINT NOT NULL
);
CREATE INDEX decisions_case ON decisions (case_id);

-- Letters asked of the engine; reconciled against the journal until dispatched or failed.
CREATE TABLE letters (
    message_id    TEXT PRIMARY KEY,
    case_id       TEXT NOT NULL REFERENCES cases (id),
    decision_id   TEXT REFERENCES decisions (id),
    route         TEXT NOT NULL,
    status        TEXT NOT NULL,
    detail        TEXT,
    requested_at  BIGINT NOT NULL,
    settled_at    BIGINT
);
CREATE INDEX letters_open ON letters (status);

-- What the case shows about its integrations ("letter to citizen failed: ...").
CREATE TABLE case_notices (
    id          {{SERIAL_PK}},
    case_id     TEXT NOT NULL REFERENCES cases (id),
    kind        TEXT NOT NULL,
    text        TEXT NOT NULL,
    message_id  TEXT,
    at          BIGINT NOT NULL
);
CREATE INDEX case_notices_case ON case_notices (case_id);

CREATE TABLE service_catalogues (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);
CREATE TABLE services (
    id            TEXT PRIMARY KEY,
    catalogue_id  TEXT NOT NULL REFERENCES service_catalogues (id),
    parent_id     TEXT REFERENCES services (id),
    code          TEXT NOT NULL,
    name          TEXT NOT NULL,
    kle           TEXT NOT NULL REFERENCES kle_subjects (number),
    legal_basis   TEXT NOT NULL,
    price_ore     BIGINT NOT NULL,
    unit          TEXT NOT NULL,
    description   TEXT NOT NULL,
    economic      BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    UNIQUE (catalogue_id, code)
);

CREATE TABLE grants (
    id            TEXT PRIMARY KEY,
    case_id       TEXT NOT NULL REFERENCES cases (id),
    service_id    TEXT NOT NULL REFERENCES services (id),
    period_from   TEXT NOT NULL,
    period_to     TEXT,
    amount_ore    BIGINT,
    quantity      BIGINT,
    provider      TEXT NOT NULL,
    status        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX grants_case ON grants (case_id);

CREATE TABLE consents (
    id            TEXT PRIMARY KEY,
    cpr           TEXT NOT NULL REFERENCES citizens (cpr),
    case_id       TEXT REFERENCES cases (id),
    kind          TEXT NOT NULL,
    given_by      TEXT NOT NULL,
    valid_from    TEXT NOT NULL,
    valid_to      TEXT,
    withdrawn_at  BIGINT,
    created_at    BIGINT NOT NULL
);
CREATE INDEX consents_cpr ON consents (cpr);

CREATE TABLE plans (
    id          TEXT PRIMARY KEY,
    cpr         TEXT NOT NULL REFERENCES citizens (cpr),
    title       TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE TABLE plan_cases (
    plan_id     TEXT NOT NULL REFERENCES plans (id),
    case_id     TEXT NOT NULL REFERENCES cases (id),
    PRIMARY KEY (plan_id, case_id)
);
CREATE TABLE goals (
    id          TEXT PRIMARY KEY,
    plan_id     TEXT NOT NULL REFERENCES plans (id),
    parent_id   TEXT REFERENCES goals (id),
    text        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE TABLE grant_goals (
    grant_id    TEXT NOT NULL REFERENCES grants (id),
    goal_id     TEXT NOT NULL REFERENCES goals (id),
    PRIMARY KEY (grant_id, goal_id)
);

-- Append-only: who read or wrote which citizen's data, when, and why.
CREATE TABLE case_audit_log (
    id          {{SERIAL_PK}},
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    resource    TEXT NOT NULL,
    cpr         TEXT,
    purpose     TEXT NOT NULL,
    outcome     TEXT NOT NULL
);
CREATE INDEX case_audit_log_cpr ON case_audit_log (cpr);
