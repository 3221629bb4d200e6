-- Earning actions and outbound webhooks (sqlite). Kept column-for-column
-- identical to migrations/postgres/0026_activities_and_outbound_webhooks.sql.

-- An earning action a customer did (a review, a newsletter signup, a
-- social follow or share, a custom action), once per idempotency key.
-- action: newsletter, review, social_follow, social_share, custom; name:
-- the custom action's; subject: the product reviewed or the network.
-- The points are the ledger entry `activity:{id}`; a reversal claws them
-- back (`activity-reversal:{id}`) as far as the balance allows, and what
-- could not be taken back is `unrecovered`.
CREATE TABLE activities (
    id                        INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_id                   BIGINT  NOT NULL REFERENCES shops(id),
    customer_id               BIGINT  NOT NULL,
    idempotency_key           TEXT    NOT NULL,
    action                    TEXT    NOT NULL,
    name                      TEXT,
    subject                   TEXT,
    points                    BIGINT  NOT NULL,
    status                    TEXT    NOT NULL,
    clawed_back               BIGINT  NOT NULL DEFAULT 0,
    unrecovered               BIGINT  NOT NULL DEFAULT 0,
    actor                     TEXT    NOT NULL,
    occurred_at               BIGINT  NOT NULL,
    created_at                BIGINT  NOT NULL,
    reversed_at               BIGINT,
    UNIQUE (shop_id, customer_id, idempotency_key)
);
CREATE INDEX activities_by_customer ON activities (shop_id, customer_id, action, occurred_at);

-- Where the merchant's systems want events. topics: comma-separated, with
-- a comma before the first and after the last (`,points.changed,`), so
-- one LIKE finds the subscribers. The signing secret is encrypted like the
-- access tokens (AES-GCM, the shop's domain as associated data).
CREATE TABLE webhook_endpoints (
    id                        INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_id                   BIGINT  NOT NULL REFERENCES shops(id),
    url                       TEXT    NOT NULL,
    topics                    TEXT    NOT NULL,
    secret_enc                BLOB    NOT NULL,
    created_at                BIGINT  NOT NULL,
    created_by                TEXT    NOT NULL,
    disabled_at               BIGINT
);
CREATE INDEX webhook_endpoints_by_shop ON webhook_endpoints (shop_id, id);

-- One event for one endpoint, written in the transaction of the fact that
-- caused it. status: queued, delivered, failed. Of the queued rows of one
-- endpoint and ordering key (a customer), only the oldest is sent.
-- A failed try is tried again until retry_until (a day and an hour after
-- the event, or after a resend by hand). data: the event's data as JSON; the body is built from it, the event id,
-- topic, shop and created_at, byte for byte the same on every try.
CREATE TABLE webhook_deliveries (
    id                        INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_id                   BIGINT  NOT NULL REFERENCES shops(id),
    endpoint_id               BIGINT  NOT NULL REFERENCES webhook_endpoints(id),
    event_id                  TEXT    NOT NULL,
    topic                     TEXT    NOT NULL,
    ordering_key              TEXT,
    data                      TEXT    NOT NULL,
    status                    TEXT    NOT NULL,
    attempts                  BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at           BIGINT  NOT NULL,
    retry_until               BIGINT  NOT NULL,
    lease_owner               TEXT,
    lease_until               BIGINT,
    last_status               BIGINT,
    last_error                TEXT,
    created_at                BIGINT  NOT NULL,
    delivered_at              BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, ordering_key, id);
CREATE INDEX webhook_deliveries_by_shop ON webhook_deliveries (shop_id, id);

-- Every try of a delivery: when, how long, the answer's status or why
-- there was none.
CREATE TABLE webhook_attempts (
    id                        INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id               BIGINT  NOT NULL REFERENCES webhook_deliveries(id),
    attempted_at              BIGINT  NOT NULL,
    duration_ms               BIGINT  NOT NULL,
    status_code               BIGINT,
    error                     TEXT
);
CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id, id);
