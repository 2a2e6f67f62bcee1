-- Statutory report submissions: each one's file, its validation, who approved it, where
-- it is on its way, and the one it corrects; and the log of every change of state.
CREATE TABLE report_submissions (
    id              TEXT PRIMARY KEY,
    report          TEXT NOT NULL,
    period          TEXT NOT NULL,
    state           TEXT NOT NULL,
    records         BIGINT NOT NULL,
    findings_total  BIGINT NOT NULL,
    findings        TEXT NOT NULL,
    file            {{BLOB}} NOT NULL,
    sha256          TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    approved_by     TEXT,
    approved_at     BIGINT,
    replaces        TEXT REFERENCES report_submissions (id),
    message_id      TEXT,
    receipt_id      TEXT,
    reason          TEXT,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX report_submissions_report ON report_submissions (report, period);
CREATE TABLE report_submission_log (
    id              {{SERIAL_PK}},
    submission_id   TEXT NOT NULL REFERENCES report_submissions (id),
    state           TEXT NOT NULL,
    by_user         TEXT NOT NULL,
    at              BIGINT NOT NULL,
    detail          TEXT
);
CREATE INDEX report_submission_log_submission ON report_submission_log (submission_id);
