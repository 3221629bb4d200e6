-- Points figures are integers within ±10^15 (loyalty::points::MAX_STORED),
-- enforced by the database itself: a balance, the pending total, a ledger
-- entry and a redemption's cost. SQLite stores whatever type a value has
-- (an integer addition that overflows becomes a REAL), so each check also
-- requires typeof() = 'integer'. The bound is far enough below 2^63 that
-- the sum of two in-range figures never overflows before the check refuses
-- it.
--
-- SQLite adds a CHECK only by rebuilding the table: create it checked, copy
-- the rows, drop the old one, rename, and create its indexes again. Rows
-- that an earlier overflow left out of range (a REAL balance) are brought
-- to the nearest figure in range, so the copy cannot fail.

CREATE TABLE customers_checked (
    shop_id                   BIGINT  NOT NULL REFERENCES shops(id),
    customer_id               BIGINT  NOT NULL,
    email                     TEXT,
    first_name                TEXT,
    last_name                 TEXT,
    phone                     TEXT,
    tags                      TEXT,
    email_marketing_state     TEXT,
    sms_marketing_state       TEXT,
    shopify_created_at        BIGINT,
    shopify_updated_at        BIGINT,
    points_balance            BIGINT  NOT NULL DEFAULT 0,
    points_pending            BIGINT  NOT NULL DEFAULT 0,
    deleted_at                BIGINT,
    redacted_at               BIGINT,
    created_at                BIGINT  NOT NULL,
    updated_at                BIGINT  NOT NULL,
    email_hash                TEXT,
    phone_hash                TEXT,
    address_hash              TEXT,
    birthday                  TEXT,
    tier_id                   TEXT,
    tier_tag                  TEXT,
    tier_since                BIGINT,
    tier_seq                  BIGINT  NOT NULL DEFAULT 0,
    last_activity_at          BIGINT,
    expiry_warned_for         BIGINT,
    segment                   TEXT,
    segment_since             BIGINT,
    PRIMARY KEY (shop_id, customer_id),
    CONSTRAINT customers_points_balance_in_range CHECK (typeof(points_balance) = 'integer' AND points_balance BETWEEN -1000000000000000 AND 1000000000000000),
    CONSTRAINT customers_points_pending_in_range CHECK (typeof(points_pending) = 'integer' AND points_pending BETWEEN -1000000000000000 AND 1000000000000000)
);
INSERT INTO customers_checked (shop_id, customer_id, email, first_name, last_name, phone, tags, email_marketing_state, sms_marketing_state, shopify_created_at, shopify_updated_at, points_balance, points_pending, deleted_at, redacted_at, created_at, updated_at, email_hash, phone_hash, address_hash, birthday, tier_id, tier_tag, tier_since, tier_seq, last_activity_at, expiry_warned_for, segment, segment_since)
SELECT shop_id,
       customer_id,
       email,
       first_name,
       last_name,
       phone,
       tags,
       email_marketing_state,
       sms_marketing_state,
       shopify_created_at,
       shopify_updated_at,
       CASE WHEN typeof(points_balance) = 'integer' AND points_balance BETWEEN -1000000000000000 AND 1000000000000000 THEN points_balance ELSE MAX(-1000000000000000, MIN(1000000000000000, CAST(points_balance AS INTEGER))) END,
       CASE WHEN typeof(points_pending) = 'integer' AND points_pending BETWEEN -1000000000000000 AND 1000000000000000 THEN points_pending ELSE MAX(-1000000000000000, MIN(1000000000000000, CAST(points_pending AS INTEGER))) END,
       deleted_at,
       redacted_at,
       created_at,
       updated_at,
       email_hash,
       phone_hash,
       address_hash,
       birthday,
       tier_id,
       tier_tag,
       tier_since,
       tier_seq,
       last_activity_at,
       expiry_warned_for,
       segment,
       segment_since
FROM customers;
DROP TABLE customers;
ALTER TABLE customers_checked RENAME TO customers;
CREATE INDEX customers_by_email_hash ON customers (shop_id, email_hash);
CREATE INDEX customers_by_segment ON customers (shop_id, segment);

