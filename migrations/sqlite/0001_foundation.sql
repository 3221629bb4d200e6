-- Advocate foundation schema (SQLite). Kept column-for-column identical to
-- migrations/postgres/0001_foundation.sql: only the identity columns and the
-- binary type differ. Times are epoch milliseconds (BIGINT), flags are 0/1,
-- money is integer minor units. Applied migrations are never edited.

-- One row per shop that has ever installed Advocate. A shop is never deleted:
-- shop/redact erases its data and leaves the row as a tombstone (status
-- 'redacted') so late webhooks cannot resurrect it silently.
CREATE TABLE shops (
    id                        INTEGER PRIMARY KEY AUTOINCREMENT,
    domain                    TEXT    NOT NULL UNIQUE,
    status                    TEXT    NOT NULL,
    access_token_enc          BLOB,
    access_token_expires_at   BIGINT,
    refresh_token_enc         BLOB,
    refresh_token_expires_at  BIGINT,
    scopes                    TEXT,
    needs_reauth              BIGINT  NOT NULL DEFAULT 0,
    settings                  TEXT    NOT NULL DEFAULT '{}',
    settings_version          BIGINT  NOT NULL DEFAULT 1,
    installed_at              BIGINT,
    uninstalled_at            BIGINT,
    created_at                BIGINT  NOT NULL,
    updated_at                BIGINT  NOT NULL
);

-- The customer profile the program needs. Personal fields are NULL after
-- customers/redact or customers/delete; the row and its point totals stay so
-- the books still add up.
CREATE TABLE customers (
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
    PRIMARY KEY (shop_id, customer_id)
);

-- The facts of an order that loyalty needs, in the shop's currency.
CREATE TABLE orders (
    shop_id                   BIGINT  NOT NULL REFERENCES shops(id),
    order_id                  BIGINT  NOT NULL,
    customer_id               BIGINT,
    email                     TEXT,
    currency                  TEXT    NOT NULL,
    subtotal_minor            BIGINT  NOT NULL,
    total_minor               BIGINT  NOT NULL,
    tax_minor                 BIGINT  NOT NULL DEFAULT 0,
    shipping_minor            BIGINT  NOT NULL DEFAULT 0,
    discounts_minor           BIGINT  NOT NULL DEFAULT 0,
    refunded_minor            BIGINT  NOT NULL DEFAULT 0,
    financial_status          TEXT,
    source_name               TEXT,
    is_test                   BIGINT  NOT NULL DEFAULT 0,
    paid_at                   BIGINT,
    cancelled_at              BIGINT,
    processed_at              BIGINT,
    created_at                BIGINT  NOT NULL,
    updated_at                BIGINT  NOT NULL,
    PRIMARY KEY (shop_id, order_id)
);
CREATE INDEX orders_by_customer ON orders (shop_id, customer_id);

-- Append-only points ledger. Invariants: rows are never updated or deleted
-- (except by shop/redact); a source key is unique per shop, so one business
-- fact moves points once; customers.points_balance + points_pending equal the
-- sum of this customer's entries.
CREATE TABLE points_ledger (
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
    UNIQUE (shop_id, source_key)
);
CREATE INDEX points_ledger_by_customer ON points_ledger (shop_id, customer_id, id);

-- Every webhook delivery, written before Shopify gets its 200. The delivery
-- key is the event id, or the webhook id when there is none; it is unique per
-- shop, so a redelivery changes nothing. Rows are claimed with a lease
-- (lease_owner, lease_until): a row whose owner died comes back when its
-- lease runs out. Bodies are cleared once a row is done; rows that keep a body
-- (held, failed) carry the customer and order they concern so customers/redact
-- can scrub them.
CREATE TABLE webhook_inbox (
    id                        INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_domain               TEXT    NOT NULL,
    delivery_key              TEXT    NOT NULL,
    webhook_id                TEXT,
    event_id                  TEXT,
    topic                     TEXT    NOT NULL,
    api_version               TEXT,
    triggered_at              TEXT,
    body                      BLOB    NOT NULL,
    received_at               BIGINT  NOT NULL,
    status                    TEXT    NOT NULL,
    attempts                  BIGINT  NOT NULL DEFAULT 0,
    available_at              BIGINT  NOT NULL,
    lease_owner               TEXT,
    lease_until               BIGINT,
    last_error                TEXT,
    customer_id               BIGINT,
    order_id                  BIGINT,
    processed_by              TEXT,
    processed_at              BIGINT,
    UNIQUE (shop_domain, delivery_key)
);
CREATE INDEX webhook_inbox_ready ON webhook_inbox (available_at, id) WHERE status = 'queued';
CREATE INDEX webhook_inbox_failed ON webhook_inbox (shop_domain, id) WHERE status = 'failed';

-- customers/data_request: what was asked and the export built for it.
CREATE TABLE data_requests (
    id                        INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_id                   BIGINT  NOT NULL REFERENCES shops(id),
    request_id                BIGINT  NOT NULL,
    customer_id               BIGINT  NOT NULL,
    orders_requested          TEXT    NOT NULL,
    export                    TEXT,
    status                    TEXT    NOT NULL,
    created_at                BIGINT  NOT NULL,
    UNIQUE (shop_id, request_id)
);

-- Shopify effects (Admin API calls) written in the same transaction as the
-- change that causes them, sent by the outbox worker. The idempotency key is
-- unique per shop; ordering_key serialises effects that must apply in order.
CREATE TABLE outbox (
    id                        INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_id                   BIGINT  NOT NULL REFERENCES shops(id),
    kind                      TEXT    NOT NULL,
    idempotency_key           TEXT    NOT NULL,
    ordering_key              TEXT,
    payload                   TEXT    NOT NULL,
    status                    TEXT    NOT NULL,
    attempts                  BIGINT  NOT NULL DEFAULT 0,
    available_at              BIGINT  NOT NULL,
    lease_owner               TEXT,
    lease_until               BIGINT,
    last_error                TEXT,
    result                    TEXT,
    created_at                BIGINT  NOT NULL,
    completed_at              BIGINT,
    UNIQUE (shop_id, idempotency_key)
);
CREATE INDEX outbox_ready ON outbox (available_at, id) WHERE status = 'queued';
