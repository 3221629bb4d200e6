-- Customer search folds case the same way on both backends, for all of
-- Unicode: `search_key` holds the e-mail, first name, last name and full
-- name, lower-cased in Rust (`str::to_lowercase`) and each preceded by a
-- unit separator (U+001F), so a query lower-cased the same way matches the
-- start of any of them with one LIKE. SQL's LOWER() cannot be the source of
-- truth: SQLite's folds ASCII only, PostgreSQL's follows the collation.
-- Existing rows are filled at start-up (`customers::fill_search_keys`);
-- redaction clears the column with the names.
ALTER TABLE customers ADD COLUMN search_key TEXT;
