-- Merchant API keys (sqlite). Kept column-for-column identical to
-- migrations/postgres/0025_api_keys.sql.

-- A key is `adv_{prefix}_{secret}`: `prefix` (public, unique) finds the
-- row, and only the SHA-256 of the whole key is kept (`secret_hash`, hex),
-- compared in constant time; the key itself is shown once, at creation.
-- scopes: comma-separated (read_customers, read_ledger, write_points,
-- write_redemptions, read_program, write_activities). last_used_at is
-- written at most once a minute per key. A revoked key stays listed.
CREATE TABLE api_keys (
    id                        INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_id                   BIGINT  NOT NULL REFERENCES shops(id),
    name                      TEXT    NOT NULL,
    prefix                    TEXT    NOT NULL UNIQUE,
    secret_hash               TEXT    NOT NULL,
    scopes                    TEXT    NOT NULL,
    created_at                BIGINT  NOT NULL,
    created_by                TEXT    NOT NULL,
    last_used_at              BIGINT,
    revoked_at                BIGINT
);
CREATE INDEX api_keys_by_shop ON api_keys (shop_id, id);
