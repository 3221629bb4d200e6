-- Business time in the ledger (PostgreSQL). Kept column-for-column
-- identical to migrations/sqlite/0020_ledger_business_time.sql, which says
-- what the column means and what this migration assumes for the entries
-- recorded before it.
ALTER TABLE points_ledger ADD COLUMN occurred_at BIGINT NOT NULL DEFAULT 0;

UPDATE points_ledger SET occurred_at = created_at;

UPDATE points_ledger l SET occurred_at = LEAST(l.created_at, o.processed_at)
FROM orders o
WHERE l.kind = 'earn' AND o.shop_id = l.shop_id AND o.order_id = l.order_id
AND o.processed_at IS NOT NULL;

UPDATE points_ledger l SET occurred_at = LEAST(l.created_at, o.cancelled_at)
FROM orders o
WHERE l.kind = 'cancel' AND o.shop_id = l.shop_id AND o.order_id = l.order_id
AND o.cancelled_at IS NOT NULL;

DROP INDEX points_ledger_by_time;
CREATE INDEX points_ledger_by_occurred ON points_ledger (shop_id, occurred_at, kind, points);
