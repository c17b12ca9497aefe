-- API keys with scopes. The secret is kept as its SHA-256 only; a revoked key keeps its row
-- (revoked_at set) so that listings show what existed and when it stopped.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
