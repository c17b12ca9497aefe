-- The sender set `ignoreQuietHours`: kept only so that message status can show it back (the
-- quiet hours themselves are resolved at compose time into quiet_from/quiet_to).
ALTER TABLE messages ADD COLUMN ignore_quiet_hours BIGINT NOT NULL DEFAULT 0;
