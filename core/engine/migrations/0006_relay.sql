-- The RabbitMQ transport: when a message was last handed to the broker (its publisher
-- confirm arrived), NULL while it waits to be handed over; and the engine instances
-- that share this journal, with their heartbeat, for `knudepunkt status`.
ALTER TABLE messages ADD COLUMN relayed_at BIGINT;
CREATE INDEX messages_relay ON messages (due_at) WHERE relayed_at IS NULL AND state IN ('pending', 'retrying', 'accepted');

CREATE TABLE engine_instances (
    id          TEXT PRIMARY KEY,
    host        TEXT NOT NULL,
    pid         BIGINT NOT NULL,
    transport   TEXT NOT NULL,
    connected   BIGINT NOT NULL,
    consumers   BIGINT NOT NULL,
    in_flight   BIGINT NOT NULL,
    handled     BIGINT NOT NULL,
    started_at  BIGINT NOT NULL,
    seen_at     BIGINT NOT NULL
);
