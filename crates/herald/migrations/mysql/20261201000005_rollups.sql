-- Rollups for the admin console's overview (see storage/rollups.rs), kept by the storage layer
-- where results are settled and subscriptions created or pruned, so the overview never scans
-- the outbox or the subscriptions per request.
--
-- Push services are small integers: 0 other, 1 FCM, 2 Mozilla, 3 Apple, 4 Windows (WNS);
-- outcomes: 0 accepted, 1 retried, 2 failed, 3 gone. Minutes, hours and days are Unix time
-- divided by their length.

-- The push service of each subscription, classified by its endpoint's host at registration;
-- counting subscriptions by service and kind walks this index only.
ALTER TABLE subscriptions ADD COLUMN push_service BIGINT NOT NULL DEFAULT 0;
UPDATE subscriptions SET push_service = CASE
    WHEN endpoint LIKE 'https://fcm.googleapis.com/%' OR endpoint LIKE 'https://android.googleapis.com/%' THEN 1
    WHEN endpoint LIKE 'https://%push.services.mozilla.com/%' THEN 2
    WHEN endpoint LIKE 'https://%.push.apple.com/%' THEN 3
    WHEN endpoint LIKE 'https://%.notify.windows.com/%' THEN 4
    ELSE 0 END;
CREATE INDEX subscriptions_service ON subscriptions (owner_kind, push_service);

-- Push requests by outcome and push service, per minute (kept 3 hours) and per hour (kept 8 days).
CREATE TABLE push_minutes (
    minute       BIGINT NOT NULL,
    push_service BIGINT NOT NULL,
    outcome      BIGINT NOT NULL,
    pushes       BIGINT NOT NULL,
    PRIMARY KEY (minute, push_service, outcome)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE push_hours (
    hour         BIGINT NOT NULL,
    push_service BIGINT NOT NULL,
    outcome      BIGINT NOT NULL,
    pushes       BIGINT NOT NULL,
    PRIMARY KEY (hour, push_service, outcome)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Subscriptions created and pruned (gone at the push service) per day. Each registration adds
-- to one of a few shards of its day, so concurrent registrations seldom wait for one row.
CREATE TABLE subscription_days (
    day     BIGINT NOT NULL,
    shard   BIGINT NOT NULL,
    created BIGINT NOT NULL DEFAULT 0,
    pruned  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, shard)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- A message's settled targets by push service, final state (outbox.state) and last HTTP
-- status (-1: none), for its breakdown and failures; deleted with the message.
CREATE TABLE message_outcomes (
    message_id   VARCHAR(32) NOT NULL,
    push_service BIGINT NOT NULL,
    state        BIGINT NOT NULL,
    last_status  BIGINT NOT NULL,
    targets      BIGINT NOT NULL,
    PRIMARY KEY (message_id, push_service, state, last_status)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Keyset paging through messages, newest first.
CREATE INDEX messages_created ON messages (created_at, id);
