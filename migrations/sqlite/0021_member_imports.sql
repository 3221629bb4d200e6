-- Members brought over from another loyalty program (sqlite). Kept
-- column-for-column identical to migrations/postgres/0021_member_imports.sql.

-- One row per shop and file: an import runs once per file. file_id is the
-- SHA-256 of the file's bytes (src/loyalty/member_import.rs). The row keeps
-- counts only, never the file or a shopper's data. status: running (an
-- import stopped half-way is finished by the next import of the file) or
-- done.
CREATE TABLE member_imports (
    shop_id                   BIGINT  NOT NULL REFERENCES shops(id),
    file_id                   TEXT    NOT NULL,
    format                    TEXT    NOT NULL,
    status                    TEXT    NOT NULL,
    row_count                 BIGINT  NOT NULL,
    imported                  BIGINT  NOT NULL DEFAULT 0,
    points                    BIGINT  NOT NULL DEFAULT 0,
    problems                  BIGINT  NOT NULL DEFAULT 0,
    started_at                BIGINT  NOT NULL,
    finished_at               BIGINT,
    PRIMARY KEY (shop_id, file_id)
);

-- A VIP tier carried over from another program: the customer holds at
-- least this tier (an id of the program's tiers) whatever their standing.
ALTER TABLE customers ADD COLUMN tier_floor TEXT;
