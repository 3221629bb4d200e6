-- Webhook bodies are stored LZ4-compressed by Advocate. PostgreSQL's own
-- compression of an over-2-kB value (pglz) only spends CPU on them: store
-- them as they are.
ALTER TABLE webhook_inbox ALTER COLUMN body SET STORAGE EXTERNAL;
