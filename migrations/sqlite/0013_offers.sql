-- Personal offers (src/loyalty/offers.rs, src/store/offers.rs).
--
-- order_products: the distinct products of each order, from its latest
-- delivery (a re-delivery or an edit replaces the order's rows). Lines
-- without a product (custom items) are not kept. `counted` is 1 while the
-- order counts as a purchase (not cancelled, not a test order), the same on
-- every row of an order.
CREATE TABLE order_products (
    shop_id     BIGINT  NOT NULL REFERENCES shops(id),
    order_id    BIGINT  NOT NULL,
    product_id  BIGINT  NOT NULL,
    variant_id  BIGINT,
    title       TEXT    NOT NULL,
    quantity    BIGINT  NOT NULL,
    counted     BIGINT  NOT NULL,
    PRIMARY KEY (shop_id, order_id, product_id)
);
CREATE INDEX order_products_by_product ON order_products (shop_id, product_id, order_id);

-- product_pairs: for each ordered pair of distinct products (both
-- directions are stored), the number of counted orders holding both
-- (baskets of more than 50 products are not paired).
-- Invariant: equals what order_products' counted rows give; it moves in the
-- transaction that changes an order's rows, and a pair at 0 is deleted.
CREATE TABLE product_pairs (
    shop_id     BIGINT  NOT NULL REFERENCES shops(id),
    product_id  BIGINT  NOT NULL,
    other_id    BIGINT  NOT NULL,
    orders      BIGINT  NOT NULL,
    PRIMARY KEY (shop_id, product_id, other_id)
);
