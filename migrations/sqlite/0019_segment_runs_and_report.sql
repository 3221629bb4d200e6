-- Behaviour segments (SQLite). Kept column-for-column identical to
-- migrations/postgres/0019_segment_runs_and_report.sql.

-- A computation of a shop's segments that is being written, in batches of
-- customers, each batch in its own transaction (src/engine/segments.rs).
-- It holds what every batch uses: the run number that keys its effects,
-- its time, the thresholds (JSON; NULL when nobody has a counted order),
-- whether they were derived (1), the median interval, the tag prefix and
-- the prefix of the tags in Shopify, and whether it is the baseline (1)
-- and writes grouped effects (1). placed_through is the last customer id
-- written (NULL before the first batch), batches how many were written,
-- customers and changed what they counted. The row goes in the
-- transaction that saves segment_state; a row left behind by a stopped
-- process is completed by the next computation.
CREATE TABLE segment_runs (
    shop_id                   BIGINT  NOT NULL PRIMARY KEY REFERENCES shops(id),
    run                       BIGINT  NOT NULL,
    started_at                BIGINT  NOT NULL,
    settings_version          BIGINT  NOT NULL,
    thresholds                TEXT,
    derived                   BIGINT  NOT NULL,
    median_interval_ms        BIGINT,
    tag_prefix                TEXT    NOT NULL,
    old_prefix                TEXT    NOT NULL,
    baseline                  BIGINT  NOT NULL,
    grouped                   BIGINT  NOT NULL,
    placed_through            BIGINT,
    batches                   BIGINT  NOT NULL DEFAULT 0,
    customers                 BIGINT  NOT NULL DEFAULT 0,
    changed                   BIGINT  NOT NULL DEFAULT 0
);

-- The segments report of each shop and period ('30d', '90d', '365d'), as
-- JSON, served as it is. Stored with what it was computed from: the
-- program version and segment_state.computed_at (a request finding either
-- changed computes it again), and the latest paid_at of a counted order and
-- segment_changes.created_at (the background refresh recomputes when they
-- moved, or when it is an hour old).
CREATE TABLE segment_reports (
    shop_id                   BIGINT  NOT NULL REFERENCES shops(id),
    period                    TEXT    NOT NULL,
    computed_at               BIGINT  NOT NULL,
    settings_version          BIGINT  NOT NULL,
    state_mark                BIGINT  NOT NULL,
    orders_mark               BIGINT  NOT NULL,
    changes_mark              BIGINT  NOT NULL,
    body                      TEXT    NOT NULL,
    PRIMARY KEY (shop_id, period)
);
