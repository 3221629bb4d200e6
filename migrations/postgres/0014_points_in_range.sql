-- Points figures are integers within ±10^15 (loyalty::points::MAX_STORED),
-- enforced by the database itself: a balance, the pending total, a ledger
-- entry and a redemption's cost. The columns are BIGINT already, so only
-- the range needs checking; the bound is far enough below 2^63 that the sum
-- of two in-range figures never overflows before the check refuses it.
-- Rows out of range (none are expected: PostgreSQL refuses an overflowing
-- BIGINT) are first brought to the nearest figure in range.

UPDATE customers SET points_balance = GREATEST(-1000000000000000, LEAST(1000000000000000, points_balance))
    WHERE points_balance NOT BETWEEN -1000000000000000 AND 1000000000000000;
UPDATE customers SET points_pending = GREATEST(-1000000000000000, LEAST(1000000000000000, points_pending))
    WHERE points_pending NOT BETWEEN -1000000000000000 AND 1000000000000000;
UPDATE points_ledger SET points = GREATEST(-1000000000000000, LEAST(1000000000000000, points))
    WHERE points NOT BETWEEN -1000000000000000 AND 1000000000000000;
UPDATE redemptions SET points = GREATEST(0, LEAST(1000000000000000, points))
    WHERE points NOT BETWEEN 0 AND 1000000000000000;

ALTER TABLE customers
    ADD CONSTRAINT customers_points_balance_in_range
        CHECK (points_balance BETWEEN -1000000000000000 AND 1000000000000000),
    ADD CONSTRAINT customers_points_pending_in_range
        CHECK (points_pending BETWEEN -1000000000000000 AND 1000000000000000);
ALTER TABLE points_ledger
    ADD CONSTRAINT points_ledger_points_in_range CHECK (points BETWEEN -1000000000000000 AND 1000000000000000);
ALTER TABLE redemptions
    ADD CONSTRAINT redemptions_points_in_range CHECK (points BETWEEN 0 AND 1000000000000000);
