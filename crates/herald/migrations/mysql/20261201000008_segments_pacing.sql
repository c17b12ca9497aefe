-- Segments: tags on subscriptions, and on people so that their new subscriptions inherit
-- them. Audiences select by subscription_tags only; owner tags are copied in when written.
-- Tags are stored in lowercase (domain::segment::Tag).
CREATE TABLE subscription_tags (
    subscription_id VARCHAR(32) NOT NULL,
    tag             VARCHAR(64) NOT NULL,
    PRIMARY KEY (subscription_id, tag)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX subscription_tags_tag ON subscription_tags (tag, subscription_id);
CREATE TABLE owner_tags (
    owner_kind BIGINT NOT NULL,
    owner_id   VARCHAR(128) NOT NULL,
    tag        VARCHAR(64) NOT NULL,
    PRIMARY KEY (owner_kind, owner_id, tag)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- Pacing: a message's pushes spread over spread_over_ms, and quiet hours in minutes after
-- the device's local midnight (NULL: none; the server default is resolved at compose time).
ALTER TABLE messages ADD COLUMN spread_over_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN quiet_from BIGINT NULL;
ALTER TABLE messages ADD COLUMN quiet_to BIGINT NULL;
