-- The shop's automatic VIP perks discount (the Function's discount node),
-- once created; its perk table is a metafield on it.
ALTER TABLE shops ADD COLUMN vip_discount_id TEXT;
