-- The claim lease now lives in next_attempt_at (see storage/outbox.rs), so a claim needs no
-- condition outside the due index. The due index holds pending rows only: settling a row
-- removes one entry instead of moving it, and claims walk only what is left to send.
-- outbox_message leaves out state for the same reason (settling does not touch it); the
-- count of first attempts still to settle (polled by `?wait=true`) has a partial index of its
-- own, which a settled row simply leaves.
DROP INDEX outbox_due;
ALTER TABLE outbox DROP COLUMN lease_until;
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 0;
DROP INDEX outbox_message;
CREATE INDEX outbox_message ON outbox (message_id, subscription_id);
CREATE INDEX outbox_unattempted ON outbox (message_id) WHERE state = 0 AND attempts = 0;
