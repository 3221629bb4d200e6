-- A customer's at-risk episodes (src/engine/winback.rs): opened when they
-- enter the at-risk segment, with the win-back offer they got (or that
-- they were held out to measure the effect), closed by a return purchase
-- ('returned') or when the attribution window ends without one
-- ('expired'). The recovered revenue is read from the return order when
-- reported, so later refunds count. No personal data: ids, times, amounts.
CREATE TABLE winback_episodes (
    id                        INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_id                   BIGINT  NOT NULL REFERENCES shops(id),
    customer_id               BIGINT  NOT NULL,
    -- The customer's episodes count 1, 2, ...; the holdout draw is keyed by it.
    seq                       BIGINT  NOT NULL,
    opened_at                 BIGINT  NOT NULL,
    -- A return purchase paid before this closes the episode as 'returned'
    -- (attribution_days as set when the episode opened).
    attribution_ends_at       BIGINT  NOT NULL,
    held_out                  BIGINT  NOT NULL DEFAULT 0,
    -- 'none' (held out, or offers off), 'points' or 'discount_code'.
    offer_kind                TEXT    NOT NULL,
    offer_points              BIGINT,
    -- Erased by customers/redact; the episode's facts stay for the totals.
    offer_code                TEXT,
    offer_expires_at          BIGINT,
    closed_at                 BIGINT,
    outcome                   TEXT,
    return_order_id           BIGINT,
    UNIQUE (shop_id, customer_id, seq)
);
-- At most one open episode per customer: a second opening conflicts.
CREATE UNIQUE INDEX winback_episodes_open ON winback_episodes (shop_id, customer_id) WHERE closed_at IS NULL;
CREATE INDEX winback_episodes_by_opened ON winback_episodes (shop_id, opened_at);
CREATE INDEX winback_episodes_expiring ON winback_episodes (attribution_ends_at) WHERE closed_at IS NULL;

-- The key of each shop's holdout draw (hex of 32 random bytes), made on
-- first use: the same in every process and after restarts, so a re-run
-- draws the same, and not derivable from customer ids. Deleted on shop/redact.
CREATE TABLE winback_keys (
    shop_id                   BIGINT  PRIMARY KEY REFERENCES shops(id),
    holdout_key               TEXT    NOT NULL,
    created_at                BIGINT  NOT NULL
);
