-- Webhook bodies in a table of their own, keyed by their inbox row's id.
-- A claim or a finish rewrites its inbox row whole; with the body in the
-- row, that is a few kilobytes of pages per delivery, written to the log
-- and checkpointed twice. A body kept here is written once, when its row
-- is moved into the inbox, and deleted when the row is done.
--
-- A row's body is the one here when there is one, else the row's own
-- (`webhook_inbox.body`): rows stored by earlier versions keep theirs
-- there. This version reads bodies from either place and clears both; it
-- writes none here, so that a process of the version before it, which
-- reads only `webhook_inbox.body`, can share the database during a
-- rolling restart. The next version writes them here.
CREATE TABLE webhook_bodies (
    id                        INTEGER PRIMARY KEY,
    body                      BLOB    NOT NULL
);
