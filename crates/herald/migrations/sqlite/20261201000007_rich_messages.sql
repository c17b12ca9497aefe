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
    message_id      TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    action          TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (message_id, subscription_id, action)
);
