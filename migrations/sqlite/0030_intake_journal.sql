-- Webhook intake's journal (src/store/landing.rs). Kept column-for-column
-- identical in both dialects.

-- On a SQLite file, webhook intake appends to a journal of segment files
-- beside the database, so acknowledging Shopify never waits for the
-- database's one write lock; a mover copies what landed into webhook_inbox.
-- The mark (segment, moved_through: a segment and a byte offset in it) is
-- where the next record to copy starts, advanced in the transaction that
-- copies it, so each landed delivery reaches the inbox exactly once.
-- PostgreSQL's intake commits to webhook_inbox directly and leaves this row
-- at 0. intake_landing stays: it is the mark of the SQLite landing file of
-- earlier versions, whose rows are moved into the inbox at start.
CREATE TABLE intake_journal (
    id                        BIGINT  NOT NULL PRIMARY KEY CHECK (id = 1),
    segment                   BIGINT  NOT NULL,
    moved_through             BIGINT  NOT NULL
);
INSERT INTO intake_journal (id, segment, moved_through) VALUES (1, 0, 0);
