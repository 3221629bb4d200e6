-- The sandbox's own credentials (no Shopify account behind them): the
-- client secret that signs its webhooks, session tokens and proxy requests,
-- and the key its demo shop's tokens are encrypted under. A database that
-- has this row is a sandbox database: Advocate with real credentials refuses
-- it, and the sandbox refuses a database with real shops.
CREATE TABLE sandbox (
    id                        BIGINT  PRIMARY KEY,
    api_secret                TEXT    NOT NULL,
    encryption_key            TEXT    NOT NULL,
    created_at                BIGINT  NOT NULL
);
