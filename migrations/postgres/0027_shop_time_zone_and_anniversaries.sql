-- The shop's time zone, and membership anniversaries (postgres). Kept
-- column-for-column identical to
-- migrations/sqlite/0027_shop_time_zone_and_anniversaries.sql.

-- The shop's IANA time zone ("Europe/Paris"), as Shopify gives it
-- (Shop.ianaTimezone, read after each install; shop/update keeps it
-- current). NULL: not read yet, and the shop's days are UTC days.
ALTER TABLE shops ADD COLUMN iana_timezone TEXT;

-- When the customer joined the program: the business time of their
-- earliest ledger entry, as the dashboard counts members. Kept by every
-- ledger append; the anniversary bonus comes round on its date.
ALTER TABLE customers ADD COLUMN joined_at BIGINT;
UPDATE customers SET joined_at = (
    SELECT MIN(l.occurred_at) FROM points_ledger l
    WHERE l.shop_id = customers.shop_id AND l.customer_id = customers.customer_id
);
CREATE INDEX customers_by_joined ON customers (shop_id, joined_at) WHERE joined_at IS NOT NULL;

-- The shop-local date each daily job last finished for a shop (birthdays,
-- anniversaries, rolling tiers), so a day's round runs once per shop on
-- the shop's own calendar.
CREATE TABLE shop_days (
    shop_id                   BIGINT  NOT NULL REFERENCES shops(id),
    job                       TEXT    NOT NULL,
    done_on                   TEXT    NOT NULL,
    PRIMARY KEY (shop_id, job)
);
