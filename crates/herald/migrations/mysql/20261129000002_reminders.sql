-- Reminders: a message template fired on a schedule. next_fire_at is NULL once a one-off
-- reminder has fired; firing is claimed by comparing and setting next_fire_at.
CREATE TABLE reminders (
    id              VARCHAR(32) PRIMARY KEY,
    template        TEXT NOT NULL,
    schedule        TEXT NOT NULL,
    timezone        TEXT NOT NULL,
    paused          BIGINT NOT NULL DEFAULT 0,
    next_fire_at    BIGINT,
    last_fired_at   BIGINT,
    last_message_id VARCHAR(32),
    fired           BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX reminders_due ON reminders (paused, next_fire_at);
