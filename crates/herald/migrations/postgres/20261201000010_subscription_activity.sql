-- A subscription's last accepted push moves to a narrow table of its own. Settling a push
-- rewrote the wide subscriptions row (endpoint, keys, hashes) just to set this time.
CREATE TABLE subscription_activity (
    subscription_id TEXT PRIMARY KEY,
    last_success_at BIGINT NOT NULL
);
INSERT INTO subscription_activity (subscription_id, last_success_at)
    SELECT id, last_success_at FROM subscriptions WHERE last_success_at IS NOT NULL;
ALTER TABLE subscriptions DROP COLUMN last_success_at;
