-- A PRIMARY KEY column in SQLite admits NULL unless it is declared NOT NULL
-- (a documented SQLite quirk; INTEGER PRIMARY KEY is the exception) while
-- PostgreSQL always refuses it. These four keys were declared without NOT
-- NULL, so a NULL key would have passed on SQLite alone; this makes them
-- refuse it as migrations/postgres does (tests/api/schema.rs compares the two).
--
-- SQLite adds NOT NULL only by rebuilding the table: create it, copy the
-- rows, drop the old one, rename. No table references these four and none
-- has an index of its own. Advocate never writes a NULL key, and a row with
-- one could never be found by its key, so such a row is not copied.

CREATE TABLE oauth_states_keyed (
    state                     TEXT    NOT NULL PRIMARY KEY,
    shop_domain               TEXT    NOT NULL,
    expires_at                BIGINT  NOT NULL
);
INSERT INTO oauth_states_keyed (state, shop_domain, expires_at)
SELECT state, shop_domain, expires_at FROM oauth_states WHERE state IS NOT NULL;
DROP TABLE oauth_states;
ALTER TABLE oauth_states_keyed RENAME TO oauth_states;

CREATE TABLE job_leases_keyed (
    name                      TEXT    NOT NULL PRIMARY KEY,
    lease_owner               TEXT,
    lease_until               BIGINT,
    last_run_at               BIGINT
);
INSERT INTO job_leases_keyed (name, lease_owner, lease_until, last_run_at)
SELECT name, lease_owner, lease_until, last_run_at FROM job_leases WHERE name IS NOT NULL;
DROP TABLE job_leases;
ALTER TABLE job_leases_keyed RENAME TO job_leases;

CREATE TABLE sandbox_keyed (
    id                        BIGINT  NOT NULL PRIMARY KEY,
    api_secret                TEXT    NOT NULL,
    encryption_key            TEXT    NOT NULL,
    created_at                BIGINT  NOT NULL
);
INSERT INTO sandbox_keyed (id, api_secret, encryption_key, created_at)
SELECT id, api_secret, encryption_key, created_at FROM sandbox WHERE id IS NOT NULL;
DROP TABLE sandbox;
ALTER TABLE sandbox_keyed RENAME TO sandbox;

CREATE TABLE winback_keys_keyed (
    shop_id                   BIGINT  NOT NULL PRIMARY KEY REFERENCES shops(id),
    holdout_key               TEXT    NOT NULL,
    created_at                BIGINT  NOT NULL
);
INSERT INTO winback_keys_keyed (shop_id, holdout_key, created_at)
SELECT shop_id, holdout_key, created_at FROM winback_keys WHERE shop_id IS NOT NULL;
DROP TABLE winback_keys;
ALTER TABLE winback_keys_keyed RENAME TO winback_keys;
