-- A customer's behaviour segment (src/loyalty/segments.rs) as last
-- computed, and since when; the tag written to Shopify is derived from it.
-- NULL until the first computation (or for a customer who never bought).
ALTER TABLE customers ADD COLUMN segment TEXT;
ALTER TABLE customers ADD COLUMN segment_since BIGINT;
