-- Herald's schema. Times are Unix milliseconds; states are small integers (see storage/mod.rs).
CREATE TABLE settings (
    name  VARCHAR(64) PRIMARY KEY,
    value TEXT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE subscriptions (
    id              VARCHAR(32) PRIMARY KEY,
    owner_kind      BIGINT NOT NULL,
    owner_id        VARCHAR(128) NOT NULL,
    endpoint        TEXT NOT NULL,
    endpoint_hash   VARCHAR(64) NOT NULL UNIQUE,
    p256dh          TEXT NOT NULL,
    auth            TEXT NOT NULL,
    secret_hash     TEXT NOT NULL,
    user_agent      TEXT,
    created_at      BIGINT NOT NULL,
    last_success_at BIGINT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX subscriptions_owner ON subscriptions (owner_kind, owner_id);

CREATE TABLE messages (
    id          VARCHAR(32) PRIMARY KEY,
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
    reminder_id VARCHAR(32),
    targets     BIGINT NOT NULL DEFAULT 0,
    accepted    BIGINT NOT NULL DEFAULT 0,
    failed      BIGINT NOT NULL DEFAULT 0,
    gone        BIGINT NOT NULL DEFAULT 0,
    displayed   BIGINT NOT NULL DEFAULT 0,
    clicked     BIGINT NOT NULL DEFAULT 0
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX messages_status_send_at ON messages (status, send_at);
CREATE INDEX messages_expires_at ON messages (expires_at);

CREATE TABLE outbox (
    id              BIGINT AUTO_INCREMENT PRIMARY KEY,
    message_id      VARCHAR(32) NOT NULL,
    subscription_id VARCHAR(32) NOT NULL,
    state           BIGINT NOT NULL DEFAULT 0,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT NOT NULL DEFAULT 0,
    fetched         BIGINT NOT NULL DEFAULT 0,
    last_status     BIGINT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_message ON outbox (message_id, state);
CREATE INDEX outbox_subscription ON outbox (subscription_id, fetched);

CREATE TABLE receipts (
    message_id      VARCHAR(32) NOT NULL,
    subscription_id VARCHAR(32) NOT NULL,
    event           BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (message_id, subscription_id, event)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
