-- /metrics counts the effects that gave up (outbox_failed) on every scrape;
-- done effects stay in the table, so without this index that count scans it.
CREATE INDEX outbox_failed ON outbox (id) WHERE status = 'failed';

-- The id of the HTTP request that stored a delivery (X-Request-Id, or one
-- Advocate made up), so the log lines of its processing can be found from
-- the request's, across processes.
ALTER TABLE webhook_inbox ADD COLUMN request_id TEXT;
