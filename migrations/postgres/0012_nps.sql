-- Post-purchase NPS answers (src/store/nps.rs). One answer per order: the
-- first one counts, a second is refused. The answer may arrive before the
-- order's webhook, so the order is not a foreign key; `credited_at` stays
-- NULL until the bonus moved (or was refused, `credit_state`).
CREATE TABLE nps_responses (
    id                        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shop_id                   BIGINT  NOT NULL REFERENCES shops(id),
    order_id                  BIGINT  NOT NULL,
    customer_id               BIGINT  NOT NULL,
    score                     BIGINT  NOT NULL CHECK (score BETWEEN 0 AND 10),
    -- Free text the shopper wrote: erased by customers/redact.
    comment                   TEXT,
    comment_erased_at         BIGINT,
    -- customers.segment and customers.tier_id when the answer came.
    segment                   TEXT,
    tier_id                   TEXT,
    -- The bonus promised when answering (program setting at that time).
    bonus_points              BIGINT  NOT NULL DEFAULT 0,
    -- 'waiting' (order not known yet), 'credited', 'none' (no bonus) or
    -- 'refused' (the order belongs to someone else: not counted either).
    credit_state              TEXT    NOT NULL,
    credited_at               BIGINT,
    answered_at               BIGINT  NOT NULL,
    UNIQUE (shop_id, order_id)
);
CREATE INDEX nps_responses_by_time ON nps_responses (shop_id, answered_at);
CREATE INDEX nps_responses_by_customer ON nps_responses (shop_id, customer_id);
