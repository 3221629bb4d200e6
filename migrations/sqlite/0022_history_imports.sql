-- The history import (sqlite). Kept column-for-column identical to
-- migrations/postgres/0022_history_imports.sql.

-- One row per shop: its latest history import (src/jobs/history.rs). run
-- counts the imports asked for. status: queued, customers, orders (reading
-- that stage's bulk query), done, failed. points_since: NULL for history
-- without points, else orders processed since then earn; cutoff: orders
-- processed before it (when Advocate was installed) earn nothing unless
-- points_since covers them. bulk_id and url: the stage's bulk query and its
-- result; lines_done: the result's lines applied, in the transactions that
-- applied them, so a stopped import resumes after them; objects: the
-- result's line count. customers, orders: applied so far.
CREATE TABLE history_imports (
    shop_id                   BIGINT  NOT NULL PRIMARY KEY REFERENCES shops(id),
    run                       BIGINT  NOT NULL,
    status                    TEXT    NOT NULL,
    points_since              BIGINT,
    cutoff                    BIGINT  NOT NULL,
    bulk_id                   TEXT,
    url                       TEXT,
    lines_done                BIGINT  NOT NULL DEFAULT 0,
    objects                   BIGINT,
    customers                 BIGINT  NOT NULL DEFAULT 0,
    orders                    BIGINT  NOT NULL DEFAULT 0,
    requested_at              BIGINT  NOT NULL,
    started_at                BIGINT,
    finished_at               BIGINT,
    error                     TEXT
);
