-- The claim lease now lives in next_attempt_at (see storage/outbox.rs), so a claim needs no
-- condition outside the due index. (MySQL has no partial indexes: outbox_due stays whole.)
-- outbox_message leaves out state, so settling a row does not move its entry; the count of
-- first attempts still to settle (polled by `?wait=true`) gets an index of its own.
ALTER TABLE outbox DROP COLUMN lease_until;
DROP INDEX outbox_message ON outbox;
CREATE INDEX outbox_message ON outbox (message_id, subscription_id);
CREATE INDEX outbox_unattempted ON outbox (message_id, state, attempts);
