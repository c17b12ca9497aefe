-- Herald's schema. Times are Unix milliseconds; states are small integers (see storage/mod.rs).
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE subscriptions (
    id              TEXT PRIMARY KEY,
    owner_kind      BIGINT NOT NULL,
    owner_id        TEXT NOT NULL,
    endpoint        TEXT NOT NULL,
    endpoint_hash   TEXT NOT NULL UNIQUE,
    p256dh          TEXT NOT NULL,
    auth            TEXT NOT NULL,
    secret_hash     TEXT NOT NULL,
    user_agent      TEXT,
    created_at      BIGINT NOT NULL,
    last_success_at BIGINT
);
CREATE INDEX subscriptions_owner ON subscriptions (owner_kind, owner_id);

CREATE TABLE messages (
    id          TEXT PRIMARY KEY,
    audience    TEXT NOT NULL,
    title       TEXT NOT NULL,
    body        TEXT,
    url         TEXT,
    icon        TEXT,
    tag         TEXT,
    mode        BIGINT NOT NULL,
    urgency     TEXT,
    topic       TEXT,
    ttl         BIGINT NOT NULL,
    status      BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    send_at     BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    reminder_id TEXT,
    targets     BIGINT NOT NULL DEFAULT 0,
    accepted    BIGINT NOT NULL DEFAULT 0,
    failed      BIGINT NOT NULL DEFAULT 0,
    gone        BIGINT NOT NULL DEFAULT 0,
    displayed   BIGINT NOT NULL DEFAULT 0,
    clicked     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX messages_status_send_at ON messages (status, send_at);
CREATE INDEX messages_expires_at ON messages (expires_at);

CREATE TABLE outbox (
    id              BIGSERIAL PRIMARY KEY,
    message_id      TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    state           BIGINT NOT NULL DEFAULT 0,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT NOT NULL DEFAULT 0,
    fetched         BIGINT NOT NULL DEFAULT 0,
    last_status     BIGINT
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_message ON outbox (message_id, state);
CREATE INDEX outbox_subscription ON outbox (subscription_id, fetched);

CREATE TABLE receipts (
    message_id      TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    event           BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (message_id, subscription_id, event)
);
