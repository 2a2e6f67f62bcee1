-- A relay round's hold on the messages it is publishing: set when the round takes them,
-- cleared when the broker's confirm arrives (relayed_at is then set) or when a worker
-- claims the message. Another round passes over a held message until the hold runs
-- out, and no row lock is kept while the broker confirms.
ALTER TABLE messages ADD COLUMN relay_until BIGINT;
