-- Behaviour segments (src/engine/segments.rs), PostgreSQL. Kept
-- column-for-column identical to migrations/sqlite/0010_segment_state.sql.

-- What the last computation of a shop's segments used, so the per-order
-- recompute of one customer needs no scan of the shop's orders: the
-- thresholds (JSON of loyalty::segments::Thresholds), whether they were
-- derived from the orders (1) or set by the merchant (0), the median of
-- the repeat buyers' purchase intervals (ms; NULL before any repeat
-- buyer), and the tag prefix the tags in Shopify were written with (a
-- changed prefix re-tags everyone). run counts computations that changed
-- something; settings_version is the program version computed with.
CREATE TABLE segment_state (
    shop_id                   BIGINT  NOT NULL PRIMARY KEY REFERENCES shops(id),
    thresholds                TEXT    NOT NULL,
    derived                   BIGINT  NOT NULL,
    median_interval_ms        BIGINT,
    tag_prefix                TEXT    NOT NULL,
    settings_version          BIGINT  NOT NULL,
    run                       BIGINT  NOT NULL DEFAULT 0,
    computed_at               BIGINT  NOT NULL
);

-- Every change of a customer's segment: movements over time. from_segment
-- is NULL for a customer who had none; to_segment NULL when they lost it
-- (no counted order left). baseline = 1 for the shop's first computation,
-- which describes where customers stand, not a move.
CREATE TABLE segment_changes (
    id                        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shop_id                   BIGINT  NOT NULL REFERENCES shops(id),
    customer_id               BIGINT  NOT NULL,
    from_segment              TEXT,
    to_segment                TEXT,
    baseline                  BIGINT  NOT NULL DEFAULT 0,
    created_at                BIGINT  NOT NULL
);
CREATE INDEX segment_changes_by_time ON segment_changes (shop_id, created_at);
CREATE INDEX segment_changes_by_customer ON segment_changes (shop_id, customer_id);

-- Segment sizes and the admin list's filter.
CREATE INDEX customers_by_segment ON customers (shop_id, segment);
