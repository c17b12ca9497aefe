-- The tickle inbox moves out of the outbox into a table of its own that holds rows of tickle
-- messages only. Its per-subscription index used to take one random insert for every outbox
-- row of every broadcast, payload or tickle, and grew with the settled rows, so each
-- broadcast in a row was slower than the one before; payload broadcasts now insert nothing
-- into it. `outbox_id` ties an inbox row to its delivery state (gone rows are not handed out).
CREATE TABLE inbox (
    outbox_id       BIGINT PRIMARY KEY,
    subscription_id TEXT NOT NULL,
    message_id      TEXT NOT NULL,
    fetched         BIGINT NOT NULL DEFAULT 0
);
INSERT INTO inbox (outbox_id, subscription_id, message_id, fetched)
    SELECT o.id, o.subscription_id, o.message_id, o.fetched
    FROM outbox o JOIN messages m ON m.id = o.message_id WHERE m.mode = 1;
CREATE INDEX inbox_subscription ON inbox (subscription_id, fetched);
DROP INDEX outbox_subscription;
ALTER TABLE outbox DROP COLUMN fetched;
