-- Issue 16, rich content and languages. `messages.content` holds the rich fields as JSON
-- (actions, image, badge, flags, lang, dir, appBadge, data, and the titles/bodies by language;
-- the default title and body stay in their columns); NULL for a plain message.
ALTER TABLE messages ADD COLUMN content TEXT NULL;
-- The browser's languages (normalised tags, comma-separated, most preferred first) and its IANA
-- time zone, as herald.js reports them at registration.
ALTER TABLE subscriptions ADD COLUMN languages TEXT NULL;
ALTER TABLE subscriptions ADD COLUMN time_zone TEXT NULL;
-- One row per click on a notification per action (`default`: the body), so status can count
-- clicks by action; deleted with the message.
CREATE TABLE click_actions (
    message_id      VARCHAR(32) NOT NULL,
    subscription_id VARCHAR(32) NOT NULL,
    action          VARCHAR(32) NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (message_id, subscription_id, action)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
