-- Messages by route and state, read from the index alone: counting a route's messages
-- (an operator's overview, a backfill's progress) never reads the payloads, which on
-- SQLite lie before the state in the row.
CREATE INDEX messages_route_state ON messages (route, state);
