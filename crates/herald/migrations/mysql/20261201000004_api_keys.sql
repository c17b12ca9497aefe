-- API keys with scopes. The secret is kept as its SHA-256 only; a revoked key keeps its row
-- (revoked_at set) so that listings show what existed and when it stopped.
CREATE TABLE api_keys (
    id           VARCHAR(32) PRIMARY KEY,
    name         TEXT NOT NULL,
    scopes       VARCHAR(64) NOT NULL,
    secret_hash  TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