CREATE TABLE points_ledger_checked (
    id                        INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_id                   BIGINT  NOT NULL REFERENCES shops(id),
    customer_id               BIGINT  NOT NULL,
    points                    BIGINT  NOT NULL,
    kind                      TEXT    NOT NULL,
    reason                    TEXT    NOT NULL,
    source_key                TEXT    NOT NULL,
    settings_version          BIGINT,
    spendable_at              BIGINT,
    created_at                BIGINT  NOT NULL,
    order_id                  BIGINT,
    actor                     TEXT,
    UNIQUE (shop_id, source_key),
    CONSTRAINT points_ledger_points_in_range CHECK (typeof(points) = 'integer' AND points BETWEEN -1000000000000000 AND 1000000000000000)
);
INSERT INTO points_ledger_checked (id, shop_id, customer_id, points, kind, reason, source_key, settings_version, spendable_at, created_at, order_id, actor)
SELECT id,
       shop_id,
       customer_id,
       CASE WHEN typeof(points) = 'integer' AND points BETWEEN -1000000000000000 AND 1000000000000000 THEN points ELSE MAX(-1000000000000000, MIN(1000000000000000, CAST(points AS INTEGER))) END,
       kind,
       reason,
       source_key,
       settings_version,
       spendable_at,
       created_at,
       order_id,
       actor
FROM points_ledger;
-- Keep the id sequence where it was, so no id of a deleted row is handed
-- out again.
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'points_ledger_checked', seq FROM sqlite_sequence WHERE name = 'points_ledger'
    AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'points_ledger_checked');
UPDATE sqlite_sequence
    SET seq = MAX(seq, COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'points_ledger'), 0))
    WHERE name = 'points_ledger_checked';
DROP TABLE points_ledger;
ALTER TABLE points_ledger_checked RENAME TO points_ledger;
CREATE INDEX points_ledger_by_customer ON points_ledger (shop_id, customer_id, id);
CREATE INDEX points_ledger_by_time ON points_ledger (shop_id, created_at, kind, points);

CREATE TABLE redemptions_checked (
    id                        INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_id                   BIGINT  NOT NULL REFERENCES shops(id),
    customer_id               BIGINT  NOT NULL,
    idempotency_key           TEXT    NOT NULL,
    reward_id                 TEXT    NOT NULL,
    reward_name               TEXT    NOT NULL,
    points                    BIGINT  NOT NULL,
    code                      TEXT    NOT NULL,
    channel                   TEXT    NOT NULL,
    actor                     TEXT    NOT NULL,
    created_at                BIGINT  NOT NULL,
    expires_at                BIGINT  NOT NULL,
    UNIQUE (shop_id, customer_id, idempotency_key),
    UNIQUE (shop_id, code),
    CONSTRAINT redemptions_points_in_range CHECK (typeof(points) = 'integer' AND points BETWEEN 0 AND 1000000000000000)
);
INSERT INTO redemptions_checked (id, shop_id, customer_id, idempotency_key, reward_id, reward_name, points, code, channel, actor, created_at, expires_at)
SELECT id,
       shop_id,
       customer_id,
       idempotency_key,
       reward_id,
       reward_name,
       CASE WHEN typeof(points) = 'integer' AND points BETWEEN -1000000000000000 AND 1000000000000000 THEN points ELSE MAX(-1000000000000000, MIN(1000000000000000, CAST(points AS INTEGER))) END,
       code,
       channel,
       actor,
       created_at,
       expires_at
FROM redemptions;
-- Keep the id sequence where it was, so no id of a deleted row is handed
-- out again.
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'redemptions_checked', seq FROM sqlite_sequence WHERE name = 'redemptions'
    AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'redemptions_checked');
UPDATE sqlite_sequence
    SET seq = MAX(seq, COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'redemptions'), 0))
    WHERE name = 'redemptions_checked';
DROP TABLE redemptions;
ALTER TABLE redemptions_checked RENAME TO redemptions;
