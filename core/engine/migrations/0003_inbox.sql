-- What came in and belongs to no message: a Digital Post status for no known letter, an
-- inbound memo that references no case. Kept for an operator, once per sender's id.
CREATE TABLE operator_inbox (
    id            {{SERIAL_PK}},
    kind          TEXT NOT NULL,
    reference     TEXT NOT NULL,
    detail        TEXT NOT NULL,
    payload       {{BLOB}} NOT NULL,
    content_type  TEXT NOT NULL,
    received_at   BIGINT NOT NULL,
    resolved_at   BIGINT,
    resolved_by   TEXT,
    resolution    TEXT
);
CREATE UNIQUE INDEX operator_inbox_reference ON operator_inbox (kind, reference);
