//! Installation through the authorization code grant, past the protocol
//! checks (signed query, timestamp, shop domain) that the route makes: a
//! single-use `state` is stored when the merchant is sent to Shopify, and
//! spent when Shopify sends them back with a code, which is traded for
//! expiring offline tokens that are stored encrypted.

use crate::{
    shopify::{oauth::OAuthError, tokens::ShopTokens, tokens::TokenError, ShopDomain},
    store::{now_ms, oauth_states, Store},
};

/// How long a merchant has to approve the app.
const STATE_TTL_MS: i64 = 10 * 60 * 1000;
/// When the table of pending installs is full, how long to wait: the
/// oldest states expire within `STATE_TTL_MS`.
pub const FULL_RETRY_AFTER_SECS: u64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The table of pending installs is full (retry after
    /// [`FULL_RETRY_AFTER_SECS`]).
    #[error("pending OAuth states at their cap")]
    Full,
    /// The callback's `state` is unknown, spent, expired or another shop's.
    #[error("unknown, used or expired OAuth state")]
    UnknownState,
    /// Shopify did not trade the code for tokens.
    #[error("code exchange failed: {0}")]
    Exchange(#[source] OAuthError),
    #[error("saving the tokens failed: {0}")]
    Save(#[source] TokenError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Starts an install for `shop`: stores a fresh single-use state, unless
/// `max_pending` states are already waiting. Returns the state to send.
pub async fn begin(
    store: &Store,
    shop: &ShopDomain,
    max_pending: i64,
) -> Result<String, InstallError> {
    let nonce = hex::encode(rand::random::<[u8; 32]>());
    let stored = {
        let mut conn = store.writer().acquire().await?;
        let now = now_ms();
        oauth_states::insert_state(
            &mut conn,
            &nonce,
            shop.as_str(),
            now + STATE_TTL_MS,
            now,
            max_pending,
        )
        .await?
    };
    if !stored {
        tracing::warn!("pending OAuth states at their cap; install refused for now");
        return Err(InstallError::Full);
    }
    Ok(nonce)
}

/// What Shopify's callback brings back, its signature already checked.
#[derive(Debug, Clone, Copy)]
pub struct Callback<'a> {
    pub shop: &'a ShopDomain,
    pub state: &'a str,
    pub code: &'a str,
}

/// Finishes an install: spends the state, trades the code for tokens and
/// stores them.
pub async fn finish(
    store: &Store,
    tokens: &ShopTokens,
    callback: Callback<'_>,
) -> Result<(), InstallError> {
    let shop = callback.shop;
    let consumed = {
        let mut conn = store.writer().acquire().await?;
        oauth_states::consume_state(&mut conn, callback.state, shop.as_str(), now_ms()).await?
    };
    if !consumed {
        return Err(InstallError::UnknownState);
    }
    let issued = tokens
        .oauth()
        .exchange_code(shop, callback.code)
        .await
        .map_err(|e| {
            tracing::warn!(shop = %shop, error = %e, "code exchange failed");
            InstallError::Exchange(e)
        })?;
    tokens
        .install(shop, issued)
        .await
        .map_err(InstallError::Save)?;
    Ok(())
}
