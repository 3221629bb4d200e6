-- Business time in the ledger (SQLite). Kept column-for-column identical to
-- migrations/postgres/0020_ledger_business_time.sql.
--
-- occurred_at is when the fact an entry records happened: an order's
-- processed_at for its earning, its cancelled_at for a cancellation, the
-- refund's created_at for a clawback, the moment of a redemption,
-- adjustment or bonus. created_at stays when Advocate recorded the entry.
-- Trends, periods, tier windows, expiry and exports read occurred_at.
-- Every insert names it; the default only serves the rows below.
--
-- What this migration assumes for the entries recorded before it:
-- * an earning of an order whose processed_at is stored happened then
--   (never later than it was recorded);
-- * a cancellation of an order whose cancelled_at is stored happened then
--   (never later than it was recorded);
-- * every other entry (clawbacks included: refund times were not kept)
--   happened when it was recorded.
ALTER TABLE points_ledger ADD COLUMN occurred_at BIGINT NOT NULL DEFAULT 0;

UPDATE points_ledger SET occurred_at = created_at;

UPDATE points_ledger SET occurred_at = MIN(created_at, (
    SELECT o.processed_at FROM orders o
    WHERE o.shop_id = points_ledger.shop_id AND o.order_id = points_ledger.order_id))
WHERE kind = 'earn' AND order_id IS NOT NULL AND EXISTS (
    SELECT 1 FROM orders o
    WHERE o.shop_id = points_ledger.shop_id AND o.order_id = points_ledger.order_id
    AND o.processed_at IS NOT NULL);

UPDATE points_ledger SET occurred_at = MIN(created_at, (
    SELECT o.cancelled_at FROM orders o
    WHERE o.shop_id = points_ledger.shop_id AND o.order_id = points_ledger.order_id))
WHERE kind = 'cancel' AND order_id IS NOT NULL AND EXISTS (
    SELECT 1 FROM orders o
    WHERE o.shop_id = points_ledger.shop_id AND o.order_id = points_ledger.order_id
    AND o.cancelled_at IS NOT NULL);

-- The dashboard's points per day, the tier windows and the ledger export
-- range over business time.
DROP INDEX points_ledger_by_time;
CREATE INDEX points_ledger_by_occurred ON points_ledger (shop_id, occurred_at, kind, points);
