-- Webhook intake's landing file (sqlite). Kept column-for-column identical to
-- migrations/postgres/0023_intake_landing.sql.

-- On a SQLite file, webhook intake commits to a file of its own beside the
-- database (src/store/landing.rs), so acknowledging Shopify never waits for
-- the database's one write lock; a mover copies what landed into
-- webhook_inbox. moved_through is the last landed id copied, advanced in
-- the transaction that copies it, so each landed delivery reaches the inbox
-- exactly once. PostgreSQL's intake commits to webhook_inbox directly and
-- leaves this row at 0.
CREATE TABLE intake_landing (
    id                        BIGINT  NOT NULL PRIMARY KEY CHECK (id = 1),
    moved_through             BIGINT  NOT NULL
);
INSERT INTO intake_landing (id, moved_through) VALUES (1, 0);
