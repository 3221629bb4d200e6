-- The engine sums the spend of each batch's customers since their tier
-- window opened (orders::spend_since_of): from the index alone, instead of
-- one order row read per order. Its first two columns are those of
-- orders_by_customer, which it replaces for every other lookup.
CREATE INDEX orders_spend_by_customer ON orders (shop_id, customer_id, paid_at, spend_minor);
DROP INDEX orders_by_customer;

-- Held deliveries are requeued at start when their handler arrives: found
-- by this (usually empty) index, not by reading every inbox row.
CREATE INDEX webhook_inbox_held ON webhook_inbox (topic) WHERE status = 'held';
