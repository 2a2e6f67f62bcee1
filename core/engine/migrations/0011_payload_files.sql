-- A SQLite file journal keeps a payload of 64 KB or more in a file of its own beside
-- the database (journal::payload_files), written once and read once, and the row keeps
-- its size here, so that a claim can weigh a batch without reading it. Null where the
-- payload is in the row or in message_payloads, and always on PostgreSQL.
ALTER TABLE messages ADD COLUMN payload_size BIGINT
