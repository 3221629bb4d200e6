-- Reorder reminders (sqlite). Kept column-for-column identical to
-- migrations/postgres/0028_reorder_reminders.sql.

-- What Advocate learned of each product a customer bought more than once:
-- the median days between two purchases of it by one customer
-- (learned_days; NULL while fewer than the program's minimum of customers
-- show it), over repeat_customers customers; and what the merchant set
-- (override_days instead of the learned interval, or disabled: 1).
CREATE TABLE reorder_products (
    shop_id                   BIGINT  NOT NULL REFERENCES shops(id),
    product_id                BIGINT  NOT NULL,
    title                     TEXT    NOT NULL,
    learned_days              BIGINT,
    repeat_customers          BIGINT  NOT NULL DEFAULT 0,
    override_days             BIGINT,
    disabled                  BIGINT  NOT NULL DEFAULT 0,
    learned_at                BIGINT  NOT NULL,
    PRIMARY KEY (shop_id, product_id)
);

-- One reminder per purchase cycle: a customer's latest purchase of a
-- product (cycle_order_id) came due (due_at) with no purchase of it since.
-- held_out: drawn into the comparison group, sent nothing. code: the
-- single-use code sent with it, when the program gives one.
CREATE TABLE reorder_reminders (
    id                        INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_id                   BIGINT  NOT NULL REFERENCES shops(id),
    customer_id               BIGINT  NOT NULL,
    product_id                BIGINT  NOT NULL,
    cycle_order_id            BIGINT  NOT NULL,
    last_purchase_at          BIGINT  NOT NULL,
    interval_days             BIGINT  NOT NULL,
    due_at                    BIGINT  NOT NULL,
    held_out                  BIGINT  NOT NULL,
    code                      TEXT,
    created_at                BIGINT  NOT NULL,
    UNIQUE (shop_id, customer_id, product_id, cycle_order_id)
);
CREATE INDEX reorder_reminders_by_time ON reorder_reminders (shop_id, created_at);
