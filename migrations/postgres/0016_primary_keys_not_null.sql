-- Nothing to change on PostgreSQL: a PRIMARY KEY column is NOT NULL here
-- already. migrations/sqlite/0016_primary_keys_not_null.sql brings SQLite's
-- four keys that admitted NULL in line; this file keeps the two folders
-- numbered alike.
SELECT 1;
