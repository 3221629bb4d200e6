-- The loyalty engine (PostgreSQL). Kept column-for-column identical to
-- migrations/sqlite/0003_loyalty.sql. Times are epoch ms, flags 0/1,
-- money in minor units of the shop's currency.

-- The shop's currency (learnt from its orders) and how far the tiers have
-- been re-evaluated after a settings change.
ALTER TABLE shops ADD COLUMN currency TEXT;
ALTER TABLE shops ADD COLUMN tiers_evaluated_version BIGINT NOT NULL DEFAULT 0;

-- Every version of a shop's program settings; the ledger refers to them.
CREATE TABLE program_versions (
    shop_id                   BIGINT  NOT NULL REFERENCES shops(id),
    version                   BIGINT  NOT NULL,
    settings                  TEXT    NOT NULL,
    created_by                TEXT,
    created_at                BIGINT  NOT NULL,
    PRIMARY KEY (shop_id, version)
);

-- Hashed identifiers (see loyalty::identity) for matching guest orders and
-- the referral fraud rules; erased with the rest on redaction.
ALTER TABLE customers ADD COLUMN email_hash TEXT;
ALTER TABLE customers ADD COLUMN phone_hash TEXT;
ALTER TABLE customers ADD COLUMN address_hash TEXT;
-- 'MM-DD', set by the shopper or the merchant.
ALTER TABLE customers ADD COLUMN birthday TEXT;
-- The VIP tier (a stable level id) and since when; tier_seq counts changes.
ALTER TABLE customers ADD COLUMN tier_id TEXT;
-- The tag written for the tier, so it can be removed even after the tier
-- is renamed or deleted from the settings.
ALTER TABLE customers ADD COLUMN tier_tag TEXT;
ALTER TABLE customers ADD COLUMN tier_since BIGINT;
ALTER TABLE customers ADD COLUMN tier_seq BIGINT NOT NULL DEFAULT 0;
-- Earning, redeeming or an adjustment; expiry counts from here.
ALTER TABLE customers ADD COLUMN last_activity_at BIGINT;
-- The last_activity_at the expiry warning was given for.
ALTER TABLE customers ADD COLUMN expiry_warned_for BIGINT;
CREATE INDEX customers_by_email_hash ON customers (shop_id, email_hash);

-- What the earning rules need beyond the foundation's facts, and the
-- award frozen when the order first qualified. points_net is what the
-- ledger holds for the order; version guards concurrent updates.
ALTER TABLE orders ADD COLUMN name TEXT;
ALTER TABLE orders ADD COLUMN known BIGINT NOT NULL DEFAULT 1;
ALTER TABLE orders ADD COLUMN channel TEXT;
ALTER TABLE orders ADD COLUMN taxes_included BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN fulfilled_at BIGINT;
ALTER TABLE orders ADD COLUMN email_hash TEXT;
ALTER TABLE orders ADD COLUMN phone_hash TEXT;
ALTER TABLE orders ADD COLUMN address_hash TEXT;
ALTER TABLE orders ADD COLUMN discount_codes TEXT;
ALTER TABLE orders ADD COLUMN award_state TEXT NOT NULL DEFAULT 'waiting';
ALTER TABLE orders ADD COLUMN award_note TEXT;
ALTER TABLE orders ADD COLUMN award_points BIGINT;
ALTER TABLE orders ADD COLUMN award_paid_minor BIGINT;
ALTER TABLE orders ADD COLUMN award_counting BIGINT;
ALTER TABLE orders ADD COLUMN award_multiplier BIGINT;
ALTER TABLE orders ADD COLUMN award_settings_version BIGINT;
ALTER TABLE orders ADD COLUMN awarded_at BIGINT;
ALTER TABLE orders ADD COLUMN spend_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN points_net BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN points_state TEXT;
ALTER TABLE orders ADD COLUMN spendable_at BIGINT;
ALTER TABLE orders ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
CREATE INDEX orders_guest_by_email ON orders (shop_id, email_hash) WHERE customer_id IS NULL;
CREATE INDEX orders_maturing ON orders (spendable_at) WHERE points_state = 'pending';

-- Refunds by Shopify's id: counted once however often they are delivered.
CREATE TABLE order_refunds (
    shop_id                   BIGINT  NOT NULL REFERENCES shops(id),
    refund_id                 BIGINT  NOT NULL,
    order_id                  BIGINT  NOT NULL,
    lines_minor               BIGINT  NOT NULL,
    tax_minor                 BIGINT  NOT NULL,
    shipping_minor            BIGINT  NOT NULL,
    created_at                BIGINT  NOT NULL,
    PRIMARY KEY (shop_id, refund_id)
);
CREATE INDEX order_refunds_by_order ON order_refunds (shop_id, order_id);

-- Who moved points (system, shopper, staff:<id>) and for which order.
ALTER TABLE points_ledger ADD COLUMN order_id BIGINT;
ALTER TABLE points_ledger ADD COLUMN actor TEXT;

-- Tier history: members' past tiers survive renames and removals.
CREATE TABLE tier_changes (
    id                        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shop_id                   BIGINT  NOT NULL REFERENCES shops(id),
    customer_id               BIGINT  NOT NULL,
    from_tier                 TEXT,
    to_tier                   TEXT,
    reason                    TEXT    NOT NULL,
    created_at                BIGINT  NOT NULL
);
CREATE INDEX tier_changes_by_customer ON tier_changes (shop_id, customer_id, id);

-- Redeemed rewards. The client's idempotency key makes a retried request
-- return the same code.
CREATE TABLE redemptions (
    id                        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
    UNIQUE (shop_id, code)
);

-- Each customer's referral code.
CREATE TABLE referral_codes (
    shop_id                   BIGINT  NOT NULL REFERENCES shops(id),
    customer_id               BIGINT  NOT NULL,
    code                      TEXT    NOT NULL,
    created_at                BIGINT  NOT NULL,
    PRIMARY KEY (shop_id, customer_id),
    UNIQUE (shop_id, code)
);

-- A friend's discount code issued for an advocate, and what became of it:
-- issued -> pending (a paid first order used it) -> rewarded, or
-- rejected / held (for review) / void (the order was refunded or cancelled).
CREATE TABLE referrals (
    id                        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shop_id                   BIGINT  NOT NULL REFERENCES shops(id),
    advocate_id               BIGINT  NOT NULL,
    friend_code               TEXT    NOT NULL,
    friend_email_hash         TEXT,
    friend_customer_id        BIGINT,
    order_id                  BIGINT,
    order_minor               BIGINT,
    status                    TEXT    NOT NULL,
    note                      TEXT,
    approved                  BIGINT  NOT NULL DEFAULT 0,
    decided_by                TEXT,
    created_at                BIGINT  NOT NULL,
    converted_at              BIGINT,
    -- When the friend's order has passed the pending period.
    matures_at                BIGINT,
    updated_at                BIGINT  NOT NULL,
    UNIQUE (shop_id, friend_code)
);
CREATE INDEX referrals_by_advocate ON referrals (shop_id, advocate_id, id);
CREATE UNIQUE INDEX referrals_by_order ON referrals (shop_id, order_id);

-- Scheduled jobs: one process at a time runs each (lease), on any instance.
CREATE TABLE job_leases (
    name                      TEXT    PRIMARY KEY,
    lease_owner               TEXT,
    lease_until               BIGINT,
    last_run_at               BIGINT
);
