-- When an effect was first tried (postgres). Kept identical to the other
-- backend's 0024_outbox_first_attempt.sql.

-- Set by the claim that first leases the row. A store credit whose answer
-- was lost is looked for among the account's transactions made since then
-- before it is tried again (src/jobs/outbox.rs), so it is never given twice.
ALTER TABLE outbox ADD COLUMN first_attempt_at BIGINT;
