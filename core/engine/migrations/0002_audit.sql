-- Every read of message content (which may hold a citizen's data) through the API or CLI:
-- who read what, and why.
CREATE TABLE audit_reads (
    id          {{SERIAL_PK}},
    at          BIGINT NOT NULL,
    reader      TEXT NOT NULL,
    channel     TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    purpose     TEXT NOT NULL
);
CREATE INDEX audit_reads_message ON audit_reads (message_id);
