-- Webhook bodies in a table of their own, keyed by their inbox row's id.
-- See the SQLite migration of the same number: a claim or a finish there
-- rewrites the inbox row whole, body and all. PostgreSQL keeps a body
-- over 2 kB out of line already and copies only its pointer when the row
-- is updated, so its intake goes on storing bodies in the row; it reads
-- and clears this table all the same, as every version after this one
-- does on either database.
CREATE TABLE webhook_bodies (
    id                        BIGINT  NOT NULL PRIMARY KEY,
    body                      BYTEA   NOT NULL
);
ALTER TABLE webhook_bodies ALTER COLUMN body SET STORAGE EXTERNAL;
