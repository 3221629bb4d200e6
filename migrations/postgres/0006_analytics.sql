-- Dashboard analytics (PostgreSQL). Kept identical to
-- migrations/sqlite/0006_analytics.sql.

-- The merchant dashboard of each shop and period ('30d', '90d', '365d'),
-- computed by set-based queries and served as it is. The marks are the
-- latest orders.updated_at and points_ledger.created_at the snapshot saw:
-- a refresher recomputes only when they moved.
CREATE TABLE analytics_snapshots (
    shop_id                   BIGINT  NOT NULL REFERENCES shops(id),
    period                    TEXT    NOT NULL,
    computed_at               BIGINT  NOT NULL,
    orders_mark               BIGINT  NOT NULL,
    ledger_mark               BIGINT  NOT NULL,
    body                      TEXT    NOT NULL,
    PRIMARY KEY (shop_id, period)
);

-- The orders the dashboard counts, by the time they were paid, with the
-- columns its aggregates read: each is a range scan of this index. Partial, so it holds counted orders only; an order enters it once
-- (when paid) and changes only on a refund or cancellation.
CREATE INDEX orders_counted_by_paid_at
    ON orders (shop_id, paid_at, customer_id, total_minor, refunded_minor)
    WHERE paid_at IS NOT NULL AND cancelled_at IS NULL AND is_test = 0 AND known = 1;

-- Points moved per day and kind, and the latest entry of a shop. The ledger
-- is append-only: one index entry per ledger entry, never updated.
CREATE INDEX points_ledger_by_time ON points_ledger (shop_id, created_at, kind, points);
