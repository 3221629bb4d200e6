-- Expired OAuth states are found through this index (a few per `/auth`,
-- the rest by the hourly retention job) instead of scanning the table.
CREATE INDEX oauth_states_by_expiry ON oauth_states (expires_at);
-- Friend-code claims are capped per shop per hour (and per advocate per
-- day, through referrals_by_advocate): counted through this index.
CREATE INDEX referrals_by_created ON referrals (shop_id, created_at);
