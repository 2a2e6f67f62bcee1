-- The journal: one row per message, its history, and the events told back to initiators.
-- Portable SQL for SQLite and PostgreSQL; {{BLOB}} and {{SERIAL_PK}} are the only
-- words that differ and are filled in per backend by journal::migrations.
CREATE TABLE messages (
    id               TEXT PRIMARY KEY,
    route            TEXT NOT NULL,
    direction        TEXT NOT NULL,
    correlation_id   TEXT,
    idempotency_key  TEXT NOT NULL,
    payload          {{BLOB}} NOT NULL,
    content_type     TEXT NOT NULL,
    checksum         TEXT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    -- when the message is next due: its next attempt, the end of its claim's lease, or
    -- (accepted) the deadline for the receiver's confirmation
    due_at           BIGINT,
    deadline_at      BIGINT,
    state            TEXT NOT NULL,
    claimed_from     TEXT,
    claim_token      TEXT,
    lease_until      BIGINT,
    last_error_kind  TEXT,
    last_error       TEXT,
    external_ids     TEXT NOT NULL DEFAULT '{}',
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE UNIQUE INDEX messages_route_idempotency ON messages (route, idempotency_key);
CREATE INDEX messages_due ON messages (due_at) WHERE state IN ('pending', 'retrying', 'in_flight', 'accepted');
CREATE INDEX messages_correlation ON messages (correlation_id);
-- the dead letter queue, by route; open messages are found through messages_due
CREATE INDEX messages_dead ON messages (route) WHERE state = 'dead';

CREATE TABLE message_transitions (
    id          {{SERIAL_PK}},
    message_id  TEXT NOT NULL REFERENCES messages (id),
    from_state  TEXT,
    to_state    TEXT NOT NULL,
    at          BIGINT NOT NULL,
    attempt     BIGINT NOT NULL,
    detail      TEXT
);
CREATE INDEX message_transitions_message ON message_transitions (message_id);

CREATE TABLE engine_notifications (
    id              {{SERIAL_PK}},
    message_id      TEXT NOT NULL REFERENCES messages (id),
    route           TEXT NOT NULL,
    correlation_id  TEXT,
    kind            TEXT NOT NULL,
    detail          TEXT,
    created_at      BIGINT NOT NULL,
    consumed_at     BIGINT
);
CREATE INDEX engine_notifications_open ON engine_notifications (consumed_at);
