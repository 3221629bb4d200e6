-- Orders erased by customers/redact: those named in `orders_to_redact` and
-- those of the redacted customer. An order named there may not be stored
-- yet, so the marker is a table of its own rather than a column of
-- `orders`. A webhook about one of these orders that arrives after the
-- redaction writes no identity hashes for it, and one that ends as a dead
-- letter or waits for a retry has its body scrubbed (src/jobs/inbox.rs).
-- shop/redact deletes the shop's rows.
CREATE TABLE redacted_orders (
    shop_id                   BIGINT  NOT NULL REFERENCES shops(id),
    order_id                  BIGINT  NOT NULL,
    redacted_at               BIGINT  NOT NULL,
    PRIMARY KEY (shop_id, order_id)
);
