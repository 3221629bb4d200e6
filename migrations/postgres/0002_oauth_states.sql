-- OAuth `state` values for the authorization code grant: single use
-- (deleted when consumed), short-lived (expires_at, epoch ms), bound to the
-- shop that started the flow.
CREATE TABLE oauth_states (
    state                     TEXT    PRIMARY KEY,
    shop_domain               TEXT    NOT NULL,
    expires_at                BIGINT  NOT NULL
);
